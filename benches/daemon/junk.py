#!/usr/bin/env python3
"""Junk floods at a BACKUP: bounded floods of adverts the backup must drop, sent as fast
as one sender can and at fixed rates, while a priority-200 master (this script, from
--src) keeps advertising once per advert interval. Measures the CPU the daemon under
test spends per junk packet and whether it stayed BACKUP.

Runs inside the sender's network namespace (ip netns exec NS junk.py ...). Kinds:
  unknown_vrid   valid VRRPv3 adverts for a VRID nobody configured (--junk-vrid)
  bad_checksum   adverts for the configured VRID whose VRRP checksum is wrong
  ttl            adverts for the configured VRID with IP TTL 64 instead of 255
Junk comes from --junk-src (not the master's address). Frames are built once and sent
on an AF_PACKET socket with sendmmsg(2) (ctypes), --batch frames a call, so that the
per-packet cost is the kernel's, not Python's. Rate 0 means as fast as the sender can.

For each trial, one JSON line:
  junk, rate_target, trial   the kind, frames per second asked (0: as fast as possible)
  sent, send_s, rate  junk frames sendmmsg accepted, how long, frames per second
  arrived             frames lb2's eth0 received in the window (ip -s link, --dut-netns;
                      the master's adverts included), as a check on the rate
  cpu_ns, tail_cpu_ns CPU of the daemon (every thread of --pids, schedstat) from the
                      first frame to --drain s after the last, and after that until it
                      is quiet (under 2 % of a CPU over 100 ms, --tail-max at most)
  wakeups             voluntary context switches of the daemon's threads (window + tail)
  sock_drops          the drops column of /proc/PID/net/raw (IPPROTO_VRRP sockets):
                      socket buffer full. Socket-filter drops are not counted there.
  sender_cpu_ns       this process's CPU over the flood: the syscalls, and the kernel's
                      softirq work done in them (bridge, lb2's IP input, raw delivery,
                      a socket filter) — the kernel's per-packet cost at lb2 is here
  master_sent         the master's adverts sent in the window
  rx_vrrp, rx_arp     adverts and ARP lb2 sent (a backup sends none: > 0 = failover)
  log_master          new "Entering MASTER STATE" lines in --log (window + tail)
  status_before/after the daemon's --status-cmd JSON (vigild status --json), if given
  vip_on_dut          whether lb2 held the VIP after the trial

Every loop is bounded in count and time.
"""
import argparse
import ctypes
import json
import os
import shlex
import socket
import subprocess
import sys
import time


sys.dont_write_bytecode = True  # no root-owned __pycache__ in the tree for flood's import
from flood import Counter, advert_frame, cpu_ns, raw_drops, wakeups  # noqa: E402

SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23  # Linux 4.20: the counter must not see our own flood
KINDS = ("unknown_vrid", "bad_checksum", "ttl")


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.POINTER(Iovec)),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", Msghdr), ("len", ctypes.c_uint)]


class Batch:
    """sendmmsg of up to `size` copies of one frame on a bound AF_PACKET socket."""

    def __init__(self, sock, frame, size):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = sock.fileno()
        self.buf = ctypes.create_string_buffer(frame, len(frame))
        self.iov = Iovec(ctypes.cast(self.buf, ctypes.c_void_p), len(frame))
        self.msgs = (Mmsghdr * size)()
        for m in self.msgs:
            m.hdr.iov = ctypes.pointer(self.iov)
            m.hdr.iovlen = 1
        self.size = size

    def send(self, n):
        """Frames accepted (0 when the device pushed back: ENOBUFS, EAGAIN)."""
        r = self.libc.sendmmsg(self.fd, self.msgs, min(n, self.size), 0)
        if r < 0:
            err = ctypes.get_errno()
            if err in (105, 11, 4):  # ENOBUFS, EAGAIN, EINTR
                return 0
            raise OSError(err, os.strerror(err))
        return r


