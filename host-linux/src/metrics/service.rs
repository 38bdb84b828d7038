//! What the service thread knows and the protocol thread does not: tracker results,
//! script run times, reloads. Kept in one process-wide table that only the service
//! thread writes (trackers run there); the exposition reads it beside the protocol
//! thread's snapshot.

use super::exposition::Histogram;
use crate::exec::Outcome;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Script run times, seconds: from a quick `pidof` to a timed-out health check.
pub static SCRIPT_SECONDS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Debug, Clone)]
pub struct ScriptStats {
    /// keepalived's status after rise/fall: `Some(true)` GOOD, `Some(false)` BAD,
    /// `None` before the first verdict.
    pub good: Option<bool>,
    /// Runs by result (`success`, `failure`, `timeout`, `signal`, `spawn_failed`).
    pub runs: BTreeMap<&'static str, u64>,
    pub duration: Histogram,
}

/// Reload results: `ok`, `rejected` (the new configuration did not load) and `failed`
/// (it loaded but could not be installed; the running one stays).
#[derive(Debug, Clone, Default)]
pub struct Reloads {
    pub results: BTreeMap<&'static str, u64>,
    pub last_success: Option<SystemTime>,
}

#[derive(Debug, Clone, Default)]
pub struct ServiceStats {
    pub scripts: BTreeMap<String, ScriptStats>,
    /// `track_file` values by path.
    pub files: BTreeMap<String, i64>,
    /// `track_process` results by process name: quorum held or not.
    pub processes: BTreeMap<String, bool>,
    pub reloads: Reloads,
}

static STATS: Mutex<Option<ServiceStats>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut ServiceStats) -> R) -> R {
    let mut guard = STATS.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(ServiceStats::default))
}

/// A copy for one exposition.
pub fn snapshot() -> ServiceStats {
    with(|s| s.clone())
}

/// A script ran: its result and how long it took.
pub fn script_ran(name: &str, outcome: Outcome, took: Duration) {
    let result = match outcome {
        Outcome::Exited(0) => "success",
        Outcome::Exited(_) => "failure",
        Outcome::Signalled(_) => "signal",
        Outcome::TimedOut => "timeout",
        Outcome::SpawnFailed => "spawn_failed",
    };
    with(|s| {
        let st = script_entry(s, name);
        *st.runs.entry(result).or_default() += 1;
        st.duration.observe(took.as_secs_f64());
    });
}

/// A script's rise/fall verdict changed.
pub fn script_status(name: &str, good: bool) {
    with(|s| script_entry(s, name).good = Some(good));
}

fn script_entry<'a>(s: &'a mut ServiceStats, name: &str) -> &'a mut ScriptStats {
    s.scripts
        .entry(name.to_owned())
        .or_insert_with(|| ScriptStats {
            good: None,
            runs: BTreeMap::new(),
            duration: Histogram::new(&SCRIPT_SECONDS),
        })
}

pub fn file_value(path: &str, value: i64) {
    with(|s| {
        s.files.insert(path.to_owned(), value);
    });
}

pub fn process_up(name: &str, up: bool) {
    with(|s| {
        s.processes.insert(name.to_owned(), up);
    });
}

/// A reload ended with `result` (`ok`, `rejected`, `failed`).
pub fn reloaded(result: &'static str) {
    with(|s| {
        *s.reloads.results.entry(result).or_default() += 1;
        if result == "ok" {
            s.reloads.last_success = Some(SystemTime::now());
        }
    });
}

/// A new plan replaces the trackers: forget those of the old one (their tasks are
/// aborted), keeping the run counts of scripts the new plan still has.
pub fn retain_trackers(scripts: &[String], files: &[String], processes: &[String]) {
    with(|s| {
        s.scripts.retain(|k, _| scripts.contains(k));
        s.files.retain(|k, _| files.contains(k));
        s.processes.retain(|k, _| processes.contains(k));
    });
}
