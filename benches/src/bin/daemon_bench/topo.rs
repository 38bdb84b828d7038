//! The namespaces a measurement runs on: a bridge namespace, the two load balancers and
//! a sender, built from the tests crate's [`Netns`] (unique names with the pid, deleted
//! on drop).
//!
//! Interface `k` (0..nif) of lb1 and lb2 is `eth{k}`, on bridge `br{k}`, subnet
//! 10.{60+k}.0.0/24: lb1 .11, lb2 .12, the sender .2 (on `eth0` only). VIP of VRID `v`
//! on interface `k`: 10.{60+k}.1.{v}. MAC of host `h` on interface `k`:
//! 02:{60+k}:00:00:00:{h}. IPv6 is off everywhere, so that nothing else is on the wire.

use std::io;
use std::net::Ipv4Addr;

use vigil_tests::netns::Netns;

/// A node of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Lb1,
    Lb2,
    Sender,
}

impl Node {
    /// The last byte of its addresses and MACs.
    pub const fn host(self) -> u8 {
        match self {
            Node::Lb1 => 11,
            Node::Lb2 => 12,
            Node::Sender => 2,
        }
    }
}

#[derive(Debug)]
pub struct Topo {
    // The hosts drop (their veth ends with them) before the bridge.
    pub lb1: Netns,
    pub lb2: Netns,
    pub sender: Netns,
    pub bridge: Netns,
}

impl Topo {
    /// Builds it. `tag` (a few letters) names the namespaces: `vb<tag><node><pid>-<n>`.
    pub fn new(tag: &str, nif: usize) -> io::Result<Topo> {
        assert!((1..=10).contains(&nif), "1 to 10 interfaces");
        let mk = |node: &str| -> io::Result<Netns> {
            let ns = Netns::new(&format!("vb{tag}{node}"))?;
            for key in [
                "net.ipv6.conf.all.disable_ipv6",
                "net.ipv6.conf.default.disable_ipv6",
            ] {
                ns.sysctl(key, "1")?;
            }
            Ok(ns)
        };
        let bridge = mk("b")?;
        let topo = Topo {
            lb1: mk("1")?,
            lb2: mk("2")?,
            sender: mk("s")?,
            bridge,
        };
        for k in 0..nif {
            let br = format!("br{k}");
            topo.bridge.add_switch(&br)?;
        }
        for node in [Node::Lb1, Node::Lb2, Node::Sender] {
            let ifaces = if node == Node::Sender { 1 } else { nif };
            let ns = topo.ns(node);
            for k in 0..ifaces {
                let port = Topo::port(node, k);
                let eth = format!("eth{k}");
                topo.bridge
                    .add_switch_port(&format!("br{k}"), &port, &eth, ns)?;
                let mac = mac_string(Topo::mac(node, k));
                ns.exec_ok(&["ip", "link", "set", &eth, "address", &mac])?;
                let cidr = format!("{}/24", Topo::ip(k, node.host()));
                ns.exec_ok(&["ip", "addr", "add", &cidr, "dev", &eth])?;
                ns.exec_ok(&["ip", "link", "set", &eth, "up"])?;
            }
        }
        Ok(topo)
    }

    pub fn ns(&self, node: Node) -> &Netns {
        match node {
            Node::Lb1 => &self.lb1,
            Node::Lb2 => &self.lb2,
            Node::Sender => &self.sender,
        }
    }

    /// The bridge-side end of `node`'s interface `k`.
    pub fn port(node: Node, k: usize) -> String {
        format!("p{}_{k}", node.host())
    }

    pub fn ip(k: usize, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 60 + k as u8, 0, host)
    }

    pub fn vip(k: usize, vrid: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 60 + k as u8, 1, vrid)
    }

    pub fn mac(node: Node, k: usize) -> [u8; 6] {
        [2, 60 + k as u8, 0, 0, 0, node.host()]
    }

    /// VIPs (10.x.1.y addresses) present on `node`.
    pub fn vips_on(&self, node: Node) -> usize {
        self.vip_list(node).len()
    }

    fn vip_list(&self, node: Node) -> Vec<(String, String)> {
        let out = self
            .ns(node)
            .exec_ok(&["ip", "-o", "-4", "addr", "show"])
            .unwrap_or_default();
        out.lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (dev, cidr) = (*f.get(1)?, *f.get(3)?);
                let is_vip = cidr.split('.').nth(2) == Some("1") && dev.starts_with("eth");
                is_vip.then(|| (dev.to_owned(), cidr.to_owned()))
            })
            .collect()
    }

    /// Removes every VIP from `node` (a SIGKILLed daemon leaves its VIPs behind).
    pub fn flush_vips(&self, node: Node) {
        for (dev, cidr) in self.vip_list(node) {
            let _ = self
                .ns(node)
                .exec(&["ip", "addr", "del", &cidr, "dev", &dev]);
        }
    }
}

/// `[(interface, vrid)]`: `n` instances spread over `nif` interfaces, VRIDs from 1.
pub fn instances(nif: usize, n: usize) -> Vec<(usize, u8)> {
    let per = n.div_ceil(nif).max(1);
    assert!(per <= 255, "at most 255 VRIDs per interface");
    (0..nif)
        .flat_map(|k| (1..=per as u8).map(move |v| (k, v)))
        .take(n)
        .collect()
}

pub fn mac_string(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}
