//! The validated meaning of a VRRP advertisement, with parse and emit.

use super::{
    Addresses, ChecksumMode, Error, Family, HEADER_LEN, Packet, Result, TTL, TYPE_ADVERTISEMENT,
    V2_AUTH_LEN, Version, checksum,
};
use core::net::IpAddr;

pub use crate::timer::Interval;

/// What the IP layer knew about a received VRRP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RxMeta {
    /// Source address of the IP packet.
    pub src: IpAddr,
    /// Destination address: the multicast group, or this host in unicast mode.
    pub dst: IpAddr,
    /// The received TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
}

/// VRRPv2 authentication (RFC 3768 5.3.6; RFC 2338 for the password). VRRPv3 has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Auth {
    /// Type 0. The 8 bytes of authentication data are sent as zero.
    #[default]
    None,
    /// Type 1: a clear-text password of up to 8 bytes, zero-padded.
    Password([u8; 8]),
    /// Type 2: IPsec AH (RFC 2338; keepalived's `auth_type AH`). The 8 bytes of
    /// authentication data are sent as zero; the host wraps the message in an AH header
    /// ([`super::ah`]) keyed by what is held here, and unwraps and verifies it before
    /// the codec sees a received one. A parsed advert holds the 8 bytes it carried.
    Ah([u8; 8]),
}

impl Auth {
    /// A simple password as keepalived takes it: the first 8 bytes, zero-padded.
    pub fn password(text: &[u8]) -> Self {
        let mut p = [0u8; 8];
        let n = text.len().min(8);
        p[..n].copy_from_slice(&text[..n]);
        Auth::Password(p)
    }

    /// The number in the auth type field.
    pub const fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::Password(_) => 1,
            Auth::Ah(_) => 2,
        }
    }
}

/// A VRRP advertisement. Fields hold values, not wire encodings: the interval is always
/// in centiseconds, whatever unit the version carries it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Repr<'a> {
    pub version: Version,
    pub vrid: u8,
    /// 0 means the master is resigning; 255 means the sender owns the addresses.
    pub priority: u8,
    /// v2: advertisement interval (whole seconds on the wire); v3: maximum
    /// advertisement interval (12 bits of centiseconds on the wire).
    pub interval: Interval,
    /// Always [`Auth::None`] for v3.
    pub auth: Auth,
    pub addresses: Addresses<'a>,
}

impl<'a> Repr<'a> {
    /// Parses and validates a received VRRP message (the IP payload, its length taken
    /// from the IP header, not the frame). `mode` matters only for v3 over IPv4.
    ///
    /// Checks, in order: TTL/hop limit 255, header length, version, type, v2 over IPv6,
    /// address count against length, checksum, auth type, interval not zero. The
    /// password is checked by [`Repr::check_auth`] against the instance's own.
    pub fn parse(bytes: &'a [u8], meta: &RxMeta, mode: ChecksumMode) -> Result<Self> {
        Self::parse_in_line(bytes, meta, mode)
    }

