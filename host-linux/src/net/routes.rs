//! Routes and rules (`virtual_routes`, `virtual_rules`, `static_routes`, `static_rules`)
//! through rtnetlink, built field for field as keepalived 2.2.7's `netlink_route` and
//! `netlink_rule` build them (`vrrp_iproute.c`, `vrrp_iprule.c`), so that `ip -d route`
//! shows the same route whichever daemon added it.
//!
//! A request is encoded here ([`route_message`], [`rule_message`]) and carried out
//! synchronously on a [`RouteSocket`], like the VIPs of [`super::AddressSocket`]. The
//! removal of a route or rule is the same message with the delete type, so what
//! [`Installable::delete_request`] returns is also what the state file keeps for the
//! cleanup after a crash.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::config::{MetricKind, NextHop, Route, RouteMode, Rule, RuleAction};

const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
const RTM_NEWRULE: u16 = 32;
pub const RTM_DELRULE: u16 = 33;
const NLMSG_ERROR: u16 = 2;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;

const RTA_DST: u16 = 1;
const RTA_SRC: u16 = 2;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_MULTIPATH: u16 = 9;
const RTA_FLOW: u16 = 11;
const RTA_TABLE: u16 = 15;
const RTA_VIA: u16 = 18;
const RTA_PREF: u16 = 20;
const RTA_EXPIRES: u16 = 23;
const RTA_TTL_PROPAGATE: u16 = 26;

const RTAX_LOCK: u16 = 1;
const RTAX_FEATURES: u16 = 12;
const RTAX_CC_ALGO: u16 = 16;
const RTAX_FEATURE_ECN: u32 = 1;

const RTNH_F_ONLINK: u8 = 4;
const RT_SCOPE_NOWHERE: u8 = 255;
const RT_TABLE_UNSPEC: u8 = 0;
const RT_TABLE_MAIN: u8 = 254;

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_FLOW: u16 = 11;
const FRA_TUN_ID: u16 = 12;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_L3MDEV: u16 = 19;
const FRA_UID_RANGE: u16 = 20;
const FRA_PROTOCOL: u16 = 21;
const FRA_IP_PROTO: u16 = 22;
const FRA_SPORT_RANGE: u16 = 23;
const FRA_DPORT_RANGE: u16 = 24;

const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_GOTO: u8 = 2;
const FR_ACT_NOP: u8 = 3;
const FR_ACT_BLACKHOLE: u8 = 6;
const FR_ACT_UNREACHABLE: u8 = 7;
const FR_ACT_PROHIBIT: u8 = 8;
const FIB_RULE_INVERT: u32 = 2;

/// keepalived's protocol for the routes it adds (`RTPROT_KEEPALIVED`).
const RTPROT_KEEPALIVED: u8 = crate::config::RTPROT_KEEPALIVED;

/// A netlink request without its 16-byte header: the type, the flags of an add, and
/// the body (`rtmsg` or `fib_rule_hdr` and the attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: u16,
    pub flags: u16,
    pub body: Vec<u8>,
}

impl Request {
    /// As the state file keeps it: `TYPE FLAGS HEX`.
    pub fn to_text(&self) -> String {
        let hex: String = self.body.iter().map(|b| format!("{b:02x}")).collect();
        format!("{} {} {hex}", self.kind, self.flags)
    }

    /// Reads [`Request::to_text`]'s output back; only route and rule removals.
    pub fn from_text(s: &str) -> Option<Request> {
        let mut f = s.split_whitespace();
        let kind: u16 = f.next()?.parse().ok()?;
        let flags: u16 = f.next()?.parse().ok()?;
        let hex = f.next()?;
        if f.next().is_some()
            || !(kind == RTM_DELROUTE || kind == RTM_DELRULE)
            || !hex.len().is_multiple_of(2)
            || hex.len() < 24
            || hex.len() > 8192
        {
            return None;
        }
        let body = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Request { kind, flags, body })
    }
}

