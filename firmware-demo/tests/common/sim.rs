//! The simulated segment of `loop_sim.rs`: `Vrrp` nodes on in-memory Ethernet devices,
//! a hub that carries every frame to every other live node and keeps a copy, virtual
//! time in 1 ms steps, and the frames a client sends and the tests look for.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use vigil_core::machine::{Config, State};
use vigil_core::router::Event;
use vigil_core::wire::{Auth, Version};
use vigil_core::{Duration, Instant};
use vigil_firmware_demo::smoltcp;
use vigil_firmware_demo::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use vigil_firmware_demo::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol, Ipv4Cidr, Ipv4Packet, Ipv4Repr,
};
use vigil_firmware_demo::{NetConfig, Observer, RxDrop, Storage, TxError, Vrrp};

#[derive(Debug, Default)]
pub struct MemDevice {
    pub inbox: VecDeque<Vec<u8>>,
    pub outbox: Vec<Vec<u8>>,
}

#[derive(Debug)]
pub struct MemRx(Vec<u8>);
#[derive(Debug)]
pub struct MemTx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for MemRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for MemTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for MemDevice {
    type RxToken<'a> = MemRx;
    type TxToken<'a> = MemTx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(MemRx, MemTx<'_>)> {
        let frame = self.inbox.pop_front()?;
        Some((MemRx(frame), MemTx(&mut self.outbox)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<MemTx<'_>> {
        Some(MemTx(&mut self.outbox))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// Everything the loop reported.
#[derive(Debug)]
pub struct Log {
    pub events: Vec<(Instant, usize, Event)>,
    pub drops: Vec<RxDrop>,
    pub failures: Vec<TxError>,
    pub now: Instant,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            events: Vec::new(),
            drops: Vec::new(),
            failures: Vec::new(),
            now: Instant::from_ticks(0),
        }
    }
}

impl Observer for Log {
    fn event(&mut self, instance: usize, event: &Event) {
        self.events.push((self.now, instance, *event));
    }
    fn dropped(&mut self, drop: RxDrop) {
        self.drops.push(drop);
    }
    fn failed(&mut self, _: usize, error: TxError) {
        self.failures.push(error);
    }
}

impl Log {
    /// When instance `i` entered `state`, every time.
    pub fn entered(&self, i: usize, state: State) -> Vec<Instant> {
        self.events
            .iter()
            .filter_map(|(t, j, e)| match e {
                Event::StateChanged { to, .. } if *to == state && *j == i => Some(*t),
                _ => None,
            })
            .collect()
    }
}

pub struct Node {
    pub vrrp: Vrrp<'static, 2, 8, 2>,
    pub dev: MemDevice,
    pub log: Log,
    /// Not polled and not reached by frames: powered off.
    pub alive: bool,
}

pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
pub const VIP2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 51);
pub const GROUP_MAC: EthernetAddress = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);

pub fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, n)
}

pub fn mac(n: u8) -> EthernetAddress {
    EthernetAddress([0x02, 0, 0, 0, 0, n])
}

pub fn config(vrid: u8, version: Version, prio: u8, n: u8) -> Config {
    let mut c = Config::new(vrid, version, prio, IpAddr::V4(ip(n)));
    if version == Version::V2 {
        c.auth = Auth::password(b"s3cr3t");
    }
    c
}

pub fn node(n: u8) -> Node {
    let mut dev = MemDevice::default();
    let storage: &'static mut Storage<'static> = Box::leak(Box::new(Storage::new()));
    let net = NetConfig {
        mac: mac(n),
        addr: Ipv4Cidr::new(ip(n), 24),
        gateway: None,
        random_seed: u64::from(n),
    };
    let vrrp = Vrrp::new(net, &mut dev, storage, Instant::from_ticks(0)).unwrap();
    Node {
        vrrp,
        dev,
        log: Log::default(),
        alive: true,
    }
}

/// A node with one instance (VRID 51, the VIP) at `prio`.
pub fn member(n: u8, version: Version, prio: u8, peers: &[Ipv4Addr]) -> Node {
    let mut nd = node(n);
    nd.vrrp
        .add_instance(
            config(51, version, prio, n),
            &[Ipv4Cidr::new(VIP, 24)],
            peers,
        )
        .unwrap();
    nd
}

/// The segment: nodes, a sniffer that keeps every frame with its time, and frames to
/// inject (from a host that is not a node).
pub struct Lan {
    pub nodes: Vec<Node>,
    pub now: Instant,
    pub seen: Vec<(Instant, usize, Vec<u8>)>,
    pub inject: Vec<Vec<u8>>,
}

impl Lan {
    pub fn new(nodes: Vec<Node>) -> Lan {
        Lan {
            nodes,
            now: Instant::from_ticks(0),
            seen: Vec::new(),
            inject: Vec::new(),
        }
    }

