//! The no_std / no-heap proof for the firmware demo's protocol loop.
//!
//! A freestanding x86_64 Linux executable: `#![no_std]`, `#![no_main]`, its own
//! `_start` and panic handler, raw `write`/`exit_group` system calls (all in the runtime
//! it shares with the vigil-core proof, core/nostd-proof/src/rt.rs), no C runtime, no
//! libc, no `alloc`, no global allocator (build.rs links it `-nostartfiles -nostdlib
//! -static`). It links vigil-firmware-demo as firmware would (no default features):
//! the loop, smoltcp and vigil-core. If any of them needed `std` or a heap, this would
//! not compile or not link.
//!
//! It also runs the loop for real, over an in-memory Ethernet device with fixed
//! buffers, with time passed in: the node starts as backup, becomes master after its
//! master-down interval (VIP on the interface, an advert with TTL 255 and TOS 0xc0 to
//! 224.0.0.18, five gratuitous ARPs), yields to a keepalived advert of higher priority
//! (VIP removed), takes over again when that master falls silent, and resigns with a
//! priority-0 advert on shutdown. `check.sh` builds, inspects and runs it.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::hint::black_box;
use core::net::{IpAddr, Ipv4Addr};

use vigil_firmware_demo::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use vigil_firmware_demo::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpCidr, Ipv4Cidr,
};
use vigil_firmware_demo::vigil_core::machine::{Config, State};
use vigil_firmware_demo::vigil_core::wire::ipv4::{self, IPV4_HEADER_LEN, Ipv4Repr};
use vigil_firmware_demo::vigil_core::wire::{Auth, Version, arp};
use vigil_firmware_demo::vigil_core::{Duration, Instant};
use vigil_firmware_demo::{NetConfig, Storage, Vrrp, smoltcp};

/// A VRRPv2 advertisement sent by keepalived: VRID 51, priority 100, one address
/// (10.99.0.50), simple password "s3cr3t", interval 1 s. Sent from 10.99.0.11.
const KEEPALIVED_V2_ADVERT: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, 0x73, 0x33, 0x63, 0x72,
    0x33, 0x74, 0x00, 0x00,
];
const KEEPALIVED: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
const KEEPALIVED_MAC: EthernetAddress = EthernetAddress([0x02, 0x99, 0, 0, 0, 0x11]);
const ME: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);
const MY_MAC: EthernetAddress = EthernetAddress([0x02, 0x99, 0, 0, 0, 0x12]);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 50);
const GROUP_MAC: EthernetAddress = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);

/// What the runtime's messages call this proof ("<name>: ok", "<name>: FAILED: <step>").
/// A macro, not a const, so that rt.rs can `concat!` each message into one write.
macro_rules! name {
    () => {
        "vigil-firmware-demo no_std proof"
    };
}

// Entry point, panic handler, system calls and memcpy & co.: the same runtime as the
// vigil-core proof's, from its directory rather than a copy.
#[path = "../../../core/nostd-proof/src/rt.rs"]
mod rt;

// ---- an in-memory Ethernet device with fixed buffers ---------------------------------

const FRAME: usize = 128;
const FRAMES: usize = 16;

/// Frames sent (kept for inspection, up to FRAMES) and one frame to receive.
struct Wire {
    out: [[u8; FRAME]; FRAMES],
    out_len: [usize; FRAMES],
    sent: usize,
    /// Frames longer than FRAME or beyond FRAMES are written here and counted only.
    spill: [u8; 1514],
    inbox: [u8; FRAME],
    inbox_len: usize,
}

struct Rx<'a>(&'a [u8]);
struct Tx<'a> {
    out: &'a mut [[u8; FRAME]; FRAMES],
    out_len: &'a mut [usize; FRAMES],
    sent: &'a mut usize,
    spill: &'a mut [u8; 1514],
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let n = *self.sent;
        *self.sent += 1;
        match (self.out.get_mut(n), self.out_len.get_mut(n)) {
            (Some(buf), Some(l)) if len <= FRAME => {
                *l = len;
                f(&mut buf[..len])
            }
            _ => f(&mut self.spill[..len.min(1514)]),
        }
    }
}

impl Wire {
    fn tx(&mut self) -> Tx<'_> {
        Tx {
            out: &mut self.out,
            out_len: &mut self.out_len,
            sent: &mut self.sent,
            spill: &mut self.spill,
        }
    }

    fn sent(&self) -> impl Iterator<Item = &[u8]> {
        self.out
            .iter()
            .zip(self.out_len.iter())
            .take(self.sent.min(FRAMES))
            .map(|(f, l)| &f[..*l])
    }

    fn clear(&mut self) {
        self.sent = 0;
    }
}

