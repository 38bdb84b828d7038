#!/usr/bin/env python3
"""Turns compare.sh's JSON lines into RESULTS.md and prints the summary table."""
import argparse
import collections
import datetime
import json
import math
import os
import platform
import statistics
import subprocess

IMPLS = ("vigild", "keepalived")
FLOOR = "floor"
# Figures shown for the floor too (a receiver that does nothing but wake up and read).
FLOOR_KEYS = {"cpu_backup", "wake_backup", "idle_backup", "idlewake_backup"}


def stats(xs):
    xs = [x for x in xs if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs), len(xs)


def fmt(v, digits):
    if v is None:
        return "–"
    return f"{v:.{digits}f}"


def cell(s, digits):
    if s is None:
        return "n/a"
    med, lo, hi, n = s
    return f"**{fmt(med, digits)}** ({fmt(lo, digits)}–{fmt(hi, digits)})"


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return model, os.cpu_count(), platform.release()


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


JUNK_LABELS = {
    "unknown_vrid": "adverts for a VRID nobody configured (52)",
    "bad_checksum": "adverts for VRID 51 with a wrong checksum",
    "ttl": "adverts for VRID 51 with TTL 64",
}
JUNK_TARGET_US = 0.2  # CPU per junk packet at a backup, vigild (issue "vigild under attack")


def delta_map(before, after):
    before = before or {}
    return {k: v - before.get(k, 0) for k, v in (after or {}).items() if v != before.get(k, 0)}


