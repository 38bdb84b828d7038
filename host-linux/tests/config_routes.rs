//! Routes, rules and static addresses (`virtual_routes`, `virtual_rules`,
//! `static_ipaddress`, `static_routes`, `static_rules`, `track_group`): the typed model,
//! and `-t`'s exit code and lines as keepalived 2.2.7 gives them. Each case states
//! keepalived's verdict, checked with `keepalived -t -f FILE` in a network namespace with
//! eth0 and eth1. Interfaces here are `lo` (present everywhere) and `vigil-nosuch0`
//! (nowhere), so that the cases run in any namespace.

mod config_common;
use config_common::*;

use vigil_core::wire::Family;
use vigil_linux::config::{
    self, KaClass, MetricKind, RouteMode, RoutePrefix, RouteType, RuleAction, Severity, exit,
};

/// An instance whose `virtual_routes` block holds `routes` (each line at line 10 on).
fn with_routes(block: &str, lines: &[&str]) -> String {
    let body: String = lines.iter().map(|l| format!("        {l}\n")).collect();
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 100\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n    {block} {{\n{body}    }}\n}}\n"
    )
}

/// A top-level block holding `lines` (from line 2 on), and an instance.
fn top(block: &str, lines: &[&str]) -> String {
    let body: String = lines.iter().map(|l| format!("    {l}\n")).collect();
    format!(
        "{block} {{\n{body}}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n"
    )
}

/// The diagnostics other than the one note per block, as `line: message`.
fn findings(l: &config::Loaded) -> Vec<(u32, String)> {
    l.diagnostics
        .iter()
        .filter(|d| !d.message.contains("is read and checked"))
        .map(|d| (d.line(), d.message.clone()))
        .collect()
}

/// `-t`'s exit code and the lines named, for one route or rule line.
fn verdict(text: &str) -> (i32, Vec<u32>) {
    let (l, _p, _d) = load(text);
    let mut lines: Vec<u32> = findings(&l).iter().map(|f| f.0).collect();
    lines.dedup();
    (config::test_exit_code(&l), lines)
}

#[test]
fn routes_are_read_into_the_model() {
    // keepalived: 0.
    let (l, _p, _d) = load(&with_routes(
        "virtual_routes",
        &[
            "10.1.0.0/16 via 10.0.0.254 dev lo table 100 metric 5",
            "blackhole 10.2.0.0/16 dev lo",
            "2001:db8::/64 dev lo pref high expires 30 mtu lock 1400 rtt 300ms",
            "default dev lo nexthop via 10.0.0.1 dev lo weight 2 nexthop via 10.0.0.2 onlink",
            "10.3.0.0/16 via 10.0.0.254 no_track append",
        ],
    ));
    assert_eq!(findings(&l), vec![]);
    assert_eq!(config::test_exit_code(&l), exit::OK);
    let c = l.config.expect("loads");
    let r = &c.instances[0].vroutes;
    assert_eq!(r.len(), 5);

    assert_eq!(r[0].family, Family::V4);
    assert_eq!(
        r[0].dst,
        RoutePrefix {
            addr: Some(ip("10.1.0.0")),
            len: 16
        }
    );
    assert_eq!(r[0].via, Some(ip("10.0.0.254")));
    assert_eq!(r[0].dev.as_deref(), Some("lo"));
    assert_eq!((r[0].table, r[0].metric), (100, Some(5)));
    assert_eq!(
        r[0].protocol,
        Some(18),
        "keepalived's protocol for a tracked route"
    );
    assert!(!r[0].no_track);
    assert_eq!((r[0].loc.line, r[0].loc.col), (10, 9));

    assert_eq!(r[1].kind, RouteType::Blackhole);
    assert!(r[1].kind_given);
    assert_eq!(r[1].table, 254, "main by default");

    assert_eq!(r[2].family, Family::V6);
    assert_eq!((r[2].pref, r[2].expires), (Some(1), Some(30)));
    assert_eq!(r[2].metrics.len(), 2);
    assert_eq!(r[2].metrics[0].kind, MetricKind::Mtu);
    assert!(r[2].metrics[0].locked);
    assert_eq!(
        (r[2].metrics[1].kind, r[2].metrics[1].value),
        (MetricKind::Rtt, 2400)
    );

    assert_eq!(r[3].dst.addr, None, "default");
    assert_eq!(r[3].nexthops.len(), 2);
    assert_eq!(r[3].nexthops[0].weight, Some(2));
    assert!(r[3].nexthops[1].onlink);

    assert!(r[4].no_track);
    assert_eq!(r[4].protocol, None);
    assert_eq!(r[4].mode, RouteMode::Append);
}

