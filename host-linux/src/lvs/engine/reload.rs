//! A new configuration (SIGHUP), as keepalived's `clear_diff_services` then
//! `init_services`: services and real servers that stay keep their state (up or down,
//! in the table, weight, their checkers' counts), those that went are removed, new
//! ones start as at a fresh start.

use super::state::{Effect, RsState, VsState};
use super::table::{self, Op};
use super::{Core, names};
use crate::config::lvs::{Checker, LvsConf, VirtualServer};
use std::time::Instant;

/// keepalived's `vs_iseq`: the same service (address or fwmark or group, protocol,
/// family).
fn same_vs(a: &VirtualServer, b: &VirtualServer) -> bool {
    a.key == b.key && a.protocol == b.protocol && table::vs_family(a) == table::vs_family(b)
}

/// A checker is the same when its kind and connection are (keepalived's per-checker
/// `compare`).
fn same_checker(a: &Checker, b: &Checker) -> bool {
    a.connect == b.connect && format!("{:?}", a.kind) == format!("{:?}", b.kind)
}

/// The service parameters that an edit changes (`sched`, flags, persistence).
fn service_changed(a: &VirtualServer, b: &VirtualServer) -> bool {
    a.scheduler != b.scheduler || a.flags != b.flags || a.persistence != b.persistence
}

impl Core {
    /// Replaces the running configuration with `conf` at `now`.
    pub fn reload(&mut self, conf: &LvsConf, now: Instant) -> Vec<Effect> {
        let mut fx = Vec::new();
        let mut old = std::mem::take(&mut self.vs);
        self.groups = conf.groups.clone();
        let mut new: Vec<VsState> = conf
            .virtual_servers
            .iter()
            .map(|v| self.fresh_vs(v, now))
            .collect();
        super::state::mark_shared_keys(&mut new);
        // Every checker starts again (keepalived registers them anew).
        for old_vs in &mut old {
            let Some(n) = new.iter().position(|v| same_vs(&v.conf, &old_vs.conf)) else {
                match &old_vs.conf.key {
                    crate::config::lvs::VsKey::Group(g) => {
                        fx.push(Effect::Log(format!("Removing Virtual Server Group [{g}]")))
                    }
                    _ => fx.push(Effect::Log(format!(
                        "Removing Virtual Server {}",
                        old_vs.name
                    ))),
                }
                old_vs.clear(false, &mut fx);
                continue;
            };
            let new_vs = &mut new[n];
            new_vs.alive = old_vs.alive;
            new_vs.quorum_up = old_vs.quorum_up;
            new_vs.reloaded = true;
            if old_vs.alive {
                // A group that lost or gained addresses (keepalived's clear_diff_vsg).
                for key in &old_vs.keys {
                    if !new_vs.keys.contains(key) {
                        fx.push(Effect::Ipvs(Op::DelService(*key)));
                    }
                }
                for key in &new_vs.keys {
                    // An earlier virtual server's service: its options stay.
                    let shared = new_vs.shared_keys.contains(key);
                    if old_vs.keys.contains(key) {
                        if service_changed(&old_vs.conf, &new_vs.conf) && !shared {
                            fx.push(Effect::Ipvs(Op::EditService(table::service(
                                &new_vs.conf,
                                *key,
                            ))));
                        }
                        continue;
                    }
                    if !shared {
                        fx.push(Effect::Ipvs(Op::AddService(table::service(
                            &new_vs.conf,
                            *key,
                        ))));
                    }
                    for rs in old_vs
                        .rs
                        .iter()
                        .chain(old_vs.sorry.iter())
                        .filter(|r| r.set)
                    {
                        let w = if rs.alive {
                            table::real_weight(rs.effective_weight)
                        } else {
                            0
                        };
                        fx.push(Effect::Ipvs(Op::AddDest(
                            *key,
                            table::dest(&rs.conf, w, *key),
                        )));
                    }
                }
            }
            // The old service's omega does not hold back notifications of a service
            // that stays.
            old_vs.conf.omega = true;
            diff_real_servers(old_vs, new_vs, &mut fx);
            diff_sorry(old_vs, new_vs, &mut fx);
        }
        for vs in &mut new {
            vs.init(&mut fx);
        }
        self.vs = new;
        // keepalived registers every checker again, with its line.
        self.announce_checkers(&mut fx);
        fx
    }
}

