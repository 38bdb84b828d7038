//! Links and addresses through rtnetlink: look up interfaces and their primary
//! addresses, create the `use_vmac` macvlan, and follow link state changes ([`Netlink`],
//! [`LinkMonitor`]); add and remove VIPs as keepalived does ([`AddressSocket`],
//! synchronous).
//!
//! A [`Netlink`] and a [`LinkMonitor`] each spawn their netlink connection's driver on the
//! current tokio runtime, so create them inside one (a current-thread runtime is enough).
//! Start the monitor before reading the initial state, so that no change falls between.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::{Stream, StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage, MacVlanMode};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkMacVlan, LinkUnspec, MulticastGroup};
use vigil_core::wire::Family;

type Messages = futures_util::stream::BoxStream<
    'static,
    (
        NetlinkMessage<RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    ),
>;

/// An interface as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The hardware address, if it is a 6-byte (Ethernet) one.
    pub mac: Option<[u8; 6]>,
    /// Usable: administratively up (`IFF_UP`) and running (`IFF_RUNNING`: carrier and
    /// operational state up), keepalived's `IF_ISUP`.
    pub up: bool,
    /// Administratively up (`IFF_UP`), whatever the carrier.
    pub admin_up: bool,
    pub mtu: u32,
}

/// A link change from the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub ifindex: u32,
    pub name: String,
    /// Usable (`IFF_UP` and `IFF_RUNNING`); always false when `deleted`.
    pub up: bool,
    pub admin_up: bool,
    /// The link was removed (`RTM_DELLINK`).
    pub deleted: bool,
}

/// An address scope (`ip addr ... scope`), with keepalived's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scope(pub u8);

impl Scope {
    pub const GLOBAL: Scope = Scope(0);
    pub const SITE: Scope = Scope(200);
    pub const LINK: Scope = Scope(253);
    pub const HOST: Scope = Scope(254);
    pub const NOWHERE: Scope = Scope(255);

    /// `global` (or `universe`), `site`, `link`, `host`, `nowhere`, or a number 0..=255,
    /// as keepalived and iproute2 accept them.
    pub fn from_name(name: &str) -> Option<Scope> {
        Some(match name {
            "global" | "universe" => Self::GLOBAL,
            "site" => Self::SITE,
            "link" => Self::LINK,
            "host" => Self::HOST,
            "nowhere" => Self::NOWHERE,
            n => Scope(n.parse().ok()?),
        })
    }
}

/// An address to add (a VIP): keepalived's `virtual_ipaddress` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressSpec {
    pub addr: IpAddr,
    /// 32 or 128 for a bare address, as keepalived.
    pub prefix_len: u8,
    /// IPv4 only (`label eth0:1`); keepalived ignores labels on IPv6 addresses.
    pub label: Option<String>,
    /// IPv4 only; keepalived ignores scopes on IPv6 addresses.
    pub scope: Scope,
    /// IPv4 only; none unless configured (`brd`), as keepalived.
    pub broadcast: Option<Ipv4Addr>,
}

impl AddressSpec {
    /// A bare address with the full prefix length, as keepalived takes `10.0.0.1`.
    pub fn host(addr: IpAddr) -> Self {
        let prefix_len = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self::new(addr, prefix_len)
    }

    /// `addr/prefix_len`, scope global, no label, no broadcast.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Self {
        AddressSpec {
            addr,
            prefix_len,
            label: None,
            scope: Scope::GLOBAL,
            broadcast: None,
        }
    }
}

/// An address found on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddress {
    pub ifindex: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub scope: Scope,
    /// `IFA_F_*` flags (secondary, tentative, nodad, ...).
    pub flags: u32,
    pub label: Option<String>,
}

impl IfAddress {
    pub fn is_secondary(&self) -> bool {
        self.flags & AddressFlags::Secondary.bits() != 0
    }

    /// Not usable yet (DAD running) or never (DAD failed).
    pub fn is_tentative(&self) -> bool {
        self.flags & (AddressFlags::Tentative | AddressFlags::Dadfailed).bits() != 0
    }
}

