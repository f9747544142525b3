#!/usr/bin/python3
"""Parse a magnet URI with libtorrent and print what it found, as JSON.

Usage: lt_magnet.py URI
Prints {"v1": hex|null, "v2": hex|null, "name": str, "trackers": [...]}.
A URI libtorrent rejects exits 1 with its error on stderr.
"""

import json
import sys

import libtorrent as lt


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lt_magnet.py URI")
    try:
        p = lt.parse_magnet_uri(sys.argv[1])
    except RuntimeError as e:
        print("libtorrent rejected the magnet URI: %s" % e, file=sys.stderr)
        sys.exit(1)
    ih = p.info_hashes
    print(json.dumps({
        "v1": str(ih.v1) if ih.has_v1() else None,
        "v2": str(ih.v2) if ih.has_v2() else None,
        "name": p.name,
        "trackers": list(p.trackers),
    }))


if __name__ == "__main__":
    main()
