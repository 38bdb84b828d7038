//! The protocol side of the daemon: every instance's core state machine, the VRRP
//! sockets, trackers' effect on priorities, sync groups and counters. It lives on the
//! protocol thread ([`super::reactor`]) and never waits: packets and deadlines come in,
//! adverts, VIPs (a synchronous netlink request) and announcements go out at once, and
//! slower work (spaced announcements, notify scripts) is handed to the service thread as
//! [`Job`]s and [`Note`]s.

use super::drops::DropLog;
use super::plan::{self, Plan};
use super::{Job, Note, VipWork, now, virtual_mac};
use crate::control::{Counters, GroupStatus, InstanceStatus, Status};
use crate::net::filter::{self, FilterSpec};
use crate::net::{
    AddressSocket, AddressSpec, Announcer, DeadlineTimer, Link, RecvBatch, Scope, VrrpSocket,
};
use crate::notify;
use crate::track::{self, Report, TrackerState};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use vigil_core::group::SyncGroup;
use vigil_core::machine::{Effect, Effects, Instance, MAX_VIPS, State as VrrpState, Vips};
use vigil_core::priority::{TrackStatus, Trackers, Weight};
use vigil_core::wire::{self, Family, Repr};

/// Trackers per instance (scripts, interfaces, files, processes together).
pub const MAX_TRACKERS: usize = 32;
/// Instances per sync group.
pub const MAX_GROUP: usize = 16;

/// Packets handled per socket per turn of the loop before timers and the other sockets
/// get their turn (then the socket is read again at once): about a millisecond of work.
pub const RX_TURN: usize = 1024;

/// What the service thread found out about the network for a plan, before the
/// protocol thread installs it.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Per instance name: the link VRRP runs on, and the source address of its adverts
    /// (configured, or that link's primary address; `None` if it has none).
    pub links: HashMap<String, (Link, Option<IpAddr>)>,
    /// `dev` of VIPs: interface name → index.
    pub dev_links: HashMap<String, u32>,
    /// `dev` of VIPs: interface index → MAC, the source of their gratuitous ARPs.
    pub dev_macs: HashMap<u32, [u8; 6]>,
    /// Tracked interfaces (and the instances' own) that exist: name → up.
    pub link_states: HashMap<String, bool>,
}

/// A tracker the service thread must run for the installed plan; its reports carry
/// `index`.
#[derive(Debug)]
pub enum Spawn {
    Script(usize, track::Script),
    File(usize, PathBuf),
    Process(usize, plan::TrackProcess),
}

/// The trackers that report through the channel (interfaces come from link events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackerKind {
    Script,
    File,
    Process,
}

/// What a tracker bears on: (instance slot, its tracker id in that slot).
#[derive(Debug, Clone, Default)]
struct TrackerUse {
    users: Vec<(usize, usize)>,
}

/// One running instance, beside its core state in `Engine::cores`.
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
    /// The socket's overflow count when the last advert this instance accepted was
    /// queued: more at the master-down deadline means an advert may have been lost.
    kernel_drops_seen: u32,
    /// The master-down timer was already deferred once for an overflow since then.
    deferred: bool,
}

pub struct Socket {
    pub sock: Rc<VrrpSocket>,
    /// (vrid, slot) pairs served by this socket.
    vrids: Vec<(u8, usize)>,
    /// The eBPF filter's drop counters, `None` where it could not be loaded.
    filter: Option<filter::Counters>,
    /// What the filter attached now lets through.
    filter_spec: Option<FilterSpec>,
    /// The interface's name, for the log.
    ifname: String,
}

struct GroupSlot {
    plan: plan::Group,
    group: SyncGroup<MAX_GROUP>,
}

/// Where a socket is: (interface, multicast group or unicast, IPv6).
type SocketKey = (u32, Option<IpAddr>, bool);

