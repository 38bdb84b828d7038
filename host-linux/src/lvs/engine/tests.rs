//! keepalived 2.2.7's checker behaviour, step by step, on explicit instants and an
//! in-memory IPVS table.

use super::record::{self, Owned};
use super::*;
use crate::config::diag::Loc;
use crate::config::lvs::*;
use crate::config::model::Command;
use crate::lvs::ipvs::{Dest, DestStatus, Ipvs, Protocol, Service, ServiceKey};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// The in-memory table that fails as the kernel does.
pub(crate) type Fake = crate::lvs::ipvs::memory::MemoryIpvs;

fn loc() -> Loc {
    Loc::new(
        std::path::Path::new("/etc/keepalived/keepalived.conf").into(),
        1,
        1,
    )
}

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(crate) fn script(text: &str) -> Command {
    Command {
        text: text.into(),
        argv: text.split(' ').map(String::from).collect(),
        user: None,
        loc: loc(),
    }
}

fn timing(retry: u32, alpha: bool) -> CheckTiming {
    CheckTiming {
        delay_loop: Duration::from_secs(6),
        retry,
        delay_before_retry: Duration::from_secs(1),
        warmup: Duration::ZERO,
        alpha,
        log_all_failures: false,
    }
}

pub(crate) fn tcp(retry: u32, alpha: bool) -> Checker {
    Checker {
        loc: loc(),
        timing: timing(retry, alpha),
        connect: None,
        kind: CheckKind::Tcp,
    }
}

fn misc(dynamic: bool) -> Checker {
    Checker {
        loc: loc(),
        timing: timing(0, false),
        connect: None,
        kind: CheckKind::Misc(MiscCheck {
            path: script("/bin/check"),
            timeout: None,
            dynamic,
            user: None,
            user_at: None,
        }),
    }
}

pub(crate) fn real(addr: &str, weight: u32, checkers: Vec<Checker>) -> RealServer {
    RealServer {
        loc: loc(),
        addr: sa(addr),
        weight,
        forward: ForwardMethod::Dr,
        uthreshold: 0,
        lthreshold: 0,
        inhibit_on_failure: false,
        notify_up: Some(script(&format!("/bin/up {addr}"))),
        notify_down: Some(script(&format!("/bin/down {addr}"))),
        alpha: checkers.iter().any(|c| c.timing.alpha),
        smtp_alert: None,
        virtualhost: None,
        checkers,
    }
}

pub(crate) fn virt(addr: &str, rs: Vec<RealServer>) -> VirtualServer {
    VirtualServer {
        loc: loc(),
        key: VsKey::Address(sa(addr)),
        family: None,
        protocol: IpvsProtocol::Tcp,
        scheduler: "wlc".into(),
        flags: SchedulerFlags::default(),
        forward: ForwardMethod::Dr,
        persistence: None,
        ha_suspend: false,
        alpha: false,
        omega: false,
        quorum: 1,
        hysteresis: 0,
        quorum_up: Some(script("/bin/quorum_up")),
        quorum_down: Some(script("/bin/quorum_down")),
        virtualhost: None,
        smtp_alert: None,
        sorry_server: None,
        real_servers: rs,
        delay_loop: Duration::from_secs(6),
    }
}

pub(crate) fn conf(vs: Vec<VirtualServer>) -> LvsConf {
    LvsConf {
        groups: Vec::new(),
        virtual_servers: vs,
        ssl: None,
    }
}

const VS: &str = "10.0.0.1:80";
const RS1: &str = "10.0.1.1:80";
const RS2: &str = "10.0.1.2:80";
const RS3: &str = "10.0.1.3:80";

pub(crate) fn key(addr: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: sa(addr),
    }
}

/// The core, the table it programs and everything else it asked for.
struct World {
    core: Core,
    ipvs: Fake,
    t0: Instant,
    logs: Vec<String>,
    scripts: Vec<String>,
    mails: Vec<(String, String)>,
    fifo: Vec<String>,
}

impl World {
    fn new(c: LvsConf) -> World {
        let t0 = Instant::now();
        World {
            core: Core::new(&c, t0, 7),
            ipvs: Fake::default(),
            t0,
            logs: Vec::new(),
            scripts: Vec::new(),
            mails: Vec::new(),
            fifo: Vec::new(),
        }
    }

    fn started(c: LvsConf) -> World {
        let mut w = World::new(c);
        let fx = w.core.start();
        w.carry(fx);
        w
    }

    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }

    fn carry(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Ipvs(op) => table::apply(&mut self.ipvs, &op).unwrap(),
                Effect::Log(l) => self.logs.push(l),
                Effect::Notify(c) => self.scripts.push(c.text),
                Effect::Mail { subject, body } => self.mails.push((subject, body)),
                Effect::Fifo(line) => self.fifo.push(line),
            }
        }
    }

    /// Runs checker (vs, rs, checker) at `secs`, as due, with `ok`; returns when it is
    /// due next, in seconds.
    fn attempt(&mut self, id: (usize, usize, usize), secs: f64, attempt: Attempt) -> f64 {
        let now = self.at(secs);
        let due = self.core.due(now);
        let id = CheckerId {
            vs: id.0,
            rs: id.1,
            checker: id.2,
        };
        // Due now, or found due by an earlier call at this instant.
        let running = self.core.vs[id.vs].rs[id.rs].checkers[id.checker].in_flight;
        assert!(
            due.contains(&id)
                || (running && self.core.vs[id.vs].rs[id.rs].checkers[id.checker].next_at <= now),
            "{id:?} not due at {secs}: {due:?}"
        );
        let fx = self.core.attempt_done(id, &attempt, now);
        self.carry(fx);
        let next = self.core.vs[id.vs].rs[id.rs].checkers[id.checker].next_at;
        next.duration_since(self.t0).as_secs_f64()
    }

    fn ok(&mut self, id: (usize, usize, usize), secs: f64) -> f64 {
        self.attempt(id, secs, Attempt::Success { weight: None })
    }

    fn fail(&mut self, id: (usize, usize, usize), secs: f64) -> f64 {
        self.attempt(id, secs, Attempt::Failure("TCP connection failed.".into()))
    }

    fn weight(&self, vs: &str, rs: &str) -> Option<u32> {
        self.ipvs
            .entries()
            .get(&key(vs))?
            .1
            .get(&sa(rs))
            .map(|d| d.weight)
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    fn take_scripts(&mut self) -> Vec<String> {
        std::mem::take(&mut self.scripts)
    }

    fn take_fifo(&mut self) -> Vec<String> {
        std::mem::take(&mut self.fifo)
    }
}

pub(crate) fn one(rs: Vec<RealServer>) -> LvsConf {
    conf(vec![virt(VS, rs)])
}

