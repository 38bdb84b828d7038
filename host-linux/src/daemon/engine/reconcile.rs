//! Installing a plan over the running one (start and reload). Everything that can fail
//! is checked before anything running is touched, so an error leaves the running
//! configuration exactly as it was. Then, as keepalived 2.2.7 reloads (see
//! `docs/reload.md`): an instance is found again by its identity (VRID, family,
//! interface, unicast source or multicast group and VMAC), not by its name; one found
//! again keeps its state and VIPs and takes its new configuration in place, removed
//! VIPs removed and added ones installed and announced; others, and removed ones,
//! stop (resigning, VIPs removed); the router is rebuilt in plan order with the found
//! instances moved over in the state they were in; what is new starts.

use super::super::now;
use super::sockets::{Socket, socket_key};
use super::trackers::check_capacity;
use super::{Engine, MAX_INSTANCES, MAX_PEERS, Slot};
use crate::control::Counters;
use crate::net::{Link, VrrpSocket};
use crate::track;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use vigil_core::machine::{Config, Instance, MAX_VIPS, State, Vips};
use vigil_core::router::Destination;
use vigil_core::wire::Family;
use vigil_core::wire::virtual_mac;

use super::super::plan::{self, Plan};

/// What the service thread found out about the network for a plan, before the
/// protocol thread installs it.
#[derive(Debug, Default)]
pub struct Resolved {
    /// Per instance name: the link VRRP runs on, and the source address of its adverts
    /// (configured, or that link's primary address; `None` if it has none).
    pub links: HashMap<String, (Link, Option<IpAddr>)>,
    /// `dev` of VIPs: interface name → index.
    pub dev_links: HashMap<String, u32>,
    /// `dev` of VIPs: interface index → MAC, the source of their gratuitous ARPs.
    pub dev_macs: HashMap<u32, [u8; 6]>,
    /// Tracked interfaces (and the instances' own) that exist: name → up.
    pub link_states: HashMap<String, bool>,
}

/// A tracker the service thread must run for the installed plan; its reports carry
/// `index`.
#[derive(Debug)]
pub enum Spawn {
    Script(usize, track::Script),
    File(usize, PathBuf),
    Process(usize, plan::TrackProcess),
}

/// Why a plan was not installed (nothing running changed).
#[derive(Debug)]
pub enum InstallError {
    /// The service thread did not resolve the instance's interface.
    Unresolved {
        instance: String,
        interface: String,
    },
    /// The instance's interface has no address of its family to send from.
    NoAddress {
        instance: String,
        family: Family,
        interface: String,
    },
    Socket {
        instance: String,
        interface: String,
        error: std::io::Error,
    },
    /// The core refused the instance (its checks, or a capacity).
    Core {
        instance: String,
        error: String,
    },
    Trackers {
        instance: String,
        count: usize,
    },
    TooManyInstances {
        count: usize,
    },
    /// Two instances with one VRID on one interface and family.
    DuplicateVrid {
        instance: String,
        vrid: u8,
    },
    Group {
        group: String,
        error: String,
    },
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InstallError as E;
        match self {
            E::Unresolved {
                instance,
                interface,
            } => write!(f, "({instance}) interface {interface} not resolved"),
            E::NoAddress {
                instance,
                family,
                interface,
            } => {
                let family = match family {
                    Family::V4 => "IPv4",
                    Family::V6 => "IPv6",
                };
                write!(
                    f,
                    "({instance}) no {family} address on interface {interface}"
                )
            }
            E::Socket {
                instance,
                interface,
                error,
            } => write!(f, "({instance}) VRRP socket on {interface}: {error}"),
            E::Core { instance, error } => write!(f, "({instance}) {error}"),
            E::Trackers { instance, count } => write!(
                f,
                "({instance}) tracks {count} interfaces, scripts, files and processes; at most {}",
                super::MAX_TRACKERS
            ),
            E::TooManyInstances { count } => write!(
                f,
                "{count} VRRP instances; vigild runs at most {MAX_INSTANCES}"
            ),
            E::DuplicateVrid { instance, vrid } => write!(
                f,
                "({instance}) VRID {vrid} is already used on this interface"
            ),
            E::Group { group, error } => write!(f, "vrrp_sync_group {group}: {error}"),
        }
    }
}