/// A connection to rtnetlink for requests.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens the connection and spawns its driver on the current tokio runtime.
    pub fn new() -> io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// The interface called `name`; `NotFound` if there is none.
    pub async fn link_by_name(&self, name: &str) -> io::Result<Link> {
        let found = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(Some(msg)) => Ok(link_of(&msg)),
            Ok(None) => Err(not_found(format!("no interface {name}"))),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                Err(not_found(format!("no interface {name}")))
            }
            Err(e) => Err(to_io(e)),
        }
    }

    /// The interface with index `index`; `NotFound` if there is none.
    pub async fn link_by_index(&self, index: u32) -> io::Result<Link> {
        let found = self
            .handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_next()
            .await;
        match found {
            Ok(Some(msg)) => Ok(link_of(&msg)),
            Ok(None) => Err(not_found(format!("no interface with index {index}"))),
            Err(e) if errno(&e) == Some(libc::ENODEV) => {
                Err(not_found(format!("no interface with index {index}")))
            }
            Err(e) => Err(to_io(e)),
        }
    }

    /// Sets a link administratively up or down.
    pub async fn set_link_up(&self, index: u32, up: bool) -> io::Result<()> {
        let builder = LinkUnspec::new_with_index(index);
        let msg = if up { builder.up() } else { builder.down() }.build();
        self.handle.link().set(msg).execute().await.map_err(to_io)
    }

    /// Every address on interface `ifindex`, in the kernel's order (primary IPv4 addresses
    /// before their secondaries).
    pub async fn addresses(&self, ifindex: u32) -> io::Result<Vec<IfAddress>> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(ifindex)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(to_io)? {
            if msg.header.index != ifindex {
                continue;
            }
            if let Some(a) = if_address_of(&msg) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The address vigild sends adverts from when none is configured, as keepalived
    /// chooses it: for IPv4 the first primary (not secondary) address of global scope,
    /// else the first primary one; for IPv6 the first usable (not tentative) link-local
    /// address. `None` if the interface has no such address (yet).
    pub async fn primary_address(
        &self,
        ifindex: u32,
        family: Family,
    ) -> io::Result<Option<IpAddr>> {
        let all = self.addresses(ifindex).await?;
        Ok(pick_primary(&all, family))
    }

    /// Creates a macvlan `name` on `parent` with MAC `mac` in private mode, up, as
    /// keepalived's `use_vmac` does, and returns its index.
    pub async fn create_macvlan(&self, parent: u32, name: &str, mac: [u8; 6]) -> io::Result<u32> {
        let msg = LinkMacVlan::new(name, parent, MacVlanMode::Private)
            .address(mac.to_vec())
            .up()
            .build();
        self.handle.link().add(msg).execute().await.map_err(to_io)?;
        Ok(self.link_by_name(name).await?.index)
    }

    /// Deletes link `index`. Deleting a link that is not there is not an error.
    pub async fn delete_link(&self, index: u32) -> io::Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(to_io(e)),
        }
    }
}

/// Link changes (`RTMGRP_LINK`) as a stream of [`LinkEvent`]s.
pub struct LinkMonitor {
    messages: Messages,
}

impl std::fmt::Debug for LinkMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMonitor").finish_non_exhaustive()
    }
}

impl LinkMonitor {
    /// Subscribes to link changes and spawns the driver on the current tokio runtime.
    pub fn new() -> io::Result<Self> {
        let (connection, _handle, messages) =
            rtnetlink::new_multicast_connection(&[MulticastGroup::Link])?;
        tokio::spawn(connection);
        Ok(LinkMonitor {
            messages: messages.boxed(),
        })
    }

    /// The next link change; `None` if the netlink connection ended.
    pub async fn next_event(&mut self) -> Option<LinkEvent> {
        StreamExt::next(self).await
    }
}

impl Stream for LinkMonitor {
    type Item = LinkEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<LinkEvent>> {
        loop {
            match self.messages.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some((msg, _))) => {
                    if let Some(event) = link_event_of(msg) {
                        return Poll::Ready(Some(event));
                    }
                }
            }
        }
    }
}

fn link_event_of(msg: NetlinkMessage<RouteNetlinkMessage>) -> Option<LinkEvent> {
    let NetlinkPayload::InnerMessage(inner) = msg.payload else {
        return None;
    };
    let (link, deleted) = match inner {
        RouteNetlinkMessage::NewLink(m) => (link_of(&m), false),
        RouteNetlinkMessage::DelLink(m) => (link_of(&m), true),
        _ => return None,
    };
    Some(LinkEvent {
        ifindex: link.index,
        name: link.name,
        up: link.up && !deleted,
        admin_up: link.admin_up && !deleted,
        deleted,
    })
}

