//! The keepalived.conf front end: `vigild -t -f FILE` and the daemon's configuration.
//!
//! - [`lexer`]: keepalived's line-oriented syntax (comments, quotes, braces, `include`),
//!   streamed into the parser one token at a time.
//! - [`include`]: `include` patterns (braces and globs), bounded.
//! - [`parse`]: statements and blocks, then each keyword through its block's table
//!   (`keywords`) into the typed [`model`].
//! - `rules`: keepalived 2.2.7's defaults and interaction rules, with its warnings.
//! - [`diag`]: diagnostics with file, line and column, and what keepalived would do.
//! - [`machine`]: the second pass, against the host (interfaces, scripts, script users and
//!   security), run by `vigild -t`, `vigild check` and the daemon's load; [`load`] and
//!   [`load_str`] never look at the machine. `docs/config-check.md` says what each checks.
//! - `convert`: [`Instance::core_config`] and [`Instance::vips`] for vigil-core.
//!
//! ```no_run
//! let loaded = vigil_linux::config::load(std::path::Path::new("/etc/keepalived/keepalived.conf"));
//! for d in &loaded.diagnostics {
//!     eprintln!("{d}");
//! }
//! std::process::exit(vigil_linux::config::test_exit_code(&loaded));
//! ```
//!
//! # What keepalived 2.2.7 does (checked with Debian's binary, `keepalived -t` and its data dump)
//!
//! - `-t` exits 0 when it reports nothing, 5 for anything it reports (unknown keywords
//!   included: they are warnings, keepalived runs), 6 when scripts that exist are
//!   configured without `enable_script_security` (any `vrrp_script`, used or not, and any
//!   notify script; missing ones do not count), 2 when a keyword lacks its value (it stops
//!   reading), 4 for a configuration it cannot run alone (5 and 6 take precedence). A
//!   missing main file exits 0 in 2.2.7 (a bug): vigild exits 4, and so it does for a main
//!   file that is a FIFO, device or directory (which keepalived "skips", exiting 0). What
//!   depends on the machine (interfaces, scripts, users) is [`machine`]'s.
//! - Lines are read with `fgets` into 1024 bytes: a longer line is read as several.
//!   vigild refuses it (exit 4), like everything past the limits of
//!   `docs/config-limits.md`, which keepalived does not have.
//! - No line continuation; a trailing `\` is glued to the last word.
//! - `state MASTER` without `priority` is priority 255.
//! - v2 `advert_int` is rounded to whole seconds (1.5 -> 2, 0.4 -> 1), v3 to 10 ms.
//! - A VIP of the other family than the first VIP is dropped with a warning (not moved to
//!   the excluded list). IPv6 instances default to v3; an explicit `version 2` with IPv6
//!   runs v2 over IPv6 silently (vigild runs v3 and says so); in strict mode keepalived
//!   switches to v3 itself.
//! - `vrrp_strict`: state MASTER without priority 255 becomes BACKUP, authentication is
//!   dropped, preempt_delay and down_timer_adverts are reset, no garp on lower priority,
//!   lower_prio_no_advert forced on, higher_prio_send_advert off, no VIP is an error.
//!   Unicast peers are accepted silently, whatever the man page says.
//! - Inside a sync group (without `sync_group_tracking_weight`) and for an address owner,
//!   weighted track scripts and track files are removed, weighted track interfaces get
//!   weight 0, track_process weights are left alone.
//! - `vrrp_garp_interval 0` / `vrrp_gna_interval 0` are invalid (keepalived's stock sample
//!   has them).
//! - Blocks are read line by line, as keepalived reads them (`parse::tree`, and
//!   `docs/config-blocks.md`): every brace is a line of its own; a `{` after a keyword
//!   that opens no block (an unknown keyword, or a value like `state BACKUP {`) is
//!   ignored, the lines after it belong to the enclosing block and its `}` closes the
//!   enclosing block; a value block (`virtual_ipaddress`...) ends at its first `}`; a
//!   stray `}` at the top level and `}`s missing at the end of the file are warnings.
//!   vigild means the same (checked with keepalived's data dump) and warns loudly where
//!   that meaning is surprising. `global_defs` is read as keepalived's parent process
//!   reads it, the rest as its VRRP process does.
//! - `vrrp_track_process` compares `process` with the process name (comm, at most 15
//!   characters) unless `full_command`, parameters or `param_match` make it compare the
//!   command line's first word (then the parameters); quorum is `quorum..=quorum_max`
//!   (`quorum_max 0` alone: up while none runs); zombies do not count.
//!
//! # What vigild reads but does not act on
//!
//! The LVS half (`virtual_server`, `virtual_server_group`, `SSL`) is read as keepalived's
//! checker process reads it, into [`lvs`] with effective values, and checked as
//! `keepalived -t` checks it (`docs/config-lvs.md`); the daemon does not run it yet (a
//! note says so at each block), and a value missing there exits `-t` with 2 but leaves
//! the VRRP part running.
//!
//! Each gets a warning at its line (keepalived is silent, so `-t`'s exit code does not
//! change): `peer`, `no_track`, `preferred_lft` and the `ip address` flags of a VIP,
//! `garp_lower_prio_delay`, `no_accept`, the MAC
//! of `use_vmac`, and the keywords the parser's tables mark ignored (`keywords`).
//! `virtual_routes`, `virtual_rules`, `static_ipaddress`, `static_routes`, `static_rules`
//! and `track_group` are read and checked as keepalived does (its warnings, drops and exit
//! codes) into [`Route`], [`Rule`] and [`StaticAddress`], which the daemon installs
//! (`crate::net::routes`); a `track_group` gets a note: vigild does not remove what
//! names it when its instances fail (`docs/config-routes.md`). `router_id` names the
//! machine in mail alerts, which vigild sends as keepalived does (`crate::mail`,
//! `docs/mail.md`): `notification_email`, `notification_email_from`, `smtp_server`,
//! `smtp_helo_name`, `smtp_connect_timeout`, `smtp_alert`, `smtp_alert_vrrp`,
//! `no_email_faults` and the instances' and sync groups' `smtp_alert` are read into
//! [`Mail`](model::Mail); only `smtp_alert_checker` has nothing to act on (a note).

