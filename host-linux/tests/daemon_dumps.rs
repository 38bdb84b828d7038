//! keepalived's signal dumps, compared: the same configuration run by Debian's
//! keepalived 2.2.7 and by vigild on the same host of a namespace LAN (one after the
//! other), each sent DATA (SIGUSR1), STATS (SIGUSR2), JSON and STATS_CLEAR, and the
//! files compared field by field as far as they concern VRRP.
//!
//! Each daemon runs in a private mount namespace with its own tmpfs on /tmp (so
//! parallel runs and the host's /tmp never meet); the test reads its files through
//! `/proc/PID/root/tmp`. A vigild peer on another host is master of one instance, so
//! the dumps also show a backup with a known master.
//!
//! What is normalised (differs by run): timestamps, and advert counters by at most
//! [`ADVERT_SLACK`] (the two daemons are dumped at slightly different points of
//! their advert cycles). What differs on purpose is listed in [`LEFT_OUT`] and
//! explained in docs/dumps.md.

mod common;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vigil_tests::netns::{Netns, privileged_or_skip};

/// Advert counters may differ by this much between the two runs.
const ADVERT_SLACK: u64 = 3;

/// keepalived's lines vigild does not write (docs/dumps.md says why): prefixes of the
/// trimmed line. Global definitions vigild writes are all VRRP's; the others (LVS,
/// SNMP, D-Bus, process priorities, netlink buffers...) are left out.
const LEFT_OUT: &[&str] = &[
    // Instance: keepalived's socket descriptors.
    "fd_in ",
];

/// Global definitions keepalived writes that are not VRRP's (left out by vigild).
const NOT_VRRP_GLOBALS: &[&str] = &[
    "Network namespace",
    "Default smtp_alert",
    "Checkers log all failures",
    "No test config before reload",
    "Dynamic interfaces",
    "Default interface",
    "Disable local IGMP",
    "LVS ",
    "FIFO write vrrp states",
    "VRRP notify priority changes",
    "Gratuitous ARP for each secondary VMAC",
    "nftables",
    "libnftnl",
    "Max auto priority",
    "Min auto priority delay",
    "VRRP process priority",
    "VRRP don't swap",
    "VRRP realtime",
    "Checker ",
    "BFD ",
    "SNMP",
    "DBus",
    "vrrp_netlink",
    "process_monitor",
    "lvs_netlink",
    "rs_init_notifies",
    "no_checker_emails",
    "rx_bufs_multiples",
    "umask",
];

/// Sections of keepalived.data vigild leaves out.
const LEFT_OUT_SECTIONS: &[&str] = &["VRRP Sockpool", "Interfaces"];

/// The dumped host's configuration: a sync group of two masters (one with a
/// password) with `smtp_alert`, a backup of the peer with a tracked script and
/// nopreempt, a VRRPv3 master at 500 ms tracking an interface (with `smtp_alert`,
/// `notify_master_rx_lower_pri` and `notify_deleted` scripts), a unicast instance with a notify script
/// (its peer does not run it: master) and an IPv6 instance.
fn conf() -> String {
    format!(
        r#"global_defs {{
    router_id lb2
    script_user root
    enable_script_security
}}
vrrp_script chk {{
    script "/bin/true"
    interval 1
    weight -10
    rise 2
}}
vrrp_sync_group G1 {{
    group {{
        VI_1
        VI_2
    }}
    smtp_alert
}}
vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {{
        auth_type PASS
        auth_pass secret
    }}
    virtual_ipaddress {{
        10.77.0.100/24
        10.77.0.101
    }}
}}
vrrp_instance VI_2 {{
    state BACKUP
    interface eth0
    virtual_router_id 52
    priority 100
    advert_int 1
    virtual_ipaddress {{
        10.77.0.102/24 label eth0:two
    }}
}}
{}
vrrp_instance VI_4 {{
    state MASTER
    interface eth0
    version 3
    virtual_router_id 54
    priority 120
    advert_int 0.5
    smtp_alert
    notify_master_rx_lower_pri "/bin/true"
    notify_deleted "/bin/true"
    track_interface {{
        lo weight 5
    }}
    virtual_ipaddress {{
        10.77.0.104/24
    }}
}}
vrrp_instance VI_5 {{
    state BACKUP
    interface eth0
    virtual_router_id 55
    priority 110
    advert_int 1
    unicast_src_ip 10.77.0.12
    unicast_peer {{
        10.77.0.11
    }}
    notify_master "/bin/true master"
    virtual_ipaddress {{
        10.77.0.105/24
    }}
}}
vrrp_instance VI_6 {{
    state MASTER
    interface eth0
    virtual_router_id 56
    priority 100
    advert_int 1
    virtual_ipaddress {{
        fd00::106/64
    }}
}}
"#,
        vi3(
            90,
            "BACKUP",
            "nopreempt\n    track_script {\n        chk\n    }"
        )
    )
}

