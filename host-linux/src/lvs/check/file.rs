//! `FILE_CHECK`, as keepalived's `check_file.c` and `track_file.c`: the value of a
//! `track_file` decides.
//!
//! - With weight 0, a non-zero value is a failure (with `reverse`, a zero value).
//! - Otherwise the value times the weight (negated with `reverse`) is added to the real
//!   server's configured weight (never below 0); a product at or below `-2^31`
//!   (keepalived's `IPVS_WEIGHT_FAULT`) is a failure.
//!
//! The `FILE_CHECK`'s own `weight [reverse]` wins; without it, the track_file's own.
//! keepalived reacts to the file through inotify; here the engine decides when to ask.

use super::CheckContext;
use crate::config::lvs::FileCheck;
use crate::lvs::Attempt;

pub fn attempt(f: &FileCheck, ctx: &CheckContext) -> Attempt {
    let Some(tf) = ctx.track_files.value(&f.track_file) else {
        return Attempt::Failure(format!("track_file {} not found", f.track_file));
    };
    let (weight, reverse) = match f.weight {
        Some(w) => (w, f.reverse),
        None => (tf.weight, tf.reverse),
    };
    judge(tf.value, weight, reverse, ctx.server_weight).map_or_else(
        || {
            Attempt::Failure(format!(
                "({}): tracked file {} now FAULT state",
                ctx.server, f.track_file
            ))
        },
        |weight| Attempt::Success { weight },
    )
}

/// `None`: FAULT; `Some(None)`: up with the configured weight; `Some(Some(w))`: up with
/// weight `w`.
pub fn judge(value: i64, weight: i32, reverse: bool, configured: u32) -> Option<Option<u32>> {
    if weight == 0 {
        return if (value != 0) != reverse {
            None
        } else {
            Some(None)
        };
    }
    let mult: i128 = if reverse { -1 } else { 1 };
    let status = i128::from(value) * i128::from(weight) * mult;
    if status <= i128::from(i32::MIN) {
        return None;
    }
    let status = status.min(i128::from(i32::MAX));
    let total = (i128::from(configured) + status).clamp(0, i128::from(i32::MAX));
    Some(Some(total as u32))
}

#[cfg(test)]
mod tests {
    use super::judge;

    #[test]
    fn weight_zero_is_up_or_fault() {
        assert_eq!(judge(0, 0, false, 5), Some(None));
        assert_eq!(judge(3, 0, false, 5), None);
        assert_eq!(judge(0, 0, true, 5), None);
        assert_eq!(judge(-1, 0, true, 5), Some(None));
    }

    #[test]
    fn weighted_values_adjust_the_configured_weight() {
        assert_eq!(judge(2, 3, false, 5), Some(Some(11)));
        assert_eq!(judge(2, 3, true, 5), Some(Some(0)));
        assert_eq!(judge(-1, 2, false, 10), Some(Some(8)));
        assert_eq!(judge(0, 2, false, 10), Some(Some(10)));
        assert_eq!(judge(i64::from(i32::MIN), 1, false, 10), None);
        assert_eq!(judge(1 << 40, 1, false, 1), Some(Some(i32::MAX as u32)));
    }
}
