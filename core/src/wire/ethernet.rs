//! The Ethernet II header, as far as VRRP hosts write and read it: the header of frames
//! they build themselves, who sent a frame, and the virtual MAC (RFC 5798 section 7.3).

use core::net::Ipv4Addr;

use super::Family;
use super::arp;
use super::ipv4::Ipv4Header;

/// Length of an Ethernet II header (no VLAN tag).
pub const ETHERNET_HEADER_LEN: usize = 14;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// ff:ff:ff:ff:ff:ff.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// The virtual router MAC of RFC 5798 section 7.3: 00:00:5e:00:01:VRID for IPv4,
/// 00:00:5e:00:02:VRID for IPv6 (keepalived's `use_vmac` address).
pub const fn virtual_mac(vrid: u8, family: Family) -> [u8; 6] {
    let f = match family {
        Family::V4 => 1,
        Family::V6 => 2,
    };
    [0x00, 0x00, 0x5e, 0x00, f, vrid]
}

/// Whether `mac` is a unicast address (the group bit of its first octet clear).
pub const fn is_unicast(mac: [u8; 6]) -> bool {
    mac[0] & 0x01 == 0
}

/// Writes an Ethernet header from `src` to `dst` for `ethertype` into the first
/// [`ETHERNET_HEADER_LEN`] bytes of `buf`. `None` if `buf` is shorter.
pub fn emit_header(buf: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Option<()> {
    let h = buf.get_mut(..ETHERNET_HEADER_LEN)?;
    h[0..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&src);
    h[12..14].copy_from_slice(&ethertype.to_be_bytes());
    Some(())
}

/// The EtherType and payload of an Ethernet II frame; `None` if shorter than a header.
pub fn payload(frame: &[u8]) -> Option<(u16, &[u8])> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    Some((ethertype, &frame[ETHERNET_HEADER_LEN..]))
}

/// Who sent a frame: its source MAC and the IPv4 address it speaks for (the IPv4
/// source, or an ARP packet's sender address), if the source MAC is unicast. How a host
/// that builds its own frames learns its unicast peers' MACs.
pub fn frame_sender(frame: &[u8]) -> Option<([u8; 6], Ipv4Addr)> {
    let (ethertype, body) = payload(frame)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&frame[6..12]);
    if !is_unicast(mac) {
        return None;
    }
    let ip = match ethertype {
        ETHERTYPE_IPV4 => Ipv4Header::new_checked(body).ok()?.src(),
        ETHERTYPE_ARP => arp::sender(body)?.1,
        _ => return None,
    };
    Some((mac, ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;

    #[test]
    fn virtual_mac_per_family() {
        assert_eq!(virtual_mac(51, Family::V4), [0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(virtual_mac(255, Family::V6), [0, 0, 0x5e, 0, 2, 255]);
        assert!(is_unicast(virtual_mac(1, Family::V4)));
        assert!(!is_unicast(BROADCAST));
    }

    #[test]
    fn header_and_sender_of_ipv4_and_arp() {
        let (mac, peer) = ([2, 0, 0, 0, 0, 1], [2; 6]);
        let (me, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut frame = [0u8; ETHERNET_HEADER_LEN + 40];
        emit_header(&mut frame, peer, mac, ETHERTYPE_IPV4).unwrap();
        assert_eq!(&frame[..14], &[2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 1, 8, 0]);
        Ipv4Repr::advert(them, me, 20)
            .emit(&mut frame[ETHERNET_HEADER_LEN..])
            .unwrap();
        assert_eq!(frame_sender(&frame), Some((mac, them)));
        let mut arp = [0u8; arp::ARP_FRAME_LEN];
        arp::emit_request(&mut arp, mac, me, them).unwrap();
        assert_eq!(frame_sender(&arp), Some((mac, me)));
        // A multicast source MAC teaches nothing; nor does IPv6 or a stub.
        frame[6] = 1;
        assert_eq!(frame_sender(&frame), None);
        frame[6] = 2;
        frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
        assert_eq!(frame_sender(&frame), None);
        assert_eq!(frame_sender(&frame[..13]), None);
        assert_eq!(emit_header(&mut frame[..13], peer, mac, 0), None);
    }
}
