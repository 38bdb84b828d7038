//! Instances that cannot run yet: those whose interface has no address of their family
//! (keepalived runs them in FAULT until one appears), and under `dynamic_interfaces`
//! those whose interface does not exist yet. keepalived runs them in FAULT until the
//! interface appears, and puts an instance whose interface disappears into FAULT. vigild installs only the instances whose links exist (the
//! instance's interface, its `use_vmac` parent, its VIPs' `dev`); the others wait here and
//! `vigild status` shows them in FAULT. A watched link that appears (for a waiting
//! instance) or is deleted (under an installed one) re-applies the whole plan, as a
//! reload of the same configuration would: the instance is installed with the new link,
//! or taken out to wait again.

use super::*;
use crate::control::{Counters, InstanceDumpFacts, InstanceStatus};
use crate::net::LinkEvent;

/// What waits for its interfaces, and the links whose changes re-apply the plan.
#[derive(Default)]
pub(super) struct Waiting {
    /// The whole plan as loaded, while it uses `dynamic_interfaces`.
    pub full: Option<plan::Plan>,
    /// Links a waiting instance needs: their appearance re-applies.
    appear: HashSet<String>,
    /// Links of installed instances: their removal re-applies.
    vanish: HashSet<String>,
    /// The waiting instances as `vigild status` shows them (published once the plan is
    /// installed).
    pub shown: Vec<InstanceStatus>,
    /// The waiting instances themselves.
    instances: Vec<plan::Instance>,
    /// The sync groups' members (a group waits as a whole).
    groups: Vec<Vec<String>>,
}

impl Waiting {
    /// Whether a link event changes which instances can run.
    pub(super) fn concerns(&self, ev: &LinkEvent) -> bool {
        self.full.is_some()
            && if ev.deleted {
                self.vanish.contains(&ev.name)
            } else {
                self.appear.contains(&ev.name)
            }
    }

    /// The part of `plan` that can be installed now; the rest is kept here. An instance
    /// whose interface has no address of its family waits in FAULT, as keepalived runs
    /// it; a missing link makes it wait only under `dynamic_interfaces` (without it the
    /// plan keeps the instance, and the install fails as keepalived refuses it).
    pub(super) async fn split(&mut self, netlink: &Netlink, plan: plan::Plan) -> plan::Plan {
        self.full = None;
        self.appear.clear();
        self.vanish.clear();
        self.shown.clear();
        self.instances.clear();
        let dynamic = plan.dynamic_interfaces;
        let mut install = plan;
        let mut lacking = HashSet::new();
        for inst in &install.instances {
            match lacks(netlink, inst).await {
                None => {}
                Some(Lack::Links(_)) if !dynamic => {}
                Some(Lack::Links(missing)) => {
                    info!(
                        "({}) interface {} does not exist: the instance is in FAULT until it appears (dynamic_interfaces)",
                        inst.name,
                        missing.join(", ")
                    );
                    self.appear.extend(missing);
                    lacking.insert(inst.name.clone());
                }
                Some(Lack::Peers) => {
                    warn!(
                        "({}) Cannot use unicast without any peers - going to fault state",
                        inst.name
                    );
                    lacking.insert(inst.name.clone());
                }
                Some(Lack::Source(src)) => {
                    // keepalived: "bind unicast_src ADDR failed 99 - Cannot assign
                    // requested address", then this.
                    warn!(
                        "({}): entering FAULT state (src address not configured): {src} is not an address of this host",
                        inst.name
                    );
                    lacking.insert(inst.name.clone());
                }
                Some(Lack::Address) => {
                    warn!(
                        "({}) interface {} has no {} address: the instance is in FAULT until it has one",
                        inst.name,
                        inst.interface,
                        family_name(inst)
                    );
                    lacking.insert(inst.name.clone());
                }
            }
        }
        if !dynamic && lacking.is_empty() {
            return install;
        }
        self.full = Some(install.clone());
        self.groups = install.groups.iter().map(|g| g.members.clone()).collect();
        let waits = self.with_groups(lacking);
        let (waiting, runs): (Vec<_>, Vec<_>) = std::mem::take(&mut install.instances)
            .into_iter()
            .partition(|i| waits.contains(&i.name));
        if dynamic {
            for inst in &runs {
                self.vanish.extend(links(inst).map(str::to_string));
            }
        }
        install.instances = runs;
        // A sync group with a member in FAULT is in FAULT as a whole (keepalived): its
        // members all wait, so the installed groups are whole.
        install
            .groups
            .retain(|g| !g.members.iter().any(|m| waits.contains(m)));
        self.shown = waiting.iter().map(fault_status).collect();
        self.instances = waiting;
        install
    }

