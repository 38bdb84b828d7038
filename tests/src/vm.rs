//! A virtual machine with a real IPVS kernel, for the LVS tests (issue 15).
//!
//! This machine's kernel may have no IPVS; Debian 12's has it as modules. `scripts/lvs-vm`
//! fetches that kernel once (cached under `target/vm/`), builds an initramfs (busybox,
//! ipvsadm, keepalived, the modules, `tests/vm/init`, and whatever a test adds) and runs
//! qemu under TCG. This module drives it from a test:
//!
//! - [`vm_or_skip`] decides whether a VM test can run (root, namespaces, qemu, the
//!   kernel); it prints `SKIPPED <test>: <reason>` and returns `false` when not, or
//!   panics under `VIGIL_REQUIRE_PRIVILEGED=1`, like [`privileged_or_skip`].
//! - [`Guest::boot`] boots a guest whose NIC is a TAP in a namespace of its own,
//!   plugged into a bridge of the test's (e.g. a [`Lan`](crate::netns::Lan)'s);
//!   [`Guest::run`] runs a shell command in it (over a virtio-serial port) and returns
//!   its exit code and output; [`Guest::push`] writes a file into it. Dropping the guest
//!   kills qemu and deletes its namespace.
//! - [`normalise_ipvsadm`] turns `ipvsadm -Ln` output into a comparable table (no
//!   counters, no header), the form in which keepalived's and vigild's IPVS tables are
//!   compared.
//!
//! Every wait is bounded. The console log of a guest whose test panicked is kept (its
//! path is printed).

use crate::netns::{Mac, Netns, privileged_or_skip};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Bytes of a file per command of [`Guest::push`] (a line of 16 KB of base64).
const PUSH_CHUNK: usize = 12 * 1024;

/// `scripts/lvs-vm` of this repository.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lvs-vm")
}

/// Where the kernel cache and the guests' working files live (`target/vm`, or
/// `$VIGIL_VM_CACHE`).
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("VIGIL_VM_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/vm"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How long a boot may take before it counts as failed (TCG on a loaded machine).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);

/// Why VM tests cannot run here, or `None` when they can. Fetches the kernel package
/// once (the first call may take a few seconds).
fn vm_problem() -> Option<&'static str> {
    static PROBLEM: OnceLock<Option<String>> = OnceLock::new();
    PROBLEM
        .get_or_init(|| {
            for (program, package) in [
                ("qemu-system-x86_64", "qemu-system-x86"),
                ("busybox", "busybox-static"),
                ("ipvsadm", "ipvsadm"),
            ] {
                let found = Command::new("sh")
                    .args(["-c", &format!("command -v {program}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if !found {
                    return Some(format!("{program} not found (install {package})"));
                }
            }
            if !Path::new("/dev/net/tun").exists() {
                return Some("no /dev/net/tun for the guest's TAP".to_owned());
            }
            match Command::new(script())
                .arg("kernel")
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) if out.status.success() => None,
                Ok(out) => Some(format!(
                    "no guest kernel (`scripts/lvs-vm kernel` failed: {})",
                    String::from_utf8_lossy(&out.stderr).trim()
                )),
                Err(e) => Some(format!("cannot run scripts/lvs-vm: {e}")),
            }
        })
        .as_deref()
}

/// Whether a VM test can run: [`privileged_or_skip`], then qemu, busybox, ipvsadm,
/// `/dev/net/tun` and the guest kernel (fetched once). Prints `SKIPPED <test>: <reason>`
/// and returns `false` when not, or panics under `VIGIL_REQUIRE_PRIVILEGED=1`.
pub fn vm_or_skip(test: &str) -> bool {
    if !privileged_or_skip(test) {
        return false;
    }
    let Some(reason) = vm_problem() else {
        return true;
    };
    if std::env::var(crate::netns::REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!(
            "{test}: {reason} (and {}=1 forbids skipping)",
            crate::netns::REQUIRE_PRIVILEGED_ENV
        );
    }
    let _ = writeln!(io::stderr(), "SKIPPED {test}: {reason}");
    false
}

/// What goes into a guest besides the standard initramfs (busybox, ipvsadm,
/// keepalived, the IPVS modules).
#[derive(Debug, Clone)]
pub struct GuestSpec {
    /// Binaries copied to `/bin/<file name>` (without debug information) with the
    /// libraries `ldd` lists (vigild, a test binary).
    pub bins: Vec<PathBuf>,
    /// Files: host path, guest path.
    pub files: Vec<(PathBuf, String)>,
    /// The name of the guest's NIC (keepalived configurations name it).
    pub ifname: String,
    /// The NIC's MAC.
    pub mac: Mac,
    /// Guest memory in MB.
    pub mem_mb: u32,
}

