//! vigild under test: started in a namespace, its status, state and log.

use super::{VIGILD, log_file, send_signal, wait_exit, wait_for};
use nix::sys::signal::Signal;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::netns::Netns;

/// A vigild started in a namespace, with its configuration, control socket and log in
/// the test's directory. Killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Vigild {
    child: Option<Child>,
    pub name: String,
    pub conf: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Vigild {
    /// Writes `conf` to `DIR/NAME.conf`, starts vigild in `ns` and waits (at most 10 s)
    /// until its control socket answers. The log (stderr) is appended to `DIR/NAME.log`,
    /// so a restarted daemon's log follows the earlier one's.
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Vigild {
        Self::start_args(ns, dir, name, conf, &[])
    }

    /// [`start`](Self::start) with more command-line arguments.
    pub fn start_args(ns: &Netns, dir: &Path, name: &str, conf: &str, args: &[&str]) -> Vigild {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writing the configuration");
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = ns
            .command(VIGILD)
            .arg("-f")
            .arg(&conf_path)
            .arg("--control")
            .arg(&sock)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("starting vigild");
        let mut v = Vigild {
            child: Some(child),
            name: name.to_owned(),
            conf: conf_path,
            sock,
            log,
        };
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(Ok(Some(st))) = v.child.as_mut().map(Child::try_wait) {
                panic!("vigild {name} exited at start ({st}):\n{}", v.log_text());
            }
            v.status()
        });
        assert!(
            up.is_some(),
            "vigild {name} did not answer on {} within 10 s:\n{}",
            v.sock.display(),
            v.log_text()
        );
        v
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("vigild running").id()
    }

    /// The status as JSON, over the control socket in-process (the protocol `vigild
    /// status --json` speaks: fast enough to poll every few milliseconds). `None` when
    /// the daemon does not answer.
    pub fn status(&self) -> Option<Value> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"status json\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        serde_json::from_str(&out).ok()
    }

    /// The status as the command-line client `vigild status --json` prints it.
    pub fn status_cli(&self) -> Value {
        let out = Command::new(VIGILD)
            .args(["status", "--json", "--control"])
            .arg(&self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("running vigild status");
        assert!(
            out.status.success(),
            "vigild status --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("vigild status --json prints JSON")
    }

    /// One instance's entry of the status.
    pub fn instance(&self, name: &str) -> Option<Value> {
        instance_of(&self.status()?, name)
    }

    pub fn state(&self, name: &str) -> Option<String> {
        Some(self.instance(name)?["state"].as_str()?.to_owned())
    }

    /// Waits until instance `name` is in `state`; the time it took.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(5), || {
            (self.state(name).as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    /// Panics with both logs unless instance `name` reaches `state` in time.
    pub fn expect_state(&self, name: &str, state: &str, timeout: Duration) -> Duration {
        self.wait_state(name, state, timeout).unwrap_or_else(|| {
            panic!(
                "{}: ({name}) not {state} within {timeout:?} (now {:?}); log:\n{}",
                self.name,
                self.state(name),
                self.log_text()
            )
        })
    }

    pub fn signal(&self, sig: Signal) {
        send_signal(self.pid(), sig);
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (bounded); `None` if it did not exit in time
    /// (it is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        send_signal(c.id(), Signal::SIGTERM);
        let st = wait_exit(&mut c, timeout);
        if st.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        st
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `needle` is in at least `n` lines of the log.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(5), || {
            (self
                .log_text()
                .lines()
                .filter(|l| l.contains(needle))
                .count()
                >= n)
                .then_some(())
        })
        .is_some()
    }
}

impl Drop for Vigild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An instance's entry in a status document.
pub fn instance_of(status: &Value, name: &str) -> Option<Value> {
    status["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
}

/// A counter of an instance's status entry (`adverts_rx`, `became_master`, ...).
pub fn counter(inst: &Value, name: &str) -> u64 {
    inst["counters"][name].as_u64().unwrap_or(0)
}

/// An instance's drop counter for `reason` (0 when absent).
pub fn drops(inst: &Value, reason: &str) -> u64 {
    inst["counters"]["drops"][reason].as_u64().unwrap_or(0)
}
