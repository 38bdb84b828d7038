//! The IPVS table as the checker sees it: services and their destinations.
//!
//! [`Ipvs`] is what the checker engine calls; the kernel implementation speaks generic
//! netlink (family `IPVS`), and tests use an in-memory table.
//!
//! - [`wire`]: the IPVS generic-netlink messages, typed, emitted and parsed with bounds
//!   checks (on `netlink-packet-generic`).
//! - [`netlink`]: [`netlink::NetlinkIpvs`], the kernel's table through a blocking netlink
//!   socket with a receive timeout.
//! - [`memory`]: [`memory::MemoryIpvs`], an in-memory table that fails as the kernel does.
//! - [`installed`]: what vigild put in the table, so that exit and reload remove only that.

use crate::config::lvs::{ForwardMethod, IpvsProtocol};
use std::io;
use std::net::{IpAddr, SocketAddr};
use vigil_core::wire::Family;

mod convert;
pub mod installed;
pub mod memory;
pub mod netlink;
#[cfg(test)]
mod tests;
pub mod wire;

/// `IP_VS_SVC_F_PERSISTENT`: persistent port.
pub const SVC_F_PERSISTENT: u32 = 0x0001;
/// `IP_VS_SVC_F_HASHED`: the kernel's own "entry is hashed" state. It is reported on every
/// service and must never be sent (a service added with it is left out of the lookup
/// table), so [`netlink::NetlinkIpvs`] masks it off both ways.
pub const SVC_F_HASHED: u32 = 0x0002;
/// `IP_VS_SVC_F_ONEPACKET`: one-packet scheduling (`ops`).
pub const SVC_F_ONEPACKET: u32 = 0x0004;
/// `IP_VS_SVC_F_SCHED1` (`flag-1`, `sh-fallback`, `mh-fallback`).
pub const SVC_F_SCHED1: u32 = 0x0008;
/// `IP_VS_SVC_F_SCHED2` (`flag-2`, `sh-port`, `mh-port`).
pub const SVC_F_SCHED2: u32 = 0x0010;
/// `IP_VS_SVC_F_SCHED3` (`flag-3`).
pub const SVC_F_SCHED3: u32 = 0x0020;

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
    /// Persistence netmask: for IPv4 the mask as a number (`0xffffff00` for /24, what
    /// `u32::from(Ipv4Addr)` gives), for IPv6 the prefix length (1..=128).
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

/// The kernel's traffic counters of a service or a destination (`ipvsadm -L --stats
/// --rate`); rates are the kernel's estimates per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub conns: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

/// A service with the kernel's counters, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    pub service: Service,
    pub stats: Stats,
}

/// A destination with the kernel's counters, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestStatus {
    pub dest: Dest,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub persistent_conns: u32,
    /// The kernel reports the destination as this host itself (`IP_VS_CONN_F_LOCALNODE`,
    /// `ipvsadm`'s `Local`): older kernels replace the method asked for by it for a local
    /// address, so `dest.forward` then reads `Nat` whatever was sent. (Linux 6.1 keeps the
    /// method: a `127.0.0.1` destination added as NAT lists as `Masq` in the VM test.)
    pub local_node: bool,
    pub stats: Stats,
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
    /// The destinations of a service. The kernel answers an empty list for a service it
    /// does not have (its dump finds nothing), not an error.
    fn dests(&mut self, key: &ServiceKey) -> io::Result<Vec<DestStatus>>;
    /// The services with their counters. Tables without counters report zeros.
    fn services_status(&mut self) -> io::Result<Vec<ServiceStatus>> {
        Ok(self
            .services()?
            .into_iter()
            .map(|service| ServiceStatus {
                service,
                stats: Stats::default(),
            })
            .collect())
    }
}

impl ServiceKey {
    /// The address family of the service.
    pub fn family(&self) -> AddrFamily {
        match self {
            ServiceKey::Addr { addr, .. } => family_of(addr.ip()),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }
}

/// The family of an address, for fwmark keys and destinations.
pub fn family_of(addr: IpAddr) -> AddrFamily {
    match addr {
        IpAddr::V4(_) => AddrFamily::Inet,
        IpAddr::V6(_) => AddrFamily::Inet6,
    }
}
