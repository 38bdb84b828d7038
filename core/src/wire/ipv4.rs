//! The IPv4 header around an advert: read as IPv4 raw sockets, smoltcp's raw sockets and
//! packet captures deliver it, and written by hosts that build whole packets.
//!
//! [`Ipv4Header`] is a zero-copy view whose lengths were checked once, in
//! [`Ipv4Header::new_checked`]; no accessor can panic after that. The header length
//! comes from IHL (options are skipped, never assumed absent) and the payload ends at the
//! IP total length, not at the end of the buffer (Ethernet pads short frames).
//! [`parse_advert`] is what every VRRP receiver does with it: protocol 112, not a
//! fragment, the payload whole; out come the codec's [`RxMeta`] and the VRRP message.
//! [`Ipv4Repr::emit`] writes a header with its checksum.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};

use super::{PROTOCOL, RxMeta, TTL};

/// The IPv4 header without options: what [`Ipv4Repr::emit`] writes.
pub const IPV4_HEADER_LEN: usize = 20;
/// The TOS byte of every advert: DSCP CS6 (48), "network control", as keepalived sends
/// it.
pub const TOS_NETWORK_CONTROL: u8 = 0xc0;

const FLAG_DONT_FRAGMENT: u16 = 0x4000;
const FLAG_MORE_FRAGMENTS: u16 = 0x2000;
const FRAGMENT_OFFSET: u16 = 0x1fff;

/// What is wrong with an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Ipv4Error {
    /// Shorter than the 20-byte fixed header.
    Truncated,
    /// The version nibble is not 4.
    Version(u8),
    /// IHL below 5 (the header cannot be shorter than 20 bytes).
    HeaderLength(u8),
    /// The options (IHL) run past the end of the buffer.
    OptionsTruncated,
    /// The total length is shorter than the header.
    TotalLength(u16),
    /// The total length runs past the end of the buffer.
    PayloadTruncated,
    /// Another IP protocol than 112.
    Protocol(u8),
    /// A fragment: VRRP adverts are never fragmented.
    Fragment,
    /// On emit: the buffer is shorter than the packet, or the packet longer than 65,535.
    BufferTooSmall,
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ipv4Error::Truncated => write!(f, "truncated IPv4 header"),
            Ipv4Error::Version(v) => write!(f, "IPv4 header with version {v}"),
            Ipv4Error::HeaderLength(ihl) => write!(f, "IPv4 IHL {ihl} below 5"),
            Ipv4Error::OptionsTruncated => write!(f, "IPv4 options cut short"),
            Ipv4Error::TotalLength(t) => {
                write!(f, "IPv4 total length {t} shorter than its header")
            }
            Ipv4Error::PayloadTruncated => write!(f, "IPv4 total length exceeds the packet"),
            Ipv4Error::Protocol(p) => write!(f, "IP protocol {p}, not VRRP (112)"),
            Ipv4Error::Fragment => write!(f, "fragmented IPv4 VRRP packet"),
            Ipv4Error::BufferTooSmall => write!(f, "buffer too small for the IPv4 packet"),
        }
    }
}

impl core::error::Error for Ipv4Error {}

/// A received IPv4 packet whose version, IHL and total length are consistent with
/// each other and whose header (options included) lies within the buffer. The payload
/// may still be cut short (a capture's snap length): [`Ipv4Header::payload`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header<'a> {
    bytes: &'a [u8],
    header_len: usize,
    total_len: usize,
}

