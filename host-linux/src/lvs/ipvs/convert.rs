//! Our services and destinations to IPVS attributes and back.
//!
//! The attribute order is keepalived 2.2.7's (`libipvs.c`, from ipvsadm): service `AF`,
//! then `FWMARK` or `PROTOCOL`/`ADDR`/`PORT`, `SCHED_NAME`, `PE_NAME` when set, `FLAGS`
//! (mask all ones), `TIMEOUT`, `NETMASK`; destination `ADDR_FAMILY`, `ADDR`, `PORT`,
//! `FWD_METHOD`, `WEIGHT`, the tunnel attributes for a tunnel, `U_THRESH`, `L_THRESH`.
//! Commands that only name a service or a destination (delete, the destination
//! commands' service, the destination dump) send only what identifies it: the kernel
//! reads nothing else there (ipvsadm and keepalived fill in the rest, a difference of
//! bytes the kernel does not look at).

use super::wire::{
    AF_INET, AF_INET6, DestAttr, NAME_MAXLEN, StatsAttr, SvcAttr, fwd, stats_attr, tun,
};
use super::{
    AddrFamily, Dest, DestStatus, Protocol, SVC_F_HASHED, Service, ServiceKey, ServiceStatus, Stats,
};
use crate::config::lvs::{ForwardMethod, TunnelChecksum, TunnelType};
use netlink_packet_core::DecodeError;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
const IPPROTO_SCTP: u16 = 132;

fn af_number(family: AddrFamily) -> u16 {
    match family {
        AddrFamily::Inet => AF_INET,
        AddrFamily::Inet6 => AF_INET6,
    }
}

fn protocol_number(p: Protocol) -> u16 {
    match p {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        Protocol::Sctp => IPPROTO_SCTP,
    }
}

/// An address as `union nf_inet_addr`.
fn nf_inet_addr(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut out = [0u8; 16];
            out[..4].copy_from_slice(&v4.octets());
            out
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// A scheduler or persistence-engine name as the kernel takes it: NUL-terminated in 16
/// bytes.
fn check_name(name: &str, what: &str) -> io::Result<()> {
    if name.is_empty() || name.len() >= NAME_MAXLEN || name.contains('\0') {
        return Err(invalid(format!(
            "IPVS {what} name {name:?} must be 1 to {} bytes without NUL",
            NAME_MAXLEN - 1
        )));
    }
    Ok(())
}

/// The attributes that identify a service.
pub(super) fn service_key_attrs(key: &ServiceKey) -> io::Result<Vec<SvcAttr>> {
    Ok(match *key {
        ServiceKey::Addr { protocol, addr } => vec![
            SvcAttr::Af(af_number(super::family_of(addr.ip()))),
            SvcAttr::Protocol(protocol_number(protocol)),
            SvcAttr::Addr(nf_inet_addr(addr.ip())),
            SvcAttr::Port(addr.port()),
        ],
        ServiceKey::Fwmark { family, mark } => {
            // The kernel tells fwmark services from address ones by a non-zero mark.
            if mark == 0 {
                return Err(invalid("IPVS fwmark service with mark 0".into()));
            }
            vec![SvcAttr::Af(af_number(family)), SvcAttr::Fwmark(mark)]
        }
    })
}

/// The netmask attribute's bytes: an IPv4 mask goes in network order, an IPv6 prefix
/// length in host order (the kernel copies the 4 bytes and reads them either way).
fn netmask_raw(family: AddrFamily, netmask: u32) -> [u8; 4] {
    match family {
        AddrFamily::Inet => netmask.to_be_bytes(),
        AddrFamily::Inet6 => netmask.to_ne_bytes(),
    }
}

fn netmask_value(family: AddrFamily, raw: [u8; 4]) -> u32 {
    match family {
        AddrFamily::Inet => u32::from_be_bytes(raw),
        AddrFamily::Inet6 => u32::from_ne_bytes(raw),
    }
}

/// The full service, for `NEW_SERVICE` and `SET_SERVICE`.
pub(super) fn service_attrs(svc: &Service) -> io::Result<Vec<SvcAttr>> {
    check_name(&svc.scheduler, "scheduler")?;
    let mut attrs = service_key_attrs(&svc.key)?;
    attrs.push(SvcAttr::SchedName(svc.scheduler.clone()));
    if let Some(pe) = &svc.pe_name {
        check_name(pe, "persistence engine")?;
        attrs.push(SvcAttr::PeName(pe.clone()));
    }
    attrs.push(SvcAttr::Flags {
        flags: svc.flags & !SVC_F_HASHED,
        mask: u32::MAX,
    });
    attrs.push(SvcAttr::Timeout(svc.timeout));
    attrs.push(SvcAttr::Netmask(netmask_raw(svc.key.family(), svc.netmask)));
    Ok(attrs)
}

/// The attributes that identify a destination of a service.
pub(super) fn dest_key_attrs(addr: SocketAddr) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(af_number(super::family_of(addr.ip()))),
        DestAttr::Addr(nf_inet_addr(addr.ip())),
        DestAttr::Port(addr.port()),
    ]
}

