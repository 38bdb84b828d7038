//! `vrrp_instance`: one handler per keyword. What keepalived's rules look at (values that
//! fall back to `global_defs`, where a keyword was written) goes to the instance's typed
//! `Given`; the rest straight to the [`Instance`]. Addresses, peers and authentication
//! are in `addresses`.

use super::super::keywords::{Keyword, Table};
use super::super::model::{Instance, UseVmac, Written};
use super::global::LOWER_PRIO_DELAY;
use super::{Node, Parser, fam};
use std::time::Duration;
use vigil_core::machine::InitialState;
use vigil_core::wire::{Family, Version};

/// A `vrrp_instance` being read.
pub(super) struct InstanceBlock {
    pub(super) inst: Instance,
    /// `(NAME) ` before messages.
    pub(super) ctx: String,
    /// The family of the first VIP: a VIP of the other family is dropped.
    pub(super) family: Option<Family>,
}

pub(super) static VRRP_INSTANCE: Table<InstanceBlock> = Table {
    place: "in vrrp_instance",
    keywords: &[
        Keyword::read("state", state),
        Keyword::read("interface", interface),
        Keyword::read("virtual_router_id", |p, b, n| {
            if let Some(t) = p.need(n, 0)
                && let Some(v) = p.uint(t, &format!("{}virtual_router_id", b.ctx), 1, 255, true)
            {
                b.inst.vrid = v as u8;
            }
            p.extra(n, 1);
        }),
        Keyword::read("priority", |p, b, n| {
            if let Some(t) = p.need(n, 0)
                && let Some(v) = p.uint(t, &format!("{}priority", b.ctx), 1, 255, true)
            {
                b.inst.priority = v as u8;
                b.inst.given.priority = Some(v as u8);
            }
            p.extra(n, 1);
        }),
        Keyword::read("advert_int", |p, b, n| {
            if let Some(t) = p.need(n, 0)
                && let Some(us) = p.secs(
                    t,
                    &format!("{}advert_int", b.ctx),
                    10_000,
                    255_000_000,
                    true,
                )
            {
                b.inst.given.advert_micros = Some((us, t.loc.clone()));
            }
            p.extra(n, 1);
        }),
        Keyword::read("version", |p, b, n| {
            let version = &mut b.inst.given.version;
            version.touch(n.loc());
            if let Some(t) = p.need(n, 0)
                && let Some(v) = p.uint(t, &format!("{}version", b.ctx), 2, 3, true)
            {
                version.set(
                    Some(if v == 2 { Version::V2 } else { Version::V3 }),
                    n.loc(),
                );
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
            if let Some(t) = p.need(n, 0)
                && let Some(us) = p.secs(
                    t,
                    &format!("{}preempt_delay", b.ctx),
                    0,
                    1_000_000_000,
                    false,
                )
            {
                b.inst.preempt_delay = Duration::from_micros(us);
            }
        }),
        Keyword::read("authentication", |p, b, n| p.authentication(b, n)),
        Keyword::read("virtual_ipaddress", virtual_ipaddress),
        Keyword::read("virtual_ipaddress_excluded", |p, b, n| {
            let vips = p.addresses(n, &b.ctx);
            b.inst.excluded_vips.extend(vips);
        }),
        Keyword::read("unicast_src_ip", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                b.inst.unicast_src_ip = p.ip(t, &format!("{}unicast_src_ip", b.ctx));
            }
        }),
        Keyword::read("unicast_peer", |p, b, n| p.unicast_peers(b, n)),
        Keyword::read("mcast_src_ip", |p, b, n| {
            if let Some(t) = p.need(n, 0) {
                b.inst.mcast_src_ip = p.ip(t, &format!("{}mcast_src_ip", b.ctx));
            }
        }),
        Keyword::read("mcast_dst_ip", mcast_dst_ip),
        Keyword::read("track_interface", |p, b, n| {
            let t = p.track_interfaces(n, &b.ctx);
            b.inst.track_interfaces.extend(t);
        }),
        Keyword::read("track_script", |p, b, n| {
            let t = p.track_refs(n, 253, &b.ctx, "track_script");
            b.inst.track_scripts.extend(t);
        }),
        Keyword::read("track_file", |p, b, n| {
            let t = p.track_refs(n, 254, &b.ctx, "track_file");
            b.inst.track_files.extend(t);
        }),
        Keyword::read("track_process", |p, b, n| {
            let t = p.track_refs(n, 254, &b.ctx, "track_process");
            b.inst.track_processes.extend(t);
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
            match p.uint(t, &format!("{}down_timer_adverts", b.ctx), 1, 100, false) {
                Some(v) => b.inst.given.down_timer_adverts.set(v as u8, n.loc()),
                None => b.inst.given.down_timer_adverts.withdraw(),
            }
        }),
        Keyword::read("skip_check_adv_addr", |p, b, n| {
            p.written_bool(&mut b.inst.given.skip_check_adv_addr, n, &b.ctx);
        }),
        Keyword::read("check_unicast_src", |p, b, n| {
            p.no_block(n);
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
        Keyword::ignored("vrf"),
        Keyword::ignored("use_vmac_addr"),
        Keyword::ignored("vmac_xmit_base"),
        Keyword::ignored("use_ipvlan"),
        Keyword::ignored("native_ipv6"),
        Keyword::ignored("track_bfd"),
        Keyword::ignored("track_src_ip"),
        Keyword::ignored("unicast_fault_no_peer"),
        Keyword::ignored("unicast_ttl"),
        Keyword::ignored("old_unicast_checksum"),
        Keyword::ignored("garp_extra_if"),
        Keyword::ignored("garp_extra_if_vmac"),
        Keyword::ignored("promote_secondaries"),
        Keyword::ignored("virtual_routes"),
        Keyword::ignored("virtual_rules"),
        Keyword::ignored("debug"),
        Keyword::ignored("notify_master_rx_lower_pri"),
        Keyword::ignored("notify_priority_changes"),
        Keyword::ignored("notify_deleted"),
        Keyword::ignored("smtp_alert"),
        Keyword::ignored("kernel_rx_buf_size"),
        Keyword::ignored("linkbeat_use_polling"),
        Keyword::ignored("lvs_sync_daemon_interface"),
    ],
};

impl Parser<'_> {
    pub(super) fn instance(&mut self, n: &Node) {
        // keepalived wants exactly one word after the keyword (`vector_count != 2`).
        let Some(name) = n.arg(0).filter(|_| n.args.len() == 1).map(str::to_string) else {
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
        };
        self.read_block(
            &VRRP_INSTANCE,
            &mut b,
            children,
            &format!("vrrp_instance {name}"),
        );
        let mut inst = b.inst;
        // Lists are kept for the daemon's life: without their growth slack.
        inst.vips.shrink_to_fit();
        inst.excluded_vips.shrink_to_fit();
        inst.unicast_peers.shrink_to_fit();
        self.conf.instances.push(inst);
    }

    /// `garp_*_delay` / `garp_master_refresh`: whole seconds. Whether it was read.
    fn garp_secs(&mut self, into: &mut Written<Duration>, n: &Node, ctx: &str) -> bool {
        let Some(t) = self.need(n, 0) else {
            into.touch(n.loc());
            return false;
        };
        match t.word().unwrap_or("").parse::<u32>() {
            Ok(v) => {
                into.set(Duration::from_secs(v.into()), n.loc());
                true
            }
            Err(_) => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{ctx}{} '{}' invalid (whole seconds) - ignoring",
                        n.name(),
                        t.word().unwrap_or("")
                    ),
                );
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
        match t.word().unwrap_or("").parse::<u32>() {
            Ok(mut v) => {
                if v == 0 && at_least_one {
                    self.d.warn(
                        &t.loc,
                        format!("{ctx}{} must be greater than 0, setting to 1", n.name()),
                    );
                    v = 1;
                }
                into.set(v, n.loc());
            }
            Err(_) => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{ctx}{} '{}' invalid - ignoring",
                        n.name(),
                        t.word().unwrap_or("")
                    ),
                );
                into.withdraw();
            }
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

