//! What the loop tells its host: the router's outputs it carried out, dropped packets
//! ([`RxDrop`]) and failed sends ([`TxError`]), through an [`Observer`].

use core::net::Ipv4Addr;

use vigil_core::machine::State;
use vigil_core::router::{self, Event, Transmit};
use vigil_core::wire::{self, ipv4::Ipv4Error};

#[cfg(doc)]
use crate::Vrrp;

/// Why a received packet did not reach an instance's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RxDrop {
    /// The IP header (see [`Ipv4Error`]).
    Ip(Ipv4Error),
    /// Neither to 224.0.0.18 nor to the own address (smoltcp hands raw sockets every
    /// protocol-112 packet the interface sees).
    NotForUs(Ipv4Addr),
    /// The router refused it: unknown VRID, destination, codec, state machine (its
    /// [`router::RxDrop::reason`] is the counter name vigild uses too).
    Router(router::RxDrop),
}

/// A send the loop could not carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TxError {
    /// The raw socket's transmit buffer is full: this advert is lost.
    SocketFull,
    /// The core could not emit the advert.
    Emit(wire::Error),
}

/// What the loop reports to its host: every router output it carried out, every packet
/// it dropped, every send that failed. All methods default to doing nothing; `()` is the
/// observer that ignores everything. (With the `defmt` feature the loop also logs state
/// changes, drops and failures itself.)
pub trait Observer {
    /// `event` of instance `instance` (its index from [`Vrrp::add_instance`]) has been
    /// carried out.
    fn event(&mut self, instance: usize, event: &Event) {
        let _ = (instance, event);
    }
    /// An advert went to the raw socket (multicast) or to a unicast peer (sent, or
    /// waiting for the peer's MAC).
    fn advert(&mut self, transmit: &Transmit) {
        let _ = transmit;
    }
    /// Sync group `group` (from [`Vrrp::add_group`]) settled in `state`.
    fn group(&mut self, group: usize, state: State) {
        let _ = (group, state);
    }
    fn dropped(&mut self, drop: RxDrop) {
        let _ = drop;
    }
    fn failed(&mut self, instance: usize, error: TxError) {
        let _ = (instance, error);
    }
}

impl Observer for () {}