fn link_of(msg: &LinkMessage) -> Link {
    let flags = msg.header.flags;
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mac: None,
        admin_up: flags.contains(LinkFlags::Up),
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        mtu: 0,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name.clone_from(name),
            LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            _ => {}
        }
    }
    link
}

fn if_address_of(msg: &AddressMessage) -> Option<IfAddress> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    let mut flags = u32::from(msg.header.flags.bits());
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    // IFA_LOCAL is the host's address (IFA_ADDRESS is the peer on point-to-point links).
    let addr = local.or(address)?;
    Some(IfAddress {
        ifindex: msg.header.index,
        addr,
        prefix_len: msg.header.prefix_len,
        scope: Scope(u8::from(msg.header.scope)),
        flags,
        label,
    })
}

/// keepalived's choice of source address among an interface's addresses.
pub fn pick_primary(addresses: &[IfAddress], family: Family) -> Option<IpAddr> {
    match family {
        Family::V4 => {
            let primaries = || {
                addresses
                    .iter()
                    .filter(|a| a.addr.is_ipv4() && !a.is_secondary())
            };
            primaries()
                .find(|a| a.scope == Scope::GLOBAL)
                .or_else(|| primaries().next())
                .map(|a| a.addr)
        }
        Family::V6 => addresses
            .iter()
            .find(|a| match a.addr {
                IpAddr::V6(v6) => is_link_local(v6) && !a.is_tentative(),
                IpAddr::V4(_) => false,
            })
            .map(|a| a.addr),
    }
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

fn vip_message(ifindex: u32, spec: &AddressSpec) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = address_family(spec.addr);
    msg.header.prefix_len = spec.prefix_len;
    msg.header.index = ifindex;
    msg.attributes.push(AddressAttribute::Local(spec.addr));
    msg.attributes.push(AddressAttribute::Address(spec.addr));
    match spec.addr {
        IpAddr::V4(_) => {
            msg.header.scope = AddressScope::from(spec.scope.0);
            if let Some(brd) = spec.broadcast {
                msg.attributes.push(AddressAttribute::Broadcast(brd));
            }
            if let Some(label) = &spec.label {
                msg.attributes.push(AddressAttribute::Label(label.clone()));
            }
        }
        IpAddr::V6(_) => {
            msg.header.flags = AddressHeaderFlags::Nodad;
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
            if spec.prefix_len == 128 {
                let mut info = CacheInfo::default();
                info.ifa_preferred = 0;
                info.ifa_valid = u32::MAX;
                msg.attributes.push(AddressAttribute::CacheInfo(info));
            }
        }
    }
    msg
}

fn del_message(ifindex: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = address_family(addr);
    msg.header.prefix_len = prefix_len;
    msg.header.index = ifindex;
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    msg
}

/// Adds and removes VIPs, without an async runtime: the kernel carries out an address
/// request inside the `send` and has its acknowledgement queued when `send` returns, so
/// a takeover installs its VIPs in tens of microseconds without waiting for another
/// thread (keepalived does the same from its VRRP process).
#[derive(Debug)]
pub struct AddressSocket {
    socket: rtnetlink::sys::Socket,
    sequence: u32,
    buf: Vec<u8>,
}

impl AddressSocket {
    pub fn new() -> io::Result<Self> {
        let mut socket = rtnetlink::sys::Socket::new(rtnetlink::sys::constants::NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&rtnetlink::sys::SocketAddr::new(0, 0))?;
        // The acknowledgement is queued before `send` returns; the timeout only bounds
        // a kernel that would not answer.
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        super::setsockopt_raw(
            std::os::fd::AsFd::as_fd(&socket),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout,
        )?;
        Ok(AddressSocket {
            socket,
            sequence: 0,
            buf: vec![0; 8192],
        })
    }

    /// Adds `spec` to interface `ifindex` as keepalived does: IPv4 with its label, scope
    /// and broadcast if given; IPv6 with `nodad` (usable at once, no DAD failure in a
    /// split brain) and, for a /128, preferred lifetime 0 so it is never chosen as a
    /// source. Adding an address that is already there is not an error.
    pub fn add(&mut self, ifindex: u32, spec: &AddressSpec) -> io::Result<()> {
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;
        let msg = RouteNetlinkMessage::NewAddress(vip_message(ifindex, spec));
        match self.request(msg, flags) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Removes `addr/prefix_len` from interface `ifindex`. Removing an address that is
    /// not there is not an error.
    pub fn del(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let msg = RouteNetlinkMessage::DelAddress(del_message(ifindex, addr, prefix_len));
        match self.request(msg, NLM_F_REQUEST | NLM_F_ACK) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r,
        }
    }

