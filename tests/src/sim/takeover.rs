//! Timing takeovers: when the unique master of a converged partition crashes, resigns
//! or faults, some backup must become MASTER within the RFC's bound.

use vigil_core::machine::State;

use super::trace::Note;
use super::world::{EvKind, Sim};
use super::{Res, Ticks, fmt_t};

/// A takeover being timed after the unique master left a converged partition.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) lan: usize,
    pub(super) side: u8,
    pub(super) left: usize,
    pub(super) kind: &'static str,
    /// The master's last advert (crash) or its resignation (shutdown, fault).
    pub(super) since: Ticks,
    pub(super) bound: Ticks,
    pub(super) bound_node: usize,
}

impl Sim {
    /// A new master: closes a pending takeover measurement in its partition.
    pub(super) fn takeover(&mut self, node: usize, lan: usize) -> Res {
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

    /// Pending takeovers at the next scenario action: overdue is a violation, otherwise
    /// the measurement is abandoned (the action may change who can take over).
    pub(super) fn settle_pending(&mut self) -> Res {
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
    pub(super) fn plan_takeover(
        &self,
        node: usize,
        kind: &'static str,
    ) -> Vec<(Pending, Vec<usize>)> {
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
                        && self.instance(n, lan).state() == State::Backup
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
    pub(super) fn arm_takeover(&mut self, planned: Vec<(Pending, Vec<usize>)>, resigned: bool) {
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
}
