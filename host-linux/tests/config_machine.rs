//! `vigild -t` checks the machine as `keepalived -t` (2.2.7) does: interfaces in a real
//! network namespace, scripts of various modes and owners in a scratch directory. Each
//! case runs both programs on the same file in the same namespace and asserts the exit
//! code measured with keepalived, the same code from vigild, that every line keepalived
//! names is named by vigild, and what the unit's check (`vigild check`) decides.

use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::process::Output;
use vigil_tests::netns::{Netns, privileged_or_skip};

const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

/// A namespace with eth0 and eth1 (veth pairs, up) and a scratch directory for scripts.
struct Machine {
    ns: Netns,
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let ns = Netns::new("vcheck").expect("namespace");
        for i in ["eth0", "eth1"] {
            ns.exec_ok(&[
                "ip",
                "link",
                "add",
                i,
                "type",
                "veth",
                "peer",
                "name",
                &format!("p{i}"),
            ])
            .expect("veth");
            ns.exec_ok(&["ip", "link", "set", i, "up"]).expect("up");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        Machine { ns, dir }
    }

    /// A `#!/bin/sh` script at `name` (under the scratch directory) with `mode` and owner.
    fn script(&self, name: &str, mode: u32, uid: u32, gid: u32) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        chown(&p, Some(uid), Some(gid)).unwrap();
        p
    }

    /// A directory under the scratch directory with `mode` (root's).
    fn subdir(&self, name: &str, mode: u32) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    fn conf(&self, text: &str) -> PathBuf {
        let p = self.dir.path().join("keepalived.conf");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, argv: &[&str]) -> Output {
        self.ns.exec(argv).expect("running in the namespace")
    }
}

/// Line numbers keepalived names: `(FILE: Line N)` or `(Line N)`.
fn keepalived_lines(stderr: &str) -> Vec<u32> {
    stderr
        .split("Line ")
        .skip(1)
        .filter_map(|rest| rest.split(')').next()?.trim().parse().ok())
        .collect()
}

/// Line numbers vigild names: `FILE:LINE:COL: severity: ...`.
fn vigild_lines(stderr: &str, file: &Path) -> Vec<u32> {
    let prefix = format!("{}:", file.display());
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix)?.split(':').next()?.parse().ok())
        .collect()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited by a signal")
}

/// Runs the case: keepalived -t exits `want`, vigild -t too, lines covered, and
/// `vigild check` accepts (`starts`) or refuses.
fn case(m: &Machine, what: &str, text: &str, want: i32, starts: bool) {
    let f = m.conf(text);
    let fs = f.to_str().unwrap();
    let ka = m.run(&["keepalived", "-t", "-f", fs]);
    let ka_err = String::from_utf8_lossy(&ka.stderr).into_owned();
    assert_eq!(code(&ka), want, "{what}: keepalived -t\n{ka_err}\n{text}");
    let v = m.run(&[VIGILD, "-t", "-f", fs]);
    let v_err = String::from_utf8_lossy(&v.stderr).into_owned();
    assert_eq!(
        code(&v),
        want,
        "{what}: vigild -t\n{v_err}\nkeepalived said:\n{ka_err}\n{text}"
    );
    let named = vigild_lines(&v_err, &f);
    for l in keepalived_lines(&ka_err) {
        assert!(
            named.contains(&l),
            "{what}: keepalived names line {l}, vigild does not:\n{v_err}\nkeepalived:\n{ka_err}"
        );
    }
    let check = m.run(&[VIGILD, "check", "-f", fs]);
    let check_err = String::from_utf8_lossy(&check.stderr);
    assert_eq!(
        code(&check) == 0,
        starts,
        "{what}: vigild check\n{check_err}"
    );
    // Where keepalived keeps every script, the daemon's own check (run when it builds
    // its plan) disables none either.
    if want == 0 {
        let daemon_disabled = ["VRRP_Script(", "Unsafe permissions", "Cannot find script"]
            .iter()
            .any(|m| check_err.contains(m));
        assert!(
            !daemon_disabled,
            "{what}: the daemon disables a script -t accepted:\n{check_err}"
        );
    }
}

