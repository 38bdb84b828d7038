//! The IPVS generic-netlink messages (`include/uapi/linux/ip_vs.h`), typed.
//!
//! An [`IpvsMessage`] is the payload after the generic-netlink header: a command and its
//! attributes, of which the service and the destination are nested lists ([`SvcAttr`],
//! [`DestAttr`]). Emitting follows the kernel's (and ipvsadm's, keepalived's) byte
//! orders: ports are big-endian, everything else is in host order, addresses are the
//! 16-byte `union nf_inet_addr` with the family in its own attribute. Parsing checks every
//! length and answers a [`DecodeError`] for anything malformed; it never panics, and
//! attributes it does not know are kept as [`DefaultNla`] (newer kernels add some).

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLA_F_NESTED, Nla, NlaBuffer, NlasIterator, Parseable,
    ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

/// `IPVS_GENL_NAME`.
pub const GENL_NAME: &str = "IPVS";
/// `IPVS_GENL_VERSION`.
pub const GENL_VERSION: u8 = 1;

/// `IP_VS_SCHEDNAME_MAXLEN` and `IP_VS_PENAME_MAXLEN`, both counting the NUL.
pub const NAME_MAXLEN: usize = 16;

/// `IPVS_CMD_*`.
pub mod cmd {
    pub const NEW_SERVICE: u8 = 1;
    pub const SET_SERVICE: u8 = 2;
    pub const DEL_SERVICE: u8 = 3;
    pub const GET_SERVICE: u8 = 4;
    pub const NEW_DEST: u8 = 5;
    pub const SET_DEST: u8 = 6;
    pub const DEL_DEST: u8 = 7;
    pub const GET_DEST: u8 = 8;
    pub const GET_INFO: u8 = 15;
    pub const ZERO: u8 = 16;
    pub const FLUSH: u8 = 17;
}

/// `IPVS_CMD_ATTR_*`.
pub mod cmd_attr {
    pub const SERVICE: u16 = 1;
    pub const DEST: u16 = 2;
}

/// `IPVS_SVC_ATTR_*`.
pub mod svc_attr {
    pub const AF: u16 = 1;
    pub const PROTOCOL: u16 = 2;
    pub const ADDR: u16 = 3;
    pub const PORT: u16 = 4;
    pub const FWMARK: u16 = 5;
    pub const SCHED_NAME: u16 = 6;
    pub const FLAGS: u16 = 7;
    pub const TIMEOUT: u16 = 8;
    pub const NETMASK: u16 = 9;
    pub const STATS: u16 = 10;
    pub const PE_NAME: u16 = 11;
    pub const STATS64: u16 = 12;
}

/// `IPVS_DEST_ATTR_*`.
pub mod dest_attr {
    pub const ADDR: u16 = 1;
    pub const PORT: u16 = 2;
    pub const FWD_METHOD: u16 = 3;
    pub const WEIGHT: u16 = 4;
    pub const U_THRESH: u16 = 5;
    pub const L_THRESH: u16 = 6;
    pub const ACTIVE_CONNS: u16 = 7;
    pub const INACT_CONNS: u16 = 8;
    pub const PERSIST_CONNS: u16 = 9;
    pub const STATS: u16 = 10;
    pub const ADDR_FAMILY: u16 = 11;
    pub const STATS64: u16 = 12;
    pub const TUN_TYPE: u16 = 13;
    pub const TUN_PORT: u16 = 14;
    pub const TUN_FLAGS: u16 = 15;
}

/// `IPVS_STATS_ATTR_*` (inside `*_ATTR_STATS` and `*_ATTR_STATS64`).
pub mod stats_attr {
    pub const CONNS: u16 = 1;
    pub const INPKTS: u16 = 2;
    pub const OUTPKTS: u16 = 3;
    pub const INBYTES: u16 = 4;
    pub const OUTBYTES: u16 = 5;
    pub const CPS: u16 = 6;
    pub const INPPS: u16 = 7;
    pub const OUTPPS: u16 = 8;
    pub const INBPS: u16 = 9;
    pub const OUTBPS: u16 = 10;
}

/// `IP_VS_CONN_F_*` forwarding methods (`IPVS_DEST_ATTR_FWD_METHOD`).
pub mod fwd {
    pub const MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const LOCALNODE: u32 = 0x0001;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
}

