//! Tricky configurations: keepalived's interaction rules give keepalived's warnings and
//! corrections, and the options reach the core as keepalived would run them.

mod config_common;
use config_common::*;

use vigil_core::machine::InitialState;
use vigil_core::wire::{Auth, Family, Version};
use vigil_linux::config::{self, KaClass, Severity, exit};

// ----- keepalived's interaction rules --------------------------------------------------

#[test]
fn nopreempt_and_preempt_delay_with_state_master() {
    let (l, _p, _d) = load(&inst(
        "    state MASTER\n    priority 100\n    nopreempt\n    preempt_delay 10",
    ));
    let d = find(
        &l,
        "(VI_1) Warning - nopreempt will not work with initial state MASTER - clearing",
    );
    assert_eq!(at(d), (6, 5));
    assert_eq!(d.ka, KaClass::Config);
    // preempt_delay with nopreempt (before clearing) is keepalived's next complaint.
    let c = l.config.unwrap();
    assert!(c.instances[0].preempt);
    let (l, _p, _d) = load(&inst(
        "    state MASTER\n    priority 100\n    preempt_delay 10",
    ));
    find(
        &l,
        "(VI_1) Warning - preempt delay will not work with initial state MASTER - clearing",
    );
    assert!(l.config.unwrap().instances[0].preempt_delay.is_zero());
    // With state BACKUP both work.
    let (l, _p, _d) = load(&inst("    nopreempt\n    preempt_delay 2.5"));
    let (l2, _p2, _d2) = load(&inst("    state BACKUP\n    preempt_delay 2.5"));
    find(&l, "preempt_delay is incompatible with nopreempt mode");
    let i = &l2.config.as_ref().unwrap().instances[0];
    assert_eq!(i.preempt_delay.as_millis(), 2500);
    assert_eq!(config::test_exit_code(&l2), exit::OK);
}

#[test]
fn state_master_without_priority_is_the_owner() {
    let (l, _p, _d) = load(&inst("    state MASTER"));
    let i = &l.config.unwrap().instances[0];
    assert_eq!((i.priority, i.state), (255, InitialState::Master));
    let (l, _p, _d) = load(&inst("    priority 255\n    nopreempt"));
    find(
        &l,
        "nopreempt is incompatible with priority 255. resetting nopreempt",
    );
    assert_eq!(l.config.unwrap().instances[0].state, InitialState::Master);
}

#[test]
fn advert_int_is_rounded_for_the_version() {
    let (l, _p, _d) = load(&inst("    advert_int 1.5"));
    let d = find(
        &l,
        "(VI_1) VRRPv2 advertisement interval 1.500000s must be an integer. rounding",
    );
    assert_eq!(at(d), (4, 16));
    assert_eq!(l.config.unwrap().instances[0].advert_int.centis(), 200);
    let (l, _p, _d) = load(&inst("    advert_int 0.4"));
    assert_eq!(l.config.unwrap().instances[0].advert_int.centis(), 100);
    let (l, _p, _d) = load(&inst("    version 3\n    advert_int 0.123"));
    find(
        &l,
        "VRRPv3 advertisement interval 0.123000s must be in units of 10ms - rounding",
    );
    assert_eq!(l.config.unwrap().instances[0].advert_int.centis(), 12);
    let (l, _p, _d) = load(&inst("    version 3\n    advert_int 0.25"));
    assert!(l.diagnostics.is_empty());
    assert_eq!(l.config.unwrap().instances[0].advert_int.centis(), 25);
    // keepalived: "(VI_1) Advert interval (0) not valid! Must be > 0 - ignoring": the
    // default 1 s, and it runs.
    let (l, _p, _d) = load(&inst("    advert_int 0"));
    let d = find(
        &l,
        "(VI_1) Advert interval (0) not valid! Must be > 0 - ignoring",
    );
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(l.config.unwrap().instances[0].advert_int.centis(), 100);
}

