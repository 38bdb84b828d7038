//! The oracle: an independent model of each instance (state, effective priority, VIPs,
//! the RFC 5798 master-down deadline) checked against every advert and event a router
//! hands out and every state it reports, and the continuous invariants (dual masters,
//! convergence).

use vigil_core::machine::{Config, Reason, State};
use vigil_core::priority::OWNER;
use vigil_core::router::{Cause, Event, Transmit};
use vigil_core::wire::{self, Repr, RxMeta};

use super::network::MCAST;
use super::topology::lan_name;
use super::trace::{Note, Transition};
use super::world::{EvKind, Sim};
use super::{Res, Ticks, addr_key, fmt_t};

/// What the simulation knows about one instance, next to the instance itself.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) state: State,
    pub(super) eff: u8,
    pub(super) holds_vips: bool,
    pub(super) master_since: Ticks,
    /// Last change of the effective priority.
    pub(super) changed_at: Ticks,
    /// The RFC's master-down deadline while in BACKUP (when `modelled`).
    pub(super) expected_down: Option<Ticks>,
    pub(super) resigned: bool,
    /// Not a sync member and no preempt_delay: the timer model applies.
    pub(super) modelled: bool,
    pub(super) preempts: bool,
    pub(super) last_sent: Option<Ticks>,
    /// Resetting adverts to this backup lost since its timer was last reset.
    pub(super) lost_resetting: u32,
}

impl Model {
    pub(super) fn new(config: &Config, sync: bool) -> Self {
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
        }
    }

    /// Whether an advert of `prio` resets this backup's master-down timer.
    pub(super) fn resets(&self, prio: u8) -> bool {
        self.state == State::Backup && prio != 0 && (prio >= self.eff || !self.preempts)
    }
}

