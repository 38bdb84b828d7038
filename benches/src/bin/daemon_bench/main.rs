//! vigild against keepalived 2.2.7 and against the floor (the least a VRRP speaker can
//! cost: the same syscalls, nothing else), in one run, on network namespaces this
//! program builds (names with its pid, deleted on drop).
//!
//!   daemon_bench [--quick] [--out FILE] [--only SECTIONS] [--scale 1,100,1000]
//!                [--vigild PATH] [--keepalived PATH] [--keep DIR]
//!
//! Sections: flood, failover, scale (idle CPU, wake-ups, memory; 1 instance is the idle
//! row), starve. `--quick` runs each for a few seconds (a smoke test: scripts/test) and
//! fails on any problem met; the full run (about 13 minutes) writes BENCHMARKS.md.
//! Needs root; without it, prints `SKIPPED` and exits 0 unless VIGIL_REQUIRE_PRIVILEGED=1.
//! Internal subcommands: `floor ...` (floor.rs) and `hog SECONDS` (a CPU hog).

mod capture;
mod daemons;
mod failover;
mod flood;
mod floor;
mod procstat;
mod report;
mod results;
mod scale;
mod starve;
mod topo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use results::Results;

pub type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// What every suite needs.
#[derive(Debug)]
pub struct Ctx {
    pub vigild: PathBuf,
    pub keepalived: PathBuf,
    /// This program, for the floor and the hog.
    pub me: PathBuf,
    /// Configurations, logs and captures; removed at the end (unless --keep).
    pub work: PathBuf,
    pub plan: Plan,
    pub results: Results,
    ids: AtomicU32,
}

impl Ctx {
    pub fn next_id(&self) -> u32 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether SIGINT or SIGTERM asked us to stop.
    pub fn stopped(&self) -> bool {
        STOP.load(Ordering::Relaxed)
    }

    /// Sleeps `secs`, or fails early if asked to stop (so that drops clean up).
    pub fn sleep(&self, secs: f64) -> R<()> {
        let end = Instant::now() + Duration::from_secs_f64(secs.max(0.0));
        loop {
            if self.stopped() {
                return Err("interrupted".into());
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Polls `cond` every 20 ms for at most `secs`; whether it became true.
    pub fn wait_until(&self, secs: f64, mut cond: impl FnMut() -> bool) -> R<bool> {
        let end = Instant::now() + Duration::from_secs_f64(secs);
        for _ in 0..1_000_000 {
            if cond() {
                return Ok(true);
            }
            if Instant::now() > end {
                break;
            }
            self.sleep(0.02)?;
        }
        Ok(cond())
    }
}

/// CLOCK_REALTIME in seconds, as the captures stamp frames.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// How long and how often: the full run or the quick smoke test.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub flood_trials: usize,
    pub junk_trials: usize,
    pub flood_count: u64,
    pub flood_seconds: f64,
    /// (version, advert_int s, trials)
    pub failover: Vec<(u8, f64, usize)>,
    pub scale: Vec<usize>,
    /// Idle and scale: rounds, each starting every implementation in turn (the order
    /// reversed every other round, so that a drift of the machine's load evens out),
    /// and windows per implementation and round.
    pub rounds: usize,
    pub windows: usize,
    pub window_s: f64,
    /// After convergence, before the windows: past keepalived's second round of
    /// gratuitous ARPs (garp_master_delay, 5 s).
    pub settle_s: f64,
    pub soak_s: f64,
    pub sections: Vec<String>,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            quick: false,
            flood_trials: 5,
            junk_trials: 3,
            flood_count: 20_000,
            flood_seconds: 2.0,
            failover: vec![(3, 0.1, 5), (2, 1.0, 4)],
            scale: vec![1, 100, 1000],
            rounds: 2,
            windows: 4,
            window_s: 3.0,
            settle_s: 7.0,
            soak_s: 30.0,
            sections: vec![],
        }
    }

    fn quick() -> Plan {
        Plan {
            quick: true,
            flood_trials: 1,
            junk_trials: 1,
            flood_count: 2_000,
            flood_seconds: 0.2,
            failover: vec![(3, 0.1, 1)],
            scale: vec![1, 100],
            rounds: 1,
            windows: 1,
            window_s: 1.0,
            settle_s: 1.0,
            soak_s: 3.0,
            sections: vec![],
        }
    }

