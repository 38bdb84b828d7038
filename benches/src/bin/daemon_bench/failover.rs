//! Failover: lb1 (priority 200) and lb2 (100) with one instance; per trial lb1 is
//! SIGKILLed (crash), restarted (preemption back) and SIGTERMed (graceful), and the
//! capture on lb2's bridge port says when what happened.
//!
//! Every implementation and mode (multicast, unicast) of one protocol setting runs at
//! the same time, each on its own namespaces: the figures are set by protocol timers.

use crate::capture::{Capture, Event, What};
use crate::daemons::{Daemon, Impl, Setup};
use crate::topo::{Node, Topo};
use crate::{Ctx, R, log, now};

const LB2_PRIO: u8 = 100;

/// The moments of one trial (CLOCK_REALTIME seconds).
#[derive(Debug, Clone, Copy)]
struct Marks {
    crash: f64,
    preempt: f64,
    graceful: f64,
    took: bool,
    back: bool,
    took_graceful: bool,
}

pub fn section(version: u8, advert_s: f64, unicast: bool) -> String {
    format!(
        "Failover, v{version} {advert_s} s {}",
        if unicast { "unicast" } else { "multicast" }
    )
}

pub fn run(ctx: &Ctx) -> R<()> {
    for &(version, advert_s, trials) in &ctx.plan.failover {
        for unicast in [false, true] {
            ctx.results.section(&section(version, advert_s, unicast));
        }
        let outcomes: Vec<R<()>> = std::thread::scope(|s| {
            let handles: Vec<_> = [false, true]
                .into_iter()
                .flat_map(|u| [(Impl::Vigild, u), (Impl::Keepalived, u)])
                .map(|(which, unicast)| {
                    let setup = Setup::one(version, advert_s, unicast);
                    s.spawn(move || suite(ctx, which, &setup, trials))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("failover suite panicked".into()))
                })
                .collect()
        });
        for o in outcomes {
            if let Err(e) = o {
                if ctx.stopped() {
                    return Err(e);
                }
                ctx.results
                    .problem(format!("failover v{version} {advert_s} s: {e}"));
            }
        }
    }
    Ok(())
}

fn suite(ctx: &Ctx, which: Impl, setup: &Setup, trials: usize) -> R<()> {
    let adv = setup.advert_s;
    let name = format!(
        "{} v{} {adv} s {}",
        which.name(),
        setup.version,
        if setup.unicast {
            "unicast"
        } else {
            "multicast"
        }
    );
    let topo = Topo::new("f", 1)?;
    let cap = Capture::start(ctx, &topo, &Topo::port(Node::Lb2, 0))?;
    let start = |node, prio, master| Daemon::start(ctx, which, &topo, node, setup, prio, master);
    let _b = start(Node::Lb2, LB2_PRIO, false)?;
    ctx.sleep(0.3)?;
    let mut a = start(Node::Lb1, 200, true)?;
    let converged = || topo.vips_on(Node::Lb1) == 1 && topo.vips_on(Node::Lb2) == 0;
    if !ctx.wait_until(10.0 + 4.0 * adv, converged)? {
        ctx.results
            .problem(format!("{name}: lb1 did not become the only master"));
    }
    let settle = 3.0 * adv + 0.5;
    let bound = 10.0 * adv + 5.0;
    let mut marks = Vec::new();
    for t in 0..trials {
        ctx.sleep(settle)?;
        let crash = now();
        a.kill();
        topo.flush_vips(Node::Lb1);
        let took = ctx.wait_until(bound, || topo.vips_on(Node::Lb2) == 1)?;
        ctx.sleep(settle)?;
        let preempt = now();
        a = start(Node::Lb1, 200, true)?;
        let back = ctx.wait_until(bound + 5.0, converged)?;
        ctx.sleep(settle)?;
        let graceful = now();
        a.term();
        let took_graceful = ctx.wait_until(bound, || topo.vips_on(Node::Lb2) == 1)?;
        topo.flush_vips(Node::Lb1);
        ctx.sleep(settle)?;
        a = start(Node::Lb1, 200, true)?;
        ctx.wait_until(bound + 5.0, converged)?;
        log(format!(
            "{name}: trial {}/{trials} (crash {}, preemption {}, graceful {})",
            t + 1,
            ok(took),
            ok(back),
            ok(took_graceful)
        ));
        for (what, good) in [
            ("crash", took),
            ("preemption", back),
            ("graceful", took_graceful),
        ] {
            if !good {
                ctx.results.problem(format!(
                    "{name}: trial {}: {what} failover did not happen",
                    t + 1
                ));
            }
        }
        marks.push(Marks {
            crash,
            preempt,
            graceful,
            took,
            back,
            took_graceful,
        });
    }
    ctx.sleep(2.0 * adv)?;
    let events = cap.stop()?;
    drop(a);
    analyse(ctx, which, setup, &name, &marks, &events);
    Ok(())
}

