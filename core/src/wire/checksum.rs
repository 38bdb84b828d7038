//! The Internet checksum (RFC 1071) over the VRRP message and, for VRRPv3, the IP
//! pseudo-header.

use core::net::IpAddr;

use super::PROTOCOL;

/// What the VRRPv3 checksum over IPv4 covers. VRRPv2, and VRRPv3 over IPv6, leave no
/// choice: v2 covers the message only, v3 over IPv6 always includes the pseudo-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ChecksumMode {
    /// Include the IPv4 pseudo-header (RFC 5798 section 5.2.8; keepalived's and FRR's
    /// default). In unicast mode the pseudo-header destination is the peer address.
    #[default]
    PseudoHeader,
    /// Cover the VRRP message only, as v2 does (keepalived `v3_checksum_as_v2`; what
    /// RFC 9568 section 5.2.8 and some vendors' VRRPv3 do over IPv4).
    AsV2,
    /// keepalived ≤ 1.3.6's unicast checksum (`old_unicast_checksum`): the IPv4
    /// pseudo-header names the multicast group 224.0.0.18 as its destination, whatever
    /// the packet's (a peer). Over IPv6 it is [`ChecksumMode::PseudoHeader`].
    OldUnicast,
}

/// A running one's complement sum (RFC 1071) of native-order 16-bit words, unfolded.
/// RFC 1071 2(B): the sum commutes with byte swapping, so it is swapped once, after
/// folding.
///
/// Whole 16-byte blocks are read as four native `u32`s, whose low and high halves go
/// into two sets of four `u32` lanes: masks, shifts and adds of 32-bit lanes, which the
/// compiler makes SSE2 vector code for baseline x86-64 (it leaves 16-bit words widened
/// into 32-bit lanes, 64-bit masks, or both halves added into one lane, scalar). A
/// lane takes at most 0xffff per block: no overflow below 1 MiB. The rest goes into a scalar sum, 4 bytes at a time (2^16
/// is 1 modulo 2^16 - 1, so a `u32` counts as the sum of its halves). The lanes are
/// added up once, at the end.
struct Sum {
    low: [u32; 4],
    high: [u32; 4],
    /// Whether the lanes hold anything: adding them up is not free.
    blocks: bool,
    words: u64,
}

impl Sum {
    const fn new() -> Self {
        Sum {
            low: [0; 4],
            high: [0; 4],
            blocks: false,
            words: 0,
        }
    }

    #[inline(always)]
    fn add(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(16);
        self.blocks |= data.len() >= 16;
        for b in &mut blocks {
            self.block(b);
        }
        let mut words = blocks.remainder().chunks_exact(4);
        for w in &mut words {
            self.words += u64::from(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]));
        }
        self.words += match *words.remainder() {
            [a, b, c] => {
                u64::from(u16::from_ne_bytes([a, b])) + u64::from(u16::from_ne_bytes([c, 0]))
            }
            [a, b] => u64::from(u16::from_ne_bytes([a, b])),
            [a] => u64::from(u16::from_ne_bytes([a, 0])),
            _ => 0,
        };
    }

    #[inline(always)]
    fn block(&mut self, b: &[u8]) {
        let lanes = self.low.iter_mut().zip(&mut self.high);
        for ((l, h), w) in lanes.zip(b.chunks_exact(4)) {
            let w = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
            *l += w & 0xffff;
            *h += w >> 16;
        }
    }

    /// The whole sum, unfolded.
    fn total(&self) -> u64 {
        if !self.blocks {
            return self.words;
        }
        let lanes = self.low.iter().chain(&self.high);
        self.words + lanes.map(|&l| u64::from(l)).sum::<u64>()
    }
}

/// The sum's value in 16 bits: 0 only for a zero sum, else in 1..=0xffff (the
/// end-around carry never turns a positive sum into zero). Each step keeps the value
/// modulo 2^16 - 1; four steps take any `u64` below 2^16.
fn fold(acc: u64) -> u16 {
    let acc = (acc >> 32) + (acc & 0xffff_ffff);
    let acc = (acc >> 16) + (acc & 0xffff);
    let acc = (acc >> 16) + (acc & 0xffff);
    let acc = (acc >> 16) + (acc & 0xffff);
    // Fits: below 2^16 after the last step.
    acc as u16
}