    pub fn runs(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

fn hog(args: &[String]) -> ExitCode {
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let end = Instant::now() + Duration::from_secs_f64(secs.min(600.0));
    let spin = move || {
        let mut x = 0u64;
        while Instant::now() < end {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
            }
        }
        std::hint::black_box(x);
    };
    let t = std::thread::spawn(spin);
    spin();
    let _ = t.join();
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: daemon_bench [--quick] [--out FILE] [--only flood,failover,scale,starve] \
         [--scale 1,100,1000] [--vigild PATH] [--keepalived PATH] [--keep DIR]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("floor") => {
            return match floor::FloorArgs::parse(&args[1..])
                .and_then(|a| floor::run(&a).map_err(|e| format!("floor: {e}")))
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some("hog") => return hog(&args[1..]),
        _ => {}
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().unwrap_or(root);
    let mut plan = Plan::full();
    let mut out = None;
    let mut only = None;
    let mut scale = None;
    let mut keep = None;
    let mut vigild = root.join("target/release/vigild");
    let mut keepalived = PathBuf::from("/usr/sbin/keepalived");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned();
        match a.as_str() {
            "--quick" => plan = Plan::quick(),
            "--out" => out = val().map(PathBuf::from),
            "--only" => only = val(),
            "--scale" => scale = val(),
            "--keep" => keep = val().map(PathBuf::from),
            "--vigild" => vigild = val().map(PathBuf::from).unwrap_or(vigild),
            "--keepalived" => keepalived = val().map(PathBuf::from).unwrap_or(keepalived),
            _ => return usage(),
        }
    }
    plan.sections = only
        .as_deref()
        .unwrap_or("flood,failover,scale,starve")
        .split(',')
        .map(str::to_owned)
        .collect();
    if let Some(s) = scale {
        match s
            .split(',')
            .map(str::parse)
            .collect::<Result<Vec<usize>, _>>()
        {
            Ok(v) if v.iter().all(|&n| (1..=2550).contains(&n)) => plan.scale = v,
            _ => return usage(),
        }
    }
    if !vigil_tests::netns::privileged_or_skip("daemon_bench") {
        return ExitCode::SUCCESS;
    }
    for tool in [&vigild, &keepalived] {
        if !tool.exists() {
            eprintln!(
                "daemon_bench: {} not found (cargo build --release -p vigil-linux; apt install keepalived)",
                tool.display()
            );
            return ExitCode::FAILURE;
        }
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let work = std::env::temp_dir().join(format!("vigil-bench.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("daemon_bench: {}: {e}", work.display());
        return ExitCode::FAILURE;
    }
    let ctx = Ctx {
        vigild,
        keepalived,
        me: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("daemon_bench")),
        work,
        plan,
        results: Results::default(),
        ids: AtomicU32::new(0),
    };
    let started = now();
    let t0 = Instant::now();
    let outcome = run(&ctx);
    let elapsed = t0.elapsed().as_secs();
    if let Err(e) = &outcome {
        ctx.results.problem(format!("run stopped: {e}"));
    }
    let md = report::markdown(&ctx, &args, started, elapsed);
    let out = out.or_else(|| (!ctx.plan.quick).then(|| root.join("BENCHMARKS.md")));
    match &out {
        Some(path) if outcome.is_ok() => match std::fs::write(path, &md) {
            Ok(()) => println!("==> {} written ({elapsed} s)", path.display()),
            Err(e) => eprintln!("daemon_bench: {}: {e}", path.display()),
        },
        _ => println!("{md}"),
    }
    if let Some(dir) = keep {
        let _ = std::fs::create_dir_all(&dir);
        for f in std::fs::read_dir(&ctx.work).into_iter().flatten().flatten() {
            let _ = std::fs::copy(f.path(), dir.join(f.file_name()));
        }
    }
    let _ = std::fs::remove_dir_all(&ctx.work);
    let problems = ctx.results.problems();
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("daemon_bench: {} problem(s):", problems.len());
        for p in &problems {
            eprintln!("  - {p}");
        }
        ExitCode::FAILURE
    }
}

fn run(ctx: &Ctx) -> R<()> {
    let plan = &ctx.plan;
    if plan.runs("failover") {
        failover::run(ctx)?;
    }
    if plan.runs("flood") {
        flood::suite(ctx)?;
    }
    if plan.runs("scale") {
        for &n in &plan.scale {
            scale::run(ctx, n)?;
        }
    }
    if plan.runs("starve") {
        starve::run(ctx)?;
    }
    Ok(())
}

pub fn log(msg: impl std::fmt::Display) {
    println!("==> {msg}");
}
