//! Helpers for the firmware demo's namespace tests: one LAN (a bridge in its own
//! namespace) with vigild, keepalived and a client on veth ports and `vigil-fw` on a
//! TAP device that is a port of the same bridge; the processes, their logs and states;
//! bounded polling.
//!
//! Every process started here is killed and reaped on drop (also when a test panics);
//! every namespace belongs to a [`Lan`] that deletes it on drop, the TAP with it.
//!
//! [`sim`] is the simulated segment of `loop_sim.rs` (no namespaces, no root).

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod sim;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use vigil_tests::netns::{HostSpec, Lan, Netns};

/// The demo binary of this package.
pub const VIGIL_FW: &str = env!("CARGO_BIN_EXE_vigil-fw");

pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);
pub const VIGILD_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 11);
pub const KEEPALIVED_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 12);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
pub const FW_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 13);
pub const FW_MAC: &str = "02:77:00:00:00:13";
pub const VIGILD_MAC: &str = "02:77:00:00:00:11";
pub const KEEPALIVED_MAC: &str = "02:77:00:00:00:12";
/// The TAP device `vigil-fw` runs on, in the bridge's namespace.
pub const TAP: &str = "fw0";
pub const VRID: u8 = 51;
/// The instance name everyone uses (vigil-fw's `--name`, the conf files').
pub const INSTANCE: &str = "VI_1";

/// The test network: `lan.hosts` are vigild (0), keepalived (1) and the client (2); the
/// TAP `fw0` is a port of `br0` in `lan.bridge`.
#[derive(Debug)]
pub struct Net {
    pub lan: Lan,
}

impl Net {
    pub fn new(prefix: &str) -> Net {
        let mac = |last: u8| [0x02, 0x77, 0, 0, 0, last];
        let lan = Lan::new(
            prefix,
            &[
                HostSpec::v4(mac(0x11), VIGILD_IP, 24),
                HostSpec::v4(mac(0x12), KEEPALIVED_IP, 24),
                HostSpec::v4(mac(0x64), CLIENT_IP, 24),
            ],
        )
        .expect("building the LAN");
        let br = &lan.bridge;
        br.exec_ok(&["ip", "tuntap", "add", "mode", "tap", "name", TAP])
            .expect("creating the TAP device (is /dev/net/tun there?)");
        br.exec_ok(&["ip", "link", "set", TAP, "master", Lan::BRIDGE])
            .unwrap();
        br.exec_ok(&["ip", "link", "set", TAP, "up"]).unwrap();
        Net { lan }
    }

    pub fn vigild_ns(&self) -> &Netns {
        &self.lan.host(0).ns
    }
    pub fn keepalived_ns(&self) -> &Netns {
        &self.lan.host(1).ns
    }
    pub fn client_ns(&self) -> &Netns {
        &self.lan.host(2).ns
    }
    /// Where `vigil-fw` runs (its TAP is there).
    pub fn fw_ns(&self) -> &Netns {
        &self.lan.bridge
    }
}

/// A scratch directory for configurations, logs, sockets and pid files; kept when
/// `VIGIL_KEEP_TEST_DIRS=1`.
pub fn workdir(test: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(&format!("vigil-fw-{test}-"))
        .tempdir()
        .expect("temp dir");
    if std::env::var("VIGIL_KEEP_TEST_DIRS").is_ok_and(|v| v == "1") {
        eprintln!("{test}: keeping {}", dir.path().display());
        let path = dir.keep();
        return tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(path)
            .expect("temp dir");
    }
    dir
}

/// Polls `f` every `every` until it returns `Some`, for at most `timeout`.
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

// ----- vigild ----------------------------------------------------------------------

/// The vigild binary: `$VIGILD` if set, else built once per test process with `cargo
/// build -p vigil-linux --bin vigild` into the target directory this test runs from
/// (so `CARGO_TARGET_DIR` and the profile are respected; a no-op when up to date).
pub fn vigild_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("VIGILD") {
            return PathBuf::from(p);
        }
        // .../target/<profile>/deps/<test binary>
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary in target/<profile>/deps");
        let target_dir = profile_dir.parent().expect("target dir");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("debug");
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "vigil-linux", "--bin", "vigild"])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(target_dir);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd
            .stdin(Stdio::null())
            .status()
            .expect("running cargo build -p vigil-linux");
        assert!(status.success(), "cargo build -p vigil-linux failed");
        let bin = profile_dir.join("vigild");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

