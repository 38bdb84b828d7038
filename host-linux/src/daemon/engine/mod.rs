//! The protocol side of the daemon: the core [`Router`] with every instance and sync
//! group, the VRRP sockets, trackers' effect on priorities and counters. It lives on
//! the protocol thread ([`super::reactor`]) and never waits: packets and deadlines go
//! into the router, and what it hands out is carried out at once (adverts, VIPs as a
//! synchronous netlink request, announcements); slower work (spaced announcements,
//! notify scripts) is handed to the service thread as [`Job`]s and [`Note`]s.
//!
//! - [`packet`]: the packet path, sockets to router, drops counted and logged;
//! - [`reconcile`]: installing a (re)loaded plan over the running one;
//! - [`trackers`]: which instance uses which tracker;
//! - [`sockets`]: the VRRP sockets, their filters and kernel counters;
//! - here: carrying out the router's outputs, timers, shutdown and status.

mod ah;
mod packet;
mod reconcile;
mod routes;
pub(super) use routes::virtual_work;
mod sockets;
mod trackers;

pub use reconcile::{InstallError, Resolved, Spawn};
pub use sockets::Socket;

use super::drops::DropLog;
use super::plan;
use super::{Job, Note, VipWork, now};
use crate::control::{
    AddressStatus, Counters, DumpFacts, GroupStatus, InstanceDumpFacts, InstanceStatus, Status,
};
use crate::net::{AddressSocket, AddressSpec, Announcer, DeadlineTimer, Scope, SendBatch};
use crate::notify;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use vigil_core::machine::{MAX_VIPS, State as VrrpState};
use vigil_core::priority::Trackers;
use vigil_core::router::{Cause, Event, Output, Router, Transmit};

/// Instances vigild runs at most (keepalived has no such limit; 255 VRIDs per
/// interface and family make more than this rare). A router of this capacity
/// reserves about a megabyte of address space, of which only what instances use
/// becomes resident.
pub const MAX_INSTANCES: usize = 1024;
/// Unicast peers per instance.
pub const MAX_PEERS: usize = 16;
/// Trackers per instance (scripts, interfaces, files, processes together).
pub const MAX_TRACKERS: usize = 32;

/// Packets handled per socket per turn of the loop before timers and the other sockets
/// get their turn (then the socket is read again at once): about a millisecond of work.
pub const RX_TURN: usize = 1024;

type VrrpRouter = Router<MAX_INSTANCES, MAX_VIPS, MAX_PEERS>;

/// The router lives in a static: its constant initial value is all zero, so it sits in
/// `.bss` and only the pages instances use become resident (built on the heap it
/// would pass through the protocol thread's small stack, and touch every page).
static ROUTER: std::sync::Mutex<VrrpRouter> = std::sync::Mutex::new(VrrpRouter::new());

/// What the daemon keeps beside each router instance (same index).
struct Slot {
    plan: plan::Instance,
    ifindex: u32,
    mac: [u8; 6],
    /// The socket index, which is also the instance's router channel.
    socket: usize,
    trackers: Trackers<MAX_TRACKERS>,
    counters: Counters,
    /// The socket's overflow count when the last advert this instance accepted was
    /// queued: more at the master-down deadline means an advert may have been lost.
    kernel_drops_seen: u32,
    /// The master-down timer was already deferred once for an overflow since then.
    deferred: bool,
    /// For keepalived's dumps: when the state last changed, and the priority of the
    /// master's last accepted advert.
    last_transition: std::time::SystemTime,
    master_priority: u8,
    /// `auth_type AH`: the sequence counter and IP identification.
    ah: ah::AhState,
    /// The tracked virtual routes and rules a master installed, by what identifies
    /// their deletion, with their names for the log.
    watched: Vec<(crate::net::routes::Identity, String)>,
    /// A reload removed the instance (or changed its identity): it is stopping, and
    /// notifies as keepalived's `clear_diff_vrrp` does, not STOP.
    deleted: bool,
    /// `garp_extra_if`: when a master next announces its VIPs on their other
    /// interfaces (checked as it sends an advert, as keepalived does).
    extra_garp_at: Option<std::time::Instant>,
}

