//! The state of virtual servers, real servers and their checkers, and keepalived's
//! transitions on it (`ipwrapper.c`: `perform_svr_state`, `update_quorum_state`,
//! `update_svr_wgt`, `update_svr_checker_state`, `init_service_vs`,
//! `clear_service_vs`). Pure: each transition appends [`Effect`]s in keepalived's order
//! and the caller carries them out.

use super::names::{rs_name, vs_name};
use super::table::{self, Op, real_weight};
use crate::config::lvs::{Checker, RealServer, VirtualServer, VirtualServerGroup};
use crate::config::model::Command;
use crate::lvs::ipvs::ServiceKey;
use std::sync::Arc;
use std::time::Instant;

/// What a transition asks the world to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Ipvs(Op),
    /// A line for the log, keepalived's words.
    Log(String),
    /// Run a script (`notify_up`, `notify_down`, `quorum_up`, `quorum_down`).
    Notify(Command),
    /// A line for the global and LVS notify FIFOs (`VS ... UP`, `RS ... DOWN`).
    Fifo(String),
    /// A checker alert (`smtp_alert`): the subject without the `[router_id] ` prefix,
    /// and the body.
    Mail {
        subject: String,
        body: String,
    },
}

/// The last attempt of a checker, for the status view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResult {
    pub ok: bool,
    /// The failure's reason (empty for a success).
    pub reason: String,
    pub at: Instant,
}

/// One checker (keepalived's `checker_t`).
#[derive(Debug, Clone)]
pub struct CheckerState {
    pub conf: Arc<Checker>,
    pub is_up: bool,
    pub has_run: bool,
    /// Failed attempts since the last verdict (keepalived's `retry_it`).
    pub retry_it: u32,
    /// What this checker adds to the real server's weight (`misc_dynamic`).
    pub cur_weight: i64,
    /// The weight the checker last asked for (`None`: the configured one).
    pub asked_weight: Option<u32>,
    pub next_at: Instant,
    pub in_flight: bool,
    /// `ha_suspend`: off while the service's address is absent.
    pub enabled: bool,
    pub last: Option<LastResult>,
    /// Attempts that passed and failed since the checker started (kept over reloads).
    pub passed: u64,
    pub failed: u64,
}

impl CheckerState {
    pub fn new(conf: Arc<Checker>, next_at: Instant) -> Self {
        // keepalived starts every checker up; an alpha one is then set failed.
        CheckerState {
            conf,
            is_up: true,
            has_run: false,
            retry_it: 0,
            cur_weight: 0,
            asked_weight: None,
            next_at,
            in_flight: false,
            enabled: true,
            last: None,
            passed: 0,
            failed: 0,
        }
    }
}

/// One real server (or the sorry server) of a virtual server.
#[derive(Debug, Clone)]
pub struct RsState {
    pub conf: RealServer,
    pub name: String,
    /// Counted in the service (keepalived's `alive`).
    pub alive: bool,
    /// In the IPVS table (keepalived's `set`), with weight 0 when inhibited.
    pub set: bool,
    pub num_failed_checkers: u32,
    pub effective_weight: i64,
    pub checkers: Vec<CheckerState>,
    /// Carried over from the configuration before a reload.
    pub reloaded: bool,
}

impl RsState {
    pub fn new(conf: RealServer, vs: &VirtualServer, start: Instant) -> Self {
        let checkers = conf
            .checkers
            .iter()
            .map(|c| CheckerState::new(Arc::new(c.clone()), start))
            .collect();
        RsState {
            name: rs_name(conf.addr, vs),
            effective_weight: conf.weight as i64,
            conf,
            alive: false,
            set: false,
            num_failed_checkers: 0,
            checkers,
            reloaded: false,
        }
    }

    fn inhibit(&self) -> bool {
        self.conf.inhibit_on_failure
    }

    fn smtp_alert(&self) -> bool {
        self.conf.smtp_alert == Some(true)
    }
}

/// Which server of a virtual server an IPVS command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Real(usize),
    Sorry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Add,
    Del,
    Edit,
}

