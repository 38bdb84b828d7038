//! The IP Authentication Header around a VRRPv2 advert, as keepalived 2.2.7 sends and
//! checks it for `auth_type AH` (RFC 2338 section 5.3.6.2; removed from VRRP by RFC 3768,
//! kept by keepalived).
//!
//! On the wire: an IPv4 header with protocol 51, then this 24-byte header, then the VRRP
//! message (its auth type field 2, its 8 bytes of auth data zero):
//!
//! ```text
//! next header 112 | payload length 4 | reserved 0
//! SPI: the IPv4 source address
//! sequence number: from 1, one more per advert
//! ICV: HMAC-MD5-96, keyed by auth_pass (8 bytes, zero-padded)
//! ```
//!
//! The ICV covers the IPv4 header with TOS, flags/fragment offset and checksum zeroed (and
//! the TTL too when the instance is unicast), then this header with the ICV zeroed, then
//! the VRRP message. The identification field is covered, so the sender must choose it
//! (keepalived counts it up from 1, never 0, which the kernel would replace).
//!
//! Sequence numbers: keepalived keeps one counter per instance for both directions. A
//! received advert must carry a number above it and raises it; a sent advert carries the
//! counter plus one. [`SeqCounter`] does the same, so two peers follow each other's count
//! and a restarted router catches up by listening before it sends.

use core::fmt;
use core::net::Ipv4Addr;

use super::PROTOCOL;
use super::hmac_md5::hmac_md5;

/// IP protocol number of the Authentication Header.
pub const AH_PROTOCOL: u8 = 51;
/// Bytes of the AH header with its 96-bit ICV.
pub const AH_LEN: usize = 24;
/// Bytes of the truncated HMAC-MD5 (HMAC-MD5-96).
pub const ICV_LEN: usize = 12;
/// The payload length field: the header's length in 32-bit words, minus 2.
pub const PAYLOAD_LEN_WORDS: u8 = (AH_LEN / 4 - 2) as u8;
/// Bytes of the key: keepalived's `auth_pass`, cut to 8 and zero-padded.
pub const KEY_LEN: usize = 8;

const ICV_OFFSET: usize = 12;
/// The longest IPv4 header (IHL 15).
const MAX_IP_HEADER: usize = 60;

/// An AH key as keepalived derives it from `auth_pass`: the first 8 bytes, zero-padded.
pub fn key(auth_pass: &[u8]) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    let n = auth_pass.len().min(KEY_LEN);
    k[..n].copy_from_slice(&auth_pass[..n]);
    k
}

/// Why a received AH packet is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AhError {
    /// The packet is too short for an IPv4 header, the AH header and a VRRP header.
    Truncated,
    /// The IPv4 header does not say protocol 51.
    NotAh(u8),
    /// The AH protects another protocol than VRRP: not ours (keepalived ignores it).
    NextHeader(u8),
    /// The ICV does not verify: wrong `auth_pass`, or the packet was altered.
    Icv,
    /// The SPI is not the IPv4 source address.
    Spi,
    /// The sequence number is not above the last one seen: a replay.
    Replay {
        /// The number in the packet.
        seq: u32,
        /// The counter it had to exceed.
        last: u32,
    },
}

impl fmt::Display for AhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AhError::Truncated => write!(f, "AH packet too short"),
            AhError::NotAh(p) => write!(f, "IP protocol {p}, not AH (51)"),
            AhError::NextHeader(n) => write!(f, "AH next header {n}, not VRRP (112)"),
            AhError::Icv => write!(
                f,
                "invalid IPSEC HMAC-MD5 value. Due to fields mutation or bad password !"
            ),
            AhError::Spi => write!(f, "invalid IPSEC SPI value (not the source address)"),
            AhError::Replay { seq, last } => write!(
                f,
                "sequence number {seq} already processed. Packet dropped. Local({last})"
            ),
        }
    }
}

impl core::error::Error for AhError {}

