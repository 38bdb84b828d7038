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
//! `unknown_vrid`; TTL/hop limit not 255 → `ttl`; shorter than the 8-byte header →
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
            checksums: true,
        }
    }

    /// An instance here runs VRRPv3 over IPv4 with the v2-style checksum.
    pub fn v3_checksum_as_v2(&mut self) {
        self.v3_as_v2 = true;
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

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcode parts.
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
/// Jumps that compare the low 32 bits (a loaded word is not sign-extended like `imm`).
const JMP32: u8 = 0x06;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const H: u8 = 0x08;
const B: u8 = 0x10;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const ABS: u8 = 0x20;
const IND: u8 = 0x40;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const SUB: u8 = 0x10;
const AND: u8 = 0x50;
const LSH: u8 = 0x60;
const RSH: u8 = 0x70;
const MOV: u8 = 0xb0;
const JA: u8 = 0x00;
const JEQ: u8 = 0x10;
const JGT: u8 = 0x20;
const JGE: u8 = 0x30;
const JNE: u8 = 0x50;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
const PSEUDO_MAP_FD: u8 = 1;
const MAP_LOOKUP_ELEM: i32 = 1;
/// Classic BPF's offset of the network header, for `LD_ABS` (linux/filter.h).
const SKF_NET_OFF: i32 = -0x100000;

// Registers: r6 holds the skb (the `LD_ABS`/`LD_IND` convention), r7 the offset of the
// VRRP message, r8 its first byte, r9 its VRID.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R9: u8 = 9;
const R10: u8 = 10;

#[derive(Debug, Clone, Copy)]
struct Label(usize);

/// A tiny assembler with forward labels.
#[derive(Debug, Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    fixups: Vec<(usize, Label)>,
}

impl Asm {
    fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        });
    }
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }
    /// A jump to `l`: `code` is `JMP | op | K/X`.
    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.op(code, dst, src, 0, imm);
    }
    fn mov_imm(&mut self, dst: u8, imm: i32) {
        self.op(ALU64 | MOV | K, dst, 0, 0, imm);
    }
    fn imm64(&mut self, dst: u8, v: u64, src: u8) {
        self.op(LD | DW | IMM, dst, src, 0, v as u32 as i32);
        self.op(0, 0, 0, 0, (v >> 32) as u32 as i32);
    }
    /// `r0 = packet[off]` (`size` B or W, in host order).
    fn ld_abs(&mut self, size: u8, off: i32) {
        self.op(LD | ABS | size, 0, 0, 0, off);
    }
    /// `r0 = packet[r7 + off]`.
    fn ld_vrrp(&mut self, size: u8, off: i32) {
        self.op(LD | IND | size, 0, R7, 0, off);
    }
    /// `r2 = skb->len`.
    fn skb_len(&mut self) {
        self.op(LDX | MEM | W, R2, R6, 0, 0);
    }
    /// Drops with `reason` counted.
    fn drop_if(&mut self, code: u8, dst: u8, src: u8, imm: i32, reason: i32, drops: &[Label]) {
        self.jump(code, dst, src, imm, drops[reason as usize]);
    }
    fn finish(mut self) -> Vec<Insn> {
        for (at, l) in self.fixups {
            let target = self.labels[l.0].expect("every label jumped to is bound");
            self.insns[at].off = (target as isize - at as isize - 1) as i16;
        }
        self.insns
    }
}

/// The filter program for `spec`, counting into the array map `map`.
fn program(spec: &FilterSpec, map: libc::c_int) -> Vec<Insn> {
    program_at(spec, map, 0)
}

