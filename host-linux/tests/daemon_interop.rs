//! vigild and Debian's keepalived 2.2.7 in one VRRP group, in network namespaces:
//! vigild master with keepalived backup and the reverse; VRRPv2 with PASS and VRRPv3;
//! multicast and unicast; failover both ways (crash and graceful), and the higher
//! priority node taking the VIP back when it returns.
//!
//! keepalived's state is read from its log (`(VI_1) Entering MASTER STATE`) and from
//! `ip addr`; vigild's from `vigild status --json`.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};
use vigil_tests::netns::{Lan, Netns, privileged_or_skip};

#[derive(Debug, Clone, Copy)]
enum Mode {
    V2PassMulticast,
    V2PassUnicast,
    V2AhMulticast,
    V2AhUnicast,
    V3Multicast,
    V3Unicast,
}

fn inst(mode: Mode, state: &'static str, prio: u8, me: Ipv4Addr, peer: Ipv4Addr) -> Inst {
    let i = match mode {
        Mode::V2PassMulticast | Mode::V2PassUnicast => {
            Inst::v2_pass("VI_1", 51, state, prio, "s3cr3t")
        }
        Mode::V2AhMulticast | Mode::V2AhUnicast => Inst::v2_ah("VI_1", 51, state, prio, "s3cr3t"),
        Mode::V3Multicast | Mode::V3Unicast => Inst::v3("VI_1", 51, state, prio, "0.2"),
    };
    match mode {
        Mode::V2PassUnicast | Mode::V2AhUnicast | Mode::V3Unicast => i.unicast(me, &[peer]),
        _ => i,
    }
}

/// The advert interval in ms.
fn advert_ms(mode: Mode) -> u64 {
    match mode {
        Mode::V2PassMulticast | Mode::V2PassUnicast | Mode::V2AhMulticast | Mode::V2AhUnicast => {
            1000
        }
        Mode::V3Multicast | Mode::V3Unicast => 200,
    }
}

/// The skew time of the backup (priority 100) in ms: (256 - 100) * interval / 256 (v2:
/// (256 - 100) / 256 s, the same with a 1 s interval).
fn skew_ms(mode: Mode) -> u64 {
    156 * advert_ms(mode) / 256
}

/// The master-down interval of the backup in ms: 3 * interval + skew.
fn master_down_ms(mode: Mode) -> u64 {
    3 * advert_ms(mode) + skew_ms(mode)
}

/// Margin over the protocol bounds: two daemons (one of them a debug build) and
/// polling (10 ms for keepalived's log) on a loaded 2-CPU machine; keepalived acts on
/// SIGTERM in its VRRP child after its parent forwards it.
const MARGIN_MS: u64 = 250;

struct Group {
    // Dropped first: the daemons, then the namespaces, then the files.
    master: Daemon,
    backup: Daemon,
    lan: Lan,
    dir: tempfile::TempDir,
    mode: Mode,
    first: Impl,
}

impl Group {
    /// Starts `first` on lb1 (priority 150, state MASTER) and the other implementation
    /// on lb2 (priority 100, state BACKUP), and waits until they agree.
    fn start(test: &str, prefix: &str, mode: Mode, first: Impl) -> Group {
        let lan = lan(prefix, 2);
        let dir = workdir(test);
        let second = match first {
            Impl::Vigil => Impl::Keepalived,
            Impl::Keepalived => Impl::Vigil,
        };
        let (ip1, ip2) = (host_ip(0), host_ip(1));
        let conf1 = global_defs("lb1", "") + &inst(mode, "MASTER", 150, ip1, ip2).render();
        let conf2 = global_defs("lb2", "") + &inst(mode, "BACKUP", 100, ip2, ip1).render();
        let master = Daemon::start(first, &lan.host(0).ns, dir.path(), "lb1", &conf1);
        let g0 = Duration::from_secs(8);
        if master.wait_state("VI_1", "MASTER", g0).is_none() {
            panic!("lb1 ({first:?}) not master:\n{}", master.log());
        }
        let backup = Daemon::start(second, &lan.host(1).ns, dir.path(), "lb2", &conf2);
        if backup.wait_state("VI_1", "BACKUP", g0).is_none() {
            panic!("lb2 ({second:?}) not backup:\n{}", backup.log());
        }
        let g = Group {
            master,
            backup,
            lan,
            dir,
            mode,
            first,
        };
        // Stable for longer than a master-down interval: lb2 hears lb1.
        std::thread::sleep(Duration::from_millis(master_down_ms(mode) + 300));
        g.expect("MASTER", "BACKUP");
        if let Daemon::Vigil(v) = &g.backup {
            let i = v.instance("VI_1").unwrap();
            assert_eq!(i["master"], host_ip(0).to_string(), "{i}");
            assert!(counter(&i, "adverts_rx") > 0, "{i}");
        }
        g
    }

