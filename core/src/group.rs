//! Sync groups (keepalived's `vrrp_sync_group`): instances that must change state
//! together, typically the outside and inside VIPs of a router or load balancer.
//!
//! keepalived's rules (vrrp_sync.c), applied by [`SyncGroup::settle`] after any input
//! to any member:
//! - A member whose master-down timer expires does not go MASTER alone: it *wants*
//!   MASTER, and the group goes MASTER only when every member wants it. Otherwise a
//!   partition on one interface would flap the whole group.
//! - A member that becomes MASTER anyway (an address owner) pulls the others up.
//! - A member that yields to a higher-priority advert pushes the other masters down.
//! - A member in FAULT puts every other member in FAULT; the group leaves FAULT only when
//!   no member has a fault of its own.

use crate::machine::{Effect, Instance, Reason, State};
use crate::priority::CapacityError;
use embassy_time::Instant;
use heapless::Vec;

/// The members of a group as indices into the host's instance table, and the state the
/// group last settled in.
#[derive(Debug, Clone)]
pub struct SyncGroup<const N: usize> {
    members: Vec<usize, N>,
    state: State,
}

impl<const N: usize> SyncGroup<N> {
    /// A group of the instances at these indices, which it marks as sync members.
    /// Exceeding `N` members is a configuration error.
    pub fn new<const V: usize>(
        members: &[usize],
        instances: &mut [Instance<V>],
    ) -> Result<Self, CapacityError> {
        let members = Vec::from_slice(members).map_err(|_| CapacityError {
            what: "sync group members",
            capacity: N,
        })?;
        for &m in &members {
            if let Some(i) = instances.get_mut(m) {
                i.set_sync_member(true);
            }
        }
        Ok(SyncGroup {
            members,
            state: State::Initialize,
        })
    }

    pub fn members(&self) -> &[usize] {
        &self.members
    }

    /// The state the group last settled in.
    pub fn state(&self) -> State {
        self.state
    }

    /// Brings every member in line after an input to any of them. Effects come out
    /// tagged with the member's index. Idempotent: calling it twice changes nothing.
    pub fn settle<const V: usize>(
        &mut self,
        instances: &mut [Instance<V>],
        now: Instant,
        out: &mut impl FnMut(usize, Effect),
    ) {
        let any_own_fault = self
            .members
            .iter()
            .any(|&m| instances.get(m).is_some_and(Instance::has_own_fault));
        for &m in &self.members {
            if let Some(inst) = instances.get_mut(m) {
                let held = any_own_fault && !inst.has_own_fault();
                inst.set_group_fault(now, held, &mut |e| out(m, e));
            }
        }
        if any_own_fault {
            self.state = State::Fault;
            return;
        }
        let t = self.tally(instances);
        let mixed = t.masters > 0 && t.backups > 0;
        if mixed || t.all_want {
            // Mixed: a member moved on its own; it moved away from the group's state.
            let up = if mixed {
                self.state != State::Master
            } else {
                true
            };
            let reason = if mixed {
                Reason::SyncGroup
            } else {
                Reason::MasterDown
            };
            for &m in &self.members {
                if let Some(inst) = instances.get_mut(m) {
                    let sink = &mut |e| out(m, e);
                    if up {
                        inst.force_master(now, reason, sink);
                    } else {
                        inst.force_backup(now, sink);
                    }
                }
            }
        }
        let t = self.tally(instances);
        if t.masters == self.members.len() {
            self.state = State::Master;
        } else if t.masters == 0 && t.backups > 0 {
            self.state = State::Backup;
        }
    }

    fn tally<const V: usize>(&self, instances: &[Instance<V>]) -> Tally {
        let mut t = Tally {
            masters: 0,
            backups: 0,
            all_want: true,
        };
        for inst in self.members.iter().filter_map(|&m| instances.get(m)) {
            match inst.state() {
                State::Master => t.masters += 1,
                State::Backup => {
                    t.backups += 1;
                    t.all_want &= inst.wants_master();
                }
                _ => t.all_want = false,
            }
        }
        t.all_want &= t.backups > 0;
        t
    }
}

struct Tally {
    masters: usize,
    backups: usize,
    /// Every member is MASTER or wants to be, and at least one is still BACKUP.
    all_want: bool,
}
