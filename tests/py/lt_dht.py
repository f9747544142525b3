#!/usr/bin/python3
"""A small DHT of libtorrent 2.0.8 sessions around seedcore's DHT node.

Each session runs the DHT only (no tracker, no connect_peer, no LSD, UPnP
or NAT-PMP), listens on its own loopback address (127.0.0.x: libtorrent and
seedcore both rate-limit DHT traffic per IP) and bootstraps from the
`bootstrap` nodes alone (libtorrent's default router is replaced, so no
packet leaves the machine). The checks libtorrent's DHT makes against
loopback and same-subnet nodes are off, as engine/dht/examples/
libtorrent_check.py found necessary.

An optional leecher session adds a .torrent that names no tracker and finds
its peers through the DHT only: it asks for a fresh DHT announce (get_peers
followed by announce_peer) every few seconds until it has a peer, downloads,
and re-hashes every piece from disk (force_recheck) when complete. The peers
it connected to are recorded with libtorrent's source flags, so the caller
can check that the seed came from the DHT.

Usage: lt_dht.py SPEC.json
SPEC: {"bootstrap": ["127.0.0.1:PORT", ...], "timeout": seconds, "min_nodes": n,
       "sessions": [{"name": str, "ip": "127.0.0.x"}],
       "leecher": {"name": str, "ip": "127.0.0.x", "torrent": path, "save": dir} (optional)}
Prints one JSON object on stdout: {"ok": bool, "sessions": [{"name", "ip", "port",
"dht_nodes"}], "leecher": {"finished", "num_pieces", "have_pieces",
"recheck_pieces", "hash_failures", "peers": [{"ip", "port", "dht", "tracker",
"incoming", "pex"}] (sampled while connected), "dht_peers" (peers the torrent's
DHT announces returned), "connected_to": [{"ip", "port"}] (outgoing
connections made), "seconds", "error"} | null}; progress on stderr. Exit 0
when every session has at least min_nodes nodes in its routing table and the
leecher (if any) finished, passed the recheck and saw no hash failure.
"""

import json
import sys
import time

import libtorrent as lt

# peer_info.source bits (libtorrent/peer_info.hpp).
SRC_TRACKER = 0x1
SRC_DHT = 0x2
SRC_PEX = 0x4
SRC_INCOMING = 0x20


def make_session(ip, bootstrap):
    return lt.session({
        "listen_interfaces": "%s:0" % ip,
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(bootstrap),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_ignore_dark_internet": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 5,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "aio_threads": 1,
        "hashing_threads": 1,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.storage_notification
                          | lt.alert.category_t.dht_notification
                          | lt.alert.category_t.tracker_notification
                          | lt.alert.category_t.connect_notification
                          | lt.alert.category_t.peer_notification),
    })


class Node:
    def __init__(self, spec, bootstrap):
        self.name = spec.get("name", spec["ip"])
        self.ip = spec["ip"]
        self.session = make_session(self.ip, bootstrap)
        self.nodes = 0
        self.errors = []

    def port(self):
        return self.session.listen_port()

    def ask_stats(self):
        self.session.post_dht_stats()

    def take_alert(self, a):
        if isinstance(a, lt.dht_stats_alert):
            self.nodes = sum(b["num_nodes"] for b in a.routing_table)

    def poll(self):
        for a in self.session.pop_alerts():
            self.take_alert(a)

    def report(self):
        return {"name": self.name, "ip": self.ip, "port": self.port(), "dht_nodes": self.nodes}


