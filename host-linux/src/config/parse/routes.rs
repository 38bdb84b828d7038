//! Routes, rules and static addresses: `virtual_routes` / `virtual_rules` of a
//! `vrrp_instance`, and the top-level `static_ipaddress`, `static_routes`,
//! `static_rules` and `track_group` blocks.
//!
//! Each route or rule line is read word by word as keepalived 2.2.7 reads it
//! (`alloc_route` in vrrp_iproute.c, `alloc_rule` in vrrp_iprule.c), with its messages,
//! its corrections (protocol 18 for a tracked route or rule, no tracking without an
//! interface, a preference chosen for a rule without one) and its quirks (`inet6` also
//! swallows the next word; a lone `sport 80` is invalid). What keepalived drops is dropped
//! with its message as a warning; a keyword at the end of a line without its value stops
//! keepalived (`-t` exits 2). Names (tables, protocols, scopes, realms, dsfields, groups)
//! are looked up as keepalived does, in `/etc/iproute2/`. The daemon installs them
//! (`crate::net::routes`); only `track_group` gets a note (what names it is not removed
//! when its instances fail). `docs/config-routes.md` has the whole story.
//!
//! This module holds the blocks and route lines; rule lines are in `ip_rules`, the value
//! readers (C numbers, `/etc/iproute2` names, addresses) in `route_values`.

use super::super::diag::{KaClass, Loc, Severity};
use super::super::lexer::Token;
use super::super::model::*;
use super::instance::InstanceBlock;
use super::route_values::*;
use super::{Node, Parser, fam};
use std::net::IpAddr;
use vigil_core::wire::Family;

/// keepalived's first automatic rule preference (`RULE_START_PRIORITY`), counted down per
/// family for each rule written without one.
pub(super) const RULE_START_PRIORITY: u32 = 16384;

/// What vigild does not do of a `track_group` (docs/config-routes.md).
fn track_group_ignored(what: &str) -> String {
    format!(
        "`{what}` is read and checked, but vigild keeps static addresses, routes and rules installed whatever the group's instances do"
    )
}

/// The words of one line, read left to right with keepalived's index arithmetic.
pub(super) struct Words<'n> {
    pub(super) node: &'n Node,
    words: Vec<&'n Token>,
    pub(super) i: usize,
}

/// Why a line stopped being read: keepalived stopped reading the configuration (a
/// missing value, reported), or dropped the line (reported).
pub(super) enum Stop {
    Abort,
    Drop,
}

pub(super) type Step<T> = Result<T, Stop>;

impl<'n> Words<'n> {
    pub(super) fn new(node: &'n Node) -> Self {
        Words {
            node,
            words: node.words().collect(),
            i: 0,
        }
    }
    pub(super) fn len(&self) -> usize {
        self.words.len()
    }
    pub(super) fn word(&self, i: usize) -> &'n str {
        self.words[i].word().unwrap_or("")
    }
    pub(super) fn token(&self, i: usize) -> &'n Token {
        self.words[i.min(self.words.len() - 1)]
    }
    /// The current word.
    pub(super) fn cur(&self) -> &'n str {
        self.word(self.i)
    }
}

/// A family not yet settled (`None`, keepalived's AF_UNSPEC) or settled.
pub(super) type Fam = Option<Family>;

