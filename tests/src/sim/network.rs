//! The simulated wire: the bytes a router's `poll_transmit` wrote, copied to every
//! connected, running router, each copy lost or delayed per directed link, and handed
//! to the receiver's router as a datagram with its receive metadata.

use std::net::IpAddr;
use std::rc::Rc;

use vigil_core::machine::{Drop, State};
use vigil_core::router::RxDrop;
use vigil_core::wire::{self, RxMeta};

use super::trace::Note;
use super::world::{EvKind, Sim};
use super::{Res, addr_key};

/// Every instance in the simulation advertises to the VRRP multicast group.
pub(super) const MCAST: IpAddr = IpAddr::V4(wire::MCAST_V4);

impl Sim {
    /// Puts one advert (`bytes`, checked by the oracle) from `node` on `lan` on the wire
    /// to every connected running router.
    pub(super) fn transmit(&mut self, node: usize, lan: usize, prio: u8, bytes: Rc<[u8]>) {
        self.nodes[node].models[lan].last_sent = Some(self.now);
        self.stats.adverts += 1;
        self.note(Note::Send { node, lan, prio });
        for to in 0..self.nodes.len() {
            if to == node
                || !self.nodes[to].up
                || self.lans[lan].side[to] != self.lans[lan].side[node]
            {
                continue;
            }
            let link = self.setup.lans[lan].links[node][to];
            if self.rng.ppm(link.loss_ppm) {
                self.lans[lan].pair_lost[node][to] += 1;
                let rm = &mut self.nodes[to].models[lan];
                if rm.resets(prio) {
                    rm.lost_resetting += 1;
                }
                self.stats.copies_lost += 1;
                self.note(Note::Lost {
                    from: node,
                    to,
                    lan,
                    prio,
                });
                continue;
            }
            let at = self.now + link.delay + self.rng.below(link.jitter + 1);
            if prio == 0 {
                self.resign_to.push((lan, to, at));
            }
            self.push(
                at,
                EvKind::Deliver {
                    lan,
                    from: node,
                    to,
                    prio,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    pub(super) fn deliver(
        &mut self,
        lan: usize,
        from: usize,
        to: usize,
        prio: u8,
        bytes: &[u8],
    ) -> Res {
        if !self.nodes[to].up {
            return Ok(());
        }
        if self.lans[lan].side[to] != self.lans[lan].side[from] {
            self.note(Note::Cut { from, to, lan });
            return Ok(());
        }
        self.lans[lan].pair_lost[from][to] = 0;
        let l = &self.setup.lans[lan];
        let src = l.primary(from);
        let mine = l.primary(to);
        let meta = RxMeta {
            src,
            dst: MCAST,
            ttl: wire::TTL,
        };
        let (md, skew) = {
            let eff = self.nodes[to].models[lan].eff;
            (l.master_down(eff), l.skew(eff))
        };
        let inst = self.instance(to, lan);
        let state0 = inst.state();
        let eff0 = inst.effective_priority();
        let wins = state0 == State::Master
            && prio != 0
            && (prio > eff0
                || (prio == eff0 && (prio == u8::MAX || addr_key(src) > addr_key(mine))));
        let now = self.instant();
        let result = self.nodes[to]
            .router
            .on_datagram(now, lan as u32, bytes, &meta);
        self.after_input(to)?;
        let drop = match result {
            Ok(a) if (a.instance, a.priority, a.ours, a.was) == (lan, prio, eff0, state0) => None,
            Ok(a) => {
                return Err(format!(
                    "{} accepted {}'s advert (prio {prio}) as {a:?}: in {state0:?} at prio {eff0}",
                    self.who(to, lan),
                    self.who(from, lan)
                ));
            }
            Err(d) => Some(d),
        };
        self.note(Note::Rx {
            from,
            to,
            lan,
            prio,
            drop,
        });
        match drop {
            None => {}
            Some(RxDrop::Machine {
                instance,
                drop: Drop::NotListening,
            }) if instance == lan && matches!(state0, State::Initialize | State::Fault) => {}
            Some(d) => {
                return Err(format!(
                    "{} dropped {}'s advert ({}: {d:?}) in state {state0:?}",
                    self.who(to, lan),
                    self.who(from, lan),
                    d.reason().as_str()
                ));
            }
        }
        if wins && self.instance(to, lan).state() == State::Master {
            return Err(format!(
                "{} (prio {eff0}) stayed MASTER after a winning advert (prio {prio}) from {}",
                self.who(to, lan),
                self.who(from, lan)
            ));
        }
        let m = &mut self.nodes[to].models[lan];
        if state0 == State::Backup && drop.is_none() && m.modelled {
            // RFC 5798 6.4.2.
            if prio == 0 {
                m.expected_down = Some(self.now + skew);
                m.resigned = true;
                m.lost_resetting = 0;
            } else if prio >= eff0 || !m.preempts {
                m.expected_down = Some(self.now + md);
                m.resigned = false;
                m.lost_resetting = 0;
            }
        }
        self.refresh_node(to)
    }
}
