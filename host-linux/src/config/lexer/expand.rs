//! keepalived's configuration language above the line: conditional lines (`@ID`, `@^ID`),
//! parameter definitions (`$NAME=value`, multi-line with trailing `\`) and their uses
//! (`$NAME`, `${NAME}`, `${_RANDOM MIN MAX}`), sequence blocks (`~SEQ`, `~SEQx`) and
//! list blocks (`~LST`), as keepalived 2.2.7's `read_line()` (lib/parser.c) applies them.
//!
//! The order of the steps, which decides every corner case, is keepalived's:
//! 1. while a multi-line definition is being read, a line is added to it as it is (an
//!    empty physical line ends it; a comment-only line does not);
//! 2. `@ID rest` keeps `rest` if ID is the config id (`@^ID`: if it is not); no blank
//!    after the id drops the line;
//! 3. a line starting `$NAME=` defines NAME (redefinition replaces, also a pre-defined);
//! 4. a line starting `~SEQ(` / `~LST(` starts a block whose rest of line is read once per
//!    value; any other line starting `~` is left alone;
//! 5. uses are replaced left to right, the replacement re-scanned at once; then the line
//!    is decommented again and, if it starts with `@` or still has a `$`, steps 2-5 run
//!    again. An undefined `$NAME` stays as written.
//!
//! Generated lines (a block's, a multi-line definition's) are read before the next line
//! of the file, innermost first, exactly as keepalived does. What keepalived leaves
//! unbounded is bounded here (see `docs/config-language.md`): a line may not grow past
//! [`super::MAX_LINE_BYTES`] nor take more than [`MAX_SUBSTITUTIONS_PER_LINE`]
//! replacements (keepalived loops forever on `$A=${A}`), multi-line uses nest at most
//! [`MAX_MULTILINE_NESTING`] deep, and one load generates at most
//! [`MAX_GENERATED_LINES`] lines (`~SEQ(N,1,1000000000)` is refused before it starts).

use super::{Ch, MAX_LINE_BYTES, decomment};
use crate::config::diag::{Diags, Loc};
use std::path::Path;
use std::sync::Arc;

/// Lines one load may generate from blocks and multi-line definitions, all together.
/// keepalived's own example (`~SEQ(IF,0,7) ~SEQ(NUM,0,31) ~SEQ(ID,1,254) $VI4`, 65,024
/// instances of 15 lines) is 975,360.
pub const MAX_GENERATED_LINES: u64 = 2_000_000;
/// How deep multi-line definition uses may nest (a definition using itself would not end).
pub const MAX_MULTILINE_NESTING: usize = 32;
/// Replacements in one line, rescans included (`$A=${A}` would not end).
pub const MAX_SUBSTITUTIONS_PER_LINE: usize = 4096;
/// keepalived's `seq_buf`: a `~SEQ`'s parameters, `)` included, after substitution.
const SEQ_PARAMS_MAX_BYTES: usize = 3 * 20 + 3;

/// Definitions whose value is computed at each use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    /// `${_PWD}`: the directory of the file being read.
    Pwd,
    /// `${_INSTANCE}`: the config id.
    Instance,
    /// `${_RANDOM [MIN [MAX]]}`.
    Random,
}

#[derive(Debug)]
struct Def {
    name: String,
    /// Lines of a multi-line definition end with `\n`, except maybe the last.
    value: Arc<str>,
    multiline: bool,
    builtin: Option<Builtin>,
    /// `${NAME 1 2}` takes numbers only where this is not 0 (only `_RANDOM`).
    max_params: u8,
}

#[derive(Debug)]
enum SeqKind {
    Range {
        next: i64,
        step: i64,
        last: i64,
        hex: bool,
    },
    List {
        params: Vec<String>,
        sets: Vec<Vec<String>>,
        next: usize,
    },
}

/// A `~SEQ` or `~LST` block being read: `text` once per value.
#[derive(Debug)]
struct Seq {
    var: String,
    kind: SeqKind,
    text: Vec<Ch>,
    at: Loc,
    /// Multi-line uses its line came through.
    depth: usize,
}

