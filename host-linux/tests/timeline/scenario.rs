//! A scenario file (`tests/timelines/NAME.scenario`): the LAN, the nodes, the
//! configuration templates and the steps. The format is in `docs/timelines.md`; this
//! module only reads it (no privileges needed, so a typo fails every run).

use std::collections::BTreeMap;

/// One scenario, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The advert interval in seconds: event times are compared to within half of it.
    pub advert: f64,
    /// Extra slack in advert intervals, and why (the scenario's own words).
    pub tolerance: Option<(u32, String)>,
    /// The hosts also get IPv6 addresses (`fd77::11`, `fd77::12`, ...).
    pub ipv6: bool,
    /// The hosts also get an `eth1` on a second LAN (10.78.0.0/24).
    pub second_lan: bool,
    /// An SMTP server (aiosmtpd) on host 2.
    pub smtp: bool,
    /// The nodes in host order (lb1 is host 0), each with its variables.
    pub nodes: Vec<(String, BTreeMap<String, String>)>,
    /// The configuration templates by name.
    pub confs: BTreeMap<String, String>,
    pub steps: Vec<Step>,
}

/// One step. Every step but `wait` and `until` starts a new section of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Starts the node's daemon with a configuration template.
    Start { node: String, conf: String },
    /// Writes another template over the node's configuration and sends SIGHUP.
    Reload { node: String, conf: String },
    /// SIGTERM, and waits for the exit.
    Stop { node: String },
    /// SIGKILL (a crash).
    Kill { node: String },
    /// `ip ARGS` in the node's namespace.
    Ip { node: String, args: Vec<String> },
    /// Creates (empty) a file in the scenario's directory.
    Touch { file: String },
    /// Removes a file of the scenario's directory.
    Rm { file: String },
    /// Writes a line to a file of the scenario's directory.
    Write { file: String, text: String },
    /// Sleeps.
    Wait { secs: f64 },
    /// Waits until the node's log says the instance entered the state (at most `secs`).
    Until {
        node: String,
        inst: String,
        state: String,
        secs: f64,
    },
}

impl Step {
    /// Whether the step begins a new section (it acts) rather than waits.
    pub fn acts(&self) -> bool {
        !matches!(self, Step::Wait { .. } | Step::Until { .. })
    }

    /// The step as written, for headings.
    pub fn describe(&self) -> String {
        match self {
            Step::Start { node, conf } => format!("start {node} {conf}"),
            Step::Reload { node, conf } => format!("reload {node} {conf}"),
            Step::Stop { node } => format!("stop {node}"),
            Step::Kill { node } => format!("kill {node}"),
            Step::Ip { node, args } => format!("ip {node} {}", args.join(" ")),
            Step::Touch { file } => format!("touch {file}"),
            Step::Rm { file } => format!("rm {file}"),
            Step::Write { file, text } => format!("write {file} {text}"),
            Step::Wait { secs } => format!("wait {secs}"),
            Step::Until {
                node,
                inst,
                state,
                secs,
            } => format!("until {node} {inst} {state} {secs}"),
        }
    }
}

/// How long one scenario may wait in all (`wait` and `until` steps): keeps the suite
/// bounded.
pub const MAX_WAIT_SECS: f64 = 90.0;

fn seconds(word: &str, what: &str) -> Result<f64, String> {
    let v: f64 = word
        .parse()
        .map_err(|_| format!("{what}: `{word}` is not a number of seconds"))?;
    if !(v > 0.0 && v <= MAX_WAIT_SECS) {
        return Err(format!(
            "{what}: {v} s is out of range (0, {MAX_WAIT_SECS}]"
        ));
    }
    Ok(v)
}

/// A file name of the scenario's directory: no path, nothing odd.
fn file_name(word: &str) -> Result<String, String> {
    let ok = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !word.starts_with('.');
    if ok {
        Ok(word.to_owned())
    } else {
        Err(format!("`{word}` is not a plain file name"))
    }
}

