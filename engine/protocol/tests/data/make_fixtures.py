#!/usr/bin/python3
"""Regenerates the .torrent fixtures in this folder with real tools.

Run with the system python that has libtorrent 2.0 (`/usr/bin/python3`)
and with `mktorrent` on PATH, from this folder:

    /usr/bin/python3 make_fixtures.py

The content is synthetic and tiny; `pattern()` below is mirrored by the
Rust tests (tests/metainfo_fixtures.rs) so they can hash the same bytes.
Writes the torrents and `expected.txt`: one line per torrent with what
libtorrent reports for it (info-hashes, piece count, piece-space size,
file count including pad files, and its magnet link).
"""
import os
import shutil
import stat
import subprocess
import tempfile

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))
PIECE = 16384


def pattern(n, seed):
    return bytes(((i * 31 + seed * 7 + (i >> 8)) & 0xFF) for i in range(n))


def make_content(root):
    open(os.path.join(root, "single.bin"), "wb").write(pattern(50000, 1))
    nested = os.path.join(root, "nested")
    os.makedirs(os.path.join(nested, "sub", "deeper"))
    open(os.path.join(nested, "a.txt"), "wb").write(b"hello")
    open(os.path.join(nested, "empty.txt"), "wb").write(b"")
    open(os.path.join(nested, "sub", "b.bin"), "wb").write(pattern(40000, 2))
    open(os.path.join(nested, "sub", "deeper", "c.dat"), "wb").write(pattern(70000, 3))
    run = os.path.join(nested, "run.sh")
    open(run, "wb").write(b"#!/bin/sh\necho hi\n")
    os.chmod(run, os.stat(run).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def libtorrent_torrent(root, target, flags, out, extra=None):
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(root, target))
    ct = lt.create_torrent(fs, PIECE, flags=flags)
    if extra:
        extra(ct)
    lt.set_piece_hashes(ct, root)
    e = ct.generate()
    e[b"creation date"] = 1700000000
    open(os.path.join(HERE, out), "wb").write(lt.bencode(e))


def main():
    root = tempfile.mkdtemp()
    try:
        make_content(root)

        def trackers(ct):
            ct.add_tracker("http://tracker.example/announce", 0)
            ct.add_tracker("udp://tracker2.example:6969/announce", 1)
            ct.add_url_seed("http://seed.example/files/")
            ct.set_comment("libtorrent fixture")
            ct.set_creator("make_fixtures.py")

        def private(ct):
            ct.set_priv(True)

        v1 = lt.create_torrent.v1_only
        v2 = lt.create_torrent.v2_only
        libtorrent_torrent(root, "single.bin", v1, "lt-v1-single.torrent", trackers)
        libtorrent_torrent(root, "nested", v1, "lt-v1-nested.torrent")
        libtorrent_torrent(root, "single.bin", v2, "lt-v2-single.torrent")
        libtorrent_torrent(root, "nested", v2, "lt-v2-nested.torrent", trackers)
        libtorrent_torrent(root, "single.bin", 0, "lt-hybrid-single.torrent")
        libtorrent_torrent(root, "nested", 0, "lt-hybrid-nested.torrent", private)

        mk = ["mktorrent", "-l", "15", "-t", "1"]
        subprocess.run(mk + ["-d", "-o", os.path.join(HERE, "mk-nested.torrent"),
                             os.path.join(root, "nested")], check=True, capture_output=True)
        subprocess.run(mk + ["-d", "-p", "-s", "SRC", "-c", "a comment",
                             "-a", "http://t1.example/announce",
                             "-a", "http://t2.example/announce,http://t3.example/announce",
                             "-w", "http://ws1.example/",
                             "-o", os.path.join(HERE, "mk-single.torrent"),
                             os.path.join(root, "single.bin")], check=True, capture_output=True)
    finally:
        shutil.rmtree(root)

    lines = []
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".torrent"):
            continue
        ti = lt.torrent_info(os.path.join(HERE, name))
        ih = ti.info_hashes()
        v1h = str(ih.v1) if ih.has_v1() else "-"
        v2h = str(ih.v2) if ih.has_v2() else "-"
        lines.append(" ".join([name, v1h, v2h, str(ti.num_pieces()), str(ti.total_size()),
                               str(ti.files().num_files()), lt.make_magnet_uri(ti)]))
    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("# file v1-hash v2-hash pieces total-size files magnet (from libtorrent %s)\n"
                % lt.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
