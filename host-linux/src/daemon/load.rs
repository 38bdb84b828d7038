//! From a parsed keepalived.conf to the daemon's [`Plan`].

use super::plan::{self, Plan};
use crate::config::{self, KeepalivedConf, Notify, TrackRef};
use crate::exec::RunAs;
use crate::net::Scope;
use crate::notify::Scripts;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use vigil_core::priority::Weight;
use vigil_core::wire::Family;

/// Reads the configuration, logs its diagnostics, and resolves it. An error leaves the
/// running daemon (on reload) as it is.
pub fn load_plan(path: &Path) -> Result<Plan, String> {
    let loaded = config::load(path);
    for d in &loaded.diagnostics {
        if d.is_error() {
            error!("{d}");
        } else {
            warn!("{d}");
        }
    }
    let conf = loaded
        .config
        .ok_or_else(|| format!("configuration {} has errors", path.display()))?;
    plan_from(&conf)
}

fn notify_scripts(n: &Notify) -> Scripts {
    let text = |c: &Option<config::Command>| c.as_ref().map(|c| c.text.clone());
    Scripts {
        master: text(&n.master),
        backup: text(&n.backup),
        fault: text(&n.fault),
        stop: text(&n.stop),
        any: text(&n.any),
    }
}

fn run_as(user: Option<&config::User>, global: RunAs) -> RunAs {
    match user {
        Some(u) => RunAs::lookup(&u.user, u.group.as_deref()).unwrap_or_else(|e| {
            warn!("script user: {e}; using the global script_user");
            global
        }),
        None => global,
    }
}

/// Resolves names and weights: a reference's own weight, else the tracked object's.
fn refs(list: &[TrackRef], default: impl Fn(&str) -> Weight) -> Vec<(String, Weight)> {
    list.iter()
        .map(|r| (r.name.clone(), r.weight.unwrap_or_else(|| default(&r.name))))
        .collect()
}

pub fn plan_from(conf: &KeepalivedConf) -> Result<Plan, String> {
    let script_user = run_as(conf.global.script_user.as_ref(), RunAs::ROOT);
    let mut plan = Plan {
        script_user,
        ..Plan::default()
    };
    let mut disabled: Vec<&str> = Vec::new();
    for s in &conf.scripts {
        let who = run_as(s.user.as_ref(), script_user);
        // keepalived's enable_script_security: a script root runs must be safe from
        // other users, or it is disabled (and tracks nothing).
        if conf.global.enable_script_security
            && let Some(prog) = s.command.argv.first()
            && let Err(e) = crate::exec::check_security(Path::new(prog), who)
        {
            error!("VRRP_Script({}): {e}", s.name);
            disabled.push(&s.name);
            continue;
        }
        plan.scripts.push(plan::Script {
            name: s.name.clone(),
            argv: s.command.argv.clone(),
            interval: s.interval,
            timeout: s.timeout.unwrap_or(s.interval),
            rise: u8::try_from(s.rise).unwrap_or(u8::MAX),
            fall: u8::try_from(s.fall).unwrap_or(u8::MAX),
            init_fail: s.init_fail,
            run_as: who,
        });
    }
    for f in &conf.track_files {
        plan.files.push(plan::TrackFile {
            name: f.name.clone(),
            path: PathBuf::from(&f.file),
        });
    }
    for p in &conf.track_processes {
        plan.processes.push(plan::TrackProcess {
            name: p.name.clone(),
            process: p.process.clone(),
            quorum: p.quorum as usize,
        });
    }
    let script_weight = |n: &str| conf.script(n).map_or(Weight::FAULT, |s| s.weight);
    let process_weight = |n: &str| conf.track_process(n).map_or(Weight::FAULT, |p| p.weight);
    let file_weight = |n: &str| {
        conf.track_file(n).map_or(Weight::FAULT, |f| {
            Weight::new(f.weight.clamp(-254, 254) as i16, f.reverse).unwrap_or(Weight::FAULT)
        })
    };
    for inst in &conf.instances {
        let interface = inst
            .interface
            .clone()
            .ok_or_else(|| format!("({}) no interface", inst.name))?;
        let placeholder = match inst.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let core = inst.core_config(placeholder)?;
        let mut track_interfaces: Vec<(String, Weight)> = inst
            .track_interfaces
            .iter()
            .map(|t| (t.name.clone(), t.weight))
            .collect();
        let mut track_scripts = refs(&inst.track_scripts, script_weight);
        track_scripts.retain(|(n, _)| !disabled.contains(&n.as_str()));
        let mut track_files = refs(&inst.track_files, file_weight);
        let mut track_processes = refs(&inst.track_processes, process_weight);
        // What a sync group tracks, each member tracks too.
        if let Some(g) = inst.sync_group.as_deref().and_then(|g| conf.sync_group(g)) {
            track_interfaces.extend(
                g.track_interfaces
                    .iter()
                    .map(|t| (t.name.clone(), t.weight)),
            );
            track_scripts.extend(
                refs(&g.track_scripts, script_weight)
                    .into_iter()
                    .filter(|(n, _)| !disabled.contains(&n.as_str())),
            );
            track_files.extend(refs(&g.track_files, file_weight));
            track_processes.extend(refs(&g.track_processes, process_weight));
        }
        let mcast_group = inst.mcast_dst_ip.unwrap_or(match inst.family {
            Family::V4 => IpAddr::V4(conf.global.mcast_group4),
            Family::V6 => IpAddr::V6(conf.global.mcast_group6),
        });
        let vip = |v: &config::VirtualAddress| plan::Vip {
            addr: v.addr,
            prefix_len: v.prefix_len,
            dev: v.dev.clone(),
            label: v.label.clone(),
            scope: v.scope.as_deref().and_then(Scope::from_name),
            broadcast: v.brd,
        };
        plan.instances.push(plan::Instance {
            name: inst.name.clone(),
            interface,
            core,
            source: inst.configured_source(),
            vips: inst.vips.iter().map(vip).collect(),
            excluded: inst.excluded_vips.iter().map(vip).collect(),
            unicast_peers: inst.unicast_peers.iter().map(|p| p.addr).collect(),
            mcast_group,
            track_interfaces,
            track_scripts,
            track_files,
            track_processes,
            track_own_interface: !inst.dont_track_primary,
            notify: notify_scripts(&inst.notify),
            use_vmac: inst.use_vmac.as_ref().map(|v| {
                v.name
                    .clone()
                    .unwrap_or_else(|| format!("vrrp.{}", inst.vrid))
            }),
        });
    }
    for g in &conf.sync_groups {
        plan.groups.push(plan::Group {
            name: g.name.clone(),
            members: g.members.iter().map(|(m, _)| m.clone()).collect(),
            notify: notify_scripts(&g.notify),
        });
    }
    Ok(plan)
}
