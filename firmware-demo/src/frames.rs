//! The bytes the protocol loop puts on the wire and takes off it, built and read with
//! smoltcp's wire types: the IPv4 header of an advert (smoltcp's raw socket hands over
//! and takes whole IP packets), the gratuitous ARP frame (smoltcp has no API for it),
//! and the TOS of outgoing adverts (smoltcp re-emits the IP header of raw packets with
//! TOS 0, so the device wrapper sets it on the frame; see [`crate::device`]).

use core::net::{IpAddr, Ipv4Addr};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpProtocol, Ipv4Packet, Ipv4Repr,
};
use vigil_core::wire::{PROTOCOL, RxMeta, TTL};

/// The length of the IPv4 header the loop writes (no options).
pub const IPV4_HEADER_LEN: usize = 20;
/// The TOS byte of every advert: DSCP CS6 (48), "network control", as keepalived and
/// vigild send it.
pub const TOS_NETWORK_CONTROL: u8 = 0xc0;
/// Length of an Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of a gratuitous ARP frame (Ethernet 14 + ARP 28), as keepalived sends it.
pub const GARP_LEN: usize = 42;

/// Why a received IP packet was not handed to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpError {
    /// Not a well-formed IPv4 packet (length, IHL, version, header checksum).
    Malformed,
    /// Another IP protocol than 112 (the raw socket filters, so this is a bug guard).
    Protocol(u8),
    /// A fragment: VRRP adverts are never fragmented.
    Fragment,
}

/// An advert as it came off the raw socket: what the IP header said, and the VRRP
/// message (the IP payload, by the header's total length, not the frame's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub meta: RxMeta,
    pub payload: &'a [u8],
}

/// Reads the IPv4 header of a packet from the raw socket: source, destination and TTL
/// for [`RxMeta`], and the payload. The header length comes from IHL, never assumed.
pub fn parse_ipv4(packet: &[u8]) -> Result<Received<'_>, IpError> {
    let ip = Ipv4Packet::new_checked(packet).map_err(|_| IpError::Malformed)?;
    if ip.version() != 4 || !ip.verify_checksum() {
        return Err(IpError::Malformed);
    }
    let protocol = u8::from(ip.next_header());
    if protocol != PROTOCOL {
        return Err(IpError::Protocol(protocol));
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(IpError::Fragment);
    }
    Ok(Received {
        meta: RxMeta {
            src: IpAddr::V4(ip.src_addr()),
            dst: IpAddr::V4(ip.dst_addr()),
            ttl: ip.hop_limit(),
        },
        payload: ip.payload(),
    })
}

/// Writes the IPv4 header of an advert of `payload_len` bytes from `src` to `dst` into
/// the first [`IPV4_HEADER_LEN`] bytes of `buf`: TTL 255, protocol 112, TOS 0xc0, header
/// checksum. Returns `None` if `buf` is shorter than the whole packet.
pub fn emit_ipv4_header(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload_len: usize,
) -> Option<()> {
    let total = IPV4_HEADER_LEN.checked_add(payload_len)?;
    if buf.len() < total || total > usize::from(u16::MAX) {
        return None;
    }
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Unknown(PROTOCOL),
        payload_len,
        hop_limit: TTL,
    };
    let mut packet = Ipv4Packet::new_unchecked(&mut buf[..total]);
    repr.emit(&mut packet, &smoltcp::phy::ChecksumCapabilities::default());
    set_tos(&mut packet);
    Some(())
}

fn set_tos<T: AsRef<[u8]> + AsMut<[u8]>>(packet: &mut Ipv4Packet<T>) {
    packet.set_dscp(TOS_NETWORK_CONTROL >> 2);
    packet.set_ecn(TOS_NETWORK_CONTROL & 0x03);
    packet.fill_checksum();
}

