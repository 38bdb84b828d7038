//! The tracker blocks: `vrrp_script`, `vrrp_track_process`, `track_file` (also
//! `vrrp_track_file`).

use super::super::keywords::{Keyword, Table};
use super::super::lexer::Token;
use super::super::model::{Command, ParamMatch, TrackFile, TrackProcess, VrrpScript};
use super::{Node, Parser};
use std::time::Duration;
use vigil_core::priority::Weight;

// ----- vrrp_script ----------------------------------------------------------------------

/// A `vrrp_script` being read.
pub(super) struct ScriptBlock {
    script: VrrpScript,
    /// `script`: required (the block is dropped without it).
    command: Option<Command>,
    /// `(NAME): ` before messages.
    ctx: String,
}

pub(super) static VRRP_SCRIPT: Table<ScriptBlock> = Table {
    place: "in vrrp_script",
    keywords: &[
        Keyword::read("script", |p, b, n| {
            // keepalived ignores an empty `script` line (and then misses the script).
            if !n.args.is_empty() {
                b.command = p.command(n, false);
            }
        }),
        Keyword::read("interval", |p, b, n| {
            if let Some(v) = p.script_secs(n, &b.ctx) {
                b.script.interval = Duration::from_secs(v);
            }
        }),
        Keyword::read("timeout", |p, b, n| {
            if let Some(v) = p.script_secs(n, &b.ctx) {
                b.script.timeout = Some(Duration::from_secs(v));
            }
        }),
        Keyword::read("weight", |p, b, n| {
            if p.need(n, 0).is_some() {
                if let Some(w) = p.weight_script(n, &b.script.name) {
                    b.script.weight = w;
                }
                p.extra(n, 2);
            }
        }),
        Keyword::read("rise", |p, b, n| {
            if let Some(v) = p.script_count(n, &b.ctx) {
                b.script.rise = v;
            }
        }),
        Keyword::read("fall", |p, b, n| {
            if let Some(v) = p.script_count(n, &b.ctx) {
                b.script.fall = v;
            }
        }),
        Keyword::read("user", |p, b, n| {
            b.script.user = p.user(n);
            b.script.user_at = Some(n.loc().clone());
        }),
        Keyword::read("init_fail", |p, b, n| {
            p.no_block(n);
            b.script.init_fail = true;
        }),
    ],
};

impl Parser<'_> {
    pub(super) fn vrrp_script(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.missing_name(n);
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut b = ScriptBlock {
            script: VrrpScript {
                name: name.clone(),
                loc: n.loc().clone(),
                end: n.end().clone(),
                command: Command {
                    text: String::new(),
                    argv: Vec::new(),
                    user: None,
                    loc: n.loc().clone(),
                },
                interval: Duration::from_secs(1),
                timeout: None,
                weight: Weight::FAULT,
                rise: 1,
                fall: 1,
                user: None,
                user_at: None,
                init_fail: false,
            },
            command: None,
            ctx: format!("({name}): "),
        };
        self.read_block(&VRRP_SCRIPT, &mut b, children, "vrrp_script");
        let ScriptBlock {
            mut script,
            command,
            ..
        } = b;
        match command {
            Some(cmd) => script.command = cmd,
            None => {
                self.d.warn(
                    n.end(),
                    format!("No script set for vrrp_script {name} - removing"),
                );
                return;
            }
        }
        if !self.define(n, "vrrp_script", &name)
            || !self.first_definition(n, "vrrp_script", &name, "vrrp_script")
        {
            return;
        }
        self.conf.scripts.push(script);
    }

    /// `interval` / `timeout`: whole seconds, 1..=4294 (0 becomes 1).
    fn script_secs(&mut self, n: &Node, ctx: &str) -> Option<u64> {
        let t = self.need(n, 0)?;
        let key = n.name();
        match t.word().unwrap_or("").parse::<u64>() {
            Ok(0) => {
                self.d.warn(
                    &t.loc,
                    format!("{ctx}vrrp script {key} must be greater than 0, setting to 1"),
                );
                Some(1)
            }
            Ok(v) if v <= 4294 => Some(v),
            _ => {
                self.d.warn(
                    &t.loc,
                    if key == "interval" {
                        format!(
                            "{ctx}vrrp script interval '{}' must be between 1 and 4294 - ignoring",
                            t.word().unwrap_or("")
                        )
                    } else {
                        format!(
                            "{ctx}vrrp script timeout '{}' invalid - ignoring",
                            t.word().unwrap_or("")
                        )
                    },
                );
                None
            }
        }
    }

    /// `rise` / `fall`: at least 1 (an invalid value is 1).
    fn script_count(&mut self, n: &Node, ctx: &str) -> Option<u32> {
        let t = self.need(n, 0)?;
        Some(match t.word().unwrap_or("").parse::<u32>() {
            Ok(v) if v >= 1 && v <= i32::MAX as u32 => v,
            _ => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{ctx}vrrp script {} value '{}' invalid, defaulting to 1",
                        n.name(),
                        t.word().unwrap_or("")
                    ),
                );
                1
            }
        })
    }

    /// `weight W [reverse]` of a vrrp_script: -253..=253.
    fn weight_script(&mut self, c: &Node, name: &str) -> Option<Weight> {
        let t = &c.args[0];
        let w = match t.word().unwrap_or("").parse::<i64>() {
            Ok(w) if (-253..=253).contains(&w) => w,
            _ => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "vrrp_script {name} weight {} must be in [-253, 253]",
                        t.word().unwrap_or("")
                    ),
                );
                return None;
            }
        };
        let reverse = match c.arg(1) {
            None => false,
            Some("reverse") => true,
            Some(o) => {
                self.d.warn(
                    &c.args[1].loc,
                    format!("vrrp_script {name} unknown weight option {o}"),
                );
                false
            }
        };
        Weight::new(w as i16, reverse)
    }
}

