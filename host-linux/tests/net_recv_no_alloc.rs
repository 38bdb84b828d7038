//! The receive path allocates nothing per packet: a counting global allocator watches
//! `VrrpSocket::try_recv`, `VrrpSocket::recv_timeout` and `VrrpSocket::recv_burst` (what
//! vigild's protocol thread calls) over bursts of adverts.
//!
//! Skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vigil_core::wire::{Family, MCAST_V4, MCAST_V6};
use vigil_linux::net::{RecvBatch, VrrpSocket};
use vigil_tests::netns::{HostSpec, Lan, privileged_or_skip, run_in};

struct Counting;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while `f` runs.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    COUNT.with(|c| c.set(0));
    ARMED.with(|a| a.set(true));
    let value = f();
    ARMED.with(|a| a.set(false));
    (value, COUNT.with(Cell::get))
}

const BURST: usize = 50;

#[test]
fn receiving_adverts_allocates_nothing() {
    if !privileged_or_skip("receiving_adverts_allocates_nothing") {
        return;
    }
    let lan = Lan::new(
        "vna",
        &[
            HostSpec::v4([2, 0x99, 0, 0, 0, 0x11], Ipv4Addr::new(10, 99, 0, 11), 24),
            HostSpec::v4([2, 0x99, 0, 0, 0, 0x12], Ipv4Addr::new(10, 99, 0, 12), 24),
        ],
    )
    .unwrap();
    let (a, b) = (lan.host(0), lan.host(1));
    let idx = |ns| run_in(ns, || nix::net::if_::if_nametoindex("eth0").unwrap());
    let (ai, bi) = (idx(&a.ns), idx(&b.ns));
    let open = |ns, i, f| run_in(ns, || VrrpSocket::default_multicast(i, f).unwrap());
    let (tx4, rx4) = (open(&a.ns, ai, Family::V4), open(&b.ns, bi, Family::V4));
    let (tx6, rx6) = (open(&a.ns, ai, Family::V6), open(&b.ns, bi, Family::V6));
    let advert = [
        0x21u8, 51, 100, 1, 1, 1, 0, 0, 10, 99, 0, 50, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let src4 = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
    let src6 = IpAddr::V6(a.link_local());
    let mut buf = [0u8; 1500];
    let mut batch = RecvBatch::new();

    for (tx, rx, src, dst) in [
        (&tx4, &rx4, src4, IpAddr::V4(MCAST_V4)),
        (&tx6, &rx6, src6, IpAddr::V6(MCAST_V6)),
    ] {
        // Bursts read one by one without waiting, one by one with a wait, and in
        // batches (twice: the batch buffers are reused).
        for round in 0..4 {
            for _ in 0..BURST {
                tx.try_send(&advert, src, dst).unwrap();
            }
            // Let the burst arrive (bounded wait, no allocation-counting here).
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
                let mut pending = 0i32;
                // SAFETY: FIONREAD on a socket writes one int.
                unsafe {
                    libc::ioctl(
                        std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(rx)),
                        libc::FIONREAD,
                        &mut pending,
                    )
                };
                if pending > 0 {
                    std::thread::sleep(Duration::from_millis(100));
                    break;
                }
            }
            let (received, count) = allocations(|| {
                let mut n = 0;
                if round >= 2 {
                    let mut calls = 0;
                    while n < BURST && calls < BURST {
                        calls += 1;
                        rx.recv_burst(&mut batch, BURST, |r| {
                            if r.is_ok_and(|r| r.src == src && r.ttl == 255 && r.payload == advert)
                            {
                                n += 1;
                            }
                        })
                        .unwrap();
                    }
                    return n;
                }
                for _ in 0..BURST {
                    let ok = if round == 0 {
                        rx.try_recv(&mut buf)
                            .map(|r| r.src == src && r.ttl == 255 && r.payload == advert)
                    } else {
                        rx.recv_timeout(&mut buf, Duration::from_secs(1))
                            .map(|r| r.src == src && r.ttl == 255 && r.payload == advert)
                    };
                    match ok {
                        Ok(true) => n += 1,
                        Ok(false) => {}
                        Err(_) => break,
                    }
                }
                n
            });
            assert_eq!(received, BURST, "{dst}: round {round}");
            assert!(
                count == 0,
                "{dst}: round {round}: {count} allocations for {BURST} packets"
            );
        }
    }
}
