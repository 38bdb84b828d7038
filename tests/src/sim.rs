//! A deterministic simulation of VRRP routers on simulated LANs.
//!
//! Every router is a real [`vigil_core::machine::Instance`] (one per LAN it sits on).
//! Time is virtual: an [`Instant`] counted in ticks from zero, advanced only by an event
//! queue ordered by (time, sequence number), so a run is a pure function of its seed.
//! Nothing here sleeps or reads a clock.
//!
//! Adverts travel as real bytes: [`Instance::emit_advert`] to 224.0.0.18, one copy per
//! connected, running receiver, each copy independently lost or delayed (base delay plus
//! jitter) per directed link, then [`Repr::parse`] with TTL 255 and
//! [`Instance::on_advert`]. After every call into an instance the simulation re-reads
//! [`Instance::poll_at`] and calls [`Instance::on_timeout`] when it is due.
//!
//! Invariants checked while running (a violation stops the run with the seed, the
//! scenario, the last events and the command that replays it):
//! - every call produces at most [`MAX_EFFECTS`] effects; `AddVips` only in a call that
//!   enters MASTER, `RemoveVips` only in one that leaves it; the VIPs are held exactly
//!   while in MASTER; `StateChanged` agrees with the state the instance reports;
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

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use vigil_core::group::SyncGroup;
use vigil_core::machine::{
    Config, Drop as RxDrop, Effect, Garp, InitialState, Instance, LowerPriority, MAX_EFFECTS,
    Reason, State, Vips,
};
use vigil_core::priority::TrackStatus;
use vigil_core::timer::{self, Interval};
use vigil_core::wire::{self, Auth, ChecksumMode, Family, Repr, RxMeta, Version};
use vigil_core::{Duration, Instant};

/// Virtual time in `embassy_time` ticks since the start of the run.
pub type Ticks = u64;

/// Advert intervals a random scenario soaks for after converging.
pub const SOAK_INTERVALS: u64 = 200;

/// Sync groups in the simulation have at most this many members (one per LAN).
const GROUP_CAP: usize = 4;

const MCAST: IpAddr = IpAddr::V4(wire::MCAST_V4);

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

/// splitmix64: tiny, fast and good enough to drive a simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `ppm` parts per million.
    pub fn ppm(&mut self, ppm: u32) -> bool {
        self.below(1_000_000) < u64::from(ppm)
    }

    /// True with probability `pct` percent.
    pub fn pct(&mut self, pct: u32) -> bool {
        self.below(100) < u64::from(pct)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// One direction of the wire between two routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// Probability that a copy is lost, parts per million.
    pub loss_ppm: u32,
    /// Base one-way delay.
    pub delay: Ticks,
    /// Extra delay, uniform in `0..=jitter`.
    pub jitter: Ticks,
}

impl Link {
    pub const PERFECT: Link = Link {
        loss_ppm: 0,
        delay: 0,
        jitter: 0,
    };

    pub fn new(loss_ppm: u32, delay_us: u64, jitter_us: u64) -> Self {
        Link {
            loss_ppm,
            delay: us(delay_us),
            jitter: us(jitter_us),
        }
    }
}

/// One LAN: every node has an instance on it (`configs[node]`, `vips[node]`).
#[derive(Debug, Clone)]
pub struct Lan {
    pub configs: Vec<Config>,
    pub vips: Vec<Vips>,
    /// `links[from][to]`.
    pub links: Vec<Vec<Link>>,
}

impl Lan {
    /// Routers of one VRID with keepalived's defaults (an owner at 255 starts as
    /// master), the same VIPs, and the same link between every pair.
    pub fn new(
        vrid: u8,
        version: Version,
        interval: Interval,
        routers: &[(Ipv4Addr, u8)],
        vips: &[Ipv4Addr],
        link: Link,
    ) -> Lan {
        let n = routers.len();
        let configs = routers
            .iter()
            .map(|&(addr, prio)| {
                let mut c = Config::new(vrid, version, prio, IpAddr::V4(addr));
                c.interval = interval;
                c
            })
            .collect();
        let list = Vips::from_iter(Family::V4, vips.iter().map(|&a| IpAddr::V4(a)))
            .expect("VIP list fits");
        Lan {
            configs,
            vips: vec![list; n],
            links: vec![vec![link; n]; n],
        }
    }

    pub fn version(&self) -> Version {
        self.configs[0].version
    }

    pub fn interval(&self) -> Interval {
        self.configs[0].interval
    }

    pub fn down_adverts(&self) -> u8 {
        self.configs[0].down_timer_adverts
    }

    pub fn lossy(&self) -> bool {
        self.links.iter().flatten().any(|l| l.loss_ppm > 0)
    }

    /// The longest one-way delay a copy can take.
    pub fn max_delay(&self) -> Ticks {
        self.links
            .iter()
            .flatten()
            .map(|l| l.delay + l.jitter)
            .max()
            .unwrap_or(0)
    }

    pub fn primary(&self, node: usize) -> IpAddr {
        self.configs[node].primary
    }

    /// The master-down interval at `priority`, with the LAN's (shared) interval.
    pub fn master_down(&self, priority: u8) -> Ticks {
        timer::master_down(
            self.version(),
            priority,
            self.interval(),
            self.down_adverts(),
        )
        .as_ticks()
    }

    pub fn skew(&self, priority: u8) -> Ticks {
        timer::skew(self.version(), priority, self.interval()).as_ticks()
    }

    pub fn interval_ticks(&self) -> Ticks {
        self.interval().duration().as_ticks()
    }
}

/// The simulated network: nodes (routers), each with one instance per LAN.
#[derive(Debug, Clone)]
pub struct Setup {
    pub lans: Vec<Lan>,
    /// Each node's instances form one [`SyncGroup`].
    pub sync_groups: bool,
}

impl Setup {
    pub fn single(lan: Lan) -> Self {
        Setup {
            lans: vec![lan],
            sync_groups: false,
        }
    }

    pub fn nodes(&self) -> usize {
        self.lans[0].configs.len()
    }

    /// A quiet period after which the routers must have converged: twice the longest
    /// master-down interval (priority 1), four adverts, and the longest link delay.
    pub fn quiet(&self) -> Ticks {
        self.lans
            .iter()
            .map(|l| 2 * l.master_down(1) + 4 * l.interval_ticks() + 2 * l.max_delay())
            .max()
            .unwrap_or(0)
    }

    /// On a lossy LAN a check may fail because a loss-induced takeover is being undone
    /// at that very moment; it must then hold before this much more time has passed.
    pub fn slack(&self) -> Ticks {
        self.lans
            .iter()
            .filter(|l| l.lossy())
            .map(|l| 4 * (l.master_down(1) + l.interval_ticks()))
            .max()
            .unwrap_or(0)
    }
}

fn lan_name(l: usize) -> char {
    (b'A' + l as u8) as char
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} routers on {} LAN(s){}",
            self.nodes(),
            self.lans.len(),
            if self.sync_groups {
                ", each router's instances in one sync group"
            } else {
                ""
            }
        )?;
        for (l, lan) in self.lans.iter().enumerate() {
            let c0 = &lan.configs[0];
            let vips: Vec<String> = lan.vips[0]
                .addresses()
                .iter()
                .map(|a| a.to_string())
                .collect();
            writeln!(
                f,
                "LAN {}: VRRPv{} vrid {} interval {} s, down_timer_adverts {}, {:?}, {:?}, VIPs [{}], max delay {} ms",
                lan_name(l),
                c0.version.number(),
                c0.vrid,
                fmt_t(lan.interval_ticks()),
                c0.down_timer_adverts,
                c0.auth,
                c0.checksum,
                vips.join(" "),
                fmt_ms(lan.max_delay())
            )?;
            for (n, c) in lan.configs.iter().enumerate() {
                let out = &lan.links[n];
                let loss = out.iter().map(|l| l.loss_ppm).max().unwrap_or(0);
                let dmin = out.iter().map(|l| l.delay).min().unwrap_or(0);
                let dmax = out.iter().map(|l| l.delay + l.jitter).max().unwrap_or(0);
                write!(
                    f,
                    "  r{n:<2} {:<15} prio {:>3}",
                    c.primary.to_string(),
                    c.priority
                )?;
                if c.initial == InitialState::Master {
                    write!(f, " state-MASTER")?;
                }
                if !c.preempts() {
                    write!(f, " nopreempt")?;
                }
                if c.effective_preempt_delay().as_ticks() > 0 {
                    write!(f, " preempt_delay {}", fmt_t(c.preempt_delay.as_ticks()))?;
                }
                if c.lower_priority == LowerPriority::Discard {
                    write!(f, " lower_prio_no_advert")?;
                }
                if c.higher_prio_send_advert {
                    write!(f, " higher_prio_send_advert")?;
                }
                writeln!(
                    f,
                    " | out: loss <= {:.1}%, delay {}..{} ms",
                    f64::from(loss) / 10_000.0,
                    fmt_ms(dmin),
                    fmt_ms(dmax)
                )?;
            }
        }
        Ok(())
    }
}

