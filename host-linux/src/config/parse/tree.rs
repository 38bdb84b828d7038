//! The statement tree, built the way keepalived 2.2.7 reads blocks (`lib/parser.c`:
//! `read_line`, `process_stream`, `alloc_value_block`, `skip_block`), and bounded per
//! top-level statement.
//!
//! keepalived reads lines, not a brace grammar: every `{` and `}` outside quotes is a line
//! of its own, and what a brace means depends on the keyword before it.
//! - A keyword that opens a block of keywords (`vrrp_instance`, `authentication`...)
//!   wants `{` as its next line ("Missing '{' at beginning of configuration block"
//!   otherwise, and the lines are read as its keywords all the same); the block ends at
//!   the first `}` line at its level.
//! - A keyword that reads values (`virtual_ipaddress`, `track_script`...) takes every
//!   line up to the next `}` as values, a nested `{` included.
//! - Any other keyword, known or not, is one line: a `{` after it is "Unexpected '{' -
//!   ignoring", so the lines of its "block" are read as keywords of the enclosing block
//!   and its `}` closes the enclosing block. At the top level a `}` is "Unknown keyword
//!   '}'".
//! - Blocks another keepalived process reads (`global_defs`, `virtual_server`...) are
//!   skipped by the VRRP process with their braces matched.
//!
//! keepalived reads the file once per process (parent, checker, VRRP), each with its own
//! keywords: what one reads as a block another skips with matched braces, so they can
//! disagree on what is at the top level, and each names what it reads there. vigild runs
//! what keepalived's VRRP process reads, and `global_defs` as its parent process reads
//! it: `TreeBuilder` runs the three readings side by side (`Grammar` says which
//! keywords open blocks for each; `Pass` says who read a statement). See
//! `docs/config-blocks.md`.

use super::super::diag::{Diags, Loc};
use super::super::lexer::{Tok, Token};
use std::collections::HashSet;

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
    /// The `}` that closed it (`None` at the end of the file): where keepalived's
    /// end-of-block handlers report.
    pub close: Option<Loc>,
}

impl Node {
    pub(crate) fn name(&self) -> &str {
        self.key.word().unwrap_or("")
    }
    /// Where its block ends (its `}`), else its own line.
    pub(crate) fn end(&self) -> &Loc {
        self.block
            .as_ref()
            .and_then(|b| b.close.as_ref())
            .unwrap_or(&self.key.loc)
    }
    pub(crate) fn loc(&self) -> &Loc {
        &self.key.loc
    }
    /// `keyword NAME` for messages.
    pub(crate) fn title(&self) -> String {
        match self.args.first().and_then(Token::word) {
            Some(a) => format!("{} {}", self.name(), a),
            None => self.name().to_string(),
        }
    }
    pub(crate) fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).and_then(Token::word)
    }
    /// The arguments as written on the line (for command lines), quotes included.
    pub(crate) fn raw_args(&self) -> String {
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
    pub(crate) fn words(&self) -> impl Iterator<Item = &Token> {
        std::iter::once(&self.key).chain(self.args.iter())
    }
    fn from_line(mut words: Vec<Token>) -> Node {
        let key = words.remove(0);
        Node {
            key,
            args: words,
            block: None,
        }
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
/// `HTTP_GET` / `url`, is 4); a deeper block is skipped with an error. Only blocks
/// skipped with matched braces can nest without bound: keepalived's own blocks of
/// keywords are at most 3 deep.
pub const MAX_BLOCK_DEPTH: usize = 16;

/// What keepalived 2.2.7's VRRP process does with the lines after a keyword, per block.
/// Keywords not listed are single lines (unknown ones included).
#[derive(Debug)]
pub(crate) struct Grammar {
    /// Keywords that open a block of keywords.
    blocks: &'static [(&'static str, &'static Grammar)],
    /// Keywords that read the lines up to the next `}` as values (`alloc_value_block`).
    values: &'static [&'static str],
    /// Keywords another process reads: a `{` block right after them is skipped, braces
    /// matched (keepalived's inactive keywords).
    skipped: &'static [&'static str],
}

const LINES: Grammar = Grammar {
    blocks: &[],
    values: &[],
    skipped: &[],
};

static INSTANCE: Grammar = Grammar {
    blocks: &[("authentication", &LINES)],
    values: &[
        "unicast_peer",
        "track_interface",
        "track_script",
        "track_file",
        "track_process",
        "track_bfd",
        "virtual_ipaddress",
        "virtual_ipaddress_excluded",
        "virtual_routes",
        "virtual_rules",
    ],
    skipped: &[],
};

static SYNC_GROUP: Grammar = Grammar {
    blocks: &[],
    values: &[
        "group",
        "track_interface",
        "track_script",
        "track_file",
        "track_process",
        "track_bfd",
    ],
    skipped: &[],
};

static TRACK_GROUP: Grammar = Grammar {
    blocks: &[],
    values: &["group"],
    skipped: &[],
};

