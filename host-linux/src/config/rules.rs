//! keepalived's interaction rules, applied after everything is read: global defaults into
//! instances, then the checks and corrections keepalived 2.2.7 makes (with its own
//! wording, checked against `keepalived -t`; see the notes in `config/mod.rs`).

use super::diag::{Diags, Loc};
use super::model::*;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;
use vigil_core::machine::{InitialState, MAX_VIPS};
use vigil_core::priority::Weight;
use vigil_core::timer::Interval;
use vigil_core::wire::{Auth, Family, Version};

pub(crate) fn resolve(conf: &mut KeepalivedConf, d: &mut Diags) {
    let g = conf.global.clone();
    for inst in &mut conf.instances {
        defaults(inst, &g);
        instance(inst, &g, d);
    }
    sync_groups(conf, d);
    // Looked up by name once per reference: linear however many blocks there are.
    let scripts = by_name(&conf.scripts, |s| &s.name);
    let files = by_name(&conf.track_files, |f| &f.name);
    let procs = by_name(&conf.track_processes, |p| &p.name);
    let groups = by_name(&conf.sync_groups, |g| &g.name);
    for inst in &mut conf.instances {
        let in_group = inst
            .sync_group
            .as_ref()
            .and_then(|n| groups.get(n.as_str()))
            .map(|g| g.tracking_weight);
        trackers(inst, in_group, &scripts, &files, &procs, d);
    }
    for g in &conf.sync_groups {
        let ctx = format!("({}) ", g.name);
        check_refs(
            &g.track_scripts,
            &ctx,
            "track script",
            |n| scripts.contains_key(n),
            d,
        );
        check_refs(
            &g.track_files,
            &ctx,
            "track file",
            |n| files.contains_key(n),
            d,
        );
        check_refs(
            &g.track_processes,
            &ctx,
            "track process",
            |n| procs.contains_key(n),
            d,
        );
    }
    duplicate_vrids(conf, d);
    // Script security needs the file system: `machine`.
}

/// The first item of each name.
fn by_name<T>(items: &[T], name: impl Fn(&T) -> &String) -> HashMap<&str, &T> {
    let mut map = HashMap::with_capacity(items.len());
    for t in items {
        map.entry(name(t).as_str()).or_insert(t);
    }
    map
}

/// Global values for what the instance does not write.
fn defaults(inst: &mut Instance, g: &Global) {
    let w = &inst.given;
    let master_delay = w.garp_master_delay.or(g.garp_master_delay);
    let master_repeat = w.garp_master_repeat.or(g.garp_master_repeat);
    inst.garp = GarpSettings {
        master_delay,
        master_repeat,
        master_refresh: w.garp_master_refresh.or(g.garp_master_refresh),
        master_refresh_repeat: w
            .garp_master_refresh_repeat
            .or(g.garp_master_refresh_repeat),
        // keepalived's lower-priority defaults follow the master ones.
        lower_prio_delay: w
            .garp_lower_prio_delay
            .or(g.garp_lower_prio_delay.unwrap_or(master_delay)),
        lower_prio_repeat: w
            .garp_lower_prio_repeat
            .or(g.garp_lower_prio_repeat.unwrap_or(master_repeat)),
        interval: g.garp_interval,
        gna_interval: g.gna_interval,
    };
    inst.lower_prio_no_advert = w.lower_prio_no_advert.or(g.lower_prio_no_advert);
    inst.higher_prio_send_advert = w.higher_prio_send_advert.or(g.higher_prio_send_advert);
    inst.skip_check_adv_addr = w.skip_check_adv_addr.or(g.skip_check_adv_addr);
    inst.strict = w.strict_mode.or(g.strict);
    inst.down_timer_adverts = w.down_timer_adverts.or(g.down_timer_adverts);
}

/// Where the instance wrote a keyword, else the instance's own line.
fn at<'a>(inst: &'a Instance, written: &'a Option<Loc>) -> &'a Loc {
    written.as_ref().unwrap_or(&inst.loc)
}