/// One virtual server.
#[derive(Debug, Clone)]
pub struct VsState {
    pub conf: VirtualServer,
    pub name: String,
    /// The IPVS services it stands for (several for a group).
    pub keys: Vec<ServiceKey>,
    /// Keys an earlier `virtual_server` of the same configuration also stands for (the
    /// same service written twice): keepalived's add of it fails, so the earlier one's
    /// options stay; this one only adds its servers ([`mark_shared_keys`]).
    pub shared_keys: Vec<ServiceKey>,
    /// Its services are installed.
    pub alive: bool,
    pub quorum_up: bool,
    pub rs: Vec<RsState>,
    pub sorry: Option<RsState>,
    pub reloaded: bool,
}

/// Notes, for each virtual server, the keys an earlier one already stands for.
pub fn mark_shared_keys(vs: &mut [VsState]) {
    for i in 1..vs.len() {
        let (earlier, rest) = vs.split_at_mut(i);
        let v = &mut rest[0];
        v.shared_keys = v
            .keys
            .iter()
            .filter(|k| earlier.iter().any(|e| e.keys.contains(k)))
            .copied()
            .collect();
    }
}

impl VsState {
    pub fn new(conf: VirtualServer, groups: &[VirtualServerGroup], start: Instant) -> Self {
        let rs = conf
            .real_servers
            .iter()
            .map(|r| RsState::new(r.clone(), &conf, start))
            .collect();
        let sorry = conf
            .sorry_server
            .as_ref()
            .map(|s| RsState::new(table::sorry_as_real_server(s, &conf), &conf, start));
        VsState {
            name: vs_name(&conf),
            keys: table::service_keys(&conf, groups),
            shared_keys: Vec::new(),
            alive: false,
            quorum_up: false,
            rs,
            sorry,
            reloaded: false,
            conf,
        }
    }

    fn server(&self, t: Target) -> &RsState {
        match t {
            Target::Real(i) => &self.rs[i],
            Target::Sorry => self.sorry.as_ref().expect("sorry server"),
        }
    }

    fn server_mut(&mut self, t: Target) -> &mut RsState {
        match t {
            Target::Real(i) => &mut self.rs[i],
            Target::Sorry => self.sorry.as_mut().expect("sorry server"),
        }
    }

    fn sorry_alive(&self) -> bool {
        self.sorry.as_ref().is_some_and(|s| s.alive)
    }

    /// keepalived's `ipvs_cmd` for a destination: an inhibited server is edited to
    /// weight 0 instead of removed and edited back instead of added; a server added
    /// while a checker fails goes in with weight 0.
    fn cmd(&mut self, t: Target, c: Cmd, fx: &mut Vec<Effect>) {
        let keys = self.keys.clone();
        let rs = self.server_mut(t);
        let mut weight = real_weight(rs.effective_weight);
        let op = match c {
            Cmd::Del if rs.inhibit() => {
                if !rs.set {
                    return;
                }
                weight = 0;
                Cmd::Edit
            }
            Cmd::Add if rs.inhibit() && rs.set => Cmd::Edit,
            Cmd::Add if !rs.set => {
                rs.set = true;
                if rs.inhibit() && rs.num_failed_checkers > 0 {
                    weight = 0;
                }
                Cmd::Add
            }
            Cmd::Del if rs.set => {
                rs.set = false;
                Cmd::Del
            }
            // Already in (or already out of) the table.
            Cmd::Add | Cmd::Del => return,
            Cmd::Edit if !rs.set => return,
            Cmd::Edit => Cmd::Edit,
        };
        for key in keys {
            let dest = table::dest(&rs.conf, weight, key);
            fx.push(Effect::Ipvs(match op {
                Cmd::Add => Op::AddDest(key, dest),
                Cmd::Edit => Op::EditDest(key, dest),
                Cmd::Del => Op::DelDest(key, dest.addr),
            }));
        }
    }

    /// The weight of the live real servers (`weigh_live_realservers`).
    pub fn live_weight(&self) -> i64 {
        self.rs
            .iter()
            .filter(|r| r.alive)
            .map(|r| real_weight(r.effective_weight) as i64)
            .sum()
    }

    /// `notify_up` / `notify_down` of a server that changed (`do_rs_notifies`).
    fn rs_notifies(&self, t: Target, stopping: bool, fx: &mut Vec<Effect>) {
        let _ = stopping;
        let rs = self.server(t);
        let script = if rs.alive {
            &rs.conf.notify_up
        } else {
            &rs.conf.notify_down
        };
        if let Some(s) = script {
            fx.push(Effect::Notify(s.clone()));
        }
        fx.push(Effect::Fifo(crate::notify_fifo::rs_line(
            &rs.name, &self.name, rs.alive,
        )));
    }