fn conf(global: &str, top: &str, body: &str) -> String {
    format!(
        "global_defs {{\n{global}\n}}\n{top}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 100\n{body}\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n}}\n"
    )
}

fn tracked(path: &Path) -> (String, &'static str) {
    (
        format!("vrrp_script chk {{\n    script \"{}\"\n}}", path.display()),
        "    track_script {\n        chk\n    }",
    )
}

const SECURE: &str = "    enable_script_security\n    script_user root";

fn have_keepalived() -> bool {
    let ok = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if !ok {
        assert!(
            std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
            "keepalived is not installed (scripts/setup installs it)"
        );
        eprintln!("SKIPPED: keepalived is not installed");
    }
    ok
}

#[test]
fn interfaces_that_do_not_exist() {
    if !privileged_or_skip("interfaces_that_do_not_exist") || !have_keepalived() {
        return;
    }
    let m = Machine::new();
    case(
        &m,
        "instance interface",
        &conf("", "", "").replace("interface eth0", "interface eth9"),
        5,
        false,
    );
    case(
        &m,
        "track_interface",
        &conf(
            "",
            "",
            "    track_interface {\n        eth1\n        eth9\n    }",
        ),
        5,
        false,
    );
    case(
        &m,
        "VIP dev",
        &conf(
            "",
            "",
            "    virtual_ipaddress_excluded {\n        10.0.0.2 dev eth8\n    }",
        ),
        5,
        false,
    );
    // The daemon refuses it too (keepalived's VRRP process exits with a permanent
    // CONFIG error): exit 4 at once, bounded by `timeout` should it start instead.
    let f = m.conf(&conf("", "", "").replace("interface eth0", "interface eth9"));
    let sock = m.dir.path().join("vigild.sock");
    let out = m.run(&[
        "timeout",
        "10",
        VIGILD,
        "-f",
        f.to_str().unwrap(),
        "--control",
        sock.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        4,
        "the daemon on a missing interface:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // keepalived stops at the missing interface: no script-security verdict (5, not 6).
    let notify = m.script("notify.sh", 0o755, 0, 0);
    case(
        &m,
        "missing interface with a script",
        &conf(
            "",
            "",
            &format!(
                "    notify_master {}\n    track_interface {{\n        eth9\n    }}",
                notify.display()
            ),
        ),
        5,
        false,
    );
    case(
        &m,
        "all present",
        &conf(SECURE, "", "    track_interface {\n        eth1\n    }"),
        0,
        true,
    );
}

#[test]
fn scripts_missing_unexecutable_and_unsafe() {
    if !privileged_or_skip("scripts_missing_unexecutable_and_unsafe") || !have_keepalived() {
        return;
    }
    let m = Machine::new();
    let gone = m.dir.path().join("gone.sh");
    let ok = m.script("ok.sh", 0o755, 0, 0);
    let nox = m.script("nox.sh", 0o644, 0, 0);
    let world = m.script("world.sh", 0o757, 0, 0);
    let group = m.script("group.sh", 0o775, 0, 1000);
    let owned = m.script("owned.sh", 0o755, 1000, 1000);
    m.subdir("open", 0o777);
    let in_open = m.script("open/in.sh", 0o755, 0, 0);
    m.subdir("sticky", 0o1777);
    let in_sticky = m.script("sticky/in.sh", 0o755, 0, 0);

    // A missing track script: disabled, reported, keepalived runs (5).
    let (top, body) = tracked(&gone);
    case(&m, "missing vrrp_script", &conf("", &top, body), 5, true);
    case(
        &m,
        "missing vrrp_script, secure",
        &conf(SECURE, &top, body),
        5,
        true,
    );
    // Missing notify scripts: dropped silently, no SECURITY VIOLATION (0).
    let notify = |p: &Path| {
        format!(
            "    notify_master {}\n    notify {}",
            p.display(),
            p.display()
        )
    };
    case(&m, "missing notify", &conf("", "", &notify(&gone)), 0, true);
    // Scripts that exist, without enable_script_security: 6, and keepalived runs them.
    case(
        &m,
        "notify, insecure mode",
        &conf("", "", &notify(&ok)),
        6,
        true,
    );
    let (top, body) = tracked(&nox);
    case(
        &m,
        "not executable, insecure mode",
        &conf("", &top, body),
        6,
        true,
    );
    // ... and with it: a script that is not executable is dropped quietly (0).
    case(
        &m,
        "not executable, secure",
        &conf(SECURE, &top, body),
        0,
        true,
    );
    case(
        &m,
        "notify not executable, secure",
        &conf(SECURE, "", &notify(&nox)),
        0,
        true,
    );
    // Unsafe scripts: disabled under script security (5), "insecure" without it (6).
    for (p, what) in [
        (&world, "world-writable"),
        (&group, "group-writable, group not root"),
        (&owned, "not root's"),
        (&in_open, "in a world-writable directory"),
    ] {
        let (top, body) = tracked(p);
        case(
            &m,
            &format!("{what}, secure"),
            &conf(SECURE, &top, body),
            5,
            true,
        );
        case(
            &m,
            &format!("{what}, insecure mode"),
            &conf("", &top, body),
            6,
            true,
        );
        // Notify scripts that are unsafe are dropped silently.
        case(
            &m,
            &format!("{what} notify, secure"),
            &conf(SECURE, "", &notify(p)),
            0,
            true,
        );
    }
    let (top, body) = tracked(&in_sticky);
    case(
        &m,
        "in a sticky directory, secure",
        &conf(SECURE, &top, body),
        0,
        true,
    );
    // Symlinks: what counts is the real path, as written it is not walked.
    let via_open = m.subdir("open2", 0o777).join("link.sh");
    std::os::unix::fs::symlink(&ok, &via_open).unwrap();
    let (top, body) = tracked(&via_open);
    case(
        &m,
        "a link in an open directory to a safe script",
        &conf(SECURE, &top, body),
        0,
        true,
    );
    let to_open = m.dir.path().join("to_open.sh");
    std::os::unix::fs::symlink(&in_open, &to_open).unwrap();
    let (top, body) = tracked(&to_open);
    case(
        &m,
        "a safe link to a script in an open directory",
        &conf(SECURE, &top, body),
        5,
        true,
    );
    // A bare name is found through PATH.
    let bare = "vrrp_script chk {\n    script \"true\"\n}";
    let track = "    track_script {\n        chk\n    }";
    case(&m, "bare name", &conf("", bare, track), 6, true);
    let nosuch = "vrrp_script chk {\n    script \"vigil-no-such-program x\"\n}";
    case(
        &m,
        "bare name not in PATH",
        &conf("", nosuch, track),
        5,
        true,
    );
    // A script's own unknown user: removed at its `user` line (5).
    let own = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    user vigil-no-such-user\n}}",
        ok.display()
    );
    case(&m, "own unknown user", &conf(SECURE, &own, track), 5, true);
    // An unknown script_user: its scripts are removed at their lines (5).
    case(
        &m,
        "unknown script_user",
        &conf("    script_user vigil-no-such-user", "", &notify(&ok)),
        5,
        true,
    );
}

#[test]
fn script_security_without_keepalived_script() {
    if !privileged_or_skip("script_security_without_keepalived_script") || !have_keepalived() {
        return;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if passwd.lines().any(|l| l.starts_with("keepalived_script:")) {
        eprintln!("SKIPPED: this machine has a keepalived_script user");
        return;
    }
    let m = Machine::new();
    let ok = m.script("ok.sh", 0o755, 0, 0);
    // No script_user and no keepalived_script: keepalived cannot pick the default user
    // and drops the scripts (5); vigild says so at the first script's line.
    case(
        &m,
        "enable_script_security alone",
        &conf(
            "    enable_script_security",
            "",
            &format!("    notify_master {}", ok.display()),
        ),
        5,
        true,
    );
}
