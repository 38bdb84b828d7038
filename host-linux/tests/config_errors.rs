//! Broken and tricky configurations: every diagnostic names the right file, line and column,
//! keepalived's interaction rules give keepalived's warnings, includes work, and nothing
//! panics on garbage.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use vigil_core::machine::{InitialState, MAX_VIPS};
use vigil_core::wire::{Auth, Family, Version};
use vigil_linux::config::{self, KaClass, Loaded, Severity, exit};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("tempdir"))
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

fn load(text: &str) -> (Loaded, PathBuf, Dir) {
    let d = Dir::new();
    let p = d.write("keepalived.conf", text);
    (config::load(&p), p, d)
}

/// The one diagnostic whose message contains `needle`.
fn find<'a>(l: &'a Loaded, needle: &str) -> &'a config::Diagnostic {
    let v: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains(needle))
        .collect();
    assert_eq!(
        v.len(),
        1,
        "`{needle}` in {:#?}",
        l.diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    v[0]
}

fn at(d: &config::Diagnostic) -> (u32, u32) {
    (d.line(), d.column())
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

const GOOD: &str = "vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1/24 dev eth0 label eth0:1 scope global brd 10.0.0.255
    }
}
";

fn inst(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{body}\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n}}\n"
    )
}

#[test]
fn a_good_config_has_no_diagnostics_and_exits_0() {
    let (l, p, _d) = load(GOOD);
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    assert_eq!(config::test_exit_code(&l), exit::OK);
    let c = l.config.expect("loads");
    let v = &c.instances[0].vips[0];
    assert_eq!((v.addr, v.prefix_len), (ip("10.0.0.1"), 24));
    assert_eq!(v.dev.as_deref(), Some("eth0"));
    assert_eq!(v.label.as_deref(), Some("eth0:1"));
    assert_eq!(v.scope.as_deref(), Some("global"));
    assert_eq!(v.brd, Some("10.0.0.255".parse().unwrap()));
    assert!(v.loc.file.as_ref() == p.as_path());
    assert_eq!((v.loc.line, v.loc.col), (7, 9));
}

#[test]
fn unexpected_close_brace() {
    let (l, p, _d) = load(&format!("{GOOD}  }}\n"));
    let d = find(&l, "unexpected `}`");
    assert_eq!(at(d), (10, 3));
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.file(), p);
    assert!(
        d.to_string()
            .starts_with(&format!("{}:10:3: error: unexpected `}}`", p.display()))
    );
    assert!(l.config.is_none());
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
}

#[test]
fn unclosed_block_names_where_it_opened() {
    let text = GOOD.trim_end().trim_end_matches('}');
    let (l, _p, _d) = load(text);
    let d = find(&l, "missing `}`");
    assert!(d.message.contains("`vrrp_instance VI_1` opened at"), "{d}");
    assert!(d.message.contains("keepalived.conf:1:20"), "{d}");
    assert_eq!(at(d), (9, 1), "reported at the end of the file");
    assert_eq!(d.severity, Severity::Error);
}

#[test]
fn a_missing_close_brace_is_pointed_at_by_the_next_block() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1\n    }\nvrrp_instance VI_2 {\n    interface eth0\n}\n";
    let (l, _p, _d) = load(text);
    let d = find(&l, "is a `}` missing before this line?");
    assert_eq!(at(d), (7, 1));
}

#[test]
fn priority_must_be_a_number_in_1_to_255() {
    for (val, what) in [
        ("300", "out of range"),
        ("abc", "not a number"),
        ("0", "out of range"),
    ] {
        let (l, _p, _d) = load(&inst(&format!("    priority {val}")));
        let d = find(&l, "priority");
        assert!(
            d.message.contains(what) && d.message.contains("1..=255"),
            "{d}"
        );
        assert_eq!(at(d), (4, 14));
        assert_eq!(d.severity, Severity::Error);
        assert!(l.config.is_none());
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    }
}

