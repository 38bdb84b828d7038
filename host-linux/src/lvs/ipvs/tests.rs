//! The IPVS messages byte for byte, replies (good, truncated, garbage), the in-memory
//! table's errors and the removal of what was installed.
//!
//! The expected bytes are written out from `include/uapi/linux/ip_vs.h` and libipvs's
//! `ipvs_nl_fill_service_attr`/`ipvs_nl_fill_dest_attr` (keepalived 2.2.7, ipvsadm):
//! netlink header, `genlmsghdr`, then the nests. `nlmsg_pid` is 0 and the family id 0x1c.
//! One vector is ipvsadm's own message, captured with strace in the Debian 12 VM.

use super::convert::{dest_attrs, parse_dest, parse_service, service_attrs};
use super::installed::Installed;
use super::memory::MemoryIpvs;
use super::netlink::{encode, ipvs_request};
use super::wire::{CmdAttr, DestAttr, IpvsMessage, StatsAttr, SvcAttr, cmd};
use super::*;
use crate::config::lvs::{ForwardMethod, TunnelChecksum, TunnelType};
use netlink_packet_core::{NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, ParseableParametrized};
use netlink_packet_generic::GenlMessage;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const FAMILY: u16 = 0x1c;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap() as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

fn request(cmd: u8, attrs: Vec<CmdAttr>, flags: u16) -> Vec<u8> {
    encode(ipvs_request(FAMILY, IpvsMessage { cmd, attrs }), flags, 1)
}

fn tcp_service() -> Service {
    Service {
        key: ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "192.168.1.10:80".parse().unwrap(),
        },
        scheduler: "wlc".into(),
        flags: 0,
        timeout: 0,
        netmask: 0xffff_ffff,
        pe_name: None,
    }
}

fn dr_dest() -> Dest {
    Dest {
        addr: "10.0.0.2:80".parse().unwrap(),
        forward: ForwardMethod::Dr,
        weight: 1,
        u_threshold: 0,
        l_threshold: 0,
    }
}