def junk_section(recs):
    """The junk floods: (markdown table, verdicts, per-trial rows, notes)."""
    # (kind, rate) -> figure -> impl -> per-trial values
    fig = collections.defaultdict(
        lambda: collections.defaultdict(lambda: collections.defaultdict(list)))
    failovers = collections.Counter()
    trials = collections.Counter()
    notes = []
    order = []
    for r in recs:
        key = (r["junk"], r["rate_target"])
        if key not in order:
            order.append(key)
        impl, sent = r["impl"], max(r["sent"], 1)
        f = fig[key]
        cpu = r["cpu_ns"] + r.get("tail_cpu_ns", 0)
        drops = r["sock_drops"] or 0
        f["cpu"][impl].append(cpu / sent / 1e3)
        f["cpu_taken"][impl].append(cpu / max(sent - drops, 1) / 1e3)
        f["rate"][impl].append(r["rate"])
        f["sent"][impl].append(r["sent"])
        f["wake"][impl].append(1000.0 * r["wakeups"] / sent)
        f["sock_drops"][impl].append(100.0 * drops / sent)
        f["sender"][impl].append(r["sender_cpu_ns"] / sent / 1e3)
        b, e = r.get("status_before"), r.get("status_after")
        became = 0
        if b and e:
            filtered = delta_map(b.get("filtered"), e.get("filtered"))
            bi, ei = b["instances"][0]["counters"], e["instances"][0]["counters"]
            user = delta_map(bi["drops"], ei["drops"])
            user.update(delta_map(b.get("drops"), e.get("drops")))
            f["filtered"][impl].append(100.0 * sum(filtered.values()) / sent)
            f["user"][impl].append(100.0 * sum(user.values()) / sent)
            became = ei["became_master"] - bi["became_master"]
            if trials[(impl,) + key] == 0:
                how = f"{r['rate_target']:,}/s" if r["rate_target"] else "full speed"
                notes.append(f"- vigild, {JUNK_LABELS[r['junk']]}, {how} "
                             f"(trial 1, {r['sent']} sent): filtered in the kernel "
                             f"{filtered or '{}'}, dropped in user space {user or '{}'}, "
                             f"kernel_drops +{e['kernel_drops'] - b['kernel_drops']}.")
        trials[(impl,) + key] += 1
        if r["rx_vrrp"] or r.get("log_master") or r.get("vip_on_dut") or became:
            failovers[(impl,) + key] += 1
            notes.append(f"- **{impl} became MASTER with its master alive** during "
                         f"{JUNK_LABELS[r['junk']]}, rate {r['rate_target'] or 'max'}, trial "
                         f"{r['trial']}: adverts sent by lb2 {r['rx_vrrp']}, \"Entering MASTER "
                         f"STATE\" lines {r.get('log_master')}, became_master +{became}, VIP on "
                         f"lb2 after: {r.get('vip_on_dut')}.")

    rows = [
        # (label, figure, digits, the target applies, in the per-trial list)
        ("CPU per junk packet (µs)", "cpu", 3, True, True),
        ("  per packet its socket took (not dropped for a full buffer, µs)", "cpu_taken", 3,
         False, True),
        ("  junk packets sent per trial", "sent", 0, False, False),
        ("  rate reached (packets/s)", "rate", 0, False, True),
        ("  wake-ups per 1,000 junk packets", "wake", 2, False, False),
        ("  dropped on the daemon's raw socket, buffer full (`/proc/PID/net/raw`, %)",
         "sock_drops", 1, False, True),
        ("  dropped by vigild's socket filter in the kernel (status `filtered`, %)",
         "filtered", 1, False, False),
        ("  dropped by vigild in user space (status drops, %)", "user", 1, False, False),
        ("  sender's CPU per packet (µs; holds the kernel's delivery at lb2)", "sender", 2,
         False, False),
    ]
    lines = [
        "| junk, rate / figure | target | vigild median (min–max) "
        "| keepalived median (min–max) | vigild/keepalived | target met? |",
        "|---|---|---|---|---|---|",
    ]
    verdicts, per_trial = [], []
    for key in order:
        kind, rate = key
        how = "as fast as one sender can" if not rate else f"{rate:,} per second"
        ff = "; ".join(f"{i} {failovers[(i,) + key]} of {trials[(i,) + key]}"
                       for i in IMPLS if trials[(i,) + key])
        lines.append(f"| **{JUNK_LABELS[kind]}, {how}** (false failovers: {ff}) | | | | | |")
        for label, name, digits, target, listed in rows:
            vals = fig[key][name]
            if not any(vals[i] for i in IMPLS):
                continue
            sv, sk = stats(vals["vigild"]), stats(vals["keepalived"])
            v, k = (None if sv is None else sv[0]), (None if sk is None else sk[0])
            ratio = f"{v / k:.3f}" if v is not None and k else "–"
            tgt, met = "", ""
            if target:
                tgt = f"≤ {JUNK_TARGET_US} µs"
                if v is not None:
                    ok = v <= JUNK_TARGET_US
                    met = "yes" if ok else "**no**"
                    verdicts.append((f"CPU per junk packet at a BACKUP, {JUNK_LABELS[kind]}, "
                                     f"{how} (µs)", tgt, ok, fmt(v, digits)))
            text = label.strip() if not label.startswith("  ") else "↳ " + label.strip()
            lines.append(f"| {text} | {tgt} | {cell(sv, digits)} | {cell(sk, digits)} "
                         f"| {ratio} | {met} |")
            for impl in IMPLS:
                if vals[impl] and listed:
                    per_trial.append(f"| {JUNK_LABELS[kind]}, {how}: {label.strip()} | {impl} "
                                     f"| {', '.join(fmt(x, digits) for x in vals[impl])} |")
    return "\n".join(lines), verdicts, per_trial, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--vigild", default="vigild")
    ap.add_argument("--keepalived", default="keepalived")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--flood-packets", type=int)
    ap.add_argument("--flood-seconds", type=float)
    ap.add_argument("--idle-seconds", type=float)
    ap.add_argument("--junk-trials", type=int)
    ap.add_argument("--junk-seconds", type=float)
    ap.add_argument("--junk-rate", type=int)
    a = ap.parse_args()

    recs = [json.loads(line) for line in open(a.results) if line.strip()]
    by = collections.defaultdict(list)
    for r in recs:
        by[r["kind"]].append(r)

    # figure name -> impl -> list of per-trial values
    fig = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in by["flood"]:
        sent = r["sent"]
        delivered = sent - (r["sock_drops"] or 0)
        c = r["case"]
        total_ns = r["cpu_ns"] + r.get("tail_cpu_ns", 0)
        vrrp = r["rx_vrrp"] + r.get("tail_vrrp", 0)
        arp = r["rx_arp"] + r.get("tail_arp", 0)
        fig[f"cpu_{c}"][r["impl"]].append(total_ns / sent / 1e3)
        fig[f"cpu_{c}_window"][r["impl"]].append(r["cpu_ns"] / sent / 1e3)
        fig[f"cpu_{c}_delivered"][r["impl"]].append(total_ns / max(delivered, 1) / 1e3)
        fig[f"tail_{c}"][r["impl"]].append(r.get("tail_s", 0))
        fig[f"drops_{c}"][r["impl"]].append(100.0 * (r["sock_drops"] or 0) / sent)
        fig[f"wake_{c}"][r["impl"]].append(r.get("wakeups", 0) / max(delivered, 1))
        if c == "master":
            fig["tx_vrrp"][r["impl"]].append(vrrp)
            fig["tx_vrrp_1s"][r["impl"]].append(r.get("rx_vrrp_max_per_s"))
            fig["tx_arp"][r["impl"]].append(arp)
            fig["tx_per_rx"][r["impl"]].append((vrrp + arp) / max(delivered, 1))
    for r in by["flood-total"]:
        c = r["case"]
        got = r["sent"] - (r["sock_drops"] or 0)
        fig[f"total_cpu_{c}"][r["impl"]].append(r["cpu_ns"] / r["sent"] / 1e3)
        if c == "master":
            fig["total_tx_per_rx"][r["impl"]].append((r["rx_vrrp"] + r["rx_arp"]) / max(got, 1))
            fig["total_arp"][r["impl"]].append(r["rx_arp"])
    for r in by["idle"]:
        fig[f"idle_{r['role']}"][r["impl"]].append(r["cpu_ns"] / r["window_ns"] * 1e6)
        fig[f"idlewake_{r['role']}"][r["impl"]].append(r.get("wakeups", 0) / r["window_ns"] * 1e9)
        fig[f"rss_{r['role']}"][r["impl"]].append(r["rss_kb"] / 1024)
        fig[f"pss_{r['role']}"][r["impl"]].append(r["pss_kb"] / 1024)
    for r in by["failover"]:
        for k in ("garp_ms", "advert_ms", "vip_ms"):
            fig[k][r["impl"]].append(r.get(k))

    S = {k: {i: stats(v[i]) for i in IMPLS + (FLOOR,)} for k, v in fig.items()}

    def med(key, impl):
        s = S.get(key, {}).get(impl)
        return None if s is None else s[0]

    # (label, key, digits, target text, check on vigild's median or None, also vs keepalived)
    rows = [
        ("CPU per received advert, BACKUP hearing its master (µs)", "cpu_backup", 3,
         "≤ 1 µs", lambda v: v <= 1.0, "≤ ¼ keepalived"),
        ("  wake-ups (voluntary context switches) per advert", "wake_backup", 3, "", None, None),
        ("  adverts dropped by the kernel (socket full, %)", "drops_backup", 1, "", None, None),
        ("CPU per lower-priority advert, MASTER (µs)", "cpu_master", 3,
         "≤ 1.5 µs", lambda v: v <= 1.5, "≤ ¼ keepalived"),
        ("  of it within the flood window (flood + 0.3 s)", "cpu_master_window", 3, "", None,
         None),
        ("  still busy after the window (s)", "tail_master", 2, "", None, None),
        (f"  over the whole phase: {a.trials} floods, gaps, 6 s after (µs per advert; one value)",
         "total_cpu_master", 3, "", None, None),
        ("  per advert the daemon's socket got, not dropped (µs)", "cpu_master_delivered", 3,
         "", None, None),
        ("  adverts dropped by the kernel (socket full, %)", "drops_master", 1, "", None, None),
        ("  wake-ups (voluntary context switches) per advert", "wake_master", 3, "", None, None),
        ("  VRRP adverts sent (window + tail)", "tx_vrrp", 0, "", None, None),
        ("  most adverts sent within one advert interval (any 0.99 s; first 2000 counted)",
         "tx_vrrp_1s", 0, "≤ 2: the periodic one + at most one answer", lambda v: v <= 2, None),
        ("  ARP sent (window + tail)", "tx_arp", 0, "", None, None),
        ("  packets sent per advert received", "tx_per_rx", 4, "", None, None),
        ("  the same over the whole phase (delayed GARPs included; one value)",
         "total_tx_per_rx", 4, "", None, None),
        ("Idle CPU, MASTER (µs per s)", "idle_master", 1, "≤ 20 µs/s", lambda v: v <= 20, None),
        ("  wake-ups per second, MASTER", "idlewake_master", 2, "", None, None),
        ("Idle CPU, BACKUP (µs per s)", "idle_backup", 1, "≤ 20 µs/s", lambda v: v <= 20, None),
        ("  wake-ups per second, BACKUP", "idlewake_backup", 2, "", None, None),
        ("RSS, MASTER (MB, VmRSS summed over processes)", "rss_master", 2, "≤ 4 MB",
         lambda v: v <= 4.0, "≤ ⅓ keepalived"),
        ("RSS, BACKUP (MB, VmRSS summed over processes)", "rss_backup", 2, "≤ 4 MB",
         lambda v: v <= 4.0, "≤ ⅓ keepalived"),
        ("  PSS, BACKUP (MB, shared pages split)", "pss_backup", 2, "", None, None),
        ("Failover: deadline → first gratuitous ARP (ms)", "garp_ms", 3, "≤ 1 ms",
         lambda v: v <= 1.0, None),
        ("Failover: deadline → first advert of the new master (ms)", "advert_ms", 3, "",
         None, None),
        ("Failover: deadline → VIP seen by `ip monitor` (ms)", "vip_ms", 3, "≤ 1 ms",
         lambda v: v <= 1.0, None),
    ]
    ratio_limit = {"≤ ¼ keepalived": 0.25, "≤ ⅓ keepalived": 1 / 3}

    lines = [
        "| figure | target | vigild median (min–max) | keepalived median (min–max) "
        "| vigild/keepalived | target met? |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for label, key, digits, target, check, rtarget in rows:
        if key not in S:
            continue
        v, k = med(key, "vigild"), med(key, "keepalived")
        ratio = "–"
        if v is not None and k not in (None, 0):
            ratio = f"{v / k:.3f}"
        met = ""
        if check is not None and v is not None:
            ok = check(v)
            met = "yes" if ok else "**no**"
            verdicts.append((label.strip(), target, ok, fmt(v, digits)))
        if rtarget and v is not None and k:
            ok = v / k <= ratio_limit[rtarget]
            met += ("; " if met else "") + f"{rtarget}: " + ("yes" if ok else "**no**")
            verdicts.append((label.strip(), rtarget, ok, f"ratio {v / k:.3f}"))
        tgt = target + (f"; {rtarget}" if rtarget else "")
        lines.append(f"| {label.strip() if not label.startswith('  ') else '↳ ' + label.strip()} "
                     f"| {tgt} | {cell(S[key]['vigild'], digits)} "
                     f"| {cell(S[key]['keepalived'], digits)} | {ratio} | {met} |")
        if S[key].get(FLOOR) is not None and key in FLOOR_KEYS:
            f = med(key, FLOOR)
            rel = "–" if not f else f"vigild/floor {v / f:.2f}, keepalived/floor {k / f:.2f}"
            lines.append(f"| ↳ *floor*: floor.c, a blocking recv() loop and nothing else "
                         f"| | {cell(S[key][FLOOR], digits)} | | {rel} | |")
    table = "\n".join(lines)
    junk_table, junk_verdicts, junk_per_trial, junk_notes = junk_section(by["junk"])
    verdicts += junk_verdicts

    # Checks that say whether the numbers mean what they claim.
    notes = []
    for r in by["flood-check"]:
        if not r["state_held"]:
            notes.append(f"- **{r['impl']} left its state during the {r['case']} flood** "
                         "(the figures of that case are not comparable).")
        if r["impl"] == "vigild" and r.get("before") and r.get("after"):
            b, e = r["before"]["counters"], r["after"]["counters"]
            rx = e["adverts_rx"] - b["adverts_rx"]
            tx = e["adverts_tx"] - b["adverts_tx"]
            drops = {k: v - b["drops"].get(k, 0) for k, v in e["drops"].items()
                     if v != b["drops"].get(k, 0)}
            gdrops = {k: v - r["before"]["drops"].get(k, 0) for k, v in r["after"]["drops"].items()
                      if v != r["before"]["drops"].get(k, 0)}
            notes.append(f"- vigild {r['case']} flood, its own counters over all trials and gaps: "
                         f"adverts_rx +{rx}, adverts_tx +{tx}, instance drops {drops or '{}'}, "
                         f"global drops {gdrops or '{}'}.")
    for r in by["failover"]:
        if not r.get("took_over", True) or r.get("error"):
            notes.append(f"- {r['impl']} failover trial {r['trial']}: backup did not take over "
                         f"or the capture lacks packets ({r.get('error', 'no VIP')}).")
    prios = collections.defaultdict(collections.Counter)
    for r in by["flood"]:
        if r["case"] == "master":
            for p, n in r.get("rx_prios", {}).items():
                prios[r["impl"]][p] += n
    for impl, c in prios.items():
        notes.append(f"- {impl} as MASTER under the flood sent adverts with priorities "
                     f"{dict(c)} (summed over trials).")
    fc, fw = med("cpu_backup", FLOOR), med("wake_backup", FLOOR)
    vc, kc = med("cpu_backup", "vigild"), med("cpu_backup", "keepalived")
    if fc and vc and kc:
        notes.append(
            f"- The floor (floor.c: a blocking recv() loop, no work at all) spends {fc:.2f} µs "
            f"per advert at {fw:.2f} wake-ups per advert: the kernel's delivery and the "
            f"receiver's sleep and wake-up. vigild spends {vc - fc:.2f} µs per advert above it, "
            f"keepalived {kc - fc:.2f} µs. "
            + ("A 1 µs target is below the floor on this machine while adverts arrive one "
               "by one." if fc > 1.0 else ""))
    fi_, fiw = med("idle_backup", FLOOR), med("idlewake_backup", FLOOR)
    if fi_ and fiw:
        vw, kw = med("idlewake_backup", "vigild"), med("idlewake_backup", "keepalived")
        mw, kmw = med("idlewake_master", "vigild"), med("idlewake_master", "keepalived")
        notes.append(
            f"- Idle: a process that wakes once per advert and reads it (the floor) costs "
            f"{fi_:.1f} µs per second here ({fi_ / fiw:.1f} µs per wake-up). Idle CPU follows "
            f"the wake-ups: as BACKUP vigild wakes {vw:.2f} times per second, keepalived "
            f"{kw:.2f}; as MASTER {mw:.2f} and {kmw:.2f}.")
    lost = sum(r.get("rx_lost", 0) for r in by["flood"])
    if lost:
        notes.append(f"- the reply counter's capture socket lost {lost} frames: reply counts "
                     "are lower bounds.")

    notes += junk_notes
    model, ncpu, kernel = machine()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    here = os.path.dirname(os.path.abspath(__file__))
    rev = version(["git", "-C", here, "rev-parse", "--short", "HEAD"])
    try:  # read-only: does the built source differ from HEAD?
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--",
                                "../../core", "../../host-linux"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        if dirty:
            rev += " with uncommitted changes in core/ or host-linux/"
    except (OSError, subprocess.TimeoutExpired):
        pass
    met = [f"- {'✅' if ok else '❌'} {label} ({tgt}): {val}" for label, tgt, ok, val in verdicts]

    per_trial = ["| figure | impl | per trial |", "|---|---|---|"]
    for label, key, digits, *_ in rows:
        if key not in fig:
            continue
        for impl in IMPLS + (FLOOR,):
            if not fig[key][impl] or (impl == FLOOR and key not in FLOOR_KEYS):
                continue
            vals = ", ".join(fmt(x, digits) for x in fig[key][impl])
            per_trial.append(f"| {label.strip()} | {impl} | {vals} |")
    per_trial += junk_per_trial

    junk_md = ""
    if junk_table and by["junk"]:
        junk_md = f"""
## Junk at a BACKUP (issue "vigild under attack")

lb2 in BACKUP (priority 100); the sender is its priority-200 master, one advert per
second, and floods junk from another address with `sendmmsg` on an AF_PACKET socket
(junk.py), {a.junk_trials} trials of {a.junk_seconds:g} s per kind and rate: as fast as one sender can, and
{a.junk_rate:,} per second. CPU is the daemon's, from the first junk packet to 0.3 s after the
last and until it is quiet again, divided by the junk packets sent. vigild's socket filter
runs in the kernel's receive path, which is charged to the sender (its last row). A false
failover is lb2 sending an advert, logging "Entering MASTER STATE", counting
`became_master` (vigild) or holding the VIP after a trial.

{junk_table}
"""
    md = f"""# vigild against keepalived: daemon benchmarks

Generated by `{a.command}` on {date}, in {a.elapsed} s.

- Machine: {model}, nproc {ncpu}, Linux {kernel}
- vigild: {version([a.vigild, "--version"])} (tree {rev}, release build)
- keepalived: {version([a.keepalived, "--version"])} (`keepalived -n -l -D -G -P`: VRRP only, no syslog)
- Trials: {a.trials} per figure; floods of {a.flood_packets} adverts in {a.flood_seconds:g} s;
  idle windows of {a.idle_seconds:g} s; VRRPv3, VRID 51, advert_int 1 s, one VIP.

Both daemons run the same keepalived.conf on the same topology (a bridge namespace, lb1,
lb2 and a sender namespace on veth pairs). Medians, with (min–max) over the trials; the
ratio is of the medians. CPU is every thread of the daemon's processes
(`/proc/PID/task/*/schedstat`: user + system, nanoseconds), keepalived's parent and VRRP
child summed. See benches/daemon/README.md for the method.

{table}
{junk_md}
## Targets (issue 3, and issue 5's ratios)

{chr(10).join(met)}

## Checks and observations from this run

{chr(10).join(notes) if notes else "- none"}

## Per-trial values

{chr(10).join(per_trial)}
"""
    with open(a.out, "w") as fh:
        fh.write(md)
    print()
    print(table)
    print()
    print("\n".join(met))
    if notes:
        print()
        print("\n".join(notes))


if __name__ == "__main__":
    main()
