//! The LVS health checks (`vigil_linux::lvs::check`) against real servers in network
//! namespaces: nginx (HTTP, and HTTPS with a self-signed certificate), small python3
//! servers (SMTP, DNS, UDP echo, a request echo, a socket that never answers), pings to
//! an address that is there and one that is not. Every check is run for success and for
//! each class of failure, and the failure texts are keepalived's.
//!
//! Topology: one LAN, the director (host 0, 10.88.0.1, fd88::1) where the checks run in
//! process, the real server (host 1, 10.88.0.2, fd88::2); 10.88.0.9 is nobody.

use std::io::{BufRead, BufReader, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use vigil_core::wire::hmac_md5::md5;
use vigil_linux::config::diag::Loc;
use vigil_linux::config::lvs::*;
use vigil_linux::config::model::Command as ScriptCommand;
use vigil_linux::exec::RunAs;
use vigil_linux::lvs::Attempt;
use vigil_linux::lvs::check::{self, CheckContext, TrackFileMap, TrackFileSpec};
use vigil_tests::netns::{HostSpec, KillOnDrop, Lan, privileged_or_skip, run_in};

const DIRECTOR: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 2);
const SERVER6: Ipv6Addr = Ipv6Addr::new(0xfd88, 0, 0, 0, 0, 0, 0, 2);
const NOBODY: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 9);
/// Short, so the failure cases take a second each.
const TIMEOUT: Duration = Duration::from_secs(1);

/// The LAN, nginx and the python servers on the real server, all stopped on drop.
struct Bench {
    // Processes go before the namespaces they run in.
    _nginx: KillOnDrop,
    _servers: KillOnDrop,
    lan: Lan,
    _dir: tempfile::TempDir,
}

fn bench(name: &str) -> Option<Bench> {
    if !privileged_or_skip(name) {
        return None;
    }
    let lan = Lan::new(
        "lvc",
        &[
            HostSpec::v4([2, 0x88, 0, 0, 0, 1], DIRECTOR, 24)
                .with_v6(Ipv6Addr::new(0xfd88, 0, 0, 0, 0, 0, 0, 1), 64),
            HostSpec::v4([2, 0x88, 0, 0, 0, 2], SERVER, 24).with_v6(SERVER6, 64),
        ],
    )
    .expect("LAN");
    let dir = tempfile::tempdir().expect("tempdir");
    let rs = &lan.host(1).ns;
    let nginx = KillOnDrop(start_nginx(rs, dir.path()));
    let mut py = rs
        .command("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lvs_checks/servers.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(py.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("servers.py output");
    assert_eq!(line.trim(), "ready", "servers.py did not start");
    let b = Bench {
        _nginx: nginx,
        _servers: KillOnDrop(py),
        lan,
        _dir: dir,
    };
    wait_for_nginx(&b);
    Some(b)
}

fn start_nginx(ns: &vigil_tests::netns::Netns, dir: &Path) -> std::process::Child {
    let d = dir.display();
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=rs.test", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .expect("openssl req (apt-get install openssl)");
    assert!(out.status.success(), "openssl req: {out:?}");
    let locations = "location = /ok { return 200 \"hello\\n\"; }\n\
         location = /teapot { return 418 \"tea\\n\"; }\n\
         location = /request { return 200 \"$host|$http_user_agent|$http_connection\\n\"; }\n\
         location = /sni { return 200 \"sni=$ssl_server_name\\n\"; }\n";
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {d}; proxy_temp_path {d};\n\
         fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
         server {{ listen 80; listen [::]:80; root {d}/www;\n{locations} }}\n\
         server {{ listen 443 ssl; root {d}/www; ssl_certificate {d}/cert.pem;\n\
         ssl_certificate_key {d}/key.pem;\n{locations} }}\n}}\n"
    );
    std::fs::create_dir_all(dir.join("www")).expect("www");
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
    ns.command("nginx")
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx (apt-get install nginx-light)")
}

/// Until nginx answers (at most 5 s, by TCP_CHECKs on port 80).
fn wait_for_nginx(b: &Bench) {
    for _ in 0..50 {
        if run(b, &checker(CheckKind::Tcp, v4(80))) == (Attempt::Success { weight: None }) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nginx did not start");
}

fn v4(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(SERVER), port)
}

