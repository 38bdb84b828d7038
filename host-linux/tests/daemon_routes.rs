//! Routes and rules (docs/config-routes.md): a master installs its `virtual_routes` and
//! `virtual_rules` after its VIPs, a failover moves them, SIGTERM removes them with the
//! statics, a SIGKILL leaves them and the next start removes them; and keepalived 2.2.7,
//! given the same configuration in the same namespace, installs the same routes and
//! rules (`ip -d route`, `ip rule`, normalised).
//!
//! Hosts on a LAN of their own (10.77.0.11, .12), VRRPv3 at 100 ms. Every test skips
//! (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::time::Duration;
use vigil_tests::netns::{Netns, privileged_or_skip};

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);

/// keepalived's route syntax, one of each kind of line (the VIP is 10.77.0.50).
const ROUTES: &str = "    virtual_routes {
        10.90.0.0/16 via 10.77.0.1 dev eth0
        10.91.0.0/24 dev eth0 scope link table 100 metric 5
        blackhole 10.92.0.0/16
        unreachable 10.93.0.0/16 table 101
        prohibit 10.98.0.0/16 table 101 metric 7
        throw 10.99.0.0/16 table 101
        10.94.0.0/16 src 10.77.0.50 dev eth0 protocol 99
        10.95.0.0/16 nexthop via 10.77.0.2 dev eth0 weight 2 nexthop via 10.77.0.3 dev eth0
        10.96.0.0/16 via 10.77.0.1 dev eth0 mtu lock 1400 advmss 1300 onlink
        default via 10.77.0.1 dev eth0 table 102
        10.81.0.0/16 via 10.77.0.1 dev eth0 table 1000 metric 300
        2001:db8:90::/48 dev eth0
        blackhole 2001:db8:91::/48 metric 100
    }
    virtual_rules {
        from 10.77.0.50 table 100 priority 100
        to 10.93.0.0/16 lookup 101 priority 101
        from all fwmark 0x10/0xff table 100 priority 102
        iif eth0 table 101 priority 103
        from 10.78.0.0/16 not table 102 priority 104
        from 10.80.0.0/16 blackhole priority 105
        to 10.81.0.0/16 table 1000 priority 106
        from 2001:db8:92::/48 table 100 priority 107
    }
";

const STATICS: &str = "static_ipaddress {
    10.79.0.1/24 dev eth0
}
static_routes {
    10.97.0.0/16 via 10.77.0.1 dev eth0
    2001:db8:97::/48 dev eth0
    10.82.0.0/16 via 10.77.0.1 dev eth0 table 1001 metric 9
}
static_rules {
    from 10.79.0.0/24 table 102 priority 200
}
";

fn conf(name: &str, state: &'static str, priority: u8) -> String {
    let inst = Inst::v3("VI_1", 51, state, priority, ADVERT).with_extra(ROUTES);
    global_defs(name, "") + STATICS + &inst.render()
}

fn wait_routes(ns: &Netns, want: impl Fn(&str) -> bool) -> Option<String> {
    wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        let now = routes_and_rules(ns);
        want(&now).then_some(now)
    })
}

/// Every virtual route and rule of [`ROUTES`] is in `text`.
fn has_virtual(text: &str) -> bool {
    [
        "10.90.0.0/16 via 10.77.0.1 dev eth0",
        "10.91.0.0/24 dev eth0 table 100",
        "blackhole 10.92.0.0/16",
        "unreachable 10.93.0.0/16 table 101",
        "prohibit 10.98.0.0/16 table 101",
        "throw 10.99.0.0/16 table 101",
        // `protocol 99` on a tracked route: keepalived resets it to 18 (with a warning).
        "10.94.0.0/16 dev eth0 table main proto keepalived scope global src 10.77.0.50",
        "10.95.0.0/16",
        "nexthop via 10.77.0.2 dev eth0 weight 2",
        "10.96.0.0/16 via 10.77.0.1 dev eth0",
        "default via 10.77.0.1 dev eth0 table 102",
        "100:\tfrom 10.77.0.50 lookup 100",
        "101:\tfrom all to 10.93.0.0/16 lookup 101",
        "102:\tfrom all fwmark 0x10/0xff lookup 100",
        "103:\tfrom all iif eth0 lookup 101",
        "104:\tnot from 10.78.0.0/16 lookup 102",
        "105:\tfrom 10.80.0.0/16 blackhole",
        "10.81.0.0/16 via 10.77.0.1 dev eth0 table 1000",
        "2001:db8:90::/48 dev eth0",
        "blackhole 2001:db8:91::/48",
        "106:\tfrom all to 10.81.0.0/16 lookup 1000",
        "107:\tfrom 2001:db8:92::/48 lookup 100",
    ]
    .iter()
    .all(|w| text.contains(w))
}