/// Sets TOS 0xc0 (and the header checksum) on an outgoing Ethernet frame if it carries a
/// VRRP advert sent with TOS 0 (smoltcp's raw socket loses the TOS the loop wrote).
/// Returns whether the frame was changed. Any other frame is left alone.
pub fn mark_vrrp_frame(frame: &mut [u8]) -> bool {
    let Ok(mut eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return false;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked(eth.payload_mut()) else {
        return false;
    };
    if u8::from(ip.next_header()) != PROTOCOL || ip.dscp() != 0 || ip.ecn() != 0 {
        return false;
    }
    set_tos(&mut ip);
    true
}

/// Length of an ARP request frame (Ethernet 14 + ARP 28).
pub const ARP_LEN: usize = 42;

/// Writes an ARP request (broadcast) from `mac`/`ip` asking for `target`'s MAC: how the
/// loop resolves a unicast peer itself. Returns the frame length, or `None` if `buf` is
/// shorter than [`ARP_LEN`].
pub fn emit_arp_request(
    buf: &mut [u8],
    mac: EthernetAddress,
    ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Option<usize> {
    emit_arp(
        buf,
        mac,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        },
    )
}

fn emit_arp(buf: &mut [u8], mac: EthernetAddress, arp: ArpRepr) -> Option<usize> {
    let buf = buf.get_mut(..ARP_LEN)?;
    let eth = EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = EthernetFrame::new_unchecked(buf);
    eth.emit(&mut frame);
    arp.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
    Some(ARP_LEN)
}

/// Who sent a received frame: its source MAC and the IPv4 address it speaks for (the
/// IPv4 source, or an ARP packet's sender address), if the MAC is unicast. The loop
/// learns its unicast peers' MACs from this.
pub fn frame_sender(frame: &[u8]) -> Option<(EthernetAddress, Ipv4Addr)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let mac = eth.src_addr();
    if !mac.is_unicast() {
        return None;
    }
    let ip = match eth.ethertype() {
        EthernetProtocol::Ipv4 => Ipv4Packet::new_checked(eth.payload()).ok()?.src_addr(),
        EthernetProtocol::Arp => {
            let arp = ArpPacket::new_checked(eth.payload()).ok()?;
            let spa: [u8; 4] = arp.source_protocol_addr().try_into().ok()?;
            Ipv4Addr::from(spa)
        }
        _ => return None,
    };
    Some((mac, ip))
}

/// Writes the gratuitous ARP keepalived sends for `vip` from `mac` (an ARP request to
/// the broadcast address, sender and target address both the VIP, target hardware
/// address broadcast) into `buf`. Returns the frame length, or `None` if `buf` is
/// shorter than [`GARP_LEN`].
pub fn emit_garp(buf: &mut [u8], mac: EthernetAddress, vip: Ipv4Addr) -> Option<usize> {
    emit_arp(
        buf,
        mac,
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: mac,
            source_protocol_addr: vip,
            target_hardware_addr: EthernetAddress::BROADCAST,
            target_protocol_addr: vip,
        },
    )
}

