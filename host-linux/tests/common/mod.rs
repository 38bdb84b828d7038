//! Shared helpers for the daemon tests (`host-linux/tests/daemon_*.rs`): vigild,
//! keepalived and nginx run inside namespaces of `vigil_tests::netns`, an HTTP client
//! that requests the VIP from its own namespace, configuration text, and polling that
//! is bounded in count and time.
//!
//! Every process started here is killed and reaped on drop (also when a test panics),
//! and every namespace belongs to a [`Lan`] that deletes it on drop. Traffic stays
//! between the namespaces a test creates.

#![allow(dead_code)] // each test binary uses a different part of this module

use serde_json::Value;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vigil_tests::netns::{HostSpec, Lan, Netns};

/// The daemon under test.
pub const VIGILD: &str = env!("CARGO_BIN_EXE_vigild");

/// The subnet every test LAN uses (namespaces keep tests apart): host `i` is
/// `10.77.0.(11 + i)`; the VIP is `10.77.0.50`.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);
/// A second VIP (another instance, or the second LAN of a sync group).
pub const VIP2: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 51);

/// The address of LAN host `i`.
pub fn host_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, 11 + i as u8)
}

/// A LAN of `n` hosts on one bridge (see [`host_ip`]).
pub fn lan(prefix: &str, n: usize) -> Lan {
    let specs: Vec<HostSpec> = (0..n)
        .map(|i| HostSpec::v4([0x02, 0x77, 0, 0, 0, 0x11 + i as u8], host_ip(i), 24))
        .collect();
    Lan::new(prefix, &specs).expect("building the LAN")
}

/// A scratch directory for configurations, logs, sockets and pid files. Kept (and its
/// path printed) when `VIGIL_KEEP_TEST_DIRS=1`, to read the logs of a failed run.
pub fn workdir(test: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new()
        .prefix(&format!("vigil-{test}-"))
        .tempdir()
        .expect("temp dir");
    if std::env::var("VIGIL_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
        eprintln!("{test}: keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    dir
}

/// Polls `f` every `every` until it returns `Some`, for at most `timeout` (and at most
/// `timeout / every + 2` tries).
pub fn wait_for<T>(
    timeout: Duration,
    every: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    let tries = timeout.as_millis() / every.as_millis().max(1) + 2;
    for _ in 0..tries {
        if let Some(v) = f() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            break;
        }
        std::thread::sleep(every);
    }
    None
}

fn send_signal(pid: u32, sig: Signal) {
    let _ = kill(Pid::from_raw(pid as i32), sig);
}

/// Waits (bounded) for a child to exit.
fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait_for(timeout, Duration::from_millis(5), || {
        child.try_wait().ok().flatten()
    })
}

fn log_file(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("log file")
}

// ----- configuration text ----------------------------------------------------------

/// `global_defs` with scripts run as root under keepalived's script security.
pub fn global_defs(router_id: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router_id}\n    script_user root\n    \
         enable_script_security\n{extra}\n}}\n"
    )
}

/// One `vrrp_instance`, rendered as keepalived.conf text (vigild and keepalived read
/// the same).
#[derive(Debug, Clone)]
pub struct Inst {
    pub name: String,
    pub iface: String,
    pub vrid: u8,
    pub state: &'static str,
    pub priority: u8,
    pub version: u8,
    /// `advert_int` as written (v2: whole seconds; v3: fractions allowed).
    pub advert: String,
    pub vips: Vec<String>,
    pub auth_pass: Option<String>,
    /// `unicast_src_ip` and `unicast_peer`s.
    pub unicast: Option<(Ipv4Addr, Vec<Ipv4Addr>)>,
    /// More lines inside the block (nopreempt, track_script, notify, ...).
    pub extra: String,
}

impl Inst {
    /// A VRRPv3 instance on `eth0` with one VIP.
    pub fn v3(name: &str, vrid: u8, state: &'static str, priority: u8, advert: &str) -> Inst {
        Inst {
            name: name.to_owned(),
            iface: "eth0".to_owned(),
            vrid,
            state,
            priority,
            version: 3,
            advert: advert.to_owned(),
            vips: vec![format!("{VIP}/24")],
            auth_pass: None,
            unicast: None,
            extra: String::new(),
        }
    }

    /// A VRRPv2 instance on `eth0` with one VIP, advert_int 1 and auth PASS.
    pub fn v2_pass(name: &str, vrid: u8, state: &'static str, priority: u8, pass: &str) -> Inst {
        Inst {
            version: 2,
            advert: "1".to_owned(),
            auth_pass: Some(pass.to_owned()),
            ..Inst::v3(name, vrid, state, priority, "1")
        }
    }

