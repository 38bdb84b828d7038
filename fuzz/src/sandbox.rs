//! Where the `config_load` target's `include` lines land: a directory of its own under
//! `$TMPDIR` (run.sh points that at a directory it removes afterwards), with a few files
//! for the include code to find. Inputs whose include lines could leave it are skipped.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The include targets: a VRRP instance, global settings, a file that includes itself
/// (a cycle), an executable file and a directory (both skipped as keepalived does), and
/// bytes that are not UTF-8.
const FILES: &[(&str, &[u8])] = &[
    (
        "instance.conf",
        b"vrrp_instance INC {\n    interface eth0\n    virtual_router_id 7\n    priority 50\n    virtual_ipaddress {\n        192.0.2.7/24\n    }\n}\n",
    ),
    (
        "globals.conf",
        b"global_defs {\n    router_id fuzz\n    vrrp_version 3\n    enable_script_security\n}\n",
    ),
    ("cycle.conf", b"include cycle.conf\n"),
    ("latin1.conf", b"global_defs {\n    router_id caf\xe9\n}\n"),
];

/// The directory and the name the fuzzed text is read as (it exists, so that including
/// it is a cycle).
#[derive(Debug)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub main: PathBuf,
}

impl Sandbox {
    pub fn create() -> Sandbox {
        let dir = std::env::temp_dir().join(format!("vigil-fuzz-config-{}", std::process::id()));
        fs::create_dir_all(dir.join("subdir")).expect("sandbox directory");
        for (name, text) in FILES {
            fs::write(dir.join(name), text).expect("sandbox file");
        }
        let exec = dir.join("script.conf");
        fs::write(&exec, b"vrrp_instance EXEC {\n}\n").expect("sandbox file");
        fs::set_permissions(&exec, fs::Permissions::from_mode(0o755)).expect("chmod");
        let main = dir.join("keepalived.conf");
        fs::write(&main, b"# the fuzzed text is read under this name\n").expect("sandbox file");
        let dir = fs::canonicalize(&dir).expect("canonical sandbox");
        let main = dir.join("keepalived.conf");
        Sandbox { dir, main }
    }
}

/// Whether every include in `text` stays in the sandbox. The lexer takes a line that is
/// exactly `include PATTERN` (or a variant) and resolves PATTERN relative to the including
/// file; with no `/` on the line the pattern names entries of the sandbox directory only
/// (`..` is a directory there, which includes skip). Lines are split as the lexer splits
/// them, at `\n`; an `include` word cannot be formed across a comment or escape, so a
/// line without the letters `include` is no include.
pub fn includes_stay_inside(text: &str) -> bool {
    text.split('\n')
        .all(|line| !line.contains("include") || !line.contains('/'))
}

/// Keeps panic messages visible when stderr is closed: vigild's loader logs to stderr
/// (unknown script users and the like), thousands of lines a second under the fuzzer, so
/// run.sh closes it (libFuzzer's `-close_fd_mask=2`, which keeps libFuzzer's own output).
/// This runs before libFuzzer closes it and copies each panic message to a duplicate.
pub fn panic_messages_to_saved_stderr() {
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return;
    };
    let saved = fs::File::from(fd);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = writeln!(&saved, "{info}");
        previous(info);
    }));
}