/// The lines of a multi-line definition still to be read after its use.
#[derive(Debug)]
struct Cont {
    value: Arc<str>,
    pos: usize,
    /// Column of the use: every generated line points there.
    col: u32,
    at: Loc,
    /// Multi-line uses its lines come through, itself included: a definition whose last
    /// line uses itself nests no deeper on the stack, but this grows.
    depth: usize,
}

/// The language state of one load.
#[derive(Debug)]
pub(super) struct Expander {
    config_id: String,
    defs: Vec<Def>,
    /// A multi-line definition being read: which, and its value so far.
    collecting: Option<(usize, String)>,
    seqs: Vec<Seq>,
    cont: Option<Cont>,
    /// Outer multi-line uses, with the block depth each resumes at.
    cont_stack: Vec<(Cont, usize)>,
    /// Blocks below this depth wait until the multi-line use in progress is read.
    ml_seq_depth: usize,
    generated: u64,
    /// Multi-line uses the line being read came through.
    depth: usize,
    rng: u64,
}

/// Why a block was not started.
enum BlockError {
    Invalid(String),
    /// Lines it would generate, lines left.
    TooMany(u128, u64),
}

/// Why a line's substitution stopped.
enum SubstError {
    TooLong,
    TooMany,
    TooDeep,
    Multiline,
}

