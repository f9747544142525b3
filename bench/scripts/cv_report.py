#!/usr/bin/python3
"""Turn create_verify.sh's raw runs into a markdown table.

Usage: cv_report.py RUNS_TSV COMMANDS_TSV PAYLOAD_BYTES

RUNS_TSV rows: task, tool, rep, wall s, user s, sys s, max RSS KiB.
For each (task, tool): median wall, median CPU (user+sys), the largest RSS,
throughput over the median wall, and speed-ups against the references:
`x mktorrent` (v1 create) and `x libtorrent` (every task), each the
reference's median wall divided by this row's.
"""

import statistics
import sys


def main():
    runs_path, _cmds_path, payload = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rows = {}
    order = []
    with open(runs_path) as f:
        for line in f:
            task, tool, _rep, wall, user, sys_, rss = line.rstrip("\n").split("\t")
            key = (task, tool)
            if key not in rows:
                rows[key] = []
                order.append(key)
            rows[key].append((float(wall), float(user) + float(sys_), int(rss)))

    med = {k: statistics.median(w for w, _, _ in v) for k, v in rows.items()}
    print("| task | tool | wall s | CPU s | CPU/wall | max RSS MiB | GiB/s | x mktorrent | x libtorrent |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in order:
        task, tool = key
        runs = rows[key]
        wall = med[key]
        cpu = statistics.median(c for _, c, _ in runs)
        rss = max(r for _, _, r in runs) / 1024
        gibs = payload / (1 << 30) / wall if wall > 0 else float("inf")

        def ratio(ref_tool):
            ref = med.get((task, ref_tool))
            if ref is None or wall <= 0:
                return "-"
            return "%.2f" % (ref / wall)

        print("| %s | %s | %.2f | %.2f | %.2f | %.0f | %.2f | %s | %s |" % (
            task, tool, wall, cpu, cpu / wall if wall > 0 else 0.0, rss, gibs,
            ratio("mktorrent"), ratio("libtorrent")))


if __name__ == "__main__":
    main()
