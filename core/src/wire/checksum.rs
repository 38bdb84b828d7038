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
}

/// A running one's complement sum. Whole 16-byte blocks go into eight 32-bit lanes as
/// native-order 16-bit words (the compiler makes this a vector add with no byte swaps and
/// no carry chain); the rest goes into a scalar sum of big-endian words. RFC 1071 2(B):
/// the one's complement sum commutes with byte swapping, so the lanes are folded once and
/// swapped at the end. A lane takes one word per block: no overflow below 1 MiB, and a
/// VRRP message is at most a few hundred bytes.
struct Sum {
    scalar: u64,
    lanes: [u32; 8],
}

impl Sum {
    const fn new(scalar: u64) -> Self {
        Sum {
            scalar,
            lanes: [0; 8],
        }
    }

    #[inline(always)]
    fn add(&mut self, data: &[u8]) {
        let mut blocks = data.chunks_exact(16);
        for b in &mut blocks {
            for (l, w) in self.lanes.iter_mut().zip(b.chunks_exact(2)) {
                *l += u32::from(u16::from_ne_bytes([w[0], w[1]]));
            }
        }
        self.scalar = sum_be_words(self.scalar, blocks.remainder());
    }

    fn finish(self) -> u16 {
        let native: u64 = self.lanes.iter().map(|&l| u64::from(l)).sum();
        fold(self.scalar + u64::from(u16::from_be(fold(native))))
    }
}

/// Adds 16-bit big-endian words of `data` (odd tail padded with zero), 4 bytes at a time.
fn sum_be_words(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // Fits: the loop leaves at most 16 bits.
    acc as u16
}

/// The checksum a VRRP message should carry, computed with its checksum field as zero.
///
/// `message` is the whole VRRP message; its own checksum field (bytes 6..8) is skipped,
/// so this works for verification and emission alike. `pseudo` is `None` for the v2
/// style (message only) or the source and destination addresses of the IP packet.
pub(crate) fn compute(message: &[u8], pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
    let mut sum = Sum::new(match pseudo {
        Some(_) => u64::from(PROTOCOL) + message.len() as u64,
        None => 0,
    });
    match pseudo {
        Some((IpAddr::V4(s), IpAddr::V4(d))) => {
            sum.add(&s.octets());
            sum.add(&d.octets());
        }
        Some((IpAddr::V6(s), IpAddr::V6(d))) => {
            sum.add(&s.octets());
            sum.add(&d.octets());
        }
        // Mixed families never get here: `Repr::parse` and `Repr::emit` refuse them
        // with `Error::FamilyMismatch`.
        _ => {}
    }
    let (head, tail) = message.split_at(6.min(message.len()));
    sum.add(head);
    if tail.len() > 2 {
        sum.add(&tail[2..]);
    }
    !sum.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn sum_of(data: &[u8]) -> u16 {
        let mut s = Sum::new(0);
        s.add(data);
        s.finish()
    }

    /// The plain definition: big-endian 16-bit words, odd tail padded, folded.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for c in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        fold(acc)
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

    /// The lane path (whole 16-byte blocks, native order) equals the plain big-endian
    /// sum for every length and for words that carry.
    #[test]
    fn block_sum_equals_plain_sum_for_every_length() {
        let mut data = [0u8; 300];
        let mut x: u32 = 0x1234_5678;
        for b in data.iter_mut() {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            *b = (x >> 24) as u8;
        }
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

    #[test]
    fn keepalived_v3_multicast_and_unicast_differ_by_pseudo_header_destination() {
        // From ../shared/vectors keepalived-v3-{mcast,unicast}-adv1-steady.
        let msg = [
            0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0, 0, 0x0a, 0x63, 0x00, 0x32,
        ];
        let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
        let mcast = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        let peer = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12));
        assert_eq!(compute(&msg, Some((src, mcast))), 0x74d5);
        assert_eq!(compute(&msg, Some((src, peer))), 0x4a79);
    }
}