#[test]
fn ipv6_vips_run_version_3_and_other_family_vips_are_dropped() {
    let text = "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 7\n    virtual_ipaddress {\n        fe80::7\n        2001:db8::7/64\n        10.0.0.7\n    }\n    virtual_ipaddress_excluded {\n        10.0.0.8/24\n    }\n}\n";
    let (l, _p, _d) = load(text);
    let d = find(
        &l,
        "address family must match VRRP instance [10.0.0.7] - ignoring",
    );
    assert_eq!(at(d), (7, 9));
    let c = l.config.unwrap();
    let i = &c.instances[0];
    assert_eq!((i.family, i.version), (Family::V6, Version::V3));
    assert_eq!(i.vips.len(), 2);
    assert_eq!(i.vips().len(), 2);
    assert_eq!(i.excluded_vips[0].addr, ip("10.0.0.8"));
    let core = i.core_config(ip("fe80::1")).unwrap();
    assert_eq!(core.version, Version::V3);
    assert!(
        i.core_config(ip("192.0.2.1")).is_err(),
        "wrong family primary"
    );
    // An explicit `version 2` with IPv6: keepalived runs a non-standard v2, vigild v3.
    let (l, _p, _d) =
        load(&text.replace("virtual_router_id 7", "virtual_router_id 7\n    version 2"));
    assert_eq!(find(&l, "VRRPv2 over IPv6").ka, KaClass::Silent);
    assert_eq!(l.config.unwrap().instances[0].version, Version::V3);
}

#[test]
fn authentication_rules() {
    let auth = "    authentication {\n        auth_type PASS\n        auth_pass 1234567890\n    }";
    let (l, _p, _d) = load(&inst(auth));
    find(&l, "Truncating auth_pass to 8 characters");
    assert_eq!(
        l.config.unwrap().instances[0].auth,
        Auth::password(b"12345678")
    );
    let (l, _p, _d) = load(&inst(&format!("    version 3\n{auth}")));
    let d = find(
        &l,
        "(VI_1) VRRP version 3 does not support authentication. Ignoring.",
    );
    assert_eq!(at(d), (5, 5));
    assert_eq!(l.config.unwrap().instances[0].auth, Auth::None);
    let (l, _p, _d) = load(&inst(
        "    authentication {\n        auth_type AH\n        auth_pass x\n    }",
    ));
    // Run as keepalived runs it: IPsec AH keyed by the password (docs/keepalived-vs-rfc.md).
    assert!(l.diagnostics.iter().all(|d| d.severity != Severity::Error));
    assert_eq!(
        l.config.unwrap().instances[0].auth,
        Auth::Ah(*b"x\0\0\0\0\0\0\0")
    );
}

#[test]
fn strict_mode_corrections() {
    let text = format!(
        "global_defs {{\n    vrrp_strict\n}}\n{}",
        inst(
            "    state MASTER\n    priority 100\n    preempt_delay 5\n    down_timer_adverts 5\n    garp_lower_prio_repeat 4\n    lower_prio_no_advert false\n    higher_prio_send_advert true\n    unicast_peer {\n        10.0.0.2\n    }"
        )
    );
    let (l, _p, _d) = load(&text);
    for m in [
        "(VI_1) State MASTER must match being address owner",
        "(VI_1) preempt_delay is incompatible with strict mode - resetting",
        "(VI_1) down_timer_adverts is incompatible with strict mode - resetting",
        "(VI_1) Strict mode requires no repeat garps. resetting",
        "(VI_1) Strict mode requires no lower priority advert. resetting",
        "(VI_1) strict mode requires higher_prio_send_advert to be clear. resetting",
    ] {
        find(&l, m);
    }
    let c = l.config.expect("strict corrections are warnings");
    let i = &c.instances[0];
    assert_eq!(i.state, InitialState::Backup);
    assert!(i.lower_prio_no_advert && !i.higher_prio_send_advert);
    assert_eq!((i.down_timer_adverts, i.garp.lower_prio_repeat), (3, 0));
    // keepalived 2.2.7 keeps unicast peers in strict mode (checked with its dump).
    assert!(i.is_unicast());
    // No VIP at all is an error in strict mode.
    let (l, _p, _d) = load(
        "global_defs {\n    vrrp_strict\n}\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n}\n",
    );
    assert_eq!(
        find(&l, "No VIP specified; at least one is required").severity,
        Severity::Error
    );
}

