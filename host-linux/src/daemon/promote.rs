//! `promote_secondaries`, as keepalived 2.2.7 does it (`set_promote_secondaries`): at
//! start, each instance's interface whose IPv4 `promote_secondaries` is off gets it on,
//! so that removing the interface's primary address promotes a secondary (a VIP in the
//! same subnet) instead of removing them all; on exit vigild turns it off again where it
//! turned it on. Instances added by a reload do not set it (keepalived sets it for them).

use super::plan::Plan;
use std::path::PathBuf;

/// The interfaces vigild turned `promote_secondaries` on for; turned off on drop.
#[derive(Debug, Default)]
pub struct PromoteSecondaries {
    changed: Vec<PathBuf>,
}

fn setting(ifname: &str) -> PathBuf {
    PathBuf::from(format!(
        "/proc/sys/net/ipv4/conf/{ifname}/promote_secondaries"
    ))
}

impl PromoteSecondaries {
    /// Turns the setting on for the interfaces of `plan`'s instances that ask for it.
    pub fn apply(plan: &Plan) -> Self {
        let mut me = PromoteSecondaries::default();
        for inst in plan.instances.iter().filter(|i| i.promote_secondaries) {
            let path = setting(&inst.interface);
            if me.changed.contains(&path) {
                continue;
            }
            match std::fs::read(&path) {
                // Already on: left alone, and left on at exit (keepalived likewise).
                Ok(v) if v.first() == Some(&b'1') => continue,
                Ok(_) => {}
                Err(e) => {
                    warn!(
                        "({}) promote_secondaries: {}: {e}",
                        inst.name,
                        path.display()
                    );
                    continue;
                }
            }
            match std::fs::write(&path, "1") {
                Ok(()) => {
                    info!(
                        "({}) promote_secondaries set on {}",
                        inst.name, inst.interface
                    );
                    me.changed.push(path);
                }
                Err(e) => warn!(
                    "({}) promote_secondaries: {}: {e}",
                    inst.name,
                    path.display()
                ),
            }
        }
        me
    }
}

impl Drop for PromoteSecondaries {
    fn drop(&mut self) {
        for path in &self.changed {
            if let Err(e) = std::fs::write(path, "0") {
                warn!("promote_secondaries: {}: {e}", path.display());
            }
        }
    }
}
