//! What an instance is configured with, checked once so the machine never has to.

use crate::priority::CapacityError;
use crate::timer::{DOWN_TIMER_ADVERTS, Interval};
use crate::wire::{Addresses, Auth, ChecksumMode, Family, Version};
use core::fmt;
use core::net::IpAddr;
use embassy_time::Duration;
use heapless::Vec;

/// VIPs per instance unless the host picks another capacity: a v3 IPv6 advert with 16
/// addresses is 264 bytes, well inside any MTU, and keepalived users rarely go past a
/// handful.
pub const MAX_VIPS: usize = 16;

/// keepalived's `state`: where an instance starts. The RFCs know only the owner rule
/// (priority 255 starts as master); keepalived lets `state MASTER` start as master too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum InitialState {
    #[default]
    Backup,
    Master,
}

/// What a master does with an advert of lower priority than its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LowerPriority {
    /// keepalived's default: answer with an advert of its own at once, so that a peer
    /// that believes it is master hears this one and yields. vigil answers at most once
    /// per advertisement interval, so a flood is not amplified.
    #[default]
    Answer,
    /// RFC 5798 / RFC 9568 6.4.3 and keepalived's `lower_prio_no_advert`: discard.
    Discard,
}

/// keepalived's gratuitous ARP / unsolicited NA schedule for a new master: a burst of
/// `repeat` at once, another after `delay`, then `refresh_repeat` every `refresh`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Garp {
    /// `garp_master_delay` (default 5 s); zero means no second burst.
    pub delay: Duration,
    /// `garp_master_repeat` (default 5).
    pub repeat: u8,
    /// `garp_master_refresh` (default 0: off).
    pub refresh: Duration,
    /// `garp_master_refresh_repeat` (default 1).
    pub refresh_repeat: u8,
    /// `vrrp_garp_interval`: spacing between the messages of one burst (default 0).
    pub spacing: Duration,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            delay: Duration::from_secs(5),
            repeat: 5,
            refresh: Duration::from_ticks(0),
            refresh_repeat: 1,
            spacing: Duration::from_ticks(0),
        }
    }
}

/// One VRRP instance (keepalived's `vrrp_instance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// `virtual_router_id`, 1..=255.
    pub vrid: u8,
    pub version: Version,
    /// Base priority 1..=255; 255 is the address owner.
    pub priority: u8,
    /// `advert_int`. v2 needs whole seconds.
    pub interval: Interval,
    /// The address adverts are sent from and ties are broken with: the interface's
    /// primary address, or `mcast_src_ip` / `unicast_src_ip`.
    pub primary: IpAddr,
    /// keepalived's `state`. Only an address owner with `state MASTER` becomes master at
    /// once; any other instance starts as backup and waits the master-down interval.
    pub initial: InitialState,
    /// `false` is `nopreempt`. As in keepalived it is honoured only with `state BACKUP`
    /// and a priority below 255 (see [`Config::preempts`]).
    pub preempt: bool,
    /// `preempt_delay`: after first hearing a lower-priority master, keep accepting it
    /// this long before preempting. Ignored with `state MASTER`, as in keepalived.
    pub preempt_delay: Duration,
    pub auth: Auth,
    /// v3 over IPv4 only; see [`ChecksumMode`].
    pub checksum: ChecksumMode,
    /// keepalived's default for unicast (its build's `OLD_CHKSUM_COMPAT`): an advert
    /// whose checksum is wrong but right as [`ChecksumMode::OldUnicast`] switches the
    /// instance to that mode for good. Off by default (and with `old_unicast_checksum
    /// never`).
    pub old_checksum_auto: bool,
    /// `down_timer_adverts`, 1..=100 (RFC: 3).
    pub down_timer_adverts: u8,
    pub lower_priority: LowerPriority,
    /// `garp_lower_prio_repeat`: a master answering a lower-priority advert also
    /// announces its VIPs this many times (keepalived's default is
    /// `garp_master_repeat`; 0 turns it off, as `vrrp_strict` does).
    pub lower_prio_announce: u8,
    /// `higher_prio_send_advert`: a master that yields to a higher-priority advert first
    /// sends one advert of its own (helps a unicast peer that lost track of it).
    pub higher_prio_send_advert: bool,
    /// An address owner (effective priority 255) in MASTER ignores every advert
    /// instead of comparing addresses with another owner. Off by default.
    pub owner_ignores_adverts: bool,
    /// keepalived checks that a received advert carries this instance's VIPs and drops
    /// it otherwise; `vrrp_skip_check_adv_addr` turns the check off.
    pub check_addresses: bool,
    pub garp: Garp,
}

