//! One line of `virtual_rules` / `static_rules`, read word by word as keepalived 2.2.7's
//! `alloc_rule` (vrrp_iprule.c) reads it; the blocks and the shared readers are in
//! `routes`.

use super::super::model::*;
use super::route_values::{
    TABLE_NAMES, fwmark, ip_proto, lookup, read_unsigned, realms, route_type, scan_range,
};
use super::routes::{Fam, Step, Words};
use super::{Node, Parser};
use vigil_core::wire::Family;

impl Parser<'_> {
    /// One rule line; `None` if keepalived drops it (reported).
    pub(super) fn rule(&mut self, n: &Node, statics: bool) -> Option<Rule> {
        self.no_block(n);
        let mut w = Words::new(n);
        self.rule_words(&mut w, statics).ok()
    }

    fn rule_words(&mut self, w: &mut Words<'_>, statics: bool) -> Step<Rule> {
        let mut r = Rule {
            family: Family::V4,
            from: None,
            to: None,
            invert: false,
            action: RuleAction::Nop,
            priority: 0,
            priority_given: false,
            tos: None,
            fwmark: None,
            realms: None,
            suppress_prefixlen: None,
            suppress_group: None,
            iif: None,
            oif: None,
            tunnel_id: None,
            uid_range: None,
            protocol: None,
            ip_proto: None,
            sport: None,
            dport: None,
            no_track: false,
            track_group: None,
            loc: w.node.loc().clone(),
        };
        let mut family: Fam = None;
        let mut action: Option<RuleAction> = None;
        let mut table_option = false;
        const MIXED: &str = "rule specification has mixed IPv4 and IPv6";
        const MORE: &str =
            "Cannot specify more than one of table/nop/goto/blackhole/prohibit/unreachable";
        while w.i < w.len() {
            let word = w.cur();
            match word {
                "inet6" | "inet" => {
                    let f = if word == "inet6" {
                        Family::V6
                    } else {
                        Family::V4
                    };
                    if family.is_some_and(|x| x != f) {
                        let other = if f == Family::V6 { "IPv4" } else { "IPv6" };
                        return Err(self.drop_line(w, format!("{word} specified for {other} rule")));
                    }
                    family = Some(f);
                    w.i += 1;
                }
                "from" | "to" => {
                    let s = self.value(w)?;
                    let (p, f) = self.prefix(w, s, &format!("Invalid rule {word} address"))?;
                    if family.is_none() {
                        family = f;
                    } else if f != family {
                        return Err(self.drop_line(w, MIXED));
                    }
                    if word == "from" {
                        r.from = Some(p);
                    } else {
                        r.to = Some(p);
                    }
                }
                "table" | "lookup" => {
                    let s = self.value(w)?;
                    let Some(t) = lookup(s, "rt_tables", TABLE_NAMES, u32::MAX) else {
                        return Err(
                            self.drop_line(w, format!("Routing table {s} not found for rule"))
                        );
                    };
                    if t == 0 {
                        return Err(self.drop_line(w, "Table 0 is not valid"));
                    }
                    if action.is_some() {
                        return Err(self.drop_line(w, format!("{MORE} for rule")));
                    }
                    action = Some(RuleAction::Table(t));
                }
                "not" => r.invert = true,
                "preference" | "order" | "priority" => {
                    let s = self.value(w)?;
                    match read_unsigned(s, 0, u32::MAX.into()) {
                        Ok(v) => {
                            r.priority = v as u32;
                            r.priority_given = true;
                        }
                        Err(e) => {
                            return Err(self.drop_line(
                                w,
                                format!("{e}; Invalid rule preference {word} specified"),
                            ));
                        }
                    }
                }
                "tos" | "dsfield" => {
                    let s = self.value(w)?;
                    match lookup(s, "rt_dsfield", &[], 255) {
                        Some(v) => r.tos = Some(v as u8),
                        None => return Err(self.drop_line(w, format!("TOS value {s} is invalid"))),
                    }
                }
                "fwmark" => {
                    let s = self.value(w)?;
                    match fwmark(s) {
                        Some(m) => r.fwmark = Some(m),
                        None => {
                            return Err(
                                self.drop_line(w, format!("Invalid rule fwmark {s} specified"))
                            );
                        }
                    }
                }
                "realms" => {
                    let s = self.value(w)?;
                    let Some(v) = realms(s) else {
                        return Err(self.drop_line(w, format!("invalid realms {s} for rule")));
                    };
                    r.realms = Some(v);
                    table_option = true;
                    if family.is_none() {
                        family = Some(Family::V4);
                    } else if family != Some(Family::V4) {
                        return Err(self.drop_line(w, "realms is only valid for IPv4"));
                    }
                }
                "suppress_prefixlength" | "sup_pl" => {
                    let s = self.value(w)?;
                    match read_unsigned(s, 10, i32::MAX as u64) {
                        Ok(v) => r.suppress_prefixlen = Some(v as u32),
                        Err(e) => {
                            return Err(self.drop_line(
                                w,
                                format!("{e}; Invalid suppress_prefixlength {word} specified"),
                            ));
                        }
                    }
                    table_option = true;
                }
                "suppress_ifgroup" | "sup_group" => {
                    let s = self.value(w)?;
                    match lookup(s, "group", &[], i32::MAX as u32) {
                        Some(v) => r.suppress_group = Some(v),
                        None => {
                            return Err(self.drop_line(w, format!("suppress_group {s} is invalid")));
                        }
                    }
                    table_option = true;
                }
                "dev" | "iif" | "oif" => {
                    let s = self.value(w)?;
                    let name = self.interface_word(w, s, "rule")?;
                    if word == "oif" {
                        r.oif = Some(name);
                    } else {
                        r.iif = Some(name);
                    }
                }
                "tunnel-id" => {
                    let s = self.value(w)?;
                    match read_unsigned(s, 10, u64::MAX) {
                        Ok(v) => r.tunnel_id = Some(v),
                        Err(e) => {
                            return Err(self
                                .drop_line(w, format!("{e}; Invalid tunnel-id {word} specified")));
                        }
                    }
                }
                "uidrange" => {
                    let s = self.value(w)?;
                    match scan_range(s, u32::MAX.into()) {
                        Some((a, b)) => r.uid_range = Some((a as u32, b as u32)),
                        None => {
                            return Err(
                                self.drop_line(w, format!("Invalid uidrange {word} specified"))
                            );
                        }
                    }
                }
                "l3mdev" => {
                    if action.is_some() {
                        return Err(self.drop_line(w, "Cannot specify l3mdev with other action"));
                    }
                    action = Some(RuleAction::L3mdev);
                }
                "protocol" => {
                    let s = self.value(w)?;
                    match read_unsigned(s, 10, 255) {
                        Ok(v) => r.protocol = Some(v as u8),
                        Err(e) => self.report(w, format!("{e}; Invalid protocol {s}")),
                    }
                }
                "ipproto" => {
                    let s = self.value(w)?;
                    match ip_proto(s) {
                        Some(p) => r.ip_proto = Some(p),
                        None => self.report(w, format!("Invalid ipproto {s}")),
                    }
                }
                "sport" | "dport" => {
                    let s = self.value(w)?;
                    match scan_range(s, u16::MAX.into()) {
                        Some((a, b)) => {
                            let range = Some((a as u16, b as u16));
                            if word == "sport" {
                                r.sport = range;
                            } else {
                                r.dport = range;
                            }
                        }
                        None => self.report(w, format!("invalid {word} range {s}")),
                    }
                }
                "no_track" => r.no_track = true,
                "track_group" if statics => {
                    if !self.track_group_ref(w, &mut r.track_group)? {
                        break;
                    }
                }
                _ => {
                    let name = if word == "type" { self.value(w)? } else { word };
                    let a = match name {
                        "goto" => {
                            let s = self.value(w)?;
                            match read_unsigned(s, 10, u32::MAX.into()) {
                                Ok(v) => RuleAction::Goto(v as u32),
                                Err(e) => {
                                    return Err(self.drop_line(
                                        w,
                                        format!("{e}; Invalid target {name} specified"),
                                    ));
                                }
                            }
                        }
                        "nop" => RuleAction::Nop,
                        _ => match route_type(name) {
                            Some(RouteType::Blackhole) => RuleAction::Blackhole,
                            Some(RouteType::Unreachable) => RuleAction::Unreachable,
                            Some(RouteType::Prohibit) => RuleAction::Prohibit,
                            Some(_) => {
                                return Err(
                                    self.drop_line(w, format!("Invalid rule action {name}"))
                                );
                            }
                            None => {
                                return Err(
                                    self.drop_line(w, format!("Unknown rule option {name}"))
                                );
                            }
                        },
                    };
                    if action.is_some() {
                        return Err(self.drop_line(w, format!("{MORE}/l3mdev for rule")));
                    }
                    action = Some(a);
                }
            }
            w.i += 1;
        }
        w.i = w.len() - 1;
        if let Some(RuleAction::Goto(target)) = action {
            if !r.priority_given {
                return Err(self.drop_line(
                    w,
                    format!("Invalid rule - goto target {target} specified without preference"),
                ));
            }
            if r.priority >= target {
                return Err(self.drop_line(
                    w,
                    format!(
                        "Invalid rule - preference {} >= goto target {target}",
                        r.priority
                    ),
                ));
            }
        }
        let Some(action) = action else {
            return Err(self.drop_line(w, "No action specified for rule - ignoring"));
        };
        if table_option && !matches!(action, RuleAction::Table(_) | RuleAction::L3mdev) {
            return Err(self.drop_line(
                w,
                "suppressor/realm specified for non table action - skipping",
            ));
        }
        r.action = action;
        let at = w.node.loc();
        if !r.no_track {
            if r.protocol.is_some_and(|p| p != RTPROT_KEEPALIVED) {
                self.d.warn(
                    at,
                    format!(
                        "Rule cannot be tracked if protocol is not RTPROT_KEEPALIVED({RTPROT_KEEPALIVED}), resetting protocol"
                    ),
                );
            }
            r.protocol = Some(RTPROT_KEEPALIVED);
        }
        if r.track_group.is_some() && r.iif.is_none() {
            self.d.warn(
                at,
                "Static rule cannot have track_group if dev/iif not specified",
            );
            r.track_group = None;
        }
        r.family = family.unwrap_or(Family::V4);
        if !r.priority_given {
            let next = &mut self.rule_priority[usize::from(r.family == Family::V6)];
            r.priority = *next;
            *next = next.saturating_sub(1);
            self.d.warn(
                at,
                format!(
                    "Rule has no preference specified - setting to {}. This is probably not what you want.",
                    r.priority
                ),
            );
        }
        Ok(r)
    }
}