#[test]
fn start_installs_the_service_and_its_servers_then_announces_the_checkers() {
    let mut w = World::started(one(vec![
        real(RS1, 2, vec![tcp(1, false)]),
        real(RS2, 3, vec![tcp(1, false)]),
    ]));
    assert_eq!(w.weight(VS, RS1), Some(2));
    assert_eq!(w.weight(VS, RS2), Some(3));
    let entries = w.ipvs.entries();
    let svc = &entries[&key(VS)].0;
    assert_eq!(svc.scheduler, "wlc");
    assert_eq!(svc.netmask, 0xffff_ffff);
    assert_eq!(
        w.take_logs(),
        vec![
            "Gained quorum 1+0=1 <= 5 for VS [10.0.0.1]:tcp:80",
            "Activating healthchecker for service [10.0.1.1]:tcp:80 for VS [10.0.0.1]:tcp:80",
            "Activating healthchecker for service [10.0.1.2]:tcp:80 for VS [10.0.0.1]:tcp:80",
        ]
    );
    // keepalived runs quorum_up when the start finds its quorum.
    assert_eq!(w.take_scripts(), vec!["/bin/quorum_up"]);
}

#[test]
fn the_first_check_runs_one_second_plus_a_random_part_of_warmup_after_the_start() {
    let mut c = tcp(1, false);
    c.timing.warmup = Duration::from_secs(10);
    let mut w = World::started(one(vec![
        real(RS1, 1, vec![tcp(1, false)]),
        real(RS2, 1, vec![c.clone()]),
        real(RS3, 1, vec![c]),
    ]));
    assert!(w.core.due(w.at(0.999)).is_empty());
    let due = w.core.due(w.at(1.0));
    assert_eq!(due.len(), 1, "{due:?}");
    let firsts: Vec<f64> = w.core.vs[0].rs[1..]
        .iter()
        .map(|r| r.checkers[0].next_at.duration_since(w.t0).as_secs_f64())
        .collect();
    for f in &firsts {
        assert!((1.0..11.0).contains(f), "{f}");
    }
    assert_ne!(firsts[0], firsts[1], "warmup spreads checkers");
}

#[test]
fn without_alpha_the_first_failure_is_enough_and_says_failed() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(3, false)])]));
    w.take_logs();
    w.take_scripts();
    let next = w.fail((0, 0, 0), 1.0);
    assert_eq!(next, 7.0, "a verdict waits delay_loop");
    assert_eq!(w.weight(VS, RS1), None);
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP_CHECK on service [10.0.1.1]:tcp:80 failed.",
            "Removing service [10.0.1.1]:tcp:80 from VS [10.0.0.1]:tcp:80",
            "Lost quorum 1-0=1 > 0 for VS [10.0.0.1]:tcp:80",
        ]
    );
    assert_eq!(
        w.take_scripts(),
        vec!["/bin/down 10.0.1.1:80", "/bin/quorum_down"]
    );
}

/// keepalived's `notify_fifo_rs` / `notify_fifo_vs` lines, where its notify scripts
/// run: a server down then up, the quorum with it; at exit only with omega.
#[test]
fn fifo_lines_follow_servers_and_quorum_as_keepalived_writes_them() {
    for omega in [false, true] {
        let mut c = one(vec![
            real(RS1, 1, vec![tcp(0, false)]),
            real(RS2, 1, vec![tcp(0, false)]),
        ]);
        c.virtual_servers[0].quorum = 2;
        c.virtual_servers[0].omega = omega;
        let mut w = World::started(c);
        assert_eq!(w.take_fifo(), vec!["VS [10.0.0.1]:tcp:80 UP\n"]);
        let next = w.fail((0, 0, 0), 1.0);
        assert_eq!(
            w.take_fifo(),
            vec![
                "RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n",
                "VS [10.0.0.1]:tcp:80 DOWN\n",
            ]
        );
        w.ok((0, 0, 0), next);
        assert_eq!(
            w.take_fifo(),
            vec![
                "RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80 UP\n",
                "VS [10.0.0.1]:tcp:80 UP\n",
            ]
        );
        let fx = w.core.stop();
        w.carry(fx);
        let at_exit = w.take_fifo();
        if omega {
            assert_eq!(
                at_exit,
                vec![
                    "RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n",
                    "RS [10.0.1.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n",
                    "VS [10.0.0.1]:tcp:80 DOWN\n",
                ]
            );
        } else {
            assert!(at_exit.is_empty(), "{at_exit:?}");
        }
    }
}

#[test]
fn retries_wait_delay_before_retry_and_the_verdict_counts_them() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(2, false)])]));
    assert_eq!(w.ok((0, 0, 0), 1.0), 7.0);
    w.take_logs();
    assert_eq!(
        w.fail((0, 0, 0), 7.0),
        8.0,
        "first retry after delay_before_retry"
    );
    assert_eq!(w.fail((0, 0, 0), 8.0), 9.0);
    assert_eq!(
        w.weight(VS, RS1),
        Some(1),
        "still in the pool during retries"
    );
    assert!(w.take_logs().is_empty());
    assert_eq!(w.fail((0, 0, 0), 9.0), 15.0);
    assert_eq!(w.weight(VS, RS1), None);
    assert_eq!(
        w.take_logs()[0],
        "TCP_CHECK on service [10.0.1.1]:tcp:80 failed after 2 retries."
    );
    // A success in between starts the count again.
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(1, false)])]));
    w.ok((0, 0, 0), 1.0);
    assert_eq!(w.fail((0, 0, 0), 7.0), 8.0);
    assert_eq!(w.ok((0, 0, 0), 8.0), 14.0);
    assert_eq!(w.fail((0, 0, 0), 14.0), 15.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
}

#[test]
fn a_down_server_comes_back_on_one_success() {
    let mut w = World::started(one(vec![real(RS1, 4, vec![tcp(1, false)])]));
    w.fail((0, 0, 0), 1.0);
    w.take_logs();
    w.take_scripts();
    // TCP keeps retrying while down: the retry comes after delay_before_retry.
    assert_eq!(w.fail((0, 0, 0), 7.0), 8.0);
    assert!(w.take_logs().is_empty(), "no news while down");
    w.ok((0, 0, 0), 8.0);
    assert_eq!(w.weight(VS, RS1), Some(4));
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP connection to [10.0.1.1]:tcp:80 success.",
            "Adding service [10.0.1.1]:tcp:80 to VS [10.0.0.1]:tcp:80",
            "Gained quorum 1+0=1 <= 4 for VS [10.0.0.1]:tcp:80",
        ]
    );
    assert_eq!(
        w.take_scripts(),
        vec!["/bin/up 10.0.1.1:80", "/bin/quorum_up"]
    );
}