#[test]
fn a_route_without_an_interface_is_not_tracked_and_keepalived_says_so() {
    // keepalived: 5, "Warning - cannot track route 10.2.0.0/16 with no interface
    // specified, not tracking" at line 10. The route stays.
    let (l, _p, _d) = load(&with_routes("virtual_routes", &["blackhole 10.2.0.0/16"]));
    let d = find(&l, "cannot track route 10.2.0.0/16 with no interface");
    assert_eq!(
        (d.line(), d.severity, d.ka),
        (10, Severity::Warning, KaClass::Config)
    );
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    let c = l.config.expect("runs: only a warning");
    assert!(c.instances[0].vroutes[0].no_track);
}

#[test]
fn a_tracked_route_or_rule_gets_keepalived_s_protocol() {
    // keepalived: 5 each, "... resetting protocol" at line 10.
    for (block, line) in [
        ("virtual_routes", "10.1.0.0/16 dev lo protocol static"),
        (
            "virtual_rules",
            "from 10.0.0.0/8 table 5 priority 100 protocol 4",
        ),
    ] {
        let (l, _p, _d) = load(&with_routes(block, &[line]));
        let d = find(
            &l,
            "cannot be tracked if protocol is not RTPROT_KEEPALIVED(18)",
        );
        assert_eq!(d.line(), 10);
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
        let c = l.config.expect("runs");
        let p = match block {
            "virtual_routes" => c.instances[0].vroutes[0].protocol,
            _ => c.instances[0].vrules[0].protocol,
        };
        assert_eq!(p, Some(18));
    }
    // keepalived: 0 with `no_track` (the protocol is kept).
    let (l, _p, _d) = load(&with_routes(
        "virtual_routes",
        &["10.1.0.0/16 dev lo protocol static no_track"],
    ));
    assert_eq!(config::test_exit_code(&l), exit::OK);
    assert_eq!(l.config.unwrap().instances[0].vroutes[0].protocol, Some(4));
}

#[test]
fn routes_keepalived_drops_or_complains_about() {
    // Each: keepalived -t exits 5 naming line 10; the route is dropped (or, for the
    // deprecations, kept).
    for (line, needle, kept) in [
        (
            "10.1.0.0/16 via 10.0.0.254 dev lo table nosuch",
            "Routing table nosuch not found for route",
            false,
        ),
        (
            "10.1.0.0/16 gw 10.0.0.254 dev lo",
            "\"gw\" for routes is deprecated",
            true,
        ),
        (
            "10.1.0.0/16 via 10.0.0.254 or 10.0.0.253 dev lo",
            "\"or\" for routes is deprecated",
            true,
        ),
        (
            "2001:db8::/64 via 10.0.0.1 dev lo",
            "Cannot mix IPv4 and IPv6 addresses for route",
            false,
        ),
        (
            "10.1.0.0/16 dev lo scope bogus",
            "Scope bogus not found or invalid for route",
            false,
        ),
        (
            "10.1.0.0/16 dev lo metric abc",
            "Invalid metric abc specified for route",
            false,
        ),
        (
            "10.1.0.0/16 dev lo bogus",
            "unknown route keyword bogus",
            false,
        ),
        // keepalived 2.2.7 has no `type` keyword for routes: the type comes first.
        (
            "10.1.0.0/16 dev lo type unreachable",
            "unknown route keyword type",
            false,
        ),
        (
            "10.1.0.0/16 dev lo pref high",
            "pref is only valid for IPv6",
            false,
        ),
        ("10.1.0.0/33 dev lo", "Invalid address prefix len 33", true),
        (
            "10.1.0.0/16 dev lo from 10.0.0.0/8",
            "route from address only supported with IPv6",
            false,
        ),
        (
            "10.1.0.0/16 dev lo rtt 1e3",
            "Invalid rtt 1e3 for route",
            false,
        ),
        (
            "10.1.0.0/16 dev lo hoplimit 256",
            "Invalid hoplimit 256 specified for route",
            false,
        ),
        (
            "10.1.0.0/16 dev lo nexthop via 10.0.0.1 weight 0",
            "Invalid weight 0 specified for route",
            true,
        ),
        (
            "10.1.0.0/16 dev lo nexthop via 10.0.0.1 bogus",
            "trailing nonsense after nexthops - bogus",
            true,
        ),
        // `inet6` also steps over the word after it (keepalived's double increment).
        (
            "inet6 10.1.0.0/16 dev lo",
            "Route must have a destination",
            false,
        ),
        (
            "10.1.0.0/16 dev lo protocol 300",
            "Protocol 300 not found or invalid for route",
            false,
        ),
        (
            "10.1.0.0/16 dev vigil-nosuch0",
            "interface vigil-nosuch0 for VROUTE nexthop doesn't exist",
            false,
        ),
        // keepalived's track_group is for static routes only.
        (
            "10.1.0.0/16 dev lo track_group g1",
            "unknown route keyword track_group",
            false,
        ),
        (
            "10.1.0.0/16 dev lo encap foo bar",
            "Unknown encap type - foo",
            true,
        ),
    ] {
        let (l, _p, _d) = load(&with_routes("virtual_routes", &[line]));
        let d = find(&l, needle);
        assert_eq!(d.line(), 10, "{line}");
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST, "{line}");
        let c = l.config.expect("keepalived runs without the route");
        assert_eq!(c.instances[0].vroutes.len(), usize::from(kept), "{line}");
    }
}