/// The full destination, for `NEW_DEST` and `SET_DEST`. Tunnels go out as keepalived
/// sends them: the type, the port for GUE, and the flags (`nocsum`, the only one our
/// configuration carries) for GUE and GRE.
pub(super) fn dest_attrs(dest: &Dest) -> Vec<DestAttr> {
    let mut attrs = dest_key_attrs(dest.addr);
    let method = match dest.forward {
        ForwardMethod::Nat => fwd::MASQ,
        ForwardMethod::Dr => fwd::DROUTE,
        ForwardMethod::Tun(_) => fwd::TUNNEL,
    };
    attrs.push(DestAttr::FwdMethod(method));
    attrs.push(DestAttr::Weight(dest.weight));
    if let ForwardMethod::Tun(kind) = dest.forward {
        match kind {
            TunnelType::Ipip => attrs.push(DestAttr::TunType(tun::TYPE_IPIP)),
            TunnelType::Gue { port, csum } => {
                attrs.push(DestAttr::TunType(tun::TYPE_GUE));
                attrs.push(DestAttr::TunPort(port));
                attrs.push(DestAttr::TunFlags(csum_flags(csum)));
            }
            TunnelType::Gre { csum } => {
                attrs.push(DestAttr::TunType(tun::TYPE_GRE));
                attrs.push(DestAttr::TunFlags(csum_flags(csum)));
            }
        }
    }
    attrs.push(DestAttr::UThresh(dest.u_threshold));
    attrs.push(DestAttr::LThresh(dest.l_threshold));
    attrs
}

fn csum_flags(csum: TunnelChecksum) -> u16 {
    match csum {
        TunnelChecksum::None => tun::FLAG_NOCSUM,
        TunnelChecksum::Checksum => tun::FLAG_CSUM,
        TunnelChecksum::Remote => tun::FLAG_REMCSUM,
    }
}

/// The kernel's flags back: remote checksum offload wins, as in the kernel's GUE
/// encapsulation.
fn csum_from(flags: Option<u16>) -> TunnelChecksum {
    match flags.unwrap_or(tun::FLAG_NOCSUM) {
        f if f & tun::FLAG_REMCSUM != 0 => TunnelChecksum::Remote,
        f if f & tun::FLAG_CSUM != 0 => TunnelChecksum::Checksum,
        _ => TunnelChecksum::None,
    }
}

fn family_from(af: u16) -> Result<AddrFamily, DecodeError> {
    match af {
        AF_INET => Ok(AddrFamily::Inet),
        AF_INET6 => Ok(AddrFamily::Inet6),
        other => Err(DecodeError::from(format!("unknown address family {other}"))),
    }
}