    fn request(&mut self, payload: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut msg = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(payload),
        );
        msg.header.flags = flags;
        msg.header.sequence_number = self.sequence;
        msg.finalize();
        let len = msg.header.length as usize;
        if len > self.buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "request too long",
            ));
        }
        msg.serialize(&mut self.buf[..len]);
        self.socket.send(&self.buf[..len], 0)?;
        // Skip anything that is not the answer to this request (bounded).
        for _ in 0..16 {
            // SAFETY: receives into the live buffer, at most its length.
            let n = unsafe {
                libc::recv(
                    std::os::fd::AsRawFd::as_raw_fd(&self.socket),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let Ok(reply) =
                NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[..n as usize])
            else {
                continue;
            };
            if reply.header.sequence_number != self.sequence {
                continue;
            }
            return match reply.payload {
                NetlinkPayload::Error(e) => match e.code {
                    None => Ok(()),
                    Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                },
                _ => Ok(()),
            };
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no netlink acknowledgement",
        ))
    }
}

fn address_family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The errno of a netlink error reply, positive.
fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn to_io(e: rtnetlink::Error) -> io::Error {
    match errno(&e) {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::other(e),
    }
}

fn not_found(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(addr: &str, scope: Scope, flags: u32) -> IfAddress {
        IfAddress {
            ifindex: 2,
            addr: addr.parse().unwrap(),
            prefix_len: 24,
            scope,
            flags,
            label: None,
        }
    }

    #[test]
    fn primary_v4_skips_secondaries_and_prefers_global() {
        let sec = AddressFlags::Secondary.bits();
        let list = [
            a("127.0.0.2", Scope::HOST, 0),
            a("10.0.0.50", Scope::GLOBAL, sec),
            a("10.0.0.1", Scope::GLOBAL, 0),
            a("fe80::1", Scope::LINK, 0),
        ];
        assert_eq!(
            pick_primary(&list, Family::V4),
            Some("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            pick_primary(&list[..2], Family::V4),
            Some("127.0.0.2".parse().unwrap())
        );
        assert_eq!(pick_primary(&list[1..2], Family::V4), None);
    }

    #[test]
    fn primary_v6_is_the_usable_link_local() {
        let tentative = AddressFlags::Tentative.bits();
        let list = [
            a("fd00::1", Scope::GLOBAL, 0),
            a("fe80::9", Scope::LINK, tentative),
            a("fe80::1", Scope::LINK, 0),
        ];
        assert_eq!(
            pick_primary(&list, Family::V6),
            Some("fe80::1".parse().unwrap())
        );
        assert_eq!(pick_primary(&list[..2], Family::V6), None);
    }

    #[test]
    fn scope_names() {
        assert_eq!(Scope::from_name("host"), Some(Scope::HOST));
        assert_eq!(Scope::from_name("link"), Some(Scope::LINK));
        assert_eq!(Scope::from_name("global"), Some(Scope::GLOBAL));
        assert_eq!(Scope::from_name("200"), Some(Scope::SITE));
        assert_eq!(Scope::from_name("bogus"), None);
    }

    #[test]
    fn vip_messages_follow_keepalived() {
        let mut spec = AddressSpec::new("10.0.0.50".parse().unwrap(), 24);
        spec.label = Some("eth0:vip".into());
        spec.scope = Scope::HOST;
        spec.broadcast = Some(Ipv4Addr::new(10, 0, 0, 255));
        let m = vip_message(7, &spec);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.prefix_len, 24);
        assert_eq!(u8::from(m.header.scope), 254);
        assert!(
            m.attributes
                .contains(&AddressAttribute::Label("eth0:vip".into()))
        );
        assert!(
            m.attributes
                .contains(&AddressAttribute::Broadcast(Ipv4Addr::new(10, 0, 0, 255)))
        );

        let m = vip_message(7, &AddressSpec::host("fd00::50".parse().unwrap()));
        assert_eq!(m.header.prefix_len, 128);
        assert!(m.header.flags.contains(AddressHeaderFlags::Nodad));
        assert!(
            m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::CacheInfo(c) if c.ifa_preferred == 0))
        );
        // No broadcast is invented for IPv4 (rtnetlink's builder would add one).
        let m = vip_message(7, &AddressSpec::new("10.0.0.50".parse().unwrap(), 24));
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, AddressAttribute::Broadcast(_)))
        );
    }
}