impl Config {
    /// keepalived's defaults for an instance.
    pub fn new(vrid: u8, version: Version, priority: u8, primary: IpAddr) -> Self {
        Config {
            vrid,
            version,
            priority,
            interval: Interval::DEFAULT,
            primary,
            // keepalived: an owner without `state` wants MASTER.
            initial: if priority == u8::MAX {
                InitialState::Master
            } else {
                InitialState::Backup
            },
            preempt: true,
            preempt_delay: Duration::from_ticks(0),
            auth: Auth::None,
            checksum: ChecksumMode::PseudoHeader,
            old_checksum_auto: false,
            down_timer_adverts: DOWN_TIMER_ADVERTS,
            lower_priority: LowerPriority::Answer,
            lower_prio_announce: 5,
            higher_prio_send_advert: false,
            owner_ignores_adverts: false,
            check_addresses: true,
            garp: Garp::default(),
        }
    }

    pub fn family(&self) -> Family {
        match self.primary {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Whether this instance preempts a lower-priority master: keepalived clears
    /// `nopreempt` with `state MASTER` or priority 255 (with a warning the daemon gives).
    pub fn preempts(&self) -> bool {
        self.preempt || self.initial == InitialState::Master || self.priority == u8::MAX
    }

    /// The preempt delay in force: keepalived clears it with `state MASTER`.
    pub fn effective_preempt_delay(&self) -> Duration {
        if self.initial == InitialState::Master {
            Duration::from_ticks(0)
        } else {
            self.preempt_delay
        }
    }

    /// Every rule the machine relies on. The daemon reports these with file and line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vrid == 0 {
            return Err(ConfigError::Vrid);
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority);
        }
        if !self.interval.fits(self.version) {
            return Err(ConfigError::Interval);
        }
        if self.version == Version::V2 && self.family() == Family::V6 {
            return Err(ConfigError::V2OverIpv6);
        }
        if self.version == Version::V3 && self.auth != Auth::None {
            return Err(ConfigError::AuthWithV3);
        }
        if !(1..=100).contains(&self.down_timer_adverts) {
            return Err(ConfigError::DownTimerAdverts);
        }
        Ok(())
    }
}

/// A configuration the machine refuses, with the rule it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    Vrid,
    Priority,
    Interval,
    V2OverIpv6,
    AuthWithV3,
    DownTimerAdverts,
    VipFamily,
    Capacity(CapacityError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Vrid => write!(f, "virtual_router_id must be 1..=255"),
            ConfigError::Priority => write!(f, "priority must be 1..=255"),
            ConfigError::Interval => write!(
                f,
                "advert_int not representable: VRRPv2 needs 1..=255 whole seconds, VRRPv3 0.01..=40.95 s"
            ),
            ConfigError::V2OverIpv6 => write!(f, "VRRPv2 does not support IPv6"),
            ConfigError::AuthWithV3 => write!(f, "authentication is not supported with VRRPv3"),
            ConfigError::DownTimerAdverts => write!(f, "down_timer_adverts must be 1..=100"),
            ConfigError::VipFamily => {
                write!(f, "virtual address of the other family than the instance")
            }
            ConfigError::Capacity(e) => e.fmt(f),
        }
    }
}

impl From<CapacityError> for ConfigError {
    fn from(e: CapacityError) -> Self {
        ConfigError::Capacity(e)
    }
}

/// An instance's virtual addresses, all of its family, in network order as adverts carry
/// them (so emitting and comparing are byte copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vips<const N: usize = MAX_VIPS> {
    V4(Vec<[u8; 4], N>),
    V6(Vec<[u8; 16], N>),
}

impl<const N: usize> Vips<N> {
    pub const fn new(family: Family) -> Self {
        match family {
            Family::V4 => Vips::V4(Vec::new()),
            Family::V6 => Vips::V6(Vec::new()),
        }
    }

    /// Builds the list, refusing other-family addresses and more than `N`.
    pub fn from_iter(
        family: Family,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<Self, ConfigError> {
        let mut v = Self::new(family);
        for a in addrs {
            v.push(a)?;
        }
        Ok(v)
    }

    pub fn push(&mut self, addr: IpAddr) -> Result<(), ConfigError> {
        let full = ConfigError::Capacity(CapacityError {
            what: "VIPs",
            capacity: N,
        });
        match (self, addr) {
            (Vips::V4(v), IpAddr::V4(a)) => v.push(a.octets()).map_err(|_| full),
            (Vips::V6(v), IpAddr::V6(a)) => v.push(a.octets()).map_err(|_| full),
            _ => Err(ConfigError::VipFamily),
        }
    }

    /// Whether this list holds an address `old` does not (a reload added a VIP).
    pub fn adds_to(&self, old: &Self) -> bool {
        match (self, old) {
            (Vips::V4(new), Vips::V4(old)) => new.iter().any(|a| !old.contains(a)),
            (Vips::V6(new), Vips::V6(old)) => new.iter().any(|a| !old.contains(a)),
            _ => !self.is_empty(),
        }
    }

    pub fn addresses(&self) -> Addresses<'_> {
        match self {
            Vips::V4(v) => Addresses::v4(v),
            Vips::V6(v) => Addresses::v6(v),
        }
    }

    pub fn len(&self) -> usize {
        self.addresses().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