/// Which router an action applies to, resolved when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// A running router that is MASTER on LAN A (none: the action does nothing).
    Master,
    /// A random running router.
    AnyUp,
    /// A random stopped router.
    AnyDown,
}

/// A scenario event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// (Re)start a stopped router: fresh instances, its tracking status, `start`.
    Start(Target),
    /// The router silently stops: no effects, no reception, no timers.
    Crash(Target),
    /// Graceful: `shutdown` on every instance (a master resigns), then it stops.
    Shutdown(Target),
    /// Split a LAN: the nodes in the bit mask on one side, the rest on the other.
    Partition {
        lan: usize,
        side_b: u32,
    },
    Heal {
        lan: usize,
    },
    /// A tracker change: `set_tracking` with this status.
    Track {
        target: Target,
        lan: usize,
        status: TrackStatus,
    },
    /// Invariant 1 (see [`Sim::convergence`]).
    Check,
    SoakBegin,
    SoakEnd,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Start(t) => write!(f, "start {t:?}"),
            Action::Crash(t) => write!(f, "crash {t:?}"),
            Action::Shutdown(t) => write!(f, "shutdown {t:?}"),
            Action::Partition { lan, side_b } => {
                write!(f, "partition LAN {}: {{", lan_name(lan))?;
                let mut first = true;
                for n in 0..32 {
                    if side_b & (1 << n) != 0 {
                        write!(f, "{}r{n}", if first { "" } else { " " })?;
                        first = false;
                    }
                }
                write!(f, "}} | rest")
            }
            Action::Heal { lan } => write!(f, "heal LAN {}", lan_name(lan)),
            Action::Track {
                target,
                lan,
                status,
            } => write!(
                f,
                "track {target:?} on LAN {}: adjust {:+}{}",
                lan_name(lan),
                status.adjust,
                if status.is_fault() { ", FAULT" } else { "" }
            ),
            Action::Check => write!(f, "check convergence"),
            Action::SoakBegin => write!(f, "soak begins"),
            Action::SoakEnd => write!(f, "soak ends"),
        }
    }
}

/// A setup and a timed script: what one seed means.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub setup: Setup,
    pub script: Vec<(Ticks, Action)>,
    pub end: Ticks,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.setup)?;
        writeln!(f, "script:")?;
        for (t, a) in &self.script {
            writeln!(f, "  {:>12} {a}", fmt_t(*t))?;
        }
        writeln!(f, "  {:>12} end", fmt_t(self.end))
    }
}

/// Counters over one or many runs.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub scenarios: u64,
    pub events: u64,
    pub adverts: u64,
    pub copies_lost: u64,
    pub checks: u64,
    /// Checks that held only within the slack window (lossy LANs).
    pub late_checks: u64,
    pub takeovers: u64,
    /// Takeovers not measured because another event came first.
    pub takeovers_abandoned: u64,
    pub max_takeover: Ticks,
    /// The bound of the measurement that gave `max_takeover`.
    pub max_takeover_bound: Ticks,
    /// The highest takeover / bound, in per mille.
    pub worst_ratio_permille: u64,
    /// Takeovers during soaks, each explained by lost adverts.
    pub soak_takeovers: u64,
    /// The fewest lost (or late) adverts behind one of them.
    pub soak_min_lost: Option<u32>,
    /// Dual masters beyond the master-down interval, each explained by lost adverts.
    pub dual_masters_explained: u64,
    pub transitions: u64,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.scenarios += o.scenarios;
        self.events += o.events;
        self.adverts += o.adverts;
        self.copies_lost += o.copies_lost;
        self.checks += o.checks;
        self.late_checks += o.late_checks;
        self.takeovers += o.takeovers;
        self.takeovers_abandoned += o.takeovers_abandoned;
        if o.max_takeover > self.max_takeover {
            self.max_takeover = o.max_takeover;
            self.max_takeover_bound = o.max_takeover_bound;
        }
        self.worst_ratio_permille = self.worst_ratio_permille.max(o.worst_ratio_permille);
        self.soak_takeovers += o.soak_takeovers;
        self.soak_min_lost = match (self.soak_min_lost, o.soak_min_lost) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.dual_masters_explained += o.dual_masters_explained;
        self.transitions += o.transitions;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} scenarios, {} events, {} adverts ({} copies lost), {} transitions, {} convergence checks ({} within slack), {} takeovers measured ({} abandoned): max {} s vs bound {} s, worst {}.{}% of its bound; {} loss-explained soak takeovers (min {} lost), {} loss-explained dual masters",
            self.scenarios,
            self.events,
            self.adverts,
            self.copies_lost,
            self.transitions,
            self.checks,
            self.late_checks,
            self.takeovers,
            self.takeovers_abandoned,
            fmt_t(self.max_takeover),
            fmt_t(self.max_takeover_bound),
            self.worst_ratio_permille / 10,
            self.worst_ratio_permille % 10,
            self.soak_takeovers,
            self.soak_min_lost
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            self.dual_masters_explained,
        )
    }
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

/// A state change as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at: Ticks,
    pub node: usize,
    pub lan: usize,
    pub from: State,
    pub to: State,
    pub reason: Reason,
}

/// What the simulation knows about one instance, next to the instance itself.
#[derive(Debug)]
struct Model {
    state: State,
    eff: u8,
    holds_vips: bool,
    master_since: Ticks,
    /// Last change of the effective priority.
    changed_at: Ticks,
    /// The RFC's master-down deadline while in BACKUP (when `modelled`).
    expected_down: Option<Ticks>,
    resigned: bool,
    /// Not a sync member and no preempt_delay: the timer model applies.
    modelled: bool,
    preempts: bool,
    last_sent: Option<Ticks>,
    /// Resetting adverts to this backup lost since its timer was last reset.
    lost_resetting: u32,
    /// The deadline a timer event is queued for.
    timer: Option<Ticks>,
    generation: u64,
}

impl Model {
    fn new(config: &Config, sync: bool, generation: u64) -> Self {
        Model {
            state: State::Initialize,
            eff: config.priority,
            holds_vips: false,
            master_since: 0,
            changed_at: 0,
            expected_down: None,
            resigned: false,
            modelled: !sync && config.effective_preempt_delay().as_ticks() == 0,
            preempts: config.preempts(),
            last_sent: None,
            lost_resetting: 0,
            timer: None,
            generation,
        }
    }

    /// Whether an advert of `prio` resets this backup's master-down timer.
    fn resets(&self, prio: u8) -> bool {
        self.state == State::Backup && prio != 0 && (prio >= self.eff || !self.preempts)
    }
}

#[derive(Debug)]
struct NodeRt {
    up: bool,
    incarnation: u32,
    insts: Vec<Instance>,
    models: Vec<Model>,
    track: Vec<TrackStatus>,
    group: Option<SyncGroup<GROUP_CAP>>,
}

#[derive(Debug)]
struct LanRt {
    side: Vec<u8>,
    connected_since: Ticks,
    /// `[from][to]`: copies lost in a row since the last delivery, since `from` became
    /// master, or since the partition last changed.
    pair_lost: Vec<Vec<u32>>,
}

#[derive(Debug)]
enum EvKind {
    Deliver {
        lan: usize,
        from: usize,
        to: usize,
        prio: u8,
        bytes: Rc<[u8]>,
    },
    Timer {
        node: usize,
        lan: usize,
        incarnation: u32,
        generation: u64,
    },
}

