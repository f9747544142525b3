#!/usr/bin/python3
"""Write the deterministic benchmark payload for create_verify.sh.

Usage: gen_data.py DIR SIZE_MIB [SEED]

DIR/payload gets about SIZE_MIB MiB shaped like a typical seeded release:
eight large files (95% of the bytes, lengths deliberately not multiples of
any piece size, so pieces straddle file boundaries), and a docs/ tree of
40 small files from 1 KiB to 256 KiB plus an empty file. Content is
pseudo-random from SEED (default 1), so runs on different days and hosts
hash the same bytes. A stamp file makes a second call with the same
arguments a no-op.
"""

import json
import os
import random
import sys

CHUNK = 4 << 20


def write(path, size, rng):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(CHUNK, left)
            f.write(rng.randbytes(n))
            left -= n


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    out, size_mib = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    if size_mib < 8:
        sys.exit("gen_data.py: SIZE_MIB must be at least 8")
    total = size_mib << 20
    top = os.path.join(out, "payload")
    stamp = os.path.join(out, "payload.stamp.json")
    want = {"size_mib": size_mib, "seed": seed, "layout": 1}
    try:
        with open(stamp) as f:
            if json.load(f) == want:
                print("payload already there: " + top)
                return
    except (OSError, ValueError):
        pass

    rng = random.Random(seed)
    files = []
    small = [(1024 << (i % 9)) + 37 * i for i in range(40)]  # 1 KiB .. 256 KiB
    for i, n in enumerate(small):
        files.append(("docs/part-%02d/notes-%02d.txt" % (i % 4, i), n))
    files.append(("docs/empty", 0))
    rest = total - sum(n for _, n in files)
    big = rest // 8
    for i in range(8):
        n = big - 4099 * i if i < 7 else rest - sum(big - 4099 * j for j in range(7))
        files.append(("video-%02d.bin" % i, n))

    if os.path.exists(stamp):
        os.remove(stamp)
    for rel, n in files:
        write(os.path.join(top, rel), n, rng)
    with open(stamp, "w") as f:
        json.dump(want, f)
    print("wrote %d files, %d bytes under %s" % (len(files), sum(n for _, n in files), top))


if __name__ == "__main__":
    main()
