//! The typed LVS half of keepalived.conf: `virtual_server`, `virtual_server_group`,
//! `real_server`, `sorry_server` and the health checkers, as keepalived 2.2.7's checker
//! process runs them.
//!
//! As in [`super::model`], values are the *effective* ones: what a `real_server` or a
//! checker inherits from its `virtual_server` (`delay_loop`, `retry`, `delay_before_retry`,
//! `warmup`, `connect_timeout`, `inhibit_on_failure`, `alpha`, `virtualhost`, `smtp_alert`)
//! is filled in, and a checker's connection defaults to its real server's address. The
//! daemon never looks a default up again.

use super::diag::Loc;
use super::model::{Command, User};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Everything the checker runs.
#[derive(Debug, Clone, Default)]
pub struct LvsConf {
    pub groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// The top-level `SSL { password ca certificate key }` block (SSL_GET's client
    /// certificate); `None` when absent.
    pub ssl: Option<SslClient>,
}

/// `SSL { ... }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SslClient {
    pub password: Option<String>,
    pub ca: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone)]
pub struct VirtualServerGroup {
    pub name: String,
    pub loc: Loc,
    pub members: Vec<GroupMember>,
}

/// One line of a `virtual_server_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupMember {
    /// `IP[-LAST] PORT`: `last` is the last address of a range (keepalived's `10.0.0.1-10`
    /// ranges the last octet, or the last 16-bit group for IPv6).
    Address {
        first: IpAddr,
        last: IpAddr,
        port: u16,
        loc: Loc,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        mark: u32,
        /// The family written after the mark (`None`: the service's).
        family: Option<vigil_core::wire::Family>,
        loc: Loc,
    },
}

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsKey {
    /// `virtual_server IP PORT`.
    Address(SocketAddr),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpvsProtocol {
    #[default]
    Tcp,
    Udp,
    Sctp,
}

/// `lb_kind` / `lvs_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardMethod {
    /// NAT (keepalived's default).
    #[default]
    Nat,
    /// Direct routing.
    Dr,
    /// IP-in-IP tunnel (`TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`).
    Tun(TunnelType),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue {
        port: u16,
        csum: TunnelChecksum,
    },
    Gre {
        csum: TunnelChecksum,
    },
}

/// The checksum option of a GUE or GRE tunnel: `nocsum` (keepalived's default), `csum`,
/// `remcsum` (GUE only); the kernel's `IP_VS_TUNNEL_ENCAP_FLAG_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TunnelChecksum {
    #[default]
    None,
    Checksum,
    Remote,
}

/// Scheduler flags (`hashed`, `flag-1`..`flag-3`, `sh-port`, `sh-fallback`, `mh-port`,
/// `mh-fallback`) and one-packet scheduling (`ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerFlags {
    pub hashed: bool,
    pub flag_1: bool,
    pub flag_2: bool,
    pub flag_3: bool,
    pub ops: bool,
}

/// `persistence_timeout` (with `persistence_granularity` and `persistence_engine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// Seconds (keepalived's default when only the granularity is given: 360).
    pub timeout: u32,
    /// The netmask (IPv4 dotted mask, or an IPv6 prefix length as a mask).
    pub granularity: Option<IpAddr>,
    pub engine: Option<String>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone)]
pub struct VirtualServer {
    pub loc: Loc,
    pub key: VsKey,
    /// `ip_family inet|inet6` (fwmark services; otherwise the address's family).
    pub family: Option<vigil_core::wire::Family>,
    pub protocol: IpvsProtocol,
    /// `lb_algo` / `lvs_sched` (keepalived's default `wlc`).
    pub scheduler: String,
    pub flags: SchedulerFlags,
    /// `lb_kind` (the real servers' default forwarding method).
    pub forward: ForwardMethod,
    pub persistence: Option<Persistence>,
    /// `ha_suspend`: the service is only installed while a VRRP instance holds its address.
    pub ha_suspend: bool,
    /// `alpha`: real servers start down, until their checkers pass.
    pub alpha: bool,
    /// `omega`: run `notify_down` of every server (and `quorum_down`) when the service is
    /// removed.
    pub omega: bool,
    /// `quorum` (default 1): the total weight of live real servers needed.
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Command>,
    pub quorum_down: Option<Command>,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    pub sorry_server: Option<SorryServer>,
    pub real_servers: Vec<RealServer>,
    /// `delay_loop` as written at the service level (each checker holds its effective one).
    pub delay_loop: Duration,
}

/// `sorry_server IP PORT`, with `sorry_server_inhibit` and `sorry_server_lvs_method`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SorryServer {
    pub addr: SocketAddr,
    pub forward: ForwardMethod,
    pub inhibit: bool,
}

