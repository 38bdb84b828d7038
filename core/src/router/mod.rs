//! The router: every instance of a host and their sync groups, driven through one
//! door. Hosts (vigild, the firmware, the simulation) never call the per-instance
//! state machine or the sync-group rules themselves; they hand the router what
//! happened and carry out what it hands back:
//!
//! ```text
//! router.on_datagram(now, channel, payload, &meta)?;  // or on_timeout, set_tracking, start, stop
//! while let Some(t) = router.poll_transmit(&mut buf) { send(&buf[..t.len?], t.src, t.dst) }
//! while let Some(out) = router.poll_event() { vips, announcements, logs, notify scripts }
//! sleep until router.poll_at()
//! ```
//!
//! Pull style (as quinn-proto's `poll_transmit`): the adverts first, because a takeover
//! or a resignation is only as fast as its advert; then, per instance and in the order
//! they happened, VIP changes, announcements and state changes with the facts of the
//! decision; then sync-group changes. Hosts drain both after every input.
//!
//! Capacities are const parameters, checked when instances are added: `N` instances
//! (and at most `N` sync groups), `V` VIPs and `P` unicast peers per instance, and
//! [`EVENTS_PER_INSTANCE`]. Nothing allocates; nothing reads a clock.

mod demux;
mod drop;
mod outbox;
mod sync;
#[cfg(test)]
mod tests;

pub use drop::{DropReason, RxDrop};
pub use outbox::{Cause, EVENTS_PER_INPUT, EVENTS_PER_INSTANCE, Event, Output, Transmit};

use crate::machine::{Config, ConfigError, Effect, Instance, MAX_VIPS, Sink, State, Vips};
use crate::priority::{CapacityError, TrackStatus};
use crate::wire::{ChecksumMode, Family, Repr, RxMeta};
use core::net::IpAddr;
use demux::{Demux, NONE, key};
use embassy_time::{Duration, Instant};
use heapless::{Deque, Vec};
use outbox::Outbox;

/// Unicast peers per instance unless the host picks another capacity.
pub const MAX_PEERS: usize = 8;

/// Where an instance's adverts go, and which received ones it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Destination<const P: usize = MAX_PEERS> {
    /// To this group (224.0.0.18, ff02::12 or keepalived's `vrrp_mcast_group4/6`);
    /// only adverts sent to it are accepted.
    Multicast(IpAddr),
    /// To each peer; adverts sent to a multicast group are refused, and with
    /// `check_source` (keepalived's `check_unicast_src`) adverts from anyone else too.
    Unicast {
        peers: Vec<IpAddr, P>,
        check_source: bool,
    },
}

impl<const P: usize> Destination<P> {
    /// Unicast to `peers`; more than `P` is a configuration error.
    pub fn unicast(peers: &[IpAddr], check_source: bool) -> Result<Self, CapacityError> {
        Ok(Destination::Unicast {
            peers: Vec::from_slice(peers).map_err(|_| CapacityError {
                what: "unicast peers",
                capacity: P,
            })?,
            check_source,
        })
    }

    fn count(&self) -> usize {
        match self {
            Destination::Multicast(_) => 1,
            Destination::Unicast { peers, .. } => peers.len(),
        }
    }

    fn get(&self, k: usize) -> Option<IpAddr> {
        match self {
            Destination::Multicast(g) => (k == 0).then_some(*g),
            Destination::Unicast { peers, .. } => peers.get(k).copied(),
        }
    }
}

/// What [`Router::add`], [`Router::add_group`] and [`Router::replace`] refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    /// More than `N` instances (or groups).
    Full { capacity: usize },
    /// Another instance on this channel and family has this VRID.
    DuplicateVrid { vrid: u8 },
    /// A group member that does not exist or already belongs to a group.
    Member { instance: usize },
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Full { capacity } => {
                write!(f, "too many instances: at most {capacity} allowed")
            }
            SetupError::DuplicateVrid { vrid } => {
                write!(f, "VRID {vrid} is used twice on one interface")
            }
            SetupError::Member { instance } => {
                write!(f, "instance {instance} cannot join the sync group")
            }
        }
    }
}

