//! From tokens to the typed model: first a tree of statements and blocks ([`tree`]), then
//! each block read through its keyword table (see `keywords`): one small handler per
//! keyword, which fills a typed field. keepalived's interaction rules between values come
//! after, in `rules`.
//!
//! - [`tree`]: statements and blocks, bounded per top-level statement.
//! - `values`: the readers of one value (numbers, seconds, booleans, addresses, commands).
//! - `global`: `global_defs`.
//! - `instance`: `vrrp_instance`; `addresses`: its addresses, unicast peers and
//!   authentication.
//! - `track`: the tracker blocks (`vrrp_script`, `vrrp_track_process`, `track_file`).
//! - `sync_group`: `vrrp_sync_group`.
//! - `routes`: `virtual_routes` / `virtual_rules` and the top-level `static_*` and
//!   `track_group` blocks, and route lines; `ip_rules`: rule lines; `route_values`: their
//!   value readers.
//! - `lists`: the `track_*` lists and `notify*` scripts instances and sync groups share.
//!
//! - `lvs`: the LVS half (`virtual_server`, `virtual_server_group`, `SSL`), as
//!   keepalived's checker process reads it.
//!
//! This module holds the top level: its table and the bounds on what a configuration may
//! define.

mod addresses;
mod global;
mod instance;
mod ip_rules;
mod lists;
mod lvs;
mod named_interfaces;
mod route_values;
mod routes;
mod sync_group;
mod track;
pub mod tree;
mod values;

pub use tree::{MAX_BLOCK_DEPTH, MAX_STATEMENT_TEXT, MAX_STATEMENT_TOKENS};
pub(crate) use tree::{Node, Pass, TreeBuilder};
pub(crate) use values::fam;

use super::diag::{Diags, KaClass, Loc, Severity};
use super::keywords::{Action, Keyword, Table};
use super::lexer::Token;
use super::model::*;
use std::collections::HashSet;

/// The most list entries the parsed configuration may hold, all lists together:
/// addresses, unicast peers, tracked scripts / files / processes / interfaces, sync group
/// members, `track_file` and `vrrp_track_process` blocks, LVS blocks, real servers,
/// checkers and group members. Each costs 24 bytes (a peer) to about 1 KB (a checker)
/// from as little as 2 bytes of text; past this the configuration is refused.
pub const MAX_LIST_ENTRIES: usize = 1 << 18;
/// The most `vrrp_instance`, `vrrp_script` and `vrrp_sync_group` blocks (together) one
/// configuration may define: each costs about 1 to 2.5 KB in the parsed configuration
/// (from as little as 60 bytes of text), and the daemon runs every instance.
pub const MAX_DEFINITIONS: usize = 16_384;

/// The top level of keepalived.conf.
static TOP: Table<()> = Table {
    place: "at top level",
    keywords: &[
        Keyword::read("global_defs", |p, _, n| p.global_defs(n)).top_block(),
        Keyword::read("vrrp_script", |p, _, n| p.vrrp_script(n)).top_block(),
        Keyword::read("vrrp_track_process", |p, _, n| p.track_process(n)).top_block(),
        Keyword::read("track_file", |p, _, n| p.track_file(n)).top_block(),
        Keyword::read("vrrp_track_file", |p, _, n| p.track_file(n)).top_block(),
        Keyword::read("vrrp_instance", |p, _, n| p.instance(n)).top_block(),
        Keyword::read("vrrp_sync_group", |p, _, n| p.sync_group(n)).top_block(),
        // keepalived's checker process reads these (`Pass::Lvs`, `lvs`); its VRRP
        // process skips them.
        Keyword::read("virtual_server", |_, _, _| {}).top_block(),
        Keyword::read("virtual_server_group", |_, _, _| {}).top_block(),
        Keyword::read("SSL", |_, _, _| {}).top_block(),
        // Not a top-level keyword: a `real_server` here lost its `virtual_server`.
        Keyword::read("real_server", |p, _, n| p.lost_real_server(n)),
        Keyword::read("static_ipaddress", |p, _, n| p.static_addresses(n)).top_block(),
        Keyword::read("static_routes", |p, _, n| p.static_routes(n)).top_block(),
        Keyword::read("static_rules", |p, _, n| p.static_rules(n)).top_block(),
        Keyword::read("track_group", |p, _, n| p.track_group(n)).top_block(),
        Keyword::ignored("static_track_group"),
        Keyword::read("linkbeat_interfaces", |p, _, n| p.linkbeat_interfaces(n)).top_block(),
        Keyword::read("garp_group", |p, _, n| p.garp_group(n)).top_block(),
        Keyword::ignored("bfd_instance").top_block(),
        Keyword::ignored("net_namespace"),
        Keyword::ignored("net_namespace_ipvs"),
        Keyword::ignored("namespace_with_ipsets"),
        Keyword::ignored("instance"),
        Keyword::ignored("use_pid_dir"),
        Keyword::ignored("linkbeat_use_polling"),
        Keyword::ignored("child_wait_time"),
    ],
};

