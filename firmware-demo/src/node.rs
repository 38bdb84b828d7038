//! The protocol loop: a vigil-core [`Router`] on a smoltcp interface.
//!
//! [`Vrrp`] owns a smoltcp [`Interface`] (own address, VIPs while master), one raw
//! socket for IP protocol 112 over fixed buffers the caller lends ([`Storage`]), and a
//! [`Router`] of up to `N` instances. The caller owns the device and the clock:
//!
//! ```text
//! vrrp.start(now, &mut device, &mut obs);
//! loop {
//!     let now = Instant::now();              // embassy-time
//!     vrrp.poll(now, &mut device, &mut obs); // packets in, deadlines, packets out
//!     sleep until vrrp.poll_at(now) or the device has a frame
//! }
//! vrrp.shutdown(now, &mut device, &mut obs); // priority-0 adverts, VIPs removed
//! ```
//!
//! The path of an advert: frame in (smoltcp, the raw socket) -> IPv4 header read ->
//! [`Router::on_datagram`]; after every input to the router, [`Router::poll_transmit`]
//! is drained into the raw socket (multicast) or into Ethernet frames to each peer
//! (unicast), then [`Router::poll_event`] into the interface's addresses and
//! gratuitous-ARP bursts. The state machines and sync groups are the router's.
//!
//! Nothing here allocates, reads a clock or blocks.

use core::net::{IpAddr, Ipv4Addr};

use embassy_time::{Duration, Instant};
use heapless::Vec;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, TxToken};
use smoltcp::socket::raw;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpProtocol, IpVersion, Ipv4Cidr};
use vigil_core::machine::{self, Config, Instance, State, Vips};
use vigil_core::priority::TrackStatus;
use vigil_core::router::{self, Destination, Event, Output, Router, Transmit};
use vigil_core::wire::ethernet::{self, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4};
use vigil_core::wire::ipv4::{self, IPV4_HEADER_LEN, Ipv4Repr};
use vigil_core::wire::{self, Family, MCAST_V4, PROTOCOL, arp};

use crate::device::VrrpDevice;
use crate::neighbours::Neighbours;
pub use crate::report::{Observer, RxDrop, TxError};
pub use crate::setup::{
    NetConfig, RX_BYTES, RX_PACKETS, SetupError, Storage, TX_BYTES, TX_PACKETS,
};
use crate::{from_smoltcp, to_smoltcp};

/// A gratuitous-ARP burst in progress: `left` messages (one frame per VIP each), the
/// next at `at`.
#[derive(Debug, Clone, Copy)]
struct Burst {
    left: u8,
    next_vip: usize,
    at: Instant,
    spacing: Duration,
}

/// The longest advert the loop sends: smoltcp's address table holds the own address and
/// at most `IFACE_MAX_ADDR_COUNT - 1` VIPs (checked by [`Vrrp::add_instance`]), 4 bytes
/// each, plus the fixed header and v2's authentication data.
const ADVERT_MAX: usize =
    wire::HEADER_LEN + 4 * smoltcp::config::IFACE_MAX_ADDR_COUNT + wire::V2_AUTH_LEN;

/// A unicast advert waiting for its peer's MAC: the router hands each advert out once.
#[derive(Debug, Clone, Copy)]
struct Pending {
    priority: u8,
    len: u16,
    bytes: [u8; ADVERT_MAX],
}

/// A unicast peer. Adverts to it go out as whole Ethernet frames, straight to the device,
/// once its MAC is known: smoltcp's IP path would resolve it too, but smoltcp flushes its
/// neighbour cache whenever the interface's addresses change (every VIP change), and
/// rate-limits ARP to one request per second for the whole cache, which delays the
/// adverts of a new master (and the priority-0 adverts of a resigning one) by a second
/// per peer. The loop learns the MAC from every frame the peer sends (adverts, ARP) and
/// asks for it itself when it must send and does not know it.
#[derive(Debug, Clone, Copy)]
struct Peer {
    addr: Ipv4Addr,
    mac: Option<EthernetAddress>,
    /// The advert waiting for the MAC (the newest one wins).
    pending: Option<Pending>,
    /// When the loop last asked for the MAC.
    asked_at: Option<Instant>,
}

/// How often the loop repeats an unanswered ARP request for a peer.
const ARP_RETRY: Duration = Duration::from_millis(1000);

/// The channel every instance receives on (the loop has one interface).
const CHANNEL: u32 = 0;

