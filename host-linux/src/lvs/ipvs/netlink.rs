//! The kernel's IPVS table through generic netlink (family `IPVS`).
//!
//! The socket is blocking, on purpose: the kernel runs an IPVS command inside the
//! `sendmsg` call and has queued its answer before the call returns, and a dump is
//! produced as it is read, so every call here is a few microseconds of system calls with
//! nothing to wait for. A synchronous API keeps the [`Ipvs`] trait free of futures; the
//! checker engine calls it from its own thread (or `spawn_blocking`), never from the VRRP
//! protocol thread. `SO_RCVTIMEO` bounds each wait, so a reply that never comes fails the
//! call with `TimedOut` instead of wedging the engine; the socket is then replaced, so a
//! late answer or a half-read dump cannot be taken for the next reply (replies are also
//! matched by sequence number).

use super::convert::{
    dest_attrs, dest_key_attrs, parse_dest, parse_service, service_attrs, service_key_attrs,
};
use super::wire::{CmdAttr, IpvsMessage, cmd};
use super::{Dest, DestStatus, Ipvs, Service, ServiceKey, ServiceStatus};
use netlink_packet_core::{
    DecodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP,
    NLMSG_OVERRUN, NetlinkBuffer, NetlinkMessage, NetlinkPayload, NetlinkSerializable,
    NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlMessage};
use netlink_sys::{Socket, protocols::NETLINK_GENERIC};
use nix::sys::socket::{setsockopt, sockopt::ReceiveTimeout};
use nix::sys::time::TimeVal;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// `GENL_ID_CTRL`: the generic-netlink controller's fixed family id.
const GENL_ID_CTRL: u16 = 16;
/// `CTRL_ATTR_FAMILY_ID`.
const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// The length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;
/// Large enough for any datagram of a dump (the kernel fills at most 32 KiB).
const RECEIVE_BUFFER: usize = 64 * 1024;
/// A whole transaction (a dump of many datagrams) may take this many receive timeouts.
const TRANSACTION_TIMEOUTS: u32 = 10;

/// The kernel's IPVS table.
#[derive(Debug)]
pub struct NetlinkIpvs {
    /// `None` after a failed exchange: the next call opens a fresh socket.
    socket: Option<Socket>,
    family: u16,
    seq: u32,
    timeout: Duration,
    rx: Vec<u8>,
}

impl NetlinkIpvs {
    /// How long one reply may take by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

    /// Opens a generic-netlink socket and resolves the `IPVS` family. Fails with
    /// `NotFound` where the kernel has no IPVS (module not loaded, or not built).
    pub fn open() -> io::Result<Self> {
        Self::open_with_timeout(Self::DEFAULT_TIMEOUT)
    }

    /// [`open`](Self::open) with another receive timeout.
    pub fn open_with_timeout(timeout: Duration) -> io::Result<Self> {
        let mut ipvs = NetlinkIpvs {
            socket: Some(new_socket(timeout)?),
            family: 0,
            seq: 0,
            timeout,
            rx: Vec::with_capacity(RECEIVE_BUFFER),
        };
        ipvs.family = ipvs.resolve_family()?;
        Ok(ipvs)
    }

    /// The id the kernel gave the `IPVS` family.
    pub fn family_id(&self) -> u16 {
        self.family
    }

