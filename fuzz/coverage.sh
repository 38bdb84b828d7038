#!/usr/bin/env bash
# What a fuzz target's corpus covers, per source file: the instrumented points (libFuzzer's
# "cov" counts these, for the whole binary) that the corpus reaches, of all those in the
# file, and with -v the source lines of the points it misses.
#
#   fuzz/coverage.sh [-v] TARGET [PATTERN]    after fuzz/run.sh; PATTERN (an extended
#                                             regex on paths) default: the codec and config
#
# No llvm-cov needed (rustup's llvm-tools may not be installable): the points are read from
# the binary's `__sancov_pcs` table, the covered ones from a libFuzzer merge of the corpus,
# both mapped to lines with binutils' addr2line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

verbose=0
if [[ ${1:-} == -v ]]; then
    verbose=1
    shift
fi
target=${1:?usage: fuzz/coverage.sh [-v] TARGET [PATTERN]}
pattern=${2:-core/src/wire/|host-linux/src/config/}
toolchain=${VIGIL_FUZZ_TOOLCHAIN:-nightly}
triple=$(rustc "+$toolchain" -vV | sed -n 's/^host: //p')
bin=target/$triple/release/$target
[[ -x $bin ]] || { echo "no $bin: run fuzz/run.sh first" >&2; exit 1; }
[[ -d corpus/$target ]] || { echo "no corpus/$target: run fuzz/run.sh first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every point: the PC table holds (pc, flags) pairs; in a position-independent binary the
# PCs are the addends of relocations at 16-byte steps of the section. Line N of all.hex is
# the point of index N-1.
read -r start size < <(readelf -SW "$bin" |
    awk '$2 == "__sancov_pcs" { print $4, $6 } $3 == "__sancov_pcs" { print $5, $7 }')
readelf -rW "$bin" | awk -v start="$start" -v size="$size" '
    function hex(s,   i, v) {
        v = 0; s = tolower(s)
        for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
        return v
    }
    BEGIN { lo = hex(start); hi = lo + hex(size) }
    $3 == "R_X86_64_RELATIVE" {
        o = hex($1)
        if (o >= lo && o < hi && (o - lo) % 16 == 0) printf "%d %s\n", (o - lo) / 16, $4
    }' | sort -n | awk '{ print $2 }' >"$work/all.hex"

# The points the corpus reaches: a libFuzzer merge writes, for each input, the indices of
# the points it covers ("COV file point...") to its control file.
# A copy: a fuzzer running meanwhile replaces corpus files.
mkdir "$work/merged"
cp -r "corpus/$target" "$work/corpus"
TMPDIR=$work "$bin" -merge=1 -merge_control_file="$work/control" -close_fd_mask=2 \
    "$work/merged" "$work/corpus" >"$work/merge.log" 2>&1 ||
    { tail "$work/merge.log" >&2; exit 1; }
awk '$1 == "COV" { for (i = 3; i <= NF; i++) print $i }' "$work/control" | sort -un |
    awk 'NR == FNR { hit[$1 + 1] = 1; next } FNR in hit' - "$work/all.hex" >"$work/covered.hex"

# PC -> file:line, then counts per file: points, and source lines with a point (a line is
# reached when one of its points is: overflow and bounds checks add points that no input
# can reach to lines that run).
addr2line -e "$bin" <"$work/all.hex" | sed 's/ (discriminator [0-9]*)//' |
    paste -d' ' "$work/all.hex" - >"$work/all.lines"
awk 'NR == FNR { hit[$1] = 1; next }
     { line = $2; file = $2; sub(/:([0-9]+|\?).*$/, "", file)
       n[file]++; if ($1 in hit) { c[file]++; lhit[line] = 1 }
       if (!(line in lseen)) { lseen[line] = file; ln[file]++ } }
     END { for (l in lhit) lc[lseen[l]]++
           for (f in n) printf "%s %d %d %d %d\n", f, c[f] + 0, n[f], lc[f] + 0, ln[f] }' \
    "$work/covered.hex" "$work/all.lines" | grep -E "$pattern" | sort >"$work/files" || true
if [[ ! -s $work/files ]]; then
    echo "no instrumented code matches $pattern" >&2
    exit 1
fi
echo "$target: reached by corpus/$target ($(ls "$work/corpus" | wc -l) inputs)"
echo "         points                lines"
awk '{ sub(/.*\/(core|host-linux)\//, "", $1)
       printf "  %5d / %5d %5.1f%%   %4d / %4d %5.1f%%  %s\n", $2, $3, 100 * $2 / $3, $4, $5, 100 * $4 / $5, $1
       c += $2; n += $3; lc += $4; ln += $5 }
     END { printf "  %5d / %5d %5.1f%%   %4d / %4d %5.1f%%  total\n", c, n, 100 * c / n, lc, ln, 100 * lc / ln }' "$work/files"
if ((verbose)); then
    echo "lines none of whose points is reached:"
    awk 'NR == FNR { hit[$1] = 1; next } { if ($1 in hit) h[$2] = 1; else m[$2] = 1 }
         END { for (l in m) if (!(l in h)) print l }' "$work/covered.hex" "$work/all.lines" |
        grep -E "$pattern" | grep -v ':?' | sort -t: -k1,1 -k2,2n | sed 's/^/  /'
fi