/// [`program`] with the VRRP message of an IPv6 packet at `v6_payload` from the
/// start of the data: 0 on a raw socket (the kernel has pulled the IPv6 header), 40 in
/// the kernel's test runner, which hands the program the packet from its network
/// header.
fn program_at(spec: &FilterSpec, map: libc::c_int, v6_payload: i32) -> Vec<Insn> {
    let mut a = Asm::default();
    let drops: Vec<Label> = (0..REASONS.len()).map(|_| a.label()).collect();
    let count = a.label();
    let v2 = a.label();
    let v3 = a.label();
    let verify = a.label();
    let v6 = spec.family == Family::V6;

    a.op(ALU64 | MOV | X, R6, R1, 0, 0);
    // r7: where the VRRP message starts.
    if v6 {
        a.mov_imm(R7, v6_payload);
    } else {
        a.ld_abs(B, 0);
        a.op(ALU64 | AND | K, R0, 0, 0, 0x0f);
        a.op(ALU64 | LSH | K, R0, 0, 0, 2);
        a.op(ALU64 | MOV | X, R7, R0, 0, 0);
    }
    // At least the VRID must be there (user space's first look).
    a.skb_len();
    a.op(ALU64 | MOV | X, R3, R7, 0, 0);
    a.op(ALU64 | ADD | K, R3, 0, 0, 2);
    a.drop_if(JMP | JGT | X, R3, R2, 0, TRUNCATED, &drops);

    // Destination.
    match (spec.group, v6) {
        (Some(IpAddr::V4(g)), false) => {
            a.ld_abs(W, 16);
            a.drop_if(
                JMP32 | JNE | K,
                R0,
                0,
                u32::from(g) as i32,
                WRONG_DESTINATION,
                &drops,
            );
        }
        (Some(IpAddr::V6(g)), true) => {
            let o = g.octets();
            for i in 0..4 {
                let word = u32::from_be_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
                a.ld_abs(W, SKF_NET_OFF + 24 + 4 * i as i32);
                a.drop_if(
                    JMP32 | JNE | K,
                    R0,
                    0,
                    word as i32,
                    WRONG_DESTINATION,
                    &drops,
                );
            }
        }
        (None, false) => {
            a.ld_abs(B, 16);
            a.op(ALU64 | RSH | K, R0, 0, 0, 4);
            a.drop_if(JMP | JEQ | K, R0, 0, 0xe, WRONG_DESTINATION, &drops);
        }
        (None, true) => {
            a.ld_abs(B, SKF_NET_OFF + 24);
            a.drop_if(JMP | JEQ | K, R0, 0, 0xff, WRONG_DESTINATION, &drops);
        }
        // A group of the other family is refused when the socket opens.
        _ => {}
    }

    // VRID: configured for any version?
    a.ld_vrrp(B, 1);
    a.op(ALU64 | MOV | X, R9, R0, 0, 0);
    bit_test(&mut a, &spec.any(), drops[UNKNOWN_VRID as usize]);

    // TTL / hop limit.
    a.ld_abs(B, if v6 { SKF_NET_OFF + 7 } else { 8 });
    a.drop_if(JMP | JNE | K, R0, 0, 255, TTL, &drops);

    // Source: one of the unicast peers (`check_unicast_src`).
    if !spec.sources.is_empty() {
        let known = a.label();
        for src in &spec.sources {
            let next = a.label();
            let words: Vec<(i32, u32)> = match src {
                IpAddr::V4(s) => vec![(12, u32::from(*s))],
                IpAddr::V6(s) => {
                    let o = s.octets();
                    (0..4)
                        .map(|i| {
                            let w = u32::from_be_bytes([
                                o[4 * i],
                                o[4 * i + 1],
                                o[4 * i + 2],
                                o[4 * i + 3],
                            ]);
                            (SKF_NET_OFF + 8 + 4 * i as i32, w)
                        })
                        .collect()
                }
            };
            for (off, word) in words {
                a.ld_abs(W, off);
                a.jump(JMP32 | JNE | K, R0, 0, word as i32, next);
            }
            a.jump(JMP | JA, 0, 0, 0, known);
            a.bind(next);
        }
        a.jump(JMP | JA, 0, 0, 0, drops[UNICAST_SOURCE as usize]);
        a.bind(known);
    }

    // The fixed header.
    a.skb_len();
    a.op(ALU64 | MOV | X, R3, R7, 0, 0);
    a.op(ALU64 | ADD | K, R3, 0, 0, 8);
    a.drop_if(JMP | JGT | X, R3, R2, 0, TRUNCATED, &drops);

    // Version, type, and the VRID's version.
    a.ld_vrrp(B, 0);
    a.op(ALU64 | MOV | X, R8, R0, 0, 0);
    a.op(ALU64 | RSH | K, R0, 0, 0, 4);
    a.jump(JMP | JEQ | K, R0, 0, 2, v2);
    a.jump(JMP | JEQ | K, R0, 0, 3, v3);
    a.jump(JMP | JA, 0, 0, 0, drops[VERSION as usize]);

    let type_check = |a: &mut Asm| {
        a.op(ALU64 | MOV | X, R0, R8, 0, 0);
        a.op(ALU64 | AND | K, R0, 0, 0, 0x0f);
        a.drop_if(JMP | JNE | K, R0, 0, 1, TYPE, &drops);
    };
    a.bind(v2);
    type_check(&mut a);
    if v6 {
        a.jump(JMP | JA, 0, 0, 0, drops[V2_OVER_IPV6 as usize]);
    } else {
        bit_test(&mut a, &spec.v2, drops[VERSION as usize]);
        a.jump(JMP | JA, 0, 0, 0, verify);
    }
    a.bind(v3);
    type_check(&mut a);
    bit_test(&mut a, &spec.v3, drops[VERSION as usize]);
    a.bind(verify);
    if spec.checksums {
        length_and_checksum(&mut a, spec, &drops);
    }
    accept(&mut a);

    // Each drop stores its reason and counts it (only the reasons this program can
    // reach: the verifier refuses unreachable code).
    for (reason, l) in drops.iter().enumerate() {
        if !a.fixups.iter().any(|(_, to)| to.0 == l.0) {
            continue;
        }
        a.bind(*l);
        a.op(ST | MEM | W, R10, 0, -4, reason as i32);
        a.jump(JMP | JA, 0, 0, 0, count);
    }
    a.bind(count);
    let out = a.label();
    a.imm64(R1, map as u32 as u64, PSEUDO_MAP_FD);
    a.op(ALU64 | MOV | X, R2, R10, 0, 0);
    a.op(ALU64 | ADD | K, R2, 0, 0, -4);
    a.op(JMP | CALL, 0, 0, 0, MAP_LOOKUP_ELEM);
    a.jump(JMP | JEQ | K, R0, 0, 0, out);
    a.mov_imm(R1, 1);
    // lock *(u64 *)(r0 + 0) += r1
    a.op(STX | DW | ATOMIC, R0, R1, 0, i32::from(ADD));
    a.bind(out);
    a.mov_imm(R0, 0);
    a.op(JMP | EXIT, 0, 0, 0, 0);
    a.finish()
}

