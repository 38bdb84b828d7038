//! The deterministic LAN simulation (see `vigil_tests::sim`): many seeded random
//! scenarios, a replay of one seed, and named scenarios with exact expectations.
//!
//! - `VIGIL_SIM_SCENARIOS` (default 1000): how many random scenarios to run.
//! - `VIGIL_SIM_BASE_SEED` (default 0): the first seed; scenario `i` uses `base + i`.
//! - `VIGIL_SIM_SEED`: the seed `replay` runs (it passes with a note when unset);
//!   `VIGIL_SIM_VERBOSE=1` prints every event of the replay.

use std::net::Ipv4Addr;

use vigil_core::machine::{Reason, State};
use vigil_core::timer::Interval;
use vigil_core::wire::Version;
use vigil_tests::sim::{
    self, Action, Lan, Link, Options, Scenario, Setup, Sim, Stats, Target, Ticks, Transition, ms,
    us,
};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => v.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={v}: {e}")))
}

fn must<T>(r: Result<T, String>) -> T {
    r.unwrap_or_else(|report| panic!("{report}"))
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn secs(s: u64) -> Ticks {
    ms(s * 1000)
}

/// A simulation for a named scenario, replayed by running that test alone.
fn named(setup: Setup, name: &str) -> Sim {
    let header = setup.to_string();
    Sim::new(
        setup,
        0,
        header,
        Options {
            trace_len: 80,
            verbose: std::env::var_os("VIGIL_SIM_VERBOSE").is_some(),
            replay: format!("cargo test -p vigil-tests --test simulation {name} -- --nocapture"),
        },
    )
}

/// The first transition of `node` on `lan` into `to` at or after `after`.
fn first(sim: &Sim, node: usize, lan: usize, to: State, after: Ticks) -> Transition {
    *sim.history()
        .iter()
        .find(|t| t.node == node && t.lan == lan && t.to == to && t.at >= after)
        .unwrap_or_else(|| {
            panic!(
                "{}",
                sim.report(&format!(
                    "r{node} never went {to:?} after {}",
                    sim::fmt_t(after)
                ))
            )
        })
}

/// A convergence check, then the slack a lossy LAN may need for it.
fn check(sim: &mut Sim) {
    must(sim.act(Action::Check));
    let slack = sim.setup().slack();
    must(sim.run_for(slack));
}

#[test]
fn many_seeded_scenarios() {
    let count = env_u64("VIGIL_SIM_SCENARIOS").unwrap_or(1000);
    let base = env_u64("VIGIL_SIM_BASE_SEED").unwrap_or(0);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8) as u64;
    // Every scenario is independent and deterministic; threads only share the work.
    // Each thread stops at its first failure, so the lowest failing index overall is
    // among the reported ones.
    let results: Vec<(Stats, Option<(u64, String)>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut stats = Stats::default();
                    for i in (t..count).step_by(threads as usize) {
                        let seed = base.wrapping_add(i);
                        let sc: Scenario = sim::random_scenario(seed);
                        let opts = Options {
                            replay: sim::replay_command(seed),
                            ..Options::default()
                        };
                        match sim::run(&sc, &opts) {
                            Ok(st) => stats.merge(&st),
                            Err(report) => return (stats, Some((i, report))),
                        }
                    }
                    (stats, None)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("simulation thread"))
            .collect()
    });
    let mut total = Stats::default();
    let mut failure: Option<(u64, String)> = None;
    for (st, f) in results {
        total.merge(&st);
        if let Some((i, report)) = f
            && failure.as_ref().is_none_or(|(j, _)| i < *j)
        {
            failure = Some((i, report));
        }
    }
    if let Some((_, report)) = failure {
        panic!("{report}");
    }
    println!(
        "simulation (seeds {base}..{}): {total}",
        base.wrapping_add(count)
    );
    assert_eq!(total.scenarios, count);
    assert!(
        count < 100 || total.takeovers > 0,
        "no takeover was ever measured"
    );
}

#[test]
fn replay() {
    let Some(seed) = env_u64("VIGIL_SIM_SEED") else {
        println!(
            "replay: nothing to do; set VIGIL_SIM_SEED=<seed> to replay one random scenario (VIGIL_SIM_VERBOSE=1 prints every event)"
        );
        return;
    };
    let sc = sim::random_scenario(seed);
    println!("{sc}");
    let opts = Options {
        trace_len: 400,
        verbose: std::env::var_os("VIGIL_SIM_VERBOSE").is_some(),
        replay: sim::replay_command(seed),
    };
    let stats = must(sim::run(&sc, &opts));
    println!("seed {seed} passed: {stats}");
}