pub struct Engine {
    config_path: String,
    started: std::time::Instant,
    /// Held for the engine's life: one engine per process.
    router: std::sync::MutexGuard<'static, VrrpRouter>,
    slots: Vec<Slot>,
    /// Sync groups by router group index.
    groups: Vec<plan::Group>,
    /// Opened on demand and never closed (a reload may bring an interface back); the
    /// reactor registers each new one in its epoll set.
    pub sockets: Vec<Socket>,
    socket_keys: HashMap<sockets::SocketKey, usize>,
    trackers: trackers::Registry,
    /// `dev` of VIPs: interface name → index.
    dev_index: HashMap<String, u32>,
    /// `dev` of VIPs: interface index → MAC.
    dev_mac: HashMap<u32, [u8; 6]>,
    drops: BTreeMap<&'static str, u64>,
    /// For keepalived's dumps: each `vrrp_script`'s last result, by name.
    script_results: BTreeMap<String, bool>,
    /// Drops in the log, rate-limited.
    drop_log: DropLog,
    /// eBPF socket filters were refused here: no more attempts (the warning is
    /// logged once).
    filters_refused: bool,
    jobs: UnboundedSender<Job>,
    notes: UnboundedSender<Note>,
    /// Fires at the earliest deadline of any instance; `armed` is what it is set to.
    pub timer: DeadlineTimer,
    /// Sends gratuitous ARPs and neighbour advertisements (all but the spaced ones,
    /// `vrrp_garp_interval`, which the service thread times).
    announcer: Announcer,
    /// Adds and removes VIPs, synchronously: a takeover does not wait for another
    /// thread.
    addresses: AddressSocket,
    /// Adds and removes `virtual_routes` and `virtual_rules` after the VIPs (`None`:
    /// the socket could not be opened, logged once).
    routes: Option<crate::net::routes::RouteSocket>,
    /// Routes and rules this engine deleted itself, and when: their deletion
    /// notifications are not somebody else's.
    own_deletions: Vec<(crate::net::routes::Identity, std::time::Instant)>,
    armed: Option<vigil_core::Instant>,
    tx_buf: [u8; 1500],
    /// Adverts waiting for one `sendmmsg`, all for `batch_socket`, from these instances.
    tx_batch: SendBatch,
    batch_socket: Option<usize>,
    batch_from: Vec<usize>,
    /// Backups whose master-down (or skew) deadline is being run, with that deadline:
    /// a takeover among them is timed from it to its VIPs installed.
    due: Vec<(usize, vigil_core::Instant)>,
    failover_latency: crate::metrics::Histogram,
    /// Notes queued while [`Engine::drain`] runs, each with whether it is an
    /// instance's first state after Initialize.
    held_notes: Option<Vec<(Note, bool)>>,
}

impl Engine {
    pub fn new(
        config_path: String,
        jobs: UnboundedSender<Job>,
        notes: UnboundedSender<Note>,
        timer: DeadlineTimer,
        announcer: Announcer,
        addresses: AddressSocket,
    ) -> Self {
        Engine {
            config_path,
            started: std::time::Instant::now(),
            router: ROUTER.try_lock().expect("one protocol engine per process"),
            slots: Vec::new(),
            groups: Vec::new(),
            sockets: Vec::new(),
            socket_keys: HashMap::new(),
            trackers: trackers::Registry::default(),
            dev_index: HashMap::new(),
            dev_mac: HashMap::new(),
            drops: BTreeMap::new(),
            script_results: BTreeMap::new(),
            drop_log: DropLog::starting(std::time::Instant::now()),
            filters_refused: false,
            jobs,
            notes,
            timer,
            announcer,
            addresses,
            routes: routes::open_socket(),
            own_deletions: Vec::new(),
            armed: None,
            tx_buf: [0; 1500],
            tx_batch: SendBatch::new(),
            batch_socket: None,
            batch_from: Vec::with_capacity(SendBatch::LEN),
            due: Vec::new(),
            failover_latency: crate::metrics::failover_histogram(),
            held_notes: None,
        }
    }

    /// Carries out what the router hands out: every advert first (a takeover or a
    /// resignation is only as fast as its advert), then VIPs, announcements, logs and
    /// notify requests.
    fn drain(&mut self) {
        while let Some(t) = self.router.poll_transmit(&mut self.tx_buf) {
            self.transmit(t);
        }
        self.flush();
        // Notes are held until the end, so that a sync group's can go before its
        // members' where keepalived sends it first.
        let outermost = self.held_notes.is_none();
        if outermost {
            self.held_notes = Some(Vec::new());
        }
        while let Some(out) = self.router.poll_event() {
            match out {
                Output::Instance { instance, event } => self.carry_out(instance, event),
                Output::Group { group, state } => self.group_changed(group, state),
            }
        }
        if outermost {
            for (note, _) in self.held_notes.take().unwrap_or_default() {
                let _ = self.notes.send(note);
            }
        }
    }

