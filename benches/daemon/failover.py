#!/usr/bin/env python3
"""Failover overhead from one capture on the bridge (pcap, Ethernet, micro- or
nanosecond timestamps).

  failover.py PCAP --old IP --new IP --new-mac MAC --vip IP --mdi SECONDS [--kill-ns NS] [--vip-log FILE]

deadline = (last VRRP advert from --old) + --mdi (the backup's master-down interval).
Prints one JSON line:
  garp_ms    first gratuitous ARP for --vip from --new-mac after that advert, minus the
             deadline
  advert_ms  first advert (priority > 0) from --new after that advert, minus the deadline
  vip_ms     (with --vip-log, the output of `ip -ts monitor address` in the new master's
             namespace) when the VIP appeared there, minus the deadline
  kill_after_advert_ms  (with --kill-ns) when the old master was killed, after its last advert
All timestamps are CLOCK_REALTIME (the capture's, `date +%s%N`'s and ip monitor's,
which prints local time: this script reads it in the same time zone).
"""
import argparse
import datetime
import json
import socket
import struct
import sys


def frames(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 24:
        return
    magic_le = struct.unpack("<I", data[:4])[0]
    if magic_le in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
        magic = magic_le
    else:
        e = ">"
        magic = struct.unpack(">I", data[:4])[0]
    scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: link type {linktype}, expected Ethernet (1)")
    off = 24
    for _ in range(10_000_000):
        if off + 16 > len(data):
            break
        sec, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        yield sec + frac * scale, data[off:off + incl]
        off += incl


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--vip", required=True)
    ap.add_argument("--new-mac", required=True, help="the new master's MAC: its ARP only")
    ap.add_argument("--mdi", type=float, required=True)
    ap.add_argument("--kill-ns", type=int)
    ap.add_argument("--vip-log")
    a = ap.parse_args()
    old, new, vip = (socket.inet_aton(x) for x in (a.old, a.new, a.vip))
    new_mac = bytes.fromhex(a.new_mac.replace(":", ""))

    adverts = []  # (t, src, prio)
    garps = []  # t
    for t, f in frames(a.pcap):
        et = f[12:14]
        if et == b"\x08\x00" and len(f) >= 34 + 8 and f[23] == 112:
            adverts.append((t, f[26:30], f[34 + 2]))
        elif et == b"\x08\x06" and len(f) >= 42:
            op = struct.unpack("!H", f[20:22])[0]
            spa, tpa = f[28:32], f[38:42]
            if spa == vip and tpa == vip and op in (1, 2) and f[6:12] == new_mac:
                garps.append(t)
    old_ts = [t for t, s, p in adverts if s == old and p > 0]
    out = {"adverts": len(adverts), "garps": len(garps)}
    if not old_ts:
        out["error"] = "no advert from the old master in the capture"
        print(json.dumps(out))
        return 1
    last = max(old_ts)
    deadline = last + a.mdi
    first_adv = next((t for t, s, p in adverts if s == new and p > 0 and t > last), None)
    first_garp = next((t for t in garps if t > last), None)
    out["last_old_advert"] = round(last, 9)
    out["advert_ms"] = None if first_adv is None else round((first_adv - deadline) * 1e3, 4)
    out["garp_ms"] = None if first_garp is None else round((first_garp - deadline) * 1e3, 4)
    if a.kill_ns is not None:
        out["kill_after_advert_ms"] = round((a.kill_ns * 1e-9 - last) * 1e3, 3)
    if a.vip_log:
        out["vip_ms"] = None
        with open(a.vip_log) as fh:
            for line in fh:
                if line.startswith("[") and f" {a.vip}/" in line and "Deleted" not in line:
                    stamp = datetime.datetime.fromisoformat(line[1:line.index("]")])
                    out["vip_ms"] = round((stamp.timestamp() - deadline) * 1e3, 4)
                    break
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
