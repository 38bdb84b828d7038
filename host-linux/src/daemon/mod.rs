//! The daemon: two threads.
//!
//! - The **protocol thread** ([`reactor`], [`engine`]) owns every instance: the VRRP
//!   sockets, the deadline timer, the cores, trackers' effect on priorities, sync
//!   groups, counters. It waits in its own epoll set and never blocks, so an advert
//!   costs the same few syscalls as in keepalived and nothing else; a takeover installs
//!   its VIPs (a synchronous netlink request) and announces them itself.
//! - The **service thread** (this module; a current-thread tokio runtime) does the
//!   slower, asynchronous work: loading and resolving the configuration (links,
//!   addresses, `use_vmac` macvlans, VIPs left behind by a crash), spaced announcements
//!   and macvlan removal ([`Job`]s, in order), notify scripts ([`Note`]s), trackers,
//!   the link monitor, SIGHUP, the state file ([`installed`]), the status socket and
//!   the metrics endpoint ([`crate::metrics`]).
//!   SIGTERM and SIGINT go to the protocol thread (a signalfd): it resigns at once,
//!   whatever the service thread is doing, and then tells it.
//!
//! They talk through channels: commands to the protocol thread ([`reactor::Cmd`],
//! with an eventfd to wake it), jobs and notes back.

mod apply;
mod drops;
mod engine;
pub mod installed;
mod load;
mod lvs;
pub mod plan;
mod promote;
mod reactor;
mod route_state;
mod waiting;

use apply::{apply_plan, release};

pub use engine::{MAX_INSTANCES, MAX_PEERS, MAX_TRACKERS};
pub use load::{load_plan, log_diagnostics, plan_from};
pub use lvs::LvsHooks;

use crate::control;
use crate::mail;
use crate::metrics;
use crate::net::{AddressSocket, AddressSpec, Announcer, DeadlineTimer, LinkMonitor, Netlink};
use crate::notify::{self, Notifier};
use crate::notify_fifo;
use crate::track;
use engine::{Engine, Resolved, Spawn};
use reactor::{Cmd, Handle};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Loads and resolves the configuration; the daemon calls it at start and on SIGHUP.
pub type Loader = Rc<dyn Fn() -> Result<plan::Plan, String>>;

/// The daemon's clock: `vigil_core::Instant` counts microseconds from the first call.
fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

pub fn now() -> vigil_core::Instant {
    vigil_core::Instant::from_micros(epoch().elapsed().as_micros() as u64)
}

/// The addresses an instance installs, with the interface each goes on.
type VipWork = Vec<(u32, AddressSpec)>;

/// Work for the service thread's netlink task, carried out in order. Jobs carry what
/// they act on, so a job queued by an instance that a reload has replaced still
/// completes.
#[derive(Debug)]
enum Job {
    /// A `use_vmac` macvlan vigild created, no longer used.
    DeleteLink { name: String, index: u32 },
    /// `count` rounds over `work`: (interface, its MAC, address).
    Announce {
        name: String,
        work: Vec<(u32, [u8; 6], IpAddr)>,
        count: u8,
        spacing: Duration,
    },
}

/// What the protocol thread tells the notifiers (scripts and FIFOs).
#[derive(Debug)]
enum Note {
    /// `name` entered `state`: its scripts run, its line goes to the FIFOs.
    State {
        kind: notify::Kind,
        name: String,
        // Boxed: the variant stays small (the channel holds Notes by value).
        scripts: Box<notify::Scripts>,
        state: &'static str,
        priority: u8,
    },
    /// SIGTERM, before the STOP notifications: keepalived ends its scripts (the FIFO
    /// scripts among them) first, so those never read the STOP lines.
    Stopping,
}

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_path: PathBuf,
    pub control_socket: PathBuf,
    /// What this daemon may have installed ([`installed`]).
    pub state_file: PathBuf,
    /// Where to serve Prometheus metrics (`--metrics-listen`); off when `None`.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub fn run(options: Options, loader: Loader) -> i32 {
    run_with_lvs(options, loader, None)
}

