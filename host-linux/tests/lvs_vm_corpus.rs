//! A differential test of IPVS tables (issue 15): every LVS configuration in
//! `tests/lvs-corpus/` (or the directory `VIGIL_LVS_CORPUS_DIR` names) runs in one qemu
//! guest, first under keepalived 2.2.7, then under vigild, and the tables the two build
//! must be the same.
//!
//! For each file and daemon: start it, wait until the table settles (unchanged for
//! [`STABLE`], after the file's `! corpus: wait N` seconds if it has one, [`SETTLE_MAX`]
//! at most), record it, stop the daemon and check it left the table empty. The record is
//! `ipvsadm -S -n` (every option of every service and destination: scheduler and its
//! flags, persistence and its mask, forwarding method, tunnel type, port and checksum,
//! weight), sorted, and `ipvsadm -Ln --thresholds` normalised (the upper and lower
//! connection thresholds, which `-S` leaves out).
//!
//! Files listed in `tests/lvs-corpus/KNOWN-DIFFERENCES` may differ (reported, not a
//! failure); a listed file that agrees fails the test: the list only shrinks. A file on
//! which keepalived builds no table fails too, unless it says `! corpus: empty-ok`.
//! `VIGIL_LVS_CORPUS_ONLY=TEXT` runs only the files whose name contains TEXT. Every
//! record, side by side, goes to `target/tmp/lvs-corpus-report.txt`. How to add a file:
//! `docs/lvs-testing.md`.
//!
//! The network is `lvs_vm.rs`'s: the guest (director) 10.78.0.2 and fd00:78::2 on a
//! bridge with nginx real servers 10.78.0.8, .9 and .30 (port 80; other ports refuse).
//! Files under `tests/lvs-corpus/files/` are pushed to `/etc/lvs/files/` (executable)
//! for MISC_CHECK scripts.

mod common;

use common::{Nginx, VIGILD};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vigil_tests::netns::{HostSpec, Lan};
use vigil_tests::vm::{Guest, GuestSpec, normalise_ipvsadm, vm_or_skip};

const GUEST_IF: &str = "eth1";
/// How long a table must stay unchanged to count as settled.
const STABLE: Duration = Duration::from_secs(2);
/// The longest a table may take to settle (beyond the file's own wait).
const SETTLE_MAX: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(250);

fn corpus_dir() -> PathBuf {
    match std::env::var_os("VIGIL_LVS_CORPUS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lvs-corpus"),
    }
}

/// The `.conf` files, sorted by name.
fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    v
}

fn name_of(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// `! corpus: ...` directives of a file: `wait N` (seconds before the table may count
/// as settled, for checkers slower than [`STABLE`]) and `empty-ok`.
#[derive(Debug, Default, PartialEq)]
struct Directives {
    wait: Duration,
    empty_ok: bool,
}

fn directives(text: &str) -> Result<Directives, String> {
    let mut d = Directives::default();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("! corpus:") else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        match words.as_slice() {
            ["wait", n] => {
                let secs: u64 = n.parse().map_err(|_| format!("bad wait: {line}"))?;
                d.wait = Duration::from_secs(secs.min(60));
            }
            ["empty-ok"] => d.empty_ok = true,
            _ => return Err(format!("unknown directive: {line}")),
        }
    }
    Ok(d)
}

