//! `virtual_server` blocks, `virtual_server_group` and the top-level `SSL` block
//! (keepalived's `vs_handler` and friends, `alloc_vs`, `vsg_handler`, `alloc_vsg_entry`,
//! `ssl_handler`).

use super::super::super::diag::{KaClass, Severity};
use super::super::super::keywords::{Keyword, Table};
use super::super::super::lvs::{GroupMember, IpvsProtocol, SslClient};
use super::super::values::ka_unsigned;
use super::super::{Node, Parser};
use super::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_LOOP, PERSISTENT_TIMEOUT, PendingGroup, PendingKey,
    PendingVs, WEIGHT_LIMIT, ka_sockaddr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vigil_core::wire::Family;

/// keepalived 2.2.7's schedulers (`lvs_schedulers`).
const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos",
];

/// `vs->sched` holds at most 15 characters.
const SCHED_MAX: usize = 15;
/// `vs->pe_name` likewise.
const PE_NAME_MAX: usize = 15;

pub(in crate::config::parse) static VIRTUAL_SERVER: Table<PendingVs> = Table {
    place: "in virtual_server",
    keywords: &[
        Keyword::read("ip_family", ip_family),
        Keyword::read("retry", |p, vs, n| {
            let then = format!("retry value invalid - {}", n.arg(0).unwrap_or(""));
            if let Some(v) = p.lvs_uint(n, 1, u64::from(u32::MAX), &then) {
                vs.retry = Some(v as u32);
            }
        }),
        Keyword::read("delay_before_retry", |p, vs, n| {
            let then = format!(
                "virtual server delay before retry '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
                vs.delay_before_retry = Some(v);
            }
        }),
        Keyword::read("warmup", |p, vs, n| {
            let then = format!(
                "virtual server warmup '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
                vs.warmup = Some(v);
            }
        }),
        Keyword::read("connect_timeout", |p, vs, n| {
            let then = format!(
                "virtual server connect_timeout {} invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 1, u64::from(u32::MAX), &then) {
                vs.connect_timeout = v;
            }
        }),
        Keyword::read("delay_loop", |p, vs, n| {
            let then = format!(
                "virtual server delay loop '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 1, 0, &then) {
                vs.delay_loop = v;
            }
        }),
        Keyword::read("inhibit_on_failure", |p, vs, n| {
            p.no_block(n);
            vs.inhibit = true;
        }),
        Keyword::read("lb_algo", scheduler),
        Keyword::read("lvs_sched", scheduler),
        Keyword::read("hashed", flag),
        Keyword::read("ops", flag),
        Keyword::read("flag-1", flag),
        Keyword::read("flag-2", flag),
        Keyword::read("flag-3", flag),
        Keyword::read("sh-port", flag),
        Keyword::read("sh-fallback", flag),
        Keyword::read("mh-port", flag),
        Keyword::read("mh-fallback", flag),
        Keyword::read("lb_kind", |p, vs, n| {
            let mut method = vs.forward.unwrap_or_default();
            if p.forwarding(n, "virtual", &mut method) {
                vs.forward = Some(method);
            }
        }),
        Keyword::read("lvs_method", |p, vs, n| {
            let mut method = vs.forward.unwrap_or_default();
            if p.forwarding(n, "virtual", &mut method) {
                vs.forward = Some(method);
            }
        }),
        Keyword::read("persistence_engine", |p, vs, n| {
            let Some(t) = p.need(n, 0) else { return };
            let name = t.word().unwrap_or("");
            if name.len() > PE_NAME_MAX {
                p.d.warn(
                    &t.loc,
                    format!("persistence_name too long, truncating - {name}"),
                );
            }
            vs.engine = Some(name.chars().take(PE_NAME_MAX).collect());
        }),
        Keyword::read("persistence_timeout", |p, vs, n| {
            p.no_block(n);
            let Some(t) = n.args.first() else {
                vs.persistence_timeout = PERSISTENT_TIMEOUT;
                return;
            };
            match ka_unsigned(t.word().unwrap_or(""), 1, 86400 * 31) {
                Ok(v) => vs.persistence_timeout = v as u32,
                Err(why) => {
                    p.d.warn(&t.loc, format!("{why}: persistence_timeout invalid"))
                }
            }
        }),
        Keyword::read("persistence_granularity", granularity),
        Keyword::read("protocol", |p, vs, n| {
            let Some(t) = p.need(n, 0) else { return };
            let s = t.word().unwrap_or("");
            match s.to_ascii_uppercase().as_str() {
                "TCP" => vs.protocol = Some(IpvsProtocol::Tcp),
                "UDP" => vs.protocol = Some(IpvsProtocol::Udp),
                "SCTP" => vs.protocol = Some(IpvsProtocol::Sctp),
                _ => p.d.warn(&t.loc, format!("Unknown protocol {s} - ignoring")),
            }
        }),
        Keyword::read("ha_suspend", |p, vs, n| {
            p.no_block(n);
            vs.ha_suspend = true;
        }),
        Keyword::read("smtp_alert", |p, vs, n| {
            if let Some(v) = p.lvs_bool(n, "virtual_server smtp_alert") {
                vs.smtp_alert = Some(v);
            }
        }),
        Keyword::read("virtualhost", |p, vs, n| {
            if let Some(v) = p.lvs_string(n, "virtual server virtualhost missing") {
                vs.virtualhost = Some(v);
            }
        }),
        Keyword::ignored("snmp_name"),
        Keyword::read("alpha", |p, vs, n| {
            p.no_block(n);
            vs.alpha = true;
        }),
        Keyword::read("omega", |p, vs, n| {
            p.no_block(n);
            vs.omega = true;
        }),
        Keyword::read("quorum_up", |p, vs, n| {
            let ctx = format!("({}) ", group_name(vs));
            p.notify(&mut vs.quorum_up, n, &ctx);
        }),
        Keyword::read("quorum_down", |p, vs, n| {
            let ctx = format!("({}) ", group_name(vs));
            p.notify(&mut vs.quorum_down, n, &ctx);
        }),
        Keyword::read("quorum", |p, vs, n| {
            let then = format!(
                "Quorum {} must be in [1, {}]. Setting to 1.",
                n.arg(0).unwrap_or(""),
                u32::MAX
            );
            vs.quorum = p
                .lvs_uint(n, 1, u64::from(u32::MAX), &then)
                .map_or(1, |v| v as u32);
        }),
        Keyword::read("hysteresis", |p, vs, n| {
            let then = format!(
                "Hysteresis {} must be in [0, {}] - ignoring",
                n.arg(0).unwrap_or(""),
                u32::MAX
            );
            if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
                vs.hysteresis = v as u32;
            }
        }),
        Keyword::read("weight", |p, vs, n| {
            let then = format!(
                "Virtual server weight {} is outside range 1-{WEIGHT_LIMIT}",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_uint(n, 1, WEIGHT_LIMIT, &then) {
                vs.weight = v as u32;
            }
        }),
        Keyword::read("sorry_server", |p, vs, n| p.sorry_server(vs, n)),
        Keyword::read("sorry_server_inhibit", |p, vs, n| {
            p.no_block(n);
            match &mut vs.sorry {
                Some(s) => s.inhibit = true,
                None => p.d.warn(
                    n.loc(),
                    "Ignoring sorry_server inhibit used before or without sorry_server",
                ),
            }
        }),
        Keyword::read("sorry_server_lvs_method", |p, vs, n| {
            let Some(s) = &mut vs.sorry else {
                // keepalived reads nothing of the line then.
                p.d.warn(n.loc(), "sorry_server forwarding used without sorry_server");
                return;
            };
            let mut method = s.forward.or(vs.forward).unwrap_or_default();
            if p.forwarding(n, "sorry", &mut method) {
                s.forward = Some(method);
            }
        }),
        Keyword::read("real_server", |p, vs, n| p.real_server(vs, n)),
    ],
};