def junk_frame(kind, src_mac, src, vip, vrid, junk_vrid, prio, adv_cs):
    if kind == "unknown_vrid":
        return advert_frame(src_mac, src, vip, junk_vrid, prio, adv_cs)
    f = bytearray(advert_frame(src_mac, src, vip, vrid, prio, adv_cs))
    if kind == "bad_checksum":
        f[14 + 20 + 7] ^= 0x5A  # the VRRP checksum's low byte
    elif kind == "ttl":
        f[14 + 8] = 64
        f[14 + 10:14 + 12] = b"\0\0"
        s = sum(int.from_bytes(f[i:i + 2], "big") for i in range(14, 34, 2))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        f[14 + 10:14 + 12] = (~s & 0xFFFF).to_bytes(2, "big")
    else:
        raise ValueError(kind)
    return bytes(f)


def self_cpu_ns():
    with open("/proc/self/schedstat") as fh:
        return int(fh.read().split()[0])


def link_rx(netns):
    """(rx packets, rx dropped) of eth0 in netns, or (None, None)."""
    if not netns:
        return None, None
    try:
        out = subprocess.run(["ip", "-n", netns, "-j", "-s", "link", "show", "dev", "eth0"],
                             capture_output=True, text=True, timeout=5, check=True).stdout
        rx = json.loads(out)[0]["stats64"]["rx"]
        return rx["packets"], rx["dropped"]
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None, None


