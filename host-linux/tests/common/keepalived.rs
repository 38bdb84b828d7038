//! keepalived 2.2.7 (Debian) in a namespace, to compare vigild with.

use super::{log_file, send_signal, wait_exit, wait_for};
use nix::sys::signal::Signal;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::netns::Netns;

/// keepalived 2.2.7 (Debian) in a namespace, in the foreground, VRRP only, logging to
/// the console (`-n -l -D -G -P`), with its pid files in the test directory. Both its
/// processes (parent and VRRP child) are killed on drop.
#[derive(Debug)]
pub struct Keepalived {
    child: Option<Child>,
    pub name: String,
    pub conf: PathBuf,
    pub log: PathBuf,
    pid_file: PathBuf,
    vrrp_pid_file: PathBuf,
}

impl Keepalived {
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Keepalived {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writing the configuration");
        let log = dir.join(format!("{name}.log"));
        let pid_file = dir.join(format!("{name}.pid"));
        let vrrp_pid_file = dir.join(format!("{name}-vrrp.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&vrrp_pid_file);
        let child = ns
            .command("keepalived")
            .args(["-n", "-l", "-D", "-G", "-P", "-f"])
            .arg(&conf_path)
            .arg("-p")
            .arg(&pid_file)
            .arg("-r")
            .arg(&vrrp_pid_file)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("starting keepalived (apt-get install keepalived)");
        let k = Keepalived {
            child: Some(child),
            name: name.to_owned(),
            conf: conf_path,
            log,
            pid_file,
            vrrp_pid_file,
        };
        // Started when the VRRP child has written its pid file.
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            k.vrrp_pid()
        });
        assert!(
            up.is_some(),
            "keepalived {name}: no VRRP child within 10 s:\n{}",
            k.log_text()
        );
        k
    }

    fn vrrp_pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.vrrp_pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The state of `(instance)` from the last "Entering ... STATE" line of its log,
    /// in the current run (the log is appended to across restarts).
    pub fn state(&self, instance: &str) -> Option<String> {
        let prefix = format!("({instance}) Entering ");
        let log = self.log_text();
        let run = &log[log.rfind("Starting Keepalived v").unwrap_or(0)..];
        run.lines().rev().find_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
    }

    pub fn wait_state(&self, instance: &str, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(10), || {
            (self.state(instance).as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    pub fn expect_state(&self, instance: &str, state: &str, timeout: Duration) -> Duration {
        self.wait_state(instance, state, timeout)
            .unwrap_or_else(|| {
                panic!(
                    "keepalived {}: ({instance}) not {state} within {timeout:?}; log:\n{}",
                    self.name,
                    self.log_text()
                )
            })
    }

    /// SIGKILL to both processes (a crash: no priority-0 advert), reaped. The parent
    /// is stopped first so that it cannot respawn the VRRP child, and the child is
    /// killed before the parent so that it does not get the SIGTERM keepalived's
    /// children receive when their parent dies.
    /// Does nothing once it was killed or terminated (the pid file may by then belong
    /// to a new keepalived of the same name).
    pub fn kill(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let vrrp = self.vrrp_pid();
        send_signal(c.id(), Signal::SIGSTOP);
        if let Some(p) = vrrp {
            send_signal(p, Signal::SIGKILL);
        }
        let _ = c.kill();
        let _ = c.wait();
        // The VRRP child is the parent's, not ours: wait until it is gone (bounded).
        if let Some(p) = vrrp {
            wait_for(Duration::from_secs(2), Duration::from_millis(10), || {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok();
                stat.is_none_or(|s| s.contains(") Z ")).then_some(())
            });
        }
        let _ = std::fs::remove_file(&self.vrrp_pid_file);
    }

    /// Sends `sig` to the parent process.
    pub fn signal(&self, sig: Signal) {
        if let Some(c) = &self.child {
            send_signal(c.id(), sig);
        }
    }

    /// SIGTERM to the parent (which stops the VRRP child: priority-0 adverts, VIPs
    /// removed) and waits for both to exit. `false` if they did not in time (they are
    /// then killed).
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let vrrp = self.vrrp_pid();
        send_signal(c.id(), Signal::SIGTERM);
        // (A second SIGTERM after `signal` is harmless: keepalived is already stopping.)
        let ok = wait_exit(&mut c, timeout).is_some_and(|s| s.success());
        if !ok {
            self.child = Some(c);
            self.kill();
            return false;
        }
        if let Some(p) = vrrp {
            send_signal(p, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&self.vrrp_pid_file);
        true
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.kill();
    }
}