#[test]
fn alpha_servers_start_out_of_the_pool_until_their_first_success() {
    let mut w = World::started(one(vec![
        real(RS1, 1, vec![tcp(3, true)]),
        real(RS2, 1, vec![tcp(3, true)]),
    ]));
    assert_eq!(w.weight(VS, RS1), None);
    assert!(w.ipvs.entries().contains_key(&key(VS)));
    // No quorum at start, no sorry server: nothing said, no script.
    assert!(w.take_scripts().is_empty());
    w.take_logs();
    w.ok((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP connection to [10.0.1.1]:tcp:80 success.",
            "Adding service [10.0.1.1]:tcp:80 to VS [10.0.0.1]:tcp:80",
            "Gained quorum 1+0=1 <= 1 for VS [10.0.0.1]:tcp:80",
        ]
    );
    // An alpha checker's first failure: the server was down already, its notify_down
    // runs (keepalived's first-result notification), the table does not change.
    w.take_scripts();
    w.fail((0, 1, 0), 1.0);
    assert_eq!(w.weight(VS, RS2), None);
    assert_eq!(w.take_scripts(), vec!["/bin/down 10.0.1.2:80"]);
    assert_eq!(
        w.take_logs(),
        vec!["TCP_CHECK on service [10.0.1.2]:tcp:80 failed."]
    );
}

#[test]
fn inhibit_on_failure_keeps_the_server_with_weight_zero() {
    let mut r = real(RS1, 5, vec![tcp(0, false)]);
    r.inhibit_on_failure = true;
    let mut w = World::started(one(vec![r.clone(), real(RS2, 1, vec![tcp(0, false)])]));
    w.take_logs();
    w.fail((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), Some(0));
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP_CHECK on service [10.0.1.1]:tcp:80 failed.",
            "Disabling service [10.0.1.1]:tcp:80 of VS [10.0.0.1]:tcp:80",
        ]
    );
    w.ok((0, 0, 0), 7.0);
    assert_eq!(w.weight(VS, RS1), Some(5));
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP connection to [10.0.1.1]:tcp:80 success.",
            "Enabling service [10.0.1.1]:tcp:80 of VS [10.0.0.1]:tcp:80",
        ]
    );
    // With alpha, an inhibited server starts in the table with weight 0.
    r.checkers = vec![tcp(0, true)];
    let mut w = World::started(one(vec![r]));
    assert_eq!(w.weight(VS, RS1), Some(0));
    w.ok((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), Some(5));
}

#[test]
fn a_server_with_several_checkers_is_up_only_when_all_pass() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(0, false), tcp(0, false)])]));
    w.take_logs();
    w.fail((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), None);
    assert_eq!(w.core.vs[0].rs[0].num_failed_checkers, 1);
    w.take_logs();
    w.fail((0, 0, 1), 1.0);
    assert_eq!(w.core.vs[0].rs[0].num_failed_checkers, 2);
    assert_eq!(
        w.take_logs(),
        vec!["TCP_CHECK on service [10.0.1.1]:tcp:80 failed."],
        "already removed"
    );
    w.ok((0, 0, 0), 7.0);
    assert_eq!(w.weight(VS, RS1), None, "one checker still fails");
    assert!(!w.core.vs[0].rs[0].alive);
    w.ok((0, 0, 1), 7.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert_eq!(w.core.vs[0].rs[0].num_failed_checkers, 0);
}

fn quorum_conf(inhibit_sorry: bool) -> LvsConf {
    let mut v = virt(
        VS,
        vec![
            real(RS1, 1, vec![tcp(0, false)]),
            real(RS2, 1, vec![tcp(0, false)]),
            real(RS3, 1, vec![tcp(0, false)]),
        ],
    );
    v.quorum = 2;
    v.hysteresis = 1;
    v.sorry_server = Some(SorryServer {
        addr: sa("10.0.9.9:80"),
        forward: ForwardMethod::Nat,
        inhibit: inhibit_sorry,
    });
    conf(vec![v])
}

#[test]
fn quorum_is_lost_and_gained_with_hysteresis_and_the_sorry_server_steps_in() {
    let mut w = World::started(quorum_conf(false));
    assert_eq!(
        w.take_logs()[0],
        "Gained quorum 2+1=3 <= 3 for VS [10.0.0.1]:tcp:80"
    );
    assert_eq!(w.weight(VS, "10.0.9.9:80"), None);
    w.take_scripts();
    // Down to 1: still above quorum - hysteresis (1).
    w.fail((0, 0, 0), 1.0);
    w.fail((0, 1, 0), 1.0);
    assert!(w.core.vs[0].quorum_up);
    w.take_logs();
    w.fail((0, 2, 0), 1.0);
    assert!(!w.core.vs[0].quorum_up);
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP_CHECK on service [10.0.1.3]:tcp:80 failed.",
            "Removing service [10.0.1.3]:tcp:80 from VS [10.0.0.1]:tcp:80",
            "Lost quorum 2-1=1 > 0 for VS [10.0.0.1]:tcp:80",
            "Adding sorry server [10.0.9.9]:tcp:80 to VS [10.0.0.1]:tcp:80",
            "Removing alive servers from the pool for VS [10.0.0.1]:tcp:80",
        ]
    );
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(1));
    assert_eq!(
        w.take_scripts(),
        vec![
            "/bin/down 10.0.1.1:80",
            "/bin/down 10.0.1.2:80",
            "/bin/down 10.0.1.3:80",
            "/bin/quorum_down"
        ]
    );
    // Two back: 2 < quorum + hysteresis (3); the sorry server stays, the servers wait.
    w.ok((0, 0, 0), 7.0);
    w.ok((0, 1, 0), 7.0);
    assert!(!w.core.vs[0].quorum_up);
    assert_eq!(
        w.weight(VS, RS1),
        None,
        "not in the pool while the sorry server serves"
    );
    let s = w.core.snapshot(w.at(7.0));
    assert!(s.virtual_servers[0].sorry_server_active);
    assert!(s.virtual_servers[0].real_servers[0].up);
    assert_eq!(s.virtual_servers[0].real_servers[0].weight, 0);
    w.take_logs();
    w.ok((0, 2, 0), 7.0);
    assert!(w.core.vs[0].quorum_up);
    assert_eq!(
        w.take_logs(),
        vec![
            "TCP connection to [10.0.1.3]:tcp:80 success.",
            "Adding service [10.0.1.3]:tcp:80 to VS [10.0.0.1]:tcp:80",
            "Gained quorum 2+1=3 <= 3 for VS [10.0.0.1]:tcp:80",
            "Removing sorry server [10.0.9.9]:tcp:80 from VS [10.0.0.1]:tcp:80",
            "Adding alive servers to the pool for VS [10.0.0.1]:tcp:80",
        ]
    );
    assert_eq!(w.weight(VS, "10.0.9.9:80"), None);
    for rs in [RS1, RS2, RS3] {
        assert_eq!(w.weight(VS, rs), Some(1), "{rs}");
    }
}

