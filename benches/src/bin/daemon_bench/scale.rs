//! Idle cost and scale: lb1 MASTER (priority 200) and lb2 BACKUP (100) of `n` VRRPv3
//! instances (1 s), over 10 interfaces from 10 instances on; after convergence and a
//! settling time, consecutive windows measure CPU, wake-ups and memory of both sides.
//! The implementations run one after the other on the same namespaces, in rounds: the
//! floor, vigild, keepalived, then the other way round.

use crate::daemons::{Daemon, Impl, Setup};
use crate::procstat::{Usage, pss_kb, rss_kb};
use crate::topo::{Node, Topo, instances};
use crate::{Ctx, R, log};

pub fn section(n: usize) -> String {
    if n == 1 {
        "Idle and memory, 1 instance (VRRPv3 1 s)".to_owned()
    } else {
        format!("Scale: {n} instances (VRRPv3 1 s, 10 interfaces)")
    }
}

pub fn run(ctx: &Ctx, n: usize) -> R<()> {
    let sec = section(n);
    ctx.results.section(&sec);
    let nif = if n < 10 { 1 } else { 10 };
    let topo = Topo::new("s", nif)?;
    let setup = Setup {
        version: 3,
        advert_s: 1.0,
        unicast: false,
        instances: instances(nif, n),
    };
    // keepalived takes minutes to bring up 1,000 instances.
    let bound = (60.0_f64).max(n as f64 * 0.25);
    let rounds = (0..ctx.plan.rounds).flat_map(|r| {
        let mut order = [Impl::Floor, Impl::Vigild, Impl::Keepalived];
        if r % 2 == 1 {
            order.reverse();
        }
        order
    });
    for which in rounds {
        let name = format!("{} x{n}", which.name());
        let t0 = std::time::Instant::now();
        let b = Daemon::start(ctx, which, &topo, Node::Lb2, &setup, 100, false)?;
        let a = Daemon::start(ctx, which, &topo, Node::Lb1, &setup, 200, true)?;
        if which != Impl::Floor {
            let converged = ctx.wait_until(bound, || {
                topo.vips_on(Node::Lb1) == n && topo.vips_on(Node::Lb2) == 0
            })?;
            let secs = t0.elapsed().as_secs_f64();
            log(format!(
                "{name}: {} in {secs:.1} s",
                if converged {
                    "converged"
                } else {
                    "NOT converged"
                }
            ));
            if !converged {
                ctx.results
                    .problem(format!("{name}: not converged within {bound} s"));
            }
            ctx.results.add(
                &sec,
                &format!(
                    "start of both → every VIP on lb1, none on lb2 (s; one start per round, wait bounded at {bound} s)"
                ),
                1,
                0.5,
                which,
                secs,
            );
        }
        ctx.sleep(ctx.plan.settle_s)?;
        log(format!(
            "{name}: {} windows of {} s",
            ctx.plan.windows, ctx.plan.window_s
        ));
        for _ in 0..ctx.plan.windows {
            let u0 = [Usage::of(&a.pids), Usage::of(&b.pids)];
            let t = std::time::Instant::now();
            ctx.sleep(ctx.plan.window_s)?;
            let dt = t.elapsed().as_secs_f64();
            for (i, (role, d)) in [("master", &a), ("backup", &b)].into_iter().enumerate() {
                let u = Usage::of(&d.pids).since(u0[i]);
                let add = |label: &str, digits, tol, v| {
                    ctx.results
                        .add(&sec, &format!("{role}: {label}"), digits, tol, which, v)
                };
                add("CPU (µs per second)", 1, 0.0, u.cpu_ns as f64 / 1e3 / dt);
                // Whole counts in a short window: one more or less is the phase of a
                // 1 s timer against the window, not a difference.
                add(
                    "wake-ups (voluntary context switches per second)",
                    1,
                    1.0 / dt,
                    u.wakeups as f64 / dt,
                );
                add(
                    "RSS (MB, all processes)",
                    1,
                    0.0,
                    rss_kb(&d.pids) as f64 / 1024.0,
                );
                add(
                    "PSS (MB, all processes)",
                    1,
                    0.0,
                    pss_kb(&d.pids) as f64 / 1024.0,
                );
            }
            if which != Impl::Floor {
                ctx.results.add(
                    &sec,
                    "VIPs up on the backup as well (split brain; 0 expected)",
                    0,
                    0.0,
                    which,
                    topo.vips_on(Node::Lb2) as f64,
                );
            }
        }
        drop(a);
        drop(b);
        topo.flush_vips(Node::Lb1);
        topo.flush_vips(Node::Lb2);
    }
    Ok(())
}
