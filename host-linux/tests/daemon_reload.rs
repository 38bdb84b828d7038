//! SIGHUP reloads of vigild while a client requests the VIP every 10 ms: an unchanged
//! configuration and one where only an unrelated instance changed cause no failed
//! request and no state change; a broken configuration is rejected and the running one
//! stays. Reloads as keepalived 2.2.7 does them (`docs/reload.md`): an added VIP is
//! installed and announced without a transition or notify, a changed priority is
//! advertised without one, a changed VRID restarts the instance; and two keepalived
//! doing the same.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use nix::sys::signal::Signal;
use std::time::Duration;
use vigil_tests::netns::privileged_or_skip;

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);
/// 300 requests, one every 10 ms: the client runs about 3 s.
const REQUESTS: usize = 300;

/// VI_1 (the VIP the client uses) tracks nginx; VI_2 is the unrelated instance.
fn conf(router: &str, prio1: u8, prio2: u8) -> String {
    let chk = "vrrp_script chk_nginx {\n    script \"/usr/bin/curl -sf -o /dev/null -m 1 \
               http://127.0.0.1/\"\n    interval 1\n    weight -20\n}\n";
    let vi1 = Inst::v3("VI_1", 51, "BACKUP", prio1, ADVERT)
        .with_extra("    track_script {\n        chk_nginx\n    }");
    let mut vi2 = Inst::v3("VI_2", 52, "BACKUP", prio2, ADVERT);
    vi2.vips = vec![format!("{VIP2}/24")];
    global_defs(router, "") + chk + &vi1.render() + &vi2.render()
}

/// Sends SIGHUP and waits until the daemon has logged its `n`th reload and answers its
/// control socket again (the reload is done when the loop serves the socket).
fn reload(v: &Vigild, n: usize) {
    v.signal(Signal::SIGHUP);
    let done = wait_for(Duration::from_secs(3), Duration::from_millis(5), || {
        (v.log_text().matches("Reloading configuration file").count() >= n).then_some(())
    });
    assert!(
        done.is_some(),
        "{} did not reload:\n{}",
        v.name,
        v.log_text()
    );
    assert!(
        v.status().is_some(),
        "{} does not answer after reload",
        v.name
    );
}

