//! Broken configurations: every diagnostic names the right file, line and column, and
//! `-t` exits with keepalived's codes. (keepalived's interaction rules are in
//! `config_rules.rs`; lexing, includes and garbage input in `config_input.rs`.)

mod config_common;
use config_common::*;

use std::path::Path;
use vigil_core::machine::MAX_VIPS;
use vigil_linux::config::{self, KaClass, Severity, exit};

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

/// keepalived reads a stray `}` at the top level as an unknown keyword ("Extra '}'
/// found") and runs the configuration: a warning, exit 5.
#[test]
fn unexpected_close_brace() {
    let (l, p, _d) = load(&format!("{GOOD}  }}\n"));
    let d = find(&l, "unexpected `}`");
    assert_eq!(at(d), (10, 3));
    assert_eq!(d.severity, Severity::Warning);
    assert!(d.message.contains("Extra '}' found"), "{d}");
    assert_eq!(d.file(), p);
    assert!(
        d.to_string()
            .starts_with(&format!("{}:10:3: warning: unexpected `}}`", p.display()))
    );
    assert!(l.config.is_some());
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
}

/// keepalived closes the blocks left open at the end of the file, after "There are 1
/// missing '}'s or extra '{'s" (exit 5): vigild warns, naming where the block opened.
#[test]
fn unclosed_block_names_where_it_opened() {
    let text = GOOD.trim_end().trim_end_matches('}');
    let (l, _p, _d) = load(text);
    let d = find(&l, "missing '}'s");
    assert!(
        d.message.contains("`vrrp_instance VI_1` is still open"),
        "{d}"
    );
    assert!(d.message.contains("keepalived.conf:1:20"), "{d}");
    assert_eq!(at(d), (9, 1), "reported at the end of the file");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(
        l.config.as_ref().expect("keepalived runs it").instances[0].priority,
        100
    );
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
}

#[test]
fn a_missing_close_brace_is_pointed_at_by_the_next_block() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.1\n    }\nvrrp_instance VI_2 {\n    interface eth0\n}\n";
    let (l, _p, _d) = load(text);
    let d = find(&l, "is a `}` missing before this line?");
    assert_eq!(at(d), (7, 1));
}

/// keepalived 2.2.7: "number '300' outside range [1, 255]" and "(VI_1) Priority not valid!
/// must be between 1 & 255. Using default 100": a warning, priority 100, and it runs.
#[test]
fn a_bad_priority_is_a_warning_and_priority_100() {
    for (val, why) in [
        ("300", "number '300' outside range [1, 255]"),
        ("abc", "invalid number 'abc'"),
        ("0", "number '0' outside range [1, 255]"),
        ("-5", "negative number '-5'"),
    ] {
        let (l, _p, _d) = load(&inst(&format!("    state MASTER\n    priority {val}")));
        let d = find(
            &l,
            "Priority not valid! must be between 1 & 255. Using default 100",
        );
        assert!(d.message.starts_with(why), "{d}");
        assert_eq!((at(d), d.severity), ((5, 14), Severity::Warning));
        let c = l.config.as_ref().expect("keepalived runs it");
        // Written (if invalid) priority: state MASTER does not make it the owner.
        assert_eq!(c.instances[0].priority, 100);
        assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    }
}

/// keepalived 2.2.7: a bad VRID is "(VI_1): VRID '0' not valid - must be between 1 & 255"
/// and is ignored; an instance left without one is refused ("the virtual router id must
/// be set", keepalived does not start its VRRP process).
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
        let d = find(
            &l,
            &format!("(VI_1): VRID '{v}' not valid - must be between 1 & 255"),
        );
        assert_eq!((at(d), d.severity), ((4, 23), Severity::Warning), "{d}");
        assert!(l.config.is_none(), "no VRID left: refused");
    }
    // A later bad line leaves the earlier VRID in place.
    let text = GOOD.replace(
        "virtual_router_id 51",
        "virtual_router_id 51\n    virtual_router_id 300",
    );
    let (l, _p, _d) = load(&text);
    assert_eq!(l.config.expect("runs").instances[0].vrid, 51);
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
/// (a crash of `-t`, and of the daemon on reload). Only blocks skipped with matched
/// braces nest (an LVS block here; elsewhere keepalived ignores a `{` after an unknown
/// keyword): past 16 levels they are skipped (`parse::MAX_BLOCK_DEPTH`). (30,000 `a{` on
/// one line are a line too long: the lexer refuses it before the parser sees it.)
#[test]
fn blocks_nested_without_end_are_one_error_not_a_stack_overflow() {
    // vigild's bound on the VRRP reading (which skips the block); keepalived's checker
    // reads the block and reports each unknown `a`, its ignored `{` and the stray `}`s
    // (exit 5); unclosed: its "missing '}'s" too.
    for (text, code) in [
        (
            format!(
                "virtual_server 10.0.0.1 80 {{\n{}{}",
                "a {\n".repeat(30_000),
                "}\n".repeat(30_001)
            ),
            exit::CONFIG_TEST,
        ),
        (
            format!("virtual_server 10.0.0.1 80 {{\n{}", "a {\n".repeat(30_000)),
            exit::CONFIG_TEST,
        ),
    ] {
        let (l, _p, _d) = load(&text);
        let d = find(&l, "blocks nested deeper than 16");
        assert_eq!((d.line(), d.severity), (17, Severity::Error));
        assert_eq!(config::test_exit_code(&l), code);
        assert!(l.diagnostics.len() < 200, "{}", l.diagnostics.len());
    }
    // Outside skipped blocks each `{` is keepalived's "Unexpected '{'": no nesting.
    let (l, _p, _d) = load(&"a {\n".repeat(30_000));
    let first = &l.diagnostics[0];
    assert!(
        first.message.contains("Unexpected '{'") && first.line() == 1,
        "{first}"
    );
    assert_eq!(l.summary.warnings, 60_001, "{:?}", l.summary);
}

