#!/usr/bin/env python3
"""How fast a daemon resigns on SIGTERM: vigild, keepalived, or both, in one run.

  sudo benches/daemon/sigterm.py [--impl vigild|keepalived|both] [--trials 10] [--load N]
                                 [--instances 2] [--vigild PATH] [--baseline PATH]
                                 [--keep DIR]

Per trial, two fresh network namespaces joined by a veth pair: "lb" (10.91.0.11) runs
the daemon, MASTER of INSTANCES VRRPv3 instances (VRID 51.., priority 200, advert_int
1 s, one VIP each: 10.91.0.50..), and "peer" (10.91.0.12) runs tcpdump on its end
(nanosecond timestamps). A netlink listener in "lb" stamps each VIP's removal. Once the
VIPs are up and the daemon has been master for 1.5 s, the script sends SIGTERM and
stamps the moment (CLOCK_REALTIME, like the capture and the listener), then measures,
in ms after the signal:

  first_p0   the first priority-0 advert on the wire (arrival at the peer)
  last_p0    the priority-0 advert of the last instance
  vips_gone  the last VIP's RTM_DELADDR
  exit       the daemon's exit (waitpid in this script; keepalived: its parent)

and the exit status. Prints one JSON line per trial and a table (median, min, max).
`--load N` keeps N busy loops running beside the daemon from before the signal to its
exit (a host under load: the signal's path through the daemon's threads then waits for
the scheduler).
`--baseline PATH` adds another vigild binary (say, the previous commit's) as a third
implementation, interleaved with the others trial by trial, so that the two are compared
under the same conditions. Nothing leaves the namespaces, which carry this script's PID and are deleted at the end
with every process it started; every wait is bounded.
"""
import argparse
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

NET = "10.91.0"
LB, PEER = f"{NET}.11", f"{NET}.12"
RTMGRP_IPV4_IFADDR = 0x10
RTM_DELADDR = 21
IFA_LOCAL = 2


def vip(i):
    return f"{NET}.{50 + i}"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def monitor():
    """Runs inside "lb": prints `time_ns address` for every IPv4 address removed."""
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.bind((0, RTMGRP_IPV4_IFADDR))
    print("ready", flush=True)
    while True:
        data = s.recv(65536)
        t = time.time_ns()
        off = 0
        while off + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, off)
            if length < 16:
                break
            if kind == RTM_DELADDR:
                a = off + 16 + 8  # nlmsghdr, ifaddrmsg
                while a + 4 <= off + length:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype == IFA_LOCAL and alen == 8:
                        print(t, socket.inet_ntoa(data[a + 4:a + 8]), flush=True)
                    a += (alen + 3) & ~3
            off += (length + 3) & ~3


