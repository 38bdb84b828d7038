//! Hostile packets: adverts and whole IPv4 packets built by hand.

use std::net::Ipv4Addr;

/// The VRRP message of an IPv4 advert for `vip` from `src` to `dst`, as the codec emits
/// it: v2 with a PASS password (1 s), v3 with `v3_centis` and no authentication.
pub fn advert_v4(
    version: vigil_core::wire::Version,
    vrid: u8,
    priority: u8,
    pass: &str,
    vip: Ipv4Addr,
    (src, dst): (Ipv4Addr, Ipv4Addr),
    v3_centis: u16,
) -> Vec<u8> {
    use vigil_core::wire::{Addresses, Auth, ChecksumMode, Interval, Repr, Version};
    let vips = [vip.octets()];
    let repr = Repr {
        version,
        vrid,
        priority,
        interval: match version {
            Version::V2 => Interval::from_secs(1),
            Version::V3 => Interval::from_centis(v3_centis),
        },
        auth: match version {
            Version::V2 => Auth::password(pass.as_bytes()),
            Version::V3 => Auth::None,
        },
        addresses: Addresses::v4(&vips),
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr
        .emit(&mut buf, src.into(), dst.into(), ChecksumMode::PseudoHeader)
        .expect("emit");
    buf.truncate(n);
    buf
}

/// A whole IPv4 packet carrying `payload` as VRRP (protocol 112), for an `IP_HDRINCL`
/// socket (the kernel fills in the header checksum).
pub fn ipv4_vrrp_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let mut ip = vec![
        0x45, 0xc0, 0, 0, 0, 0, 0x40, 0, ttl, 112, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    ip[2..4].copy_from_slice(&len.to_be_bytes());
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    ip.extend_from_slice(payload);
    ip
}

/// Sends `payload` (a VRRP message) from `src` to `dst` with IP TTL `ttl`, from a raw
/// `IP_HDRINCL` socket in `ns`.
pub fn send_vrrp(
    ns: &vigil_tests::netns::Netns,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    payload: &[u8],
) {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let packet = ipv4_vrrp_packet(src, dst, ttl, payload);
    vigil_tests::netns::run_in(ns, || {
        let sock = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_RAW)),
        )
        .expect("raw socket");
        sock.send_to(
            &packet,
            &SockAddr::from(std::net::SocketAddrV4::new(dst, 0)),
        )
        .expect("sending an advert");
    });
}

/// Gratuitous ARPs for `addr` (sender and target) among the frames `cap` sees within
/// `window`.
pub fn garps_seen(
    cap: &vigil_tests::netns::Capture,
    addr: Ipv4Addr,
    window: std::time::Duration,
) -> usize {
    let end = std::time::Instant::now() + window;
    let mut buf = vec![0u8; 2048];
    let mut n = 0;
    for _ in 0..20_000 {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match cap.next_frame(&mut buf, left).expect("capture") {
            Some(len) if len >= 42 && buf[12..14] == [0x08, 0x06] => {
                if buf[28..32] == addr.octets() && buf[38..42] == addr.octets() {
                    n += 1;
                }
            }
            Some(_) => {}
            None => break,
        }
    }
    n
}