    /// `lacking` and every member of a sync group one of them is in.
    fn with_groups(&self, mut lacking: HashSet<String>) -> HashSet<String> {
        for g in &self.groups {
            if g.iter().any(|m| lacking.contains(m)) {
                lacking.extend(g.iter().cloned());
            }
        }
        lacking
    }

    /// Whether some waiting instance could now be installed (its links and address are
    /// there, and those of its sync group's members): addresses come without link
    /// events, so the service asks this now and then while something waits.
    pub(super) async fn any_ready(&self, netlink: &Netlink) -> bool {
        let mut lacking = HashSet::new();
        for inst in &self.instances {
            if lacks(netlink, inst).await.is_some() {
                lacking.insert(inst.name.clone());
            }
        }
        self.with_groups(lacking).len() < self.instances.len()
    }

    pub(super) fn is_waiting(&self) -> bool {
        !self.instances.is_empty()
    }

    /// The names of the waiting instances.
    pub(super) fn names(&self) -> HashSet<String> {
        self.instances.iter().map(|i| i.name.clone()).collect()
    }

    /// Notifies `state` for the waiting instances `which` picks, in configuration order,
    /// with their base priority (keepalived's effective priority of an instance that
    /// never ran).
    pub(super) fn notify(
        &self,
        notes: Option<&mpsc::UnboundedSender<Note>>,
        state: &'static str,
        which: impl Fn(&str) -> bool,
    ) {
        let Some(notes) = notes else {
            return;
        };
        for inst in self.instances.iter().filter(|i| which(&i.name)) {
            let _ = notes.send(Note::State {
                kind: notify::Kind::Instance,
                name: inst.name.clone(),
                scripts: Box::new(inst.notify.clone()),
                state,
                priority: inst.core.priority,
            });
        }
    }
}

/// What keeps an instance from being installed.
enum Lack {
    Links(Vec<String>),
    /// Its interface has no address of the instance's family, and no source address
    /// is configured: adverts could not be sent.
    Address,
    /// `unicast_fault_no_peer` without peers: FAULT for as long as the configuration.
    Peers,
    /// The configured `unicast_src_ip` / `mcast_src_ip` is not an address of this host
    /// (keepalived cannot bind to it).
    Source(IpAddr),
}

async fn lacks(netlink: &Netlink, inst: &plan::Instance) -> Option<Lack> {
    if inst.fault_no_peer {
        return Some(Lack::Peers);
    }
    let mut missing = Vec::new();
    for name in links(inst) {
        if netlink.link_by_name(name).await.is_err() {
            missing.push(name.to_string());
        }
    }
    if !missing.is_empty() {
        return Some(Lack::Links(missing));
    }
    if let Some(src) = inst.source {
        return (!is_local(src)).then_some(Lack::Source(src));
    }
    let link = netlink.link_by_name(&inst.interface).await.ok()?;
    match netlink
        .primary_address(link.index, inst.core.family())
        .await
    {
        Ok(None) => Some(Lack::Address),
        _ => None,
    }
}

/// Whether `addr` is an address of this host, as keepalived finds out: by binding to it.
/// An IPv6 link-local address cannot be bound without its interface: taken as there.
fn is_local(addr: IpAddr) -> bool {
    if let IpAddr::V6(v6) = addr
        && v6.is_unicast_link_local()
    {
        return true;
    }
    std::net::UdpSocket::bind(std::net::SocketAddr::new(addr, 0)).is_ok()
}

fn family_name(inst: &plan::Instance) -> &'static str {
    match inst.core.family() {
        vigil_core::wire::Family::V4 => "IPv4",
        vigil_core::wire::Family::V6 => "IPv6",
    }
}

/// The links an instance cannot be installed without.
fn links(inst: &plan::Instance) -> impl Iterator<Item = &str> {
    std::iter::once(inst.interface.as_str()).chain(
        inst.vips
            .iter()
            .chain(&inst.excluded)
            .filter_map(|v| v.dev.as_deref()),
    )
}

/// A waiting instance as `vigild status` shows it: FAULT, priority 0, nothing running.
fn fault_status(inst: &plan::Instance) -> InstanceStatus {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    InstanceStatus {
        name: inst.name.clone(),
        interface: inst.interface.clone(),
        vrid: inst.core.vrid,
        version: inst.core.version.number(),
        state: "FAULT",
        base_priority: inst.core.priority,
        effective_priority: 0,
        master: None,
        advert_interval_ms: inst.core.interval.micros() / 1000,
        master_advert_interval_ms: inst.core.interval.micros() / 1000,
        master_down_interval_ms: 0,
        next_deadline_ms: None,
        vips: inst
            .vips
            .iter()
            .map(|v| format!("{}/{}", v.addr, v.prefix_len))
            .collect(),
        addresses: Vec::new(),
        counters: Counters::default(),
        last_transition_unix: now.as_secs_f64(),
        dump: InstanceDumpFacts::default(),
    }
}
