//! Shared helpers of the configuration tests (`config_errors`, `config_rules`,
//! `config_input`): a configuration written to a scratch directory and loaded, and the
//! diagnostics it gave.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::IpAddr;
use std::path::PathBuf;
use vigil_linux::config::machine;
use vigil_linux::config::{self, Loaded};

pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().expect("tempdir"))
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
}

pub fn load(text: &str) -> (Loaded, PathBuf, Dir) {
    let d = Dir::new();
    let p = d.write("keepalived.conf", text);
    (config::load(&p), p, d)
}

/// [`load`] and the machine check with [`machine::AnyInterface`].
pub fn load_checked(text: &str) -> (Loaded, PathBuf, Dir) {
    let (mut l, p, d) = load(text);
    machine::check(&mut l, &machine::AnyInterface);
    (l, p, d)
}

/// The one diagnostic whose message contains `needle`.
pub fn find<'a>(l: &'a Loaded, needle: &str) -> &'a config::Diagnostic {
    let v: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.message.contains(needle))
        .collect();
    assert_eq!(
        v.len(),
        1,
        "`{needle}` in {:#?}",
        l.diagnostics
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    v[0]
}

pub fn at(d: &config::Diagnostic) -> (u32, u32) {
    (d.line(), d.column())
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

pub const GOOD: &str = "vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1/24 dev eth0 label eth0:1 scope global brd 10.0.0.255
    }
}
";

pub fn inst(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{body}\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n}}\n"
    )
}