/// The message's length against its address count (user space's `length`), then its
/// checksum (`checksum`), as the codec checks them: the one's complement sum over the
/// message (and for VRRPv3 the pseudo-header), its checksum field included, must be
/// 0xffff. That drops only what the codec drops (a message the codec accepts always
/// sums to 0xffff). Entered with r8 holding the first byte; uses r8 for the sum and r9
/// for the loop (the VRID is no longer needed), the stack at -16 for the length.
fn length_and_checksum(a: &mut Asm, spec: &FilterSpec, drops: &[Label]) {
    let v6 = spec.family == Family::V6;
    let words = a.label();
    let summed = a.label();
    let unchecked = a.label();
    // r9: the version; the length L = skb->len - r7 at -16.
    a.op(ALU64 | MOV | X, R9, R8, 0, 0);
    a.op(ALU64 | RSH | K, R9, 0, 0, 4);
    a.skb_len();
    a.op(ALU64 | SUB | X, R2, R7, 0, 0);
    a.op(STX | MEM | DW, R10, R2, -16, 0);
    // Expected: 8 + count x address length (+ 8 of authentication for v2).
    a.ld_vrrp(B, 3);
    a.op(ALU64 | LSH | K, R0, 0, 0, if v6 { 4 } else { 2 });
    a.op(ALU64 | ADD | K, R0, 0, 0, 8);
    let v3_len = a.label();
    a.jump(JMP | JNE | K, R9, 0, 2, v3_len);
    a.op(ALU64 | ADD | K, R0, 0, 0, 8);
    a.bind(v3_len);
    a.op(LDX | MEM | DW, R2, R10, -16, 0);
    a.drop_if(JMP | JNE | X, R0, R2, 0, LENGTH, drops);
    a.jump(JMP | JGT | K, R2, 0, MAX_CHECKED, unchecked);

    // The sum starts with the pseudo-header for v3 (IPv6 always; IPv4 unless
    // `v3_checksum_as_v2`), 0 otherwise.
    a.mov_imm(R8, 0);
    a.jump(JMP | JNE | K, R9, 0, 3, words);
    if spec.v3_as_v2 && !v6 {
        a.jump(JMP | JA, 0, 0, 0, unchecked);
    } else {
        let addresses: Vec<i32> = if v6 {
            (0..8).map(|i| SKF_NET_OFF + 8 + 4 * i).collect()
        } else {
            vec![12, 16]
        };
        for off in addresses {
            a.ld_abs(W, off);
            a.op(ALU64 | MOV | X, R1, R0, 0, 0);
            a.op(ALU64 | RSH | K, R1, 0, 0, 16);
            a.op(ALU64 | ADD | X, R8, R1, 0, 0);
            a.op(ALU64 | AND | K, R0, 0, 0, 0xffff);
            a.op(ALU64 | ADD | X, R8, R0, 0, 0);
        }
        a.op(ALU64 | ADD | K, R8, 0, 0, 112);
        a.op(LDX | MEM | DW, R2, R10, -16, 0);
        a.op(ALU64 | ADD | X, R8, R2, 0, 0);
    }

    // The message, a 16-bit word at a time: r9 counts bytes from 0, bounded by the
    // constant for the verifier and by L for the packet.
    a.bind(words);
    a.mov_imm(R9, 0);
    let top = a.label();
    a.bind(top);
    a.op(LDX | MEM | DW, R2, R10, -16, 0);
    a.jump(JMP | JGE | X, R9, R2, 0, summed);
    a.jump(JMP | JGE | K, R9, 0, MAX_CHECKED, summed);
    a.op(ALU64 | MOV | X, R1, R7, 0, 0);
    a.op(ALU64 | ADD | X, R1, R9, 0, 0);
    a.op(LD | IND | H, 0, R1, 0, 0);
    a.op(ALU64 | ADD | X, R8, R0, 0, 0);
    a.op(ALU64 | ADD | K, R9, 0, 0, 2);
    a.jump(JMP | JA, 0, 0, 0, top);

    // Fold twice (the sum is far below 2^32), then it must be 0xffff.
    a.bind(summed);
    for _ in 0..2 {
        a.op(ALU64 | MOV | X, R0, R8, 0, 0);
        a.op(ALU64 | RSH | K, R0, 0, 0, 16);
        a.op(ALU64 | AND | K, R8, 0, 0, 0xffff);
        a.op(ALU64 | ADD | X, R8, R0, 0, 0);
    }
    a.drop_if(JMP | JNE | K, R8, 0, 0xffff, CHECKSUM, drops);
    a.bind(unchecked);
}

