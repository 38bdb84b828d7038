//! The vigild binary from the outside: `vigild -t -f` on every seed configuration
//! (keepalived's exit codes), `vigild check` as the systemd unit runs it, and SIGTERM (priority-0 advert, VIPs removed, exit 0)
//! with the notify scripts run with keepalived's four arguments; `use_vmac` (the
//! macvlan with the virtual MAC, created and removed by vigild).

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_linux::config;
use vigil_tests::netns::privileged_or_skip;

fn seeds_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SEEDS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/configs/seeds"
        )),
    }
}

/// What `keepalived -t -f SEED` (Debian's 2.2.7) exits with, measured with the
/// oracle of `config_seeds.rs` (interfaces and scripts present): 6 when scripts run
/// without `enable_script_security`, 5 for the stock sample's warnings.
const KEEPALIVED_EXIT: &[(&str, i32)] = &[
    ("000-master-commented.conf", 6),
    ("000-master-unicast.conf", 6),
    ("000-slave-unicast.conf", 6),
    ("001-ka67-dual-network-dual-master.conf", 6),
    ("001-ka67-lvs-dr.conf", 6),
    ("001-ka67-sync-groups.conf", 6),
    ("001-typo-notify.conf", 6),
    ("002-chk-nginx-mcast-src.conf", 6),
    ("003-dual-master-129.conf", 6),
    ("003-stock-sample.conf", 5),
    ("004-docker-nginx-strict.conf", 6),
];

/// Builds the machine a seed was written for, then runs `argv` there: a network
/// namespace with the interfaces the file names (veth pairs, up) and a mount namespace
/// with tmpfs over /etc/keepalived and /usr/local holding the scripts it names (root's,
/// 0755). `vigild -t` and `vigild check` check the machine, as keepalived does.
const SEED_MACHINE: &str = r#"
f="$1"; shift
for i in $(grep -ho '^[[:space:]]*interface[[:space:]]\+[A-Za-z0-9_.-]*' "$f" | awk '{print $2}' | sort -u); do
  ip link add "$i" type veth peer name "p$i" >/dev/null 2>&1 || exit 90
  ip link set "$i" up || exit 90
done
ip link set lo up
mount -t tmpfs none /etc/keepalived || exit 91
mount -t tmpfs none /usr/local || exit 91
for s in $(grep -ho '/etc/keepalived/[^" ]*\|/usr/local/[^" ]*' "$f" | sort -u); do
  mkdir -p "$(dirname "$s")" && printf '#!/bin/sh\nexit 0\n' > "$s" && chmod 755 "$s"
done
exec "$@"
"#;