/// The ICV of an IPv4 packet carrying AH: `ip_header` as it is on the wire (mutable
/// fields are zeroed here), `rest` the AH header and everything after it (its ICV bytes
/// are taken as zero). `None` when the IP header is longer than IPv4 allows or `rest`
/// is shorter than the AH header.
fn icv(key: &[u8; KEY_LEN], ip_header: &[u8], rest: &[u8], unicast: bool) -> Option<[u8; ICV_LEN]> {
    if ip_header.len() < 20 || ip_header.len() > MAX_IP_HEADER || rest.len() < AH_LEN {
        return None;
    }
    let mut ip = [0u8; MAX_IP_HEADER];
    let ip = &mut ip[..ip_header.len()];
    ip.copy_from_slice(ip_header);
    ip[1] = 0; // TOS
    ip[6] = 0; // flags and fragment offset
    ip[7] = 0;
    ip[10] = 0; // header checksum
    ip[11] = 0;
    if unicast {
        ip[8] = 0; // TTL: only multicast adverts must arrive with 255
    }
    let mut ah = [0u8; AH_LEN];
    ah[..ICV_OFFSET].copy_from_slice(&rest[..ICV_OFFSET]);
    let mac = hmac_md5(key, &[ip, &ah, &rest[AH_LEN..]]);
    let mut out = [0u8; ICV_LEN];
    out.copy_from_slice(&mac[..ICV_LEN]);
    Some(out)
}

/// Fills in the AH header of an IPv4 packet built with room for it: `packet` holds a
/// 20-byte IPv4 header (protocol 51, the final total length, source, destination,
/// identification and TTL), then [`AH_LEN`] bytes, then the VRRP message. Writes next
/// header, payload length, SPI (the source address), `seq` and the ICV. Returns `false`
/// (and writes nothing) when the packet is too short.
pub fn seal(packet: &mut [u8], key: &[u8; KEY_LEN], seq: u32, unicast: bool) -> bool {
    const IP: usize = 20;
    if packet.len() < IP + AH_LEN {
        return false;
    }
    let src = [packet[12], packet[13], packet[14], packet[15]];
    let (ip, rest) = packet.split_at_mut(IP);
    rest[0] = PROTOCOL;
    rest[1] = PAYLOAD_LEN_WORDS;
    rest[2..4].fill(0);
    rest[4..8].copy_from_slice(&src);
    rest[8..12].copy_from_slice(&seq.to_be_bytes());
    let Some(mac) = icv(key, ip, rest, unicast) else {
        return false;
    };
    rest[ICV_OFFSET..AH_LEN].copy_from_slice(&mac);
    true
}

/// A received AH packet whose ICV and SPI verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<'a> {
    /// The AH sequence number, still to be checked with [`SeqCounter::accept`].
    pub seq: u32,
    /// The VRRP message.
    pub vrrp: &'a [u8],
}

/// Checks an AH packet as keepalived does, in its order: an AH header that protects
/// VRRP, then the ICV (nothing else in the packet can be trusted before), then the SPI.
/// `ip_header` is the IPv4 header as received (options included), `rest` the IP payload
/// cut at the total length: the AH header and the VRRP message.
pub fn verify<'a>(
    ip_header: &[u8],
    rest: &'a [u8],
    key: &[u8; KEY_LEN],
    unicast: bool,
) -> Result<Verified<'a>, AhError> {
    if ip_header.len() < 20 || rest.len() < AH_LEN + super::HEADER_LEN {
        return Err(AhError::Truncated);
    }
    if ip_header[9] != AH_PROTOCOL {
        return Err(AhError::NotAh(ip_header[9]));
    }
    if rest[0] != PROTOCOL {
        return Err(AhError::NextHeader(rest[0]));
    }
    let expected = icv(key, ip_header, rest, unicast).ok_or(AhError::Truncated)?;
    // Constant time, as keepalived compares: no early exit on the first wrong byte.
    let diff = expected
        .iter()
        .zip(&rest[ICV_OFFSET..AH_LEN])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if diff != 0 {
        return Err(AhError::Icv);
    }
    if rest[4..8] != ip_header[12..16] {
        return Err(AhError::Spi);
    }
    Ok(Verified {
        seq: u32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]),
        vrrp: &rest[AH_LEN..],
    })
}

/// The VRID of the VRRP message behind an AH header, to find whose key checks it.
/// `None` when too short.
pub fn vrid(rest: &[u8]) -> Option<u8> {
    rest.get(AH_LEN + 1).copied()
}

/// Writes the IPv4 header of an AH advert into `buf[..20]`: TOS 0xc0, `id` (the ICV
/// covers it, so the sender picks it, never 0), no fragmentation, TTL 255, protocol
/// 51, checksum left 0 for the kernel. `vrrp_len` is the VRRP message's length.
pub fn write_ip_header(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    id: u16,
    vrrp_len: usize,
) -> bool {
    let total = 20 + AH_LEN + vrrp_len;
    let (Some(h), Ok(total)) = (buf.get_mut(..20), u16::try_from(total)) else {
        return false;
    };
    h[0] = 0x45;
    h[1] = super::ipv4::TOS_NETWORK_CONTROL;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].fill(0);
    h[8] = super::TTL;
    h[9] = AH_PROTOCOL;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    true
}

