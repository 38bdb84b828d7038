//! `dynamic_interfaces` (keepalived's behaviour): an instance whose interface does not
//! exist starts in FAULT (shown by `vigild status`), is installed and runs when the
//! interface appears (and has an address), and goes back to FAULT when it is removed;
//! its sync group's other member with it (a group with a member in FAULT is in FAULT).
//! One namespace of veth pairs; the instance's adverts go nowhere (it becomes MASTER
//! alone).
//!
//! Skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::net::Ipv4Addr;
use std::time::Duration;
use vigil_tests::netns::{Netns, privileged_or_skip};

const WAITING_VIP: Ipv4Addr = Ipv4Addr::new(10, 78, 8, 100);

const CONF: &str = "global_defs {
    router_id dyn
    dynamic_interfaces
    vrrp_version 3
}
vrrp_instance VI_LATE {
    state BACKUP
    interface eth8
    virtual_router_id 58
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.78.8.100/24
    }
}
vrrp_instance VI_PEER {
    state BACKUP
    interface eth0
    virtual_router_id 59
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.78.0.101/24
    }
}
vrrp_sync_group G {
    group {
        VI_LATE
        VI_PEER
    }
}
vrrp_instance VI_HERE {
    state BACKUP
    interface eth0
    virtual_router_id 50
    priority 100
    advert_int 0.1
    virtual_ipaddress {
        10.78.0.100/24
    }
}
";

fn veth(ns: &Netns, name: &str, peer: &str, addr: Option<&str>) {
    ns.exec_ok(&[
        "ip", "link", "add", name, "type", "veth", "peer", "name", peer,
    ])
    .expect("veth");
    if let Some(a) = addr {
        ns.exec_ok(&["ip", "addr", "add", a, "dev", name])
            .expect("address");
    }
    ns.exec_ok(&["ip", "link", "set", peer, "up"])
        .expect("peer up");
    ns.exec_ok(&["ip", "link", "set", name, "up"])
        .expect("link up");
}

#[test]
fn an_instance_waits_in_fault_for_its_interface_and_runs_when_it_appears() {
    if !privileged_or_skip("an_instance_waits_in_fault_for_its_interface_and_runs_when_it_appears")
    {
        return;
    }
    let ns = Netns::new("vdyn").expect("namespace");
    veth(&ns, "eth0", "p0", Some("10.78.0.1/24"));
    let dir = workdir("dynamic");

    // keepalived -t and vigild -t accept it alike.
    let conf_path = dir.path().join("check.conf");
    std::fs::write(&conf_path, CONF).unwrap();
    let t = ns
        .command(VIGILD)
        .arg("-t")
        .arg("-f")
        .arg(&conf_path)
        .output()
        .expect("vigild -t");
    assert_eq!(t.status.code(), Some(0), "{t:?}");

    let v = Vigild::start(&ns, dir.path(), "lb", CONF);
    v.expect_state("VI_LATE", "FAULT", Duration::from_secs(2));
    v.expect_state("VI_HERE", "MASTER", Duration::from_secs(3));
    assert_eq!(v.state("VI_PEER").as_deref(), Some("FAULT"));
    // The metrics list it too.
    let prom = ns
        .command(VIGILD)
        .args(["status", "--prometheus", "--control"])
        .arg(&v.sock)
        .output()
        .expect("vigild status --prometheus");
    let prom = String::from_utf8_lossy(&prom.stdout);
    assert!(prom.contains("VI_LATE"), "{prom}");
    assert_eq!(v.instance("VI_LATE").unwrap()["interface"], "eth8");

    // The link comes first, its address a moment later (no link event for that).
    veth(&ns, "eth8", "p8", None);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        v.state("VI_LATE").as_deref(),
        Some("FAULT"),
        "{}",
        v.log_text()
    );
    ns.exec_ok(&["ip", "addr", "add", "10.78.8.1/24", "dev", "eth8"])
        .unwrap();
    v.expect_state("VI_LATE", "MASTER", Duration::from_secs(4));
    v.expect_state("VI_PEER", "MASTER", Duration::from_secs(1));
    wait_addr(&ns, "eth8", WAITING_VIP, true, Duration::from_secs(1)).expect("VIP on eth8");

    // Removed: FAULT again; the other instance runs on.
    ns.exec_ok(&["ip", "link", "del", "eth8"]).unwrap();
    v.expect_state("VI_LATE", "FAULT", Duration::from_secs(2));
    v.expect_state("VI_PEER", "FAULT", Duration::from_secs(1));
    assert_eq!(v.state("VI_HERE").as_deref(), Some("MASTER"));

    // Back (a new link, a new index) with its address: installed again.
    veth(&ns, "eth8", "p8", Some("10.78.8.1/24"));
    v.expect_state("VI_LATE", "MASTER", Duration::from_secs(4));
    wait_addr(&ns, "eth8", WAITING_VIP, true, Duration::from_secs(1)).expect("VIP on eth8");
    let log = v.log_text();
    assert!(
        log.contains("(VI_LATE) interface eth8 does not exist"),
        "{log}"
    );
}