impl Device for Wire {
    type RxToken<'a> = Rx<'a>;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let len = core::mem::take(&mut self.inbox_len);
        if len == 0 {
            return None;
        }
        let Wire {
            out,
            out_len,
            sent,
            spill,
            inbox,
            ..
        } = self;
        Some((
            Rx(&inbox[..len]),
            Tx {
                out,
                out_len,
                sent,
                spill,
            },
        ))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(self.tx())
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

/// The VRRP advert in a sent frame: (destination MAC, TTL, TOS, priority).
fn advert(f: &[u8]) -> Option<(EthernetAddress, u8, u8, u8)> {
    let eth = EthernetFrame::new_checked(f).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let (header, payload) = ipv4::parse_advert(eth.payload()).ok()?;
    Some((eth.dst_addr(), header.ttl(), header.tos(), *payload.get(2)?))
}

fn is_garp(f: &[u8]) -> bool {
    let mut expected = [0u8; arp::ARP_FRAME_LEN];
    arp::emit_garp(&mut expected, MY_MAC.0, VIP).is_some() && f == expected
}

fn has_vip<const N: usize, const V: usize, const P: usize>(v: &Vrrp<'_, N, V, P>) -> bool {
    v.interface()
        .ip_addrs()
        .contains(&IpCidr::Ipv4(Ipv4Cidr::new(VIP, 24)))
}

// ---- the proof ------------------------------------------------------------------------

fn run() -> Result<(), &'static str> {
    let mut wire = Wire {
        out: [[0; FRAME]; FRAMES],
        out_len: [0; FRAMES],
        sent: 0,
        spill: [0; 1514],
        inbox: [0; FRAME],
        inbox_len: 0,
    };
    let t0 = Instant::from_ticks(0);
    let mut storage = Storage::new();
    let net = NetConfig {
        mac: MY_MAC,
        addr: Ipv4Cidr::new(ME, 24),
        gateway: None,
        random_seed: black_box(7),
    };
    let mut vrrp: Vrrp<'_, 1, 4, 1> =
        Vrrp::new(net, &mut wire, &mut storage, t0).map_err(|_| "Vrrp::new")?;
    let mut config = Config::new(51, Version::V2, black_box(50), IpAddr::V4(ME));
    config.auth = Auth::password(b"s3cr3t");
    vrrp.add_instance(config, &[Ipv4Cidr::new(VIP, 24)], &[])
        .map_err(|_| "add_instance")?;
    let state = |v: &Vrrp<'_, 1, 4, 1>| v.instance(0).map(|i| i.state());

    // 1. Backup at start; master after 3 s + (256 - 50) / 256 s = 3.8046875 s.
    vrrp.start(t0, &mut wire, &mut ());
    vrrp.poll(t0, &mut wire, &mut ());
    if state(&vrrp) != Some(State::Backup) {
        return Err("not backup at start");
    }
    vrrp.poll(t0 + Duration::from_millis(3_800), &mut wire, &mut ());
    if state(&vrrp) != Some(State::Backup) {
        return Err("master before the master-down interval");
    }
    wire.clear();
    let t1 = t0 + Duration::from_micros(3_804_688);
    vrrp.poll(t1, &mut wire, &mut ());
    if state(&vrrp) != Some(State::Master) || !has_vip(&vrrp) {
        return Err("no takeover with the VIP at the master-down interval");
    }
    if !wire
        .sent()
        .any(|f| advert(f) == Some((GROUP_MAC, 255, 0xc0, 50)))
    {
        return Err("no advert to 224.0.0.18 with TTL 255, TOS 0xc0, priority 50");
    }
    if wire.sent().filter(|f| is_garp(f)).count() != 5 {
        return Err("not five gratuitous ARPs");
    }

    // 2. keepalived's advert, priority 100: yield, remove the VIP.
    let len = 14 + IPV4_HEADER_LEN + KEEPALIVED_V2_ADVERT.len();
    {
        let mut eth = EthernetFrame::new_unchecked(&mut wire.inbox[..len]);
        EthernetRepr {
            src_addr: KEEPALIVED_MAC,
            dst_addr: GROUP_MAC,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut eth);
        let ip = eth.payload_mut();
        ip[IPV4_HEADER_LEN..].copy_from_slice(&black_box(KEEPALIVED_V2_ADVERT));
        Ipv4Repr::advert(
            KEEPALIVED,
            Ipv4Addr::new(224, 0, 0, 18),
            KEEPALIVED_V2_ADVERT.len(),
        )
        .emit(ip)
        .map_err(|_| "Ipv4Repr::emit")?;
    }
    wire.inbox_len = len;
    let t2 = t1 + Duration::from_millis(500);
    vrrp.poll(t2, &mut wire, &mut ());
    if state(&vrrp) != Some(State::Backup) || has_vip(&vrrp) {
        return Err("did not yield to keepalived's higher priority");
    }
    if vrrp.instance(0).and_then(|i| i.master()) != Some(IpAddr::V4(KEEPALIVED)) {
        return Err("does not follow keepalived");
    }

    // 3. keepalived falls silent: master again after the master-down interval.
    let t3 = t2 + Duration::from_micros(3_804_688);
    vrrp.poll(t3, &mut wire, &mut ());
    if state(&vrrp) != Some(State::Master) || !has_vip(&vrrp) {
        return Err("no takeover after keepalived fell silent");
    }

    // 4. Shutdown: a priority-0 advert, the VIP removed.
    wire.clear();
    vrrp.shutdown(t3 + Duration::from_millis(100), &mut wire, &mut ());
    if !wire
        .sent()
        .any(|f| advert(f) == Some((GROUP_MAC, 255, 0xc0, 0)))
    {
        return Err("no priority-0 advert on shutdown");
    }
    if state(&vrrp) != Some(State::Initialize) || has_vip(&vrrp) {
        return Err("shutdown left state or VIP behind");
    }
    Ok(())
}
