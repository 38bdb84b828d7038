//! The firmware demo as a member of a real VRRP group: `vigil-fw` (smoltcp on a TAP
//! device), vigild and keepalived 2.2.7 on one bridge, one instance (VRID 51, VIP
//! 10.77.0.50), and a client that pings the VIP. Once with VRRPv2 and simple-password
//! authentication, once with VRRPv3 at 0.5 s.
//!
//! Each test walks through the same story and checks the wire and the client at every
//! step:
//! 1. vigil-fw has the highest priority (150 > vigild 100 > keepalived 50): it becomes
//!    master, the others stay backup and follow it; the client's ping of the VIP is
//!    answered by smoltcp (ARP and ICMP echo), from vigil-fw's MAC.
//! 2. keepalived comes back with priority 200: it preempts and vigil-fw yields.
//! 3. keepalived dies (SIGKILL, link down): vigil-fw takes over within its master-down interval,
//!    and its gratuitous ARPs move the client's ARP entry for the VIP back to it.
//! 4. vigil-fw stops cleanly (SIGTERM): it sends a priority-0 advert (TTL 255, TOS
//!    0xc0) and exits 0, and vigild takes over after its skew time, long before its
//!    master-down interval.
//! 5. vigil-fw comes back and preempts vigild; then it is killed (SIGKILL): vigild takes
//!    over within its master-down interval and answers for the VIP.
//!
//! Needs root (network namespaces, a TAP device), keepalived and ping; skipped
//! otherwise unless `VIGIL_REQUIRE_PRIVILEGED=1`.
#![cfg(feature = "std")]

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vigil_tests::netns::{Capture, privileged_or_skip, run_in};

/// The master-down interval of priority `prio` at `advert` seconds, in microseconds, as
/// RFC 3768 / RFC 5798 define it (3 intervals plus skew).
fn master_down_us(version: u8, prio: u64, advert_centis: u64) -> u64 {
    let skew = skew_us(version, prio, advert_centis);
    3 * advert_centis * 10_000 + skew
}

fn skew_us(version: u8, prio: u64, advert_centis: u64) -> u64 {
    match version {
        2 => (256 - prio) * 1_000_000 / 256,
        _ => (256 - prio) * advert_centis * 10_000 / 256,
    }
}

/// Scheduling slack allowed on top of protocol bounds (namespaces, a loaded CI box).
const SLACK: Duration = Duration::from_millis(600);
const FW_PRIO: u8 = 150;
const VIGILD_PRIO: u8 = 100;

