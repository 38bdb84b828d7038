//! Criterion benchmarks of the vigil core: `cargo bench -p vigil-benches`.
//!
//! - `parse`: [`Repr::parse`] (TTL 255) plus [`Repr::check_auth`] of a received advert;
//! - `emit`: [`Repr::emit`] into a stack buffer;
//! - `step`: one received datagram through `Router::on_datagram` at an injected,
//!   advancing `now`, then the router drained (`poll_transmit`, `poll_event`) as a host
//!   does, for a BACKUP hearing its master (alone, and as one of 1,000 instances) and a
//!   MASTER hearing a lower-priority advert.
//!
//! `cargo test -p vigil-benches --benches` runs each benchmark once, as a smoke test.
//! The fixtures and what each step does are checked by `cargo test -p vigil-benches`.

use std::hint::black_box;
use std::time::Duration as StdDuration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use vigil_benches::{CASES, EmitBench, Fixture, MANY, MANY_CAPACITY, ParseBench, Step};
use vigil_core::Duration;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    for case in CASES {
        let f = Fixture::new(case);
        let bench = ParseBench::new(&f);
        g.bench_function(BenchmarkId::from_parameter(case.name), |b| {
            b.iter(|| bench.run())
        });
    }
    g.finish();
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    for case in CASES {
        let f = Fixture::new(case);
        let mut bench = EmitBench::new(&f);
        g.bench_function(BenchmarkId::from_parameter(case.name), |b| {
            b.iter(|| bench.run())
        });
    }
    g.finish();
}

fn step(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    g.throughput(Throughput::Elements(1));
    // Backup hearing its master: every version and family, the smallest and largest
    // VIP lists (the address check compares them).
    for case in CASES {
        let f = Fixture::new(case);
        let mut s = Step::backup_hears_master(&f);
        g.bench_function(BenchmarkId::new("backup-hears-master", case.name), |b| {
            b.iter(|| s.run())
        });
        black_box(s.drained);
    }
    // The same advert for one of 1,000 instances (4 channels of 250 VRIDs, vigild's
    // capacity of 1,024): what demultiplexing costs at scale.
    let f = Fixture::new(CASES[2]);
    let mut s = Step::<MANY_CAPACITY>::backup_hears_master_among(&f, MANY);
    g.bench_function(
        BenchmarkId::new("backup-hears-master-of-1000", CASES[2].name),
        |b| b.iter(|| s.run()),
    );
    black_box(s.drained);
    // Master hearing a lower-priority advert: answered (a second apart, so every one
    // is answered: an advert written by poll_transmit and a gratuitous-ARP burst
    // drained by poll_event) and rate-limited (1 ms apart, so all but one in a
    // thousand are not answered).
    for case in [CASES[2], CASES[5]] {
        let f = Fixture::new(case);
        for (name, tick) in [
            ("master-answers-lower", Duration::from_secs(1)),
            ("master-rate-limited", Duration::from_millis(1)),
        ] {
            let mut s = Step::master_hears_lower(&f, tick);
            g.bench_function(BenchmarkId::new(name, case.name), |b| b.iter(|| s.run()));
            black_box(s.drained);
        }
    }
    g.finish();
}

fn config() -> Criterion {
    // Modest times so that the whole run takes about a minute and a half.
    Criterion::default()
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = parse, emit, step
}

fn main() {
    // The instance sizes, once, before the timings.
    println!("vigil-core instance sizes (bytes):");
    print!("{}", vigil_benches::sizes_table());
    println!(
        "target: instance without VIPs <= {} bytes\n",
        vigil_benches::INSTANCE_TARGET
    );
    benches();
    Criterion::default().configure_from_args().final_summary();
}
