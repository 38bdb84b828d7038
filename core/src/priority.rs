//! Priority arithmetic: base priority plus tracker weights, with keepalived's rules, and
//! rise/fall counting of check results.
//!
//! - The effective priority is clamped to 1..=254: a tracker can neither make a router
//!   the address owner nor make it resign (priority 0 means "I am leaving").
//! - 255, the address owner, is never changed by weights.
//! - A tracker of weight 0 that fails puts the instance in FAULT.
//! - Weight `w > 0`: the tracker adds `w` while it succeeds. `w < 0`: it adds `w` (lowers
//!   the priority) while it fails. `reverse` negates whichever applies, as keepalived's
//!   `weight W reverse` (a multiplier of -1): a succeeding `+w reverse` tracker
//!   subtracts `w`; a failing `-w reverse` tracker adds `w`.

use heapless::Vec;

/// The address owner's priority (RFC 5798 5.2.4).
pub const OWNER: u8 = 255;
/// The priority of a resigning master (RFC 5798 5.2.4).
pub const RESIGN: u8 = 0;
/// keepalived's weight range for tracked objects.
pub const WEIGHT_MAX: i16 = 254;

/// How one tracked object (script, interface, file, process) bears on the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Weight {
    /// -254..=254; 0 means "a failure is a FAULT".
    pub weight: i16,
    /// keepalived's `reverse`.
    pub reverse: bool,
}

impl Weight {
    /// A tracker whose failure is a FAULT.
    pub const FAULT: Weight = Weight {
        weight: 0,
        reverse: false,
    };

    /// keepalived's range check: `None` outside -254..=254.
    pub const fn new(weight: i16, reverse: bool) -> Option<Self> {
        if weight < -WEIGHT_MAX || weight > WEIGHT_MAX {
            None
        } else {
            Some(Weight { weight, reverse })
        }
    }

    /// What this tracker adds to the priority, or `None` for FAULT. `state` is `None`
    /// until the first result (keepalived's INIT): a weighted tracker adds nothing yet, a
    /// weight-0 one holds the instance in FAULT until it has spoken.
    pub const fn contribution(self, state: Option<bool>) -> Option<i16> {
        let w = self.weight;
        let Some(up) = state else {
            return if w == 0 { None } else { Some(0) };
        };
        if w == 0 {
            // reverse on a weight-0 tracker inverts what counts as failing.
            return if up != self.reverse { Some(0) } else { None };
        }
        // keepalived: a positive weight applies while up, a negative one while down;
        // `reverse` is a multiplier of -1 on whichever applies.
        let applies = if w > 0 { up } else { !up };
        if !applies {
            Some(0)
        } else if self.reverse {
            Some(-w)
        } else {
            Some(w)
        }
    }

    /// What a tracker reporting a number adds (keepalived's `track_file`, and
    /// `track_process` with weights): the value times the weight, negated with
    /// `reverse`, clamped to -254..=253, where -254 (or a weight-0 tracker reading
    /// non-zero, zero with `reverse`) is FAULT (`None`).
    pub const fn value_contribution(self, value: i64) -> Option<i32> {
        if self.weight == 0 {
            return if (value != 0) != self.reverse {
                None
            } else {
                Some(0)
            };
        }
        let mult: i64 = if self.reverse { -1 } else { 1 };
        let v = value
            .saturating_mul(self.weight as i64)
            .saturating_mul(mult);
        let v = if v < -254 {
            -254
        } else if v > 253 {
            253
        } else {
            v
        };
        if v <= -254 { None } else { Some(v as i32) }
    }
}

/// The sum over all trackers: what the state machine needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrackStatus {
    /// Number of weight-0 trackers failing (any at all means FAULT).
    pub faults: u16,
    /// Sum of the weights that apply.
    pub adjust: i32,
    /// Of `faults`, the weight-0 trackers that have not reported yet (keepalived's
    /// `num_script_init`): at start-up they hold the instance in FAULT *silently*.
    pub pending: u16,
}

impl TrackStatus {
    pub const HEALTHY: TrackStatus = TrackStatus {
        faults: 0,
        adjust: 0,
        pending: 0,
    };