#[test]
fn a_keyword_missing_its_value_stops_keepalived() {
    // keepalived: 2, "*** Configuration line starting `10.1.0.0/16` is missing a parameter
    // after keyword `via` at word position 5".
    for (block, line, after) in [
        ("virtual_routes", "10.1.0.0/16 dev lo via", "via"),
        (
            "virtual_routes",
            "10.1.0.0/16 dev lo blackhole",
            "blackhole",
        ),
        (
            "virtual_rules",
            "from 10.0.0.0/8 table 5 priority",
            "priority",
        ),
    ] {
        let (l, _p, _d) = load(&with_routes(block, &[line]));
        let d = find(&l, &format!("missing a parameter after keyword `{after}`"));
        assert_eq!((d.line(), d.ka), (10, KaClass::Abort));
        assert_eq!(config::test_exit_code(&l), exit::ABORT, "{line}");
    }
}

#[test]
fn rules_are_read_into_the_model() {
    // keepalived: 0.
    let (l, _p, _d) = load(&with_routes(
        "virtual_rules",
        &[
            "from 10.0.0.0/8 table 100 priority 100",
            "from all fwmark 0x10/0xff lookup main preference 0x20",
            "to 2001:db8::/64 goto 300 priority 200 no_track",
            "from 10.0.0.0/8 iif lo uidrange 100-200 sport 80-80 dport 1000-2000 ipproto tcp blackhole priority 5",
            "not from 10.0.0.0/8 suppress_prefixlength 0 table 5 order 6",
        ],
    ));
    assert_eq!(findings(&l), vec![]);
    assert_eq!(config::test_exit_code(&l), exit::OK);
    let c = l.config.expect("loads");
    let r = &c.instances[0].vrules;
    assert_eq!(r.len(), 5);
    assert_eq!(r[0].action, RuleAction::Table(100));
    assert_eq!((r[0].priority, r[0].protocol), (100, Some(18)));
    assert_eq!(r[1].fwmark, Some((16, Some(255))));
    assert_eq!((r[1].action, r[1].priority), (RuleAction::Table(254), 32));
    assert_eq!(r[2].family, Family::V6);
    assert_eq!(r[2].action, RuleAction::Goto(300));
    assert_eq!(r[2].protocol, None);
    assert_eq!(r[3].action, RuleAction::Blackhole);
    assert_eq!(r[3].iif.as_deref(), Some("lo"));
    assert_eq!(r[3].uid_range, Some((100, 200)));
    assert_eq!(
        (r[3].sport, r[3].dport),
        (Some((80, 80)), Some((1000, 2000)))
    );
    assert_eq!(r[3].ip_proto, Some(6));
    assert!(r[4].invert);
    assert_eq!(r[4].suppress_prefixlen, Some(0));
}