impl Expander {
    pub(super) fn new(config_id: &str) -> Self {
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(0x5eed);
            h.finish() | 1
        };
        let std = |name: &str, value: &str, builtin, max_params| Def {
            name: name.to_string(),
            value: Arc::from(value),
            multiline: false,
            builtin,
            max_params,
        };
        Expander {
            config_id: config_id.to_string(),
            defs: vec![
                std("_PWD", "", Some(Builtin::Pwd), 0),
                std("_INSTANCE", "", Some(Builtin::Instance), 0),
                std("_RANDOM", "", Some(Builtin::Random), 2),
                std("_HASH", "#", None, 0),
                std("_BANG", "!", None, 0),
            ],
            collecting: None,
            seqs: Vec::new(),
            cont: None,
            cont_stack: Vec::new(),
            ml_seq_depth: 0,
            generated: 0,
            depth: 0,
            rng: seed,
        }
    }

    /// An empty physical line: it ends a multi-line definition being read.
    /// A line of the file is read next (not a generated one).
    pub(super) fn file_line(&mut self) {
        self.depth = 0;
    }

    pub(super) fn blank_line(&mut self) {
        self.finish_collecting();
    }

    fn finish_collecting(&mut self) {
        if let Some((i, value)) = self.collecting.take() {
            let def = &mut self.defs[i];
            def.multiline = !value.is_empty();
            def.value = Arc::from(value);
        }
    }

    /// Runs keepalived's steps on one line (decommented already); returns what is left to
    /// read as configuration, empty if the line was consumed or dropped.
    pub(super) fn process(&mut self, mut line: Vec<Ch>, at: &Loc, diags: &mut Diags) -> Vec<Ch> {
        if let Some((_, value)) = &mut self.collecting {
            let cont = line.last().is_some_and(|c| c.c == '\\');
            if cont {
                let col = line.pop().map_or(1, |c| c.col);
                while line.last().is_some_and(|c| c.c == ' ' || c.c == '\t') {
                    line.pop();
                }
                line.push(Ch { c: '\n', col });
            }
            if line.len() >= 2 || (!line.is_empty() && !cont) {
                value.extend(line.iter().map(|c| c.c));
            }
            if !cont {
                self.finish_collecting();
            }
            return Vec::new();
        }
        let mut substitutions = 0;
        loop {
            let Some(first) = line.first().map(|c| c.c) else {
                return line;
            };
            if first == '@' && !self.conditional(&mut line) {
                return Vec::new();
            }
            if line.first().is_some_and(|c| c.c == '$') && self.definition(&line) {
                return Vec::new();
            }
            if starts_with(&line, "~SEQ") || starts_with(&line, "~LST") {
                let text: String = line.iter().map(|c| c.c).collect();
                match self.add_block(&line, at) {
                    Ok(()) => {}
                    // keepalived logs it, skips the line and runs.
                    Err(BlockError::Invalid(why)) => diags.warn(
                        &at_col(at, &line),
                        format!(
                            "invalid {} specification `{text}`: {why} - skipping the line",
                            &text[..4]
                        ),
                    ),
                    Err(BlockError::TooMany(count, left)) => {
                        diags.unsupported(
                            &at_col(at, &line),
                            format!(
                                "`{text}` would generate {count} lines, {left} are left of the {MAX_GENERATED_LINES} lines vigild generates from blocks and multi-line definitions in one configuration: vigild reads no more of them"
                            ),
                        );
                        self.stop_generating();
                    }
                }
                return Vec::new();
            }
            if line.first().is_some_and(|c| c.c == '~') || !line.iter().any(|c| c.c == '$') {
                return line;
            }
            match self.substitute(&mut line, at, true, MAX_LINE_BYTES, &mut substitutions) {
                Ok(false) => return line,
                Ok(true) => {}
                Err(e) => {
                    let msg = match e {
                        SubstError::TooLong => format!(
                            "parameter substitution makes this line longer than {MAX_LINE_BYTES} bytes (does a definition use itself?); keepalived would read it half substituted, vigild skips it"
                        ),
                        SubstError::TooMany => format!(
                            "more than {MAX_SUBSTITUTIONS_PER_LINE} parameter substitutions in one line (does a definition use itself?); vigild skips it"
                        ),
                        SubstError::TooDeep => format!(
                            "multi-line definitions nested more than {MAX_MULTILINE_NESTING} deep (does a definition use itself?); vigild reads no more of it"
                        ),
                        SubstError::Multiline => "multi-line definition used here".to_string(),
                    };
                    diags.error(&at_col(at, &line), msg);
                    if matches!(e, SubstError::TooDeep) {
                        self.stop_generating();
                    }
                    return Vec::new();
                }
            }
            let (decommented, open_quote) = decomment(&line);
            if let Some(col) = open_quote {
                diags.error(
                    &Loc::new(at.file.clone(), at.line, col),
                    "unterminated quoted string after parameter substitution",
                );
            }
            line = decommented;
            let recheck =
                line.first().is_some_and(|c| c.c == '@') || line.iter().any(|c| c.c == '$');
            if !recheck {
                return line;
            }
        }
    }

    /// `@ID rest` / `@^ID rest`: strips the prefix and returns true if the line is kept.
    fn conditional(&self, line: &mut Vec<Ch>) -> bool {
        let ofs = if line.get(1).is_some_and(|c| c.c == '^') {
            2
        } else {
            1
        };
        let Some(blank) = line
            .iter()
            .skip(ofs)
            .position(|c| c.c == ' ' || c.c == '\t')
            .map(|p| p + ofs)
        else {
            return false;
        };
        let id: String = line[ofs..blank].iter().map(|c| c.c).collect();
        if (id == self.config_id) == (ofs == 2) {
            return false;
        }
        let rest = line[blank..]
            .iter()
            .position(|c| c.c != ' ' && c.c != '\t')
            .map_or(line.len(), |p| p + blank);
        line.drain(..rest);
        true
    }

    /// keepalived's `check_definition`: `$NAME=value`, NAME made of `[A-Za-z0-9_]` not
    /// starting with a digit, `=` right after it.
    fn definition(&mut self, line: &[Ch]) -> bool {
        if !line
            .get(1)
            .is_some_and(|c| c.c.is_ascii_alphabetic() || c.c == '_')
        {
            return false;
        }
        let Some(eq) = line.iter().skip(2).position(|c| c.c == '=').map(|p| p + 2) else {
            return false;
        };
        if !line[2..eq]
            .iter()
            .all(|c| c.c.is_ascii_alphanumeric() || c.c == '_')
        {
            return false;
        }
        let name: String = line[1..eq].iter().map(|c| c.c).collect();
        let mut value: String = line[eq + 1..]
            .iter()
            .map(|c| c.c)
            .skip_while(|c| *c == ' ' || *c == '\t')
            .collect();
        let multiline = value.ends_with('\\');
        if multiline {
            value.pop();
            let kept = value.trim_end_matches([' ', '\t']).len();
            value.truncate(kept);
            if !value.is_empty() {
                value.push('\n');
            }
        }
        let i = self.set(&name, &value);
        self.defs[i].multiline = multiline;
        if multiline {
            self.collecting = Some((i, value));
        }
        true
    }

    /// Defines `name` (replacing a definition of that name, a pre-defined one too).
    fn set(&mut self, name: &str, value: &str) -> usize {
        if let Some(i) = self.defs.iter().position(|d| d.name == name) {
            let d = &mut self.defs[i];
            d.value = Arc::from(value);
            d.builtin = None;
            i
        } else {
            self.defs.push(Def {
                name: name.to_string(),
                value: Arc::from(value),
                multiline: false,
                builtin: None,
                max_params: 0,
            });
            self.defs.len() - 1
        }
    }

    /// keepalived's `find_definition` for a use at `s` (just after its `$`): the
    /// definition, how many characters the use takes (its `$` included) and its numeric
    /// parameters.
    fn find_use(&self, s: &[Ch]) -> Option<(usize, usize, Vec<u64>)> {
        let at = |i: usize| s.get(i).map_or('\0', |c| c.c);
        let braces = at(0) == '{';
        let start = usize::from(braces);
        if !(at(start).is_ascii_alphabetic() || at(start) == '_') {
            return None;
        }
        let mut p = start + 1;
        while at(p).is_ascii_alphanumeric() || at(p) == '_' {
            p += 1;
        }
        let name: String = s[start..p].iter().map(|c| c.c).collect();
        let mut params = Vec::new();
        let (span, allow_multiline) = if braces {
            let params_start = p;
            let mut last_digit = None;
            while at(p) == ' ' || at(p).is_ascii_digit() {
                if at(p) != ' ' {
                    last_digit = Some(p);
                }
                p += 1;
            }
            if let Some(d) = last_digit {
                if d + 1 != p {
                    return None;
                }
                let text: String = s[params_start..p].iter().map(|c| c.c).collect();
                params = text
                    .split_whitespace()
                    .map(|n| n.parse::<u64>().unwrap_or(u64::MAX))
                    .collect();
            }
            if at(p) != '}' {
                return None;
            }
            (p + 2, p + 1 == s.len())
        } else {
            if !matches!(at(p), ' ' | '\t' | ',' | ')' | '\0') {
                return None;
            }
            (p + 1, p == s.len())
        };
        let i = self
            .defs
            .iter()
            .position(|d| d.name == name && (allow_multiline || !d.multiline))?;
        if !params.is_empty() && self.defs[i].max_params == 0 {
            return None;
        }
        Some((i, span, params))
    }

    fn value_of(&mut self, i: usize, params: &[u64], file: &Path) -> Arc<str> {
        match self.defs[i].builtin {
            None => self.defs[i].value.clone(),
            Some(Builtin::Instance) => Arc::from(self.config_id.as_str()),
            Some(Builtin::Pwd) => {
                let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
                let dir = match dir {
                    Some(d) => std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()),
                    None => std::env::current_dir().unwrap_or_default(),
                };
                Arc::from(dir.display().to_string())
            }
            Some(Builtin::Random) => {
                let min = params.first().copied().unwrap_or(0);
                let max = params.get(1).copied().unwrap_or(32767);
                // xorshift: keepalived uses random(); any spread will do.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let r = self.rng >> 33;
                let v = match max.checked_sub(min).and_then(|d| d.checked_add(1)) {
                    Some(range) => min + r % range,
                    None => min.wrapping_add(r),
                };
                Arc::from(v.to_string())
            }
        }
    }

    /// keepalived's `replace_param`: replaces every use, left to right, rescanning each
    /// replacement. `Ok(false)` if nothing was replaced. A multi-line definition's first
    /// line goes in the line and the rest is queued (`multiline` false: refused).
    fn substitute(
        &mut self,
        line: &mut Vec<Ch>,
        at: &Loc,
        multiline: bool,
        max_bytes: usize,
        count: &mut usize,
    ) -> Result<bool, SubstError> {
        let mut found = false;
        let mut cur = 0;
        while let Some(pos) = line[cur..].iter().position(|c| c.c == '$').map(|p| p + cur) {
            if pos + 1 >= line.len() {
                break;
            }
            let Some((i, span, params)) = self.find_use(&line[pos + 1..]) else {
                cur = pos + 1;
                continue;
            };
            found = true;
            *count += 1;
            if *count > MAX_SUBSTITUTIONS_PER_LINE {
                return Err(SubstError::TooMany);
            }
            let col = line[pos].col;
            let value = self.value_of(i, &params, &at.file);
            let first = if self.defs[i].multiline {
                if !multiline {
                    return Err(SubstError::Multiline);
                }
                let (first, rest) = match value.find('\n') {
                    Some(n) => (n, n + 1),
                    None => (value.len(), value.len()),
                };
                if self.depth >= MAX_MULTILINE_NESTING {
                    return Err(SubstError::TooDeep);
                }
                if let Some(outer) = self.cont.take() {
                    self.cont_stack.push((outer, self.ml_seq_depth));
                }
                self.ml_seq_depth = self.seqs.len();
                self.cont = Some(Cont {
                    value: value.clone(),
                    pos: rest,
                    col,
                    at: at.clone(),
                    depth: self.depth + 1,
                });
                &value[..first]
            } else {
                &value[..]
            };
            let old_bytes: usize = line.iter().map(|c| c.c.len_utf8()).sum();
            let span_bytes: usize = line[pos..pos + span].iter().map(|c| c.c.len_utf8()).sum();
            if old_bytes - span_bytes + first.len() > max_bytes {
                return Err(SubstError::TooLong);
            }
            line.splice(pos..pos + span, first.chars().map(|c| Ch { c, col }));
            if value.trim_start_matches([' ', '\t']).starts_with('~') {
                break;
            }
            cur = pos;
        }
        Ok(found)
    }

    /// Drops every block and multi-line use in progress.
    fn stop_generating(&mut self) {
        self.seqs.clear();
        self.cont = None;
        self.cont_stack.clear();
        self.ml_seq_depth = 0;
    }

    /// `~SEQ(...)` / `~SEQx(...)` / `~LST(...)`: queues the block.
    fn add_block(&mut self, line: &[Ch], at: &Loc) -> Result<(), BlockError> {
        let (var, kind, text, count) = if line[1].c == 'S' {
            self.parse_seq(line)
        } else {
            parse_lst(line)
        }
        .map_err(BlockError::Invalid)?;
        let left = MAX_GENERATED_LINES.saturating_sub(self.generated);
        if count > u128::from(left) {
            return Err(BlockError::TooMany(count, left));
        }
        self.seqs.push(Seq {
            var,
            kind,
            text,
            at: at_col(at, line),
            depth: self.depth,
        });
        Ok(())
    }

    /// keepalived's `add_seq`.
    #[allow(clippy::type_complexity)]
    fn parse_seq(&mut self, line: &[Ch]) -> Result<(String, SeqKind, Vec<Ch>, u128), String> {
        let c = |i: usize| line.get(i).map_or('\0', |c| c.c);
        let blanks = |mut i: usize| {
            while c(i) == ' ' || c(i) == '\t' {
                i += 1;
            }
            i
        };
        let mut p = 4;
        let hex = c(p) == 'x';
        if hex {
            p += 1;
        }
        p = blanks(p);
        if c(p) != '(' {
            return Err("`(` expected".into());
        }
        p = blanks(p + 1);
        let var_start = p;
        while !matches!(c(p), ' ' | '\t' | ',' | ')' | '\0') {
            p += 1;
        }
        let var: String = line[var_start..p].iter().map(|c| c.c).collect();
        p = blanks(p);
        if c(p) == '\0' || c(p) == ')' || var.is_empty() {
            return Err("a variable and at least an end value are needed".into());
        }
        p = blanks(p + 1);
        let Some(close) = line[p..].iter().position(|c| c.c == ')').map(|i| i + p) else {
            return Err("no closing `)`".into());
        };
        let mut params = line[p..=close].to_vec();
        let bytes: usize = params.iter().map(|c| c.c.len_utf8()).sum();
        if bytes > SEQ_PARAMS_MAX_BYTES {
            return Err("parameters too long".into());
        }
        let mut n = 0;
        match self.substitute(
            &mut params,
            &Loc::new(Arc::from(Path::new("")), 0, 0),
            false,
            SEQ_PARAMS_MAX_BYTES,
            &mut n,
        ) {
            Ok(_) => {}
            Err(SubstError::Multiline) => {
                return Err("a parameter is a multi-line definition".into());
            }
            Err(_) => return Err("parameters too long after substitution".into()),
        }
        let s: Vec<char> = params.iter().map(|c| c.c).collect();
        let mut q = 0;
        let skip = |q: &mut usize| {
            while s.get(*q).is_some_and(|c| *c == ' ' || *c == '\t') {
                *q += 1;
            }
        };
        let mut nums = Vec::with_capacity(3);
        loop {
            nums.push(strtol(&s, &mut q));
            skip(&mut q);
            match s.get(q) {
                Some(')') => break,
                Some(',') if nums.len() < 3 => q += 1,
                _ => return Err("numbers separated by `,` expected".into()),
            }
        }
        let (start, step, end) = match nums[..] {
            [end] => (
                if end < 0 { -1 } else { 1 },
                if end < 1 { -1 } else { 1 },
                end,
            ),
            [start, end] => (start, if start <= end { 1 } else { -1 }, end),
            [start, step, end] => {
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return Err("the step is 0 or goes away from the end".into());
                }
                (start, step, end)
            }
            _ => unreachable!("one to three numbers"),
        };
        if hex && (start < 0 || end < 0) {
            return Err("~SEQx takes positive numbers only".into());
        }
        let count = ((i128::from(end) - i128::from(start)) / i128::from(step) + 1).max(1) as u128;
        let text_start = blanks(close + 1);
        Ok((
            var,
            SeqKind::Range {
                next: start,
                step,
                last: end,
                hex,
            },
            line[text_start.min(line.len())..].to_vec(),
            count,
        ))
    }

    /// The next line a block or a multi-line use generates, before the file's next line.
    pub(super) fn next_generated(&mut self, diags: &mut Diags) -> Option<(Vec<Ch>, Loc)> {
        let out = if !self.seqs.is_empty() && self.seqs.len() > self.ml_seq_depth {
            let mut seq = self.seqs.pop()?;
            let done = match &mut seq.kind {
                SeqKind::Range {
                    next,
                    step,
                    last,
                    hex,
                } => {
                    let v = if *hex {
                        format!("{:x}", *next as u64)
                    } else {
                        next.to_string()
                    };
                    let var = seq.var.clone();
                    self.set(&var, &v);
                    match next.checked_add(*step) {
                        Some(n) => {
                            *next = n;
                            (*step > 0 && n > *last) || (*step < 0 && n < *last)
                        }
                        None => true,
                    }
                }
                SeqKind::List { params, sets, next } => {
                    for (p, v) in params.iter().zip(&sets[*next]) {
                        self.set(p, v);
                    }
                    *next += 1;
                    *next >= sets.len()
                }
            };
            let line = (seq.text.clone(), seq.at.clone());
            self.depth = seq.depth;
            if !done {
                self.seqs.push(seq);
            }
            line
        } else if let Some(cont) = &mut self.cont {
            let rest = &cont.value[cont.pos..];
            let (text, end) = match rest.find('\n') {
                Some(n) => (&rest[..n], Some(cont.pos + n + 1)),
                None => (rest, None),
            };
            let col = cont.col;
            self.depth = cont.depth;
            let chars = text.chars().map(|c| Ch { c, col }).collect();
            let at = cont.at.clone();
            match end {
                Some(e) => cont.pos = e,
                None => match self.cont_stack.pop() {
                    Some((outer, depth)) => {
                        self.cont = Some(outer);
                        self.ml_seq_depth = depth;
                    }
                    None => {
                        self.cont = None;
                        self.ml_seq_depth = 0;
                    }
                },
            }
            (chars, at)
        } else {
            return None;
        };
        self.generated += 1;
        if self.generated > MAX_GENERATED_LINES {
            diags.unsupported(
                &out.1,
                format!(
                    "blocks and multi-line definitions generate more than {MAX_GENERATED_LINES} lines: vigild reads no more of them"
                ),
            );
            self.stop_generating();
            return None;
        }
        Some(out)
    }
}

