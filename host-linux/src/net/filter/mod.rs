//! The kernel-side gate of a raw VRRP socket: an eBPF socket filter that passes only
//! what the instances on that socket can use, and counts what it drops, by reason.
//!
//! Junk (adverts for VRIDs nobody here runs, the wrong version, TTL, destination) then
//! costs a few dozen instructions in the kernel instead of a queued packet, a wake-up
//! and a `recvmmsg`, and cannot fill the socket buffer in front of a master's real
//! advert. The filter drops only what user space would drop anyway, under the same
//! reason names, so behaviour does not change with or without it; what it passes is
//! checked again in full (checksum, length, authentication) by the codec.
//!
//! Why eBPF and not classic BPF: a classic filter cannot count what it drops, and a
//! flood the daemon cannot see is a flood nobody can diagnose. The counters live in
//! an array map that outlives reloads (a reload attaches a new program to the same
//! map). Where eBPF is refused (no `CAP_BPF`/`CAP_SYS_ADMIN`, a locked-down kernel),
//! the socket runs unfiltered and user space counts every drop, as before.
//!
//! The program, for IPv4 (the socket sees the IP header; for IPv6 it sees the VRRP
//! message and reads the IPv6 header through `SKF_NET_OFF`), in user space's order:
//! shorter than 2 bytes of VRRP → `truncated`; destination not the socket's group (or
//! a multicast one on a unicast socket) → `wrong_destination`; VRID not configured →
//! `unknown_vrid`; TTL/hop limit not 255 (multicast sockets only) → `ttl`; shorter than the 8-byte header →
//! `truncated`; version neither 2 nor 3 → `version`; type not advertisement → `type`;
//! VRID configured for the other version → `version` (IPv6: v2 → `v2_over_ipv6`); on
//! a unicast socket whose instances all have `check_unicast_src`, a source that is none
//! of their peers → `unicast_source` (checked before the version, so a junk packet from
//! a stranger is counted as that).

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use vigil_core::router::DropReason;
use vigil_core::wire::{Family, Version};

/// Drop reasons counted by the filter, by map index: the core's table, in user space's order.
pub const REASONS: [DropReason; 10] = [
    DropReason::Truncated,
    DropReason::WrongDestination,
    DropReason::UnknownVrid,
    DropReason::Ttl,
    DropReason::Version,
    DropReason::Type,
    DropReason::V2OverIpv6,
    DropReason::UnicastSource,
    DropReason::Length,
    DropReason::Checksum,
];
const TRUNCATED: i32 = 0;
const WRONG_DESTINATION: i32 = 1;
const UNKNOWN_VRID: i32 = 2;
const TTL: i32 = 3;
const VERSION: i32 = 4;
const TYPE: i32 = 5;
const V2_OVER_IPV6: i32 = 6;
const UNICAST_SOURCE: i32 = 7;
const LENGTH: i32 = 8;
const CHECKSUM: i32 = 9;
/// The longest VRRP message whose checksum the filter checks (a VRRPv2 advert with 254
/// IPv4 addresses); longer ones are left to user space. A constant bound is what lets
/// the verifier accept the loop.
const MAX_CHECKED: i32 = 1024;
/// Unicast peers checked in the kernel; a socket with more checks them in user space.
pub const MAX_SOURCES: usize = 16;

/// What one socket's instances can use: their VRIDs per version, where adverts must
/// be addressed, and (unicast, `check_unicast_src`) where they may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    pub family: Family,
    /// The multicast group of a multicast socket; `None` for unicast peers.
    pub group: Option<IpAddr>,
    v2: [u64; 4],
    v3: [u64; 4],
    /// Allowed sources; empty: any.
    sources: Vec<IpAddr>,
    /// A VRRPv3 instance here covers only the message by its checksum over IPv4
    /// (`v3_checksum_as_v2`): v3 checksums are then left to user space.
    v3_as_v2: bool,
    /// A VRRPv3 IPv4 instance here may use keepalived ≤ 1.3.6's unicast checksum (its
    /// pseudo-header names 224.0.0.18): a checksum right either way passes.
    old_unicast: bool,
    /// Check lengths and checksums (everything but the oldest kernels: the loop needs
    /// Linux 5.3's bounded loops).
    checksums: bool,
}

impl FilterSpec {
    pub fn new(family: Family, group: Option<IpAddr>) -> Self {
        FilterSpec {
            family,
            group,
            v2: [0; 4],
            v3: [0; 4],
            sources: Vec::new(),
            v3_as_v2: false,
            old_unicast: false,
            checksums: true,
        }
    }

    /// An instance here runs VRRPv3 over IPv4 with the v2-style checksum.
    pub fn v3_checksum_as_v2(&mut self) {
        self.v3_as_v2 = true;
    }

    /// An instance here may check VRRPv3 over IPv4 with keepalived ≤ 1.3.6's unicast
    /// checksum (`old_unicast_checksum`, or keepalived's automatic switch to it).
    pub fn old_unicast_checksum(&mut self) {
        self.old_unicast = true;
    }

    /// Lets adverts through only from `sources` (at most [`MAX_SOURCES`] of the
    /// socket's family; more, or none, leave sources unchecked here).
    pub fn only_from(&mut self, sources: &[IpAddr]) {
        let same_family = sources
            .iter()
            .all(|s| s.is_ipv6() == (self.family == Family::V6));
        self.sources.clear();
        if same_family && sources.len() <= MAX_SOURCES {
            self.sources.extend_from_slice(sources);
        }
    }

