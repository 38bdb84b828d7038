//! The tracker registry: which instance uses which tracked script, file, process and
//! interface, and with which tracker id. The service thread runs the trackers and
//! reports by index; link events come by interface name.

use super::super::plan::{self, Plan};
use super::{Engine, MAX_TRACKERS, Spawn, now};
use crate::track::{Report, TrackerState};
use std::collections::HashMap;
use vigil_core::priority::{Trackers, Weight};

/// The trackers that report through the channel (interfaces come from link events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Script,
    File,
    Process,
}

/// Who uses a tracker: (instance, its tracker id in that instance's set).
type Users = Vec<(usize, usize)>;

#[derive(Debug, Default)]
pub(super) struct Registry {
    scripts: HashMap<String, Users>,
    files: HashMap<String, Users>,
    processes: HashMap<String, Users>,
    interfaces: HashMap<String, Users>,
    /// Report index → (kind, name) for the running plan. Indexes are never reused
    /// across reloads, so that a report an old tracker left in the channel matches
    /// nothing.
    ids: HashMap<usize, (Kind, String)>,
    next: usize,
}

impl Registry {
    /// Forgets every user (a reload registers them again).
    pub(super) fn clear_users(&mut self) {
        self.scripts.clear();
        self.files.clear();
        self.processes.clear();
        self.interfaces.clear();
    }

    /// Registers instance `index`'s trackers and returns a fresh set for them, in
    /// the same order every time, so a kept instance's ids still match.
    pub(super) fn register(
        &mut self,
        index: usize,
        plan: &plan::Instance,
        link_states: &HashMap<String, bool>,
    ) -> Trackers<MAX_TRACKERS> {
        let mut trackers = Trackers::new();
        let mut ifaces: Vec<(String, Weight)> = plan.track_interfaces.clone();
        if plan.track_own_interface {
            ifaces.push((plan.interface.clone(), Weight::FAULT));
        }
        // Capacity was checked before anything was installed.
        let id = |r: Result<usize, _>| {
            r.unwrap_or_else(|e| {
                error!("({}) {e}", plan.name);
                usize::MAX
            })
        };
        let uses = |map: &mut HashMap<String, Users>, name: &str, id: usize| {
            map.entry(name.to_string()).or_default().push((index, id));
        };
        for (name, w) in &ifaces {
            let up = link_states.get(name).copied().or(Some(true));
            uses(&mut self.interfaces, name, id(trackers.add(*w, up)));
        }
        for (name, w) in &plan.track_scripts {
            // No result yet: a weight-0 one makes the instance wait at start-up (see
            // vigil_core's Instance::is_waiting). `init_fail` too: see track.rs.
            uses(&mut self.scripts, name, id(trackers.add(*w, None)));
        }
        for (name, w) in &plan.track_processes {
            uses(&mut self.processes, name, id(trackers.add(*w, None)));
        }
        for (name, w) in &plan.track_files {
            uses(&mut self.files, name, id(trackers.add_value(*w)));
        }
        trackers
    }

    /// The trackers the plan's instances use, each under a fresh report index.
    pub(super) fn spawns(&mut self, plan: &Plan) -> Vec<Spawn> {
        let mut spawns = Vec::new();
        let mut ids = HashMap::new();
        let mut next = self.next;
        let mut index = |kind: Kind, name: &str| {
            ids.insert(next, (kind, name.to_string()));
            next += 1;
            next - 1
        };
        for s in plan
            .scripts
            .iter()
            .filter(|s| self.scripts.contains_key(&s.name))
        {
            spawns.push(Spawn::Script(index(Kind::Script, &s.name), s.clone()));
        }
        for f in plan
            .files
            .iter()
            .filter(|f| self.files.contains_key(&f.name))
        {
            spawns.push(Spawn::File(index(Kind::File, &f.name), f.path.clone()));
        }
        for p in plan
            .processes
            .iter()
            .filter(|p| self.processes.contains_key(&p.name))
        {
            spawns.push(Spawn::Process(index(Kind::Process, &p.name), p.clone()));
        }
        self.next = next;
        self.ids = ids;
        spawns
    }

    fn users_of_report(&self, index: usize) -> Users {
        let Some((kind, name)) = self.ids.get(&index) else {
            return Users::new();
        };
        match kind {
            Kind::Script => self.scripts.get(name),
            Kind::File => self.files.get(name),
            Kind::Process => self.processes.get(name),
        }
        .cloned()
        .unwrap_or_default()
    }
}

/// An instance with more trackers than fit is refused before anything is installed.
pub(super) fn check_capacity(inst: &plan::Instance) -> Result<(), super::InstallError> {
    let n = inst.track_interfaces.len()
        + usize::from(inst.track_own_interface)
        + inst.track_scripts.len()
        + inst.track_processes.len()
        + inst.track_files.len();
    if n > MAX_TRACKERS {
        return Err(super::InstallError::Trackers {
            instance: inst.name.clone(),
            count: n,
        });
    }
    Ok(())
}

impl Engine {
    pub fn on_report(&mut self, r: Report) {
        if let (Some((Kind::Script, name)), TrackerState::Up(up)) =
            (self.trackers.ids.get(&r.index), r.state)
        {
            self.script_results.insert(name.clone(), up);
        }
        for (slot, id) in self.trackers.users_of_report(r.index) {
            let set = &mut self.slots[slot].trackers;
            let changed = match r.state {
                TrackerState::Up(up) => set.set(id, up),
                TrackerState::Value(v) => set.set_value(id, v),
            };
            if changed {
                self.retrack(slot);
            }
        }
    }

    pub fn on_link(&mut self, name: &str, up: bool) {
        let Some(users) = self.trackers.interfaces.get(name).cloned() else {
            return;
        };
        for (slot, id) in users {
            if self.slots[slot].trackers.set(id, up) {
                info!(
                    "({}) tracked interface {name} is {}",
                    self.slots[slot].plan.name,
                    if up { "up" } else { "down" }
                );
                self.retrack(slot);
            }
        }
    }

    fn retrack(&mut self, slot: usize) {
        let status = self.slots[slot].trackers.status();
        self.router.set_tracking(slot, now(), status);
        self.drain();
        self.rearm();
    }
}