#[derive(Debug)]
struct Ev {
    at: Ticks,
    seq: u64,
    kind: EvKind,
}

impl PartialEq for Ev {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ev {
    /// Reversed: the heap pops the earliest, then the first scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

#[derive(Debug, Clone)]
enum Note {
    Send {
        node: usize,
        lan: usize,
        prio: u8,
    },
    Lost {
        from: usize,
        to: usize,
        lan: usize,
        prio: u8,
    },
    Cut {
        from: usize,
        to: usize,
        lan: usize,
    },
    Rx {
        from: usize,
        to: usize,
        lan: usize,
        prio: u8,
        drop: Option<RxDrop>,
    },
    State(Transition),
    Prio {
        node: usize,
        lan: usize,
        from: u8,
        to: u8,
    },
    Text(String),
}

/// A takeover being timed after the unique master left a converged partition.
#[derive(Debug)]
struct Pending {
    lan: usize,
    side: u8,
    left: usize,
    kind: &'static str,
    /// The master's last advert (crash) or its resignation (shutdown, fault).
    since: Ticks,
    bound: Ticks,
    bound_node: usize,
}

type Res<T = ()> = Result<T, String>;

enum Call<'a, 'b> {
    Start,
    Timeout,
    Shutdown,
    Track(TrackStatus),
    Advert(&'a Repr<'b>, IpAddr),
}

/// The simulation: routers, the wire, the event queue, and the invariant checks.
#[derive(Debug)]
pub struct Sim {
    setup: Setup,
    opts: Options,
    header: String,
    now: Ticks,
    seq: u64,
    queue: BinaryHeap<Ev>,
    rng: Rng,
    nodes: Vec<NodeRt>,
    lans: Vec<LanRt>,
    trace: VecDeque<(Ticks, Note)>,
    stats: Stats,
    converged: bool,
    soak: bool,
    /// A convergence check that failed on a lossy LAN: (deadline, why it failed).
    open_check: Option<(Ticks, String)>,
    pending: Vec<Pending>,
    history: Vec<Transition>,
    explained: Vec<(usize, usize, usize, Ticks)>,
    /// Priority-0 copies put on the wire by the current action: (LAN, to, arrival).
    resign_to: Vec<(usize, usize, Ticks)>,
    scratch: Vec<Effect>,
}

fn addr_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl Sim {
    /// A network with every router stopped, at time zero. `header` describes the
    /// scenario in violation reports.
    pub fn new(setup: Setup, seed: u64, header: String, opts: Options) -> Self {
        let n = setup.nodes();
        for lan in &setup.lans {
            assert_eq!(lan.configs.len(), n, "every node has one instance per LAN");
            assert_eq!(lan.vips.len(), n);
            assert!(lan.links.len() == n && lan.links.iter().all(|l| l.len() == n));
        }
        assert!(n <= 32, "partition masks are 32 bits");
        let nodes = (0..n)
            .map(|node| {
                let insts: Vec<Instance> = setup
                    .lans
                    .iter()
                    .map(|l| {
                        Instance::new(l.configs[node], l.vips[node].clone())
                            .expect("the scenario's configuration is valid")
                    })
                    .collect();
                NodeRt {
                    up: false,
                    incarnation: 0,
                    models: setup
                        .lans
                        .iter()
                        .map(|l| Model::new(&l.configs[node], setup.sync_groups, 0))
                        .collect(),
                    insts,
                    track: vec![TrackStatus::HEALTHY; setup.lans.len()],
                    group: None,
                }
            })
            .collect();
        let lans = setup
            .lans
            .iter()
            .map(|_| LanRt {
                side: vec![0; n],
                connected_since: 0,
                pair_lost: vec![vec![0; n]; n],
            })
            .collect();
        let trace_len = opts.trace_len;
        Sim {
            setup,
            opts,
            header,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            rng: Rng::new(seed ^ 0x5EED_5EED_5EED_5EED),
            nodes,
            lans,
            trace: VecDeque::with_capacity(trace_len + 1),
            stats: Stats::default(),
            converged: false,
            soak: false,
            open_check: None,
            pending: Vec::new(),
            history: Vec::new(),
            explained: Vec::new(),
            resign_to: Vec::new(),
            scratch: Vec::with_capacity(MAX_EFFECTS * 2),
        }
    }

    pub fn now(&self) -> Ticks {
        self.now
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn history(&self) -> &[Transition] {
        &self.history
    }

    pub fn is_up(&self, node: usize) -> bool {
        self.nodes[node].up
    }

    /// The instance of `node` on `lan` (its last incarnation if stopped).
    pub fn instance(&self, node: usize, lan: usize) -> &Instance {
        &self.nodes[node].insts[lan]
    }

    /// The state of a running router's instance; `None` while it is stopped.
    pub fn state(&self, node: usize, lan: usize) -> Option<State> {
        self.nodes[node]
            .up
            .then(|| self.nodes[node].insts[lan].state())
    }

    /// Running routers in MASTER on `lan`.
    pub fn masters(&self, lan: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&n| self.state(n, lan) == Some(State::Master))
            .collect()
    }

    /// When `node` last sent an advert on `lan`.
    pub fn last_sent(&self, node: usize, lan: usize) -> Option<Ticks> {
        self.nodes[node].models[lan].last_sent
    }

    /// The full violation report for `what`: seed and scenario, the last events, and
    /// how to replay.
    pub fn report(&self, what: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n==== VRRP simulation invariant violated at t={} s ====\n{what}\n",
            fmt_t(self.now)
        );
        let _ = writeln!(s, "---- scenario ----\n{}", self.header);
        let _ = writeln!(s, "---- last {} events ----", self.trace.len());
        for (t, note) in &self.trace {
            let _ = writeln!(s, "{:>12} {}", fmt_t(*t), self.fmt_note(note));
        }
        let _ = writeln!(s, "---- replay ----\n{}", self.opts.replay);
        s
    }

    fn who(&self, node: usize, lan: usize) -> String {
        if self.setup.lans.len() > 1 {
            format!("r{node}@{}", lan_name(lan))
        } else {
            format!("r{node}")
        }
    }

    fn fmt_note(&self, note: &Note) -> String {
        match note {
            Note::Send { node, lan, prio } => {
                format!("{} sends advert prio {prio}", self.who(*node, *lan))
            }
            Note::Lost {
                from,
                to,
                lan,
                prio,
            } => format!(
                "{} -> r{to}: advert prio {prio} LOST",
                self.who(*from, *lan)
            ),
            Note::Cut { from, to, lan } => format!(
                "{} -> r{to}: advert cut by the partition",
                self.who(*from, *lan)
            ),
            Note::Rx {
                from,
                to,
                lan,
                prio,
                drop,
            } => match drop {
                None => format!("{} -> r{to}: advert prio {prio}", self.who(*from, *lan)),
                Some(d) => format!(
                    "{} -> r{to}: advert prio {prio} dropped ({})",
                    self.who(*from, *lan),
                    d.as_str()
                ),
            },
            Note::State(t) => format!(
                "{} {} -> {} ({}) [prio {}]",
                self.who(t.node, t.lan),
                t.from.as_str(),
                t.to.as_str(),
                t.reason.as_str(),
                self.nodes[t.node].insts[t.lan].effective_priority()
            ),
            Note::Prio {
                node,
                lan,
                from,
                to,
            } => format!(
                "{} effective priority {from} -> {to}",
                self.who(*node, *lan)
            ),
            Note::Text(s) => s.clone(),
        }
    }

    fn note(&mut self, note: Note) {
        if self.opts.verbose {
            println!("{:>12} {}", fmt_t(self.now), self.fmt_note(&note));
        }
        if self.opts.trace_len == 0 {
            return;
        }
        if self.trace.len() == self.opts.trace_len {
            self.trace.pop_front();
        }
        self.trace.push_back((self.now, note));
    }

    fn push(&mut self, at: Ticks, kind: EvKind) {
        self.seq += 1;
        self.queue.push(Ev {
            at,
            seq: self.seq,
            kind,
        });
    }

    /// Runs every event up to and including `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Ticks) -> Res {
        self.run_until_inner(t).map_err(|e| self.report(&e))
    }

    /// Runs for `d` more ticks.
    pub fn run_for(&mut self, d: Ticks) -> Res {
        self.run_until(self.now + d)
    }

