//! keepalived.conf tokens, read the way keepalived 2.2.7 reads them.
//!
//! keepalived's reader is line oriented, and so is this one:
//! - `#` and `!` start a comment anywhere outside double quotes, also right after a value
//!   (`51#x` is `51`); `\#` and `\!` are a literal `#` / `!`.
//! - `{` and `}` outside quotes are tokens of their own even when glued to a word
//!   (`virtual_ipaddress{`, `10.0.0.1}`), so one-line blocks work.
//! - A word starting with `"` runs to the next `"` (whitespace kept, quotes removed); a `"`
//!   inside a word ends that word and starts a quoted one (`notify_"x y"` is `notify_` and
//!   `x y`, which is how keepalived reports the seed typo). Single quotes and backslash
//!   escapes mean nothing here: keepalived only honours them inside script command lines
//!   (see [`split_command`]).
//! - There is no line continuation: keepalived glues a trailing `\` to the last word
//!   (`virtual_router_id \` is the unknown keyword `virtual_router_id\`), and so do we.
//! - A line made of exactly `include PATTERN` (or keepalived's variants `includer`,
//!   `includem`, `includew`, `includeb`, `includea`) is replaced by the files it names:
//!   brace expansion and glob wildcards, relative to the directory of the including file,
//!   matches read in sorted order, directories and executable files skipped. Include
//!   cycles and nesting deeper than [`MAX_INCLUDE_DEPTH`] are errors.
//!
//! keepalived's conditional lines (`@id ...`), parameter definitions (`$NAME=...`) and
//! `~SEQ` blocks are not implemented: they are reported as errors rather than silently read
//! as something else.

use super::diag::{Diags, KaClass, Loc, Severity};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How deep `include` may nest (keepalived has no limit and recurses until it runs out of
/// file descriptors on a cycle).
pub const MAX_INCLUDE_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Word {
        text: String,
        quoted: bool,
    },
    Open,
    Close,
    /// End of a physical line: a keyword's arguments stop here.
    Eol,
    /// End of the main file.
    Eof,
}

/// A token with where it came from. `line` is the line's text after comments are removed,
/// and `span` the token's bytes in it (quotes included), so that script command lines can
/// be re-read with keepalived's quoting rules.
#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub loc: Loc,
    pub line: Arc<str>,
    pub span: Range<usize>,
}

impl Token {
    pub fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word { text, .. } => Some(text),
            _ => None,
        }
    }
}

const INCLUDE_WORDS: [&str; 6] = [
    "include", "includer", "includem", "includew", "includeb", "includea",
];

struct Lexer<'d> {
    diags: &'d mut Diags,
    tokens: Vec<Token>,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
}

/// Reads `path` and everything it includes. `None` if the main file cannot be read.
pub fn lex_file(path: &Path, diags: &mut Diags) -> Option<Vec<Token>> {
    let name: Arc<Path> = Arc::from(path);
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            diags.push(
                Severity::Error,
                KaClass::Fatal,
                &Loc::new(name, 0, 0),
                format!("cannot read configuration file: {e}"),
            );
            return None;
        }
    };
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    Some(lex_text(name, canon, &text, diags))
}

/// Tokenizes `text` as if read from the file `name` (includes are resolved relative to its
/// directory).
pub fn lex_str(name: &Path, text: &str, diags: &mut Diags) -> Vec<Token> {
    let canon = std::fs::canonicalize(name).unwrap_or_else(|_| name.to_path_buf());
    lex_text(Arc::from(name), canon, text, diags)
}

fn lex_text(name: Arc<Path>, canon: PathBuf, text: &str, diags: &mut Diags) -> Vec<Token> {
    let mut lx = Lexer {
        diags,
        tokens: Vec::new(),
        stack: vec![canon],
    };
    let last_line = lx.file(&name, text);
    lx.tokens.push(Token {
        tok: Tok::Eof,
        loc: Loc::new(name, last_line, 1),
        line: Arc::from(""),
        span: 0..0,
    });
    lx.tokens
}

/// One character of a line after comment removal, with its column.
#[derive(Clone, Copy)]
struct Ch {
    c: char,
    col: u32,
}

