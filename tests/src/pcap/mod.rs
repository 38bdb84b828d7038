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

use core::net::IpAddr;
use std::fmt;
use vigil_core::wire::RxMeta;

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

mod decode;
mod file;

pub use decode::vrrp_in_frame;
pub use file::{frames, timestamps_ns};

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

#[cfg(test)]
mod tests;
