#!/usr/bin/env python3
"""Bounded, paced flood of valid VRRPv3 adverts on one interface, with the CPU the
daemon under test spends on it and the packets it sends back.

Runs inside the sender's network namespace (ip netns exec NS flood.py ...). The frames
are built once (Ethernet to 01:00:5e:00:00:12, IPv4 TTL 255 to 224.0.0.18, VRRPv3 with
the RFC 5798 checksum over the pseudo-header) and sent on an AF_PACKET socket. A second
AF_PACKET socket on the same interface counts what comes back (VRRP adverts and ARP
from any other MAC), drained between batches.

For each trial it prints one JSON line:
  sent, send_s        packets sent and how long the paced send took
  cpu_ns              CPU time of the daemon's processes (every thread of every pid in
                      --pids, from /proc/PID/task/TID/schedstat, nanoseconds) from just
                      before the first packet to --drain seconds after the last
  wakeups             voluntary context switches of those threads (times they slept)
  sock_drops          packets the kernel dropped on the daemon's raw IPPROTO_VRRP
                      sockets (the drops column of /proc/PID/net/raw) in that window
  rx_vrrp, rx_arp     adverts and ARP frames the daemon sent in that window
  rx_other, rx_lost   other frames; frames our capture socket lost (PACKET_STATISTICS)
  tail_s, tail_cpu_ns how long after the window the daemon still worked (until it used
                      under 2% of a CPU over 100 ms, --tail-max at most) and the CPU of it
  tail_vrrp, tail_arp what it sent in that tail
  rx_times_ms         [ms after the first packet, "v" advert or "a" ARP] of the first 100
  rx_vrrp_max_per_s   most adverts sent within any 0.99 s (of the first 2000 adverts)

After the trials (and --settle seconds more), one line with "summary": true totals the
whole run from the first trial on, gaps included: adverts sent (keepalives too), CPU,
drops, and adverts and ARP the daemon sent (delayed replies included).

Every loop is bounded in count and time.
"""
import argparse
import glob
import json
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def advert_frame(src_mac: bytes, src: str, vip: str, vrid: int, prio: int, adv_cs: int) -> bytes:
    dst = "224.0.0.18"
    s, d, v = socket.inet_aton(src), socket.inet_aton(dst), socket.inet_aton(vip)
    vrrp = struct.pack("!BBBBHH", 0x31, vrid, prio, 1, adv_cs & 0x0FFF, 0) + v
    pseudo = s + d + struct.pack("!BBH", 0, 112, len(vrrp))
    vrrp = vrrp[:6] + struct.pack("!H", csum(pseudo + vrrp)) + vrrp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(vrrp), 0, 0, 255, 112, 0, s, d)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    eth = bytes.fromhex("01005e000012") + src_mac + b"\x08\x00"
    return eth + ip + vrrp


