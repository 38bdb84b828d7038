//! The service thread's side of a (re)load: resolving a plan against the machine
//! (links, source addresses, macvlans), cleaning up what an earlier run left behind,
//! recording what will be installed ([`super::installed`]), and handing the plan to the
//! protocol thread.

use super::*;
use vigil_core::wire::virtual_mac;

/// Resolves the plan against the network (links, source addresses, macvlans), removes
/// VIPs an earlier run left behind, and has the protocol thread install it; then runs
/// its trackers. On error nothing that runs has changed.
pub(super) async fn apply_plan(
    engine: &Handle,
    netlink: &Netlink,
    reports: &mpsc::UnboundedSender<track::Report>,
    running: &mut Running,
    plan: plan::Plan,
) -> Result<(), String> {
    // Routes and rules: recorded before any can be installed; statics installed.
    running.routes.prepare(&plan);
    // dynamic_interfaces: instances whose links are missing wait (published below).
    let mut waiting = waiting::Waiting::default();
    let plan = waiting.split(netlink, plan).await;
    let resolved = resolve(netlink, &plan, &mut running.vmacs).await?;
    remove_leftovers(
        netlink,
        &mut running.addresses,
        &plan,
        &resolved,
        &running.names,
    )
    .await;
    let wanted = plan_records(&plan, &resolved);
    let wanted_keys: HashSet<installed::Key> = wanted.iter().map(|r| r.key()).collect();
    // What vigild put there: the running plan's, and what a previous run recorded that
    // this plan still owns. What the previous run recorded and this plan does not own
    // goes now, before any instance starts.
    if let Some(previous) = running.previous.take() {
        let stale = release(
            netlink,
            &mut running.addresses,
            &previous,
            &wanted_keys,
            "no longer configured",
        )
        .await;
        running.stale.extend(stale);
        let owned = previous
            .into_iter()
            .filter(|r| wanted_keys.contains(&r.key()));
        running.installed.extend(owned);
    }
    let ours: HashSet<installed::Key> = running.installed.iter().map(|r| r.key()).collect();
    let record = recordable(netlink, wanted, &ours).await;
    running.save(&record);
    let names: HashSet<String> = plan.instances.iter().map(|i| i.name.clone()).collect();
    let vmac_names: Vec<String> = plan
        .instances
        .iter()
        .filter_map(|i| i.use_vmac.clone())
        .collect();
    let plan_vmacs: HashSet<&str> = vmac_names.iter().map(String::as_str).collect();
    let (tx, rx) = oneshot::channel();
    if !engine.send(Cmd::Install(Box::new(plan), resolved, tx)) {
        return Err("the protocol thread has stopped".into());
    }
    let spawns = match rx.await {
        Ok(Ok(spawns)) => spawns,
        failed => {
            running.save(&[]);
            return Err(match failed {
                Ok(Err(e)) => e.to_string(),
                _ => "the protocol thread has stopped".into(),
            });
        }
    };
    // The instances the plan removed have removed their VIPs (the protocol thread does
    // that inside the install): the file now lists the new plan's.
    running.installed = record;
    running.stale.retain(|r| !wanted_keys.contains(&r.key()));
    running.save(&[]);
    running.remove_vmacs(&plan_vmacs);
    *running.waiting_status.borrow_mut() = waiting.shown.clone();
    // keepalived notifies an instance that starts in FAULT (its `notify_fault`, the
    // generic script, the FIFO line). One that ran before was notified when the
    // protocol thread stopped it, and one that waited already, before.
    let was_waiting = running.waiting.names();
    waiting.notify(running.notes.as_ref(), "FAULT", |name| {
        !was_waiting.contains(name) && !running.names.contains(name)
    });
    running.waiting = waiting;
    running.names = names;
    for t in running.trackers.drain(..) {
        t.abort();
    }
    let (mut scripts, mut files, mut processes) = (Vec::new(), Vec::new(), Vec::new());
    for s in &spawns {
        match s {
            Spawn::Script(_, script) => scripts.push(script.name.clone()),
            Spawn::File(_, path) => files.push(path.to_string_lossy().into_owned()),
            Spawn::Process(_, p) => processes.push(p.process.name.clone()),
        }
    }
    metrics::service::retain_trackers(&scripts, &files, &processes);
    for s in spawns {
        let task = match s {
            Spawn::Script(i, script) => {
                tokio::task::spawn_local(track::run_script(i, script, reports.clone()))
            }
            Spawn::File(i, path) => tokio::task::spawn_local(track::watch_file(
                i,
                path,
                Duration::from_secs(1),
                reports.clone(),
            )),
            Spawn::Process(i, p) => tokio::task::spawn_local(track::watch_process(
                i,
                p.process,
                p.quorum,
                Duration::from_secs(1),
                reports.clone(),
            )),
        };
        running.trackers.push(task);
    }
    Ok(())
}

