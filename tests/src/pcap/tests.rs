use super::file::block;
use super::*;
use core::net::{Ipv4Addr, Ipv6Addr};
use vigil_core::wire::PROTOCOL;

// keepalived-v2-mcast-adv1-steady, message 1 (the VRRP message only).
const KA_V2: [u8; 20] = [
    0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, b's', b'3', b'c', b'r',
    b'3', b't', 0, 0,
];
const SRC4: [u8; 4] = [10, 99, 0, 11];
const GROUP4: [u8; 4] = [224, 0, 0, 18];
const SRC6: [u8; 16] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11];
const GROUP6: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12];

/// An IPv4 header (with `options`, a multiple of 4 bytes) carrying `payload`.
fn ipv4_packet(proto: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
    let ihl = 20 + options.len();
    let total = u16::try_from(ihl + payload.len()).unwrap();
    let mut p = vec![0x40 | u8::try_from(ihl / 4).unwrap(), 0xc0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1, 0, 0, 255, proto, 0, 0]);
    p.extend_from_slice(&SRC4);
    p.extend_from_slice(&GROUP4);
    p.extend_from_slice(options);
    p.extend_from_slice(payload);
    p
}

/// An IPv6 header whose first next header is `next`, then `ext` and `payload`.
fn ipv6_packet(next: u8, ext: &[u8], payload: &[u8]) -> Vec<u8> {
    let plen = u16::try_from(ext.len() + payload.len()).unwrap();
    let mut p = vec![0x6c, 0, 0, 0];
    p.extend_from_slice(&plen.to_be_bytes());
    p.extend_from_slice(&[next, 255]);
    p.extend_from_slice(&SRC6);
    p.extend_from_slice(&GROUP6);
    p.extend_from_slice(ext);
    p.extend_from_slice(payload);
    p
}

/// An Ethernet frame with the given VLAN tag protocol IDs, padded to 60 bytes.
fn ether(ethertype: u16, tags: &[u16], ip: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x01, 0x00, 0x5e, 0x00, 0x00, 0x12, 0x02, 0x99, 0, 0, 0, 0x11,
    ];
    for (i, tpid) in tags.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + u16::try_from(i).unwrap()).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn put16(out: &mut Vec<u8>, v: u16, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn put32(out: &mut Vec<u8>, v: u32, big: bool) {
    out.extend_from_slice(&if big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    });
}

fn classic_file(big: bool, nanos: bool, link_type: u32, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    put32(&mut f, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, big);
    put16(&mut f, 2, big);
    put16(&mut f, 4, big);
    for v in [0, 0, 262_144, link_type] {
        put32(&mut f, v, big);
    }
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).unwrap();
        for v in [1_700_000_000, u32::try_from(i).unwrap(), len, len] {
            put32(&mut f, v, big);
        }
        f.extend_from_slice(frame);
    }
    f
}

fn ng_block(out: &mut Vec<u8>, big: bool, block_type: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let total = u32::try_from(12 + padded).unwrap();
    put32(out, block_type, big);
    put32(out, total, big);
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    put32(out, total, big);
}

fn ng_section(out: &mut Vec<u8>, big: bool) {
    let mut shb = Vec::new();
    put32(&mut shb, 0x1a2b_3c4d, big);
    put16(&mut shb, 1, big);
    put16(&mut shb, 0, big);
    shb.extend_from_slice(&[0xff; 8]); // section length unknown
    ng_block(out, big, block::SHB, &shb);
}

fn ng_interface(out: &mut Vec<u8>, big: bool, link_type: u16, snaplen: u32) {
    let mut idb = Vec::new();
    put16(&mut idb, link_type, big);
    put16(&mut idb, 0, big);
    put32(&mut idb, snaplen, big);
    ng_block(out, big, block::IDB, &idb);
}

fn ng_epb(out: &mut Vec<u8>, big: bool, interface: u32, frame: &[u8]) {
    let len = u32::try_from(frame.len()).unwrap();
    let mut epb = Vec::new();
    for v in [interface, 0, 0, len, len] {
        put32(&mut epb, v, big);
    }
    epb.extend_from_slice(frame);
    ng_block(out, big, block::EPB, &epb);
}

fn ng_spb(out: &mut Vec<u8>, big: bool, frame: &[u8]) {
    let mut spb = Vec::new();
    put32(&mut spb, u32::try_from(frame.len()).unwrap(), big);
    spb.extend_from_slice(frame);
    ng_block(out, big, block::SPB, &spb);
}

fn v4_frame() -> Vec<u8> {
    ether(0x0800, &[], &ipv4_packet(PROTOCOL, &[], &KA_V2))
}

fn arp_frame() -> Vec<u8> {
    ether(0x0806, &[], &[0; 28])
}