impl Lexer<'_> {
    /// Lexes one file's text; returns the line number just past its end.
    fn file(&mut self, name: &Arc<Path>, text: &str) -> u32 {
        let mut lineno = 0u32;
        for raw in text.split('\n') {
            lineno = lineno.saturating_add(1);
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            self.line(name, lineno, raw);
        }
        // `split` yields a last, empty piece after a final newline: the Eof goes there.
        lineno
    }

    fn line(&mut self, name: &Arc<Path>, lineno: u32, raw: &str) {
        let chars = self.decomment(name, lineno, raw);
        if chars.is_empty() {
            return;
        }
        let first = chars[0];
        let loc0 = Loc::new(name.clone(), lineno, first.col);
        match first.c {
            '@' => {
                self.diags.unsupported(
                    &loc0,
                    "conditional configuration lines (`@config-id ...`) are not supported by vigild",
                );
                return;
            }
            '$' if chars.iter().any(|c| c.c == '=')
                && chars
                    .get(1)
                    .is_some_and(|c| c.c.is_ascii_alphabetic() || c.c == '_') =>
            {
                self.diags.unsupported(
                    &loc0,
                    "parameter definitions (`$NAME=value`) are not supported by vigild",
                );
                return;
            }
            '~' => {
                self.diags
                    .unsupported(&loc0, "`~SEQ` sequence blocks are not supported by vigild");
                return;
            }
            _ => {}
        }
        let text: String = chars.iter().map(|c| c.c).collect();
        // keepalived looks for `include` before it splits at braces (patterns may hold
        // `{a,b}`): two words, the first an include keyword.
        if let [kw, pattern] = strvec(&text).as_slice()
            && INCLUDE_WORDS.contains(&kw.as_str())
        {
            self.include(name, &loc0, pattern);
            return;
        }
        let line: Arc<str> = Arc::from(text.as_str());
        let toks = tokenize(&chars, &line, name, lineno);
        let eol = Token {
            tok: Tok::Eol,
            loc: Loc::new(
                name.clone(),
                lineno,
                chars.last().map_or(1, |c| c.col.saturating_add(1)),
            ),
            line: line.clone(),
            span: line.len()..line.len(),
        };
        self.tokens.extend(toks);
        self.tokens.push(eol);
    }

    /// keepalived's `decomment()`: drops comments and surrounding blanks, resolves `\#` and
    /// `\!`, glues a trailing `\` to the last word.
    fn decomment(&mut self, name: &Arc<Path>, lineno: u32, raw: &str) -> Vec<Ch> {
        let mut out = Vec::with_capacity(raw.len());
        let mut quote = false;
        let mut quote_col = 0;
        let mut it = raw.chars().zip(1u32..).peekable();
        while let Some((c, col)) = it.next() {
            match c {
                '"' => {
                    quote = !quote;
                    quote_col = col;
                    out.push(Ch { c, col });
                }
                '\\' => match it.peek().copied() {
                    Some((n @ ('#' | '!'), ncol)) if !quote => {
                        it.next();
                        out.push(Ch { c: n, col: ncol });
                    }
                    Some((n, ncol)) => {
                        it.next();
                        out.push(Ch { c, col });
                        out.push(Ch { c: n, col: ncol });
                    }
                    None => {
                        // A trailing backslash: keepalived removes the blanks before it.
                        while out.last().is_some_and(|c: &Ch| c.c == ' ' || c.c == '\t') {
                            out.pop();
                        }
                        out.push(Ch { c, col });
                    }
                },
                '#' | '!' if !quote => break,
                _ => out.push(Ch { c, col }),
            }
        }
        if quote {
            self.diags.error(
                &Loc::new(name.clone(), lineno, quote_col),
                "unterminated quoted string: this `\"` has no closing `\"` on its line",
            );
        }
        while out
            .last()
            .is_some_and(|c| c.c.is_whitespace() || c.c == '\0')
        {
            out.pop();
        }
        let lead = out
            .iter()
            .take_while(|c| c.c.is_whitespace() || c.c == '\0')
            .count();
        out.drain(..lead);
        out
    }

    fn include(&mut self, name: &Arc<Path>, loc: &Loc, pattern: &str) {
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            self.diags.error(
                loc,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} files"),
            );
            return;
        }
        let base = name.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut files = Vec::new();
        let mut any_match = false;
        let Some(patterns) = expand_braces(pattern) else {
            self.diags.unsupported(
                loc,
                format!("include `{pattern}` expands to more than {MAX_INCLUDE_NAMES} names"),
            );
            return;
        };
        for pat in patterns {
            let full = if Path::new(&pat).is_absolute() || base.as_os_str().is_empty() {
                pat.clone()
            } else {
                base.join(&pat).to_string_lossy().into_owned()
            };
            let Ok(paths) = glob::glob(&one_star_per_run(&full)) else {
                self.diags
                    .note(loc, format!("include pattern `{pat}` is not a valid glob"));
                continue;
            };
            for p in paths.flatten() {
                any_match = true;
                files.push(p);
            }
        }
        if !any_match {
            self.diags.note(
                loc,
                format!("include `{pattern}` matches no file (keepalived skips it too)"),
            );
        }
        for path in files {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                continue;
            }
            if is_executable(&meta) || !meta.is_file() {
                self.diags.note(
                    loc,
                    format!(
                        "included file `{}` is not a regular non-executable file - skipping (as keepalived does)",
                        path.display()
                    ),
                );
                continue;
            }
            let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if let Some(i) = self.stack.iter().position(|p| *p == canon) {
                let chain: Vec<String> = self.stack[i..]
                    .iter()
                    .chain(std::iter::once(&canon))
                    .map(|p| p.display().to_string())
                    .collect();
                self.diags
                    .error(loc, format!("include cycle: {}", chain.join(" -> ")));
                continue;
            }
            let text = match std::fs::read(&path) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    self.diags.note(
                        loc,
                        format!("cannot read included file `{}`: {e}", path.display()),
                    );
                    continue;
                }
            };
            self.stack.push(canon);
            let inc: Arc<Path> = Arc::from(path.as_path());
            self.file(&inc, &text);
            self.stack.pop();
        }
    }
}

