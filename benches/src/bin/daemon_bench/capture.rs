//! A tcpdump capture on a bridge port (nanosecond timestamps), read back with the tests
//! crate's pcap reader into the events the failover figures are made of.

use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use vigil_tests::pcap;

use crate::Ctx;
use crate::topo::Topo;

/// Something seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum What {
    /// A VRRP advert (from an IPv4 source) with its priority.
    Advert { src: Ipv4Addr, prio: u8 },
    /// A gratuitous ARP (sender address = target address) and the frame's source MAC.
    Garp { ip: Ipv4Addr, mac: [u8; 6] },
}

/// An event: CLOCK_REALTIME seconds (as `SystemTime` stamps), and what it was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub t: f64,
    pub what: What,
}

#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    path: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `port` of the bridge namespace; waits (at most 5 s) until it
    /// listens.
    pub fn start(ctx: &Ctx, topo: &Topo, port: &str) -> io::Result<Capture> {
        let n = ctx.next_id();
        let path = ctx.work.join(format!("cap-{n}.pcap"));
        let err = ctx.work.join(format!("cap-{n}.err"));
        let mut cmd = topo.bridge.command("tcpdump");
        cmd.args(["-i", port, "-n", "-U", "-Z", "root", "--immediate-mode"])
            .args(["--time-stamp-precision=nano", "-B", "8192", "-w"])
            .arg(&path)
            .arg("vrrp or arp");
        {
            use std::os::unix::process::CommandExt as _;
            cmd.process_group(0);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&err)?)
            .spawn()?;
        let mut cap = Capture {
            child: Some(child),
            path,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !fs::read_to_string(&err).is_ok_and(|s| s.contains("listening on")) {
            if Instant::now() > deadline {
                cap.kill();
                return Err(io::Error::other(format!(
                    "tcpdump did not start: {}",
                    fs::read_to_string(&err).unwrap_or_default()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(cap)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops tcpdump (SIGINT, so that it flushes; SIGKILL after 3 s) and reads what it
    /// wrote.
    pub fn stop(mut self) -> io::Result<Vec<Event>> {
        std::thread::sleep(Duration::from_millis(200));
        if let Some(c) = &mut self.child {
            // SAFETY: plain kill(2) of our own child.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill();
        let bytes = fs::read(&self.path)?;
        events(&bytes).map_err(|e| io::Error::other(format!("{}: {e}", self.path.display())))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The adverts and gratuitous ARPs of an Ethernet capture, with their times.
pub fn events(file: &[u8]) -> Result<Vec<Event>, pcap::Error> {
    let frames = pcap::frames(file)?;
    let times = pcap::timestamps_ns(file)?;
    let mut out = Vec::new();
    for (frame, ns) in frames.iter().zip(times) {
        let t = ns as f64 * 1e-9;
        let d = frame.data;
        if let Some(v) = pcap::vrrp_in_frame(frame)? {
            if let (IpAddr::V4(src), Some(&prio)) = (v.src, v.payload.get(2)) {
                out.push(Event {
                    t,
                    what: What::Advert { src, prio },
                });
            }
        } else if d.len() >= 42 && d[12..14] == [0x08, 0x06] && d[28..32] == d[38..42] {
            let ip = Ipv4Addr::new(d[28], d[29], d[30], d[31]);
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&d[6..12]);
            out.push(Event {
                t,
                what: What::Garp { ip, mac },
            });
        }
    }
    Ok(out)
}