fn checker(kind: CheckKind, addr: SocketAddr) -> Checker {
    Checker {
        loc: loc(),
        timing: CheckTiming {
            delay_loop: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: Duration::ZERO,
            alpha: false,
            log_all_failures: false,
        },
        connect: Some(ConnectTo {
            addr,
            bindto: None,
            bind_port: None,
            bind_if: None,
            fwmark: None,
            timeout: TIMEOUT,
        }),
        kind,
    }
}

fn loc() -> Loc {
    Loc {
        file: Arc::from(Path::new("keepalived.conf")),
        line: 1,
        col: 1,
    }
}

fn ctx_for(addr: SocketAddr) -> CheckContext {
    CheckContext {
        server: check::format_rs(addr, IpvsProtocol::Tcp),
        service: "[10.88.0.100]:tcp:80".to_owned(),
        server_weight: 1,
        tls: None,
        track_files: Arc::new(TrackFileMap::default()),
        script_user: RunAs::current(),
    }
}

/// One attempt, run in the director's namespace on a current-thread runtime.
fn run(b: &Bench, c: &Checker) -> Attempt {
    let ctx = ctx_for(c.connect.as_ref().expect("address").addr);
    run_ctx(b, c, &ctx)
}

fn run_ctx(b: &Bench, c: &Checker, ctx: &CheckContext) -> Attempt {
    run_in(&b.lan.host(0).ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(check::attempt(c, ctx))
    })
}

const OK: Attempt = Attempt::Success { weight: None };

fn fail(text: &str) -> Attempt {
    Attempt::Failure(text.to_owned())
}

fn url(path: &str) -> HttpUrl {
    HttpUrl::new(path)
}

fn http(urls: Vec<HttpUrl>) -> HttpGet {
    HttpGet {
        urls,
        virtualhost: None,
        protocol: HttpProtocol::Http10,
        enable_sni: false,
        fast_recovery: false,
    }
}

#[test]
fn tcp_check() {
    let Some(b) = bench("tcp_check") else { return };
    assert_eq!(run(&b, &checker(CheckKind::Tcp, v4(80))), OK);
    let v6 = SocketAddr::new(IpAddr::V6(SERVER6), 80);
    assert_eq!(run(&b, &checker(CheckKind::Tcp, v6)), OK);
    // Refused (nothing on 81), and nobody there.
    assert_eq!(
        run(&b, &checker(CheckKind::Tcp, v4(81))),
        fail("TCP connection to [10.88.0.2]:tcp:81 failed.")
    );
    let nobody = SocketAddr::new(IpAddr::V4(NOBODY), 80);
    assert_eq!(
        run(&b, &checker(CheckKind::Tcp, nobody)),
        fail("TCP connection to [10.88.0.9]:tcp:80 timeout.")
    );
    // bindto / bind_port / bind_if / fwmark are applied: a source that is not ours
    // cannot be bound, an interface that does not exist cannot be bound to.
    let mut c = checker(CheckKind::Tcp, v4(80));
    c.connect.as_mut().unwrap().bindto = Some(IpAddr::V4(DIRECTOR));
    c.connect.as_mut().unwrap().bind_port = Some(40123);
    c.connect.as_mut().unwrap().bind_if = Some(Lan::IFNAME.to_owned());
    c.connect.as_mut().unwrap().fwmark = Some(7);
    assert_eq!(run(&b, &c), OK);
    c.connect.as_mut().unwrap().bindto = Some(IpAddr::V4(NOBODY));
    assert_eq!(run(&b, &c), fail("TCP socket bind failed. Rescheduling."));
    c.connect.as_mut().unwrap().bindto = None;
    c.connect.as_mut().unwrap().bind_if = Some("nosuchif0".to_owned());
    assert_eq!(run(&b, &c), fail("TCP socket bind failed. Rescheduling."));
}

