//! Notify FIFOs against Debian's keepalived 2.2.7: the same scenario (two nodes, one
//! instance or a sync group of two, a graceful failover, both stopped) run once with two keepalived and once
//! with two vigild, each node with `vrrp_notify_fifo` and a `vrrp_notify_fifo_script`
//! that copies the FIFO to a file. The lines each node wrote must be the same, in the
//! same order, for both implementations.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use vigil_tests::netns::privileged_or_skip;

/// The reader every node's `vrrp_notify_fifo_script` runs: `$1` the copy, `$2` the FIFO
/// (keepalived appends its name).
const READER: &str = "#!/bin/sh\nexec cat \"$2\" >> \"$1\"\n";

/// A node's configuration: VI_1 (VIP), and with `group` also VI_2 (VIP2) with VI_1 in
/// sync group G; the FIFO and its reader in `dir`.
fn conf(dir: &Path, node: &str, state: &'static str, prio: u8, group: bool) -> String {
    conf_with(dir, node, state, prio, group, "")
}

/// [`conf`] with more `global_defs` lines.
fn conf_with(
    dir: &Path,
    node: &str,
    state: &'static str,
    prio: u8,
    group: bool,
    global: &str,
) -> String {
    let d = dir.display();
    let extra = format!(
        "    vrrp_notify_fifo {d}/{node}.fifo\n    vrrp_notify_fifo_script \"{d}/reader.sh {d}/{node}.lines\"\n{global}"
    );
    let one = Inst::v3("VI_1", 51, state, prio, "0.2").render();
    if !group {
        return global_defs(node, &extra) + &one;
    }
    let mut two = Inst::v3("VI_2", 52, state, prio, "0.2");
    two.vips = vec![format!("{VIP2}/24")];
    global_defs(node, &extra)
        + "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
        + &one
        + &two.render()
}

