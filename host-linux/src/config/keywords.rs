//! What a keyword table is: for each block of keepalived.conf, the keywords keepalived 2.2.7
//! knows there that vigild reads, and those it knows but does not implement (a note says
//! so; keepalived accepts them, so they do not change `-t`'s exit code). Anything else is
//! an unknown keyword, which keepalived reports too.
//!
//! Each block's table lives beside its handlers (`parse::global::GLOBAL_DEFS`,
//! `parse::instance::VRRP_INSTANCE`...) and is the only list of that block's keywords: the
//! parser dispatches through it, and [`Table::handled`] / [`Table::ignored`] list it.

use super::parse::{Node, Parser};

/// Reads one keyword line (its arguments and block) into `T`, the block being built.
pub(crate) type Handler<T> = fn(&mut Parser<'_>, &mut T, &Node);

/// What vigild does with a keyword.
pub(crate) enum Action<T: 'static> {
    /// Reads it into a typed field of `T`.
    Read(Handler<T>),
    /// keepalived's keyword, not implemented by vigild: a note says it is ignored (and its
    /// block skipped).
    Ignored,
}

/// One keyword of a block.
pub(crate) struct Keyword<T: 'static> {
    pub name: &'static str,
    pub action: Action<T>,
    /// A block that only makes sense at the top level: found inside another block, it
    /// hints at a missing `}`.
    pub top_block: bool,
}

impl<T> Keyword<T> {
    pub(crate) const fn read(name: &'static str, handler: Handler<T>) -> Self {
        Keyword {
            name,
            action: Action::Read(handler),
            top_block: false,
        }
    }

    pub(crate) const fn ignored(name: &'static str) -> Self {
        Keyword {
            name,
            action: Action::Ignored,
            top_block: false,
        }
    }

    /// Marks a top-level block (see [`Keyword::top_block`]).
    pub(crate) const fn top_block(self) -> Self {
        Keyword {
            top_block: true,
            ..self
        }
    }
}

/// The keywords of one block.
pub(crate) struct Table<T: 'static> {
    /// Where the block is, for the note on an ignored keyword: `in vrrp_instance`.
    pub place: &'static str,
    pub keywords: &'static [Keyword<T>],
}

impl<T> Table<T> {
    /// What vigild does with `name` here; `None`: an unknown keyword.
    pub(crate) fn find(&self, name: &str) -> Option<&Action<T>> {
        self.keywords
            .iter()
            .find(|k| k.name == name)
            .map(|k| &k.action)
    }

    /// The keywords vigild reads.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn handled(&self) -> impl Iterator<Item = &'static str> {
        self.keywords
            .iter()
            .filter(|k| matches!(k.action, Action::Read(_)))
            .map(|k| k.name)
    }

    /// The keywords vigild knows but does not implement.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn ignored(&self) -> impl Iterator<Item = &'static str> {
        self.keywords
            .iter()
            .filter(|k| matches!(k.action, Action::Ignored))
            .map(|k| k.name)
    }
}

/// `ip address` scopes keepalived names.
pub const SCOPES: &[&str] = &["site", "link", "host", "nowhere", "global"];

#[cfg(test)]
mod tests {
    use super::super::parse::TABLES;
    use std::collections::HashSet;

    #[test]
    fn no_keyword_is_listed_twice_in_a_block() {
        for (block, names) in TABLES.iter().map(|(b, t)| (b, t())) {
            let mut seen = HashSet::new();
            for n in &names {
                assert!(seen.insert(*n), "`{n}` twice in {block}");
            }
        }
    }

    #[test]
    fn every_block_has_a_table_with_keywords_read() {
        let blocks: Vec<&str> = TABLES.iter().map(|(b, _)| *b).collect();
        for b in [
            "top level",
            "global_defs",
            "vrrp_instance",
            "authentication",
            "vrrp_sync_group",
            "vrrp_script",
            "vrrp_track_process",
            "track_file",
        ] {
            assert!(blocks.contains(&b), "{b} in {blocks:?}");
        }
        for (block, names) in TABLES.iter().map(|(b, t)| (b, t())) {
            assert!(!names.is_empty(), "{block}");
        }
    }
}