#[test]
fn http_get() {
    let Some(b) = bench("http_get") else { return };
    let get = |h: HttpGet, port: u16| run(&b, &checker(CheckKind::Http(h), v4(port)));
    assert_eq!(get(http(vec![url("/ok")]), 80), OK);
    // The digest of the body, right and wrong.
    let mut u = url("/ok");
    u.digest = Some(md5(b"hello\n"));
    assert_eq!(get(http(vec![u.clone()]), 80), OK);
    u.digest = Some(md5(b"hello"));
    assert_eq!(
        get(http(vec![u]), 80),
        fail("MD5 digest error to server [10.88.0.2]:tcp:80.")
    );
    // Status codes: 404 fails by default, passes when listed; 418 within a range.
    assert_eq!(
        get(http(vec![url("/ok"), url("/missing")]), 80),
        fail("HTTP status code error to server [10.88.0.2]:tcp:80.")
    );
    let mut u = url("/missing");
    u.status_codes = vec![(404, 404)];
    assert_eq!(get(http(vec![u]), 80), OK);
    let mut u = url("/teapot");
    u.status_codes = vec![(400, 499)];
    assert_eq!(get(http(vec![u]), 80), OK);
    // What nginx saw of the request: Host, User-Agent, Connection per http_protocol.
    let mut u = url("/request");
    u.regex = Some(r"^10\.88\.0\.2\|KeepAliveClient\|\n$".to_owned());
    assert_eq!(get(http(vec![u.clone()]), 80), OK);
    let mut h = http(vec![u.clone()]);
    h.protocol = HttpProtocol::Http11;
    assert_eq!(
        get(h.clone(), 80),
        fail("Regex match failed server [10.88.0.2]:tcp:80.")
    );
    h.urls[0].regex = Some(r"^www\.test\|KeepAliveClient\|close\n$".to_owned());
    h.virtualhost = Some("www.test".to_owned());
    assert_eq!(get(h, 80), OK);
    u.regex_no_match = true;
    assert_eq!(
        get(http(vec![u]), 80),
        fail("Regex match failed server [10.88.0.2]:tcp:80.")
    );
    // Refused, no answer to the connection, no answer to the request.
    assert_eq!(
        get(http(vec![url("/")]), 81),
        fail("Connection failed server [10.88.0.2]:tcp:81.")
    );
    let nobody = SocketAddr::new(IpAddr::V4(NOBODY), 80);
    assert_eq!(
        run(&b, &checker(CheckKind::Http(http(vec![url("/")])), nobody)),
        fail("Timeout connecting server [10.88.0.9]:tcp:80.")
    );
    assert_eq!(
        get(http(vec![url("/")]), 9000),
        fail("Timeout HTTP read server [10.88.0.2]:tcp:9000.")
    );
    // A server that closes without a header.
    assert_eq!(
        get(http(vec![url("/")]), 2526),
        fail("Read, no data received from  server [10.88.0.2]:tcp:2526.")
    );
}

/// The request's bytes on the wire, as keepalived 2.2.7's request_template makes them:
/// the server on 8088 answers with the request itself, whose digest must match.
#[test]
fn http_request_bytes_on_the_wire() {
    let Some(b) = bench("http_request_bytes_on_the_wire") else {
        return;
    };
    let cases: [(HttpProtocol, Option<&str>, SocketAddr, &str); 3] = [
        (
            HttpProtocol::Http10,
            None,
            v4(8088),
            "GET /x?y=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: 10.88.0.2:8088\r\n\r\n",
        ),
        (
            HttpProtocol::Http10Close,
            Some("vh.test"),
            v4(8088),
            "GET /x?y=1 HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: vh.test\r\n\r\n",
        ),
        (
            HttpProtocol::Http11,
            None,
            SocketAddr::new(IpAddr::V6(SERVER6), 8088),
            "GET /x?y=1 HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [fd88::2]:8088\r\n\r\n",
        ),
    ];
    for (protocol, vhost, addr, bytes) in cases {
        let mut u = url("/x?y=1");
        u.digest = Some(md5(bytes.as_bytes()));
        let mut h = http(vec![u]);
        h.protocol = protocol;
        h.virtualhost = vhost.map(str::to_owned);
        assert_eq!(
            run(&b, &checker(CheckKind::Http(h), addr)),
            OK,
            "{protocol:?}: {bytes:?}"
        );
    }
}

