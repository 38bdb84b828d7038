//! The event loop: one current-thread tokio runtime owning every instance.
//!
//! Tasks on a `LocalSet` share the daemon state (`Rc<RefCell<State>>`) and each does
//! one thing: a receive task per VRRP socket, one timer task sleeping until the earliest
//! core deadline, one task carrying out netlink work (VIPs) in order, tracker tasks,
//! the link monitor, signals and the control socket. Handlers never await while they
//! hold the state, and the packet path allocates nothing.

mod load;
pub mod plan;

pub use load::{load_plan, plan_from};

use crate::control::{self, Counters, GroupStatus, InstanceStatus, Status};
use crate::exec::RunAs;
use crate::net::{
    AddressSpec, Announcer, DeadlineTimer, LinkMonitor, Netlink, RecvBatch, Scope, VrrpSocket,
};
use crate::notify::{self, Notifier};
use crate::track::{self, Report, TrackerState};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;
use vigil_core::group::SyncGroup;
use vigil_core::machine::{Effect, Effects, Instance, MAX_VIPS, State as VrrpState, Vips};
use vigil_core::priority::{TrackStatus, Trackers, Weight};
use vigil_core::wire::{self, Family, Repr};

/// Trackers per instance (scripts, interfaces, files, processes together).
pub const MAX_TRACKERS: usize = 32;
/// Instances per sync group.
pub const MAX_GROUP: usize = 16;

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

/// Work the loop hands to the netlink task, carried out in order. Jobs carry what they
/// act on, so a job queued by an instance that a reload has replaced still completes.
#[derive(Debug)]
enum Job {
    Vips {
        add: bool,
        name: String,
        work: VipWork,
    },
    Announce {
        name: String,
        mac: [u8; 6],
        work: VipWork,
        count: u8,
        spacing: Duration,
    },
    /// Wakes whoever waits for the queue to drain (shutdown).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// What a tracker bears on: (instance slot, its tracker id in that slot).
#[derive(Debug, Clone, Default)]
struct TrackerUse {
    users: Vec<(usize, usize)>,
}

/// One running instance, beside its core state in `State::cores`.
struct Slot {
    plan: plan::Instance,
    ifindex: u32,
    mac: [u8; 6],
    socket: usize,
    trackers: Trackers<MAX_TRACKERS>,
    /// `track_file` contributions: (tracker id, weight) → value-based adjust.
    file_values: Vec<(usize, Weight, i64)>,
    counters: Counters,
    /// The sync group this instance belongs to.
    group: Option<usize>,
}

struct Socket {
    sock: Rc<VrrpSocket>,
    /// (vrid, slot) pairs served by this socket.
    vrids: Vec<(u8, usize)>,
}

struct GroupSlot {
    plan: plan::Group,
    group: SyncGroup<MAX_GROUP>,
}

struct State {
    plan: plan::Plan,
    config_path: String,
    started: std::time::Instant,
    cores: Vec<Instance<MAX_VIPS>>,
    slots: Vec<Slot>,
    sockets: Vec<Socket>,
    socket_keys: HashMap<(u32, Option<IpAddr>, bool), usize>,
    groups: Vec<GroupSlot>,
    scripts: HashMap<String, TrackerUse>,
    files: HashMap<String, TrackerUse>,
    processes: HashMap<String, TrackerUse>,
    interfaces: HashMap<String, TrackerUse>,
    /// Tracker tasks, by tracker name (kind-prefixed), aborted on reload.
    tracker_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The next tracker index: never reused across reloads, so that a report an
    /// aborted tracker task left in the channel matches no tracker of the new plan.
    next_tracker: usize,
    drops: std::collections::BTreeMap<&'static str, u64>,
    jobs: mpsc::UnboundedSender<Job>,
    reports: mpsc::UnboundedSender<Report>,
    notifier: Notifier,
    /// Fires at the earliest deadline of any instance; `armed` is what it is set to.
    timer: Rc<DeadlineTimer>,
    armed: Option<vigil_core::Instant>,
    tx_buf: [u8; 1500],
}

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub config_path: PathBuf,
    pub control_socket: PathBuf,
}

/// Runs the daemon until SIGTERM/SIGINT. Returns the process exit code.
pub fn run(options: Options, loader: Loader) -> i32 {
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
    local.block_on(&rt, async move { main_loop(options, loader).await })
}

