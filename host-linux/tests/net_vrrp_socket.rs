//! `VrrpSocket` on a real (namespaced) LAN: two hosts on a bridge, adverts sent by one
//! and received by the other, with what went on the wire checked by an AF_PACKET capture.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::time::Duration;

use vigil_core::wire::{
    Addresses, Auth, ChecksumMode, Family, Interval, MCAST_V4, MCAST_V6, Repr, Version,
};
use vigil_linux::net::VrrpSocket;
use vigil_tests::netns::{Capture, HostSpec, Lan, Netns, privileged_or_skip, run_in};

const A_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x11];
const B_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x12];
const A_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
const B_V4: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 12);
const VIP: [u8; 4] = [10, 99, 0, 50];
const WAIT: Duration = Duration::from_secs(3);

fn lan(prefix: &str) -> Lan {
    Lan::new(
        prefix,
        &[
            HostSpec::v4(A_MAC, A_V4, 24).with_v6("fd99::11".parse().unwrap(), 64),
            HostSpec::v4(B_MAC, B_V4, 24).with_v6("fd99::12".parse().unwrap(), 64),
        ],
    )
    .expect("building the LAN")
}

fn eth0_index(ns: &Netns) -> u32 {
    run_in(ns, || nix::net::if_::if_nametoindex("eth0").unwrap())
}

/// A VRRPv2 advert like the reference captures': VRID 51, PASS `s3cr3t`, VIP 10.99.0.50.
fn v2_advert(src: IpAddr, dst: IpAddr, priority: u8) -> Vec<u8> {
    let vips = [VIP];
    let repr = Repr {
        version: Version::V2,
        vrid: 51,
        priority,
        interval: Interval::from_secs(1),
        auth: Auth::password(b"s3cr3t"),
        addresses: Addresses::v4(&vips),
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut buf, src, dst, ChecksumMode::PseudoHeader)
        .unwrap();
    buf.truncate(n);
    buf
}

fn v3_advert_v6(src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let vips = ["fd99::50".parse::<Ipv6Addr>().unwrap().octets()];
    let repr = Repr {
        version: Version::V3,
        vrid: 51,
        priority: 100,
        interval: Interval::from_centis(100),
        auth: Auth::None,
        addresses: Addresses::v6(&vips),
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut buf, src, dst, ChecksumMode::PseudoHeader)
        .unwrap();
    buf.truncate(n);
    buf
}

/// Is this captured frame an IPv4 VRRP packet?
fn is_vrrp_v4(f: &[u8]) -> bool {
    f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 112
}

fn is_vrrp_v6(f: &[u8]) -> bool {
    f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[20] == 112
}