#[test]
fn sorry_server_inhibit_waits_in_the_table_with_weight_zero() {
    let mut w = World::started(quorum_conf(true));
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(0));
    for i in 0..3 {
        w.fail((0, i, 0), 1.0);
    }
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(1));
    assert!(
        w.logs
            .contains(&"Enabling sorry server [10.0.9.9]:tcp:80 to VS [10.0.0.1]:tcp:80".into())
    );
    for i in 0..3 {
        w.ok((0, i, 0), 7.0);
    }
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(0));
    assert!(
        w.logs
            .contains(&"Disabling sorry server [10.0.9.9]:tcp:80 from VS [10.0.0.1]:tcp:80".into())
    );
}

#[test]
fn a_start_without_quorum_puts_the_sorry_server_in() {
    let mut c = quorum_conf(false);
    for r in &mut c.virtual_servers[0].real_servers {
        r.checkers = vec![tcp(0, true)];
    }
    let mut w = World::started(c);
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(1));
    assert_eq!(
        &w.take_logs()[..2],
        &[
            "Starting with quorum down 2-1=3 > 0 for VS [10.0.0.1]:tcp:80".to_string(),
            "Adding sorry server [10.0.9.9]:tcp:80 to VS [10.0.0.1]:tcp:80".to_string(),
        ]
    );
    assert_eq!(w.take_scripts(), vec!["/bin/quorum_down"]);
}

#[test]
fn exit_removes_everything_and_only_omega_runs_the_down_scripts() {
    for omega in [false, true] {
        let mut c = one(vec![
            real(RS1, 1, vec![tcp(0, false)]),
            real(RS2, 1, vec![tcp(0, false)]),
        ]);
        c.virtual_servers[0].omega = omega;
        let mut w = World::started(c);
        w.fail((0, 1, 0), 1.0);
        w.take_logs();
        w.take_scripts();
        let fx = w.core.stop();
        w.carry(fx);
        assert!(w.ipvs.entries().is_empty());
        assert_eq!(
            w.take_logs(),
            vec![
                "Shutting down service [10.0.1.1]:tcp:80 from VS [10.0.0.1]:tcp:80",
                "Shutting down service [10.0.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80",
            ]
        );
        let scripts = w.take_scripts();
        if omega {
            assert_eq!(scripts, vec!["/bin/down 10.0.1.1:80", "/bin/quorum_down"]);
        } else {
            assert!(scripts.is_empty(), "{scripts:?}");
        }
    }
}

#[test]
fn misc_dynamic_weights_change_the_table_and_fall_back_on_failure() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![misc(true)])]));
    w.take_logs();
    w.attempt((0, 0, 0), 1.0, Attempt::Success { weight: Some(5) });
    assert_eq!(w.weight(VS, RS1), Some(5));
    assert_eq!(
        w.take_logs(),
        vec![
            "Changing weight from 1 to 5 for active service [10.0.1.1]:tcp:80 of VS [10.0.0.1]:tcp:80",
            "Misc check for [[10.0.1.1]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/check] succeeded.",
        ]
    );
    // The same weight again: nothing.
    w.attempt((0, 0, 0), 7.0, Attempt::Success { weight: Some(5) });
    assert!(w.take_logs().is_empty());
    // Exit 0: the configured weight.
    w.attempt((0, 0, 0), 13.0, Attempt::Success { weight: None });
    assert_eq!(w.weight(VS, RS1), Some(1));
    w.attempt((0, 0, 0), 19.0, Attempt::Success { weight: Some(0) });
    assert_eq!(w.weight(VS, RS1), Some(0));
    w.take_logs();
    w.attempt(
        (0, 0, 0),
        25.0,
        Attempt::Failure("exited with status 1".into()),
    );
    assert_eq!(w.weight(VS, RS1), None);
    assert_eq!(
        w.take_logs()[0],
        "Misc check for [[10.0.1.1]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/check] failed with retry disabled (exited with status 1)."
    );
    // Back: with the configured weight until the script asks again.
    w.attempt((0, 0, 0), 31.0, Attempt::Success { weight: None });
    assert_eq!(w.weight(VS, RS1), Some(1));
}

#[test]
fn reload_keeps_unchanged_servers_state_adds_new_ones_and_removes_old_ones() {
    let mut w = World::started(one(vec![
        real(RS1, 1, vec![tcp(0, false)]),
        real(RS2, 1, vec![tcp(0, false)]),
    ]));
    w.fail((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), None);
    w.take_logs();
    w.take_scripts();
    let new = conf(vec![
        virt(
            VS,
            vec![
                real(RS1, 1, vec![tcp(0, false)]),
                real(RS3, 2, vec![tcp(0, false)]),
            ],
        ),
        virt(
            "10.0.0.2:443",
            vec![real("10.0.2.1:443", 1, vec![tcp(0, false)])],
        ),
    ]);
    let fx = w.core.reload(&new, w.at(2.0));
    w.carry(fx);
    // RS1 failed before and stays out until a check passes.
    assert_eq!(w.weight(VS, RS1), None);
    assert!(!w.core.vs[0].rs[0].alive);
    assert_eq!(w.core.vs[0].rs[0].num_failed_checkers, 1);
    assert_eq!(w.weight(VS, RS2), None);
    assert_eq!(w.weight(VS, RS3), Some(2));
    assert_eq!(w.weight("10.0.0.2:443", "10.0.2.1:443"), Some(1));
    assert_eq!(
        w.take_logs(),
        vec![
            "service [10.0.1.2]:tcp:80 no longer exist",
            "Removing service [10.0.1.2]:tcp:80 from VS [10.0.0.1]:tcp:80",
            "Gained quorum 1+0=1 <= 1 for VS [10.0.0.2]:tcp:443",
            "Activating healthchecker for service [10.0.1.1]:tcp:80 for VS [10.0.0.1]:tcp:80",
            "Activating healthchecker for service [10.0.1.3]:tcp:80 for VS [10.0.0.1]:tcp:80",
            "Activating healthchecker for service [10.0.2.1]:tcp:443 for VS [10.0.0.2]:tcp:443",
        ]
    );
    assert_eq!(
        w.take_scripts(),
        vec!["/bin/down 10.0.1.2:80", "/bin/quorum_up"]
    );
    // Checkers start again one second (plus warmup) after the reload; RS1 recovers.
    w.ok((0, 0, 0), 3.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
    // A service that goes.
    let fx = w
        .core
        .reload(&one(vec![real(RS1, 1, vec![tcp(0, false)])]), w.at(10.0));
    w.carry(fx);
    assert!(!w.ipvs.entries().contains_key(&key("10.0.0.2:443")));
    assert!(
        w.logs
            .contains(&"Removing Virtual Server [10.0.0.2]:tcp:443".to_string())
    );
    assert_eq!(w.ipvs.entries()[&key(VS)].1.len(), 1);
}

#[test]
fn reload_applies_a_new_weight_and_a_new_scheduler() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(0, false)])]));
    w.take_logs();
    let mut v = virt(VS, vec![real(RS1, 7, vec![tcp(0, false)])]);
    v.scheduler = "rr".into();
    let fx = w.core.reload(&conf(vec![v]), w.at(2.0));
    w.carry(fx);
    assert_eq!(w.weight(VS, RS1), Some(7));
    assert_eq!(w.ipvs.entries()[&key(VS)].0.scheduler, "rr");
    assert_eq!(
        w.take_logs()[0],
        "Changing weight from 1 to 7 for active service [10.0.1.1]:tcp:80 of VS [10.0.0.1]:tcp:80"
    );
}