    fn ns(&self, i: usize) -> &Netns {
        &self.lan.host(i).ns
    }

    fn logs(&self) -> String {
        format!(
            "--- lb1 ({:?}) ---\n{}\n--- lb2 ---\n{}",
            self.first,
            self.master.log(),
            self.backup.log()
        )
    }

    /// Both states as expected and the VIP only on the master's interface.
    fn expect(&self, lb1: &str, lb2: &str) {
        assert_eq!(
            self.master.state("VI_1").as_deref(),
            Some(lb1),
            "{}",
            self.logs()
        );
        assert_eq!(
            self.backup.state("VI_1").as_deref(),
            Some(lb2),
            "{}",
            self.logs()
        );
        let on = |i: usize| has_addr(self.ns(i), "eth0", VIP);
        assert_eq!(
            (on(0), on(1)),
            (lb1 == "MASTER", lb2 == "MASTER"),
            "{}",
            self.logs()
        );
        // vigild understood every advert keepalived sent: nothing dropped.
        for d in [&self.master, &self.backup] {
            if let Daemon::Vigil(v) = d {
                let st = v.status_cli();
                let i = instance_of(&st, "VI_1").unwrap();
                assert!(
                    i["counters"]["drops"].as_object().unwrap().is_empty(),
                    "{i}"
                );
                assert!(st["drops"].as_object().unwrap().is_empty(), "{st}");
            }
        }
    }

    /// lb1 fails (crash: SIGKILL and link down; graceful: SIGTERM); lb2 must take over
    /// within `bound`. Then lb1 comes back and takes the VIP back.
    fn failover_and_back(&mut self, crash: bool) {
        let t = Instant::now();
        if crash {
            self.master.kill();
            self.ns(0)
                .exec_ok(&["ip", "link", "set", "eth0", "down"])
                .unwrap();
        } else {
            self.master.signal(nix::sys::signal::Signal::SIGTERM);
        }
        let bound = Duration::from_millis(if crash {
            // The last advert came at most one interval before the crash.
            master_down_ms(self.mode) + advert_ms(self.mode) + MARGIN_MS
        } else {
            // Priority 0: the backup waits its skew time.
            skew_ms(self.mode) + MARGIN_MS
        });
        if self
            .backup
            .wait_state("VI_1", "MASTER", bound + Duration::from_secs(3))
            .is_none()
        {
            panic!(
                "lb2 not master after lb1's {}:\n{}",
                if crash { "crash" } else { "stop" },
                self.logs()
            );
        }
        let took = t.elapsed();
        eprintln!(
            "{:?}, lb1 {:?} {}: lb2 MASTER after {took:?} (bound {bound:?})",
            self.mode,
            self.first,
            if crash { "crashed" } else { "stopped" },
        );
        assert!(took <= bound, "{took:?} > {bound:?}\n{}", self.logs());
        wait_addr(self.ns(1), "eth0", VIP, true, Duration::from_secs(1)).expect("VIP on lb2");
        if !crash {
            assert!(
                self.master.terminate_within(Duration::from_secs(5)),
                "lb1 did not stop:\n{}",
                self.logs()
            );
            assert!(!has_addr(self.ns(0), "eth0", VIP), "VIP left on lb1");
        }

        // lb1 returns (state MASTER, priority 150) and takes over again.
        if crash {
            self.ns(0)
                .exec_ok(&["ip", "link", "set", "eth0", "up"])
                .unwrap();
        }
        let conf = std::fs::read_to_string(self.dir.path().join("lb1.conf")).unwrap();
        self.master = Daemon::start(self.first, self.ns(0), self.dir.path(), "lb1", &conf);
        let g = Duration::from_secs(8);
        if self.master.wait_state("VI_1", "MASTER", g).is_none() {
            panic!("lb1 did not return as master:\n{}", self.logs());
        }
        if self.backup.wait_state("VI_1", "BACKUP", g).is_none() {
            panic!("lb2 did not give the VIP back:\n{}", self.logs());
        }
        wait_addr(self.ns(1), "eth0", VIP, false, Duration::from_secs(2)).expect("VIP off lb2");
        wait_addr(self.ns(0), "eth0", VIP, true, Duration::from_secs(2)).expect("VIP on lb1");
        // And it stays that way (no flapping) for more than a master-down interval.
        std::thread::sleep(Duration::from_millis(master_down_ms(self.mode) + 300));
        self.expect("MASTER", "BACKUP");
    }
}

