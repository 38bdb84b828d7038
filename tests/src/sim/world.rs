//! The event world: every node's router and bookkeeping, each LAN's partition state,
//! the virtual clock and the event queue (deliveries and timers), and the public handle
//! that runs it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::rc::Rc;

use vigil_core::machine::{Instance, State};
use vigil_core::priority::TrackStatus;

use super::node::{NodeRouter, build_router};
use super::oracle::Model;
use super::rng::Rng;
use super::scenario::Action;
use super::stats::Stats;
use super::takeover::Pending;
use super::topology::Setup;
use super::trace::{Note, Transition};
use super::{Options, Res, Ticks, fmt_t};

/// One simulated router: the core's router (instance `l` is on LAN `l`) and what the
/// simulation keeps beside it.
#[derive(Debug)]
pub(super) struct NodeRt {
    pub(super) up: bool,
    pub(super) incarnation: u32,
    pub(super) router: NodeRouter,
    pub(super) models: Vec<Model>,
    pub(super) track: Vec<TrackStatus>,
    /// The deadline the node's timer event is queued for: the router's `poll_at`.
    pub(super) timer: Option<Ticks>,
    /// Bumped whenever the timer moves, so that a queued event of another generation is
    /// stale.
    pub(super) generation: u64,
}

#[derive(Debug)]
pub(super) struct LanRt {
    pub(super) side: Vec<u8>,
    pub(super) connected_since: Ticks,
    /// `[from][to]`: copies lost in a row since the last delivery, since `from` became
    /// master, or since the partition last changed.
    pub(super) pair_lost: Vec<Vec<u32>>,
}

#[derive(Debug)]
pub(super) enum EvKind {
    Deliver {
        lan: usize,
        from: usize,
        to: usize,
        prio: u8,
        bytes: Rc<[u8]>,
    },
    Timer {
        node: usize,
        incarnation: u32,
        generation: u64,
    },
}

#[derive(Debug)]
pub(super) struct Ev {
    pub(super) at: Ticks,
    pub(super) seq: u64,
    pub(super) kind: EvKind,
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

/// The simulation: routers, the wire, the event queue, and the invariant checks.
#[derive(Debug)]
pub struct Sim {
    pub(super) setup: Setup,
    pub(super) opts: Options,
    pub(super) header: String,
    pub(super) now: Ticks,
    pub(super) seq: u64,
    pub(super) queue: BinaryHeap<Ev>,
    pub(super) rng: Rng,
    pub(super) nodes: Vec<NodeRt>,
    pub(super) lans: Vec<LanRt>,
    pub(super) trace: VecDeque<(Ticks, Note)>,
    pub(super) stats: Stats,
    pub(super) converged: bool,
    pub(super) soak: bool,
    /// A convergence check that failed on a lossy LAN: (deadline, why it failed).
    pub(super) open_check: Option<(Ticks, String)>,
    pub(super) pending: Vec<Pending>,
    pub(super) history: Vec<Transition>,
    pub(super) explained: Vec<(usize, usize, usize, Ticks)>,
    /// Priority-0 copies put on the wire by the current action: (LAN, to, arrival).
    pub(super) resign_to: Vec<(usize, usize, Ticks)>,
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
            .map(|node| NodeRt {
                up: false,
                incarnation: 0,
                router: build_router(&setup, node),
                models: setup
                    .lans
                    .iter()
                    .map(|l| Model::new(&l.configs[node], setup.sync_groups))
                    .collect(),
                track: vec![TrackStatus::HEALTHY; setup.lans.len()],
                timer: None,
                generation: 0,
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

    /// The instance of `node` on `lan`, read through its router (its last incarnation
    /// if stopped).
    pub fn instance(&self, node: usize, lan: usize) -> &Instance {
        self.nodes[node]
            .router
            .instance(lan)
            .expect("every node has one instance per LAN")
    }

    /// The state of a running router's instance; `None` while it is stopped.
    pub fn state(&self, node: usize, lan: usize) -> Option<State> {
        self.nodes[node]
            .up
            .then(|| self.instance(node, lan).state())
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

    pub(super) fn push(&mut self, at: Ticks, kind: EvKind) {
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

    pub(super) fn run_until_inner(&mut self, t: Ticks) -> Res {
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
                    incarnation,
                    generation,
                } => self.timer(node, incarnation, generation)?,
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
}
