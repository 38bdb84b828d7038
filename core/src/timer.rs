//! VRRP timers in integer arithmetic: the advertisement interval, skew time and
//! master-down interval for VRRPv2 (RFC 3768 6.1) and VRRPv3 (RFC 5798 / 9568 6.1).
//!
//! Results are microseconds (keepalived's timer unit) so that nothing rounds away: the
//! skew of a priority-100 v3 router at 1 s is 609.375 ms, exactly 609_375 µs. Products
//! are taken in u32/u64: `(256 - prio) * interval` overflows u16 (a bug seen in the wild),
//! and a float skew below 1 s truncated to whole seconds vanishes (another).

use crate::wire::Version;
use embassy_time::Duration;

/// An advertisement interval in centiseconds, the unit of VRRPv3. VRRPv2 carries whole
/// seconds; [`Interval::v2_secs`] converts back and refuses fractions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Interval(u16);

impl Interval {
    /// The largest VRRPv3 interval: 12 bits of centiseconds, 40.95 s.
    pub const V3_MAX: Interval = Interval(4095);
    /// The default of RFC 5798 and keepalived: 1 s.
    pub const DEFAULT: Interval = Interval(100);

    pub const fn from_centis(centis: u16) -> Self {
        Interval(centis)
    }

    pub const fn from_secs(secs: u8) -> Self {
        Interval(secs as u16 * 100)
    }

    pub const fn centis(self) -> u16 {
        self.0
    }

    /// The interval as VRRPv2 carries it, if it is 1..=255 whole seconds.
    pub const fn v2_secs(self) -> Option<u8> {
        if self.0 == 0 || !self.0.is_multiple_of(100) || self.0 / 100 > 255 {
            None
        } else {
            Some((self.0 / 100) as u8)
        }
    }

    /// The interval as VRRPv3 carries it, if it is 1..=4095 centiseconds.
    pub const fn v3_centis(self) -> Option<u16> {
        if self.0 == 0 || self.0 > Self::V3_MAX.0 {
            None
        } else {
            Some(self.0)
        }
    }

    /// Whether `version` can carry this interval.
    pub const fn fits(self, version: Version) -> bool {
        match version {
            Version::V2 => self.v2_secs().is_some(),
            Version::V3 => self.v3_centis().is_some(),
        }
    }

    pub const fn micros(self) -> u64 {
        self.0 as u64 * 10_000
    }

    pub const fn duration(self) -> Duration {
        Duration::from_micros(self.micros())
    }
}

/// keepalived's default for `down_timer_adverts`: the RFC's 3 advert intervals.
pub const DOWN_TIMER_ADVERTS: u8 = 3;

/// Skew time: how much later a lower-priority backup declares the master down, so that
/// the highest-priority backup wins the race.
///
/// - v2 (RFC 3768 6.1): `(256 - priority) / 256` seconds, independent of the interval.
/// - v3 (RFC 5798 6.1): `((256 - priority) * Master_Adver_Interval) / 256`.
pub const fn skew_micros(version: Version, priority: u8, master_adver_int: Interval) -> u64 {
    let weight = 256 - priority as u32;
    match version {
        // 1_000_000 / 256 = 15625 / 4: exact in u32 (at most 256 * 15625).
        Version::V2 => (weight * 15_625 / 4) as u64,
        // centis * 10_000 / 256 = centis * 625 / 16: at most 256 * 4095 * 625 < 2^32.
        Version::V3 => (weight * master_adver_int.0 as u32 * 625 / 16) as u64,
    }
}

pub const fn skew(version: Version, priority: u8, master_adver_int: Interval) -> Duration {
    Duration::from_micros(skew_micros(version, priority, master_adver_int))
}

/// Master-down interval: `down_adverts * Master_Adver_Interval + Skew_Time`, where
/// `down_adverts` is 3 in the RFCs and keepalived's `down_timer_adverts` (1..=100).
/// In u64: 100 adverts of 40.95 s plus skew exceed u32 microseconds.
pub const fn master_down(
    version: Version,
    priority: u8,
    master_adver_int: Interval,
    down_adverts: u8,
) -> Duration {
    let adverts = down_adverts as u64 * master_adver_int.micros();
    Duration::from_micros(adverts + skew_micros(version, priority, master_adver_int))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5798 6.1: Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256.
    #[test]
    fn rfc5798_6_1_v3_skew_is_exact_in_microseconds() {
        assert_eq!(
            skew_micros(Version::V3, 100, Interval::from_centis(100)),
            609_375
        );
        assert_eq!(
            skew_micros(Version::V3, 255, Interval::from_centis(100)),
            3_906
        );
        assert_eq!(
            skew_micros(Version::V3, 1, Interval::from_centis(10)),
            99_609
        );
    }

    /// RFC 3768 6.1: Skew_Time = (256 - Priority) / 256 seconds, whatever the interval.
    #[test]
    fn rfc3768_6_1_v2_skew_ignores_interval() {
        assert_eq!(
            skew_micros(Version::V2, 100, Interval::from_secs(1)),
            609_375
        );
        assert_eq!(
            skew_micros(Version::V2, 100, Interval::from_secs(5)),
            609_375
        );
        assert_eq!(
            skew_micros(Version::V2, 0, Interval::from_secs(1)),
            1_000_000
        );
    }

    /// The u16 overflow seen in another crate: (256 - 1) * 4095 > 65535.
    #[test]
    fn largest_values_do_not_overflow() {
        assert_eq!(
            skew_micros(Version::V3, 0, Interval::V3_MAX),
            256 * 4095 * 10_000 / 256
        );
        let d = master_down(Version::V3, 0, Interval::V3_MAX, 100);
        assert_eq!(d.as_micros(), 100 * 40_950_000 + 40_950_000);
    }

    /// RFC 5798 6.1: Master_Down_Interval = (3 * Master_Adver_Interval) + Skew_time.
    #[test]
    fn rfc5798_6_1_master_down_interval() {
        let d = master_down(
            Version::V3,
            100,
            Interval::from_centis(100),
            DOWN_TIMER_ADVERTS,
        );
        assert_eq!(d.as_micros(), 3_609_375);
        let d = master_down(
            Version::V3,
            99,
            Interval::from_centis(10),
            DOWN_TIMER_ADVERTS,
        );
        assert_eq!(d.as_micros(), 300_000 + 61_328);
    }

    /// keepalived `down_timer_adverts` replaces the RFC's 3.
    #[test]
    fn keepalived_down_timer_adverts_multiplier() {
        let d = master_down(Version::V2, 100, Interval::from_secs(1), 5);
        assert_eq!(d.as_micros(), 5_609_375);
    }

    #[test]
    fn v2_carries_whole_seconds_and_v3_twelve_bits_of_centiseconds() {
        assert_eq!(Interval::from_centis(100).v2_secs(), Some(1));
        assert_eq!(Interval::from_centis(150).v2_secs(), None);
        assert_eq!(Interval::from_centis(25_600).v2_secs(), None);
        assert_eq!(Interval::from_centis(4095).v3_centis(), Some(4095));
        assert_eq!(Interval::from_centis(4096).v3_centis(), None);
        assert_eq!(Interval::from_centis(0).v3_centis(), None);
    }
}