/// [`run`], with what the LVS checker needs (the IPVS table, the health checks) to run
/// the configuration's virtual servers.
pub fn run_with_lvs(options: Options, loader: Loader, lvs: Option<LvsHooks>) -> i32 {
    // One malloc arena for both threads: glibc would give the protocol thread one of
    // its own, a megabyte of resident memory for the few allocations it makes (at
    // (re)load and in log lines), none on the packet path.
    // SAFETY: no preconditions; called before the second thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let Some(signals) = needed(stop_signals(), "cannot take SIGTERM and SIGINT") else {
        return 3;
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return 3;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        main_loop(options, loader, signals, lvs).await
    })
}

/// Blocks SIGTERM and SIGINT in every thread (called before a second one exists; the
/// mask is inherited, so scripts unblock them: `exec::unblock_signals`) and returns a signalfd
/// for them: the protocol thread watches it in its epoll set and resigns at once.
fn stop_signals() -> std::io::Result<OwnedFd> {
    // SAFETY: `set` is a live sigset_t initialised by sigemptyset; the signalfd is a
    // fresh descriptor nothing else owns.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        let fd = libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// What the service thread keeps of the running configuration.
struct Running {
    /// Names of the installed instances.
    names: HashSet<String>,
    /// `use_vmac` macvlans vigild created: name → index. Removed when no instance of
    /// the running plan uses them any more, and at exit, as keepalived does.
    vmacs: HashMap<String, u32>,
    /// Tracker tasks of the installed plan, aborted on reload.
    trackers: Vec<tokio::task::JoinHandle<()>>,
    /// Into the netlink task's queue; dropped at exit so that the queue can close.
    jobs: Option<mpsc::UnboundedSender<Job>>,
    /// Removes VIPs left behind by a crash (the protocol thread has its own).
    addresses: AddressSocket,
    /// The state file ([`installed`]) and what it lists besides the plan being
    /// installed: the running plan's records, and those a previous run left that could
    /// not be removed (tried again at the next start).
    state_file: PathBuf,
    installed: Vec<installed::Record>,
    stale: Vec<installed::Record>,
    /// What the previous run recorded, until the first plan settles it.
    previous: Option<Vec<installed::Record>>,
    /// `dynamic_interfaces`: the running plan's instances that wait for a link.
    waiting: waiting::Waiting,
    /// What `vigild status` shows of them (FAULT).
    waiting_status: Rc<RefCell<Vec<control::InstanceStatus>>>,
    /// Static addresses, routes and rules, and the record of routes and rules.
    routes: route_state::RouteState,
    /// The service's own way to the notify scripts and FIFOs: for the instances that
    /// wait (FAULT when they start waiting, STOP at exit, as keepalived notifies them).
    notes: Option<mpsc::UnboundedSender<Note>>,
}

impl Running {
    /// Queues the removal of the macvlans that no instance named in `keep` uses.
    fn remove_vmacs(&mut self, keep: &HashSet<&str>) {
        let gone: Vec<String> = self
            .vmacs
            .keys()
            .filter(|v| !keep.contains(v.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let (Some(index), Some(jobs)) = (self.vmacs.remove(&name), &self.jobs) {
                let _ = jobs.send(Job::DeleteLink { name, index });
            }
        }
    }

    /// Writes the state file: the stale records, the running plan's and `more` (a plan
    /// about to be installed). A failure is a warning: vigild runs on without it.
    fn save(&self, more: &[installed::Record]) {
        let mut all = self.stale.clone();
        for r in self.installed.iter().chain(more) {
            if !all.iter().any(|a| a.key() == r.key()) {
                all.push(r.clone());
            }
        }
        if let Err(e) = installed::write(&self.state_file, &all) {
            warn!(
                "state file {}: {e}; VIPs a crash leaves behind will not be removed at the next start",
                self.state_file.display()
            );
        }
    }

    /// At an exit without a running plan (a start that failed): nothing owns what the
    /// previous run recorded any more, so it is removed.
    async fn release_all(&mut self, netlink: &Netlink) {
        let mut all = self.previous.take().unwrap_or_default();
        all.append(&mut self.installed);
        all.append(&mut self.stale);
        let none = HashSet::new();
        self.stale = release(
            netlink,
            &mut self.addresses,
            &all,
            &none,
            "vigild cannot start",
        )
        .await;
        self.routes.finish();
        self.finish();
    }

    /// At exit, after the VIPs are removed: the file goes, unless some of a previous
    /// run's addresses could not be removed.
    fn finish(&mut self) {
        self.installed.clear();
        if self.stale.is_empty() {
            installed::remove(&self.state_file);
        } else {
            self.save(&[]);
        }
    }
}

async fn main_loop(
    options: Options,
    loader: Loader,
    signals: OwnedFd,
    lvs_hooks: Option<LvsHooks>,
) -> i32 {
    // Handlers first: a signal's default action would end the daemon without
    // resigning. SIGHUP during start-up reloads once started; the others are
    // keepalived's dump signals ([`crate::dump`]).
    use tokio::signal::unix::SignalKind;
    let mut hup = signal(SignalKind::hangup());
    let mut dump_signals = DumpSignals {
        data: signal(SignalKind::user_defined1()),
        stats: signal(SignalKind::user_defined2()),
        stats_clear: signal(SignalKind::from_raw(libc::SIGRTMAX() - 1)),
        json: signal(SignalKind::from_raw(libc::SIGRTMIN() + 2)),
    };
    const GARP_SOCKET: &str = "cannot open the packet socket for gratuitous ARP";
    let Some(netlink) = needed(Netlink::new(), "netlink") else {
        return 3;
    };
    let Some(leftovers) = needed(AddressSocket::new(), "netlink") else {
        return 3;
    };
    let mut running = Running {
        names: HashSet::new(),
        vmacs: HashMap::new(),
        trackers: Vec::new(),
        jobs: None,
        addresses: leftovers,
        state_file: options.state_file.clone(),
        installed: Vec::new(),
        stale: Vec::new(),
        previous: Some(installed::read(&options.state_file)),
        waiting: waiting::Waiting::default(),
        waiting_status: Rc::default(),
        routes: route_state::RouteState::new(&options.state_file),
        notes: None,
    };
    let plan = match loader() {
        Ok(p) => p,
        Err(e) => {
            error!("{e}");
            running.release_all(&netlink).await;
            return 4;
        }
    };
    // Restored when dropped, whichever way the daemon ends.
    let _promoted = promote::PromoteSecondaries::apply(&plan);
    let Some(announcer) = needed(Announcer::new(), GARP_SOCKET) else {
        return 3;
    };
    let announcer = Rc::new(announcer);
    let Some(timer) = needed(DeadlineTimer::new(), "cannot create the deadline timer") else {
        return 3;
    };
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    // The service's own sender, for link removals.
    let service_jobs = jobs_tx.clone();
    let (notes_tx, mut notes_rx) = mpsc::unbounded_channel::<Note>();
    running.notes = Some(notes_tx.clone());
    let (reports_tx, mut reports_rx) = mpsc::unbounded_channel();
    let config_path = options.config_path.display().to_string();
    // The protocol thread's own: it installs VIPs and announces them itself.
    let Some(own_announcer) = needed(Announcer::new(), GARP_SOCKET) else {
        return 3;
    };
    let Some(addresses) = needed(AddressSocket::new(), "netlink") else {
        return 3;
    };
    // Says that the protocol thread resigned on SIGTERM or SIGINT.
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel();
    let make = move || {
        Engine::new(
            config_path,
            jobs_tx,
            notes_tx,
            timer,
            own_announcer,
            addresses,
        )
    };
    let (engine, protocol_thread) = match reactor::spawn(make, signals, stopped_tx) {
        Ok(x) => x,
        Err(e) => {
            error!("cannot start the protocol thread: {e}");
            return 3;
        }
    };

    // The netlink task ends when the protocol thread is gone and every job is done.
    let jobs = tokio::task::spawn_local(netlink_task(netlink.clone(), announcer, jobs_rx));
    // Notify scripts: in order per instance; the task ends (after the last script)
    // when the protocol thread is gone.
    // The notify FIFOs get each note's line as its scripts start (keepalived: the
    // scripts are forked, then the line written), and are closed after the last (STOP).
    let mut notifier = Notifier::new(plan.script_user);
    // Mail alerts: queued beside the notify scripts, sent on tasks of their own.
    let (mailer, mail_sender) = mail::Mailer::new(plan.mail.clone());
    let mailer = Rc::new(RefCell::new(mailer));
    let mail_sender = tokio::task::spawn_local(mail_sender);
    let fifos = Rc::new(RefCell::new(notify_fifo::Fifos::open(&plan.fifos)));
    let lvs = lvs::Lvs::new(
        lvs_hooks,
        &options.state_file,
        mailer.clone(),
        fifos.clone(),
    );
    let notes = {
        let fifos = fifos.clone();
        let notes_mailer = mailer.clone();
        tokio::task::spawn_local(async move {
            while let Some(n) = notes_rx.recv().await {
                match n {
                    Note::State {
                        kind,
                        name,
                        scripts,
                        state,
                        priority,
                    } => {
                        notifier.notify(kind, &name, &scripts, state, priority);
                        notes_mailer.borrow_mut().transition(kind, &name, state);
                        fifos
                            .borrow_mut()
                            .write(&notify_fifo::line(kind, &name, state, priority));
                    }
                    Note::Stopping => fifos.borrow_mut().end_scripts(),
                }
            }
            // The FIFOs stay open for the checker's last lines (omega): closed at the
            // end of the run.
            drop(notes_mailer);
            notifier.drain().await;
        })
    };
    // Tracker reports.
    {
        let engine = engine.clone();
        tokio::task::spawn_local(async move {
            while let Some(r) = reports_rx.recv().await {
                engine.send(Cmd::Report(r));
            }
        });
    }
    // Link monitor: interface tracking and the instances' own interfaces; the service
    // sees the events too (dynamic_interfaces, `waiting`).
    let (links_tx, mut links_rx) = mpsc::unbounded_channel::<crate::net::LinkEvent>();
    match LinkMonitor::new() {
        Ok(mut mon) => {
            let engine = engine.clone();
            tokio::task::spawn_local(async move {
                while let Some(ev) = mon.next_event().await {
                    engine.send(Cmd::Link(ev.name.clone(), ev.up && !ev.deleted));
                    let _ = links_tx.send(ev);
                }
            });
        }
        Err(e) => warn!("link monitor unavailable, interface tracking disabled: {e}"),
    }

    // Route and rule deletions: a master whose tracked virtual route or rule goes
    // steps down (the statics' own watcher puts those back).
    match crate::net::routes::DeletionMonitor::new() {
        Ok(mut mon) => {
            let engine = engine.clone();
            tokio::task::spawn_local(async move {
                loop {
                    match mon.next().await {
                        Ok(ids) if ids.is_empty() => {}
                        Ok(ids) => {
                            if !engine.send(Cmd::RoutesDeleted(ids)) {
                                return;
                            }
                        }
                        Err(e) => {
                            warn!(
                                "route monitor: {e}; deleted virtual routes and rules go unnoticed"
                            );
                            return;
                        }
                    }
                }
            });
        }
        Err(e) => {
            warn!("route monitor: {e}; deleted virtual routes and rules go unnoticed")
        }
    }

    running.jobs = Some(service_jobs);
    // What the dumps show of the configuration: the plan last installed.
    let mut dump_plan = Arc::new(plan.clone());
    // A signal during the start stops the protocol thread, which fails the install.
    let mut stopping = false;
    let first_plan = plan.clone();
    if let Err(e) = apply_plan(&engine, &netlink, &reports_tx, &mut running, plan).await {
        stopping = stopped.try_recv().is_ok();
        if !stopping {
            error!("{e}");
            running.release_all(&netlink).await;
            return 4;
        }
    }
    if !stopping {
        lvs.apply(&first_plan).await;
    }
    drop(first_plan);
    release_free_memory();

    // Metrics: one exposition at most per `max_age`, however many ask (the endpoint and
    // `vigild status --prometheus`), so a scrape flood costs the protocol thread a
    // bounded number of snapshots.
    let limits = metrics::http::Limits::default();
    let exposition = {
        let engine = engine.clone();
        let waiting = running.waiting_status.clone();
        let lvs_handle = lvs.handle.clone();
        Rc::new(metrics::http::Cache::new(
            move || {
                let engine = engine.clone();
                let waiting = waiting.clone();
                let lvs_handle = lvs_handle.clone();
                async move {
                    let (tx, rx) = oneshot::channel();
                    if !engine.send(Cmd::Status(tx)) {
                        return None;
                    }
                    let mut status = rx.await.ok()?;
                    status.instances.extend(waiting.borrow().iter().cloned());
                    let mut text = metrics::render(&status, &metrics::service::snapshot());
                    if let Some(checker) = lvs::status(&lvs_handle).await {
                        text.push_str(&checker.metrics());
                    }
                    Some(text)
                }
            },
            limits.max_age,
        ))
    };
    if let Some(addr) = options.metrics_listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                info!("serving Prometheus metrics on http://{addr}/metrics");
                tokio::task::spawn_local(metrics::http::serve(
                    listener,
                    exposition.clone(),
                    limits,
                ));
            }
            Err(e) => warn!("metrics endpoint {addr}: {e}; metrics are not served"),
        }
    }

    // Control socket.
    match control::bind(&options.control_socket) {
        Ok(listener) => {
            let engine = engine.clone();
            let waiting = running.waiting_status.clone();
            let lvs_handle = lvs.handle.clone();
            tokio::task::spawn_local(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let engine = engine.clone();
                    let exposition = exposition.clone();
                    let waiting = waiting.clone();
                    let lvs_handle = lvs_handle.clone();
                    tokio::task::spawn_local(async move {
                        let _ = control::serve_async(stream, |req| async move {
                            if req.ends_with("prometheus") {
                                return exposition.get().await.map(|b| (*b).clone());
                            }
                            let (tx, rx) = oneshot::channel();
                            if !engine.send(Cmd::Status(tx)) {
                                return None;
                            }
                            let mut status = rx.await.ok()?;
                            status.instances.extend(waiting.borrow().iter().cloned());
                            let checker = lvs::status(&lvs_handle).await;
                            Some(if req.ends_with("json") {
                                with_lvs_json(&status, checker.as_ref())
                            } else {
                                let mut t = status.to_table();
                                if let Some(c) = &checker {
                                    t.push_str(&c.to_table());
                                }
                                t
                            })
                        })
                        .await;
                    });
                }
            });
        }
        Err(e) => warn!(
            "control socket {}: {e}; `vigild status` will not work",
            options.control_socket.display()
        ),
    }

    crate::systemd::notify("READY=1");
    info!("vigild {} started", env!("CARGO_PKG_VERSION"));

    // dynamic_interfaces: how often a waiting instance's address is looked for.
    let mut waiting_retry = tokio::time::interval(Duration::from_secs(1));
    waiting_retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stopping {
        tokio::select! {
            Some(()) = stopped.recv() => stopping = true,
            dump = dump_signals.next() => write_dump(&engine, dump, dump_plan.clone()).await,
            _ = waiting_retry.tick(), if running.waiting.is_waiting() => {
                if running.waiting.any_ready(&netlink).await && let Some(plan) = running.waiting.full.clone() {
                    info!("an instance waiting for its interface can run: re-applying the configuration (dynamic_interfaces)");
                    if let Err(e) = apply_plan(&engine, &netlink, &reports_tx, &mut running, plan).await {
                        error!("re-applying the configuration: {e}");
                    }
                }
            }
            Some(ev) = links_rx.recv() => {
                if running.waiting.concerns(&ev) && let Some(plan) = running.waiting.full.clone() {
                    let change = if ev.deleted { "was removed" } else { "appeared" };
                    info!("interface {} {change}: re-applying the configuration (dynamic_interfaces)", ev.name);
                    if let Err(e) = apply_plan(&engine, &netlink, &reports_tx, &mut running, plan).await {
                        error!("interface {} {change}: {e}", ev.name);
                    }
                }
            }
            _ = hup.recv() => {
                crate::systemd::notify("RELOADING=1");
                info!("Reloading configuration file {}", options.config_path.display());
                match loader() {
                    Ok(plan) => {
                        let installing = Arc::new(plan.clone());
                        // keepalived closes its FIFOs on reload and opens the new
                        // configuration's (their scripts see the end and start anew).
                        reopen_fifos(&fifos, &plan);
                        let write_states = plan.fifo_write_states_on_reload;
                        let before = if write_states { status_of(&engine).await } else { None };
                        match apply_plan(&engine, &netlink, &reports_tx, &mut running, plan).await {
                            Ok(()) => {
                                lvs.apply(&installing).await;
                                metrics::service::reloaded("ok");
                                mailer.borrow_mut().reconfigure(installing.mail.clone());
                                dump_plan = installing;
                                if let Some(before) = before
                                    && let Some(after) = status_of(&engine).await
                                {
                                    write_unchanged_states(&fifos, &before, &after);
                                }
                            }
                            Err(e) => {
                                metrics::service::reloaded("failed");
                                error!("reload failed, keeping the running configuration: {e}");
                            }
                        }
                        release_free_memory();
                    }
                    Err(e) => {
                        metrics::service::reloaded("rejected");
                        error!("reload: new configuration rejected, keeping the running one: {e}");
                    }
                }
                crate::systemd::notify("READY=1");
            }
        }
    }

    info!("Stopping");
    crate::systemd::notify("STOPPING=1");
    for t in running.trackers.drain(..) {
        t.abort();
    }
    // The protocol thread has resigned already (on the signal); a shutdown it no longer
    // reads is answered by the dropped reply.
    let (tx, rx) = oneshot::channel();
    if engine.send(Cmd::Shutdown(tx)) {
        let _ = rx.await;
    }
    // keepalived notifies STOP for every instance, those in FAULT too.
    running
        .waiting
        .notify(running.notes.as_ref(), "STOP", |_| true);
    running.notes = None;
    running.remove_vmacs(&HashSet::new());
    running.jobs = None;
    // The protocol thread has resigned every instance (VIPs removed) and is ending: its
    // queues close behind the last spaced announcement and notify script.
    let _ = tokio::task::spawn_blocking(move || protocol_thread.join()).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), jobs).await;
    let _ = tokio::time::timeout(notify::TIMEOUT + Duration::from_secs(1), notes).await;
    // Mails still on their way are dropped, as keepalived's exit drops them.
    drop(mailer);
    mail_sender.abort();
    // The checker's IPVS entries go (keepalived's checker process clears them at its
    // exit), with the omega scripts.
    // keepalived's checker ends its scripts (the FIFO's among them) first.
    fifos.borrow_mut().end_scripts();
    lvs.stop().await;
    // keepalived's checker closes its FIFOs after clearing its services, as its VRRP
    // process after the STOP lines.
    fifos.borrow_mut().close();
    let _ = std::fs::remove_file(&options.control_socket);
    running.routes.finish();
    running.finish();
    info!("Stopped");
    0
}

