//! vigild or keepalived behind one type, for the tests that run the same scenario with
//! each (`daemon_interop`, `daemon_fifo`, `daemon_mail`, `daemon_timeline`).

use super::{Keepalived, Vigild, wait_for};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_tests::netns::Netns;

/// Which implementation a scenario runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Impl {
    Vigil,
    Keepalived,
}

impl Impl {
    /// The program's name, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Vigil => "vigild",
            Impl::Keepalived => "keepalived",
        }
    }
}

/// A running vigild or keepalived (both killed and reaped on drop).
#[derive(Debug)]
pub enum Daemon {
    Vigil(Vigild),
    Ka(Keepalived),
}

impl Daemon {
    /// Starts `which` in `ns` with `conf` written to `DIR/NAME.conf`; returns once it
    /// is up (vigild: its control socket answers; keepalived: its VRRP child runs).
    pub fn start(which: Impl, ns: &Netns, dir: &Path, name: &str, conf: &str) -> Daemon {
        match which {
            Impl::Vigil => Daemon::Vigil(Vigild::start(ns, dir, name, conf)),
            Impl::Keepalived => Daemon::Ka(Keepalived::start(ns, dir, name, conf)),
        }
    }

    /// The configuration file it reads (rewrite it, then [`reload`](Self::reload)).
    pub fn conf(&self) -> &PathBuf {
        match self {
            Daemon::Vigil(v) => &v.conf,
            Daemon::Ka(k) => &k.conf,
        }
    }

    /// The state of `inst` as the daemon reports it (vigild: its status; keepalived:
    /// its last "Entering" log line).
    pub fn state(&self, inst: &str) -> Option<String> {
        match self {
            Daemon::Vigil(v) => v.state(inst),
            Daemon::Ka(k) => k.state(inst),
        }
    }

    pub fn wait_state(&self, inst: &str, state: &str, timeout: Duration) -> Option<Duration> {
        match self {
            Daemon::Vigil(v) => v.wait_state(inst, state, timeout),
            Daemon::Ka(k) => k.wait_state(inst, state, timeout),
        }
    }

    /// Panics with the log unless `inst` reaches `state` in time.
    pub fn expect_state(&self, inst: &str, state: &str, timeout: Duration) -> Duration {
        match self {
            Daemon::Vigil(v) => v.expect_state(inst, state, timeout),
            Daemon::Ka(k) => k.expect_state(inst, state, timeout),
        }
    }

    /// The state of `inst` from the last "(INST) Entering STATE" line of the log: both
    /// daemons log every transition so.
    pub fn logged_state(&self, inst: &str) -> Option<String> {
        let prefix = format!("({inst}) Entering ");
        self.log().lines().rev().find_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
    }

    /// Waits (bounded) until the log's last transition of `inst` is to `state`.
    pub fn wait_logged_state(&self, inst: &str, state: &str, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(10), || {
            (self.logged_state(inst).as_deref() == Some(state)).then_some(())
        })
        .is_some()
    }

    /// Sends `sig` (keepalived: to its parent process).
    pub fn signal(&self, sig: Signal) {
        match self {
            Daemon::Vigil(v) => v.signal(sig),
            Daemon::Ka(k) => k.signal(sig),
        }
    }

    /// Writes `conf` over its configuration file and sends SIGHUP.
    pub fn reload(&self, conf: &str) {
        std::fs::write(self.conf(), conf).expect("writing the configuration");
        self.signal(Signal::SIGHUP);
    }

    /// SIGKILL (a crash: no priority-0 advert), reaped.
    pub fn kill(&mut self) {
        match self {
            Daemon::Vigil(v) => v.kill(),
            Daemon::Ka(k) => k.kill(),
        }
    }

    /// SIGTERM and waits (bounded by `timeout`) for a clean exit; whether it came.
    pub fn terminate_within(&mut self, timeout: Duration) -> bool {
        match self {
            Daemon::Vigil(v) => v.terminate(timeout).is_some_and(|s| s.success()),
            Daemon::Ka(k) => k.terminate(timeout),
        }
    }

    /// [`terminate_within`](Self::terminate_within) 10 s.
    pub fn terminate(&mut self) -> bool {
        self.terminate_within(Duration::from_secs(10))
    }

    pub fn log(&self) -> String {
        match self {
            Daemon::Vigil(v) => v.log_text(),
            Daemon::Ka(k) => k.log_text(),
        }
    }
}
