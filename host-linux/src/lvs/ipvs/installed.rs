//! What vigild put in the IPVS table, so that exit and reload take out exactly that.
//!
//! There is no flush: services and destinations another tool (or an operator with
//! `ipvsadm`) added stay. A service vigild created is deleted whole (the kernel drops its
//! destinations with it); in a service it did not create, only the destinations it added
//! are deleted. Something already gone (`ESRCH`, `ENOENT`) counts as removed.

use super::{Ipvs, ServiceKey};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;

/// The record. The engine updates it after each call the kernel accepted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Installed {
    services: BTreeMap<ServiceKey, Record>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Record {
    /// vigild created the service (or took it over, as keepalived does on `EEXIST`).
    owned: bool,
    dests: BTreeSet<SocketAddr>,
}

/// One removal the kernel refused, with what it was.
#[derive(Debug)]
pub struct RemoveError {
    pub key: ServiceKey,
    /// `None` for the service itself.
    pub dest: Option<SocketAddr>,
    pub error: io::Error,
}

fn already_gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ESRCH | libc::ENOENT))
}

impl Installed {
    pub fn new() -> Self {
        Self::default()
    }

    /// vigild created (or took over) the service.
    pub fn service(&mut self, key: ServiceKey) {
        self.services.entry(key).or_default().owned = true;
    }

    /// vigild added a destination to a service (its own or not).
    pub fn dest(&mut self, key: ServiceKey, addr: SocketAddr) {
        self.services.entry(key).or_default().dests.insert(addr);
    }

    /// The destination was deleted.
    pub fn forget_dest(&mut self, key: &ServiceKey, addr: SocketAddr) {
        if let Some(record) = self.services.get_mut(key) {
            record.dests.remove(&addr);
            if !record.owned && record.dests.is_empty() {
                self.services.remove(key);
            }
        }
    }

    /// The service was deleted (with its destinations).
    pub fn forget_service(&mut self, key: &ServiceKey) {
        self.services.remove(key);
    }

    pub fn owns_service(&self, key: &ServiceKey) -> bool {
        self.services.get(key).is_some_and(|r| r.owned)
    }

    pub fn has_dest(&self, key: &ServiceKey, addr: SocketAddr) -> bool {
        self.services
            .get(key)
            .is_some_and(|r| r.dests.contains(&addr))
    }

    /// The services recorded (owned, or holding destinations of ours).
    pub fn services(&self) -> impl Iterator<Item = &ServiceKey> {
        self.services.keys()
    }

    /// The destinations vigild added to a service.
    pub fn dests(&self, key: &ServiceKey) -> impl Iterator<Item = SocketAddr> + '_ {
        self.services
            .get(key)
            .into_iter()
            .flat_map(|r| r.dests.iter().copied())
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Deletes everything recorded from `ipvs`. What the kernel refused stays recorded
    /// (to retry) and is returned; the rest is forgotten.
    pub fn remove_all<I: Ipvs + ?Sized>(&mut self, ipvs: &mut I) -> Vec<RemoveError> {
        let mut errors = Vec::new();
        let keys: Vec<ServiceKey> = self.services.keys().copied().collect();
        for key in keys {
            let Some(record) = self.services.get(&key).cloned() else {
                continue;
            };
            if record.owned {
                match ipvs.del_service(&key) {
                    Ok(()) => self.forget_service(&key),
                    Err(e) if already_gone(&e) => self.forget_service(&key),
                    Err(error) => errors.push(RemoveError {
                        key,
                        dest: None,
                        error,
                    }),
                }
                continue;
            }
            for addr in record.dests {
                match ipvs.del_dest(&key, addr) {
                    Ok(()) => self.forget_dest(&key, addr),
                    Err(e) if already_gone(&e) => self.forget_dest(&key, addr),
                    Err(error) => errors.push(RemoveError {
                        key,
                        dest: Some(addr),
                        error,
                    }),
                }
            }
        }
        errors
    }
}