/// What the loop keeps of an instance besides the router's state: how its VIPs go on
/// the interface, its unicast peers, its gratuitous ARPs. Indexed like the router.
#[derive(Debug)]
struct Slot<const V: usize, const P: usize> {
    /// The VIPs with their prefix lengths, as they go on the interface.
    vips: Vec<Ipv4Cidr, V>,
    /// Unicast peers; empty means multicast to 224.0.0.18.
    peers: Vec<Peer, P>,
    garp: Option<Burst>,
}

/// The protocol loop: up to `N` VRRP instances of up to `V` VIPs and `P` unicast peers
/// each, on one smoltcp interface.
pub struct Vrrp<'a, const N: usize = 1, const V: usize = { machine::MAX_VIPS }, const P: usize = 4>
{
    iface: Interface,
    sockets: SocketSet<'a>,
    raw: SocketHandle,
    mac: EthernetAddress,
    addr: Ipv4Cidr,
    router: Router<N, V, P>,
    slots: Vec<Slot<V, P>, N>,
    /// smoltcp's neighbour cache, restored after each VIP change flushes it.
    neighbours: Neighbours,
}

impl<const N: usize, const V: usize, const P: usize> core::fmt::Debug for Vrrp<'_, N, V, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vrrp")
            .field("mac", &self.mac)
            .field("addr", &self.addr)
            .field("ip_addrs", &self.iface.ip_addrs())
            .field("router", &self.router)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

macro_rules! fw_log {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        defmt::info!($($arg)*);
    }};
}

impl<'a, const N: usize, const V: usize, const P: usize> Vrrp<'a, N, V, P> {
    /// Sets up the interface (MAC, own address, optional gateway) over `device` and the
    /// raw socket for protocol 112 in `storage`. No instance yet.
    pub fn new<D: Device + ?Sized>(
        net: NetConfig,
        device: &mut D,
        storage: &'a mut Storage<'a>,
        now: Instant,
    ) -> Result<Self, SetupError> {
        if !net.mac.is_unicast() {
            return Err(SetupError::Mac);
        }
        let mut config = IfaceConfig::new(HardwareAddress::Ethernet(net.mac));
        config.random_seed = net.random_seed;
        let mut iface = Interface::new(config, device, to_smoltcp(now));
        iface.update_ip_addrs(|addrs| {
            // Capacity is at least 1 (smoltcp's smallest setting).
            let _ = addrs.push(IpCidr::Ipv4(net.addr));
        });
        if let Some(gw) = net.gateway {
            // The route table holds at least one route; a fresh one is empty.
            let _ = iface.routes_mut().add_default_ipv4_route(gw);
        }
        let Storage {
            sockets,
            rx_meta,
            rx,
            tx_meta,
            tx,
        } = storage;
        let socket = raw::Socket::new(
            Some(IpVersion::Ipv4),
            Some(IpProtocol::Unknown(PROTOCOL)),
            raw::PacketBuffer::new(&mut rx_meta[..], &mut rx[..]),
            raw::PacketBuffer::new(&mut tx_meta[..], &mut tx[..]),
        );
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let raw = sockets.add(socket);
        Ok(Vrrp {
            iface,
            sockets,
            raw,
            mac: net.mac,
            addr: net.addr,
            router: Router::new(),
            slots: Vec::new(),
            neighbours: Neighbours::new(),
        })
    }

