#!/usr/bin/env python3
"""vigild, keepalived and FRR vrrpd side by side on network namespaces this script creates.

Driven by benches/compare/run.sh (which builds vigild and installs the packages); run as
root. Writes one JSON object per measurement to --out (JSON lines); report.py turns them
into BENCHMARKS.md and the plots.

Sections (--only selects some): failover, flood, scale, starve.
Reuses benches/daemon/flood.py (the flood, run as a program) and the pcap reader of
benches/daemon/failover.py (imported), read-only.

Every namespace carries this process's PID in its name; every process started here runs
in its own session and is SIGKILLed at exit; every wait is bounded.
"""
import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "benches", "daemon"))
from failover import frames  # noqa: E402  (read-only reuse)

FLOOD = os.path.join(ROOT, "benches", "daemon", "flood.py")
PID = os.getpid()
WORK = tempfile.mkdtemp(prefix="vigil-compare.")
os.chmod(WORK, 0o755)
NETNS = []
PROCS = []  # Popen objects (each leads its own session)
FRR_DIRS = []
LOCK = threading.Lock()
OUT = None
VIGILD = KEEPALIVED = None
IMPLS = ["vigild", "keepalived", "frr"]


def log(*a):
    with LOCK:
        print("==>", *a, flush=True)


def emit(rec):
    with LOCK:
        OUT.write(json.dumps(rec) + "\n")
        OUT.flush()


