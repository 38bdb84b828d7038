use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use vigil_core::wire::{ChecksumMode, Repr, RxMeta};

#[test]
fn every_jump_lands_inside_the_program() {
    let mut spec = FilterSpec::new(Family::V4, Some("224.0.0.18".parse().unwrap()));
    spec.allow(51, Version::V2);
    spec.allow(200, Version::V3);
    let p = program(&spec, 3);
    for (i, insn) in p.iter().enumerate() {
        if matches!(insn.code & 0x07, JMP | JMP32)
            && insn.code & 0xf0 != CALL
            && insn.code & 0xf0 != EXIT
        {
            let to = i as isize + 1 + insn.off as isize;
            assert!(
                (0..p.len() as isize).contains(&to),
                "insn {i} jumps to {to}"
            );
        }
    }
}

/// The verifier's verdict on every shape of program (needs root; skipped
/// otherwise: the namespace tests load it under `VIGIL_REQUIRE_PRIVILEGED`).
#[test]
fn the_kernel_verifier_accepts_every_shape() {
    if !vigil_tests::netns::privileged_or_skip("the_kernel_verifier_accepts_every_shape") {
        return;
    }
    let groups: [Option<IpAddr>; 4] = [
        Some("224.0.0.18".parse().unwrap()),
        None,
        Some("ff02::12".parse().unwrap()),
        None,
    ];
    for (i, group) in groups.into_iter().enumerate() {
        let family = if i < 2 { Family::V4 } else { Family::V6 };
        let mut spec = FilterSpec::new(family, group);
        spec.allow(7, Version::V3);
        spec.allow(130, Version::V2);
        if i == 1 {
            spec.only_from(&["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]);
        }
        if i == 3 {
            spec.only_from(&["fe80::1".parse().unwrap()]);
        }
        let counters = Counters::new().expect("array map");
        // The whole program, checksum loop included (`attach` would fall back).
        load(&program(&spec, counters.map.as_raw_fd()))
            .unwrap_or_else(|e| panic!("{family:?} {group:?}: {e}"));
        let mut old = spec.clone();
        old.old_unicast_checksum();
        load(&program(&old, counters.map.as_raw_fd()))
            .unwrap_or_else(|e| panic!("{family:?} {group:?} old unicast checksum: {e}"));
        spec.v3_checksum_as_v2();
        load(&program(&spec, counters.map.as_raw_fd()))
            .unwrap_or_else(|e| panic!("{family:?} {group:?} as v2: {e}"));
        let socket = socket2::Socket::new(
            match family {
                Family::V4 => socket2::Domain::IPV4,
                Family::V6 => socket2::Domain::IPV6,
            },
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .expect("raw socket");
        use std::os::fd::AsFd;
        counters
            .attach(socket.as_fd(), &spec)
            .unwrap_or_else(|e| panic!("{family:?} {group:?}: {e}"));
        assert_eq!(counters.read().expect("read"), [0; REASONS.len()]);
    }
}

#[test]
fn bitmaps_hold_each_vrid_in_its_version() {
    let mut spec = FilterSpec::new(Family::V6, None);
    spec.allow(0, Version::V3);
    spec.allow(63, Version::V3);
    spec.allow(64, Version::V2);
    spec.allow(255, Version::V3);
    assert_eq!(spec.v3, [1 | 1 << 63, 0, 0, 1 << 63]);
    assert_eq!(spec.v2, [0, 1, 0, 0]);
    assert_eq!(spec.any()[1], 1);
}

/// Runs `prog` on `frame` (from its Ethernet header) in the kernel's test runner;
/// its return value: 0 drops, anything else passes.
fn test_run(prog: &OwnedFd, frame: &[u8]) -> u32 {
    let mut attr = Attr::default();
    attr.u32_at(0, prog.as_raw_fd() as u32);
    attr.u32_at(8, frame.len() as u32);
    attr.u64_at(16, frame.as_ptr() as u64);
    attr.u32_at(32, 1);
    bpf(10, &mut attr).expect("BPF_PROG_TEST_RUN");
    u32::from_ne_bytes(attr.0[4..8].try_into().unwrap())
}

/// An Ethernet frame carrying `payload` as VRRP from `src` to `dst` with `ttl`.
fn frame(src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x01, 0, 0x5e, 0, 0, 0x12, 0x02, 0, 0, 0, 0, 1];
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let len = (20 + payload.len()) as u16;
            f.extend_from_slice(&[0x45, 0xc0]);
            f.extend_from_slice(&len.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            f.extend_from_slice(&[112, ttl]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => unreachable!("one family"),
    }
    f.extend_from_slice(payload);
    f
}

/// What user space decides for a packet on a socket configured as `spec` (VRID
/// `vrid` of `version`): the engine's demultiplexing, the codec, the instance's
/// version. `true`: accepted.
fn user_space_accepts(
    group: Option<IpAddr>,
    vrid: u8,
    version: Version,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    payload: &[u8],
) -> bool {
    if payload.get(1) != Some(&vrid) {
        return false;
    }
    if group.map_or(dst.is_multicast(), |g| dst != g) {
        return false;
    }
    let meta = RxMeta { src, dst, ttl };
    Repr::parse(payload, &meta, ChecksumMode::PseudoHeader).is_ok_and(|r| r.version == version)
}

/// The filter against user space on every advert of the captured vectors and on
/// thousands of corruptions of each (every byte set to a few values, every
/// truncation, wrong TTL and destination): whatever user space accepts, the filter
/// passes; and the corruptions that only the checksum can catch, it drops.
#[test]
fn the_filter_drops_only_what_user_space_drops_on_real_and_corrupted_adverts() {
    if !vigil_tests::netns::privileged_or_skip(
        "the_filter_drops_only_what_user_space_drops_on_real_and_corrupted_adverts",
    ) {
        return;
    }
    let dir = std::env::var_os("VIGIL_VECTORS").map_or_else(
        || std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors")),
        std::path::PathBuf::from,
    );
    let mut messages: Vec<(IpAddr, IpAddr, u8, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("the vectors directory") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for m in vigil_tests::pcap::vrrp_messages(&bytes).unwrap() {
            let m = (m.src, m.dst, m.ttl, m.payload.to_vec());
            if !messages.contains(&m) {
                messages.push(m);
            }
        }
    }
    assert!(
        messages.len() >= 4,
        "{} adverts in {}",
        messages.len(),
        dir.display()
    );
    // No IPv6 in the captures: VRRPv3 over IPv6 as the codec emits it, multicast
    // and unicast, with one and with three addresses.
    use vigil_core::wire::{Addresses, Auth, Interval};
    let ll: IpAddr = "fe80::211:22ff:fe33:4455".parse().unwrap();
    let peer: IpAddr = "fd00::2".parse().unwrap();
    let a: [[u8; 16]; 3] = [
        "fd00::50".parse::<Ipv6Addr>().unwrap().octets(),
        "fd00::51".parse::<Ipv6Addr>().unwrap().octets(),
        "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
    ];
    for (dst, n) in [("ff02::12".parse().unwrap(), 1), (peer, 3)] {
        let repr = Repr {
            version: Version::V3,
            vrid: 42,
            priority: 100,
            interval: Interval::from_centis(100),
            auth: Auth::None,
            addresses: Addresses::v6(&a[..n]),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let len = repr
            .emit(&mut buf, ll, dst, ChecksumMode::PseudoHeader)
            .unwrap();
        buf.truncate(len);
        messages.push((ll, dst, 255, buf));
    }
    let (mut runs, mut caught) = (0, 0);
    for (src, dst, ttl, payload) in &messages {
        let family = if src.is_ipv6() {
            Family::V6
        } else {
            Family::V4
        };
        let version = if payload[0] >> 4 == 2 {
            Version::V2
        } else {
            Version::V3
        };
        let vrid = payload[1];
        let group = dst.is_multicast().then_some(*dst);
        let mut spec = FilterSpec::new(family, group);
        spec.allow(vrid, version);
        let counters = Counters::new().unwrap();
        let prog = load(&program_at(&spec, counters.map.as_raw_fd(), 40)).unwrap();
        let mut check = |src: IpAddr, dst: IpAddr, ttl: u8, p: &[u8]| {
            let passes = test_run(&prog, &frame(src, dst, ttl, p)) != 0;
            let accepts = user_space_accepts(group, vrid, version, src, dst, ttl, p);
            assert!(
                passes || !accepts,
                "the filter dropped what user space accepts: {src} -> {dst} ttl {ttl} {p:02x?}"
            );
            runs += 1;
            passes
        };
        assert!(
            check(*src, *dst, *ttl, payload),
            "a captured advert: {payload:02x?}"
        );
        for i in 0..payload.len() {
            for v in [
                0x00,
                0xff,
                payload[i] ^ 0x01,
                payload[i] ^ 0x80,
                payload[i].wrapping_add(1),
            ] {
                let mut p = payload.clone();
                p[i] = v;
                let passes = check(*src, *dst, *ttl, &p);
                // Outside the header's judged fields (version/type, VRID, count),
                // only the checksum can tell: the filter must catch it.
                if i >= 2 && i != 3 && p != *payload && !passes {
                    caught += 1;
                }
                if i >= 2 && i != 3 && p != *payload {
                    let meta = RxMeta {
                        src: *src,
                        dst: *dst,
                        ttl: *ttl,
                    };
                    let codec = Repr::parse(&p, &meta, ChecksumMode::PseudoHeader);
                    if matches!(codec, Err(vigil_core::wire::Error::Checksum { .. })) {
                        assert!(!passes, "a bad checksum passed: {p:02x?}");
                    }
                }
            }
        }
        for n in 0..payload.len() {
            check(*src, *dst, *ttl, &payload[..n]);
        }
        check(*src, *dst, 254, payload);
        let other: IpAddr = match dst {
            IpAddr::V4(_) => Ipv4Addr::new(224, 0, 0, 19).into(),
            IpAddr::V6(_) => "ff02::13".parse::<Ipv6Addr>().unwrap().into(),
        };
        assert!(
            !check(*src, other, *ttl, payload),
            "wrong destination passed"
        );
    }
    eprintln!(
        "{} adverts, {runs} runs, {caught} corruptions caught by the checksum",
        messages.len()
    );
    assert!(caught > 0);
}
