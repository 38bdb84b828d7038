//! `HTTP_GET`, as keepalived 2.2.7's `check_http.c`: for each `url`, a TCP connection,
//! the request keepalived sends (see [`request`]), the response read to the end of the
//! stream; the status code must be in `status_code` (default 200-299), the MD5 of the
//! body must be `digest`, the body must (or with `regex_no_match` must not) match
//! `regex`.
//!
//! Each step (connect, write, every read) waits at most `connect_timeout`, as
//! keepalived; the whole URL at most [`ATTEMPT_STEPS`] times that, so that a server
//! that trickles a byte at a time cannot hold an attempt forever.
//!
//! Unlike keepalived, which checks one URL per `delay_loop` and moves to the next on
//! success, one attempt checks every URL in turn and fails at the first that fails.

use super::CheckContext;
use super::connect::{self, ConnectError};
use crate::config::lvs::{ConnectTo, HttpGet, HttpProtocol, HttpUrl};
use crate::lvs::Attempt;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use vigil_core::wire::hmac_md5::Md5;

/// keepalived's read buffer (`MAX_BUFFER_LENGTH`, less the byte it keeps for a NUL): a
/// response header longer than this is never found, and the response counts as empty.
pub const MAX_HEADER: usize = 4095;

/// How much of a body `regex` is matched against.
pub const MAX_REGEX_BODY: usize = 1 << 20;

/// A URL's whole exchange is bounded by this many `connect_timeout`s.
pub const ATTEMPT_STEPS: u32 = 4;

/// The first range keepalived accepts when `status_code` is not given.
pub const DEFAULT_STATUS: (u16, u16) = (200, 299);

pub async fn attempt(co: &ConnectTo, h: &HttpGet, ctx: &CheckContext) -> Attempt {
    for url in &h.urls {
        let stream = match connect::tcp(co).await {
            Ok(s) => s,
            Err(e) => return Attempt::Failure(connect_failure(&e, &ctx.server)),
        };
        let req = request(url, h, co.addr);
        let exchange = exchange(stream, req.as_bytes(), url, co.timeout, Transport::Plain);
        let bound = co.timeout.saturating_mul(ATTEMPT_STEPS);
        match tokio::time::timeout(bound, exchange).await {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return Attempt::Failure(phrase(msg, &ctx.server)),
            Err(_) => return Attempt::Failure(phrase("Timeout HTTP read", &ctx.server)),
        }
    }
    Attempt::Success { weight: None }
}

/// keepalived's `timeout_epilog` line: `"<what> server <FMT_RS>."`.
pub fn phrase(what: &str, server: &str) -> String {
    format!("{what} server {server}.")
}

/// The phrase for a connection not made (`http_check_thread`, `http_connect_thread`).
pub fn connect_failure(e: &ConnectError, server: &str) -> String {
    match e {
        ConnectError::Timeout => phrase("Timeout connecting", server),
        ConnectError::Failed(_) => phrase("Connection failed", server),
        ConnectError::Immediate(_) => phrase("HTTP_CHECK - network unreachable", server),
        ConnectError::Setup(_) => "WEB socket bind failed. Rescheduling".to_owned(),
    }
}

/// The request keepalived sends for `url` (`request_template` in check_http.c):
///
/// ```text
/// GET /path HTTP/1.0\r\n
/// User-Agent: KeepAliveClient\r\n
/// [Connection: close\r\n]        (1.0C and 1.1)
/// Host: VHOST | ADDR:PORT | [ADDR6]:PORT\r\n
/// \r\n
/// ```
pub fn request(url: &HttpUrl, h: &HttpGet, addr: SocketAddr) -> String {
    let minor = u8::from(h.protocol == HttpProtocol::Http11);
    let close = match h.protocol {
        HttpProtocol::Http10Close | HttpProtocol::Http11 => "Connection: close\r\n",
        HttpProtocol::Http10 | HttpProtocol::Http10KeepAlive => "",
    };
    let host = match url.virtualhost.as_deref().or(h.virtualhost.as_deref()) {
        Some(vhost) => vhost.to_owned(),
        None => match addr {
            SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        },
    };
    format!(
        "GET {} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n",
        url.path
    )
}

