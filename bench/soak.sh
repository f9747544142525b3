#!/usr/bin/env bash
# Soak: one seedcore node for a long time under a mixed, hostile population,
# with a good libtorrent leecher downloading and checking every piece in a
# loop (issue 8). Builds release binaries, makes the data, runs
# `seedcore-bench soak`, and leaves its report (soak.md, soak.json,
# soak.svg) in SOAK_OUT.
#
#   bench/soak.sh                       30 minutes of hostile population
#   SOAK_SECONDS=300 bench/soak.sh      5 minutes
#
# Settings (environment):
#   SOAK_SECONDS      hostile phase length (default 1800), after a baseline
#                     of SOAK_BASELINE good-leecher downloads alone (default 3)
#   SOAK_WAIT_RATIO   a download may take this many times the slowest
#                     baseline one, and so may the longest wait for a piece
#                     (default 3)
#   SOAK_POPULATION   downloaders,churners,never-reader threads (100
#                     connections each),slowloris threads (100 each),garbage
#                     senders,metadata requesters,hash requesters
#                     (default 4,2,1,1,2,2,1)
#   SOAK_DHT_RATE     DHT noise datagrams a second (default 300)
#   SOAK_SIZE         the good leecher's torrent size (default 256M)
#   SOAK_OUT          report folder (default bench/work/soak/report)
#   SOAK_WORK         scratch folder (default bench/work/soak)
# Exit status: 0 pass, 1 a check failed, 2 the run could not be made.
# Everything runs on loopback; the seed and the leecher are stopped by PID.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
work=${SOAK_WORK:-$root/bench/work/soak}
out=${SOAK_OUT:-$work/report}
size=${SOAK_SIZE:-256M}

/usr/bin/python3 -c 'import libtorrent' 2>/dev/null \
    || { echo "soak.sh: python3-libtorrent is missing (apt-get install python3-libtorrent)" >&2; exit 2; }

cargo build --release -q -p seedcore -p seedcore-bench || exit 2
bin=$root/target/release

data=$work/data
rm -rf "$work/leech" "$work/resume"
mkdir -p "$data" "$out"
# The good leecher's torrent: random data, 256 KiB pieces.
if [[ ! -f $data/main.torrent ]]; then
    t=$("$bin/seedcore-bench" make-data --out "$data" --size "$size" --piece-length 262144 --name main.bin)
    mv "$t" "$data/main.torrent"
fi
# A 1 GiB sparse file in 16 KiB pieces: a 1.3 MB info dictionary, the
# metadata requesters' target (answers far larger than the questions).
if [[ ! -f $data/big.torrent ]]; then
    truncate -s 1G "$data/big.bin"
    "$bin/seedcore" create "$data/big.bin" --piece-size 16K --no-date -q -o "$data/big.torrent"
fi
# A hybrid torrent for BEP 52 hash requests.
if [[ ! -f $data/hybrid.torrent ]]; then
    head -c 32M /dev/urandom >"$data/hybrid.bin"
    "$bin/seedcore" create "$data/hybrid.bin" --hybrid --piece-size 16K --no-date -q -o "$data/hybrid.torrent"
fi

exec "$bin/seedcore-bench" soak \
    --seedcore "$bin/seedcore" \
    --torrent "$data/main.torrent" \
    --big-torrent "$data/big.torrent" \
    --hybrid-torrent "$data/hybrid.torrent" \
    --data "$data" \
    --work "$work" \
    --out "$out" \
    --duration "${SOAK_SECONDS:-1800}" \
    --baseline "${SOAK_BASELINE:-3}" \
    --wait-ratio "${SOAK_WAIT_RATIO:-3}" \
    --population "${SOAK_POPULATION:-4,2,1,1,2,2,1}" \
    --dht-rate "${SOAK_DHT_RATE:-300}" \
    --leech-script "$root/bench/py/soak_leech.py"