#[test]
fn multicast_v4_advert_crosses_the_lan_with_ttl_255_and_tos_c0() {
    if !privileged_or_skip("multicast_v4_advert_crosses_the_lan_with_ttl_255_and_tos_c0") {
        return;
    }
    let lan = lan("vsm4");
    let (a, b) = (lan.host(0), lan.host(1));
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let tx = run_in(&a.ns, || VrrpSocket::default_multicast(ai, Family::V4)).unwrap();
    let tx_twin = run_in(&a.ns, || VrrpSocket::default_multicast(ai, Family::V4)).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    assert_eq!(rx.group(), Some(IpAddr::V4(MCAST_V4)));
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();

    let (src, dst) = (IpAddr::V4(A_V4), IpAddr::V4(MCAST_V4));
    let advert = v2_advert(src, dst, 100);
    let mut buf = [0u8; 1500];
    let got = {
        tx.try_send(&advert, src, dst).unwrap();
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        (r.src, r.dst, r.ttl, r.ifindex, r.payload.to_vec(), r.meta())
    };
    assert_eq!(got.0, src);
    assert_eq!(got.1, dst);
    assert_eq!(got.2, 255);
    assert_eq!(got.3, bi);
    assert_eq!(got.4, advert);
    let repr = Repr::parse(&got.4, &got.5, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!((repr.vrid, repr.priority), (51, 100));

    // On the wire: multicast MAC, A's MAC, TOS 0xc0, DF clear, TTL 255, protocol 112.
    let frame = capture
        .wait_for(WAIT, is_vrrp_v4)
        .unwrap()
        .expect("not captured");
    assert_eq!(&frame[0..6], &[0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
    assert_eq!(&frame[6..12], &A_MAC);
    assert_eq!(frame[14], 0x45, "IPv4 with a 20-byte header");
    assert_eq!(frame[15], 0xc0, "TOS");
    assert_eq!(frame[20] & 0x40, 0, "DF must be clear, as keepalived sends");
    assert_eq!(frame[22], 255, "TTL");
    assert_eq!(&frame[26..30], &A_V4.octets());
    assert_eq!(&frame[30..34], &MCAST_V4.octets());
    assert_eq!(&frame[34..34 + advert.len()], &advert[..]);

    // Multicast loop is off: neither the sender nor another socket of its host hears it.
    std::thread::sleep(Duration::from_millis(200));
    let mut buf = [0u8; 1500];
    for s in [&tx, &tx_twin] {
        let e = s.try_recv(&mut buf).map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }

    // With loop on (what the option prevents), the host's sockets do hear it: the check
    // above is not vacuous.
    socket2::SockRef::from(&tx.as_fd())
        .set_multicast_loop_v4(true)
        .unwrap();
    let looped = {
        tx.try_send(&advert, src, dst).unwrap();
        tx_twin.recv_timeout(&mut buf, WAIT).map(|r| r.src)
    };
    assert_eq!(looped.expect("loop on: twin hears it"), src);
}

#[test]
fn multicast_v6_advert_from_the_link_local_address() {
    if !privileged_or_skip("multicast_v6_advert_from_the_link_local_address") {
        return;
    }
    let lan = lan("vsm6");
    let (a, b) = (lan.host(0), lan.host(1));
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let tx = run_in(&a.ns, || VrrpSocket::default_multicast(ai, Family::V6)).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V6)).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();

    let src = IpAddr::V6(a.link_local());
    let dst = IpAddr::V6(MCAST_V6);
    let advert = v3_advert_v6(src, dst);
    let mut buf = [0u8; 1500];
    let got = {
        tx.try_send(&advert, src, dst).unwrap();
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        (r.src, r.dst, r.ttl, r.ifindex, r.payload.to_vec(), r.meta())
    };
    assert_eq!(got.0, src);
    assert_eq!(got.1, dst);
    assert_eq!(got.2, 255);
    assert_eq!(got.3, bi);
    assert_eq!(got.4, advert);
    let repr = Repr::parse(&got.4, &got.5, ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(repr.version, Version::V3);

    let frame = capture
        .wait_for(WAIT, is_vrrp_v6)
        .unwrap()
        .expect("not captured");
    assert_eq!(&frame[0..6], &[0x33, 0x33, 0, 0, 0, 0x12]);
    assert_eq!(&frame[6..12], &A_MAC);
    let tclass = ((frame[14] & 0x0f) << 4) | (frame[15] >> 4);
    assert_eq!(tclass, 0xc0, "traffic class");
    assert_eq!(frame[21], 255, "hop limit");
    assert_eq!(&frame[22..38], &a.link_local().octets());
    assert_eq!(&frame[38..54], &MCAST_V6.octets());
    assert_eq!(&frame[54..54 + advert.len()], &advert[..]);

    // Multicast loop is off for IPv6 too.
    std::thread::sleep(Duration::from_millis(200));
    let e = tx.try_recv(&mut buf).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
}

#[test]
fn unicast_v4_and_v6_adverts_and_no_multicast_on_a_unicast_socket() {
    if !privileged_or_skip("unicast_v4_and_v6_adverts_and_no_multicast_on_a_unicast_socket") {
        return;
    }
    let lan = lan("vsu");
    let (a, b) = (lan.host(0), lan.host(1));
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let tx = run_in(&a.ns, || VrrpSocket::unicast(ai, Family::V4)).unwrap();
    let tx_mcast = run_in(&a.ns, || VrrpSocket::default_multicast(ai, Family::V4)).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::unicast(bi, Family::V4)).unwrap();
    // Another socket on B joins the group: the unicast socket must still not see the
    // group's traffic (IP_MULTICAST_ALL is off).
    let rx_mcast = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    assert_eq!(rx.group(), None);

    let (src, peer) = (IpAddr::V4(A_V4), IpAddr::V4(B_V4));
    let group = IpAddr::V4(MCAST_V4);
    let unicast = v2_advert(src, peer, 100);
    let multicast = v2_advert(src, group, 42);
    let mut buf = [0u8; 1500];
    let got = {
        tx_mcast.try_send(&multicast, src, group).unwrap();
        let m = rx_mcast
            .recv_timeout(&mut buf, WAIT)
            .expect("the group socket hears the group");
        assert_eq!(m.payload, &multicast[..]);
        tx.try_send(&unicast, src, peer).unwrap();
        let r = rx
            .recv_timeout(&mut buf, WAIT)
            .expect("no unicast advert received");
        (r.src, r.dst, r.ttl, r.payload.to_vec(), r.meta())
    };
    assert_eq!(got.0, src);
    assert_eq!(got.1, peer);
    assert_eq!(got.2, 255, "TTL 255 in unicast mode too");
    assert_eq!(
        got.3, unicast,
        "the first packet is the unicast one, not the group's"
    );
    Repr::parse(&got.3, &got.4, ChecksumMode::PseudoHeader).unwrap();

    // IPv6 unicast between global addresses.
    let tx6 = run_in(&a.ns, || VrrpSocket::unicast(ai, Family::V6)).unwrap();
    let rx6 = run_in(&b.ns, || VrrpSocket::unicast(bi, Family::V6)).unwrap();
    let (src6, peer6): (IpAddr, IpAddr) =
        ("fd99::11".parse().unwrap(), "fd99::12".parse().unwrap());
    let advert6 = v3_advert_v6(src6, peer6);
    let got6 = {
        tx6.try_send(&advert6, src6, peer6).unwrap();
        let r = rx6
            .recv_timeout(&mut buf, WAIT)
            .expect("no IPv6 unicast advert received");
        (r.src, r.dst, r.ttl, r.payload.to_vec())
    };
    // The kernel's default hop limit (64 in a fresh namespace), as keepalived sends
    // IPv6 unicast adverts without `unicast_ttl`.
    assert_eq!(got6, (src6, peer6, 64, advert6));
}

#[test]
fn a_lower_ttl_is_reported_as_received() {
    if !privileged_or_skip("a_lower_ttl_is_reported_as_received") {
        return;
    }
    let lan = lan("vst");
    let (a, b) = (lan.host(0), lan.host(1));
    let bi = eth0_index(&b.ns);
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    let (src, dst) = (IpAddr::V4(A_V4), IpAddr::V4(MCAST_V4));
    let advert = v2_advert(src, dst, 100);
    // A plain raw socket with multicast TTL 254, as a router one hop away would deliver.
    run_in(&a.ns, || {
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.bind_device(Some(b"eth0")).unwrap();
        s.set_multicast_ttl_v4(254).unwrap();
        s.send_to(&advert, &std::net::SocketAddrV4::new(MCAST_V4, 0).into())
            .unwrap();
    });
    let mut buf = [0u8; 1500];
    let (ttl, meta) = {
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        assert_eq!(r.payload, &advert[..]);
        (r.ttl, r.meta())
    };
    assert_eq!(ttl, 254);
    assert_eq!(
        Repr::parse(&advert, &meta, ChecksumMode::PseudoHeader),
        Err(vigil_core::wire::Error::Ttl(254))
    );
}

#[test]
fn ip_options_are_skipped_using_ihl() {
    if !privileged_or_skip("ip_options_are_skipped_using_ihl") {
        return;
    }
    let lan = lan("vso");
    let (a, b) = (lan.host(0), lan.host(1));
    let bi = eth0_index(&b.ns);
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    let (src, dst) = (IpAddr::V4(A_V4), IpAddr::V4(MCAST_V4));
    let advert = v2_advert(src, dst, 100);
    run_in(&a.ns, || {
        use std::os::fd::AsRawFd;
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(112)),
        )
        .unwrap();
        s.bind_device(Some(b"eth0")).unwrap();
        s.set_multicast_ttl_v4(255).unwrap();
        // Four bytes of options: NOP NOP NOP EOL, so IHL = 6.
        let opts = [1u8, 1, 1, 0];
        // SAFETY: a valid buffer of the length given.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_OPTIONS,
                opts.as_ptr().cast(),
                opts.len() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "IP_OPTIONS: {}", std::io::Error::last_os_error());
        s.send_to(&advert, &std::net::SocketAddrV4::new(MCAST_V4, 0).into())
            .unwrap();
    });
    let frame = capture
        .wait_for(WAIT, is_vrrp_v4)
        .unwrap()
        .expect("not captured");
    assert_eq!(frame[14], 0x46, "sent with a 24-byte header");
    let mut buf = [0u8; 1500];
    {
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        assert_eq!(r.payload, &advert[..]);
        assert_eq!(r.ttl, 255);
        Repr::parse(r.payload, &r.meta(), ChecksumMode::PseudoHeader).unwrap();
    };
}

