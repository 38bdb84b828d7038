//! The files an `include PATTERN` line names: keepalived's `glob(3)` with `GLOB_BRACE`,
//! with bounds.
//!
//! keepalived expands every brace alternative first and globs each: `{a,b}` twenty times
//! over is a million patterns, and keepalived (like vigild before) takes seconds to minutes
//! and grows without bound on such a line, on start and on every reload. Here:
//! - the number of alternatives is counted before anything is expanded: more than
//!   [`MAX_INCLUDE_PATTERNS`] is an error at the include line, and nothing is globbed;
//! - alternatives are expanded one at a time and each is matched against what exists,
//!   directory by directory (a component without wildcards is one `stat`, a wildcard one
//!   reads its directory), with at most [`MAX_GLOB_ENTRIES`] directory entries examined
//!   for the whole load;
//! - the caller stops the walk when it has included [`MAX_INCLUDED_FILES`] files.
//!
//! Semantics kept from glibc's `glob()`: alternatives in the order written, the matches of
//! each sorted; `*`, `?` and `[...]` do not match a leading `.`; `**` is `*` (no recursive
//! descent); a `{` without its `}` and a `[` without its `]` are literal characters.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// Brace alternatives one include line may expand to.
pub const MAX_INCLUDE_PATTERNS: usize = 4096;
/// Paths the include lines of one configuration may match, all together (files read, and
/// directories or other files skipped).
pub const MAX_INCLUDED_FILES: usize = 4096;
/// Directory entries the include patterns of one configuration may examine.
pub const MAX_GLOB_ENTRIES: usize = 65_536;
/// How deep braces may nest in one pattern.
const MAX_BRACE_NESTING: usize = 32;

/// Why a pattern was not (fully) expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// More brace alternatives than [`MAX_INCLUDE_PATTERNS`] (saturated count).
    TooManyPatterns(u64),
    /// Braces nested deeper than the limit.
    TooDeep,
    /// [`MAX_GLOB_ENTRIES`] directory entries examined.
    TooManyEntries,
}

/// The directory-entry budget of one load, shared by its include lines.
#[derive(Debug, Default)]
pub struct Budget {
    pub entries: usize,
}

/// Calls `found` with every path `pattern` matches (relative patterns are relative to
/// `base`), alternative by alternative, each alternative's matches sorted. `found`
/// returns `Break` to stop. `Err` when a bound was reached (before anything was matched
/// for [`Refused::TooManyPatterns`] and [`Refused::TooDeep`]).
pub fn each_match(
    base: &Path,
    pattern: &str,
    budget: &mut Budget,
    found: &mut dyn FnMut(PathBuf) -> ControlFlow<()>,
) -> Result<(), Refused> {
    let seq = parse_braces(pattern, 0).ok_or(Refused::TooDeep)?;
    let n = count(&seq);
    if n > MAX_INCLUDE_PATTERNS as u64 {
        return Err(Refused::TooManyPatterns(n));
    }
    let mut result = Ok(());
    let mut todo = vec![seq.as_slice()];
    let _ = expand(&mut todo, &mut String::new(), &mut |alt| {
        let (dir, rest) = match alt.strip_prefix('/') {
            Some(rest) => (PathBuf::from("/"), rest),
            None => (base.to_path_buf(), alt),
        };
        let comps: Vec<&str> = rest.split('/').collect();
        match walk(dir, &comps, budget, found) {
            Walk::Go => ControlFlow::Continue(()),
            Walk::Stop => ControlFlow::Break(()),
            Walk::Spent => {
                result = Err(Refused::TooManyEntries);
                ControlFlow::Break(())
            }
        }
    });
    result
}

/// One piece of a pattern: text, or a brace group's alternatives.
#[derive(Debug)]
enum Piece<'a> {
    Lit(&'a str),
    Alt(Vec<Vec<Piece<'a>>>),
}

/// glibc's brace reading: the first `{` with a matching `}` is a group (its alternatives
/// split at top-level commas, each read again); without a matching `}`, the rest is
/// literal. `None` when groups nest deeper than [`MAX_BRACE_NESTING`].
fn parse_braces(s: &str, depth: usize) -> Option<Vec<Piece<'_>>> {
    if depth > MAX_BRACE_NESTING {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            out.push(Piece::Lit(rest));
            break;
        };
        let Some((close, commas)) = matching_close(rest, open) else {
            out.push(Piece::Lit(rest));
            break;
        };
        if open > 0 {
            out.push(Piece::Lit(&rest[..open]));
        }
        let mut alts = Vec::with_capacity(commas.len() + 1);
        let mut start = open + 1;
        for end in commas.into_iter().chain(std::iter::once(close)) {
            alts.push(parse_braces(&rest[start..end], depth + 1)?);
            start = end + 1;
        }
        out.push(Piece::Alt(alts));
        rest = &rest[close + 1..];
    }
    Some(out)
}

/// The `}` matching the `{` at `open`, and the commas at its level.
fn matching_close(s: &str, open: usize) -> Option<(usize, Vec<usize>)> {
    let mut depth = 0usize;
    let mut commas = Vec::new();
    for (i, b) in s.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some((i, commas));
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    None
}

