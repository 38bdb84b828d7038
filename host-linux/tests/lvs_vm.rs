//! LVS virtual servers on a real IPVS kernel (issue 15), in a qemu guest
//! (`vigil_tests::vm`): the director runs in the guest, the real servers are nginx in
//! host namespaces on the guest's bridge, a client namespace requests the VIPs.
//!
//! The scenarios run against a director daemon: keepalived now, which records what
//! it builds (the IPVS tables below are keepalived 2.2.7's, checked on every run, and
//! its checker log phrases are kept in `tests/lvs_vm/keepalived-phrases.txt`, rewritten
//! by a run with `VIGIL_LVS_RECORD=1`), and vigild, held to the same tables and
//! phrases.
//!
//! One guest boot per director: the scenarios run one after the other in it.
//!
//! Addresses (one bridge): client 10.78.0.20 and 10.79.0.20, the guest (director)
//! 10.78.0.2 and 10.79.0.2, real servers 10.78.0.8 and .9, a third server .30 (the
//! sorry server, and the real server a reload adds). DR VIPs 10.78.0.100/.101 (the
//! seed's 10.16.8.x mapped to 10.78.0.x), the NAT VIP 10.79.0.100: the real servers
//! route 10.79.0.0/24 through the guest, so NAT replies pass it.

mod common;

use common::{Nginx, VIGILD, http_get, in_netns, wait_for};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_tests::netns::{HostSpec, Lan};
use vigil_tests::vm::{Guest, GuestSpec, normalise_ipvsadm, shell_quote, vm_or_skip};

const GUEST_IF: &str = "eth1";
const VIP1: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 100);
const VIP2: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 101);
const NAT_VIP: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 100);

/// The director daemon under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Director {
    Keepalived,
    Vigild,
}

impl Director {
    fn name(self) -> &'static str {
        match self {
            Director::Keepalived => "keepalived",
            Director::Vigild => "vigild",
        }
    }

    /// Starts the daemon on `/etc/lvs/NAME.conf` (pushed before), its log in
    /// `/tmp/director.log`.
    fn start(self, guest: &Guest, conf: &str) {
        guest
            .push("/etc/lvs/director.conf", conf.as_bytes())
            .unwrap();
        let cmd = match self {
            Director::Keepalived => {
                "keepalived -n -l -D -f /etc/lvs/director.conf -p /run/ka.pid \
                 -r /run/ka-vrrp.pid -c /run/ka-chk.pid >>/tmp/director.log 2>&1 &"
            }
            Director::Vigild => {
                "vigild -f /etc/lvs/director.conf --control /run/vigild.sock \
                 >>/tmp/director.log 2>&1 & echo $! >/run/vigild.pid"
            }
        };
        guest.run_ok(cmd);
    }

    fn pidfile(self) -> &'static str {
        match self {
            Director::Keepalived => "/run/ka.pid",
            Director::Vigild => "/run/vigild.pid",
        }
    }

    /// Pushes a new configuration and sends SIGHUP.
    fn reload(self, guest: &Guest, conf: &str) {
        guest
            .push("/etc/lvs/director.conf", conf.as_bytes())
            .unwrap();
        guest.run_ok(&format!("kill -HUP $(cat {})", self.pidfile()));
    }

    /// SIGTERM, and waits (10 s at most) for the process to go.
    fn stop(self, guest: &Guest) {
        let pidfile = self.pidfile();
        guest.run_ok(&format!(
            "pid=$(cat {pidfile}); kill -TERM $pid; for i in $(seq 100); do \
             kill -0 $pid 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
        ));
    }

    fn log(self, guest: &Guest) -> String {
        guest.run("cat /tmp/director.log").unwrap().output
    }
}

/// The checker's transitions in a director's log, without timestamps, pids and
/// daemon prefixes: what vigild's log is compared with.
fn checker_phrases(log: &str) -> Vec<String> {
    const MARKS: [&str; 8] = [
        "service [",
        "VS [",
        "sorry",
        "quorum",
        "_CHECK",
        "Remote Web server",
        "HTTP status",
        "TCP connection",
    ];
    log.lines()
        .filter(|l| MARKS.iter().any(|m| l.contains(m)))
        .map(|l| strip_log_prefix(l).trim().to_owned())
        .collect()
}