fn on_seed_machine(conf: &std::path::Path, argv: &[&std::ffi::OsStr]) -> std::process::Output {
    let out = Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", SEED_MACHINE, "sh"])
        .arg(conf)
        .args(argv)
        .output()
        .expect("running unshare");
    assert!(
        !matches!(out.status.code(), Some(90 | 91)),
        "cannot build the seed's machine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn config_test(path: &std::path::Path) -> (i32, String) {
    let out = on_seed_machine(
        path,
        &[
            VIGILD.as_ref(),
            "-t".as_ref(),
            "-f".as_ref(),
            path.as_os_str(),
        ],
    );
    (
        out.status.code().expect("vigild -t exited by a signal"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_test_exits_as_keepalived_on_every_seed() {
    if !privileged_or_skip("config_test_exits_as_keepalived_on_every_seed") {
        return;
    }
    let dir = seeds_dir();
    let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed directory {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    for p in &seeds {
        let name = p.file_name().unwrap().to_str().unwrap();
        let (code, stderr) = config_test(p);
        // A seed added later: at least the binary agrees with the library.
        let want = KEEPALIVED_EXIT
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| config::test_exit_code(&config::load(p)), |&(_, c)| c);
        assert_eq!(code, want, "vigild -t -f {name}:\n{stderr}");
        if code == 0 {
            assert!(stderr.contains("is valid"), "{stderr}");
        }
    }
    // The typo is reported at its place.
    let typo = dir.join("001-typo-notify.conf");
    if typo.exists() {
        let (_, stderr) = config_test(&typo);
        assert!(
            stderr.contains("001-typo-notify.conf:31:5: warning: unknown keyword `notify_`"),
            "{stderr}"
        );
    }
}

#[test]
fn config_test_exit_codes_of_clean_broken_and_missing_files() {
    if !privileged_or_skip("config_test_exit_codes_of_clean_broken_and_missing_files") {
        return;
    }
    let dir = workdir("cfgtest");
    let ok = dir.path().join("ok.conf");
    std::fs::write(
        &ok,
        global_defs("t", "") + &Inst::v3("VI_1", 51, "MASTER", 150, "1").render(),
    )
    .unwrap();
    let (code, stderr) = config_test(&ok);
    assert_eq!(code, config::exit::OK, "{stderr}");
    assert!(stderr.contains("is valid"), "{stderr}");

    // A keyword without its value: keepalived stops reading (2).
    let abort = dir.path().join("abort.conf");
    std::fs::write(
        &abort,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id\n}\n",
    )
    .unwrap();
    let (code, stderr) = config_test(&abort);
    assert_eq!(
        code,
        config::test_exit_code(&config::load(&abort)),
        "{stderr}"
    );
    assert_ne!(code, 0, "{stderr}");

    let (code, stderr) = config_test(&dir.path().join("missing.conf"));
    assert_eq!(code, config::exit::CONFIG, "{stderr}");
}

/// The `key=` lines of `dist/vigild.service`, in order.
fn unit_lines(key: &str) -> Vec<String> {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/vigild.service"))
        .expect("reading dist/vigild.service");
    let prefix = format!("{key}=");
    unit.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(str::to_owned)
        .collect()
}

/// The command line of the unit's first `key=`, as systemd runs it with `DAEMON_ARGS`
/// (from /etc/default/vigild) set to `-f CONFIG`, and the binary under test for
/// /usr/sbin/vigild. The unit's commands run no shell: plain words, no quoting, no
/// specifier, no variable but `$DAEMON_ARGS`.
fn unit_command(key: &str, config: &std::path::Path) -> Vec<String> {
    let line = unit_lines(key)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {key}= in the unit"));
    assert!(
        !line.contains(['\'', '"', '%', '\\', ';']),
        "{key}= needs a shell's or systemd's unescaping: {line}"
    );
    line.split_whitespace()
        .flat_map(|w| match w {
            "$DAEMON_ARGS" => vec!["-f".to_owned(), config.display().to_string()],
            "/usr/sbin/vigild" => vec![VIGILD.to_owned()],
            w => {
                assert!(!w.contains('$'), "{key}=: unexpected variable in {line}");
                vec![w.to_owned()]
            }
        })
        .collect()
}

fn run_unit_check(key: &str, config: &std::path::Path) -> (bool, String) {
    let argv = unit_command(key, config);
    let argv: Vec<&std::ffi::OsStr> = argv.iter().map(|a| a.as_ref()).collect();
    let out = on_seed_machine(config, &argv);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The check runs before starting and before reloading, as `vigild check` with the
/// daemon's own options: it reads the file the daemon will read.
#[test]
fn unit_checks_with_vigild_check_and_the_daemons_options() {
    assert_eq!(unit_lines("ExecStart"), ["/usr/sbin/vigild $DAEMON_ARGS"]);
    assert_eq!(
        unit_lines("ExecStartPre"),
        ["/usr/sbin/vigild check $DAEMON_ARGS"]
    );
    assert_eq!(
        unit_lines("ExecReload"),
        [
            "/usr/sbin/vigild check $DAEMON_ARGS",
            "/bin/kill -HUP $MAINPID"
        ]
    );
    assert_eq!(unit_lines("EnvironmentFile"), ["-/etc/default/vigild"]);
    assert_eq!(unit_lines("Documentation"), ["man:vigild(8)"]);
}

/// The unit's ExecStartPre / ExecReload check (`vigild check`) passes every seed
/// (warnings, `-t` exits 5 or 6) and logs its diagnostics, and refuses errors, an
/// aborted read and a missing file, logging why.
#[test]
fn unit_config_check_passes_warnings_and_refuses_errors() {
    if !privileged_or_skip("unit_config_check_passes_warnings_and_refuses_errors") {
        return;
    }
    for key in ["ExecStartPre", "ExecReload"] {
        for (name, _) in KEEPALIVED_EXIT {
            let p = seeds_dir().join(name);
            if !p.exists() {
                continue;
            }
            let (ok, text) = run_unit_check(key, &p);
            assert!(ok, "{key} refused {name}: {text}");
            assert!(
                text.contains("warning:"),
                "{key} on {name} logged nothing: {text}"
            );
            assert!(text.contains("would run"), "{key} on {name}: {text}");
        }
        let dir = workdir("unitcheck");
        let bad = dir.path().join("bad.conf");
        // An error keepalived shares and refuses to run with (a VRRPv3 instance without
        // a VIP: `-t` exits 5, the same code as warnings; neither daemon starts; corpus
        // 331). A value keepalived corrects (priority 900) is only a warning now.
        std::fs::write(
            &bad,
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    version 3\n    priority 900\n}\n",
        )
        .unwrap();
        assert_eq!(config_test(&bad).0, config::exit::CONFIG_TEST);
        let (ok, text) = run_unit_check(key, &bad);
        assert!(!ok, "{key} accepted a configuration with an error: {text}");
        assert!(text.contains("error:"), "{text}");
        assert!(text.contains("would be refused"), "{text}");
        let abort = dir.path().join("abort.conf");
        std::fs::write(
            &abort,
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id\n}\n",
        )
        .unwrap();
        let (ok, text) = run_unit_check(key, &abort);
        assert!(!ok, "{key} accepted an aborted read: {text}");
        assert!(text.contains("is missing a value"), "{text}");
        let (ok, text) = run_unit_check(key, &dir.path().join("missing.conf"));
        assert!(!ok, "{key} accepted a missing file: {text}");
        assert!(text.contains("cannot read"), "{text}");
    }
}

/// `vigild check`'s exit codes: 0 (runs, warnings or not), 1 (refused), 2 (usage).
#[test]
fn check_exits_0_when_the_daemon_would_run_1_when_not() {
    let check = |args: &[&std::ffi::OsStr]| {
        Command::new(VIGILD)
            .args(args)
            .output()
            .expect("running vigild check")
            .status
            .code()
            .expect("vigild check exited by a signal")
    };
    let dir = workdir("check");
    let clean = dir.path().join("clean.conf");
    std::fs::write(
        &clean,
        global_defs("t", "") + &Inst::v3("VI_1", 51, "MASTER", 150, "1").render(),
    )
    .unwrap();
    let f = std::ffi::OsStr::new("-f");
    assert_eq!(check(&["check".as_ref(), f, clean.as_os_str()]), 0);
    let bad = dir.path().join("bad.conf");
    std::fs::write(
        &bad,
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 300\n}\n",
    )
    .unwrap();
    assert_eq!(check(&["check".as_ref(), f, bad.as_os_str()]), 1);
    assert_eq!(
        check(&["check".as_ref(), "-t".as_ref(), f, clean.as_os_str()]),
        2
    );
}

/// `--metrics-listen` takes ADDR:PORT; anything else is a usage error (exit 2) that
/// says what it wants, before anything starts. `--json` and `--prometheus` exclude
/// each other.
#[test]
fn metrics_listen_and_status_formats_are_checked() {
    let run = |args: &[&str]| Command::new(VIGILD).args(args).output().unwrap();
    for bad in ["9650", "localhost:9650", "127.0.0.1", "[::]"] {
        let out = run(&["--metrics-listen", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not ADDR:PORT"), "{bad}: {err}");
    }
    let out = run(&["status", "--json", "--prometheus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exclude each other"));
    let help = String::from_utf8(run(&["--help"]).stdout).unwrap();
    assert!(help.contains("--metrics-listen ADDR:PORT") && help.contains("--prometheus"));
}

/// One vigild with two instances and notify scripts; a second host watches the wire.
/// SIGTERM: priority-0 adverts, both VIPs removed, exit 0, notify scripts with
/// keepalived's arguments, in order per instance.
#[test]
fn sigterm_resigns_removes_vips_and_runs_notify_scripts() {
    if !privileged_or_skip("sigterm_resigns_removes_vips_and_runs_notify_scripts") {
        return;
    }
    let lan = lan("vcl", 2);
    let dir = workdir("sigterm");
    let log = dir.path().join("notify.log");
    let script = dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let s = script.display();
    let notify = format!(
        "    notify_master \"{s} own-master\"\n    notify_backup \"{s} own-backup\"\n    \
         notify_stop \"{s} own-stop\"\n    notify {s}"
    );
    let vi1 = Inst::v3("VI_1", 51, "MASTER", 150, "0.1").with_extra(&notify);
    let mut vi2 = Inst::v3("VI_2", 52, "BACKUP", 120, "0.1").with_extra(&notify);
    vi2.vips = vec![format!("{VIP2}/24")];
    let conf = global_defs("lb1", "") + &vi1.render() + &vi2.render();
    let ns = &lan.host(0).ns;
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_1", "MASTER", Duration::from_secs(3));
    v.expect_state("VI_2", "MASTER", Duration::from_secs(3));
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP");
    wait_addr(ns, "eth0", VIP2, true, Duration::from_secs(1)).expect("VIP2");
    let lines = |n: usize| {
        wait_for(Duration::from_secs(3), Duration::from_millis(10), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            (text.lines().count() >= n).then_some(text)
        })
    };
    // Each instance: BACKUP (init), then MASTER (state MASTER waits for nothing but
    // still starts in BACKUP, as keepalived's "Entering BACKUP STATE (init)"), each
    // with its own script and `notify`: 8 lines.
    lines(8).unwrap_or_else(|| {
        panic!(
            "notify scripts did not run: {:?}\n{}",
            std::fs::read_to_string(&log),
            v.log_text()
        )
    });

    // Watch the wire from the other host while vigild stops.
    let (status, frames) = std::thread::scope(|sc| {
        let cap = sc.spawn(|| capture_vrrp(&lan.host(1).ns, Duration::from_millis(700)));
        std::thread::sleep(Duration::from_millis(100));
        let t = Instant::now();
        let st = v.terminate(Duration::from_secs(5));
        eprintln!("vigild stopped in {:?}", t.elapsed());
        (st, cap.join().unwrap())
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}\n{}",
        v.log_text()
    );
    assert!(!has_addr(ns, "eth0", VIP), "VIP left behind");
    assert!(!has_addr(ns, "eth0", VIP2), "VIP2 left behind");
    // A priority-0 advert for each instance (IP header 20 bytes, then VRRP: VRID at
    // byte 1, priority at byte 2).
    for vrid in [51u8, 52] {
        assert!(
            frames
                .iter()
                .any(|(_, f)| f.len() > 37 && f[35] == vrid && f[36] == 0),
            "no priority-0 advert for VRID {vrid}"
        );
    }

    let text = lines(12).unwrap_or_else(|| {
        panic!(
            "stop notifications missing: {:?}",
            std::fs::read_to_string(&log)
        )
    });
    let all: Vec<&str> = text.lines().collect();
    // keepalived's four arguments: INSTANCE, name, state, priority.
    for want in [
        "INSTANCE VI_1 BACKUP 150",
        "INSTANCE VI_1 MASTER 150",
        "INSTANCE VI_2 BACKUP 120",
        "INSTANCE VI_2 MASTER 120",
    ] {
        assert!(all.contains(&want), "{want:?} not in {all:?}");
    }
    for inst in ["VI_1", "VI_2"] {
        let stop = all
            .iter()
            .position(|l| l.starts_with(&format!("INSTANCE {inst} STOP ")))
            .unwrap_or_else(|| panic!("no STOP for {inst}: {all:?}"));
        let master = all
            .iter()
            .position(|l| {
                *l == format!(
                    "INSTANCE {inst} MASTER {}",
                    if inst == "VI_1" { 150 } else { 120 }
                )
            })
            .unwrap();
        assert!(master < stop, "{all:?}");
        assert_eq!(all[stop].split(' ').count(), 4, "{all:?}");
    }
    // The state's own script runs before `notify`, for each event.
    assert_eq!(
        all.iter().filter(|l| **l == "own-stop").count(),
        2,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|l| **l == "own-master").count(),
        2,
        "{all:?}"
    );
    assert_eq!(
        all.iter().filter(|l| **l == "own-backup").count(),
        2,
        "{all:?}"
    );
    assert_eq!(all.len(), 12, "{all:?}");
}

/// `use_vmac`: vigild creates the macvlan `vrrp.51` with the virtual MAC
/// 00:00:5e:00:01:33, installs the VIP on it, sends its adverts from it (the virtual MAC
/// on the wire, the parent interface's address as the source), and removes it at exit.
#[test]
fn use_vmac_runs_on_its_macvlan_and_removes_it_at_exit() {
    if !privileged_or_skip("use_vmac_runs_on_its_macvlan_and_removes_it_at_exit") {
        return;
    }
    let lan = lan("vvm", 2);
    let dir = workdir("vmac");
    let vi1 = Inst::v3("VI_1", 51, "MASTER", 150, "0.1").with_extra("    use_vmac");
    let conf = global_defs("lb1", "") + &vi1.render();
    let ns = &lan.host(0).ns;
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_1", "MASTER", Duration::from_secs(3));
    wait_addr(ns, "vrrp.51", VIP, true, Duration::from_secs(1)).unwrap_or_else(|| {
        panic!(
            "VIP not on vrrp.51: {}\n{}",
            addrs(ns, "vrrp.51"),
            v.log_text()
        )
    });
    let link = ns
        .exec_ok(&["ip", "-o", "link", "show", "dev", "vrrp.51"])
        .unwrap_or_default();
    assert!(
        link.contains("link/ether 00:00:5e:00:01:33"),
        "vrrp.51 without the virtual MAC: {link}"
    );
    let frames = capture_vrrp(&lan.host(1).ns, Duration::from_millis(500));
    let adverts: Vec<&Vec<u8>> = frames
        .iter()
        .map(|(_, f)| f)
        .filter(|f| f[35] == 51)
        .collect();
    assert!(!adverts.is_empty(), "no adverts seen\n{}", v.log_text());
    for f in adverts {
        assert_eq!(&f[6..12], &[0x00, 0x00, 0x5e, 0x00, 0x01, 51], "source MAC");
        assert_eq!(&f[26..30], &host_ip(0).octets(), "source address");
    }
    let status = v.terminate(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "exit {status:?}");
    let gone = wait_for(Duration::from_secs(2), Duration::from_millis(20), || {
        ns.exec_ok(&["ip", "link", "show", "dev", "vrrp.51"])
            .is_err()
            .then_some(())
    });
    assert!(gone.is_some(), "vrrp.51 left behind\n{}", v.log_text());
}