    /// Applies a scenario action now.
    pub fn act(&mut self, action: Action) -> Res {
        self.act_inner(action).map_err(|e| self.report(&e))
    }

    /// Ends a run: a check still open or a takeover overdue is a violation.
    pub fn finish(&mut self) -> Res {
        self.settle_pending()
            .and_then(|()| match &self.open_check {
                Some((_, why)) => Err(format!("still not converged at the end of the run: {why}")),
                None => Ok(()),
            })
            .map_err(|e| self.report(&e))
    }

    fn run_until_inner(&mut self, t: Ticks) -> Res {
        while self.queue.peek().is_some_and(|ev| ev.at <= t) {
            let ev = self.queue.pop().expect("peeked");
            debug_assert!(ev.at >= self.now, "time runs forward");
            self.now = ev.at;
            self.stats.events += 1;
            match ev.kind {
                EvKind::Deliver {
                    lan,
                    from,
                    to,
                    prio,
                    bytes,
                } => self.deliver(lan, from, to, prio, &bytes)?,
                EvKind::Timer {
                    node,
                    lan,
                    incarnation,
                    generation,
                } => self.timer(node, lan, incarnation, generation)?,
            }
            self.monitor()?;
        }
        self.now = self.now.max(t);
        if let Some((deadline, why)) = &self.open_check
            && self.now > *deadline
        {
            return Err(format!(
                "not converged within the slack window (until {} s): {why}",
                fmt_t(*deadline)
            ));
        }
        Ok(())
    }

    /// One call into one instance; its effects are checked and carried out. The caller
    /// runs [`Sim::after_call`] once its own bookkeeping is done.
    fn call(&mut self, node: usize, lan: usize, call: Call<'_, '_>) -> Res<Option<RxDrop>> {
        let now = Instant::from_ticks(self.now);
        let mut fx = std::mem::take(&mut self.scratch);
        fx.clear();
        let result = {
            let inst = &mut self.nodes[node].insts[lan];
            // A counting sink: every effect is recorded, so the count per call is exact.
            let mut sink = |e: Effect| fx.push(e);
            match call {
                Call::Start => {
                    inst.start(now, &mut sink);
                    Ok(())
                }
                Call::Timeout => {
                    inst.on_timeout(now, &mut sink);
                    Ok(())
                }
                Call::Shutdown => {
                    inst.shutdown(now, &mut sink);
                    Ok(())
                }
                Call::Track(s) => {
                    inst.set_tracking(now, s, &mut sink);
                    Ok(())
                }
                Call::Advert(repr, src) => inst.on_advert(now, repr, src, &mut sink),
            }
        };
        let checked = if fx.len() > MAX_EFFECTS {
            Err(format!(
                "{} produced {} effects in one call, more than MAX_EFFECTS = {MAX_EFFECTS}: {fx:?}",
                self.who(node, lan),
                fx.len()
            ))
        } else {
            self.apply(node, lan, &fx)
        };
        self.scratch = fx;
        checked?;
        Ok(result.err())
    }

    /// Checks and carries out the effects of one call into `node`'s instance on `lan`.
    fn apply(&mut self, node: usize, lan: usize, fx: &[Effect]) -> Res {
        let enters = fx.iter().any(|e| {
            matches!(
                e,
                Effect::StateChanged {
                    to: State::Master,
                    ..
                }
            )
        });
        let leaves = fx.iter().any(|e| {
            matches!(
                e,
                Effect::StateChanged {
                    from: State::Master,
                    ..
                }
            )
        });
        let who = self.who(node, lan);
        for &e in fx {
            let m = &mut self.nodes[node].models[lan];
            match e {
                Effect::SendAdvert { priority } => {
                    if m.state != State::Master {
                        return Err(format!("{who} sends an advert while {:?}", m.state));
                    }
                    if priority == 0 && !leaves {
                        return Err(format!(
                            "{who} sends priority 0 without leaving MASTER: {fx:?}"
                        ));
                    }
                    if priority != 0 && priority != m.eff {
                        return Err(format!(
                            "{who} advertises priority {priority}, its effective priority is {}",
                            m.eff
                        ));
                    }
                    self.transmit(node, lan, priority)?;
                }
                Effect::AddVips => {
                    if !enters || m.holds_vips {
                        return Err(format!(
                            "{who}: AddVips outside a call that enters MASTER, or while holding them (holds: {}): {fx:?}",
                            m.holds_vips
                        ));
                    }
                    m.holds_vips = true;
                }
                Effect::RemoveVips => {
                    if !leaves || !m.holds_vips {
                        return Err(format!(
                            "{who}: RemoveVips outside a call that leaves MASTER, or without holding them (holds: {}): {fx:?}",
                            m.holds_vips
                        ));
                    }
                    m.holds_vips = false;
                }
                Effect::Announce { count, .. } => {
                    if !m.holds_vips || count == 0 {
                        return Err(format!(
                            "{who}: Announce {count} without holding the VIPs: {fx:?}"
                        ));
                    }
                }
                Effect::StateChanged { from, to, reason } => {
                    self.transition(node, lan, from, to, reason)?
                }
                Effect::PriorityChanged { from, to } => {
                    if from != m.eff || from == to {
                        return Err(format!(
                            "{who}: PriorityChanged {from} -> {to}, but it was {}",
                            m.eff
                        ));
                    }
                    if m.state == State::Backup && !m.resigned {
                        let l = &self.setup.lans[lan];
                        if let Some(e) = m.expected_down {
                            // keepalived / the core: a running timer moves by the change
                            // in the master-down interval.
                            m.expected_down = Some(e + l.master_down(to) - l.master_down(from));
                        }
                    }
                    m.eff = to;
                    m.changed_at = self.now;
                    self.note(Note::Prio {
                        node,
                        lan,
                        from,
                        to,
                    });
                }
            }
        }
        Ok(())
    }

    fn transition(
        &mut self,
        node: usize,
        lan: usize,
        from: State,
        to: State,
        reason: Reason,
    ) -> Res {
        let now = self.now;
        let who = self.who(node, lan);
        let l = &self.setup.lans[lan];
        let (md_eff, dta) = (
            l.master_down(self.nodes[node].models[lan].eff),
            l.down_adverts(),
        );
        let m = &mut self.nodes[node].models[lan];
        if from != m.state || from == to {
            return Err(format!(
                "{who}: StateChanged {from:?} -> {to:?}, but the instance was {:?}",
                m.state
            ));
        }
        m.state = to;
        let t = Transition {
            at: now,
            node,
            lan,
            from,
            to,
            reason,
        };
        self.history.push(t);
        self.stats.transitions += 1;
        self.note(Note::State(t));
        let m = &mut self.nodes[node].models[lan];
        match to {
            State::Master => {
                let timed = matches!(reason, Reason::MasterDown | Reason::MasterResigned);
                if from == State::Backup && timed && m.modelled {
                    match m.expected_down {
                        Some(e) if now >= e => {}
                        e => {
                            return Err(format!(
                                "{who} took over ({}) at {} s, before its master-down timer: the RFC deadline is {}",
                                reason.as_str(),
                                fmt_t(now),
                                e.map_or_else(|| "unset".into(), fmt_t)
                            ));
                        }
                    }
                    if m.resigned != (reason == Reason::MasterResigned) {
                        return Err(format!(
                            "{who} took over with reason '{}' but the last resetting advert {} a resignation",
                            reason.as_str(),
                            if m.resigned { "was" } else { "was not" }
                        ));
                    }
                }
                let lost = m.lost_resetting;
                m.master_since = now;
                m.expected_down = None;
                m.resigned = false;
                self.lans[lan].pair_lost[node].fill(0);
                if self.soak {
                    if reason != Reason::MasterDown || from != State::Backup {
                        return Err(format!(
                            "{who}: {from:?} -> MASTER ({}) during a soak with no events",
                            reason.as_str()
                        ));
                    }
                    let inflight = self.inflight_resetting(node, lan) as u32;
                    if lost + inflight < u32::from(dta) {
                        return Err(format!(
                            "FLAPPING: {who} took over during the soak, but only {lost} resetting adverts to it were lost and {inflight} are in flight since its timer was last reset (down_timer_adverts = {dta})"
                        ));
                    }
                    self.stats.soak_takeovers += 1;
                    let n = lost + inflight;
                    self.stats.soak_min_lost =
                        Some(self.stats.soak_min_lost.map_or(n, |m| m.min(n)));
                    self.note(Note::Text(format!(
                        "   (soak takeover by {who} explained: {lost} resetting adverts lost, {inflight} late)"
                    )));
                }
                self.takeover(node, lan)?;
            }
            State::Backup => {
                m.expected_down = Some(now + md_eff);
                m.resigned = false;
                m.lost_resetting = 0;
            }
            State::Initialize | State::Fault => {
                m.expected_down = None;
                m.resigned = false;
            }
        }
        Ok(())
    }

