//! A small, dependency-free reader for packet captures, just enough to pull VRRP messages
//! out of whatever tcpdump, tshark or dumpcap wrote.
//!
//! - Containers: classic pcap (either byte order, microsecond or nanosecond magic) and
//!   pcapng (Section Header, Interface Description, Enhanced and Simple Packet blocks,
//!   either byte order, several sections; other blocks are skipped). tshark and dumpcap
//!   write pcapng even under a `.pcap` name, so the format is taken from the magic, never
//!   from the file name.
//! - Link types: Ethernet (with 802.1Q / 802.1ad tags), raw IP (101, 228, 229), Linux
//!   cooked SLL and SLL2, BSD loopback (null and `LOOP`).
//! - Network layer: IPv4 (the header length from IHL, the message length from the IP
//!   total length, since Ethernet pads short frames) and IPv6 (hop-by-hop, routing,
//!   destination-options and atomic fragment headers are walked).
//!
//! Frames are numbered from 1, as Wireshark numbers them, so that a failure can be looked
//! up in a `tshark -V` listing. Malformed input yields an [`Error`]; nothing here panics on
//! any input (the unit tests feed it truncations and random mutations to make sure).

use core::net::{IpAddr, Ipv6Addr};
use std::fmt;
use vigil_core::wire::ipv4::{Ipv4Error, Ipv4Header};
use vigil_core::wire::{PROTOCOL, RxMeta};

/// Link-layer header types (<https://www.tcpdump.org/linktypes.html>) this reader decodes.
pub mod linktype {
    /// BSD loopback: a 4-byte address family in the byte order of the capturing host.
    pub const NULL: u32 = 0;
    pub const ETHERNET: u32 = 1;
    /// Raw IP, the version taken from the first nibble.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: like [`NULL`] but always big-endian.
    pub const LOOP: u32 = 108;
    pub const LINUX_SLL: u32 = 113;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const LINUX_SLL2: u32 = 276;
}

/// One captured frame, as the capture file stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based, counting every packet record in the file (Wireshark's frame number).
    pub number: usize,
    pub link_type: u32,
    /// The captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
}

/// A VRRP message found in a capture, with what the IP layer said about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vrrp<'a> {
    /// The 1-based number of the frame that carried it.
    pub frame: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The VRRP message: the IP payload, cut at the IP (not the frame) length.
    pub payload: &'a [u8],
}

impl Vrrp<'_> {
    /// What a host would hand to `Repr::parse` for this message.
    pub fn rx_meta(&self) -> RxMeta {
        RxMeta {
            src: self.src,
            dst: self.dst,
            ttl: self.ttl,
        }
    }
}

/// Why a capture could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    Magic([u8; 4]),
    /// A classic pcap file of a major version other than 2.
    Version { major: u16, minor: u16 },
    /// The file ends inside the header, record or block that starts at `offset`.
    Truncated { offset: usize },
    /// A pcapng block that cannot be walked (impossible lengths, bad byte-order magic...).
    Block { offset: usize, reason: &'static str },
    /// pcapng: a packet names an interface no Interface Description Block declared.
    Interface { frame: usize, id: u32 },
    /// A link type this reader does not decode.
    LinkType { frame: usize, link_type: u32 },
    /// A frame whose link or IP headers are inconsistent or cut short.
    Packet { frame: usize, reason: &'static str },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Magic(m) => write!(f, "not a pcap or pcapng file (magic {m:02x?})"),
            Error::Version { major, minor } => {
                write!(f, "unsupported pcap version {major}.{minor}")
            }
            Error::Truncated { offset } => {
                write!(f, "file truncated inside the record at offset {offset}")
            }
            Error::Block { offset, reason } => {
                write!(f, "bad pcapng block at offset {offset}: {reason}")
            }
            Error::Interface { frame, id } => {
                write!(f, "frame {frame}: undeclared pcapng interface {id}")
            }
            Error::LinkType { frame, link_type } => {
                write!(f, "frame {frame}: unsupported link type {link_type}")
            }
            Error::Packet { frame, reason } => write!(f, "frame {frame}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Every frame of a classic pcap or pcapng file, in file order.
pub fn frames(file: &[u8]) -> Result<Vec<Frame<'_>>, Error> {
    let magic: [u8; 4] = match file.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(Error::Truncated { offset: 0 }),
    };
    match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => classic(file, Endian::Big),
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => classic(file, Endian::Little),
        PCAPNG_SHB => pcapng(file),
        other => Err(Error::Magic(other)),
    }
}

