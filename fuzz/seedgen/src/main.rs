//! `vigil-fuzz-seedgen VECTORS_DIR OUT_DIR`: the `wire_parse` seed corpus from the real
//! adverts in the captures of VECTORS_DIR (every `*.pcap` / `*.pcapng`, read with the
//! test suite's pcap reader), written to OUT_DIR in `wire_parse`'s input layout:
//! - each distinct message with the addresses and TTL it was captured with, in the
//!   checksum mode that verifies it, its own authentication configured;
//! - a v2 message with a password, also with no and with another password configured;
//! - each v3 message re-emitted with its checksum "as v2" (keepalived's
//!   `v3_checksum_as_v2`) and re-emitted over IPv6 (the captures are all IPv4).

#[path = "../../src/wire_input.rs"]
mod wire_input;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use vigil_core::wire::{Addresses, Auth, ChecksumMode, MCAST_V6, Repr, RxMeta, Version};
use vigil_tests::pcap;
use wire_input::WireInput;

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [vectors, out] = args.as_slice() else {
        eprintln!("usage: vigil-fuzz-seedgen VECTORS_DIR OUT_DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(out).expect("output directory");
    let mut seeds = BTreeSet::new();
    let mut captures = 0;
    for path in captures_in(vectors) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let messages =
            pcap::vrrp_messages(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        captures += 1;
        for v in messages {
            seeds_of(v.payload, &v.rx_meta(), &mut seeds);
        }
    }
    for (i, seed) in seeds.iter().enumerate() {
        // The layout read back is what was meant: the target sees the captured advert.
        let input = WireInput::decode(seed);
        assert!(input.fix_checksum || Repr::parse(input.message, &input.meta, input.mode).is_ok());
        let again = WireInput::encode(
            &input.meta,
            input.mode,
            input.configured,
            input.fix_checksum,
            input.message,
        );
        assert_eq!(&again, seed);
        std::fs::write(out.join(format!("vector-{i:03}")), seed).expect("seed file");
    }
    println!(
        "seedgen: {} wire_parse seeds from {captures} captures in {}",
        seeds.len(),
        vectors.display()
    );
}

fn captures_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    v.sort();
    v
}

fn seeds_of(payload: &[u8], meta: &RxMeta, seeds: &mut BTreeSet<Vec<u8>>) {
    for mode in [ChecksumMode::PseudoHeader, ChecksumMode::AsV2] {
        let Ok(repr) = Repr::parse(payload, meta, mode) else {
            continue;
        };
        seeds.insert(WireInput::encode(meta, mode, None, false, payload));
        // The same with the checksum zeroed, for the target to fill in: mutations of it
        // reach the checks after the checksum.
        let mut zeroed = payload.to_vec();
        zeroed[6..8].fill(0);
        seeds.insert(WireInput::encode(meta, mode, None, true, &zeroed));
        if let Auth::Password(p) = repr.auth {
            let mut other = p;
            other[0] ^= 0x20;
            seeds.insert(WireInput::encode(
                meta,
                mode,
                Some(Auth::None),
                false,
                payload,
            ));
            seeds.insert(WireInput::encode(
                meta,
                mode,
                Some(Auth::Password(other)),
                false,
                payload,
            ));
        }
        if repr.version != Version::V3 {
            continue;
        }
        let mut buf = [0u8; 1024];
        let as_v2 = ChecksumMode::AsV2;
        if let Ok(n) = repr.emit(&mut buf, meta.src, meta.dst, as_v2) {
            seeds.insert(WireInput::encode(meta, as_v2, None, false, &buf[..n]));
        }
        // Over IPv6: each IPv4 address a.b.c.d as 2001:db8::a.b.c.d, from fe80::a.b.c.d.
        let v6 = |a: IpAddr| match a {
            IpAddr::V4(a) => {
                let [a, b, c, d] = a.octets();
                let mut o = [0u8; 16];
                o[..2].copy_from_slice(&[0x20, 0x01]);
                o[2..4].copy_from_slice(&[0x0d, 0xb8]);
                o[12..].copy_from_slice(&[a, b, c, d]);
                o
            }
            IpAddr::V6(a) => a.octets(),
        };
        let list: Vec<[u8; 16]> = repr.addresses.iter().map(v6).collect();
        let mut src = v6(meta.src);
        src[..4].copy_from_slice(&[0xfe, 0x80, 0, 0]);
        let meta6 = RxMeta {
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(MCAST_V6),
            ttl: 255,
        };
        let repr6 = Repr {
            addresses: Addresses::v6(&list),
            ..repr
        };
        if let Ok(n) = repr6.emit(&mut buf, meta6.src, meta6.dst, mode) {
            seeds.insert(WireInput::encode(&meta6, mode, None, false, &buf[..n]));
        }
    }
}
