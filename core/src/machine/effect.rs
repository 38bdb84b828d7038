//! What comes out of the machine: states, the reasons for changing them, effects for the
//! host to carry out, and why a received advert was dropped.

use crate::wire;
use embassy_time::Duration;
use heapless::Vec;

/// RFC 5798 6.4 states, plus keepalived's FAULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// A weight-0 tracker or the link failed: no adverts, no VIPs, adverts ignored.
    Fault,
}

impl State {
    /// keepalived's spelling, for logs operators already grep.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// Why the state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reason {
    /// Leaving Initialize as configured (`state BACKUP`, or `state MASTER`).
    Startup,
    /// Priority 255 at start-up or on leaving FAULT: the owner is master at once.
    Owner,
    /// No advert from a master within the master-down interval.
    MasterDown,
    /// The master resigned (priority 0) and no better backup spoke within skew time.
    MasterResigned,
    /// An advert of higher priority, or equal priority from a higher address.
    HigherPriority,
    /// A weight-0 tracker, or the link, failed.
    Fault,
    /// Start-up with a weight-0 tracker that has not reported yet (keepalived's
    /// `num_script_init`), its own or a sync-group member's: FAULT without notify.
    Waiting,
    /// Every fault cleared.
    Recovered,
    /// A member of this instance's sync group changed state.
    SyncGroup,
    /// The host found something the master installed (a tracked virtual route or
    /// rule) deleted behind its back.
    Withdrawn,
    /// The host is stopping the instance.
    Shutdown,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Startup => "start-up",
            Reason::Owner => "address owner",
            Reason::MasterDown => "master down timer expired",
            Reason::MasterResigned => "master resigned (priority 0)",
            Reason::HigherPriority => "higher priority advert received",
            Reason::Fault => "tracked object failed",
            Reason::Waiting => "init",
            Reason::Recovered => "tracked objects recovered",
            Reason::SyncGroup => "sync group member changed state",
            Reason::Withdrawn => "a virtual route or rule was deleted",
            Reason::Shutdown => "shutdown",
        }
    }
}

/// What the host must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Effect {
    /// Send an advert with this priority (0 to resign); the packet comes from
    /// [`super::Instance::emit_advert`].
    SendAdvert { priority: u8 },
    /// Install the VIPs on the interface.
    AddVips,
    /// Remove the VIPs.
    RemoveVips,
    /// Send `count` gratuitous ARPs (IPv4) or unsolicited neighbour advertisements
    /// (IPv6) for every VIP, `spacing` apart.
    Announce { count: u8, spacing: Duration },
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
    },
    /// keepalived logs this as "Changing effective priority from X to Y".
    PriorityChanged { from: u8, to: u8 },
}

/// Where effects go. A fixed-capacity [`Effects`] list or any `FnMut(Effect)`.
pub trait Sink {
    fn effect(&mut self, effect: Effect);
}

impl<F: FnMut(Effect)> Sink for F {
    fn effect(&mut self, effect: Effect) {
        self(effect)
    }
}

/// The most effects one call into the machine produces (becoming master after a
/// resignation: state, advert, VIPs, announce; five leaves room). The simulation checks
/// this bound on every step.
pub const MAX_EFFECTS: usize = 8;

/// A fixed-capacity effect list, enough for any one call into one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects(Vec<Effect, MAX_EFFECTS>);

impl Effects {
    pub const fn new() -> Self {
        Effects(Vec::new())
    }

    pub fn clear(&mut self) {
        self.0.clear()
    }
}

impl Sink for Effects {
    fn effect(&mut self, effect: Effect) {
        // No call produces more than MAX_EFFECTS (see its doc); a caller that reuses the
        // list without clearing it loses the newest, which debug builds catch.
        let pushed = self.0.push(effect);
        debug_assert!(pushed.is_ok(), "effect list full: clear it between calls");
    }
}

impl core::ops::Deref for Effects {
    type Target = [Effect];
    fn deref(&self) -> &[Effect] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a Effects {
    type Item = &'a Effect;
    type IntoIter = core::slice::Iter<'a, Effect>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Why a received advert was not acted on. Hosts count these by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Drop {
    /// For another virtual router.
    Vrid,
    /// VRRP version differs from this instance's.
    Version,
    /// Authentication type or password (see the inner error).
    Auth(wire::Error),
    /// VRRPv2: the advert interval differs from ours (RFC 3768 7.1 says discard).
    Interval,
    /// The address list differs from our VIPs (keepalived's check).
    Addresses,
    /// Our own advert came back (multicast loop).
    OwnAdvert,
    /// The instance is in Initialize or FAULT and does not listen.
    NotListening,
    /// An address owner in MASTER with `owner_ignores_adverts`.
    Owner,
}

impl Drop {
    /// A snake_case name, as hosts use it for counters.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Drop::Vrid => "vrid",
            Drop::Version => "version",
            Drop::Auth(_) => "auth",
            Drop::Interval => "interval",
            Drop::Addresses => "addresses",
            Drop::OwnAdvert => "own_advert",
            Drop::NotListening => "not_listening",
            Drop::Owner => "owner_ignores_adverts",
        }
    }
}
