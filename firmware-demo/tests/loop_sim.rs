//! The protocol loop on in-memory devices, with virtual time: several `Vrrp` nodes on
//! one simulated Ethernet segment (every frame reaches every other node, as on a hub,
//! and a sniffer), stepped 1 ms at a time. No root, no sockets: this checks the loop's
//! own behaviour (what goes on the wire, when, and what smoltcp answers for a VIP);
//! `interop.rs` checks it against vigild and keepalived. The segment is in `common/sim.rs`.

mod common;

use common::sim::*;
use std::net::{IpAddr, Ipv4Addr};

use vigil_core::machine::{Config, State};
use vigil_core::router;
use vigil_core::timer::Interval;
use vigil_core::wire::{Auth, Version};
use vigil_core::{Duration, Instant};
use vigil_firmware_demo::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetFrame, Ipv4Cidr,
};
use vigil_firmware_demo::{NetConfig, RxDrop, SetupError, Storage, Vrrp};

#[test]
fn highest_priority_becomes_master_on_time_and_advertises_correctly() {
    let mut lan = Lan::new(vec![
        member(1, Version::V2, 200, &[]),
        member(2, Version::V2, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(8_000_000));
    // RFC 3768: master-down interval 3 s + (256 - 200) / 256 s = 3.21875 s.
    let became = lan.nodes[0].log.entered(0, State::Master);
    assert_eq!(became.len(), 1);
    assert!(
        became[0] >= at(3_218_750) && became[0] <= at(3_220_000),
        "{:?}",
        became[0]
    );
    assert_eq!(lan.state(0), State::Master);
    assert_eq!(lan.state(1), State::Backup);
    assert!(lan.has_vip(0, VIP) && !lan.has_vip(1, VIP));
    assert_eq!(
        lan.nodes[1].vrrp.instance(0).unwrap().master(),
        Some(IpAddr::V4(ip(1)))
    );

    // Adverts: to the group, TTL 255, TOS 0xc0, priority 200, once a second.
    let ads = lan.adverts(at(0));
    assert!(
        ads.iter().all(|(_, i, _)| *i == 0),
        "only the master advertises"
    );
    assert_eq!(ads.len(), 5, "{ads:?}"); // 3.219, 4.219, ..., 7.219 s
    for (k, (t, _, a)) in ads.iter().enumerate() {
        assert_eq!(
            *a,
            Advert {
                dst_mac: GROUP_MAC,
                src: ip(1),
                dst: Ipv4Addr::new(224, 0, 0, 18),
                ttl: 255,
                tos: 0xc0,
                vrid: 51,
                priority: 200,
            }
        );
        assert_eq!(t.as_millis(), became[0].as_millis() + 1000 * k as u64);
    }

    // Five gratuitous ARPs for the VIP at takeover, after the first advert, and five
    // more garp_master_delay (5 s) later (keepalived's defaults).
    let g = garps(&lan.seen);
    assert_eq!(g.len(), 5, "{g:?}");
    assert!(
        g.iter()
            .all(|(t, i, a, m)| *t == became[0] && *i == 0 && *a == VIP && *m == mac(1))
    );
    let first_advert = lan
        .seen
        .iter()
        .position(|(_, _, f)| advert(f).is_some())
        .unwrap();
    let first_garp = lan
        .seen
        .iter()
        .position(|(_, _, f)| !garps(&[(at(0), 0, f.clone())]).is_empty())
        .unwrap();
    assert!(
        first_advert < first_garp,
        "the advert goes before the GARPs"
    );
    lan.run_until(at(8_300_000));
    assert_eq!(garps(&lan.seen).len(), 10);

    // Nothing was dropped but own... nothing: smoltcp does not loop frames back.
    assert!(lan.nodes[0].log.failures.is_empty());
    assert!(
        lan.nodes[1].log.drops.is_empty(),
        "{:?}",
        lan.nodes[1].log.drops
    );
}

#[test]
fn master_answers_arp_and_echo_for_the_vip_and_backup_does_not() {
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 200, &[]),
        member(2, Version::V3, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(4_000_000));
    assert_eq!(lan.state(0), State::Master);

    let (client_mac, client_ip) = (CLIENT_MAC, CLIENT_IP);
    // ARP: who has the VIP?
    let since = lan.seen.len();
    lan.inject.push(client_arp_request(VIP));
    lan.run_for(ms(2));
    let replies: Vec<_> = lan.seen[since..]
        .iter()
        .filter_map(|(_, i, f)| {
            let eth = EthernetFrame::new_checked(&f[..]).ok()?;
            let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
            matches!(arp, ArpRepr::EthernetIpv4 { operation: ArpOperation::Reply, source_protocol_addr, .. } if source_protocol_addr == VIP)
                .then_some((*i, eth.src_addr(), eth.dst_addr()))
        })
        .collect();
    assert_eq!(
        replies,
        [(0, mac(1), client_mac)],
        "only the master answers"
    );

    // ICMP echo to the VIP.
    let since = lan.seen.len();
    lan.inject.push(client_echo_request(mac(1), VIP));
    lan.run_for(ms(2));
    let echo = echo_replies(&lan.seen[since..]).first().copied();
    assert_eq!(echo, Some((0, VIP, client_ip)));
}

/// The first ping after a takeover is answered. The new master's smoltcp never learned
/// the client (the client asked for the VIP while another node held it, and smoltcp
/// learns only from ARP aimed at its own addresses), and adding the VIP flushes
/// smoltcp's neighbour cache anyway; the client, told by the gratuitous ARPs, sends its
/// echo straight to the new master. Before the loop kept and restored the neighbours,
/// smoltcp answered the echo with an ARP request for the client and dropped the reply.
#[test]
fn first_echo_after_a_takeover_is_answered_without_an_arp_round() {
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 200, &[]),
        member(2, Version::V3, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(4_000_000));
    assert_eq!(lan.state(0), State::Master);
    // The client resolves the VIP at the master (the backup sees the broadcast).
    lan.inject.push(client_arp_request(VIP));
    lan.run_for(ms(2));
    lan.inject.push(client_echo_request(mac(1), VIP));
    lan.run_for(ms(2));
    assert_eq!(echo_replies(&lan.seen).len(), 1);

    lan.nodes[0].alive = false; // power off
    lan.run_for(ms(4000));
    assert_eq!(lan.state(1), State::Master);
    assert!(lan.has_vip(1, VIP));
    let since = lan.seen.len();
    lan.inject.push(client_echo_request(mac(2), VIP));
    lan.run_for(ms(2));
    let seen = &lan.seen[since..];
    assert_eq!(echo_replies(seen), [(1, VIP, CLIENT_IP)]);
    let asked_for_client = seen.iter().any(|(_, _, f)| {
        let Ok(eth) = EthernetFrame::new_checked(&f[..]) else {
            return false;
        };
        let arp = ArpPacket::new_checked(eth.payload()).and_then(|a| ArpRepr::parse(&a));
        matches!(arp, Ok(ArpRepr::EthernetIpv4 { operation: ArpOperation::Request, target_protocol_addr, .. }) if target_protocol_addr == CLIENT_IP)
    });
    assert!(
        !asked_for_client,
        "the new master asked for the client's MAC"
    );
}