/// A log line without its timestamp: keepalived's `-l` console form
/// `Mon Dec  7 08:00:00 2026: text`, or vigild's `2026-12-07 08:00:00.123 text`.
fn strip_log_prefix(line: &str) -> &str {
    let b = line.as_bytes();
    let vigild_stamp = b.len() > 24
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[10] == b' '
        && b[13] == b':';
    if vigild_stamp {
        return line
            .split_once(' ')
            .and_then(|(_, rest)| rest.split_once(' '))
            .map_or(line, |(_, text)| text);
    }
    match line.find(": ") {
        Some(i) if line[..i].matches(':').count() >= 2 => &line[i + 2..],
        _ => line,
    }
}

/// Phrases by section (`# ...` lines), as sets: concurrent checkers log in any order,
/// and how often a success repeats depends on timing.
/// `... failed after N retries.` as `... failed.`: keepalived itself logs either for the
/// same scenario from run to run (whether the checker's first attempt had run when the
/// server died: its `has_run`), so the form is timing, not behaviour.
fn without_retry_count(line: &str) -> String {
    match line.find(" failed after ") {
        Some(i) if line.ends_with(" retries.") || line.ends_with(" retry.") => {
            format!("{} failed.", &line[..i])
        }
        _ => line.to_owned(),
    }
}

fn phrase_sets(text: &str) -> Vec<(String, std::collections::BTreeSet<String>)> {
    let mut out: Vec<(String, std::collections::BTreeSet<String>)> = Vec::new();
    for line in text.lines() {
        match line.strip_prefix("# ") {
            Some(section) => out.push((section.to_owned(), Default::default())),
            None if out.is_empty() => out.push((String::new(), [line.to_owned()].into())),
            None => {
                out.last_mut().unwrap().1.insert(without_retry_count(line));
            }
        }
    }
    out
}

/// The test network: the LAN, the real servers' nginx, and the guest.
struct Net {
    // nginx goes before the LAN's namespaces.
    rs: Vec<Nginx>,
    director: Director,
    guest: Guest,
    lan: Lan,
    _dir: tempfile::TempDir,
}

impl Net {
    /// Client (host 0), real servers 10.78.0.8 (host 1), .9 (host 2), .30 (host 3).
    fn build(director: Director, test: &str) -> Net {
        let dir = common::workdir(test);
        let ips = [20u8, 8, 9, 30];
        let specs: Vec<HostSpec> = ips
            .iter()
            .map(|&i| HostSpec::v4([2, 0x78, 0, 0, 0, i], Ipv4Addr::new(10, 78, 0, i), 24))
            .collect();
        let lan = Lan::new("lvs", &specs).expect("building the LAN");
        let client = &lan.host(0).ns;
        client
            .exec_ok(&["ip", "addr", "add", "10.79.0.20/24", "dev", "eth0"])
            .unwrap();
        let mut rs = Vec::new();
        for (i, body) in [(1, "rs8"), (2, "rs9"), (3, "rs30")] {
            let ns = &lan.host(i).ns;
            // DR: the VIPs on lo, never answered for in ARP; NAT: back through the
            // director.
            for vip in [VIP1, VIP2] {
                ns.exec_ok(&["ip", "addr", "add", &format!("{vip}/32"), "dev", "lo"])
                    .unwrap();
            }
            for key in ["all", "eth0"] {
                ns.sysctl(&format!("net.ipv4.conf.{key}.arp_ignore"), "1")
                    .unwrap();
                ns.sysctl(&format!("net.ipv4.conf.{key}.arp_announce"), "2")
                    .unwrap();
            }
            ns.exec_ok(&["ip", "route", "add", "default", "via", "10.78.0.2"])
                .unwrap();
            rs.push(Nginx::start(ns, dir.path(), body));
        }
        let mut spec = GuestSpec::default()
            .ifname(GUEST_IF)
            .mac([0x52, 0x54, 0, 0x78, 0, 2]);
        if director == Director::Vigild {
            spec = spec.bin(VIGILD);
        }
        let guest = Guest::boot(&spec, &lan.bridge, Lan::BRIDGE).expect("booting the guest");
        guest.run_ok(&format!(
            "ip addr add 10.78.0.2/24 dev {GUEST_IF} && ip addr add 10.79.0.2/24 dev {GUEST_IF} \
             && sysctl -qw net.ipv4.ip_forward=1"
        ));
        Net {
            rs,
            director,
            guest,
            lan,
            _dir: dir,
        }
    }