/// A route or rule ready to install: interfaces resolved to indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installable {
    /// For the log: `route 10.1.0.0/16` or `rule 100`.
    pub what: String,
    pub add: Request,
    pub del: Request,
    /// keepalived watches it (not `no_track`; a route with a `dev`): a static one is
    /// put back when something deletes it.
    pub tracked: bool,
}

impl Installable {
    pub fn delete_request(&self) -> &Request {
        &self.del
    }

    /// What the kernel's notification of its deletion is compared with.
    pub fn identity(&self) -> Option<Identity> {
        identity(self.del.kind == RTM_DELRULE, &self.add.body)
    }
}

/// Why a route or rule cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(pub String);

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An interface's index, by name (`if_nametoindex`).
pub fn ifindex(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

/// `route` as keepalived's `netlink_route` sends it, for add and for delete; `index`
/// resolves interface names.
pub fn route_message(
    route: &Route,
    index: &dyn Fn(&str) -> Option<u32>,
) -> Result<Installable, BuildError> {
    let what = format!("route {}", prefix_text(route.dst.addr, route.dst.len));
    if route.encap.is_some() || route.nexthops.iter().any(|n| n.encap.is_some()) {
        return Err(BuildError(format!(
            "{what}: `encap` is not supported by vigild"
        )));
    }
    if let Some(vrf) = &route.vrf {
        return Err(BuildError(format!(
            "{what}: `vrf {vrf}` is not supported by vigild"
        )));
    }
    let dev =
        |name: &str| index(name).ok_or_else(|| BuildError(format!("{what}: no interface {name}")));
    let oif = route.dev.as_deref().map(dev).transpose()?;
    let mut nexthops = Vec::new();
    for nh in &route.nexthops {
        nexthops.push((nh, nh.dev.as_deref().map(dev).transpose()?));
    }
    let family = family_of(route.family);
    let add = build_route(route, family, oif, &nexthops, false);
    let del = build_route(route, family, oif, &nexthops, true);
    let flags = NLM_F_CREATE
        | match route.mode {
            RouteMode::Prepend => 0,
            RouteMode::Add => NLM_F_EXCL,
            RouteMode::Append => NLM_F_APPEND,
        };
    Ok(Installable {
        what,
        add: Request {
            kind: RTM_NEWROUTE,
            flags,
            body: add,
        },
        del: Request {
            kind: RTM_DELROUTE,
            flags: 0,
            body: del,
        },
        tracked: !route.no_track,
    })
}

fn build_route(
    r: &Route,
    family: u8,
    oif: Option<u32>,
    nexthops: &[(&NextHop, Option<u32>)],
    del: bool,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    let table = if r.table < 256 {
        r.table as u8
    } else {
        RT_TABLE_UNSPEC
    };
    // keepalived: a removal sets the type only when one was written, and scope nowhere
    // unless one was written.
    let kind = if del && !r.kind_given {
        0
    } else {
        r.kind.number()
    };
    let scope = if r.scope_given {
        r.scope
    } else if del {
        RT_SCOPE_NOWHERE
    } else {
        0
    };
    b.extend_from_slice(&[
        family,
        r.dst.len,
        r.from.map_or(0, |f| f.len),
        r.tos.unwrap_or(0),
        table,
        r.protocol.unwrap_or(RTPROT_KEEPALIVED),
        scope,
        kind,
    ]);
    let flags: u32 = if r.onlink { RTNH_F_ONLINK as u32 } else { 0 };
    b.extend_from_slice(&flags.to_ne_bytes());
    if r.table >= 256 {
        attr(&mut b, RTA_TABLE, &r.table.to_ne_bytes());
    }
    if let Some(a) = r.dst.addr {
        attr(&mut b, RTA_DST, &ip_bytes(a));
    }
    if let Some(a) = r.from.and_then(|f| f.addr) {
        attr(&mut b, RTA_SRC, &ip_bytes(a));
    }
    if let Some(a) = r.pref_src {
        attr(&mut b, RTA_PREFSRC, &ip_bytes(a));
    }
    if let Some(via) = r.via {
        gateway(&mut b, family, via);
    }
    if let Some(i) = oif {
        attr(&mut b, RTA_OIF, &i.to_ne_bytes());
    }
    if let Some(m) = r.metric {
        attr(&mut b, RTA_PRIORITY, &m.to_ne_bytes());
    }
    if let Some(realms) = r.realms {
        attr(&mut b, RTA_FLOW, &realms.to_ne_bytes());
    }
    if let Some(e) = r.expires {
        attr(&mut b, RTA_EXPIRES, &e.to_ne_bytes());
    }
    // The metrics, in keepalived's order (congestion control first, the lock last).
    let mut metrics = Vec::new();
    let mut lock = 0u32;
    if let Some((name, locked)) = &r.congctl {
        attr(&mut metrics, RTAX_CC_ALGO, name.as_bytes());
        if *locked {
            lock |= 1 << RTAX_CC_ALGO;
        }
    }
    let order = [MetricKind::Rtt, MetricKind::Rttvar, MetricKind::RtoMin];
    for kind in order {
        push_metric(&mut metrics, &mut lock, r, kind);
    }
    if r.ecn {
        attr(&mut metrics, RTAX_FEATURES, &RTAX_FEATURE_ECN.to_ne_bytes());
    }
    for kind in [
        MetricKind::Mtu,
        MetricKind::Window,
        MetricKind::Ssthresh,
        MetricKind::Cwnd,
        MetricKind::Advmss,
        MetricKind::Reordering,
        MetricKind::Hoplimit,
        MetricKind::Initcwnd,
        MetricKind::Initrwnd,
        MetricKind::Quickack,
        MetricKind::FastopenNoCookie,
    ] {
        push_metric(&mut metrics, &mut lock, r, kind);
    }
    if let Some(p) = r.pref {
        attr(&mut b, RTA_PREF, &[p]);
    }
    if let Some(t) = r.ttl_propagate {
        attr(&mut b, RTA_TTL_PROPAGATE, &[t as u8]);
    }
    if !metrics.is_empty() {
        if lock != 0 {
            attr(&mut metrics, RTAX_LOCK, &lock.to_ne_bytes());
        }
        attr(&mut b, RTA_METRICS, &metrics);
    }
    if !nexthops.is_empty() {
        let mut mp = Vec::new();
        for (nh, ifindex) in nexthops {
            let mut inner = Vec::new();
            if let Some(via) = nh.via {
                gateway(&mut inner, family, via);
            }
            if let Some(realms) = nh.realms {
                attr(&mut inner, RTA_FLOW, &realms.to_ne_bytes());
            }
            let len = (8 + inner.len()) as u16;
            mp.extend_from_slice(&len.to_ne_bytes());
            mp.push(if nh.onlink { RTNH_F_ONLINK } else { 0 });
            mp.push(nh.weight.map_or(0, |w| w.saturating_sub(1).min(255) as u8));
            mp.extend_from_slice(&(ifindex.unwrap_or(0) as i32).to_ne_bytes());
            mp.extend_from_slice(&inner);
        }
        attr(&mut b, RTA_MULTIPATH, &mp);
    }
    b
}

fn push_metric(out: &mut Vec<u8>, lock: &mut u32, r: &Route, kind: MetricKind) {
    for m in r.metrics.iter().filter(|m| m.kind == kind) {
        let n = metric_number(kind);
        attr(out, n, &m.value.to_ne_bytes());
        if m.locked {
            *lock |= 1 << n;
        }
    }
}

fn metric_number(kind: MetricKind) -> u16 {
    match kind {
        MetricKind::Mtu => 2,
        MetricKind::Window => 3,
        MetricKind::Rtt => 4,
        MetricKind::Rttvar => 5,
        MetricKind::Ssthresh => 6,
        MetricKind::Cwnd => 7,
        MetricKind::Advmss => 8,
        MetricKind::Reordering => 9,
        MetricKind::Hoplimit => 10,
        MetricKind::Initcwnd => 11,
        MetricKind::RtoMin => 13,
        MetricKind::Initrwnd => 14,
        MetricKind::Quickack => 15,
        MetricKind::FastopenNoCookie => 17,
    }
}

/// A gateway of the route's family is `RTA_GATEWAY`; of the other (an IPv6 next hop
/// of an IPv4 route) `RTA_VIA`, as keepalived.
fn gateway(b: &mut Vec<u8>, family: u8, via: IpAddr) {
    let f = family_of_addr(via);
    if f == family {
        attr(b, RTA_GATEWAY, &ip_bytes(via));
    } else {
        let mut v = (f as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ip_bytes(via));
        attr(b, RTA_VIA, &v);
    }
}

/// `rule` as keepalived's `netlink_rule` sends it, for add and for delete.
pub fn rule_message(rule: &Rule) -> Installable {
    let what = format!("rule {}", rule.priority);
    let add = build_rule(rule);
    Installable {
        what,
        add: Request {
            kind: RTM_NEWRULE,
            flags: NLM_F_CREATE | NLM_F_EXCL,
            body: add.clone(),
        },
        del: Request {
            kind: RTM_DELRULE,
            flags: 0,
            body: add,
        },
        tracked: !rule.no_track,
    }
}

fn build_rule(r: &Rule) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    let (action, table, goto) = match r.action {
        RuleAction::Table(t) => (FR_ACT_TO_TBL, Some(t), None),
        RuleAction::L3mdev => (FR_ACT_TO_TBL, None, None),
        RuleAction::Goto(g) => (FR_ACT_GOTO, None, Some(g)),
        RuleAction::Nop => (FR_ACT_NOP, None, None),
        RuleAction::Blackhole => (FR_ACT_BLACKHOLE, None, None),
        RuleAction::Unreachable => (FR_ACT_UNREACHABLE, None, None),
        RuleAction::Prohibit => (FR_ACT_PROHIBIT, None, None),
    };
    let frh_table = match table {
        Some(0) => RT_TABLE_MAIN,
        Some(t) if t < 256 => t as u8,
        _ => RT_TABLE_UNSPEC,
    };
    let flags: u32 = if r.invert { FIB_RULE_INVERT } else { 0 };
    b.extend_from_slice(&[
        family_of(r.family),
        r.to.map_or(0, |p| if p.addr.is_some() { p.len } else { 0 }),
        r.from
            .map_or(0, |p| if p.addr.is_some() { p.len } else { 0 }),
        r.tos.unwrap_or(0),
        frh_table,
        0,
        0,
        action,
    ]);
    b.extend_from_slice(&flags.to_ne_bytes());
    if let Some(t) = table.filter(|&t| t >= 256) {
        attr(&mut b, FRA_TABLE, &t.to_ne_bytes());
    }
    if let Some(a) = r.from.and_then(|p| p.addr) {
        attr(&mut b, FRA_SRC, &ip_bytes(a));
    }
    if let Some(a) = r.to.and_then(|p| p.addr) {
        attr(&mut b, FRA_DST, &ip_bytes(a));
    }
    attr(&mut b, FRA_PRIORITY, &r.priority.to_ne_bytes());
    if let Some((mark, mask)) = r.fwmark {
        attr(&mut b, FRA_FWMARK, &mark.to_ne_bytes());
        if let Some(mask) = mask {
            attr(&mut b, FRA_FWMASK, &mask.to_ne_bytes());
        }
    }
    if let Some(realms) = r.realms {
        attr(&mut b, FRA_FLOW, &realms.to_ne_bytes());
    }
    if let Some(n) = r.suppress_prefixlen {
        attr(&mut b, FRA_SUPPRESS_PREFIXLEN, &n.to_ne_bytes());
    }
    if let Some(g) = r.suppress_group {
        attr(&mut b, FRA_SUPPRESS_IFGROUP, &g.to_ne_bytes());
    }
    if let Some(name) = &r.iif {
        attr(&mut b, FRA_IIFNAME, &c_name(name));
    }
    if let Some(name) = &r.oif {
        attr(&mut b, FRA_OIFNAME, &c_name(name));
    }
    if let Some(id) = r.tunnel_id {
        attr(&mut b, FRA_TUN_ID, &id.to_be_bytes());
    }
    if let Some((start, end)) = r.uid_range {
        let mut v = start.to_ne_bytes().to_vec();
        v.extend_from_slice(&end.to_ne_bytes());
        attr(&mut b, FRA_UID_RANGE, &v);
    }
    if r.action == RuleAction::L3mdev {
        attr(&mut b, FRA_L3MDEV, &[1]);
    }
    if let Some(p) = r.protocol {
        attr(&mut b, FRA_PROTOCOL, &[p]);
    }
    if let Some(p) = r.ip_proto {
        attr(&mut b, FRA_IP_PROTO, &[p]);
    }
    for (kind, range) in [(FRA_SPORT_RANGE, r.sport), (FRA_DPORT_RANGE, r.dport)] {
        if let Some((start, end)) = range {
            let mut v = start.to_ne_bytes().to_vec();
            v.extend_from_slice(&end.to_ne_bytes());
            attr(&mut b, kind, &v);
        }
    }
    if let Some(g) = goto {
        attr(&mut b, FRA_GOTO, &g.to_ne_bytes());
    }
    b
}