#[test]
fn sighup_reloads_without_a_failed_request() {
    if !privileged_or_skip("sighup_reloads_without_a_failed_request") {
        return;
    }
    let p = Pair::start_conf(
        "reload",
        "vrl",
        "VI_1",
        &conf("lb1", 150, 150),
        &conf("lb2", 100, 100),
        SETTLE,
    );
    p.lb1.expect_state("VI_2", "MASTER", SETTLE);
    p.lb2.expect_state("VI_2", "BACKUP", SETTLE);
    for v in [&p.lb1, &p.lb2] {
        assert!(
            v.wait_log("VRRP_Script(chk_nginx) succeeded", 1, SETTLE),
            "{}",
            v.log_text()
        );
    }
    let before1 = p.lb1.instance("VI_1").unwrap();
    let before2 = p.lb2.instance("VI_1").unwrap();

    let client = Client::start(
        p.ns(2),
        VIP,
        REQUESTS,
        Duration::from_millis(10),
        Duration::from_millis(500),
    );
    std::thread::sleep(Duration::from_millis(200));

    // 1. Unchanged configuration, on both, twice.
    for n in 1..=2 {
        reload(&p.lb1, n);
        reload(&p.lb2, n);
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(!p.lb1.log_text().contains("configuration changed"));

    // 2. Only VI_2 changes (its priority): updated in place as keepalived does, no
    // transition; VI_1 does not notice.
    let vi2_before = p.lb1.instance("VI_2").unwrap();
    std::fs::write(&p.lb1.conf, conf("lb1", 150, 140)).unwrap();
    reload(&p.lb1, 3);
    p.lb1
        .wait_log("(VI_2) configuration changed", 1, Duration::from_secs(2));
    let log = p.lb1.log_text();
    assert!(
        log.contains("(VI_2) configuration changed, updated in place"),
        "{log}"
    );
    assert!(!log.contains("restarting the instance"), "{log}");
    assert!(!log.contains("(VI_1) configuration changed"), "{log}");
    let vi2 = wait_for(SETTLE, Duration::from_millis(10), || {
        p.lb1
            .instance("VI_2")
            .filter(|i| i["base_priority"] == 140 && i["state"] == "MASTER")
    });
    let vi2 = vi2.unwrap_or_else(|| panic!("VI_2 not master at 140:\n{log}"));
    for c in ["became_master", "left_master"] {
        assert_eq!(counter(&vi2_before, c), counter(&vi2, c), "{c}: {vi2}");
    }

    // 3. A broken configuration: rejected, the running one stays.
    std::fs::write(
        &p.lb1.conf,
        "vrrp_instance VI_1 {\n    state MASTER\n    interface eth0\n    \
         virtual_router_id 300\n    priority 150\n",
    )
    .unwrap();
    reload(&p.lb1, 4);
    p.lb1
        .wait_log("configuration rejected", 1, Duration::from_secs(2));
    let log = p.lb1.log_text();
    assert!(
        log.contains("new configuration rejected, keeping the running one"),
        "{log}"
    );
    let st = p.lb1.status_cli();
    assert_eq!(st["instances"].as_array().map(Vec::len), Some(2), "{st}");
    assert_eq!(instance_of(&st, "VI_1").unwrap()["state"], "MASTER");
    assert_eq!(instance_of(&st, "VI_2").unwrap()["base_priority"], 140);

    let samples = client.join();
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.result.as_deref() != Ok("lb1"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed or went elsewhere: {failed:?}\n{}",
        failed.len(),
        samples.len(),
        p.logs()
    );
    assert_eq!(samples.len(), REQUESTS);

    // No state change of VI_1 on either node.
    let after1 = p.lb1.instance("VI_1").unwrap();
    let after2 = p.lb2.instance("VI_1").unwrap();
    for (b, a) in [(&before1, &after1), (&before2, &after2)] {
        assert_eq!(b["state"], a["state"], "{a}");
        for c in ["became_master", "left_master"] {
            assert_eq!(counter(b, c), counter(a, c), "{c}: {b} -> {a}");
        }
        // The instance was kept, not restarted: its counters went on.
        assert!(counter(a, "adverts_rx") + counter(a, "adverts_tx") > 0);
    }
    assert!(counter(&after1, "adverts_tx") > counter(&before1, "adverts_tx") + 20);
    // The track script restarted with each reload without touching the priority.
    assert_eq!(after1["effective_priority"], 150, "{after1}");
    for v in [&p.lb1, &p.lb2] {
        let log = v.log_text();
        assert!(!log.contains("Changing effective priority"), "{log}");
        assert!(!log.contains("VRRP_Script(chk_nginx) failed"), "{log}");
    }
    assert_eq!(counter(&after1, "priority_zero_tx"), 0, "{after1}");
    assert!(has_addr(p.ns(0), "eth0", VIP));
    assert!(!has_addr(p.ns(1), "eth0", VIP));
    // VI_2's VIP is back on lb1 too.
    wait_addr(p.ns(0), "eth0", VIP2, true, Duration::from_secs(2)).expect("VIP2 on lb1");
}

// ----- reloads as keepalived does them, side by side with keepalived ---------------

/// A third VIP, added by a reload.
const VIP3: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 0, 52);

/// "(VI_1) Entering ..." lines so far: both daemons log every transition so.
fn transitions(d: &Daemon) -> usize {
    d.log()
        .lines()
        .filter(|l| l.contains("(VI_1) Entering "))
        .count()
}

fn expect_logged(d: &Daemon, state: &str, timeout: Duration) {
    assert!(
        d.wait_logged_state("VI_1", state, timeout),
        "(VI_1) not {state}:\n{}",
        d.log()
    );
}

fn notify_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The priority in lb1's adverts (VRID `vrid`) seen within `window`.
fn advertised_priorities(ns: &vigil_tests::netns::Netns, vrid: u8, window: Duration) -> Vec<u8> {
    capture_vrrp(ns, window)
        .iter()
        .filter(|(_, f)| f[26..30] == host_ip(0).octets() && f[35] == vrid)
        .map(|(_, f)| f[36])
        .collect()
}