/// What [`Router::reconfigure`] refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReconfigureError {
    Setup(SetupError),
    /// The VRID or family changed: keepalived treats that as another instance.
    NewInstance,
    Config(ConfigError),
}

impl core::fmt::Display for ReconfigureError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReconfigureError::Setup(e) => e.fmt(f),
            ReconfigureError::NewInstance => {
                f.write_str("a changed VRID or family makes a new instance")
            }
            ReconfigureError::Config(e) => e.fmt(f),
        }
    }
}

/// A datagram an instance accepted, with what a host counts and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Accepted {
    pub instance: usize,
    /// The advertised priority.
    pub priority: u8,
    /// Our effective priority when it arrived.
    pub ours: u8,
    /// Our state when it arrived.
    pub was: State,
    /// It restarted the master-down timer: an advert from the master we follow (a
    /// lower-priority one we are about to preempt does not).
    pub restarted_timer: bool,
    /// Its checksum was keepalived ≤ 1.3.6's unicast one and the instance now uses it
    /// (keepalived: "Setting unicast VRRPv3 checksum to old version").
    pub old_checksum: bool,
}

struct Member<const V: usize, const P: usize> {
    instance: Instance<V>,
    /// The host's receive path (an interface, a socket): demultiplexing is per channel.
    channel: u32,
    dest: Destination<P>,
    group: Option<u16>,
    outbox: Outbox,
}

impl<const V: usize, const P: usize> core::fmt::Debug for Member<V, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Member")
            .field("vrid", &self.instance.config().vrid)
            .field("state", &self.instance.state())
            .field("channel", &self.channel)
            .field("group", &self.group)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
struct Group {
    /// The state the group last settled in.
    state: State,
    /// In the notices ring, to be reported.
    queued: bool,
}

/// What a sync group looks at in a member: when none of it changed, settling is
/// skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    state: State,
    own_fault: bool,
    waiting: bool,
    wants_master: bool,
}

/// `N` instances with `V` VIPs and `P` unicast peers each.
pub struct Router<const N: usize, const V: usize = MAX_VIPS, const P: usize = MAX_PEERS> {
    members: Vec<Member<V, P>, N>,
    /// Which member a datagram is for.
    demux: Demux<N>,
    groups: Vec<Group, N>,
    /// Members whose outbox holds an advert / events, each at most once.
    tx: Deque<u16, N>,
    ev: Deque<u16, N>,
    /// Groups with a new state to report, each at most once.
    notices: Deque<u16, N>,
    /// Events that found their instance's outbox full (a host that did not drain).
    events_lost: u32,
}

impl<const N: usize, const V: usize, const P: usize> core::fmt::Debug for Router<N, V, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Router")
            .field("members", &self.members)
            .field("groups", &self.groups)
            .finish()
    }
}

impl<const N: usize, const V: usize, const P: usize> Default for Router<N, V, P> {
    fn default() -> Self {
        Self::new()
    }
}

