//! IPVS through generic netlink against a real kernel, with `ipvsadm` as the reader.
//!
//! - `kernel_table_matches_ipvsadm` adds, lists, edits and deletes services (address
//!   and fwmark, TCP/UDP/SCTP, IPv4/IPv6, persistence, scheduler flags) and destinations
//!   (NAT, DR, the three tunnels, weights, thresholds) through `NetlinkIpvs`, and checks
//!   after each step that `ipvsadm -Ln` shows exactly the table meant, and that a
//!   service another tool added is left alone. It runs in a network namespace of its own
//!   on a host whose kernel has the `IPVS` family, and skips with the reason where it has
//!   not (this development machine); `VIGIL_REQUIRE_IPVS=1` turns the skip into a
//!   failure (the VM wrapper sets it).
//! - `kernel_table_in_the_vm` boots Debian 12's kernel in qemu (`tests/src/vm.rs`)
//!   with this very test binary and runs the test above in the guest.
//! - `kernel_errors` is the table of errors the kernel gives; it runs in the guest too,
//!   and against `MemoryIpvs` everywhere (`memory_table_errs_as_the_kernel`), so the
//!   in-memory table the engine is tested with fails as the kernel does.

use std::io;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use vigil_linux::config::lvs::{ForwardMethod, TunnelChecksum, TunnelType};
use vigil_linux::lvs::ipvs::installed::Installed;
use vigil_linux::lvs::ipvs::memory::MemoryIpvs;
use vigil_linux::lvs::ipvs::netlink::NetlinkIpvs;
use vigil_linux::lvs::ipvs::{
    AddrFamily, Dest, Ipvs, Protocol, SVC_F_ONEPACKET, SVC_F_PERSISTENT, SVC_F_SCHED1,
    SVC_F_SCHED2, Service, ServiceKey,
};
use vigil_tests::netns::{Netns, privileged_or_skip, run_in};
use vigil_tests::vm::{self, Guest, GuestSpec, normalise_ipvsadm};

const REQUIRE_IPVS_ENV: &str = "VIGIL_REQUIRE_IPVS";
/// Set in the guest: the guest is the sandbox, no namespace needed (nor `ip netns`).
const IN_GUEST_ENV: &str = "VIGIL_IN_GUEST";

fn addr_key(protocol: Protocol, addr: &str) -> ServiceKey {
    ServiceKey::Addr {
        protocol,
        addr: addr.parse().unwrap(),
    }
}

fn service(key: ServiceKey, scheduler: &str) -> Service {
    let netmask = match key.family() {
        AddrFamily::Inet => 0xffff_ffff,
        AddrFamily::Inet6 => 128,
    };
    Service {
        key,
        scheduler: scheduler.into(),
        flags: 0,
        timeout: 0,
        netmask,
        pe_name: None,
    }
}

fn dest(addr: &str, forward: ForwardMethod, weight: u32) -> Dest {
    Dest {
        addr: addr.parse().unwrap(),
        forward,
        weight,
        u_threshold: 0,
        l_threshold: 0,
    }
}

fn errno<T: std::fmt::Debug>(what: &str, r: io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("{what}: succeeded ({v:?}) where the kernel refuses"),
        Err(e) => e
            .raw_os_error()
            .unwrap_or_else(|| panic!("{what}: {e} is not an errno")),
    }
}

