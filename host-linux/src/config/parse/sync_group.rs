//! `vrrp_sync_group`: its members, trackers and notify scripts.

use super::super::keywords::{Keyword, Table};
use super::super::model::{Notify, SyncGroup};
use super::lists::TrackKind;
use super::values::ka_bool;
use super::{Node, Parser};

/// A `vrrp_sync_group` being read.
pub(super) struct GroupBlock {
    group: SyncGroup,
    /// A `group` block was read (keepalived takes the first).
    group_read: bool,
    /// `(NAME) ` before messages.
    ctx: String,
    /// `vrrp group NAME: `, keepalived's words before "notify script already specified".
    notify_ctx: String,
}

/// Where the group's keywords are, for the notes about those vigild ignores.
const PLACE: &str = "in vrrp_sync_group";

pub(super) static VRRP_SYNC_GROUP: Table<GroupBlock> = Table {
    place: PLACE,
    keywords: &[
        Keyword::read("group", members),
        Keyword::read("track_interface", |p, b, n| {
            p.track_interfaces(n, &b.ctx, &mut b.group.track_interfaces);
        }),
        Keyword::read("track_script", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::Script, &mut b.group.track_scripts);
        }),
        Keyword::read("track_file", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::File, &mut b.group.track_files);
        }),
        Keyword::read("track_process", |p, b, n| {
            p.track_refs(n, &b.ctx, TrackKind::Process, &mut b.group.track_processes);
        }),
        Keyword::read("notify_master", |p, b, n| {
            p.notify(&mut b.group.notify.master, n, &b.notify_ctx)
        }),
        Keyword::read("notify_backup", |p, b, n| {
            p.notify(&mut b.group.notify.backup, n, &b.notify_ctx)
        }),
        Keyword::read("notify_fault", |p, b, n| {
            p.notify(&mut b.group.notify.fault, n, &b.notify_ctx)
        }),
        Keyword::read("notify_stop", |p, b, n| {
            p.notify(&mut b.group.notify.stop, n, &b.notify_ctx)
        }),
        Keyword::read("notify", |p, b, n| {
            p.notify(&mut b.group.notify.any, n, &b.notify_ctx)
        }),
        Keyword::read("sync_group_tracking_weight", |_, b, _| {
            b.group.tracking_weight = true;
        }),
        Keyword::read("notify_priority_changes", |p, b, n| {
            // keepalived: no value means true; an invalid one is an error and leaves it unset.
            let value = n.args.first().map_or(Some(true), ka_bool);
            if let Some(v) = value {
                b.group.notify_priority_changes = Some(v);
            } else if let Some(t) = n.args.first() {
                p.d.warn(
                    &t.loc,
                    format!(
                        "{}Invalid value '{}' for sync group notify_priority_changes specified",
                        b.ctx,
                        t.word().unwrap_or("")
                    ),
                );
            }
        }),
        Keyword::ignored("notify_deleted"),
        Keyword::read("smtp_alert", |p, b, n| match n.args.first() {
            None => b.group.smtp_alert = Some(true),
            Some(t) => match ka_bool(t) {
                Some(v) => b.group.smtp_alert = Some(v),
                None => p.d.warn(
                    &t.loc,
                    format!(
                        "Invalid vrrp_group smtp_alert parameter {}",
                        t.word().unwrap_or("")
                    ),
                ),
            },
        }),
        Keyword::read("global_tracking", |p, b, n| {
            p.d.warn(
                n.loc(),
                format!(
                    "{}global_tracking is deprecated. Use track_interface/script/file on the sync group",
                    b.ctx
                ),
            );
        }),
        Keyword::ignored("track_bfd"),
    ],
};

impl Parser<'_> {
    pub(super) fn sync_group(&mut self, n: &Node) {
        // keepalived wants exactly one word, and skips the block otherwise.
        let (Some(name), 1) = (n.arg(0).map(str::to_string), n.args.len()) else {
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
                notify_priority_changes: None,
                track_interfaces: Vec::new(),
                track_scripts: Vec::new(),
                track_files: Vec::new(),
                track_processes: Vec::new(),
                tracking_weight: false,
                smtp_alert: None,
            },
            group_read: false,
            ctx: format!("({name}) "),
            notify_ctx: format!("vrrp group {name}: "),
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
    let Some(members) = p.block_of(n) else { return };
    if b.group_read {
        p.d.warn(
            n.loc(),
            format!(
                "Group list already specified for sync group {}",
                b.group.name
            ),
        );
        return;
    }
    b.group_read = true;
    if members.is_empty() {
        p.d.warn(
            n.end(),
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
