//! The protocol loop: vigil-core instances on a smoltcp interface.
//!
//! [`Vrrp`] owns a smoltcp [`Interface`] (own address, VIPs while master), one raw
//! socket for IP protocol 112 over fixed buffers the caller lends ([`Storage`]), and up
//! to `N` instances. The caller owns the device and the clock:
//!
//! ```text
//! vrrp.start(now, &mut obs);
//! loop {
//!     let now = Instant::now();              // embassy-time
//!     vrrp.poll(now, &mut device, &mut obs); // packets in, deadlines, packets out
//!     sleep until vrrp.poll_at(now) or the device has a frame
//! }
//! vrrp.shutdown(now, &mut device, &mut obs); // priority-0 adverts, VIPs removed
//! ```
//!
//! Nothing here allocates, reads a clock or blocks.

use core::net::{IpAddr, Ipv4Addr};

use embassy_time::{Duration, Instant};
use heapless::Vec;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{Device, TxToken};
use smoltcp::socket::raw;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpProtocol, IpVersion, Ipv4Cidr};
use vigil_core::machine::{self, Config, ConfigError, Effect, Effects, Instance, State, Vips};
use vigil_core::wire::ethernet::{self, ETHERNET_HEADER_LEN, ETHERTYPE_IPV4};
use vigil_core::wire::ipv4::{self, IPV4_HEADER_LEN, Ipv4Error, Ipv4Repr};
use vigil_core::wire::{self, Family, MCAST_V4, PROTOCOL, Repr, arp};

use crate::device::VrrpDevice;
use crate::neighbours::Neighbours;
use crate::{from_smoltcp, to_smoltcp};

/// Packets the raw socket can hold on receive.
pub const RX_PACKETS: usize = 8;
/// Bytes of received packets (IP header included) the raw socket can hold. An advert
/// for an instance with 16 VIPs is 20 + 8 + 64 + 8 = 100 bytes.
pub const RX_BYTES: usize = 1024;
/// Packets the raw socket can queue for sending: one advert per instance and
/// destination (multicast, or each unicast peer) per deadline.
pub const TX_PACKETS: usize = 8;
/// Bytes of queued outgoing packets.
pub const TX_BYTES: usize = 1024;

/// The static memory smoltcp's sockets work in: the socket table and the raw socket's
/// packet buffers. Put it in a `static` (e.g. with `static_cell`) on a microcontroller,
/// or on `main`'s stack; [`Vrrp::new`] borrows it for as long as the loop lives.
#[derive(Debug)]
pub struct Storage<'a> {
    sockets: [SocketStorage<'a>; 1],
    rx_meta: [raw::PacketMetadata; RX_PACKETS],
    rx: [u8; RX_BYTES],
    tx_meta: [raw::PacketMetadata; TX_PACKETS],
    tx: [u8; TX_BYTES],
}

impl Storage<'_> {
    pub const fn new() -> Self {
        Storage {
            sockets: [SocketStorage::EMPTY; 1],
            rx_meta: [raw::PacketMetadata::EMPTY; RX_PACKETS],
            rx: [0; RX_BYTES],
            tx_meta: [raw::PacketMetadata::EMPTY; TX_PACKETS],
            tx: [0; TX_BYTES],
        }
    }
}

impl Default for Storage<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The interface the loop runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetConfig {
    /// The node's Ethernet address (unicast).
    pub mac: EthernetAddress,
    /// The node's own address and prefix: the source of its adverts.
    pub addr: Ipv4Cidr,
    /// A default gateway, if the node talks beyond its subnet.
    pub gateway: Option<Ipv4Addr>,
    /// Seeds smoltcp's generator (IGMP report delays, IP ids). Differ per boot.
    pub random_seed: u64,
}

/// What [`Vrrp::new`] and [`Vrrp::add_instance`] refuse, before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    /// The core refuses the instance's configuration or VIP list.
    Config(ConfigError),
    /// The MAC address is not a unicast address.
    Mac,
    /// Only IPv4 instances run on this loop.
    NotIpv4,
    /// The instance's primary (source) address is not the interface's address.
    Primary,
    /// More instances than the loop's `N`.
    TooManyInstances,
    /// More unicast peers than the loop's `P`.
    TooManyPeers,
    /// Another instance has this VRID.
    DuplicateVrid(u8),
    /// The own address plus every VIP exceed smoltcp's address table
    /// (`smoltcp::config::IFACE_MAX_ADDR_COUNT`, set by an `iface-max-addr-count-*`
    /// feature).
    InterfaceAddresses { needed: usize, capacity: usize },
    /// Joining 224.0.0.18 failed (smoltcp's multicast group table is full).
    Multicast,
}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Config(e)
    }
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Config(e) => e.fmt(f),
            SetupError::Mac => write!(f, "the MAC address must be unicast"),
            SetupError::NotIpv4 => write!(f, "only IPv4 instances run on this loop"),
            SetupError::Primary => write!(f, "the source address is not the interface's"),
            SetupError::TooManyInstances => write!(f, "too many instances for this loop"),
            SetupError::TooManyPeers => write!(f, "too many unicast peers for this loop"),
            SetupError::DuplicateVrid(v) => write!(f, "VRID {v} is configured twice"),
            SetupError::InterfaceAddresses { needed, capacity } => write!(
                f,
                "{needed} interface addresses needed (own address and VIPs), smoltcp holds {capacity}"
            ),
            SetupError::Multicast => write!(f, "cannot join 224.0.0.18"),
        }
    }
}

