//! What instances and sync groups share: their `track_script` / `track_file` /
//! `track_process` / `track_interface` lists and their `notify*` scripts.

use super::super::model::{Command, TrackInterface, TrackRef};
use super::{Node, Parser};
use std::collections::HashSet;
use vigil_core::priority::Weight;

impl Parser<'_> {
    /// `weight W [reverse]` at `args[i..]`, for the range `-lim..=lim`.
    pub(super) fn weight_at(&mut self, n: &Node, i: usize, lim: i64, ctx: &str) -> Option<Weight> {
        let t = n.args.get(i + 1)?;
        let w = match t.word().unwrap_or("").parse::<i64>() {
            Ok(w) if (-lim..=lim).contains(&w) => w,
            _ => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{ctx}weight `{}` for {} must be between [-{lim}..{lim}] inclusive. Ignoring...",
                        t.word().unwrap_or(""),
                        n.name()
                    ),
                );
                return None;
            }
        };
        let reverse = match n.arg(i + 2) {
            None | Some("noreverse" | "no_reverse") => false,
            Some("reverse") => true,
            Some(o) => {
                self.d.warn(
                    &n.args[i + 2].loc,
                    format!(
                        "{ctx}unknown weight option `{o}` for {} - ignoring",
                        n.name()
                    ),
                );
                false
            }
        };
        Weight::new(w as i16, reverse)
    }

    /// Entries of `track_script` / `track_file` / `track_process` blocks.
    pub(super) fn track_refs(
        &mut self,
        n: &Node,
        lim: i64,
        ctx: &str,
        kind: &str,
    ) -> Vec<TrackRef> {
        let mut out: Vec<TrackRef> = Vec::new();
        let mut seen = HashSet::new();
        let Some(children) = self.block_of(n) else {
            return out;
        };
        for c in children {
            let name = c.name().to_string();
            let mut weight = None;
            match c.arg(0) {
                None => {}
                Some("weight") => {
                    if c.args.len() < 2 {
                        self.d
                            .warn(c.loc(), format!("{ctx}{kind} {name} weight missing"));
                    } else {
                        weight = self.weight_at(c, 0, lim, ctx);
                    }
                    self.extra(c, 3);
                }
                Some(o) => self.d.warn(
                    &c.args[0].loc,
                    format!("{ctx}unknown {kind} {name} option `{o}` - ignoring"),
                ),
            }
            self.no_block(c);
            if !seen.insert(name.clone()) {
                self.d
                    .warn(c.loc(), format!("{ctx}duplicate {kind} {name} - ignoring"));
                continue;
            }
            if !self.item(c.loc()) {
                break;
            }
            out.push(TrackRef {
                name,
                weight,
                loc: c.loc().clone(),
            });
        }
        out
    }

    pub(super) fn track_interfaces(&mut self, n: &Node, ctx: &str) -> Vec<TrackInterface> {
        let mut out: Vec<TrackInterface> = Vec::new();
        let mut seen = HashSet::new();
        let Some(children) = self.block_of(n) else {
            return out;
        };
        for c in children {
            let name = c.name().to_string();
            let mut weight = Weight::FAULT;
            match c.arg(0) {
                None => {}
                Some("weight") => {
                    weight = self.weight_at(c, 0, 253, ctx).unwrap_or(Weight::FAULT);
                    self.extra(c, 3);
                }
                Some(o) => self.d.warn(
                    &c.args[0].loc,
                    format!("{ctx}unknown track_interface {name} option `{o}` - ignoring"),
                ),
            }
            self.no_block(c);
            if !seen.insert(name.clone()) {
                self.d.warn(
                    c.loc(),
                    format!("{ctx}duplicate track_interface {name} - ignoring"),
                );
                continue;
            }
            if !self.item(c.loc()) {
                break;
            }
            out.push(TrackInterface {
                name,
                weight,
                loc: c.loc().clone(),
            });
        }
        out
    }

    /// A `notify*` keyword into its slot of the block's `Notify`, with keepalived's "already
    /// specified" rule.
    pub(super) fn notify(&mut self, slot: &mut Option<Command>, n: &Node, ctx: &str) {
        if slot.is_some() {
            self.d.warn(
                n.loc(),
                format!(
                    "{ctx}{} script already specified - ignoring {}",
                    n.name(),
                    n.raw_args()
                ),
            );
            return;
        }
        *slot = self.command(n, true);
    }
}