/// glob(3) has no recursive `**`: a run of stars is one star. The glob crate would descend
/// into every subdirectory for `**/` (and refuse `a**b`), where keepalived stays in one.
fn one_star_per_run(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        if !(c == '*' && out.ends_with('*')) {
            out.push(c);
        }
    }
    out
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

/// keepalived's `alloc_strvec`: words separated by blanks, a word starting with `"` runs
/// to the next `"`. Braces are ordinary characters here.
fn strvec(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(q) = rest.strip_prefix('"') {
            let end = q.find('"').unwrap_or(q.len());
            out.push(q[..end].to_string());
            rest = q.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            out.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
}

/// Splits a decommented line into words and braces.
fn tokenize(chars: &[Ch], line: &Arc<str>, name: &Arc<Path>, lineno: u32) -> Vec<Token> {
    // Byte offset of every char in `line`.
    let mut offs = Vec::with_capacity(chars.len() + 1);
    let mut o = 0;
    for c in chars {
        offs.push(o);
        o += c.c.len_utf8();
    }
    offs.push(o);

    let mut toks = Vec::new();
    let mut i = 0;
    let n = chars.len();
    let mk = |tok: Tok, start: usize, end: usize| Token {
        tok,
        loc: Loc::new(name.clone(), lineno, chars[start].col),
        line: line.clone(),
        span: offs[start]..offs[end],
    };
    while i < n {
        let c = chars[i].c;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '{' => {
                toks.push(mk(Tok::Open, i, i + 1));
                i += 1;
            }
            '}' => {
                toks.push(mk(Tok::Close, i, i + 1));
                i += 1;
            }
            '"' => {
                let start = i;
                let mut j = i + 1;
                while j < n && chars[j].c != '"' {
                    j += 1;
                }
                let text: String = chars[i + 1..j].iter().map(|c| c.c).collect();
                let end = if j < n { j + 1 } else { j };
                toks.push(mk(Tok::Word { text, quoted: true }, start, end));
                i = end;
            }
            _ => {
                let start = i;
                let mut j = i;
                while j < n {
                    let d = chars[j].c;
                    if d.is_whitespace() || d == '{' || d == '}' || d == '"' {
                        break;
                    }
                    j += 1;
                }
                let text: String = chars[start..j].iter().map(|c| c.c).collect();
                toks.push(mk(
                    Tok::Word {
                        text,
                        quoted: false,
                    },
                    start,
                    j,
                ));
                i = j;
            }
        }
    }
    toks
}

/// How many names one `include` pattern may expand to. Each `{a,b}` doubles the count, and
/// glob(3) expands them all, for keepalived too: thirty on one line are a billion names.
pub const MAX_INCLUDE_NAMES: usize = 1024;

/// csh-style brace expansion as glob(3) with GLOB_BRACE does it: `a{b,c}d` is `abd`, `acd`.
/// Unbalanced braces are left as they are. `None` past [`MAX_INCLUDE_NAMES`] names (found
/// without expanding further).
pub fn expand_braces(pattern: &str) -> Option<Vec<String>> {
    let bytes = pattern.as_bytes();
    let Some(open) = bytes.iter().position(|&b| b == b'{') else {
        return Some(vec![pattern.to_string()]);
    };
    let mut depth = 0usize;
    let mut close = None;
    let mut commas = Vec::new();
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        return Some(vec![pattern.to_string()]);
    };
    let (pre, post) = (&pattern[..open], &pattern[close + 1..]);
    let mut parts = Vec::new();
    let mut s = open + 1;
    for &c in &commas {
        parts.push(&pattern[s..c]);
        s = c + 1;
    }
    parts.push(&pattern[s..close]);
    let mut out = Vec::new();
    for p in parts {
        for rest in expand_braces(&format!("{p}{post}"))? {
            if out.len() == MAX_INCLUDE_NAMES {
                return None;
            }
            out.push(format!("{pre}{rest}"));
        }
    }
    Some(out)
}

