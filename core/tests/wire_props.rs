//! Property tests of the VRRP codec (`vigil_core::wire`).
//!
//! (a) emit -> parse gives back the same `Repr`, and emitting that again gives the same
//!     bytes, for every valid advert: v2 over IPv4 (no auth or a password, whole
//!     seconds), v3 over IPv4 (both checksum modes) and IPv6.
//! (b) parsing arbitrary bytes with arbitrary metadata never panics, nor does any
//!     accessor of a buffer `Packet::new_checked` accepted; whatever parses re-emits to
//!     something that parses the same.
//! (c) the checksum catches every single-bit error; and with the checksum fixed up after
//!     the flip, every bit the codec does not ignore by design changes the `Repr`.
//!
//! Case counts are kept moderate so that the file runs in a few seconds in debug builds.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use proptest::collection::vec;
use proptest::prelude::*;
use vigil_core::wire::{
    Addresses, Auth, ChecksumMode, Family, HEADER_LEN, Interval, Packet, Repr, RxMeta, V2_AUTH_LEN,
    Version,
};

/// An owned description of a valid advert, since `Repr` borrows its address list.
#[derive(Debug, Clone)]
struct Case {
    version: Version,
    vrid: u8,
    priority: u8,
    centis: u16,
    auth: Auth,
    family: Family,
    addrs: Vec<u8>,
    src: IpAddr,
    dst: IpAddr,
    mode: ChecksumMode,
}

impl Case {
    fn repr(&self) -> Repr<'_> {
        Repr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            interval: Interval::from_centis(self.centis),
            auth: self.auth,
            addresses: Addresses::new(self.family, &self.addrs).expect("whole addresses"),
        }
    }

    fn meta(&self) -> RxMeta {
        RxMeta {
            src: self.src,
            dst: self.dst,
            ttl: 255,
        }
    }

    fn emit(&self) -> Vec<u8> {
        let repr = self.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr
            .emit(&mut buf, self.src, self.dst, self.mode)
            .expect("a valid Repr emits");
        assert_eq!(n, buf.len());
        buf
    }

    /// The pseudo-header the checksum covers, as RFC 5798 / 9568 and the mode say.
    fn pseudo(&self) -> Option<(IpAddr, IpAddr)> {
        pseudo_for(self.version == Version::V3, self.mode, self.src, self.dst)
    }
}

/// v3 over IPv6 always covers the pseudo-header; v3 over IPv4 only in `PseudoHeader`
/// mode; v2 never.
fn pseudo_for(v3: bool, mode: ChecksumMode, src: IpAddr, dst: IpAddr) -> Option<(IpAddr, IpAddr)> {
    let covers = v3 && (src.is_ipv6() || mode == ChecksumMode::PseudoHeader);
    covers.then_some((src, dst))
}

fn mode() -> impl Strategy<Value = ChecksumMode> {
    prop_oneof![Just(ChecksumMode::PseudoHeader), Just(ChecksumMode::AsV2)]
}

fn v2_case() -> impl Strategy<Value = Case> {
    let auth = prop_oneof![Just(Auth::None), any::<[u8; 8]>().prop_map(Auth::Password)];
    (
        (any::<u8>(), any::<u8>(), 1u8..=255, auth),
        vec(any::<[u8; 4]>(), 0..=32),
        (any::<Ipv4Addr>(), any::<Ipv4Addr>(), mode()),
    )
        .prop_map(
            |((vrid, priority, secs, auth), addrs, (src, dst, mode))| Case {
                version: Version::V2,
                vrid,
                priority,
                centis: u16::from(secs) * 100,
                auth,
                family: Family::V4,
                addrs: addrs.concat(),
                src: src.into(),
                dst: dst.into(),
                mode,
            },
        )
}

fn v3_v4_case() -> impl Strategy<Value = Case> {
    (
        (any::<u8>(), any::<u8>(), 1u16..=4095),
        vec(any::<[u8; 4]>(), 0..=32),
        (any::<Ipv4Addr>(), any::<Ipv4Addr>(), mode()),
    )
        .prop_map(|((vrid, priority, centis), addrs, (src, dst, mode))| Case {
            version: Version::V3,
            vrid,
            priority,
            centis,
            auth: Auth::None,
            family: Family::V4,
            addrs: addrs.concat(),
            src: src.into(),
            dst: dst.into(),
            mode,
        })
}

fn v3_v6_case() -> impl Strategy<Value = Case> {
    (
        (any::<u8>(), any::<u8>(), 1u16..=4095),
        vec(any::<[u8; 16]>(), 0..=32),
        (any::<Ipv6Addr>(), any::<Ipv6Addr>(), mode()),
    )
        .prop_map(|((vrid, priority, centis), addrs, (src, dst, mode))| Case {
            version: Version::V3,
            vrid,
            priority,
            centis,
            auth: Auth::None,
            family: Family::V6,
            addrs: addrs.concat(),
            src: src.into(),
            dst: dst.into(),
            mode,
        })
}

fn any_case() -> impl Strategy<Value = Case> {
    prop_oneof![v2_case(), v3_v4_case(), v3_v6_case()]
}

