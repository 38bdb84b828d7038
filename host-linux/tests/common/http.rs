//! nginx serving the VIP, and an HTTP client requesting it from its own namespace.

use super::{log_file, wait_for};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_tests::netns::Netns;

/// nginx in a namespace answering every request with `BODY\n`: one process
/// (`master_process off`, `daemon off`), so killing the child stops it completely.
#[derive(Debug)]
pub struct Nginx {
    child: Option<Child>,
    ns_name: String,
    ns_path: PathBuf,
    dir: PathBuf,
    pub body: String,
}

impl Nginx {
    pub fn start(ns: &Netns, dir: &Path, body: &str) -> Nginx {
        let d = dir.join(format!("nginx-{body}"));
        std::fs::create_dir_all(&d).expect("nginx dir");
        let p = d.display();
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {p}/nginx.pid;\n\
             error_log {p}/error.log;\nevents {{ worker_connections 64; }}\nhttp {{\n    \
             access_log off;\n    client_body_temp_path {p}; proxy_temp_path {p};\n    \
             fastcgi_temp_path {p}; uwsgi_temp_path {p}; scgi_temp_path {p};\n    \
             server {{ listen 80; location / {{ return 200 \"{body}\\n\"; }} }}\n}}\n"
        );
        std::fs::write(d.join("nginx.conf"), conf).expect("nginx.conf");
        let mut n = Nginx {
            child: None,
            ns_name: ns.name().to_owned(),
            ns_path: ns.path(),
            dir: d,
            body: body.to_owned(),
        };
        n.start_again();
        n
    }

    /// Starts it (again) and waits (at most 5 s) until it answers on 127.0.0.1.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "nginx already running");
        let d = &self.dir;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns_name, "nginx"])
            .arg("-e")
            .arg(d.join("error.log"))
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file(&d.join("stderr.log")))
            .spawn()
            .expect("starting nginx (apt-get install nginx-light)");
        self.child = Some(child);
        let body = self.body.clone();
        let ok = wait_for(Duration::from_secs(5), Duration::from_millis(20), || {
            in_netns(&self.ns_path, || {
                http_get(Ipv4Addr::LOCALHOST, Duration::from_millis(500)).ok()
            })
            .filter(|b| *b == body)
        });
        assert!(
            ok.is_some(),
            "nginx did not answer in 5 s: {}",
            std::fs::read_to_string(d.join("error.log")).unwrap_or_default()
        );
    }

    /// Stops it (SIGKILL: one process, nothing left behind).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `f` on a thread in the namespace at `path`.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(path);
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

fn enter_netns(path: &Path) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: setns(2) on a namespace file we opened; it only changes this thread.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
}

/// `GET /` on `addr:80` over HTTP/1.0; the body (trimmed) of a 200 answer.
pub fn http_get(addr: Ipv4Addr, timeout: Duration) -> Result<String, String> {
    let sa = SocketAddr::from((addr, 80));
    let mut s = TcpStream::connect_timeout(&sa, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut out = String::new();
    s.read_to_string(&mut out)
        .map_err(|e| format!("read: {e}"))?;
    let (head, body) = out
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {out:?}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!("status {head:?}"));
    }
    Ok(body.trim().to_owned())
}

/// One request of a [`Client`].
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the request started.
    pub at: Instant,
    /// The body, or why it failed.
    pub result: Result<String, String>,
}

/// A client in its own namespace requesting `http://VIP/` every `period`, `count` times
/// (so it stops by itself), on a thread of its own.
#[derive(Debug)]
pub struct Client {
    handle: std::thread::JoinHandle<Vec<Sample>>,
}

impl Client {
    pub fn start(
        ns: &Netns,
        vip: Ipv4Addr,
        count: usize,
        period: Duration,
        timeout: Duration,
    ) -> Client {
        let path = ns.path();
        let handle = std::thread::spawn(move || {
            enter_netns(&path);
            let mut out = Vec::with_capacity(count);
            let start = Instant::now();
            for n in 0..count {
                // A fixed schedule: a slow request does not stretch the run.
                let due = start + period * n as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let at = Instant::now();
                out.push(Sample {
                    at,
                    result: http_get(vip, timeout),
                });
            }
            out
        });
        Client { handle }
    }

    pub fn join(self) -> Vec<Sample> {
        self.handle.join().expect("client thread")
    }
}
