//! Trackers that run beside the event loop and report state changes to it: scripts
//! (`vrrp_script`, with rise/fall), files (`track_file`) and processes
//! (`track_process`, by scanning /proc: no fork). Interfaces are tracked by the daemon
//! from netlink link events.

use crate::exec::{self, Outcome, RunAs};
use crate::metrics::service as metrics;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub name: String,
    /// Split as keepalived splits it: unquoted, only the first word is the command.
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
    // keepalived 2.2.7 sets a script's init state back to INIT when an instance or
    // group tracks it (vrrp_track.c, alloc_track_script), so `init_fail` has no effect
    // on a tracked script: its first result decides, as any other's (checked in
    // tests/timelines/script-init-fail.scenario). Only tracked scripts run here.
    let mut rf = RiseFall::new(script.rise, script.fall, false);
    let mut ticker = tokio::time::interval(script.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<Outcome> = None;
    loop {
        ticker.tick().await;
        let started = tokio::time::Instant::now();
        let outcome = exec::run(&script.args, script.run_as, script.timeout).await;
        metrics::script_ran(&script.name, outcome, started.elapsed());
        if let Outcome::Exited(code) = outcome
            && last != Some(outcome)
        {
            debug!("Script `{}` now returning {code}", script.name);
        }
        last = Some(outcome);
        let Some(up) = rf.record(outcome.success()) else {
            continue;
        };
        metrics::script_status(&script.name, up);
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
            metrics::file_value(&path.to_string_lossy(), v);
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

/// How `vrrp_track_process` compares a process's parameters with the configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    /// Exactly the configured parameters (none, if none are configured).
    Exact,
    /// The configured parameters, the last one possibly longer (`param_match initial`).
    Initial,
    /// The configured parameters first, possibly more after (`param_match partial`).
    Partial,
}

/// What a `vrrp_track_process` counts, as keepalived matches it: by default the process
/// name (`/proc/PID/stat`'s comm, exactly), with `full_command` (implied by parameters
/// or `param_match`) the command line's first word and then its parameters. Zombies do
/// not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// `process NAME ...`.
    pub name: String,
    /// The parameters after the name.
    pub params: Vec<String>,
    /// `None`: parameters are not compared.
    pub param_match: Option<ParamMatch>,
    pub full_command: bool,
    /// `quorum_max`: more matching processes than this is a failure.
    pub quorum_max: usize,
    /// `fork_delay`: how long the quorum must hold before it counts as gained.
    pub fork_delay: Duration,
    /// `terminate_delay`: how long it must be lost before it counts as lost.
    pub terminate_delay: Duration,
}

impl ProcessSpec {
    /// A process name alone, as `process NAME` with keepalived's defaults.
    pub fn named(name: &str) -> Self {
        ProcessSpec {
            name: name.to_string(),
            params: Vec::new(),
            param_match: None,
            full_command: false,
            quorum_max: usize::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    fn uses_cmdline(&self) -> bool {
        self.full_command || self.param_match.is_some()
    }

    /// Whether `n` matching processes make the quorum (`quorum..=quorum_max`).
    pub fn has_quorum(&self, n: usize, quorum: usize) -> bool {
        n >= quorum && n <= self.quorum_max
    }
}

impl From<String> for ProcessSpec {
    fn from(name: String) -> Self {
        ProcessSpec::named(&name)
    }
}

impl From<&str> for ProcessSpec {
    fn from(name: &str) -> Self {
        ProcessSpec::named(name)
    }
}

impl std::fmt::Display for ProcessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        for p in &self.params {
            write!(f, " {p}")?;
        }
        Ok(())
    }
}

/// keepalived's `check_params`: `want` and `got` are NUL-separated and NUL-terminated
/// (`want` empty when no parameters are configured).
fn params_match(mode: ParamMatch, want: &[u8], got: &[u8]) -> bool {
    if mode == ParamMatch::Exact && want.is_empty() && got.is_empty() {
        return true;
    }
    if got.len() < want.len() {
        return false;
    }
    match mode {
        ParamMatch::Exact => got == want,
        _ if want.is_empty() => true,
        ParamMatch::Partial => got[..want.len()] == *want,
        ParamMatch::Initial => want.len() == 1 || got[..want.len() - 1] == want[..want.len() - 1],
    }
}