#[test]
fn new_service_is_byte_exact() {
    let bytes = request(
        cmd::NEW_SERVICE,
        vec![CmdAttr::Service(service_attrs(&tcp_service()).unwrap())],
        NLM_F_REQUEST | NLM_F_ACK,
    );
    let expected = hex("
        68000000 1c00 0500 01000000 00000000
        01 01 0000
        5400 0180
          0600 0100 0200 0000
          0600 0200 0600 0000
          1400 0300 c0a8010a 00000000 00000000 00000000
          0600 0400 0050 0000
          0800 0600 776c6300
          0c00 0700 00000000 ffffffff
          0800 0800 00000000
          0800 0900 ffffffff
    ");
    assert_eq!(bytes, expected);
}

/// `ipvsadm -A -t 192.168.1.10:80 -s wlc` (ipvsadm 1.31, libnl 3.7, Debian 12), as
/// `strace -e sendmsg -xx` showed it in the VM: family 0x20, flags REQUEST|ACK; its
/// sequence number and port set to ours (1, 0).
#[test]
fn new_service_equals_what_ipvsadm_sends() {
    let captured = b"\x68\x00\x00\x00\x20\x00\x05\x00\x01\x00\x00\x00\x00\x00\x00\x00\
        \x01\x01\x00\x00\x54\x00\x01\x80\x06\x00\x01\x00\x02\x00\x00\x00\x06\x00\x02\x00\
        \x06\x00\x00\x00\x14\x00\x03\x00\xc0\xa8\x01\x0a\x00\x00\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x06\x00\x04\x00\x00\x50\x00\x00\x08\x00\x06\x00\x77\x6c\x63\x00\
        \x0c\x00\x07\x00\x00\x00\x00\x00\xff\xff\xff\xff\x08\x00\x08\x00\x00\x00\x00\x00\
        \x08\x00\x09\x00\xff\xff\xff\xff";
    let ours = encode(
        ipvs_request(
            0x20,
            IpvsMessage {
                cmd: cmd::NEW_SERVICE,
                attrs: vec![CmdAttr::Service(service_attrs(&tcp_service()).unwrap())],
            },
        ),
        NLM_F_REQUEST | NLM_F_ACK,
        1,
    );
    assert_eq!(ours, captured.to_vec());
}

#[test]
fn fwmark_v6_persistent_service_is_byte_exact() {
    let svc = Service {
        key: ServiceKey::Fwmark {
            family: AddrFamily::Inet6,
            mark: 7,
        },
        scheduler: "sh".into(),
        // HASHED is the kernel's own state: it never goes out.
        flags: SVC_F_PERSISTENT | SVC_F_SCHED2 | SVC_F_HASHED,
        timeout: 300,
        netmask: 64,
        pe_name: Some("sip".into()),
    };
    let bytes = request(
        cmd::SET_SERVICE,
        vec![CmdAttr::Service(service_attrs(&svc).unwrap())],
        NLM_F_REQUEST | NLM_F_ACK,
    );
    let expected = hex("
        54000000 1c00 0500 01000000 00000000
        02 01 0000
        4000 0180
          0600 0100 0a00 0000
          0800 0500 07000000
          0700 0600 736800 00
          0800 0b00 73697000
          0c00 0700 11000000 ffffffff
          0800 0800 2c010000
          0800 0900 40000000
    ");
    assert_eq!(bytes, expected);
}

#[test]
fn new_dest_is_byte_exact() {
    let key = tcp_service().key;
    let bytes = request(
        cmd::NEW_DEST,
        vec![
            CmdAttr::Service(convert::service_key_attrs(&key).unwrap()),
            CmdAttr::Dest(dest_attrs(&dr_dest())),
        ],
        NLM_F_REQUEST | NLM_F_ACK,
    );
    let expected = hex("
        8c000000 1c00 0500 01000000 00000000
        05 01 0000
        3000 0180
          0600 0100 0200 0000
          0600 0200 0600 0000
          1400 0300 c0a8010a 00000000 00000000 00000000
          0600 0400 0050 0000
        4800 0280
          0600 0b00 0200 0000
          1400 0100 0a000002 00000000 00000000 00000000
          0600 0200 0050 0000
          0800 0300 03000000
          0800 0400 01000000
          0800 0500 00000000
          0800 0600 00000000
    ");
    assert_eq!(bytes, expected);
}

#[test]
fn tunnel_dests_carry_type_port_and_flags_as_keepalived_sends_them() {
    let mut dest = dr_dest();
    dest.forward = ForwardMethod::Tun(TunnelType::Gue {
        port: 6081,
        csum: TunnelChecksum::None,
    });
    let mut gue = Vec::new();
    for a in dest_attrs(&dest) {
        gue.push(a);
    }
    assert_eq!(
        &gue[3..8],
        &[
            DestAttr::FwdMethod(2),
            DestAttr::Weight(1),
            DestAttr::TunType(1),
            DestAttr::TunPort(6081),
            DestAttr::TunFlags(0),
        ]
    );
    let bytes = request(cmd::SET_DEST, vec![CmdAttr::Dest(gue)], NLM_F_REQUEST);
    // TUN_TYPE is one byte padded to four; TUN_PORT is big-endian.
    let tail = hex("0500 0d00 01000000 0600 0e00 17c1 0000 0600 0f00 0000 0000");
    assert!(bytes.windows(tail.len()).any(|w| w == tail.as_slice()));

    // `csum` and `remcsum` as keepalived sends them (IP_VS_TUNNEL_ENCAP_FLAG_*).
    dest.forward = ForwardMethod::Tun(TunnelType::Gre {
        csum: TunnelChecksum::Checksum,
    });
    assert!(dest_attrs(&dest).contains(&DestAttr::TunFlags(1)));
    dest.forward = ForwardMethod::Tun(TunnelType::Gue {
        port: 6081,
        csum: TunnelChecksum::Remote,
    });
    assert!(dest_attrs(&dest).contains(&DestAttr::TunFlags(2)));

    dest.forward = ForwardMethod::Tun(TunnelType::Ipip);
    let ipip = dest_attrs(&dest);
    assert!(ipip.contains(&DestAttr::TunType(0)));
    assert!(
        !ipip
            .iter()
            .any(|a| matches!(a, DestAttr::TunPort(_) | DestAttr::TunFlags(_)))
    );
}

#[test]
fn dumps_and_deletes_send_only_the_key() {
    let dump = request(
        cmd::GET_SERVICE,
        vec![],
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP,
    );
    assert_eq!(dump, hex("14000000 1c00 0503 01000000 00000000 04 01 0000"));

    let del = request(
        cmd::DEL_DEST,
        vec![
            CmdAttr::Service(convert::service_key_attrs(&tcp_service().key).unwrap()),
            CmdAttr::Dest(convert::dest_key_attrs(dr_dest().addr)),
        ],
        NLM_F_REQUEST | NLM_F_ACK,
    );
    let dest_nest = hex("
        2800 0280
          0600 0b00 0200 0000
          1400 0100 0a000002 00000000 00000000 00000000
          0600 0200 0050 0000
    ");
    assert!(del.ends_with(&dest_nest));
}

#[test]
fn names_the_kernel_cannot_take_are_refused_before_sending() {
    let mut svc = tcp_service();
    svc.scheduler = "a-scheduler-name-too-long".into();
    assert_eq!(
        service_attrs(&svc).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    svc.scheduler = String::new();
    assert!(service_attrs(&svc).is_err());
    svc.scheduler = "rr".into();
    svc.key = ServiceKey::Fwmark {
        family: AddrFamily::Inet,
        mark: 0,
    };
    assert!(service_attrs(&svc).is_err());
}

/// A `GET_SERVICE` dump answer as Linux 6.1 sends it (`NLM_F_MULTI`, `IPVS_CMD_NEW_SERVICE`,
/// the flags with HASHED, both stats nests), then `NLMSG_DONE`.
fn service_dump_reply(seq: u32) -> Vec<u8> {
    let stats = |wide: bool| {
        (1..=10)
            .map(|kind| StatsAttr {
                kind,
                value: u64::from(kind) * 1000,
                wide: wide || kind == 4 || kind == 5,
            })
            .collect::<Vec<_>>()
    };
    let mut attrs = service_attrs(&tcp_service()).unwrap();
    for a in &mut attrs {
        if let SvcAttr::Flags { flags, .. } = a {
            *flags |= SVC_F_HASHED;
        }
    }
    attrs.push(SvcAttr::Stats(stats(false)));
    attrs.push(SvcAttr::Stats64(stats(true)));
    let message = IpvsMessage {
        cmd: cmd::NEW_SERVICE,
        attrs: vec![CmdAttr::Service(attrs)],
    };
    let mut bytes = encode(ipvs_request(FAMILY, message), 0x2, seq);
    // NLMSG_DONE with its int.
    bytes.extend(hex("14000000 0300 0200"));
    bytes.extend(seq.to_ne_bytes());
    bytes.extend(hex("00000000 00000000"));
    bytes
}

/// Walks a reply as `NetlinkIpvs::services_status` does.
fn parse_services_reply(data: &[u8], seq: u32) -> io::Result<Vec<ServiceStatus>> {
    let mut out = Vec::new();
    let mut error = None;
    let walk =
        netlink::tests_support::walk(data, seq, FAMILY, &mut |genl| {
            match GenlMessage::<IpvsMessage>::parse_with_param(genl, 0) {
                Ok(m) => {
                    for a in m.payload.attrs {
                        if let CmdAttr::Service(attrs) = a {
                            match parse_service(&attrs) {
                                Ok(s) => out.push(s),
                                Err(e) => error = Some(e),
                            }
                        }
                    }
                }
                Err(e) => error = Some(e),
            }
        })?;
    if let Some(e) = error {
        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
    }
    match walk {
        Some(result) => result.map(|()| out),
        None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no end")),
    }
}

#[test]
fn a_service_dump_parses_with_counters_and_without_hashed() {
    let listed = parse_services_reply(&service_dump_reply(9), 9).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].service, tcp_service());
    assert_eq!(listed[0].stats.conns, 1000);
    assert_eq!(listed[0].stats.out_bps, 10_000);
    // Another sequence number is a stale answer: skipped, and no end seen.
    assert_eq!(
        parse_services_reply(&service_dump_reply(9), 10)
            .unwrap_err()
            .kind(),
        io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn truncated_or_corrupted_replies_give_errors_not_panics() {
    let reply = service_dump_reply(3);
    for len in 0..reply.len() {
        let _ = parse_services_reply(&reply[..len], 3);
    }
    for i in 0..reply.len() {
        for value in [0x00, 0x01, 0x7f, 0xff] {
            let mut bad = reply.clone();
            bad[i] = value;
            let _ = parse_services_reply(&bad, 3);
        }
    }
    // An attribute whose length runs past its nest.
    let mut bad = reply.clone();
    bad[20] = 0xff;
    assert!(parse_services_reply(&bad, 3).is_err());
}

#[test]
fn kernel_errors_become_their_errno() {
    use super::netlink::tests_support::errno_result;
    let e = errno_result(&(-libc::EEXIST).to_ne_bytes(), "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    assert!(errno_result(&0i32.to_ne_bytes(), "x").is_ok());
    for odd in [i32::MIN, 5] {
        let e = errno_result(&odd.to_ne_bytes(), "x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
    assert!(errno_result(&[0xff], "x").is_err());
}

fn arb_service() -> impl Strategy<Value = Service> {
    let key = prop_oneof![
        (
            prop_oneof![
                Just(Protocol::Tcp),
                Just(Protocol::Udp),
                Just(Protocol::Sctp)
            ],
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<u16>()
        )
            .prop_map(|(protocol, ip, port)| (
                ServiceKey::Addr {
                    protocol,
                    addr: SocketAddr::new(ip, port)
                },
                AddrFamily::Inet
            )),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(o, port)| (
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port)
            },
            AddrFamily::Inet6
        )),
        (
            prop_oneof![Just(AddrFamily::Inet), Just(AddrFamily::Inet6)],
            1u32..
        )
            .prop_map(|(family, mark)| (ServiceKey::Fwmark { family, mark }, family)),
    ];
    (
        key,
        "[a-z]{1,15}",
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        proptest::option::of("[a-z]{1,15}"),
    )
        .prop_map(
            |((key, _), scheduler, flags, timeout, netmask, pe_name)| Service {
                key,
                scheduler,
                flags: flags & !SVC_F_HASHED,
                timeout,
                netmask,
                pe_name,
            },
        )
}

fn arb_csum() -> impl Strategy<Value = TunnelChecksum> {
    prop_oneof![
        Just(TunnelChecksum::None),
        Just(TunnelChecksum::Checksum),
        Just(TunnelChecksum::Remote),
    ]
}

fn arb_dest() -> impl Strategy<Value = Dest> {
    let forward = prop_oneof![
        Just(ForwardMethod::Nat),
        Just(ForwardMethod::Dr),
        Just(ForwardMethod::Tun(TunnelType::Ipip)),
        arb_csum().prop_map(|csum| ForwardMethod::Tun(TunnelType::Gre { csum })),
        (any::<u16>(), arb_csum())
            .prop_map(|(port, csum)| ForwardMethod::Tun(TunnelType::Gue { port, csum })),
    ];
    let ip = prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ];
    (
        ip,
        any::<u16>(),
        forward,
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(ip, port, forward, weight, u_threshold, l_threshold)| Dest {
                addr: SocketAddr::new(ip, port),
                forward,
                weight,
                u_threshold,
                l_threshold,
            },
        )
}

/// Emits a message and parses the bytes back.
fn through_the_wire(message: IpvsMessage) -> IpvsMessage {
    let bytes = encode(ipvs_request(FAMILY, message), NLM_F_REQUEST, 1);
    GenlMessage::<IpvsMessage>::parse_with_param(&bytes[16..], FAMILY)
        .unwrap()
        .payload
}

proptest! {
    #[test]
    fn services_survive_the_wire(svc in arb_service()) {
        let message = IpvsMessage {
            cmd: cmd::NEW_SERVICE,
            attrs: vec![CmdAttr::Service(service_attrs(&svc).unwrap())],
        };
        let parsed = through_the_wire(message.clone());
        prop_assert_eq!(&parsed, &message);
        let CmdAttr::Service(attrs) = &parsed.attrs[0] else { panic!("not a service") };
        prop_assert_eq!(parse_service(attrs).unwrap().service, svc);
    }

    #[test]
    fn dests_survive_the_wire(dest in arb_dest(), v6 in any::<bool>()) {
        let family = if v6 { AddrFamily::Inet6 } else { AddrFamily::Inet };
        let message = IpvsMessage {
            cmd: cmd::NEW_DEST,
            attrs: vec![CmdAttr::Dest(dest_attrs(&dest))],
        };
        let parsed = through_the_wire(message.clone());
        prop_assert_eq!(&parsed, &message);
        let CmdAttr::Dest(attrs) = &parsed.attrs[0] else { panic!("not a dest") };
        let status = parse_dest(attrs, family).unwrap();
        prop_assert_eq!(status.dest, dest);
        prop_assert!(!status.local_node);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = GenlMessage::<IpvsMessage>::parse_with_param(&bytes, FAMILY);
        let _ = parse_services_reply(&bytes, 1);
    }
}

#[test]
fn the_kernel_turns_local_destinations_into_local_node() {
    let mut attrs = dest_attrs(&dr_dest());
    for a in &mut attrs {
        if let DestAttr::FwdMethod(m) = a {
            *m = wire::fwd::LOCALNODE;
        }
    }
    attrs.push(DestAttr::ActiveConns(3));
    attrs.push(DestAttr::InactConns(4));
    attrs.push(DestAttr::PersistConns(5));
    let status = parse_dest(&attrs, AddrFamily::Inet).unwrap();
    assert!(status.local_node);
    assert_eq!(status.dest.forward, ForwardMethod::Nat);
    assert_eq!(
        (
            status.active_conns,
            status.inactive_conns,
            status.persistent_conns
        ),
        (3, 4, 5)
    );
    attrs.retain(|a| !matches!(a, DestAttr::Weight(_)));
    assert!(parse_dest(&attrs, AddrFamily::Inet).is_err());
}

fn errno_of<T: std::fmt::Debug>(r: io::Result<T>) -> i32 {
    r.unwrap_err().raw_os_error().unwrap()
}

#[test]
fn the_memory_table_fails_as_the_kernel_does() {
    let mut t = MemoryIpvs::new();
    let svc = tcp_service();
    let key = svc.key;
    assert_eq!(errno_of(t.edit_service(&svc)), libc::ESRCH);
    assert_eq!(errno_of(t.del_service(&key)), libc::ESRCH);
    assert_eq!(errno_of(t.add_dest(&key, &dr_dest())), libc::ESRCH);
    assert!(t.dests(&key).unwrap().is_empty());
    t.add_service(&svc).unwrap();
    assert_eq!(errno_of(t.add_service(&svc)), libc::EEXIST);
    let mut bad = svc.clone();
    bad.scheduler = "nope".into();
    assert_eq!(errno_of(t.edit_service(&bad)), libc::ENOENT);

    t.add_dest(&key, &dr_dest()).unwrap();
    assert_eq!(errno_of(t.add_dest(&key, &dr_dest())), libc::EEXIST);
    let mut other = dr_dest();
    other.addr = "10.0.0.3:80".parse().unwrap();
    assert_eq!(errno_of(t.edit_dest(&key, &other)), libc::ENOENT);
    assert_eq!(errno_of(t.del_dest(&key, other.addr)), libc::ENOENT);
    other.l_threshold = 5;
    assert_eq!(errno_of(t.add_dest(&key, &other)), libc::ERANGE);
    other.l_threshold = 0;
    other.weight = u32::MAX;
    assert_eq!(errno_of(t.add_dest(&key, &other)), libc::ERANGE);
    other.weight = 0;
    other.addr = "[2001:db8::1]:80".parse().unwrap();
    assert_eq!(errno_of(t.add_dest(&key, &other)), libc::EINVAL);

    let mut quiesced = dr_dest();
    quiesced.weight = 0;
    t.edit_dest(&key, &quiesced).unwrap();
    assert_eq!(t.dests(&key).unwrap()[0].dest.weight, 0);

    t.fail_next(libc::ENOMEM);
    assert_eq!(errno_of(t.del_dest(&key, quiesced.addr)), libc::ENOMEM);
    assert_eq!(t.dests(&key).unwrap().len(), 1);
    t.del_dest(&key, quiesced.addr).unwrap();
    t.del_service(&key).unwrap();
    assert!(t.is_empty());
}

#[test]
fn removal_takes_out_only_what_was_installed() {
    let mut t = MemoryIpvs::new();
    // An operator's service, to which vigild adds one destination.
    let mut foreign = tcp_service();
    foreign.key = ServiceKey::Addr {
        protocol: Protocol::Udp,
        addr: "192.168.1.10:53".parse().unwrap(),
    };
    t.add_service(&foreign).unwrap();
    let theirs = dr_dest();
    t.add_dest(&foreign.key, &theirs).unwrap();
    let mut ours_there = dr_dest();
    ours_there.addr = "10.0.0.9:53".parse().unwrap();
    t.add_dest(&foreign.key, &ours_there).unwrap();

    let mine = tcp_service();
    t.add_service(&mine).unwrap();
    t.add_dest(&mine.key, &dr_dest()).unwrap();

    let mut installed = Installed::new();
    installed.service(mine.key);
    installed.dest(mine.key, dr_dest().addr);
    installed.dest(foreign.key, ours_there.addr);
    // A destination already gone counts as removed.
    installed.dest(foreign.key, "10.0.0.99:53".parse().unwrap());

    t.fail_next(libc::EPERM);
    let errors = installed.remove_all(&mut t);
    assert_eq!(errors.len(), 1);
    assert!(!installed.is_empty());
    assert!(installed.remove_all(&mut t).is_empty());
    assert!(installed.is_empty());

    let table = t.table();
    assert_eq!(table.len(), 1);
    assert_eq!(table[0].0, foreign);
    assert_eq!(table[0].1, vec![theirs]);
}
