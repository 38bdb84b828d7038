//! The machine check against an injected host: interfaces and files as each case needs.

use super::*;
use crate::config::load_str;
use std::collections::BTreeMap;

/// A host with some interfaces and regular files and directories (no symlinks).
struct Fake {
    interfaces: Vec<&'static str>,
    files: BTreeMap<PathBuf, FileInfo>,
    keepalived_script: Option<RunAs>,
}

impl Fake {
    /// eth0 and eth1; `/`, `/etc`, `/etc/keepalived`, `/usr`, `/usr/bin` root's 0755;
    /// `/etc/keepalived/ok.sh` and `/usr/bin/true` root's 0755.
    fn new() -> Self {
        let mut f = Fake {
            interfaces: vec!["lo", "eth0", "eth1"],
            files: BTreeMap::new(),
            keepalived_script: None,
        };
        for d in ["/", "/etc", "/etc/keepalived", "/usr", "/usr/bin"] {
            f.add(d, Kind::Dir, 0o755, 0, 0);
        }
        f.add("/etc/keepalived/ok.sh", Kind::File, 0o755, 0, 0);
        f.add("/usr/bin/true", Kind::File, 0o755, 0, 0);
        f
    }
    fn add(&mut self, p: &str, kind: Kind, mode: u32, uid: u32, gid: u32) -> &mut Self {
        self.files.insert(
            PathBuf::from(p),
            FileInfo {
                kind,
                mode,
                uid,
                gid,
            },
        );
        self
    }
    fn get(&self, p: &Path) -> io::Result<FileInfo> {
        self.files
            .get(p)
            .copied()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
}

impl Host for Fake {
    fn interface_exists(&self, name: &str) -> bool {
        self.interfaces.contains(&name)
    }
    fn lstat(&self, path: &Path) -> io::Result<FileInfo> {
        self.get(path)
    }
    fn stat(&self, path: &Path) -> io::Result<FileInfo> {
        self.get(path)
    }
    fn realpath(&self, path: &Path) -> io::Result<PathBuf> {
        self.get(path).map(|_| path.to_path_buf())
    }
    fn path_env(&self) -> OsString {
        "/usr/local/bin:/usr/bin".into()
    }
    fn user(&self, user: &str, _group: Option<&str>) -> Option<RunAs> {
        match user {
            "root" => Some(RunAs::ROOT),
            "nobody" => Some(RunAs {
                uid: 65534,
                gid: 65534,
            }),
            _ => None,
        }
    }
    fn keepalived_script_user(&self) -> Option<RunAs> {
        self.keepalived_script
    }
    fn me(&self) -> RunAs {
        RunAs::ROOT
    }
    fn resolves(&self, name: &str) -> Option<bool> {
        match name {
            "mail.example.com" => Some(true),
            "hangs.example.com" => None,
            _ => Some(false),
        }
    }
}

fn check_with(host: &Fake, global: &str, top: &str, body: &str) -> Loaded {
    let text = format!(
        "global_defs {{\n{global}\n}}\n{top}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 100\n{body}\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n}}\n"
    );
    let mut l = load_str(Path::new("/nonexistent/machine.conf"), &text);
    assert!(l.config.is_some(), "parses: {:?}", l.diagnostics);
    check(&mut l, host);
    l
}

fn exit(l: &Loaded) -> i32 {
    crate::config::test_exit_code(l)
}

fn says<'a>(l: &'a Loaded, text: &str) -> &'a super::super::Diagnostic {
    l.diagnostics
        .iter()
        .find(|d| d.message.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in {:?}", l.diagnostics))
}

const TRACK: &str = "    track_script {\n        chk\n    }";

fn vrrp_script(path: &str) -> String {
    format!("vrrp_script chk {{\n    script \"{path}\"\n}}")
}

#[test]
fn a_missing_interface_is_refused_at_its_line_and_exits_5() {
    let l = check_with(
        &Fake::new(),
        "",
        "",
        "    track_interface {\n        eth9\n    }",
    );
    assert!(l.config.is_none());
    let d = says(&l, "(VI_1) tracked interface eth9 doesn't exist");
    assert_eq!(d.line(), 10);
    says(&l, "Non-existent interface specified in configuration");
    assert_eq!(exit(&l), 5);
}

#[test]
fn a_missing_instance_interface_or_vip_dev_is_named() {
    let mut host = Fake::new();
    host.interfaces = vec!["lo", "eth1"];
    let l = check_with(&host, "", "", "");
    assert_eq!(
        says(
            &l,
            "WARNING - interface eth0 for vrrp_instance VI_1 doesn't exist"
        )
        .line(),
        6
    );
    let l = check_with(
        &Fake::new(),
        "",
        "",
        "    virtual_ipaddress_excluded {\n        10.0.0.9 dev eth7\n    }",
    );
    assert_eq!(
        says(
            &l,
            "WARNING - interface eth7 for ip address 10.0.0.9 doesn't exist"
        )
        .line(),
        10
    );
    assert!(l.config.is_none());
}

