//! keepalived's configuration language (keepalived.conf(5), "ADVANCED CONFIGURATION"):
//! conditional lines and the config id, parameter substitution, sequence and list blocks,
//! read into a configuration, with their bounds and where diagnostics point.

mod config_common;
use config_common::*;

use std::process::Command;
use vigil_linux::config::{self, KaClass, Loaded};

const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

fn load_as(text: &str, id: &str) -> (Loaded, Dir) {
    let d = Dir::new();
    let p = d.write("keepalived.conf", text);
    (config::load_as(&p, id), d)
}

fn vips(l: &Loaded) -> Vec<String> {
    let c = l.config.as_ref().expect("loads");
    c.instances
        .iter()
        .flat_map(|i| i.vips.iter().chain(&i.excluded_vips))
        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
        .collect()
}

/// keepalived.conf(5)'s own example: one file for the main and the backup router.
const TWO_ROUTERS: &str = "global_defs {
    @main   router_id main_router
    @backup router_id backup_router
}
@main $PRIORITY=240
@backup $PRIORITY=200
vrrp_instance VI_0 {
    interface eth0
    virtual_router_id 50
    priority $PRIORITY
    @main   unicast_src_ip 10.0.0.4
    @backup unicast_src_ip 10.0.0.5
    unicast_peer {
        @^main    10.0.0.4
        @^backup  10.0.0.5
        @^backup2 10.0.0.6
    }
    virtual_ipaddress {
        10.0.0.100/32
    }
}
";

#[test]
fn one_file_for_every_router_of_a_group() {
    let (l, _d) = load_as(TWO_ROUTERS, "main");
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.unwrap();
    let i = &c.instances[0];
    assert_eq!(c.global.router_id.as_deref(), Some("main_router"));
    assert_eq!(i.priority, 240);
    assert_eq!(i.unicast_src_ip, Some(ip("10.0.0.4")));
    let peers: Vec<_> = i.unicast_peers.iter().map(|p| p.addr).collect();
    assert_eq!(peers, [ip("10.0.0.5"), ip("10.0.0.6")]);

    let (l, _d) = load_as(TWO_ROUTERS, "backup");
    let c = l.config.unwrap();
    assert_eq!(c.global.router_id.as_deref(), Some("backup_router"));
    assert_eq!(c.instances[0].priority, 200);

    // Another id: no router_id, and `priority $PRIORITY` is an invalid number.
    let (l, _d) = load_as(TWO_ROUTERS, "other");
    let d = find(&l, "$PRIORITY");
    assert_eq!(at(d), (10, 14));
}

#[test]
fn multi_line_definitions_and_sequences_make_instances() {
    // keepalived.conf(5)'s example, with a ~SEQ instead of repeated uses.
    let text = "$INSTANCE= \\
vrrp_instance VI_${NUM} { \\
    interface eth0 \\
    virtual_router_id ${NUM} \\
    @high priority 130 \\
    @low priority 120 \\
    virtual_ipaddress { \\
        10.0.${NUM}.254/24 \\
    } \\
}

~SEQ(NUM, 1, 3) $INSTANCE
";
    let (l, _d) = load_as(text, "high");
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    let c = l.config.as_ref().unwrap();
    let got: Vec<_> = c
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.vrid, i.priority))
        .collect();
    assert_eq!(got, [("VI_1", 1, 130), ("VI_2", 2, 130), ("VI_3", 3, 130)]);
    assert_eq!(
        vips(&l),
        ["10.0.1.254/24", "10.0.2.254/24", "10.0.3.254/24"]
    );
    // Every generated line points at the use.
    assert!(
        c.instances.iter().all(|i| i.loc.line == 12),
        "{:?}",
        c.instances[0].loc
    );
}

#[test]
fn list_blocks_and_hex_sequences_fill_address_lists() {
    let text = inst(
        "    virtual_ipaddress_excluded {
        ~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2, 168, 2, 170) 192.${IP2}.${IP}.${IP1}
        ~SEQx(AD, 0x90, 0x10, 0xa0) fe80::20:${AD}:1
    }",
    );
    let (l, _d) = load_as(&text, "x");
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    assert_eq!(
        vips(&l),
        [
            "10.0.0.1/32",
            "192.168.10.1/32",
            "192.170.10.1/32",
            "192.168.20.4/32",
            "192.170.20.4/32",
            "fe80::20:90:1/128",
            "fe80::20:a0:1/128",
        ]
    );
}

