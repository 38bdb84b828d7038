//! Trackers that run beside the event loop and report state changes to it: scripts
//! (`vrrp_script`, with rise/fall), files (`track_file`) and processes
//! (`track_process`, by scanning /proc: no fork). Interfaces are tracked by the daemon
//! from netlink link events.

use crate::exec::{self, Outcome, RunAs};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use vigil_core::priority::RiseFall;

/// A tracker's new state, sent to the event loop. `index` is the tracker's position in
/// the daemon's tracker table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub index: usize,
    pub state: TrackerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerState {
    /// Scripts, processes, interfaces.
    Up(bool),
    /// `track_file`: the integer the file holds (0 when missing or unreadable).
    Value(i64),
}

/// A `vrrp_script` as the tracker runs it.
#[derive(Debug, Clone)]
pub struct Script {
    pub name: String,
    pub args: Vec<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u8,
    pub fall: u8,
    pub init_fail: bool,
    pub run_as: RunAs,
}

/// Runs `script` every interval forever (until the receiver is gone), reporting each
/// change of its rise/fall state with keepalived's log lines.
pub async fn run_script(index: usize, script: Script, tx: UnboundedSender<Report>) {
    let mut rf = RiseFall::new(script.rise, script.fall, script.init_fail);
    let mut ticker = tokio::time::interval(script.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Outcome> = None;
    loop {
        ticker.tick().await;
        let outcome = exec::run(&script.args, script.run_as, script.timeout).await;
        if let Outcome::Exited(code) = outcome
            && last != Some(outcome)
        {
            debug!("Script `{}` now returning {code}", script.name);
        }
        last = Some(outcome);
        let Some(up) = rf.record(outcome.success()) else {
            continue;
        };
        match (up, outcome) {
            (true, _) => info!("VRRP_Script({}) succeeded", script.name),
            (false, Outcome::TimedOut) => info!("VRRP_Script({}) timed_out", script.name),
            (false, Outcome::Signalled(s)) => {
                info!("VRRP_Script({}) failed (due to signal {s})", script.name)
            }
            (false, Outcome::Exited(c)) => {
                info!(
                    "VRRP_Script({}) failed (exited with status {c})",
                    script.name
                )
            }
            (false, Outcome::SpawnFailed) => {
                info!("VRRP_Script({}) failed (could not be started)", script.name)
            }
        }
        let report = Report {
            index,
            state: TrackerState::Up(up),
        };
        if tx.send(report).is_err() {
            return;
        }
    }
}

/// Reads a `track_file`: an integer (decimal, or 0x hex as strtol with base 0), 0 when
/// the file is missing or holds no number, as keepalived.
pub fn read_file_value(path: &std::path::Path) -> i64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let t = text.split_whitespace().next().unwrap_or("");
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).unwrap_or(0)
    } else {
        digits.parse().unwrap_or(0)
    };
    if neg { -v } else { v }
}

/// Watches a `track_file` by polling (keepalived uses inotify; a poll every `period`
/// costs one small read and is robust to editors that replace the file).
pub async fn watch_file(
    index: usize,
    path: PathBuf,
    period: Duration,
    tx: UnboundedSender<Report>,
) {
    let mut last = None;
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let v = read_file_value(&path);
        if last != Some(v) {
            last = Some(v);
            if tx
                .send(Report {
                    index,
                    state: TrackerState::Value(v),
                })
                .is_err()
            {
                return;
            }
        }
    }
}

/// How many processes have this name (`/proc/PID/comm`, as keepalived's default) or,
/// when `name` holds a path or arguments, this command line.
pub fn count_processes(name: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let by_cmdline = name.contains('/') || name.contains(' ');
    let mut buf = Vec::with_capacity(256);
    let mut n = 0;
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str() else {
            continue;
        };
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let file = if by_cmdline { "cmdline" } else { "comm" };
        buf.clear();
        let path = entry.path().join(file);
        let Ok(mut f) = std::fs::File::open(path) else {
            continue;
        };
        use std::io::Read;
        if f.read_to_end(&mut buf).is_err() {
            continue;
        }
        let matches = if by_cmdline {
            // NUL-separated arguments; compare with spaces.
            let cmd: Vec<u8> = buf.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
            cmd.trim_ascii() == name.as_bytes()
                || cmd.split(|&b| b == b' ').next() == Some(name.as_bytes())
        } else {
            buf.trim_ascii_end() == name.as_bytes()
        };
        n += usize::from(matches);
    }
    n
}

/// Watches `track_process`: up while at least `quorum` processes run.
pub async fn watch_process(
    index: usize,
    name: String,
    quorum: usize,
    period: Duration,
    tx: UnboundedSender<Report>,
) {
    let mut last = None;
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let up = count_processes(&name) >= quorum.max(1);
        if last != Some(up) {
            last = Some(up);
            if tx
                .send(Report {
                    index,
                    state: TrackerState::Up(up),
                })
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_as_keepalived_reads_them() {
        let dir = std::env::temp_dir().join(format!("vigil-trackfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("v");
        for (text, v) in [("5\n", 5), ("-20", -20), ("0x10", 16), ("junk", 0)] {
            std::fs::write(&f, text).unwrap();
            assert_eq!(read_file_value(&f), v, "{text:?}");
        }
        assert_eq!(read_file_value(&dir.join("missing")), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_this_test_process_by_comm() {
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(count_processes(comm.trim()) >= 1);
        assert_eq!(count_processes("no-such-process-vigil"), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn script_reports_rise_and_fall() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dir = std::env::temp_dir().join(format!("vigil-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flag = dir.join("ok");
        std::fs::write(&flag, "").unwrap();
        let me = RunAs {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        let script = Script {
            name: "chk".into(),
            args: vec!["test".into(), "-e".into(), flag.display().to_string()],
            interval: Duration::from_millis(20),
            timeout: Duration::from_secs(2),
            rise: 2,
            fall: 2,
            init_fail: false,
            run_as: me,
        };
        let task = tokio::spawn(run_script(3, script, tx));
        let first = rx.recv().await.unwrap();
        assert_eq!(
            first,
            Report {
                index: 3,
                state: TrackerState::Up(true)
            }
        );
        std::fs::remove_file(&flag).unwrap();
        let down = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert_eq!(down.unwrap().unwrap().state, TrackerState::Up(false));
        task.abort();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
