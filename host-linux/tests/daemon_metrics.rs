//! The metrics endpoint with the real clients: a vigild pair in namespaces serving
//! `--metrics-listen`, Debian's Prometheus scraping both every second from a third
//! namespace, and `promtool check metrics` on what the endpoint serves.
//!
//! The test asks Prometheus's HTTP API (as a dashboard does) for
//! `keepalived_vrrp_state`, the keepalived exporter's metric, and sees lb2 go from
//! BACKUP (1) to MASTER (2) after lb1 is killed, with the takeover counted by reason
//! and timed in the failover-latency histogram.
//!
//! Skips when not root, or when Prometheus is not installed (scripts/setup installs it;
//! under `VIGIL_REQUIRE_PRIVILEGED=1` a missing Prometheus fails).

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use vigil_tests::netns::{KillOnDrop, Netns, privileged_or_skip, run_in};

const PORT: u16 = 9650;
const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// One HTTP/1.1 GET from inside `ns`: (status line, body), or `None` if nothing
/// answered within 2 s.
fn get(ns: &Netns, addr: SocketAddr, target: &str) -> Option<(String, String)> {
    let target = target.to_owned();
    run_in(ns, move || {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n")?;
        let status = head.lines().next()?.to_owned();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_owned()
        };
        Some((status, body))
    })
}

