//! The freestanding runtime of the no_std proofs: the process entry point, the panic
//! handler, raw `write`/`exit_group` system calls and the C memory functions, for an
//! x86_64 Linux executable with no C runtime and no libc.
//!
//! One file for both proofs: this crate has it as `mod rt`, and
//! firmware-demo/nostd-proof includes it with `#[path]`, so that the two binaries
//! stand on the same runtime and only their checks differ. The including crate root
//! provides `fn run() -> Result<(), &'static str>` (the checks; `Err` names the step
//! that failed) and, defined before `mod rt;`, the macro `name!()` (what the messages
//! call the proof).

use core::arch::{asm, naked_asm};

/// The process entry point. The kernel jumps here with `rsp` pointing at `argc`
/// (16-byte aligned); there is no return address. Clear the frame pointer, align the
/// stack as the C ABI expects at a call, and call into Rust, which never returns.
///
/// # Safety
/// Only the kernel may call this, once, as the process entry point.
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start() -> ! {
    naked_asm!(
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {main}",
        "ud2",
        main = sym proof_main,
    )
}

/// Runs the proof's checks: "<name>: ok" on stdout and exit status 0, or
/// "<name>: FAILED: <step>" on stderr and exit status 1.
extern "C" fn proof_main(_initial_sp: *const usize) -> ! {
    match crate::run() {
        Ok(()) => {
            write_all(1, concat!(name!(), ": ok\n").as_bytes());
            exit(0)
        }
        Err(step) => {
            write_all(2, concat!(name!(), ": FAILED: ").as_bytes());
            write_all(2, step.as_bytes());
            write_all(2, b"\n");
            exit(1)
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    write_all(2, concat!(name!(), ": panic\n").as_bytes());
    exit(101)
}

/// The prebuilt libcore for this target is compiled with `panic=unwind`, so its unwind
/// tables name a personality routine. With `panic = "abort"` nothing ever unwinds and
/// this is never called; fat LTO (the release profile) drops the reference, but a
/// non-LTO build (`cargo build`, dev profile) still needs the symbol to link.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

// ---- Linux system calls (x86_64) ----------------------------------------------------

const SYS_WRITE: usize = 1;
const SYS_EXIT_GROUP: usize = 231;

fn write_all(fd: usize, mut buf: &[u8]) {
    while !buf.is_empty() {
        let ret: isize;
        // SAFETY: write(2) reads `buf.len()` bytes from a live slice; rcx and r11 are
        // clobbered by `syscall`.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_WRITE as isize => ret,
                in("rdi") fd,
                in("rsi") buf.as_ptr(),
                in("rdx") buf.len(),
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack, readonly),
            );
        }
        if ret <= 0 {
            // -EINTR cannot happen without signal handlers; anything else is fatal.
            exit(2);
        }
        buf = &buf[ret as usize..];
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: exit_group(2) does not return.
    unsafe {
        asm!(
            "syscall",
            in("rax") SYS_EXIT_GROUP,
            in("rdi") code as isize,
            options(noreturn, nostack),
        )
    }
}

// ---- The C memory functions ---------------------------------------------------------
//
// rustc emits calls to these for copies, fills and comparisons (and libcore uses them),
// and on x86_64-unknown-linux-gnu the prebuilt compiler_builtins leaves them to libc,
// which is not linked here. They are written with `rep movsb`/`rep stosb` and volatile
// loads so that LLVM cannot recognise them as a copy or compare idiom and turn their
// bodies back into calls to themselves.

/// # Safety
/// The C `memcpy` contract: `n` bytes valid at both pointers, not overlapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the direction flag is clear per the ABI.
    unsafe {
        asm!(
            "rep movsb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// # Safety
/// The C `memmove` contract: `n` bytes valid at both pointers, which may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize).wrapping_sub(src as usize) >= n {
        // dst is below src, or past its end: a forward copy reads each byte before
        // it is overwritten.
        // SAFETY: as above.
        unsafe { memcpy(dst, src, n) }
    } else {
        // dst overlaps the tail of src: copy backwards, from the last byte down.
        // SAFETY: the caller's contract; the direction flag is restored before return.
        unsafe {
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n).wrapping_sub(1) => _,
                inout("rsi") src.add(n).wrapping_sub(1) => _,
                options(nostack),
            );
        }
        dst
    }
}

/// # Safety
/// The C `memset` contract: `n` bytes writable at `dst`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller's contract; the direction flag is clear per the ABI.
    unsafe {
        asm!(
            "rep stosb",
            inout("rcx") n => _,
            inout("rdi") dst => _,
            in("al") c as u8,
            options(nostack, preserves_flags),
        );
    }
    dst
}

/// # Safety
/// The C `memcmp` contract: `n` bytes readable at both pointers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, within the caller's buffers. Volatile: see above.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// # Safety
/// As `memcmp`; only zero versus non-zero is meaningful.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}