impl<'a> Ipv4Header<'a> {
    /// Checks the header's lengths. The header checksum is not verified here: the
    /// kernel and smoltcp verify it before they hand a packet over (see
    /// [`Ipv4Header::verify_checksum`] for who needs it).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, Ipv4Error> {
        let fixed = bytes.get(..IPV4_HEADER_LEN).ok_or(Ipv4Error::Truncated)?;
        if fixed[0] >> 4 != 4 {
            return Err(Ipv4Error::Version(fixed[0] >> 4));
        }
        let ihl = fixed[0] & 0x0f;
        let header_len = usize::from(ihl) * 4;
        if header_len < IPV4_HEADER_LEN {
            return Err(Ipv4Error::HeaderLength(ihl));
        }
        if header_len > bytes.len() {
            return Err(Ipv4Error::OptionsTruncated);
        }
        let total = u16::from_be_bytes([fixed[2], fixed[3]]);
        let total_len = usize::from(total);
        if total_len < header_len {
            return Err(Ipv4Error::TotalLength(total));
        }
        Ok(Ipv4Header {
            bytes,
            header_len,
            total_len,
        })
    }

    /// The header length in bytes (20 to 60).
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The total length field: header and payload.
    pub fn total_len(&self) -> usize {
        self.total_len
    }

    pub fn tos(&self) -> u8 {
        self.bytes[1]
    }

    pub fn ttl(&self) -> u8 {
        self.bytes[8]
    }

    pub fn protocol(&self) -> u8 {
        self.bytes[9]
    }

    pub fn src(&self) -> Ipv4Addr {
        let b = self.bytes;
        Ipv4Addr::new(b[12], b[13], b[14], b[15])
    }

    pub fn dst(&self) -> Ipv4Addr {
        let b = self.bytes;
        Ipv4Addr::new(b[16], b[17], b[18], b[19])
    }

    /// Whether this is part of a fragmented packet (more fragments, or an offset).
    pub fn is_fragment(&self) -> bool {
        let flags = u16::from_be_bytes([self.bytes[6], self.bytes[7]]);
        flags & (FLAG_MORE_FRAGMENTS | FRAGMENT_OFFSET) != 0
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        header_sum(&self.bytes[..self.header_len]) == 0xffff
    }

    /// The payload, cut at the total length; `PayloadTruncated` if the buffer ends
    /// before it.
    pub fn payload(&self) -> Result<&'a [u8], Ipv4Error> {
        self.bytes
            .get(self.header_len..self.total_len)
            .ok_or(Ipv4Error::PayloadTruncated)
    }

    /// What the codec needs to know of the IP layer.
    pub fn rx_meta(&self) -> RxMeta {
        RxMeta {
            src: IpAddr::V4(self.src()),
            dst: IpAddr::V4(self.dst()),
            ttl: self.ttl(),
        }
    }
}

/// Reads an IPv4 packet that should carry a VRRP advert: lengths consistent, protocol
/// 112, not a fragment, payload whole. Returns the header (its
/// [`Ipv4Header::rx_meta`] is what [`super::Repr::parse`] wants) and the VRRP message.
/// The header checksum is not verified (see [`Ipv4Header::new_checked`]).
pub fn parse_advert(packet: &[u8]) -> Result<(Ipv4Header<'_>, &[u8]), Ipv4Error> {
    let header = Ipv4Header::new_checked(packet)?;
    if header.protocol() != PROTOCOL {
        return Err(Ipv4Error::Protocol(header.protocol()));
    }
    if header.is_fragment() {
        return Err(Ipv4Error::Fragment);
    }
    let payload = header.payload()?;
    Ok((header, payload))
}

