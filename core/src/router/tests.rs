//! The router's door: demultiplexing, destinations, the order of outputs, sync groups
//! and reload, with injected time.

use super::*;
use crate::machine::{Config, Drop, Reason, Vips};
use crate::wire::{self, Version};
use core::net::Ipv4Addr;

const ME: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
const GROUP: IpAddr = IpAddr::V4(wire::MCAST_V4);
const VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100));
const FAILED: TrackStatus = TrackStatus {
    faults: 1,
    adjust: 0,
    pending: 0,
};

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn cfg(vrid: u8, priority: u8) -> Config {
    Config::new(vrid, Version::V3, priority, ME)
}

fn instance(config: Config) -> Instance {
    Instance::new(config, Vips::from_iter(config.family(), [VIP]).unwrap()).unwrap()
}

fn mcast() -> Destination {
    Destination::Multicast(GROUP)
}

type R = Router<4>;

fn router(configs: &[Config]) -> R {
    let mut r = R::new();
    for c in configs {
        r.add(instance(*c), 0, mcast()).unwrap();
    }
    r
}

/// An advert as a peer with the same VIPs sends it, with its receive metadata.
fn advert(src: IpAddr, dst: IpAddr, config: Config, priority: u8) -> ([u8; 64], usize, RxMeta) {
    let peer = instance(Config {
        primary: src,
        ..config
    });
    let mut buf = [0u8; 64];
    let len = peer.emit_advert(priority, &mut buf, dst).unwrap();
    (buf, len, RxMeta { src, dst, ttl: 255 })
}

fn hear(r: &mut R, now: Instant, src: IpAddr, c: Config, prio: u8) -> Result<Accepted, RxDrop> {
    let (buf, len, meta) = advert(src, GROUP, c, prio);
    r.on_datagram(now, 0, &buf[..len], &meta)
}

/// Drains the router as a host does: every advert, then every event.
fn drain(r: &mut R) -> (std::vec::Vec<Transmit>, std::vec::Vec<Output>) {
    extern crate std;
    let mut buf = [0u8; 1500];
    let tx = core::iter::from_fn(|| r.poll_transmit(&mut buf)).collect();
    let ev = core::iter::from_fn(|| r.poll_event()).collect();
    (tx, ev)
}

extern crate std;

fn states(r: &R) -> std::vec::Vec<State> {
    r.instances().map(Instance::state).collect()
}

/// Runs every deadline until `until`, draining as a host does.
fn run_until(r: &mut R, until: Instant) {
    for _ in 0..1000 {
        match r.poll_at() {
            Some(t) if t <= until => {
                r.on_timeout(t);
                drain(r);
            }
            _ => return,
        }
    }
    panic!("deadlines never settle");
}

#[test]
fn datagrams_reach_the_instance_with_their_vrid_on_their_channel() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    let a = hear(&mut r, ms(10), PEER, cfg(52, 200), 200).unwrap();
    assert_eq!(a.instance, 1);
    assert!(a.restarted_timer);
    assert_eq!((a.priority, a.ours, a.was), (200, 100, State::Backup));
    assert_eq!(r.instance(1).unwrap().master(), Some(PEER));
    assert_eq!(r.instance(0).unwrap().master(), None);
    // Another VRID, or the right VRID on another channel: nobody's.
    assert_eq!(
        hear(&mut r, ms(20), PEER, cfg(53, 200), 200),
        Err(RxDrop::UnknownVrid { vrid: 53 })
    );
    let (buf, len, meta) = advert(PEER, GROUP, cfg(51, 200), 200);
    assert_eq!(
        r.on_datagram(ms(30), 7, &buf[..len], &meta),
        Err(RxDrop::UnknownVrid { vrid: 51 })
    );
    assert_eq!(
        r.on_datagram(ms(30), 0, &buf[..1], &meta),
        Err(RxDrop::Truncated)
    );
}

#[test]
fn a_vrid_is_taken_once_per_channel_and_family() {
    let mut r = router(&[cfg(51, 100)]);
    assert_eq!(
        r.add(instance(cfg(51, 100)), 0, mcast()),
        Err(SetupError::DuplicateVrid { vrid: 51 })
    );
    assert_eq!(r.add(instance(cfg(51, 100)), 1, mcast()), Ok(1));
    r.add(instance(cfg(52, 100)), 0, mcast()).unwrap();
    r.add(instance(cfg(53, 100)), 0, mcast()).unwrap();
    assert_eq!(
        r.add(instance(cfg(54, 100)), 0, mcast()),
        Err(SetupError::Full { capacity: 4 })
    );
    assert_eq!(r.find(1, Family::V4, 51), Some(1));
    assert_eq!(r.find(0, Family::V6, 51), None);
}

