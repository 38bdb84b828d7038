//! Reading configuration text: lexical corner cases as keepalived reads them, includes,
//! and nothing panics on garbage.

mod config_common;
use config_common::*;

use std::net::IpAddr;
use std::path::Path;
use vigil_core::wire::Family;
use vigil_linux::config::{self, KaClass, Severity};

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

/// keepalived follows a cycle until it runs out of file descriptors ("Too many open files -
/// skipping") and runs what it read (`-t` exits 0): vigild skips the include that closes
/// the cycle with a note, so the configuration loads.
#[test]
fn include_cycles_are_skipped_with_a_note() {
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
    assert_eq!(e.severity, Severity::Warning);
    assert_eq!(config::test_exit_code(&l), 0);
    assert_eq!(l.config.expect("loads").instances.len(), 1);
    // A file including itself.
    let d = Dir::new();
    let main = d.write(
        "keepalived.conf",
        &format!("include keepalived.conf\n{GOOD}"),
    );
    let l = config::load(&main);
    assert!(!l.has_errors(), "{:#?}", l.diagnostics);
    assert_eq!(l.config.expect("loads").instances.len(), 1);
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
