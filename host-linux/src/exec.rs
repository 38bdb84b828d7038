//! Running track and notify scripts as keepalived does: the configured string is split
//! into arguments (no shell), run as the script user, killed at its timeout. Never
//! blocks the event loop: everything here is async.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// Who scripts run as (`script_user` / a script's `user`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    pub const ROOT: RunAs = RunAs { uid: 0, gid: 0 };

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
        .kill_on_drop(true);
    if who != RunAs::ROOT || nix::unistd::geteuid().is_root() {
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
            // keepalived sends SIGTERM, then SIGKILL; kill_on_drop covers the second.
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
            let _ = child.start_kill();
            let _ = child.wait().await;
            Outcome::TimedOut
        }
    }
}

/// keepalived's `enable_script_security` check: a script run as root must not be
/// writable by anyone but root, nor may any directory on its path be.
pub fn check_security(script: &Path, who: RunAs) -> Result<(), String> {
    if who.uid != 0 {
        return Ok(());
    }
    let mut p = Some(script);
    while let Some(path) = p {
        if path.as_os_str().is_empty() {
            break;
        }
        let md = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let writable_by_others = md.mode() & 0o022 != 0;
        let sticky_dir = md.is_dir() && md.mode() & 0o1000 != 0;
        if md.uid() != 0 || (writable_by_others && !sticky_dir) {
            return Err(format!(
                "unsafe permissions found for script '{}' ({} is writable by a non-root user) \
                 - disabling",
                script.display(),
                path.display()
            ));
        }
        p = path.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
