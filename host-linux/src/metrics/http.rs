//! The metrics endpoint: a minimal HTTP/1.1 server on the service thread's runtime.
//! `GET /metrics` (or `HEAD`) answers the exposition, any other path 404, any other
//! method 405; every answer closes the connection.
//!
//! A slow or hostile client costs the service thread little and the protocol thread
//! nothing per request: at most [`Limits::connections`] are served at once (more are
//! closed on accept), a request must arrive whole within [`Limits::request_time`] and
//! [`Limits::request_bytes`], an answer must be taken within [`Limits::write_time`], and
//! the protocol thread is asked for a snapshot at most once per [`Limits::max_age`]
//! whatever the request rate ([`Cache`]).

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub connections: usize,
    /// The request line and headers, at most.
    pub request_bytes: usize,
    /// Time from accept to the end of the headers.
    pub request_time: Duration,
    /// Time to write the answer.
    pub write_time: Duration,
    /// How old an exposition may be when served again.
    pub max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 16,
            request_bytes: 4096,
            request_time: Duration::from_secs(2),
            write_time: Duration::from_secs(5),
            max_age: Duration::from_millis(100),
        }
    }
}

/// The last exposition and when it was made; requests within `max_age` share it, and
/// requests that arrive while one is being made wait for it instead of asking again.
#[derive(Debug)]
pub struct Cache<F> {
    fetch: F,
    max_age: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, Rc<String>)>>,
}

impl<F, Fut> Cache<F>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    pub fn new(fetch: F, max_age: Duration) -> Self {
        Cache {
            fetch,
            max_age,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    /// The exposition, at most `max_age` old; `None` if the daemon is stopping.
    pub async fn get(&self) -> Option<Rc<String>> {
        let mut slot = self.slot.lock().await;
        if let Some((made, body)) = &*slot
            && made.elapsed() < self.max_age
        {
            return Some(body.clone());
        }
        let body = Rc::new((self.fetch)().await?);
        *slot = Some((Instant::now(), body.clone()));
        Some(body)
    }
}

/// Serves `listener` until the task is dropped. Needs a `LocalSet`.
pub async fn serve<F, Fut>(listener: TcpListener, cache: Rc<Cache<F>>, limits: Limits)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = Option<String>> + 'static,
{
    let active = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors, typically: wait rather than spin.
                debug!("metrics endpoint: accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if active.get() >= limits.connections {
            // Closed at once: a flood of connections is not queued behind the served.
            drop(stream);
            continue;
        }
        active.set(active.get() + 1);
        let active = active.clone();
        let cache = cache.clone();
        tokio::task::spawn_local(async move {
            answer(stream, &cache, limits).await;
            active.set(active.get() - 1);
        });
    }
}

/// What a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request {
    Metrics { head: bool },
    NotFound,
    BadMethod,
    Bad,
    TooLarge,
}

