//! Addresses on interfaces, VRRP captures, and a second LAN.

use super::wait_for;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vigil_tests::netns::{Lan, Netns};

// ----- addresses -------------------------------------------------------------------

/// `ip -o addr show dev DEV` in `ns`.
pub fn addrs(ns: &Netns, dev: &str) -> String {
    ns.exec_ok(&["ip", "-o", "addr", "show", "dev", dev])
        .unwrap_or_default()
}

/// Whether `addr` is configured on `dev` in `ns` (as `ip addr` shows it).
pub fn has_addr(ns: &Netns, dev: &str, addr: Ipv4Addr) -> bool {
    addrs(ns, dev).contains(&format!(" {addr}/"))
}

/// Waits until `addr` is (or is not) on `dev`; the time it took.
pub fn wait_addr(
    ns: &Netns,
    dev: &str,
    addr: Ipv4Addr,
    present: bool,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    wait_for(timeout, Duration::from_millis(5), || {
        (has_addr(ns, dev, addr) == present).then(|| start.elapsed())
    })
}

// ----- routes and rules ----------------------------------------------------------

/// What vigild or keepalived put there: every route of every table but the kernel's own
/// (`proto kernel`, local/broadcast), and the rules but the three defaults.
pub fn routes_and_rules(ns: &Netns) -> String {
    let mut out = String::new();
    for family in ["-4", "-6"] {
        let routes = ns
            .exec_ok(&["ip", family, "-d", "route", "show", "table", "all"])
            .unwrap_or_default();
        for l in routes.lines() {
            if l.contains("proto kernel") || l.starts_with("local ") || l.starts_with("broadcast ")
            {
                continue;
            }
            if l.starts_with("multicast ") || l.contains("fe80::") {
                continue;
            }
            out += l.trim_end();
            out.push('\n');
        }
        let rules = ns
            .exec_ok(&["ip", family, "rule", "show"])
            .unwrap_or_default();
        for l in rules.lines() {
            let default = ["0:", "32766:", "32767:"].iter().any(|p| l.starts_with(p));
            if !default {
                out += l.trim_end();
                out.push('\n');
            }
        }
    }
    out
}

// ----- captures --------------------------------------------------------------------

/// Whether an Ethernet frame carries an IPv4 VRRP (protocol 112) packet.
pub fn is_vrrp_v4(f: &[u8]) -> bool {
    f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 112
}

/// The IPv4 VRRP frames seen on `eth0` of `ns` during `duration` (at most 20,000),
/// with the time each was read.
pub fn capture_vrrp(ns: &Netns, duration: Duration) -> Vec<(Instant, Vec<u8>)> {
    let cap = vigil_tests::netns::run_in(ns, || {
        vigil_tests::netns::Capture::open("eth0").expect("capture")
    });
    vrrp_frames(cap, duration)
}

/// The IPv4 VRRP frames `cap` sees for `duration`, each with when it was read.
pub fn vrrp_frames(
    cap: vigil_tests::netns::Capture,
    duration: Duration,
) -> Vec<(Instant, Vec<u8>)> {
    let end = Instant::now() + duration;
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match cap.next_frame(&mut buf, left).expect("capture") {
            Some(n) if is_vrrp_v4(&buf[..n]) => out.push((Instant::now(), buf[..n].to_vec())),
            Some(_) => {}
            None => break,
        }
    }
    out
}

// ----- a second LAN -----------------------------------------------------------------

/// The second LAN of [`add_second_lan`]: host `i` is `10.78.0.(11 + i)` on `eth1`.
pub fn host_ip2(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, 11 + i as u8)
}

/// The VIP on the second LAN.
pub const VIP_LAN2: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 50);

/// Adds a second bridge (`br1`, in the LAN's bridge namespace) and gives every host an
/// `eth1` on it with [`host_ip2`]. Everything goes with the LAN's namespaces.
pub fn add_second_lan(lan: &Lan) {
    let br = &lan.bridge;
    br.add_switch("br1").expect("br1");
    for (i, h) in lan.hosts.iter().enumerate() {
        let port = format!("q{i}");
        br.add_switch_port("br1", &port, "eth1", &h.ns)
            .expect("port on br1");
        let mac = format!("02:78:00:00:00:{:02x}", 0x11 + i);
        h.ns.exec_ok(&["ip", "link", "set", "eth1", "address", &mac])
            .expect("mac");
        let cidr = format!("{}/24", host_ip2(i));
        h.ns.exec_ok(&["ip", "addr", "add", &cidr, "dev", "eth1"])
            .expect("addr");
        h.ns.exec_ok(&["ip", "link", "set", "eth1", "up"])
            .expect("eth1 up");
    }
}
