//! The LVS half of keepalived.conf, read as keepalived 2.2.7's checker process reads it
//! (`check/check_parser.c`, the `check_*.c` checkers, `check_data.c`):
//!
//! - `virtual_server`: the `virtual_server` blocks, `virtual_server_group` and `SSL`;
//! - `real_server`: `real_server` blocks, `sorry_server` and the forwarding methods;
//! - `checkers`: the health checker blocks and their common keywords;
//! - `validate`: keepalived's end of reading (`link_vsg_to_vs`, `validate_check_config`):
//!   its corrections with their warnings, and the inheritance that makes the typed
//!   [`LvsConf`](crate::config::lvs::LvsConf) hold effective values.
//!
//! While reading, values that a real server or checker inherits stay unset (`None`):
//! keepalived fills them in only at the end, from whatever its virtual server holds then.

mod checkers;
mod real_server;
mod validate;
mod virtual_server;

use super::super::diag::Loc;
use super::super::lexer::Token;
use super::super::lvs::{
    CheckKind, ForwardMethod, GroupMember, IpvsProtocol, SchedulerFlags, SslClient,
};
use super::super::model::Command;
use super::values::{ka_decimal, ka_unsigned};
use super::{Node, Parser};
use std::net::IpAddr;
use std::time::Duration;
use vigil_core::wire::Family;

pub(super) use validate::validate;
#[cfg(test)]
pub(super) use {
    checkers::URL, real_server::REAL_SERVER, virtual_server::SSL, virtual_server::VIRTUAL_SERVER,
};

/// What the checker process has read so far.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub groups: Vec<PendingGroup>,
    pub servers: Vec<PendingVs>,
    pub ssl: Option<SslClient>,
}

#[derive(Debug)]
pub(super) struct PendingGroup {
    pub name: String,
    pub loc: Loc,
    pub members: Vec<GroupMember>,
    pub have_v4: bool,
    pub have_v6: bool,
}

/// `virtual_server IP PORT`, `fwmark N` or `group NAME`, as read.
#[derive(Debug, Clone)]
pub(super) enum PendingKey {
    Address(IpAddr, u16),
    Fwmark(u32),
    Group(String),
}

#[derive(Debug)]
pub(super) struct PendingVs {
    pub loc: Loc,
    pub key: PendingKey,
    pub af: Option<Family>,
    pub protocol: Option<IpvsProtocol>,
    pub scheduler: Option<String>,
    pub flags: SchedulerFlags,
    pub forward: Option<ForwardMethod>,
    pub persistence_timeout: u32,
    pub granularity: Option<IpAddr>,
    pub engine: Option<String>,
    pub ha_suspend: bool,
    pub alpha: bool,
    pub omega: bool,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Command>,
    pub quorum_down: Option<Command>,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    pub sorry: Option<PendingSorry>,
    pub real_servers: Vec<PendingRs>,
    pub connect_timeout: Duration,
    pub delay_loop: Duration,
    pub warmup: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub weight: u32,
    pub inhibit: bool,
}

#[derive(Debug)]
pub(super) struct PendingSorry {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: Option<ForwardMethod>,
    pub inhibit: bool,
}

#[derive(Debug)]
pub(super) struct PendingRs {
    pub loc: Loc,
    pub addr: IpAddr,
    pub port: u16,
    /// The port as the `real_server` line wrote it (0: none), before validation resets
    /// it to the service's: where its checkers connect.
    pub port_written: u16,
    pub weight: Option<u32>,
    pub forward: Option<ForwardMethod>,
    pub uthreshold: u32,
    pub lthreshold: u32,
    pub inhibit: Option<bool>,
    pub notify_up: Option<Command>,
    pub notify_down: Option<Command>,
    pub alpha: Option<bool>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub delay_loop: Option<Duration>,
    pub smtp_alert: Option<bool>,
    pub virtualhost: Option<String>,
    pub checkers: Vec<PendingChecker>,
}