    /// Resetting adverts to `node` still on the wire.
    fn inflight_resetting(&self, node: usize, lan: usize) -> usize {
        let m = &self.nodes[node].models[lan];
        self.queue
            .iter()
            .filter(|ev| {
                matches!(ev.kind, EvKind::Deliver { lan: l, to, prio, .. }
                    if l == lan && to == node && prio != 0 && (prio >= m.eff || !m.preempts))
            })
            .count()
    }

    /// A new master: closes a pending takeover measurement in its partition.
    fn takeover(&mut self, node: usize, lan: usize) -> Res {
        let side = self.lans[lan].side[node];
        let Some(i) = self
            .pending
            .iter()
            .position(|p| p.lan == lan && p.side == side && p.left != node)
        else {
            return Ok(());
        };
        let p = self.pending.swap_remove(i);
        let took = self.now - p.since;
        let bound = p.bound - p.since;
        if self.now > p.bound {
            return Err(format!(
                "TAKEOVER TOO SLOW: after r{} {} ({} s), {} became MASTER {} s later; the bound (from r{}) is {} s",
                p.left,
                p.kind,
                fmt_t(p.since),
                self.who(node, lan),
                fmt_t(took),
                p.bound_node,
                fmt_t(bound)
            ));
        }
        self.stats.takeovers += 1;
        if took > self.stats.max_takeover {
            self.stats.max_takeover = took;
            self.stats.max_takeover_bound = bound;
        }
        if let Some(ratio) = (took * 1000).checked_div(bound) {
            self.stats.worst_ratio_permille = self.stats.worst_ratio_permille.max(ratio);
        }
        self.note(Note::Text(format!(
            "   (takeover after r{} {}: {} s, bound {} s)",
            p.left,
            p.kind,
            fmt_t(took),
            fmt_t(bound)
        )));
        Ok(())
    }

    /// Sends one advert from `node` on `lan` to every connected running router.
    fn transmit(&mut self, node: usize, lan: usize, prio: u8) -> Res {
        let mut buf = [0u8; 128];
        let len = self.nodes[node].insts[lan]
            .emit_advert(prio, &mut buf, MCAST)
            .map_err(|e| format!("{} cannot emit its advert: {e}", self.who(node, lan)))?;
        if buf[2] != prio {
            return Err(format!(
                "{}: emitted priority byte {} for priority {prio}",
                self.who(node, lan),
                buf[2]
            ));
        }
        let bytes: Rc<[u8]> = Rc::from(&buf[..len]);
        self.nodes[node].models[lan].last_sent = Some(self.now);
        self.stats.adverts += 1;
        self.note(Note::Send { node, lan, prio });
        for to in 0..self.nodes.len() {
            if to == node
                || !self.nodes[to].up
                || self.lans[lan].side[to] != self.lans[lan].side[node]
            {
                continue;
            }
            let link = self.setup.lans[lan].links[node][to];
            if self.rng.ppm(link.loss_ppm) {
                self.lans[lan].pair_lost[node][to] += 1;
                let rm = &mut self.nodes[to].models[lan];
                if rm.resets(prio) {
                    rm.lost_resetting += 1;
                }
                self.stats.copies_lost += 1;
                self.note(Note::Lost {
                    from: node,
                    to,
                    lan,
                    prio,
                });
                continue;
            }
            let at = self.now + link.delay + self.rng.below(link.jitter + 1);
            if prio == 0 {
                self.resign_to.push((lan, to, at));
            }
            self.push(
                at,
                EvKind::Deliver {
                    lan,
                    from: node,
                    to,
                    prio,
                    bytes: bytes.clone(),
                },
            );
        }
        Ok(())
    }

    fn deliver(&mut self, lan: usize, from: usize, to: usize, prio: u8, bytes: &[u8]) -> Res {
        if !self.nodes[to].up {
            return Ok(());
        }
        if self.lans[lan].side[to] != self.lans[lan].side[from] {
            self.note(Note::Cut { from, to, lan });
            return Ok(());
        }
        self.lans[lan].pair_lost[from][to] = 0;
        let l = &self.setup.lans[lan];
        let src = l.primary(from);
        let mine = l.primary(to);
        let meta = RxMeta {
            src,
            dst: MCAST,
            ttl: wire::TTL,
        };
        let repr = Repr::parse(bytes, &meta, l.configs[to].checksum).map_err(|e| {
            format!(
                "r{to} cannot parse {}'s advert {bytes:02x?}: {e}",
                self.who(from, lan)
            )
        })?;
        if repr.priority != prio || repr.interval != l.interval() || repr.vrid != l.configs[to].vrid
        {
            return Err(format!(
                "r{to} parsed {}'s advert as {repr:?}; it was sent with priority {prio}",
                self.who(from, lan)
            ));
        }
        let (md, skew) = {
            let eff = self.nodes[to].models[lan].eff;
            (l.master_down(eff), l.skew(eff))
        };
        let inst = &self.nodes[to].insts[lan];
        let state0 = inst.state();
        let eff0 = inst.effective_priority();
        let wins = state0 == State::Master
            && prio != 0
            && (prio > eff0
                || (prio == eff0 && (prio == u8::MAX || addr_key(src) > addr_key(mine))));
        let drop = self.call(to, lan, Call::Advert(&repr, src))?;
        self.note(Note::Rx {
            from,
            to,
            lan,
            prio,
            drop,
        });
        match drop {
            None => {}
            Some(RxDrop::NotListening) if matches!(state0, State::Initialize | State::Fault) => {}
            Some(d) => {
                return Err(format!(
                    "{} dropped {}'s advert ({}) in state {state0:?}",
                    self.who(to, lan),
                    self.who(from, lan),
                    d.as_str()
                ));
            }
        }
        if wins && self.nodes[to].insts[lan].state() == State::Master {
            return Err(format!(
                "{} (prio {eff0}) stayed MASTER after a winning advert (prio {prio}) from {}",
                self.who(to, lan),
                self.who(from, lan)
            ));
        }
        let m = &mut self.nodes[to].models[lan];
        if state0 == State::Backup && drop.is_none() && m.modelled {
            // RFC 5798 6.4.2.
            if prio == 0 {
                m.expected_down = Some(self.now + skew);
                m.resigned = true;
                m.lost_resetting = 0;
            } else if prio >= eff0 || !m.preempts {
                m.expected_down = Some(self.now + md);
                m.resigned = false;
                m.lost_resetting = 0;
            }
        }
        self.after_call(to)
    }

    fn timer(&mut self, node: usize, lan: usize, incarnation: u32, generation: u64) -> Res {
        let n = &self.nodes[node];
        if !n.up || n.incarnation != incarnation || n.models[lan].generation != generation {
            return Ok(());
        }
        let state0 = n.insts[lan].state();
        let expected = n.models[lan].expected_down;
        let modelled = n.models[lan].modelled;
        self.call(node, lan, Call::Timeout)?;
        let inst = &self.nodes[node].insts[lan];
        if modelled
            && state0 == State::Backup
            && inst.state() == State::Backup
            && expected.is_some_and(|e| self.now >= e)
        {
            return Err(format!(
                "{}: master-down timer due at {} s, but it stayed BACKUP",
                self.who(node, lan),
                fmt_t(expected.unwrap_or_default())
            ));
        }
        if let Some(p) = inst.poll_at()
            && p.as_ticks() <= self.now
        {
            return Err(format!(
                "{}: on_timeout left a deadline due ({} s): it would never be woken again",
                self.who(node, lan),
                fmt_t(p.as_ticks())
            ));
        }
        self.after_call(node)
    }