async fn answer<F, Fut>(mut stream: TcpStream, cache: &Cache<F>, limits: Limits)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<String>>,
{
    let request = match tokio::time::timeout(
        limits.request_time,
        read_request(&mut stream, limits.request_bytes),
    )
    .await
    {
        Ok(Ok(r)) => r,
        // Too slow, or gone: nothing to answer.
        Ok(Err(_)) | Err(_) => return,
    };
    let (status, body, head) = match request {
        // A protocol thread that does not answer (it never should) must not hold
        // the connection forever.
        Request::Metrics { head } => {
            match tokio::time::timeout(limits.write_time, cache.get()).await {
                Ok(Some(body)) => ("200 OK", Some(body), head),
                Ok(None) | Err(_) => ("503 Service Unavailable", None, false),
            }
        }
        Request::NotFound => ("404 Not Found", None, false),
        Request::BadMethod => ("405 Method Not Allowed", None, false),
        Request::Bad => ("400 Bad Request", None, false),
        Request::TooLarge => ("431 Request Header Fields Too Large", None, false),
    };
    let write = async {
        let mut header = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        if status.starts_with("405") {
            header.push_str("Allow: GET, HEAD\r\n");
        }
        match &body {
            Some(b) => {
                header.push_str(&format!(
                    "Content-Type: {}\r\nContent-Length: {}\r\n\r\n",
                    super::CONTENT_TYPE,
                    b.len()
                ));
                stream.write_all(header.as_bytes()).await?;
                if !head {
                    stream.write_all(b.as_bytes()).await?;
                }
            }
            None => {
                let text = format!("{status}\n");
                header.push_str(&format!(
                    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                ));
                stream.write_all(header.as_bytes()).await?;
            }
        }
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(limits.write_time, write).await;
}

/// Reads up to the end of the headers (a body is not expected and not read).
async fn read_request(stream: &mut TcpStream, max: usize) -> std::io::Result<Request> {
    let mut buf = vec![0u8; max];
    let mut len = 0;
    loop {
        if len == max {
            return Ok(Request::TooLarge);
        }
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        len += n;
        if let Some(r) = parse(&buf[..len]) {
            return Ok(r);
        }
    }
}

/// The request, once the headers are complete; `None` while they are not.
fn parse(buf: &[u8]) -> Option<Request> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| {
        // Tolerate bare line feeds, as most servers do.
        buf.windows(2).position(|w| w == b"\n\n")
    })?;
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Some(Request::Bad);
    };
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(Request::Bad);
    };
    if !version.starts_with("HTTP/1.") {
        return Some(Request::Bad);
    }
    let path = target.split('?').next().unwrap_or("");
    Some(match (method, path) {
        ("GET", "/metrics") => Request::Metrics { head: false },
        ("HEAD", "/metrics") => Request::Metrics { head: true },
        ("GET" | "HEAD", _) => Request::NotFound,
        _ => Request::BadMethod,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_parsed() {
        let p = |s: &str| parse(s.as_bytes());
        assert_eq!(p("GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(
            p("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Request::Metrics { head: false })
        );
        assert_eq!(
            p("GET /metrics?x=1 HTTP/1.0\n\n"),
            Some(Request::Metrics { head: false })
        );
        assert_eq!(
            p("HEAD /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::Metrics { head: true })
        );
        assert_eq!(p("GET / HTTP/1.1\r\n\r\n"), Some(Request::NotFound));
        assert_eq!(
            p("POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Request::BadMethod)
        );
        assert_eq!(p("GET /metrics\r\n\r\n"), Some(Request::Bad));
        assert_eq!(p("GET /metrics SPDY/3\r\n\r\n"), Some(Request::Bad));
        assert_eq!(p("\u{0}\u{1}\r\n\r\n"), Some(Request::Bad));
    }

    /// Talks HTTP to a server on localhost: answers, limits, and the cache.
    #[tokio::test(flavor = "current_thread")]
    async fn serves_limits_and_caches() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let fetched = Rc::new(Cell::new(0u32));
                let f = fetched.clone();
                let cache = Rc::new(Cache::new(
                    move || {
                        f.set(f.get() + 1);
                        let n = f.get();
                        async move { Some(format!("m {n}\n")) }
                    },
                    Duration::from_secs(60),
                ));
                let limits = Limits {
                    connections: 2,
                    request_bytes: 256,
                    request_time: Duration::from_millis(300),
                    ..Limits::default()
                };
                tokio::task::spawn_local(serve(listener, cache, limits));
                let ask = |req: &'static [u8]| async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.write_all(req).await.unwrap();
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out).await;
                    out
                };
                let ok = ask(b"GET /metrics HTTP/1.1\r\n\r\n").await;
                assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
                assert!(
                    ok.contains("Content-Type: text/plain; version=0.0.4"),
                    "{ok}"
                );
                assert!(ok.ends_with("\r\n\r\nm 1\n"), "{ok}");
                // Within max_age: the same body, not fetched again.
                assert!(
                    ask(b"GET /metrics HTTP/1.1\r\n\r\n")
                        .await
                        .ends_with("m 1\n")
                );
                assert_eq!(fetched.get(), 1);
                let head = ask(b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
                assert!(head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"));
                assert!(
                    ask(b"GET /x HTTP/1.1\r\n\r\n")
                        .await
                        .starts_with("HTTP/1.1 404")
                );
                assert!(
                    ask(b"PUT /metrics HTTP/1.1\r\n\r\n")
                        .await
                        .starts_with("HTTP/1.1 405")
                );
                let big = ask(&[b'a'; 300]).await;
                assert!(big.starts_with("HTTP/1.1 431"), "{big}");

                // Two idle connections fill the slots: a third is closed at once, and
                // once the idle ones time out, requests are served again.
                let idle1 = TcpStream::connect(addr).await.unwrap();
                let idle2 = TcpStream::connect(addr).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                let t0 = Instant::now();
                assert_eq!(ask(b"GET /metrics HTTP/1.1\r\n\r\n").await, "");
                assert!(t0.elapsed() < Duration::from_millis(250));
                tokio::time::sleep(Duration::from_millis(400)).await;
                assert!(
                    ask(b"GET /metrics HTTP/1.1\r\n\r\n")
                        .await
                        .starts_with("HTTP/1.1 200")
                );
                drop((idle1, idle2));
            })
            .await;
    }
}
