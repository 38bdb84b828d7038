//! The status view and the control socket it is served on.
//!
//! Protocol: a client connects to the Unix socket, writes one line (`status` or
//! `status json`) and reads the answer until the daemon closes the connection.
//! `vigild status [--json]` is that client.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vigild.sock";

/// Per-instance counters. Drops are counted by the reason that names them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    pub adverts_rx: u64,
    pub adverts_tx: u64,
    pub priority_zero_rx: u64,
    pub priority_zero_tx: u64,
    pub became_master: u64,
    pub left_master: u64,
    /// Master-down deadlines put off by one advert interval because the kernel had
    /// dropped packets on the socket since the last advert.
    pub overflow_deferrals: u64,
    pub drops: BTreeMap<&'static str, u64>,
    /// State changes: new state → reason (snake_case, [`crate::metrics::reason_label`])
    /// → count.
    pub transitions: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
}

impl Counters {
    pub fn drop(&mut self, reason: &'static str) {
        *self.drops.entry(reason).or_default() += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub version: u8,
    pub state: &'static str,
    pub base_priority: u8,
    pub effective_priority: u8,
    pub master: Option<String>,
    pub advert_interval_ms: u64,
    pub master_advert_interval_ms: u64,
    pub master_down_interval_ms: u64,
    /// Milliseconds until the next deadline (advert or master-down), if any.
    pub next_deadline_ms: Option<u64>,
    pub vips: Vec<String>,
    /// VIPs and excluded addresses as keepalived's dumps (and so its exporters) name
    /// them: the prefix only when it is not a host prefix, with their interface.
    pub addresses: Vec<AddressStatus>,
    pub counters: Counters,
    /// When the state last changed (the start before any change), in seconds since the
    /// Unix epoch. Not a counter: STATS_CLEAR leaves it.
    pub last_transition_unix: f64,
    /// What keepalived's dump files need beyond this view (not in `vigild status`).
    #[serde(skip)]
    pub dump: InstanceDumpFacts,
}

/// An instance's facts for keepalived's dump files ([`crate::dump`]): SIGUSR1's
/// `/tmp/keepalived.data` and the JSON signal's `/tmp/keepalived.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceDumpFacts {
    /// keepalived's `last_transition`: the wall-clock time of the last state change
    /// (the start before any), microseconds since the Unix epoch.
    pub last_transition_unix_us: u64,
    /// keepalived's `master_priority`: the priority of the last advert accepted from
    /// the master this instance follows (0 until one).
    pub master_priority: u8,
    /// keepalived's `ms_down_timer`, to the microsecond.
    pub master_down_us: u64,
    /// keepalived's `total_priority`: base plus the weights that apply, unclamped.
    pub total_priority: i32,
    /// Tracked objects failing with weight 0 (keepalived's `num_script_if_fault`).
    pub tracker_faults: u16,
    /// The address adverts are sent from (keepalived's `saddr`).
    pub src_ip: Option<std::net::IpAddr>,
    /// The instance's interface index (an IPv6 multicast address's scope).
    pub ifindex: u32,
}

/// Daemon-wide facts for keepalived's dump files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpFacts {
    /// When the status was taken, microseconds since the Unix epoch (deadlines are
    /// relative to it).
    pub taken_unix_us: u64,
    /// The last result of each `vrrp_script` that reported (`true`: success), by name.
    pub script_results: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressStatus {
    pub address: String,
    pub interface: String,
    pub excluded: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    pub name: String,
    pub state: &'static str,
    pub members: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub pid: u32,
    pub uptime_secs: u64,
    pub config: String,
    pub instances: Vec<InstanceStatus>,
    pub groups: Vec<GroupStatus>,
    /// Packets dropped before any instance saw them (unparseable, unknown VRID).
    pub drops: BTreeMap<&'static str, u64>,
    /// Packets the sockets' eBPF filter dropped in the kernel, by the same reasons;
    /// `None` where the filter could not be loaded (then user space counts them all).
    pub filtered: Option<BTreeMap<&'static str, u64>>,
    /// Packets the kernel dropped because a socket's receive buffer was full, summed
    /// over the VRRP sockets. Zero unless the daemon could not keep up.
    pub kernel_drops: u64,
    /// What keepalived's dump files need beyond this view (not in `vigild status`).
    #[serde(skip)]
    pub dump: DumpFacts,
    /// Takeovers timed from the master-down deadline to the VIPs installed.
    pub failover_latency: crate::metrics::Histogram,
}

