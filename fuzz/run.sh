#!/usr/bin/env bash
# Builds vigil's fuzz targets and runs each for a bounded time, seeded from ../shared.
#
#   fuzz/run.sh [SECONDS] [TARGET...]     default: 60 s each, every target
#
# Targets: wire_parse, wire_emit (the codec), config_load (keepalived.conf). The corpus
# each run finds is kept in fuzz/corpus/TARGET (the next run starts from it); a crash
# leaves its input in fuzz/artifacts/TARGET/ and makes this script fail, with the command
# that replays it.
#
# Built as cargo-fuzz builds (same instrumentation flags, same output directory) but with
# plain `cargo build`: installing cargo-fuzz costs a minute and a half. The code fuzzed
# has no `unsafe`, so no sanitizer (cargo fuzz's `-s none`): a bug is a panic.
#
# Environment: VIGIL_FUZZ_TOOLCHAIN (default nightly), VIGIL_VECTORS (captures, default
# ../shared/vectors), VIGIL_SEEDS (configurations, default ../shared/configs/seeds),
# VIGIL_FUZZ_SANITIZER=address to build with AddressSanitizer (nightly only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
fuzz_dir=$PWD
repo=$(cd .. && pwd)

seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(wire_parse wire_emit config_load)
fi
toolchain=${VIGIL_FUZZ_TOOLCHAIN:-nightly}
vectors=${VIGIL_VECTORS:-$repo/../shared/vectors}
conf_seeds=${VIGIL_SEEDS:-$repo/../shared/configs/seeds}

triple=$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')
# cargo-fuzz 0.13's flags for a release build (`cargo fuzz build -O -a -s none`).
rustflags=(
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cllvm-args=-simplifycfg-branch-fold-threshold=0
    -Cllvm-args=-sanitizer-coverage-stack-depth
    --cfg fuzzing
    -Cdebug-assertions
    -Coverflow-checks
)
if [[ ${VIGIL_FUZZ_SANITIZER:-none} != none ]]; then
    rustflags+=("-Zsanitizer=$VIGIL_FUZZ_SANITIZER")
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

start=$SECONDS
echo "fuzz: building ${targets[*]} ($toolchain, $triple)"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
RUSTFLAGS="${rustflags[*]}" cargo "+$toolchain" build --quiet --release \
    --target "$triple" "${bins[@]}"
echo "fuzz: built in $((SECONDS - start)) s"

# Seeds, made fresh from ../shared: the adverts of every capture (with the test suite's
# pcap reader, a plain stable program), the seed configurations and our own.
mkdir -p "$work/seeds/wire_parse" "$work/seeds/wire_emit" "$work/seeds/config_load"
if [[ " ${targets[*]} " == *" wire_parse "* ]]; then
    if [[ -d $vectors ]]; then
        (cd seedgen && CARGO_TARGET_DIR="$repo/target" cargo run --quiet -- \
            "$vectors" "$work/seeds/wire_parse")
    else
        echo "fuzz: no captures in $vectors: wire_parse starts from its corpus only"
    fi
fi
if [[ -d $conf_seeds ]]; then
    cp "$conf_seeds"/*.conf "$work/seeds/config_load/" 2>/dev/null || true
fi
cp seeds/config/*.conf "$work/seeds/config_load/"

# config_load's includes land in its own directory under TMPDIR, removed with $work.
mkdir -p "$work/tmp"
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    args=(
        -max_total_time="$seconds"
        -timeout=10
        -rss_limit_mb=2048
        -print_final_stats=1
        -artifact_prefix="artifacts/$t/"
    )
    if [[ $t == config_load ]]; then
        # vigild logs to stderr (unknown script users...): thousands of lines a second.
        # The target keeps panic messages; libFuzzer keeps its own output.
        args+=(-close_fd_mask=2 -max_len=8192)
    fi
    log="$work/$t.log"
    echo "fuzz: $t for $seconds s"
    if TMPDIR="$work/tmp" "target/$triple/release/$t" "${args[@]}" \
        "corpus/$t" "$work/seeds/$t" >"$log" 2>&1; then
        grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|slowest_unit_time_sec|peak_rss_mb)' "$log" |
            sed "s/^/  $t: /"
    else
        failed+=("$t")
        tail -n 60 "$log"
        echo "fuzz: $t FAILED; the input is in $fuzz_dir/artifacts/$t/; replay it with"
        echo "  $fuzz_dir/target/$triple/release/$t $fuzz_dir/artifacts/$t/FILE"
    fi
done
echo "fuzz: done in $((SECONDS - start)) s"
if ((${#failed[@]} > 0)); then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