    /// `n` requests to `vip` from the client; the bodies (or errors), in order.
    fn requests(&self, vip: Ipv4Addr, n: usize) -> Vec<String> {
        in_netns(&self.lan.host(0).ns.path(), || {
            (0..n)
                .map(|_| {
                    http_get(vip, Duration::from_secs(2)).unwrap_or_else(|e| format!("ERR {e}"))
                })
                .collect()
        })
    }

    /// Waits (bounded) until `n` requests to `vip` all succeed and return exactly the
    /// bodies in `want` (each at least once). Returns the time it took.
    fn expect_served(&self, vip: Ipv4Addr, want: &[&str], timeout: Duration) -> Duration {
        let start = Instant::now();
        let mut last = Vec::new();
        let ok = wait_for(timeout, Duration::from_millis(300), || {
            last = self.requests(vip, 2 * want.len());
            let mut seen: Vec<&str> = last.iter().map(String::as_str).collect();
            seen.sort_unstable();
            seen.dedup();
            let mut w = want.to_vec();
            w.sort_unstable();
            (seen == w).then_some(())
        });
        assert!(
            ok.is_some(),
            "{vip}: wanted answers from {want:?} within {timeout:?}, last got {last:?}\n\
             {}'s log ends:\n{}",
            self.director.name(),
            self.log_tail()
        );
        start.elapsed()
    }

