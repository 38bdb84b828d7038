//! What the loop is set up with and what it refuses: the fixed socket buffers
//! ([`Storage`]), the interface ([`NetConfig`]), configuration errors ([`SetupError`]).

use core::net::Ipv4Addr;

use smoltcp::iface::SocketStorage;
use smoltcp::socket::raw;
use smoltcp::wire::{EthernetAddress, Ipv4Cidr};
use vigil_core::machine::ConfigError;

#[cfg(doc)]
use crate::Vrrp;

/// Packets the raw socket can hold on receive.
pub const RX_PACKETS: usize = 8;
/// Bytes of received packets (IP header included) the raw socket can hold. An advert
/// for an instance with 16 VIPs is 20 + 8 + 64 + 8 = 100 bytes.
pub const RX_BYTES: usize = 1024;
/// Packets the raw socket can queue for sending: one advert per instance and
/// destination (multicast, or each unicast peer) per deadline.
pub const TX_PACKETS: usize = 8;
/// Bytes of queued outgoing packets.
pub const TX_BYTES: usize = 1024;

/// The static memory smoltcp's sockets work in: the socket table and the raw socket's
/// packet buffers. Put it in a `static` (e.g. with `static_cell`) on a microcontroller,
/// or on `main`'s stack; [`Vrrp::new`] borrows it for as long as the loop lives.
#[derive(Debug)]
pub struct Storage<'a> {
    pub(crate) sockets: [SocketStorage<'a>; 1],
    pub(crate) rx_meta: [raw::PacketMetadata; RX_PACKETS],
    pub(crate) rx: [u8; RX_BYTES],
    pub(crate) tx_meta: [raw::PacketMetadata; TX_PACKETS],
    pub(crate) tx: [u8; TX_BYTES],
}

impl Storage<'_> {
    pub const fn new() -> Self {
        Storage {
            sockets: [SocketStorage::EMPTY; 1],
            rx_meta: [raw::PacketMetadata::EMPTY; RX_PACKETS],
            rx: [0; RX_BYTES],
            tx_meta: [raw::PacketMetadata::EMPTY; TX_PACKETS],
            tx: [0; TX_BYTES],
        }
    }
}

impl Default for Storage<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// The interface the loop runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetConfig {
    /// The node's Ethernet address (unicast).
    pub mac: EthernetAddress,
    /// The node's own address and prefix: the source of its adverts.
    pub addr: Ipv4Cidr,
    /// A default gateway, if the node talks beyond its subnet.
    pub gateway: Option<Ipv4Addr>,
    /// Seeds smoltcp's generator (IGMP report delays, IP ids). Differ per boot.
    pub random_seed: u64,
}

/// What [`Vrrp::new`] and [`Vrrp::add_instance`] refuse, before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    /// The core refuses the instance's configuration or VIP list.
    Config(ConfigError),
    /// The MAC address is not a unicast address.
    Mac,
    /// A sync group member that does not exist or is in a group already.
    GroupMember(usize),
    /// Only IPv4 instances run on this loop.
    NotIpv4,
    /// The instance's primary (source) address is not the interface's address.
    Primary,
    /// More instances than the loop's `N`.
    TooManyInstances,
    /// More unicast peers than the loop's `P`.
    TooManyPeers,
    /// Another instance has this VRID.
    DuplicateVrid(u8),
    /// The own address plus every VIP exceed smoltcp's address table
    /// (`smoltcp::config::IFACE_MAX_ADDR_COUNT`, set by an `iface-max-addr-count-*`
    /// feature).
    InterfaceAddresses { needed: usize, capacity: usize },
    /// Joining 224.0.0.18 failed (smoltcp's multicast group table is full).
    Multicast,
}

impl From<ConfigError> for SetupError {
    fn from(e: ConfigError) -> Self {
        SetupError::Config(e)
    }
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Config(e) => e.fmt(f),
            SetupError::Mac => write!(f, "the MAC address must be unicast"),
            SetupError::GroupMember(i) => write!(f, "instance {i} cannot join the sync group"),
            SetupError::NotIpv4 => write!(f, "only IPv4 instances run on this loop"),
            SetupError::Primary => write!(f, "the source address is not the interface's"),
            SetupError::TooManyInstances => write!(f, "too many instances for this loop"),
            SetupError::TooManyPeers => write!(f, "too many unicast peers for this loop"),
            SetupError::DuplicateVrid(v) => write!(f, "VRID {v} is configured twice"),
            SetupError::InterfaceAddresses { needed, capacity } => write!(
                f,
                "{needed} interface addresses needed (own address and VIPs), smoltcp holds {capacity}"
            ),
            SetupError::Multicast => write!(f, "cannot join 224.0.0.18"),
        }
    }
}
