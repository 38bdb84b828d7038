//! From tokens to the typed model: first a tree of statements and blocks (brace matching,
//! with errors that name where an unclosed block opened), then each block read with its
//! keywords. keepalived's interaction rules between values come after, in `rules`.

use super::diag::{Diags, KaClass, Loc, Severity};
use super::keywords;
use super::lexer::{Tok, Token, split_command};
use super::model::*;
use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;
use vigil_core::machine::InitialState;
use vigil_core::priority::Weight;
use vigil_core::wire::{Family, Version};

/// A keyword line: the keyword, its arguments (the rest of the line) and its block.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub key: Token,
    pub args: Vec<Token>,
    pub block: Option<Block>,
}

#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub open: Loc,
    pub children: Vec<Node>,
}

impl Node {
    fn name(&self) -> &str {
        self.key.word().unwrap_or("")
    }
    fn loc(&self) -> &Loc {
        &self.key.loc
    }
    /// `keyword NAME` for messages.
    fn title(&self) -> String {
        match self.args.first().and_then(Token::word) {
            Some(a) => format!("{} {}", self.name(), a),
            None => self.name().to_string(),
        }
    }
    fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(Token::word)
    }
    /// The arguments as written on the line (for command lines), quotes included.
    fn raw_args(&self) -> String {
        match (self.args.first(), self.args.last()) {
            (Some(a), Some(b)) => a
                .line
                .get(a.span.start..b.span.end)
                .unwrap_or("")
                .to_string(),
            _ => String::new(),
        }
    }
    /// Every word of the node: key then arguments (value blocks list words).
    fn words(&self) -> impl Iterator<Item = &Token> {
        std::iter::once(&self.key).chain(self.args.iter())
    }
}

/// The most words and braces one top-level statement (a `vrrp_instance`, `global_defs`,
/// `virtual_server` block...) may hold; the rest of a larger one is skipped with an error.
/// Statements are parsed one at a time and dropped, so this bounds what a load holds as
/// tokens whatever the size of the file. keepalived has no such limit; real blocks hold
/// a few hundred words.
pub const MAX_STATEMENT_TOKENS: usize = 1 << 17;
/// The most text (its lines, and the words copied out of them) one top-level statement may
/// hold, for the same reason: 2^17 long words would otherwise be 250 MB.
pub const MAX_STATEMENT_TEXT: usize = 4 << 20;
/// How deep blocks may nest (keepalived's deepest, `virtual_server` / `real_server` /
/// `HTTP_GET` / `url`, is 4); a deeper block is skipped with an error.
pub const MAX_BLOCK_DEPTH: usize = 16;
/// The most list entries the parsed configuration may hold, all lists together:
/// addresses, unicast peers, tracked scripts / files / processes / interfaces, sync group
/// members, `track_file` and `vrrp_track_process` blocks, LVS blocks. Each costs 24 to
/// 200 bytes from as little as 2 bytes of text; past this the configuration is refused.
pub const MAX_LIST_ENTRIES: usize = 1 << 18;
/// The most `vrrp_instance`, `vrrp_script` and `vrrp_sync_group` blocks (together) one
/// configuration may define: each costs about 1 to 2.5 KB in the parsed configuration
/// (from as little as 60 bytes of text), and the daemon runs every instance.
pub const MAX_DEFINITIONS: usize = 16_384;

/// Builds the statement tree from tokens as they come, and hands over each top-level
/// statement once it is complete (it can take no more arguments nor a block). `}` without
/// an open block and blocks left open at the end of the file are errors.
#[derive(Debug)]
pub(crate) struct TreeBuilder {
    stack: Vec<Level>,
    /// The last statement can still take a block (`{` on its line or the next ones).
    can_open: bool,
    /// The last token was a word of the last statement's line: a word adds an argument.
    in_args: bool,
    /// Tokens taken into the top-level statement being built (inside its block).
    taken: usize,
    /// Bytes of text taken into it.
    text: usize,
    /// The next token is the first of its line.
    line_start: bool,
    /// That statement reached [`MAX_STATEMENT_TOKENS`]: its further words are dropped.
    full: bool,
    /// Braces open inside a skipped part (too deep, or after `full`).
    skip: usize,
}

/// One level of blocks: the nodes read so far and, for inner levels, the node that owns
/// it.
#[derive(Debug)]
struct Level {
    owner: Option<Node>,
    open: Loc,
    nodes: Vec<Node>,
}

impl TreeBuilder {
    pub(crate) fn new(file: &Loc) -> Self {
        TreeBuilder {
            stack: vec![Level {
                owner: None,
                open: Loc::new(file.file.clone(), 1, 1),
                nodes: Vec::new(),
            }],
            can_open: false,
            in_args: false,
            taken: 0,
            text: 0,
            line_start: true,
            full: false,
            skip: 0,
        }
    }

    /// Takes one token; top-level statements that are complete go to `ready`.
    pub(crate) fn push(&mut self, t: Token, diags: &mut Diags, ready: &mut Vec<Node>) {
        let word = matches!(t.tok, Tok::Word { .. });
        let counted = !matches!(t.tok, Tok::Eol);
        let cost = t.span.len() + if self.line_start { t.line.len() } else { 0 };
        self.line_start = matches!(t.tok, Tok::Eol);
        match t.tok {
            Tok::Eol => {}
            Tok::Eof => self.finish(&t.loc, diags),
            _ if self.skip > 0 => match t.tok {
                Tok::Open => self.skip += 1,
                Tok::Close => self.skip -= 1,
                _ => {}
            },
            Tok::Open if self.full => self.skip = 1,
            Tok::Word { .. } if self.full => {}
            Tok::Open if self.stack.len() > MAX_BLOCK_DEPTH => {
                diags.unsupported(
                    &t.loc,
                    format!("blocks nested deeper than {MAX_BLOCK_DEPTH}: this block is skipped"),
                );
                self.can_open = false;
                self.skip = 1;
            }
            Tok::Open => {
                let level = self
                    .stack
                    .last_mut()
                    .expect("the top level is never popped");
                let owner = if self.can_open {
                    level.nodes.pop()
                } else {
                    None
                };
                if owner.is_none() {
                    diags.error(
                        &t.loc,
                        "unexpected `{`: a block must follow a keyword (its contents are skipped)",
                    );
                }
                let open = t.loc.clone();
                let owner = owner.unwrap_or_else(|| Node {
                    key: Token {
                        tok: Tok::Word {
                            text: String::new(),
                            quoted: false,
                        },
                        ..t
                    },
                    args: Vec::new(),
                    block: None,
                });
                self.stack.push(Level {
                    owner: Some(owner),
                    open,
                    nodes: Vec::new(),
                });
                self.can_open = false;
            }
            Tok::Close => {
                if self.stack.len() > 1 {
                    self.close_level();
                } else {
                    diags.error(&t.loc, "unexpected `}`: no block is open here");
                }
                self.can_open = false;
            }
            Tok::Word { .. } => {
                let level = self.stack.last_mut().expect("never empty");
                match level.nodes.last_mut() {
                    Some(last) if self.in_args => last.args.push(t),
                    _ => level.nodes.push(Node {
                        key: t,
                        args: Vec::new(),
                        block: None,
                    }),
                }
                self.can_open = true;
            }
        }
        self.in_args = word;
        if counted && self.stack.len() > 1 && !self.full {
            self.taken += 1;
            self.text += cost;
            if self.taken > MAX_STATEMENT_TOKENS || self.text > MAX_STATEMENT_TEXT {
                let title = self.stack[1]
                    .owner
                    .as_ref()
                    .map(Node::title)
                    .unwrap_or_default();
                let at = self.stack[1].open.clone();
                diags.unsupported(
                    &at,
                    format!(
                        "the block `{title}` holds more than {MAX_STATEMENT_TOKENS} words and braces or {} MiB of text: vigild skips the rest of it",
                        MAX_STATEMENT_TEXT >> 20
                    ),
                );
                self.full = true;
            }
        }
        if self.stack.len() == 1 {
            // Back at the top: the next block is counted afresh.
            (self.taken, self.text, self.full) = (0, 0, false);
            let level = &mut self.stack[0];
            // The last statement may still take arguments or a block.
            let keep = usize::from(self.can_open && !level.nodes.is_empty());
            ready.extend(level.nodes.drain(..level.nodes.len() - keep));
        }
    }

