//! Logging to stderr, in keepalived's phrases (operators grep for them), with syslog
//! severity prefixes when journald reads the stream (`JOURNAL_STREAM` is set), and a
//! timestamp otherwise.
//!
//! Every line is passed through [`escape_controls`] before it is written: log lines quote
//! configuration words, file names and addresses, and a byte such as ESC from a hostile
//! or broken file must not reach a terminal or a log viewer raw.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    Error = 3,
    Warning = 4,
    Info = 6,
    Debug = 7,
}

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);

/// Reads the environment once: journald sets `JOURNAL_STREAM` for services it captures.
pub fn init(debug: bool) {
    JOURNAL.store(
        std::env::var_os("JOURNAL_STREAM").is_some(),
        Ordering::Relaxed,
    );
    let level = if debug { Level::Debug } else { Level::Info };
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    // Formatted first, then one write(2): stderr is unbuffered and would otherwise get a
    // syscall per piece, and a whole line stays whole when notify scripts write to the
    // same stream.
    let text = args.to_string();
    let text = escape_controls(&text);
    let line = if JOURNAL.load(Ordering::Relaxed) {
        format!("<{}>{}\n", level as u8, text)
    } else {
        format!("{} {}\n", timestamp(), text)
    };
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `s` with every control character made visible: C0 (NUL, TAB, LF, CR, ESC, ...), DEL
/// and the C1 range (U+0080..U+009F; a terminal may read U+009B as CSI). `\0`, `\t`,
/// `\n`, `\r` by name, the others as `\xHH` (C0, DEL) or `\u{HH}` (C1). Invalid UTF-8
/// never gets this far: files are read lossily (U+FFFD) and paths shown with `display()`.
/// Borrowed when there is nothing to escape, which is the common case.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    let is_control = |c: char| c.is_control();
    if !s.contains(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x80 && c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC, without a date crate.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
    format!(
        "{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{:03}",
        now.subsec_millis()
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Warning, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::log::Level::Debug, format_args!($($t)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped() {
        assert!(matches!(
            escape_controls("plain `x` 10.0.0.1/24"),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("a\x1b[31mb\rc\0d\te\nf\x7fg\u{9b}h\u{1}中"),
            "a\\x1b[31mb\\rc\\0d\\te\\nf\\x7fg\\u{9b}h\\x01中"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