#[test]
fn clean_shutdown_resigns_and_backup_takes_over_after_its_skew() {
    let mut lan = Lan::new(vec![
        member(1, Version::V2, 200, &[]),
        member(2, Version::V2, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(5_000_000));
    assert_eq!(lan.state(0), State::Master);
    let stop = lan.now;
    {
        let n = &mut lan.nodes[0];
        n.log.now = stop;
        n.vrrp.shutdown(stop, &mut n.dev, &mut n.log);
        n.alive = false;
    }
    assert_eq!(lan.state(0), State::Initialize);
    assert!(!lan.has_vip(0, VIP));
    // The priority-0 advert left with the shutdown call.
    let zero: Vec<_> = lan.nodes[0]
        .dev
        .outbox
        .iter()
        .filter_map(|f| advert(f))
        .collect();
    assert_eq!(zero.len(), 1);
    assert_eq!((zero[0].priority, zero[0].ttl, zero[0].tos), (0, 255, 0xc0));
    // Deliver it (the node is off, its outbox still goes out once).
    let frames: Vec<_> = lan.nodes[0].dev.outbox.drain(..).collect();
    lan.inject.extend(frames);
    lan.run_for(ms(1500));
    // Skew time of priority 100 (v2): (256 - 100) / 256 s = 609.375 ms.
    let became = lan.nodes[1].log.entered(0, State::Master);
    assert_eq!(became.len(), 1);
    let after = became[0] - stop;
    assert!(
        after >= Duration::from_micros(609_375) && after <= ms(611),
        "{after:?}"
    );
    assert!(lan.has_vip(1, VIP));
}

#[test]
fn backup_takes_over_within_master_down_interval_when_master_dies() {
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 200, &[]),
        member(2, Version::V3, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(5_000_000));
    assert_eq!(lan.state(0), State::Master);
    let last = lan.adverts(at(0)).last().unwrap().0;
    lan.nodes[0].alive = false; // power off: no resignation
    lan.run_for(ms(5000));
    let became = lan.nodes[1].log.entered(0, State::Master);
    assert_eq!(became.len(), 1);
    // v3 at 1 s: 3 s + (256 - 100) * 1 s / 256 = 3.609375 s after the last advert.
    let after = became[0] - last;
    assert!(
        after >= Duration::from_micros(3_609_375) && after <= ms(3_611),
        "{after:?}"
    );
}

#[test]
fn master_yields_when_a_higher_priority_starts() {
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 100, &[]),
        member(2, Version::V3, 200, &[]),
    ]);
    lan.start(0);
    lan.run_until(at(5_000_000));
    assert_eq!(lan.state(0), State::Master);
    lan.start(1);
    lan.run_for(ms(5000));
    assert_eq!(lan.state(1), State::Master);
    assert_eq!(lan.state(0), State::Backup);
    assert!(!lan.has_vip(0, VIP) && lan.has_vip(1, VIP));
    // The old master's gratuitous ARPs stopped with its mastership; the new one's ran.
    let g = garps(&lan.seen);
    assert!(g.iter().any(|(_, i, _, m)| *i == 1 && *m == mac(2)));
}