/// How many running (not zombie) processes match `spec`: one pass over /proc, one
/// small read per process (`stat`, or `cmdline` for `full_command`), no fork.
pub fn count_matching(spec: &ProcessSpec) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    use std::io::Read;
    let cmdline = spec.uses_cmdline();
    let want: Vec<u8> = spec
        .params
        .iter()
        .flat_map(|p| p.bytes().chain(std::iter::once(0)))
        .collect();
    // As keepalived: read no more of a command line than a match can hold, plus one.
    let limit = (spec.name.len() + 1 + want.len() + 1) as u64;
    let mut path = String::with_capacity(32);
    let mut buf = Vec::with_capacity(256);
    let mut n = 0;
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name.to_str() else {
            continue;
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        path.clear();
        path.push_str("/proc/");
        path.push_str(pid);
        path.push_str(if cmdline { "/cmdline" } else { "/stat" });
        buf.clear();
        let Ok(f) = std::fs::File::open(&path) else {
            continue;
        };
        let read = if cmdline {
            f.take(limit).read_to_end(&mut buf)
        } else {
            f.take(512).read_to_end(&mut buf)
        };
        if read.is_err() {
            continue;
        }
        let matches = if cmdline {
            // A zombie's command line is empty: it never matches.
            let (argv0, rest) = match buf.iter().position(|&b| b == 0) {
                Some(i) => (&buf[..i], &buf[i + 1..]),
                None => (&buf[..], &[][..]),
            };
            argv0 == spec.name.as_bytes()
                && spec
                    .param_match
                    .is_none_or(|m| params_match(m, &want, rest))
        } else {
            // `PID (comm) S ...`: comm may hold spaces and parentheses.
            match (
                buf.iter().position(|&b| b == b'('),
                buf.iter().rposition(|&b| b == b')'),
            ) {
                (Some(open), Some(close)) if open < close => {
                    let state = buf.get(close + 2).copied();
                    state != Some(b'Z') && &buf[open + 1..close] == spec.name.as_bytes()
                }
                _ => false,
            }
        };
        n += usize::from(matches);
    }
    n
}

/// How many running processes are named `name` (`/proc/PID/stat`'s comm, exactly, as
/// keepalived's default matching).
pub fn count_processes(name: &str) -> usize {
    count_matching(&ProcessSpec::named(name))
}

/// `fork_delay` / `terminate_delay` over successive scans: the first state is reported
/// at once; after that a gain is reported once it has held for `gain`, a loss once it
/// has held for `loss`, and a change that reverts within its delay not at all.
#[derive(Debug, Clone)]
pub struct Debounce {
    gain: Duration,
    loss: Duration,
    reported: Option<bool>,
    /// A state differing from the reported one, and since when.
    pending: Option<(bool, tokio::time::Instant)>,
}

impl Debounce {
    pub fn new(gain: Duration, loss: Duration) -> Self {
        Debounce {
            gain,
            loss,
            reported: None,
            pending: None,
        }
    }

    fn delay(&self, up: bool) -> Duration {
        if up { self.gain } else { self.loss }
    }

    /// When a pending change is due (the caller scans again then).
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.pending.map(|(up, since)| since + self.delay(up))
    }

    /// The state scanned at `now`; `Some` when it is to be reported.
    pub fn observe(&mut self, up: bool, now: tokio::time::Instant) -> Option<bool> {
        match self.reported {
            Some(r) if r == up => {
                self.pending = None;
                return None;
            }
            Some(_) => {
                let since = match self.pending {
                    Some((p, since)) if p == up => since,
                    _ => now,
                };
                if now < since + self.delay(up) {
                    self.pending = Some((up, since));
                    return None;
                }
            }
            None => {}
        }
        self.pending = None;
        self.reported = Some(up);
        Some(up)
    }
}

