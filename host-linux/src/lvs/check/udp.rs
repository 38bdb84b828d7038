//! `UDP_CHECK`, as keepalived's `check_udp.c` and `layer4.c`: the `payload` (without
//! one, keepalived's 32 bytes of `keepalived check - ...`) goes to the server on a
//! connected socket that receives ICMP errors (`IP_RECVERR`).
//!
//! - An ICMP destination (port) unreachable, or any receive error: failure.
//! - No answer within `connect_timeout`: success, unless `require_reply` is set.
//! - An answer: success; with `require_reply DATA`, its length must be within
//!   `min_reply_length`..=`max_reply_length` and its first bytes must be DATA (as many
//!   as both have).

use super::CheckContext;
use super::connect;
use crate::config::lvs::{ConnectTo, UdpCheck};
use crate::lvs::Attempt;
use socket2::{Protocol, SockAddr, Type};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// keepalived's `set_buf` over its 32-byte `UDP_BUFSIZE`.
pub const DEFAULT_PAYLOAD: &[u8; 32] = b"keepalived check - keepalived ch";

pub async fn attempt(co: &ConnectTo, u: &UdpCheck, ctx: &CheckContext) -> Attempt {
    let failed = || Attempt::Failure(format!("UDP connection to {} failed.", ctx.server));
    let Ok(sock) = open(co) else {
        return failed();
    };
    let payload: &[u8] = if u.payload.is_empty() {
        DEFAULT_PAYLOAD
    } else {
        &u.payload
    };
    if !matches!(sock.send(payload).await, Ok(n) if n == payload.len()) {
        return failed();
    }
    let mut buf = vec![0u8; 65536];
    match tokio::time::timeout(co.timeout, sock.recv(&mut buf)).await {
        // Silence is success unless a reply is required.
        Err(_) if u.require_reply.is_some() => failed(),
        Err(_) => Attempt::Success { weight: None },
        Ok(Err(_)) => failed(),
        Ok(Ok(n)) => match &u.require_reply {
            Some(want) if !want.is_empty() && !reply_matches(&buf[..n], want, u) => {
                Attempt::Failure(format!("UDP check to {} reply data mismatch.", ctx.server))
            }
            _ => Attempt::Success { weight: None },
        },
    }
}

fn open(co: &ConnectTo) -> std::io::Result<UdpSocket> {
    let sock = connect::socket_for(co, Type::DGRAM, Protocol::UDP)?;
    use nix::sys::socket::{setsockopt, sockopt};
    match co.addr {
        SocketAddr::V4(_) => setsockopt(&sock, sockopt::Ipv4RecvErr, &true)?,
        SocketAddr::V6(_) => setsockopt(&sock, sockopt::Ipv6RecvErr, &true)?,
    }
    sock.connect(&SockAddr::from(co.addr))?;
    UdpSocket::from_std(std::net::UdpSocket::from(sock))
}

/// keepalived's `check_udp_reply` (without its per-bit mask).
pub fn reply_matches(got: &[u8], want: &[u8], u: &UdpCheck) -> bool {
    let len = got.len() as u64;
    if len < u64::from(u.min_reply_length) || len > u64::from(u.max_reply_length) {
        return false;
    }
    // A set mask bit is a wildcard nibble (`x` in `require_reply`).
    let mask = u.require_reply_mask.as_deref().unwrap_or(&[]);
    got.iter()
        .zip(want)
        .enumerate()
        .all(|(i, (g, w))| (g ^ w) & !mask.get(i).copied().unwrap_or(0) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(min: u32, max: u32) -> UdpCheck {
        UdpCheck {
            payload: Vec::new(),
            require_reply: Some(b"PONG".to_vec()),
            require_reply_mask: None,
            min_reply_length: min,
            max_reply_length: max,
        }
    }

    #[test]
    fn replies_as_keepalived() {
        assert!(reply_matches(b"PONG", b"PONG", &check(0, 255)));
        assert!(reply_matches(b"PONG and more", b"PONG", &check(0, 255)));
        assert!(reply_matches(b"PO", b"PONG", &check(0, 255)));
        assert!(!reply_matches(b"PING", b"PONG", &check(0, 255)));
        assert!(!reply_matches(b"PONG", b"PONG", &check(5, 255)));
        assert!(!reply_matches(b"PONG", b"PONG", &check(0, 3)));
    }
}
