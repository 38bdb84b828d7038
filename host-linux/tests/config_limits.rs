//! Bounded configuration loading (`docs/config-limits.md`): `vigild -t` on hostile or
//! absurd inputs ends promptly, within its memory bound, with a clear error, a capped list
//! of diagnostics and control characters escaped. Every run of the binary has a deadline
//! (a hang fails the test instead of blocking the suite); generated inputs live in a
//! temporary directory.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vigil_linux::config::{self, MAX_KEPT_DIAGNOSTICS, exit};

const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

/// The peak RSS `vigild -t` may reach on any input (docs/config-limits.md).
const MAX_RSS_BYTES: u64 = 160 << 20;

struct Run {
    code: i32,
    stderr: String,
    /// ru_maxrss of the child, in bytes.
    max_rss: u64,
    took: Duration,
}

/// `vigild -t -f path`, killed (and the test failed) if it runs past `deadline`. The
/// child's own peak RSS comes from wait4(2).
#[allow(clippy::zombie_processes)] // reaped by wait4(2), which std's wait() does not expose
fn config_test(path: &Path, deadline: Duration) -> Run {
    let err_path = path.with_extension("stderr");
    let err = std::fs::File::create(&err_path).expect("stderr file");
    let start = Instant::now();
    let mut child = Command::new(VIGILD)
        .arg("-t")
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("running vigild -t");
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        // SAFETY: plain wait4(2) on our own child, with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(r >= 0, "wait4: {}", std::io::Error::last_os_error());
        if r == pid {
            let took = start.elapsed();
            assert!(
                libc::WIFEXITED(status),
                "vigild -t -f {} died: status {status:#x}",
                path.display()
            );
            let stderr =
                String::from_utf8_lossy(&std::fs::read(&err_path).expect("stderr")).into_owned();
            return Run {
                code: libc::WEXITSTATUS(status),
                stderr,
                max_rss: usage.ru_maxrss as u64 * 1024,
                took,
            };
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "vigild -t -f {} still running after {deadline:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

/// Writes a file of about `size` bytes: `head`, then `unit` repeated, then `tail`.
fn generate(dir: &Path, name: &str, head: &[u8], unit: &[u8], tail: &[u8], size: usize) -> PathBuf {
    let p = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).expect("create"));
    f.write_all(head).unwrap();
    for _ in 0..size / unit.len() {
        f.write_all(unit).unwrap();
    }
    f.write_all(tail).unwrap();
    f.flush().unwrap();
    p
}

/// About `size` bytes of distinct vrrp_instance blocks (all VRID 1: an error each).
fn instances(dir: &Path, size: usize) -> PathBuf {
    let p = dir.join("instances.conf");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).expect("create"));
    let (mut written, mut i) = (0, 0);
    while written < size {
        let unit = format!("vrrp_instance V{i} {{\n interface eth0\n virtual_router_id 1\n}}\n");
        f.write_all(unit.as_bytes()).unwrap();
        written += unit.len();
        i += 1;
    }
    f.flush().unwrap();
    p
}

/// 16 384 instances with 17 excluded addresses each, then a `global_defs` of 200 000
/// lines (8.8 MB).
fn all_bounds(dir: &Path) -> PathBuf {
    let p = dir.join("all-bounds.conf");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&p).expect("create"));
    for i in 0..16_384 {
        write!(
            f,
            "vrrp_instance V{i} {{\n interface eth0\n virtual_router_id {}\n virtual_ipaddress_excluded {{\n",
            i % 255 + 1
        )
        .unwrap();
        for j in 0..17 {
            writeln!(f, "  10.{}.{j}.{}", i % 250, i / 250).unwrap();
        }
        f.write_all(b" }\n}\n").unwrap();
    }
    f.write_all(b"global_defs {\n").unwrap();
    for _ in 0..200_000 {
        f.write_all(b"  router_id lb01\n").unwrap();
    }
    f.write_all(b"}\n").unwrap();
    f.flush().unwrap();
    p
}

/// Diagnostic lines of `vigild -t` (not the summary line).
fn diagnostic_lines(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .count()
}

/// config::load in a thread, failed if it takes longer than `deadline` (a FIFO read
/// would block forever).
fn load_within(path: &Path, deadline: Duration) -> config::Loaded {
    let (tx, rx) = mpsc::channel();
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(config::load(&p));
    });
    rx.recv_timeout(deadline)
        .unwrap_or_else(|_| panic!("config::load({}) blocked", path.display()))
}

const GOOD: &str = "vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
}
";

