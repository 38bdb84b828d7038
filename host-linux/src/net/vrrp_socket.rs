//! Raw `IPPROTO_VRRP` (112) sockets, one per (interface, family).
//!
//! One [`VrrpSocket`] both receives and sends:
//!
//! - bound to its interface (`SO_BINDTOIFINDEX`), so it sees only that interface's
//!   packets; in multicast mode it joins the group (default 224.0.0.18 / ff02::12) on that
//!   interface, and `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL` are off so that groups
//!   joined by other sockets of the host do not leak in; in unicast mode it joins nothing
//!   and receives the adverts addressed to this host on the interface;
//! - receive: IPv4 raw sockets deliver the IP header, which is parsed honouring IHL, with
//!   the payload cut at the IP total length and the TTL read from the header;
//!   `IP_PKTINFO` reports the interface. IPv6 raw sockets deliver only the payload; the hop
//!   limit comes from `IPV6_RECVHOPLIMIT`, the destination and interface from
//!   `IPV6_RECVPKTINFO`. Nothing is allocated per packet: the payload is a slice of the
//!   caller's buffer and the control messages land in a buffer on the stack;
//! - send: TTL / hop limit 255 for unicast and multicast, multicast loop off (the socket
//!   never hears its own adverts), IPv4 TOS 0xc0 and DF clear like keepalived, IPv6 traffic
//!   class 0xc0; the source address is forced per packet with `IP_PKTINFO.ipi_spec_dst` /
//!   `IPV6_PKTINFO.ipi6_addr` (it must be an address of this host, as keepalived's
//!   `mcast_src_ip` / `unicast_src_ip` / the primary address are).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};
use vigil_core::wire::ipv4::Ipv4Header;
use vigil_core::wire::{self, Family, MCAST_V4, MCAST_V6, PROTOCOL, RxMeta, TTL};

use super::{setsockopt_int, setsockopt_raw};

/// The receive buffer asked for (the kernel doubles it for its bookkeeping).
const RCVBUF: libc::c_int = 8 << 20;

/// `SO_BINDTOIFINDEX` (Linux 5.0): `SO_BINDTODEVICE` by index (libc lacks it on glibc).
const SO_BINDTOIFINDEX: libc::c_int = 62;
/// `IPV6_MULTICAST_ALL` (Linux 4.20).
const IPV6_MULTICAST_ALL: libc::c_int = 29;
/// Internetwork control (precedence 6), as keepalived sets for VRRP.
pub const TOS: u8 = wire::ipv4::TOS_NETWORK_CONTROL;

/// A control-message buffer on the stack, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// Buffers for up to [`RecvBatch::LEN`] messages per `recvmmsg`, allocated once and
/// reused for every burst.
pub struct RecvBatch {
    bufs: [[u8; RecvBatch::BUF]; RecvBatch::LEN],
    names: [libc::sockaddr_in6; RecvBatch::LEN],
    cmsgs: [CmsgBuf; RecvBatch::LEN],
    iovs: [libc::iovec; RecvBatch::LEN],
    hdrs: [libc::mmsghdr; RecvBatch::LEN],
}

impl RecvBatch {
    /// Messages per `recvmmsg`.
    pub const LEN: usize = 16;
    /// Bytes per message: more than an Ethernet frame, so no advert is truncated.
    pub const BUF: usize = 2048;

    pub fn new() -> Box<Self> {
        // SAFETY: all-zero is valid for every field (bytes, C structs, null pointers);
        // `receive` sets the pointers before each use.
        unsafe { Box::new(zeroed()) }
    }

