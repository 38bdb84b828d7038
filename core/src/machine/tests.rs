//! Named tests of every rule, with injected time. Each name says the RFC section or the
//! keepalived behaviour it pins.

use super::*;
use crate::priority::TrackStatus;
use crate::wire::{Auth, RxMeta};
use core::net::Ipv4Addr;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const LOW_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0));
const GROUP: IpAddr = IpAddr::V4(wire::MCAST_V4);
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn cfg(version: Version, priority: u8) -> Config {
    Config::new(51, version, priority, ME)
}

fn instance(config: Config) -> Instance {
    Instance::new(config, Vips::from_iter(config.family(), [VIP]).unwrap()).unwrap()
}

/// Runs one call into the machine and returns what it produced.
fn step(f: impl FnOnce(&mut Effects)) -> Effects {
    let mut out = Effects::new();
    f(&mut out);
    out
}

/// Bytes of an advert from `src`, as a peer with the same VIPs would send it.
struct Wire {
    buf: [u8; 64],
    len: usize,
    src: IpAddr,
}

fn advert_from(src: IpAddr, config: Config, priority: u8) -> Wire {
    let peer = Instance::<MAX_VIPS>::new(
        Config {
            primary: src,
            ..config
        },
        Vips::from_iter(config.family(), [VIP]).unwrap(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let len = peer.emit_advert(priority, &mut buf, GROUP).unwrap();
    Wire { buf, len, src }
}

fn deliver(i: &mut Instance, now: Instant, w: &Wire) -> (Result<(), Drop>, Effects) {
    let meta = RxMeta {
        src: w.src,
        dst: GROUP,
        ttl: 255,
    };
    let repr = Repr::parse(&w.buf[..w.len], &meta, ChecksumModeDefault::MODE).unwrap();
    let mut out = Effects::new();
    let r = i.on_advert(now, &repr, w.src, &mut out);
    (r, out)
}

/// Delivers an advert the machine must take (not drop).
fn accept(i: &mut Instance, now: Instant, w: &Wire) -> Effects {
    let (r, out) = deliver(i, now, w);
    assert_eq!(r, Ok(()), "advert dropped");
    out
}

struct ChecksumModeDefault;
impl ChecksumModeDefault {
    const MODE: wire::ChecksumMode = wire::ChecksumMode::PseudoHeader;
}

fn changed(to: State, reason: Reason) -> impl Fn(&Effect) -> bool {
    move |e| matches!(e, Effect::StateChanged { to: t, reason: r, .. } if *t == to && *r == reason)
}

fn started_backup(config: Config, now: Instant) -> Instance {
    let mut i = instance(config);
    step(|o| i.start(now, o));
    assert_eq!(i.state(), State::Backup);
    i
}

fn started_master(config: Config) -> Instance {
    let mut i = started_backup(config, ms(0));
    let at = i.poll_at().unwrap();
    step(|o| i.on_timeout(at, o));
    assert_eq!(i.state(), State::Master);
    i
}

#[test]
fn rfc5798_6_4_1_owner_with_state_master_becomes_master_at_once() {
    let mut i = instance(cfg(Version::V3, 255));
    let out = step(|o| i.start(ms(0), o));
    assert_eq!(i.state(), State::Master);
    assert!(out.iter().any(changed(State::Master, Reason::Owner)));
    assert!(out.contains(&Effect::SendAdvert { priority: 255 }));
}

#[test]
fn keepalived_state_master_below_255_starts_as_backup_with_full_down_timer() {
    let mut c = cfg(Version::V3, 150);
    c.initial = InitialState::Master;
    let mut i = instance(c);
    step(|o| i.start(ms(0), o));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.poll_at(), Some(ms(0) + i.master_down_interval()));
}

#[test]
fn keepalived_owner_with_state_backup_waits_like_any_backup() {
    let mut c = cfg(Version::V3, 255);
    c.initial = InitialState::Backup;
    let i = started_backup(c, ms(0));
    assert!(i.poll_at().is_some());
}

#[test]
fn rfc5798_6_4_1_backup_starts_master_down_timer() {
    let i = started_backup(cfg(Version::V3, 100), ms(1000));
    // 3 * 1 s + (256 - 100) * 1 s / 256 = 3.609375 s.
    assert_eq!(
        i.poll_at(),
        Some(ms(1000) + Duration::from_micros(3_609_375))
    );
}

#[test]
fn rfc5798_6_4_2_backup_becomes_master_when_down_timer_expires() {
    let mut i = started_backup(cfg(Version::V3, 100), ms(0));
    let at = i.poll_at().unwrap();
    assert!(step(|o| i.on_timeout(at - Duration::from_micros(1), o)).is_empty());
    let out = step(|o| i.on_timeout(at, o));
    // keepalived sends the advert before adding VIPs, then announces them.
    assert_eq!(
        &out[..],
        &[
            Effect::StateChanged {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown
            },
            Effect::SendAdvert { priority: 100 },
            Effect::AddVips,
            Effect::Announce {
                count: 5,
                spacing: Duration::from_ticks(0)
            },
        ]
    );
    assert_eq!(i.master(), Some(ME));
}

#[test]
fn rfc5798_6_4_2_accepted_advert_resets_master_down_timer() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    let w = advert_from(PEER, c, 200);
    let (r, out) = deliver(&mut i, ms(2000), &w);
    assert_eq!(r, Ok(()));
    assert!(out.is_empty());
    assert_eq!(i.poll_at(), Some(ms(2000) + i.master_down_interval()));
    assert_eq!(i.master(), Some(PEER));
}

