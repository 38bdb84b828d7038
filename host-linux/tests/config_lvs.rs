//! The LVS half of keepalived.conf read into the typed model (`config::lvs`) with the
//! effective values keepalived 2.2.7's checker process runs: the two seed LVS
//! configurations (their corpus copies), inheritance from the virtual server to the real
//! server to the checker, and keepalived's corrections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vigil_linux::config::lvs::{
    CheckKind, ForwardMethod, GroupMember, HttpProtocol, IpvsProtocol, LvsConf, TunnelChecksum,
    TunnelType, VsKey,
};
use vigil_linux::config::{self, Loaded, exit};

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/config-corpus")
        .join(name)
}

fn lvs_of(l: &Loaded) -> &LvsConf {
    &l.config
        .as_ref()
        .or(l.rejected.as_ref())
        .expect("a configuration was read")
        .lvs
}

fn load(text: &str) -> Loaded {
    config::load_str(Path::new("lvs-test.conf"), text)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn lvs_dr_seed_reads_into_effective_values() {
    let l = config::load(&corpus("005-seed-ka67-lvs-dr.conf"));
    let lvs = lvs_of(&l);
    assert_eq!(lvs.virtual_servers.len(), 2);
    assert!(lvs.groups.is_empty() && lvs.ssl.is_none());
    let vs = &lvs.virtual_servers[0];
    assert_eq!(vs.key, VsKey::Address(sa("10.16.8.100:80")));
    assert_eq!(vs.loc.line, 46);
    assert_eq!(vs.protocol, IpvsProtocol::Tcp);
    assert_eq!(vs.scheduler, "rr");
    assert_eq!(vs.forward, ForwardMethod::Dr);
    assert_eq!(vs.delay_loop, Duration::from_secs(3));
    assert_eq!((vs.quorum, vs.hysteresis), (1, 0));
    assert!(vs.persistence.is_none() && vs.sorry_server.is_none());
    // keepalived's defaults: a virtual server alerts only if asked, a real server does.
    assert_eq!(vs.smtp_alert, Some(false));
    assert_eq!(vs.real_servers.len(), 2);
    let rs = &vs.real_servers[1];
    assert_eq!(rs.addr, sa("10.16.8.9:80"));
    assert_eq!((rs.weight, rs.forward), (1, ForwardMethod::Dr));
    assert!(!rs.inhibit_on_failure && !rs.alpha);
    assert_eq!(rs.smtp_alert, Some(true));
    assert_eq!(rs.checkers.len(), 1);
    let c = &rs.checkers[0];
    // delay_loop from the virtual server, retry from nb_get_retry, warmup defaults to
    // the delay loop.
    assert_eq!(c.timing.delay_loop, Duration::from_secs(3));
    assert_eq!(c.timing.retry, 3);
    assert_eq!(c.timing.delay_before_retry, Duration::from_secs(1));
    assert_eq!(c.timing.warmup, Duration::from_secs(3));
    assert!(!c.timing.alpha);
    let co = c.connect.as_ref().expect("HTTP_GET connects");
    assert_eq!(co.addr, sa("10.16.8.9:80"));
    assert_eq!(co.timeout, Duration::from_secs(1));
    let CheckKind::Http(h) = &c.kind else {
        panic!("HTTP_GET: {:?}", c.kind)
    };
    assert_eq!(h.protocol, HttpProtocol::Http10);
    assert_eq!(h.urls.len(), 1);
    assert_eq!(h.urls[0].path, "/");
    assert_eq!(h.urls[0].status_codes, [(200, 200)]);
    assert!(h.urls[0].digest.is_none());
    // keepalived complains about nb_get_retry, once per use.
    let deprecated = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("nb_get_retry is deprecated"))
        .count();
    assert_eq!(deprecated, 4);
}