#[test]
fn destinations_and_unicast_sources_are_checked_before_parsing() {
    let mut r = R::new();
    r.add(instance(cfg(51, 100)), 0, mcast()).unwrap();
    let peers = Destination::unicast(&[PEER], true).unwrap();
    r.add(instance(cfg(52, 100)), 0, peers).unwrap();
    r.start_all(ms(0));
    drain(&mut r);
    // Multicast instance: only its group.
    let (buf, len, meta) = advert(PEER, ME, cfg(51, 200), 200);
    assert_eq!(
        r.on_datagram(ms(1), 0, &buf[..len], &meta),
        Err(RxDrop::WrongDestination { instance: 0 })
    );
    // Unicast instance: not to a group, and only from its peers.
    let (buf, len, meta) = advert(PEER, GROUP, cfg(52, 200), 200);
    assert_eq!(
        r.on_datagram(ms(1), 0, &buf[..len], &meta),
        Err(RxDrop::WrongDestination { instance: 1 })
    );
    let (buf, len, meta) = advert(OTHER, ME, cfg(52, 200), 200);
    let d = r.on_datagram(ms(1), 0, &buf[..len], &meta).unwrap_err();
    assert_eq!(d, RxDrop::UnicastSource { instance: 1 });
    assert_eq!(d.reason().as_str(), "unicast_source");
    let (buf, len, meta) = advert(PEER, ME, cfg(52, 200), 200);
    assert!(r.on_datagram(ms(1), 0, &buf[..len], &meta).is_ok());
    // A broken checksum: the codec's reason, for the instance.
    let (mut buf, len, meta) = advert(PEER, ME, cfg(52, 200), 200);
    buf[6] ^= 1;
    let d = r.on_datagram(ms(2), 0, &buf[..len], &meta).unwrap_err();
    assert_eq!(d.reason(), DropReason::Checksum);
    assert_eq!(d.instance(), Some(1));
}

#[test]
fn machine_refusals_carry_the_machines_reason() {
    let mut r = router(&[cfg(51, 100)]);
    // Not started: it does not listen.
    let d = hear(&mut r, ms(1), PEER, cfg(51, 200), 200).unwrap_err();
    assert_eq!(
        d,
        RxDrop::Machine {
            instance: 0,
            drop: Drop::NotListening
        }
    );
    assert_eq!(d.reason().as_str(), "not_listening");
}

#[test]
fn a_takeover_hands_out_the_advert_first_then_vips_announcement_and_state() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    let (tx, ev) = drain(&mut r);
    assert!(tx.is_empty());
    assert!(matches!(
        ev[..],
        [Output::Instance {
            event: Event::StateChanged {
                to: State::Backup,
                ..
            },
            ..
        }]
    ));
    let at = r.poll_at().unwrap();
    r.on_timeout(at);
    let (tx, ev) = drain(&mut r);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].src, tx[0].dst, tx[0].priority), (ME, GROUP, 100));
    assert!(tx[0].first);
    assert!(tx[0].len.is_ok());
    let kinds: std::vec::Vec<_> = ev
        .iter()
        .map(|o| match o {
            Output::Instance { event, .. } => *event,
            Output::Group { .. } => panic!("no group"),
        })
        .collect();
    assert!(matches!(
        kinds[..],
        [
            Event::StateChanged {
                to: State::Master,
                reason: Reason::MasterDown,
                cause: Cause::Internal,
                ..
            },
            Event::AddVips,
            Event::Announce { .. }
        ]
    ));
    assert!(!r.has_output());
}

#[test]
fn the_advert_written_is_the_one_peers_parse() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    r.on_timeout(r.poll_at().unwrap());
    let mut buf = [0u8; 1500];
    let t = r.poll_transmit(&mut buf).unwrap();
    let meta = RxMeta {
        src: t.src,
        dst: t.dst,
        ttl: 255,
    };
    let repr = Repr::parse(&buf[..t.len.unwrap()], &meta, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!((repr.vrid, repr.priority), (51, 100));
}

