//! `vrrp_instance`: one handler per keyword. What keepalived's rules look at (values that
//! fall back to `global_defs`, where a keyword was written) goes to the instance's typed
//! `Given`; the rest straight to the [`Instance`]. Addresses, peers and authentication
//! are in `addresses`.

use super::super::keywords::{Keyword, Table};
use super::super::lexer::Token;
use super::super::model::{GarpExtraIf, Instance, OldUnicastChecksum, Written};
use super::global::LOWER_PRIO_DELAY;
use super::lists::TrackKind;
use super::values::{DEFAULT_PRIORITY, ka_bool, ka_decimal, ka_unsigned};
use super::{Node, Parser, fam};
use std::net::IpAddr;
use std::time::Duration;
use vigil_core::machine::InitialState;
use vigil_core::wire::{Family, Version};

/// A `vrrp_instance` being read.
pub(super) struct InstanceBlock {
    pub(super) inst: Instance,
    /// `(NAME) ` before messages.
    pub(super) ctx: String,
    /// keepalived's instance family: set by the first of `unicast_src_ip` /
    /// `mcast_src_ip`, `mcast_dst_ip`, a VIP or a unicast peer, in file order; an address
    /// of the other family is dropped.
    pub(super) family: Option<Family>,
    /// `vmac_xmit_base` was written.
    xmit_base: bool,
    /// A valid `unicast_ttl` was written.
    unicast_ttl: bool,
    /// `promote_secondaries` was written.
    promote_secondaries: bool,
}

/// Where the instance's keywords are, for the notes about those vigild ignores.
const PLACE: &str = "in vrrp_instance";

