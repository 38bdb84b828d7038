//! The lists and sub-blocks of a `vrrp_instance`: `virtual_ipaddress` (and `_excluded`)
//! with keepalived's `ip address` options, `unicast_peer`, and `authentication`.

use super::super::keywords::{Keyword, SCOPES, Table};
use super::super::model::{AuthConfig, AuthType, UnicastPeer, VirtualAddress};
use super::instance::InstanceBlock;
use super::{Node, Parser};
use std::net::IpAddr;

/// An `authentication` block being read.
pub(super) struct AuthBlock {
    kind: Option<AuthType>,
    pass: Option<String>,
    /// The instance's `(NAME) `.
    ctx: String,
}

pub(super) static AUTHENTICATION: Table<AuthBlock> = Table {
    place: "in authentication",
    keywords: &[
        Keyword::read("auth_type", |p, a, n| {
            let Some(t) = p.need(n, 0) else { return };
            a.kind = match t.word().unwrap_or("") {
                "PASS" => Some(AuthType::Pass),
                "AH" => Some(AuthType::Ah),
                o => {
                    p.d.warn(
                        &t.loc,
                        format!("{}unknown authentication type '{o}'", a.ctx),
                    );
                    None
                }
            };
        }),
        Keyword::read("auth_pass", |p, a, n| {
            let Some(t) = p.need(n, 0) else { return };
            let mut pass = t.word().unwrap_or("").to_string();
            if pass.len() > 8 {
                p.d.warn(&t.loc, "Truncating auth_pass to 8 characters");
                let mut cut = 8;
                while !pass.is_char_boundary(cut) {
                    cut -= 1;
                }
                pass.truncate(cut);
            }
            a.pass = Some(pass);
        }),
    ],
};