#[test]
fn unicast_adverts_go_to_every_peer_counted_once() {
    let mut r = R::new();
    let peers = Destination::unicast(&[PEER, OTHER], false).unwrap();
    r.add(instance(cfg(51, 255)), 0, peers).unwrap();
    r.start_all(ms(0));
    let (tx, _) = drain(&mut r);
    let to: std::vec::Vec<_> = tx.iter().map(|t| (t.dst, t.first)).collect();
    assert_eq!(to, [(PEER, true), (OTHER, false)]);
    assert_eq!(
        Destination::<1>::unicast(&[PEER, OTHER], false),
        Err(CapacityError {
            what: "unicast peers",
            capacity: 1
        })
    );
}

#[test]
fn yielding_on_an_equal_priority_says_it_lost_on_the_address() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    run_until(&mut r, ms(4000));
    assert_eq!(states(&r), [State::Master]);
    hear(&mut r, ms(5000), PEER, cfg(51, 100), 100).unwrap();
    let (_, ev) = drain(&mut r);
    let cause = ev
        .iter()
        .find_map(|o| match o {
            Output::Instance {
                event:
                    Event::StateChanged {
                        to: State::Backup,
                        reason: Reason::HigherPriority,
                        cause,
                        ..
                    },
                ..
            } => Some(*cause),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        cause,
        Cause::Advert {
            from: PEER,
            priority: 100,
            ours: 100
        }
    );
    assert!(cause.won_on_address());
}

#[test]
fn stopping_resigns_every_master_before_any_vip_goes() {
    let mut r = router(&[cfg(51, 255), cfg(52, 255)]);
    r.start_all(ms(0));
    drain(&mut r);
    r.stop_all(ms(10));
    let (tx, ev) = drain(&mut r);
    assert_eq!(
        tx.iter().map(|t| t.priority).collect::<std::vec::Vec<_>>(),
        [0, 0]
    );
    let removals = ev
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Instance {
                    event: Event::RemoveVips,
                    ..
                }
            )
        })
        .count();
    assert_eq!(removals, 2);
    assert_eq!(states(&r), [State::Initialize; 2]);
}

#[test]
fn a_newer_advert_replaces_one_not_yet_sent() {
    let mut r = router(&[cfg(51, 255)]);
    r.start_all(ms(0));
    r.stop(0, ms(1));
    let (tx, _) = drain(&mut r);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].priority, 0, "the resignation is what peers hear");
}

#[test]
fn take_all_and_add_keep_running_instances_as_they_were() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    run_until(&mut r, ms(4000));
    let kept: std::vec::Vec<Instance> = r.take_all().collect();
    assert!(r.is_empty());
    for i in kept {
        r.add(i, 0, mcast()).unwrap();
    }
    r.start_all(ms(4001));
    let (tx, ev) = drain(&mut r);
    assert!(tx.is_empty() && ev.is_empty(), "nothing restarts");
    assert_eq!(states(&r), [State::Master; 2]);
}

#[test]
fn replace_resigns_the_old_configuration_and_starts_the_new_one_on_request() {
    let mut r = router(&[cfg(51, 255)]);
    r.start_all(ms(0));
    drain(&mut r);
    let old = r
        .replace(0, ms(5), instance(cfg(60, 100)), mcast())
        .unwrap();
    assert_eq!(old.config().vrid, 51);
    let (tx, _) = drain(&mut r);
    assert_eq!(tx[0].priority, 0);
    assert_eq!(r.find(0, Family::V4, 51), None);
    assert_eq!(r.find(0, Family::V4, 60), Some(0));
    r.start(0, ms(6));
    assert_eq!(states(&r), [State::Backup]);
}

// --- sync groups (keepalived vrrp_sync.c) ---

fn group_events(ev: &[Output]) -> std::vec::Vec<State> {
    ev.iter()
        .filter_map(|o| match o {
            Output::Group { state, .. } => Some(*state),
            _ => None,
        })
        .collect()
}

