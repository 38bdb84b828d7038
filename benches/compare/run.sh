#!/usr/bin/env bash
# vigild vs keepalived 2.2.7 vs FRR vrrpd 8.4, side by side, in one run; regenerates
# BENCHMARKS.md and benches/compare/plots/*.png from the measurements it makes.
#
#   sudo benches/compare/run.sh
#
# Environment: TRIALS (5), SOAK (60 s, starvation), SCALE (1,100,1000), ONLY (sections:
# flood,failover,scale,starve; a partial run replaces those sections in results/raw.jsonl
# and keeps the others), IMPLS (vigild,keepalived,frr), KEEP (a directory to keep
# the logs and captures in), VIGILD (a prebuilt vigild; default: cargo build --release).
# Benchmark-only Debian packages (frr, stress-ng, python3-matplotlib) are installed here,
# not by scripts/setup. Everything runs in network namespaces named after the PID of
# bench.py, removed on exit; every process it starts is killed on exit.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
if [[ $(id -u) -ne 0 ]]; then
    echo "compare: needs root for network namespaces (sudo $0)" >&2
    exit 1
fi
./scripts/setup
BENCH_PACKAGES=(frr stress-ng python3-matplotlib)
missing=()
for pkg in "${BENCH_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "==> installing benchmark packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update </dev/null
    created_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then # do not start frr on the host
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        created_policy=1
    fi
    apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
    ((created_policy)) && rm -f /usr/sbin/policy-rc.d
fi
if [[ -z ${VIGILD:-} ]]; then
    echo "==> building vigild (release)"
    cargo build --release -q -p vigil-linux
    VIGILD=$ROOT/target/release/vigild
fi
mkdir -p "$HERE/results" "$HERE/plots"
RAW=$HERE/results/raw.jsonl
if [[ -n ${ONLY:-} && -s $RAW ]]; then
    # a partial run replaces only the sections it measures; the report keeps the others
    python3 - "$RAW" "$ONLY" <<'PY'
import json, sys
kinds = {"flood": ["flood"], "failover": ["failover", "timeline"], "scale": ["scale"], "starve": ["starve"]}
drop = {k for s in sys.argv[2].split(",") for k in kinds.get(s, [])}
keep = [l for l in open(sys.argv[1]) if l.strip() and json.loads(l)["kind"] not in drop]
open(sys.argv[1], "w").writelines(keep)
PY
else
    : >"$RAW"
fi
START=$(date +%s)
python3 "$HERE/bench.py" --out "$RAW" --vigild "$VIGILD" --trials "${TRIALS:-5}" \
    --soak "${SOAK:-60}" --scale "${SCALE:-1,100,1000}" \
    --only "${ONLY:-flood,failover,scale,starve}" --impls "${IMPLS:-vigild,keepalived,frr}"
ELAPSED=$(($(date +%s) - START))
PY=python3 # the report needs matplotlib: Debian's python3-matplotlib is for /usr/bin/python3
python3 -c 'import matplotlib' 2>/dev/null || PY=/usr/bin/python3
"$PY" "$HERE/report.py" "$RAW" --out "$ROOT/BENCHMARKS.md" --plots "$HERE/plots" \
    --vigild "$VIGILD" --elapsed "$ELAPSED"
echo "==> BENCHMARKS.md and benches/compare/plots/ written (${ELAPSED} s of measurements)"
