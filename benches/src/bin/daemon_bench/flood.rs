//! Floods: paced Ethernet frames carrying adverts from the sender's namespace at lb2,
//! with the CPU lb2's implementation spends on them and what it sends back.
//!
//! The frames are built once: the VRRP message with the core's `Repr::emit`, then the
//! IPv4 header and Ethernet header around it. They leave on an AF_PACKET socket; a
//! second one on the same interface (our own frames ignored) counts the adverts and ARP
//! lb2 sends in the window.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use vigil_core::wire::ethernet::{ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, emit_header};
use vigil_core::wire::ipv4::{IPV4_HEADER_LEN, Ipv4Repr};
use vigil_core::wire::{
    Addresses, Auth, ChecksumMode, Interval, MCAST_V4, PROTOCOL, Repr, Version,
};
use vigil_tests::netns::run_in;

use crate::daemons::{Daemon, Impl, Setup};
use crate::procstat::{Usage, raw_drops};
use crate::topo::{Node, Topo};
use crate::{Ctx, log};

/// What is wrong with the adverts of a flood, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Junk {
    /// A valid advert.
    None,
    /// The VRRP checksum is off by one.
    BadChecksum,
    /// IP TTL 64 instead of 255.
    Ttl64,
}

/// One advert frame from the sender on `eth0` (VRRPv3, interval 1 s, one VIP).
pub fn advert_frame(src: Ipv4Addr, src_mac: [u8; 6], vrid: u8, prio: u8, junk: Junk) -> Vec<u8> {
    let vip = [Topo::vip(0, vrid).octets()];
    let repr = Repr {
        version: Version::V3,
        vrid,
        priority: prio,
        interval: Interval::from_centis(100),
        auth: Auth::None,
        addresses: Addresses::v4(&vip),
    };
    let mut vrrp = vec![0u8; repr.buffer_len()];
    repr.emit(
        &mut vrrp,
        IpAddr::V4(src),
        IpAddr::V4(MCAST_V4),
        ChecksumMode::default(),
    )
    .expect("a one-VIP advert emits");
    if junk == Junk::BadChecksum {
        vrrp[7] = vrrp[7].wrapping_add(1);
    }
    let mut ip = Ipv4Repr::advert(src, MCAST_V4, vrrp.len());
    if junk == Junk::Ttl64 {
        ip.ttl = 64;
    }
    let mut frame = vec![0u8; ETHERNET_HEADER_LEN + IPV4_HEADER_LEN + vrrp.len()];
    let (eth, packet) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    emit_header(
        eth,
        [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12],
        src_mac,
        ETHERTYPE_IPV4,
    )
    .expect("room for the Ethernet header");
    ip.emit(packet).expect("room for the IPv4 header");
    packet[IPV4_HEADER_LEN..].copy_from_slice(&vrrp);
    frame
}

fn packet_socket(ifname: &str) -> io::Result<OwnedFd> {
    vigil_tests::netns::packet_socket(ifname, true)
}