fn family_of(a: IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

impl<const N: usize, const V: usize, const P: usize> Router<N, V, P> {
    pub const fn new() -> Self {
        // Member indices are u16, and NONE ends a chain.
        const { assert!(N < NONE as usize, "at most 65,534 instances") };
        Router {
            members: Vec::new(),
            demux: Demux::new(),
            groups: Vec::new(),
            tx: Deque::new(),
            ev: Deque::new(),
            notices: Deque::new(),
            events_lost: 0,
        }
    }

    // --- setup ---

    /// Adds a stopped or running instance (a host that reloads moves running ones over
    /// from its previous router) receiving on `channel`. Returns its index: instances
    /// are numbered in the order they were added.
    pub fn add(
        &mut self,
        mut instance: Instance<V>,
        channel: u32,
        dest: Destination<P>,
    ) -> Result<usize, SetupError> {
        if self.members.is_full() {
            return Err(SetupError::Full { capacity: N });
        }
        let c = instance.config();
        let k = key(channel, c.family(), c.vrid);
        if self.demux.find(k).is_some() {
            return Err(SetupError::DuplicateVrid { vrid: c.vrid });
        }
        let i = self.members.len();
        instance.set_sync_member(false);
        let member = Member {
            instance,
            channel,
            dest,
            group: None,
            outbox: Outbox::default(),
        };
        // Room checked above; both vectors have capacity N.
        let _ = self.members.push(member);
        self.demux.push(k);
        Ok(i)
    }

    /// Makes these instances a sync group (keepalived's `vrrp_sync_group`), which
    /// starts in Initialize; returns its index.
    pub fn add_group(&mut self, members: &[usize]) -> Result<usize, SetupError> {
        let g = self.groups.len();
        for (k, &m) in members.iter().enumerate() {
            let taken = members[..k].contains(&m);
            match self.members.get(m) {
                Some(x) if x.group.is_none() && !taken => {}
                _ => return Err(SetupError::Member { instance: m }),
            }
        }
        self.groups
            .push(Group {
                state: State::Initialize,
                queued: false,
            })
            .map_err(|_| SetupError::Full { capacity: N })?;
        for &m in members {
            let x = &mut self.members[m];
            x.group = Some(g as u16);
            x.instance.set_sync_member(true);
        }
        Ok(g)
    }

    /// A reloading host keeps a group that did not change in the state it had, so
    /// that its notify scripts do not run again.
    pub fn keep_group_state(&mut self, group: usize, state: State) {
        if let Some(g) = self.groups.get_mut(group) {
            g.state = state;
        }
    }

    /// Empties the router, handing back its instances in index order (running ones
    /// keep their state) for a host that rebuilds it on reload. Pending outputs are
    /// dropped: drain them first.
    pub fn take_all(&mut self) -> impl Iterator<Item = Instance<V>> + '_ {
        self.demux.clear();
        self.groups.clear();
        self.tx.clear();
        self.ev.clear();
        self.notices.clear();
        self.members.drain(..).map(|m| m.instance)
    }

    /// Replaces instance `index` with a stopped one (its configuration changed): the
    /// old one resigns first, as [`Router::stop`]. Returns the old instance; start the
    /// new one with [`Router::start`].
    pub fn replace(
        &mut self,
        index: usize,
        now: Instant,
        instance: Instance<V>,
        dest: Destination<P>,
    ) -> Result<Instance<V>, SetupError> {
        let Some(old) = self.members.get(index) else {
            return Err(SetupError::Member { instance: index });
        };
        let (old_key, channel) = (self.demux.key_of(index), old.channel);
        let c = instance.config();
        let new_key = key(channel, c.family(), c.vrid);
        if new_key != old_key && self.demux.find(new_key).is_some() {
            return Err(SetupError::DuplicateVrid { vrid: c.vrid });
        }
        self.stop(index, now);
        let m = &mut self.members[index];
        let mut instance = instance;
        instance.set_sync_member(m.group.is_some());
        let old = core::mem::replace(&mut m.instance, instance);
        m.dest = dest;
        if new_key != old_key {
            self.demux.rekey(index, new_key);
        }
        Ok(old)
    }

    /// Updates instance `index` in place on reload, as keepalived does for an instance
    /// its new configuration still has (same VRID and family on the same channel): its
    /// state is kept and no transition is reported; a master advertises at once with the
    /// new values and installs and announces added VIPs (see `docs/reload.md`). `status`
    /// is its trackers' status under the new configuration. A changed VRID or family is
    /// a new instance: use [`Router::replace`]. On error nothing changed.
    pub fn reconfigure(
        &mut self,
        index: usize,
        now: Instant,
        config: Config,
        vips: Vips<V>,
        dest: Destination<P>,
        status: TrackStatus,
    ) -> Result<(), ReconfigureError> {
        let Some(m) = self.members.get(index) else {
            return Err(ReconfigureError::Setup(SetupError::Member {
                instance: index,
            }));
        };
        let old = m.instance.config();
        if old.vrid != config.vrid || old.family() != config.family() {
            return Err(ReconfigureError::NewInstance);
        }
        // Checked before anything changes, so an error leaves the instance as it was.
        config.validate().map_err(ReconfigureError::Config)?;
        if vips.addresses().family() != config.family() {
            return Err(ReconfigureError::Config(ConfigError::VipFamily));
        }
        self.members[index].dest = dest;
        let mut result = Ok(());
        self.with(index, now, |inst, now, out| {
            result = inst.reconfigure(now, config, vips, status, out);
        });
        result.map_err(ReconfigureError::Config)
    }

    // --- what the host asks ---

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn instance(&self, index: usize) -> Option<&Instance<V>> {
        self.members.get(index).map(|m| &m.instance)
    }

    pub fn instances(&self) -> impl ExactSizeIterator<Item = &Instance<V>> {
        self.members.iter().map(|m| &m.instance)
    }

    pub fn destination(&self, index: usize) -> Option<&Destination<P>> {
        self.members.get(index).map(|m| &m.dest)
    }

    pub fn channel(&self, index: usize) -> Option<u32> {
        self.members.get(index).map(|m| m.channel)
    }

    /// The sync group instance `index` belongs to.
    pub fn group_of(&self, index: usize) -> Option<usize> {
        self.members.get(index)?.group.map(usize::from)
    }

    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The state sync group `group` last settled in.
    pub fn group_state(&self, group: usize) -> Option<State> {
        self.groups.get(group).map(|g| g.state)
    }

    /// The instance that receives adverts with this VRID on `channel`.
    pub fn find(&self, channel: u32, family: Family, vrid: u8) -> Option<usize> {
        self.demux.find(key(channel, family, vrid))
    }

    /// When the host must call [`Router::on_timeout`] next, if ever.
    pub fn poll_at(&self) -> Option<Instant> {
        self.members
            .iter()
            .filter_map(|m| m.instance.poll_at())
            .min()
    }

    /// The instances with a deadline due at `now`.
    pub fn due(&self, now: Instant) -> impl Iterator<Item = usize> + '_ {
        self.members
            .iter()
            .enumerate()
            .filter(move |(_, m)| m.instance.poll_at().is_some_and(|t| t <= now))
            .map(|(i, _)| i)
    }

    /// Whether a deadline outside MASTER (a master-down timer) is due: a host reads
    /// its sockets first, so that a master's advert already queued counts.
    pub fn backup_due(&self, now: Instant) -> bool {
        self.members.iter().any(|m| {
            m.instance.state() != State::Master && m.instance.poll_at().is_some_and(|t| t <= now)
        })
    }

    // --- inputs ---

    /// A received VRRP message (`payload`, after the IP header) on `channel`:
    /// demultiplexed by VRID, checked against the instance's destination and peers,
    /// parsed with its checksum mode, and handed to its state machine; its sync group
    /// follows.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        channel: u32,
        payload: &[u8],
        meta: &RxMeta,
    ) -> Result<Accepted, RxDrop> {
        let vrid = *payload.get(1).ok_or(RxDrop::Truncated)?;
        let i = self
            .find(channel, family_of(meta.src), vrid)
            .ok_or(RxDrop::UnknownVrid { vrid })?;
        let Router {
            members,
            tx,
            ev,
            events_lost,
            ..
        } = self;
        let m = &mut members[i];
        match &m.dest {
            Destination::Multicast(g) if meta.dst != *g => {
                return Err(RxDrop::WrongDestination { instance: i });
            }
            Destination::Unicast {
                peers,
                check_source,
            } => {
                if meta.dst.is_multicast() {
                    return Err(RxDrop::WrongDestination { instance: i });
                }
                if *check_source && !peers.contains(&meta.src) {
                    return Err(RxDrop::UnicastSource { instance: i });
                }
            }
            Destination::Multicast(_) => {}
        }
        // The advert stays where `Repr::parse` wrote it and is handed on by reference:
        // moving it out of the `Result` (`map_err`, `?`) copies it with wide loads over
        // the narrow stores that wrote it, and each such load waits for the stores to
        // retire (a failed store-to-load forwarding; see benches/README.md).
        let mut parsed = Repr::parse_in_line(payload, meta, m.instance.config().checksum);
        // keepalived's default with unicast peers: a VRRPv3 IPv4 advert whose checksum
        // is right the old way switches the instance to it for good.
        let mut old_checksum = false;
        if matches!(parsed, Err(crate::wire::Error::Checksum { .. }))
            && m.instance.config().old_checksum_auto
            && matches!(m.dest, Destination::Unicast { .. })
            && meta.src.is_ipv4()
            && let Ok(repr) = Repr::parse_in_line(payload, meta, ChecksumMode::OldUnicast)
        {
            m.instance.use_old_unicast_checksum();
            old_checksum = true;
            parsed = Ok(repr);
        }
        let repr = match &parsed {
            Ok(repr) => repr,
            Err(error) => {
                return Err(RxDrop::Wire {
                    instance: i,
                    error: *error,
                });
            }
        };
        let was = snapshot(&m.instance);
        let deadline = m.instance.poll_at();
        let ours = m.instance.effective_priority();
        let Member {
            instance, outbox, ..
        } = m;
        let mut out = Deposit::new(outbox, tx, ev, events_lost, i);
        out.advert = Some(Advert {
            from: &meta.src,
            priority: repr.priority,
            ours,
        });
        let result = instance.on_advert(now, repr, meta.src, &mut out);
        result.map_err(|drop| RxDrop::Machine { instance: i, drop })?;
        let accepted = Accepted {
            instance: i,
            priority: repr.priority,
            ours,
            was: was.state,
            restarted_timer: instance.poll_at() != deadline,
            old_checksum,
        };
        self.follow_group(i, was, now);
        Ok(accepted)
    }

    /// Handles every deadline due at `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            if self.members[i].instance.poll_at().is_some_and(|t| t <= now) {
                self.with(i, now, |inst, now, out| inst.on_timeout(now, out));
            }
        }
    }

    /// A new tracking status for instance `index` (trackers and the link, see
    /// [`crate::priority::Trackers`]): FAULT in or out, priority changes.
    pub fn set_tracking(&mut self, index: usize, now: Instant, status: TrackStatus) {
        if let Some(g) = self.members.get(index).and_then(|m| m.group) {
            // The group's hold first: a member whose own fault clears while another
            // member's has not stays in FAULT, silently (keepalived's try_up_instance).
            let (fault, waiting) = self.hold_of(Some(g), Some(index));
            self.members[index].instance.hold_for_group(fault, waiting);
        }
        self.with(index, now, |inst, now, out| {
            inst.set_tracking(now, status, out)
        });
    }

    /// Starts instance `index` if it is stopped (RFC 5798 6.4.1).
    pub fn start(&mut self, index: usize, now: Instant) {
        self.with(index, now, |inst, now, out| inst.start(now, out));
    }

    /// Starts every stopped instance, then settles every sync group. The groups are
    /// settled first too, so that a member starts knowing its group's hold (a member
    /// waiting for a first result holds the others in FAULT from the start).
    pub fn start_all(&mut self, now: Instant) {
        for g in 0..self.groups.len() {
            self.settle(g, now, None);
        }
        for i in 0..self.members.len() {
            if self.members[i].instance.state() == State::Initialize {
                self.start(i, now);
            }
        }
        for g in 0..self.groups.len() {
            self.settle(g, now, None);
        }
    }

    /// Master `index` steps down to BACKUP, something it installed having been deleted
    /// behind its back (keepalived's `set_vrrp_backup`), and takes over again after the
    /// skew time unless a better master speaks. The masters of its sync group step
    /// down with it, the same way.
    pub fn step_down(&mut self, index: usize, now: Instant) {
        let Some(group) = self.members.get(index).map(|m| m.group) else {
            return;
        };
        if group.is_none() {
            self.with(index, now, |inst, now, out| inst.step_down(now, out));
            return;
        }
        if self.members[index].instance.state() != State::Master {
            return;
        }
        self.each_member(group, Some(index), |inst, out| inst.step_down(now, out));
        self.settle(usize::from(group.unwrap_or_default()), now, Some(index));
    }

    /// Stops instance `index`: a master resigns (priority 0) and removes its VIPs.
    pub fn stop(&mut self, index: usize, now: Instant) {
        self.with(index, now, |inst, now, out| inst.shutdown(now, out));
    }

    /// Stops every instance; every sync group reports Initialize (keepalived runs the
    /// groups' stop scripts).
    pub fn stop_all(&mut self, now: Instant) {
        for i in 0..self.members.len() {
            self.stop(i, now);
        }
        for g in 0..self.groups.len() {
            self.groups[g].state = State::Initialize;
            self.notice(g);
        }
    }

    /// Puts off instance `index`'s master-down deadline that is due at `now` by `by`
    /// (the instance decides: only a due master-down timer moves). Returns whether there was one.
    pub fn defer_master_down(&mut self, index: usize, now: Instant, by: Duration) -> bool {
        self.members
            .get_mut(index)
            .is_some_and(|m| m.instance.defer_master_down(now, by))
    }

    // --- outputs ---

    /// The next advert to send, written into `buf` (1,500 bytes always suffice).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let i = usize::from(*self.tx.front()?);
            let m = &mut self.members[i];
            let k = usize::from(m.outbox.next_dst);
            let (Some(priority), Some(dst)) = (m.outbox.advert, m.dest.get(k)) else {
                // Nowhere to send (no unicast peers): done with it.
                m.outbox.advert = None;
                m.outbox.next_dst = 0;
                self.tx.pop_front();
                continue;
            };
            if k + 1 >= m.dest.count() {
                m.outbox.advert = None;
                m.outbox.next_dst = 0;
                self.tx.pop_front();
            } else {
                m.outbox.next_dst += 1;
            }
            return Some(Transmit {
                instance: i,
                src: m.instance.config().primary,
                dst,
                priority,
                first: k == 0,
                len: m.instance.emit_advert(priority, buf, dst),
            });
        }
    }

    /// The next thing to carry out after the adverts: instance events in the order
    /// they happened, then sync-group changes.
    pub fn poll_event(&mut self) -> Option<Output> {
        while let Some(&i) = self.ev.front() {
            let i = usize::from(i);
            let events = &mut self.members[i].outbox.events;
            let event = events.pop_front();
            if events.is_empty() {
                self.ev.pop_front();
            }
            if let Some(event) = event {
                return Some(Output::Instance { instance: i, event });
            }
        }
        let g = usize::from(self.notices.pop_front()?);
        let group = &mut self.groups[g];
        group.queued = false;
        Some(Output::Group {
            group: g,
            state: group.state,
        })
    }

    /// Events lost because an instance's outbox was full: zero for a host that drains
    /// after every input.
    pub fn events_lost(&self) -> u32 {
        self.events_lost
    }

    /// Whether anything waits in [`Router::poll_transmit`] or [`Router::poll_event`].
    pub fn has_output(&self) -> bool {
        !(self.tx.is_empty() && self.ev.is_empty() && self.notices.is_empty())
    }

    // --- inside ---

    /// Runs `f` on instance `index` with its effects going to its outbox, then lets its
    /// sync group follow.
    fn with(
        &mut self,
        index: usize,
        now: Instant,
        f: impl FnOnce(&mut Instance<V>, Instant, &mut Deposit<'_, N>),
    ) {
        let Router {
            members,
            tx,
            ev,
            events_lost,
            ..
        } = self;
        let Some(m) = members.get_mut(index) else {
            return;
        };
        let was = snapshot(&m.instance);
        let Member {
            instance, outbox, ..
        } = m;
        f(
            instance,
            now,
            &mut Deposit::new(outbox, tx, ev, events_lost, index),
        );
        self.follow_group(index, was, now);
    }

    // Inlined: for an instance outside any group (most) this is one load and a branch,
    // not a call.
    #[inline(always)]
    fn follow_group(&mut self, index: usize, was: Snapshot, now: Instant) {
        let m = &self.members[index];
        if let Some(g) = m.group
            && snapshot(&m.instance) != was
        {
            self.settle(usize::from(g), now, Some(index));
        }
    }

    fn notice(&mut self, g: usize) {
        let group = &mut self.groups[g];
        if !group.queued {
            group.queued = true;
            // At most one entry per group, and at most N groups.
            let _ = self.notices.push_back(g as u16);
        }
    }
}