static GARP_GROUP: Grammar = Grammar {
    blocks: &[],
    values: &["interfaces"],
    skipped: &[],
};

/// The top-level keywords of keepalived's other processes: the parent reads the global
/// ones, the checker the LVS ones.
const GLOBAL_ROOTS: [&str; 8] = [
    "global_defs",
    "linkbeat_use_polling",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "use_pid_dir",
    "instance",
    "child_wait_time",
];

/// The top level as keepalived's VRRP process reads it.
static VRRP_TOP: Grammar = Grammar {
    blocks: &[
        ("vrrp_instance", &INSTANCE),
        ("vrrp_sync_group", &SYNC_GROUP),
        ("vrrp_script", &LINES),
        ("vrrp_track_process", &LINES),
        ("track_file", &LINES),
        ("vrrp_track_file", &LINES),
        ("track_group", &TRACK_GROUP),
        ("garp_group", &GARP_GROUP),
        ("bfd_instance", &LINES),
    ],
    values: &[
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "linkbeat_interfaces",
        "interface_up_down_delays",
    ],
    skipped: &[
        GLOBAL_ROOTS[0],
        GLOBAL_ROOTS[1],
        GLOBAL_ROOTS[2],
        GLOBAL_ROOTS[3],
        GLOBAL_ROOTS[4],
        GLOBAL_ROOTS[5],
        GLOBAL_ROOTS[6],
        GLOBAL_ROOTS[7],
        "SSL",
        "virtual_server_group",
        "virtual_server",
    ],
};

/// An HTTP_GET / SSL_GET checker: its `url` blocks.
static HTTP_CHECK: Grammar = Grammar {
    blocks: &[("url", &LINES)],
    values: &[],
    skipped: &[],
};

/// An SMTP_CHECK: its deprecated `host` blocks (keepalived 2.2.7 still reads them).
static SMTP_CHECK: Grammar = Grammar {
    blocks: &[("host", &LINES)],
    values: &[],
    skipped: &[],
};

/// A `real_server` block: its checkers (keepalived's `install_checkers_keyword`).
static REAL_SERVER: Grammar = Grammar {
    blocks: &[
        ("HTTP_GET", &HTTP_CHECK),
        ("SSL_GET", &HTTP_CHECK),
        ("TCP_CHECK", &LINES),
        ("MISC_CHECK", &LINES),
        ("DNS_CHECK", &LINES),
        ("SMTP_CHECK", &SMTP_CHECK),
        ("UDP_CHECK", &LINES),
        ("PING_CHECK", &LINES),
        ("FILE_CHECK", &LINES),
        ("BFD_CHECK", &LINES),
    ],
    values: &[],
    skipped: &[],
};

static VIRTUAL_SERVER: Grammar = Grammar {
    blocks: &[("real_server", &REAL_SERVER)],
    values: &[],
    skipped: &[],
};

/// The top-level blocks only keepalived's checker process reads (the LVS half,
/// `parse::lvs`): every one is handed over from the checker's reading.
pub(crate) const LVS_ROOTS: [&str; 3] = ["virtual_server", "virtual_server_group", "SSL"];

/// The top level as keepalived's checker process reads it: its LVS blocks, the trackers
/// it shares with the VRRP process, every other block skipped.
static CHECKER_TOP: Grammar = Grammar {
    blocks: &[
        ("track_file", &LINES),
        ("vrrp_track_file", &LINES),
        ("bfd_instance", &LINES),
        ("virtual_server", &VIRTUAL_SERVER),
        ("SSL", &LINES),
    ],
    values: &["virtual_server_group"],
    skipped: &[
        GLOBAL_ROOTS[0],
        GLOBAL_ROOTS[1],
        GLOBAL_ROOTS[2],
        GLOBAL_ROOTS[3],
        GLOBAL_ROOTS[4],
        GLOBAL_ROOTS[5],
        GLOBAL_ROOTS[6],
        GLOBAL_ROOTS[7],
        "vrrp_instance",
        "vrrp_sync_group",
        "vrrp_script",
        "vrrp_track_process",
        "track_group",
        "garp_group",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "linkbeat_interfaces",
        "interface_up_down_delays",
    ],
};

static GLOBAL_DEFS: Grammar = Grammar {
    blocks: &[],
    values: &["notification_email"],
    skipped: &[],
};

/// The top level as keepalived's parent process reads it: `global_defs`, the global
/// root keywords (single lines), every other block skipped.
static PARENT_TOP: Grammar = Grammar {
    blocks: &[("global_defs", &GLOBAL_DEFS)],
    values: &[],
    skipped: &[
        "vrrp_instance",
        "vrrp_sync_group",
        "vrrp_script",
        "vrrp_track_process",
        "track_file",
        "vrrp_track_file",
        "track_group",
        "garp_group",
        "bfd_instance",
        "static_ipaddress",
        "static_routes",
        "static_rules",
        "linkbeat_interfaces",
        "interface_up_down_delays",
        "SSL",
        "virtual_server_group",
        "virtual_server",
    ],
};

