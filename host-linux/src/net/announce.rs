//! Announcing VIPs: gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6).
//!
//! Both are built as whole Ethernet frames, byte for byte as keepalived builds them, and
//! sent on one `AF_PACKET` socket (protocol 0, so it never receives anything):
//!
//! - gratuitous ARP: an ARP *request* with sender = target = VIP, the sender MAC = the
//!   interface MAC (or the virtual MAC with `use_vmac`), target MAC ff:ff:ff:ff:ff:ff,
//!   broadcast destination; 42 bytes (the driver pads to 60 on a real wire);
//! - unsolicited NA: ICMPv6 type 136 from the VIP to ff02::1 (Ethernet 33:33:00:00:00:01),
//!   hop limit 255, override flag set (router flag if the interface forwards IPv6, read
//!   from `/proc/sys/net/ipv6/conf/IF/forwarding` when sending and kept for 5 s, as
//!   keepalived's `set_ipv6_forwarding` does), target
//!   = VIP, target link-layer address option = the MAC, checksum computed here. Building it
//!   ourselves (as keepalived does) rather than on a raw ICMPv6 socket means it goes out
//!   even while the VIP is still tentative and needs no route to ff02::1.

use std::collections::HashMap;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use vigil_core::wire::arp;
use vigil_core::wire::ethernet::ETHERTYPE_IPV6;

/// A gratuitous ARP frame's length (Ethernet header + ARP for IPv4 over Ethernet).
pub const GARP_LEN: usize = arp::ARP_FRAME_LEN;
/// An unsolicited neighbour advertisement frame's length
/// (Ethernet 14 + IPv6 40 + NA 24 + target link-layer address option 8).
pub const NA_LEN: usize = 86;

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ICMPV6: u8 = 58;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const NA_ROUTER: u8 = 0x80;
const NA_OVERRIDE: u8 = 0x20;
const OPT_TARGET_LL_ADDR: u8 = 2;

/// The gratuitous ARP keepalived sends for `vip` from `mac` (built by the core's
/// [`arp::emit_garp`]).
pub fn garp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; GARP_LEN] {
    let mut f = [0u8; GARP_LEN];
    // The array is exactly the frame's length.
    let _ = arp::emit_garp(&mut f, mac, vip);
    f
}

/// The unsolicited neighbour advertisement keepalived sends for `vip` from `mac`;
/// `router` sets the R flag (keepalived sets it when the interface forwards IPv6).
pub fn na_frame(mac: [u8; 6], vip: Ipv6Addr, router: bool) -> [u8; NA_LEN] {
    let mut f = [0u8; NA_LEN];
    f[0..6].copy_from_slice(&ALL_NODES_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    // IPv6 header.
    let ip = 14;
    f[ip] = 0x60;
    let icmp_len: u16 = 32;
    f[ip + 4..ip + 6].copy_from_slice(&icmp_len.to_be_bytes());
    f[ip + 6] = ICMPV6;
    f[ip + 7] = 255;
    f[ip + 8..ip + 24].copy_from_slice(&vip.octets());
    f[ip + 24..ip + 40].copy_from_slice(&ALL_NODES.octets());
    // Neighbour advertisement.
    let na = ip + 40;
    f[na] = NEIGHBOUR_ADVERTISEMENT;
    f[na + 4] = NA_OVERRIDE | if router { NA_ROUTER } else { 0 };
    f[na + 8..na + 24].copy_from_slice(&vip.octets());
    f[na + 24] = OPT_TARGET_LL_ADDR;
    f[na + 25] = 1; // option length in units of 8 bytes
    f[na + 26..na + 32].copy_from_slice(&mac);
    let sum = icmpv6_checksum(vip, ALL_NODES, &f[na..]);
    f[na + 2..na + 4].copy_from_slice(&sum.to_be_bytes());
    f
}

/// The ICMPv6 checksum of `message` (checksum field zero) from `src` to `dst`.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An `AF_PACKET` socket that sends announcement frames on any interface of its network
/// namespace. Non-blocking: a packet socket sending a few frames never fills, and a
/// frame that finds it full is an error, not a wait. The protocol thread and the
/// service thread each have one.
#[derive(Debug)]
pub struct Announcer {
    socket: Socket,
    /// Per interface index: whether it forwarded IPv6 when last read, and when.
    forwarding: Mutex<HashMap<u32, (Instant, bool)>>,
}

/// How long a read of an interface's IPv6 `forwarding` setting is trusted
/// (keepalived 2.2.7 `ndisc_send_unsolicited_na_immediate`: rechecked when older than 5 s).
const FORWARDING_RECHECK: Duration = Duration::from_secs(5);

impl Announcer {
    /// Opens the socket (needs `CAP_NET_RAW`). Protocol 0: it receives nothing.
    pub fn new() -> io::Result<Self> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, None)?;
        socket.set_nonblocking(true)?;
        Ok(Announcer {
            socket,
            forwarding: Mutex::new(HashMap::new()),
        })
    }

    /// Sends one gratuitous ARP for `vip` on interface `ifindex`, from `mac` (the
    /// interface's MAC, or the virtual MAC with `use_vmac`).
    pub fn send_garp(&self, ifindex: u32, mac: [u8; 6], vip: Ipv4Addr) -> io::Result<()> {
        self.send_frame(ifindex, &garp_frame(mac, vip))
    }

    /// Sends one unsolicited neighbour advertisement for `vip` on interface `ifindex`.
    pub fn send_na(
        &self,
        ifindex: u32,
        mac: [u8; 6],
        vip: Ipv6Addr,
        router: bool,
    ) -> io::Result<()> {
        self.send_frame(ifindex, &na_frame(mac, vip, router))
    }

    /// Sends one announcement of `vip` (a gratuitous ARP, or an unsolicited neighbour
    /// advertisement with the router flag when the interface forwards IPv6, as keepalived
    /// sends for a VIP).
    pub fn announce(&self, ifindex: u32, mac: [u8; 6], vip: IpAddr) -> io::Result<()> {
        match vip {
            IpAddr::V4(a) => self.send_garp(ifindex, mac, a),
            IpAddr::V6(a) => self.send_na(ifindex, mac, a, self.forwards_ipv6(ifindex)),
        }
    }

    /// Whether interface `ifindex` forwards IPv6, read at most every 5 s per interface.
    fn forwards_ipv6(&self, ifindex: u32) -> bool {
        let now = Instant::now();
        // A poisoned lock only means another sender panicked mid-insert: the map is intact.
        let mut cache = self.forwarding.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(at, on)) = cache.get(&ifindex)
            && now.duration_since(at) <= FORWARDING_RECHECK
        {
            return on;
        }
        let on = ipv6_forwarding(ifindex);
        cache.insert(ifindex, (now, on));
        on
    }

    /// Sends a whole Ethernet frame (destination, source and EtherType included).
    pub fn send_frame(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        send_frame_raw(self.socket.as_fd(), ifindex, frame)
    }
}