#[test]
fn weights_inside_sync_groups_and_for_owners() {
    let text = "vrrp_script s1 {\n    script \"/bin/true\"\n    weight 10\n}\nvrrp_script s0 {\n    script /bin/true\n}\nvrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n\
vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    track_script {\n        s1\n        s0\n    }\n    track_interface {\n        eth1 weight 5\n        eth0\n    }\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n\
vrrp_instance VI_2 {\n    interface eth1\n    virtual_router_id 52\n    track_script {\n        s0 weight -3 reverse\n    }\n    virtual_ipaddress {\n        10.0.0.2\n    }\n}\n";
    let (l, _p, _d) = load_checked(text);
    let d = find(
        &l,
        "(VI_1) ignoring tracked script s1 with weights due to SYNC group",
    );
    assert_eq!(at(d), (18, 9));
    find(
        &l,
        "(VI_2) ignoring tracked script s0 with weights due to SYNC group",
    );
    find(
        &l,
        "(VI_1) ignoring eth1 tracked interface weight due to SYNC group",
    );
    find(
        &l,
        "(VI_1) Ignoring track_interface eth0 since own interface",
    );
    find(&l, "SECURITY VIOLATION");
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST_SECURITY);
    let c = l.config.unwrap();
    let v1 = c.instance("VI_1").unwrap();
    let names: Vec<&str> = v1.track_scripts.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["s0"]);
    assert_eq!(v1.track_interfaces.len(), 1);
    assert_eq!(v1.track_interfaces[0].weight.weight, 0);
    assert!(c.instance("VI_2").unwrap().track_scripts.is_empty());
    // sync_group_tracking_weight keeps them.
    let (l, _p, _d) = load(&text.replace(
        "vrrp_sync_group G {\n",
        "vrrp_sync_group G {\n    sync_group_tracking_weight\n",
    ));
    let c = l.config.unwrap();
    assert_eq!(c.instance("VI_1").unwrap().track_scripts.len(), 2);
    let w = c.instance("VI_2").unwrap().track_scripts[0].weight.unwrap();
    assert_eq!((w.weight, w.reverse), (-3, true));
    // An address owner: weights are ignored too.
    let (l, _p, _d) = load(&format!(
        "vrrp_script s1 {{\n    script /bin/true\n    weight 10\n}}\n{}",
        inst("    priority 255\n    track_script {\n        s1\n    }")
    ));
    find(
        &l,
        "(VI_1) ignoring tracked script s1 with weights due to address_owner",
    );
}

#[test]
fn scripts_notify_and_trackers_parse() {
    let text = format!(
        "global_defs {{\n    enable_script_security\n    script_user nobody nogroup\n}}\nvrrp_script chk {{\n    script \"/bin/echo 'a b' c\"\n    interval 3\n    timeout 2\n    weight -20 reverse\n    rise 2\n    fall 4\n    user root\n    init_fail\n}}\nvrrp_track_process nginx {{\n    process nginx -g daemon\n    quorum 2\n    weight 5\n    delay 1.5\n}}\ntrack_file f1 {{\n    file \"/run/f1\"\n    weight 3\n}}\n{}",
        inst(
            "    notify_master \"/bin/echo a b\" root wheel\n    notify /bin/notify.sh\n    notify_backup /bin/true someone\n    track_script {\n        chk weight 7\n    }\n    track_process {\n        nginx\n    }\n    track_file {\n        f1 weight -2\n    }\n    track_interface {\n        eth1 weight -5 reverse\n    }"
        )
    );
    let (l, _p, _d) = load(&text);
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    let u = c.global.script_user.as_ref().unwrap();
    assert_eq!(
        (u.user.as_str(), u.group.as_deref()),
        ("nobody", Some("nogroup"))
    );
    let s = c.script("chk").unwrap();
    assert_eq!(s.command.argv, ["/bin/echo", "a b", "c"]);
    assert_eq!(
        (s.interval.as_secs(), s.timeout.map(|t| t.as_secs())),
        (3, Some(2))
    );
    assert_eq!(
        (
            s.weight.weight,
            s.weight.reverse,
            s.rise,
            s.fall,
            s.init_fail
        ),
        (-20, true, 2, 4, true)
    );
    let p = c.track_process("nginx").unwrap();
    assert_eq!(
        (
            p.process.as_str(),
            p.params.len(),
            p.quorum,
            p.weight.weight
        ),
        ("nginx", 2, 2, 5)
    );
    assert_eq!(p.fork_delay.as_millis(), 1500);
    assert_eq!(c.track_file("f1").unwrap().weight, 3);
    let i = &c.instances[0];
    let m = i.notify.master.as_ref().unwrap();
    assert_eq!(m.argv, ["/bin/echo", "a", "b"]);
    assert_eq!(m.user.as_ref().unwrap().group.as_deref(), Some("wheel"));
    assert_eq!(i.notify.any.as_ref().unwrap().argv, ["/bin/notify.sh"]);
    assert_eq!(
        i.notify
            .backup
            .as_ref()
            .unwrap()
            .user
            .as_ref()
            .unwrap()
            .user,
        "someone"
    );
    assert_eq!(i.track_scripts[0].weight.unwrap().weight, 7);
    assert_eq!(i.track_files[0].weight.unwrap().weight, -2);
    assert_eq!(i.track_interfaces[0].weight.weight, -5);
    assert!(i.track_interfaces[0].weight.reverse);
}

