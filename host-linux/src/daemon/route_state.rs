//! Static addresses, routes and rules (installed at start, removed at exit, whatever
//! the VRRP states, as keepalived's VRRP process does), and the record of every route
//! and rule vigild may install, beside the state file (`STATE.routes`), so that the
//! start after a crash removes what the crashed run left. docs/installed-state.md
//! describes the file.
//!
//! Each line of the file is what removes one thing: `route|rule OWNER TYPE FLAGS HEX`
//! (the netlink removal keepalived would send, [`routes::Request::to_text`]) or
//! `addr OWNER IFINDEX ADDR/LEN` (a static address). The removal of a route or rule
//! names its protocol (keepalived's 18 unless configured), so it never takes a route
//! somebody else added.

use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::plan::{Plan, Statics};
use crate::net::routes::{self, Installable, Request, RouteSocket};
use crate::net::{AddressSocket, AddressSpec, Scope};

const HEADER: &str = "# vigild routes v1";

/// One line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A route or rule: its owner (instance, or `static`) and its removal.
    Netlink { owner: String, del: Request },
    /// A static address.
    Address {
        ifindex: u32,
        addr: IpAddr,
        prefix_len: u8,
    },
}

impl Entry {
    fn to_line(&self) -> String {
        match self {
            Entry::Netlink { owner, del } => {
                let kind = kind_name(del);
                format!("{kind} {owner} {}", del.to_text())
            }
            Entry::Address {
                ifindex,
                addr,
                prefix_len,
            } => format!("addr static {ifindex} {addr}/{prefix_len}"),
        }
    }

    fn from_line(line: &str) -> Option<Entry> {
        let (kind, rest) = line.split_once(' ')?;
        let (owner, rest) = rest.split_once(' ')?;
        match kind {
            "route" | "rule" => Some(Entry::Netlink {
                owner: owner.to_string(),
                del: Request::from_text(rest)?,
            }),
            "addr" => {
                let (ifindex, prefix) = rest.split_once(' ')?;
                let (addr, len) = prefix.split_once('/')?;
                Some(Entry::Address {
                    ifindex: ifindex.parse().ok()?,
                    addr: addr.parse().ok()?,
                    prefix_len: len.parse().ok()?,
                })
            }
            _ => None,
        }
    }
}

/// Where the record of routes and rules sits: beside the state file.
pub fn path_for(state_file: &Path) -> PathBuf {
    let mut p = state_file.as_os_str().to_owned();
    p.push(".routes");
    PathBuf::from(p)
}

/// The static things installed, with what removes them.
#[derive(Debug, Default)]
struct InstalledStatics {
    addresses: Vec<(u32, AddressSpec)>,
    /// Routes then rules, in the order they were added.
    netlink: Vec<Installable>,
}