// ----- vrrp_track_process ---------------------------------------------------------------

pub(super) static VRRP_TRACK_PROCESS: Table<TrackProcess> = Table {
    place: "in vrrp_track_process",
    keywords: &[
        Keyword::read("process", process),
        Keyword::read("param_match", param_match),
        Keyword::read("full_command", |p, t, n| {
            p.no_block(n);
            t.full_command = true;
        }),
        Keyword::read("quorum", quorum),
        Keyword::read("quorum_max", quorum_max),
        Keyword::read("weight", |p, t, n| {
            p.no_block(n);
            let Some(w) = n.args.first() else {
                p.d.warn(
                    n.loc(),
                    format!(
                        "No weight specified for track process {} - ignoring",
                        t.name
                    ),
                );
                return;
            };
            // keepalived: any weight but 0 counts as already set.
            if t.weight.weight != 0 {
                p.d.warn(
                    n.loc(),
                    format!(
                        "Weight already set for track process {} - ignoring {}",
                        t.name,
                        w.word().unwrap_or("")
                    ),
                );
                return;
            }
            match w.word().unwrap_or("").parse::<i64>() {
                Ok(w) if (-254..=254).contains(&w) => {
                    let reverse = n.arg(1) == Some("reverse");
                    t.weight = Weight::new(w as i16, reverse).unwrap_or(Weight::FAULT);
                }
                _ => p.d.warn(
                    &w.loc,
                    format!(
                        "Weight ({}) for vrrp_track_process {} must be between [-254..254] inclusive. Ignoring...",
                        w.word().unwrap_or(""),
                        t.name
                    ),
                ),
            }
        }),
        Keyword::read("delay", |p, t, n| {
            if let Some(d) = p.process_delay(n, &t.name) {
                t.fork_delay = d;
                t.terminate_delay = d;
            }
        }),
        Keyword::read("fork_delay", |p, t, n| {
            if let Some(d) = p.process_delay(n, &t.name) {
                t.fork_delay = d;
            }
        }),
        Keyword::read("terminate_delay", |p, t, n| {
            if let Some(d) = p.process_delay(n, &t.name) {
                t.terminate_delay = d;
            }
        }),
    ],
};