/// Which stream the exchange runs on: the phrases differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// Sends `req` and judges the response against `url`; the error is keepalived's
/// `timeout_epilog` message.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    req: &[u8],
    url: &HttpUrl,
    step: Duration,
    transport: Transport,
) -> Result<(), &'static str> {
    match tokio::time::timeout(step, stream.write_all(req)).await {
        Err(_) => return Err("Timeout WEB write"),
        Ok(Err(_)) => return Err("Cannot send get request to"),
        Ok(Ok(())) => {}
    }
    let mut resp = Response::new(url);
    let mut buf = [0u8; 4096];
    let end = loop {
        let room = if !resp.in_body {
            (MAX_HEADER - resp.head.len()).min(buf.len())
        } else {
            buf.len()
        };
        // A header that fills keepalived's buffer reads as the end of the stream.
        if room == 0 {
            break End::Eof;
        }
        match tokio::time::timeout(step, stream.read(&mut buf[..room])).await {
            Err(_) => {
                return Err(match transport {
                    Transport::Plain => "Timeout HTTP read",
                    Transport::Tls => "Timeout SSL read",
                });
            }
            Ok(Ok(0)) => break End::Eof,
            Ok(Ok(n)) => resp.feed(&buf[..n]),
            Ok(Err(_)) => break End::Error,
        }
    };
    if !resp.in_body {
        return Err(match (transport, end) {
            (Transport::Plain, End::Error) => "Read error with",
            (Transport::Tls, End::Eof) => "SSL read error from",
            _ => "Read, no data received from ",
        });
    }
    if transport == Transport::Plain && end == End::Error {
        return Err("Read error with");
    }
    resp.judge(url)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    Error,
}

/// A response as it arrives: the header until `\r\n\r\n`, then the body into the MD5
/// (up to `Content-Length` when given, as keepalived) and, for a `regex`, kept.
struct Response {
    head: Vec<u8>,
    in_body: bool,
    status: u16,
    content_length: Option<u64>,
    received: u64,
    md5: Option<Md5>,
    body: Option<Vec<u8>>,
}

impl Response {
    fn new(url: &HttpUrl) -> Self {
        Response {
            head: Vec::new(),
            in_body: false,
            status: 0,
            content_length: None,
            received: 0,
            md5: url.digest.map(|_| Md5::new()),
            body: url.regex.as_ref().map(|_| Vec::new()),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if self.in_body {
            self.body(data);
            return;
        }
        self.head.extend_from_slice(data);
        if let Some(at) = find(&self.head, b"\r\n\r\n") {
            let rest = self.head.split_off(at + 4);
            self.in_body = true;
            self.status = status_code(&self.head);
            self.content_length = content_length(&self.head);
            self.body(&rest);
        }
    }

    fn body(&mut self, data: &[u8]) {
        if let Some(md5) = &mut self.md5 {
            let take = match self.content_length {
                Some(len) => (len.saturating_sub(self.received)).min(data.len() as u64) as usize,
                None => data.len(),
            };
            md5.update(&data[..take]);
        }
        if let Some(body) = &mut self.body {
            let take = (MAX_REGEX_BODY - body.len()).min(data.len());
            body.extend_from_slice(&data[..take]);
        }
        self.received += data.len() as u64;
    }

    fn judge(self, url: &HttpUrl) -> Result<(), &'static str> {
        if !status_accepted(self.status, &url.status_codes) {
            return Err("HTTP status code error to");
        }
        if let (Some(want), Some(md5)) = (url.digest, self.md5)
            && md5.finalize() != want
        {
            return Err("MD5 digest error to");
        }
        if let (Some(re), Some(body)) = (&url.regex, &self.body) {
            // regex-lite matches text: a body that is not UTF-8 is matched with its
            // invalid bytes replaced.
            let matched = match regex_lite::Regex::new(re) {
                Ok(r) => r.is_match(&String::from_utf8_lossy(body)),
                // An invalid regex never matches (keepalived refuses it at load).
                Err(_) => false,
            };
            if matched == url.regex_no_match {
                return Err("Regex match failed");
            }
        }
        Ok(())
    }
}

/// Whether `code` is accepted: keepalived keeps 100..=599 only, default 200-299.
pub fn status_accepted(code: u16, ranges: &[(u16, u16)]) -> bool {
    if !(100..=599).contains(&code) {
        return false;
    }
    if ranges.is_empty() {
        return (DEFAULT_STATUS.0..=DEFAULT_STATUS.1).contains(&code);
    }
    ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&code))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// keepalived's `extract_status_code`: the three digits between the first space and
/// the next; 0 when not there.
pub fn status_code(head: &[u8]) -> u16 {
    let Some(sp) = head.iter().position(|&b| b == b' ' || b == b'\r') else {
        return 0;
    };
    if head[sp] != b' ' {
        return 0;
    }
    let rest = &head[sp + 1..];
    if rest.len() < 4 || rest[3] != b' ' || !rest[..3].iter().all(u8::is_ascii_digit) {
        return 0;
    }
    rest[..3]
        .iter()
        .fold(0, |acc, d| acc * 10 + u16::from(d - b'0'))
}

