//! Trackers moving the VIP between two vigild load balancers in network namespaces:
//! a `vrrp_script` that checks nginx with curl (weight -20, and weight 0 = FAULT), and
//! `track_interface` (link down: FAULT).
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::time::{Duration, Instant};
use vigil_tests::netns::privileged_or_skip;

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);

/// keepalived's way of checking nginx, as in the seed configurations.
fn chk_nginx(weight: i32) -> String {
    format!(
        "vrrp_script chk_nginx {{\n    script \"/usr/bin/curl -sf -o /dev/null -m 1 \
         http://127.0.0.1/\"\n    interval 1\n    fall 1\n    rise 1\n    weight {weight}\n}}\n"
    )
}

fn pair_with_script(test: &str, prefix: &str, weight: i32) -> Pair {
    let track = "    track_script {\n        chk_nginx\n    }";
    let a = Inst::v3("VI_1", 51, "BACKUP", 110, ADVERT).with_extra(track);
    let b = Inst::v3("VI_1", 51, "BACKUP", 100, ADVERT).with_extra(track);
    let conf1 = global_defs("lb1", "") + &chk_nginx(weight) + &a.render();
    let conf2 = global_defs("lb2", "") + &chk_nginx(weight) + &b.render();
    let p = Pair::start_conf(test, prefix, "VI_1", &conf1, &conf2, SETTLE);
    // Both scripts have run once (nginx answers on both): full priorities.
    for (v, prio) in [(&p.lb1, 110), (&p.lb2, 100)] {
        let ok = wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
            v.log_text()
                .contains("VRRP_Script(chk_nginx) succeeded")
                .then_some(())
        });
        assert!(ok.is_some(), "chk_nginx never succeeded:\n{}", v.log_text());
        let i = v.instance("VI_1").unwrap();
        assert_eq!(i["effective_priority"], prio, "{i}");
    }
    p
}

/// Waits for the VIP to answer from `who` (client's view), at most `timeout`.
fn client_sees(p: &Pair, who: &str, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    wait_for(timeout, Duration::from_millis(20), || {
        (in_netns(&p.ns(2).path(), || {
            http_get(VIP, Duration::from_millis(300))
        })
        .as_deref()
            == Ok(who))
        .then(|| start.elapsed())
    })
}