    fn resolve_family(&mut self) -> io::Result<u16> {
        let mut request = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IpvsMessage::family_name().into())],
        });
        request.finalize();
        let mut id = None;
        let result = self.transact(request, NLM_F_REQUEST | NLM_F_ACK, GENL_ID_CTRL, |genl| {
            id = family_id_of(genl)?.or(id);
            Ok(())
        });
        match result {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "the kernel has no generic netlink family IPVS (ip_vs not loaded or not built)",
            )),
            Err(e) => Err(e),
            Ok(()) => id.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the generic netlink controller answered without a family id for IPVS",
                )
            }),
        }
    }

    /// Sends one IPVS command and waits for the kernel's acknowledgement.
    fn command(&mut self, cmd: u8, attrs: Vec<CmdAttr>) -> io::Result<()> {
        let request = ipvs_request(self.family, IpvsMessage { cmd, attrs });
        self.transact(request, NLM_F_REQUEST | NLM_F_ACK, self.family, |_| Ok(()))
    }

    /// Dumps with one IPVS command, handing each answer to `each`.
    fn dump(
        &mut self,
        cmd: u8,
        attrs: Vec<CmdAttr>,
        mut each: impl FnMut(IpvsMessage) -> Result<(), DecodeError>,
    ) -> io::Result<()> {
        let request = ipvs_request(self.family, IpvsMessage { cmd, attrs });
        // NLM_F_ACK as libnl adds it: the kernel sends no acknowledgement after a dump.
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP;
        self.transact(request, flags, self.family, |genl| {
            let message = GenlMessage::<IpvsMessage>::parse_with_param(genl, 0)?;
            each(message.payload)
        })
    }

    /// Sends `inner` and reads until the kernel's acknowledgement, error or end of dump.
    /// Answers of type `reply_type` go to `each` (the generic-netlink header and
    /// attributes); a parse failure is reported after the rest of the answer is drained.
    fn transact<P: NetlinkSerializable>(
        &mut self,
        inner: P,
        flags: u16,
        reply_type: u16,
        each: impl FnMut(&[u8]) -> Result<(), DecodeError>,
    ) -> io::Result<()>
    where
        NetlinkPayload<P>: From<P>,
    {
        self.seq = self.seq.wrapping_add(1);
        let bytes = encode(inner, flags, self.seq);
        let result = self.exchange(&bytes, reply_type, each);
        if let Err(e) = &result
            && e.raw_os_error().is_none_or(|errno| errno == libc::EAGAIN)
        {
            // Not a kernel verdict: the reply stream is in an unknown state.
            self.socket = None;
        }
        result
    }

    fn exchange(
        &mut self,
        request: &[u8],
        reply_type: u16,
        mut each: impl FnMut(&[u8]) -> Result<(), DecodeError>,
    ) -> io::Result<()> {
        if self.socket.is_none() {
            self.socket = Some(new_socket(self.timeout)?);
        }
        let Some(socket) = self.socket.as_ref() else {
            return Err(io::Error::other("no netlink socket"));
        };
        socket.send(request, 0)?;
        let deadline = Instant::now() + self.timeout * TRANSACTION_TIMEOUTS;
        let mut parse_error: Option<DecodeError> = None;
        loop {
            if Instant::now() > deadline {
                return Err(timed_out(self.timeout * TRANSACTION_TIMEOUTS));
            }
            self.rx.clear();
            let n = match socket.recv(&mut self.rx, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(timed_out(self.timeout));
                }
                Err(e) => return Err(e),
            };
            if n > self.rx.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("netlink datagram of {n} bytes exceeds the receive buffer"),
                ));
            }
            match walk(&self.rx, self.seq, reply_type, &mut |genl| {
                if parse_error.is_none()
                    && let Err(e) = each(genl)
                {
                    parse_error = Some(e);
                }
            })? {
                Walk::More => {}
                Walk::Finished(Ok(())) => {
                    return match parse_error {
                        Some(e) => Err(malformed(e)),
                        None => Ok(()),
                    };
                }
                Walk::Finished(Err(e)) => return Err(e),
            }
        }
    }
}

/// What one datagram said about the transaction.
enum Walk {
    More,
    /// The acknowledgement, the kernel's error, or the end of the dump.
    Finished(io::Result<()>),
}

