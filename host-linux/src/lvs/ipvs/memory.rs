//! An in-memory IPVS table that answers as the kernel does, for the engine's tests.
//!
//! The errors are the kernel's (`net/netfilter/ipvs/ip_vs_ctl.c`, checked against Linux
//! 6.1 in the VM test): adding a service twice is `EEXIST`; editing or deleting a service
//! it does not have, and any destination command on such a service, is `ESRCH`; adding
//! a destination twice is `EEXIST`; editing or deleting a missing one is `ENOENT`; an
//! unknown scheduler or persistence engine is `ENOENT`; a weight above `i32::MAX` or a
//! lower threshold above the upper one is `ERANGE`; a GUE tunnel without a port, an IPv6
//! persistence prefix outside 1..=128, or a destination of another family than its
//! service (but for tunnels) is `EINVAL`. What the netlink encoding refuses (a name too
//! long, fwmark 0) fails here the same way, with `InvalidInput`. Listing a missing
//! service's destinations gives an empty list, as the kernel's dump does.

use super::convert::service_attrs;
use super::{AddrFamily, Dest, DestStatus, Ipvs, SVC_F_HASHED, Service, ServiceKey, family_of};
use crate::config::lvs::{ForwardMethod, TunnelType};
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;

/// The schedulers of Linux 6.1 (`ip_vs_*.ko`).
pub const KERNEL_SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];
/// The persistence engines of Linux 6.1.
pub const KERNEL_PERSISTENCE_ENGINES: &[&str] = &["sip"];

/// The in-memory table.
#[derive(Debug, Default, Clone)]
pub struct MemoryIpvs {
    services: BTreeMap<ServiceKey, Entry>,
    fail_next: Option<i32>,
    changes: usize,
}

#[derive(Debug, Clone)]
struct Entry {
    service: Service,
    /// In the order added (the kernel's own listing order is not a contract).
    dests: Vec<Dest>,
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl MemoryIpvs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next call that changes the table fail with `errno` (and change nothing),
    /// to test how the engine copes with a kernel refusal.
    pub fn fail_next(&mut self, errno: i32) {
        self.fail_next = Some(errno);
    }

    /// How many calls changed the table so far.
    pub fn changes(&self) -> usize {
        self.changes
    }

    /// The whole table: each service with its destinations.
    pub fn table(&self) -> Vec<(Service, Vec<Dest>)> {
        self.services
            .values()
            .map(|e| (e.service.clone(), e.dests.clone()))
            .collect()
    }

    /// The table keyed as the kernel keys it: each service with its destinations by
    /// address (what tests look things up in).
    pub fn entries(&self) -> BTreeMap<ServiceKey, (Service, BTreeMap<SocketAddr, Dest>)> {
        self.services
            .iter()
            .map(|(k, e)| {
                let dests = e.dests.iter().map(|d| (d.addr, d.clone())).collect();
                (*k, (e.service.clone(), dests))
            })
            .collect()
    }

    /// A service and its destinations, if the table has it.
    pub fn service(&self, key: &ServiceKey) -> Option<(&Service, &[Dest])> {
        self.services
            .get(key)
            .map(|e| (&e.service, e.dests.as_slice()))
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    fn injected(&mut self) -> io::Result<()> {
        match self.fail_next.take() {
            Some(code) => Err(errno(code)),
            None => Ok(()),
        }
    }

    fn entry(&mut self, key: &ServiceKey) -> io::Result<&mut Entry> {
        self.services.get_mut(key).ok_or_else(|| errno(libc::ESRCH))
    }
}

/// What the kernel checks of a full service (beyond its key).
fn check_service(svc: &Service) -> io::Result<Service> {
    service_attrs(svc)?;
    if !KERNEL_SCHEDULERS.contains(&svc.scheduler.as_str()) {
        return Err(errno(libc::ENOENT));
    }
    if let Some(pe) = &svc.pe_name
        && !KERNEL_PERSISTENCE_ENGINES.contains(&pe.as_str())
    {
        return Err(errno(libc::ENOENT));
    }
    if svc.key.family() == AddrFamily::Inet6 && !(1..=128).contains(&svc.netmask) {
        return Err(errno(libc::EINVAL));
    }
    let mut stored = svc.clone();
    stored.flags &= !SVC_F_HASHED;
    Ok(stored)
}

/// What the kernel checks of a full destination.
fn check_dest(key: &ServiceKey, dest: &Dest) -> io::Result<()> {
    let tunnel = matches!(dest.forward, ForwardMethod::Tun(_));
    if family_of(dest.addr.ip()) != key.family() && !tunnel {
        return Err(errno(libc::EINVAL));
    }
    if i32::try_from(dest.weight).is_err() || dest.l_threshold > dest.u_threshold {
        return Err(errno(libc::ERANGE));
    }
    if matches!(
        dest.forward,
        ForwardMethod::Tun(TunnelType::Gue { port: 0, .. })
    ) {
        return Err(errno(libc::EINVAL));
    }
    Ok(())
}

impl Ipvs for MemoryIpvs {
    fn add_service(&mut self, svc: &Service) -> io::Result<()> {
        self.injected()?;
        let stored = check_service(svc)?;
        if self.services.contains_key(&svc.key) {
            return Err(errno(libc::EEXIST));
        }
        self.services.insert(
            svc.key,
            Entry {
                service: stored,
                dests: Vec::new(),
            },
        );
        self.changes += 1;
        Ok(())
    }

    fn edit_service(&mut self, svc: &Service) -> io::Result<()> {
        self.injected()?;
        let entry = self.entry(&svc.key)?;
        entry.service = check_service(svc)?;
        self.changes += 1;
        Ok(())
    }

    fn del_service(&mut self, key: &ServiceKey) -> io::Result<()> {
        self.injected()?;
        self.services
            .remove(key)
            .ok_or_else(|| errno(libc::ESRCH))?;
        self.changes += 1;
        Ok(())
    }

    fn add_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()> {
        self.injected()?;
        let entry = self.entry(key)?;
        check_dest(key, dest)?;
        if entry.dests.iter().any(|d| d.addr == dest.addr) {
            return Err(errno(libc::EEXIST));
        }
        entry.dests.push(dest.clone());
        self.changes += 1;
        Ok(())
    }

    fn edit_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()> {
        self.injected()?;
        let entry = self.entry(key)?;
        check_dest(key, dest)?;
        let slot = entry
            .dests
            .iter_mut()
            .find(|d| d.addr == dest.addr)
            .ok_or_else(|| errno(libc::ENOENT))?;
        *slot = dest.clone();
        self.changes += 1;
        Ok(())
    }

    fn del_dest(&mut self, key: &ServiceKey, addr: SocketAddr) -> io::Result<()> {
        self.injected()?;
        let entry = self.entry(key)?;
        let before = entry.dests.len();
        entry.dests.retain(|d| d.addr != addr);
        if entry.dests.len() == before {
            return Err(errno(libc::ENOENT));
        }
        self.changes += 1;
        Ok(())
    }

    fn services(&mut self) -> io::Result<Vec<Service>> {
        Ok(self.services.values().map(|e| e.service.clone()).collect())
    }

    fn dests(&mut self, key: &ServiceKey) -> io::Result<Vec<DestStatus>> {
        Ok(self
            .services
            .get(key)
            .map(|e| {
                e.dests
                    .iter()
                    .map(|d| DestStatus {
                        dest: d.clone(),
                        active_conns: 0,
                        inactive_conns: 0,
                        persistent_conns: 0,
                        local_node: false,
                        stats: Default::default(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}
