//! Start parity over the configuration corpus (issue 12: "every configuration keepalived
//! starts, vigild starts"). For every top-level `*.conf` of `tests/config-corpus/`, the
//! real keepalived (`keepalived -n -l -D -G -P`) and vigild are started on it at the same
//! time, each in its own copy of the entry's environment (the network namespace and
//! private mount namespace of `config_corpus`, see `config_corpus_env`, plus a tmpfs over
//! `/run` and `/tmp` for their pid files, sockets and state: the host's are never seen).
//! Each runs until it is clearly up (keepalived logs "Startup complete", or "has no
//! configuration to run" and idles; vigild answers on its control socket) or exits, for
//! at most [`START_TIMEOUT`], then [`SETTLE`] more; what still runs is stopped with
//! SIGTERM (bounded, then SIGKILL).
//!
//! The test asserts that vigild's fate is keepalived's: running when keepalived keeps
//! running, exited when keepalived refused to start (or crashed). An entry may say
//! `! corpus: start-differs keepalived=runs|exits vigild=runs|exits: REASON` for a
//! deliberate difference; entries listed in `tests/config-corpus/KNOWN-START-MISMATCHES`
//! may mismatch (reported) and must not agree (the list only shrinks).
//!
//! keepalived runs only its VRRP subsystem (`-P`): vigild replaces that one, and the
//! checker would need IPVS and connect to the entries' real servers.
//!
//! `VIGIL_CORPUS_ONLY=TEXT` and `VIGIL_CORPUS_JOBS=N` (default 8 here: the entries mostly
//! wait) as for `config_corpus`. `VIGIL_CORPUS_START_ADDRESSES=1` gives every interface
//! without an entry address an IPv4 one (`10.201.N.1/24`): to see what an entry
//! does on a machine with addressed interfaces, past vigild's refusal of an interface
//! without one (the known list is about the corpus's environment, without the option:
//! with it, the entries listed for that refusal alone come out FIXED). The whole report
//! (both daemons' logs for every entry) is written to
//! `target/tmp/config-corpus-start-report.txt`.

mod common;
mod config_corpus_env;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{VIGILD, log_file, wait_for, workdir};
use config_corpus_env::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vigil_tests::netns::{Netns, privileged_or_skip};

/// How long a daemon has to show that it is up (or to exit). Both show it within a
/// second here; only a keepalived whose VRRP process crashed (its parent idles) waits
/// the whole time, which is long enough that a slow exit is not taken for running.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long both are watched once each is up or gone: a daemon that gives up right
/// after its start (a socket it cannot open, a thread that dies) has exited by then.
const SETTLE: Duration = Duration::from_millis(300);
/// How long a daemon may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the daemons are looked at while they start.
const POLL: Duration = Duration::from_millis(10);

/// Where the daemons keep their pid files, sockets and state: in the private `/run`.
const RUN_DIR: &str = "/run/vigil-corpus";
/// Trees covered with a tmpfs for the daemons: the corpus's, and those of pid files,
/// sockets and temporary files.
const TREES: &[&str] = &["/etc/keepalived/", "/usr/local/", "/run/", "/tmp/"];

/// keepalived's log lines that say it is up: its children read the configuration, or it
/// found nothing to run and idles (it keeps running; so must vigild).
const KEEPALIVED_UP: &[&str] = &["Startup complete", "keepalived has no configuration to run"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Keepalived,
    Vigild,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Keepalived => "keepalived",
            Who::Vigild => "vigild",
        }
    }

    /// The command line, run by `sh` in the private mount namespace, from the corpus
    /// directory, with the entry's file name.
    fn command(self, entry: &Entry) -> String {
        let id = entry
            .directives
            .config_id
            .as_ref()
            .map(|id| format!(" -i {id}"))
            .unwrap_or_default();
        let name = &entry.name;
        match self {
            Who::Keepalived => format!(
                "keepalived -n -l -D -G -P -f {name}{id} -p {RUN_DIR}/keepalived.pid \
                 -r {RUN_DIR}/vrrp.pid -c {RUN_DIR}/checkers.pid -b {RUN_DIR}/bfd.pid"
            ),
            Who::Vigild => format!(
                "{VIGILD} -f {name}{id} --control {RUN_DIR}/vigild.sock \
                 --state {RUN_DIR}/vigild.installed"
            ),
        }
    }
}

/// What became of one daemon.
#[derive(Debug, Clone)]
struct Watch {
    /// When it showed it was up, after the start.
    ready: Option<Duration>,
    /// How it exited on its own, and when.
    exited: Option<(ExitStatus, Duration)>,
    /// How it exited after SIGTERM, and how long that took; `None` with `killed`.
    stopped: Option<(ExitStatus, Duration)>,
    /// It did not stop within [`STOP_TIMEOUT`] of SIGTERM and was killed.
    killed: bool,
    log: String,
}