/// What one run of the scenario showed, compared between the two daemons.
#[derive(Debug, PartialEq, Eq)]
struct Timeline {
    /// Step 1, a reload adding VIP3 on both: transitions on lb1 and lb2, VIP3 on lb1
    /// and on lb2, GARPs for it seen, notify calls.
    add_vip: (usize, usize, bool, bool, bool, usize),
    /// Step 2, lb1's priority 150 -> 120 and VIP3 removed on both: transitions on both, the
    /// priority lb1 advertises afterwards, notify calls, VIP3 still on lb1, VIP on lb1.
    priority: (usize, usize, Option<u8>, usize, bool, bool),
    /// Step 3, the VRID 51 -> 61 on both: lb1 restarted (new transitions), its state
    /// at the end, lb2's, VIP on lb1.
    vrid: (bool, Option<String>, Option<String>, bool),
    /// Step 4, lb2's priority 100 -> 200, above lb1's: lb2 stays BACKUP through the
    /// reload, discards lb1's lower-priority adverts and takes over when its
    /// master-down timer runs out. lb1's and lb2's states, VIP on lb1 and on lb2.
    raise: (Option<String>, Option<String>, bool, bool),
}

fn scenario(which: Impl) -> Timeline {
    let prefix = match which {
        Impl::Vigil => "vrv",
        Impl::Keepalived => "vrk",
    };
    let lan = lan(prefix, 3);
    let dir = workdir(&format!("reload-{prefix}"));
    let notify = dir.path().join("notify.log");
    let script = dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", notify.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = |router: &str, vrid: u8, prio: u8, vips: &[std::net::Ipv4Addr]| {
        let mut i = Inst::v3("VI_1", vrid, "BACKUP", prio, "0.2")
            .with_extra(&format!("    notify {}", script.display()));
        i.vips = vips.iter().map(|v| format!("{v}/24")).collect();
        global_defs(router, "") + &i.render()
    };
    let lb1 = Daemon::start(
        which,
        &lan.host(0).ns,
        dir.path(),
        "lb1",
        &conf("lb1", 51, 150, &[VIP]),
    );
    expect_logged(&lb1, "MASTER", SETTLE);
    let lb2 = Daemon::start(
        which,
        &lan.host(1).ns,
        dir.path(),
        "lb2",
        &conf("lb2", 51, 100, &[VIP]),
    );
    expect_logged(&lb2, "BACKUP", SETTLE);
    std::thread::sleep(Duration::from_millis(500));
    let client = &lan.host(2).ns;

    // 1. Add VIP3 on both.
    let (t1, t2, n0) = (
        transitions(&lb1),
        transitions(&lb2),
        notify_lines(&notify).len(),
    );
    let cap = vigil_tests::netns::run_in(client, || {
        vigil_tests::netns::Capture::open("eth0").expect("capture")
    });
    lb1.reload(&conf("lb1", 51, 150, &[VIP, VIP3]));
    lb2.reload(&conf("lb2", 51, 100, &[VIP, VIP3]));
    let seen = garps_seen(&cap, VIP3, Duration::from_secs(2));
    drop(cap);
    let add_vip = (
        transitions(&lb1) - t1,
        transitions(&lb2) - t2,
        has_addr(&lan.host(0).ns, "eth0", VIP3),
        has_addr(&lan.host(1).ns, "eth0", VIP3),
        seen > 0,
        notify_lines(&notify).len() - n0,
    );

    // 2. lb1's priority down to 120, still above lb2's.
    let (t1, t2, n0) = (
        transitions(&lb1),
        transitions(&lb2),
        notify_lines(&notify).len(),
    );
    lb1.reload(&conf("lb1", 51, 120, &[VIP]));
    // lb2 too: adverts whose VIPs differ from its own are dropped by both daemons.
    lb2.reload(&conf("lb2", 51, 100, &[VIP]));
    std::thread::sleep(Duration::from_secs(1));
    let prios = advertised_priorities(client, 51, Duration::from_secs(1));
    let priority = (
        transitions(&lb1) - t1,
        transitions(&lb2) - t2,
        prios.last().copied(),
        notify_lines(&notify).len() - n0,
        has_addr(&lan.host(0).ns, "eth0", VIP3),
        has_addr(&lan.host(0).ns, "eth0", VIP),
    );

    // 3. The VRID changes on both: a new instance.
    let t1 = transitions(&lb1);
    lb1.reload(&conf("lb1", 61, 120, &[VIP]));
    lb2.reload(&conf("lb2", 61, 100, &[VIP]));
    let restarted = wait_for(SETTLE, Duration::from_millis(10), || {
        (transitions(&lb1) > t1 && lb1.logged_state("VI_1").as_deref() == Some("MASTER"))
            .then_some(())
    })
    .is_some();
    std::thread::sleep(Duration::from_secs(1));
    let vrid = (
        restarted,
        lb1.logged_state("VI_1"),
        lb2.logged_state("VI_1"),
        has_addr(&lan.host(0).ns, "eth0", VIP),
    );

    // 4. lb2's priority above lb1's.
    lb2.reload(&conf("lb2", 61, 200, &[VIP]));
    let _ = wait_for(SETTLE, Duration::from_millis(10), || {
        (lb2.logged_state("VI_1").as_deref() == Some("MASTER")).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let raise = (
        lb1.logged_state("VI_1"),
        lb2.logged_state("VI_1"),
        has_addr(&lan.host(0).ns, "eth0", VIP),
        has_addr(&lan.host(1).ns, "eth0", VIP),
    );
    let t = Timeline {
        add_vip,
        priority,
        vrid,
        raise,
    };
    eprintln!(
        "{which:?}: {t:?}\n--- lb1 ---\n{}\n--- lb2 ---\n{}\n--- notify ---\n{}",
        lb1.log(),
        lb2.log(),
        notify_lines(&notify).join("\n")
    );
    t
}

/// The scenario of issue 13 with vigild: a reload adding a VIP causes no transition on
/// either node and no notify call, the VIP appears on the master and is announced; a
/// lower priority is advertised without a transition; a changed VRID restarts; a
/// backup raised above the master takes over (keepalived's preemption, not at once).
#[test]
fn reload_updates_instances_in_place_as_keepalived_does() {
    if !privileged_or_skip("reload_updates_instances_in_place_as_keepalived_does") {
        return;
    }
    let t = scenario(Impl::Vigil);
    assert_eq!(t.add_vip, (0, 0, true, false, true, 0));
    assert_eq!(t.priority, (0, 0, Some(120), 0, false, true));
    assert_eq!(
        t.vrid,
        (true, Some("MASTER".into()), Some("BACKUP".into()), true)
    );
    assert_eq!(
        t.raise,
        (Some("BACKUP".into()), Some("MASTER".into()), false, true)
    );
}

/// The same scenario with two keepalived 2.2.7 gives the same timeline.
#[test]
fn keepalived_reloads_the_same_way() {
    if !privileged_or_skip("keepalived_reloads_the_same_way") {
        return;
    }
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("keepalived is not installed (scripts/setup installs it)");
    }
    let k = scenario(Impl::Keepalived);
    assert_eq!(k.add_vip, (0, 0, true, false, true, 0));
    assert_eq!(k.priority, (0, 0, Some(120), 0, false, true));
    assert_eq!(
        k.vrid,
        (true, Some("MASTER".into()), Some("BACKUP".into()), true)
    );
    assert_eq!(
        k.raise,
        (Some("BACKUP".into()), Some("MASTER".into()), false, true)
    );
}

