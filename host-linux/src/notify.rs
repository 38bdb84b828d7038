//! Notify scripts: `notify_master/backup/fault/stop/deleted` and `notify` with
//! keepalived's four arguments (`INSTANCE|GROUP`, name, `MASTER|BACKUP|FAULT|STOP|DELETED`,
//! priority). The
//! state's script and the generic one of one notification run at the same time, as
//! keepalived forks them; each instance or group has its own queue, so its
//! notifications run in order while the event loop goes on; each run has a timeout.

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

/// One notify command: the program and its arguments (split as keepalived splits the
/// configured string) and who it runs as (`notify_master CMD [user [group]]`; `None`:
/// the [`Notifier`]'s default, the global `script_user`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    pub argv: Vec<String>,
    pub run_as: Option<RunAs>,
}

impl Script {
    /// `line` split as keepalived splits it, run as the default user.
    pub fn new(line: &str) -> Self {
        Script {
            argv: exec::split_args(line),
            run_as: None,
        }
    }

    /// Run as `who` instead of the default user.
    pub fn run_as(mut self, who: RunAs) -> Self {
        self.run_as = Some(who);
        self
    }
}

/// The scripts configured for one instance or group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    /// `notify_deleted SCRIPT`: a reload removed the instance.
    pub deleted: Option<Script>,
    /// `notify_master_rx_lower_pri`: a master heard a lower-priority advert (the
    /// instance's notes for that event carry this one alone).
    pub master_rx_lower_pri: Option<Script>,
    /// `notify`: called with the four arguments after the state's own script.
    pub any: Option<Script>,
}

impl Scripts {
    pub fn is_empty(&self) -> bool {
        *self == Scripts::default()
    }

    /// The commands for entering `state` (keepalived's spelling), in order, each with
    /// the user it runs as (`None`: the default).
    pub fn runs(
        &self,
        kind: Kind,
        name: &str,
        state: &str,
        priority: u8,
    ) -> Vec<(Vec<String>, Option<RunAs>)> {
        let own = match state {
            "MASTER" => &self.master,
            "BACKUP" => &self.backup,
            "FAULT" => &self.fault,
            "STOP" => &self.stop,
            "DELETED" => &self.deleted,
            "MASTER_RX_LOWER_PRI" => &self.master_rx_lower_pri,
            _ => &None,
        };
        let mut out: Vec<(Vec<String>, Option<RunAs>)> = own
            .iter()
            .filter(|s| !s.argv.is_empty())
            .map(|s| (s.argv.clone(), s.run_as))
            .collect();
        if let Some(any) = self.any.as_ref().filter(|s| !s.argv.is_empty()) {
            let mut args = any.argv.clone();
            args.extend([
                kind.as_arg().to_string(),
                name.to_string(),
                state.to_string(),
                priority.to_string(),
            ]);
            out.push((args, any.run_as));
        }
        out
    }

    /// The commands for entering `state`, in order (without their users).
    pub fn commands(&self, kind: Kind, name: &str, state: &str, priority: u8) -> Vec<Vec<String>> {
        self.runs(kind, name, state, priority)
            .into_iter()
            .map(|(args, _)| args)
            .collect()
    }
}

/// The commands of one notification, each with the user it runs as.
type Batch = Vec<(Vec<String>, RunAs)>;

/// One queue per instance or group name, each served by its own task on the current
/// `LocalSet`.
#[derive(Debug, Default)]
pub struct Notifier {
    queues: HashMap<(Kind, String), mpsc::UnboundedSender<Batch>>,
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

