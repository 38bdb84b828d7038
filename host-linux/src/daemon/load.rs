//! From a parsed keepalived.conf to the daemon's [`Plan`].

use super::plan::{self, Plan};
use crate::config::{self, KeepalivedConf, Notify, TrackRef};
use crate::exec::RunAs;
use crate::net::Scope;
use crate::notify::{Script, Scripts};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use vigil_core::priority::Weight;
use vigil_core::wire::Family;

/// Logs a load's diagnostics, each at its severity, and the count of those past the cap.
pub fn log_diagnostics(loaded: &config::Loaded) {
    for d in &loaded.diagnostics {
        if d.is_error() {
            error!("{d}");
        } else {
            warn!("{d}");
        }
    }
    if let Some(note) = loaded.omitted_note() {
        warn!("{note}");
    }
}

/// Reads the configuration, logs its diagnostics, and resolves it. An error leaves the
/// running daemon (on reload) as it is.
pub fn load_plan(path: &Path) -> Result<Plan, String> {
    // With the machine check, as `vigild -t` and `vigild check`: missing interfaces refuse,
    // scripts keepalived disables are gone.
    let loaded = config::machine::load(path);
    log_diagnostics(&loaded);
    let conf = loaded
        .config
        .ok_or_else(|| format!("configuration {} has errors", path.display()))?;
    let plan = plan_from(&conf)?;
    // The first plan of the process is the start; later ones are reloads.
    let reload = STARTED.swap(true, Ordering::Relaxed);
    init_track_files(&conf, reload);
    Ok(plan)
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// keepalived's `init_file`: writes the value to a track file that does not exist, or
/// with `overwrite` to one that does (a regular file, and not on reload). Never in
/// `vigild -t`, which does not come here.
fn init_track_files(conf: &KeepalivedConf, reload: bool) {
    for f in &conf.track_files {
        let Some((value, overwrite)) = f.init_file else {
            continue;
        };
        match std::fs::metadata(&f.file) {
            Ok(_) if !overwrite => continue,
            Ok(md) if !md.is_file() => {
                error!(
                    "Cannot initialise track file {} - it is not a regular file",
                    f.name
                );
                continue;
            }
            Ok(_) if reload => continue,
            _ => {}
        }
        if let Err(e) = write_track_value(Path::new(&f.file), value) {
            error!(
                "Unable to initialise track file {} ({}): {e}",
                f.name, f.file
            );
        }
    }
}

/// Writes `value` and a newline, never through a symlink.
fn write_track_value(path: &Path, value: i64) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?
        .write_all(format!("{value}\n").as_bytes())
}

/// Who scripts run as and whether they are checked: keepalived's `script_user` and
/// `enable_script_security`.
struct Users {
    /// The global script user; `None` when `script_user` names no user (keepalived then
    /// removes every script without its own user).
    default: Option<RunAs>,
    security: bool,
}

impl Users {
    fn new(conf: &KeepalivedConf) -> Self {
        let default = match &conf.global.script_user {
            Some(u) => match RunAs::lookup(&u.user, u.group.as_deref()) {
                Ok(r) => Some(r),
                Err(e) => {
                    error!(
                        "script_user {}: {e}: scripts without their own user are disabled",
                        u.user
                    );
                    None
                }
            },
            None => {
                let (r, found) = RunAs::keepalived_default();
                let needs_default = conf.scripts.iter().any(|s| s.user.is_none())
                    || conf
                        .instances
                        .iter()
                        .flat_map(|i| i.notify.iter())
                        .chain(conf.sync_groups.iter().flat_map(|g| g.notify.iter()))
                        .any(|c| c.user.is_none());
                if !found && needs_default {
                    warn!(
                        "WARNING - default user '{}' for script execution does not exist - please create.",
                        crate::exec::DEFAULT_SCRIPT_USER
                    );
                }
                Some(r)
            }
        };
        Users {
            default,
            security: conf.global.enable_script_security,
        }
    }

