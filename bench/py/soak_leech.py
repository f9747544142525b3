#!/usr/bin/python3
"""The good leecher of bench/soak.sh: libtorrent (python3-libtorrent) downloads
one torrent from one seed again and again until a deadline, each time in a
fresh session (new peer id, empty folder), checking every piece twice:
libtorrent hashes each piece as it arrives, and once complete it re-reads and
re-hashes every piece from disk (force_recheck).

Usage: soak_leech.py TORRENT HOST:PORT WORKDIR SECONDS
Prints JSON lines on stdout:
  {"progress": {"t": s, "bytes": n}}          every 0.5 s (cumulative payload)
  {"iteration": {"n", "start", "seconds", "max_stall", "pieces",
                 "recheck_pieces", "hash_failures", "ok", "error"}}
where "seconds" runs from adding the torrent to the last piece downloaded
(before the recheck) and "max_stall" is the longest time without a new piece
once connected. Exits when the deadline passes (an iteration then running is
reported with ok false and "error": "deadline"), or at once if an iteration
fails.
"""

import json
import os
import shutil
import sys
import time

import libtorrent as lt


def session():
    return lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False, "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1, "peer_connect_timeout": 5,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "aio_threads": 1, "hashing_threads": 1,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.storage_notification),
    })


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    torrent, peer, work, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    host, _, port = peer.rpartition(":")
    peer = (host.strip("[]"), int(port))
    t0 = time.monotonic()
    deadline = t0 + seconds
    total = 0
    n = 0
    last_progress = 0.0
    while time.monotonic() < deadline:
        n += 1
        save = os.path.join(work, "iter")
        shutil.rmtree(save, ignore_errors=True)
        ses = session()
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = save
        h = ses.add_torrent(p)
        h.resume()
        start = time.monotonic()
        h.connect_peer(peer)
        last_dial = start
        pieces = p.ti.num_pieces()
        have = 0
        last_piece = start
        max_stall = 0.0
        done_bytes = 0
        hash_failures = 0
        finished = None
        rechecked = None
        error = None
        while True:
            now = time.monotonic()
            if now >= deadline:
                error = "deadline"
                break
            for a in ses.pop_alerts():
                if isinstance(a, lt.hash_failed_alert):
                    hash_failures += 1
                elif isinstance(a, lt.torrent_checked_alert) and finished is not None:
                    rechecked = h.status().num_pieces
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    error = a.message()
            st = h.status()
            if st.num_pieces > have:
                have = st.num_pieces
                max_stall = max(max_stall, now - last_piece)
                last_piece = now
            elif finished is None:
                max_stall = max(max_stall, now - last_piece)
            total += max(0, st.total_payload_download - done_bytes)
            done_bytes = max(done_bytes, st.total_payload_download)
            if finished is None and st.is_seeding:
                finished = now
                h.force_recheck()
            if rechecked is not None or error is not None:
                break
            if finished is None and st.num_peers == 0 and now - last_dial > 1.0:
                h.connect_peer(peer)
                last_dial = now
            if now - last_progress >= 0.5:
                last_progress = now
                emit({"progress": {"t": round(now - t0, 3), "bytes": total}})
            time.sleep(0.02)
        ok = (error is None and finished is not None and rechecked == pieces
              and hash_failures == 0)
        emit({"iteration": {
            "n": n, "start": round(start - t0, 3),
            "seconds": round((finished or time.monotonic()) - start, 3),
            "max_stall": round(max_stall, 3), "pieces": pieces,
            "recheck_pieces": rechecked, "hash_failures": hash_failures,
            "ok": ok, "error": error}})
        ses.remove_torrent(h, lt.session.delete_files)
        del ses
        shutil.rmtree(save, ignore_errors=True)
        if not ok:
            sys.exit(0 if error == "deadline" else 1)


if __name__ == "__main__":
    main()