/// The service thread's routes and rules: the file, the statics installed, and its own
/// sockets.
#[derive(Debug)]
pub struct RouteState {
    path: PathBuf,
    socket: Option<RouteSocket>,
    addresses: Option<AddressSocket>,
    /// What the file lists (it only grows during a run: a reload may leave an old
    /// instance's routes in place until it resigns).
    recorded: Vec<Entry>,
    statics: InstalledStatics,
    /// The leftovers of a crashed run were removed.
    cleaned: bool,
    /// The tracked static routes and rules the watcher puts back, and the watcher.
    tracked: Rc<RefCell<Vec<(routes::Identity, Installable)>>>,
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl RouteState {
    pub fn new(state_file: &Path) -> Self {
        let socket = RouteSocket::new()
            .map_err(|e| error!("netlink socket for routes and rules: {e}"))
            .ok();
        let addresses = AddressSocket::new()
            .map_err(|e| error!("netlink socket for static addresses: {e}"))
            .ok();
        RouteState {
            path: path_for(state_file),
            socket,
            addresses,
            recorded: Vec::new(),
            statics: InstalledStatics::default(),
            cleaned: false,
            tracked: Rc::default(),
            watcher: None,
        }
    }

    /// Starts putting back the tracked static routes and rules something deletes, as
    /// keepalived (`reinstate_static_route`); on the current `LocalSet`.
    fn watch(&mut self) {
        if self.watcher.is_some() || self.tracked.borrow().is_empty() {
            return;
        }
        let mut monitor = match routes::DeletionMonitor::new() {
            Ok(m) => m,
            Err(e) => {
                warn!("route monitor: {e}; deleted static routes and rules will not be put back");
                return;
            }
        };
        let mut socket = match RouteSocket::new() {
            Ok(s) => s,
            Err(e) => {
                warn!("route monitor: {e}; deleted static routes and rules will not be put back");
                return;
            }
        };
        let tracked = self.tracked.clone();
        self.watcher = Some(tokio::task::spawn_local(async move {
            loop {
                let deleted = match monitor.next().await {
                    Ok(d) => d,
                    Err(e) => {
                        warn!(
                            "route monitor: {e}; deleted static routes and rules will not be put back"
                        );
                        return;
                    }
                };
                let again: Vec<Installable> = tracked
                    .borrow()
                    .iter()
                    .filter(|(id, _)| deleted.contains(id))
                    .map(|(_, item)| item.clone())
                    .collect();
                for item in again {
                    match socket.add(&item) {
                        Ok(()) => info!("static {} was deleted: added again", item.what),
                        Err(e) => warn!("static {} was deleted; adding it again: {e}", item.what),
                    }
                }
            }
        }));
    }

    /// Before a plan is installed: at the first, removes what a crashed run left; then
    /// records everything the plan may install and installs its statics (removing the
    /// previous plan's that it no longer has).
    pub fn prepare(&mut self, plan: &Plan) {
        if !self.cleaned {
            self.cleaned = true;
            self.remove_leftovers();
        }
        let mut wanted: Vec<Entry> = Vec::new();
        for inst in &plan.instances {
            for item in super::engine::virtual_work(inst) {
                wanted.push(Entry::Netlink {
                    owner: inst.name.clone(),
                    del: item.del,
                });
            }
        }
        let statics = build_statics(&plan.statics);
        for item in &statics.netlink {
            wanted.push(Entry::Netlink {
                owner: "static".into(),
                del: item.del.clone(),
            });
        }
        for (ifindex, spec) in &statics.addresses {
            wanted.push(Entry::Address {
                ifindex: *ifindex,
                addr: spec.addr,
                prefix_len: spec.prefix_len,
            });
        }
        for e in wanted {
            if !self.recorded.contains(&e) {
                self.recorded.push(e);
            }
        }
        self.save();
        self.install_statics(statics);
    }

    /// At exit, after the protocol thread removed the virtual routes: the statics go
    /// (rules, routes, then addresses, as keepalived) and so does the file.
    pub fn finish(&mut self) {
        if !self.cleaned {
            // A start that failed before any plan: what a crashed run left still goes.
            self.remove_leftovers();
        }
        // The watcher first: it would put back what is removed now.
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        self.tracked.borrow_mut().clear();
        let old = std::mem::take(&mut self.statics);
        self.remove_statics(&old.netlink, &old.addresses);
        let _ = std::fs::remove_file(&self.path);
        self.recorded.clear();
    }

    fn install_statics(&mut self, new: InstalledStatics) {
        // What the watcher puts back: the new statics only (the old ones are removed
        // below, and their deletions must not bring them back).
        *self.tracked.borrow_mut() = new
            .netlink
            .iter()
            .filter(|i| i.tracked)
            .filter_map(|i| {
                Some((
                    routes::identity(i.del.kind == routes::RTM_DELRULE, &i.add.body)?,
                    i.clone(),
                ))
            })
            .collect();
        let old = std::mem::take(&mut self.statics);
        let gone: Vec<Installable> = old
            .netlink
            .iter()
            .filter(|o| !new.netlink.iter().any(|n| n.add == o.add))
            .cloned()
            .collect();
        let gone_addresses: Vec<(u32, AddressSpec)> = old
            .addresses
            .iter()
            .filter(|o| !new.addresses.contains(o))
            .cloned()
            .collect();
        self.remove_statics(&gone, &gone_addresses);
        if let Some(a) = self.addresses.as_mut() {
            for (ifindex, spec) in &new.addresses {
                if let Err(e) = a.add(*ifindex, spec) {
                    error!("adding static address {}: {e}", spec.addr);
                }
            }
        }
        if let Some(s) = self.socket.as_mut() {
            for item in &new.netlink {
                if let Err(e) = s.add(item) {
                    error!("adding static {}: {e}", item.what);
                }
            }
        }
        self.statics = new;
        self.watch();
    }

    fn remove_statics(&mut self, netlink: &[Installable], addresses: &[(u32, AddressSpec)]) {
        if let Some(s) = self.socket.as_mut() {
            for item in netlink.iter().rev() {
                if let Err(e) = s.del(&item.del) {
                    warn!("removing static {}: {e}", item.what);
                }
            }
        }
        if let Some(a) = self.addresses.as_mut() {
            for (ifindex, spec) in addresses {
                if let Err(e) = a.del(*ifindex, spec.addr, spec.prefix_len) {
                    warn!("removing static address {}: {e}", spec.addr);
                }
            }
        }
    }

    /// Removes everything the file lists (what is not there any more is no error).
    fn remove_leftovers(&mut self) {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return;
        };
        let mut lines = text.lines();
        if lines.next().map(str::trim_end) != Some(HEADER) {
            warn!("{}: not a vigild routes file; ignored", self.path.display());
            return;
        }
        let entries: Vec<Entry> = lines
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let e = Entry::from_line(l.trim());
                if e.is_none() {
                    warn!("{}: cannot read `{l}`; skipped", self.path.display());
                }
                e
            })
            .collect();
        let mut failed = Vec::new();
        // Rules and routes first, then addresses (a route may use an address as src).
        for e in entries
            .iter()
            .filter(|e| matches!(e, Entry::Netlink { .. }))
        {
            if let (Entry::Netlink { owner, del }, Some(s)) = (e, self.socket.as_mut()) {
                match s.del(del) {
                    Ok(()) => info!(
                        "removed a {} of {owner} a previous run left",
                        kind_name(del)
                    ),
                    Err(err) => {
                        warn!(
                            "removing a {} of {owner} a previous run left: {err}",
                            kind_name(del)
                        );
                        failed.push(e.clone());
                    }
                }
            }
        }
        for e in &entries {
            if let (
                Entry::Address {
                    ifindex,
                    addr,
                    prefix_len,
                },
                Some(a),
            ) = (e, self.addresses.as_mut())
                && let Err(err) = a.del(*ifindex, *addr, *prefix_len)
            {
                warn!("removing static address {addr} a previous run left: {err}");
                failed.push(e.clone());
            }
        }
        // What could not be removed stays listed for the next start.
        self.recorded = failed;
        if self.recorded.is_empty() {
            let _ = std::fs::remove_file(&self.path);
        } else {
            self.save();
        }
    }

    fn save(&self) {
        // A configuration without routes, rules or statics leaves no file.
        if self.recorded.is_empty() {
            let _ = std::fs::remove_file(&self.path);
            return;
        }
        let mut text = format!("{HEADER}\n");
        for e in &self.recorded {
            text += &e.to_line();
            text.push('\n');
        }
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let written = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(text.as_bytes())?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            warn!(
                "{}: {e}; routes and rules a crash leaves behind will not be removed at the next start",
                self.path.display()
            );
        }
    }
}