impl Parser<'_> {
    pub(super) fn track_process(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.missing_name(n);
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut p = TrackProcess {
            name: name.clone(),
            loc: n.loc().clone(),
            process: String::new(),
            params: Vec::new(),
            param_match: None,
            full_command: false,
            quorum: 1,
            quorum_max: None,
            weight: Weight::FAULT,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        };
        self.read_block(&VRRP_TRACK_PROCESS, &mut p, children, "vrrp_track_process");
        // comm holds at most 15 characters and never a `/`: such a name only matches
        // the command line.
        if !p.full_command
            && !p.process.is_empty()
            && (p.process.len() > 15 || p.process.contains('/'))
        {
            self.d.note(
                n.loc(),
                format!(
                    "vrrp_track_process {name}: process `{}` is compared with the process name (at most 15 characters, no `/`), so it never matches; add `full_command` to compare it with the command line",
                    p.process
                ),
            );
        }
        if p.process.is_empty() {
            self.d.warn(
                n.end(),
                format!("track process '{name}' process name not specified"),
            );
            return;
        }
        if self.item(n.loc()) {
            self.trackers.insert(("vrrp_track_process", name));
            self.conf.track_processes.push(p);
        }
    }

    /// `delay` / `fork_delay` / `terminate_delay`: seconds with decimals, up to an hour.
    fn process_delay(&mut self, n: &Node, name: &str) -> Option<Duration> {
        let t = self.need(n, 0)?;
        let s = t.word().unwrap_or("");
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() && (0.000_001..=3600.0).contains(&v) => {
                Some(Duration::from_micros((v * 1e6).round() as u64))
            }
            _ => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{}delay ({s}) for vrrp_track_process {name} must be between [0.000001..3600] inclusive. Ignoring...",
                        n.name().strip_suffix("delay").unwrap_or("")
                    ),
                );
                None
            }
        }
    }
}

fn process(p: &mut Parser<'_>, t: &mut TrackProcess, n: &Node) {
    if p.need(n, 0).is_none() {
        return;
    }
    if !t.process.is_empty() {
        p.d.warn(
            n.loc(),
            format!(
                "Process already set for track process {} - ignoring {}",
                t.name,
                n.arg(0).unwrap_or("")
            ),
        );
        return;
    }
    let mut words = n.args.iter().filter_map(Token::word).map(str::to_string);
    t.process = words.next().unwrap_or_default();
    t.params = words.collect();
    // Parameters are matched, against the command line.
    if !t.params.is_empty() {
        t.param_match.get_or_insert(ParamMatch::Exact);
        t.full_command = true;
    }
}

fn param_match(p: &mut Parser<'_>, t: &mut TrackProcess, n: &Node) {
    p.no_block(n);
    let m = match n.arg(0) {
        None => ParamMatch::Exact,
        Some("initial") => ParamMatch::Initial,
        Some("partial") => ParamMatch::Partial,
        Some(o) => {
            p.d.warn(
                &n.args[0].loc,
                format!("Invalid param_match type {o} - ignoring"),
            );
            return;
        }
    };
    t.param_match = Some(m);
    t.full_command = true;
}

fn quorum(p: &mut Parser<'_>, t: &mut TrackProcess, n: &Node) {
    let Some(w) = p.need(n, 0) else { return };
    match w.word().unwrap_or("").parse::<u32>() {
        Ok(v) if (1..=65535).contains(&v) => {
            if t.quorum_max.is_some_and(|m| v > m) {
                p.d.warn(&w.loc, "Quorum is greater than quorum_max - ignoring");
            } else {
                t.quorum = v;
            }
        }
        _ => p.d.warn(
            &w.loc,
            format!(
                "Quorum ({}) for vrrp_track_process {} must be between [1..65535] inclusive. Ignoring...",
                w.word().unwrap_or(""),
                t.name
            ),
        ),
    }
}