impl AsFd for Announcer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Reads `/proc/sys/net/ipv6/conf/IF/forwarding` for interface `ifindex` as keepalived's
/// `get_sysctl` does: only the first byte counts, and a setting that cannot be read (or
/// does not start with a digit) counts as on, as keepalived's `UINT_MAX` does.
pub fn ipv6_forwarding(ifindex: u32) -> bool {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` holds IF_NAMESIZE bytes, as if_indextoname requires.
    let name = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if name.is_null() {
        return true;
    }
    // SAFETY: on success if_indextoname wrote a NUL-terminated name into `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    let Ok(name) = name.to_str() else {
        return true;
    };
    match std::fs::read(format!("/proc/sys/net/ipv6/conf/{name}/forwarding")) {
        Ok(v) => v.first() != Some(&b'0'),
        Err(_) => true,
    }
}

fn send_frame_raw(fd: BorrowedFd<'_>, ifindex: u32, frame: &[u8]) -> io::Result<()> {
    if frame.len() < 14 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "frame too short",
        ));
    }
    let ifindex = libc::c_int::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
    // SAFETY: all-zero is a valid `sockaddr_ll`.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    // The EtherType as it sits in the frame (network order), as sll_protocol wants it.
    sll.sll_protocol = u16::from_ne_bytes([frame[12], frame[13]]);
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    sll.sll_addr[..6].copy_from_slice(&frame[..6]);
    // SAFETY: `frame` and `sll` are live for the call, with the lengths given.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&raw const sll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != frame.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short frame send"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived 2.2.7's gratuitous ARP for 10.99.0.50 from 02:99:00:00:00:12, from
    /// shared/vectors/keepalived-v2-mcast-adv1-takeover (tcpdump -xx).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x0a, 0x63,
        0x00, 0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x32,
    ];

    #[test]
    fn garp_matches_keepalived() {
        let f = garp_frame([0x02, 0x99, 0, 0, 0, 0x12], Ipv4Addr::new(10, 99, 0, 50));
        assert_eq!(f, KEEPALIVED_GARP);
    }

    #[test]
    fn na_layout() {
        let mac = [0x02, 0x99, 0, 0, 0, 0x12];
        let vip: Ipv6Addr = "fd99::50".parse().unwrap();
        let f = na_frame(mac, vip, false);
        assert_eq!(&f[0..6], &ALL_NODES_MAC);
        assert_eq!(&f[6..12], &mac);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        assert_eq!(&f[14..18], &[0x60, 0, 0, 0]);
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 32);
        assert_eq!(f[20], 58);
        assert_eq!(f[21], 255);
        assert_eq!(&f[22..38], &vip.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!(f[54], 136);
        assert_eq!(f[55], 0);
        assert_eq!(f[58], 0x20);
        assert_eq!(&f[62..78], &vip.octets());
        assert_eq!(&f[78..80], &[2, 1]);
        assert_eq!(&f[80..86], &mac);
        // A correct checksum sums to zero over pseudo-header and message.
        assert_eq!(icmpv6_checksum(vip, ALL_NODES, &f[54..]), 0);
        assert_eq!(na_frame(mac, vip, true)[58], 0xa0);
    }

    #[test]
    fn icmpv6_checksum_known_value() {
        // An echo request ::1 -> ::1, id 0x1234 seq 1, payload "abc" (odd length),
        // checksum worked out by hand: pseudo-header sum 0x0002 + 0x000b + 0x003a,
        // message 0x8000 + 0x1234 + 0x0001 + 0x6162 + 0x6300.
        let msg = [0x80, 0, 0, 0, 0x12, 0x34, 0, 1, b'a', b'b', b'c'];
        let s = icmpv6_checksum(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, &msg);
        let total: u32 = 0x2 + 0xb + 0x3a + 0x8000 + 0x1234 + 0x1 + 0x6162 + 0x6300;
        let folded = (total & 0xffff) + (total >> 16);
        assert_eq!(s, !(folded as u16));
    }
}
