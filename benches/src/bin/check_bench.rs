//! LVS health checks at scale: N `TCP_CHECK` (or `HTTP_GET`) attempts at once, on one
//! current-thread tokio runtime as vigild's service thread runs them, against a real
//! server in a network namespace. Reports the wall time, CPU time, polls per attempt, and
//! how late a 1 ms ticker on the same event loop ran meanwhile (what other work on that
//! loop would wait).
//!
//!   check_bench [--count N] [--rounds R] [--http]
//!
//! Needs root; without it prints `SKIPPED` and exits 0 (unless VIGIL_REQUIRE_PRIVILEGED=1).
//! The real server is a listening socket (backlog 4096) that the kernel completes
//! connections for; with `--http`, a thread answering each request with a fixed 200.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use vigil_linux::config::diag::Loc;
use vigil_linux::config::lvs::*;
use vigil_linux::exec::RunAs;
use vigil_linux::lvs::Attempt;
use vigil_linux::lvs::check::{self, CheckContext, TrackFileMap};
use vigil_tests::netns::{HostSpec, Lan, privileged_or_skip, run_in};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 89, 0, 2);

fn main() {
    let mut count = 1000usize;
    let mut rounds = 5usize;
    let mut http = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--count" => count = args.next().and_then(|v| v.parse().ok()).expect("--count N"),
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds R")
            }
            "--http" => http = true,
            other => panic!("unknown argument {other}"),
        }
    }
    if !privileged_or_skip("check_bench") {
        return;
    }
    let lan = Lan::new(
        "ckb",
        &[
            HostSpec::v4([2, 0x89, 0, 0, 0, 1], Ipv4Addr::new(10, 89, 0, 1), 24),
            HostSpec::v4([2, 0x89, 0, 0, 0, 2], SERVER, 24),
        ],
    )
    .expect("LAN");
    let listener = run_in(&lan.host(1).ns, || {
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, 8080)).expect("listen")
    });
    // SAFETY: listen(2) again on our own listening socket only raises its backlog.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 4096) };
    assert_eq!(rc, 0, "listen: {}", std::io::Error::last_os_error());
    let stop = Arc::new(AtomicBool::new(false));
    if http {
        let stop = stop.clone();
        std::thread::spawn(move || serve_http(listener, &stop));
    } else {
        // Accept and close, so that the backlog never fills over the rounds.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
    }
    let checker = Arc::new(checker(http));
    let ctx = Arc::new(CheckContext {
        server: check::format_rs(SocketAddr::new(IpAddr::V4(SERVER), 8080), IpvsProtocol::Tcp),
        service: "[10.89.0.100]:tcp:80".to_owned(),
        server_weight: 1,
        tls: None,
        track_files: Arc::new(TrackFileMap::default()),
        script_user: RunAs::current(),
    });
    let what = if http { "HTTP_GET" } else { "TCP_CHECK" };
    println!("{count} {what} attempts at once, {rounds} rounds, one current-thread runtime");
    println!("round  wall_ms  cpu_ms  us/attempt  polls/attempt  ticker_late_max_ms  failures");
    for round in 1..=rounds {
        let r = run_in(&lan.host(0).ns, || one_round(&checker, &ctx, count));
        println!(
            "{round:>5}  {:>7.1}  {:>6.1}  {:>10.1}  {:>13.2}  {:>18.2}  {:>8}",
            r.wall.as_secs_f64() * 1e3,
            r.cpu.as_secs_f64() * 1e3,
            r.cpu.as_secs_f64() * 1e6 / count as f64,
            r.polls as f64 / count as f64,
            r.late_max.as_secs_f64() * 1e3,
            r.failures
        );
    }
    stop.store(true, Ordering::Relaxed);
}

struct Round {
    wall: Duration,
    cpu: Duration,
    polls: usize,
    late_max: Duration,
    failures: usize,
}

fn one_round(checker: &Arc<Checker>, ctx: &Arc<CheckContext>, count: usize) -> Round {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let polls = Arc::new(AtomicUsize::new(0));
    let done = AtomicBool::new(false);
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let (results, late_max) = rt.block_on(async {
        let ticker = async {
            let mut late_max = Duration::ZERO;
            while !done.load(Ordering::Relaxed) {
                let due = Instant::now() + Duration::from_millis(1);
                tokio::time::sleep(Duration::from_millis(1)).await;
                late_max = late_max.max(Instant::now().saturating_duration_since(due));
            }
            late_max
        };
        let attempts = async {
            // One task per attempt, as the engine spawns them.
            let tasks: Vec<_> = (0..count)
                .map(|_| {
                    let (checker, ctx, polls) = (checker.clone(), ctx.clone(), polls.clone());
                    tokio::spawn(Counted {
                        inner: Box::pin(async move { check::attempt(&checker, &ctx).await }),
                        polls,
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(count);
            for t in tasks {
                out.push(t.await.expect("attempt task"));
            }
            done.store(true, Ordering::Relaxed);
            out
        };
        let (out, late) = tokio::join!(attempts, ticker);
        (out, late)
    });
    Round {
        wall: t0.elapsed(),
        cpu: thread_cpu().saturating_sub(cpu0),
        polls: polls.load(Ordering::Relaxed),
        late_max,
        failures: results
            .iter()
            .filter(|r| !matches!(r, Attempt::Success { .. }))
            .count(),
    }
}

fn checker(http: bool) -> Checker {
    let kind = if http {
        CheckKind::Http(HttpGet {
            urls: vec![HttpUrl {
                path: "/".to_owned(),
                digest: None,
                status_codes: Vec::new(),
                virtualhost: None,
                regex: None,
                regex_no_match: false,
            }],
            virtualhost: None,
            protocol: HttpProtocol::Http10,
            enable_sni: false,
            fast_recovery: false,
        })
    } else {
        CheckKind::Tcp
    };
    Checker {
        loc: Loc {
            file: Arc::from(Path::new("bench")),
            line: 1,
            col: 1,
        },
        timing: CheckTiming {
            delay_loop: Duration::from_secs(5),
            retry: 0,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        },
        connect: Some(ConnectTo {
            addr: SocketAddr::new(IpAddr::V4(SERVER), 8080),
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout: Duration::from_secs(5),
        }),
        kind,
    }
}

fn serve_http(listener: TcpListener, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut c) = conn else { continue };
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
    }
}

/// This thread's CPU time (user + system).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A future that counts its polls.
struct Counted<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}
