//! The LVS checker ([`crate::lvs::engine`]) in the daemon: started on the service
//! thread when the configuration has virtual servers, given each reload's, stopped
//! (its IPVS entries removed) at exit, and shown by `vigild status`.

use super::plan::Plan;
use crate::exec::{self, RunAs};
use crate::lvs::engine::runner::{self, Handle, IpvsFactory, Prober, Sinks};
use crate::lvs::engine::{record, status::LvsStatus};
use crate::mail::Mailer;
use crate::notify_fifo::Fifos;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What the checker needs from outside: the IPVS table and the health checks.
#[derive(Clone)]
pub struct LvsHooks {
    pub ipvs: IpvsFactory,
    pub prober: Rc<dyn Prober>,
    /// Given each (re)loaded plan before the checker sees it (the checks' `SSL` client,
    /// `track_file`s and script user).
    pub configure: Rc<dyn Fn(&Plan)>,
}

impl std::fmt::Debug for LvsHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LvsHooks").finish_non_exhaustive()
    }
}

/// The service thread's checker: its handle once started.
pub(super) struct Lvs {
    hooks: Option<LvsHooks>,
    record: PathBuf,
    mailer: Rc<RefCell<Mailer>>,
    /// The notify FIFOs (the global and LVS ones get the checker's lines).
    fifos: Rc<RefCell<Fifos>>,
    /// The default script user, from the plan last applied.
    run_as: Rc<RefCell<RunAs>>,
    pub(super) handle: Rc<RefCell<Option<Handle>>>,
    /// Scripts still running (waited for at exit: the omega scripts).
    scripts: Rc<RefCell<Vec<tokio::task::JoinHandle<()>>>>,
}

/// How long the scripts run at exit get (keepalived gives its stop scripts one second,
/// then kills them).
const EXIT_SCRIPTS: std::time::Duration = std::time::Duration::from_secs(1);

impl Lvs {
    pub(super) fn new(
        hooks: Option<LvsHooks>,
        state_file: &Path,
        mailer: Rc<RefCell<Mailer>>,
        fifos: Rc<RefCell<Fifos>>,
    ) -> Lvs {
        Lvs {
            hooks,
            record: record::path_for(state_file),
            mailer,
            fifos,
            run_as: Rc::new(RefCell::new(RunAs::current())),
            handle: Rc::default(),
            scripts: Rc::default(),
        }
    }

    /// The plan just applied (at start or reload): starts the checker for its virtual
    /// servers, or hands it the new ones.
    pub(super) async fn apply(&self, plan: &Plan) {
        *self.run_as.borrow_mut() = plan.script_user;
        if let Some(hooks) = &self.hooks {
            (hooks.configure)(plan);
        }
        let conf = &plan.lvs.0;
        let running = self.handle.borrow().clone();
        if let Some(h) = running {
            h.reload((**conf).clone()).await;
            return;
        }
        if conf.virtual_servers.is_empty() {
            // A crashed run's entries still go.
            if let Some(hooks) = &self.hooks
                && self.record.exists()
            {
                match (hooks.ipvs)() {
                    Ok(mut ipvs) => runner::remove_leftovers(ipvs.as_mut(), &self.record),
                    Err(e) => warn!("IPVS: {e}; entries an earlier run left are not removed"),
                }
            }
            return;
        }
        let Some(hooks) = &self.hooks else {
            warn!(
                "{} virtual servers configured, but this vigild has no IPVS: they are not run",
                conf.virtual_servers.len()
            );
            return;
        };
        let ipvs = match (hooks.ipvs)() {
            Ok(i) => i,
            Err(e) => {
                error!("IPVS: {e}; virtual servers are not run");
                return;
            }
        };
        let handle = runner::spawn(
            conf,
            ipvs,
            hooks.prober.clone(),
            self.sinks(),
            Some(self.record.clone()),
        );
        *self.handle.borrow_mut() = Some(handle);
    }

    fn sinks(&self) -> Sinks {
        let run_as = self.run_as.clone();
        let mailer = self.mailer.clone();
        let scripts = self.scripts.clone();
        let fifos = self.fifos.clone();
        Sinks {
            script: Rc::new(move |cmd| {
                let who = match &cmd.user {
                    Some(u) => match RunAs::lookup(&u.user, u.group.as_deref()) {
                        Ok(w) => w,
                        Err(e) => {
                            error!("script `{}`: {e}", cmd.text);
                            return;
                        }
                    },
                    None => *run_as.borrow(),
                };
                let args = cmd.argv.clone();
                // keepalived forks the script and goes on.
                let task = tokio::task::spawn_local(async move {
                    let outcome = exec::run(&args, who, crate::notify::TIMEOUT).await;
                    if !outcome.success() {
                        warn!("Notify script `{}` failed: {outcome:?}", args.join(" "));
                    }
                });
                let mut running = scripts.borrow_mut();
                running.retain(|t| !t.is_finished());
                running.push(task);
            }),
            mail: Rc::new(move |subject, body| mailer.borrow_mut().checker_alert(subject, body)),
            fifo: Rc::new(move |line| fifos.borrow_mut().write_lvs(line)),
        }
    }

