//! One simulated router as a host drives it: a core [`Router`] built from the setup,
//! fed through the router's entry points (start, stop, tracking, timeouts; datagrams
//! come in through `network`), and drained after every input. What comes out is
//! checked by the oracle and carried out: events first, then the adverts go on the wire.

use std::rc::Rc;

use vigil_core::Instant;
use vigil_core::machine::{InitialState, Instance, State};
use vigil_core::priority::TrackStatus;
use vigil_core::router::{Destination, EVENTS_PER_INPUT, Event, Output, Router, Transmit};

use super::network::MCAST;
use super::oracle::Model;
use super::topology::Setup;
use super::trace::Note;
use super::world::{EvKind, Sim};
use super::{Res, Ticks, fmt_t};

/// A node sits on at most this many LANs: its router's capacity (instances, and the one
/// sync group).
pub(super) const LANS_CAP: usize = 4;

pub(super) type NodeRouter = Router<LANS_CAP>;

/// A stopped router for `node`: its instance on LAN `l` receives on channel `l` from the
/// VRRP multicast group; with sync groups, all of them form one.
pub(super) fn build_router(setup: &Setup, node: usize) -> NodeRouter {
    assert!(setup.lans.len() <= LANS_CAP, "at most {LANS_CAP} LANs");
    let mut router = NodeRouter::new();
    for (lan, l) in setup.lans.iter().enumerate() {
        let inst = Instance::new(l.configs[node], l.vips[node].clone())
            .expect("the scenario's configuration is valid");
        let index = router
            .add(inst, lan as u32, Destination::Multicast(MCAST))
            .expect("one instance per LAN fits the router");
        assert_eq!(index, lan, "instances are numbered in the order added");
    }
    if setup.sync_groups {
        let members: Vec<usize> = (0..setup.lans.len()).collect();
        router
            .add_group(&members)
            .expect("the sync group fits the router");
    }
    router
}

/// What one input made `node`'s router hand out, drained as a host drains it.
struct Drained {
    transmits: Vec<(Transmit, Rc<[u8]>)>,
    /// Each instance's events, in order.
    events: Vec<Vec<Event>>,
    groups: Vec<(usize, State)>,
}

impl Sim {
    pub(super) fn instant(&self) -> Instant {
        Instant::from_ticks(self.now)
    }

    fn drain(&mut self, node: usize) -> Res<Drained> {
        let lans = self.setup.lans.len();
        let router = &mut self.nodes[node].router;
        let mut buf = [0u8; 1500];
        let mut transmits = Vec::new();
        while let Some(t) = router.poll_transmit(&mut buf) {
            let bytes: Rc<[u8]> = Rc::from(t.len.map_or(&[][..], |len| &buf[..len]));
            transmits.push((t, bytes));
        }
        let mut events = vec![Vec::new(); lans];
        let mut groups = Vec::new();
        while let Some(out) = router.poll_event() {
            match out {
                Output::Instance { instance, event } => match events.get_mut(instance) {
                    Some(list) => list.push(event),
                    None => return Err(format!("r{node}: an event for instance {instance}")),
                },
                Output::Group { group, state } => groups.push((group, state)),
            }
        }
        Ok(Drained {
            transmits,
            events,
            groups,
        })
    }

    /// After every input into `node`'s router: drain it, check what came out and carry it
    /// out. The caller then does its own bookkeeping and [`Sim::refresh_node`].
    pub(super) fn after_input(&mut self, node: usize) -> Res {
        if !self.nodes[node].router.has_output() {
            // Most inputs (a backup hearing its master) hand out nothing.
            return Ok(());
        }
        let Drained {
            transmits,
            events,
            groups,
        } = self.drain(node)?;
        let lost = self.nodes[node].router.events_lost();
        if lost > 0 {
            return Err(format!("node {node}'s router lost {lost} events"));
        }
        // What each instance was before this step, for the adverts' checks.
        let before: Vec<(State, u8)> = self.nodes[node]
            .models
            .iter()
            .map(|m| (m.state, m.eff))
            .collect();
        for (lan, list) in events.iter().enumerate() {
            let n = list.len() as u64;
            self.stats.max_step_events = self.stats.max_step_events.max(n);
            if list.len() > EVENTS_PER_INPUT {
                return Err(format!(
                    "{} got {} events from one input, more than {EVENTS_PER_INPUT}: {list:?}",
                    self.who(node, lan),
                    list.len()
                ));
            }
            self.apply(node, lan, list)?;
        }
        for (group, state) in groups {
            self.check_group(node, group, state)?;
        }
        // The adverts go on the wire after the events are applied, though the router
        // hands them out first: both happen at the same virtual instant, and the wire's
        // bookkeeping (a new master's lost copies count from zero) must see the state
        // the step ends in.
        let mut sent = vec![false; before.len()];
        for (t, bytes) in transmits {
            let lan = t.instance;
            if sent.get(lan).copied().unwrap_or(true) {
                return Err(format!(
                    "r{node}: a second advert (or one for instance {lan}) from one input: {t:?}"
                ));
            }
            sent[lan] = true;
            self.check_advert(node, &t, &bytes, before[lan], &events[lan])?;
            self.transmit(node, lan, t.priority, bytes);
        }
        Ok(())
    }

