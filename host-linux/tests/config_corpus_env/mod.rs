//! The environment of the configuration corpus (`tests/config-corpus/`, issue 12), shared
//! by its two tests: `config_corpus` (`keepalived -t` against `vigild -t`) and
//! `config_corpus_start` (the daemons started). An entry's `! corpus:` directives, the
//! network namespace they describe (interfaces, addresses) and the private mount
//! namespace (tmpfs over `/etc/keepalived` and `/usr/local`, holding the scripts).
//! The format: `tests/config-corpus/README.md`.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use vigil_tests::netns::{Netns, REQUIRE_PRIVILEGED_ENV};

pub use crate::common::{known_mismatches, run_parallel, verdict};

/// The interfaces every entry's namespace has (besides `lo`), up, without addresses.
pub const BASE_INTERFACES: &[&str] = &[
    "eth0", "eth1", "eth2", "ens32", "ens33", "ens192", "em1", "bond0",
];

/// The scripts every entry's mount namespace has (mode 0755, owner root).
pub const BASE_SCRIPTS: &[&str] = &[
    "/etc/keepalived/check_nginx.sh",
    "/etc/keepalived/nginx_pid.sh",
    "/etc/keepalived/notify.sh",
    "/etc/keepalived/check.sh",
    "/usr/local/keepalived/etc/keepalived/notify.sh",
    "/usr/local/nginx/nginx_check.sh",
    "/usr/local/bin/check.sh",
    "/usr/local/bin/notify.sh",
];

/// The two trees the mount namespace covers with a tmpfs: the only places a script may be.
pub const PRIVATE_TREES: &[&str] = &["/etc/keepalived/", "/usr/local/"];

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/config-corpus"
    ))
}

// ---------------------------------------------------------------------------------------
// Entries and their directives

#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Differs {
    pub keepalived: i32,
    pub vigild: i32,
}

/// What a daemon did when started: kept running, or exited (refused the configuration,
/// or crashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Runs,
    Exits,
}

impl Fate {
    pub fn word(self) -> &'static str {
        match self {
            Fate::Runs => "runs",
            Fate::Exits => "exits",
        }
    }
}

/// `start-differs`: a deliberate difference when the daemons are started.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StartDiffers {
    pub keepalived: Fate,
    pub vigild: Fate,
}

#[derive(Debug, Default, PartialEq)]
pub struct Directives {
    pub interfaces: Vec<String>,
    pub addresses: Vec<(String, String)>,
    pub scripts: Vec<Script>,
    pub config_id: Option<String>,
    pub differs: Option<Differs>,
    pub start_differs: Option<StartDiffers>,
}

#[derive(Debug)]
pub struct Entry {
    /// The file name, e.g. `500-global-router-id.conf`.
    pub name: String,
    pub directives: Directives,
}

/// Names and paths that go into the setup shell script unquoted: no shell syntax.
pub fn is_plain(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':'))
}

pub fn parse_interface(name: &str) -> Result<String, String> {
    if name.len() > 15 || !is_plain(name) || name.contains(['/', ':']) {
        return Err(format!("`{name}` is not an interface name"));
    }
    Ok(name.to_owned())
}

pub fn parse_script(args: &[&str]) -> Result<Script, String> {
    let (path, rest) = args
        .split_first()
        .ok_or("script needs a PATH [MODE] [UID[:GID]]")?;
    if !is_plain(path)
        || path.contains("..")
        || path.ends_with('/')
        || !PRIVATE_TREES.iter().any(|t| path.starts_with(t))
    {
        return Err(format!(
            "script `{path}`: the path must be plain and under /etc/keepalived or /usr/local"
        ));
    }
    if rest.len() > 2 {
        return Err("script takes PATH [MODE] [UID[:GID]]".to_owned());
    }
    let mode = match rest.first() {
        Some(m) => u32::from_str_radix(m, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| format!("script mode `{m}` is not octal"))?,
        None => 0o755,
    };
    let (uid, gid) = match rest.get(1) {
        Some(owner) => {
            let (u, g) = owner.split_once(':').unwrap_or((owner, "0"));
            let num = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("script owner `{owner}` is not UID[:GID]"))
            };
            (num(u)?, num(g)?)
        }
        None => (0, 0),
    };
    Ok(Script {
        path: (*path).to_owned(),
        mode,
        uid,
        gid,
    })
}

