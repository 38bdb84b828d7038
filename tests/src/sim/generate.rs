//! The random scenario of a seed: a topology with random options and links, and a
//! script of failures and checks.

use std::net::{IpAddr, Ipv4Addr};

use vigil_core::Duration;
use vigil_core::machine::{Config, Garp, InitialState, LowerPriority, Vips};
use vigil_core::priority::TrackStatus;
use vigil_core::timer::Interval;
use vigil_core::wire::{Auth, ChecksumMode, Family, Version};

use super::Ticks;
use super::rng::Rng;
use super::scenario::{Action, Scenario, Target};
use super::topology::{Lan, Link, Setup};

/// Advert intervals a random scenario soaks for after converging.
pub const SOAK_INTERVALS: u64 = 200;

/// The random scenario of `seed`: 2 to 16 routers of one VRID on one LAN, a shared
/// version and interval, distinct addresses in random order against priorities (with
/// ties, sometimes an owner), random keepalived options, lossy and jittery links, then
/// a script of crashes, restarts, shutdowns, partitions, heals and tracker changes with
/// convergence checks after quiet periods, and a final soak of [`SOAK_INTERVALS`].
pub fn random_scenario(seed: u64) -> Scenario {
    let mut r = Rng::new(seed);
    let n = r.range(2, 16) as usize;
    let version = if r.pct(50) { Version::V2 } else { Version::V3 };
    let interval = match version {
        Version::V2 => Interval::from_secs(1),
        Version::V3 => Interval::from_centis(r.range(10, 100) as u16),
    };
    let dta = r.pick(&[3u8, 3, 3, 3, 2, 4, 5]);
    let vrid = r.range(1, 255) as u8;

    // Addresses from up to four prefixes, some with the top bit set, so the unsigned
    // comparison of RFC 5798 6.4.3 matters.
    let prefixes = [[10u8, 0, 0], [192, 168, 7], [172, 16, 9], [203, 0, 113]];
    let used = r.range(1, 4) as usize;
    let mut addrs: Vec<Ipv4Addr> = Vec::new();
    while addrs.len() < n {
        let p = r.pick(&prefixes[..used]);
        let a = Ipv4Addr::new(p[0], p[1], p[2], r.range(1, 254) as u8);
        if !addrs.contains(&a) {
            addrs.push(a);
        }
    }
    let mut prios: Vec<u8> = (0..n)
        .map(|_| {
            if r.pct(45) {
                r.pick(&[100u8, 100, 150, 200])
            } else {
                r.range(1, 254) as u8
            }
        })
        .collect();
    if r.pct(25) {
        prios[r.below(n as u64) as usize] = u8::MAX;
    }
    let nvips = r.range(1, 4) as u8;
    let vips: Vec<IpAddr> = (1..=nvips)
        .map(|i| IpAddr::V4(Ipv4Addr::new(10, 255, vrid, i)))
        .collect();
    let auth = if version == Version::V2 && r.pct(30) {
        Auth::password(b"vigil")
    } else {
        Auth::None
    };
    let checksum = if version == Version::V3 && r.pct(20) {
        ChecksumMode::AsV2
    } else {
        ChecksumMode::PseudoHeader
    };
    let max_loss = if r.pct(25) {
        0
    } else {
        r.range(0, 200_000) as u32
    };
    let max_delay = if r.pct(15) { 0 } else { r.range(0, 5000) };

    let mut configs = Vec::with_capacity(n);
    let mut vip_lists = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = Config::new(vrid, version, prios[i], IpAddr::V4(addrs[i]));
        c.interval = interval;
        c.down_timer_adverts = dta;
        c.auth = auth;
        c.checksum = checksum;
        if prios[i] < u8::MAX && r.pct(10) {
            c.initial = InitialState::Master;
        }
        c.lower_priority = if r.pct(30) {
            LowerPriority::Discard
        } else {
            LowerPriority::Answer
        };
        c.higher_prio_send_advert = r.pct(25);
        c.lower_prio_announce = r.range(0, 5) as u8;
        let (some_delay, some_refresh) = (r.range(100, 5000), r.range(1000, 10_000));
        c.garp = Garp {
            delay: Duration::from_millis(r.pick(&[0, 5000, some_delay])),
            repeat: r.range(1, 5) as u8,
            refresh: Duration::from_millis(r.pick(&[0, 0, some_refresh])),
            refresh_repeat: r.range(1, 3) as u8,
            spacing: Duration::from_ticks(0),
        };
        configs.push(c);
        let mut mine = vips.clone();
        r.shuffle(&mut mine);
        vip_lists.push(Vips::from_iter(Family::V4, mine).expect("VIPs fit"));
    }
    let links = (0..n)
        .map(|_| {
            (0..n)
                .map(|_| {
                    let delay = r.range(0, max_delay);
                    let jitter = r.range(0, max_delay - delay);
                    Link::new(r.range(0, u64::from(max_loss)) as u32, delay, jitter)
                })
                .collect()
        })
        .collect();
    let setup = Setup::single(Lan {
        configs,
        vips: vip_lists,
        links,
    });

    let quiet = setup.quiet();
    let slack = setup.slack();
    let i = setup.lans[0].interval_ticks();
    let mut script = Vec::new();
    let stagger = r.pct(50);
    let mut t = 0;
    for node in 0..n {
        let at = if stagger { r.below(2 * i) } else { 0 };
        t = t.max(at);
        script.push((at, Action::Start(Target::Node(node))));
    }
    script.sort_by_key(|&(at, _)| at);
    let check = |script: &mut Vec<(Ticks, Action)>, t: &mut Ticks| {
        *t += quiet;
        script.push((*t, Action::Check));
        *t += slack;
    };
    check(&mut script, &mut t);
    for _ in 0..r.range(2, 8) {
        t += 1;
        let target = if r.pct(50) {
            Target::Master
        } else {
            Target::Node(r.below(n as u64) as usize)
        };
        let (action, long) = match r.below(100) {
            0..20 => (Action::Crash(Target::Master), true),
            20..28 => (Action::Crash(Target::AnyUp), r.pct(50)),
            28..43 => (Action::Start(Target::AnyDown), r.pct(50)),
            43..53 => (Action::Shutdown(Target::Master), r.pct(70)),
            53..63 => (
                Action::Partition {
                    lan: 0,
                    side_b: r.range(1, (1u64 << n) - 2) as u32,
                },
                r.pct(60),
            ),
            63..71 => (Action::Heal { lan: 0 }, r.pct(60)),
            71..92 => (
                Action::Track {
                    target,
                    lan: 0,
                    status: TrackStatus {
                        faults: u16::from(r.pct(15)),
                        adjust: r.range(0, 200) as i32 - 100,
                        pending: 0,
                    },
                },
                r.pct(50),
            ),
            _ => (
                Action::Track {
                    target: Target::AnyUp,
                    lan: 0,
                    status: TrackStatus::HEALTHY,
                },
                r.pct(50),
            ),
        };
        script.push((t, action));
        if long {
            check(&mut script, &mut t);
        } else {
            t += r.range(1, i);
        }
    }
    if r.pct(50) {
        t += 1;
        script.push((t, Action::Heal { lan: 0 }));
        for node in 0..n {
            script.push((t, Action::Start(Target::Node(node))));
        }
    }
    check(&mut script, &mut t);
    script.push((t, Action::SoakBegin));
    t += SOAK_INTERVALS * i;
    script.push((t, Action::SoakEnd));
    script.push((t, Action::Check));
    t += slack;
    Scenario {
        seed,
        setup,
        script,
        end: t + 1,
    }
}
