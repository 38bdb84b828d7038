//! `virtual_routes` and `virtual_rules`: a master adds them right after its VIPs and
//! removes them (rules first) right before, on the protocol thread as keepalived does
//! from its VRRP process ([`crate::net::routes`] builds the messages).

use super::Engine;
use crate::net::routes::{self, Identity, Installable, RouteSocket};
use std::time::{Duration, Instant};
use vigil_core::machine::State;

pub(super) fn open_socket() -> Option<RouteSocket> {
    match RouteSocket::new() {
        Ok(s) => Some(s),
        Err(e) => {
            error!(
                "netlink socket for routes and rules: {e}; virtual routes will not be installed"
            );
            None
        }
    }
}

/// Instance `inst`'s routes then rules, as keepalived adds them. A route whose
/// interface is missing is logged and left out.
pub(crate) fn virtual_work(inst: &crate::daemon::plan::Instance) -> Vec<Installable> {
    let mut work = Vec::with_capacity(inst.routes.len() + inst.rules.len());
    for r in &inst.routes {
        match routes::route_message(r, &routes::ifindex) {
            Ok(m) => work.push(m),
            Err(e) => error!("({}) {e}", inst.name),
        }
    }
    work.extend(inst.rules.iter().map(routes::rule_message));
    work
}

/// How long a deletion vigild made itself is expected to come back from the kernel as
/// a notification (it comes within milliseconds); a later one is somebody else's.
const OWN_DELETION_WINDOW: Duration = Duration::from_secs(2);

impl Engine {
    /// Adds (`add`) or removes instance `i`'s virtual routes and rules.
    pub(super) fn carry_out_routes(&mut self, i: usize, add: bool) {
        let plan = &self.slots[i].plan;
        if plan.routes.is_empty() && plan.rules.is_empty() {
            return;
        }
        let Some(socket) = self.routes.as_mut() else {
            return;
        };
        let started = Instant::now();
        let mut work = virtual_work(plan);
        let name = plan.name.clone();
        if !add {
            work.reverse();
        }
        let mut removed = Vec::new();
        for item in &work {
            let r = if add {
                socket.add(item)
            } else {
                socket.remove(&item.del).map(|was| {
                    if was {
                        removed.extend(item.identity());
                    }
                })
            };
            if let Err(e) = r {
                let verb = if add { "adding" } else { "removing" };
                error!("({name}) {verb} {}: {e}", item.what);
            }
        }
        // keepalived's tracking (`route_is_ours`, `rule_is_ours`): a master that finds
        // one of these deleted by someone else steps down.
        self.slots[i].watched = if add {
            work.iter()
                .filter(|w| w.tracked)
                .filter_map(|w| Some((w.identity()?, w.what.clone())))
                .collect()
        } else {
            Vec::new()
        };
        self.expect_deletions(removed);
        // keepalived's detail log (`-D`) says the same, without the count and time.
        debug!(
            "({name}) {} Virtual Routes and Rules ({} in {} µs)",
            if add { "setting" } else { "removing" },
            work.len(),
            started.elapsed().as_micros()
        );
    }

    /// Notes deletions vigild made itself, so that their notifications do not count as
    /// somebody else's.
    fn expect_deletions(&mut self, ids: Vec<Identity>) {
        let now = Instant::now();
        self.own_deletions
            .retain(|(_, at)| now.duration_since(*at) < OWN_DELETION_WINDOW);
        self.own_deletions
            .extend(ids.into_iter().map(|id| (id, now)));
    }

    /// The kernel announced these routes and rules deleted. A master that installed
    /// one of them (tracked: not `no_track`, a route with a `dev`) and did not delete it
    /// itself goes to BACKUP, as keepalived's `netlink_route_filter` /
    /// `netlink_rule_filter` do (`set_vrrp_backup`: no priority-0 advert, VIPs and
    /// routes removed, master again after the skew time unless a better master speaks,
    /// which puts the route back).
    pub fn on_routes_deleted(&mut self, deleted: Vec<Identity>) {
        self.expect_deletions(Vec::new());
        let mut hit: Vec<usize> = Vec::new();
        for id in deleted {
            if let Some(k) = self.own_deletions.iter().position(|(o, _)| *o == id) {
                self.own_deletions.swap_remove(k);
                continue;
            }
            for (i, slot) in self.slots.iter().enumerate() {
                let Some((_, what)) = slot.watched.iter().find(|(w, _)| *w == id) else {
                    continue;
                };
                let master = self.router.instance(i).map(|c| c.state()) == Some(State::Master);
                if master && !hit.contains(&i) {
                    info!("({}) virtual {what} was deleted", slot.plan.name);
                    hit.push(i);
                }
            }
        }
        if hit.is_empty() {
            return;
        }
        let now = super::super::now();
        for i in hit {
            self.router.step_down(i, now);
        }
        self.drain();
        self.rearm();
    }

    /// A reconfigured master (old slot `k`) removes the virtual rules and routes its
    /// new plan `new` no longer has (keepalived's `clear_diff_rules` and
    /// `clear_diff_routes`), before its dropped VIPs. One that changed in any detail is
    /// removed here and added afresh after the update (keepalived replaces it).
    pub(super) fn remove_dropped_routes(&mut self, k: usize, new: &crate::daemon::plan::Instance) {
        let old = &self.slots[k].plan;
        if (old.routes.is_empty() && old.rules.is_empty())
            || (old.routes == new.routes && old.rules == new.rules)
            || self.router.instance(k).map(|c| c.state()) != Some(State::Master)
        {
            return;
        }
        let Some(socket) = self.routes.as_mut() else {
            return;
        };
        let kept = virtual_work(new);
        let gone = virtual_work(old)
            .into_iter()
            .rev()
            .filter(|o| !kept.iter().any(|n| n.add == o.add));
        let mut removed = Vec::new();
        for item in gone {
            info!(
                "({}) removing {}, no longer configured",
                old.name, item.what
            );
            match socket.remove(&item.del) {
                Ok(true) => removed.extend(item.identity()),
                Ok(false) => {}
                Err(e) => error!("({}) removing {}: {e}", old.name, item.what),
            }
        }
        self.expect_deletions(removed);
    }
}