/// The errors the kernel gives (Linux 6.1), on a table without 192.0.2.1:8080.
fn kernel_errors(ipvs: &mut dyn Ipvs) {
    let svc = service(addr_key(Protocol::Tcp, "192.0.2.1:8080"), "rr");
    let key = svc.key;
    let d = dest("192.0.2.20:8080", ForwardMethod::Dr, 1);
    let checks: [(&str, io::Result<()>, i32); 5] = [
        (
            "edit a missing service",
            ipvs.edit_service(&svc),
            libc::ESRCH,
        ),
        (
            "delete a missing service",
            ipvs.del_service(&key),
            libc::ESRCH,
        ),
        (
            "add to a missing service",
            ipvs.add_dest(&key, &d),
            libc::ESRCH,
        ),
        (
            "edit in a missing service",
            ipvs.edit_dest(&key, &d),
            libc::ESRCH,
        ),
        (
            "delete in a missing service",
            ipvs.del_dest(&key, d.addr),
            libc::ESRCH,
        ),
    ];
    for (what, result, want) in checks {
        assert_eq!(errno(what, result), want, "{what}");
    }
    assert!(
        ipvs.dests(&key).unwrap().is_empty(),
        "a missing service lists no dests"
    );

    let mut bad = svc.clone();
    bad.scheduler = "nope".into();
    assert_eq!(
        errno("unknown scheduler", ipvs.add_service(&bad)),
        libc::ENOENT
    );
    let mut bad = svc.clone();
    bad.pe_name = Some("nope".into());
    assert_eq!(errno("unknown pe", ipvs.add_service(&bad)), libc::ENOENT);
    let mut bad = service(
        ServiceKey::Fwmark {
            family: AddrFamily::Inet6,
            mark: 4242,
        },
        "rr",
    );
    bad.netmask = 129;
    assert_eq!(
        errno("IPv6 prefix 129", ipvs.add_service(&bad)),
        libc::EINVAL
    );

    ipvs.add_service(&svc).unwrap();
    assert_eq!(
        errno("add a service twice", ipvs.add_service(&svc)),
        libc::EEXIST
    );
    ipvs.add_dest(&key, &d).unwrap();
    assert_eq!(
        errno("add a dest twice", ipvs.add_dest(&key, &d)),
        libc::EEXIST
    );
    let other = dest("192.0.2.21:8080", ForwardMethod::Dr, 1);
    assert_eq!(
        errno("edit a missing dest", ipvs.edit_dest(&key, &other)),
        libc::ENOENT
    );
    assert_eq!(
        errno("delete a missing dest", ipvs.del_dest(&key, other.addr)),
        libc::ENOENT
    );
    let mut t = other.clone();
    t.u_threshold = 5;
    t.l_threshold = 10;
    assert_eq!(
        errno("lower threshold above upper", ipvs.add_dest(&key, &t)),
        libc::ERANGE
    );
    let mut t = other.clone();
    t.weight = u32::MAX;
    assert_eq!(
        errno("negative weight", ipvs.add_dest(&key, &t)),
        libc::ERANGE
    );
    let t = dest(
        "192.0.2.21:8080",
        ForwardMethod::Tun(TunnelType::Gue {
            port: 0,
            csum: TunnelChecksum::None,
        }),
        1,
    );
    assert_eq!(
        errno("GUE without port", ipvs.add_dest(&key, &t)),
        libc::EINVAL
    );
    let t = dest("[2001:db8::21]:8080", ForwardMethod::Dr, 1);
    assert_eq!(
        errno("IPv6 DR dest in IPv4", ipvs.add_dest(&key, &t)),
        libc::EINVAL
    );
    ipvs.del_service(&key).unwrap();
    assert!(ipvs.dests(&key).unwrap().is_empty());
}

#[test]
fn memory_table_errs_as_the_kernel() {
    let mut table = MemoryIpvs::new();
    kernel_errors(&mut table);
    assert!(table.is_empty());
}

/// Where the test programs IPVS: the guest itself, or a namespace of its own on a host.
struct Place {
    ns: Option<Netns>,
}

impl Place {
    fn ipvsadm(&self, args: &[&str]) -> String {
        let mut cmd = match &self.ns {
            Some(ns) => ns.command("ipvsadm"),
            None => Command::new("ipvsadm"),
        };
        let out = cmd.args(args).output().expect("run ipvsadm");
        assert!(
            out.status.success(),
            "ipvsadm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn table(&self) -> String {
        normalise_ipvsadm(&self.ipvsadm(&["-Ln", "--sort"]))
    }

    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        match &self.ns {
            Some(ns) => run_in(ns, f),
            None => f(),
        }
    }
}

