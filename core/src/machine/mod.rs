//! The per-instance VRRP state machine (RFC 5798 / RFC 9568 section 6, RFC 3768 section
//! 6), with keepalived's behaviour where the two differ (see `docs/keepalived-vs-rfc.md`).
//!
//! Sans-IO: every input carries `now`; effects go into a [`Sink`]; [`Instance::poll_at`]
//! says when the next deadline is. Deadlines live inside the state they belong to, so a
//! state cannot hold a timer it does not use. Hosts build instances and read them; only
//! the [`crate::router`] drives them (their inputs are crate-private), so that sync
//! groups and the order of outputs cannot be bypassed.

mod config;
mod effect;

pub use config::{Config, ConfigError, Garp, InitialState, LowerPriority, MAX_VIPS, Vips};
pub use effect::{Drop, Effect, Effects, MAX_EFFECTS, Reason, Sink, State};

use crate::priority::{self, OWNER, RESIGN, TrackStatus};
use crate::timer::{self, Interval};
use crate::wire::{self, Repr, Version};
use core::net::IpAddr;
use embassy_time::{Duration, Instant};

/// Where a master stands in keepalived's gratuitous-ARP schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum GarpNext {
    /// The delayed second burst (`garp_master_delay`).
    Second(Instant),
    /// The periodic refresh (`garp_master_refresh`).
    Refresh(Instant),
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Phase {
    Initialize,
    Backup {
        /// The master-down timer.
        down_at: Instant,
        /// Set while the master-down timer runs on a resignation's skew time.
        resigned: bool,
        /// `preempt_delay`: until then, a lower-priority master is still accepted.
        preempt_after: Option<Instant>,
        /// A sync-group member whose master-down timer expired: it waits for every
        /// other member to want MASTER too (see [`crate::router`]).
        wants_master: bool,
    },
    Master {
        advert_at: Instant,
        garp: GarpNext,
        /// The last advert sent in answer to a lower-priority or resigning one: at most
        /// one such answer per advertisement interval.
        answered_at: Option<Instant>,
    },
    Fault,
}

/// One VRRP instance: configuration, VIPs, and protocol state.
#[derive(Debug, Clone)]
pub struct Instance<const V: usize = MAX_VIPS> {
    config: Config,
    vips: Vips<V>,
    phase: Phase,
    /// Base priority with tracker weights applied, clamped; kept while in FAULT.
    effective: u8,
    /// Tracker faults: weight-0 trackers and the link.
    tracking_fault: bool,
    /// Of those, the only ones are weight-0 trackers with no result yet, and the
    /// instance has not run yet (see [`Instance::is_waiting`]).
    waiting: bool,
    /// In FAULT because another member of the sync group is.
    group_fault: bool,
    /// Held in FAULT because a member of the sync group is waiting.
    group_waiting: bool,
    /// In FAULT without having reported it: waiting since start-up (keepalived's
    /// `vrrp_init_state` with `num_script_init`).
    silent: bool,
    /// The interval the master advertises (a v3 backup learns it, RFC 5798 6.4.2).
    master_adver_int: Interval,
    /// The master as last seen: ourselves in MASTER, the advert's sender in BACKUP.
    master: Option<IpAddr>,
    /// Member of a sync group: becomes master only together with the others.
    sync_member: bool,
}