    /// `quorum_up` / `quorum_down`, and the mail (`do_vs_notifies`).
    fn vs_notifies(
        &self,
        init: bool,
        threshold: i64,
        weight_sum: i64,
        stopping: bool,
        fx: &mut Vec<Effect>,
    ) {
        // Only omega runs the scripts when stopping.
        if stopping && !self.conf.omega {
            return;
        }
        let script = if self.quorum_up {
            &self.conf.quorum_up
        } else {
            &self.conf.quorum_down
        };
        if let Some(s) = script {
            fx.push(Effect::Notify(s.clone()));
        }
        fx.push(Effect::Fifo(crate::notify_fifo::vs_line(
            &self.name,
            self.quorum_up,
        )));
        if self.conf.smtp_alert == Some(true) {
            let body = if stopping {
                "=> Shutting down <=".to_string()
            } else {
                let what = match (self.quorum_up, init) {
                    (true, true) => "Starting with quorum up",
                    (true, false) => "Gained quorum",
                    (false, true) => "Starting with quorum down",
                    (false, false) => "Lost quorum",
                };
                format!(
                    "=> {what} {}+{}={threshold} <= {weight_sum} <=",
                    self.conf.quorum, self.conf.hysteresis
                )
            };
            fx.push(Effect::Mail {
                subject: format!(
                    "Virtualserver {} - {}",
                    self.name,
                    if self.quorum_up { "UP" } else { "DOWN" }
                ),
                body,
            });
        }
    }

    /// Adds or removes the live real servers (`perform_quorum_state`).
    fn quorum_pool(&mut self, add: bool, fx: &mut Vec<Effect>) {
        fx.push(Effect::Log(format!(
            "{} the pool for VS {}",
            if add {
                "Adding alive servers to"
            } else {
                "Removing alive servers from"
            },
            self.name
        )));
        for i in 0..self.rs.len() {
            if self.rs[i].alive {
                self.cmd(Target::Real(i), if add { Cmd::Add } else { Cmd::Del }, fx);
            }
        }
    }

    /// keepalived's `update_quorum_state`: quorum gained or lost (with hysteresis), the
    /// sorry server in or out.
    pub fn update_quorum(&mut self, init: bool, fx: &mut Vec<Effect>) {
        let weight_sum = self.live_weight();
        let (quorum, hysteresis) = (self.conf.quorum as i64, self.conf.hysteresis as i64);
        let threshold = quorum
            + if self.quorum_up {
                -hysteresis
            } else {
                hysteresis
            };
        if !self.quorum_up && weight_sum >= threshold {
            self.quorum_up = true;
            fx.push(Effect::Log(format!(
                "Gained quorum {quorum}+{hysteresis}={threshold} <= {weight_sum} for VS {}",
                self.name
            )));
            if self.sorry_alive() {
                let sorry = self.sorry.as_ref().expect("sorry server");
                fx.push(Effect::Log(format!(
                    "{} sorry server {} from VS {}",
                    if sorry.inhibit() {
                        "Disabling"
                    } else {
                        "Removing"
                    },
                    sorry.name,
                    self.name
                )));
                self.cmd(Target::Sorry, Cmd::Del, fx);
                self.server_mut(Target::Sorry).alive = false;
                self.quorum_pool(true, fx);
            }
            self.vs_notifies(init, threshold, weight_sum, false, fx);
        } else if (self.quorum_up && (weight_sum == 0 || weight_sum < threshold))
            || (init && !self.quorum_up && self.sorry.is_some() && !self.sorry_alive())
        {
            self.quorum_up = false;
            fx.push(Effect::Log(format!(
                "{} {quorum}-{hysteresis}={threshold} > {weight_sum} for VS {}",
                if init {
                    "Starting with quorum down"
                } else {
                    "Lost quorum"
                },
                self.name
            )));
            if self.sorry.is_some() && !self.sorry_alive() {
                let sorry = self.sorry.as_ref().expect("sorry server");
                fx.push(Effect::Log(format!(
                    "{} sorry server {} to VS {}",
                    if sorry.inhibit() {
                        "Enabling"
                    } else {
                        "Adding"
                    },
                    sorry.name,
                    self.name
                )));
                self.quorum_pool(false, fx);
                self.cmd(Target::Sorry, Cmd::Add, fx);
                self.server_mut(Target::Sorry).alive = true;
            }
            self.vs_notifies(init, threshold, weight_sum, false, fx);
        }
    }