fn ip_from(family: AddrFamily, raw: [u8; 16]) -> IpAddr {
    match family {
        AddrFamily::Inet => IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])),
        AddrFamily::Inet6 => IpAddr::V6(Ipv6Addr::from(raw)),
    }
}

fn missing(what: &str) -> DecodeError {
    DecodeError::from(format!("IPVS reply without {what}"))
}

/// The counters of a stats nest.
fn stats_from(counters: &[StatsAttr]) -> Stats {
    let mut s = Stats::default();
    for c in counters {
        let slot = match c.kind {
            stats_attr::CONNS => &mut s.conns,
            stats_attr::INPKTS => &mut s.in_packets,
            stats_attr::OUTPKTS => &mut s.out_packets,
            stats_attr::INBYTES => &mut s.in_bytes,
            stats_attr::OUTBYTES => &mut s.out_bytes,
            stats_attr::CPS => &mut s.cps,
            stats_attr::INPPS => &mut s.in_pps,
            stats_attr::OUTPPS => &mut s.out_pps,
            stats_attr::INBPS => &mut s.in_bps,
            stats_attr::OUTBPS => &mut s.out_bps,
            _ => continue,
        };
        *slot = c.value;
    }
    s
}

/// A service of a `GET_SERVICE` dump. `IP_VS_SVC_F_HASHED` (the kernel's own state) is
/// dropped from the flags; the 64-bit counters are preferred.
pub(super) fn parse_service(attrs: &[SvcAttr]) -> Result<ServiceStatus, DecodeError> {
    let (mut af, mut protocol, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, None, None, None, None);
    let (mut stats32, mut stats64) = (None, None);
    for a in attrs {
        match a {
            SvcAttr::Af(v) => af = Some(*v),
            SvcAttr::Protocol(v) => protocol = Some(*v),
            SvcAttr::Addr(v) => addr = Some(*v),
            SvcAttr::Port(v) => port = Some(*v),
            SvcAttr::Fwmark(v) => fwmark = Some(*v),
            SvcAttr::SchedName(v) => sched = Some(v.clone()),
            SvcAttr::Flags { flags: f, .. } => flags = Some(*f),
            SvcAttr::Timeout(v) => timeout = Some(*v),
            SvcAttr::Netmask(v) => netmask = Some(*v),
            SvcAttr::PeName(v) => pe = Some(v.clone()),
            SvcAttr::Stats(v) => stats32 = Some(v),
            SvcAttr::Stats64(v) => stats64 = Some(v),
            SvcAttr::Other(_) => {}
        }
    }
    let family = family_from(af.ok_or_else(|| missing("IPVS_SVC_ATTR_AF"))?)?;
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
        _ => {
            let protocol = match protocol.ok_or_else(|| missing("IPVS_SVC_ATTR_PROTOCOL"))? {
                IPPROTO_TCP => Protocol::Tcp,
                IPPROTO_UDP => Protocol::Udp,
                IPPROTO_SCTP => Protocol::Sctp,
                other => {
                    return Err(DecodeError::from(format!(
                        "IPVS service with unknown protocol {other}"
                    )));
                }
            };
            let ip = ip_from(family, addr.ok_or_else(|| missing("IPVS_SVC_ATTR_ADDR"))?);
            let port = port.ok_or_else(|| missing("IPVS_SVC_ATTR_PORT"))?;
            ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(ip, port),
            }
        }
    };
    let service = Service {
        key,
        scheduler: sched.ok_or_else(|| missing("IPVS_SVC_ATTR_SCHED_NAME"))?,
        flags: flags.ok_or_else(|| missing("IPVS_SVC_ATTR_FLAGS"))? & !SVC_F_HASHED,
        timeout: timeout.ok_or_else(|| missing("IPVS_SVC_ATTR_TIMEOUT"))?,
        netmask: netmask_value(
            family,
            netmask.ok_or_else(|| missing("IPVS_SVC_ATTR_NETMASK"))?,
        ),
        pe_name: pe.filter(|p| !p.is_empty()),
    };
    let stats = stats64
        .or(stats32)
        .map(|s| stats_from(s))
        .unwrap_or_default();
    Ok(ServiceStatus { service, stats })
}