/// keepalived 2.2.7's own HTTP client, `genhash` (check_genhash.c drives check_http.c's
/// request code), against the server that answers with the request: the digest it prints
/// is the MD5 of the bytes keepalived sends. vigild's HTTP_GET, given that digest, must
/// pass: it sent the same bytes. Also over TLS (`genhash -S`), on nginx's /ok.
#[test]
fn requests_match_keepalived_genhash() {
    let Some(b) = bench("requests_match_keepalived_genhash") else {
        return;
    };
    if Command::new("genhash").arg("-h").output().is_err() {
        eprintln!("SKIPPED requests_match_keepalived_genhash: no genhash (keepalived)");
        return;
    }
    let genhash = |args: &[&str]| -> [u8; 16] {
        let out = b
            .lan
            .host(0)
            .ns
            .command("genhash")
            .args(["-t", "2"])
            .args(args)
            .output()
            .expect("genhash");
        let text = String::from_utf8_lossy(&out.stdout);
        let hex = text
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 32 && l.bytes().all(|c| c.is_ascii_hexdigit()))
            .unwrap_or_else(|| panic!("genhash {args:?}: {text}"));
        let mut d = [0u8; 16];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
        }
        d
    };
    let cases: [(&[&str], HttpProtocol, Option<&str>, SocketAddr); 4] = [
        (&["-s", "10.88.0.2"], HttpProtocol::Http10, None, v4(8088)),
        (
            &["-s", "10.88.0.2", "-P", "1.0c"],
            HttpProtocol::Http10Close,
            None,
            v4(8088),
        ),
        (
            &["-s", "10.88.0.2", "-P", "1.1", "-V", "www.test"],
            HttpProtocol::Http11,
            Some("www.test"),
            v4(8088),
        ),
        (
            &["-s", "fd88::2"],
            HttpProtocol::Http10,
            None,
            SocketAddr::new(IpAddr::V6(SERVER6), 8088),
        ),
    ];
    for (args, protocol, vhost, addr) in cases {
        let mut all = args.to_vec();
        all.extend(["-p", "8088", "-u", "/x?y=1"]);
        let mut u = url("/x?y=1");
        u.digest = Some(genhash(&all));
        let mut h = http(vec![u]);
        h.protocol = protocol;
        h.virtualhost = vhost.map(str::to_owned);
        assert_eq!(run(&b, &checker(CheckKind::Http(h), addr)), OK, "{all:?}");
    }
    // The digest of a body as genhash computes it, over HTTP and HTTPS.
    for (tls, port) in [(false, 80), (true, 443)] {
        let mut args = vec!["-s", "10.88.0.2", "-p", if tls { "443" } else { "80" }];
        args.extend(["-u", "/ok"]);
        if tls {
            args.push("-S");
        }
        let mut u = url("/ok");
        u.digest = Some(genhash(&args));
        let h = http(vec![u]);
        let kind = if tls {
            CheckKind::Ssl(h)
        } else {
            CheckKind::Http(h)
        };
        assert_eq!(run(&b, &checker(kind, v4(port))), OK, "{args:?}");
    }
}

#[test]
fn ssl_get() {
    let Some(b) = bench("ssl_get") else { return };
    let get = |h: HttpGet, port: u16| run(&b, &checker(CheckKind::Ssl(h), v4(port)));
    // A self-signed certificate passes: keepalived does not verify it.
    let mut u = url("/ok");
    u.digest = Some(md5(b"hello\n"));
    assert_eq!(get(http(vec![u.clone()]), 443), OK);
    u.digest = Some(md5(b"bye\n"));
    assert_eq!(
        get(http(vec![u]), 443),
        fail("MD5 digest error to server [10.88.0.2]:tcp:443.")
    );
    assert_eq!(
        get(http(vec![url("/missing")]), 443),
        fail("HTTP status code error to server [10.88.0.2]:tcp:443.")
    );
    // SNI: the virtualhost with enable_sni, none without.
    let mut u = url("/sni");
    u.regex = Some("^sni=rs\\.example\n$".to_owned());
    let mut h = http(vec![u]);
    h.virtualhost = Some("rs.example".to_owned());
    assert_eq!(
        get(h.clone(), 443),
        fail("Regex match failed server [10.88.0.2]:tcp:443.")
    );
    h.enable_sni = true;
    assert_eq!(get(h, 443), OK);
    // TLS to a plain HTTP server, to a refused port, and to a server that never answers.
    assert_eq!(
        get(http(vec![url("/ok")]), 80),
        fail("SSL handshake/communication error connecting to server [10.88.0.2]:tcp:80.")
    );
    assert_eq!(
        get(http(vec![url("/ok")]), 81),
        fail("Connection failed server [10.88.0.2]:tcp:81.")
    );
    assert_eq!(
        get(http(vec![url("/ok")]), 9000),
        fail("Timeout connecting server [10.88.0.2]:tcp:9000.")
    );
    // The SSL block's files are loaded (and a missing one said as keepalived says it).
    let ssl = SslClient {
        certificate: Some("/nonexistent/cert.pem".to_owned()),
        ..SslClient::default()
    };
    assert_eq!(
        check::ssl::TlsClient::new(Some(&ssl)).err().as_deref(),
        Some("SSL error : Cant load certificate file...")
    );
}

