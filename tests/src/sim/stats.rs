//! Counters over one or many runs, merged across threads and printed at the end.

use std::fmt;

use super::{Ticks, fmt_t};

/// Counters over one or many runs.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub scenarios: u64,
    pub events: u64,
    pub adverts: u64,
    pub copies_lost: u64,
    pub checks: u64,
    /// Checks that held only within the slack window (lossy LANs).
    pub late_checks: u64,
    pub takeovers: u64,
    /// Takeovers not measured because another event came first.
    pub takeovers_abandoned: u64,
    pub max_takeover: Ticks,
    /// The bound of the measurement that gave `max_takeover`.
    pub max_takeover_bound: Ticks,
    /// The highest takeover / bound, in per mille.
    pub worst_ratio_permille: u64,
    /// Takeovers during soaks, each explained by lost adverts.
    pub soak_takeovers: u64,
    /// The fewest lost (or late) adverts behind one of them.
    pub soak_min_lost: Option<u32>,
    /// Dual masters beyond the master-down interval, each explained by lost adverts.
    pub dual_masters_explained: u64,
    pub transitions: u64,
    /// The most events one input gave one instance.
    pub max_step_events: u64,
}

impl Stats {
    pub fn merge(&mut self, o: &Stats) {
        self.scenarios += o.scenarios;
        self.events += o.events;
        self.adverts += o.adverts;
        self.copies_lost += o.copies_lost;
        self.checks += o.checks;
        self.late_checks += o.late_checks;
        self.takeovers += o.takeovers;
        self.takeovers_abandoned += o.takeovers_abandoned;
        if o.max_takeover > self.max_takeover {
            self.max_takeover = o.max_takeover;
            self.max_takeover_bound = o.max_takeover_bound;
        }
        self.worst_ratio_permille = self.worst_ratio_permille.max(o.worst_ratio_permille);
        self.soak_takeovers += o.soak_takeovers;
        self.soak_min_lost = match (self.soak_min_lost, o.soak_min_lost) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.dual_masters_explained += o.dual_masters_explained;
        self.transitions += o.transitions;
        self.max_step_events = self.max_step_events.max(o.max_step_events);
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} scenarios, {} events, {} adverts ({} copies lost), {} transitions, {} convergence checks ({} within slack), {} takeovers measured ({} abandoned): max {} s vs bound {} s, worst {}.{}% of its bound; {} loss-explained soak takeovers (min {} lost), {} loss-explained dual masters; at most {} events per instance per input",
            self.scenarios,
            self.events,
            self.adverts,
            self.copies_lost,
            self.transitions,
            self.checks,
            self.late_checks,
            self.takeovers,
            self.takeovers_abandoned,
            fmt_t(self.max_takeover),
            fmt_t(self.max_takeover_bound),
            self.worst_ratio_permille / 10,
            self.worst_ratio_permille % 10,
            self.soak_takeovers,
            self.soak_min_lost
                .map_or_else(|| "-".to_string(), |n| n.to_string()),
            self.dual_masters_explained,
            self.max_step_events,
        )
    }
}