#[test]
fn track_process_matching_options_as_keepalived() {
    let block = |name: &str, body: &str| format!("vrrp_track_process {name} {{\n{body}\n}}\n");
    let text = [
        block(
            "exact",
            "    process nginx -g \"daemon off;\"\n    quorum 2\n    quorum_max 4",
        ),
        block(
            "initial",
            "    process /usr/sbin/haproxy -f\n    param_match initial",
        ),
        block(
            "noargs",
            "    process /usr/bin/redis-server\n    param_match",
        ),
        block("full", "    process /usr/sbin/nginx\n    full_command"),
        block("none", "    process nginx\n    quorum_max 0"),
        block(
            "delays",
            "    process nginx\n    fork_delay 0.5\n    terminate_delay 2",
        ),
    ]
    .concat()
        + &inst("    track_process {\n        exact\n    }");
    let (l, _p, _d) = load(&text);
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    let p = c.track_process("exact").unwrap();
    assert_eq!(
        (p.params.as_slice(), p.param_match, p.full_command),
        (
            &["-g".to_string(), "daemon off;".to_string()][..],
            Some(config::ParamMatch::Exact),
            true
        )
    );
    assert_eq!((p.quorum, p.quorum_max), (2, Some(4)));
    let p = c.track_process("initial").unwrap();
    assert_eq!(
        (p.param_match, p.full_command),
        (Some(config::ParamMatch::Initial), true)
    );
    let p = c.track_process("noargs").unwrap();
    assert_eq!(
        (p.params.len(), p.param_match, p.full_command),
        (0, Some(config::ParamMatch::Exact), true)
    );
    let p = c.track_process("full").unwrap();
    assert_eq!((p.param_match, p.full_command), (None, true));
    // quorum_max 0: up only while no such process runs.
    let p = c.track_process("none").unwrap();
    assert_eq!((p.quorum, p.quorum_max), (0, Some(0)));
    let p = c.track_process("delays").unwrap();
    assert_eq!(
        (p.fork_delay.as_millis(), p.terminate_delay.as_millis()),
        (500, 2000)
    );

    // keepalived's complaints, at their lines.
    let text = block(
        "bad",
        "    process nginx\n    process httpd\n    param_match sometimes\n    quorum 0\n    quorum 3\n    quorum_max 2\n    delay 4000",
    ) + &block("long", "    process /usr/sbin/nginx")
        + &inst("    track_process {\n        bad\n    }");
    let (l, _p, _d) = load(&text);
    assert_eq!(
        at(find(
            &l,
            "Process already set for track process bad - ignoring httpd"
        )),
        (3, 5)
    );
    assert_eq!(
        at(find(&l, "Invalid param_match type sometimes - ignoring")),
        (4, 17)
    );
    assert_eq!(
        at(find(
            &l,
            "Quorum (0) for vrrp_track_process bad must be between [1..65535]"
        )),
        (5, 12)
    );
    assert_eq!(
        at(find(&l, "quorum_max is less than quorum - ignoring")),
        (7, 16)
    );
    assert_eq!(
        at(find(
            &l,
            "delay (4000) for vrrp_track_process bad must be between [0.000001..3600]"
        )),
        (8, 11)
    );
    let p = l.config.as_ref().unwrap().track_process("bad").unwrap();
    assert_eq!(
        (p.process.as_str(), p.quorum, p.quorum_max),
        ("nginx", 3, None)
    );
    // A path is never a process name (comm): vigild says so.
    let d = find(
        &l,
        "process `/usr/sbin/nginx` is compared with the process name",
    );
    assert_eq!((d.line(), d.ka), (10, KaClass::Silent));
}