pub fn parse_differs(args: &str) -> Result<Differs, String> {
    let usage = || format!("differs needs `keepalived=K vigild=V: REASON`, got `{args}`");
    let (codes, reason) = args.split_once(':').ok_or_else(usage)?;
    if reason.trim().is_empty() {
        return Err(usage());
    }
    let mut keepalived = None;
    let mut vigild = None;
    for token in codes.split_whitespace() {
        let (who, code) = token.split_once('=').ok_or_else(usage)?;
        let code: i32 = code.parse().map_err(|_| usage())?;
        match who {
            "keepalived" if keepalived.is_none() => keepalived = Some(code),
            "vigild" if vigild.is_none() => vigild = Some(code),
            _ => return Err(usage()),
        }
    }
    Ok(Differs {
        keepalived: keepalived.ok_or_else(usage)?,
        vigild: vigild.ok_or_else(usage)?,
    })
}

pub fn parse_start_differs(args: &str) -> Result<StartDiffers, String> {
    let usage = || {
        format!(
            "start-differs needs `keepalived=runs|exits vigild=runs|exits: REASON`, got `{args}`"
        )
    };
    let (fates, reason) = args.split_once(':').ok_or_else(usage)?;
    if reason.trim().is_empty() {
        return Err(usage());
    }
    let mut keepalived = None;
    let mut vigild = None;
    for token in fates.split_whitespace() {
        let (who, fate) = token.split_once('=').ok_or_else(usage)?;
        let fate = match fate {
            "runs" => Fate::Runs,
            "exits" => Fate::Exits,
            _ => return Err(usage()),
        };
        match who {
            "keepalived" if keepalived.is_none() => keepalived = Some(fate),
            "vigild" if vigild.is_none() => vigild = Some(fate),
            _ => return Err(usage()),
        }
    }
    let d = StartDiffers {
        keepalived: keepalived.ok_or_else(usage)?,
        vigild: vigild.ok_or_else(usage)?,
    };
    if d.keepalived == d.vigild {
        return Err(format!(
            "start-differs with equal fates is no difference: `{args}`"
        ));
    }
    Ok(d)
}

/// Reads the `! corpus:` directives of an entry. Any comment line that looks like a
/// directive but is not a known one is an error (a typo must not silently change the
/// environment).
pub fn parse_directives(text: &str) -> Result<Directives, String> {
    let mut d = Directives::default();
    for (i, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}", i + 1);
        let body = line.trim_start();
        let Some(comment) = body.strip_prefix('!').or_else(|| body.strip_prefix('#')) else {
            continue;
        };
        let comment = comment.trim_start();
        if !(comment.starts_with("corpus:") || comment.starts_with("corpus ")) {
            continue;
        }
        let Some(rest) = body.strip_prefix("! corpus:") else {
            return Err(at(format!(
                "`{}`: a directive is written `! corpus: WHAT ...`",
                line.trim()
            )));
        };
        let rest = rest.trim();
        let (what, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let args = args.trim();
        let words: Vec<&str> = args.split_whitespace().collect();
        match what {
            "interface" => match words.as_slice() {
                [name] => d.interfaces.push(parse_interface(name).map_err(at)?),
                _ => return Err(at("interface takes one NAME".to_owned())),
            },
            "address" => match words.as_slice() {
                [ifname, addr] if addr.contains('/') && is_plain(addr) => {
                    d.addresses
                        .push((parse_interface(ifname).map_err(at)?, (*addr).to_owned()));
                }
                _ => return Err(at("address takes IFNAME ADDR/PREFIX".to_owned())),
            },
            "script" => d.scripts.push(parse_script(&words).map_err(at)?),
            "config-id" => match words.as_slice() {
                [id] if is_plain(id) => d.config_id = Some((*id).to_owned()),
                _ => return Err(at("config-id takes one ID".to_owned())),
            },
            "differs" => {
                if d.differs.is_some() {
                    return Err(at("differs given twice".to_owned()));
                }
                d.differs = Some(parse_differs(args).map_err(at)?);
            }
            "start-differs" => {
                if d.start_differs.is_some() {
                    return Err(at("start-differs given twice".to_owned()));
                }
                d.start_differs = Some(parse_start_differs(args).map_err(at)?);
            }
            "about:" => {}
            other => {
                return Err(at(format!(
                    "unknown directive `{other}` (known: interface, address, script, \
                     config-id, differs, start-differs, about:)"
                )));
            }
        }
    }
    Ok(d)
}