    /// Closes the innermost block; its owner joins the enclosing level (an anonymous
    /// block, after an error, is dropped).
    fn close_level(&mut self) {
        let level = self.stack.pop().expect("checked");
        if let Some(mut owner) = level.owner {
            owner.block = Some(Block {
                open: level.open,
                children: level.nodes,
            });
            if !owner.name().is_empty() {
                self.stack.last_mut().expect("checked").nodes.push(owner);
            }
        }
    }

    /// The end of the main file: blocks still open are errors, and closed.
    fn finish(&mut self, eof: &Loc, diags: &mut Diags) {
        self.can_open = false;
        self.skip = 0;
        while self.stack.len() > 1 {
            let level = self.stack.last().expect("checked");
            let title = level.owner.as_ref().map(Node::title).unwrap_or_default();
            diags.error(
                eof,
                format!(
                    "end of file inside the block `{title}` opened at {}: missing `}}`",
                    level.open
                ),
            );
            self.close_level();
        }
    }
}

/// Reads statements as the lexer produces them: each top-level statement is parsed as
/// soon as it is complete, then dropped.
pub(crate) struct Reader<'d> {
    pub parser: Parser<'d>,
    tree: TreeBuilder,
    ready: Vec<Node>,
}

impl<'d> Reader<'d> {
    pub(crate) fn new(file: &Loc, d: &'d mut Diags) -> Self {
        Reader {
            parser: Parser::new(d),
            tree: TreeBuilder::new(file),
            ready: Vec::new(),
        }
    }
}

impl super::lexer::Sink for Reader<'_> {
    fn diags(&mut self) -> &mut Diags {
        &mut *self.parser.d
    }
    fn token(&mut self, t: Token) {
        self.tree.push(t, self.parser.d, &mut self.ready);
        for n in std::mem::take(&mut self.ready) {
            self.parser.top(std::slice::from_ref(&n));
        }
    }
}

pub(crate) struct Parser<'d> {
    pub d: &'d mut Diags,
    pub conf: KeepalivedConf,
    mail_warned: bool,
    /// Keywords given in global_defs.
    pub global_explicit: std::collections::BTreeSet<&'static str>,
    /// Names of the scripts, instances and sync groups defined so far, by kind (a
    /// duplicate is found in constant time, however many blocks there are).
    defined: HashSet<(&'static str, String)>,
    /// Blocks refused past [`MAX_DEFINITIONS`] (the first is reported).
    over_limit: usize,
    /// List entries kept so far (see [`MAX_LIST_ENTRIES`]).
    entries: usize,
}

impl<'d> Parser<'d> {
    pub(crate) fn new(d: &'d mut Diags) -> Self {
        Parser {
            d,
            conf: KeepalivedConf::default(),
            mail_warned: false,
            global_explicit: Default::default(),
            defined: HashSet::new(),
            over_limit: 0,
            entries: 0,
        }
    }

    pub(crate) fn top(&mut self, nodes: &[Node]) {
        for n in nodes {
            match n.name() {
                "global_defs" => {
                    if let Some(b) = self.block_of(n) {
                        self.global(b);
                    }
                }
                "vrrp_script" => self.vrrp_script(n),
                "vrrp_track_process" => self.track_process(n),
                "track_file" | "vrrp_track_file" => self.track_file(n),
                "vrrp_instance" => self.instance(n),
                "vrrp_sync_group" => self.sync_group(n),
                "virtual_server" | "virtual_server_group" => self.lvs(n, true),
                "real_server" => self.lvs(n, false),
                other if keywords::TOP_IGNORED.contains(&other) => self.ignored(n, "at top level"),
                _ => self.unknown(n, None),
            }
        }
    }

    // ----- helpers -------------------------------------------------------------------

    /// Whether one more list entry fits within [`MAX_LIST_ENTRIES`]; the first one past it
    /// is an error at `loc` (the configuration is refused).
    fn item(&mut self, loc: &Loc) -> bool {
        self.entries += 1;
        if self.entries == MAX_LIST_ENTRIES + 1 {
            self.d.unsupported(
                loc,
                format!(
                    "more than {MAX_LIST_ENTRIES} addresses, peers, tracked items, group members and LVS blocks: vigild refuses this configuration"
                ),
            );
        }
        self.entries <= MAX_LIST_ENTRIES
    }

    /// Whether one more definition fits within [`MAX_DEFINITIONS`]; the first one past it
    /// is an error (the configuration is refused), the others are only counted.
    fn define(&mut self, n: &Node, kind: &str, name: &str) -> bool {
        if self.defined.len() < MAX_DEFINITIONS {
            return true;
        }
        if self.over_limit == 0 {
            self.d.unsupported(
                n.loc(),
                format!(
                    "{kind} {name}: more than {MAX_DEFINITIONS} vrrp_instance, vrrp_script and vrrp_sync_group blocks: vigild refuses this configuration"
                ),
            );
        }
        self.over_limit += 1;
        false
    }

