//! What the router hands out, and where it waits until the host asks for it.
//!
//! Each instance has a small outbox: at most one advert (a newer one replaces it: the
//! latest priority is what peers must hear) and a short queue of events. Two rings of
//! instance indices say which outboxes have something, so draining costs nothing for
//! the instances that have not, and the rings can never overflow: an instance is in
//! each at most once.

use crate::machine::{Reason, State};
use core::net::IpAddr;
use embassy_time::Duration;
use heapless::Deque;

/// Events one input produces for one instance at most: a priority change, a state
/// change with its VIPs and announcement, then its sync group moving it back. The
/// simulation checks the bound on every step.
pub const EVENTS_PER_INPUT: usize = 7;

/// Events one instance can hold between two drains: more than one input's worth, for
/// hosts that drain after every input. Beyond it events are counted as lost
/// ([`super::Router::events_lost`]), never a panic in release builds.
pub const EVENTS_PER_INSTANCE: usize = 12;

/// An advert to put on the wire: its bytes are in the buffer given to
/// [`super::Router::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    pub instance: usize,
    /// The instance's source address (its primary, or `mcast_src_ip`/`unicast_src_ip`).
    pub src: IpAddr,
    /// The multicast group or one unicast peer (the v3 checksum covers it).
    pub dst: IpAddr,
    /// The advertised priority (0: resigning).
    pub priority: u8,
    /// The first copy of this advert (unicast: one copy per peer), for counting.
    pub first: bool,
    /// The message length in the buffer, or why it could not be written.
    pub len: Result<usize, crate::wire::Error>,
}

/// Why a state changed, with the facts a log line needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Cause {
    /// A deadline, a tracker, a command or the sync group: [`Reason`] says which.
    Internal,
    /// A received advert decided it.
    Advert {
        from: IpAddr,
        /// The advertised priority.
        priority: u8,
        /// Ours when it arrived.
        ours: u8,
    },
}

impl Cause {
    /// For a master that yielded: whether it lost on priority or, at equal priority,
    /// on the address tie-break (RFC 5798 6.4.3).
    pub const fn won_on_address(&self) -> bool {
        matches!(self, Cause::Advert { priority, ours, .. } if *priority == *ours)
    }
}

/// What the host carries out after the adverts, in this order per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Install the instance's VIPs.
    AddVips,
    /// Remove them.
    RemoveVips,
    /// Send `count` gratuitous ARPs / unsolicited NAs per VIP, `spacing` apart.
    Announce { count: u8, spacing: Duration },
    StateChanged {
        from: State,
        to: State,
        reason: Reason,
        cause: Cause,
    },
    /// keepalived logs "Changing effective priority from X to Y".
    PriorityChanged { from: u8, to: u8 },
}

/// An output of [`super::Router::poll_event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Output {
    Instance {
        instance: usize,
        event: Event,
    },
    /// A sync group settled in a new state (MASTER, BACKUP or FAULT): keepalived's
    /// "Syncing instances to X state" and the group's notify scripts.
    Group {
        group: usize,
        state: State,
    },
}

/// One instance's pending outputs.
#[derive(Debug, Clone, Default)]
pub(super) struct Outbox {
    /// The advert to send, by priority.
    pub advert: Option<u8>,
    /// The next destination of that advert (unicast: peer index).
    pub next_dst: u8,
    pub events: Deque<Event, EVENTS_PER_INSTANCE>,
}