    pub const fn is_fault(&self) -> bool {
        self.faults > 0
    }
}

/// The effective priority of a router with `base` priority and this tracking status:
/// `None` for FAULT, else `base + adjust` clamped to 1..=254, and 255 left alone.
pub const fn effective(base: u8, status: TrackStatus) -> Option<u8> {
    if status.is_fault() {
        return None;
    }
    if base == OWNER {
        return Some(OWNER);
    }
    let p = base as i32 + status.adjust;
    Some(if p < 1 {
        1
    } else if p > 254 {
        254
    } else {
        p as u8
    })
}

/// Index of a tracker in a [`Trackers`] set.
pub type TrackerId = usize;

/// What a tracker last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Reading {
    /// Up or down (`None` until the first result): scripts, interfaces, processes.
    State(Option<bool>),
    /// A number: `track_file`. Kept as i32 (saturated): any value beyond it saturates
    /// the weighted result just the same, and the tracker set stays small.
    Value(i32),
}

/// One tracker in 8 bytes: its weight and its reading, packed (a daemon keeps 32 per
/// instance, for a thousand instances).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Item {
    // The weight's fields, inline: a `Weight` has a padding byte of its own.
    weight: i16,
    reverse: bool,
    /// 0: no result yet, 1: down, 2: up, 3: `value`.
    kind: u8,
    value: i32,
}

impl Item {
    const fn new(weight: Weight, reading: Reading) -> Self {
        let (kind, value) = match reading {
            Reading::State(None) => (0, 0),
            Reading::State(Some(false)) => (1, 0),
            Reading::State(Some(true)) => (2, 0),
            Reading::Value(v) => (3, v),
        };
        Item {
            weight: weight.weight,
            reverse: weight.reverse,
            kind,
            value,
        }
    }

    const fn weight(&self) -> Weight {
        Weight {
            weight: self.weight,
            reverse: self.reverse,
        }
    }

    const fn reading(&self) -> Reading {
        match self.kind {
            0 => Reading::State(None),
            1 => Reading::State(Some(false)),
            2 => Reading::State(Some(true)),
            _ => Reading::Value(self.value),
        }
    }
}

/// A fixed-capacity set of trackers with their current state.
#[derive(Debug, Clone, Default)]
pub struct Trackers<const N: usize> {
    items: Vec<Item, N>,
}

/// A configuration asked for more than a documented capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapacityError {
    /// What ran out ("VIPs", "trackers", "sync group members").
    pub what: &'static str,
    /// The capacity.
    pub capacity: usize,
}

impl core::fmt::Display for CapacityError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "too many {}: at most {} allowed",
            self.what, self.capacity
        )
    }
}

impl<const N: usize> Trackers<N> {
    pub const fn new() -> Self {
        Trackers { items: Vec::new() }
    }

    /// Adds a tracker, `None` until its first result; exceeding `N` is a configuration
    /// error.
    pub fn add(&mut self, weight: Weight, state: Option<bool>) -> Result<TrackerId, CapacityError> {
        self.push(weight, Reading::State(state))
    }

    /// Adds a tracker that reports a number (`track_file`), 0 until it reports.
    pub fn add_value(&mut self, weight: Weight) -> Result<TrackerId, CapacityError> {
        self.push(weight, Reading::Value(0))
    }

    fn push(&mut self, weight: Weight, reading: Reading) -> Result<TrackerId, CapacityError> {
        self.items
            .push(Item::new(weight, reading))
            .map_err(|_| CapacityError {
                what: "trackers",
                capacity: N,
            })?;
        Ok(self.items.len() - 1)
    }

    /// Gives tracker `id` the reading `from`'s tracker `from_id` has (a reload carrying
    /// a tracker's last result over to a new set); ids unknown or of another kind are
    /// ignored.
    pub fn copy_reading(&mut self, id: TrackerId, from: &Self, from_id: TrackerId) {
        if let Some(item) = from.items.get(from_id) {
            self.record(id, item.reading());
        }
    }

    /// Records a tracker's state; returns whether it changed. Unknown ids are ignored.
    pub fn set(&mut self, id: TrackerId, up: bool) -> bool {
        self.record(id, Reading::State(Some(up)))
    }

