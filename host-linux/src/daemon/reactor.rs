//! The protocol thread: one epoll set with the VRRP sockets, the deadline timer and a
//! wake-up from the service thread, driving the [`Engine`].
//!
//! This is the path a daemon takes every advert interval, so it is kept as short as
//! keepalived's: a master's periodic advert is `epoll_wait`, `read` of the timer,
//! `sendmsg`, `timerfd_settime`, with nothing else touched in between (the async runtime
//! the rest of the daemon runs on costs a few thousand instructions and, worse, many
//! cold cache lines per wake-up; see docs/daemon-event-loop.md).
//!
//! The receive path cannot be starved: whenever a socket is read, it is read until it
//! is empty, [`RX_TURN`] packets at a time so that timers and the other sockets get
//! their turn in between (a socket with more queued is read again on the next turn,
//! at once). Junk for VRIDs nobody here runs never gets this far: each socket's eBPF
//! filter drops and counts it in the kernel (`net::filter`).
//!
//! Receive coalescing: a socket whose packets arrive back to back (a flood, or hundreds
//! of instances on one interface) leaves the epoll set for a pause and is then read in
//! one go, as a NIC moderates its interrupts. While the arrival rate stays above
//! [`FLOOD_RATE`] the pause doubles, up to [`MAX_PAUSE`]; below it, it falls back to
//! [`MIN_PAUSE`]. A LAN of a few routers never triggers it. A pause after which more
//! than [`QUEUE_BUDGET`] packets were queued is halved instead, so the queue stays far
//! below the socket buffer (16 MiB of kernel accounting) at any rate the daemon can
//! keep up with: a pause costs lateness (bounded by the pause: before a backup's
//! deadline acts every socket is read, so a queued advert always counts before the
//! master-down timer), never a packet.

use super::engine::{Engine, InstallError, RX_TURN, Resolved, Spawn};
use super::plan::Plan;
use crate::control::Status;
use crate::net::RecvBatch;
use crate::track::Report;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Epoll tokens: the timer, the service thread's wake-up, then socket `i` as
/// `FIRST_SOCKET + i`.
const TIMER: u64 = 0;
const WAKE: u64 = 1;
const FIRST_SOCKET: u64 = 2;
/// SIGTERM and SIGINT (a signalfd).
const SIGNAL: u64 = u64::MAX;

/// The first pause of a busy socket.
const MIN_PAUSE: Duration = Duration::from_millis(1);
/// The longest pause: lateness under a sustained flood.
const MAX_PAUSE: Duration = Duration::from_millis(16);
/// Packets a pause may leave queued before the pauses get shorter: under 4 MB of the
/// socket's 16 MiB (a full socket held about 20,000 small adverts in the stall test),
/// so the buffer never fills while the daemon keeps up, whatever the rate.
const QUEUE_BUDGET: usize = 4096;
/// How often the kernel's drop counters (socket filter, buffer overflows) are looked
/// at, on a wake-up the loop has anyway.
const REVIEW_EVERY: Duration = Duration::from_secs(10);
/// Turns of [`RX_TURN`] packets that reading a socket "until empty" may take before a
/// deadline acts: a socket refilled faster than it is read does not hold the loop.
const DRAIN_TURNS: usize = 16;
/// Adverts per second on one socket above which it counts as flooded. Far above any real
/// VRRP LAN (1,000 instances at 1 s on one interface are 1,000 per second).
const FLOOD_RATE: u64 = 2_000;
/// A wake-up this soon after the previous one means packets are arriving back to back.
const BUSY_GAP: Duration = Duration::from_millis(1);

/// What the service thread asks of the protocol thread.
#[derive(Debug)]
pub enum Cmd {
    /// Install a plan (start, or reload); the answer lists the trackers to run.
    Install(
        Box<Plan>,
        Resolved,
        oneshot::Sender<Result<Vec<Spawn>, InstallError>>,
    ),
    Report(Report),
    /// A link went up or down.
    Link(String, bool),
    /// The kernel announced routes or rules of keepalived's protocol deleted.
    RoutesDeleted(Vec<crate::net::routes::Identity>),
    Status(oneshot::Sender<Status>),
    /// The status, then every instance's counters cleared (keepalived's STATS_CLEAR).
    StatusClearingStats(oneshot::Sender<Status>),
    /// Resign everything, then stop the thread.
    Shutdown(oneshot::Sender<()>),
}

/// The service thread's end: commands, and an eventfd that wakes the protocol thread.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Cmd>,
    wake: Arc<OwnedFd>,
}

impl Handle {
    /// Queues `cmd`; `false` if the protocol thread is gone.
    pub fn send(&self, cmd: Cmd) -> bool {
        if self.tx.send(cmd).is_err() {
            return false;
        }
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&raw const one).cast(), 8) };
        true
    }
}

