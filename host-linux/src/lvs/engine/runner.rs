//! The checker on the service thread: a task that runs every due attempt on a task of
//! its own (a thousand real servers check at once; none waits for another, and the
//! VRRP protocol thread never waits for any), feeds the results to the [`Core`] and
//! carries out its effects: IPVS operations (synchronous netlink requests, fast), log
//! lines, scripts, mails, and the record of what is installed.

use super::record::{self, Owned};
use super::status::LvsStatus;
use super::table::{self, Op};
use super::{CheckerId, Core, Effect};
use crate::config::lvs::{Checker, LvsConf, RealServer, VirtualServer};
use crate::config::model::Command as Script;
use crate::lvs::Attempt;
use crate::lvs::ipvs::Ipvs;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// One attempt in progress.
pub type ProbeFuture = Pin<Box<dyn Future<Output = Attempt>>>;

/// Runs one attempt of a checker (the health checks, `lvs::check`, at merge; scripted
/// results in tests).
pub trait Prober {
    /// One attempt of `checker`, a checker of real server `rs` of service `vs`.
    fn attempt(
        &self,
        id: CheckerId,
        checker: Arc<Checker>,
        vs: &VirtualServer,
        rs: &RealServer,
    ) -> ProbeFuture;
}

/// Scripted probers (tests) need only the checker.
impl<F> Prober for F
where
    F: Fn(CheckerId, Arc<Checker>) -> ProbeFuture,
{
    fn attempt(
        &self,
        id: CheckerId,
        checker: Arc<Checker>,
        _: &VirtualServer,
        _: &RealServer,
    ) -> ProbeFuture {
        self(id, checker)
    }
}

/// Opens the IPVS table (the kernel's generic netlink family at merge).
pub type IpvsFactory = Rc<dyn Fn() -> io::Result<Box<dyn Ipvs>>>;

/// Queues a checker mail: subject (without `[router_id] `) and body.
pub type MailSink = Rc<dyn Fn(&str, &str)>;

/// Where scripts and mails go.
#[derive(Clone)]
pub struct Sinks {
    /// Runs a `notify_up`/`notify_down`/`quorum_up`/`quorum_down` script.
    pub script: Rc<dyn Fn(&Script)>,
    pub mail: MailSink,
    /// Writes a line to the global and LVS notify FIFOs.
    pub fifo: Rc<dyn Fn(&str)>,
}

enum Request {
    Reload(Box<LvsConf>, oneshot::Sender<()>),
    Status(oneshot::Sender<LvsStatus>),
    Stop(oneshot::Sender<()>),
}

/// The running checker's handle.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Request>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks").finish_non_exhaustive()
    }
}