#[test]
fn after_a_missing_interface_scripts_are_not_checked() {
    // keepalived stops before its script-security pass: 5, not 6.
    let l = check_with(
        &Fake::new(),
        "",
        "",
        "    notify_master /etc/keepalived/ok.sh\n    track_interface {\n        eth9\n    }",
    );
    assert_eq!(exit(&l), 5);
    assert!(!l.summary.has(KaClass::Security));
}

#[test]
fn dynamic_interfaces_accepts_missing_interfaces_as_keepalived_does() {
    let l = check_with(
        &Fake::new(),
        "    dynamic_interfaces",
        "",
        "    track_interface {\n        eth9\n    }",
    );
    assert!(l.config.is_some(), "{:?}", l.diagnostics);
    assert_eq!(exit(&l), 0);
    says(
        &l,
        "interface eth9 which doesn't currently exist - will use if created",
    );
    // Without it the same configuration is refused.
    let l = check_with(
        &Fake::new(),
        "",
        "",
        "    track_interface {\n        eth9\n    }",
    );
    assert!(l.config.is_none());
}

#[test]
fn present_interfaces_and_scripts_with_security_pass() {
    let l = check_with(
        &Fake::new(),
        "    enable_script_security\n    script_user root",
        &vrrp_script("/etc/keepalived/ok.sh"),
        &format!(
            "{TRACK}\n    notify_master /etc/keepalived/ok.sh\n    track_interface {{\n        eth1\n    }}"
        ),
    );
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    let conf = l.config.expect("runs");
    assert_eq!(conf.scripts.len(), 1);
    assert!(conf.instances[0].notify.master.is_some());
}

#[test]
fn scripts_without_security_exit_6_only_if_one_exists() {
    let host = Fake::new();
    let l = check_with(&host, "", "", "    notify_master /etc/keepalived/ok.sh");
    assert_eq!(exit(&l), 6);
    // Missing notify scripts: keepalived drops them silently and exits 0.
    let l = check_with(&host, "", "", "    notify_master /etc/keepalived/gone.sh");
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    assert!(l.config.expect("runs").instances[0].notify.master.is_none());
    // A bare name found in PATH is a script.
    let l = check_with(&host, "", &vrrp_script("true"), TRACK);
    assert_eq!(exit(&l), 6);
}

#[test]
fn a_missing_track_script_is_disabled_with_exit_5_and_untracked() {
    for path in ["/etc/keepalived/gone.sh", "nosuchprog arg"] {
        let l = check_with(&Fake::new(), "", &vrrp_script(path), TRACK);
        says(&l, "Disabling track script chk since not found/accessible");
        assert_eq!(exit(&l), 5, "{path}");
        let conf = l.config.expect("keepalived runs it");
        assert!(conf.scripts.is_empty());
        assert!(conf.instances[0].track_scripts.is_empty());
    }
}

#[test]
fn unsafe_scripts_are_disabled_under_script_security() {
    let sec = "    enable_script_security\n    script_user root";
    for (mode, uid, gid) in [(0o757, 0, 0), (0o775, 0, 1000), (0o755, 1000, 1000)] {
        let mut host = Fake::new();
        host.add("/etc/keepalived/bad.sh", Kind::File, mode, uid, gid);
        let l = check_with(&host, sec, &vrrp_script("/etc/keepalived/bad.sh"), TRACK);
        says(&l, "Disabling track script chk due to insecure");
        assert_eq!(exit(&l), 5, "{mode:o} {uid}:{gid}");
        // Without security the same script is run, and reported insecure: 6.
        let l = check_with(&host, "", &vrrp_script("/etc/keepalived/bad.sh"), TRACK);
        says(&l, "There are insecure scripts.");
        assert_eq!(exit(&l), 6);
        assert_eq!(l.config.expect("runs").scripts.len(), 1);
    }
    // Group-writable by root's group is fine; a writable directory on the path is not,
    // unless it is sticky.
    let mut host = Fake::new();
    host.add("/etc/keepalived/g.sh", Kind::File, 0o775, 0, 0);
    let l = check_with(&host, sec, &vrrp_script("/etc/keepalived/g.sh"), TRACK);
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    for (dir_mode, code) in [(0o777, 5), (0o1777, 0)] {
        let mut host = Fake::new();
        host.add("/etc/keepalived", Kind::Dir, dir_mode, 0, 0);
        let l = check_with(&host, sec, &vrrp_script("/etc/keepalived/ok.sh"), TRACK);
        assert_eq!(exit(&l), code, "{dir_mode:o}");
    }
}