#[test]
fn a_keyword_without_its_value_stops_keepalived_with_exit_2() {
    let (l, _p, _d) = load(&inst("    priority"));
    let d = find(&l, "`priority` is missing a value");
    assert_eq!(at(d), (4, 5));
    assert_eq!(d.ka, KaClass::Abort);
    assert_eq!(config::test_exit_code(&l), exit::ABORT);
}

/// keepalived 2.2.7 skips a malformed address with a warning and runs the rest.
#[test]
fn bad_addresses() {
    let text = GOOD.replace("10.0.0.1/24", "10.0.0.300\n        10.0.0.1/24");
    let (l, _p, _d) = load(&text);
    let d = find(&l, "VRRP parsed invalid IP 10.0.0.300. skipping IP...");
    assert_eq!((at(d), d.severity), ((7, 9), Severity::Warning));
    assert_eq!(l.config.expect("runs").instances[0].vips.len(), 1);
    let (l, _p, _d) = load(&inst("    unicast_src_ip 10.0.0.x"));
    let d = find(
        &l,
        "Configuration error: VRRP instance[VI_1] malformed src address[10.0.0.x]. Skipping...",
    );
    assert_eq!((at(d), d.severity), ((4, 20), Severity::Warning));
    let (l, _p, _d) = load(&GOOD.replace("10.0.0.1/24", "10.0.0.1/33"));
    let d = find(&l, "Invalid address prefix len 33");
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(l.config.unwrap().instances[0].vips[0].prefix_len, 32);
}

/// keepalived does not skip the block of an unknown keyword: it ignores the keyword line
/// and its `{` ("Unexpected '{' - ignoring"), reads the lines after as keywords of the
/// enclosing block, and the `}` closes the enclosing block. vigild means the same, and
/// says so loudly.
#[test]
fn unknown_keywords_are_warnings_and_their_block_belongs_to_the_enclosing_one() {
    let text =
        inst("    foo_bar 3\n    frobnicate {\n        priority 90\n    }\n    advert_int 3");
    let (l, _p, _d) = load(&text);
    assert_eq!(at(find(&l, "unknown keyword `foo_bar`")), (4, 5));
    let d = find(&l, "unknown keyword `frobnicate`");
    assert_eq!(d.severity, Severity::Warning);
    let d = find(&l, "Unexpected '{' - ignoring after `frobnicate`");
    assert_eq!(at(d), (5, 16));
    assert!(
        d.message.contains(
            "belong to `vrrp_instance VI_1` (opened at line 1) and the next `}` closes it"
        ),
        "{d}"
    );
    // The `}` of frobnicate closed the instance: what follows is at the top level.
    assert_eq!(at(find(&l, "unknown keyword `advert_int`")), (8, 5));
    assert_eq!(at(find(&l, "unknown keyword `virtual_ipaddress`")), (9, 5));
    let c = l.config.as_ref().expect("keepalived runs it");
    assert_eq!(c.instances[0].priority, 90);
    assert!(c.instances[0].vips.is_empty());
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    // Known keepalived keywords vigild does not implement: a warning, exit code 0.
    let (l, _p, _d) = load(&inst("    track_src_ip"));
    assert!(find(&l, "`track_src_ip` in vrrp_instance is not implemented").ka == KaClass::Silent);
    assert_eq!(config::test_exit_code(&l), exit::OK);
}