#[test]
fn unicast_peers_get_adverts_addressed_to_them() {
    let mut lan = Lan::new(vec![
        member(1, Version::V2, 200, &[ip(2)]),
        member(2, Version::V2, 100, &[ip(1)]),
    ]);
    lan.start_all();
    lan.run_until(at(6_000_000));
    assert_eq!(lan.state(0), State::Master);
    assert_eq!(lan.state(1), State::Backup);
    let ads = lan.adverts(at(0));
    assert!(!ads.is_empty());
    for (_, i, a) in &ads {
        assert_eq!(*i, 0);
        assert_eq!((a.dst, a.dst_mac, a.ttl), (ip(2), mac(2), 255));
    }
    assert_eq!(
        lan.nodes[1].vrrp.instance(0).unwrap().master(),
        Some(IpAddr::V4(ip(1)))
    );
}

#[test]
fn unicast_master_reaches_every_peer_at_once_and_resigns_to_all() {
    // Three members, each listing the other two. smoltcp alone would resolve the second
    // peer a second late (one ARP request per second for its whole neighbour cache,
    // flushed when the VIP is added); the loop resolves peers itself.
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 200, &[ip(2), ip(3)]),
        member(2, Version::V3, 100, &[ip(1), ip(3)]),
        member(3, Version::V3, 50, &[ip(1), ip(2)]),
    ]);
    lan.start_all();
    lan.run_until(at(6_000_000));
    assert_eq!(
        [lan.state(0), lan.state(1), lan.state(2)],
        [State::Master, State::Backup, State::Backup]
    );
    let became = lan.nodes[0].log.entered(0, State::Master)[0];
    for peer in [2, 3] {
        let first = lan
            .adverts(at(0))
            .into_iter()
            .find(|(_, i, a)| *i == 0 && a.dst == ip(peer))
            .unwrap_or_else(|| panic!("no advert to peer {peer}"));
        assert_eq!(first.2.dst_mac, mac(peer));
        assert!(
            first.0 - became <= ms(2),
            "first advert to peer {peer} {:?} after the takeover",
            first.0 - became
        );
    }
    assert!(lan.nodes[1].log.entered(0, State::Master).is_empty());
    assert!(lan.nodes[2].log.entered(0, State::Master).is_empty());

    // Shutdown: the priority-0 adverts to both peers leave within the call.
    let stop = lan.now;
    let n = &mut lan.nodes[0];
    n.log.now = stop;
    n.vrrp.shutdown(stop, &mut n.dev, &mut n.log);
    let mut zero: Vec<_> = n
        .dev
        .outbox
        .iter()
        .filter_map(|f| advert(f))
        .filter(|a| a.priority == 0)
        .map(|a| (a.dst, a.dst_mac, a.ttl, a.tos))
        .collect();
    zero.sort_by_key(|z| z.0);
    assert_eq!(
        zero,
        [(ip(2), mac(2), 255, 0xc0), (ip(3), mac(3), 255, 0xc0)]
    );
}

