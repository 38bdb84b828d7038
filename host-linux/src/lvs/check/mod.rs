//! keepalived's health checks, one attempt at a time.
//!
//! [`attempt`] runs one attempt of one checker against its real server and says what
//! happened as an [`Attempt`]: success (with a weight the check asked for), or failure
//! with keepalived 2.2.7's own log phrase. Scheduling, `retry`, `delay_before_retry`,
//! `warmup`, `alpha` and the up/down transitions are the engine's.
//!
//! Every attempt is async and bounded in time (by `connect_timeout` for the network
//! checks, `misc_timeout` for `MISC_CHECK`): a thousand of them share one event loop and
//! none blocks a thread. One module per check, as keepalived's `check_*.c`:
//! [`tcp`], [`http`] (`HTTP_GET`), [`ssl`] (`SSL_GET`), [`misc`], [`dns`], [`smtp`],
//! [`udp`], [`ping`], [`file`]. `docs/lvs-checks.md` says what each counts as success.

pub mod connect;
pub mod dns;
pub mod file;
pub mod http;
pub mod misc;
pub mod ping;
pub mod smtp;
pub mod ssl;
pub mod tcp;
pub mod udp;

use crate::config::lvs::{
    CheckKind, Checker, IpvsProtocol, LvsConf, RealServer, VirtualServer, VsKey,
};
use crate::exec::RunAs;
use crate::lvs::Attempt;
use crate::lvs::engine::CheckerId;
use crate::lvs::engine::runner::{ProbeFuture, Prober};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// What a check needs besides its own configuration.
#[derive(Clone)]
pub struct CheckContext {
    /// The real server as keepalived names it in its log lines (`FMT_RS`):
    /// `[10.0.0.2]:tcp:80` ([`format_rs`]).
    pub server: String,
    /// The virtual server as keepalived names it (`FMT_VS`): `[10.0.0.1]:tcp:80`,
    /// `FWM 5`, `[GROUP]:0` ([`format_vs`]).
    pub service: String,
    /// The real server's configured `weight`: `FILE_CHECK` adjusts it.
    pub server_weight: u32,
    /// The TLS client `SSL_GET` uses (the top-level `SSL { }` block); `None`: a default
    /// one without a client certificate, as keepalived builds when there is no block.
    pub tls: Option<Arc<ssl::TlsClient>>,
    /// The `track_file`s `FILE_CHECK` reads.
    pub track_files: Arc<dyn TrackFiles>,
    /// Who `MISC_CHECK` scripts without their own `user` run as (`script_user`).
    pub script_user: RunAs,
}

impl fmt::Debug for CheckContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckContext")
            .field("server", &self.server)
            .field("service", &self.service)
            .field("server_weight", &self.server_weight)
            .field("tls", &self.tls.is_some())
            .field("script_user", &self.script_user)
            .finish_non_exhaustive()
    }
}

impl CheckContext {
    /// A context for a real server of a virtual server, with the default TLS client,
    /// no track files and scripts run as `script_user`.
    pub fn new(vs: &VirtualServer, server: SocketAddr, weight: u32, script_user: RunAs) -> Self {
        CheckContext {
            server: format_rs(server, vs.protocol),
            service: format_vs(vs),
            server_weight: weight,
            tls: None,
            track_files: Arc::new(TrackFileMap::default()),
            script_user,
        }
    }
}

/// The current value of a `track_file` (`FILE_CHECK`).
pub trait TrackFiles: Send + Sync {
    /// The file's current value and its own `weight`; `None` when no such track_file.
    fn value(&self, name: &str) -> Option<TrackFileValue>;
}

/// What a `track_file` says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackFileValue {
    /// The number in the file (0 when missing or not a number, as keepalived).
    pub value: i64,
    /// The `track_file`'s own `weight` (used when the `FILE_CHECK` names none).
    pub weight: i32,
    /// The `track_file`'s own `reverse`.
    pub reverse: bool,
}

/// `track_file NAME { file PATH weight W [reverse] }`, read when asked.
#[derive(Debug, Clone, Default)]
pub struct TrackFileMap {
    pub files: HashMap<String, TrackFileSpec>,
}

/// Where a `track_file` is and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFileSpec {
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
}

impl TrackFileMap {
    /// The configuration's `track_file` blocks.
    pub fn from_conf(files: &[crate::config::model::TrackFile]) -> Self {
        let files = files
            .iter()
            .map(|f| {
                let spec = TrackFileSpec {
                    path: PathBuf::from(&f.file),
                    weight: f.weight,
                    reverse: f.reverse,
                };
                (f.name.clone(), spec)
            })
            .collect();
        TrackFileMap { files }
    }
}

impl TrackFiles for TrackFileMap {
    fn value(&self, name: &str) -> Option<TrackFileValue> {
        let spec = self.files.get(name)?;
        Some(TrackFileValue {
            value: crate::track::read_file_value(&spec.path),
            weight: spec.weight,
            reverse: spec.reverse,
        })
    }
}