#[test]
fn foreign_entries_are_left_alone_and_a_crashed_runs_leftovers_removed() {
    let mut w = World::new(one(vec![real(RS1, 1, vec![tcp(0, false)])]));
    // Somebody else's service, and what a crashed run left: a service no longer
    // configured and a destination no longer configured in one that is.
    let foreign = Service {
        key: key("192.0.2.1:25"),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    w.ipvs.add_service(&foreign).unwrap();
    let mut old = foreign.clone();
    old.key = key("10.0.0.9:80");
    w.ipvs.add_service(&old).unwrap();
    let mut ours = foreign.clone();
    ours.key = key(VS);
    w.ipvs.add_service(&ours).unwrap();
    let stale = Dest {
        addr: sa("10.0.1.99:80"),
        forward: ForwardMethod::Dr,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    };
    w.ipvs.add_dest(&key(VS), &stale).unwrap();
    let mut recorded = Owned::default();
    recorded.services.insert(key("10.0.0.9:80"));
    recorded.services.insert(key(VS));
    recorded.dests.insert((key(VS), sa("10.0.1.99:80")));
    recorded
        .dests
        .insert((key("10.0.0.9:80"), sa("10.0.1.1:80")));

    let fx = w.core.start();
    let leftovers = record::leftovers(&recorded, &fx);
    assert_eq!(
        leftovers,
        vec![
            table::Op::DelDest(key(VS), sa("10.0.1.99:80")),
            table::Op::DelService(key("10.0.0.9:80")),
        ]
    );
    for op in &leftovers {
        table::apply(&mut w.ipvs, op).unwrap();
    }
    w.carry(fx);
    assert!(w.ipvs.entries().contains_key(&key("192.0.2.1:25")));
    assert!(!w.ipvs.entries().contains_key(&key("10.0.0.9:80")));
    assert_eq!(w.ipvs.entries()[&key(VS)].0.scheduler, "wlc", "taken over");
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert_eq!(w.weight(VS, "10.0.1.99:80"), None);
    // At exit, only ours goes.
    let fx = w.core.stop();
    w.carry(fx);
    assert_eq!(w.ipvs.entries().len(), 1);
    assert!(w.ipvs.entries().contains_key(&key("192.0.2.1:25")));
}

#[test]
fn the_record_reads_back_what_it_wrote() {
    let mut o = Owned::default();
    o.services.insert(key(VS));
    o.services.insert(ServiceKey::Fwmark {
        family: crate::lvs::ipvs::AddrFamily::Inet6,
        mark: 7,
    });
    o.dests.insert((key(VS), sa("[2001:db8::1]:80")));
    o.dests.insert((
        ServiceKey::Fwmark {
            family: crate::lvs::ipvs::AddrFamily::Inet6,
            mark: 7,
        },
        sa("[2001:db8::2]:0"),
    ));
    let (back, bad) = Owned::parse(&o.render());
    assert_eq!(back, o);
    assert_eq!(bad, 0);
    let (_, bad) = Owned::parse("service tcp nonsense\ndest x\n");
    assert_eq!(bad, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = record::path_for(&dir.path().join("vigild.installed"));
    o.write(&path).unwrap();
    assert_eq!(Owned::read(&path), o);
    Owned::default().write(&path).unwrap();
    assert!(!path.exists(), "an empty record is no file");
}

#[test]
fn a_group_expands_to_one_service_per_address_and_fwmark() {
    let mut v = virt(VS, vec![real(RS1, 1, vec![tcp(0, false)])]);
    v.key = VsKey::Group("web".into());
    let mut c = conf(vec![v]);
    c.groups.push(VirtualServerGroup {
        name: "web".into(),
        loc: loc(),
        members: vec![
            GroupMember::Address {
                first: "10.0.0.1".parse().unwrap(),
                last: "10.0.0.3".parse().unwrap(),
                port: 80,
                loc: loc(),
            },
            GroupMember::Fwmark {
                mark: 9,
                family: None,
                loc: loc(),
            },
        ],
    });
    let w = World::started(c);
    assert_eq!(w.ipvs.entries().len(), 4);
    for a in ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"] {
        assert_eq!(w.weight(a, RS1), Some(1), "{a}");
    }
    let fw = ServiceKey::Fwmark {
        family: crate::lvs::ipvs::AddrFamily::Inet,
        mark: 9,
    };
    assert_eq!(w.ipvs.entries()[&fw].1.len(), 1);
    assert!(
        w.logs
            .contains(&"Gained quorum 1+0=1 <= 1 for VS [web]:0".to_string())
    );
}

#[test]
fn a_service_written_twice_keeps_the_first_ones_options_and_both_ones_servers() {
    let mut first = virt(VS, vec![real(RS1, 1, vec![])]);
    first.scheduler = "rr".into();
    let second = virt(VS, vec![real(RS2, 1, vec![])]);
    let w = World::started(conf(vec![first, second]));
    assert_eq!(w.ipvs.entries()[&key(VS)].0.scheduler, "rr");
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert_eq!(w.weight(VS, RS2), Some(1));
}

#[test]
fn a_destination_takes_the_port_of_the_group_entry_unless_nat() {
    // keepalived's ipvs_group_cmd: DR/TUN take the entry's port (0 for a fwmark), NAT
    // keeps the real server's.
    let mut rs = real("10.0.1.2:8080", 1, vec![]);
    rs.forward = ForwardMethod::Dr;
    let addr = |a: &str| ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr: sa(a),
    };
    let fw = ServiceKey::Fwmark {
        family: crate::lvs::ipvs::AddrFamily::Inet,
        mark: 9,
    };
    assert_eq!(
        table::dest_addr(&rs, addr("10.0.0.1:80")),
        sa("10.0.1.2:80")
    );
    assert_eq!(table::dest_addr(&rs, fw), sa("10.0.1.2:0"));
    rs.forward = ForwardMethod::Nat;
    assert_eq!(
        table::dest_addr(&rs, addr("10.0.0.1:80")),
        sa("10.0.1.2:8080")
    );
    assert_eq!(table::dest(&rs, 3, fw).addr, sa("10.0.1.2:8080"));
}

