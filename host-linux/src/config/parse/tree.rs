//! The statement tree: keyword lines with their arguments and blocks, built from tokens as
//! they come (brace matching, with errors that name where an unclosed block opened), and
//! bounded per top-level statement.

use super::super::diag::{Diags, Loc};
use super::super::lexer::{Tok, Token};

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
    /// Its `}` (or the end of file that closed it): where keepalived's end-of-block
    /// checks report.
    pub close: Loc,
}

impl Node {
    pub(crate) fn name(&self) -> &str {
        self.key.word().unwrap_or("")
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
                    self.close_level(&t.loc);
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
    fn close_level(&mut self, close: &Loc) {
        let level = self.stack.pop().expect("checked");
        if let Some(mut owner) = level.owner {
            owner.block = Some(Block {
                open: level.open,
                children: level.nodes,
                close: close.clone(),
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
            self.close_level(eof);
        }
    }
}
