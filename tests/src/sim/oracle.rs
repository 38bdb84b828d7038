//! The oracle: an independent model of each instance (state, effective priority, VIPs,
//! the RFC 5798 master-down deadline) checked against every effect and every state the
//! core reports, and the continuous invariants (dual masters, convergence).

use vigil_core::machine::{Config, Effect, Reason, State};

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
    /// The deadline a timer event is queued for.
    pub(super) timer: Option<Ticks>,
    pub(super) generation: u64,
}

impl Model {
    pub(super) fn new(config: &Config, sync: bool, generation: u64) -> Self {
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
    pub(super) fn resets(&self, prio: u8) -> bool {
        self.state == State::Backup && prio != 0 && (prio >= self.eff || !self.preempts)
    }
}

impl Sim {
    /// Checks and carries out the effects of one call into `node`'s instance on `lan`.
    pub(super) fn apply(&mut self, node: usize, lan: usize, fx: &[Effect]) -> Res {
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

    pub(super) fn transition(
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
}