class Leecher(Node):
    def __init__(self, spec, bootstrap):
        super().__init__(spec, bootstrap)
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(spec["torrent"])
        p.save_path = spec["save"]
        self.handle = self.session.add_torrent(p)
        self.handle.resume()
        self.started = time.monotonic()
        self.last_announce = 0.0
        self.hash_failures = 0
        self.finished_at = None
        self.recheck_started = False
        self.rechecked = None
        self.peers = {}
        # Peers the torrent's DHT announces returned, and the peers
        # libtorrent itself connected to (outgoing connections).
        self.dht_peers = 0
        self.connected_to = set()

    def poll(self):
        for a in self.session.pop_alerts():
            self.take_alert(a)
            if isinstance(a, lt.hash_failed_alert):
                self.hash_failures += 1
            elif isinstance(a, lt.torrent_checked_alert) and self.recheck_started:
                self.rechecked = self.handle.status().num_pieces
            elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                self.errors.append(a.message())
            elif isinstance(a, lt.dht_reply_alert):
                self.dht_peers += a.num_peers
                print("%s: DHT reply with %d peers" % (self.name, a.num_peers), file=sys.stderr)
            elif isinstance(a, lt.peer_connect_alert):
                ip, port = a.endpoint
                self.connected_to.add((ip, port))
        for p in self.handle.get_peer_info():
            ip, port = p.ip
            self.peers[(ip, port)] = self.peers.get((ip, port), 0) | p.source
        st = self.handle.status()
        now = time.monotonic()
        if self.finished_at is None:
            if st.is_seeding:
                self.finished_at = now
                print("%s: complete after %.1f s" % (self.name, now - self.started), file=sys.stderr)
                self.handle.force_recheck()
                self.recheck_started = True
            elif st.num_peers == 0 and now - self.last_announce > 3.0:
                # get_peers + announce_peer now, not in 15 minutes.
                self.last_announce = now
                self.handle.force_dht_announce()
        return st

    def done(self):
        return self.finished_at is not None and self.rechecked is not None

    def report(self):
        st = self.handle.status()
        ti = self.handle.torrent_file()
        return {
            "name": self.name,
            "finished": self.finished_at is not None,
            "num_pieces": ti.num_pieces() if ti else None,
            "have_pieces": st.num_pieces,
            "recheck_pieces": self.rechecked,
            "hash_failures": self.hash_failures,
            "peers": [{"ip": ip, "port": port, "dht": bool(src & SRC_DHT),
                       "tracker": bool(src & SRC_TRACKER), "pex": bool(src & SRC_PEX),
                       "incoming": bool(src & SRC_INCOMING)}
                      for (ip, port), src in sorted(self.peers.items())],
            "dht_peers": self.dht_peers,
            "connected_to": [{"ip": ip, "port": port} for ip, port in sorted(self.connected_to)],
            "seconds": (self.finished_at - self.started) if self.finished_at else None,
            "error": "; ".join(self.errors) or None,
        }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: lt_dht.py SPEC.json")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    bootstrap = spec["bootstrap"]
    min_nodes = int(spec.get("min_nodes", 1))
    nodes = [Node(s, bootstrap) for s in spec.get("sessions", [])]
    leecher = Leecher(spec["leecher"], bootstrap) if spec.get("leecher") else None
    everyone = nodes + ([leecher] if leecher else [])
    deadline = time.monotonic() + float(spec.get("timeout", 60))
    last_stats = 0.0
    converged = False
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now - last_stats > 1.0:
            last_stats = now
            for n in everyone:
                n.ask_stats()
            print("dht nodes: %s" % [(n.name, n.nodes) for n in everyone], file=sys.stderr)
        time.sleep(0.02)
        for n in everyone:
            n.poll()
        converged = all(n.nodes >= min_nodes for n in everyone)
        if converged and (leecher is None or leecher.done()):
            break
    report = {
        "sessions": [Node.report(n) for n in everyone],
        "leecher": leecher.report() if leecher else None,
    }
    ok = converged
    if leecher:
        r = report["leecher"]
        ok = ok and r["finished"] and r["hash_failures"] == 0 \
            and r["num_pieces"] is not None and r["recheck_pieces"] == r["num_pieces"]
    report["ok"] = ok
    print(json.dumps(report))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
