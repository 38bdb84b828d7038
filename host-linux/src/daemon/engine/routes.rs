//! `virtual_routes` and `virtual_rules`: a master adds them right after its VIPs and
//! removes them (rules first) right before, on the protocol thread as keepalived does
//! from its VRRP process ([`crate::net::routes`] builds the messages).

use super::Engine;
use crate::net::routes::{self, Installable, RouteSocket};

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
        let started = std::time::Instant::now();
        let mut work = virtual_work(plan);
        if !add {
            work.reverse();
        }
        for item in &work {
            let r = if add {
                socket.add(item)
            } else {
                socket.del(&item.del)
            };
            if let Err(e) = r {
                let verb = if add { "adding" } else { "removing" };
                error!("({}) {verb} {}: {e}", plan.name, item.what);
            }
        }
        // keepalived's detail log (`-D`) says the same, without the count and time.
        debug!(
            "({}) {} Virtual Routes and Rules ({} in {} µs)",
            plan.name,
            if add { "setting" } else { "removing" },
            work.len(),
            started.elapsed().as_micros()
        );
    }

    /// A reconfigured master (old slot `k`) removes the virtual rules and routes its
    /// new plan `new` no longer has (keepalived's `clear_diff_rules` and
    /// `clear_diff_routes`), before its dropped VIPs. One that changed in any detail is
    /// removed here and added afresh after the update (keepalived replaces it).
    pub(super) fn remove_dropped_routes(&mut self, k: usize, new: &crate::daemon::plan::Instance) {
        let old = &self.slots[k].plan;
        if (old.routes.is_empty() && old.rules.is_empty())
            || (old.routes == new.routes && old.rules == new.rules)
            || self.router.instance(k).map(|c| c.state())
                != Some(vigil_core::machine::State::Master)
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
        for item in gone {
            info!(
                "({}) removing {}, no longer configured",
                old.name, item.what
            );
            if let Err(e) = socket.del(&item.del) {
                error!("({}) removing {}: {e}", old.name, item.what);
            }
        }
    }
}
