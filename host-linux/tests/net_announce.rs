//! Gratuitous ARP and unsolicited neighbour advertisements on a real (namespaced) LAN:
//! the frames on the wire are keepalived's byte for byte, and the neighbour's kernel
//! accepts them (its neighbour cache moves to the sender's MAC).
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use vigil_linux::net::Announcer;
use vigil_linux::net::announce::{garp_frame, na_frame};
use vigil_tests::netns::{Capture, HostSpec, Lan, Netns, privileged_or_skip, run_in};
use vigil_tests::pcap;

/// The reference capture's topology: lb2 (02:99:00:00:00:12) takes over VIP 10.99.0.50.
const LB2_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x12];
const OTHER_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x13];
const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 50);
const VIP6: &str = "fd99::50";
const STALE_MAC: &str = "02:00:00:00:00:01";
const WAIT: Duration = Duration::from_secs(3);

fn lan(prefix: &str) -> Lan {
    Lan::new(
        prefix,
        &[
            HostSpec::v4(LB2_MAC, Ipv4Addr::new(10, 99, 0, 12), 24)
                .with_v6("fd99::12".parse().unwrap(), 64),
            HostSpec::v4(OTHER_MAC, Ipv4Addr::new(10, 99, 0, 13), 24)
                .with_v6("fd99::13".parse().unwrap(), 64),
        ],
    )
    .expect("building the LAN")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn in_ns<T: Send>(ns: &Netns, rt: &Runtime, f: impl FnOnce() -> T + Send) -> T {
    run_in(ns, || {
        let _guard = rt.enter();
        f()
    })
}

fn eth0_index(ns: &Netns) -> u32 {
    run_in(ns, || nix::net::if_::if_nametoindex("eth0").unwrap())
}

fn vectors_dir() -> PathBuf {
    std::env::var_os("VIGIL_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors"))
        })
}

/// The gratuitous ARPs keepalived sent in the reference takeover capture.
fn keepalived_garps() -> Vec<Vec<u8>> {
    let path = vectors_dir().join("keepalived-v2-mcast-adv1-takeover.pcap");
    let file = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set VIGIL_VECTORS)", path.display()));
    let frames = pcap::frames(&file).unwrap();
    let garps: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| f.link_type == pcap::linktype::ETHERNET && f.data.get(12..14) == Some(&[8, 6]))
        .map(|f| f.data.to_vec())
        .collect();
    assert_eq!(
        garps.len(),
        5,
        "keepalived sends 5 gratuitous ARPs on takeover"
    );
    garps
}