fn assert_ka_v2(v: &Vrrp<'_>, frame: usize) {
    assert_eq!(v.frame, frame);
    assert_eq!(v.src, IpAddr::V4(Ipv4Addr::from(SRC4)));
    assert_eq!(v.dst, IpAddr::V4(Ipv4Addr::from(GROUP4)));
    assert_eq!(v.ttl, 255);
    assert_eq!(v.payload, &KA_V2);
}

#[test]
fn classic_in_all_four_magics() {
    for big in [false, true] {
        for nanos in [false, true] {
            let file = classic_file(big, nanos, 1, &[arp_frame(), v4_frame()]);
            let found = vrrp_messages(&file).unwrap();
            assert_eq!(found.len(), 1, "big {big} nanos {nanos}");
            assert_ka_v2(&found[0], 2);
        }
    }
}

#[test]
fn timestamps_in_all_four_magics_and_pcapng_refused() {
    for big in [false, true] {
        for nanos in [false, true] {
            let file = classic_file(big, nanos, 1, &[arp_frame(), v4_frame()]);
            let unit = if nanos { 1 } else { 1_000 };
            let base = 1_700_000_000 * 1_000_000_000;
            assert_eq!(timestamps_ns(&file).unwrap(), vec![base, base + unit]);
            assert_eq!(frames(&file).unwrap().len(), 2);
            for cut in [10, 30, file.len() - 1] {
                assert!(timestamps_ns(&file[..cut]).is_err(), "cut at {cut}");
            }
        }
    }
    let mut ng = Vec::new();
    ng_section(&mut ng, false);
    assert!(matches!(timestamps_ns(&ng), Err(Error::Magic(_))));
}

#[test]
fn reads_the_shared_keepalived_capture_header_layout() {
    // The first 24 + 16 bytes of keepalived-v2-mcast-adv1-steady.pcap, then frame 1.
    let mut file = vec![
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0, 0x07,
        0x68, 0x02, 0x6b, 0xea, 0x3b, 0x05, 0, 0x36, 0, 0, 0, 0x36, 0, 0, 0,
    ];
    let mut ip = ipv4_packet(PROTOCOL, &[], &KA_V2);
    ip[4..12].copy_from_slice(&[0, 4, 0, 0, 0xff, 0x70, 0xd0, 0x21]);
    let mut frame = vec![1, 0, 0x5e, 0, 0, 0x12, 2, 0x99, 0, 0, 0, 0x11, 8, 0];
    frame.extend_from_slice(&ip);
    assert_eq!(frame.len(), 0x36);
    file.extend_from_slice(&frame);
    let found = vrrp_messages(&file).unwrap();
    assert_eq!(found.len(), 1);
    assert_ka_v2(&found[0], 1);
}

#[test]
fn ethernet_padding_is_cut_at_the_ip_total_length() {
    let file = classic_file(false, false, 1, &[v4_frame()]);
    let f = frames(&file).unwrap();
    assert_eq!(f[0].data.len(), 60);
    assert_eq!(vrrp_in_frame(&f[0]).unwrap().unwrap().payload.len(), 20);
}

#[test]
fn pcapng_both_byte_orders_epb_spb_and_sections() {
    for big in [false, true] {
        let mut file = Vec::new();
        ng_section(&mut file, big);
        ng_interface(&mut file, big, 1, 0);
        ng_interface(&mut file, big, 113, 262_144);
        // An unknown block (name resolution) is skipped.
        ng_block(&mut file, big, 4, &[0; 4]);
        ng_epb(&mut file, big, 0, &arp_frame());
        ng_epb(&mut file, big, 0, &v4_frame());
        ng_spb(&mut file, big, &v4_frame());
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0x99, 0, 0, 0, 0x11, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ipv4_packet(PROTOCOL, &[], &KA_V2));
        ng_epb(&mut file, big, 1, &sll);
        // A second section in the other byte order restarts the interface list.
        ng_section(&mut file, !big);
        ng_interface(&mut file, !big, 229, 0);
        ng_epb(&mut file, !big, 0, &ipv6_packet(PROTOCOL, &[], &[0x31; 8]));
        let found = vrrp_messages(&file).unwrap();
        let frames: Vec<usize> = found.iter().map(|v| v.frame).collect();
        assert_eq!(frames, [2, 3, 4, 5], "big {big}");
        for v in &found[..3] {
            assert_ka_v2(v, v.frame);
        }
        assert_eq!(found[3].payload, &[0x31; 8]);
        assert_eq!(found[3].dst, IpAddr::V6(Ipv6Addr::from(GROUP6)));
    }
}

