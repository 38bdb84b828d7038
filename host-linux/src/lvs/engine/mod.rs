//! What keepalived's checker process does with health-check results: real servers up
//! and down, weights, quorum and the sorry server, notify scripts and mails, and the
//! IPVS table kept in step on start, reload and exit.
//!
//! - [`Core`] is the pure part: inputs are attempt results with the time they ended,
//!   outputs are [`Effect`]s (IPVS operations, log lines, scripts, mails) in
//!   keepalived's order. It never sleeps and never calls the kernel; tests drive it
//!   with explicit instants.
//! - [`state`]: virtual and real servers, keepalived's transitions (`ipwrapper.c`).
//! - [`schedule`]: when checkers run, retries, verdicts (each checker's epilog).
//! - [`phrases`] and [`names`]: keepalived's log phrases.
//! - [`table`]: the IPVS services and destinations the configuration asks for.
//! - [`reload`]: a new configuration, keeping the state of what did not change.
//! - [`record`]: what vigild installed, in `STATE.ipvs`, so that a crash is cleaned up.
//! - [`runner`]: the service thread's task that runs attempts concurrently and carries
//!   out the effects.
//! - [`status`]: the snapshot `vigild status` shows.

pub mod names;
pub mod phrases;
pub mod record;
pub mod reload;
pub mod runner;
pub mod schedule;
pub mod state;
pub mod status;
pub mod table;

pub use state::Effect;

use crate::config::lvs::{Checker, LvsConf, VirtualServerGroup, VsKey};
use crate::lvs::Attempt;
use schedule::Jitter;
use state::VsState;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// One checker: its virtual server, real server and place among the real server's
/// checkers (indices into the running configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckerId {
    pub vs: usize,
    pub rs: usize,
    pub checker: usize,
}

/// The checker's state machine over the whole configuration.
#[derive(Debug, Clone)]
pub struct Core {
    pub vs: Vec<VsState>,
    groups: Vec<VirtualServerGroup>,
    jitter: Jitter,
    /// Local addresses `ha_suspend` services wait for, counted per address.
    addresses: Vec<(IpAddr, u32)>,
}

impl Core {
    /// The state of a configuration before anything is installed: alpha checkers
    /// failed, every checker due one second plus its warmup after `now`.
    pub fn new(conf: &LvsConf, now: Instant, seed: u64) -> Core {
        let mut core = Core {
            vs: Vec::new(),
            groups: conf.groups.clone(),
            jitter: Jitter::new(seed),
            addresses: Vec::new(),
        };
        core.vs = conf
            .virtual_servers
            .iter()
            .map(|v| core.fresh_vs(v, now))
            .collect();
        state::mark_shared_keys(&mut core.vs);
        core
    }

    /// A virtual server as configured, its servers not yet reloaded.
    fn fresh_vs(&mut self, conf: &crate::config::lvs::VirtualServer, now: Instant) -> VsState {
        let mut vs = VsState::new(conf.clone(), &self.groups, now);
        for i in 0..vs.rs.len() {
            self.fresh_rs(&mut vs, i, now);
        }
        vs
    }

    /// keepalived's start for a real server: an alpha checker starts failed (and its
    /// server down); one failure is enough for the first verdict.
    fn fresh_rs(&mut self, vs: &mut VsState, i: usize, now: Instant) {
        for c in 0..vs.rs[i].checkers.len() {
            let timing = vs.rs[i].checkers[c].conf.timing;
            if timing.alpha {
                vs.set_checker_state(i, c, false);
                vs.rs[i].alive = false;
            }
            let ck = &mut vs.rs[i].checkers[c];
            ck.retry_it = timing.retry;
            ck.next_at = self.jitter.first_run(now, timing.warmup);
            ck.enabled = !vs.conf.ha_suspend;
        }
    }

    /// keepalived's `init_services` then `register_checkers_thread`: the services and
    /// their servers into the table, then the checkers announced.
    pub fn start(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        for vs in &mut self.vs {
            vs.init(&mut fx);
        }
        self.announce_checkers(&mut fx);
        fx
    }

