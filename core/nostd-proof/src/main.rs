//! The no_std / no-heap proof for vigil-core.
//!
//! A freestanding x86_64 Linux executable: `#![no_std]`, `#![no_main]`, its own
//! `_start` and panic handler, raw `write`/`exit_group` system calls (all in src/rt.rs),
//! no C runtime, no libc, no `alloc`, no global allocator (build.rs links it
//! `-nostartfiles -nostdlib -static`). If vigil-core, or anything it depends on, needed
//! `std` or a heap, this would not compile or not link. It also runs the core's code
//! for real (parse, emit, timers) so that the linker cannot drop it. `check.sh` builds,
//! inspects and runs it.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

use core::hint::black_box;
use core::net::{IpAddr, Ipv4Addr};

use vigil_core::machine::{Config, Instance, State, Vips};
use vigil_core::router::{Destination, Event, Output, Router};
use vigil_core::timer::{self, DOWN_TIMER_ADVERTS, Interval};
use vigil_core::wire::{Auth, ChecksumMode, Error, Repr, RxMeta, Version};
use vigil_core::{Duration, Instant};

/// A VRRPv2 advertisement sent by keepalived: VRID 51, priority 100, one address
/// (10.99.0.50), simple password "s3cr3t", interval 1 s, checksum 0x651b. It arrived
/// from 10.99.0.11 to 224.0.0.18 with TTL 255.
const KEEPALIVED_V2_ADVERT: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65,
    0x1b, // ver/type, vrid, prio, count, auth, int, csum
    0x0a, 0x63, 0x00, 0x32, // 10.99.0.50
    0x73, 0x33, 0x63, 0x72, 0x33, 0x74, 0x00, 0x00, // "s3cr3t\0\0"
];
const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11));
const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));

/// What the runtime's messages call this proof ("<name>: ok", "<name>: FAILED: <step>").
/// A macro, not a const, so that rt.rs can `concat!` each message into one write.
macro_rules! name {
    () => {
        "vigil-core no_std proof"
    };
}

// Entry point, panic handler, system calls and memcpy & co., shared with
// firmware-demo/nostd-proof.
mod rt;

/// Runs the core; on a mismatch, names the step that failed.
fn run() -> Result<(), &'static str> {
    // black_box: the input is opaque to the optimiser, so the core's code is compiled
    // in and executed, not folded away at compile time.
    let bytes: [u8; 20] = black_box(KEEPALIVED_V2_ADVERT);
    let meta = black_box(RxMeta {
        src: SRC,
        dst: DST,
        ttl: 255,
    });
    let mode = black_box(ChecksumMode::default());

    // 1. Parse the keepalived advert.
    let repr = Repr::parse(&bytes, &meta, mode).map_err(|_| "parse")?;
    let vip = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 50));
    if repr.version != Version::V2
        || repr.vrid != 51
        || repr.priority != 100
        || repr.interval != Interval::from_secs(1)
        || repr.auth != Auth::password(b"s3cr3t")
        || repr.addresses.len() != 1
        || !repr.addresses.iter().eq([vip])
    {
        return Err("parsed fields");
    }
    if repr.check_auth(&Auth::password(b"s3cr3t")).is_err()
        || repr.check_auth(&Auth::password(b"wrong")).is_ok()
    {
        return Err("check_auth");
    }

    // 2. Re-emit it: the same bytes, checksum included.
    let mut out = [0u8; 64];
    let len = repr.emit(&mut out, SRC, DST, mode).map_err(|_| "emit")?;
    if len != repr.buffer_len() || out[..len] != bytes[..] {
        return Err("emit bytes differ from keepalived's");
    }

    // 3. What must be refused is refused.
    let low_ttl = RxMeta {
        ttl: black_box(254),
        ..meta
    };
    if Repr::parse(&bytes, &low_ttl, mode) != Err(Error::Ttl(254)) {
        return Err("TTL 254 accepted");
    }
    let mut corrupt = bytes;
    corrupt[black_box(7)] ^= 0x01;
    if !matches!(
        Repr::parse(&corrupt, &meta, mode),
        Err(Error::Checksum { .. })
    ) {
        return Err("bad checksum accepted");
    }

    // 4. Timers: RFC 3768 6.1, 3 * 1 s + (256 - 100) / 256 s.
    let down = timer::master_down(
        repr.version,
        repr.priority,
        repr.interval,
        DOWN_TIMER_ADVERTS,
    );
    if down.as_micros() != 3_609_375 {
        return Err("master_down");
    }

    // 5. The router and its state machine: a priority-50 backup hears the
    //    keepalived master, takes over when it falls silent, and resigns on shutdown.
    //    Fixed capacity only.
    let me = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 12));
    let mut config = Config::new(51, Version::V2, black_box(50), me);
    config.auth = Auth::password(b"s3cr3t");
    let vips = Vips::<4>::from_iter(config.family(), [vip]).map_err(|_| "vips")?;
    let inst = Instance::new(config, vips).map_err(|_| "instance")?;
    let mut router: Router<2, 4, 2> = Router::new();
    let i = router
        .add(inst, 0, Destination::Multicast(DST))
        .map_err(|_| "add")?;
    router.start_all(Instant::from_micros(0));
    while router.poll_event().is_some() {}
    let heard = Instant::from_millis(black_box(500));
    if router.on_datagram(heard, 0, &bytes, &meta).is_err() || router.has_output() {
        return Err("backup did not accept the master's advert");
    }
    // 3 s + (256 - 50) / 256 s = 3.8046875 s after the advert.
    let due = router.poll_at().ok_or("no master-down deadline")?;
    if due != heard + Duration::from_micros(3_804_687) {
        return Err("master-down deadline");
    }
    router.on_timeout(due);
    let t = router.poll_transmit(&mut out).ok_or("no takeover advert")?;
    if t.priority != 50 || t.dst != DST || t.len != Ok(20) {
        return Err("takeover advert");
    }
    let mut vips_added = false;
    while let Some(o) = router.poll_event() {
        vips_added |= matches!(
            o,
            Output::Instance {
                event: Event::AddVips,
                ..
            }
        );
    }
    if router.instance(i).map(|x| x.state()) != Some(State::Master) || !vips_added {
        return Err("takeover");
    }
    router.stop_all(due);
    match router.poll_transmit(&mut out) {
        Some(t) if t.priority == 0 && t.len == Ok(20) && out[2] == 0 => {}
        _ => return Err("shutdown did not resign"),
    }

    Ok(())
}