/// Starts the protocol thread; `make` builds its engine there (the engine holds
/// single-threaded handles and never leaves it). `signals` is a signalfd for SIGTERM
/// and SIGINT: on one, the thread resigns every instance at once, says so on `stopped`
/// and ends (the service thread may be busy, forking a script, say, for milliseconds).
pub fn spawn(
    make: impl FnOnce() -> Engine + Send + 'static,
    signals: OwnedFd,
    stopped: tokio::sync::mpsc::UnboundedSender<()>,
) -> io::Result<(Handle, std::thread::JoinHandle<()>)> {
    let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: fresh descriptors nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
    let wake = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
    let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(wake) });
    ctl(&epoll, libc::EPOLL_CTL_ADD, wake.as_raw_fd(), WAKE, true)?;
    ctl(
        &epoll,
        libc::EPOLL_CTL_ADD,
        signals.as_raw_fd(),
        SIGNAL,
        true,
    )?;
    let (tx, rx) = mpsc::channel();
    let handle = Handle {
        tx,
        wake: wake.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("vigild-vrrp".into())
        // Its deepest path is a reload's install; 256 KiB is ample (the default 2 MiB
        // is only address space, but a smaller one keeps that honest).
        .stack_size(256 << 10)
        .spawn(move || {
            let engine = make();
            let timer = engine.timer.as_fd().as_raw_fd();
            if let Err(e) = ctl(&epoll, libc::EPOLL_CTL_ADD, timer, TIMER, true) {
                error!("deadline timer: {e}");
                return;
            }
            Reactor {
                epoll,
                wake,
                signals,
                stopped,
                rx,
                engine,
                batch: RecvBatch::new(),
                pacing: Vec::new(),
                next_review: Instant::now() + REVIEW_EVERY,
            }
            .run();
        })?;
    Ok((handle, thread))
}

/// A socket's coalescing state.
#[derive(Debug)]
struct Pacing {
    /// Out of the epoll set until then.
    paused_until: Option<Instant>,
    pause: Duration,
    last_wake: Option<Instant>,
    /// Packets read since the last pause ended (a deep queue takes several turns).
    taken: usize,
}

struct Reactor {
    epoll: OwnedFd,
    wake: Arc<OwnedFd>,
    signals: OwnedFd,
    stopped: tokio::sync::mpsc::UnboundedSender<()>,
    rx: mpsc::Receiver<Cmd>,
    engine: Engine,
    batch: Box<RecvBatch>,
    /// One per engine socket, same index.
    pacing: Vec<Pacing>,
    /// When the kernel's drop counters are next looked at.
    next_review: Instant,
}

impl Reactor {
    fn run(mut self) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
        loop {
            let timeout = self.next_resume().map_or(-1, |at| {
                let left = at.saturating_duration_since(Instant::now());
                // Rounded up: a resume is never early.
                libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
            });
            // SAFETY: `events` is a live array of the length given.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    events.len() as libc::c_int,
                    timeout,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    error!("epoll_wait: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let (mut timer, mut wake) = (false, false);
            if events[..n as usize].iter().any(|ev| ev.u64 == SIGNAL) {
                self.on_signal();
                return;
            }
            for ev in &events[..n as usize] {
                match ev.u64 {
                    TIMER => timer = true,
                    WAKE => wake = true,
                    SIGNAL => {}
                    t => {
                        let si = (t - FIRST_SOCKET) as usize;
                        if ev.events & libc::EPOLLERR as u32 != 0 {
                            // Reported even while the socket is paused: take the error
                            // (an ICMP error for a unicast peer, say), or epoll would
                            // report it again at once.
                            self.engine.take_socket_error(si);
                        }
                        self.on_readable(si);
                    }
                }
            }
            let now = Instant::now();
            self.resume_due(now);
            if now >= self.next_review || self.engine.drops_due().is_some_and(|t| t <= now) {
                self.next_review = now + REVIEW_EVERY;
                self.engine.review_drops(now);
            }
            if timer {
                self.engine.timer.clear();
                let now = super::now();
                if self.engine.backup_due(now) {
                    self.drain_all();
                }
                self.engine.on_timers(now);
            }
            if wake && self.on_wake() {
                return;
            }
            self.engine.rearm();
        }
    }

