//! Running track and notify scripts as keepalived does: the configured string is split
//! into arguments (no shell), run as the script user, killed at its timeout. Never
//! blocks the event loop: everything here is async.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// keepalived's default script user, used when it exists and `script_user` is not given.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Who scripts run as (`script_user` / a script's `user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    pub const ROOT: RunAs = RunAs { uid: 0, gid: 0 };

    /// The user and group vigild itself runs as.
    pub fn current() -> RunAs {
        RunAs {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    /// keepalived's default when `script_user` is not given: the user
    /// `keepalived_script` if it exists, else the user vigild runs as (root under
    /// systemd). The flag says whether `keepalived_script` was found.
    ///
    /// Looked for in /etc/passwd only, where packages create system users: asking NSS
    /// would load its modules (libnss_systemd and what it links, 0.9 MB resident for the
    /// daemon's whole life) for a user that is almost never there. A
    /// `keepalived_script` from a network directory needs `script_user` to be named.
    pub fn keepalived_default() -> (RunAs, bool) {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        match passwd_entry(&passwd, DEFAULT_SCRIPT_USER) {
            Some(r) => (r, true),
            None => (RunAs::current(), false),
        }
    }

    /// Looks up `user [group]` as keepalived's `script_user` takes them.
    pub fn lookup(user: &str, group: Option<&str>) -> Result<RunAs, String> {
        let u = nix::unistd::User::from_name(user)
            .map_err(|e| format!("looking up user {user}: {e}"))?
            .ok_or_else(|| format!("unknown user {user}"))?;
        let gid = match group {
            Some(g) => nix::unistd::Group::from_name(g)
                .map_err(|e| format!("looking up group {g}: {e}"))?
                .ok_or_else(|| format!("unknown group {g}"))?
                .gid
                .as_raw(),
            None => u.gid.as_raw(),
        };
        Ok(RunAs {
            uid: u.uid.as_raw(),
            gid,
        })
    }
}

/// The uid and gid of `user` in passwd(5) text.
fn passwd_entry(passwd: &str, user: &str) -> Option<RunAs> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != user {
            return None;
        }
        let (_password, uid, gid) = (f.next()?, f.next()?, f.next()?);
        Some(RunAs {
            uid: uid.parse().ok()?,
            gid: gid.parse().ok()?,
        })
    })
}

/// How a script run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exited with this status (0 is success).
    Exited(i32),
    /// Killed by this signal.
    Signalled(i32),
    /// Ran past its timeout and was killed.
    TimedOut,
    /// Could not be started (missing, not executable, ...).
    SpawnFailed,
}

impl Outcome {
    pub fn success(self) -> bool {
        self == Outcome::Exited(0)
    }
}

/// Splits a keepalived script string into arguments: whitespace separates, single and
/// double quotes group, backslash escapes the next character.
pub fn split_args(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    args.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(cur);
    }
    args
}

