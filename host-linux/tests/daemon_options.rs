//! keepalived options of issue 13 that vigild used to ignore, run in namespaces:
//! `notify_master_rx_lower_pri` and (unicast) the TTL of adverts.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;
use vigil_core::wire::Version;
use vigil_tests::netns::{Netns, privileged_or_skip};

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// A script that appends its arguments (and a marker) to `log`, mode 0755.
fn logging_script(dir: &Path, log: &Path) -> String {
    let script = dir.join("log.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"ran $*\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn lines(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

/// keepalived's `send_event_notify`: a master runs `notify_master_rx_lower_pri` (no
/// arguments) for each lower-priority advert it hears.
#[test]
fn master_runs_notify_master_rx_lower_pri_on_a_lower_priority_advert() {
    if !privileged_or_skip("master_runs_notify_master_rx_lower_pri_on_a_lower_priority_advert") {
        return;
    }
    let lan = lan("vrl", 2);
    let dir = workdir("rx-lower-pri");
    let log = dir.path().join("lower.log");
    let script = logging_script(dir.path(), &log);
    let inst = Inst::v2_pass("VI_1", 51, "MASTER", 150, "pw").with_extra(&format!(
        "    notify_master_rx_lower_pri \"{script} lower\""
    ));
    let conf = global_defs("lb1", "") + &inst.render();
    let v = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_1", "MASTER", Duration::from_secs(6));
    assert_eq!(lines(&log), 0, "ran before any lower advert");

    lan.host(1)
        .ns
        .exec_ok(&["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        .unwrap();
    let peer = host_ip(1);
    let low = advert_v4(Version::V2, 51, 100, "pw", VIP, (peer, GROUP), 100);
    for _ in 0..2 {
        send_vrrp(&lan.host(1).ns, peer, GROUP, 255, &low);
        std::thread::sleep(Duration::from_millis(100));
    }
    let ran = wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        (lines(&log) >= 2).then_some(())
    });
    assert!(
        ran.is_some(),
        "script ran {} times:\n{}",
        lines(&log),
        v.log_text()
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().all(|l| l == "ran lower"), "{text}");
    assert_eq!(v.state("VI_1").as_deref(), Some("MASTER"));
}

/// keepalived checks the TTL (255) of multicast adverts only: a unicast advert is
/// accepted whatever its TTL (routed peers, `unicast_ttl`, or keepalived's IPv6
/// default hop limit), a multicast one with TTL 64 is not.
#[test]
fn unicast_adverts_are_accepted_whatever_their_ttl_multicast_ones_need_255() {
    if !privileged_or_skip(
        "unicast_adverts_are_accepted_whatever_their_ttl_multicast_ones_need_255",
    ) {
        return;
    }
    let lan = lan("vut", 2);
    let dir = workdir("unicast-ttl-rx");
    let (me, peer) = (host_ip(0), host_ip(1));
    let uni = Inst::v2_pass("VI_U", 51, "BACKUP", 100, "pw").unicast(me, &[peer]);
    let mut multi = Inst::v2_pass("VI_M", 52, "BACKUP", 100, "pw");
    multi.vips = vec![format!("{VIP2}/24")];
    let conf = global_defs("lb1", "") + &uni.render() + &multi.render();
    let v = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_U", "BACKUP", Duration::from_secs(3));
    lan.host(1)
        .ns
        .exec_ok(&["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        .unwrap();
    let to_me = advert_v4(Version::V2, 51, 150, "pw", VIP, (peer, me), 100);
    let to_group = advert_v4(Version::V2, 52, 150, "pw", VIP2, (peer, GROUP), 100);
    for _ in 0..3 {
        send_vrrp(&lan.host(1).ns, peer, me, 64, &to_me);
        send_vrrp(&lan.host(1).ns, peer, GROUP, 64, &to_group);
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        let u = v.instance("VI_U")?;
        (counter(&u, "adverts_rx") >= 3).then_some(u)
    });
    assert!(
        got.is_some(),
        "unicast adverts with TTL 64 refused:\n{}",
        v.status_cli()
    );
    let m = v.instance("VI_M").unwrap();
    assert_eq!(
        counter(&m, "adverts_rx"),
        0,
        "multicast TTL 64 accepted: {m}"
    );
}

/// `unicast_ttl`: the TTL of the adverts a master sends to its unicast peers.
#[test]
fn unicast_ttl_sets_the_ttl_of_adverts_to_peers() {
    if !privileged_or_skip("unicast_ttl_sets_the_ttl_of_adverts_to_peers") {
        return;
    }
    let lan = lan("vus", 2);
    let dir = workdir("unicast-ttl-tx");
    let (me, peer) = (host_ip(0), host_ip(1));
    let inst = Inst::v3("VI_1", 51, "MASTER", 150, "0.2")
        .unicast(me, &[peer])
        .with_extra("    unicast_ttl 7");
    let conf = global_defs("lb1", "") + &inst.render();
    let v = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_1", "MASTER", Duration::from_secs(3));
    let frames = capture_vrrp(&lan.host(1).ns, Duration::from_millis(800));
    let to_peer: Vec<_> = frames
        .iter()
        .filter(|(_, f)| f[30..34] == peer.octets())
        .collect();
    assert!(!to_peer.is_empty(), "no advert to the peer captured");
    for (_, f) in to_peer {
        assert_eq!(f[22], 7, "IP TTL of {f:02x?}");
    }
}

fn promote_secondaries(ns: &Netns) -> String {
    ns.exec_ok(&["cat", "/proc/sys/net/ipv4/conf/eth0/promote_secondaries"])
        .unwrap()
        .trim()
        .to_string()
}

/// `promote_secondaries`: set on the instance's interface while vigild runs, turned
/// off again at exit when vigild turned it on, left on when it was on before.
#[test]
fn promote_secondaries_is_set_while_running_and_restored() {
    if !privileged_or_skip("promote_secondaries_is_set_while_running_and_restored") {
        return;
    }
    let lan = lan("vps", 1);
    let dir = workdir("promote-secondaries");
    let ns = &lan.host(0).ns;
    let inst = Inst::v3("VI_1", 51, "BACKUP", 100, "1").with_extra("    promote_secondaries");
    let conf = global_defs("lb1", "") + &inst.render();
    for before in ["0", "1"] {
        ns.sysctl("net.ipv4.conf.eth0.promote_secondaries", before)
            .unwrap();
        let mut v = Vigild::start(ns, dir.path(), "lb1", &conf);
        v.expect_state("VI_1", "BACKUP", Duration::from_secs(3));
        assert_eq!(
            promote_secondaries(ns),
            "1",
            "while running:\n{}",
            v.log_text()
        );
        v.signal(nix::sys::signal::Signal::SIGTERM);
        assert!(
            v.terminate(Duration::from_secs(5))
                .is_some_and(|s| s.success())
        );
        assert_eq!(promote_secondaries(ns), before, "after exit (was {before})");
    }
}

/// keepalived's `unicast_peer { ADDR min_ttl N max_ttl N }` with `check_unicast_src`:
/// that peer's adverts must arrive with a TTL in the range.
#[test]
fn unicast_peer_ttl_range_is_checked_with_check_unicast_src() {
    if !privileged_or_skip("unicast_peer_ttl_range_is_checked_with_check_unicast_src") {
        return;
    }
    let lan = lan("vpr", 2);
    let dir = workdir("peer-ttl");
    let (me, peer) = (host_ip(0), host_ip(1));
    let inst = Inst::v2_pass("VI_U", 51, "BACKUP", 100, "pw")
        .unicast(me, &[peer])
        .with_extra("    check_unicast_src");
    let conf = (global_defs("lb1", "") + &inst.render()).replace(
        &format!("        {peer}\n"),
        &format!("        {peer} min_ttl 60 max_ttl 70\n"),
    );
    let v = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_U", "BACKUP", Duration::from_secs(3));
    let advert = advert_v4(Version::V2, 51, 150, "pw", VIP, (peer, me), 100);
    for ttl in [64, 255, 64, 59] {
        send_vrrp(&lan.host(1).ns, peer, me, ttl, &advert);
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        let u = v.instance("VI_U")?;
        (counter(&u, "adverts_rx") + drops(&u, "ttl") >= 4).then_some(u)
    });
    let u = got.unwrap_or_else(|| panic!("adverts not all seen:\n{}", v.status_cli()));
    assert_eq!(counter(&u, "adverts_rx"), 2, "{u}");
    assert_eq!(drops(&u, "ttl"), 2, "{u}");
    assert!(
        v.log_text()
            .contains("(VI_U) TTL/HL 255 not in range 60 - 70"),
        "{}",
        v.log_text()
    );
}

/// keepalived sends IPv6 unicast adverts with the kernel's default hop limit (64): a
/// vigild backup follows such a keepalived master (it used to drop every advert as a
/// TTL error and take over).
#[test]
fn vigild_backup_follows_a_keepalived_ipv6_unicast_master() {
    if !privileged_or_skip("vigild_backup_follows_a_keepalived_ipv6_unicast_master") {
        return;
    }
    use vigil_tests::netns::{HostSpec, Lan};
    let v6 = |i: u8| -> std::net::Ipv6Addr { format!("fd77::{}", 11 + i).parse().unwrap() };
    let specs: Vec<HostSpec> = (0..2u8)
        .map(|i| {
            HostSpec::v4([0x02, 0x77, 0, 0, 0, 0x11 + i], host_ip(i.into()), 24).with_v6(v6(i), 64)
        })
        .collect();
    let lan = Lan::new("vu6", &specs).expect("building the LAN");
    let dir = workdir("unicast-v6");
    let conf = |state: &str, prio: u8, me: u8, peer: u8| {
        global_defs(&format!("lb{me}"), "")
            + &format!(
                "vrrp_instance VI_1 {{\n    state {state}\n    interface eth0\n    \
                 virtual_router_id 51\n    priority {prio}\n    advert_int 0.5\n    \
                 unicast_src_ip {}\n    unicast_peer {{\n        {}\n    }}\n    \
                 virtual_ipaddress {{\n        fd77::50/64\n    }}\n}}\n",
                v6(me),
                v6(peer)
            )
    };
    let k = Keepalived::start(
        &lan.host(0).ns,
        dir.path(),
        "ka",
        &conf("MASTER", 150, 0, 1),
    );
    assert!(
        k.wait_state("VI_1", "MASTER", Duration::from_secs(8))
            .is_some(),
        "{}",
        k.log_text()
    );
    let v = Vigild::start(
        &lan.host(1).ns,
        dir.path(),
        "vg",
        &conf("BACKUP", 100, 1, 0),
    );
    v.expect_state("VI_1", "BACKUP", Duration::from_secs(3));
    // Longer than vigild's master-down interval (3 × 0.5 s + skew).
    std::thread::sleep(Duration::from_millis(2500));
    let i = v.instance("VI_1").unwrap();
    assert_eq!(
        v.state("VI_1").as_deref(),
        Some("BACKUP"),
        "{i}\n{}",
        v.log_text()
    );
    assert!(counter(&i, "adverts_rx") >= 3, "{i}");
    assert_eq!(drops(&i, "ttl"), 0, "{i}");
}

/// A VRRPv3 unicast instance of lb`me` (host `me`, peer host `peer`), with `extra`.
fn unicast_v3(me: usize, peer: usize, state: &'static str, prio: u8, extra: &str) -> String {
    let inst = Inst::v3("VI_1", 51, state, prio, "0.5")
        .unicast(host_ip(me), &[host_ip(peer)])
        .with_extra(extra);
    global_defs(&format!("lb{me}"), "") + &inst.render()
}

/// `old_unicast_checksum`: keepalived ≤ 1.3.6's VRRPv3 unicast checksum (the
/// pseudo-header names 224.0.0.18, not the peer). Against keepalived 2.2.7 (Debian's
/// build, with its automatic compatibility): a keepalived master sending the old
/// checksum keeps a default vigild backup (which switches, logging keepalived's line);
/// a vigild master sending it keeps a default keepalived backup (which switches); with
/// `old_unicast_checksum never` vigild drops the old checksum and takes over.
#[test]
fn old_unicast_checksum_interoperates_with_keepalived() {
    if !privileged_or_skip("old_unicast_checksum_interoperates_with_keepalived") {
        return;
    }
    const SWITCHED: &str = "(VI_1) Setting unicast VRRPv3 checksum to old version";
    // Longer than a master-down interval (3 × 0.5 s + skew).
    let settle = Duration::from_millis(2500);
    let lan = lan("voc", 2);
    let (ns0, ns1) = (&lan.host(0).ns, &lan.host(1).ns);
    let dir = workdir("old-checksum");

    // keepalived sends the old checksum; vigild follows it.
    let old = "    old_unicast_checksum";
    let mut k = Keepalived::start(ns0, dir.path(), "ka", &unicast_v3(0, 1, "MASTER", 150, old));
    k.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    let mut v = Vigild::start(ns1, dir.path(), "vg", &unicast_v3(1, 0, "BACKUP", 100, ""));
    v.expect_state("VI_1", "BACKUP", Duration::from_secs(3));
    std::thread::sleep(settle);
    assert_eq!(
        v.state("VI_1").as_deref(),
        Some("BACKUP"),
        "{}",
        v.log_text()
    );
    assert_eq!(
        v.log_text().matches(SWITCHED).count(),
        1,
        "{}",
        v.log_text()
    );
    assert_eq!(
        k.state("VI_1").as_deref(),
        Some("MASTER"),
        "{}",
        k.log_text()
    );
    v.terminate(Duration::from_secs(5));

    // With `never`, vigild drops them and takes over, as keepalived would.
    let never = "    old_unicast_checksum never";
    let mut v = Vigild::start(
        ns1,
        dir.path(),
        "vgn",
        &unicast_v3(1, 0, "BACKUP", 100, never),
    );
    v.expect_state("VI_1", "MASTER", Duration::from_secs(4));
    // Dropped as `checksum` errors, by the socket filter or by the daemon.
    let st = v.status().unwrap();
    let i = v.instance("VI_1").unwrap();
    let filtered = st["filtered"]["checksum"].as_u64().unwrap_or(0);
    assert!(filtered + drops(&i, "checksum") > 0, "{st}");
    assert!(!v.log_text().contains(SWITCHED));
    v.terminate(Duration::from_secs(5));
    assert!(k.terminate(Duration::from_secs(5)));

    // vigild sends the old checksum; a default keepalived follows it.
    let mut v = Vigild::start(
        ns0,
        dir.path(),
        "vg0",
        &unicast_v3(0, 1, "MASTER", 150, old),
    );
    v.expect_state("VI_1", "MASTER", Duration::from_secs(4));
    let mut k = Keepalived::start(ns1, dir.path(), "ka1", &unicast_v3(1, 0, "BACKUP", 100, ""));
    k.expect_state("VI_1", "BACKUP", Duration::from_secs(8));
    std::thread::sleep(settle);
    assert_eq!(
        k.state("VI_1").as_deref(),
        Some("BACKUP"),
        "{}",
        k.log_text()
    );
    assert_eq!(k.count(SWITCHED), 1, "{}", k.log_text());
    assert_eq!(v.state("VI_1").as_deref(), Some("MASTER"));
    assert!(k.terminate(Duration::from_secs(5)));
    v.terminate(Duration::from_secs(5));
}

/// A configured `unicast_src_ip` that is not an address of the host: keepalived 2.2.7
/// cannot bind to it and holds the instance in FAULT ("(VI_1): entering FAULT state
/// (src address not configured)"), `track_src_ip` or not; vigild too. Once the address
/// is added, vigild runs the instance (within its 1 s look); keepalived stays in FAULT
/// until restarted (docs/ignored-options.md).
#[test]
fn a_missing_unicast_src_ip_holds_the_instance_in_fault_as_keepalived() {
    if !privileged_or_skip("a_missing_unicast_src_ip_holds_the_instance_in_fault_as_keepalived") {
        return;
    }
    let lan = lan("vsr", 2);
    let ns = &lan.host(0).ns;
    let dir = workdir("missing-src");
    let src: Ipv4Addr = "10.77.0.99".parse().unwrap();
    let inst = Inst::v3("VI_1", 51, "BACKUP", 100, "0.5")
        .unicast(src, &[host_ip(1)])
        .with_extra("    track_src_ip");
    let conf = global_defs("lb1", "") + &inst.render();

    let k = Keepalived::start(ns, dir.path(), "ka", &conf);
    k.expect_state("VI_1", "FAULT", Duration::from_secs(8));
    assert!(
        k.log_text()
            .contains("(VI_1): entering FAULT state (src address not configured)"),
        "{}",
        k.log_text()
    );
    drop(k);

    let v = Vigild::start(ns, dir.path(), "vg", &conf);
    v.expect_state("VI_1", "FAULT", Duration::from_secs(3));
    assert!(
        v.log_text()
            .contains("(VI_1): entering FAULT state (src address not configured)"),
        "{}",
        v.log_text()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(v.state("VI_1").as_deref(), Some("FAULT"));
    ns.exec_ok(&["ip", "addr", "add", "10.77.0.99/24", "dev", "eth0"])
        .expect("adding the source");
    v.expect_state("VI_1", "MASTER", Duration::from_secs(5));
}

/// `garp_extra_if all SECS`: a master sends one gratuitous ARP every SECS on each
/// interface of its VIPs other than its own (keepalived's `vrrp_send_vmac_update`),
/// between its usual bursts. Counted on that interface from 1.2 s to 4.5 s after the
/// master took over (before the second burst at 5 s), for keepalived and for vigild.
#[test]
fn garp_extra_if_announces_on_the_other_interfaces_as_keepalived() {
    if !privileged_or_skip("garp_extra_if_announces_on_the_other_interfaces_as_keepalived") {
        return;
    }
    let lan = lan("vgx", 1);
    let ns = &lan.host(0).ns;
    ns.exec_ok(&[
        "ip", "link", "add", "nad0", "type", "veth", "peer", "name", "nad0p",
    ])
    .expect("a veth pair");
    for l in ["nad0", "nad0p"] {
        ns.exec_ok(&["ip", "link", "set", l, "up"]).unwrap();
    }
    let dir = workdir("garp-extra-if");
    let other: Ipv4Addr = "10.77.9.1".parse().unwrap();
    let mut inst =
        Inst::v2_pass("VI_1", 51, "MASTER", 150, "pw").with_extra("    garp_extra_if all 1");
    inst.vips.push(format!("{other}/24 dev nad0"));
    let conf = global_defs("lb1", "") + &inst.render();
    let count = |started: std::time::Instant| {
        let cap = vigil_tests::netns::run_in(ns, || {
            vigil_tests::netns::Capture::open("nad0").expect("capture")
        });
        std::thread::sleep(Duration::from_millis(1200).saturating_sub(started.elapsed()));
        garps_seen(&cap, other, Duration::from_millis(3300))
    };

    let k = Keepalived::start(ns, dir.path(), "ka", &conf);
    k.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    let theirs = count(std::time::Instant::now());
    drop(k);
    let v = Vigild::start(ns, dir.path(), "vg", &conf);
    v.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    let ours = count(std::time::Instant::now());
    // One a second: 3 (or 4, by where the window falls) in 3.3 s.
    assert!((3..=4).contains(&theirs), "keepalived sent {theirs}");
    assert!(
        (3..=4).contains(&ours),
        "vigild sent {ours} (keepalived {theirs})"
    );
}

/// With `use_vmac` and `vmac_xmit_base`: the master's adverts leave from the base
/// interface (its own MAC as source), its VIP is on the macvlan. What a second host
/// sees and where the VIP is, for keepalived and for vigild.
fn xmit_base_run(which: &str) -> (Vec<[u8; 6]>, bool) {
    let lan = lan(&format!("vxb{which}"), 2);
    let ns = &lan.host(0).ns;
    let dir = workdir("vmac-xmit-base");
    let inst = Inst::v2_pass("VI_1", 51, "MASTER", 150, "pw")
        .with_extra("    use_vmac\n    vmac_xmit_base");
    let conf = global_defs("lb1", "") + &inst.render();
    let on_vmac = || {
        ns.exec_ok(&["ip", "-4", "addr", "show", "dev", "vrrp.51"])
            .unwrap_or_default()
            .contains(&format!(" {VIP}/24 "))
    };
    let seen = |frames: Vec<(std::time::Instant, Vec<u8>)>| {
        let mut macs: Vec<[u8; 6]> = frames
            .iter()
            .map(|(_, f)| f[6..12].try_into().unwrap())
            .collect();
        macs.sort();
        macs.dedup();
        macs
    };
    if which == "k" {
        let k = Keepalived::start(ns, dir.path(), "ka", &conf);
        k.expect_state("VI_1", "MASTER", Duration::from_secs(8));
        let macs = seen(capture_vrrp(&lan.host(1).ns, Duration::from_millis(2500)));
        (macs, on_vmac())
    } else {
        let v = Vigild::start(ns, dir.path(), "vg", &conf);
        v.expect_state("VI_1", "MASTER", Duration::from_secs(8));
        let macs = seen(capture_vrrp(&lan.host(1).ns, Duration::from_millis(2500)));
        (macs, on_vmac())
    }
}

/// `vmac_xmit_base` as keepalived: adverts from the base interface's MAC, VIPs on the
/// macvlan (`use_vmac`).
#[test]
fn vmac_xmit_base_sends_from_the_base_interface_as_keepalived() {
    if !privileged_or_skip("vmac_xmit_base_sends_from_the_base_interface_as_keepalived") {
        return;
    }
    let theirs = xmit_base_run("k");
    let ours = xmit_base_run("v");
    assert_eq!(
        theirs,
        (vec![[0x02, 0x77, 0, 0, 0, 0x11]], true),
        "keepalived"
    );
    assert_eq!(ours, theirs, "left vigild, right keepalived");
}