    /// Queues an advert: adverts for one socket that are due together leave in one
    /// `sendmmsg` (at 1,000 instances, a thousand adverts leave on the same wake-up).
    fn transmit(&mut self, t: Transmit) {
        let slot = &mut self.slots[t.instance];
        if t.first {
            slot.counters.adverts_tx += 1;
            if t.priority == 0 {
                slot.counters.priority_zero_tx += 1;
            }
        }
        if t.first
            && t.priority != 0
            && let Some(at) = slot.extra_garp_at
            && let Some(every) = slot.plan.garp_extra_if
        {
            let now = std::time::Instant::now();
            if now >= at {
                slot.extra_garp_at = Some(now + every);
                self.announce_extra(t.instance);
            }
        }
        let slot = &mut self.slots[t.instance];
        let socket = slot.socket;
        let mut n = match t.len {
            Ok(n) => n,
            Err(e) => {
                error!("({}) cannot build advert: {e}", slot.plan.name);
                return;
            }
        };
        if self.sockets[socket].sock.is_ah() {
            match self.seal_ah(t.instance, n, t.src, t.dst) {
                Some(total) => n = total,
                None => {
                    let name = &self.slots[t.instance].plan.name;
                    error!("({name}) cannot build the IPSEC-AH advert");
                    return;
                }
            }
        }
        if self.batch_socket != Some(socket) || self.tx_batch.is_full() {
            self.flush();
            self.batch_socket = Some(socket);
        }
        let ttl = self.slots[t.instance].plan.unicast_ttl;
        self.tx_batch
            .push_with_ttl(&self.tx_buf[..n], t.src, t.dst, ttl);
        self.batch_from.push(t.instance);
    }

    /// Sends the queued adverts.
    fn flush(&mut self) {
        let Some(si) = self.batch_socket.take() else {
            return;
        };
        let sock = &self.sockets[si].sock;
        let n = self.tx_batch.len();
        let sent = sock.send_batch(&mut self.tx_batch);
        let (from, error) = match sent {
            Ok(k) if k >= n => (n, None),
            Ok(k) => (k, None),
            Err(e) => (0, Some(e)),
        };
        for k in from..n {
            let (_, _, dst) = self.tx_batch.message(k).expect("queued");
            let name = &self.slots[self.batch_from[k]].plan.name;
            match &error {
                Some(e) => debug!("({name}) sending advert to {dst}: {e}"),
                None => debug!("({name}) sending advert to {dst}: not taken by the socket"),
            }
        }
        self.tx_batch.clear();
        self.batch_from.clear();
    }