fn snapshot<const V: usize>(i: &Instance<V>) -> Snapshot {
    Snapshot {
        state: i.state(),
        own_fault: i.has_own_fault(),
        waiting: i.is_waiting(),
        wants_master: i.wants_master(),
    }
}

/// The sink that puts instance `i`'s effects in its outbox.
struct Deposit<'a, const N: usize> {
    outbox: &'a mut Outbox,
    tx: &'a mut Deque<u16, N>,
    ev: &'a mut Deque<u16, N>,
    lost: &'a mut u32,
    i: usize,
    /// The advert being handled, if any: what a state change it causes reports. A
    /// [`Cause`] is only built when there is a state change (most adverts cause none).
    advert: Option<Advert<'a>>,
}

/// The facts of [`Cause::Advert`], with the address borrowed.
#[derive(Clone, Copy)]
struct Advert<'a> {
    from: &'a IpAddr,
    priority: u8,
    ours: u8,
}

impl<'a, const N: usize> Deposit<'a, N> {
    fn new(
        outbox: &'a mut Outbox,
        tx: &'a mut Deque<u16, N>,
        ev: &'a mut Deque<u16, N>,
        lost: &'a mut u32,
        i: usize,
    ) -> Self {
        Deposit {
            outbox,
            tx,
            ev,
            lost,
            i,
            advert: None,
        }
    }
}