/// Why a received packet did not reach an instance's state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RxDrop {
    /// The IP header (see [`Ipv4Error`]).
    Ip(Ipv4Error),
    /// Neither to 224.0.0.18 nor to the own address (smoltcp hands raw sockets every
    /// protocol-112 packet the interface sees).
    NotForUs(Ipv4Addr),
    /// No instance has this VRID.
    NoInstance { vrid: u8 },
    /// The codec refused it (TTL, checksum, length, ...).
    Wire { instance: usize, error: wire::Error },
    /// The instance refused it (auth, interval, addresses, ...).
    Machine {
        instance: usize,
        drop: machine::Drop,
    },
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

/// What the loop reports to its host: every effect it carried out, every packet it
/// dropped, every send that failed. All methods default to doing nothing; `()` is the
/// observer that ignores everything. (With the `defmt` feature the loop also logs state
/// changes, drops and failures itself.)
pub trait Observer {
    /// `effect` of instance `instance` (its index from [`Vrrp::add_instance`]) has been
    /// carried out.
    fn effect(&mut self, instance: usize, effect: &Effect) {
        let _ = (instance, effect);
    }
    fn dropped(&mut self, drop: RxDrop) {
        let _ = drop;
    }
    fn failed(&mut self, instance: usize, error: TxError) {
        let _ = (instance, error);
    }
}

impl Observer for () {}

/// A gratuitous-ARP burst in progress: `left` messages (one frame per VIP each), the
/// next at `at`.
#[derive(Debug, Clone, Copy)]
struct Burst {
    left: u8,
    next_vip: usize,
    at: Instant,
    spacing: Duration,
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
    /// The priority of an advert waiting for the MAC (the newest one wins).
    pending: Option<u8>,
    /// When the loop last asked for the MAC.
    asked_at: Option<Instant>,
}

/// How often the loop repeats an unanswered ARP request for a peer.
const ARP_RETRY: Duration = Duration::from_millis(1000);

#[derive(Debug)]
struct Slot<const V: usize, const P: usize> {
    instance: Instance<V>,
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
        if self
            .slots
            .iter()
            .any(|s| s.instance.config().vrid == config.vrid)
        {
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
        let peers: Vec<Peer, P> = peers
            .iter()
            .map(|&addr| Peer {
                addr,
                mac: None,
                pending: None,
                asked_at: None,
            })
            .collect();
        // Every address the interface may carry at once: the own one and all VIPs.
        let capacity = smoltcp::config::IFACE_MAX_ADDR_COUNT;
        let needed = 1 + self.slots.iter().map(|s| s.vips.len()).sum::<usize>() + vips.len();
        if needed > capacity {
            return Err(SetupError::InterfaceAddresses { needed, capacity });
        }
        if peers.is_empty() {
            self.iface
                .join_multicast_group(MCAST_V4)
                .map_err(|_| SetupError::Multicast)?;
        }
        let slot = Slot {
            instance,
            vips: cidrs,
            peers,
            garp: None,
        };
        let index = self.slots.len();
        self.slots
            .push(slot)
            .map_err(|_| SetupError::TooManyInstances)?;
        Ok(index)
    }

    /// Starts every instance (RFC 5798 6.4.1: backup, or master at once as the owner).
    /// What that sends goes out at the next [`Vrrp::poll`].
    pub fn start<D: Device + ?Sized>(
        &mut self,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) {
        for i in 0..self.slots.len() {
            let mut fx = Effects::new();
            self.slots[i].instance.start(now, &mut fx);
            self.apply(i, &fx, now, device, obs);
        }
    }

