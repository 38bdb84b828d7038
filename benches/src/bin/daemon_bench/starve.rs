//! Starvation: VRRPv3 at 0.1 s while CPU hogs (this program's `hog`, two spinning
//! threads, normal priority) run in lb1's and lb2's namespaces. A false failover is a
//! burst of adverts from the backup.

use vigil_tests::netns::KillOnDrop;

use crate::capture::{Capture, What};
use crate::daemons::{Daemon, Impl, Setup};
use crate::topo::{Node, Topo};
use crate::{Ctx, R, log, now};

pub fn section(ctx: &Ctx) -> String {
    format!(
        "Starvation: {} s soak, VRRPv3 0.1 s, CPU hog (2 threads) in each LB namespace",
        ctx.plan.soak_s
    )
}

pub fn run(ctx: &Ctx) -> R<()> {
    let sec = section(ctx);
    ctx.results.section(&sec);
    let setup = Setup::one(3, 0.1, false);
    for which in [Impl::Vigild, Impl::Keepalived] {
        let topo = Topo::new("h", 1)?;
        let cap = Capture::start(ctx, &topo, &Topo::port(Node::Lb2, 0))?;
        let _b = Daemon::start(ctx, which, &topo, Node::Lb2, &setup, 100, false)?;
        let a = Daemon::start(ctx, which, &topo, Node::Lb1, &setup, 200, true)?;
        if !ctx.wait_until(10.0, || {
            topo.vips_on(Node::Lb1) == 1 && topo.vips_on(Node::Lb2) == 0
        })? {
            ctx.results.problem(format!(
                "{}: lb1 did not become the only master",
                which.name()
            ));
        }
        ctx.sleep(1.0)?;
        log(format!(
            "{}: {} s soak with CPU hogs",
            which.name(),
            ctx.plan.soak_s
        ));
        let t0 = now();
        let hogs = [Node::Lb1, Node::Lb2].map(|n| {
            topo.ns(n)
                .command(&ctx.me)
                .args(["hog", &ctx.plan.soak_s.to_string()])
                .stdin(std::process::Stdio::null())
                .spawn()
                .map(KillOnDrop)
        });
        let mut hogs: Vec<KillOnDrop> = hogs.into_iter().collect::<Result<_, _>>()?;
        let end =
            std::time::Instant::now() + std::time::Duration::from_secs_f64(ctx.plan.soak_s + 10.0);
        for h in &mut hogs {
            while matches!(h.0.try_wait(), Ok(None)) && std::time::Instant::now() < end {
                ctx.sleep(0.05)?;
            }
        }
        drop(hogs);
        let t1 = now();
        ctx.sleep(0.5)?;
        let events = cap.stop()?;
        drop(a);
        let lb1 = Topo::ip(0, Node::Lb1.host());
        let lb2 = Topo::ip(0, Node::Lb2.host());
        let times = |from, hi: f64| -> Vec<f64> {
            events
                .iter()
                .filter_map(|e| match e.what {
                    What::Advert { src, prio }
                        if src == from && prio > 0 && e.t >= t0 && e.t <= hi =>
                    {
                        Some(e.t)
                    }
                    _ => None,
                })
                .collect()
        };
        let m = times(lb1, t1);
        let s = times(lb2, t1 + 0.5);
        let bursts = s
            .iter()
            .enumerate()
            .filter(|&(i, &x)| i == 0 || x - s[i - 1] > 3.0 * 0.1 + 0.1)
            .count();
        let gap = m.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        if m.len() < 2 {
            ctx.results
                .problem(format!("{}: no master adverts in the soak", which.name()));
        }
        ctx.results.add(
            &sec,
            "false failovers (backup advertising; one soak per implementation, total count)",
            0,
            0.0,
            which,
            bursts as f64,
        );
        ctx.results.add(
            &sec,
            "longest gap between the master's adverts (ms)",
            1,
            0.0,
            which,
            gap * 1e3,
        );
    }
    Ok(())
}