#[test]
fn keepalived_sync_group_goes_master_only_when_every_member_wants_it() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    assert_eq!(r.add_group(&[0, 1]), Ok(0));
    r.start_all(ms(0));
    let (_, ev) = drain(&mut r);
    assert_eq!(group_events(&ev), [State::Backup]);
    let at = r.instance(0).unwrap().poll_at().unwrap();
    // The second member keeps hearing its master: nobody moves, and no flapping.
    hear(
        &mut r,
        at - Duration::from_millis(10),
        PEER,
        cfg(52, 200),
        200,
    )
    .unwrap();
    r.on_timeout(at);
    drain(&mut r);
    assert!(r.instance(0).unwrap().wants_master());
    assert_eq!(states(&r), [State::Backup; 2]);
    // Once the second member's timer expires too, both go master together.
    let at2 = r.instance(1).unwrap().poll_at().unwrap();
    r.on_timeout(at2);
    let (tx, ev) = drain(&mut r);
    assert_eq!(states(&r), [State::Master; 2]);
    assert_eq!(tx.len(), 2);
    // keepalived's vrrp_sync_master: the member that completed the group goes first
    // (its notifications come first), then the others.
    let masters: std::vec::Vec<usize> = ev
        .iter()
        .filter_map(|e| match e {
            Output::Instance {
                instance,
                event:
                    Event::StateChanged {
                        to: State::Master, ..
                    },
            } => Some(*instance),
            _ => None,
        })
        .collect();
    assert_eq!(masters, [1, 0]);
    assert_eq!(group_events(&ev), [State::Master]);
    assert_eq!(r.group_state(0), Some(State::Master));
}

#[test]
fn keepalived_sync_group_member_yielding_pushes_the_others_to_backup() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.start_all(ms(0));
    drain(&mut r);
    run_until(&mut r, ms(4000));
    assert_eq!(r.group_state(0), Some(State::Master));
    hear(&mut r, ms(5000), PEER, cfg(51, 200), 200).unwrap();
    let (_, ev) = drain(&mut r);
    assert_eq!(states(&r), [State::Backup; 2]);
    assert_eq!(group_events(&ev), [State::Backup]);
}

#[test]
fn keepalived_sync_group_fault_holds_every_member_until_all_recover() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.start_all(ms(0));
    drain(&mut r);
    r.set_tracking(0, ms(100), FAILED);
    assert_eq!(states(&r), [State::Fault; 2]);
    r.set_tracking(1, ms(200), FAILED);
    r.set_tracking(0, ms(300), TrackStatus::HEALTHY);
    assert_eq!(states(&r), [State::Fault; 2]);
    drain(&mut r);
    r.set_tracking(1, ms(400), TrackStatus::HEALTHY);
    assert_eq!(states(&r), [State::Backup; 2]);
    let (_, ev) = drain(&mut r);
    assert_eq!(group_events(&ev), [State::Backup]);
    r.set_tracking(1, ms(400), TrackStatus::HEALTHY);
    assert!(!r.has_output(), "settling is idempotent");
}

#[test]
fn a_group_member_belongs_to_one_group() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0]).unwrap();
    assert_eq!(
        r.add_group(&[1, 0]),
        Err(SetupError::Member { instance: 0 })
    );
    assert_eq!(
        r.add_group(&[1, 1]),
        Err(SetupError::Member { instance: 1 })
    );
    assert_eq!(r.add_group(&[9]), Err(SetupError::Member { instance: 9 }));
    assert_eq!(r.group_of(0), Some(0));
    assert_eq!(r.group_of(1), None);
}

#[test]
fn stop_all_reports_every_group_stopping() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.start_all(ms(0));
    drain(&mut r);
    r.stop_all(ms(1));
    let (_, ev) = drain(&mut r);
    assert_eq!(group_events(&ev), [State::Initialize]);
}

#[test]
fn an_overflowing_socket_can_defer_a_due_master_down_timer_once_asked() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    let at = r.poll_at().unwrap();
    assert!(r.backup_due(at));
    assert_eq!(r.due(at).collect::<std::vec::Vec<_>>(), [0]);
    assert!(r.defer_master_down(0, at, Duration::from_secs(1)));
    r.on_timeout(at);
    assert_eq!(states(&r), [State::Backup]);
    assert!(!r.backup_due(at));
}

#[test]
fn an_owner_yielding_to_another_owner_reports_the_priority_it_yielded_at() {
    let mut r = router(&[cfg(51, 255)]);
    r.start_all(ms(0));
    drain(&mut r);
    hear(&mut r, ms(10), PEER, cfg(51, 255), 255).unwrap();
    let (_, ev) = drain(&mut r);
    let cause = ev.iter().find_map(|o| match o {
        Output::Instance {
            event: Event::StateChanged { cause, .. },
            ..
        } => Some(*cause),
        _ => None,
    });
    assert_eq!(
        cause,
        Some(Cause::Advert {
            from: PEER,
            priority: 255,
            ours: 254
        })
    );
    assert!(!cause.unwrap().won_on_address());
    assert_eq!(r.events_lost(), 0);
}

