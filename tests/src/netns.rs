//! Network-namespace test harness.
//!
//! Tests that need real sockets, netlink or daemons build their little networks here:
//!
//! - [`privileged_or_skip`] decides whether a namespace test can run (root and a working
//!   `ip netns`); it prints `SKIPPED <test>: <reason>` and returns `false` when not, or
//!   panics when `VIGIL_REQUIRE_PRIVILEGED=1` is set so that CI never skips silently.
//! - [`Netns`] is one named namespace (`ip netns add`), deleted on drop, with helpers to
//!   run commands inside it ([`Netns::exec`], [`Netns::spawn`]).
//! - [`Lan`] is a bridge in a namespace of its own with hosts attached by veth pairs,
//!   each host in its own namespace with addresses, a MAC and its links up.
//! - [`run_in`] runs a closure on a thread that has entered a namespace with `setns()`,
//!   so in-process code (sockets, netlink, a tokio runtime) runs inside it.
//!
//! Names are unique per process and call (`prefix` + pid + counter), so tests may run in
//! parallel and beside other test binaries. Everything created is removed on drop; a
//! namespace left behind by a crashed run of an earlier process with the same pid is
//! replaced.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable that turns a skip into a failure.
pub const REQUIRE_PRIVILEGED_ENV: &str = "VIGIL_REQUIRE_PRIVILEGED";