/// The entries: every top-level `*.conf` of the corpus, sorted by name.
/// The corpus directory, canonical, after checking that neither it nor vigild lies
/// under one of `trees` (the tmpfs the test mounts there would hide them).
pub fn corpus_dir_outside(trees: &[&str]) -> PathBuf {
    let dir = corpus_dir()
        .canonicalize()
        .expect("tests/config-corpus exists");
    for place in [dir.as_path(), Path::new(super::common::VIGILD)] {
        assert!(
            !trees.iter().any(|t| place.starts_with(t)),
            "{} is under a tree the test covers with a tmpfs",
            place.display()
        );
    }
    dir
}

pub fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------
// The namespaces

/// The kind of link the namespace's interfaces are: `dummy` where the kernel has it,
/// else `ifb` (a plain interface too), both switched to MULTICAST and ARP as an Ethernet
/// card is (keepalived refuses multicast on an interface without the flag).
pub fn link_kind() -> &'static str {
    static KIND: OnceLock<&'static str> = OnceLock::new();
    KIND.get_or_init(|| {
        let ns = Netns::new("vccp").expect("a namespace to probe link kinds");
        let dummy = ns
            .exec(&["ip", "link", "add", "probe0", "type", "dummy"])
            .is_ok_and(|o| o.status.success());
        if dummy { "dummy" } else { "ifb" }
    })
}

/// `ip -batch` lines that add the entry's interfaces (each with an IPv6 link-local
/// address, `fe80::N`) and addresses.
pub fn link_batch(d: &Directives) -> String {
    let kind = link_kind();
    let mut b = String::new();
    let mut seen = HashSet::new();
    for name in BASE_INTERFACES
        .iter()
        .copied()
        .chain(d.interfaces.iter().map(String::as_str))
    {
        if seen.insert(name) {
            // The link-local address is made here, without duplicate address detection,
            // instead of by the kernel a random while after the link is up (tentative
            // until then): a daemon started right after the setup sees the interface as
            // on a machine that booted, whatever the timing.
            let _ = writeln!(b, "link add {name} type {kind}");
            let _ = writeln!(b, "link set {name} addrgenmode none");
            let _ = writeln!(b, "link set {name} multicast on arp on up");
            let _ = writeln!(b, "address add fe80::{}/64 dev {name} nodad", seen.len());
        }
    }
    for (ifname, addr) in &d.addresses {
        let nodad = if addr.contains(':') { " nodad" } else { "" };
        let _ = writeln!(b, "address add {addr} dev {ifname}{nodad}");
    }
    b
}

/// The scripts of an entry (the base ones, then its own), created by the setup script.
fn scripts(d: &Directives) -> impl Iterator<Item = Script> + '_ {
    BASE_SCRIPTS
        .iter()
        .map(|p| Script {
            path: (*p).to_owned(),
            mode: 0o755,
            uid: 0,
            gid: 0,
        })
        .chain(d.scripts.iter().cloned())
}

/// The start of the shell script run inside `unshare --mount --propagation private`: a
/// tmpfs over each of `trees` (at least [`PRIVATE_TREES`]), then the scripts. It exits
/// 97 when a mount fails and 98 when a script cannot be made.
pub fn setup_script(d: &Directives, trees: &[&str]) -> String {
    let mut s = String::from("set -u\n");
    for tree in trees {
        let _ = writeln!(
            s,
            "mount -t tmpfs -o mode=0755 vigil-corpus {tree} || exit 97"
        );
    }
    for Script {
        path,
        mode,
        uid,
        gid,
    } in scripts(d)
    {
        let parent = Path::new(&path)
            .parent()
            .expect("a script path has a parent");
        let _ = writeln!(
            s,
            "mkdir -p {parent} && printf '#!/bin/sh\\nexit 0\\n' > {path} && \
             chown {uid}:{gid} {path} && chmod {mode:o} {path} || exit 98",
            parent = parent.display()
        );
    }
    s
}