impl Handle {
    /// A new configuration; returns once its effects are carried out.
    pub async fn reload(&self, conf: LvsConf) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Reload(Box::new(conf), tx)).is_ok() {
            let _ = rx.await;
        }
    }

    pub async fn status(&self) -> Option<LvsStatus> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Status(tx)).ok()?;
        rx.await.ok()
    }

    /// Removes what the checker installed (omega scripts run) and ends the task.
    pub async fn stop(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Request::Stop(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// What the task owns.
struct Runner {
    core: Core,
    ipvs: Box<dyn Ipvs>,
    prober: Rc<dyn Prober>,
    sinks: Sinks,
    record_path: Option<PathBuf>,
    owned: Owned,
    /// Results of attempts started before the last reload are dropped.
    generation: u64,
    attempts: HashMap<CheckerId, tokio::task::JoinHandle<()>>,
    results: mpsc::UnboundedSender<(u64, CheckerId, Attempt, Instant)>,
    /// `ha_suspend` addresses and whether each was local at the last look.
    suspend: Vec<(IpAddr, bool)>,
}

/// Starts the checker for `conf` on the current `LocalSet`: removes what a crashed run
/// recorded in `record_path` and this configuration does not install, installs the
/// services, and runs the checkers.
pub fn spawn(
    conf: &LvsConf,
    ipvs: Box<dyn Ipvs>,
    prober: Rc<dyn Prober>,
    sinks: Sinks,
    record_path: Option<PathBuf>,
) -> Handle {
    let seed = std::process::id() as u64 ^ epoch_nanos();
    let core = Core::new(conf, Instant::now(), seed);
    let (tx, rx) = mpsc::unbounded_channel();
    let (results, results_rx) = mpsc::unbounded_channel();
    let mut runner = Runner {
        core,
        ipvs,
        prober,
        sinks,
        record_path,
        owned: Owned::default(),
        generation: 0,
        attempts: HashMap::new(),
        results,
        suspend: Vec::new(),
    };
    tokio::task::spawn_local(async move {
        runner.start();
        runner.run(rx, results_rx).await;
    });
    Handle { tx }
}

/// Without virtual servers to run: removes what a crashed run recorded in
/// `record_path`, if anything, and the record with it.
pub fn remove_leftovers(ipvs: &mut dyn Ipvs, record_path: &std::path::Path) {
    let mut recorded = Owned::read(record_path);
    for op in record::leftovers(&recorded.clone(), &[]) {
        info!(
            "removing what an earlier run left: {}",
            table::describe(&op)
        );
        match table::apply(ipvs, &op) {
            Ok(()) => {
                recorded.note(&op);
            }
            Err(e) => error!("IPVS: {}: {e}", table::describe(&op)),
        }
    }
    if let Err(e) = recorded.write(record_path) {
        warn!("{}: {e}", record_path.display());
    }
}

/// How long an attempt may take before it counts as failed: a safety net behind the
/// checks' own timeouts (`connect_timeout`, `misc_timeout`), so a check that never ends
/// cannot stop its checker.
fn attempt_bound(c: &Checker) -> Duration {
    let connect = c.connect.as_ref().map_or(Duration::ZERO, |c| c.timeout);
    let script = match &c.kind {
        crate::config::lvs::CheckKind::Misc(m) => m.timeout.unwrap_or(c.timing.delay_loop),
        _ => Duration::ZERO,
    };
    (connect * 4).max(script).max(c.timing.delay_loop) + Duration::from_secs(10)
}

fn epoch_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Whether `addr` is one of this host's addresses (it can be bound).
fn is_local(addr: IpAddr) -> bool {
    std::net::UdpSocket::bind((addr, 0)).is_ok()
}

impl Runner {
    fn start(&mut self) {
        let fx = self.core.start();
        if let Some(path) = self.record_path.clone() {
            let recorded = Owned::read(&path);
            let leftovers = record::leftovers(&recorded, &fx);
            self.owned = recorded;
            for op in &leftovers {
                info!("removing what an earlier run left: {}", table::describe(op));
                self.apply(op);
            }
            if !leftovers.is_empty()
                && let Err(e) = self.owned.write(&path)
            {
                warn!("{}: {e}", path.display());
            }
        }
        self.carry_out(fx);
        self.follow_suspend_addresses();
    }

    /// `ha_suspend`: which of the services' addresses are local now.
    /// The `ha_suspend` addresses of the configuration now run, all taken as absent
    /// until the next look.
    fn follow_suspend_addresses(&mut self) {
        self.suspend = self
            .core
            .suspend_addresses()
            .into_iter()
            .map(|a| (a, false))
            .collect();
        self.watch_addresses();
    }

    fn watch_addresses(&mut self) {
        for i in 0..self.suspend.len() {
            let (addr, was) = self.suspend[i];
            let now = is_local(addr);
            if now != was {
                self.suspend[i].1 = now;
                let fx = self.core.address_changed(addr, now);
                self.carry_out(fx);
            }
        }
    }

    async fn run(
        &mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut results: mpsc::UnboundedReceiver<(u64, CheckerId, Attempt, Instant)>,
    ) {
        let mut address_poll = tokio::time::interval(Duration::from_secs(1));
        address_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.launch_due();
            let deadline = self
                .core
                .next_deadline()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                Some((generation, id, attempt, at)) = results.recv() => {
                    self.attempts.remove(&id);
                    if generation == self.generation {
                        let fx = self.core.attempt_done(id, &attempt, at);
                        self.carry_out(fx);
                    }
                }
                _ = sleep_until(deadline) => {}
                _ = address_poll.tick(), if !self.suspend.is_empty() => self.watch_addresses(),
                request = requests.recv() => match request {
                    Some(Request::Reload(conf, done)) => {
                        self.abort_attempts();
                        self.generation += 1;
                        let fx = self.core.reload(&conf, Instant::now());
                        self.carry_out(fx);
                        self.follow_suspend_addresses();
                        let _ = done.send(());
                    }
                    Some(Request::Status(reply)) => {
                        let _ = reply.send(self.core.snapshot(Instant::now()));
                    }
                    Some(Request::Stop(done)) => {
                        self.stop();
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.stop();
                        return;
                    }
                },
            }
        }
    }

    fn stop(&mut self) {
        self.abort_attempts();
        let fx = self.core.stop();
        self.carry_out(fx);
    }

    fn abort_attempts(&mut self) {
        for (_, t) in self.attempts.drain() {
            t.abort();
        }
    }

    /// Starts every due attempt on its own task.
    fn launch_due(&mut self) {
        for id in self.core.due(Instant::now()) {
            let Some(checker) = self.core.checker(id) else {
                continue;
            };
            let Some(vs) = self.core.vs.get(id.vs) else {
                continue;
            };
            let Some(rs) = vs.rs.get(id.rs) else {
                continue;
            };
            let bound = attempt_bound(&checker);
            let attempt = self.prober.attempt(id, checker, &vs.conf, &rs.conf);
            let results = self.results.clone();
            let generation = self.generation;
            let task = tokio::task::spawn_local(async move {
                let a = match tokio::time::timeout(bound, attempt).await {
                    Ok(a) => a,
                    Err(_) => Attempt::Failure(format!(
                        "attempt did not end within {} s",
                        bound.as_secs()
                    )),
                };
                let _ = results.send((generation, id, a, Instant::now()));
            });
            self.attempts.insert(id, task);
        }
    }

    /// Carries out `op`; true when the record of what is installed changed.
    fn apply(&mut self, op: &Op) -> bool {
        match table::apply(self.ipvs.as_mut(), op) {
            Ok(()) => self.owned.note(op),
            Err(e) => {
                error!("IPVS: {}: {e}", table::describe(op));
                false
            }
        }
    }

    fn carry_out(&mut self, fx: Vec<Effect>) {
        // What is about to go in is recorded before it does: a crash in between
        // leaves a record of something absent (harmless), never an unrecorded entry.
        let mut grows = false;
        for e in &fx {
            if let Effect::Ipvs(op @ (Op::AddService(_) | Op::AddDest(..) | Op::EditDest(..))) = e {
                grows |= self.owned.note(op);
            }
        }
        if grows {
            self.save();
        }
        let mut changed = false;
        for e in fx {
            match e {
                Effect::Ipvs(op) => changed |= self.apply(&op),
                Effect::Log(line) => info!("{line}"),
                Effect::Notify(script) => (self.sinks.script)(&script),
                Effect::Mail { subject, body } => (self.sinks.mail)(&subject, &body),
                Effect::Fifo(line) => (self.sinks.fifo)(&line),
            }
        }
        if changed {
            self.save();
        }
    }

    fn save(&self) {
        if let Some(path) = &self.record_path
            && let Err(e) = self.owned.write(path)
        {
            warn!(
                "{}: {e}; IPVS entries a crash leaves behind will not be removed at the next start",
                path.display()
            );
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