/// A checker's connection options as written (`None`: the real server's).
#[derive(Debug, Default, Clone)]
pub(super) struct PendingConnect {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
pub(super) struct PendingChecker {
    pub loc: Loc,
    pub kind: CheckKind,
    /// `None` for MISC_CHECK and FILE_CHECK.
    pub connect: Option<PendingConnect>,
    pub alpha: Option<bool>,
    pub retry: Option<u32>,
    pub delay_loop: Option<Duration>,
    pub warmup: Option<Duration>,
    pub delay_before_retry: Option<Duration>,
    pub log_all_failures: bool,
    /// The checker's own defaults (keepalived's `default_retry`,
    /// `default_delay_before_retry`; `None`: the delay loop).
    pub default_retry: u32,
    pub default_delay_before_retry: Option<Duration>,
}

/// A decimal with more than 6 decimal places rounded to microseconds as keepalived
/// rounds it (on the 7th digit).
fn round_micros(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.')?;
    let us = ka_decimal(&format!("{int}.{}", frac.get(..6)?), 0, u64::MAX - 1).ok()?;
    let up = frac.as_bytes().get(6).is_some_and(|&d| d >= b'5');
    Some(us + u64::from(up))
}

/// How many list entries a virtual server, real server or checker counts for.
const LVS_ENTRY_WEIGHT: usize = 4;

/// keepalived's default `delay_loop` (60 s) and `connect_timeout` (5 s).
pub(super) const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
pub(super) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// IPVS_WEIGHT_MAX: INT32_MAX.
pub(super) const WEIGHT_LIMIT: u64 = i32::MAX as u64;
/// IPVS_SVC_PERSISTENT_TIMEOUT: 6 minutes.
pub(super) const PERSISTENT_TIMEOUT: u32 = 360;

/// keepalived's `inet_stosockaddr`: the address (a `-range` or `/mask` after it is cut
/// off), and the port unless absent or all zeros; `Err` when either is bad.
pub(super) fn ka_sockaddr(ip: &str, port: Option<&str>) -> Result<(IpAddr, u16), ()> {
    let port = match port.filter(|p| !p.is_empty() && !p.bytes().all(|b| b == b'0')) {
        None => 0,
        Some(p) => ka_unsigned(p, 1, 65535).map_err(|_| ())? as u16,
    };
    let bare = ip.split(['-', '/']).next().unwrap_or("");
    let addr = if ip.contains(':') {
        bare.parse::<std::net::Ipv6Addr>().map(IpAddr::V6)
    } else {
        bare.parse::<std::net::Ipv4Addr>().map(IpAddr::V4)
    };
    addr.map(|a| (a, port)).map_err(|_| ())
}

/// Whether keepalived's checker refuses a block's keyword line and skips its block
/// (`skip_block(true)`): a `virtual_server` or `real_server` with a bad address, port or
/// fwmark. `None` for other keywords (the tree asks for every block).
pub(in crate::config::parse) fn refuses_block(n: &Node) -> Option<bool> {
    match n.name() {
        "virtual_server" => Some(match (n.arg(0), n.arg(1)) {
            (None, _) | (Some("group"), _) => false,
            (Some("fwmark"), m) => ka_unsigned(m.unwrap_or(""), 0, u64::from(u32::MAX)).is_err(),
            (Some(ip), port) => ka_sockaddr(ip, port).is_err(),
        }),
        "real_server" => Some(match n.arg(0) {
            None => false,
            Some(ip) => ka_sockaddr(ip, n.arg(1)).is_err(),
        }),
        _ => None,
    }
}

impl Parser<'_> {
    /// Whether one more virtual server, real server or checker fits within
    /// [`super::MAX_LIST_ENTRIES`]: each counts [`LVS_ENTRY_WEIGHT`] entries (it costs 0.4
    /// to 1 KB while read, about as much typed).
    fn lvs_item(&mut self, loc: &Loc) -> bool {
        (0..LVS_ENTRY_WEIGHT).all(|_| self.item(loc))
    }

    /// A top-level LVS block as keepalived's checker process reads it.
    pub(super) fn lvs_top(&mut self, n: &Node) {
        if !self.lvs_item(n.loc()) {
            return;
        }
        self.conf.lvs_blocks.push(n.loc().clone());
        self.d.aborts_warn = true;
        match n.name() {
            "virtual_server" => self.virtual_server(n),
            "virtual_server_group" => self.virtual_server_group(n),
            "SSL" => self.ssl(n),
            _ => {}
        }
        self.d.aborts_warn = false;
    }

