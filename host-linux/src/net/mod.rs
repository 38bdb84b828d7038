//! vigild's contact with the Linux network stack.
//!
//! - [`vrrp_socket`]: raw `IPPROTO_VRRP` (112) sockets per (interface, family), multicast
//!   or unicast, TTL / hop limit 255 and TOS 0xc0 on send, the received TTL, destination
//!   and interface reported, no allocation per packet.
//! - [`filter`]: the eBPF socket filter that keeps junk out of the VRRP sockets and
//!   counts it.
//! - [`announce`]: gratuitous ARP and unsolicited neighbour advertisements, built byte for
//!   byte like keepalived's and sent on an `AF_PACKET` socket.
//! - [`netlink`]: links, addresses (VIPs), macvlans for `use_vmac`, and a link monitor,
//!   through rtnetlink.
//! - [`routes`]: routes and rules (`virtual_routes`, `static_rules`, ...) as keepalived
//!   sends them.
//! - [`timer`]: the protocol deadline as a `timerfd`, to the microsecond.
//!
//! The VRRP sockets and the timer are plain non-blocking descriptors that the daemon's
//! protocol thread waits for in its own epoll set; netlink and the announcer are async
//! and run on the service thread's tokio runtime.

pub mod announce;
pub mod filter;
pub mod netlink;
pub mod routes;
pub mod timer;
pub mod vrrp_socket;

pub use announce::Announcer;
pub use netlink::{
    AddressSocket, AddressSpec, IfAddress, Link, LinkEvent, LinkMonitor, Netlink, Scope,
};
pub use timer::DeadlineTimer;
pub use vrrp_socket::{Received, RecvBatch, SendBatch, VrrpSocket};

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `setsockopt` with an `int` value.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &value)
}

/// `setsockopt` with any plain-old-data value.
pub(crate) fn setsockopt_raw<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the length given; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
