//! When a checker runs and how its attempts turn into verdicts (keepalived's
//! `register_checkers_thread` and each checker's epilog, e.g. `tcp_epilog`): the first
//! attempt one second plus a random part of `warmup` after the start; after a verdict
//! (a success, or a failure with the retries used up) the next in `delay_loop`; after a
//! failure with retries left, in `delay_before_retry`.

use super::phrases;
use super::state::{Effect, LastResult, VsState};
use crate::lvs::Attempt;
use std::time::{Duration, Instant};

/// keepalived's `BOOTSTRAP_DELAY`: the first check waits this long after the start.
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);

/// A small deterministic random source for `warmup` (xorshift; the daemon seeds it,
/// tests fix it).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new(seed: u64) -> Self {
        Jitter(seed | 1)
    }

    /// A fraction in [0, 1).
    pub fn fraction(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// When a checker with `warmup` first runs after `start`.
    pub fn first_run(&mut self, start: Instant, warmup: Duration) -> Instant {
        start + BOOTSTRAP_DELAY + warmup.mul_f64(self.fraction())
    }
}

impl VsState {
    /// The result of an attempt of checker `c` of real server `i`, at `now`.
    pub fn attempt_done(
        &mut self,
        i: usize,
        c: usize,
        attempt: &Attempt,
        now: Instant,
        fx: &mut Vec<Effect>,
    ) {
        let (success, asked, reason) = match attempt {
            Attempt::Success { weight } => (true, *weight, ""),
            Attempt::Failure(r) => (false, None, r.as_str()),
        };
        {
            let ck = &mut self.rs[i].checkers[c];
            ck.in_flight = false;
            if success {
                ck.passed += 1;
            } else {
                ck.failed += 1;
            }
            ck.last = Some(LastResult {
                ok: success,
                reason: reason.to_string(),
                at: now,
            });
        }
        // misc_dynamic / FILE_CHECK: a new weight takes effect before the verdict.
        if success && asked != self.rs[i].checkers[c].asked_weight {
            let iweight = self.rs[i].conf.weight as i64;
            let new_cur = asked.map_or(0, |w| w as i64 - iweight);
            let weight = self.rs[i].effective_weight - self.rs[i].checkers[c].cur_weight + new_cur;
            let ck = &mut self.rs[i].checkers[c];
            ck.cur_weight = new_cur;
            ck.asked_weight = asked;
            self.update_weight(weight, i, true, fx);
        }

        let ck = &self.rs[i].checkers[c];
        let conf = ck.conf.clone();
        let timing = conf.timing;
        let kind = &conf.kind;
        if success && !ck.is_up {
            let lines = phrases::url_success_lines(kind, &self.rs[i].name);
            fx.extend(lines.into_iter().map(Effect::Log));
        }
        let counting = ck.is_up || !ck.has_run || phrases::retries_while_down(kind);
        let delay = if success || ck.retry_it >= timing.retry || !counting {
            let (was_up, has_run) = (ck.is_up, ck.has_run);
            self.rs[i].checkers[c].retry_it = 0;
            if success && (!was_up || !has_run) {
                if let Some(line) = phrases::success_line(kind, &self.rs[i].name, &self.name) {
                    fx.push(Effect::Log(line));
                }
                let rs_was_alive = self.rs[i].alive;
                self.update_checker_state(true, i, c, fx);
                self.checker_mail(i, kind, true, reason, !was_up, rs_was_alive, fx);
            } else if !success && (was_up || !has_run) {
                if phrases::reason_before_failure(kind) && !reason.is_empty() {
                    fx.push(Effect::Log(reason.to_string()));
                }
                fx.push(Effect::Log(phrases::failure_line(
                    kind,
                    &self.rs[i].name,
                    &self.name,
                    timing.retry,
                    timing.retry > 0 && has_run,
                    reason,
                )));
                let rs_was_alive = self.rs[i].alive;
                self.update_checker_state(false, i, c, fx);
                // A failed dynamic checker gives its weight back, quietly (the
                // server is leaving anyway).
                let ck = &mut self.rs[i].checkers[c];
                let cur = std::mem::take(&mut ck.cur_weight);
                ck.asked_weight = None;
                self.rs[i].effective_weight -= cur;
                self.checker_mail(i, kind, false, reason, was_up, rs_was_alive, fx);
            }
            timing.delay_loop
        } else {
            let ck = &mut self.rs[i].checkers[c];
            ck.retry_it += 1;
            if timing.log_all_failures && ck.is_up {
                let line = phrases::retry_line(
                    kind,
                    &self.rs[i].name,
                    &self.name,
                    timing.retry,
                    self.rs[i].checkers[c].retry_it,
                    reason,
                );
                if !line.is_empty() {
                    fx.push(Effect::Log(line));
                }
            }
            timing.delay_before_retry
        };
        let ck = &mut self.rs[i].checkers[c];
        ck.has_run = true;
        ck.next_at = now + delay;
    }

    /// The checker's mail (`smtp_alert`), sent when the checker changed (`changed`)
    /// and the real server wants mail.
    #[allow(clippy::too_many_arguments)]
    fn checker_mail(
        &self,
        i: usize,
        kind: &crate::config::lvs::CheckKind,
        ok: bool,
        reason: &str,
        changed: bool,
        _rs_was_alive: bool,
        fx: &mut Vec<Effect>,
    ) {
        let rs = &self.rs[i];
        if !changed || rs.conf.smtp_alert != Some(true) {
            return;
        }
        fx.push(Effect::Mail {
            subject: format!(
                "Realserver {} of virtual server {} - {}",
                rs.name,
                self.name,
                if rs.alive { "UP" } else { "DOWN" }
            ),
            body: phrases::mail_body(kind, ok, reason),
        });
    }
}