/// The SPI a sender puts in its AH header.
pub fn spi(src: Ipv4Addr) -> u32 {
    u32::from(src)
}

/// keepalived's per-instance AH sequence counter (`ipsecah_counter`), shared by what
/// is sent and what is received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqCounter {
    seq: u32,
    /// Reached the top: no advert can be sent until the counter is reset.
    cycled: bool,
}

impl SeqCounter {
    /// The last number sent or accepted.
    pub fn last(&self) -> u32 {
        self.seq
    }

    /// A received, verified advert's number: accepted (and the counter raised to it)
    /// only when above the counter.
    pub fn accept(&mut self, seq: u32) -> Result<(), AhError> {
        if seq > self.seq {
            self.seq = seq;
            self.cycled = false;
            Ok(())
        } else {
            Err(AhError::Replay {
                seq,
                last: self.seq,
            })
        }
    }

    /// The number for the next advert. keepalived stops counting at 0xFFFFFFFE (136
    /// years at one advert a second) and marks the counter cycled; it restarts from zero
    /// on the next transition to master ([`SeqCounter::restart_if_cycled`]).
    pub fn next_to_send(&mut self) -> u32 {
        if self.seq > 0xFFFF_FFFD {
            self.cycled = true;
        } else {
            self.seq += 1;
        }
        self.seq
    }

    /// On becoming master: a cycled counter starts again from zero, as in keepalived.
    pub fn restart_if_cycled(&mut self) {
        if self.cycled {
            *self = SeqCounter::default();
        }
    }