    pub fn with_extra(mut self, extra: &str) -> Inst {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    pub fn unicast(mut self, src: Ipv4Addr, peers: &[Ipv4Addr]) -> Inst {
        self.unicast = Some((src, peers.to_vec()));
        self
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "vrrp_instance {} {{\n    state {}\n    interface {}\n    virtual_router_id {}\n    \
             priority {}\n    version {}\n    advert_int {}\n",
            self.name, self.state, self.iface, self.vrid, self.priority, self.version, self.advert
        );
        if let Some(p) = &self.auth_pass {
            s += &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
            );
        }
        if let Some((src, peers)) = &self.unicast {
            s += &format!("    unicast_src_ip {src}\n    unicast_peer {{\n");
            for p in peers {
                s += &format!("        {p}\n");
            }
            s += "    }\n";
        }
        s += "    virtual_ipaddress {\n";
        for v in &self.vips {
            s += &format!("        {v}\n");
        }
        s += "    }\n";
        s += &self.extra;
        s += "}\n";
        s
    }
}

// ----- vigild ----------------------------------------------------------------------

/// A vigild started in a namespace, with its configuration, control socket and log in
/// the test's directory. Killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Vigild {
    child: Option<Child>,
    pub name: String,
    pub conf: PathBuf,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Vigild {
    /// Writes `conf` to `DIR/NAME.conf`, starts vigild in `ns` and waits (at most 10 s)
    /// until its control socket answers. The log (stderr) is appended to `DIR/NAME.log`,
    /// so a restarted daemon's log follows the earlier one's.
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Vigild {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writing the configuration");
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = ns
            .command(VIGILD)
            .arg("-f")
            .arg(&conf_path)
            .arg("--control")
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("starting vigild");
        let mut v = Vigild {
            child: Some(child),
            name: name.to_owned(),
            conf: conf_path,
            sock,
            log,
        };
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            if let Some(Ok(Some(st))) = v.child.as_mut().map(Child::try_wait) {
                panic!("vigild {name} exited at start ({st}):\n{}", v.log_text());
            }
            v.status()
        });
        assert!(
            up.is_some(),
            "vigild {name} did not answer on {} within 10 s:\n{}",
            v.sock.display(),
            v.log_text()
        );
        v
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("vigild running").id()
    }

    /// The status as JSON, over the control socket in-process (the protocol `vigild
    /// status --json` speaks: fast enough to poll every few milliseconds). `None` when
    /// the daemon does not answer.
    pub fn status(&self) -> Option<Value> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.set_write_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"status json\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        serde_json::from_str(&out).ok()
    }

    /// The status as the command-line client `vigild status --json` prints it.
    pub fn status_cli(&self) -> Value {
        let out = Command::new(VIGILD)
            .args(["status", "--json", "--control"])
            .arg(&self.sock)
            .stdin(Stdio::null())
            .output()
            .expect("running vigild status");
        assert!(
            out.status.success(),
            "vigild status --json failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("vigild status --json prints JSON")
    }

    /// One instance's entry of the status.
    pub fn instance(&self, name: &str) -> Option<Value> {
        instance_of(&self.status()?, name)
    }

    pub fn state(&self, name: &str) -> Option<String> {
        Some(self.instance(name)?["state"].as_str()?.to_owned())
    }

    /// Waits until instance `name` is in `state`; the time it took.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(5), || {
            (self.state(name).as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    /// Panics with both logs unless instance `name` reaches `state` in time.
    pub fn expect_state(&self, name: &str, state: &str, timeout: Duration) -> Duration {
        self.wait_state(name, state, timeout).unwrap_or_else(|| {
            panic!(
                "{}: ({name}) not {state} within {timeout:?} (now {:?}); log:\n{}",
                self.name,
                self.state(name),
                self.log_text()
            )
        })
    }

    pub fn signal(&self, sig: Signal) {
        send_signal(self.pid(), sig);
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (bounded); `None` if it did not exit in time
    /// (it is then killed).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        send_signal(c.id(), Signal::SIGTERM);
        let st = wait_exit(&mut c, timeout);
        if st.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        st
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `needle` is in at least `n` lines of the log.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        wait_for(timeout, Duration::from_millis(5), || {
            (self
                .log_text()
                .lines()
                .filter(|l| l.contains(needle))
                .count()
                >= n)
                .then_some(())
        })
        .is_some()
    }
}

impl Drop for Vigild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An instance's entry in a status document.
pub fn instance_of(status: &Value, name: &str) -> Option<Value> {
    status["instances"]
        .as_array()?
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
}

/// A counter of an instance's status entry (`adverts_rx`, `became_master`, ...).
pub fn counter(inst: &Value, name: &str) -> u64 {
    inst["counters"][name].as_u64().unwrap_or(0)
}

/// An instance's drop counter for `reason` (0 when absent).
pub fn drops(inst: &Value, reason: &str) -> u64 {
    inst["counters"]["drops"][reason].as_u64().unwrap_or(0)
}

// ----- addresses -------------------------------------------------------------------

/// `ip -o addr show dev DEV` in `ns`.
pub fn addrs(ns: &Netns, dev: &str) -> String {
    ns.exec_ok(&["ip", "-o", "addr", "show", "dev", dev])
        .unwrap_or_default()
}

/// Whether `addr` is configured on `dev` in `ns` (as `ip addr` shows it).
pub fn has_addr(ns: &Netns, dev: &str, addr: Ipv4Addr) -> bool {
    addrs(ns, dev).contains(&format!(" {addr}/"))
}

/// Waits until `addr` is (or is not) on `dev`; the time it took.
pub fn wait_addr(
    ns: &Netns,
    dev: &str,
    addr: Ipv4Addr,
    present: bool,
    timeout: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    wait_for(timeout, Duration::from_millis(5), || {
        (has_addr(ns, dev, addr) == present).then(|| start.elapsed())
    })
}

// ----- nginx and the client --------------------------------------------------------

/// nginx in a namespace answering every request with `BODY\n`: one process
/// (`master_process off`, `daemon off`), so killing the child stops it completely.
#[derive(Debug)]
pub struct Nginx {
    child: Option<Child>,
    ns_name: String,
    ns_path: PathBuf,
    dir: PathBuf,
    pub body: String,
}

impl Nginx {
    pub fn start(ns: &Netns, dir: &Path, body: &str) -> Nginx {
        let d = dir.join(format!("nginx-{body}"));
        std::fs::create_dir_all(&d).expect("nginx dir");
        let p = d.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n    \
             access_log off;\n    client_body_temp_path {p}; proxy_temp_path {p};\n    \
             fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n    \
             server {{ listen 80; location / {{ return 200 \"{body}\\n\"; }} }}\n}}\n"
        );
        std::fs::write(d.join("nginx.conf"), conf).expect("nginx.conf");
        let mut n = Nginx {
            child: None,
            ns_name: ns.name().to_owned(),
            ns_path: ns.path(),
            dir: d,
            body: body.to_owned(),
        };
        n.start_again();
        n
    }

    /// Starts it (again) and waits (at most 5 s) until it answers on 127.0.0.1.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "nginx already running");
        let d = &self.dir;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns_name, "nginx"])
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&d.join("stderr.log")))
            .spawn()
            .expect("starting nginx (apt-get install nginx-light)");
        self.child = Some(child);
        let body = self.body.clone();
        let ok = wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            in_netns(&self.ns_path, || {
                http_get(Ipv4Addr::LOCALHOST, Duration::from_millis(500)).ok()
            })
            .filter(|b| *b == body)
        });
        assert!(
            ok.is_some(),
            "nginx did not answer in 5 s: {}",
            std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
        );
    }

    /// Stops it (SIGKILL: one process, nothing left behind).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `f` on a thread in the namespace at `path`.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(path);
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn enter_netns(path: &Path) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: setns(2) on a namespace file we opened; it only changes this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// `GET /` on `addr:80` over HTTP/1.0; the body (trimmed) of a 200 answer.
pub fn http_get(addr: Ipv4Addr, timeout: Duration) -> Result<String, String> {
    let sa = SocketAddr::from((addr, 80));
    let mut s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {out:?}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("status {head:?}"));
    }
    Ok(body.trim().to_owned())
}