/// keepalived's `format_rs`: `[ADDR]:PROTO:PORT`.
pub fn format_rs(addr: SocketAddr, protocol: IpvsProtocol) -> String {
    let proto = match protocol {
        IpvsProtocol::Tcp => "tcp",
        IpvsProtocol::Udp => "udp",
        IpvsProtocol::Sctp => "sctp",
    };
    format!("[{}]:{proto}:{}", addr.ip(), addr.port())
}

/// keepalived's `format_vs`: `[ADDR]:PROTO:PORT`, `FWM N`, or `[GROUP]:0` for a group
/// (keepalived prints the group's port field, 0).
pub fn format_vs(vs: &VirtualServer) -> String {
    match &vs.key {
        VsKey::Address(a) => format_rs(*a, vs.protocol),
        VsKey::Fwmark(m) => format!("FWM {m}"),
        VsKey::Group(g) => format!("[{g}]:0"),
    }
}

/// keepalived's `inet_sockaddrtopair`: `[ADDR]:PORT` (SMTP_CHECK's phrases).
pub fn format_pair(addr: SocketAddr) -> String {
    format!("[{}]:{}", addr.ip(), addr.port())
}

/// Runs one attempt of `checker` against its real server.
pub async fn attempt(checker: &Checker, ctx: &CheckContext) -> Attempt {
    let connect = checker.connect.as_ref();
    match (&checker.kind, connect) {
        (CheckKind::Tcp, Some(co)) => tcp::attempt(co, ctx).await,
        (CheckKind::Http(h), Some(co)) => http::attempt(co, h, ctx).await,
        (CheckKind::Ssl(h), Some(co)) => ssl::attempt(co, h, ctx).await,
        (CheckKind::Dns(d), Some(co)) => dns::attempt(co, d, ctx).await,
        (CheckKind::Smtp(s), Some(co)) => smtp::attempt(co, s, ctx).await,
        (CheckKind::Udp(u), Some(co)) => udp::attempt(co, u, ctx).await,
        (CheckKind::Ping, Some(co)) => ping::attempt(co, ctx).await,
        (CheckKind::Misc(m), _) => misc::attempt(m, checker.timing.delay_loop, ctx).await,
        (CheckKind::File(f), _) => file::attempt(f, ctx),
        (_, None) => Attempt::Failure(format!(
            "Checker for {} has no address to connect to.",
            ctx.server
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine spawns attempts as tasks: they must be `Send`.
    #[test]
    fn attempts_are_send() {
        fn send<T: Send>(_: &T) {}
        let run = |c: &'static Checker, ctx: &'static CheckContext| {
            let f = attempt(c, ctx);
            send(&f);
        };
        let _ = run;
    }

    #[test]
    fn formats_as_keepalived() {
        let a4: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let a6: SocketAddr = "[fd00::2]:53".parse().unwrap();
        assert_eq!(format_rs(a4, IpvsProtocol::Tcp), "[10.0.0.2]:tcp:80");
        assert_eq!(format_rs(a6, IpvsProtocol::Udp), "[fd00::2]:udp:53");
        assert_eq!(format_pair(a4), "[10.0.0.2]:80");
    }
}

/// The health checks as the engine's [`Prober`]: each attempt gets a [`CheckContext`]
/// built from its service and real server and from what the last (re)load said (the
/// `SSL` block, the `track_file`s, `script_user`).
#[derive(Debug, Default)]
pub struct Checks {
    settings: std::cell::RefCell<Settings>,
}

#[derive(Debug, Default)]
struct Settings {
    tls: Option<Arc<ssl::TlsClient>>,
    track_files: Arc<TrackFileMap>,
    script_user: Option<RunAs>,
}

impl Checks {
    /// Takes a (re)loaded configuration's settings.
    pub fn configure(&self, conf: &LvsConf, track_files: Arc<TrackFileMap>, script_user: RunAs) {
        let tls = match conf.ssl.as_ref() {
            // Without an `SSL` block, SSL_GET builds keepalived's default client itself.
            None => None,
            Some(c) => match ssl::TlsClient::new(Some(c)) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    error!("{e}");
                    None
                }
            },
        };
        *self.settings.borrow_mut() = Settings {
            tls,
            track_files,
            script_user: Some(script_user),
        };
    }
}

impl Prober for Checks {
    fn attempt(
        &self,
        _: CheckerId,
        checker: Arc<Checker>,
        vs: &VirtualServer,
        rs: &RealServer,
    ) -> ProbeFuture {
        let s = self.settings.borrow();
        let who = s.script_user.unwrap_or_else(RunAs::current);
        let mut ctx = CheckContext::new(vs, rs.addr, rs.weight, who);
        ctx.tls = s.tls.clone();
        ctx.track_files = s.track_files.clone();
        Box::pin(async move { attempt(&checker, &ctx).await })
    }
}