    /// Adds an instance with its VIPs (address and prefix length, as they go on the
    /// interface) and unicast peers (none: multicast). Its `primary` must be the
    /// interface's address. Returns its index, which the [`Observer`] reports.
    pub fn add_instance(
        &mut self,
        config: Config,
        vips: &[Ipv4Cidr],
        peers: &[Ipv4Addr],
    ) -> Result<usize, SetupError> {
        if config.family() != Family::V4 {
            return Err(SetupError::NotIpv4);
        }
        if config.primary != IpAddr::V4(self.addr.address()) {
            return Err(SetupError::Primary);
        }
        if self.router.find(CHANNEL, Family::V4, config.vrid).is_some() {
            return Err(SetupError::DuplicateVrid(config.vrid));
        }
        if self.slots.is_full() {
            return Err(SetupError::TooManyInstances);
        }
        let mut list = Vips::<V>::new(Family::V4);
        let mut cidrs = Vec::new();
        for cidr in vips {
            list.push(IpAddr::V4(cidr.address()))?;
            // Same capacity as `list`, which took it.
            let _ = cidrs.push(*cidr);
        }
        let instance = Instance::new(config, list)?;
        if peers.len() > P {
            return Err(SetupError::TooManyPeers);
        }
        let mut peer_addrs: Vec<IpAddr, P> = Vec::new();
        let mut slot_peers: Vec<Peer, P> = Vec::new();
        for &addr in peers {
            // Room checked above.
            let _ = peer_addrs.push(IpAddr::V4(addr));
            let _ = slot_peers.push(Peer {
                addr,
                mac: None,
                pending: None,
                asked_at: None,
            });
        }
        // Every address the interface may carry at once: the own one and all VIPs.
        let capacity = smoltcp::config::IFACE_MAX_ADDR_COUNT;
        let needed = 1 + self.slots.iter().map(|s| s.vips.len()).sum::<usize>() + vips.len();
        if needed > capacity {
            return Err(SetupError::InterfaceAddresses { needed, capacity });
        }
        let dest = if peers.is_empty() {
            Destination::Multicast(IpAddr::V4(MCAST_V4))
        } else {
            Destination::Unicast {
                peers: peer_addrs,
                check_source: false,
            }
        };
        if peers.is_empty() {
            self.iface
                .join_multicast_group(MCAST_V4)
                .map_err(|_| SetupError::Multicast)?;
        }
        let index = self
            .router
            .add(instance, CHANNEL, dest)
            .map_err(|e| match e {
                router::SetupError::DuplicateVrid { vrid } => SetupError::DuplicateVrid(vrid),
                _ => SetupError::TooManyInstances,
            })?;
        let slot = Slot {
            vips: cidrs,
            peers: slot_peers,
            garp: None,
        };
        // Same capacity as the router, which took the instance.
        let _ = self.slots.push(slot);
        Ok(index)
    }

    /// Makes these instances (indices from [`Vrrp::add_instance`]) a sync group, whose
    /// members change state together (keepalived's `vrrp_sync_group`). Returns its index,
    /// which [`Observer::group`] reports.
    pub fn add_group(&mut self, members: &[usize]) -> Result<usize, SetupError> {
        self.router.add_group(members).map_err(|e| match e {
            router::SetupError::Member { instance } => SetupError::GroupMember(instance),
            _ => SetupError::TooManyInstances,
        })
    }

