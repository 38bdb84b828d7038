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
//! - There is no line continuation (outside a parameter definition): keepalived glues a
//!   trailing `\` to the last word (`virtual_router_id \` is the unknown keyword
//!   `virtual_router_id\`), also after a comment (`a # b \` is `a\`), and so do we.
//! - keepalived splits a line at its first brace outside quotes and reads the rest as a
//!   line of its own (language included); tokens are the same, only the language sees it.
//! - A line made of exactly `include PATTERN` (or keepalived's variants `includer`,
//!   `includem`, `includew`, `includeb`, `includea`) is replaced by the files it names:
//!   brace expansion and glob wildcards, relative to the directory of the including file,
//!   matches read in sorted order, directories, executable files and anything that is not
//!   a regular file (a FIFO would block) skipped. An include that closes a cycle is skipped
//!   with a note (keepalived runs what it read once it runs out of file descriptors);
//!   nesting deeper than [`MAX_INCLUDE_DEPTH`] is an error; the pattern's own bounds are
//!   in [`super::include`].
//! - Files are read line by line and never held whole; a line longer than keepalived's
//!   [`MAX_LINE_BYTES`] is refused, and so is a configuration over [`MAX_CONFIG_BYTES`]
//!   (all files together). See `docs/config-limits.md`.
//!
//! - Above the line, keepalived's language: conditional lines (`@ID ...`, `@^ID ...`),
//!   parameter definitions and uses (`$NAME=value`, `$NAME`, `${NAME}`, multi-line
//!   definitions), `~SEQ` and `~LST` blocks: see [`expand`] and `docs/config-language.md`.
//!   The config id they compare with is [`config_id`] (vigild's `-i`).

use super::diag::{Diags, KaClass, Loc, Severity};
use super::include;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Take};
use std::ops::{ControlFlow, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod command;
mod expand;
pub use command::split_command;
pub use expand::{MAX_GENERATED_LINES, MAX_MULTILINE_NESTING, MAX_SUBSTITUTIONS_PER_LINE};

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

/// Where the lexer's tokens and diagnostics go: the statement reader (which parses each
/// top-level statement as soon as it is complete, so a long file is never held as tokens
/// all at once), or a plain list for tests.
pub trait Sink {
    fn diags(&mut self) -> &mut Diags;
    fn token(&mut self, t: Token);
}

/// Collects every token (tests, small inputs).
#[derive(Debug)]
pub struct Collect<'d> {
    pub diags: &'d mut Diags,
    pub tokens: Vec<Token>,
}

impl Sink for Collect<'_> {
    fn diags(&mut self) -> &mut Diags {
        self.diags
    }
    fn token(&mut self, t: Token) {
        self.tokens.push(t);
    }
}

/// The most bytes of configuration one load reads, the main file and every include
/// together (a larger one is refused): keeps a load's memory bounded.
pub const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// The longest line keepalived reads whole (`fgets` into its 1024-byte `MAXBUF`): it
/// reads a longer one as several lines, cut every 1023 bytes. vigild refuses such a line
/// (an error at it) rather than guess which of the two was meant.
pub const MAX_LINE_BYTES: usize = 1023;

struct Lexer<'s> {
    sink: &'s mut dyn Sink,
    /// Canonical paths of the files being read, outermost first.
    stack: Vec<PathBuf>,
    /// Bytes read so far, all files.
    bytes_read: u64,
    /// Files included so far, all include lines.
    included: usize,
    /// Set once the include bounds are reported: further include lines are skipped.
    includes_exhausted: bool,
    glob_budget: include::Budget,
    /// Definitions, blocks and multi-line uses in progress.
    ex: expand::Expander,
    /// Include lines met while generated lines were pending: read once they are all read,
    /// last one first (keepalived stacks them).
    pending_includes: Vec<(Arc<Path>, Loc, String)>,
}

static CONFIG_ID: std::sync::RwLock<Option<String>> = std::sync::RwLock::new(None);

/// Sets the config id of every later load (`vigild -i ID`); `None` for the default.
pub fn set_config_id(id: Option<String>) {
    if let Ok(mut g) = CONFIG_ID.write() {
        *g = id;
    }
}