impl std::error::Error for InstallError {}

/// An instance ready to go into the router: kept (index of its old slot) or new.
/// Not boxed: the prepared instances sit in one large allocation that goes back to
/// the kernel as a whole when freed, where a box each would leave a thousand holes in
/// the heap between the strings that stay.
#[allow(clippy::large_enum_variant)]
enum Prepared {
    Kept(usize, Destination<MAX_PEERS>),
    /// Found again with another configuration: updated in place.
    Reconfigured(
        usize,
        plan::Instance,
        Config,
        Vips<MAX_VIPS>,
        Destination<MAX_PEERS>,
    ),
    New(Slot, Instance<MAX_VIPS>, Destination<MAX_PEERS>),
}

impl Engine {
    /// Starts `plan`, or applies it over the running one: unchanged instances keep
    /// their state and VIPs, changed ones restart, removed ones resign and remove their
    /// VIPs. Returns the trackers the service thread must (re)start.
    pub fn install(&mut self, plan: Plan, resolved: Resolved) -> Result<Vec<Spawn>, InstallError> {
        let now = now();
        let (prepared, opened) = self.prepare(&plan, &resolved)?;

        // Commit. Changed and removed instances resign first, while their slots exist.
        self.dev_index.extend(resolved.dev_links);
        self.dev_mac.extend(resolved.dev_macs);
        let kept: Vec<Option<usize>> = prepared
            .iter()
            .map(|p| match p {
                Prepared::Kept(k, _) | Prepared::Reconfigured(k, ..) => Some(*k),
                Prepared::New(..) => None,
            })
            .collect();
        for i in 0..self.slots.len() {
            if kept.contains(&Some(i)) {
                continue;
            }
            let name = &self.slots[i].plan.name;
            if plan.instances.iter().any(|p| &p.name == name) {
                info!(
                    "({name}) VRID, family, interface or address changed, restarting the instance"
                );
            } else {
                info!("({name}) removed from the configuration, stopping it");
            }
            self.slots[i].deleted = true;
            self.router.stop(i, now);
        }
        self.drain();
        for p in &prepared {
            if let Prepared::Reconfigured(k, inst, ..) = p {
                // keepalived's order: rules, routes, then addresses.
                self.remove_dropped_routes(*k, inst);
                self.remove_dropped_vips(*k, inst);
            }
        }
        for (key, sock, ifname) in opened {
            self.socket_keys.insert(key, self.sockets.len());
            self.sockets.push(Socket::new(sock, ifname));
        }
        // The old groups, by their members' old indices, to keep unchanged ones.
        let old_groups: Vec<(plan::Group, State, Vec<usize>)> = (0..self.groups.len())
            .map(|g| {
                let members = (0..self.slots.len())
                    .filter(|&i| self.router.group_of(i) == Some(g))
                    .collect();
                let state = self.router.group_state(g).unwrap_or(State::Initialize);
                (self.groups[g].clone(), state, members)
            })
            .collect();
        let mut old: Vec<Option<(Slot, Instance<MAX_VIPS>)>> = std::mem::take(&mut self.slots)
            .into_iter()
            .zip(self.router.take_all())
            .map(Some)
            .collect();
        for s in &mut self.sockets {
            s.served.clear();
        }
        self.trackers.clear_users();
        for (i, p) in prepared.into_iter().enumerate() {
            let is_kept = !matches!(p, Prepared::New(..));
            let mut update = None;
            let (mut slot, core, dest) = match p {
                Prepared::Kept(k, dest) => {
                    let (slot, core) = old[k].take().expect("each kept slot is taken once");
                    (slot, core, dest)
                }
                Prepared::Reconfigured(k, inst, config, vips, dest) => {
                    let (mut slot, core) = old[k].take().expect("each kept slot is taken once");
                    let old_plan = slot.plan.clone();
                    // Added addresses the core does not see: excluded ones, and VIPs
                    // whose prefix or `dev` changed.
                    let key = |v: &plan::Vip| (v.addr, v.prefix_len, v.dev.clone());
                    let had: Vec<_> = slot
                        .plan
                        .vips
                        .iter()
                        .chain(&slot.plan.excluded)
                        .map(key)
                        .collect();
                    let added_addrs = inst
                        .vips
                        .iter()
                        .chain(&inst.excluded)
                        .any(|v| !had.contains(&key(v)));
                    slot.plan = inst;
                    update = Some((config, vips, dest.clone(), old_plan, added_addrs));
                    (slot, core, dest)
                }
                Prepared::New(slot, core, dest) => (slot, core, dest),
            };
            let key = socket_key(&slot.plan, slot.ifindex);
            slot.socket = self.socket_keys[&key];
            self.router
                .add(core, slot.socket as u32, dest)
                .expect("capacity and VRIDs checked in prepare");
            self.sockets[slot.socket].served.push(i);
            if !is_kept {
                slot.kernel_drops_seen = self.sockets[slot.socket].sock.kernel_drops().unwrap_or(0);
            }
            let trackers = self.trackers.register(i, &slot.plan, &resolved.link_states);
            // A kept instance keeps its trackers' states, so a reload does not send a
            // healthy master through FAULT while its scripts restart; a reconfigured one
            // carries over the readings of what it still tracks, and takes scripts'
            // last results by name (keepalived's clear_diff_script); links are read afresh.
            match &update {
                None if !is_kept => slot.trackers = trackers,
                None => {}
                Some((_, _, _, old_plan, _)) => {
                    let mut trackers = trackers;
                    let old_ids = tracker_names(old_plan);
                    for (id, name) in tracker_names(&slot.plan).iter().enumerate() {
                        if let (Kind::Script, n) = name
                            && let Some(&up) = self.script_results.get(*n)
                        {
                            trackers.set(id, up);
                        } else if name.0 != Kind::Interface
                            && let Some(old_id) = old_ids.iter().position(|o| o == name)
                        {
                            trackers.copy_reading(id, &slot.trackers, old_id);
                        }
                    }
                    slot.trackers = trackers;
                }
            }
            let status = slot.trackers.status();
            self.slots.push(slot);
            if let Some((config, vips, dest, _, added_addrs)) = update {
                info!(
                    "({}) configuration changed, updated in place",
                    self.slots[i].plan.name
                );
                let had_vips_added =
                    vips.adds_to(self.router.instance(i).expect("just added").vips());
                if let Err(e) = self.router.reconfigure(i, now, config, vips, dest, status) {
                    // Checked in prepare; the instance runs on as it was.
                    error!("({}) {e}", self.slots[i].plan.name);
                }
                // keepalived also installs and announces added excluded addresses (and
                // VIPs moved to another prefix or device).
                let master = self.router.instance(i).map(|c| c.state()) == Some(State::Master);
                if master && added_addrs && !had_vips_added {
                    let g = config.garp;
                    self.carry_out(i, vigil_core::router::Event::AddVips);
                    self.carry_out(
                        i,
                        vigil_core::router::Event::Announce {
                            count: g.repeat,
                            spacing: g.spacing,
                        },
                    );
                } else if master && !had_vips_added {
                    // keepalived's restore_vrrp_state: a master adds all its virtual
                    // routes and rules again (the new ones, and any the kernel dropped
                    // with a removed VIP); added VIPs bring them after themselves.
                    self.carry_out_routes(i, true);
                }
            } else if !is_kept {
                self.router.set_tracking(i, now, status);
            }
        }
        // Sync groups: an unchanged group with unchanged members keeps its state, so a
        // reload does not run its notify scripts again.
        self.groups.clear();
        for g in &plan.groups {
            let members: Vec<usize> = g
                .members
                .iter()
                .filter_map(|m| self.slots.iter().position(|s| &s.plan.name == m))
                .collect();
            let gi = self
                .router
                .add_group(&members)
                .expect("membership checked in prepare");
            let was: Option<Vec<usize>> = members.iter().map(|&m| kept[m]).collect();
            if let Some(was) = was
                && let Some((_, state, _)) = old_groups
                    .iter()
                    .find(|(p, _, old_members)| p == g && *old_members == was)
            {
                self.router.keep_group_state(gi, *state);
            }
            self.groups.push(g.clone());
        }
        self.attach_filters();
        let spawns = self.trackers.spawns(&plan);
        self.router.start_all(now);
        self.drain();
        self.rearm();
        Ok(spawns)
    }