/// Where `ip netns` keeps its namespace files.
pub const NETNS_DIR: &str = "/run/netns";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Can namespace tests run here? `None` if yes, or the reason why not.
fn privilege_problem() -> Option<&'static str> {
    static PROBLEM: OnceLock<Option<String>> = OnceLock::new();
    PROBLEM
        .get_or_init(|| {
            if !nix::unistd::geteuid().is_root() {
                return Some("not running as root".to_owned());
            }
            match Command::new("ip").arg("-V").output() {
                Ok(out) if out.status.success() => {}
                Ok(_) => return Some("`ip -V` failed (iproute2 broken?)".to_owned()),
                Err(e) => return Some(format!("`ip` not found (install iproute2): {e}")),
            }
            // Root is not enough inside some containers: try the real thing once.
            match Netns::new("vprobe") {
                Ok(ns) => match ns.exec(&["ip", "link", "set", "lo", "up"]) {
                    Ok(out) if out.status.success() => None,
                    Ok(out) => Some(format!(
                        "`ip netns exec` does not work: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )),
                    Err(e) => Some(format!("`ip netns exec` does not work: {e}")),
                },
                Err(e) => Some(format!("`ip netns add` does not work: {e}")),
            }
        })
        .as_deref()
}

/// Whether a privileged (namespace) test can run. When not root or `ip netns` does not
/// work, it prints `SKIPPED <test>: <reason>` (to stderr, past libtest's capture) and
/// returns `false`, unless `VIGIL_REQUIRE_PRIVILEGED=1` is set: then it panics with the
/// reason, so that CI never skips silently.
pub fn privileged_or_skip(test: &str) -> bool {
    let Some(reason) = privilege_problem() else {
        return true;
    };
    if std::env::var(REQUIRE_PRIVILEGED_ENV).is_ok_and(|v| v == "1") {
        panic!("{test}: {reason} (and {REQUIRE_PRIVILEGED_ENV}=1 forbids skipping)");
    }
    // Straight to stderr, past libtest's capture, so that skips show in CI logs.
    let _ = writeln!(io::stderr(), "SKIPPED {test}: {reason}");
    false
}

/// Runs `ip ARGS` and turns a failure into an error carrying its stderr.
pub fn ip(args: &[&str]) -> io::Result<String> {
    run_checked(Command::new("ip").args(args))
}

fn run_checked(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// One network namespace, created with `ip netns add` and deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Plugs `into` into switch `bridge` of this namespace: a veth pair, `port` here
    /// (enslaved to the bridge and up), `ifname` in `into` (left down, for its owner
    /// to address).
    pub fn add_switch_port(
        &self,
        bridge: &str,
        port: &str,
        ifname: &str,
        into: &Netns,
    ) -> io::Result<()> {
        self.exec_ok(&[
            "ip",
            "link",
            "add",
            port,
            "type",
            "veth",
            "peer",
            "name",
            ifname,
            "netns",
            into.name(),
        ])?;
        self.exec_ok(&["ip", "link", "set", port, "master", bridge])?;
        self.exec_ok(&["ip", "link", "set", port, "up"]).map(drop)
    }

    /// Adds bridge `name` as a plain switch (no multicast snooping, no STP, no
    /// forwarding delay: every port forwards every frame at once) and sets it up.
    pub fn add_switch(&self, name: &str) -> io::Result<()> {
        self.exec_ok(&[
            "ip",
            "link",
            "add",
            name,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ])?;
        self.exec_ok(&["ip", "link", "set", name, "up"]).map(drop)
    }

    /// Creates a namespace named `<prefix><pid>-<n>` (unique within this process) with
    /// `lo` up. Keep `prefix` short and free of `/`.
    pub fn new(prefix: &str) -> io::Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}{}-{n}", std::process::id());
        if let Err(first) = ip(&["netns", "add", &name]) {
            // Left behind by a crashed process that had our pid: replace it.
            if !PathBuf::from(NETNS_DIR).join(&name).exists() {
                return Err(first);
            }
            ip(&["netns", "del", &name])?;
            ip(&["netns", "add", &name])?;
        }
        let ns = Netns { name };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The name `ip netns` knows it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`, the file to `setns()` with.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// A `Command` that runs `program` inside the namespace (`ip netns exec NAME ...`).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    fn command_of(&self, argv: &[&str]) -> io::Result<Command> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
        let mut cmd = self.command(program);
        cmd.args(args);
        Ok(cmd)
    }

    /// Runs `argv` inside the namespace and waits for it (stdin is /dev/null).
    pub fn exec(&self, argv: &[&str]) -> io::Result<Output> {
        self.command_of(argv)?.stdin(Stdio::null()).output()
    }

    /// Runs `argv` inside the namespace; a non-zero exit is an error with its stderr.
    /// Returns stdout.
    pub fn exec_ok(&self, argv: &[&str]) -> io::Result<String> {
        run_checked(&mut self.command_of(argv)?)
    }

    /// Starts `argv` inside the namespace (stdin /dev/null, stdout and stderr piped).
    /// The caller owns the child: kill and wait for it (see [`KillOnDrop`]).
    pub fn spawn(&self, argv: &[&str]) -> io::Result<Child> {
        self.command_of(argv)?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    /// Writes a sysctl of this namespace (`key` as in `net.ipv6.conf.all.accept_dad`).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        run_in(self, || std::fs::write(&path, value))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("warning: could not delete namespace {}: {e}", self.name);
        }
    }
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `f` on a new thread that first enters `ns` with `setns(CLONE_NEWNET)`, and
/// returns its result. Sockets and netlink connections made inside `f` belong to the
/// namespace (build a tokio runtime inside `f` for async code). A panic in `f` is
/// propagated.
pub fn run_in<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    let path = ns.path();
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            let file =
                File::open(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .unwrap_or_else(|e| panic!("setns({}) failed: {e}", path.display()));
            drop(file);
            f()
        });
        match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A packet capture on one interface (an `AF_PACKET` socket for every protocol), to
/// check what really went on the wire without tcpdump. Open it inside the namespace with
/// [`run_in`]; the socket stays in that namespace and can be read from any thread. It
/// sees frames in both directions (outgoing ones too), from the moment it is opened.
#[derive(Debug)]
pub struct Capture {
    fd: std::os::fd::OwnedFd,
}

impl Capture {
    /// Opens a capture on `ifname` of the calling thread's namespace.
    pub fn open(ifname: &str) -> io::Result<Self> {
        Ok(Capture {
            fd: packet_socket(ifname, false)?,
        })
    }

    /// The next frame within `timeout` (`None` when none came), at most `buf.len()` bytes.
    pub fn next_frame(
        &self,
        buf: &mut [u8],
        timeout: std::time::Duration,
    ) -> io::Result<Option<usize>> {
        use nix::libc;
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        if rc == 0 {
            return Ok(None);
        }
        // SAFETY: `buf` is live and writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        Ok(Some(n as usize))
    }

    /// Waits up to `timeout` for a frame that `pred` accepts and returns it. Every other
    /// frame is skipped; at most 10,000 are looked at.
    pub fn wait_for(
        &self,
        timeout: std::time::Duration,
        mut pred: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Option<Vec<u8>>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        for _ in 0..10_000 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.next_frame(&mut buf, left)? {
                Some(n) if pred(&buf[..n]) => return Ok(Some(buf[..n].to_vec())),
                Some(_) => {}
                None => break,
            }
        }
        Ok(None)
    }
}

/// A MAC address in the usual notation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What one host of a [`Lan`] gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub mac: Mac,
    pub ipv4: Option<(Ipv4Addr, u8)>,
    /// A global (or ULA) IPv6 address, added with `nodad`. Every host also has its
    /// link-local address; DAD is switched off in host namespaces so it is usable at once.
    pub ipv6: Option<(Ipv6Addr, u8)>,
}

impl HostSpec {
    /// A host with an IPv4 address `addr/prefix_len`.
    pub fn v4(mac: [u8; 6], addr: Ipv4Addr, prefix_len: u8) -> Self {
        HostSpec {
            mac: Mac(mac),
            ipv4: Some((addr, prefix_len)),
            ipv6: None,
        }
    }

    /// Adds an IPv6 address.
    pub fn with_v6(mut self, addr: Ipv6Addr, prefix_len: u8) -> Self {
        self.ipv6 = Some((addr, prefix_len));
        self
    }
}

/// One host of a [`Lan`]: its namespace and what it was given.
#[derive(Debug)]
pub struct Host {
    pub ns: Netns,
    /// The host's interface on the LAN (the same name in every host).
    pub ifname: String,
    /// The bridge-side end of its veth pair, in the bridge namespace.
    pub port: String,
    pub spec: HostSpec,
}

impl Host {
    /// The IPv6 link-local address the kernel derived from the MAC (EUI-64).
    pub fn link_local(&self) -> Ipv6Addr {
        let m = self.spec.mac.0;
        Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        )
    }
}

/// A bridge (`br0`, multicast snooping off, no STP) in its own namespace, with hosts
/// attached by veth pairs. Host `i` sits in its own namespace with the interface
/// [`Lan::IFNAME`] and the bridge port `p<i>`.
#[derive(Debug)]
pub struct Lan {
    // Hosts drop (and so their namespaces and veth pairs go) before the bridge.
    pub hosts: Vec<Host>,
    pub bridge: Netns,
}

impl Lan {
    /// The name of every host's interface on the LAN.
    pub const IFNAME: &'static str = "eth0";
    /// The bridge's name in the bridge namespace.
    pub const BRIDGE: &'static str = "br0";

    /// Builds the LAN. `prefix` names the namespaces (`<prefix>b…` for the bridge,
    /// `<prefix>h<i>…` for the hosts).
    pub fn new(prefix: &str, specs: &[HostSpec]) -> io::Result<Self> {
        let bridge = Netns::new(&format!("{prefix}b"))?;
        // A pure switch: no IPv6 on the bridge or its ports, so they send nothing (no
        // router or neighbour solicitations) that captures would have to skip.
        for key in [
            "net.ipv6.conf.all.disable_ipv6",
            "net.ipv6.conf.default.disable_ipv6",
        ] {
            bridge.sysctl(key, "1")?;
        }
        bridge.add_switch(Self::BRIDGE)?;
        let mut lan = Lan {
            hosts: Vec::with_capacity(specs.len()),
            bridge,
        };
        for (i, spec) in specs.iter().enumerate() {
            let host = lan.attach(&format!("{prefix}h{i}"), i, spec)?;
            lan.hosts.push(host);
        }
        Ok(lan)
    }

    fn attach(&self, ns_prefix: &str, i: usize, spec: &HostSpec) -> io::Result<Host> {
        let ns = Netns::new(ns_prefix)?;
        // Addresses must be usable at once: no duplicate address detection.
        for key in [
            "net.ipv6.conf.all.accept_dad",
            "net.ipv6.conf.default.accept_dad",
        ] {
            ns.sysctl(key, "0")?;
        }
        let port = format!("p{i}");
        let ifname = Lan::IFNAME.to_owned();
        self.bridge
            .add_switch_port(Self::BRIDGE, &port, &ifname, &ns)?;
        let mac = spec.mac.to_string();
        ns.exec_ok(&["ip", "link", "set", &ifname, "address", &mac])?;
        if let Some((addr, len)) = spec.ipv4 {
            let cidr = format!("{addr}/{len}");
            ns.exec_ok(&["ip", "addr", "add", &cidr, "dev", &ifname])?;
        }
        if let Some((addr, len)) = spec.ipv6 {
            let cidr = format!("{addr}/{len}");
            ns.exec_ok(&["ip", "addr", "add", &cidr, "dev", &ifname, "nodad"])?;
        }
        ns.exec_ok(&["ip", "link", "set", &ifname, "up"])?;
        Ok(Host {
            ns,
            ifname,
            port,
            spec: spec.clone(),
        })
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }
}

/// An AF_PACKET socket bound to `ifname` of the calling thread's namespace, seeing every
/// frame (ETH_P_ALL): captures read from it, flood senders write to it.
pub fn packet_socket(ifname: &str, nonblocking: bool) -> io::Result<std::os::fd::OwnedFd> {
    use nix::libc;
    use std::os::fd::{AsRawFd, FromRawFd};
    let ifindex = nix::net::if_::if_nametoindex(ifname).map_err(io::Error::from)?;
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let flags = if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: plain socket(2) call; the descriptor is owned at once.
    let raw = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | flags,
            libc::c_int::from(proto),
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    // SAFETY: all-zero is a valid sockaddr_ll; bind reads it for the length given.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `sll` is live and its length is given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_lifecycle_exec_and_run_in() {
        if !privileged_or_skip("netns_lifecycle_exec_and_run_in") {
            return;
        }
        let ns = Netns::new("vtn").unwrap();
        let path = ns.path();
        assert!(path.exists());
        let out = ns
            .exec_ok(&["ip", "-o", "addr", "show", "dev", "lo"])
            .unwrap();
        assert!(out.contains("127.0.0.1"), "{out}");
        // (No dummy driver on every kernel: a veth pair will do.)
        ns.exec_ok(&[
            "ip", "link", "add", "vtdummy0", "type", "veth", "peer", "name", "vtdummy1",
        ])
        .unwrap();

        // In-process code sees the namespace's links, the test thread does not.
        let inside = run_in(&ns, || {
            std::fs::read_to_string("/proc/thread-self/net/dev").unwrap()
        });
        assert!(inside.contains("vtdummy0"), "{inside}");
        let outside = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
        assert!(!outside.contains("vtdummy0"));

        let child = ns.spawn(&["ip", "link", "show", "vtdummy0"]).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());

        let name = ns.name().to_owned();
        drop(ns);
        assert!(!path.exists(), "{name} left behind");
    }

    #[test]
    fn run_in_propagates_panics() {
        if !privileged_or_skip("run_in_propagates_panics") {
            return;
        }
        let ns = Netns::new("vtp").unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_in(&ns, || panic!("boom"));
        }));
        assert!(r.is_err());
    }

    #[test]
    fn names_are_unique() {
        if !privileged_or_skip("names_are_unique") {
            return;
        }
        let a = Netns::new("vtu").unwrap();
        let b = Netns::new("vtu").unwrap();
        assert_ne!(a.name(), b.name());
    }

    #[test]
    fn lan_hosts_reach_each_other() {
        if !privileged_or_skip("lan_hosts_reach_each_other") {
            return;
        }
        let lan = Lan::new(
            "vtl",
            &[
                HostSpec::v4([2, 0x99, 0, 0, 0, 0x11], Ipv4Addr::new(10, 99, 0, 11), 24)
                    .with_v6("fd99::11".parse().unwrap(), 64),
                HostSpec::v4([2, 0x99, 0, 0, 0, 0x12], Ipv4Addr::new(10, 99, 0, 12), 24)
                    .with_v6("fd99::12".parse().unwrap(), 64),
            ],
        )
        .unwrap();
        let a = lan.host(0);
        let out =
            a.ns.exec_ok(&["ip", "addr", "show", "dev", "eth0"])
                .unwrap();
        assert!(out.contains("10.99.0.11/24"), "{out}");
        assert!(out.contains("02:99:00:00:00:11"), "{out}");
        assert!(out.contains(&a.link_local().to_string()), "{out}");
        assert!(out.contains("fd99::11/64"), "{out}");
        let dad =
            a.ns.exec_ok(&["cat", "/proc/sys/net/ipv6/conf/eth0/accept_dad"])
                .unwrap();
        assert_eq!(dad.trim(), "0");
        // One UDP datagram from A to B proves the bridge forwards (it stays inside).
        let b = lan.host(1);
        let rx = run_in(&b.ns, || {
            std::net::UdpSocket::bind("10.99.0.12:5999").unwrap()
        });
        rx.set_read_timeout(Some(std::time::Duration::from_secs(3)))
            .unwrap();
        run_in(&a.ns, || {
            let tx = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            tx.send_to(b"hello", "10.99.0.12:5999").unwrap();
        });
        let mut buf = [0u8; 16];
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(
            from.ip(),
            std::net::IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11))
        );
        let paths: Vec<_> = lan
            .hosts
            .iter()
            .map(|h| h.ns.path())
            .chain([lan.bridge.path()])
            .collect();
        drop(lan);
        for p in paths {
            assert!(!p.exists(), "{} left behind", p.display());
        }
    }
}
