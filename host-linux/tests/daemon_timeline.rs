//! The differential behaviour suite of issue 13: every `tests/timelines/*.scenario` is
//! run once with two keepalived 2.2.7 and once with two vigild, each run in namespaces
//! of its own (several runs at once), and their timelines compared: the notify
//! script's calls and the FIFO lines with their times (relative to the step that
//! caused them, compared to within half an advert interval), the mails received
//! (minus dates and the host name), and the addresses, routes and rules each node has
//! when a step's time is up.
//!
//! Scenarios listed in `tests/timelines/KNOWN-DIFFERENCES` may differ (reported, not a
//! failure) and must not agree: the list only shrinks. `VIGIL_TIMELINE_ONLY=TEXT` runs
//! only the scenarios whose name contains TEXT, `VIGIL_TIMELINE_JOBS=N` sets how many
//! runs go at once (default 6). Every timeline, side by side, goes to
//! `target/tmp/timelines-report.txt`. How to write a scenario: `docs/timelines.md`.

mod common;
mod timeline;

use common::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use timeline::compare::{Slack, Timeline, agree, side_by_side};
use timeline::run::run;
use timeline::scenario::{Scenario, parse};
use vigil_tests::netns::{REQUIRE_PRIVILEGED_ENV, privileged_or_skip};

fn timelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/timelines")
}

/// The scenario files, sorted by name.
fn scenario_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(timelines_dir())
        .expect("tests/timelines")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "scenario"))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn load(p: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
    parse(&text)
}

fn say(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(text.as_bytes());
}

fn keepalived_or_skip(test: &str) -> bool {
    let ok = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    let reason = "keepalived is not installed (scripts/setup installs it)";
    if std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!("{test}: {reason}");
    }
    say(&format!("SKIPPED {test}: {reason}\n"));
    false
}

type Run = Result<(Timeline, String), String>;

#[test]
fn vigild_and_keepalived_timelines_agree_on_every_scenario() {
    let test = "vigild_and_keepalived_timelines_agree_on_every_scenario";
    if !privileged_or_skip(test) || !keepalived_or_skip(test) {
        return;
    }
    let only = std::env::var("VIGIL_TIMELINE_ONLY").unwrap_or_default();
    let jobs = std::env::var("VIGIL_TIMELINE_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .unwrap_or(6);
    let mut failures: Vec<String> = Vec::new();
    let known_text =
        std::fs::read_to_string(timelines_dir().join("KNOWN-DIFFERENCES")).unwrap_or_default();
    let known = known_mismatches(&known_text);
    let files = scenario_files();
    for k in &known {
        if !files.iter().any(|f| entry_stem(&name_of(f)) == k) {
            failures.push(format!(
                "KNOWN-DIFFERENCES lists `{k}`, which is no scenario"
            ));
        }
    }
    let mut scenarios: Vec<(String, Scenario)> = Vec::new();
    for f in &files {
        let name = name_of(f);
        if !name.contains(&only) {
            continue;
        }
        match load(f) {
            Ok(s) => scenarios.push((name, s)),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    // Every run on its own: keepalived's and vigild's of one scenario go at once too.
    let runs: Vec<(usize, Impl)> = (0..scenarios.len())
        .flat_map(|i| [(i, Impl::Keepalived), (i, Impl::Vigil)])
        .collect();
    let start = Instant::now();
    let results: Vec<Run> = run_parallel(&runs, jobs, |(i, which)| {
        let tag = format!("tl{i}{}", if *which == Impl::Vigil { "v" } else { "k" });
        let t0 = Instant::now();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(&scenarios[*i].1, *which, &tag)
        }))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panicked".into()))
        });
        say(&format!(
            "timeline {} with {}: {:.1} s\n",
            scenarios[*i].0,
            which.name(),
            t0.elapsed().as_secs_f64()
        ));
        r
    });
    let elapsed = start.elapsed();

    let mut table = String::new();
    let mut details = String::new();
    let mut full = String::new();
    let mut agreed = 0;
    for (i, (name, s)) in scenarios.iter().enumerate() {
        let slack = Slack {
            advert: s.advert,
            tolerance: s.tolerance.as_ref().map_or(0, |t| t.0),
        };
        let (ka, vg) = (&results[2 * i], &results[2 * i + 1]);
        let (agrees, broken, text) = match (ka, vg) {
            (Ok((k, klog)), Ok((v, vlog))) => (
                agree(v, k, slack),
                None,
                format!(
                    "{}\n{vlog}\n{klog}\n",
                    side_by_side(v, k, slack, ("vigild", "keepalived"))
                ),
            ),
            (k, v) => {
                let e = [("keepalived", k), ("vigild", v)]
                    .iter()
                    .filter_map(|(w, r)| r.as_ref().err().map(|e| format!("{w}: {e}")))
                    .collect::<Vec<_>>()
                    .join("; ");
                (false, Some(e.clone()), e)
            }
        };
        let verdict = verdict(
            name,
            agrees,
            broken.as_deref(),
            &known,
            (
                "now agrees with keepalived: remove it from KNOWN-DIFFERENCES",
                "differs from keepalived",
            ),
            &mut failures,
        );
        if verdict == "ok" {
            agreed += 1;
        }
        let _ = writeln!(table, "  {verdict:<8} {name}");
        let block = format!("===== {name}: {verdict} =====\n{text}\n");
        if matches!(verdict, "MISMATCH" | "BROKEN" | "FIXED") {
            details.push_str(&block);
        }
        full.push_str(&block);
    }
    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("timelines-report.txt");
    let _ = std::fs::write(&report, &full);
    say(&format!(
        "timelines: {} scenarios in {:.1} s ({jobs} runs at a time): {agreed} agree; \
         report: {}\n{table}",
        scenarios.len(),
        elapsed.as_secs_f64(),
        report.display()
    ));
    assert!(
        failures.is_empty(),
        "{} problem(s) in the timeline suite:\n  {}\n\n{table}\n\
         (MISMATCH: fix vigild, or list the scenario in tests/timelines/KNOWN-DIFFERENCES \
         with the reason; FIXED: remove it from that list; see docs/timelines.md)\n\n{details}",
        failures.len(),
        failures.join("\n  "),
    );
}