    fn log_tail(&self) -> String {
        let log = self.director.log(&self.guest);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn expect_table(&self, what: &str, want: &str, timeout: Duration) -> Duration {
        match self.guest.wait_ipvs_table(want, timeout) {
            Ok(took) => {
                eprintln!("lvs_vm: {what}: table as expected after {took:.1?}");
                if self.director == Director::Vigild && !want.trim().is_empty() {
                    self.expect_status_agrees(what, Duration::from_secs(5));
                }
                took
            }
            Err(last) => panic!(
                "{what}: the IPVS table did not become\n{}within {timeout:?}; last:\n{last}\n\
                 {}'s log ends:\n{}",
                normalise_ipvsadm(want),
                self.director.name(),
                self.log_tail()
            ),
        }
    }
}

impl Net {
    /// `vigild status --json` says what `ipvsadm -Ln` shows: every service, and in it
    /// every real server vigild says is in the table, with its weight, and the sorry
    /// server while it is active. The status follows the table within a moment (the
    /// checker updates both in one step, the status is read over the control socket).
    fn expect_status_agrees(&self, what: &str, timeout: Duration) {
        let start = Instant::now();
        let (mut from_status, mut from_table);
        loop {
            let json = self
                .guest
                .run_ok("vigild status --json --control /run/vigild.sock");
            from_status = status_entries(&json);
            // The sorry server's weight is not in the status: matched without it.
            from_table = table_entries(&self.guest.ipvs_table().unwrap())
                .into_iter()
                .map(|(s, r, w)| {
                    let sorry = from_status.contains(&(s.clone(), r.clone(), None));
                    (s, r, if sorry { None } else { w })
                })
                .collect();
            if from_status == from_table || start.elapsed() > timeout {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(
            from_status, from_table,
            "{what}: `vigild status` (left) disagrees with `ipvsadm -Ln` (right)"
        );
        eprintln!(
            "lvs_vm: {what}: vigild status agrees with ipvsadm ({} entries)",
            from_status.len()
        );
    }
}

/// `(service, real server, weight)` from `vigild status --json`; the sorry server's
/// weight is not in the status and is left out (`None`).
fn status_entries(json: &str) -> std::collections::BTreeSet<(String, String, Option<u64>)> {
    let v: serde_json::Value = serde_json::from_str(json).expect("status JSON");
    let mut out = std::collections::BTreeSet::new();
    let addr = |name: &str| name.replace(['[', ']'], "").replacen(":tcp:", ":", 1);
    for vs in v["lvs"]["virtual_servers"].as_array().into_iter().flatten() {
        let svc = addr(vs["name"].as_str().unwrap_or_default());
        out.insert((svc.clone(), String::new(), None));
        for rs in vs["real_servers"].as_array().into_iter().flatten() {
            if rs["in_table"].as_bool() == Some(true) {
                let a = addr(rs["address"].as_str().unwrap_or_default());
                out.insert((svc.clone(), a, rs["weight"].as_u64()));
            }
        }
        if vs["sorry_server_active"].as_bool() == Some(true) {
            let a = addr(vs["sorry_server"].as_str().unwrap_or_default());
            out.insert((svc.clone(), a, None));
        }
    }
    out
}

/// The same from a normalised `ipvsadm -Ln` (`TCP 10.78.0.100:80 rr`, `  -> ADDR
/// METHOD WEIGHT`); destinations of a sorry server are matched without their weight.
fn table_entries(table: &str) -> std::collections::BTreeSet<(String, String, Option<u64>)> {
    let mut out = std::collections::BTreeSet::new();
    let mut svc = String::new();
    for line in table.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["->", addr, _method, weight, ..] => {
                out.insert((svc.clone(), (*addr).to_owned(), weight.parse().ok()));
            }
            [_proto, addr, ..] => {
                svc = (*addr).to_owned();
                out.insert((svc.clone(), String::new(), None));
            }
            _ => {}
        }
    }
    out
}

/// How many lines of the director's log contain `text`.
fn count_in_log(guest: &Guest, text: &str) -> usize {
    let out = guest
        .run(&format!("grep -c {} /tmp/director.log", shell_quote(text)))
        .map(|r| r.output)
        .unwrap_or_default();
    out.trim().parse().unwrap_or(0)
}

/// Waits until the director's log has `n` lines containing `text`.
fn wait_in_log(guest: &Guest, text: &str, n: usize, timeout: Duration) {
    let start = Instant::now();
    while count_in_log(guest, text) < n {
        assert!(
            start.elapsed() < timeout,
            "no {n}th `{text}` in the director's log within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn seed_dr_conf() -> String {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/configs/seeds/001-ka67-lvs-dr.conf");
    let text = std::fs::read_to_string(&seed)
        .unwrap_or_else(|e| panic!("{}: {e} (../shared beside the repository)", seed.display()));
    // Addresses mapped to the test's; the structure stays the seed's. Plus the global
    // and LVS notify FIFOs, read in the guest (`FifoReaders`).
    text.replace("10.16.8.", "10.78.0.").replacen(
        "global_defs {\n",
        "global_defs {\n   notify_fifo /tmp/all.fifo\n   lvs_notify_fifo /tmp/lvs.fifo\n",
        1,
    )
}

/// The FIFOs of the seed's configuration, each copied to `/tmp/NAME-fifo.log` by a
/// reader in the guest started before the director: the FIFOs exist beforehand (so the
/// director uses them as they are), and each reader reopens its FIFO after the
/// director closes it (reload, stop), a bounded number of times.
const FIFOS: [&str; 2] = ["lvs", "all"];

fn start_fifo_readers(guest: &Guest) {
    // The NIC's carrier can come up only now (seen: keepalived read eth1 down, started
    // its instances in FAULT, and netlink reported it up the same second): wait for it
    // and for the link-local address, so both directors start on a running link.
    guest.run_ok(&format!(
        "for i in $(seq 50); do [ \"$(cat /sys/class/net/{GUEST_IF}/operstate)\" = up ] && \
         ip -6 addr show dev {GUEST_IF} | grep fe80 | grep -qv tentative && exit 0; \
         sleep 0.2; done; exit 1"
    ));
    for f in FIFOS {
        guest.run_ok(&format!(
            "mkfifo /tmp/{f}.fifo && : >/tmp/{f}-fifo.log && \
             (for i in $(seq 20); do cat /tmp/{f}.fifo; done >>/tmp/{f}-fifo.log 2>/dev/null </dev/null &
             echo $! >/run/{f}-reader.pid)"
        ));
    }
}

/// The readers' copies once the director has stopped; the readers end.
fn stop_fifo_readers(guest: &Guest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in FIFOS {
        // The director closed the FIFO: the reader drains it, then waits in a new open,
        // which a writer that opens and closes at once ends.
        guest.run_ok(&format!(
            "sleep 0.3; kill $(cat /run/{f}-reader.pid); \
             timeout 2 sh -c ': >/tmp/{f}.fifo' || true; rm -f /tmp/{f}.fifo"
        ));
        out.push((
            f.to_owned(),
            guest.run_ok(&format!("cat /tmp/{f}-fifo.log")),
        ));
    }
    out
}

/// FIFO lines as threads that keep their order whoever writes them: each virtual
/// server's VS and RS lines, each VRRP instance's lines (keepalived's checker and VRRP
/// processes, and concurrent checkers, interleave them in any order).
fn fifo_threads(text: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let w: Vec<&str> = line.split(' ').collect();
        let key = match w.as_slice() {
            ["VS", vs, _] | ["RS", _, vs, _] => format!("VS {vs}"),
            [kind, name, ..] => format!("{kind} {name}"),
            _ => line.to_owned(),
        };
        out.entry(key).or_default().push(line.to_owned());
    }
    out
}

