//! Diagnostics: what is wrong with a configuration, where, and what keepalived 2.2.7 would
//! have made of the same input (so that `vigild -t` can exit as `keepalived -t` does).

use crate::log::escape_controls;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A place in a configuration file: 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl Loc {
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Loc { file, line, col }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display().to_string();
        write!(f, "{}:{}:{}", escape_controls(&file), self.line, self.col)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// vigild runs the configuration, possibly with a value corrected or ignored.
    Warning,
    /// vigild refuses the configuration: [`super::Loaded::config`] is `None`.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// How keepalived 2.2.7 reports the same problem under `keepalived -t`, which decides the
/// exit code of `vigild -t` (see [`super::test_exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KaClass {
    /// keepalived says nothing, or only logs it: a vigild-only remark (a feature vigild does
    /// not implement, a hint). Does not change the exit code by itself.
    Silent,
    /// keepalived's `report_config_error`: `-t` exits 5 (KEEPALIVED_EXIT_CONFIG_TEST).
    Config,
    /// keepalived's script-security error: `-t` exits 6 (KEEPALIVED_EXIT_CONFIG_TEST_SECURITY).
    Security,
    /// keepalived stops reading at once ("missing a parameter"): `-t` exits 2.
    Abort,
    /// keepalived cannot run the configuration at all (file not found):
    /// KEEPALIVED_EXIT_CONFIG, 4.
    Fatal,
}

/// One finding, printed as `file:line:col: warning: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub loc: Loc,
    pub message: String,
    pub ka: KaClass,
}

impl Diagnostic {
    pub fn file(&self) -> &Path {
        &self.loc.file
    }
    pub fn line(&self) -> u32 {
        self.loc.line
    }
    pub fn column(&self) -> u32 {
        self.loc.col
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Messages quote configuration words as they were written: control characters in them
/// (and in the file name) are escaped here, so `vigild -t` and the daemon's log never
/// print them raw.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.loc,
            self.severity,
            escape_controls(&self.message)
        )
    }
}

/// How many diagnostics a load keeps (and `vigild -t` / the daemon's log print). A broken
/// or hostile file can give one per line; past this they are only counted.
pub const MAX_KEPT_DIAGNOSTICS: usize = 100;

/// What every diagnostic of a load added up to, kept ones or not: the exit code of
/// `vigild -t` and whether the configuration is refused depend on all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    /// Diagnostics counted but not kept.
    pub omitted: usize,
    /// Which [`KaClass`]es occurred, indexed by [`KaClass::index`].
    pub classes: [bool; 5],
}

impl Summary {
    pub fn has(&self, k: KaClass) -> bool {
        self.classes[k.index()]
    }
}

impl KaClass {
    fn index(self) -> usize {
        match self {
            KaClass::Silent => 0,
            KaClass::Config => 1,
            KaClass::Security => 2,
            KaClass::Abort => 3,
            KaClass::Fatal => 4,
        }
    }
}

/// Collects diagnostics while a configuration is read and checked: the first
/// [`MAX_KEPT_DIAGNOSTICS`] (and the first error, if it comes later), every one counted.
#[derive(Debug, Default)]
pub struct Diags {
    pub items: Vec<Diagnostic>,
    pub summary: Summary,
    /// While set, keepalived's "missing a parameter" ([`KaClass::Abort`]) is a warning
    /// for vigild: set while the LVS half is read, which only keepalived's checker
    /// process reads (its VRRP process runs on) and vigild does not run yet.
    pub aborts_warn: bool,
}

impl Diags {
    pub fn push(&mut self, severity: Severity, ka: KaClass, loc: &Loc, message: impl Into<String>) {
        let severity = if self.aborts_warn && ka == KaClass::Abort {
            Severity::Warning
        } else {
            severity
        };
        let s = &mut self.summary;
        let first_error = severity == Severity::Error && s.errors == 0;
        match severity {
            Severity::Error => s.errors += 1,
            Severity::Warning => s.warnings += 1,
        }
        s.classes[ka.index()] = true;
        // The first error is kept even past the cap: it says why the file is refused.
        if self.items.len() >= MAX_KEPT_DIAGNOSTICS && !first_error {
            s.omitted += 1;
            return;
        }
        self.items.push(Diagnostic {
            severity,
            loc: loc.clone(),
            message: message.into(),
            ka,
        });
    }

    /// An error keepalived also reports (`-t` exits 5).
    pub fn error(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Error, KaClass::Config, loc, message);
    }

    /// A warning keepalived also reports (`-t` exits 5).
    pub fn warn(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Warning, KaClass::Config, loc, message);
    }

    /// A warning only vigild gives; keepalived is silent.
    pub fn note(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Warning, KaClass::Silent, loc, message);
    }

    /// An error only vigild gives: something keepalived runs but vigild cannot.
    pub fn unsupported(&mut self, loc: &Loc, message: impl Into<String>) {
        self.push(Severity::Error, KaClass::Silent, loc, message);
    }

    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}
