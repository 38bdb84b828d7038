//! Readers of one value (keepalived's `read_unsigned`, `read_timer`, `get_value_str`...):
//! each gives the typed value or a diagnostic in keepalived's words, never both.

use super::super::diag::{KaClass, Severity};
use super::super::lexer::{Token, split_command};
use super::super::model::{Command, User};
use super::{Node, Parser};
use std::net::IpAddr;
use vigil_core::wire::Family;

impl Parser<'_> {
    pub(super) fn block_of<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        match &n.block {
            Some(b) => Some(&b.children),
            None => {
                self.d.error(
                    n.loc(),
                    format!("`{}` needs a block: expected `{{` after it", n.title()),
                );
                None
            }
        }
    }

    /// A keyword that takes no block got one: its contents are skipped.
    pub(super) fn no_block(&mut self, n: &Node) {
        if let Some(b) = &n.block {
            self.d.warn(
                &b.open,
                format!(
                    "unexpected `{{` after `{}`: the block is skipped",
                    n.title()
                ),
            );
        }
    }

    /// The argument at `i`, or an error (keepalived aborts reading: exit code 2).
    pub(super) fn need<'n>(&mut self, n: &'n Node, i: usize) -> Option<&'n Token> {
        self.no_block(n);
        match n.args.get(i) {
            Some(t) => Some(t),
            None => {
                self.d.push(
                    Severity::Error,
                    KaClass::Abort,
                    n.loc(),
                    format!("`{}` is missing a value", n.name()),
                );
                None
            }
        }
    }

    /// Warns about words after the first `max` arguments.
    pub(super) fn extra(&mut self, n: &Node, max: usize) {
        if let Some(t) = n.args.get(max) {
            self.d.note(
                &t.loc,
                format!(
                    "extra words after `{}` ignored: `{}`",
                    n.name(),
                    n.args[max..]
                        .iter()
                        .filter_map(Token::word)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            );
        }
    }

    /// An unsigned integer in `min..=max` read as keepalived's `read_unsigned` does; on a
    /// bad value one warning: keepalived's own complaint about the number, then `then`
    /// (its handler's message, which says what it does instead). keepalived runs on.
    pub(super) fn ka_uint(&mut self, t: &Token, min: u64, max: u64, then: &str) -> Option<u64> {
        let s = t.word().unwrap_or("");
        match ka_unsigned(s, min, max) {
            Ok(v) => Some(v),
            Err(why) => {
                self.d.warn(&t.loc, format!("{why}: {then}"));
                None
            }
        }
    }

    /// A garp delay (whole seconds), refresh or repeat count, global (`prefix` empty) or of
    /// an instance (`prefix` `(NAME): `): keepalived's range for the keyword and its
    /// message when the value is bad.
    pub(super) fn garp_number(&mut self, t: &Token, key: &str, prefix: &str) -> Option<u64> {
        let max = if key.ends_with("_delay") {
            4294
        } else if key.ends_with("lower_prio_repeat") {
            i32::MAX as u64
        } else {
            u64::from(u32::MAX)
        };
        let s = t.word().unwrap_or("");
        match ka_unsigned(s, 0, max) {
            Ok(v) => Some(v),
            Err(why) => {
                let msg = if key.ends_with("garp_master_refresh") {
                    format!("Invalid {key} '{s}' - ignoring")
                } else if key.ends_with("lower_prio_repeat") {
                    format!("Invalid {key} '{s}'")
                } else {
                    format!("{key} '{s}' invalid - ignoring")
                };
                self.d.warn(&t.loc, format!("{why}: {prefix}{msg}"));
                None
            }
        }
    }

    /// `<BOOL>`; no argument means true.
    pub(super) fn boolean(&mut self, n: &Node, ctx: &str) -> Option<bool> {
        self.no_block(n);
        let Some(t) = n.args.first() else {
            return Some(true);
        };
        match t.word().unwrap_or("") {
            "true" | "on" | "yes" => Some(true),
            "false" | "off" | "no" => Some(false),
            other => {
                // keepalived's words (on|off|true|false|yes|no are valid).
                let msg = if ctx.is_empty() {
                    format!("Invalid value for {} specified", n.name())
                } else {
                    format!("{ctx}invalid {} {other} specified", n.name())
                };
                self.d.warn(&t.loc, msg);
                None
            }
        }
    }

    /// An IP address; a malformed one is keepalived's warning `malformed` (it names the
    /// word as `{}`) and the keyword is skipped.
    pub(super) fn ip(&mut self, t: &Token, malformed: &str) -> Option<IpAddr> {
        let s = t.word().unwrap_or("");
        match s.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.d.warn(&t.loc, malformed.replace("{}", s));
                None
            }
        }
    }

    /// A command line (`notify_*`, `script`): `"cmd args" [user [group]]` or `cmd`.
    pub(super) fn command(&mut self, n: &Node, with_user: bool) -> Option<Command> {
        self.need(n, 0)?;
        let raw = n.raw_args();
        let words = match split_command(&raw) {
            Ok(w) => w,
            Err(q) => {
                self.d.warn(
                    &n.args[0].loc,
                    format!("string `{raw}`: missing terminating {q}"),
                );
                return None;
            }
        };
        let text = words.first().cloned().unwrap_or_default();
        let argv = match split_command(&text) {
            Ok(a) if !a.is_empty() => a,
            _ => {
                self.d
                    .warn(&n.args[0].loc, format!("`{}`: empty command", n.name()));
                return None;
            }
        };
        let mut user = None;
        if with_user {
            if let Some(u) = words.get(1) {
                user = Some(User {
                    user: u.clone(),
                    group: words.get(2).cloned(),
                });
            }
            if words.len() > 3 {
                self.d.note(
                    &n.args[0].loc,
                    format!(
                        "`{}`: words after `{} [user [group]]` ignored: quote the command line if it has arguments",
                        n.name(),
                        text
                    ),
                );
            }
        } else if words.len() > 1 {
            self.d.note(
                &n.args[0].loc,
                format!(
                    "`{}`: keepalived ignores the words after `{text}`: quote the whole command line to pass arguments",
                    n.name()
                ),
            );
        }
        Some(Command {
            text,
            argv,
            user,
            loc: n.args[0].loc.clone(),
        })
    }

    pub(super) fn user(&mut self, n: &Node) -> Option<User> {
        let u = self.need(n, 0)?.word()?.to_string();
        self.extra(n, 2);
        Some(User {
            user: u,
            group: n.arg(1).map(str::to_string),
        })
    }
}