#[test]
fn virtual_router_id_missing_or_out_of_range() {
    let (l, _p, _d) = load(
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n",
    );
    let d = find(&l, "the virtual router id must be set");
    assert_eq!(at(d), (1, 1));
    assert_eq!(d.severity, Severity::Error);
    for v in ["0", "256"] {
        let text = GOOD.replace("virtual_router_id 51", &format!("virtual_router_id {v}"));
        let (l, _p, _d) = load(&text);
        let d = l.errors().next().expect("an error");
        assert_eq!(at(d), (4, 23), "{d}");
        assert!(d.message.contains("virtual_router_id"), "{d}");
    }
}

/// Found by fuzz/ (config_load): `-t` accepted a unicast instance without `interface`,
/// which the daemon then refused to start with. keepalived 2.2.7 says "Unknown
/// interface!" and exits 5, also when unicast_src_ip is on one of the host's interfaces.
#[test]
fn an_instance_needs_an_interface_also_in_unicast_mode() {
    let text = GOOD.replace(
        "    interface eth0\n",
        "    unicast_src_ip 10.0.0.2\n    unicast_peer {\n        10.0.0.3\n    }\n",
    );
    let (l, _p, _d) = load(&text);
    let d = find(&l, "no `interface`");
    assert_eq!((at(d), d.severity), ((1, 1), Severity::Error));
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    assert!(l.config.is_none());
}

/// The statement tree is dropped recursively: 30,000 nested blocks overflowed the stack
/// (a crash of `-t`, and of the daemon on reload). Past 16 levels blocks are skipped
/// (`parse::MAX_BLOCK_DEPTH`). (30,000 `a{` on one line are a line too long: the lexer
/// refuses it before the parser sees it.)
#[test]
fn blocks_nested_without_end_are_one_error_not_a_stack_overflow() {
    for text in [
        format!("{}{}", "a {\n".repeat(30_000), "}\n".repeat(30_000)),
        "a {\n".repeat(30_000),
    ] {
        let (l, _p, _d) = load(&text);
        let d = find(&l, "blocks nested deeper than 16");
        assert_eq!((d.line(), d.severity), (17, Severity::Error));
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
        assert!(l.diagnostics.len() < 200, "{}", l.diagnostics.len());
    }
}

#[test]
fn a_keyword_without_its_value_stops_keepalived_with_exit_2() {
    let (l, _p, _d) = load(&inst("    priority"));
    let d = find(&l, "`priority` is missing a value");
    assert_eq!(at(d), (4, 5));
    assert_eq!(d.ka, KaClass::Abort);
    assert_eq!(config::test_exit_code(&l), exit::ABORT);
}

#[test]
fn bad_addresses() {
    let (l, _p, _d) = load(&GOOD.replace("10.0.0.1/24", "10.0.0.300"));
    let d = find(&l, "invalid IP address `10.0.0.300`");
    assert_eq!(at(d), (7, 9));
    assert_eq!(d.severity, Severity::Error);
    let (l, _p, _d) = load(&inst("    unicast_src_ip 10.0.0.x"));
    assert_eq!(at(find(&l, "unicast_src_ip `10.0.0.x`")), (4, 20));
    let (l, _p, _d) = load(&GOOD.replace("10.0.0.1/24", "10.0.0.1/33"));
    let d = find(&l, "Invalid address prefix len 33");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(l.config.unwrap().instances[0].vips[0].prefix_len, 32);
}

#[test]
fn unknown_keywords_are_warnings_that_name_the_line_and_skip_their_block() {
    let text = inst(
        "    foo_bar 3\n    frobnicate {\n        x y\n        nested { z }\n    }\n    priority 90",
    );
    let (l, _p, _d) = load(&text);
    assert_eq!(at(find(&l, "unknown keyword `foo_bar`")), (4, 5));
    let d = find(&l, "unknown keyword `frobnicate`");
    assert!(d.message.contains("vigild ignores it and its block"));
    assert_eq!(d.severity, Severity::Warning);
    // The block was skipped with correct brace matching: priority is still read.
    assert_eq!(l.config.as_ref().unwrap().instances[0].priority, 90);
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    // Known keepalived keywords vigild does not implement: a warning, exit code 0.
    let (l, _p, _d) = load(&inst("    promote_secondaries"));
    assert!(
        find(
            &l,
            "`promote_secondaries` in vrrp_instance is not implemented"
        )
        .ka == KaClass::Silent
    );
    assert_eq!(config::test_exit_code(&l), exit::OK);
}

