//! `real_server` blocks, `sorry_server` and the forwarding methods (keepalived's
//! `alloc_rs`, `rs_*_handler`, `alloc_ssvr`, `svr_forwarding_handler`).

use super::super::super::keywords::{Keyword, Table};
use super::super::super::lvs::{ForwardMethod, TunnelChecksum, TunnelType};
use super::super::values::ka_unsigned;
use super::super::{Node, Parser};
use super::{PendingRs, PendingSorry, PendingVs, WEIGHT_LIMIT, ka_sockaddr};

/// A `real_server` being read, and the service it belongs to (for messages).
pub(in crate::config::parse) struct RsBlock {
    pub rs: PendingRs,
    /// keepalived's `(%s)` before messages: the group name, or `(null)`.
    pub vs_name: String,
}

pub(in crate::config::parse) static REAL_SERVER: Table<RsBlock> = Table {
    place: "in real_server",
    keywords: &[
        Keyword::read("weight", |p, b, n| {
            let then = format!(
                "Real server weight {} is outside range 0-{WEIGHT_LIMIT}",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_uint(n, 0, WEIGHT_LIMIT, &then) {
                b.rs.weight = Some(v as u32);
            }
        }),
        Keyword::read("lvs_method", |p, b, n| {
            let mut method = b.rs.forward.unwrap_or_default();
            if p.forwarding(n, "real", &mut method) {
                b.rs.forward = Some(method);
            }
        }),
        Keyword::read("uthreshold", |p, b, n| {
            let then = format!(
                "Invalid real_server uthreshold '{}' - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
                b.rs.uthreshold = v as u32;
            }
        }),
        Keyword::read("lthreshold", |p, b, n| {
            let then = format!(
                "Invalid real_server lthreshold '{}' - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
                b.rs.lthreshold = v as u32;
            }
        }),
        Keyword::read("inhibit_on_failure", |p, b, n| {
            if let Some(v) = p.lvs_bool(n, "inhibit_on_failure") {
                b.rs.inhibit = Some(v);
            }
        }),
        Keyword::read("notify_up", |p, b, n| {
            let ctx = format!("({}) ", b.vs_name);
            p.notify(&mut b.rs.notify_up, n, &ctx);
        }),
        Keyword::read("notify_down", |p, b, n| {
            let ctx = format!("({}) ", b.vs_name);
            p.notify(&mut b.rs.notify_down, n, &ctx);
        }),
        Keyword::read("alpha", |p, b, n| {
            if let Some(v) = p.lvs_bool(n, "alpha") {
                b.rs.alpha = Some(v);
            }
        }),
        Keyword::read("retry", |p, b, n| {
            let then = format!("retry value invalid - {}", n.arg(0).unwrap_or(""));
            if let Some(v) = p.lvs_uint(n, 1, u64::from(u32::MAX), &then) {
                b.rs.retry = Some(v as u32);
            }
        }),
        Keyword::read("delay_before_retry", |p, b, n| {
            let then = format!(
                "real server delay_before_retry '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
                b.rs.delay_before_retry = Some(v);
            }
        }),
        Keyword::read("warmup", |p, b, n| {
            let then = format!(
                "real server warmup '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
                b.rs.warmup = Some(v);
            }
        }),
        Keyword::read("connect_timeout", |p, b, n| {
            let then = format!(
                "real server connect_timeout {} invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 1, u64::from(u32::MAX), &then) {
                b.rs.connect_timeout = Some(v);
            }
        }),
        Keyword::read("delay_loop", |p, b, n| {
            let then = format!(
                "real server delay_loop '{}' invalid - ignoring",
                n.arg(0).unwrap_or("")
            );
            if let Some(v) = p.lvs_timer(n, 1, 0, &then) {
                b.rs.delay_loop = Some(v);
            }
        }),
        Keyword::read("smtp_alert", |p, b, n| {
            if let Some(v) = p.lvs_bool(n, "real_server smtp_alert") {
                b.rs.smtp_alert = Some(v);
            }
        }),
        Keyword::read("virtualhost", |p, b, n| {
            if let Some(v) = p.lvs_string(n, "real server virtualhost missing") {
                b.rs.virtualhost = Some(v);
            }
        }),
        Keyword::ignored("snmp_name"),
        Keyword::read("HTTP_GET", |p, b, n| p.http_check(&mut b.rs, n, false)),
        Keyword::read("SSL_GET", |p, b, n| p.http_check(&mut b.rs, n, true)),
        Keyword::read("TCP_CHECK", |p, b, n| p.tcp_check(&mut b.rs, n)),
        Keyword::read("MISC_CHECK", |p, b, n| p.misc_check(&mut b.rs, n)),
        Keyword::read("DNS_CHECK", |p, b, n| p.dns_check(&mut b.rs, n)),
        Keyword::read("SMTP_CHECK", |p, b, n| p.smtp_check(&mut b.rs, n)),
        Keyword::read("UDP_CHECK", |p, b, n| p.udp_check(&mut b.rs, n)),
        Keyword::read("PING_CHECK", |p, b, n| p.ping_check(&mut b.rs, n)),
        Keyword::read("FILE_CHECK", |p, b, n| p.file_check(&mut b.rs, n)),
        // vigild has no BFD (`bfd_instance` is ignored too).
        Keyword::ignored("BFD_CHECK"),
    ],
};

/// keepalived's `(%s)` for a service: its group name, or `(null)`.
fn vs_name(vs: &PendingVs) -> String {
    match &vs.key {
        super::PendingKey::Group(g) => g.clone(),
        _ => "(null)".to_string(),
    }
}

impl PendingVs {
    /// An address of the service's family (for a real server read only for its
    /// diagnostics).
    fn af_addr(&self) -> std::net::IpAddr {
        match self.af {
            Some(vigil_core::wire::Family::V6) => std::net::Ipv6Addr::UNSPECIFIED.into(),
            _ => std::net::Ipv4Addr::UNSPECIFIED.into(),
        }
    }
}

impl PendingRs {
    /// A real server as keepalived's `alloc_rs` starts it: `forward` is the service's
    /// method as it is when the line is read (keepalived copies it then).
    pub(super) fn new(
        loc: super::super::super::diag::Loc,
        addr: std::net::IpAddr,
        port: u16,
        forward: Option<ForwardMethod>,
    ) -> Self {
        PendingRs {
            loc,
            addr,
            port,
            port_written: port,
            weight: None,
            forward,
            uthreshold: 0,
            lthreshold: 0,
            inhibit: None,
            notify_up: None,
            notify_down: None,
            alpha: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            connect_timeout: None,
            delay_loop: None,
            smtp_alert: None,
            virtualhost: None,
            checkers: Vec::new(),
        }
    }
}

impl Parser<'_> {
    /// `real_server IP [PORT] { ... }` (a bad address or port has its block skipped by
    /// the tree, with keepalived's warning here).
    pub(super) fn real_server(&mut self, vs: &mut PendingVs, n: &Node) {
        let Some(ip) = self.block_arg(n, 0) else {
            return;
        };
        let ip = ip.word().unwrap_or("").to_string();
        let port = n.arg(1);
        let Ok((addr, port)) = ka_sockaddr(&ip, port) else {
            self.d.warn(
                n.loc(),
                format!(
                    "Invalid real server ip address/port {ip}/{} - skipping",
                    port.unwrap_or("(null)")
                ),
            );
            // Without its `{` keepalived reads the lines after it for the real server
            // before (the tree warns that vigild ignores them): read for keepalived's
            // complaints about their values only.
            if let Some(bl) = &n.block
                && bl.open == *n.loc()
            {
                let mut ignored = RsBlock {
                    rs: PendingRs::new(n.loc().clone(), vs.af_addr(), 0, vs.forward),
                    vs_name: vs_name(vs),
                };
                self.read_block(&REAL_SERVER, &mut ignored, &bl.children, "real_server");
            }
            return;
        };
        let mut b = RsBlock {
            rs: PendingRs::new(n.loc().clone(), addr, port, vs.forward),
            vs_name: vs_name(vs),
        };
        if let Some(bl) = &n.block {
            self.read_block(&REAL_SERVER, &mut b, &bl.children, "real_server");
        }
        let rs = b.rs;
        // keepalived's `rs_end_handler`: a non-tunnelled server of the other family is
        // dropped.
        if !matches!(rs.forward, Some(ForwardMethod::Tun(_))) {
            let fam = super::super::fam(&rs.addr);
            match vs.af {
                None => vs.af = Some(fam),
                Some(af) if af != fam => {
                    self.d.warn(
                        n.end(),
                        format!(
                            "Address family of virtual server and real server {} don't match - skipping real server.",
                            rs.addr
                        ),
                    );
                    return;
                }
                _ => {}
            }
        }
        if self.lvs_item(&rs.loc) {
            vs.real_servers.push(rs);
        }
    }

    /// `sorry_server IP [PORT]`.
    pub(super) fn sorry_server(&mut self, vs: &mut PendingVs, n: &Node) {
        let Some(ip) = self.need(n, 0) else { return };
        let ip = ip.word().unwrap_or("").to_string();
        match ka_sockaddr(&ip, n.arg(1)) {
            Ok((addr, port)) => {
                vs.sorry = Some(PendingSorry {
                    addr,
                    port,
                    forward: vs.forward,
                    inhibit: false,
                })
            }
            Err(()) => self.d.warn(
                n.loc(),
                format!("Invalid sorry server IP address {ip} - skipping"),
            ),
        }
    }

    /// `lb_kind` / `lvs_method` / `sorry_server_lvs_method`: `NAT | DR | TUN [type
    /// ipip|gue|gre] [port N] [nocsum|csum|remcsum]` (keepalived's
    /// `svr_forwarding_handler`). Whether `method` was set.
    pub(super) fn forwarding(&mut self, n: &Node, who: &str, method: &mut ForwardMethod) -> bool {
        let Some(t) = self.need(n, 0) else {
            return false;
        };
        let kind = t.word().unwrap_or("");
        let base = match kind {
            "NAT" => ForwardMethod::Nat,
            "DR" => ForwardMethod::Dr,
            "TUN" => ForwardMethod::Tun(TunnelType::Ipip),
            _ => {
                self.d.warn(
                    &t.loc,
                    format!("PARSER : unknown [{kind}] routing method for {who} server."),
                );
                return false;
            }
        };
        #[derive(PartialEq)]
        enum Csum {
            No,
            Yes,
            Remote,
        }
        impl From<Csum> for TunnelChecksum {
            fn from(c: Csum) -> Self {
                match c {
                    Csum::No => TunnelChecksum::None,
                    Csum::Yes => TunnelChecksum::Checksum,
                    Csum::Remote => TunnelChecksum::Remote,
                }
            }
        }
        let (mut tun, mut port, mut csum) = ("ipip", 0u16, Csum::No);
        let words: Vec<&str> = n.args[1..].iter().filter_map(|t| t.word()).collect();
        let mut i = 0;
        // keepalived has set the method before it reads the tunnel options: a bad option
        // leaves the method with the tunnel settings it had.
        let kept = match (base, *method) {
            (ForwardMethod::Tun(_), ForwardMethod::Tun(t)) => ForwardMethod::Tun(t),
            (b, _) => b,
        };
        let mut warn = |p: &mut Self, msg: String| {
            p.d.warn(n.loc(), msg);
            *method = kept;
            true
        };
        while i < words.len() {
            match words[i] {
                "type" => {
                    let Some(ty) = words.get(i + 1) else {
                        return warn(self, format!("Missing tunnel type for {who} server."));
                    };
                    match *ty {
                        "ipip" | "gue" | "gre" => tun = ty,
                        _ => {
                            return warn(
                                self,
                                format!("Unknown tunnel type {ty} for {who} server."),
                            );
                        }
                    }
                    i += 1;
                }
                "port" => {
                    let Some(pt) = words.get(i + 1) else {
                        return warn(self, format!("Missing port for {who} server gue tunnel."));
                    };
                    match ka_unsigned(pt, 1, 65535) {
                        Ok(v) => port = v as u16,
                        Err(_) => {
                            return warn(
                                self,
                                format!("Invalid gue tunnel port {pt} for {who} server."),
                            );
                        }
                    }
                    i += 1;
                }
                "nocsum" => csum = Csum::No,
                "csum" => csum = Csum::Yes,
                "remcsum" => csum = Csum::Remote,
                other => {
                    return warn(
                        self,
                        format!("Invalid tunnel option {other} for {who} server."),
                    );
                }
            }
            i += 1;
        }
        if (tun == "gue") != (port != 0) {
            return warn(
                self,
                "gue tunnels require port, otherwise cannot have port.".to_string(),
            );
        }
        if tun == "ipip" && csum != Csum::No {
            return warn(
                self,
                "ipip tunnels do not support checksum option.".to_string(),
            );
        }
        if tun == "gre" && csum == Csum::Remote {
            return warn(
                self,
                "gre tunnels do not support remote checksum option.".to_string(),
            );
        }
        *method = match base {
            ForwardMethod::Tun(_) => ForwardMethod::Tun(match tun {
                "gue" => TunnelType::Gue {
                    port,
                    csum: csum.into(),
                },
                "gre" => TunnelType::Gre { csum: csum.into() },
                _ => TunnelType::Ipip,
            }),
            other => other,
        };
        true
    }
}