pub struct Engine {
    config_path: String,
    started: std::time::Instant,
    cores: Vec<Instance<MAX_VIPS>>,
    slots: Vec<Slot>,
    /// Opened on demand and never closed (a reload may bring an interface back); the
    /// reactor registers each new one in its epoll set.
    pub sockets: Vec<Socket>,
    socket_keys: HashMap<SocketKey, usize>,
    groups: Vec<GroupSlot>,
    scripts: HashMap<String, TrackerUse>,
    files: HashMap<String, TrackerUse>,
    processes: HashMap<String, TrackerUse>,
    interfaces: HashMap<String, TrackerUse>,
    /// Tracker index → (kind, name) for the running plan. Indexes are never reused
    /// across reloads, so that a report an old tracker left in the channel matches
    /// nothing.
    tracker_ids: HashMap<usize, (TrackerKind, String)>,
    next_tracker: usize,
    /// `dev` of VIPs: interface name → index.
    dev_index: HashMap<String, u32>,
    /// `dev` of VIPs: interface index → MAC.
    dev_mac: HashMap<u32, [u8; 6]>,
    drops: BTreeMap<&'static str, u64>,
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
    armed: Option<vigil_core::Instant>,
    tx_buf: [u8; 1500],
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
            cores: Vec::new(),
            slots: Vec::new(),
            sockets: Vec::new(),
            socket_keys: HashMap::new(),
            groups: Vec::new(),
            scripts: HashMap::new(),
            files: HashMap::new(),
            processes: HashMap::new(),
            interfaces: HashMap::new(),
            tracker_ids: HashMap::new(),
            next_tracker: 0,
            dev_index: HashMap::new(),
            dev_mac: HashMap::new(),
            drops: BTreeMap::new(),
            drop_log: DropLog::starting(std::time::Instant::now()),
            filters_refused: false,
            jobs,
            notes,
            timer,
            announcer,
            addresses,
            armed: None,
            tx_buf: [0; 1500],
        }
    }

    /// Starts `plan`, or applies it over the running one: unchanged instances keep
    /// their state and VIPs, changed ones restart, removed ones resign and remove their
    /// VIPs. Everything that can fail is checked before anything running is touched, so
    /// an error leaves the running configuration exactly as it was. Returns the
    /// trackers the service thread must (re)start.
    pub fn install(&mut self, plan: Plan, resolved: Resolved) -> Result<Vec<Spawn>, String> {
        let now = now();
        // 1. Prepare, changing nothing that runs.
        let kept: Vec<Option<usize>> = plan
            .instances
            .iter()
            .map(|p| {
                self.slots
                    .iter()
                    .zip(&self.cores)
                    .position(|(s, c)| s.plan == *p && c.state() != VrrpState::Initialize)
            })
            .collect();
        let mut fresh: Vec<Option<(Slot, Instance<MAX_VIPS>)>> = Vec::new();
        let mut opened: Vec<(SocketKey, VrrpSocket, String)> = Vec::new();
        for (inst, kept) in plan.instances.iter().zip(&kept) {
            let (link, primary) = resolved.links.get(&inst.name).cloned().ok_or_else(|| {
                format!("({}) interface {} not resolved", inst.name, inst.interface)
            })?;
            check_tracker_capacity(inst)?;
            let key = socket_key(inst, link.index);
            if !self.socket_keys.contains_key(&key) && !opened.iter().any(|(k, ..)| *k == key) {
                let sock = match key.1 {
                    Some(g) => VrrpSocket::multicast(link.index, g),
                    None => VrrpSocket::unicast(link.index, inst.core.family()),
                }
                .map_err(|e| format!("({}) VRRP socket on {}: {e}", inst.name, link.name))?;
                opened.push((key, sock, link.name.clone()));
            }
            if kept.is_some() {
                fresh.push(None);
                continue;
            }
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
            let core = Instance::new(config, vips).map_err(|e| format!("({}) {e}", inst.name))?;
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
                kernel_drops_seen: 0,
                deferred: false,
            };
            fresh.push(Some((slot, core)));
        }
        for g in &plan.groups {
            if g.members.len() > MAX_GROUP {
                return Err(format!(
                    "vrrp_sync_group {}: more than {MAX_GROUP} members",
                    g.name
                ));
            }
        }

        // 2. Commit. Changed and removed instances resign first, while their slots
        // still exist.
        self.dev_index.extend(resolved.dev_links);
        self.dev_mac.extend(resolved.dev_macs);
        for i in 0..self.slots.len() {
            if kept.contains(&Some(i)) {
                continue;
            }
            let name = &self.slots[i].plan.name;
            if plan.instances.iter().any(|p| &p.name == name) {
                info!("({name}) configuration changed, restarting the instance");
            } else {
                info!("({name}) removed from the configuration, stopping it");
            }
            let mut fx = Effects::new();
            self.cores[i].shutdown(now, &mut fx);
            self.apply_effects(i, &fx);
        }
        for (key, sock, ifname) in opened {
            self.socket_keys.insert(key, self.sockets.len());
            self.sockets.push(Socket {
                sock: Rc::new(sock),
                vrids: Vec::new(),
                filter: None,
                filter_spec: None,
                ifname,
            });
        }
        let mut old: Vec<Option<(Slot, Instance<MAX_VIPS>)>> = std::mem::take(&mut self.slots)
            .into_iter()
            .zip(std::mem::take(&mut self.cores))
            .map(Some)
            .collect();
        for s in &mut self.sockets {
            s.vrids.clear();
        }
        self.scripts.clear();
        self.files.clear();
        self.processes.clear();
        self.interfaces.clear();
        for (i, (kept, fresh)) in kept.iter().zip(fresh).enumerate() {
            let is_kept = kept.is_some();
            let (mut slot, core) = match (kept, fresh) {
                (Some(k), _) => old[*k].take().expect("each kept slot is taken once"),
                (None, Some(f)) => f,
                (None, None) => unreachable!("prepared above"),
            };
            slot.group = None;
            self.slots.push(slot);
            self.cores.push(core);
            self.cores[i].set_sync_member(false);
            self.attach_socket(i);
            if !is_kept {
                let sock = &self.sockets[self.slots[i].socket].sock;
                self.slots[i].kernel_drops_seen = sock.kernel_drops().unwrap_or(0);
            }
            self.attach_trackers(i, &resolved.link_states, is_kept);
        }
        // Sync groups: an unchanged group with unchanged members keeps its state, so a
        // reload does not run its notify scripts again.
        let mut old_groups: Vec<GroupSlot> = std::mem::take(&mut self.groups);
        for g in &plan.groups {
            let members: Vec<usize> = g
                .members
                .iter()
                .filter_map(|m| self.slots.iter().position(|s| &s.plan.name == m))
                .collect();
            let all_kept = members.iter().all(|&m| kept[m].is_some());
            let group = match old_groups.iter().position(|o| o.plan == *g) {
                Some(o) if all_kept && old_groups[o].group.members() == members => {
                    let o = old_groups.swap_remove(o);
                    for &m in &members {
                        self.cores[m].set_sync_member(true);
                    }
                    o.group
                }
                _ => SyncGroup::new(&members, &mut self.cores)
                    .map_err(|e| format!("vrrp_sync_group {}: {e}", g.name))?,
            };
            let gi = self.groups.len();
            for &m in &members {
                self.slots[m].group = Some(gi);
            }
            self.groups.push(GroupSlot {
                plan: g.clone(),
                group,
            });
        }
        self.attach_filters();
        let spawns = self.tracker_spawns(&plan);
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
        Ok(spawns)
    }

    fn attach_socket(&mut self, index: usize) {
        let slot = &self.slots[index];
        let key = socket_key(&slot.plan, slot.ifindex);
        let si = self.socket_keys[&key];
        let vrid = self.cores[index].config().vrid;
        self.sockets[si].vrids.push((vrid, index));
        self.slots[index].socket = si;
    }

    /// Gives every socket the filter for the instances it now serves (a socket no
    /// instance uses any more drops everything). Where eBPF is refused, sockets run
    /// unfiltered and user space counts every drop, as it always did.
    fn attach_filters(&mut self) {
        for si in 0..self.sockets.len() {
            let sock = &self.sockets[si];
            let mut spec = FilterSpec::new(sock.sock.family(), sock.sock.group());
            for &(vrid, slot) in &sock.vrids {
                let config = self.cores[slot].config();
                spec.allow(vrid, config.version);
                if config.checksum == wire::ChecksumMode::AsV2 {
                    spec.v3_checksum_as_v2();
                }
            }
            let plans = || sock.vrids.iter().map(|&(_, slot)| &self.slots[slot].plan);
            if sock.sock.group().is_none()
                && !sock.vrids.is_empty()
                && plans().all(|p| p.check_unicast_src)
            {
                let peers: Vec<IpAddr> = plans()
                    .flat_map(|p| p.unicast_peers.iter().copied())
                    .collect();
                spec.only_from(&peers);
            }
            if sock.filter_spec.as_ref() == Some(&spec) {
                continue;
            }
            if self.filters_refused {
                // Filters gave out: a socket must not keep one for what it served
                // before.
                let sock = &mut self.sockets[si];
                if sock.filter_spec.take().is_some()
                    && let Err(d) = filter::Counters::detach(sock.sock.as_fd())
                {
                    error!("cannot take the old filter off a VRRP socket: {d}");
                }
                continue;
            }
            if sock.filter.is_none() {
                match filter::Counters::new() {
                    Ok(c) => self.sockets[si].filter = Some(c),
                    Err(e) => {
                        self.filter_unavailable(&e);
                        continue;
                    }
                }
            }
            let sock = &mut self.sockets[si];
            let counters = sock.filter.as_ref().expect("set above");
            match counters.attach(sock.sock.as_fd(), &spec) {
                Ok(()) => sock.filter_spec = Some(spec),
                Err(e) => {
                    // Unfiltered rather than filtered for the configuration before.
                    if let Err(d) = filter::Counters::detach(sock.sock.as_fd()) {
                        error!("cannot take the old filter off a VRRP socket: {d}");
                    }
                    sock.filter = None;
                    sock.filter_spec = None;
                    self.filter_unavailable(&e);
                }
            }
        }
    }

    fn filter_unavailable(&mut self, e: &std::io::Error) {
        if !self.filters_refused {
            warn!(
                "eBPF socket filter unavailable ({e}); VRRP sockets run unfiltered and junk is dropped in user space"
            );
        }
        self.filters_refused = true;
    }

    /// What the sockets' filters dropped so far, by reason; `None` when no socket
    /// has one.
    fn filtered(&self) -> Option<BTreeMap<&'static str, u64>> {
        if self.sockets.iter().all(|s| s.filter.is_none()) {
            return None;
        }
        let mut out = BTreeMap::new();
        for counters in self.sockets.iter().filter_map(|s| s.filter.as_ref()) {
            match counters.read() {
                Ok(counts) => {
                    for (reason, n) in filter::REASONS.iter().zip(counts) {
                        if n > 0 {
                            *out.entry(*reason).or_default() += n;
                        }
                    }
                }
                Err(e) => debug!("reading socket filter counters: {e}"),
            }
        }
        Some(out)
    }

    /// Packets the kernel dropped on full VRRP sockets, summed.
    fn kernel_drops(&self) -> u64 {
        self.sockets
            .iter()
            .map(|s| u64::from(s.sock.kernel_drops().unwrap_or(0)))
            .sum()
    }

    /// Looks at the kernel's counters (a few syscalls; the reactor calls it rarely, on
    /// a wake-up it has anyway) and logs a summary of drops when one is due.
    pub fn review_drops(&mut self, now: std::time::Instant) {
        let filtered = self.filtered().unwrap_or_default();
        let kernel = self.kernel_drops();
        self.drop_log.review(now, &filtered, kernel);
    }

    /// When the drop log wants [`Engine::review_drops`] again.
    pub fn drops_due(&self) -> Option<std::time::Instant> {
        self.drop_log.due()
    }

    /// Registers the instance's trackers; a kept instance keeps their states, so a
    /// reload does not send a healthy master through FAULT while its scripts restart.
    /// Capacity was checked before (`check_tracker_capacity`).
    fn attach_trackers(&mut self, index: usize, link_states: &HashMap<String, bool>, kept: bool) {
        let now = now();
        let mut trackers = Trackers::<MAX_TRACKERS>::new();
        let mut files = Vec::new();
        let plan = self.slots[index].plan.clone();
        let mut add = |w: Weight, up: Option<bool>| match trackers.add(w, up) {
            Ok(id) => id,
            Err(e) => {
                error!("({}) {e}", plan.name);
                usize::MAX
            }
        };
        let mut ifaces: Vec<(String, Weight)> = plan.track_interfaces.clone();
        if plan.track_own_interface {
            ifaces.push((plan.interface.clone(), Weight::FAULT));
        }
        let uses = |map: &mut HashMap<String, TrackerUse>, name: &str, id: usize| {
            map.entry(name.to_string())
                .or_default()
                .users
                .push((index, id));
        };
        for (name, w) in &ifaces {
            let up = link_states.get(name).copied().or(Some(true));
            uses(&mut self.interfaces, name, add(*w, up));
        }
        for (name, w) in &plan.track_scripts {
            uses(&mut self.scripts, name, add(*w, None));
        }
        for (name, w) in &plan.track_processes {
            uses(&mut self.processes, name, add(*w, None));
        }
        for (name, w) in &plan.track_files {
            let id = files.len();
            files.push((id, *w, 0));
            uses(&mut self.files, name, id);
        }
        if kept {
            return;
        }
        let slot = &mut self.slots[index];
        slot.trackers = trackers;
        slot.file_values = files;
        let status = slot.status();
        let mut fx = Effects::new();
        self.cores[index].set_tracking(now, status, &mut fx);
        self.apply_effects(index, &fx);
    }

    /// The trackers the plan's instances use, each under a fresh index.
    fn tracker_spawns(&mut self, plan: &Plan) -> Vec<Spawn> {
        let mut spawns = Vec::new();
        let mut ids = HashMap::new();
        let mut next = self.next_tracker;
        let mut index = |kind: TrackerKind, name: &str| {
            ids.insert(next, (kind, name.to_string()));
            next += 1;
            next - 1
        };
        for s in plan
            .scripts
            .iter()
            .filter(|s| self.scripts.contains_key(&s.name))
        {
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
            spawns.push(Spawn::Script(index(TrackerKind::Script, &s.name), script));
        }
        for f in plan
            .files
            .iter()
            .filter(|f| self.files.contains_key(&f.name))
        {
            spawns.push(Spawn::File(
                index(TrackerKind::File, &f.name),
                f.path.clone(),
            ));
        }
        for p in plan
            .processes
            .iter()
            .filter(|p| self.processes.contains_key(&p.name))
        {
            spawns.push(Spawn::Process(
                index(TrackerKind::Process, &p.name),
                p.clone(),
            ));
        }
        self.next_tracker = next;
        self.tracker_ids = ids;
        spawns
    }

    pub fn on_report(&mut self, r: Report) {
        let Some((kind, name)) = self.tracker_ids.get(&r.index) else {
            return;
        };
        let users = match kind {
            TrackerKind::Script => self.scripts.get(name),
            TrackerKind::File => self.files.get(name),
            TrackerKind::Process => self.processes.get(name),
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

    pub fn on_link(&mut self, name: &str, up: bool) {
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
        if let Some(g) = self.slots[slot].group {
            self.settle_group(g, now());
        }
        self.rearm();
    }

    fn next_deadline(&self) -> Option<vigil_core::Instant> {
        self.cores.iter().filter_map(Instance::poll_at).min()
    }

    /// Runs every expired deadline.
    pub fn on_timers(&mut self, now: vigil_core::Instant) {
        self.armed = None;
        for i in 0..self.cores.len() {
            if self.cores[i].poll_at().is_some_and(|t| t <= now) {
                if self.overflow_grace(i, now) {
                    continue;
                }
                let mut fx = Effects::new();
                self.cores[i].on_timeout(now, &mut fx);
                self.apply_effects(i, &fx);
                if let Some(g) = self.slots[i].group {
                    self.settle_group(g, now);
                }
            }
        }
    }

    /// A backup whose master-down timer is due while its socket overflowed since its
    /// last accepted advert cannot tell a dead master from one whose adverts the
    /// kernel dropped: it waits one more advertisement interval, once per silence,
    /// rather than make a second master. (With the receive path reading every socket
    /// empty on each wake-up, this takes a flood the CPU cannot keep up with.)
    fn overflow_grace(&mut self, i: usize, now: vigil_core::Instant) -> bool {
        if self.cores[i].state() != VrrpState::Backup || self.slots[i].deferred {
            return false;
        }
        let sock = &self.sockets[self.slots[i].socket].sock;
        let Ok(drops) = sock.kernel_drops() else {
            return false;
        };
        if drops == self.slots[i].kernel_drops_seen {
            return false;
        }
        let by = self.cores[i].master_adver_int().duration();
        if !self.cores[i].defer_master_down(now, by) {
            return false;
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
        true
    }

    /// Whether a backup's master-down timer (or any deadline outside MASTER) is due:
    /// then the sockets must be read before the deadline acts, so that a master's
    /// advert waiting in a socket counts.
    pub fn backup_due(&self, now: vigil_core::Instant) -> bool {
        self.cores
            .iter()
            .any(|c| c.state() != VrrpState::Master && c.poll_at().is_some_and(|t| t <= now))
    }

    /// Reads up to `max` queued packets of socket `si` without waiting and hands them
    /// to the cores. Returns how many were read (`max` means more may be queued).
    pub fn read_socket(&mut self, si: usize, batch: &mut RecvBatch, max: usize) -> usize {
        let sock = self.sockets[si].sock.clone();
        match sock.recv_burst(batch, max, |rx| match rx {
            Ok(rx) => self.on_packet(si, &rx),
            // A packet that cannot be an advert (larger than the buffer, a malformed
            // header): count it and go on. Stalling here would let anyone on the LAN
            // keep a backup from hearing its master.
            Err(_) => self.drop_global("malformed", None, || {
                "VRRP packet that is not a well-formed IP datagram".to_string()
            }),
        }) {
            Ok(n) => n,
            Err(e) => {
                self.drop_global("receive_error", None, || format!("recvmsg: {e}"));
                debug!("receive error on VRRP socket: {e}");
                0
            }
        }
    }

    /// Clears socket `si`'s pending error, counted as a drop and logged at debug level.
    pub fn take_socket_error(&mut self, si: usize) {
        if let Some(sock) = self.sockets.get(si)
            && let Ok(Some(e)) = sock.sock.take_error()
        {
            debug!("VRRP socket error: {e}");
            self.drop_global("socket_error", None, || format!("VRRP socket error: {e}"));
        }
    }

    /// The packet path: find the instance by VRID, parse with its checksum mode, hand
    /// the advert to the core. Allocates nothing.
    fn on_packet(&mut self, socket: usize, rx: &crate::net::Received<'_>) {
        let src = Some(rx.src);
        let Some(&vrid) = rx.payload.get(1) else {
            self.drop_global("truncated", src, || "VRRP packet too short".to_string());
            return;
        };
        // A multicast socket also hears unicast adverts to this host, and the reverse.
        let group = self.sockets[socket].sock.group();
        if group.map_or(rx.dst.is_multicast(), |g| rx.dst != g) {
            let (got, want) = match group {
                Some(_) => ("un", "mult"),
                None => ("mult", "un"),
            };
            self.drop_global("wrong_destination", src, || {
                format!(
                    "discarding {got}icast packet to {} on {want}icast socket",
                    rx.dst
                )
            });
            return;
        }
        let Some(&(_, slot)) = self.sockets[socket].vrids.iter().find(|(v, _)| *v == vrid) else {
            // (Fields apart: the name is borrowed while the counters change.)
            let ifname = &self.sockets[socket].ifname;
            *self.drops.entry("unknown_vrid").or_default() += 1;
            self.drop_log.dropped("unknown_vrid", src, || {
                format!("Unknown VRID({vrid}) received on interface({ifname}). ignoring...")
            });
            return;
        };
        let plan = &self.slots[slot].plan;
        if plan.check_unicast_src && !plan.unicast_peers.contains(&rx.src) {
            self.slots[slot].counters.drop("unicast_source");
            let name = &self.slots[slot].plan.name;
            self.drop_log.dropped("unicast_source", src, || {
                format!(
                    "({name}) unicast source address {} not a unicast peer",
                    rx.src
                )
            });
            return;
        }
        let mode = self.cores[slot].config().checksum;
        let repr = match Repr::parse(rx.payload, &rx.meta(), mode) {
            Ok(r) => r,
            Err(e) => {
                let reason = wire_error_name(&e);
                self.slots[slot].counters.drop(reason);
                let name = &self.slots[slot].plan.name;
                let first = rx.payload.first().copied().unwrap_or(0);
                self.drop_log
                    .dropped(reason, src, || describe_wire_error(name, &e, first, rx.ttl));
                return;
            }
        };
        let now = now();
        let mut fx = Effects::new();
        let before = self.cores[slot].state();
        let theirs = repr.priority;
        let ours = self.cores[slot].effective_priority();
        let deadline = self.cores[slot].poll_at();
        match self.cores[slot].on_advert(now, &repr, rx.src, &mut fx) {
            Ok(()) => {
                // Counted once accepted: every packet lands in exactly one counter
                // (a drop reason or these), and a forged priority-0 advert with the
                // wrong password does not show as a resignation.
                let s = &mut self.slots[slot];
                if self.cores[slot].poll_at() != deadline {
                    // A master's advert (it moved the master-down timer; a lower
                    // priority one does not): what the kernel had dropped until
                    // then cannot have been a newer one.
                    s.kernel_drops_seen = rx.kernel_drops;
                    s.deferred = false;
                }
                let counters = &mut s.counters;
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
            Err(d) => {
                self.slots[slot].counters.drop(d.as_str());
                let name = &self.slots[slot].plan.name;
                let ours = self.cores[slot].config();
                if let Some(text) = describe_core_drop(name, &d, &repr, ours) {
                    self.drop_log.dropped(d.as_str(), src, || text);
                }
            }
        }
        if !fx.is_empty() {
            self.apply_effects(slot, &fx);
            if let Some(g) = self.slots[slot].group {
                self.settle_group(g, now);
            }
        }
        // The reactor re-arms the timer once per turn, not here per packet.
    }

    /// Points the timer at the earliest deadline, if that moved: one syscall, and no
    /// wake-up for a deadline that an advert has pushed back.
    pub fn rearm(&mut self) {
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

    /// Counts a drop no instance saw, and logs it (rate-limited).
    pub fn drop_global(
        &mut self,
        reason: &'static str,
        src: Option<IpAddr>,
        describe: impl FnOnce() -> String,
    ) {
        *self.drops.entry(reason).or_default() += 1;
        self.drop_log.dropped(reason, src, describe);
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
            self.note(
                notify::Kind::Group,
                gs.plan.name.clone(),
                gs.plan.notify.clone(),
                after.as_str(),
                0,
            );
        }
        self.rearm();
    }

    fn note(
        &self,
        kind: notify::Kind,
        name: String,
        scripts: notify::Scripts,
        state: &'static str,
        priority: u8,
    ) {
        if scripts.is_empty() {
            return;
        }
        let _ = self.notes.send(Note {
            kind,
            name,
            scripts,
            state,
            priority,
        });
    }

    /// Carries out the core's effects: adverts, VIPs and announcements now (spaced
    /// announcements on the service thread), logs, and notify scripts on the service
    /// thread.
    fn apply_effects(&mut self, i: usize, effects: &[Effect]) {
        // What goes on the wire first, then the log lines and notify requests: the core
        // reports a takeover's state change before its advert, and a log line written
        // (and a service thread woken) in between would delay the advert.
        let on_wire = |e: &&Effect| {
            !matches!(
                e,
                Effect::StateChanged { .. } | Effect::PriorityChanged { .. }
            )
        };
        let first = effects.iter().filter(on_wire);
        for e in first.chain(effects.iter().filter(|e| !on_wire(e))) {
            match *e {
                Effect::SendAdvert { priority } => self.send_advert(i, priority),
                Effect::AddVips | Effect::RemoveVips => {
                    let add = *e == Effect::AddVips;
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
                }
                Effect::Announce { count, spacing } => {
                    // Each from the MAC of the interface its VIP is on.
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
                        continue;
                    }
                    for _ in 0..count {
                        for &(ifindex, mac, addr) in &work {
                            if let Err(e) = self.announcer.announce(ifindex, mac, addr) {
                                debug!("({}) announcing {addr}: {e}", slot.plan.name);
                            }
                        }
                    }
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
                    self.note(notify::Kind::Instance, name, scripts, state, prio);
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
        let sock = &self.sockets[slot.socket].sock;
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

    /// SIGTERM: every instance resigns (priority-0 adverts from masters) and removes
    /// its VIPs; notify scripts get STOP.
    /// Sync groups run their `notify_stop` (keepalived: "stop only applies to
    /// instances" for the generic `notify`, so that one is not called).
    pub fn shutdown_all(&mut self) {
        let now = now();
        let resignations: Vec<Effects> = (0..self.cores.len())
            .map(|i| {
                let mut fx = Effects::new();
                self.cores[i].shutdown(now, &mut fx);
                fx
            })
            .collect();
        // Every priority-0 advert first: the backups start their skew timers at once,
        // not after the VIP removals (a netlink request each) of the instances before.
        let is_advert = |e: &Effect| matches!(e, Effect::SendAdvert { .. });
        for (i, fx) in resignations.iter().enumerate() {
            for e in fx.iter().filter(|e| is_advert(e)) {
                self.apply_effects(i, std::slice::from_ref(e));
            }
        }
        for (i, fx) in resignations.iter().enumerate() {
            let rest: Vec<Effect> = fx.iter().copied().filter(|e| !is_advert(e)).collect();
            self.apply_effects(i, &rest);
        }
        for g in &self.groups {
            let scripts = notify::Scripts {
                any: None,
                ..g.plan.notify.clone()
            };
            self.note(notify::Kind::Group, g.plan.name.clone(), scripts, "STOP", 0);
        }
        let _ = self.timer.arm(None);
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
                let ifindex = v
                    .dev
                    .as_ref()
                    .and_then(|d| self.dev_index.get(d).copied())
                    .unwrap_or(slot.ifindex);
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
            filtered: self.filtered(),
            kernel_drops: self.kernel_drops(),
        }
    }
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

fn socket_key(inst: &plan::Instance, ifindex: u32) -> SocketKey {
    let unicast = !inst.unicast_peers.is_empty();
    let group = (!unicast).then_some(inst.mcast_group);
    (ifindex, group, inst.core.family() == Family::V6)
}

/// An instance with more trackers than fit is refused before anything is installed.
fn check_tracker_capacity(inst: &plan::Instance) -> Result<(), String> {
    let n = inst.track_interfaces.len()
        + usize::from(inst.track_own_interface)
        + inst.track_scripts.len()
        + inst.track_processes.len();
    if n > MAX_TRACKERS {
        return Err(format!(
            "({}) tracks {n} interfaces, scripts and processes; at most {MAX_TRACKERS}",
            inst.name
        ));
    }
    Ok(())
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

/// A codec rejection in keepalived's words (vrrp.c's log lines).
fn describe_wire_error(name: &str, e: &wire::Error, first: u8, ttl: u8) -> String {
    use wire::Error as E;
    match e {
        E::Ttl(t) => format!("({name}) invalid TTL/HL. Received {t} and expect 255"),
        E::Truncated | E::Length { .. } => format!("({name}) vrrp packet too short: {e}"),
        E::Version(v) => format!("({name}) wrong version. Received {v}"),
        E::Type(t) => format!("({name}) Invalid packet type. {t} and expect 1"),
        E::Checksum { .. } => format!("({name}) Invalid VRRPv{} checksum", first >> 4),
        E::AuthType(t) => format!("({name}) Invalid auth type: {t}"),
        E::AuthAh => format!("({name}) Received AH header but auth type not AH"),
        E::Password => format!("({name}) received an invalid passwd!"),
        _ => format!("({name}) {e} (TTL {ttl})"),
    }
}

/// An advert the state machine refused, in keepalived's words; `None` for refusals
/// that are not the sender's fault (our own advert, an instance in FAULT).
fn describe_core_drop(
    name: &str,
    d: &vigil_core::machine::Drop,
    repr: &Repr<'_>,
    ours: &vigil_core::machine::Config,
) -> Option<String> {
    use vigil_core::machine::Drop as D;
    Some(match d {
        D::Version => format!(
            "({name}) wrong version. Received {} and expect {}",
            repr.version.number(),
            ours.version.number()
        ),
        D::Auth(e) => match e {
            wire::Error::Password => format!("({name}) received an invalid passwd!"),
            e => format!("({name}) {e}"),
        },
        D::Interval => format!(
            "({name}) advertisement interval mismatch mine={} sec rcv'd={} sec",
            ours.interval.centis() / 100,
            repr.interval.centis() / 100
        ),
        D::Addresses => format!(
            "({name}) ip address associated with VRID {} not present in MASTER advert",
            repr.vrid
        ),
        D::Vrid => format!("({name}) VRID {} is not ours", repr.vrid),
        D::OwnAdvert | D::NotListening | D::Owner => return None,
    })
}
