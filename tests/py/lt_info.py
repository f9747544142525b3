#!/usr/bin/python3
"""Load a .torrent with libtorrent and print what libtorrent sees, as JSON.

This is the reference reading of a torrent for the interop tests: if
libtorrent loads our file and reports the same info-hashes, pieces and files
as `seedcore info --json`, the two agree on the format.

Usage: lt_info.py FILE
Prints {"v1": hex|null, "v2": hex|null, "name", "num_files", "num_pieces",
"piece_length", "total_size", "private", "has_pad_files",
"files": [{"path", "size", "pad"}], "trackers": [{"url", "tier"}], "web_seeds": [...]}.
A file libtorrent rejects exits 1 with its error on stderr.
"""

import json
import sys

import libtorrent as lt


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lt_info.py FILE")
    try:
        ti = lt.torrent_info(sys.argv[1])
    except RuntimeError as e:
        print("libtorrent rejected %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
    ih = ti.info_hashes()
    fs = ti.files()
    files = []
    for i in range(fs.num_files()):
        pad = bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)
        files.append({"path": fs.file_path(i).replace("\\", "/"), "size": fs.file_size(i), "pad": pad})
    print(json.dumps({
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
        "name": ti.name(),
        "num_files": fs.num_files(),
        "num_pieces": ti.num_pieces(),
        "piece_length": ti.piece_length(),
        "total_size": ti.total_size(),
        "private": bool(ti.priv()),
        "has_pad_files": any(f["pad"] for f in files),
        "files": files,
        "trackers": [{"url": t.url, "tier": t.tier} for t in ti.trackers()],
        "web_seeds": [w["url"] for w in ti.web_seeds()],
    }))


if __name__ == "__main__":
    main()