    /// Starts every instance (RFC 5798 6.4.1: backup, or master at once as the owner).
    /// What that sends goes out at the next [`Vrrp::poll`].
    pub fn start<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) {
        self.router.start_all(now);
        self.drain(now, device, obs);
    }

    /// One turn of the loop at `now`: smoltcp's ingress and egress (ARP, ICMP echo,
    /// IGMP), received adverts into the router, due deadlines, gratuitous ARPs, and the
    /// adverts this produced out. Returns whether any packet came in or went out.
    pub fn poll<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) -> bool {
        let ts = to_smoltcp(now);
        let (slots, neighbours, own) = (&mut self.slots, &mut self.neighbours, self.addr.address());
        let mut learn = |frame: &[u8]| {
            learn_peer_mac(slots, frame);
            let ours = |ip| {
                ip == own
                    || slots
                        .iter()
                        .any(|s| s.vips.iter().any(|v| v.address() == ip))
            };
            neighbours.learn(frame, ours, now);
        };
        let mut active = self.iface.poll(
            ts,
            &mut VrrpDevice::snooping(device, &mut learn),
            &mut self.sockets,
        ) != smoltcp::iface::PollResult::None;
        // Every packet now waiting in the raw socket: RX_PACKETS bounds the loop.
        for _ in 0..RX_PACKETS {
            match self.receive_one(now, device, obs) {
                Some(()) => active = true,
                None => break,
            }
        }
        if self.router.poll_at().is_some_and(|t| t <= now) {
            self.router.on_timeout(now);
            self.drain(now, device, obs);
        }
        active |= self.unicast_pending(now, device, obs);
        // Send what the router queued now, not at the next call; adverts before
        // gratuitous ARPs, as keepalived orders them. The queue holds TX_PACKETS.
        for _ in 0..=TX_PACKETS {
            let sent = self
                .iface
                .poll_egress(ts, &mut VrrpDevice::new(device), &mut self.sockets);
            if sent == smoltcp::iface::PollResult::None {
                break;
            }
            active = true;
        }
        active |= self.announce(now, device);
        active
    }

    /// When [`Vrrp::poll`] must run next, at the latest: the router's deadline, the next
    /// gratuitous-ARP message or ARP retry, smoltcp's timer; `now` if a packet waits.
    /// `None`: only when a frame arrives.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let raw = self.sockets.get::<raw::Socket>(self.raw);
        if raw.can_recv() {
            return Some(now);
        }
        let smoltcp_at = self
            .iface
            .poll_at(to_smoltcp(now), &self.sockets)
            .map(from_smoltcp);
        let ours = self.slots.iter().flat_map(|slot| {
            let asks = slot
                .peers
                .iter()
                .filter(|p| p.pending.is_some() && p.mac.is_none())
                .map(|p| p.asked_at.map_or(now, |t| t + ARP_RETRY));
            slot.garp.map(|g| g.at).into_iter().chain(asks)
        });
        [smoltcp_at, self.router.poll_at()]
            .into_iter()
            .flatten()
            .chain(ours)
            .min()
    }

    /// Stops every instance: a master sends its priority-0 advert and removes its VIPs.
    /// Leaves 224.0.0.18 and flushes what is queued to `device` (a bounded number of
    /// polls; an advert to a unicast peer whose MAC is not known yet is lost).
    pub fn shutdown<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) {
        self.router.stop_all(now);
        self.drain(now, device, obs);
        if self.slots.iter().any(|s| s.peers.is_empty()) {
            // Not joined is not an error here.
            let _ = self.iface.leave_multicast_group(MCAST_V4);
        }
        let ts = to_smoltcp(now);
        for _ in 0..4 {
            self.iface
                .poll(ts, &mut VrrpDevice::new(device), &mut self.sockets);
            if self.sockets.get::<raw::Socket>(self.raw).send_queue() == 0 {
                break;
            }
        }
    }

    /// A new tracking status for instance `index` (trackers, the link): FAULT in or out,
    /// priority changes. `None` if there is no such instance.
    pub fn set_tracking<D: Device + ?Sized>(
        &mut self,
        index: usize,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
        status: TrackStatus,
    ) -> Option<()> {
        self.update(now, device, obs, |router| {
            (index < router.len()).then(|| router.set_tracking(index, now, status))
        })
    }

    /// Runs `f` on the router and carries out what it produced: the way in for anything
    /// else the loop does not watch itself (starting or stopping one instance, putting
    /// off a master-down deadline).
    pub fn update<D: Device + ?Sized, R>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
        f: impl FnOnce(&mut Router<N, V, P>) -> R,
    ) -> R {
        let r = f(&mut self.router);
        self.drain(now, device, obs);
        r
    }

    /// The instance at `index`, as [`Vrrp::add_instance`] numbered it.
    pub fn instance(&self, index: usize) -> Option<&Instance<V>> {
        self.router.instance(index)
    }

    /// Every instance, in order.
    pub fn instances(&self) -> impl Iterator<Item = &Instance<V>> {
        self.router.instances()
    }

    /// The router (instances, sync groups, deadlines), to look at.
    pub fn router(&self) -> &Router<N, V, P> {
        &self.router
    }

    /// The smoltcp interface (its addresses show the VIPs of masters).
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// The smoltcp interface, to add other sockets' traffic to the same device (the
    /// loop's own socket set holds only the VRRP socket).
    pub fn interface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// Takes one packet off the raw socket and hands it to the router. `None` when the
    /// socket is empty.
    fn receive_one<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) -> Option<()> {
        let Vrrp {
            sockets,
            raw,
            router,
            addr,
            ..
        } = self;
        let packet = sockets.get_mut::<raw::Socket>(*raw).recv().ok()?;
        if let Err(drop) = deliver(router, addr.address(), packet, now) {
            fw_log!("vrrp: dropped {}", drop);
            obs.dropped(drop);
        }
        self.drain(now, device, obs);
        Some(())
    }

    /// Carries out everything the router has for the host: the adverts first, then the
    /// events in the order they happened.
    fn drain<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D, obs: &mut impl Observer) {
        let mut buf = [0u8; IPV4_HEADER_LEN + ADVERT_MAX];
        while let Some(t) = self.router.poll_transmit(&mut buf[IPV4_HEADER_LEN..]) {
            obs.advert(&t);
            match t.len {
                Ok(len) => self.transmit(&t, &mut buf[..IPV4_HEADER_LEN + len], obs),
                Err(e) => {
                    fw_log!("vrrp: advert not sent: {}", e);
                    obs.failed(t.instance, TxError::Emit(e));
                }
            }
        }
        while let Some(out) = self.router.poll_event() {
            match out {
                Output::Instance { instance, event } => {
                    self.carry_out(instance, &event, now, device);
                    obs.event(instance, &event);
                }
                Output::Group { group, state } => obs.group(group, state),
            }
        }
        // Unicast adverts go out now if their peers' MACs are known.
        self.unicast_pending(now, device, obs);
    }

    /// Puts one advert (its message at `packet[IPV4_HEADER_LEN..]`) on its way: into
    /// the raw socket for 224.0.0.18, or to the peer it is addressed to.
    fn transmit(&mut self, t: &Transmit, packet: &mut [u8], obs: &mut impl Observer) {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (t.src, t.dst) else {
            return;
        };
        let message = &packet[IPV4_HEADER_LEN..];
        if let Some(slot) = self.slots.get_mut(t.instance)
            && let Some(peer) = slot.peers.iter_mut().find(|p| p.addr == dst)
        {
            // The message came from a buffer of ADVERT_MAX bytes.
            let mut bytes = [0u8; ADVERT_MAX];
            bytes[..message.len()].copy_from_slice(message);
            peer.pending = u16::try_from(message.len()).ok().map(|len| Pending {
                priority: t.priority,
                len,
                bytes,
            });
            return;
        }
        let emitted = advert_header(src, dst, message.len()).emit(packet);
        let socket = self.sockets.get_mut::<raw::Socket>(self.raw);
        let error = match emitted {
            Ok(n) => socket
                .send_slice(&packet[..n])
                .err()
                .map(|_| TxError::SocketFull),
            Err(_) => Some(TxError::Emit(wire::Error::BufferTooSmall)),
        };
        if let Some(e) = error {
            fw_log!("vrrp: advert not sent: {}", e);
            obs.failed(t.instance, e);
        }
    }

    /// Carries out one event of instance `i` on the interface.
    fn carry_out<D: Device + ?Sized>(
        &mut self,
        i: usize,
        event: &Event,
        now: Instant,
        device: &mut D,
    ) {
        match *event {
            Event::AddVips => {
                let vips = &self.slots[i].vips;
                self.iface.update_ip_addrs(|addrs| {
                    for v in vips {
                        let cidr = IpCidr::Ipv4(*v);
                        if !addrs.contains(&cidr) {
                            // Room checked by add_instance.
                            let _ = addrs.push(cidr);
                        }
                    }
                });
                self.restore_neighbours(now, device);
            }
            Event::RemoveVips => {
                let (slots, router) = (&self.slots, &self.router);
                // A VIP another master instance also carries stays.
                self.iface.update_ip_addrs(|addrs| {
                    addrs.retain(|a| {
                        let IpCidr::Ipv4(c) = a;
                        !slots[i].vips.contains(c)
                            || slots.iter().enumerate().any(|(j, s)| {
                                j != i
                                    && router
                                        .instance(j)
                                        .is_some_and(|x| x.state() == State::Master)
                                    && s.vips.contains(c)
                            })
                    });
                });
                self.restore_neighbours(now, device);
                self.slots[i].garp = None;
            }
            Event::Announce { count, spacing } => {
                self.slots[i].garp = (count > 0).then_some(Burst {
                    left: count,
                    next_vip: 0,
                    at: now,
                    spacing,
                });
            }
            Event::StateChanged {
                from, to, reason, ..
            } => {
                if matches!(to, State::Backup | State::Fault) {
                    // A master's adverts still waiting for a MAC must not go out
                    // from a backup; a resignation (priority 0) still goes.
                    for p in self.slots[i].peers.iter_mut() {
                        if p.pending.is_some_and(|a| a.priority != 0) {
                            p.pending = None;
                        }
                    }
                }
                fw_log!(
                    "vrrp {}: {} -> {} ({})",
                    self.router.instance(i).map_or(0, |x| x.config().vrid),
                    from.as_str(),
                    to.as_str(),
                    reason.as_str()
                );
                let _ = (from, to, reason);
            }
            Event::PriorityChanged { .. } => {}
        }
    }

    /// Refills smoltcp's neighbour cache, which changing the interface's addresses
    /// flushed (see [`crate::neighbours`]).
    fn restore_neighbours<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        let own = (self.mac.0, self.addr.address());
        self.neighbours
            .restore(&mut self.iface, device, &mut self.sockets, own, now);
    }

    /// Sends the unicast adverts that wait for a peer whose MAC is known, as whole frames
    /// straight to the device, and asks (ARP) for the MACs still unknown, once per
    /// [`ARP_RETRY`]. Returns whether a frame went out.
    fn unicast_pending<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) -> bool {
        let ts = to_smoltcp(now);
        let (mac, src) = (self.mac, self.addr.address());
        let mut sent = false;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            for peer in slot.peers.iter_mut() {
                let Some(pending) = peer.pending else {
                    continue;
                };
                let Some(peer_mac) = peer.mac else {
                    if peer.asked_at.is_none_or(|t| now >= t + ARP_RETRY) {
                        let Some(token) = device.transmit(ts) else {
                            return sent;
                        };
                        token.consume(arp::ARP_FRAME_LEN, |buf| {
                            arp::emit_request(buf, mac.0, src, peer.addr)
                        });
                        peer.asked_at = Some(now);
                        sent = true;
                    }
                    continue;
                };
                let Some(token) = device.transmit(ts) else {
                    return sent;
                };
                let message = &pending.bytes[..usize::from(pending.len)];
                let total = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + message.len();
                let result = token.consume(total, |buf| {
                    let (eth, ip) = buf.split_at_mut(ETHERNET_HEADER_LEN);
                    ethernet::emit_header(eth, peer_mac.0, mac.0, ETHERTYPE_IPV4);
                    if let Some(body) = ip.get_mut(IPV4_HEADER_LEN..) {
                        body.copy_from_slice(message);
                    }
                    advert_header(src, peer.addr, message.len()).emit(ip)
                });
                peer.pending = None;
                sent = true;
                if result.is_err() {
                    let e = wire::Error::BufferTooSmall;
                    fw_log!("vrrp: advert not sent: {}", e);
                    obs.failed(i, TxError::Emit(e));
                }
            }
        }
        sent
    }

    /// Sends the gratuitous ARPs that are due, a frame per VIP per message, straight to
    /// the device. A device out of transmit buffers stops it; the rest goes at the next
    /// poll. Returns whether a frame went out.
    fn announce<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) -> bool {
        let ts = to_smoltcp(now);
        let mac = self.mac;
        let mut sent = false;
        for slot in self.slots.iter_mut() {
            let Some(mut burst) = slot.garp else {
                continue;
            };
            // `left` bounds the outer loop, the VIP count the inner one.
            while burst.left > 0 && burst.at <= now {
                while let Some(vip) = slot.vips.get(burst.next_vip) {
                    let Some(token) = device.transmit(ts) else {
                        slot.garp = Some(burst);
                        return sent;
                    };
                    token.consume(arp::ARP_FRAME_LEN, |buf| {
                        arp::emit_garp(buf, mac.0, vip.address())
                    });
                    sent = true;
                    burst.next_vip += 1;
                }
                burst.next_vip = 0;
                burst.left -= 1;
                burst.at = now + burst.spacing;
            }
            slot.garp = (burst.left > 0).then_some(burst);
        }
        sent
    }
}