impl Sim {
    /// Checks and carries out the events one input gave `node`'s instance on `lan`.
    pub(super) fn apply(&mut self, node: usize, lan: usize, events: &[Event]) -> Res {
        let (enters, leaves) = enters_leaves(events);
        let who = self.who(node, lan);
        for &e in events {
            let m = &mut self.nodes[node].models[lan];
            match e {
                Event::AddVips => {
                    if !enters || m.holds_vips {
                        return Err(format!(
                            "{who}: AddVips outside a step that enters MASTER, or while holding them (holds: {}): {events:?}",
                            m.holds_vips
                        ));
                    }
                    m.holds_vips = true;
                }
                Event::RemoveVips => {
                    if !leaves || !m.holds_vips {
                        return Err(format!(
                            "{who}: RemoveVips outside a step that leaves MASTER, or without holding them (holds: {}): {events:?}",
                            m.holds_vips
                        ));
                    }
                    m.holds_vips = false;
                }
                Event::Announce { count, .. } => {
                    if !m.holds_vips || count == 0 {
                        return Err(format!(
                            "{who}: Announce {count} without holding the VIPs: {events:?}"
                        ));
                    }
                }
                Event::StateChanged {
                    from,
                    to,
                    reason,
                    cause,
                } => {
                    self.check_cause(node, lan, reason, cause)?;
                    self.transition(node, lan, from, to, reason, cause)?
                }
                Event::PriorityChanged { from, to } => {
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

    /// An advert `node`'s router wrote for one input, before it goes on the wire: the
    /// bytes parse back to what the router says it sent, from the right address to the
    /// group, and the instance may send it: its priority while MASTER (or entering it),
    /// priority 0 only when leaving MASTER. `before` is the instance's (state, effective
    /// priority) before the input, `events` what the input gave it.
    pub(super) fn check_advert(
        &self,
        node: usize,
        t: &Transmit,
        bytes: &[u8],
        before: (State, u8),
        events: &[Event],
    ) -> Res {
        let lan = t.instance;
        let who = self.who(node, lan);
        let l = &self.setup.lans[lan];
        let c = &l.configs[node];
        if let Err(e) = t.len {
            return Err(format!("{who} cannot emit its advert: {e}"));
        }
        if t.src != l.primary(node) || t.dst != MCAST || !t.first {
            return Err(format!("{who}: an advert from the wrong place: {t:?}"));
        }
        let meta = RxMeta {
            src: t.src,
            dst: t.dst,
            ttl: wire::TTL,
        };
        let repr = Repr::parse(bytes, &meta, c.checksum).map_err(|e| {
            format!("{who} wrote an advert that does not parse ({e}): {bytes:02x?}")
        })?;
        if (repr.version, repr.vrid, repr.priority, repr.interval)
            != (c.version, c.vrid, t.priority, c.interval)
        {
            return Err(format!(
                "{who} wrote {repr:?} for an advert of priority {}",
                t.priority
            ));
        }
        let (enters, leaves) = enters_leaves(events);
        let priority = t.priority;
        if priority == 0 {
            if !leaves {
                return Err(format!(
                    "{who} sends priority 0 without leaving MASTER: {events:?}"
                ));
            }
            return Ok(());
        }
        if before.0 != State::Master && !enters {
            return Err(format!(
                "{who} sends an advert while {:?}: {events:?}",
                before.0
            ));
        }
        let effective = std::iter::once(before.1).chain(events.iter().filter_map(|e| match e {
            Event::PriorityChanged { to, .. } => Some(*to),
            _ => None,
        }));
        if !effective.clone().any(|p| p == priority) {
            return Err(format!(
                "{who} advertises priority {priority}, its effective priority was {:?} in this step",
                effective.collect::<Vec<_>>()
            ));
        }
        Ok(())
    }

    /// The facts of a decision: a yield to a higher priority names the advert that won
    /// (RFC 5798 6.4.3); every other state change comes from inside.
    fn check_cause(&self, node: usize, lan: usize, reason: Reason, cause: Cause) -> Res {
        let l = &self.setup.lans[lan];
        let mine = addr_key(l.primary(node));
        let ok = match (reason, cause) {
            (
                Reason::HigherPriority,
                Cause::Advert {
                    from,
                    priority,
                    ours,
                },
            ) => {
                let sender = (0..l.configs.len()).any(|n| n != node && l.primary(n) == from);
                let won = priority > ours
                    || priority == OWNER
                    || (priority == ours && addr_key(from) > mine);
                sender && won
            }
            (Reason::HigherPriority, Cause::Internal) => false,
            (_, cause) => cause == Cause::Internal,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{}: a state change for '{}' with the facts {cause:?}",
                self.who(node, lan),
                reason.as_str()
            ))
        }
    }

    pub(super) fn transition(
        &mut self,
        node: usize,
        lan: usize,
        from: State,
        to: State,
        reason: Reason,
        cause: Cause,
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
            cause,
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
    pub(super) fn inflight_resetting(&self, node: usize, lan: usize) -> usize {
        let m = &self.nodes[node].models[lan];
        self.queue
            .iter()
            .filter(|ev| {
                matches!(ev.kind, EvKind::Deliver { lan: l, to, prio, .. }
                    if l == lan && to == node && prio != 0 && (prio >= m.eff || !m.preempts))
            })
            .count()
    }

    pub(super) fn refresh(&mut self, node: usize, lan: usize) -> Res {
        let who = self.who(node, lan);
        let interval = self.setup.lans[lan].interval_ticks();
        let inst = self.instance(node, lan);
        let m = &self.nodes[node].models[lan];
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
        Ok(())
    }

    /// Continuous checks after every event: an open convergence check, dual masters.
    pub(super) fn monitor(&mut self) -> Res {
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
    pub(super) fn dual_masters(&mut self, lan: usize) -> Res {
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
                    let inst = self.instance(n, lan);
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
                let prio = |n: usize| self.instance(n, lan).effective_priority();
                let masters: Vec<usize> = participants
                    .iter()
                    .copied()
                    .filter(|&n| self.instance(n, lan).state() == State::Master)
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
                        let knows = self.instance(b, lan).master();
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
}

/// Whether one step's events take an instance into MASTER, and out of it.
fn enters_leaves(events: &[Event]) -> (bool, bool) {
    let changes = || {
        events.iter().filter_map(|e| match e {
            Event::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
    };
    (
        changes().any(|(_, to)| to == State::Master),
        changes().any(|(from, _)| from == State::Master),
    )
}