/// A destination of a `GET_DEST` dump. `service_family` stands in for
/// `IPVS_DEST_ATTR_ADDR_FAMILY` where a kernel (before 3.18) does not send it.
pub(super) fn parse_dest(
    attrs: &[DestAttr],
    service_family: AddrFamily,
) -> Result<DestStatus, DecodeError> {
    let (mut af, mut addr, mut port, mut method, mut weight) = (None, None, None, None, None);
    let (mut u_thresh, mut l_thresh, mut active, mut inactive, mut persist) = (0, 0, 0, 0, 0);
    let (mut tun_type, mut tun_port, mut stats32, mut stats64) = (None, None, None, None);
    let mut tun_flags = None;
    for a in attrs {
        match a {
            DestAttr::AddrFamily(v) => af = Some(*v),
            DestAttr::Addr(v) => addr = Some(*v),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => method = Some(*v),
            DestAttr::Weight(v) => weight = Some(*v),
            DestAttr::UThresh(v) => u_thresh = *v,
            DestAttr::LThresh(v) => l_thresh = *v,
            DestAttr::ActiveConns(v) => active = *v,
            DestAttr::InactConns(v) => inactive = *v,
            DestAttr::PersistConns(v) => persist = *v,
            DestAttr::TunType(v) => tun_type = Some(*v),
            DestAttr::TunPort(v) => tun_port = Some(*v),
            DestAttr::Stats(v) => stats32 = Some(v),
            DestAttr::Stats64(v) => stats64 = Some(v),
            DestAttr::TunFlags(v) => tun_flags = Some(*v),
            DestAttr::Other(_) => {}
        }
    }
    let family = match af {
        Some(af) => family_from(af)?,
        None => service_family,
    };
    let ip = ip_from(family, addr.ok_or_else(|| missing("IPVS_DEST_ATTR_ADDR"))?);
    let port = port.ok_or_else(|| missing("IPVS_DEST_ATTR_PORT"))?;
    let method = method.ok_or_else(|| missing("IPVS_DEST_ATTR_FWD_METHOD"))? & fwd::MASK;
    let (forward, local_node) = match method {
        fwd::MASQ => (ForwardMethod::Nat, false),
        fwd::LOCALNODE => (ForwardMethod::Nat, true),
        fwd::DROUTE => (ForwardMethod::Dr, false),
        fwd::TUNNEL => {
            let kind = match tun_type.unwrap_or(tun::TYPE_IPIP) {
                tun::TYPE_IPIP => TunnelType::Ipip,
                tun::TYPE_GUE => TunnelType::Gue {
                    port: tun_port.unwrap_or(0),
                    csum: csum_from(tun_flags),
                },
                tun::TYPE_GRE => TunnelType::Gre {
                    csum: csum_from(tun_flags),
                },
                other => {
                    return Err(DecodeError::from(format!(
                        "IPVS destination with unknown tunnel type {other}"
                    )));
                }
            };
            (ForwardMethod::Tun(kind), false)
        }
        other => {
            return Err(DecodeError::from(format!(
                "IPVS destination with unknown forwarding method {other}"
            )));
        }
    };
    Ok(DestStatus {
        dest: Dest {
            addr: SocketAddr::new(ip, port),
            forward,
            weight: weight.ok_or_else(|| missing("IPVS_DEST_ATTR_WEIGHT"))?,
            u_threshold: u_thresh,
            l_threshold: l_thresh,
        },
        active_conns: active,
        inactive_conns: inactive,
        persistent_conns: persist,
        local_node,
        stats: stats64
            .or(stats32)
            .map(|s| stats_from(s))
            .unwrap_or_default(),
    })
}