impl<const N: usize> Sink for Deposit<'_, N> {
    fn effect(&mut self, effect: Effect) {
        if !deposit(
            self.outbox,
            self.tx,
            self.ev,
            self.i,
            &mut self.advert,
            effect,
        ) {
            *self.lost = self.lost.saturating_add(1);
        }
    }
}

/// Returns false when the outbox was full and the event is lost.
fn deposit<const N: usize>(
    outbox: &mut Outbox,
    tx: &mut Deque<u16, N>,
    ev: &mut Deque<u16, N>,
    i: usize,
    advert: &mut Option<Advert<'_>>,
    effect: Effect,
) -> bool {
    let event = match effect {
        Effect::SendAdvert { priority } => {
            if outbox.advert.is_none() {
                // At most once per member, and at most N members.
                let _ = tx.push_back(i as u16);
            }
            // A newer advert replaces one not yet sent: peers must hear the latest.
            outbox.advert = Some(priority);
            outbox.next_dst = 0;
            return true;
        }
        Effect::AddVips => Event::AddVips,
        Effect::RemoveVips => Event::RemoveVips,
        Effect::Announce { count, spacing } => Event::Announce { count, spacing },
        Effect::StateChanged { from, to, reason } => Event::StateChanged {
            from,
            to,
            reason,
            cause: match *advert {
                Some(a) => Cause::Advert {
                    from: *a.from,
                    priority: a.priority,
                    ours: a.ours,
                },
                None => Cause::Internal,
            },
        },
        Effect::PriorityChanged { from, to } => {
            // An owner meeting another owner lowers itself before yielding: the
            // decision's facts carry the priority it yielded at.
            if let Some(a) = advert {
                a.ours = to;
            }
            Event::PriorityChanged { from, to }
        }
    };
    if outbox.events.is_empty() {
        let _ = ev.push_back(i as u16);
    }
    let pushed = outbox.events.push_back(event).is_ok();
    debug_assert!(
        pushed,
        "more than EVENTS_PER_INSTANCE events: drain after every input"
    );
    pushed
}