    /// A script's user: its own, else the default. `Err` disables the script.
    fn of(&self, user: Option<&config::User>, what: &str) -> Result<RunAs, String> {
        match user {
            Some(u) => RunAs::lookup(&u.user, u.group.as_deref())
                .map_err(|e| format!("Invalid user/group for {what}: {e} - ignoring")),
            None => self
                .default
                .ok_or_else(|| format!("Unable to set default user for {what} - removing")),
        }
    }

    /// `argv` as it will run as `who`: with `enable_script_security`, the program is
    /// found through PATH as execvp would, checked (keepalived's rules), and replaced by
    /// the path checked. `Err` disables the script.
    fn checked(&self, mut argv: Vec<String>, who: RunAs) -> Result<Vec<String>, String> {
        if !self.security {
            return Ok(argv);
        }
        let Some(prog) = argv.first() else {
            return Err("empty command".into());
        };
        let path = crate::exec::secure_program(prog, who).map_err(|e| e.to_string())?;
        let path = path.to_string_lossy().into_owned();
        if path != *prog {
            if !prog.contains('/') {
                warn!(
                    "WARNING - script `{prog}` resolved by path search to `{path}`. Please specify full path."
                );
            }
            argv[0] = path;
        }
        Ok(argv)
    }
}

/// The notify scripts of an instance or group (`owner`), each with its user; a script
/// whose user is unknown or that fails the security check is left out, with an error.
/// One notify command with its user resolved and checked (`None`, logged: unsafe).
fn notify_script(
    keyword: &str,
    c: &Option<config::Command>,
    owner: &str,
    users: &Users,
) -> Option<Script> {
    let c = c.as_ref()?;
    let what = format!("{keyword} script {}", c.text);
    let checked = users
        .of(c.user.as_ref(), &what)
        .and_then(|who| Ok((users.checked(c.argv.clone(), who)?, who)));
    match checked {
        Ok((argv, who)) => Some(Script {
            argv,
            run_as: Some(who),
        }),
        Err(e) => {
            error!("({owner}) {keyword}: {e}");
            None
        }
    }
}

fn notify_scripts(n: &Notify, owner: &str, users: &Users) -> Scripts {
    let one = |keyword: &str, c: &Option<config::Command>| notify_script(keyword, c, owner, users);
    Scripts {
        master: one("notify_master", &n.master),
        backup: one("notify_backup", &n.backup),
        fault: one("notify_fault", &n.fault),
        stop: one("notify_stop", &n.stop),
        deleted: one("notify_deleted", &n.deleted),
        // The instance's own field ([`plan::Instance::notify_master_rx_lower_pri`]):
        // its notes carry it alone.
        master_rx_lower_pri: None,
        any: one("notify", &n.any),
    }
}

/// The notify FIFOs as keepalived's VRRP and checker processes open them: the global
/// one, then the VRRP one unless it names the same FIFO, then (only with virtual
/// servers: keepalived has no checker process without) the LVS one unless it names the
/// global FIFO. An LVS FIFO that is the VRRP one is opened once and gets both kinds of
/// lines, with the VRRP script when both have one (keepalived: two processes write to
/// it, the checker leaves its script out). Each script gets the FIFO's name as its last
/// argument.
fn fifo_specs(conf: &KeepalivedConf, users: &Users) -> Vec<crate::notify_fifo::Spec> {
    use crate::notify_fifo::Lines;
    let g = &conf.global;
    let mut out: Vec<crate::notify_fifo::Spec> = Vec::new();
    let lvs = !conf.lvs.virtual_servers.is_empty();
    let wanted = [
        ("", &g.notify_fifo, Lines::All),
        ("vrrp_", &g.vrrp_notify_fifo, Lines::Vrrp),
    ]
    .into_iter()
    .chain(lvs.then_some(("lvs_", &g.lvs_notify_fifo, Lines::Lvs)));
    for (kind, f, lines) in wanted {
        let Some(fifo) = &f.fifo else { continue };
        let name = fifo.text.clone();
        let same = |o: &crate::notify_fifo::Spec| o.path.as_os_str() == name.as_str();
        if let Some(o) = out.iter_mut().find(|o| same(o)) {
            if o.lines == Lines::All {
                let which = if kind == "lvs_" { "LVS" } else { "vrrp" };
                info!(
                    "notify FIFO {name} has been specified for global and {which} FIFO - ignoring {which} FIFO"
                );
                continue;
            }
            // The VRRP FIFO is also the LVS one.
            o.lines = Lines::All;
            if o.script.is_none() {
                o.script = fifo_script(kind, f, &name, users);
            } else if f.script.is_some() {
                info!(
                    "LVS notify FIFO and vrrp FIFO are the same both with scripts - ignoring LVS FIFO script"
                );
            }
            continue;
        }
        let owner = match users.of(fifo.user.as_ref(), &format!("{kind}fifo {name}")) {
            Ok(o) => o,
            Err(e) => {
                info!("{e}");
                continue;
            }
        };
        out.push(crate::notify_fifo::Spec {
            path: name.clone().into(),
            owner,
            script: fifo_script(kind, f, &name, users),
            kind,
            lines,
        });
    }
    out
}