mod convert;
pub mod diag;
pub mod include;
mod keywords;
pub mod lexer;
pub mod lvs;
pub mod machine;
pub mod model;
pub mod parse;
mod rules;

pub use diag::{Diagnostic, KaClass, Loc, MAX_KEPT_DIAGNOSTICS, Severity, Summary};
pub use model::*;

use diag::Diags;
use std::path::Path;
use std::sync::Arc;

/// keepalived's exit codes for `-t` (keepalived 2.2.7, `enum exit_code` and
/// `config_test_exit()`; checked with the binary).
pub mod exit {
    /// The configuration is fine.
    pub const OK: i32 = 0;
    /// keepalived stopped reading: a keyword is missing its value.
    pub const ABORT: i32 = 2;
    /// KEEPALIVED_EXIT_CONFIG: the configuration cannot be run at all.
    pub const CONFIG: i32 = 4;
    /// KEEPALIVED_EXIT_CONFIG_TEST: errors or warnings keepalived reports.
    pub const CONFIG_TEST: i32 = 5;
    /// KEEPALIVED_EXIT_CONFIG_TEST_SECURITY: scripts without `enable_script_security`.
    pub const CONFIG_TEST_SECURITY: i32 = 6;
}

/// A configuration read and checked.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// `None` if any diagnostic is an error.
    pub config: Option<KeepalivedConf>,
    /// What was read when an error keeps [`Loaded::config`] from being used: keepalived
    /// goes on checking such a configuration (script security above all, which decides
    /// `-t`'s exit code), and so does [`machine::check`].
    pub rejected: Option<KeepalivedConf>,
    /// In the order found, the first [`MAX_KEPT_DIAGNOSTICS`] of them (and the first error
    /// if it came later): a broken file can give one per line.
    pub diagnostics: Vec<Diagnostic>,
    /// All of them counted, kept or not.
    pub summary: Summary,
}