def cpu_ns(pids):
    total = 0
    for pid in pids:
        for f in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(f) as fh:
                    total += int(fh.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass  # a thread that just exited
    return total


def wakeups(pids):
    """Voluntary context switches (sleeps, hence wake-ups) of every thread of pids."""
    total = 0
    for pid in pids:
        for f in glob.glob(f"/proc/{pid}/task/*/status"):
            try:
                with open(f) as fh:
                    for line in fh:
                        if line.startswith("voluntary_ctxt_switches:"):
                            total += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return total


def max_in_window(ts, width):
    """Most timestamps within any half-open window [t, t + width)."""
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= width:
            j += 1
        best = max(best, i - j + 1)
    return best


def raw_drops(pid):
    """Drops summed over the IPPROTO_VRRP (112 = 0x70) raw sockets of pid's netns."""
    total = 0
    try:
        with open(f"/proc/{pid}/net/raw") as fh:
            next(fh)
            for line in fh:
                f = line.split()
                if len(f) >= 13 and f[1].endswith(":0070"):
                    total += int(f[12])
    except OSError:
        return None
    return total


class Counter:
    def __init__(self, iface, own_mac):
        self.s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self.s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        except OSError:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind((iface, ETH_P_ALL))
        self.s.setblocking(False)
        self.own = own_mac
        self.total_vrrp = self.total_arp = 0  # since the first trial, gaps included
        self.reset()

    def reset(self, t0=None):
        self.vrrp = self.arp = self.other = 0
        self.prios = {}
        self.t0 = t0
        self.times = []  # (ms after t0, "v" or "a") of the first 100 frames counted
        self.vrrp_ms = []  # ms after t0 of the first 2000 adverts

    def lost(self):
        # tp_packets, tp_drops; reading resets them.
        _, drops = struct.unpack("II", self.s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        return drops

    def note(self, kind):
        if self.t0 is not None and len(self.times) < 100:
            self.times.append((round((time.monotonic() - self.t0) * 1e3, 1), kind))

    def drain(self, limit=10000):
        for _ in range(limit):
            try:
                data, addr = self.s.recvfrom(2048)
            except BlockingIOError:
                return
            if addr[2] == PACKET_OUTGOING or data[6:12] == self.own:
                continue
            et = data[12:14]
            if et == b"\x08\x06":
                self.arp += 1
                self.total_arp += 1
                self.note("a")
            elif et == b"\x08\x00" and len(data) > 36 and data[23] == 112:
                self.vrrp += 1
                self.total_vrrp += 1
                p = data[34 + 2]
                self.prios[p] = self.prios.get(p, 0) + 1
                self.note("v")
                if self.t0 is not None and len(self.vrrp_ms) < 2000:
                    self.vrrp_ms.append((time.monotonic() - self.t0) * 1e3)
            else:
                self.other += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", default="eth0")
    ap.add_argument("--src", required=True)
    ap.add_argument("--vip", required=True)
    ap.add_argument("--vrid", type=int, default=51)
    ap.add_argument("--prio", type=int, required=True)
    ap.add_argument("--advert-cs", type=int, default=100, help="max advert interval, centiseconds")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between trials")
    ap.add_argument("--prime", type=float, default=0.0, help="seconds of keepalive before trial 1")
    ap.add_argument("--keepalive-rate", type=float, default=0.0,
                    help="adverts per second outside the flood windows (0: none)")
    ap.add_argument("--batch", type=int, default=10, help="adverts sent back to back")
    ap.add_argument("--drain", type=float, default=0.3)
    ap.add_argument("--tail-max", type=float, default=8.0)
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds to keep counting after the last trial (delayed replies)")
    ap.add_argument("--pids", required=True, help="comma-separated pids of the daemon")
    args = ap.parse_args()
    assert 0 < args.count <= 1_000_000 and 0 < args.seconds <= 30 and 0 < args.trials <= 50

    pids = [int(p) for p in args.pids.split(",") if p]
    with open(f"/sys/class/net/{args.iface}/address") as fh:
        own_mac = bytes.fromhex(fh.read().strip().replace(":", ""))
    frame = advert_frame(own_mac, args.src, args.vip, args.vrid, args.prio, args.advert_cs)
    tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    tx.bind((args.iface, 0))
    rx = Counter(args.iface, own_mac)

    extra_sent = 0  # keepalive adverts sent since the first trial

    def keepalive(seconds):
        """Adverts at --keepalive-rate for `seconds` (or none), counting what comes back."""
        nonlocal extra_sent
        end = time.monotonic() + seconds
        if args.keepalive_rate <= 0:
            for _ in range(int(seconds / 0.005) + 1):
                if time.monotonic() >= end:
                    break
                rx.drain()
                time.sleep(0.005)
            return
        step = 1.0 / args.keepalive_rate
        for _ in range(int(seconds * args.keepalive_rate) + 1):
            now = time.monotonic()
            if now >= end:
                break
            tx.send(frame)
            extra_sent += 1
            rx.drain()
            time.sleep(min(step, max(0.0, end - time.monotonic())))

    keepalive(args.prime)
    extra_sent = 0
    total_sent = 0
    rx.drain()
    rx.total_vrrp = rx.total_arp = 0
    start_cpu, start_drops, start_t = cpu_ns(pids), raw_drops(pids[0]), time.monotonic()
    batch = args.batch
    nbatches = (args.count + batch - 1) // batch
    interval = args.seconds / nbatches
    for trial in range(args.trials):
        if trial:
            keepalive(args.gap)
        rx.drain()
        rx.lost()
        d0 = raw_drops(pids[0])
        w0 = wakeups(pids)
        c0 = cpu_ns(pids)
        t0 = time.monotonic()
        rx.reset(t0)
        sent = 0
        for b in range(nbatches):
            target = t0 + b * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if time.monotonic() - t0 > 3 * args.seconds + 1:
                break  # bounded in time even if the machine stalls
            for _ in range(min(batch, args.count - sent)):
                try:
                    tx.send(frame)
                    sent += 1
                except BlockingIOError:
                    pass
            rx.drain()
        t1 = time.monotonic()
        end = t1 + args.drain
        while time.monotonic() < end:
            rx.drain()
            time.sleep(0.005)
        c1 = cpu_ns(pids)
        w1 = wakeups(pids)
        d1 = raw_drops(pids[0])
        window_s = time.monotonic() - t0
        v1, a1 = rx.vrrp, rx.arp
        # The tail: a daemon may still be working off the flood (queued replies) after the
        # window. Wait until it spends under 2% of a CPU over 100 ms (at most --tail-max
        # seconds), so that the next trial starts from quiet, and count that work too.
        tail_end = time.monotonic() + args.tail_max
        prev, c2 = c1, c1
        while time.monotonic() < tail_end:
            stop = time.monotonic() + 0.1
            while time.monotonic() < stop:
                rx.drain()
                time.sleep(0.005)
            c2 = cpu_ns(pids)
            if c2 - prev < 2_000_000:
                break
            prev = c2
        tail_s = time.monotonic() - t0 - window_s
        total_sent += sent
        print(json.dumps({
            "trial": trial + 1,
            "sent": sent,
            "send_s": round(t1 - t0, 4),
            "window_s": round(window_s, 4),
            "cpu_ns": c1 - c0,
            "tail_s": round(tail_s, 3),
            "tail_cpu_ns": c2 - c1,
            "tail_vrrp": rx.vrrp - v1,
            "tail_arp": rx.arp - a1,
            "wakeups": w1 - w0,
            "sock_drops": None if d0 is None or d1 is None else d1 - d0,
            "rx_vrrp": v1,
            "rx_arp": a1,
            "rx_other": rx.other,
            "rx_prios": {str(k): v for k, v in sorted(rx.prios.items())},
            "rx_lost": rx.lost(),
            "rx_times_ms": rx.times,
            # 990 ms: one advert interval less 10 ms for the jitter of our timestamps
            # (taken when this loop drains the socket, not on the wire).
            "rx_vrrp_max_per_s": max_in_window(rx.vrrp_ms, 990.0),
        }), flush=True)
    keepalive(args.settle)
    end_drops = raw_drops(pids[0])
    print(json.dumps({
        "summary": True,
        "sent": total_sent + extra_sent,
        "span_s": round(time.monotonic() - start_t, 3),
        "cpu_ns": cpu_ns(pids) - start_cpu,
        "sock_drops": None if start_drops is None or end_drops is None else end_drops - start_drops,
        "rx_vrrp": rx.total_vrrp,
        "rx_arp": rx.total_arp,
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