#[test]
fn smtp_check() {
    let Some(b) = bench("smtp_check") else { return };
    let smtp = || {
        CheckKind::Smtp(SmtpCheck {
            helo_name: "smtpchecker.keepalived.org".to_owned(),
        })
    };
    assert_eq!(run(&b, &checker(smtp(), v4(2525))), OK);
    assert_eq!(
        run(&b, &checker(smtp(), v4(2526))),
        fail("SMTP_CHECK Bad greeting banner from server [10.88.0.2]:2526")
    );
    assert_eq!(
        run(&b, &checker(smtp(), v4(2527))),
        fail("SMTP_CHECK Bad HELO response from server [10.88.0.2]:2527")
    );
    assert_eq!(
        run(&b, &checker(smtp(), v4(9000))),
        fail("SMTP_CHECK Read timeout from server [10.88.0.2]:9000")
    );
    assert_eq!(
        run(&b, &checker(smtp(), v4(81))),
        fail("SMTP_CHECK Could not connect to server [10.88.0.2]:81")
    );
}

#[test]
fn dns_check() {
    let Some(b) = bench("dns_check") else { return };
    let dns = |name: &str| {
        CheckKind::Dns(DnsCheck {
            qtype: 1,
            name: name.to_owned(),
        })
    };
    assert_eq!(run(&b, &checker(dns("ok.test"), v4(5353))), OK);
    assert_eq!(
        run(&b, &checker(dns("other.test"), v4(5353))),
        fail("DNS_CHECK ([10.88.0.2]:tcp:5353) read error occurred. (rcode = 3)")
    );
    assert_eq!(
        run(&b, &checker(dns("ok.test"), v4(5354))),
        fail(
            "DNS_CHECK ([10.88.0.2]:tcp:5354) failed to read socket; errno 111 (Connection refused)"
        )
    );
    // The UDP echo answers with our own query: QR is clear, so it is no answer.
    assert_eq!(
        run(&b, &checker(dns("ok.test"), v4(7007))),
        fail("DNS_CHECK ([10.88.0.2]:tcp:7007) read timeout from socket")
    );
}

#[test]
fn udp_check() {
    let Some(b) = bench("udp_check") else { return };
    let udp = |require: Option<&[u8]>, min: u32, max: u32| {
        CheckKind::Udp(UdpCheck {
            payload: b"PING".to_vec(),
            require_reply: require.map(<[u8]>::to_vec),
            require_reply_mask: None,
            min_reply_length: min,
            max_reply_length: max,
        })
    };
    assert_eq!(run(&b, &checker(udp(Some(b"PING"), 0, 255), v4(7007))), OK);
    assert_eq!(
        run(&b, &checker(udp(Some(b"PING"), 0, 255), v4(7008))),
        fail("UDP check to [10.88.0.2]:tcp:7008 reply data mismatch.")
    );
    assert_eq!(
        run(&b, &checker(udp(Some(b"PING"), 5, 255), v4(7007))),
        fail("UDP check to [10.88.0.2]:tcp:7007 reply data mismatch.")
    );
    // ICMP port unreachable.
    assert_eq!(
        run(&b, &checker(udp(None, 0, 255), v4(7009))),
        fail("UDP connection to [10.88.0.2]:tcp:7009 failed.")
    );
    // Silence: success unless a reply is required.
    assert_eq!(run(&b, &checker(udp(None, 0, 255), v4(7010))), OK);
    assert_eq!(
        run(&b, &checker(udp(Some(b""), 0, 255), v4(7010))),
        fail("UDP connection to [10.88.0.2]:tcp:7010 failed.")
    );
}