/// keepalived.conf text for one instance on `eth0`: VRID 51, `VI_1`, VIP 10.77.0.50/24;
/// v2 with `auth_type PASS` (`s3cr3t`), or v3. vigild and keepalived read the same.
pub fn keepalived_conf(router_id: &str, version: u8, priority: u8, advert: &str) -> String {
    unicast_conf(router_id, version, priority, advert, None)
}

/// [`keepalived_conf`] with `unicast_src_ip SRC` and `unicast_peer { PEERS }` when
/// `unicast` is given.
pub fn unicast_conf(
    router_id: &str,
    version: u8,
    priority: u8,
    advert: &str,
    unicast: Option<(Ipv4Addr, &[Ipv4Addr])>,
) -> String {
    let auth = if version == 2 {
        "    authentication {\n        auth_type PASS\n        auth_pass s3cr3t\n    }\n"
    } else {
        ""
    };
    let peers = match unicast {
        Some((src, peers)) => {
            let list: String = peers.iter().map(|p| format!("        {p}\n")).collect();
            format!("    unicast_src_ip {src}\n    unicast_peer {{\n{list}    }}\n")
        }
        None => String::new(),
    };
    format!(
        "global_defs {{\n    router_id {router_id}\n}}\n\
         vrrp_instance {INSTANCE} {{\n    state BACKUP\n    interface eth0\n    \
         virtual_router_id {VRID}\n    priority {priority}\n    version {version}\n    \
         advert_int {advert}\n{auth}{peers}    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
    )
}

/// A vigild in a namespace; killed on drop.
#[derive(Debug)]
pub struct Vigild {
    child: Option<Child>,
    pub sock: PathBuf,
    pub log: PathBuf,
}

