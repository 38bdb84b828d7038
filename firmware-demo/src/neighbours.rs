//! smoltcp's neighbour cache, kept across the loop's address changes.
//!
//! smoltcp flushes its whole neighbour cache whenever the interface's addresses change
//! (`Interface::update_ip_addrs`), which the loop does at every VIP change, and it
//! drops an ICMP echo reply (or any packet) to a neighbour it must first resolve. So the
//! first ping after a takeover went unanswered: smoltcp sent an ARP request for the
//! client instead. The cache itself is private to smoltcp; what fills it is ARP aimed at
//! the interface's addresses. [`Neighbours`] watches the same ARP (through the device's
//! receive hook), aimed at the own address or at any VIP of the loop's instances (a
//! client that asked for a VIP while another router held it talks to whoever holds it
//! next), and after each address change hands smoltcp one ARP reply per neighbour still
//! within smoltcp's entry lifetime, which refills the cache before any other frame.
//!
//! The table holds as many neighbours as smoltcp's cache
//! (`smoltcp::config::IFACE_NEIGHBOR_CACHE_COUNT`); when full, the oldest goes.

use core::net::Ipv4Addr;

use embassy_time::{Duration, Instant};
use heapless::Vec;
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, RxToken};
use smoltcp::time::Instant as SmolInstant;
use vigil_core::wire::arp::{self, ARP_FRAME_LEN};
use vigil_core::wire::ethernet::{self, ETHERTYPE_ARP};

use crate::to_smoltcp;

/// Neighbours remembered: the size of smoltcp's own cache.
pub const CAPACITY: usize = smoltcp::config::IFACE_NEIGHBOR_CACHE_COUNT;
/// smoltcp's entry lifetime (`neighbor::Cache::ENTRY_LIFETIME`, private to smoltcp):
/// an older entry would have expired there too, so it is not restored.
pub const LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Neighbour {
    ip: Ipv4Addr,
    mac: [u8; 6],
    learned: Instant,
}

/// The neighbours smoltcp knows (or would, had it held the VIPs).
#[derive(Debug, Default)]
pub struct Neighbours {
    known: Vec<Neighbour, CAPACITY>,
}

impl Neighbours {
    pub const fn new() -> Self {
        Neighbours { known: Vec::new() }
    }

    /// Learns the sender of `frame` if it is ARP aimed at an address `ours` accepts.
    pub fn learn(&mut self, frame: &[u8], ours: impl Fn(Ipv4Addr) -> bool, now: Instant) {
        let Some((ETHERTYPE_ARP, body)) = ethernet::payload(frame) else {
            return;
        };
        let (Some((mac, ip)), Some(target)) = (arp::sender(body), arp::target(body)) else {
            return;
        };
        if !ours(target) || !ethernet::is_unicast(mac) || !is_unicast(ip) {
            return;
        }
        let entry = Neighbour {
            ip,
            mac,
            learned: now,
        };
        if let Some(known) = self.known.iter_mut().find(|n| n.ip == ip) {
            *known = entry;
        } else if let Err(entry) = self.known.push(entry) {
            // Full: the oldest goes. Capacity is at least 1 (smoltcp's smallest).
            if let Some(oldest) = self.known.iter_mut().min_by_key(|n| n.learned) {
                *oldest = entry;
            }
        }
    }

    /// Refills smoltcp's neighbour cache after an address change: one ARP reply per
    /// neighbour learned within [`LIFETIME`], from it to the own address `own` at `mac`,
    /// straight into `iface` (nothing goes on the wire: smoltcp answers no reply). A
    /// device out of transmit buffers (smoltcp wants one per received frame) leaves the
    /// rest to be learned again.
    pub fn restore<D: Device + ?Sized>(
        &mut self,
        iface: &mut Interface,
        device: &mut D,
        sockets: &mut SocketSet<'_>,
        (mac, own): ([u8; 6], Ipv4Addr),
        now: Instant,
    ) {
        self.known.retain(|n| now < n.learned + LIFETIME);
        for n in &self.known {
            let mut frame = [0u8; ARP_FRAME_LEN];
            if arp::emit_reply(&mut frame, (n.mac, n.ip), (mac, own)).is_some() {
                let mut one = OneFrame {
                    inner: &mut *device,
                    frame: Some(frame),
                };
                iface.poll_ingress_single(to_smoltcp(now), &mut one, sockets);
            }
        }
    }
}