/// Looks up what the plan names: each instance's link (creating `use_vmac` macvlans,
/// recorded in `vmacs`) and source address, the `dev` of VIPs, and the state of tracked
/// interfaces.
pub(super) async fn resolve(
    netlink: &Netlink,
    plan: &plan::Plan,
    vmacs: &mut HashMap<String, u32>,
) -> Result<Resolved, String> {
    let mut r = Resolved::default();
    for inst in &plan.instances {
        let ifname = inst.use_vmac.as_deref().unwrap_or(&inst.interface);
        let parent = netlink
            .link_by_name(&inst.interface)
            .await
            .map_err(|e| format!("({}) interface {}: {e}", inst.name, inst.interface))?;
        if let Some(vmac) = &inst.use_vmac
            && netlink.link_by_name(vmac).await.is_err()
        {
            let mac = virtual_mac(inst.core.vrid, inst.core.family());
            netlink
                .create_macvlan(parent.index, vmac, mac)
                .await
                .map_err(|e| format!("({}) creating {vmac}: {e}", inst.name))?;
            let vlink = netlink
                .link_by_name(vmac)
                .await
                .map_err(|e| e.to_string())?;
            vmacs.insert(vmac.clone(), vlink.index);
            let _ = netlink.set_link_up(vlink.index, true).await;
        }
        let mut link = netlink
            .link_by_name(ifname)
            .await
            .map_err(|e| format!("({}) interface {ifname}: {e}", inst.name))?;
        if inst.vmac_xmit_base
            && let Some(vmac) = &inst.use_vmac
        {
            // keepalived's `vmac_xmit_base`: the VRRP socket on the base interface, the
            // VIPs (and their announcements, from the virtual MAC) on the macvlan.
            r.dev_links.insert(vmac.clone(), link.index);
            r.dev_macs
                .insert(link.index, virtual_mac(inst.core.vrid, inst.core.family()));
            link = parent.clone();
        }
        // A macvlan has no address of its own: adverts carry the parent's, as
        // keepalived's do.
        let primary = match inst.source {
            Some(a) => {
                // The kernel refuses to send from an address this host does not have
                // (vigild never spoofs one): say so at load, not once per advert.
                if !is_local_address(a) {
                    warn!(
                        "({}) source address {a} (mcast_src_ip / unicast_src_ip) is not an address of this host: adverts cannot be sent until it is",
                        inst.name
                    );
                }
                Some(a)
            }
            None => netlink
                .primary_address(parent.index, inst.core.family())
                .await
                .map_err(|e| e.to_string())?,
        };
        r.link_states.insert(inst.interface.clone(), parent.up);
        r.links.insert(inst.name.clone(), (link, primary));
    }
    for vip in plan
        .instances
        .iter()
        .flat_map(|i| i.vips.iter().chain(&i.excluded))
    {
        if let Some(dev) = &vip.dev
            && !r.dev_links.contains_key(dev)
        {
            let l = netlink
                .link_by_name(dev)
                .await
                .map_err(|e| format!("VIP {} dev {dev}: {e}", vip.addr))?;
            r.dev_links.insert(dev.clone(), l.index);
            if let Some(mac) = l.mac {
                r.dev_macs.insert(l.index, mac);
            }
        }
    }
    for inst in &plan.instances {
        for (name, _) in &inst.track_interfaces {
            if let Ok(l) = netlink.link_by_name(name).await {
                r.link_states.insert(name.clone(), l.up);
            }
        }
    }
    Ok(r)
}

/// Whether `addr` is configured on any interface of this host (network namespace).
pub(super) fn is_local_address(addr: IpAddr) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return true; // cannot tell: no warning
    };
    addrs.filter_map(|a| a.address).any(|sa| match addr {
        IpAddr::V4(v4) => sa.as_sockaddr_in().is_some_and(|s| s.ip() == v4),
        IpAddr::V6(v6) => sa.as_sockaddr_in6().is_some_and(|s| s.ip() == v6),
    })
}