fn kind_name(r: &Request) -> &'static str {
    if r.kind == routes::RTM_DELROUTE {
        "route"
    } else {
        "rule"
    }
}

/// The plan's statics with their interfaces resolved; what cannot be is logged and left
/// out.
fn build_statics(s: &Statics) -> InstalledStatics {
    let mut out = InstalledStatics::default();
    for a in &s.addresses {
        let dev = a.addr.dev.as_deref().unwrap_or("eth0");
        let Some(ifindex) = routes::ifindex(dev) else {
            error!("static address {}: no interface {dev}", a.addr.addr);
            continue;
        };
        let spec = AddressSpec {
            addr: a.addr.addr,
            prefix_len: a.addr.prefix_len,
            label: a.addr.label.clone(),
            scope: a
                .addr
                .scope
                .as_deref()
                .and_then(Scope::from_name)
                .unwrap_or(Scope::GLOBAL),
            broadcast: a.addr.brd,
        };
        out.addresses.push((ifindex, spec));
    }
    for r in &s.routes {
        match routes::route_message(r, &routes::ifindex) {
            Ok(m) => out.netlink.push(m),
            Err(e) => error!("static {e}"),
        }
    }
    out.netlink.extend(s.rules.iter().map(routes::rule_message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        let e = Entry::Netlink {
            owner: "VI_1".into(),
            del: Request {
                kind: routes::RTM_DELROUTE,
                flags: 0,
                body: vec![2, 24, 0, 0, 254, 18, 255, 0, 0, 0, 0, 0],
            },
        };
        assert_eq!(Entry::from_line(&e.to_line()), Some(e));
        let a = Entry::Address {
            ifindex: 3,
            addr: "10.0.0.1".parse().unwrap(),
            prefix_len: 24,
        };
        assert_eq!(Entry::from_line(&a.to_line()), Some(a));
        assert_eq!(Entry::from_line("route VI_1 24 0 00"), None);
        assert_eq!(Entry::from_line("route VI_1 25 0 zz"), None);
    }
}