/// The checksum a VRRP message should carry, computed with its checksum field as zero.
///
/// `message` is the whole VRRP message; its own checksum field (bytes 6..8) is skipped,
/// so this works for verification and emission alike. `pseudo` is `None` for the v2
/// style (message only) or the source and destination addresses of the IP packet.
pub(crate) fn compute(message: &[u8], pseudo: Option<(&IpAddr, &IpAddr)>) -> u16 {
    let mut sum = Sum::new();
    // The pseudo-header's protocol and length: big-endian words, which count as 2^8
    // times their value in a little-endian sum (2^16 being 1 modulo 2^16 - 1).
    let be = match pseudo {
        Some(_) => u64::from(PROTOCOL) + message.len() as u64,
        None => 0,
    };
    sum.words = if cfg!(target_endian = "little") {
        be << 8
    } else {
        be
    };
    match pseudo {
        Some((IpAddr::V4(s), IpAddr::V4(d))) => {
            sum.words += u64::from(u32::from_ne_bytes(s.octets()))
                + u64::from(u32::from_ne_bytes(d.octets()));
        }
        Some((IpAddr::V6(s), IpAddr::V6(d))) => {
            // One block each.
            sum.blocks = true;
            sum.block(&s.octets());
            sum.block(&d.octets());
        }
        // Mixed families never get here: `Repr::parse` and `Repr::emit` refuse them
        // with `Error::FamilyMismatch`.
        _ => {}
    }
    match message.split_first_chunk::<8>() {
        // The header's first six bytes, without the checksum field, then the rest.
        Some((h, rest)) => {
            sum.words += u64::from(u32::from_ne_bytes([h[0], h[1], h[2], h[3]]))
                + u64::from(u16::from_ne_bytes([h[4], h[5]]));
            sum.add(rest);
        }
        // Shorter than a header (never parsed or emitted): zero what there is of the
        // checksum field.
        None => {
            let mut short = [0u8; 8];
            short[..message.len()].copy_from_slice(message);
            short[6..].fill(0);
            sum.add(&short[..message.len()]);
        }
    }
    // Folded in native order, then swapped to the big-endian value.
    !u16::from_be(fold(sum.total()))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::net::Ipv4Addr;

    fn sum_of(data: &[u8]) -> u16 {
        let mut s = Sum::new();
        s.add(data);
        u16::from_be(fold(s.total()))
    }

    /// The plain definition: big-endian 16-bit words, odd tail padded, folded.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for c in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        fold(acc)
    }

    /// `fold` is the end-around carry repeated until 16 bits remain.
    #[test]
    fn fold_equals_the_carry_loop() {
        let reference = |mut acc: u64| {
            while acc > 0xffff {
                acc = (acc & 0xffff) + (acc >> 16);
            }
            acc as u16
        };
        let mut x: u64 = 0x0123_4567_89ab_cdef;
        let edges = [
            0, 1, 0xfffe, 0xffff, 0x1_0000, 0x1_fffe, 0x1_ffff, 0x2_fffd, 0x2_ffff,
        ];
        for e in edges
            .into_iter()
            .chain([u64::MAX, u64::MAX - 1, 0xffff_ffff, 1 << 32])
        {
            assert_eq!(fold(e), reference(e), "{e:#x}");
        }
        for _ in 0..100_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for v in [x, x >> 16, x >> 31, x >> 47] {
                assert_eq!(fold(v), reference(v), "{v:#x}");
            }
        }
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (one's complement).
        assert_eq!(
            sum_of(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(sum_of(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    fn noise(data: &mut [u8], seed: u32) {
        let mut x = seed;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
    }

    /// The lanes (whole 16-byte blocks) and the word path (4-byte words, native
    /// order) equal the plain big-endian sum for every length and for words that carry.
    #[test]
    fn word_sum_equals_plain_sum_for_every_length() {
        let mut data = [0u8; 300];
        noise(&mut data, 0x1234_5678);
        for len in 0..=data.len() {
            assert_eq!(sum_of(&data[..len]), reference(&data[..len]), "len {len}");
        }
        let ones = [0xffu8; 300];
        for len in 0..=ones.len() {
            assert_eq!(
                sum_of(&ones[..len]),
                reference(&ones[..len]),
                "0xff len {len}"
            );
        }
    }

    /// The definition `compute` keeps: pseudo-header (source, destination, protocol,
    /// length), then the message in big-endian words without its checksum field.
    fn compute_reference(message: &[u8], pseudo: Option<(&IpAddr, &IpAddr)>) -> u16 {
        let mut words = std::vec::Vec::new();
        if let Some((s, d)) = pseudo {
            match (s, d) {
                (IpAddr::V4(s), IpAddr::V4(d)) => {
                    words.extend(s.octets());
                    words.extend(d.octets());
                }
                (IpAddr::V6(s), IpAddr::V6(d)) => {
                    words.extend(s.octets());
                    words.extend(d.octets());
                }
                _ => {}
            }
        }
        let mut acc = match pseudo {
            Some(_) => u64::from(PROTOCOL) + message.len() as u64,
            None => 0,
        };
        let (head, tail) = message.split_at(6.min(message.len()));
        words.extend(head);
        words.extend(tail.get(2..).unwrap_or(&[]));
        for c in words.chunks(2) {
            acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        !fold(acc)
    }

    /// Every length, checksum field and pseudo-header family, including all-zero and
    /// all-ones messages (where a one's complement sum could pick the other zero).
    #[test]
    fn compute_equals_its_definition() {
        use core::net::Ipv6Addr;
        let v4 = |a: [u8; 4]| IpAddr::V4(Ipv4Addr::from(a));
        let v6 = |a: [u8; 16]| IpAddr::V6(Ipv6Addr::from(a));
        let pseudos = [
            None,
            Some((v4([10, 99, 0, 11]), v4([224, 0, 0, 18]))),
            Some((v4([255; 4]), v4([255; 4]))),
            Some((v4([0; 4]), v4([0; 4]))),
            Some((v6([0xfe; 16]), v6([0xff; 16]))),
            Some((v6([0; 16]), v6([0; 16]))),
        ];
        let mut data = [0u8; 300];
        for (k, fill) in [None, Some(0u8), Some(0xff)].into_iter().enumerate() {
            match fill {
                Some(b) => data.fill(b),
                None => noise(&mut data, 0x9e37_79b9),
            }
            for len in 0..=data.len() {
                for pseudo in pseudos {
                    assert_eq!(
                        compute(&data[..len], pseudo.as_ref().map(|(s, d)| (s, d))),
                        compute_reference(&data[..len], pseudo.as_ref().map(|(s, d)| (s, d))),
                        "fill {k} len {len} {pseudo:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn keepalived_v3_multicast_and_unicast_differ_by_pseudo_header_destination() {
        // From ../shared/vectors keepalived-v3-{mcast,unicast}-adv1-steady.
        let msg = [
            0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0, 0, 0x0a, 0x63, 0x00, 0x32,
        ];
        let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
        let mcast = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        let peer = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12));
        assert_eq!(compute(&msg, Some((&src, &mcast))), 0x74d5);
        assert_eq!(compute(&msg, Some((&src, &peer))), 0x4a79);
    }
}