/// The status as JSON, with the checker's under `lvs` when it runs.
fn with_lvs_json(
    status: &control::Status,
    checker: Option<&crate::lvs::engine::status::LvsStatus>,
) -> String {
    let Some(checker) = checker else {
        return status.to_json();
    };
    match (serde_json::to_value(status), serde_json::to_value(checker)) {
        (Ok(serde_json::Value::Object(mut m)), Ok(c)) => {
            m.insert("lvs".into(), c);
            serde_json::to_string_pretty(&m).unwrap_or_else(|_| status.to_json())
        }
        _ => status.to_json(),
    }
}

/// The FIFOs of `plan` in place of the open ones.
fn reopen_fifos(fifos: &RefCell<notify_fifo::Fifos>, plan: &plan::Plan) {
    let mut fifos = fifos.borrow_mut();
    fifos.close();
    *fifos = notify_fifo::Fifos::open(&plan.fifos);
}

/// The protocol thread's status snapshot.
async fn status_of(engine: &Handle) -> Option<control::Status> {
    let (tx, rx) = oneshot::channel();
    if !engine.send(Cmd::Status(tx)) {
        return None;
    }
    rx.await.ok()
}

/// `fifo_write_vrrp_states_on_reload`: after a reload keepalived writes to the FIFOs
/// the state of every sync group, then of every instance, that was not notified (its
/// state did not change), except a master instance (2.2.7's `vrrp_init_state` writes
/// nothing for an instance that stays master). An instance counts as unchanged when
/// its state and its last transition are the ones it had before the reload.
fn write_unchanged_states(
    fifos: &RefCell<notify_fifo::Fifos>,
    before: &control::Status,
    after: &control::Status,
) {
    let mut fifos = fifos.borrow_mut();
    for g in &after.groups {
        if before
            .groups
            .iter()
            .any(|b| b.name == g.name && b.state == g.state)
        {
            fifos.write(&notify_fifo::line(notify::Kind::Group, &g.name, g.state, 0));
        }
    }
    for i in &after.instances {
        let same = before.instances.iter().any(|b| {
            b.name == i.name
                && i.state != "MASTER"
                && b.state == i.state
                && b.last_transition_unix == i.last_transition_unix
        });
        if same {
            fifos.write(&notify_fifo::line(
                notify::Kind::Instance,
                &i.name,
                i.state,
                i.effective_priority,
            ));
        }
    }
}