/// Seeds that once failed, kept because each pins a subtle case.
///
/// - 1000227: the master shuts down 279 us after its last periodic advert; with jitter
///   that older advert reaches the best backup *after* the priority-0 one, and resets its
///   master-down timer (RFC 5798 6.4.2: priority >= own resets it; an advert carries no
///   sequence number). The next backup takes over on its skew time instead. The
///   simulation's bound used to assume every backup that got the resignation waits only
///   its skew; it now falls back to the master-down bound for a backup whose
///   resignation was overtaken.
const REGRESSION_SEEDS: &[u64] = &[1_000_227];

#[test]
fn regression_seeds() {
    for &seed in REGRESSION_SEEDS {
        let opts = Options {
            replay: sim::replay_command(seed),
            ..Options::default()
        };
        must(sim::run(&sim::random_scenario(seed), &opts));
    }
}

/// r0 (priority 200) is elected, crashes, r1 (100) takes over exactly one master-down
/// interval after the last advert it heard, r0 restarts and preempts back.
#[test]
fn two_routers_failover_and_preempt_back() {
    let delay = us(1000);
    let lan = Lan::new(
        7,
        Version::V3,
        Interval::from_centis(100),
        &[(ip(10, 0, 0, 1), 200), (ip(10, 0, 0, 2), 100)],
        &[ip(10, 0, 0, 100)],
        Link::new(0, 1000, 0),
    );
    let l = lan.clone();
    let mut sim = named(Setup::single(lan), "two_routers_failover_and_preempt_back");
    must(sim.act(Action::Start(Target::Node(0))));
    must(sim.act(Action::Start(Target::Node(1))));
    must(sim.run_until(secs(10)));

    // RFC 5798 6.1: 3 * 1 s + (256 - 200) * 1 s / 256 = 3.21875 s.
    let up = first(&sim, 0, 0, State::Master, 0);
    assert_eq!(up.at, us(3_218_750));
    assert_eq!(up.at, l.master_down(200));
    assert_eq!(up.reason, Reason::MasterDown);
    check(&mut sim);

    must(sim.run_until(ms(10_500)));
    let last = sim.last_sent(0, 0).expect("the master advertised");
    assert_eq!(last, us(10_218_750), "adverts every second from 3.21875 s");
    must(sim.act(Action::Crash(Target::Node(0))));
    must(sim.run_until(secs(20)));
    let takeover = first(&sim, 1, 0, State::Master, ms(10_500));
    assert_eq!(takeover.reason, Reason::MasterDown);
    assert_eq!(takeover.at, last + delay + l.master_down(100));
    assert!(takeover.at <= last + l.max_delay() + l.master_down(100) + l.interval_ticks());
    assert_eq!(sim.stats().takeovers, 1);
    check(&mut sim);

    // r0 comes back: r1's adverts are lower, so r0 discards them and preempts when its
    // own master-down timer runs out; r1 yields when r0's first advert arrives.
    let back = sim.now();
    must(sim.act(Action::Start(Target::Node(0))));
    must(sim.run_for(secs(10)));
    let preempt = first(&sim, 0, 0, State::Master, back);
    assert_eq!(preempt.at, back + l.master_down(200));
    let yielded = first(&sim, 1, 0, State::Backup, back);
    assert_eq!(yielded.reason, Reason::HigherPriority);
    assert_eq!(yielded.at, preempt.at + delay);
    check(&mut sim);
    assert_eq!(sim.masters(0), vec![0]);
    must(sim.finish());
}

/// 16 routers with 5% loss and jitter: a partition elects the best router on each side,
/// healing leaves only the overall best.
#[test]
fn sixteen_routers_partition_and_heal() {
    let prios = [
        100u8, 120, 200, 90, 200, 150, 50, 254, 10, 100, 180, 30, 70, 160, 140, 110,
    ];
    let routers: Vec<(Ipv4Addr, u8)> = prios
        .iter()
        .enumerate()
        .map(|(i, &p)| (ip(10, 0, 0, 200 - 11 * i as u8), p))
        .collect();
    let lan = Lan::new(
        42,
        Version::V3,
        Interval::from_centis(20),
        &routers,
        &[ip(10, 0, 1, 1), ip(10, 0, 1, 2)],
        Link::new(50_000, 500, 1500),
    );
    let mut sim = named(Setup::single(lan), "sixteen_routers_partition_and_heal");
    let quiet = sim.setup().quiet();
    for n in 0..16 {
        must(sim.act(Action::Start(Target::Node(n))));
    }
    must(sim.run_for(quiet));
    check(&mut sim);
    assert_eq!(sim.masters(0), vec![7], "priority 254 wins");

    // Odd routers (with r7) on one side, even ones on the other.
    let odd = (0..16).filter(|n| n % 2 == 1).fold(0u32, |m, n| m | 1 << n);
    must(sim.act(Action::Partition {
        lan: 0,
        side_b: odd,
    }));
    must(sim.run_for(quiet));
    check(&mut sim);
    let masters = sim.masters(0);
    assert_eq!(masters.len(), 2, "one master per side: {masters:?}");
    assert!(masters.contains(&7));
    let even = masters.iter().find(|&&m| m != 7).copied().unwrap_or(99);
    assert!(
        even == 2 || even == 4,
        "the even side's best is priority 200 (r2 or r4), got r{even}"
    );

    must(sim.act(Action::Heal { lan: 0 }));
    must(sim.run_for(quiet));
    check(&mut sim);
    assert_eq!(sim.masters(0), vec![7]);
    must(sim.finish());
}