/// Watches `track_process` by scanning /proc every `period`: up while
/// `quorum..=quorum_max` processes match, with `fork_delay` and `terminate_delay`
/// ([`Debounce`]; a delayed change is checked again when it is due). vigild polls, so it
/// cannot tell a gain by fork from one by exec: `fork_delay` applies to every gain.
pub async fn watch_process(
    index: usize,
    process: impl Into<ProcessSpec>,
    quorum: usize,
    period: Duration,
    tx: UnboundedSender<Report>,
) {
    let spec: ProcessSpec = process.into();
    let mut debounce = Debounce::new(spec.fork_delay, spec.terminate_delay);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        match debounce.deadline() {
            Some(due) => {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = tokio::time::sleep_until(due) => {}
                }
            }
            None => {
                ticker.tick().await;
            }
        }
        let up = spec.has_quorum(count_matching(&spec), quorum);
        let Some(up) = debounce.observe(up, tokio::time::Instant::now()) else {
            continue;
        };
        metrics::process_up(&spec.name, up);
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

    #[test]
    fn keepalived_parameter_matching() {
        let want = b"-g\0daemon\0";
        let e = ParamMatch::Exact;
        assert!(params_match(e, want, b"-g\0daemon\0"));
        assert!(!params_match(e, want, b"-g\0daemon\0off;\0"));
        assert!(!params_match(e, want, b"-g\0daemo\0"));
        // `param_match` without parameters: the command must have none.
        assert!(params_match(e, b"", b""));
        assert!(!params_match(e, b"", b"-x\0"));
        // partial: the configured ones first, more may follow.
        let p = ParamMatch::Partial;
        assert!(params_match(p, want, b"-g\0daemon\0off;\0"));
        assert!(!params_match(p, want, b"-g\0daemons\0"));
        assert!(params_match(p, b"", b"anything\0"));
        // initial: the last configured one may be longer.
        let i = ParamMatch::Initial;
        assert!(params_match(i, want, b"-g\0daemons\0"));
        assert!(params_match(i, want, b"-g\0daemon\0"));
        assert!(!params_match(i, want, b"-g\0daemo\0"));
    }

    /// A child under a name no other process has (a symlink to sleep), counted by name,
    /// full command and parameters; dead and unreaped (a zombie), it no longer counts.
    #[test]
    fn counts_by_command_line_and_not_zombies() {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("vz{}", std::process::id() % 1_000_000);
        let exe = dir.path().join(&name);
        std::os::unix::fs::symlink("/bin/sleep", &exe).unwrap();
        let exe_s = exe.display().to_string();
        let mut child = std::process::Command::new(&exe)
            .arg("30.5")
            .spawn()
            .unwrap();
        let pid = child.id();
        let count = |spec: &ProcessSpec| count_matching(spec);
        let mut spec = ProcessSpec::named(&name);
        assert_eq!(count(&spec), 1);
        spec.full_command = true;
        assert_eq!(count(&spec), 0, "argv[0] is the path, not {name}");
        spec.name = exe_s.clone();
        assert_eq!(count(&spec), 1);
        spec.params = vec!["30.5".into()];
        spec.param_match = Some(ParamMatch::Exact);
        assert_eq!(count(&spec), 1);
        spec.params = vec!["30".into()];
        assert_eq!(count(&spec), 0);
        spec.param_match = Some(ParamMatch::Initial);
        assert_eq!(count(&spec), 1);
        spec.param_match = Some(ParamMatch::Partial);
        assert_eq!(count(&spec), 0);
        spec.params.clear();
        spec.param_match = Some(ParamMatch::Exact);
        assert_eq!(count(&spec), 0, "it has a parameter");
        // quorum 1, quorum_max 1: up with one, down with two or none.
        let mut one = ProcessSpec::named(&name);
        one.quorum_max = 1;
        assert!(one.has_quorum(1, 1) && !one.has_quorum(2, 1) && !one.has_quorum(0, 1));
        // quorum_max 0 (quorum 0): up only while none runs.
        one.quorum_max = 0;
        assert!(one.has_quorum(0, 0) && !one.has_quorum(count(&one), 0));

        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let stat = format!("/proc/{pid}/stat");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&stat)
            .unwrap()
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
        {
            assert!(std::time::Instant::now() < deadline, "no zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(count(&ProcessSpec::named(&name)), 0, "a zombie was counted");
        child.wait().unwrap();
    }

    #[test]
    fn process_delays_debounce_changes() {
        let t0 = tokio::time::Instant::now();
        let s = |secs: u64| t0 + Duration::from_secs(secs);
        let mut d = Debounce::new(Duration::from_secs(2), Duration::from_secs(3));
        // The first scan is reported at once.
        assert_eq!(d.observe(true, s(0)), Some(true));
        assert_eq!(d.observe(true, s(1)), None);
        // A loss that comes back within terminate_delay is not reported.
        assert_eq!(d.observe(false, s(2)), None);
        assert_eq!(d.deadline(), Some(s(5)));
        assert_eq!(d.observe(true, s(3)), None);
        assert_eq!(d.deadline(), None);
        // A loss that lasts is reported when its delay is over.
        assert_eq!(d.observe(false, s(4)), None);
        assert_eq!(d.observe(false, s(6)), None);
        assert_eq!(d.observe(false, s(7)), Some(false));
        // A gain waits fork_delay.
        assert_eq!(d.observe(true, s(8)), None);
        assert_eq!(d.observe(true, s(10)), Some(true));
        // No delays: every change at once.
        let mut d = Debounce::new(Duration::ZERO, Duration::ZERO);
        assert_eq!(d.observe(false, s(0)), Some(false));
        assert_eq!(d.observe(true, s(1)), Some(true));
        assert_eq!(d.observe(false, s(2)), Some(false));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn watch_process_takes_a_name_or_a_spec() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        // A String converts as before; this process runs: up.
        let task = tokio::spawn(watch_process(
            1,
            comm.trim().to_string(),
            1,
            Duration::from_secs(1),
            tx.clone(),
        ));
        assert_eq!(rx.recv().await.unwrap().state, TrackerState::Up(true));
        task.abort();
        // quorum_max 0: up while none runs.
        let mut spec = ProcessSpec::named("no-such-process-vigil");
        spec.quorum_max = 0;
        let task = tokio::spawn(watch_process(2, spec, 0, Duration::from_secs(1), tx));
        let r = rx.recv().await.unwrap();
        assert_eq!((r.index, r.state), (2, TrackerState::Up(true)));
        task.abort();
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