/// keepalived's dump signals (`keepalived --signum=DATA|STATS|STATS_CLEAR|JSON`).
struct DumpSignals {
    data: tokio::signal::unix::Signal,
    stats: tokio::signal::unix::Signal,
    stats_clear: tokio::signal::unix::Signal,
    json: tokio::signal::unix::Signal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DumpKind {
    Data,
    Stats,
    StatsClear,
    Json,
}

impl DumpSignals {
    async fn next(&mut self) -> DumpKind {
        tokio::select! {
            _ = self.data.recv() => DumpKind::Data,
            _ = self.stats.recv() => DumpKind::Stats,
            _ = self.stats_clear.recv() => DumpKind::StatsClear,
            _ = self.json.recv() => DumpKind::Json,
        }
    }
}

/// Answers a dump signal as keepalived does (its log line, then the file in `$TMPDIR`
/// or /tmp). The protocol thread only takes the status snapshot (and, for
/// STATS_CLEAR, zeroes the counters); rendering and writing happen off it, in a
/// blocking task, so neither adverts nor the service thread wait for the file system.
async fn write_dump(engine: &Handle, kind: DumpKind, plan: Arc<plan::Plan>) {
    let pid = std::process::id();
    let (tx, rx) = oneshot::channel();
    let sent = match kind {
        DumpKind::Data => {
            info!("Printing VRRP data for process({pid}) on signal");
            engine.send(Cmd::Status(tx))
        }
        DumpKind::Stats => {
            info!("Printing VRRP stats for process({pid}) on signal");
            engine.send(Cmd::Status(tx))
        }
        DumpKind::StatsClear => {
            info!("Printing and clearing VRRP stats for process({pid}) on signal");
            engine.send(Cmd::StatusClearingStats(tx))
        }
        DumpKind::Json => {
            info!("Printing VRRP as json for process({pid}) on signal");
            engine.send(Cmd::Status(tx))
        }
    };
    if !sent {
        return;
    }
    let Ok(status) = rx.await else { return };
    let written = tokio::task::spawn_blocking(move || {
        let (name, text) = match kind {
            DumpKind::Data => (
                crate::dump::DATA_FILE,
                crate::dump::data::render(&status, &plan),
            ),
            DumpKind::Stats | DumpKind::StatsClear => {
                (crate::dump::STATS_FILE, crate::dump::stats::render(&status))
            }
            DumpKind::Json => (
                crate::dump::JSON_FILE,
                crate::dump::json::render(&status, &plan),
            ),
        };
        let dir = crate::dump::tmp_dir();
        crate::dump::write(&dir, name, &text)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))
    })
    .await;
    match written {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => warn!("Can't write {e}"),
        Err(e) => warn!("dump task: {e}"),
    }
}