#[test]
fn pcapng_rejects_undeclared_interface_and_bad_lengths() {
    let mut file = Vec::new();
    ng_section(&mut file, false);
    ng_interface(&mut file, false, 1, 0);
    let good = file.len();
    ng_epb(&mut file, false, 1, &v4_frame());
    assert_eq!(frames(&file), Err(Error::Interface { frame: 1, id: 1 }));
    // Trailing length that differs from the leading one.
    file.truncate(good);
    ng_epb(&mut file, false, 0, &v4_frame());
    let last = file.len() - 4;
    file[last] ^= 4;
    assert!(matches!(frames(&file), Err(Error::Block { .. })));
    // Captured length beyond the block.
    file.truncate(good);
    ng_epb(&mut file, false, 0, &v4_frame());
    file[good + 8 + 12] = 0xff;
    assert!(matches!(frames(&file), Err(Error::Block { .. })));
}

#[test]
fn linux_cooked_sll_and_sll2() {
    let ip = ipv4_packet(PROTOCOL, &[], &KA_V2);
    let mut sll = vec![0, 2, 0, 1, 0, 6, 2, 0x99, 0, 0, 0, 0x11, 0, 0, 0x08, 0x00];
    sll.extend_from_slice(&ip);
    let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 3, 0, 1, 2, 6];
    sll2.extend_from_slice(&[2, 0x99, 0, 0, 0, 0x11, 0, 0]);
    sll2.extend_from_slice(&ip);
    for (lt, frame) in [(linktype::LINUX_SLL, sll), (linktype::LINUX_SLL2, sll2)] {
        let file = classic_file(false, false, lt, &[frame]);
        let found = vrrp_messages(&file).unwrap();
        assert_eq!(found.len(), 1, "link type {lt}");
        assert_ka_v2(&found[0], 1);
    }
}

#[test]
fn vlan_tags_single_and_stacked() {
    let ip = ipv4_packet(PROTOCOL, &[], &KA_V2);
    for tags in [&[0x8100][..], &[0x88a8, 0x8100], &[0x9100, 0x8100]] {
        let file = classic_file(true, false, 1, &[ether(0x0800, tags, &ip)]);
        let found = vrrp_messages(&file).unwrap();
        assert_eq!(found.len(), 1, "tags {tags:04x?}");
        assert_ka_v2(&found[0], 1);
    }
}

#[test]
fn ipv4_options_are_skipped_by_ihl() {
    // Router Alert (RFC 2113), 4 bytes, then an 8-byte NOP-padded option area.
    for options in [&[0x94, 0x04, 0, 0][..], &[0x94, 0x04, 0, 0, 1, 1, 1, 0]] {
        let file = classic_file(
            false,
            false,
            1,
            &[ether(0x0800, &[], &ipv4_packet(PROTOCOL, options, &KA_V2))],
        );
        let found = vrrp_messages(&file).unwrap();
        assert_eq!(found.len(), 1);
        assert_ka_v2(&found[0], 1);
    }
}

#[test]
fn ipv6_walks_hop_by_hop_destination_options_and_atomic_fragment() {
    let payload = [0x31, 1, 100, 1, 0, 100, 0, 0];
    // Hop-by-hop (Router Alert + PadN, 8 bytes) -> destination options (8 bytes) ->
    // atomic fragment (offset 0, M clear) -> VRRP.
    let ext = [
        60, 0, 5, 2, 0, 0, 1, 0, // hop-by-hop: router alert, PadN(0)
        44, 0, 1, 4, 0, 0, 0, 0, // destination options: PadN(4)
        PROTOCOL, 0, 0, 0, 0, 0, 0, 1, // fragment: offset 0, M 0, id 1
    ];
    let ip = ipv6_packet(0, &ext, &payload);
    let file = classic_file(false, true, 1, &[ether(0x86dd, &[], &ip)]);
    let found = vrrp_messages(&file).unwrap();
    assert_eq!(found.len(), 1);
    let v = found[0];
    assert_eq!(v.payload, &payload);
    assert_eq!(v.src, IpAddr::V6(Ipv6Addr::from(SRC6)));
    assert_eq!(v.dst, IpAddr::V6(Ipv6Addr::from(GROUP6)));
    assert_eq!(v.ttl, 255);
    // A real fragment of a VRRP packet is reported, not silently dropped.
    let mut frag = ext;
    frag[19] = 1; // offset 0, M = 1: the first of several fragments
    let ip = ipv6_packet(0, &frag, &payload);
    let file = classic_file(false, true, 1, &[ether(0x86dd, &[], &ip)]);
    assert!(matches!(
        vrrp_messages(&file),
        Err(Error::Packet {
            reason: "fragmented IPv6 VRRP packet",
            ..
        })
    ));
}