/// How many alternatives `seq` expands to (saturating).
fn count(seq: &[Piece<'_>]) -> u64 {
    seq.iter().fold(1u64, |acc, p| match p {
        Piece::Lit(_) => acc,
        Piece::Alt(alts) => acc.saturating_mul(
            alts.iter()
                .fold(0u64, |sum, a| sum.saturating_add(count(a))),
        ),
    })
}

/// Calls `f` with each expansion of the sequences on `todo` (last pushed first), in
/// glibc's order, building one string at a time.
fn expand<'a>(
    todo: &mut Vec<&'a [Piece<'a>]>,
    cur: &mut String,
    f: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let Some(seq) = todo.pop() else {
        return f(cur);
    };
    let flow = match seq.split_first() {
        None => expand(todo, cur, f),
        Some((Piece::Lit(s), rest)) => {
            let len = cur.len();
            cur.push_str(s);
            todo.push(rest);
            let flow = expand(todo, cur, f);
            todo.pop();
            cur.truncate(len);
            flow
        }
        Some((Piece::Alt(alts), rest)) => {
            todo.push(rest);
            let mut flow = ControlFlow::Continue(());
            for a in alts {
                todo.push(a);
                flow = expand(todo, cur, f);
                todo.pop();
                if flow.is_break() {
                    break;
                }
            }
            todo.pop();
            flow
        }
    };
    todo.push(seq);
    flow
}

enum Walk {
    Go,
    /// The caller has what it wants.
    Stop,
    /// [`MAX_GLOB_ENTRIES`] reached.
    Spent,
}

/// Matches `comps` (a pattern split at `/`) under `dir`.
fn walk(
    dir: PathBuf,
    comps: &[&str],
    budget: &mut Budget,
    found: &mut dyn FnMut(PathBuf) -> ControlFlow<()>,
) -> Walk {
    let Some((&comp, rest)) = comps.split_first() else {
        return match found(dir) {
            ControlFlow::Continue(()) => Walk::Go,
            ControlFlow::Break(()) => Walk::Stop,
        };
    };
    // `a//b`, `./a` and a trailing `/` add nothing to the path.
    if comp.is_empty() || comp == "." {
        return walk(dir, rest, budget, found);
    }
    let Some(pattern) = wildcard(comp) else {
        let path = dir.join(comp);
        let exists = if rest.is_empty() {
            std::fs::symlink_metadata(&path).is_ok()
        } else {
            path.is_dir()
        };
        return if exists {
            walk(path, rest, budget, found)
        } else {
            Walk::Go
        };
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Walk::Go;
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut names = Vec::new();
    for e in entries {
        budget.entries += 1;
        if budget.entries > MAX_GLOB_ENTRIES {
            return Walk::Spent;
        }
        let Ok(e) = e else { continue };
        let name = e.file_name();
        if name
            .to_str()
            .is_some_and(|n| pattern.matches_with(n, options))
        {
            names.push(name);
        }
    }
    names.sort();
    for name in names {
        let path = dir.join(name);
        if !rest.is_empty() && !path.is_dir() {
            continue;
        }
        match walk(path, rest, budget, found) {
            Walk::Go => {}
            other => return other,
        }
    }
    Walk::Go
}

/// The component as a pattern if it has glob wildcards; `None` for a literal name (also
/// for a malformed `[`, which glibc takes literally).
fn wildcard(comp: &str) -> Option<glob::Pattern> {
    if !comp.contains(['*', '?', '[']) {
        return None;
    }
    // glibc has no recursive `**`: runs of `*` are one `*`.
    let mut single = String::with_capacity(comp.len());
    for c in comp.chars() {
        if !(c == '*' && single.ends_with('*')) {
            single.push(c);
        }
    }
    glob::Pattern::new(&single).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expansions(p: &str) -> Vec<String> {
        let seq = parse_braces(p, 0).unwrap();
        let mut out = Vec::new();
        let _ = expand(&mut vec![seq.as_slice()], &mut String::new(), &mut |s| {
            out.push(s.to_string());
            ControlFlow::Continue(())
        });
        out
    }

    #[test]
    fn braces_expand_as_glibc() {
        assert_eq!(expansions("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
        assert_eq!(expansions("{a,b}{1,2}"), ["a1", "a2", "b1", "b2"]);
        assert_eq!(expansions("a{b"), ["a{b"]);
        assert_eq!(expansions("{a,b}x{"), ["ax{", "bx{"]);
        assert_eq!(expansions("x{}y"), ["xy"]);
        assert_eq!(expansions("plain"), ["plain"]);
    }

    #[test]
    fn alternatives_are_counted_before_expansion() {
        let bomb = "/nonexistent/".to_string() + &"{a,b}".repeat(64);
        let seq = parse_braces(&bomb, 0).unwrap();
        assert_eq!(count(&seq), u64::MAX, "saturates instead of overflowing");
        let r = each_match(Path::new("/"), &bomb, &mut Budget::default(), &mut |_| {
            panic!("nothing is globbed")
        });
        assert_eq!(r, Err(Refused::TooManyPatterns(u64::MAX)));
        let deep = "{".repeat(40) + &"}".repeat(40);
        assert_eq!(
            each_match(Path::new("/"), &deep, &mut Budget::default(), &mut |_| {
                ControlFlow::Continue(())
            }),
            Err(Refused::TooDeep)
        );
    }

    #[test]
    fn globs_match_what_exists_sorted_per_alternative() {
        let d = tempfile::tempdir().unwrap();
        for f in ["b.conf", "a.conf", ".hidden.conf", "x.vip", "sub/c.conf"] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let mut got = Vec::new();
        each_match(
            d.path(),
            "{*.vip,**.conf,sub/*,missing/*}",
            &mut Budget::default(),
            &mut |p| {
                got.push(p.strip_prefix(d.path()).unwrap().display().to_string());
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        assert_eq!(got, ["x.vip", "a.conf", "b.conf", "sub/c.conf"]);
    }
}
