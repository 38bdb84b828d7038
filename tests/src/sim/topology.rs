//! What is simulated: routers (nodes), the LANs they share, each node's instance
//! configuration per LAN, and the links between them (loss, delay, jitter), with the
//! RFC timings derived from them that the checks use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use vigil_core::machine::{Config, InitialState, LowerPriority, Vips};
use vigil_core::timer::{self, Interval};
use vigil_core::wire::{Family, Version};

use super::{Ticks, fmt_ms, fmt_t, us};

/// One direction of the wire between two routers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Link {
    /// Probability that a copy is lost, parts per million.
    pub loss_ppm: u32,
    /// Base one-way delay.
    pub delay: Ticks,
    /// Extra delay, uniform in `0..=jitter`.
    pub jitter: Ticks,
}

impl Link {
    pub const PERFECT: Link = Link {
        loss_ppm: 0,
        delay: 0,
        jitter: 0,
    };

    pub fn new(loss_ppm: u32, delay_us: u64, jitter_us: u64) -> Self {
        Link {
            loss_ppm,
            delay: us(delay_us),
            jitter: us(jitter_us),
        }
    }
}

/// One LAN: every node has an instance on it (`configs[node]`, `vips[node]`).
#[derive(Debug, Clone)]
pub struct Lan {
    pub configs: Vec<Config>,
    pub vips: Vec<Vips>,
    /// `links[from][to]`.
    pub links: Vec<Vec<Link>>,
}

impl Lan {
    /// Routers of one VRID with keepalived's defaults (an owner at 255 starts as
    /// master), the same VIPs, and the same link between every pair.
    pub fn new(
        vrid: u8,
        version: Version,
        interval: Interval,
        routers: &[(Ipv4Addr, u8)],
        vips: &[Ipv4Addr],
        link: Link,
    ) -> Lan {
        let n = routers.len();
        let configs = routers
            .iter()
            .map(|&(addr, prio)| {
                let mut c = Config::new(vrid, version, prio, IpAddr::V4(addr));
                c.interval = interval;
                c
            })
            .collect();
        let list = Vips::from_iter(Family::V4, vips.iter().map(|&a| IpAddr::V4(a)))
            .expect("VIP list fits");
        Lan {
            configs,
            vips: vec![list; n],
            links: vec![vec![link; n]; n],
        }
    }

    pub fn version(&self) -> Version {
        self.configs[0].version
    }

    pub fn interval(&self) -> Interval {
        self.configs[0].interval
    }

    pub fn down_adverts(&self) -> u8 {
        self.configs[0].down_timer_adverts
    }

    pub fn lossy(&self) -> bool {
        self.links.iter().flatten().any(|l| l.loss_ppm > 0)
    }

    /// The longest one-way delay a copy can take.
    pub fn max_delay(&self) -> Ticks {
        self.links
            .iter()
            .flatten()
            .map(|l| l.delay + l.jitter)
            .max()
            .unwrap_or(0)
    }

    pub fn primary(&self, node: usize) -> IpAddr {
        self.configs[node].primary
    }

    /// The master-down interval at `priority`, with the LAN's (shared) interval.
    pub fn master_down(&self, priority: u8) -> Ticks {
        timer::master_down(
            self.version(),
            priority,
            self.interval(),
            self.down_adverts(),
        )
        .as_ticks()
    }

    pub fn skew(&self, priority: u8) -> Ticks {
        timer::skew(self.version(), priority, self.interval()).as_ticks()
    }

    pub fn interval_ticks(&self) -> Ticks {
        self.interval().duration().as_ticks()
    }
}

/// The simulated network: nodes (routers), each with one instance per LAN.
#[derive(Debug, Clone)]
pub struct Setup {
    pub lans: Vec<Lan>,
    /// Each node's instances form one sync group in its router.
    pub sync_groups: bool,
}

impl Setup {
    pub fn single(lan: Lan) -> Self {
        Setup {
            lans: vec![lan],
            sync_groups: false,
        }
    }

    pub fn nodes(&self) -> usize {
        self.lans[0].configs.len()
    }

    /// A quiet period after which the routers must have converged: twice the longest
    /// master-down interval (priority 1), four adverts, and the longest link delay.
    pub fn quiet(&self) -> Ticks {
        self.lans
            .iter()
            .map(|l| 2 * l.master_down(1) + 4 * l.interval_ticks() + 2 * l.max_delay())
            .max()
            .unwrap_or(0)
    }

    /// On a lossy LAN a check may fail because a loss-induced takeover is being undone
    /// at that very moment; it must then hold before this much more time has passed.
    pub fn slack(&self) -> Ticks {
        self.lans
            .iter()
            .filter(|l| l.lossy())
            .map(|l| 4 * (l.master_down(1) + l.interval_ticks()))
            .max()
            .unwrap_or(0)
    }
}

pub(super) fn lan_name(l: usize) -> char {
    (b'A' + l as u8) as char
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} routers on {} LAN(s){}",
            self.nodes(),
            self.lans.len(),
            if self.sync_groups {
                ", each router's instances in one sync group"
            } else {
                ""
            }
        )?;
        for (l, lan) in self.lans.iter().enumerate() {
            let c0 = &lan.configs[0];
            let vips: Vec<String> = lan.vips[0]
                .addresses()
                .iter()
                .map(|a| a.to_string())
                .collect();
            writeln!(
                f,
                "LAN {}: VRRPv{} vrid {} interval {} s, down_timer_adverts {}, {:?}, {:?}, VIPs [{}], max delay {} ms",
                lan_name(l),
                c0.version.number(),
                c0.vrid,
                fmt_t(lan.interval_ticks()),
                c0.down_timer_adverts,
                c0.auth,
                c0.checksum,
                vips.join(" "),
                fmt_ms(lan.max_delay())
            )?;
            for (n, c) in lan.configs.iter().enumerate() {
                let out = &lan.links[n];
                let loss = out.iter().map(|l| l.loss_ppm).max().unwrap_or(0);
                let dmin = out.iter().map(|l| l.delay).min().unwrap_or(0);
                let dmax = out.iter().map(|l| l.delay + l.jitter).max().unwrap_or(0);
                write!(
                    f,
                    "  r{n:<2} {:<15} prio {:>3}",
                    c.primary.to_string(),
                    c.priority
                )?;
                if c.initial == InitialState::Master {
                    write!(f, " state-MASTER")?;
                }
                if !c.preempts() {
                    write!(f, " nopreempt")?;
                }
                if c.effective_preempt_delay().as_ticks() > 0 {
                    write!(f, " preempt_delay {}", fmt_t(c.preempt_delay.as_ticks()))?;
                }
                if c.lower_priority == LowerPriority::Discard {
                    write!(f, " lower_prio_no_advert")?;
                }
                if c.higher_prio_send_advert {
                    write!(f, " higher_prio_send_advert")?;
                }
                writeln!(
                    f,
                    " | out: loss <= {:.1}%, delay {}..{} ms",
                    f64::from(loss) / 10_000.0,
                    fmt_ms(dmin),
                    fmt_ms(dmax)
                )?;
            }
        }
        Ok(())
    }
}