fn install_reader(dir: &Path) {
    let reader = dir.join("reader.sh");
    std::fs::write(&reader, READER).unwrap();
    std::fs::set_permissions(&reader, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `path`'s text once it has `n` lines (bounded: 5 s), else what it has then.
fn wait_lines(path: &Path, n: usize) -> String {
    let mut text = String::new();
    for _ in 0..100 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    text
}

/// A pair with `fifo_write_vrrp_states_on_reload`: lb1 master, lb2 backup, then
/// SIGHUP to both with the same configuration; returns their lines.
fn reload_scenario(which: Impl, prefix: &str) -> (String, String) {
    let lan = lan(prefix, 2);
    let dir = workdir(&format!("fifo-reload-{which:?}"));
    install_reader(dir.path());
    let on_reload = "    fifo_write_vrrp_states_on_reload\n";
    let settle = Duration::from_secs(8);
    let conf1 = conf_with(dir.path(), "lb1", "MASTER", 150, false, on_reload);
    let mut lb1 = Daemon::start(which, &lan.host(0).ns, dir.path(), "lb1", &conf1);
    lb1.expect_state("VI_1", "MASTER", settle);
    let conf2 = conf_with(dir.path(), "lb2", "BACKUP", 100, false, on_reload);
    let mut lb2 = Daemon::start(which, &lan.host(1).ns, dir.path(), "lb2", &conf2);
    lb2.expect_state("VI_1", "BACKUP", settle);
    std::thread::sleep(Duration::from_millis(1200));
    let (l1, l2) = (dir.path().join("lb1.lines"), dir.path().join("lb2.lines"));
    assert_eq!(wait_lines(&l1, 2).lines().count(), 2, "{which:?}");
    assert_eq!(wait_lines(&l2, 1).lines().count(), 1, "{which:?}");
    lb1.signal(nix::sys::signal::Signal::SIGHUP);
    lb2.signal(nix::sys::signal::Signal::SIGHUP);
    let text2 = wait_lines(&l2, 2);
    // lb1 writes nothing (a master stays silent): give it as long as lb2 took, and more.
    std::thread::sleep(Duration::from_millis(500));
    let text1 = std::fs::read_to_string(&l1).unwrap_or_default();
    lb1.expect_state("VI_1", "MASTER", settle);
    lb2.expect_state("VI_1", "BACKUP", settle);
    assert!(
        lb2.terminate(),
        "lb2 ({which:?}) did not stop:\n{}",
        lb2.log()
    );
    assert!(
        lb1.terminate(),
        "lb1 ({which:?}) did not stop:\n{}",
        lb1.log()
    );
    eprintln!("{which:?} reload:\n--- lb1 ---\n{text1}--- lb2 ---\n{text2}");
    (text1, text2)
}

/// A pair with `vrrp_notify_priority_changes` and a `vrrp_track_file` (weight 1) per
/// node: lb1's file goes to -10 while master, lb2's to -5 while backup; returns their
/// lines.
fn priority_scenario(which: Impl, prefix: &str) -> (String, String) {
    let lan = lan(prefix, 2);
    let dir = workdir(&format!("fifo-prio-{which:?}"));
    install_reader(dir.path());
    let settle = Duration::from_secs(8);
    let node_conf = |node: &str, state: &'static str, prio: u8| {
        let file = dir.path().join(format!("{node}.weight"));
        std::fs::write(&file, "0\n").unwrap();
        let d = dir.path().display();
        let global = "    vrrp_notify_priority_changes\n";
        let conf = conf_with(dir.path(), node, state, prio, false, global);
        // The track_file goes before the instance and into it.
        let track =
            format!("vrrp_track_file tf {{\n    file {d}/{node}.weight\n    weight 1\n}}\n");
        let conf = conf.replacen("vrrp_instance", &format!("{track}vrrp_instance"), 1);
        conf.replacen(
            "    virtual_ipaddress {",
            "    track_file {\n        tf\n    }\n    virtual_ipaddress {",
            1,
        )
    };
    let mut lb1 = Daemon::start(
        which,
        &lan.host(0).ns,
        dir.path(),
        "lb1",
        &node_conf("lb1", "MASTER", 150),
    );
    lb1.expect_state("VI_1", "MASTER", settle);
    let mut lb2 = Daemon::start(
        which,
        &lan.host(1).ns,
        dir.path(),
        "lb2",
        &node_conf("lb2", "BACKUP", 100),
    );
    lb2.expect_state("VI_1", "BACKUP", settle);
    std::thread::sleep(Duration::from_millis(1200));
    let (l1, l2) = (dir.path().join("lb1.lines"), dir.path().join("lb2.lines"));
    std::fs::write(dir.path().join("lb1.weight"), "-10\n").unwrap();
    let text1 = wait_lines(&l1, 3);
    std::fs::write(dir.path().join("lb2.weight"), "-5\n").unwrap();
    let text2 = wait_lines(&l2, 2);
    lb1.expect_state("VI_1", "MASTER", settle);
    assert!(
        lb2.terminate(),
        "lb2 ({which:?}) did not stop:\n{}",
        lb2.log()
    );
    assert!(
        lb1.terminate(),
        "lb1 ({which:?}) did not stop:\n{}",
        lb1.log()
    );
    eprintln!("{which:?} priorities:\n--- lb1 ---\n{text1}--- lb2 ---\n{text2}");
    (text1, text2)
}

/// The scenario; returns the lines of lb1 and lb2.
fn scenario(which: Impl, prefix: &str, group: bool) -> (String, String) {
    let lan = lan(prefix, 2);
    let dir = workdir(&format!("fifo-{which:?}"));
    install_reader(dir.path());
    let settle = Duration::from_secs(8);

    let mut lb1 = Daemon::start(
        which,
        &lan.host(0).ns,
        dir.path(),
        "lb1",
        &conf(dir.path(), "lb1", "MASTER", 150, group),
    );
    lb1.expect_state("VI_1", "MASTER", settle);
    let mut lb2 = Daemon::start(
        which,
        &lan.host(1).ns,
        dir.path(),
        "lb2",
        &conf(dir.path(), "lb2", "BACKUP", 100, group),
    );
    lb2.expect_state("VI_1", "BACKUP", settle);
    // Longer than a master-down interval: lb2 has heard lb1 and stays backup.
    std::thread::sleep(Duration::from_millis(1200));

    // Graceful failover: lb1 stops (priority 0), lb2 takes over.
    assert!(
        lb1.terminate(),
        "lb1 ({which:?}) did not stop:\n{}",
        lb1.log()
    );
    lb2.expect_state("VI_1", "MASTER", settle);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        lb2.terminate(),
        "lb2 ({which:?}) did not stop:\n{}",
        lb2.log()
    );

    // The readers end when the FIFOs are closed; their copies are then complete.
    let read = |node: &str| {
        let path = dir.path().join(format!("{node}.lines"));
        let mut last = String::new();
        // Stable for 200 ms (bounded: 5 s).
        let mut stable = 0;
        for _ in 0..100 {
            let now = std::fs::read_to_string(&path).unwrap_or_default();
            stable = if now == last && !now.is_empty() {
                stable + 1
            } else {
                0
            };
            last = now;
            if stable >= 4 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        last
    };
    let out = (read("lb1"), read("lb2"));
    for node in ["lb1", "lb2"] {
        let fifo = dir.path().join(format!("{node}.fifo"));
        assert!(
            !fifo.exists(),
            "{which:?}: {node}'s FIFO, created by the daemon, is still there"
        );
    }
    eprintln!("{which:?}:\n--- lb1 ---\n{}--- lb2 ---\n{}", out.0, out.1);
    out
}

/// One instance: the same lines in the same order.
#[test]
fn fifo_lines_as_keepalived() {
    if !privileged_or_skip("fifo_lines_as_keepalived") {
        return;
    }
    let ka = scenario(Impl::Keepalived, "ffk", false);
    let vigil = scenario(Impl::Vigil, "ffv", false);
    // What keepalived writes; no STOP lines: stopping, it ends its scripts (the FIFO
    // reader too) before it writes them.
    assert_eq!(
        ka.0, "INSTANCE \"VI_1\" BACKUP 150\nINSTANCE \"VI_1\" MASTER 150\n",
        "keepalived's lb1"
    );
    assert_eq!(
        vigil.0, ka.0,
        "lb1's FIFO lines differ (left vigild, right keepalived)"
    );
    assert_eq!(
        vigil.1, ka.1,
        "lb2's FIFO lines differ (left vigild, right keepalived)"
    );
}

/// A sync group: the same lines in the same order. keepalived notifies a starting
/// group before its members; on a later change the member whose timer completed the
/// group first, then the others, then the group (`vrrp_sync_master`).
#[test]
fn fifo_lines_of_a_sync_group_as_keepalived() {
    if !privileged_or_skip("fifo_lines_of_a_sync_group_as_keepalived") {
        return;
    }
    let ka = scenario(Impl::Keepalived, "fgk", true);
    let vigil = scenario(Impl::Vigil, "fgv", true);
    assert_eq!(ka.0.lines().count(), 6, "keepalived's lb1:\n{}", ka.0);
    assert!(ka.0.starts_with("GROUP \"G\" BACKUP 0\n"), "{}", ka.0);
    assert_eq!(vigil.0, ka.0, "lb1 (left vigild)");
    assert_eq!(vigil.1, ka.1, "lb2 (left vigild)");
}

/// `fifo_write_vrrp_states_on_reload`: after SIGHUP the unchanged backup's state is
/// written again, the master's not, as keepalived 2.2.7 does.
#[test]
fn fifo_states_on_reload_as_keepalived() {
    if !privileged_or_skip("fifo_states_on_reload_as_keepalived") {
        return;
    }
    let ka = reload_scenario(Impl::Keepalived, "frk");
    let vigil = reload_scenario(Impl::Vigil, "frv");
    assert_eq!(
        ka.1, "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" BACKUP 100\n",
        "keepalived's lb2"
    );
    assert_eq!(vigil.0, ka.0, "lb1: left vigild, right keepalived");
    assert_eq!(vigil.1, ka.1, "lb2: left vigild, right keepalived");
}

/// `vrrp_notify_priority_changes`: a tracked file lowers the priorities; the FIFO gets
/// `MASTER_PRIORITY` / `BACKUP_PRIORITY` lines as keepalived writes them.
#[test]
fn fifo_priority_lines_as_keepalived() {
    if !privileged_or_skip("fifo_priority_lines_as_keepalived") {
        return;
    }
    let ka = priority_scenario(Impl::Keepalived, "fpk");
    let vigil = priority_scenario(Impl::Vigil, "fpv");
    assert!(
        ka.0.contains("INSTANCE \"VI_1\" MASTER_PRIORITY 140"),
        "keepalived's lb1:\n{}",
        ka.0
    );
    assert_eq!(vigil.0, ka.0, "lb1: left vigild, right keepalived");
    assert_eq!(vigil.1, ka.1, "lb2: left vigild, right keepalived");
}

/// A FIFO nobody reads, already full when vigild starts (the test holds it open and
/// filled it to the brim): vigild starts, writes nothing it could wait on, and the
/// backup still takes over within its master-down interval when the master dies, its
/// service thread (which writes the FIFO and answers `status`) never stuck.
#[test]
fn a_full_fifo_never_delays_a_failover() {
    if !privileged_or_skip("a_full_fifo_never_delays_a_failover") {
        return;
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let lan = lan("ffull", 2);
    let dir = workdir("fifo-full");
    let fifo = dir.path().join("lb2.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let chunk = [b'x'; 4096];
    let mut filled = 0usize;
    // A pipe holds 64 KiB by default (at most 1 MiB): bounded.
    for _ in 0..1024 {
        match held.write(&chunk) {
            Ok(n) if n > 0 => filled += n,
            _ => break,
        }
    }
    assert!(
        filled >= 4096 && held.write(b"y").is_err(),
        "the FIFO is not full"
    );
    let settle = Duration::from_secs(8);
    let conf1 = global_defs("lb1", "") + &Inst::v3("VI_1", 51, "MASTER", 150, "0.2").render();
    let conf2 = global_defs("lb2", &format!("    vrrp_notify_fifo {}\n", fifo.display()))
        + &Inst::v3("VI_1", 51, "BACKUP", 100, "0.2").render();
    let mut lb1 = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", &conf1);
    lb1.expect_state("VI_1", "MASTER", settle);
    let lb2 = Vigild::start(&lan.host(1).ns, dir.path(), "lb2", &conf2);
    lb2.expect_state("VI_1", "BACKUP", settle);
    std::thread::sleep(Duration::from_millis(1200));
    lb1.kill();
    // Master-down interval: 3 x 0.2 s + skew (0.12 s); one more second of margin for
    // a debug build on a loaded machine.
    let took = lb2.wait_state("VI_1", "MASTER", Duration::from_millis(1720));
    assert!(
        took.is_some(),
        "lb2 did not take over in time:\n{}",
        lb2.log_text()
    );
    // The existing FIFO is left in place.
    drop(lb2);
    assert!(fifo.exists());
}

/// Appends its arguments, one call a line, to `$NOTIFY_LOG`'s neighbour `notify.log`.
const NOTIFY: &str = "#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/notify.log\"\n";

/// How many lines `path` has once it has at least `n` and one more second brings no
/// more (bounded: 10 s).
fn settled(path: &Path, n: usize) -> usize {
    let count = || {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let mut last = count();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_secs(1));
        let now = count();
        if now == last && now >= n {
            break;
        }
        last = now;
    }
    last
}

/// One node, five instances, then a reload that keeps only VI_1: VI_2 (MASTER, with a
/// `notify_fault`), VI_3 (MASTER, `notify_deleted SCRIPT`), VI_4 (in FAULT: a
/// `track_file` of weight 0 reads 1) and VI_5 (MASTER, `notify_deleted` alone) are
/// removed. Returns the FIFO lines and the notify calls (sorted: an instance's scripts
/// run at once) written after the reload.
fn removal_scenario(which: Impl, prefix: &str) -> (String, Vec<String>) {
    let lan = lan(prefix, 1);
    let dir = workdir(&format!("fifo-removed-{which:?}"));
    install_reader(dir.path());
    let d = dir.path().display();
    let notify = dir.path().join("notify.sh");
    std::fs::write(&notify, NOTIFY).unwrap();
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(dir.path().join("bad"), "1\n").unwrap();
    let n = notify.display();
    let inst = |name: &str, vrid: u8, last: u8, extra: &str| {
        let mut i = Inst::v3(name, vrid, "MASTER", 150, "0.2")
            .with_extra(&format!("    notify \"{n}\"\n{extra}"));
        i.vips = vec![format!("10.77.0.{last}/24")];
        i.render()
    };
    let global = format!(
        "    vrrp_notify_fifo {d}/lb1.fifo\n    vrrp_notify_fifo_script \"{d}/reader.sh {d}/lb1.lines\"\n"
    );
    let head = global_defs("lb1", &global)
        + &format!("vrrp_track_file bad {{\n    file {d}/bad\n    weight 0\n}}\n");
    let kept = inst("VI_1", 51, 50, "");
    let all = head.clone()
        + &kept
        + &inst(
            "VI_2",
            52,
            51,
            &format!("    notify_fault \"{n} fault-script\"\n"),
        )
        + &inst(
            "VI_3",
            53,
            52,
            &format!("    notify_deleted \"{n} deleted-script\"\n"),
        )
        + &inst("VI_4", 54, 53, "    track_file {\n        bad\n    }\n")
        + &inst("VI_5", 55, 54, "    notify_deleted\n");
    let node = Daemon::start(which, &lan.host(0).ns, dir.path(), "lb1", &all);
    node.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    // Every instance settled (MASTER, VI_4 FAULT), its notify calls made.
    let lines = dir.path().join("lb1.lines");
    let log = dir.path().join("notify.log");
    let before = settled(&lines, 8);
    let calls = settled(&log, 8);
    assert!(
        before >= 8 && calls >= 8,
        "{which:?}: not settled ({before} lines, {calls} calls):\n{}",
        node.log()
    );
    let conf = node.conf().clone();
    std::fs::write(&conf, head + &kept).unwrap();
    node.signal(nix::sys::signal::Signal::SIGHUP);
    let text = wait_lines(&lines, before + 4);
    std::thread::sleep(Duration::from_millis(1000));
    let text = std::fs::read_to_string(&lines).unwrap_or(text);
    let after: String = text
        .lines()
        .skip(before)
        .map(|l| format!("{l}\n"))
        .collect();
    let mut called: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .skip(calls)
        .map(str::to_owned)
        .collect();
    called.sort();
    node.expect_state("VI_1", "MASTER", Duration::from_secs(2));
    eprintln!("{which:?} removal:\n{after}{called:#?}");
    (after, called)
}

/// Instances a reload removes notify as keepalived 2.2.7's `clear_diff_vrrp`: FAULT
/// (the generic script alone: keepalived picks the state's script while the state is
/// still DELETED, so `notify_fault` does not run), DELETED with `notify_deleted` (its
/// script if it has one), nothing for one already in FAULT.
#[test]
fn removed_instances_notify_as_keepalived() {
    if !privileged_or_skip("removed_instances_notify_as_keepalived") {
        return;
    }
    let ka = removal_scenario(Impl::Keepalived, "fdk");
    let vigil = removal_scenario(Impl::Vigil, "fdv");
    assert_eq!(
        ka.0,
        "INSTANCE \"VI_2\" FAULT 150\nINSTANCE \"VI_3\" DELETED 150\nINSTANCE \"VI_5\" DELETED 150\n",
        "keepalived's FIFO lines"
    );
    assert_eq!(vigil.0, ka.0, "FIFO lines: left vigild, right keepalived");
    assert_eq!(vigil.1, ka.1, "notify calls: left vigild, right keepalived");
}

/// A master (VRRPv2, 1 s, password) hears three crafted adverts: priority 100, then
/// its own priority 150 from a lower address (10.77.0.5), then priority 0 (a
/// resignation, not a lower one). `script`: with `notify_master_rx_lower_pri`.
/// Returns the FIFO lines written after the master's own, and how often the script ran.
fn rx_lower_scenario(which: Impl, prefix: &str, script: bool) -> (String, usize) {
    use vigil_core::wire::Version;
    let lan = lan(prefix, 2);
    let dir = workdir(&format!("fifo-rx-lower-{which:?}"));
    install_reader(dir.path());
    let d = dir.path().display();
    let notify = dir.path().join("notify.sh");
    std::fs::write(&notify, NOTIFY).unwrap();
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = if script {
        format!(
            "    notify_master_rx_lower_pri \"{} lower\"",
            notify.display()
        )
    } else {
        String::new()
    };
    let inst = Inst::v2_pass("VI_1", 51, "MASTER", 150, "pw").with_extra(&extra);
    let global = format!(
        "    vrrp_notify_fifo {d}/lb1.fifo\n    vrrp_notify_fifo_script \"{d}/reader.sh {d}/lb1.lines\"\n"
    );
    let conf = global_defs("lb1", &global) + &inst.render();
    let node = Daemon::start(which, &lan.host(0).ns, dir.path(), "lb1", &conf);
    node.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    let lines = dir.path().join("lb1.lines");
    assert_eq!(wait_lines(&lines, 2).lines().count(), 2, "{which:?}");

    let ns = &lan.host(1).ns;
    ns.exec_ok(&["ip", "route", "add", "224.0.0.0/4", "dev", "eth0"])
        .unwrap();
    let group = std::net::Ipv4Addr::new(224, 0, 0, 18);
    let low_address = std::net::Ipv4Addr::new(10, 77, 0, 5);
    for (src, prio) in [(host_ip(1), 100), (low_address, 150), (host_ip(1), 0)] {
        let advert = advert_v4(Version::V2, 51, prio, "pw", VIP, (src, group), 100);
        send_vrrp(ns, src, group, 255, &advert);
        std::thread::sleep(Duration::from_millis(300));
    }
    let text = wait_lines(&lines, 4);
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&lines).unwrap_or(text);
    let after: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
    let ran = std::fs::read_to_string(dir.path().join("notify.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == "lower")
        .count();
    node.expect_state("VI_1", "MASTER", Duration::from_secs(1));
    eprintln!("{which:?} rx lower (script {script}):\n{after}ran {ran}");
    (after, ran)
}

/// keepalived's `send_event_notify`: a master that hears a lower-priority advert (or
/// its own priority from a lower address) writes `MASTER_RX_LOWER_PRI` with its
/// priority to the FIFOs, with or without `notify_master_rx_lower_pri`, and runs that
/// script if there is one.
#[test]
fn master_rx_lower_pri_lines_as_keepalived() {
    if !privileged_or_skip("master_rx_lower_pri_lines_as_keepalived") {
        return;
    }
    for script in [true, false] {
        let ka = rx_lower_scenario(Impl::Keepalived, "fxk", script);
        let vigil = rx_lower_scenario(Impl::Vigil, "fxv", script);
        assert_eq!(
            ka.0,
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 150\n".repeat(2),
            "keepalived (script {script})"
        );
        assert_eq!(vigil, ka, "left vigild, right keepalived (script {script})");
    }
}

/// One node: VI_1 runs on eth0; VI_2's interface (a veth without an address) has no
/// IPv4 address and VI_3 has `unicast_fault_no_peer` without peers, so both start in
/// FAULT and stay there. Returns the FIFO lines once VI_1 is master, the notify calls
/// then (sorted), and those after SIGTERM.
fn waiting_scenario(which: Impl, prefix: &str) -> (String, Vec<String>, Vec<String>) {
    let lan = lan(prefix, 1);
    let ns = &lan.host(0).ns;
    ns.exec_ok(&[
        "ip", "link", "add", "nad0", "type", "veth", "peer", "name", "nad0p",
    ])
    .expect("a veth pair");
    for l in ["nad0", "nad0p"] {
        ns.exec_ok(&["ip", "link", "set", l, "up"]).unwrap();
    }
    let dir = workdir(&format!("fifo-waiting-{which:?}"));
    install_reader(dir.path());
    let d = dir.path().display();
    let notify = dir.path().join("notify.sh");
    std::fs::write(&notify, NOTIFY).unwrap();
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o755)).unwrap();
    let n = notify.display();
    let scripts = |tag: &str| format!("    notify \"{n}\"\n    notify_fault \"{n} fault-{tag}\"");
    let one = Inst::v3("VI_1", 51, "MASTER", 150, "0.2").with_extra(&scripts("1"));
    let mut two = Inst::v3("VI_2", 52, "BACKUP", 100, "0.2").with_extra(&scripts("2"));
    two.iface = "nad0".into();
    two.vips = vec!["10.77.0.60/24".into()];
    let mut three = Inst::v3("VI_3", 53, "BACKUP", 90, "0.2").with_extra(&format!(
        "{}\n    unicast_fault_no_peer\n    unicast_src_ip {}",
        scripts("3"),
        host_ip(0)
    ));
    three.vips = vec!["10.77.0.61/24".into()];
    let global = format!(
        "    vrrp_notify_fifo {d}/lb1.fifo\n    vrrp_notify_fifo_script \"{d}/reader.sh {d}/lb1.lines\"\n"
    );
    let conf = global_defs("lb1", &global) + &one.render() + &two.render() + &three.render();
    let mut node = Daemon::start(which, ns, dir.path(), "lb1", &conf);
    node.expect_state("VI_1", "MASTER", Duration::from_secs(8));
    let lines = dir.path().join("lb1.lines");
    let log = dir.path().join("notify.log");
    settled(&lines, 4);
    let calls = settled(&log, 6);
    let text = std::fs::read_to_string(&lines).unwrap_or_default();
    let all: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut running = all[..calls].to_vec();
    running.sort();
    assert!(node.terminate(), "{which:?}:\n{}", node.log());
    settled(&log, calls + 1);
    let mut stopping: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .skip(calls)
        .map(str::to_owned)
        .collect();
    stopping.sort();
    eprintln!("{which:?} waiting:\n{text}{running:#?}\n{stopping:#?}");
    (text, running, stopping)
}

/// keepalived runs an instance that cannot run (no address of its family on its
/// interface, or `unicast_fault_no_peer` without peers) in FAULT from the start, and
/// notifies it so (`notify_fault`, the generic script, the FIFO line), and STOP at exit.
/// vigild, which keeps such an instance waiting, notifies it the same way.
#[test]
fn instances_that_start_in_fault_notify_as_keepalived() {
    if !privileged_or_skip("instances_that_start_in_fault_notify_as_keepalived") {
        return;
    }
    let ka = waiting_scenario(Impl::Keepalived, "fwk");
    let vigil = waiting_scenario(Impl::Vigil, "fwv");
    assert!(
        ka.1.contains(&"fault-2".to_string())
            && ka.1.contains(&"INSTANCE VI_3 FAULT 90".to_string()),
        "keepalived: {:?}",
        ka.1
    );
    // Between instances the order differs: keepalived notifies an instance without
    // an address while it reads the interfaces, before the others start.
    assert_eq!(
        per_instance(&vigil.0),
        per_instance(&ka.0),
        "FIFO lines: left vigild, right keepalived"
    );
    assert_eq!(vigil.1, ka.1, "notify calls: left vigild, right keepalived");
    assert_eq!(
        vigil.2, ka.2,
        "calls at exit: left vigild, right keepalived"
    );
}

/// The lines of `text` by the name they carry, each name's in their order.
fn per_instance(text: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::<String, Vec<String>>::new();
    for l in text.lines() {
        let name = l.split_whitespace().nth(1).unwrap_or_default().to_owned();
        out.entry(name).or_default().push(l.to_owned());
    }
    out
}