/// The config id conditional lines (`@ID`) compare with: the one set with
/// [`set_config_id`], else keepalived's default, the host name up to its first `.`.
pub fn config_id() -> String {
    if let Some(id) = CONFIG_ID.read().ok().and_then(|g| g.clone()) {
        return id;
    }
    default_config_id()
}

/// keepalived's default config id: `uname -n` up to the first `.`.
pub fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim_end_matches('\n');
    name.split('.').next().unwrap_or_default().to_string()
}

/// Why a configuration file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// Not a regular file: what it is ("a FIFO", "a directory", ...).
    NotRegular(&'static str),
    /// Over what is left of [`MAX_CONFIG_BYTES`].
    TooLarge,
    Io(std::io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::NotRegular(what) => write!(f, "it is {what}, not a regular file"),
            ReadError::TooLarge => write!(
                f,
                "the configuration (main file and includes together) is larger than {} MiB",
                MAX_CONFIG_BYTES >> 20
            ),
            ReadError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn kind_of(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Opens a configuration file of at most `limit` bytes without ever blocking: anything
/// but a regular file is refused before it is opened (a FIFO would block `open` and
/// `read` until a writer comes, a device may never end), and again after (opened with
/// `O_NONBLOCK`, in case it was swapped in between). Reading stops at `limit` bytes.
/// Returns the reader and the file's size.
pub fn open_regular_file(
    path: &Path,
    limit: u64,
) -> Result<(BufReader<Take<File>>, u64), ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(what) = kind_of(std::fs::metadata(path)?.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if let Some(what) = kind_of(meta.file_type()) {
        return Err(ReadError::NotRegular(what));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge);
    }
    Ok((
        BufReader::with_capacity(64 << 10, file.take(limit)),
        meta.len(),
    ))
}

/// Reads `path` and everything it includes into `sink`, ending with [`Tok::Eof`]. `false`
/// (and a [`KaClass::Fatal`] error) if the main file cannot be read.
pub fn lex_file_into(path: &Path, sink: &mut dyn Sink) -> bool {
    lex_file_into_as(path, &config_id(), sink)
}

/// [`lex_file_into`] with the config id `config_id`.
pub fn lex_file_into_as(path: &Path, config_id: &str, sink: &mut dyn Sink) -> bool {
    let name: Arc<Path> = Arc::from(path);
    let (mut src, size) = match open_regular_file(path, MAX_CONFIG_BYTES) {
        Ok(opened) => opened,
        Err(e) => {
            sink.diags().push(
                Severity::Error,
                KaClass::Fatal,
                &Loc::new(name, 0, 0),
                format!("cannot read configuration file: {e}"),
            );
            return false;
        }
    };
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    lex_source(name, canon, &mut src, size, config_id, sink);
    true
}

/// Tokenizes `text` into `sink` as if read from the file `name` (includes are resolved
/// relative to its directory).
pub fn lex_str_into(name: &Path, text: &str, sink: &mut dyn Sink) {
    lex_str_into_as(name, text, &config_id(), sink);
}

/// [`lex_str_into`] with the config id `config_id`.
pub fn lex_str_into_as(name: &Path, text: &str, config_id: &str, sink: &mut dyn Sink) {
    let canon = std::fs::canonicalize(name).unwrap_or_else(|_| name.to_path_buf());
    lex_source(
        Arc::from(name),
        canon,
        &mut text.as_bytes(),
        text.len() as u64,
        config_id,
        sink,
    );
}

/// Reads `path` and everything it includes. `None` if the main file cannot be read.
pub fn lex_file(path: &Path, diags: &mut Diags) -> Option<Vec<Token>> {
    let mut c = Collect {
        diags,
        tokens: Vec::new(),
    };
    lex_file_into(path, &mut c).then_some(c.tokens)
}

/// Tokenizes `text` as if read from the file `name` (includes are resolved relative to its
/// directory).
pub fn lex_str(name: &Path, text: &str, diags: &mut Diags) -> Vec<Token> {
    let mut c = Collect {
        diags,
        tokens: Vec::new(),
    };
    lex_str_into(name, text, &mut c);
    c.tokens
}

/// `size`: the main file's, counted against [`MAX_CONFIG_BYTES`] before its includes.
fn lex_source(
    name: Arc<Path>,
    canon: PathBuf,
    src: &mut dyn BufRead,
    size: u64,
    config_id: &str,
    sink: &mut dyn Sink,
) {
    let mut lx = Lexer {
        sink,
        stack: vec![canon],
        bytes_read: size,
        included: 0,
        includes_exhausted: false,
        glob_budget: include::Budget::default(),
        ex: expand::Expander::new(config_id),
        pending_includes: Vec::new(),
    };
    let last_line = lx.file(&name, src);
    lx.sink.token(Token {
        tok: Tok::Eof,
        loc: Loc::new(name, last_line, 1),
        line: Arc::from(""),
        span: 0..0,
    });
}

/// One character of a line after comment removal, with its column.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    col: u32,
}

impl Lexer<'_> {
    /// Lexes one file line by line (so the file is never held whole: memory stays that of
    /// one line, at most [`MAX_LINE_BYTES`] of it kept); returns the line number just past
    /// its end.
    fn file(&mut self, name: &Arc<Path>, src: &mut dyn BufRead) -> u32 {
        let mut lineno = 0u32;
        let mut buf = Vec::with_capacity(256);
        loop {
            lineno = lineno.saturating_add(1);
            let (len, more) = match next_line(src, &mut buf) {
                Ok(r) => r,
                Err(e) => {
                    self.sink.diags().unsupported(
                        &Loc::new(name.clone(), lineno, 1),
                        format!("cannot read further: {e}"),
                    );
                    return lineno;
                }
            };
            if len > MAX_LINE_BYTES {
                self.sink.diags().unsupported(
                    &Loc::new(name.clone(), lineno, 1),
                    format!(
                        "line of {len} bytes: keepalived reads at most {MAX_LINE_BYTES} bytes of a line and the rest as further lines; vigild skips it"
                    ),
                );
            } else {
                let raw = String::from_utf8_lossy(&buf);
                let raw = raw.strip_suffix('\r').unwrap_or(&raw);
                self.line(name, lineno, raw);
            }
            // After a final newline comes a last, empty line: the Eof goes there.
            if !more {
                return lineno;
            }
        }
    }

    /// One physical line: decommented, run through keepalived's language (which may
    /// queue generated lines: they are read next), then its includes.
    fn line(&mut self, name: &Arc<Path>, lineno: u32, raw: &str) {
        let input: Vec<Ch> = raw
            .chars()
            .zip(1u32..)
            .map(|(c, col)| Ch { c, col })
            .collect();
        let (chars, open_quote) = decomment(&input);
        if let Some(col) = open_quote {
            // keepalived warns and reads the rest of the line as the quoted word.
            self.sink.diags().warn(
                &Loc::new(name.clone(), lineno, col),
                "unterminated quoted string: this `\"` has no closing `\"` on its line (the rest of the line is read as the string)",
            );
        }
        if chars.is_empty() {
            // keepalived re-reads the configuration from a copy in which a line left empty
            // by `decomment` is empty: it too ends a multi-line definition.
            self.ex.blank_line();
            return;
        }
        let at = Loc::new(name.clone(), lineno, chars[0].col);
        self.ex.file_line();
        self.logical(chars, &at);
        while let Some((chars, at)) = self.ex.next_generated(self.sink.diags()) {
            self.logical(chars, &at);
        }
        let includes = std::mem::take(&mut self.pending_includes);
        for (file, loc, pattern) in includes.into_iter().rev() {
            self.include(&file, &loc, &pattern);
        }
    }

    /// One line as keepalived's `read_line` returns them: language applied, then an
    /// include, or split at its first brace outside quotes (the rest read as a line of its
    /// own, language included). `at`: the line the user wrote.
    fn logical(&mut self, chars: Vec<Ch>, at: &Loc) {
        let mut cur = chars;
        let mut any = false;
        let mut last_col = 1;
        let mut last_line: Arc<str> = Arc::from("");
        loop {
            let line = self.ex.process(cur, at, self.sink.diags());
            if line.is_empty() {
                break;
            }
            let text: String = line.iter().map(|c| c.c).collect();
            // keepalived looks for `include` before it splits at braces (patterns may hold
            // `{a,b}`): two words, the first an include keyword.
            if let [kw, pattern] = strvec(&text).as_slice()
                && INCLUDE_WORDS.contains(&kw.as_str())
            {
                let loc = Loc::new(at.file.clone(), at.line, line[0].col);
                self.pending_includes
                    .push((at.file.clone(), loc, pattern.clone()));
                break;
            }
            let (head, rest) = split_at_brace(line);
            let text: String = head.iter().map(|c| c.c).collect();
            let arc: Arc<str> = Arc::from(text.as_str());
            last_col = head.last().map_or(last_col, |c| c.col.saturating_add(1));
            last_line = arc.clone();
            for t in tokenize(&head, &arc, &at.file, at.line) {
                any = true;
                self.sink.token(t);
            }
            match rest {
                Some(r) => cur = r,
                None => break,
            }
        }
        if any {
            self.sink.token(Token {
                tok: Tok::Eol,
                loc: Loc::new(at.file.clone(), at.line, last_col),
                span: last_line.len()..last_line.len(),
                line: last_line,
            });
        }
    }

    fn include(&mut self, name: &Arc<Path>, loc: &Loc, pattern: &str) {
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            self.sink.diags().error(
                loc,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} files"),
            );
            return;
        }
        if self.includes_exhausted {
            return;
        }
        let base = name.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut any_match = false;
        let mut budget = std::mem::take(&mut self.glob_budget);
        let walked = include::each_match(&base, pattern, &mut budget, &mut |path| {
            any_match = true;
            if self.included >= include::MAX_INCLUDED_FILES {
                self.sink.diags().unsupported(
                    loc,
                    format!(
                        "more than {} included files: vigild reads no further includes",
                        include::MAX_INCLUDED_FILES
                    ),
                );
                self.includes_exhausted = true;
                return ControlFlow::Break(());
            }
            self.include_file(loc, &path);
            ControlFlow::Continue(())
        });
        self.glob_budget = budget;
        match walked {
            Ok(()) => {}
            Err(include::Refused::TooManyPatterns(n)) => {
                let n = if n == u64::MAX {
                    "too many".to_string()
                } else {
                    n.to_string()
                };
                self.sink.diags().unsupported(
                    loc,
                    format!(
                        "include pattern expands to {n} brace alternatives, more than vigild's limit of {}: nothing is included",
                        include::MAX_INCLUDE_PATTERNS
                    ),
                );
                return;
            }
            Err(include::Refused::TooDeep) => {
                self.sink.diags().unsupported(
                    loc,
                    "include pattern nests braces too deeply: nothing is included",
                );
                return;
            }
            Err(include::Refused::TooManyEntries) => {
                self.sink.diags().unsupported(
                    loc,
                    format!(
                        "include patterns examined more than {} directory entries: vigild reads no further includes",
                        include::MAX_GLOB_ENTRIES
                    ),
                );
                self.includes_exhausted = true;
                return;
            }
        }
        if !any_match {
            self.sink.diags().note(
                loc,
                format!("include `{pattern}` matches no file (keepalived skips it too)"),
            );
        }
    }

    /// One file an include matched: directories are skipped silently, anything else but a
    /// regular non-executable file with a note (keepalived's words), and so is a cycle.
    fn include_file(&mut self, loc: &Loc, path: &Path) {
        self.included += 1;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            return;
        }
        if is_executable(&meta) || !meta.is_file() {
            self.sink.diags().note(
                loc,
                format!(
                    "included file `{}` is not a regular non-executable file - skipping (as keepalived does)",
                    path.display()
                ),
            );
            return;
        }
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(i) = self.stack.iter().position(|p| *p == canon) {
            let chain: Vec<String> = self.stack[i..]
                .iter()
                .chain(std::iter::once(&canon))
                .map(|p| p.display().to_string())
                .collect();
            // keepalived follows the cycle until it runs out of file descriptors ("Too
            // many open files - skipping") and runs what it read: vigild stops at once.
            self.sink.diags().note(
                loc,
                format!("include cycle: {} - skipping", chain.join(" -> ")),
            );
            return;
        }
        let left = MAX_CONFIG_BYTES.saturating_sub(self.bytes_read);
        let (mut src, size) = match open_regular_file(path, left) {
            Ok(opened) => opened,
            Err(e @ ReadError::TooLarge) => {
                self.sink
                    .diags()
                    .unsupported(loc, format!("cannot include `{}`: {e}", path.display()));
                self.includes_exhausted = true;
                return;
            }
            Err(e) => {
                self.sink.diags().note(
                    loc,
                    format!("cannot read included file `{}`: {e}", path.display()),
                );
                return;
            }
        };
        // Counted before its own includes are read.
        self.bytes_read += size;
        self.stack.push(canon);
        let inc: Arc<Path> = Arc::from(path);
        self.file(&inc, &mut src);
        self.stack.pop();
    }
}