/// Reads a scenario; the error names the line.
pub fn parse(text: &str) -> Result<Scenario, String> {
    let mut s = Scenario {
        advert: 0.0,
        tolerance: None,
        ipv6: false,
        second_lan: false,
        smtp: false,
        nodes: Vec::new(),
        confs: BTreeMap::new(),
        steps: Vec::new(),
    };
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let at = |e: String| format!("line {}: {e}", i + 1);
        let line = raw.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let node = |w: Option<&&str>| -> Result<String, String> {
            let n = w.ok_or("a node is missing")?;
            if s.nodes.iter().any(|(name, _)| name == n) {
                Ok((*n).to_owned())
            } else {
                Err(format!("`{n}` is no node (declare it with `node`)"))
            }
        };
        let arity = |n: usize| -> Result<(), String> {
            if words.len() == n {
                Ok(())
            } else {
                Err(format!("`{}` takes {} argument(s)", words[0], n - 1))
            }
        };
        let step = match words[0] {
            "advert" => {
                arity(2).map_err(at)?;
                s.advert = seconds(words[1], "advert").map_err(at)?;
                continue;
            }
            "tolerance" => {
                let n: u32 = words
                    .get(1)
                    .and_then(|w| w.parse().ok())
                    .filter(|n| (1..=3).contains(n))
                    .ok_or_else(|| at("tolerance takes 1 to 3 advert intervals".into()))?;
                let why = words[2..].join(" ");
                if why.is_empty() {
                    return Err(at("a tolerance says why (`tolerance 1 REASON`)".into()));
                }
                s.tolerance = Some((n, why));
                continue;
            }
            "lan" => {
                arity(2).map_err(at)?;
                match words[1] {
                    "ipv6" => s.ipv6 = true,
                    "second" => s.second_lan = true,
                    w => return Err(at(format!("lan `{w}`: ipv6 or second"))),
                }
                continue;
            }
            "smtp" => {
                arity(1).map_err(at)?;
                s.smtp = true;
                continue;
            }
            "node" => {
                let name = words
                    .get(1)
                    .ok_or_else(|| at("a node needs a name".into()))?;
                file_name(name).map_err(at)?;
                if s.nodes.len() == 2 || s.nodes.iter().any(|(n, _)| n == name) {
                    return Err(at(format!("node `{name}`: two distinct nodes at most")));
                }
                let mut vars = BTreeMap::new();
                for w in &words[2..] {
                    let (k, v) = w
                        .split_once('=')
                        .filter(|(k, _)| !k.is_empty())
                        .ok_or_else(|| at(format!("`{w}` is not NAME=VALUE")))?;
                    vars.insert(k.to_owned(), v.to_owned());
                }
                s.nodes.push(((*name).to_owned(), vars));
                continue;
            }
            "conf" => {
                arity(2).map_err(at)?;
                let mut body = String::new();
                let mut closed = false;
                for (_, l) in lines.by_ref() {
                    if l.trim() == "end" {
                        closed = true;
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                if !closed {
                    return Err(at(format!("conf {}: no `end`", words[1])));
                }
                if s.confs.insert(words[1].to_owned(), body).is_some() {
                    return Err(at(format!("conf {} twice", words[1])));
                }
                continue;
            }
            "start" | "reload" => {
                arity(3).map_err(at)?;
                let node = node(words.get(1)).map_err(at)?;
                let conf = words[2].to_owned();
                if !s.confs.contains_key(&conf) {
                    return Err(at(format!("no conf `{conf}` above")));
                }
                if words[0] == "start" {
                    Step::Start { node, conf }
                } else {
                    Step::Reload { node, conf }
                }
            }
            "stop" | "kill" => {
                arity(2).map_err(at)?;
                let node = node(words.get(1)).map_err(at)?;
                if words[0] == "stop" {
                    Step::Stop { node }
                } else {
                    Step::Kill { node }
                }
            }
            "ip" => {
                let node = node(words.get(1)).map_err(at)?;
                if words.len() < 3 {
                    return Err(at("ip NODE ARGS...".into()));
                }
                Step::Ip {
                    node,
                    args: words[2..].iter().map(|w| (*w).to_owned()).collect(),
                }
            }
            "touch" | "rm" => {
                arity(2).map_err(at)?;
                let file = file_name(words[1]).map_err(at)?;
                if words[0] == "touch" {
                    Step::Touch { file }
                } else {
                    Step::Rm { file }
                }
            }
            "write" => {
                if words.len() < 3 {
                    return Err(at("write FILE TEXT".into()));
                }
                Step::Write {
                    file: file_name(words[1]).map_err(at)?,
                    text: words[2..].join(" "),
                }
            }
            "wait" => {
                arity(2).map_err(at)?;
                Step::Wait {
                    secs: seconds(words[1], "wait").map_err(at)?,
                }
            }
            "until" => {
                arity(5).map_err(at)?;
                Step::Until {
                    node: node(words.get(1)).map_err(at)?,
                    inst: words[2].to_owned(),
                    state: words[3].to_owned(),
                    secs: seconds(words[4], "until").map_err(at)?,
                }
            }
            w => return Err(at(format!("unknown word `{w}`"))),
        };
        s.steps.push(step);
    }
    if s.advert == 0.0 {
        return Err("no `advert SECONDS` line".into());
    }
    if s.nodes.is_empty() {
        return Err("no `node` line".into());
    }
    if !s.steps.first().is_some_and(Step::acts) {
        return Err("the first step must act (start a node), not wait".into());
    }
    if s.steps.last().is_some_and(Step::acts) {
        return Err("the last step must wait: what the last action causes takes time".into());
    }
    let waited: f64 = s
        .steps
        .iter()
        .map(|st| match st {
            Step::Wait { secs } | Step::Until { secs, .. } => *secs,
            _ => 0.0,
        })
        .sum();
    if waited > MAX_WAIT_SECS {
        return Err(format!(
            "the steps wait {waited} s in all, more than {MAX_WAIT_SECS} s"
        ));
    }
    Ok(s)
}

/// A template with `@NAME@` replaced from `vars`; an unknown `@NAME@` is an error.
pub fn expand(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('@') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if name.is_empty() || !after[name_len..].starts_with('@') {
            // A plain `@` (an e-mail address): kept.
            out.push('@');
            rest = after;
            continue;
        }
        let value = vars
            .get(name)
            .ok_or_else(|| format!("@{name}@ is not defined"))?;
        out.push_str(value);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
