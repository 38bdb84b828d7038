//! Installing a plan over the running one (start and reload). Everything that can fail
//! is checked before anything running is touched, so an error leaves the running
//! configuration exactly as it was. Then: instances whose plan changed, and removed
//! ones, stop (resigning, VIPs removed); the router is rebuilt in plan order with the
//! unchanged instances moved over in the state they were in; what is new starts.

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
use vigil_core::machine::{Instance, MAX_VIPS, State, Vips};
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
                Prepared::Kept(k, _) => Some(*k),
                Prepared::New(..) => None,
            })
            .collect();
        for i in 0..self.slots.len() {
            if kept.contains(&Some(i)) {
                continue;
            }
            let name = &self.slots[i].plan.name;
            if plan.instances.iter().any(|p| &p.name == name) {
                info!("({name}) configuration changed, restarting the instance");
            } else {
                info!("({name}) removed from the configuration, stopping it");
            }
            self.router.stop(i, now);
        }
        self.drain();
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
            let is_kept = matches!(p, Prepared::Kept(..));
            let (mut slot, core, dest) = match p {
                Prepared::Kept(k, dest) => {
                    let (slot, core) = old[k].take().expect("each kept slot is taken once");
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
            // healthy master through FAULT while its scripts restart.
            if !is_kept {
                slot.trackers = trackers;
            }
            let status = slot.trackers.status();
            self.slots.push(slot);
            if !is_kept {
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
            let kept = self.slots.iter().enumerate().position(|(i, s)| {
                s.plan == *inst
                    && self
                        .router
                        .instance(i)
                        .is_some_and(|c| c.state() != State::Initialize)
            });
            if let Some(k) = kept {
                prepared.push(Prepared::Kept(k, dest));
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