fn instance(inst: &mut Instance, g: &Global, d: &mut Diags) {
    let ctx = format!("({}) ", inst.name);
    let loc = inst.loc.clone();
    if inst.vrid == 0 {
        d.error(
            &loc,
            format!("{ctx}the virtual router id must be set (virtual_router_id 1..255)"),
        );
    }
    // keepalived 2.2.7 says "Unknown interface!" (`-t` exits 5) also for a unicast
    // instance whose unicast_src_ip is on one of the host's interfaces; the daemon needs
    // the interface too.
    if inst.interface.is_none() {
        d.error(&loc, format!("{ctx}no `interface`: an instance needs one"));
    }
    // Family: as keepalived settled it while reading (the parser dropped the addresses
    // of the other family), IPv4 if nothing set it.
    inst.family = inst.given.family.unwrap_or(Family::V4);
    let family = inst.family;
    if let Some(at) = &inst.given.fault_no_peer
        && inst.unicast_peers.is_empty()
    {
        // keepalived logs "Cannot use unicast without any peers - going to fault state"
        // at start and keeps the instance in FAULT (`-t` is silent): so does vigild.
        d.note(
            at,
            format!("{ctx}unicast_fault_no_peer without unicast peers: the instance stays in FAULT (as keepalived keeps it)"),
        );
        inst.fault_no_peer = true;
    } else if let Some(kw) = &inst.given.unicast_keyword
        && inst.unicast_peers.is_empty()
    {
        d.warn(
            kw,
            format!("{ctx}A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration."),
        );
    }
    // Priority and state: `state MASTER` without priority is the address owner.
    let state_given = inst.given.state.value;
    if inst.given.priority.is_none() && state_given == Some(InitialState::Master) {
        inst.priority = u8::MAX;
    }
    inst.state = match state_given {
        Some(s) => s,
        None if inst.priority == u8::MAX => InitialState::Master,
        None => InitialState::Backup,
    };

    // Version: IPv6 runs version 3.
    inst.version = inst.given.version.value.unwrap_or(if family == Family::V6 {
        Version::V3
    } else {
        g.version
    });
    if family == Family::V6 && inst.version == Version::V2 {
        if inst.strict {
            d.warn(
                at(inst, &inst.given.version.at),
                format!("{ctx}cannot use IPv6 with VRRP version 2; setting version 3"),
            );
        } else {
            d.note(
                at(inst, &inst.given.version.at),
                format!("{ctx}VRRPv2 over IPv6 is not standard (keepalived 2.2.7 runs it silently); vigild runs version 3, so its peers must too"),
            );
        }
        inst.version = Version::V3;
    }

    if inst.strict && inst.state == InitialState::Master && inst.priority != u8::MAX {
        d.warn(
            at(inst, &inst.given.state.at),
            format!("{ctx}State MASTER must match being address owner"),
        );
        inst.state = InitialState::Backup;
    }

    auth(inst, &ctx, d);

    if inst.vips.is_empty() {
        // keepalived refuses these (its vrrp_complete_instance fails).
        if inst.strict || inst.version == Version::V3 || family == Family::V6 {
            d.error(
                &loc,
                format!("{ctx}No VIP specified; at least one is required"),
            );
        } else {
            d.warn(
                &loc,
                format!("{ctx}No VIP specified; at least one is sensible"),
            );
        }
    }
    if let Some(IpAddr::V6(first)) = inst.vips.first().map(|v| v.addr)
        && inst.unicast_peers.is_empty()
        && !is_link_local(&first)
    {
        if inst.strict {
            d.warn(
                &loc,
                format!("{ctx}the first IPv6 VIP address must be link local"),
            );
        } else {
            d.note(
                &loc,
                format!("{ctx}the first IPv6 VIP address should be link local"),
            );
        }
    }
    if inst.vips.len() > MAX_VIPS {
        d.unsupported(
            &inst.vips[MAX_VIPS].loc,
            format!(
                "{ctx}{} VIPs: vigild advertises at most {MAX_VIPS} per instance; put the others in virtual_ipaddress_excluded",
                inst.vips.len()
            ),
        );
    }

    // Preemption.
    if inst.given.nopreempt.is_some() && !inst.preempt {
        if inst.priority == u8::MAX {
            d.warn(
                at(inst, &inst.given.nopreempt),
                format!("{ctx}nopreempt is incompatible with priority 255. resetting nopreempt"),
            );
            inst.preempt = true;
        } else if inst.state == InitialState::Master {
            d.warn(
                at(inst, &inst.given.nopreempt),
                format!(
                    "{ctx}Warning - nopreempt will not work with initial state MASTER - clearing"
                ),
            );
            inst.preempt = true;
        }
    }
    if !inst.preempt_delay.is_zero() {
        if inst.strict {
            d.warn(
                at(inst, &inst.given.preempt_delay_at),
                format!("{ctx}preempt_delay is incompatible with strict mode - resetting"),
            );
            inst.preempt_delay = Duration::ZERO;
        } else if !inst.preempt {
            d.warn(
                at(inst, &inst.given.preempt_delay_at),
                format!("{ctx}preempt_delay is incompatible with nopreempt mode - resetting"),
            );
            inst.preempt_delay = Duration::ZERO;
        } else if inst.state == InitialState::Master {
            d.warn(at(inst, &inst.given.preempt_delay_at), format!("{ctx}Warning - preempt delay will not work with initial state MASTER - clearing"));
            inst.preempt_delay = Duration::ZERO;
        }
    }

    // Strict mode's other corrections.
    if inst.strict {
        let w = &inst.given;
        if let Some(loc) = &w.down_timer_adverts.at
            && w.down_timer_adverts.value != 3
        {
            d.warn(
                loc,
                format!("{ctx}down_timer_adverts is incompatible with strict mode - resetting"),
            );
        }
        inst.down_timer_adverts = 3;
        if let Some(loc) = &w.garp_lower_prio_repeat.at
            && w.garp_lower_prio_repeat.value != 0
        {
            d.warn(
                loc,
                format!("{ctx}Strict mode requires no repeat garps. resetting"),
            );
        }
        inst.garp.lower_prio_repeat = 0;
        inst.garp.lower_prio_delay = Duration::ZERO;
        if let Some(loc) = &w.lower_prio_no_advert.at
            && !w.lower_prio_no_advert.value
        {
            d.warn(
                loc,
                format!("{ctx}Strict mode requires no lower priority advert. resetting"),
            );
        }
        inst.lower_prio_no_advert = true;
        if inst.higher_prio_send_advert {
            d.warn(
                at(inst, &w.higher_prio_send_advert.at),
                format!("{ctx}strict mode requires higher_prio_send_advert to be clear. resetting"),
            );
            inst.higher_prio_send_advert = false;
        }
    }

    // advert_int, rounded for the version.
    if let Some((us, aloc)) = inst.given.advert_micros.clone() {
        inst.advert_int = advert_int(us, inst.version, &aloc, &ctx, d);
    }
}