/// What keepalived's messages name a virtual server by in `(%s)` (its group name, or
/// `(null)`).
fn group_name(vs: &PendingVs) -> &str {
    match &vs.key {
        PendingKey::Group(g) => g,
        _ => "(null)",
    }
}

fn ip_family(p: &mut Parser<'_>, vs: &mut PendingVs, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let s = t.word().unwrap_or("");
    let af = match s {
        "inet" => Family::V4,
        "inet6" => Family::V6,
        _ => {
            p.d.warn(&t.loc, format!("unknown address family {s}"));
            return;
        }
    };
    if vs.af.is_some_and(|f| f != af) {
        p.d.warn(
            &t.loc,
            format!("Virtual server specified family {s} conflicts with server family"),
        );
        return;
    }
    vs.af = Some(af);
}

fn scheduler(p: &mut Parser<'_>, vs: &mut PendingVs, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let s = t.word().unwrap_or("");
    if !SCHEDULERS.contains(&s) || s.len() > SCHED_MAX {
        p.d.warn(&t.loc, format!("Invalid lvs_scheduler '{s}' - ignoring"));
        return;
    }
    vs.scheduler = Some(s.to_string());
}

/// `hashed`, `ops`, `flag-N`, `sh-*` and `mh-*` (keepalived's `lbflags_handler`: the
/// `sh-` and `mh-` flags only after their scheduler; `hashed` sets nothing).
fn flag(p: &mut Parser<'_>, vs: &mut PendingVs, n: &Node) {
    p.no_block(n);
    let f = &mut vs.flags;
    let sched = vs.scheduler.as_deref().unwrap_or("");
    match n.name() {
        "ops" => f.ops = true,
        "flag-1" => f.flag_1 = true,
        "flag-2" => f.flag_2 = true,
        "flag-3" => f.flag_3 = true,
        // IP_VS_SVC_F_SCHED_SH_FALLBACK / MH_FALLBACK are flag-1, *_PORT flag-2.
        "sh-fallback" | "mh-fallback" if sched == &n.name()[..2] => f.flag_1 = true,
        "sh-port" | "mh-port" if sched == &n.name()[..2] => f.flag_2 = true,
        "sh-fallback" | "mh-fallback" | "sh-port" | "mh-port" if sched == "sh" || sched == "mh" => {
            // keepalived accepts and ignores the other scheduler's flag.
        }
        "hashed" if sched == "sh" || sched == "mh" => {}
        name => p.d.warn(
            n.loc(),
            format!("{name} only applies to sh scheduler - ignoring"),
        ),
    }
}