#[test]
fn broken_uses_are_reported_where_they_were_written() {
    let text = inst("    ~SEQ(N, 1, -1, 3) x\n    ~LST({A}, {1,2}) y\n    priority ${P}");
    let (l, _d) = load_as(&text, "x");
    let seq = find(&l, "invalid ~SEQ specification");
    assert_eq!((seq.ka, at(seq)), (KaClass::Config, (4, 5)));
    let lst = find(&l, "invalid ~LST specification");
    assert_eq!(at(lst), (5, 5));
    // keepalived logs them, skips the lines and runs (`${P}` stays an invalid priority,
    // corrected to 100): warnings, not errors.
    assert!(!l.has_errors(), "{:#?}", l.diagnostics);
}

#[test]
fn self_referencing_definitions_and_huge_blocks_are_refused_quickly() {
    let started = std::time::Instant::now();
    // keepalived loops forever on the first three, and reads a billion lines for the last.
    for (text, needle) in [
        (
            "$A=${A}\nglobal_defs {\n    router_id ${A}\n}\n",
            "does a definition use itself",
        ),
        (
            "$A=x${A}\nglobal_defs {\n    router_id ${A}\n}\n",
            "longer than 1023 bytes",
        ),
        (
            "$A=x \\\n$A\nglobal_defs {\n    $A\n}\n",
            "nested more than 32",
        ),
        (
            "global_defs {\n    ~SEQ(N, 1, 1000000000) router_id x\n}\n",
            "would generate 1000000000 lines",
        ),
    ] {
        let (l, _d) = load_as(text, "x");
        let d = find(&l, needle);
        assert!(d.is_error(), "{d}");
        assert!(l.config.is_none());
    }
    // Not a timing assertion on performance: a hang here would be the bug.
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
}

#[test]
fn the_config_id_option_reaches_the_test_and_defaults_to_the_host_name() {
    let d = Dir::new();
    let p = d.write(
        "keepalived.conf",
        "@lb1 bogus_keyword 1\nglobal_defs {\n    router_id ${_INSTANCE}\n}\n",
    );
    let run = |args: &[&str]| {
        let out = Command::new(VIGILD)
            .arg("-t")
            .arg("-f")
            .arg(&p)
            .args(args)
            .output()
            .expect("vigild runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = run(&["-i", "lb1"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("keepalived.conf:1:6:") && err.contains("bogus_keyword"),
        "{err}"
    );
    let (code, err) = run(&["--config-id=lb2"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run(&["--config-id", "lb1"]);
    assert_eq!(code, Some(5), "{err}");
    // Without -i: the host name up to its first dot, as keepalived.
    let host = config::lexer::default_config_id();
    assert!(!host.is_empty() && !host.contains('.'), "{host:?}");
    let (code, err) = run(&[]);
    assert_eq!(code, Some(if host == "lb1" { 5 } else { 0 }), "{err}");
    let help = Command::new(VIGILD).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--config-id ID"));
}

#[test]
fn includes_generated_by_a_block_are_read_last_first_as_keepalived() {
    let d = Dir::new();
    for n in 1..=3 {
        d.write(
            &format!("part{n}.conf"),
            &format!("global_defs {{\n    bogus_{n} 1\n}}\n"),
        );
    }
    let p = d.write("keepalived.conf", "~SEQ(N, 1, 3) include part${N}.conf\n");
    let l = config::load_as(&p, "x");
    let order: Vec<String> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("bogus_"))
        .map(|d| d.file().file_name().unwrap().to_string_lossy().to_string())
        .collect();
    // keepalived 2.2.7 reports bogus_3, bogus_2, bogus_1 (it stacks the opened files).
    assert_eq!(order, ["part3.conf", "part2.conf", "part1.conf"]);
}