/// The FIFO copies of one run as one text, `# NAME` before each.
fn fifo_text(copies: &[(String, String)]) -> String {
    copies
        .iter()
        .map(|(f, text)| format!("# {f}\n{text}"))
        .collect()
}

/// Each FIFO's threads, by section.
fn fifo_sections(text: &str) -> Vec<(String, std::collections::BTreeMap<String, Vec<String>>)> {
    let mut out = Vec::new();
    let mut cur: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("# ") {
            out.extend(cur.take().map(|(n, t)| (n, fifo_threads(&t))));
            cur = Some((name.to_owned(), String::new()));
        } else if let Some((_, t)) = cur.as_mut() {
            t.push_str(line);
            t.push('\n');
        }
    }
    out.extend(cur.map(|(n, t)| (n, fifo_threads(&t))));
    out
}

/// What holds for either director: the LVS FIFO has only VS and RS lines, among them
/// the killed real server's DOWN and UP; the global FIFO has the same LVS lines and
/// the VRRP instances' lines.
fn check_fifo_routing(copies: &[(String, String)]) {
    let text = |name: &str| {
        copies
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, t)| t.as_str())
            .unwrap_or_default()
    };
    let lvs = fifo_threads(text("lvs"));
    let all = fifo_threads(text("all"));
    assert!(
        lvs.keys().all(|k| k.starts_with("VS ")),
        "VRRP lines in the LVS FIFO: {lvs:?}"
    );
    for line in [
        "RS [10.78.0.9]:tcp:80 [10.78.0.100]:tcp:80 DOWN",
        "RS [10.78.0.9]:tcp:80 [10.78.0.100]:tcp:80 UP",
    ] {
        assert!(
            text("lvs").lines().any(|l| l == line),
            "no `{line}` in the LVS FIFO:\n{}",
            text("lvs")
        );
    }
    let all_lvs: std::collections::BTreeMap<_, _> = all
        .iter()
        .filter(|(k, _)| k.starts_with("VS "))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(
        all_lvs, lvs,
        "the global FIFO's LVS lines (left) and the LVS FIFO's"
    );
    assert!(
        all.keys().any(|k| k.starts_with("INSTANCE ")),
        "no VRRP line in the global FIFO: {all:?}"
    );
}