impl Default for GuestSpec {
    fn default() -> Self {
        GuestSpec {
            bins: Vec::new(),
            files: Vec::new(),
            ifname: "eth0".to_owned(),
            mac: Mac([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            mem_mb: 256,
        }
    }
}

impl GuestSpec {
    /// Adds a binary (to `/bin`, with its libraries).
    pub fn bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.bins.push(path.into());
        self
    }

    /// Adds a file at `guest_path`.
    pub fn file(mut self, host_path: impl Into<PathBuf>, guest_path: &str) -> Self {
        self.files.push((host_path.into(), guest_path.to_owned()));
        self
    }

    /// Names the NIC in the guest.
    pub fn ifname(mut self, name: &str) -> Self {
        self.ifname = name.to_owned();
        self
    }

    /// Sets the NIC's MAC.
    pub fn mac(mut self, mac: [u8; 6]) -> Self {
        self.mac = Mac(mac);
        self
    }
}

/// The exit code and output (stdout and stderr together) of a command in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    pub exit: i32,
    pub output: String,
}

struct Channel {
    stdin: ChildStdin,
    lines: Receiver<String>,
    next_id: u64,
    /// Set when a command timed out on the host side: the channel is out of step.
    broken: Option<String>,
}

/// A booted guest. Dropping it kills qemu and deletes its namespace.
pub struct Guest {
    // Field order is drop order: qemu goes before its namespace.
    qemu: Child,
    channel: Mutex<Channel>,
    ns: Option<Netns>,
    dir: PathBuf,
    boot_time: Duration,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("pid", &self.qemu.id())
            .field("dir", &self.dir)
            .field("boot_time", &self.boot_time)
            .finish_non_exhaustive()
    }
}

impl Guest {
    /// Boots a guest whose NIC is plugged into bridge `bridge` of namespace `bridge_ns`
    /// (a [`Lan`](crate::netns::Lan)'s is `lan.bridge` and `Lan::BRIDGE`). The TAP lives
    /// in a namespace of the guest's own (`vmq<pid>-<n>`), bridged there to a veth pair
    /// whose other end is a port of `bridge`. Returns once the guest's command channel
    /// answers (the NIC is up, without addresses: give it some with [`run`](Self::run)).
    pub fn boot(spec: &GuestSpec, bridge_ns: &Netns, bridge: &str) -> io::Result<Guest> {
        let ns = Netns::new("vmq")?;
        ns.exec_ok(&["ip", "tuntap", "add", "tap0", "mode", "tap"])?;
        let port = format!("vmq{}", COUNTER.fetch_add(1, Ordering::Relaxed));
        bridge_ns.add_switch_port(bridge, &port, "uplink", &ns)?;
        ns.add_switch("br0")?;
        for link in ["tap0", "uplink"] {
            ns.exec_ok(&["ip", "link", "set", link, "master", "br0"])?;
            ns.exec_ok(&["ip", "link", "set", link, "up"])?;
        }
        let mac = spec.mac.to_string();
        Self::start(spec, Some(ns), &["--tap", "tap0", "--mac", &mac])
    }

    /// Boots a guest without a network (only `lo`): for tests of IPVS programming alone.
    pub fn boot_offline(spec: &GuestSpec) -> io::Result<Guest> {
        Self::start(spec, None, &[])
    }

