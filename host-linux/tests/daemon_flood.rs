//! A bounded flood of malformed and hostile adverts, from raw sockets in a third
//! namespace, at a vigild master and a vigild backup (VRRPv2 with PASS, multicast: both
//! receive every packet): bad checksum, TTL 254, wrong password, lower priority with the
//! right password, unknown VRID, truncated, wrong version, and oversized (3,000 bytes,
//! fragmented). Neither crashes or changes state, every packet is accounted
//! for in `vigild status --json` (each drop under its reason), and the master answers
//! the lower-priority adverts with at most one advert per advert interval (keepalived's
//! "forcing new election" without the amplification).
//!
//! Skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};
use vigil_core::wire::Version;
use vigil_tests::netns::privileged_or_skip;

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const PASS: &str = "s3cr3t";
/// Packets of each kind: 8 kinds, 2,400 packets.
const EACH: usize = 300;
/// Time between two packets: the flood lasts about 3 s (three advert intervals).
const SPACING: Duration = Duration::from_micros(1250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A valid advert (priority 50, right password) with its checksum broken.
    BadChecksum,
    /// A valid advert with TTL 254 (not from the LAN, RFC 3768 7.1).
    Ttl254,
    /// Priority 254 with the wrong password.
    WrongPassword,
    /// Priority 50 with the right password: accepted, and the master answers.
    LowerPriority,
    /// Priority 254 for VRID 99, which nobody here runs.
    UnknownVrid,
    /// The first 6 bytes of a valid advert.
    Truncated,
    /// A valid VRRPv3 advert (priority 254) to the v2 instance.
    WrongVersion,
    /// 3,000 bytes (fragmented on the wire, reassembled by the receiving kernel): more
    /// than any advert and than vigild's receive buffer.
    Oversized,
}

const KINDS: [Kind; 8] = [
    Kind::BadChecksum,
    Kind::Ttl254,
    Kind::WrongPassword,
    Kind::LowerPriority,
    Kind::UnknownVrid,
    Kind::Truncated,
    Kind::WrongVersion,
    Kind::Oversized,
];

fn vrrp(version: Version, vrid: u8, priority: u8, pass: &str, src: Ipv4Addr) -> Vec<u8> {
    advert_v4(version, vrid, priority, pass, VIP, (src, GROUP), 100)
}

/// The whole IPv4 packet of one kind (the kernel fills in the header checksum).
fn packet(kind: Kind, src: Ipv4Addr) -> Vec<u8> {
    let mut ttl = 255;
    let payload = match kind {
        Kind::BadChecksum => {
            let mut p = vrrp(Version::V2, 51, 50, PASS, src);
            p[6] ^= 0x5a;
            p
        }
        Kind::Ttl254 => {
            ttl = 254;
            vrrp(Version::V2, 51, 50, PASS, src)
        }
        Kind::WrongPassword => vrrp(Version::V2, 51, 254, "guessed", src),
        Kind::LowerPriority => vrrp(Version::V2, 51, 50, PASS, src),
        Kind::UnknownVrid => vrrp(Version::V2, 99, 254, PASS, src),
        Kind::Truncated => vrrp(Version::V2, 51, 254, PASS, src)[..6].to_vec(),
        Kind::WrongVersion => vrrp(Version::V3, 51, 254, "", src),
        Kind::Oversized => {
            let mut p = vrrp(Version::V2, 51, 254, PASS, src);
            p.resize(3000, 0);
            p
        }
    };
    ipv4_vrrp_packet(src, GROUP, ttl, &payload)
}