/// keepalived's `add_lst`: `~LST(VAR, v1, v2, ...)` or `~LST({V1, V2}, {a, b}, ...)`.
#[allow(clippy::type_complexity)]
fn parse_lst(line: &[Ch]) -> Result<(String, SeqKind, Vec<Ch>, u128), String> {
    let c = |i: usize| line.get(i).map_or('\0', |c| c.c);
    let blanks = |mut i: usize| {
        while c(i) == ' ' || c(i) == '\t' {
            i += 1;
        }
        i
    };
    let word = |i: &mut usize, stops: &[char]| -> String {
        let start = *i;
        while c(*i) != '\0' && !stops.contains(&c(*i)) {
            *i += 1;
        }
        line[start..*i].iter().map(|c| c.c).collect()
    };
    let bad = || Err("malformed list".to_string());
    let mut p = blanks(4);
    if c(p) != '(' {
        return Err("`(` expected".into());
    }
    p = blanks(p + 1);
    let mut end_char = ',';
    if c(p) == '{' {
        end_char = '}';
        p = blanks(p + 1);
    }
    let mut params = Vec::new();
    loop {
        params.push(word(&mut p, &[' ', '\t', ',', '}']));
        p = blanks(p);
        if c(p) == end_char {
            break;
        }
        if c(p) != ',' {
            return bad();
        }
        p = blanks(p + 1);
    }
    if c(p) == '}' {
        p = blanks(p + 1);
    }
    if c(p) != ',' {
        return bad();
    }
    p = blanks(p + 1);
    let mut sets = Vec::new();
    loop {
        let mut end_char = ',';
        if c(p) == '{' {
            end_char = '}';
            p = blanks(p + 1);
        }
        let mut values = Vec::new();
        loop {
            values.push(word(&mut p, &[' ', '\t', ',', '}', ')']));
            p = blanks(p);
            if c(p) == end_char || (c(p) == ')' && end_char == ',') {
                break;
            }
            if c(p) != ',' {
                return bad();
            }
            p = blanks(p + 1);
            if values.len() > params.len() - 1 {
                return Err("a set has more values than the list has variables".into());
            }
        }
        values.resize(params.len(), String::new());
        sets.push(values);
        if c(p) == '}' && end_char == '}' {
            p = blanks(p + 1);
        }
        if c(p) == ')' {
            break;
        }
        if c(p) != ',' {
            return bad();
        }
        p = blanks(p + 1);
    }
    let text_start = blanks(p + 1).min(line.len());
    let count = sets.len() as u128;
    Ok((
        params[0].clone(),
        SeqKind::List {
            params,
            sets,
            next: 0,
        },
        line[text_start..].to_vec(),
        count,
    ))
}