#[test]
fn a_rule_without_a_preference_gets_one_per_family_counting_down() {
    // keepalived: 5, "Rule has no preference specified - setting to 16384. This is
    // probably not what you want." (then 16383 for the next IPv4 rule; IPv6 counts apart).
    let (l, _p, _d) = load(&with_routes(
        "virtual_rules",
        &[
            "from 10.0.0.0/8 table 100",
            "from 2001:db8::/64 table 100",
            "from 10.1.0.0/16 table 100",
        ],
    ));
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    let lines: Vec<u32> = findings(&l).iter().map(|f| f.0).collect();
    assert_eq!(lines, vec![10, 11, 12]);
    let c = l.config.expect("runs");
    let p: Vec<u32> = c.instances[0].vrules.iter().map(|r| r.priority).collect();
    assert_eq!(p, vec![16384, 16384, 16383]);
    assert!(c.instances[0].vrules.iter().all(|r| !r.priority_given));
}

#[test]
fn rules_keepalived_drops_or_complains_about() {
    // Each: keepalived -t exits 5 naming line 10.
    for (line, needle, kept) in [
        (
            "from 10.0.0.0/8 priority 100",
            "No action specified for rule - ignoring",
            false,
        ),
        (
            "to 10.0.0.0/8 lookup main pref 5",
            "Unknown rule option pref",
            false,
        ),
        (
            "from 10.0.0.0/8 table 0 priority 100",
            "Table 0 is not valid",
            false,
        ),
        (
            "from 10.0.0.0/8 goto 50 priority 100",
            "preference 100 >= goto target 50",
            false,
        ),
        (
            "from 10.0.0.0/8 goto 50",
            "goto target 50 specified without preference",
            false,
        ),
        (
            "from 10.0.0.0/8 throw priority 100",
            "Invalid rule action throw",
            false,
        ),
        (
            "from 10.0.0.0/8 table 5 blackhole priority 100",
            "Cannot specify more than one of",
            false,
        ),
        (
            "from 10.0.0.0/8 to 2001:db8::/64 table 5 priority 100",
            "mixed IPv4 and IPv6",
            false,
        ),
        (
            "from 10.0.0.0/8 iif vigil-nosuch0 table 5 priority 100",
            "interface vigil-nosuch0 for rule doesn't exist",
            false,
        ),
        // keepalived reads `%hu-%hu` and wants both.
        (
            "from 10.0.0.0/8 sport 80 table 5 priority 100",
            "invalid sport range 80",
            true,
        ),
        (
            "from 10.0.0.0/8 uidrange 100 table 5 priority 100",
            "Invalid uidrange uidrange specified",
            false,
        ),
        (
            "from 10.0.0.0/8 ipproto bogus table 5 priority 100",
            "Invalid ipproto bogus",
            true,
        ),
        (
            "from 10.0.0.0/8 suppress_prefixlength 0 blackhole priority 100",
            "suppressor/realm specified for non table action",
            false,
        ),
        (
            "from 10.0.0.0/8 table 5 priority -1",
            "Invalid rule preference priority specified",
            false,
        ),
        (
            "from 10.0.0.0/8 table 5 priority 100 l3mdev",
            "Cannot specify l3mdev with other action",
            false,
        ),
        (
            "inet6 from 10.0.0.0/8 table 5 priority 100",
            "Unknown rule option 10.0.0.0/8",
            false,
        ),
        (
            // `inet` steps over `from` too.
            "inet from all table 5 priority 100",
            "Unknown rule option all",
            false,
        ),
        (
            "from 10.0.0.0/8 table 5 priority 100 fwmark 5x",
            "Invalid rule fwmark 5x specified",
            false,
        ),
    ] {
        let (l, _p, _d) = load(&with_routes("virtual_rules", &[line]));
        let d = find(&l, needle);
        assert_eq!(d.line(), 10, "{line}");
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST, "{line}");
        let c = l.config.expect("keepalived runs without the rule");
        assert_eq!(c.instances[0].vrules.len(), usize::from(kept), "{line}");
    }
}