#[test]
fn stock_sample_seed_reads_into_effective_values() {
    let l = config::load(&corpus("010-seed-stock-sample.conf"));
    let lvs = lvs_of(&l);
    assert_eq!(lvs.virtual_servers.len(), 2);
    let ssl_vs = &lvs.virtual_servers[0];
    assert_eq!(ssl_vs.key, VsKey::Address(sa("192.168.200.100:443")));
    assert_eq!(ssl_vs.forward, ForwardMethod::Nat);
    assert_eq!(ssl_vs.persistence.as_ref().map(|p| p.timeout), Some(50));
    let c = &ssl_vs.real_servers[0].checkers[0];
    let CheckKind::Ssl(s) = &c.kind else {
        panic!("SSL_GET: {:?}", c.kind)
    };
    assert_eq!(s.urls.len(), 2);
    assert_eq!(s.urls[1].path, "/mrtg/");
    let d = s.urls[1].digest.expect("digest");
    assert_eq!(d[0], 0x9b);
    assert_eq!(d[15], 0xcd);
    // No status_code: keepalived's default 200-299.
    assert_eq!(s.urls[0].status_codes, [(200, 299)]);
    assert_eq!(c.timing.delay_loop, Duration::from_secs(6));
    assert_eq!(c.timing.delay_before_retry, Duration::from_secs(3));
    assert_eq!(c.connect.as_ref().unwrap().timeout, Duration::from_secs(3));

    let vs = &lvs.virtual_servers[1];
    assert_eq!(vs.key, VsKey::Address(sa("10.10.10.2:1358")));
    let sorry = vs.sorry_server.as_ref().expect("sorry_server");
    assert_eq!(sorry.addr, sa("192.168.200.200:1358"));
    assert_eq!(sorry.forward, ForwardMethod::Nat);
    assert!(!sorry.inhibit);
    let CheckKind::Http(h) = &vs.real_servers[0].checkers[0].kind else {
        panic!("HTTP_GET")
    };
    assert_eq!(h.urls.len(), 3);
    assert!(h.urls.iter().all(|u| u.digest.is_some()));
}

#[test]
fn checkers_inherit_from_their_real_server_and_virtual_server() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n\
         lb_algo wrr\n lb_kind NAT\n protocol TCP\n delay_loop 10\n retry 5\n\
         connect_timeout 4\n inhibit_on_failure\n alpha\n virtualhost vs.example\n\
         real_server 10.0.0.2 {\n delay_before_retry 2\n virtualhost rs.example\n\
         HTTP_GET {\n url {\n path /\n }\n }\n\
         TCP_CHECK {\n connect_ip 10.0.0.9\n retry 1\n alpha no\n }\n\
         MISC_CHECK {\n misc_path /bin/true\n }\n\
         DNS_CHECK {\n }\n }\n}\n",
    );
    let vs = &lvs_of(&l).virtual_servers[0];
    let rs = &vs.real_servers[0];
    // A NAT real server without port takes the service's.
    assert_eq!(rs.addr, sa("10.0.0.2:80"));
    assert!(rs.inhibit_on_failure && rs.alpha);
    assert_eq!(rs.virtualhost.as_deref(), Some("rs.example"));
    let [http, tcp, misc, dns] = &rs.checkers[..] else {
        panic!("four checkers: {:?}", rs.checkers)
    };
    assert_eq!(http.timing.retry, 5);
    assert_eq!(http.timing.delay_before_retry, Duration::from_secs(2));
    assert!(http.timing.alpha);
    assert_eq!(
        http.connect.as_ref().unwrap().timeout,
        Duration::from_secs(4)
    );
    let CheckKind::Http(h) = &http.kind else {
        panic!()
    };
    assert_eq!(h.virtualhost.as_deref(), Some("rs.example"));
    let co = tcp.connect.as_ref().unwrap();
    assert_eq!(co.addr, sa("10.0.0.9:80"));
    assert_eq!(tcp.timing.retry, 1);
    assert!(!tcp.timing.alpha);
    assert!(misc.connect.is_none());
    let CheckKind::Misc(m) = &misc.kind else {
        panic!()
    };
    assert_eq!(m.path.argv, ["/bin/true"]);
    let CheckKind::Dns(d) = &dns.kind else {
        panic!()
    };
    assert_eq!((d.qtype, d.name.as_str()), (6, "."));
    assert_eq!(dns.timing.retry, 5);
}

