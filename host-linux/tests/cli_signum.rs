//! `vigild --signum=NAME` against `keepalived --signum=NAME` (Debian's 2.2.7, which
//! scripts/setup installs): the same output, stream and exit code for every name
//! keepalived knows and for names it refuses.

use std::process::Command;

const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

/// (stdout, stderr, exit code) of `program --signum=<name>` (or `--signum` alone).
fn run(program: &str, name: Option<&str>) -> (String, String, Option<i32>) {
    let arg = name.map_or("--signum".to_string(), |n| format!("--signum={n}"));
    let out = Command::new(program)
        .arg(arg)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (apt-get install keepalived): {e}"));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn signal_numbers_are_keepalived_s() {
    let names = [
        "STOP",
        "RELOAD",
        "DATA",
        "STATS",
        "STATS_CLEAR",
        "JSON",
        "TDUMP",
        "stop",
        "data",
        "",
        "NOPE",
    ];
    for name in names {
        let ours = run(VIGILD, Some(name));
        let theirs = run("keepalived", Some(name));
        assert_eq!(ours, theirs, "--signum={name}");
    }
    // Known names print a number and exit 0: the comparison is not of two refusals.
    assert_eq!(
        run(VIGILD, Some("DATA")),
        ("10\n".into(), String::new(), Some(0))
    );
    // Without a value both refuse (keepalived's getopt words that oddly).
    let (out, _, code) = run(VIGILD, None);
    assert_eq!((out.as_str(), code), ("", Some(1)));
    assert_eq!(run("keepalived", None).2, Some(1));
}