/// Walks the netlink messages of one datagram: ours (by sequence number) of type
/// `reply_type` go to `each`, other sequence numbers (late answers to an abandoned
/// request) are skipped.
fn walk(data: &[u8], seq: u32, reply_type: u16, each: &mut dyn FnMut(&[u8])) -> io::Result<Walk> {
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        let header = NetlinkBuffer::new_checked(rest).map_err(malformed)?;
        let len = usize::try_from(header.length()).unwrap_or(usize::MAX);
        // new_checked guarantees NLMSG_HDRLEN <= len <= rest.len().
        let payload = rest.get(NLMSG_HDRLEN..len).unwrap_or_default();
        offset = offset.saturating_add(len.saturating_add(3) & !3);
        if header.sequence_number() != seq {
            continue;
        }
        match header.message_type() {
            NLMSG_NOOP => {}
            NLMSG_ERROR => return Ok(Walk::Finished(errno_result(payload, "NLMSG_ERROR"))),
            NLMSG_DONE => {
                // A dump's end; the kernel may put a (negative) error in it.
                let result = if payload.len() >= 4 {
                    errno_result(payload, "NLMSG_DONE")
                } else {
                    Ok(())
                };
                return Ok(Walk::Finished(result));
            }
            NLMSG_OVERRUN => {
                return Ok(Walk::Finished(Err(io::Error::other(
                    "netlink reported data lost (NLMSG_OVERRUN)",
                ))));
            }
            t if t == reply_type => each(payload),
            t => {
                return Ok(Walk::Finished(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected netlink message type {t} in a reply"),
                ))));
            }
        }
    }
    Ok(Walk::More)
}

/// The `int error` that opens an `NLMSG_ERROR` (0: an acknowledgement) or `NLMSG_DONE`.
fn errno_result(payload: &[u8], what: &str) -> io::Result<()> {
    let Some(code) = payload.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} shorter than its error code"),
        ));
    };
    match i32::from_ne_bytes(code) {
        0 => Ok(()),
        code => match code.checked_neg().filter(|errno| *errno > 0) {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} with error code {code}"),
            )),
        },
    }
}

/// The family id in a controller answer (generic header, then attributes).
fn family_id_of(genl: &[u8]) -> Result<Option<u16>, DecodeError> {
    let attrs = genl
        .get(4..)
        .ok_or_else(|| DecodeError::from("generic netlink header cut short"))?;
    for nla in NlasIterator::new(attrs) {
        let nla = nla?;
        if nla.kind() == CTRL_ATTR_FAMILY_ID {
            let value = <[u8; 2]>::try_from(nla.value())
                .map_err(|_| DecodeError::from("CTRL_ATTR_FAMILY_ID is not 2 bytes long"))?;
            return Ok(Some(u16::from_ne_bytes(value)));
        }
    }
    Ok(None)
}

fn malformed(e: DecodeError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed IPVS netlink reply: {e}"),
    )
}

fn timed_out(after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no complete IPVS netlink reply within {after:?}"),
    )
}

fn new_socket(timeout: Duration) -> io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_GENERIC)?;
    socket.bind_auto()?;
    let micros = i64::from(timeout.subsec_micros());
    let secs = i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX);
    // A zero timeval would mean "wait forever".
    let micros = if secs == 0 && micros == 0 { 1 } else { micros };
    setsockopt(&socket, ReceiveTimeout, &TimeVal::new(secs, micros)).map_err(io::Error::from)?;
    Ok(socket)
}

/// An IPVS request with the family id filled in.
pub(crate) fn ipvs_request(family: u16, message: IpvsMessage) -> GenlMessage<IpvsMessage> {
    let mut request = GenlMessage::from_payload(message);
    request.set_resolved_family_id(family);
    request
}