/// Sends `EACH` packets of every kind, interleaved, paced by `SPACING`, from a raw
/// socket (IP_HDRINCL) in the calling thread's namespace. Returns how many were sent.
fn flood(src: Ipv4Addr) -> usize {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let sock = Socket::new(
        Domain::IPV4,
        Type::RAW,
        Some(Protocol::from(libc::IPPROTO_RAW)),
    )
    .expect("raw socket");
    let dst = SockAddr::from(SocketAddrV4::new(GROUP, 0));
    // IP_HDRINCL packets are never fragmented: the oversized ones go through a VRRP
    // raw socket (the kernel builds the header, TTL 255, and fragments).
    let big = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).expect("raw");
    big.set_multicast_ttl_v4(255).expect("ttl");
    let packets: Vec<Vec<u8>> = KINDS.iter().map(|&k| packet(k, src)).collect();
    let start = Instant::now();
    let mut sent = 0;
    for n in 0..EACH * KINDS.len() {
        let due = start + SPACING * n as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let kind = KINDS[n % KINDS.len()];
        let p = &packets[n % KINDS.len()];
        if kind == Kind::Oversized {
            big.send_to(&p[20..], &dst)
                .expect("sending an oversized advert");
        } else {
            sock.send_to(p, &dst).expect("sending a hostile advert");
        }
        sent += 1;
    }
    sent
}

