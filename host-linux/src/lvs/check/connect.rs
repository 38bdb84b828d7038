//! Sockets as keepalived's `socket_bind_connect` makes them: `SO_MARK` (`fwmark`),
//! `SO_BINDTODEVICE` (`bind_if`), bound to `bindto`/`bind_port`, then a non-blocking
//! connect bounded by `connect_timeout`.
//!
//! The outcome keeps keepalived's classes apart because its checks log them
//! differently: refused at once (`connect_fail` from `connect()`), refused or reset
//! later (`connect_fail` from `SO_ERROR`), timed out, or the socket could not be set up.

use crate::config::lvs::ConnectTo;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpStream;

/// Why a TCP connection was not made.
#[derive(Debug)]
pub enum ConnectError {
    /// The socket could not be created, marked, bound to its device or address
    /// (keepalived: "socket bind failed", `connect_error`).
    Setup(io::Error),
    /// `connect()` itself failed: network or host unreachable, refused on the spot
    /// (keepalived's `connect_fail` from `socket_bind_connect`).
    Immediate(io::Error),
    /// The connection was refused or reset while in progress (`connect_fail` from
    /// `socket_state`).
    Failed(io::Error),
    /// No answer within `connect_timeout`.
    Timeout,
}

/// A socket of `ty` for `co`, non-blocking, with `fwmark`, `bind_if` and `bindto` /
/// `bind_port` applied.
pub fn socket_for(co: &ConnectTo, ty: Type, proto: Protocol) -> io::Result<Socket> {
    let domain = match co.addr {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    };
    let sock = Socket::new(domain, ty.nonblocking().cloexec(), Some(proto))?;
    if let Some(mark) = co.fwmark.filter(|m| *m != 0) {
        sock.set_mark(mark)?;
    }
    if let Some(dev) = &co.bind_if {
        sock.bind_device(Some(dev.as_bytes()))?;
    }
    if co.bindto.is_some() || co.bind_port.is_some() {
        let ip = co.bindto.unwrap_or(match co.addr {
            SocketAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        });
        let mut local = SocketAddr::new(ip, co.bind_port.unwrap_or(0));
        // A link-local bindto needs its interface as scope, as keepalived sets it.
        if let (SocketAddr::V6(l), Some(dev)) = (&mut local, &co.bind_if)
            && let Ok(idx) = nix::net::if_::if_nametoindex(dev.as_str())
        {
            l.set_scope_id(idx);
        }
        sock.bind(&SockAddr::from(local))?;
    }
    Ok(sock)
}

/// Connects to `co.addr` within `co.timeout`.
pub async fn tcp(co: &ConnectTo) -> Result<TcpStream, ConnectError> {
    let sock = socket_for(co, Type::STREAM, Protocol::TCP).map_err(ConnectError::Setup)?;
    let in_progress = match sock.connect(&SockAddr::from(co.addr)) {
        Ok(()) => false,
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
        Err(e) => return Err(ConnectError::Immediate(e)),
    };
    let stream =
        TcpStream::from_std(std::net::TcpStream::from(sock)).map_err(ConnectError::Setup)?;
    if in_progress {
        match tokio::time::timeout(co.timeout, stream.writable()).await {
            Err(_) => return Err(ConnectError::Timeout),
            Ok(Err(e)) => return Err(ConnectError::Failed(e)),
            Ok(Ok(())) => {}
        }
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                return Err(ConnectError::Timeout);
            }
            Ok(Some(e)) | Err(e) => return Err(ConnectError::Failed(e)),
        }
    }
    Ok(stream)
}
