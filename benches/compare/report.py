#!/usr/bin/env python3
"""BENCHMARKS.md and the PNG plots from bench.py's JSON lines.

  report.py RAW.jsonl --out BENCHMARKS.md --plots DIR [--vigild PATH] [--elapsed S]

Every number it writes comes from RAW; sections with no data say so.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys

# The machine description is the daemon benchmark's, so both reports say it alike.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "daemon"))
from report import machine  # noqa: E402  (benches/daemon/report.py)

IMPLS = ["vigild", "keepalived", "frr"]
NAMES = {"vigild": "vigild", "keepalived": "keepalived", "frr": "FRR vrrpd"}


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"med": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(v, d):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{d}f}"


def cell(s, d):
    if not s:
        return "n/a"
    return f"{fmt(s['med'], d)} ({fmt(s['min'], d)}–{fmt(s['max'], d)})"


def ratio(a, b):
    if not a or not b or b["med"] == 0 or (a["med"] < 0 or b["med"] < 0):
        return "–"
    return f"{a['med'] / b['med']:.2f}"


def better(a, b, abs_tol=0.0):
    """vigild at least as good as keepalived (lower is better), within abs_tol."""
    if not a or not b:
        return "?"
    return "yes" if a["med"] <= b["med"] + abs_tol else "**no**"


def run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except Exception:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--out", required=True)
    ap.add_argument("--plots", required=True)
    ap.add_argument("--vigild", default="vigild")
    ap.add_argument("--elapsed", type=int)
    a = ap.parse_args()
    recs = [json.loads(line) for line in open(a.raw) if line.strip()]
    meta = next((r for r in recs if r["kind"] == "meta" and "args" in r), {"args": {}})
    args = meta["args"]
    trials = args.get("trials", "?")
    os.makedirs(a.plots, exist_ok=True)
    plots_rel = os.path.relpath(a.plots, os.path.dirname(os.path.abspath(a.out)))

    rows = []  # (section, label, {impl: stats}, digits, tol, note)

    def add(section, label, per_impl, d, tol=0.0, note=""):
        rows.append((section, label, per_impl, d, tol, note))

    # ---------------------------------------------------------- failover
    fo = [r for r in recs if r["kind"] == "failover"]
    configs = []
    for r in fo:
        c = (r["version"], r["adv"], r["mode"])
        if c not in configs:
            configs.append(c)
    for version, adv, mode in configs:
        tag = f"v{version} {adv:g} s {mode}"

        def sel(impl, case, key):
            return stats([r.get(key) for r in fo if r["impl"] == impl and r["version"] == version
                          and r["adv"] == adv and r["mode"] == mode and r["case"] == case])
        for case, key, label, tol in (
                ("crash", "takeover_ms", "crash: old master's last advert → new master's first advert (ms)", 0.5),
                ("crash", "advert_overhead_ms", "crash: overhead beyond the master-down deadline, first advert (ms)", 0.0),
                ("crash", "garp_overhead_ms", "crash: overhead beyond the master-down deadline, first GARP (ms)", 0.0),
                ("graceful", "takeover_ms", "graceful (SIGTERM): priority-0 advert → backup's first advert (ms)", 0.5),
                ("graceful", "garp_overhead_ms", "graceful: overhead beyond the skew time, first GARP (ms)", 0.0),
                ("preempt", "restart_to_garp_ms", "preemption back: lb1 restarted → its first GARP (ms)", 0.0)):
            add(f"Failover, {tag}", label, {i: sel(i, case, key) for i in IMPLS}, 2, tol)

    # ---------------------------------------------------------- floods
    fl = [r for r in recs if r["kind"] == "flood"]
    for case, label in (("unknown-vrid", "master flooded with adverts for an unknown VRID"),
                        ("lower-prio-at-master", "master flooded with lower-priority adverts"),
                        ("higher-prio-at-backup", "backup flooded with its master's (higher-priority) adverts")):
        per_cpu, per_reply, per_drop = {}, {}, {}
        for i in IMPLS:
            rs = [r for r in fl if r["impl"] == i and r["case"] == case]
            per_cpu[i] = stats([r["cpu_ns"] / r["sent"] / 1e3 for r in rs if r.get("sent")])
            per_reply[i] = stats([r["rx_vrrp"] + r["rx_arp"] for r in rs])
            per_drop[i] = stats([r["sock_drops"] for r in rs if r.get("sock_drops") is not None])
        n = args.get("flood_packets", "?")
        add("Flood (VRRPv3, 1 s, " + f"{n} adverts in {args.get('flood_seconds', '?')} s per trial)",
            f"{label}: CPU per advert received (µs)", per_cpu, 2)
        add("Flood (VRRPv3, 1 s, " + f"{n} adverts in {args.get('flood_seconds', '?')} s per trial)",
            f"{label}: packets sent during the flood window (adverts + ARP; its own 1/s adverts make 2–3)", per_reply, 0, 1.0)
        add("Flood (VRRPv3, 1 s, " + f"{n} adverts in {args.get('flood_seconds', '?')} s per trial)",
            f"{label}: adverts dropped by the kernel on the daemon's socket", per_drop, 0)

    # ---------------------------------------------------------- scale / idle / RSS
    sc = [r for r in recs if r["kind"] == "scale"]
    ns = sorted({r["n"] for r in sc})
    for n in ns:
        for role in ("master", "backup"):
            sec = "Idle and memory, 1 instance (VRRPv3 1 s)" if n == 1 else f"Scale: {n} instances (VRRPv3 1 s, 10 interfaces)"
            rs = {i: [r for r in sc if r["impl"] == i and r["n"] == n and r["role"] == role] for i in IMPLS}
            if role == "master":
                # One start per implementation and size: the windows repeat the value.
                # Set by the protocol (lb1's master-down interval) when nothing else is
                # slow; the wait gives up after 60 s (plus the time of its last check).
                add(sec, "start of both → every VIP on lb1, none on lb2 (s; one start, wait bounded at 60 s)",
                    {i: stats([r["converge_s"] for r in rs[i] if "converge_s" in r][:1]) for i in IMPLS}, 1,
                    tol=0.5)
            add(sec, f"{role}: CPU (µs per second)",
                {i: stats([r["cpu_ns"] / 1e3 / r["window_s"] for r in rs[i]]) for i in IMPLS}, 1)
            # Wake-ups are whole counts in a short window: one more or less is the phase
            # of a 1 s timer against the window, not a difference between daemons.
            one_wake = max((1 / r["window_s"] for i in IMPLS for r in rs[i]), default=0.0)
            add(sec, f"{role}: wake-ups (voluntary context switches per second)",
                {i: stats([r["wakeups"] / r["window_s"] for r in rs[i] if "wakeups" in r]) for i in IMPLS}, 1,
                tol=one_wake)
            add(sec, f"{role}: RSS (MB, all processes)",
                {i: stats([r["rss_kb"] / 1024 for r in rs[i]]) for i in IMPLS}, 1)
            add(sec, f"{role}: PSS (MB, all processes)",
                {i: stats([r["pss_kb"] / 1024 for r in rs[i]]) for i in IMPLS}, 1)
            if role == "backup":
                add(sec, "VIPs up on the backup as well (split brain; 0 expected)",
                    {i: stats([r["vips_backup"] for r in rs[i]]) for i in IMPLS}, 0)

    # ---------------------------------------------------------- starvation
    st = [r for r in recs if r["kind"] == "starve"]
    if st:
        soak = round(statistics.median([r["soak_s"] for r in st]))
        sec = f"Starvation: {soak} s soak, VRRPv3 0.1 s, CPU hog (2 workers) in each LB namespace"
        add(sec, "false failovers (backup advertising; one soak per implementation, total count)",
            {i: stats([r["false_failovers"] for r in st if r["impl"] == i]) for i in IMPLS}, 0)
        add(sec, "longest gap between the master's adverts (ms)",
            {i: stats([r["max_gap_ms"] for r in st if r["impl"] == i]) for i in IMPLS}, 1)

    # ---------------------------------------------------------- plots
    plots = make_plots(recs, a.plots)

    # ---------------------------------------------------------- markdown
    model, ncpu, kernel = machine()
    L = []
    L.append("# Benchmarks: vigild vs keepalived vs FRR vrrpd\n")
    L.append("Generated by `sudo benches/compare/run.sh` (benches/compare/: `bench.py` measures, "
             "`report.py` writes this file and the plots). Do not edit by hand: rerun.\n")
    L.append("## Machine and versions\n")
    L.append(f"- CPU: {model}, nproc {ncpu}; kernel {kernel}")
    L.append(f"- vigild: release build ({run([a.vigild, '--version'])})")
    L.append(f"- keepalived: {run(['keepalived', '--version'])}")
    L.append(f"- FRR: {run(['/usr/lib/frr/zebra', '--version'])} (zebra + vrrpd)")
    L.append(f"- trials per figure: {trials}; measuring time of the last run of run.sh: {a.elapsed or '?'} s")
    L.append(f"- command: `sudo benches/compare/run.sh` (arguments used: `{json.dumps({k: v for k, v in args.items() if k not in ('out', 'vigild')})}`)\n")
    for m in [r for r in recs if r["kind"] == "meta" and "args" in r][1:]:
        L.append(f"- later partial run (`ONLY={m['args'].get('only')}`), whose results replace that section: "
                 f"started {__import__('time').strftime('%Y-%m-%d %H:%M UTC', __import__('time').gmtime(m['started']))}")
    first = next((r for r in recs if r["kind"] == "meta" and "args" in r), None)
    if first:
        L.append(f"- full run started {__import__('time').strftime('%Y-%m-%d %H:%M UTC', __import__('time').gmtime(first['started']))}")
    L.append("")
    L.append("## How it is measured\n")
    L.append(
        "Each implementation gets its own namespaces (a bridge, lb1, lb2, a sender), built the same way; "
        "vigild and keepalived read the same keepalived.conf, FRR gets the equivalent `vrrp` commands "
        "and one macvlan per instance with the virtual MAC (mode bridge). lb1 has priority 200, lb2 100. "
        "No authentication (FRR has none). Failover times come from a capture (tcpdump, ns timestamps) on "
        "lb2's bridge port; the *deadline* is the RFC master-down interval of lb2 (3 × advert + "
        "(256−100)/256 × advert for v3, ×1 s for v2) after the old master's last advert; after a "
        "priority-0 advert it is the skew time. *crash* = SIGKILL of every process of the implementation "
        "on lb1; *graceful* = SIGTERM; *preemption back* = lb1 restarted (includes daemon start-up). "
        "The three implementations' failover suites run at the same time, each on its own namespaces "
        "(floods, scale and starvation run one implementation at a time). CPU = schedstat run time of every "
        "thread of every process of the implementation (keepalived: parent + VRRP child; FRR: zebra + "
        "vrrpd); RSS/PSS likewise summed. Floods reuse `benches/daemon/flood.py` (paced raw frames from "
        "the sender; replies counted on the sender's interface). Scale: trials are consecutive windows "
        f"of {args.get('window', '?')} s in one run of the pair, after convergence + 7 s. Starvation: "
        "`stress-ng --cpu 2` in lb1's and lb2's namespaces (normal priority), false failover = a burst of "
        "adverts from the backup.\n")
    L.append("Cells: median (min–max) over the trials. Ratio = vigild / keepalived medians (lower is "
             "better everywhere). \"≥ keepalived?\" = vigild's median ≤ keepalived's (takeover times "
             "within 0.5 ms count as equal: they are set by the protocol timer; wake-up rates within one "
             "wake-up per window count as equal: they are whole counts).\n")

    L.append("Reading the failover rows: the *takeover* times are set by the protocol timers and are "
             "the same for all three up to timer precision; the *overhead* rows are what an "
             "implementation adds. FRR vrrpd's overheads come out negative, consistent with it computing "
             "the skew and master-down times in whole centiseconds (the unit of the advert interval on "
             "the wire), rounded down: it fires before the exact RFC deadline used here. FRR has no unicast "
             "mode, so its unicast cells are n/a. keepalived sends a second round of gratuitous ARPs "
             "5 s after becoming master (garp_master_delay); only the first one counts here. "
             "PSS divides shared pages among the processes mapping them: keepalived runs four processes "
             "per pair (parent and VRRP child on each node) sharing one binary, so its PSS is lower than its "
             "RSS suggests; the RSS target is about RSS. The starvation soak is one run per "
             "implementation (its counts are totals over the soak), not five.\n")
    L.append("## Targets\n")
    L.extend(targets(rows))
    L.append("")
    L.append("## Results\n")
    cur = None
    for sec, label, per, d, tol, note in rows:
        if sec != cur:
            cur = sec
            L.append(f"\n### {sec}\n")
            L.append("| | vigild | keepalived | ratio | ≥ keepalived? | FRR vrrpd |")
            L.append("|---|---|---|---|---|---|")
        L.append(f"| {label} | {cell(per['vigild'], d)} | {cell(per['keepalived'], d)} | "
                 f"{ratio(per['vigild'], per['keepalived'])} | {better(per['vigild'], per['keepalived'], tol)} | "
                 f"{cell(per['frr'], d)} |")
    L.append("")
    if not fo:
        L.append("**Failover: not measured in this run.**\n")
    if not fl:
        L.append("**Floods: not measured in this run.**\n")
    if not sc:
        L.append("**Scale, idle CPU and RSS: not measured in this run.**\n")
    if not st:
        L.append("**Starvation: not measured in this run.**\n")
    missing_n = [n for n in (1, 100, 1000) if n not in ns]
    if sc and missing_n:
        L.append(f"**Scale pending for {', '.join(map(str, missing_n))} instances.**\n")
    errs = [r for r in recs if r["kind"] == "error"]
    notok = [r for r in fo if not r.get("ok", True)]
    if errs or notok:
        L.append("### Errors and failed trials\n")
        for r in errs:
            L.append(f"- {r['where']}: `{r['error'][:300]}`")
        for r in notok:
            L.append(f"- {r['impl']} v{r['version']} {r['adv']} s {r['mode']} {r['case']} trial {r['trial']}: "
                     f"{r.get('error', 'state not reached in time')}")
        L.append("")
    L.append("## Coverage and limits\n")
    L.append("- Not measured: VRRPv2 authentication (FRR has none; all runs are without it), IPv6, "
             "VLAN interfaces (this kernel has no 802.1Q support: the scale runs use 10 veth interfaces, "
             "each on its own bridge), track scripts and sync groups.")
    L.append("- Starvation: one soak per implementation with a normal-priority hog; a harder variant "
             "(hogs at a higher priority, or more hogs than cores per namespace) is not part of this run.")
    L.append("- The failover suites of the three implementations run concurrently (each on its own "
             "namespaces) to keep the run short; floods, scale and starvation run one implementation at "
             "a time.")
    L.append("- The floods are VRRPv3 only (benches/daemon/flood.py builds v3 adverts).")
    L.append("- Idle CPU of one instance is set by the kernel, not the daemon: a master's `sendmsg` pays "
             "for the delivery through the bridge (softirq in the sender's context) and a backup for its "
             "wake-up, on caches that a second of idleness has cooled. A C program that only sends one "
             "advert per second costs about as much as either daemon here (docs/daemon-event-loop.md); "
             "the vigild/keepalived ratios of those rows are within the trials' spread.")
    slow = sorted({(r["impl"], r["n"], round(r["converge_s"])) for r in sc
                   if r.get("converged") is False and r["role"] == "master"})
    for impl, n, secs in slow:
        L.append(f"- Scale {n}: {impl} had not put every VIP on lb1 (and none on lb2) when the 60 s wait "
                 f"gave up ({secs} s with the last check); its windows start 7 s later and the first "
                 "may still hold start-up work.")
    L.append("")
    L.append("## Plots\n")
    for title, path in plots:
        L.append(f"### {title}\n\n![{title}]({plots_rel}/{os.path.basename(path)})\n")
    with open(a.out, "w") as fh:
        fh.write("\n".join(L) + "\n")


def find(rows, sec_re, label_re):
    return [(s, l, p) for s, l, p, *_ in rows if re.search(sec_re, s) and re.search(label_re, l)]


def targets(rows):
    L = ["| Target | Met? | Evidence |", "|---|---|---|"]
    # every row at least as good as keepalived
    worse = []
    for s, l, p, d, tol, _ in rows:
        if p["vigild"] and p["keepalived"] and better(p["vigild"], p["keepalived"], tol) != "yes":
            worse.append(f"{s} / {l}")
    total = sum(1 for s, l, p, *_ in rows if p["vigild"] and p["keepalived"])
    L.append(f"| every row at least as good as keepalived | {'yes' if not worse and total else '**no**'} | "
             f"{total - len(worse)} of {total} rows (the rows where vigild is worse are listed below) |")
    # CPU per advert
    ev, met = [], True
    for s, l, p in find(rows, "^Flood", "CPU per advert"):
        if p["vigild"] and p["keepalived"]:
            r = p["vigild"]["med"] / p["keepalived"]["med"]
            met &= r <= 0.25
            ev.append(f"{l.split(':')[0]}: {r:.2f}")
    L.append(f"| CPU per advert ≤ ¼ of keepalived's | {('yes' if met else '**no**') if ev else 'n/a'} | "
             f"ratio vigild/keepalived: {'; '.join(ev) or 'not measured'} |")
    ev, met = [], True
    for s, l, p in find(rows, "^Idle", "RSS"):
        if p["vigild"] and p["keepalived"]:
            r = p["vigild"]["med"] / p["keepalived"]["med"]
            met &= r <= 1 / 3
            ev.append(f"{l.split(':')[0]}: {r:.2f}")
    L.append(f"| RSS ≤ ⅓ of keepalived's (1 instance) | {('yes' if met else '**no**') if ev else 'n/a'} | "
             f"ratio: {'; '.join(ev) or 'not measured'} |")
    ev = find(rows, "^Starvation", "false failovers")
    if ev and ev[0][2]["vigild"]:
        v = ev[0][2]["vigild"]
        L.append(f"| zero false failovers under starvation | {'yes' if v['max'] == 0 else '**no**'} | "
                 f"vigild {v['max']:.0f}, keepalived {cell(ev[0][2]['keepalived'], 0)}, FRR {cell(ev[0][2]['frr'], 0)} |")
    else:
        L.append("| zero false failovers under starvation | n/a | not measured |")
    ev, met = [], True
    for s, l, p in find(rows, "^Failover", "overhead beyond the master-down deadline, first GARP"):
        if p["vigild"]:
            met &= p["vigild"]["max"] <= 1.0
            ev.append(f"{s.split(', ', 1)[1]}: median {p['vigild']['med']:.2f}, max {p['vigild']['max']:.2f}")
    L.append(f"| failover overhead ≤ 1 ms (crash, deadline → first GARP, every trial) | "
             f"{('yes' if met else '**no**') if ev else 'n/a'} | vigild (ms): {'; '.join(ev) or 'not measured'} |")
    if worse:
        L.append("")
        L.append("Rows where vigild's median is worse than keepalived's:\n")
        L.extend(f"- {w}" for w in worse)
    return L


def make_plots(recs, outdir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out = []
    colors = {"vigild": "tab:blue", "keepalived": "tab:orange", "frr": "tab:green"}
    # failover timelines
    tls = [r for r in recs if r["kind"] == "timeline" and r["mode"] == "multicast"]
    for version, adv in sorted({(r["version"], r["adv"]) for r in tls}, reverse=True):
        sel = [r for r in tls if r["version"] == version and r["adv"] == adv]
        fig, axes = plt.subplots(1, 2, figsize=(13, 2.0 + 1.2 * len(sel)), gridspec_kw={"width_ratios": [3, 2]})
        for zi, ax in enumerate(axes):
            timeline(ax, sel, colors, zoom=zi == 1)
        fig.suptitle(f"Crash failover timeline, VRRPv{version} at {adv:g} s, multicast (trial 1)")
        fig.tight_layout()
        p = os.path.join(outdir, f"failover-v{version}.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append((f"Crash failover timeline, VRRPv{version} {adv:g} s", p))
    return out + other_plots(recs, outdir, plt, colors)


def timeline(ax, sel, colors, zoom):
    if True:
        for y, r in enumerate(sorted(sel, key=lambda r: IMPLS.index(r["impl"]))):
            ev = r["events"]
            old = [e[0] for e in ev if e[1] == "adv" and e[2] == r["lb1"] and e[3] > 0 and e[0] <= 0.05]
            if not old:
                continue
            last = max(old)
            dl = last + r["mdi_s"]
            xs = lambda f: [(e[0] - dl) * 1e3 for e in ev if f(e)]  # noqa: E731
            ax.scatter(xs(lambda e: e[1] == "adv" and e[2] == r["lb1"]), [y + 0.15] * len(xs(lambda e: e[1] == "adv" and e[2] == r["lb1"])),
                       marker="|", s=200, color="gray", label="lb1 (old master) advert" if y == 0 else None)
            ax.scatter(xs(lambda e: e[1] == "adv" and e[2] == r["lb2"]), [y] * len(xs(lambda e: e[1] == "adv" and e[2] == r["lb2"])),
                       marker="|", s=200, color=colors[r["impl"]], label=None)
            g = xs(lambda e: e[1] == "garp" and e[0] > 0)
            ax.scatter(g, [y - 0.15] * len(g), marker="x", color="red", label="gratuitous ARP" if y == 0 else None)
            ax.axvline(-r["mdi_s"] * 1e3, color="gray", ls=":", lw=0.8)
        ax.axvline(0, color="black", lw=1, label="master-down deadline")
        ax.axvline(1, color="red", ls="--", lw=0.8, label="deadline + 1 ms (target)")
        ax.set_yticks(range(len(sel)))
        ax.set_yticklabels([NAMES[r["impl"]] + " (lb2 adverts)" for r in sorted(sel, key=lambda r: IMPLS.index(r["impl"]))])
        span = r["mdi_s"] * 1e3
        if zoom:
            ax.set_xlim(-10, 12)
            ax.set_yticklabels([])
            ax.set_xlabel("zoom: ms from the deadline")
        else:
            ax.set_xlim(-span * 1.15, span * 0.6)
            ax.set_xlabel("ms from the master-down deadline (killed master's last advert + master-down interval)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, fontsize=7)


def other_plots(recs, outdir, plt, colors):
    out = []
    # failover overhead distribution
    fo = [r for r in recs if r["kind"] == "failover" and r["case"] == "crash" and r.get("garp_overhead_ms") is not None]
    if fo:
        cfgs = sorted({(r["version"], r["adv"], r["mode"]) for r in fo})
        fig, ax = plt.subplots(figsize=(10, 4))
        w = 0.25
        for j, impl in enumerate(IMPLS):
            for k, c in enumerate(cfgs):
                ys = [r["garp_overhead_ms"] for r in fo if r["impl"] == impl and (r["version"], r["adv"], r["mode"]) == c]
                ax.scatter([k + (j - 1) * w] * len(ys), ys, color=colors[impl], s=18,
                           label=NAMES[impl] if k == 0 and ys else None)
        ax.axhline(1.0, color="red", ls="--", lw=0.8, label="target 1 ms")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(cfgs)))
        ax.set_xticklabels([f"v{v} {a:g} s {m}" for v, a, m in cfgs])
        ax.set_ylabel("ms after the deadline (first GARP)")
        ax.set_title("Crash failover overhead, every trial")
        ax.legend(fontsize=8)
        fig.tight_layout()
        p = os.path.join(outdir, "failover-overhead.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        out.append(("Crash failover overhead, every trial", p))
    # scale
    sc = [r for r in recs if r["kind"] == "scale"]
    if sc:
        for key, ylabel, fname, f in (
                ("cpu", "CPU (µs per second, median)", "scale-cpu.png", lambda r: r["cpu_ns"] / 1e3 / r["window_s"]),
                ("rss", "RSS (MB, all processes)", "scale-rss.png", lambda r: r["rss_kb"] / 1024)):
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for impl in IMPLS:
                for role, ls in (("master", "-"), ("backup", "--")):
                    pts = []
                    for n in sorted({r["n"] for r in sc}):
                        v = [f(r) for r in sc if r["impl"] == impl and r["n"] == n and r["role"] == role]
                        if v:
                            pts.append((n, statistics.median(v)))
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], ls, marker="o", color=colors[impl],
                                label=f"{NAMES[impl]} {role}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("VRRP instances (VRRPv3, 1 s)")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            p = os.path.join(outdir, fname)
            fig.savefig(p, dpi=110)
            plt.close(fig)
            out.append((ylabel.split(" (")[0] + " against instance count", p))
    return out


if __name__ == "__main__":
    main()