/// VI_3, which the peer (priority 200) is master of.
fn vi3(priority: u8, state: &str, extra: &str) -> String {
    format!(
        "vrrp_instance VI_3 {{\n    state {state}\n    interface eth0\n    virtual_router_id 53\n    \
         priority {priority}\n    advert_int 1\n    {extra}\n    virtual_ipaddress {{\n        \
         10.77.0.103/24\n    }}\n}}\n"
    )
}

/// A daemon in `ns` with a private tmpfs on /tmp; both it and (keepalived) its VRRP
/// child are killed on drop.
struct Daemon {
    child: Option<Child>,
    vrrp_pid_file: Option<PathBuf>,
    log: PathBuf,
}

impl Daemon {
    fn start(ns: &Netns, dir: &Path, program: &str, args: &[&str], log: &str) -> Daemon {
        let log = dir.join(log);
        let out = std::fs::File::create(&log).expect("log file");
        // `unshare` and `sh` exec in place: the child's pid is the daemon's.
        let child = private_tmp(ns)
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("starting the daemon");
        Daemon {
            child: Some(child),
            vrrp_pid_file: None,
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log says `(instance) Entering STATE STATE` for each pair.
    fn wait_states(&self, states: &[(&str, &str)]) {
        let ok = wait_for(Duration::from_secs(20), Duration::from_millis(50), || {
            let log = self.log_text();
            states
                .iter()
                .all(|(i, s)| log.contains(&format!("({i}) Entering {s} STATE")))
                .then_some(())
        });
        assert!(
            ok.is_some(),
            "states {states:?} not reached:\n{}",
            self.log_text()
        );
    }

    /// `/tmp/NAME` as the daemon sees it.
    fn tmp_file(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/tmp/{name}", self.pid()))
    }

    /// Sends `sig` and returns the file it writes, once written (the old one is
    /// removed first).
    fn dump(&self, sig: i32, name: &str) -> String {
        let path = self.tmp_file(name);
        let _ = std::fs::remove_file(&path);
        // nix's Signal has no real-time signals.
        // SAFETY: kill(2) with a pid this test started and a valid signal number.
        unsafe { libc::kill(self.pid() as i32, sig) };
        wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            let text = std::fs::read_to_string(&path).ok()?;
            // keepalived creates the file before it writes it.
            (!text.is_empty()).then_some(text)
        })
        .unwrap_or_else(|| panic!("no {name} after signal {sig}:\n{}", self.log_text()))
    }

    /// SIGTERM, bounded wait; `true` if it was still running and exited 0.
    fn stop(&mut self) -> bool {
        let mut clean = false;
        if let Some(mut c) = self.child.take() {
            let running = matches!(c.try_wait(), Ok(None));
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
            let done = wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
                c.try_wait().ok().flatten()
            });
            clean = running && done.is_some_and(|s| s.success());
            if done.is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(pid) = self
            .vrrp_pid_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        clean
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.child = None;
        let _ = self.stop();
    }
}

/// `ip netns exec NS unshare --mount ... sh -c 'mount tmpfs /tmp; exec PROGRAM ...'`.
fn private_tmp(ns: &Netns) -> Command {
    let mut c = ns.command("unshare");
    c.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o mode=1777 tmpfs /tmp && exec \"$0\" \"$@\"",
    ]);
    c.env_remove("TMPDIR");
    c
}