/// The VRID chains demultiplex by channel and family too, and follow a replace that
/// changes the VRID (also from the middle of a chain).
#[test]
fn demultiplexing_follows_channels_families_and_replaced_vrids() {
    let v6 = |vrid| {
        let me6 = IpAddr::V6(core::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        let vip6 = IpAddr::V6(core::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let c = Config::new(vrid, Version::V3, 100, me6);
        Instance::new(c, Vips::from_iter(Family::V6, [vip6]).unwrap()).unwrap()
    };
    let mut r = Router::<8>::new();
    for channel in 0..4 {
        assert_eq!(
            r.add(instance(cfg(51, 100)), channel, mcast()),
            Ok(channel as usize)
        );
    }
    assert_eq!(r.add(v6(51), 2, mcast()), Ok(4));
    assert_eq!(r.add(instance(cfg(52, 100)), 2, mcast()), Ok(5));
    for channel in 0..4 {
        assert_eq!(r.find(channel, Family::V4, 51), Some(channel as usize));
    }
    assert_eq!(r.find(2, Family::V6, 51), Some(4));
    assert_eq!(r.find(3, Family::V6, 51), None);
    assert_eq!(r.find(2, Family::V4, 52), Some(5));
    assert_eq!(r.find(4, Family::V4, 51), None);
    // Channel 1's 51 (mid-chain) becomes 53; channel 3's (the chain's head) 54.
    r.replace(1, ms(0), instance(cfg(53, 100)), mcast())
        .unwrap();
    r.replace(3, ms(0), instance(cfg(54, 100)), mcast())
        .unwrap();
    assert_eq!(r.find(1, Family::V4, 51), None);
    assert_eq!(r.find(1, Family::V4, 53), Some(1));
    assert_eq!(r.find(3, Family::V4, 51), None);
    assert_eq!(r.find(3, Family::V4, 54), Some(3));
    for (channel, index) in [(0, 0), (2, 2)] {
        assert_eq!(r.find(channel, Family::V4, 51), Some(index));
    }
    assert_eq!(r.find(2, Family::V6, 51), Some(4));
    // The freed key can be taken again, the new one cannot.
    assert_eq!(
        r.replace(0, ms(0), instance(cfg(53, 100)), mcast())
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        r.replace(2, ms(0), instance(cfg(52, 100)), mcast())
            .map(|_| ()),
        Err(SetupError::DuplicateVrid { vrid: 52 })
    );
    assert_eq!(r.add(instance(cfg(51, 100)), 1, mcast()), Ok(6));
    assert_eq!(r.find(1, Family::V4, 51), Some(6));
    // Emptied and refilled: nothing left of the old chains.
    assert_eq!(r.take_all().count(), 7);
    assert_eq!(r.find(2, Family::V4, 51), None);
    assert_eq!(r.add(instance(cfg(51, 100)), 2, mcast()), Ok(0));
    assert_eq!(r.find(2, Family::V4, 51), Some(0));
}

const VIP2: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 101));
const HEALTHY: TrackStatus = TrackStatus {
    faults: 0,
    adjust: 0,
    pending: 0,
};

fn vips(addrs: &[IpAddr]) -> Vips {
    Vips::from_iter(Family::V4, addrs.iter().copied()).unwrap()
}

/// One instance that has become master by its master-down timer, outputs drained.
fn master(config: Config) -> R {
    let mut r = router(&[config]);
    r.start_all(ms(0));
    drain(&mut r);
    run_until(&mut r, ms(5_000));
    assert_eq!(states(&r), [State::Master]);
    r
}

fn events(out: &[Output]) -> std::vec::Vec<Event> {
    out.iter()
        .filter_map(|o| match o {
            Output::Instance { event, .. } => Some(*event),
            Output::Group { .. } => None,
        })
        .collect()
}

#[test]
fn reload_adding_a_vip_keeps_the_master_and_announces_at_once() {
    let mut r = master(cfg(51, 100));
    r.reconfigure(
        0,
        ms(6_000),
        cfg(51, 100),
        vips(&[VIP, VIP2]),
        mcast(),
        HEALTHY,
    )
    .unwrap();
    assert_eq!(states(&r), [State::Master]);
    assert_eq!(r.instance(0).unwrap().vips(), &vips(&[VIP, VIP2]));
    let (_, out) = drain(&mut r);
    let ev = events(&out);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::StateChanged { .. })),
        "{ev:?}"
    );
    assert!(ev.contains(&Event::AddVips), "{ev:?}");
    assert!(
        ev.iter().any(|e| matches!(e, Event::Announce { .. })),
        "{ev:?}"
    );
    // keepalived's reload_master: the advert goes out at once, carrying both VIPs.
    assert_eq!(r.poll_at(), Some(ms(6_000)));
    r.on_timeout(ms(6_000));
    let (tx, _) = drain(&mut r);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].priority, 100);
}