    fn carry_out(&mut self, i: usize, event: Event) {
        match event {
            Event::AddVips | Event::RemoveVips => {
                let add = event == Event::AddVips;
                // keepalived removes rules, then routes, then addresses.
                if !add {
                    self.carry_out_routes(i, false);
                }
                for (ifindex, spec) in self.vip_work(i) {
                    let r = if add {
                        self.addresses.add(ifindex, &spec)
                    } else {
                        self.addresses.del(ifindex, spec.addr, spec.prefix_len)
                    };
                    if let Err(e) = r {
                        let verb = if add { "adding" } else { "removing" };
                        error!(
                            "({}) {verb} VIP {}: {e}",
                            self.slots[i].plan.name, spec.addr
                        );
                    }
                }
                if add && let Some(k) = self.due.iter().position(|&(d, _)| d == i) {
                    let (_, deadline) = self.due.swap_remove(k);
                    let took = now().as_micros().saturating_sub(deadline.as_micros());
                    self.failover_latency.observe(took as f64 / 1e6);
                }
                // keepalived adds addresses, then routes, then rules.
                if add {
                    self.carry_out_routes(i, true);
                }
            }
            Event::Announce { count, spacing } => self.announce(i, count, spacing),
            Event::StateChanged {
                from,
                to,
                reason,
                cause,
            } => {
                let name = self.slots[i].plan.name.clone();
                if let Cause::Advert {
                    from: peer,
                    priority,
                    ours,
                } = cause
                    && from == VrrpState::Master
                    && to == VrrpState::Backup
                {
                    if cause.won_on_address() {
                        info!(
                            "({name}) Master received advert from {peer} with same priority {priority} but higher IP address than ours"
                        );
                    } else {
                        info!(
                            "({name}) Master received advert from {peer} with higher priority {priority}, ours {ours}"
                        );
                    }
                }
                if to != VrrpState::Initialize {
                    info!(
                        "({name}) Entering {} STATE ({})",
                        to.as_str(),
                        reason.as_str()
                    );
                }
                self.slots[i].last_transition = std::time::SystemTime::now();
                self.slots[i].extra_garp_at = match (to, self.slots[i].plan.garp_extra_if) {
                    (VrrpState::Master, Some(every)) => Some(std::time::Instant::now() + every),
                    _ => None,
                };
                let c = &mut self.slots[i].counters;
                *c.transitions
                    .entry(to.as_str())
                    .or_default()
                    .entry(crate::metrics::reason_label(reason))
                    .or_default() += 1;
                if to == VrrpState::Master {
                    c.became_master += 1;
                }
                if from == VrrpState::Master {
                    c.left_master += 1;
                }
                if reason == vigil_core::machine::Reason::Waiting {
                    // keepalived's vrrp_init_state: FAULT without notify while a
                    // script has not reported (docs/scripts-and-trackers.md).
                    return;
                }
                let state = match to {
                    VrrpState::Initialize if self.slots[i].deleted => {
                        // keepalived: DELETED with `notify_deleted`, else FAULT as it
                        // always did, except for an instance already in FAULT.
                        if self.slots[i].plan.notify_deleted {
                            "DELETED"
                        } else if from == VrrpState::Fault {
                            return;
                        } else {
                            "FAULT"
                        }
                    }
                    VrrpState::Initialize => "STOP",
                    _ => to.as_str(),
                };
                let prio = self
                    .router
                    .instance(i)
                    .map_or(0, |x| x.effective_priority());
                let mut scripts = self.slots[i].plan.notify.clone();
                let leaving_init = from == VrrpState::Initialize;
                if state == "FAULT" && to == VrrpState::Initialize {
                    // keepalived picks the state's script before it turns DELETED into
                    // FAULT: the generic script alone runs.
                    scripts = notify::Scripts {
                        any: scripts.any,
                        ..Default::default()
                    };
                }
                self.note_from(
                    notify::Kind::Instance,
                    name,
                    scripts,
                    state,
                    prio,
                    leaving_init,
                );
            }
            Event::PriorityChanged { from, to } => {
                let name = &self.slots[i].plan.name;
                info!("({name}) Changing effective priority from {from} to {to}");
                // keepalived (`send_instance_priority_notifies`): a FIFO line only.
                if self.slots[i].plan.notify_priority_changes {
                    let master = self
                        .router
                        .instance(i)
                        .is_some_and(|x| x.state() == VrrpState::Master);
                    let state = if master {
                        "MASTER_PRIORITY"
                    } else {
                        "BACKUP_PRIORITY"
                    };
                    self.note(
                        notify::Kind::Instance,
                        name.clone(),
                        notify::Scripts::default(),
                        state,
                        to,
                    );
                }
            }
        }
    }

    /// Gratuitous ARPs / unsolicited NAs for instance `i`'s VIPs, each from the MAC of
    /// the interface its VIP is on; spaced ones on the service thread.
    fn announce(&mut self, i: usize, count: u8, spacing: vigil_core::Duration) {
        let slot = &self.slots[i];
        let work = self
            .vip_work(i)
            .into_iter()
            .map(|(ifindex, spec)| {
                let mac = if ifindex == slot.ifindex {
                    slot.mac
                } else {
                    self.dev_mac.get(&ifindex).copied().unwrap_or(slot.mac)
                };
                (ifindex, mac, spec.addr)
            })
            .collect::<Vec<_>>();
        if spacing.as_micros() != 0 {
            let _ = self.jobs.send(Job::Announce {
                name: slot.plan.name.clone(),
                work,
                count,
                spacing: Duration::from_micros(spacing.as_micros()),
            });
            return;
        }
        for _ in 0..count {
            for &(ifindex, mac, addr) in &work {
                if let Err(e) = self.announcer.announce(ifindex, mac, addr) {
                    debug!("({}) announcing {addr}: {e}", slot.plan.name);
                }
            }
        }
    }

