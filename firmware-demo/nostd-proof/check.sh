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
proof_name=fw-nostd-proof
# The build and the checks shared with the vigil-core proof (core/nostd-proof/check.sh).
source ../../core/nostd-proof/common.sh

build_proof --locked
check_no_heap_no_libc
# The loop, smoltcp and the core really are in there.
for crate in vigil_firmware_demo smoltcp vigil_core; do
    n=$(grep -c "$crate" <<<"$demangled" || true)
    ((n > 0)) || fail "no $crate symbols: optimised out?"
done
check_static_exec
run_proof "vigil-firmware-demo no_std proof: ok"

read -r text data bss _ < <(size "$bin" | tail -n 1)
echo "fw-nostd-proof: PASS: static no_std no_main binary with the protocol loop, smoltcp and vigil-core ($(stat -c %s "$bin") bytes; text $text, data $data, bss $bss; no allocator, no libc, no undefined symbols) ran ok in $((SECONDS - start))s"