#[test]
fn reload_removing_a_vip_neither_adds_nor_announces() {
    let mut r = R::new();
    r.add(
        Instance::new(cfg(51, 100), vips(&[VIP, VIP2])).unwrap(),
        0,
        mcast(),
    )
    .unwrap();
    r.start_all(ms(0));
    run_until(&mut r, ms(5_000));
    assert_eq!(states(&r), [State::Master]);
    r.reconfigure(0, ms(6_000), cfg(51, 100), vips(&[VIP]), mcast(), HEALTHY)
        .unwrap();
    let (_, out) = drain(&mut r);
    assert_eq!(events(&out), []);
    assert_eq!(states(&r), [State::Master]);
}

#[test]
fn reload_lowering_the_masters_priority_advertises_it_without_a_transition() {
    let mut r = master(cfg(51, 150));
    r.reconfigure(0, ms(6_000), cfg(51, 90), vips(&[VIP]), mcast(), HEALTHY)
        .unwrap();
    let (_, out) = drain(&mut r);
    assert_eq!(events(&out), []);
    assert_eq!(r.instance(0).unwrap().effective_priority(), 90);
    r.on_timeout(ms(6_000));
    let (tx, _) = drain(&mut r);
    assert_eq!(tx[0].priority, 90);
    assert_eq!(states(&r), [State::Master]);
}

/// keepalived keeps a backup whose priority a reload raised above the master's in
/// BACKUP; the master's next (lower-priority) advert makes it preempt, as any would.
#[test]
fn reload_raising_a_backups_priority_preempts_on_the_next_advert() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    hear(&mut r, ms(500), PEER, cfg(51, 150), 150).unwrap();
    drain(&mut r);
    r.reconfigure(0, ms(1_000), cfg(51, 200), vips(&[VIP]), mcast(), HEALTHY)
        .unwrap();
    let (_, out) = drain(&mut r);
    assert_eq!(events(&out), []);
    assert_eq!(r.instance(0).unwrap().effective_priority(), 200);
    assert_eq!(states(&r), [State::Backup]);
    // The master-down timer restarts from the reload with the new priority's skew.
    let down = r.instance(0).unwrap().master_down_interval();
    assert_eq!(r.poll_at(), Some(ms(1_000) + down));
    // The lower-priority advert no longer resets the timer: it runs out, and the
    // backup takes over.
    let _ = hear(&mut r, ms(1_500), PEER, cfg(51, 150), 150);
    assert_eq!(r.poll_at(), Some(ms(1_000) + down));
    run_until(&mut r, ms(1_000) + down);
    assert_eq!(states(&r), [State::Master]);
}

#[test]
fn reload_with_nopreempt_keeps_the_backup_despite_a_higher_priority() {
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    hear(&mut r, ms(500), PEER, cfg(51, 150), 150).unwrap();
    let c = Config {
        preempt: false,
        ..cfg(51, 200)
    };
    r.reconfigure(0, ms(1_000), c, vips(&[VIP]), mcast(), HEALTHY)
        .unwrap();
    let _ = hear(&mut r, ms(1_500), PEER, cfg(51, 150), 150);
    assert_eq!(
        r.poll_at(),
        Some(ms(1_500) + r.instance(0).unwrap().master_down_interval())
    );
    assert_eq!(states(&r), [State::Backup]);
}

#[test]
fn reload_changing_the_vrid_or_family_is_refused_and_changes_nothing() {
    let mut r = master(cfg(51, 100));
    assert_eq!(
        r.reconfigure(0, ms(6_000), cfg(52, 100), vips(&[VIP]), mcast(), HEALTHY),
        Err(ReconfigureError::NewInstance)
    );
    let v6 = Config::new(
        51,
        Version::V3,
        100,
        IpAddr::V6(core::net::Ipv6Addr::LOCALHOST),
    );
    assert_eq!(
        r.reconfigure(0, ms(6_000), v6, Vips::new(Family::V6), mcast(), HEALTHY),
        Err(ReconfigureError::NewInstance)
    );
    assert_eq!(
        r.reconfigure(9, ms(6_000), cfg(51, 100), vips(&[VIP]), mcast(), HEALTHY),
        Err(ReconfigureError::Setup(SetupError::Member { instance: 9 }))
    );
    assert_eq!(r.instance(0).unwrap().config().vrid, 51);
    assert_eq!(states(&r), [State::Master]);
    assert_eq!(drain(&mut r).1, []);
}