#[test]
fn raw_ip_and_loopback_link_types() {
    let v4 = ipv4_packet(PROTOCOL, &[], &KA_V2);
    let v6 = ipv6_packet(PROTOCOL, &[], &[0x31; 8]);
    let mut null_le = 2u32.to_le_bytes().to_vec();
    null_le.extend_from_slice(&v4);
    let mut null_be = 30u32.to_be_bytes().to_vec();
    null_be.extend_from_slice(&v6);
    let mut lo = 24u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&v6);
    let cases = [
        (linktype::RAW, v4.clone(), true),
        (linktype::RAW, v6.clone(), false),
        (linktype::IPV4, v4, true),
        (linktype::IPV6, v6, false),
        (linktype::NULL, null_le, true),
        (linktype::NULL, null_be, false),
        (linktype::LOOP, lo, false),
    ];
    for (lt, frame, is_v4) in cases {
        let file = classic_file(false, false, lt, &[frame]);
        let found = vrrp_messages(&file).unwrap();
        assert_eq!(found.len(), 1, "link type {lt}");
        assert_eq!(found[0].src.is_ipv4(), is_v4, "link type {lt}");
    }
}

#[test]
fn non_vrrp_is_skipped_and_unknown_link_type_is_an_error() {
    let file = classic_file(
        false,
        false,
        1,
        &[arp_frame(), {
            ether(0x0800, &[], &ipv4_packet(17, &[], &[0; 8]))
        }],
    );
    assert_eq!(vrrp_messages(&file), Ok(vec![]));
    let file = classic_file(false, false, 147, &[v4_frame()]);
    assert_eq!(
        vrrp_messages(&file),
        Err(Error::LinkType {
            frame: 1,
            link_type: 147
        })
    );
}

#[test]
fn malformed_ip_headers_are_errors() {
    let good = ipv4_packet(PROTOCOL, &[], &KA_V2);
    let mut ihl4 = good.clone();
    ihl4[0] = 0x44;
    let mut long = good.clone();
    long[2..4].copy_from_slice(&200u16.to_be_bytes());
    let mut short = good.clone();
    short[2..4].copy_from_slice(&10u16.to_be_bytes());
    let mut frag = good.clone();
    frag[6] = 0x20; // more fragments
    let mut ihl15 = good.clone();
    ihl15[0] = 0x4f;
    for (name, ip) in [
        ("ihl 4", ihl4),
        ("total too long", long),
        ("total too short", short),
        ("fragment", frag),
        ("options past the end", ihl15),
    ] {
        let file = classic_file(false, false, linktype::IPV4, &[ip]);
        assert!(
            matches!(vrrp_messages(&file), Err(Error::Packet { frame: 1, .. })),
            "{name}"
        );
    }
}

#[test]
fn file_level_errors() {
    assert_eq!(frames(&[]), Err(Error::Truncated { offset: 0 }));
    assert_eq!(frames(b"GIF89a.."), Err(Error::Magic(*b"GIF8")));
    let mut file = classic_file(false, false, 1, &[v4_frame()]);
    file[4] = 3;
    assert_eq!(frames(&file), Err(Error::Version { major: 3, minor: 4 }));
    let file = classic_file(false, false, 1, &[v4_frame()]);
    assert_eq!(
        frames(&file[..file.len() - 1]),
        Err(Error::Truncated { offset: 24 })
    );
    assert_eq!(frames(&file[..30]), Err(Error::Truncated { offset: 24 }));
}

/// Every prefix and many random corruptions of valid files: errors, never panics.
#[test]
fn never_panics_on_truncated_or_corrupted_input() {
    let ip6 = ipv6_packet(0, &[PROTOCOL, 0, 1, 4, 0, 0, 0, 0], &[0x31; 8]);
    let mut files = vec![
        classic_file(false, false, 1, &[v4_frame(), arp_frame()]),
        classic_file(true, true, 1, &[ether(0x86dd, &[0x8100], &ip6)]),
        classic_file(false, false, linktype::LINUX_SLL2, &[vec![0x86, 0xdd]]),
        classic_file(false, false, linktype::NULL, &[vec![2, 0, 0, 0, 0x45]]),
    ];
    let mut ng = Vec::new();
    ng_section(&mut ng, true);
    ng_interface(&mut ng, true, 1, 64);
    ng_epb(&mut ng, true, 0, &v4_frame());
    ng_spb(&mut ng, true, &ether(0x86dd, &[], &ip6));
    files.push(ng);
    // A tiny xorshift generator keeps this test dependency-free and deterministic.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for file in &files {
        for len in 0..=file.len() {
            let _ = vrrp_messages(&file[..len]);
        }
        for _ in 0..2000 {
            let mut f = file.clone();
            for _ in 0..=(rand() % 4) {
                let i = usize::try_from(rand() % f.len() as u64).unwrap();
                f[i] = rand() as u8;
            }
            let _ = vrrp_messages(&f);
        }
    }
}