def frames(path):
    """(timestamp, frame) of a pcap file with nanosecond timestamps."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, off)
        off += 16
        yield sec * 1_000_000_000 + round(frac * scale * 1e9), data[off:off + incl]
        off += incl


def p0_adverts(path):
    """Arrival times (ns) of priority-0 VRRP adverts, with their VRID."""
    out = []
    for t, f in frames(path):
        if len(f) < 34 or f[12:14] != b"\x08\x00" or f[23] != 112:
            continue
        ihl = (f[14] & 0x0F) * 4
        vrrp = f[14 + ihl:]
        if len(vrrp) >= 3 and vrrp[2] == 0:
            out.append((t, vrrp[1]))
    return out


def config(name, instances, scripts):
    text = f"global_defs {{\n    router_id {name}\n    script_user root\n}}\n"
    track = ""
    if scripts:
        # A load balancer's usual extras: a health check, and a notify script on stop.
        text += 'vrrp_script chk {\n    script "/bin/true"\n    interval 1\n}\n'
        track = '    track_script {\n        chk\n    }\n    notify_stop "/bin/true"\n'
    for i in range(instances):
        text += f"""vrrp_instance VI_{i + 1} {{
    state MASTER
    interface eth0
    virtual_router_id {51 + i}
    priority 200
    version 3
    advert_int 1
    virtual_ipaddress {{
        {vip(i)}/24
    }}
{track}}}
"""
    return text


class Trial:
    def __init__(self, args, impl, n, work):
        self.args, self.impl, self.work = args, impl, work
        self.lb = f"vst{os.getpid()}-{n}-lb"
        self.peer = f"vst{os.getpid()}-{n}-peer"
        self.procs = []
        self.netns = []

    def run(self):
        try:
            return self._run()
        finally:
            for p in self.procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=5)
            for ns in self.netns:
                sh("ip", "netns", "del", ns, check=False)

    def topology(self):
        for ns in (self.lb, self.peer):
            sh("ip", "netns", "add", ns)
            self.netns.append(ns)
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.lb, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
           "netns", self.peer)
        for ns, addr in ((self.lb, LB), (self.peer, PEER)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def has_vips(self):
        out = sh("ip", "-n", self.lb, "-4", "-o", "addr", "show", "dev", "eth0").stdout
        return all(f" {vip(i)}/" in out for i in range(self.args.instances))

    def _run(self):
        a, w = self.args, self.work
        self.topology()
        name = f"{self.impl}-{self.lb}"
        conf = os.path.join(w, f"{name}.conf")
        with open(conf, "w") as fh:
            fh.write(config(name, a.instances, a.scripts))
        log = open(os.path.join(w, f"{name}.log"), "w")
        mon = self.start(["ip", "netns", "exec", self.lb, sys.executable, __file__, "--monitor"],
                         stdout=subprocess.PIPE, text=True)
        if mon.stdout.readline().strip() != "ready":
            raise SystemExit("sigterm: the address monitor did not start")
        removed = []
        threading.Thread(target=lambda: removed.extend(l.split() for l in mon.stdout),
                         daemon=True).start()
        pcap = os.path.join(w, f"{name}.pcap")
        dump = self.start(["ip", "netns", "exec", self.peer, "tcpdump", "-i", "eth0", "-n", "-U",
                           "--time-stamp-precision=nano", "-w", pcap, "ip proto 112"],
                          stderr=subprocess.PIPE, text=True)
        if "listening on" not in dump.stderr.readline():
            raise SystemExit("sigterm: tcpdump did not start")
        if self.impl in ("vigild", "baseline"):
            binary = a.vigild if self.impl == "vigild" else a.baseline
            argv = [binary, "-f", conf, "--control", os.path.join(w, f"{name}.sock")]
        else:
            argv = [a.keepalived, "-n", "-l", "-D", "-G", "-P", "-f", conf,
                    "-p", os.path.join(w, f"{name}.pid"), "-r", os.path.join(w, f"{name}.vrrp.pid")]
        # `ip netns exec` execs the daemon: the child's pid is the daemon's.
        daemon = self.start(["ip", "netns", "exec", self.lb] + argv, stdout=log, stderr=log)
        for _ in range(400):
            if self.has_vips():
                break
            time.sleep(0.05)
        else:
            log.flush()
            with open(log.name) as fh:
                sys.stderr.write(fh.read()[-2000:])
            raise SystemExit(f"sigterm: {self.impl} did not install its VIPs within 20 s")
        time.sleep(1.5)
        hogs = [self.start([sys.executable, "-c", "while True: pass"]) for _ in range(a.load)]
        time.sleep(0.2 if hogs else 0)
        exited = []
        waiter = threading.Thread(target=lambda: exited.append((daemon.wait(), time.time_ns())))
        waiter.start()
        t_kill = time.time_ns()
        os.kill(daemon.pid, signal.SIGTERM)
        waiter.join(timeout=10)
        if not exited:
            daemon.kill()
            waiter.join()
            raise SystemExit(f"sigterm: {self.impl} did not exit within 10 s")
        for h in hogs:
            h.kill()
            h.wait(timeout=5)
        time.sleep(1.0)  # tcpdump writes what it has read (-U); give it time under load
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=5)
        mon.kill()
        mon.wait(timeout=5)
        status, t_exit = exited[0]
        p0 = [t for t, _ in p0_adverts(pcap) if t >= t_kill]
        vrids = {v for t, v in p0_adverts(pcap) if t >= t_kill}
        vips = {vip(i) for i in range(a.instances)}
        gone = [int(t) for t, addr in removed if addr in vips and int(t) >= t_kill]
        ms = lambda t: round((t - t_kill) / 1e6, 3)  # noqa: E731
        return {
            "impl": self.impl,
            "first_p0": ms(min(p0)) if p0 else None,
            "last_p0": ms(max(p0)) if len(vrids) == a.instances else None,
            "vips_gone": ms(max(gone)) if len(gone) >= a.instances else None,
            "exit": ms(t_exit),
            "status": status,
        }


def table(rows):
    keys = ["first_p0", "last_p0", "vips_gone", "exit"]
    lines = ["| impl | " + " | ".join(f"{k} ms (median, min-max)" for k in keys) + " | exit status |",
             "|---|" + "---|" * (len(keys) + 1)]
    for impl in sorted({r["impl"] for r in rows}):
        rs = [r for r in rows if r["impl"] == impl]
        cells = []
        for k in keys:
            v = [r[k] for r in rs if r[k] is not None]
            missing = len(rs) - len(v)
            cell = f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "-"
            cells.append(cell + (f" [{missing} missing]" if missing else ""))
        codes = sorted({r["status"] for r in rs})
        lines.append(f"| {impl} | " + " | ".join(cells) + f" | {codes} |")
    return "\n".join(lines)


def main():
    if "--monitor" in sys.argv:
        return monitor()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", choices=["vigild", "keepalived", "both"], default="both")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--scripts", action="store_true",
                    help="each instance tracks a vrrp_script (/bin/true, every 1 s) and has a "
                    "notify_stop (/bin/true)")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--vigild", default=os.path.join(root, "target/release/vigild"))
    ap.add_argument("--keepalived", default="keepalived")
    ap.add_argument("--baseline", help="another vigild binary, measured as `baseline`")
    ap.add_argument("--load", type=int, default=0, help="busy loops beside the daemon")
    ap.add_argument("--keep", help="copy configs, logs and captures into this directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("sigterm: needs root for network namespaces")
    if not 1 <= a.instances <= 50 or not 1 <= a.trials <= 100 or not 0 <= a.load <= 8:
        raise SystemExit("sigterm: --instances 1..50, --trials 1..100, --load 0..8")
    impls = ["vigild", "keepalived"] if a.impl == "both" else [a.impl]
    if a.baseline:
        impls.append("baseline")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vigil-sigterm-") as work:
        for n in range(a.trials):
            for impl in impls[n % len(impls):] + impls[:n % len(impls)]:
                r = Trial(a, impl, len(rows), work).run()
                print(json.dumps(r), flush=True)
                rows.append(r)
        if a.keep:
            subprocess.run(["cp", "-r", work + "/.", a.keep], check=False)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