    fn start(spec: &GuestSpec, ns: Option<Netns>, net_args: &[&str]) -> io::Result<Guest> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = cache_dir().join(format!("guest-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let initrd = dir.join("initrd.gz");
        let started = Instant::now();
        let mut build = Command::new(script());
        build.arg("initramfs").arg(&initrd);
        for bin in &spec.bins {
            build.arg("--bin").arg(bin);
        }
        for (host, guest) in &spec.files {
            let mut spec = host.clone().into_os_string();
            spec.push("=");
            spec.push(guest);
            build.arg("--file").arg(spec);
        }
        let out = build.stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "scripts/lvs-vm initramfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let built = started.elapsed();

        let log = dir.join("console.log");
        let mut cmd = match &ns {
            Some(ns) => ns.command(script()),
            None => Command::new(script()),
        };
        cmd.arg("boot")
            .arg(&initrd)
            .arg("--log")
            .arg(&log)
            .args(["--mem", &spec.mem_mb.to_string()])
            .args(["--ifname", &spec.ifname])
            .args(net_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("qemu.stderr"))?);
        let mut qemu = cmd.spawn()?;
        let stdin = qemu.stdin.take().expect("piped stdin");
        let stdout = qemu.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut guest = Guest {
            qemu,
            channel: Mutex::new(Channel {
                stdin,
                lines,
                next_id: 1,
                broken: None,
            }),
            ns,
            dir,
            boot_time: Duration::ZERO,
        };
        let booting = Instant::now();
        let ready = {
            let ch = guest.channel.get_mut().expect("channel lock");
            wait_line(&ch.lines, BOOT_TIMEOUT, |l| l.trim_end() == "@@READY")
        };
        if let Err(why) = ready {
            let _ = guest.qemu.kill();
            let _ = guest.qemu.wait();
            return Err(io::Error::other(format!(
                "the guest did not come up within {BOOT_TIMEOUT:?} ({why}); qemu: {}; console:\n{}",
                std::fs::read_to_string(guest.dir.join("qemu.stderr")).unwrap_or_default(),
                guest.console_log()
            )));
        }
        guest.boot_time = booting.elapsed();
        // The guest comes up even when the initramfs did not fit in its memory: only
        // the files unpacked before are there.
        let console = guest.console_log();
        if console.contains("Initramfs unpacking failed") {
            return Err(io::Error::other(format!(
                "the initramfs did not unpack in {} MB (GuestSpec::mem_mb): {}",
                spec.mem_mb,
                tail(&console, 5)
            )));
        }
        eprintln!(
            "vm: initramfs built in {:.1} s, guest booted in {:.1} s ({})",
            built.as_secs_f64(),
            guest.boot_time.as_secs_f64(),
            guest.dir.display()
        );
        Ok(guest)
    }

    /// From starting qemu to the command channel's `@@READY`.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// The guest's namespace on the host (the one owning the TAP), if it has a network.
    pub fn netns(&self) -> Option<&Netns> {
        self.ns.as_ref()
    }