    /// Queues the scripts for `name` entering `state`, each to run as its own user or
    /// else the default one. Must be called inside a LocalSet.
    pub fn notify(&mut self, kind: Kind, name: &str, scripts: &Scripts, state: &str, priority: u8) {
        let default = self.run_as;
        let commands: Batch = scripts
            .runs(kind, name, state, priority)
            .into_iter()
            .map(|(args, who)| (args, who.unwrap_or(default)))
            .collect();
        if commands.is_empty() {
            return;
        }
        let workers = &mut self.workers;
        let tx = self
            .queues
            .entry((kind, name.to_string()))
            .or_insert_with(|| {
                let (tx, mut rx) = mpsc::unbounded_channel::<Batch>();
                let worker = tokio::task::spawn_local(async move {
                    while let Some(batch) = rx.recv().await {
                        // keepalived forks the state's script and the generic one
                        // together (`send_instance_notifies`): started in that order,
                        // both run at once; the next notification waits for both.
                        let runs: Vec<_> = batch
                            .into_iter()
                            .map(|(args, run_as)| {
                                tokio::task::spawn_local(async move {
                                    let outcome = exec::run(&args, run_as, TIMEOUT).await;
                                    if !outcome.success() {
                                        report(&args, outcome);
                                    }
                                })
                            })
                            .collect();
                        for r in runs {
                            let _ = r.await;
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
            master: Some(Script::new("/etc/keepalived/master.sh")),
            any: Some(Script::new("/usr/local/bin/notify \"a b\"")),
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

    /// Each script runs as its own user; one without a user runs as the default.
    #[tokio::test(flavor = "current_thread")]
    async fn each_script_runs_as_its_user() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("ids");
        let me = RunAs::current();
        // Another user only when we can switch to it.
        let other = if me.uid == 0 {
            RunAs {
                uid: 65534,
                gid: 65534,
            }
        } else {
            me
        };
        if me.uid == 0 {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
            // The two scripts run at once: whichever creates the log, the other (root or
            // nobody) must be able to append to it.
            std::fs::write(&log, "").unwrap();
            std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
        }
        let record = format!("/bin/sh -c 'id -u >> {}'", log.display());
        let s = Scripts {
            master: Some(Script::new(&record).run_as(other)),
            any: Some(Script::new(&record)),
            ..Scripts::default()
        };
        assert_eq!(
            s.runs(Kind::Instance, "VI_1", "MASTER", 100)
                .iter()
                .map(|(_, who)| *who)
                .collect::<Vec<_>>(),
            [Some(other), None]
        );
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut n = Notifier::new(me);
                n.notify(Kind::Instance, "VI_1", &s, "MASTER", 100);
                n.drain().await;
            })
            .await;
        // The two run at the same time: either may write first.
        let got = std::fs::read_to_string(&log).unwrap();
        let mut got: Vec<&str> = got.lines().collect();
        got.sort_unstable();
        let (a, b) = (other.uid.to_string(), me.uid.to_string());
        let mut want = vec![a.as_str(), b.as_str()];
        want.sort_unstable();
        assert_eq!(got, want);
    }

    /// The state's script and `notify` run together: each waits for the other's mark.
    #[tokio::test(flavor = "current_thread")]
    async fn specific_and_generic_run_together() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        // Each writes its mark, then waits (at most 5 s) for the other's.
        let wait = |me: &str, other: &str| {
            format!(
                "/bin/sh -c 'touch {d}/{me}; i=0; while [ ! -e {d}/{other} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -e {d}/{other} ] && touch {d}/{me}.ok'"
            )
        };
        let s = Scripts {
            master: Some(Script::new(&wait("a", "b"))),
            any: Some(Script::new(&wait("b", "a"))),
            ..Scripts::default()
        };
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let mut n = Notifier::new(RunAs::current());
                n.notify(Kind::Instance, "VI_1", &s, "MASTER", 100);
                n.drain().await;
            })
            .await;
        assert!(
            dir.path().join("a.ok").exists(),
            "notify_master never saw notify running"
        );
        assert!(
            dir.path().join("b.ok").exists(),
            "notify never saw notify_master running"
        );
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
                        any: Some(Script::new(&format!(
                            "/bin/sh -c 'sleep 0.05; echo $3 >> {}' x",
                            log.display()
                        ))),
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
