//! The scenario language: actions on routers and LANs (start, crash, shutdown,
//! partition, heal, tracker changes, checks, soaks) and a timed script of them.

use std::fmt;

use vigil_core::priority::TrackStatus;

use super::topology::{Setup, lan_name};
use super::{Ticks, fmt_t};

/// Which router an action applies to, resolved when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// A running router that is MASTER on LAN A (none: the action does nothing).
    Master,
    /// A random running router.
    AnyUp,
    /// A random stopped router.
    AnyDown,
}

/// A scenario event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// (Re)start a stopped router: fresh instances, its tracking status, `start`.
    Start(Target),
    /// The router silently stops: no effects, no reception, no timers.
    Crash(Target),
    /// Graceful: `shutdown` on every instance (a master resigns), then it stops.
    Shutdown(Target),
    /// Split a LAN: the nodes in the bit mask on one side, the rest on the other.
    Partition {
        lan: usize,
        side_b: u32,
    },
    Heal {
        lan: usize,
    },
    /// A tracker change: `set_tracking` with this status.
    Track {
        target: Target,
        lan: usize,
        status: TrackStatus,
    },
    /// Invariant 1 (see [`Sim::convergence`]).
    Check,
    SoakBegin,
    SoakEnd,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Action::Start(t) => write!(f, "start {t:?}"),
            Action::Crash(t) => write!(f, "crash {t:?}"),
            Action::Shutdown(t) => write!(f, "shutdown {t:?}"),
            Action::Partition { lan, side_b } => {
                write!(f, "partition LAN {}: {{", lan_name(lan))?;
                let mut first = true;
                for n in 0..32 {
                    if side_b & (1 << n) != 0 {
                        write!(f, "{}r{n}", if first { "" } else { " " })?;
                        first = false;
                    }
                }
                write!(f, "}} | rest")
            }
            Action::Heal { lan } => write!(f, "heal LAN {}", lan_name(lan)),
            Action::Track {
                target,
                lan,
                status,
            } => write!(
                f,
                "track {target:?} on LAN {}: adjust {:+}{}",
                lan_name(lan),
                status.adjust,
                if status.is_fault() { ", FAULT" } else { "" }
            ),
            Action::Check => write!(f, "check convergence"),
            Action::SoakBegin => write!(f, "soak begins"),
            Action::SoakEnd => write!(f, "soak ends"),
        }
    }
}

/// A setup and a timed script: what one seed means.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    pub setup: Setup,
    pub script: Vec<(Ticks, Action)>,
    pub end: Ticks,
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.setup)?;
        writeln!(f, "script:")?;
        for (t, a) in &self.script {
            writeln!(f, "  {:>12} {a}", fmt_t(*t))?;
        }
        writeln!(f, "  {:>12} end", fmt_t(self.end))
    }
}