/// One request of a [`Client`].
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the request started.
    pub at: Instant,
    /// The body, or why it failed.
    pub result: Result<String, String>,
}

/// A client in its own namespace requesting `http://VIP/` every `period`, `count` times
/// (so it stops by itself), on a thread of its own.
#[derive(Debug)]
pub struct Client {
    handle: std::thread::JoinHandle<Vec<Sample>>,
}

impl Client {
    pub fn start(
        ns: &Netns,
        vip: Ipv4Addr,
        count: usize,
        period: Duration,
        timeout: Duration,
    ) -> Client {
        let path = ns.path();
        let handle = std::thread::spawn(move || {
            enter_netns(&path);
            let mut out = Vec::with_capacity(count);
            let start = Instant::now();
            for n in 0..count {
                // A fixed schedule: a slow request does not stretch the run.
                let due = start + period * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let at = Instant::now();
                out.push(Sample {
                    at,
                    result: http_get(vip, timeout),
                });
            }
            out
        });
        Client { handle }
    }

    pub fn join(self) -> Vec<Sample> {
        self.handle.join().expect("client thread")
    }
}

// ----- keepalived ------------------------------------------------------------------

/// keepalived 2.2.7 (Debian) in a namespace, in the foreground, VRRP only, logging to
/// the console (`-n -l -D -G -P`), with its pid files in the test directory. Both its
/// processes (parent and VRRP child) are killed on drop.
#[derive(Debug)]
pub struct Keepalived {
    child: Option<Child>,
    pub name: String,
    pub conf: PathBuf,
    pub log: PathBuf,
    pid_file: PathBuf,
    vrrp_pid_file: PathBuf,
}