#[test]
fn track_script_weight_moves_the_vip_and_back() {
    if !privileged_or_skip("track_script_weight_moves_the_vip_and_back") {
        return;
    }
    let mut p = pair_with_script("trackw", "vtw", -20);
    assert_eq!(p.get_vip().as_deref(), Ok("lb1"));

    // nginx stops on the master: 110 - 20 = 90 < 100, lb2 preempts.
    let t = Instant::now();
    p.nginx1.stop();
    // Within one script interval (1 s; curl fails at once), then lb2's master-down
    // interval (361 ms), plus margin.
    let bound = Duration::from_millis(1000 + 361 + 500);
    p.lb2
        .wait_state("VI_1", "MASTER", Duration::from_secs(4))
        .unwrap_or_else(|| panic!("lb2 did not take over\n{}", p.logs()));
    let took = t.elapsed();
    eprintln!("track_script -20: VIP moved after {took:?} (bound {bound:?})");
    assert!(took <= bound, "{took:?}\n{}", p.logs());
    p.lb1.expect_state("VI_1", "BACKUP", Duration::from_secs(1));
    let i1 = p.lb1.instance("VI_1").unwrap();
    assert_eq!(i1["effective_priority"], 90, "{i1}");
    assert_eq!(i1["base_priority"], 110, "{i1}");
    let log = p.lb1.log_text();
    assert!(log.contains("VRRP_Script(chk_nginx) failed"), "{log}");
    assert!(
        log.contains("(VI_1) Changing effective priority from 110 to 90"),
        "{log}"
    );
    wait_addr(p.ns(1), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb2");
    wait_addr(p.ns(0), "eth0", VIP, false, Duration::from_secs(1)).expect("VIP off lb1");
    client_sees(&p, "lb2", Duration::from_secs(2)).expect("client reaches lb2");

    // nginx is back: 110 > 100, lb1 preempts again.
    let t = Instant::now();
    p.nginx1.start_again();
    p.lb1
        .wait_state("VI_1", "MASTER", Duration::from_secs(4))
        .unwrap_or_else(|| panic!("lb1 did not take back\n{}", p.logs()));
    let took = t.elapsed();
    eprintln!("track_script -20: VIP back after {took:?}");
    assert!(took <= bound, "{took:?}\n{}", p.logs());
    p.lb2.expect_state("VI_1", "BACKUP", Duration::from_secs(1));
    assert_eq!(p.lb1.instance("VI_1").unwrap()["effective_priority"], 110);
    wait_addr(p.ns(0), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    wait_addr(p.ns(1), "eth0", VIP, false, Duration::from_secs(1)).expect("VIP off lb2");
    client_sees(&p, "lb1", Duration::from_secs(2)).expect("client reaches lb1");
}

#[test]
fn track_script_weight_zero_faults_and_recovers() {
    if !privileged_or_skip("track_script_weight_zero_faults_and_recovers") {
        return;
    }
    let mut p = pair_with_script("track0", "vt0", 0);
    let t = Instant::now();
    p.nginx1.stop();
    p.lb1.expect_state("VI_1", "FAULT", Duration::from_secs(3));
    // FAULT resigns (priority 0): lb2 takes over after its skew time, not the
    // master-down interval.
    let t_fault = Instant::now();
    p.lb2
        .wait_state("VI_1", "MASTER", Duration::from_secs(2))
        .unwrap_or_else(|| panic!("lb2 did not take over\n{}", p.logs()));
    eprintln!(
        "track_script 0: FAULT after {:?}, lb2 MASTER {:?} later",
        t_fault - t,
        t_fault.elapsed()
    );
    assert!(
        t_fault.elapsed() <= Duration::from_millis(61 + 150),
        "{:?}",
        t_fault.elapsed()
    );
    wait_addr(p.ns(0), "eth0", VIP, false, Duration::from_secs(1)).expect("VIP off lb1");
    wait_addr(p.ns(1), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb2");
    client_sees(&p, "lb2", Duration::from_secs(2)).expect("client reaches lb2");

    p.nginx1.start_again();
    p.lb1
        .wait_state("VI_1", "MASTER", Duration::from_secs(4))
        .unwrap_or_else(|| panic!("lb1 did not recover\n{}", p.logs()));
    p.lb2.expect_state("VI_1", "BACKUP", Duration::from_secs(1));
    wait_addr(p.ns(0), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    client_sees(&p, "lb1", Duration::from_secs(2)).expect("client reaches lb1");
}

#[test]
fn track_interface_down_is_fault_and_the_vip_moves() {
    if !privileged_or_skip("track_interface_down_is_fault_and_the_vip_moves") {
        return;
    }
    let track = "    track_interface {\n        upl0\n    }";
    let a = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT).with_extra(track);
    let b = Inst::v3("VI_1", 51, "BACKUP", 100, ADVERT);
    let conf1 = global_defs("lb1", "") + &a.render();
    let conf2 = global_defs("lb2", "") + &b.render();
    // lb1's "uplink": a veth pair inside its namespace.
    let p = Pair::start_with("trackif", "vti", "VI_1", &conf1, &conf2, SETTLE, |lan| {
        let ns = &lan.host(0).ns;
        ns.exec_ok(&[
            "ip", "link", "add", "upl0", "type", "veth", "peer", "name", "upl1",
        ])
        .unwrap();
        ns.exec_ok(&["ip", "link", "set", "upl0", "up"]).unwrap();
        ns.exec_ok(&["ip", "link", "set", "upl1", "up"]).unwrap();
    });

    let t = Instant::now();
    p.ns(0)
        .exec_ok(&["ip", "link", "set", "upl0", "down"])
        .unwrap();
    p.lb1.expect_state("VI_1", "FAULT", Duration::from_secs(2));
    p.lb2
        .wait_state("VI_1", "MASTER", Duration::from_secs(2))
        .unwrap_or_else(|| panic!("lb2 did not take over\n{}", p.logs()));
    eprintln!("track_interface: VIP moved after {:?}", t.elapsed());
    assert!(
        t.elapsed() <= Duration::from_millis(61 + 200),
        "{:?}",
        t.elapsed()
    );
    assert!(p.lb1.log_text().contains("tracked interface upl0 is down"));
    wait_addr(p.ns(0), "eth0", VIP, false, Duration::from_secs(1)).expect("VIP off lb1");
    wait_addr(p.ns(1), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb2");
    client_sees(&p, "lb2", Duration::from_secs(2)).expect("client reaches lb2");

    p.ns(0)
        .exec_ok(&["ip", "link", "set", "upl0", "up"])
        .unwrap();
    p.lb1
        .wait_state("VI_1", "MASTER", Duration::from_secs(3))
        .unwrap_or_else(|| panic!("lb1 did not recover\n{}", p.logs()));
    p.lb2.expect_state("VI_1", "BACKUP", Duration::from_secs(1));
    wait_addr(p.ns(0), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    client_sees(&p, "lb1", Duration::from_secs(2)).expect("client reaches lb1");
}