/// keepalived 2.2.7: "(VI_1) track script nosuch not found, ignoring..." and "Virtual
/// router VI_X specified in sync group G doesn't exist - ignoring" are warnings; it runs
/// without them. A script defined below the instance is not found either (keepalived looks
/// it up when it reads the reference).
#[test]
fn undefined_track_script_and_unknown_sync_group_member() {
    let text = format!(
        "vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_X\n    }}\n}}\n{}vrrp_script later {{\n    script /bin/true\n}}\n",
        inst("    track_script {\n        nosuch weight 5\n        later\n    }")
    );
    let (l, _p, _d) = load(&text);
    let d = find(
        &l,
        "Virtual router VI_X specified in sync group G doesn't exist - ignoring",
    );
    assert_eq!((at(d), d.severity), ((4, 9), Severity::Warning));
    let d = find(&l, "(VI_1) track script nosuch not found, ignoring...");
    assert_eq!((at(d), d.severity), ((11, 9), Severity::Warning));
    let d = find(&l, "(VI_1) track script later not found, ignoring...");
    assert_eq!((at(d), d.severity), ((12, 9), Severity::Warning));
    find(&l, "Sync group G has only 1 virtual router(s)");
    let c = l.config.expect("keepalived runs it");
    assert!(c.instances[0].track_scripts.is_empty());
    assert_eq!(c.sync_groups[0].members.len(), 1);
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
    // keepalived's parent process reads the next lines as global_defs all the same (up
    // to a `}`), its VRRP process reads them at the top level.
    let (l, _p, _d) = load("global_defs\nrouter_id x\n");
    assert_eq!(at(find(&l, "Missing '{'")), (2, 1));
    assert_eq!(at(find(&l, "unknown keyword `router_id`")), (2, 1));
    assert_eq!(
        l.config.expect("runs").global.router_id.as_deref(),
        Some("x")
    );
}

#[test]
fn unterminated_quote() {
    let (l, _p, _d) = load(&inst("    notify_master \"/bin/true x"));
    let d = find(&l, "unterminated quoted string");
    assert_eq!(at(d), (4, 19));
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
    // Scripts without enable_script_security: 6, from the machine check (the scripts
    // exist); the file alone says nothing about them.
    let (l, _p, _d) = load(&inst("    notify_master /bin/true"));
    assert_eq!(config::test_exit_code(&l), 0);
    let (l, _p, _d) = load_checked(&inst("    notify_master /bin/true"));
    assert_eq!(config::test_exit_code(&l), 6);
    let (l, _p, _d) = load_checked(&format!(
        "global_defs {{\n    enable_script_security\n    script_user root\n}}\n{}",
        inst("    notify_master /bin/true")
    ));
    assert_eq!(config::test_exit_code(&l), 0, "{:?}", l.diagnostics);
    // Mail settings: read and acted on, as keepalived (no warning).
    let (l, _p, _d) = load(&format!(
        "global_defs {{\n    smtp_server 127.0.0.1\n}}\n{GOOD}"
    ));
    assert_eq!(l.warnings().count(), 0, "{:?}", l.diagnostics);
    assert_eq!(config::test_exit_code(&l), 0);
}

/// What keepalived 2.2.7 applied, read from its data dump (SIGUSR1, run with `-n -l -D`
/// in a private namespace): the lines of an unknown keyword's block belong to the
/// enclosing block, whose `}` came early; a value block ends at its first `}`; a
/// `global_defs` closed early leaves the rest to the top level, unread.
#[test]
fn blocks_mean_what_keepalived_applied() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/config-corpus");
    let read = |name: &str| {
        let l = config::load(&dir.join(name));
        l.config
            .unwrap_or_else(|| panic!("{name}: {:#?}", l.diagnostics))
    };
    // keepalived: Priority = 90, Advert interval = 1 sec, Preempt = enabled.
    let c = read("701-tree-unknown-block-instance.conf");
    let i = &c.instances[0];
    assert_eq!(i.priority, 90);
    assert_eq!(i.advert_int, vigil_core::timer::Interval::DEFAULT);
    assert!(i.preempt);
    assert_eq!(i.vips.len(), 1);
    // keepalived: Router ID = lb01, Gratuitous ARP delay = 5 (the default, not 10).
    let c = read("702-tree-unknown-block-global.conf");
    assert_eq!(c.global.router_id.as_deref(), Some("lb01"));
    assert_eq!(
        c.global.garp_master_delay,
        std::time::Duration::from_secs(5)
    );
    // keepalived: Virtual IP (1): 10.17.0.173/24 (`{` is an invalid address, and
    // 10.17.1.173/24 after the first `}` an unknown keyword of the instance).
    let l = config::load(&dir.join("703-tree-nested-braces.conf"));
    assert_eq!(
        at(find(&l, "VRRP parsed invalid IP {. skipping IP...")),
        (8, 9)
    );
    assert_eq!(at(find(&l, "unknown keyword `10.17.1.173/24`")), (11, 9));
    let c = read("703-tree-nested-braces.conf");
    let vips: Vec<String> = c.instances[0]
        .vips
        .iter()
        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
        .collect();
    assert_eq!(vips, ["10.17.0.173/24"]);
    // keepalived: one instance VI_1, Interface = eth1, Virtual Router ID = 185,
    // Priority = 150, Virtual IP (2): the second instance merged into the first.
    let c = read("712-tree-instance-inside-instance.conf");
    assert_eq!(c.instances.len(), 1);
    let i = &c.instances[0];
    assert_eq!(i.name, "VI_1");
    assert_eq!(i.interface.as_deref(), Some("eth1"));
    assert_eq!((i.vrid, i.priority, i.vips.len()), (185, 150, 2));
}