fn c_name(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

fn attr(b: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = (4 + data.len()) as u16;
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn family_of(f: vigil_core::wire::Family) -> u8 {
    match f {
        vigil_core::wire::Family::V4 => libc::AF_INET as u8,
        vigil_core::wire::Family::V6 => libc::AF_INET6 as u8,
    }
}

fn family_of_addr(a: IpAddr) -> u8 {
    match a {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn prefix_text(addr: Option<IpAddr>, len: u8) -> String {
    match addr {
        Some(a) => format!("{a}/{len}"),
        None => "default".to_string(),
    }
}

/// What identifies a route or rule in the kernel's notifications: the header's
/// identifying bytes and the identifying attributes, read from a message body (ours
/// or the kernel's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    rule: bool,
    head: [u8; 5],
    attrs: Vec<(u16, Vec<u8>)>,
}

/// The identity of a route (`rule` false) or rule message body; `None` for one that
/// is too short or not keepalived's protocol (18).
pub fn identity(rule: bool, body: &[u8]) -> Option<Identity> {
    if body.len() < 12 {
        return None;
    }
    let mut attrs = Vec::new();
    let mut at = 12;
    while at + 4 <= body.len() {
        let len = u16::from_ne_bytes([body[at], body[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([body[at + 2], body[at + 3]]) & 0x3fff;
        if len < 4 || at + len > body.len() {
            break;
        }
        let data = body[at + 4..at + len].to_vec();
        let keep: &[u16] = if rule {
            &[
                FRA_SRC,
                FRA_DST,
                FRA_PRIORITY,
                FRA_TABLE,
                FRA_FWMARK,
                FRA_PROTOCOL,
            ]
        } else {
            &[RTA_DST, RTA_SRC, RTA_PRIORITY, RTA_TABLE]
        };
        if keep.contains(&kind) {
            attrs.push((kind, data));
        }
        at += (len + 3) & !3;
    }
    // family, dst_len, src_len, tos, and the table: the kernel repeats the table in
    // RTA_TABLE / FRA_TABLE whatever its number; ours has it there only above 255.
    let long = attrs_u32(body, if rule { FRA_TABLE } else { RTA_TABLE });
    let table = long.map_or(body[4], |t| if t < 256 { t as u8 } else { 0 });
    let table_attr = long.filter(|&t| t >= 256);
    if rule {
        let theirs = attrs
            .iter()
            .find(|(k, _)| *k == FRA_PROTOCOL)
            .and_then(|(_, d)| d.first().copied());
        if theirs.is_some_and(|p| p != RTPROT_KEEPALIVED) {
            return None;
        }
    } else if body[5] != RTPROT_KEEPALIVED {
        return None;
    }
    let (table_kind, priority_kind) = if rule {
        (FRA_TABLE, FRA_PRIORITY)
    } else {
        (RTA_TABLE, RTA_PRIORITY)
    };
    attrs.retain(|(k, d)| {
        *k != table_kind
            && !(rule && *k == FRA_PROTOCOL)
            // A route's metric 0 is no metric.
            && !(!rule && *k == priority_kind && d.as_slice() == [0, 0, 0, 0])
    });
    if let Some(t) = table_attr {
        attrs.push((table_kind, t.to_ne_bytes().to_vec()));
    }
    // The kernel gives an IPv6 route without a metric 1024.
    if !rule && body[0] == libc::AF_INET6 as u8 && !attrs.iter().any(|(k, _)| *k == RTA_PRIORITY) {
        attrs.push((RTA_PRIORITY, 1024u32.to_ne_bytes().to_vec()));
    }
    attrs.sort();
    Some(Identity {
        rule,
        head: [body[0], body[1], body[2], body[3], table],
        attrs,
    })
}

fn attrs_u32(body: &[u8], want: u16) -> Option<u32> {
    let mut at = 12;
    while at + 4 <= body.len() {
        let len = u16::from_ne_bytes([body[at], body[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([body[at + 2], body[at + 3]]) & 0x3fff;
        if len < 4 || at + len > body.len() {
            return None;
        }
        if kind == want && len == 8 {
            return Some(u32::from_ne_bytes(body[at + 4..at + 8].try_into().ok()?));
        }
        at += (len + 3) & !3;
    }
    None
}

/// Deletions of routes and rules, as the kernel announces them (`RTM_DELROUTE`,
/// `RTM_DELRULE` to the route and rule multicast groups).
#[derive(Debug)]
pub struct DeletionMonitor {
    fd: tokio::io::unix::AsyncFd<OwnedFd>,
    buf: Vec<u8>,
}

impl DeletionMonitor {
    /// Must be created inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain socket creation; the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // RTMGRP_IPV4_ROUTE, RTMGRP_IPV4_RULE, RTMGRP_IPV6_ROUTE, and RTNLGRP_IPV6_RULE
        // (19) as a legacy group bit.
        let groups: u32 = 0x40 | 0x80 | 0x400 | (1 << 18);
        // SAFETY: binds the live descriptor to a zeroed, filled-in sockaddr_nl.
        let bound = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            addr.nl_groups = groups;
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if bound < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(DeletionMonitor {
            // SAFETY: the descriptor is owned by the AsyncFd and closed only with it.
            fd: unsafe { tokio::io::unix::AsyncFd::register(fd) }.map_err(io::Error::from)?,
            buf: vec![0; 32 * 1024],
        })
    }

    /// The identities of the next batch of deletions (empty when the batch had none).
    pub async fn next(&mut self) -> io::Result<Vec<Identity>> {
        loop {
            let mut guard = self.fd.readable().await?;
            let fd = self.fd.get_ref().as_raw_fd();
            // SAFETY: receives into the live buffer, at most its length.
            let n = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    guard.clear_ready();
                    continue;
                }
                // ENOBUFS: notifications were lost; carry on with the next ones.
                if e.raw_os_error() == Some(libc::ENOBUFS) {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            let mut out = Vec::new();
            let mut at = 0;
            while at + 16 <= n {
                let len =
                    u32::from_ne_bytes(self.buf[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
                if len < 16 || at + len > n {
                    break;
                }
                let kind = u16::from_ne_bytes([self.buf[at + 4], self.buf[at + 5]]);
                let body = &self.buf[at + 16..at + len];
                let id = match kind {
                    RTM_DELROUTE => identity(false, body),
                    RTM_DELRULE => identity(true, body),
                    _ => None,
                };
                out.extend(id);
                at += (len + 3) & !3;
            }
            return Ok(out);
        }
    }
}

/// Adds and removes routes and rules synchronously: the kernel has carried out the
/// request and queued its answer when `send` returns.
#[derive(Debug)]
pub struct RouteSocket {
    fd: OwnedFd,
    sequence: u32,
    buf: Vec<u8>,
}

impl RouteSocket {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain socket creation; the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // The answer is queued before `send` returns; the timeout bounds a kernel that
        // would not answer.
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        super::setsockopt_raw(
            std::os::fd::AsFd::as_fd(&fd),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout,
        )?;
        Ok(RouteSocket {
            fd,
            sequence: 0,
            buf: vec![0; 8192],
        })
    }

    /// Installs `item`. A route or rule that is already there is not an error (a
    /// restart after a crash finds its own).
    pub fn add(&mut self, item: &Installable) -> io::Result<()> {
        match self.request(&item.add) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Removes what `del` describes. One that is not there is not an error.
    pub fn del(&mut self, del: &Request) -> io::Result<()> {
        self.remove(del).map(|_| ())
    }

    /// Removes what `del` describes; whether it was there (the kernel then announces
    /// its deletion).
    pub fn remove(&mut self, del: &Request) -> io::Result<bool> {
        match self.request(del) {
            Ok(()) => Ok(true),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ESRCH) | Some(libc::ENOENT) | Some(libc::ENODEV)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    fn request(&mut self, req: &Request) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let len = 16 + req.body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&req.kind.to_ne_bytes());
        msg.extend_from_slice(&(req.flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        msg.extend_from_slice(&self.sequence.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&req.body);
        let fd = self.fd.as_raw_fd();
        // SAFETY: sends from a live buffer of `len` bytes to the kernel (a zeroed
        // sockaddr_nl).
        let sent = unsafe {
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                fd,
                msg.as_ptr().cast(),
                len,
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        // Skip anything that is not the answer to this request (bounded).
        for _ in 0..16 {
            // SAFETY: receives into the live buffer, at most its length.
            let n = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            if n < 20 {
                continue;
            }
            let kind = u16::from_ne_bytes([self.buf[4], self.buf[5]]);
            let seq = u32::from_ne_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
            if seq != self.sequence || kind != NLMSG_ERROR {
                continue;
            }
            let code = i32::from_ne_bytes([self.buf[16], self.buf[17], self.buf[18], self.buf[19]]);
            return if code == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(-code))
            };
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no netlink acknowledgement",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut b = Vec::new();
        attr(&mut b, FRA_IIFNAME, &c_name("eth0"));
        // 4 header bytes + "eth0\0" = 9, padded to 12; the length says 9.
        assert_eq!(b.len(), 12);
        assert_eq!(u16::from_ne_bytes([b[0], b[1]]), 9);
        assert_eq!(&b[4..9], b"eth0\0");
    }

    #[test]
    fn a_removal_reads_back_from_its_text() {
        let r = Request {
            kind: RTM_DELROUTE,
            flags: 0,
            body: vec![
                2, 16, 0, 0, 254, 18, 255, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 1, 0, 0,
            ],
        };
        assert_eq!(Request::from_text(&r.to_text()), Some(r));
        // Only removals, whole bytes, at least a header.
        assert_eq!(
            Request::from_text("24 1024 00000000000000000000000000"),
            None
        );
        assert_eq!(Request::from_text("25 0 0"), None);
        assert_eq!(Request::from_text("25 0 000"), None);
        assert_eq!(Request::from_text("25 0 0000000000000000000000zz"), None);
    }
}
