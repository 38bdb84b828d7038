//! SIGTERM: every instance's priority-0 advert leaves before any VIP is removed, the
//! VIPs and the state file are gone, and vigild exits 0. The order is read from the
//! protocol thread's own system calls (strace attached to the running daemon): a
//! capture and an address monitor are two queues, whose relative order a test cannot
//! read. How fast this is, is measured by `benches/daemon/sigterm.py`, not here.
//!
//! One host on a LAN of its own (10.77.0.11), VRRPv3 at 100 ms. Skips (or fails under
//! `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::netns::{KillOnDrop, privileged_or_skip};

const ADVERT: &str = "0.1";
const SETTLE: Duration = Duration::from_secs(5);

/// Whether every thread of `pid` is traced.
fn all_threads_traced(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        std::fs::read_to_string(t.path().join("status")).is_ok_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("TracerPid:"))
                .is_some_and(|v| v.trim() != "0")
        })
    })
}

#[test]
fn sigterm_resigns_every_instance_before_removing_a_vip_and_exits_0() {
    if !privileged_or_skip("sigterm_resigns_every_instance_before_removing_a_vip_and_exits_0") {
        return;
    }
    let lan = lan("vst", 1);
    let ns = &lan.host(0).ns;
    let dir = workdir("stop-order");
    let vi1 = Inst::v3("VI_1", 51, "BACKUP", 150, ADVERT);
    let mut vi2 = Inst::v3("VI_2", 52, "BACKUP", 150, ADVERT);
    vi2.vips = vec![format!("{VIP2}/24")];
    let conf = global_defs("lb1", "") + &vi1.render() + &vi2.render();
    let mut v = Vigild::start(ns, dir.path(), "lb1", &conf);
    v.expect_state("VI_1", "MASTER", SETTLE);
    v.expect_state("VI_2", "MASTER", SETTLE);
    for a in [VIP, VIP2] {
        wait_addr(ns, "eth0", a, true, Duration::from_secs(1)).expect("VIP on lb1");
    }

    let trace = dir.path().join("strace.out");
    let strace = Command::new("strace")
        .args([
            "-f",
            "-xx",
            "-s",
            "16",
            "-e",
            "trace=sendmsg,sendmmsg,sendto",
            "-o",
        ])
        .arg(&trace)
        .arg("-p")
        .arg(v.pid().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace (scripts/setup installs it)");
    let mut strace = KillOnDrop(strace);
    let pid = v.pid();
    wait_for(Duration::from_secs(5), Duration::from_millis(10), || {
        all_threads_traced(pid).then_some(())
    })
    .expect("strace did not attach");

    // The hang guard only: the time is measured by benches/daemon/sigterm.py.
    let status = v.terminate(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit: {status:?}\n{}",
        v.log_text()
    );
    wait_for(Duration::from_secs(5), Duration::from_millis(10), || {
        strace.0.try_wait().ok().flatten()
    })
    .expect("strace did not end with the daemon");
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A VRRPv3 advert (0x31) of VRID 51 or 52 with priority 0 (alone, or with the other
    // in one sendmmsg), and the removal of each VIP.
    let resign = |vrid: &str| {
        lines.iter().position(|l| {
            (l.contains("sendmsg(") || l.contains("sendmmsg("))
                && l.contains(&format!("\"\\x31{vrid}\\x00"))
        })
    };
    // RTM_DELADDR (21; strace names it only when it can tell the socket's protocol)
    // with the address in its first 16 bytes (ifaddrmsg, then IFA_LOCAL).
    let removal = |vip: std::net::Ipv4Addr| {
        let hex = |b: &[u8]| -> String { b.iter().map(|b| format!("\\x{b:02x}")).collect() };
        // Raw bytes, or (decoded) the address as text.
        let raw = format!("{}\"", hex(&vip.octets()));
        let text = format!("inet_addr(\"{}\")", hex(vip.to_string().as_bytes()));
        lines.iter().position(|l| {
            (l.contains("RTM_DELADDR") || l.contains("nlmsg_type=0x15"))
                && (l.contains(&raw) || l.contains(&text))
        })
    };
    let resigned = [resign("\\x33"), resign("\\x34")];
    let removed = [removal(VIP), removal(VIP2)];
    assert!(
        resigned.iter().chain(&removed).all(Option::is_some),
        "resignations {resigned:?}, removals {removed:?} in:\n{text}"
    );
    let last_resign = resigned.iter().flatten().max().unwrap();
    let first_removal = removed.iter().flatten().min().unwrap();
    assert!(
        last_resign < first_removal,
        "a VIP was removed before every instance resigned:\n{text}"
    );
    assert!(!has_addr(ns, "eth0", VIP) && !has_addr(ns, "eth0", VIP2));
    assert!(!v.sock.with_extension("installed").exists());
    assert!(v.log_text().contains("Stopped"));
}

// keepalived's dump signals (SIGUSR1, SIGUSR2, STATS_CLEAR, JSON) write files to /tmp,
// so they are tested in daemon_dumps.rs, where vigild has a /tmp of its own: that
// test also checks that they leave the daemon running, its instances and VIPs as
// they were.