/// Jumps to `missing` unless bit r9 of the 256-bit `set` is set.
fn bit_test(a: &mut Asm, set: &[u64; 4], missing: Label) {
    let test = a.label();
    a.op(ALU64 | MOV | X, R0, R9, 0, 0);
    a.op(ALU64 | RSH | K, R0, 0, 0, 6);
    for (i, &word) in set.iter().enumerate() {
        a.imm64(R1, word, 0);
        if i < 3 {
            a.jump(JMP | JEQ | K, R0, 0, i as i32, test);
        }
    }
    a.bind(test);
    a.op(ALU64 | MOV | X, R0, R9, 0, 0);
    a.op(ALU64 | AND | K, R0, 0, 0, 63);
    a.op(ALU64 | RSH | X, R1, R0, 0, 0);
    a.op(ALU64 | AND | K, R1, 0, 0, 1);
    a.jump(JMP | JEQ | K, R1, 0, 0, missing);
}

/// Passes the whole packet.
fn accept(a: &mut Asm) {
    a.op(ALU | MOV | K, R0, 0, 0, -1);
    a.op(JMP | EXIT, 0, 0, 0, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use vigil_core::wire::{ChecksumMode, Repr, RxMeta};

    #[test]
    fn every_jump_lands_inside_the_program() {
        let mut spec = FilterSpec::new(Family::V4, Some("224.0.0.18".parse().unwrap()));
        spec.allow(51, Version::V2);
        spec.allow(200, Version::V3);
        let p = program(&spec, 3);
        for (i, insn) in p.iter().enumerate() {
            if matches!(insn.code & 0x07, JMP | JMP32)
                && insn.code & 0xf0 != CALL
                && insn.code & 0xf0 != EXIT
            {
                let to = i as isize + 1 + insn.off as isize;
                assert!(
                    (0..p.len() as isize).contains(&to),
                    "insn {i} jumps to {to}"
                );
            }
        }
    }

    /// The verifier's verdict on every shape of program (needs root; skipped
    /// otherwise: the namespace tests load it under `VIGIL_REQUIRE_PRIVILEGED`).
    #[test]
    fn the_kernel_verifier_accepts_every_shape() {
        if !vigil_tests::netns::privileged_or_skip("the_kernel_verifier_accepts_every_shape") {
            return;
        }
        let groups: [Option<IpAddr>; 4] = [
            Some("224.0.0.18".parse().unwrap()),
            None,
            Some("ff02::12".parse().unwrap()),
            None,
        ];
        for (i, group) in groups.into_iter().enumerate() {
            let family = if i < 2 { Family::V4 } else { Family::V6 };
            let mut spec = FilterSpec::new(family, group);
            spec.allow(7, Version::V3);
            spec.allow(130, Version::V2);
            if i == 1 {
                spec.only_from(&["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]);
            }
            if i == 3 {
                spec.only_from(&["fe80::1".parse().unwrap()]);
            }
            let counters = Counters::new().expect("array map");
            // The whole program, checksum loop included (`attach` would fall back).
            load(&program(&spec, counters.map.as_raw_fd()))
                .unwrap_or_else(|e| panic!("{family:?} {group:?}: {e}"));
            spec.v3_checksum_as_v2();
            load(&program(&spec, counters.map.as_raw_fd()))
                .unwrap_or_else(|e| panic!("{family:?} {group:?} as v2: {e}"));
            let socket = socket2::Socket::new(
                match family {
                    Family::V4 => socket2::Domain::IPV4,
                    Family::V6 => socket2::Domain::IPV6,
                },
                socket2::Type::RAW,
                Some(socket2::Protocol::from(112)),
            )
            .expect("raw socket");
            use std::os::fd::AsFd;
            counters
                .attach(socket.as_fd(), &spec)
                .unwrap_or_else(|e| panic!("{family:?} {group:?}: {e}"));
            assert_eq!(counters.read().expect("read"), [0; REASONS.len()]);
        }
    }

    #[test]
    fn bitmaps_hold_each_vrid_in_its_version() {
        let mut spec = FilterSpec::new(Family::V6, None);
        spec.allow(0, Version::V3);
        spec.allow(63, Version::V3);
        spec.allow(64, Version::V2);
        spec.allow(255, Version::V3);
        assert_eq!(spec.v3, [1 | 1 << 63, 0, 0, 1 << 63]);
        assert_eq!(spec.v2, [0, 1, 0, 0]);
        assert_eq!(spec.any()[1], 1);
    }

    /// Runs `prog` on `frame` (from its Ethernet header) in the kernel's test runner;
    /// its return value: 0 drops, anything else passes.
    fn test_run(prog: &OwnedFd, frame: &[u8]) -> u32 {
        let mut attr = Attr::default();
        attr.u32_at(0, prog.as_raw_fd() as u32);
        attr.u32_at(8, frame.len() as u32);
        attr.u64_at(16, frame.as_ptr() as u64);
        attr.u32_at(32, 1);
        bpf(10, &mut attr).expect("BPF_PROG_TEST_RUN");
        u32::from_ne_bytes(attr.0[4..8].try_into().unwrap())
    }

    /// An Ethernet frame carrying `payload` as VRRP from `src` to `dst` with `ttl`.
    fn frame(src: IpAddr, dst: IpAddr, ttl: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x01, 0, 0x5e, 0, 0, 0x12, 0x02, 0, 0, 0, 0, 1];
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                f.extend_from_slice(&[0x08, 0x00]);
                let len = (20 + payload.len()) as u16;
                f.extend_from_slice(&[0x45, 0xc0]);
                f.extend_from_slice(&len.to_be_bytes());
                f.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
                f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                f.extend_from_slice(&[112, ttl]);
                f.extend_from_slice(&s.octets());
                f.extend_from_slice(&d.octets());
            }
            _ => unreachable!("one family"),
        }
        f.extend_from_slice(payload);
        f
    }

    /// What user space decides for a packet on a socket configured as `spec` (VRID
    /// `vrid` of `version`): the engine's demultiplexing, the codec, the instance's
    /// version. `true`: accepted.
    fn user_space_accepts(
        group: Option<IpAddr>,
        vrid: u8,
        version: Version,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        payload: &[u8],
    ) -> bool {
        if payload.get(1) != Some(&vrid) {
            return false;
        }
        if group.map_or(dst.is_multicast(), |g| dst != g) {
            return false;
        }
        let meta = RxMeta { src, dst, ttl };
        Repr::parse(payload, &meta, ChecksumMode::PseudoHeader).is_ok_and(|r| r.version == version)
    }

    /// The filter against user space on every advert of the captured vectors and on
    /// thousands of corruptions of each (every byte set to a few values, every
    /// truncation, wrong TTL and destination): whatever user space accepts, the filter
    /// passes; and the corruptions that only the checksum can catch, it drops.
    #[test]
    fn the_filter_drops_only_what_user_space_drops_on_real_and_corrupted_adverts() {
        if !vigil_tests::netns::privileged_or_skip(
            "the_filter_drops_only_what_user_space_drops_on_real_and_corrupted_adverts",
        ) {
            return;
        }
        let dir = std::env::var_os("VIGIL_VECTORS").map_or_else(
            || {
                std::path::PathBuf::from(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../shared/vectors"
                ))
            },
            std::path::PathBuf::from,
        );
        let mut messages: Vec<(IpAddr, IpAddr, u8, Vec<u8>)> = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the vectors directory") {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("pcap") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for m in vigil_tests::pcap::vrrp_messages(&bytes).unwrap() {
                let m = (m.src, m.dst, m.ttl, m.payload.to_vec());
                if !messages.contains(&m) {
                    messages.push(m);
                }
            }
        }
        assert!(
            messages.len() >= 4,
            "{} adverts in {}",
            messages.len(),
            dir.display()
        );
        // No IPv6 in the captures: VRRPv3 over IPv6 as the codec emits it, multicast
        // and unicast, with one and with three addresses.
        use vigil_core::wire::{Addresses, Auth, Interval};
        let ll: IpAddr = "fe80::211:22ff:fe33:4455".parse().unwrap();
        let peer: IpAddr = "fd00::2".parse().unwrap();
        let a: [[u8; 16]; 3] = [
            "fd00::50".parse::<Ipv6Addr>().unwrap().octets(),
            "fd00::51".parse::<Ipv6Addr>().unwrap().octets(),
            "2001:db8::1".parse::<Ipv6Addr>().unwrap().octets(),
        ];
        for (dst, n) in [("ff02::12".parse().unwrap(), 1), (peer, 3)] {
            let repr = Repr {
                version: Version::V3,
                vrid: 42,
                priority: 100,
                interval: Interval::from_centis(100),
                auth: Auth::None,
                addresses: Addresses::v6(&a[..n]),
            };
            let mut buf = vec![0u8; repr.buffer_len()];
            let len = repr
                .emit(&mut buf, ll, dst, ChecksumMode::PseudoHeader)
                .unwrap();
            buf.truncate(len);
            messages.push((ll, dst, 255, buf));
        }
        let (mut runs, mut caught) = (0, 0);
        for (src, dst, ttl, payload) in &messages {
            let family = if src.is_ipv6() {
                Family::V6
            } else {
                Family::V4
            };
            let version = if payload[0] >> 4 == 2 {
                Version::V2
            } else {
                Version::V3
            };
            let vrid = payload[1];
            let group = dst.is_multicast().then_some(*dst);
            let mut spec = FilterSpec::new(family, group);
            spec.allow(vrid, version);
            let counters = Counters::new().unwrap();
            let prog = load(&program_at(&spec, counters.map.as_raw_fd(), 40)).unwrap();
            let mut check = |src: IpAddr, dst: IpAddr, ttl: u8, p: &[u8]| {
                let passes = test_run(&prog, &frame(src, dst, ttl, p)) != 0;
                let accepts = user_space_accepts(group, vrid, version, src, dst, ttl, p);
                assert!(
                    passes || !accepts,
                    "the filter dropped what user space accepts: {src} -> {dst} ttl {ttl} {p:02x?}"
                );
                runs += 1;
                passes
            };
            assert!(
                check(*src, *dst, *ttl, payload),
                "a captured advert: {payload:02x?}"
            );
            for i in 0..payload.len() {
                for v in [
                    0x00,
                    0xff,
                    payload[i] ^ 0x01,
                    payload[i] ^ 0x80,
                    payload[i].wrapping_add(1),
                ] {
                    let mut p = payload.clone();
                    p[i] = v;
                    let passes = check(*src, *dst, *ttl, &p);
                    // Outside the header's judged fields (version/type, VRID, count),
                    // only the checksum can tell: the filter must catch it.
                    if i >= 2 && i != 3 && p != *payload && !passes {
                        caught += 1;
                    }
                    if i >= 2 && i != 3 && p != *payload {
                        let meta = RxMeta {
                            src: *src,
                            dst: *dst,
                            ttl: *ttl,
                        };
                        let codec = Repr::parse(&p, &meta, ChecksumMode::PseudoHeader);
                        if matches!(codec, Err(vigil_core::wire::Error::Checksum { .. })) {
                            assert!(!passes, "a bad checksum passed: {p:02x?}");
                        }
                    }
                }
            }
            for n in 0..payload.len() {
                check(*src, *dst, *ttl, &payload[..n]);
            }
            check(*src, *dst, 254, payload);
            let other: IpAddr = match dst {
                IpAddr::V4(_) => Ipv4Addr::new(224, 0, 0, 19).into(),
                IpAddr::V6(_) => "ff02::13".parse::<Ipv6Addr>().unwrap().into(),
            };
            assert!(
                !check(*src, other, *ttl, payload),
                "wrong destination passed"
            );
        }
        eprintln!(
            "{} adverts, {runs} runs, {caught} corruptions caught by the checksum",
            messages.len()
        );
        assert!(caught > 0);
    }
}
