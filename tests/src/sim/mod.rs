//! A deterministic simulation of VRRP routers on simulated LANs.
//!
//! Every simulated router (node) owns a core [`vigil_core::router::Router`] with one
//! instance per LAN it sits on (and, if the setup says so, all of them in one sync
//! group), and drives it as a host does: inputs go through the router's entry points
//! only, and after each one the node drains `poll_transmit` and `poll_event` and sleeps
//! until `poll_at`. Time is virtual: a [`vigil_core::Instant`] counted in ticks from
//! zero, advanced only by an event queue ordered by (time, sequence number), so a run
//! is a pure function of its seed. Nothing here sleeps or reads a clock.
//!
//! Adverts travel as the bytes `poll_transmit` wrote, to 224.0.0.18: one copy per
//! connected, running receiver, each copy independently lost or delayed (base delay plus
//! jitter) per directed link, then handed to the receiver's router with `on_datagram`
//! (TTL 255), which demultiplexes, parses and decides. Everything the oracle reads about
//! an instance it reads through the router's accessors.
//!
//! Invariants checked while running (a violation stops the run with the seed, the
//! scenario, the last events and the command that replays it):
//! - one input gives one instance at most `router::EVENTS_PER_INPUT` (7, the bound the router
//!   documents) events and at most one advert; an advert parses back to what the router
//!   says it sent, from the instance's address to the group, at its effective priority
//!   while MASTER or entering it, priority 0 only when leaving MASTER; `AddVips` only in
//!   a step that enters MASTER, `RemoveVips` only in one that leaves it; the VIPs are
//!   held exactly while in MASTER; `StateChanged` agrees with the state the instance
//!   reports, and a yield to a higher priority carries the advert that won it; a sync
//!   group reports MASTER only when all its members are, anything else only when none
//!   is; a datagram is accepted by the instance of its LAN, with the priorities and
//!   state it was sent and received at, and dropped only as "not listening" by a
//!   stopped or faulty instance;
//! - an independent model of the RFC 5798 6.4.2 master-down timer: a backup's deadline
//!   is exactly `Master_Down_Interval` after the last advert that must reset it (priority
//!   at least its own, or any with nopreempt), `Skew_Time` after a priority-0 advert,
//!   moved by priority changes; it never takes over before that;
//! - a master that receives a winning advert (higher priority, or equal from a higher
//!   address) yields at once; two masters in one connected partition for longer than the
//!   loser's master-down interval (plus the link delay) must be explained by at least
//!   `down_timer_adverts` consecutive lost copies from the winner to the loser;
//! - [`Action::Check`]: within every connected partition of running, non-faulty routers
//!   exactly one MASTER, with the highest effective priority (see [`Sim::convergence`]
//!   for ties); on a lossy LAN it may take until the end of a slack window to hold;
//! - after the unique master of a converged partition crashes (or resigns), some backup
//!   becomes MASTER within `master_down(backup) + advert interval + max link delay` of
//!   the master's last advert (resignation: `skew(backup) + max link delay` from it, for
//!   a backup whose priority-0 advert is not overtaken on the wire by an older one);
//! - an address owner with `state MASTER` is MASTER as soon as it starts;
//! - during a soak ([`Action::SoakBegin`] .. [`Action::SoakEnd`]) every takeover must be
//!   explained by `down_timer_adverts` or more resetting adverts to that backup lost (or
//!   still in flight): that is protocol-correct, anything else is flapping.
//!
//! Modules, one concern each:
//! - `topology`: nodes, LANs, instance configurations and links;
//! - `scenario`: the actions and timed scripts that drive a run;
//! - `generate`: the random scenario of a seed; `rng`: the seeded RNG;
//! - `world`: the event world (nodes, queue, clock) and the public [`Sim`] handle;
//! - `node`: calls into one router's instances and its sync group;
//! - `network`: adverts on the wire (loss, delay, partitions) and their delivery;
//! - `actions`: carrying out a scenario action;
//! - `oracle`: the independent model and the invariants checked against the core;
//! - `takeover`: timing takeovers after a master leaves;
//! - `trace`: the history, the recent-event trace and the violation report;
//! - `stats`: counters over runs.

use std::net::IpAddr;

use vigil_core::Duration;

mod actions;
mod generate;
mod network;
mod node;
mod oracle;
mod rng;
mod scenario;
mod stats;
mod takeover;
mod topology;
mod trace;
mod world;

pub use generate::{SOAK_INTERVALS, random_scenario};
pub use rng::Rng;
pub use scenario::{Action, Scenario, Target};
pub use stats::Stats;
pub use topology::{Lan, Link, Setup};
pub use trace::Transition;
pub use world::Sim;

/// Virtual time in `embassy_time` ticks since the start of the run.
pub type Ticks = u64;

/// Microseconds as ticks.
pub fn us(micros: u64) -> Ticks {
    Duration::from_micros(micros).as_ticks()
}

/// Milliseconds as ticks.
pub fn ms(millis: u64) -> Ticks {
    Duration::from_millis(millis).as_ticks()
}

/// Seconds with microseconds, for traces.
pub fn fmt_t(t: Ticks) -> String {
    let us = Duration::from_ticks(t).as_micros();
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// Milliseconds with microseconds, for delays.
pub fn fmt_ms(t: Ticks) -> String {
    let us = Duration::from_ticks(t).as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// The command that replays the random scenario of `seed`.
pub fn replay_command(seed: u64) -> String {
    format!(
        "VIGIL_SIM_SEED={seed} cargo test -p vigil-tests --test simulation replay -- --nocapture"
    )
}

/// How a run reports.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events kept for the report of a violation.
    pub trace_len: usize,
    /// Print every event as it happens.
    pub verbose: bool,
    /// The command printed to replay a failure.
    pub replay: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trace_len: 60,
            verbose: false,
            replay: String::from("(no replay command given)"),
        }
    }
}

pub(super) type Res<T = ()> = Result<T, String>;

pub(super) fn addr_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Runs a scenario from its script; returns its statistics or the violation report.
pub fn run(sc: &Scenario, opts: &Options) -> Result<Stats, String> {
    let mut sim = Sim::new(sc.setup.clone(), sc.seed, sc.to_string(), opts.clone());
    for &(t, action) in &sc.script {
        sim.run_until(t)?;
        sim.act(action)?;
    }
    sim.run_until(sc.end)?;
    sim.finish()?;
    let mut stats = sim.stats;
    stats.scenarios = 1;
    Ok(stats)
}