#[test]
fn persistence_sets_the_flag_timeout_and_granularity() {
    let mut v = virt(VS, vec![]);
    v.persistence = Some(Persistence {
        timeout: 50,
        granularity: Some("255.255.255.0".parse().unwrap()),
        engine: None,
    });
    let s = table::service(&v, key(VS));
    assert_eq!(s.flags & 1, 1);
    assert_eq!(s.timeout, 50);
    assert_eq!(s.netmask, 0xffff_ff00);
}

#[test]
fn ha_suspend_checkers_wait_for_the_service_address() {
    let mut c = one(vec![real(RS1, 1, vec![tcp(0, false)])]);
    c.virtual_servers[0].ha_suspend = true;
    let mut w = World::started(c);
    assert!(
        w.logs.contains(
            &"Deactivating healthchecker for service [10.0.1.1]:tcp:80 for VS [10.0.0.1]:tcp:80"
                .to_string()
        )
    );
    // The service is installed; its checkers skip their turns.
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert!(w.core.due(w.at(1.0)).is_empty());
    w.take_logs();
    let fx = w.core.address_changed("10.0.0.1".parse().unwrap(), true);
    w.carry(fx);
    assert_eq!(
        w.take_logs(),
        vec!["Activating healthchecker for service [10.0.1.1]:tcp:80 for VS [10.0.0.1]:tcp:80"]
    );
    assert_eq!(w.core.due(w.at(7.0)).len(), 1);
    let fx = w.core.address_changed("10.0.0.1".parse().unwrap(), false);
    w.carry(fx);
    assert_eq!(
        w.take_logs(),
        vec!["Suspending healthchecker for service [10.0.1.1]:tcp:80 for VS [10.0.0.1]:tcp:80"]
    );
}

#[test]
fn mail_alerts_name_the_server_and_the_checker() {
    let mut r = real(RS1, 1, vec![tcp(0, false)]);
    r.smtp_alert = Some(true);
    let mut w = World::started(one(vec![r]));
    w.fail((0, 0, 0), 1.0);
    w.ok((0, 0, 0), 7.0);
    assert_eq!(
        w.mails,
        vec![
            (
                "Realserver [10.0.1.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - DOWN"
                    .to_string(),
                "=> TCP CHECK failed on service <=".to_string()
            ),
            (
                "Realserver [10.0.1.1]:tcp:80 of virtual server [10.0.0.1]:tcp:80 - UP".to_string(),
                "=> TCP CHECK succeed on service <=".to_string()
            ),
        ]
    );
}

#[test]
fn the_snapshot_shows_servers_weights_and_last_results() {
    let mut r = real(RS2, 3, vec![tcp(0, false)]);
    r.inhibit_on_failure = true;
    let mut w = World::started(one(vec![real(RS1, 2, vec![tcp(0, false)]), r]));
    w.ok((0, 0, 0), 1.0);
    w.attempt(
        (0, 1, 0),
        1.0,
        Attempt::Failure("connection refused".into()),
    );
    let s = w.core.snapshot(w.at(3.0));
    let vs = &s.virtual_servers[0];
    assert_eq!(vs.name, "[10.0.0.1]:tcp:80");
    assert!(vs.quorum_up);
    assert_eq!(vs.live_weight, 2);
    assert_eq!(vs.real_servers[0].weight, 2);
    assert!(vs.real_servers[0].up);
    assert_eq!(vs.real_servers[1].weight, 0);
    assert!(vs.real_servers[1].in_table);
    assert_eq!(
        vs.real_servers[1].checkers[0].last_reason.as_deref(),
        Some("connection refused")
    );
    assert_eq!(vs.real_servers[1].checkers[0].last_age_secs, Some(2));
    let table = s.to_table();
    assert!(table.contains("[10.0.1.2]:tcp:80"), "{table}");
    assert!(table.contains("DOWN"), "{table}");
    let json = serde_json::to_string(&s).unwrap();
    assert!(json.contains("\"inhibit_on_failure\":true"), "{json}");
}

/// The fake table shared between a runner and the test.
pub(crate) struct Shared(pub(crate) std::rc::Rc<std::cell::RefCell<Fake>>);

impl Ipvs for Shared {
    fn add_service(&mut self, s: &Service) -> io::Result<()> {
        self.0.borrow_mut().add_service(s)
    }
    fn edit_service(&mut self, s: &Service) -> io::Result<()> {
        self.0.borrow_mut().edit_service(s)
    }
    fn del_service(&mut self, k: &ServiceKey) -> io::Result<()> {
        self.0.borrow_mut().del_service(k)
    }
    fn add_dest(&mut self, k: &ServiceKey, d: &Dest) -> io::Result<()> {
        self.0.borrow_mut().add_dest(k, d)
    }
    fn edit_dest(&mut self, k: &ServiceKey, d: &Dest) -> io::Result<()> {
        self.0.borrow_mut().edit_dest(k, d)
    }
    fn del_dest(&mut self, k: &ServiceKey, a: SocketAddr) -> io::Result<()> {
        self.0.borrow_mut().del_dest(k, a)
    }
    fn services(&mut self) -> io::Result<Vec<Service>> {
        self.0.borrow_mut().services()
    }
    fn dests(&mut self, k: &ServiceKey) -> io::Result<Vec<DestStatus>> {
        self.0.borrow_mut().dests(k)
    }
}

pub(crate) fn local_runtime<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, f)
}

/// Polls `cond` every 20 ms for at most `secs`.
pub(crate) async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 50 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

fn quiet_sinks(scripts: std::rc::Rc<std::cell::RefCell<Vec<String>>>) -> runner::Sinks {
    runner::Sinks {
        script: std::rc::Rc::new(move |c: &Command| scripts.borrow_mut().push(c.text.clone())),
        mail: std::rc::Rc::new(|_: &str, _: &str| {}),
        fifo: std::rc::Rc::new(|_: &str| {}),
    }
}

