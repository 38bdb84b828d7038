//! keepalived's end of reading the LVS half (`check_daemon.c` `start_check`:
//! `link_vsg_to_vs`, then `check_data.c` `validate_check_config`): groups linked, its
//! corrections made with its warnings, and every inherited value filled in, so the typed
//! [`LvsConf`] holds effective values.

use super::super::super::diag::Diags;
use super::super::super::lvs::{
    CheckKind, CheckTiming, Checker, ConnectTo, ForwardMethod, GroupMember, IpvsProtocol, LvsConf,
    Persistence, RealServer, SorryServer, VirtualServer, VirtualServerGroup, VsKey,
};
use super::super::super::model::Mail;
use super::{PERSISTENT_TIMEOUT, Pending, PendingKey, PendingRs, PendingVs};
use std::net::{IpAddr, SocketAddr};
use vigil_core::wire::Family;

/// keepalived's default scheduler.
const DEFAULT_SCHEDULER: &str = "wlc";

/// How keepalived's messages name a virtual server (`FMT_VS`).
fn fmt_vs(vs: &PendingVs) -> String {
    match &vs.key {
        PendingKey::Group(g) => format!("[{g}]:0"),
        PendingKey::Fwmark(m) => format!("FWM {m}"),
        PendingKey::Address(a, port) => trio(*a, *port, vs.protocol),
    }
}

/// keepalived's `inet_sockaddrtotrio`: `[ADDR]:PROTO:PORT`.
fn trio(a: IpAddr, port: u16, proto: Option<IpvsProtocol>) -> String {
    let p = match proto {
        None => "none",
        Some(IpvsProtocol::Tcp) => "tcp",
        Some(IpvsProtocol::Udp) => "udp",
        Some(IpvsProtocol::Sctp) => "sctp",
    };
    format!("[{a}]:{p}:{port}")
}

/// The end of reading: `pending` becomes the typed configuration.
pub(in crate::config::parse) fn validate(pending: Pending, mail: &Mail, d: &mut Diags) -> LvsConf {
    let groups: Vec<VirtualServerGroup> = pending
        .groups
        .iter()
        .map(|g| VirtualServerGroup {
            name: g.name.clone(),
            loc: g.loc.clone(),
            members: g.members.clone(),
        })
        .collect();
    let mut out = LvsConf {
        groups,
        virtual_servers: Vec::new(),
        ssl: pending.ssl,
    };
    for mut vs in pending.servers {
        if !link_group(&mut vs, &pending.groups, d) {
            continue;
        }
        let group = match &vs.key {
            PendingKey::Group(g) => pending.groups.iter().find(|x| &x.name == g),
            _ => None,
        };
        if let Some(v) = check_vs(vs, group, mail, d) {
            out.virtual_servers.push(v);
        }
    }
    out
}

/// `link_vsg_to_vs`: a service naming a group that is missing, or of the other family, is
/// dropped (keepalived only logs these: they do not change `-t`'s exit code).
fn link_group(vs: &mut PendingVs, groups: &[super::PendingGroup], d: &mut Diags) -> bool {
    let PendingKey::Group(name) = &vs.key else {
        return true;
    };
    let Some(g) = groups.iter().find(|g| &g.name == name) else {
        d.note(
            &vs.loc,
            format!(
                "Virtual server group {name} specified but not configured - ignoring virtual server {} (keepalived only logs this)",
                fmt_vs(vs)
            ),
        );
        return false;
    };
    let group_af = match (g.have_v4, g.have_v6) {
        (true, false) => Some(Family::V4),
        (false, true) => Some(Family::V6),
        _ => None,
    };
    let mismatch = (g.have_v4 && g.have_v6 && vs.af.is_some())
        || (g.have_v4 && vs.af == Some(Family::V6))
        || (g.have_v6 && vs.af == Some(Family::V4));
    if mismatch {
        d.note(
            &vs.loc,
            format!(
                "{name}: address family doesn't match virtual server {} - ignoring (keepalived only logs this)",
                fmt_vs(vs)
            ),
        );
        return false;
    }
    if vs.af.is_none() {
        vs.af = group_af;
    }
    true
}