fn expect_table(place: &Place, step: &str, want: &str) {
    let got = place.table();
    let want = normalise_ipvsadm(want);
    assert_eq!(
        got, want,
        "after {step}: ipvsadm -Ln shows\n{got}\nmeant\n{want}"
    );
}

/// Opens the kernel's table, or says why not (skip or failure).
fn open_or_skip(test: &str) -> Option<NetlinkIpvs> {
    match NetlinkIpvs::open() {
        Ok(ipvs) => Some(ipvs),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if std::env::var(REQUIRE_IPVS_ENV).is_ok_and(|v| v == "1") {
                panic!("{test}: {e} (and {REQUIRE_IPVS_ENV}=1 forbids skipping)");
            }
            eprintln!("SKIPPED {test}: {e}");
            None
        }
        Err(e) => panic!("{test}: opening the IPVS netlink socket: {e}"),
    }
}

#[test]
fn kernel_table_matches_ipvsadm() {
    const TEST: &str = "kernel_table_matches_ipvsadm";
    let in_guest = std::env::var(IN_GUEST_ENV).is_ok_and(|v| v == "1");
    if !in_guest && !privileged_or_skip(TEST) {
        return;
    }
    let place = Place {
        ns: if in_guest {
            None
        } else {
            Some(Netns::new("ipvs").expect("namespace"))
        },
    };
    place.run(|| {
        let Some(mut ipvs) = open_or_skip(TEST) else {
            return;
        };
        eprintln!("IPVS family id {}", ipvs.family_id());
        program_and_compare(&place, &mut ipvs);
        kernel_errors(&mut ipvs);
        expect_table(&place, "the error checks", "");
    });
}