    /// The directory of this guest's initramfs and console log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kernel console so far (kernel messages, `/dev/console`).
    pub fn console_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// Runs `script` with `sh` in the guest (in `/tmp`, stdin `/dev/null`), killed after
    /// `timeout`. Returns its exit code (137 when killed) and its stdout and stderr
    /// together. Background processes it starts keep running (redirect their output).
    /// An error means the channel failed (qemu died, or no answer within `timeout` plus
    /// 15 s); the guest is then unusable.
    pub fn run_timeout(&self, script: &str, timeout: Duration) -> io::Result<Ran> {
        let mut ch = self.channel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(why) = &ch.broken {
            return Err(io::Error::other(format!("guest channel broken: {why}")));
        }
        let id = ch.next_id;
        ch.next_id += 1;
        let secs = timeout.as_secs().max(1);
        let line = format!("@@RUN {id} {secs} {}\n", base64_encode(script.as_bytes()));
        if let Err(e) = ch.stdin.write_all(line.as_bytes()).and(ch.stdin.flush()) {
            ch.broken = Some(format!("writing to qemu: {e}"));
            return Err(e);
        }
        let deadline = Instant::now() + Duration::from_secs(secs) + Duration::from_secs(15);
        let begin = format!("@@BEGIN {id}");
        let end = format!("@@END {id} ");
        let mut body = String::new();
        let mut inside = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match ch.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    let why = match e {
                        RecvTimeoutError::Timeout => {
                            format!("no answer to command {id} within {secs} s + 15 s")
                        }
                        RecvTimeoutError::Disconnected => "qemu exited".to_owned(),
                    };
                    ch.broken = Some(why.clone());
                    let shown: String = script.chars().take(200).collect();
                    return Err(io::Error::other(format!(
                        "{why}: {shown:?}; console:\n{}",
                        tail(&self.console_log(), 40)
                    )));
                }
            };
            let line = line.trim_end();
            if !inside {
                inside = line == begin;
                continue;
            }
            if let Some(code) = line.strip_prefix(&end) {
                let exit = code.trim().parse().unwrap_or(-1);
                let output = base64_decode(&body)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| io::Error::other(format!("command {id}: {e}")))?;
                return Ok(Ran { exit, output });
            }
            body.push_str(line);
        }
    }

    /// [`run_timeout`](Self::run_timeout) with 60 s.
    pub fn run(&self, script: &str) -> io::Result<Ran> {
        self.run_timeout(script, Duration::from_secs(60))
    }

    /// Runs `script`; panics unless it exits 0. Returns its output.
    pub fn run_ok(&self, script: &str) -> String {
        match self.run(script) {
            Ok(Ran { exit: 0, output }) => output,
            Ok(Ran { exit, output }) => panic!("guest: `{script}` exited {exit}:\n{output}"),
            Err(e) => panic!("guest: `{script}`: {e}"),
        }
    }

    /// Writes `contents` to `path` in the guest (any bytes, in pieces of 12 KB over the
    /// command channel: some 50 KB/s under TCG, so keep it to configurations and small
    /// files; put binaries in the initramfs with [`GuestSpec::bin`]).
    pub fn push(&self, path: &str, contents: &[u8]) -> io::Result<()> {
        let q = shell_quote(path);
        let mut script = format!("mkdir -p \"$(dirname {q})\" && : > {q}");
        for chunk in contents.chunks(PUSH_CHUNK) {
            let ran = self.run(&script)?;
            if ran.exit != 0 {
                return Err(io::Error::other(format!(
                    "writing {path} in the guest: {}",
                    ran.output
                )));
            }
            script = format!("printf %s {} | base64 -d >> {q}", base64_encode(chunk));
        }
        let ran = self.run(&script)?;
        if ran.exit != 0 {
            return Err(io::Error::other(format!(
                "writing {path} in the guest: {}",
                ran.output
            )));
        }
        Ok(())
    }

    /// `ipvsadm -Ln --sort` in the guest, normalised by [`normalise_ipvsadm`].
    pub fn ipvs_table(&self) -> io::Result<String> {
        let ran = self.run("ipvsadm -Ln --sort")?;
        if ran.exit != 0 {
            return Err(io::Error::other(format!("ipvsadm -Ln: {}", ran.output)));
        }
        Ok(normalise_ipvsadm(&ran.output))
    }

    /// Polls [`ipvs_table`](Self::ipvs_table) every 250 ms until it equals `want`
    /// (normalised too) or `timeout` passes. Returns how long it took, or the last
    /// table seen.
    pub fn wait_ipvs_table(&self, want: &str, timeout: Duration) -> Result<Duration, String> {
        let want = normalise_ipvsadm(want);
        let start = Instant::now();
        let mut last = String::new();
        for _ in 0..(timeout.as_millis() / 250 + 2) {
            match self.ipvs_table() {
                Ok(t) if t == want => return Ok(start.elapsed()),
                Ok(t) => last = t,
                Err(e) => return Err(e.to_string()),
            }
            if start.elapsed() >= timeout {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(last)
    }

    /// Powers the guest off (bounded: 10 s) instead of killing it.
    pub fn shutdown(mut self) {
        {
            let mut ch = self.channel.lock().unwrap_or_else(|p| p.into_inner());
            let _ = ch.stdin.write_all(b"@@RUN 0 5 cG93ZXJvZmYgLWY=\n"); // poweroff -f
            let _ = ch.stdin.flush();
        }
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.qemu.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
        if std::thread::panicking() {
            eprintln!(
                "vm: kept the guest's files in {} (console.log, qemu.stderr)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
        // The namespace (and with it the TAP and the veth pair) goes after qemu.
        self.ns.take();
    }
}

fn wait_line(
    lines: &Receiver<String>,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) if pred(&l) => return Ok(()),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => return Err("timed out".to_owned()),
            Err(RecvTimeoutError::Disconnected) => return Err("qemu exited".to_owned()),
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Quotes `s` for the guest's shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `ipvsadm -Ln` (or `-Ln --sort`) output in a comparable form: the version and column
/// headers go, the connection counters go, runs of blanks become one. A service line
/// reads `TCP 10.0.0.1:80 rr persistent 50` and a destination line
/// `  -> 10.0.0.8:80 Route 1`. Services and their destinations are sorted (as
/// `--sort` does), so the order in which a director added them does not matter.
pub fn normalise_ipvsadm(text: &str) -> String {
    let mut services: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            None => {}
            Some(&"->") => {
                if words.get(1) == Some(&"RemoteAddress:Port") {
                    continue;
                }
                // -> ADDR FORWARD WEIGHT ACTIVE INACTIVE: keep the first three.
                let kept = words[..words.len().min(4)].join(" ");
                match services.last_mut() {
                    Some((_, dests)) => dests.push(format!("  {kept}")),
                    None => services.push((String::new(), vec![format!("  {kept}")])),
                }
            }
            Some(&("TCP" | "UDP" | "SCTP" | "FWM")) => {
                services.push((words.join(" "), Vec::new()));
            }
            // "IP Virtual Server version ...", "Prot LocalAddress:Port ...".
            Some(_) => {}
        }
    }
    services.sort();
    let mut out = String::new();
    for (service, mut dests) in services {
        dests.sort();
        if !service.is_empty() {
            out.push_str(&service);
            out.push('\n');
        }
        for d in dests {
            out.push_str(&d);
            out.push('\n');
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (the guest's `base64 -d` reads it).
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes base64 (whitespace ignored, as the guest's `base64` wraps lines).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return Err(format!("not base64: byte {c:#04x}")),
        };
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for n in 0..70usize {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64_encode(&data);
            assert_eq!(text.len() % 4, 0);
            assert_eq!(base64_decode(&text).unwrap(), data, "{n} bytes");
        }
        assert_eq!(base64_encode(b"poweroff -f"), "cG93ZXJvZmYgLWY=");
        assert_eq!(base64_decode("aGVs\nbG8=").unwrap(), b"hello");
        assert!(base64_decode("a*").is_err());
    }

    #[test]
    fn ipvsadm_output_is_normalised() {
        let a = "IP Virtual Server version 1.2.1 (size=4096)\n\
                 Prot LocalAddress:Port Scheduler Flags\n  \
                 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
                 TCP  10.78.0.101:80 rr\n  \
                 -> 10.78.0.9:80                 Route   1      0          3\n  \
                 -> 10.78.0.8:80                 Route   1      2          0\n\
                 TCP  10.78.0.100:80 wlc persistent 50\n  \
                 -> 10.78.0.8:80                 Masq    0      0          0\n";
        assert_eq!(
            normalise_ipvsadm(a),
            "TCP 10.78.0.100:80 wlc persistent 50\n  -> 10.78.0.8:80 Masq 0\n\
             TCP 10.78.0.101:80 rr\n  -> 10.78.0.8:80 Route 1\n  -> 10.78.0.9:80 Route 1\n"
        );
        // Counters and order do not matter; weights and forwarding do.
        let b = a.replace("2          0", "0          0");
        assert_eq!(normalise_ipvsadm(a), normalise_ipvsadm(&b));
        assert_ne!(
            normalise_ipvsadm(a),
            normalise_ipvsadm(&a.replace("Masq    0", "Masq    1"))
        );
        assert_eq!(normalise_ipvsadm("IP Virtual Server version 1.2.1\n"), "");
    }

    #[test]
    fn guest_runs_commands() {
        if !vm_or_skip("guest_runs_commands") {
            return;
        }
        let guest = Guest::boot_offline(&GuestSpec::default()).unwrap();
        let ran = guest.run("echo hello; echo oops >&2; exit 3").unwrap();
        assert_eq!(ran.exit, 3);
        assert_eq!(ran.output, "hello\noops\n");
        let ran = guest
            .run_timeout("sleep 30", Duration::from_secs(1))
            .unwrap();
        assert_eq!(ran.exit, 137, "{ran:?}");
        // IPVS is there, and the table normalises.
        guest.run_ok(
            "ipvsadm -A -t 10.9.9.9:80 -s wrr && ipvsadm -a -t 10.9.9.9:80 -r 10.9.9.10 -m -w 3",
        );
        assert_eq!(
            guest.ipvs_table().unwrap(),
            "TCP 10.9.9.9:80 wrr\n  -> 10.9.9.10:80 Masq 3\n"
        );
        // Files of any bytes, over several chunks.
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        let t = Instant::now();
        guest.push("/tmp/sub/blob", &data).unwrap();
        eprintln!("vm: pushed {} bytes in {:?}", data.len(), t.elapsed());
        let sum = guest.run_ok("md5sum /tmp/sub/blob");
        let want = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&data)?;
                c.wait_with_output()
            })
            .unwrap();
        let want = String::from_utf8_lossy(&want.stdout);
        assert_eq!(
            sum.split_whitespace().next(),
            want.split_whitespace().next()
        );
    }
}
