//! ARP for IPv4 over Ethernet (RFC 826) as VRRP hosts send it: the gratuitous ARP that
//! announces a VIP (byte for byte as keepalived sends it), a plain request and a reply,
//! as whole Ethernet frames; the sender and target of a received ARP packet.

use core::net::Ipv4Addr;

use super::ethernet::{self, BROADCAST, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4};

/// Length of the ARP packet for IPv4 over Ethernet.
pub const ARP_LEN: usize = 28;
/// Length of an ARP frame (Ethernet header + ARP), as keepalived sends it (the driver
/// pads to 60 on a real wire).
pub const ARP_FRAME_LEN: usize = ETHERNET_HEADER_LEN + ARP_LEN;

const HTYPE_ETHERNET: u16 = 1;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// Writes the gratuitous ARP keepalived sends for `vip` from `mac`: an ARP request to
/// the broadcast address with sender and target address both the VIP and target
/// hardware address broadcast. Returns the frame length, or `None` if `buf` is shorter
/// than [`ARP_FRAME_LEN`].
pub fn emit_garp(buf: &mut [u8], mac: [u8; 6], vip: Ipv4Addr) -> Option<usize> {
    emit(buf, mac, vip, BROADCAST, vip)
}

/// Writes an ARP request (broadcast) from `mac`/`ip` asking for `target`'s MAC.
/// Returns the frame length, or `None` if `buf` is shorter than [`ARP_FRAME_LEN`].
pub fn emit_request(buf: &mut [u8], mac: [u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Option<usize> {
    emit(buf, mac, ip, [0; 6], target)
}

/// Writes an ARP reply from `mac`/`ip` to `target_mac`/`target` (sent to `target_mac`).
/// Returns the frame length, or `None` if `buf` is shorter than [`ARP_FRAME_LEN`].
pub fn emit_reply(
    buf: &mut [u8],
    (mac, ip): ([u8; 6], Ipv4Addr),
    (target_mac, target): ([u8; 6], Ipv4Addr),
) -> Option<usize> {
    emit_op(buf, target_mac, OP_REPLY, mac, ip, target_mac, target)
}

fn emit(
    buf: &mut [u8],
    mac: [u8; 6],
    sender: Ipv4Addr,
    target_mac: [u8; 6],
    target: Ipv4Addr,
) -> Option<usize> {
    emit_op(buf, BROADCAST, OP_REQUEST, mac, sender, target_mac, target)
}

fn emit_op(
    buf: &mut [u8],
    dst: [u8; 6],
    op: u16,
    mac: [u8; 6],
    sender: Ipv4Addr,
    target_mac: [u8; 6],
    target: Ipv4Addr,
) -> Option<usize> {
    let f = buf.get_mut(..ARP_FRAME_LEN)?;
    ethernet::emit_header(f, dst, mac, ETHERTYPE_ARP)?;
    let a = &mut f[ETHERNET_HEADER_LEN..];
    a[0..2].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a[4] = 6; // hardware address length
    a[5] = 4; // protocol address length
    a[6..8].copy_from_slice(&op.to_be_bytes());
    a[8..14].copy_from_slice(&mac);
    a[14..18].copy_from_slice(&sender.octets());
    a[18..24].copy_from_slice(&target_mac);
    a[24..28].copy_from_slice(&target.octets());
    Some(ARP_FRAME_LEN)
}

/// The sender hardware and protocol address of an ARP packet (the Ethernet payload),
/// if it is ARP for IPv4 over Ethernet.
pub fn sender(arp: &[u8]) -> Option<([u8; 6], Ipv4Addr)> {
    let a = arp.get(..ARP_LEN)?;
    if a[0..2] != HTYPE_ETHERNET.to_be_bytes()
        || a[2..4] != ETHERTYPE_IPV4.to_be_bytes()
        || a[4] != 6
        || a[5] != 4
    {
        return None;
    }
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&a[8..14]);
    Some((mac, Ipv4Addr::new(a[14], a[15], a[16], a[17])))
}

/// The target protocol address of an ARP packet (the Ethernet payload), if it is ARP
/// for IPv4 over Ethernet: whom it asks for, or whom it answers.
pub fn target(arp: &[u8]) -> Option<Ipv4Addr> {
    sender(arp)?;
    Some(Ipv4Addr::new(arp[24], arp[25], arp[26], arp[27]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived 2.2.7's gratuitous ARP for 10.99.0.50 from 02:99:00:00:00:12, from
    /// shared/vectors/keepalived-v2-mcast-adv1-takeover (tcpdump -xx).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x99, 0x00, 0x00, 0x00, 0x12, 0x0a, 0x63,
        0x00, 0x32, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0x32,
    ];

    #[test]
    fn garp_matches_keepalived() {
        let mut buf = [0u8; 64];
        let vip = Ipv4Addr::new(10, 99, 0, 50);
        let n = emit_garp(&mut buf, [0x02, 0x99, 0, 0, 0, 0x12], vip).unwrap();
        assert_eq!(&buf[..n], &KEEPALIVED_GARP);
        assert_eq!(emit_garp(&mut buf[..41], [2; 6], vip), None);
        assert_eq!(
            sender(&KEEPALIVED_GARP[14..]),
            Some(([0x02, 0x99, 0, 0, 0, 0x12], vip))
        );
    }

    #[test]
    fn request_and_sender() {
        let mut buf = [0u8; ARP_FRAME_LEN];
        let mac = [2, 0, 0, 0, 0, 1];
        let (me, peer) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(emit_request(&mut buf, mac, me, peer), Some(ARP_FRAME_LEN));
        assert_eq!(&buf[..6], &BROADCAST);
        assert_eq!(&buf[12..14], &[0x08, 0x06]);
        assert_eq!(&buf[20..22], &[0, 1]); // request
        assert_eq!(&buf[32..38], &[0; 6]);
        assert_eq!(&buf[38..42], &peer.octets());
        assert_eq!(sender(&buf[14..]), Some((mac, me)));
        assert_eq!(target(&buf[14..]), Some(peer));
        let mut reply = [0u8; ARP_FRAME_LEN];
        let them = [2; 6];
        assert_eq!(
            emit_reply(&mut reply, (them, peer), (mac, me)),
            Some(ARP_FRAME_LEN)
        );
        assert_eq!(&reply[..6], &mac);
        assert_eq!(&reply[20..22], &[0, 2]); // reply
        assert_eq!(&reply[32..38], &mac);
        assert_eq!(sender(&reply[14..]), Some((them, peer)));
        assert_eq!(target(&reply[14..]), Some(me));
        assert_eq!(emit_reply(&mut reply[..41], (them, peer), (mac, me)), None);
        // Not IPv4 over Ethernet, or cut short: no sender.
        let mut other = buf;
        other[18] = 16;
        assert_eq!(sender(&other[14..]), None);
        assert_eq!(target(&other[14..]), None);
        assert_eq!(sender(&buf[14..41]), None);
        assert_eq!(emit_request(&mut buf[..41], mac, me, peer), None);
    }
}
