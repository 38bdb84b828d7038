//! rtnetlink inside a namespace: links, primary addresses, VIPs added and removed the way
//! keepalived does (checked against `ip addr`), the `use_vmac` macvlan, and the link
//! monitor seeing an interface go down and come back.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::runtime::Runtime;
use vigil_core::wire::Family;
use vigil_linux::net::{AddressSocket, AddressSpec, LinkEvent, LinkMonitor, Netlink, Scope};
use vigil_tests::netns::{HostSpec, Lan, Netns, privileged_or_skip, run_in};

const A_MAC: [u8; 6] = [0x02, 0x99, 0, 0, 0, 0x11];
const WAIT: Duration = Duration::from_secs(3);

fn lan(prefix: &str) -> Lan {
    Lan::new(
        prefix,
        &[HostSpec::v4(A_MAC, Ipv4Addr::new(10, 99, 0, 11), 24)
            .with_v6("fd99::11".parse().unwrap(), 64)],
    )
    .expect("building the LAN")
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn in_ns<T: Send>(ns: &Netns, rt: &Runtime, f: impl FnOnce() -> T + Send) -> T {
    run_in(ns, || {
        let _guard = rt.enter();
        f()
    })
}

#[test]
fn links_and_primary_addresses() {
    if !privileged_or_skip("links_and_primary_addresses") {
        return;
    }
    let lan = lan("vnl");
    let a = lan.host(0);
    // Secondary addresses, added later, must not become the source.
    a.ns.exec_ok(&["ip", "addr", "add", "10.99.0.77/24", "dev", "eth0"])
        .unwrap();
    let rt = runtime();
    let nl = in_ns(&a.ns, &rt, Netlink::new).unwrap();
    let expected_index = run_in(&a.ns, || nix::net::if_::if_nametoindex("eth0").unwrap());
    rt.block_on(async {
        let link = nl.link_by_name("eth0").await.unwrap();
        assert_eq!(link.index, expected_index);
        assert_eq!(link.name, "eth0");
        assert_eq!(link.mac, Some(A_MAC));
        assert!(link.up && link.admin_up, "{link:?}");
        assert_eq!(link.mtu, 1500);
        assert_eq!(nl.link_by_index(link.index).await.unwrap(), link);

        let err = nl.link_by_name("nosuch0").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let err = nl.link_by_index(9999).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

        let v4 = nl.primary_address(link.index, Family::V4).await.unwrap();
        assert_eq!(v4, Some(IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11))));
        let v6 = nl.primary_address(link.index, Family::V6).await.unwrap();
        assert_eq!(v6, Some(IpAddr::V6(a.link_local())));

        let lo = nl.link_by_name("lo").await.unwrap();
        let lo_v4 = nl.primary_address(lo.index, Family::V4).await.unwrap();
        assert_eq!(lo_v4, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    });
}

#[test]
fn vips_are_added_and_removed_like_keepalived_and_idempotently() {
    if !privileged_or_skip("vips_are_added_and_removed_like_keepalived_and_idempotently") {
        return;
    }
    let lan = lan("vnv");
    let a = lan.host(0);
    let rt = runtime();
    let nl = in_ns(&a.ns, &rt, Netlink::new).unwrap();
    // VIPs go through the protocol thread's synchronous socket; the lookups through
    // the async `Netlink`.
    let mut vips = run_in(&a.ns, AddressSocket::new).unwrap();
    let show4 = || {
        a.ns.exec_ok(&["ip", "-4", "addr", "show", "dev", "eth0"])
            .unwrap()
    };
    let show6 = || {
        a.ns.exec_ok(&["ip", "-6", "addr", "show", "dev", "eth0"])
            .unwrap()
    };
    rt.block_on(async {
        let idx = nl.link_by_name("eth0").await.unwrap().index;

        // 10.99.0.50/24 brd 10.99.0.255 dev eth0 label eth0:vip
        let mut vip = AddressSpec::new("10.99.0.50".parse().unwrap(), 24);
        vip.label = Some("eth0:vip".into());
        vip.broadcast = Some(Ipv4Addr::new(10, 99, 0, 255));
        vips.add(idx, &vip).unwrap();
        vips.add(idx, &vip).expect("adding twice is fine");
        let out = show4();
        assert!(
            out.contains("inet 10.99.0.50/24 brd 10.99.0.255 scope global secondary eth0:vip"),
            "{out}"
        );

        // A bare address is /32; scope host as configured; no broadcast invented.
        let mut host = AddressSpec::host("10.99.0.51".parse().unwrap());
        host.scope = Scope::HOST;
        vips.add(idx, &host).unwrap();
        let out = show4();
        assert!(out.contains("inet 10.99.0.51/32 scope host eth0"), "{out}");

        // IPv6: nodad, and preferred lifetime 0 for a /128 (never a source address).
        let vip6 = AddressSpec::host("fd99::50".parse().unwrap());
        vips.add(idx, &vip6).unwrap();
        vips.add(idx, &vip6).unwrap();
        let out = show6();
        let line = out
            .lines()
            .find(|l| l.contains("inet6 fd99::50/128 scope global"))
            .unwrap_or_else(|| panic!("{out}"));
        assert!(
            line.contains("nodad") && line.contains("deprecated"),
            "{out}"
        );
        assert!(out.contains("preferred_lft 0sec"), "{out}");

        // Found again by a scan (a restart looking for VIPs left behind).
        let all = nl.addresses(idx).await.unwrap();
        let found = all.iter().find(|a| a.addr == vip.addr).expect("VIP listed");
        assert_eq!(found.prefix_len, 24);
        assert_eq!(found.label.as_deref(), Some("eth0:vip"));
        assert!(found.is_secondary());
        assert!(
            all.iter()
                .any(|a| a.addr == vip6.addr && a.prefix_len == 128)
        );
        assert!(
            all.iter()
                .any(|a| a.addr == host.addr && a.scope == Scope::HOST)
        );
        // The primary address is still the interface's own.
        assert_eq!(
            nl.primary_address(idx, Family::V4).await.unwrap(),
            Some("10.99.0.11".parse().unwrap())
        );

        for spec in [&vip, &host, &vip6] {
            vips.del(idx, spec.addr, spec.prefix_len).unwrap();
            vips.del(idx, spec.addr, spec.prefix_len)
                .expect("deleting twice is fine");
        }
        let (out4, out6) = (show4(), show6());
        assert!(
            !out4.contains("10.99.0.50") && !out4.contains("10.99.0.51"),
            "{out4}"
        );
        assert!(out4.contains("10.99.0.11/24"), "{out4}");
        assert!(!out6.contains("fd99::50"), "{out6}");

        // A prefix length that does not match deletes nothing.
        vips.add(idx, &vip).unwrap();
        vips.del(idx, vip.addr, 32).unwrap();
        assert!(show4().contains("10.99.0.50/24"));

        // Errors other than "already there" / "not there" are reported.
        let err = vips.add(9999, &vip).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
    });
}

