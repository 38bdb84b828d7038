//! Diagnostics: what is wrong with a configuration, where, and what keepalived 2.2.7 would
//! have made of the same input (so that `vigild -t` can exit as `keepalived -t` does).

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
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
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

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.loc, self.severity, self.message)
    }
}

/// Collects diagnostics while a configuration is read and checked.
#[derive(Debug, Default)]
pub struct Diags {
    pub items: Vec<Diagnostic>,
}

impl Diags {
    pub fn push(&mut self, severity: Severity, ka: KaClass, loc: &Loc, message: impl Into<String>) {
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
        self.items.iter().any(Diagnostic::is_error)
    }
}