enum Shape {
    Line,
    Block(&'static Grammar),
    Values,
    Skipped,
}

impl Grammar {
    fn shape(&self, key: &str) -> Shape {
        if let Some((_, g)) = self.blocks.iter().find(|(k, _)| *k == key) {
            Shape::Block(g)
        } else if self.values.contains(&key) {
            Shape::Values
        } else if self.skipped.contains(&key) {
            Shape::Skipped
        } else {
            Shape::Line
        }
    }
}

/// Which keepalived process reads a top-level statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// The VRRP process (and `global_defs`, which its parent reads at the same place).
    Vrrp,
    /// Only keepalived's parent process, at its top level, while the VRRP process reads
    /// the line inside a block (one without its `{`, say), or skips it as part of a
    /// `global_defs` block that the parent closed early (`in_global_defs`). The parent
    /// reads the global keywords there, skips the blocks of the other processes and
    /// reports anything else as an unknown keyword.
    ParentOnly { in_global_defs: bool },
    /// Only keepalived's checker process, at its top level, where neither the VRRP nor
    /// the parent process reads the line at theirs: it reports unknown keywords.
    CheckerOnly,
    /// An LVS block (`virtual_server`, `virtual_server_group`, `SSL`) as keepalived's
    /// checker process reads it (the others skip it).
    Lvs,
}

/// The block keepalived's parent process reads, and its VRRP process skips.
const GLOBAL_DEFS_KEY: &str = GLOBAL_ROOTS[0];

#[derive(Debug)]
enum Kind {
    Keywords(&'static Grammar),
    Values,
    /// Skipped with matched braces: kept as a tree (a note names what vigild ignores),
    /// or, for `discard`, not kept (another reading builds it).
    Skipped {
        discard: bool,
    },
}

/// One open block.
#[derive(Debug)]
struct Level {
    kind: Kind,
    owner: Option<Node>,
    open: Loc,
    nodes: Vec<Node>,
    /// keepalived's handler refused the owner: a `{` next skips the block.
    refused: bool,
    /// Its `}` closes the enclosing block too.
    closes_enclosing: bool,
}

/// One keepalived process reading blocks: levels, and the state of the line just read.
#[derive(Debug)]
struct Reading {
    stack: Vec<Level>,
    /// The innermost block was just opened by its keyword and wants `{` next.
    need_open: bool,
    /// The last line at this level was a skipped keyword: a `{` next starts its block.
    skip_next: bool,
    /// In a skipped block, the last line was words: a `{` next is their block.
    after_words: bool,
    /// Braces open inside a block skipped for its depth (not kept).
    deep: usize,
    /// Whether blocks skipped with matched braces are kept as a tree.
    keeps_skipped: bool,
    /// Which process this is, for messages.
    who: &'static str,
}

impl Reading {
    fn new(top: &'static Grammar, file: &Loc, who: &'static str) -> Self {
        Reading {
            stack: vec![Level {
                kind: Kind::Keywords(top),
                owner: None,
                open: Loc::new(file.file.clone(), 1, 1),
                nodes: Vec::new(),
                refused: false,
                closes_enclosing: false,
            }],
            need_open: false,
            skip_next: false,
            after_words: false,
            deep: 0,
            keeps_skipped: std::ptr::eq(top, &VRRP_TOP),
            who,
        }
    }

    fn innermost(&mut self) -> &mut Level {
        self.stack
            .last_mut()
            .expect("the top level is never popped")
    }

    /// What encloses the innermost level, for messages.
    fn enclosing(&self) -> String {
        match self.stack.last().and_then(|l| l.owner.as_ref()) {
            Some(o) => format!("`{}` (opened at line {})", o.title(), o.loc().line),
            None => "the top level".to_string(),
        }
    }