fn granularity(p: &mut Parser<'_>, vs: &mut PendingVs, n: &Node) {
    let Some(t) = p.need(n, 0) else { return };
    let s = t.word().unwrap_or("");
    let af = vs.af.unwrap_or(if s.contains('.') {
        Family::V4
    } else {
        Family::V6
    });
    let mask = match af {
        Family::V6 => match ka_unsigned(s, 1, 128) {
            Ok(len) => IpAddr::V6(Ipv6Addr::from(u128::MAX << (128 - len))),
            Err(why) => {
                p.d.warn(
                    &t.loc,
                    format!("{why}: Invalid IPv6 persistence_granularity specified - {s}"),
                );
                return;
            }
        },
        Family::V4 => match inet_aton(s) {
            Some(a) => IpAddr::V4(a),
            None => {
                p.d.warn(
                    &t.loc,
                    format!("Invalid IPv4 persistence_granularity specified - {s}"),
                );
                return;
            }
        },
    };
    vs.granularity = Some(mask);
    vs.af.get_or_insert(af);
    if vs.persistence_timeout == 0 {
        vs.persistence_timeout = PERSISTENT_TIMEOUT;
    }
}

/// `getaddrinfo` with AI_NUMERICHOST for AF_INET: glibc's `inet_aton` forms (`255.255`,
/// `0xffffff00`...).
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let num = |p: &str| -> Option<u64> {
        if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()
        } else if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().ok()
        } else {
            None
        }
    };
    let vals: Vec<u64> = parts.iter().map(|p| num(p)).collect::<Option<_>>()?;
    let (last, head) = vals.split_last()?;
    if head.iter().any(|&v| v > 255) || *last >= 1u64 << (8 * (4 - head.len())) {
        return None;
    }
    let mut v: u32 = 0;
    for (i, h) in head.iter().enumerate() {
        v |= (*h as u32) << (24 - 8 * i);
    }
    Some(Ipv4Addr::from(v | *last as u32))
}