fn has_static(text: &str) -> bool {
    text.contains("10.97.0.0/16 via 10.77.0.1 dev eth0")
        && text.contains("2001:db8:97::/48 dev eth0")
        && text.contains("10.82.0.0/16 via 10.77.0.1 dev eth0 table 1001")
        && text.contains("200:\tfrom 10.79.0.0/24 lookup 102")
}

/// Nothing of [`ROUTES`] or [`STATICS`] is left.
fn has_none(text: &str) -> bool {
    ![
        "10.9",
        "10.81.",
        "2001:db8:9",
        "100:",
        "101:",
        "102:",
        "103:",
        "104:",
        "105:",
        "106:",
        "107:",
        "200:",
    ]
    .iter()
    .any(|w| text.contains(w))
}

#[test]
fn a_master_installs_them_and_sigterm_removes_them() {
    if !privileged_or_skip("a_master_installs_them_and_sigterm_removes_them") {
        return;
    }
    let lan = lan(&format!("vrt{}", std::process::id()), 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("routes-master");
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf("lb1", "BACKUP", 150));
    // The statics are there at once, whatever the state.
    let text = routes_and_rules(ns);
    assert!(has_static(&text), "{text}");
    assert!(has_addr(ns, "eth0", "10.79.0.1".parse().unwrap()));
    v.expect_state("VI_1", "MASTER", SETTLE);
    let text = wait_routes(ns, has_virtual).unwrap_or_else(|| {
        panic!(
            "virtual routes and rules missing:\n{}\n{}",
            routes_and_rules(ns),
            v.log_text()
        )
    });
    // keepalived's marks: protocol 18 (unless configured), the metric lock, onlink.
    assert!(
        text.contains("10.90.0.0/16 via 10.77.0.1 dev eth0 table main proto keepalived"),
        "{text}"
    );
    assert!(text.contains("mtu lock 1400 advmss 1300"), "{text}");
    assert!(text.contains("onlink"), "{text}");

    // A tracked static route or rule deleted by hand is put back, as keepalived does.
    ns.exec_ok(&["ip", "route", "del", "10.97.0.0/16", "table", "main"])
        .expect("deleting the static route");
    ns.exec_ok(&["ip", "rule", "del", "priority", "200"])
        .expect("deleting the static rule");
    ns.exec_ok(&["ip", "-6", "route", "del", "2001:db8:97::/48"])
        .expect("deleting the static IPv6 route");
    ns.exec_ok(&["ip", "route", "del", "10.82.0.0/16", "table", "1001"])
        .expect("deleting the static route of table 1001");
    let text = wait_routes(ns, has_static)
        .unwrap_or_else(|| panic!("not put back:\n{}\n{}", routes_and_rules(ns), v.log_text()));
    assert!(has_virtual(&text));
    assert!(
        v.log_text()
            .contains("static route 10.97.0.0/16 was deleted: added again")
    );
    let status = v.terminate(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let text = routes_and_rules(ns);
    assert!(has_none(&text), "left after SIGTERM:\n{text}");
    assert!(!has_addr(ns, "eth0", "10.79.0.1".parse().unwrap()));
    assert!(!dir.path().join("lb1.installed.routes").exists());
}

#[test]
fn a_failover_moves_them() {
    if !privileged_or_skip("a_failover_moves_them") {
        return;
    }
    let lan = lan(&format!("vrf{}", std::process::id()), 2);
    let (ns1, ns2) = (&lan.host(0).ns, &lan.host(1).ns);
    let dir = workdir("routes-failover");
    let mut lb1 = Vigild::start(ns1, dir.path(), "lb1", &conf("lb1", "MASTER", 150));
    lb1.expect_state("VI_1", "MASTER", SETTLE);
    let lb2 = Vigild::start(ns2, dir.path(), "lb2", &conf("lb2", "BACKUP", 100));
    lb2.expect_state("VI_1", "BACKUP", SETTLE);
    assert!(wait_routes(ns1, has_virtual).is_some());
    let backup = routes_and_rules(ns2);
    assert!(!has_virtual(&backup) && has_static(&backup), "{backup}");
    assert!(!backup.contains("10.90.0.0/16"), "{backup}");

    lb1.terminate(Duration::from_secs(5));
    lb2.expect_state("VI_1", "MASTER", SETTLE);
    let text = wait_routes(ns2, has_virtual)
        .unwrap_or_else(|| panic!("lb2:\n{}\n{}", routes_and_rules(ns2), lb2.log_text()));
    assert!(has_static(&text));
    assert!(has_none(&routes_and_rules(ns1)));

    // Back: lb1 preempts, lb2 removes its virtual routes and keeps its statics.
    let lb1 = Vigild::start(ns1, dir.path(), "lb1", &conf("lb1", "MASTER", 150));
    lb1.expect_state("VI_1", "MASTER", SETTLE);
    lb2.expect_state("VI_1", "BACKUP", SETTLE);
    let text = wait_routes(ns2, |t| !t.contains("10.90.0.0/16"))
        .unwrap_or_else(|| panic!("lb2 kept them:\n{}", routes_and_rules(ns2)));
    assert!(!text.contains("100:\tfrom 10.77.0.50"), "{text}");
    assert!(has_static(&text), "{text}");
    assert!(wait_routes(ns1, has_virtual).is_some());
}

#[test]
fn a_crash_leaves_them_and_the_next_start_removes_them() {
    if !privileged_or_skip("a_crash_leaves_them_and_the_next_start_removes_them") {
        return;
    }
    let lan = lan(&format!("vrk{}", std::process::id()), 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("routes-crash");
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf("lb1", "MASTER", 150));
    v.expect_state("VI_1", "MASTER", SETTLE);
    assert!(wait_routes(ns, has_virtual).is_some());
    let record = std::fs::read_to_string(dir.path().join("lb1.installed.routes"))
        .expect("the routes record");
    assert!(
        record.starts_with("# vigild routes v1\nroute VI_1 25 0 "),
        "{record}"
    );
    v.kill();
    let text = routes_and_rules(ns);
    assert!(has_virtual(&text) && has_static(&text), "{text}");

    // A configuration without any: all of it goes at start, before the daemon answers.
    let bare = global_defs("lb1", "") + &Inst::v3("VI_1", 51, "BACKUP", 100, ADVERT).render();
    let mut v = Vigild::start(ns, dir.path(), "lb1", &bare);
    let text = routes_and_rules(ns);
    assert!(has_none(&text), "left over:\n{text}\n{}", v.log_text());
    assert!(!has_addr(ns, "eth0", "10.79.0.1".parse().unwrap()));
    assert!(
        v.log_text().contains("a previous run left"),
        "{}",
        v.log_text()
    );
    v.terminate(Duration::from_secs(5));
    assert!(!dir.path().join("lb1.installed.routes").exists());
}

#[test]
fn keepalived_installs_the_same() {
    if !privileged_or_skip("keepalived_installs_the_same") {
        return;
    }
    let lan = lan(&format!("vrc{}", std::process::id()), 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("routes-keepalived");
    let config = conf("lb1", "MASTER", 150);

    let mut v = Vigild::start(ns, dir.path(), "lb1", &config);
    v.expect_state("VI_1", "MASTER", SETTLE);
    let ours = wait_routes(ns, has_virtual).expect("vigild's routes");
    v.terminate(Duration::from_secs(5));
    assert!(has_none(&routes_and_rules(ns)));

    let mut k = Keepalived::start(ns, dir.path(), "ka1", &config);
    k.expect_state("VI_1", "MASTER", SETTLE);
    let theirs = wait_routes(ns, has_virtual)
        .unwrap_or_else(|| panic!("keepalived:\n{}\n{}", routes_and_rules(ns), k.log_text()));
    assert!(k.terminate(Duration::from_secs(5)));
    let after = routes_and_rules(ns);
    assert_eq!(sorted(&ours), sorted(&theirs));
    assert!(has_none(&after), "keepalived left:\n{after}");
}

fn sorted(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text.lines().collect();
    v.sort_unstable();
    v
}

// ----- a reload that changes only the routes and rules ------------------------------

/// The routes and rules before the reload, and after it: one route kept, one dropped,
/// one changed (another `via`), one added; one rule kept, one dropped, one added.
const ROUTES_BEFORE: &str = "    virtual_routes {
        10.90.0.0/16 via 10.77.0.1 dev eth0
        blackhole 10.92.0.0/16
        10.96.0.0/16 via 10.77.0.1 dev eth0
    }
    virtual_rules {
        from 10.77.0.50 table 100 priority 100
        to 10.93.0.0/16 lookup 101 priority 101
    }
";
const ROUTES_AFTER: &str = "    virtual_routes {
        10.90.0.0/16 via 10.77.0.1 dev eth0
        10.96.0.0/16 via 10.77.0.2 dev eth0
        10.94.0.0/16 via 10.77.0.1 dev eth0
    }
    virtual_rules {
        from 10.77.0.50 table 100 priority 100
        from all fwmark 0x10/0xff table 100 priority 102
    }