    /// A line of words (never empty).
    fn words(&mut self, words: Vec<Token>, names: &mut Names, d: &mut Diags) {
        let at = words[0].loc.clone();
        let node = Node::from_line(words);
        let need_open = std::mem::take(&mut self.need_open);
        self.skip_next = false;
        self.after_words = true;
        let level = self.innermost();
        let grammar = match level.kind {
            Kind::Skipped { discard } => {
                if !discard {
                    level.nodes.push(node);
                }
                return;
            }
            Kind::Values => {
                if need_open {
                    d.note(
                        &at,
                        format!(
                            "`{{` missing after `{}`: keepalived reads the lines up to the next `}}` as its values all the same",
                            level.owner.as_ref().map(Node::title).unwrap_or_default()
                        ),
                    );
                }
                level.nodes.push(node);
                return;
            }
            Kind::Keywords(g) => g,
        };
        if need_open {
            let title = level.owner.as_ref().map(Node::title).unwrap_or_default();
            d.warn(
                &at,
                format!(
                    "Missing '{{' at beginning of configuration block: `{title}` needs a `{{` line; keepalived reads the lines up to the next `}}` as its keywords all the same"
                ),
            );
        }
        match grammar.shape(node.name()) {
            Shape::Line => level.nodes.push(node),
            Shape::Skipped => {
                level.nodes.push(node);
                self.skip_next = true;
            }
            Shape::Block(g) => {
                // A keyword keepalived's handler refuses (`skip_block`: the parser says
                // why) has its `{` block skipped, braces matched; without a `{` its lines
                // are read as its keywords all the same.
                let refused = names.skips_block(&node);
                self.open(Kind::Keywords(g), node);
                self.innermost().refused = refused;
            }
            Shape::Values if repeated_group(grammar, &level.nodes, &node) => {
                // keepalived: "Group list already specified", and `skip_block`.
                level.nodes.push(node);
                self.skip_next = true;
            }
            Shape::Values => {
                // A virtual_server_group's name comes before its values.
                let first_value = usize::from(node.name() == "virtual_server_group");
                if let Some(extra) = node.args.get(first_value) {
                    d.warn(
                        &extra.loc,
                        format!(
                            "Block {} has extra parameters {} ...: its values go on the lines of its `{{ }}` block (keepalived ignores these and reads the lines up to the next `}}`)",
                            node.name(),
                            extra.word().unwrap_or("")
                        ),
                    );
                }
                self.open(Kind::Values, node);
            }
        }
    }

    fn open(&mut self, kind: Kind, owner: Node) {
        let open = owner.loc().clone();
        self.stack.push(Level {
            kind,
            owner: Some(owner),
            open,
            nodes: Vec::new(),
            refused: false,
            closes_enclosing: false,
        });
        self.need_open = true;
    }

    /// A `{` line. Returns whether it starts a block skipped with matched braces.
    fn open_brace(&mut self, t: &Token, d: &mut Diags) -> bool {
        let need_open = std::mem::take(&mut self.need_open);
        let skip_next = std::mem::take(&mut self.skip_next);
        let after_words = std::mem::take(&mut self.after_words);
        let level = self.innermost();
        match level.kind {
            Kind::Skipped { discard } => {
                let owner = if after_words { level.nodes.pop() } else { None };
                self.push_skipped(owner, t, discard);
                true
            }
            _ if need_open => {
                // Where the block opened, for messages about it.
                level.open = t.loc.clone();
                if level.refused {
                    level.kind = Kind::Skipped { discard: false };
                    return true;
                }
                false
            }
            Kind::Keywords(_) if skip_next => {
                let owner = level.nodes.pop();
                // Only the VRRP process's skipped blocks are kept; global_defs is the
                // parent's, the LVS blocks the checker's.
                let discard = !self.keeps_skipped
                    || owner.as_ref().is_some_and(|o| {
                        o.name() == GLOBAL_DEFS_KEY || LVS_ROOTS.contains(&o.name())
                    });
                // Inside a block, keepalived's skip ends by leaving the block too (the
                // `}` of the skipped block closes both).
                let inside = self.stack.len() > 1;
                self.push_skipped(owner, t, discard);
                self.innermost().closes_enclosing = inside;
                true
            }
            Kind::Keywords(_) => {
                let after = level
                    .nodes
                    .last()
                    .filter(|n| n.loc().line == t.loc.line && after_words)
                    .map(|n| format!(" after `{}`", n.title()))
                    .unwrap_or_default();
                let closes = if self.stack.len() > 1 {
                    format!(
                        "the lines after it belong to {} and the next `}}` closes it",
                        self.enclosing()
                    )
                } else {
                    "the lines after it are read at the top level, and the next `}` is an unknown keyword"
                        .to_string()
                };
                d.warn(
                    &t.loc,
                    format!(
                        "Unexpected '{{' - ignoring{after}: keepalived does not skip this block ({}): {closes}",
                        self.who
                    ),
                );
                false
            }
            Kind::Values => {
                // alloc_value_block passes a `{` line on as a value.
                let word = Token {
                    tok: Tok::Word {
                        text: "{".to_string(),
                        quoted: false,
                    },
                    ..t.clone()
                };
                level.nodes.push(Node::from_line(vec![word]));
                false
            }
        }
    }

    fn push_skipped(&mut self, owner: Option<Node>, t: &Token, discard: bool) {
        let owner = owner.unwrap_or_else(|| Node {
            key: Token {
                tok: Tok::Word {
                    text: String::new(),
                    quoted: false,
                },
                ..t.clone()
            },
            args: Vec::new(),
            block: None,
        });
        self.stack.push(Level {
            kind: Kind::Skipped { discard },
            owner: Some(owner),
            open: t.loc.clone(),
            nodes: Vec::new(),
            refused: false,
            closes_enclosing: false,
        });
    }