    /// One turn of the loop at `now`: smoltcp's ingress and egress (ARP, ICMP echo,
    /// IGMP), received adverts into the instances, due deadlines, gratuitous ARPs, and
    /// the adverts this produced out. Returns whether any packet came in or went out.
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
        for i in 0..self.slots.len() {
            let due = self.slots[i].instance.poll_at().is_some_and(|t| t <= now);
            if due {
                let mut fx = Effects::new();
                self.slots[i].instance.on_timeout(now, &mut fx);
                self.apply(i, &fx, now, device, obs);
            }
        }
        active |= self.unicast_pending(now, device, obs);
        // Send what the instances queued now, not at the next call; adverts before
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

    /// When [`Vrrp::poll`] must run next, at the latest: the earliest instance deadline,
    /// gratuitous-ARP message or smoltcp timer; `now` if a packet waits. `None`: only
    /// when a frame arrives.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let raw = self.sockets.get::<raw::Socket>(self.raw);
        if raw.can_recv() {
            return Some(now);
        }
        let mut at = self
            .iface
            .poll_at(to_smoltcp(now), &self.sockets)
            .map(from_smoltcp);
        for slot in &self.slots {
            let asks = slot
                .peers
                .iter()
                .filter(|p| p.pending.is_some() && p.mac.is_none())
                .map(|p| p.asked_at.map_or(now, |t| t + ARP_RETRY));
            for t in [slot.instance.poll_at(), slot.garp.map(|g| g.at)]
                .into_iter()
                .flatten()
                .chain(asks)
            {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
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
        for i in 0..self.slots.len() {
            let mut fx = Effects::new();
            self.slots[i].instance.shutdown(now, &mut fx);
            self.apply(i, &fx, now, device, obs);
        }
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

    /// Runs `f` on instance `index` with an effect list and carries out the effects it
    /// produced: the way in for what the loop itself does not watch, such as a
    /// tracker's result or the link going down ([`Instance::set_tracking`]) or a
    /// sync-group decision. `None` if there is no such instance.
    pub fn update<D: Device + ?Sized, R>(
        &mut self,
        index: usize,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
        f: impl FnOnce(&mut Instance<V>, &mut Effects) -> R,
    ) -> Option<R> {
        let mut fx = Effects::new();
        let r = f(&mut self.slots.get_mut(index)?.instance, &mut fx);
        self.apply(index, &fx, now, device, obs);
        Some(r)
    }

    /// The instance at `index`, as [`Vrrp::add_instance`] numbered it.
    pub fn instance(&self, index: usize) -> Option<&Instance<V>> {
        self.slots.get(index).map(|s| &s.instance)
    }

    /// Every instance, in order.
    pub fn instances(&self) -> impl Iterator<Item = &Instance<V>> {
        self.slots.iter().map(|s| &s.instance)
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

    /// Takes one packet off the raw socket and hands it to its instance. `None` when the
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
            slots,
            addr,
            ..
        } = self;
        let socket = sockets.get_mut::<raw::Socket>(*raw);
        let packet = socket.recv().ok()?;
        let mut fx = Effects::new();
        let outcome = deliver(slots, addr.address(), packet, now, &mut fx);
        match outcome {
            Ok(i) => self.apply(i, &fx, now, device, obs),
            Err(drop) => {
                fw_log!("vrrp: dropped {}", drop);
                obs.dropped(drop);
            }
        }
        Some(())
    }

    /// Carries out the effects of instance `i`, in order.
    fn apply<D: Device + ?Sized>(
        &mut self,
        i: usize,
        fx: &Effects,
        now: Instant,
        device: &mut D,
        obs: &mut impl Observer,
    ) {
        for effect in fx {
            match *effect {
                Effect::SendAdvert { priority } => {
                    if self.slots[i].peers.is_empty() {
                        self.send_advert(i, priority, obs);
                    } else {
                        for k in 0..self.slots[i].peers.len() {
                            self.slots[i].peers[k].pending = Some(priority);
                        }
                        self.unicast_pending(now, device, obs);
                    }
                }
                Effect::AddVips => {
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
                Effect::RemoveVips => {
                    let slots = &self.slots;
                    // A VIP another master instance also carries stays.
                    self.iface.update_ip_addrs(|addrs| {
                        addrs.retain(|a| {
                            let IpCidr::Ipv4(c) = a;
                            !slots[i].vips.contains(c)
                                || slots.iter().enumerate().any(|(j, s)| {
                                    j != i
                                        && s.instance.state() == State::Master
                                        && s.vips.contains(c)
                                })
                        });
                    });
                    self.restore_neighbours(now, device);
                    self.slots[i].garp = None;
                }
                Effect::Announce { count, spacing } => {
                    self.slots[i].garp = (count > 0).then_some(Burst {
                        left: count,
                        next_vip: 0,
                        at: now,
                        spacing,
                    });
                }
                Effect::StateChanged { from, to, reason } => {
                    if matches!(to, State::Backup | State::Fault) {
                        // A master's adverts still waiting for a MAC must not go out
                        // from a backup; a resignation (to Initialize) still goes.
                        for p in self.slots[i].peers.iter_mut() {
                            p.pending = None;
                        }
                    }
                    fw_log!(
                        "vrrp {}: {} -> {} ({})",
                        self.slots[i].instance.config().vrid,
                        from.as_str(),
                        to.as_str(),
                        reason.as_str()
                    );
                    let _ = (from, to, reason);
                }
                Effect::PriorityChanged { .. } => {}
            }
            obs.effect(i, effect);
        }
    }

    /// Refills smoltcp's neighbour cache, which changing the interface's addresses
    /// flushed (see [`crate::neighbours`]).
    fn restore_neighbours<D: Device + ?Sized>(&mut self, now: Instant, device: &mut D) {
        let own = (self.mac.0, self.addr.address());
        self.neighbours
            .restore(&mut self.iface, device, &mut self.sockets, own, now);
    }

    /// Queues the advert of instance `i` at `priority` to 224.0.0.18 on the raw socket.
    fn send_advert(&mut self, i: usize, priority: u8, obs: &mut impl Observer) {
        let slot = &self.slots[i];
        let (src, dst) = (self.addr.address(), MCAST_V4);
        let len = slot.instance.advert(priority).buffer_len();
        let socket = self.sockets.get_mut::<raw::Socket>(self.raw);
        let mut emitted = Ok(());
        let sent = socket.send_with(IPV4_HEADER_LEN + len, |buf| {
            let Some(body) = buf.get_mut(IPV4_HEADER_LEN..) else {
                return 0;
            };
            match slot.instance.emit_advert(priority, body, IpAddr::V4(dst)) {
                Ok(n) => advert_header(src, dst, n).emit(buf).unwrap_or(0),
                Err(e) => {
                    emitted = Err(e);
                    // An empty packet: smoltcp drops it as malformed, unsent.
                    0
                }
            }
        });
        let error = match (sent, emitted) {
            (Err(_), _) => Some(TxError::SocketFull),
            (Ok(_), Err(e)) => Some(TxError::Emit(e)),
            (Ok(_), Ok(())) => None,
        };
        if let Some(e) = error {
            fw_log!("vrrp: advert not sent: {}", e);
            obs.failed(i, e);
        }
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
                let Some(priority) = peer.pending else {
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
                let len = slot.instance.advert(priority).buffer_len();
                let total = ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + len;
                let result = token.consume(total, |buf| {
                    let (eth, ip) = buf.split_at_mut(ETHERNET_HEADER_LEN);
                    ethernet::emit_header(eth, peer_mac.0, mac.0, ETHERTYPE_IPV4);
                    let body = ip.get_mut(IPV4_HEADER_LEN..).unwrap_or_default();
                    let n = slot
                        .instance
                        .emit_advert(priority, body, IpAddr::V4(peer.addr))?;
                    advert_header(src, peer.addr, n)
                        .emit(ip)
                        .map_err(|_| wire::Error::BufferTooSmall)
                });
                peer.pending = None;
                sent = true;
                if let Err(e) = result {
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

/// Finds the instance a packet is for and runs it through the codec and the machine.
fn deliver<const V: usize, const P: usize>(
    slots: &mut [Slot<V, P>],
    own: Ipv4Addr,
    packet: &[u8],
    now: Instant,
    fx: &mut Effects,
) -> Result<usize, RxDrop> {
    let (header, payload) = ipv4::parse_advert(packet).map_err(RxDrop::Ip)?;
    let (meta, dst) = (header.rx_meta(), header.dst());
    if dst != MCAST_V4 && dst != own {
        return Err(RxDrop::NotForUs(dst));
    }
    // A message too short to name its VRID is cut short at the IP layer's word.
    let vrid = *payload
        .get(1)
        .ok_or(RxDrop::Ip(Ipv4Error::PayloadTruncated))?;
    let (i, slot) = slots
        .iter_mut()
        .enumerate()
        .find(|(_, s)| s.instance.config().vrid == vrid)
        .ok_or(RxDrop::NoInstance { vrid })?;
    let repr = Repr::parse(payload, &meta, slot.instance.config().checksum)
        .map_err(|error| RxDrop::Wire { instance: i, error })?;
    slot.instance
        .on_advert(now, &repr, meta.src, fx)
        .map_err(|drop| RxDrop::Machine { instance: i, drop })?;
    Ok(i)
}