impl Status {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The human view: one line per instance, then groups and drops.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "vigild {} pid {} up {}s config {}",
            self.version, self.pid, self.uptime_secs, self.config
        );
        let _ = writeln!(
            s,
            "{:<16} {:<10} {:>4} {:>2} {:<7} {:>4} {:>4} {:<16} {:>7} {:>8} {:>8} {:>8}  VIPs",
            "INSTANCE",
            "IFACE",
            "VRID",
            "V",
            "STATE",
            "BASE",
            "EFF",
            "MASTER",
            "ADV(ms)",
            "DOWN(ms)",
            "RX",
            "TX"
        );
        for i in &self.instances {
            let _ = writeln!(
                s,
                "{:<16} {:<10} {:>4} {:>2} {:<7} {:>4} {:>4} {:<16} {:>7} {:>8} {:>8} {:>8}  {}",
                i.name,
                i.interface,
                i.vrid,
                i.version,
                i.state,
                i.base_priority,
                i.effective_priority,
                i.master.as_deref().unwrap_or("-"),
                i.master_advert_interval_ms,
                i.master_down_interval_ms,
                i.counters.adverts_rx,
                i.counters.adverts_tx,
                i.vips.join(",")
            );
            if !i.counters.drops.is_empty() {
                let d: Vec<String> = i
                    .counters
                    .drops
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(s, "  dropped: {}", d.join(" "));
            }
        }
        for g in &self.groups {
            let _ = writeln!(s, "group {} {} [{}]", g.name, g.state, g.members.join(", "));
        }
        if !self.drops.is_empty() {
            let d: Vec<String> = self.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(s, "dropped before any instance: {}", d.join(" "));
        }
        match &self.filtered {
            Some(f) if !f.is_empty() => {
                let d: Vec<String> = f.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = writeln!(s, "dropped by the socket filter: {}", d.join(" "));
            }
            Some(_) => {}
            None => {
                let _ = writeln!(
                    s,
                    "socket filter: not loaded (user space sees every packet)"
                );
            }
        }
        let _ = writeln!(
            s,
            "dropped by the kernel (socket buffer full): {}",
            self.kernel_drops
        );
        s
    }
}

/// Binds the control socket, replacing a stale one left by a crash.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if path.exists() {
        // A live daemon answers; a stale socket refuses.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another vigild is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path)
}

/// Answers one client with what `render` makes of its request line.
pub async fn serve_one(
    stream: tokio::net::UnixStream,
    render: impl FnOnce(&str) -> String,
) -> std::io::Result<()> {
    serve_async(stream, |req| async move { Some(render(&req)) }).await
}

/// Answers one client with what `render` makes of its request line, asynchronously;
/// `None` closes the connection without an answer.
pub async fn serve_async<F, Fut>(stream: tokio::net::UnixStream, render: F) -> std::io::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let (rd, mut wr) = stream.into_split();
    let mut line = String::new();
    let mut rd = BufReader::new(rd).take(256);
    tokio::time::timeout(std::time::Duration::from_secs(2), rd.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    if let Some(answer) = render(line.trim().to_owned()).await {
        wr.write_all(answer.as_bytes()).await?;
    }
    wr.shutdown().await
}

/// The `vigild status` client.
pub fn query(path: &Path, request: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    s.write_all(request.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

use tokio::io::AsyncReadExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn client_and_server_talk() {
        let path = std::env::temp_dir().join(format!("vigil-ctl-{}.sock", std::process::id()));
        let listener = bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            serve_one(s, |req| format!("you said {req}")).await.unwrap();
            // Closed before the task reports completion: the socket is now stale.
            drop(listener);
        });
        let p = path.clone();
        let answer = tokio::task::spawn_blocking(move || query(&p, "status json"))
            .await
            .unwrap()
            .unwrap();
        server.await.unwrap();
        assert_eq!(answer, "you said status json");
        // A stale socket (no listener) is replaced.
        // Other tests fork children; one that has not yet exec'd holds a copy of the
        // listening socket for a moment, so the socket may still look live.
        let mut again = bind(&path);
        for _ in 0..50 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            again = bind(&path);
        }
        assert!(again.is_ok(), "{again:?}");
        std::fs::remove_file(&path).unwrap();
    }
}