#[test]
fn a_script_run_by_another_user_is_not_walked() {
    let mut host = Fake::new();
    host.add("/etc/keepalived/own.sh", Kind::File, 0o757, 1000, 1000);
    let l = check_with(
        &host,
        "    enable_script_security\n    script_user nobody",
        &vrrp_script("/etc/keepalived/own.sh"),
        TRACK,
    );
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
}

#[test]
fn not_executable_scripts_are_dropped_quietly() {
    let mut host = Fake::new();
    host.add("/etc/keepalived/nox.sh", Kind::File, 0o644, 0, 0);
    let sec = "    enable_script_security\n    script_user root";
    let l = check_with(&host, sec, &vrrp_script("/etc/keepalived/nox.sh"), TRACK);
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    let conf = l.config.expect("runs");
    assert!(conf.scripts.is_empty() && conf.instances[0].track_scripts.is_empty());
    // Without security it still exists, so it is a script: 6.
    let l = check_with(&host, "", &vrrp_script("/etc/keepalived/nox.sh"), TRACK);
    assert_eq!(exit(&l), 6);
}

#[test]
fn script_security_without_a_script_user_needs_keepalived_script() {
    let mut host = Fake::new();
    let l = check_with(
        &host,
        "    enable_script_security",
        "",
        "    notify_master /etc/keepalived/ok.sh",
    );
    assert_eq!(
        says(
            &l,
            "Unable to set default user keepalived_script for script"
        )
        .line(),
        9
    );
    assert_eq!(exit(&l), 5);
    assert!(l.config.expect("runs").instances[0].notify.master.is_none());
    host.keepalived_script = Some(RunAs { uid: 0, gid: 0 });
    let l = check_with(
        &host,
        "    enable_script_security",
        "",
        "    notify_master /etc/keepalived/ok.sh",
    );
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
}

#[test]
fn an_unknown_script_user_removes_scripts_without_their_own() {
    let l = check_with(
        &Fake::new(),
        "    script_user nosuchuser",
        &vrrp_script("/etc/keepalived/ok.sh"),
        TRACK,
    );
    assert_eq!(says(&l, "Error setting global script uid/gid").line(), 2);
    says(
        &l,
        "Unable to set default user for vrrp script chk - removing",
    );
    assert_eq!(
        says(&l, "(VI_1) track script chk not found, ignoring...").line(),
        12
    );
    assert_eq!(exit(&l), 5);
    let conf = l.config.expect("runs");
    assert!(conf.scripts.is_empty() && conf.instances[0].track_scripts.is_empty());
}

#[test]
fn no_instance_no_script_check() {
    let mut l = load_str(
        Path::new("/nonexistent/machine.conf"),
        "vrrp_script chk {\n    script /etc/keepalived/gone.sh\n}\n",
    );
    check(&mut l, &Fake::new());
    assert!(!l.summary.has(KaClass::Security) && !l.summary.has(KaClass::Config));
}

#[test]
fn a_scripts_own_unknown_user_removes_it_at_the_user_line() {
    let l = check_with(
        &Fake::new(),
        "",
        "vrrp_script chk {\n    script /etc/keepalived/ok.sh\n    user nosuchuser\n}",
        TRACK,
    );
    let d = says(
        &l,
        "Unable to set uid/gid for script '/etc/keepalived/ok.sh'",
    );
    assert_eq!(d.line(), 6);
    says(&l, "(VI_1) track script chk not found, ignoring...");
    assert_eq!(exit(&l), 5);
    // A notify script's unknown user: dropped, keepalived only logs it.
    let l = check_with(
        &Fake::new(),
        "",
        "",
        "    notify_master /etc/keepalived/ok.sh nosuchuser",
    );
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    assert!(l.config.expect("runs").instances[0].notify.master.is_none());
}

#[test]
fn a_failed_default_user_is_reported_at_the_first_script_in_the_file() {
    // The instance's notify script (line 7) comes before the vrrp_script (line 12).
    let text = "global_defs {\n    enable_script_security\n}\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    notify_master /etc/keepalived/ok.sh\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\nvrrp_script chk {\n    script /etc/keepalived/ok.sh\n}\n";
    let mut l = load_str(Path::new("/nonexistent/machine.conf"), text);
    check(&mut l, &Fake::new());
    let d = says(
        &l,
        "Unable to set default user keepalived_script for script",
    );
    assert_eq!(d.line(), 7);
}