fn auth(inst: &mut Instance, ctx: &str, d: &mut Diags) {
    inst.auth = Auth::None;
    let Some(a) = inst.auth_config.clone() else {
        return;
    };
    if inst.strict {
        d.warn(
            &a.loc,
            format!("{ctx}Strict mode does not support authentication. Ignoring."),
        );
        return;
    }
    if inst.version == Version::V3 {
        d.warn(
            &a.loc,
            format!("{ctx}VRRP version 3 does not support authentication. Ignoring."),
        );
        return;
    }
    let Some(pass) = a.pass.as_deref().filter(|p| !p.is_empty()) else {
        d.warn(
            &a.loc,
            format!("{ctx}Authentication specified but no password given. Ignoring"),
        );
        return;
    };
    match a.kind {
        AuthType::Pass => inst.auth = Auth::password(pass.as_bytes()),
        // IPsec AH (RFC 2338, removed by RFC 3768): kept by keepalived, VRRPv2 over
        // IPv4 only; the daemon wraps and checks the AH header (vigil_core::wire::ah).
        AuthType::Ah => inst.auth = Auth::Ah(vigil_core::wire::ah::key(pass.as_bytes())),
    }
}

/// keepalived's rounding: v2 to whole seconds (at least 1), v3 to 10 ms, capped at 40.95 s.
fn advert_int(us: u64, version: Version, loc: &Loc, ctx: &str, d: &mut Diags) -> Interval {
    let secs = us as f64 / 1e6;
    match version {
        Version::V2 => {
            if !us.is_multiple_of(1_000_000) {
                d.warn(
                    loc,
                    format!(
                        "{ctx}VRRPv2 advertisement interval {secs:.6}s must be an integer. rounding"
                    ),
                );
            }
            let s = (us + 500_000) / 1_000_000;
            Interval::from_secs(s.clamp(1, 255) as u8)
        }
        Version::V3 => {
            if !us.is_multiple_of(10_000) {
                d.warn(loc, format!("{ctx}VRRPv3 advertisement interval {secs:.6}s must be in units of 10ms - rounding"));
            }
            let mut cs = (us + 5_000) / 10_000;
            if cs > u64::from(Interval::V3_MAX.centis()) {
                d.warn(loc, format!("{ctx}VRRPv3 advertisement interval {secs:.2}s is out of range. Must be less than 40.96s. Setting to 40.95s"));
                cs = u64::from(Interval::V3_MAX.centis());
            }
            Interval::from_centis(cs.max(1) as u16)
        }
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn sync_groups(conf: &mut KeepalivedConf, d: &mut Diags) {
    let mut index: HashMap<String, usize> = HashMap::with_capacity(conf.instances.len());
    for (k, i) in conf.instances.iter().enumerate() {
        index.entry(i.name.clone()).or_insert(k);
    }
    for g in &mut conf.sync_groups {
        let mut members = Vec::new();
        for (m, loc) in &g.members {
            match index.get(m).map(|&k| &mut conf.instances[k]) {
                None => d.warn(
                    loc,
                    format!(
                        "Virtual router {m} specified in sync group {} doesn't exist - ignoring",
                        g.name
                    ),
                ),
                Some(i) if i.sync_group.is_some() => d.warn(
                    loc,
                    format!(
                        "Virtual router {m} cannot exist in more than one sync group; ignoring {}",
                        g.name
                    ),
                ),
                Some(i) => {
                    i.sync_group = Some(g.name.clone());
                    members.push((m.clone(), loc.clone()));
                }
            }
        }
        match members.len() {
            0 if g.members.is_empty() => d.warn(
                &g.loc,
                format!("Sync group {} has no virtual router(s). removing", g.name),
            ),
            0 => d.warn(
                &g.loc,
                format!(
                    "Sync group {}, no matching virtual router found in group declaration - removing",
                    g.name
                ),
            ),
            1 => d.warn(
                &g.loc,
                format!(
                    "Sync group {} has only 1 virtual router(s) - this probably isn't what you want",
                    g.name
                ),
            ),
            _ => {}
        }
        g.members = members;
    }
    // keepalived removes a group without members.
    conf.sync_groups.retain(|g| !g.members.is_empty());
}

fn check_refs(
    refs: &[TrackRef],
    ctx: &str,
    what: &str,
    exists: impl Fn(&str) -> bool,
    d: &mut Diags,
) {
    for r in refs {
        // Unreachable from a file (the parser drops a reference to a tracker not defined
        // above it), kept for models built otherwise.
        if !exists(&r.name) {
            d.warn(
                &r.loc,
                format!("{ctx}{what} {} not found, ignoring...", r.name),
            );
        }
    }
}

/// Tracker references and keepalived's weight rules for sync groups and address owners.
fn trackers(
    inst: &mut Instance,
    group: Option<bool>,
    scripts: &HashMap<&str, &VrrpScript>,
    files: &HashMap<&str, &TrackFile>,
    procs: &HashMap<&str, &TrackProcess>,
    d: &mut Diags,
) {
    let ctx = format!("({}) ", inst.name);
    check_refs(
        &inst.track_scripts,
        &ctx,
        "track script",
        |n| scripts.contains_key(n),
        d,
    );
    check_refs(
        &inst.track_files,
        &ctx,
        "track file",
        |n| files.contains_key(n),
        d,
    );
    check_refs(
        &inst.track_processes,
        &ctx,
        "track process",
        |n| procs.contains_key(n),
        d,
    );
    let own = inst.interface.clone();
    inst.track_interfaces.retain(|t| {
        if Some(&t.name) == own.as_ref() {
            d.warn(
                &t.loc,
                format!(
                    "{ctx}Ignoring track_interface {} since own interface",
                    t.name
                ),
            );
            return false;
        }
        true
    });
    // Why weights are ignored: keepalived's words.
    let why = if group == Some(false) {
        Some("SYNC group")
    } else if inst.priority == u8::MAX {
        Some("address_owner")
    } else {
        None
    };
    let Some(why) = why else { return };
    inst.track_scripts.retain(|t| {
        let w = t
            .weight
            .or_else(|| scripts.get(t.name.as_str()).map(|s| s.weight))
            .unwrap_or(Weight::FAULT);
        if w.weight != 0 {
            d.warn(
                &t.loc,
                format!(
                    "{ctx}ignoring tracked script {} with weights due to {why}",
                    t.name
                ),
            );
            return false;
        }
        true
    });
    // In a sync group a weighted interface is kept with weight 0; an address owner stops
    // tracking it.
    let in_sync = why == "SYNC group";
    inst.track_interfaces.retain_mut(|t| {
        if t.weight.weight == 0 {
            return true;
        }
        let (weight_word, reason) = if in_sync {
            ("weight ", "SYNC group")
        } else {
            ("", "address owner")
        };
        d.warn(
            &t.loc,
            format!(
                "{ctx}ignoring {} tracked interface {weight_word}due to {reason}",
                t.name
            ),
        );
        t.weight = Weight::FAULT;
        in_sync
    });
    // A tracked file with the default weight 1 gets weight 0; another weight drops it.
    inst.track_files.retain_mut(|t| {
        let w = t
            .weight
            .map(|w| i32::from(w.weight))
            .or_else(|| files.get(t.name.as_str()).map(|f| f.weight))
            .unwrap_or(0);
        if w == 1 {
            d.warn(
                &t.loc,
                format!(
                    "{ctx}ignoring weight from tracked file {} due to {why}. specify weight 0",
                    t.name
                ),
            );
            t.weight = Some(Weight::FAULT);
        } else if w != 0 {
            d.warn(
                &t.loc,
                format!(
                    "{ctx}ignoring tracked file {} with weight {w} due to {why}",
                    t.name
                ),
            );
            return false;
        }
        true
    });
    // keepalived 2.2.7 leaves track_process weights alone here (checked with its dump).
}

/// Two instances with the same VRID on one interface and family (and multicast group, or
/// overlapping unicast peers) cannot tell their adverts apart. Each instance is reported
/// once, against the first earlier one it clashes with: linear, whatever the number of
/// instances (every pair would be quadratic in time and in diagnostics).
fn duplicate_vrids(conf: &KeepalivedConf, d: &mut Diags) {
    use std::collections::hash_map::Entry;
    // VRID, family, interface, unicast, and the multicast group or one unicast peer.
    type Key<'a> = (u8, Family, Option<&'a str>, bool, Option<IpAddr>);
    let mut first: HashMap<Key<'_>, usize> = HashMap::new();
    let is = &conf.instances;
    for (k, a) in is.iter().enumerate() {
        if a.vrid == 0 {
            continue;
        }
        let mut clash = None;
        let mut see = |unicast: bool, addr: Option<IpAddr>| match first.entry((
            a.vrid,
            a.family,
            a.interface.as_deref(),
            unicast,
            addr,
        )) {
            // The same instance twice (a peer listed twice) is no clash.
            Entry::Occupied(e) if *e.get() != k => clash = clash.or(Some(*e.get())),
            Entry::Occupied(_) => {}
            Entry::Vacant(e) => {
                e.insert(k);
            }
        };
        if a.is_unicast() {
            for p in &a.unicast_peers {
                see(true, Some(p.addr));
            }
        } else {
            see(false, a.mcast_dst_ip);
        }
        if let Some(b) = clash.map(|i| &is[i]) {
            d.error(
                &a.loc,
                format!(
                    "{} and {} both use VRID {} with IPv{} on interface {}",
                    b.name,
                    a.name,
                    a.vrid,
                    if a.family == Family::V4 { 4 } else { 6 },
                    a.interface.as_deref().unwrap_or("(none)")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Loaded, load_str};
    use std::path::Path;
    use std::time::Duration;

    fn load(global: &str, body: &str) -> Loaded {
        load_str(
            Path::new("/nonexistent/defaults.conf"),
            &format!(
                "global_defs {{\n{global}\n}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{body}\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n}}\n"
            ),
        )
    }

    fn garp(l: &Loaded) -> super::GarpSettings {
        l.config.as_ref().expect("loads").instances[0].garp
    }

    #[test]
    fn an_instance_value_wins_over_the_global_default() {
        let l = load("    vrrp_garp_master_delay 7", "    garp_master_delay 2");
        assert_eq!(garp(&l).master_delay, Duration::from_secs(2));
        // The lower-priority delay follows the instance's master delay.
        assert_eq!(garp(&l).lower_prio_delay, Duration::from_secs(2));
    }

    #[test]
    fn an_invalid_instance_value_falls_back_to_the_global_default() {
        for body in [
            "    garp_master_delay x",
            "    garp_master_delay 2\n    garp_master_delay x",
        ] {
            let l = load("    vrrp_garp_master_delay 7", body);
            assert_eq!(garp(&l).master_delay, Duration::from_secs(7), "{body}");
            assert!(
                l.diagnostics.iter().any(|d| d.message
                    == "invalid number 'x': (VI_1): garp_master_delay 'x' invalid - ignoring"),
                "{:?}",
                l.diagnostics
            );
        }
        let l = load("    vrrp_garp_master_delay 7", "");
        assert_eq!(garp(&l).master_delay, Duration::from_secs(7));
    }

    #[test]
    fn a_booleans_last_line_counts_and_its_line_is_named() {
        let l = load(
            "    vrrp_strict",
            "    lower_prio_no_advert true\n    lower_prio_no_advert false",
        );
        let d = l
            .diagnostics
            .iter()
            .find(|d| {
                d.message
                    .contains("Strict mode requires no lower priority advert")
            })
            .expect("the strict-mode warning");
        assert_eq!(d.line(), 8, "the second line: {d}");
    }
}
