#!/usr/bin/env bash
# Coverage-guided fuzzing of one seedcore parser with AFL++ (stable Rust).
#
#   bench/fuzz.sh TARGET SECONDS      fuzz TARGET for SECONDS, starting from
#                                     its committed corpus; prints executions,
#                                     coverage and crashes at the end
#   bench/fuzz.sh --minimize TARGET   merge the last run's queue into
#                                     fuzz/corpus/TARGET, minimised (afl-cmin,
#                                     then afl-tmin on files over 4 KiB)
#   bench/fuzz.sh --list              the targets
#
# Targets live in fuzz/src (crate seedcore-fuzz); fuzz/README.md says how to
# add one. Runs at nice 19 on one core (set FUZZ_NICE to change). Output goes
# to bench/work/fuzz/TARGET (FUZZ_WORK to move it); crashes are copied to
# bench/work/fuzz/TARGET/crashes-*/ and named at the end. Exit status: 0 no
# crash, 1 crashes found, 2 usage or build error.
#
# Needs cargo-afl (installed here on first use: `cargo install cargo-afl`,
# which builds AFL++ with the system C compiler). Nothing in /proc/sys is
# changed: AFL++'s checks of CPU frequency scaling and core_pattern are
# skipped through its environment variables instead, and no core is pinned
# (other jobs share this machine).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work_root=${FUZZ_WORK:-$root/bench/work/fuzz}
nice_level=${FUZZ_NICE:-19}
afl_version=0.18.2

die() { echo "fuzz.sh: $*" >&2; exit 2; }

ensure_afl() {
    if ! cargo afl --version >/dev/null 2>&1; then
        echo "fuzz.sh: installing cargo-afl $afl_version (builds AFL++, a few minutes)" >&2
        nice -n "$nice_level" cargo install --locked cargo-afl --version "$afl_version" >&2 \
            || die "cargo install cargo-afl failed"
    fi
    # Builds AFL++ for this rustc if not built yet (says so and fails if it is).
    nice -n "$nice_level" cargo afl config --build >/dev/null 2>&1 || true
}

build() {
    (cd "$root/fuzz/afl" && nice -n "$nice_level" cargo afl build --release --quiet) >&2 \
        || die "cargo afl build failed"
    bin=$root/fuzz/afl/target/release/seedcore-afl
}

export AFL_SKIP_CPUFREQ=1                      # frequency scaling is not ours to change
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 # nor is core_pattern
export AFL_NO_AFFINITY=1                       # do not take a core from other jobs
export AFL_NO_UI=1                             # status lines, not a full-screen UI
export AFL_QUIET=1

case "${1:-}" in
--list)
    ensure_afl; build
    "$bin" 2>&1 | sed 's/.*one of: //; s/)$//' | tr ',' '\n' | sed 's/^ //'
    exit 0
    ;;