    /// keepalived's `perform_svr_state`: a real server goes up or down.
    pub fn perform_svr_state(&mut self, alive: bool, i: usize, fx: &mut Vec<Effect>) {
        let rs = &self.rs[i];
        if rs.alive == alive {
            return;
        }
        let (verb, prep) = match (alive, rs.inhibit()) {
            (true, true) => ("Enabl", "of"),
            (true, false) => ("Add", "to"),
            (false, true) => ("Disabl", "of"),
            (false, false) => ("Remov", "from"),
        };
        fx.push(Effect::Log(format!(
            "{verb}ing service {} {prep} VS {}",
            rs.name, self.name
        )));
        // The table changes only with quorum, or without a sorry server in use.
        if self.quorum_up || !self.sorry_alive() {
            self.cmd(Target::Real(i), if alive { Cmd::Add } else { Cmd::Del }, fx);
        }
        self.rs[i].alive = alive;
        self.rs_notifies(Target::Real(i), false, fx);
        self.update_quorum(false, fx);
    }

    /// After a reload (end of keepalived's `migrate_checkers`): a server none of whose
    /// checkers fails any more is up; a failed one is in the table (weight 0) exactly
    /// when it is now inhibited.
    pub fn settle_reloaded(&mut self, i: usize, fx: &mut Vec<Effect>) {
        let rs = &self.rs[i];
        if rs.num_failed_checkers == 0 && !rs.alive {
            self.perform_svr_state(true, i, fx);
        } else if rs.num_failed_checkers > 0 && rs.set != rs.inhibit() {
            let c = if rs.inhibit() { Cmd::Add } else { Cmd::Del };
            self.cmd(Target::Real(i), c, fx);
        }
    }

    /// keepalived's `update_svr_wgt`: a new effective weight (`misc_dynamic`, reload).
    pub fn update_weight(
        &mut self,
        weight: i64,
        i: usize,
        update_quorum: bool,
        fx: &mut Vec<Effect>,
    ) {
        let rs = &mut self.rs[i];
        let (old, new) = (real_weight(rs.effective_weight), real_weight(weight));
        rs.effective_weight = weight;
        if old == new {
            return;
        }
        fx.push(Effect::Log(format!(
            "Changing weight from {old} to {new} for {}active service {} of VS {}",
            if rs.alive { "" } else { "in" },
            rs.name,
            self.name
        )));
        if rs.set && rs.alive && (self.quorum_up || !self.sorry_alive()) {
            self.cmd(Target::Real(i), Cmd::Edit, fx);
        }
        if update_quorum {
            self.update_quorum(false, fx);
        }
    }

    /// keepalived's `set_checker_state`: counts the real server's failed checkers.
    pub fn set_checker_state(&mut self, i: usize, c: usize, up: bool) {
        let rs = &mut self.rs[i];
        let ck = &mut rs.checkers[c];
        if ck.is_up == up {
            return;
        }
        ck.is_up = up;
        if !up {
            rs.num_failed_checkers += 1;
        } else {
            rs.num_failed_checkers = rs.num_failed_checkers.saturating_sub(1);
        }
    }

    /// keepalived's `update_svr_checker_state`: a checker's verdict; the server is up
    /// only when none of its checkers fails.
    pub fn update_checker_state(&mut self, alive: bool, i: usize, c: usize, fx: &mut Vec<Effect>) {
        let ck = &self.rs[i].checkers[c];
        if ck.is_up == alive {
            if !ck.has_run {
                if ck.conf.timing.alpha || !alive {
                    self.rs_notifies(Target::Real(i), false, fx);
                }
                self.rs[i].checkers[c].has_run = true;
            }
            return;
        }
        self.rs[i].checkers[c].has_run = true;
        let failed = self.rs[i].num_failed_checkers;
        if alive {
            if failed <= 1 {
                self.perform_svr_state(true, i, fx);
            }
        } else if failed == 0 {
            self.perform_svr_state(false, i, fx);
        }
        self.set_checker_state(i, c, alive);
    }