    fn block_of<'n>(&mut self, n: &'n Node) -> Option<&'n [Node]> {
        match &n.block {
            Some(b) => Some(&b.children),
            None => {
                self.d.error(
                    n.loc(),
                    format!("`{}` needs a block: expected `{{` after it", n.title()),
                );
                None
            }
        }
    }

    /// A keyword that takes no block got one: its contents are skipped.
    fn no_block(&mut self, n: &Node) {
        if let Some(b) = &n.block {
            self.d.warn(
                &b.open,
                format!(
                    "unexpected `{{` after `{}`: the block is skipped",
                    n.title()
                ),
            );
        }
    }

    fn unknown(&mut self, n: &Node, inside: Option<&str>) {
        let name = n.name();
        if let Some(parent) = inside
            && keywords::TOP_LEVEL.contains(&name)
        {
            self.d.error(
                n.loc(),
                format!(
                    "`{name}` is a top-level block but appears inside `{parent}`: is a `}}` missing before this line?"
                ),
            );
            return;
        }
        let skipped = if n.block.is_some() {
            " and its block"
        } else {
            ""
        };
        self.d.warn(
            n.loc(),
            format!("unknown keyword `{name}`: vigild ignores it{skipped}"),
        );
    }

    /// A keepalived keyword vigild does not implement.
    fn ignored(&mut self, n: &Node, where_: &str) {
        let skipped = if n.block.is_some() {
            " and its block"
        } else {
            ""
        };
        self.d.note(
            n.loc(),
            format!(
                "`{}` {where_} is not implemented by vigild: ignored{skipped}",
                n.name()
            ),
        );
    }

    /// An option vigild reads but does not act on, at `loc`.
    fn not_implemented(&mut self, loc: &Loc, what: &str, why: &str) {
        self.d.note(
            loc,
            format!("{what} is not implemented by vigild: ignored{why}"),
        );
    }

    /// The argument at `i`, or an error (keepalived aborts reading: exit code 2).
    fn need<'n>(&mut self, n: &'n Node, i: usize) -> Option<&'n Token> {
        self.no_block(n);
        match n.args.get(i) {
            Some(t) => Some(t),
            None => {
                self.d.push(
                    Severity::Error,
                    KaClass::Abort,
                    n.loc(),
                    format!("`{}` is missing a value", n.name()),
                );
                None
            }
        }
    }

    /// Warns about words after the first `max` arguments.
    fn extra(&mut self, n: &Node, max: usize) {
        if let Some(t) = n.args.get(max) {
            self.d.note(
                &t.loc,
                format!(
                    "extra words after `{}` ignored: `{}`",
                    n.name(),
                    n.args[max..]
                        .iter()
                        .filter_map(Token::word)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            );
        }
    }

    /// An unsigned integer in `min..=max` (keepalived's `read_unsigned`). `error` selects
    /// an error instead of keepalived's warning.
    fn uint(&mut self, t: &Token, what: &str, min: u64, max: u64, error: bool) -> Option<u64> {
        let s = t.word().unwrap_or("");
        let msg = match s.trim().parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => return Some(v),
            Ok(_) => format!("{what} `{s}` is out of range: expected {min}..={max}"),
            Err(_) => format!("{what} `{s}` is not a number: expected {min}..={max}"),
        };
        let sev = if error {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.d.push(sev, KaClass::Config, &t.loc, msg);
        None
    }

    /// A signed integer in `min..=max`.
    fn int(&mut self, t: &Token, what: &str, min: i64, max: i64) -> Option<i64> {
        let s = t.word().unwrap_or("");
        let msg = match s.trim().parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => return Some(v),
            Ok(_) => format!("{what} `{s}` is out of range: expected {min}..={max}"),
            Err(_) => format!("{what} `{s}` is not a number: expected {min}..={max}"),
        };
        self.d.warn(&t.loc, msg);
        None
    }

    /// Seconds with decimals, as microseconds, in `min..=max` µs (keepalived's
    /// `read_timer` / `read_double`).
    fn secs(&mut self, t: &Token, what: &str, min: u64, max: u64, error: bool) -> Option<u64> {
        let s = t.word().unwrap_or("");
        let range = format!("{}..={} s", fmt_secs(min), fmt_secs(max));
        let msg = match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => {
                let us = (v * 1e6).round();
                if us >= min as f64 && us <= max as f64 {
                    return Some(us as u64);
                }
                format!("{what} `{s}` is out of range: expected {range}")
            }
            _ => format!("{what} `{s}` is not a number of seconds: expected {range}"),
        };
        let sev = if error {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.d.push(sev, KaClass::Config, &t.loc, msg);
        None
    }

    /// `<BOOL>`; no argument means true.
    fn boolean(&mut self, n: &Node, ctx: &str) -> Option<bool> {
        self.no_block(n);
        let Some(t) = n.args.first() else {
            return Some(true);
        };
        match t.word().unwrap_or("") {
            "true" | "on" | "yes" => Some(true),
            "false" | "off" | "no" => Some(false),
            other => {
                self.d.warn(
                    &t.loc,
                    format!(
                        "{ctx}invalid {} `{other}` specified: expected on|off|true|false|yes|no",
                        n.name()
                    ),
                );
                None
            }
        }
    }

    fn ip(&mut self, t: &Token, what: &str) -> Option<IpAddr> {
        let s = t.word().unwrap_or("");
        match s.parse::<IpAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.d
                    .error(&t.loc, format!("{what} `{s}` is not a valid IP address"));
                None
            }
        }
    }

    fn mail(&mut self, n: &Node) {
        if !self.mail_warned {
            self.mail_warned = true;
            self.d.note(
                n.loc(),
                format!(
                    "`{}`: mail alerts are not sent by vigild (notification_email, smtp_* are parsed and ignored)",
                    n.name()
                ),
            );
        }
    }

    /// A command line (`notify_*`, `script`): `"cmd args" [user [group]]` or `cmd`.
    fn command(&mut self, n: &Node, with_user: bool) -> Option<Command> {
        self.need(n, 0)?;
        let raw = n.raw_args();
        let words = match split_command(&raw) {
            Ok(w) => w,
            Err(q) => {
                self.d.warn(
                    &n.args[0].loc,
                    format!("string `{raw}`: missing terminating {q}"),
                );
                return None;
            }
        };
        let text = words.first().cloned().unwrap_or_default();
        let argv = match split_command(&text) {
            Ok(a) if !a.is_empty() => a,
            _ => {
                self.d
                    .warn(&n.args[0].loc, format!("`{}`: empty command", n.name()));
                return None;
            }
        };
        let mut user = None;
        if with_user {
            if let Some(u) = words.get(1) {
                user = Some(User {
                    user: u.clone(),
                    group: words.get(2).cloned(),
                });
            }
            if words.len() > 3 {
                self.d.note(
                    &n.args[0].loc,
                    format!(
                        "`{}`: words after `{} [user [group]]` ignored: quote the command line if it has arguments",
                        n.name(),
                        text
                    ),
                );
            }
        } else if words.len() > 1 {
            self.d.note(
                &n.args[0].loc,
                format!(
                    "`{}`: keepalived ignores the words after `{text}`: quote the whole command line to pass arguments",
                    n.name()
                ),
            );
        }
        Some(Command {
            text,
            argv,
            user,
            loc: n.args[0].loc.clone(),
        })
    }

    fn user(&mut self, n: &Node) -> Option<User> {
        let u = self.need(n, 0)?.word()?.to_string();
        self.extra(n, 2);
        Some(User {
            user: u,
            group: n.arg(1).map(str::to_string),
        })
    }

    /// `weight W [reverse]` at `args[i..]`, for the range `-lim..=lim`.
    fn weight_at(&mut self, n: &Node, i: usize, lim: i64, ctx: &str) -> Option<Weight> {
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
    fn track_refs(&mut self, n: &Node, lim: i64, ctx: &str, kind: &str) -> Vec<TrackRef> {
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

    fn track_interfaces(&mut self, n: &Node, ctx: &str) -> Vec<TrackInterface> {
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

    /// A notify keyword into `notify`, with keepalived's "already specified" rule.
    fn notify(&mut self, notify: &mut Notify, n: &Node, ctx: &str) -> bool {
        let slot = match n.name() {
            "notify_master" => &mut notify.master,
            "notify_backup" => &mut notify.backup,
            "notify_fault" => &mut notify.fault,
            "notify_stop" => &mut notify.stop,
            "notify" => &mut notify.any,
            _ => return false,
        };
        if slot.is_some() {
            self.d.warn(
                n.loc(),
                format!(
                    "{ctx}{} script already specified - ignoring {}",
                    n.name(),
                    n.raw_args()
                ),
            );
            return true;
        }
        let cmd = self.command(n, true);
        match n.name() {
            "notify_master" => notify.master = cmd,
            "notify_backup" => notify.backup = cmd,
            "notify_fault" => notify.fault = cmd,
            "notify_stop" => notify.stop = cmd,
            _ => notify.any = cmd,
        }
        true
    }

    // ----- global_defs ---------------------------------------------------------------

    fn global(&mut self, nodes: &[Node]) {
        for n in nodes {
            let key = n.name();
            if let Some(k) = keywords::GLOBAL_HANDLED.iter().find(|k| **k == key) {
                self.global_explicit.insert(k);
            }
            match key {
                "router_id" => match n.arg(0) {
                    Some(v) => {
                        self.conf.global.router_id = Some(v.to_string());
                        self.extra(n, 1);
                    }
                    None => self.d.warn(n.loc(), "routerid name missing - ignoring"),
                },
                "vrrp_mcast_group4" => {
                    if let Some(t) = self.need(n, 0) {
                        match t.word().unwrap_or("").parse::<std::net::Ipv4Addr>() {
                            Ok(a) if a.is_multicast() => self.conf.global.mcast_group4 = a,
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "vrrp_mcast_group4 [{}] is not multicast. Skipping",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(t) = self.need(n, 0) {
                        match t.word().unwrap_or("").parse::<std::net::Ipv6Addr>() {
                            Ok(a) if a.is_multicast() => {
                                if a.segments()[0] & 0x000f != 2 {
                                    self.d.warn(
                                        &t.loc,
                                        format!(
                                            "vrrp_mcast_group6 [{a}] should be link-local multicast."
                                        ),
                                    );
                                }
                                self.conf.global.mcast_group6 = a;
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "vrrp_mcast_group6 [{}] is not IPv6. Skipping",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "vrrp_version" => {
                    if let Some(t) = self.need(n, 0)
                        && let Some(v) = self.uint(t, "vrrp_version", 2, 3, true)
                    {
                        self.conf.global.version = if v == 2 { Version::V2 } else { Version::V3 };
                    }
                }
                "vrrp_strict" => {
                    self.no_block(n);
                    self.conf.global.strict = true;
                }
                "vrrp_check_unicast_src" => {
                    self.no_block(n);
                    self.conf.global.check_unicast_src = true;
                }
                "vrrp_skip_check_adv_addr" => {
                    if let Some(b) = self.boolean(n, "") {
                        self.conf.global.skip_check_adv_addr = b;
                    }
                }
                "vrrp_garp_interval" | "vrrp_gna_interval" => {
                    if let Some(t) = self.need(n, 0) {
                        let s = t.word().unwrap_or("");
                        match s.parse::<f64>() {
                            Ok(v) if v.is_finite() && (0.000_001..=4_294.967_295).contains(&v) => {
                                let d = Duration::from_micros((v * 1e6).round() as u64);
                                if key == "vrrp_garp_interval" {
                                    self.conf.global.garp_interval = d;
                                } else {
                                    self.conf.global.gna_interval = d;
                                }
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "{key} '{s}' is invalid: keepalived 2.2.7 wants 0.000001..=4294.967295 s (it refuses 0: omit the keyword for no delay)"
                                ),
                            ),
                        }
                    }
                }
                "vrrp_garp_master_delay" | "vrrp_garp_lower_prio_delay" => {
                    if let Some(t) = self.need(n, 0)
                        && let Some(v) = self.uint(t, key, 0, u32::MAX as u64, false)
                    {
                        let d = Duration::from_secs(v);
                        if key == "vrrp_garp_master_delay" {
                            self.conf.global.garp_master_delay = d;
                        } else {
                            self.conf.global.garp_lower_prio_delay = Some(d);
                            self.not_implemented(
                                n.loc(),
                                "`vrrp_garp_lower_prio_delay`",
                                LOWER_PRIO_DELAY,
                            );
                        }
                    }
                }
                "vrrp_garp_master_repeat"
                | "vrrp_garp_master_refresh_repeat"
                | "vrrp_garp_lower_prio_repeat" => {
                    if let Some(t) = self.need(n, 0)
                        && let Some(mut v) = self.uint(t, key, 0, u32::MAX as u64, false)
                    {
                        if v == 0 && key != "vrrp_garp_lower_prio_repeat" {
                            self.d.warn(
                                &t.loc,
                                format!("{key} must be greater than 0, setting to 1"),
                            );
                            v = 1;
                        }
                        let v = v as u32;
                        let g = &mut self.conf.global;
                        match key {
                            "vrrp_garp_master_repeat" => g.garp_master_repeat = v,
                            "vrrp_garp_master_refresh_repeat" => g.garp_master_refresh_repeat = v,
                            _ => g.garp_lower_prio_repeat = Some(v),
                        }
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(t) = self.need(n, 0)
                        && let Some(v) = self.uint(t, key, 0, u32::MAX as u64, false)
                    {
                        self.conf.global.garp_master_refresh = Duration::from_secs(v);
                    }
                }
                "vrrp_min_garp" => {
                    if self.boolean(n, "") == Some(true) {
                        let g = &mut self.conf.global;
                        g.garp_master_repeat = 1;
                        g.garp_master_delay = Duration::ZERO;
                        g.garp_lower_prio_repeat = Some(1);
                        g.garp_lower_prio_delay = Some(Duration::ZERO);
                        g.garp_master_refresh_repeat = 1;
                    }
                }
                "vrrp_lower_prio_no_advert" => {
                    if let Some(b) = self.boolean(n, "") {
                        self.conf.global.lower_prio_no_advert = b;
                    }
                }
                "vrrp_higher_prio_send_advert" => {
                    if let Some(b) = self.boolean(n, "") {
                        self.conf.global.higher_prio_send_advert = b;
                    }
                }
                "vrrp_down_timer_adverts" => {
                    if let Some(t) = self.need(n, 0)
                        && let Some(v) = self.uint(t, key, 1, 100, false)
                    {
                        self.conf.global.down_timer_adverts = v as u8;
                    }
                }
                "script_user" if n.args.is_empty() => {
                    self.d
                        .warn(n.loc(), "script_user: no user given - ignoring");
                }
                "script_user" => {
                    if let Some(u) = self.user(n) {
                        self.conf.global.script_user = Some(u);
                    }
                }
                "enable_script_security" => {
                    self.no_block(n);
                    self.conf.global.enable_script_security = true;
                }
                "notification_email" => {
                    self.mail(n);
                    if let Some(children) = self.block_of(n) {
                        let words: Vec<String> = children
                            .iter()
                            .flat_map(|c| c.words().filter_map(Token::word))
                            .map(str::to_string)
                            .collect();
                        self.conf.global.mail.notification_email.extend(words);
                    }
                }
                "notification_email_from" => {
                    self.mail(n);
                    match n.arg(0) {
                        Some(v) => self.conf.global.mail.from = Some(v.to_string()),
                        None => self.d.warn(
                            n.loc(),
                            "notification_email_from no email address specified",
                        ),
                    }
                }
                "smtp_server" => {
                    self.mail(n);
                    if let Some(t) = self.need(n, 0) {
                        self.conf.global.mail.smtp_server = t.word().map(str::to_string);
                    }
                }
                "smtp_connect_timeout" => {
                    self.mail(n);
                    if let Some(t) = self.need(n, 0)
                        && let Some(v) = self.uint(t, key, 1, u32::MAX as u64, false)
                    {
                        self.conf.global.mail.smtp_connect_timeout = Some(v as u32);
                    }
                }
                k if keywords::GLOBAL_MAIL.contains(&k) => self.mail(n),
                k if keywords::GLOBAL_IGNORED.contains(&k) => self.ignored(n, "in global_defs"),
                _ => self.unknown(n, Some("global_defs")),
            }
        }
    }

    // ----- vrrp_script, vrrp_track_process, track_file -------------------------------

    fn vrrp_script(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.d
                .warn(n.loc(), "vrrp_script must have a name - skipping");
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let ctx = format!("({name}): ");
        let mut command = None;
        let mut s = VrrpScript {
            name: name.clone(),
            loc: n.loc().clone(),
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
            init_fail: false,
        };
        for c in children {
            let key = c.name();
            match key {
                // keepalived ignores an empty `script` line (and then misses the script).
                "script" if c.args.is_empty() => {}
                "script" => command = self.command(c, false),
                "interval" | "timeout" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<u64>() {
                            Ok(0) => {
                                self.d.warn(
                                    &t.loc,
                                    format!("{ctx}vrrp script {key} must be greater than 0, setting to 1"),
                                );
                                self.set_script_time(&mut s, key, 1);
                            }
                            Ok(v) if v <= 4294 => self.set_script_time(&mut s, key, v),
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "{ctx}vrrp script {key} '{}' must be between 1 and 4294 (whole seconds) - ignoring",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "weight" => {
                    if self.need(c, 0).is_some() {
                        if let Some(w) = self.weight_script(c, &name) {
                            s.weight = w;
                        }
                        self.extra(c, 2);
                    }
                }
                "rise" | "fall" => {
                    if let Some(t) = self.need(c, 0) {
                        let v = match t.word().unwrap_or("").parse::<u32>() {
                            Ok(v) if v >= 1 && v <= i32::MAX as u32 => v,
                            _ => {
                                self.d.warn(
                                    &t.loc,
                                    format!(
                                        "{ctx}vrrp script {key} value '{}' invalid, defaulting to 1",
                                        t.word().unwrap_or("")
                                    ),
                                );
                                1
                            }
                        };
                        if key == "rise" {
                            s.rise = v;
                        } else {
                            s.fall = v;
                        }
                    }
                }
                "user" => s.user = self.user(c),
                "init_fail" => {
                    self.no_block(c);
                    s.init_fail = true;
                }
                _ => self.unknown(c, Some("vrrp_script")),
            }
        }
        match command {
            Some(cmd) => s.command = cmd,
            None => {
                self.d.warn(
                    n.loc(),
                    format!("No script set for vrrp_script {name} - removing"),
                );
                return;
            }
        }
        if !self.define(n, "vrrp_script", &name) {
            return;
        }
        if !self.defined.insert(("vrrp_script", name.clone())) {
            self.d
                .error(n.loc(), format!("vrrp_script {name} already defined"));
            return;
        }
        self.conf.scripts.push(s);
    }

    fn set_script_time(&mut self, s: &mut VrrpScript, key: &str, secs: u64) {
        if key == "interval" {
            s.interval = Duration::from_secs(secs);
        } else {
            s.timeout = Some(Duration::from_secs(secs));
        }
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

    fn track_process(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.d
                .warn(n.loc(), "vrrp_track_process must have a name - skipping");
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
        for c in children {
            let key = c.name();
            match key {
                "process" => {
                    if self.need(c, 0).is_some() {
                        if !p.process.is_empty() {
                            self.d.warn(
                                c.loc(),
                                format!(
                                    "Process already set for track process {name} - ignoring {}",
                                    c.arg(0).unwrap_or("")
                                ),
                            );
                            continue;
                        }
                        let mut words = c.args.iter().filter_map(Token::word).map(str::to_string);
                        p.process = words.next().unwrap_or_default();
                        p.params = words.collect();
                        // Parameters are matched, against the command line.
                        if !p.params.is_empty() {
                            p.param_match.get_or_insert(ParamMatch::Exact);
                            p.full_command = true;
                        }
                    }
                }
                "param_match" => {
                    self.no_block(c);
                    let m = match c.arg(0) {
                        None => Some(ParamMatch::Exact),
                        Some("initial") => Some(ParamMatch::Initial),
                        Some("partial") => Some(ParamMatch::Partial),
                        Some(o) => {
                            self.d.warn(
                                &c.args[0].loc,
                                format!("Invalid param_match type {o} - ignoring"),
                            );
                            None
                        }
                    };
                    if m.is_some() {
                        p.param_match = m;
                        p.full_command = true;
                    }
                }
                "full_command" => {
                    self.no_block(c);
                    p.full_command = true;
                }
                "quorum" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<u32>() {
                            Ok(v) if (1..=65535).contains(&v) => {
                                if p.quorum_max.is_some_and(|m| v > m) {
                                    self.d
                                        .warn(&t.loc, "Quorum is greater than quorum_max - ignoring");
                                } else {
                                    p.quorum = v;
                                }
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "Quorum ({}) for vrrp_track_process {name} must be between [1..65535] inclusive. Ignoring...",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "quorum_max" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<u32>() {
                            Ok(v) if v <= 65535 => {
                                // quorum_max 0 (nothing may run) is allowed while quorum
                                // is its default.
                                if (v != 0 || p.quorum > 1) && v < p.quorum {
                                    self.d
                                        .warn(&t.loc, "quorum_max is less than quorum - ignoring");
                                } else {
                                    p.quorum_max = Some(v);
                                    if v == 0 {
                                        p.quorum = 0;
                                    } else if p.quorum == 0 {
                                        p.quorum = 1;
                                    }
                                }
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "quorum_max ({}) for vrrp_track_process {name} must be between [0..65535] inclusive. Ignoring...",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "weight" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<i64>() {
                            Ok(w) if (-254..=254).contains(&w) => {
                                let reverse = c.arg(1) == Some("reverse");
                                p.weight = Weight::new(w as i16, reverse).unwrap_or(Weight::FAULT);
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "Weight ({}) for vrrp_track_process {name} must be between [-254..254] inclusive. Ignoring...",
                                    t.word().unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                "delay" | "fork_delay" | "terminate_delay" => {
                    if let Some(t) = self.need(c, 0) {
                        let s = t.word().unwrap_or("");
                        match s.parse::<f64>() {
                            Ok(v) if v.is_finite() && (0.000_001..=3600.0).contains(&v) => {
                                let d = Duration::from_micros((v * 1e6).round() as u64);
                                if key != "terminate_delay" {
                                    p.fork_delay = d;
                                }
                                if key != "fork_delay" {
                                    p.terminate_delay = d;
                                }
                            }
                            _ => self.d.warn(
                                &t.loc,
                                format!(
                                    "{}delay ({s}) for vrrp_track_process {name} must be between [0.000001..3600] inclusive. Ignoring...",
                                    key.strip_suffix("delay").unwrap_or("")
                                ),
                            ),
                        }
                    }
                }
                _ => self.unknown(c, Some("vrrp_track_process")),
            }
        }
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
                n.loc(),
                format!("vrrp_track_process {name} has no process - removing"),
            );
            return;
        }
        if self.item(n.loc()) {
            self.conf.track_processes.push(p);
        }
    }

    fn track_file(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.d
                .warn(n.loc(), "track_file must have a name - skipping");
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
        for c in children {
            match c.name() {
                "file" => {
                    if let Some(t) = self.need(c, 0) {
                        f.file = t.word().unwrap_or("").to_string();
                    }
                }
                "weight" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(w) =
                            self.int(t, "track_file weight", -2_147_483_647, 2_147_483_647)
                    {
                        f.weight = w as i32;
                        f.reverse = c.arg(1) == Some("reverse");
                    }
                }
                "init_file" => {
                    self.no_block(c);
                    let (mut value, mut overwrite) = (0, false);
                    for t in &c.args {
                        let w = t.word().unwrap_or("");
                        if w.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-') {
                            value = match w.parse::<i32>() {
                                Ok(v) => {
                                    if !(-254..=254).contains(&v) {
                                        self.d.warn(
                                            &t.loc,
                                            format!("Track file {name} init value {v} is outside sensible range [-254, 254]"),
                                        );
                                    }
                                    v
                                }
                                Err(_) => {
                                    self.d.warn(
                                        &t.loc,
                                        format!("Track file {name} init value {w} is invalid"),
                                    );
                                    0
                                }
                            };
                        } else if w == "overwrite" {
                            overwrite = true;
                        } else {
                            self.d
                                .warn(&t.loc, format!("Unknown track file init option {w}"));
                        }
                    }
                    f.init_file = Some((i64::from(value), overwrite));
                }
                _ => self.unknown(c, Some("track_file")),
            }
        }
        if f.file.is_empty() {
            self.d
                .warn(n.loc(), format!("track_file {name} has no file - removing"));
            return;
        }
        if self.item(n.loc()) {
            self.conf.track_files.push(f);
        }
    }

    // ----- vrrp_instance --------------------------------------------------------------

    fn instance(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.d.warn(n.loc(), "vrrp_instance must have a name");
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        if !self.define(n, "vrrp_instance", &name) {
            return;
        }
        if !self.defined.insert(("vrrp_instance", name.clone())) {
            self.d
                .error(n.loc(), format!("vrrp instance {name} already defined"));
            return;
        }
        let ctx = format!("({name}) ");
        let mut inst = Instance::new(name.clone(), n.loc().clone());
        let mut family: Option<Family> = None;
        for c in children {
            let key = c.name();
            if let Some(k) = keywords::INSTANCE_HANDLED.iter().find(|k| **k == key) {
                inst.explicit.insert(k, c.loc().clone());
            }
            if self.notify(&mut inst.notify, c, &ctx) {
                continue;
            }
            match key {
                "state" => {
                    if let Some(t) = self.need(c, 0) {
                        let s = match t.word().unwrap_or("") {
                            "MASTER" => InitialState::Master,
                            "BACKUP" => InitialState::Backup,
                            other => {
                                self.d.warn(
                                    &t.loc,
                                    format!("{ctx}unknown state '{other}', defaulting to BACKUP"),
                                );
                                InitialState::Backup
                            }
                        };
                        inst.state_given = Some((s, t.loc.clone()));
                    }
                }
                "interface" => {
                    if let Some(t) = self.need(c, 0) {
                        let ifname = t.word().unwrap_or("");
                        if ifname == "lo" {
                            self.d.warn(
                                &t.loc,
                                format!("{ctx}cannot use a loopback interface ({ifname}) for vrrp - ignoring"),
                            );
                        } else {
                            inst.interface = Some(ifname.to_string());
                        }
                    }
                }
                "virtual_router_id" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(v) =
                            self.uint(t, &format!("{ctx}virtual_router_id"), 1, 255, true)
                    {
                        inst.vrid = v as u8;
                    }
                    self.extra(c, 1);
                }
                "priority" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(v) = self.uint(t, &format!("{ctx}priority"), 1, 255, true)
                    {
                        inst.priority = v as u8;
                        inst.priority_given = true;
                    }
                    self.extra(c, 1);
                }
                "advert_int" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(us) =
                            self.secs(t, &format!("{ctx}advert_int"), 10_000, 255_000_000, true)
                    {
                        inst.advert_micros = Some((us, t.loc.clone()));
                    }
                    self.extra(c, 1);
                }
                "version" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(v) = self.uint(t, &format!("{ctx}version"), 2, 3, true)
                    {
                        inst.version_given = Some(if v == 2 { Version::V2 } else { Version::V3 });
                    }
                }
                "nopreempt" => {
                    self.no_block(c);
                    inst.preempt = false;
                    inst.nopreempt_given = true;
                }
                "preempt" => {
                    self.no_block(c);
                    inst.preempt = true;
                    inst.nopreempt_given = false;
                }
                "preempt_delay" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(us) =
                            self.secs(t, &format!("{ctx}preempt_delay"), 0, 1_000_000_000, false)
                    {
                        inst.preempt_delay = Duration::from_micros(us);
                    }
                }
                "authentication" => self.authentication(&mut inst, c, &ctx),
                "virtual_ipaddress" => {
                    let vips = self.addresses(c, &ctx);
                    for v in vips {
                        let f = fam(&v.addr);
                        match family {
                            None => family = Some(f),
                            Some(x) if x != f => {
                                self.d.warn(
                                    &v.loc,
                                    format!(
                                        "{ctx}address family must match VRRP instance [{}] - ignoring (an address of the other family belongs in virtual_ipaddress_excluded)",
                                        v.addr
                                    ),
                                );
                                continue;
                            }
                            Some(_) => {}
                        }
                        inst.vips.push(v);
                    }
                }
                "virtual_ipaddress_excluded" => {
                    let vips = self.addresses(c, &ctx);
                    inst.excluded_vips.extend(vips);
                }
                "unicast_src_ip" => {
                    if let Some(t) = self.need(c, 0) {
                        inst.unicast_src_ip = self.ip(t, &format!("{ctx}unicast_src_ip"));
                    }
                }
                "mcast_src_ip" => {
                    if let Some(t) = self.need(c, 0) {
                        inst.mcast_src_ip = self.ip(t, &format!("{ctx}mcast_src_ip"));
                    }
                }
                "unicast_peer" => {
                    if let Some(children) = self.block_of(c) {
                        for p in children {
                            self.no_block(p);
                            let Some(addr) = self.ip(&p.key, &format!("{ctx}unicast_peer")) else {
                                continue;
                            };
                            let mut peer = UnicastPeer {
                                addr,
                                min_ttl: None,
                                max_ttl: None,
                                loc: p.loc().clone(),
                            };
                            let mut k = 0;
                            while k < p.args.len() {
                                match (p.arg(k), p.args.get(k + 1)) {
                                    (Some(opt @ ("min_ttl" | "max_ttl")), Some(v)) => {
                                        self.not_implemented(
                                            &p.args[k].loc,
                                            &format!("{ctx}`{opt}` of unicast peer {addr}"),
                                            " (vigild accepts only adverts that arrive with TTL / hop limit 255)",
                                        );
                                        if let Some(x) = self.uint(v, opt, 0, 255, false) {
                                            if opt == "min_ttl" {
                                                peer.min_ttl = Some(x as u8);
                                            } else {
                                                peer.max_ttl = Some(x as u8);
                                            }
                                        }
                                        k += 2;
                                    }
                                    (o, _) => {
                                        self.d.warn(
                                            &p.args[k].loc,
                                            format!(
                                                "{ctx}unknown unicast_peer option {}",
                                                o.unwrap_or("")
                                            ),
                                        );
                                        k += 1;
                                    }
                                }
                            }
                            if !self.item(p.loc()) {
                                break;
                            }
                            inst.unicast_peers.push(peer);
                        }
                    }
                }
                "mcast_dst_ip" => {
                    if let Some(t) = self.need(c, 0)
                        && let Some(a) = self.ip(t, &format!("{ctx}mcast_dst_ip"))
                    {
                        if a.is_multicast() {
                            inst.mcast_dst_ip = Some(a);
                        } else {
                            self.d.warn(
                                &t.loc,
                                format!("{ctx}mcast_dst_ip {a} not multicast. Skipping..."),
                            );
                        }
                    }
                }
                "track_interface" => {
                    let t = self.track_interfaces(c, &ctx);
                    inst.track_interfaces.extend(t);
                }
                "track_script" => {
                    let t = self.track_refs(c, 253, &ctx, "track_script");
                    inst.track_scripts.extend(t);
                }
                "track_file" => {
                    let t = self.track_refs(c, 254, &ctx, "track_file");
                    inst.track_files.extend(t);
                }
                "track_process" => {
                    let t = self.track_refs(c, 254, &ctx, "track_process");
                    inst.track_processes.extend(t);
                }
                "garp_master_delay" | "garp_lower_prio_delay" | "garp_master_refresh" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<u32>() {
                            Ok(v) => {
                                let d = Duration::from_secs(v.into());
                                match key {
                                    "garp_master_delay" => inst.garp.master_delay = d,
                                    "garp_lower_prio_delay" => {
                                        inst.garp.lower_prio_delay = d;
                                        self.not_implemented(
                                            c.loc(),
                                            &format!("{ctx}`garp_lower_prio_delay`"),
                                            LOWER_PRIO_DELAY,
                                        );
                                    }
                                    _ => inst.garp.master_refresh = d,
                                }
                            }
                            Err(_) => {
                                self.d.warn(
                                    &t.loc,
                                    format!(
                                        "{ctx}{key} '{}' invalid (whole seconds) - ignoring",
                                        t.word().unwrap_or("")
                                    ),
                                );
                                inst.explicit.remove(key);
                            }
                        }
                    }
                }
                "garp_master_repeat" | "garp_master_refresh_repeat" | "garp_lower_prio_repeat" => {
                    if let Some(t) = self.need(c, 0) {
                        match t.word().unwrap_or("").parse::<u32>() {
                            Ok(mut v) => {
                                if v == 0 && key != "garp_lower_prio_repeat" {
                                    self.d.warn(
                                        &t.loc,
                                        format!("{ctx}{key} must be greater than 0, setting to 1"),
                                    );
                                    v = 1;
                                }
                                match key {
                                    "garp_master_repeat" => inst.garp.master_repeat = v,
                                    "garp_master_refresh_repeat" => {
                                        inst.garp.master_refresh_repeat = v
                                    }
                                    _ => inst.garp.lower_prio_repeat = v,
                                }
                            }
                            Err(_) => {
                                self.d.warn(
                                    &t.loc,
                                    format!(
                                        "{ctx}{key} '{}' invalid - ignoring",
                                        t.word().unwrap_or("")
                                    ),
                                );
                                inst.explicit.remove(key);
                            }
                        }
                    }
                }
                "lower_prio_no_advert"
                | "higher_prio_send_advert"
                | "skip_check_adv_addr"
                | "strict_mode" => match self.boolean(c, &ctx) {
                    Some(b) => match key {
                        "lower_prio_no_advert" => inst.lower_prio_no_advert = b,
                        "higher_prio_send_advert" => inst.higher_prio_send_advert = b,
                        "skip_check_adv_addr" => inst.skip_check_adv_addr = b,
                        _ => inst.strict = b,
                    },
                    None => {
                        inst.explicit.remove(key);
                    }
                },
                "dont_track_primary" => {
                    self.no_block(c);
                    inst.dont_track_primary = true;
                }
                "check_unicast_src" => {
                    self.no_block(c);
                    inst.check_unicast_src = true;
                }
                "use_vmac" => {
                    self.no_block(c);
                    let mut v = UseVmac::default();
                    for t in &c.args {
                        let a = t.word().unwrap_or("");
                        if a.contains(':') {
                            v.mac = Some(a.to_string());
                            self.not_implemented(
                                &t.loc,
                                &format!("{ctx}the MAC address `{a}` of `use_vmac`"),
                                " (the macvlan gets the virtual router MAC 00:00:5e:00:01:VRID, or 00:00:5e:00:02:VRID for IPv6)",
                            );
                        } else if v.name.is_none() {
                            v.name = Some(a.to_string());
                        }
                    }
                    inst.use_vmac = Some(v);
                }
                "down_timer_adverts" => {
                    if let Some(t) = self.need(c, 0) {
                        match self.uint(t, &format!("{ctx}down_timer_adverts"), 1, 100, false) {
                            Some(v) => inst.down_timer_adverts = v as u8,
                            None => {
                                inst.explicit.remove(key);
                            }
                        }
                    }
                }
                "accept" => inst.accept = Some(true),
                "no_accept" => {
                    inst.accept = Some(false);
                    self.not_implemented(
                        c.loc(),
                        &format!("{ctx}`no_accept`"),
                        " (vigild installs no firewall rules: a master always accepts traffic to its VIPs)",
                    );
                }
                k if keywords::INSTANCE_IGNORED.contains(&k) => self.ignored(c, "in vrrp_instance"),
                _ => self.unknown(c, Some(&format!("vrrp_instance {name}"))),
            }
        }
        // Lists are kept for the daemon's life: without their growth slack.
        inst.vips.shrink_to_fit();
        inst.excluded_vips.shrink_to_fit();
        inst.unicast_peers.shrink_to_fit();
        self.conf.instances.push(inst);
    }

    fn authentication(&mut self, inst: &mut Instance, n: &Node, ctx: &str) {
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut kind = None;
        let mut pass = None;
        for c in children {
            match c.name() {
                "auth_type" => {
                    if let Some(t) = self.need(c, 0) {
                        kind = match t.word().unwrap_or("") {
                            "PASS" => Some(AuthType::Pass),
                            "AH" => Some(AuthType::Ah),
                            o => {
                                self.d.warn(
                                    &t.loc,
                                    format!("{ctx}unknown authentication type '{o}'"),
                                );
                                None
                            }
                        };
                    }
                }
                "auth_pass" => {
                    if let Some(t) = self.need(c, 0) {
                        let mut p = t.word().unwrap_or("").to_string();
                        if p.len() > 8 {
                            self.d.warn(&t.loc, "Truncating auth_pass to 8 characters");
                            let mut cut = 8;
                            while !p.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            p.truncate(cut);
                        }
                        pass = Some(p);
                    }
                }
                _ => self.unknown(c, Some("authentication")),
            }
        }
        if let Some(kind) = kind {
            inst.auth_config = Some(AuthConfig {
                kind,
                pass,
                loc: n.loc().clone(),
            });
        }
    }

    /// `virtual_ipaddress` / `virtual_ipaddress_excluded` entries.
    fn addresses(&mut self, n: &Node, ctx: &str) -> Vec<VirtualAddress> {
        let mut out = Vec::new();
        let Some(children) = self.block_of(n) else {
            return out;
        };
        for c in children {
            self.no_block(c);
            let text = c.name();
            let (a, len) = match text.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (text, None),
            };
            let Ok(addr) = a.parse::<IpAddr>() else {
                self.d.error(
                    c.loc(),
                    format!("{ctx}invalid IP address `{text}` in {}", n.name()),
                );
                continue;
            };
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix_len = match len {
                None => max,
                Some(l) => match l.parse::<u8>() {
                    Ok(v) if v <= max => v,
                    _ => {
                        self.d.warn(
                            c.loc(),
                            format!(
                                "Invalid address prefix len {l} for address {text} - using {max}"
                            ),
                        );
                        max
                    }
                },
            };
            let mut v = VirtualAddress {
                addr,
                prefix_len,
                dev: None,
                label: None,
                scope: None,
                brd: None,
                peer: None,
                no_track: false,
                flags: Vec::new(),
                loc: c.loc().clone(),
            };
            let mut k = 0;
            while k < c.args.len() {
                let opt = c.arg(k).unwrap_or("");
                let val = c.args.get(k + 1);
                match opt {
                    "dev" | "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft" => {
                        let Some(val) = val else {
                            self.d.warn(
                                &c.args[k].loc,
                                format!("{ctx}`{opt}` is missing a value for address {text}"),
                            );
                            break;
                        };
                        let s = val.word().unwrap_or("").to_string();
                        match opt {
                            "dev" => v.dev = Some(s),
                            "label" => v.label = Some(s),
                            "scope" => {
                                if keywords::SCOPES.contains(&s.as_str()) || s.parse::<u8>().is_ok()
                                {
                                    v.scope = Some(s);
                                } else {
                                    self.d.warn(
                                        &val.loc,
                                        format!(
                                            "Invalid scope '{s}' specified for {text} - ignoring"
                                        ),
                                    );
                                }
                            }
                            "brd" | "broadcast" => match s.parse() {
                                Ok(b) if addr.is_ipv4() => v.brd = Some(b),
                                _ => self.d.warn(
                                    &val.loc,
                                    format!(
                                        "Invalid broadcast address '{s}' for {text} - ignoring"
                                    ),
                                ),
                            },
                            "peer" => match s.parse() {
                                Ok(p) => {
                                    v.peer = Some(p);
                                    self.not_implemented(
                                        &c.args[k].loc,
                                        &format!("{ctx}`peer` of address {text}"),
                                        " (the address is added without a peer)",
                                    );
                                }
                                Err(_) => self.d.warn(
                                    &val.loc,
                                    format!("Invalid peer address '{s}' for {text} - ignoring"),
                                ),
                            },
                            _ => {
                                self.not_implemented(
                                    &c.args[k].loc,
                                    &format!("{ctx}`preferred_lft` of address {text}"),
                                    "",
                                );
                                v.flags.push(format!("preferred_lft {s}"));
                            }
                        }
                        k += 2;
                    }
                    "no_track" => {
                        v.no_track = true;
                        self.not_implemented(
                            &c.args[k].loc,
                            &format!("{ctx}`no_track` of address {text}"),
                            " (vigild does not watch its VIPs once added)",
                        );
                        k += 1;
                    }
                    "home" | "-nodad" | "nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                    | "use_vmac" | "track_group" => {
                        v.flags.push(opt.to_string());
                        self.not_implemented(
                            &c.args[k].loc,
                            &format!("{ctx}`{opt}` of address {text}"),
                            "",
                        );
                        k += 1;
                    }
                    _ => {
                        self.d.warn(
                            &c.args[k].loc,
                            format!(
                                "Unknown configuration entry '{opt}' for ip address - ignoring"
                            ),
                        );
                        k += 1;
                    }
                }
            }
            if !self.item(c.loc()) {
                break;
            }
            out.push(v);
        }
        out
    }

    // ----- vrrp_sync_group ------------------------------------------------------------

    fn sync_group(&mut self, n: &Node) {
        let Some(name) = n.arg(0).map(str::to_string) else {
            self.d
                .warn(n.loc(), "vrrp_sync_group must have a name - skipping");
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let ctx = format!("({name}) ");
        let mut g = SyncGroup {
            name: name.clone(),
            loc: n.loc().clone(),
            members: Vec::new(),
            notify: Notify::default(),
            track_interfaces: Vec::new(),
            track_scripts: Vec::new(),
            track_files: Vec::new(),
            track_processes: Vec::new(),
            tracking_weight: false,
        };
        for c in children {
            if self.notify(&mut g.notify, c, &ctx) {
                continue;
            }
            match c.name() {
                "group" => {
                    if let Some(members) = self.block_of(c) {
                        for m in members {
                            self.no_block(m);
                            for w in m.words() {
                                if self.item(&w.loc) {
                                    g.members
                                        .push((w.word().unwrap_or("").to_string(), w.loc.clone()));
                                }
                            }
                        }
                    }
                }
                "track_interface" => g.track_interfaces = self.track_interfaces(c, &ctx),
                "track_script" => g.track_scripts = self.track_refs(c, 253, &ctx, "track_script"),
                "track_file" => g.track_files = self.track_refs(c, 254, &ctx, "track_file"),
                "track_process" => {
                    g.track_processes = self.track_refs(c, 254, &ctx, "track_process")
                }
                "sync_group_tracking_weight" => g.tracking_weight = true,
                k if keywords::SYNC_GROUP_IGNORED.contains(&k) => {
                    self.ignored(c, "in vrrp_sync_group")
                }
                _ => self.unknown(c, Some(&format!("vrrp_sync_group {name}"))),
            }
        }
        if !self.define(n, "vrrp_sync_group", &name) {
            return;
        }
        if !self.defined.insert(("vrrp_sync_group", name.clone())) {
            self.d
                .error(n.loc(), format!("vrrp_sync_group {name} already defined"));
            return;
        }
        self.conf.sync_groups.push(g);
    }

    // ----- LVS --------------------------------------------------------------------------

    fn lvs(&mut self, n: &Node, known: bool) {
        let msg = format!(
            "LVS {} is not handled by vigild; the VRRP part still runs",
            n.title()
        );
        if known {
            self.d.note(n.loc(), msg);
        } else {
            self.d.warn(
                n.loc(),
                format!("unknown keyword `{}` at top level: {msg}", n.name()),
            );
        }
        if self.item(n.loc()) {
            self.conf.lvs_blocks.push(n.loc().clone());
        }
        // keepalived's own complaint inside the checkers, which `-t` counts.
        if let Some(b) = &n.block {
            self.lvs_deprecations(&b.children);
        }
    }

    fn lvs_deprecations(&mut self, nodes: &[Node]) {
        for c in nodes {
            if c.name() == "nb_get_retry" {
                self.d
                    .warn(c.loc(), "nb_get_retry is deprecated - please use 'retry'");
            }
            if let Some(b) = &c.block {
                self.lvs_deprecations(&b.children);
            }
        }
    }
}

/// Why `garp_lower_prio_delay` does nothing in vigild.
const LOWER_PRIO_DELAY: &str = " (a master answering a lower-priority advert sends its gratuitous ARPs / NAs at once, with no second delayed burst)";

pub(crate) fn fam(a: &IpAddr) -> Family {
    match a {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

fn fmt_secs(us: u64) -> String {
    if us.is_multiple_of(1_000_000) {
        format!("{}", us / 1_000_000)
    } else {
        let s = format!("{}.{:06}", us / 1_000_000, us % 1_000_000);
        s.trim_end_matches('0').to_string()
    }
}