impl Parser<'_> {
    pub(super) fn authentication(&mut self, b: &mut InstanceBlock, n: &Node) {
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut a = AuthBlock {
            kind: None,
            pass: None,
            ctx: b.ctx.clone(),
        };
        self.read_block(&AUTHENTICATION, &mut a, children, "authentication");
        if let Some(kind) = a.kind {
            b.inst.auth_config = Some(AuthConfig {
                kind,
                pass: a.pass,
                loc: n.loc().clone(),
            });
        }
    }

    /// `unicast_peer { ADDRESS [min_ttl N] [max_ttl N] ... }`.
    pub(super) fn unicast_peers(&mut self, b: &mut InstanceBlock, n: &Node) {
        let Some(children) = self.block_of(n) else {
            return;
        };
        let ctx = &b.ctx;
        for p in children {
            self.no_block(p);
            let Some(addr) = self.ip(&p.key, &format!("{ctx}unicast_peer")) else {
                continue;
            };
            let mut peer = UnicastPeer {
                addr,
                min_ttl: None,
                max_ttl: None,
                loc: p.loc().clone(),
            };
            let mut k = 0;
            while k < p.args.len() {
                match (p.arg(k), p.args.get(k + 1)) {
                    (Some(opt @ ("min_ttl" | "max_ttl")), Some(v)) => {
                        self.not_implemented(
                            &p.args[k].loc,
                            &format!("{ctx}`{opt}` of unicast peer {addr}"),
                            " (vigild accepts only adverts that arrive with TTL / hop limit 255)",
                        );
                        if let Some(x) = self.uint(v, opt, 0, 255, false) {
                            if opt == "min_ttl" {
                                peer.min_ttl = Some(x as u8);
                            } else {
                                peer.max_ttl = Some(x as u8);
                            }
                        }
                        k += 2;
                    }
                    (o, _) => {
                        self.d.warn(
                            &p.args[k].loc,
                            format!("{ctx}unknown unicast_peer option {}", o.unwrap_or("")),
                        );
                        k += 1;
                    }
                }
            }
            if !self.item(p.loc()) {
                break;
            }
            b.inst.unicast_peers.push(peer);
        }
    }

    /// `virtual_ipaddress` / `virtual_ipaddress_excluded` entries.
    pub(super) fn addresses(&mut self, n: &Node, ctx: &str) -> Vec<VirtualAddress> {
        let mut out = Vec::new();
        let Some(children) = self.block_of(n) else {
            return out;
        };
        for c in children {
            self.no_block(c);
            let text = c.name();
            let (a, len) = match text.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (text, None),
            };
            let Ok(addr) = a.parse::<IpAddr>() else {
                self.d.error(
                    c.loc(),
                    format!("{ctx}invalid IP address `{text}` in {}", n.name()),
                );
                continue;
            };
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix_len = match len {
                None => max,
                Some(l) => match l.parse::<u8>() {
                    Ok(v) if v <= max => v,
                    _ => {
                        self.d.warn(
                            c.loc(),
                            format!(
                                "Invalid address prefix len {l} for address {text} - using {max}"
                            ),
                        );
                        max
                    }
                },
            };
            let mut v = VirtualAddress {
                addr,
                prefix_len,
                dev: None,
                label: None,
                scope: None,
                brd: None,
                peer: None,
                no_track: false,
                flags: Vec::new(),
                loc: c.loc().clone(),
            };
            let mut k = 0;
            while k < c.args.len() {
                let opt = c.arg(k).unwrap_or("");
                let val = c.args.get(k + 1);
                match opt {
                    "dev" | "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft" => {
                        let Some(val) = val else {
                            self.d.warn(
                                &c.args[k].loc,
                                format!("{ctx}`{opt}` is missing a value for address {text}"),
                            );
                            break;
                        };
                        let s = val.word().unwrap_or("").to_string();
                        match opt {
                            "dev" => v.dev = Some(s),
                            "label" => v.label = Some(s),
                            "scope" => {
                                if SCOPES.contains(&s.as_str()) || s.parse::<u8>().is_ok() {
                                    v.scope = Some(s);
                                } else {
                                    self.d.warn(
                                        &val.loc,
                                        format!(
                                            "Invalid scope '{s}' specified for {text} - ignoring"
                                        ),
                                    );
                                }
                            }
                            "brd" | "broadcast" => match s.parse() {
                                Ok(b) if addr.is_ipv4() => v.brd = Some(b),
                                _ => self.d.warn(
                                    &val.loc,
                                    format!(
                                        "Invalid broadcast address '{s}' for {text} - ignoring"
                                    ),
                                ),
                            },
                            "peer" => match s.parse() {
                                Ok(p) => {
                                    v.peer = Some(p);
                                    self.not_implemented(
                                        &c.args[k].loc,
                                        &format!("{ctx}`peer` of address {text}"),
                                        " (the address is added without a peer)",
                                    );
                                }
                                Err(_) => self.d.warn(
                                    &val.loc,
                                    format!("Invalid peer address '{s}' for {text} - ignoring"),
                                ),
                            },
                            _ => {
                                self.not_implemented(
                                    &c.args[k].loc,
                                    &format!("{ctx}`preferred_lft` of address {text}"),
                                    "",
                                );
                                v.flags.push(format!("preferred_lft {s}"));
                            }
                        }
                        k += 2;
                    }
                    "no_track" => {
                        v.no_track = true;
                        self.not_implemented(
                            &c.args[k].loc,
                            &format!("{ctx}`no_track` of address {text}"),
                            " (vigild does not watch its VIPs once added)",
                        );
                        k += 1;
                    }
                    "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                    | "use_vmac" | "track_group" => {
                        v.flags.push(opt.to_string());
                        self.not_implemented(
                            &c.args[k].loc,
                            &format!("{ctx}`{opt}` of address {text}"),
                            "",
                        );
                        k += 1;
                    }
                    _ => {
                        self.d.warn(
                            &c.args[k].loc,
                            format!(
                                "Unknown configuration entry '{opt}' for ip address - ignoring"
                            ),
                        );
                        k += 1;
                    }
                }
            }
            if !self.item(c.loc()) {
                break;
            }
            out.push(v);
        }
        out
    }
}