#[test]
fn rfc5798_6_4_2_priority_zero_makes_backup_wait_only_skew_time() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    accept(&mut i, ms(500), &advert_from(PEER, c, 200));
    accept(&mut i, ms(1000), &advert_from(PEER, c, 0));
    assert_eq!(i.poll_at(), Some(ms(1000) + Duration::from_micros(609_375)));
    let out = step(|o| i.on_timeout(i.poll_at().unwrap(), o));
    assert!(
        out.iter()
            .any(changed(State::Master, Reason::MasterResigned))
    );
}

#[test]
fn rfc5798_6_4_2_v3_backup_learns_master_interval() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    let mut theirs = c;
    theirs.interval = Interval::from_centis(10);
    accept(&mut i, ms(100), &advert_from(PEER, theirs, 200));
    assert_eq!(i.master_adver_int(), Interval::from_centis(10));
    // 3 * 100 ms + 156 * 100 ms / 256 = 360.9375 ms.
    assert_eq!(i.poll_at(), Some(ms(100) + Duration::from_micros(360_937)));
}

#[test]
fn rfc3768_7_1_v2_advert_with_other_interval_is_discarded() {
    let c = cfg(Version::V2, 100);
    let mut i = started_backup(c, ms(0));
    let mut theirs = c;
    theirs.interval = Interval::from_secs(2);
    let (r, _) = deliver(&mut i, ms(100), &advert_from(PEER, theirs, 200));
    assert_eq!(r, Err(Drop::Interval));
}

#[test]
fn rfc5798_6_4_2_preempting_backup_discards_lower_priority_and_takes_over() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    let before = i.poll_at();
    let (r, _) = deliver(&mut i, ms(1000), &advert_from(PEER, c, 50));
    assert_eq!(r, Ok(()));
    assert_eq!(
        i.poll_at(),
        before,
        "a discarded advert must not reset the timer"
    );
}

#[test]
fn keepalived_equal_priority_advert_keeps_backup_backup() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    accept(&mut i, ms(1000), &advert_from(LOW_PEER, c, 100));
    assert_eq!(i.poll_at(), Some(ms(1000) + i.master_down_interval()));
}

#[test]
fn keepalived_nopreempt_accepts_lower_priority_master() {
    let mut c = cfg(Version::V3, 100);
    c.preempt = false;
    let mut i = started_backup(c, ms(0));
    accept(&mut i, ms(1000), &advert_from(PEER, c, 50));
    assert_eq!(i.poll_at(), Some(ms(1000) + i.master_down_interval()));
}

#[test]
fn keepalived_nopreempt_is_ignored_with_state_master() {
    let mut c = cfg(Version::V3, 100);
    c.preempt = false;
    c.initial = InitialState::Master;
    assert!(c.preempts());
    let mut i = started_backup(c, ms(0));
    let before = i.poll_at();
    accept(&mut i, ms(1000), &advert_from(PEER, c, 50));
    assert_eq!(i.poll_at(), before);
}