    /// `garp_extra_if`: one gratuitous ARP / NA on each interface of instance `i`'s VIPs
    /// other than its own, for the first VIP there (keepalived's
    /// `vrrp_send_vmac_update`).
    fn announce_extra(&mut self, i: usize) {
        let slot = &self.slots[i];
        let mut done: Vec<u32> = Vec::new();
        for (ifindex, spec) in self.vip_work(i) {
            if ifindex == slot.ifindex || done.contains(&ifindex) {
                continue;
            }
            done.push(ifindex);
            let mac = self.dev_mac.get(&ifindex).copied().unwrap_or(slot.mac);
            if let Err(e) = self.announcer.announce(ifindex, mac, spec.addr) {
                debug!("({}) announcing {}: {e}", slot.plan.name, spec.addr);
            }
        }
    }

    /// A sync group settled in a new state; Initialize means it stopped (keepalived:
    /// "stop only applies to instances" for the generic `notify`, so that one is not
    /// called).
    fn group_changed(&mut self, g: usize, state: VrrpState) {
        let Some(group) = self.groups.get(g) else {
            return;
        };
        let (scripts, word) = if state == VrrpState::Initialize {
            let scripts = notify::Scripts {
                any: None,
                ..group.notify.clone()
            };
            (scripts, "STOP")
        } else {
            info!(
                "VRRP_Group({}) Syncing instances to {} state",
                group.name,
                state.as_str()
            );
            (group.notify.clone(), state.as_str())
        };
        let note = Note::State {
            kind: notify::Kind::Group,
            name: group.name.clone(),
            scripts: Box::new(scripts),
            state: word,
            priority: 0,
        };
        // keepalived's `vrrp_init_state` notifies a starting group (BACKUP or FAULT)
        // before its members; on any later change the members come first (the one that
        // moved the group, then the others) and the group last.
        let members = &group.members;
        if let Some(held) = self.held_notes.as_mut() {
            let first_member = held.iter().position(|(n, leaving_init)| {
                *leaving_init
                    && matches!(n, Note::State { kind: notify::Kind::Instance, name, .. } if members.contains(name))
            });
            match first_member {
                Some(at) if state != VrrpState::Initialize => held.insert(at, (note, false)),
                _ => held.push((note, false)),
            }
        } else {
            let _ = self.notes.send(note);
        }
    }

    fn note(
        &mut self,
        kind: notify::Kind,
        name: String,
        scripts: notify::Scripts,
        state: &'static str,
        priority: u8,
    ) {
        self.note_from(kind, name, scripts, state, priority, false);
    }

    /// Queues a note (held while [`Engine::drain`] runs); `leaving_init`: an
    /// instance's first state after Initialize.
    fn note_from(
        &mut self,
        kind: notify::Kind,
        name: String,
        scripts: notify::Scripts,
        state: &'static str,
        priority: u8,
        leaving_init: bool,
    ) {
        // Sent even without scripts: the service thread also writes the notify FIFOs
        // and mails transitions (`mail`).
        let note = Note::State {
            kind,
            name,
            scripts: Box::new(scripts),
            state,
            priority,
        };
        match self.held_notes.as_mut() {
            Some(held) => held.push((note, leaving_init)),
            None => {
                let _ = self.notes.send(note);
            }
        }
    }

    /// Runs every expired deadline.
    pub fn on_timers(&mut self, now: vigil_core::Instant) {
        self.armed = None;
        for i in 0..self.slots.len() {
            self.overflow_grace(i, now);
            if let Some(inst) = self.router.instance(i)
                && inst.state() == VrrpState::Backup
                && let Some(at) = inst.poll_at().filter(|&t| t <= now)
            {
                self.due.push((i, at));
            }
        }
        self.router.on_timeout(now);
        self.drain();
        self.due.clear();
    }

    /// A backup whose master-down timer is due while its socket overflowed since its
    /// last accepted advert cannot tell a dead master from one whose adverts the
    /// kernel dropped: it waits one more advertisement interval, once per silence,
    /// rather than make a second master. (With the receive path reading every socket
    /// empty on each wake-up, this takes a flood the CPU cannot keep up with.)
    fn overflow_grace(&mut self, i: usize, now: vigil_core::Instant) {
        let Some(inst) = self.router.instance(i) else {
            return;
        };
        if inst.state() != VrrpState::Backup
            || self.slots[i].deferred
            || inst.poll_at().is_none_or(|t| t > now)
        {
            return;
        }
        let by = inst.master_adver_int().duration();
        let sock = &self.sockets[self.slots[i].socket].sock;
        let Ok(drops) = sock.kernel_drops() else {
            return;
        };
        if drops == self.slots[i].kernel_drops_seen || !self.router.defer_master_down(i, now, by) {
            return;
        }
        let slot = &mut self.slots[i];
        warn!(
            "({}) the kernel dropped {} packets on the VRRP socket since the last advert; waiting one more advert interval before taking over",
            slot.plan.name,
            drops.wrapping_sub(slot.kernel_drops_seen)
        );
        slot.kernel_drops_seen = drops;
        slot.deferred = true;
        slot.counters.overflow_deferrals += 1;
    }

