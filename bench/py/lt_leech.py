#!/usr/bin/python3
"""A libtorrent leecher for `seedcore-bench leechers`: one real client
downloading one torrent from whoever connects to it.

Run with Debian's python (`/usr/bin/python3`, which has `import libtorrent`):

    /usr/bin/python3 bench/py/lt_leech.py --torrent T --save DIR \
        --listen 127.0.0.25:PORT --max-seconds 600

libtorrent 2.0.8 with its *default* settings (what a desktop client built
on libtorrent runs: request pipeline sized by rate, `request_queue_time`
3 s, `max_out_request_queue` 500 or the seeder's `reqq`), plus what a
closed loopback bench needs: listen on the given address only, no DHT,
LSD, UPnP, NAT-PMP or uTP. It prints `lt-leech listening on ADDR:PORT`
once it listens (the seeder dials it) and a progress line on stderr every
second. Once every piece has arrived and passed its hash check it
creates --done-file and keeps running (so its CPU time can still be read)
until SIGTERM or --max-seconds; exit 1 on a torrent error, 2 when
--max-seconds passed before completion.
"""

import argparse
import signal
import sys
import time

import libtorrent as lt


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torrent", required=True)
    p.add_argument("--save", required=True, help="folder to download into")
    p.add_argument("--listen", required=True, help="loopback ADDR:PORT")
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--done-file", required=True, help="created on completion")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    if not host.startswith("127."):
        sys.exit("lt_leech.py: listen on a 127.x.y.z address only")

    s = lt.default_settings()
    s.update({
        "listen_interfaces": "%s:%s" % (host, port),
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification,
    })
    ses = lt.session(s)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = a.save
    h = ses.add_torrent(atp)

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    deadline = time.monotonic() + a.max_seconds
    while not ses.listen_port() and time.monotonic() < deadline:
        time.sleep(0.02)
    print("lt-leech listening on %s:%d" % (host, ses.listen_port()), flush=True)

    next_report = 0.0
    done = False
    while not stop and time.monotonic() < deadline:
        st = h.status()
        if st.errc.value():
            print("lt-leech: torrent error: %s" % st.errc.message(), file=sys.stderr, flush=True)
            sys.exit(1)
        if not done and (st.is_seeding or st.state == lt.torrent_status.seeding):
            print("lt-leech: complete, %d bytes" % st.total_wanted_done, flush=True)
            open(a.done_file, "w").close()
            done = True
        if done:
            time.sleep(0.2)
            continue
        for al in ses.pop_alerts():
            print("lt-leech alert: %s" % al.message(), file=sys.stderr, flush=True)
        if time.monotonic() >= next_report:
            print("lt-leech: %.1f %% at %.1f MB/s, %d peers"
                  % (st.progress * 100, st.download_payload_rate / 1e6, st.num_peers),
                  file=sys.stderr, flush=True)
            next_report = time.monotonic() + 1.0
        time.sleep(0.05)
    if not done:
        sys.exit(2)


if __name__ == "__main__":
    main()
