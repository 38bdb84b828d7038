//! The VRRP advertisement on the wire: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568),
//! over IPv4 and IPv6.
//!
//! Two layers, as in smoltcp's wire module:
//! - [`Packet`] is a zero-copy view over a buffer with field accessors. Once
//!   [`Packet::new_checked`] has accepted a buffer, no accessor can panic.
//! - [`Repr`] is the validated, owned-by-value meaning of a packet (its address list
//!   stays borrowed), with [`Repr::parse`] and [`Repr::emit`].
//!
//! The codec works on the VRRP message only (the IP payload). The host supplies what the
//! IP layer knew: source and destination address (for the v3 pseudo-header checksum) and
//! the received TTL / hop limit, in [`RxMeta`].
//!
//! Around it, the small pieces every host that touches raw frames needs, once:
//! [`ipv4`] (the header of an advert, read and written), [`arp`] (gratuitous ARP and ARP
//! request frames, the sender of an ARP packet), [`ethernet`] (header, sender of a frame)
//! and [`virtual_mac`] (RFC 5798 section 7.3).

mod addresses;
pub mod ah;
pub mod arp;
mod checksum;
pub mod ethernet;
pub mod hmac_md5;
pub mod ipv4;
mod packet;
mod repr;

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

pub use addresses::Addresses;
pub use checksum::ChecksumMode;
pub use ethernet::virtual_mac;
pub use packet::Packet;
pub use repr::{Auth, Interval, Repr, RxMeta};

/// IP protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// Every VRRP packet is sent with, and must be received with, this TTL / hop limit.
pub const TTL: u8 = 255;
/// The IPv4 multicast group for VRRP (RFC 5798 section 5.1.1.2).
pub const MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 multicast group for VRRP (RFC 5798 section 5.1.2.2).
pub const MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The fixed part of every VRRP message, before the address list.
pub const HEADER_LEN: usize = 8;
/// The VRRPv2 authentication data that follows the address list.
pub const V2_AUTH_LEN: usize = 8;
/// The only VRRP message type (RFC 3768 and RFC 5798: 1 = ADVERTISEMENT).
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in whole seconds, optional simple-password auth.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 and IPv6, interval in centiseconds, no auth.
    V3,
}

impl Version {
    /// The number in the version nibble.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of the IP packet that carries the advert, and of its address list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// Length of one address in the advert's address list.
    pub const fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }
}

/// Exactly what was wrong with a packet (on parse) or a representation (on emit).
///
/// Every variant is a reason a host counts a dropped packet under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// Shorter than the fixed 8-byte header.
    Truncated,
    /// The version nibble is neither 2 nor 3.
    Version(u8),
    /// The type nibble is not 1 (ADVERTISEMENT).
    Type(u8),
    /// VRRPv2 exists only over IPv4.
    V2OverIpv6,
    /// The address count does not match the message length.
    Length {
        /// The count field.
        count: u8,
        /// The VRRP message length the IP layer delivered.
        len: usize,
    },
    /// The TTL / hop limit the host reported is not 255: the packet crossed a router.
    Ttl(u8),
    /// The checksum does not verify.
    Checksum {
        /// The checksum field as received.
        found: u16,
        /// The checksum the message should carry.
        expected: u16,
    },
    /// VRRPv2 auth type 2 (IP Authentication Header, RFC 2338, removed by RFC 3768)
    /// received by an instance not configured for it.
    AuthAh,
    /// A VRRPv2 auth type that no RFC defines.
    AuthType(u8),
    /// The auth type differs from the one configured.
    AuthMismatch {
        /// The configured auth type (0 none, 1 simple password).
        expected: u8,
        /// The auth type in the packet.
        found: u8,
    },
    /// Simple-password authentication with the wrong password.
    Password,
    /// An advertisement interval of zero.
    IntervalZero,
    /// On emit: the interval cannot be carried by this version (v2: whole seconds
    /// 1..=255; v3: 1..=4095 centiseconds).
    IntervalRange,
    /// On emit: more than 255 addresses.
    TooManyAddresses,
    /// The IP source, IP destination and address list are not all one family.
    FamilyMismatch,
    /// On emit: the buffer is shorter than [`Repr::buffer_len`].
    BufferTooSmall,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => write!(f, "truncated: shorter than the 8-byte VRRP header"),
            Error::Version(v) => write!(f, "unsupported VRRP version {v}"),
            Error::Type(t) => write!(f, "invalid VRRP type {t} (only 1, ADVERTISEMENT)"),
            Error::V2OverIpv6 => write!(f, "VRRPv2 advert over IPv6"),
            Error::Length { count, len } => {
                write!(
                    f,
                    "address count {count} does not match message length {len}"
                )
            }
            Error::Ttl(t) => write!(f, "invalid TTL/hop limit {t} (expected 255)"),
            Error::Checksum { found, expected } => {
                write!(
                    f,
                    "invalid checksum {found:#06x} (expected {expected:#06x})"
                )
            }
            Error::AuthAh => write!(f, "received AH header but auth type not AH"),
            Error::AuthType(t) => write!(f, "unknown auth type {t}"),
            Error::AuthMismatch { expected, found } => {
                write!(
                    f,
                    "auth type mismatch: configured {expected}, received {found}"
                )
            }
            Error::Password => write!(f, "authentication password mismatch"),
            Error::IntervalZero => write!(f, "advertisement interval 0"),
            Error::IntervalRange => write!(f, "interval not representable in this version"),
            Error::TooManyAddresses => write!(f, "more than 255 addresses"),
            Error::FamilyMismatch => write!(f, "IP addresses and address list of mixed families"),
            Error::BufferTooSmall => write!(f, "buffer too small"),
        }
    }
}

impl core::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;