/// The capture time of every frame of a classic pcap file, in nanoseconds since the
/// epoch, in the order of [`frames`] (microsecond files are scaled up). pcapng files, whose
/// timestamp unit is per interface, are refused with [`Error::Magic`].
pub fn timestamps_ns(file: &[u8]) -> Result<Vec<u64>, Error> {
    let magic: [u8; 4] = match file.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(Error::Truncated { offset: 0 }),
    };
    let (endian, frac_ns) = match magic {
        [0xa1, 0xb2, 0xc3, 0xd4] => (Endian::Big, 1_000),
        [0xa1, 0xb2, 0x3c, 0x4d] => (Endian::Big, 1),
        [0xd4, 0xc3, 0xb2, 0xa1] => (Endian::Little, 1_000),
        [0x4d, 0x3c, 0xb2, 0xa1] => (Endian::Little, 1),
        other => return Err(Error::Magic(other)),
    };
    let mut out = Vec::new();
    let mut off = 24;
    if file.len() < off {
        return Err(Error::Truncated { offset: 0 });
    }
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let secs = endian.u32(file, off).ok_or(truncated.clone())?;
        let frac = endian.u32(file, off + 4).ok_or(truncated.clone())?;
        let caplen = endian.usize(file, off + 8).ok_or(truncated.clone())?;
        slice(file, off + 16, caplen).ok_or(truncated)?;
        out.push(u64::from(secs) * 1_000_000_000 + u64::from(frac) * frac_ns);
        off += 16 + caplen;
    }
    Ok(out)
}

/// Every VRRP message in a capture, in file order.
pub fn vrrp_messages(file: &[u8]) -> Result<Vec<Vrrp<'_>>, Error> {
    let mut out = Vec::new();
    for frame in frames(file)? {
        if let Some(v) = vrrp_in_frame(&frame)? {
            out.push(v);
        }
    }
    Ok(out)
}

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

const PCAPNG_SHB: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const AF_INET: u32 = 2;
/// Linux, NetBSD/OpenBSD, FreeBSD, macOS: every BSD picked its own number.
const AF_INET6: [u32; 4] = [10, 24, 28, 30];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, d: &[u8], off: usize) -> Option<u16> {
        let b = d.get(off..off.checked_add(2)?)?;
        let b = [b[0], b[1]];
        Some(match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        })
    }

    fn u32(self, d: &[u8], off: usize) -> Option<u32> {
        let b = d.get(off..off.checked_add(4)?)?;
        let b = [b[0], b[1], b[2], b[3]];
        Some(match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        })
    }

    fn usize(self, d: &[u8], off: usize) -> Option<usize> {
        self.u32(d, off).and_then(|v| usize::try_from(v).ok())
    }
}

fn be16(d: &[u8], off: usize) -> Option<u16> {
    Endian::Big.u16(d, off)
}

/// `len` bytes of `d` from `off`, if they are all there.
fn slice(d: &[u8], off: usize, len: usize) -> Option<&[u8]> {
    d.get(off..off.checked_add(len)?)
}

fn classic(file: &[u8], endian: Endian) -> Result<Vec<Frame<'_>>, Error> {
    let header = file.get(..24).ok_or(Error::Truncated { offset: 0 })?;
    let (major, minor) = (
        endian.u16(header, 4).unwrap_or(0),
        endian.u16(header, 6).unwrap_or(0),
    );
    if major != 2 {
        return Err(Error::Version { major, minor });
    }
    // The upper bits of the link-type word carry FCS information; the FCS, if any, lies
    // past the IP total length and is never read.
    let link_type = endian.u32(header, 20).unwrap_or(0) & 0xffff;
    let mut frames = Vec::new();
    let mut off = 24;
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let caplen = endian.usize(file, off + 8).ok_or(truncated.clone())?;
        let data = slice(file, off + 16, caplen).ok_or(truncated)?;
        frames.push(Frame {
            number: frames.len() + 1,
            link_type,
            data,
        });
        off += 16 + caplen;
    }
    Ok(frames)
}