    /// Lets adverts of `version` for `vrid` through.
    pub fn allow(&mut self, vrid: u8, version: Version) {
        let set = match version {
            Version::V2 => &mut self.v2,
            Version::V3 => &mut self.v3,
        };
        set[usize::from(vrid >> 6)] |= 1 << (vrid & 63);
    }

    fn any(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.v2[i] | self.v3[i])
    }
}

/// One socket's filter counters, kept across reloads; [`Counters::attach`] installs
/// (or replaces) the program on the socket.
#[derive(Debug)]
pub struct Counters {
    map: OwnedFd,
}

impl Counters {
    /// A fresh set of counters (an eBPF array map), or the reason eBPF is unavailable.
    pub fn new() -> io::Result<Self> {
        let mut attr = Attr::default();
        attr.u32_at(0, BPF_MAP_TYPE_ARRAY);
        attr.u32_at(4, 4); // key: u32 reason
        attr.u32_at(8, 8); // value: u64 count
        attr.u32_at(12, REASONS.len() as u32);
        attr.name_at(28, b"vigild_drops");
        let fd = bpf(BPF_MAP_CREATE, &mut attr)?;
        // SAFETY: a fresh descriptor the kernel just returned; nothing else owns it.
        Ok(Counters {
            map: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Loads the program for `spec` and attaches it to `socket`, replacing the one
    /// before (atomically: no packet passes unfiltered in between).
    pub fn attach(&self, socket: BorrowedFd<'_>, spec: &FilterSpec) -> io::Result<()> {
        let prog = match load(&program(spec, self.map.as_raw_fd())) {
            Ok(p) => p,
            // A kernel without bounded loops (before 5.3): no checksums in the kernel.
            Err(_) if spec.checksums => {
                let spec = FilterSpec {
                    checksums: false,
                    ..spec.clone()
                };
                load(&program(&spec, self.map.as_raw_fd()))?
            }
            Err(e) => return Err(e),
        };
        let fd = prog.as_raw_fd();
        super::setsockopt_int(socket, libc::SOL_SOCKET, libc::SO_ATTACH_BPF, fd)
        // The socket holds its own reference to the program: `prog` may close.
    }

    /// Takes any filter off `socket`: it then passes everything to user space. For a
    /// socket whose new filter could not be loaded, the old one must not stay: it
    /// would drop what a reload added.
    pub fn detach(socket: BorrowedFd<'_>) -> io::Result<()> {
        match super::setsockopt_int(socket, libc::SOL_SOCKET, libc::SO_DETACH_FILTER, 0) {
            // ENOENT: there was none.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    /// The counts so far, by [`REASONS`] index.
    pub fn read(&self) -> io::Result<[u64; REASONS.len()]> {
        let mut out = [0u64; REASONS.len()];
        for (key, slot) in (0u32..).zip(out.iter_mut()) {
            let mut attr = Attr::default();
            attr.u32_at(0, self.map.as_raw_fd() as u32);
            attr.u64_at(8, (&raw const key) as u64);
            attr.u64_at(16, (&raw mut *slot) as u64);
            bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
        }
        Ok(out)
    }
}

// The bpf(2) interface: commands, types and `union bpf_attr` offsets from
// include/uapi/linux/bpf.h.
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;

/// `union bpf_attr`, as zeroed bytes with its fields written at their offsets.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Default for Attr {
    fn default() -> Self {
        Attr([0; 128])
    }
}

impl Attr {
    fn u32_at(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn u64_at(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
    fn name_at(&mut self, at: usize, name: &[u8]) {
        // BPF_OBJ_NAME_LEN is 16 with the terminating NUL.
        let n = name.len().min(15);
        self.0[at..at + n].copy_from_slice(&name[..n]);
    }
}

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_int> {
    // SAFETY: `attr` is a live, zero-padded `union bpf_attr` of the size given; the
    // pointers written into it refer to buffers live for this call.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as libc::c_int)
    }
}

fn load(insns: &[Insn]) -> io::Result<OwnedFd> {
    let license = b"Dual MIT/Apache-2.0\0";
    let mut log = vec![0u8; 0];
    let mut attr = Attr::default();
    attr.u32_at(0, BPF_PROG_TYPE_SOCKET_FILTER);
    attr.u32_at(4, insns.len() as u32);
    attr.u64_at(8, insns.as_ptr() as u64);
    attr.u64_at(16, license.as_ptr() as u64);
    attr.name_at(48, b"vigild_vrrp");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a fresh descriptor the kernel just returned.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e)
            if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::EACCES) =>
        {
            // The verifier refused it: load again with its log, for the error message.
            log.resize(64 << 10, 0);
            attr.u32_at(24, 1);
            attr.u32_at(28, log.len() as u32);
            attr.u64_at(32, log.as_mut_ptr() as u64);
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let last = text.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
            Err(io::Error::new(e.kind(), format!("{e}: {last}")))
        }
        Err(e) => Err(e),
    }
}

mod asm;
mod program;
#[cfg(test)]
mod tests;

use asm::*;
use program::*;