    /// After an input and the caller's bookkeeping: every instance's state is checked
    /// against the model, and the node's timer follows the router's `poll_at`.
    pub(super) fn refresh_node(&mut self, node: usize) -> Res {
        for lan in 0..self.setup.lans.len() {
            self.refresh(node, lan)?;
        }
        let n = &mut self.nodes[node];
        let p = n.router.poll_at().map(|i| i.as_ticks());
        if p != n.timer {
            n.timer = p;
            n.generation += 1;
            if let Some(at) = p {
                let kind = EvKind::Timer {
                    node,
                    incarnation: n.incarnation,
                    generation: n.generation,
                };
                self.push(at.max(self.now), kind);
            }
        }
        Ok(())
    }

    /// The node's deadline: the router handles whatever is due.
    pub(super) fn timer(&mut self, node: usize, incarnation: u32, generation: u64) -> Res {
        let n = &self.nodes[node];
        if !n.up || n.incarnation != incarnation || n.generation != generation {
            return Ok(());
        }
        let before: Vec<(State, Option<Ticks>, bool)> = (0..self.setup.lans.len())
            .map(|lan| {
                let m = &n.models[lan];
                (
                    self.instance(node, lan).state(),
                    m.expected_down,
                    m.modelled,
                )
            })
            .collect();
        let now = self.instant();
        self.nodes[node].router.on_timeout(now);
        self.after_input(node)?;
        for (lan, &(state0, expected, modelled)) in before.iter().enumerate() {
            if modelled
                && state0 == State::Backup
                && self.instance(node, lan).state() == State::Backup
                && expected.is_some_and(|e| self.now >= e)
            {
                return Err(format!(
                    "{}: master-down timer due at {} s, but it stayed BACKUP",
                    self.who(node, lan),
                    fmt_t(expected.unwrap_or_default())
                ));
            }
        }
        if let Some(p) = self.nodes[node].router.poll_at()
            && p.as_ticks() <= self.now
        {
            return Err(format!(
                "r{node}: on_timeout left a deadline due ({} s): it would never be woken again",
                fmt_t(p.as_ticks())
            ));
        }
        self.refresh_node(node)
    }

    /// (Re)starts a stopped node: a fresh router (a process starting), its tracking
    /// status, then each instance started.
    pub(super) fn start(&mut self, n: usize) -> Res {
        let sync = self.setup.sync_groups;
        let router = build_router(&self.setup, n);
        let node = &mut self.nodes[n];
        node.up = true;
        node.incarnation += 1;
        node.router = router;
        node.timer = None;
        for (lan, l) in self.setup.lans.iter().enumerate() {
            node.models[lan] = Model::new(&l.configs[n], sync);
        }
        let now = self.instant();
        for lan in 0..self.setup.lans.len() {
            let status = self.nodes[n].track[lan];
            if status != TrackStatus::HEALTHY {
                self.nodes[n].router.set_tracking(lan, now, status);
                self.after_input(n)?;
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.nodes[n].router.start(lan, now);
            self.after_input(n)?;
            self.refresh_node(n)?;
            // RFC 5798 6.4.1: the address owner goes straight to MASTER.
            let c = &self.setup.lans[lan].configs[n];
            let inst = self.instance(n, lan);
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

    /// A group's reported state against its members: MASTER only when all are, any
    /// other state only when none is.
    fn check_group(&mut self, node: usize, group: usize, state: State) -> Res {
        let router = &self.nodes[node].router;
        let states: Vec<State> = router.instances().map(Instance::state).collect();
        let masters = states.iter().filter(|&&s| s == State::Master).count();
        let consistent = match state {
            State::Master => masters == states.len(),
            _ => masters == 0,
        };
        if !self.setup.sync_groups || group != 0 || !consistent {
            return Err(format!(
                "r{node}: sync group {group} reported {state:?} with its members in {states:?}"
            ));
        }
        if router.group_state(group) != Some(state) {
            return Err(format!(
                "r{node}: sync group {group} reported {state:?}, but says it is in {:?}",
                router.group_state(group)
            ));
        }
        self.note(Note::Text(format!(
            "   (r{node}: sync group -> {})",
            state.as_str()
        )));
        Ok(())
    }
}