fn interface(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let ifname = t.word().unwrap_or("");
    if ifname == "lo" {
        p.d.warn(
            &t.loc,
            format!(
                "{}cannot use a loopback interface ({ifname}) for vrrp - ignoring",
                b.ctx
            ),
        );
    } else {
        b.inst.interface = Some(ifname.to_string());
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
                        "{}address family must match VRRP instance [{}] - ignoring (an address of the other family belongs in virtual_ipaddress_excluded)",
                        b.ctx, v.addr
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
    if let Some(t) = p.need(n, 0)
        && let Some(a) = p.ip(t, &format!("{}mcast_dst_ip", b.ctx))
    {
        if a.is_multicast() {
            b.inst.mcast_dst_ip = Some(a);
        } else {
            p.d.warn(
                &t.loc,
                format!("{}mcast_dst_ip {a} not multicast. Skipping...", b.ctx),
            );
        }
    }
}

/// `use_vmac [NAME] [MAC]`.
fn use_vmac(p: &mut Parser<'_>, b: &mut InstanceBlock, n: &Node) {
    p.no_block(n);
    let mut v = UseVmac::default();
    for t in &n.args {
        let a = t.word().unwrap_or("");
        if a.contains(':') {
            v.mac = Some(a.to_string());
            p.not_implemented(
                &t.loc,
                &format!("{}the MAC address `{a}` of `use_vmac`", b.ctx),
                " (the macvlan gets the virtual router MAC 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6)",
            );
        } else if v.name.is_none() {
            v.name = Some(a.to_string());
        }
    }
    b.inst.use_vmac = Some(v);
}