/// Options vigild reads but does not act on: a warning at their line that says so,
/// which keepalived does not give (the exit code of `-t` stays keepalived's).
#[test]
fn parsed_but_ignored_options_are_named_at_their_line() {
    let text = "global_defs {
    vrrp_garp_lower_prio_delay 3
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    garp_lower_prio_delay 2
    no_accept
    use_vmac vrrp.51 02:00:00:00:00:01
    unicast_src_ip 10.0.0.2
    unicast_peer {
        10.0.0.3 min_ttl 250 max_ttl 255
    }
    virtual_ipaddress {
        10.0.0.1 no_track peer 10.0.0.9
        10.0.0.5 noprefixroute home
    }
    virtual_ipaddress_excluded {
        2001:db8::1/64 -nodad preferred_lft forever
    }
    vmac_xmit_base
}
";
    let (l, _p, _d) = load(text);
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
    for (needle, line, col) in [
        (
            "`vrrp_garp_lower_prio_delay` is not implemented by vigild: ignored",
            2,
            5,
        ),
        (
            "(VI_1) `garp_lower_prio_delay` is not implemented by vigild",
            7,
            5,
        ),
        ("(VI_1) `no_accept` is not implemented by vigild", 8, 5),
        (
            "the MAC address `02:00:00:00:00:01` of `use_vmac` is not implemented",
            9,
            22,
        ),
        (
            "`no_track` of address 10.0.0.1 is not implemented by vigild",
            15,
            18,
        ),
        (
            "`peer` of address 10.0.0.1 is not implemented by vigild",
            15,
            27,
        ),
        (
            "`noprefixroute` of address 10.0.0.5 is not implemented",
            16,
            18,
        ),
        ("`home` of address 10.0.0.5 is not implemented", 16, 32),
        (
            "`-nodad` of address 2001:db8::1/64 is not implemented",
            19,
            24,
        ),
        (
            "`preferred_lft` of address 2001:db8::1/64 is not implemented",
            19,
            31,
        ),
    ] {
        let d = find(&l, needle);
        assert_eq!(
            (d.line(), d.column(), d.severity, d.ka),
            (line, col, Severity::Warning, KaClass::Silent),
            "{d}"
        );
        assert!(d.message.contains("ignored"), "{d}");
    }
    assert_eq!(config::test_exit_code(&l), exit::OK, "{:#?}", l.diagnostics);
    // vrrp_min_garp sets the lower-priority delay without anyone writing it: no warning.
    let (l, _p, _d) = load(&format!("global_defs {{\n    vrrp_min_garp\n}}\n{GOOD}"));
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
}

#[test]
fn track_file_init_file_values() {
    let block =
        |init: &str| format!("track_file f {{\n    file /run/f\n    init_file {init}\n}}\n{GOOD}");
    let (l, _p, _d) = load(&block("overwrite -7"));
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    assert_eq!(c.track_file("f").unwrap().init_file, Some((-7, true)));
    let (l, _p, _d) = load(&block(""));
    assert_eq!(
        l.config.unwrap().track_file("f").unwrap().init_file,
        Some((0, false))
    );
    let (l, _p, _d) = load(&block("300 sometimes 12x"));
    assert_eq!(
        at(find(
            &l,
            "Track file f init value 300 is outside sensible range [-254, 254]"
        )),
        (3, 15)
    );
    assert_eq!(
        at(find(&l, "Unknown track file init option sometimes")),
        (3, 19)
    );
    assert_eq!(
        at(find(&l, "Track file f init value 12x is invalid")),
        (3, 29)
    );
    assert_eq!(
        l.config.unwrap().track_file("f").unwrap().init_file,
        Some((0, false))
    );
}

#[test]
fn globals_are_defaults_for_instances_and_reach_the_core() {
    let text = format!(
        "global_defs {{\n    router_id lb1\n    vrrp_version 3\n    vrrp_mcast_group4 224.0.0.200\n    vrrp_garp_master_delay 2\n    vrrp_garp_master_repeat 3\n    vrrp_garp_master_refresh 60\n    vrrp_garp_master_refresh_repeat 2\n    vrrp_garp_lower_prio_repeat 1\n    vrrp_lower_prio_no_advert\n    vrrp_higher_prio_send_advert true\n    vrrp_garp_interval 0.001\n    vrrp_skip_check_adv_addr\n}}\n{}",
        inst(
            "    advert_int 0.5\n    garp_master_repeat 4\n    down_timer_adverts 5\n    dont_track_primary\n    use_vmac vrrp.51"
        )
    );
    let (l, _p, _d) = load(&text);
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    assert_eq!(
        c.global.mcast_group4,
        "224.0.0.200".parse::<std::net::Ipv4Addr>().unwrap()
    );
    let i = &c.instances[0];
    assert_eq!(i.version, Version::V3);
    assert_eq!(i.garp.master_repeat, 4, "the instance's own value wins");
    assert!(i.dont_track_primary);
    assert_eq!(
        i.use_vmac.as_ref().unwrap().name.as_deref(),
        Some("vrrp.51")
    );
    let core = i.core_config(ip("192.0.2.9")).unwrap();
    assert_eq!(core.primary, ip("192.0.2.9"));
    assert_eq!(core.interval.centis(), 50);
    assert_eq!(core.down_timer_adverts, 5);
    assert_eq!(core.garp.delay.as_secs(), 2);
    assert_eq!(core.garp.repeat, 4);
    assert_eq!(core.garp.refresh.as_secs(), 60);
    assert_eq!(core.garp.refresh_repeat, 2);
    assert_eq!(core.garp.spacing.as_millis(), 1);
    assert_eq!(core.lower_prio_announce, 1);
    assert_eq!(
        core.lower_priority,
        vigil_core::machine::LowerPriority::Discard
    );
    assert!(core.higher_prio_send_advert);
    assert!(!core.check_addresses);
}

