#!/usr/bin/env bash
# The no_std / no-heap proof for the firmware demo's protocol loop: build the
# freestanding binary in firmware-demo/nostd-proof (vigil-firmware-demo without default
# features, so with smoltcp and vigil-core, and no std, no alloc, no global allocator,
# no libc, no C runtime), check with nm and readelf that it is what it claims to be, run
# it (it drives the loop through a takeover, a yield and a resignation over an
# in-memory device), and print one verdict line with its size. Exit status 0 only if
# everything holds. Needs cargo, nm, readelf and size (binutils).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
start=$SECONDS

fail() {
    echo "fw-nostd-proof: FAIL: $*" >&2
    exit 1
}

# The relocation model and target come from .cargo/config.toml here; RUSTFLAGS from the
# environment would replace them, so they must not leak in.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET

bin=$(cargo build --release --locked --message-format=json-render-diagnostics |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[[ -n "$bin" && -x "$bin" ]] || fail "cargo did not report an executable"

# 1. No allocator and no libc allocation functions, defined or referenced.
syms=$(nm "$bin")
demangled=$(nm -C "$bin")
alloc_re='(^| )(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|__rust_alloc|__rust_dealloc|__rust_realloc|__rust_alloc_zeroed|__rust_alloc_error_handler|__rust_no_alloc_shim_is_unstable[A-Za-z0-9_]*|__rdl_[A-Za-z0-9_]+|__rg_[A-Za-z0-9_]+)(@.*)?$'
if found=$(grep -E "$alloc_re" <<<"$syms"); then
    fail "allocator symbols present: $(tr '\n' ' ' <<<"$found")"
fi
# Nothing from the std or alloc crates.
if found=$(grep -E '(^| |<)(std|alloc)::' <<<"$demangled" | head -n 5); then
    fail "std/alloc code linked in: $(tr '\n' ' ' <<<"$found")"
fi
# Fully resolved at link time.
if found=$(nm -u "$bin") && [[ -n "$found" ]]; then
    fail "undefined symbols: $(tr '\n' ' ' <<<"$found")"
fi
# The loop, smoltcp and the core really are in there.
for crate in vigil_firmware_demo smoltcp vigil_core; do
    n=$(grep -c "$crate" <<<"$demangled" || true)
    ((n > 0)) || fail "no $crate symbols: optimised out?"
done

# 2. A static, position-dependent executable: no interpreter, no dynamic section.
grep -qE 'Type:[[:space:]]+EXEC' <<<"$(readelf -h "$bin")" || fail "not an ET_EXEC executable"
if readelf -lW "$bin" | grep -qE '^[[:space:]]*(INTERP|DYNAMIC)[[:space:]]'; then
    fail "binary is dynamically linked (has INTERP or DYNAMIC)"
fi

# 3. It runs, says ok and exits 0.
set +e
out=$("$bin" </dev/null 2>&1)
rc=$?
set -e
[[ $rc -eq 0 ]] || fail "exit status $rc (output: '$out')"
[[ "$out" == "vigil-firmware-demo no_std proof: ok" ]] || fail "unexpected output: '$out'"

read -r text data bss _ < <(size "$bin" | tail -n 1)
echo "fw-nostd-proof: PASS: static no_std no_main binary with the protocol loop, smoltcp and vigil-core ($(stat -c %s "$bin") bytes; text $text, data $data, bss $bss; no allocator, no libc, no undefined symbols) ran ok in $((SECONDS - start))s"
