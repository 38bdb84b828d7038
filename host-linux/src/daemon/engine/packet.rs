//! The packet path: a socket's queued datagrams into the router, each either accepted
//! (and counted) or dropped (counted by reason and logged, rate-limited, in
//! keepalived's words). Allocates nothing for an accepted advert.

use super::{Engine, now};
use crate::net::{Received, RecvBatch};
use std::net::IpAddr;
use vigil_core::machine::Drop;
use vigil_core::router::RxDrop;
use vigil_core::wire::{self, Repr};

impl Engine {
    /// Reads up to `max` queued packets of socket `si` without waiting and hands them
    /// to the router. Returns how many were read (`max` means more may be queued).
    pub fn read_socket(&mut self, si: usize, batch: &mut RecvBatch, max: usize) -> usize {
        let sock = self.sockets[si].sock.clone();
        match sock.recv_burst(batch, max, |rx| match rx {
            Ok(rx) => self.on_packet(si, &rx),
            // A packet that cannot be an advert (larger than the buffer, a malformed
            // header): count it and go on. Stalling here would let anyone on the LAN
            // keep a backup from hearing its master.
            Err(_) => self.drop_global("malformed", None, || {
                "VRRP packet that is not a well-formed IP datagram".to_string()
            }),
        }) {
            Ok(n) => n,
            Err(e) => {
                self.drop_global("receive_error", None, || format!("recvmsg: {e}"));
                debug!("receive error on VRRP socket: {e}");
                0
            }
        }
    }

    /// Clears socket `si`'s pending error, counted as a drop and logged at debug level.
    pub fn take_socket_error(&mut self, si: usize) {
        if let Some(sock) = self.sockets.get(si)
            && let Ok(Some(e)) = sock.sock.take_error()
        {
            debug!("VRRP socket error: {e}");
            self.drop_global("socket_error", None, || format!("VRRP socket error: {e}"));
        }
    }

    fn on_packet(&mut self, si: usize, rx: &Received<'_>) {
        // Every raw socket gets a copy of every VRRP packet on its interface: a
        // multicast socket hears the unicast adverts meant for the unicast socket, and
        // the reverse. Those copies are the other socket's business.
        let group = self.sockets[si].sock.group();
        if group.map_or(rx.dst.is_multicast(), |g| rx.dst != g) {
            let (got, want) = match group {
                Some(_) => ("un", "mult"),
                None => ("mult", "un"),
            };
            self.drop_global("wrong_destination", Some(rx.src), || {
                format!(
                    "discarding {got}icast packet to {} on {want}icast socket",
                    rx.dst
                )
            });
            return;
        }
        let mut rx = *rx;
        if self.sockets[si].sock.is_ah() {
            match self.open_ah(si, &rx) {
                Some(vrrp) => rx.payload = vrrp,
                None => return,
            }
        }
        let rx = &rx;
        let mut meta = rx.meta();
        if group.is_none() {
            if !self.peer_ttl_ok(si, rx) {
                return;
            }
            // keepalived checks the TTL / hop limit (255) of multicast adverts only:
            // unicast ones may have crossed routers, or been sent with `unicast_ttl`
            // or the kernel's default IPv6 hop limit (keepalived's, without it).
            meta.ttl = wire::TTL;
        }
        match self.router.on_datagram(now(), si as u32, rx.payload, &meta) {
            Ok(a) => {
                // Counted once accepted: every packet lands in exactly one counter (a
                // drop reason or these), and a forged priority-0 advert with the wrong
                // password does not show as a resignation.
                let s = &mut self.slots[a.instance];
                if a.restarted_timer {
                    // A master's advert: what the kernel had dropped until then cannot
                    // have been a newer one.
                    s.kernel_drops_seen = rx.kernel_drops;
                    s.deferred = false;
                    s.master_priority = a.priority;
                }
                if a.old_checksum {
                    info!(
                        "({}) Setting unicast VRRPv3 checksum to old version",
                        s.plan.name
                    );
                }
                s.counters.adverts_rx += 1;
                if a.priority == 0 {
                    s.counters.priority_zero_rx += 1;
                }
                // keepalived's "lower": a lower priority, or the same one from a lower
                // address (the core's election rule, RFC 5798 6.4.3).
                let ours = self.router.instance(a.instance).map(|c| c.config().primary);
                let lower = a.priority < a.ours
                    || (a.priority == a.ours
                        && ours.is_some_and(|o| addr_key(rx.src) < addr_key(o)));
                let s = &mut self.slots[a.instance];
                if a.was == vigil_core::machine::State::Master && a.priority != 0 && lower {
                    debug!(
                        "({}) Received advert from {} with lower priority {}, ours {}",
                        s.plan.name, rx.src, a.priority, a.ours
                    );
                    // keepalived's `send_event_notify`: the script alone, without
                    // arguments, and a MASTER_RX_LOWER_PRI line on the FIFOs, on every
                    // such advert (the line with or without the script). Queued with
                    // the instance's notifications, so it keeps their order.
                    let name = s.plan.name.clone();
                    let scripts = crate::notify::Scripts {
                        master_rx_lower_pri: s.plan.notify_master_rx_lower_pri.clone(),
                        ..Default::default()
                    };
                    self.note(
                        crate::notify::Kind::Instance,
                        name,
                        scripts,
                        "MASTER_RX_LOWER_PRI",
                        a.ours,
                    );
                }
            }
            Err(d) => self.dropped(si, d, rx),
        }
        if self.router.has_output() {
            self.drain();
        }
        // The reactor re-arms the timer once per turn, not here per packet.
    }