// ----- keepalived's corrections: a warning and the same value (issue 12) ---------------

/// The instance of a configuration keepalived runs (it must load, every finding a warning).
fn runs(l: &config::Loaded) -> &config::Instance {
    assert!(
        l.errors().next().is_none(),
        "keepalived runs this: {:#?}",
        l.diagnostics
    );
    &l.config.as_ref().expect("loads").instances[0]
}

/// `brd +` / `brd -`: keepalived computes the broadcast from the prefix; with /31 or /32 it
/// says "Address prefix length 32 too long for broadcast" and adds no broadcast.
#[test]
fn vip_broadcast_plus_and_minus_are_computed() {
    let text = GOOD.replace(
        "10.0.0.1/24 dev eth0 label eth0:1 scope global brd 10.0.0.255",
        "10.0.0.1/24 brd +\n        10.0.1.7/22 brd -\n        10.0.2.1/32 brd +",
    );
    let (l, _p, _d) = load(&text);
    let i = runs(&l);
    let brd: Vec<_> = i.vips.iter().map(|v| v.brd).collect();
    assert_eq!(
        brd,
        [
            Some("10.0.0.255".parse().unwrap()),
            Some("10.0.0.0".parse().unwrap()),
            None
        ]
    );
    let d = find(&l, "Address prefix length 32 too long for broadcast");
    assert_eq!((d.line(), d.severity), (9, Severity::Warning));
}

/// keepalived drops a VIP whose options it cannot take, and keeps the others:
/// "No dev parameter specified for ...", "Address label ... is longer than maximum length
/// 15 - removing address", "VRRP is trying to assign a broadcast brd to the IPv6 address
/// ... skipping VIP...", and ignores scope and label on IPv6.
#[test]
fn vips_keepalived_cannot_take_are_dropped_the_others_run() {
    let text = GOOD.replace(
        "10.0.0.1/24 dev eth0 label eth0:1 scope global brd 10.0.0.255",
        "10.0.0.1/24\n        10.0.0.6 dev\n        10.0.0.7 label averyveryverylonglabel\n        10.0.0.8 nodad",
    ) + "vrrp_instance VI_6 {\n    interface eth0\n    virtual_router_id 61\n    virtual_ipaddress {\n        fe80::1 brd +\n        fe80::2 scope link label x\n    }\n}\n";
    let (l, _p, _d) = load(&text);
    let c = l.config.as_ref().expect("runs");
    let v4: Vec<_> = c.instances[0].vips.iter().map(|v| v.addr).collect();
    assert_eq!(v4, [ip("10.0.0.1"), ip("10.0.0.8")]);
    find(&l, "No dev parameter specified for 10.0.0.6");
    find(
        &l,
        "Address label averyveryverylonglabel is longer than maximum length 15 - removing address",
    );
    // keepalived knows `-nodad`, not `nodad`.
    find(
        &l,
        "Unknown configuration entry 'nodad' for ip address - ignoring",
    );
    let v6 = &c.instances[1].vips;
    assert_eq!(v6.len(), 1);
    assert_eq!(
        (v6[0].scope.as_deref(), v6[0].label.as_deref()),
        (None, None)
    );
    find(
        &l,
        "VRRP is trying to assign a broadcast brd to the IPv6 address fe80::1",
    );
    find(
        &l,
        "Cannot specify scope for IPv6 addresses (fe80::2) - ignoring scope",
    );
    find(
        &l,
        "Cannot specify label for IPv6 addresses (fe80::2) - ignoring label",
    );
}

/// keepalived's family is set by the first address it reads, whatever the keyword:
/// here unicast_src_ip (IPv6), so the IPv4 peer and VIP are dropped ("MUST be of the
/// same family !!! Skipping...", "address family must match VRRP instance").
#[test]
fn the_first_address_in_the_file_sets_the_family() {
    let (l, _p, _d) = load(&inst(
        "    version 3\n    unicast_src_ip fe80::1\n    unicast_peer {\n        10.0.0.3\n        fe80::3\n    }\n    virtual_ipaddress {\n        fe80::10\n    }",
    ));
    let i = runs(&l);
    assert_eq!(i.family, Family::V6);
    assert_eq!(i.unicast_peers.len(), 1);
    assert_eq!(
        i.vips.iter().map(|v| v.addr).collect::<Vec<_>>(),
        [ip("fe80::10")]
    );
    let d = find(
        &l,
        "Configuration error: VRRP instance[VI_1] and unicast peer address[10.0.0.3] MUST be of the same family !!! Skipping...",
    );
    assert_eq!(d.line(), 7);
    let d = find(
        &l,
        "(VI_1): address family must match VRRP instance [10.0.0.1] - ignoring",
    );
    assert_eq!(d.line(), 14);
}