/// What one daemon wrote.
#[derive(Debug)]
struct Dumps {
    data: String,
    stats: String,
    json: String,
    /// STATS_CLEAR's file, then STATS right after it.
    cleared: String,
    after_clear: String,
}

fn signals(d: &Daemon) -> Dumps {
    Dumps {
        data: d.dump(libc::SIGUSR1, "keepalived.data"),
        stats: d.dump(libc::SIGUSR2, "keepalived.stats"),
        json: d.dump(libc::SIGRTMIN() + 2, "keepalived.json"),
        cleared: d.dump(libc::SIGRTMAX() - 1, "keepalived.stats"),
        after_clear: d.dump(libc::SIGUSR2, "keepalived.stats"),
    }
}

/// The states the dumped host settles in.
const SETTLED: &[(&str, &str)] = &[
    ("VI_1", "MASTER"),
    ("VI_2", "MASTER"),
    ("VI_3", "BACKUP"),
    ("VI_4", "MASTER"),
    ("VI_5", "MASTER"),
    ("VI_6", "MASTER"),
];

fn run_keepalived(ns: &Netns, dir: &Path) -> Dumps {
    let conf = dir.join("keepalived.conf");
    let pid = dir.join("keepalived.pid");
    let vrrp_pid = dir.join("keepalived-vrrp.pid");
    let mut d = Daemon::start(
        ns,
        dir,
        "keepalived",
        &[
            "-n",
            "-l",
            "-D",
            "-P",
            "-f",
            conf.to_str().unwrap(),
            "-p",
            pid.to_str().unwrap(),
            "-r",
            vrrp_pid.to_str().unwrap(),
        ],
        "keepalived.log",
    );
    d.vrrp_pid_file = Some(vrrp_pid);
    d.wait_states(SETTLED);
    // A few adverts from the peer, and the script's first results.
    std::thread::sleep(Duration::from_millis(2500));
    // Signals go to the parent, which passes them to its VRRP child (as keepalived's
    // documentation and `kill -USR1 $(cat /run/keepalived.pid)` do).
    let dumps = signals(&d);
    let _ = d.stop();
    dumps
}

