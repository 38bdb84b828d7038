//! The IPVS table the configuration asks for (services, destinations, weights), the
//! operations that change it, and carrying them out on an [`Ipvs`] so that a repeated
//! or stale one is harmless (a service already there is edited, a destination already
//! gone is gone).

use crate::config::lvs::{
    ForwardMethod, GroupMember, RealServer, SorryServer, VirtualServer, VirtualServerGroup, VsKey,
};
use crate::lvs::ipvs::{AddrFamily, Dest, Ipvs, Protocol, Service, ServiceKey, family_of};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// keepalived's `IPVS_WEIGHT_LIMIT`: the largest weight the kernel takes.
pub const WEIGHT_LIMIT: i64 = 65535;

// IP_VS_SVC_F_* (linux/ip_vs.h).
const F_PERSISTENT: u32 = 0x1;
const F_HASHED: u32 = 0x2;
const F_ONEPACKET: u32 = 0x4;
const F_SCHED1: u32 = 0x8;
const F_SCHED2: u32 = 0x10;
const F_SCHED3: u32 = 0x20;

/// The largest address range a `virtual_server_group` line may expand to (a whole last
/// octet, or a whole last IPv6 group).
const MAX_RANGE: u32 = 65536;

/// One change to the IPVS table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    EditService(Service),
    DelService(ServiceKey),
    AddDest(ServiceKey, Dest),
    EditDest(ServiceKey, Dest),
    DelDest(ServiceKey, SocketAddr),
}

/// keepalived's `real_weight`: an effective weight clamped to what IPVS takes.
pub fn real_weight(effective: i64) -> u32 {
    effective.clamp(0, WEIGHT_LIMIT) as u32
}

/// The family of a service: its address's, else `ip_family`, else its first real
/// server's (keepalived's rule for fwmark services), else IPv4.
pub fn vs_family(vs: &VirtualServer) -> AddrFamily {
    if let VsKey::Address(a) = vs.key {
        return family_of(a.ip());
    }
    if let Some(f) = vs.family {
        return f.into();
    }
    vs.real_servers
        .first()
        .map(|r| family_of(r.addr.ip()))
        .unwrap_or(AddrFamily::Inet)
}

/// The IPVS services one `virtual_server` stands for: one, or one per address and
/// fwmark of its `virtual_server_group` (an unknown group: none).
pub fn service_keys(vs: &VirtualServer, groups: &[VirtualServerGroup]) -> Vec<ServiceKey> {
    let protocol = Protocol::from(vs.protocol);
    match &vs.key {
        VsKey::Address(addr) => vec![ServiceKey::Addr {
            protocol,
            addr: *addr,
        }],
        VsKey::Fwmark(mark) => vec![ServiceKey::Fwmark {
            family: vs_family(vs),
            mark: *mark,
        }],
        VsKey::Group(name) => {
            let Some(g) = groups.iter().find(|g| &g.name == name) else {
                return Vec::new();
            };
            let mut keys = Vec::new();
            for m in &g.members {
                match m {
                    GroupMember::Address {
                        first, last, port, ..
                    } => {
                        for ip in expand(*first, *last) {
                            let key = ServiceKey::Addr {
                                protocol,
                                addr: SocketAddr::new(ip, *port),
                            };
                            if !keys.contains(&key) {
                                keys.push(key);
                            }
                        }
                    }
                    GroupMember::Fwmark { mark, family, .. } => {
                        let key = ServiceKey::Fwmark {
                            family: family.map_or_else(|| vs_family(vs), AddrFamily::from),
                            mark: *mark,
                        };
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                }
            }
            keys
        }
    }
}

/// `first-last` as keepalived ranges it: the last octet (IPv4) or the last 16-bit group
/// (IPv6) counts from `first`'s to `last`'s; the rest is `first`'s.
fn expand(first: IpAddr, last: IpAddr) -> Vec<IpAddr> {
    match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => {
            let o = f.octets();
            let (a, b) = (o[3] as u32, l.octets()[3] as u32);
            (a..=b.max(a))
                .take(MAX_RANGE as usize)
                .map(|x| IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], x as u8)))
                .collect()
        }
        (IpAddr::V6(f), IpAddr::V6(l)) => {
            let s = f.segments();
            let (a, b) = (s[7] as u32, l.segments()[7] as u32);
            (a..=b.max(a))
                .take(MAX_RANGE as usize)
                .map(|x| {
                    let mut seg = s;
                    seg[7] = x as u16;
                    IpAddr::V6(Ipv6Addr::from(seg))
                })
                .collect()
        }
        _ => vec![first],
    }
}

/// The service keepalived's `ipvs_set_srule` builds for `vs` at `key`.
pub fn service(vs: &VirtualServer, key: ServiceKey) -> Service {
    let v6 = match key {
        ServiceKey::Addr { addr, .. } => addr.is_ipv6(),
        ServiceKey::Fwmark { family, .. } => family == AddrFamily::Inet6,
    };
    let mut flags = 0;
    if vs.flags.hashed {
        flags |= F_HASHED;
    }
    if vs.flags.ops {
        flags |= F_ONEPACKET;
    }
    if vs.flags.flag_1 {
        flags |= F_SCHED1;
    }
    if vs.flags.flag_2 {
        flags |= F_SCHED2;
    }
    if vs.flags.flag_3 {
        flags |= F_SCHED3;
    }
    let mut netmask = if v6 { 128 } else { 0xffff_ffff };
    let mut timeout = 0;
    let mut pe_name = None;
    if let Some(p) = &vs.persistence {
        flags |= F_PERSISTENT;
        timeout = p.timeout;
        pe_name = p.engine.clone();
        match p.granularity {
            Some(IpAddr::V4(m)) if !v6 => netmask = u32::from(m),
            Some(IpAddr::V6(m)) if v6 => netmask = u128::from(m).count_ones(),
            _ => {}
        }
    }
    Service {
        key,
        scheduler: vs.scheduler.clone(),
        flags,
        timeout,
        netmask,
        pe_name,
    }
}

