//! `tests/timelines/KNOWN-DIFFERENCES`: the scenarios, or single events of a scenario,
//! where vigild does not yet do what keepalived does. The list only shrinks: a listed
//! scenario that agrees, or a listed event that is no longer seen, fails the test.
//!
//! One entry a line, `#` starts a comment (say why):
//!
//! ```text
//! reload-routes                                            # the whole scenario
//! track-script: 1 vigild lb1 notify INSTANCE VI_1 FAULT 150  # one event
//! ```
//!
//! An event entry names the section (1 is the first action), the side that has the
//! event and the other does not (`vigild` or `keepalived`), the node, the source
//! (`notify`, `fifo`, `mail`) and the event's text. The event is taken out of that
//! side's section before the timelines are compared.

use super::compare::{Source, Timeline};
use crate::common::{Impl, entry_stem};

/// One event only one side has.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownEvent {
    pub scenario: String,
    /// 1-based.
    pub section: usize,
    pub side: Impl,
    pub node: String,
    pub source: Source,
    pub text: String,
    /// The line as written, for messages.
    pub line: String,
}

/// What a KNOWN-DIFFERENCES file lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Whole scenarios (names without `.scenario`).
    pub scenarios: Vec<String>,
    pub events: Vec<KnownEvent>,
}

pub fn parse_known(text: &str) -> Result<Known, String> {
    let mut k = Known::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((name, rest)) = line.split_once(':') else {
            k.scenarios.push(entry_stem(line).to_owned());
            continue;
        };
        let bad = |what: &str| format!("KNOWN-DIFFERENCES line {}: {what}: `{line}`", i + 1);
        let w: Vec<&str> = rest.split_whitespace().collect();
        if w.len() < 5 {
            return Err(bad("SCENARIO: SECTION SIDE NODE SOURCE TEXT"));
        }
        let section: usize = w[0]
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad("the section is a number from 1"))?;
        let side = match w[1] {
            "vigild" => Impl::Vigil,
            "keepalived" => Impl::Keepalived,
            _ => return Err(bad("the side is vigild or keepalived")),
        };
        let source = match w[3] {
            "notify" => Source::Notify,
            "fifo" => Source::Fifo,
            "mail" => Source::Mail,
            _ => return Err(bad("the source is notify, fifo or mail")),
        };
        k.events.push(KnownEvent {
            scenario: entry_stem(name.trim()).to_owned(),
            section,
            side,
            node: w[2].to_owned(),
            source,
            text: w[4..].join(" "),
            line: line.to_owned(),
        });
    }
    Ok(k)
}

/// Takes the known events of `scenario` out of `side`'s timeline (the first match in
/// the section each); returns the entries that matched nothing.
pub fn remove_known<'a>(
    known: &'a Known,
    scenario: &str,
    side: Impl,
    timeline: &mut Timeline,
) -> Vec<&'a KnownEvent> {
    let mut unmatched = Vec::new();
    for k in known
        .events
        .iter()
        .filter(|k| k.scenario == entry_stem(scenario) && k.side == side)
    {
        let found = timeline.sections.get_mut(k.section - 1).and_then(|sec| {
            let at = sec
                .events
                .iter()
                .position(|e| e.node == k.node && e.source == k.source && e.text == k.text)?;
            Some(sec.events.remove(at))
        });
        if found.is_none() {
            unmatched.push(k);
        }
    }
    unmatched
}
