#!/usr/bin/python3
"""Download torrents with libtorrent (python3-libtorrent 2.0.8) from given peers.

The end-to-end tests use this as the reference leecher: libtorrent checks
every piece against its hash as it arrives (SHA-1 for v1, the merkle tree
for v2), so a leecher that finishes with no hash failure proves the seed sent
the right bytes; `"recheck": true` then makes libtorrent re-read and re-hash
every piece from disk (force_recheck) once the download is complete.

Each leecher runs in its own session (its own peer id, listening on
127.0.0.1 and ::1 only), so one process can stand for many peers. Nothing is
discovered: DHT, local peer discovery, UPnP, NAT-PMP and uTP are off, and the
only peers are the `peers` of the spec (dialled with `connect_peer`, again whenever a
leecher has no connection) and any `x.pe` of a magnet link.

Usage: lt_leech.py SPEC.json
SPEC: {"peers": ["127.0.0.1:6881", ...], "timeout": seconds, "recheck": bool,
       "leechers": [{"name": str, "torrent": path | "magnet": uri, "save": dir}]}
Prints one JSON object on stdout: {"ok": bool, "leechers": [{"name", "finished",
"num_pieces", "have_pieces", "recheck_pieces", "hash_failures", "v1", "v2",
"total_wanted", "total_done", "seconds", "error", "connects"}]}; progress goes
to stderr. Exit 0 when every leecher finished with every piece (and, with
recheck, every piece passed the recheck) and no hash failed; 1 otherwise.
"""

import json
import sys
import time

import libtorrent as lt


def parse_peer(s):
    host, _, port = s.rpartition(":")
    return (host.strip("[]"), int(port))


def make_session():
    settings = {
        "listen_interfaces": "127.0.0.1:0,[::1]:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_tcp": True,
        "enable_incoming_tcp": True,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 5,
        # Plain BitTorrent: no MSE attempt (and fallback) first.
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        # Many sessions share 2 cores: keep each one small.
        "aio_threads": 1,
        "hashing_threads": 1,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.storage_notification
                          | lt.alert.category_t.peer_notification
                          | lt.alert.category_t.connect_notification),
    }
    return lt.session(settings)


class Leecher:
    def __init__(self, spec, peers):
        self.name = spec.get("name", "leecher")
        self.peers = peers
        self.session = make_session()
        if "magnet" in spec:
            p = lt.parse_magnet_uri(spec["magnet"])
        else:
            p = lt.add_torrent_params()
            p.ti = lt.torrent_info(spec["torrent"])
        p.save_path = spec["save"]
        self.handle = self.session.add_torrent(p)
        self.handle.resume()
        self.hash_failures = 0
        self.errors = []
        self.finished_at = None
        self.recheck_started = False
        self.rechecked = None
        self.connects = 0
        self.last_dial = 0.0
        self.started = time.monotonic()
        self.dial()

    def dial(self):
        self.last_dial = time.monotonic()
        for peer in self.peers:
            try:
                self.handle.connect_peer(peer)
            except RuntimeError as e:
                self.errors.append("connect_peer %s: %s" % (peer, e))

    def poll(self, recheck):
        for a in self.session.pop_alerts():
            if isinstance(a, lt.hash_failed_alert):
                self.hash_failures += 1
                print("%s: hash failed: %s" % (self.name, a.message()), file=sys.stderr)
            elif isinstance(a, lt.torrent_checked_alert) and self.recheck_started:
                # The recheck re-read and re-hashed every piece from disk.
                self.rechecked = self.handle.status().num_pieces
                print("%s: recheck found %d pieces" % (self.name, self.rechecked), file=sys.stderr)
            elif isinstance(a, lt.peer_connect_alert):
                self.connects += 1
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert,
                                lt.metadata_failed_alert)):
                self.errors.append(a.message())
                print("%s: %s" % (self.name, a.message()), file=sys.stderr)
            elif isinstance(a, lt.peer_disconnected_alert):
                print("%s: %s" % (self.name, a.message()), file=sys.stderr)
        st = self.handle.status()
        now = time.monotonic()
        if self.finished_at is None:
            if st.has_metadata and st.is_seeding:
                self.finished_at = now
                print("%s: complete after %.1f s" % (self.name, now - self.started), file=sys.stderr)
                if recheck:
                    self.handle.force_recheck()
                    self.recheck_started = True
            elif st.num_peers == 0 and now - self.last_dial > 2.0:
                self.dial()
        return st

    def done(self, recheck):
        if self.finished_at is None:
            return False
        return not recheck or self.rechecked is not None

    def report(self, recheck):
        st = self.handle.status()
        v1 = v2 = None
        num_pieces = None
        if st.has_metadata:
            ti = self.handle.torrent_file()
            ih = ti.info_hashes()
            v1 = str(ih.v1) if ih.has_v1() else None
            v2 = str(ih.v2) if ih.has_v2() else None
            num_pieces = ti.num_pieces()
        finished = self.finished_at is not None
        return {
            "name": self.name,
            "finished": finished,
            "num_pieces": num_pieces,
            "have_pieces": st.num_pieces,
            "recheck_pieces": self.rechecked,
            "hash_failures": self.hash_failures,
            "v1": v1,
            "v2": v2,
            "total_wanted": st.total_wanted,
            "total_done": st.total_wanted_done,
            "seconds": (self.finished_at - self.started) if finished else None,
            "state": str(st.state),
            "error": "; ".join(self.errors) or (st.errc.message() if st.errc.value() else None),
            "connects": self.connects,
        }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lt_leech.py SPEC.json")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    peers = [parse_peer(p) for p in spec.get("peers", [])]
    timeout = float(spec.get("timeout", 60))
    recheck = bool(spec.get("recheck", True))
    leechers = [Leecher(s, peers) for s in spec["leechers"]]
    deadline = time.monotonic() + timeout
    last_print = 0.0
    while time.monotonic() < deadline:
        states = [l.poll(recheck) for l in leechers]
        if all(l.done(recheck) for l in leechers):
            break
        now = time.monotonic()
        if now - last_print > 2.0:
            last_print = now
            waiting = [(l.name, "%.0f%%" % (st.progress * 100), st.num_peers)
                       for l, st in zip(leechers, states) if not l.done(recheck)]
            print("waiting for %d: %s" % (len(waiting), waiting[:5]), file=sys.stderr)
        time.sleep(0.05)
    reports = [l.report(recheck) for l in leechers]
    ok = all(
        r["finished"] and r["hash_failures"] == 0 and r["num_pieces"] is not None
        and r["have_pieces"] == r["num_pieces"]
        and (not recheck or r["recheck_pieces"] == r["num_pieces"])
        for r in reports
    )
    print(json.dumps({"ok": ok, "leechers": reports}))
    for l in leechers:
        l.session.remove_torrent(l.handle)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
