//! The protocol deadline as a `timerfd`.
//!
//! tokio's timers tick in whole milliseconds and round up, and a long sleep wakes the
//! process once more when its timer wheel cascades: a failover would start up to 1 ms late
//! and an idle daemon would wake twice per advert. A `timerfd` fires to the microsecond,
//! once, and re-arming it when a deadline moves is one syscall.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// A one-shot monotonic timer that the event loop re-arms for the earliest deadline.
/// Non-blocking; the loop waits for it in its epoll set and calls [`Self::clear`].
#[derive(Debug)]
pub struct DeadlineTimer {
    fd: OwnedFd,
}

impl DeadlineTimer {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the descriptor it returns is owned below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self { fd })
    }

    /// Fires once, `after` from now (at once for zero), or never for `None`.
    pub fn arm(&self, after: Option<Duration>) -> io::Result<()> {
        let value = match after {
            // A zero `it_value` disarms: fire in one nanosecond instead.
            Some(d) => timespec(d.max(Duration::from_nanos(1))),
            None => timespec(Duration::ZERO),
        };
        let spec = libc::itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: value,
        };
        // SAFETY: `spec` is a live itimerspec; the old value is not asked for.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Consumes an expiry: `true` if the timer had fired (and was not re-armed since).
    pub fn clear(&self) -> bool {
        let mut ticks = 0u64;
        // SAFETY: reads 8 bytes into a live u64, as timerfd requires.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&raw mut ticks).cast(),
                size_of::<u64>(),
            )
        };
        n == size_of::<u64>() as isize
    }
}

impl AsFd for DeadlineTimer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits up to `ms` for the timer's descriptor to become readable.
    fn fired_within(timer: &DeadlineTimer, ms: i32) -> bool {
        let mut pfd = libc::pollfd {
            fd: timer.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        unsafe { libc::poll(&mut pfd, 1, ms) == 1 }
    }

    #[test]
    fn fires_once_to_the_sub_millisecond_and_can_be_disarmed() {
        let timer = DeadlineTimer::new().unwrap();
        let start = std::time::Instant::now();
        timer.arm(Some(Duration::from_micros(300))).unwrap();
        assert!(fired_within(&timer, 1000), "did not fire");
        let took = start.elapsed();
        assert!(took >= Duration::from_micros(300), "fired early: {took:?}");
        assert!(timer.clear());
        assert!(!timer.clear(), "one-shot fired twice");

        // Disarmed: nothing fires within 50 ms.
        timer.arm(Some(Duration::from_millis(20))).unwrap();
        timer.arm(None).unwrap();
        assert!(!fired_within(&timer, 50), "a disarmed timer fired");
    }
}
