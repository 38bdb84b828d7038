//! The same operations as `benches/core.rs`, timed as the minimum over many short
//! batches instead of criterion's statistics: on a shared, noisy machine the minimum
//! moves far less between runs than the median, which makes it the better number for
//! comparing two versions of the core (A/B). Not a replacement for the criterion run.
//!
//! `cargo run --profile bench -p vigil-benches --example min_time`
//!
//! The `bench` profile, not `--release`: with thin LTO the core's code is optimised
//! again with the final crate's settings, and `release` builds everything but the core
//! for size, which leaves the checksum's vector loop scalar (see the README).

use std::time::Instant;

use vigil_benches::{CASES, EmitBench, Fixture, MANY, MANY_CAPACITY, ParseBench, Step};
use vigil_core::Duration;

/// Batches of 1,000 calls; the fastest batch's time per call, in nanoseconds.
fn min_ns(mut f: impl FnMut() -> bool) -> f64 {
    const BATCH: u32 = 1_000;
    let mut best = f64::MAX;
    for _ in 0..3_000 {
        let t = Instant::now();
        for _ in 0..BATCH {
            assert!(f());
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(BATCH));
    }
    best
}

/// Rounds over the whole table: a burst of load from another process that spoils
/// every batch of one cell in one round rarely hits the same cell in every round.
const ROUNDS: usize = 3;

fn main() {
    let fixtures: Vec<Fixture> = CASES.into_iter().map(Fixture::new).collect();
    let mut best = vec![[f64::MAX; 5]; fixtures.len()];
    let mut many = Step::<MANY_CAPACITY>::backup_hears_master_among(&fixtures[2], MANY);
    let mut best_many = f64::MAX;
    for _ in 0..ROUNDS {
        best_many = best_many.min(min_ns(|| many.run()));
        for (f, row) in fixtures.iter().zip(&mut best) {
            let parse = ParseBench::new(f);
            let mut emit = EmitBench::new(f);
            let mut backup = Step::backup_hears_master(f);
            let mut answers = Step::master_hears_lower(f, Duration::from_secs(1));
            let mut limited = Step::master_hears_lower(f, Duration::from_millis(1));
            let times = [
                min_ns(|| parse.run()),
                min_ns(|| emit.run() > 0),
                min_ns(|| backup.run()),
                min_ns(|| answers.run()),
                min_ns(|| limited.run()),
            ];
            for (b, t) in row.iter_mut().zip(times) {
                *b = b.min(t);
            }
        }
    }
    println!(
        "| case | parse | emit | backup-hears-master | master-answers-lower | master-rate-limited |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (f, row) in fixtures.iter().zip(&best) {
        print!("| {} |", f.case.name);
        for t in row {
            print!(" {t:.1} |");
        }
        println!();
    }
    println!(
        "| {} among {MANY} | | | {best_many:.1} | | |",
        fixtures[2].case.name
    );
    println!("(ns per operation: minimum over {ROUNDS} rounds of 3,000 batches of 1,000)");
}