/// keepalived's `extract_content_length`: `Content-Length:` (exactly so spelt), a
/// number, then the end of the line; `None` otherwise.
pub fn content_length(head: &[u8]) -> Option<u64> {
    const TAG: &[u8] = b"Content-Length:";
    let at = find(head, TAG)? + TAG.len();
    let rest = &head[at..];
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let digits = rest[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let after = rest.get(start + digits).copied();
    if digits == 0 || !matches!(after, None | Some(b'\r' | b'\n')) {
        return None;
    }
    std::str::from_utf8(&rest[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(path: &str) -> HttpUrl {
        HttpUrl::new(path)
    }

    fn get(protocol: HttpProtocol, vhost: Option<&str>) -> HttpGet {
        HttpGet {
            urls: vec![url("/")],
            virtualhost: vhost.map(str::to_owned),
            protocol,
            enable_sni: false,
            fast_recovery: false,
        }
    }

    /// The bytes keepalived 2.2.7's request_template gives, per http_protocol.
    #[test]
    fn request_bytes_as_keepalived() {
        let a4: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let a6: SocketAddr = "[fd00::2]:8080".parse().unwrap();
        let u = url("/health");
        assert_eq!(
            request(&u, &get(HttpProtocol::Http10, None), a4),
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.0.0.2:80\r\n\r\n"
        );
        assert_eq!(
            request(&u, &get(HttpProtocol::Http10Close, None), a4),
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: 10.0.0.2:80\r\n\r\n"
        );
        assert_eq!(
            request(&u, &get(HttpProtocol::Http11, Some("www.example.com")), a4),
            "GET /health HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: www.example.com\r\n\r\n"
        );
        assert_eq!(
            request(&u, &get(HttpProtocol::Http10, None), a6),
            "GET /health HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: [fd00::2]:8080\r\n\r\n"
        );
        // A url's own virtualhost wins over the checker's.
        let mut uv = url("/");
        uv.virtualhost = Some("a.example".into());
        assert!(
            request(&uv, &get(HttpProtocol::Http10, Some("b.example")), a6)
                .contains("\r\nHost: a.example\r\n")
        );
    }

    #[test]
    fn status_code_as_keepalived() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), 200);
        assert_eq!(status_code(b"HTTP/1.0 404 Not Found\r\n"), 404);
        assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), 0);
        assert_eq!(status_code(b"HTTP/1.1 20 OK\r\n"), 0);
        assert_eq!(status_code(b"HTTP/1.1\r\n"), 0);
        assert_eq!(status_code(b"garbage"), 0);
    }

    #[test]
    fn status_ranges() {
        assert!(status_accepted(200, &[]));
        assert!(status_accepted(299, &[]));
        assert!(!status_accepted(301, &[]));
        assert!(status_accepted(404, &[(404, 404), (500, 503)]));
        assert!(status_accepted(502, &[(404, 404), (500, 503)]));
        assert!(!status_accepted(200, &[(404, 404)]));
        assert!(!status_accepted(600, &[(100, 700)]));
    }

    #[test]
    fn content_length_as_keepalived() {
        assert_eq!(
            content_length(b"HTTP/1.0 200 OK\r\nContent-Length: 12\r\n"),
            Some(12)
        );
        assert_eq!(
            content_length(b"HTTP/1.0 200 OK\r\nContent-Length:7\r\n"),
            Some(7)
        );
        assert_eq!(
            content_length(b"HTTP/1.0 200 OK\r\ncontent-length: 12\r\n"),
            None
        );
        assert_eq!(
            content_length(b"HTTP/1.0 200 OK\r\nContent-Length: 12x\r\n"),
            None
        );
    }

    #[test]
    fn body_digest_stops_at_content_length() {
        let mut u = url("/");
        u.digest = Some(vigil_core::wire::hmac_md5::md5(b"hello"));
        let mut r = Response::new(&u);
        r.feed(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhel");
        r.feed(b"lo, and trailing junk");
        assert_eq!(r.judge(&u), Ok(()));
        let mut r = Response::new(&u);
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nhello!");
        assert_eq!(r.judge(&u), Err("MD5 digest error to"));
    }

    #[test]
    fn regex_and_no_match() {
        let mut u = url("/");
        u.regex = Some("sta+tus: ok".into());
        let mut r = Response::new(&u);
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nstaaatus: ok");
        assert_eq!(r.judge(&u), Ok(()));
        u.regex_no_match = true;
        let mut r = Response::new(&u);
        r.feed(b"HTTP/1.0 200 OK\r\n\r\nstaaatus: ok");
        assert_eq!(r.judge(&u), Err("Regex match failed"));
    }
}