/// VIPs left behind by a crash are removed before an instance starts, unless it starts
/// as the address owner (master at once). Instances that already run (by name) are
/// left alone: a reload restarts a changed instance, which removes its own VIPs.
pub(super) async fn remove_leftovers(
    netlink: &Netlink,
    addresses: &mut AddressSocket,
    plan: &plan::Plan,
    resolved: &Resolved,
    running: &HashSet<String>,
) {
    let mut present: HashMap<u32, Vec<IpAddr>> = HashMap::new();
    for inst in &plan.instances {
        let owner = inst.core.priority == 255
            && inst.core.initial == vigil_core::machine::InitialState::Master;
        if owner || running.contains(&inst.name) {
            continue;
        }
        let Some((link, primary)) = resolved.links.get(&inst.name) else {
            continue;
        };
        for vip in inst.vips.iter().chain(&inst.excluded) {
            let ifindex = match &vip.dev {
                Some(dev) => resolved.dev_links.get(dev).copied().unwrap_or(link.index),
                None => link.index,
            };
            if Some(vip.addr) == *primary {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = present.entry(ifindex) {
                let addrs = netlink.addresses(ifindex).await.unwrap_or_default();
                e.insert(addrs.iter().map(|a| a.addr).collect());
            }
            if present[&ifindex].contains(&vip.addr) {
                info!(
                    "({}) removing VIP {} left over from an earlier run",
                    inst.name, vip.addr
                );
                if let Err(e) = addresses.del(ifindex, vip.addr, vip.prefix_len) {
                    warn!("({}) removing VIP {}: {e}", inst.name, vip.addr);
                }
            }
        }
    }
}

/// Everything the plan's instances could install: each VIP (and excluded address) with
/// the interface it goes on.
pub(super) fn plan_records(plan: &plan::Plan, resolved: &Resolved) -> Vec<installed::Record> {
    let mut out: Vec<installed::Record> = Vec::new();
    for inst in &plan.instances {
        let Some((link, _)) = resolved.links.get(&inst.name) else {
            continue;
        };
        for vip in inst.vips.iter().chain(&inst.excluded) {
            let (ifindex, ifname) = match &vip.dev {
                Some(dev) => match resolved.dev_links.get(dev) {
                    Some(&index) => (index, dev.clone()),
                    None => (link.index, link.name.clone()),
                },
                None => (link.index, link.name.clone()),
            };
            let r = installed::Record {
                kind: installed::Kind::Vip,
                addr: vip.addr,
                prefix_len: vip.prefix_len,
                ifindex,
                ifname,
                instance: inst.name.clone(),
            };
            if !out.iter().any(|o| o.key() == r.key()) {
                out.push(r);
            }
        }
    }
    out
}

/// Whether `addr/prefix_len` is on interface `ifindex` (an error counts as yes: the
/// callers then keep their record).
pub(super) async fn is_present(
    netlink: &Netlink,
    ifindex: u32,
    addr: IpAddr,
    prefix_len: u8,
) -> bool {
    match netlink.addresses(ifindex).await {
        Ok(all) => all
            .iter()
            .any(|a| a.addr == addr && a.prefix_len == prefix_len),
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// `wanted` without the addresses that are on the host already and that vigild did not
/// put there (not in `ours`): configured by hand (or the interface's own address), they
/// are not vigild's to remove after a crash.
pub(super) async fn recordable(
    netlink: &Netlink,
    wanted: Vec<installed::Record>,
    ours: &HashSet<installed::Key>,
) -> Vec<installed::Record> {
    let mut out = Vec::with_capacity(wanted.len());
    for r in wanted {
        if !ours.contains(&r.key()) && is_present(netlink, r.ifindex, r.addr, r.prefix_len).await {
            info!(
                "({}) VIP {}/{} is already on {} and not vigild's: it will not be removed after a crash",
                r.instance, r.addr, r.prefix_len, r.ifname
            );
            continue;
        }
        out.push(r);
    }
    out
}

/// Removes what `previous` (a previous run's records) lists and `owned` does not, when
/// it is still there: the interface has the recorded index and name and carries the
/// address. Returns the records it could not settle, to be tried again next time.
/// `why` ends the log line.
pub(super) async fn release(
    netlink: &Netlink,
    addresses: &mut AddressSocket,
    previous: &[installed::Record],
    owned: &HashSet<installed::Key>,
    why: &str,
) -> Vec<installed::Record> {
    let mut stale = Vec::new();
    for r in installed::not_in(previous, owned) {
        match netlink.link_by_index(r.ifindex).await {
            Ok(link) if link.name == r.ifname => {}
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                warn!("({}) VIP {} on {}: {e}", r.instance, r.addr, r.ifname);
                stale.push(r.clone());
                continue;
            }
        }
        if !is_present(netlink, r.ifindex, r.addr, r.prefix_len).await {
            continue;
        }
        info!(
            "({}) removing VIP {}/{} from {}: left over from an earlier run, {why}",
            r.instance, r.addr, r.prefix_len, r.ifname
        );
        if let Err(e) = addresses.del(r.ifindex, r.addr, r.prefix_len) {
            warn!("({}) removing VIP {}: {e}", r.instance, r.addr);
            stale.push(r.clone());
        }
    }
    stale
}
