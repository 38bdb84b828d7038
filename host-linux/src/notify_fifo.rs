//! Notify FIFOs (`notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo` and their
//! `_script`s) as keepalived 2.2.7 keeps them (`lib/notify.c`, `vrrp/vrrp_notify.c`,
//! `check/ipwrapper.c`): every notification is written as one line, VRRP's
//! `INSTANCE "VI_1" MASTER 100` or `GROUP "G" BACKUP 0` to the global and the VRRP
//! FIFO, LVS's `VS [10.0.0.1]:tcp:80 UP` or `RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80
//! DOWN` to the global and the LVS FIFO.
//!
//! Opening: `mkfifo` with mode 0644 (and, when created, `chown` to the FIFO's user),
//! an existing one is used as it is; the FIFO's script is started with the FIFO's name
//! as last argument, then the FIFO is opened read-write and non-blocking, so neither
//! the open nor a write waits for a reader: without one, lines fill the pipe buffer and
//! then are dropped, as keepalived drops them. Closing unlinks a FIFO vigild created
//! (first, so a script that reopens it cannot), then closes it; the script sees the end
//! of its input.

use crate::exec::RunAs;
use crate::notify::{Kind, Script};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One configured FIFO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub path: PathBuf,
    /// Who owns a FIFO vigild creates (its `user [group]`, else the script user).
    pub owner: RunAs,
    /// Its script, the FIFO's name already appended, with its user.
    pub script: Option<Script>,
    /// `""` for `notify_fifo`, `"vrrp_"` for `vrrp_notify_fifo`, `"lvs_"` for
    /// `lvs_notify_fifo` (log lines).
    pub kind: &'static str,
    /// Which notifications it gets.
    pub lines: Lines,
}

/// The notifications a FIFO gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `notify_fifo` (and a `vrrp_notify_fifo` that is also the `lvs_notify_fifo`).
    All,
    /// `vrrp_notify_fifo`.
    Vrrp,
    /// `lvs_notify_fifo`.
    Lvs,
}

impl Lines {
    fn carries(self, what: Lines) -> bool {
        self == Lines::All || self == what
    }
}

#[derive(Debug)]
struct Open {
    path: PathBuf,
    file: File,
    created: bool,
    lines: Lines,
    /// The script's pid, and whether the task waiting for it has reaped it (the pid
    /// is then no longer its own).
    script: Option<(u32, Arc<AtomicBool>)>,
}

/// The open FIFOs.
#[derive(Debug, Default)]
pub struct Fifos {
    open: Vec<Open>,
}

/// keepalived's line for `name` entering `state`: `TYPE "NAME" STATE PRIORITY\n`.
pub fn line(kind: Kind, name: &str, state: &str, priority: u8) -> String {
    let kind = match kind {
        Kind::Instance => "INSTANCE",
        Kind::Group => "GROUP",
    };
    format!("{kind} \"{name}\" {state} {priority}\n")
}

/// keepalived's line for a virtual server whose quorum went up or down
/// (`notify_fifo_vs`): `VS NAME UP|DOWN\n`, the name as in the log (`FMT_VS`).
pub fn vs_line(vs: &str, up: bool) -> String {
    format!("VS {vs} {}\n", if up { "UP" } else { "DOWN" })
}

/// keepalived's line for a real server that went up or down (`notify_fifo_rs`):
/// `RS RS_NAME VS_NAME UP|DOWN\n`.
pub fn rs_line(rs: &str, vs: &str, up: bool) -> String {
    format!("RS {rs} {vs} {}\n", if up { "UP" } else { "DOWN" })
}

