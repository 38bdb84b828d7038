//! The floor: the least a VRRP speaker can cost on this machine. The same syscalls
//! vigild's protocol thread makes, nothing else: one raw IPPROTO_VRRP socket per
//! interface (bound to it, joined to 224.0.0.18), an epoll loop over the sockets and one
//! timerfd; a master `sendto`s every instance's advert (built once with the core's
//! `Repr::emit`) when the timer fires, a backup `recvmsg`s until the socket is empty and
//! re-arms its master-down timer. No parsing, no state machine, no VIPs, no logging.
//!
//! Run by the harness as a process of its own in a load balancer's namespace:
//!   daemon_bench floor --role master|backup --host H --nif K --n N --version V
//!                      --interval-cs C --prio P --seconds S --ready FILE

use std::io;
use std::mem::{size_of, zeroed};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use vigil_core::wire::{
    Addresses, Auth, ChecksumMode, Interval, MCAST_V4, PROTOCOL, Repr, Version,
};

use crate::topo::{Topo, instances};

/// `SO_BINDTOIFINDEX` (Linux 5.0), as vigild binds its sockets.
const SO_BINDTOIFINDEX: libc::c_int = 62;

#[derive(Debug)]
pub struct FloorArgs {
    pub master: bool,
    pub host: u8,
    pub nif: usize,
    pub n: usize,
    pub version: u8,
    pub interval_cs: u16,
    pub prio: u8,
    pub seconds: f64,
    pub ready: Option<String>,
}

impl FloorArgs {
    pub fn parse(args: &[String]) -> Result<FloorArgs, String> {
        let mut a = FloorArgs {
            master: false,
            host: 12,
            nif: 1,
            n: 1,
            version: 3,
            interval_cs: 100,
            prio: 100,
            seconds: 60.0,
            ready: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut val = || it.next().ok_or(format!("{flag} needs a value")).cloned();
            let num = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
            match flag.as_str() {
                "--role" => a.master = val()? == "master",
                "--host" => a.host = num(val()?)? as u8,
                "--nif" => a.nif = num(val()?)? as usize,
                "--n" => a.n = num(val()?)? as usize,
                "--version" => a.version = num(val()?)? as u8,
                "--interval-cs" => a.interval_cs = num(val()?)? as u16,
                "--prio" => a.prio = num(val()?)? as u8,
                "--seconds" => a.seconds = num(val()?)?,
                "--ready" => a.ready = Some(val()?),
                other => return Err(format!("floor: unknown argument {other}")),
            }
        }
        if !(1..=10).contains(&a.nif) || a.n == 0 || a.n > 2550 || a.seconds > 3600.0 {
            return Err("floor: --nif 1..10, --n 1..2550, --seconds at most 3600".into());
        }
        Ok(a)
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is live for the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// A raw IPPROTO_VRRP socket bound to `ifname`, sending there with TTL 255, joined to
/// 224.0.0.18 on it: vigild's `VrrpSocket::multicast` without its extras.
fn vrrp_socket(ifname: &str) -> io::Result<OwnedFd> {
    let name = std::ffi::CString::new(ifname).map_err(io::Error::other)?;
    // SAFETY: plain calls; the descriptor is owned at once.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = cvt(unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(PROTOCOL),
        )
    })?;
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let index = index as libc::c_int;
    setsockopt(raw, libc::SOL_SOCKET, SO_BINDTOIFINDEX, &index)?;
    setsockopt(
        raw,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_TTL,
        &255 as &libc::c_int,
    )?;
    setsockopt(
        raw,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_LOOP,
        &0 as &libc::c_int,
    )?;
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index,
    };
    setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)?;
    let join = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(MCAST_V4).to_be(),
        },
        ..mreqn
    };
    setsockopt(raw, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &join)?;
    Ok(fd)
}