impl PendingVs {
    /// A service as keepalived's `alloc_vs` starts it.
    pub(super) fn new(
        loc: super::super::super::diag::Loc,
        key: PendingKey,
        af: Option<Family>,
    ) -> Self {
        PendingVs {
            loc,
            key,
            af,
            protocol: None,
            scheduler: None,
            flags: Default::default(),
            forward: None,
            persistence_timeout: 0,
            granularity: None,
            engine: None,
            ha_suspend: false,
            alpha: false,
            omega: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            virtualhost: None,
            smtp_alert: None,
            sorry: None,
            real_servers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            delay_loop: DEFAULT_DELAY_LOOP,
            warmup: None,
            retry: None,
            delay_before_retry: None,
            weight: 1,
            inhibit: false,
        }
    }
}

impl Parser<'_> {
    /// `virtual_server IP PORT | fwmark N | group NAME { ... }` (keepalived's `alloc_vs`;
    /// a bad address or fwmark has its block skipped by the tree).
    pub(super) fn virtual_server(&mut self, n: &Node) {
        let Some(first) = self.block_arg(n, 0) else {
            return;
        };
        let first = first.word().unwrap_or("").to_string();
        let second = n.arg(1);
        let key = match first.as_str() {
            "group" => match second {
                Some(g) => PendingKey::Group(g.to_string()),
                // keepalived STRDUPs a NULL name: nothing usable.
                None => {
                    self.d.warn(n.loc(), "virtual_server group without a name");
                    return;
                }
            },
            "fwmark" => match ka_unsigned(second.unwrap_or(""), 0, u64::from(u32::MAX)) {
                Ok(m) => PendingKey::Fwmark(m as u32),
                Err(why) => {
                    self.d.warn(
                        n.loc(),
                        format!(
                            "{why}: virtual server fwmark '{}' must be in [0, {}] - ignoring",
                            second.unwrap_or("(null)"),
                            u32::MAX
                        ),
                    );
                    return self.refused_vs(n);
                }
            },
            ip => match ka_sockaddr(ip, second) {
                Ok((a, port)) => PendingKey::Address(a, port),
                Err(()) => {
                    let port = second.filter(|p| !p.bytes().all(|b| b == b'0'));
                    self.d.warn(
                        n.loc(),
                        format!(
                            "Invalid virtual server IP address{} {ip}{}{} - skipping",
                            if port.is_some() { "/port" } else { "" },
                            if port.is_some() { "/" } else { "" },
                            port.unwrap_or("")
                        ),
                    );
                    return self.refused_vs(n);
                }
            },
        };
        let af = match &key {
            PendingKey::Address(a, _) => Some(super::super::fam(a)),
            _ => None,
        };
        let mut vs = PendingVs::new(n.loc().clone(), key, af);
        if let Some(b) = &n.block {
            self.read_block(&VIRTUAL_SERVER, &mut vs, &b.children, "virtual_server");
        }
        self.vs_end(&mut vs, n.end());
        self.lvs.servers.push(vs);
    }

    /// A `virtual_server` keepalived refused: its block is skipped, but without its `{`
    /// keepalived reads the lines after it as keywords of the service read before (the
    /// tree warns that vigild ignores them); they are read here for keepalived's
    /// complaints about their values only.
    fn refused_vs(&mut self, n: &Node) {
        if let Some(b) = &n.block
            && b.open == *n.loc()
        {
            let mut ignored = PendingVs::new(n.loc().clone(), PendingKey::Fwmark(0), None);
            self.read_block(&VIRTUAL_SERVER, &mut ignored, &b.children, "virtual_server");
        }
    }

    /// keepalived's `vs_end_handler`: the sorry server's family against the service's.
    fn vs_end(&mut self, vs: &mut PendingVs, end: &super::super::super::diag::Loc) {
        let tunnelled =
            |f: Option<super::ForwardMethod>| matches!(f, Some(super::ForwardMethod::Tun(_)));
        if let Some(s) = &vs.sorry
            && !tunnelled(s.forward)
        {
            let fam = super::super::fam(&s.addr);
            match vs.af {
                None => vs.af = Some(fam),
                Some(af) if af != fam => {
                    self.d.warn(
                        end,
                        format!(
                            "Address family of virtual server and sorry server {} don't match - skipping sorry server.",
                            s.addr
                        ),
                    );
                    vs.sorry = None;
                }
                _ => {}
            }
        }
        if vs.af.is_none() && !matches!(vs.key, PendingKey::Group(_)) {
            // Only tunnelled servers: their family if they agree, else IPv4.
            let mut fams = vs
                .sorry
                .iter()
                .map(|s| super::super::fam(&s.addr))
                .chain(vs.real_servers.iter().map(|r| super::super::fam(&r.addr)));
            let first = fams.next();
            vs.af = match first {
                Some(f) if fams.all(|g| g == f) => Some(f),
                _ => Some(Family::V4),
            };
        }
    }

    /// `virtual_server_group NAME { ADDR[-END|/MASK] [PORT] | fwmark N [inet|inet6] }`.
    pub(super) fn virtual_server_group(&mut self, n: &Node) {
        let Some(name) = self.need_name(n) else {
            return;
        };
        // keepalived hands its value reader a line whose first word is missing: a word
        // after the name, or a block without its `{`, ends in its missing-parameter exit
        // (where it would print the block's name).
        let no_open = n.block.as_ref().is_none_or(|b| b.open == *n.loc());
        if n.args.len() > 1 || no_open {
            self.d.push(
                Severity::Error,
                KaClass::Abort,
                n.loc(),
                format!(
                    "`virtual_server_group {name}`: {}: keepalived stops reading here (its message names a missing parameter)",
                    if no_open {
                        "no `{` line after it"
                    } else {
                        "words after the group's name"
                    }
                ),
            );
        }
        let mut g = PendingGroup {
            name,
            loc: n.loc().clone(),
            members: Vec::new(),
            have_v4: false,
            have_v6: false,
        };
        let mut fwmark_no_family = false;
        if let Some(b) = &n.block {
            for line in &b.children {
                if let Some(m) = self.group_entry(&g.name, line, &mut fwmark_no_family)
                    && self.item(line.loc())
                {
                    match &m {
                        GroupMember::Address { first, .. } => {
                            if first.is_ipv4() {
                                g.have_v4 = true
                            } else {
                                g.have_v6 = true
                            }
                        }
                        GroupMember::Fwmark { family, .. } => match family {
                            Some(Family::V4) => g.have_v4 = true,
                            Some(Family::V6) => g.have_v6 = true,
                            None => {}
                        },
                    }
                    g.members.push(m);
                }
            }
        }
        if g.members.is_empty() {
            self.d.warn(
                n.end(),
                format!("virtual server group {} has no entries - removing", g.name),
            );
            return;
        }
        if g.have_v4 && g.have_v6 && fwmark_no_family {
            self.d.warn(
                n.end(),
                format!(
                    "virtual server group {} cannot have IPv4, IPv6 and fwmark without family - removing",
                    g.name
                ),
            );
            return;
        }
        self.lvs.groups.push(g);
    }

    fn need_name(&mut self, n: &Node) -> Option<String> {
        match n.arg(0) {
            Some(s) => Some(s.to_string()),
            None => {
                self.missing_name(n);
                None
            }
        }
    }

    /// One line of a `virtual_server_group` (keepalived's `alloc_vsg_entry`).
    fn group_entry(
        &mut self,
        gname: &str,
        line: &Node,
        fwmark_no_family: &mut bool,
    ) -> Option<GroupMember> {
        let words: Vec<&str> = line.words().filter_map(|t| t.word()).collect();
        let loc = line.loc().clone();
        let first = *words.first()?;
        if first == "fwmark" {
            let Some(m) = words.get(1) else {
                self.d.push(
                    Severity::Error,
                    KaClass::Abort,
                    &loc,
                    "`fwmark` in a virtual_server_group is missing its value: *** Configuration line starting `fwmark` is missing a parameter (keepalived stops reading here)",
                );
                return None;
            };
            let mark = match ka_unsigned(m, 0, u64::from(u32::MAX)) {
                Ok(v) => v as u32,
                Err(why) => {
                    self.d.warn(
                        &loc,
                        format!(
                            "{why}: ({gname}): fwmark '{m}' must be in [0, {}] - ignoring",
                            u32::MAX
                        ),
                    );
                    return None;
                }
            };
            let family = match words.get(2) {
                None => {
                    *fwmark_no_family = true;
                    None
                }
                Some(&"inet") => Some(Family::V4),
                Some(&"inet6") => Some(Family::V6),
                Some(f) => {
                    self.d.warn(
                        &loc,
                        format!("({gname}): fwmark '{mark}' family {f} unknown - ignoring"),
                    );
                    return None;
                }
            };
            return Some(GroupMember::Fwmark { mark, family, loc });
        }
        let port = words.get(1).copied();
        let Ok((addr, port)) = ka_sockaddr(first, port) else {
            let p = port.filter(|p| !p.bytes().all(|b| b == b'0'));
            self.d.warn(
                &loc,
                format!(
                    "Invalid virtual server group IP address {first} {}{}{} - skipping",
                    if p.is_some() { "/port" } else { "" },
                    if p.is_some() { "/" } else { "" },
                    p.unwrap_or("")
                ),
            );
            return None;
        };
        let last = match self.group_range(first, addr, port) {
            Ok(l) => l,
            Err(msg) => {
                if !msg.is_empty() {
                    self.d.warn(&loc, msg);
                }
                return None;
            }
        };
        Some(GroupMember::Address {
            first: addr,
            last,
            port,
            loc,
        })
    }

    /// The last address of a group line: `/MASK`, `-END` (a whole address, or the last
    /// octet / 16-bit group), or the address itself. `Err` with keepalived's message
    /// (empty: it says nothing more).
    fn group_range(&mut self, text: &str, addr: IpAddr, port: u16) -> Result<IpAddr, String> {
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v) => u128::from(u32::from(v)),
                IpAddr::V6(v) => u128::from(v),
            }
        };
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let back = |v: u128| -> IpAddr {
            if addr.is_ipv4() {
                IpAddr::V4(Ipv4Addr::from(v as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(v))
            }
        };
        if let Some((_, mask)) = text.split_once('/') {
            let m = mask.parse::<u32>().ok().filter(|&m| m > 0 && m <= width);
            let Some(m) = m else {
                return Err(format!("Invalid netmask - {text} - skipping"));
            };
            if m == width {
                return Ok(addr);
            }
            // keepalived checks IPv6 by 16-bit groups, which comes to the same.
            let host = (1u128 << (width - m)) - 1;
            if bits(addr) & host != 0 {
                return Err(format!("Address mask bits not empty - {text} - skipping"));
            }
            return Ok(back(bits(addr) | host));
        }
        let Some((_, end)) = text.split_once('-') else {
            return Ok(addr);
        };
        let whole = if addr.is_ipv4() {
            end.contains('.')
        } else {
            end.contains(':')
        };
        if whole {
            let Ok((last, _)) = ka_sockaddr(end, Some(&port.to_string())) else {
                return Err(format!("Invalid range end {text} - skipping"));
            };
            if last.is_ipv4() != addr.is_ipv4() {
                return Err(format!(
                    "Range address families do not match {text} - skipping"
                ));
            }
            if bits(last) < bits(addr) {
                return Err(format!(
                    "Address range end is less than address range start - {text} - skipping"
                ));
            }
            return Ok(last);
        }
        // inet_stor: the last octet (decimal) or 16-bit group (hex).
        let (radix, max) = if addr.is_ipv4() {
            (10, 255)
        } else {
            (16, 0xffff)
        };
        let digits_end = end.find(|c: char| !c.is_digit(radix)).unwrap_or(end.len());
        let (digits, rest) = end.split_at(digits_end);
        let range = u128::from_str_radix(if digits.is_empty() { "0" } else { digits }, radix)
            .unwrap_or(u128::MAX);
        if !rest.is_empty() {
            // keepalived under -t reports it and skips the line.
            return Err(format!(
                "Virtual server group range '{text}' has extra characters at end '{rest}'"
            ));
        }
        if range > max {
            return Err(format!(
                "Virtual server group range '{text}' end '{end}' too large"
            ));
        }
        let unit = if addr.is_ipv4() { 0xff } else { 0xffff };
        let start = bits(addr) & unit;
        if start >= range {
            return Err(format!(
                "Address range end is not greater than address range start - {text} - skipping"
            ));
        }
        Ok(back((bits(addr) & !unit) | range))
    }

    /// `SSL { password ca certificate key }`.
    pub(super) fn ssl(&mut self, n: &Node) {
        if self.lvs.ssl.is_some() {
            self.d
                .warn(n.loc(), "SSL context already specified - replacing");
        }
        let mut ssl = SslClient::default();
        if let Some(b) = &n.block {
            self.read_block(&SSL, &mut ssl, &b.children, "SSL");
        }
        self.lvs.ssl = Some(ssl);
    }

    fn ssl_file(&mut self, n: &Node, slot: &mut Option<String>, what: &str) {
        self.no_block(n);
        if n.args.is_empty() {
            self.d.warn(n.loc(), format!("SSL {what} missing"));
            return;
        }
        if slot.is_some() {
            self.d
                .warn(n.loc(), format!("SSL {what} already specified - replacing"));
        }
        *slot = n.arg(0).map(str::to_string);
    }
}

pub(in crate::config::parse) static SSL: Table<SslClient> = Table {
    place: "in SSL",
    keywords: &[
        Keyword::read("password", |p, s, n| {
            p.ssl_file(n, &mut s.password, "password")
        }),
        Keyword::read("ca", |p, s, n| p.ssl_file(n, &mut s.ca, "cafile")),
        Keyword::read("certificate", |p, s, n| {
            p.ssl_file(n, &mut s.certificate, "certfile")
        }),
        Keyword::read("key", |p, s, n| p.ssl_file(n, &mut s.key, "keyfile")),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularity_masks_read_as_getaddrinfo_does() {
        assert_eq!(
            inet_aton("255.255.255.0"),
            Some(Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(inet_aton("255.255.0"), Some(Ipv4Addr::new(255, 255, 0, 0)));
        assert_eq!(
            inet_aton("0xffffff00"),
            Some(Ipv4Addr::new(255, 255, 255, 0))
        );
        assert_eq!(inet_aton("256.0.0.0"), None);
        assert_eq!(inet_aton("255.255.255.x"), None);
    }
}
