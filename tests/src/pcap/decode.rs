//! Frame decoding: link-layer headers, then IPv4 / IPv6 down to the VRRP message.

use super::{Error, Frame, Vrrp, be16, linktype, slice};
use core::net::{IpAddr, Ipv6Addr};
use vigil_core::wire::PROTOCOL;
use vigil_core::wire::ipv4::{Ipv4Error, Ipv4Header};

/// The VRRP message a frame carries, if it carries one (`Ok(None)` for ARP, other IP
/// protocols and the like).
pub fn vrrp_in_frame<'a>(frame: &Frame<'a>) -> Result<Option<Vrrp<'a>>, Error> {
    let n = frame.number;
    let bad = |reason| Error::Packet { frame: n, reason };
    let d = frame.data;
    let (net, ip) = match frame.link_type {
        linktype::ETHERNET => {
            let ethertype = be16(d, 12).ok_or(bad("truncated Ethernet header"))?;
            match by_ethertype(d, ethertype, 14).ok_or(bad("truncated VLAN tag"))? {
                Some(x) => x,
                None => return Ok(None),
            }
        }
        linktype::LINUX_SLL => {
            let protocol = be16(d, 14).ok_or(bad("truncated SLL header"))?;
            match by_ethertype(d, protocol, 16).ok_or(bad("truncated VLAN tag"))? {
                Some(x) => x,
                None => return Ok(None),
            }
        }
        linktype::LINUX_SLL2 => {
            let protocol = be16(d, 0).ok_or(bad("truncated SLL2 header"))?;
            if d.len() < 20 {
                return Err(bad("truncated SLL2 header"));
            }
            match by_ethertype(d, protocol, 20).ok_or(bad("truncated VLAN tag"))? {
                Some(x) => x,
                None => return Ok(None),
            }
        }
        linktype::NULL | linktype::LOOP => {
            let raw = d.get(..4).ok_or(bad("truncated loopback header"))?;
            let raw = [raw[0], raw[1], raw[2], raw[3]];
            let be = u32::from_be_bytes(raw);
            // NULL uses the capturing host's byte order, which the file does not record.
            let le = if frame.link_type == linktype::NULL {
                u32::from_le_bytes(raw)
            } else {
                be
            };
            let net = if be == AF_INET || le == AF_INET {
                Net::V4
            } else if AF_INET6.contains(&be) || AF_INET6.contains(&le) {
                Net::V6
            } else {
                return Ok(None);
            };
            (net, &d[4..])
        }
        linktype::RAW => match d.first().map(|b| b >> 4) {
            Some(4) => (Net::V4, d),
            Some(6) => (Net::V6, d),
            Some(_) => return Err(bad("raw IP frame is neither IPv4 nor IPv6")),
            None => return Err(bad("empty raw IP frame")),
        },
        linktype::IPV4 => (Net::V4, d),
        linktype::IPV6 => (Net::V6, d),
        link_type => {
            return Err(Error::LinkType {
                frame: n,
                link_type,
            });
        }
    };
    match net {
        Net::V4 => ipv4(n, ip),
        Net::V6 => ipv6(n, ip),
    }
}

const AF_INET: u32 = 2;
/// Linux, NetBSD/OpenBSD, FreeBSD, macOS: every BSD picked its own number.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

#[derive(Debug, Clone, Copy)]
enum Net {
    V4,
    V6,
}

/// Maps an ethertype at `off` (after skipping VLAN tags) to the network layer.
/// `None` when a VLAN tag is cut short; `Some(None)` for a protocol other than IP.
fn by_ethertype(d: &[u8], mut ethertype: u16, mut off: usize) -> Option<Option<(Net, &[u8])>> {
    // 802.1Q, 802.1ad and the pre-standard QinQ type: 2 bytes of TCI, then the next type.
    while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
        ethertype = be16(d, off + 2)?;
        off += 4;
    }
    let net = match ethertype {
        0x0800 => Net::V4,
        0x86dd => Net::V6,
        _ => return Some(None),
    };
    Some(Some((net, d.get(off..)?)))
}

fn ipv4(frame: usize, d: &[u8]) -> Result<Option<Vrrp<'_>>, Error> {
    let bad = |reason| Error::Packet { frame, reason };
    let header = Ipv4Header::new_checked(d).map_err(|e| {
        bad(match e {
            Ipv4Error::Truncated => "truncated IPv4 header",
            Ipv4Error::Version(_) => "IPv4 header with a version other than 4",
            Ipv4Error::HeaderLength(_) => "IPv4 IHL below 5",
            Ipv4Error::OptionsTruncated => "IPv4 options cut short",
            _ => "IPv4 total length shorter than its header",
        })
    })?;
    // Other protocols are skipped even when the capture cut them short (snap length).
    if header.protocol() != PROTOCOL {
        return Ok(None);
    }
    let payload = header
        .payload()
        .map_err(|_| bad("IPv4 total length exceeds the captured frame"))?;
    if header.is_fragment() {
        return Err(bad("fragmented IPv4 VRRP packet"));
    }
    let meta = header.rx_meta();
    Ok(Some(Vrrp {
        frame,
        src: meta.src,
        dst: meta.dst,
        ttl: meta.ttl,
        payload,
    }))
}

fn ipv6(frame: usize, d: &[u8]) -> Result<Option<Vrrp<'_>>, Error> {
    let bad = |reason| Error::Packet { frame, reason };
    if d.len() < 40 {
        return Err(bad("truncated IPv6 header"));
    }
    if d[0] >> 4 != 6 {
        return Err(bad("IPv6 header with a version other than 6"));
    }
    let end = 40 + usize::from(u16::from_be_bytes([d[4], d[5]]));
    // Extension headers are walked within what is both declared and captured.
    let avail = &d[..end.min(d.len())];
    let mut next = d[6];
    let mut off = 40;
    loop {
        match next {
            PROTOCOL => break,
            // Hop-by-hop, routing, destination options: length in 8-octet units, less one.
            0 | 43 | 60 => {
                let h = slice(avail, off, 2).ok_or(bad("IPv6 extension header cut short"))?;
                let len = (usize::from(h[1]) + 1) * 8;
                next = h[0];
                if off + len > avail.len() {
                    return Err(bad("IPv6 extension header cut short"));
                }
                off += len;
            }
            44 => {
                let h = slice(avail, off, 8).ok_or(bad("IPv6 fragment header cut short"))?;
                next = h[0];
                off += 8;
                // Offset or more-fragments set: not a whole packet. VRRP is never
                // fragmented by a conforming sender, so say so rather than skip it.
                if u16::from_be_bytes([h[2], h[3]]) & 0xfff9 != 0 {
                    return if next == PROTOCOL {
                        Err(bad("fragmented IPv6 VRRP packet"))
                    } else {
                        Ok(None)
                    };
                }
            }
            _ => return Ok(None),
        }
    }
    if end > d.len() {
        return Err(bad("IPv6 payload length exceeds the captured frame"));
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&d[8..24]);
    dst.copy_from_slice(&d[24..40]);
    Ok(Some(Vrrp {
        frame,
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
        ttl: d[7],
        payload: &d[off..end],
    }))
}