async fn main_loop(options: Options, loader: Loader) -> i32 {
    let plan = match loader() {
        Ok(p) => p,
        Err(e) => {
            error!("{e}");
            return 4;
        }
    };
    let netlink = match Netlink::new() {
        Ok(n) => n,
        Err(e) => {
            error!("netlink: {e}");
            return 3;
        }
    };
    let announcer = match Announcer::new() {
        Ok(a) => Rc::new(a),
        Err(e) => {
            error!("cannot open the packet socket for gratuitous ARP: {e}");
            return 3;
        }
    };
    let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
    let (reports_tx, mut reports_rx) = mpsc::unbounded_channel();
    let timer = match DeadlineTimer::new() {
        Ok(t) => Rc::new(t),
        Err(e) => {
            error!("cannot create the deadline timer: {e}");
            return 3;
        }
    };
    let state = Rc::new(RefCell::new(State {
        plan: plan::Plan::default(),
        config_path: options.config_path.display().to_string(),
        started: std::time::Instant::now(),
        cores: Vec::new(),
        slots: Vec::new(),
        sockets: Vec::new(),
        socket_keys: HashMap::new(),
        groups: Vec::new(),
        scripts: HashMap::new(),
        files: HashMap::new(),
        processes: HashMap::new(),
        interfaces: HashMap::new(),
        tracker_tasks: Vec::new(),
        next_tracker: 0,
        drops: Default::default(),
        jobs: jobs_tx,
        reports: reports_tx,
        notifier: Notifier::new(plan.script_user),
        timer: timer.clone(),
        armed: None,
        tx_buf: [0; 1500],
    }));
    STATE.with(|s| *s.borrow_mut() = Some(state.clone()));

    tokio::task::spawn_local(netlink_task(netlink.clone(), announcer.clone(), jobs_rx));
    if let Err(e) = apply_plan(&state, &netlink, plan).await {
        error!("{e}");
        return 4;
    }
    release_free_memory();

    // Timer task: wakes at the earliest deadline of any instance. Every handler re-arms
    // the timer when the earliest deadline moves, so it never wakes for a stale one.
    {
        let state = state.clone();
        tokio::task::spawn_local(async move {
            loop {
                if let Err(e) = timer.expired().await {
                    error!("deadline timer: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let mut state = state.borrow_mut();
                state.armed = None;
                // An advert queued before the deadline counts before the deadline acts:
                // a backup must not take over from a master whose advert is waiting in
                // the socket. (A master's own advert timer needs no such care.)
                let now = now();
                if state.backup_due(now) {
                    state.drain_sockets();
                }
                state.on_timers(now);
                state.rearm();
            }
        });
    }
    // Tracker reports.
    {
        let state = state.clone();
        tokio::task::spawn_local(async move {
            while let Some(r) = reports_rx.recv().await {
                state.borrow_mut().on_report(r);
            }
        });
    }
    // Link monitor: interface tracking and the instances' own interfaces.
    match LinkMonitor::new() {
        Ok(mut mon) => {
            let state = state.clone();
            tokio::task::spawn_local(async move {
                while let Some(ev) = mon.next_event().await {
                    state.borrow_mut().on_link(&ev.name, ev.up && !ev.deleted);
                }
            });
        }
        Err(e) => warn!("link monitor unavailable, interface tracking disabled: {e}"),
    }
    // Control socket.
    match control::bind(&options.control_socket) {
        Ok(listener) => {
            let state = state.clone();
            tokio::task::spawn_local(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let state = state.clone();
                    tokio::task::spawn_local(async move {
                        let _ = control::serve_one(stream, |req| {
                            let status = state.borrow().status();
                            if req.ends_with("json") {
                                status.to_json()
                            } else {
                                status.to_table()
                            }
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

    let mut term = signal(tokio::signal::unix::SignalKind::terminate());
    let mut int = signal(tokio::signal::unix::SignalKind::interrupt());
    let mut hup = signal(tokio::signal::unix::SignalKind::hangup());
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                crate::systemd::notify("RELOADING=1");
                info!("Reloading configuration file {}", options.config_path.display());
                match loader() {
                    Ok(plan) => {
                        if let Err(e) = apply_plan(&state, &netlink, plan).await {
                            error!("reload failed, keeping the running configuration: {e}");
                        }
                        release_free_memory();
                    }
                    Err(e) => error!("reload: new configuration rejected, keeping the running one: {e}"),
                }
                crate::systemd::notify("READY=1");
            }
        }
    }

    info!("Stopping");
    crate::systemd::notify("STOPPING=1");
    state.borrow_mut().shutdown_all();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let _ = state.borrow().jobs.send(Job::Flush(tx));
    let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
    let mut notifier = std::mem::take(&mut state.borrow_mut().notifier);
    notifier.drain().await;
    let _ = std::fs::remove_file(&options.control_socket);
    info!("Stopped");
    0
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

/// Starts the plan, or applies it over a running one: unchanged instances keep their
/// state and VIPs; changed ones restart; removed ones resign and remove their VIPs.
async fn apply_plan(
    state: &Rc<RefCell<State>>,
    netlink: &Netlink,
    plan: plan::Plan,
) -> Result<(), String> {
    // Resolve interfaces first (async), so that a bad plan changes nothing.
    let mut links = HashMap::new();
    for inst in &plan.instances {
        let ifname = inst.use_vmac.as_deref().unwrap_or(&inst.interface);
        if let Some(vmac) = &inst.use_vmac
            && netlink.link_by_name(vmac).await.is_err()
        {
            let parent = netlink
                .link_by_name(&inst.interface)
                .await
                .map_err(|e| format!("({}) interface {}: {e}", inst.name, inst.interface))?;
            let mac = virtual_mac(inst.core.vrid, inst.core.family());
            netlink
                .create_macvlan(parent.index, vmac, mac)
                .await
                .map_err(|e| format!("({}) creating {vmac}: {e}", inst.name))?;
            let vlink = netlink
                .link_by_name(vmac)
                .await
                .map_err(|e| e.to_string())?;
            let _ = netlink.set_link_up(vlink.index, true).await;
        }
        let link = netlink
            .link_by_name(ifname)
            .await
            .map_err(|e| format!("({}) interface {ifname}: {e}", inst.name))?;
        let primary = match inst.source {
            Some(a) => Some(a),
            None => netlink
                .primary_address(link.index, inst.core.family())
                .await
                .map_err(|e| e.to_string())?,
        };
        // VIPs left behind by a crash: removed unless we are about to be master.
        let owner = inst.core.priority == 255
            && inst.core.initial == vigil_core::machine::InitialState::Master;
        let running_unchanged = state.borrow().slots.iter().any(|s| s.plan == *inst);
        if !owner
            && !running_unchanged
            && let Ok(present) = netlink.addresses(link.index).await
        {
            for vip in inst.vips.iter().chain(&inst.excluded) {
                if vip.dev.is_none()
                    && Some(vip.addr) != primary
                    && present.iter().any(|a| a.addr == vip.addr)
                {
                    info!(
                        "({}) removing VIP {} left over from an earlier run",
                        inst.name, vip.addr
                    );
                    let _ = netlink
                        .del_address(link.index, vip.addr, vip.prefix_len)
                        .await;
                }
            }
        }
        links.insert(inst.name.clone(), (link, primary));
    }
    let mut dev_links = HashMap::new();
    for vip in plan
        .instances
        .iter()
        .flat_map(|i| i.vips.iter().chain(&i.excluded))
    {
        if let Some(dev) = &vip.dev
            && !dev_links.contains_key(dev)
        {
            let l = netlink
                .link_by_name(dev)
                .await
                .map_err(|e| format!("VIP {} dev {dev}: {e}", vip.addr))?;
            dev_links.insert(dev.clone(), l.index);
        }
    }
    let mut link_states = HashMap::new();
    for inst in &plan.instances {
        for (name, _) in &inst.track_interfaces {
            if let Ok(l) = netlink.link_by_name(name).await {
                link_states.insert(name.clone(), l.up);
            }
        }
    }
    let mut st = state.borrow_mut();
    st.install(plan, links, dev_links, link_states)
}

/// keepalived's `use_vmac` address: 00:00:5e:00:01:VRID (IPv4), 00:00:5e:00:02:VRID
/// (IPv6), RFC 5798 7.3.
pub fn virtual_mac(vrid: u8, family: Family) -> [u8; 6] {
    let f = match family {
        Family::V4 => 1,
        Family::V6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, f, vrid]
}

thread_local! {
    static DEV_INDEX: RefCell<HashMap<String, u32>> = RefCell::new(HashMap::new());
}

impl State {
    fn install(
        &mut self,
        plan: plan::Plan,
        links: HashMap<String, (crate::net::Link, Option<IpAddr>)>,
        dev_links: HashMap<String, u32>,
        link_states: HashMap<String, bool>,
    ) -> Result<(), String> {
        let now = now();
        DEV_INDEX.with(|d| d.borrow_mut().extend(dev_links));
        // Changed and removed instances resign first, while their slots still exist.
        for i in 0..self.slots.len() {
            let name = &self.slots[i].plan.name;
            match plan.instances.iter().find(|p| &p.name == name) {
                Some(p) if *p == self.slots[i].plan => continue,
                Some(_) => info!("({name}) configuration changed, restarting the instance"),
                None => info!("({name}) removed from the configuration, stopping it"),
            }
            let mut fx = Effects::new();
            self.cores[i].shutdown(now, &mut fx);
            self.apply_effects(i, &fx);
        }
        // Keep the unchanged ones, by name.
        let mut old: HashMap<String, (Slot, Instance<MAX_VIPS>)> = HashMap::new();
        for (slot, core) in std::mem::take(&mut self.slots)
            .into_iter()
            .zip(std::mem::take(&mut self.cores))
        {
            if core.state() != VrrpState::Initialize {
                old.insert(slot.plan.name.clone(), (slot, core));
            }
        }
        for t in self.tracker_tasks.drain(..) {
            t.abort();
        }
        for s in &mut self.sockets {
            s.vrids.clear();
        }
        self.scripts.clear();
        self.files.clear();
        self.processes.clear();
        self.interfaces.clear();
        for inst in &plan.instances {
            let (link, primary) = links[&inst.name].clone();
            let index = self.slots.len();
            let kept = old.remove(&inst.name);
            let is_kept = kept.is_some();
            let (slot, core) = match kept {
                Some(kept) => kept,
                None => {
                    let mut config = inst.core;
                    let Some(primary) = primary else {
                        return Err(format!(
                            "({}) no {} address on interface {}",
                            inst.name,
                            family_name(config.family()),
                            link.name
                        ));
                    };
                    config.primary = primary;
                    let vips = Vips::from_iter(config.family(), inst.vips.iter().map(|v| v.addr))
                        .map_err(|e| format!("({}) {e}", inst.name))?;
                    let core =
                        Instance::new(config, vips).map_err(|e| format!("({}) {e}", inst.name))?;
                    let mac = if inst.use_vmac.is_some() {
                        virtual_mac(config.vrid, config.family())
                    } else {
                        link.mac.unwrap_or([0; 6])
                    };
                    let slot = Slot {
                        plan: inst.clone(),
                        ifindex: link.index,
                        mac,
                        socket: 0,
                        trackers: Trackers::new(),
                        file_values: Vec::new(),
                        counters: Counters::default(),
                        group: None,
                    };
                    (slot, core)
                }
            };
            self.slots.push(slot);
            self.cores.push(core);
            self.attach_socket(index)?;
            self.attach_trackers(index, &link_states, is_kept)?;
        }
        // Sync groups.
        self.groups.clear();
        for s in &mut self.slots {
            s.group = None;
        }
        for c in &mut self.cores {
            c.set_sync_member(false);
        }
        for g in &plan.groups {
            let members: Vec<usize> = g
                .members
                .iter()
                .filter_map(|m| self.slots.iter().position(|s| &s.plan.name == m))
                .collect();
            let group = SyncGroup::new(&members, &mut self.cores)
                .map_err(|e| format!("vrrp_sync_group {}: {e}", g.name))?;
            let gi = self.groups.len();
            for &m in &members {
                self.slots[m].group = Some(gi);
            }
            self.groups.push(GroupSlot {
                plan: g.clone(),
                group,
            });
        }
        self.spawn_trackers(&plan);
        self.plan = plan;
        // Start whatever is new.
        for i in 0..self.cores.len() {
            if self.cores[i].state() == VrrpState::Initialize {
                let mut fx = Effects::new();
                self.cores[i].start(now, &mut fx);
                self.apply_effects(i, &fx);
            }
        }
        for g in 0..self.groups.len() {
            self.settle_group(g, now);
        }
        self.rearm();
        Ok(())
    }

    fn attach_socket(&mut self, index: usize) -> Result<(), String> {
        let slot = &self.slots[index];
        let unicast = !slot.plan.unicast_peers.is_empty();
        let group = (!unicast).then_some(slot.plan.mcast_group);
        let family = self.cores[index].config().family();
        let key = (slot.ifindex, group, family == Family::V6);
        let si = match self.socket_keys.get(&key) {
            Some(&si) => si,
            None => {
                let sock = match group {
                    Some(g) => VrrpSocket::multicast(slot.ifindex, g),
                    None => VrrpSocket::unicast(slot.ifindex, family),
                }
                .map_err(|e| {
                    format!(
                        "({}) VRRP socket on {}: {e}",
                        slot.plan.name, slot.plan.interface
                    )
                })?;
                let sock = Rc::new(sock);
                let si = self.sockets.len();
                self.sockets.push(Socket {
                    sock: sock.clone(),
                    vrids: Vec::new(),
                });
                self.socket_keys.insert(key, si);
                spawn_receiver(si, sock);
                si
            }
        };
        let vrid = self.cores[index].config().vrid;
        self.sockets[si].vrids.push((vrid, index));
        self.slots[index].socket = si;
        Ok(())
    }

    /// Registers the instance's trackers; a kept instance keeps their states, so a
    /// reload does not send a healthy master through FAULT while its scripts restart.
    fn attach_trackers(
        &mut self,
        index: usize,
        link_states: &HashMap<String, bool>,
        kept: bool,
    ) -> Result<(), String> {
        let now = now();
        let mut trackers = Trackers::<MAX_TRACKERS>::new();
        let mut files = Vec::new();
        let plan = self.slots[index].plan.clone();
        let cap = |e: vigil_core::priority::CapacityError| format!("({}) {e}", plan.name);
        let mut ifaces: Vec<(String, Weight)> = plan.track_interfaces.clone();
        if plan.track_own_interface {
            ifaces.push((plan.interface.clone(), Weight::FAULT));
        }
        for (name, w) in &ifaces {
            let up = link_states.get(name).copied().or(Some(true));
            let id = trackers.add(*w, up).map_err(cap)?;
            self.interfaces
                .entry(name.clone())
                .or_default()
                .users
                .push((index, id));
        }
        for (name, w) in &plan.track_scripts {
            let id = trackers.add(*w, None).map_err(cap)?;
            self.scripts
                .entry(name.clone())
                .or_default()
                .users
                .push((index, id));
        }
        for (name, w) in &plan.track_processes {
            let id = trackers.add(*w, None).map_err(cap)?;
            self.processes
                .entry(name.clone())
                .or_default()
                .users
                .push((index, id));
        }
        for (name, w) in &plan.track_files {
            let id = files.len();
            files.push((id, *w, 0));
            self.files
                .entry(name.clone())
                .or_default()
                .users
                .push((index, id));
        }
        let slot = &mut self.slots[index];
        if kept {
            return Ok(());
        }
        slot.trackers = trackers;
        slot.file_values = files;
        let status = slot.status();
        let mut fx = Effects::new();
        self.cores[index].set_tracking(now, status, &mut fx);
        self.apply_effects(index, &fx);
        Ok(())
    }

    fn spawn_trackers(&mut self, plan: &plan::Plan) {
        let mut next = self.next_tracker;
        let mut ids = HashMap::new();
        for s in &plan.scripts {
            if !self.scripts.contains_key(&s.name) {
                continue;
            }
            let index = next;
            next += 1;
            ids.insert(index, ("script", s.name.clone()));
            let script = track::Script {
                name: s.name.clone(),
                args: s.argv.clone(),
                interval: s.interval,
                timeout: s.timeout,
                rise: s.rise,
                fall: s.fall,
                init_fail: s.init_fail,
                run_as: s.run_as,
            };
            self.tracker_tasks
                .push(tokio::task::spawn_local(track::run_script(
                    index,
                    script,
                    self.reports.clone(),
                )));
        }
        for f in &plan.files {
            if !self.files.contains_key(&f.name) {
                continue;
            }
            let index = next;
            next += 1;
            ids.insert(index, ("file", f.name.clone()));
            self.tracker_tasks
                .push(tokio::task::spawn_local(track::watch_file(
                    index,
                    f.path.clone(),
                    Duration::from_secs(1),
                    self.reports.clone(),
                )));
        }
        for p in &plan.processes {
            if !self.processes.contains_key(&p.name) {
                continue;
            }
            let index = next;
            next += 1;
            ids.insert(index, ("process", p.name.clone()));
            self.tracker_tasks
                .push(tokio::task::spawn_local(track::watch_process(
                    index,
                    p.process.clone(),
                    p.quorum,
                    Duration::from_secs(1),
                    self.reports.clone(),
                )));
        }
        self.next_tracker = next;
        TRACKER_IDS.with(|t| *t.borrow_mut() = ids);
    }

    fn on_report(&mut self, r: Report) {
        let Some((kind, name)) = TRACKER_IDS.with(|t| t.borrow().get(&r.index).cloned()) else {
            return;
        };
        let users = match kind {
            "script" => self.scripts.get(&name),
            "file" => self.files.get(&name),
            _ => self.processes.get(&name),
        }
        .cloned()
        .unwrap_or_default();
        for (slot, id) in users.users {
            match r.state {
                TrackerState::Up(up) => {
                    self.slots[slot].trackers.set(id, up);
                }
                TrackerState::Value(v) => {
                    if let Some(f) = self.slots[slot].file_values.iter_mut().find(|f| f.0 == id) {
                        f.2 = v;
                    }
                }
            }
            self.retrack(slot);
        }
    }

    fn on_link(&mut self, name: &str, up: bool) {
        let Some(users) = self.interfaces.get(name).cloned() else {
            return;
        };
        for (slot, id) in users.users {
            if self.slots[slot].trackers.set(id, up) {
                info!(
                    "({}) tracked interface {name} is {}",
                    self.slots[slot].plan.name,
                    if up { "up" } else { "down" }
                );
                self.retrack(slot);
            }
        }
    }

    fn retrack(&mut self, slot: usize) {
        let status = self.slots[slot].status();
        let mut fx = Effects::new();
        self.cores[slot].set_tracking(now(), status, &mut fx);
        self.apply_effects(slot, &fx);
        self.rearm();
    }

    fn next_deadline(&self) -> Option<vigil_core::Instant> {
        self.cores.iter().filter_map(Instance::poll_at).min()
    }

    fn on_timers(&mut self, now: vigil_core::Instant) {
        for i in 0..self.cores.len() {
            if self.cores[i].poll_at().is_some_and(|t| t <= now) {
                let mut fx = Effects::new();
                self.cores[i].on_timeout(now, &mut fx);
                self.apply_effects(i, &fx);
                if let Some(g) = self.slots[i].group {
                    self.settle_group(g, now);
                }
            }
        }
    }

    /// The packet path: find the instance by VRID, parse with its checksum mode, hand
    /// the advert to the core. Allocates nothing.
    fn on_packet(&mut self, socket: usize, rx: &crate::net::Received<'_>) {
        let Some(&vrid) = rx.payload.get(1) else {
            self.drop_global("truncated");
            return;
        };
        // A multicast socket also hears unicast adverts to this host, and the reverse.
        let group = self.sockets[socket].sock.group();
        if group.map_or(rx.dst.is_multicast(), |g| rx.dst != g) {
            self.drop_global("wrong_destination");
            return;
        }
        let Some(&(_, slot)) = self.sockets[socket].vrids.iter().find(|(v, _)| *v == vrid) else {
            self.drop_global("unknown_vrid");
            return;
        };
        let mode = self.cores[slot].config().checksum;
        let repr = match Repr::parse(rx.payload, &rx.meta(), mode) {
            Ok(r) => r,
            Err(e) => {
                self.slots[slot].counters.drop(wire_error_name(&e));
                return;
            }
        };
        let now = now();
        let mut fx = Effects::new();
        let before = self.cores[slot].state();
        let theirs = repr.priority;
        let ours = self.cores[slot].effective_priority();
        match self.cores[slot].on_advert(now, &repr, rx.src, &mut fx) {
            Ok(()) => {
                // Counted once accepted: every packet lands in exactly one counter
                // (a drop reason or these), and a forged priority-0 advert with the
                // wrong password does not show as a resignation.
                let counters = &mut self.slots[slot].counters;
                counters.adverts_rx += 1;
                if theirs == 0 {
                    counters.priority_zero_rx += 1;
                }
                if before == VrrpState::Master && theirs != 0 {
                    let name = &self.slots[slot].plan.name;
                    if theirs < ours {
                        debug!(
                            "({name}) Received advert from {} with lower priority {theirs}, ours {ours}",
                            rx.src
                        );
                    } else {
                        info!(
                            "({name}) Master received advert from {} with higher priority {theirs}, ours {ours}",
                            rx.src
                        );
                    }
                }
            }
            Err(d) => self.slots[slot].counters.drop(d.as_str()),
        }
        if !fx.is_empty() {
            self.apply_effects(slot, &fx);
            if let Some(g) = self.slots[slot].group {
                self.settle_group(g, now);
            }
        }
        // The receiver re-arms the timer once per burst, not here per packet.
    }

    /// Points the timer at the earliest deadline, if that moved: one syscall, and no
    /// wake-up for a deadline that an advert has pushed back.
    fn rearm(&mut self) {
        let next = self.next_deadline();
        if next == self.armed {
            return;
        }
        let after =
            next.map(|t| Duration::from_micros(t.as_micros().saturating_sub(now().as_micros())));
        match self.timer.arm(after) {
            Ok(()) => self.armed = next,
            Err(e) => error!("deadline timer: {e}"),
        }
    }

    /// Whether a backup's master-down timer (or any deadline outside MASTER) is due.
    fn backup_due(&self, now: vigil_core::Instant) -> bool {
        self.cores
            .iter()
            .any(|c| c.state() != VrrpState::Master && c.poll_at().is_some_and(|t| t <= now))
    }

    /// Handles every advert already queued on any socket, without waiting.
    fn drain_sockets(&mut self) {
        let mut buf = [0u8; RX_BUF];
        for si in 0..self.sockets.len() {
            let sock = self.sockets[si].sock.clone();
            for _ in 0..RX_BURST {
                match sock.try_recv(&mut buf) {
                    Ok(rx) => self.on_packet(si, &rx),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        self.drop_global("malformed")
                    }
                    Err(_) => break,
                }
            }
        }
    }

    fn drop_global(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
    }

    fn settle_group(&mut self, g: usize, now: vigil_core::Instant) {
        let before = self.groups[g].group.state();
        let mut pending: Vec<(usize, Effect)> = Vec::new();
        self.groups[g]
            .group
            .settle(&mut self.cores, now, &mut |i, e| pending.push((i, e)));
        for (i, e) in pending {
            self.apply_effects(i, &[e]);
        }
        let after = self.groups[g].group.state();
        if before != after
            && matches!(
                after,
                VrrpState::Master | VrrpState::Backup | VrrpState::Fault
            )
        {
            let gs = &self.groups[g];
            info!(
                "VRRP_Group({}) Syncing instances to {} state",
                gs.plan.name,
                after.as_str()
            );
            let scripts = gs.plan.notify.clone();
            let name = gs.plan.name.clone();
            self.notifier
                .notify(notify::Kind::Group, &name, &scripts, after.as_str(), 0);
        }
        self.rearm();
    }

    /// Carries out the core's effects: adverts now, VIP work in order on the netlink
    /// task, logs and notify scripts.
    fn apply_effects(&mut self, i: usize, effects: &[Effect]) {
        for e in effects {
            match *e {
                Effect::SendAdvert { priority } => self.send_advert(i, priority),
                Effect::AddVips | Effect::RemoveVips => {
                    let _ = self.jobs.send(Job::Vips {
                        add: *e == Effect::AddVips,
                        name: self.slots[i].plan.name.clone(),
                        work: self.slots[i].vip_work(),
                    });
                }
                Effect::Announce { count, spacing } => {
                    let slot = &self.slots[i];
                    let _ = self.jobs.send(Job::Announce {
                        name: slot.plan.name.clone(),
                        mac: slot.mac,
                        work: slot.vip_work(),
                        count,
                        spacing: Duration::from_micros(spacing.as_micros()),
                    });
                }
                Effect::StateChanged { from, to, reason } => {
                    let name = self.slots[i].plan.name.clone();
                    match to {
                        VrrpState::Initialize => {}
                        _ => info!(
                            "({name}) Entering {} STATE ({})",
                            to.as_str(),
                            reason.as_str()
                        ),
                    }
                    let c = &mut self.slots[i].counters;
                    if to == VrrpState::Master {
                        c.became_master += 1;
                    }
                    if from == VrrpState::Master {
                        c.left_master += 1;
                    }
                    let state = if to == VrrpState::Initialize {
                        "STOP"
                    } else {
                        to.as_str()
                    };
                    let prio = self.cores[i].effective_priority();
                    let scripts = self.slots[i].plan.notify.clone();
                    self.notifier
                        .notify(notify::Kind::Instance, &name, &scripts, state, prio);
                }
                Effect::PriorityChanged { from, to } => {
                    info!(
                        "({}) Changing effective priority from {from} to {to}",
                        self.slots[i].plan.name
                    );
                }
            }
        }
    }

    fn send_advert(&mut self, i: usize, priority: u8) {
        let slot = &self.slots[i];
        let core = &self.cores[i];
        let sock = self.sockets[slot.socket].sock.clone();
        let src = core.config().primary;
        let dsts: &[IpAddr] = if slot.plan.unicast_peers.is_empty() {
            std::slice::from_ref(&slot.plan.mcast_group)
        } else {
            &slot.plan.unicast_peers
        };
        for &dst in dsts {
            // The v3 checksum covers the destination: emit per destination.
            match core.emit_advert(priority, &mut self.tx_buf, dst) {
                Ok(n) => {
                    if let Err(e) = sock.try_send(&self.tx_buf[..n], src, dst) {
                        debug!("({}) sending advert to {dst}: {e}", slot.plan.name);
                    }
                }
                Err(e) => error!("({}) cannot build advert: {e}", slot.plan.name),
            }
        }
        let c = &mut self.slots[i].counters;
        c.adverts_tx += 1;
        if priority == 0 {
            c.priority_zero_tx += 1;
        }
    }

    fn shutdown_all(&mut self) {
        let now = now();
        for i in 0..self.cores.len() {
            let mut fx = Effects::new();
            self.cores[i].shutdown(now, &mut fx);
            self.apply_effects(i, &fx);
        }
    }

    fn status(&self) -> Status {
        let now = now();
        let ms = |d: vigil_core::Duration| d.as_millis();
        Status {
            version: env!("CARGO_PKG_VERSION"),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            config: self.config_path.clone(),
            instances: self
                .slots
                .iter()
                .zip(&self.cores)
                .map(|(s, c)| InstanceStatus {
                    name: s.plan.name.clone(),
                    interface: s.plan.interface.clone(),
                    vrid: c.config().vrid,
                    version: c.config().version.number(),
                    state: c.state().as_str(),
                    base_priority: c.config().priority,
                    effective_priority: c.effective_priority(),
                    master: c.master().map(|m| m.to_string()),
                    advert_interval_ms: c.config().interval.micros() / 1000,
                    master_advert_interval_ms: c.master_adver_int().micros() / 1000,
                    master_down_interval_ms: ms(c.master_down_interval()),
                    next_deadline_ms: c.poll_at().map(|t| if t > now { ms(t - now) } else { 0 }),
                    vips: s
                        .plan
                        .vips
                        .iter()
                        .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                        .collect(),
                    counters: s.counters.clone(),
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupStatus {
                    name: g.plan.name.clone(),
                    state: g.group.state().as_str(),
                    members: g.plan.members.clone(),
                })
                .collect(),
            drops: self.drops.clone(),
        }
    }
}

thread_local! {
    static TRACKER_IDS: RefCell<HashMap<usize, (&'static str, String)>> = RefCell::new(HashMap::new());
    static STATE: RefCell<Option<Rc<RefCell<State>>>> = const { RefCell::new(None) };
}

impl Slot {
    /// Boolean trackers plus `track_file` values (value x weight, keepalived's rules).
    fn status(&self) -> TrackStatus {
        let mut s = self.trackers.status();
        for &(_, w, v) in &self.file_values {
            let mult: i64 = if w.reverse { -1 } else { 1 };
            if w.weight == 0 {
                if (v != 0) != w.reverse {
                    s.faults += 1;
                }
                continue;
            }
            let value = (v * i64::from(w.weight) * mult).clamp(-254, 253);
            if value <= -254 {
                s.faults += 1;
            } else {
                s.adjust += value as i32;
            }
        }
        s
    }
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::V4 => "IPv4",
        Family::V6 => "IPv6",
    }
}

fn wire_error_name(e: &wire::Error) -> &'static str {
    use wire::Error as E;
    match e {
        E::Truncated => "truncated",
        E::Version(_) => "version",
        E::Type(_) => "type",
        E::V2OverIpv6 => "v2_over_ipv6",
        E::Length { .. } => "length",
        E::Ttl(_) => "ttl",
        E::Checksum { .. } => "checksum",
        E::AuthAh => "auth_ah",
        E::AuthType(_) => "auth_type",
        E::AuthMismatch { .. } => "auth_mismatch",
        E::Password => "password",
        E::IntervalZero => "interval_zero",
        E::FamilyMismatch => "family",
        E::IntervalRange | E::TooManyAddresses | E::BufferTooSmall => "other",
    }
}

/// The receive buffer of the deadline path's drain.
const RX_BUF: usize = RecvBatch::BUF;

/// Packets handled per wake-up before other tasks get their turn.
const RX_BURST: usize = 64;

/// Receive coalescing. A socket that delivers bursts back to back (a flood, or hundreds
/// of instances on one interface) is read at most once per `RX_PAUSE`: the packets wait
/// in the socket buffer and one wake-up handles them all, as a NIC moderates its
/// interrupts. A LAN of a few routers never triggers it. Lateness is bounded by the
/// pause, far below any VRRP timer (the smallest, a v3 skew time, is tens of ms), and
/// the timer task reads every socket before acting on a deadline, so a queued advert
/// always counts before the master-down timer.
const RX_PAUSE: Duration = Duration::from_millis(1);

/// A wake-up this soon after the previous one means packets are arriving back to back.
const RX_BUSY_GAP: Duration = Duration::from_millis(1);

/// The receive task of one socket: buffers of its own, reused for every packet, and
/// every queued packet handled per wake-up.
fn spawn_receiver(index: usize, sock: Rc<VrrpSocket>) {
    let state = STATE.with(|s| s.borrow().clone());
    let Some(state) = state else {
        return;
    };
    tokio::task::spawn_local(async move {
        let mut batch = RecvBatch::new();
        let mut previous: Option<std::time::Instant> = None;
        loop {
            let mut handled = 0usize;
            let burst = sock
                .recv_burst(&mut batch, RX_BURST, |rx| {
                    handled += 1;
                    let mut state = state.borrow_mut();
                    match rx {
                        Ok(rx) => state.on_packet(index, &rx),
                        // A packet that cannot be an advert (larger than the buffer, a
                        // malformed header): count it and go on. Sleeping here would let
                        // anyone on the LAN stall the receiver, and a backup that misses
                        // the master's adverts takes over.
                        Err(_) => state.drop_global("malformed"),
                    }
                })
                .await;
            state.borrow_mut().rearm();
            if let Err(e) = burst {
                warn!("receive error on VRRP socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let woke = std::time::Instant::now();
            let busy = handled > 1 || previous.is_some_and(|p| woke - p < RX_BUSY_GAP);
            previous = Some(woke);
            if busy {
                sock.pause(RX_PAUSE).await;
            }
        }
    });
}

/// Carries out VIP work in order, and announcements after the VIPs are in place.
async fn netlink_task(
    netlink: Netlink,
    announcer: Rc<Announcer>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Flush(tx) => {
                let _ = tx.send(());
            }
            Job::Vips { add, name, work } => {
                for (ifindex, spec) in work {
                    let r = if add {
                        netlink.add_address(ifindex, &spec).await
                    } else {
                        netlink
                            .del_address(ifindex, spec.addr, spec.prefix_len)
                            .await
                    };
                    if let Err(e) = r {
                        let verb = if add { "adding" } else { "removing" };
                        error!("({name}) {verb} VIP {}: {e}", spec.addr);
                    }
                }
            }
            Job::Announce {
                name,
                mac,
                work,
                count,
                spacing,
            } => {
                let announcer = announcer.clone();
                let send = async move {
                    for n in 0..count {
                        if n > 0 && !spacing.is_zero() {
                            tokio::time::sleep(spacing).await;
                        }
                        for (ifindex, spec) in &work {
                            let r = match spec.addr {
                                IpAddr::V4(a) => announcer.send_garp(*ifindex, mac, a).await,
                                IpAddr::V6(a) => announcer.send_na(*ifindex, mac, a, true).await,
                            };
                            if let Err(e) = r {
                                debug!("({name}) announcing {}: {e}", spec.addr);
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

impl Slot {
    /// The addresses this instance installs (VIPs and excluded ones) with their
    /// interfaces.
    fn vip_work(&self) -> VipWork {
        self.plan
            .vips
            .iter()
            .chain(&self.plan.excluded)
            .map(|v| {
                let ifindex = v
                    .dev
                    .as_ref()
                    .and_then(|d| DEV_INDEX.with(|m| m.borrow().get(d).copied()))
                    .unwrap_or(self.ifindex);
                let spec = AddressSpec {
                    addr: v.addr,
                    prefix_len: v.prefix_len,
                    label: v.label.clone(),
                    scope: v.scope.unwrap_or(Scope::GLOBAL),
                    broadcast: v.broadcast,
                };
                (ifindex, spec)
            })
            .collect()
    }
}

/// `vigild -t`: nothing to run; kept here so the binary stays thin.
pub fn script_user_or_root(user: Option<&str>) -> RunAs {
    match user {
        Some(u) => RunAs::lookup(u, None).unwrap_or_else(|e| {
            warn!("script_user: {e}; running scripts as root");
            RunAs::ROOT
        }),
        None => RunAs::ROOT,
    }
}

/// Used by `main` to render `vigild status` without the daemon's types.
pub fn query_status(path: &Path, json: bool) -> std::io::Result<String> {
    control::query(path, if json { "status json" } else { "status" })
}