/// Metadata of either family (mixed too), mostly with the TTL that gets past the first
/// check, so that the rest of the parser is reached.
fn any_meta() -> impl Strategy<Value = RxMeta> {
    let ttl = prop_oneof![3 => Just(255u8), 1 => any::<u8>()];
    (any::<IpAddr>(), any::<IpAddr>(), ttl).prop_map(|(src, dst, ttl)| RxMeta { src, dst, ttl })
}

/// Arbitrary bytes, plus bytes shaped like a message (a plausible version/type byte, a
/// count that matches the length, v2 auth type 0 or 1 often, half of the time a correct
/// checksum) so that the later checks (auth type, interval, reserved bits) are reached.
fn message_like(meta: RxMeta) -> impl Strategy<Value = (Vec<u8>, ChecksumMode)> {
    let shaped = (
        (
            prop_oneof![Just(0x21u8), Just(0x31), any::<u8>()],
            prop_oneof![Just(0u8), Just(1), any::<u8>()],
        ),
        0usize..=40,
        vec(any::<u8>(), HEADER_LEN + 40 * 16 + V2_AUTH_LEN),
        any::<bool>(),
        mode(),
    )
        .prop_map(
            move |((first, auth_or_int), count, mut bytes, fix_sum, mode)| {
                let family = if meta.src.is_ipv6() {
                    Family::V6
                } else {
                    Family::V4
                };
                let trailer = if first >> 4 == 2 { V2_AUTH_LEN } else { 0 };
                bytes.truncate(HEADER_LEN + count * family.addr_len() + trailer);
                bytes[0] = first;
                bytes[3] = u8::try_from(count).unwrap();
                bytes[4] = auth_or_int;
                if fix_sum {
                    let pseudo = pseudo_for(first >> 4 == 3, mode, meta.src, meta.dst);
                    Packet::new_unchecked(&mut bytes[..], family).fill_checksum(pseudo);
                }
                (bytes, mode)
            },
        );
    prop_oneof![(vec(any::<u8>(), 0..600), mode()), shaped]
}

/// Reads every field of a checked packet (`auth_data` is empty for v3, 8 bytes for v2).
fn touch_every_accessor<T: AsRef<[u8]>>(p: &Packet<T>, meta: &RxMeta) -> u64 {
    let mut acc = u64::from(p.version())
        + u64::from(p.msg_type())
        + u64::from(p.vrid())
        + u64::from(p.priority())
        + u64::from(p.count())
        + u64::from(p.auth_type())
        + u64::from(p.adver_int_secs())
        + u64::from(p.reserved())
        + u64::from(p.max_adver_int())
        + u64::from(p.checksum())
        + u64::from(p.expected_checksum(None))
        + u64::from(p.expected_checksum(Some((meta.src, meta.dst))))
        + p.addresses().len() as u64
        + p.len() as u64
        + u64::from(p.is_empty());
    let auth_len = if p.version() == 2 { V2_AUTH_LEN } else { 0 };
    assert_eq!(p.auth_data().len(), auth_len);
    acc += p.auth_data().len() as u64;
    acc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (a) emit -> parse -> the same Repr; emit again -> the same bytes.
    #[test]
    fn emit_parse_round_trip(case in any_case()) {
        let bytes = case.emit();
        let parsed = Repr::parse(&bytes, &case.meta(), case.mode);
        prop_assert_eq!(parsed, Ok(case.repr()));
        let parsed = parsed.unwrap();
        let mut again = vec![0xa5u8; parsed.buffer_len() + 7];
        let n = parsed.emit(&mut again, case.src, case.dst, case.mode).unwrap();
        prop_assert_eq!(&again[..n], &bytes[..]);
        prop_assert_eq!(&again[n..], &[0xa5u8; 7][..], "emit wrote past its length");
        // v2 and v3 over IPv6 have no checksum choice: the other mode parses as well.
        if case.version == Version::V2 || case.family == Family::V6 {
            let other = match case.mode {
                ChecksumMode::PseudoHeader => ChecksumMode::AsV2,
                ChecksumMode::AsV2 | ChecksumMode::OldUnicast => ChecksumMode::PseudoHeader,
            };
            prop_assert_eq!(Repr::parse(&bytes, &case.meta(), other), Ok(case.repr()));
        }
    }

}