/// A FIFO's script, checked, with the FIFO's name as its last argument.
fn fifo_script(
    kind: &str,
    f: &config::model::NotifyFifo,
    name: &str,
    users: &Users,
) -> Option<Script> {
    let c = f.script.as_ref()?;
    let what = format!("{kind}notify_fifo_script {}", c.text);
    let checked = users
        .of(c.user.as_ref(), &what)
        .and_then(|who| Ok((users.checked(c.argv.clone(), who)?, who)));
    match checked {
        Ok((mut argv, who)) => {
            argv.push(name.to_string());
            Some(Script {
                argv,
                run_as: Some(who),
            })
        }
        Err(e) => {
            error!("{kind}notify_fifo_script: {e}");
            None
        }
    }
}

/// Resolves names and weights: a reference's own weight, else the tracked object's.
fn refs(list: &[TrackRef], default: impl Fn(&str) -> Weight) -> Vec<(String, Weight)> {
    list.iter()
        .map(|r| (r.name.clone(), r.weight.unwrap_or_else(|| default(&r.name))))
        .collect()
}

/// What keepalived's dump files show of `global_defs` and the scripts.
fn dump_config(conf: &KeepalivedConf) -> plan::DumpConfig {
    let g = &conf.global;
    let router_id = g.router_id.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_default()
    });
    plan::DumpConfig {
        router_id,
        mcast_group4: g.mcast_group4,
        mcast_group6: g.mcast_group6,
        default_version: g.version.number(),
        strict: g.strict,
        skip_check_adv_addr: g.skip_check_adv_addr,
        check_unicast_src: g.check_unicast_src,
        garp_interval: g.garp_interval,
        gna_interval: g.gna_interval,
        garp_delay: g.garp_master_delay,
        garp_repeat: g.garp_master_repeat,
        garp_refresh: g.garp_master_refresh,
        garp_refresh_repeat: g.garp_master_refresh_repeat,
        garp_lower_prio_delay: g.garp_lower_prio_delay.unwrap_or(g.garp_master_delay),
        garp_lower_prio_repeat: g.garp_lower_prio_repeat.unwrap_or(g.garp_master_repeat),
        down_timer_adverts: g.down_timer_adverts,
        lower_prio_no_advert: g.lower_prio_no_advert,
        higher_prio_send_advert: g.higher_prio_send_advert,
        script_security: g.enable_script_security,
        scripts: conf
            .scripts
            .iter()
            .map(|s| plan::DumpScript {
                name: s.name.clone(),
                weight: s.weight,
                timeout: s.timeout,
            })
            .collect(),
    }
}