#[test]
fn checker_defaults_without_service_values() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n\
         real_server 10.0.0.2 80 {\n MISC_CHECK {\n misc_path /bin/true\n }\n\
         DNS_CHECK {\n }\n TCP_CHECK {\n }\n }\n}\n",
    );
    let rs = &lvs_of(&l).virtual_servers[0].real_servers[0];
    let [misc, dns, tcp] = &rs.checkers[..] else {
        panic!()
    };
    // keepalived's per-checker defaults: MISC_CHECK retries 0 times, DNS_CHECK 3 times
    // with the delay loop between, the others once after 1 s; 60 s loops, 5 s timeouts.
    assert_eq!(misc.timing.retry, 0);
    assert_eq!(dns.timing.retry, 3);
    assert_eq!(dns.timing.delay_before_retry, Duration::from_secs(60));
    assert_eq!(tcp.timing.retry, 1);
    assert_eq!(tcp.timing.delay_before_retry, Duration::from_secs(1));
    assert_eq!(tcp.timing.delay_loop, Duration::from_secs(60));
    assert_eq!(
        tcp.connect.as_ref().unwrap().timeout,
        Duration::from_secs(5)
    );
}

#[test]
fn keepalived_corrections_are_warnings_with_the_corrected_values() {
    let l = load(
        "virtual_server 10.0.0.1 80 {\n lb_kind DR\n quorum 9\n hysteresis 9\n\
         real_server 10.0.0.2 8080 {\n weight 3\n }\n\
         real_server 10.0.0.2 8080 {\n }\n}\n\
         virtual_server fwmark 7 {\n lb_algo rr\n lb_kind TUN type gue port 6080\n\
         real_server 10.0.0.3 80 {\n }\n}\n",
    );
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    assert!(!l.has_errors(), "{:?}", l.diagnostics);
    let lvs = lvs_of(&l);
    let vs = &lvs.virtual_servers[0];
    assert_eq!(vs.protocol, IpvsProtocol::Udp, "no protocol: UDP");
    assert_eq!(vs.scheduler, "wlc");
    assert_eq!(vs.real_servers.len(), 1, "the duplicate is removed");
    // A DR real server's port is reset to the service's.
    assert_eq!(vs.real_servers[0].addr, sa("10.0.0.2:80"));
    assert_eq!((vs.quorum, vs.hysteresis), (3, 2));
    let fw = &lvs.virtual_servers[1];
    assert_eq!(fw.key, VsKey::Fwmark(7));
    assert_eq!(
        fw.real_servers[0].forward,
        ForwardMethod::Tun(TunnelType::Gue {
            port: 6080,
            csum: TunnelChecksum::None,
        })
    );
    // A tunnelled fwmark service's real server keeps no port.
    assert_eq!(fw.real_servers[0].addr.port(), 0);
    for m in [
        "no protocol set - defaulting to UDP",
        "no scheduler set, setting default 'wlc'",
        "is duplicated - removing second rs",
        "ports don't match - resetting",
        "reducing quorum to 3",
        "setting hysteresis to 2",
        "has port specified - clearing",
    ] {
        assert!(
            l.diagnostics.iter().any(|d| d.message.contains(m)),
            "{m}: {:#?}",
            l.diagnostics
        );
    }
}

