//! A thin wrapper around any smoltcp [`Device`] that gives outgoing VRRP adverts their
//! TOS (0xc0). smoltcp's raw socket parses the IP header the loop wrote and emits a new
//! one from its representation, which has no TOS field; the wrapper restores it on the
//! frame, in the transmit token, without copying. Everything else passes through.
//!
//! It also lets the loop look at every received frame before smoltcp does (a snoop
//! hook), which is how the loop learns its unicast peers' MAC addresses.
//!
//! Gratuitous ARP does not need the wrapper: the loop takes a transmit token from the
//! device itself and writes the whole frame (see [`vigil_core::wire::arp::emit_garp`]).

use smoltcp::phy::{Device, DeviceCapabilities, Medium, PacketMeta, RxToken, TxToken};
use smoltcp::time::Instant;
use vigil_core::wire::PROTOCOL;
use vigil_core::wire::ethernet::{self, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4};
use vigil_core::wire::ipv4::{self, Ipv4Header, TOS_NETWORK_CONTROL};

/// The receive hook: sees every received frame before smoltcp does.
pub type Snoop<'a> = &'a mut dyn FnMut(&[u8]);

/// Borrows a device for one call into smoltcp's interface.
pub struct VrrpDevice<'d, D: Device + ?Sized> {
    inner: &'d mut D,
    snoop: Option<Snoop<'d>>,
}

impl<'d, D: Device + ?Sized> VrrpDevice<'d, D> {
    pub fn new(inner: &'d mut D) -> Self {
        VrrpDevice { inner, snoop: None }
    }

    /// Also shows every received frame to `snoop`, before smoltcp processes it.
    pub fn snooping(inner: &'d mut D, snoop: Snoop<'d>) -> Self {
        VrrpDevice {
            inner,
            snoop: Some(snoop),
        }
    }
}

impl<D: Device + ?Sized> core::fmt::Debug for VrrpDevice<'_, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VrrpDevice")
            .field("snoop", &self.snoop.is_some())
            .finish_non_exhaustive()
    }
}

/// The inner device's receive token, showing the frame to the snoop hook first.
pub struct VrrpRxToken<'a, T> {
    inner: T,
    snoop: Option<Snoop<'a>>,
}

impl<T> core::fmt::Debug for VrrpRxToken<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("VrrpRxToken").finish_non_exhaustive()
    }
}

impl<T: RxToken> RxToken for VrrpRxToken<'_, T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let snoop = self.snoop;
        self.inner.consume(|buf| {
            if let Some(s) = snoop {
                s(buf);
            }
            f(buf)
        })
    }

    fn meta(&self) -> PacketMeta {
        self.inner.meta()
    }
}

/// The inner device's transmit token, marking VRRP frames on the way out (Ethernet
/// only: an IP-medium device carries no Ethernet header to find the packet behind).
#[derive(Debug)]
pub struct VrrpTxToken<T> {
    inner: T,
    ethernet: bool,
}

impl<T: TxToken> TxToken for VrrpTxToken<T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let ethernet = self.ethernet;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            if ethernet {
                mark_vrrp_frame(buf);
            }
            r
        })
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.inner.set_meta(meta)
    }
}

impl<D: Device + ?Sized> Device for VrrpDevice<'_, D> {
    type RxToken<'a>
        = VrrpRxToken<'a, D::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = VrrpTxToken<D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let ethernet = self.inner.capabilities().medium == Medium::Ethernet;
        let VrrpDevice { inner, snoop } = self;
        inner.receive(timestamp).map(|(rx, tx)| {
            (
                VrrpRxToken {
                    inner: rx,
                    snoop: match snoop {
                        Some(s) => Some(&mut **s),
                        None => None,
                    },
                },
                VrrpTxToken {
                    inner: tx,
                    ethernet,
                },
            )
        })
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let ethernet = self.inner.capabilities().medium == Medium::Ethernet;
        self.inner
            .transmit(timestamp)
            .map(|inner| VrrpTxToken { inner, ethernet })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// Sets TOS 0xc0 (and the header checksum) on an outgoing Ethernet frame if it carries a
/// VRRP advert sent with TOS 0 (smoltcp's raw socket loses the TOS the loop wrote).
/// Returns whether the frame was changed. Any other frame is left alone.
pub fn mark_vrrp_frame(frame: &mut [u8]) -> bool {
    if ethernet::payload(frame).is_none_or(|(ethertype, _)| ethertype != ETHERTYPE_IPV4) {
        return false;
    }
    let ip = &mut frame[ETHERNET_HEADER_LEN..];
    let vrrp_tos_0 =
        Ipv4Header::new_checked(ip).is_ok_and(|h| h.protocol() == PROTOCOL && h.tos() == 0);
    vrrp_tos_0 && ipv4::set_tos(ip, TOS_NETWORK_CONTROL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use vigil_core::wire::ipv4::Ipv4Repr;

    #[test]
    fn marks_only_vrrp_frames_with_tos_zero() {
        let mut frame = [0u8; 14 + 40];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let src = Ipv4Addr::new(10, 0, 0, 1);
        Ipv4Repr::advert(src, Ipv4Addr::new(224, 0, 0, 18), 20)
            .emit(&mut frame[14..])
            .unwrap();
        // As smoltcp re-emits it: TOS 0.
        assert!(ipv4::set_tos(&mut frame[14..], 0));
        assert!(mark_vrrp_frame(&mut frame));
        assert_eq!(frame[15], TOS_NETWORK_CONTROL);
        assert!(
            Ipv4Header::new_checked(&frame[14..])
                .unwrap()
                .verify_checksum()
        );
        // Already marked: untouched.
        assert!(!mark_vrrp_frame(&mut frame));
        // Not VRRP: untouched.
        frame[14 + 9] = 1;
        frame[15] = 0;
        assert!(!mark_vrrp_frame(&mut frame));
        assert!(!mark_vrrp_frame(&mut frame[..20]));
    }
}