#[test]
fn macvlan_for_use_vmac() {
    if !privileged_or_skip("macvlan_for_use_vmac") {
        return;
    }
    let lan = lan("vnm");
    let a = lan.host(0);
    let rt = runtime();
    let nl = in_ns(&a.ns, &rt, Netlink::new).unwrap();
    let vmac = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33];
    rt.block_on(async {
        let parent = nl.link_by_name("eth0").await.unwrap().index;
        let index = nl.create_macvlan(parent, "vrrp.51", vmac).await.unwrap();
        let link = nl.link_by_index(index).await.unwrap();
        assert_eq!(link.name, "vrrp.51");
        assert_eq!(link.mac, Some(vmac));
        assert!(link.admin_up);
        let out =
            a.ns.exec_ok(&["ip", "-d", "link", "show", "vrrp.51"])
                .unwrap();
        assert!(out.contains("vrrp.51@eth0"), "{out}");
        assert!(out.contains("00:00:5e:00:01:33"), "{out}");
        assert!(out.contains("macvlan mode private"), "{out}");

        nl.delete_link(index).await.unwrap();
        nl.delete_link(index).await.expect("deleting twice is fine");
        assert!(nl.link_by_name("vrrp.51").await.is_err());
    });
}

/// Waits (bounded) for a monitor event about `name` that `pred` accepts.
async fn wait_event(
    monitor: &mut LinkMonitor,
    name: &str,
    pred: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    for _ in 0..1000 {
        let event = tokio::time::timeout_at(deadline, monitor.next_event())
            .await
            .unwrap_or_else(|_| panic!("no matching event for {name}"))
            .expect("monitor ended");
        if event.name == name && pred(&event) {
            return event;
        }
    }
    panic!("too many events without the expected one");
}

#[test]
fn link_monitor_sees_links_go_down_and_up() {
    if !privileged_or_skip("link_monitor_sees_links_go_down_and_up") {
        return;
    }
    let lan = lan("vnw");
    let a = lan.host(0);
    let rt = runtime();
    let mut monitor = in_ns(&a.ns, &rt, LinkMonitor::new).unwrap();
    let index = run_in(&a.ns, || nix::net::if_::if_nametoindex("eth0").unwrap());
    rt.block_on(async {
        // Administratively down.
        a.ns.exec_ok(&["ip", "link", "set", "eth0", "down"])
            .unwrap();
        let e = wait_event(&mut monitor, "eth0", |e| !e.up).await;
        assert_eq!(e.ifindex, index);
        assert!(!e.admin_up && !e.deleted);

        a.ns.exec_ok(&["ip", "link", "set", "eth0", "up"]).unwrap();
        let e = wait_event(&mut monitor, "eth0", |e| e.up).await;
        assert!(e.admin_up);

        // Carrier lost (the switch port goes down): still admin up, but not usable.
        lan.bridge
            .exec_ok(&["ip", "link", "set", &a.port, "down"])
            .unwrap();
        let e = wait_event(&mut monitor, "eth0", |e| !e.up).await;
        assert!(e.admin_up, "{e:?}");
        lan.bridge
            .exec_ok(&["ip", "link", "set", &a.port, "up"])
            .unwrap();
        wait_event(&mut monitor, "eth0", |e| e.up).await;

        // A link that goes away.
        a.ns.exec_ok(&[
            "ip", "link", "add", "vx0", "type", "veth", "peer", "name", "vx1",
        ])
        .unwrap();
        a.ns.exec_ok(&["ip", "link", "del", "vx0"]).unwrap();
        let e = wait_event(&mut monitor, "vx0", |e| e.deleted).await;
        assert!(!e.up);
    });
}