/// The bytes of a request (`nlmsg_pid` 0: the kernel does not look at it).
pub(crate) fn encode<P: NetlinkSerializable>(inner: P, flags: u16, seq: u32) -> Vec<u8>
where
    NetlinkPayload<P>: From<P>,
{
    let mut message = NetlinkMessage::from(inner);
    message.header.flags = flags;
    message.header.sequence_number = seq;
    message.finalize();
    let mut bytes = vec![0u8; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

fn service_nest(key: &ServiceKey) -> io::Result<CmdAttr> {
    Ok(CmdAttr::Service(service_key_attrs(key)?))
}

impl Ipvs for NetlinkIpvs {
    fn add_service(&mut self, svc: &Service) -> io::Result<()> {
        let attrs = vec![CmdAttr::Service(service_attrs(svc)?)];
        self.command(cmd::NEW_SERVICE, attrs)
    }

    fn edit_service(&mut self, svc: &Service) -> io::Result<()> {
        let attrs = vec![CmdAttr::Service(service_attrs(svc)?)];
        self.command(cmd::SET_SERVICE, attrs)
    }

    fn del_service(&mut self, key: &ServiceKey) -> io::Result<()> {
        let attrs = vec![service_nest(key)?];
        self.command(cmd::DEL_SERVICE, attrs)
    }

    fn add_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()> {
        let attrs = vec![service_nest(key)?, CmdAttr::Dest(dest_attrs(dest))];
        self.command(cmd::NEW_DEST, attrs)
    }

    fn edit_dest(&mut self, key: &ServiceKey, dest: &Dest) -> io::Result<()> {
        let attrs = vec![service_nest(key)?, CmdAttr::Dest(dest_attrs(dest))];
        self.command(cmd::SET_DEST, attrs)
    }

    fn del_dest(&mut self, key: &ServiceKey, addr: SocketAddr) -> io::Result<()> {
        let attrs = vec![service_nest(key)?, CmdAttr::Dest(dest_key_attrs(addr))];
        self.command(cmd::DEL_DEST, attrs)
    }

    fn services(&mut self) -> io::Result<Vec<Service>> {
        Ok(self
            .services_status()?
            .into_iter()
            .map(|s| s.service)
            .collect())
    }

    fn dests(&mut self, key: &ServiceKey) -> io::Result<Vec<DestStatus>> {
        let family = key.family();
        let mut out = Vec::new();
        self.dump(cmd::GET_DEST, vec![service_nest(key)?], |message| {
            for attr in message.attrs {
                if let CmdAttr::Dest(attrs) = attr {
                    out.push(parse_dest(&attrs, family)?);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn services_status(&mut self) -> io::Result<Vec<ServiceStatus>> {
        let mut out = Vec::new();
        self.dump(cmd::GET_SERVICE, Vec::new(), |message| {
            for attr in message.attrs {
                if let CmdAttr::Service(attrs) = attr {
                    out.push(parse_service(&attrs)?);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// [`walk`](super::walk): `None` while the answer goes on.
    pub fn walk(
        data: &[u8],
        seq: u32,
        reply_type: u16,
        each: &mut dyn FnMut(&[u8]),
    ) -> io::Result<Option<io::Result<()>>> {
        Ok(match super::walk(data, seq, reply_type, each)? {
            Walk::More => None,
            Walk::Finished(result) => Some(result),
        })
    }

    pub fn errno_result(payload: &[u8], what: &str) -> io::Result<()> {
        super::errno_result(payload, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generic-netlink controller answers a `GETFAMILY` sent without `NLM_F_ACK` with
    /// its reply and nothing after it: waiting for the acknowledgement must end at the
    /// receive timeout, and the next exchange must not be confused by what was left.
    #[test]
    fn a_reply_that_never_completes_times_out_and_the_socket_is_replaced() {
        let timeout = Duration::from_millis(50);
        let mut nl = NetlinkIpvs {
            socket: Some(new_socket(timeout).unwrap()),
            family: GENL_ID_CTRL,
            seq: 0,
            timeout,
            rx: Vec::with_capacity(RECEIVE_BUFFER),
        };
        let get_nlctrl = || {
            let mut m = GenlMessage::from_payload(GenlCtrl {
                cmd: GenlCtrlCmd::GetFamily,
                nlas: vec![GenlCtrlAttrs::FamilyName("nlctrl".into())],
            });
            m.finalize();
            m
        };
        let started = Instant::now();
        let mut replies = 0;
        let e = nl
            .transact(get_nlctrl(), NLM_F_REQUEST, GENL_ID_CTRL, |_| {
                replies += 1;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert_eq!(replies, 1);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            nl.socket.is_none(),
            "the socket is replaced after a timeout"
        );

        let mut id = None;
        nl.transact(
            get_nlctrl(),
            NLM_F_REQUEST | NLM_F_ACK,
            GENL_ID_CTRL,
            |genl| {
                id = family_id_of(genl)?;
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(id, Some(GENL_ID_CTRL));
    }
}
