#!/usr/bin/env bash
# Whole-command benchmark: `seedcore create` and `seedcore verify` against
# the tools people use today, on the same data, in one run.
#
#   create: seedcore create (release) | mktorrent -t NPROC | libtorrent
#           create_torrent + set_piece_hashes (python3-libtorrent)
#   verify: seedcore verify (release) | libtorrent full recheck (seed mode
#           off, time from add to torrent_checked_alert)
#
# Each command runs REPS times, interleaved (tool A, B, C, A, B, C, ...) so
# drift on a shared machine hits every tool alike, under /usr/bin/time for
# wall, user+sys CPU and max RSS. The data is read once beforehand, so
# every run sees a warm page cache: this measures hashing and bookkeeping,
# not the disk. The v1 info-hashes of all three makers are checked to be
# equal before any number is written: a fast wrong answer is not a result.
#
# Writes bench/results/create-verify-<date>-<host>.md (a markdown table
# with the exact commands and the ratios to mktorrent / libtorrent).
#
# Environment (defaults in brackets):
#   SIZE_MIB    payload size in MiB [1024]
#   PIECE_LOG2  piece size as a power of two [20, i.e. 1 MiB]
#   REPS        runs per command [3]
#   THREADS     hashing threads for every tool [nproc]
#   HYBRID      1 to add hybrid (v1+v2) create/verify rows [1]
#   RESULTS     results folder [bench/results]
# Data lives in bench/work/ (gitignored) and is reused between runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo=$(pwd)

SIZE_MIB=${SIZE_MIB:-1024}
PIECE_LOG2=${PIECE_LOG2:-20}
REPS=${REPS:-3}
THREADS=${THREADS:-$(nproc)}
HYBRID=${HYBRID:-1}
RESULTS=${RESULTS:-bench/results}
PIECE=$((1 << PIECE_LOG2))
PY=/usr/bin/python3

die() { echo "create_verify.sh: $*" >&2; exit 1; }
say() { printf '==> %s\n' "$*"; }