/// keepalived's `clear_diff_rs` with `migrate_checkers`.
fn diff_real_servers(old_vs: &mut VsState, new_vs: &mut VsState, fx: &mut Vec<Effect>) {
    for o in 0..old_vs.rs.len() {
        let addr = old_vs.rs[o].conf.addr;
        let Some(n) = new_vs.rs.iter().position(|r| r.conf.addr == addr) else {
            fx.push(Effect::Log(format!(
                "service {} no longer exist",
                old_vs.rs[o].name
            )));
            old_vs.clear_rs(o, false, fx);
            continue;
        };
        let old_rs = &old_vs.rs[o];
        {
            let new_rs = &mut new_vs.rs[n];
            new_rs.alive = old_rs.alive;
            new_rs.set = old_rs.set;
            new_rs.reloaded = true;
        }
        migrate_checkers(new_vs, n, old_rs);
        new_vs.settle_reloaded(n, fx);
        let new_rs = &new_vs.rs[n];
        // The configured weight with what dynamic checkers add.
        let weight =
            new_rs.conf.weight as i64 + new_rs.checkers.iter().map(|c| c.cur_weight).sum::<i64>();
        new_vs.rs[n].effective_weight = old_rs.effective_weight;
        let forward_changed = old_rs.conf.forward != new_vs.rs[n].conf.forward
            || old_rs.conf.uthreshold != new_vs.rs[n].conf.uthreshold
            || old_rs.conf.lthreshold != new_vs.rs[n].conf.lthreshold;
        if weight != old_rs.effective_weight {
            new_vs.update_weight(weight, n, false, fx);
        } else if forward_changed && new_vs.rs[n].set {
            let rs = &new_vs.rs[n];
            let w = if rs.conf.inhibit_on_failure && !rs.alive {
                0
            } else {
                table::real_weight(rs.effective_weight)
            };
            for key in new_vs.keys.clone() {
                fx.push(Effect::Ipvs(Op::EditDest(
                    key,
                    table::dest(&new_vs.rs[n].conf, w, key),
                )));
            }
        }
    }
    // keepalived checks the old service's quorum here, before the new servers count,
    // and runs quorum_down for a service whose removed servers new ones replace; the
    // new service's start (`init`) settles the quorum with all of them instead.
}

/// keepalived's `migrate_checkers`: a checker that stays keeps its state; the real
/// server's failed checkers are counted again and the server put in step.
fn migrate_checkers(vs: &mut VsState, n: usize, old_rs: &RsState) {
    // A reloaded server's checkers start as keepalived queues them (up, no retry
    // counted), not as a fresh start sets them (alpha failed, one failure enough).
    vs.rs[n].num_failed_checkers = 0;
    for ck in &mut vs.rs[n].checkers {
        ck.is_up = true;
        ck.retry_it = 0;
    }
    let mut used = vec![false; old_rs.checkers.len()];
    for c in 0..vs.rs[n].checkers.len() {
        let Some(o) = (0..old_rs.checkers.len()).find(|&o| {
            !used[o] && same_checker(&old_rs.checkers[o].conf, &vs.rs[n].checkers[c].conf)
        }) else {
            continue;
        };
        used[o] = true;
        let old = &old_rs.checkers[o];
        if old.has_run && old.is_up != vs.rs[n].checkers[c].is_up {
            vs.set_checker_state(n, c, old.is_up);
        }
        let ck = &mut vs.rs[n].checkers[c];
        ck.has_run = old.has_run;
        ck.is_up = if old.has_run { old.is_up } else { ck.is_up };
        let retry = ck.conf.timing.retry;
        ck.retry_it = if old.retry_it > 0 && retry > 0 {
            old.retry_it.min(retry - 1)
        } else {
            0
        };
        ck.cur_weight = old.cur_weight;
        ck.asked_weight = old.asked_weight;
        ck.last = old.last.clone();
        ck.passed = old.passed;
        ck.failed = old.failed;
    }
    let rs = &mut vs.rs[n];
    rs.num_failed_checkers = rs.checkers.iter().filter(|c| c.has_run && !c.is_up).count() as u32;
    let any_run = rs.checkers.iter().any(|c| c.has_run);
    if rs.num_failed_checkers > 0 || (!rs.alive && !any_run) {
        for c in 0..vs.rs[n].checkers.len() {
            let ck = &vs.rs[n].checkers[c];
            if ck.has_run {
                continue;
            }
            let (alpha, retry) = (ck.conf.timing.alpha, ck.conf.timing.retry);
            if alpha {
                vs.set_checker_state(n, c, false);
            }
            vs.rs[n].checkers[c].retry_it = retry;
        }
    }
}

/// keepalived's `clear_diff_s_srv`: the same sorry server keeps its state, another one
/// replaces it.
fn diff_sorry(old_vs: &mut VsState, new_vs: &mut VsState, fx: &mut Vec<Effect>) {
    let Some(old) = &old_vs.sorry else { return };
    if let Some(new) = &mut new_vs.sorry
        && new.conf.addr == old.conf.addr
        && new.conf.forward == old.conf.forward
        && new.conf.inhibit_on_failure == old.conf.inhibit_on_failure
    {
        new.alive = old.alive;
        new.set = old.set;
        new.reloaded = true;
        return;
    }
    if old.set {
        if old.alive || old.conf.inhibit_on_failure {
            fx.push(Effect::Log(format!(
                "Removing sorry server {} from VS {}",
                names::rs_name(old.conf.addr, &old_vs.conf),
                old_vs.name
            )));
        }
        for key in &old_vs.keys {
            fx.push(Effect::Ipvs(Op::DelDest(
                *key,
                table::dest_addr(&old.conf, *key),
            )));
        }
    }
}