impl<const V: usize> Instance<V> {
    /// A stopped instance (state Initialize). Refuses what [`Config::validate`] refuses,
    /// and VIPs of the other family.
    pub fn new(config: Config, vips: Vips<V>) -> Result<Self, ConfigError> {
        config.validate()?;
        if vips.addresses().family() != config.family() {
            return Err(ConfigError::VipFamily);
        }
        Ok(Instance {
            config,
            vips,
            phase: Phase::Initialize,
            effective: config.priority,
            tracking_fault: false,
            waiting: false,
            group_fault: false,
            group_waiting: false,
            silent: false,
            master_adver_int: config.interval,
            master: None,
            sync_member: false,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn vips(&self) -> &Vips<V> {
        &self.vips
    }

    pub fn state(&self) -> State {
        match self.phase {
            Phase::Initialize => State::Initialize,
            Phase::Backup { .. } => State::Backup,
            Phase::Master { .. } => State::Master,
            Phase::Fault => State::Fault,
        }
    }

    /// The priority this instance advertises (base plus weights, clamped).
    pub fn effective_priority(&self) -> u8 {
        self.effective
    }

    /// The current master's address, if known.
    pub fn master(&self) -> Option<IpAddr> {
        self.master
    }

    /// The interval used for the master-down timer: ours, or the master's in v3.
    pub fn master_adver_int(&self) -> Interval {
        self.master_adver_int
    }

    /// Whether the instance is held in FAULT (by a tracker, the link, or its group).
    pub fn is_faulty(&self) -> bool {
        self.tracking_fault || self.group_fault || self.group_waiting
    }

    /// Whether its own trackers or link hold it in FAULT (not its sync group), other
    /// than by waiting for a first result.
    pub fn has_own_fault(&self) -> bool {
        self.tracking_fault && !self.waiting
    }

    /// keepalived's `num_script_init`: a weight-0 tracker has not reported yet since
    /// start-up and nothing else holds the instance in FAULT. Such an instance is in
    /// FAULT *silently* (no notify) until its first results, and so is every member
    /// of its sync group. A running instance (a reload adding a tracker) does not
    /// wait: a missing result is a fault there.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// In FAULT without having reported it (see [`Instance::is_waiting`]).
    pub fn is_silent(&self) -> bool {
        self.silent
    }

    /// A sync-group member in BACKUP whose master-down timer has expired.
    pub fn wants_master(&self) -> bool {
        matches!(
            self.phase,
            Phase::Backup {
                wants_master: true,
                ..
            }
        )
    }

    /// From now on checks and writes keepalived ≤ 1.3.6's unicast checksum (the router
    /// found a peer using it).
    pub(crate) fn use_old_unicast_checksum(&mut self) {
        self.config.checksum = wire::ChecksumMode::OldUnicast;
        self.config.old_checksum_auto = false;
    }

    /// Marks the instance as a sync-group member (see [`crate::router`]).
    pub(crate) fn set_sync_member(&mut self, member: bool) {
        self.sync_member = member;
    }

    /// The skew time at the current effective priority and master interval.
    pub fn skew(&self) -> Duration {
        timer::skew(self.config.version, self.effective, self.master_adver_int)
    }

    /// The master-down interval at the current effective priority and master interval.
    pub fn master_down_interval(&self) -> Duration {
        timer::master_down(
            self.config.version,
            self.effective,
            self.master_adver_int,
            self.config.down_timer_adverts,
        )
    }

    /// The next deadline, if any (the router calls `on_timeout` then).
    #[inline]
    pub fn poll_at(&self) -> Option<Instant> {
        match self.phase {
            Phase::Initialize | Phase::Fault => None,
            Phase::Backup { down_at, .. } => Some(down_at),
            Phase::Master {
                advert_at, garp, ..
            } => Some(match garp {
                GarpNext::Second(t) | GarpNext::Refresh(t) => t.min(advert_at),
                GarpNext::Done => advert_at,
            }),
        }
    }

    /// The advert this instance sends with `priority`, borrowing its VIP list.
    pub fn advert(&self, priority: u8) -> Repr<'_> {
        Repr {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            interval: self.config.interval,
            auth: self.config.auth,
            addresses: self.vips.addresses(),
        }
    }

    /// Writes the advert for [`Effect::SendAdvert`] into `buf`, sent from the configured
    /// primary address to `dst` (the multicast group, or a unicast peer: the v3
    /// checksum covers it). Returns the message length.
    pub fn emit_advert(&self, priority: u8, buf: &mut [u8], dst: IpAddr) -> wire::Result<usize> {
        self.advert(priority)
            .emit(buf, self.config.primary, dst, self.config.checksum)
    }

    /// Leaves Initialize (RFC 5798 6.4.1, keepalived's `vrrp_init_state`): the address
    /// owner that wants MASTER becomes master at once; everyone else, `state MASTER`
    /// below 255 included, starts as backup with the full master-down timer. A faulty
    /// instance goes to FAULT instead.
    pub(crate) fn start(&mut self, now: Instant, out: &mut impl Sink) {
        if self.phase != Phase::Initialize {
            return;
        }
        self.master_adver_int = self.config.interval;
        if self.is_faulty() && !self.has_own_fault() && !self.group_fault {
            // keepalived's vrrp_init_state: FAULT, no notify, while scripts are in init.
            self.enter_fault(now, Reason::Waiting, out);
            self.silent = true;
        } else if self.is_faulty() {
            self.enter_fault(now, Reason::Fault, out);
        } else if self.is_owner_wanting_master() {
            self.become_master(now, Reason::Owner, out);
        } else {
            self.become_backup(now, Reason::Startup, out);
        }
    }

    /// Takes a new configuration and VIP list in place, as keepalived's reload does for
    /// an instance it finds again (`vrrp_exist`, `restore_vrrp_state`): the state is
    /// kept and no transition is reported. A master advertises at once with the new
    /// priority and, if VIPs were added, installs and announces them (keepalived sends
    /// GARPs for all of them; removing the old ones is the host's, which knows them); a backup restarts its master-down timer from `now` with
    /// the new values (keepalived's `vrrp_init_instance_sands`). `status` is the
    /// trackers' status under the new configuration: a new fault still enters FAULT.
    /// The VRID and family must not change (that is a new instance).
    pub(crate) fn reconfigure(
        &mut self,
        now: Instant,
        config: Config,
        vips: Vips<V>,
        status: TrackStatus,
        out: &mut impl Sink,
    ) -> Result<(), ConfigError> {
        config.validate()?;
        if vips.addresses().family() != config.family() {
            return Err(ConfigError::VipFamily);
        }
        let vips_added = vips.adds_to(&self.vips);
        self.config = config;
        self.vips = vips;
        // keepalived builds a new instance with the new priority: no "Changing effective
        // priority" on reload.
        self.set_tracking(now, status, &mut |e: Effect| {
            if !matches!(e, Effect::PriorityChanged { .. }) {
                out.effect(e)
            }
        });
        // A fresh instance in keepalived: the master interval is its own again.
        self.master_adver_int = config.interval;
        let down = now + self.master_down_interval();
        match &mut self.phase {
            Phase::Master {
                advert_at, garp, ..
            } => {
                *advert_at = now;
                self.master = Some(config.primary);
                if vips_added {
                    let g = config.garp;
                    if !matches!(garp, GarpNext::Second(_)) {
                        *garp = if g.refresh.as_ticks() > 0 {
                            GarpNext::Refresh(now + g.refresh)
                        } else {
                            GarpNext::Done
                        };
                    }
                    out.effect(Effect::AddVips);
                    announce(out, g.repeat, g.spacing);
                }
            }
            Phase::Backup {
                down_at,
                resigned,
                wants_master,
                ..
            } => {
                *down_at = down;
                *resigned = false;
                *wants_master = false;
            }
            Phase::Initialize | Phase::Fault => {}
        }
        Ok(())
    }

    fn is_owner_wanting_master(&self) -> bool {
        self.effective == OWNER && self.config.initial == InitialState::Master
    }

    /// Stops the instance: a master resigns with a priority-0 advert (RFC 5798 6.4.3)
    /// and removes its VIPs. Ends in Initialize; [`Instance::start`] starts it again.
    pub(crate) fn shutdown(&mut self, _now: Instant, out: &mut impl Sink) {
        let from = self.state();
        if from == State::Master {
            out.effect(Effect::SendAdvert { priority: RESIGN });
            out.effect(Effect::RemoveVips);
        }
        if from != State::Initialize {
            self.phase = Phase::Initialize;
            self.master = None;
            self.silent = false;
            out.effect(Effect::StateChanged {
                from,
                to: State::Initialize,
                reason: Reason::Shutdown,
            });
        }
    }

    /// Puts off a master-down deadline that is due at `now` by `by`, for a host that
    /// knows an advert may have been lost before it could be read (its socket
    /// overflowed). Returns whether there was such a deadline. The RFC has no such
    /// rule; the host applies it at most once per silence of the master.
    pub(crate) fn defer_master_down(&mut self, now: Instant, by: Duration) -> bool {
        match &mut self.phase {
            Phase::Backup { down_at, .. } if now >= *down_at => {
                *down_at = now + by;
                true
            }
            _ => false,
        }
    }

    /// Handles every deadline that is due at `now`.
    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut impl Sink) {
        match self.phase {
            Phase::Backup {
                down_at,
                resigned,
                ref mut wants_master,
                ..
            } if now >= down_at => {
                let reason = if resigned {
                    Reason::MasterResigned
                } else {
                    Reason::MasterDown
                };
                if self.sync_member {
                    // keepalived's vrrp_sync_can_goto_master: the group decides; until
                    // then wait another master-down interval.
                    *wants_master = true;
                    let down = self.master_down_interval();
                    if let Phase::Backup { down_at, .. } = &mut self.phase {
                        *down_at = now + down;
                    }
                } else {
                    self.become_master(now, reason, out);
                }
            }
            Phase::Master {
                ref mut advert_at,
                ref mut garp,
                ..
            } => {
                if now >= *advert_at {
                    *advert_at = now + self.config.interval.duration();
                    out.effect(Effect::SendAdvert {
                        priority: self.effective,
                    });
                }
                let g = self.config.garp;
                let refresh_at = |t: Instant| {
                    if g.refresh.as_ticks() > 0 {
                        GarpNext::Refresh(t + g.refresh)
                    } else {
                        GarpNext::Done
                    }
                };
                match *garp {
                    GarpNext::Second(t) if now >= t => {
                        *garp = refresh_at(t);
                        announce(out, g.repeat, g.spacing);
                    }
                    GarpNext::Refresh(t) if now >= t => {
                        // From now, not from t: a host that slept does not catch up.
                        *garp = refresh_at(now);
                        announce(out, g.refresh_repeat, g.spacing);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Handles a received advert that [`Repr::parse`] accepted, sent from `src`.
    pub(crate) fn on_advert(
        &mut self,
        now: Instant,
        advert: &Repr<'_>,
        src: IpAddr,
        out: &mut impl Sink,
    ) -> Result<(), Drop> {
        self.check(advert, src)?;
        match self.phase {
            Phase::Initialize | Phase::Fault => Err(Drop::NotListening),
            Phase::Backup { .. } => {
                self.backup_rx(now, advert, src);
                Ok(())
            }
            Phase::Master { .. } => self.master_rx(now, advert, src, out),
        }
    }

    /// The checks of RFC 5798 7.1 and keepalived's `vrrp_check_packet` that depend on
    /// this instance.
    #[inline(always)]
    fn check(&self, advert: &Repr<'_>, src: IpAddr) -> Result<(), Drop> {
        let c = &self.config;
        if advert.vrid != c.vrid {
            return Err(Drop::Vrid);
        }
        if advert.version != c.version {
            return Err(Drop::Version);
        }
        if src == c.primary {
            return Err(Drop::OwnAdvert);
        }
        advert.check_auth(&c.auth).map_err(Drop::Auth)?;
        if c.version == Version::V2 && advert.interval != c.interval {
            return Err(Drop::Interval);
        }
        // keepalived: `vrrp_skip_check_adv_addr` spares only a backup, and only for
        // adverts from the master it already follows; a master always checks.
        let skip = !c.check_addresses
            && matches!(self.phase, Phase::Backup { .. })
            && self.master == Some(src);
        if !skip && !advert.addresses.same_set(&self.vips.addresses()) {
            return Err(Drop::Addresses);
        }
        Ok(())
    }

    /// RFC 5798 6.4.2 with keepalived's preempt_delay.
    #[inline(always)]
    fn backup_rx(&mut self, now: Instant, advert: &Repr<'_>, src: IpAddr) {
        let Phase::Backup {
            down_at,
            resigned,
            preempt_after,
            wants_master,
        } = &mut self.phase
        else {
            return;
        };
        if advert.priority == RESIGN {
            // Wait only the skew time, so the best backup takes over first.
            *down_at =
                now + timer::skew(self.config.version, self.effective, self.master_adver_int);
            *resigned = true;
            return;
        }
        let lower = advert.priority < self.effective;
        let delay = self.config.effective_preempt_delay();
        let delaying = lower
            && delay.as_ticks() > 0
            && match preempt_after {
                None => {
                    *preempt_after = Some(now + delay);
                    true
                }
                Some(t) => now < *t,
            };
        if !self.config.preempts() || !lower || delaying {
            if !lower {
                *preempt_after = None;
            }
            if self.config.version == Version::V3 {
                self.master_adver_int = advert.interval;
            }
            *down_at = now
                + timer::master_down(
                    self.config.version,
                    self.effective,
                    self.master_adver_int,
                    self.config.down_timer_adverts,
                );
            *resigned = false;
            *wants_master = false;
            self.master = Some(src);
        }
        // Else: lower priority and we preempt. Discard; the timer runs out.
    }

    /// RFC 5798 6.4.3 with keepalived's `vrrp_state_master_rx`.
    fn master_rx(
        &mut self,
        now: Instant,
        advert: &Repr<'_>,
        src: IpAddr,
        out: &mut impl Sink,
    ) -> Result<(), Drop> {
        if self.effective == OWNER && self.config.owner_ignores_adverts {
            return Err(Drop::Owner);
        }
        let theirs = advert.priority;
        if theirs == OWNER && self.effective == OWNER {
            // keepalived: "both configured as address owner, please fix - reducing local
            // priority"; the address comparison below then settles it.
            self.config.priority = OWNER - 1;
            self.set_effective(now, OWNER - 1, out);
        }
        let wins = theirs > self.effective
            || (theirs == self.effective && addr_key(src) > addr_key(self.config.primary));
        if wins {
            if self.config.higher_prio_send_advert {
                out.effect(Effect::SendAdvert {
                    priority: self.effective,
                });
            }
            if self.config.version == Version::V3 {
                self.master_adver_int = advert.interval;
            }
            self.become_backup(now, Reason::HigherPriority, out);
            self.master = Some(src);
            return Ok(());
        }
        let resign = theirs == RESIGN;
        if !resign && self.config.lower_priority == LowerPriority::Discard {
            return Ok(());
        }
        let interval = self.config.interval.duration();
        let Phase::Master {
            advert_at,
            answered_at,
            ..
        } = &mut self.phase
        else {
            return Ok(());
        };
        // One answer per advertisement interval at most: a flood is not amplified.
        if answered_at.is_some_and(|t| now < t + interval) {
            return Ok(());
        }
        *answered_at = Some(now);
        if resign {
            // RFC 5798 6.4.3: send at once and restart the advert timer.
            *advert_at = now + interval;
        }
        out.effect(Effect::SendAdvert {
            priority: self.effective,
        });
        if !resign {
            // keepalived refreshes ARP caches that a rival master may have taken over.
            announce(
                out,
                self.config.lower_prio_announce,
                self.config.garp.spacing,
            );
        }
        Ok(())
    }

    /// Applies a new tracking status ([`priority::Trackers::status`], with the link as
    /// a weight-0 tracker): FAULT in or out, and priority changes.
    pub(crate) fn set_tracking(&mut self, now: Instant, status: TrackStatus, out: &mut impl Sink) {
        let healthy = TrackStatus {
            faults: 0,
            ..status
        };
        if let Some(effective) = priority::effective(self.config.priority, healthy) {
            self.set_effective(now, effective, out);
        }
        self.tracking_fault = status.is_fault();
        // Only at start-up (not run yet, or still silent) is a missing first result
        // a wait rather than a fault (keepalived's INIT against INIT_RELOAD scripts).
        let starting = self.phase == Phase::Initialize || self.silent;
        self.waiting = starting && status.pending > 0 && status.faults == status.pending;
        self.update_fault(now, out);
    }

    /// keepalived's `vrrp_set_effective_priority`: no advert is sent (the next periodic
    /// one carries the change); a backup's running master-down timer moves by the
    /// change in the interval, since the skew depends on the priority.
    fn set_effective(&mut self, _now: Instant, effective: u8, out: &mut impl Sink) {
        if effective == self.effective {
            return;
        }
        let old_down = self.master_down_interval();
        out.effect(Effect::PriorityChanged {
            from: self.effective,
            to: effective,
        });
        self.effective = effective;
        let new_down = self.master_down_interval();
        if let Phase::Backup {
            down_at,
            resigned: false,
            ..
        } = &mut self.phase
        {
            *down_at = if new_down >= old_down {
                *down_at + (new_down - old_down)
            } else {
                *down_at - (old_down - new_down)
            };
        }
    }

    /// Sets or clears the FAULT imposed by a sync group (see [`crate::router`]).
    /// `waiting`: a member of the group is waiting for a first result.
    pub(crate) fn set_group_fault(
        &mut self,
        now: Instant,
        fault: bool,
        waiting: bool,
        out: &mut impl Sink,
    ) {
        self.hold_for_group(fault, waiting);
        self.update_fault(now, out);
    }

    /// Sets the sync group's hold without acting on it: the router sets it before an
    /// input, so that a member whose own fault clears while its group is still in
    /// FAULT stays there (keepalived's `try_up_instance` checks `num_member_fault`)
    /// rather than entering BACKUP and being pulled back.
    pub(crate) fn hold_for_group(&mut self, fault: bool, waiting: bool) {
        self.group_fault = fault;
        self.group_waiting = waiting;
    }

    fn update_fault(&mut self, now: Instant, out: &mut impl Sink) {
        match (self.is_faulty(), self.phase) {
            (_, Phase::Initialize) => {}
            (true, Phase::Fault) => {
                if self.silent && self.has_own_fault() {
                    // A first result that fails: keepalived's down_instance notifies
                    // FAULT (from FAULT). Members held by it stay silent.
                    self.silent = false;
                    out.effect(Effect::StateChanged {
                        from: State::Fault,
                        to: State::Fault,
                        reason: Reason::Fault,
                    });
                }
            }
            (false, Phase::Backup { .. } | Phase::Master { .. }) => {}
            (true, _) => self.enter_fault(now, Reason::Fault, out),
            (false, Phase::Fault) => {
                let reason = if self.silent {
                    Reason::Startup
                } else {
                    Reason::Recovered
                };
                self.silent = false;
                if self.is_owner_wanting_master() {
                    self.become_master(now, Reason::Owner, out);
                } else {
                    self.become_backup(now, reason, out);
                }
            }
        }
    }

    /// Moves a backup to MASTER now (sync groups: the group goes master).
    pub(crate) fn force_master(&mut self, now: Instant, reason: Reason, out: &mut impl Sink) {
        if matches!(self.phase, Phase::Backup { .. }) {
            self.become_master(now, reason, out);
        }
    }

    /// Moves to BACKUP now (sync groups: a member became backup).
    pub(crate) fn force_backup(&mut self, now: Instant, out: &mut impl Sink) {
        if matches!(self.phase, Phase::Master { .. }) {
            self.become_backup(now, Reason::SyncGroup, out);
        }
    }

    /// A master steps down to BACKUP because something it installed was deleted
    /// behind its back (keepalived's `set_vrrp_backup`): no priority-0 advert, its VIPs
    /// removed, and a master-down timer of the skew time only, so that it takes over
    /// again at once unless a better master speaks first.
    pub(crate) fn step_down(&mut self, now: Instant, out: &mut impl Sink) {
        if !matches!(self.phase, Phase::Master { .. }) {
            return;
        }
        self.become_backup(now, Reason::Withdrawn, out);
        let skew = self.skew();
        if let Phase::Backup { down_at, .. } = &mut self.phase {
            *down_at = now + skew;
        }
    }

    fn become_master(&mut self, now: Instant, reason: Reason, out: &mut impl Sink) {
        let from = self.state();
        let g = self.config.garp;
        self.phase = Phase::Master {
            advert_at: now + self.config.interval.duration(),
            garp: if g.delay.as_ticks() > 0 {
                GarpNext::Second(now + g.delay)
            } else if g.refresh.as_ticks() > 0 {
                GarpNext::Refresh(now + g.refresh)
            } else {
                GarpNext::Done
            },
            answered_at: None,
        };
        self.master = Some(self.config.primary);
        self.master_adver_int = self.config.interval;
        out.effect(Effect::StateChanged {
            from,
            to: State::Master,
            reason,
        });
        out.effect(Effect::SendAdvert {
            priority: self.effective,
        });
        out.effect(Effect::AddVips);
        announce(out, g.repeat, g.spacing);
    }

    fn become_backup(&mut self, now: Instant, reason: Reason, out: &mut impl Sink) {
        let from = self.state();
        if from == State::Master {
            out.effect(Effect::RemoveVips);
        }
        if from != State::Master {
            self.master = None;
            self.master_adver_int = self.config.interval;
        }
        self.phase = Phase::Backup {
            down_at: now + self.master_down_interval(),
            resigned: false,
            preempt_after: None,
            wants_master: false,
        };
        out.effect(Effect::StateChanged {
            from,
            to: State::Backup,
            reason,
        });
    }

    fn enter_fault(&mut self, _now: Instant, reason: Reason, out: &mut impl Sink) {
        let from = self.state();
        if from == State::Master {
            // keepalived resigns on the way into FAULT (twice; once is enough), so a
            // backup takes over after the skew time, not the master-down interval.
            out.effect(Effect::SendAdvert { priority: RESIGN });
            out.effect(Effect::RemoveVips);
        }
        self.phase = Phase::Fault;
        self.master = None;
        self.silent = false;
        out.effect(Effect::StateChanged {
            from,
            to: State::Fault,
            reason,
        });
    }
}

fn announce(out: &mut impl Sink, count: u8, spacing: Duration) {
    if count > 0 {
        out.effect(Effect::Announce { count, spacing });
    }
}

/// Addresses compare as unsigned integers in network byte order (RFC 5798 6.4.3).
fn addr_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

#[cfg(test)]
mod tests;