#[test]
fn a_tracker_fault_moves_the_master_to_fault_and_the_backup_takes_over() {
    use vigil_core::priority::TrackStatus;
    let mut lan = Lan::new(vec![
        member(1, Version::V3, 200, &[]),
        member(2, Version::V3, 100, &[]),
    ]);
    lan.start_all();
    lan.run_until(at(5_000_000));
    assert_eq!(lan.state(0), State::Master);
    let now = lan.now;
    let fault = TrackStatus {
        faults: 1,
        adjust: 0,
        pending: 0,
    };
    let n = &mut lan.nodes[0];
    n.log.now = now;
    n.vrrp
        .set_tracking(0, now, &mut n.dev, &mut n.log, fault)
        .unwrap();
    assert_eq!(lan.state(0), State::Fault);
    assert!(!lan.has_vip(0, VIP));
    lan.run_for(ms(5000));
    assert_eq!(lan.state(1), State::Master);
    assert!(lan.has_vip(1, VIP));
    let n = &mut lan.nodes[0];
    assert!(
        n.vrrp
            .set_tracking(9, now, &mut n.dev, &mut n.log, fault)
            .is_none()
    );
}

#[test]
fn two_instances_on_one_loop() {
    let mut a = node(1);
    let mut b = node(2);
    for (nd, n, p1, p2) in [(&mut a, 1, 200, 100), (&mut b, 2, 100, 200)] {
        assert_eq!(
            nd.vrrp.add_instance(
                config(1, Version::V3, p1, n),
                &[Ipv4Cidr::new(VIP, 24)],
                &[]
            ),
            Ok(0)
        );
        assert_eq!(
            nd.vrrp.add_instance(
                config(2, Version::V3, p2, n),
                &[Ipv4Cidr::new(VIP2, 32)],
                &[]
            ),
            Ok(1)
        );
    }
    let mut lan = Lan::new(vec![a, b]);
    lan.start_all();
    lan.run_until(at(6_000_000));
    let states =
        |i: usize| -> Vec<State> { lan.nodes[i].vrrp.instances().map(|x| x.state()).collect() };
    assert_eq!(states(0), [State::Master, State::Backup]);
    assert_eq!(states(1), [State::Backup, State::Master]);
    assert!(lan.has_vip(0, VIP) && !lan.has_vip(0, VIP2));
    assert!(lan.has_vip(1, VIP2) && !lan.has_vip(1, VIP));
}