const DR_TABLE: &str = "\
TCP 10.78.0.100:80 rr
  -> 10.78.0.8:80 Route 1
  -> 10.78.0.9:80 Route 1
TCP 10.78.0.101:80 rr
  -> 10.78.0.8:80 Route 1
  -> 10.78.0.9:80 Route 1
";

const DR_TABLE_RS9_DOWN: &str = "\
TCP 10.78.0.100:80 rr
  -> 10.78.0.8:80 Route 1
TCP 10.78.0.101:80 rr
  -> 10.78.0.8:80 Route 1
";

/// After the reload: VIP 10.78.0.100 has .8 and .30 (.9 removed, .30 added).
const DR_TABLE_RELOADED: &str = "\
TCP 10.78.0.100:80 rr
  -> 10.78.0.30:80 Route 1
  -> 10.78.0.8:80 Route 1
TCP 10.78.0.101:80 rr
  -> 10.78.0.8:80 Route 1
  -> 10.78.0.9:80 Route 1
";

const NAT_CONF: &str = "\
global_defs {
    router_id lvs_vm_nat
}
virtual_server 10.79.0.100 80 {
    delay_loop 2
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    sorry_server 10.78.0.30 80
    real_server 10.78.0.8 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 10.78.0.9 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
";

const NAT_TABLE: &str = "\
TCP 10.79.0.100:80 wrr
  -> 10.78.0.8:80 Masq 2
  -> 10.78.0.9:80 Masq 1
";

/// .9 failed with inhibit_on_failure: kept with weight 0.
const NAT_TABLE_RS9_INHIBITED: &str = "\
TCP 10.79.0.100:80 wrr
  -> 10.78.0.8:80 Masq 2
  -> 10.78.0.9:80 Masq 0
";

/// Both failed: .8 removed, .9 at weight 0, the sorry server in.
const NAT_TABLE_SORRY: &str = "\
TCP 10.79.0.100:80 wrr
  -> 10.78.0.30:80 Masq 1
  -> 10.78.0.9:80 Masq 0
";

/// The checker's worst case to notice a dead real server, plus slack for TCG: the
/// seed's HTTP_GET (delay_loop 3, 3 retries 1 s apart, connect_timeout 1).
const DR_DETECT: Duration = Duration::from_secs(3 + 3 * 2 + 1 + 6);
/// The NAT configuration's TCP_CHECK (delay_loop 2, 1 retry 1 s apart).
const NAT_DETECT: Duration = Duration::from_secs(2 + 2 + 1 + 6);

fn scenarios(director: Director, test: &str) {
    let started = Instant::now();
    let mut net = Net::build(director, test);
    let guest = &net.guest;
    eprintln!(
        "lvs_vm: {test}: network and guest up in {:.1?} (boot {:.1?}), director {}",
        started.elapsed(),
        guest.boot_time(),
        director.name()
    );
    let mut phrases = Vec::new();

    // 1. The LVS-DR seed: two VRRP instances own the VIPs, two DR services of two
    //    real servers each.
    let t = Instant::now();
    start_fifo_readers(guest);
    director.start(guest, &seed_dr_conf());
    net.expect_table("seed DR", DR_TABLE, Duration::from_secs(20));
    net.expect_served(VIP1, &["rs8", "rs9"], Duration::from_secs(20));
    net.expect_served(VIP2, &["rs8", "rs9"], Duration::from_secs(20));
    eprintln!("lvs_vm: {test}: seed DR served in {:.1?}", t.elapsed());

    // 2. A real server killed and revived.
    let t = Instant::now();
    net.rs[1].stop();
    let took = net.expect_table("rs .9 killed", DR_TABLE_RS9_DOWN, DR_DETECT);
    net.expect_served(VIP1, &["rs8"], Duration::from_secs(5));
    net.rs[1].start_again();
    let back = net.expect_table("rs .9 revived", DR_TABLE, DR_DETECT);
    net.expect_served(VIP1, &["rs8", "rs9"], Duration::from_secs(5));
    eprintln!(
        "lvs_vm: {test}: kill/revive: removed after {took:.1?}, restored after {back:.1?} \
         ({:.1?} in all)",
        t.elapsed()
    );

    // 3. A reload that adds a real server and removes one.
    let t = Instant::now();
    let reloaded =
        seed_dr_conf().replacen("real_server 10.78.0.9 80", "real_server 10.78.0.30 80", 1);
    director.reload(guest, &reloaded);
    net.expect_table("reload", DR_TABLE_RELOADED, Duration::from_secs(15));
    net.expect_served(VIP1, &["rs30", "rs8"], Duration::from_secs(5));
    eprintln!("lvs_vm: {test}: reload in {:.1?}", t.elapsed());

    // Stopping the director removes what it installed.
    director.stop(guest);
    net.expect_table("director stopped", "", Duration::from_secs(5));
    let fifo_copies = stop_fifo_readers(guest);
    check_fifo_routing(&fifo_copies);
    let fifos = fifo_text(&fifo_copies);
    phrases.push("# seed DR, .9 killed and revived, reload".to_owned());
    phrases.extend(checker_phrases(&director.log(guest)));
    guest.run_ok(": >/tmp/director.log");

    // 4. NAT, inhibit_on_failure and the sorry server.
    let t = Instant::now();
    guest.run_ok(&format!("ip addr add {NAT_VIP}/32 dev {GUEST_IF}"));
    director.start(guest, NAT_CONF);
    net.expect_table("NAT", NAT_TABLE, Duration::from_secs(15));
    net.expect_served(NAT_VIP, &["rs8", "rs9"], Duration::from_secs(10));
    net.rs[1].stop();
    let inhibit = net.expect_table("NAT .9 inhibited", NAT_TABLE_RS9_INHIBITED, NAT_DETECT);
    net.expect_served(NAT_VIP, &["rs8"], Duration::from_secs(5));
    net.rs[0].stop();
    let sorry = net.expect_table("NAT sorry server", NAT_TABLE_SORRY, NAT_DETECT);
    net.expect_served(NAT_VIP, &["rs30"], Duration::from_secs(5));
    // One at a time: which server's checker passes first decides the quorum line
    // (`Gained quorum 2+0=2 <= 1` or `1+0=1 <= 1`), in keepalived as in vigild.
    let gained = count_in_log(guest, "Gained quorum");
    net.rs[0].start_again();
    wait_in_log(guest, "Gained quorum", gained + 1, NAT_DETECT);
    net.rs[1].start_again();
    let back = net.expect_table("NAT restored", NAT_TABLE, NAT_DETECT);
    net.expect_served(NAT_VIP, &["rs8", "rs9"], Duration::from_secs(5));
    director.stop(guest);
    eprintln!(
        "lvs_vm: {test}: NAT: inhibited after {inhibit:.1?}, sorry after {sorry:.1?}, \
         restored after {back:.1?} ({:.1?} in all)",
        t.elapsed()
    );
    phrases.push("# NAT, inhibit_on_failure, sorry server".to_owned());
    phrases.extend(checker_phrases(&director.log(guest)));

    let recorded =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lvs_vm/keepalived-phrases.txt");
    let recorded_fifos =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lvs_vm/keepalived-fifo.txt");
    let text = phrases.join("\n") + "\n";
    match director {
        Director::Keepalived => {
            // keepalived's phrases are the recording vigild's are compared with.
            if std::env::var("VIGIL_LVS_RECORD").is_ok_and(|v| v == "1") {
                std::fs::write(&recorded, &text).unwrap();
                std::fs::write(&recorded_fifos, &fifos).unwrap();
            }
            eprintln!("lvs_vm: {test}: keepalived's checker phrases:\n{text}");
            eprintln!("lvs_vm: {test}: keepalived's FIFO lines:\n{fifos}");
        }
        Director::Vigild => {
            let want = std::fs::read_to_string(&recorded).unwrap();
            assert_eq!(
                phrase_sets(&text),
                phrase_sets(&want),
                "vigild's checker phrases differ from keepalived's (left vigild, right {})",
                recorded.display()
            );
            let want = std::fs::read_to_string(&recorded_fifos).unwrap();
            assert_eq!(
                fifo_sections(&fifos),
                fifo_sections(&want),
                "vigild's FIFO lines differ from keepalived's (left vigild, right {})",
                recorded_fifos.display()
            );
        }
    }
    eprintln!("lvs_vm: {test}: all scenarios in {:.1?}", started.elapsed());
}

#[test]
fn keepalived_director_scenarios() {
    if !vm_or_skip("keepalived_director_scenarios") {
        return;
    }
    scenarios(Director::Keepalived, "keepalived_director_scenarios");
}

#[test]
fn vigild_director_scenarios() {
    if !vm_or_skip("vigild_director_scenarios") {
        return;
    }
    scenarios(Director::Vigild, "vigild_director_scenarios");
}

#[test]
fn phrase_sets_ignore_order_and_repeats() {
    let a = "# one\nA\nB\nA\n# two\nC\n";
    let b = "# one\nB\nA\n# two\nC\n";
    assert_eq!(phrase_sets(a), phrase_sets(b));
    assert_ne!(phrase_sets(a), phrase_sets("# one\nB\nA\n# two\n"));
    assert_ne!(phrase_sets(a), phrase_sets("# one\nB\nA\nC\n# two\n"));
    assert_eq!(
        phrase_sets("# x\nTCP_CHECK on service [a]:tcp:80 failed after 1 retries.\n"),
        phrase_sets("# x\nTCP_CHECK on service [a]:tcp:80 failed.\n")
    );
    assert_ne!(
        phrase_sets("# x\nTCP_CHECK on service [a]:tcp:80 failed.\n"),
        phrase_sets("# x\nHTTP_CHECK on service [a]:tcp:80 failed.\n")
    );
}

#[test]
fn fifo_threads_keep_each_servers_and_instances_order() {
    let a = "VS [v1]:tcp:80 UP\nINSTANCE \"VI_1\" BACKUP 100\nRS [r]:tcp:80 [v1]:tcp:80 DOWN\nVS [v2]:tcp:80 UP\nINSTANCE \"VI_1\" MASTER 100\n";
    let b = "VS [v2]:tcp:80 UP\nINSTANCE \"VI_1\" BACKUP 100\nVS [v1]:tcp:80 UP\nINSTANCE \"VI_1\" MASTER 100\nRS [r]:tcp:80 [v1]:tcp:80 DOWN\n";
    assert_eq!(fifo_threads(a), fifo_threads(b));
    let c = "RS [r]:tcp:80 [v1]:tcp:80 DOWN\nVS [v1]:tcp:80 UP\nVS [v2]:tcp:80 UP\nINSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n";
    assert_ne!(fifo_threads(a), fifo_threads(c));
    assert_eq!(fifo_threads(a).len(), 3);
    let s = fifo_sections(&format!("# lvs\n{a}# all\n{b}"));
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].1, s[1].1);
}

#[test]
fn checker_phrases_drop_timestamps() {
    let log = "Mon Dec  7 08:00:00 2026: HTTP_CHECK on service [10.78.0.9]:tcp:80 failed after 3 retries.\n\
               Mon Dec  7 08:00:00 2026: Removing service [10.78.0.9]:tcp:80 to VS [10.78.0.100]:tcp:80\n\
               Mon Dec  7 08:00:01 2026: (VI_1) Entering MASTER STATE\n\
               2026-12-07 08:19:24.180 Adding sorry server [10.78.0.30]:tcp:80 to VS [10.79.0.100]:tcp:80\n";
    assert_eq!(
        checker_phrases(log),
        [
            "HTTP_CHECK on service [10.78.0.9]:tcp:80 failed after 3 retries.",
            "Removing service [10.78.0.9]:tcp:80 to VS [10.78.0.100]:tcp:80",
            "Adding sorry server [10.78.0.30]:tcp:80 to VS [10.79.0.100]:tcp:80"
        ]
    );
}