/// keepalived's `check_true_false`: on|true|yes, off|false|no, else `None`.
pub(super) fn ka_bool(t: &Token) -> Option<bool> {
    match t.word().unwrap_or("") {
        "true" | "on" | "yes" => Some(true),
        "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// keepalived's priority for a missing or invalid `priority` (VRRP_PRIO_DFL).
pub(super) const DEFAULT_PRIORITY: u8 = 100;

/// keepalived's `read_decimal_unsigned` with 6 decimals: microseconds in `min..=max`, or
/// its complaint in its words.
pub(super) fn ka_decimal(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let t = s.trim_start();
    if t.starts_with('-') {
        return Err(format!("negative number '{s}'"));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if frac.len() > 6 {
        return Err(format!("number '{s}' has too many decimal places"));
    }
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(format!("invalid number '{s}'"));
    }
    let whole = if int.is_empty() {
        Some(0)
    } else {
        int.parse::<u64>().ok()
    };
    let us = whole
        .and_then(|w| w.checked_mul(1_000_000))
        .and_then(|w| w.checked_add(format!("{frac:0<6}").parse::<u64>().unwrap_or(0)));
    let range = || {
        format!(
            "[{}.{:06}, {}.{:06}]",
            min / 1_000_000,
            min % 1_000_000,
            max / 1_000_000,
            max % 1_000_000
        )
    };
    match us {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(_) => Err(format!("number '{s}' outside range {}", range())),
        None => Err(format!("number '{s}' outside unsigned decimal range")),
    }
}

/// keepalived's `read_unsigned` (base 10): the value, or its complaint in its words.
pub(super) fn ka_unsigned(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let t = s.trim_start();
    if t.starts_with('-') {
        return Err(format!("negative number '{s}'"));
    }
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number '{s}'"));
    }
    match digits.parse::<u64>() {
        Ok(v) if v > u64::from(u32::MAX) => {
            Err(format!("number '{s}' outside unsigned integer range"))
        }
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) => Err(format!("number '{s}' outside range [{min}, {max}]")),
        Err(_) => Err(format!("number '{s}' outside unsigned integer range")),
    }
}

pub(crate) fn fam(a: &IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}