/// The IPv4 header of an advert the loop writes: keepalived's, but with DF set, as
/// smoltcp emits its raw socket's packets, so that multicast adverts (re-emitted by
/// smoltcp) and unicast ones (written straight to the device) look alike.
fn advert_header(src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize) -> Ipv4Repr {
    Ipv4Repr {
        dont_fragment: true,
        ..Ipv4Repr::advert(src, dst, payload_len)
    }
}

/// Learns the MAC of every unicast peer that a received frame comes from.
fn learn_peer_mac<const V: usize, const P: usize>(slots: &mut [Slot<V, P>], frame: &[u8]) {
    let Some((mac, ip)) = ethernet::frame_sender(frame) else {
        return;
    };
    for peer in slots.iter_mut().flat_map(|s| s.peers.iter_mut()) {
        if peer.addr == ip {
            peer.mac = Some(EthernetAddress(mac));
        }
    }
}
/// Reads a packet's IPv4 header and hands its VRRP message to the router.
fn deliver<const N: usize, const V: usize, const P: usize>(
    router: &mut Router<N, V, P>,
    own: Ipv4Addr,
    packet: &[u8],
    now: Instant,
) -> Result<(), RxDrop> {
    let (header, payload) = ipv4::parse_advert(packet).map_err(RxDrop::Ip)?;
    let dst = header.dst();
    if dst != MCAST_V4 && dst != own {
        return Err(RxDrop::NotForUs(dst));
    }
    router
        .on_datagram(now, CHANNEL, payload, &header.rx_meta())
        .map(|_| ())
        .map_err(RxDrop::Router)
}