#[test]
fn reload_with_a_failed_new_tracker_enters_fault() {
    let mut r = master(cfg(51, 100));
    r.reconfigure(0, ms(6_000), cfg(51, 100), vips(&[VIP]), mcast(), FAILED)
        .unwrap();
    assert_eq!(states(&r), [State::Fault]);
    let (tx, out) = drain(&mut r);
    assert_eq!(tx[0].priority, 0);
    assert!(events(&out).contains(&Event::RemoveVips));
}

// --- a master's installed route deleted behind its back (keepalived set_vrrp_backup) ---

#[test]
fn keepalived_steps_down_without_resigning_and_takes_over_after_the_skew_time() {
    let mut r = router(&[cfg(51, 150)]);
    r.start_all(ms(0));
    run_until(&mut r, ms(4000));
    assert_eq!(states(&r), [State::Master]);
    drain(&mut r);
    r.step_down(0, ms(5000));
    let (tx, ev) = drain(&mut r);
    assert!(tx.is_empty(), "no priority-0 advert: {tx:?}");
    assert!(ev.iter().any(|e| matches!(
        e,
        Output::Instance {
            event: Event::RemoveVips,
            ..
        }
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Output::Instance {
            event: Event::StateChanged {
                to: State::Backup,
                reason: Reason::Withdrawn,
                ..
            },
            ..
        }
    )));
    // keepalived: ms_down_timer = VRRP_TIMER_SKEW, so back to MASTER after the skew
    // time (v3, 1 s, priority 150: (256 - 150) / 256 s, 414 ms) unless a master speaks.
    let skew = r.instance(0).unwrap().skew();
    assert_eq!(skew, Duration::from_micros(414_062));
    assert_eq!(r.poll_at(), Some(ms(5000) + skew));
    run_until(&mut r, ms(5000) + skew);
    assert_eq!(states(&r), [State::Master]);
    // A backup does not move.
    let mut b = router(&[cfg(51, 100)]);
    b.start_all(ms(0));
    drain(&mut b);
    let at = b.poll_at();
    b.step_down(0, ms(10));
    assert!(drain(&mut b).1.is_empty());
    assert_eq!(b.poll_at(), at);
}

#[test]
fn keepalived_steps_down_the_whole_sync_group() {
    let mut r = router(&[cfg(51, 150), cfg(52, 150)]);
    r.add_group(&[0, 1]).unwrap();
    r.start_all(ms(0));
    run_until(&mut r, ms(4000));
    assert_eq!(r.group_state(0), Some(State::Master));
    drain(&mut r);
    r.step_down(1, ms(5000));
    let (tx, ev) = drain(&mut r);
    assert!(tx.is_empty());
    assert_eq!(states(&r), [State::Backup; 2]);
    assert_eq!(group_events(&ev), [State::Backup]);
    // Both back after their skew time, together.
    let skew = r.instance(0).unwrap().skew();
    assert_eq!(r.poll_at(), Some(ms(5000) + skew));
    run_until(&mut r, ms(5000) + skew);
    assert_eq!(states(&r), [State::Master; 2]);
    assert_eq!(r.group_state(0), Some(State::Master));
}

// --- start-up with scripts that have not reported (keepalived's num_script_init) ---

const PENDING: TrackStatus = TrackStatus {
    faults: 1,
    adjust: 0,
    pending: 1,
};

fn transitions(out: &[Output]) -> std::vec::Vec<(usize, State, Reason)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Instance {
                instance,
                event: Event::StateChanged { to, reason, .. },
            } => Some((*instance, *to, *reason)),
            _ => None,
        })
        .collect()
}