";

fn routes_conf(routes: &str) -> String {
    let inst = Inst::v3("VI_1", 51, "MASTER", 150, ADVERT).with_extra(routes);
    global_defs("lb1", "") + &inst.render()
}

fn before_reload(t: &str) -> bool {
    t.contains("10.90.0.0/16 via 10.77.0.1")
        && t.contains("blackhole 10.92.0.0/16")
        && t.contains("10.96.0.0/16 via 10.77.0.1")
        && t.contains("100:\tfrom 10.77.0.50 lookup 100")
        && t.contains("101:\tfrom all to 10.93.0.0/16 lookup 101")
}

fn after_reload(t: &str) -> bool {
    t.contains("10.90.0.0/16 via 10.77.0.1")
        && !t.contains("10.92.0.0/16")
        && t.contains("10.96.0.0/16 via 10.77.0.2")
        && !t.contains("10.96.0.0/16 via 10.77.0.1")
        && t.contains("10.94.0.0/16 via 10.77.0.1")
        && t.contains("100:\tfrom 10.77.0.50 lookup 100")
        && !t.contains("101:")
        && t.contains("102:\tfrom all fwmark 0x10/0xff lookup 100")
}

/// "(VI_1) Entering " lines: both daemons log every transition so.
fn transitions(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("(VI_1) Entering "))
        .count()
}

