//! What instances and sync groups share: their `track_script` / `track_file` /
//! `track_process` / `track_interface` lists and their `notify*` scripts.

use super::super::model::{Command, TrackInterface, TrackRef};
use super::{Node, Parser};
use std::collections::HashSet;
use vigil_core::priority::Weight;

/// Which tracker a `track_*` list names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrackKind {
    Script,
    File,
    Process,
}

impl TrackKind {
    /// The block that defines it (the key its names are recorded under).
    pub(super) fn block(self) -> &'static str {
        match self {
            TrackKind::Script => "vrrp_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "vrrp_track_process",
        }
    }
    fn keyword(self) -> &'static str {
        match self {
            TrackKind::Script => "track_script",
            TrackKind::File => "track_file",
            TrackKind::Process => "track_process",
        }
    }
    /// keepalived's words for it in its messages.
    fn words(self) -> &'static str {
        match self {
            TrackKind::Script => "track script",
            TrackKind::File => "track file",
            TrackKind::Process => "track process",
        }
    }
    fn weight_option_words(self) -> &'static str {
        match self {
            TrackKind::File => "track file",
            _ => self.keyword(),
        }
    }
}

impl Parser<'_> {
    /// Entries of `track_script` / `track_file` / `track_process` blocks (`kind`), read as
    /// keepalived's `alloc_track_*`: a tracker not defined above this line, a duplicate, an
    /// unknown option or a `weight` without value drops the entry with keepalived's warning;
    /// a bad weight falls back to the tracker's own.
    pub(super) fn track_refs(
        &mut self,
        n: &Node,
        ctx: &str,
        kind: TrackKind,
        out: &mut Vec<TrackRef>,
    ) {
        let mut seen: HashSet<String> = out.iter().map(|t| t.name.clone()).collect();
        let Some(children) = self.block_of(n) else {
            return;
        };
        let what = kind.words();
        for c in children {
            self.no_block(c);
            let name = c.name().to_string();
            if !self.is_defined(kind.block(), &name) {
                self.d.warn(
                    c.loc(),
                    format!("{ctx}{what} {name} not found, ignoring..."),
                );
                continue;
            }
            if !seen.insert(name.clone()) {
                self.d.warn(
                    c.loc(),
                    format!("{ctx}duplicate {} {name} - ignoring", kind.keyword()),
                );
                continue;
            }
            let mut weight = None;
            if let Some(opt) = c.arg(0) {
                if opt != "weight" {
                    self.d.warn(
                        &c.args[0].loc,
                        format!("{ctx}unknown {what} option {opt} - ignoring"),
                    );
                    continue;
                }
                let Some(wt) = c.args.get(1) else {
                    self.d.warn(
                        &c.args[0].loc,
                        format!("{ctx}weight without value specified for {what} {name} - ignoring"),
                    );
                    continue;
                };
                let w = match wt.word().unwrap_or("").parse::<i16>() {
                    Ok(w) if (-254..=254).contains(&w) => Some(w),
                    _ => {
                        let msg = match kind {
                            TrackKind::Script => format!(
                                "{ctx}track script {name}: weight must be between [-253..253] inclusive, ignoring..."
                            ),
                            _ => format!(
                                "{ctx}weight for {what} {name} must be in [-254..254] inclusive. Ignoring..."
                            ),
                        };
                        self.d.warn(&wt.loc, msg);
                        None
                    }
                };
                let w = match w {
                    Some(w @ (-254 | 254)) if kind == TrackKind::Script => {
                        self.d.warn(
                            &wt.loc,
                            format!("{ctx}weight for {name} cannot be +/-254. Setting to +/-253"),
                        );
                        Some(w.signum() * 253)
                    }
                    w => w,
                };
                let mut reverse = false;
                match c.arg(2) {
                    None | Some("noreverse") => {}
                    Some("reverse") => reverse = true,
                    Some(o) => {
                        self.d.warn(
                            &c.args[2].loc,
                            format!(
                                "{ctx}unknown {} {name} weight option {o} - ignoring",
                                kind.weight_option_words()
                            ),
                        );
                        if kind == TrackKind::File {
                            continue;
                        }
                    }
                }
                weight = w.and_then(|w| Weight::new(w, reverse));
                self.extra(c, 3);
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
    }

    /// `track_interface` entries, read as keepalived's `alloc_track_if`.
    pub(super) fn track_interfaces(&mut self, n: &Node, ctx: &str, out: &mut Vec<TrackInterface>) {
        let mut seen: HashSet<String> = out.iter().map(|t| t.name.clone()).collect();
        let Some(children) = self.block_of(n) else {
            return;
        };
        for c in children {
            self.no_block(c);
            let name = c.name().to_string();
            if !seen.insert(name.clone()) {
                self.d.warn(
                    c.loc(),
                    format!("{ctx}duplicate track_interface {name} - ignoring"),
                );
                continue;
            }
            let mut weight = Weight::FAULT;
            if let Some(opt) = c.arg(0) {
                if opt != "weight" {
                    self.d.warn(
                        &c.args[0].loc,
                        format!("{ctx}unknown track_interface {name} option {opt} - ignoring"),
                    );
                    continue;
                }
                let Some(wt) = c.args.get(1) else {
                    self.d.warn(
                        &c.args[0].loc,
                        format!("{ctx}weight without value specified for track_interface {name} - ignoring"),
                    );
                    continue;
                };
                let w = match wt.word().unwrap_or("").parse::<i16>() {
                    Ok(w @ (-254 | 254)) => {
                        self.d.warn(
                            &wt.loc,
                            format!("{ctx}weight for {name} cannot be +/-254. Setting to +/-253"),
                        );
                        w.signum() * 253
                    }
                    Ok(w) if (-253..=253).contains(&w) => w,
                    _ => {
                        self.d.warn(
                            &wt.loc,
                            format!(
                                "{ctx}weight {} for {name} must be between [-253..253] inclusive. Ignoring...",
                                wt.word().unwrap_or("")
                            ),
                        );
                        0
                    }
                };
                // keepalived takes only `reverse` here (not `noreverse`).
                let mut reverse = false;
                match c.arg(2) {
                    None => {}
                    Some("reverse") => reverse = true,
                    Some(o) => self.d.warn(
                        &c.args[2].loc,
                        format!("{ctx}unknown track_interace {name} weight option {o} - ignoring"),
                    ),
                }
                weight = Weight::new(w, reverse).unwrap_or(Weight::FAULT);
                self.extra(c, 3);
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
    }

    /// A `notify*` keyword into its slot of the block's `Notify`, with keepalived's "already
    /// specified" rule.
    pub(super) fn notify(&mut self, slot: &mut Option<Command>, n: &Node, ctx: &str) {
        // keepalived reads the value first: without one it stops (exit 2), repeated or not.
        if self.need(n, 0).is_none() {
            return;
        }
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
