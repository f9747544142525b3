#!/usr/bin/env bash
# Real leechers against seedcore and libtorrent seeding the same data:
# builds the release binaries, then runs `seedcore-bench leechers` with the
# given arguments (defaults: 1 GiB, libtorrent, transmission, aria2,
# rtorrent and qBittorrent leechers, seedcore and libtorrent seeders, 3
# rounds; report in bench/results/leechers-<date>-<host>.md and .json).
#
#   bench/scripts/real_leechers.sh
#   bench/scripts/real_leechers.sh --seeder seedcore --seeder "seedcore --reqq 2000" --seeder libtorrent
#   bench/scripts/real_leechers.sh --size 256M --reps 1 --leechers libtorrent,transmission
#
# Needs the clients (apt-get install python3-libtorrent transmission-cli
# aria2 rtorrent qbittorrent-nox) and timeout/taskset (coreutils,
# util-linux). Everything runs on loopback; see bench/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cargo build --release -p seedcore -p seedcore-bench
exec target/release/seedcore-bench leechers "$@"