/// "A unicast keyword has been specified without any unicast peers. Defaulting to
/// multicast": unicast_src_ip alone runs multicast.
#[test]
fn a_unicast_keyword_without_peers_runs_multicast() {
    let (l, _p, _d) = load(&inst("    unicast_src_ip 10.0.0.5"));
    let i = runs(&l);
    assert!(!i.is_unicast());
    let d = find(
        &l,
        "A unicast keyword has been specified without any unicast peers",
    );
    assert_eq!(
        (d.line(), d.severity, d.ka),
        (4, Severity::Warning, KaClass::Config)
    );
}

/// Values keepalived reads and falls back from, each with its words and its value.
#[test]
fn bad_values_fall_back_as_in_keepalived() {
    // preempt_delay: "Preempt_delay not valid! must be between 0-1000" and no delay.
    let (l, _p, _d) = load(&inst(
        "    priority 90\n    preempt_delay 10\n    preempt_delay 2000",
    ));
    assert!(runs(&l).preempt_delay.is_zero());
    find(&l, "(VI_1) Preempt_delay not valid! must be between 0-1000");
    // state: "state previously set as MASTER - ignoring BACKUP".
    let (l, _p, _d) = load(&inst("    priority 90\n    state MASTER\n    state BACKUP"));
    assert_eq!(runs(&l).state, InitialState::Master);
    find(
        &l,
        "(VI_1) state previously set as MASTER - ignoring BACKUP",
    );
    // skip_check_adv_addr: keepalived 2.2.7 turns it on for any valid value.
    let (l, _p, _d) = load(&inst("    skip_check_adv_addr false"));
    assert!(runs(&l).skip_check_adv_addr);
    assert_eq!(config::test_exit_code(&l), exit::OK);
    let (l, _p, _d) = load(&format!(
        "global_defs {{\n    vrrp_skip_check_adv_addr false\n}}\n{}",
        inst("")
    ));
    assert!(runs(&l).skip_check_adv_addr);
    // A garp value keepalived cannot read falls back to the global one.
    let (l, _p, _d) = load(&format!(
        "global_defs {{\n    vrrp_garp_master_delay 7\n}}\n{}",
        inst("    garp_master_delay 9999")
    ));
    assert_eq!(runs(&l).garp.master_delay.as_secs(), 7);
    find(
        &l,
        "number '9999' outside range [0, 4294]: (VI_1): garp_master_delay '9999' invalid - ignoring",
    );
}

/// track_* references as keepalived reads them: a weight of +/-254 becomes +/-253 for
/// scripts and interfaces ("cannot be +/-254. Setting to +/-253"), an unknown option or a
/// `weight` without value drops the entry, a bad weight falls back to the tracker's.
#[test]
fn track_references_as_keepalived_reads_them() {
    let text = format!(
        "vrrp_script chk {{\n    script /bin/true\n    weight 7\n}}\nvrrp_script chk2 {{\n    script /bin/true\n}}\nvrrp_script chk3 {{\n    script /bin/true\n}}\n{}",
        inst(
            "    track_script {\n        chk weight 254\n        chk2 foo\n        chk3 weight\n    }\n    track_interface {\n        eth1 weight -254\n        eth2 weight 999\n        ens33 weight 5 noreverse\n    }"
        )
    );
    let (l, _p, _d) = load(&text);
    let i = runs(&l);
    let s: Vec<_> = i
        .track_scripts
        .iter()
        .map(|t| (t.name.as_str(), t.weight.map(|w| w.weight)))
        .collect();
    assert_eq!(s, [("chk", Some(253))]);
    find(
        &l,
        "(VI_1) weight for chk cannot be +/-254. Setting to +/-253",
    );
    find(&l, "(VI_1) unknown track script option foo - ignoring");
    find(
        &l,
        "(VI_1) weight without value specified for track script chk3 - ignoring",
    );
    let w: Vec<_> = i
        .track_interfaces
        .iter()
        .map(|t| (t.name.as_str(), t.weight.weight))
        .collect();
    assert_eq!(w, [("eth1", -253), ("eth2", 0), ("ens33", 5)]);
    find(
        &l,
        "(VI_1) weight 999 for eth2 must be between [-253..253] inclusive. Ignoring...",
    );
    // keepalived's typo, and it takes only `reverse` here.
    find(
        &l,
        "(VI_1) unknown track_interace ens33 weight option noreverse - ignoring",
    );
}