#[test]
fn setup_errors_are_reported_before_anything_runs() {
    let mut n = node(1);
    let vip = [Ipv4Cidr::new(VIP, 24)];
    // Not the interface's address.
    assert_eq!(
        n.vrrp
            .add_instance(config(1, Version::V3, 100, 9), &vip, &[]),
        Err(SetupError::Primary)
    );
    // IPv6.
    let v6 = Config::new(1, Version::V3, 100, "fe80::1".parse().unwrap());
    assert_eq!(n.vrrp.add_instance(v6, &vip, &[]), Err(SetupError::NotIpv4));
    // The core's own checks.
    assert!(matches!(
        n.vrrp
            .add_instance(config(0, Version::V3, 100, 1), &vip, &[]),
        Err(SetupError::Config(_))
    ));
    let mut bad = config(1, Version::V2, 100, 1);
    bad.interval = Interval::from_centis(50);
    assert!(matches!(
        n.vrrp.add_instance(bad, &vip, &[]),
        Err(SetupError::Config(_))
    ));
    // Peers beyond P = 2.
    assert_eq!(
        n.vrrp
            .add_instance(config(1, Version::V3, 100, 1), &vip, &[ip(2), ip(3), ip(4)]),
        Err(SetupError::TooManyPeers)
    );
    // smoltcp's address table (8): the own address and 8 VIPs do not fit.
    let many: Vec<_> = (0..8).map(|k| Ipv4Cidr::new(ip(50 + k), 32)).collect();
    assert_eq!(
        n.vrrp
            .add_instance(config(1, Version::V3, 100, 1), &many, &[]),
        Err(SetupError::InterfaceAddresses {
            needed: 9,
            capacity: 8
        })
    );
    assert_eq!(
        n.vrrp
            .add_instance(config(1, Version::V3, 100, 1), &many[..7], &[]),
        Ok(0)
    );
    // A second VRID 1; then the table is full for any VIP.
    assert_eq!(
        n.vrrp
            .add_instance(config(1, Version::V3, 100, 1), &[], &[]),
        Err(SetupError::DuplicateVrid(1))
    );
    assert!(matches!(
        n.vrrp
            .add_instance(config(2, Version::V3, 100, 1), &vip, &[]),
        Err(SetupError::InterfaceAddresses { .. })
    ));
    assert_eq!(
        n.vrrp
            .add_instance(config(2, Version::V3, 100, 1), &[], &[]),
        Ok(1)
    );
    // N = 2.
    assert_eq!(
        n.vrrp
            .add_instance(config(3, Version::V3, 100, 1), &[], &[]),
        Err(SetupError::TooManyInstances)
    );
    // A multicast MAC.
    let storage: &'static mut Storage<'static> = Box::leak(Box::new(Storage::new()));
    let net = NetConfig {
        mac: GROUP_MAC,
        addr: Ipv4Cidr::new(ip(1), 24),
        gateway: None,
        random_seed: 0,
    };
    let r: Result<Vrrp<'_, 1, 4, 1>, _> = Vrrp::new(
        net,
        &mut MemDevice::default(),
        storage,
        Instant::from_ticks(0),
    );
    assert_eq!(r.err(), Some(SetupError::Mac));
}

#[test]
fn wrong_password_and_other_vrids_are_dropped_with_a_reason() {
    let mut a = member(1, Version::V2, 200, &[]);
    let mut b = node(2);
    let mut c = config(51, Version::V2, 100, 2);
    c.auth = Auth::password(b"other");
    b.vrrp
        .add_instance(c, &[Ipv4Cidr::new(VIP, 24)], &[])
        .unwrap();
    let mut other = node(3);
    other
        .vrrp
        .add_instance(
            config(52, Version::V2, 100, 3),
            &[Ipv4Cidr::new(VIP2, 24)],
            &[],
        )
        .unwrap();
    a.log = Log::default();
    let mut lan = Lan::new(vec![a, b, other]);
    lan.start_all();
    lan.run_until(at(5_000_000));
    // With the wrong password, node 2 never hears node 1 and becomes master as well.
    assert_eq!(lan.state(0), State::Master);
    assert_eq!(lan.state(1), State::Master);
    assert!(lan.nodes[1].log.drops.iter().any(|d| matches!(
        d,
        RxDrop::Router(router::RxDrop::Machine {
            instance: 0,
            drop: vigil_core::machine::Drop::Auth(_)
        })
    )));
    assert!(
        lan.nodes[2]
            .log
            .drops
            .contains(&RxDrop::Router(router::RxDrop::UnknownVrid { vrid: 51 }))
    );
}

#[test]
fn poll_at_tracks_the_earliest_deadline() {
    let mut lan = Lan::new(vec![member(1, Version::V3, 100, &[])]);
    lan.start_all();
    lan.step();
    let t = lan.nodes[0].vrrp.poll_at(lan.now).unwrap();
    // The master-down timer (3.609375 s), or smoltcp's IGMP report before it.
    assert!(t <= at(3_609_375), "{t:?}");
    lan.run_until(at(3_700_000));
    assert_eq!(lan.state(0), State::Master);
    // Master: the next advert, one interval after the first.
    let became = lan.nodes[0].log.entered(0, State::Master)[0];
    let next = lan.nodes[0].vrrp.poll_at(lan.now).unwrap();
    assert!(next <= became + ms(1000) && next > lan.now, "{next:?}");
}
