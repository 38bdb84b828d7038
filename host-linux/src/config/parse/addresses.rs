//! The lists and sub-blocks of a `vrrp_instance`: `virtual_ipaddress` (and `_excluded`)
//! with keepalived's `ip address` options, `unicast_peer`, and `authentication`.

use super::super::diag::Loc;
use super::super::keywords::{Keyword, SCOPES, Table};
use super::super::lexer::Token;
use super::super::model::{AuthConfig, AuthType, UnicastPeer, VirtualAddress};
use super::instance::InstanceBlock;
use super::values::ka_unsigned;
use super::{Node, Parser, fam};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
        // keepalived sets the instance's type and password themselves: a second block
        // changes only what it writes.
        let before = b.inst.auth_config.take();
        let mut a = AuthBlock {
            kind: before.as_ref().map(|c| c.kind),
            pass: before.and_then(|c| c.pass),
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
            let malformed = format!(
                "Configuration error: VRRP instance[{}] malformed unicast peer address[{{}}]. Skipping...",
                b.inst.name
            );
            let Some(addr) = self.ip(&p.key, &malformed) else {
                continue;
            };
            match b.family {
                None => b.family = Some(fam(&addr)),
                Some(f) if f != fam(&addr) => {
                    self.d.warn(
                        p.loc(),
                        format!(
                            "Configuration error: VRRP instance[{}] and unicast peer address[{}] MUST be of the same family !!! Skipping...",
                            b.inst.name,
                            p.name()
                        ),
                    );
                    continue;
                }
                Some(_) => {}
            }
            let mut peer = UnicastPeer {
                addr,
                min_ttl: None,
                max_ttl: None,
                loc: p.loc().clone(),
            };
            // keepalived: `OPTION VALUE` pairs; a missing value or an unknown option ends
            // the line, a bad number is skipped.
            for pair in p.args.chunks(2) {
                let opt = pair[0].word().unwrap_or("");
                let Some(val) = pair.get(1) else {
                    self.d
                        .warn(&pair[0].loc, format!("{ctx}{opt} is missing a value"));
                    break;
                };
                let x = match ka_unsigned(val.word().unwrap_or(""), 0, 255) {
                    Ok(x) => x,
                    Err(why) => {
                        self.d.warn(&val.loc, why);
                        continue;
                    }
                };
                match opt {
                    "min_ttl" => peer.min_ttl = Some(x as u8),
                    "max_ttl" => peer.max_ttl = Some(x as u8),
                    _ => {
                        self.d.warn(
                            &pair[0].loc,
                            format!("{ctx}unknown unicast_peer option {opt}"),
                        );
                        break;
                    }
                }
            }
            let (lo, hi) = (peer.min_ttl.unwrap_or(0), peer.max_ttl.unwrap_or(255));
            if lo > hi {
                self.d.warn(
                    p.loc(),
                    format!("{ctx}min_ttl {lo} > max_ttl {hi} - all packets will be discarded"),
                );
            }
            if !self.item(p.loc()) {
                break;
            }
            b.inst.unicast_peers.push(peer);
        }
    }

    /// `virtual_ipaddress` / `virtual_ipaddress_excluded` entries, read as keepalived's
    /// `alloc_ipaddress`: a malformed entry is dropped with its warning, a bad option is
    /// ignored with its warning, and the other entries stay.
    pub(super) fn addresses(&mut self, n: &Node, ctx: &str) -> Vec<VirtualAddress> {
        let mut out = Vec::new();
        let Some(children) = self.block_of(n) else {
            return out;
        };
        for c in children {
            self.no_block(c);
            let Some(v) = self.address_line(c, ctx) else {
                continue;
            };
            if !self.item(c.loc()) {
                break;
            }
            out.push(v);
        }
        out
    }

    /// One `ADDRESS[/LEN] [option...]` line.
    fn address_line(&mut self, c: &Node, ctx: &str) -> Option<VirtualAddress> {
        let text = c.name();
        let v6 = text.contains(':');
        let max: u8 = if v6 { 128 } else { 32 };
        let (a, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let mut prefix_len = max;
        if let Some(l) = len {
            match ka_unsigned(l, 0, u64::from(max)) {
                Ok(v) => prefix_len = v as u8,
                Err(why) => self.d.warn(
                    c.loc(),
                    format!(
                        "{why}: Invalid address prefix len {l} for address {text} - using {max}"
                    ),
                ),
            }
        }
        let parsed = if v6 {
            a.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
        } else {
            a.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
        };
        let Some(addr) = parsed else {
            self.d.warn(
                c.loc(),
                format!("VRRP parsed invalid IP {text}. skipping IP..."),
            );
            return None;
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
        // `brd +` / `brd -`: computed once the prefix (and a peer) are known.
        let mut brd_special = None;
        let mut have_brd = false;
        let mut k = 0;
        while k < c.args.len() {
            let opt_tok = &c.args[k];
            let opt = opt_tok.word().unwrap_or("");
            let takes_value = matches!(
                opt,
                "dev" | "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft"
            );
            if takes_value {
                let Some(val) = c.args.get(k + 1) else {
                    self.d.warn(
                        &opt_tok.loc,
                        format!("No {opt} parameter specified for {text}"),
                    );
                    return None;
                };
                let s = val.word().unwrap_or("").to_string();
                match opt {
                    "dev" => {
                        if v.dev.is_some() {
                            self.d.warn(
                                &opt_tok.loc,
                                format!(
                                    "Cannot specify ipaddress device more than once for {text}"
                                ),
                            );
                            return None;
                        }
                        v.dev = Some(s);
                    }
                    "label" => {
                        if s.len() >= 16 {
                            self.d.warn(
                                &val.loc,
                                format!("Address label {s} is longer than maximum length 15 - removing address"),
                            );
                            return None;
                        }
                        v.label = Some(s);
                    }
                    "scope" => {
                        if SCOPES.contains(&s.as_str()) || s.parse::<u8>().is_ok() {
                            v.scope = Some(s);
                        } else {
                            self.d.warn(
                                &val.loc,
                                format!("Invalid scope '{s}' specified for {text} - ignoring"),
                            );
                        }
                    }
                    "brd" | "broadcast" => {
                        if v6 {
                            self.d.warn(
                                &opt_tok.loc,
                                format!("VRRP is trying to assign a broadcast {opt} to the IPv6 address {text} !!?? WTF... skipping VIP..."),
                            );
                            return None;
                        }
                        have_brd = true;
                        match s.as_str() {
                            "+" | "-" => brd_special = Some(s == "+"),
                            _ => match s.parse::<Ipv4Addr>() {
                                Ok(b) => {
                                    brd_special = None;
                                    v.brd = Some(b);
                                }
                                Err(_) => {
                                    self.d.warn(
                                        &val.loc,
                                        format!("VRRP is trying to assign invalid broadcast {s}. skipping VIP..."),
                                    );
                                    return None;
                                }
                            },
                        }
                    }
                    "peer" => self.address_peer(&mut v, val, text, ctx, &opt_tok.loc),
                    _ => {
                        if s != "forever" && ka_unsigned(&s, 0, u64::from(u32::MAX)).is_err() {
                            self.d
                                .warn(&val.loc, format!("preferred_lft {s} is invalid"));
                        } else {
                            self.not_implemented(
                                &opt_tok.loc,
                                &format!("{ctx}`preferred_lft` of address {text}"),
                                "",
                            );
                            v.flags.push(format!("preferred_lft {s}"));
                        }
                    }
                }
                k += 2;
                continue;
            }
            match opt {
                "no_track" => {
                    v.no_track = true;
                    self.not_implemented(
                        &opt_tok.loc,
                        &format!("{ctx}`no_track` of address {text}"),
                        " (vigild does not watch its VIPs once added)",
                    );
                }
                "home" | "-nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin" | "use_vmac" => {
                    v.flags.push(opt.to_string());
                    self.not_implemented(
                        &opt_tok.loc,
                        &format!("{ctx}`{opt}` of address {text}"),
                        "",
                    );
                }
                _ => self.d.warn(
                    &opt_tok.loc,
                    format!("Unknown configuration entry '{opt}' for ip address - ignoring"),
                ),
            }
            k += 1;
        }
        if have_brd && v.peer.is_some() {
            self.d.warn(
                c.loc(),
                "Cannot specify broadcast and peer addresses - ignoring broadcast address",
            );
            v.brd = None;
        } else if let Some(plus) = brd_special {
            match (v.peer.unwrap_or(addr), v.prefix_len) {
                (IpAddr::V4(base), len) if len <= 30 => {
                    let host = u32::MAX >> len;
                    let base = u32::from(base);
                    v.brd = Some(Ipv4Addr::from(if plus {
                        base | host
                    } else {
                        base & !host
                    }));
                }
                (_, len) => self.d.warn(
                    c.loc(),
                    format!("Address prefix length {len} too long for broadcast"),
                ),
            }
        }
        if v6 {
            if v.scope
                .as_deref()
                .is_some_and(|s| s != "global" && s != "0")
            {
                self.d.warn(
                    c.loc(),
                    format!("Cannot specify scope for IPv6 addresses ({text}) - ignoring scope"),
                );
            }
            v.scope = None;
            if v.label.take().is_some() {
                self.d.warn(
                    c.loc(),
                    format!("Cannot specify label for IPv6 addresses ({text}) - ignoring label"),
                );
            }
        }
        Some(v)
    }

    /// `peer ADDRESS` of an address (keepalived's checks; vigild does not add peers).
    fn address_peer(
        &mut self,
        v: &mut VirtualAddress,
        val: &Token,
        text: &str,
        ctx: &str,
        at: &Loc,
    ) {
        let s = val.word().unwrap_or("");
        if v.peer.is_some() {
            self.d.warn(
                &val.loc,
                format!("Peer {s} - another peer has already been specified"),
            );
            return;
        }
        let Ok(p) = s.parse::<IpAddr>() else {
            self.d.warn(&val.loc, format!("Invalid peer address {s}"));
            return;
        };
        if p.is_ipv4() != v.addr.is_ipv4() {
            self.d.warn(
                &val.loc,
                format!("Peer address {s} does not match address family"),
            );
            return;
        }
        let max = if p.is_ipv4() { 32 } else { 128 };
        if v.prefix_len != max {
            self.d.warn(
                &val.loc,
                "Cannot specify address prefix when specifying peer address - ignoring",
            );
            v.prefix_len = max;
        }
        v.peer = Some(p);
        self.not_implemented(
            at,
            &format!("{ctx}`peer` of address {text}"),
            " (the address is added without a peer)",
        );
    }
}