    /// [`Repr::parse`] inlined into the router's receive path, where the parsed fields
    /// then stay in registers instead of going through memory.
    #[inline(always)]
    pub(crate) fn parse_in_line(
        bytes: &'a [u8],
        meta: &RxMeta,
        mode: ChecksumMode,
    ) -> Result<Self> {
        // The checks of `Packet::new_checked` and its accessors, in the same order, on
        // the header read once: this runs for every received advert.
        if meta.ttl != TTL {
            return Err(Error::Ttl(meta.ttl));
        }
        let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let first = header[0];
        let version = match first >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(Error::Version(v)),
        };
        if first & 0x0f != TYPE_ADVERTISEMENT {
            return Err(Error::Type(first & 0x0f));
        }
        let family = match (meta.src, meta.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Family::V4,
            (IpAddr::V6(_), IpAddr::V6(_)) if version == Version::V2 => {
                return Err(Error::V2OverIpv6);
            }
            (IpAddr::V6(_), IpAddr::V6(_)) => Family::V6,
            _ => return Err(Error::FamilyMismatch),
        };
        let count = header[3];
        let addresses_end = HEADER_LEN + usize::from(count) * family.addr_len();
        let trailer = match version {
            Version::V2 => V2_AUTH_LEN,
            Version::V3 => 0,
        };
        if bytes.len() != addresses_end + trailer {
            return Err(Error::Length {
                count,
                len: bytes.len(),
            });
        }
        let found = u16::from_be_bytes([header[6], header[7]]);
        let expected = checksum::compute(bytes, pseudo_header(version, mode, &meta.src, &meta.dst));
        if found != expected {
            return Err(Error::Checksum { found, expected });
        }
        let (interval, auth) = match version {
            Version::V2 => {
                let auth = match header[4] {
                    0 => Auth::None,
                    1 => {
                        // Exactly the 8 bytes after the addresses: the length matched.
                        let mut p = [0u8; V2_AUTH_LEN];
                        p.copy_from_slice(&bytes[addresses_end..]);
                        Auth::Password(p)
                    }
                    2 => {
                        let mut p = [0u8; V2_AUTH_LEN];
                        p.copy_from_slice(&bytes[addresses_end..]);
                        Auth::Ah(p)
                    }
                    t => return Err(Error::AuthType(t)),
                };
                (Interval::from_secs(header[5]), auth)
            }
            Version::V3 => {
                let centis = u16::from_be_bytes([header[4] & 0x0f, header[5]]);
                (Interval::from_centis(centis), Auth::None)
            }
        };
        if interval.centis() == 0 {
            return Err(Error::IntervalZero);
        }
        let addresses = Addresses::from_wire(family, &bytes[HEADER_LEN..addresses_end]);
        Ok(Repr {
            version,
            vrid: header[1],
            priority: header[2],
            interval,
            auth,
            addresses,
        })
    }

    /// Checks the advert's authentication against the instance's configuration, as
    /// keepalived does: the type must match, and so must all 8 password bytes.
    pub fn check_auth(&self, configured: &Auth) -> Result<()> {
        match (configured, &self.auth) {
            (Auth::None, Auth::None) => Ok(()),
            (Auth::Password(mine), Auth::Password(theirs)) if mine == theirs => Ok(()),
            (Auth::Password(_), Auth::Password(_)) => Err(Error::Password),
            // The AH header was verified by the host before the message got here.
            (Auth::Ah(_), Auth::Ah(_)) => Ok(()),
            (_, Auth::Ah(_)) => Err(Error::AuthAh),
            (c, r) => Err(Error::AuthMismatch {
                expected: c.type_number(),
                found: r.type_number(),
            }),
        }
    }

    /// The length of the emitted VRRP message.
    pub fn buffer_len(&self) -> usize {
        let trailer = match self.version {
            Version::V2 => V2_AUTH_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + self.addresses.as_bytes().len() + trailer
    }

    /// Writes the message into the start of `buf` with its checksum, and returns its
    /// length. `src` and `dst` are the addresses of the IP packet that will carry it (in
    /// unicast mode `dst` is the peer: the v3 pseudo-header covers it).
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: IpAddr,
        dst: IpAddr,
        mode: ChecksumMode,
    ) -> Result<usize> {
        let family = self.addresses.family();
        match (src, dst, family, self.version) {
            (IpAddr::V6(_), _, _, Version::V2) => return Err(Error::V2OverIpv6),
            (IpAddr::V4(_), IpAddr::V4(_), Family::V4, _)
            | (IpAddr::V6(_), IpAddr::V6(_), Family::V6, _) => {}
            _ => return Err(Error::FamilyMismatch),
        }
        let count = u8::try_from(self.addresses.len()).map_err(|_| Error::TooManyAddresses)?;
        let len = self.buffer_len();
        let buf = buf.get_mut(..len).ok_or(Error::BufferTooSmall)?;
        let mut packet = Packet::new_unchecked(buf, family);
        packet.set_version_and_type(self.version.number(), TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_count(count);
        match self.version {
            Version::V2 => {
                let secs = self.interval.v2_secs().ok_or(Error::IntervalRange)?;
                packet.set_auth_type(self.auth.type_number());
                packet.set_adver_int_secs(secs);
                let data = match self.auth {
                    Auth::None | Auth::Ah(_) => [0u8; V2_AUTH_LEN],
                    Auth::Password(p) => p,
                };
                packet.auth_data_mut().copy_from_slice(&data);
            }
            Version::V3 => {
                let centis = self.interval.v3_centis().ok_or(Error::IntervalRange)?;
                packet.set_max_adver_int(centis);
            }
        }
        packet.set_checksum(0);
        packet
            .addresses_mut()
            .copy_from_slice(self.addresses.as_bytes());
        let buf = packet.into_inner();
        let sum = checksum::compute(buf, pseudo_header(self.version, mode, &src, &dst));
        buf[6..8].copy_from_slice(&sum.to_be_bytes());
        Ok(len)
    }
}

