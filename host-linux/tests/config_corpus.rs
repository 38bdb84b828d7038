//! The `-t` differential corpus (issue 12): every top-level `*.conf` in
//! `tests/config-corpus/` is run through `keepalived -t` and `vigild -t`, in the same
//! fresh network namespace (the interfaces the corpus names, up) and private mount
//! namespace (tmpfs over `/etc/keepalived` and `/usr/local`, holding the scripts the
//! corpus names). The exit codes must be equal, and every line keepalived names in a
//! diagnostic must be named by vigild too (`FILE:LINE:`).
//!
//! The format of an entry (its `! corpus:` directives), how to add one and how to read a
//! failure: `tests/config-corpus/README.md`. Entries listed in
//! `tests/config-corpus/KNOWN-MISMATCHES` may mismatch (reported, not a failure) and must
//! not match (the list only shrinks).
//!
//! `VIGIL_CORPUS_ONLY=TEXT` runs only the entries whose name contains TEXT;
//! `VIGIL_CORPUS_JOBS=N` sets how many entries run at once (default 4). The whole report
//! (both programs' output for every entry) is written to
//! `target/tmp/config-corpus-report.txt`.

mod common;
mod config_corpus_env;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{VIGILD, wait_for, workdir};
use config_corpus_env::*;
use vigil_tests::netns::privileged_or_skip;

/// How long one program may take on one entry (`timeout` kills it after that).
const PROGRAM_TIMEOUT_SECS: u32 = 20;
/// How long one entry may take in all (both programs and the setup).
const ENTRY_TIMEOUT: Duration = Duration::from_secs(60);

/// The corpus has at least this many entries (issue 12).
const MIN_ENTRIES: usize = 80;

// ---------------------------------------------------------------------------------------
// What the two programs say

fn base_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or_else(|| path.to_owned(), |n| n.to_string_lossy().into_owned())
}

/// The (file name, line) pairs keepalived names: `(FILE: Line N) ...`, or `(Line N) ...`
/// in the main file (keepalived names the file only once several are read).
fn keepalived_lines(output: &str, main: &str) -> BTreeSet<(String, u32)> {
    let mut lines = BTreeSet::new();
    for l in output.lines() {
        let Some((inside, _)) = l.strip_prefix('(').and_then(|r| r.split_once(')')) else {
            continue;
        };
        let (file, n) = match inside.rsplit_once(": Line ") {
            Some((file, n)) => (base_name(file), n),
            None => match inside.strip_prefix("Line ") {
                Some(n) => (main.to_owned(), n),
                None => continue,
            },
        };
        if let Ok(n) = n.trim().parse() {
            lines.insert((file, n));
        }
    }
    lines
}