#[test]
fn the_runner_applies_results_records_what_it_installed_and_cleans_up_at_exit() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let dir = tempfile::tempdir().unwrap();
    let path = record::path_for(&dir.path().join("vigild.installed"));
    let table = Rc::new(RefCell::new(Fake::default()));
    let foreign = Service {
        key: key("192.0.2.1:25"),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    table.borrow_mut().add_service(&foreign).unwrap();
    let scripts = Rc::new(RefCell::new(Vec::new()));
    // RS2 always fails, RS1 always passes.
    let prober: Rc<dyn runner::Prober> = Rc::new(|id: CheckerId, _c: Arc<Checker>| {
        Box::pin(async move {
            if id.rs == 1 {
                Attempt::Failure("refused".into())
            } else {
                Attempt::Success { weight: None }
            }
        }) as runner::ProbeFuture
    });
    let c = one(vec![
        real(RS1, 1, vec![tcp(0, false)]),
        real(RS2, 1, vec![tcp(0, false)]),
    ]);
    local_runtime(async {
        let handle = runner::spawn(
            &c,
            Box::new(Shared(table.clone())),
            prober,
            quiet_sinks(scripts.clone()),
            Some(path.clone()),
        );
        let has = |rs: &str| {
            table
                .borrow()
                .entries()
                .get(&key(VS))
                .is_some_and(|s| s.1.contains_key(&sa(rs)))
        };
        assert!(
            eventually(1, || has(RS1) && has(RS2)).await,
            "installed at start"
        );
        assert!(
            eventually(5, || !has(RS2)).await,
            "RS2 removed after its check"
        );
        assert!(has(RS1));
        let recorded = Owned::read(&path);
        assert!(recorded.services.contains(&key(VS)));
        assert!(recorded.dests.contains(&(key(VS), sa(RS1))));
        assert!(!recorded.dests.contains(&(key(VS), sa(RS2))));
        let status = handle.status().await.unwrap();
        assert!(status.virtual_servers[0].real_servers[0].up);
        assert!(!status.virtual_servers[0].real_servers[1].up);
        handle.stop().await;
    });
    let t = table.borrow();
    assert_eq!(t.entries().len(), 1, "only the foreign service is left");
    assert!(t.entries().contains_key(&key("192.0.2.1:25")));
    assert!(!path.exists(), "nothing installed, no record");
    assert_eq!(
        *scripts.borrow(),
        vec!["/bin/quorum_up", "/bin/down 10.0.1.2:80"]
    );
}

#[test]
fn the_runner_runs_a_thousand_attempts_at_once() {
    use std::cell::Cell;
    use std::rc::Rc;
    const N: usize = 1000;
    let servers: Vec<RealServer> = (0..N)
        .map(|i| {
            real(
                &format!("10.1.{}.{}:80", i / 250, i % 250 + 1),
                1,
                vec![tcp(0, false)],
            )
        })
        .collect();
    let c = one(servers);
    let started = Rc::new(Cell::new(0usize));
    let all_started = Rc::new(tokio::sync::Notify::new());
    let prober: Rc<dyn runner::Prober> = {
        let started = started.clone();
        let all_started = all_started.clone();
        Rc::new(move |_id: CheckerId, _c: Arc<Checker>| {
            let started = started.clone();
            let all_started = all_started.clone();
            Box::pin(async move {
                // No attempt ends before every one has begun: attempts run one after
                // another would never get here.
                started.set(started.get() + 1);
                if started.get() == N {
                    all_started.notify_waiters();
                } else {
                    let wait = all_started.notified();
                    if started.get() < N {
                        let _ = tokio::time::timeout(Duration::from_secs(20), wait).await;
                    }
                }
                Attempt::Failure("refused".into())
            }) as runner::ProbeFuture
        })
    };
    let table = Rc::new(std::cell::RefCell::new(Fake::default()));
    local_runtime(async {
        let handle = runner::spawn(
            &c,
            Box::new(Shared(table.clone())),
            prober,
            quiet_sinks(Rc::default()),
            None,
        );
        let gone = eventually(15, || {
            table
                .borrow()
                .entries()
                .get(&key(VS))
                .is_some_and(|s| s.1.is_empty())
        })
        .await;
        assert!(gone, "every server failed and was removed");
        assert_eq!(started.get(), N);
        handle.stop().await;
    });
}

#[test]
fn without_virtual_servers_a_crashed_runs_entries_still_go() {
    let dir = tempfile::tempdir().unwrap();
    let path = record::path_for(&dir.path().join("vigild.installed"));
    let mut fake = Fake::default();
    let svc = Service {
        key: key(VS),
        scheduler: "rr".into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    };
    fake.add_service(&svc).unwrap();
    let mut other = svc.clone();
    other.key = key("192.0.2.1:25");
    fake.add_service(&other).unwrap();
    let mut o = Owned::default();
    o.services.insert(key(VS));
    o.write(&path).unwrap();
    runner::remove_leftovers(&mut fake, &path);
    assert_eq!(fake.entries().len(), 1);
    assert!(fake.entries().contains_key(&key("192.0.2.1:25")));
    assert!(!path.exists());
}