    /// A `}` line.
    fn close_brace(&mut self, t: &Token, extra: bool, d: &mut Diags) {
        let need_open = std::mem::take(&mut self.need_open);
        self.skip_next = false;
        self.after_words = false;
        if self.stack.len() == 1 {
            let why = if extra {
                "Extra '}' found: no block is open"
            } else {
                "Unknown keyword '}': the block it was meant to close was closed before"
            };
            d.warn(
                &t.loc,
                format!("unexpected `}}` at the top level ({}): {why}", self.who),
            );
            return;
        }
        if need_open && matches!(self.innermost().kind, Kind::Keywords(_)) {
            let title = self.enclosing();
            d.warn(
                &t.loc,
                format!("Missing '{{' at beginning of configuration block: {title} ends here"),
            );
        } else if extra {
            d.warn(
                &t.loc,
                format!("Extra '}}' found: it closes {}", self.enclosing()),
            );
        }
        let both = self.innermost().closes_enclosing;
        self.close_level(Some(&t.loc), d);
        if both && self.stack.len() > 1 {
            self.close_level(Some(&t.loc), d);
        }
    }

    /// Closes the innermost block, at `close` (its `}`); its owner joins the enclosing
    /// level (an anonymous block is dropped).
    fn close_level(&mut self, close: Option<&Loc>, d: &mut Diags) {
        let mut level = self.stack.pop().expect("checked");
        if level.refused && matches!(level.kind, Kind::Keywords(_)) {
            // keepalived refused the block's keyword but read its lines (no `{`), into
            // whatever it defined before: vigild does not guess, and says so. An LVS
            // block keeps them: the parser reads them for keepalived's complaints only.
            let title = level.owner.as_ref().map(Node::title).unwrap_or_default();
            let mut said = HashSet::new();
            refused_lines(&level.nodes, &title, &mut said, d);
            let lvs = level
                .owner
                .as_ref()
                .is_some_and(|o| matches!(o.name(), "virtual_server" | "real_server"));
            if !lvs {
                level.nodes.clear();
            }
        }
        if let Some(mut owner) = level.owner {
            owner.block = Some(Block {
                open: level.open,
                children: level.nodes,
                close: close.cloned(),
            });
            if !owner.name().is_empty() {
                self.innermost().nodes.push(owner);
            }
        }
        self.after_words = false;
    }

    /// Closes every open block (end of file, or a statement cut at a bound).
    /// Whether a line starting with `key` at the top level is a single line here.
    fn plain_at_top(&self, key: &str) -> bool {
        match (&self.stack[..], self.need_open) {
            (
                [
                    Level {
                        kind: Kind::Keywords(g),
                        ..
                    },
                ],
                false,
            ) => matches!(g.shape(key), Shape::Line),
            _ => false,
        }
    }

    /// A single line at the top level went by (see [`Reading::plain_at_top`]).
    fn line_went_by(&mut self) {
        self.skip_next = false;
        self.after_words = true;
    }

    /// A `{` for a reading other than the VRRP process's: past [`MAX_BLOCK_DEPTH`]
    /// skipped blocks are only counted (the VRRP reading reports it).
    fn open_brace_bounded(&mut self, t: &Token, d: &mut Diags) {
        let skips = self.skip_next || matches!(self.innermost().kind, Kind::Skipped { .. });
        if self.deep > 0 || skips && self.stack.len() > MAX_BLOCK_DEPTH {
            self.skip_next = false;
            self.after_words = false;
            self.deep += 1;
        } else {
            self.open_brace(t, d);
        }
    }

    fn close_brace_bounded(&mut self, t: &Token, extra: bool, d: &mut Diags) {
        if self.deep > 0 {
            self.deep -= 1;
        } else {
            self.close_brace(t, extra, d);
        }
    }