/// `IP_VS_CONN_F_TUNNEL_TYPE_*` and `IP_VS_TUNNEL_ENCAP_FLAG_*`.
pub mod tun {
    pub const TYPE_IPIP: u8 = 0;
    pub const TYPE_GUE: u8 = 1;
    pub const TYPE_GRE: u8 = 2;
    pub const FLAG_NOCSUM: u16 = 0;
    pub const FLAG_CSUM: u16 = 1 << 0;
    pub const FLAG_REMCSUM: u16 = 1 << 1;
}

/// Linux's `AF_INET` and `AF_INET6`.
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// One IPVS message: `genlmsghdr.cmd` and the attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: u8,
    pub attrs: Vec<CmdAttr>,
}

/// `IPVS_CMD_ATTR_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdAttr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Other(DefaultNla),
}

/// `IPVS_SVC_ATTR_*` (nested in `IPVS_CMD_ATTR_SERVICE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SvcAttr {
    Af(u16),
    /// `IPPROTO_TCP`, `IPPROTO_UDP`, `IPPROTO_SCTP`.
    Protocol(u16),
    /// `union nf_inet_addr`: an IPv4 address fills the first 4 bytes.
    Addr([u8; 16]),
    /// Big-endian on the wire.
    Port(u16),
    Fwmark(u32),
    /// NUL-terminated on the wire.
    SchedName(String),
    /// `struct ip_vs_flags { flags, mask }`: the kernel sets the bits of `mask` to those
    /// of `flags`.
    Flags {
        flags: u32,
        mask: u32,
    },
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// The 4 bytes as the kernel copies them (host order): an IPv4 mask in network
    /// order, or an IPv6 prefix length.
    Netmask([u8; 4]),
    /// 32-bit counters (bytes are 64-bit).
    Stats(Vec<StatsAttr>),
    PeName(String),
    /// 64-bit counters.
    Stats64(Vec<StatsAttr>),
    Other(DefaultNla),
}

/// `IPVS_DEST_ATTR_*` (nested in `IPVS_CMD_ATTR_DEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    Addr([u8; 16]),
    /// Big-endian on the wire.
    Port(u16),
    /// `IP_VS_CONN_F_*` forwarding method.
    FwdMethod(u32),
    Weight(u32),
    UThresh(u32),
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Vec<StatsAttr>),
    AddrFamily(u16),
    Stats64(Vec<StatsAttr>),
    TunType(u8),
    /// Big-endian on the wire.
    TunPort(u16),
    TunFlags(u16),
    Other(DefaultNla),
}

/// One counter of a stats nest: its `IPVS_STATS_ATTR_*` kind and value. The kernel
/// sends 32-bit values in `*_ATTR_STATS` (but the byte counts) and 64-bit values in
/// `*_ATTR_STATS64`; `wide` says which this one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsAttr {
    pub kind: u16,
    pub value: u64,
    pub wide: bool,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsMessage {
            cmd: header.cmd,
            attrs: parse_list(buf, parse_cmd_attr)?,
        })
    }
}