impl Watch {
    fn fate(&self) -> Fate {
        if self.exited.is_some() {
            Fate::Exits
        } else {
            Fate::Runs
        }
    }

    fn describe(&self) -> String {
        match (&self.exited, &self.stopped) {
            (Some((st, t)), _) => format!("exits {} after {:.2} s", status_text(st), secs(t)),
            (None, stop) => {
                let ready = self.ready.map_or("not seen up".to_owned(), |t| {
                    format!("up in {:.2} s", secs(&t))
                });
                let stop = match stop {
                    Some((st, t)) => format!("SIGTERM: {} in {:.2} s", status_text(st), secs(t)),
                    None if self.killed => "SIGTERM: no exit, killed".to_owned(),
                    None => "not stopped".to_owned(),
                };
                format!("runs ({ready}; {stop})")
            }
        }
    }
}

fn secs(d: &Duration) -> f64 {
    d.as_secs_f64()
}

fn status_text(st: &ExitStatus) -> String {
    match (st.code(), st.signal()) {
        (Some(c), _) => c.to_string(),
        (None, Some(s)) => format!("signal {s}"),
        _ => st.to_string(),
    }
}

/// `VIGIL_CORPUS_START_ADDRESSES=1`: see the module's documentation.
fn with_addresses() -> bool {
    std::env::var("VIGIL_CORPUS_START_ADDRESSES").is_ok_and(|v| v == "1")
}

/// An IPv4 address on every interface the entry gives none (each has its link-local).
fn add_addresses(ns: &Netns, d: &Directives, batch: &Path) -> Result<(), String> {
    let mut b = String::new();
    let names = BASE_INTERFACES
        .iter()
        .copied()
        .chain(d.interfaces.iter().map(String::as_str));
    let mut seen = std::collections::HashSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name) || d.addresses.iter().any(|(n, _)| n == name) {
            continue;
        }
        let _ = writeln!(b, "address add 10.201.{i}.1/24 dev {name}");
    }
    std::fs::write(batch, b).map_err(|e| format!("{}: {e}", batch.display()))?;
    let out = std::process::Command::new("ip")
        .args(["-n", ns.name(), "-batch"])
        .arg(batch)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "adding addresses: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// One daemon in its namespaces. Killed and reaped on drop.
struct Daemon {
    who: Who,
    child: Option<Child>,
    log: PathBuf,
    start: Instant,
    watch: Watch,
}