impl Fifos {
    /// Creates and opens each FIFO, starting its script first. Must run inside a
    /// tokio runtime (the scripts are reaped by a task). A FIFO that cannot be created
    /// or opened is left out, with keepalived's log line.
    pub fn open(specs: &[Spec]) -> Fifos {
        let mut open = Vec::new();
        for spec in specs {
            if let Some(o) = open_one(spec) {
                open.push(o);
            }
        }
        Fifos { open }
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Writes a VRRP `line` to the global and VRRP FIFOs; never waits (a full or
    /// unread FIFO drops it).
    pub fn write(&mut self, line: &str) {
        self.write_to(Lines::Vrrp, line);
    }

    /// Writes an LVS `line` to the global and LVS FIFOs, likewise.
    pub fn write_lvs(&mut self, line: &str) {
        self.write_to(Lines::Lvs, line);
    }

    fn write_to(&mut self, what: Lines, line: &str) {
        for o in self.open.iter_mut().filter(|o| o.lines.carries(what)) {
            // One write of less than PIPE_BUF bytes: atomic, whole or not at all.
            let _ = o.file.write(line.as_bytes());
        }
    }

    /// SIGTERM to the FIFO scripts still running (keepalived, stopping, ends its
    /// scripts before writing the STOP lines).
    pub fn end_scripts(&mut self) {
        for o in &mut self.open {
            // Now, not from a task: the STOP lines are written next.
            if let Some((pid, reaped)) = o.script.take()
                && !reaped.load(Ordering::Acquire)
            {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }

    /// Unlinks the FIFOs vigild created, then closes them all.
    pub fn close(&mut self) {
        for o in self.open.drain(..) {
            if o.created {
                let _ = std::fs::remove_file(&o.path);
            }
            drop(o.file);
        }
    }
}

impl Drop for Fifos {
    fn drop(&mut self) {
        self.close();
    }
}

fn open_one(spec: &Spec) -> Option<Open> {
    use nix::sys::stat::Mode;
    let mode = Mode::S_IRUSR | Mode::S_IWUSR | Mode::S_IRGRP | Mode::S_IROTH;
    let created = match nix::unistd::mkfifo(&spec.path, mode) {
        Ok(()) => {
            let me = RunAs::current();
            if spec.owner != me {
                let uid = (spec.owner.uid != me.uid).then_some(spec.owner.uid.into());
                let gid = (spec.owner.gid != me.gid).then_some(spec.owner.gid.into());
                if nix::unistd::chown(&spec.path, uid, gid).is_err() {
                    info!("Failed to set uid:gid for fifo {}", spec.path.display());
                }
            }
            true
        }
        Err(nix::errno::Errno::EEXIST) => false,
        Err(_) => {
            info!(
                "Unable to create {}notify fifo {}",
                spec.kind,
                spec.path.display()
            );
            return None;
        }
    };
    let script = spec
        .script
        .as_ref()
        .and_then(|s| start_script(s, spec.kind));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&spec.path);
    match file {
        Ok(file) => Some(Open {
            path: spec.path.clone(),
            file,
            created,
            lines: spec.lines,
            script,
        }),
        Err(e) => {
            info!(
                "Unable to open {}notify fifo {} - errno {}",
                spec.kind,
                spec.path.display(),
                e.raw_os_error().unwrap_or(0)
            );
            if created {
                let _ = std::fs::remove_file(&spec.path);
            }
            None
        }
    }
}

/// Starts a FIFO's script, which runs as long as it likes (keepalived: no timeout);
/// a task reaps it and logs its end as keepalived does.
fn start_script(script: &Script, kind: &'static str) -> Option<(u32, Arc<AtomicBool>)> {
    // keepalived logs the end with the name of the process that ran it.
    let process = if kind == "lvs_" { "lvs" } else { "vrrp" };
    let (prog, rest) = script.argv.split_first()?;
    let mut cmd = tokio::process::Command::new(prog);
    cmd.args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // keepalived: each script in its own process group, which is what it ends.
        .process_group(0);
    crate::exec::unblock_signals(&mut cmd);
    let me = RunAs::current();
    if let Some(who) = script.run_as
        && who != me
        && !(who == RunAs::ROOT && me.uid != 0)
    {
        cmd.uid(who.uid).gid(who.gid);
    }
    match cmd.spawn() {
        Ok(mut child) => {
            let pid = child.id()?;
            let reaped = Arc::new(AtomicBool::new(false));
            let flag = reaped.clone();
            tokio::spawn(async move {
                let _ = child.wait().await;
                flag.store(true, Ordering::Release);
                info!("{process} notify fifo script terminated");
            });
            Some((pid, reaped))
        }
        Err(e) => {
            warn!("notify fifo script `{prog}` could not be started: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn keepalived_line_format() {
        assert_eq!(
            line(Kind::Instance, "VI_1", "MASTER", 100),
            "INSTANCE \"VI_1\" MASTER 100\n"
        );
        assert_eq!(line(Kind::Group, "G", "STOP", 0), "GROUP \"G\" STOP 0\n");
    }

    #[test]
    fn keepalived_lvs_line_formats() {
        assert_eq!(
            vs_line("[10.0.0.1]:tcp:80", true),
            "VS [10.0.0.1]:tcp:80 UP\n"
        );
        assert_eq!(vs_line("FWM 7", false), "VS FWM 7 DOWN\n");
        assert_eq!(
            rs_line("[10.0.1.1]:tcp:80", "[10.0.0.1]:tcp:80", false),
            "RS [10.0.1.1]:tcp:80 [10.0.0.1]:tcp:80 DOWN\n"
        );
        assert_eq!(
            rs_line("[fd00::1]:udp:53", "[VSG]:0", true),
            "RS [fd00::1]:udp:53 [VSG]:0 UP\n"
        );
    }

    fn read_all(path: &std::path::Path) -> String {
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap();
        let mut buf = vec![0u8; 4096];
        match reader.read(&mut buf) {
            Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// VRRP lines go to the global and VRRP FIFOs, LVS lines to the global and LVS
    /// FIFOs, never across (keepalived: each process writes its own FIFO).
    #[tokio::test(flavor = "current_thread")]
    async fn lines_go_only_to_their_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let spec = |name: &str, kind, lines| Spec {
            path: dir.path().join(name),
            owner: RunAs::current(),
            script: None,
            kind,
            lines,
        };
        let specs = [
            spec("global", "", Lines::All),
            spec("vrrp", "vrrp_", Lines::Vrrp),
            spec("lvs", "lvs_", Lines::Lvs),
        ];
        let mut f = Fifos::open(&specs);
        // Readers first: the FIFOs stay open read-write, so reads see what is queued.
        let vrrp = line(Kind::Instance, "VI_1", "MASTER", 100);
        let lvs = rs_line("[10.0.1.1]:tcp:80", "[10.0.0.1]:tcp:80", true);
        f.write(&vrrp);
        f.write_lvs(&lvs);
        assert_eq!(read_all(&specs[0].path), format!("{vrrp}{lvs}"));
        assert_eq!(read_all(&specs[1].path), vrrp);
        assert_eq!(read_all(&specs[2].path), lvs);
        f.close();
    }

    /// The LVS FIFO's script is started with the FIFO's name last and reads the LVS
    /// lines; closing the FIFO ends its input.
    #[tokio::test(flavor = "current_thread")]
    async fn the_lvs_fifo_script_reads_the_lvs_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lvs.fifo");
        let out = dir.path().join("copy");
        let spec = Spec {
            path: path.clone(),
            owner: RunAs::current(),
            script: Some(Script {
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    format!("cat \"$0\" > {}", out.display()),
                    path.display().to_string(),
                ],
                run_as: None,
            }),
            kind: "lvs_",
            lines: Lines::Lvs,
        };
        let mut f = Fifos::open(&[spec]);
        let lvs = vs_line("[10.0.0.1]:tcp:80", false);
        f.write(&line(Kind::Instance, "VI_1", "MASTER", 100));
        f.write_lvs(&lvs);
        // cat copies as it reads; the FIFO stays open until then.
        let mut copy = String::new();
        for _ in 0..100 {
            copy = std::fs::read_to_string(&out).unwrap_or_default();
            if !copy.is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        f.close();
        assert_eq!(copy, lvs);
    }

    /// Without a reader, writes neither block nor fail loudly; a reader opened later
    /// reads what fitted; the FIFO vigild created is removed on close.
    #[tokio::test(flavor = "current_thread")]
    async fn writes_never_block_and_close_unlinks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        let spec = Spec {
            path: path.clone(),
            owner: RunAs::current(),
            script: None,
            kind: "vrrp_",
            lines: Lines::Vrrp,
        };
        let mut f = Fifos::open(std::slice::from_ref(&spec));
        assert!(!f.is_empty());
        // Far more than a pipe holds (64 KiB): must return, dropping the excess.
        let one = line(Kind::Instance, "VI_1", "BACKUP", 100);
        for _ in 0..10_000 {
            f.write(&one);
        }
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0);
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with(&one));
        f.close();
        assert!(!path.exists());
    }

    /// An existing FIFO is used and left in place.
    #[tokio::test(flavor = "current_thread")]
    async fn existing_fifo_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fifo");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let spec = Spec {
            path: path.clone(),
            owner: RunAs::current(),
            script: None,
            kind: "",
            lines: Lines::All,
        };
        let mut f = Fifos::open(&[spec]);
        assert!(!f.is_empty());
        f.close();
        assert!(path.exists());
    }
}
