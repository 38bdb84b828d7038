//! Carrying out a scenario action: resolving its target and applying it to the world.

use vigil_core::machine::State;

use super::Res;
use super::scenario::{Action, Target};
use super::trace::Note;
use super::world::Sim;

impl Sim {
    pub(super) fn resolve(&mut self, target: Target) -> Option<usize> {
        let n = self.nodes.len();
        match target {
            Target::Node(i) => Some(i),
            Target::Master => (0..n).find(|&i| self.state(i, 0) == Some(State::Master)),
            Target::AnyUp | Target::AnyDown => {
                let want = target == Target::AnyUp;
                let v: Vec<usize> = (0..n).filter(|&i| self.nodes[i].up == want).collect();
                (!v.is_empty()).then(|| v[self.rng.below(v.len() as u64) as usize])
            }
        }
    }

    pub(super) fn act_inner(&mut self, action: Action) -> Res {
        if let Some((_, why)) = &self.open_check {
            return Err(format!(
                "not converged within the slack window before the next action ({action}): {why}"
            ));
        }
        self.settle_pending()?;
        let quiet = matches!(action, Action::Check | Action::SoakBegin | Action::SoakEnd);
        let resolved = match action {
            Action::Start(t) | Action::Crash(t) | Action::Shutdown(t) => self.resolve(t),
            Action::Track { target, .. } => self.resolve(target),
            _ => None,
        };
        self.note(Note::Text(format!(
            "== {action}{}",
            resolved.map_or_else(String::new, |n| format!(" -> r{n}"))
        )));
        match action {
            Action::Start(_) => {
                if let Some(n) = resolved.filter(|&n| !self.nodes[n].up) {
                    self.start(n)?;
                }
            }
            Action::Crash(_) => {
                if let Some(n) = resolved.filter(|&n| self.nodes[n].up) {
                    let planned = self.plan_takeover(n, "crashed");
                    let node = &mut self.nodes[n];
                    node.up = false;
                    for m in &mut node.models {
                        m.holds_vips = false;
                    }
                    self.arm_takeover(planned, false);
                }
            }
            Action::Shutdown(_) => {
                if let Some(n) = resolved.filter(|&n| self.nodes[n].up) {
                    let planned = self.plan_takeover(n, "shut down");
                    self.resign_to.clear();
                    let now = self.instant();
                    self.nodes[n].router.stop_all(now);
                    self.after_input(n)?;
                    self.refresh_node(n)?;
                    self.nodes[n].up = false;
                    self.arm_takeover(planned, true);
                }
            }
            Action::Partition { lan, side_b } => {
                let rt = &mut self.lans[lan];
                for (n, s) in rt.side.iter_mut().enumerate() {
                    *s = u8::from(side_b & (1 << n) != 0);
                }
                rt.connected_since = self.now;
            }
            Action::Heal { lan } => {
                let rt = &mut self.lans[lan];
                rt.side.fill(0);
                rt.connected_since = self.now;
                for row in &mut rt.pair_lost {
                    row.fill(0);
                }
            }
            Action::Track { lan, status, .. } => {
                if let Some(n) = resolved {
                    self.nodes[n].track[lan] = status;
                    if self.nodes[n].up {
                        let planned = if status.is_fault() {
                            self.plan_takeover(n, "went to FAULT")
                        } else {
                            Vec::new()
                        };
                        self.resign_to.clear();
                        let now = self.instant();
                        self.nodes[n].router.set_tracking(lan, now, status);
                        self.after_input(n)?;
                        self.refresh_node(n)?;
                        self.arm_takeover(planned, true);
                    }
                }
            }
            Action::Check => match self.convergence() {
                Ok(()) => {
                    self.converged = true;
                    self.stats.checks += 1;
                }
                Err(why) if self.setup.slack() > 0 => {
                    self.note(Note::Text(format!("   (not yet converged: {why})")));
                    self.open_check = Some((self.now + self.setup.slack(), why));
                }
                Err(why) => return Err(format!("NOT CONVERGED: {why}")),
            },
            Action::SoakBegin => self.soak = true,
            Action::SoakEnd => self.soak = false,
        }
        if !quiet {
            self.converged = false;
        }
        self.monitor()
    }
}
