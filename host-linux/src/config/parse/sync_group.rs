//! `vrrp_sync_group`: its members, trackers and notify scripts.

use super::super::keywords::{Keyword, Table};
use super::super::model::{Notify, SyncGroup};
use super::{Node, Parser};

/// A `vrrp_sync_group` being read.
pub(super) struct GroupBlock {
    group: SyncGroup,
    /// `(NAME) ` before messages.
    ctx: String,
}

pub(super) static VRRP_SYNC_GROUP: Table<GroupBlock> = Table {
    place: "in vrrp_sync_group",
    keywords: &[
        Keyword::read("group", members),
        Keyword::read("track_interface", |p, b, n| {
            b.group.track_interfaces = p.track_interfaces(n, &b.ctx);
        }),
        Keyword::read("track_script", |p, b, n| {
            b.group.track_scripts = p.track_refs(n, 253, &b.ctx, "track_script");
        }),
        Keyword::read("track_file", |p, b, n| {
            b.group.track_files = p.track_refs(n, 254, &b.ctx, "track_file");
        }),
        Keyword::read("track_process", |p, b, n| {
            b.group.track_processes = p.track_refs(n, 254, &b.ctx, "track_process");
        }),
        Keyword::read("notify_master", |p, b, n| {
            p.notify(&mut b.group.notify.master, n, &b.ctx)
        }),
        Keyword::read("notify_backup", |p, b, n| {
            p.notify(&mut b.group.notify.backup, n, &b.ctx)
        }),
        Keyword::read("notify_fault", |p, b, n| {
            p.notify(&mut b.group.notify.fault, n, &b.ctx)
        }),
        Keyword::read("notify_stop", |p, b, n| {
            p.notify(&mut b.group.notify.stop, n, &b.ctx)
        }),
        Keyword::read("notify", |p, b, n| {
            p.notify(&mut b.group.notify.any, n, &b.ctx)
        }),
        Keyword::read("sync_group_tracking_weight", |_, b, _| {
            b.group.tracking_weight = true;
        }),
        Keyword::ignored("notify_priority_changes"),
        Keyword::ignored("notify_deleted"),
        Keyword::ignored("smtp_alert"),
        Keyword::ignored("global_tracking"),
        Keyword::ignored("track_bfd"),
    ],
};

impl Parser<'_> {
    pub(super) fn sync_group(&mut self, n: &Node) {
        // keepalived wants exactly one word after the keyword (`vector_count != 2`).
        let Some(name) = n.arg(0).filter(|_| n.args.len() == 1).map(str::to_string) else {
            self.d
                .warn(n.loc(), "vrrp_sync_group must have a name - skipping");
            return;
        };
        let Some(children) = self.block_of(n) else {
            return;
        };
        let mut b = GroupBlock {
            group: SyncGroup {
                name: name.clone(),
                loc: n.loc().clone(),
                members: Vec::new(),
                notify: Notify::default(),
                track_interfaces: Vec::new(),
                track_scripts: Vec::new(),
                track_files: Vec::new(),
                track_processes: Vec::new(),
                tracking_weight: false,
            },
            ctx: format!("({name}) "),
        };
        self.read_block(
            &VRRP_SYNC_GROUP,
            &mut b,
            children,
            &format!("vrrp_sync_group {name}"),
        );
        if !self.define(n, "vrrp_sync_group", &name)
            || !self.first_definition(n, "vrrp_sync_group", &name, "vrrp_sync_group")
        {
            return;
        }
        self.conf.sync_groups.push(b.group);
    }
}

/// `group { INSTANCE... }`: every word is a member.
fn members(p: &mut Parser<'_>, b: &mut GroupBlock, n: &Node) {
    if !b.group.members.is_empty() {
        // keepalived skips this block (`skip_block`), braces matched.
        p.d.warn(
            n.loc(),
            format!(
                "Group list already specified for sync group {}",
                b.group.name
            ),
        );
        return;
    }
    let Some(members) = p.block_of(n) else { return };
    if members.is_empty() {
        // keepalived says it once the block is read (at its `}`).
        let at = n.block.as_ref().and_then(|b| b.close.as_ref());
        p.d.warn(
            at.unwrap_or(n.loc()),
            format!(
                "Warning - sync group {} has empty group block",
                b.group.name
            ),
        );
    }
    for m in members {
        p.no_block(m);
        for w in m.words() {
            if p.item(&w.loc) {
                b.group
                    .members
                    .push((w.word().unwrap_or("").to_string(), w.loc.clone()));
            }
        }
    }
}