fn program_and_compare(place: &Place, ipvs: &mut NetlinkIpvs) {
    // Another tool's service: it must survive everything below.
    place.ipvsadm(&["-A", "-t", "10.9.9.9:80", "-s", "rr"]);
    place.ipvsadm(&["-a", "-t", "10.9.9.9:80", "-r", "10.9.9.10:80", "-g"]);
    let foreign = "TCP 10.9.9.9:80 rr\n  -> 10.9.9.10:80 Route 1\n";

    let web = service(addr_key(Protocol::Tcp, "192.168.1.10:80"), "wlc");
    let mut dns = service(addr_key(Protocol::Udp, "192.168.1.10:53"), "rr");
    dns.flags = SVC_F_PERSISTENT;
    dns.timeout = 300;
    dns.netmask = 0xffff_ff00;
    let mut sctp = service(addr_key(Protocol::Sctp, "[2001:db8::10]:80"), "sh");
    sctp.flags = SVC_F_SCHED1 | SVC_F_SCHED2;
    let mut fwm4 = service(
        ServiceKey::Fwmark {
            family: AddrFamily::Inet,
            mark: 7,
        },
        "wrr",
    );
    fwm4.flags = SVC_F_ONEPACKET;
    let mut fwm6 = service(
        ServiceKey::Fwmark {
            family: AddrFamily::Inet6,
            mark: 8,
        },
        "lc",
    );
    fwm6.flags = SVC_F_PERSISTENT;
    fwm6.timeout = 60;
    fwm6.netmask = 64;

    let mut installed = Installed::new();
    let services = [&web, &dns, &sctp, &fwm4, &fwm6];
    let started = Instant::now();
    for svc in services {
        ipvs.add_service(svc)
            .unwrap_or_else(|e| panic!("add {:?}: {e}", svc.key));
        installed.service(svc.key);
    }
    let mut thresholds = dest("10.0.0.3:80", ForwardMethod::Nat, 2);
    thresholds.u_threshold = 100;
    thresholds.l_threshold = 10;
    let dests: Vec<(ServiceKey, Dest)> = vec![
        (web.key, dest("10.0.0.2:80", ForwardMethod::Dr, 1)),
        (web.key, thresholds),
        (
            web.key,
            dest("10.0.0.4:80", ForwardMethod::Tun(TunnelType::Ipip), 3),
        ),
        (
            web.key,
            dest(
                "10.0.0.5:80",
                ForwardMethod::Tun(TunnelType::Gue {
                    port: 6080,
                    csum: TunnelChecksum::None,
                }),
                4,
            ),
        ),
        (
            web.key,
            dest(
                "10.0.0.6:80",
                ForwardMethod::Tun(TunnelType::Gre {
                    csum: TunnelChecksum::None,
                }),
                5,
            ),
        ),
        (web.key, dest("127.0.0.1:80", ForwardMethod::Nat, 1)),
        (dns.key, dest("10.0.0.2:53", ForwardMethod::Dr, 1)),
        (sctp.key, dest("[2001:db8::2]:80", ForwardMethod::Dr, 1)),
        (fwm4.key, dest("10.0.0.7:0", ForwardMethod::Dr, 1)),
        (
            fwm6.key,
            dest("[2001:db8::3]:0", ForwardMethod::Tun(TunnelType::Ipip), 2),
        ),
    ];
    for (key, d) in &dests {
        ipvs.add_dest(key, d)
            .unwrap_or_else(|e| panic!("add {:?} to {key:?}: {e}", d.addr));
        installed.dest(*key, d.addr);
    }
    let n = services.len() + dests.len();
    eprintln!(
        "{n} adds in {:?} ({:?} each, under TCG when in the VM)",
        started.elapsed(),
        started.elapsed() / n as u32
    );

    let full = "
        TCP 192.168.1.10:80 wlc
          -> 10.0.0.2:80 Route 1
          -> 10.0.0.3:80 Masq 2
          -> 10.0.0.4:80 Tunnel 3
          -> 10.0.0.5:80 Tunnel 4
          -> 10.0.0.6:80 Tunnel 5
          -> 127.0.0.1:80 Masq 1
        UDP 192.168.1.10:53 rr persistent 300 mask 255.255.255.0
          -> 10.0.0.2:53 Route 1
        SCTP [2001:db8::10]:80 sh (sh-fallback,sh-port)
          -> [2001:db8::2]:80 Route 1
        FWM 7 wrr ops
          -> 10.0.0.7:0 Route 1
        FWM 8 IPv6 lc persistent 60 mask 64
          -> [2001:db8::3]:0 Tunnel 2
    ";
    expect_table(place, "the adds", &format!("{full}{foreign}"));
    // The tunnels' details, which -Ln does not show.
    let tun = place.ipvsadm(&["-Ln", "--tun-info", "-t", "192.168.1.10:80"]);
    eprintln!("ipvsadm -Ln --tun-info -t 192.168.1.10:80:\n{tun}");
    let tun = normalise_words(&tun);
    // ipvsadm's TunnelInfo column: type, GUE port, checksum flags (`-c`: nocsum).
    for line in [
        "-> 10.0.0.4:80 Tunnel ipip 3",
        "-> 10.0.0.5:80 Tunnel gue:6080:-c 4",
        "-> 10.0.0.6:80 Tunnel gre:-c 5",
        "-> 10.0.0.3:80 Masq n/a 2",
    ] {
        assert!(tun.contains(line), "no `{line}` in --tun-info:\n{tun}");
    }
    let thresh = normalise_words(&place.ipvsadm(&["-Ln", "--thresholds", "-t", "192.168.1.10:80"]));
    assert!(
        thresh.contains("-> 10.0.0.3:80 100 10"),
        "thresholds:\n{thresh}"
    );

    // Our own reading agrees with what was sent.
    let listed = ipvs.services_status().unwrap();
    for svc in services {
        let got = listed
            .iter()
            .find(|s| s.service.key == svc.key)
            .unwrap_or_else(|| panic!("{:?} not listed", svc.key));
        assert_eq!(&got.service, svc);
    }
    assert_eq!(listed.len(), services.len() + 1, "ours and the foreign one");
    for svc in services {
        let mut got: Vec<Dest> = ipvs
            .dests(&svc.key)
            .unwrap()
            .into_iter()
            .map(|d| d.dest)
            .collect();
        let mut want: Vec<Dest> = dests
            .iter()
            .filter(|(k, _)| *k == svc.key)
            .map(|(_, d)| d.clone())
            .collect();
        got.sort_by_key(|d| d.addr);
        want.sort_by_key(|d| d.addr);
        assert_eq!(got, want, "dests of {:?}", svc.key);
    }

    // Edits: a new scheduler and persistence; a quiesced server (inhibit_on_failure) that
    // also changes method.
    let mut web2 = web.clone();
    web2.scheduler = "rr".into();
    web2.flags = SVC_F_PERSISTENT;
    web2.timeout = 50;
    ipvs.edit_service(&web2).unwrap();
    let mut quiesced = dest("10.0.0.2:80", ForwardMethod::Nat, 0);
    quiesced.u_threshold = 7;
    ipvs.edit_dest(&web.key, &quiesced).unwrap();
    let edited = full
        .replace(
            "TCP 192.168.1.10:80 wlc",
            "TCP 192.168.1.10:80 rr persistent 50",
        )
        .replace("-> 10.0.0.2:80 Route 1", "-> 10.0.0.2:80 Masq 0");
    expect_table(place, "the edits", &format!("{edited}{foreign}"));
    let listed = ipvs.dests(&web.key).unwrap();
    assert!(listed.iter().any(|d| d.dest == quiesced));

    // Deletes: one destination, one service, then everything else we put there.
    let gone = SocketAddr::from(([10, 0, 0, 6], 80));
    ipvs.del_dest(&web.key, gone).unwrap();
    installed.forget_dest(&web.key, gone);
    ipvs.del_service(&dns.key).unwrap();
    installed.forget_service(&dns.key);
    let fewer: String = edited
        .lines()
        .filter(|l| !l.contains("10.0.0.6:80") && !l.contains(":53"))
        .map(|l| format!("{l}\n"))
        .collect();
    expect_table(place, "the deletes", &format!("{fewer}{foreign}"));
    // A destination of ours in the foreign service goes; the service stays.
    let ours_there = dest("10.9.9.11:80", ForwardMethod::Dr, 1);
    let foreign_key = addr_key(Protocol::Tcp, "10.9.9.9:80");
    ipvs.add_dest(&foreign_key, &ours_there).unwrap();
    installed.dest(foreign_key, ours_there.addr);
    let errors = installed.remove_all(ipvs);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(installed.is_empty());
    expect_table(place, "removing what was installed", foreign);
    place.ipvsadm(&["-D", "-t", "10.9.9.9:80"]);
    expect_table(place, "the foreign service's deletion", "");
}

fn normalise_words(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kernel_table_in_the_vm() {
    const TEST: &str = "kernel_table_in_the_vm";
    if std::env::var(IN_GUEST_ENV).is_ok_and(|v| v == "1") || !vm::vm_or_skip(TEST) {
        return;
    }
    // This test binary, stripped (a smaller initramfs boots faster under TCG).
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("ipvs_netlink");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(&exe)
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(&exe, &bin).unwrap();
    }
    let guest = Guest::boot_offline(&GuestSpec::default().bin(&bin)).expect("boot the guest");
    let ran = guest
        .run_timeout(
            &format!(
                "{IN_GUEST_ENV}=1 {REQUIRE_IPVS_ENV}=1 /bin/ipvs_netlink --exact \
                 kernel_table_matches_ipvsadm --nocapture --test-threads=1"
            ),
            Duration::from_secs(240),
        )
        .expect("run the test in the guest");
    eprintln!("--- in the guest ---\n{}--- end ---", ran.output);
    assert_eq!(ran.exit, 0, "the test failed in the guest");
    assert!(
        ran.output.contains("test result: ok. 1 passed"),
        "{}",
        ran.output
    );
    guest.shutdown();
}