/// What a setup exit code (see [`setup_script`]) says failed, if it is one of them.
pub fn setup_step(code: Option<i32>) -> Option<&'static str> {
    match code {
        Some(97) => Some("mounting the tmpfs"),
        Some(98) => Some("creating the scripts"),
        Some(99) => Some("entering the corpus directory"),
        _ => None,
    }
}

/// A fresh namespace named `PREFIX<pid>-<n>` with the entry's interfaces and addresses
/// (deleted on drop). `batch` is where the `ip -batch` file is written.
pub fn entry_netns(prefix: &str, d: &Directives, batch: &Path) -> Result<Netns, String> {
    let ns = Netns::new(prefix).map_err(|e| format!("namespace: {e}"))?;
    std::fs::write(batch, link_batch(d)).map_err(|e| format!("{}: {e}", batch.display()))?;
    let links = Command::new("ip")
        .args(["-n", ns.name(), "-batch"])
        .arg(batch)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if !links.status.success() {
        return Err(format!(
            "setting up the interfaces: {}",
            String::from_utf8_lossy(&links.stderr).trim()
        ));
    }
    Ok(ns)
}

pub fn keepalived_installed() -> bool {
    Command::new("keepalived")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `false` (with `SKIPPED`) when keepalived is missing; a panic instead under
/// `VIGIL_REQUIRE_PRIVILEGED=1`.
pub fn keepalived_or_skip(test: &str) -> bool {
    if keepalived_installed() {
        return true;
    }
    let reason = "keepalived is not installed (scripts/setup installs it)";
    if std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!("{test}: {reason}");
    }
    say(&format!("SKIPPED {test}: {reason}\n"));
    false
}

/// To stderr, past libtest's capture, so that the summary shows in CI logs.
pub fn say(text: &str) {
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// `VIGIL_CORPUS_ONLY`: only the entries whose name contains it (empty: all).
pub fn only() -> String {
    std::env::var("VIGIL_CORPUS_ONLY").unwrap_or_default()
}

/// `VIGIL_CORPUS_JOBS`: how many entries run at once, else `default`.
pub fn jobs(default: usize) -> usize {
    std::env::var("VIGIL_CORPUS_JOBS")
        .ok()
        .and_then(|j| j.parse().ok())
        .filter(|j| *j >= 1)
        .unwrap_or(default)
}

/// The entries whose name contains `only`, with their directives; an entry whose
/// directives cannot be read goes into `failures` instead.
pub fn load_entries(dir: &Path, only: &str, failures: &mut Vec<String>) -> Vec<Entry> {
    let mut todo = Vec::new();
    for p in &entries(dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains(only) {
            continue;
        }
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{name}: {e}"));
        match parse_directives(&text) {
            Ok(directives) => todo.push(Entry { name, directives }),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    todo
}

/// Reads a known list (`KNOWN-MISMATCHES`, ...) of `dir`; a listed name that is no entry
/// goes into `failures`.
pub fn known_list(dir: &Path, file: &str, failures: &mut Vec<String>) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    let known = known_mismatches(&text);
    let names: HashSet<String> = entries(dir)
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for k in &known {
        if !names.contains(k) {
            failures.push(format!("{file} lists `{k}`, which is not a corpus entry"));
        }
    }
    known
}

/// Runs `f` on every entry, `jobs` at a time; the results sorted by entry name.
pub fn run_all<T: Send>(
    todo: &[Entry],
    jobs: usize,
    f: impl Fn(&Entry) -> T + Sync,
) -> Vec<(String, T)> {
    let mut results: Vec<(String, T)> = todo
        .iter()
        .map(|e| e.name.clone())
        .zip(run_parallel(todo, jobs, f))
        .collect();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    results
}