impl Loaded {
    /// The errors kept in [`Loaded::diagnostics`].
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
    /// The warnings kept in [`Loaded::diagnostics`].
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
    /// Whether any diagnostic, kept or not, is an error.
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
    /// The line printed after the kept diagnostics when some were not kept:
    /// `... and 199901 more diagnostics (200001 errors, 0 warnings in all)`.
    pub fn omitted_note(&self) -> Option<String> {
        let s = &self.summary;
        (s.omitted > 0).then(|| {
            format!(
                "... and {} more diagnostics ({} errors, {} warnings in all)",
                s.omitted, s.errors, s.warnings
            )
        })
    }
}

/// Reads `path` (and its includes) and checks it. Never blocks on a FIFO or device, and
/// stays within the bounds of `docs/config-limits.md` (size, line length, includes,
/// statement size, nesting, diagnostics kept).
pub fn load(path: &Path) -> Loaded {
    load_as(path, &lexer::config_id())
}

/// [`load`] with the config id `config_id` (what `@ID` lines compare with) instead of
/// [`lexer::config_id`].
pub fn load_as(path: &Path, config_id: &str) -> Loaded {
    let mut d = Diags::default();
    let start = Loc::new(Arc::from(path), 1, 1);
    let mut reader = parse::Reader::new(&start, &mut d);
    if !lexer::lex_file_into_as(path, config_id, &mut reader) {
        return Loaded {
            config: None,
            rejected: None,
            diagnostics: d.items,
            summary: d.summary,
        };
    }
    finish(reader.into_conf(), d)
}

/// [`load_str`] with the config id `config_id`.
pub fn load_str_as(name: &Path, text: &str, config_id: &str) -> Loaded {
    let mut d = Diags::default();
    let start = Loc::new(Arc::from(name), 1, 1);
    let mut reader = parse::Reader::new(&start, &mut d);
    lexer::lex_str_into_as(name, text, config_id, &mut reader);
    finish(reader.into_conf(), d)
}

/// Reads `text` as if it were the file `name` (includes are relative to its directory).
pub fn load_str(name: &Path, text: &str) -> Loaded {
    load_str_as(name, text, &lexer::config_id())
}

fn finish(mut conf: KeepalivedConf, mut d: Diags) -> Loaded {
    rules::resolve(&mut conf, &mut d);
    let (config, rejected) = if d.has_errors() {
        (None, Some(conf))
    } else {
        (Some(conf), None)
    };
    Loaded {
        config,
        rejected,
        diagnostics: d.items,
        summary: d.summary,
    }
}

/// The exit code of `vigild -t`: keepalived's for the same input where keepalived would
/// give one (5 for anything it reports, 6 for the script-security error, 2 when it stops
/// at a keyword missing its value). A configuration vigild refuses for a reason keepalived
/// does not share (a missing file, an unsupported feature) exits 4,
/// KEEPALIVED_EXIT_CONFIG, rather than 0.
///
/// The precedence is keepalived's: it keeps the highest `config_err_t` reported, and
/// CONFIG_SECURITY_ERROR (6) > the errors it runs with (5) > CONFIG_FATAL / CONFIG_BAD_IF
/// / CONFIG_FILE_NOT_FOUND (4); a missing value (2) ends it at once. Give it a load that
/// went through [`machine::check`] for keepalived's answer on this machine.
pub fn test_exit_code(loaded: &Loaded) -> i32 {
    let has = |k: KaClass| loaded.summary.has(k);
    if has(KaClass::Abort) {
        exit::ABORT
    } else if has(KaClass::Security) {
        exit::CONFIG_TEST_SECURITY
    } else if has(KaClass::Config) {
        exit::CONFIG_TEST
    } else if has(KaClass::Fatal) || loaded.has_errors() {
        exit::CONFIG
    } else {
        exit::OK
    }
}