/// An address owner stops tracking a weighted interface; in a sync group it is kept
/// with weight 0, and a tracked file with the default weight 1 gets weight 0.
#[test]
fn owner_and_sync_group_weights_as_keepalived() {
    let (l, _p, _d) = load(&inst(
        "    priority 255\n    track_interface {\n        eth1 weight 10\n        eth2\n    }",
    ));
    let names: Vec<_> = runs(&l)
        .track_interfaces
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["eth2"]);
    find(
        &l,
        "(VI_1) ignoring eth1 tracked interface due to address owner",
    );
    let text = format!(
        "track_file f1 {{\n    file /tmp/f1\n}}\n{}{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n",
        inst(
            "    track_interface {\n        eth1 weight 10\n    }\n    track_file {\n        f1\n    }"
        ),
        inst("").replace("VI_1", "VI_2").replace("51", "52")
    );
    let (l, _p, _d) = load(&text);
    let i = runs(&l);
    assert_eq!(i.track_interfaces[0].weight.weight, 0);
    assert_eq!(i.track_files[0].weight.map(|w| w.weight), Some(0));
    find(
        &l,
        "(VI_1) ignoring eth1 tracked interface weight due to SYNC group",
    );
    find(
        &l,
        "(VI_1) ignoring weight from tracked file f1 due to SYNC group. specify weight 0",
    );
}

/// keepalived reports what it misses at the end of a block at the line of its `}`.
#[test]
fn end_of_block_findings_name_the_closing_brace() {
    let text = format!(
        "vrrp_script nothing {{\n    interval 2\n}}\ntrack_file f {{\n    weight 1\n}}\n{}",
        inst("")
    );
    let (l, _p, _d) = load(&text);
    assert_eq!(
        find(&l, "No script set for vrrp_script nothing - removing").line(),
        3
    );
    assert_eq!(
        find(&l, "No file set for track_file f - ignoring").line(),
        6
    );
}

/// Keywords written twice, as keepalived reads them: a second track_* block is checked
/// for duplicates against the first ("duplicate track_interface eth2 - ignoring"), a
/// second weight of a track_file / vrrp_track_process is "Weight already set ... -
/// ignoring", a second authentication block keeps the password of the first, and a peer
/// listed twice is no VRID clash.
#[test]
fn repeated_keywords_as_keepalived() {
    let text = format!(
        "track_file f {{\n    file /tmp/f\n    weight 2\n    weight 3\n}}\nvrrp_track_process p {{\n    process nginx\n    weight 2\n    weight 3\n}}\n{}",
        inst(
            "    authentication {\n        auth_type PASS\n        auth_pass aaa\n    }\n    authentication {\n        auth_type PASS\n    }\n    unicast_src_ip 10.0.0.5\n    unicast_peer {\n        10.0.0.3\n        10.0.0.3\n    }\n    track_interface {\n        eth2\n    }\n    track_interface {\n        eth2\n        eth1\n    }"
        )
    );
    let (l, _p, _d) = load(&text);
    let c = l.config.as_ref().expect("keepalived runs it");
    assert_eq!(c.track_files[0].weight, 2);
    assert_eq!(c.track_processes[0].weight.weight, 2);
    find(&l, "Weight already set for track file f - ignoring 3");
    find(&l, "Weight already set for track process p - ignoring 3");
    let i = &c.instances[0];
    assert_eq!(i.auth, Auth::password(b"aaa"));
    assert_eq!(i.unicast_peers.len(), 2);
    let names: Vec<_> = i.track_interfaces.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["eth2", "eth1"]);
    assert_eq!(
        find(&l, "(VI_1) duplicate track_interface eth2 - ignoring").line(),
        30
    );
}

/// `native_ipv6` makes the instance IPv6 (keepalived sets the family and VRRPv3, and
/// does nothing else with it); after an IPv4 address it is refused with keepalived's
/// line.
#[test]
fn native_ipv6_sets_the_family() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    \
                native_ipv6\n    virtual_ipaddress {\n        fd00::1\n    }\n}\n";
    let (l, _p, _d) = load(text);
    assert!(
        !l.diagnostics
            .iter()
            .any(|d| d.message.contains("native_ipv6")),
        "{:?}",
        l.diagnostics
    );
    let c = l.config.unwrap();
    assert_eq!(c.instances[0].family, Family::V6);
    let (l, _p, _d) = load(&inst("    mcast_src_ip 10.0.0.2\n    native_ipv6"));
    find(&l, "(VI_1) Cannot specify native_ipv6 with IPv4 addresses");
}