/// A master that shuts down resigns with priority 0: the best backup takes over after
/// its skew time, not the master-down interval.
#[test]
fn graceful_shutdown_takeover_within_skew_time() {
    let lan = Lan::new(
        9,
        Version::V2,
        Interval::from_secs(1),
        &[
            (ip(192, 168, 0, 3), 200),
            (ip(192, 168, 0, 1), 150),
            (ip(192, 168, 0, 2), 100),
        ],
        &[ip(192, 168, 0, 254)],
        Link::new(0, 1000, 0),
    );
    let l = lan.clone();
    let mut sim = named(
        Setup::single(lan),
        "graceful_shutdown_takeover_within_skew_time",
    );
    for n in 0..3 {
        must(sim.act(Action::Start(Target::Node(n))));
    }
    must(sim.run_until(secs(15)));
    check(&mut sim);
    assert_eq!(sim.masters(0), vec![0]);

    let down = ms(20_300);
    must(sim.run_until(down));
    must(sim.act(Action::Shutdown(Target::Node(0))));
    must(sim.run_for(secs(10)));
    let t = first(&sim, 1, 0, State::Master, down);
    assert_eq!(t.reason, Reason::MasterResigned);
    // RFC 3768: skew = (256 - 150) / 256 s = 414.0625 ms (414_062 us in integers).
    assert_eq!(l.skew(150), us(414_062));
    assert_eq!(t.at, down + us(1000) + l.skew(150));
    assert!(t.at <= down + l.max_delay() + l.skew(150));
    assert!(t.at - down < l.master_down(150));
    assert!(
        !sim.history().iter().any(|t| t.node == 2 && t.at >= down),
        "r2 (priority 100) hears r1 before its own skew time runs out"
    );
    assert_eq!(sim.stats().takeovers, 1);
    check(&mut sim);
    must(sim.finish());
}

/// `nopreempt`: a higher-priority router that comes up later leaves the master alone,
/// through a long soak; it takes over only when the master fails.
#[test]
fn nopreempt_leaves_a_lower_master_alone() {
    let mut lan = Lan::new(
        3,
        Version::V3,
        Interval::from_centis(50),
        &[(ip(10, 9, 0, 1), 200), (ip(10, 9, 0, 2), 100)],
        &[ip(10, 9, 0, 100)],
        Link::new(0, 300, 700),
    );
    lan.configs[0].preempt = false;
    assert!(!lan.configs[0].preempts());
    let l = lan.clone();
    let mut sim = named(Setup::single(lan), "nopreempt_leaves_a_lower_master_alone");
    must(sim.act(Action::Start(Target::Node(1))));
    must(sim.run_until(secs(10)));
    assert_eq!(sim.masters(0), vec![1]);

    let joined = sim.now();
    must(sim.act(Action::Start(Target::Node(0))));
    must(sim.run_for(200 * l.interval_ticks()));
    assert_eq!(sim.masters(0), vec![1], "nopreempt: r0 must not take over");
    assert_eq!(sim.state(0, 0), Some(State::Backup));
    assert!(
        !sim.history()
            .iter()
            .any(|t| t.at > joined && t.to == State::Master),
        "no takeover while the master is alive"
    );

    must(sim.act(Action::Crash(Target::Node(1))));
    let last = sim.last_sent(1, 0).expect("r1 advertised");
    must(sim.run_for(secs(5)));
    let t = first(&sim, 0, 0, State::Master, joined);
    assert!(t.at <= last + l.max_delay() + l.master_down(200) + l.interval_ticks());
    must(sim.act(Action::Start(Target::Node(1))));
    must(sim.run_for(secs(10)));
    assert_eq!(sim.masters(0), vec![0]);
    check(&mut sim);
    must(sim.finish());
}