#[test]
fn a_brace_bomb_in_include_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    // 2^24 alternatives; keepalived 2.2.7 (and vigild before) expanded and globbed each.
    let bomb = format!(
        "include {}/x/{}\n{GOOD}",
        d.path().display(),
        "{a,b}".repeat(24)
    );
    let p = write(d.path(), "keepalived.conf", bomb.as_bytes());
    let l = load_within(&p, Duration::from_secs(60));
    let e = l
        .errors()
        .find(|e| e.message.contains("brace alternatives"))
        .expect("an error for the pattern");
    assert_eq!((e.line(), e.column()), (1, 1));
    assert!(
        e.message.contains("more than vigild's limit of 4096"),
        "{e}"
    );
    let r = config_test(&p, Duration::from_secs(60));
    assert_eq!(r.code, exit::CONFIG, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("keepalived.conf:1:1: error: include pattern expands to")
    );
    // Within the limit, braces still expand (12 groups: 4096 alternatives, none exists).
    let ok = format!(
        "include {}/x/{}\n{GOOD}",
        d.path().display(),
        "{a,b}".repeat(12)
    );
    let p = write(d.path(), "ok.conf", ok.as_bytes());
    let l = load_within(&p, Duration::from_secs(60));
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
}

#[test]
fn a_fifo_as_main_configuration_is_refused_at_once() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("keepalived.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let r = config_test(&fifo, Duration::from_secs(30));
    // keepalived 2.2.7 says "is not a regular non-executable file - skipping" and exits 0
    // with nothing to run; vigild refuses it as it refuses a missing file.
    assert_eq!(r.code, exit::CONFIG, "{}", r.stderr);
    assert!(
        r.stderr.contains("it is a FIFO, not a regular file"),
        "{}",
        r.stderr
    );
    for (path, what) in [
        (Path::new("/dev/zero"), "a character device"),
        (d.path(), "a directory"),
    ] {
        let r = config_test(path, Duration::from_secs(30));
        assert_eq!(r.code, exit::CONFIG, "{}", r.stderr);
        assert!(r.stderr.contains(what), "{}", r.stderr);
    }
}

#[test]
fn a_fifo_matched_by_an_include_is_skipped() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("conf.d")).unwrap();
    write(&d.path().join("conf.d"), "a.conf", GOOD.as_bytes());
    let fifo = d.path().join("conf.d/b.conf");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let exe = write(&d.path().join("conf.d"), "c.conf", b"bogus\n");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let p = write(d.path(), "keepalived.conf", b"include conf.d/*.conf\n");
    let l = load_within(&p, Duration::from_secs(30));
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
    let skipped: Vec<_> = l
        .warnings()
        .filter(|w| {
            w.message
                .contains("not a regular non-executable file - skipping")
        })
        .collect();
    assert_eq!(
        skipped.len(),
        2,
        "the FIFO and the executable: {skipped:#?}"
    );
    assert!(skipped[0].message.contains("b.conf"), "{}", skipped[0]);
}