[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
command -v mktorrent >/dev/null || die "mktorrent is missing: apt-get install mktorrent"
$PY -c 'import libtorrent' 2>/dev/null || die "$PY cannot import libtorrent: apt-get install python3-libtorrent"
[ "$PIECE_LOG2" -ge 15 ] && [ "$PIECE_LOG2" -le 28 ] || die "PIECE_LOG2 must be 15..28 (mktorrent's range)"

work=$repo/bench/work/create-verify-${SIZE_MIB}M
mkdir -p "$work/out" "$work/logs"
data=$work/data
top=$data/payload

say "building seedcore (release)"
cargo build --release -p seedcore --locked
bin=$repo/target/release/seedcore
[ -x "$bin" ] || die "no $bin after building"

say "payload: ${SIZE_MIB} MiB under $top"
$PY bench/scripts/gen_data.py "$data" "$SIZE_MIB"
bytes=$(find "$top" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
nfiles=$(find "$top" -type f | wc -l)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

say "warming the page cache"
find "$top" -type f -exec cat {} + >/dev/null

# One row per measured run: task, tool, rep, wall, user, sys, maxrss_kib.
runs=$work/runs.tsv
: >"$runs"
cmds=$work/commands.tsv
: >"$cmds"

# measure TASK TOOL REP OUTFILE-TO-REMOVE -- COMMAND...
measure() {
  local task=$1 tool=$2 rep=$3 rm_first=$4
  shift 5
  if [ -n "$rm_first" ]; then rm -f "$rm_first"; fi
  local log=$work/logs/$task-$tool-$rep.log tf=$work/logs/$task-$tool-$rep.time
  if ! /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >"$log" 2>&1; then
    cat "$log" >&2
    die "$task/$tool failed: $*"
  fi
  read -r wall user sys rss <"$tf"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$task" "$tool" "$rep" "$wall" "$user" "$sys" "$rss" >>"$runs"
  if [ "$rep" = 1 ]; then
    printf '%s\t%s\t%s\n' "$task" "$tool" "$*" >>"$cmds"
  fi
  awk -v t="$task" -v o="$tool" -v r="$rep" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
    'BEGIN { printf "    %-14s %-11s rep %s: %7.2f s wall, %7.2f s CPU, %6.0f MiB RSS\n", t, o, r, w, u + s, m / 1024 }'
}

o=$work/out
modes=(v1)
[ "$HYBRID" = 1 ] && modes+=(hybrid)

for rep in $(seq 1 "$REPS"); do
  say "round $rep of $REPS: create"
  for mode in "${modes[@]}"; do
    measure "create-$mode" seedcore "$rep" "$o/seedcore-$mode.torrent" -- \
      "$bin" create "$top" -o "$o/seedcore-$mode.torrent" "--$mode" \
      --piece-size "$PIECE" --threads "$THREADS" --no-date
    if [ "$mode" = v1 ]; then
      measure "create-$mode" mktorrent "$rep" "$o/mktorrent-$mode.torrent" -- \
        mktorrent -t "$THREADS" -l "$PIECE_LOG2" -d -o "$o/mktorrent-$mode.torrent" "$top"
    fi
    measure "create-$mode" libtorrent "$rep" "$o/libtorrent-$mode.torrent" -- \
      $PY tests/py/lt_create.py --mode "$mode" --piece-size "$PIECE" \
      --out "$o/libtorrent-$mode.torrent" "$top"
  done

  if [ "$rep" = 1 ]; then
    say "checking the makers agree"
    ours=$("$bin" info "$o/seedcore-v1.torrent" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["info_hash_v1"])')
    mk=$($PY tests/py/lt_info.py "$o/mktorrent-v1.torrent" | $PY -c 'import json,sys; print(json.load(sys.stdin)["v1"])')
    lt=$($PY tests/py/lt_info.py "$o/libtorrent-v1.torrent" | $PY -c 'import json,sys; print(json.load(sys.stdin)["v1"])')
    echo "    v1 info-hash: seedcore $ours, mktorrent $mk, libtorrent $lt"
    [ "$ours" = "$mk" ] && [ "$ours" = "$lt" ] || die "v1 info-hashes differ: results would be meaningless"
    agree="v1 info-hash $ours from all three makers"
    if [ "$HYBRID" = 1 ]; then
      # Hybrid torrents are checked to load in libtorrent with our hashes;
      # libtorrent pads differently, so their hybrid hash may differ.
      $PY tests/py/lt_info.py "$o/seedcore-hybrid.torrent" >/dev/null \
        || die "libtorrent cannot load our hybrid torrent"
    fi
  fi

  say "round $rep of $REPS: verify"
  for mode in "${modes[@]}"; do
    measure "verify-$mode" seedcore "$rep" "" -- \
      "$bin" verify "$o/seedcore-$mode.torrent" "$data" --threads "$THREADS"
    measure "verify-$mode" libtorrent "$rep" "" -- \
      $PY bench/scripts/lt_recheck.py "$o/seedcore-$mode.torrent" "$data" --threads "$THREADS"
  done
done

host=$(hostname -s 2>/dev/null || hostname)
date=$(date -u +%Y-%m-%d)
mkdir -p "$RESULTS"
report=$RESULTS/create-verify-$date-$host.md
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
flags=$(grep -m1 -o -w -E 'sha_ni|avx2|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ' || true)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo " (+ uncommitted changes)" || true)

$PY bench/scripts/cv_report.py "$runs" "$cmds" "$bytes" >"$work/table.md"
{
  echo "# create / verify: seedcore vs mktorrent vs libtorrent ($date, $host)"
  echo
  echo "- Machine: $cpu, $(nproc) CPUs ($flags), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- seedcore $rev$dirty, $(rustc --version); $(mktorrent -h 2>&1 | head -1 | cut -d'(' -f1 | sed 's/ *$//'); libtorrent $($PY -c 'import libtorrent; print(libtorrent.__version__)') (python3-libtorrent)"
  echo "- Data: $nfiles files, $bytes bytes ($SIZE_MIB MiB), 8 large files + 41 small (bench/scripts/gen_data.py), warm page cache"
  echo "- Piece size $PIECE bytes; $THREADS hashing threads for every tool; median of $REPS interleaved runs"
  echo "- Check: $agree"
  echo "- Load average (1/5/15 min) before: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg) (anything well above 0 means other work shared the CPUs)"
  echo
  cat "$work/table.md"
  echo
  echo "Wall and CPU from \`/usr/bin/time\` around the whole command (process start to exit;"
  echo "for libtorrent that includes starting Python and a session). \`x mktorrent\` and"
  echo "\`x libtorrent\` are that tool's median wall for the same task divided by this row's:"
  echo "above 1 is faster than the reference. Max RSS counts resident pages of mapped files:"
  echo "a tool that hashes through read-only mmaps (seedcore) shows about the payload size"
  echo "there, page cache it shares with every other reader, not memory it allocated."
  echo
  echo "## Commands"
  echo
  echo '```sh'
  echo "SIZE_MIB=$SIZE_MIB PIECE_LOG2=$PIECE_LOG2 REPS=$REPS THREADS=$THREADS HYBRID=$HYBRID bench/scripts/create_verify.sh"
  echo
  while IFS=$'\t' read -r task tool cmd; do
    echo "# $task, $tool"
    echo "${cmd//$repo\//}"
  done <"$cmds"
  echo '```'
} >"$report"
say "wrote $report"
cat "$report"
