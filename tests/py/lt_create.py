#!/usr/bin/python3
"""Create a .torrent with libtorrent (Debian's python3-libtorrent 2.0.8).

Used by the interop tests and the create/verify benchmark as the reference
implementation. Files are added in the order mktorrent uses (sorted by the
bytes of their path relative to the torrent root), so that a v1 torrent made
here is comparable with mktorrent's and seedcore's; libtorrent's own
`add_files` keeps directory-listing order, which is not stable across
machines. v2 and hybrid torrents are put in canonical (file tree) order by
libtorrent itself.

Usage: lt_create.py --mode v1|v2|hybrid --piece-size N --out FILE PATH
Prints one JSON object: {"v1": hex|null, "v2": hex|null, "name": ..., "num_pieces": N}.
"""

import argparse
import json
import os
import sys

import libtorrent as lt


def collect(path):
    """(relative path with '/', size) of every regular file under `path`, mktorrent order."""
    if os.path.isfile(path):
        return [(os.path.basename(path), os.path.getsize(path))]
    name = os.path.basename(os.path.normpath(path))
    out = []
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        dirnames.sort()
        for f in filenames:
            full = os.path.join(dirpath, f)
            if not os.path.isfile(full) or os.path.islink(full):
                continue
            rel = os.path.relpath(full, path).replace(os.sep, "/")
            out.append((name + "/" + rel, os.path.getsize(full)))
    out.sort(key=lambda e: e[0].encode("utf-8", "surrogateescape"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["v1", "v2", "hybrid"], required=True)
    ap.add_argument("--piece-size", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--private", action="store_true")
    ap.add_argument("path")
    args = ap.parse_args()

    path = os.path.abspath(args.path)
    fs = lt.file_storage()
    for rel, size in collect(path):
        fs.add_file(rel, size)
    if fs.num_files() == 0:
        sys.exit("lt_create.py: no files under " + path)

    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[args.mode]
    ct = lt.create_torrent(fs, args.piece_size, flags)
    if args.private:
        ct.set_priv(True)
    ct.set_creator("libtorrent " + lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(path))
    data = lt.bencode(ct.generate())
    with open(args.out, "wb") as f:
        f.write(data)

    ti = lt.torrent_info(data)
    ih = ti.info_hashes()
    print(json.dumps({
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
        "name": ti.name(),
        "num_pieces": ti.num_pieces(),
    }))


if __name__ == "__main__":
    main()