fn group_story(test: &str, version: u8, advert: &str, advert_centis: u64) {
    if !privileged_or_skip(test) {
        return;
    }
    let dir = workdir(test);
    let net = Net::new(&format!("fw{version}"));
    let phase = |what: &str| eprintln!("{test}: {what}");

    // ---- 1. highest priority: vigil-fw becomes master --------------------------------
    phase("start vigild (100), keepalived (50), vigil-fw (150)");
    let vigild = Vigild::start(
        net.vigild_ns(),
        dir.path(),
        "vigild",
        &keepalived_conf("vigild", version, VIGILD_PRIO, advert),
    );
    let mut keepalived = Keepalived::start(
        net.keepalived_ns(),
        dir.path(),
        "ka50",
        &keepalived_conf("ka50", version, 50, advert),
    );
    let mut fw = Fw::start(net.fw_ns(), &fw_args(version, FW_PRIO, advert));
    let logs = |fw: &Fw, ka: &Keepalived| {
        format!(
            "--- vigil-fw:\n{}\n--- vigild:\n{}\n--- keepalived:\n{}",
            fw.log_text(),
            vigild.log_text(),
            ka.log_text()
        )
    };
    assert!(
        fw.wait_line("Entering MASTER STATE", 0, Duration::from_secs(15))
            .is_some(),
        "vigil-fw did not become master\n{}",
        logs(&fw, &keepalived)
    );
    // The others settle as backups that follow vigil-fw.
    let fw_ip = FW_IP.to_string();
    let followed = wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        (vigild.state().as_deref() == Some("BACKUP")
            && vigild.master().as_deref() == Some(fw_ip.as_str()))
        .then_some(())
    });
    assert!(
        followed.is_some(),
        "vigild is not a backup following {fw_ip}: {:?} {:?}\n{}",
        vigild.state(),
        vigild.master(),
        logs(&fw, &keepalived)
    );
    assert_eq!(
        keepalived.state().as_deref(),
        Some("BACKUP"),
        "{}",
        logs(&fw, &keepalived)
    );
    assert!(!has_addr(net.vigild_ns(), VIP) && !has_addr(net.keepalived_ns(), VIP));
    assert_eq!(fw.state().as_deref(), Some("MASTER"));
    // The client reaches the VIP on the smoltcp node: ARP and ICMP echo.
    flush_neigh(net.client_ns());
    assert!(
        ping_ok(net.client_ns(), VIP, 3),
        "the client cannot ping the VIP on vigil-fw\n{}",
        logs(&fw, &keepalived)
    );
    assert_eq!(
        neigh_mac(net.client_ns(), VIP).as_deref(),
        Some(FW_MAC),
        "the VIP is not answered from vigil-fw's MAC"
    );

    // ---- 2. a higher priority appears: vigil-fw yields -------------------------------
    phase("restart keepalived with priority 200");
    keepalived.kill();
    let from = fw.line_count();
    let mut keepalived = Keepalived::start(
        net.keepalived_ns(),
        dir.path(),
        "ka200",
        &keepalived_conf("ka200", version, 200, advert),
    );
    assert!(
        fw.wait_line("Entering BACKUP STATE", from, Duration::from_secs(15))
            .is_some(),
        "vigil-fw did not yield to priority 200\n{}",
        logs(&fw, &keepalived)
    );
    assert!(
        keepalived
            .wait_state("MASTER", Duration::from_secs(5))
            .is_some(),
        "keepalived is not master\n{}",
        logs(&fw, &keepalived)
    );
    assert!(
        fw.wait_line("VIPs removed", from, Duration::from_secs(1))
            .is_some()
    );
    assert_eq!(vigild.state().as_deref(), Some("BACKUP"));
    flush_neigh(net.client_ns());
    assert!(
        ping_ok(net.client_ns(), VIP, 3),
        "VIP unreachable on keepalived"
    );
    assert_eq!(
        neigh_mac(net.client_ns(), VIP).as_deref(),
        Some(KEEPALIVED_MAC)
    );

    // ---- 3. the master dies: vigil-fw takes over within its master-down interval -----
    phase("kill keepalived");
    // Past the client's neighbour entry lock time (1 s), so a gratuitous ARP may move it.
    std::thread::sleep(Duration::from_millis(1100));
    let from = fw.line_count();
    let killed = Instant::now();
    keepalived.kill();
    // A crashed keepalived leaves the VIP on its interface: take the box off the LAN,
    // as a dead machine would be (else its kernel keeps answering ARP for the VIP).
    net.keepalived_ns()
        .exec_ok(&["ip", "link", "set", "eth0", "down"])
        .unwrap();
    let (_, became) = fw
        .wait_line("Entering MASTER STATE", from, Duration::from_secs(15))
        .unwrap_or_else(|| panic!("vigil-fw did not take over\n{}", logs(&fw, &keepalived)));
    let took = became.duration_since(killed);
    let bound = Duration::from_micros(master_down_us(version, FW_PRIO.into(), advert_centis));
    eprintln!("{test}: takeover after {took:?} (master-down interval {bound:?})");
    assert!(
        took <= bound + SLACK,
        "takeover took {took:?}, master-down interval {bound:?}\n{}",
        logs(&fw, &keepalived)
    );
    // vigild stays backup and now follows vigil-fw again.
    let followed = wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        (vigild.master().as_deref() == Some(fw_ip.as_str())).then_some(())
    });
    assert!(followed.is_some(), "vigild does not follow vigil-fw");
    assert_eq!(vigild.state().as_deref(), Some("BACKUP"));
    // The gratuitous ARPs moved the client's entry without it asking.
    let moved = wait_for(Duration::from_secs(2), Duration::from_millis(20), || {
        (neigh_mac(net.client_ns(), VIP).as_deref() == Some(FW_MAC)).then_some(())
    });
    assert!(
        moved.is_some(),
        "client's ARP entry for the VIP still {:?} after vigil-fw's gratuitous ARPs",
        neigh_mac(net.client_ns(), VIP)
    );
    // The first ping is answered: the takeover's address change flushed smoltcp's
    // neighbour cache, which the loop restores (before, smoltcp answered this echo with
    // an ARP request for the client).
    assert!(
        ping(net.client_ns(), VIP),
        "the first ping of the VIP on vigil-fw after its takeover went unanswered"
    );

    // ---- 4. clean stop: priority 0, vigild takes over at once -------------------------
    phase("SIGTERM vigil-fw");
    let cap = run_in(net.vigild_ns(), || Capture::open("eth0").expect("capture"));
    let stopped = Instant::now();
    let status = fw.stop(Signal::SIGTERM, Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "vigil-fw did not exit 0 on SIGTERM: {status:?}\n{}",
        fw.log_text()
    );
    let resign = cap
        .wait_for(Duration::from_secs(2), |f| {
            vrrp_advert(f).is_some_and(|a| a.src == FW_IP.octets() && a.priority == 0)
        })
        .expect("capture")
        .unwrap_or_else(|| panic!("no priority-0 advert from vigil-fw\n{}", fw.log_text()));
    let a = vrrp_advert(&resign).unwrap();
    assert_eq!((a.ttl, a.tos, a.version, a.vrid), (255, 0xc0, version, 51));
    let took = vigild
        .wait_state("MASTER", Duration::from_secs(10))
        .map(|_| stopped.elapsed())
        .unwrap_or_else(|| panic!("vigild did not take over\n{}", vigild.log_text()));
    let skew = Duration::from_micros(skew_us(version, VIGILD_PRIO.into(), advert_centis));
    let down = Duration::from_micros(master_down_us(version, VIGILD_PRIO.into(), advert_centis));
    eprintln!("{test}: vigild master {took:?} after the stop (skew {skew:?}, down {down:?})");
    assert!(
        took <= skew + SLACK && took < down,
        "vigild took {took:?} after the resignation (skew {skew:?}, master-down {down:?})"
    );
    assert!(
        wait_for(Duration::from_secs(2), Duration::from_millis(20), || {
            has_addr(net.vigild_ns(), VIP).then_some(())
        })
        .is_some()
    );

    // ---- 5. vigil-fw comes back, preempts vigild, and crashes ----------------------------
    phase("restart vigil-fw, then SIGKILL it");
    let fw = Fw::start(net.fw_ns(), &fw_args(version, FW_PRIO, advert));
    assert!(
        fw.wait_line("Entering MASTER STATE", 0, Duration::from_secs(15))
            .is_some(),
        "vigil-fw did not preempt vigild\n{}",
        fw.log_text()
    );
    assert!(
        vigild
            .wait_state("BACKUP", Duration::from_secs(3))
            .is_some(),
        "vigild did not yield to vigil-fw\n{}",
        vigild.log_text()
    );
    std::thread::sleep(Duration::from_millis(1100));
    let killed = Instant::now();
    drop(fw); // SIGKILL: no resignation
    let took = vigild
        .wait_state("MASTER", Duration::from_secs(10))
        .map(|_| killed.elapsed())
        .unwrap_or_else(|| panic!("vigild did not take over\n{}", vigild.log_text()));
    eprintln!("{test}: vigild master {took:?} after vigil-fw was killed (down {down:?})");
    assert!(
        took <= down + SLACK,
        "vigild took {took:?} (master-down {down:?})"
    );
    flush_neigh(net.client_ns());
    assert!(
        ping_ok(net.client_ns(), VIP, 3),
        "VIP unreachable on vigild"
    );
    assert_eq!(neigh_mac(net.client_ns(), VIP).as_deref(), Some(VIGILD_MAC));
}