    /// Records a value tracker's number; returns whether it changed.
    pub fn set_value(&mut self, id: TrackerId, value: i64) -> bool {
        let value = value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.record(id, Reading::Value(value))
    }

    fn record(&mut self, id: TrackerId, reading: Reading) -> bool {
        match self.items.get_mut(id) {
            Some(item)
                if item.reading() != reading
                    && matches!(
                        (item.reading(), reading),
                        (Reading::State(_), Reading::State(_))
                            | (Reading::Value(_), Reading::Value(_))
                    ) =>
            {
                *item = Item::new(item.weight(), reading);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn status(&self) -> TrackStatus {
        let mut s = TrackStatus::HEALTHY;
        for item in &self.items {
            let w = item.weight();
            let c = match item.reading() {
                Reading::State(up) => w.contribution(up).map(i32::from),
                Reading::Value(v) => w.value_contribution(i64::from(v)),
            };
            match c {
                Some(c) => s.adjust += c,
                None => {
                    s.faults += 1;
                    if item.reading() == Reading::State(None) {
                        s.pending += 1;
                    }
                }
            }
        }
        s
    }
}

/// Rise/fall counting as keepalived's `vrrp_script`. Until the first result the state
/// is unknown and that first result decides at once (keepalived starts the counter at
/// `rise - 1`). After that a check must succeed `rise` times in a row to become up and
/// fail `fall` times in a row to become down; a result that agrees with the current
/// state resets the opposite streak. `init_fail` starts down, needing `rise` successes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RiseFall {
    rise: u8,
    fall: u8,
    state: Option<bool>,
    streak: u8,
}

impl RiseFall {
    /// `rise` and `fall` below 1 count as 1 (keepalived's minimum).
    pub const fn new(rise: u8, fall: u8, init_fail: bool) -> Self {
        RiseFall {
            rise: if rise == 0 { 1 } else { rise },
            fall: if fall == 0 { 1 } else { fall },
            state: if init_fail { Some(false) } else { None },
            streak: 0,
        }
    }

    /// `None` before the first result.
    pub const fn state(&self) -> Option<bool> {
        self.state
    }

    /// Feeds one check result; returns the new state if it changed.
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let Some(up) = self.state else {
            self.state = Some(success);
            return self.state;
        };
        if success == up {
            self.streak = 0;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let needed = if success { self.rise } else { self.fall };
        if self.streak >= needed {
            self.state = Some(success);
            self.streak = 0;
            Some(success)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(pairs: &[(i16, bool, bool)]) -> TrackStatus {
        let mut t = Trackers::<8>::new();
        for &(w, rev, up) in pairs {
            t.add(Weight::new(w, rev).unwrap(), Some(up)).unwrap();
        }
        t.status()
    }

    /// keepalived: effective priority is clamped to 1..=254.
    #[test]
    fn keepalived_clamps_effective_priority_to_1_254() {
        assert_eq!(effective(100, status(&[(-200, false, false)])), Some(1));
        assert_eq!(effective(200, status(&[(100, false, true)])), Some(254));
        assert_eq!(effective(100, status(&[(-5, false, false)])), Some(95));
    }

    /// keepalived: the address owner's 255 is never changed by weights.
    #[test]
    fn keepalived_owner_priority_never_changes() {
        assert_eq!(effective(255, status(&[(-50, false, false)])), Some(255));
    }

    /// keepalived: a failing tracker of weight 0 puts the instance in FAULT.
    #[test]
    fn keepalived_weight_zero_failure_is_fault() {
        assert_eq!(effective(100, status(&[(0, false, false)])), None);
        assert_eq!(effective(255, status(&[(0, false, false)])), None);
        assert_eq!(effective(100, status(&[(0, false, true)])), Some(100));
    }

    /// keepalived: positive weight adds on success; negative subtracts on failure.
    #[test]
    fn keepalived_weight_sign_selects_outcome() {
        assert_eq!(status(&[(10, false, true)]).adjust, 10);
        assert_eq!(status(&[(10, false, false)]).adjust, 0);
        assert_eq!(status(&[(-10, false, false)]).adjust, -10);
        assert_eq!(status(&[(-10, false, true)]).adjust, 0);
    }

    /// keepalived `weight W reverse`: a multiplier of -1 on the weight that applies.
    #[test]
    fn keepalived_reverse_inverts_direction() {
        assert_eq!(status(&[(10, true, true)]).adjust, -10);
        assert_eq!(status(&[(10, true, false)]).adjust, 0);
        assert_eq!(status(&[(-10, true, false)]).adjust, 10);
        assert_eq!(status(&[(-10, true, true)]).adjust, 0);
        // weight 0 reverse: success is the failure.
        assert!(status(&[(0, true, true)]).is_fault());
        assert!(!status(&[(0, true, false)]).is_fault());
    }

    /// keepalived: before its first result a weighted script adds nothing and a
    /// weight-0 script holds the instance in FAULT.
    #[test]
    fn keepalived_script_in_init_state() {
        let mut t = Trackers::<2>::new();
        t.add(Weight::new(10, false).unwrap(), None).unwrap();
        assert_eq!(t.status(), TrackStatus::HEALTHY);
        t.add(Weight::FAULT, None).unwrap();
        assert!(t.status().is_fault());
        assert_eq!(
            t.status().pending,
            1,
            "a weight-0 tracker without a result is pending"
        );
        t.set(1, false);
        assert_eq!((t.status().faults, t.status().pending), (1, 0));
        t.set(1, true);
        t.set(0, true);
        assert_eq!(
            t.status(),
            TrackStatus {
                faults: 0,
                adjust: 10,
                pending: 0
            }
        );
    }

    #[test]
    fn weights_out_of_range_are_refused() {
        assert!(Weight::new(255, false).is_none());
        assert!(Weight::new(-255, false).is_none());
        assert!(Weight::new(-254, false).is_some());
    }

    #[test]
    fn exceeding_tracker_capacity_is_an_error() {
        let mut t = Trackers::<1>::new();
        t.add(Weight::FAULT, Some(true)).unwrap();
        assert_eq!(
            t.add(Weight::FAULT, Some(true)),
            Err(CapacityError {
                what: "trackers",
                capacity: 1
            })
        );
    }

    /// keepalived vrrp_script: `fall` consecutive failures to go down, `rise` successes up.
    #[test]
    fn keepalived_rise_fall_needs_consecutive_results() {
        let mut rf = RiseFall::new(2, 3, false);
        assert_eq!(rf.state(), None);
        // The first result decides at once, whatever `rise` is.
        assert_eq!(rf.record(true), Some(true));
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(true), None); // streak broken
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), None);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(rf.record(true), None);
        assert_eq!(rf.record(true), Some(true));
    }

    /// keepalived `init_fail`: the script starts failed and needs `rise` successes.
    #[test]
    fn keepalived_init_fail_starts_down() {
        let mut rf = RiseFall::new(2, 1, true);
        assert_eq!(rf.state(), Some(false));
        assert_eq!(rf.record(true), None);
        assert_eq!(rf.record(true), Some(true));
    }

    #[test]
    fn keepalived_track_file_value_times_weight_clamped_with_minus_254_as_fault() {
        let w = |weight, reverse| Weight::new(weight, reverse).unwrap();
        assert_eq!(w(10, false).value_contribution(3), Some(30));
        assert_eq!(w(10, true).value_contribution(3), Some(-30));
        assert_eq!(w(10, false).value_contribution(100), Some(253));
        assert_eq!(w(10, false).value_contribution(-100), None);
        assert_eq!(w(0, false).value_contribution(0), Some(0));
        assert_eq!(w(0, false).value_contribution(7), None);
        assert_eq!(w(0, true).value_contribution(0), None);
        let mut t = Trackers::<2>::new();
        let file = t.add_value(w(-5, false)).unwrap();
        let script = t.add(w(20, false), Some(true)).unwrap();
        assert!(t.set_value(file, 2));
        assert!(!t.set_value(file, 2));
        assert!(!t.set(file, true), "a value tracker takes values only");
        assert!(!t.set_value(script, 1), "a state tracker takes states only");
        assert_eq!(
            t.status(),
            TrackStatus {
                faults: 0,
                adjust: 10,
                pending: 0
            }
        );
    }
}