/// Reads up to the next `\n` (dropped) or the end: the line's full length in bytes and
/// whether a `\n` ended it. Keeps at most [`MAX_LINE_BYTES`] + 1 bytes of it in `buf`: a
/// longer line is only measured.
fn next_line(src: &mut dyn BufRead, buf: &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    buf.clear();
    let mut len = 0usize;
    loop {
        let chunk = match src.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok((len, false));
        }
        let (piece, ended) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], true),
            None => (chunk, false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&piece[..piece.len().min(room)]);
        len += piece.len();
        let used = piece.len() + usize::from(ended);
        src.consume(used);
        if ended {
            return Ok((len, true));
        }
    }
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

/// keepalived's `decomment()`: drops leading blanks, a comment (`#` or `!` outside
/// quotes) and trailing blanks, resolves `\#` and `\!` outside quotes, keeps a final `\`
/// glued to what is left (also after a comment: `a # b \` is `a\`). Returns the column of
/// an unterminated quote.
fn decomment(input: &[Ch]) -> (Vec<Ch>, Option<u32>) {
    let blank = |c: &Ch| c.c == ' ' || c.c == '\t' || c.c == '\0';
    let lead = input.iter().take_while(|c| blank(c)).count();
    let s = &input[lead..];
    let mut out: Vec<Ch> = Vec::with_capacity(s.len());
    let mut quote = false;
    let mut quote_col = 0;
    let mut comment = None;
    let mut cont = None;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        match c.c {
            '"' => {
                if comment.is_none() {
                    quote = !quote;
                    quote_col = c.col;
                }
                out.push(c);
                i += 1;
            }
            '\\' => match s.get(i + 1) {
                Some(&n) => {
                    if !(!quote && (n.c == '#' || n.c == '!')) {
                        out.push(c);
                    }
                    out.push(n);
                    i += 2;
                }
                None => {
                    cont = Some(c);
                    i += 1;
                }
            },
            '#' | '!' if !quote && comment.is_none() => {
                comment = Some(out.len());
                out.push(c);
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    if let Some(k) = comment {
        out.truncate(k);
    }
    while out
        .last()
        .is_some_and(|c| c.c.is_whitespace() || c.c == '\0')
    {
        out.pop();
    }
    out.extend(cont);
    (out, quote.then_some(quote_col))
}

/// keepalived's split of a line at its first `{` or `}` outside quotes: a line starting
/// with a brace is that brace, anything else the text before it; the rest (blanks around
/// it dropped) is read as a line of its own.
fn split_at_brace(mut line: Vec<Ch>) -> (Vec<Ch>, Option<Vec<Ch>>) {
    let brace = |c: &Ch| c.c == '{' || c.c == '}';
    let at = if line.first().is_some_and(brace) {
        Some(0)
    } else {
        let mut quote = false;
        line.iter().position(|c| {
            if c.c == '"' {
                quote = !quote;
            }
            !quote && brace(c)
        })
    };
    let Some(at) = at else {
        return (line, None);
    };
    let cut = if at == 0 { 1 } else { at };
    let mut rest = line.split_off(cut);
    while line.last().is_some_and(|c| c.c == ' ' || c.c == '\t') {
        line.pop();
    }
    let lead = rest
        .iter()
        .take_while(|c| c.c == ' ' || c.c == '\t')
        .count();
    rest.drain(..lead);
    while rest.last().is_some_and(|c| c.c == ' ' || c.c == '\t') {
        rest.pop();
    }
    (line, (!rest.is_empty()).then_some(rest))
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

#[cfg(test)]
mod tests;
