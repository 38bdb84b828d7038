//! A tiny eBPF assembler: the instruction encoding, opcodes, registers and forward
//! labels the filter program is written with.

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(super) struct Insn {
    pub(super) code: u8,
    pub(super) regs: u8,
    pub(super) off: i16,
    pub(super) imm: i32,
}

// Opcode parts.
pub(super) const LD: u8 = 0x00;
pub(super) const LDX: u8 = 0x01;
pub(super) const ST: u8 = 0x02;
pub(super) const STX: u8 = 0x03;
pub(super) const ALU: u8 = 0x04;
pub(super) const JMP: u8 = 0x05;
/// Jumps that compare the low 32 bits (a loaded word is not sign-extended like `imm`).
pub(super) const JMP32: u8 = 0x06;
pub(super) const ALU64: u8 = 0x07;
pub(super) const W: u8 = 0x00;
pub(super) const H: u8 = 0x08;
pub(super) const B: u8 = 0x10;
pub(super) const DW: u8 = 0x18;
pub(super) const IMM: u8 = 0x00;
pub(super) const ABS: u8 = 0x20;
pub(super) const IND: u8 = 0x40;
pub(super) const MEM: u8 = 0x60;
pub(super) const ATOMIC: u8 = 0xc0;
pub(super) const K: u8 = 0x00;
pub(super) const X: u8 = 0x08;
pub(super) const ADD: u8 = 0x00;
pub(super) const SUB: u8 = 0x10;
pub(super) const AND: u8 = 0x50;
pub(super) const LSH: u8 = 0x60;
pub(super) const RSH: u8 = 0x70;
pub(super) const MOV: u8 = 0xb0;
pub(super) const JA: u8 = 0x00;
pub(super) const JEQ: u8 = 0x10;
pub(super) const JGT: u8 = 0x20;
pub(super) const JGE: u8 = 0x30;
pub(super) const JNE: u8 = 0x50;
pub(super) const CALL: u8 = 0x80;
pub(super) const EXIT: u8 = 0x90;
pub(super) const PSEUDO_MAP_FD: u8 = 1;
pub(super) const MAP_LOOKUP_ELEM: i32 = 1;
/// Classic BPF's offset of the network header, for `LD_ABS` (linux/filter.h).
pub(super) const SKF_NET_OFF: i32 = -0x100000;

// Registers: r6 holds the skb (the `LD_ABS`/`LD_IND` convention), r7 the offset of the
// VRRP message, r8 its first byte, r9 its VRID.
pub(super) const R0: u8 = 0;
pub(super) const R1: u8 = 1;
pub(super) const R2: u8 = 2;
pub(super) const R3: u8 = 3;
pub(super) const R6: u8 = 6;
pub(super) const R7: u8 = 7;
pub(super) const R8: u8 = 8;
pub(super) const R9: u8 = 9;
pub(super) const R10: u8 = 10;

#[derive(Debug, Clone, Copy)]
pub(super) struct Label(pub(super) usize);

/// A tiny assembler with forward labels.
#[derive(Debug, Default)]
pub(super) struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
    pub(super) fixups: Vec<(usize, Label)>,
}

impl Asm {
    pub(super) fn op(&mut self, code: u8, dst: u8, src: u8, off: i16, imm: i32) {
        self.insns.push(Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        });
    }
    pub(super) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    pub(super) fn bind(&mut self, l: Label) {
        self.labels[l.0] = Some(self.insns.len());
    }
    /// A jump to `l`: `code` is `JMP | op | K/X`.
    pub(super) fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, l: Label) {
        self.fixups.push((self.insns.len(), l));
        self.op(code, dst, src, 0, imm);
    }
    pub(super) fn mov_imm(&mut self, dst: u8, imm: i32) {
        self.op(ALU64 | MOV | K, dst, 0, 0, imm);
    }
    pub(super) fn imm64(&mut self, dst: u8, v: u64, src: u8) {
        self.op(LD | DW | IMM, dst, src, 0, v as u32 as i32);
        self.op(0, 0, 0, 0, (v >> 32) as u32 as i32);
    }
    /// `r0 = packet[off]` (`size` B or W, in host order).
    pub(super) fn ld_abs(&mut self, size: u8, off: i32) {
        self.op(LD | ABS | size, 0, 0, 0, off);
    }
    /// `r0 = packet[r7 + off]`.
    pub(super) fn ld_vrrp(&mut self, size: u8, off: i32) {
        self.op(LD | IND | size, 0, R7, 0, off);
    }
    /// `r2 = skb->len`.
    pub(super) fn skb_len(&mut self) {
        self.op(LDX | MEM | W, R2, R6, 0, 0);
    }
    /// Drops with `reason` counted.
    pub(super) fn drop_if(
        &mut self,
        code: u8,
        dst: u8,
        src: u8,
        imm: i32,
        reason: i32,
        drops: &[Label],
    ) {
        self.jump(code, dst, src, imm, drops[reason as usize]);
    }
    pub(super) fn finish(mut self) -> Vec<Insn> {
        for (at, l) in self.fixups {
            let target = self.labels[l.0].expect("every label jumped to is bound");
            self.insns[at].off = (target as isize - at as isize - 1) as i16;
        }
        self.insns
    }
}