#[test]
fn smtp_server_names_that_do_not_resolve_and_bad_ports_are_invalid_at_their_lines() {
    let global = "    smtp_server mail.example.com\n    smtp_server 192.0.2.1 2525\n    smtp_server nowhere.example.com\n    smtp_server 192.0.2.1 0\n    smtp_server 192.0.2.1/24\n    smtp_server hangs.example.com 587";
    let l = check_with(&Fake::new(), global, "", "");
    let invalid: Vec<(u32, &str)> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.starts_with("Invalid smtp server"))
        .map(|d| (d.line(), d.message.as_str()))
        .collect();
    assert_eq!(invalid.len(), 4, "{invalid:?}");
    assert_eq!(
        invalid[0],
        (4, "Invalid smtp server nowhere.example.com 25")
    );
    assert_eq!(invalid[1], (5, "Invalid smtp server 192.0.2.1 0"));
    assert_eq!(invalid[2], (6, "Invalid smtp server 192.0.2.1/24 25"));
    assert_eq!(invalid[3].0, 7);
    assert!(invalid[3].1.contains("did not answer"), "{invalid:?}");
    assert!(l.config.is_some());
    assert_eq!(exit(&l), 5);
}

#[test]
fn a_missing_linkbeat_interface_exits_4_but_runs_and_is_silent_if_dynamic() {
    let top = "linkbeat_interfaces {\n    eth1 MII\n    eth7\n}";
    let l = check_with(&Fake::new(), "", top, "");
    let d = says(
        &l,
        "unknown interface eth7 specified for linkbeat interface",
    );
    assert_eq!((d.line(), d.ka), (6, KaClass::Fatal));
    // keepalived's daemon runs it all the same.
    assert!(l.config.is_some());
    assert_eq!(exit(&l), 4);
    let l = check_with(&Fake::new(), "    dynamic_interfaces", top, "");
    assert!(l.config.is_some(), "{:?}", l.diagnostics);
    assert_eq!(exit(&l), 0);
}

#[test]
fn garp_group_interfaces_are_checked_the_block_at_its_closing_brace() {
    let top = "garp_group {\n    garp_interval 0.1\n    interface eth1\n    interfaces {\n        eth0\n        eth8\n    }\n}";
    let l = check_with(&Fake::new(), "", top, "");
    let d = says(&l, "interface eth8 specified for garp_group doesn't exist");
    assert_eq!(d.line(), 10);
    says(&l, "Non-existent interface specified in configuration");
    assert!(l.config.is_none());
    let top = "garp_group {\n    garp_interval 0.1\n    interface eth9\n}";
    let l = check_with(&Fake::new(), "", top, "");
    assert_eq!(
        says(&l, "interface eth9 specified for garp_group").line(),
        6
    );
    let l = check_with(&Fake::new(), "    dynamic_interfaces", top, "");
    assert!(l.config.is_some(), "{:?}", l.diagnostics);
}

#[test]
fn a_vrrp_script_without_default_user_is_removed_at_its_closing_brace() {
    let top = "vrrp_script chk {\n    script \"/etc/keepalived/ok.sh\"\n\n    interval 2\n}";
    let l = check_with(&Fake::new(), "    script_user no_such_user", top, TRACK);
    assert_eq!(
        says(
            &l,
            "Unable to set default user for vrrp script chk - removing"
        )
        .line(),
        8
    );
}

#[test]
fn the_checker_checks_the_global_and_lvs_fifo_scripts_only_with_virtual_servers() {
    let vs = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind DR\n    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n        }\n    }\n}";
    let fifo = |script: &str| {
        format!("    lvs_notify_fifo /run/lvs.fifo\n    lvs_notify_fifo_script {script}")
    };
    // keepalived -t: a missing one is dropped, exit 0.
    let l = check_with(&Fake::new(), &fifo("/etc/keepalived/gone.sh"), vs, "");
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    says(&l, "script /etc/keepalived/gone.sh is not found");
    let conf = l.config.expect("runs");
    assert!(conf.global.lvs_notify_fifo.script.is_none());
    assert!(conf.global.lvs_notify_fifo.fifo.is_some());
    // One that exists, without script security: exit 6; with it: kept.
    let l = check_with(&Fake::new(), &fifo("/etc/keepalived/ok.sh"), vs, "");
    assert_eq!(exit(&l), 6);
    let global = format!(
        "    enable_script_security\n    script_user root\n{}",
        fifo("/etc/keepalived/ok.sh")
    );
    let l = check_with(&Fake::new(), &global, vs, "");
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
    assert!(
        l.config
            .expect("runs")
            .global
            .lvs_notify_fifo
            .script
            .is_some()
    );
    // The global FIFO's script too.
    let global = "    notify_fifo /run/all.fifo\n    notify_fifo_script /etc/keepalived/ok.sh";
    let l = check_with(&Fake::new(), global, vs, "");
    assert_eq!(exit(&l), 6);
    // No virtual server: no checker process, the LVS FIFO script is not looked at.
    let l = check_with(&Fake::new(), &fifo("/etc/keepalived/ok.sh"), "", "");
    assert_eq!(exit(&l), 0, "{:?}", l.diagnostics);
}
