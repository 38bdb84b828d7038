//! `global_defs`: the defaults instances take, script security, and the many keywords of
//! keepalived's other processes that vigild knows and ignores.

use super::super::keywords::{Keyword, Table};
use super::super::lexer::Token;
use super::super::model::{GarpExtraIf, Global, SmtpServerLine};
use super::values::{ka_bool, ka_decimal};
use super::{Node, Parser};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use vigil_core::wire::Version;

/// Why `garp_lower_prio_delay` does nothing in vigild.
pub(super) const LOWER_PRIO_DELAY: &str = " (a master answering a lower-priority advert sends its gratuitous ARPs / NAs at once, with no second delayed burst)";

/// Where the global keywords are, for the notes about those vigild ignores.
const PLACE: &str = "in global_defs";

pub(super) static GLOBAL_DEFS: Table<Global> = Table {
    place: PLACE,
    keywords: &[
        Keyword::read("router_id", router_id),
        Keyword::read("vrrp_mcast_group4", mcast_group4),
        Keyword::read("vrrp_mcast_group6", mcast_group6),
        Keyword::read("vrrp_version", |p, g, n| {
            if let Some(t) = p.need(n, 0)
                && let Some(v) = p.ka_uint(t, 2, 3, "VRRP Error: Version must be either 2 or 3")
            {
                g.version = if v == 2 { Version::V2 } else { Version::V3 };
            }
        }),
        Keyword::read("vrrp_strict", |p, g, n| {
            p.no_block(n);
            g.strict = true;
        }),
        // keepalived 2.2.7 reads no value here: `vrrp_skip_check_adv_addr false` is true.
        Keyword::read("vrrp_skip_check_adv_addr", |p, g, n| {
            p.no_block(n);
            if let Some(t) = n.args.first() {
                p.d.note(
                    &t.loc,
                    format!(
                        "keepalived 2.2.7 ignores the value `{}` of vrrp_skip_check_adv_addr: it is on",
                        t.word().unwrap_or("")
                    ),
                );
            }
            g.skip_check_adv_addr = true;
        }),
        Keyword::read("vrrp_check_unicast_src", |p, g, n| {
            p.no_block(n);
            g.check_unicast_src = true;
        }),
        Keyword::read("vrrp_garp_interval", |p, g, n| {
            if let Some(d) = p.garp_interval(n) {
                g.garp_interval = d;
            }
        }),
        Keyword::read("vrrp_gna_interval", |p, g, n| {
            if let Some(d) = p.garp_interval(n) {
                g.gna_interval = d;
            }
        }),
        Keyword::read("vrrp_garp_master_delay", |p, g, n| {
            if let Some(d) = p.whole_secs(n) {
                g.garp_master_delay = d;
            }
        }),
        Keyword::read("vrrp_garp_master_repeat", |p, g, n| {
            if let Some(v) = p.repeat(n, true) {
                g.garp_master_repeat = v;
            }
        }),
        Keyword::read("vrrp_garp_master_refresh", |p, g, n| {
            // keepalived: an invalid value is no refresh.
            if p.need(n, 0).is_some() {
                g.garp_master_refresh = p.whole_secs(n).unwrap_or(Duration::ZERO);
            }
        }),
        Keyword::read("vrrp_garp_master_refresh_repeat", |p, g, n| {
            if let Some(v) = p.repeat(n, true) {
                g.garp_master_refresh_repeat = v;
            }
        }),
        Keyword::read("vrrp_garp_lower_prio_delay", |p, g, n| {
            if let Some(d) = p.whole_secs(n) {
                g.garp_lower_prio_delay = Some(d);
                p.not_implemented(n.loc(), "`vrrp_garp_lower_prio_delay`", LOWER_PRIO_DELAY);
            }
        }),
        Keyword::read("vrrp_garp_lower_prio_repeat", |p, g, n| {
            if let Some(v) = p.repeat(n, false) {
                g.garp_lower_prio_repeat = Some(v);
            }
        }),
        Keyword::read("vrrp_min_garp", |p, g, n| {
            if p.boolean(n, "") == Some(true) {
                g.garp_master_repeat = 1;
                g.garp_master_delay = Duration::ZERO;
                g.garp_lower_prio_repeat = Some(1);
                g.garp_lower_prio_delay = Some(Duration::ZERO);
                g.garp_master_refresh_repeat = 1;
            }
        }),
        Keyword::read("vrrp_lower_prio_no_advert", |p, g, n| {
            if let Some(b) = p.boolean(n, "") {
                g.lower_prio_no_advert = b;
            }
        }),
        Keyword::read("vrrp_higher_prio_send_advert", |p, g, n| {
            if let Some(b) = p.boolean(n, "") {
                g.higher_prio_send_advert = b;
            }
        }),
        Keyword::read("vrrp_down_timer_adverts", |p, g, n| {
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "Invalid vrrp_down_timer_adverts [1:100] '{}'",
                    t.word().unwrap_or("")
                );
                if let Some(v) = p.ka_uint(t, 1, 100, &then) {
                    g.down_timer_adverts = v as u8;
                }
            }
        }),
        Keyword::read("script_user", |p, g, n| {
            if n.args.is_empty() {
                p.d.warn(n.loc(), "script_user: no user given - ignoring");
            } else if let Some(u) = p.user(n) {
                g.script_user = Some(u);
                g.script_user_at = Some(n.loc().clone());
            }
        }),
        Keyword::read("enable_script_security", |p, g, n| {
            p.no_block(n);
            g.enable_script_security = true;
        }),
        Keyword::read("notification_email", |p, g, n| {
            p.mail(n);
            if let Some(children) = p.block_of(n) {
                let words = children
                    .iter()
                    .flat_map(|c| c.words().filter_map(Token::word))
                    .map(str::to_string);
                g.mail.notification_email.extend(words);
            }
        }),
        Keyword::read("notification_email_from", |p, g, n| {
            p.mail(n);
            match n.arg(0) {
                Some(v) => g.mail.from = Some(v.to_string()),
                None => p.d.warn(
                    n.loc(),
                    "notification_email_from no email address specified",
                ),
            }
        }),
        Keyword::read("smtp_server", |p, g, n| {
            p.mail(n);
            if let Some(t) = p.need(n, 0) {
                g.mail.smtp_server = t.word().map(str::to_string);
                g.mail.smtp_port = n.arg(1).map(str::to_string);
                if let Some(name) = t.word() {
                    g.mail.smtp_server_lines.push(SmtpServerLine {
                        name: name.to_string(),
                        port: n.arg(1).map(str::to_string),
                        loc: n.loc().clone(),
                    });
                }
            }
        }),
        Keyword::read("smtp_connect_timeout", |p, g, n| {
            p.mail(n);
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "smtp_connect_timeout '{}' must be in [0, 4294] - ignoring",
                    t.word().unwrap_or("")
                );
                match p.ka_uint(t, 0, 4294, &then) {
                    Some(0) => {
                        p.d.warn(
                            &t.loc,
                            "smtp_conect_timeout must be greater than 0, setting to 1",
                        );
                        g.mail.smtp_connect_timeout = Some(1);
                    }
                    Some(v) => g.mail.smtp_connect_timeout = Some(v as u32),
                    None => {}
                }
            }
        }),
        Keyword::read("smtp_helo_name", |p, g, n| {
            p.mail(n);
            if let Some(t) = p.need(n, 0) {
                g.mail.helo_name = t.word().map(str::to_string);
            }
        }),
        Keyword::read("smtp_alert", |p, g, n| {
            p.mail(n);
            if let Some(v) = p.alert_switch(n, "smtp_alert") {
                g.mail.smtp_alert = Some(v);
            }
        }),
        Keyword::read("smtp_alert_vrrp", |p, g, n| {
            p.mail(n);
            if let Some(v) = p.alert_switch(n, "smtp_alert_vrrp") {
                g.mail.smtp_alert_vrrp = Some(v);
            }
        }),
        // Checker (LVS) mails: vigild has no checkers.
        Keyword::read("smtp_alert_checker", |p, _, n| p.mail(n)),
        Keyword::read("no_email_faults", |p, g, n| {
            p.mail(n);
            g.mail.no_email_faults = true;
        }),
        // Namespaces, processes and their scheduling.
        Keyword::ignored("tmp_config_directory"),
        Keyword::ignored("config_save_dir"),
        Keyword::ignored("process_names"),
        Keyword::ignored("process_name"),
        Keyword::ignored("vrrp_process_name"),
        Keyword::ignored("checker_process_name"),
        Keyword::ignored("lvs_process_name"),
        Keyword::ignored("bfd_process_name"),
        Keyword::ignored("startup_script"),
        Keyword::ignored("startup_script_timeout"),
        Keyword::ignored("shutdown_script"),
        Keyword::ignored("shutdown_script_timeout"),
        Keyword::ignored("checker_log_all_failures"),
        Keyword::ignored("default_interface"),
        // LVS.
        Keyword::ignored("lvs_sync_daemon"),
        Keyword::ignored("lvs_timeouts"),
        Keyword::ignored("lvs_flush"),
        Keyword::ignored("lvs_flush_on_stop"),
        Keyword::ignored("lvs_flush_onstop"),
        Keyword::read("vrrp_garp_extra_if", global_garp_extra_if),
        // keepalived 2.2.7 still reads this misspelt old name of vrrp_garp_extra_if.
        Keyword::read("vrrp_vmac_garp_intvl", |p, g, n| {
            p.d.warn(
                n.loc(),
                "Keyword \"vrrp_vmac_garp_intvl\" is deprecated - please use \"vrrp_garp_extra_if\"",
            );
            global_garp_extra_if(p, g, n);
        }),
        // Firewall rules.
        Keyword::ignored("nftables"),
        Keyword::ignored("nftables_priority"),
        Keyword::ignored("nftables_counters"),
        Keyword::ignored("nftables_ifindex"),
        Keyword::ignored("nftables_ipvs"),
        Keyword::ignored("nftables_ipvs_priority"),
        Keyword::ignored("nftables_ipvs_start_fwmark"),
        // Debian's keepalived 2.2.7 is built with nftables only: it always says so.
        Keyword::read("vrrp_iptables", |p, _, n| p.iptables(n)),
        Keyword::read("vrrp_ipsets", |p, _, n| p.iptables(n)),
        Keyword::ignored("disable_local_igmp"),
        Keyword::read("vrrp_notify_priority_changes", |p, g, n| {
            // keepalived: no value means true; an invalid one is an error.
            let value = n.args.first().map_or(Some(true), ka_bool);
            if let Some(v) = value {
                g.notify_priority_changes = v;
            } else if let Some(t) = n.args.first() {
                p.d.warn(
                    &t.loc,
                    format!(
                        "Invalid value '{}' for global vrrp_notify_priority_changes specified",
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::read("max_auto_priority", |p, _, n| {
            p.ignored(n, PLACE);
            if let Some(t) = n.args.first()
                && !matches!(t.word().unwrap_or("").parse::<i32>(), Ok(-1..=99))
            {
                p.d.warn(
                    &t.loc,
                    format!(
                        "max_auto_priority '{}' must be in [0, 99] (or -1 to disable) - ignoring",
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::ignored("min_auto_priority_delay"),
        Keyword::read("vrrp_priority", |p, _, n| p.process_priority(n, "vrrp")),
        Keyword::read("checker_priority", |p, _, n| {
            p.process_priority(n, "checker")
        }),
        Keyword::read("bfd_priority", |p, _, n| p.process_priority(n, "bfd")),
        Keyword::ignored("vrrp_no_swap"),
        Keyword::ignored("checker_no_swap"),
        Keyword::ignored("bfd_no_swap"),
        Keyword::ignored("vrrp_cpu_affinity"),
        Keyword::ignored("checker_cpu_affinity"),
        Keyword::ignored("bfd_cpu_affinity"),
        Keyword::ignored("vrrp_rt_priority"),
        Keyword::ignored("checker_rt_priority"),
        Keyword::ignored("bfd_rt_priority"),
        Keyword::ignored("vrrp_rlimit_rttime"),
        Keyword::ignored("vrrp_rlimit_rtime"),
        Keyword::ignored("checker_rlimit_rttime"),
        Keyword::ignored("checker_rlimit_rtime"),
        Keyword::ignored("bfd_rlimit_rttime"),
        Keyword::ignored("bfd_rlimit_rtime"),
        // SNMP, D-Bus, FIFOs.
        Keyword::ignored("snmp_socket"),
        Keyword::ignored("enable_snmp_vrrp"),
        Keyword::ignored("enable_snmp_checker"),
        Keyword::ignored("enable_snmp_rfc"),
        Keyword::ignored("enable_snmp_rfcv2"),
        Keyword::ignored("enable_snmp_rfcv3"),
        Keyword::ignored("enable_snmp_keepalived"),
        Keyword::ignored("enable_traps"),
        Keyword::ignored("enable_dbus"),
        Keyword::ignored("dbus_service_name"),
        Keyword::read("notify_fifo", |p, g, n| {
            p.notify(&mut g.notify_fifo.fifo, n, "")
        }),
        Keyword::read("notify_fifo_script", |p, g, n| {
            p.notify(&mut g.notify_fifo.script, n, "")
        }),
        Keyword::read("vrrp_notify_fifo", |p, g, n| {
            p.notify(&mut g.vrrp_notify_fifo.fifo, n, "")
        }),
        Keyword::read("vrrp_notify_fifo_script", |p, g, n| {
            p.notify(&mut g.vrrp_notify_fifo.script, n, "")
        }),
        Keyword::read("lvs_notify_fifo", |p, g, n| {
            p.notify(&mut g.lvs_notify_fifo.fifo, n, "")
        }),
        Keyword::read("lvs_notify_fifo_script", |p, g, n| {
            p.notify(&mut g.lvs_notify_fifo.script, n, "")
        }),
        Keyword::read("fifo_write_vrrp_states_on_reload", |p, g, n| {
            p.no_block(n);
            g.fifo_write_vrrp_states_on_reload = true;
        }),
        // Netlink and socket buffers.
        Keyword::read("dynamic_interfaces", |p, g, n| {
            p.no_block(n);
            g.dynamic_interfaces = true;
        }),
        Keyword::ignored("vrrp_netlink_cmd_rcv_bufs"),
        Keyword::ignored("vrrp_netlink_cmd_rcv_bufs_force"),
        Keyword::ignored("vrrp_netlink_monitor_rcv_bufs"),
        Keyword::ignored("vrrp_netlink_monitor_rcv_bufs_force"),
        Keyword::ignored("lvs_netlink_cmd_rcv_bufs"),
        Keyword::ignored("lvs_netlink_cmd_rcv_bufs_force"),
        Keyword::ignored("lvs_netlink_monitor_rcv_bufs"),
        Keyword::ignored("lvs_netlink_monitor_rcv_bufs_force"),
        Keyword::ignored("process_monitor_rcv_bufs"),
        Keyword::ignored("process_monitor_rcv_bufs_force"),
        Keyword::ignored("vrrp_rx_bufs_policy"),
        Keyword::ignored("vrrp_rx_bufs_multiplier"),
        // The rest.
        Keyword::ignored("rs_init_notifies"),
        Keyword::ignored("no_checker_emails"),
        Keyword::ignored("umask"),
        Keyword::read("vrrp_startup_delay", |p, _, n| {
            p.ignored(n, PLACE);
            if let Some(t) = p.need(n, 0)
                && let Err(why) = ka_decimal(t.word().unwrap_or(""), 1_000, u64::from(u32::MAX))
            {
                p.d.warn(
                    &t.loc,
                    format!(
                        "{why}: vrrp_startup_delay '{}' is invalid",
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::ignored("log_unknown_vrids"),
        Keyword::ignored("vmac_prefix"),
        Keyword::ignored("vmac_addr_prefix"),
        Keyword::ignored("random_seed"),
        Keyword::ignored("reload_check_config"),
        Keyword::ignored("include_check"),
        Keyword::ignored("reload_time_file"),
        Keyword::ignored("reload_repeat"),
        Keyword::ignored("reload_file"),
        Keyword::ignored("data_use_instance"),
    ],
};

impl Parser<'_> {
    pub(super) fn global_defs(&mut self, n: &Node) {
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut g = std::mem::take(&mut self.conf.global);
        self.read_block(&GLOBAL_DEFS, &mut g, children, "global_defs");
        self.conf.global = g;
    }

    /// One note for all the mail keywords.
    /// The mail keywords' hook. vigild sends keepalived's VRRP mail alerts (docs/mail.md);
    /// only `smtp_alert_checker` has nothing to act on, and keepalived's checker
    /// process is not part of vigild.
    fn mail(&mut self, n: &Node) {
        if n.name() == "smtp_alert_checker" && !self.mail_warned {
            self.mail_warned = true;
            self.d.note(
                n.loc(),
                "`smtp_alert_checker`: vigild has no checkers (LVS), so it sends no checker mail",
            );
        }
    }

    /// `smtp_alert [BOOL]` / `smtp_alert_vrrp [BOOL]`: no value means true.
    fn alert_switch(&mut self, n: &Node, what: &str) -> Option<bool> {
        let Some(t) = n.args.first() else {
            return Some(true);
        };
        let v = ka_bool(t);
        if v.is_none() {
            self.d.warn(
                &t.loc,
                format!(
                    "Invalid value '{}' for global {what} specified",
                    t.word().unwrap_or("")
                ),
            );
        }
        v
    }

    /// `vrrp_garp_interval` / `vrrp_gna_interval`: seconds with decimals, not 0.
    fn garp_interval(&mut self, n: &Node) -> Option<Duration> {
        let t = self.need(n, 0)?;
        let s = t.word().unwrap_or("");
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && (0.000_001..=4_294.967_295).contains(&v) => {
                Some(Duration::from_micros((v * 1e6).round() as u64))
            }
            _ => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{} '{s}' is invalid (keepalived 2.2.7 wants 0.000001..=4294.967295 s; it refuses 0: omit the keyword for no delay)",
                        n.name()
                    ),
                );
                None
            }
        }
    }

    /// `vrrp_priority` and the like: a nice value, -20..=19 (vigild does not renice).
    fn process_priority(&mut self, n: &Node, process: &str) {
        self.ignored(n, PLACE);
        match n.args.first() {
            None => self
                .d
                .warn(n.loc(), format!("No {process} process priority specified")),
            Some(t) if !matches!(t.word().unwrap_or("").parse::<i32>(), Ok(-20..=19)) => {
                self.d.warn(
                    &t.loc,
                    format!("Invalid {process} process priority specified"),
                );
            }
            Some(_) => {}
        }
    }

    /// `vrrp_iptables` / `vrrp_ipsets`: Debian's keepalived 2.2.7 (nftables only) warns.
    fn iptables(&mut self, n: &Node) {
        self.no_block(n);
        self.d.warn(
            n.loc(),
            "iptables not supported, using nftables instead. Please replace 'vrrp_iptables and 'vrrp_ipsets' with 'nftables' config option (vigild installs no firewall rules)",
        );
    }

    /// Whole seconds of a global garp delay.
    fn whole_secs(&mut self, n: &Node) -> Option<Duration> {
        let t = self.need(n, 0)?;
        let v = self.garp_number(t, n.name(), "")?;
        Some(Duration::from_secs(v))
    }

    /// A global garp repeat count; `at_least_one`: 0 becomes 1, with keepalived's warning.
    fn repeat(&mut self, n: &Node, at_least_one: bool) -> Option<u32> {
        let t = self.need(n, 0)?;
        let mut v = self.garp_number(t, n.name(), "")?;
        if v == 0 && at_least_one {
            self.d.warn(
                &t.loc,
                format!("{} must be greater than 0, setting to 1", n.name()),
            );
            v = 1;
        }
        Some(v as u32)
    }
}

/// `vrrp_garp_extra_if [all] SECS` (1..=86400), as keepalived's
/// `vrrp_vmac_garp_extra_if_handler` reads it.
fn global_garp_extra_if(p: &mut Parser<'_>, g: &mut Global, n: &Node) {
    let name = n.name();
    let mut every = 0;
    let mut all = g.garp_extra_if.is_some_and(|x| x.all);
    for t in &n.args {
        let w = t.word().unwrap_or("");
        if w == "all" {
            all = true;
            continue;
        }
        match super::values::ka_unsigned(w, 1, 86_400) {
            Ok(v) => every = v,
            Err(why) => {
                p.d.warn(&t.loc, format!("{why}: {name} '{w}' invalid - ignoring"));
                return;
            }
        }
    }
    if every == 0 {
        p.d.warn(n.loc(), format!("{name} specified without time - ignoring"));
        return;
    }
    g.garp_extra_if = Some(GarpExtraIf { every, all });
}

fn router_id(p: &mut Parser<'_>, g: &mut Global, n: &Node) {
    match n.arg(0) {
        Some(v) => {
            g.router_id = Some(v.to_string());
            p.extra(n, 1);
        }
        None => p.d.warn(n.loc(), "routerid name missing - ignoring"),
    }
}

fn mcast_group4(p: &mut Parser<'_>, g: &mut Global, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    match t.word().unwrap_or("").parse::<Ipv4Addr>() {
        Ok(a) if a.is_multicast() => g.mcast_group4 = a,
        _ => p.d.warn(
            &t.loc,
            format!(
                "vrrp_mcast_group4 [{}] is not multicast. Skipping",
                t.word().unwrap_or("")
            ),
        ),
    }
}

fn mcast_group6(p: &mut Parser<'_>, g: &mut Global, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    match t.word().unwrap_or("").parse::<Ipv6Addr>() {
        Ok(a) if a.is_multicast() => {
            if a.segments()[0] & 0x000f != 2 {
                p.d.warn(
                    &t.loc,
                    format!("vrrp_mcast_group6 [{a}] should be link-local multicast."),
                );
            }
            g.mcast_group6 = a;
        }
        _ => p.d.warn(
            &t.loc,
            format!(
                "vrrp_mcast_group6 [{}] is not IPv6. Skipping",
                t.word().unwrap_or("")
            ),
        ),
    }
}