    /// One `recvmmsg` without waiting: how many messages arrived.
    fn receive(&mut self, fd: RawFd) -> io::Result<usize> {
        for i in 0..Self::LEN {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: Self::BUF,
            };
            let hdr = &mut self.hdrs[i].msg_hdr;
            hdr.msg_name = (&raw mut self.names[i]).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            hdr.msg_iov = &raw mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.cmsgs[i].0.as_mut_ptr().cast();
            hdr.msg_controllen = self.cmsgs[i].0.len();
            hdr.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points into this value's own live buffers, with their
        // lengths; no timeout.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                Self::LEN as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// The `i`th message of the last `receive`: its header, length, bytes and sender.
    fn message(&self, i: usize) -> (&libc::msghdr, usize, &[u8], &libc::sockaddr_in6) {
        let n = self.hdrs[i].msg_len as usize;
        (
            &self.hdrs[i].msg_hdr,
            n,
            &self.bufs[i][..n.min(Self::BUF)],
            &self.names[i],
        )
    }
}

impl std::fmt::Debug for RecvBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("len", &Self::LEN)
            .finish()
    }
}

/// One received VRRP message and what the IP layer said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    /// The IP source address.
    pub src: IpAddr,
    /// The IP destination address: the group, or this host's address in unicast mode.
    pub dst: IpAddr,
    /// The IPv4 TTL or IPv6 hop limit the packet arrived with.
    pub ttl: u8,
    /// The interface it arrived on.
    pub ifindex: u32,
    /// The VRRP message (the IP payload, cut at the IP length), in the caller's buffer.
    /// On an AH socket: the AH header and the VRRP message behind it.
    pub payload: &'a [u8],
    /// The IPv4 header as received, options included (empty for IPv6): the AH ICV
    /// covers it.
    pub ip_header: &'a [u8],
    /// Packets the kernel had dropped on this socket (buffer full) when this one was
    /// queued, since the socket opened.
    pub kernel_drops: u32,
}

impl Received<'_> {
    /// What `vigil_core::wire::Repr::parse` wants to know.
    pub fn meta(&self) -> RxMeta {
        RxMeta {
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
        }
    }
}

/// Where the payload sits in the caller's buffer, and the metadata.
#[derive(Debug, Clone, Copy)]
struct RawMeta {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ifindex: u32,
    header_len: usize,
    start: usize,
    end: usize,
    kernel_drops: u32,
}

/// A raw VRRP socket on one interface for one address family. Non-blocking: the
/// daemon's protocol thread waits for it in its own epoll set (`daemon::reactor`).
#[derive(Debug)]
pub struct VrrpSocket {
    socket: Socket,
    family: Family,
    ifindex: u32,
    group: Option<IpAddr>,
    /// An `IPPROTO_AH` (51) socket for `auth_type AH` instances: it sends whole IPv4
    /// packets (`IP_HDRINCL`, the AH ICV covers the header) and receives AH packets.
    ah: bool,
}

