//! `DNS_CHECK`, as keepalived's `check_dns.c`: one query (`type`, `name`, class IN,
//! recursion desired) over a connected UDP socket; the first response with the query's
//! ID and the QR bit decides: RCODE 0 is success, anything else a failure. Answers are
//! not looked at. The whole exchange waits at most `connect_timeout`.

use super::CheckContext;
use super::connect;
use crate::config::lvs::{ConnectTo, DnsCheck};
use crate::lvs::Attempt;
use socket2::{Protocol, SockAddr, Type};
use tokio::net::UdpSocket;

pub async fn attempt(co: &ConnectTo, d: &DnsCheck, ctx: &CheckContext) -> Attempt {
    match tokio::time::timeout(co.timeout, exchange(co, d)).await {
        Ok(Ok(())) => Attempt::Success { weight: None },
        Ok(Err(msg)) => Attempt::Failure(format!("DNS_CHECK ({}) {msg}", ctx.server)),
        Err(_) => Attempt::Failure(format!(
            "DNS_CHECK ({}) read timeout from socket",
            ctx.server
        )),
    }
}

async fn exchange(co: &ConnectTo, d: &DnsCheck) -> Result<(), String> {
    let sock = connect::socket_for(co, Type::DGRAM, Protocol::UDP)
        .map_err(|_| "failed to create socket. Rescheduling.".to_owned())?;
    sock.connect(&SockAddr::from(co.addr))
        .map_err(|_| "connection failure.".to_owned())?;
    let sock = UdpSocket::from_std(std::net::UdpSocket::from(sock))
        .map_err(|_| "connection error.".to_owned())?;
    let id = random_id();
    let q = query(id, d);
    match sock.send(&q).await {
        Ok(n) if n == q.len() => {}
        Ok(_) => return Err("failed to write all of the datagram.".to_owned()),
        Err(_) => return Err("failed to write socket.".to_owned()),
    }
    let mut buf = [0u8; 512];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| {
            format!(
                "failed to read socket; errno {} ({})",
                e.raw_os_error().unwrap_or(0),
                strerror(&e)
            )
        })?;
        match response_rcode(&buf[..n], id) {
            // Too short, another ID, or a query: keep waiting, as keepalived.
            None => continue,
            Some(0) => return Ok(()),
            Some(rcode) => return Err(format!("read error occurred. (rcode = {rcode})")),
        }
    }
}

/// The error's text without Rust's " (os error N)" suffix, as strerror(3) gives it.
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn random_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}

/// The query keepalived's `dns_make_query` builds: header (ID, RD), one question.
/// `name` is split at dots into labels; `.` is the root.
pub fn query(id: u16, d: &DnsCheck) -> Vec<u8> {
    let mut q = Vec::with_capacity(18 + d.name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD 1, AN/NS/AR 0
    if d.name != "." {
        for label in d.name.split('.').filter(|l| !l.is_empty()) {
            // A label over 63 bytes is cut: it cannot be sent otherwise.
            let l = &label.as_bytes()[..label.len().min(63)];
            q.push(l.len() as u8);
            q.extend_from_slice(l);
        }
    }
    q.push(0);
    q.extend_from_slice(&d.qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes()); // IN
    q
}

/// The RCODE of a response to query `id`; `None` when `msg` is not one.
pub fn response_rcode(msg: &[u8], id: u16) -> Option<u8> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return None;
    }
    Some(msg[3] & 0x0f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_bytes_as_keepalived() {
        let root = DnsCheck {
            qtype: 6,
            name: ".".into(),
        };
        assert_eq!(
            query(0x1234, &root),
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]
        );
        let a = DnsCheck {
            qtype: 1,
            name: "www.example.com".into(),
        };
        let q = query(1, &a);
        assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        // A trailing dot means the same name.
        let a_dot = DnsCheck {
            qtype: 1,
            name: "www.example.com.".into(),
        };
        assert_eq!(query(1, &a_dot), q);
    }

    #[test]
    fn responses() {
        assert_eq!(
            response_rcode(&[0, 7, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0], 7),
            Some(0)
        );
        assert_eq!(
            response_rcode(&[0, 7, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0], 7),
            Some(3)
        );
        assert_eq!(
            response_rcode(&[0, 8, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0], 7),
            None
        );
        assert_eq!(
            response_rcode(&[0, 7, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0], 7),
            None
        );
        assert_eq!(response_rcode(&[0, 7, 0x81], 7), None);
    }
}