/// The fields of an IPv4 VRRP advert in an Ethernet frame that the test checks.
#[derive(Debug)]
struct Advert {
    src: [u8; 4],
    ttl: u8,
    tos: u8,
    version: u8,
    vrid: u8,
    priority: u8,
}

fn vrrp_advert(f: &[u8]) -> Option<Advert> {
    if f.len() < 34 || f[12..14] != [0x08, 0x00] || f[23] != 112 {
        return None;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    let v = f.get(14 + ihl..14 + ihl + 3)?;
    Some(Advert {
        src: f[26..30].try_into().ok()?,
        ttl: f[22],
        tos: f[15],
        version: v[0] >> 4,
        vrid: v[1],
        priority: v[2],
    })
}

#[test]
fn v2_with_password_vigild_keepalived_and_vigil_fw() {
    group_story(
        "v2_with_password_vigild_keepalived_and_vigil_fw",
        2,
        "1",
        100,
    );
}

#[test]
fn v3_vigild_keepalived_and_vigil_fw() {
    group_story("v3_vigild_keepalived_and_vigil_fw", 3, "0.5", 50);
}

/// Unicast peers instead of 224.0.0.18 (VRRPv3, 1 s): every member lists the other two.
/// vigil-fw (150) becomes master and the others follow it; its adverts are addressed
/// to each peer; the client reaches the VIP; on a clean stop its priority-0 adverts
/// reach vigild, which takes over after its skew time.
#[test]
fn v3_unicast_vigild_keepalived_and_vigil_fw() {
    let test = "v3_unicast_vigild_keepalived_and_vigil_fw";
    if !privileged_or_skip(test) {
        return;
    }
    let dir = workdir(test);
    let net = Net::new("fwu");
    let vigild = Vigild::start(
        net.vigild_ns(),
        dir.path(),
        "vigild",
        &unicast_conf(
            "vigild",
            3,
            VIGILD_PRIO,
            "1",
            Some((VIGILD_IP, &[KEEPALIVED_IP, FW_IP])),
        ),
    );
    let keepalived = Keepalived::start(
        net.keepalived_ns(),
        dir.path(),
        "ka",
        &unicast_conf("ka", 3, 50, "1", Some((KEEPALIVED_IP, &[VIGILD_IP, FW_IP]))),
    );
    let mut args = fw_args(3, FW_PRIO, "1");
    for p in [VIGILD_IP, KEEPALIVED_IP] {
        args.extend(["--peer".to_owned(), p.to_string()]);
    }
    let cap = run_in(net.keepalived_ns(), || {
        Capture::open("eth0").expect("capture")
    });
    let mut fw = Fw::start(net.fw_ns(), &args);
    let logs = |fw: &Fw| {
        format!(
            "--- vigil-fw:\n{}\n--- vigild:\n{}\n--- keepalived:\n{}",
            fw.log_text(),
            vigild.log_text(),
            keepalived.log_text()
        )
    };
    assert!(
        fw.wait_line("Entering MASTER STATE", 0, Duration::from_secs(15))
            .is_some(),
        "vigil-fw did not become master\n{}",
        logs(&fw)
    );
    let fw_ip = FW_IP.to_string();
    let followed = wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
        (vigild.master().as_deref() == Some(fw_ip.as_str())
            && keepalived.state().as_deref() == Some("BACKUP"))
        .then_some(())
    });
    assert!(
        followed.is_some(),
        "the others do not follow vigil-fw\n{}",
        logs(&fw)
    );
    assert_eq!(vigild.state().as_deref(), Some("BACKUP"));
    // An advert addressed to keepalived itself, not to the group.
    let to_ka = cap
        .wait_for(Duration::from_secs(3), |f| {
            vrrp_advert(f).is_some_and(|a| a.src == FW_IP.octets())
                && f[30..34] == KEEPALIVED_IP.octets()
        })
        .expect("capture");
    assert!(
        to_ka.is_some(),
        "no unicast advert to keepalived\n{}",
        logs(&fw)
    );
    assert!(ping_ok(net.client_ns(), VIP, 3), "VIP unreachable");
    assert_eq!(neigh_mac(net.client_ns(), VIP).as_deref(), Some(FW_MAC));

    let at_vigild = run_in(net.vigild_ns(), || Capture::open("eth0").expect("capture"));
    let stopped = Instant::now();
    let status = fw.stop(Signal::SIGTERM, Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let resign = at_vigild
        .wait_for(Duration::from_secs(2), |f| {
            vrrp_advert(f).is_some_and(|a| a.src == FW_IP.octets() && a.priority == 0)
        })
        .expect("capture");
    assert!(
        resign
            .as_deref()
            .is_some_and(|f| f[30..34] == VIGILD_IP.octets()),
        "no priority-0 advert to vigild: {resign:?}\n{}",
        logs(&fw)
    );
    let took = vigild
        .wait_state("MASTER", Duration::from_secs(10))
        .map(|_| stopped.elapsed())
        .unwrap_or_else(|| panic!("vigild did not take over\n{}", logs(&fw)));
    let skew = Duration::from_micros(skew_us(3, VIGILD_PRIO.into(), 100));
    eprintln!("{test}: vigild master {took:?} after the stop (skew {skew:?})");
    assert!(took <= skew + SLACK, "vigild took {took:?} (skew {skew:?})");
}
