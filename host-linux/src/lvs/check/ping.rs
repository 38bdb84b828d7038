//! `PING_CHECK`, as keepalived's `check_ping.c`: one ICMP (ICMPv6) echo request with
//! keepalived's 128-byte payload; the first packet back must be an echo reply within
//! `connect_timeout`.
//!
//! keepalived uses a datagram ICMP socket ("ping socket") and widens
//! `net.ipv4.ping_group_range` for it; vigild does not change that sysctl: it uses a
//! ping socket where the range allows, else (as root) a raw socket, filtering the
//! replies to its own identifier and address.

use super::CheckContext;
use super::connect;
use crate::config::lvs::ConnectTo;
use crate::lvs::Attempt;
use socket2::{Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// keepalived's `ICMP_BUFSIZE`.
const PAYLOAD_LEN: usize = 128;

static SEQUENCE: AtomicU16 = AtomicU16::new(0);

pub async fn attempt(co: &ConnectTo, ctx: &CheckContext) -> Attempt {
    let failed = || {
        Attempt::Failure(format!(
            "ICMP connection to {} of {} failed.",
            ctx.server, ctx.service
        ))
    };
    let Ok((sock, raw)) = open(co) else {
        return failed();
    };
    // SAFETY: the socket owns its descriptor and is neither replaced nor closed while
    // the AsyncFd holds it.
    let registered =
        unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE | Interest::WRITABLE) };
    let Ok(fd) = registered else {
        return failed();
    };
    let id = std::process::id() as u16 ^ SEQUENCE.load(Ordering::Relaxed).rotate_left(8);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let v6 = co.addr.is_ipv6();
    let req = echo_request(v6, raw, id, seq);
    let dst = SockAddr::from(SocketAddr::new(co.addr.ip(), 0));
    let exchange = async {
        send(&fd, &req, &dst).await?;
        let mut buf = [0u8; 1500];
        loop {
            let n = recv(&fd, &mut buf).await?;
            match reply(&buf[..n], v6, raw, id, co.addr.ip()) {
                Reply::Echo => return Ok::<bool, io::Error>(true),
                Reply::Other => return Ok(false),
                Reply::NotOurs => continue,
            }
        }
    };
    match tokio::time::timeout(co.timeout, exchange).await {
        Ok(Ok(true)) => Attempt::Success { weight: None },
        Ok(Ok(false) | Err(_)) => failed(),
        Err(_) => Attempt::Failure(format!(
            "ICMP connection to address {} timeout.",
            ctx.server
        )),
    }
}

/// A ping socket, or a raw one when ping sockets are not allowed (`true`: raw).
fn open(co: &ConnectTo) -> io::Result<(Socket, bool)> {
    let proto = if co.addr.is_ipv6() {
        Protocol::ICMPV6
    } else {
        Protocol::ICMPV4
    };
    let mut plain = co.clone();
    plain.bind_port = None;
    match connect::socket_for(&plain, Type::DGRAM, proto) {
        Ok(s) => Ok((s, false)),
        Err(_) => connect::socket_for(&plain, Type::RAW, proto).map(|s| (s, true)),
    }
}

async fn send(fd: &AsyncFd<Socket>, pkt: &[u8], dst: &SockAddr) -> io::Result<()> {
    loop {
        let mut guard = fd.writable().await?;
        match guard.try_io(|s| s.get_ref().send_to(pkt, dst)) {
            Ok(r) => return r.map(drop),
            Err(_would_block) => continue,
        }
    }
}

async fn recv(fd: &AsyncFd<Socket>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        // socket2's recv wants MaybeUninit; std's Read for &Socket takes the plain buffer.
        match guard.try_io(|s| {
            use std::io::Read;
            let mut sock: &Socket = s.get_ref();
            sock.read(buf)
        }) {
            Ok(r) => return r,
            Err(_would_block) => continue,
        }
    }
}

/// An echo request: keepalived's payload, the checksum filled in for a raw ICMPv4
/// socket (the kernel fills it for ping sockets and ICMPv6).
pub fn echo_request(v6: bool, raw: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut p = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend((0..PAYLOAD_LEN).map(|i| b"keepalived check - "[i % 19]));
    if raw && !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Echo,
    Other,
    NotOurs,
}

/// What a received packet is. A raw socket sees every ICMP packet (IPv4 with its IP
/// header): only ours count. On a ping socket the kernel has matched it already.
fn reply(pkt: &[u8], v6: bool, raw: bool, id: u16, from: IpAddr) -> Reply {
    let icmp = if raw && !v6 {
        let ihl = usize::from(pkt.first().map_or(0, |b| b & 0x0f)) * 4;
        if pkt.len() < ihl + 8 || ihl < 20 {
            return Reply::NotOurs;
        }
        let src = IpAddr::from([pkt[12], pkt[13], pkt[14], pkt[15]]);
        if src != from {
            return Reply::NotOurs;
        }
        &pkt[ihl..]
    } else {
        pkt
    };
    if icmp.len() < 8 {
        return if raw { Reply::NotOurs } else { Reply::Other };
    }
    let echo_reply = if v6 { 129 } else { 0 };
    if raw {
        // Our own request (looped back) and others' traffic are not answers.
        if icmp[0] != echo_reply || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
            return Reply::NotOurs;
        }
        return Reply::Echo;
    }
    if icmp[0] == echo_reply {
        Reply::Echo
    } else {
        Reply::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies() {
        let p = echo_request(false, true, 0x1234, 7);
        assert_eq!(p.len(), 8 + PAYLOAD_LEN);
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[8..27], b"keepalived check - ");
    }
}