/// `real_server IP PORT { ... }`.
#[derive(Debug, Clone)]
pub struct RealServer {
    pub loc: Loc,
    pub addr: SocketAddr,
    /// `weight` (default 1).
    pub weight: u32,
    /// `lvs_method`, or the service's `lb_kind`.
    pub forward: ForwardMethod,
    /// Connection thresholds (0: none).
    pub uthreshold: u32,
    pub lthreshold: u32,
    /// `inhibit_on_failure`: a failed server stays with weight 0 instead of being removed.
    pub inhibit_on_failure: bool,
    pub notify_up: Option<Command>,
    pub notify_down: Option<Command>,
    /// Effective `alpha`: the server starts down.
    pub alpha: bool,
    pub smtp_alert: Option<bool>,
    pub virtualhost: Option<String>,
    pub checkers: Vec<Checker>,
}

/// One health checker of a real server.
#[derive(Debug, Clone)]
pub struct Checker {
    pub loc: Loc,
    pub timing: CheckTiming,
    /// Where to connect (every checker but `MISC_CHECK` and `FILE_CHECK`).
    pub connect: Option<ConnectTo>,
    pub kind: CheckKind,
}

/// When a checker runs and how failures count (effective values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTiming {
    /// `delay_loop`: between checks.
    pub delay_loop: Duration,
    /// `retry` (`nb_get_retry`): failed attempts tolerated before the server is down.
    pub retry: u32,
    /// `delay_before_retry`.
    pub delay_before_retry: Duration,
    /// `warmup`: a random delay of up to this much before the first check.
    pub warmup: Duration,
    /// `alpha`: the checker starts failed.
    pub alpha: bool,
    pub log_all_failures: bool,
}

/// A checker's connection options (effective: the real server's address and port
/// unless `connect_ip` / `connect_port` say otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub addr: SocketAddr,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    pub fwmark: Option<u32>,
    /// `connect_timeout` (default 5 s).
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    Http(HttpGet),
    Ssl(HttpGet),
    Tcp,
    Misc(MiscCheck),
    Dns(DnsCheck),
    Smtp(SmtpCheck),
    Udp(UdpCheck),
    Ping,
    File(FileCheck),
}

/// `HTTP_GET` / `SSL_GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGet {
    pub urls: Vec<HttpUrl>,
    /// The checker's `virtualhost` (else the real server's, else the service's).
    pub virtualhost: Option<String>,
    pub protocol: HttpProtocol,
    pub enable_sni: bool,
    pub fast_recovery: bool,
}

/// `http_protocol 1.0 | 1.0C | 1.0K | 1.1` (default 1.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    #[default]
    Http10,
    Http10Close,
    Http10KeepAlive,
    Http11,
}

/// `url { path digest status_code virtualhost regex ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub path: String,
    pub digest: Option<[u8; 16]>,
    /// Accepted status codes as inclusive ranges; empty: keepalived's default, 200-299.
    pub status_codes: Vec<(u16, u16)>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
}

impl HttpUrl {
    /// A URL with only its path: keepalived's defaults for the rest (status 200-299).
    pub fn new(path: &str) -> Self {
        HttpUrl {
            path: path.to_owned(),
            digest: None,
            status_codes: Vec::new(),
            virtualhost: None,
            regex: None,
            regex_no_match: false,
        }
    }
}

/// `MISC_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MiscCheck {
    pub path: Command,
    /// `misc_timeout` (default: the checker's delay_loop).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit codes 2..=255 set the weight to code - 2.
    pub dynamic: bool,
    pub user: Option<User>,
    /// Where `user` was given (the machine check names it when the user is unknown).
    pub user_at: Option<Loc>,
}

/// `DNS_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type` (default SOA): the query type as its number (A 1, NS 2, CNAME 5, SOA 6,
    /// MX 15, TXT 16, AAAA 28).
    pub qtype: u16,
    /// `name` (default `.`).
    pub name: String,
}

/// `SMTP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name` (default `smtpchecker.keepalived.org`).
    pub helo_name: String,
}

/// `UDP_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    pub payload: Vec<u8>,
    pub require_reply: Option<Vec<u8>>,
    /// The wildcard nibbles (`x`) of `require_reply`: a set bit matches anything.
    pub require_reply_mask: Option<Vec<u8>>,
    pub min_reply_length: u32,
    pub max_reply_length: u32,
}

/// `FILE_CHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    /// The `track_file` it reads.
    pub track_file: String,
    /// `weight W [reverse]` (None: the file's own weight).
    pub weight: Option<i32>,
    pub reverse: bool,
}
