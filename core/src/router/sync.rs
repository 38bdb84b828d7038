//! Sync groups (keepalived's `vrrp_sync_group`): instances that change state together,
//! typically the outside and inside VIPs of a load balancer. keepalived's rules
//! (vrrp_sync.c), applied after any input to a member changed what the group looks at:
//! - A member whose master-down timer expires does not go MASTER alone: it *wants*
//!   MASTER, and the group goes MASTER only when every member wants it. Otherwise a
//!   partition on one interface would flap the whole group.
//! - A member that becomes MASTER anyway (an address owner) pulls the others up.
//! - A member that yields to a higher-priority advert pushes the other masters down.
//! - A member in FAULT puts every other member in FAULT; the group leaves FAULT only when
//!   no member has a fault of its own. A member whose own fault clears stays in FAULT,
//!   silently, while another member's has not (keepalived's `try_up_instance` checks
//!   the group's `num_member_fault` before leaving FAULT).
//! - At start-up, a member waiting for a first script result (`num_script_init`) holds
//!   every member in FAULT silently, and the group in INIT (`num_member_init`): no
//!   notify until every member has its first results. Then the group enters BACKUP
//!   (or FAULT, if a first result failed).
//!
//! Membership is kept in one place, each member's group index.

use super::{Deposit, Member, Router};
use crate::machine::{Instance, Reason, State};
use embassy_time::Instant;

struct Tally {
    members: usize,
    masters: usize,
    backups: usize,
    /// Every member is MASTER or wants to be, and at least one is still BACKUP.
    all_want: bool,
}

impl<const N: usize, const V: usize, const P: usize> Router<N, V, P> {
    /// Brings every member of group `g` in line. Idempotent. `first`, the member whose
    /// change brought the group along, is moved first (its notifications come first, as
    /// in keepalived's `vrrp_sync_master`, where the member that completes the group
    /// goes master and then pulls the others, in order).
    pub(super) fn settle(&mut self, g: usize, now: Instant, first: Option<usize>) {
        let tag = Some(g as u16);
        let before = self.groups[g].state;
        let (any_own_fault, any_waiting) = self.hold_of(tag, None);
        self.each_member(tag, first, |inst, out| {
            let held = any_own_fault && !inst.has_own_fault();
            inst.set_group_fault(now, held, any_waiting, out);
        });
        let after = if any_own_fault {
            State::Fault
        } else if any_waiting {
            // keepalived's group stays in INIT: nothing to report yet.
            before
        } else {
            let t = self.tally(tag);
            let mixed = t.masters > 0 && t.backups > 0;
            if mixed || t.all_want {
                // Mixed: a member moved on its own, away from the group's state.
                let up = !mixed || before != State::Master;
                let reason = if mixed {
                    Reason::SyncGroup
                } else {
                    Reason::MasterDown
                };
                self.each_member(tag, first, |inst, out| {
                    if up {
                        inst.force_master(now, reason, out);
                    } else {
                        inst.force_backup(now, out);
                    }
                });
            }
            let t = self.tally(tag);
            if t.masters == t.members {
                State::Master
            } else if t.masters == 0 && t.backups > 0 {
                State::Backup
            } else {
                before
            }
        };
        self.groups[g].state = after;
        if after != before && matches!(after, State::Master | State::Backup | State::Fault) {
            self.notice(g);
        }
    }

    /// What holds the members of group `tag` (but `except`) in FAULT: a member with a
    /// fault of its own, a member waiting for a first result.
    pub(super) fn hold_of(&self, tag: Option<u16>, except: Option<usize>) -> (bool, bool) {
        let mut hold = (false, false);
        for (i, m) in self.members.iter().enumerate() {
            if m.group == tag && Some(i) != except {
                hold.0 |= m.instance.has_own_fault();
                hold.1 |= m.instance.is_waiting();
            }
        }
        hold
    }

    /// Calls `f` on every member of the group `tag`, `first` (if a member) first, then
    /// the others in index order.
    pub(super) fn each_member(
        &mut self,
        tag: Option<u16>,
        first: Option<usize>,
        mut f: impl FnMut(&mut Instance<V>, &mut Deposit<'_, N>),
    ) {
        let Router {
            members,
            tx,
            ev,
            events_lost,
            ..
        } = self;
        let first = first.filter(|&i| members.get(i).is_some_and(|m| m.group == tag));
        let order = first
            .into_iter()
            .chain((0..members.len()).filter(|&i| Some(i) != first));
        for i in order {
            let m = &mut members[i];
            if m.group == tag {
                let Member {
                    instance, outbox, ..
                } = m;
                f(instance, &mut Deposit::new(outbox, tx, ev, events_lost, i));
            }
        }
    }

    fn tally(&self, tag: Option<u16>) -> Tally {
        let mut t = Tally {
            members: 0,
            masters: 0,
            backups: 0,
            all_want: true,
        };
        for m in self.members.iter().filter(|m| m.group == tag) {
            t.members += 1;
            match m.instance.state() {
                State::Master => t.masters += 1,
                State::Backup => {
                    t.backups += 1;
                    t.all_want &= m.instance.wants_master();
                }
                _ => t.all_want = false,
            }
        }
        t.all_want &= t.backups > 0;
        t
    }
}