/// Writes an Ethernet header from `src` to `dst` for an IPv4 packet into the first 14
/// bytes of `buf`. Returns `None` if `buf` is shorter.
pub fn emit_ethernet_ipv4(
    buf: &mut [u8],
    src: EthernetAddress,
    dst: EthernetAddress,
) -> Option<()> {
    if buf.len() < ETHERNET_HEADER_LEN {
        return None;
    }
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(buf));
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived 2.2.7's gratuitous ARP for 10.99.0.50 from 02:99:00:00:00:12 (the same
    /// capture vigild's announce test uses).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x0a, 0x63,
        0x00, 0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x32,
    ];

    #[test]
    fn garp_matches_keepalived() {
        let mut buf = [0u8; 64];
        let n = emit_garp(
            &mut buf,
            EthernetAddress([0x02, 0x99, 0, 0, 0, 0x12]),
            Ipv4Addr::new(10, 99, 0, 50),
        )
        .unwrap();
        assert_eq!(&buf[..n], &KEEPALIVED_GARP);
        assert_eq!(
            emit_garp(&mut buf[..41], EthernetAddress([2; 6]), vip()),
            None
        );
    }

    fn vip() -> Ipv4Addr {
        Ipv4Addr::new(10, 99, 0, 50)
    }

    #[test]
    fn arp_request_and_sender() {
        let mut buf = [0u8; ARP_LEN];
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let (me, peer) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        emit_arp_request(&mut buf, mac, me, peer).unwrap();
        let arp = ArpRepr::parse(&ArpPacket::new_checked(&buf[14..]).unwrap()).unwrap();
        assert!(matches!(
            arp,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_protocol_addr,
                target_protocol_addr,
                ..
            } if source_protocol_addr == me && target_protocol_addr == peer
        ));
        assert_eq!(frame_sender(&buf), Some((mac, me)));
        let mut ip = [0u8; 14 + 40];
        emit_ethernet_ipv4(&mut ip, mac, EthernetAddress([2; 6])).unwrap();
        emit_ipv4_header(&mut ip[14..], peer, me, 20).unwrap();
        assert_eq!(frame_sender(&ip), Some((mac, peer)));
        // A multicast source MAC teaches nothing.
        ip[6] = 1;
        assert_eq!(frame_sender(&ip), None);
    }

    #[test]
    fn header_round_trip() {
        let mut buf = [0u8; 40];
        let (src, dst) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(224, 0, 0, 18));
        emit_ipv4_header(&mut buf, src, dst, 20).unwrap();
        assert_eq!(buf[1], TOS_NETWORK_CONTROL);
        assert_eq!(buf[8], 255);
        assert_eq!(buf[9], 112);
        let rx = parse_ipv4(&buf).unwrap();
        assert_eq!(rx.meta.src, IpAddr::V4(src));
        assert_eq!(rx.meta.dst, IpAddr::V4(dst));
        assert_eq!(rx.meta.ttl, 255);
        assert_eq!(rx.payload.len(), 20);
        assert_eq!(emit_ipv4_header(&mut buf[..39], src, dst, 20), None);
    }

    #[test]
    fn parse_reads_ihl_and_ignores_padding() {
        // A 24-byte header (one 4-byte option: NOP x4), 12 bytes of payload, then
        // Ethernet padding that is not part of the packet.
        let mut buf = [0u8; 48];
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&36u16.to_be_bytes());
        buf[8] = 255;
        buf[9] = 112;
        buf[12..16].copy_from_slice(&[10, 0, 0, 2]);
        buf[16..20].copy_from_slice(&[224, 0, 0, 18]);
        buf[20..24].copy_from_slice(&[1, 1, 1, 1]);
        buf[24] = 0x31;
        Ipv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let rx = parse_ipv4(&buf).unwrap();
        assert_eq!(rx.payload.len(), 12);
        assert_eq!(rx.payload[0], 0x31);
        let mut bad = buf;
        bad[9] = 17;
        Ipv4Packet::new_unchecked(&mut bad[..]).fill_checksum();
        assert_eq!(parse_ipv4(&bad), Err(IpError::Protocol(17)));
        let mut corrupt = buf;
        corrupt[8] = 254;
        assert_eq!(parse_ipv4(&corrupt), Err(IpError::Malformed));
        assert_eq!(parse_ipv4(&buf[..30]), Err(IpError::Malformed));
    }

    #[test]
    fn marks_only_vrrp_frames_with_tos_zero() {
        let mut frame = [0u8; 14 + 40];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        let src = Ipv4Addr::new(10, 0, 0, 1);
        emit_ipv4_header(&mut frame[14..], src, Ipv4Addr::new(224, 0, 0, 18), 20).unwrap();
        // As smoltcp re-emits it: TOS 0.
        {
            let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
            ip.set_dscp(0);
            ip.fill_checksum();
        }
        assert!(mark_vrrp_frame(&mut frame));
        assert_eq!(frame[15], TOS_NETWORK_CONTROL);
        assert!(
            Ipv4Packet::new_checked(&frame[14..])
                .unwrap()
                .verify_checksum()
        );
        // Already marked: untouched.
        assert!(!mark_vrrp_frame(&mut frame));
        // Not VRRP: untouched.
        frame[14 + 9] = 1;
        frame[15] = 0;
        assert!(!mark_vrrp_frame(&mut frame));
        assert!(!mark_vrrp_frame(&mut frame[..20]));
    }
}