impl Keepalived {
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Keepalived {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writing the configuration");
        let log = dir.join(format!("{name}.log"));
        let pid_file = dir.join(format!("{name}.pid"));
        let vrrp_pid_file = dir.join(format!("{name}-vrrp.pid"));
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&vrrp_pid_file);
        let child = ns
            .command("keepalived")
            .args(["-n", "-l", "-D", "-G", "-P", "-f"])
            .arg(&conf_path)
            .arg("-p")
            .arg(&pid_file)
            .arg("-r")
            .arg(&vrrp_pid_file)
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("starting keepalived (apt-get install keepalived)");
        let k = Keepalived {
            child: Some(child),
            name: name.to_owned(),
            conf: conf_path,
            log,
            pid_file,
            vrrp_pid_file,
        };
        // Started when the VRRP child has written its pid file.
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            k.vrrp_pid()
        });
        assert!(
            up.is_some(),
            "keepalived {name}: no VRRP child within 10 s:\n{}",
            k.log_text()
        );
        k
    }

    fn vrrp_pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.vrrp_pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The state of `(instance)` from the last "Entering ... STATE" line of its log,
    /// in the current run (the log is appended to across restarts).
    pub fn state(&self, instance: &str) -> Option<String> {
        let prefix = format!("({instance}) Entering ");
        let log = self.log_text();
        let run = &log[log.rfind("Starting Keepalived v").unwrap_or(0)..];
        run.lines().rev().find_map(|l| {
            let rest = &l[l.find(&prefix)? + prefix.len()..];
            Some(rest.split_whitespace().next()?.to_owned())
        })
    }

    pub fn wait_state(&self, instance: &str, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(10), || {
            (self.state(instance).as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    pub fn expect_state(&self, instance: &str, state: &str, timeout: Duration) -> Duration {
        self.wait_state(instance, state, timeout)
            .unwrap_or_else(|| {
                panic!(
                    "keepalived {}: ({instance}) not {state} within {timeout:?}; log:\n{}",
                    self.name,
                    self.log_text()
                )
            })
    }

    /// SIGKILL to both processes (a crash: no priority-0 advert), reaped. The parent
    /// is stopped first so that it cannot respawn the VRRP child, and the child is
    /// killed before the parent so that it does not get the SIGTERM keepalived's
    /// children receive when their parent dies.
    /// Does nothing once it was killed or terminated (the pid file may by then belong
    /// to a new keepalived of the same name).
    pub fn kill(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let vrrp = self.vrrp_pid();
        send_signal(c.id(), Signal::SIGSTOP);
        if let Some(p) = vrrp {
            send_signal(p, Signal::SIGKILL);
        }
        let _ = c.kill();
        let _ = c.wait();
        // The VRRP child is the parent's, not ours: wait until it is gone (bounded).
        if let Some(p) = vrrp {
            wait_for(Duration::from_secs(2), Duration::from_millis(10), || {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok();
                stat.is_none_or(|s| s.contains(") Z ")).then_some(())
            });
        }
        let _ = std::fs::remove_file(&self.vrrp_pid_file);
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----- captures --------------------------------------------------------------------

/// Whether an Ethernet frame carries an IPv4 VRRP (protocol 112) packet.
pub fn is_vrrp_v4(f: &[u8]) -> bool {
    f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == 112
}

/// The IPv4 VRRP frames seen on `eth0` of `ns` during `duration` (at most 20,000),
/// with the time each was read.
pub fn capture_vrrp(ns: &Netns, duration: Duration) -> Vec<(Instant, Vec<u8>)> {
    let cap = vigil_tests::netns::run_in(ns, || {
        vigil_tests::netns::Capture::open("eth0").expect("capture")
    });
    vrrp_frames(cap, duration)
}

/// The IPv4 VRRP frames `cap` sees for `duration`, each with when it was read.
pub fn vrrp_frames(
    cap: vigil_tests::netns::Capture,
    duration: Duration,
) -> Vec<(Instant, Vec<u8>)> {
    let end = Instant::now() + duration;
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    for _ in 0..20_000 {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match cap.next_frame(&mut buf, left).expect("capture") {
            Some(n) if is_vrrp_v4(&buf[..n]) => out.push((Instant::now(), buf[..n].to_vec())),
            Some(_) => {}
            None => break,
        }
    }
    out
}

/// The second LAN of [`add_second_lan`]: host `i` is `10.78.0.(11 + i)` on `eth1`.
pub fn host_ip2(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, 11 + i as u8)
}

/// The VIP on the second LAN.
pub const VIP_LAN2: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 50);

/// Adds a second bridge (`br1`, in the LAN's bridge namespace) and gives every host an
/// `eth1` on it with [`host_ip2`]. Everything goes with the LAN's namespaces.
pub fn add_second_lan(lan: &Lan) {
    let br = &lan.bridge;
    br.exec_ok(&[
        "ip",
        "link",
        "add",
        "br1",
        "type",
        "bridge",
        "mcast_snooping",
        "0",
        "stp_state",
        "0",
        "forward_delay",
        "0",
    ])
    .expect("br1");
    br.exec_ok(&["ip", "link", "set", "br1", "up"])
        .expect("br1 up");
    for (i, h) in lan.hosts.iter().enumerate() {
        let port = format!("q{i}");
        br.exec_ok(&[
            "ip",
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            h.ns.name(),
        ])
        .expect("veth");
        br.exec_ok(&["ip", "link", "set", &port, "master", "br1"])
            .expect("port");
        br.exec_ok(&["ip", "link", "set", &port, "up"])
            .expect("port up");
        let mac = format!("02:78:00:00:00:{:02x}", 0x11 + i);
        h.ns.exec_ok(&["ip", "link", "set", "eth1", "address", &mac])
            .expect("mac");
        let cidr = format!("{}/24", host_ip2(i));
        h.ns.exec_ok(&["ip", "addr", "add", &cidr, "dev", "eth1"])
            .expect("addr");
        h.ns.exec_ok(&["ip", "link", "set", "eth1", "up"])
            .expect("eth1 up");
    }
}

// ----- a load-balancer pair --------------------------------------------------------

/// Two load balancers with nginx (answering `lb1` / `lb2`) and vigild, and a client:
/// hosts 0, 1 and 2 of a LAN. The instance `inst.name` of lb1 is master, lb2's backup.
#[derive(Debug)]
pub struct Pair {
    // Dropped in this order: processes first, then their namespaces, then the files.
    pub lb1: Vigild,
    pub lb2: Vigild,
    pub nginx1: Nginx,
    pub nginx2: Nginx,
    pub lan: Lan,
    pub dir: tempfile::TempDir,
}

impl Pair {
    /// Starts lb1 first and waits until it is master, then lb2 and waits until it is
    /// backup and has heard lb1, so the start-up order is deterministic.
    pub fn start(test: &str, prefix: &str, lb1: &Inst, lb2: &Inst, settle: Duration) -> Pair {
        Self::start_conf(
            test,
            prefix,
            &lb1.name,
            &(global_defs("lb1", "") + &lb1.render()),
            &(global_defs("lb2", "") + &lb2.render()),
            settle,
        )
    }

    /// Like [`start`](Self::start) with whole configurations; `inst` is the instance
    /// to wait for.
    pub fn start_conf(
        test: &str,
        prefix: &str,
        inst: &str,
        conf1: &str,
        conf2: &str,
        settle: Duration,
    ) -> Pair {
        Self::start_with(test, prefix, inst, conf1, conf2, settle, |_| {})
    }

    /// Like [`start_conf`](Self::start_conf), with `setup` run on the LAN before any
    /// daemon starts (extra links, ...).
    pub fn start_with(
        test: &str,
        prefix: &str,
        inst: &str,
        conf1: &str,
        conf2: &str,
        settle: Duration,
        setup: impl FnOnce(&Lan),
    ) -> Pair {
        let lan = lan(prefix, 3);
        setup(&lan);
        let dir = workdir(test);
        let nginx1 = Nginx::start(&lan.host(0).ns, dir.path(), "lb1");
        let nginx2 = Nginx::start(&lan.host(1).ns, dir.path(), "lb2");
        let lb1 = Vigild::start(&lan.host(0).ns, dir.path(), "lb1", conf1);
        lb1.expect_state(inst, "MASTER", settle);
        let lb2 = Vigild::start(&lan.host(1).ns, dir.path(), "lb2", conf2);
        lb2.expect_state(inst, "BACKUP", settle);
        let heard = wait_for(settle, Duration::from_millis(5), || {
            lb2.instance(inst)
                .filter(|i| i["master"] == host_ip(0).to_string())
        });
        assert!(heard.is_some(), "lb2 never heard lb1:\n{}", lb2.log_text());
        Pair {
            lb1,
            lb2,
            nginx1,
            nginx2,
            lan,
            dir,
        }
    }

    /// The namespace of host `i` (0: lb1, 1: lb2, 2: the client).
    pub fn ns(&self, i: usize) -> &Netns {
        &self.lan.host(i).ns
    }

    /// Starts lb1's vigild again with the configuration it had.
    pub fn restart_lb1(&mut self) {
        let conf = std::fs::read_to_string(&self.lb1.conf).expect("lb1.conf");
        self.lb1 = Vigild::start(self.ns(0), self.dir.path(), "lb1", &conf);
    }

    /// The client's request for the VIP, answered by whom.
    pub fn get_vip(&self) -> Result<String, String> {
        in_netns(&self.ns(2).path(), || http_get(VIP, Duration::from_secs(1)))
    }

    /// Both daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- lb1 ---\n{}\n--- lb2 ---\n{}",
            self.lb1.log_text(),
            self.lb2.log_text()
        )
    }
}

