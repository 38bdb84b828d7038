//! `MISC_CHECK`, as keepalived's `check_misc.c`: the script runs (as its `user`, else
//! `script_user`), killed after `misc_timeout` (default: the checker's `delay_loop`).
//! Exit 0 is success; with `misc_dynamic`, exits 2..=255 are success too and set the
//! real server's weight to the exit code less 2 (0 puts the configured weight back).
//! Exit 1 (and, without `misc_dynamic`, any other), a signal or the timeout is a
//! failure.

use super::CheckContext;
use crate::config::lvs::MiscCheck;
use crate::exec::{self, Outcome, RunAs};
use crate::lvs::Attempt;
use std::time::Duration;

pub async fn attempt(m: &MiscCheck, delay_loop: Duration, ctx: &CheckContext) -> Attempt {
    let who = match &m.user {
        Some(u) => match RunAs::lookup(&u.user, u.group.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Failure(format!(
                    "Misc check for [{} VS {}] by [{}] failed ({e}).",
                    ctx.server,
                    ctx.service,
                    program(m)
                ));
            }
        },
        None => ctx.script_user,
    };
    let timeout = m.timeout.unwrap_or(delay_loop);
    judge(m, exec::run(&m.path.argv, who, timeout).await, ctx)
}

fn program(m: &MiscCheck) -> &str {
    m.path.argv.first().map_or("", String::as_str)
}

/// What an outcome of the script means, with keepalived's phrase
/// (`misc_check_child_thread`; the retry wording is the engine's).
pub fn judge(m: &MiscCheck, outcome: Outcome, ctx: &CheckContext) -> Attempt {
    let fail = |what: String| {
        Attempt::Failure(format!(
            "Misc check for [{} VS {}] by [{}] {what}.",
            ctx.server,
            ctx.service,
            program(m)
        ))
    };
    match outcome {
        Outcome::Exited(0) => Attempt::Success { weight: None },
        Outcome::Exited(c) if m.dynamic && (2..=255).contains(&c) => Attempt::Success {
            weight: Some(c as u32 - 2),
        },
        Outcome::Exited(c) => fail(format!("failed (exited with status {c})")),
        Outcome::Signalled(s) => fail(format!("failed (due to signal {s})")),
        Outcome::TimedOut => fail("timed out".to_owned()),
        // keepalived's forked child exits 0 when exec fails ("script errors aren't
        // server errors"), so a script that cannot run counts as up there; vigild says
        // it failed rather than vouch for a server nothing checked.
        Outcome::SpawnFailed => fail("failed (cannot be run)".to_owned()),
    }
}