#[test]
fn the_source_address_is_the_one_asked_for() {
    if !privileged_or_skip("the_source_address_is_the_one_asked_for") {
        return;
    }
    let lan = lan("vss");
    let (a, b) = (lan.host(0), lan.host(1));
    // A second (secondary) address on A, like an mcast_src_ip that is not the primary.
    a.ns.exec_ok(&["ip", "addr", "add", "10.99.0.21/24", "dev", "eth0"])
        .unwrap();
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let tx = run_in(&a.ns, || VrrpSocket::default_multicast(ai, Family::V4)).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 21));
    let dst = IpAddr::V4(MCAST_V4);
    let advert = v2_advert(src, dst, 100);
    let mut buf = [0u8; 1500];
    let got = {
        tx.try_send(&advert, src, dst).unwrap();
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        r.src
    };
    assert_eq!(got, src);
    let frame = capture
        .wait_for(WAIT, is_vrrp_v4)
        .unwrap()
        .expect("not captured");
    assert_eq!(&frame[26..30], &[10, 99, 0, 21]);

    // An address the host does not have is refused, not spoofed (the route lookup with
    // a foreign source fails: ENETUNREACH on the kernels seen so far, EINVAL on others).
    let foreign = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 99));
    let err = tx.try_send(&advert, foreign, dst).unwrap_err();
    assert!(
        matches!(err.raw_os_error(), Some(libc::ENETUNREACH | libc::EINVAL)),
        "{err}"
    );
    // A family mismatch is refused before the kernel is asked.
    let err = tx
        .try_send(&advert, IpAddr::V6(Ipv6Addr::LOCALHOST), dst)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn adverts_through_a_use_vmac_macvlan_carry_the_virtual_mac() {
    if !privileged_or_skip("adverts_through_a_use_vmac_macvlan_carry_the_virtual_mac") {
        return;
    }
    let lan = lan("vsv");
    let (a, b) = (lan.host(0), lan.host(1));
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let vmac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
    // keepalived's use_vmac: a private-mode macvlan with the virtual MAC, no address of
    // its own; adverts leave through it from the base interface's primary address.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let nl = run_in(&a.ns, || {
        let _guard = rt.enter();
        vigil_linux::net::Netlink::new()
    })
    .unwrap();
    let vi = rt.block_on(nl.create_macvlan(ai, "vrrp.51", vmac)).unwrap();
    let tx = run_in(&a.ns, || VrrpSocket::default_multicast(vi, Family::V4)).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();
    let (src, dst) = (IpAddr::V4(A_V4), IpAddr::V4(MCAST_V4));
    let advert = v2_advert(src, dst, 100);
    let mut buf = [0u8; 1500];
    let got = {
        tx.try_send(&advert, src, dst).unwrap();
        let r = rx.recv_timeout(&mut buf, WAIT).expect("no advert received");
        (r.src, r.ttl, r.payload.to_vec())
    };
    assert_eq!(got, (src, 255, advert));
    let frame = capture
        .wait_for(WAIT, is_vrrp_v4)
        .unwrap()
        .expect("not captured");
    assert_eq!(&frame[6..12], &vmac, "sent from the virtual MAC");
    assert_eq!(&frame[26..30], &A_V4.octets());
}

