//! The state file (docs/installed-state.md): a vigild killed with SIGKILL leaves its
//! VIPs; the next start removes those its configuration no longer lists, whatever the
//! instance is called now, and leaves alone what was configured by hand. A state file
//! that cannot be read is a warning, not a refusal.
//!
//! One host on a LAN of its own (10.77.0.11), VRRPv3 at 100 ms. Every test skips (or
//! fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;
use vigil_tests::netns::privileged_or_skip;

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);
/// A third address: configured by hand in one test.
const HAND: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 52);

/// The state file of `v`: beside its control socket (the default).
fn state_file(v: &Vigild) -> PathBuf {
    v.sock.with_extension("installed")
}

fn state_text(v: &Vigild) -> String {
    std::fs::read_to_string(state_file(v)).unwrap_or_default()
}

fn conf(inst: &Inst) -> String {
    global_defs("lb1", "") + &inst.render()
}

/// lb1 master of VI_1 with VIPs A (`VIP`) and B (`VIP2`), killed; then started again
/// with `second`, which lists only A: B is gone before the daemon answers, A comes back
/// with the new master, and a clean stop removes A and the file.
fn stale_vip_is_removed(test: &str, prefix: &str, second: Inst) {
    let lan = lan(prefix, 1);
    let ns = &lan.host(0).ns;
    let dir = workdir(test);
    let mut first = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);
    first.vips = vec![format!("{VIP}/24"), format!("{VIP2}/24")];
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&first));
    v.expect_state("VI_1", "MASTER", SETTLE);
    for a in [VIP, VIP2] {
        wait_addr(ns, "eth0", a, true, Duration::from_secs(1)).expect("VIP on lb1");
    }
    let text = state_text(&v);
    assert!(text.starts_with("# vigild installed v1\n"), "{text}");
    assert!(text.contains(&format!("vip {VIP}/24 ")), "{text}");
    assert!(text.contains(&format!("vip {VIP2}/24 ")), "{text}");

    // The defect's premise: SIGKILL leaves both.
    v.kill();
    assert!(has_addr(ns, "eth0", VIP) && has_addr(ns, "eth0", VIP2));

    let name = second.name.clone();
    let v = Vigild::start(ns, dir.path(), "lb1", &conf(&second));
    // Removed at start, before the daemon answers its socket.
    assert!(!has_addr(ns, "eth0", VIP2), "{}", addrs(ns, "eth0"));
    let log = v.log_text();
    assert!(
        log.contains(&format!(
            "(VI_1) removing VIP {VIP2}/24 from eth0: left over from an earlier run, no longer configured"
        )),
        "{log}"
    );
    // A as before: removed at start as a leftover, back with the new master.
    v.expect_state(&name, "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP back on lb1");
    let text = state_text(&v);
    assert!(text.contains(&format!("vip {VIP}/24 ")), "{text}");
    assert!(!text.contains(&VIP2.to_string()), "{text}");
    assert!(!has_addr(ns, "eth0", VIP2));

    let mut v = v;
    let status = v.terminate(Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(!has_addr(ns, "eth0", VIP), "{}", addrs(ns, "eth0"));
    assert!(
        !state_file(&v).exists(),
        "the state file outlived a clean stop"
    );
}

#[test]
fn a_vip_no_longer_configured_is_removed_after_sigkill() {
    if !privileged_or_skip("a_vip_no_longer_configured_is_removed_after_sigkill") {
        return;
    }
    stale_vip_is_removed(
        "installed-same",
        "vis",
        Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT),
    );
}

#[test]
fn a_vip_no_longer_configured_is_removed_when_the_instance_changed_too() {
    if !privileged_or_skip("a_vip_no_longer_configured_is_removed_when_the_instance_changed_too") {
        return;
    }
    stale_vip_is_removed(
        "installed-other",
        "vio",
        Inst::v3("VI_9", 60, "BACKUP", 150, ADVERT),
    );
}