#[test]
fn keepalived_preempt_delay_starts_at_first_lower_priority_advert() {
    let mut c = cfg(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(10);
    let mut i = started_backup(c, ms(0));
    let low = advert_from(PEER, c, 50);
    // Accepted for 10 s after the first lower-priority advert...
    accept(&mut i, ms(2000), &low);
    accept(&mut i, ms(11_000), &low);
    assert_eq!(i.poll_at(), Some(ms(11_000) + i.master_down_interval()));
    // ...then discarded, so the timer runs out and we preempt.
    accept(&mut i, ms(12_500), &low);
    assert_eq!(i.poll_at(), Some(ms(11_000) + i.master_down_interval()));
}

/// keepalived 2.2.7 run in namespaces (a VRRPv2 backup of priority 150 with
/// `preempt_delay 5` starting beside a master of priority 100, adverts every second):
/// the delay starts at the first lower-priority advert, the adverts up to one second
/// before its end reset the master-down timer, and the one arriving as it ends is
/// discarded in 5 runs of 6; the master-down interval (3.414 s) then runs from the last
/// accepted advert. Exact times, as the core sees them.
#[test]
fn keepalived_preempt_delay_takes_over_a_master_down_interval_after_the_last_accepted_advert() {
    let mut c = cfg(Version::V2, 150);
    c.preempt_delay = Duration::from_secs(5);
    let mut i = started_backup(c, ms(0));
    assert_eq!(i.master_down_interval(), Duration::from_micros(3_414_062));
    let low = advert_from(PEER, c, 100);
    let first = ms(840);
    for k in 0..5 {
        accept(&mut i, first + Duration::from_secs(k), &low);
    }
    let last_accepted = first + Duration::from_secs(4);
    let takeover = last_accepted + i.master_down_interval();
    assert_eq!(i.poll_at(), Some(takeover));
    // keepalived: `preempt_time > time_now` accepts; at the very end it discards.
    accept(&mut i, first + Duration::from_secs(5), &low);
    accept(&mut i, first + Duration::from_secs(6), &low);
    accept(&mut i, first + Duration::from_secs(7), &low);
    assert_eq!(i.poll_at(), Some(takeover));
    assert!(step(|o| i.on_timeout(takeover - Duration::from_micros(1), o)).is_empty());
    let out = step(|o| i.on_timeout(takeover, o));
    assert!(out.iter().any(changed(State::Master, Reason::MasterDown)));
    assert_eq!(takeover, ms(8254) + Duration::from_micros(62));
}

/// The other outcome keepalived shows (1 run in 6): the advert that ends the delay is
/// processed a hair before `preempt_time`, so it is still accepted and the takeover
/// comes one advert interval later. The rule is the same; only the arrival differs.
#[test]
fn keepalived_preempt_delay_accepts_an_advert_just_before_the_delay_ends() {
    let mut c = cfg(Version::V2, 150);
    c.preempt_delay = Duration::from_secs(5);
    let mut i = started_backup(c, ms(0));
    let low = advert_from(PEER, c, 100);
    let first = ms(840);
    accept(&mut i, first, &low);
    let just_before = first + Duration::from_secs(5) - Duration::from_micros(1);
    accept(&mut i, just_before, &low);
    assert_eq!(i.poll_at(), Some(just_before + i.master_down_interval()));
}

/// keepalived: an advert of equal or higher priority stops the delay ("stop preempt
/// delay"); the next lower-priority advert starts a fresh one.
#[test]
fn keepalived_preempt_delay_restarts_after_a_higher_priority_advert() {
    let mut c = cfg(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(3);
    let mut i = started_backup(c, ms(0));
    let low = advert_from(PEER, c, 50);
    let high = advert_from(PEER, c, 200);
    accept(&mut i, ms(1000), &low);
    accept(&mut i, ms(2000), &high);
    accept(&mut i, ms(3000), &low);
    // The delay now ends at 6 s, not 4 s.
    accept(&mut i, ms(5999), &low);
    assert_eq!(i.poll_at(), Some(ms(5999) + i.master_down_interval()));
    let before = i.poll_at();
    accept(&mut i, ms(6000), &low);
    assert_eq!(i.poll_at(), before, "discarded once the delay has run out");
}

/// keepalived clears `preempt_time` on entering BACKUP (from MASTER or FAULT): a backup
/// that was master starts a new delay at the first lower-priority advert.
#[test]
fn keepalived_preempt_delay_starts_afresh_after_leaving_master() {
    let mut c = cfg(Version::V3, 100);
    c.preempt_delay = Duration::from_secs(2);
    let mut i = started_master(c);
    let t = ms(20_000);
    let (r, _) = deliver(&mut i, t, &advert_from(PEER, c, 200));
    assert_eq!(r, Ok(()));
    assert_eq!(i.state(), State::Backup);
    let low = advert_from(PEER, c, 50);
    accept(&mut i, t + Duration::from_secs(10), &low);
    accept(&mut i, t + Duration::from_millis(11_999), &low);
    assert_eq!(
        i.poll_at(),
        Some(t + Duration::from_millis(11_999) + i.master_down_interval())
    );
}

#[test]
fn rfc5798_6_4_3_master_sends_advert_every_interval() {
    let mut i = started_master(cfg(Version::V3, 100));
    let next = i.poll_at().unwrap();
    let out = step(|o| i.on_timeout(next, o));
    assert_eq!(&out[..], &[Effect::SendAdvert { priority: 100 }]);
    assert_eq!(i.poll_at(), Some(next + Duration::from_secs(1)));
}

#[test]
fn rfc5798_6_4_3_master_yields_to_higher_priority() {
    let c = cfg(Version::V3, 100);
    let mut i = started_master(c);
    let (_, out) = deliver(&mut i, ms(10_000), &advert_from(LOW_PEER, c, 101));
    assert_eq!(
        &out[..],
        &[
            Effect::RemoveVips,
            Effect::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason: Reason::HigherPriority
            }
        ]
    );
    assert_eq!(i.master(), Some(LOW_PEER));
}

#[test]
fn rfc5798_6_4_3_equal_priority_higher_address_wins() {
    let c = cfg(Version::V3, 100);
    let mut i = started_master(c);
    accept(&mut i, ms(10_000), &advert_from(LOW_PEER, c, 100));
    assert_eq!(i.state(), State::Master, "lower address loses the tie");
    accept(&mut i, ms(10_100), &advert_from(PEER, c, 100));
    assert_eq!(i.state(), State::Backup, "higher address wins the tie");
}

#[test]
fn rfc5798_6_4_3_master_answers_priority_zero_at_once() {
    let c = cfg(Version::V3, 100);
    let mut i = started_master(c);
    // Master since 3.609 s: periodic adverts at 4.609, 5.609, ...
    let (_, out) = deliver(&mut i, ms(5_000), &advert_from(PEER, c, 0));
    assert_eq!(&out[..], &[Effect::SendAdvert { priority: 100 }]);
    assert_eq!(i.poll_at(), Some(ms(6_000)), "advert timer restarted");
}

#[test]
fn keepalived_master_answers_lower_priority_at_most_once_per_interval() {
    let c = cfg(Version::V3, 100);
    let mut i = started_master(c);
    let low = advert_from(PEER, c, 50);
    let mut sent = 0;
    for n in 0..100u64 {
        // 100 adverts over 2.5 s: at most 3 answers (t = 10.0, 11.0, 12.0 s).
        let (_, out) = deliver(&mut i, ms(10_000 + n * 25), &low);
        sent += out
            .iter()
            .filter(|e| matches!(e, Effect::SendAdvert { .. }))
            .count();
        if n == 0 {
            assert!(
                out.iter()
                    .any(|e| matches!(e, Effect::Announce { count: 5, .. }))
            );
        }
    }
    assert_eq!(sent, 3);
    assert_eq!(i.state(), State::Master);
}

#[test]
fn rfc5798_6_4_3_lower_prio_no_advert_discards() {
    let mut c = cfg(Version::V3, 100);
    c.lower_priority = LowerPriority::Discard;
    let mut i = started_master(c);
    let (r, out) = deliver(&mut i, ms(10_000), &advert_from(PEER, c, 50));
    assert_eq!(r, Ok(()));
    assert!(out.is_empty());
}

#[test]
fn keepalived_higher_prio_send_advert_before_yielding() {
    let mut c = cfg(Version::V3, 100);
    c.higher_prio_send_advert = true;
    let mut i = started_master(c);
    let (_, out) = deliver(&mut i, ms(10_000), &advert_from(PEER, c, 200));
    assert_eq!(out[0], Effect::SendAdvert { priority: 100 });
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn keepalived_two_owners_demote_the_local_one_to_254() {
    let c = cfg(Version::V3, 255);
    let mut i = instance(c);
    step(|o| i.start(ms(0), o));
    let (_, out) = deliver(&mut i, ms(1000), &advert_from(LOW_PEER, c, 255));
    assert!(out.contains(&Effect::PriorityChanged { from: 255, to: 254 }));
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn owner_ignores_adverts_when_configured() {
    let mut c = cfg(Version::V3, 255);
    c.owner_ignores_adverts = true;
    let mut i = instance(c);
    step(|o| i.start(ms(0), o));
    let (r, out) = deliver(&mut i, ms(1000), &advert_from(PEER, c, 255));
    assert_eq!(r, Err(Drop::Owner));
    assert!(out.is_empty());
    assert_eq!(i.state(), State::Master);
}

#[test]
fn keepalived_garp_schedule_burst_delay_and_refresh() {
    let mut c = cfg(Version::V3, 100);
    c.garp.refresh = Duration::from_secs(60);
    c.garp.refresh_repeat = 2;
    let mut i = started_master(c);
    let became = ms(0) + i.master_down_interval();
    let mut announces = heapless::Vec::<(Instant, u8), 8>::new();
    let mut now = became;
    while now < became + Duration::from_secs(125) {
        now = i.poll_at().unwrap();
        for e in &step(|o| i.on_timeout(now, o)) {
            if let Effect::Announce { count, .. } = e {
                announces.push((now, *count)).unwrap();
            }
        }
    }
    assert_eq!(
        announces.as_slice(),
        &[
            (became + Duration::from_secs(5), 5),
            (became + Duration::from_secs(65), 2),
            (became + Duration::from_secs(125), 2)
        ]
    );
}

#[test]
fn rfc5798_6_4_3_shutdown_resigns_with_priority_zero() {
    let mut i = started_master(cfg(Version::V3, 100));
    let out = step(|o| i.shutdown(ms(10_000), o));
    assert_eq!(
        &out[..2],
        &[Effect::SendAdvert { priority: 0 }, Effect::RemoveVips]
    );
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.poll_at(), None);
}

#[test]
fn shutdown_of_a_backup_sends_nothing() {
    let mut i = started_backup(cfg(Version::V3, 100), ms(0));
    let out = step(|o| i.shutdown(ms(10), o));
    assert!(!out.iter().any(|e| matches!(e, Effect::SendAdvert { .. })));
}

const FAILED: TrackStatus = TrackStatus {
    faults: 1,
    adjust: 0,
    pending: 0,
};

#[test]
fn keepalived_weight_zero_tracker_failure_is_fault_and_master_resigns() {
    let mut i = started_master(cfg(Version::V3, 100));
    let out = step(|o| i.set_tracking(ms(10_000), FAILED, o));
    assert_eq!(
        &out[..],
        &[
            Effect::SendAdvert { priority: 0 },
            Effect::RemoveVips,
            Effect::StateChanged {
                from: State::Master,
                to: State::Fault,
                reason: Reason::Fault
            }
        ]
    );
    assert_eq!(i.poll_at(), None);
    let low = advert_from(PEER, *i.config(), 50);
    let (r, _) = deliver(&mut i, ms(10_100), &low);
    assert_eq!(r, Err(Drop::NotListening));
    // Recovery goes to BACKUP with a full master-down timer.
    let out = step(|o| i.set_tracking(ms(20_000), TrackStatus::HEALTHY, o));
    assert!(out.iter().any(changed(State::Backup, Reason::Recovered)));
    assert_eq!(i.poll_at(), Some(ms(20_000) + i.master_down_interval()));
}

#[test]
fn keepalived_fault_at_start_up() {
    let mut i = instance(cfg(Version::V3, 100));
    step(|o| i.set_tracking(ms(0), FAILED, o));
    assert_eq!(i.state(), State::Initialize);
    let out = step(|o| i.start(ms(0), o));
    assert!(out.iter().any(changed(State::Fault, Reason::Fault)));
}

#[test]
fn keepalived_priority_change_sends_no_advert_and_moves_backup_timer() {
    let c = cfg(Version::V3, 100);
    let mut m = started_master(c);
    let down = TrackStatus {
        faults: 0,
        adjust: -10,
        pending: 0,
    };
    let out = step(|o| m.set_tracking(ms(10_000), down, o));
    assert_eq!(&out[..], &[Effect::PriorityChanged { from: 100, to: 90 }]);
    let next = m.poll_at().unwrap();
    let out = step(|o| m.on_timeout(next.max(ms(10_000)), o));
    assert!(out.contains(&Effect::SendAdvert { priority: 90 }));

    let mut b = started_backup(c, ms(0));
    let before = b.poll_at().unwrap();
    step(|o| b.set_tracking(ms(1), down, o));
    // Skew grows by 10/256 s: 648_437 - 609_375 = 39_062 µs later (both truncated).
    assert_eq!(b.poll_at(), Some(before + Duration::from_micros(39_062)));
}

#[test]
fn keepalived_vip_list_mismatch_is_dropped() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    let other = Instance::<MAX_VIPS>::new(
        Config { primary: PEER, ..c },
        Vips::from_iter(c.family(), [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99))]).unwrap(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let len = other.emit_advert(200, &mut buf, GROUP).unwrap();
    let w = Wire {
        buf,
        len,
        src: PEER,
    };
    assert_eq!(deliver(&mut i, ms(100), &w).0, Err(Drop::Addresses));
}

#[test]
fn keepalived_skip_check_adv_addr_spares_only_the_current_master() {
    let mut c = cfg(Version::V3, 100);
    c.check_addresses = false;
    let mut i = started_backup(c, ms(0));
    let mismatched = |src| {
        let mut buf = [0u8; 64];
        let other = Instance::<MAX_VIPS>::new(
            Config { primary: src, ..c },
            Vips::from_iter(c.family(), [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99))]).unwrap(),
        )
        .unwrap();
        let len = other.emit_advert(200, &mut buf, GROUP).unwrap();
        Wire { buf, len, src }
    };
    assert_eq!(
        deliver(&mut i, ms(100), &mismatched(PEER)).0,
        Err(Drop::Addresses)
    );
    accept(&mut i, ms(200), &advert_from(PEER, c, 200));
    assert_eq!(deliver(&mut i, ms(300), &mismatched(PEER)).0, Ok(()));
}

