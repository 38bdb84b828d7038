//! The IPVS table as the checker sees it: services and their destinations.
//!
//! [`Ipvs`] is what the checker engine calls; the kernel implementation speaks generic
//! netlink (family `IPVS`), and tests use an in-memory table.

use crate::config::lvs::{ForwardMethod, IpvsProtocol};
use std::io;
use std::net::{IpAddr, SocketAddr};
use vigil_core::wire::Family;

/// What identifies an IPVS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    Addr {
        protocol: Protocol,
        addr: SocketAddr,
    },
    Fwmark {
        family: AddrFamily,
        mark: u32,
    },
}

/// [`IpvsProtocol`] with the ordering and hashing a key needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl From<IpvsProtocol> for Protocol {
    fn from(p: IpvsProtocol) -> Self {
        match p {
            IpvsProtocol::Tcp => Protocol::Tcp,
            IpvsProtocol::Udp => Protocol::Udp,
            IpvsProtocol::Sctp => Protocol::Sctp,
        }
    }
}

/// An address family with ordering (fwmark services carry one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddrFamily {
    Inet,
    Inet6,
}

impl From<Family> for AddrFamily {
    fn from(f: Family) -> Self {
        match f {
            Family::V4 => AddrFamily::Inet,
            Family::V6 => AddrFamily::Inet6,
        }
    }
}

/// An IPVS service (virtual server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name (`wlc`, `rr`, ...).
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` flags (persistent, hashed, one-packet, sched flags 1..3).
    pub flags: u32,
    /// Persistence timeout in seconds (0: none).
    pub timeout: u32,
    /// Persistence netmask (`0xffffffff` for IPv4 /32, the prefix length for IPv6).
    pub netmask: u32,
    /// Persistence engine (`sip`), if any.
    pub pe_name: Option<String>,
}

/// A destination (real server) of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub addr: SocketAddr,
    pub forward: ForwardMethod,
    pub weight: u32,
    pub u_threshold: u32,
    pub l_threshold: u32,
}

/// A destination with the kernel's counters, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestStatus {
    pub dest: Dest,
    pub active_conns: u32,
    pub inactive_conns: u32,
}

/// The operations the checker needs. Errors are the kernel's (`EEXIST`, `ENOENT`, ...).
pub trait Ipvs {
    fn add_service(&mut self, svc: &Service) -> io::Result<()>;
    fn edit_service(&mut self, svc: &Service) -> io::Result<()>;
    fn del_service(&mut self, key: &ServiceKey) -> io::Result<()>;
    fn add_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()>;
    fn edit_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()>;
    fn del_dest(&mut self, key: &ServiceKey, addr: SocketAddr) -> io::Result<()>;
    fn services(&mut self) -> io::Result<Vec<Service>>;
    fn dests(&mut self, key: &ServiceKey) -> io::Result<Vec<DestStatus>>;
}

/// The family of an address, for fwmark keys and destinations.
pub fn family_of(addr: IpAddr) -> AddrFamily {
    match addr {
        IpAddr::V4(_) => AddrFamily::Inet,
        IpAddr::V6(_) => AddrFamily::Inet6,
    }
}