/// Addresses the core's VIP list does not show change in place too: a VIP whose prefix
/// changed is replaced, an added `virtual_ipaddress_excluded` entry is installed, both
/// without a transition.
#[test]
fn reload_replaces_a_changed_prefix_and_adds_excluded_addresses() {
    if !privileged_or_skip("reload_replaces_a_changed_prefix_and_adds_excluded_addresses") {
        return;
    }
    let lan = lan("vrx", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("reload-prefix");
    let vi1 = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);
    let v = Vigild::start(
        ns,
        dir.path(),
        "lb1",
        &(global_defs("lb1", "") + &vi1.render()),
    );
    v.expect_state("VI_1", "MASTER", SETTLE);
    let before = v.instance("VI_1").unwrap();
    assert!(addrs(ns, "eth0").contains(&format!(" {VIP}/24 ")));

    let mut changed = vi1.with_extra(&format!(
        "    virtual_ipaddress_excluded {{\n        {VIP3}/24\n    }}"
    ));
    changed.vips = vec![format!("{VIP}/32")];
    std::fs::write(&v.conf, global_defs("lb1", "") + &changed.render()).unwrap();
    reload(&v, 1);
    wait_addr(ns, "eth0", VIP3, true, Duration::from_secs(2)).expect("excluded address");
    let a = addrs(ns, "eth0");
    assert!(a.contains(&format!(" {VIP}/32 ")), "{a}");
    assert!(!a.contains(&format!(" {VIP}/24 ")), "{a}");
    let after = v.instance("VI_1").unwrap();
    assert_eq!(after["state"], "MASTER");
    for c in ["became_master", "left_master"] {
        assert_eq!(counter(&before, c), counter(&after, c), "{c}: {after}");
    }
    assert!(
        v.log_text()
            .contains("(VI_1) configuration changed, updated in place"),
        "{}",
        v.log_text()
    );
}
