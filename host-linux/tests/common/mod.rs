//! Shared helpers for the daemon tests (`host-linux/tests/daemon_*.rs`): vigild,
//! keepalived and nginx run inside namespaces of `vigil_tests::netns`, an HTTP client
//! that requests the VIP from its own namespace, configuration text, and polling that
//! is bounded in count and time.
//!
//! Every process started here is killed and reaped on drop (also when a test panics),
//! and every namespace belongs to a [`Lan`] that deletes it on drop. Traffic stays
//! between the namespaces a test creates.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs::{File, OpenOptions};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vigil_tests::netns::{HostSpec, Lan};

/// The daemon under test.
pub const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

/// The subnet every test LAN uses (namespaces keep tests apart): host `i` is
/// `10.77.0.(11 + i)`; the VIP is `10.77.0.50`.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);
/// A second VIP (another instance, or the second LAN of a sync group).
pub const VIP2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 51);

/// The address of LAN host `i`.
pub fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 11 + i as u8)
}

/// A LAN of `n` hosts on one bridge (see [`host_ip`]).
pub fn lan(prefix: &str, n: usize) -> Lan {
    let specs: Vec<HostSpec> = (0..n)
        .map(|i| HostSpec::v4([0x02, 0x77, 0, 0, 0, 0x11 + i as u8], host_ip(i), 24))
        .collect();
    Lan::new(prefix, &specs).expect("building the LAN")
}

/// A scratch directory for configurations, logs, sockets and pid files. Kept (and its
/// path printed) when `VIGIL_KEEP_TEST_DIRS=1`, to read the logs of a failed run.
pub fn workdir(test: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("vigil-{test}-"))
        .tempdir()
        .expect("temp dir");
    if std::env::var("VIGIL_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
        eprintln!("{test}: keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    dir
}

/// Polls `f` every `every` until it returns `Some`, for at most `timeout` (and at most
/// `timeout / every + 2` tries).
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    let tries = timeout.as_millis() / every.as_millis().max(1) + 2;
    for _ in 0..tries {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(every);
    }
    None
}

fn send_signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Waits (bounded) for a child to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait_for(timeout, Duration::from_millis(5), || {
        child.try_wait().ok().flatten()
    })
}

pub fn log_file(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

mod conf;
mod daemon;
mod http;
mod keepalived;
mod known;
mod mail;
mod net;
mod packets;
mod pair;
mod vigild;

// Each test binary uses a different part of these.
#[allow(unused_imports)]
pub use self::{
    conf::*, daemon::*, http::*, keepalived::*, known::*, mail::*, net::*, packets::*, pair::*,
    vigild::*,
};