#[test]
fn interop_v2_pass_multicast_vigild_master_keepalived_backup() {
    if !privileged_or_skip("interop_v2_pass_multicast_vigild_master_keepalived_backup") {
        return;
    }
    let mut g = Group::start("ka-v2m", "vk2m", Mode::V2PassMulticast, Impl::Vigil);
    g.failover_and_back(true);
}

#[test]
fn interop_v2_pass_unicast_keepalived_master_vigild_backup() {
    if !privileged_or_skip("interop_v2_pass_unicast_keepalived_master_vigild_backup") {
        return;
    }
    let mut g = Group::start("ka-v2u", "vk2u", Mode::V2PassUnicast, Impl::Keepalived);
    g.failover_and_back(true);
}

// keepalived's `auth_type AH`: the IPsec AH header (HMAC-MD5-96, sequence numbers)
// around VRRPv2. Both directions of failover, multicast and unicast.
#[test]
fn interop_v2_ah_multicast_vigild_master_keepalived_backup() {
    if !privileged_or_skip("interop_v2_ah_multicast_vigild_master_keepalived_backup") {
        return;
    }
    let mut g = Group::start("ka-v2ahm", "vk2am", Mode::V2AhMulticast, Impl::Vigil);
    g.failover_and_back(true);
}

#[test]
fn interop_v2_ah_unicast_keepalived_master_vigild_backup() {
    if !privileged_or_skip("interop_v2_ah_unicast_keepalived_master_vigild_backup") {
        return;
    }
    let mut g = Group::start("ka-v2ahu", "vk2au", Mode::V2AhUnicast, Impl::Keepalived);
    g.failover_and_back(false);
}

#[test]
fn interop_v3_multicast_keepalived_master_vigild_backup() {
    if !privileged_or_skip("interop_v3_multicast_keepalived_master_vigild_backup") {
        return;
    }
    let mut g = Group::start("ka-v3m", "vk3m", Mode::V3Multicast, Impl::Keepalived);
    g.failover_and_back(false);
}

#[test]
fn interop_v3_unicast_vigild_master_keepalived_backup() {
    if !privileged_or_skip("interop_v3_unicast_vigild_master_keepalived_backup") {
        return;
    }
    let mut g = Group::start("ka-v3u", "vk3u", Mode::V3Unicast, Impl::Vigil);
    g.failover_and_back(false);
}

/// AH with different `auth_pass`es: neither accepts the other's adverts, both end up
/// master; vigild counts the keepalived adverts it refused as authentication failures
/// (keepalived's `auth_failure`), and keepalived logs vigild's as an invalid HMAC.
#[test]
fn interop_v2_ah_wrong_pass_is_dropped_and_counted() {
    if !privileged_or_skip("interop_v2_ah_wrong_pass_is_dropped_and_counted") {
        return;
    }
    let lan = lan("vk2aw", 2);
    let dir = workdir("ka-v2ahw");
    let conf1 = global_defs("lb1", "") + &Inst::v2_ah("VI_1", 51, "MASTER", 150, "other").render();
    let conf2 = global_defs("lb2", "") + &Inst::v2_ah("VI_1", 51, "BACKUP", 100, "s3cr3t").render();
    let ka = Keepalived::start(&lan.host(0).ns, dir.path(), "lb1", &conf1);
    let g = Duration::from_secs(8);
    assert!(
        ka.wait_state("VI_1", "MASTER", g).is_some(),
        "{}",
        ka.log_text()
    );
    let v = Vigild::start(&lan.host(1).ns, dir.path(), "lb2", &conf2);
    let bound = Duration::from_millis(master_down_ms(Mode::V2AhMulticast) + 3000);
    assert!(
        v.wait_state("VI_1", "MASTER", bound).is_some(),
        "vigild accepted adverts under another key:\n{}",
        v.log_text()
    );
    // Both keep sending; both keep refusing.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        ka.state("VI_1").as_deref(),
        Some("MASTER"),
        "{}",
        ka.log_text()
    );
    assert_eq!(v.state("VI_1").as_deref(), Some("MASTER"));
    let i = instance_of(&v.status_cli(), "VI_1").unwrap();
    let refused = i["counters"]["drops"]["password"].as_u64().unwrap_or(0);
    assert!(refused >= 3, "{i}");
    assert_eq!(counter(&i, "adverts_rx"), 0, "{i}");
    let klog = ka.log_text();
    assert!(
        klog.contains("IPSEC-AH : invalid IPSEC HMAC-MD5 value"),
        "{klog}"
    );
}