    /// At exit: the checker removes what it installed.
    pub(super) async fn stop(&self) {
        let running = self.handle.borrow_mut().take();
        if let Some(h) = running {
            h.stop().await;
        }
        let scripts = std::mem::take(&mut *self.scripts.borrow_mut());
        let all = async {
            for t in scripts {
                let _ = t.await;
            }
        };
        let _ = tokio::time::timeout(EXIT_SCRIPTS, all).await;
    }
}

/// The checker's status, when it runs.
pub(super) async fn status(handle: &Rc<RefCell<Option<Handle>>>) -> Option<LvsStatus> {
    let h = handle.borrow().clone()?;
    h.status().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lvs::Attempt;
    use crate::lvs::engine::tests::{
        Fake, Shared, eventually, key, local_runtime, one, real, sa, script, tcp,
    };
    use crate::lvs::engine::{CheckerId, runner::ProbeFuture};
    use std::sync::Arc;

    fn plan(conf: crate::config::lvs::LvsConf) -> Plan {
        Plan {
            script_user: RunAs::current(),
            lvs: super::super::plan::Lvs(Arc::new(conf), Arc::default()),
            ..Plan::default()
        }
    }

    #[test]
    fn the_daemon_starts_reloads_shows_and_stops_the_checker_and_waits_for_omega_scripts() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("down-ran");
        let table = Rc::new(RefCell::new(Fake::default()));
        let ipvs: IpvsFactory = {
            let table = table.clone();
            Rc::new(move || Ok(Box::new(Shared(table.clone())) as Box<dyn crate::lvs::ipvs::Ipvs>))
        };
        let prober: Rc<dyn Prober> = Rc::new(|_: CheckerId, _| {
            Box::pin(async { Attempt::Success { weight: None } }) as ProbeFuture
        });
        let mut c = one(vec![real("10.0.1.1:80", 1, vec![tcp(0, false)])]);
        c.virtual_servers[0].omega = true;
        let mut down = script("/bin/sh -c");
        down.argv = vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("echo down > {}", marker.display()),
        ];
        c.virtual_servers[0].real_servers[0].notify_down = Some(down);
        c.virtual_servers[0].quorum_up = None;
        c.virtual_servers[0].quorum_down = None;
        let (mailer, _sender) = Mailer::new(None);
        // An LVS and a VRRP FIFO: the checker's lines go to the first only.
        let fifo = |name: &str, kind, lines| crate::notify_fifo::Spec {
            path: dir.path().join(name),
            owner: RunAs::current(),
            script: None,
            kind,
            lines,
        };
        let specs = [
            fifo("lvs.fifo", "lvs_", crate::notify_fifo::Lines::Lvs),
            fifo("vrrp.fifo", "vrrp_", crate::notify_fifo::Lines::Vrrp),
        ];
        let fifos = Rc::new(RefCell::new(Fifos::open(&specs)));
        let lvs = Lvs::new(
            Some(LvsHooks {
                ipvs,
                prober,
                configure: Rc::new(|_: &Plan| {}),
            }),
            &dir.path().join("vigild.installed"),
            Rc::new(RefCell::new(mailer)),
            fifos.clone(),
        );
        let record = record::path_for(&dir.path().join("vigild.installed"));
        local_runtime(async {
            lvs.apply(&plan(c.clone())).await;
            let status = status(&lvs.handle).await.expect("running");
            assert_eq!(status.virtual_servers.len(), 1);
            assert!(record.exists());
            // A reload with a second real server.
            c.virtual_servers[0]
                .real_servers
                .push(real("10.0.1.2:80", 1, vec![tcp(0, false)]));
            lvs.apply(&plan(c.clone())).await;
            let has2 = || {
                table
                    .borrow()
                    .entries()
                    .get(&key("10.0.0.1:80"))
                    .is_some_and(|s| s.1.contains_key(&sa("10.0.1.2:80")))
            };
            assert!(eventually(1, has2).await);
            lvs.stop().await;
        });
        let read = |path: &Path| {
            use std::io::Read;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .unwrap();
            let mut buf = vec![0u8; 4096];
            let n = f.read(&mut buf).unwrap_or(0);
            String::from_utf8_lossy(&buf[..n]).into_owned()
        };
        // Started with its quorum; at exit (omega) both servers and the service down.
        assert_eq!(
            read(&specs[0].path),
            "VS [10.0.0.1]:tcp:80 UP\n\
             RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n\
             RS [10.0.1.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n\
             VS [10.0.0.1]:tcp:80 DOWN\n"
        );
        assert_eq!(read(&specs[1].path), "");
        fifos.borrow_mut().close();
        assert!(table.borrow().entries().is_empty());
        assert!(!record.exists());
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap_or_default(),
            "down\n",
            "omega's notify_down ran before the exit"
        );
    }

    #[test]
    fn without_ipvs_virtual_servers_are_not_run() {
        let dir = tempfile::tempdir().unwrap();
        let (mailer, _sender) = Mailer::new(None);
        let lvs = Lvs::new(
            None,
            &dir.path().join("vigild.installed"),
            Rc::new(RefCell::new(mailer)),
            Rc::default(),
        );
        local_runtime(async {
            lvs.apply(&plan(one(vec![real("10.0.1.1:80", 1, vec![])])))
                .await;
            assert!(status(&lvs.handle).await.is_none());
        });
    }
}