--minimize)
    target=${2:?usage: bench/fuzz.sh --minimize TARGET}
    ensure_afl; build
    work=$work_root/$target
    corpus=$root/fuzz/corpus/$target
    [[ -d $work/default/queue ]] || die "no run of $target in $work (fuzz it first)"
    all=$(mktemp -d); min=$(mktemp -d)
    trap 'rm -rf "$all" "$min"' EXIT
    cp "$corpus"/* "$all"/ 2>/dev/null || true
    for f in "$work"/default/queue/id:*; do cp "$f" "$all/q-$(basename "$f" | cut -c4-9)"; done
    # The awk afl-cmin (cargo afl's default, the Python one, finds no
    # coverage with this driver and keeps nothing).
    cmin=$(find "$HOME/.local/share/afl.rs" -path '*/afl/bin/afl-cmin.awk' 2>/dev/null | sort | tail -1)
    [[ -n $cmin ]] || die "afl-cmin.awk not found under ~/.local/share/afl.rs"
    rmdir "$min"
    PATH=$(dirname "$cmin"):$PATH nice -n "$nice_level" "$cmin" -i "$all" -o "$min" -t 5000 \
        -- "$bin" "$target" >"$work/cmin.log" 2>&1 || die "afl-cmin failed: $work/cmin.log"
    [[ -n $(ls -A "$min" 2>/dev/null) ]] || die "afl-cmin kept nothing (see $work/cmin.log); corpus unchanged"
    # afl-tmin shrinks the large ones (same coverage, fewer bytes): a minute
    # a file at most, FUZZ_TMIN_SECONDS (300) in all.
    tmin_end=$((SECONDS + ${FUZZ_TMIN_SECONDS:-300}))
    for f in "$min"/*; do
        [[ $SECONDS -lt $tmin_end ]] || break
        if [[ $(stat -c %s "$f") -gt 4096 ]]; then
            timeout 60 nice -n "$nice_level" "$(dirname "$cmin")/afl-tmin" -i "$f" -o "$f.t" -t 5000 -- "$bin" "$target" >/dev/null 2>&1 \
                && [[ -s $f.t ]] && mv "$f.t" "$f" || rm -f "$f.t"
        fi
    done
    rm -rf "$corpus"; mkdir -p "$corpus"
    for f in "$min"/*; do cp "$f" "$corpus/$(sha1sum "$f" | cut -c1-16)"; done
    echo "fuzz/corpus/$target: $(ls "$corpus" | wc -l) files, $(du -sh "$corpus" | cut -f1)"
    exit 0
    ;;
-h|--help|"")
    sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

target=$1
seconds=${2:?usage: bench/fuzz.sh TARGET SECONDS}
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || die "SECONDS must be a positive number"
ensure_afl; build
"$bin" "$target" </dev/null >/dev/null 2>&1 || {
    [[ $? -eq 2 ]] && die "unknown target '$target' (bench/fuzz.sh --list)"
}
corpus=$root/fuzz/corpus/$target
[[ -n $(ls -A "$corpus" 2>/dev/null) ]] || die "fuzz/corpus/$target is empty"
work=$work_root/$target
rm -rf "$work/default"
mkdir -p "$work"

dict=()
[[ -f $root/fuzz/dict/$target.dict ]] && dict=(-x "$root/fuzz/dict/$target.dict")
echo "fuzz.sh: $target for ${seconds}s from $(ls "$corpus" | wc -l) corpus files (output $work)"
# -V: stop after SECONDS; timeout: a hard stop should afl-fuzz itself hang.
set +e
nice -n "$nice_level" timeout --kill-after=30 $((seconds + 120)) \
    cargo afl fuzz -i "$corpus" -o "$work" -V "$seconds" -t 2000 -m none "${dict[@]}" -- "$bin" "$target" \
    >"$work/afl.log" 2>&1
rc=$?
set -e
stats=$work/default/fuzzer_stats
if [[ ! -f $stats ]]; then
    tail -30 "$work/afl.log" >&2
    die "afl-fuzz did not start (exit $rc); log: $work/afl.log"
fi
get() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
crashes=$(get saved_crashes)
echo "target:          $target"
echo "run time:        $(( $(get last_update) - $(get start_time) )) s"
echo "executions:      $(get execs_done)"
echo "execs/s:         $(get execs_per_sec)"
echo "corpus (paths):  $(get corpus_count) (found this run: $(get corpus_found))"
echo "edges found:     $(get edges_found) of $(get total_edges) in the map ($(get bitmap_cvg))"
echo "crashes:         $crashes"
echo "hangs:           $(get saved_hangs)"
if [[ ${crashes:-0} -gt 0 ]]; then
    keep=$work/crashes-$(date +%Y%m%d-%H%M%S)
    mkdir -p "$keep"
    cp "$work"/default/crashes/id:* "$keep"/
    echo "crash inputs:    $keep"
    echo "triage one:      cargo run -p seedcore-fuzz --example run -- $target FILE"
    exit 1
fi