def has_vip(netns, vip):
    if not netns:
        return None
    try:
        out = subprocess.run(["ip", "-n", netns, "-4", "-o", "addr", "show", "dev", "eth0"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return f" {vip}/" in out


def status(cmd):
    if not cmd:
        return None
    try:
        out = subprocess.run(shlex.split(cmd), capture_output=True, text=True, timeout=5).stdout
        return json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


class LogWatch:
    """Counts new lines containing `pattern` in a growing log file."""

    def __init__(self, path, pattern):
        self.path, self.pattern = path, pattern.encode()
        self.pos = os.path.getsize(path) if path and os.path.exists(path) else 0

    def new(self):
        if not self.path:
            return None
        n = 0
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.pos)
                for _ in range(10_000):  # bounded: 10,000 chunks of 1 MiB
                    chunk = fh.read(1 << 20)
                    if not chunk:
                        break
                    cut = chunk.rfind(b"\n") + 1  # whole lines only
                    if cut == 0:
                        break
                    n += chunk[:cut].count(self.pattern)
                    self.pos += cut
                    fh.seek(self.pos)
        except OSError:
            return None
        return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--src", required=True, help="the master's address")
    ap.add_argument("--junk-src", required=True, help="where the junk claims to come from")
    ap.add_argument("--vip", required=True)
    ap.add_argument("--vrid", type=int, default=51)
    ap.add_argument("--junk-vrid", type=int, default=52, help="a VRID nobody configured")
    ap.add_argument("--prio", type=int, default=200, help="the master's (and the junk's)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--rates", default="0,50000", help="frames per second; 0: as fast as possible")
    ap.add_argument("--seconds", type=float, default=4.0, help="per flood")
    ap.add_argument("--max-packets", type=int, default=3_000_000, help="per flood")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--gap", type=float, default=0.5)
    ap.add_argument("--prime", type=float, default=1.5, help="seconds of master before trial 1")
    ap.add_argument("--master-interval", type=float, default=1.0, help="the master's adverts, s")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--drain", type=float, default=0.3)
    ap.add_argument("--tail-max", type=float, default=5.0)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--dut-netns", default="", help="lb2's namespace (link counters, VIP)")
    ap.add_argument("--status-cmd", default="", help="prints the daemon's status as JSON")
    ap.add_argument("--log", default="", help="the daemon's log")
    ap.add_argument("--master-pattern", default="Entering MASTER STATE")
    args = ap.parse_args()
    kinds = [k for k in args.kinds.split(",") if k]
    rates = [float(r) for r in args.rates.split(",") if r]
    assert all(k in KINDS for k in kinds), kinds
    assert 0 < args.seconds <= 30 and 0 < args.trials <= 20 and 0 < args.max_packets <= 50_000_000
    assert 0 < args.batch <= 1024 and all(0 <= r <= 5_000_000 for r in rates)

    pids = [int(p) for p in args.pids.split(",") if p]
    with open(f"/sys/class/net/{args.iface}/address") as fh:
        own_mac = bytes.fromhex(fh.read().strip().replace(":", ""))
    master = advert_frame(own_mac, args.src, args.vip, args.vrid, args.prio, 100)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((args.iface, 0))
    rx = Counter(args.iface, own_mac)
    rx.s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    log = LogWatch(args.log, args.master_pattern)

    next_master = time.monotonic()
    master_sent = 0

    def tick():
        """The master's advert when due, and the counter drained."""
        nonlocal next_master, master_sent
        now = time.monotonic()
        if now >= next_master:
            tx.send(master)
            master_sent += 1
            next_master = max(next_master + args.master_interval, now)
        rx.drain()

    def idle(seconds):
        end = time.monotonic() + seconds
        for _ in range(int(seconds / 0.005) + 2):
            if time.monotonic() >= end:
                break
            tick()
            time.sleep(min(0.005, max(0.0, end - time.monotonic())))

    idle(args.prime)
    for kind in kinds:
        frame = junk_frame(kind, own_mac, args.junk_src, args.vip, args.vrid, args.junk_vrid,
                           args.prio, 100)
        batch = Batch(tx, frame, args.batch)
        for rate in rates:
            for trial in range(args.trials):
                idle(args.gap)
                st0 = status(args.status_cmd)
                log.new()
                a0, ad0 = link_rx(args.dut_netns)
                tick()
                rx.reset()
                rx.lost()
                m0 = master_sent
                d0, w0, c0, s0 = raw_drops(pids[0]), wakeups(pids), cpu_ns(pids), self_cpu_ns()
                t0 = time.monotonic()
                deadline = t0 + args.seconds
                sent = 0
                if rate > 0:  # paced: one batch per `step`, `per` frames each
                    per = max(1, min(args.batch, round(rate / 1000)))
                    step = per / rate
                    for b in range(int(args.seconds / step) + 1):
                        target = t0 + b * step
                        if target >= deadline or sent >= args.max_packets:
                            break
                        delay = target - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        if time.monotonic() > t0 + 3 * args.seconds + 1:
                            break  # bounded even if the machine stalls
                        sent += batch.send(min(per, args.max_packets - sent))
                        tick()
                else:  # as fast as the sender can
                    for _ in range(args.max_packets + 1):
                        if sent >= args.max_packets or time.monotonic() >= deadline:
                            break
                        sent += batch.send(args.max_packets - sent)
                        tick()
                t1 = time.monotonic()
                s1 = self_cpu_ns()
                idle(args.drain)
                c1 = cpu_ns(pids)
                a1, ad1 = link_rx(args.dut_netns)
                # The tail: a daemon still working off the flood; count it too.
                tail_end = time.monotonic() + args.tail_max
                prev = c2 = c1
                while time.monotonic() < tail_end:
                    idle(0.1)
                    c2 = cpu_ns(pids)
                    if c2 - prev < 2_000_000:
                        break
                    prev = c2
                w1, d1 = wakeups(pids), raw_drops(pids[0])
                tail_s = time.monotonic() - t1 - args.drain
                st1 = status(args.status_cmd)
                send_s = t1 - t0
                print(json.dumps({
                    "junk": kind,
                    "rate_target": int(rate),
                    "trial": trial + 1,
                    "sent": sent,
                    "send_s": round(send_s, 4),
                    "rate": round(sent / send_s) if send_s > 0 else None,
                    "arrived": None if a0 is None or a1 is None else a1 - a0,
                    "arrived_dropped": None if ad0 is None or ad1 is None else ad1 - ad0,
                    "cpu_ns": c1 - c0,
                    "tail_cpu_ns": c2 - c1,
                    "tail_s": round(tail_s, 3),
                    "wakeups": w1 - w0,
                    "sock_drops": None if d0 is None or d1 is None else d1 - d0,
                    "sender_cpu_ns": s1 - s0,
                    "master_sent": master_sent - m0,
                    "rx_vrrp": rx.vrrp,
                    "rx_arp": rx.arp,
                    "rx_lost": rx.lost(),
                    "log_master": log.new(),
                    "vip_on_dut": has_vip(args.dut_netns, args.vip),
                    "status_before": st0,
                    "status_after": st1,
                }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