fn run_vigild(ns: &Netns, dir: &Path) -> Dumps {
    let conf = dir.join("keepalived.conf");
    let sock = dir.join("vigild.sock");
    let state = dir.join("vigild.state");
    let mut d = Daemon::start(
        ns,
        dir,
        VIGILD,
        &[
            "-f",
            conf.to_str().unwrap(),
            "--control",
            sock.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        "vigild.log",
    );
    d.wait_states(SETTLED);
    std::thread::sleep(Duration::from_millis(2500));
    let transitions = |log: &str| log.matches(" STATE (").count();
    let before = transitions(&d.log_text());
    let dumps = signals(&d);
    // The dump signals leave the daemon as it was (their default action would end
    // it without resigning): running, no state change, the VIPs in place.
    let log = d.log_text();
    assert!(
        !log.contains("Stopping") && transitions(&log) == before,
        "vigild changed after the dump signals:\n{log}"
    );
    assert!(has_addr(
        ns,
        "eth0",
        std::net::Ipv4Addr::new(10, 77, 0, 100)
    ));
    assert!(d.stop(), "vigild did not stop cleanly:\n{}", d.log_text());
    dumps
}

/// keepalived.data as sections → blocks (an instance, a group, a script, or the
/// section's head) → trimmed lines.
type Blocks = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn data_blocks(text: &str) -> Blocks {
    let mut out = Blocks::new();
    let mut section = String::new();
    let mut block = String::new();
    for line in text.lines() {
        if let Some(s) = line
            .strip_prefix("------< ")
            .and_then(|l| l.strip_suffix(" >------"))
        {
            section = s.to_owned();
            block = String::new();
            continue;
        }
        let trimmed = line.trim().to_owned();
        // Block heads are indented by one space: " VRRP Instance = VI_1".
        if line.starts_with(' ') && !line.starts_with("  ") && section != "Global definitions" {
            block = trimmed.clone();
        }
        out.entry(section.clone())
            .or_default()
            .entry(block.clone())
            .or_default()
            .push(trimmed);
    }
    out
}

/// A timestamp line's value: `SECS.USECS (Day Mon dd hh:mm:ss.usecs yyyy)`.
fn check_timestamp(line: &str) {
    let value = line.split(" = ").nth(1).unwrap_or("");
    let (num, human) = value.split_once(' ').unwrap_or(("", ""));
    let (secs, usecs) = num.split_once('.').unwrap_or(("", ""));
    assert!(
        secs.parse::<u64>().is_ok()
            && usecs.len() == 6
            && human.starts_with('(')
            && human.ends_with(')'),
        "timestamp format: {line:?}"
    );
}

/// The part of a `key = value` line before the value.
fn key(line: &str) -> &str {
    line.split(" = ").next().unwrap_or(line)
}

fn compare_data(ka: &str, vg: &str) {
    let ka = data_blocks(ka);
    let vg = data_blocks(vg);
    for (section, blocks) in &ka {
        if LEFT_OUT_SECTIONS.contains(&section.as_str()) {
            assert!(!vg.contains_key(section), "vigild writes {section}");
            continue;
        }
        let Some(vblocks) = vg.get(section) else {
            panic!("vigild has no section {section:?}");
        };
        for (block, lines) in blocks {
            let Some(vlines) = vblocks.get(block) else {
                panic!("vigild has no {block:?} in {section:?}");
            };
            let mut vleft: Vec<&String> = vlines.iter().collect();
            for line in lines {
                if section == "Global definitions"
                    && NOT_VRRP_GLOBALS.iter().any(|p| line.starts_with(p))
                {
                    assert!(
                        !vlines.contains(line),
                        "{line:?} is listed as left out but vigild writes it"
                    );
                    continue;
                }
                if LEFT_OUT.iter().any(|p| line.starts_with(p)) {
                    continue;
                }
                if key(line) == "Last transition" || key(line) == "Read timeout" {
                    check_timestamp(line);
                    let at = vleft.iter().position(|v| key(v) == key(line));
                    let at = at.unwrap_or_else(|| panic!("{block}: vigild has no {line:?}"));
                    check_timestamp(vleft.remove(at));
                    continue;
                }
                let at = vleft.iter().position(|v| *v == line);
                let at = at.unwrap_or_else(|| {
                    panic!(
                        "{section} / {block}: keepalived wrote {line:?}, vigild did not; vigild's block:\n{}",
                        vlines.join("\n")
                    )
                });
                vleft.remove(at);
            }
            assert!(
                vleft.is_empty(),
                "{section} / {block}: vigild wrote lines keepalived did not: {vleft:?}"
            );
        }
        assert_eq!(
            blocks.keys().collect::<Vec<_>>(),
            vblocks.keys().collect::<Vec<_>>(),
            "{section}: blocks"
        );
    }
}

/// keepalived.stats as (instance, counter path) → value.
fn stats_values(text: &str) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    let mut inst = String::new();
    let mut group = String::new();
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("VRRP Instance: ") {
            inst = n.to_owned();
            continue;
        }
        let t = line.trim();
        let (k, v) = t.split_once(':').expect("key: value");
        if v.trim().is_empty() {
            group = k.to_owned();
            continue;
        }
        // "  Became master" is at the group level.
        let path = if line.starts_with("    ") {
            format!("{group}/{k}")
        } else {
            k.to_owned()
        };
        out.push((inst.clone(), path, v.trim().parse().expect("a count")));
    }
    out
}

fn is_advert_count(path: &str) -> bool {
    path == "Advertisements/Sent"
        || path == "Advertisements/Received"
        || path == "advert_sent"
        || path == "advert_rcvd"
}

fn compare_stats(what: &str, ka: &str, vg: &str) {
    let ka = stats_values(ka);
    let vg = stats_values(vg);
    assert_eq!(ka.len(), vg.len(), "{what}: counters");
    for (k, v) in ka.iter().zip(&vg) {
        assert_eq!((&k.0, &k.1), (&v.0, &v.1), "{what}: layout");
        if is_advert_count(&k.1) {
            assert!(
                k.2.abs_diff(v.2) <= ADVERT_SLACK,
                "{what}: {} {}: keepalived {} vigild {}",
                k.0,
                k.1,
                k.2,
                v.2
            );
        } else {
            assert_eq!(k.2, v.2, "{what}: {} {}", k.0, k.1);
        }
    }
}

