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
//! runs go at once (default 12), `VIGIL_TIMELINE_DIR=DIR` reads the scenarios (and
//! KNOWN-DIFFERENCES) of another directory. Every timeline, side by side, goes to
//! `target/tmp/timelines-report.txt`. How to write a scenario: `docs/timelines.md`.

mod common;
mod timeline;

use common::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use timeline::compare::{Slack, Timeline, agree, side_by_side};
use timeline::known::{parse_known, remove_known};
use timeline::run::run;
use timeline::scenario::{Scenario, Step, parse};
use vigil_tests::netns::{REQUIRE_PRIVILEGED_ENV, privileged_or_skip};

/// `tests/timelines`, or the directory `VIGIL_TIMELINE_DIR` names (scenarios kept
/// elsewhere, with a KNOWN-DIFFERENCES of their own or none).
fn timelines_dir() -> PathBuf {
    match std::env::var_os("VIGIL_TIMELINE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/timelines"),
    }
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

/// How long a scenario waits in all (`wait` and `until` steps at most).
fn waits(s: &Scenario) -> f64 {
    s.steps
        .iter()
        .map(|st| match st {
            Step::Wait { secs } | Step::Until { secs, .. } => *secs,
            _ => 0.0,
        })
        .sum()
}

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
        .unwrap_or(12);
    let mut failures: Vec<String> = Vec::new();
    let known_text =
        std::fs::read_to_string(timelines_dir().join("KNOWN-DIFFERENCES")).unwrap_or_default();
    let known = parse_known(&known_text).unwrap_or_else(|e| panic!("{e}"));
    let files = scenario_files();
    let listed = known
        .scenarios
        .iter()
        .chain(known.events.iter().map(|e| &e.scenario));
    for k in listed {
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
    // The longest first, so that the suite ends with short ones.
    let mut runs: Vec<(usize, Impl)> = (0..scenarios.len())
        .flat_map(|i| [(i, Impl::Keepalived), (i, Impl::Vigil)])
        .collect();
    runs.sort_by(|a, b| waits(&scenarios[b.0].1).total_cmp(&waits(&scenarios[a.0].1)));
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
        let result_of = |which: Impl| {
            let at = runs.iter().position(|r| *r == (i, which)).unwrap();
            &results[at]
        };
        let (ka, vg) = (result_of(Impl::Keepalived), result_of(Impl::Vigil));
        let mut excused = String::new();
        let (agrees, broken, text) = match (ka, vg) {
            (Ok((k, klog)), Ok((v, vlog))) => {
                // Known single events come out first; one no longer seen is FIXED.
                let (mut k, mut v) = (k.clone(), v.clone());
                for (side, t) in [(Impl::Keepalived, &mut k), (Impl::Vigil, &mut v)] {
                    for gone in remove_known(&known, name, side, t) {
                        failures.push(format!(
                            "{name}: the known difference `{}` is not seen any more: \
                             remove it from KNOWN-DIFFERENCES",
                            gone.line
                        ));
                    }
                }
                for e in known
                    .events
                    .iter()
                    .filter(|e| e.scenario == entry_stem(name))
                {
                    let _ = writeln!(excused, "  known: {}", e.line);
                }
                (
                    agree(&v, &k, slack),
                    None,
                    format!(
                        "{excused}{}\n{vlog}\n{klog}\n",
                        side_by_side(&v, &k, slack, ("vigild", "keepalived"))
                    ),
                )
            }
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
            &known.scenarios,
            (
                "now agrees with keepalived: remove it from KNOWN-DIFFERENCES",
                "differs from keepalived",
            ),
            &mut failures,
        );
        // Agreeing once its known events are out: known, not ok.
        let verdict = if verdict == "ok" && !excused.is_empty() {
            "known"
        } else {
            verdict
        };
        if verdict == "ok" {
            agreed += 1;
        }
        let _ = writeln!(table, "  {verdict:<8} {name}");
        let tolerance = s
            .tolerance
            .as_ref()
            .map_or(String::new(), |(n, why)| format!(", tolerance {n} ({why})"));
        let block = format!(
            "===== {name}: {verdict} =====\n  times agree within {:.2} s: half the advert \
             interval of {} s{tolerance}\n{text}\n",
            s.advert * (0.5 + f64::from(slack.tolerance)),
            s.advert
        );
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

// ---------------------------------------------------------------------------------------
// The harness's own parts (no privileges needed)

use std::collections::BTreeMap;
use timeline::compare::{Event, Section, Source};
use timeline::run::BUILTIN_VARS;
use timeline::scenario::expand;

/// Every scenario file reads, and every template expands for every node (a typo in a
/// variable fails here, without root).
#[test]
fn every_scenario_reads_and_expands() {
    let files = scenario_files();
    let elsewhere = std::env::var_os("VIGIL_TIMELINE_DIR").is_some();
    assert!(elsewhere || files.len() >= 10, "{} scenarios", files.len());
    for f in &files {
        let name = name_of(f);
        let s = load(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (node, own) in &s.nodes {
            let mut vars: BTreeMap<String, String> = BUILTIN_VARS
                .iter()
                .map(|k| ((*k).to_owned(), format!("<{k}>")))
                .collect();
            vars.extend(own.clone());
            for (conf, text) in &s.confs {
                expand(text, &vars).unwrap_or_else(|e| panic!("{name}, conf {conf}, {node}: {e}"));
            }
        }
    }
    let known =
        std::fs::read_to_string(timelines_dir().join("KNOWN-DIFFERENCES")).unwrap_or_default();
    let known = parse_known(&known).unwrap();
    for k in known
        .scenarios
        .iter()
        .chain(known.events.iter().map(|e| &e.scenario))
    {
        assert!(
            files.iter().any(|f| entry_stem(&name_of(f)) == k),
            "KNOWN-DIFFERENCES: no scenario {k}"
        );
    }
}

const SMALL: &str = "advert 1\nnode a P=1\nnode b P=2\nconf c\nx @P@ @NODE@ a@b.c\nend\n\
                     start a c\nwait 2 # comment\nuntil a VI_1 MASTER 5\nip b link set eth0 down\n\
                     touch f.x\nwrite f.x -10\nrm f.x\nreload a c\nstop a\nkill b\nwait 1\n";

#[test]
fn scenarios_are_read_and_typos_refused() {
    let s = parse(SMALL).unwrap();
    assert_eq!(s.advert, 1.0);
    assert_eq!(s.nodes.len(), 2);
    assert_eq!(s.steps.len(), 11);
    assert_eq!(s.steps[1], Step::Wait { secs: 2.0 });
    assert_eq!(
        s.steps[3].describe(),
        "ip b link set eth0 down",
        "{:?}",
        s.steps[3]
    );
    let vars: BTreeMap<String, String> = [("P", "7"), ("NODE", "a")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(expand(&s.confs["c"], &vars).unwrap(), "x 7 a a@b.c\n");
    assert!(expand("@NOPE@", &vars).unwrap_err().contains("@NOPE@"));

    for (bad, why) in [
        ("node a\nconf c\nend\nstart a c\n", "advert"),
        (
            "advert 1\nnode a\nconf c\nend\nstart b c\n",
            "`b` is no node",
        ),
        ("advert 1\nnode a\nconf c\nx\n", "no `end`"),
        ("advert 1\nnode a\nconf c\nend\nstart a d\n", "no conf `d`"),
        (
            "advert 1\nnode a\nconf c\nend\nstart a c\nwait 100\n",
            "out of range",
        ),
        (
            "advert 1\nnode a\nconf c\nend\nstart a c\nsleep 1\n",
            "unknown word",
        ),
        (
            "advert 1\ntolerance 1\nnode a\nconf c\nend\nstart a c\n",
            "says why",
        ),
        ("advert 1\nnode a\nconf c\nend\nwait 1\n", "first step"),
        (
            "advert 1\nnode a\nconf c\nend\nstart a c\n",
            "last step must wait",
        ),
        (
            "advert 1\nnode a\nconf c\nend\nstart a c\ntouch ../x\n",
            "plain file",
        ),
        ("advert 1\nnode a\nnode b\nnode c\n", "two distinct nodes"),
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}

fn ev(node: &str, source: Source, t: f64, text: &str) -> Event {
    Event {
        node: node.into(),
        source,
        t,
        text: text.into(),
    }
}

fn one_section(events: Vec<Event>, snapshot: &[&str]) -> Timeline {
    Timeline {
        sections: vec![Section {
            title: "start a c".into(),
            events,
            snapshot: [(
                "a".to_owned(),
                snapshot.iter().map(|l| (*l).to_owned()).collect(),
            )]
            .into_iter()
            .collect(),
        }],
    }
}

#[test]
fn timelines_compare_within_half_an_interval_and_fifo_order_counts() {
    let slack = Slack {
        advert: 1.0,
        tolerance: 0,
    };
    let base = one_section(
        vec![
            ev("a", Source::Notify, 0.0, "INSTANCE VI_1 BACKUP 150"),
            ev("a", Source::Notify, 3.6, "INSTANCE VI_1 MASTER 150"),
            ev("a", Source::Fifo, 3.6, "INSTANCE \"VI_1\" MASTER 150"),
            ev("a", Source::Fifo, 3.6, "INSTANCE \"VI_2\" MASTER 150"),
        ],
        &["inet 10.77.0.50/24 dev eth0"],
    );
    assert!(agree(&base, &base, slack));
    // 0.4 s later: the same; 0.6 s later: not, unless the scenario allows an interval.
    let mut later = base.clone();
    later.sections[0].events[1].t = 4.0;
    assert!(agree(&base, &later, slack));
    later.sections[0].events[1].t = 4.2;
    assert!(!agree(&base, &later, slack));
    let lenient = Slack {
        advert: 1.0,
        tolerance: 1,
    };
    assert!(agree(&base, &later, lenient));
    // Notify calls land in any order; FIFO lines do not.
    let mut swapped = base.clone();
    swapped.sections[0].events.swap(0, 1);
    assert!(agree(&base, &swapped, slack));
    let mut fifo = base.clone();
    fifo.sections[0].events[2].t = 3.7;
    fifo.sections[0].events.swap(2, 3);
    fifo.sections[0].events[2].t = 3.6;
    assert!(!agree(&base, &fifo, slack));
    // Another argument, a missing event, another snapshot: different.
    let mut arg = base.clone();
    arg.sections[0].events[0].text = "INSTANCE VI_1 FAULT 150".into();
    assert!(!agree(&base, &arg, slack));
    let mut missing = base.clone();
    missing.sections[0].events.pop();
    assert!(!agree(&base, &missing, slack));
    let mut snap = base.clone();
    snap.sections[0].snapshot.clear();
    assert!(!agree(&base, &snap, slack));
    assert!(!agree(&base, &Timeline::default(), slack));

    // Side by side, the differing rows marked.
    let text = side_by_side(&base, &arg, slack, ("vigild", "keepalived"));
    let marked: Vec<&str> = text.lines().filter(|l| l.starts_with('!')).collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(
        marked
            .iter()
            .any(|l| l.contains("BACKUP 150") && l.contains("| ")),
        "{text}"
    );
    assert!(text.contains("== 1. start a c"), "{text}");
    assert!(text.contains("a has inet 10.77.0.50/24 dev eth0"), "{text}");
}

#[test]
fn known_events_are_taken_out_and_must_still_be_seen() {
    let known = parse_known(
        "# comment\nwhole.scenario # why\nx: 1 vigild a notify INSTANCE VI_1 FAULT 150\n\
         x: 2 keepalived a fifo GONE\n",
    )
    .unwrap();
    assert_eq!(known.scenarios, ["whole"]);
    assert_eq!(known.events.len(), 2);
    let mut t = one_section(
        vec![
            ev("a", Source::Notify, 0.0, "INSTANCE VI_1 FAULT 150"),
            ev("a", Source::Notify, 0.0, "INSTANCE VI_1 BACKUP 150"),
        ],
        &[],
    );
    assert!(remove_known(&known, "x.scenario", Impl::Vigil, &mut t).is_empty());
    assert_eq!(t.sections[0].events.len(), 1);
    // Once gone, it is reported.
    let gone = remove_known(&known, "x.scenario", Impl::Vigil, &mut t);
    assert_eq!(gone.len(), 1);
    assert_eq!(
        remove_known(&known, "x.scenario", Impl::Keepalived, &mut t).len(),
        1
    );
    for bad in [
        "x: one vigild a notify T",
        "x: 1 both a notify T",
        "x: 1 vigild a log T",
        "x: 1 vigild",
    ] {
        assert!(parse_known(bad).is_err(), "{bad}");
    }
}