    fn close_all(&mut self, d: &mut Diags) {
        self.deep = 0;
        self.need_open = false;
        self.skip_next = false;
        while self.stack.len() > 1 {
            self.close_level(None, d);
        }
    }
}

/// Each line of a refused block read without its `{` (see `Reading::close_level`).
fn refused_lines(nodes: &[Node], title: &str, said: &mut HashSet<u32>, d: &mut Diags) {
    for n in nodes {
        if said.insert(n.loc().line) {
            d.warn(
                n.loc(),
                format!(
                    "keepalived refused `{title}` but, its `{{` missing, reads this line for the block defined before it: vigild ignores the line"
                ),
            );
        }
        if let Some(b) = &n.block {
            refused_lines(&b.children, title, said, d);
        }
    }
}

/// A second `group` of a sync group (or track group) whose first one listed members:
/// keepalived refuses it and skips its block with matched braces.
fn repeated_group(grammar: &Grammar, nodes: &[Node], node: &Node) -> bool {
    (std::ptr::eq(grammar, &SYNC_GROUP) || std::ptr::eq(grammar, &TRACK_GROUP))
        && node.name() == "group"
        && nodes.iter().any(|n| {
            n.name() == "group" && n.block.as_ref().is_some_and(|b| !b.children.is_empty())
        })
}

/// The names keepalived's handlers refuse, so that their blocks are skipped
/// (`skip_block`): a `vrrp_instance` or `vrrp_sync_group` without exactly one name, or
/// one already defined.
#[derive(Debug, Default)]
struct Names {
    defined: HashSet<(&'static str, String)>,
}

impl Names {
    fn skips_block(&mut self, n: &Node) -> bool {
        if let Some(refused) = super::lvs::refuses_block(n) {
            return refused;
        }
        let kind = match n.name() {
            "vrrp_instance" => "vrrp_instance",
            "vrrp_sync_group" => "vrrp_sync_group",
            "track_group" => "track_group",
            _ => return false,
        };
        if n.args.len() != 1 {
            return true;
        }
        // Bounded by the parser's definition limit, which refuses more anyway.
        if self.defined.len() > 2 * super::MAX_DEFINITIONS {
            return false;
        }
        let name = n.arg(0).unwrap_or("").to_string();
        !self.defined.insert((kind, name))
    }
}

/// Builds the statement tree from tokens as they come, the way keepalived reads them, and
/// hands over each top-level statement once it is complete.
///
/// Three readings run side by side: keepalived's VRRP process (what vigild runs), its
/// parent process (which reads `global_defs` and the global top-level keywords, and skips
/// every other block with matched braces) and its checker process, which reads the LVS
/// blocks (handed over as [`Pass::Lvs`]) and skips the rest as the parent does.
#[derive(Debug)]
pub(crate) struct TreeBuilder {
    vrrp: Reading,
    parent: Reading,
    checker: Reading,
    /// The words of the line being read (up to the end of the line or a brace).
    line: Vec<Token>,
    names: Names,
    /// Where the parent's top-level lines that the VRRP process read at its top level too
    /// begin (those are handed over once, from the VRRP reading).
    shared_lines: HashSet<Loc>,
    /// Where the parent's top-level lines that the VRRP process skipped as part of a
    /// `global_defs` block begin.
    in_global_defs: HashSet<Loc>,
    /// Where the checker's top-level lines that another reading read at its top level
    /// begin.
    checker_shared: HashSet<Loc>,
    /// `{` minus `}` read so far, as keepalived counts them ("Extra '}' found", "There
    /// are N missing '}'s").
    braces: usize,
    /// Where the outermost `{` still open was.
    first_open: Option<Loc>,
    /// Braces open when the statement being read began.
    statement_braces: usize,
    /// Tokens taken into the top-level statement being built (inside its block).
    taken: usize,
    /// Bytes of text taken into it.
    text: usize,
    /// The next token is the first of its line.
    line_start: bool,
    /// That statement reached a bound: the rest of it is skipped until the braces open
    /// when it began are all that is open again.
    draining: bool,
    /// Braces open inside a block skipped for its depth.
    deep: usize,
}

impl TreeBuilder {
    pub(crate) fn new(file: &Loc) -> Self {
        TreeBuilder {
            vrrp: Reading::new(&VRRP_TOP, file, "keepalived's VRRP process"),
            parent: Reading::new(&PARENT_TOP, file, "keepalived's parent process"),
            checker: Reading::new(&CHECKER_TOP, file, "keepalived's checker process"),
            line: Vec::new(),
            names: Names::default(),
            shared_lines: HashSet::new(),
            in_global_defs: HashSet::new(),
            checker_shared: HashSet::new(),
            braces: 0,
            first_open: None,
            statement_braces: 0,
            taken: 0,
            text: 0,
            line_start: true,
            draining: false,
            deep: 0,
        }
    }

    fn at_top(&self) -> bool {
        self.vrrp.stack.len() == 1 && self.parent.stack.len() == 1 && self.checker.stack.len() == 1
    }

    /// The checker's complaints only where neither other reading is at its top level, or
    /// inside its own LVS blocks (which only it reads).
    fn checker_heard(&self) -> bool {
        let in_lvs = self
            .checker
            .stack
            .get(1)
            .and_then(|l| l.owner.as_ref())
            .is_some_and(|o| LVS_ROOTS.contains(&o.name()));
        in_lvs
            || self.checker.stack.len() == 1
                && self.vrrp.stack.len() > 1
                && self.parent.stack.len() > 1
    }