    /// Checks everything and builds what is new, changing nothing that runs. Returns
    /// the instances in plan order and the sockets to open.
    #[allow(clippy::type_complexity)]
    fn prepare(
        &self,
        plan: &Plan,
        resolved: &Resolved,
    ) -> Result<
        (
            Vec<Prepared>,
            Vec<(super::sockets::SocketKey, VrrpSocket, String)>,
        ),
        InstallError,
    > {
        if plan.instances.len() > MAX_INSTANCES {
            return Err(InstallError::TooManyInstances {
                count: plan.instances.len(),
            });
        }
        let mut prepared = Vec::with_capacity(plan.instances.len());
        let mut opened: Vec<(super::sockets::SocketKey, VrrpSocket, String)> = Vec::new();
        let mut vrids = HashSet::new();
        let mut claimed = HashSet::new();
        for inst in &plan.instances {
            let (link, primary) = resolved.links.get(&inst.name).cloned().ok_or_else(|| {
                InstallError::Unresolved {
                    instance: inst.name.clone(),
                    interface: inst.interface.clone(),
                }
            })?;
            check_capacity(inst)?;
            let core_err = |error: String| InstallError::Core {
                instance: inst.name.clone(),
                error,
            };
            let dest = destination(inst).map_err(core_err)?;
            let key = socket_key(inst, link.index);
            if !vrids.insert((key, inst.core.vrid)) {
                return Err(InstallError::DuplicateVrid {
                    instance: inst.name.clone(),
                    vrid: inst.core.vrid,
                });
            }
            if !self.socket_keys.contains_key(&key) && !opened.iter().any(|(k, ..)| *k == key) {
                let sock = match key.1 {
                    _ if key.3 => VrrpSocket::ah(
                        link.index,
                        key.1.and_then(|g| match g {
                            IpAddr::V4(g) => Some(g),
                            IpAddr::V6(_) => None,
                        }),
                    ),
                    Some(g) => VrrpSocket::multicast(link.index, g),
                    None => VrrpSocket::unicast(link.index, inst.core.family()),
                }
                .map_err(|error| InstallError::Socket {
                    instance: inst.name.clone(),
                    interface: link.name.clone(),
                    error,
                })?;
                opened.push((key, sock, link.name.clone()));
            }
            // keepalived's vrrp_exist: the same instance by identity, whatever its name.
            let found = self.slots.iter().enumerate().position(|(i, s)| {
                !claimed.contains(&i)
                    && same_identity(&s.plan, s.ifindex, inst, link.index)
                    && self
                        .router
                        .instance(i)
                        .is_some_and(|c| c.state() != State::Initialize)
            });
            if let Some(k) = found {
                claimed.insert(k);
                if self.slots[k].plan == *inst {
                    prepared.push(Prepared::Kept(k, dest));
                    continue;
                }
                let mut config = inst.core;
                // Without an address now, the old one stays (the core's, as kept ones do).
                config.primary = primary.unwrap_or_else(|| {
                    self.router
                        .instance(k)
                        .map_or(config.primary, |c| c.config().primary)
                });
                let vips = Vips::from_iter(config.family(), inst.vips.iter().map(|v| v.addr))
                    .map_err(|e| core_err(e.to_string()))?;
                // What the core would refuse, refused here while nothing has changed.
                Instance::new(config, vips.clone()).map_err(|e| core_err(e.to_string()))?;
                prepared.push(Prepared::Reconfigured(k, inst.clone(), config, vips, dest));
                continue;
            }
            let mut config = inst.core;
            let Some(primary) = primary else {
                return Err(InstallError::NoAddress {
                    instance: inst.name.clone(),
                    family: config.family(),
                    interface: link.name.clone(),
                });
            };
            config.primary = primary;
            let vips = Vips::from_iter(config.family(), inst.vips.iter().map(|v| v.addr))
                .map_err(|e| core_err(e.to_string()))?;
            let core = Instance::new(config, vips).map_err(|e| core_err(e.to_string()))?;
            let mac = if inst.use_vmac.is_some() {
                virtual_mac(config.vrid, config.family())
            } else {
                link.mac.unwrap_or([0; 6])
            };
            let slot = Slot {
                plan: inst.clone(),
                ifindex: link.index,
                mac,
                socket: 0,
                trackers: Default::default(),
                counters: Counters::default(),
                kernel_drops_seen: 0,
                deferred: false,
                last_transition: std::time::SystemTime::now(),
                master_priority: 0,
                ah: Default::default(),
                watched: Vec::new(),
                deleted: false,
                extra_garp_at: None,
            };
            prepared.push(Prepared::New(slot, core, dest));
        }
        let mut grouped = HashSet::new();
        for g in &plan.groups {
            for m in &g.members {
                let known = plan.instances.iter().any(|i| &i.name == m);
                if known && !grouped.insert(m) {
                    return Err(InstallError::Group {
                        group: g.name.clone(),
                        error: format!("{m} is already in another sync group"),
                    });
                }
            }
        }
        Ok((prepared, opened))
    }
}

