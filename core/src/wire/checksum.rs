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

/// Adds 16-bit big-endian words of `data` to a running sum (odd tail padded with zero).
/// Works on 4-byte words into a u64 so that the hot loop carries no folding.
fn sum_words(mut acc: u64, data: &[u8]) -> u64 {
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

/// The partial sum of the pseudo-header for a VRRP message of `len` bytes.
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> u64 {
    let proto = u64::from(PROTOCOL);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum_words(sum_words(proto + len as u64, &s.octets()), &d.octets())
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            sum_words(sum_words(proto + len as u64, &s.octets()), &d.octets())
        }
        // Mixed families never get here: `Repr::parse` and `Repr::emit` refuse them
        // with `Error::FamilyMismatch`.
        _ => 0,
    }
}

/// The checksum a VRRP message should carry, computed with its checksum field as zero.
///
/// `message` is the whole VRRP message; its own checksum field (bytes 6..8) is skipped,
/// so this works for verification and emission alike. `pseudo` is `None` for the v2
/// style (message only) or the source and destination addresses of the IP packet.
pub(crate) fn compute(message: &[u8], pseudo: Option<(IpAddr, IpAddr)>) -> u16 {
    let mut acc = match pseudo {
        Some((src, dst)) => pseudo_header(src, dst, message.len()),
        None => 0,
    };
    let (head, tail) = message.split_at(6.min(message.len()));
    acc = sum_words(acc, head);
    if tail.len() > 2 {
        acc = sum_words(acc, &tail[2..]);
    }
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (one's complement).
        let acc = sum_words(0, &[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(fold(acc), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum_words(0, &[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
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
