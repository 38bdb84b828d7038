//! Starting and stopping what is measured: vigild and keepalived (the same
//! keepalived.conf), or the floor (this binary's `floor` subcommand), in a load
//! balancer's namespace. Each runs in a process group of its own, killed on drop.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::Ctx;
use crate::topo::{Node, Topo};

/// What runs on the load balancers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Impl {
    Vigild,
    Keepalived,
    Floor,
}

impl Impl {
    pub const ALL: [Impl; 3] = [Impl::Vigild, Impl::Keepalived, Impl::Floor];

    pub fn name(self) -> &'static str {
        match self {
            Impl::Vigild => "vigild",
            Impl::Keepalived => "keepalived",
            Impl::Floor => "floor",
        }
    }
}

/// The VRRP settings of one run: every instance alike but for its VRID and interface.
#[derive(Debug, Clone)]
pub struct Setup {
    pub version: u8,
    /// advert_int, seconds (0.1 or 1 here).
    pub advert_s: f64,
    pub unicast: bool,
    /// `[(interface, vrid)]`.
    pub instances: Vec<(usize, u8)>,
}

impl Setup {
    pub fn one(version: u8, advert_s: f64, unicast: bool) -> Setup {
        Setup {
            version,
            advert_s,
            unicast,
            instances: vec![(0, 51)],
        }
    }

    /// The master-down interval of a backup of priority `prio` (RFC 5798 / 3768).
    pub fn master_down_s(&self, prio: u8) -> f64 {
        3.0 * self.advert_s + self.skew_s(prio)
    }

    pub fn skew_s(&self, prio: u8) -> f64 {
        let unit = if self.version == 2 {
            1.0
        } else {
            self.advert_s
        };
        f64::from(256 - u16::from(prio)) / 256.0 * unit
    }

    /// keepalived.conf for `node`; vigild reads the same file.
    fn keepalived_conf(&self, name: &str, node: Node, prio: u8, master: bool) -> String {
        let peer = if node == Node::Lb1 {
            Node::Lb2
        } else {
            Node::Lb1
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "global_defs {{\n    router_id {name}\n    vrrp_version {}\n}}",
            self.version
        );
        for &(k, v) in &self.instances {
            let _ = writeln!(
                s,
                "vrrp_instance VI_{k}_{v} {{\n    state {}\n    interface eth{k}\n    \
                 virtual_router_id {v}\n    priority {prio}\n    advert_int {}",
                if master { "MASTER" } else { "BACKUP" },
                self.advert_s
            );
            if self.unicast {
                let _ = writeln!(
                    s,
                    "    unicast_peer {{\n        {}\n    }}",
                    Topo::ip(k, peer.host())
                );
            }
            let _ = writeln!(
                s,
                "    virtual_ipaddress {{\n        {}/24\n    }}\n}}",
                Topo::vip(k, v)
            );
        }
        s
    }
}

/// A running implementation on one node.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// Whose CPU and memory count: vigild; keepalived's parent and VRRP child; the floor.
    pub pids: Vec<u32>,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `which` on `node` with priority `prio`, MASTER or BACKUP as configured
    /// state, and waits (at most 30 s) until it is up.
    pub fn start(
        ctx: &Ctx,
        which: Impl,
        topo: &Topo,
        node: Node,
        setup: &Setup,
        prio: u8,
        master: bool,
    ) -> io::Result<Daemon> {
        let n = ctx.next_id();
        let base = ctx.work.join(format!("{}-{n}", which.name()));
        let name = format!("{}-{n}", which.name());
        let log = base.with_extension("log");
        let conf = base.with_extension("conf");
        let ready = base.with_extension("ready");
        let vrrp_pid = base.with_extension("vrrp.pid");
        let ns = topo.ns(node);
        let mut cmd;
        match which {
            Impl::Vigild | Impl::Keepalived => {
                fs::write(&conf, setup.keepalived_conf(&name, node, prio, master))?;
                if which == Impl::Vigild {
                    cmd = ns.command(&ctx.vigild);
                    cmd.arg("-f").arg(&conf).arg("--control").arg(&ready);
                } else {
                    // -G: no syslog (no /dev/log here: glibc would write /dev/console
                    // for each message); it logs to its output like vigild.
                    cmd = ns.command(&ctx.keepalived);
                    cmd.args(["-n", "-l", "-D", "-G", "-P", "-f"])
                        .arg(&conf)
                        .arg("-p")
                        .arg(base.with_extension("pid"))
                        .arg("-r")
                        .arg(&vrrp_pid);
                }
            }
            Impl::Floor => {
                if setup.unicast {
                    return Err(io::Error::other("the floor is multicast only"));
                }
                cmd = ns.command(&ctx.me);
                let first = setup.instances.first().map_or(0, |i| i.0);
                let nif = setup.instances.iter().map(|i| i.0).max().unwrap_or(0) + 1;
                assert_eq!(first, 0);
                cmd.arg("floor")
                    .args(["--role", if master { "master" } else { "backup" }])
                    .args(["--host", &node.host().to_string()])
                    .args(["--nif", &nif.to_string()])
                    .args(["--n", &setup.instances.len().to_string()])
                    .args(["--version", &setup.version.to_string()])
                    .args([
                        "--interval-cs",
                        &((setup.advert_s * 100.0).round() as u16).to_string(),
                    ])
                    .args(["--prio", &prio.to_string()])
                    .args(["--seconds", "3600", "--ready"])
                    .arg(&ready);
            }
        }
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let out = File::options().create(true).append(true).open(&log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        let mut d = Daemon {
            pids: vec![child.id()],
            child: Some(child),
            log,
        };
        let is_ready = || match which {
            Impl::Keepalived => fs::read_to_string(&vrrp_pid).is_ok_and(|s| !s.trim().is_empty()),
            _ => ready.exists(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !is_ready() {
            if Instant::now() > deadline || ctx.stopped() || !d.alive() {
                let tail = fs::read_to_string(&d.log).unwrap_or_default();
                let tail = &tail[tail.len().saturating_sub(1500)..];
                d.kill();
                return Err(io::Error::other(format!("{name} did not start: {tail}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if which == Impl::Keepalived {
            let pid = fs::read_to_string(&vrrp_pid)?;
            d.pids.push(pid.trim().parse().map_err(io::Error::other)?);
        }
        Ok(d)
    }

    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn signal_group(&self, sig: libc::c_int) {
        if let Some(c) = &self.child {
            // SAFETY: plain kill(2) of our own child's process group.
            unsafe { libc::kill(-(c.id() as libc::pid_t), sig) };
        }
    }

    /// SIGKILL to every process of the group (a crash), reaped.
    pub fn kill(&mut self) {
        self.signal_group(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM to every process of the group, as systemd stops a unit; SIGKILL if it has
    /// not exited within 5 s.
    pub fn term(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}