    /// Commands from the service thread. `true`: stop the thread.
    fn on_wake(&mut self) -> bool {
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from an eventfd.
        unsafe { libc::read(self.wake.as_raw_fd(), (&raw mut count).cast(), 8) };
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Install(plan, resolved, reply) => {
                    // Read what is queued first: an instance kept across the reload
                    // must not miss its master's adverts.
                    self.drain_all();
                    let result = self.engine.install(*plan, resolved);
                    self.register_new_sockets();
                    let _ = reply.send(result);
                }
                Cmd::Report(r) => {
                    self.drain_all();
                    self.engine.on_report(r);
                }
                Cmd::Link(name, up) => {
                    self.drain_all();
                    self.engine.on_link(&name, up);
                }
                Cmd::RoutesDeleted(ids) => {
                    self.drain_all();
                    self.engine.on_routes_deleted(ids);
                }
                Cmd::Status(reply) => {
                    let _ = reply.send(self.engine.status());
                }
                Cmd::StatusClearingStats(reply) => {
                    let status = self.engine.status();
                    self.engine.clear_stats();
                    let _ = reply.send(status);
                }
                Cmd::Shutdown(reply) => {
                    self.engine.shutdown_all();
                    let _ = reply.send(());
                    return true;
                }
            }
        }
        false
    }

    /// SIGTERM or SIGINT: resign before anything else, then tell the service thread.
    fn on_signal(&mut self) {
        self.engine.shutdown_all();
        // SAFETY: reads one signalfd_siginfo (128 bytes) into a live buffer.
        let mut info = [0u8; 128];
        unsafe { libc::read(self.signals.as_raw_fd(), info.as_mut_ptr().cast(), 128) };
        let _ = self.stopped.send(());
    }

    fn register_new_sockets(&mut self) {
        while self.pacing.len() < self.engine.sockets.len() {
            let i = self.pacing.len();
            if let Err(e) = self.ctl_socket(i, libc::EPOLL_CTL_ADD, true) {
                error!("cannot watch VRRP socket: {e}");
            }
            self.pacing.push(Pacing {
                paused_until: None,
                pause: MIN_PAUSE,
                last_wake: None,
                taken: 0,
            });
        }
    }

    /// A socket in the epoll set has packets: read one turn's worth (if more are
    /// queued, epoll reports the socket again at once).
    fn on_readable(&mut self, si: usize) {
        if si >= self.pacing.len() || self.pacing[si].paused_until.is_some() {
            return;
        }
        let n = self.engine.read_socket(si, &mut self.batch, RX_TURN);
        let now = Instant::now();
        let p = &mut self.pacing[si];
        let busy = n > 1 || p.last_wake.is_some_and(|t| now - t < BUSY_GAP);
        p.last_wake = Some(now);
        if busy {
            p.pause = MIN_PAUSE;
            self.pause(si, now);
        }
    }

    /// Reads the sockets whose pause is over; a socket still flooded stays out longer.
    fn resume_due(&mut self, now: Instant) {
        for si in 0..self.pacing.len() {
            if self.pacing[si].paused_until.is_none_or(|t| t > now) {
                continue;
            }
            let n = self.engine.read_socket(si, &mut self.batch, RX_TURN);
            let p = &mut self.pacing[si];
            p.taken += n;
            if n == RX_TURN {
                // Not empty yet: the rest on the next turn, at once.
                p.paused_until = Some(now);
                continue;
            }
            let taken = std::mem::take(&mut p.taken);
            if taken > QUEUE_BUDGET {
                // Still flooded, but the queue got deep: shorter pauses, so that the
                // socket buffer is never the limit.
                p.pause = (p.pause / 2).max(MIN_PAUSE);
                p.paused_until = Some(now + p.pause);
                continue;
            }
            let pause_us = p.pause.as_micros() as u64;
            if taken as u64 * 1_000_000 >= FLOOD_RATE * pause_us {
                p.pause = (p.pause * 2).min(MAX_PAUSE);
                p.paused_until = Some(now + p.pause);
                continue;
            }
            p.pause = MIN_PAUSE;
            p.paused_until = None;
            p.last_wake = Some(now);
            if let Err(e) = self.ctl_socket(si, libc::EPOLL_CTL_MOD, true) {
                error!("cannot watch VRRP socket: {e}");
            }
        }
    }

    /// Takes socket `si` out of the epoll set for its pause: arriving packets queue
    /// without waking the process.
    fn pause(&mut self, si: usize, now: Instant) {
        match self.ctl_socket(si, libc::EPOLL_CTL_MOD, false) {
            Ok(()) => self.pacing[si].paused_until = Some(now + self.pacing[si].pause),
            Err(e) => error!("cannot pause VRRP socket: {e}"),
        }
    }

    /// `ctl` for VRRP socket `si`.
    fn ctl_socket(&self, si: usize, op: libc::c_int, watch: bool) -> io::Result<()> {
        let fd = self.engine.sockets[si].sock.as_fd().as_raw_fd();
        ctl(&self.epoll, op, fd, FIRST_SOCKET + si as u64, watch)
    }

    fn next_resume(&self) -> Option<Instant> {
        let resumes = self.pacing.iter().filter_map(|p| p.paused_until);
        resumes.chain(self.engine.drops_due()).min()
    }

    /// Hands every packet already queued on any socket (paused or not) to the engine.
    fn drain_all(&mut self) {
        for si in 0..self.pacing.len() {
            // Bounded: a socket refilled as fast as it is read does not hold the loop.
            for _ in 0..DRAIN_TURNS {
                if self.engine.read_socket(si, &mut self.batch, RX_TURN) < RX_TURN {
                    break;
                }
            }
        }
    }
}

/// `epoll_ctl` for readability (level-triggered), or with no events at all (`watch`
/// false: the descriptor stays registered but never wakes the loop).
fn ctl(epoll: &OwnedFd, op: libc::c_int, fd: RawFd, token: u64, watch: bool) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: if watch { libc::EPOLLIN as u32 } else { 0 },
        u64: token,
    };
    // SAFETY: `ev` is a live epoll_event; the kernel copies it.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut ev) }).map(drop)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}