/// `validate_check_config` for one service.
fn check_vs(
    mut vs: PendingVs,
    group: Option<&super::PendingGroup>,
    mail: &Mail,
    d: &mut Diags,
) -> Option<VirtualServer> {
    let loc = vs.loc.clone();
    if vs.real_servers.is_empty() {
        d.warn(
            &loc,
            format!(
                "Virtual server {} has no real servers - ignoring",
                fmt_vs(&vs)
            ),
        );
        return None;
    }
    let group_fwmarks = group.is_some_and(|g| {
        g.members
            .iter()
            .any(|m| matches!(m, GroupMember::Fwmark { .. }))
    });
    let group_addresses: Vec<u16> = group
        .map(|g| {
            g.members
                .iter()
                .filter_map(|m| match m {
                    GroupMember::Address { port, .. } => Some(*port),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let is_fwmark = matches!(vs.key, PendingKey::Fwmark(m) if m != 0);
    if vs.ha_suspend && (is_fwmark || group_fwmarks) {
        d.warn(
            &loc,
            format!(
                "Virtual server {}: cannot use ha_suspend with fwmarks - clearing ha_suspend",
                fmt_vs(&vs)
            ),
        );
        vs.ha_suspend = false;
    }
    let by_address = !group_addresses.is_empty() || (group.is_none() && !is_fwmark);
    if by_address {
        if vs.protocol.is_none() {
            d.warn(
                &loc,
                format!(
                    "Virtual server {}: no protocol set - defaulting to UDP",
                    fmt_vs(&vs)
                ),
            );
            vs.protocol = Some(IpvsProtocol::Udp);
        }
        if vs.flags.ops && vs.protocol != Some(IpvsProtocol::Udp) {
            d.warn(
                &loc,
                format!(
                    "Virtual server {}: one packet scheduling requires UDP - resetting",
                    fmt_vs(&vs)
                ),
            );
            vs.flags.ops = false;
        }
        if vs.persistence_timeout == 0
            && group.is_none()
            && matches!(vs.key, PendingKey::Address(_, 0))
        {
            d.warn(
                &loc,
                format!(
                    "Virtual server {}: zero port only valid for persistent services - setting",
                    fmt_vs(&vs)
                ),
            );
            vs.persistence_timeout = PERSISTENT_TIMEOUT;
        }
    }
    if vs.persistence_timeout == 0 && group_addresses.contains(&0) {
        d.warn(
            &loc,
            format!(
                "Virtual server {}: zero port only valid for persistent services - setting",
                fmt_vs(&vs)
            ),
        );
        vs.persistence_timeout = PERSISTENT_TIMEOUT;
    }
    let fwmark_only = (group.is_some() && group_addresses.is_empty() && group_fwmarks)
        || (group.is_none() && is_fwmark);
    if vs.protocol.is_some() && fwmark_only {
        d.warn(
            &loc,
            format!(
                "Warning: Virtual server {}: protocol specified for fwmark - protocol will be ignored",
                fmt_vs(&vs)
            ),
        );
        vs.protocol = None;
    }
    if vs.scheduler.is_none() {
        d.warn(
            &loc,
            format!(
                "Virtual server {}: no scheduler set, setting default '{DEFAULT_SCHEDULER}'",
                fmt_vs(&vs)
            ),
        );
        vs.scheduler = Some(DEFAULT_SCHEDULER.to_string());
    }
    let vs_smtp = vs.smtp_alert.or(mail.smtp_alert).unwrap_or(false);

    // The real servers: duplicates, forwarding, inheritance.
    let pending_rs = std::mem::take(&mut vs.real_servers);
    let mut kept: Vec<PendingRs> = Vec::new();
    for rs in pending_rs {
        if kept.iter().any(|k| k.addr == rs.addr && k.port == rs.port) {
            d.warn(
                &rs.loc,
                format!(
                    "VS {}: real server {} is duplicated - removing second rs",
                    fmt_vs(&vs),
                    trio(rs.addr, rs.port, vs.protocol)
                ),
            );
            continue;
        }
        kept.push(rs);
    }
    let mut forward_warned = false;
    let mut default_forward = |vs: &mut PendingVs, d: &mut Diags| -> ForwardMethod {
        if vs.forward.is_none() && !forward_warned {
            d.warn(
                &loc,
                format!(
                    "Virtual server {}: no forwarding method set, setting default NAT",
                    fmt_vs(vs)
                ),
            );
            forward_warned = true;
            vs.forward = Some(ForwardMethod::Nat);
        }
        vs.forward.unwrap_or_default()
    };
    let mut weight_sum: u64 = 0;
    let mut servers = Vec::with_capacity(kept.len());
    let name = fmt_vs(&vs);
    for rs in &mut kept {
        if rs.forward.is_none() {
            rs.forward = Some(default_forward(&mut vs, d));
        }
        let inhibit = rs.inhibit.unwrap_or(vs.inhibit);
        let weight = rs.weight.unwrap_or(vs.weight);
        weight_sum += u64::from(weight);
        if let Some(s) = &mut vs.sorry
            && s.addr == rs.addr
            && s.port == rs.port
            && s.inhibit != inhibit
        {
            d.warn(
                &rs.loc,
                format!(
                    "Virtual server {}: real server {} matches sorry server, but inhibit setting differs, {}ing on sorry server",
                    name,
                    trio(rs.addr, rs.port, vs.protocol),
                    if inhibit { "sett" } else { "clear" }
                ),
            );
            s.inhibit = inhibit;
        }
    }
    if vs.sorry.as_ref().is_some_and(|s| s.forward.is_none()) {
        let f = default_forward(&mut vs, d);
        if let Some(s) = &mut vs.sorry {
            s.forward = Some(f);
        }
    }
    let weight_sum = u32::try_from(weight_sum).unwrap_or(u32::MAX);
    if vs.quorum > weight_sum {
        d.warn(
            &loc,
            format!(
                "Warning - quorum {} for {} exceeds total weight of real servers {weight_sum}, reducing quorum to {weight_sum}",
                vs.quorum,
                fmt_vs(&vs)
            ),
        );
        vs.quorum = weight_sum;
    }
    if vs.hysteresis >= vs.quorum {
        let h = vs.quorum.saturating_sub(1);
        d.warn(
            &loc,
            format!(
                "Virtual server {}: hysteresis {} >= quorum {}; setting hysteresis to {}",
                fmt_vs(&vs),
                vs.hysteresis,
                vs.quorum,
                vs.quorum as i64 - 1
            ),
        );
        vs.hysteresis = h;
    }
    ports(&mut vs, &mut kept, group, is_fwmark, d);

    for rs in kept {
        servers.push(real_server(&vs, rs, mail));
    }
    let family = vs.af;
    let key = match vs.key {
        PendingKey::Address(a, port) => VsKey::Address(SocketAddr::new(a, port)),
        PendingKey::Fwmark(m) => VsKey::Fwmark(m),
        PendingKey::Group(g) => VsKey::Group(g),
    };
    let persistence = (vs.persistence_timeout != 0).then(|| Persistence {
        timeout: vs.persistence_timeout,
        granularity: vs.granularity,
        engine: vs.engine.clone(),
    });
    Some(VirtualServer {
        loc,
        key,
        family,
        protocol: vs.protocol.unwrap_or_default(),
        scheduler: vs.scheduler.unwrap_or_default(),
        flags: vs.flags,
        forward: vs.forward.unwrap_or_default(),
        persistence,
        ha_suspend: vs.ha_suspend,
        alpha: vs.alpha,
        omega: vs.omega,
        quorum: vs.quorum,
        hysteresis: vs.hysteresis,
        quorum_up: vs.quorum_up,
        quorum_down: vs.quorum_down,
        virtualhost: vs.virtualhost,
        smtp_alert: Some(vs_smtp),
        sorry_server: vs.sorry.map(|s| SorryServer {
            addr: SocketAddr::new(s.addr, s.port),
            forward: s.forward.unwrap_or_default(),
            inhibit: s.inhibit,
        }),
        real_servers: servers,
        delay_loop: vs.delay_loop,
    })
}

/// keepalived's port rules: a NAT server without port takes the service's; otherwise the
/// ports must match (reset, with a warning), and fwmark services have none.
fn ports(
    vs: &mut PendingVs,
    rss: &mut [PendingRs],
    group: Option<&super::PendingGroup>,
    is_fwmark: bool,
    d: &mut Diags,
) {
    let name = fmt_vs(vs);
    let proto = vs.protocol;
    let not_nat = |f: Option<ForwardMethod>| f != Some(ForwardMethod::Nat);
    if let Some(g) = group {
        let has_fwmarks = g
            .members
            .iter()
            .any(|m| matches!(m, GroupMember::Fwmark { .. }));
        if has_fwmarks {
            for rs in rss.iter().filter(|r| not_nat(r.forward) && r.port != 0) {
                d.warn(
                    &rs.loc,
                    format!(
                        "WARNING - fwmark virtual server {name}, real server {} has port specified - port will be ignored",
                        trio(rs.addr, rs.port, proto)
                    ),
                );
            }
            if let Some(s) = &vs.sorry
                && not_nat(s.forward)
                && s.port != 0
            {
                d.warn(
                    &vs.loc,
                    format!(
                        "WARNING - fwmark virtual server {name}, sorry server has port specified - port will be ignored"
                    ),
                );
            }
        }
        for m in &g.members {
            let GroupMember::Address {
                first, last, port, ..
            } = m
            else {
                continue;
            };
            let entry = if first == last {
                format!("{first},{port}")
            } else {
                format!("{first}-{last},{port}")
            };
            for rs in rss.iter().filter(|r| not_nat(r.forward)) {
                if rs.port != 0 && rs.port != *port {
                    d.warn(
                        &rs.loc,
                        format!(
                            "virtual server {name}:[{entry}] and real server {} ports don't match",
                            trio(rs.addr, rs.port, proto)
                        ),
                    );
                }
            }
            if let Some(s) = &vs.sorry
                && not_nat(s.forward)
                && s.port != 0
                && s.port != *port
            {
                d.warn(
                    &vs.loc,
                    format!(
                        "WARNING - virtual server {name}, sorry server has port specified - port will be ignored"
                    ),
                );
            }
        }
        return;
    }
    let vs_port = match vs.key {
        PendingKey::Address(_, p) => p,
        _ => 0,
    };
    for rs in rss.iter_mut() {
        if !not_nat(rs.forward) {
            if !is_fwmark && rs.port == 0 {
                rs.port = vs_port;
            }
            continue;
        }
        if is_fwmark {
            if rs.port != 0 {
                d.warn(
                    &rs.loc,
                    format!(
                        "WARNING - fwmark virtual server {name}, real server {} has port specified - clearing",
                        trio(rs.addr, rs.port, proto)
                    ),
                );
                rs.port = 0;
            }
        } else if rs.port == 0 {
            rs.port = vs_port;
        } else if rs.port != vs_port {
            d.warn(
                &rs.loc,
                format!(
                    "WARNING - virtual server {name} and real server {} ports don't match - resetting",
                    trio(rs.addr, rs.port, proto)
                ),
            );
            rs.port = vs_port;
        }
    }
    if let Some(s) = &mut vs.sorry
        && not_nat(s.forward)
    {
        if is_fwmark {
            if s.port != 0 {
                d.warn(
                    &vs.loc,
                    format!(
                        "WARNING - virtual server {name}, sorry server has port specified - clearing"
                    ),
                );
                s.port = 0;
            }
        } else if s.port == 0 {
            s.port = vs_port;
        } else if s.port != vs_port {
            d.warn(
                &vs.loc,
                format!(
                    "WARNING - virtual server {name} and sorry server ports don't match - resetting"
                ),
            );
            s.port = vs_port;
        }
    }
}

/// A real server with what it inherits from its service, and its checkers with what they
/// inherit from it.
fn real_server(vs: &PendingVs, rs: PendingRs, mail: &Mail) -> RealServer {
    let addr = SocketAddr::new(rs.addr, rs.port);
    let alpha = rs.alpha.unwrap_or(vs.alpha);
    let retry = rs.retry.or(vs.retry);
    let connect_timeout = rs.connect_timeout.unwrap_or(vs.connect_timeout);
    let delay_loop = rs.delay_loop.unwrap_or(vs.delay_loop);
    let warmup = rs.warmup.or(vs.warmup);
    let delay_before_retry = rs.delay_before_retry.or(vs.delay_before_retry);
    let virtualhost = rs.virtualhost.clone().or_else(|| vs.virtualhost.clone());
    let checkers = rs
        .checkers
        .into_iter()
        .map(|c| {
            let loop_ = c.delay_loop.unwrap_or(delay_loop);
            let timing = CheckTiming {
                delay_loop: loop_,
                retry: c.retry.or(retry).unwrap_or(c.default_retry),
                delay_before_retry: c
                    .delay_before_retry
                    .or(delay_before_retry)
                    .or(c.default_delay_before_retry)
                    .unwrap_or(loop_),
                warmup: c.warmup.or(warmup).unwrap_or(loop_),
                alpha: c.alpha.unwrap_or(alpha),
                log_all_failures: c.log_all_failures,
            };
            // The real server's address and the port as written, which a DR/TUN
            // service or a fwmark may have reset in the table (keepalived copies it when
            // it reads the checker); its effective port when none was written
            // (keepalived's 0: docs/config-lvs.md). connect_ip / connect_port replace each.
            let port = if rs.port_written != 0 {
                rs.port_written
            } else {
                rs.port
            };
            let connect = c.connect.map(|co| ConnectTo {
                addr: SocketAddr::new(co.ip.unwrap_or(rs.addr), co.port.unwrap_or(port)),
                bindto: co.bindto,
                bind_port: co.bind_port,
                bind_if: co.bind_if,
                fwmark: co.fwmark,
                timeout: co.timeout.unwrap_or(connect_timeout),
            });
            let mut kind = c.kind;
            if let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut kind
                && h.virtualhost.is_none()
            {
                h.virtualhost = virtualhost.clone();
            }
            Checker {
                loc: c.loc,
                timing,
                connect,
                kind,
            }
        })
        .collect();
    RealServer {
        loc: rs.loc,
        addr,
        weight: rs.weight.unwrap_or(vs.weight),
        forward: rs.forward.unwrap_or_default(),
        uthreshold: rs.uthreshold,
        lthreshold: rs.lthreshold,
        inhibit_on_failure: rs.inhibit.unwrap_or(vs.inhibit),
        notify_up: rs.notify_up,
        notify_down: rs.notify_down,
        alpha,
        smtp_alert: Some(rs.smtp_alert.or(mail.smtp_alert).unwrap_or(true)),
        virtualhost,
        checkers,
    }
}