/// Parses a list of attributes (a message's or a nest's value) with `one`.
fn parse_list<T>(
    buf: &[u8],
    one: fn(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    NlasIterator::new(buf)
        .map(|nla| nla.and_then(|nla| one(&nla)))
        .collect()
}

fn parse_cmd_attr(nla: &NlaBuffer<&[u8]>) -> Result<CmdAttr, DecodeError> {
    let value = nla.value();
    Ok(match nla.kind() {
        cmd_attr::SERVICE => CmdAttr::Service(
            parse_list(value, parse_svc_attr).map_err(|e| context(e, "IPVS_CMD_ATTR_SERVICE"))?,
        ),
        cmd_attr::DEST => CmdAttr::Dest(
            parse_list(value, parse_dest_attr).map_err(|e| context(e, "IPVS_CMD_ATTR_DEST"))?,
        ),
        _ => CmdAttr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_svc_attr(nla: &NlaBuffer<&[u8]>) -> Result<SvcAttr, DecodeError> {
    use svc_attr::*;
    let v = nla.value();
    Ok(match nla.kind() {
        AF => SvcAttr::Af(u16_ne(v, "IPVS_SVC_ATTR_AF")?),
        PROTOCOL => SvcAttr::Protocol(u16_ne(v, "IPVS_SVC_ATTR_PROTOCOL")?),
        ADDR => SvcAttr::Addr(inet_addr(v, "IPVS_SVC_ATTR_ADDR")?),
        PORT => SvcAttr::Port(u16::from_be_bytes(array(v, "IPVS_SVC_ATTR_PORT")?)),
        FWMARK => SvcAttr::Fwmark(u32_ne(v, "IPVS_SVC_ATTR_FWMARK")?),
        SCHED_NAME => SvcAttr::SchedName(name(v, "IPVS_SVC_ATTR_SCHED_NAME")?),
        FLAGS => {
            let raw: [u8; 8] = array(v, "IPVS_SVC_ATTR_FLAGS")?;
            let (flags, mask) = raw.split_at(4);
            SvcAttr::Flags {
                flags: u32_ne(flags, "IPVS_SVC_ATTR_FLAGS")?,
                mask: u32_ne(mask, "IPVS_SVC_ATTR_FLAGS")?,
            }
        }
        TIMEOUT => SvcAttr::Timeout(u32_ne(v, "IPVS_SVC_ATTR_TIMEOUT")?),
        NETMASK => SvcAttr::Netmask(array(v, "IPVS_SVC_ATTR_NETMASK")?),
        STATS => SvcAttr::Stats(stats(v, "IPVS_SVC_ATTR_STATS")?),
        PE_NAME => SvcAttr::PeName(name(v, "IPVS_SVC_ATTR_PE_NAME")?),
        STATS64 => SvcAttr::Stats64(stats(v, "IPVS_SVC_ATTR_STATS64")?),
        _ => SvcAttr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_dest_attr(nla: &NlaBuffer<&[u8]>) -> Result<DestAttr, DecodeError> {
    use dest_attr::*;
    let v = nla.value();
    Ok(match nla.kind() {
        ADDR => DestAttr::Addr(inet_addr(v, "IPVS_DEST_ATTR_ADDR")?),
        PORT => DestAttr::Port(u16::from_be_bytes(array(v, "IPVS_DEST_ATTR_PORT")?)),
        FWD_METHOD => DestAttr::FwdMethod(u32_ne(v, "IPVS_DEST_ATTR_FWD_METHOD")?),
        WEIGHT => DestAttr::Weight(u32_ne(v, "IPVS_DEST_ATTR_WEIGHT")?),
        U_THRESH => DestAttr::UThresh(u32_ne(v, "IPVS_DEST_ATTR_U_THRESH")?),
        L_THRESH => DestAttr::LThresh(u32_ne(v, "IPVS_DEST_ATTR_L_THRESH")?),
        ACTIVE_CONNS => DestAttr::ActiveConns(u32_ne(v, "IPVS_DEST_ATTR_ACTIVE_CONNS")?),
        INACT_CONNS => DestAttr::InactConns(u32_ne(v, "IPVS_DEST_ATTR_INACT_CONNS")?),
        PERSIST_CONNS => DestAttr::PersistConns(u32_ne(v, "IPVS_DEST_ATTR_PERSIST_CONNS")?),
        STATS => DestAttr::Stats(stats(v, "IPVS_DEST_ATTR_STATS")?),
        ADDR_FAMILY => DestAttr::AddrFamily(u16_ne(v, "IPVS_DEST_ATTR_ADDR_FAMILY")?),
        STATS64 => DestAttr::Stats64(stats(v, "IPVS_DEST_ATTR_STATS64")?),
        TUN_TYPE => DestAttr::TunType(u8::from_ne_bytes(array(v, "IPVS_DEST_ATTR_TUN_TYPE")?)),
        TUN_PORT => DestAttr::TunPort(u16::from_be_bytes(array(v, "IPVS_DEST_ATTR_TUN_PORT")?)),
        TUN_FLAGS => DestAttr::TunFlags(u16_ne(v, "IPVS_DEST_ATTR_TUN_FLAGS")?),
        _ => DestAttr::Other(DefaultNla::parse(nla)?),
    })
}

/// A stats nest: each counter is 4 or 8 bytes (the kernel's sizes differ between the two
/// nests and between counters); `IPVS_STATS_ATTR_PAD` and unknown kinds are skipped.
fn stats(buf: &[u8], what: &str) -> Result<Vec<StatsAttr>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.map_err(|e| context(e, what))?;
        let kind = nla.kind();
        if !(stats_attr::CONNS..=stats_attr::OUTBPS).contains(&kind) {
            continue;
        }
        let v = nla.value();
        let value = match v.len() {
            4 => u64::from(u32_ne(v, what)?),
            8 => u64::from_ne_bytes(array(v, what)?),
            n => {
                return Err(DecodeError::from(format!(
                    "{what}: counter {kind} is {n} bytes long, not 4 or 8"
                )));
            }
        };
        out.push(StatsAttr {
            kind,
            value,
            wide: v.len() == 8,
        });
    }
    Ok(out)
}

fn context(e: DecodeError, what: &str) -> DecodeError {
    DecodeError::from(format!("{what}: {e}"))
}

fn array<const N: usize>(v: &[u8], what: &str) -> Result<[u8; N], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::from(format!("{what} is {} bytes long, expected {N}", v.len())))
}

fn u16_ne(v: &[u8], what: &str) -> Result<u16, DecodeError> {
    Ok(u16::from_ne_bytes(array(v, what)?))
}

fn u32_ne(v: &[u8], what: &str) -> Result<u32, DecodeError> {
    Ok(u32::from_ne_bytes(array(v, what)?))
}

/// An `nf_inet_addr`: 16 bytes as the kernel sends (4 accepted, as the kernel accepts).
fn inet_addr(v: &[u8], what: &str) -> Result<[u8; 16], DecodeError> {
    let mut out = [0u8; 16];
    match v.len() {
        16 | 4 => {
            out[..v.len()].copy_from_slice(v);
            Ok(out)
        }
        n => Err(DecodeError::from(format!(
            "{what} is {n} bytes long, expected 16 (or 4)"
        ))),
    }
}

/// A NUL-terminated name (the NUL and anything after it dropped).
fn name(v: &[u8], what: &str) -> Result<String, DecodeError> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8(v[..end].to_vec())
        .map_err(|_| DecodeError::from(format!("{what} is not UTF-8")))
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(a) => a.as_slice().buffer_len(),
            CmdAttr::Dest(a) => a.as_slice().buffer_len(),
            CmdAttr::Other(nla) => nla.value_len(),
        }
    }

    // Nests go out with NLA_F_NESTED, as libnl 3.7's nla_nest_start marks them
    // (captured from ipvsadm in the VM); the kernel's IPVS parser takes both.
    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => cmd_attr::SERVICE | NLA_F_NESTED,
            CmdAttr::Dest(_) => cmd_attr::DEST | NLA_F_NESTED,
            CmdAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            CmdAttr::Service(a) => a.as_slice().emit(buffer),
            CmdAttr::Dest(a) => a.as_slice().emit(buffer),
            CmdAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        match self {
            SvcAttr::Af(_) | SvcAttr::Protocol(_) | SvcAttr::Port(_) => 2,
            SvcAttr::Addr(_) => 16,
            SvcAttr::Fwmark(_) | SvcAttr::Timeout(_) | SvcAttr::Netmask(_) => 4,
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => s.len() + 1,
            SvcAttr::Flags { .. } => 8,
            SvcAttr::Stats(s) | SvcAttr::Stats64(s) => stats_len(s),
            SvcAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use svc_attr::*;
        match self {
            SvcAttr::Af(_) => AF,
            SvcAttr::Protocol(_) => PROTOCOL,
            SvcAttr::Addr(_) => ADDR,
            SvcAttr::Port(_) => PORT,
            SvcAttr::Fwmark(_) => FWMARK,
            SvcAttr::SchedName(_) => SCHED_NAME,
            SvcAttr::Flags { .. } => FLAGS,
            SvcAttr::Timeout(_) => TIMEOUT,
            SvcAttr::Netmask(_) => NETMASK,
            SvcAttr::Stats(_) => STATS,
            SvcAttr::PeName(_) => PE_NAME,
            SvcAttr::Stats64(_) => STATS64,
            SvcAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            SvcAttr::Af(v) | SvcAttr::Protocol(v) => b[..2].copy_from_slice(&v.to_ne_bytes()),
            SvcAttr::Port(v) => b[..2].copy_from_slice(&v.to_be_bytes()),
            SvcAttr::Addr(a) => b[..16].copy_from_slice(a),
            SvcAttr::Fwmark(v) | SvcAttr::Timeout(v) => b[..4].copy_from_slice(&v.to_ne_bytes()),
            SvcAttr::Netmask(raw) => b[..4].copy_from_slice(raw),
            SvcAttr::SchedName(s) | SvcAttr::PeName(s) => emit_name(s, b),
            SvcAttr::Flags { flags, mask } => {
                b[..4].copy_from_slice(&flags.to_ne_bytes());
                b[4..8].copy_from_slice(&mask.to_ne_bytes());
            }
            SvcAttr::Stats(s) | SvcAttr::Stats64(s) => emit_stats(s, b),
            SvcAttr::Other(nla) => nla.emit_value(b),
        }
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_) | DestAttr::AddrFamily(_) | DestAttr::TunPort(_) => 2,
            DestAttr::TunFlags(_) => 2,
            DestAttr::TunType(_) => 1,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UThresh(_)
            | DestAttr::LThresh(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            DestAttr::Stats(s) | DestAttr::Stats64(s) => stats_len(s),
            DestAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use dest_attr::*;
        match self {
            DestAttr::Addr(_) => ADDR,
            DestAttr::Port(_) => PORT,
            DestAttr::FwdMethod(_) => FWD_METHOD,
            DestAttr::Weight(_) => WEIGHT,
            DestAttr::UThresh(_) => U_THRESH,
            DestAttr::LThresh(_) => L_THRESH,
            DestAttr::ActiveConns(_) => ACTIVE_CONNS,
            DestAttr::InactConns(_) => INACT_CONNS,
            DestAttr::PersistConns(_) => PERSIST_CONNS,
            DestAttr::Stats(_) => STATS,
            DestAttr::AddrFamily(_) => ADDR_FAMILY,
            DestAttr::Stats64(_) => STATS64,
            DestAttr::TunType(_) => TUN_TYPE,
            DestAttr::TunPort(_) => TUN_PORT,
            DestAttr::TunFlags(_) => TUN_FLAGS,
            DestAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => b[..16].copy_from_slice(a),
            DestAttr::Port(v) | DestAttr::TunPort(v) => b[..2].copy_from_slice(&v.to_be_bytes()),
            DestAttr::AddrFamily(v) | DestAttr::TunFlags(v) => {
                b[..2].copy_from_slice(&v.to_ne_bytes())
            }
            DestAttr::TunType(v) => b[0] = *v,
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UThresh(v)
            | DestAttr::LThresh(v)
            | DestAttr::ActiveConns(v)
            | DestAttr::InactConns(v)
            | DestAttr::PersistConns(v) => b[..4].copy_from_slice(&v.to_ne_bytes()),
            DestAttr::Stats(s) | DestAttr::Stats64(s) => emit_stats(s, b),
            DestAttr::Other(nla) => nla.emit_value(b),
        }
    }
}

fn emit_name(s: &str, b: &mut [u8]) {
    b[..s.len()].copy_from_slice(s.as_bytes());
    b[s.len()] = 0;
}

/// One counter as an attribute (what the stats nests hold).
fn counter_nla(s: &StatsAttr) -> DefaultNla {
    let value = if s.wide {
        s.value.to_ne_bytes().to_vec()
    } else {
        // Saturate rather than wrap: a 32-bit counter cannot hold more.
        u32::try_from(s.value)
            .unwrap_or(u32::MAX)
            .to_ne_bytes()
            .to_vec()
    };
    DefaultNla::new(s.kind, value)
}

fn stats_len(s: &[StatsAttr]) -> usize {
    s.iter().map(|c| counter_nla(c).buffer_len()).sum()
}

fn emit_stats(s: &[StatsAttr], b: &mut [u8]) {
    let nlas: Vec<DefaultNla> = s.iter().map(counter_nla).collect();
    nlas.as_slice().emit(b)
}