    pub fn start(&mut self, i: usize) {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.log.now = now;
        n.vrrp.start(now, &mut n.dev, &mut n.log);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Polls every live node, then carries every frame sent to every other live node.
    pub fn step(&mut self) {
        for _ in 0..16 {
            for n in self.nodes.iter_mut().filter(|n| n.alive) {
                n.log.now = self.now;
                n.vrrp.poll(self.now, &mut n.dev, &mut n.log);
            }
            let mut frames: Vec<(usize, Vec<u8>)> =
                self.inject.drain(..).map(|f| (usize::MAX, f)).collect();
            for (i, n) in self.nodes.iter_mut().enumerate() {
                frames.extend(n.dev.outbox.drain(..).map(|f| (i, f)));
            }
            if frames.is_empty() {
                return;
            }
            for (from, f) in frames {
                for (i, n) in self.nodes.iter_mut().enumerate() {
                    if i != from && n.alive {
                        n.dev.inbox.push_back(f.clone());
                    }
                }
                self.seen.push((self.now, from, f));
            }
        }
        panic!("frames still bouncing after 16 rounds at {:?}", self.now);
    }

    /// Runs until `until` in 1 ms steps.
    pub fn run_until(&mut self, until: Instant) {
        while self.now < until {
            self.step();
            self.now += Duration::from_millis(1);
        }
        self.step();
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    pub fn state(&self, i: usize) -> State {
        self.nodes[i].vrrp.instance(0).unwrap().state()
    }

    pub fn has_vip(&self, i: usize, vip: Ipv4Addr) -> bool {
        self.nodes[i]
            .vrrp
            .interface()
            .ip_addrs()
            .iter()
            .any(|c| c.address() == vip.into())
    }

    /// Adverts seen since `since` (time, sender, parsed).
    pub fn adverts(&self, since: Instant) -> Vec<(Instant, usize, Advert)> {
        self.seen
            .iter()
            .filter(|(t, _, _)| *t >= since)
            .filter_map(|(t, i, f)| Some((*t, *i, advert(f)?)))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    pub dst_mac: EthernetAddress,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub tos: u8,
    pub vrid: u8,
    pub priority: u8,
}

pub fn advert(f: &[u8]) -> Option<Advert> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Unknown(112) {
        return None;
    }
    assert!(ip.verify_checksum(), "bad IP header checksum");
    let p = ip.payload();
    Some(Advert {
        dst_mac: eth.dst_addr(),
        src: ip.src_addr(),
        dst: ip.dst_addr(),
        ttl: ip.hop_limit(),
        tos: f[15],
        vrid: p[1],
        priority: p[2],
    })
}

/// Gratuitous ARPs: (time, sender index, announced address, sender MAC).
pub fn garps(
    seen: &[(Instant, usize, Vec<u8>)],
) -> Vec<(Instant, usize, Ipv4Addr, EthernetAddress)> {
    seen.iter()
        .filter_map(|(t, i, f)| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            if eth.ethertype() != EthernetProtocol::Arp
                || eth.dst_addr() != EthernetAddress::BROADCAST
            {
                return None;
            }
            match ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()? {
                ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    source_protocol_addr,
                    target_protocol_addr,
                    source_hardware_addr,
                    ..
                } if source_protocol_addr == target_protocol_addr => {
                    Some((*t, *i, source_protocol_addr, source_hardware_addr))
                }
                _ => None,
            }
        })
        .collect()
}

pub const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

/// The client's broadcast ARP request for `target`.
pub fn client_arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; 42];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut eth);
    ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: CLIENT_MAC,
        source_protocol_addr: CLIENT_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    }
    .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    f
}

/// The client's ICMP echo request (ident 7, "vigil") to `dst` at `dst_mac`.
pub fn client_echo_request(dst_mac: EthernetAddress, dst: Ipv4Addr) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no: 1,
        data: b"vigil",
    };
    let ipr = Ipv4Repr {
        src_addr: CLIENT_IP,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let mut f = vec![0u8; 14 + 20 + icmp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut f[..]);
    EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let caps = phy::ChecksumCapabilities::default();
    let mut ipp = Ipv4Packet::new_unchecked(eth.payload_mut());
    ipr.emit(&mut ipp, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(ipp.payload_mut()), &caps);
    f
}

/// The echo replies to the client's request among `seen`: (sender, source, destination).
pub fn echo_replies(seen: &[(Instant, usize, Vec<u8>)]) -> Vec<(usize, Ipv4Addr, Ipv4Addr)> {
    let caps = phy::ChecksumCapabilities::default();
    seen.iter()
        .filter_map(|(_, i, f)| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
            match Icmpv4Repr::parse(&icmp, &caps).ok()? {
                Icmpv4Repr::EchoReply { ident: 7, data, .. } if data == b"vigil" => {
                    Some((*i, ip.src_addr(), ip.dst_addr()))
                }
                _ => None,
            }
        })
        .collect()
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn at(us: u64) -> Instant {
    Instant::from_micros(us)
}