    /// Takes one token; top-level statements that are complete go to `ready`.
    pub(crate) fn push(&mut self, t: Token, diags: &mut Diags, ready: &mut Vec<(Node, Pass)>) {
        let counted = !matches!(t.tok, Tok::Eol | Tok::Eof);
        let cost = t.span.len() + if self.line_start { t.line.len() } else { 0 };
        self.line_start = matches!(t.tok, Tok::Eol);
        let was_top = self.at_top();
        match &t.tok {
            Tok::Eof => {
                self.end_line(diags);
                self.finish(&t.loc, diags);
            }
            Tok::Eol => self.end_line(diags),
            _ if self.draining => self.drain(&t.tok),
            _ if self.deep > 0 => match t.tok {
                Tok::Open => {
                    self.braces += 1;
                    self.deep += 1;
                }
                Tok::Close => {
                    self.braces = self.braces.saturating_sub(1);
                    self.deep -= 1;
                }
                _ => {}
            },
            Tok::Word { .. } => self.line.push(t.clone()),
            Tok::Open => {
                self.end_line(diags);
                self.open_brace(&t, diags);
            }
            Tok::Close => {
                self.end_line(diags);
                self.close_brace(&t, diags);
            }
        }
        if was_top && !self.at_top() {
            self.statement_braces = self.braces.saturating_sub(1);
        }
        if counted && !self.at_top() && !self.draining {
            self.taken += 1;
            self.text += cost;
            if self.taken > MAX_STATEMENT_TOKENS || self.text > MAX_STATEMENT_TEXT {
                self.cut_statement(diags, ready);
            }
        }
        if self.at_top() && self.line.is_empty() {
            (self.taken, self.text) = (0, 0);
            // The last statement of each may still take a skipped block.
            let keep = usize::from(self.vrrp.skip_next);
            let keep_parent = usize::from(self.parent.skip_next);
            let keep_checker = usize::from(self.checker.skip_next);
            self.hand_over(ready, keep, keep_parent, keep_checker);
        }
    }

    /// Hands over the top-level statements read, but the last `keep` of the VRRP reading
    /// and `keep_parent` of the parent's.
    fn hand_over(
        &mut self,
        ready: &mut Vec<(Node, Pass)>,
        keep: usize,
        keep_parent: usize,
        keep_checker: usize,
    ) {
        let nodes = &mut self.vrrp.stack[0].nodes;
        let n = nodes.len().saturating_sub(keep);
        // global_defs is the parent's: the VRRP process skips it.
        ready.extend(
            nodes
                .drain(..n)
                .filter(|n| n.name() != GLOBAL_DEFS_KEY)
                .map(|n| (n, Pass::Vrrp)),
        );
        let nodes = &mut self.parent.stack[0].nodes;
        let n = nodes.len().saturating_sub(keep_parent);
        for node in nodes.drain(..n) {
            if node.name() == GLOBAL_DEFS_KEY {
                ready.push((node, Pass::Vrrp));
            } else if !self.shared_lines.contains(node.loc()) {
                let skipped = self.in_global_defs.contains(node.loc());
                ready.push((
                    node,
                    Pass::ParentOnly {
                        in_global_defs: skipped,
                    },
                ));
            }
        }
        let nodes = &mut self.checker.stack[0].nodes;
        let n = nodes.len().saturating_sub(keep_checker);
        for node in nodes.drain(..n) {
            if LVS_ROOTS.contains(&node.name()) {
                ready.push((node, Pass::Lvs));
            } else if !self.checker_shared.contains(node.loc()) {
                ready.push((node, Pass::CheckerOnly));
            }
        }
        if keep == 0 && keep_parent == 0 && keep_checker == 0 {
            self.shared_lines.clear();
            self.in_global_defs.clear();
            self.checker_shared.clear();
        }
    }

    fn end_line(&mut self, diags: &mut Diags) {
        if self.line.is_empty() {
            return;
        }
        let words = std::mem::take(&mut self.line);
        let at = words[0].loc.clone();
        let key = words[0].word().unwrap_or("");
        let vrrp_top = self.vrrp.stack.len() == 1;
        let parent_top = self.parent.stack.len() == 1;
        let checker_heard = self.checker_heard();
        if vrrp_top && !parent_top && key == GLOBAL_DEFS_KEY {
            diags.warn(
                &at,
                format!(
                    "`global_defs` here is read by no keepalived process: keepalived's VRRP process reads it at the top level (after a block it closed early, {}) and skips it, and its parent process skips it as part of that block",
                    self.first_open
                        .as_ref()
                        .map(|l| format!("opened at {l}"))
                        .unwrap_or_default()
                ),
            );
        }
        // A plain line read at the top level by every process (the common case): only
        // the VRRP reading keeps it, the others just note that a line went by.
        if self.at_top() && self.parent.plain_at_top(key) && self.checker.plain_at_top(key) {
            self.parent.line_went_by();
            self.checker.line_went_by();
            self.vrrp.words(words, &mut self.names, diags);
            return;
        }
        if self.checker.stack.len() == 1 && (vrrp_top || parent_top) {
            self.checker_shared.insert(at.clone());
        }
        if vrrp_top && parent_top {
            self.shared_lines.insert(at.clone());
        } else if parent_top && self.vrrp_skips_global_defs() {
            self.in_global_defs.insert(at.clone());
        }
        // The parent's complaints only where the VRRP process reads differently (the
        // same line at the top level of both gets the same complaint once).
        let mut quiet = Diags::default();
        let pd = if vrrp_top && parent_top {
            &mut quiet
        } else {
            &mut *diags
        };
        self.parent.words(words.clone(), &mut self.names, pd);
        let mut quiet = Diags::default();
        let cd = if checker_heard {
            &mut *diags
        } else {
            &mut quiet
        };
        self.checker.words(words.clone(), &mut self.names, cd);
        self.vrrp.words(words, &mut self.names, diags);
    }