/// A master reloaded with other `virtual_routes` and `virtual_rules` (nothing else
/// changed) adds the new ones and removes the dropped ones, without a transition; and
/// keepalived, reloaded the same way in the same namespace, ends with the same routes
/// and rules.
#[test]
fn a_reload_applies_changed_routes_and_rules_as_keepalived_does() {
    if !privileged_or_skip("a_reload_applies_changed_routes_and_rules_as_keepalived_does") {
        return;
    }
    let lan = lan(&format!("vrr{}", std::process::id()), 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("routes-reload");

    let mut v = Vigild::start(ns, dir.path(), "lb1", &routes_conf(ROUTES_BEFORE));
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_routes(ns, before_reload)
        .unwrap_or_else(|| panic!("vigild before:\n{}", routes_and_rules(ns)));
    let before = transitions(&v.log_text());
    std::fs::write(&v.conf, routes_conf(ROUTES_AFTER)).unwrap();
    v.signal(nix::sys::signal::Signal::SIGHUP);
    let ours = wait_routes(ns, after_reload).unwrap_or_else(|| {
        panic!(
            "vigild after the reload:\n{}\n{}",
            routes_and_rules(ns),
            v.log_text()
        )
    });
    assert_eq!(v.state("VI_1").as_deref(), Some("MASTER"));
    assert_eq!(transitions(&v.log_text()), before, "{}", v.log_text());
    assert!(v.terminate(SETTLE).is_some_and(|s| s.success()));
    assert!(has_none(&routes_and_rules(ns)), "{}", routes_and_rules(ns));

    let mut k = Keepalived::start(ns, dir.path(), "ka1", &routes_conf(ROUTES_BEFORE));
    k.expect_state("VI_1", "MASTER", SETTLE);
    wait_routes(ns, before_reload)
        .unwrap_or_else(|| panic!("keepalived before:\n{}", routes_and_rules(ns)));
    let before = transitions(&k.log_text());
    std::fs::write(&k.conf, routes_conf(ROUTES_AFTER)).unwrap();
    k.signal(nix::sys::signal::Signal::SIGHUP);
    let theirs = wait_routes(ns, after_reload).unwrap_or_else(|| {
        panic!(
            "keepalived after the reload:\n{}\n{}",
            routes_and_rules(ns),
            k.log_text()
        )
    });
    // Given time to carry out anything else the reload would do.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(transitions(&k.log_text()), before, "{}", k.log_text());
    assert!(after_reload(&routes_and_rules(ns)));
    assert!(k.terminate(SETTLE));
    assert_eq!(sorted(&ours), sorted(&theirs));
}

// ----- a tracked virtual route or rule deleted behind the master's back -------------

const TRACKED: &str = "    virtual_routes {
        10.90.0.0/16 via 10.77.0.1 dev eth0
        10.91.0.0/24 dev eth0 no_track
    }
    virtual_rules {
        from 10.77.0.50 table 100 priority 100
    }
