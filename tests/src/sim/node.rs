//! One simulated router: calls into its instances (start, timeout, shutdown, tracker
//! changes, adverts), its sync group, and the re-reading of deadlines after each call.

use std::net::IpAddr;

use vigil_core::Instant;
use vigil_core::group::SyncGroup;
use vigil_core::machine::{Drop as RxDrop, Effect, InitialState, Instance, MAX_EFFECTS, State};
use vigil_core::priority::TrackStatus;
use vigil_core::wire::Repr;

use super::oracle::Model;
use super::world::Sim;
use super::{Res, fmt_t};

pub(super) enum Call<'a, 'b> {
    Start,
    Timeout,
    Shutdown,
    Track(TrackStatus),
    Advert(&'a Repr<'b>, IpAddr),
}

impl Sim {
    /// One call into one instance; its effects are checked and carried out. The caller
    /// runs [`Sim::after_call`] once its own bookkeeping is done.
    pub(super) fn call(
        &mut self,
        node: usize,
        lan: usize,
        call: Call<'_, '_>,
    ) -> Res<Option<RxDrop>> {
        let now = Instant::from_ticks(self.now);
        let mut fx = std::mem::take(&mut self.scratch);
        fx.clear();
        let result = {
            let inst = &mut self.nodes[node].insts[lan];
            // A counting sink: every effect is recorded, so the count per call is exact.
            let mut sink = |e: Effect| fx.push(e);
            match call {
                Call::Start => {
                    inst.start(now, &mut sink);
                    Ok(())
                }
                Call::Timeout => {
                    inst.on_timeout(now, &mut sink);
                    Ok(())
                }
                Call::Shutdown => {
                    inst.shutdown(now, &mut sink);
                    Ok(())
                }
                Call::Track(s) => {
                    inst.set_tracking(now, s, &mut sink);
                    Ok(())
                }
                Call::Advert(repr, src) => inst.on_advert(now, repr, src, &mut sink),
            }
        };
        let checked = if fx.len() > MAX_EFFECTS {
            Err(format!(
                "{} produced {} effects in one call, more than MAX_EFFECTS = {MAX_EFFECTS}: {fx:?}",
                self.who(node, lan),
                fx.len()
            ))
        } else {
            self.apply(node, lan, &fx)
        };
        self.scratch = fx;
        checked?;
        Ok(result.err())
    }

    pub(super) fn timer(
        &mut self,
        node: usize,
        lan: usize,
        incarnation: u32,
        generation: u64,
    ) -> Res {
        let n = &self.nodes[node];
        if !n.up || n.incarnation != incarnation || n.models[lan].generation != generation {
            return Ok(());
        }
        let state0 = n.insts[lan].state();
        let expected = n.models[lan].expected_down;
        let modelled = n.models[lan].modelled;
        self.call(node, lan, Call::Timeout)?;
        let inst = &self.nodes[node].insts[lan];
        if modelled
            && state0 == State::Backup
            && inst.state() == State::Backup
            && expected.is_some_and(|e| self.now >= e)
        {
            return Err(format!(
                "{}: master-down timer due at {} s, but it stayed BACKUP",
                self.who(node, lan),
                fmt_t(expected.unwrap_or_default())
            ));
        }
        if let Some(p) = inst.poll_at()
            && p.as_ticks() <= self.now
        {
            return Err(format!(
                "{}: on_timeout left a deadline due ({} s): it would never be woken again",
                self.who(node, lan),
                fmt_t(p.as_ticks())
            ));
        }
        self.after_call(node)
    }

    /// After any input to a node: its sync group settles, then every instance's
    /// bookkeeping is checked and its deadline re-read.
    pub(super) fn after_call(&mut self, node: usize) -> Res {
        if let Some(mut group) = self.nodes[node].group.take() {
            let mut tagged: Vec<(usize, Effect)> = Vec::new();
            group.settle(
                &mut self.nodes[node].insts,
                Instant::from_ticks(self.now),
                &mut |m, e| tagged.push((m, e)),
            );
            self.nodes[node].group = Some(group);
            for lan in 0..self.setup.lans.len() {
                let fx: Vec<Effect> = tagged
                    .iter()
                    .filter(|(m, _)| *m == lan)
                    .map(|&(_, e)| e)
                    .collect();
                if fx.len() > MAX_EFFECTS {
                    return Err(format!(
                        "sync group settle produced {} effects for {}: {fx:?}",
                        fx.len(),
                        self.who(node, lan)
                    ));
                }
                self.apply(node, lan, &fx)?;
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.refresh(node, lan)?;
        }
        Ok(())
    }

    pub(super) fn start(&mut self, n: usize) -> Res {
        let sync = self.setup.sync_groups;
        let node = &mut self.nodes[n];
        node.up = true;
        node.incarnation += 1;
        for (lan, l) in self.setup.lans.iter().enumerate() {
            node.insts[lan] = Instance::new(l.configs[n], l.vips[n].clone())
                .expect("the scenario's configuration is valid");
            let generation = node.models[lan].generation;
            node.models[lan] = Model::new(&l.configs[n], sync, generation);
        }
        if sync {
            let members: Vec<usize> = (0..self.setup.lans.len()).collect();
            node.group = Some(
                SyncGroup::new(&members, &mut node.insts).expect("sync group fits its capacity"),
            );
        }
        for lan in 0..self.setup.lans.len() {
            let status = self.nodes[n].track[lan];
            if status != TrackStatus::HEALTHY {
                self.call(n, lan, Call::Track(status))?;
            }
        }
        for lan in 0..self.setup.lans.len() {
            self.call(n, lan, Call::Start)?;
            self.after_call(n)?;
            // RFC 5798 6.4.1: the address owner goes straight to MASTER.
            let c = &self.setup.lans[lan].configs[n];
            let inst = &self.nodes[n].insts[lan];
            if c.priority == u8::MAX
                && c.initial == InitialState::Master
                && !inst.is_faulty()
                && inst.state() != State::Master
            {
                return Err(format!(
                    "{}: the address owner started in {:?}, not MASTER",
                    self.who(n, lan),
                    inst.state()
                ));
            }
        }
        Ok(())
    }
}
