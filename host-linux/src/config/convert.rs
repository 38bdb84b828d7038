//! From a configured instance to what vigil-core runs.

use super::model::{Instance, OldUnicastChecksum};
use std::net::IpAddr;
use vigil_core::machine::{Config, Garp, LowerPriority, Vips};
use vigil_core::wire::{ChecksumMode, Family};

fn core_duration(d: std::time::Duration) -> vigil_core::Duration {
    vigil_core::Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn sat_u8(v: u32) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

impl Instance {
    /// The address adverts are sent from: `unicast_src_ip`, else `mcast_src_ip`, else
    /// `primary` (the interface's primary address of the instance's family, which the
    /// caller looks up).
    pub fn source(&self, primary: IpAddr) -> IpAddr {
        self.configured_source().unwrap_or(primary)
    }

    /// The core configuration of this instance. `primary` is the interface's primary
    /// address, used unless `unicast_src_ip` / `mcast_src_ip` is set. Global defaults and
    /// keepalived's rules are already applied to `self` by [`super::load`].
    pub fn core_config(&self, primary: IpAddr) -> Result<Config, String> {
        let src = self.source(primary);
        let fam = match src {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        };
        if fam != self.family {
            return Err(format!(
                "({}) source address {src} is not of the instance's address family (IPv{})",
                self.name,
                if self.family == Family::V4 { 4 } else { 6 }
            ));
        }
        let mut c = Config::new(self.vrid, self.version, self.priority, src);
        c.interval = self.advert_int;
        c.initial = self.state;
        c.preempt = self.preempt;
        c.preempt_delay = core_duration(self.preempt_delay);
        c.auth = self.auth;
        // keepalived's unicast checksum compatibility (VRRPv3 over IPv4; the router
        // applies the automatic switch to unicast instances only).
        c.checksum = ChecksumMode::PseudoHeader;
        match self.old_unicast_checksum {
            OldUnicastChecksum::Config => c.checksum = ChecksumMode::OldUnicast,
            OldUnicastChecksum::Auto => c.old_checksum_auto = true,
            OldUnicastChecksum::Never => {}
        }
        c.down_timer_adverts = self.down_timer_adverts;
        c.lower_priority = if self.lower_prio_no_advert {
            LowerPriority::Discard
        } else {
            LowerPriority::Answer
        };
        c.lower_prio_announce = sat_u8(self.garp.lower_prio_repeat);
        c.higher_prio_send_advert = self.higher_prio_send_advert;
        c.check_addresses = !self.skip_check_adv_addr;
        c.garp = Garp {
            delay: core_duration(self.garp.master_delay),
            repeat: sat_u8(self.garp.master_repeat),
            refresh: core_duration(self.garp.master_refresh),
            refresh_repeat: sat_u8(self.garp.master_refresh_repeat),
            spacing: core_duration(match self.family {
                Family::V4 => self.garp.interval,
                Family::V6 => self.garp.gna_interval,
            }),
        };
        c.validate().map_err(|e| format!("({}) {e}", self.name))?;
        Ok(c)
    }

    /// The advertised VIPs (not `virtual_ipaddress_excluded`), in configuration order.
    /// [`super::load`] refuses more than the core's capacity, so none is dropped here.
    pub fn vips(&self) -> Vips {
        let mut v = Vips::new(self.family);
        for a in &self.vips {
            // Other-family VIPs were dropped while loading; capacity was checked.
            let _ = v.push(a.addr);
        }
        v
    }
}
