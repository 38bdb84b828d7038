//! The checker's part of `vigild status`: services, real servers, up or down, weight,
//! and each checker's last result.

use super::Core;
use super::table::real_weight;
use serde::Serialize;
use std::fmt::Write;
use std::time::Instant;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckerStatus {
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub kind: &'static str,
    pub up: bool,
    /// Failed attempts since the last verdict.
    pub retries: u32,
    /// The last attempt: passed, and why not.
    pub last_ok: Option<bool>,
    pub last_reason: Option<String>,
    /// Seconds since the last attempt ended.
    pub last_age_secs: Option<u64>,
    /// `ha_suspend`: paused while the service's address is elsewhere.
    pub suspended: bool,
    /// Attempts since the checker started.
    pub passed: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RealServerStatus {
    pub address: String,
    pub up: bool,
    /// In the IPVS table (an inhibited server stays with weight 0).
    pub in_table: bool,
    /// The weight IPVS has (0 while inhibited).
    pub weight: u32,
    pub configured_weight: u32,
    pub inhibit_on_failure: bool,
    pub checkers: Vec<CheckerStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VirtualServerStatus {
    pub name: String,
    pub scheduler: String,
    pub quorum_up: bool,
    /// Weight of the live real servers, against `quorum` (with `hysteresis`).
    pub live_weight: i64,
    pub quorum: u32,
    pub hysteresis: u32,
    pub sorry_server: Option<String>,
    pub sorry_server_active: bool,
    pub real_servers: Vec<RealServerStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct LvsStatus {
    pub virtual_servers: Vec<VirtualServerStatus>,
}

fn kind_name(k: &crate::config::lvs::CheckKind) -> &'static str {
    use crate::config::lvs::CheckKind::*;
    match k {
        Http(_) => "HTTP_GET",
        Ssl(_) => "SSL_GET",
        Tcp => "TCP_CHECK",
        Misc(_) => "MISC_CHECK",
        Dns(_) => "DNS_CHECK",
        Smtp(_) => "SMTP_CHECK",
        Udp(_) => "UDP_CHECK",
        Ping => "PING_CHECK",
        File(_) => "FILE_CHECK",
    }
}

impl Core {
    /// What `vigild status` shows, at `now`.
    pub fn snapshot(&self, now: Instant) -> LvsStatus {
        let virtual_servers = self
            .vs
            .iter()
            .map(|vs| VirtualServerStatus {
                name: vs.name.clone(),
                scheduler: vs.conf.scheduler.clone(),
                quorum_up: vs.quorum_up,
                live_weight: vs.live_weight(),
                quorum: vs.conf.quorum,
                hysteresis: vs.conf.hysteresis,
                sorry_server: vs.sorry.as_ref().map(|s| s.name.clone()),
                sorry_server_active: vs.sorry.as_ref().is_some_and(|s| s.alive),
                real_servers: vs
                    .rs
                    .iter()
                    .map(|rs| RealServerStatus {
                        address: rs.name.clone(),
                        up: rs.alive,
                        in_table: rs.set,
                        // In the pool: up, and not pushed out by the sorry server.
                        weight: if rs.set
                            && rs.alive
                            && (vs.quorum_up || !vs.sorry.as_ref().is_some_and(|s| s.alive))
                        {
                            real_weight(rs.effective_weight)
                        } else {
                            0
                        },
                        configured_weight: rs.conf.weight,
                        inhibit_on_failure: rs.conf.inhibit_on_failure,
                        checkers: rs
                            .checkers
                            .iter()
                            .map(|c| CheckerStatus {
                                kind: kind_name(&c.conf.kind),
                                up: c.is_up,
                                retries: c.retry_it,
                                last_ok: c.last.as_ref().map(|l| l.ok),
                                last_reason: c
                                    .last
                                    .as_ref()
                                    .filter(|l| !l.ok)
                                    .map(|l| l.reason.clone()),
                                last_age_secs: c
                                    .last
                                    .as_ref()
                                    .map(|l| now.saturating_duration_since(l.at).as_secs()),
                                suspended: !c.enabled,
                                passed: c.passed,
                                failed: c.failed,
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        LvsStatus { virtual_servers }
    }
}

impl LvsStatus {
    /// The checker's Prometheus families (appended to the daemon's exposition).
    pub fn metrics(&self) -> String {
        use crate::metrics::{Exposition, Kind};
        let mut e = Exposition::new();
        if self.virtual_servers.is_empty() {
            return String::new();
        }
        e.family(
            "vigil_lvs_quorum_up",
            Kind::Gauge,
            "1 when the virtual server has its quorum",
        );
        for vs in &self.virtual_servers {
            e.sample(
                "vigil_lvs_quorum_up",
                &[("virtual_server", &vs.name)],
                vs.quorum_up as u8 as f64,
            );
        }
        e.family(
            "vigil_lvs_real_server_up",
            Kind::Gauge,
            "1 when every checker of the real server passes",
        );
        for vs in &self.virtual_servers {
            for rs in &vs.real_servers {
                let labels = [
                    ("virtual_server", vs.name.as_str()),
                    ("real_server", &rs.address),
                ];
                e.sample("vigil_lvs_real_server_up", &labels, rs.up as u8 as f64);
            }
        }
        e.family(
            "vigil_lvs_real_server_weight",
            Kind::Gauge,
            "The real server's weight in the IPVS table (0 when out of it or inhibited)",
        );
        for vs in &self.virtual_servers {
            for rs in &vs.real_servers {
                let labels = [
                    ("virtual_server", vs.name.as_str()),
                    ("real_server", &rs.address),
                ];
                e.sample("vigil_lvs_real_server_weight", &labels, rs.weight as f64);
            }
        }
        e.family(
            "vigil_lvs_checks_total",
            Kind::Counter,
            "Health-check attempts by result",
        );
        for vs in &self.virtual_servers {
            for rs in &vs.real_servers {
                for (i, c) in rs.checkers.iter().enumerate() {
                    let index = i.to_string();
                    for (result, n) in [("passed", c.passed), ("failed", c.failed)] {
                        let labels = [
                            ("virtual_server", vs.name.as_str()),
                            ("real_server", &rs.address),
                            ("checker", c.kind),
                            ("index", &index),
                            ("result", result),
                        ];
                        e.sample("vigil_lvs_checks_total", &labels, n as f64);
                    }
                }
            }
        }
        e.finish()
    }

    /// The human view: a line per service, one per real server below it.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        for vs in &self.virtual_servers {
            let _ = writeln!(
                s,
                "virtual server {} {} quorum {} ({} of {}+{}){}",
                vs.name,
                vs.scheduler,
                if vs.quorum_up { "UP" } else { "DOWN" },
                vs.live_weight,
                vs.quorum,
                vs.hysteresis,
                match (&vs.sorry_server, vs.sorry_server_active) {
                    (Some(n), true) => format!(" sorry server {n} ACTIVE"),
                    (Some(n), false) => format!(" sorry server {n}"),
                    _ => String::new(),
                }
            );
            for rs in &vs.real_servers {
                let checks: Vec<String> = rs
                    .checkers
                    .iter()
                    .map(|c| {
                        let mut t = format!("{} {}", c.kind, if c.up { "up" } else { "down" });
                        if c.suspended {
                            t.push_str(" suspended");
                        }
                        if let Some(r) = &c.last_reason {
                            let _ = write!(t, " ({r})");
                        }
                        t
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    "  {:<28} {:<4} weight {:>5}{}  {}",
                    rs.address,
                    if rs.up { "UP" } else { "DOWN" },
                    rs.weight,
                    if rs.in_table { "" } else { " (not in table)" },
                    checks.join(", ")
                );
            }
        }
        s
    }
}