proptest! {
    // Cheap cases, and most random inputs fail early: run more of them.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// (b) Arbitrary input never panics the parser or a checked packet's accessors; an
    /// accepted message re-emits to one that parses to the same Repr.
    #[test]
    fn parse_never_panics(
        (meta, (bytes, mode)) in any_meta().prop_flat_map(|m| (Just(m), message_like(m)))
    ) {
        if let Ok(repr) = Repr::parse(&bytes, &meta, mode) {
            let mut out = vec![0u8; repr.buffer_len()];
            let n = repr.emit(&mut out, meta.src, meta.dst, mode);
            prop_assert_eq!(n, Ok(out.len()));
            // AH's authentication data is sent as zero (the AH header authenticates):
            // what was carried does not come back.
            let reparsed = match repr.auth {
                Auth::Ah(_) => Repr { auth: Auth::Ah([0; 8]), ..repr },
                _ => repr,
            };
            prop_assert_eq!(Repr::parse(&out, &meta, mode), Ok(reparsed));
        }
        for family in [Family::V4, Family::V6] {
            if let Ok(p) = Packet::new_checked(&bytes[..], family) {
                touch_every_accessor(&p, &meta);
                let mut m = Packet::new_checked(bytes.clone(), family).unwrap();
                m.addresses_mut().reverse();
                // v2 only: see `packet_auth_data_mut_on_checked_v3_packet_does_not_panic`.
                if m.version() == 2 {
                    m.auth_data_mut().reverse();
                }
                m.fill_checksum(Some((meta.src, meta.dst)));
                m.fill_checksum(None);
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (c) Every single-bit error is caught. The one's-complement sum of a message
    /// changes by +-2^k mod 0xffff under any one flip, so it never survives; flips of
    /// the count, version or type fail even earlier. This includes the v2 auth data of
    /// an `Auth::None` advert: parse ignores those bytes, but the checksum covers them.
    #[test]
    fn every_single_bit_flip_is_rejected(case in any_case(), bit in any::<prop::sample::Index>()) {
        let mut bytes = case.emit();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let parsed = Repr::parse(&bytes, &case.meta(), case.mode);
        prop_assert!(parsed.is_err(), "bit {} flipped, still parsed: {:?}", bit, parsed);
    }

    /// (c, stronger) Flip a bit, then fix the checksum up as a sender would: parse fails
    /// or gives a different Repr. Excluded by design: the checksum field itself (fixed
    /// up again), the v3 reserved nibble (RFC 5798 5.2.5: ignored on reception) and the
    /// v2 auth data of an `Auth::None` advert (RFC 3768: not carried into the Repr).
    #[test]
    fn every_meaningful_bit_changes_the_repr(
        case in any_case(),
        bit in any::<prop::sample::Index>(),
    ) {
        let mut bytes = case.emit();
        let bit = bit.index(bytes.len() * 8);
        let byte = bit / 8;
        let auth_data = bytes.len() - V2_AUTH_LEN..bytes.len();
        let ignored = (6..8).contains(&byte)
            || (case.version == Version::V3 && byte == 4 && bit % 8 >= 4)
            || (case.version == Version::V2 && case.auth == Auth::None
                && auth_data.contains(&byte));
        prop_assume!(!ignored);
        bytes[byte] ^= 1 << (bit % 8);
        Packet::new_unchecked(&mut bytes[..], case.family).fill_checksum(case.pseudo());
        let original = case.repr();
        match Repr::parse(&bytes, &case.meta(), case.mode) {
            Err(_) => {}
            Ok(r) => prop_assert_ne!(r, original, "bit {} flipped", bit),
        }
    }
}

/// The by-design exclusions of the test above, pinned: those bits really are ignored.
#[test]
fn reserved_bits_and_v2_auth_none_data_are_ignored_by_design() {
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
    let meta = RxMeta { src, dst, ttl: 255 };
    let vip = [[10, 99, 0, 50]];
    for (version, auth) in [(Version::V3, Auth::None), (Version::V2, Auth::None)] {
        let repr = Repr {
            version,
            vrid: 51,
            priority: 100,
            interval: Interval::from_secs(1),
            auth,
            addresses: Addresses::v4(&vip),
        };
        let mut bytes = [0u8; 20];
        let n = repr
            .emit(&mut bytes, src, dst, ChecksumMode::PseudoHeader)
            .unwrap();
        let bytes = &mut bytes[..n];
        match version {
            Version::V3 => bytes[4] |= 0xf0,
            Version::V2 => bytes[n - 1] = 0x42,
        }
        let pseudo = (version == Version::V3).then_some((src, dst));
        Packet::new_unchecked(&mut bytes[..], Family::V4).fill_checksum(pseudo);
        assert_eq!(
            Repr::parse(bytes, &meta, ChecksumMode::PseudoHeader),
            Ok(repr)
        );
    }
}

const KA_V3: [u8; 12] = [
    0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x74, 0xd5, 0x0a, 0x63, 0x00, 0x32,
];

/// A checked v3 packet has no auth data: the accessor says so instead of panicking.
#[test]
fn packet_auth_data_of_checked_v3_packet_is_empty() {
    let p = Packet::new_checked(&KA_V3[..], Family::V4).unwrap();
    assert_eq!(p.auth_data(), &[] as &[u8]);
}

/// The mutable twin still slices 8 bytes past the end of a checked v3 message, although
/// `new_checked` promises panic-free accessors. Ignored until the codec makes it return
/// an empty slice for v3 like `auth_data`; the property test above calls it for v2 only.
#[test]
fn packet_auth_data_mut_on_checked_v3_packet_does_not_panic() {
    let mut v3 = KA_V3;
    let mut p = Packet::new_checked(&mut v3[..], Family::V4).unwrap();
    assert_eq!(p.auth_data_mut().len(), 0);
}
