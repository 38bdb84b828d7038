//! Notify scripts: `notify_master/backup/fault/stop` and `notify` with keepalived's four
//! arguments (`INSTANCE|GROUP`, name, `MASTER|BACKUP|FAULT|STOP`, priority). Each
//! instance or group has its own queue, so its scripts run in order, one at a time,
//! while the event loop goes on; each run has a timeout.

use crate::exec::{self, Outcome, RunAs};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long one notify script may run before it is killed.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Instance,
    Group,
}

impl Kind {
    fn as_arg(self) -> &'static str {
        match self {
            Kind::Instance => "INSTANCE",
            Kind::Group => "GROUP",
        }
    }
}

/// The scripts configured for one instance or group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripts {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    /// `notify`: called with the four arguments after the state's own script.
    pub any: Option<String>,
}

impl Scripts {
    pub fn is_empty(&self) -> bool {
        *self == Scripts::default()
    }

    /// The commands for entering `state` (keepalived's spelling), in order.
    pub fn commands(&self, kind: Kind, name: &str, state: &str, priority: u8) -> Vec<Vec<String>> {
        let own = match state {
            "MASTER" => &self.master,
            "BACKUP" => &self.backup,
            "FAULT" => &self.fault,
            "STOP" => &self.stop,
            _ => &None,
        };
        let mut out: Vec<Vec<String>> = own.iter().map(|s| exec::split_args(s)).collect();
        if let Some(any) = &self.any {
            let mut args = exec::split_args(any);
            args.extend([
                kind.as_arg().to_string(),
                name.to_string(),
                state.to_string(),
                priority.to_string(),
            ]);
            out.push(args);
        }
        out
    }
}

/// One queue per instance or group name, each served by its own task on the current
/// `LocalSet`.
#[derive(Debug, Default)]
pub struct Notifier {
    queues: HashMap<(Kind, String), mpsc::UnboundedSender<Vec<Vec<String>>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    run_as: RunAs,
}

impl Notifier {
    pub fn new(run_as: RunAs) -> Self {
        Notifier {
            queues: HashMap::new(),
            workers: Vec::new(),
            run_as,
        }
    }

    /// Queues the scripts for `name` entering `state`. Must be called inside a LocalSet.
    pub fn notify(&mut self, kind: Kind, name: &str, scripts: &Scripts, state: &str, priority: u8) {
        let commands = scripts.commands(kind, name, state, priority);
        if commands.is_empty() {
            return;
        }
        let run_as = self.run_as;
        let workers = &mut self.workers;
        let tx = self
            .queues
            .entry((kind, name.to_string()))
            .or_insert_with(|| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Vec<String>>>();
                let worker = tokio::task::spawn_local(async move {
                    while let Some(batch) = rx.recv().await {
                        for args in batch {
                            let outcome = exec::run(&args, run_as, TIMEOUT).await;
                            if !outcome.success() {
                                report(&args, outcome);
                            }
                        }
                    }
                });
                workers.push(worker);
                tx
            });
        let _ = tx.send(commands);
    }

    /// Waits until every queued script has run (used on shutdown for `notify_stop`),
    /// at most one script timeout.
    pub async fn drain(&mut self) {
        // Workers end once their queue is empty and its sender is gone.
        self.queues.clear();
        let workers = std::mem::take(&mut self.workers);
        let all = async {
            for w in workers {
                let _ = w.await;
            }
        };
        let _ = tokio::time::timeout(TIMEOUT, all).await;
    }
}

fn report(args: &[String], outcome: Outcome) {
    let cmd = args.join(" ");
    match outcome {
        Outcome::Exited(c) => warn!("Notify script `{cmd}` exited with status {c}"),
        Outcome::Signalled(s) => warn!("Notify script `{cmd}` killed by signal {s}"),
        Outcome::TimedOut => warn!("Notify script `{cmd}` timed out after {TIMEOUT:?}"),
        Outcome::SpawnFailed => warn!("Notify script `{cmd}` could not be started"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_notify_arguments() {
        let s = Scripts {
            master: Some("/etc/keepalived/master.sh".into()),
            any: Some("/usr/local/bin/notify \"a b\"".into()),
            ..Scripts::default()
        };
        let c = s.commands(Kind::Instance, "VI_1", "MASTER", 100);
        assert_eq!(c[0], ["/etc/keepalived/master.sh"]);
        assert_eq!(
            c[1],
            [
                "/usr/local/bin/notify",
                "a b",
                "INSTANCE",
                "VI_1",
                "MASTER",
                "100"
            ]
        );
        assert_eq!(s.commands(Kind::Group, "G", "BACKUP", 0).len(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn scripts_run_in_order_off_the_loop() {
        let dir = std::env::temp_dir().join(format!("vigil-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let local = tokio::task::LocalSet::new();
        let me = RunAs {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        local
            .run_until(async {
                let mut n = Notifier::new(me);
                for state in ["BACKUP", "MASTER", "FAULT"] {
                    let s = Scripts {
                        any: Some(format!(
                            "/bin/sh -c 'sleep 0.05; echo $3 >> {}' x",
                            log.display()
                        )),
                        ..Scripts::default()
                    };
                    n.notify(Kind::Instance, "VI_1", &s, state, 100);
                }
                n.drain().await;
            })
            .await;
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(got, "BACKUP\nMASTER\nFAULT\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
