# What the two no_std proofs' check.sh have in common (this one's and
# firmware-demo/nostd-proof's): the build and the checks that do not depend on what the
# binary links. Sourced, not run: the caller sets `proof_name` (the prefix of its
# messages), cds into its proof directory (.cargo/config.toml there sets the target and
# the relocation model) and sources this file; then calls build_proof,
# check_no_heap_no_libc, its own checks on $demangled, check_static_exec and run_proof.
# Needs cargo, nm, readelf (binutils).

start=$SECONDS

fail() {
    echo "$proof_name: FAIL: $*" >&2
    exit 1
}

# The relocation model and target come from .cargo/config.toml here; RUSTFLAGS from the
# environment would replace them, so they must not leak in.
unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET

# build_proof [cargo build args]: a release build; sets $bin. Ask cargo where the
# executable is (CARGO_TARGET_DIR may move it); diagnostics still go to stderr as usual.
build_proof() {
    bin=$(cargo build --release "$@" --message-format=json-render-diagnostics |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
    [[ -n "$bin" && -x "$bin" ]] || fail "cargo did not report an executable"
}

# 1. No allocator and no libc allocation functions, defined or referenced; nothing from
# std or alloc; no undefined symbols. Sets $syms and $demangled (nm, nm -C) for the
# caller's own checks of what must be linked in.
check_no_heap_no_libc() {
    syms=$(nm "$bin")
    demangled=$(nm -C "$bin")
    local found
    local alloc_re='(^| )(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|__rust_alloc|__rust_dealloc|__rust_realloc|__rust_alloc_zeroed|__rust_alloc_error_handler|__rust_no_alloc_shim_is_unstable[A-Za-z0-9_]*|__rdl_[A-Za-z0-9_]+|__rg_[A-Za-z0-9_]+)(@.*)?$'
    if found=$(grep -E "$alloc_re" <<<"$syms"); then
        fail "allocator symbols present: $(tr '\n' ' ' <<<"$found")"
    fi
    # Nothing from the std or alloc crates (demangled legacy and v0 names).
    if found=$(grep -E '(^| |<)(std|alloc)::' <<<"$demangled" | head -n 5); then
        fail "std/alloc code linked in: $(tr '\n' ' ' <<<"$found")"
    fi
    # Fully resolved at link time: nothing left for a dynamic loader.
    if found=$(nm -u "$bin") && [[ -n "$found" ]]; then
        fail "undefined symbols: $(tr '\n' ' ' <<<"$found")"
    fi
}

# 2. A static, position-dependent executable: no interpreter, no dynamic section.
check_static_exec() {
    grep -qE 'Type:[[:space:]]+EXEC' <<<"$(readelf -h "$bin")" || fail "not an ET_EXEC executable"
    if readelf -lW "$bin" | grep -qE '^[[:space:]]*(INTERP|DYNAMIC)[[:space:]]'; then
        fail "binary is dynamically linked (has INTERP or DYNAMIC)"
    fi
}

# 3. run_proof EXPECTED: it runs, prints exactly EXPECTED (stdout and stderr together)
# and exits 0.
run_proof() {
    local out rc
    set +e
    out=$("$bin" </dev/null 2>&1)
    rc=$?
    set -e
    [[ $rc -eq 0 ]] || fail "exit status $rc (output: '$out')"
    [[ "$out" == "$1" ]] || fail "unexpected output: '$out'"
}
