#!/usr/bin/env python3
"""The small real servers lvs_checks tests its health checks against (run in the real
server's namespace). Prints "ready" once every socket listens; exits when stdin closes.

  TCP 2525  SMTP: 220 greeting, 250 to HELO, 221 to QUIT
  TCP 2526  SMTP with a bad greeting (554)
  TCP 2527  SMTP: 220, then 550 to HELO
  TCP 9000  listens (backlog 4096) and never accepts: connections complete, nothing answers
  TCP 8088  HTTP: answers 200 with the request's own bytes (header and all) as its body
  UDP 5353  DNS: RCODE 0 for ok.test, 3 (NXDOMAIN) for anything else
  UDP 7007  echo
  UDP 7008  answers "WRONG"
  UDP 7010  swallows everything
"""
import socket
import sys
import threading


def smtp(port, greeting, helo_reply):
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", port))
    srv.listen(64)

    def serve(conn):
        with conn:
            f = conn.makefile("rb")
            conn.sendall(greeting)
            if not f.readline():
                return
            conn.sendall(helo_reply)
            if not f.readline():
                return
            conn.sendall(b"221 bye\r\n")

    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def dns():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", 5353))

    def loop():
        while True:
            q, peer = s.recvfrom(512)
            if len(q) < 12:
                continue
            name, i = [], 12
            while i < len(q) and q[i] != 0:
                n = q[i]
                name.append(q[i + 1 : i + 1 + n].decode(errors="replace"))
                i += 1 + n
            rcode = 0 if ".".join(name) == "ok.test" else 3
            # Same ID, QR + RD + RA, the RCODE, the question echoed, no answers.
            r = q[:2] + bytes([0x81, 0x80 | rcode]) + q[4:6] + b"\0\0\0\0\0\0" + q[12:]
            s.sendto(r, peer)

    threading.Thread(target=loop, daemon=True).start()


def udp(port, reply):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))

    def loop():
        while True:
            d, peer = s.recvfrom(65536)
            s.sendto(reply if reply is not None else d, peer)

    threading.Thread(target=loop, daemon=True).start()


def echo_request():
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", 8088))
    srv.listen(64)

    def serve(conn):
        with conn:
            req = b""
            while b"\r\n\r\n" not in req and len(req) < 4096:
                d = conn.recv(4096)
                if not d:
                    return
                req += d
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + req)

    def loop():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


echo_request()
smtp(2525, b"220 mail.test ESMTP\r\n", b"250 mail.test\r\n")
smtp(2526, b"554 go away\r\n", b"250 mail.test\r\n")
smtp(2527, b"220 mail.test ESMTP\r\n", b"550 not you\r\n")
hang = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
hang.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
hang.bind(("::", 9000))
hang.listen(4096)
dns()
udp(7007, None)
udp(7008, b"WRONG")
sink = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sink.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
sink.bind(("::", 7010))
print("ready", flush=True)
sys.stdin.read()
