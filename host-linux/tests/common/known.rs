//! Known-difference lists of the differential tests (`tests/config-corpus/
//! KNOWN-MISMATCHES`, `tests/timelines/KNOWN-DIFFERENCES`): entries listed there may
//! differ from keepalived (reported, not a failure) and must not agree (the list only
//! shrinks). And running a test's entries a few at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An entry's name without its file extension (`.conf`, `.scenario`).
pub fn entry_stem(name: &str) -> &str {
    [".conf", ".scenario"]
        .iter()
        .find_map(|x| name.strip_suffix(x))
        .unwrap_or(name)
}

/// The entry names in a known list (extension optional; `#` starts a comment).
pub fn known_mismatches(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| entry_stem(l).to_owned())
        .collect()
}

/// One entry's verdict against its known list: `ok`, `known` (listed and still
/// differing), `FIXED` (listed but agreeing now), `MISMATCH` or `BROKEN`. Every verdict
/// but `ok` and `known` adds its failure (`fixed` and `differs` say what happened).
pub fn verdict(
    name: &str,
    agrees: bool,
    broken: Option<&str>,
    known: &[String],
    (fixed, differs): (&str, &str),
    failures: &mut Vec<String>,
) -> &'static str {
    let listed = known.iter().any(|k| entry_stem(name) == k);
    match (agrees, listed, broken) {
        (_, _, Some(b)) => {
            failures.push(format!("{name}: could not run it: {b}"));
            "BROKEN"
        }
        (true, false, None) => "ok",
        (true, true, None) => {
            failures.push(format!("{name}: {fixed}"));
            "FIXED"
        }
        (false, true, None) => "known",
        (false, false, None) => {
            failures.push(format!("{name}: {differs}"));
            "MISMATCH"
        }
    }
}

/// Runs `f` on every item, `jobs` at a time; the results in the items' order.
pub fn run_parallel<I: Sync, T: Send>(
    items: &[I],
    jobs: usize,
    f: impl Fn(&I) -> T + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap().push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}