/// The (file name, line) pairs vigild names: every `FILE:N:` (or `FILE:N`) in its output.
fn vigild_lines(output: &str) -> BTreeSet<(String, u32)> {
    let mut lines = BTreeSet::new();
    for token in output.split_whitespace() {
        let token = token.trim_matches(|c: char| matches!(c, '(' | ')' | '`' | '\'' | ','));
        let mut parts = token.split(':');
        let (Some(file), Some(n)) = (parts.next(), parts.next()) else {
            continue;
        };
        // A file name has a dot or a slash (which keeps `10:30` out).
        if !file.contains(['.', '/']) || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = n.parse() {
            lines.insert((base_name(file), n));
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------
// Running an entry

/// The shell script run inside `unshare --mount --propagation private`: the entry's
/// private trees and scripts, then both programs (each bounded by `timeout`), their
/// output and exit codes into `out`.
fn run_script(entry: &Entry, dir: &Path, out: &Path) -> String {
    let d = &entry.directives;
    let mut s = setup_script(d, PRIVATE_TREES);
    let id = d
        .config_id
        .as_ref()
        .map(|id| format!(" -i {id}"))
        .unwrap_or_default();
    let _ = writeln!(s, "cd {} || exit 99", dir.display());
    for (tag, program) in [("keepalived", "keepalived"), ("vigild", VIGILD)] {
        let _ = writeln!(
            s,
            "timeout -k 2 {PROGRAM_TIMEOUT_SECS} {program} -t -f {name}{id} \
             </dev/null >{out}/{tag}.out 2>&1; echo $? >{out}/{tag}.rc",
            name = entry.name,
            out = out.display()
        );
    }
    s
}

/// What one program did with one entry.
#[derive(Debug, Default)]
struct Run {
    code: i32,
    output: String,
}

impl Run {
    fn read(out: &Path, tag: &str) -> Result<Run, String> {
        let rc = std::fs::read_to_string(out.join(format!("{tag}.rc")))
            .map_err(|e| format!("{tag}: no exit code ({e})"))?;
        let code = rc
            .trim()
            .parse()
            .map_err(|_| format!("{tag}: exit code `{}`", rc.trim()))?;
        let output = std::fs::read_to_string(out.join(format!("{tag}.out"))).unwrap_or_default();
        Ok(Run { code, output })
    }

    fn describe(&self) -> String {
        match self.code {
            124 | 137 => format!("{} (timed out after {PROGRAM_TIMEOUT_SECS} s)", self.code),
            c => c.to_string(),
        }
    }
}

/// Runs both programs on one entry in its own namespaces.
fn run_entry(entry: &Entry, dir: &Path, scratch: &Path) -> Result<(Run, Run), String> {
    let out = scratch.join(entry.name.trim_end_matches(".conf"));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let ns = entry_netns("vcc", &entry.directives, &out.join("links.batch"))?;
    let script = run_script(entry, dir, &out);
    let mut child = ns
        .command("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("unshare (util-linux): {e}"))?;
    let status = wait_for(ENTRY_TIMEOUT, Duration::from_millis(5), || {
        child.try_wait().ok().flatten()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("did not finish within {ENTRY_TIMEOUT:?}"));
    };
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let step = setup_step(status.code()).unwrap_or("the setup");
        return Err(format!("{step} failed ({status}): {}", err.trim()));
    }
    Ok((Run::read(&out, "keepalived")?, Run::read(&out, "vigild")?))
}

// ---------------------------------------------------------------------------------------
// Judging

/// How one entry came out.
#[derive(Debug)]
struct Outcome {
    name: String,
    /// Set when the entry could not be run or read (never excused by the list).
    broken: Option<String>,
    keepalived: Run,
    vigild: Run,
    differs: Option<Differs>,
    /// Lines keepalived names that vigild does not.
    missing: BTreeSet<(String, u32)>,
}

impl Outcome {
    fn agrees(&self) -> bool {
        if self.broken.is_some() {
            return false;
        }
        match self.differs {
            Some(d) => self.keepalived.code == d.keepalived && self.vigild.code == d.vigild,
            None => self.keepalived.code == self.vigild.code && self.missing.is_empty(),
        }
    }

    /// One row of the summary table.
    fn row(&self, verdict: &str) -> String {
        let missing = self
            .missing
            .iter()
            .map(|(f, n)| {
                if *f == self.name {
                    n.to_string()
                } else {
                    format!("{f}:{n}")
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let expected = self
            .differs
            .map(|d| format!(" (differs: expects {}/{})", d.keepalived, d.vigild))
            .unwrap_or_default();
        format!(
            "{verdict:<9} {:<46} keepalived {:<4} vigild {:<4} lines only keepalived names: {}{expected}",
            self.name,
            self.keepalived.code,
            self.vigild.code,
            if missing.is_empty() { "-" } else { &missing },
        )
    }

    fn details(&self) -> String {
        let mut s = format!("==== {}\n", self.name);
        if let Some(b) = &self.broken {
            let _ = writeln!(s, "  could not run: {b}");
            return s;
        }
        for (who, run) in [("keepalived", &self.keepalived), ("vigild", &self.vigild)] {
            let _ = writeln!(s, "  {who} -t: exit {}", run.describe());
            for l in run.output.lines() {
                let _ = writeln!(s, "    | {l}");
            }
        }
        s
    }
}

fn judge(entry_name: &str, differs: Option<Differs>, ka: Run, vg: Run) -> Outcome {
    let ka_lines = keepalived_lines(&ka.output, entry_name);
    let vg_lines = vigild_lines(&vg.output);
    Outcome {
        name: entry_name.to_owned(),
        broken: None,
        missing: ka_lines.difference(&vg_lines).cloned().collect(),
        keepalived: ka,
        vigild: vg,
        differs,
    }
}

#[test]
fn vigild_t_agrees_with_keepalived_t_on_every_corpus_entry() {
    let test = "vigild_t_agrees_with_keepalived_t_on_every_corpus_entry";
    if !privileged_or_skip(test) {
        return;
    }
    if !keepalived_or_skip(test) {
        return;
    }
    let dir = corpus_dir_outside(PRIVATE_TREES);
    let only = only();
    let jobs = jobs(4);

    let mut failures: Vec<String> = Vec::new();
    let known = known_list(&dir, "KNOWN-MISMATCHES", &mut failures);
    let todo = load_entries(&dir, &only, &mut failures);
    // Issue 12 asks for at least this many; fewer means entries went missing.
    assert!(
        !only.is_empty() || todo.len() >= MIN_ENTRIES,
        "{} corpus entries in {}: at least {MIN_ENTRIES} expected",
        todo.len(),
        dir.display()
    );

    let scratch = workdir("corpus");
    let start = Instant::now();
    let outcomes = run_all(&todo, jobs, |entry| {
        match run_entry(entry, &dir, scratch.path()) {
            Ok((ka, vg)) => judge(&entry.name, entry.directives.differs, ka, vg),
            Err(e) => Outcome {
                name: entry.name.clone(),
                broken: Some(e),
                keepalived: Run::default(),
                vigild: Run::default(),
                differs: entry.directives.differs,
                missing: BTreeSet::new(),
            },
        }
    });
    let elapsed = start.elapsed();
    let outcomes: Vec<Outcome> = outcomes.into_iter().map(|(_, o)| o).collect();

    let mut table = String::new();
    let mut details = String::new();
    let mut full = String::new();
    let (mut agreed, mut excused) = (0, 0);
    for o in &outcomes {
        let verdict = verdict(
            &o.name,
            o.agrees(),
            o.broken.as_deref(),
            &known,
            (
                "now agrees with keepalived: remove it from KNOWN-MISMATCHES",
                "differs from keepalived",
            ),
            &mut failures,
        );
        match verdict {
            "ok" => agreed += 1,
            "known" => excused += 1,
            _ => {}
        }
        if verdict != "ok" {
            let _ = writeln!(table, "{}", o.row(verdict));
        }
        if matches!(verdict, "MISMATCH" | "BROKEN" | "FIXED") {
            details.push_str(&o.details());
        }
        let _ = writeln!(full, "{}", o.row(verdict));
        full.push_str(&o.details());
    }
    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("config-corpus-report.txt");
    let _ = std::fs::write(&report, &full);
    say(&format!(
        "config corpus: {} entries in {:.1} s ({jobs} at a time, {} interfaces): \
         {agreed} agree, {excused} known mismatches, {} failures; report: {}\n{table}",
        outcomes.len(),
        elapsed.as_secs_f64(),
        link_kind(),
        failures.len(),
        report.display()
    ));
    assert!(
        failures.is_empty(),
        "{} problem(s) in the config corpus:\n  {}\n\n\
         verdict   entry                                          exits and lines\n{table}\n\
         (MISMATCH: fix vigild, or list the entry in tests/config-corpus/KNOWN-MISMATCHES \
         with its cause; FIXED: remove it from that list; see tests/config-corpus/README.md)\n\n\
         {details}",
        failures.len(),
        failures.join("\n  "),
    );
}

// ---------------------------------------------------------------------------------------
// The harness's own parsing (no privileges needed)

#[test]
fn directives_are_read_and_typos_refused() {
    let d = parse_directives(
        "! corpus: interface eth7\n\
         ! corpus: address eth7 10.1.2.3/24\n\
         ! corpus: script /usr/local/bin/x.sh 0700 1000:1000\n\
         ! corpus: script /etc/keepalived/y.sh\n\
         ! corpus: config-id lb1\n\
         ! corpus: differs keepalived=5 vigild=0: vigild reads it\n\
         ! corpus: start-differs keepalived=runs vigild=exits: vigild refuses it\n\
         ! corpus: about: anything: at all\n\
         ! an ordinary comment\n\
         global_defs {\n}\n",
    )
    .expect("valid directives");
    assert_eq!(d.interfaces, ["eth7"]);
    assert_eq!(d.addresses, [("eth7".to_owned(), "10.1.2.3/24".to_owned())]);
    assert_eq!(
        d.scripts,
        [
            Script {
                path: "/usr/local/bin/x.sh".into(),
                mode: 0o700,
                uid: 1000,
                gid: 1000
            },
            Script {
                path: "/etc/keepalived/y.sh".into(),
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        ]
    );
    assert_eq!(d.config_id.as_deref(), Some("lb1"));
    assert_eq!(
        d.differs,
        Some(Differs {
            keepalived: 5,
            vigild: 0
        })
    );
    assert_eq!(
        d.start_differs,
        Some(StartDiffers {
            keepalived: Fate::Runs,
            vigild: Fate::Exits
        })
    );
    for bad in [
        "! corpus: interfaces eth7",
        "! corpus: interface",
        "! corpus: interface a-very-long-interface-name",
        "! corpus: address eth0 10.1.2.3",
        "! corpus: script /tmp/x.sh",
        "! corpus: script /etc/keepalived/../passwd",
        "! corpus: script /usr/local/x.sh 999",
        "! corpus: script /usr/local/x.sh 0755 root",
        "! corpus: differs keepalived=5 vigild=0",
        "! corpus: differs keepalived=5: no vigild",
        "! corpus: differs keepalived=x vigild=0: bad code",
        "! corpus: start-differs keepalived=runs vigild=exits",
        "! corpus: start-differs keepalived=runs vigild=runs: no difference",
        "! corpus: start-differs keepalived=0 vigild=exits: a code, not a fate",
        "! corpus: start-differs keepalived=runs: no vigild",
        "# corpus: interface eth7",
        "!corpus interface eth7",
        "! corpus about: x",
    ] {
        assert!(parse_directives(bad).is_err(), "accepted `{bad}`");
    }
}

#[test]
fn keepalived_and_vigild_line_references_are_read() {
    let ka = "(Line 3) Unknown keyword 'bogus_kw'\n\
              (/tmp/x/main.conf: Line 7) WARNING - interface eth9 doesn't exist\n\
              (inc/part.conf: Line 2) number '300' outside range [1, 255]\n\
              Non-existent interface specified in configuration\n\
              (VI_1) no line here\n";
    let got = keepalived_lines(ka, "main.conf");
    let want: BTreeSet<(String, u32)> = [
        ("main.conf".to_owned(), 3),
        ("main.conf".to_owned(), 7),
        ("part.conf".to_owned(), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    let vg = "main.conf:3:3: warning: unknown keyword `bogus_kw`\n\
              /abs/inc/part.conf:2:21: error: out of range\n\
              (included from `main.conf:7`)\n\
              note: 10:30 is a time, not a place\n";
    assert_eq!(vigild_lines(vg), want);
}

/// The seed configurations (`shared/configs/seeds/`, or `$VIGIL_SEEDS`) are in the
/// corpus, unchanged, as `0NN-seed-NAME.conf` (the repository keeps its own copies).
#[test]
fn every_seed_configuration_is_a_corpus_entry() {
    let seeds = std::env::var_os("VIGIL_SEEDS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/configs/seeds"
            ))
        },
        PathBuf::from,
    );
    let Ok(dir) = std::fs::read_dir(&seeds) else {
        // CI and every developer have shared/ beside the repository; a bare clone
        // elsewhere has not, and the corpus itself still runs.
        say(&format!(
            "SKIPPED every_seed_configuration_is_a_corpus_entry: no {}\n",
            seeds.display()
        ));
        return;
    };
    let corpus: Vec<(String, Vec<u8>)> = entries(&corpus_dir())
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    let mut n = 0;
    for seed in dir.filter_map(Result::ok).map(|e| e.path()) {
        if seed.extension().is_none_or(|x| x != "conf") {
            continue;
        }
        n += 1;
        let text = std::fs::read(&seed).unwrap();
        // `000-master-commented.conf` is copied as `0NN-seed-master-commented.conf`.
        let name = seed.file_name().unwrap().to_string_lossy().into_owned();
        let tail = name.split_once('-').map_or(name.as_str(), |(_, t)| t);
        let copy = corpus.iter().find(|(c, _)| {
            c.starts_with('0') && c.split_once("-seed-").is_some_and(|(_, t)| t == tail)
        });
        match copy {
            Some((c, body)) => assert!(
                *body == text,
                "{c} differs from the seed {}: copy it again",
                seed.display()
            ),
            None => panic!(
                "the seed {} has no corpus entry 0NN-seed-{tail}",
                seed.display()
            ),
        }
    }
    assert!(n > 0, "no seed configuration in {}", seeds.display());
}

#[test]
fn known_mismatches_are_read_with_comments() {
    let k = known_mismatches("# header\n\n101-lang-x.conf  # cause\n  205-machine-y\n");
    assert_eq!(k, ["101-lang-x", "205-machine-y"]);
}

// ---------------------------------------------------------------------------------------
// Random block structures (docs/config-blocks.md)

/// The lines random files are drawn from: block keywords with and without their `{`,
/// values, unknown keywords, stray and glued braces. `#` is replaced by 1 to 3. (No LVS
/// blocks: vigild does not read them as keepalived's checker does.)
const BLOCK_LINES: &[&str] = &[
    "vrrp_instance VI_# {",
    "vrrp_instance VI_#",
    "foo {",
    "foo",
    "}",
    "{",
    "priority 50",
    "virtual_ipaddress {",
    "virtual_ipaddress",
    "10.0.0.#/24",
    "state BACKUP {",
    "state BACKUP",
    "interface eth0",
    "virtual_router_id #",
    "global_defs {",
    "global_defs",
    "router_id x",
    "vrrp_sync_group G# {",
    "group {",
    "VI_#",
    "authentication {",
    "auth_type PASS",
    "auth_pass x",
    "advert_int 2",
    "nopreempt",
    "vrrp_script s# {",
    "script /bin/true",
    "a { b } c",
    "x }",
    "} y",
    "{ z",
];

/// `count` files of 3 to 25 random lines each (a fixed generator: the same files on
/// every run for one `seed`).
fn random_block_files(seed: u64, count: usize) -> Vec<(String, String)> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % n as u64) as usize
    };
    (0..count)
        .map(|i| {
            let lines = 3 + next(23);
            let mut text = String::new();
            for _ in 0..lines {
                let line = BLOCK_LINES[next(BLOCK_LINES.len())];
                let _ = writeln!(text, "{}", line.replace('#', &(1 + next(3)).to_string()));
            }
            (format!("random-{seed}-{i:03}.conf"), text)
        })
        .collect()
}

/// keepalived reads blocks line by line (a `{` after an unknown keyword is ignored, a
/// value block ends at its first `}`...): random mixes of block keywords, values and
/// stray braces must give the same exit code, and vigild must name every line keepalived
/// names. `VIGIL_BLOCKS_SEED` picks other files (default 1), `VIGIL_BLOCKS_COUNT` how
/// many (default 80).
#[test]
fn random_block_structures_agree_with_keepalived() {
    let test = "random_block_structures_agree_with_keepalived";
    if !privileged_or_skip(test) || !keepalived_or_skip(test) {
        return;
    }
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = env("VIGIL_BLOCKS_SEED", 1);
    let count = env("VIGIL_BLOCKS_COUNT", 80) as usize;
    let files = workdir("blocks");
    let scratch = workdir("blocks-out");
    let mut todo = Vec::new();
    for (name, text) in random_block_files(seed, count) {
        std::fs::write(files.path().join(&name), text).expect("write");
        todo.push(Entry {
            name,
            directives: Directives::default(),
        });
    }
    let results = run_all(&todo, 4, |entry| {
        let text = std::fs::read_to_string(files.path().join(&entry.name)).unwrap_or_default();
        let problem = match run_entry(entry, files.path(), scratch.path()) {
            Ok((ka, vg)) => {
                let o = judge(&entry.name, None, ka, vg);
                (!o.agrees()).then(|| format!("{}{}", o.row("MISMATCH"), o.details()))
            }
            Err(e) => Some(format!("{}: could not run it: {e}", entry.name)),
        };
        problem.map(|p| format!("{p}  the file:\n{text}"))
    });
    let failures: Vec<String> = results.into_iter().filter_map(|(_, p)| p).collect();
    say(&format!(
        "random block structures (seed {seed}): {} files, {} differ\n",
        todo.len(),
        failures.len()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