#[test]
fn fifty_megabytes_of_configuration_stay_within_the_memory_bound() {
    let d = tempfile::tempdir().unwrap();
    const MB50: usize = 50_000_000;
    let cases = [
        // One line: keepalived cuts lines at 1023 bytes; vigild refuses it.
        (
            generate(
                d.path(),
                "oneline.conf",
                b"global_defs { ",
                b"router_id x ",
                b"}\n",
                MB50,
            ),
            exit::CONFIG,
            "keepalived reads at most 1023 bytes of a line",
        ),
        // Top-level statements, each parsed and dropped: a warning each (counted).
        (
            generate(d.path(), "top.conf", b"", b"router_id lb01\n", b"", MB50),
            exit::CONFIG_TEST,
            "more diagnostics",
        ),
        // One block of 50 MB: kept up to the statement bound, then skipped.
        (
            generate(
                d.path(),
                "block.conf",
                b"global_defs {\n",
                b"    router_id lb01\n",
                b"}\n",
                MB50,
            ),
            exit::CONFIG,
            "vigild skips the rest of it",
        ),
        // 10 MB of instances: parsed up to the definitions bound.
        (
            instances(d.path(), MB50 / 5),
            exit::CONFIG_TEST,
            "more diagnostics",
        ),
        // Every bound reached at once: the most definitions, the most list entries, then
        // the largest statement.
        (
            all_bounds(d.path()),
            exit::CONFIG_TEST,
            "more than 262144 addresses, peers",
        ),
    ];
    for (path, code, needle) in cases {
        let r = config_test(&path, Duration::from_secs(300));
        eprintln!(
            "{}: {:?}, peak RSS {} KB",
            path.file_name().unwrap().to_string_lossy(),
            r.took,
            r.max_rss >> 10
        );
        assert_eq!(r.code, code, "{}", r.stderr);
        assert!(r.stderr.contains(needle), "{}", r.stderr);
        assert!(
            r.max_rss <= MAX_RSS_BYTES,
            "{}: peak RSS {} MB over the bound",
            path.display(),
            r.max_rss >> 20
        );
        assert!(diagnostic_lines(&r.stderr) <= MAX_KEPT_DIAGNOSTICS + 1);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn many_stray_braces_give_a_capped_list_of_diagnostics() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "open.conf", &b"{\n".repeat(200_000));
    let r = config_test(&p, Duration::from_secs(120));
    assert_eq!(r.code, exit::CONFIG_TEST, "{}", r.stderr);
    assert!(diagnostic_lines(&r.stderr) <= MAX_KEPT_DIAGNOSTICS + 1);
    // keepalived ignores each `{` ("Unexpected '{' - ignoring"): nothing nests.
    assert!(r.stderr.contains("Unexpected '{'"), "{}", r.stderr);

    let p = write(d.path(), "close.conf", &b"}\n".repeat(200_000));
    let r = config_test(&p, Duration::from_secs(120));
    assert_eq!(r.code, exit::CONFIG_TEST, "{}", r.stderr);
    assert_eq!(
        diagnostic_lines(&r.stderr),
        MAX_KEPT_DIAGNOSTICS,
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("... and 199900 more diagnostics (0 errors, 200000 warnings in all)"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_exit_code_counts_diagnostics_that_are_not_shown() {
    // 150 warnings keepalived also gives, then a script without enable_script_security:
    // keepalived exits 6, and so does vigild although the list stops at 100.
    let mut text = "bogus_keyword 1\n".repeat(150);
    text.push_str(GOOD);
    text.push_str("vrrp_script chk {\n    script /bin/true\n}\n");
    let mut l = config::load_str(Path::new("/nonexistent/k.conf"), &text);
    // /bin/true exists: the machine check finds a script (GOOD's interface need not).
    config::machine::check(&mut l, &config::machine::AnyInterface);
    let shown = |l: &config::Loaded| {
        l.diagnostics
            .iter()
            .filter(|d| d.message.contains("bogus_keyword"))
            .count()
    };
    assert_eq!(shown(&l), MAX_KEPT_DIAGNOSTICS);
    assert!(l.summary.warnings >= 150);
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST_SECURITY);
    // The first error is kept even past the cap: it says why the file is refused.
    let mut text = "bogus_keyword 1\n".repeat(150);
    text.push_str(GOOD);
    // An instance without an interface: an error keepalived shares.
    text.push_str("vrrp_instance VI_9 {\n    virtual_router_id 9\n}\n");
    let l = config::load_str(Path::new("/nonexistent/k.conf"), &text);
    assert_eq!(shown(&l), MAX_KEPT_DIAGNOSTICS);
    assert_eq!(l.diagnostics.len(), MAX_KEPT_DIAGNOSTICS + 1);
    assert!(l.summary.omitted >= 50, "{}", l.summary.omitted);
    assert!(l.diagnostics[MAX_KEPT_DIAGNOSTICS].is_error());
    assert!(l.config.is_none());
}

#[test]
fn control_characters_from_the_file_are_escaped_in_the_output() {
    let d = tempfile::tempdir().unwrap();
    // An unknown keyword with ESC, CR, NUL, BEL, DEL and C1 CSI, invalid UTF-8, in a file
    // whose name has ESC too.
    let inc = write(
        d.path(),
        "in\x1b[2Jc.conf",
        b"bad\x1b]0;owned\x07x\x00y\x7f\xc2\x9bz\xff 1\n\"q\rq\" 2\n",
    );
    assert!(inc.exists());
    let p = write(d.path(), "keepalived.conf", b"include in*.conf\n");
    let r = config_test(&p, Duration::from_secs(30));
    assert_eq!(r.code, exit::CONFIG_TEST, "{}", r.stderr);
    assert!(
        !r.stderr
            .bytes()
            .any(|b| (b < 0x20 && b != b'\n') || b == 0x7f),
        "raw control bytes in {:?}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{9b}'), "{:?}", r.stderr);
    assert!(
        r.stderr.contains(
            "in\\x1b[2Jc.conf:1:1: warning: unknown keyword `bad\\x1b]0;owned\\x07x\\0y\\x7f\\u{9b}z\u{fffd}`"
        ),
        "{:?}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("c.conf:2:1: warning: unknown keyword `q\\rq`"),
        "{:?}",
        r.stderr
    );
}

#[test]
fn a_line_longer_than_keepalived_reads_is_refused() {
    let text = format!(
        "global_defs {{\n    router_id {}\n}}\n{GOOD}",
        "r".repeat(1100)
    );
    let l = config::load_str(Path::new("/nonexistent/k.conf"), &text);
    let e = l.errors().next().expect("an error");
    assert_eq!(e.line(), 2);
    assert!(e.message.contains("line of 1114 bytes"), "{e}");
    assert_eq!(config::test_exit_code(&l), exit::CONFIG);
    // 1023 bytes is still a line.
    let text = format!(
        "global_defs {{\n    router_id {}\n}}\n{GOOD}",
        "r".repeat(1009)
    );
    let l = config::load_str(Path::new("/nonexistent/k.conf"), &text);
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
}