fn set_int(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, v: libc::c_int) {
    // SAFETY: an int option, live for the call.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const v).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// The sender's two sockets on its `eth0`.
#[derive(Debug)]
pub struct Sender {
    tx: OwnedFd,
    rx: OwnedFd,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

/// What lb2 sent back, counted on the sender's interface.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replies {
    pub vrrp: u64,
    pub arp: u64,
}

impl Sender {
    pub fn open(topo: &Topo) -> io::Result<Sender> {
        let (tx, rx) = run_in(&topo.sender, || -> io::Result<_> {
            let tx = packet_socket("eth0")?;
            let rx = packet_socket("eth0")?;
            const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
            set_int(&rx, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
            set_int(&rx, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 16 << 20);
            Ok((tx, rx))
        })?;
        Ok(Sender {
            tx,
            rx,
            mac: Topo::mac(Node::Sender, 0),
            ip: Topo::ip(0, Node::Sender.host()),
        })
    }

    pub fn send(&self, frame: &[u8]) -> bool {
        // SAFETY: the frame is live for the call.
        let n = unsafe {
            libc::send(
                self.tx.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        n > 0
    }

    /// Reads what came back (at most 10,000 frames), adding it to `r`.
    pub fn drain(&self, r: &mut Replies) {
        let mut buf = [0u8; 256];
        for _ in 0..10_000 {
            // SAFETY: the buffer is live and writable for its length.
            let n = unsafe {
                libc::recv(
                    self.rx.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 14 {
                if n < 0 {
                    return;
                }
                continue;
            }
            if buf[6..12] == self.mac {
                continue;
            }
            match [buf[12], buf[13]] {
                [0x08, 0x06] => r.arp += 1,
                [0x08, 0x00] if n > 23 && buf[23] == PROTOCOL => r.vrrp += 1,
                _ => {}
            }
        }
    }

    /// Sends keep-alive adverts (`frame`, at `rate` a second; 0: none) for `d`,
    /// draining what comes back into `r`.
    pub fn keepalive(&self, frame: &[u8], rate: f64, d: Duration, r: &mut Replies) -> u64 {
        let end = Instant::now() + d;
        let step = if rate > 0.0 {
            Duration::from_secs_f64(1.0 / rate)
        } else {
            Duration::from_millis(5)
        };
        let mut sent = 0;
        for _ in 0..100_000 {
            if Instant::now() >= end {
                break;
            }
            if rate > 0.0 && self.send(frame) {
                sent += 1;
            }
            self.drain(r);
            std::thread::sleep(step.min(end.saturating_duration_since(Instant::now())));
        }
        sent
    }
}

/// One flood trial's figures.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub sent: u64,
    pub cpu_ns: u64,
    pub wakeups: u64,
    pub drops: Option<u64>,
    pub replies: Replies,
}

/// `count` frames in `seconds` (10 back to back every `seconds / (count / 10)`; with
/// `master`, that frame too every 100 ms, not counted), then 0.3 s for the receiver to
/// finish; CPU of `pids` over that window. Then waits (at most 3 s) until `pids` are
/// quiet (under 2 % of a CPU over 100 ms) so that the next trial starts from rest.
pub fn trial(
    s: &Sender,
    frame: &[u8],
    master: Option<&[u8]>,
    count: u64,
    seconds: f64,
    pids: &[u32],
) -> Trial {
    const BATCH: u64 = 10;
    let mut replies = Replies::default();
    s.drain(&mut Replies::default());
    let d0 = raw_drops(pids[0]);
    let u0 = Usage::of(pids);
    let t0 = Instant::now();
    let batches = count.div_ceil(BATCH);
    let step = seconds / batches as f64;
    let master_every = ((0.1 / step) as u64).max(1);
    let mut sent = 0;
    for b in 0..batches {
        if let Some(m) = master.filter(|_| b % master_every == 0) {
            s.send(m);
        }
        let target = t0 + Duration::from_secs_f64(b as f64 * step);
        if let Some(wait) = target.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if t0.elapsed().as_secs_f64() > 3.0 * seconds + 1.0 {
            break; // bounded in time even if the machine stalls
        }
        for _ in 0..BATCH.min(count - sent) {
            if s.send(frame) {
                sent += 1;
            }
        }
        s.drain(&mut replies);
    }
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        s.drain(&mut replies);
        std::thread::sleep(Duration::from_millis(5));
    }
    let u1 = Usage::of(pids);
    let d1 = raw_drops(pids[0]);
    let mut prev = u1.cpu_ns;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        let now = Usage::of(pids).cpu_ns;
        if now - prev < 2_000_000 {
            break;
        }
        prev = now;
    }
    s.drain(&mut Replies::default());
    let u = u1.since(u0);
    Trial {
        sent,
        cpu_ns: u.cpu_ns,
        wakeups: u.wakeups,
        drops: d0.zip(d1).map(|(a, b)| b.saturating_sub(a)),
        replies,
    }
}

/// One flood case: what lb2 is and what it gets.
struct Case {
    label: &'static str,
    master: bool,
    vrid: u8,
    prio: u8,
    junk: Junk,
}

const CASES: [Case; 5] = [
    Case {
        label: "master flooded with adverts for an unknown VRID",
        master: true,
        vrid: 52,
        prio: 50,
        junk: Junk::None,
    },
    Case {
        label: "master flooded with lower-priority adverts",
        master: true,
        vrid: 51,
        prio: 50,
        junk: Junk::None,
    },
    Case {
        label: "backup flooded with its master's (higher-priority) adverts",
        master: false,
        vrid: 51,
        prio: 200,
        junk: Junk::None,
    },
    Case {
        label: "backup flooded with adverts with a wrong checksum (its master: 10 a second)",
        master: false,
        vrid: 51,
        prio: 200,
        junk: Junk::BadChecksum,
    },
    Case {
        label: "backup flooded with adverts with TTL 64 (its master: 10 a second)",
        master: false,
        vrid: 51,
        prio: 200,
        junk: Junk::Ttl64,
    },
];

pub fn section(ctx: &Ctx) -> String {
    format!(
        "Flood (VRRPv3, 1 s, {} adverts in {} s per trial)",
        ctx.plan.flood_count, ctx.plan.flood_seconds
    )
}

/// Every case, for every implementation, one after the other on one topology (lb2 and
/// the sender).
pub fn suite(ctx: &Ctx) -> crate::R<()> {
    let sec = section(ctx);
    ctx.results.section(&sec);
    let topo = Topo::new("x", 1)?;
    let sender = Sender::open(&topo)?;
    let setup = Setup::one(3, 1.0, false);
    for case in &CASES {
        for which in Impl::ALL {
            run_case(ctx, &sec, &topo, &sender, &setup, case, which)?;
        }
    }
    Ok(())
}

fn run_case(
    ctx: &Ctx,
    sec: &str,
    topo: &Topo,
    s: &Sender,
    setup: &Setup,
    case: &Case,
    which: Impl,
) -> crate::R<()> {
    let plan = &ctx.plan;
    let trials = if case.junk == Junk::None {
        plan.flood_trials
    } else {
        plan.junk_trials
    };
    let name = format!("{} / {}", which.name(), case.label);
    let d = Daemon::start(ctx, which, topo, Node::Lb2, setup, 100, case.master)?;
    // The master's keep-alive adverts (backup cases), from the sender's own address.
    let master_frame = advert_frame(s.ip, s.mac, 51, 200, Junk::None);
    let junk_src = Ipv4Addr::new(10, 60, 0, 66);
    let flood_frame = if case.junk == Junk::None {
        advert_frame(s.ip, s.mac, case.vrid, case.prio, case.junk)
    } else {
        advert_frame(junk_src, s.mac, case.vrid, case.prio, case.junk)
    };
    let keepalive = if case.master { 0.0 } else { 10.0 };
    let mut ignored = Replies::default();
    if case.master {
        if which != Impl::Floor && !ctx.wait_until(8.0, || topo.vips_on(Node::Lb2) == 1)? {
            ctx.results
                .problem(format!("{name}: not MASTER before the flood"));
        }
        ctx.sleep(0.5)?;
    } else {
        s.keepalive(
            &master_frame,
            keepalive,
            Duration::from_secs(1),
            &mut ignored,
        );
    }
    log(format!(
        "{name}: {trials} x {} adverts in {} s",
        plan.flood_count, plan.flood_seconds
    ));
    for t in 0..trials {
        if t > 0 {
            s.keepalive(
                &master_frame,
                keepalive,
                Duration::from_millis(500),
                &mut ignored,
            );
        }
        if ctx.stopped() {
            return Err("interrupted".into());
        }
        // Among junk, the master keeps advertising (one every 100 ms): a backup that
        // lost its master's adverts would fail over.
        let master = (case.junk != Junk::None).then_some(&master_frame[..]);
        let r = trial(
            s,
            &flood_frame,
            master,
            plan.flood_count,
            plan.flood_seconds,
            &d.pids,
        );
        if r.sent == 0 {
            ctx.results.problem(format!("{name}: nothing sent"));
            continue;
        }
        let per = r.sent as f64;
        ctx.results.add(
            sec,
            &format!("{}: CPU per advert received (µs)", case.label),
            2,
            0.0,
            which,
            r.cpu_ns as f64 / per / 1e3,
        );
        ctx.results.add(
            sec,
            &format!("{}: wake-ups per 1,000 adverts", case.label),
            1,
            0.0,
            which,
            r.wakeups as f64 * 1000.0 / per,
        );
        ctx.results.add(
            sec,
            &format!(
                "{}: packets sent during the flood window (adverts + ARP; its own 1/s adverts make 1–3)",
                case.label
            ),
            0,
            1.0,
            which,
            (r.replies.vrrp + r.replies.arp) as f64,
        );
        if let Some(drops) = r.drops {
            ctx.results.add(
                sec,
                &format!(
                    "{}: adverts dropped by the kernel on the daemon's socket",
                    case.label
                ),
                0,
                0.0,
                which,
                drops as f64,
            );
        }
    }
    // Whether it kept its state (VIP held as master, none as backup) through the trials:
    // a row for every daemon, a problem (which fails --quick) only for vigild.
    if which != Impl::Floor {
        let held = topo.vips_on(Node::Lb2) == usize::from(case.master);
        ctx.results.add(
            sec,
            &format!(
                "{}: lost its state (1: the VIP changed hands during the trials; 0 expected)",
                case.label
            ),
            0,
            0.0,
            which,
            f64::from(u8::from(!held)),
        );
        if which == Impl::Vigild && !held {
            ctx.results.problem(format!(
                "{name}: left {} during the flood",
                if case.master { "MASTER" } else { "BACKUP" }
            ));
        }
    }
    drop(d);
    topo.flush_vips(Node::Lb2);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::wire::RxMeta;

    #[test]
    fn frames_parse_or_fail_as_meant() {
        let src = Ipv4Addr::new(10, 60, 0, 2);
        let f = advert_frame(src, [2, 0, 0, 0, 0, 2], 51, 200, Junk::None);
        let header = |f: &[u8]| {
            vigil_core::wire::ipv4::Ipv4Header::new_checked(&f[14..])
                .unwrap()
                .verify_checksum()
        };
        assert!(header(&f));
        let meta = RxMeta {
            src: IpAddr::V4(src),
            dst: IpAddr::V4(MCAST_V4),
            ttl: f[22],
        };
        let r = Repr::parse(&f[34..], &meta, ChecksumMode::default()).unwrap();
        assert_eq!((r.vrid, r.priority), (51, 200));
        let bad = advert_frame(src, [2, 0, 0, 0, 0, 2], 51, 200, Junk::BadChecksum);
        assert!(Repr::parse(&bad[34..], &meta, ChecksumMode::default()).is_err());
        let ttl = advert_frame(src, [2, 0, 0, 0, 0, 2], 51, 200, Junk::Ttl64);
        assert_eq!(ttl[22], 64);
        assert!(header(&ttl));
    }
}