/// Polls `ip neigh` in `ns` until the entry for `addr` shows `mac` (bounded).
fn wait_neigh(ns: &Netns, addr: &str, mac: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = ns
            .exec_ok(&["ip", "neigh", "show", addr, "dev", "eth0"])
            .unwrap();
        if out.contains(mac) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn gratuitous_arp_on_the_wire_is_keepalived_s_and_updates_the_neighbour() {
    if !privileged_or_skip("gratuitous_arp_on_the_wire_is_keepalived_s_and_updates_the_neighbour") {
        return;
    }
    let reference = keepalived_garps();
    assert_eq!(garp_frame(LB2_MAC, VIP).as_slice(), reference[0].as_slice());

    let lan = lan("vag");
    let (a, b) = (lan.host(0), lan.host(1));
    // B believes the VIP is elsewhere (the old master).
    b.ns.exec_ok(&[
        "ip",
        "neigh",
        "replace",
        "10.99.0.50",
        "lladdr",
        STALE_MAC,
        "dev",
        "eth0",
        "nud",
        "stale",
    ])
    .unwrap();
    let rt = runtime();
    let ai = eth0_index(&a.ns);
    let announcer = in_ns(&a.ns, &rt, Announcer::new).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    announcer.send_garp(ai, LB2_MAC, VIP).unwrap();

    let frame = capture
        .wait_for(WAIT, |f| f.get(12..14) == Some(&[8, 6]))
        .unwrap()
        .expect("no ARP captured");
    for (i, r) in reference.iter().enumerate() {
        assert_eq!(frame, *r, "frame differs from keepalived's ARP #{}", i + 1);
    }
    let neigh = wait_neigh(&b.ns, "10.99.0.50", "02:99:00:00:00:12");
    assert!(
        neigh.contains("02:99:00:00:00:12"),
        "B's ARP entry: {neigh}"
    );

    // use_vmac: the frame carries the virtual MAC given, not the interface's.
    let vmac = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    announcer.send_garp(ai, vmac, VIP).unwrap();
    let frame = capture
        .wait_for(WAIT, |f| f.get(12..14) == Some(&[8, 6]))
        .unwrap()
        .expect("no ARP captured");
    assert_eq!(frame, garp_frame(vmac, VIP));
    let neigh = wait_neigh(&b.ns, "10.99.0.50", "00:00:5e:00:01:33");
    assert!(
        neigh.contains("00:00:5e:00:01:33"),
        "B's ARP entry: {neigh}"
    );
}

#[test]
fn unsolicited_na_is_accepted_by_the_neighbour() {
    if !privileged_or_skip("unsolicited_na_is_accepted_by_the_neighbour") {
        return;
    }
    let lan = lan("van");
    let (a, b) = (lan.host(0), lan.host(1));
    let vip: Ipv6Addr = VIP6.parse().unwrap();
    b.ns.exec_ok(&[
        "ip", "-6", "neigh", "replace", VIP6, "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale",
    ])
    .unwrap();
    let rt = runtime();
    let ai = eth0_index(&a.ns);
    let announcer = in_ns(&a.ns, &rt, Announcer::new).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    announcer.send_na(ai, LB2_MAC, vip, false).unwrap();

    let frame = capture
        .wait_for(WAIT, |f| {
            f.get(12..14) == Some(&[0x86, 0xdd])
                && f.get(20) == Some(&58)
                && f.get(54) == Some(&136)
        })
        .unwrap()
        .expect("no NA captured");
    assert_eq!(frame, na_frame(LB2_MAC, vip, false));
    assert_eq!(frame[21], 255, "hop limit");
    // The kernel checked the ICMPv6 checksum, the hop limit and the flags before taking
    // the override.
    let neigh = wait_neigh(&b.ns, VIP6, "02:99:00:00:00:12");
    assert!(
        neigh.contains("02:99:00:00:00:12"),
        "B's neighbour entry: {neigh}"
    );
}

/// The R flag follows the interface's IPv6 `forwarding` setting, read when sending and
/// trusted for 5 s (keepalived 2.2.7 `ndisc_send_unsolicited_na_immediate`).
#[test]
fn na_router_flag_follows_ipv6_forwarding() {
    if !privileged_or_skip("na_router_flag_follows_ipv6_forwarding") {
        return;
    }
    let lan = lan("var");
    let (a, b) = (lan.host(0), lan.host(1));
    let vip: Ipv6Addr = VIP6.parse().unwrap();
    let rt = runtime();
    let ai = eth0_index(&a.ns);
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    let is_na = |f: &[u8]| {
        f.get(12..14) == Some(&[0x86, 0xdd]) && f.get(20) == Some(&58) && f.get(54) == Some(&136)
    };
    // Sent from inside A's namespace: the interface name and its sysctl are read there.
    let flags_of_next_na = |announcer: &Announcer| {
        run_in(&a.ns, || announcer.announce(ai, LB2_MAC, vip.into())).unwrap();
        let frame = capture
            .wait_for(WAIT, is_na)
            .unwrap()
            .expect("no NA captured");
        frame[58]
    };

    a.ns.sysctl("net.ipv6.conf.eth0.forwarding", "0").unwrap();
    let off = in_ns(&a.ns, &rt, Announcer::new).unwrap();
    assert_eq!(
        flags_of_next_na(&off),
        0x20,
        "override only, no router flag"
    );

    a.ns.sysctl("net.ipv6.conf.eth0.forwarding", "1").unwrap();
    // Read less than 5 s ago: the old reading still stands, as in keepalived.
    assert_eq!(flags_of_next_na(&off), 0x20, "cached reading");
    let on = in_ns(&a.ns, &rt, Announcer::new).unwrap();
    assert_eq!(flags_of_next_na(&on), 0xa0, "router and override");

    a.ns.sysctl("net.ipv6.conf.eth0.forwarding", "0").unwrap();
    let off_again = in_ns(&a.ns, &rt, Announcer::new).unwrap();
    assert_eq!(flags_of_next_na(&off_again), 0x20);
}