fn ok(b: bool) -> &'static str {
    if b { "ok" } else { "FAILED" }
}

fn analyse(ctx: &Ctx, which: Impl, setup: &Setup, name: &str, marks: &[Marks], ev: &[Event]) {
    let sec = section(setup.version, setup.advert_s, setup.unicast);
    let lb1 = Topo::ip(0, Node::Lb1.host());
    let lb2 = Topo::ip(0, Node::Lb2.host());
    let lb1_mac = Topo::mac(Node::Lb1, 0);
    let mdi = setup.master_down_s(LB2_PRIO);
    let skew = setup.skew_s(LB2_PRIO);
    let adverts = |from, prio_ok: &dyn Fn(u8) -> bool, lo: f64, hi: f64| -> Vec<f64> {
        ev.iter()
            .filter_map(|e| match e.what {
                What::Advert { src, prio }
                    if src == from && prio_ok(prio) && e.t > lo && e.t <= hi =>
                {
                    Some(e.t)
                }
                _ => None,
            })
            .collect()
    };
    let garps = |from_lb1: bool, lo: f64, hi: f64| -> Vec<f64> {
        ev.iter()
            .filter_map(|e| match e.what {
                What::Garp { mac, .. } if (mac == lb1_mac) == from_lb1 && e.t > lo && e.t < hi => {
                    Some(e.t)
                }
                _ => None,
            })
            .collect()
    };
    let add = |label: &str, v: f64| ctx.results.add(&sec, label, 2, 0.0, which, v);
    let add_tol = |label: &str, v: f64| ctx.results.add(&sec, label, 2, 0.5, which, v);
    let live = |p: u8| p > 0;
    for (i, m) in marks.iter().enumerate() {
        let trial = i + 1;
        // crash: the old master's last advert -> the new master's first advert and GARP
        let old = adverts(lb1, &live, 0.0, m.crash + 0.05);
        let new = adverts(lb2, &live, m.crash, m.preempt);
        let garp = garps(false, m.crash, m.preempt);
        match (old.last(), new.first()) {
            (Some(&last), Some(&first)) if m.took => {
                add_tol(
                    "crash: old master's last advert → new master's first advert (ms)",
                    (first - last) * 1e3,
                );
                add(
                    "crash: overhead beyond the master-down deadline, first advert (ms)",
                    (first - last - mdi) * 1e3,
                );
                if let Some(&g) = garp.first() {
                    add(
                        "crash: overhead beyond the master-down deadline, first GARP (ms)",
                        (g - last - mdi) * 1e3,
                    );
                }
            }
            _ => ctx.results.problem(format!(
                "{name}: trial {trial}: crash not seen in the capture"
            )),
        }
        // graceful: the priority-0 advert -> the backup's first advert and GARP
        let zero = adverts(lb1, &|p| p == 0, m.graceful, m.graceful + 5.0);
        let new = adverts(lb2, &live, m.graceful, f64::MAX);
        let garp = garps(false, m.graceful, f64::MAX);
        match (zero.first(), new.first()) {
            (Some(&z), Some(&first)) if m.took_graceful => {
                add_tol(
                    "graceful (SIGTERM): priority-0 advert → backup's first advert (ms)",
                    (first - z) * 1e3,
                );
                if let Some(&g) = garp.first() {
                    add(
                        "graceful: overhead beyond the skew time, first GARP (ms)",
                        (g - z - skew) * 1e3,
                    );
                }
            }
            _ => ctx.results.problem(format!(
                "{name}: trial {trial}: graceful failover not seen in the capture"
            )),
        }
        // preemption back: lb1 restarted -> its first GARP
        match garps(true, m.preempt, m.graceful).first() {
            Some(&g) if m.back => add(
                "preemption back: lb1 restarted → its first GARP (ms)",
                (g - m.preempt) * 1e3,
            ),
            _ => ctx.results.problem(format!(
                "{name}: trial {trial}: preemption not seen in the capture"
            )),
        }
    }
}