    fn announce_checkers(&self, fx: &mut Vec<Effect>) {
        for vs in &self.vs {
            for rs in &vs.rs {
                for ck in &rs.checkers {
                    fx.push(Effect::Log(format!(
                        "{}ctivating healthchecker for service {} for VS {}",
                        if ck.enabled { "A" } else { "Dea" },
                        rs.name,
                        vs.name
                    )));
                }
            }
        }
    }

    /// The checkers due at `now`, marked as running. A suspended checker (`ha_suspend`)
    /// skips its turn, as keepalived's does.
    pub fn due(&mut self, now: Instant) -> Vec<CheckerId> {
        let mut out = Vec::new();
        for (v, vs) in self.vs.iter_mut().enumerate() {
            for (r, rs) in vs.rs.iter_mut().enumerate() {
                for (c, ck) in rs.checkers.iter_mut().enumerate() {
                    if ck.in_flight || ck.next_at > now {
                        continue;
                    }
                    if !ck.enabled {
                        ck.next_at = now + ck.conf.timing.delay_loop;
                        continue;
                    }
                    ck.in_flight = true;
                    out.push(CheckerId {
                        vs: v,
                        rs: r,
                        checker: c,
                    });
                }
            }
        }
        out
    }

    /// When [`Core::due`] has work next (`None`: no checker waits).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.vs
            .iter()
            .flat_map(|v| &v.rs)
            .flat_map(|r| &r.checkers)
            .filter(|c| !c.in_flight)
            .map(|c| c.next_at)
            .min()
    }

    /// The checker's configuration (what the prober runs).
    pub fn checker(&self, id: CheckerId) -> Option<Arc<Checker>> {
        let ck = self
            .vs
            .get(id.vs)?
            .rs
            .get(id.rs)?
            .checkers
            .get(id.checker)?;
        Some(ck.conf.clone())
    }

    /// An attempt of `id` ended at `now`.
    pub fn attempt_done(&mut self, id: CheckerId, attempt: &Attempt, now: Instant) -> Vec<Effect> {
        let mut fx = Vec::new();
        let known = self
            .vs
            .get(id.vs)
            .and_then(|v| v.rs.get(id.rs))
            .is_some_and(|r| id.checker < r.checkers.len());
        if known {
            self.vs[id.vs].attempt_done(id.rs, id.checker, attempt, now, &mut fx);
        }
        fx
    }

    /// keepalived's `clear_services` at exit: every real server and service vigild
    /// installed goes; with `omega`, the down scripts run.
    pub fn stop(&mut self) -> Vec<Effect> {
        let mut fx = Vec::new();
        for vs in &mut self.vs {
            vs.clear(true, &mut fx);
        }
        fx
    }

    /// `ha_suspend`: a local address appeared or went (keepalived's
    /// `update_checker_activity`); the checkers of the services on it resume or pause.
    pub fn address_changed(&mut self, addr: IpAddr, present: bool) -> Vec<Effect> {
        let mut fx = Vec::new();
        let count = match self.addresses.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, n)) => n,
            None => {
                self.addresses.push((addr, 0));
                &mut self.addresses.last_mut().expect("pushed").1
            }
        };
        if present {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
        }
        let count = *count;
        for vs in &mut self.vs {
            let on_it = matches!(vs.conf.key, VsKey::Address(a) if a.ip() == addr);
            if !vs.conf.ha_suspend || !on_it {
                continue;
            }
            let name = vs.name.clone();
            for rs in &mut vs.rs {
                for ck in &mut rs.checkers {
                    if present != ck.enabled && (present || count == 0) {
                        fx.push(Effect::Log(format!(
                            "{}ing healthchecker for service {} for VS {name}",
                            if !ck.enabled { "Activat" } else { "Suspend" },
                            rs.name
                        )));
                        ck.enabled = present;
                    }
                }
            }
        }
        fx
    }

    /// The addresses `ha_suspend` services wait for.
    pub fn suspend_addresses(&self) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for vs in &self.vs {
            if let (true, VsKey::Address(a)) = (vs.conf.ha_suspend, &vs.conf.key)
                && !out.contains(&a.ip())
            {
                out.push(a.ip());
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