#[test]
fn a_missing_lvs_value_exits_2_but_the_vrrp_part_still_runs() {
    let l = load(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n\
         virtual_ipaddress {\n 10.0.0.100\n }\n}\n\
         virtual_server 10.0.0.1 80 {\n lb_algo\n real_server 10.0.0.2 80 {\n }\n}\n",
    );
    assert_eq!(config::test_exit_code(&l), exit::ABORT);
    assert!(l.config.is_some(), "{:#?}", l.diagnostics);
}

#[test]
fn groups_ssl_and_bad_values() {
    let l = load(
        "SSL {\n ca /etc/ca.pem\n key /etc/k.pem\n}\n\
         virtual_server_group G {\n 10.1.0.1-9 443\n 10.2.0.0/30 443\n fwmark 3 inet\n}\n\
         virtual_server group G {\n lb_algo bogus\n protocol TCP\n\
         real_server 10.1.0.50 443 {\n HTTP_GET {\n url {\n path /\n digest xyz\n\
         status_code 99 301-302\n }\n }\n }\n}\n",
    );
    let lvs = lvs_of(&l);
    let ssl = lvs.ssl.as_ref().unwrap();
    assert_eq!(ssl.ca.as_deref(), Some("/etc/ca.pem"));
    assert_eq!(ssl.key.as_deref(), Some("/etc/k.pem"));
    let g = &lvs.groups[0];
    assert_eq!(g.members.len(), 3);
    let GroupMember::Address { last, .. } = &g.members[1] else {
        panic!()
    };
    assert_eq!(last.to_string(), "10.2.0.3");
    let vs = &lvs.virtual_servers[0];
    assert_eq!(vs.key, VsKey::Group("G".into()));
    assert_eq!(vs.scheduler, "wlc", "a bad lb_algo is ignored");
    let CheckKind::Http(h) = &vs.real_servers[0].checkers[0].kind else {
        panic!()
    };
    assert!(h.urls[0].digest.is_none());
    assert_eq!(h.urls[0].status_codes, [(301, 302)]);
    for (line, m) in [
        (11, "Invalid lvs_scheduler 'bogus'"),
        (17, "character length should be 32 rather than 3"),
        (18, "Invalid HTTP_GET status code '99'"),
    ] {
        assert!(
            l.diagnostics
                .iter()
                .any(|d| d.line() == line && d.message.contains(m)),
            "line {line}: {m}: {:#?}",
            l.diagnostics
        );
    }
}

#[test]
fn smtp_host_blocks_are_one_checker_each() {
    let l = load(
        "virtual_server 10.0.0.1 25 {\n lb_algo rr\n lb_kind DR\n protocol TCP\n\
         real_server 10.0.0.2 25 {\n SMTP_CHECK {\n retry 4\n\
         host {\n connect_ip 10.0.0.20\n }\n host {\n connect_port 587\n }\n }\n\
         SMTP_CHECK {\n connect_timeout 2\n host {\n connect_ip 10.0.0.21\n }\n }\n }\n}\n",
    );
    let rs = &lvs_of(&l).virtual_servers[0].real_servers[0];
    let to: Vec<SocketAddr> = rs
        .checkers
        .iter()
        .map(|c| c.connect.as_ref().unwrap().addr)
        .collect();
    // Without options of its own the checker takes its first host's connection; with
    // one (connect_timeout) it keeps its own and every host is one more checker.
    assert_eq!(
        to,
        [
            sa("10.0.0.20:25"),
            sa("10.0.0.2:587"),
            sa("10.0.0.2:25"),
            sa("10.0.0.21:25")
        ]
    );
    assert!(rs.checkers[..2].iter().all(|c| c.timing.retry == 4));
    // A host without connect_timeout: the real server's (keepalived leaves it 0:
    // docs/config-lvs.md).
    assert_eq!(
        rs.checkers[3].connect.as_ref().unwrap().timeout,
        Duration::from_secs(5)
    );
    assert_eq!(
        rs.checkers[2].connect.as_ref().unwrap().timeout,
        Duration::from_secs(2)
    );
}