/// Prometheus answers small API responses chunked.
fn unchunk(mut s: &str) -> String {
    let mut out = String::new();
    for _ in 0..10_000 {
        let Some((size, rest)) = s.split_once("\r\n") else {
            break;
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn percent_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the single series an instant query returns, if exactly one.
fn query(ns: &Netns, promql: &str) -> Option<String> {
    let api: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let (status, body) = get(
        ns,
        api,
        &format!("/api/v1/query?query={}", percent_encode(promql)),
    )?;
    if !status.contains(" 200 ") {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    Some(result[0]["value"][1].as_str()?.to_owned())
}

/// Every query of the Grafana dashboard (contrib/grafana/vigil.json), its variables
/// filled in as Grafana fills them: Prometheus must accept each one, and the state
/// panel must show both hosts.
fn check_dashboard(ns: &Netns) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contrib/grafana/vigil.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let api: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    let mut checked = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$instance", ".*")
                .replace("$iname", ".*")
                .replace("$__rate_interval", "5s");
            let (status, body) = get(
                ns,
                api,
                &format!("/api/v1/query?query={}", percent_encode(&expr)),
            )
            .expect("Prometheus answers");
            assert!(
                status.contains(" 200 "),
                "{}: {expr}: {body}",
                panel["title"]
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["status"], "success", "{expr}: {body}");
            if panel["title"]
                .as_str()
                .unwrap()
                .starts_with("State by instance")
            {
                assert_eq!(
                    v["data"]["result"].as_array().unwrap().len(),
                    2,
                    "{expr}: {body}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} queries in the dashboard");
}

fn endpoint(i: usize) -> SocketAddr {
    SocketAddr::from((host_ip(i), PORT))
}

fn scrape(ns: &Netns, i: usize) -> String {
    let (status, body) = get(ns, endpoint(i), "/metrics")
        .unwrap_or_else(|| panic!("no answer from {}", endpoint(i)));
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    body
}

/// `promtool check metrics` (stdin): the exposition parses and passes its lint.
fn promtool_check(text: &str) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- the exposition ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn has_prometheus() -> bool {
    let there =
        std::path::Path::new(PROMETHEUS).exists() && std::path::Path::new(PROMTOOL).exists();
    if !there {
        assert!(
            std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
            "Prometheus is not installed (scripts/setup installs it)"
        );
        eprintln!("SKIP: Prometheus is not installed (scripts/setup installs it)");
    }
    there
}

#[test]
fn prometheus_sees_the_failover() {
    if !privileged_or_skip("prometheus_sees_the_failover") || !has_prometheus() {
        return;
    }
    let lan = lan("vmt", 3);
    let dir = workdir("metrics");
    let listen = format!("0.0.0.0:{PORT}");
    let args = ["--metrics-listen", listen.as_str()];
    let script = "vrrp_script chk {\n    script \"/bin/true\"\n    interval 1\n}\n";
    let track = "    track_script {\n        chk\n    }";
    let a = Inst::v3("VI_1", 51, "BACKUP", 150, "0.1").with_extra(track);
    let b = Inst::v3("VI_1", 51, "BACKUP", 100, "0.1").with_extra(track);
    let conf1 = global_defs("lb1", "") + script + &a.render();
    let conf2 = global_defs("lb2", "") + script + &b.render();
    let mut lb1 = Vigild::start_args(&lan.host(0).ns, dir.path(), "lb1", &conf1, &args);
    lb1.expect_state("VI_1", "MASTER", Duration::from_secs(5));
    let lb2 = Vigild::start_args(&lan.host(1).ns, dir.path(), "lb2", &conf2, &args);
    lb2.expect_state("VI_1", "BACKUP", Duration::from_secs(5));
    let client = &lan.host(2).ns;

    // The endpoint, from the client's namespace: keepalived's exporter's series and
    // ours, and promtool's approval.
    let vip = format!("{VIP}/24");
    let state_line = |v: u8| {
        format!(
            "keepalived_vrrp_state{{iname=\"VI_1\",intf=\"eth0\",vrid=\"51\",ip_address=\"{vip}\"}} {v}\n"
        )
    };
    let text = wait_for(Duration::from_secs(5), Duration::from_millis(100), || {
        let t = scrape(client, 0);
        t.contains("keepalived_script_status{name=\"chk\"} 1")
            .then_some(t)
    })
    .unwrap_or_else(|| panic!("lb1's script never reported GOOD:\n{}", scrape(client, 0)));
    assert!(text.contains(&state_line(2)), "{text}");
    assert!(scrape(client, 1).contains(&state_line(1)));
    promtool_check(&text);
    promtool_check(&scrape(client, 1));
    let (status, _) = get(client, endpoint(0), "/").unwrap();
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");

    // `vigild status --prometheus` prints the same families.
    let out = Command::new(VIGILD)
        .args(["status", "--prometheus", "--control"])
        .arg(&lb1.sock)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cli = String::from_utf8(out.stdout).unwrap();
    let families = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("# TYPE "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(families(&cli), families(&text));
    promtool_check(&cli);

    // Prometheus in the client's namespace, scraping both every second.
    let storage = dir.path().join("tsdb");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: vigild\n    static_configs:\n      \
             - targets: ['{}', '{}']\n",
            endpoint(0),
            endpoint(1)
        ),
    )
    .unwrap();
    let log = dir.path().join("prometheus.log");
    let _prometheus = KillOnDrop(
        client
            .command(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", storage.display()))
            .arg("--web.listen-address=127.0.0.1:9090")
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("starting prometheus"),
    );
    let prom_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let api: SocketAddr = "127.0.0.1:9090".parse().unwrap();
    wait_for(Duration::from_secs(30), Duration::from_millis(200), || {
        get(client, api, "/-/ready").filter(|(s, _)| s.contains(" 200 "))
    })
    .unwrap_or_else(|| panic!("Prometheus not ready in 30 s:\n{}", prom_log()));

    let lb2_state = format!(
        "keepalived_vrrp_state{{iname=\"VI_1\",instance=\"{}\"}}",
        endpoint(1)
    );
    let lb1_state = format!(
        "keepalived_vrrp_state{{iname=\"VI_1\",instance=\"{}\"}}",
        endpoint(0)
    );
    let seen = |promql: &str, want: &str, timeout: Duration| {
        wait_for(timeout, Duration::from_millis(250), || {
            (query(client, promql).as_deref() == Some(want)).then_some(())
        })
        .is_some()
    };
    assert!(
        seen(&lb2_state, "1", Duration::from_secs(20))
            && seen(&lb1_state, "2", Duration::from_secs(5)),
        "Prometheus never saw lb1 MASTER and lb2 BACKUP: {:?} {:?}\n{}",
        query(client, &lb1_state),
        query(client, &lb2_state),
        prom_log()
    );

    check_dashboard(client);

    // Stop the master: lb2 takes over, and Prometheus sees it within a few scrapes.
    lb1.kill();
    lan.host(0)
        .ns
        .exec_ok(&["ip", "link", "set", "eth0", "down"])
        .unwrap();
    lb2.expect_state("VI_1", "MASTER", Duration::from_secs(5));
    assert!(
        seen(&lb2_state, "2", Duration::from_secs(20)),
        "Prometheus did not see lb2 MASTER: {:?}\n{}",
        query(client, &lb2_state),
        lb2.log_text()
    );
    let lb2_q = |m: &str| format!("{m}{{instance=\"{}\"}}", endpoint(1));
    assert_eq!(
        query(
            client,
            &format!(
                "vigil_instance_transitions_total{{instance=\"{}\",state=\"MASTER\",reason=\"master_down\"}}",
                endpoint(1)
            )
        )
        .as_deref(),
        Some("1")
    );
    assert_eq!(
        query(client, &lb2_q("vigil_failover_latency_seconds_count")).as_deref(),
        Some("1")
    );
    assert_eq!(
        query(client, &lb2_q("keepalived_become_master_total")).as_deref(),
        Some("1")
    );
    // The takeover was timed, and quick (the bound is loose: a debug build on a
    // shared machine; the benchmark measures it).
    let latency: f64 = query(client, &lb2_q("vigil_failover_latency_seconds_sum"))
        .and_then(|v| v.parse().ok())
        .expect("latency sum");
    assert!(
        latency > 0.0 && latency < 1.0,
        "failover latency {latency} s"
    );
    // The scrape of the dead lb1 fails: `up` says so.
    assert!(seen(
        &format!("up{{instance=\"{}\"}}", endpoint(0)),
        "0",
        Duration::from_secs(10)
    ));
    promtool_check(&scrape(client, 1));

    // Reloads and their results: a broken file is rejected (the running configuration
    // stays), a good one loads.
    let reloads = |result: &str| {
        let line = format!("vigil_reloads_total{{result=\"{result}\"}} ");
        scrape(client, 1)
            .lines()
            .find_map(|l| l.strip_prefix(&line).map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(reloads("ok"), "0");
    std::fs::write(
        &lb2.conf,
        "vrrp_instance VI_1 {\n    virtual_router_id 300\n}\n",
    )
    .unwrap();
    lb2.signal(nix::sys::signal::Signal::SIGHUP);
    let counted = |result: &str| {
        wait_for(Duration::from_secs(5), Duration::from_millis(150), || {
            (reloads(result) == "1").then_some(())
        })
        .is_some()
    };
    assert!(counted("rejected"), "{}", lb2.log_text());
    std::fs::write(&lb2.conf, &conf2).unwrap();
    lb2.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(counted("ok"), "{}", lb2.log_text());
    let text = scrape(client, 1);
    assert!(
        text.contains("vigil_last_reload_success_timestamp_seconds "),
        "{text}"
    );
    // The script ran, and its runs were counted and timed.
    assert!(
        text.contains("vigil_script_runs_total{name=\"chk\",result=\"success\"} ")
            && text.contains("vigil_script_duration_seconds_bucket{name=\"chk\",le=\"+Inf\"} "),
        "{text}"
    );
    promtool_check(&text);
}
