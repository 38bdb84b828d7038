#!/usr/bin/env python3
"""Prints the medians of the last `cargo bench -p vigil-benches` run as a Markdown table.

Usage: python3 benches/medians.py [TARGET_DIR]   (default: the workspace's target/)

Reads criterion's target/criterion/<group>/<id>/new/{benchmark,estimates}.json. The
median is of the per-iteration times of criterion's samples; "95% CI" is criterion's
bootstrap interval of that median.
"""

import json
import os
import sys

TARGET_NS = 30.0
GROUP_ORDER = ["parse", "emit", "step"]


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "target")
    root = os.path.join(target, "criterion")
    rows = []
    for dirpath, _dirs, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            median = json.load(f)["median"]
        ci = median["confidence_interval"]
        group = bench["group_id"]
        rank = GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)
        rows.append(
            (rank, bench["full_id"], median["point_estimate"], ci["lower_bound"], ci["upper_bound"])
        )
    if not rows:
        sys.exit(f"no criterion results under {root}: run `cargo bench -p vigil-benches` first")
    print("| benchmark | median (ns/op) | 95% CI of median | target ≤ 30 ns |")
    print("|---|---:|---:|:---:|")
    for _rank, name, med, lo, hi in sorted(rows):
        ok = "met" if med <= TARGET_NS else "**missed**"
        print(f"| `{name}` | {med:.1f} | {lo:.1f} – {hi:.1f} | {ok} |")


if __name__ == "__main__":
    main()