/// Equal priorities, started at the same instant: every router's master-down timer runs
/// out together, they all become master, and the masters' address comparison (RFC 5798
/// 6.4.3, unsigned) leaves the highest address.
#[test]
fn equal_priorities_started_together_elect_the_highest_address() {
    let lan = Lan::new(
        5,
        Version::V3,
        Interval::from_centis(100),
        &[
            (ip(10, 0, 0, 5), 100),
            (ip(10, 0, 0, 77), 100),
            (ip(192, 168, 0, 3), 100),
            (ip(200, 1, 1, 1), 100),
            (ip(172, 16, 0, 1), 100),
        ],
        &[ip(10, 0, 0, 100)],
        Link::new(0, 2000, 2000),
    );
    let l = lan.clone();
    let mut sim = named(
        Setup::single(lan),
        "equal_priorities_started_together_elect_the_highest_address",
    );
    for n in 0..5 {
        must(sim.act(Action::Start(Target::Node(n))));
    }
    must(sim.run_until(secs(20)));
    let contenders = sim
        .history()
        .iter()
        .filter(|t| t.to == State::Master && t.at == l.master_down(100))
        .count();
    assert_eq!(contenders, 5, "all timers expire together");
    check(&mut sim);
    assert_eq!(sim.masters(0), vec![3], "200.1.1.1 is the highest address");
    must(sim.finish());
}

/// Two routers, each with an instance on LAN A and LAN B in one sync group. LAN A
/// partitions: r1's LAN-A instance stops hearing r0 and its master-down timer expires,
/// but its LAN-B instance still hears r0, so the group holds r1 in BACKUP on both LANs:
/// nothing flaps. When r0 then crashes, r1's group takes over both LANs together.
#[test]
fn sync_group_does_not_flap_when_one_lan_partitions() {
    let link = Link::new(0, 1000, 500);
    let lan = |vrid: u8, net: u8| {
        Lan::new(
            vrid,
            Version::V3,
            Interval::from_centis(100),
            &[(ip(10, net, 0, 1), 200), (ip(10, net, 0, 2), 100)],
            &[ip(10, net, 0, 100)],
            link,
        )
    };
    let setup = Setup {
        lans: vec![lan(1, 1), lan(2, 2)],
        sync_groups: true,
    };
    let lb = setup.lans[1].clone();
    let mut sim = named(setup, "sync_group_does_not_flap_when_one_lan_partitions");
    must(sim.act(Action::Start(Target::Node(0))));
    must(sim.act(Action::Start(Target::Node(1))));
    must(sim.run_until(secs(15)));
    for lan in 0..2 {
        assert_eq!(sim.state(0, lan), Some(State::Master));
        assert_eq!(sim.state(1, lan), Some(State::Backup));
    }
    check(&mut sim);

    let before = sim.history().len();
    must(sim.act(Action::Partition {
        lan: 0,
        side_b: 0b10,
    }));
    must(sim.run_for(200 * lb.interval_ticks()));
    assert_eq!(
        &sim.history()[before..],
        &[],
        "a partition of one LAN must not flap the group"
    );
    assert!(
        sim.instance(1, 0).wants_master(),
        "r1's LAN-A instance timed out and waits for its group"
    );
    assert_eq!(sim.state(1, 0), Some(State::Backup));
    assert_eq!(sim.state(1, 1), Some(State::Backup));

    must(sim.act(Action::Heal { lan: 0 }));
    must(sim.run_for(secs(20)));
    assert_eq!(
        &sim.history()[before..],
        &[],
        "healing changes nothing either"
    );
    assert!(!sim.instance(1, 0).wants_master());
    check(&mut sim);

    // LAN A partitioned again, then r0 dies: r1's LAN-B timer expires too, and the
    // whole group goes MASTER at once.
    must(sim.act(Action::Partition {
        lan: 0,
        side_b: 0b10,
    }));
    must(sim.run_for(secs(10)));
    let crash = sim.now();
    must(sim.act(Action::Crash(Target::Node(0))));
    let last_b = sim.last_sent(0, 1).expect("r0 advertised on LAN B");
    must(sim.run_for(secs(10)));
    let a = first(&sim, 1, 0, State::Master, crash);
    let b = first(&sim, 1, 1, State::Master, crash);
    assert_eq!(a.at, b.at, "the group moves together");
    assert!(b.at <= last_b + lb.max_delay() + lb.master_down(100) + lb.interval_ticks());

    // r0 returns on both LANs: its group preempts, r1's yields on both.
    must(sim.act(Action::Heal { lan: 0 }));
    must(sim.act(Action::Start(Target::Node(0))));
    must(sim.run_for(secs(15)));
    for lan in 0..2 {
        assert_eq!(sim.state(0, lan), Some(State::Master));
        assert_eq!(sim.state(1, lan), Some(State::Backup));
    }
    check(&mut sim);
    must(sim.finish());
}