fn compare_json(ka: &str, vg: &str) {
    let ka: Value = serde_json::from_str(ka).expect("keepalived's JSON");
    let vg: Value = serde_json::from_str(vg).expect("vigild's JSON");
    let (ka, vg) = (ka.as_array().unwrap(), vg.as_array().unwrap());
    assert_eq!(ka.len(), vg.len());
    for (k, v) in ka.iter().zip(vg) {
        let name = &k["data"]["iname"];
        for part in ["data", "stats"] {
            let (ko, vo) = (k[part].as_object().unwrap(), v[part].as_object().unwrap());
            assert_eq!(
                ko.keys().collect::<Vec<_>>(),
                vo.keys().collect::<Vec<_>>(),
                "{name} {part}: fields and their order"
            );
            for (field, kv) in ko {
                let vv = &vo[field];
                match field.as_str() {
                    "last_transition" => assert!(kv.is_f64() && vv.is_f64(), "{field}"),
                    f if is_advert_count(f) => assert!(
                        kv.as_u64().unwrap().abs_diff(vv.as_u64().unwrap()) <= ADVERT_SLACK,
                        "{name} {field}: {kv} {vv}"
                    ),
                    _ => assert_eq!(kv, vv, "{name} {part}.{field}"),
                }
            }
        }
    }
}

#[test]
fn dumps_match_keepalived() {
    if !privileged_or_skip("dumps_match_keepalived") {
        return;
    }
    // Configurations and logs outside /tmp: the daemons see a private, empty /tmp.
    let dir = tempfile::Builder::new()
        .prefix("vigil-dumps-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("test dir");
    std::fs::write(dir.path().join("keepalived.conf"), conf()).unwrap();
    let net = lan("dmp", 2);
    let peer_dir = workdir("dumps-peer");
    let peer_conf = format!(
        "global_defs {{\n    router_id peer\n}}\n{}",
        vi3(200, "MASTER", "")
    );
    let peer = Vigild::start(&net.host(0).ns, peer_dir.path(), "peer", &peer_conf);
    let dumped = &net.host(1).ns;

    let ka = run_keepalived(dumped, dir.path());
    let vg = run_vigild(dumped, dir.path());
    drop(peer);
    // Kept for reading with VIGIL_KEEP_TEST_DIRS=1.
    for (who, d) in [("keepalived", &ka), ("vigild", &vg)] {
        for (name, text) in [
            ("data", &d.data),
            ("stats", &d.stats),
            ("json", &d.json),
            ("cleared", &d.cleared),
            ("after-clear", &d.after_clear),
        ] {
            let _ = std::fs::write(dir.path().join(format!("{who}.{name}")), text);
        }
    }
    if std::env::var("VIGIL_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
        eprintln!("keeping {}", dir.path().display());
        let _ = dir.keep();
    }

    compare_data(&ka.data, &vg.data);
    // The backup knows its master, from the peer's adverts.
    assert!(
        vg.data
            .contains("   Master router = 10.77.0.11\n   Master priority = 200\n")
    );
    compare_stats("STATS", &ka.stats, &vg.stats);
    compare_json(&ka.json, &vg.json);
    // STATS_CLEAR writes the counters, then zeroes them: the STATS right after it
    // shows at most the adverts of the moment since.
    compare_stats("STATS_CLEAR", &ka.cleared, &vg.cleared);
    compare_stats("STATS after STATS_CLEAR", &ka.after_clear, &vg.after_clear);
    for (inst, path, n) in stats_values(&vg.cleared) {
        if path == "Became master" && inst != "VI_3" {
            assert_eq!(n, 1, "{inst} before the clear");
        }
    }
    for (inst, path, n) in stats_values(&vg.after_clear) {
        let bound = if is_advert_count(&path) {
            ADVERT_SLACK
        } else {
            0
        };
        assert!(n <= bound, "{inst} {path} = {n} after STATS_CLEAR");
    }
}