/// keepalived's `alloc_strvec_quoted_escaped`: splits a script command line like a shell
/// would, with `"` and `'` quotes (removed, inner blanks kept, quoted parts glued to the
/// word around them) and backslash escapes (`\n`, `\t`, `\xHH`, `\NNN` octal, `\cC`, `\C`).
/// `Err` names an unterminated quote.
pub fn split_command(s: &str) -> Result<Vec<String>, char> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = it.peek() {
            if quote.is_none() && c.is_whitespace() {
                break;
            }
            it.next();
            match c {
                '\\' => {
                    let Some(e) = it.next() else { break };
                    match e {
                        'x' if it.peek().is_some_and(char::is_ascii_hexdigit) => {
                            let mut v: u32 = 0;
                            while let Some(d) = it.peek().and_then(|c| c.to_digit(16)) {
                                v = (v << 4 | d) & 0xff;
                                it.next();
                            }
                            word.push(char::from(v as u8));
                        }
                        'c' if it.peek().is_some() => {
                            let k = it.next().unwrap_or('@');
                            word.push(char::from((k as u32 & 0x1f) as u8));
                        }
                        '0'..='7' => {
                            let mut v = e.to_digit(8).unwrap_or(0);
                            for _ in 0..2 {
                                if let Some(d) = it.peek().and_then(|c| c.to_digit(8)) {
                                    v = v * 8 + d;
                                    it.next();
                                }
                            }
                            word.push(char::from((v & 0xff) as u8));
                        }
                        'a' => word.push('\x07'),
                        'b' => word.push('\x08'),
                        'E' => word.push('\x1b'),
                        'f' => word.push('\x0c'),
                        'n' => word.push('\n'),
                        'r' => word.push('\r'),
                        't' => word.push('\t'),
                        'v' => word.push('\x0b'),
                        other => word.push(other),
                    }
                }
                '"' | '\'' if quote.is_none() => quote = Some(c),
                q if Some(q) == quote => quote = None,
                _ => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(q);
        }
        out.push(word);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut d = Diags::default();
        lex_str(Path::new("/nonexistent/t.conf"), text, &mut d)
            .into_iter()
            .map(|t| match t.tok {
                Tok::Word { text, quoted: true } => format!("\"{text}\""),
                Tok::Word { text, .. } => text,
                Tok::Open => "{".into(),
                Tok::Close => "}".into(),
                Tok::Eol => ";".into(),
                Tok::Eof => "EOF".into(),
            })
            .collect()
    }

    #[test]
    fn comments_braces_quotes() {
        assert_eq!(
            words("a b # c\nx{y}\n  notify_\"/bin/x y\" ! z\n51#c\n"),
            [
                "a",
                "b",
                ";",
                "x",
                "{",
                "y",
                "}",
                ";",
                "notify_",
                "\"/bin/x y\"",
                ";",
                "51",
                ";",
                "EOF"
            ]
        );
    }

    #[test]
    fn escaped_comment_chars_and_trailing_backslash() {
        assert_eq!(words("a\\#b c \\\n"), ["a#b", "c\\", ";", "EOF"]);
    }

    #[test]
    fn columns_are_characters() {
        let mut d = Diags::default();
        let t = lex_str(Path::new("/x/t.conf"), "# 中文\n  中 key val\n", &mut d);
        assert_eq!((t[1].loc.line, t[1].loc.col), (2, 5));
        assert_eq!(t[1].word(), Some("key"));
    }

    #[test]
    fn braces_expand() {
        assert_eq!(
            expand_braces("a{b,c{d,e}}f").unwrap(),
            ["abf", "acdf", "acef"]
        );
        assert_eq!(expand_braces("a{b").unwrap(), ["a{b"]);
    }

    /// Found while fuzzing: each `{a,b}` doubles the names (eighteen took 4 s of globbing,
    /// thirty would take hours and gigabytes).
    #[test]
    fn brace_expansion_stops_at_max_include_names() {
        assert_eq!(expand_braces(&"{a,b}".repeat(10)).unwrap().len(), 1024);
        assert_eq!(expand_braces(&"{a,b}".repeat(11)), None);
        assert_eq!(expand_braces(&"{a,b}".repeat(40)), None);
        let mut d = Diags::default();
        let text = format!("include {}\n", "{a,b}".repeat(40));
        lex_str(Path::new("/nonexistent/t.conf"), &text, &mut d);
        assert!(
            d.items[0].message.contains("more than 1024 names"),
            "{:?}",
            d.items
        );
    }

    #[test]
    fn command_lines_split_like_keepalived() {
        assert_eq!(
            split_command(r#"/bin/echo "q r" 'a b'c \x41\t"#).unwrap(),
            ["/bin/echo", "q r", "a bc", "A\t"]
        );
        assert_eq!(
            split_command("abcd\" efg h \"mnop").unwrap(),
            ["abcd efg h mnop"]
        );
        assert_eq!(split_command("x 'y"), Err('\''));
    }
}
