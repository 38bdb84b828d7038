//! How keepalived names services and real servers in its log lines, mails and
//! scripts (`format_vs`, `format_rs`, `inet_sockaddrtotrio`): operators grep these.

use crate::config::lvs::{IpvsProtocol, VirtualServer, VsKey};
use std::net::SocketAddr;

fn proto(p: IpvsProtocol) -> &'static str {
    match p {
        IpvsProtocol::Tcp => "tcp",
        IpvsProtocol::Udp => "udp",
        IpvsProtocol::Sctp => "sctp",
    }
}

/// `[ADDR]:PROTO:PORT` (keepalived's "trio").
pub fn trio(addr: SocketAddr, p: IpvsProtocol) -> String {
    format!("[{}]:{}:{}", addr.ip(), proto(p), addr.port())
}

/// keepalived's `FMT_VS`: `[10.0.0.1]:tcp:80`, `FWM 7`, or `[GROUP]:0` for a group (a
/// group's service has no address of its own, keepalived prints its zero port).
pub fn vs_name(vs: &VirtualServer) -> String {
    match &vs.key {
        VsKey::Address(a) => trio(*a, vs.protocol),
        VsKey::Fwmark(m) => format!("FWM {m}"),
        VsKey::Group(g) => format!("[{g}]:0"),
    }
}

/// keepalived's `FMT_RS`: the real server's trio with its service's protocol.
pub fn rs_name(addr: SocketAddr, vs: &VirtualServer) -> String {
    trio(addr, vs.protocol)
}