/// Where the instance's adverts go.
fn destination(inst: &plan::Instance) -> Result<Destination<MAX_PEERS>, String> {
    if inst.unicast_peers.is_empty() {
        Ok(Destination::Multicast(inst.mcast_group))
    } else {
        Destination::unicast(&inst.unicast_peers, inst.check_unicast_src).map_err(|e| e.to_string())
    }
}

/// keepalived's `vrrp_exist`: what makes two configurations one instance across a
/// reload. Anything else, the name included, changes in place.
fn same_identity(old: &plan::Instance, old_if: u32, new: &plan::Instance, new_if: u32) -> bool {
    let (o, n) = (&old.core, &new.core);
    if o.vrid != n.vrid || o.family() != n.family() || old_if != new_if {
        return false;
    }
    let unicast = !new.unicast_peers.is_empty();
    let was_unicast = !old.unicast_peers.is_empty();
    if unicast != was_unicast {
        return false;
    }
    if unicast {
        old.source == new.source
    } else {
        old.use_vmac.is_some() == new.use_vmac.is_some() && old.mcast_group == new.mcast_group
    }
}

/// What an instance tracks, in the order `trackers::Registry::register` numbers it.
fn tracker_names(p: &plan::Instance) -> Vec<(Kind, &str)> {
    let own = p.track_own_interface.then_some(p.interface.as_str());
    p.track_interfaces
        .iter()
        .map(|(n, _)| (Kind::Interface, n.as_str()))
        .chain(own.map(|n| (Kind::Interface, n)))
        .chain(
            p.track_scripts
                .iter()
                .map(|(n, _)| (Kind::Script, n.as_str())),
        )
        .chain(
            p.track_processes
                .iter()
                .map(|(n, _)| (Kind::Process, n.as_str())),
        )
        .chain(p.track_files.iter().map(|(n, _)| (Kind::File, n.as_str())))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interface,
    Script,
    Process,
    File,
}