    /// keepalived's `init_service_vs` (with `init_service_rs`): the services, the real
    /// servers that are up (all but alpha ones) or inhibited, then the quorum and the
    /// sorry server.
    pub fn init(&mut self, fx: &mut Vec<Effect>) {
        if !self.alive {
            for key in self.keys.clone() {
                if self.shared_keys.contains(&key) {
                    continue;
                }
                fx.push(Effect::Ipvs(Op::AddService(table::service(
                    &self.conf, key,
                ))));
            }
            self.alive = true;
        }
        for i in 0..self.rs.len() {
            if self.rs[i].reloaded {
                // A reload keeps a server's state; a failed one is not added back.
                continue;
            }
            let rs = &self.rs[i];
            if (rs.num_failed_checkers == 0 && !rs.alive) || (rs.inhibit() && !rs.set) {
                self.cmd(Target::Real(i), Cmd::Add, fx);
                if self.rs[i].num_failed_checkers == 0 {
                    self.rs[i].alive = true;
                }
            }
        }
        self.update_quorum(true, fx);
        // sorry_server_inhibit: the sorry server waits in the table with weight 0.
        if let Some(s) = &self.sorry
            && s.inhibit()
            && !s.set
        {
            self.server_mut(Target::Sorry).num_failed_checkers = 1;
            self.cmd(Target::Sorry, Cmd::Add, fx);
            self.server_mut(Target::Sorry).num_failed_checkers = 0;
        }
    }

    /// keepalived's `clear_service_rs`: a real server leaves (reload) or the daemon
    /// stops.
    pub fn clear_rs(&mut self, i: usize, stopping: bool, fx: &mut Vec<Effect>) {
        let rs = &self.rs[i];
        if rs.set || stopping {
            fx.push(Effect::Log(format!(
                "{} {}service {} from VS {}",
                if stopping {
                    "Shutting down"
                } else {
                    "Removing"
                },
                if rs.inhibit() && !rs.alive {
                    "(inhibited) "
                } else {
                    ""
                },
                rs.name,
                self.name
            )));
        }
        if !rs.set {
            return;
        }
        // Removed for good, inhibit_on_failure or not.
        let keys = self.keys.clone();
        let rs = &mut self.rs[i];
        for key in keys {
            fx.push(Effect::Ipvs(Op::DelDest(
                key,
                table::dest_addr(&rs.conf, key),
            )));
        }
        rs.set = false;
        if !rs.alive {
            return;
        }
        rs.alive = false;
        if stopping && !self.conf.omega {
            return;
        }
        self.rs_notifies(Target::Real(i), stopping, fx);
        let rs = &self.rs[i];
        if rs.smtp_alert() {
            fx.push(Effect::Mail {
                subject: format!(
                    "Realserver {} of virtual server {} - DOWN",
                    rs.name, self.name
                ),
                body: if stopping {
                    "=> Shutting down <="
                } else {
                    "=> Removing <="
                }
                .to_string(),
            });
        }
    }

    /// keepalived's `update_vs_notifies`: quorum lost once servers left, or stopping.
    pub fn update_vs_notifies(&mut self, stopping: bool, fx: &mut Vec<Effect>) {
        let threshold = self.conf.quorum as i64 - self.conf.hysteresis as i64;
        let weight_sum = self.live_weight();
        if stopping || (self.quorum_up && (weight_sum == 0 || weight_sum < threshold)) {
            self.quorum_up = false;
            self.vs_notifies(false, threshold, weight_sum, stopping, fx);
        }
    }

    /// keepalived's `clear_service_vs`: the sorry server, every real server, then the
    /// services.
    pub fn clear(&mut self, stopping: bool, fx: &mut Vec<Effect>) {
        if let Some(s) = &self.sorry
            && s.set
        {
            let keys = self.keys.clone();
            let s = self.server_mut(Target::Sorry);
            for key in keys {
                fx.push(Effect::Ipvs(Op::DelDest(
                    key,
                    table::dest_addr(&s.conf, key),
                )));
            }
            s.set = false;
            s.alive = false;
        }
        for i in 0..self.rs.len() {
            self.clear_rs(i, stopping, fx);
        }
        self.update_vs_notifies(stopping, fx);
        if self.alive {
            for key in self.keys.clone() {
                fx.push(Effect::Ipvs(Op::DelService(key)));
            }
        }
        self.alive = false;
    }
}