/// A block keyword of the top level (a hint of a missing `}` when found inside a block).
fn is_top_level_block(name: &str) -> bool {
    TOP.keywords.iter().any(|k| k.top_block && k.name == name)
}

/// Every block's table, by block, as lists of names (for the keyword tables' tests).
#[cfg(test)]
pub(crate) const TABLES: &[(&str, KeywordNames)] = &[
    ("top level", || names(&TOP)),
    ("global_defs", || names(&global::GLOBAL_DEFS)),
    ("vrrp_instance", || names(&instance::VRRP_INSTANCE)),
    ("authentication", || names(&addresses::AUTHENTICATION)),
    ("vrrp_sync_group", || names(&sync_group::VRRP_SYNC_GROUP)),
    ("vrrp_script", || names(&track::VRRP_SCRIPT)),
    ("vrrp_track_process", || names(&track::VRRP_TRACK_PROCESS)),
    ("track_file", || names(&track::TRACK_FILE)),
    ("virtual_server", || names(&lvs::VIRTUAL_SERVER)),
    ("real_server", || names(&lvs::REAL_SERVER)),
    ("url", || names(&lvs::URL)),
    ("SSL", || names(&lvs::SSL)),
];

#[cfg(test)]
type KeywordNames = fn() -> Vec<&'static str>;

#[cfg(test)]
fn names<T>(t: &Table<T>) -> Vec<&'static str> {
    t.handled().chain(t.ignored()).collect()
}

/// Reads statements as the lexer produces them: each top-level statement is parsed as
/// soon as it is complete, then dropped.
pub(crate) struct Reader<'d> {
    pub parser: Parser<'d>,
    tree: TreeBuilder,
    ready: Vec<(Node, Pass)>,
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
        for (n, pass) in std::mem::take(&mut self.ready) {
            match pass {
                Pass::Vrrp => self.parser.top(&n),
                Pass::ParentOnly { in_global_defs } => self.parser.parent_only(&n, in_global_defs),
                Pass::CheckerOnly => self.parser.checker_only(&n),
                Pass::Lvs => self.parser.lvs_top(&n),
            }
        }
    }
}

impl Reader<'_> {
    /// The configuration read, once the input has ended: the LVS half goes through
    /// keepalived's end-of-reading checks first.
    pub(crate) fn into_conf(self) -> KeepalivedConf {
        let Parser {
            d, mut conf, lvs, ..
        } = self.parser;
        conf.lvs = lvs::validate(lvs, &conf.global.mail, d);
        conf
    }
}