/// An IPv4 header without options, to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    /// The DF flag (keepalived and Linux raw sockets clear it; smoltcp sets it).
    pub dont_fragment: bool,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// The header of an advert of `payload_len` bytes: protocol 112, TTL 255, TOS 0xc0,
    /// DF clear, as keepalived sends it.
    pub const fn advert(src: Ipv4Addr, dst: Ipv4Addr, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol: PROTOCOL,
            ttl: TTL,
            tos: TOS_NETWORK_CONTROL,
            dont_fragment: false,
            payload_len,
        }
    }

    /// Writes the header, with identification 0 and its checksum, into the first
    /// [`IPV4_HEADER_LEN`] bytes of `buf`; the payload is the caller's. `buf` must hold
    /// the whole packet. Returns the packet's length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Ipv4Error> {
        let total = IPV4_HEADER_LEN
            .checked_add(self.payload_len)
            .filter(|&t| t <= usize::from(u16::MAX) && t <= buf.len())
            .ok_or(Ipv4Error::BufferTooSmall)?;
        let h = &mut buf[..IPV4_HEADER_LEN];
        h[0] = 0x45;
        h[1] = self.tos;
        // Fits: checked against u16::MAX above.
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h[4..6].copy_from_slice(&[0, 0]);
        let flags = if self.dont_fragment {
            FLAG_DONT_FRAGMENT
        } else {
            0
        };
        h[6..8].copy_from_slice(&flags.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let checksum = !header_sum(h);
        h[10..12].copy_from_slice(&checksum.to_be_bytes());
        Ok(total)
    }
}

/// Sets the TOS byte of the IPv4 header at the start of `packet` and refreshes its
/// checksum. Returns `false` (and changes nothing) if `packet` is not a checked header.
pub fn set_tos(packet: &mut [u8], tos: u8) -> bool {
    let Ok(header) = Ipv4Header::new_checked(packet) else {
        return false;
    };
    let header_len = header.header_len();
    let h = &mut packet[..header_len];
    h[1] = tos;
    h[10..12].copy_from_slice(&[0, 0]);
    let checksum = !header_sum(h);
    h[10..12].copy_from_slice(&checksum.to_be_bytes());
    true
}