impl Daemon {
    fn spawn(who: Who, entry: &Entry, ns: &Netns, dir: &Path, out: &Path) -> Result<Self, String> {
        let log = out.join(format!("{}.log", who.name()));
        let mut script = setup_script(&entry.directives, TREES);
        let _ = writeln!(script, "mkdir -p {RUN_DIR} || exit 97");
        let _ = writeln!(script, "cd {} || exit 99", dir.display());
        let _ = writeln!(script, "exec {} </dev/null", who.command(entry));
        let child = ns
            .command("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .map_err(|e| format!("starting {}: {e}", who.name()))?;
        Ok(Daemon {
            who,
            child: Some(child),
            log,
            start: Instant::now(),
            watch: Watch {
                ready: None,
                exited: None,
                stopped: None,
                killed: false,
                log: String::new(),
            },
        })
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Notes an exit; `true` once it exited.
    fn poll_exit(&mut self) -> bool {
        if self.watch.exited.is_some() {
            return true;
        }
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        if let Ok(Some(st)) = child.try_wait() {
            self.watch.exited = Some((st, self.start.elapsed()));
            self.child = None;
            return true;
        }
        false
    }

    /// Up (see the module's documentation), or gone.
    fn decided(&mut self) -> bool {
        if self.poll_exit() {
            return true;
        }
        if self.watch.ready.is_none() && self.is_up() {
            self.watch.ready = Some(self.start.elapsed());
        }
        self.watch.ready.is_some()
    }

    fn is_up(&self) -> bool {
        match self.who {
            Who::Keepalived => {
                let log = self.log_text();
                KEEPALIVED_UP.iter().any(|l| log.contains(l))
            }
            Who::Vigild => self.child.as_ref().is_some_and(|c| vigild_answers(c.id())),
        }
    }

    fn terminate(&mut self) {
        if let Some(c) = &self.child {
            let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
        }
    }

    /// Waits (bounded) for the exit that SIGTERM asked for; kills it past the bound.
    fn reap(&mut self, sent: Instant) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let left = STOP_TIMEOUT.saturating_sub(sent.elapsed());
        match wait_for(left, POLL, || c.try_wait().ok().flatten()) {
            Some(st) => self.watch.stopped = Some((st, sent.elapsed())),
            None => {
                let _ = c.kill();
                let _ = c.wait();
                self.watch.killed = true;
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// vigild's control socket answers a status request. The socket is in vigild's private
/// `/run`, reached through its root (`/proc/PID/root`), which is in its mount namespace.
fn vigild_answers(pid: u32) -> bool {
    let sock = format!("/proc/{pid}/root{RUN_DIR}/vigild.sock");
    let Ok(mut s) = UnixStream::connect(&sock) else {
        return false;
    };
    let timeout = Some(Duration::from_millis(500));
    if s.set_read_timeout(timeout).is_err() || s.set_write_timeout(timeout).is_err() {
        return false;
    }
    let mut out = String::new();
    s.write_all(b"status json\n").is_ok()
        && s.read_to_string(&mut out).is_ok()
        && out.trim_start().starts_with('{')
}

/// A namespace that, on drop, kills whatever still runs in it (a keepalived VRRP child,
/// a script) before it is deleted: only processes this test started are in it.
struct Sandbox(Option<Netns>);

impl Sandbox {
    fn ns(&self) -> &Netns {
        self.0.as_ref().expect("the namespace lives until drop")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let Some(ns) = self.0.take() else { return };
        for _ in 0..20 {
            let pids = std::process::Command::new("ip")
                .args(["netns", "pids", ns.name()])
                .stdin(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let pids: Vec<i32> = pids
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(POLL);
        }
        drop(ns);
    }
}

/// How one entry came out.
struct Outcome {
    name: String,
    broken: Option<String>,
    keepalived: Option<Watch>,
    vigild: Option<Watch>,
    start_differs: Option<StartDiffers>,
    /// How long the entry took (setup, start, stop).
    took: Duration,
}

impl Outcome {
    fn agrees(&self) -> bool {
        let (Some(ka), Some(vg), None) = (&self.keepalived, &self.vigild, &self.broken) else {
            return false;
        };
        match self.start_differs {
            Some(d) => ka.fate() == d.keepalived && vg.fate() == d.vigild,
            None => ka.fate() == vg.fate(),
        }
    }

    /// vigild ran but did not stop on SIGTERM: a failure whatever the list says.
    fn vigild_hung(&self) -> bool {
        self.vigild.as_ref().is_some_and(|w| w.killed)
    }

    fn row(&self, verdict: &str) -> String {
        let said = |w: &Option<Watch>| w.as_ref().map_or("-".to_owned(), Watch::describe);
        let expected = self
            .start_differs
            .map(|d| {
                format!(
                    " (start-differs: expects {}/{})",
                    d.keepalived.word(),
                    d.vigild.word()
                )
            })
            .unwrap_or_default();
        format!(
            "{verdict:<9} {:<46} keepalived {:<44} vigild {}{expected}",
            self.name,
            said(&self.keepalived),
            said(&self.vigild)
        )
    }

    fn details(&self) -> String {
        let mut s = format!("==== {} ({:.2} s)\n", self.name, secs(&self.took));
        if let Some(b) = &self.broken {
            let _ = writeln!(s, "  could not run: {b}");
        }
        for (who, w) in [("keepalived", &self.keepalived), ("vigild", &self.vigild)] {
            let Some(w) = w else { continue };
            let _ = writeln!(s, "  {who}: {}", w.describe());
            for l in w.log.lines() {
                let _ = writeln!(s, "    | {l}");
            }
        }
        s
    }
}

/// A setup step failed (the `exit 97..99` of the setup script, before the daemon).
fn setup_failure(w: &Watch) -> Option<String> {
    let (st, _) = w.exited.as_ref()?;
    let step = setup_step(st.code())?;
    Some(format!("{step} failed: {}", w.log.trim()))
}

/// Starts both daemons on one entry, each in its own copy of the environment, watches
/// them and stops them.
fn run_entry(entry: &Entry, dir: &Path, scratch: &Path) -> Outcome {
    let begin = Instant::now();
    let mut outcome = Outcome {
        name: entry.name.clone(),
        broken: None,
        keepalived: None,
        vigild: None,
        start_differs: entry.directives.start_differs,
        took: Duration::ZERO,
    };
    let out = scratch.join(entry.name.trim_end_matches(".conf"));
    if let Err(e) = std::fs::create_dir_all(&out) {
        outcome.broken = Some(format!("{}: {e}", out.display()));
        return outcome;
    }
    let mut sandboxes = Vec::new();
    let mut daemons = Vec::new();
    for (who, prefix) in [(Who::Keepalived, "vcsk"), (Who::Vigild, "vcsv")] {
        let batch = out.join(format!("{}-links.batch", who.name()));
        let started = entry_netns(prefix, &entry.directives, &batch)
            .map(|ns| Sandbox(Some(ns)))
            .and_then(|sb| {
                if with_addresses() {
                    let batch = out.join(format!("{}-addresses.batch", who.name()));
                    add_addresses(sb.ns(), &entry.directives, &batch)?;
                }
                let d = Daemon::spawn(who, entry, sb.ns(), dir, &out)?;
                Ok((sb, d))
            });
        match started {
            Ok((sb, d)) => {
                sandboxes.push(sb);
                daemons.push(d);
            }
            Err(e) => {
                outcome.broken = Some(e);
                return outcome;
            }
        }
    }

    // Until each is up or gone (bounded), then a little longer.
    wait_for(START_TIMEOUT, POLL, || {
        let mut all = true;
        for d in daemons.iter_mut() {
            all &= d.decided();
        }
        all.then_some(())
    });
    if daemons.iter_mut().any(|d| !d.poll_exit()) {
        std::thread::sleep(SETTLE);
    }
    for d in daemons.iter_mut() {
        d.decided();
    }
    let sent = Instant::now();
    for d in daemons.iter_mut() {
        d.terminate();
    }
    for d in daemons.iter_mut() {
        d.reap(sent);
        d.watch.log = d.log_text();
    }
    for d in &daemons {
        if let Some(e) = setup_failure(&d.watch) {
            outcome.broken = Some(format!("{}: {e}", d.who.name()));
        }
        match d.who {
            Who::Keepalived => outcome.keepalived = Some(d.watch.clone()),
            Who::Vigild => outcome.vigild = Some(d.watch.clone()),
        }
    }
    drop(daemons);
    drop(sandboxes);
    outcome.took = begin.elapsed();
    outcome
}

#[test]
fn vigild_starts_where_keepalived_starts_on_every_corpus_entry() {
    let test = "vigild_starts_where_keepalived_starts_on_every_corpus_entry";
    if !privileged_or_skip(test) || !keepalived_or_skip(test) {
        return;
    }
    let dir = corpus_dir_outside(TREES);
    let only = only();
    let jobs = jobs(8);
    let mut failures: Vec<String> = Vec::new();
    let known = known_list(&dir, "KNOWN-START-MISMATCHES", &mut failures);
    let todo = load_entries(&dir, &only, &mut failures);
    assert!(
        !todo.is_empty(),
        "no corpus entry in {} matches `{only}`",
        dir.display()
    );

    let scratch = workdir("corpus-start");
    let start = Instant::now();
    let outcomes = run_all(&todo, jobs, |entry| run_entry(entry, &dir, scratch.path()));
    let elapsed = start.elapsed();

    let mut table = String::new();
    let mut details = String::new();
    let mut full = String::new();
    let (mut agreed, mut excused) = (0, 0);
    let mut slowest = Duration::ZERO;
    for (_, o) in &outcomes {
        slowest = slowest.max(o.took);
        let verdict = verdict(
            &o.name,
            o.agrees(),
            o.broken.as_deref(),
            &known,
            (
                "vigild now starts as keepalived does: remove it from KNOWN-START-MISMATCHES",
                "vigild does not start as keepalived does",
            ),
            &mut failures,
        );
        match verdict {
            "ok" => agreed += 1,
            "known" => excused += 1,
            _ => {}
        }
        if o.vigild_hung() {
            failures.push(format!(
                "{}: vigild did not stop within {STOP_TIMEOUT:?} of SIGTERM",
                o.name
            ));
        }
        if verdict != "ok" || o.vigild_hung() {
            let _ = writeln!(table, "{}", o.row(verdict));
        }
        if matches!(verdict, "MISMATCH" | "BROKEN" | "FIXED") || o.vigild_hung() {
            details.push_str(&o.details());
        }
        let _ = writeln!(full, "{}", o.row(verdict));
        full.push_str(&o.details());
    }
    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-corpus-start-report.txt");
    let _ = std::fs::write(&report, &full);
    say(&format!(
        "config corpus start{}: {} entries in {:.1} s ({jobs} at a time, slowest entry {:.1} s): \
         {agreed} agree, {excused} known mismatches, {} failures; report: {}\n{table}",
        if with_addresses() {
            " (every interface with an address)"
        } else {
            ""
        },
        outcomes.len(),
        elapsed.as_secs_f64(),
        slowest.as_secs_f64(),
        failures.len(),
        report.display()
    ));
    assert!(
        failures.is_empty(),
        "{} problem(s) starting the config corpus:\n  {}\n\n\
         verdict   entry                                          fates\n{table}\n\
         (MISMATCH: fix vigild, or list the entry in tests/config-corpus/KNOWN-START-MISMATCHES \
         with its cause; FIXED: remove it from that list; see tests/config-corpus/README.md)\n\n\
         {details}",
        failures.len(),
        failures.join("\n  "),
    );
}