    /// A master hearing a lower-priority advert takes its number plus one (keepalived's
    /// "IPSEC-AH : Syncing seq_num"), so its own next adverts pass the peer's check.
    pub fn sync_from_lower(&mut self, seq: u32) {
        self.seq = seq.wrapping_add(1);
        self.cycled = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An advert keepalived 2.2.7 sent (`auth_type AH`, `auth_pass s3cr3t`, VRID 51,
    /// priority 100, VIP 10.99.0.100, from 10.99.0.1 to 224.0.0.18), captured on a veth.
    const KEEPALIVED: [u8; 64] = [
        0x45, 0xc0, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0xff, 0x33, 0xd0, 0x53, 0x0a, 0x63, 0x00,
        0x01, 0xe0, 0x00, 0x00, 0x12, // IPv4
        0x70, 0x04, 0x00, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x12, 0x91, 0xb6,
        0xa3, 0xbe, 0x53, 0xc2, 0x7e, 0x12, 0xb5, 0x7f, 0xe8, // AH
        0x21, 0x33, 0x64, 0x01, 0x02, 0x01, 0x6e, 0x03, 0x0a, 0x63, 0x00, 0x64, 0, 0, 0, 0, 0, 0,
        0, 0, // VRRPv2, auth type 2, auth data zero
    ];

    fn key_s3cr3t() -> [u8; KEY_LEN] {
        key(b"s3cr3t")
    }

    #[test]
    fn verifies_keepalived_advert() {
        let v = verify(&KEEPALIVED[..20], &KEEPALIVED[20..], &key_s3cr3t(), false).unwrap();
        assert_eq!(v.seq, 1);
        assert_eq!(v.vrrp, &KEEPALIVED[44..]);
    }

    #[test]
    fn seal_reproduces_keepalived_advert() {
        let mut p = [0xaa; 64];
        p[44..].copy_from_slice(&KEEPALIVED[44..]);
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(224, 0, 0, 18));
        assert!(write_ip_header(&mut p, src, dst, 1, 20));
        assert!(seal(&mut p, &key_s3cr3t(), 1, false));
        // All but the checksum, which the kernel fills in.
        assert_eq!(p[..10], KEEPALIVED[..10]);
        assert_eq!(p[12..], KEEPALIVED[12..]);
        assert!(!write_ip_header(&mut p[..19], src, dst, 1, 20));
        assert!(!write_ip_header(&mut p, src, dst, 1, 70_000));
    }

    #[test]
    fn mutable_fields_do_not_matter_others_do() {
        let k = key_s3cr3t();
        let mut p = KEEPALIVED;
        p[1] = 0; // TOS rewritten on the way
        p[6] = 0x40; // DF set
        p[10] = 0x12; // checksum
        assert!(verify(&p[..20], &p[20..], &k, false).is_ok());
        p[8] = 64; // TTL counts for multicast
        assert_eq!(verify(&p[..20], &p[20..], &k, false), Err(AhError::Icv));
        assert!(verify(&KEEPALIVED[..20], &KEEPALIVED[20..], &k, true).is_err());
        for i in [4, 12, 16, 27, 45, 46, 52, 63] {
            let mut p = KEEPALIVED;
            p[i] ^= 1;
            assert_eq!(
                verify(&p[..20], &p[20..], &k, false),
                Err(AhError::Icv),
                "byte {i}"
            );
        }
    }

    #[test]
    fn wrong_password_is_refused() {
        for pass in [&b"s3cr3T"[..], b"", b"s3cr3t\0x"] {
            assert_eq!(
                verify(&KEEPALIVED[..20], &KEEPALIVED[20..], &key(pass), false),
                Err(AhError::Icv)
            );
        }
        // keepalived keeps only 8 bytes of auth_pass.
        assert_eq!(key(b"12345678zz"), key(b"12345678"));
    }

    #[test]
    fn unicast_ignores_ttl() {
        let k = key(b"pw");
        let mut p = KEEPALIVED;
        p[16..20].copy_from_slice(&[10, 99, 0, 2]);
        assert!(seal(&mut p, &k, 7, true));
        p[8] = 1;
        assert_eq!(verify(&p[..20], &p[20..], &k, true).map(|v| v.seq), Ok(7));
        assert_eq!(verify(&p[..20], &p[20..], &k, false), Err(AhError::Icv));
    }

    #[test]
    fn spi_must_be_the_source() {
        let k = key_s3cr3t();
        let mut p = KEEPALIVED;
        p[24..28].copy_from_slice(&[10, 99, 0, 9]);
        // Re-sealing would rewrite the SPI: compute the ICV over the forged one.
        let mac = icv(&k, &p[..20], &p[20..], false).unwrap();
        p[32..44].copy_from_slice(&mac);
        assert_eq!(verify(&p[..20], &p[20..], &k, false), Err(AhError::Spi));
        assert_eq!(spi(Ipv4Addr::new(10, 99, 0, 1)), 0x0a63_0001);
    }

    #[test]
    fn short_or_foreign_packets_are_refused_without_panic() {
        let k = key_s3cr3t();
        for n in 0..KEEPALIVED.len() {
            let (ip, rest) = KEEPALIVED[..n].split_at(n.min(20));
            assert!(verify(ip, rest, &k, false).is_err(), "length {n}");
        }
        let long = [0x4f; 64];
        assert!(verify(&long, &KEEPALIVED[20..], &k, false).is_err());
        assert_eq!(vrid(&KEEPALIVED[20..]), Some(51));
        assert_eq!(vrid(&KEEPALIVED[20..45]), None);
        let mut p = KEEPALIVED;
        p[9] = 112;
        assert_eq!(
            verify(&p[..20], &p[20..], &k, false),
            Err(AhError::NotAh(112))
        );
        let mut p = KEEPALIVED;
        p[20] = 6;
        assert_eq!(
            verify(&p[..20], &p[20..], &k, false),
            Err(AhError::NextHeader(6))
        );
        let mut short = [0u8; 30];
        assert!(!seal(&mut short, &k, 1, false));
    }

    #[test]
    fn sequence_counter_follows_keepalived() {
        let mut c = SeqCounter::default();
        assert_eq!(c.next_to_send(), 1);
        assert_eq!(c.next_to_send(), 2);
        // A peer's advert must be above what we sent or saw.
        assert_eq!(c.accept(2), Err(AhError::Replay { seq: 2, last: 2 }));
        assert_eq!(c.accept(10), Ok(()));
        assert_eq!(c.accept(10), Err(AhError::Replay { seq: 10, last: 10 }));
        // After listening, our own adverts pass the peer's check.
        assert_eq!(c.next_to_send(), 11);
        c.sync_from_lower(40);
        assert_eq!(c.next_to_send(), 42);
        // The top: stuck until a transition to master resets it.
        let mut c = SeqCounter::default();
        c.sync_from_lower(0xFFFF_FFFD);
        assert_eq!(c.next_to_send(), 0xFFFF_FFFE);
        assert_eq!(c.next_to_send(), 0xFFFF_FFFE);
        c.restart_if_cycled();
        assert_eq!(c.next_to_send(), 1);
    }
}