def sh(*cmd, check=True, quiet=True, inp=None):
    r = subprocess.run(cmd, input=inp, text=True,
                       stdout=subprocess.PIPE if quiet else None,
                       stderr=subprocess.PIPE if quiet else None, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
    return r.stdout if quiet else ""


def spawn(args, logfile):
    fh = open(logfile, "ab")
    p = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    with LOCK:
        PROCS.append(p)
    return p


def kill_group(p, sig=signal.SIGKILL, wait=5.0):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait(timeout=5)


def cleanup():
    for p in PROCS:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for p in PROCS:
        try:
            p.wait(timeout=3)
        except Exception:
            pass
    for ns in NETNS:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    for d in FRR_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    try:
        if os.environ.get("KEEP"):
            shutil.copytree(WORK, os.environ["KEEP"], dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.sock"))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)


def wait_until(seconds, fn, step=0.01):
    end = time.monotonic() + seconds
    for _ in range(int(seconds / step) + 2):
        if fn():
            return True
        if time.monotonic() > end:
            break
        time.sleep(step)
    return fn()


def cpu_ns(pids):
    total = 0
    for p in pids:
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/schedstat") as fh:
                    total += int(fh.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def wakeups(pids):
    """Voluntary context switches (times a thread slept) of every thread."""
    total = 0
    for p in pids:
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/status") as fh:
                    for line in fh:
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def mem_kb(pids, field="VmRSS"):
    total = 0
    for p in pids:
        try:
            if field == "VmRSS":
                with open(f"/proc/{p}/status") as fh:
                    for line in fh:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            else:
                with open(f"/proc/{p}/smaps_rollup") as fh:
                    for line in fh:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


# ------------------------------------------------------------------ topology
class Topo:
    """Namespaces br, 1 (lb1), 2 (lb2), s (sender). Interface k (0..nif-1) of lb1/lb2 is
    eth{k} on bridge br{k}, subnet 10.{60+k}.0.0/24: lb1 .11, lb2 .12, sender .2 (eth0
    only)."""

    def __init__(self, tag, nif=1):
        self.tag, self.nif = tag, nif
        self.ns = {n: f"vc{PID}{tag}-{n}" for n in ("br", "1", "2", "s")}
        for ns in self.ns.values():
            sh("ip", "netns", "add", ns)
            NETNS.append(ns)
        br = self.ns["br"]
        cmds = []
        for k in range(nif):
            cmds.append(f"link add br{k} type bridge mcast_snooping 0")
            cmds.append(f"link set br{k} up")
        sh("ip", "-n", br, "-batch", "-", inp="\n".join(cmds) + "\n")
        for node, host in (("1", 11), ("2", 12), ("s", 2)):
            ns = self.ns[node]
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for k in range(nif if node != "s" else 1):
                port = f"p{node}{k}"
                sh("ip", "-n", br, "link", "add", port, "type", "veth", "peer", "name",
                   f"eth{k}", "netns", ns)
                sh("ip", "-n", br, "link", "set", port, "master", f"br{k}", "up")
                mac = f"02:{60 + k:02x}:00:00:00:{host:02x}"
                sh("ip", "-n", ns, "link", "set", f"eth{k}", "address", mac)
                sh("ip", "-n", ns, "addr", "add", f"{self.ip(k, host)}/24", "dev", f"eth{k}")
                sh("ip", "-n", ns, "link", "set", f"eth{k}", "up")

    @staticmethod
    def ip(k, host):
        return f"10.{60 + k}.0.{host}"

    @staticmethod
    def vip(k, vrid):
        return f"10.{60 + k}.1.{vrid}"

    def flush_vips(self, node):
        out = sh("ip", "-n", self.ns[node], "-o", "-4", "addr", "show", check=False)
        cmds = []
        for line in out.splitlines():
            f = line.split()
            if f[3].split(".")[2] == "1" and f[1].startswith("eth"):
                cmds.append(f"addr del {f[3]} dev {f[1].split('@')[0]}")
        if cmds:
            sh("ip", "-n", self.ns[node], "-batch", "-", inp="\n".join(cmds) + "\n", check=False)


# ------------------------------------------------------------------ daemons
def instances(nif, n):
    """[(k, vrid)] spread over nif interfaces."""
    per = max(1, n // nif)
    return [(k, v) for k in range(nif) for v in range(1, per + 1)][:n]


def keepalived_conf(name, inst, version, adv, prio, state, unicast, node):
    peer = "12" if node == "1" else "11"
    lines = ["global_defs {", f"    router_id {name}", f"    vrrp_version {version}", "}"]
    for k, v in inst:
        lines += [f"vrrp_instance VI_{k}_{v} {{", f"    state {state}", f"    interface eth{k}",
                  f"    virtual_router_id {v}", f"    priority {prio}", f"    advert_int {adv}"]
        if unicast:
            lines.append(f"    unicast_peer {{ {Topo.ip(k, int(peer))} }}")
        lines += ["    virtual_ipaddress {", f"        {Topo.vip(k, v)}/24", "    }", "}"]
    return "\n".join(lines) + "\n"


class Daemon:
    def __init__(self, impl, topo, node, inst, version, adv, prio, state, unicast=False):
        self.impl, self.topo, self.node = impl, topo, node
        self.name = f"{impl}-{topo.tag}-{node}"
        ns = topo.ns[node]
        base = os.path.join(WORK, self.name)
        self.procs = []
        if impl in ("vigild", "keepalived"):
            conf = base + ".conf"
            with open(conf, "w") as fh:
                fh.write(keepalived_conf(self.name, inst, version, adv, prio, state, unicast, node))
            for f in (base + ".sock", base + ".pid", base + ".vrrp.pid"):
                if os.path.exists(f):
                    os.unlink(f)
            if impl == "vigild":
                self.procs.append(spawn(["ip", "netns", "exec", ns, VIGILD, "-f", conf,
                                         "--control", base + ".sock"], base + ".log"))
                ready = lambda: os.path.exists(base + ".sock")  # noqa: E731
            else:
                self.procs.append(spawn(["ip", "netns", "exec", ns, KEEPALIVED, "-n", "-l", "-D",
                                         "-P", "-f", conf, "-p", base + ".pid", "-r",
                                         base + ".vrrp.pid"], base + ".log"))
                ready = lambda: os.path.exists(base + ".vrrp.pid") and os.path.getsize(base + ".vrrp.pid") > 0  # noqa: E731
            if not wait_until(30, ready, 0.02):
                raise RuntimeError(f"{self.name} did not start: {open(base + '.log').read()[-2000:]}")
            self.pids = [self.procs[0].pid]
            if impl == "keepalived":
                self.pids.append(int(open(base + ".vrrp.pid").read().split()[0]))
        else:  # FRR: zebra + vrrpd, pathspace per node; macvlans made by setup_frr_macvlans
            assert not unicast
            space = f"vc{PID}{topo.tag}{node}"
            rundir = f"/var/run/frr/{space}"
            os.makedirs(rundir, exist_ok=True)
            shutil.chown(rundir, "frr", "frr")
            if rundir not in FRR_DIRS:
                FRR_DIRS.append(rundir)
            lines = ["hostname " + self.name]
            by_if = {}
            for k, v in inst:
                by_if.setdefault(k, []).append(v)
            for k, vs in by_if.items():
                lines.append(f"interface eth{k}")
                for v in vs:
                    lines += [f" vrrp {v} version {version}", f" vrrp {v} priority {prio}",
                              f" vrrp {v} advertisement-interval {int(round(adv * 1000))}",
                              f" vrrp {v} ip {Topo.vip(k, v)}"]
            with open(base + ".vrrpd.conf", "w") as fh:
                fh.write("\n".join(lines) + "\n")
            with open(base + ".zebra.conf", "w") as fh:
                fh.write(f"hostname {self.name}\n")
            for f in (f"{rundir}/zebra.pid", f"{rundir}/vrrpd.pid"):
                if os.path.exists(f):
                    os.unlink(f)
            for d in ("zebra", "vrrpd"):
                shutil.chown(base + f".{d}.conf", "frr", "frr")
                self.procs.append(spawn(["ip", "netns", "exec", ns, f"/usr/lib/frr/{d}", "-N", space,
                                         "-f", base + f".{d}.conf", "-u", "frr", "-g", "frr",
                                         "-i", f"{rundir}/{d}.pid",
                                         "--log", f"file:{rundir}/{d}.log"], base + ".log"))
                if not wait_until(15, lambda: os.path.exists(f"{rundir}/{d}.pid"), 0.02):
                    raise RuntimeError(f"{self.name} {d} did not start: {open(base + '.log').read()[-2000:]}")
                if d == "zebra":
                    wait_until(5, lambda: os.path.exists(f"{rundir}/zserv.api"), 0.02)
            self.pids = [p.pid for p in self.procs]

    def alive(self):
        return any(p.poll() is None for p in self.procs)

    def kill(self):
        for p in reversed(self.procs):
            kill_group(p, signal.SIGKILL)

    def term(self, timeout=5.0):
        # vrrpd first (it resigns), then zebra
        for p in reversed(self.procs):
            kill_group(p, signal.SIGTERM, wait=timeout)


def setup_frr_macvlans(topo, inst):
    """FRR needs, per instance, a macvlan on the interface with the virtual MAC, holding the
    VIP; vrrpd brings it up on MASTER and down on BACKUP."""
    for node in ("1", "2"):
        cmds = []
        for k, v in inst:
            dev = f"vr{k}x{v}"
            cmds += [f"link add {dev} link eth{k} type macvlan mode bridge",
                     f"link set {dev} address 00:00:5e:00:01:{v:02x}",
                     f"addr add {Topo.vip(k, v)}/24 dev {dev}",
                     f"link set {dev} up"]
        sh("ip", "-n", topo.ns[node], "-batch", "-", inp="\n".join(cmds) + "\n")


def vips_on(topo, node):
    """VIP addresses on interfaces that are up (FRR's backup keeps them on a down macvlan)."""
    out = sh("ip", "-n", topo.ns[node], "-br", "-4", "addr", "show", check=False)
    n = 0
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] != "DOWN":
            n += sum(1 for a in f[2:] if a.count(".") == 3 and a.split(".")[2] == "1")
    return n


def flush_vips(topo, node, impl):
    if impl == "frr":
        return
    topo.flush_vips(node)


# ------------------------------------------------------------------ capture
class Capture:
    def __init__(self, topo, iface, name):
        self.path = os.path.join(WORK, f"{name}.pcap")
        err = self.path + ".err"
        self.p = spawn(["ip", "netns", "exec", topo.ns["br"], "tcpdump", "-i", iface, "-n", "-U",
                        "-Z", "root", "--immediate-mode", "--time-stamp-precision=nano",
                        "-B", "8192", "-w", self.path, "vrrp or arp"], err)
        if not wait_until(5, lambda: "listening on" in open(err).read(), 0.02):
            raise RuntimeError("tcpdump did not start: " + open(err).read())

    def stop(self):
        time.sleep(0.2)
        kill_group(self.p, signal.SIGINT, wait=3)
        return self.events()

    def events(self):
        """[(t, kind, src_ip, prio)]: kind 'adv' or 'garp'."""
        ev = []
        for t, f in frames(self.path):
            et = f[12:14]
            if et == b"\x08\x00" and len(f) >= 34 + 8 and f[23] == 112:
                ihl = (f[14] & 0x0F) * 4
                ev.append((t, "adv", socket.inet_ntoa(f[26:30]), f[14 + ihl + 2], f[6:12].hex()))
            elif et == b"\x08\x06" and len(f) >= 42:
                spa, tpa = f[28:32], f[38:42]
                if spa == tpa:
                    ev.append((t, "garp", socket.inet_ntoa(spa), None, f[6:12].hex()))
        return ev


def skew(version, adv, prio=100):
    return (256 - prio) / 256 * (1.0 if version == 2 else adv)


# ------------------------------------------------------------------ failover
def failover_suite(impl, version, adv, unicast, trials):
    mode = "unicast" if unicast else "multicast"
    tag = f"f{impl[0]}{version}{'u' if unicast else 'm'}"
    topo = Topo(tag)
    inst = [(0, 51)]
    if impl == "frr":
        setup_frr_macvlans(topo, inst)
    lb1ip, lb2ip = Topo.ip(0, 11), Topo.ip(0, 12)
    cap = Capture(topo, "p20", f"cap-{tag}")
    mk = lambda node, prio, state: Daemon(impl, topo, node, inst, version, adv, prio, state, unicast)  # noqa: E731
    settle = 3 * adv + 0.5
    b = mk("2", 100, "BACKUP")
    time.sleep(0.3)
    a = mk("1", 200, "MASTER")
    ok = wait_until(10 + 4 * adv, lambda: vips_on(topo, "1") == 1 and vips_on(topo, "2") == 0)
    if not ok:
        log(f"{impl} v{version} {adv}s {mode}: lb1 did not become the only master")
    marks = []
    for t in range(trials):
        time.sleep(settle)
        # crash: SIGKILL the master's daemon(s)
        tk = time.time()
        a.kill()
        flush_vips(topo, "1", impl)
        took = wait_until(10 * adv + 5, lambda: vips_on(topo, "2") == 1)
        time.sleep(settle)
        # preemption back: restart lb1 (priority 200)
        tp = time.time()
        a = mk("1", 200, "MASTER")
        back = wait_until(10 * adv + 10, lambda: vips_on(topo, "1") == 1 and vips_on(topo, "2") == 0)
        time.sleep(settle)
        # graceful: SIGTERM the master (priority-0 advert)
        tg = time.time()
        a.term()
        took2 = wait_until(10 * adv + 5, lambda: vips_on(topo, "2") == 1)
        flush_vips(topo, "1", impl)
        time.sleep(settle)
        a = mk("1", 200, "MASTER")
        wait_until(10 * adv + 10, lambda: vips_on(topo, "1") == 1 and vips_on(topo, "2") == 0)
        marks.append({"trial": t + 1, "crash": tk, "preempt": tp, "graceful": tg,
                      "took": took, "back": back, "took_graceful": took2})
        log(f"{impl} v{version} {adv}s {mode}: trial {t + 1}/{trials} done "
            f"(crash {'ok' if took else 'FAILED'}, preempt {'ok' if back else 'FAILED'}, "
            f"graceful {'ok' if took2 else 'FAILED'})")
    time.sleep(2 * adv)
    ev = cap.stop()
    a.kill()
    b.kill()
    mdi = 3 * adv + skew(version, adv)
    sk = skew(version, adv)
    base = {"kind": "failover", "impl": impl, "version": version, "adv": adv, "mode": mode}
    for m in marks:
        # crash
        t0 = m["crash"]
        old = [e[0] for e in ev if e[1] == "adv" and e[2] == lb1ip and e[3] > 0 and e[0] <= t0 + 0.05]
        new = [e[0] for e in ev if e[1] == "adv" and e[2] == lb2ip and e[3] > 0 and e[0] > t0]
        garp = [e[0] for e in ev if e[1] == "garp" and e[0] > t0 and e[4] != "023c0000000b"]
        if old and new:
            last = max(old)
            emit(dict(base, case="crash", trial=m["trial"], ok=m["took"],
                      takeover_ms=(new[0] - last) * 1e3,
                      advert_overhead_ms=(new[0] - last - mdi) * 1e3,
                      garp_overhead_ms=None if not garp else (garp[0] - last - mdi) * 1e3,
                      kill_after_advert_ms=(t0 - last) * 1e3, last_old=last, mdi_s=mdi))
        else:
            emit(dict(base, case="crash", trial=m["trial"], ok=False, error="no adverts"))
        # graceful
        t0 = m["graceful"]
        zero = [e[0] for e in ev if e[1] == "adv" and e[2] == lb1ip and e[3] == 0 and t0 <= e[0] < t0 + 5]
        new = [e[0] for e in ev if e[1] == "adv" and e[2] == lb2ip and e[3] > 0 and e[0] > t0]
        garp = [e[0] for e in ev if e[1] == "garp" and e[0] > t0 and e[4] != "023c0000000b"]
        if zero and new:
            emit(dict(base, case="graceful", trial=m["trial"], ok=m["took_graceful"],
                      takeover_ms=(new[0] - zero[0]) * 1e3,
                      advert_overhead_ms=(new[0] - zero[0] - sk) * 1e3,
                      garp_overhead_ms=None if not garp else (garp[0] - zero[0] - sk) * 1e3,
                      term_to_zero_ms=(zero[0] - t0) * 1e3, zero=zero[0], skew_s=sk))
        else:
            emit(dict(base, case="graceful", trial=m["trial"], ok=False,
                      error="no priority-0 advert" if not zero else "no advert from the backup"))
        # preemption back: restart of lb1 -> its first GARP; lb2's last advert
        t0 = m["preempt"]
        garp = [e[0] for e in ev if e[1] == "garp" and t0 < e[0] < m["graceful"]
                and (e[4] == "023c0000000b" or e[4].startswith("00005e"))]
        last2 = [e[0] for e in ev if e[1] == "adv" and e[2] == lb2ip and e[3] > 0 and t0 < e[0] < m["graceful"]]
        first1 = [e[0] for e in ev if e[1] == "adv" and e[2] == lb1ip and e[3] > 0 and t0 < e[0] < m["graceful"]]
        emit(dict(base, case="preempt", trial=m["trial"], ok=m["back"] and bool(garp),
                  restart_to_garp_ms=None if not garp else (garp[0] - t0) * 1e3,
                  restart_to_advert_ms=None if not first1 else (first1[0] - t0) * 1e3,
                  first_advert_to_garp_ms=None if not (garp and first1) else (garp[0] - first1[0]) * 1e3,
                  backup_last_advert_ms=None if not last2 else (max(last2) - t0) * 1e3))
    # a timeline for the plots: the first crash trial's events
    if marks:
        t0 = marks[0]["crash"]
        tl = [(round(e[0] - t0, 6), e[1], e[2], e[3], e[4]) for e in ev if t0 - 5 * adv - 1 < e[0] < t0 + 6 * adv + 2]
        emit(dict(base, kind="timeline", case="crash", events=tl, lb1=lb1ip, lb2=lb2ip, mdi_s=mdi))


# ------------------------------------------------------------------ flood
def flood_suite(impl, trials, packets, seconds):
    topo = Topo(f"x{impl[0]}")
    inst = [(0, 51)]
    if impl == "frr":
        setup_frr_macvlans(topo, inst)
    cases = [("unknown-vrid", "MASTER", 52, 50, []),
             ("lower-prio-at-master", "MASTER", 51, 50, []),
             ("higher-prio-at-backup", "BACKUP", 51, 200, ["--prime", "1", "--keepalive-rate", "10"])]
    for case, state, vrid, fprio, extra in cases:
        d = Daemon(impl, topo, "2", inst, 3, 1, 100, state)
        if state == "MASTER":
            if not wait_until(8, lambda: vips_on(topo, "2") == 1):
                log(f"{impl}: not MASTER before the flood")
            time.sleep(0.5)
        log(f"{impl} {case}: {trials} floods of {packets} adverts in {seconds} s")
        out = sh("ip", "netns", "exec", topo.ns["s"], "timeout", str(trials * (3 * seconds + 4) + 20),
                 "python3", FLOOD, "--src", Topo.ip(0, 2), "--vip", Topo.vip(0, 51),
                 "--vrid", str(vrid), "--prio", str(fprio), "--count", str(packets),
                 "--seconds", str(seconds), "--trials", str(trials), "--gap", "0.5",
                 "--pids", ",".join(map(str, d.pids)), *extra, check=False)
        held = vips_on(topo, "2") == (1 if state == "MASTER" else 0)
        for line in out.splitlines():
            r = json.loads(line)
            r.update(kind="flood", impl=impl, case=case, state_held=held)
            emit(r)
        d.kill()
        flush_vips(topo, "2", impl)
        time.sleep(0.3)


# ------------------------------------------------------------------ scale (also idle CPU, RSS)
def scale_suite(impl, n, windows, window_s):
    nif = 1 if n < 10 else 10
    topo = Topo(f"s{impl[0]}{n}", nif)
    inst = instances(nif, n)
    if impl == "frr":
        setup_frr_macvlans(topo, inst)
    t_start = time.monotonic()
    b = Daemon(impl, topo, "2", inst, 3, 1, 100, "BACKUP")
    a = Daemon(impl, topo, "1", inst, 3, 1, 200, "MASTER")
    conv = wait_until(60, lambda: vips_on(topo, "1") == n and vips_on(topo, "2") == 0, 0.2)
    conv_s = time.monotonic() - t_start
    log(f"{impl} scale {n}: {'converged' if conv else 'NOT converged'} in {conv_s:.1f} s")
    time.sleep(7)  # past keepalived's garp_master_delay (5 s) second round of announcements
    for w in range(windows):
        c = {r: cpu_ns(d.pids) for r, d in (("master", a), ("backup", b))}
        wk = {r: wakeups(d.pids) for r, d in (("master", a), ("backup", b))}
        t0 = time.monotonic()
        time.sleep(window_s)
        dt = time.monotonic() - t0
        for r, d in (("master", a), ("backup", b)):
            emit({"kind": "scale", "impl": impl, "n": n, "role": r, "trial": w + 1,
                  "cpu_ns": cpu_ns(d.pids) - c[r], "window_s": dt, "wakeups": wakeups(d.pids) - wk[r],
                  "rss_kb": mem_kb(d.pids), "pss_kb": mem_kb(d.pids, "Pss"),
                  "procs": len(d.pids), "converged": conv, "converge_s": conv_s,
                  "vips_master": vips_on(topo, "1"), "vips_backup": vips_on(topo, "2")})
    a.kill()
    b.kill()


# ------------------------------------------------------------------ starvation
def hog_cmd(seconds):
    if shutil.which("stress-ng"):
        return ["stress-ng", "--cpu", "2", "--cpu-method", "int64", "--timeout", f"{int(seconds)}s", "--quiet"]
    return ["timeout", str(int(seconds)), "python3", "-c",
            "import multiprocessing as m\ndef f():\n  while True: pass\n"
            "[m.Process(target=f).start() for _ in range(2)]"]


def starve_suite(impl, soak):
    version, adv = 3, 0.1
    topo = Topo(f"h{impl[0]}")
    inst = [(0, 51)]
    if impl == "frr":
        setup_frr_macvlans(topo, inst)
    cap = Capture(topo, "p20", f"starve-{impl}")
    b = Daemon(impl, topo, "2", inst, version, adv, 100, "BACKUP")
    a = Daemon(impl, topo, "1", inst, version, adv, 200, "MASTER")
    wait_until(10, lambda: vips_on(topo, "1") == 1 and vips_on(topo, "2") == 0)
    time.sleep(1)
    log(f"{impl}: {soak} s soak at VRRPv3 0.1 s with a 2-worker CPU hog in each LB namespace")
    t0 = time.time()
    hogs = [spawn(["ip", "netns", "exec", topo.ns[n], *hog_cmd(soak)], os.path.join(WORK, f"hog-{impl}-{n}.log"))
            for n in ("1", "2")]
    end = time.monotonic() + soak + 10
    for h in hogs:
        try:
            h.wait(timeout=max(1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(h)
    t1 = time.time()
    for h in hogs:
        kill_group(h)
    time.sleep(0.5)
    ev = cap.stop()
    a.kill()
    b.kill()
    lb1ip, lb2ip = Topo.ip(0, 11), Topo.ip(0, 12)
    m = sorted(e[0] for e in ev if e[1] == "adv" and e[2] == lb1ip and t0 <= e[0] <= t1)
    s = sorted(e[0] for e in ev if e[1] == "adv" and e[2] == lb2ip and e[3] > 0 and t0 <= e[0] <= t1 + 0.5)
    bursts = sum(1 for i, x in enumerate(s) if i == 0 or x - s[i - 1] > 3 * adv + 0.1)
    gaps = [y - x for x, y in zip(m, m[1:])]
    emit({"kind": "starve", "impl": impl, "soak_s": t1 - t0, "false_failovers": bursts,
          "backup_adverts": len(s), "master_adverts": len(m),
          "max_gap_ms": (max(gaps) * 1e3) if gaps else None,
          "gaps_over_mdi": sum(1 for g in gaps if g > 3 * adv + skew(version, adv)),
          "hog": " ".join(hog_cmd(soak))})


# ------------------------------------------------------------------ main
def run_parallel(fns):
    errs = []

    def wrap(f):
        try:
            f()
        except Exception as e:  # report and go on: a failed implementation is a finding
            errs.append(e)
            log(f"ERROR: {e!r}")

    ths = [threading.Thread(target=wrap, args=(f,)) for f in fns]
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout=3600)
    return errs


def guarded(name, f):
    try:
        f()
    except Exception as e:
        log(f"ERROR in {name}: {e!r}")
        emit({"kind": "error", "where": name, "error": repr(e)})


def main():
    global OUT, VIGILD, KEEPALIVED
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--vigild", required=True)
    ap.add_argument("--keepalived", default="keepalived")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--only", default="flood,failover,scale,starve")
    ap.add_argument("--impls", default="vigild,keepalived,frr")
    ap.add_argument("--scale", default="1,100,1000")
    ap.add_argument("--flood-packets", type=int, default=20000)
    ap.add_argument("--flood-seconds", type=float, default=2.0)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--soak", type=float, default=60.0)
    a = ap.parse_args()
    assert 1 <= a.trials <= 50 and 1 <= a.soak <= 600
    VIGILD, KEEPALIVED = a.vigild, shutil.which(a.keepalived) or a.keepalived
    impls = a.impls.split(",")
    only = a.only.split(",")
    atexit.register(cleanup)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: sys.exit(130))
    OUT = open(a.out, "a")
    emit({"kind": "meta", "started": time.time(), "trials": a.trials, "args": vars(a)})
    if "flood" in only:
        for impl in impls:
            guarded(f"flood {impl}", lambda: flood_suite(impl, a.trials, a.flood_packets, a.flood_seconds))
    if "failover" in only:
        # the three implementations run at once, each on its own namespaces
        for version, adv in [((3, 0.1), (2, 1))[i] for i in ((0,) if os.environ.get("FAILOVER_V3_ONLY") else (0, 1))]:
            for unicast in (False, True):
                run_parallel([(lambda i=i: failover_suite(i, version, adv, unicast, a.trials))
                              for i in impls if not (unicast and i == "frr")])
    if "scale" in only:
        for n in [int(x) for x in a.scale.split(",")]:
            for impl in impls:
                guarded(f"scale {impl} {n}", lambda: scale_suite(impl, n, a.trials, a.window))
    if "starve" in only:
        for impl in impls:
            guarded(f"starve {impl}", lambda: starve_suite(impl, a.soak))
    emit({"kind": "meta", "finished": time.time()})


if __name__ == "__main__":
    main()