/// The pseudo-header addresses a checksum covers, or `None` for the message alone.
fn pseudo_header<'x>(
    version: Version,
    mode: ChecksumMode,
    src: &'x IpAddr,
    dst: &'x IpAddr,
) -> Option<(&'x IpAddr, &'x IpAddr)> {
    /// What [`ChecksumMode::OldUnicast`] puts in the pseudo-header for any destination.
    static GROUP_V4: IpAddr = IpAddr::V4(super::MCAST_V4);
    match (version, mode, src) {
        (Version::V2, _, _) => None,
        (Version::V3, ChecksumMode::AsV2, IpAddr::V4(_)) => None,
        (Version::V3, ChecksumMode::OldUnicast, IpAddr::V4(_)) => Some((src, &GROUP_V4)),
        (Version::V3, _, _) => Some((src, dst)),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::net::Ipv4Addr;

    const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    const GROUP: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    const META: RxMeta = RxMeta {
        src: SRC,
        dst: GROUP,
        ttl: 255,
    };
    // keepalived-v2-mcast-adv1-steady and keepalived-v3-mcast-adv1-steady, message 1.
    const KA_V2: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, b's', b'3', b'c',
        b'r', b'3', b't', 0, 0,
    ];
    const KA_V3: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x74, 0xd5, 0x0a, 0x63, 0x00, 0x32,
    ];

    #[test]
    fn parses_keepalived_v2_with_password() {
        let r = Repr::parse(&KA_V2, &META, ChecksumMode::default()).unwrap();
        assert_eq!((r.version, r.vrid, r.priority), (Version::V2, 51, 100));
        assert_eq!(r.interval.centis(), 100);
        assert_eq!(r.auth, Auth::password(b"s3cr3t"));
        assert_eq!(r.check_auth(&Auth::password(b"s3cr3t")), Ok(()));
        assert_eq!(
            r.check_auth(&Auth::password(b"secret")),
            Err(Error::Password)
        );
        assert_eq!(
            r.check_auth(&Auth::None),
            Err(Error::AuthMismatch {
                expected: 0,
                found: 1
            })
        );
    }

    #[test]
    fn emit_reproduces_keepalived_bytes() {
        for (bytes, mode) in [
            (&KA_V2[..], ChecksumMode::PseudoHeader),
            (&KA_V3[..], ChecksumMode::PseudoHeader),
        ] {
            let r = Repr::parse(bytes, &META, mode).unwrap();
            let mut out = [0xffu8; 64];
            let n = r.emit(&mut out, SRC, GROUP, mode).unwrap();
            assert_eq!(&out[..n], bytes);
        }
    }

    /// `Repr::parse` as it was written on the `Packet` view, before it read the header
    /// once: the reference the faster one must agree with on every input.
    fn parse_on_packet<'a>(bytes: &'a [u8], meta: &RxMeta, mode: ChecksumMode) -> Result<Repr<'a>> {
        if meta.ttl != TTL {
            return Err(Error::Ttl(meta.ttl));
        }
        let first = *bytes.first().ok_or(Error::Truncated)?;
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let version = match first >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(Error::Version(v)),
        };
        if first & 0x0f != TYPE_ADVERTISEMENT {
            return Err(Error::Type(first & 0x0f));
        }
        let family = match (meta.src, meta.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Family::V4,
            (IpAddr::V6(_), IpAddr::V6(_)) if version == Version::V2 => {
                return Err(Error::V2OverIpv6);
            }
            (IpAddr::V6(_), IpAddr::V6(_)) => Family::V6,
            _ => return Err(Error::FamilyMismatch),
        };
        let packet = Packet::new_checked(bytes, family)?;
        let pseudo = pseudo_header(version, mode, &meta.src, &meta.dst);
        let expected = packet.expected_checksum(pseudo.map(|(s, d)| (*s, *d)));
        if packet.checksum() != expected {
            return Err(Error::Checksum {
                found: packet.checksum(),
                expected,
            });
        }
        let (interval, auth) = match version {
            Version::V2 => {
                let auth = match packet.auth_type() {
                    0 => Auth::None,
                    1 => {
                        let mut p = [0u8; V2_AUTH_LEN];
                        p.copy_from_slice(packet.auth_data());
                        Auth::Password(p)
                    }
                    2 => {
                        let mut p = [0u8; V2_AUTH_LEN];
                        p.copy_from_slice(packet.auth_data());
                        Auth::Ah(p)
                    }
                    t => return Err(Error::AuthType(t)),
                };
                (Interval::from_secs(packet.adver_int_secs()), auth)
            }
            Version::V3 => (Interval::from_centis(packet.max_adver_int()), Auth::None),
        };
        if interval.centis() == 0 {
            return Err(Error::IntervalZero);
        }
        let count = usize::from(packet.count());
        let list = &bytes[HEADER_LEN..HEADER_LEN + count * family.addr_len()];
        let addresses = Addresses::from_wire(family, list);
        Ok(Repr {
            version,
            vrid: bytes[1],
            priority: bytes[2],
            interval,
            auth,
            addresses,
        })
    }

    /// Every byte of valid v2, v3/IPv4 and v3/IPv6 adverts set to a handful of values,
    /// every truncation, under every checksum mode and several receive metadata: the
    /// same `Ok` or the same `Err` as the reference.
    #[test]
    fn parse_agrees_with_the_packet_view_on_every_mutation() {
        use core::net::Ipv6Addr;
        let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, last));
        let group6 = IpAddr::V6(crate::wire::MCAST_V6);
        let metas = [
            META,
            RxMeta { ttl: 254, ..META },
            RxMeta {
                src: v6(0x11),
                dst: group6,
                ttl: 255,
            },
            RxMeta {
                src: SRC,
                dst: group6,
                ttl: 255,
            },
        ];
        let addrs4: [[u8; 4]; 3] = [[10, 0, 0, 1], [10, 0, 0, 2], [10, 0, 0, 3]];
        let addrs6 = [[0x20u8; 16], [0x21; 16]];
        let reprs = [
            (
                Auth::password(b"s3cr3t"),
                Version::V2,
                Addresses::v4(&addrs4),
                META,
            ),
            (Auth::None, Version::V3, Addresses::v4(&addrs4[..1]), META),
            (Auth::None, Version::V3, Addresses::v6(&addrs6), metas[2]),
        ];
        let mut checked = 0u32;
        for (auth, version, addresses, meta) in reprs {
            let repr = Repr {
                version,
                vrid: 51,
                priority: 100,
                interval: Interval::DEFAULT,
                auth,
                addresses,
            };
            for mode in [ChecksumMode::PseudoHeader, ChecksumMode::AsV2] {
                let mut buf = [0u8; 64];
                let n = repr.emit(&mut buf, meta.src, meta.dst, mode).unwrap();
                let valid = &buf[..n];
                let mut inputs: std::vec::Vec<std::vec::Vec<u8>> = std::vec::Vec::new();
                for len in 0..=n + 1 {
                    let mut v = valid.to_vec();
                    v.resize(len, 0);
                    inputs.push(v);
                }
                for i in 0..n {
                    for b in [0u8, 1, 2, 0x0f, 0x10, 0x21, 0x31, 0x41, 0xff] {
                        let mut v = valid.to_vec();
                        v[i] = b;
                        inputs.push(v);
                        let mut v = valid.to_vec();
                        v[i] ^= b;
                        inputs.push(v);
                    }
                }
                for input in &inputs {
                    for m in metas.iter().chain([&meta]) {
                        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::AsV2] {
                            assert_eq!(
                                Repr::parse(input, m, mode),
                                parse_on_packet(input, m, mode),
                                "{input:02x?} {m:?} {mode:?}"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn v3_checksum_as_v2_is_a_different_checksum() {
        let err = Repr::parse(&KA_V3, &META, ChecksumMode::AsV2).unwrap_err();
        assert!(matches!(err, Error::Checksum { found: 0x74d5, .. }));
    }

    #[test]
    fn rejects_ttl_other_than_255() {
        let meta = RxMeta { ttl: 254, ..META };
        assert_eq!(
            Repr::parse(&KA_V3, &meta, ChecksumMode::default()),
            Err(Error::Ttl(254))
        );
    }

    #[test]
    fn auth_type_2_ah_is_accepted_only_by_an_ah_instance() {
        let mut p = KA_V2;
        p[4] = 2;
        let sum = checksum::compute(&p, None);
        p[6..8].copy_from_slice(&sum.to_be_bytes());
        let r = Repr::parse(&p, &META, ChecksumMode::default()).unwrap();
        assert_eq!(r.auth.type_number(), 2);
        assert_eq!(r.check_auth(&Auth::Ah(*b"pw\0\0\0\0\0\0")), Ok(()));
        assert_eq!(r.check_auth(&Auth::None), Err(Error::AuthAh));
        assert_eq!(r.check_auth(&Auth::password(b"pw")), Err(Error::AuthAh));
        let plain = Repr::parse(&KA_V2, &META, ChecksumMode::default()).unwrap();
        assert!(matches!(
            plain.check_auth(&Auth::Ah([0; 8])),
            Err(Error::AuthMismatch { expected: 2, .. })
        ));
        // keepalived's AH advert (VIP 10.99.0.100): type 2, authentication data zero.
        let ka_ah: [u8; 20] = [
            0x21, 0x33, 0x64, 0x01, 0x02, 0x01, 0x6e, 0x03, 0x0a, 0x63, 0x00, 0x64, 0, 0, 0, 0, 0,
            0, 0, 0,
        ];
        let r = Repr::parse(&ka_ah, &META, ChecksumMode::default()).unwrap();
        let mut buf = [0xffu8; 64];
        let r = Repr {
            auth: Auth::Ah(*b"s3cr3t\0\0"),
            ..r
        };
        let n = r
            .emit(&mut buf, SRC, GROUP, ChecksumMode::default())
            .unwrap();
        assert_eq!(&buf[..n], &ka_ah);
    }

    #[test]
    fn rejects_interval_zero() {
        let mut p = KA_V3;
        p[4] = 0;
        p[5] = 0;
        let sum = checksum::compute(&p, Some((&SRC, &GROUP)));
        p[6..8].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            Repr::parse(&p, &META, ChecksumMode::default()),
            Err(Error::IntervalZero)
        );
    }

    #[test]
    fn emit_refuses_fractional_v2_interval() {
        let mut r = Repr::parse(&KA_V2, &META, ChecksumMode::default()).unwrap();
        r.interval = Interval::from_centis(150);
        let mut out = [0u8; 64];
        assert_eq!(
            r.emit(&mut out, SRC, GROUP, ChecksumMode::default()),
            Err(Error::IntervalRange)
        );
    }

    #[test]
    fn mixed_address_families_are_refused_both_ways() {
        let v6 = IpAddr::V6(crate::wire::MCAST_V6);
        let meta = RxMeta { dst: v6, ..META };
        assert_eq!(
            Repr::parse(&KA_V3, &meta, ChecksumMode::default()),
            Err(Error::FamilyMismatch)
        );
        let r = Repr::parse(&KA_V3, &META, ChecksumMode::default()).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(
            r.emit(&mut out, SRC, v6, ChecksumMode::default()),
            Err(Error::FamilyMismatch)
        );
    }

    /// keepalived ≤ 1.3.6's unicast checksum is the multicast one: an advert to a peer
    /// carries the checksum it would carry to 224.0.0.18; parsed as such it is accepted,
    /// and the new way it is not.
    #[test]
    fn old_unicast_checksum_names_the_group() {
        let peer = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12));
        let r = Repr::parse(&KA_V3, &META, ChecksumMode::default()).unwrap();
        let mut to_group = [0u8; 64];
        let n = r
            .emit(&mut to_group, SRC, GROUP, ChecksumMode::PseudoHeader)
            .unwrap();
        let mut old = [0u8; 64];
        let m = r
            .emit(&mut old, SRC, peer, ChecksumMode::OldUnicast)
            .unwrap();
        assert_eq!(old[..m], to_group[..n]);
        let meta = RxMeta {
            src: SRC,
            dst: peer,
            ttl: 255,
        };
        assert_eq!(
            Repr::parse(&old[..m], &meta, ChecksumMode::OldUnicast),
            Ok(r)
        );
        assert!(matches!(
            Repr::parse(&old[..m], &meta, ChecksumMode::PseudoHeader),
            Err(Error::Checksum { .. })
        ));
    }
}