/// Where a real server goes in the service at `key` (keepalived's `ipvs_cmd` and
/// `ipvs_group_cmd`): NAT keeps the real server's port, other methods take the
/// service's, 0 for a fwmark. Validation has already made the two agree for a
/// `virtual_server` of its own; a group's entries each have their own port.
pub fn dest_addr(rs: &RealServer, key: ServiceKey) -> SocketAddr {
    let port = match (rs.forward, key) {
        (ForwardMethod::Nat, _) => rs.addr.port(),
        (_, ServiceKey::Addr { addr, .. }) => addr.port(),
        (_, ServiceKey::Fwmark { .. }) => 0,
    };
    SocketAddr::new(rs.addr.ip(), port)
}

/// A real server as a destination of the service at `key` with `weight`.
pub fn dest(rs: &RealServer, weight: u32, key: ServiceKey) -> Dest {
    Dest {
        addr: dest_addr(rs, key),
        forward: rs.forward,
        weight,
        u_threshold: rs.uthreshold,
        l_threshold: rs.lthreshold,
    }
}

/// The sorry server as the real server keepalived makes of it (weight 1, no checkers).
pub fn sorry_as_real_server(s: &SorryServer, vs: &VirtualServer) -> RealServer {
    RealServer {
        loc: vs.loc.clone(),
        addr: s.addr,
        weight: 1,
        forward: s.forward,
        uthreshold: 0,
        lthreshold: 0,
        inhibit_on_failure: s.inhibit,
        notify_up: None,
        notify_down: None,
        alpha: false,
        smtp_alert: None,
        virtualhost: None,
        checkers: Vec::new(),
    }
}

fn is(e: &io::Error, code: i32) -> bool {
    e.raw_os_error() == Some(code)
}

/// Carries out `op`. A service that is already there is edited (a crashed run's, or
/// one an operator added by hand with the same key: vigild takes it over, as
/// keepalived's add would have failed on it); a destination already there is edited; a
/// destination or service already gone counts as removed.
pub fn apply(ipvs: &mut dyn Ipvs, op: &Op) -> io::Result<()> {
    match op {
        Op::AddService(s) => match ipvs.add_service(s) {
            Err(e) if is(&e, libc::EEXIST) => ipvs.edit_service(s),
            r => r,
        },
        Op::EditService(s) => ipvs.edit_service(s),
        Op::DelService(k) => match ipvs.del_service(k) {
            Err(e) if is(&e, libc::ENOENT) || is(&e, libc::ESRCH) => Ok(()),
            r => r,
        },
        Op::AddDest(k, d) => match ipvs.add_dest(k, d) {
            Err(e) if is(&e, libc::EEXIST) => ipvs.edit_dest(k, d),
            r => r,
        },
        Op::EditDest(k, d) => match ipvs.edit_dest(k, d) {
            Err(e) if is(&e, libc::ENOENT) => ipvs.add_dest(k, d),
            r => r,
        },
        Op::DelDest(k, a) => match ipvs.del_dest(k, *a) {
            Err(e) if is(&e, libc::ENOENT) || is(&e, libc::ESRCH) => Ok(()),
            r => r,
        },
    }
}

/// How an operation reads in a log line.
pub fn describe(op: &Op) -> String {
    match op {
        Op::AddService(s) => format!("adding service {}", key_text(&s.key)),
        Op::EditService(s) => format!("editing service {}", key_text(&s.key)),
        Op::DelService(k) => format!("removing service {}", key_text(k)),
        Op::AddDest(k, d) => format!("adding destination {} to {}", d.addr, key_text(k)),
        Op::EditDest(k, d) => format!("editing destination {} of {}", d.addr, key_text(k)),
        Op::DelDest(k, a) => format!("removing destination {a} from {}", key_text(k)),
    }
}

/// A service key as one word pair: `tcp 10.0.0.1:80`, `fwmark inet 7` (also the state
/// file's spelling).
pub fn key_text(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr { protocol, addr } => {
            let p = match protocol {
                Protocol::Tcp => "tcp",
                Protocol::Udp => "udp",
                Protocol::Sctp => "sctp",
            };
            format!("{p} {addr}")
        }
        ServiceKey::Fwmark { family, mark } => {
            let f = match family {
                AddrFamily::Inet => "inet",
                AddrFamily::Inet6 => "inet6",
            };
            format!("fwmark {f} {mark}")
        }
    }
}

/// The inverse of [`key_text`], from its words.
pub fn key_from_words(words: &[&str]) -> Option<ServiceKey> {
    match words {
        ["fwmark", f, mark] => Some(ServiceKey::Fwmark {
            family: match *f {
                "inet" => AddrFamily::Inet,
                "inet6" => AddrFamily::Inet6,
                _ => return None,
            },
            mark: mark.parse().ok()?,
        }),
        [p, addr] => Some(ServiceKey::Addr {
            protocol: match *p {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return None,
            },
            addr: addr.parse().ok()?,
        }),
        _ => None,
    }
}