/// What the daemon cannot run without: the value, or `None` with the reason logged.
fn needed<T>(opened: std::io::Result<T>, what: &str) -> Option<T> {
    opened.map_err(|e| error!("{what}: {e}")).ok()
}

/// Hands the heap that loading a configuration freed (its text, the parse tree) back
/// to the kernel: glibc keeps freed memory mapped, and a daemon that parsed 1,000
/// instances once should not carry the parser's peak for the rest of its life.
fn release_free_memory() {
    // SAFETY: no preconditions; glibc only unmaps pages it holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> tokio::signal::unix::Signal {
    match tokio::signal::unix::signal(kind) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handler: {e}");
            std::process::exit(3);
        }
    }
}

/// Carries out jobs in order: spaced announcements and macvlan removals. Ends when the
/// protocol thread is gone and the queue is empty.
async fn netlink_task(
    netlink: Netlink,
    announcer: Rc<Announcer>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::DeleteLink { name, index } => {
                info!("removing interface {name}");
                if let Err(e) = netlink.delete_link(index).await {
                    error!("removing interface {name}: {e}");
                }
            }
            Job::Announce {
                name,
                work,
                count,
                spacing,
            } => {
                let announcer = announcer.clone();
                // `vrrp_garp_interval` / `vrrp_gna_interval`: the delay between two
                // messages on an interface, whichever VIPs they announce.
                let send = async move {
                    let mut first = true;
                    for _ in 0..count {
                        for &(ifindex, mac, addr) in &work {
                            if !first && !spacing.is_zero() {
                                tokio::time::sleep(spacing).await;
                            }
                            first = false;
                            if let Err(e) = announcer.announce(ifindex, mac, addr) {
                                debug!("({name}) announcing {addr}: {e}");
                            }
                        }
                    }
                };
                // Spaced bursts must not hold up the VIP work queued behind them.
                if spacing.is_zero() {
                    send.await;
                } else {
                    tokio::task::spawn_local(send);
                }
            }
        }
    }
}

/// How `vigild status` shows the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFormat {
    Table,
    Json,
    Prometheus,
}

/// Used by `main` to render `vigild status` without the daemon's types.
pub fn query_status(path: &Path, format: StatusFormat) -> std::io::Result<String> {
    let request = match format {
        StatusFormat::Table => "status",
        StatusFormat::Json => "status json",
        StatusFormat::Prometheus => "status prometheus",
    };
    control::query(path, request)
}