fn timerfd() -> io::Result<OwnedFd> {
    // SAFETY: plain call; owned at once.
    let raw = cvt(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn arm(timer: &OwnedFd, first: Duration, period: Option<Duration>) -> io::Result<()> {
    let ts = |d: Duration| libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    };
    let spec = libc::itimerspec {
        it_interval: ts(period.unwrap_or(Duration::ZERO)),
        it_value: ts(first),
    };
    // SAFETY: a valid itimerspec; the old value is not wanted.
    cvt(unsafe { libc::timerfd_settime(timer.as_raw_fd(), 0, &spec, std::ptr::null_mut()) })
        .map(drop)
}

/// The floor's loop. Prints what it sent and received when its time is up.
pub fn run(a: &FloorArgs) -> io::Result<()> {
    let list = instances(a.nif, a.n);
    let sockets: Vec<OwnedFd> = (0..a.nif)
        .map(|k| vrrp_socket(&format!("eth{k}")))
        .collect::<io::Result<_>>()?;
    // The adverts, built once: (socket index, bytes).
    let version = if a.version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    let interval = Interval::from_centis(a.interval_cs);
    let mut adverts: Vec<(usize, Vec<u8>)> = Vec::new();
    if a.master {
        for &(k, vrid) in &list {
            let vip = [Topo::vip(k, vrid).octets()];
            let repr = Repr {
                version,
                vrid,
                priority: a.prio,
                interval,
                auth: Auth::None,
                addresses: Addresses::v4(&vip),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            let src = IpAddr::V4(Topo::ip(k, a.host));
            repr.emit(&mut buf, src, IpAddr::V4(MCAST_V4), ChecksumMode::default())
                .map_err(|e| io::Error::other(format!("emit: {e:?}")))?;
            adverts.push((k, buf));
        }
    }
    let timer = timerfd()?;
    let advert_int = Duration::from_millis(u64::from(a.interval_cs) * 10);
    // A backup's master-down interval (priority 100): 3 intervals and the skew.
    let master_down = advert_int * 3 + advert_int * 156 / 256;
    if a.master {
        arm(&timer, Duration::from_millis(1), Some(advert_int))?;
    } else {
        arm(&timer, master_down, None)?;
    }
    // SAFETY: plain call; owned at once.
    let epoll = unsafe { OwnedFd::from_raw_fd(cvt(libc::epoll_create1(libc::EPOLL_CLOEXEC))?) };
    let watch = |fd: RawFd, token: u64| {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: a valid event for a live descriptor.
        cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })
    };
    const TIMER: u64 = u64::MAX;
    watch(timer.as_raw_fd(), TIMER)?;
    for (i, s) in sockets.iter().enumerate() {
        watch(s.as_raw_fd(), i as u64)?;
    }
    if let Some(path) = &a.ready {
        std::fs::write(path, "ready\n")?;
    }
    let (mut sent, mut received, mut expiries) = (0u64, 0u64, 0u64);
    let mut dst: libc::sockaddr_in = unsafe { zeroed() };
    dst.sin_family = libc::AF_INET as libc::sa_family_t;
    dst.sin_addr.s_addr = u32::from(MCAST_V4).to_be();
    let mut buf = [0u8; 2048];
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let ms = left.as_millis().min(60_000) as libc::c_int + 1;
        // SAFETY: the events buffer is live for its length.
        let n = unsafe {
            libc::epoll_wait(
                epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let mut heard = false;
        for ev in &events[..n as usize] {
            if ev.u64 == TIMER {
                let mut count = [0u8; 8];
                // SAFETY: reading 8 bytes into an 8-byte buffer.
                unsafe { libc::read(timer.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
                expiries += 1;
                for (k, bytes) in &adverts {
                    // SAFETY: the buffer and the address are live for the call.
                    let rc = unsafe {
                        libc::sendto(
                            sockets[*k].as_raw_fd(),
                            bytes.as_ptr().cast(),
                            bytes.len(),
                            libc::MSG_DONTWAIT,
                            (&raw const dst).cast(),
                            size_of::<libc::sockaddr_in>() as libc::socklen_t,
                        )
                    };
                    if rc > 0 {
                        sent += 1;
                    }
                }
                if !a.master {
                    arm(&timer, master_down, None)?;
                }
                continue;
            }
            let fd = sockets[ev.u64 as usize].as_raw_fd();
            // Until the socket is empty (bounded: a full receive buffer's worth).
            for _ in 0..100_000 {
                let mut iov = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                // SAFETY: all-zero is a valid msghdr; it points at live buffers.
                let mut msg: libc::msghdr = unsafe { zeroed() };
                msg.msg_iov = &raw mut iov;
                msg.msg_iovlen = 1;
                let rc = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
                if rc < 0 {
                    break;
                }
                received += 1;
                heard = true;
            }
        }
        if heard && !a.master {
            arm(&timer, master_down, None)?;
        }
    }
    println!(
        "floor {}: sent {sent}, received {received}, timer expiries {expiries}",
        if a.master { "master" } else { "backup" }
    );
    Ok(())
}