fn quorum_max(p: &mut Parser<'_>, t: &mut TrackProcess, n: &Node) {
    let Some(w) = p.need(n, 0) else { return };
    match w.word().unwrap_or("").parse::<u32>() {
        Ok(v) if v <= 65535 => {
            // quorum_max 0 (nothing may run) is allowed while quorum is its default.
            if (v != 0 || t.quorum > 1) && v < t.quorum {
                p.d.warn(&w.loc, "quorum_max is less than quorum - ignoring");
            } else {
                t.quorum_max = Some(v);
                if v == 0 {
                    t.quorum = 0;
                } else if t.quorum == 0 {
                    t.quorum = 1;
                }
            }
        }
        _ => p.d.warn(
            &w.loc,
            format!(
                "quorum_max ({}) for vrrp_track_process {} must be between [0..65535] inclusive. Ignoring...",
                w.word().unwrap_or(""),
                t.name
            ),
        ),
    }
}

// ----- track_file -----------------------------------------------------------------------

pub(super) static TRACK_FILE: Table<TrackFile> = Table {
    place: "in track_file",
    keywords: &[
        Keyword::read("file", |p, f, n| {
            p.no_block(n);
            let Some(t) = n.args.first() else {
                p.d.warn(n.loc(), "track file file name missing");
                return;
            };
            let path = t.word().unwrap_or("");
            if f.file.is_empty() {
                f.file = path.to_string();
            } else {
                p.d.warn(
                    n.loc(),
                    format!(
                        "File already set for track file {} - ignoring {path}",
                        f.name
                    ),
                );
            }
        }),
        Keyword::read("weight", |p, f, n| {
            p.no_block(n);
            let Some(t) = n.args.first() else {
                p.d.warn(
                    n.loc(),
                    format!("No weight specified for track file {} - ignoring", f.name),
                );
                return;
            };
            let s = t.word().unwrap_or("");
            // keepalived: any weight but the default 1 counts as already set.
            if f.weight != 1 {
                p.d.warn(
                    n.loc(),
                    format!(
                        "Weight already set for track file {} - ignoring {s}",
                        f.name
                    ),
                );
                return;
            }
            match s.parse::<i32>() {
                Ok(w) if (-254..=254).contains(&w) => {
                    f.weight = w;
                    match n.arg(1) {
                        None | Some("noreverse") => f.reverse = false,
                        Some("reverse") => f.reverse = true,
                        Some(o) => p.d.warn(
                            &n.args[1].loc,
                            format!("track_file {} unknown weight option {o}", f.name),
                        ),
                    }
                }
                _ => p.d.warn(
                    &t.loc,
                    format!(
                        "Weight ({s}) for track_file {} must be between [-254..254] inclusive. Ignoring...",
                        f.name
                    ),
                ),
            }
        }),
        Keyword::read("init_file", init_file),
    ],
};

impl Parser<'_> {
    pub(super) fn track_file(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.missing_name(n);
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut f = TrackFile {
            name: name.clone(),
            loc: n.loc().clone(),
            file: String::new(),
            weight: 1,
            reverse: false,
            init_file: None,
        };
        self.read_block(&TRACK_FILE, &mut f, children, "track_file");
        if f.file.is_empty() {
            self.d.warn(
                n.end(),
                format!("No file set for track_file {name} - ignoring"),
            );
            return;
        }
        if self.item(n.loc()) {
            self.trackers.insert(("track_file", name));
            self.conf.track_files.push(f);
        }
    }
}

/// `init_file [VALUE] [overwrite]`.
fn init_file(p: &mut Parser<'_>, f: &mut TrackFile, n: &Node) {
    p.no_block(n);
    let name = &f.name;
    let (mut value, mut overwrite) = (0, false);
    for t in &n.args {
        let w = t.word().unwrap_or("");
        if w.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-') {
            value = match w.parse::<i32>() {
                Ok(v) => {
                    if !(-254..=254).contains(&v) {
                        p.d.warn(
                            &t.loc,
                            format!(
                                "Track file {name} init value {v} is outside sensible range [-254, 254]"
                            ),
                        );
                    }
                    v
                }
                Err(_) => {
                    p.d.warn(
                        &t.loc,
                        format!("Track file {name} init value {w} is invalid"),
                    );
                    0
                }
            };
        } else if w == "overwrite" {
            overwrite = true;
        } else {
            p.d.warn(&t.loc, format!("Unknown track file init option {w}"));
        }
    }
    f.init_file = Some((i64::from(value), overwrite));
}