    /// The VRRP process is skipping a top-level `global_defs` block.
    fn vrrp_skips_global_defs(&self) -> bool {
        self.vrrp
            .stack
            .get(1)
            .and_then(|l| l.owner.as_ref())
            .is_some_and(|o| o.name() == GLOBAL_DEFS_KEY)
    }

    fn open_brace(&mut self, t: &Token, diags: &mut Diags) {
        if self.braces == 0 {
            self.first_open = Some(t.loc.clone());
        }
        self.braces += 1;
        let (parent_heard, checker_heard) = (!self.at_top(), self.checker_heard());
        let mut quiet = Diags::default();
        let pd = if parent_heard {
            &mut *diags
        } else {
            &mut quiet
        };
        self.parent.open_brace_bounded(t, pd);
        let mut quiet = Diags::default();
        let cd = if checker_heard {
            &mut *diags
        } else {
            &mut quiet
        };
        self.checker.open_brace_bounded(t, cd);
        let skips =
            self.vrrp.skip_next || matches!(self.vrrp.innermost().kind, Kind::Skipped { .. });
        if skips && self.vrrp.stack.len() > MAX_BLOCK_DEPTH {
            diags.unsupported(
                &t.loc,
                format!("blocks nested deeper than {MAX_BLOCK_DEPTH}: this block is skipped"),
            );
            self.vrrp.skip_next = false;
            self.vrrp.after_words = false;
            self.deep = 1;
            self.parent.deep = 0;
            self.checker.deep = 0;
            return;
        }
        self.vrrp.open_brace(t, diags);
    }

    fn close_brace(&mut self, t: &Token, diags: &mut Diags) {
        let extra = self.braces == 0;
        self.braces = self.braces.saturating_sub(1);
        let (parent_heard, checker_heard) = (!self.at_top(), self.checker_heard());
        let mut quiet = Diags::default();
        let pd = if parent_heard {
            &mut *diags
        } else {
            &mut quiet
        };
        self.parent.close_brace_bounded(t, extra, pd);
        let mut quiet = Diags::default();
        let cd = if checker_heard {
            &mut *diags
        } else {
            &mut quiet
        };
        self.checker.close_brace_bounded(t, extra, cd);
        self.vrrp.close_brace(t, extra, diags);
    }

    fn drain(&mut self, tok: &Tok) {
        match tok {
            Tok::Open => self.braces += 1,
            Tok::Close => self.braces = self.braces.saturating_sub(1),
            _ => {}
        }
        if self.braces <= self.statement_braces {
            self.draining = false;
        }
    }

    /// The statement reached a bound: what was read of it is handed over, the rest is
    /// skipped up to the end of its block.
    fn cut_statement(&mut self, diags: &mut Diags, ready: &mut Vec<(Node, Pass)>) {
        let level = self.vrrp.stack.get(1).or_else(|| self.parent.stack.get(1));
        let title = level
            .and_then(|l| l.owner.as_ref())
            .map(Node::title)
            .unwrap_or_default();
        let at = level
            .map(|l| l.open.clone())
            .unwrap_or_else(|| self.vrrp.stack[0].open.clone());
        diags.unsupported(
            &at,
            format!(
                "the block `{title}` holds more than {MAX_STATEMENT_TOKENS} words and braces or {} MiB of text: vigild skips the rest of it",
                MAX_STATEMENT_TEXT >> 20
            ),
        );
        self.line.clear();
        self.close_all(diags);
        self.hand_over(ready, 0, 0, 0);
        self.draining = self.braces > self.statement_braces;
    }

    fn close_all(&mut self, d: &mut Diags) {
        self.deep = 0;
        self.vrrp.close_all(d);
        // Their complaints about what they close were said by the VRRP reading.
        let mut quiet = Diags::default();
        self.parent.close_all(&mut quiet);
        self.checker.close_all(&mut quiet);
    }

    /// The end of the main file: keepalived counts the braces still open ("There are N
    /// missing '}'s or extra '{'s"), then closes every block.
    fn finish(&mut self, eof: &Loc, diags: &mut Diags) {
        if self.braces > 0 {
            let title = self
                .vrrp
                .stack
                .iter()
                .chain(self.parent.stack.iter())
                .filter_map(|l| l.owner.as_ref())
                .map(Node::title)
                .find(|t| !t.is_empty())
                .map(|t| format!(" (`{t}` is still open)"))
                .unwrap_or_default();
            diags.warn(
                eof,
                format!(
                    "end of file: There are {} missing '}}'s or extra '{{'s, the first `{{` still open at {}{title}: keepalived closes every block here",
                    self.braces,
                    self.first_open
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            );
        }
        self.draining = false;
        self.close_all(diags);
    }
}