#[test]
fn ping_check() {
    let Some(b) = bench("ping_check") else { return };
    assert_eq!(run(&b, &checker(CheckKind::Ping, v4(0))), OK);
    let v6 = SocketAddr::new(IpAddr::V6(SERVER6), 0);
    assert_eq!(run(&b, &checker(CheckKind::Ping, v6)), OK);
    let nobody = SocketAddr::new(IpAddr::V4(NOBODY), 0);
    assert_eq!(
        run(&b, &checker(CheckKind::Ping, nobody)),
        fail("ICMP connection to address [10.88.0.9]:tcp:0 timeout.")
    );
    // The same through ping sockets, once the group range allows them (above: raw
    // sockets, a namespace's default range allows nobody).
    b.lan
        .host(0)
        .ns
        .sysctl("net.ipv4.ping_group_range", "0 2147483647")
        .expect("ping_group_range");
    assert_eq!(run(&b, &checker(CheckKind::Ping, v4(0))), OK);
    assert_eq!(run(&b, &checker(CheckKind::Ping, v6)), OK);
    assert_eq!(
        run(&b, &checker(CheckKind::Ping, nobody)),
        fail("ICMP connection to address [10.88.0.9]:tcp:0 timeout.")
    );
}

/// A thousand TCP_CHECKs at once on one thread: every one finishes, and the event loop
/// polls each only a bounded number of times (no thread per check, no busy polling).
#[test]
fn a_thousand_tcp_checks_share_one_thread() {
    let Some(b) = bench("a_thousand_tcp_checks_share_one_thread") else {
        return;
    };
    const N: usize = 1000;
    let c = checker(CheckKind::Tcp, v4(9000));
    let ctx = ctx_for(v4(9000));
    let (results, polls, threads) = run_in(&b.lan.host(0).ns, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::sync::Mutex::new(std::collections::HashSet::new());
        let results = rt.block_on(futures_join_all((0..N).map(|_| Counted {
            inner: Box::pin(check::attempt(&c, &ctx)),
            polls: &polls,
            threads: &threads,
        })));
        (results, polls.into_inner(), threads.into_inner().unwrap())
    });
    assert!(
        results.iter().all(|r| *r == OK),
        "{:?}",
        results.iter().find(|r| **r != OK)
    );
    assert_eq!(
        threads.len(),
        1,
        "attempts ran on {} threads",
        threads.len()
    );
    // Connect started in the first poll, done in the second; a spare for wakeups.
    eprintln!("{N} TCP_CHECK attempts: {polls} polls on one thread");
    assert!(polls <= 3 * N, "{polls} polls for {N} attempts");
}

/// Polls every future in turn on one task, as a join_all without its dependency.
async fn futures_join_all<F: Future + Unpin>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<Option<F>> = futs.map(Some).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if let Some(fut) = f {
                match std::pin::Pin::new(fut).poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *o = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.expect("finished")).collect()
}

/// A future that counts its polls and the threads they ran on.
struct Counted<'a, F> {
    inner: std::pin::Pin<Box<F>>,
    polls: &'a std::sync::atomic::AtomicUsize,
    threads: &'a std::sync::Mutex<std::collections::HashSet<std::thread::ThreadId>>,
}

impl<F: Future> Future for Counted<'_, F> {
    type Output = F::Output;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        self.inner.as_mut().poll(cx)
    }
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    let mut f = std::fs::File::create(&p).expect("script");
    writeln!(f, "#!/bin/sh\n{body}").expect("write");
    drop(f);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