/// C's `strtol(s, &end, 0)`: blanks, a sign, `0x` hex, `0` octal or decimal; saturates;
/// no digits leaves `i` where it was and gives 0.
fn strtol(s: &[char], i: &mut usize) -> i64 {
    let mut p = *i;
    while s.get(p).is_some_and(|c| c.is_ascii_whitespace()) {
        p += 1;
    }
    let neg = match s.get(p) {
        Some('-') => {
            p += 1;
            true
        }
        Some('+') => {
            p += 1;
            false
        }
        _ => false,
    };
    let mut radix = 10;
    if s.get(p) == Some(&'0') {
        if matches!(s.get(p + 1), Some('x' | 'X'))
            && s.get(p + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            p += 2;
        } else {
            radix = 8;
        }
    }
    let digits_start = p;
    let mut v: i128 = 0;
    while let Some(d) = s.get(p).and_then(|c| c.to_digit(radix)) {
        v = (v * i128::from(radix) + i128::from(d)).min(i128::from(u64::MAX));
        p += 1;
    }
    if p == digits_start {
        return 0;
    }
    *i = p;
    let v = if neg { -v } else { v };
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn starts_with(line: &[Ch], prefix: &str) -> bool {
    line.len() >= prefix.len() && line.iter().zip(prefix.chars()).all(|(a, b)| a.c == b)
}

fn at_col(at: &Loc, line: &[Ch]) -> Loc {
    Loc::new(
        at.file.clone(),
        at.line,
        line.first().map_or(at.col, |c| c.col),
    )
}