impl VrrpSocket {
    /// A socket on interface `ifindex` that joins the multicast `group` (224.0.0.18 or
    /// ff02::12 unless configured otherwise; its family decides the socket's).
    pub fn multicast(ifindex: u32, group: IpAddr) -> io::Result<Self> {
        if !group.is_multicast() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{group} is not a multicast address"),
            ));
        }
        Self::open(ifindex, family_of(group), Some(group), false)
    }

    /// An `IPPROTO_AH` socket for keepalived's `auth_type AH` (VRRPv2, IPv4 only): on
    /// `group`, or unicast when `None`. Sends take whole IPv4 packets.
    pub fn ah(ifindex: u32, group: Option<Ipv4Addr>) -> io::Result<Self> {
        if group.is_some_and(|g| !g.is_multicast()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "AH group is not a multicast address",
            ));
        }
        Self::open(ifindex, Family::V4, group.map(IpAddr::V4), true)
    }

    /// Whether this is an AH socket ([`VrrpSocket::ah`]).
    pub fn is_ah(&self) -> bool {
        self.ah
    }

    /// A multicast socket on the default VRRP group of `family`.
    pub fn default_multicast(ifindex: u32, family: Family) -> io::Result<Self> {
        let group = match family {
            Family::V4 => IpAddr::V4(MCAST_V4),
            Family::V6 => IpAddr::V6(MCAST_V6),
        };
        Self::multicast(ifindex, group)
    }

    /// A socket on interface `ifindex` for unicast peers: it joins no group and receives
    /// no multicast.
    pub fn unicast(ifindex: u32, family: Family) -> io::Result<Self> {
        Self::open(ifindex, family, None, false)
    }

    fn open(ifindex: u32, family: Family, group: Option<IpAddr>, ah: bool) -> io::Result<Self> {
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface index 0",
            ));
        }
        let domain = match family {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
        };
        let protocol = if ah { wire::ah::AH_PROTOCOL } else { PROTOCOL };
        let socket = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(protocol))))?;
        if ah {
            // The ICV covers the IP header: its identification must be ours.
            setsockopt_int(socket.as_fd(), libc::IPPROTO_IP, libc::IP_HDRINCL, 1)?;
        }
        socket.set_nonblocking(true)?;
        let fd = socket.as_fd();
        let index = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index"))?;
        setsockopt_int(fd, libc::SOL_SOCKET, SO_BINDTOIFINDEX, index)?;
        // Room for a burst: the protocol thread reads every socket until it is empty
        // whenever it wakes, so the buffer only has to cover the time between two
        // wake-ups (a coalescing pause of at most a few ms, or a stall of the loop) at
        // the highest rate a LAN can deliver, so that a master's advert is never lost
        // behind junk. As root the kernel's rmem_max does not cap it; otherwise the
        // default stays. Memory is charged only for what is queued.
        if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, RCVBUF).is_err() {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF);
        }
        // Each packet carries the socket's overflow count (when not zero): a backup can
        // tell whether its master's advert may have been lost in the kernel.
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
        match family {
            Family::V4 => {
                setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)?;
                socket.set_ttl_v4(u32::from(TTL))?;
                socket.set_multicast_ttl_v4(u32::from(TTL))?;
                socket.set_multicast_loop_v4(false)?;
                socket.set_tos_v4(u32::from(TOS))?;
                // DF clear, as keepalived sends.
                setsockopt_int(
                    fd,
                    libc::IPPROTO_IP,
                    libc::IP_MTU_DISCOVER,
                    libc::IP_PMTUDISC_DONT,
                )?;
                setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0)?;
                let mreqn = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr { s_addr: 0 },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: index,
                };
                setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)?;
                if let Some(IpAddr::V4(g)) = group {
                    let mreqn = libc::ip_mreqn {
                        imr_multiaddr: in_addr(g),
                        ..mreqn
                    };
                    setsockopt_raw(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreqn)?;
                }
            }
            Family::V6 => {
                setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
                setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
                // keepalived leaves the unicast hop limit to the kernel (sysctl
                // hop_limit, 64 by default) unless `unicast_ttl` says otherwise; a
                // multicast socket sends to the group only.
                if group.is_some() {
                    socket.set_unicast_hops_v6(u32::from(TTL))?;
                }
                socket.set_multicast_hops_v6(u32::from(TTL))?;
                socket.set_multicast_loop_v6(false)?;
                socket.set_multicast_if_v6(ifindex)?;
                setsockopt_int(
                    fd,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_TCLASS,
                    libc::c_int::from(TOS),
                )?;
                setsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)?;
                if let Some(IpAddr::V6(g)) = group {
                    socket.join_multicast_v6(&g, ifindex)?;
                }
            }
        }
        Ok(VrrpSocket {
            socket,
            family,
            ifindex,
            group,
            ah,
        })
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The multicast group joined, or `None` in unicast mode.
    pub fn group(&self) -> Option<IpAddr> {
        self.group
    }

    /// Reads every queued message (at most `max`) without waiting and hands each to
    /// `each`, up to [`RecvBatch::LEN`] per `recvmmsg`: few syscalls for a burst, no
    /// allocation. Malformed packets reach `each` as `InvalidData` errors; other errors
    /// end the burst and are returned. Returns how many messages were read; fewer than
    /// `max` means the socket was found empty.
    pub fn recv_burst(
        &self,
        batch: &mut RecvBatch,
        max: usize,
        mut each: impl FnMut(io::Result<Received<'_>>),
    ) -> io::Result<usize> {
        let mut taken = 0;
        while taken < max {
            let got = match batch.receive(self.raw()) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            for i in 0..got {
                let (msg, n, buf, name) = batch.message(i);
                match self.decode(msg, n, buf, name) {
                    Ok(Some(meta)) => each(Ok(received(buf, meta))),
                    Ok(None) => {}
                    Err(e) => each(Err(e)),
                }
            }
            taken += got;
            if got < RecvBatch::LEN {
                // A short read emptied the socket: the `recvmmsg` that would only return
                // EAGAIN is saved (epoll reports anything that arrives later).
                break;
            }
        }
        Ok(taken)
    }

    /// Packets the kernel has dropped on this socket since it opened because its
    /// receive buffer was full (`SO_MEMINFO`'s drop count; filtered packets are not in
    /// it).
    pub fn kernel_drops(&self) -> io::Result<u32> {
        // SK_MEMINFO_VARS (9) counters; SK_MEMINFO_DROPS is the last.
        let mut info = [0u32; 9];
        let mut len = size_of_val(&info) as libc::socklen_t;
        // SAFETY: `info` is a live buffer of `len` bytes; the kernel writes at most that.
        let rc = unsafe {
            libc::getsockopt(
                self.raw(),
                libc::SOL_SOCKET,
                libc::SO_MEMINFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(if len as usize >= size_of_val(&info) {
            info[8]
        } else {
            0
        })
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.socket.take_error()
    }

    /// One message without waiting: `WouldBlock` when nothing is queued.
    pub fn try_recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<Received<'b>> {
        loop {
            if let Some(meta) = self.recv_raw(buf)? {
                return Ok(received(buf, meta));
            }
        }
    }

    /// Waits up to `timeout` for one message (tests and tools; the daemon never blocks).
    pub fn recv_timeout<'b>(
        &self,
        buf: &'b mut [u8],
        timeout: std::time::Duration,
    ) -> io::Result<Received<'b>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.recv_raw(buf) {
                Ok(Some(meta)) => return Ok(received(buf, meta)),
                // Another interface's packet: look again.
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(io::Error::from(io::ErrorKind::TimedOut));
            }
            let mut pfd = libc::pollfd {
                fd: self.raw(),
                events: libc::POLLIN,
                revents: 0,
            };
            let ms =
                libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
            // SAFETY: one live pollfd. An error (EINTR) or a timeout just loops: the
            // next read and the deadline decide.
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }

    /// Sends one VRRP message from `src` to `dst` (the group, or a unicast peer) with TTL /
    /// hop limit 255, without waiting: `WouldBlock` if the socket is full (a raw socket
    /// sending a few packets per second never is). `src` must be an address of this host
    /// (`0.0.0.0` / `::` lets the kernel choose); for IPv6 adverts use the interface's
    /// link-local address.
    pub fn try_send(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        self.send_raw(payload, src, dst)
    }

    fn raw(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// One `recvmsg`. `Ok(None)`: a packet for another interface, skipped.
    fn recv_raw(&self, buf: &mut [u8]) -> io::Result<Option<RawMeta>> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut cmsg = CmsgBuf([0; 128]);
        // SAFETY: all-zero is a valid `sockaddr_in6` and `msghdr`.
        let mut name: libc::sockaddr_in6 = unsafe { zeroed() };
        let mut msg: libc::msghdr = unsafe { zeroed() };
        msg.msg_name = (&raw mut name).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.0.as_mut_ptr().cast();
        msg.msg_controllen = cmsg.0.len();
        // SAFETY: every pointer in `msg` refers to a live buffer of the length given.
        let n = unsafe { libc::recvmsg(self.raw(), &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.decode(&msg, n as usize, buf, &name)
    }

    /// What the kernel said about one received message: `Ok(None)` for a packet that
    /// arrived on another interface, `InvalidData` for one that cannot be an advert.
    fn decode(
        &self,
        msg: &libc::msghdr,
        n: usize,
        buf: &[u8],
        name: &libc::sockaddr_in6,
    ) -> io::Result<Option<RawMeta>> {
        if msg.msg_flags & libc::MSG_TRUNC != 0 {
            return Err(invalid());
        }

        let mut ifindex = None;
        let mut pkt_dst = None;
        let mut hop_limit = None;
        let mut kernel_drops = 0;
        // SAFETY: `msg` was filled by the kernel; the macros walk its control buffer,
        // and each payload is read (unaligned) only after its length was checked.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(msg);
            while !c.is_null() {
                let hdr = std::ptr::read_unaligned(c);
                let data = libc::CMSG_DATA(c);
                let len = (hdr.cmsg_len as usize).saturating_sub(data as usize - c as usize);
                match (hdr.cmsg_level, hdr.cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_PKTINFO)
                        if len >= size_of::<libc::in_pktinfo>() =>
                    {
                        let info: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                        ifindex = Some(info.ipi_ifindex as u32);
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                        if len >= size_of::<libc::in6_pktinfo>() =>
                    {
                        let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                        ifindex = Some(info.ipi6_ifindex);
                        pkt_dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT)
                        if len >= size_of::<libc::c_int>() =>
                    {
                        let h: libc::c_int = std::ptr::read_unaligned(data.cast());
                        hop_limit = u8::try_from(h).ok();
                    }
                    (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) if len >= size_of::<u32>() => {
                        kernel_drops = std::ptr::read_unaligned(data.cast::<u32>());
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(msg, c);
            }
        }
        let ifindex = ifindex.unwrap_or(self.ifindex);
        if ifindex != self.ifindex {
            return Ok(None);
        }

        match self.family {
            Family::V4 => {
                // The kernel verified the header checksum; lengths are checked here.
                let header = Ipv4Header::new_checked(&buf[..n]).map_err(|_| invalid())?;
                if header.total_len() > n {
                    return Err(invalid());
                }
                let meta = header.rx_meta();
                Ok(Some(RawMeta {
                    src: meta.src,
                    dst: meta.dst,
                    ttl: meta.ttl,
                    ifindex,
                    header_len: header.header_len(),
                    start: header.header_len(),
                    end: header.total_len(),
                    kernel_drops,
                }))
            }
            Family::V6 => {
                let (Some(dst), Some(ttl)) = (pkt_dst, hop_limit) else {
                    return Err(invalid());
                };
                if name.sin6_family != libc::AF_INET6 as libc::sa_family_t {
                    return Err(invalid());
                }
                Ok(Some(RawMeta {
                    src: IpAddr::V6(Ipv6Addr::from(name.sin6_addr.s6_addr)),
                    dst: IpAddr::V6(dst),
                    ttl,
                    ifindex,
                    header_len: 0,
                    start: 0,
                    end: n,
                    kernel_drops,
                }))
            }
        }
    }

    fn send_raw(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        let mut iov = libc::iovec {
            iov_base: payload.as_ptr().cast_mut().cast(),
            iov_len: payload.len(),
        };
        let mut cmsg = CmsgBuf([0; 128]);
        // SAFETY: all-zero is a valid `msghdr` and socket address.
        let mut msg: libc::msghdr = unsafe { zeroed() };
        let mut name: libc::sockaddr_in6 = unsafe { zeroed() };
        self.address(&mut msg, &mut iov, &mut name, &mut cmsg, src, dst, None)?;
        // SAFETY: every pointer in `msg` refers to a live buffer of the length given.
        let n = unsafe { libc::sendmsg(self.raw(), &msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != payload.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short raw send"));
        }
        Ok(())
    }

    /// Sends the messages of `batch` in one `sendmmsg`, without waiting. Returns how
    /// many the kernel took (from the first; the rest were not sent).
    pub fn send_batch(&self, batch: &mut SendBatch) -> io::Result<usize> {
        let n = batch.meta.len();
        let raw = &mut *batch.raw;
        for (i, &(len, src, dst, ttl)) in batch.meta.iter().enumerate() {
            raw.iovs[i] = libc::iovec {
                iov_base: raw.bufs[i].as_mut_ptr().cast(),
                iov_len: len,
            };
            let RawBatch {
                hdrs,
                iovs,
                names,
                cmsgs,
                ..
            } = raw;
            self.address(
                &mut hdrs[i].msg_hdr,
                &mut iovs[i],
                &mut names[i],
                &mut cmsgs[i],
                src,
                dst,
                ttl,
            )?;
            hdrs[i].msg_len = 0;
        }
        // SAFETY: every header points into `batch`'s own live buffers, with their
        // lengths.
        let sent = unsafe {
            libc::sendmmsg(
                self.raw(),
                raw.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    /// Points `msg` at the payload in `iov`, addressed to `dst` (in `name`) with `src`
    /// and this interface in an IP_PKTINFO / IPV6_PKTINFO control message (in `cmsg`),
    /// and `ttl` (if any) in an IP_TTL / IPV6_HOPLIMIT one.
    #[allow(clippy::too_many_arguments)]
    fn address(
        &self,
        msg: &mut libc::msghdr,
        iov: &mut libc::iovec,
        name: &mut libc::sockaddr_in6,
        cmsg: &mut CmsgBuf,
        src: IpAddr,
        dst: IpAddr,
        ttl: Option<u8>,
    ) -> io::Result<()> {
        msg.msg_iov = iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.0.as_mut_ptr().cast();
        msg.msg_flags = 0;
        let ifindex = self.ifindex;
        // SAFETY: the control buffer is large and aligned enough for one pktinfo message;
        // CMSG_FIRSTHDR/CMSG_DATA stay inside it. A `sockaddr_in` fits in the
        // `sockaddr_in6` storage, which is aligned for it.
        match (self.family, src, dst) {
            (Family::V4, IpAddr::V4(src), IpAddr::V4(dst)) => {
                let sin: &mut libc::sockaddr_in = unsafe { &mut *(name as *mut _ as *mut _) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr = in_addr(dst);
                msg.msg_name = (sin as *mut libc::sockaddr_in).cast();
                msg.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
                let info = libc::in_pktinfo {
                    ipi_ifindex: ifindex as libc::c_int,
                    ipi_spec_dst: in_addr(src),
                    ipi_addr: libc::in_addr { s_addr: 0 },
                };
                unsafe { put_cmsg(msg, libc::IPPROTO_IP, libc::IP_PKTINFO, &info) };
                if let Some(ttl) = ttl {
                    let ttl = libc::c_int::from(ttl);
                    unsafe { append_cmsg(msg, libc::IPPROTO_IP, libc::IP_TTL, &ttl) };
                }
            }
            (Family::V6, IpAddr::V6(src), IpAddr::V6(dst)) => {
                name.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                name.sin6_addr = libc::in6_addr {
                    s6_addr: dst.octets(),
                };
                name.sin6_scope_id = ifindex;
                msg.msg_name = (name as *mut libc::sockaddr_in6).cast();
                msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
                let info = libc::in6_pktinfo {
                    ipi6_addr: libc::in6_addr {
                        s6_addr: src.octets(),
                    },
                    ipi6_ifindex: ifindex,
                };
                unsafe { put_cmsg(msg, libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, &info) };
                if let Some(ttl) = ttl {
                    let hops = libc::c_int::from(ttl);
                    unsafe { append_cmsg(msg, libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT, &hops) };
                }
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "address family does not match the socket's",
                ));
            }
        }
        Ok(())
    }
}

/// Up to [`SendBatch::LEN`] adverts for one `sendmmsg`, with the buffers they are
/// written into, allocated once.
pub struct SendBatch {
    raw: Box<RawBatch>,
    /// (length, source, destination, TTL / hop limit if not the socket's) of each
    /// message queued.
    meta: Vec<(usize, IpAddr, IpAddr, Option<u8>)>,
}

/// The C side of a batch: all-zero is a valid value of it.
struct RawBatch {
    bufs: [[u8; SendBatch::BUF]; SendBatch::LEN],
    names: [libc::sockaddr_in6; SendBatch::LEN],
    cmsgs: [CmsgBuf; SendBatch::LEN],
    iovs: [libc::iovec; SendBatch::LEN],
    hdrs: [libc::mmsghdr; SendBatch::LEN],
}

impl SendBatch {
    /// Messages per `sendmmsg`.
    pub const LEN: usize = 64;
    /// Bytes per message: a VRRPv3 advert with 16 IPv6 addresses (vigild's capacity)
    /// is 264.
    pub const BUF: usize = 512;

    pub fn new() -> Self {
        SendBatch {
            // SAFETY: all-zero is valid for every field (bytes, C structs with null
            // pointers; `send_batch` sets the pointers before each use). Allocated
            // zeroed, its pages become resident only as they are used.
            raw: unsafe { Box::new_zeroed().assume_init() },
            meta: Vec::with_capacity(Self::LEN),
        }
    }

    /// Queues a copy of `bytes` (at most [`SendBatch::BUF`]); `false` when the batch is
    /// full.
    pub fn push(&mut self, bytes: &[u8], src: IpAddr, dst: IpAddr) -> bool {
        self.push_with_ttl(bytes, src, dst, None)
    }

    /// [`SendBatch::push`] with the IPv4 TTL / IPv6 hop limit of this message
    /// (`unicast_ttl`); `None`: the socket's.
    pub fn push_with_ttl(
        &mut self,
        bytes: &[u8],
        src: IpAddr,
        dst: IpAddr,
        ttl: Option<u8>,
    ) -> bool {
        let i = self.meta.len();
        let Some(buf) = self.raw.bufs.get_mut(i) else {
            return false;
        };
        let len = bytes.len().min(Self::BUF);
        buf[..len].copy_from_slice(&bytes[..len]);
        self.meta.push((len, src, dst, ttl));
        true
    }

    pub fn is_full(&self) -> bool {
        self.meta.len() == Self::LEN
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Message `i`: its bytes, source and destination.
    pub fn message(&self, i: usize) -> Option<(&[u8], IpAddr, IpAddr)> {
        let (len, src, dst, _) = *self.meta.get(i)?;
        Some((&self.raw.bufs[i][..len], src, dst))
    }

    pub fn clear(&mut self) {
        self.meta.clear();
    }
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for SendBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendBatch")
            .field("len", &self.len())
            .finish()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// Writes one control message of type `T` at the start of `msg`'s control buffer and
/// sets `msg_controllen`.
///
/// # Safety
/// `msg.msg_control` must point to an 8-aligned buffer of at least
/// `CMSG_SPACE(size_of::<T>())` bytes.
unsafe fn put_cmsg<T: Copy>(msg: &mut libc::msghdr, level: libc::c_int, ty: libc::c_int, v: &T) {
    // SAFETY: guaranteed by the caller; CMSG_* stay inside that buffer.
    unsafe {
        let space = libc::CMSG_SPACE(size_of::<T>() as u32) as usize;
        msg.msg_controllen = space;
        let c = libc::CMSG_FIRSTHDR(msg);
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<T>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<T>(), *v);
    }
}

/// Adds a control message after those already in `msg` (set by [`put_cmsg`]).
///
/// # Safety
/// As [`put_cmsg`], with room in the buffer for both messages.
unsafe fn append_cmsg<T: Copy>(msg: &mut libc::msghdr, level: libc::c_int, ty: libc::c_int, v: &T) {
    // SAFETY: guaranteed by the caller; CMSG_SPACE keeps the offset aligned.
    unsafe {
        let used = msg.msg_controllen;
        let space = libc::CMSG_SPACE(size_of::<T>() as u32) as usize;
        let c = msg
            .msg_control
            .cast::<u8>()
            .add(used)
            .cast::<libc::cmsghdr>();
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(size_of::<T>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<T>(), *v);
        msg.msg_controllen = used + space;
    }
}

fn received(buf: &[u8], m: RawMeta) -> Received<'_> {
    Received {
        src: m.src,
        dst: m.dst,
        ttl: m.ttl,
        ifindex: m.ifindex,
        payload: &buf[m.start..m.end],
        ip_header: &buf[m.start - m.header_len..m.start],
        kernel_drops: m.kernel_drops,
    }
}

fn invalid() -> io::Error {
    // A bare kind: building it allocates nothing (hostile floods come through here).
    io::Error::from(io::ErrorKind::InvalidData)
}

fn family_of(addr: IpAddr) -> Family {
    match addr {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

fn in_addr(a: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(a.octets()),
    }
}