    /// keepalived's `min_ttl` / `max_ttl` of a unicast peer (with `check_unicast_src`):
    /// an advert from that peer to an instance on socket `si` must arrive with a TTL /
    /// hop limit in the range. `false`: dropped (counted and logged here).
    fn peer_ttl_ok(&mut self, si: usize, rx: &Received<'_>) -> bool {
        let Some(&vrid) = rx.payload.get(1) else {
            return true;
        };
        let refused = self.slots.iter().enumerate().find_map(|(i, s)| {
            if s.socket != si || s.plan.core.vrid != vrid {
                return None;
            }
            let &(_, lo, hi) = s.plan.peer_ttl.iter().find(|p| p.0 == rx.src)?;
            (rx.ttl < lo || rx.ttl > hi).then_some((i, lo, hi))
        });
        let Some((i, lo, hi)) = refused else {
            return true;
        };
        self.slots[i].counters.drop("ttl");
        let name = &self.slots[i].plan.name;
        let ttl = rx.ttl;
        self.drop_log.dropped("ttl", Some(rx.src), || {
            format!("({name}) TTL/HL {ttl} not in range {lo} - {hi}")
        });
        false
    }

    /// Counts a refused datagram under its reason (the instance's counters once it was
    /// demultiplexed) and logs it, rate-limited.
    fn dropped(&mut self, si: usize, d: RxDrop, rx: &Received<'_>) {
        let reason = d.reason().as_str();
        let src = Some(rx.src);
        let Some(i) = d.instance() else {
            let ifname = &self.sockets[si].ifname;
            *self.drops.entry(reason).or_default() += 1;
            self.drop_log.dropped(reason, src, || match d {
                RxDrop::UnknownVrid { vrid } => {
                    format!("Unknown VRID({vrid}) received on interface({ifname}). ignoring...")
                }
                _ => "VRRP packet too short".to_string(),
            });
            return;
        };
        self.slots[i].counters.drop(reason);
        let name = &self.slots[i].plan.name;
        let Some(ours) = self.router.instance(i).map(|x| *x.config()) else {
            return;
        };
        let text = || -> Option<String> {
            Some(match d {
                RxDrop::UnicastSource { .. } => format!(
                    "({name}) unicast source address {} not a unicast peer",
                    rx.src
                ),
                RxDrop::WrongDestination { .. } => {
                    format!("({name}) discarding packet to {}", rx.dst)
                }
                RxDrop::Wire { error, .. } => {
                    let first = rx.payload.first().copied().unwrap_or(0);
                    describe_wire_error(name, &error, first, rx.ttl)
                }
                RxDrop::Machine { drop, .. } => {
                    // Parsed once more, only when the line is logged.
                    let repr = Repr::parse(rx.payload, &rx.meta(), ours.checksum).ok()?;
                    describe_core_drop(name, &drop, &repr, &ours)?
                }
                RxDrop::Truncated | RxDrop::UnknownVrid { .. } => return None,
            })
        };
        if matches!(
            d,
            RxDrop::Machine {
                drop: Drop::OwnAdvert | Drop::NotListening | Drop::Owner,
                ..
            }
        ) {
            return;
        }
        self.drop_log
            .dropped(reason, src, || text().unwrap_or_else(|| reason.to_string()));
    }

    /// Counts a drop no instance saw, and logs it (rate-limited).
    pub fn drop_global(
        &mut self,
        reason: &'static str,
        src: Option<IpAddr>,
        describe: impl FnOnce() -> String,
    ) {
        *self.drops.entry(reason).or_default() += 1;
        self.drop_log.dropped(reason, src, describe);
    }
}

/// A codec rejection in keepalived's words (vrrp.c's log lines).
fn describe_wire_error(name: &str, e: &wire::Error, first: u8, ttl: u8) -> String {
    use wire::Error as E;
    match e {
        E::Ttl(t) => format!("({name}) invalid TTL/HL. Received {t} and expect 255"),
        E::Truncated | E::Length { .. } => format!("({name}) vrrp packet too short: {e}"),
        E::Version(v) => format!("({name}) wrong version. Received {v}"),
        E::Type(t) => format!("({name}) Invalid packet type. {t} and expect 1"),
        E::Checksum { .. } => format!("({name}) Invalid VRRPv{} checksum", first >> 4),
        E::AuthType(t) => format!("({name}) Invalid auth type: {t}"),
        E::AuthAh => format!("({name}) Received AH header but auth type not AH"),
        E::Password => format!("({name}) received an invalid passwd!"),
        _ => format!("({name}) {e} (TTL {ttl})"),
    }
}

/// An advert the state machine refused, in keepalived's words; `None` for refusals
/// that are not the sender's fault (our own advert, an instance in FAULT).
fn describe_core_drop(
    name: &str,
    d: &Drop,
    repr: &Repr<'_>,
    ours: &vigil_core::machine::Config,
) -> Option<String> {
    Some(match d {
        Drop::Version => format!(
            "({name}) wrong version. Received {} and expect {}",
            repr.version.number(),
            ours.version.number()
        ),
        Drop::Auth(e) => match e {
            wire::Error::Password => format!("({name}) received an invalid passwd!"),
            e => format!("({name}) {e}"),
        },
        Drop::Interval => format!(
            "({name}) advertisement interval mismatch mine={} sec rcv'd={} sec",
            ours.interval.centis() / 100,
            repr.interval.centis() / 100
        ),
        Drop::Addresses => format!(
            "({name}) ip address associated with VRID {} not present in MASTER advert",
            repr.vrid
        ),
        Drop::Vrid => format!("({name}) VRID {} is not ours", repr.vrid),
        Drop::OwnAdvert | Drop::NotListening | Drop::Owner => return None,
    })
}

/// Addresses compare as unsigned integers in network byte order (RFC 5798 6.4.3).
fn addr_key(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}