/// pcapng block types this reader understands.
mod block {
    pub const SHB: u32 = 0x0a0d_0d0a;
    pub const IDB: u32 = 1;
    pub const SPB: u32 = 3;
    pub const EPB: u32 = 6;
}

fn pcapng(file: &[u8]) -> Result<Vec<Frame<'_>>, Error> {
    let mut frames = Vec::new();
    let mut endian = Endian::Little;
    // (link type, snap length) of each interface of the current section.
    let mut interfaces: Vec<(u32, usize)> = Vec::new();
    let mut off = 0;
    while off < file.len() {
        let truncated = Error::Truncated { offset: off };
        let bad = |reason| Error::Block {
            offset: off,
            reason,
        };
        if file.get(off..off + 4) == Some(&PCAPNG_SHB[..]) {
            // A new section: its byte order is given by the magic after the length.
            endian = match file.get(off + 8..off + 12).ok_or(truncated.clone())? {
                [0x1a, 0x2b, 0x3c, 0x4d] => Endian::Big,
                [0x4d, 0x3c, 0x2b, 0x1a] => Endian::Little,
                _ => return Err(bad("bad byte-order magic in section header")),
            };
            interfaces.clear();
        } else if off == 0 {
            return Err(bad("the first block is not a section header"));
        }
        let block_type = endian.u32(file, off).ok_or(truncated.clone())?;
        let total = endian.usize(file, off + 4).ok_or(truncated.clone())?;
        if total < 12 || !total.is_multiple_of(4) {
            return Err(bad("block length below 12 or not a multiple of 4"));
        }
        let whole = slice(file, off, total).ok_or(truncated)?;
        if endian.usize(whole, total - 4) != Some(total) {
            return Err(bad("trailing block length differs from the leading one"));
        }
        let body = &whole[8..total - 4];
        match block_type {
            block::SHB => {
                let major = endian.u16(body, 4).ok_or(bad("short section header"))?;
                if major != 1 || body.len() < 16 {
                    return Err(bad("section header of an unknown major version"));
                }
            }
            block::IDB => {
                let link_type = endian.u16(body, 0).ok_or(bad("short interface block"))?;
                let snaplen = endian.usize(body, 4).ok_or(bad("short interface block"))?;
                interfaces.push((u32::from(link_type), snaplen));
            }
            block::EPB => {
                let number = frames.len() + 1;
                let id = endian
                    .u32(body, 0)
                    .ok_or(bad("short enhanced packet block"))?;
                let caplen = endian
                    .usize(body, 12)
                    .ok_or(bad("short enhanced packet block"))?;
                let data = slice(body, 20, caplen)
                    .ok_or(bad("captured length exceeds the enhanced packet block"))?;
                let &(link_type, _) = usize::try_from(id)
                    .ok()
                    .and_then(|i| interfaces.get(i))
                    .ok_or(Error::Interface { frame: number, id })?;
                frames.push(Frame {
                    number,
                    link_type,
                    data,
                });
            }
            block::SPB => {
                let number = frames.len() + 1;
                let orig = endian
                    .usize(body, 0)
                    .ok_or(bad("short simple packet block"))?;
                let &(link_type, snaplen) = interfaces.first().ok_or(Error::Interface {
                    frame: number,
                    id: 0,
                })?;
                // The block does not say how much was captured: the smallest of the
                // original length, the snap length (0 = unlimited) and the padded body.
                let mut caplen = orig.min(body.len() - 4);
                if snaplen != 0 {
                    caplen = caplen.min(snaplen);
                }
                frames.push(Frame {
                    number,
                    link_type,
                    data: &body[4..4 + caplen],
                });
            }
            _ => {}
        }
        off += total;
    }
    Ok(frames)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    // keepalived-v2-mcast-adv1-steady, message 1 (the VRRP message only).
    const KA_V2: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x65, 0x1b, 0x0a, 0x63, 0x00, 0x32, b's', b'3', b'c',
        b'r', b'3', b't', 0, 0,
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
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0,
            0x07, 0x68, 0x02, 0x6b, 0xea, 0x3b, 0x05, 0, 0x36, 0, 0, 0, 0x36, 0, 0, 0,
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
}