#[test]
fn undefined_track_script_and_unknown_sync_group_member() {
    let text = format!(
        "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_X\n    }}\n}}\n{}",
        inst("    track_script {\n        nosuch weight 5\n    }")
    );
    let (l, _p, _d) = load(&text);
    let d = find(
        &l,
        "Virtual router VI_X specified in sync group G doesn't exist",
    );
    assert_eq!((at(d), d.severity), ((4, 9), Severity::Error));
    let d = find(&l, "track script nosuch not found");
    assert_eq!((at(d), d.severity), ((11, 9), Severity::Error));
    find(&l, "Sync group G has only 1 virtual router(s)");
    assert!(l.config.is_none());
}

#[test]
fn too_many_vips_for_the_core() {
    let vips: String = (1..=MAX_VIPS + 1)
        .map(|i| format!("        10.0.1.{i}\n"))
        .collect();
    let text = format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {{\n{vips}    }}\n}}\n"
    );
    let (l, _p, _d) = load(&text);
    let d = find(&l, "vigild advertises at most");
    assert_eq!(d.severity, Severity::Error);
    assert_eq!(d.line(), 5 + MAX_VIPS as u32);
    // keepalived accepts it: vigild's own refusal exits 4, not 0.
    assert_eq!(config::test_exit_code(&l), exit::CONFIG);
}

#[test]
fn missing_file_and_missing_open_brace() {
    let l = config::load(Path::new("/nonexistent/keepalived.conf"));
    assert!(l.has_errors() && l.config.is_none());
    assert_eq!(config::test_exit_code(&l), exit::CONFIG);
    let (l, _p, _d) = load("global_defs\nrouter_id x\n");
    assert_eq!(at(find(&l, "`global_defs` needs a block")), (1, 1));
}

