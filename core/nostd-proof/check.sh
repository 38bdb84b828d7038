#!/usr/bin/env bash
# The no_std / no-heap proof for vigil-core: build the freestanding binary in
# core/nostd-proof (no std, no alloc, no global allocator, no libc, no C runtime),
# check with nm and readelf that it is what it claims to be, run it, and print one
# verdict line. Exit status 0 only if everything holds. Needs cargo, nm, readelf (binutils).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
proof_name=nostd-proof
# The build and the checks shared with firmware-demo/nostd-proof/check.sh.
source ./common.sh

build_proof
check_no_heap_no_libc
# The core really is in there.
core_syms=$(grep -c 'vigil_core' <<<"$demangled" || true)
((core_syms > 0)) || fail "no vigil_core symbols: the core was optimised out"
check_static_exec
run_proof "vigil-core no_std proof: ok"

size=$(stat -c %s "$bin")
echo "nostd-proof: PASS: static no_std no_main binary ($size bytes, $core_syms vigil_core symbols, no allocator, no libc, no undefined symbols) ran ok in $((SECONDS - start))s"