";

/// The states "(VI_1) Entering X STATE" names in `log`, in order.
fn states_in(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find("(VI_1) Entering ")? + "(VI_1) Entering ".len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .collect()
}

/// Runs the deletions against a master whose log `log` returns: a `no_track` route
/// (nothing happens), a tracked route, then a tracked rule (each: BACKUP, then MASTER
/// again after the skew time with the route or rule back). Returns the states each
/// step added.
fn deletions(ns: &Netns, log: &dyn Fn() -> String) -> Vec<Vec<String>> {
    let mut seen = states_in(&log()).len();
    ns.exec_ok(&["ip", "route", "del", "10.91.0.0/24", "dev", "eth0"])
        .expect("deleting the no_track route");
    let mut steps = vec![states_after(ns, log, &mut seen, None)];
    ns.exec_ok(&["ip", "route", "del", "10.90.0.0/16"])
        .expect("deleting the tracked route");
    let back = |t: &str| t.contains("10.90.0.0/16 via 10.77.0.1");
    steps.push(states_after(ns, log, &mut seen, Some(&back)));
    ns.exec_ok(&["ip", "rule", "del", "priority", "100"])
        .expect("deleting the rule");
    let back = |t: &str| t.contains("100:\tfrom 10.77.0.50 lookup 100");
    steps.push(states_after(ns, log, &mut seen, Some(&back)));
    steps
}

/// The states logged after the first `seen`: with `back`, once two more are there and
/// `back` holds for the routes and rules (at most 3 s), then whatever else a second
/// brings.
fn states_after(
    ns: &Netns,
    log: &dyn Fn() -> String,
    seen: &mut usize,
    back: Option<&dyn Fn(&str) -> bool>,
) -> Vec<String> {
    let done = back.is_none_or(|back| {
        wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
            (states_in(&log()).len() >= *seen + 2 && back(&routes_and_rules(ns))).then_some(())
        })
        .is_some()
    });
    std::thread::sleep(Duration::from_secs(1));
    let all = states_in(&log());
    let added = all[*seen..].to_vec();
    *seen = all.len();
    assert!(done, "{added:?}\n{}\n{}", routes_and_rules(ns), log());
    added
}

/// keepalived 2.2.7 (`netlink_route_filter`, `set_vrrp_backup`): a master whose
/// tracked virtual route or rule is deleted goes to BACKUP without resigning and, with
/// no better master about, back to MASTER after the skew time, which adds the route
/// again; a `no_track` route may go. vigild does the same.
#[test]
fn a_deleted_tracked_route_sends_the_master_to_backup_as_keepalived_does() {
    if !privileged_or_skip("a_deleted_tracked_route_sends_the_master_to_backup_as_keepalived_does")
    {
        return;
    }
    let lan = lan(&format!("vrd{}", std::process::id()), 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("routes-deleted");
    let inst = Inst::v3("VI_1", 51, "MASTER", 150, ADVERT).with_extra(TRACKED);
    let config = global_defs("lb1", "") + &inst.render();
    let has_all = |t: &str| {
        t.contains("10.90.0.0/16 via 10.77.0.1")
            && t.contains("10.91.0.0/24 dev eth0")
            && t.contains("100:\tfrom 10.77.0.50 lookup 100")
    };

    let mut v = Vigild::start(ns, dir.path(), "lb1", &config);
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_routes(ns, has_all).expect("vigild's routes");
    let ours = deletions(ns, &|| v.log_text());
    assert!(
        v.log_text()
            .contains("(VI_1) virtual route 10.90.0.0/16 was deleted"),
        "{}",
        v.log_text()
    );
    assert!(v.terminate(SETTLE).is_some_and(|s| s.success()));

    let mut k = Keepalived::start(ns, dir.path(), "ka1", &config);
    k.expect_state("VI_1", "MASTER", SETTLE);
    wait_routes(ns, has_all).expect("keepalived's routes");
    let theirs = deletions(ns, &|| k.log_text());
    assert!(k.terminate(SETTLE));

    let flap = vec!["BACKUP".to_string(), "MASTER".to_string()];
    assert_eq!(theirs, [vec![], flap.clone(), flap]);
    assert_eq!(ours, theirs);
}