#[test]
fn hostile_flood_changes_nothing_and_is_counted() {
    if !privileged_or_skip("hostile_flood_changes_nothing_and_is_counted") {
        return;
    }
    let a = Inst::v2_pass("VI_1", 51, "MASTER", 150, PASS);
    let b = Inst::v2_pass("VI_1", 51, "BACKUP", 100, PASS);
    let mut p = Pair::start("flood", "vfl", &a, &b, Duration::from_secs(8));
    let attacker = p.ns(2);
    attacker
        .exec_ok(&["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        .unwrap();
    let src = host_ip(2);
    let before = [p.lb1.status_cli(), p.lb2.status_cli()];

    // Capture lb1's adverts while the flood runs (and a little after).
    let flood_time = SPACING * (EACH * KINDS.len()) as u32;
    let window = flood_time + Duration::from_millis(500);
    let (sent, frames, t0, flood_end) = std::thread::scope(|s| {
        let cap = s.spawn(|| capture_vrrp(p.ns(0), window));
        std::thread::sleep(Duration::from_millis(50));
        let t0 = Instant::now();
        let sent = in_netns(&attacker.path(), || flood(src));
        let flood_end = t0.elapsed();
        (sent, cap.join().unwrap(), t0, flood_end)
    });
    assert_eq!(sent, EACH * KINDS.len());
    eprintln!("flood: {sent} packets in {flood_end:?}");

    // Let the daemons drain their sockets.
    std::thread::sleep(Duration::from_millis(300));
    let after = [p.lb1.status_cli(), p.lb2.status_cli()];
    assert!(p.lb1.is_running() && p.lb2.is_running(), "a daemon died");

    // No state change.
    for (i, want) in [(0, "MASTER"), (1, "BACKUP")] {
        let (b, a) = (
            instance_of(&before[i], "VI_1").unwrap(),
            instance_of(&after[i], "VI_1").unwrap(),
        );
        assert_eq!(a["state"], want, "{a}");
        assert_eq!(a["master"], host_ip(0).to_string(), "{a}");
        for c in ["became_master", "left_master"] {
            assert_eq!(counter(&b, c), counter(&a, c), "{c}");
        }
        assert_eq!(a["effective_priority"], b["effective_priority"]);
    }
    assert!(has_addr(p.ns(0), "eth0", VIP));
    assert!(!has_addr(p.ns(1), "eth0", VIP));

    // Every packet counted, each drop under its reason: by the instance, before any
    // instance (user space), or by the socket filter in the kernel.
    let each = EACH as u64;
    let lb1_tx = counter(&instance_of(&after[0], "VI_1").unwrap(), "adverts_tx")
        - counter(&instance_of(&before[0], "VI_1").unwrap(), "adverts_tx");
    const REASONS: [&str; 7] = [
        "checksum",
        "ttl",
        "auth",
        "truncated",
        "version",
        "unknown_vrid",
        // The oversized one: its length does not match its address count (the filter
        // sees the whole reassembled datagram; user space, without it, would find it
        // larger than its buffer: `malformed`).
        "length",
    ];
    for i in 0..2 {
        let who = ["master", "backup"][i];
        assert!(
            after[i]["filtered"].is_object(),
            "{who}: the socket filter is not loaded: {}",
            after[i]
        );
        let (b, a) = (
            instance_of(&before[i], "VI_1").unwrap(),
            instance_of(&after[i], "VI_1").unwrap(),
        );
        let counted = |status: &serde_json::Value, inst: &serde_json::Value, r: &str| {
            drops(inst, r)
                + status["drops"][r].as_u64().unwrap_or(0)
                + status["filtered"][r].as_u64().unwrap_or(0)
        };
        for reason in REASONS {
            assert_eq!(
                counted(&after[i], &a, reason) - counted(&before[i], &b, reason),
                each,
                "{who} {reason}: instance {}, user space {}, kernel filter {}",
                a["counters"]["drops"],
                after[i]["drops"],
                after[i]["filtered"]
            );
        }
        // What the filter can judge never reaches user space.
        for reason in [
            "unknown_vrid",
            "ttl",
            "version",
            "truncated",
            "checksum",
            "length",
        ] {
            let kernel = |s: &serde_json::Value| s["filtered"][reason].as_u64().unwrap_or(0);
            assert_eq!(
                kernel(&after[i]) - kernel(&before[i]),
                each,
                "{who} {reason}"
            );
        }
        assert_eq!(after[i]["kernel_drops"], 0, "{who}: kernel drops");
        // Accepted: the lower-priority ones (and, at the backup, the master's adverts).
        let rx = counter(&a, "adverts_rx") - counter(&b, "adverts_rx");
        let expected = if i == 0 { each } else { each + lb1_tx };
        assert!(
            rx.abs_diff(expected) <= 1,
            "{who}: {rx} adverts accepted, {expected} expected"
        );
    }

    // The master's adverts during the flood: the periodic ones (one a second) and at
    // most one answer per advert interval to the lower-priority flood.
    let mine: Vec<Instant> = frames
        .iter()
        .filter(|(_, f)| f[26..30] == host_ip(0).octets())
        .map(|(t, _)| *t)
        .collect();
    // Periodic: one per second of the capture; answers: one per second of the flood
    // (each bound +1 for where the first one falls).
    let secs = window.as_secs_f64();
    let limit = (secs.ceil() as usize + 1) + (flood_end.as_secs_f64().ceil() as usize + 1);
    eprintln!(
        "master sent {} adverts in {secs:.1} s ({lb1_tx} counted between the snapshots; limit {limit})",
        mine.len()
    );
    let rel: Vec<u128> = mine
        .iter()
        .map(|t| t.saturating_duration_since(t0).as_millis())
        .collect();
    eprintln!("master adverts at (ms from flood start): {rel:?}");
    assert!(mine.len() <= limit, "{} adverts", mine.len());
    // It did answer (about once a second) ...: during the flood, the periodic adverts
    // alone would be about one a second; with the answers, about two (one edge spare).
    let during = mine
        .iter()
        .filter(|t| t.duration_since(t0) <= flood_end)
        .count();
    let whole = flood_end.as_secs() as usize;
    assert!(
        during + 1 >= 2 * whole,
        "{during} adverts during the flood: no answers to the lower-priority adverts?"
    );
    // ... and never twice in an interval: at most two adverts (one periodic, one
    // answer) in any window shorter than the interval (800 ms: timestamps are taken
    // by the capture thread, a few ms late at worst).
    for (k, t) in mine.iter().enumerate() {
        let within = mine[k..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_millis(800))
            .count();
        assert!(
            within <= 2,
            "{within} adverts within 800 ms at #{k}: {mine:?}"
        );
    }
}
