//! A run's timeline, and two timelines compared and shown side by side.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Where an event was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// The node's generic `notify` script ran with these arguments.
    Notify,
    /// A line the node wrote to its notify FIFO.
    Fifo,
    /// A mail the SMTP server received (normalised).
    Mail,
}

impl Source {
    pub fn word(self) -> &'static str {
        match self {
            Source::Notify => "notify",
            Source::Fifo => "fifo",
            Source::Mail => "mail",
        }
    }

    /// Whether the order of the events matters. FIFO lines have one writer, the daemon,
    /// so their order is its order. Notify scripts run concurrently (keepalived starts a
    /// state's scripts together) and mails are sent concurrently, so the order in which
    /// they land is a race: they are compared sorted.
    fn ordered(self) -> bool {
        matches!(self, Source::Fifo)
    }
}

/// One event: who, where, when (seconds after its section began) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub node: String,
    pub source: Source,
    pub t: f64,
    pub text: String,
}

/// What one action led to: its events, and what the nodes had installed when the
/// section ended (addresses, routes and rules).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: String,
    pub events: Vec<Event>,
    /// Per node, the `ip` lines (sorted).
    pub snapshot: BTreeMap<String, Vec<String>>,
}

/// The timeline of one run: its sections in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub sections: Vec<Section>,
}

/// How close two events' times must be: half an advert interval (the times "rounded to
/// the advert interval") plus the scenario's tolerance in whole intervals.
#[derive(Debug, Clone, Copy)]
pub struct Slack {
    pub advert: f64,
    pub tolerance: u32,
}

impl Slack {
    fn allows(self, a: f64, b: f64) -> bool {
        (a - b).abs() <= self.advert * (0.5 + f64::from(self.tolerance)) + 1e-9
    }

    /// `t` rounded to the advert interval, as shown.
    fn show(self, t: f64) -> String {
        let r = (t / self.advert).round() * self.advert;
        let r = if r == 0.0 { 0.0 } else { r };
        format!("+{r:.1}s")
    }
}

/// A section's events of one node and source, in the order compared.
fn group<'a>(s: &'a Section, node: &str, source: Source) -> Vec<&'a Event> {
    let mut v: Vec<&Event> = s
        .events
        .iter()
        .filter(|e| e.node == node && e.source == source)
        .collect();
    if source.ordered() {
        v.sort_by(|a, b| a.t.total_cmp(&b.t));
    } else {
        v.sort_by(|a, b| a.text.cmp(&b.text).then(a.t.total_cmp(&b.t)));
    }
    v
}

fn keys(a: &Section, b: &Section) -> Vec<(String, Source)> {
    let mut k: Vec<(String, Source)> = a
        .events
        .iter()
        .chain(&b.events)
        .map(|e| (e.node.clone(), e.source))
        .collect();
    k.sort();
    k.dedup();
    k
}

/// Whether two timelines agree: the same sections; in each, per node and source the
/// same events (FIFO lines in the same order) at times within `slack`, and the same
/// snapshots.
pub fn agree(a: &Timeline, b: &Timeline, slack: Slack) -> bool {
    a.sections.len() == b.sections.len()
        && a.sections.iter().zip(&b.sections).all(|(x, y)| {
            x.snapshot == y.snapshot
                && keys(x, y).iter().all(|(node, source)| {
                    let (gx, gy) = (group(x, node, *source), group(y, node, *source));
                    gx.len() == gy.len()
                        && gx
                            .iter()
                            .zip(&gy)
                            .all(|(e, f)| e.text == f.text && slack.allows(e.t, f.t))
                })
        })
}

/// An event as a cell: a mail by its subject only, unless `whole` (it differs).
fn event_cell(e: Option<&&Event>, slack: Slack, whole: bool) -> String {
    e.map_or(String::new(), |e| {
        let text = match e.source {
            Source::Mail if !whole => e
                .text
                .split(" / ")
                .find(|l| l.starts_with("Subject: "))
                .unwrap_or(&e.text),
            _ => &e.text,
        };
        format!("{} {} {} {text}", slack.show(e.t), e.node, e.source.word())
    })
}

/// Both timelines side by side (`left` and `right` are the columns' names), one
/// section after the other; rows that differ start with `!`.
pub fn side_by_side(
    a: &Timeline,
    b: &Timeline,
    slack: Slack,
    (left, right): (&str, &str),
) -> String {
    let mut rows: Vec<(bool, String, String)> = Vec::new();
    let n = a.sections.len().max(b.sections.len());
    let empty = Section::default();
    for i in 0..n {
        let (x, y) = (
            a.sections.get(i).unwrap_or(&empty),
            b.sections.get(i).unwrap_or(&empty),
        );
        let title = if x.title == y.title || y.title.is_empty() {
            x.title.clone()
        } else {
            format!("{} / {}", x.title, y.title)
        };
        rows.push((false, format!("== {}. {title}", i + 1), String::new()));
        for (node, source) in keys(x, y) {
            let (gx, gy) = (group(x, &node, source), group(y, &node, source));
            for j in 0..gx.len().max(gy.len()) {
                let (e, f) = (gx.get(j), gy.get(j));
                let same = matches!((e, f), (Some(e), Some(f)) if e.text == f.text && slack.allows(e.t, f.t));
                rows.push((
                    !same,
                    event_cell(e, slack, !same),
                    event_cell(f, slack, !same),
                ));
            }
        }
        let nodes: Vec<&String> = {
            let mut v: Vec<&String> = x.snapshot.keys().chain(y.snapshot.keys()).collect();
            v.sort();
            v.dedup();
            v
        };
        for node in nodes {
            let none = Vec::new();
            let (sx, sy) = (
                x.snapshot.get(node).unwrap_or(&none),
                y.snapshot.get(node).unwrap_or(&none),
            );
            let differ = sx != sy;
            let mut all: Vec<&String> = sx.iter().chain(sy).collect();
            all.sort();
            all.dedup();
            for line in all {
                let cell = |s: &Vec<String>| {
                    if s.contains(line) {
                        format!("   {node} has {line}")
                    } else {
                        String::new()
                    }
                };
                rows.push((
                    differ && !(sx.contains(line) && sy.contains(line)),
                    cell(sx),
                    cell(sy),
                ));
            }
        }
    }
    let width = rows
        .iter()
        .map(|(_, l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(len_of(left), 100);
    let mut out = String::new();
    let _ = writeln!(out, "  {left:<width$} | {right}");
    for (differs, l, r) in rows {
        let mark = if differs { '!' } else { ' ' };
        if l.starts_with("== ") {
            let _ = writeln!(out, "  {l}");
        } else {
            let _ = writeln!(out, "{mark} {l:<width$} | {r}");
        }
    }
    out
}

fn len_of(s: &str) -> usize {
    s.chars().count()
}
