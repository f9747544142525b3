#!/usr/bin/python3
"""Time a full libtorrent recheck of a torrent's data (the reference for
`seedcore verify`).

Usage: lt_recheck.py TORRENT SAVE_PATH [--threads N]

Adds the torrent to a session with networking off and seed mode off, so
libtorrent hashes every piece on disk, and waits for the check to finish.
Prints JSON: {"seconds": time from add to checked, "pieces": N, "have": M}.
Exit 0 when every piece passed, 1 otherwise. The session runs with
hashing_threads = aio_threads = N (default: every core), its fastest
setting for a one-off check.
"""

import argparse
import json
import os
import sys
import time

import libtorrent as lt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("torrent")
    ap.add_argument("save_path")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args()

    ses = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "aio_threads": args.threads,
        "hashing_threads": args.threads,
        "alert_mask": lt.alert_category.status | lt.alert_category.error | lt.alert_category.storage,
    })
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(args.torrent)
    atp.save_path = os.path.abspath(args.save_path)
    atp.flags &= ~(lt.torrent_flags.seed_mode | lt.torrent_flags.auto_managed | lt.torrent_flags.paused)

    t0 = time.monotonic()
    h = ses.add_torrent(atp)
    done = False
    while not done:
        if time.monotonic() - t0 > args.timeout:
            sys.exit("lt_recheck.py: check did not finish in %.0f s" % args.timeout)
        ses.wait_for_alert(500)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_checked_alert):
                done = True
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                sys.exit("lt_recheck.py: " + a.message())
    seconds = time.monotonic() - t0
    st = h.status()
    pieces = atp.ti.num_pieces()
    print(json.dumps({"seconds": round(seconds, 4), "pieces": pieces, "have": st.num_pieces}))
    sys.exit(0 if st.num_pieces == pieces else 1)


if __name__ == "__main__":
    main()