    /// Whether a backup's master-down timer (or any deadline outside MASTER) is due:
    /// then the sockets must be read before the deadline acts, so that a master's
    /// advert waiting in a socket counts.
    pub fn backup_due(&self, now: vigil_core::Instant) -> bool {
        self.router.backup_due(now)
    }

    /// Points the timer at the earliest deadline, if that moved: one syscall, and no
    /// wake-up for a deadline that an advert has pushed back.
    pub fn rearm(&mut self) {
        let next = self.router.poll_at();
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

    /// SIGTERM: every instance resigns (priority-0 adverts from masters, all of them
    /// before any VIP is removed) and removes its VIPs; notify scripts get STOP, and
    /// sync groups their `notify_stop`.
    pub fn shutdown_all(&mut self) {
        let _ = self.notes.send(Note::Stopping);
        self.router.stop_all(now());
        self.drain();
        let _ = self.timer.arm(None);
    }

    /// The interface of `slot`'s address `v`: its `dev`, else the instance's (with
    /// `vmac_xmit_base`, the macvlan's).
    fn vip_ifindex(&self, slot: &Slot, v: &plan::Vip) -> u32 {
        let dev = v.dev.as_ref().or(slot
            .plan
            .use_vmac
            .as_ref()
            .filter(|_| slot.plan.vmac_xmit_base));
        dev.and_then(|d| self.dev_index.get(d).copied())
            .unwrap_or(slot.ifindex)
    }

    /// The addresses instance `i` installs (VIPs and excluded ones) with their
    /// interfaces.
    fn vip_work(&self, i: usize) -> VipWork {
        let slot = &self.slots[i];
        slot.plan
            .vips
            .iter()
            .chain(&slot.plan.excluded)
            .map(|v| {
                let ifindex = self.vip_ifindex(slot, v);
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

    pub fn status(&self) -> Status {
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
                .zip(self.router.instances())
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
                    addresses: s
                        .plan
                        .vips
                        .iter()
                        .map(|v| (v, false))
                        .chain(s.plan.excluded.iter().map(|v| (v, true)))
                        .map(|(v, excluded)| {
                            let host = if v.addr.is_ipv4() { 32 } else { 128 };
                            AddressStatus {
                                address: if v.prefix_len == host {
                                    v.addr.to_string()
                                } else {
                                    format!("{}/{}", v.addr, v.prefix_len)
                                },
                                interface: v
                                    .dev
                                    .clone()
                                    .unwrap_or_else(|| s.plan.interface.clone()),
                                excluded,
                            }
                        })
                        .collect(),
                    counters: s.counters.clone(),
                    last_transition_unix: unix_us(s.last_transition) as f64 / 1e6,
                    dump: InstanceDumpFacts {
                        last_transition_unix_us: unix_us(s.last_transition),
                        master_priority: s.master_priority,
                        master_down_us: c.master_down_interval().as_micros(),
                        total_priority: i32::from(c.config().priority) + s.trackers.status().adjust,
                        tracker_faults: s.trackers.status().faults,
                        src_ip: Some(c.config().primary),
                        ifindex: s.ifindex,
                    },
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .enumerate()
                .map(|(g, plan)| GroupStatus {
                    name: plan.name.clone(),
                    state: self
                        .router
                        .group_state(g)
                        .unwrap_or(VrrpState::Initialize)
                        .as_str(),
                    members: plan.members.clone(),
                })
                .collect(),
            drops: self.drops.clone(),
            filtered: self.filtered(),
            kernel_drops: self.kernel_drops(),
            dump: DumpFacts {
                taken_unix_us: unix_us(std::time::SystemTime::now()),
                script_results: self.script_results.clone(),
            },
            failover_latency: self.failover_latency.clone(),
        }
    }

    /// keepalived's STATS_CLEAR: every instance's counters back to zero (after the
    /// caller took a status with them).
    pub fn clear_stats(&mut self) {
        for s in &mut self.slots {
            s.counters = Counters::default();
        }
    }
}

/// Microseconds since the Unix epoch (0 for a clock set before it).
fn unix_us(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