pub fn plan_from(conf: &KeepalivedConf) -> Result<Plan, String> {
    let users = Users::new(conf);
    // keepalived's default for instances and groups without their own.
    let mail = &conf.global.mail;
    let smtp_alert = |own: Option<bool>| {
        own.or(mail.smtp_alert_vrrp)
            .or(mail.smtp_alert)
            .unwrap_or(false)
    };
    let mut plan = Plan {
        // Every notify script carries its user; this default only covers scripts built
        // elsewhere.
        script_user: users.default.unwrap_or_else(RunAs::current),
        dump: dump_config(conf),
        dynamic_interfaces: conf.global.dynamic_interfaces,
        statics: plan::Statics {
            addresses: conf.static_addresses.clone(),
            routes: conf.static_routes.clone(),
            rules: conf.static_rules.clone(),
        },
        fifos: fifo_specs(conf, &users),
        fifo_write_states_on_reload: conf.global.fifo_write_vrrp_states_on_reload,
        mail: crate::mail::Settings::from_config(conf, &dump_config(conf).router_id),
        lvs: plan::Lvs(
            std::sync::Arc::new(conf.lvs.clone()),
            std::sync::Arc::new(crate::lvs::check::TrackFileMap::from_conf(
                &conf.track_files,
            )),
        ),
        ..Plan::default()
    };
    let mut disabled: Vec<&str> = Vec::new();
    for s in &conf.scripts {
        // A script whose user is unknown, or (enable_script_security) that other users
        // could change while root runs it, is disabled and tracks nothing.
        let what = format!("vrrp script {}", s.name);
        let checked = users
            .of(s.user.as_ref(), &what)
            .and_then(|who| Ok((users.checked(s.command.argv.clone(), who)?, who)));
        let (argv, who) = match checked {
            Ok(c) => c,
            Err(e) => {
                error!("VRRP_Script({}): {e}", s.name);
                disabled.push(&s.name);
                continue;
            }
        };
        plan.scripts.push(plan::Script {
            name: s.name.clone(),
            args: argv,
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
            process: crate::track::ProcessSpec {
                name: p.process.clone(),
                params: p.params.clone(),
                param_match: p.param_match,
                full_command: p.full_command,
                quorum_max: p.quorum_max.map_or(usize::MAX, |m| m as usize),
                fork_delay: p.fork_delay,
                terminate_delay: p.terminate_delay,
            },
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
            fault_no_peer: inst.fault_no_peer,
            check_unicast_src: inst.is_unicast()
                && (inst.check_unicast_src || conf.global.check_unicast_src),
            unicast_ttl: inst.unicast_ttl.filter(|_| inst.is_unicast()),
            promote_secondaries: inst.promote_secondaries,
            peer_ttl: if inst.is_unicast()
                && (inst.check_unicast_src || conf.global.check_unicast_src)
            {
                inst.unicast_peers
                    .iter()
                    .filter(|p| p.min_ttl.is_some() || p.max_ttl.is_some())
                    .map(|p| (p.addr, p.min_ttl.unwrap_or(0), p.max_ttl.unwrap_or(255)))
                    .collect()
            } else {
                Vec::new()
            },
            mcast_group,
            track_interfaces,
            track_scripts,
            track_files,
            track_processes,
            track_own_interface: !inst.dont_track_primary,
            notify: notify_scripts(&inst.notify, &inst.name, &users),
            notify_deleted: inst.notify_deleted,
            smtp_alert: smtp_alert(inst.smtp_alert),
            // Without `all` only keepalived's own per-address VMACs, which vigild does
            // not create: nothing to send.
            garp_extra_if: inst
                .garp_extra_if
                .or(conf.global.garp_extra_if)
                .filter(|x| x.all && x.every > 0)
                .map(|x| std::time::Duration::from_secs(x.every)),
            notify_priority_changes: inst
                .notify_priority_changes
                .or_else(|| {
                    let g = inst
                        .sync_group
                        .as_deref()
                        .and_then(|g| conf.sync_group(g))?;
                    g.notify_priority_changes
                })
                .unwrap_or(conf.global.notify_priority_changes),
            notify_master_rx_lower_pri: notify_script(
                "notify_master_rx_lower_pri",
                &inst.notify.master_rx_lower_pri,
                &inst.name,
                &users,
            ),
            use_vmac: inst.use_vmac.as_ref().map(|v| {
                v.name
                    .clone()
                    .unwrap_or_else(|| format!("vrrp.{}", inst.vrid))
            }),
            vmac_xmit_base: inst.vmac_xmit_base,
            routes: inst.vroutes.clone(),
            rules: inst.vrules.clone(),
        });
    }
    for g in &conf.sync_groups {
        plan.groups.push(plan::Group {
            name: g.name.clone(),
            members: g.members.iter().map(|(m, _)| m.clone()).collect(),
            notify: notify_scripts(&g.notify, &g.name, &users),
            smtp_alert: smtp_alert(g.smtp_alert),
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn plan(text: &str) -> Plan {
        let l = config::load_str(Path::new("/etc/keepalived/keepalived.conf"), text);
        let conf = l.config.unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
        plan_from(&conf).unwrap()
    }

    fn script(dir: &Path, name: &str, mode: u32) -> String {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p.display().to_string()
    }

    fn instance(extra: &str) -> String {
        format!(
            "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n{extra}\n}}\n"
        )
    }

    /// keepalived's default user: `keepalived_script` if it exists, else vigild's own.
    fn default_user() -> RunAs {
        RunAs::lookup(crate::exec::DEFAULT_SCRIPT_USER, None).unwrap_or_else(|_| RunAs::current())
    }

    /// Which FIFO gets which lines: the global one all, the VRRP and LVS ones their
    /// own; the LVS one only with virtual servers; one path named twice opened once.
    #[test]
    fn notify_fifos_carry_their_lines_and_shared_paths_open_once() {
        use crate::notify_fifo::Lines;
        let dir = tempfile::tempdir().unwrap();
        let a = script(dir.path(), "a.sh", 0o755);
        let b = script(dir.path(), "b.sh", 0o755);
        let vs = "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n    }\n}\n";
        let fifos = |global: &str, tail: &str| {
            let text = format!("global_defs {{\n{global}\n}}\n{}{tail}", instance(""));
            plan(&text)
                .fifos
                .iter()
                .map(|s| {
                    let script = s.script.as_ref().map(|c| c.argv[0].clone());
                    (s.path.display().to_string(), s.kind, s.lines, script)
                })
                .collect::<Vec<_>>()
        };
        let three = "    notify_fifo /run/all.fifo\n    vrrp_notify_fifo /run/vrrp.fifo\n    lvs_notify_fifo /run/lvs.fifo";
        assert_eq!(
            fifos(three, vs),
            vec![
                ("/run/all.fifo".into(), "", Lines::All, None),
                ("/run/vrrp.fifo".into(), "vrrp_", Lines::Vrrp, None),
                ("/run/lvs.fifo".into(), "lvs_", Lines::Lvs, None),
            ]
        );
        // No virtual server, no checker: no LVS FIFO.
        assert_eq!(fifos(three, "").len(), 2);
        // The LVS FIFO is the global one: ignored.
        let same = "    notify_fifo /run/all.fifo\n    lvs_notify_fifo /run/all.fifo";
        assert_eq!(
            fifos(same, vs),
            vec![("/run/all.fifo".into(), "", Lines::All, None)]
        );
        // The LVS FIFO is the VRRP one: both lines, the VRRP script when both have one.
        let shared = format!(
            "    vrrp_notify_fifo /run/x.fifo\n    vrrp_notify_fifo_script {a}\n    lvs_notify_fifo /run/x.fifo\n    lvs_notify_fifo_script {b}"
        );
        assert_eq!(
            fifos(&shared, vs),
            vec![("/run/x.fifo".into(), "vrrp_", Lines::All, Some(a.clone()))]
        );
        let lvs_script_only = format!(
            "    vrrp_notify_fifo /run/x.fifo\n    lvs_notify_fifo /run/x.fifo\n    lvs_notify_fifo_script {b}"
        );
        assert_eq!(
            fifos(&lvs_script_only, vs),
            vec![("/run/x.fifo".into(), "vrrp_", Lines::All, Some(b.clone()))]
        );
    }

    #[test]
    fn notify_scripts_run_as_their_users_and_unsafe_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let safe = script(dir.path(), "safe.sh", 0o755);
        let open = script(dir.path(), "open.sh", 0o777);
        let nobody = RunAs::lookup("nobody", None).unwrap();
        let text = format!(
            "global_defs {{\n    enable_script_security\n}}\nvrrp_script chk {{\n    script true\n}}\n{}",
            instance(&format!(
                "    track_script {{\n        chk\n    }}\n    notify_master \"{safe} x\" nobody\n    notify_backup {open}\n    notify {safe}"
            ))
        );
        let p = plan(&text);
        assert_eq!(p.script_user, default_user());
        // A bare name is found through PATH, and what was checked is what runs.
        let chk = &p.scripts[0];
        assert!(
            chk.args[0].starts_with('/') && chk.args[0].ends_with("/true"),
            "{:?}",
            chk.args
        );
        assert_eq!(chk.run_as, default_user());
        let n = &p.instances[0].notify;
        let master = n.master.as_ref().unwrap();
        assert_eq!(master.argv, [safe.clone(), "x".to_string()]);
        assert_eq!(master.run_as, Some(nobody));
        let any = n.any.as_ref().unwrap();
        assert_eq!(
            (any.argv.as_slice(), any.run_as),
            (&[safe][..], Some(default_user()))
        );
        // World-writable and run as root (the default user here): disabled, as keepalived.
        if default_user().uid == 0 {
            assert_eq!(n.backup, None);
        }
    }

    #[test]
    fn init_file_creates_missing_files_and_overwrites_only_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (missing, kept, over, sub) = (d.join("m"), d.join("k"), d.join("o"), d.join("dir"));
        std::fs::write(&kept, "7\n").unwrap();
        std::fs::write(&over, "7\n").unwrap();
        std::fs::create_dir(&sub).unwrap();
        let block = |name: &str, file: &Path, init: &str| {
            format!(
                "track_file {name} {{\n    file {}\n    init_file {init}\n}}\n",
                file.display()
            )
        };
        let text = block("m", &missing, "-20")
            + &block("k", &kept, "3")
            + &block("o", &over, "overwrite 5")
            + &block("d", &sub, "overwrite")
            + &instance("    track_file {\n        m\n    }");
        let l = config::load_str(Path::new("/etc/keepalived/keepalived.conf"), &text);
        let conf = l.config.unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        init_track_files(&conf, true);
        assert_eq!(read(&missing), "-20\n", "created, even on reload");
        assert_eq!(read(&over), "7\n", "not overwritten on reload");
        init_track_files(&conf, false);
        assert_eq!(read(&kept), "7\n", "an existing file is kept");
        assert_eq!(read(&over), "5\n", "overwritten at start");
        assert!(sub.is_dir());
        assert_eq!(crate::track::read_file_value(&missing), -20);
    }

    #[test]
    fn scripts_with_unknown_users_are_disabled() {
        let text = format!(
            "vrrp_script chk {{\n    script /bin/true\n    user no-such-user-vigil\n}}\nvrrp_script ok {{\n    script /bin/true\n}}\n{}",
            instance(
                "    track_script {\n        chk\n        ok\n    }\n    notify_master /bin/true no-such-user-vigil\n    notify_backup /bin/true"
            )
        );
        let p = plan(&text);
        assert_eq!(
            p.scripts
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["ok"]
        );
        let i = &p.instances[0];
        assert_eq!(
            i.track_scripts
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["ok"]
        );
        assert_eq!(i.notify.master, None);
        assert_eq!(
            i.notify.backup.as_ref().map(|s| s.run_as),
            Some(Some(default_user()))
        );
        // A global script_user that does not exist disables the scripts without a user.
        let text = format!(
            "global_defs {{\n    script_user no-such-user-vigil\n}}\nvrrp_script ok {{\n    script /bin/true\n}}\n{}",
            instance("    track_script {\n        ok\n    }\n    notify_backup /bin/true")
        );
        let p = plan(&text);
        assert!(p.scripts.is_empty());
        assert!(p.instances[0].track_scripts.is_empty());
        assert!(p.instances[0].notify.is_empty());
    }
}