/// The one's complement sum (RFC 1071) of a header, folded; 0xffff if its checksum
/// verifies. A header is at most 60 bytes: no overflow.
fn header_sum(header: &[u8]) -> u16 {
    let mut acc: u32 = header
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    // Fits: the loop leaves at most 16 bits.
    acc as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    // keepalived's priority-0 advert from the takeover capture, as a raw socket returns
    // it (the IP header onwards).
    const ADVERT: [u8; 40] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x07, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x1e, 0x0a, 0x63, 0x00,
        0x0b, 0xe0, 0x00, 0x00, 0x12, 0x21, 0x33, 0x00, 0x01, 0x01, 0x01, 0xc9, 0x1b, 0x0a, 0x63,
        0x00, 0x32, 0x73, 0x33, 0x63, 0x72, 0x33, 0x74, 0x00, 0x00,
    ];

    #[test]
    fn parses_a_plain_header() {
        let h = Ipv4Header::new_checked(&ADVERT).unwrap();
        assert_eq!((h.header_len(), h.total_len()), (20, 40));
        assert_eq!(h.src(), Ipv4Addr::new(10, 99, 0, 11));
        assert_eq!(h.dst(), Ipv4Addr::new(224, 0, 0, 18));
        assert_eq!(h.ttl(), 255);
        assert_eq!(h.tos(), 0xc0);
        assert!(h.verify_checksum());
        let (h, payload) = parse_advert(&ADVERT).unwrap();
        let meta = h.rx_meta();
        assert_eq!(meta.src, IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)));
        assert_eq!(meta.dst, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)));
        assert_eq!(meta.ttl, 255);
        assert_eq!(payload, &ADVERT[20..]);
    }

    #[test]
    fn honours_ihl_and_total_length() {
        // Four bytes of options (NOP NOP NOP EOL), then the payload, then padding.
        let mut p = [0xee; 50];
        p[..20].copy_from_slice(&ADVERT[..20]);
        p[0] = 0x46;
        p[3] = 44;
        p[20..24].copy_from_slice(&[1, 1, 1, 0]);
        p[24..44].copy_from_slice(&ADVERT[20..]);
        let (_, payload) = parse_advert(&p).unwrap();
        assert_eq!(payload, &ADVERT[20..]);
    }

    #[test]
    fn rejects_malformed_headers() {
        assert_eq!(parse_advert(&ADVERT[..19]), Err(Ipv4Error::Truncated));
        let mut p = ADVERT;
        p[0] = 0x44; // IHL 4 < 5
        assert_eq!(parse_advert(&p), Err(Ipv4Error::HeaderLength(4)));
        let mut p = ADVERT;
        p[0] = 0x4f; // IHL 15 = 60 bytes > packet
        assert_eq!(parse_advert(&p), Err(Ipv4Error::OptionsTruncated));
        let mut p = ADVERT;
        p[3] = 41; // total length beyond what arrived
        assert_eq!(parse_advert(&p), Err(Ipv4Error::PayloadTruncated));
        let mut p = ADVERT;
        p[3] = 19; // total length inside the header
        assert_eq!(parse_advert(&p), Err(Ipv4Error::TotalLength(19)));
        let mut p = ADVERT;
        p[0] = 0x65;
        assert_eq!(parse_advert(&p), Err(Ipv4Error::Version(6)));
        let mut p = ADVERT;
        p[9] = 17;
        assert_eq!(parse_advert(&p), Err(Ipv4Error::Protocol(17)));
        for flags in [[0x20, 0], [0, 1], [0x3f, 0xff]] {
            let mut p = ADVERT;
            p[6..8].copy_from_slice(&flags);
            assert_eq!(parse_advert(&p), Err(Ipv4Error::Fragment), "{flags:?}");
        }
        // DF alone is not a fragment.
        let mut p = ADVERT;
        p[6] = 0x40;
        assert!(parse_advert(&p).is_ok());
        // A corrupted header no longer verifies.
        let mut p = ADVERT;
        p[8] = 254;
        assert!(!Ipv4Header::new_checked(&p).unwrap().verify_checksum());
        // Never panics on any prefix.
        for n in 0..ADVERT.len() {
            let _ = parse_advert(&ADVERT[..n]);
        }
    }

    #[test]
    fn emit_round_trip_and_bytes() {
        let (src, dst) = (Ipv4Addr::new(10, 99, 0, 11), Ipv4Addr::new(224, 0, 0, 18));
        let mut buf = [0u8; 40];
        buf[20..].copy_from_slice(&ADVERT[20..]);
        assert_eq!(Ipv4Repr::advert(src, dst, 20).emit(&mut buf), Ok(40));
        // keepalived's header but for its IP identification (7) and checksum.
        assert_eq!(&buf[..4], &ADVERT[..4]);
        assert_eq!(&buf[6..10], &ADVERT[6..10]);
        assert_eq!(&buf[12..], &ADVERT[12..]);
        let h = Ipv4Header::new_checked(&buf).unwrap();
        assert!(h.verify_checksum());
        assert_eq!(h.tos(), TOS_NETWORK_CONTROL);
        assert_eq!((h.ttl(), h.protocol()), (255, 112));
        assert_eq!(parse_advert(&buf).unwrap().1, &ADVERT[20..]);
        let df = Ipv4Repr {
            dont_fragment: true,
            ..Ipv4Repr::advert(src, dst, 20)
        };
        df.emit(&mut buf).unwrap();
        assert_eq!(buf[6], 0x40);
        assert!(Ipv4Header::new_checked(&buf).unwrap().verify_checksum());
        assert_eq!(
            Ipv4Repr::advert(src, dst, 20).emit(&mut buf[..39]),
            Err(Ipv4Error::BufferTooSmall)
        );
        assert_eq!(
            Ipv4Repr::advert(src, dst, usize::MAX).emit(&mut buf),
            Err(Ipv4Error::BufferTooSmall)
        );
    }

    #[test]
    fn set_tos_refreshes_the_checksum() {
        let mut p = ADVERT;
        assert!(set_tos(&mut p, 0));
        assert_eq!(p[1], 0);
        assert!(Ipv4Header::new_checked(&p).unwrap().verify_checksum());
        assert!(set_tos(&mut p, TOS_NETWORK_CONTROL));
        assert_eq!(p, ADVERT);
        assert!(!set_tos(&mut p[..19], 0));
    }
}
