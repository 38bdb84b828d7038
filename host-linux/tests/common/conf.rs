//! keepalived.conf text for the tests (vigild and keepalived read the same).

use super::VIP;
use std::net::Ipv4Addr;

/// `global_defs` with scripts run as root under keepalived's script security.
pub fn global_defs(router_id: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n    router_id {router_id}\n    script_user root\n    \
         enable_script_security\n{extra}\n}}\n"
    )
}

/// One `vrrp_instance`, rendered as keepalived.conf text (vigild and keepalived read
/// the same).
#[derive(Debug, Clone)]
pub struct Inst {
    pub name: String,
    pub iface: String,
    pub vrid: u8,
    pub state: &'static str,
    pub priority: u8,
    pub version: u8,
    /// `advert_int` as written (v2: whole seconds; v3: fractions allowed).
    pub advert: String,
    pub vips: Vec<String>,
    pub auth_pass: Option<String>,
    /// `auth_type AH` (IPsec AH) rather than PASS.
    pub auth_ah: bool,
    /// `unicast_src_ip` and `unicast_peer`s.
    pub unicast: Option<(Ipv4Addr, Vec<Ipv4Addr>)>,
    /// More lines inside the block (nopreempt, track_script, notify, ...).
    pub extra: String,
}

impl Inst {
    /// A VRRPv3 instance on `eth0` with one VIP.
    pub fn v3(name: &str, vrid: u8, state: &'static str, priority: u8, advert: &str) -> Inst {
        Inst {
            name: name.to_owned(),
            iface: "eth0".to_owned(),
            vrid,
            state,
            priority,
            version: 3,
            advert: advert.to_owned(),
            vips: vec![format!("{VIP}/24")],
            auth_pass: None,
            auth_ah: false,
            unicast: None,
            extra: String::new(),
        }
    }

    /// A VRRPv2 instance on `eth0` with one VIP, advert_int 1 and auth PASS.
    pub fn v2_pass(name: &str, vrid: u8, state: &'static str, priority: u8, pass: &str) -> Inst {
        Inst {
            version: 2,
            advert: "1".to_owned(),
            auth_pass: Some(pass.to_owned()),
            ..Inst::v3(name, vrid, state, priority, "1")
        }
    }

    /// A VRRPv2 instance on `eth0` with one VIP, advert_int 1 and auth AH.
    pub fn v2_ah(name: &str, vrid: u8, state: &'static str, priority: u8, pass: &str) -> Inst {
        Inst {
            auth_ah: true,
            ..Inst::v2_pass(name, vrid, state, priority, pass)
        }
    }

    pub fn with_extra(mut self, extra: &str) -> Inst {
        self.extra.push_str(extra);
        self.extra.push('\n');
        self
    }

    pub fn unicast(mut self, src: Ipv4Addr, peers: &[Ipv4Addr]) -> Inst {
        self.unicast = Some((src, peers.to_vec()));
        self
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "vrrp_instance {} {{\n    state {}\n    interface {}\n    virtual_router_id {}\n    \
             priority {}\n    version {}\n    advert_int {}\n",
            self.name, self.state, self.iface, self.vrid, self.priority, self.version, self.advert
        );
        if let Some(p) = &self.auth_pass {
            let kind = if self.auth_ah { "AH" } else { "PASS" };
            s += &format!(
                "    authentication {{\n        auth_type {kind}\n        auth_pass {p}\n    }}\n"
            );
        }
        if let Some((src, peers)) = &self.unicast {
            s += &format!("    unicast_src_ip {src}\n    unicast_peer {{\n");
            for p in peers {
                s += &format!("        {p}\n");
            }
            s += "    }\n";
        }
        s += "    virtual_ipaddress {\n";
        for v in &self.vips {
            s += &format!("        {v}\n");
        }
        s += "    }\n";
        s += &self.extra;
        s += "}\n";
        s
    }
}
