//! Why a datagram was not acted on: the one table of drop reasons, with the names
//! every host counts and logs them under (the daemon's counters and status JSON, its
//! eBPF socket filter, the firmware's log).

use crate::machine::Drop;
use crate::wire;

/// Every reason a received packet is dropped, with its counter name. The first group is
/// decided by the [`super::Router`] (and, where a host has one, its socket filter in the
/// same order); the last three are reported by hosts for packets that never became a
/// datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    Truncated,
    WrongDestination,
    UnknownVrid,
    Ttl,
    Version,
    Type,
    V2OverIpv6,
    UnicastSource,
    Length,
    Checksum,
    AuthAh,
    AuthType,
    AuthMismatch,
    Password,
    IntervalZero,
    Family,
    /// A wire error that cannot occur on parse (emit-only variants).
    Other,
    /// The state machine: the advert carries another VRID (cannot happen after demux).
    Vrid,
    /// The state machine: authentication refused (see [`Drop::Auth`]).
    Auth,
    Interval,
    Addresses,
    OwnAdvert,
    NotListening,
    OwnerIgnoresAdverts,
    /// Host: not a well-formed IP datagram (larger than the buffer, a bad header).
    Malformed,
    /// Host: receiving failed.
    ReceiveError,
    /// Host: the socket reported an error.
    SocketError,
}

impl DropReason {
    /// The snake_case counter name.
    pub const fn as_str(self) -> &'static str {
        use DropReason as R;
        match self {
            R::Truncated => "truncated",
            R::WrongDestination => "wrong_destination",
            R::UnknownVrid => "unknown_vrid",
            R::Ttl => "ttl",
            R::Version => "version",
            R::Type => "type",
            R::V2OverIpv6 => "v2_over_ipv6",
            R::UnicastSource => "unicast_source",
            R::Length => "length",
            R::Checksum => "checksum",
            R::AuthAh => "auth_ah",
            R::AuthType => "auth_type",
            R::AuthMismatch => "auth_mismatch",
            R::Password => "password",
            R::IntervalZero => "interval_zero",
            R::Family => "family",
            R::Other => "other",
            R::Vrid => "vrid",
            R::Auth => "auth",
            R::Interval => "interval",
            R::Addresses => "addresses",
            R::OwnAdvert => "own_advert",
            R::NotListening => "not_listening",
            R::OwnerIgnoresAdverts => "owner_ignores_adverts",
            R::Malformed => "malformed",
            R::ReceiveError => "receive_error",
            R::SocketError => "socket_error",
        }
    }

    /// The reason a codec error is counted under.
    pub const fn of_wire(e: &wire::Error) -> Self {
        use DropReason as R;
        use wire::Error as E;
        match e {
            E::Truncated => R::Truncated,
            E::Version(_) => R::Version,
            E::Type(_) => R::Type,
            E::V2OverIpv6 => R::V2OverIpv6,
            E::Length { .. } => R::Length,
            E::Ttl(_) => R::Ttl,
            E::Checksum { .. } => R::Checksum,
            E::AuthAh => R::AuthAh,
            E::AuthType(_) => R::AuthType,
            E::AuthMismatch { .. } => R::AuthMismatch,
            E::Password => R::Password,
            E::IntervalZero => R::IntervalZero,
            E::FamilyMismatch => R::Family,
            E::IntervalRange | E::TooManyAddresses | E::BufferTooSmall => R::Other,
        }
    }

    /// The reason a state-machine refusal is counted under.
    pub const fn of_machine(d: &Drop) -> Self {
        use DropReason as R;
        match d {
            Drop::Vrid => R::Vrid,
            Drop::Version => R::Version,
            Drop::Auth(_) => R::Auth,
            Drop::Interval => R::Interval,
            Drop::Addresses => R::Addresses,
            Drop::OwnAdvert => R::OwnAdvert,
            Drop::NotListening => R::NotListening,
            Drop::Owner => R::OwnerIgnoresAdverts,
        }
    }
}

/// A datagram the router did not act on, with what a log line needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RxDrop {
    /// Too short to carry a VRID.
    Truncated,
    /// No instance on this channel and family has the VRID.
    UnknownVrid { vrid: u8 },
    /// Multicast to a unicast instance, or to another group than the instance's.
    WrongDestination { instance: usize },
    /// `check_unicast_src`: the sender is not one of the instance's peers.
    UnicastSource { instance: usize },
    /// The codec refused it (checked with the instance's checksum mode).
    Wire { instance: usize, error: wire::Error },
    /// The instance's state machine refused it.
    Machine { instance: usize, drop: Drop },
}

impl RxDrop {
    pub const fn reason(&self) -> DropReason {
        match self {
            RxDrop::Truncated => DropReason::Truncated,
            RxDrop::UnknownVrid { .. } => DropReason::UnknownVrid,
            RxDrop::WrongDestination { .. } => DropReason::WrongDestination,
            RxDrop::UnicastSource { .. } => DropReason::UnicastSource,
            RxDrop::Wire { error, .. } => DropReason::of_wire(error),
            RxDrop::Machine { drop, .. } => DropReason::of_machine(drop),
        }
    }

    /// The instance the datagram was for, once demultiplexed.
    pub const fn instance(&self) -> Option<usize> {
        match *self {
            RxDrop::Truncated | RxDrop::UnknownVrid { .. } => None,
            RxDrop::WrongDestination { instance }
            | RxDrop::UnicastSource { instance }
            | RxDrop::Wire { instance, .. }
            | RxDrop::Machine { instance, .. } => Some(instance),
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