/// Whether `ip` can be a neighbour (smoltcp learns only unicast senders).
fn is_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast())
}

/// The loop's device with one frame in front of its receive queue: how a restored
/// neighbour goes into smoltcp. Its transmit side is the real device's (smoltcp pairs a
/// transmit token with every received frame for its answer; to an ARP reply it answers
/// nothing).
struct OneFrame<'d, D: Device + ?Sized> {
    inner: &'d mut D,
    frame: Option<[u8; ARP_FRAME_LEN]>,
}

struct FrameRx([u8; ARP_FRAME_LEN]);

impl RxToken for FrameRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl<D: Device + ?Sized> Device for OneFrame<'_, D> {
    type RxToken<'a>
        = FrameRx
    where
        Self: 'a;
    type TxToken<'a>
        = D::TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: SmolInstant) -> Option<(FrameRx, D::TxToken<'_>)> {
        let frame = self.frame.take()?;
        Some((FrameRx(frame), self.inner.transmit(timestamp)?))
    }

    fn transmit(&mut self, timestamp: SmolInstant) -> Option<D::TxToken<'_>> {
        self.inner.transmit(timestamp)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

    fn ours(ip: Ipv4Addr) -> bool {
        ip == OWN || ip == VIP
    }

    fn request(n: u8, target: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
        let mut f = [0u8; ARP_FRAME_LEN];
        arp::emit_request(
            &mut f,
            [2, 0, 0, 0, 0, n],
            Ipv4Addr::new(10, 0, 0, n),
            target,
        );
        f
    }

    fn ips(n: &Neighbours) -> std::vec::Vec<u8> {
        n.known.iter().map(|k| k.ip.octets()[3]).collect()
    }

    extern crate std;

    #[test]
    fn learns_arp_aimed_at_own_address_or_vip_only() {
        let mut n = Neighbours::new();
        let t = Instant::from_secs(1);
        n.learn(&request(100, VIP), ours, t);
        n.learn(&request(101, OWN), ours, t);
        n.learn(&request(102, Ipv4Addr::new(10, 0, 0, 9)), ours, t);
        // A gratuitous ARP names no one of ours; a multicast sender MAC teaches nothing.
        let mut garp = [0u8; ARP_FRAME_LEN];
        arp::emit_garp(
            &mut garp,
            [2, 0, 0, 0, 0, 103],
            Ipv4Addr::new(10, 0, 0, 103),
        );
        n.learn(&garp, ours, t);
        let mut multicast = request(104, OWN);
        multicast[22] = 1; // the ARP sender hardware address
        n.learn(&multicast, ours, t);
        n.learn(&request(105, OWN)[..41], ours, t);
        assert_eq!(ips(&n), [100, 101]);
        // Learned again: refreshed, not doubled.
        n.learn(&request(100, OWN), ours, t + Duration::from_secs(5));
        assert_eq!(ips(&n), [100, 101]);
        assert_eq!(n.known[0].learned, t + Duration::from_secs(5));
    }

    #[test]
    fn full_table_drops_the_oldest() {
        let mut n = Neighbours::new();
        for i in 0..CAPACITY as u8 {
            n.learn(
                &request(100 + i, OWN),
                ours,
                Instant::from_secs(u64::from(i) + 1),
            );
        }
        n.learn(&request(200, OWN), ours, Instant::from_secs(100));
        assert_eq!(n.known.len(), CAPACITY);
        assert!(!ips(&n).contains(&100));
        assert!(ips(&n).contains(&200));
    }
}