impl Parser<'_> {
    // ----- the blocks --------------------------------------------------------------------

    /// `virtual_routes { ... }` of an instance.
    pub(super) fn virtual_routes(&mut self, b: &mut InstanceBlock, n: &Node) {
        for c in self.route_block(n) {
            if let Some(r) = self.route(c, false)
                && self.item(c.loc())
            {
                b.inst.vroutes.push(r);
            }
        }
    }

    /// `virtual_rules { ... }` of an instance.
    pub(super) fn virtual_rules(&mut self, b: &mut InstanceBlock, n: &Node) {
        for c in self.route_block(n) {
            if let Some(r) = self.rule(c, false)
                && self.item(c.loc())
            {
                b.inst.vrules.push(r);
            }
        }
    }

    /// `static_routes { ... }`.
    pub(super) fn static_routes(&mut self, n: &Node) {
        for c in self.route_block(n) {
            if let Some(r) = self.route(c, true)
                && self.item(c.loc())
            {
                self.conf.static_routes.push(r);
            }
        }
    }

    /// `static_rules { ... }`.
    pub(super) fn static_rules(&mut self, n: &Node) {
        for c in self.route_block(n) {
            if let Some(r) = self.rule(c, true)
                && self.item(c.loc())
            {
                self.conf.static_rules.push(r);
            }
        }
    }

    /// `static_ipaddress { ... }`: the `virtual_ipaddress` syntax (read by the VIPs'
    /// reader, `track_group NAME` taken out first), with keepalived's checks for static
    /// addresses (the interface must exist; without `dev`, keepalived's default interface,
    /// eth0).
    pub(super) fn static_addresses(&mut self, n: &Node) {
        let Some(block) = &n.block else { return };
        let mut lines = n.clone();
        let mut groups: Vec<(Loc, String)> = Vec::new();
        let mut kept = Vec::new();
        for c in &block.children {
            let mut c = c.clone();
            if let Some(k) = c.args.iter().position(|t| t.word() == Some("track_group")) {
                let Some(name) = c.arg(k + 1).map(str::to_string) else {
                    self.d.warn(
                        &c.args[k].loc,
                        format!("No track_group parameter specified for {}", c.name()),
                    );
                    continue;
                };
                let at = c.args[k].loc.clone();
                c.args.drain(k..k + 2);
                if self.conf.static_track_groups.iter().any(|g| g.name == name) {
                    groups.push((c.loc().clone(), name));
                } else {
                    self.d.warn(&at, format!("track_group {name} not found"));
                }
            }
            kept.push(c);
        }
        if let Some(b) = &mut lines.block {
            b.children = kept;
        }
        for mut a in self.addresses(&lines, "") {
            let at = a.loc.clone();
            let shown = format!("{}/{}", a.addr, a.prefix_len);
            match &a.dev {
                Some(dev) if !self.route_interface(dev, &at) => {
                    self.d.warn(
                        &at,
                        format!("WARNING - interface {dev} for ip address {shown} doesn't exist"),
                    );
                    continue;
                }
                Some(_) => {}
                None if !interface_exists(DEFAULT_INTERFACE) => {
                    // keepalived's CONFIG_FATAL: it cannot run this (`-t` exits 4).
                    self.d.push(
                        Severity::Error,
                        KaClass::Fatal,
                        &at,
                        format!(
                            "Static address {shown} requires either an interface or default interface must exist"
                        ),
                    );
                    continue;
                }
                None => a.dev = Some(DEFAULT_INTERFACE.to_string()),
            }
            if a.addr.is_ipv6() {
                if a.scope.take().is_some() {
                    self.d.warn(
                        &at,
                        format!(
                            "Cannot specify scope for IPv6 addresses ({shown}) - ignoring scope"
                        ),
                    );
                }
                if a.label.take().is_some() {
                    self.d.warn(
                        &at,
                        format!(
                            "Cannot specify label for IPv6 addresses ({shown}) - ignoring label"
                        ),
                    );
                }
            }
            if a.flags.iter().any(|f| f == "use_vmac") {
                a.flags.retain(|f| f != "use_vmac");
                self.d.warn(
                    &at,
                    "Unknown configuration entry 'use_vmac' for ip address - ignoring",
                );
            }
            let track_group = groups.iter().find(|g| g.0 == at).map(|g| g.1.clone());
            self.conf.static_addresses.push(StaticAddress {
                addr: a,
                track_group,
            });
        }
    }

    /// `track_group NAME { group { INSTANCE ... } }`, for the `track_group` of static
    /// addresses, routes and rules.
    pub(super) fn track_group(&mut self, n: &Node) {
        let (Some(name), 1) = (n.arg(0), n.args.len()) else {
            self.d
                .warn(n.loc(), "track_group must have a name - skipping");
            return;
        };
        if self.conf.static_track_groups.iter().any(|g| g.name == name) {
            self.d
                .warn(n.loc(), format!("track_group {name} already defined"));
            return;
        }
        self.d.note(n.loc(), track_group_ignored(n.name()));
        let mut group = StaticTrackGroup {
            name: name.to_string(),
            instances: Vec::new(),
            loc: n.loc().clone(),
        };
        let mut listed = false;
        for c in n.block.as_ref().map_or(&[][..], |b| &b.children) {
            if c.name() != "group" {
                self.unknown(c, Some("track_group"));
                continue;
            }
            if listed {
                self.d.warn(
                    c.loc(),
                    format!("Group list already specified for sync group {name}"),
                );
                continue;
            }
            listed = true;
            let names: Vec<String> = c
                .block
                .as_ref()
                .map_or(&[][..], |b| &b.children)
                .iter()
                .flat_map(|l| l.words().filter_map(Token::word))
                .map(str::to_string)
                .collect();
            if names.is_empty() {
                self.d.warn(
                    c.loc(),
                    format!("Warning - track group {name} has empty group block"),
                );
            }
            group.instances = names;
        }
        if self.item(n.loc()) {
            self.conf.static_track_groups.push(group);
        }
    }

    /// The lines of a route / rule block,  keepalived accepts
    /// the keyword without a block silently.
    fn route_block<'n>(&mut self, n: &'n Node) -> &'n [Node] {
        match &n.block {
            Some(b) => &b.children,
            None => &[],
        }
    }

    // ----- shared readers ------------------------------------------------------------------

    /// The word after the current one (the current one's value); past the end of the line
    /// keepalived stops reading the configuration.
    pub(super) fn value<'n>(&mut self, w: &mut Words<'n>) -> Step<&'n str> {
        w.i += 1;
        if w.i < w.len() {
            return Ok(w.word(w.i));
        }
        self.d.push(
            Severity::Error,
            KaClass::Abort,
            w.node.loc(),
            format!(
                "*** Configuration line starting `{}` is missing a parameter after keyword `{}` at word position {}",
                w.word(0),
                w.word(w.i - 1),
                w.i + 1
            ),
        );
        Err(Stop::Abort)
    }

    /// keepalived drops the line, with its message.
    pub(super) fn drop_line(&mut self, w: &Words<'_>, msg: impl Into<String>) -> Stop {
        self.d.warn(&w.token(w.i).loc, msg);
        Stop::Drop
    }

    /// keepalived reports, and goes on.
    pub(super) fn report(&mut self, w: &Words<'_>, msg: impl Into<String>) {
        self.d.warn(&w.token(w.i).loc, msg);
    }

    /// keepalived's `get_u32` / `get_u8`: a decimal in `0..=max`, else `what` (with `%s`
    /// the word) and the line dropped.
    pub(super) fn get_uint(&mut self, w: &Words<'_>, s: &str, max: u64, what: &str) -> Step<u64> {
        match read_unsigned(s, 10, max) {
            Ok(v) => Ok(v),
            Err(why) => Err(self.drop_line(w, format!("{why}; {}", what.replace("%s", s)))),
        }
    }

    /// A metric with keepalived's optional `lock` before the value.
    fn metric<'n>(
        &mut self,
        w: &mut Words<'n>,
        kind: MetricKind,
        lockable: bool,
        read: impl FnOnce(&str) -> Result<u32, String>,
        what: &str,
    ) -> Step<RouteMetric> {
        let mut v = self.value(w)?;
        let mut locked = false;
        if lockable && v == "lock" {
            locked = true;
            v = self.value(w)?;
        }
        match read(v) {
            Ok(value) => Ok(RouteMetric {
                kind,
                value,
                locked,
            }),
            Err(why) => {
                let msg = what.replace("%s", v);
                let msg = if why.is_empty() {
                    msg
                } else {
                    format!("{why}; {msg}")
                };
                Err(self.drop_line(w, msg))
            }
        }
    }

    /// `dev` / `iif` / `oif`: the interface must exist, as keepalived checks without
    /// `dynamic_interfaces`.
    pub(super) fn interface_word(&mut self, w: &Words<'_>, name: &str, what: &str) -> Step<String> {
        if self.route_interface(name, &w.token(w.i).loc) {
            Ok(name.to_string())
        } else {
            Err(self.drop_line(
                w,
                format!("WARNING - interface {name} for {what} doesn't exist"),
            ))
        }
    }

    /// `track_group NAME` of a static route or rule: `Ok(false)` for a duplicate (keepalived
    /// stops reading the line there).
    pub(super) fn track_group_ref(
        &mut self,
        w: &mut Words<'_>,
        into: &mut Option<String>,
    ) -> Step<bool> {
        let name = self.value(w)?;
        if into.is_some() {
            self.report(w, format!("track_group {name} is a duplicate"));
            return Ok(false);
        }
        if self.conf.static_track_groups.iter().any(|g| g.name == name) {
            *into = Some(name.to_string());
        } else {
            self.report(w, format!("track_group {name} not found"));
        }
        Ok(true)
    }

    // ----- routes ----------------------------------------------------------------------

    /// One route line; `None` if keepalived drops it (reported).
    fn route(&mut self, n: &Node, statics: bool) -> Option<Route> {
        self.no_block(n);
        let mut w = Words::new(n);
        self.route_words(&mut w, statics).ok()
    }

    fn route_words(&mut self, w: &mut Words<'_>, statics: bool) -> Step<Route> {
        let mut r = Route {
            family: Family::V4,
            dst: RoutePrefix { addr: None, len: 0 },
            kind: RouteType::Unicast,
            kind_given: false,
            pref_src: None,
            from: None,
            via: None,
            dev: None,
            table: 254,
            scope: 0,
            scope_given: false,
            metric: None,
            protocol: None,
            tos: None,
            onlink: false,
            realms: None,
            expires: None,
            pref: None,
            metrics: Vec::new(),
            congctl: None,
            ecn: false,
            ttl_propagate: None,
            encap: None,
            mode: RouteMode::Prepend,
            vrf: None,
            nexthops: Vec::new(),
            no_track: false,
            track_group: None,
            loc: w.node.loc().clone(),
        };
        let mut family: Fam = None;
        let mut dst: Option<(RoutePrefix, &str)> = None;
        let mut nexthop = false;
        const MIX: &str = "Cannot mix IPv4 and IPv6 addresses for route";
        while w.i < w.len() {
            match w.cur() {
                // keepalived steps past the word after these too.
                "inet6" | "inet" => {
                    let f = if w.cur() == "inet6" {
                        Family::V6
                    } else {
                        Family::V4
                    };
                    if family.is_some_and(|x| x != f) {
                        let other = if f == Family::V6 { "IPv4" } else { "IPv6" };
                        return Err(
                            self.drop_line(w, format!("{} specified for {other} route", w.cur()))
                        );
                    }
                    family = Some(f);
                    w.i += 1;
                }
                "src" => {
                    let s = self.value(w)?;
                    let a = self.address(w, s, "invalid route src address")?;
                    self.same_family(w, &mut family, Some(fam(&a)), MIX)?;
                    r.pref_src = Some(a);
                }
                "as" => {
                    if self.value(w)? == "to" {
                        w.i += 1;
                    }
                    self.report(w, "\"as to\" for MPLS only - ignoring");
                }
                "via" | "gw" => {
                    if w.cur() == "gw" {
                        self.report(w, "\"gw\" for routes is deprecated. Please use \"via\"");
                    }
                    let mut s = self.value(w)?;
                    let f = match s {
                        "inet" => {
                            s = self.value(w)?;
                            Some(Family::V4)
                        }
                        "inet6" => {
                            s = self.value(w)?;
                            Some(Family::V6)
                        }
                        _ => family,
                    };
                    self.same_family(w, &mut family, f, MIX)?;
                    let a = self.address(w, s, "invalid route via address")?;
                    self.same_family(w, &mut family, Some(fam(&a)), MIX)?;
                    r.via = Some(a);
                }
                "from" => {
                    let s = self.value(w)?;
                    let (p, f) = self.prefix(w, s, "invalid route from address")?;
                    if f != Some(Family::V6) {
                        return Err(self.drop_line(
                            w,
                            format!("route from address only supported with IPv6 ({s})"),
                        ));
                    }
                    self.same_family(w, &mut family, f, MIX)?;
                    r.from = Some(p);
                }
                "tos" | "dsfield" => {
                    let s = self.value(w)?;
                    match lookup(s, "rt_dsfield", &[], 255) {
                        Some(v) => r.tos = Some(v as u8),
                        None => return Err(self.drop_line(w, format!("TOS value {s} is invalid"))),
                    }
                }
                "table" => {
                    let s = self.value(w)?;
                    match lookup(s, "rt_tables", TABLE_NAMES, u32::MAX) {
                        Some(v) => r.table = v,
                        None => {
                            return Err(
                                self.drop_line(w, format!("Routing table {s} not found for route"))
                            );
                        }
                    }
                }
                "protocol" => {
                    let s = self.value(w)?;
                    match lookup(s, "rt_protos", PROTO_NAMES, 255) {
                        Some(v) => r.protocol = Some(v as u8),
                        None => {
                            return Err(self.drop_line(
                                w,
                                format!("Protocol {s} not found or invalid for route"),
                            ));
                        }
                    }
                }
                "scope" => {
                    let s = self.value(w)?;
                    match lookup(s, "rt_scopes", SCOPE_NAMES, 255) {
                        Some(v) => {
                            r.scope = v as u8;
                            r.scope_given = true;
                        }
                        None => {
                            return Err(self.drop_line(
                                w,
                                format!("Scope {s} not found or invalid for route"),
                            ));
                        }
                    }
                }
                "metric" | "priority" | "preference" => {
                    let s = self.value(w)?;
                    let v = self.get_uint(
                        w,
                        s,
                        u32::MAX.into(),
                        "Invalid metric %s specified for route",
                    )?;
                    r.metric = Some(v as u32);
                }
                "dev" | "oif" => {
                    let s = self.value(w)?;
                    r.dev = Some(self.interface_word(w, s, "VROUTE nexthop")?);
                }
                "onlink" => r.onlink = true,
                "encap" => r.encap = self.encap(w)?,
                "expires" => {
                    if family == Some(Family::V4) {
                        w.i += 1;
                        return Err(self.drop_line(w, "expires is only valid for IPv6"));
                    }
                    family = Some(Family::V6);
                    let s = self.value(w)?;
                    let v = self.get_uint(
                        w,
                        s,
                        u32::MAX.into(),
                        "Invalid expires time %s specified for route",
                    )?;
                    r.expires = Some(v as u32);
                }
                "pref" => {
                    if family == Some(Family::V4) {
                        w.i += 1;
                        return Err(self.drop_line(w, "pref is only valid for IPv6"));
                    }
                    family = Some(Family::V6);
                    let s = self.value(w)?;
                    r.pref = Some(match s {
                        "low" => 3,
                        "medium" => 0,
                        "high" => 1,
                        _ => {
                            self.get_uint(w, s, 255, "Invalid pref value %s specified for route")?
                                as u8
                        }
                    });
                }
                "realms" => {
                    let s = self.value(w)?;
                    let Some(v) = realms(s) else {
                        return Err(self.drop_line(w, format!("Invalid realms {s} for route")));
                    };
                    if family == Some(Family::V6) {
                        return Err(self.drop_line(w, "realms are only valid for IPv4"));
                    }
                    family = Some(Family::V4);
                    r.realms = Some(v);
                }
                "features" => {
                    let s = self.value(w)?;
                    if s == "ecn" {
                        r.ecn = true;
                    } else {
                        self.report(w, format!("feature {s} not supported"));
                    }
                }
                "congctl" => {
                    let mut s = self.value(w)?;
                    let locked = s == "lock";
                    if locked {
                        s = self.value(w)?;
                    }
                    r.congctl = Some((s.to_string(), locked));
                }
                "ttl-propagate" => {
                    let s = self.value(w)?;
                    match s {
                        "enabled" => r.ttl_propagate = Some(true),
                        "disabled" => r.ttl_propagate = Some(false),
                        _ => self.report(w, format!("ttl-propagate value {s} not recognised")),
                    }
                }
                "add" => r.mode = RouteMode::Add,
                "prepend" => r.mode = RouteMode::Prepend,
                "append" => r.mode = RouteMode::Append,
                "or" => {
                    self.report(w, "\"or\" for routes is deprecated. Please use \"nexthop\"");
                    if !r.nexthops.is_empty() {
                        self.report(w, "\"or\" route already specified - ignoring subsequent");
                        w.i += 2;
                        continue;
                    }
                    r.nexthops.push(NextHop {
                        via: r.via.take(),
                        ..NextHop::default()
                    });
                    let s = self.value(w)?;
                    match parse_ipaddress(s, false) {
                        Ok((a, _, _)) => r.nexthops.push(NextHop {
                            via: Some(a),
                            ..NextHop::default()
                        }),
                        Err(e) => {
                            return Err(
                                self.drop_line(w, format!("{e}; Invalid \"or\" address {s}"))
                            );
                        }
                    }
                }
                "nexthop" => {
                    if r.nexthops.is_empty() {
                        nexthop = true;
                    } else {
                        self.report(w, "Cannot specify nexthops with \"or\" route");
                    }
                    break;
                }
                "no_track" => r.no_track = true,
                "track_group" if statics => {
                    if !self.track_group_ref(w, &mut r.track_group)? {
                        break;
                    }
                }
                "vrf" => {
                    // keepalived takes the VRF's table: looked up when the route is installed.
                    let s = self.value(w)?;
                    if !interface_exists(s) {
                        return Err(self.drop_line(w, format!("VRF {s} not found for route")));
                    }
                    if !is_vrf(s) {
                        return Err(
                            self.drop_line(w, format!("Route specified VRF {s} is not a VRF"))
                        );
                    }
                    r.vrf = Some(s.to_string());
                }
                word => {
                    if let Some(m) = self.route_metric(w, word) {
                        r.metrics.push(m?);
                    } else {
                        // The destination, maybe after `to` and a type (keepalived looks the
                        // type up in the word before `to`'s value: `to blackhole X` is no type).
                        let first = word;
                        if first == "to" {
                            w.i += 1;
                        }
                        if let Some(t) = route_type(first) {
                            r.kind = t;
                            r.kind_given = true;
                            w.i += 1;
                        }
                        if w.i >= w.len() {
                            w.i -= 1;
                            self.value(w)?;
                        }
                        let s = w.cur();
                        let (p, f) = self.prefix(w, s, "unknown route keyword")?;
                        self.same_family(w, &mut family, f, &format!("{MIX} ({s})"))?;
                        dst = Some((p, s));
                    }
                }
            }
            w.i += 1;
        }
        if nexthop {
            self.nexthops(w, &mut r, &mut family)?;
        } else if w.i < w.len() {
            let s = w.cur();
            return Err(self.drop_line(w, format!("Route has trailing nonsense - {s}")));
        }
        let Some((dst, dest)) = dst else {
            w.i = w.len() - 1;
            return Err(self.drop_line(w, "Route must have a destination"));
        };
        r.dst = dst;
        let at = w.node.loc();
        if !r.no_track {
            if r.protocol.is_some_and(|p| p != RTPROT_KEEPALIVED) {
                self.d.warn(
                    at,
                    format!(
                        "Route cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol"
                    ),
                );
            }
            r.protocol = Some(RTPROT_KEEPALIVED);
            if r.dev.is_none() {
                self.d.warn(
                    at,
                    format!(
                        "Warning - cannot track route {dest} with no interface specified, not tracking"
                    ),
                );
                r.no_track = true;
            }
        }
        if r.track_group.is_some() && r.dev.is_none() {
            self.d.warn(
                at,
                "Static route cannot have track group if no oif specified",
            );
            r.track_group = None;
        }
        r.family = family.unwrap_or(Family::V4);
        Ok(r)
    }

    /// The metrics keepalived reads (`mtu [lock] N`, `rtt [lock] TIME`...); `None`: `word`
    /// is not one.
    fn route_metric(&mut self, w: &mut Words<'_>, word: &str) -> Option<Step<RouteMetric>> {
        use MetricKind::*;
        let u32_max = |s: &str| read_unsigned(s, 10, u32::MAX.into()).map(|v| v as u32);
        let one = |s: &str| read_unsigned(s, 10, 1).map(|v| v as u32);
        Some(match word {
            "mtu" => self.metric(w, Mtu, true, u32_max, "Invalid MTU %s specified for route"),
            "hoplimit" => self.metric(
                w,
                Hoplimit,
                false,
                |s| read_unsigned(s, 10, 255).map(|v| v as u32),
                "Invalid hoplimit %s specified for route",
            ),
            "advmss" => self.metric(
                w,
                Advmss,
                true,
                u32_max,
                "Invalid advmss %s specified for route",
            ),
            "rtt" => self.metric(
                w,
                Rtt,
                true,
                |s| time_rtt(s, 8).ok_or_default(),
                "Invalid rtt %s for route",
            ),
            "rttvar" => self.metric(
                w,
                Rttvar,
                true,
                |s| time_rtt(s, 4).ok_or_default(),
                "Invalid rttvar %s for route",
            ),
            "rto_min" => self.metric(
                w,
                RtoMin,
                true,
                |s| time_rtt(s, 1).ok_or_default(),
                "Invalid rto_min value %s specified for route",
            ),
            "reordering" => self.metric(
                w,
                Reordering,
                true,
                u32_max,
                "Invalid reordering value %s specified for route",
            ),
            "window" => self.metric(
                w,
                Window,
                false,
                u32_max,
                "Invalid window value %s specified for route",
            ),
            "cwnd" => self.metric(
                w,
                Cwnd,
                true,
                u32_max,
                "Invalid cwnd value %s specified for route",
            ),
            "ssthresh" => self.metric(
                w,
                Ssthresh,
                true,
                u32_max,
                "Invalid ssthresh value %s specified for route",
            ),
            "initcwnd" => self.metric(
                w,
                Initcwnd,
                false,
                u32_max,
                "Invalid initcwnd value %s specified for route",
            ),
            "initrwnd" => self.metric(
                w,
                Initrwnd,
                false,
                u32_max,
                "Invalid initrwnd value %s specified for route",
            ),
            "quickack" => self.metric(
                w,
                Quickack,
                false,
                one,
                "Invalid quickack value %s specified for route",
            ),
            "fastopen_no_cookie" => self.metric(
                w,
                FastopenNoCookie,
                false,
                one,
                "Invalid fastopen_no_cookie value %s specified for route",
            ),
            _ => return None,
        })
    }

    /// `nexthop ...` to the end of the line (keepalived's `parse_nexthops`): a bad hop is
    /// reported and the rest of the line skipped, the route kept.
    fn nexthops(&mut self, w: &mut Words<'_>, r: &mut Route, family: &mut Fam) -> Step<()> {
        let mut hop_family: Fam = None;
        while w.i < w.len() && w.cur() == "nexthop" {
            w.i += 1;
            let mut nh = NextHop::default();
            while w.i < w.len() {
                match w.cur() {
                    "via" => {
                        let mut s = self.value(w)?;
                        if s == "inet" || s == "inet6" {
                            hop_family = Some(if s == "inet" { Family::V4 } else { Family::V6 });
                            s = self.value(w)?;
                        }
                        if let Some(f) = hop_family {
                            if family.is_none() {
                                *family = Some(f);
                            } else if *family != Some(f) {
                                self.report(w, "IPv4/6 mismatch for nexthop");
                                return Ok(());
                            }
                        }
                        let a = match parse_ipaddress(s, false) {
                            Ok((a, _, _)) => a,
                            Err(e) => {
                                self.report(w, format!("{e}; invalid nexthop address {s}"));
                                return Ok(());
                            }
                        };
                        if family.is_some_and(|f| f != fam(&a)) {
                            self.report(w, "Address family mismatch for next hop");
                            return Ok(());
                        }
                        *family = Some(fam(&a));
                        nh.via = Some(a);
                    }
                    "dev" => {
                        let s = self.value(w)?;
                        if !self.route_interface(s, &w.token(w.i).loc) {
                            self.report(
                                w,
                                format!("WARNING - interface {s} for VROUTE nexthop doesn't exist"),
                            );
                            return Ok(());
                        }
                        nh.dev = Some(s.to_string());
                    }
                    "weight" => {
                        let s = self.value(w)?;
                        match read_unsigned(s, 10, 256) {
                            Ok(0) => {
                                self.report(w, "Invalid weight 0 specified for route");
                                return Ok(());
                            }
                            Ok(v) => nh.weight = Some(v as u16),
                            Err(e) => {
                                self.report(
                                    w,
                                    format!("{e}; Invalid weight {s} specified for route"),
                                );
                                return Ok(());
                            }
                        }
                    }
                    "onlink" => nh.onlink = true,
                    "encap" => nh.encap = self.encap(w)?,
                    "realms" => {
                        let s = self.value(w)?;
                        let Some(v) = realms(s) else {
                            self.report(w, format!("Invalid realms {s} for route"));
                            return Ok(());
                        };
                        if family.is_none() {
                            *family = Some(Family::V4);
                        } else if *family != Some(Family::V4) {
                            self.report(w, "realms are only supported for IPv4");
                            return Ok(());
                        }
                        nh.realms = Some(v);
                    }
                    "as" => {
                        if self.value(w)? == "to" {
                            w.i += 1;
                        }
                        self.report(w, "'as [to]' (nat) not supported");
                        return Ok(());
                    }
                    _ => break,
                }
                w.i += 1;
            }
            r.nexthops.push(nh);
        }
        if w.i < w.len() {
            let s = w.cur();
            self.report(
                w,
                format!("Route has trailing nonsense after nexthops - {s}"),
            );
        }
        Ok(())
    }

    /// `encap TYPE ...` (keepalived's `parse_encap`): leaves `w.i` on the last word read.
    /// Its complaints do not drop the route; a bad option ends the encapsulation there and
    /// the rest of the line is read as route keywords, as keepalived does.
    fn encap(&mut self, w: &mut Words<'_>) -> Step<Option<Encap>> {
        if w.len() <= w.i + 1 {
            self.report(w, "Missing encap type");
            return Ok(None);
        }
        w.i += 1;
        let kind = w.cur();
        w.i += 1;
        let start = w.i;
        let ok = match kind {
            "ip" | "ip6" => self.encap_ip(w, kind == "ip6"),
            "mpls" | "ila" => {
                if w.i >= w.len() {
                    let what = if kind == "mpls" {
                        "missing address for MPLS encapsulation"
                    } else {
                        "missing locator for ILA encapsulation"
                    };
                    self.report(w, what);
                    false
                } else {
                    let s = w.cur();
                    w.i += 1;
                    let valid = if kind == "mpls" {
                        mpls_labels(s)
                    } else {
                        ila_locator(s)
                    };
                    if !valid {
                        let what = if kind == "mpls" {
                            format!("invalid mpls address {s} for encapsulation")
                        } else {
                            format!("invalid locator {s} for ila encapsulation")
                        };
                        self.report(w, what);
                    }
                    valid
                }
            }
            _ => {
                self.report(w, format!("Unknown encap type - {kind}"));
                // keepalived leaves its index after the type: the next word is skipped.
                return Ok(None);
            }
        };
        let words = (start..w.i.min(w.len()))
            .map(|i| w.word(i).to_string())
            .collect();
        w.i -= 1;
        Ok(ok.then(|| Encap {
            kind: kind.to_string(),
            words,
        }))
    }

    /// The `KEY VALUE` pairs of `encap ip` / `encap ip6`; whether they are valid.
    fn encap_ip(&mut self, w: &mut Words<'_>, v6: bool) -> bool {
        let (name, other) = if v6 { ("ip6", "IPv4") } else { ("ip", "IPv6") };
        let mut have = false;
        while w.i + 1 < w.len() {
            let (k, v) = (w.cur(), w.word(w.i + 1));
            let err = match k {
                "id" => {
                    have |= v.parse::<u64>().is_ok();
                    v.parse::<u64>()
                        .is_err()
                        .then(|| format!("encap id {v} value is invalid"))
                }
                "dst" | "src" => match parse_ipaddress(v, false) {
                    Ok((a, _, _)) if a.is_ipv6() == v6 => {
                        have |= k == "dst";
                        None
                    }
                    Ok(_) => Some(format!(
                        "{other} address {v} not valid for {name} encapsulation"
                    )),
                    Err(_) => Some(format!("Invalid encap {name} {k} {v}")),
                },
                "tos" if !v6 => lookup(v, "rt_dsfield", &[], 255)
                    .is_none()
                    .then(|| format!("dsfield {v} not valid for ip encapsulation")),
                "tc" if v6 => lookup(v, "rt_dsfield", &[], 255)
                    .is_none()
                    .then(|| format!("tc value {v} is invalid for ip6 encapsulation")),
                "ttl" if !v6 => read_unsigned(v, 10, 255)
                    .err()
                    .map(|_| format!("ttl {v} is not valid for ip encapsulation")),
                "hoplimit" if v6 => read_unsigned(v, 10, 255)
                    .err()
                    .map(|_| format!("Invalid hoplimit {v} specified for ip6 encapsulation")),
                "flags" => read_unsigned(v, 10, 65535)
                    .err()
                    .map(|_| format!("flags {v} is not valid for {name} encapsulation")),
                _ => break,
            };
            if let Some(e) = err {
                self.report(w, e);
                return false;
            }
            w.i += 2;
        }
        if !have {
            self.report(w, format!("address or id missing for {name} encapsulation"));
        }
        have
    }

    // ----- addresses ---------------------------------------------------------------------

    /// An address without a prefix (keepalived's `parse_ipaddress(.., false)`), else the
    /// line is dropped with `what`.
    pub(super) fn address(&mut self, w: &Words<'_>, s: &str, what: &str) -> Step<IpAddr> {
        match parse_ipaddress(s, false) {
            Ok((a, _, _)) => Ok(a),
            Err(e) => Err(self.drop_line(w, format!("{e}; {what} {s}"))),
        }
    }

    /// A prefix (keepalived's `parse_route`) and its family (`None` for `default`), else
    /// the line is dropped with `what`.
    pub(super) fn prefix(
        &mut self,
        w: &Words<'_>,
        s: &str,
        what: &str,
    ) -> Step<(RoutePrefix, Fam)> {
        match route_prefix(s) {
            Ok((p, f, note)) => {
                if let Some(note) = note {
                    self.report(w, note);
                }
                Ok((p, f))
            }
            Err(e) => Err(self.drop_line(w, format!("{e}; {what} {s}"))),
        }
    }

    /// keepalived's family check: `f` joins `family`, or the line is dropped with `msg`.
    pub(super) fn same_family(
        &mut self,
        w: &Words<'_>,
        family: &mut Fam,
        f: Fam,
        msg: &str,
    ) -> Step<()> {
        if family.is_none() {
            *family = f;
        } else if *family != f {
            return Err(self.drop_line(w, msg));
        }
        Ok(())
    }
}