pub(crate) struct Parser<'d> {
    pub d: &'d mut Diags,
    pub conf: KeepalivedConf,
    /// The mail keywords' one note was given.
    mail_warned: bool,
    /// Names of the scripts, instances and sync groups defined so far, by kind (a
    /// duplicate is found in constant time, however many blocks there are).
    defined: HashSet<(&'static str, String)>,
    /// Names of the `track_file` and `vrrp_track_process` blocks read so far (bounded by
    /// [`MAX_LIST_ENTRIES`], which they count towards).
    trackers: HashSet<(&'static str, String)>,
    /// Blocks refused past [`MAX_DEFINITIONS`] (the first is reported).
    over_limit: usize,
    /// List entries kept so far (see [`MAX_LIST_ENTRIES`]).
    entries: usize,
    /// The preference keepalived gives the next rule written without one (IPv4, IPv6).
    rule_priority: [u32; 2],
    /// `garp_group` blocks with an `interfaces` block so far (keepalived numbers them).
    garp_aggregation_groups: u32,
    /// The LVS half read so far (`lvs`), typed at the end.
    lvs: lvs::Pending,
}

impl<'d> Parser<'d> {
    pub(crate) fn new(d: &'d mut Diags) -> Self {
        Parser {
            d,
            conf: KeepalivedConf::default(),
            mail_warned: false,
            defined: HashSet::new(),
            trackers: HashSet::new(),
            over_limit: 0,
            entries: 0,
            rule_priority: [routes::RULE_START_PRIORITY; 2],
            garp_aggregation_groups: 0,
            lvs: lvs::Pending::default(),
        }
    }

    /// One top-level statement.
    pub(crate) fn top(&mut self, n: &Node) {
        self.keyword(&TOP, &mut (), n, None);
    }

    /// A top-level statement only keepalived's parent process reads (see
    /// [`Pass::ParentOnly`]): it reads the global keywords, skips the blocks of the other
    /// processes and reports the rest as unknown keywords.
    pub(crate) fn parent_only(&mut self, n: &Node, in_global_defs: bool) {
        let name = n.name();
        match TOP.find(name) {
            None if !in_global_defs => self.d.warn(
                n.loc(),
                format!(
                    "Unknown keyword '{name}' for keepalived's parent process, which reads this line at the top level, while its VRRP process reads it inside a block: is a `{{` missing?"
                ),
            ),
            None => self.top(n),
            Some(_) if name == "global_defs" => self.top(n),
            Some(Action::Ignored) if !is_top_level_block(name) => self.top(n),
            Some(_) if in_global_defs => self.d.warn(
                n.loc(),
                format!(
                    "`{}` is not read by keepalived: it follows the `}}` that closed `global_defs` early, inside the block keepalived's VRRP process skips as `global_defs`, and keepalived's parent process skips it; vigild ignores it too",
                    n.title()
                ),
            ),
            Some(_) => {}
        }
    }

    /// A top-level statement only keepalived's checker process reads (see
    /// [`Pass::CheckerOnly`]): only an unknown keyword is reported.
    pub(crate) fn checker_only(&mut self, n: &Node) {
        // `real_server` is in the top-level table only to explain it.
        if TOP.find(n.name()).is_none() || n.name() == "real_server" {
            self.d.warn(
                n.loc(),
                format!(
                    "Unknown keyword '{}' for keepalived's checker process, which reads this line at the top level (its VRRP and parent processes read it inside a block): is a `{{` or a `}}` missing?",
                    n.name()
                ),
            );
        }
    }

    /// Each line of a block through the block's table; `parent` names the block in the
    /// warning about an unknown keyword.
    fn read_block<T>(&mut self, table: &Table<T>, into: &mut T, children: &[Node], parent: &str) {
        for c in children {
            self.keyword(table, into, c, Some(parent));
        }
    }

    fn keyword<T>(&mut self, table: &Table<T>, into: &mut T, n: &Node, parent: Option<&str>) {
        match table.find(n.name()) {
            Some(Action::Read(handler)) => handler(self, into, n),
            Some(Action::Ignored) => self.ignored(n, table.place),
            None => self.unknown(n, parent),
        }
    }

    // ----- bounds ----------------------------------------------------------------------

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

    /// Records the definition of `kind name`; a second one is keepalived's warning, and
    /// its block is skipped.
    fn first_definition(&mut self, n: &Node, kind: &'static str, name: &str, what: &str) -> bool {
        if self.defined.insert((kind, name.to_string())) {
            return true;
        }
        self.d
            .warn(n.loc(), format!("{what} {name} already defined"));
        false
    }

    /// Whether a `kind` block named `name` was defined above: keepalived looks a tracker
    /// up when it reads the reference, so one defined further down is not found.
    fn is_defined(&self, kind: &'static str, name: &str) -> bool {
        self.defined.contains(&(kind, name.to_string()))
            || self.trackers.contains(&(kind, name.to_string()))
    }

    /// A block keyword without its name where keepalived's handler reads the name as a
    /// required value: keepalived stops reading (exit 2), as for any missing value.
    fn missing_name(&mut self, n: &Node) {
        self.d.push(
            Severity::Error,
            KaClass::Abort,
            n.loc(),
            format!(
                "`{0}` needs a name: *** Configuration line starting `{0}` is missing a parameter after keyword `{0}` at word position 2 (keepalived stops reading here)",
                n.name()
            ),
        );
    }

    // ----- keywords vigild does not read -------------------------------------------------

    fn unknown(&mut self, n: &Node, inside: Option<&str>) {
        let name = n.name();
        if let Some(parent) = inside
            && is_top_level_block(name)
        {
            // keepalived reads on: the lines of this block belong to the enclosing one
            // (its `{` is ignored), and its `}` closes the enclosing block.
            self.d.warn(
                n.loc(),
                format!(
                    "unknown keyword `{name}` inside `{parent}`: is a `}}` missing before this line? keepalived ignores the `{name}` line and its `{{`, applies the lines after it to `{parent}`, and ends `{parent}` at the next `}}`"
                ),
            );
            return;
        }
        self.d.warn(
            n.loc(),
            format!("unknown keyword `{name}`: vigild ignores it"),
        );
    }

    /// A keepalived keyword vigild does not implement.
    fn ignored(&mut self, n: &Node, place: &str) {
        let skipped = if n.block.is_some() {
            " and its block"
        } else {
            ""
        };
        self.d.note(
            n.loc(),
            format!(
                "`{}` {place} is not implemented by vigild: ignored{skipped}",
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

    // ----- LVS -------------------------------------------------------------------------

    /// A `real_server` at the top level: it lost its `virtual_server` (a `}` too many
    /// above?). keepalived's processes all report it as an unknown keyword.
    fn lost_real_server(&mut self, n: &Node) {
        self.d.warn(
            n.loc(),
            format!(
                "unknown keyword `{}` at top level: a `real_server` belongs inside a `virtual_server` (a `}}` too many above?)",
                n.name()
            ),
        );
    }
}
