//! vigil on smoltcp: the same `no_std`, heap-free VRRP core as vigild, driven by a bare
//! network stack, as it would run in an appliance's firmware.
//!
//! - [`node`]: the protocol loop, [`Vrrp`]: vigil-core's [`vigil_core::router::Router`]
//!   on a smoltcp [`smoltcp::iface::Interface`] over any [`smoltcp::phy::Device`], one
//!   raw socket for IP protocol 112 in fixed buffers ([`Storage`]), 224.0.0.18 joined
//!   (or unicast peers), adverts on the router's deadlines, VIPs on the interface while
//!   master (so smoltcp answers ARP and ICMP echo for them), gratuitous ARP on takeover.
//! - [`device`]: the device wrapper that restores the adverts' TOS, which smoltcp's raw
//!   socket drops.
//! - [`neighbours`]: smoltcp's neighbour cache, restored after each VIP change flushes
//!   it (so the first ping after a takeover is answered).
//!
//! The bytes around an advert (its IPv4 header, gratuitous ARP and ARP request frames,
//! the sender of a frame) are vigil-core's [`vigil_core::wire::ipv4`],
//! [`vigil_core::wire::arp`] and [`vigil_core::wire::ethernet`], which vigild uses too.
//!
//! Time is embassy-time's [`embassy_time::Instant`], passed in: the loop reads no clock.
//! The crate is `#![no_std]` and never allocates; the `std` feature only builds the host
//! binary `vigil-fw`, which runs the loop on a Linux TAP device.
#![no_std]
#![forbid(unsafe_code)]

pub mod device;
pub mod neighbours;
pub mod node;
mod report;
mod setup;

pub use node::{NetConfig, Observer, RxDrop, SetupError, Storage, TxError, Vrrp};
pub use smoltcp;
pub use vigil_core;

/// smoltcp's timestamp for an embassy-time instant (both count from the same boot).
pub fn to_smoltcp(t: embassy_time::Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}

/// The embassy-time instant of a smoltcp timestamp (negative ones are clamped to zero).
pub fn from_smoltcp(t: smoltcp::time::Instant) -> embassy_time::Instant {
    embassy_time::Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_conversions_round_trip() {
        let t = embassy_time::Instant::from_micros(3_609_375);
        assert_eq!(to_smoltcp(t).total_micros(), 3_609_375);
        assert_eq!(from_smoltcp(to_smoltcp(t)), t);
        assert_eq!(
            from_smoltcp(smoltcp::time::Instant::from_micros(-5)),
            embassy_time::Instant::from_micros(0)
        );
    }
}
