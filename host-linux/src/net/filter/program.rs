//! The filter program: the checks of user space's packet path, in its order, as eBPF.

use super::asm::*;
use super::*;

/// The filter program for `spec`, counting into the array map `map`.
pub(super) fn program(spec: &FilterSpec, map: libc::c_int) -> Vec<Insn> {
    program_at(spec, map, 0)
}

/// [`program`] with the VRRP message of an IPv6 packet at `v6_payload` from the
/// start of the data: 0 on a raw socket (the kernel has pulled the IPv6 header), 40 in
/// the kernel's test runner, which hands the program the packet from its network
/// header.
pub(super) fn program_at(spec: &FilterSpec, map: libc::c_int, v6_payload: i32) -> Vec<Insn> {
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

    // TTL / hop limit: 255 on multicast adverts only, as keepalived checks (a unicast
    // advert may have crossed routers, or carry `unicast_ttl`).
    if spec.group.is_some() {
        a.ld_abs(B, if v6 { SKF_NET_OFF + 7 } else { 8 });
        a.drop_if(JMP | JNE | K, R0, 0, 255, TTL, &drops);
    }

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
pub(super) fn length_and_checksum(a: &mut Asm, spec: &FilterSpec, drops: &[Label]) {
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
    let old = spec.old_unicast && !v6;
    if old {
        a.op(STX | MEM | DW, R10, R8, -24, 0);
    }
    let fold = |a: &mut Asm| {
        for _ in 0..2 {
            a.op(ALU64 | MOV | X, R0, R8, 0, 0);
            a.op(ALU64 | RSH | K, R0, 0, 0, 16);
            a.op(ALU64 | AND | K, R8, 0, 0, 0xffff);
            a.op(ALU64 | ADD | X, R8, R0, 0, 0);
        }
    };
    fold(a);
    if old {
        // keepalived ≤ 1.3.6's unicast checksum: the same sum with 224.0.0.18 in place
        // of the destination. (A v2 message, which has no pseudo-header, gets a
        // meaningless second sum: user space checks whatever passes.)
        a.jump(JMP | JEQ | K, R8, 0, 0xffff, unchecked);
        a.op(LDX | MEM | DW, R8, R10, -24, 0);
        a.ld_abs(W, 16);
        a.op(ALU64 | MOV | X, R1, R0, 0, 0);
        a.op(ALU64 | RSH | K, R1, 0, 0, 16);
        a.op(ALU64 | SUB | X, R8, R1, 0, 0);
        a.op(ALU64 | AND | K, R0, 0, 0, 0xffff);
        a.op(ALU64 | SUB | X, R8, R0, 0, 0);
        a.op(ALU64 | ADD | K, R8, 0, 0, 0xe000 + 0x0012);
        fold(a);
    }
    a.drop_if(JMP | JNE | K, R8, 0, 0xffff, CHECKSUM, drops);
    a.bind(unchecked);
}

/// Jumps to `missing` unless bit r9 of the 256-bit `set` is set.
pub(super) fn bit_test(a: &mut Asm, set: &[u64; 4], missing: Label) {
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
pub(super) fn accept(a: &mut Asm) {
    a.op(ALU | MOV | K, R0, 0, 0, -1);
    a.op(JMP | EXIT, 0, 0, 0, 0);
}