impl Vigild {
    /// Starts vigild with `conf` and waits (at most 10 s) for its control socket.
    pub fn start(ns: &Netns, dir: &Path, name: &str, conf: &str) -> Vigild {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writing the configuration");
        let sock = dir.join(format!("{name}.sock"));
        let log = dir.join(format!("{name}.log"));
        let child = ns
            .command(vigild_bin())
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
            "vigild {name} did not answer:\n{}",
            v.log_text()
        );
        v
    }

    /// The status document (`vigild status --json` over the control socket).
    pub fn status(&self) -> Option<serde_json::Value> {
        let mut s = std::os::unix::net::UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"status json\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        serde_json::from_str(&out).ok()
    }

    fn instance(&self) -> Option<serde_json::Value> {
        self.status()?["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == INSTANCE)
            .cloned()
    }

    pub fn state(&self) -> Option<String> {
        Some(self.instance()?["state"].as_str()?.to_owned())
    }

    /// The master vigild follows (its own address when master).
    pub fn master(&self) -> Option<String> {
        Some(self.instance()?["master"].as_str()?.to_owned())
    }

    pub fn wait_state(&self, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(5), || {
            (self.state().as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Vigild {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ----- keepalived ------------------------------------------------------------------

/// keepalived 2.2.7 in a namespace, foreground, VRRP only, logging to its file; both
/// processes killed on drop.
#[derive(Debug)]
pub struct Keepalived {
    child: Option<Child>,
    pub log: PathBuf,
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
            log,
            vrrp_pid_file,
        };
        let up = wait_for(Duration::from_secs(10), Duration::from_millis(10), || {
            k.vrrp_pid()
        });
        assert!(
            up.is_some(),
            "keepalived {name}: no VRRP child:\n{}",
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

    /// The state of the last "(VI_1) Entering X STATE" line.
    pub fn state(&self) -> Option<String> {
        last_state(&self.log_text())
    }

    pub fn wait_state(&self, state: &str, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        wait_for(timeout, Duration::from_millis(10), || {
            (self.state().as_deref() == Some(state)).then(|| start.elapsed())
        })
    }

    /// SIGKILL to both processes (a crash), reaped; waits (bounded) until the VRRP
    /// child is gone.
    pub fn kill(&mut self) {
        let vrrp = self.vrrp_pid();
        if let Some(p) = vrrp {
            send_signal(p, Signal::SIGKILL);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(p) = vrrp {
            wait_for(Duration::from_secs(2), Duration::from_millis(10), || {
                (!Path::new(&format!("/proc/{p}")).exists()
                    || std::fs::read_to_string(format!("/proc/{p}/stat"))
                        .is_ok_and(|s| s.contains(") Z ")))
                .then_some(())
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

/// The state of the last "(VI_1) Entering X STATE" line of a log.
pub fn last_state(log: &str) -> Option<String> {
    let prefix = format!("({INSTANCE}) Entering ");
    log.lines().rev().find_map(|l| {
        let rest = &l[l.find(&prefix)? + prefix.len()..];
        Some(rest.split_whitespace().next()?.to_owned())
    })
}

// ----- vigil-fw --------------------------------------------------------------------

/// `vigil-fw` on the TAP, with its stdout read line by line (each line stamped with the
/// time it arrived) by a thread. Killed on drop.
#[derive(Debug)]
pub struct Fw {
    child: Option<Child>,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    stderr: Arc<Mutex<String>>,
}

/// vigil-fw's arguments for VRID 51 with the VIP: v2 with `--auth s3cr3t`, or v3.
pub fn fw_args(version: u8, priority: u8, advert: &str) -> Vec<String> {
    let mut a: Vec<String> = [
        "--tap",
        TAP,
        "--addr",
        "10.77.0.13/24",
        "--mac",
        FW_MAC,
        "--name",
        INSTANCE,
        "--vrid",
        "51",
        "--vip",
        "10.77.0.50/24",
        "--interval",
        advert,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend([
        "--priority".into(),
        priority.to_string(),
        "--version".into(),
        version.to_string(),
    ]);
    if version == 2 {
        a.extend(["--auth".into(), "s3cr3t".into()]);
    }
    a
}

impl Fw {
    pub fn start(ns: &Netns, args: &[String]) -> Fw {
        let mut child = ns
            .command(VIGIL_FW)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting vigil-fw");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().expect("stdout");
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                l.lock().unwrap().push((Instant::now(), line));
            }
        });
        let err = child.stderr.take().expect("stderr");
        let e = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            e.lock().unwrap().push_str(&s);
        });
        Fw {
            child: Some(child),
            lines,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("vigil-fw running").id()
    }

    pub fn log_text(&self) -> String {
        let mut s: String = self
            .lines
            .lock()
            .unwrap()
            .iter()
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        s.push_str(&self.stderr.lock().unwrap());
        s
    }

    /// The current state, from the last "Entering X STATE" line.
    pub fn state(&self) -> Option<String> {
        last_state(&self.log_text())
    }

    /// Waits for the first line at or after line `from` that contains `needle`; its
    /// index and arrival time.
    pub fn wait_line(
        &self,
        needle: &str,
        from: usize,
        timeout: Duration,
    ) -> Option<(usize, Instant)> {
        wait_for(timeout, Duration::from_millis(2), || {
            let lines = self.lines.lock().unwrap();
            lines
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, (_, l))| l.contains(needle))
                .map(|(i, (t, _))| (i, *t))
        })
    }

    /// Lines read so far.
    pub fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Sends `sig` and waits (bounded) for the exit; `None` if it did not exit in time
    /// (it is then killed).
    pub fn stop(&mut self, sig: Signal, timeout: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        send_signal(c.id(), sig);
        let st = wait_exit(&mut c, timeout);
        if st.is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Let the reader threads drain the pipes.
        std::thread::sleep(Duration::from_millis(50));
        st
    }
}

impl Drop for Fw {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ----- the client and addresses ----------------------------------------------------

/// One ping from `ns` to `addr` (1 s timeout).
pub fn ping(ns: &Netns, addr: Ipv4Addr) -> bool {
    ns.exec(&["ping", "-n", "-q", "-c", "1", "-W", "1", &addr.to_string()])
        .is_ok_and(|o| o.status.success())
}

/// Pings until one is answered (at most `tries`, one second each).
pub fn ping_ok(ns: &Netns, addr: Ipv4Addr, tries: usize) -> bool {
    (0..tries).any(|_| ping(ns, addr))
}

/// The MAC `ns`'s neighbour table has for `addr`, if any.
pub fn neigh_mac(ns: &Netns, addr: Ipv4Addr) -> Option<String> {
    let out = ns
        .exec_ok(&["ip", "neigh", "show", &addr.to_string(), "dev", "eth0"])
        .ok()?;
    let mut words = out.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

pub fn flush_neigh(ns: &Netns) {
    let _ = ns.exec(&["ip", "neigh", "flush", "dev", "eth0"]);
}

/// Whether `addr` is on `eth0` of `ns`.
pub fn has_addr(ns: &Netns, addr: Ipv4Addr) -> bool {
    ns.exec_ok(&["ip", "-o", "addr", "show", "dev", "eth0"])
        .unwrap_or_default()
        .contains(&format!(" {addr}/"))
}