#[test]
fn rfc3768_auth_type_and_password_must_match() {
    let mut c = cfg(Version::V2, 100);
    c.auth = Auth::password(b"s3cr3t");
    let mut i = started_backup(c, ms(0));
    let mut wrong = c;
    wrong.auth = Auth::password(b"guess");
    assert_eq!(
        deliver(&mut i, ms(100), &advert_from(PEER, wrong, 200)).0,
        Err(Drop::Auth(wire::Error::Password))
    );
    wrong.auth = Auth::None;
    assert!(matches!(
        deliver(&mut i, ms(100), &advert_from(PEER, wrong, 200)).0,
        Err(Drop::Auth(wire::Error::AuthMismatch { .. }))
    ));
    assert_eq!(
        deliver(&mut i, ms(100), &advert_from(PEER, c, 200)).0,
        Ok(())
    );
}

#[test]
fn own_looped_advert_and_other_vrid_are_dropped() {
    let c = cfg(Version::V3, 100);
    let mut i = started_backup(c, ms(0));
    assert_eq!(
        deliver(&mut i, ms(1), &advert_from(ME, c, 100)).0,
        Err(Drop::OwnAdvert)
    );
    let mut other = c;
    other.vrid = 52;
    assert_eq!(
        deliver(&mut i, ms(1), &advert_from(PEER, other, 100)).0,
        Err(Drop::Vrid)
    );
    let v2 = cfg(Version::V2, 100);
    assert_eq!(
        deliver(&mut i, ms(1), &advert_from(PEER, v2, 100)).0,
        Err(Drop::Version)
    );
}

#[test]
fn configuration_errors_are_errors_not_panics() {
    let c = cfg(Version::V2, 100);
    let mut v = Vips::<1>::new(c.family());
    v.push(VIP).unwrap();
    assert!(matches!(v.push(VIP), Err(ConfigError::Capacity(_))));
    let v6 = IpAddr::V6(wire::MCAST_V6);
    assert_eq!(
        Vips::<1>::new(c.family()).push(v6),
        Err(ConfigError::VipFamily)
    );
    assert_eq!(
        Config { primary: v6, ..c }.validate(),
        Err(ConfigError::V2OverIpv6)
    );
    let frac = Config {
        interval: Interval::from_centis(150),
        ..c
    };
    assert_eq!(frac.validate(), Err(ConfigError::Interval));
    assert_eq!(Config { vrid: 0, ..c }.validate(), Err(ConfigError::Vrid));
    assert_eq!(
        Config {
            auth: Auth::password(b"x"),
            ..cfg(Version::V3, 100)
        }
        .validate(),
        Err(ConfigError::AuthWithV3)
    );
}