#[test]
fn unterminated_quote() {
    let (l, _p, _d) = load(&inst("    notify_master \"/bin/true x"));
    let d = find(&l, "unterminated quoted string");
    assert_eq!(at(d), (4, 19));
}

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
    let (l, _p, _d) = load(&inst("    advert_int 0"));
    assert_eq!(
        find(&l, "advert_int `0` is out of range").severity,
        Severity::Error
    );
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
    assert_eq!(find(&l, "auth_type AH").severity, Severity::Error);
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
    let (l, _p, _d) = load(text);
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
        10.0.0.1/24 no_track peer 10.0.0.9
        10.0.0.5 noprefixroute home
    }
    virtual_ipaddress_excluded {
        2001:db8::1/64 nodad preferred_lft forever
    }
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
            "`min_ttl` of unicast peer 10.0.0.3 is not implemented by vigild",
            12,
            18,
        ),
        (
            "`max_ttl` of unicast peer 10.0.0.3 is not implemented by vigild",
            12,
            30,
        ),
        (
            "`no_track` of address 10.0.0.1/24 is not implemented by vigild",
            15,
            21,
        ),
        (
            "`peer` of address 10.0.0.1/24 is not implemented by vigild",
            15,
            30,
        ),
        (
            "`noprefixroute` of address 10.0.0.5 is not implemented",
            16,
            18,
        ),
        ("`home` of address 10.0.0.5 is not implemented", 16, 32),
        (
            "`nodad` of address 2001:db8::1/64 is not implemented",
            19,
            24,
        ),
        (
            "`preferred_lft` of address 2001:db8::1/64 is not implemented",
            19,
            30,
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

#[test]
fn lexical_corner_cases_match_keepalived() {
    // Glued braces, a one-line block, a comment right after a value, `!` comments, a
    // quoted interface name, `{` on the next line.
    let text = "vrrp_instance VI_1{\n    interface \"eth0\" # the LAN\n    virtual_router_id 51#x\n    priority 90! y\n    virtual_ipaddress\n    {\n        10.0.0.1 }\n}\n";
    let (l, _p, _d) = load(text);
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    let i = &c.instances[0];
    assert_eq!(
        (i.vrid, i.priority, i.interface.as_deref()),
        (51, 90, Some("eth0"))
    );
    // No line continuation: keepalived reads `virtual_router_id\` as an unknown keyword.
    let (l, _p, _d) = load(&inst("    priority \\\n        90"));
    find(&l, "unknown keyword `90`");
}

// ----- includes --------------------------------------------------------------------------

#[test]
fn includes_with_globs_and_braces_relative_to_the_including_file() {
    let d = Dir::new();
    d.write(
        "conf.d/10-global.conf",
        "global_defs {\n    router_id inc\n}\n",
    );
    d.write("conf.d/20-vi1.conf", &inst("    priority 50"));
    d.write(
        "conf.d/30-vi2.conf",
        "vrrp_instance VI_2 {\n    interface eth0\n    virtual_router_id 52\n    bogus_kw 1\n    virtual_ipaddress {\n        include ../vips/*.vip\n    }\n}\n",
    );
    d.write("vips/a.vip", "10.0.2.1\n");
    d.write("vips/b.vip", "10.0.2.2\n");
    d.write("extra/x.conf", "vrrp_script a {\n    script /bin/true\n}\n");
    d.write("extra/y.conf", "vrrp_script b {\n    script /bin/true\n}\n");
    let main = d.write(
        "keepalived.conf",
        "include conf.d/*.conf\ninclude extra/{x,y}.conf\ninclude nothing/*.conf\n",
    );
    let l = config::load(&main);
    let bogus = find(&l, "unknown keyword `bogus_kw`");
    assert!(bogus.file().ends_with("conf.d/30-vi2.conf"), "{bogus}");
    assert_eq!(at(bogus), (4, 5));
    let none = find(&l, "matches no file");
    assert_eq!((none.ka, at(none)), (KaClass::Silent, (3, 1)));
    let c = l.config.expect("loads");
    assert_eq!(c.global.router_id.as_deref(), Some("inc"));
    assert_eq!(c.instances.len(), 2);
    let vips: Vec<IpAddr> = c
        .instance("VI_2")
        .unwrap()
        .vips
        .iter()
        .map(|v| v.addr)
        .collect();
    assert_eq!(vips, [ip("10.0.2.1"), ip("10.0.2.2")]);
    assert!(
        c.instance("VI_2").unwrap().vips[1]
            .loc
            .file
            .ends_with("vips/b.vip")
    );
    assert_eq!(c.scripts.len(), 2);
}

/// glob(3) has no `**`: keepalived 2.2.7 reads `include **/*.conf` as `*/*.conf` (one
/// level down, so not the including file itself), where the glob crate went into every
/// subdirectory and back to the including file (an include cycle, exit 5).
#[test]
fn a_double_star_in_an_include_is_one_star_as_for_glob3() {
    let d = Dir::new();
    d.write("a/one.conf", &inst("    priority 50"));
    d.write(
        "a/b/deep.conf",
        "vrrp_instance DEEP {\n    interface eth0\n    virtual_router_id 9\n}\n",
    );
    for pattern in ["**/*.conf", "a/o**e.conf"] {
        let main = d.write("keepalived.conf", &format!("include {pattern}\n"));
        let l = config::load(&main);
        assert!(l.diagnostics.is_empty(), "{pattern}: {:#?}", l.diagnostics);
        let c = l.config.expect("loads");
        let names: Vec<&str> = c.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["VI_1"], "{pattern}");
    }
}

#[test]
fn include_cycles_are_errors() {
    let d = Dir::new();
    d.write("a.conf", "include b.conf\n");
    d.write("b.conf", "include a.conf\n");
    let main = d.write("keepalived.conf", &format!("include a.conf\n{GOOD}"));
    let l = config::load(&main);
    let e = find(&l, "include cycle");
    assert!(e.file().ends_with("b.conf"), "{e}");
    assert!(
        e.message.contains("a.conf -> ") && e.message.contains("b.conf -> "),
        "{e}"
    );
    assert_eq!(e.severity, Severity::Error);
    // A file including itself.
    let d = Dir::new();
    let main = d.write("keepalived.conf", "include keepalived.conf\n");
    assert!(config::load(&main).has_errors());
}

