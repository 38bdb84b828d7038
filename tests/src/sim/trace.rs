//! What happened: the history of state changes, the trace of recent events kept for
//! a violation report, and how both are printed.

use std::fmt::Write as _;

use vigil_core::machine::{Reason, State};
use vigil_core::router::{Cause, RxDrop};

use super::topology::lan_name;
use super::world::Sim;
use super::{Ticks, fmt_t};

/// A state change as it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub at: Ticks,
    pub node: usize,
    pub lan: usize,
    pub from: State,
    pub to: State,
    pub reason: Reason,
    /// The facts of the decision, as the router reported them.
    pub cause: Cause,
}

#[derive(Debug, Clone)]
pub(super) enum Note {
    Send {
        node: usize,
        lan: usize,
        prio: u8,
    },
    Lost {
        from: usize,
        to: usize,
        lan: usize,
        prio: u8,
    },
    Cut {
        from: usize,
        to: usize,
        lan: usize,
    },
    Rx {
        from: usize,
        to: usize,
        lan: usize,
        prio: u8,
        drop: Option<RxDrop>,
    },
    State(Transition),
    Prio {
        node: usize,
        lan: usize,
        from: u8,
        to: u8,
    },
    Text(String),
}

impl Sim {
    /// The full violation report for `what`: seed and scenario, the last events, and
    /// how to replay.
    pub fn report(&self, what: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n==== VRRP simulation invariant violated at t={} s ====\n{what}\n",
            fmt_t(self.now)
        );
        let _ = writeln!(s, "---- scenario ----\n{}", self.header);
        let _ = writeln!(s, "---- last {} events ----", self.trace.len());
        for (t, note) in &self.trace {
            let _ = writeln!(s, "{:>12} {}", fmt_t(*t), self.fmt_note(note));
        }
        let _ = writeln!(s, "---- replay ----\n{}", self.opts.replay);
        s
    }

    pub(super) fn who(&self, node: usize, lan: usize) -> String {
        if self.setup.lans.len() > 1 {
            format!("r{node}@{}", lan_name(lan))
        } else {
            format!("r{node}")
        }
    }

    pub(super) fn fmt_note(&self, note: &Note) -> String {
        match note {
            Note::Send { node, lan, prio } => {
                format!("{} sends advert prio {prio}", self.who(*node, *lan))
            }
            Note::Lost {
                from,
                to,
                lan,
                prio,
            } => format!(
                "{} -> r{to}: advert prio {prio} LOST",
                self.who(*from, *lan)
            ),
            Note::Cut { from, to, lan } => format!(
                "{} -> r{to}: advert cut by the partition",
                self.who(*from, *lan)
            ),
            Note::Rx {
                from,
                to,
                lan,
                prio,
                drop,
            } => match drop {
                None => format!("{} -> r{to}: advert prio {prio}", self.who(*from, *lan)),
                Some(d) => format!(
                    "{} -> r{to}: advert prio {prio} dropped ({})",
                    self.who(*from, *lan),
                    d.reason().as_str()
                ),
            },
            Note::State(t) => format!(
                "{} {} -> {} ({}{}) [prio {}]",
                self.who(t.node, t.lan),
                t.from.as_str(),
                t.to.as_str(),
                t.reason.as_str(),
                match t.cause {
                    Cause::Internal => String::new(),
                    Cause::Advert {
                        from,
                        priority,
                        ours,
                    } => format!(": {from} advertised {priority}, ours {ours}"),
                },
                self.instance(t.node, t.lan).effective_priority()
            ),
            Note::Prio {
                node,
                lan,
                from,
                to,
            } => format!(
                "{} effective priority {from} -> {to}",
                self.who(*node, *lan)
            ),
            Note::Text(s) => s.clone(),
        }
    }

    pub(super) fn note(&mut self, note: Note) {
        if self.opts.verbose {
            println!("{:>12} {}", fmt_t(self.now), self.fmt_note(&note));
        }
        if self.opts.trace_len == 0 {
            return;
        }
        if self.trace.len() == self.opts.trace_len {
            self.trace.pop_front();
        }
        self.trace.push_back((self.now, note));
    }
}