impl Engine {
    /// A reconfigured master (old slot `k`) removes the addresses its new plan no
    /// longer has (keepalived's `clear_diff_vrrp_vip`); the others stay in place.
    fn remove_dropped_vips(&mut self, k: usize, new: &plan::Instance) {
        if self.router.instance(k).map(|c| c.state()) != Some(State::Master) {
            return;
        }
        let name = self.slots[k].plan.name.clone();
        let kept: Vec<(IpAddr, u8, Option<&String>)> = new
            .vips
            .iter()
            .chain(&new.excluded)
            .map(|v| (v.addr, v.prefix_len, v.dev.as_ref()))
            .collect();
        let gone: Vec<_> = self.slots[k]
            .plan
            .vips
            .iter()
            .chain(&self.slots[k].plan.excluded)
            .filter(|v| !kept.contains(&(v.addr, v.prefix_len, v.dev.as_ref())))
            .map(|v| (self.vip_ifindex(&self.slots[k], v), v.addr, v.prefix_len))
            .collect();
        for (ifindex, addr, prefix_len) in gone {
            info!("({name}) removing VIP {addr}, no longer configured");
            if let Err(e) = self.addresses.del(ifindex, addr, prefix_len) {
                error!("({name}) removing VIP {addr}: {e}");
            }
        }
    }
}
