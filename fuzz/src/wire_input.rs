//! The input of the `wire_parse` target: what the IP layer reported (family, addresses,
//! TTL / hop limit), the checksum mode and configured authentication, then the VRRP
//! message. A fixed byte layout rather than `arbitrary`'s, so that the seed generator
//! (`fuzz/seedgen`, which includes this file) can write real adverts in it.
//!
//! ```text
//! byte 0      flags (below)
//! byte 1      TTL / hop limit, used when FLAG_RAW_TTL is set (else 255)
//! bytes 2..18 IP source (IPv4: the first 4 bytes)
//! bytes 18..34 IP destination, used unless FLAG_MCAST_DST (then 224.0.0.18 / ff02::12)
//! bytes 34..42 configured password, for CONFIG_PASSWORD and CONFIG_AH
//! bytes 42..  the VRRP message (the IP payload)
//! ```
//! Flag bits: FLAG_V6, FLAG_AS_V2, FLAG_MCAST_DST, FLAG_RAW_TTL, two bits of configured
//! authentication, FLAG_MIXED, FLAG_FIX_CHECKSUM.
//! A shorter input is padded with zeros up to the message.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vigil_core::wire::{Auth, ChecksumMode, MCAST_V4, MCAST_V6, RxMeta};

/// IPv6 addresses (else IPv4).
pub const FLAG_V6: u8 = 1 << 0;
/// `ChecksumMode::AsV2` (keepalived's `v3_checksum_as_v2`), else the pseudo-header.
pub const FLAG_AS_V2: u8 = 1 << 1;
/// The destination is the VRRP multicast group of the family.
pub const FLAG_MCAST_DST: u8 = 1 << 2;
/// Byte 1 is the TTL; without it the TTL is 255, so most inputs get past that check.
pub const FLAG_RAW_TTL: u8 = 1 << 3;
/// Bits 4..6: the instance's configured authentication (`CONFIG_*`).
pub const CONFIG_SHIFT: u8 = 4;
/// No authentication configured.
pub const CONFIG_NONE: u8 = 0;
/// The password of bytes 34..42.
pub const CONFIG_PASSWORD: u8 = 1;
/// The packet's own authentication (so that a match is reached, not only mismatches).
pub const CONFIG_SAME_AS_PACKET: u8 = 2;
/// IPsec AH keyed by the password of bytes 34..42.
pub const CONFIG_AH: u8 = 3;
/// The destination is of the other family than the source (mixed families).
pub const FLAG_MIXED: u8 = 1 << 6;
/// The target writes the right checksum (by the oracle) into the message before parsing,
/// so that mutations reach the checks after the checksum.
pub const FLAG_FIX_CHECKSUM: u8 = 1 << 7;

pub const HEADER: usize = 42;

/// A decoded `wire_parse` input.
#[derive(Debug, Clone, Copy)]
pub struct WireInput<'a> {
    pub meta: RxMeta,
    pub mode: ChecksumMode,
    /// `None` means "whatever the packet carries" (`CONFIG_SAME_AS_PACKET`).
    pub configured: Option<Auth>,
    /// Put the right checksum in before parsing (`FLAG_FIX_CHECKSUM`).
    pub fix_checksum: bool,
    pub message: &'a [u8],
}

impl<'a> WireInput<'a> {
    pub fn decode(data: &'a [u8]) -> Self {
        let mut h = [0u8; HEADER];
        let n = data.len().min(HEADER);
        h[..n].copy_from_slice(&data[..n]);
        let message = data.get(HEADER..).unwrap_or(&[]);
        let flags = h[0];
        let v6 = flags & FLAG_V6 != 0;
        let addr = |bytes: &[u8], v6: bool| -> IpAddr {
            if v6 {
                let mut o = [0u8; 16];
                o.copy_from_slice(&bytes[..16]);
                IpAddr::V6(Ipv6Addr::from(o))
            } else {
                IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            }
        };
        let src = addr(&h[2..18], v6);
        let dst_v6 = v6 != (flags & FLAG_MIXED != 0);
        let dst = match (flags & FLAG_MCAST_DST != 0, dst_v6) {
            (true, false) => IpAddr::V4(MCAST_V4),
            (true, true) => IpAddr::V6(MCAST_V6),
            (false, v6) => addr(&h[18..34], v6),
        };
        let ttl = if flags & FLAG_RAW_TTL != 0 { h[1] } else { 255 };
        let mode = if flags & FLAG_AS_V2 != 0 {
            ChecksumMode::AsV2
        } else {
            ChecksumMode::PseudoHeader
        };
        let mut password = [0u8; 8];
        password.copy_from_slice(&h[34..42]);
        let configured = match (flags >> CONFIG_SHIFT) & 3 {
            CONFIG_PASSWORD => Some(Auth::Password(password)),
            CONFIG_SAME_AS_PACKET => None,
            CONFIG_AH => Some(Auth::Ah(password)),
            _ => Some(Auth::None),
        };
        WireInput {
            meta: RxMeta { src, dst, ttl },
            mode,
            configured,
            fix_checksum: flags & FLAG_FIX_CHECKSUM != 0,
            message,
        }
    }

    /// The input bytes for a message received with `meta`, checked in `mode`, by an
    /// instance configured with `configured` (`None`: the packet's own).
    pub fn encode(
        meta: &RxMeta,
        mode: ChecksumMode,
        configured: Option<Auth>,
        fix_checksum: bool,
        message: &[u8],
    ) -> Vec<u8> {
        let mut h = [0u8; HEADER];
        let mut flags = 0;
        if fix_checksum {
            flags |= FLAG_FIX_CHECKSUM;
        }
        if meta.ttl != 255 {
            flags |= FLAG_RAW_TTL;
            h[1] = meta.ttl;
        }
        if mode == ChecksumMode::AsV2 {
            flags |= FLAG_AS_V2;
        }
        let mut put = |at: usize, a: IpAddr| match a {
            IpAddr::V4(a) => h[at..at + 4].copy_from_slice(&a.octets()),
            IpAddr::V6(a) => h[at..at + 16].copy_from_slice(&a.octets()),
        };
        put(2, meta.src);
        put(18, meta.dst);
        if meta.src.is_ipv6() {
            flags |= FLAG_V6;
        }
        if meta.src.is_ipv6() != meta.dst.is_ipv6() {
            flags |= FLAG_MIXED;
        }
        if meta.dst == IpAddr::V4(MCAST_V4) || meta.dst == IpAddr::V6(MCAST_V6) {
            flags |= FLAG_MCAST_DST;
        }
        let config = match configured {
            Some(Auth::None) => CONFIG_NONE,
            Some(Auth::Password(p)) => {
                h[34..42].copy_from_slice(&p);
                CONFIG_PASSWORD
            }
            Some(Auth::Ah(p)) => {
                h[34..42].copy_from_slice(&p);
                CONFIG_AH
            }
            None => CONFIG_SAME_AS_PACKET,
        };
        h[0] = flags | (config << CONFIG_SHIFT);
        let mut out = h.to_vec();
        out.extend_from_slice(message);
        out
    }
}
