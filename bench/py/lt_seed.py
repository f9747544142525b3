#!/usr/bin/python3
"""A libtorrent seeder for `seedcore-bench load` comparisons.

Run with Debian's python (`/usr/bin/python3`, which has `import libtorrent`):

    /usr/bin/python3 bench/py/lt_seed.py --torrent T --data DIR \
        --listen 127.0.0.1:0 --max-seconds 60

It starts from libtorrent's `high_performance_seed()` settings, allows many
connections per IP (the load generator uses one 127.x.y.z per peer, but a
rerun or churn reconnects from the same address), turns off DHT, LSD, UPnP
and NAT-PMP, listens only on the given loopback address, fully checks the
data first (so no lazy hashing in seed mode pollutes the measurement), and
only then prints `lt-seed listening on ADDR:PORT` (the line scripts wait
for). It exits on SIGINT/SIGTERM or after --max-seconds, printing what it
uploaded. Its pid is the one to pass to `seedcore-bench load --pid`.

With `--peer ADDR:PORT` (repeatable) it also dials those peers once it
seeds, and again whenever it has no connection to them (every 2 s): how
`seedcore-bench leechers` hands it real leechers that cannot dial out to a
given address (transmission, aria2, rtorrent, qBittorrent).
"""

import argparse
import signal
import sys
import time

import libtorrent as lt


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--torrent", required=True)
    p.add_argument("--data", required=True, help="folder the torrent's files are in")
    p.add_argument("--listen", default="127.0.0.1:0", help="loopback ADDR:PORT (0: any port)")
    p.add_argument("--max-seconds", type=float, default=600.0)
    p.add_argument("--peer", action="append", default=[], help="loopback ADDR:PORT to dial")
    a = p.parse_args()
    peers = []
    for peer in a.peer:
        phost, _, pport = peer.rpartition(":")
        if not phost.startswith("127."):
            sys.exit("lt_seed.py: --peer must be a 127.x.y.z address")
        peers.append((phost, int(pport)))

    host, _, port = a.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "[::1]") and not host.startswith("127."):
        sys.exit("lt_seed.py: listen on loopback only (127.0.0.0/8 or [::1])")

    s = lt.high_performance_seed()
    s.update({
        "listen_interfaces": "%s:%s" % (host, port),
        "allow_multiple_connections_per_ip": True,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
    })
    ses = lt.session(s)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = a.data
    h = ses.add_torrent(atp)

    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(1))
    deadline = time.monotonic() + a.max_seconds

    # Wait for the check to finish and the port to be known.
    while not stop and time.monotonic() < deadline:
        st = h.status()
        if st.state == lt.torrent_status.seeding and ses.listen_port():
            break
        if st.errc.value():
            sys.exit("lt_seed.py: torrent error: %s" % st.errc.message())
        time.sleep(0.05)
    else:
        sys.exit("lt_seed.py: stopped before seeding (is --data the folder holding the files?)")
    print("lt-seed listening on %s:%d" % (host, ses.listen_port()), flush=True)

    next_dial = 0.0
    while not stop and time.monotonic() < deadline:
        if peers and time.monotonic() >= next_dial:
            connected = {(p.ip[0], p.ip[1]) for p in h.get_peer_info()}
            for peer in peers:
                if peer not in connected:
                    h.connect_peer(peer)
            next_dial = time.monotonic() + 2.0
        for al in ses.pop_alerts():
            if al.category() & lt.alert.category_t.error_notification:
                print("lt-seed alert: %s" % al.message(), file=sys.stderr, flush=True)
        time.sleep(0.2)

    st = h.status()
    print("lt-seed: uploaded %d bytes, %d peers connected at exit" % (st.total_upload, st.num_peers), flush=True)


if __name__ == "__main__":
    main()