    /// After any input to a node: its sync group settles, then every instance's
    /// bookkeeping is checked and its deadline re-read.
    fn after_call(&mut self, node: usize) -> Res {
        if let Some(mut group) = self.nodes[node].group.take() {
            let mut tagged: Vec<(usize, Effect)> = Vec::new();
            group.settle(
                &mut self.nodes[node].insts,
                Instant::from_ticks(self.now),
                &mut |m, e| tagged.push((m, e)),
            );
            self.nodes[node].group = Some(group);
            for lan in 0..self.setup.lans.len() {
                let fx: Vec<Effect> = tagged
                    .iter()
                    .filter(|(m, _)| *m == lan)
                    .map(|&(_, e)| e)
                    .collect();
                if fx.len() > MAX_EFFECTS {
                    return Err(format!(
                        "sync group settle produced {} effects for {}: {fx:?}",
                        fx.len(),
                        self.who(node, lan)
                    ));
                }
                self.apply(node, lan, &fx)?;
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.refresh(node, lan)?;
        }
        Ok(())
    }

    fn refresh(&mut self, node: usize, lan: usize) -> Res {
        let who = self.who(node, lan);
        let interval = self.setup.lans[lan].interval_ticks();
        let n = &mut self.nodes[node];
        let inst = &n.insts[lan];
        let m = &mut n.models[lan];
        let state = inst.state();
        if m.state != state {
            return Err(format!(
                "{who}: the effects said {:?}, the instance says {state:?}",
                m.state
            ));
        }
        if m.eff != inst.effective_priority() {
            return Err(format!(
                "{who}: PriorityChanged said {}, the instance says {}",
                m.eff,
                inst.effective_priority()
            ));
        }
        if m.holds_vips != (state == State::Master) {
            return Err(format!(
                "{who} in {state:?} {} the VIPs",
                if m.holds_vips {
                    "holds"
                } else {
                    "does not hold"
                }
            ));
        }
        let p = inst.poll_at().map(|i| i.as_ticks());
        match (state, p) {
            (State::Backup | State::Master, None) => {
                return Err(format!("{who} in {state:?} has no deadline"));
            }
            (State::Initialize | State::Fault, Some(_)) => {
                return Err(format!("{who} in {state:?} has a deadline"));
            }
            (State::Backup, Some(at)) if m.modelled && Some(at) != m.expected_down => {
                return Err(format!(
                    "{who}: master-down timer at {} s, the RFC says {}",
                    fmt_t(at),
                    m.expected_down.map_or_else(|| "unset".into(), fmt_t)
                ));
            }
            (State::Master, Some(at)) if at > self.now + interval => {
                return Err(format!(
                    "{who}: MASTER's next deadline {} s is more than one advert interval away",
                    fmt_t(at)
                ));
            }
            _ => {}
        }
        if p != m.timer {
            m.timer = p;
            m.generation += 1;
            if let Some(at) = p {
                let kind = EvKind::Timer {
                    node,
                    lan,
                    incarnation: n.incarnation,
                    generation: m.generation,
                };
                self.push(at.max(self.now), kind);
            }
        }
        Ok(())
    }

    /// Continuous checks after every event: an open convergence check, dual masters.
    fn monitor(&mut self) -> Res {
        if let Some((deadline, _)) = &self.open_check {
            let deadline = *deadline;
            match self.convergence() {
                Ok(()) => {
                    self.open_check = None;
                    self.converged = true;
                    self.stats.checks += 1;
                    self.stats.late_checks += 1;
                    self.note(Note::Text("   (converged within the slack window)".into()));
                }
                Err(why) if self.now > deadline => {
                    return Err(format!(
                        "not converged within the slack window (until {} s): {why}",
                        fmt_t(deadline)
                    ));
                }
                Err(why) => self.open_check = Some((deadline, why)),
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.dual_masters(lan)?;
        }
        Ok(())
    }

    /// Invariant 4: two masters in one connected partition for longer than the loser's
    /// master-down interval only when the winner's copies to it were lost.
    fn dual_masters(&mut self, lan: usize) -> Res {
        let masters: Vec<usize> = (0..self.nodes.len())
            .filter(|&n| self.nodes[n].up && self.nodes[n].models[lan].state == State::Master)
            .collect();
        if masters.len() < 2 {
            return Ok(());
        }
        let l = &self.setup.lans[lan];
        let rt = &self.lans[lan];
        let mut notes = Vec::new();
        for (i, &a) in masters.iter().enumerate() {
            for &b in &masters[i + 1..] {
                if rt.side[a] != rt.side[b] {
                    continue;
                }
                let (ma, mb) = (&self.nodes[a].models[lan], &self.nodes[b].models[lan]);
                let a_wins = ma.eff > mb.eff
                    || (ma.eff == mb.eff && addr_key(l.primary(a)) > addr_key(l.primary(b)));
                let (w, lo) = if a_wins { (a, b) } else { (b, a) };
                let start = ma
                    .master_since
                    .max(mb.master_since)
                    .max(ma.changed_at)
                    .max(mb.changed_at)
                    .max(rt.connected_since);
                let limit = l.master_down(self.nodes[lo].models[lan].eff) + l.max_delay();
                if self.now - start <= limit {
                    continue;
                }
                let lost = rt.pair_lost[w][lo];
                if lost < u32::from(l.down_adverts()) {
                    return Err(format!(
                        "TWO MASTERS: {} and {} both MASTER in one partition since {} s (> master-down {} s + delay); only {lost} consecutive adverts from the winner r{w} to r{lo} were lost",
                        self.who(a, lan),
                        self.who(b, lan),
                        fmt_t(start),
                        fmt_t(l.master_down(self.nodes[lo].models[lan].eff)),
                    ));
                }
                if !self.explained.contains(&(lan, w, lo, start)) {
                    self.explained.push((lan, w, lo, start));
                    notes.push(format!(
                        "   (dual masters r{w}/r{lo} beyond master-down: {lost} consecutive adverts r{w} -> r{lo} lost)"
                    ));
                }
            }
        }
        for text in notes {
            self.stats.dual_masters_explained += 1;
            self.note(Note::Text(text));
        }
        Ok(())
    }

    /// Invariant 1. Within every connected partition of every LAN, among the running,
    /// non-faulty routers: exactly one MASTER, of the highest effective priority; on a
    /// loss-free LAN every backup also knows it as its master.
    ///
    /// Ties: RFC 5798 6.4.2 lets a backup preempt only a *lower* priority ("greater than
    /// or equal ... reset the Master_Down_Timer"), so among routers tied at the highest
    /// priority whichever became master first stays master; the address decides only
    /// between masters that meet (6.4.3). So any of the tied routers is accepted here,
    /// and the address tie-break is checked where masters meet
    /// ([`Sim::dual_masters`], and a named scenario with a simultaneous start).
    pub fn convergence(&self) -> Res {
        for (lan, l) in self.setup.lans.iter().enumerate() {
            let rt = &self.lans[lan];
            for side in 0..2u8 {
                let mut participants = Vec::new();
                for (n, node) in self.nodes.iter().enumerate() {
                    if !node.up || rt.side[n] != side {
                        continue;
                    }
                    let inst = &node.insts[lan];
                    match inst.state() {
                        State::Initialize => {
                            return Err(format!("{} is running but in INIT", self.who(n, lan)));
                        }
                        State::Fault if inst.is_faulty() => {}
                        State::Fault => {
                            return Err(format!(
                                "{} is in FAULT without a fault",
                                self.who(n, lan)
                            ));
                        }
                        _ if inst.is_faulty() => {
                            return Err(format!(
                                "{} is faulty but in {:?}",
                                self.who(n, lan),
                                inst.state()
                            ));
                        }
                        _ => participants.push(n),
                    }
                }
                if participants.is_empty() {
                    continue;
                }
                let prio = |n: usize| self.nodes[n].insts[lan].effective_priority();
                let masters: Vec<usize> = participants
                    .iter()
                    .copied()
                    .filter(|&n| self.nodes[n].insts[lan].state() == State::Master)
                    .collect();
                let best = participants.iter().map(|&n| prio(n)).max().unwrap_or(0);
                let list = |v: &[usize]| {
                    v.iter()
                        .map(|&n| format!("r{n}(prio {})", prio(n)))
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                if masters.len() != 1 {
                    return Err(format!(
                        "LAN {} partition {side}: {} masters [{}] among [{}]",
                        lan_name(lan),
                        masters.len(),
                        list(&masters),
                        list(&participants)
                    ));
                }
                let m = masters[0];
                if prio(m) != best {
                    return Err(format!(
                        "LAN {} partition {side}: MASTER r{m} has priority {}, but the highest is {best} among [{}]",
                        lan_name(lan),
                        prio(m),
                        list(&participants)
                    ));
                }
                if !l.lossy() {
                    for &b in &participants {
                        let knows = self.nodes[b].insts[lan].master();
                        if b != m && knows != Some(l.primary(m)) {
                            return Err(format!(
                                "LAN {}: backup r{b} believes the master is {knows:?}, not r{m} ({})",
                                lan_name(lan),
                                l.primary(m)
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn resolve(&mut self, target: Target) -> Option<usize> {
        let n = self.nodes.len();
        match target {
            Target::Node(i) => Some(i),
            Target::Master => (0..n).find(|&i| self.state(i, 0) == Some(State::Master)),
            Target::AnyUp | Target::AnyDown => {
                let want = target == Target::AnyUp;
                let v: Vec<usize> = (0..n).filter(|&i| self.nodes[i].up == want).collect();
                (!v.is_empty()).then(|| v[self.rng.below(v.len() as u64) as usize])
            }
        }
    }

    /// Pending takeovers at the next scenario action: overdue is a violation, otherwise
    /// the measurement is abandoned (the action may change who can take over).
    fn settle_pending(&mut self) -> Res {
        for p in std::mem::take(&mut self.pending) {
            if self.now > p.bound {
                return Err(format!(
                    "NO TAKEOVER: after r{} {} at {} s, no backup became MASTER by the bound {} s (from r{})",
                    p.left,
                    p.kind,
                    fmt_t(p.since),
                    fmt_t(p.bound),
                    p.bound_node
                ));
            }
            self.stats.takeovers_abandoned += 1;
        }
        Ok(())
    }

    /// Before `node` stops being master (crash, shutdown, fault): if it is the only
    /// master of a converged partition, time the takeover. `resign`: it will resign,
    /// and the bound is tightened after the call for backups that got the priority-0
    /// advert.
    fn plan_takeover(&self, node: usize, kind: &'static str) -> Vec<(Pending, Vec<usize>)> {
        let mut out = Vec::new();
        if !self.converged || !self.nodes[node].up {
            return out;
        }
        for (lan, l) in self.setup.lans.iter().enumerate() {
            let rt = &self.lans[lan];
            let side = rt.side[node];
            let m = &self.nodes[node].models[lan];
            if m.state != State::Master {
                continue;
            }
            let same = |n: usize| self.nodes[n].up && rt.side[n] == side;
            let masters = (0..self.nodes.len())
                .filter(|&n| same(n) && self.nodes[n].models[lan].state == State::Master)
                .count();
            let eligible: Vec<usize> = (0..self.nodes.len())
                .filter(|&n| {
                    n != node
                        && same(n)
                        && !self.setup.sync_groups
                        && self.nodes[n].insts[lan].state() == State::Backup
                })
                .collect();
            let Some(last) = m.last_sent else { continue };
            if masters != 1 || eligible.is_empty() {
                continue;
            }
            let (mut bound, mut bound_node) = (Ticks::MAX, 0);
            for &b in &eligible {
                let md = l.master_down(self.nodes[b].models[lan].eff);
                let t = last + l.max_delay() + md + l.interval_ticks();
                if t < bound {
                    (bound, bound_node) = (t, b);
                }
            }
            out.push((
                Pending {
                    lan,
                    side,
                    left: node,
                    kind,
                    since: last,
                    bound,
                    bound_node,
                },
                eligible,
            ));
        }
        out
    }

    /// After a resignation: a backup that gets the priority-0 advert waits only its
    /// skew time (RFC 5798 6.4.2), unless an older advert still on the wire overtakes
    /// the resignation (jitter reorders them): that one resets the timer to the full
    /// master-down interval, as the RFC says, and the crash bound applies to it.
    fn arm_takeover(&mut self, planned: Vec<(Pending, Vec<usize>)>, resigned: bool) {
        for (mut p, eligible) in planned {
            if resigned {
                p.since = self.now;
                for &b in &eligible {
                    let Some(&(_, _, arrives)) = self
                        .resign_to
                        .iter()
                        .find(|&&(lan, to, _)| lan == p.lan && to == b)
                    else {
                        continue;
                    };
                    let overtaken = self.queue.iter().any(|ev| {
                        matches!(ev.kind, EvKind::Deliver { lan, to, prio, .. }
                            if lan == p.lan && to == b && prio != 0 && ev.at > arrives)
                    });
                    if overtaken {
                        self.note(Note::Text(format!(
                            "   (an older advert to r{b} arrives after the resignation: it waits the master-down interval)"
                        )));
                        continue;
                    }
                    let l = &self.setup.lans[p.lan];
                    let t = self.now + l.max_delay() + l.skew(self.nodes[b].models[p.lan].eff);
                    if t < p.bound {
                        (p.bound, p.bound_node) = (t, b);
                    }
                }
            }
            self.pending.push(p);
        }
    }

    fn act_inner(&mut self, action: Action) -> Res {
        if let Some((_, why)) = &self.open_check {
            return Err(format!(
                "not converged within the slack window before the next action ({action}): {why}"
            ));
        }
        self.settle_pending()?;
        let quiet = matches!(action, Action::Check | Action::SoakBegin | Action::SoakEnd);
        let resolved = match action {
            Action::Start(t) | Action::Crash(t) | Action::Shutdown(t) => self.resolve(t),
            Action::Track { target, .. } => self.resolve(target),
            _ => None,
        };
        self.note(Note::Text(format!(
            "== {action}{}",
            resolved.map_or_else(String::new, |n| format!(" -> r{n}"))
        )));
        match action {
            Action::Start(_) => {
                if let Some(n) = resolved.filter(|&n| !self.nodes[n].up) {
                    self.start(n)?;
                }
            }
            Action::Crash(_) => {
                if let Some(n) = resolved.filter(|&n| self.nodes[n].up) {
                    let planned = self.plan_takeover(n, "crashed");
                    let node = &mut self.nodes[n];
                    node.up = false;
                    for m in &mut node.models {
                        m.holds_vips = false;
                    }
                    self.arm_takeover(planned, false);
                }
            }
            Action::Shutdown(_) => {
                if let Some(n) = resolved.filter(|&n| self.nodes[n].up) {
                    let planned = self.plan_takeover(n, "shut down");
                    self.resign_to.clear();
                    for lan in 0..self.setup.lans.len() {
                        self.call(n, lan, Call::Shutdown)?;
                        self.after_call(n)?;
                    }
                    self.nodes[n].up = false;
                    self.arm_takeover(planned, true);
                }
            }
            Action::Partition { lan, side_b } => {
                let rt = &mut self.lans[lan];
                for (n, s) in rt.side.iter_mut().enumerate() {
                    *s = u8::from(side_b & (1 << n) != 0);
                }
                rt.connected_since = self.now;
            }
            Action::Heal { lan } => {
                let rt = &mut self.lans[lan];
                rt.side.fill(0);
                rt.connected_since = self.now;
                for row in &mut rt.pair_lost {
                    row.fill(0);
                }
            }
            Action::Track { lan, status, .. } => {
                if let Some(n) = resolved {
                    self.nodes[n].track[lan] = status;
                    if self.nodes[n].up {
                        let planned = if status.is_fault() {
                            self.plan_takeover(n, "went to FAULT")
                        } else {
                            Vec::new()
                        };
                        self.resign_to.clear();
                        self.call(n, lan, Call::Track(status))?;
                        self.after_call(n)?;
                        self.arm_takeover(planned, true);
                    }
                }
            }
            Action::Check => match self.convergence() {
                Ok(()) => {
                    self.converged = true;
                    self.stats.checks += 1;
                }
                Err(why) if self.setup.slack() > 0 => {
                    self.note(Note::Text(format!("   (not yet converged: {why})")));
                    self.open_check = Some((self.now + self.setup.slack(), why));
                }
                Err(why) => return Err(format!("NOT CONVERGED: {why}")),
            },
            Action::SoakBegin => self.soak = true,
            Action::SoakEnd => self.soak = false,
        }
        if !quiet {
            self.converged = false;
        }
        self.monitor()
    }

    fn start(&mut self, n: usize) -> Res {
        let sync = self.setup.sync_groups;
        let node = &mut self.nodes[n];
        node.up = true;
        node.incarnation += 1;
        for (lan, l) in self.setup.lans.iter().enumerate() {
            node.insts[lan] = Instance::new(l.configs[n], l.vips[n].clone())
                .expect("the scenario's configuration is valid");
            let generation = node.models[lan].generation;
            node.models[lan] = Model::new(&l.configs[n], sync, generation);
        }
        if sync {
            let members: Vec<usize> = (0..self.setup.lans.len()).collect();
            node.group = Some(
                SyncGroup::new(&members, &mut node.insts).expect("sync group fits its capacity"),
            );
        }
        for lan in 0..self.setup.lans.len() {
            let status = self.nodes[n].track[lan];
            if status != TrackStatus::HEALTHY {
                self.call(n, lan, Call::Track(status))?;
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.call(n, lan, Call::Start)?;
            self.after_call(n)?;
            // RFC 5798 6.4.1: the address owner goes straight to MASTER.
            let c = &self.setup.lans[lan].configs[n];
            let inst = &self.nodes[n].insts[lan];
            if c.priority == u8::MAX
                && c.initial == InitialState::Master
                && !inst.is_faulty()
                && inst.state() != State::Master
            {
                return Err(format!(
                    "{}: the address owner started in {:?}, not MASTER",
                    self.who(n, lan),
                    inst.state()
                ));
            }
        }
        Ok(())
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

/// The random scenario of `seed`: 2 to 16 routers of one VRID on one LAN, a shared
/// version and interval, distinct addresses in random order against priorities (with
/// ties, sometimes an owner), random keepalived options, lossy and jittery links, then
/// a script of crashes, restarts, shutdowns, partitions, heals and tracker changes with
/// convergence checks after quiet periods, and a final soak of [`SOAK_INTERVALS`].
pub fn random_scenario(seed: u64) -> Scenario {
    let mut r = Rng::new(seed);
    let n = r.range(2, 16) as usize;
    let version = if r.pct(50) { Version::V2 } else { Version::V3 };
    let interval = match version {
        Version::V2 => Interval::from_secs(1),
        Version::V3 => Interval::from_centis(r.range(10, 100) as u16),
    };
    let dta = r.pick(&[3u8, 3, 3, 3, 2, 4, 5]);
    let vrid = r.range(1, 255) as u8;

    // Addresses from up to four prefixes, some with the top bit set, so the unsigned
    // comparison of RFC 5798 6.4.3 matters.
    let prefixes = [[10u8, 0, 0], [192, 168, 7], [172, 16, 9], [203, 0, 113]];
    let used = r.range(1, 4) as usize;
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    while addrs.len() < n {
        let p = r.pick(&prefixes[..used]);
        let a = Ipv4Addr::new(p[0], p[1], p[2], r.range(1, 254) as u8);
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    let mut prios: Vec<u8> = (0..n)
        .map(|_| {
            if r.pct(45) {
                r.pick(&[100u8, 100, 150, 200])
            } else {
                r.range(1, 254) as u8
            }
        })
        .collect();
    if r.pct(25) {
        prios[r.below(n as u64) as usize] = u8::MAX;
    }
    let nvips = r.range(1, 4) as u8;
    let vips: Vec<IpAddr> = (1..=nvips)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 255, vrid, i)))
        .collect();
    let auth = if version == Version::V2 && r.pct(30) {
        Auth::password(b"vigil")
    } else {
        Auth::None
    };
    let checksum = if version == Version::V3 && r.pct(20) {
        ChecksumMode::AsV2
    } else {
        ChecksumMode::PseudoHeader
    };
    let max_loss = if r.pct(25) {
        0
    } else {
        r.range(0, 200_000) as u32
    };
    let max_delay = if r.pct(15) { 0 } else { r.range(0, 5000) };

    let mut configs = Vec::with_capacity(n);
    let mut vip_lists = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Config::new(vrid, version, prios[i], IpAddr::V4(addrs[i]));
        c.interval = interval;
        c.down_timer_adverts = dta;
        c.auth = auth;
        c.checksum = checksum;
        if prios[i] < u8::MAX && r.pct(10) {
            c.initial = InitialState::Master;
        }
        c.lower_priority = if r.pct(30) {
            LowerPriority::Discard
        } else {
            LowerPriority::Answer
        };
        c.higher_prio_send_advert = r.pct(25);
        c.lower_prio_announce = r.range(0, 5) as u8;
        let (some_delay, some_refresh) = (r.range(100, 5000), r.range(1000, 10_000));
        c.garp = Garp {
            delay: Duration::from_millis(r.pick(&[0, 5000, some_delay])),
            repeat: r.range(1, 5) as u8,
            refresh: Duration::from_millis(r.pick(&[0, 0, some_refresh])),
            refresh_repeat: r.range(1, 3) as u8,
            spacing: Duration::from_ticks(0),
        };
        configs.push(c);
        let mut mine = vips.clone();
        r.shuffle(&mut mine);
        vip_lists.push(Vips::from_iter(Family::V4, mine).expect("VIPs fit"));
    }
    let links = (0..n)
        .map(|_| {
            (0..n)
                .map(|_| {
                    let delay = r.range(0, max_delay);
                    let jitter = r.range(0, max_delay - delay);
                    Link::new(r.range(0, u64::from(max_loss)) as u32, delay, jitter)
                })
                .collect()
        })
        .collect();
    let setup = Setup::single(Lan {
        configs,
        vips: vip_lists,
        links,
    });

    let quiet = setup.quiet();
    let slack = setup.slack();
    let i = setup.lans[0].interval_ticks();
    let mut script = Vec::new();
    let stagger = r.pct(50);
    let mut t = 0;
    for node in 0..n {
        let at = if stagger { r.below(2 * i) } else { 0 };
        t = t.max(at);
        script.push((at, Action::Start(Target::Node(node))));
    }
    script.sort_by_key(|&(at, _)| at);
    let check = |script: &mut Vec<(Ticks, Action)>, t: &mut Ticks| {
        *t += quiet;
        script.push((*t, Action::Check));
        *t += slack;
    };
    check(&mut script, &mut t);
    for _ in 0..r.range(2, 8) {
        t += 1;
        let target = if r.pct(50) {
            Target::Master
        } else {
            Target::Node(r.below(n as u64) as usize)
        };
        let (action, long) = match r.below(100) {
            0..20 => (Action::Crash(Target::Master), true),
            20..28 => (Action::Crash(Target::AnyUp), r.pct(50)),
            28..43 => (Action::Start(Target::AnyDown), r.pct(50)),
            43..53 => (Action::Shutdown(Target::Master), r.pct(70)),
            53..63 => (
                Action::Partition {
                    lan: 0,
                    side_b: r.range(1, (1u64 << n) - 2) as u32,
                },
                r.pct(60),
            ),
            63..71 => (Action::Heal { lan: 0 }, r.pct(60)),
            71..92 => (
                Action::Track {
                    target,
                    lan: 0,
                    status: TrackStatus {
                        faults: u16::from(r.pct(15)),
                        adjust: r.range(0, 200) as i32 - 100,
                    },
                },
                r.pct(50),
            ),
            _ => (
                Action::Track {
                    target: Target::AnyUp,
                    lan: 0,
                    status: TrackStatus::HEALTHY,
                },
                r.pct(50),
            ),
        };
        script.push((t, action));
        if long {
            check(&mut script, &mut t);
        } else {
            t += r.range(1, i);
        }
    }
    if r.pct(50) {
        t += 1;
        script.push((t, Action::Heal { lan: 0 }));
        for node in 0..n {
            script.push((t, Action::Start(Target::Node(node))));
        }
    }
    check(&mut script, &mut t);
    script.push((t, Action::SoakBegin));
    t += SOAK_INTERVALS * i;
    script.push((t, Action::SoakEnd));
    script.push((t, Action::Check));
    t += slack;
    Scenario {
        seed,
        setup,
        script,
        end: t + 1,
    }
}
