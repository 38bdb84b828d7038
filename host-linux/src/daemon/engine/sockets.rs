//! The VRRP sockets: one per (interface, multicast group or unicast, family), opened
//! on demand and never closed, each with an eBPF filter for the instances it serves
//! and the counters of what that filter and the kernel dropped.

use super::Engine;
use crate::net::VrrpSocket;
use crate::net::filter::{self, FilterSpec};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::rc::Rc;
use vigil_core::wire::{self, Family};

/// Where a socket is: (interface, multicast group or unicast, IPv6, IPsec AH).
pub(super) type SocketKey = (u32, Option<IpAddr>, bool, bool);

pub struct Socket {
    pub sock: Rc<VrrpSocket>,
    /// The instances (router indices) served by this socket: its router channel.
    pub(super) served: Vec<usize>,
    /// The eBPF filter's drop counters, `None` where it could not be loaded.
    filter: Option<filter::Counters>,
    /// What the filter attached now lets through.
    filter_spec: Option<FilterSpec>,
    /// The interface's name, for the log.
    pub(super) ifname: String,
}

impl Socket {
    pub(super) fn new(sock: VrrpSocket, ifname: String) -> Self {
        Socket {
            sock: Rc::new(sock),
            served: Vec::new(),
            filter: None,
            filter_spec: None,
            ifname,
        }
    }
}

pub(super) fn socket_key(inst: &super::plan::Instance, ifindex: u32) -> SocketKey {
    let unicast = !inst.unicast_peers.is_empty();
    let group = (!unicast).then_some(inst.mcast_group);
    let ah = matches!(inst.core.auth, wire::Auth::Ah(_));
    (ifindex, group, inst.core.family() == Family::V6, ah)
}

impl Engine {
    /// Gives every socket the filter for the instances it now serves (a socket no
    /// instance uses any more drops everything). Where eBPF is refused, sockets run
    /// unfiltered and user space counts every drop, as it always did.
    pub(super) fn attach_filters(&mut self) {
        for si in 0..self.sockets.len() {
            let sock = &self.sockets[si];
            if sock.sock.is_ah() {
                // The filter reads a VRRP header right after the IP header; AH sockets
                // are filtered in user space (the ICV is checked first anyway).
                continue;
            }
            let mut spec = FilterSpec::new(sock.sock.family(), sock.sock.group());
            for &i in &sock.served {
                let Some(config) = self.router.instance(i).map(|x| *x.config()) else {
                    continue;
                };
                spec.allow(config.vrid, config.version);
                if config.checksum == wire::ChecksumMode::AsV2 {
                    spec.v3_checksum_as_v2();
                }
                if config.checksum == wire::ChecksumMode::OldUnicast || config.old_checksum_auto {
                    spec.old_unicast_checksum();
                }
            }
            let plans = || sock.served.iter().map(|&i| &self.slots[i].plan);
            if sock.sock.group().is_none()
                && !sock.served.is_empty()
                && plans().all(|p| p.check_unicast_src)
            {
                let peers: Vec<IpAddr> = plans()
                    .flat_map(|p| p.unicast_peers.iter().copied())
                    .collect();
                spec.only_from(&peers);
            }
            if sock.filter_spec.as_ref() == Some(&spec) {
                continue;
            }
            if self.filters_refused {
                // Filters gave out: a socket must not keep one for what it served
                // before.
                let sock = &mut self.sockets[si];
                if sock.filter_spec.take().is_some()
                    && let Err(d) = filter::Counters::detach(sock.sock.as_fd())
                {
                    error!("cannot take the old filter off a VRRP socket: {d}");
                }
                continue;
            }
            if self.sockets[si].filter.is_none() {
                match filter::Counters::new() {
                    Ok(c) => self.sockets[si].filter = Some(c),
                    Err(e) => {
                        self.filter_unavailable(&e);
                        continue;
                    }
                }
            }
            let sock = &mut self.sockets[si];
            let counters = sock.filter.as_ref().expect("set above");
            match counters.attach(sock.sock.as_fd(), &spec) {
                Ok(()) => sock.filter_spec = Some(spec),
                Err(e) => {
                    // Unfiltered rather than filtered for the configuration before.
                    if let Err(d) = filter::Counters::detach(sock.sock.as_fd()) {
                        error!("cannot take the old filter off a VRRP socket: {d}");
                    }
                    sock.filter = None;
                    sock.filter_spec = None;
                    self.filter_unavailable(&e);
                }
            }
        }
    }

    fn filter_unavailable(&mut self, e: &std::io::Error) {
        if !self.filters_refused {
            warn!(
                "eBPF socket filter unavailable ({e}); VRRP sockets run unfiltered and junk is dropped in user space"
            );
        }
        self.filters_refused = true;
    }

    /// What the sockets' filters dropped so far, by reason; `None` when no socket
    /// has one.
    pub(super) fn filtered(&self) -> Option<BTreeMap<&'static str, u64>> {
        if self.sockets.iter().all(|s| s.filter.is_none()) {
            return None;
        }
        let mut out = BTreeMap::new();
        for counters in self.sockets.iter().filter_map(|s| s.filter.as_ref()) {
            match counters.read() {
                Ok(counts) => {
                    for (reason, n) in filter::REASONS.iter().zip(counts) {
                        if n > 0 {
                            *out.entry(reason.as_str()).or_default() += n;
                        }
                    }
                }
                Err(e) => debug!("reading socket filter counters: {e}"),
            }
        }
        Some(out)
    }

    /// Packets the kernel dropped on full VRRP sockets, summed.
    pub(super) fn kernel_drops(&self) -> u64 {
        self.sockets
            .iter()
            .map(|s| u64::from(s.sock.kernel_drops().unwrap_or(0)))
            .sum()
    }

    /// Looks at the kernel's counters (a few syscalls; the reactor calls it rarely, on
    /// a wake-up it has anyway) and logs a summary of drops when one is due.
    pub fn review_drops(&mut self, now: std::time::Instant) {
        let filtered = self.filtered().unwrap_or_default();
        let kernel = self.kernel_drops();
        self.drop_log.review(now, &filtered, kernel);
    }

    /// When the drop log wants [`Engine::review_drops`] again.
    pub fn drops_due(&self) -> Option<std::time::Instant> {
        self.drop_log.due()
    }
}