#[test]
fn keepalived_waits_silently_for_a_scripts_first_result() {
    let mut r = router(&[cfg(51, 100)]);
    r.set_tracking(0, ms(0), PENDING);
    r.start_all(ms(0));
    let (_, ev) = drain(&mut r);
    // FAULT, but as Waiting: the host runs no notify (vrrp_init_state).
    assert_eq!(transitions(&ev), [(0, State::Fault, Reason::Waiting)]);
    assert!(r.instance(0).unwrap().is_silent());
    assert_eq!(r.poll_at(), None);
    // The first result: BACKUP, and the master-down timer runs from it.
    r.set_tracking(0, ms(40), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert_eq!(transitions(&ev), [(0, State::Backup, Reason::Startup)]);
    let down = r.instance(0).unwrap().master_down_interval();
    assert_eq!(r.poll_at(), Some(ms(40) + down));
}

#[test]
fn keepalived_notifies_fault_when_a_first_result_fails() {
    let mut r = router(&[cfg(51, 100)]);
    r.set_tracking(0, ms(0), PENDING);
    r.start_all(ms(0));
    drain(&mut r);
    r.set_tracking(0, ms(40), FAILED);
    let (_, ev) = drain(&mut r);
    // down_instance: FAULT is reported now (from FAULT).
    assert_eq!(transitions(&ev), [(0, State::Fault, Reason::Fault)]);
    r.set_tracking(0, ms(2_000), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert_eq!(transitions(&ev), [(0, State::Backup, Reason::Recovered)]);
}

#[test]
fn a_running_instance_does_not_wait_for_a_new_tracker() {
    // keepalived's INIT_RELOAD: only start-up waits; a running instance that gets a
    // tracker with no result yet (a reload) treats it as a fault, as before.
    let mut r = router(&[cfg(51, 100)]);
    r.start_all(ms(0));
    drain(&mut r);
    r.set_tracking(0, ms(100), PENDING);
    let (_, ev) = drain(&mut r);
    assert_eq!(transitions(&ev), [(0, State::Fault, Reason::Fault)]);
}

#[test]
fn keepalived_sync_group_waits_silently_for_every_members_first_result() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.set_tracking(0, ms(0), PENDING);
    r.start_all(ms(0));
    let (_, ev) = drain(&mut r);
    // Both members silent, the group in INIT (num_member_init): nothing to report.
    assert_eq!(
        transitions(&ev),
        [
            (0, State::Fault, Reason::Waiting),
            (1, State::Fault, Reason::Waiting)
        ]
    );
    assert!(group_events(&ev).is_empty());
    r.set_tracking(0, ms(30), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert_eq!(
        transitions(&ev),
        [
            (0, State::Backup, Reason::Startup),
            (1, State::Backup, Reason::Startup)
        ]
    );
    assert_eq!(group_events(&ev), [State::Backup]);
    // Both timers run from the first result: the group goes MASTER one master-down
    // interval after it.
    let down = r.instance(0).unwrap().master_down_interval();
    run_until(&mut r, ms(30) + down);
    assert_eq!(states(&r), [State::Master; 2]);
}

#[test]
fn keepalived_sync_group_first_result_failing_notifies_the_member_and_the_group() {
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.set_tracking(0, ms(0), PENDING);
    r.start_all(ms(0));
    drain(&mut r);
    r.set_tracking(0, ms(30), FAILED);
    let (_, ev) = drain(&mut r);
    // vrrp_sync_fault skips members already in FAULT: the other stays silent.
    assert_eq!(transitions(&ev), [(0, State::Fault, Reason::Fault)]);
    assert_eq!(group_events(&ev), [State::Fault]);
    r.set_tracking(0, ms(3_000), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert_eq!(states(&r), [State::Backup; 2]);
    assert_eq!(group_events(&ev), [State::Backup]);
}

#[test]
fn keepalived_keeps_a_recovered_member_in_fault_silently_until_its_group_recovers() {
    // A group tracking an interface that is also a member's own: both fail together,
    // and the one that recovers first must not go BACKUP and back to FAULT.
    let mut r = router(&[cfg(51, 100), cfg(52, 100)]);
    r.add_group(&[0, 1]).unwrap();
    r.start_all(ms(0));
    drain(&mut r);
    r.set_tracking(0, ms(100), FAILED);
    r.set_tracking(1, ms(100), FAILED);
    drain(&mut r);
    r.set_tracking(0, ms(200), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert!(
        ev.is_empty(),
        "no transition while the group is in FAULT: {ev:?}"
    );
    assert_eq!(states(&r), [State::Fault; 2]);
    r.set_tracking(1, ms(210), TrackStatus::HEALTHY);
    let (_, ev) = drain(&mut r);
    assert_eq!(
        transitions(&ev),
        [
            (1, State::Backup, Reason::Recovered),
            (0, State::Backup, Reason::Recovered)
        ]
    );
    assert_eq!(group_events(&ev), [State::Backup]);
}