/// An `IPPROTO_AH` socket (keepalived's `auth_type AH`): the whole IPv4 packet we built
/// leaves as built (the kernel keeps our identification, which the ICV covers, and fills
/// in the checksum), arrives on the other host's AH socket with its IP header, verifies
/// there, and is not heard by a plain VRRP socket.
#[test]
fn ah_socket_sends_our_ip_header_and_receives_it_whole() {
    if !privileged_or_skip("ah_socket_sends_our_ip_header_and_receives_it_whole") {
        return;
    }
    use vigil_core::wire::ah;
    let lan = lan("vsah");
    let (a, b) = (lan.host(0), lan.host(1));
    let (ai, bi) = (eth0_index(&a.ns), eth0_index(&b.ns));
    let tx = run_in(&a.ns, || VrrpSocket::ah(ai, Some(MCAST_V4))).unwrap();
    let rx = run_in(&b.ns, || VrrpSocket::ah(bi, Some(MCAST_V4))).unwrap();
    let plain = run_in(&b.ns, || VrrpSocket::default_multicast(bi, Family::V4)).unwrap();
    assert!(tx.is_ah() && !plain.is_ah());
    let capture = run_in(&b.ns, || Capture::open("eth0")).unwrap();

    let (src, dst) = (IpAddr::V4(A_V4), IpAddr::V4(MCAST_V4));
    let vips = [VIP];
    let repr = Repr {
        version: Version::V2,
        vrid: 51,
        priority: 100,
        interval: Interval::from_secs(1),
        auth: Auth::Ah(ah::key(b"s3cr3t")),
        addresses: Addresses::v4(&vips),
    };
    let key = ah::key(b"s3cr3t");
    let mut packet = [0u8; 100];
    let n = repr
        .emit(&mut packet[44..], src, dst, ChecksumMode::PseudoHeader)
        .unwrap();
    let total = 44 + n;
    assert!(ah::write_ip_header(&mut packet, A_V4, MCAST_V4, 0x1234, n));
    assert!(ah::seal(&mut packet[..total], &key, 7, false));
    tx.try_send(&packet[..total], src, dst).unwrap();

    let mut buf = [0u8; 1500];
    let r = rx
        .recv_timeout(&mut buf, WAIT)
        .expect("no AH packet received");
    assert_eq!((r.src, r.dst, r.ttl, r.ifindex), (src, dst, 255, bi));
    assert_eq!(r.ip_header.len(), 20);
    assert_eq!(
        &r.ip_header[4..6],
        &[0x12, 0x34],
        "the kernel kept our identification"
    );
    let v = ah::verify(r.ip_header, r.payload, &key, false).expect("verifies");
    assert_eq!(v.seq, 7);
    let parsed = Repr::parse(v.vrrp, &r.meta(), ChecksumMode::PseudoHeader).unwrap();
    assert_eq!(parsed.check_auth(&repr.auth), Ok(()));
    assert_eq!(
        ah::verify(r.ip_header, r.payload, &ah::key(b"other"), false),
        Err(ah::AhError::Icv)
    );

    let frame = capture
        .wait_for(WAIT, |f| {
            f.len() > 34 && f[12..14] == [0x08, 0x00] && f[23] == 51
        })
        .unwrap()
        .expect("not captured");
    assert_eq!(frame[15], 0xc0, "TOS");
    assert_eq!(frame[22], 255, "TTL");
    assert_eq!(&frame[34..14 + total], &packet[20..total]);

    std::thread::sleep(Duration::from_millis(200));
    let e = plain.try_recv(&mut buf).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
}
