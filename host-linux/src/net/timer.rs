//! The protocol deadline as a `timerfd`.
//!
//! tokio's timers tick in whole milliseconds and round up, and a long sleep wakes the
//! process once more when its timer wheel cascades: a failover would start up to 1 ms late
//! and an idle daemon would wake twice per advert. A `timerfd` fires to the microsecond,
//! once, and re-arming it when a deadline moves is one syscall.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A one-shot monotonic timer that the event loop re-arms for the earliest deadline.
#[derive(Debug)]
pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
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
        Ok(Self {
            // SAFETY: the timer owns its descriptor, which stays open and is never
            // replaced while the AsyncFd owns it.
            fd: unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE)? },
        })
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

    /// Waits until the timer fires.
    pub async fn expired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut ticks = 0u64;
            // SAFETY: reads 8 bytes into a live u64, as timerfd requires.
            let n = unsafe {
                libc::read(
                    self.fd.get_ref().as_raw_fd(),
                    (&raw mut ticks).cast(),
                    size_of::<u64>(),
                )
            };
            let err = (n < 0).then(io::Error::last_os_error);
            // One-shot: after a read nothing more comes until the timer is re-armed, and
            // re-arming it makes epoll report it afresh. Clearing here saves the read
            // that would only return EAGAIN.
            guard.clear_ready();
            match err {
                None => return Ok(()),
                // Re-armed before it was read: wait again.
                Some(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Some(e) => return Err(e),
            }
        }
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

    #[test]
    fn fires_once_to_the_sub_millisecond_and_can_be_disarmed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let timer = DeadlineTimer::new().unwrap();
            let start = std::time::Instant::now();
            timer.arm(Some(Duration::from_micros(300))).unwrap();
            timer.expired().await.unwrap();
            let took = start.elapsed();
            assert!(took >= Duration::from_micros(300), "fired early: {took:?}");

            // Disarmed: nothing fires within 50 ms.
            timer.arm(Some(Duration::from_millis(20))).unwrap();
            timer.arm(None).unwrap();
            let waited = tokio::time::timeout(Duration::from_millis(50), timer.expired()).await;
            assert!(waited.is_err(), "a disarmed timer fired");
        });
    }
}
