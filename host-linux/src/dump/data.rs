//! `/tmp/keepalived.data` (SIGUSR1): keepalived's `dump_data_vrrp` as far as it
//! concerns VRRP: the global definitions VRRP uses (`dump_global_data`), the
//! instances (`dump_vrrp`), the sync groups and the scripts (vrrp_data.c). The LVS,
//! SNMP, D-Bus, socket-pool and interface sections are left out (docs/dumps.md).

use super::{command_line, format_vip, group_of, instances, time_us};
use crate::control::{InstanceStatus, Status};
use crate::daemon::plan::{DumpConfig, Instance, Plan};
use crate::notify;
use std::fmt::Write as _;
use std::net::IpAddr;
use vigil_core::machine::LowerPriority;
use vigil_core::wire::Auth;

/// The whole file.
pub fn render(status: &Status, plan: &Plan) -> String {
    let mut out = String::new();
    globals(&mut out, &plan.dump, plan);
    let _ = writeln!(out, "------< VRRP Topology >------");
    for (s, p) in instances(status, plan) {
        instance(&mut out, status, plan, s, p);
    }
    groups(&mut out, status, plan);
    scripts(&mut out, status, plan);
    out
}

fn yes(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn globals(out: &mut String, g: &DumpConfig, plan: &Plan) {
    let w = |out: &mut String, line: String| {
        let _ = writeln!(out, " {line}");
    };
    let _ = writeln!(out, "------< Global definitions >------");
    w(out, format!("Router ID = {}", g.router_id));
    w(out, format!("VRRP IPv4 mcast group = {}", g.mcast_group4));
    w(out, format!("VRRP IPv6 mcast group = {}", g.mcast_group6));
    w(
        out,
        format!("Gratuitous ARP delay = {}", g.garp_delay.as_secs()),
    );
    w(out, format!("Gratuitous ARP repeat = {}", g.garp_repeat));
    w(
        out,
        format!(
            "Gratuitous ARP refresh timer = {}",
            g.garp_refresh.as_secs()
        ),
    );
    w(
        out,
        format!("Gratuitous ARP refresh repeat = {}", g.garp_refresh_repeat),
    );
    w(
        out,
        format!(
            "Gratuitous ARP lower priority delay = {}",
            g.garp_lower_prio_delay.as_secs()
        ),
    );
    w(
        out,
        format!(
            "Gratuitous ARP lower priority repeat = {}",
            g.garp_lower_prio_repeat
        ),
    );
    w(
        out,
        format!("Num adverts before down = {}", g.down_timer_adverts),
    );
    w(
        out,
        format!(
            "Send advert after receive lower priority advert = {}",
            yes(!g.lower_prio_no_advert)
        ),
    );
    w(
        out,
        format!(
            "Send advert after receive higher priority advert = {}",
            yes(g.higher_prio_send_advert)
        ),
    );
    w(
        out,
        format!(
            "Gratuitous ARP interval = {:.6}",
            g.garp_interval.as_secs_f64()
        ),
    );
    w(
        out,
        format!(
            "Gratuitous NA interval = {:.6}",
            g.gna_interval.as_secs_f64()
        ),
    );
    w(
        out,
        format!("VRRP default protocol version = {}", g.default_version),
    );
    w(
        out,
        format!("VRRP check unicast_src = {}", yes(g.check_unicast_src)),
    );
    w(
        out,
        format!(
            "VRRP skip check advert addresses = {}",
            yes(g.skip_check_adv_addr)
        ),
    );
    w(out, format!("VRRP strict mode = {}", yes(g.strict)));
    w(
        out,
        format!(
            "Script security {}",
            if g.script_security {
                "enabled"
            } else {
                "disabled"
            }
        ),
    );
    w(
        out,
        format!(
            "Default script uid:gid {}:{}",
            plan.script_user.uid, plan.script_user.gid
        ),
    );
}

fn instance(out: &mut String, status: &Status, plan: &Plan, s: &InstanceStatus, p: &Instance) {
    let c = &p.core;
    let g = &plan.dump;
    let v3 = s.version == 3;
    let ipv6 = p.mcast_group.is_ipv6();
    let unicast = !p.unicast_peers.is_empty();
    let backup = s.state == "BACKUP";
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!("VRRP Version = {}", s.version));
    if let Some(group) = group_of(plan, &p.name) {
        lines.push(format!("Sync group = {group}"));
    }
    if ipv6 {
        lines.push("Using Native IPv6".into());
    }
    lines.push(format!("State = {}", s.state));
    if backup {
        // Before any advert keepalived shows its zeroed master address as the
        // destination it was initialised with: the multicast group.
        let master = s.master.clone().unwrap_or_else(|| {
            if unicast {
                "(none)".into()
            } else {
                p.mcast_group.to_string()
            }
        });
        lines.push(format!("Master router = {master}"));
        lines.push(format!("Master priority = {}", s.dump.master_priority));
        if v3 {
            lines.push(format!(
                "Master advert int = {:.2} sec",
                s.master_advert_interval_ms as f64 / 1000.0
            ));
        }
    }
    // keepalived's flags word holds these options among others; with none set it
    // says so.
    let flagged = unicast
        || !c.preempt
        || !p.track_own_interface
        || !c.check_addresses
        || p.check_unicast_src
        || p.source.is_some()
        || p.use_vmac.is_some();
    if !flagged {
        lines.push("Flags: none".into());
    } else {
        lines.push("Flags:".into());
        if unicast {
            lines.push("  Using unicast".into());
        }
    }
    lines.push(format!("Wantstate = {}", s.state));
    lines.push("Number of config faults = 0".into());
    lines.push(format!(
        "Number of interface and track script faults = {}",
        s.dump.tracker_faults
    ));
    let scripts_init = p
        .track_scripts
        .iter()
        .filter(|(n, _)| !status.dump.script_results.contains_key(n))
        .count();
    lines.push(format!("Number of track scripts init = {scripts_init}"));
    lines.push(format!(
        "Last transition = {}",
        time_us(s.dump.last_transition_unix_us)
    ));
    match s.next_deadline_ms {
        Some(ms) => lines.push(format!(
            "Read timeout = {}",
            time_us(status.dump.taken_unix_us + ms * 1000)
        )),
        None => lines.push("Read timeout = DISABLED".into()),
    }
    lines.push(format!(
        "Master down timer = {} usecs",
        s.dump.master_down_us
    ));
    if let Some(vmac) = &p.use_vmac {
        lines.push(format!("Use VMAC, i/f name {vmac}"));
    }
    lines.push(format!("Interface = {}", p.interface));
    if !p.track_own_interface {
        lines.push("VRRP interface tracking disabled".into());
    }
    if !c.check_addresses {
        lines.push("Skip checking advert IP addresses".into());
    }
    if g.strict {
        lines.push("Enforcing strict VRRP compliance".into());
    }
    lines.push(format!(
        "Using src_ip = {}{}",
        s.dump
            .src_ip
            .filter(|a| !a.is_unspecified())
            .map_or_else(|| "(none)".to_string(), |a| a.to_string()),
        if p.source.is_some() {
            " (from configuration)"
        } else {
            ""
        }
    ));
    if !unicast {
        match p.mcast_group {
            IpAddr::V4(a) => lines.push(format!("Multicast address {a}")),
            IpAddr::V6(a) => {
                lines.push(format!("Multicast address {a}, ifindex {}", s.dump.ifindex))
            }
        }
    }
    lines.push(format!("Gratuitous ARP delay = {}", c.garp.delay.as_secs()));
    lines.push(format!("Gratuitous ARP repeat = {}", c.garp.repeat));
    lines.push(format!(
        "Gratuitous ARP refresh = {}",
        c.garp.refresh.as_secs()
    ));
    lines.push(format!(
        "Gratuitous ARP refresh repeat = {}",
        c.garp.refresh_repeat
    ));
    lines.push(format!(
        "Gratuitous ARP lower priority delay = {}",
        g.garp_lower_prio_delay.as_secs()
    ));
    lines.push(format!(
        "Gratuitous ARP lower priority repeat = {}",
        c.lower_prio_announce
    ));
    lines.push(format!("Down timer adverts = {}", c.down_timer_adverts));
    lines.push(format!(
        "Send advert after receive lower priority advert = {}",
        yes(c.lower_priority == LowerPriority::Answer)
    ));
    lines.push(format!(
        "Send advert after receive higher priority advert = {}",
        yes(c.higher_prio_send_advert)
    ));
    lines.push(format!("Virtual Router ID = {}", s.vrid));
    lines.push(format!("Priority = {}", s.base_priority));
    lines.push(format!("Effective priority = {}", s.effective_priority));
    lines.push(format!("Total priority = {}", s.dump.total_priority));
    if v3 {
        lines.push(format!(
            "Advert interval = {} milli-sec",
            s.advert_interval_ms
        ));
    } else {
        lines.push(format!(
            "Advert interval = {} sec",
            s.advert_interval_ms / 1000
        ));
    }
    if backup && v3 {
        lines.push(format!(
            "Master advert interval = {} milli-sec",
            s.master_advert_interval_ms
        ));
    }
    lines.push(format!(
        "Accept = {}",
        if g.strict { "disabled" } else { "enabled" }
    ));
    lines.push(format!(
        "Preempt = {}",
        if c.preempt { "enabled" } else { "disabled" }
    ));
    if c.preempt_delay.as_micros() != 0 {
        lines.push(format!(
            "Preempt delay = {} secs",
            c.preempt_delay.as_micros() as f64 / 1e6
        ));
    }
    lines.push("Promote_secondaries = disabled".into());
    match c.auth {
        Auth::Password(pw) => {
            lines.push("Authentication type = SIMPLE_PASSWORD".into());
            let end = pw.iter().position(|&b| b == 0).unwrap_or(pw.len());
            lines.push(format!(
                "Password = {}",
                String::from_utf8_lossy(&pw[..end])
            ));
        }
        Auth::Ah(_) => lines.push("Authentication type = IPSEC_AH".into()),
        Auth::None if !v3 => lines.push("Authentication type = none".into()),
        Auth::None => {}
    }
    let set = s.state == "MASTER";
    if !p.vips.is_empty() {
        lines.push(format!("Virtual IP ({}):", p.vips.len()));
        for v in &p.vips {
            lines.push(format!("  {}", format_vip(v, &p.interface, set)));
        }
    }
    if !p.excluded.is_empty() {
        lines.push("Virtual IP Excluded :".into());
        for v in &p.excluded {
            lines.push(format!("  {}", format_vip(v, &p.interface, set)));
        }
    }
    if unicast {
        // keepalived shows the configured `unicast_ttl`, else 255.
        lines.push(format!("Unicast TTL = {}", p.unicast_ttl.unwrap_or(255)));
        lines.push(format!(
            "Check unicast src : {}",
            if p.check_unicast_src { "yes" } else { "no" }
        ));
        lines.push("Unicast Peer :".into());
        for peer in &p.unicast_peers {
            let (min, max) = p
                .peer_ttl
                .iter()
                .find(|(a, ..)| a == peer)
                .map_or((0, 255), |&(_, min, max)| (min, max));
            lines.push(format!("  {peer} min_ttl {min} max_ttl {max}"));
        }
        // keepalived's `unicast_chksum_compat` as configured (its `auto`, after a switch
        // at run time, is not shown).
        let compat = match (p.core.checksum, p.core.old_checksum_auto) {
            (vigil_core::wire::ChecksumMode::OldUnicast, _) => "config",
            (_, true) => "no",
            _ => "never",
        };
        lines.push(format!("Unicast checksum compatibility = {compat}"));
    }
    let tracked =
        |lines: &mut Vec<String>, title: &str, list: &[(String, vigil_core::priority::Weight)]| {
            if list.is_empty() {
                return;
            }
            lines.push(format!("{title} :"));
            for (name, w) in list {
                lines.push(format!(
                    "  {name} weight {}{}",
                    w.weight,
                    if w.reverse { " reverse" } else { "" }
                ));
            }
        };
    tracked(&mut lines, "Tracked interfaces", &p.track_interfaces);
    tracked(&mut lines, "Tracked scripts", &p.track_scripts);
    tracked(&mut lines, "Tracked files", &p.track_files);
    tracked(&mut lines, "Tracked processes", &p.track_processes);
    lines.push(format!(
        "Using smtp notification = {}",
        yes_no(p.smtp_alert)
    ));
    lines.push(format!(
        "Notify deleted = {}",
        if p.notify_deleted { "Deleted" } else { "Fault" }
    ));
    notify_scripts(&mut lines, &p.notify, plan);
    if let Some(sc) = &p.notify_master_rx_lower_pri {
        let who = sc.run_as.unwrap_or(plan.script_user);
        lines.push(format!(
            "Master rx lower pri state transition script = {}, uid:gid {}:{}",
            command_line(&sc.argv),
            who.uid,
            who.gid
        ));
    }
    lines.push(format!(
        "Notify priority changes = {}",
        p.notify_priority_changes
    ));

    let _ = writeln!(out, " VRRP Instance = {}", p.name);
    for l in lines {
        let _ = writeln!(out, "   {l}");
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// keepalived's `dump_notify_script` lines, in its order.
fn notify_scripts(lines: &mut Vec<String>, scripts: &notify::Scripts, plan: &Plan) {
    for (script, kind) in [
        (&scripts.backup, "Backup"),
        (&scripts.master, "Master"),
        (&scripts.fault, "Fault"),
        (&scripts.stop, "Stop"),
        (&scripts.deleted, "Deleted"),
        (&scripts.any, "Generic"),
    ] {
        if let Some(sc) = script {
            let who = sc.run_as.unwrap_or(plan.script_user);
            lines.push(format!(
                "{kind} state transition script = {}, uid:gid {}:{}",
                command_line(&sc.argv),
                who.uid,
                who.gid
            ));
        }
    }
}

fn groups(out: &mut String, status: &Status, plan: &Plan) {
    if plan.groups.is_empty() {
        return;
    }
    let _ = writeln!(out, "------< VRRP Sync groups >------");
    for g in &plan.groups {
        let state = status
            .groups
            .iter()
            .find(|s| s.name == g.name)
            .map_or("INIT", |s| s.state);
        let in_state = |want: &str| {
            g.members
                .iter()
                .filter(|m| {
                    status
                        .instances
                        .iter()
                        .any(|i| &i.name == *m && i.state == want)
                })
                .count()
        };
        let _ = writeln!(out, " VRRP Sync Group = {}, {state}", g.name);
        let _ = writeln!(
            out,
            "   Num member fault {}, num member init {}",
            in_state("FAULT"),
            in_state("INIT")
        );
        let _ = writeln!(out, "   VRRP member instances :");
        for m in &g.members {
            let _ = writeln!(out, "     {m}");
        }
        let _ = writeln!(out, "   Using smtp notification = {}", yes_no(g.smtp_alert));
        let mut lines = Vec::new();
        notify_scripts(&mut lines, &g.notify, plan);
        for l in lines {
            let _ = writeln!(out, "   {l}");
        }
    }
}

fn scripts(out: &mut String, status: &Status, plan: &Plan) {
    if plan.scripts.is_empty() {
        return;
    }
    let _ = writeln!(out, "------< VRRP Scripts >------");
    for sc in &plan.scripts {
        let own = plan.dump.scripts.iter().find(|d| d.name == sc.name);
        let result = status.dump.script_results.get(&sc.name).copied();
        // keepalived's result counter: `rise` or more is good; before the first run
        // it starts one short of good (or at 0 with init_fail).
        let rise = u32::from(sc.rise);
        let counter = match result {
            Some(true) => rise,
            Some(false) => 0,
            None if sc.init_fail => 0,
            None => rise.saturating_sub(1),
        };
        let _ = writeln!(out, " VRRP Script = {}", sc.name);
        let _ = writeln!(out, "   Command = {}", command_line(&sc.args));
        let _ = writeln!(out, "   Interval = {} sec", sc.interval.as_secs());
        let _ = writeln!(
            out,
            "   Timeout = {} sec",
            own.and_then(|o| o.timeout).map_or(0, |t| t.as_secs())
        );
        let weight = own.map_or(vigil_core::priority::Weight::FAULT, |o| o.weight);
        let _ = writeln!(
            out,
            "   Weight = {}{}",
            weight.weight,
            if weight.reverse { " reverse" } else { "" }
        );
        let _ = writeln!(out, "   Rise = {}", sc.rise);
        let _ = writeln!(out, "   Fall = {}", sc.fall);
        let _ = writeln!(out, "   Result = {counter}");
        let _ = writeln!(out, "   Insecure = no");
        let _ = writeln!(
            out,
            "   Init state = {}",
            if result.is_some() {
                "unknown"
            } else if sc.init_fail {
                "INIT/FAILED"
            } else {
                "INIT"
            }
        );
        let _ = writeln!(
            out,
            "   Status = {}",
            if counter >= rise { "GOOD" } else { "BAD" }
        );
        let _ = writeln!(
            out,
            "   Script uid:gid = {}:{}",
            sc.run_as.uid, sc.run_as.gid
        );
        let _ = writeln!(out, "   VRRP instances :");
        let _ = writeln!(out, "   Tracking instances :");
        for p in &plan.instances {
            for (name, w) in &p.track_scripts {
                if *name == sc.name {
                    let _ = writeln!(
                        out,
                        "     {}, weight {}{}",
                        p.name,
                        w.weight,
                        if w.reverse { " reverse" } else { "" }
                    );
                }
            }
        }
        let _ = writeln!(out, "   State = idle");
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{plan, status};
    use super::*;

    /// The instance block of `name` in `text`.
    fn block<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        let head = format!(" VRRP Instance = {name}");
        text.lines()
            .skip_while(|l| *l != head)
            .skip(1)
            .take_while(|l| l.starts_with("   "))
            .collect()
    }

    #[test]
    fn globals_as_keepalived_writes_them() {
        let text = render(&status(), &plan());
        let head: Vec<&str> = text.lines().take(5).collect();
        assert_eq!(
            head,
            [
                "------< Global definitions >------",
                " Router ID = lb1",
                " VRRP IPv4 mcast group = 224.0.0.18",
                " VRRP IPv6 mcast group = ff02::12",
                " Gratuitous ARP delay = 5",
            ]
        );
        for line in [
            " Gratuitous ARP interval = 0.000000",
            " VRRP default protocol version = 2",
            " Send advert after receive lower priority advert = true",
            " VRRP strict mode = false",
            " Script security disabled",
            "------< VRRP Topology >------",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} in\n{text}");
        }
    }

    #[test]
    fn a_master_in_a_sync_group_with_a_password() {
        let text = render(&status(), &plan());
        let b = block(&text, "VI_1");
        let want = [
            "   VRRP Version = 2",
            "   Sync group = G1",
            "   State = MASTER",
            "   Flags: none",
            "   Wantstate = MASTER",
            "   Number of config faults = 0",
            "   Number of interface and track script faults = 0",
            "   Number of track scripts init = 0",
        ];
        assert_eq!(b[..want.len()], want);
        assert!(b[8].starts_with("   Last transition = 1796616058.026076 ("));
        assert!(b[9].starts_with("   Read timeout = 1796616061.000000 ("));
        for line in [
            "   Master down timer = 3414062 usecs",
            "   Interface = veth0",
            "   Using src_ip = 10.0.0.1",
            "   Multicast address 224.0.0.18",
            "   Virtual Router ID = 51",
            "   Priority = 150",
            "   Effective priority = 150",
            "   Advert interval = 1 sec",
            "   Preempt = enabled",
            "   Authentication type = SIMPLE_PASSWORD",
            "   Password = secret",
            "   Virtual IP (2):",
            "     10.0.0.100/24 dev veth0 scope global set",
            "     10.0.0.101 dev veth0 scope global set",
            "   Notify priority changes = false",
        ] {
            assert!(b.contains(&line), "{line:?} in {b:#?}");
        }
        assert!(!b.iter().any(|l| l.contains("Master router")));
    }

    #[test]
    fn a_backup_with_a_script_and_nopreempt() {
        let text = render(&status(), &plan());
        let b = block(&text, "VI_3");
        for line in [
            "   State = BACKUP",
            "   Master router = 10.0.0.2",
            "   Master priority = 120",
            "   Flags:",
            "   Effective priority = 80",
            "   Total priority = 80",
            "   Advert interval = 2 sec",
            "   Preempt = disabled",
            "   Authentication type = none",
            "     10.0.0.103/24 dev veth0 scope global",
            "   Tracked scripts :",
            "     chk weight -10",
        ] {
            assert!(b.contains(&line), "{line:?} in {b:#?}");
        }
        assert!(!b.iter().any(|l| l.contains("Sync group")));
    }

    #[test]
    fn a_v3_unicast_ipv6_backup() {
        let text = render(&status(), &plan());
        let b = block(&text, "VI_6");
        for line in [
            "   VRRP Version = 3",
            "   Using Native IPv6",
            "   Master router = (none)",
            "   Master advert int = 0.50 sec",
            "   Flags:",
            "     Using unicast",
            "   Using src_ip = fd00::1 (from configuration)",
            "   Advert interval = 500 milli-sec",
            "   Master advert interval = 500 milli-sec",
            "   Unicast TTL = 255",
            "   Check unicast src : no",
            "   Unicast Peer :",
            "     fd00::2 min_ttl 0 max_ttl 255",
            "   Unicast checksum compatibility = no",
        ] {
            assert!(b.contains(&line), "{line:?} in {b:#?}");
        }
        // v3 has no authentication line, and unicast no multicast address.
        assert!(!b.iter().any(|l| l.contains("Authentication")));
        assert!(!b.iter().any(|l| l.contains("Multicast address")));
    }

    #[test]
    fn sync_groups_and_scripts_sections() {
        let text = render(&status(), &plan());
        let tail: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "------< VRRP Sync groups >------")
            .collect();
        let want = [
            "------< VRRP Sync groups >------",
            " VRRP Sync Group = G1, MASTER",
            "   Num member fault 0, num member init 0",
            "   VRRP member instances :",
            "     VI_1",
            "     VI_2",
            "   Using smtp notification = no",
            "------< VRRP Scripts >------",
            " VRRP Script = chk",
        ];
        assert_eq!(tail[..want.len()], want);
        for line in [
            "   Interval = 1 sec",
            "   Timeout = 0 sec",
            "   Weight = -10",
            "   Result = 1",
            "   Status = GOOD",
            "     VI_3, weight -10",
            "   State = idle",
        ] {
            assert!(tail.contains(&line), "{line:?} in {tail:#?}");
        }
        // A script that has not run yet is one short of good.
        let mut s = status();
        s.dump.script_results.clear();
        let text = render(&s, &plan());
        assert!(text.contains("   Result = 0\n"));
        assert!(text.contains("   Status = BAD\n"));
        assert!(text.contains("   Init state = INIT\n"));
        assert!(text.contains("   Number of track scripts init = 1\n"));
    }
}
