//! `SMTP_CHECK`, as keepalived's `check_smtp.c`: a `220` greeting, `HELO helo_name`
//! answered by `250`, then `QUIT` and any line back. A reply's status is its first three
//! digits followed by a space or the end of the line (a continued `220-` greeting fails,
//! as in keepalived). Every read and write waits at most `connect_timeout`.

use super::connect::{self, ConnectError};
use super::{CheckContext, format_pair};
use crate::config::lvs::{ConnectTo, SmtpCheck};
use crate::lvs::Attempt;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// keepalived's line buffer (`SMTP_BUFF_MAX`).
const LINE_MAX: usize = 512;

pub async fn attempt(co: &ConnectTo, s: &SmtpCheck, ctx: &CheckContext) -> Attempt {
    let pair = format_pair(co.addr);
    let fail = |what: String| Attempt::Failure(format!("SMTP_CHECK {what}"));
    let mut stream = match connect::tcp(co).await {
        Ok(s) => s,
        Err(ConnectError::Timeout) => return fail(format!("Connection timeout to server {pair}")),
        Err(ConnectError::Failed(_)) => return fail(format!("Could not connect to server {pair}")),
        Err(ConnectError::Immediate(_)) => {
            return fail(format!(
                "Network unreachable for server {pair} - real server {}",
                ctx.server
            ));
        }
        Err(ConnectError::Setup(_)) => return fail("socket bind failed. Rescheduling.".to_owned()),
    };
    let t = co.timeout;
    let steps: [(Option<String>, Option<u16>, &str); 3] = [
        (None, Some(220), "Bad greeting banner from server"),
        (
            Some(format!("HELO {}\r\n", s.helo_name)),
            Some(250),
            "Bad HELO response from server",
        ),
        (Some("QUIT\r\n".to_owned()), None, ""),
    ];
    for (send, want, bad) in steps {
        if let Some(line) = send {
            match tokio::time::timeout(t, stream.write_all(line.as_bytes())).await {
                Err(_) => return fail(format!("Write timeout to server {pair}")),
                Ok(Err(_)) => return fail(format!("Write failure to server {pair}")),
                Ok(Ok(())) => {}
            }
        }
        let line = match read_line(&mut stream, t).await {
            Ok(l) => l,
            Err(LineError::Timeout) => return fail(format!("Read timeout from server {pair}")),
            Err(LineError::Failed) => return fail(format!("Read failure from server {pair}")),
        };
        if let Some(want) = want
            && status(&line) != Some(want)
        {
            return fail(format!("{bad} {pair}"));
        }
    }
    Attempt::Success { weight: None }
}

enum LineError {
    Timeout,
    Failed,
}

/// One line (without its `\n`), as keepalived's `smtp_get_line`: what came after the
/// newline in the same read is dropped; a line longer than the buffer wraps.
async fn read_line(stream: &mut TcpStream, t: Duration) -> Result<Vec<u8>, LineError> {
    let mut line = Vec::with_capacity(LINE_MAX);
    let mut buf = [0u8; LINE_MAX];
    loop {
        if line.len() >= LINE_MAX - 1 {
            line.clear();
        }
        let room = LINE_MAX - 1 - line.len();
        let n = match tokio::time::timeout(t, stream.read(&mut buf[..room])).await {
            Err(_) => return Err(LineError::Timeout),
            Ok(Ok(0) | Err(_)) => return Err(LineError::Failed),
            Ok(Ok(n)) => n,
        };
        line.extend_from_slice(&buf[..n]);
        if let Some(nl) = line.iter().position(|&b| b == b'\n') {
            line.truncate(nl);
            return Ok(line);
        }
    }
}

/// keepalived's `smtp_get_status`: three digits, then a space or the end.
pub fn status(line: &[u8]) -> Option<u16> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if line.len() > 3 && line[3] != b' ' {
        return None;
    }
    Some(
        line[..3]
            .iter()
            .fold(0, |a, d| a * 10 + u16::from(d - b'0')),
    )
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn status_as_keepalived() {
        assert_eq!(status(b"220 mail.example ESMTP\r"), Some(220));
        assert_eq!(status(b"250 hello"), Some(250));
        assert_eq!(status(b"250"), Some(250));
        assert_eq!(status(b"220-first line of many\r"), None);
        assert_eq!(status(b"250\r"), None);
        assert_eq!(status(b" 220 x"), None);
        assert_eq!(status(b"22"), None);
    }
}