// ----- exit codes ----------------------------------------------------------------------

#[test]
fn exit_codes_follow_keepalived() {
    let (l, _p, _d) = load(GOOD);
    assert_eq!(config::test_exit_code(&l), 0);
    // Only warnings keepalived also gives: 5, and the configuration loads.
    let (l, _p, _d) = load(&inst("    state FOO"));
    assert!(l.config.is_some());
    assert_eq!(config::test_exit_code(&l), 5);
    // Scripts without enable_script_security: 6.
    let (l, _p, _d) = load(&inst("    notify_master /bin/true"));
    assert_eq!(config::test_exit_code(&l), 6);
    let (l, _p, _d) = load(&format!(
        "global_defs {{\n    enable_script_security\n}}\n{}",
        inst("    notify_master /bin/true")
    ));
    assert_eq!(config::test_exit_code(&l), 0);
    // Mail settings: vigild's own warning only.
    let (l, _p, _d) = load(&format!(
        "global_defs {{\n    smtp_server 127.0.0.1\n}}\n{GOOD}"
    ));
    assert_eq!(l.warnings().count(), 1);
    assert_eq!(config::test_exit_code(&l), 0);
}

// ----- robustness --------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..2000 {
        let len = r.below(300);
        let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let l = config::load_str(Path::new("/nonexistent/fuzz.conf"), &text);
        let _ = config::test_exit_code(&l);
    }
}

#[test]
fn random_token_soups_never_panic() {
    const WORDS: &[&str] = &[
        "{",
        "}",
        "{",
        "}",
        "\n",
        "\n",
        "\n",
        "\"",
        "#",
        "!",
        "\\",
        "vrrp_instance",
        "VI_1",
        "global_defs",
        "vrrp_script",
        "vrrp_sync_group",
        "group",
        "track_script",
        "weight",
        "-5",
        "reverse",
        "state",
        "MASTER",
        "BACKUP",
        "interface",
        "eth0",
        "virtual_router_id",
        "51",
        "0",
        "256",
        "priority",
        "255",
        "advert_int",
        "0.5",
        "1.5",
        "version",
        "3",
        "nopreempt",
        "preempt_delay",
        "authentication",
        "auth_type",
        "PASS",
        "AH",
        "auth_pass",
        "virtual_ipaddress",
        "virtual_ipaddress_excluded",
        "10.0.0.1",
        "10.0.0.1/24",
        "fe80::1",
        "2001:db8::1/64",
        "dev",
        "label",
        "scope",
        "brd",
        "unicast_peer",
        "unicast_src_ip",
        "mcast_src_ip",
        "notify_master",
        "\"/bin/x a\"",
        "notify",
        "track_interface",
        "track_process",
        "track_file",
        "vrrp_track_process",
        "process",
        "quorum",
        "vrrp_strict",
        "virtual_server",
        "real_server",
        "include",
        "/nonexistent/*.conf",
        "@x",
        "$A=1",
        "~SEQ",
        "script",
        "interval",
        "rise",
        "fall",
        "sync_group_tracking_weight",
        "use_vmac",
        "x",
        "garp_master_delay",
        "garp_master_repeat",
        "down_timer_adverts",
        "100",
        "-1",
        "",
    ];
    let mut r = Rng(42);
    for _ in 0..3000 {
        let n = r.below(80);
        let mut text = String::new();
        for _ in 0..n {
            text.push_str(WORDS[r.below(WORDS.len())]);
            text.push(if r.below(4) == 0 { '\n' } else { ' ' });
        }
        let l = config::load_str(Path::new("/nonexistent/soup.conf"), &text);
        let _ = config::test_exit_code(&l);
        if let Some(c) = &l.config {
            for i in &c.instances {
                let p = if i.family == Family::V4 {
                    ip("192.0.2.1")
                } else {
                    ip("fe80::1")
                };
                let _ = i.core_config(p);
                let _ = i.vips();
            }
        }
    }
}