#[test]
fn a_reload_starts_new_alpha_servers_down_and_keeps_an_up_servers_checker_up() {
    let mut w = World::started(one(vec![real(RS1, 1, vec![tcp(2, true)])]));
    w.ok((0, 0, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
    let new = one(vec![
        real(RS1, 1, vec![tcp(2, true)]),
        real(RS2, 1, vec![tcp(2, true)]),
    ]);
    let fx = w.core.reload(&new, w.at(2.0));
    w.carry(fx);
    assert_eq!(
        w.weight(VS, RS1),
        Some(1),
        "stays up, no new success needed"
    );
    assert_eq!(w.core.vs[0].rs[0].num_failed_checkers, 0);
    assert_eq!(w.weight(VS, RS2), None, "alpha: out until it passes");
    // The kept checker counts its retries as before: two failures are retries.
    w.fail((0, 0, 0), 3.0);
    w.fail((0, 0, 0), 4.0);
    assert_eq!(w.weight(VS, RS1), Some(1));
    w.fail((0, 0, 0), 5.0);
    assert_eq!(w.weight(VS, RS1), None);
    w.ok((0, 1, 0), 3.0);
    assert_eq!(w.weight(VS, RS2), Some(1));
}

#[test]
fn a_reload_that_replaces_the_sorry_server_swaps_it_in_the_table() {
    let mut c = quorum_conf(false);
    for r in &mut c.virtual_servers[0].real_servers {
        r.checkers = vec![tcp(0, true)];
    }
    let mut w = World::started(c.clone());
    assert_eq!(w.weight(VS, "10.0.9.9:80"), Some(1));
    c.virtual_servers[0].sorry_server.as_mut().unwrap().addr = sa("10.0.9.8:80");
    let fx = w.core.reload(&c, w.at(2.0));
    w.carry(fx);
    assert_eq!(w.weight(VS, "10.0.9.9:80"), None);
    assert_eq!(w.weight(VS, "10.0.9.8:80"), Some(1));
}

#[test]
fn log_all_failures_logs_each_failed_attempt_while_up() {
    let mut c = misc(false);
    c.timing.retry = 2;
    c.timing.log_all_failures = true;
    let mut w = World::started(one(vec![real(RS1, 1, vec![c])]));
    w.attempt((0, 0, 0), 1.0, Attempt::Success { weight: None });
    w.take_logs();
    let why = || Attempt::Failure("exited with status 1".into());
    assert_eq!(w.attempt((0, 0, 0), 7.0, why()), 8.0);
    assert_eq!(w.attempt((0, 0, 0), 8.0, why()), 9.0);
    w.attempt((0, 0, 0), 9.0, why());
    let logs = w.take_logs();
    let p = "Misc check for [[10.0.1.1]:tcp:80 VS [10.0.0.1]:tcp:80] by [/bin/check]";
    assert_eq!(
        &logs[..3],
        &[
            format!("{p} failed, will do 2 retries (exited with status 1)."),
            format!("{p} failed on retry 1/2 (exited with status 1)."),
            format!("{p} failed after 2 retries (exited with status 1)."),
        ]
    );
    // MISC_CHECK does not retry while its server is down: the next try is a full
    // delay_loop later.
    assert_eq!(w.attempt((0, 0, 0), 15.0, why()), 21.0);
}

#[test]
fn udp_and_fwmark_services_are_named_as_keepalived_names_them() {
    let mut v = virt(
        "[2001:db8::1]:53",
        vec![real("[2001:db8::2]:53", 1, vec![tcp(0, false)])],
    );
    v.protocol = IpvsProtocol::Udp;
    assert_eq!(names::vs_name(&v), "[2001:db8::1]:udp:53");
    assert_eq!(
        names::rs_name(sa("[2001:db8::2]:53"), &v),
        "[2001:db8::2]:udp:53"
    );
    assert_eq!(
        table::service(&v, table::service_keys(&v, &[])[0]).netmask,
        128
    );
    v.key = VsKey::Fwmark(3);
    assert_eq!(names::vs_name(&v), "FWM 3");
    assert_eq!(
        table::service_keys(&v, &[]),
        vec![ServiceKey::Fwmark {
            family: crate::lvs::ipvs::AddrFamily::Inet6,
            mark: 3
        }],
        "a fwmark service takes its real servers' family"
    );
}

#[test]
fn the_metrics_show_quorum_servers_weights_and_attempts() {
    let mut w = World::started(one(vec![real(RS1, 2, vec![tcp(0, false)])]));
    w.ok((0, 0, 0), 1.0);
    w.fail((0, 0, 0), 7.0);
    let m = w.core.snapshot(w.at(8.0)).metrics();
    for line in [
        "vigil_lvs_quorum_up{virtual_server=\"[10.0.0.1]:tcp:80\"} 0",
        "vigil_lvs_real_server_up{virtual_server=\"[10.0.0.1]:tcp:80\",real_server=\"[10.0.1.1]:tcp:80\"} 0",
        "vigil_lvs_real_server_weight{virtual_server=\"[10.0.0.1]:tcp:80\",real_server=\"[10.0.1.1]:tcp:80\"} 0",
        "vigil_lvs_checks_total{virtual_server=\"[10.0.0.1]:tcp:80\",real_server=\"[10.0.1.1]:tcp:80\",checker=\"TCP_CHECK\",index=\"0\",result=\"passed\"} 1",
        "vigil_lvs_checks_total{virtual_server=\"[10.0.0.1]:tcp:80\",real_server=\"[10.0.1.1]:tcp:80\",checker=\"TCP_CHECK\",index=\"0\",result=\"failed\"} 1",
    ] {
        assert!(m.contains(line), "{line}\n{m}");
    }
    assert_eq!(LvsStatusAlias::default().metrics(), "");
}

type LvsStatusAlias = status::LvsStatus;

#[test]
fn http_get_logs_why_before_it_gives_up_as_in_the_lvs_dr_seed() {
    // 001-ka67-lvs-dr.conf: delay_loop 3, nb_get_retry 3, delay_before_retry 1.
    let http = Checker {
        loc: loc(),
        timing: CheckTiming {
            delay_loop: Duration::from_secs(3),
            retry: 3,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        },
        connect: None,
        kind: CheckKind::Http(HttpGet {
            urls: Vec::new(),
            virtualhost: None,
            protocol: HttpProtocol::Http10,
            enable_sni: false,
            fast_recovery: false,
        }),
    };
    let mut r = real("10.16.8.8:80", 1, vec![http]);
    r.smtp_alert = Some(true);
    let mut w = World::started(conf(vec![virt("10.16.8.100:80", vec![r])]));
    assert_eq!(w.ok((0, 0, 0), 1.0), 4.0);
    assert_eq!(
        w.take_logs().last().unwrap(),
        "Remote Web server [10.16.8.8]:tcp:80 succeed on service."
    );
    let why = "HTTP status code error to [10.16.8.8]:tcp:80 url(/), status_code [503].";
    let mut t = 4.0;
    for _ in 0..3 {
        t = w.attempt((0, 0, 0), t, Attempt::Failure(why.into()));
    }
    assert_eq!(t, 7.0, "three retries a second apart");
    assert_eq!(w.attempt((0, 0, 0), t, Attempt::Failure(why.into())), 10.0);
    assert_eq!(
        w.take_logs(),
        vec![
            why,
            "HTTP_CHECK on service [10.16.8.8]:tcp:80 failed after 3 retries.",
            "Removing service [10.16.8.8]:tcp:80 from VS [10.16.8.100]:tcp:80",
            "Lost quorum 1-0=1 > 0 for VS [10.16.8.100]:tcp:80",
        ]
    );
    assert_eq!(
        w.mails.last().unwrap(),
        &(
            "Realserver [10.16.8.8]:tcp:80 of virtual server [10.16.8.100]:tcp:80 - DOWN"
                .to_string(),
            "=> CHECK failed on service : HTTP request failed <=".to_string()
        )
    );
}

#[test]
fn a_reload_that_drops_a_failing_checker_brings_its_server_up_and_inhibit_takes_effect() {
    let mut w = World::started(one(vec![
        real(RS1, 1, vec![tcp(0, false), tcp(0, false)]),
        real(RS2, 1, vec![tcp(0, false)]),
    ]));
    w.fail((0, 0, 1), 1.0);
    w.fail((0, 1, 0), 1.0);
    assert_eq!(w.weight(VS, RS1), None);
    assert_eq!(w.weight(VS, RS2), None);
    w.take_logs();
    // RS1 loses the failing checker; RS2 becomes inhibit_on_failure.
    let mut rs2 = real(RS2, 1, vec![tcp(0, false)]);
    rs2.inhibit_on_failure = true;
    let fx = w.core.reload(
        &one(vec![real(RS1, 1, vec![tcp(0, false)]), rs2]),
        w.at(2.0),
    );
    w.carry(fx);
    assert_eq!(w.weight(VS, RS1), Some(1));
    assert!(
        w.logs
            .contains(&"Adding service [10.0.1.1]:tcp:80 to VS [10.0.0.1]:tcp:80".to_string())
    );
    assert_eq!(w.weight(VS, RS2), Some(0), "still failed, now inhibited");
    assert!(!w.core.vs[0].rs[1].alive);
}