impl Keepalived {
    /// Sends `sig` to the parent process.
    pub fn signal(&self, sig: Signal) {
        if let Some(c) = &self.child {
            send_signal(c.id(), sig);
        }
    }

    /// SIGTERM to the parent (which stops the VRRP child: priority-0 adverts, VIPs
    /// removed) and waits for both to exit. `false` if they did not in time (they are
    /// then killed).
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let vrrp = self.vrrp_pid();
        send_signal(c.id(), Signal::SIGTERM);
        // (A second SIGTERM after `signal` is harmless: keepalived is already stopping.)
        let ok = wait_exit(&mut c, timeout).is_some_and(|s| s.success());
        if !ok {
            self.child = Some(c);
            self.kill();
            return false;
        }
        if let Some(p) = vrrp {
            send_signal(p, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&self.vrrp_pid_file);
        true
    }
}

// ----- hostile packets ---------------------------------------------------------------

/// The VRRP message of an IPv4 advert for `vip` from `src` to `dst`, as the codec emits
/// it: v2 with a PASS password (1 s), v3 with `v3_centis` and no authentication.
pub fn advert_v4(
    version: vigil_core::wire::Version,
    vrid: u8,
    priority: u8,
    pass: &str,
    vip: Ipv4Addr,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    v3_centis: u16,
) -> Vec<u8> {
    use vigil_core::wire::{Addresses, Auth, ChecksumMode, Interval, Repr, Version};
    let vips = [vip.octets()];
    let repr = Repr {
        version,
        vrid,
        priority,
        interval: match version {
            Version::V2 => Interval::from_secs(1),
            Version::V3 => Interval::from_centis(v3_centis),
        },
        auth: match version {
            Version::V2 => Auth::password(pass.as_bytes()),
            Version::V3 => Auth::None,
        },
        addresses: Addresses::v4(&vips),
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut buf, src.into(), dst.into(), ChecksumMode::PseudoHeader)
        .expect("emit");
    buf.truncate(n);
    buf
}

/// A whole IPv4 packet carrying `payload` as VRRP (protocol 112), for an `IP_HDRINCL`
/// socket (the kernel fills in the header checksum).
pub fn ipv4_vrrp_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut ip = vec![
        0x45, 0xc0, 0, 0, 0, 0, 0x40, 0, ttl, 112, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip.extend_from_slice(payload);
    ip
}