#[test]
fn misc_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let misc = |body: &str, dynamic: bool, timeout: Option<Duration>| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = script(dir.path(), &format!("check{i}.sh"), body);
        let p = path.display().to_string();
        Checker {
            connect: None,
            kind: CheckKind::Misc(MiscCheck {
                path: ScriptCommand {
                    text: p.clone(),
                    argv: vec![p],
                    user: None,
                    loc: loc(),
                },
                timeout,
                dynamic,
                user_at: None,
                user: None,
            }),
            ..checker(CheckKind::Tcp, v4(0))
        }
    };
    let ctx = ctx_for(v4(80));
    let name = |c: &Checker| match &c.kind {
        CheckKind::Misc(m) => m.path.argv[0].clone(),
        _ => unreachable!(),
    };
    let c = misc("exit 0", false, None);
    assert_eq!(block_on(check::attempt(&c, &ctx)), OK);
    let c = misc("exit 1", true, None);
    assert_eq!(
        block_on(check::attempt(&c, &ctx)),
        fail(&format!(
            "Misc check for [[10.88.0.2]:tcp:80 VS [10.88.0.100]:tcp:80] by [{}] failed (exited with status 1).",
            name(&c)
        ))
    );
    let c = misc("exit 7", true, None);
    assert_eq!(
        block_on(check::attempt(&c, &ctx)),
        Attempt::Success { weight: Some(5) }
    );
    let c = misc("exit 2", true, None);
    assert_eq!(
        block_on(check::attempt(&c, &ctx)),
        Attempt::Success { weight: Some(0) }
    );
    let c = misc("exit 7", false, None);
    assert!(
        matches!(block_on(check::attempt(&c, &ctx)), Attempt::Failure(t) if t.ends_with("failed (exited with status 7)."))
    );
    let c = misc("kill -9 $$", false, None);
    assert!(
        matches!(block_on(check::attempt(&c, &ctx)), Attempt::Failure(t) if t.ends_with("failed (due to signal 9)."))
    );
    let mut c = misc("exit 0", false, None);
    if let CheckKind::Misc(m) = &mut c.kind {
        m.path.argv = vec!["/nonexistent/check.sh".to_owned()];
    }
    assert_eq!(
        block_on(check::attempt(&c, &ctx)),
        fail(
            "Misc check for [[10.88.0.2]:tcp:80 VS [10.88.0.100]:tcp:80] by [/nonexistent/check.sh] failed (cannot be run)."
        )
    );
    let c = misc("exec sleep 30", false, Some(Duration::from_millis(300)));
    assert_eq!(
        block_on(check::attempt(&c, &ctx)),
        fail(&format!(
            "Misc check for [[10.88.0.2]:tcp:80 VS [10.88.0.100]:tcp:80] by [{}] timed out.",
            name(&c)
        ))
    );
}

#[test]
fn file_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("weight");
    let mut map = TrackFileMap::default();
    map.files.insert(
        "f".to_owned(),
        TrackFileSpec {
            path: path.clone(),
            weight: 0,
            reverse: false,
        },
    );
    let mut ctx = ctx_for(v4(80));
    ctx.server_weight = 10;
    ctx.track_files = Arc::new(map);
    let file = |weight: Option<i32>, reverse: bool| Checker {
        connect: None,
        kind: CheckKind::File(FileCheck {
            track_file: "f".to_owned(),
            weight,
            reverse,
        }),
        ..checker(CheckKind::Tcp, v4(0))
    };
    let run = |c: &Checker| block_on(check::attempt(c, &ctx));
    // Missing file: 0, up with its weight 0.
    assert_eq!(run(&file(None, false)), OK);
    std::fs::write(&path, "3\n").expect("write");
    assert_eq!(
        run(&file(None, false)),
        fail("([10.88.0.2]:tcp:80): tracked file f now FAULT state")
    );
    assert_eq!(
        run(&file(Some(2), false)),
        Attempt::Success { weight: Some(16) }
    );
    assert_eq!(
        run(&file(Some(2), true)),
        Attempt::Success { weight: Some(4) }
    );
    std::fs::write(&path, "0").expect("write");
    assert_eq!(
        run(&file(Some(0), true)),
        fail("([10.88.0.2]:tcp:80): tracked file f now FAULT state")
    );
    let mut other = file(None, false);
    other.kind = CheckKind::File(FileCheck {
        track_file: "nope".to_owned(),
        weight: None,
        reverse: false,
    });
    assert_eq!(run(&other), fail("track_file nope not found"));
}