    /// The argument at `i` of a block's keyword line, or keepalived's missing-parameter
    /// abort (exit 2).
    fn block_arg<'n>(&mut self, n: &'n Node, i: usize) -> Option<&'n Token> {
        let t = n.args.get(i);
        if t.is_none() {
            self.d.push(
                super::super::diag::Severity::Error,
                super::super::diag::KaClass::Abort,
                n.loc(),
                format!(
                    "`{0}` is missing a value: *** Configuration line starting `{0}` is missing a parameter (keepalived stops reading here)",
                    n.name()
                ),
            );
        }
        t
    }

    /// keepalived's `read_timer` with `min` (microseconds) and `max` (0: none) for the
    /// value at `i`; a bad value is its number complaint then `then`.
    fn lvs_timer(&mut self, n: &Node, min: u64, max: u64, then: &str) -> Option<Duration> {
        let t = self.need(n, 0)?;
        let max = if max == 0 { u64::MAX - 1 } else { max };
        let s = t.word().unwrap_or("");
        match ka_decimal(s, min, max) {
            Ok(us) => Some(Duration::from_micros(us)),
            // keepalived complains and rounds to the microsecond.
            Err(why) if why.ends_with("too many decimal places") => {
                let rounded = round_micros(s).filter(|us| (min..=max).contains(us));
                let then = if rounded.is_some() { "" } else { then };
                self.d.warn(
                    &t.loc,
                    format!("{why}{}{then}", if then.is_empty() { "" } else { ": " }),
                );
                rounded.map(Duration::from_micros)
            }
            Err(why) => {
                self.d.warn(&t.loc, format!("{why}: {then}"));
                None
            }
        }
    }

    /// keepalived's `read_unsigned_strvec` in `min..=max`; a bad value is its number
    /// complaint then `then`.
    fn lvs_uint(&mut self, n: &Node, min: u64, max: u64, then: &str) -> Option<u64> {
        let t = self.need(n, 0)?;
        self.ka_uint(t, min, max, then)
    }

    /// A keyword with an optional boolean (none: true); a bad one is keepalived's
    /// `Invalid ... parameter` warning and leaves the value unset.
    fn lvs_bool(&mut self, n: &Node, what: &str) -> Option<bool> {
        self.no_block(n);
        let Some(t) = n.args.first() else {
            return Some(true);
        };
        match super::values::ka_bool(t) {
            Some(v) => Some(v),
            None => {
                self.d.warn(
                    &t.loc,
                    format!("Invalid {what} parameter {}", t.word().unwrap_or("")),
                );
                None
            }
        }
    }

    /// The value of a keyword whose handler checks for it first (keepalived's
    /// `set_value`: the first word after the keyword), or `missing` as a warning.
    fn lvs_string(&mut self, n: &Node, missing: &str) -> Option<String> {
        self.no_block(n);
        match n.arg(0) {
            Some(v) => Some(v.to_string()),
            None => {
                self.d.warn(n.loc(), missing.to_string());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_as_keepalived_reads_it() {
        let v4 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            ka_sockaddr("10.0.0.1", Some("80")),
            Ok((v4("10.0.0.1"), 80))
        );
        assert_eq!(
            ka_sockaddr("10.0.0.1", Some("000")),
            Ok((v4("10.0.0.1"), 0))
        );
        assert_eq!(ka_sockaddr("10.0.0.1", None), Ok((v4("10.0.0.1"), 0)));
        assert_eq!(
            ka_sockaddr("10.0.0.1-9", Some("1")),
            Ok((v4("10.0.0.1"), 1))
        );
        assert_eq!(
            ka_sockaddr("2001:db8::1", Some("443")),
            Ok((v4("2001:db8::1"), 443))
        );
        assert!(ka_sockaddr("10.0.0.1", Some("65536")).is_err());
        assert!(ka_sockaddr("10.0.0.1", Some("http")).is_err());
        assert!(ka_sockaddr("10.0.0", Some("80")).is_err());
        assert!(ka_sockaddr("host.example", Some("80")).is_err());
    }
}