/// An address on the host before vigild recorded it (here the address owner's own,
/// configured by hand) is not vigild's: it is not recorded, so a crash and a start with
/// a configuration that no longer lists it leave it where it is.
#[test]
fn an_address_configured_by_hand_is_never_removed() {
    if !privileged_or_skip("an_address_configured_by_hand_is_never_removed") {
        return;
    }
    let lan = lan("vih", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("installed-hand");
    ns.exec_ok(&["ip", "addr", "add", &format!("{HAND}/24"), "dev", "eth0"])
        .unwrap();
    let mut owner = Inst::v3("VI_1", 51, "MASTER", 255, ADVERT);
    owner.vips = vec![format!("{VIP}/24"), format!("{HAND}/24")];
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&owner));
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    let log = v.log_text();
    assert!(
        log.contains(&format!(
            "(VI_1) VIP {HAND}/24 is already on eth0 and not vigild's"
        )),
        "{log}"
    );
    let text = state_text(&v);
    assert!(text.contains(&format!("vip {VIP}/24 ")), "{text}");
    assert!(!text.contains(&HAND.to_string()), "{text}");

    v.kill();
    let v = Vigild::start(
        ns,
        dir.path(),
        "lb1",
        &conf(&Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT)),
    );
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    assert!(has_addr(ns, "eth0", HAND), "{}", addrs(ns, "eth0"));
    let mut v = v;
    assert!(
        v.terminate(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    assert!(has_addr(ns, "eth0", HAND), "{}", addrs(ns, "eth0"));
}

/// A state file that is garbage, or that cannot be read at all, gets a warning and the
/// daemon runs as usual.
#[test]
fn a_corrupt_or_unreadable_state_file_is_a_warning() {
    if !privileged_or_skip("a_corrupt_or_unreadable_state_file_is_a_warning") {
        return;
    }
    let lan = lan("vic", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("installed-corrupt");
    let path = dir.path().join("lb1.installed");
    let inst = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);

    std::fs::write(
        &path,
        b"\x00\xffnot a state file\nvip 10.77.0.99/24 2 eth0 X\n",
    )
    .unwrap();
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&inst));
    v.expect_state("VI_1", "MASTER", SETTLE);
    let log = v.log_text();
    assert!(
        log.contains(&format!(
            "state file {}: does not start with `# vigild installed v1`; ignored",
            path.display()
        )),
        "{log}"
    );
    // Replaced by a good one.
    assert!(state_text(&v).contains(&format!("vip {VIP}/24 ")));
    assert!(
        v.terminate(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );

    // A directory where the file should be: it can be neither read nor written.
    std::fs::create_dir(&path).unwrap();
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&inst));
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    let log = v.log_text();
    let warned = format!("state file {}: Is a directory", path.display());
    assert!(log.matches(&warned).count() >= 2, "{log}");
    assert!(
        v.terminate(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
    assert!(!has_addr(ns, "eth0", VIP));
}

/// A start that fails (here: the configuration names an interface that does not exist)
/// removes what the killed run recorded: no daemon runs to own it.
#[test]
fn a_start_that_fails_removes_what_the_previous_run_left() {
    if !privileged_or_skip("a_start_that_fails_removes_what_the_previous_run_left") {
        return;
    }
    let lan = lan("vif", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("installed-failed-start");
    let mut v = Vigild::start(
        ns,
        dir.path(),
        "lb1",
        &conf(&Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT)),
    );
    v.expect_state("VI_1", "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb1");
    v.kill();
    assert!(has_addr(ns, "eth0", VIP));

    let mut broken = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);
    broken.iface = "nosuch0".into();
    std::fs::write(&v.conf, conf(&broken)).unwrap();
    let mut child = ns
        .command(VIGILD)
        .arg("-f")
        .arg(&v.conf)
        .arg("--control")
        .arg(&v.sock)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("vigild with a broken configuration did not exit");
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert_eq!(status.code(), Some(4), "{log}");
    assert!(
        log.contains(&format!(
            "(VI_1) removing VIP {VIP}/24 from eth0: left over from an earlier run, vigild cannot start"
        )),
        "{log}"
    );
    assert!(!has_addr(ns, "eth0", VIP), "{}", addrs(ns, "eth0"));
    assert!(!state_file(&v).exists());
}

/// The file follows reloads: a VIP a reload brought (VI_2's B) is recorded, so a crash
/// and a start with the configuration from before the reload remove it.
#[test]
fn a_vip_added_by_a_reload_is_recorded_and_removed_after_sigkill() {
    if !privileged_or_skip("a_vip_added_by_a_reload_is_recorded_and_removed_after_sigkill") {
        return;
    }
    let lan = lan("vir", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("installed-reload");
    let vi1 = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);
    let mut vi2 = Inst::v3("VI_2", 52, "BACKUP", 150, ADVERT);
    vi2.vips = vec![format!("{VIP2}/24")];
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&vi1));
    v.expect_state("VI_1", "MASTER", SETTLE);
    assert!(!state_text(&v).contains(&VIP2.to_string()));

    std::fs::write(
        &v.conf,
        global_defs("lb1", "") + &vi1.render() + &vi2.render(),
    )
    .unwrap();
    v.signal(nix::sys::signal::Signal::SIGHUP);
    v.expect_state("VI_2", "MASTER", SETTLE);
    wait_addr(ns, "eth0", VIP2, true, Duration::from_secs(1)).expect("B on lb1");
    let text = state_text(&v);
    assert!(text.contains(&format!("vip {VIP}/24 ")), "{text}");
    assert!(text.contains(&format!("vip {VIP2}/24 ")), "{text}");

    v.kill();
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf(&vi1));
    assert!(!has_addr(ns, "eth0", VIP2), "{}", addrs(ns, "eth0"));
    assert!(
        v.log_text().contains(&format!(
            "(VI_2) removing VIP {VIP2}/24 from eth0: left over from an earlier run, no longer configured"
        )),
        "{}",
        v.log_text()
    );
    v.expect_state("VI_1", "MASTER", SETTLE);
    assert!(
        v.terminate(Duration::from_secs(5))
            .is_some_and(|s| s.success())
    );
}