#[test]
fn routes_and_rules_of_the_other_family_than_the_instance_are_fine() {
    // keepalived: 0 (it does not compare a route's family with the instance's).
    assert_eq!(
        verdict(&with_routes(
            "virtual_routes",
            &["2001:db8::/64 via fe80::1 dev lo"]
        )),
        (exit::OK, vec![])
    );
    assert_eq!(
        verdict(&with_routes(
            "virtual_rules",
            &["from 2001:db8::/64 table 100 priority 100"]
        )),
        (exit::OK, vec![])
    );
}

#[test]
fn static_blocks_and_track_groups() {
    // keepalived: 0.
    let text = "track_group g1 {\n    group {\n        VI_1\n    }\n}\n\
        static_routes {\n    10.1.0.0/16 dev lo track_group g1\n    10.2.0.0/16 via 10.0.0.1 no_track\n}\n\
        static_rules {\n    from 10.0.0.0/8 table 100 priority 100 iif lo track_group g1\n}\n\
        static_ipaddress {\n    192.168.5.1/24 dev lo track_group g1\n    2001:db8::5/64 dev lo\n}\n\
        vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\n";
    let (l, _p, _d) = load(text);
    assert_eq!(findings(&l), vec![]);
    assert_eq!(config::test_exit_code(&l), exit::OK);
    let c = l.config.expect("loads");
    assert_eq!(c.static_track_groups[0].name, "g1");
    assert_eq!(c.static_track_groups[0].instances, vec!["VI_1"]);
    assert_eq!(c.static_routes.len(), 2);
    assert_eq!(c.static_routes[0].track_group.as_deref(), Some("g1"));
    assert_eq!(c.static_rules[0].track_group.as_deref(), Some("g1"));
    assert_eq!(c.static_addresses.len(), 2);
    assert_eq!(c.static_addresses[0].track_group.as_deref(), Some("g1"));
    assert_eq!(c.static_addresses[0].addr.prefix_len, 24);
    assert_eq!(c.static_addresses[1].addr.addr, ip("2001:db8::5"));
}

#[test]
fn static_blocks_keepalived_complains_about() {
    // Each: keepalived -t exits 5 naming line 2.
    for (block, line, needle) in [
        (
            "static_routes",
            "10.1.0.0/16 via 10.0.0.254",
            "cannot track route 10.1.0.0/16 with no interface",
        ),
        (
            "static_routes",
            "10.1.0.0/16 dev lo track_group g1",
            "track_group g1 not found",
        ),
        (
            "static_rules",
            "from 10.0.0.0/8 table 100",
            "Rule has no preference specified - setting to 16384",
        ),
        (
            "static_rules",
            "from 10.0.0.0/8 table 100 priority 100 track_group g1",
            "track_group g1 not found",
        ),
        (
            "static_ipaddress",
            "192.168.5.1/24 dev vigil-nosuch0",
            "interface vigil-nosuch0 for ip address 192.168.5.1/24 doesn't exist",
        ),
        (
            "static_ipaddress",
            "2001:db8::5/64 dev lo scope link",
            "Cannot specify scope for IPv6 addresses",
        ),
        (
            "static_ipaddress",
            "192.168.5.1/24 dev lo use_vmac",
            "Unknown configuration entry 'use_vmac'",
        ),
        (
            "static_ipaddress",
            "192.168.5.1/24 dev lo track_group g1",
            "track_group g1 not found",
        ),
    ] {
        let (l, _p, _d) = load(&top(block, &[line]));
        let d = find(&l, needle);
        assert_eq!(d.line(), 2, "{line}");
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST, "{line}");
    }
}

#[test]
fn route_blocks_get_no_note_now_that_they_are_installed() {
    // keepalived: 0, silent. vigild installs them (docs/config-routes.md): silent too.
    let text = with_routes(
        "virtual_routes",
        &["10.1.0.0/16 dev lo", "10.2.0.0/16 via 10.0.0.1 no_track"],
    );
    let (l, _p, _d) = load(&text);
    let notes: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("is read and checked"))
        .collect();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(config::test_exit_code(&l), exit::OK);
    assert!(l.config.is_some());
}

#[test]
fn a_block_keyword_without_its_block_is_accepted() {
    // keepalived: 0 (its value block reader finds nothing).
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1\n    }\n    virtual_routes\n}\n";
    assert_eq!(verdict(text), (exit::OK, vec![]));
}