pub(super) static VRRP_INSTANCE: Table<InstanceBlock> = Table {
    place: PLACE,
    keywords: &[
        Keyword::read("state", state),
        Keyword::read("interface", interface),
        Keyword::read("virtual_router_id", |p, b, n| {
            // keepalived: a warning, and the instance keeps its VRID so far (none: it is
            // refused later for want of one).
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "({}): VRID '{}' not valid - must be between 1 & 255",
                    b.inst.name,
                    t.word().unwrap_or("")
                );
                if let Some(v) = p.ka_uint(t, 1, 255, &then) {
                    b.inst.vrid = v as u8;
                }
            }
            p.extra(n, 1);
        }),
        Keyword::read("priority", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "{}Priority not valid! must be between 1 & 255. Using default {DEFAULT_PRIORITY}",
                    b.ctx
                );
                let v = p
                    .ka_uint(t, 1, 255, &then)
                    .map_or(DEFAULT_PRIORITY, |v| v as u8);
                b.inst.priority = v;
                b.inst.given.priority = Some(v);
            }
            p.extra(n, 1);
        }),
        Keyword::read("advert_int", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                match ka_decimal(t.word().unwrap_or(""), 10_000, 255_000_000) {
                    Ok(us) => b.inst.given.advert_micros = Some((us, t.loc.clone())),
                    Err(why) => p.d.warn(
                        &t.loc,
                        format!(
                            "{why}: {}Advert interval ({}) not valid! Must be > 0 - ignoring",
                            b.ctx,
                            t.word().unwrap_or("")
                        ),
                    ),
                }
            }
            p.extra(n, 1);
        }),
        Keyword::read("version", |p, b, n| {
            let version = &mut b.inst.given.version;
            version.touch(n.loc());
            if let Some(t) = p.need(n, 0) {
                let then = format!("({}): Version must be either 2 or 3", b.inst.name);
                if let Some(v) = p.ka_uint(t, 2, 3, &then) {
                    b.inst.given.version.set(
                        Some(if v == 2 { Version::V2 } else { Version::V3 }),
                        n.loc(),
                    );
                }
            }
        }),
        Keyword::read("nopreempt", |p, b, n| {
            p.no_block(n);
            b.inst.preempt = false;
            b.inst.given.nopreempt = Some(n.loc().clone());
        }),
        Keyword::read("preempt", |p, b, n| {
            p.no_block(n);
            b.inst.preempt = true;
            b.inst.given.nopreempt = None;
        }),
        Keyword::read("preempt_delay", |p, b, n| {
            b.inst.given.preempt_delay_at = Some(n.loc().clone());
            if let Some(t) = p.need(n, 0) {
                // keepalived: an invalid value is no delay.
                b.inst.preempt_delay = match ka_decimal(t.word().unwrap_or(""), 0, 1_000_000_000) {
                    Ok(us) => Duration::from_micros(us),
                    Err(why) => {
                        p.d.warn(
                            &t.loc,
                            format!(
                                "{why}: {}Preempt_delay not valid! must be between 0-1000",
                                b.ctx
                            ),
                        );
                        Duration::ZERO
                    }
                };
            }
        }),
        Keyword::read("authentication", |p, b, n| p.authentication(b, n)),
        Keyword::read("virtual_ipaddress", virtual_ipaddress),
        Keyword::read("virtual_ipaddress_excluded", |p, b, n| {
            let vips = p.addresses(n, &b.ctx);
            b.inst.excluded_vips.extend(vips);
        }),
        Keyword::read("unicast_src_ip", |p, b, n| {
            unicast_keyword(b, n);
            if let Some(t) = p.need(n, 0) {
                let malformed = format!(
                    "Configuration error: VRRP instance[{}] malformed src address[{{}}]. Skipping...",
                    b.inst.name
                );
                b.inst.unicast_src_ip = p.ip(t, &malformed);
                src_family(p, b, t, false);
            }
        }),
        Keyword::read("unicast_peer", |p, b, n| {
            unicast_keyword(b, n);
            p.unicast_peers(b, n)
        }),
        Keyword::read("mcast_src_ip", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                let malformed = format!(
                    "Configuration error: VRRP instance[{}] malformed src address[{{}}]. Skipping...",
                    b.inst.name
                );
                b.inst.mcast_src_ip = p.ip(t, &malformed);
                src_family(p, b, t, true);
            }
        }),
        Keyword::read("mcast_dst_ip", mcast_dst_ip),
        // A second block adds to the list, with keepalived's duplicate check across both.
        Keyword::read("track_interface", |p, b, n| {
            p.track_interfaces(n, &b.ctx, &mut b.inst.track_interfaces);
        }),
        Keyword::read("track_script", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::Script, &mut b.inst.track_scripts);
        }),
        Keyword::read("track_file", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::File, &mut b.inst.track_files);
        }),
        Keyword::read("track_process", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::Process, &mut b.inst.track_processes);
        }),
        Keyword::read("notify_master", |p, b, n| {
            p.notify(&mut b.inst.notify.master, n, &b.ctx)
        }),
        Keyword::read("notify_backup", |p, b, n| {
            p.notify(&mut b.inst.notify.backup, n, &b.ctx)
        }),
        Keyword::read("notify_fault", |p, b, n| {
            p.notify(&mut b.inst.notify.fault, n, &b.ctx)
        }),
        Keyword::read("notify_stop", |p, b, n| {
            p.notify(&mut b.inst.notify.stop, n, &b.ctx)
        }),
        Keyword::read("notify", |p, b, n| {
            p.notify(&mut b.inst.notify.any, n, &b.ctx)
        }),
        Keyword::read("garp_master_delay", |p, b, n| {
            p.garp_secs(&mut b.inst.given.garp_master_delay, n, &b.ctx);
        }),
        Keyword::read("garp_master_repeat", |p, b, n| {
            p.garp_repeat(&mut b.inst.given.garp_master_repeat, n, true, &b.ctx);
        }),
        Keyword::read("garp_master_refresh", |p, b, n| {
            p.garp_secs(&mut b.inst.given.garp_master_refresh, n, &b.ctx);
        }),
        Keyword::read("garp_master_refresh_repeat", |p, b, n| {
            p.garp_repeat(
                &mut b.inst.given.garp_master_refresh_repeat,
                n,
                true,
                &b.ctx,
            );
        }),
        Keyword::read("garp_lower_prio_delay", |p, b, n| {
            if p.garp_secs(&mut b.inst.given.garp_lower_prio_delay, n, &b.ctx) {
                p.not_implemented(
                    n.loc(),
                    &format!("{}`garp_lower_prio_delay`", b.ctx),
                    LOWER_PRIO_DELAY,
                );
            }
        }),
        Keyword::read("garp_lower_prio_repeat", |p, b, n| {
            p.garp_repeat(&mut b.inst.given.garp_lower_prio_repeat, n, false, &b.ctx);
        }),
        Keyword::read("lower_prio_no_advert", |p, b, n| {
            p.written_bool(&mut b.inst.given.lower_prio_no_advert, n, &b.ctx);
        }),
        Keyword::read("higher_prio_send_advert", |p, b, n| {
            p.written_bool(&mut b.inst.given.higher_prio_send_advert, n, &b.ctx);
        }),
        Keyword::read("dont_track_primary", |p, b, n| {
            p.no_block(n);
            b.inst.dont_track_primary = true;
        }),
        Keyword::read("use_vmac", use_vmac),
        Keyword::read("down_timer_adverts", |p, b, n| {
            let Some(t) = p.need(n, 0) else {
                b.inst.given.down_timer_adverts.touch(n.loc());
                return;
            };
            let then = format!(
                "({}): Invalid down_timer_adverts [1:100] '{}'",
                b.inst.name,
                t.word().unwrap_or("")
            );
            match p.ka_uint(t, 1, 100, &then) {
                Some(v) => b.inst.given.down_timer_adverts.set(v as u8, n.loc()),
                None => b.inst.given.down_timer_adverts.withdraw(),
            }
        }),
        // keepalived 2.2.7 turns it on for any valid value, `false` included.
        Keyword::read("skip_check_adv_addr", |p, b, n| {
            match p.boolean(n, &b.ctx) {
                Some(v) => {
                    if !v {
                        p.d.note(
                            &n.args[0].loc,
                            format!(
                                "{}keepalived 2.2.7 turns skip_check_adv_addr on for `{}` too: so does vigild",
                                b.ctx,
                                n.arg(0).unwrap_or("")
                            ),
                        );
                    }
                    b.inst.given.skip_check_adv_addr.set(true, n.loc());
                }
                None => b.inst.given.skip_check_adv_addr.withdraw(),
            }
        }),
        Keyword::read("check_unicast_src", |p, b, n| {
            p.no_block(n);
            unicast_keyword(b, n);
            b.inst.check_unicast_src = true;
        }),
        Keyword::read("strict_mode", |p, b, n| {
            p.written_bool(&mut b.inst.given.strict_mode, n, &b.ctx);
        }),
        Keyword::read("accept", |_, b, _| b.inst.accept = Some(true)),
        Keyword::read("no_accept", |p, b, n| {
            b.inst.accept = Some(false);
            p.not_implemented(
                n.loc(),
                &format!("{}`no_accept`", b.ctx),
                " (vigild installs no firewall rules: a master always accepts traffic to its VIPs)",
            );
        }),
        Keyword::read("virtual_routes", |p, b, n| p.virtual_routes(b, n)),
        Keyword::read("virtual_rules", |p, b, n| p.virtual_rules(b, n)),
        Keyword::ignored("vrf"),
        Keyword::ignored("use_vmac_addr"),
        Keyword::read("vmac_xmit_base", |p, b, n| {
            p.no_block(n);
            b.xmit_base = true;
        }),
        Keyword::ignored("use_ipvlan"),
        // keepalived's whole effect: the instance is IPv6 (and so VRRPv3).
        Keyword::read("native_ipv6", |p, b, n| {
            p.no_block(n);
            match b.family {
                Some(Family::V4) => p.d.warn(
                    n.loc(),
                    format!("{}Cannot specify native_ipv6 with IPv4 addresses", b.ctx),
                ),
                _ => b.family = Some(Family::V6),
            }
        }),
        Keyword::ignored("track_bfd"),
        Keyword::ignored("track_src_ip"),
        Keyword::read("unicast_fault_no_peer", |p, b, n| {
            p.no_block(n);
            unicast_keyword(b, n);
            b.inst.given.fault_no_peer = Some(n.loc().clone());
        }),
        Keyword::read("unicast_ttl", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "({}): TTL '{}' not valid - must be between 0 & 255",
                    b.inst.name,
                    t.word().unwrap_or("")
                );
                if let Some(ttl) = p.ka_uint(t, 0, 255, &then) {
                    b.unicast_ttl = true;
                    b.inst.unicast_ttl = Some(ttl as u8);
                }
            }
        }),
        Keyword::read("old_unicast_checksum", |p, b, n| {
            unicast_keyword(b, n);
            match n.args.first().map(|t| t.word()) {
                None => b.inst.old_unicast_checksum = OldUnicastChecksum::Config,
                Some(Some("never")) => b.inst.old_unicast_checksum = OldUnicastChecksum::Never,
                Some(_) => {}
            }
            if let Some(t) = n.args.first()
                && t.word() != Some("never")
            {
                p.d.warn(
                    &t.loc,
                    format!(
                        "{}Unknown old_unicast_chksum mode {} - ignoring",
                        b.ctx,
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::read("garp_extra_if", garp_extra_if),
        Keyword::read("vmac_garp_intvl", |p, b, n| {
            p.d.warn(
                n.loc(),
                "Keyword \"vmac_garp_intvl\" is deprecated - please use \"garp_extra_if\"",
            );
            garp_extra_if(p, b, n);
        }),
        Keyword::read("promote_secondaries", |p, b, n| {
            p.no_block(n);
            b.promote_secondaries = true;
            b.inst.promote_secondaries = true;
        }),
        Keyword::read("debug", |p, b, n| {
            p.ignored(n, PLACE);
            if let Some(t) = p.need(n, 0) {
                let then = format!(
                    "{}Debug value '{}' not valid; must be between 0-4",
                    b.ctx,
                    t.word().unwrap_or("")
                );
                p.ka_uint(t, 0, 4, &then);
            }
        }),
        Keyword::read("notify_master_rx_lower_pri", |p, b, n| {
            p.notify(&mut b.inst.notify.master_rx_lower_pri, n, &b.ctx)
        }),
        Keyword::read("notify_priority_changes", |p, b, n| {
            // keepalived: no value means true; an invalid one is an error and leaves it unset.
            let value = n.args.first().map_or(Some(true), ka_bool);
            if let Some(v) = value {
                b.inst.notify_priority_changes = Some(v);
            } else if let Some(t) = n.args.first() {
                p.d.warn(
                    &t.loc,
                    format!(
                        "{}Invalid value '{}' for notify_priority_changes specified",
                        b.ctx,
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::read("notify_deleted", |p, b, n| {
            if b.inst.notify_deleted {
                p.d.warn(
                    n.loc(),
                    format!(
                        "({}) notify_deleted already specified - ignoring {}",
                        b.inst.name,
                        n.raw_args()
                    ),
                );
                return;
            }
            if !n.args.is_empty() {
                b.inst.notify.deleted = p.command(n, true);
            }
            b.inst.notify_deleted = true;
        }),
        Keyword::read("smtp_alert", |p, b, n| match n.args.first() {
            None => b.inst.smtp_alert = Some(true),
            Some(t) => match ka_bool(t) {
                Some(v) => b.inst.smtp_alert = Some(v),
                None => p.d.warn(
                    &t.loc,
                    format!(
                        "Invalid vrrp_instance smtp_alert parameter {}",
                        t.word().unwrap_or("")
                    ),
                ),
            },
        }),
        Keyword::read("kernel_rx_buf_size", |p, b, n| {
            p.ignored(n, PLACE);
            let ok = n.args.len() == 1
                && ka_unsigned(n.arg(0).unwrap_or(""), 0, u64::from(u32::MAX)).is_ok();
            if !ok {
                p.d.warn(
                    n.loc(),
                    format!("{}invalid kernel_rx_buf_size specified", b.ctx),
                );
            }
        }),
        Keyword::read("linkbeat_use_polling", |p, b, n| {
            p.d.warn(
                n.loc(),
                format!(
                    "{}'linkbeat_use_polling' in vrrp instance deprecated - use linkbeat_interfaces block",
                    b.ctx
                ),
            );
        }),
        Keyword::read("lvs_sync_daemon_interface", |p, b, n| {
            if p.need(n, 0).is_none() {
                return;
            }
            p.d.warn(
                n.loc(),
                format!(
                    "{}Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon",
                    b.ctx
                ),
            );
        }),
    ],
};

impl Parser<'_> {
    pub(super) fn instance(&mut self, n: &Node) {
        // keepalived wants exactly one word, and skips the block otherwise.
        let (Some(name), 1) = (n.arg(0).map(str::to_string), n.args.len()) else {
            self.d.warn(n.loc(), "vrrp_instance must have a name");
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        if !self.define(n, "vrrp_instance", &name)
            || !self.first_definition(n, "vrrp_instance", &name, "vrrp instance")
        {
            return;
        }
        let mut b = InstanceBlock {
            inst: Instance::new(name.clone(), n.loc().clone()),
            ctx: format!("({name}) "),
            family: None,
            xmit_base: false,
            unicast_ttl: false,
            promote_secondaries: false,
        };
        self.read_block(
            &VRRP_INSTANCE,
            &mut b,
            children,
            &format!("vrrp_instance {name}"),
        );
        self.instance_end(&mut b, n);
        let mut inst = b.inst;
        inst.given.family = b.family;
        // Lists are kept for the daemon's life: without their growth slack.
        inst.vips.shrink_to_fit();
        inst.excluded_vips.shrink_to_fit();
        inst.unicast_peers.shrink_to_fit();
        inst.vroutes.shrink_to_fit();
        inst.vrules.shrink_to_fit();
        self.conf.instances.push(inst);
    }

    /// keepalived's checks at the `}` of an instance (its `vrrp_end_handler`).
    fn instance_end(&mut self, b: &mut InstanceBlock, n: &Node) {
        self.vmac_checks(b, n);
        b.inst.vmac_xmit_base = b.xmit_base && b.inst.use_vmac.is_some();
    }

    fn vmac_checks(&mut self, b: &mut InstanceBlock, n: &Node) {
        let name = &b.inst.name;
        if b.inst.given.unicast_keyword.is_some() && b.inst.use_vmac.is_some() {
            if b.inst.interface.is_none() {
                self.d.warn(
                    n.end(),
                    format!("({name}): Cannot use VMAC/ipvlan with unicast and no interface - clearing use_vmac"),
                );
                b.inst.use_vmac = None;
            } else if !b.xmit_base {
                self.d.warn(
                    n.end(),
                    format!("({name}) unicast with use_vmac requires vmac_xmit_base - setting"),
                );
                b.xmit_base = true;
            }
        }
        if b.promote_secondaries && b.inst.use_vmac.is_some() {
            self.d.warn(
                n.end(),
                format!("({name}) promote_secondaries is automatically set for vmacs - ignoring"),
            );
            b.inst.promote_secondaries = false;
        }
        if b.unicast_ttl && b.inst.unicast_peers.is_empty() {
            self.d.warn(
                n.end(),
                format!("({name}): Cannot use unicast_ttl without unicast peers - resetting"),
            );
            // keepalived then sends its IPv4 multicast adverts with TTL 0 (its reset
            // value), which every receiver drops; vigild keeps 255.
            b.inst.unicast_ttl = None;
        }
    }

    /// `garp_*_delay` / `garp_master_refresh`: whole seconds. Whether it was read.
    fn garp_secs(&mut self, into: &mut Written<Duration>, n: &Node, ctx: &str) -> bool {
        let Some(t) = self.need(n, 0) else {
            into.touch(n.loc());
            return false;
        };
        let prefix = format!("{}: ", ctx.trim_end());
        match self.garp_number(t, n.name(), &prefix) {
            Some(v) => {
                into.set(Duration::from_secs(v), n.loc());
                true
            }
            None => {
                into.withdraw();
                false
            }
        }
    }

    /// `garp_*_repeat`; `at_least_one`: 0 becomes 1, with keepalived's warning.
    fn garp_repeat(&mut self, into: &mut Written<u32>, n: &Node, at_least_one: bool, ctx: &str) {
        let Some(t) = self.need(n, 0) else {
            into.touch(n.loc());
            return;
        };
        let prefix = format!("{}: ", ctx.trim_end());
        match self.garp_number(t, n.name(), &prefix) {
            Some(mut v) => {
                if v == 0 && at_least_one {
                    self.d.warn(
                        &t.loc,
                        format!("{prefix}{} must be greater than 0, setting to 1", n.name()),
                    );
                    v = 1;
                }
                into.set(v as u32, n.loc());
            }
            None => into.withdraw(),
        }
    }

    /// A `<BOOL>` the instance may take from `global_defs`.
    fn written_bool(&mut self, into: &mut Written<bool>, n: &Node, ctx: &str) {
        match self.boolean(n, ctx) {
            Some(v) => into.set(v, n.loc()),
            None => into.withdraw(),
        }
    }
}

fn state(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let state = &mut b.inst.given.state;
    state.touch(n.loc());
    let Some(t) = p.need(n, 0) else { return };
    let s = match t.word().unwrap_or("") {
        "MASTER" => InitialState::Master,
        // keepalived: MASTER, once written, stays.
        "BACKUP" if state.value == Some(InitialState::Master) => {
            p.d.warn(
                &t.loc,
                format!("{}state previously set as MASTER - ignoring BACKUP", b.ctx),
            );
            return;
        }
        "BACKUP" => InitialState::Backup,
        other => {
            p.d.warn(
                &t.loc,
                format!("{}unknown state '{other}', defaulting to BACKUP", b.ctx),
            );
            InitialState::Backup
        }
    };
    state.set(Some(s), n.loc());
}

/// `garp_extra_if [all] SECONDS` (vigild sends no extra garps; keepalived's checks).
fn garp_extra_if(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let mut delay = None;
    let mut all = false;
    for t in &n.args {
        let w = t.word().unwrap_or("");
        if w == "all" {
            all = true;
            continue;
        }
        match ka_unsigned(w, 0, 86_400) {
            Ok(v) => delay = Some(v),
            Err(why) => {
                p.d.warn(
                    &t.loc,
                    format!(
                        "{why}: ({}): garp_extra_if '{w}' invalid - ignoring",
                        b.inst.name
                    ),
                );
                return;
            }
        }
    }
    match delay {
        None => p.d.warn(
            n.loc(),
            format!(
                "({}): garp_extra_if specified without time - ignoring",
                b.inst.name
            ),
        ),
        Some(every) => {
            b.inst.garp_extra_if = Some(GarpExtraIf { every, all });
        }
    }
}

/// Notes the first keyword asking for unicast (see `Given::unicast_keyword`).
fn unicast_keyword(b: &mut InstanceBlock, n: &Node) {
    b.inst
        .given
        .unicast_keyword
        .get_or_insert_with(|| n.loc().clone());
}

fn interface(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let ifname = t.word().unwrap_or("");
    if ifname == "lo" {
        // keepalived forgets an interface given before, too.
        b.inst.interface = None;
        p.d.warn(
            &t.loc,
            format!(
                "{}cannot use a loopback interface ({ifname}) for vrrp - ignoring",
                b.ctx
            ),
        );
    } else {
        b.inst.interface = Some(ifname.to_string());
        b.inst.given.interface = Some(t.loc.clone());
    }
}

fn virtual_ipaddress(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let vips = p.addresses(n, &b.ctx);
    for v in vips {
        let f = fam(&v.addr);
        match b.family {
            None => b.family = Some(f),
            Some(x) if x != f => {
                p.d.warn(
                    &v.loc,
                    format!(
                        "({}): address family must match VRRP instance [{}] - ignoring (an address of the other family belongs in virtual_ipaddress_excluded)",
                        b.inst.name,
                        if v.prefix_len == if v.addr.is_ipv4() { 32 } else { 128 } {
                            v.addr.to_string()
                        } else {
                            format!("{}/{}", v.addr, v.prefix_len)
                        }
                    ),
                );
                continue;
            }
            Some(_) => {}
        }
        b.inst.vips.push(v);
    }
}

fn mcast_dst_ip(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let Some(a) = p.ip(
        t,
        &format!("{}malformed mcast dest address {{}}. Skipping...", b.ctx),
    ) else {
        return;
    };
    match b.family {
        None => b.family = Some(fam(&a)),
        Some(f) if f != fam(&a) => {
            p.d.warn(
                &t.loc,
                format!(
                    "{}mcast dest address {a} MUST match VRRP instance family. Skipping...",
                    b.ctx
                ),
            );
            return;
        }
        Some(_) => {}
    }
    let ok = match a {
        IpAddr::V4(v4) => v4.is_multicast(),
        // keepalived wants link-local multicast (ff02::/16 and the like) for IPv6.
        IpAddr::V6(v6) => v6.is_multicast() && v6.segments()[0] & 0x000f == 2,
    };
    if ok {
        b.inst.mcast_dst_ip = Some(a);
    } else {
        let ll = if a.is_ipv6() { " link-local" } else { "" };
        p.d.warn(
            &t.loc,
            format!("{}mcast_dst_ip {a} not{ll} multicast. Skipping...", b.ctx),
        );
    }
}

/// The family of `unicast_src_ip` / `mcast_src_ip` (keepalived's `vrrp_srcip_handler`):
/// the instance's if first, else it must match or the address is dropped.
fn src_family(p: &mut Parser<'_>, b: &mut InstanceBlock, t: &Token, mcast: bool) {
    let slot = if mcast {
        &mut b.inst.mcast_src_ip
    } else {
        &mut b.inst.unicast_src_ip
    };
    let Some(a) = *slot else { return };
    match b.family {
        None => b.family = Some(fam(&a)),
        Some(f) if f != fam(&a) => {
            *slot = None;
            p.d.warn(
                &t.loc,
                format!(
                    "Configuration error: VRRP instance[{}] and src address[{}] MUST be of the same family !!! Skipping...",
                    b.inst.name,
                    t.word().unwrap_or("")
                ),
            );
        }
        Some(_) => {}
    }
}

/// `use_vmac [NAME] [MAC]`, with keepalived's checks of both.
fn use_vmac(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    p.no_block(n);
    // A second `use_vmac` adds to the first, as in keepalived.
    let mut v = b.inst.use_vmac.take().unwrap_or_default();
    for t in n.args.iter().take(2) {
        let a = t.word().unwrap_or("");
        if a.contains(':') {
            if v.mac.is_some() {
                p.d.warn(&t.loc, "VMAC interface address already specified");
                continue;
            }
            if let Some(why) = vmac_mac_problem(a) {
                p.d.warn(&t.loc, why);
                continue;
            }
            v.mac = Some(a.to_string());
            p.not_implemented(
                &t.loc,
                &format!("{}the MAC address `{a}` of `use_vmac`", b.ctx),
                " (the macvlan gets the virtual router MAC 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6)",
            );
        } else if v.name.is_some() {
            p.d.warn(&t.loc, "VMAC interface name already specified");
        } else if a.len() >= 16 || a.is_empty() || a == "." || a == ".." || a.contains('/') {
            p.d.warn(
                &t.loc,
                format!("VMAC interface name '{a}' too long or invalid characters - ignoring"),
            );
        } else {
            v.name = Some(a.to_string());
        }
    }
    b.inst.use_vmac = Some(v);
}

/// What keepalived 2.2.7 finds wrong with a `use_vmac` MAC address, in its words.
fn vmac_mac_problem(a: &str) -> Option<String> {
    if !a.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
        return Some(format!("VMAC invalid MAC address {a}"));
    }
    let parts: Vec<&str> = a.trim_end_matches(':').split(':').collect();
    // Five octets: the sixth is the VRID.
    let ok = (parts.len() == 5 || parts.len() == 6)
        && parts.iter().all(|o| !o.is_empty() && o.len() <= 2);
    if !ok {
        return Some(format!("VMAC invalid MAC address {a} - ignored"));
    }
    let octet = |k: usize| u8::from_str_radix(parts[k], 16).unwrap_or(0);
    if octet(0) & 1 != 0 {
        return Some(format!("VMAC MAC address is multicast {a} - ignoring"));
    }
    if (0..4).map(octet).eq([0, 0, 0x5e, 0]) && matches!(octet(4), 1 | 2) {
        return Some(format!(
            "VMAC MAC address not allowed to be RFC5798 address ({a}) - ignoring"
        ));
    }
    None
}