/// KNOWN-DIFFERENCES: one file name a line (the first word), `#` comments.
fn known_differences(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("KNOWN-DIFFERENCES"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect()
}

/// The comparison form of the guest's table (see the module comment).
fn record(guest: &Guest) -> String {
    let ran = guest
        .run("ipvsadm -S -n && echo @@THRESHOLDS && ipvsadm -Ln --sort --thresholds")
        .expect("ipvsadm in the guest");
    assert_eq!(ran.exit, 0, "ipvsadm: {}", ran.output);
    normalise_record(&ran.output)
}

fn normalise_record(output: &str) -> String {
    let (save, thresholds) = output.split_once("@@THRESHOLDS").unwrap_or((output, ""));
    let mut lines: Vec<&str> = save
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    // "-A" (services) sorts before "-a" (destinations, which name their service).
    lines.sort_unstable();
    let mut out = lines.join("\n") + "\n";
    let t = normalise_ipvsadm(thresholds);
    if t.contains("->") {
        out.push_str("# -> ADDRESS UTHRESHOLD LTHRESHOLD\n");
        out.push_str(&t);
    }
    out
}

/// Polls until the record has stayed the same for [`STABLE`], not before `wait`; the
/// record, how long it took, and whether it settled at all.
fn settle(guest: &Guest, wait: Duration) -> (String, Duration, bool) {
    let start = Instant::now();
    let mut last = record(guest);
    let mut since = Instant::now();
    loop {
        std::thread::sleep(POLL);
        let now = record(guest);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= STABLE && start.elapsed() >= wait {
            return (last, start.elapsed(), true);
        }
        if start.elapsed() > wait + SETTLE_MAX {
            return (last, start.elapsed(), false);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Director {
    Keepalived,
    Vigild,
}

impl Director {
    fn start(self, guest: &Guest) {
        let cmd = match self {
            Director::Keepalived => {
                "keepalived -n -l -D -f /etc/lvs/corpus.conf -p /run/ka.pid \
                 -r /run/ka-vrrp.pid -c /run/ka-chk.pid >/tmp/director.log 2>&1 &"
            }
            Director::Vigild => {
                "vigild -f /etc/lvs/corpus.conf --control /run/vigild.sock \
                 >/tmp/director.log 2>&1 & echo $! >/run/vigild.pid"
            }
        };
        guest.run_ok(cmd);
    }

    /// SIGTERM, and waits (10 s at most) for the process to go; false if it had gone
    /// before (or never started) or does not go.
    fn stop(self, guest: &Guest) -> bool {
        let pidfile = match self {
            Director::Keepalived => "/run/ka.pid",
            Director::Vigild => "/run/vigild.pid",
        };
        let ran = guest
            .run(&format!(
                "pid=$(cat {pidfile}) && kill -TERM $pid || exit 2; for i in $(seq 100); do \
                 kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL $pid; exit 1"
            ))
            .expect("stopping the director");
        guest.run_ok(&format!("rm -f {pidfile}"));
        ran.exit == 0
    }
}

/// One daemon's run of one file.
struct Run {
    table: String,
    took: Duration,
    notes: Vec<String>,
    log: String,
}

fn run_one(guest: &Guest, director: Director, d: &Directives) -> Run {
    let mut notes = Vec::new();
    director.start(guest);
    let (table, took, settled) = settle(guest, d.wait);
    if !settled {
        notes.push(format!("the table did not settle within {took:.1?}"));
    }
    if !director.stop(guest) {
        notes.push("the daemon had exited, or did not stop on SIGTERM".to_owned());
    }
    // What it installed goes with it.
    let left = guest.wait_ipvs_table("", Duration::from_secs(5));
    if let Err(left) = left {
        notes.push(format!("the table was not empty after it stopped:\n{left}"));
        guest.run_ok("ipvsadm -C");
    }
    let log = guest.run("cat /tmp/director.log").unwrap().output;
    Run {
        table,
        took,
        notes,
        log,
    }
}

/// The network: the real servers' nginx and the guest on one bridge.
struct Net {
    // nginx goes before the LAN's namespaces.
    _rs: Vec<Nginx>,
    guest: Guest,
    _lan: Lan,
    _dir: tempfile::TempDir,
}

impl Net {
    fn build(test: &str) -> Net {
        let dir = common::workdir(test);
        let ips = [20u8, 8, 9, 30];
        let specs: Vec<HostSpec> = ips
            .iter()
            .map(|&i| HostSpec::v4([2, 0x78, 0, 0, 0, i], Ipv4Addr::new(10, 78, 0, i), 24))
            .collect();
        let lan = Lan::new("lvc", &specs).expect("building the LAN");
        let mut rs = Vec::new();
        for (i, body) in [(1, "rs8"), (2, "rs9"), (3, "rs30")] {
            rs.push(Nginx::start(&lan.host(i).ns, dir.path(), body));
        }
        let spec = GuestSpec::default()
            .ifname(GUEST_IF)
            .mac([0x52, 0x54, 0, 0x78, 0, 2])
            .bin(VIGILD);
        let guest = Guest::boot(&spec, &lan.bridge, Lan::BRIDGE).expect("booting the guest");
        guest.run_ok(&format!(
            "ip addr add 10.78.0.2/24 dev {GUEST_IF} && ip -6 addr add fd00:78::2/64 dev \
             {GUEST_IF} && sysctl -qw net.ipv4.ip_forward=1"
        ));
        Net {
            _rs: rs,
            guest,
            _lan: lan,
            _dir: dir,
        }
    }

    /// `files/*` to `/etc/lvs/files/`, executable.
    fn push_files(&self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir.join("files")) else {
            return;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            let dest = format!("/etc/lvs/files/{}", e.file_name().to_string_lossy());
            self.guest.push(&dest, &data).unwrap();
            self.guest.run_ok(&format!("chmod 755 {dest}"));
        }
    }
}

fn side_by_side(name: &str, ka: &Run, vg: &Run) -> String {
    let mut s = format!("=== {name}\n");
    for (who, r) in [("keepalived", ka), ("vigild", vg)] {
        let _ = writeln!(s, "--- {who} (settled after {:.1?})", r.took);
        s.push_str(if r.table.is_empty() {
            "(empty)\n"
        } else {
            &r.table
        });
        for n in &r.notes {
            let _ = writeln!(s, "! {n}");
        }
    }
    s
}

/// Lines only one side has.
fn table_diff(ka: &str, vg: &str) -> String {
    let a: Vec<&str> = ka.lines().collect();
    let b: Vec<&str> = vg.lines().collect();
    let mut s = String::new();
    for l in &a {
        if !b.contains(l) {
            let _ = writeln!(s, "  keepalived only: {l}");
        }
    }
    for l in &b {
        if !a.contains(l) {
            let _ = writeln!(s, "  vigild only:     {l}");
        }
    }
    s
}

#[test]
fn ipvs_tables_match_keepalived() {
    if !vm_or_skip("ipvs_tables_match_keepalived") {
        return;
    }
    let started = Instant::now();
    let dir = corpus_dir();
    let only = std::env::var("VIGIL_LVS_CORPUS_ONLY").unwrap_or_default();
    let known = known_differences(&dir);
    let files = corpus_files(&dir);
    let mut failures: Vec<String> = Vec::new();
    for k in &known {
        if !files.iter().any(|f| &name_of(f) == k) {
            failures.push(format!("KNOWN-DIFFERENCES lists `{k}`, which is no file"));
        }
    }
    let net = Net::build("lvs_vm_corpus");
    let guest = &net.guest;
    eprintln!(
        "lvs_vm_corpus: network and guest up in {:.1?} (boot {:.1?})",
        started.elapsed(),
        guest.boot_time()
    );
    net.push_files(&dir);
    let mut report = String::new();
    let (mut agreed, mut ran) = (0, 0);
    for f in &files {
        let name = name_of(f);
        if !name.contains(&only) {
            continue;
        }
        ran += 1;
        let t = Instant::now();
        let text = std::fs::read_to_string(f).unwrap();
        let d = match directives(&text) {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        guest.push("/etc/lvs/corpus.conf", text.as_bytes()).unwrap();
        let ka = run_one(guest, Director::Keepalived, &d);
        let vg = run_one(guest, Director::Vigild, &d);
        report.push_str(&side_by_side(&name, &ka, &vg));
        let same = ka.table == vg.table && vg.notes.len() == ka.notes.len();
        let listed = known.contains(&name);
        eprintln!(
            "lvs_vm_corpus: {name}: {} in {:.1?} (keepalived {:.1?}, vigild {:.1?})",
            if same { "same" } else { "DIFFERENT" },
            t.elapsed(),
            ka.took,
            vg.took
        );
        if ka.table.is_empty() && !d.empty_ok {
            failures.push(format!(
                "{name}: keepalived built no table (a file that tests nothing; \
                 `! corpus: empty-ok` if meant). Its log:\n{}",
                ka.log
            ));
        }
        if !ka.notes.is_empty() {
            failures.push(format!("{name}: keepalived's run: {}", ka.notes.join("; ")));
        }
        match (same, listed) {
            (true, false) => agreed += 1,
            (true, true) => failures.push(format!(
                "{name}: listed in KNOWN-DIFFERENCES but vigild now agrees: remove it"
            )),
            (false, true) => eprintln!(
                "lvs_vm_corpus: {name}: known difference:\n{}",
                table_diff(&ka.table, &vg.table)
            ),
            (false, false) => failures.push(format!(
                "{name}: vigild's table differs from keepalived's:\n{}{}\
                 vigild's log:\n{}",
                table_diff(&ka.table, &vg.table),
                vg.notes
                    .iter()
                    .map(|n| format!("  vigild: {n}\n"))
                    .collect::<String>(),
                vg.log
            )),
        }
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tmp");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("lvs-corpus-report.txt"), &report);
    eprintln!(
        "lvs_vm_corpus: {agreed} of {ran} files agree; {:.1?} in all; \
         report in target/tmp/lvs-corpus-report.txt",
        started.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn records_sort_and_keep_thresholds() {
    let out = "-a -t 10.0.0.1:80 -r 10.0.0.6:80 -i -w 3 --tun-type gre\n\
               -A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port\n\
               -a -t 10.0.0.1:80 -r 10.0.0.5:80 -m -w 0\n@@THRESHOLDS\n\
               IP Virtual Server version 1.2.1 (size=4096)\n\
               Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn\n\
               \x20 -> RemoteAddress:Port\n\
               TCP  10.0.0.1:80 mh (mh-fallback,mh-port)\n\
               \x20 -> 10.0.0.6:80                  10         5          0          0\n\
               \x20 -> 10.0.0.5:80                  0          0          0          0\n";
    assert_eq!(
        normalise_record(out),
        "-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port\n\
         -a -t 10.0.0.1:80 -r 10.0.0.5:80 -m -w 0\n\
         -a -t 10.0.0.1:80 -r 10.0.0.6:80 -i -w 3 --tun-type gre\n\
         # -> ADDRESS UTHRESHOLD LTHRESHOLD\n\
         TCP 10.0.0.1:80 mh (mh-fallback,mh-port)\n\
         \x20 -> 10.0.0.5:80 0 0\n\
         \x20 -> 10.0.0.6:80 10 5\n"
    );
    assert_eq!(normalise_record("@@THRESHOLDS\nIP Virtual Server\n"), "");
}

#[test]
fn directives_are_read_and_unknown_ones_refused() {
    let d = directives("! corpus: wait 12\n! corpus: empty-ok\n! other\n").unwrap();
    assert_eq!(
        d,
        Directives {
            wait: Duration::from_secs(12),
            empty_ok: true
        }
    );
    assert!(directives("! corpus: wiat 3\n").is_err());
    assert!(directives("! corpus: wait x\n").is_err());
}