/// Lets `cmd`'s process start with no signal blocked. vigild blocks SIGTERM and SIGINT
/// in every thread (for its signalfd) and a blocked mask survives exec: a script would
/// ignore the SIGTERM that ends it. keepalived resets its scripts' signals likewise.
pub fn unblock_signals(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls sigemptyset and
    // pthread_sigmask, both async-signal-safe, on a local set.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Runs `args` as `who`, waiting at most `timeout`; output goes to /dev/null so a chatty
/// script cannot fill a pipe and stall.
pub async fn run(args: &[String], who: RunAs, timeout: Duration) -> Outcome {
    let Some((prog, rest)) = args.split_first() else {
        return Outcome::SpawnFailed;
    };
    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, as keepalived's `system_call` (`setpgid(0, 0)`): at
        // its timeout the whole group goes, whatever the script started.
        .process_group(0)
        .kill_on_drop(true);
    unblock_signals(&mut cmd);
    // Switch only to another user; an unprivileged vigild (tests) asked for root runs
    // scripts as itself.
    let me = RunAs::current();
    if who != me && !(who == RunAs::ROOT && me.uid != 0) {
        cmd.uid(who.uid).gid(who.gid);
    }
    let Ok(mut child) = cmd.spawn() else {
        return Outcome::SpawnFailed;
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            use std::os::unix::process::ExitStatusExt;
            match (status.code(), status.signal()) {
                (Some(c), _) => Outcome::Exited(c),
                (None, Some(s)) => Outcome::Signalled(s),
                (None, None) => Outcome::SpawnFailed,
            }
        }
        Ok(Err(_)) => Outcome::SpawnFailed,
        Err(_) => {
            // keepalived (`vrrp_script_child_thread`) sends SIGTERM to the script's
            // process group, then SIGKILL to the group: what the script forked goes
            // with it, also when the script itself ended on the SIGTERM.
            use nix::sys::signal::{Signal, killpg};
            let group = child.id().map(|pid| nix::unistd::Pid::from_raw(pid as i32));
            if let Some(g) = group {
                let _ = killpg(g, Signal::SIGTERM);
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
            if let Some(g) = group {
                let _ = killpg(g, Signal::SIGKILL);
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    }
}

/// Why a script is disabled, in keepalived's words (its `Display`).
#[derive(Debug)]
pub enum ScriptError {
    Empty,
    /// Not in `PATH`.
    NotFound {
        prog: String,
    },
    /// In `PATH`, but not executable for the user.
    PathPermissions {
        prog: String,
    },
    Inaccessible {
        prog: String,
        error: std::io::Error,
    },
    NotExecutable {
        path: PathBuf,
        who: RunAs,
    },
    /// A component of its path is missing (script security).
    Missing {
        script: PathBuf,
        at: PathBuf,
        error: std::io::Error,
    },
    /// A component of its path is neither a directory (nor a file, last) nor a symlink.
    WrongType {
        script: PathBuf,
        at: PathBuf,
    },
    /// Root runs it, and someone else could change it.
    Unsafe {
        script: PathBuf,
        why: String,
    },
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ScriptError as E;
        match self {
            E::Empty => write!(f, "empty command"),
            E::NotFound { prog } => write!(f, "Cannot find script {prog} in path - disabling"),
            E::PathPermissions { prog } => {
                write!(
                    f,
                    "Permissions failure for script {prog} in path - disabling"
                )
            }
            E::Inaccessible { prog, error } => {
                write!(f, "Script {prog} cannot be accessed - {error} - disabling")
            }
            E::NotExecutable { path, who } => write!(
                f,
                "WARNING - script '{}' is not executable for uid:gid {}:{} - disabling.",
                path.display(),
                who.uid,
                who.gid
            ),
            E::Missing { script, at, error } => write!(
                f,
                "check_script_secure could not find script '{}' ({}: {error}) - disabling",
                script.display(),
                at.display()
            ),
            E::WrongType { script, at } => write!(
                f,
                "Wrong file type found in script path '{}' ({}) - disabling",
                script.display(),
                at.display()
            ),
            E::Unsafe { script, why } => write!(
                f,
                "Unsafe permissions found for script '{}' ({why}) - disabling",
                script.display()
            ),
        }
    }
}

impl std::error::Error for ScriptError {}

/// Where `execvp` finds `prog` for `who`: a name with a slash as it is; a bare name in
/// the first directory of `PATH` (glibc's default `/bin:/usr/bin` without one) holding a
/// regular file `who` may execute, as keepalived's `find_path` does.
pub fn resolve_program(prog: &str, who: RunAs) -> Result<PathBuf, ScriptError> {
    match std::env::var_os("PATH") {
        Some(path) => search_path(prog, &path, who),
        None => search_path(prog, OsStr::new("/bin:/usr/bin"), who),
    }
}

/// [`resolve_program`] with an explicit `PATH`.
pub fn search_path(prog: &str, path: &OsStr, who: RunAs) -> Result<PathBuf, ScriptError> {
    if prog.is_empty() {
        return Err(ScriptError::Empty);
    }
    if prog.contains('/') {
        return Ok(PathBuf::from(prog));
    }
    let mut denied = false;
    for dir in path.as_bytes().split(|&b| b == b':') {
        // An empty entry is the current directory, as for execvp.
        let dir = if dir.is_empty() {
            Path::new(".")
        } else {
            Path::new(OsStr::from_bytes(dir))
        };
        let candidate = dir.join(prog);
        if let Ok(md) = std::fs::metadata(&candidate) {
            if md.is_file() && is_executable(&md, who) {
                return Ok(candidate);
            }
            denied = true;
        }
    }
    let prog = prog.to_string();
    Err(if denied {
        ScriptError::PathPermissions { prog }
    } else {
        ScriptError::NotFound { prog }
    })
}

/// keepalived's `is_executable`: root needs any execute bit, others the bit of their
/// class.
fn is_executable(md: &std::fs::Metadata, who: RunAs) -> bool {
    let m = md.mode();
    (who.uid == 0 && m & 0o111 != 0)
        || (who.uid == md.uid() && m & 0o100 != 0)
        || (who.uid != md.uid()
            && ((who.gid == md.gid() && m & 0o010 != 0) || (who.gid != md.gid() && m & 0o001 != 0)))
}

/// keepalived's `enable_script_security` for one command (`argv[0]`): finds it as
/// `execvp` would ([`resolve_program`]), checks that `who` may execute it and, when it
/// runs with root's rights (user or group root, or set-uid/gid root), that neither the
/// file nor any directory on its real path (after symlinks) can be changed by anyone but
/// root. Returns the path to run (the real one when it was walked), so what was
/// checked is what runs.
pub fn secure_program(prog: &str, who: RunAs) -> Result<PathBuf, ScriptError> {
    let path = resolve_program(prog, who)?;
    let inaccessible = |error| ScriptError::Inaccessible {
        prog: prog.to_string(),
        error,
    };
    let md = std::fs::metadata(&path).map_err(inaccessible)?;
    if !md.is_file() || !is_executable(&md, who) {
        return Err(ScriptError::NotExecutable { path, who });
    }
    let m = md.mode();
    let root_rights = who.uid == 0
        || who.gid == 0
        || (md.uid() == 0 && m & 0o4100 == 0o4100)
        || (md.gid() == 0 && m & 0o2010 == 0o2010);
    if root_rights {
        // keepalived walks the real path only (`realpath`, then `check_security`): a
        // link in an open directory to a safe script is safe, a safe link to a script
        // in an open directory is not. `config::machine` applies the same rule.
        let real = std::fs::canonicalize(&path).map_err(inaccessible)?;
        check_components(&real, &path)?;
        // And, as keepalived, runs what it checked: the real path, under the name as
        // written if that names the same file there (programs may look at argv[0]).
        return Ok(same_name_in(&real, &path).unwrap_or(real));
    }
    Ok(path)
}

/// `real`'s directory joined with `written`'s file name, if that is `real` itself
/// (keepalived's `check_script_secure` keeps the name a program was called by).
fn same_name_in(real: &Path, written: &Path) -> Option<PathBuf> {
    let candidate = real.parent()?.join(written.file_name()?);
    let (a, b) = (
        std::fs::metadata(real).ok()?,
        std::fs::metadata(&candidate).ok()?,
    );
    (a.dev() == b.dev() && a.ino() == b.ino()).then_some(candidate)
}

/// keepalived's `check_security` over every prefix of `path` (not following symlinks):
/// owned by root, and neither a plain directory nor the file is writable by a non-root
/// group or by others (a sticky directory such as /tmp may be). A root-owned symlink
/// on the way is allowed: its target is checked through the canonical path.
fn check_components(path: &Path, script: &Path) -> Result<(), ScriptError> {
    let mut prefixes: Vec<&Path> = path
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    prefixes.reverse();
    let last = prefixes.len().saturating_sub(1);
    for (i, p) in prefixes.iter().enumerate() {
        let md = std::fs::symlink_metadata(p).map_err(|error| ScriptError::Missing {
            script: script.to_path_buf(),
            at: p.to_path_buf(),
            error,
        })?;
        let ft = md.file_type();
        let right_type = if i < last {
            ft.is_dir() || ft.is_symlink()
        } else {
            ft.is_file() || ft.is_symlink()
        };
        if !right_type {
            return Err(ScriptError::WrongType {
                script: script.to_path_buf(),
                at: p.to_path_buf(),
            });
        }
        let m = md.mode();
        let guarded = (ft.is_dir() && m & 0o1000 == 0) || ft.is_file();
        let writable = (md.gid() != 0 && m & 0o020 != 0) || m & 0o002 != 0;
        if md.uid() != 0 || (guarded && writable) {
            let why = if md.uid() != 0 {
                format!("{} is owned by uid {}", p.display(), md.uid())
            } else {
                format!("{} is writable by a non-root user", p.display())
            };
            return Err(ScriptError::Unsafe {
                script: script.to_path_buf(),
                why,
            });
        }
    }
    Ok(())
}

/// keepalived's `enable_script_security` check of one script path (a bare name is
/// looked up in `PATH`, as it will be run); see [`secure_program`].
pub fn check_security(script: &Path, who: RunAs) -> Result<(), ScriptError> {
    secure_program(&script.to_string_lossy(), who).map(drop)
}

#[cfg(test)]
mod tests {

    #[test]
    fn passwd_entries_as_written_by_useradd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                      keepalived_script:x:998:997::/home/keepalived_script:/usr/sbin/nologin\n\
                      broken:x:notanumber:1::/:/bin/sh\n";
        assert_eq!(
            passwd_entry(passwd, "keepalived_script"),
            Some(RunAs { uid: 998, gid: 997 })
        );
        assert_eq!(passwd_entry(passwd, "root"), Some(RunAs { uid: 0, gid: 0 }));
        assert_eq!(passwd_entry(passwd, "keepalived"), None, "no prefix match");
        assert_eq!(passwd_entry(passwd, "broken"), None);
        assert_eq!(passwd_entry("", "root"), None);
    }
    use super::*;

    #[test]
    fn splits_like_keepalived() {
        assert_eq!(split_args("killall -0 nginx"), ["killall", "-0", "nginx"]);
        assert_eq!(
            split_args(r#"/bin/sh -c "curl -sf http://127.0.0.1/ >/dev/null""#),
            ["/bin/sh", "-c", "curl -sf http://127.0.0.1/ >/dev/null"]
        );
        assert_eq!(split_args("a\\ b  'c d' \"\""), ["a b", "c d", ""]);
        assert!(split_args("   ").is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn outcomes() {
        let t = Duration::from_secs(5);
        let me = RunAs {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        };
        assert_eq!(run(&split_args("true"), me, t).await, Outcome::Exited(0));
        assert_eq!(run(&split_args("false"), me, t).await, Outcome::Exited(1));
        assert_eq!(
            run(&split_args("/nonexistent/x"), me, t).await,
            Outcome::SpawnFailed
        );
        let slow = run(&split_args("sleep 5"), me, Duration::from_millis(50)).await;
        assert_eq!(slow, Outcome::TimedOut);
    }

    /// A script killed at its timeout takes what it forked with it (keepalived kills
    /// the script's process group): a sleeper that would end on SIGTERM, and one that
    /// ignores SIGTERM (so does the script itself, which then needs the SIGKILL).
    #[tokio::test(flavor = "current_thread")]
    async fn a_timeout_kills_what_the_script_forked() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let script = format!(
            "sleep 30 & echo $! > {p}; trap '' TERM; sleep 31 & echo $! >> {p}; wait",
            p = pids.display()
        );
        let args = vec!["/bin/sh".to_string(), "-c".to_string(), script];
        let started = std::time::Instant::now();
        let out = run(&args, RunAs::current(), Duration::from_millis(300)).await;
        assert_eq!(out, Outcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = std::fs::read_to_string(&pids).unwrap();
        let sleepers: Vec<i32> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
        assert_eq!(sleepers.len(), 2, "{text}");
        // Gone, or a zombie waiting for init to reap it (bounded: 2 s).
        let dead = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        };
        for _ in 0..200 {
            if sleepers.iter().all(|&p| dead(p)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for p in sleepers {
            assert!(dead(p), "sleeper {p} outlived its script");
        }
    }

    fn exe(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn bare_names_resolve_through_path_like_execvp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // Not executable in the first directory, executable in the second.
        exe(&a.join("chk"), 0o644);
        exe(&b.join("chk"), 0o755);
        let path = std::ffi::OsString::from(format!("{}:{}", a.display(), b.display()));
        let me = RunAs::current();
        assert_eq!(search_path("chk", &path, me).unwrap(), b.join("chk"));
        // A name with a slash is not searched.
        assert_eq!(
            search_path("./chk", &path, me).unwrap(),
            PathBuf::from("./chk")
        );
        let only_a = std::ffi::OsString::from(a.display().to_string());
        let e = search_path("chk", &only_a, me).unwrap_err().to_string();
        assert!(e.contains("Permissions failure"), "{e}");
        let e = search_path("nothere", &path, me).unwrap_err().to_string();
        assert!(e.contains("Cannot find script nothere in path"), "{e}");

        // The real PATH: `sh` is found where execvp finds it, and it is safe for root.
        let sh = secure_program("sh", RunAs::ROOT).unwrap();
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert!(check_security(Path::new("sh"), RunAs::ROOT).is_ok());

        // A directory others can write to makes what it holds unsafe for root.
        std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = secure_program(&b.join("chk").display().to_string(), RunAs::ROOT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is writable by a non-root user"), "{e}");
        assert!(e.contains(&b.display().to_string()), "{e}");
    }

    #[test]
    fn security_follows_symlinks_and_checks_executability() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("real.sh");
        exe(&f, 0o755);
        // A link to a safe file is as safe as the file (when the link's directory is).
        let link = dir.path().join("link.sh");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        let safe_owner = nix::unistd::geteuid().is_root();
        assert_eq!(
            secure_program(&link.display().to_string(), RunAs::ROOT).is_ok(),
            safe_owner
        );
        // Not executable for the script user.
        let g = dir.path().join("data");
        exe(&g, 0o644);
        let nobody = RunAs {
            uid: 65534,
            gid: 65534,
        };
        let e = secure_program(&g.display().to_string(), nobody)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is not executable for uid:gid 65534:65534"),
            "{e}"
        );
        // A link in a world-writable directory to a safe script is safe (keepalived
        // walks the real path only).
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        let open_link = open.join("link.sh");
        std::os::unix::fs::symlink(&f, &open_link).unwrap();
        assert_eq!(
            secure_program(&open_link.display().to_string(), RunAs::ROOT).is_ok(),
            safe_owner
        );
        // A script in a world-writable file is unsafe through the link too.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(secure_program(&link.display().to_string(), RunAs::ROOT).is_err());
    }

    #[test]
    fn security_refuses_world_writable_scripts() {
        let dir = std::env::temp_dir().join(format!("vigil-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("check.sh");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_security(&f, RunAs::ROOT).is_err());
        assert!(
            check_security(
                &f,
                RunAs {
                    uid: 1000,
                    gid: 1000
                }
            )
            .is_ok()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
