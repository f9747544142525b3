#!/usr/bin/python3
"""Interop check: seedcore-dht (examples/udp_node.rs) against libtorrent's DHT.

Two-node DHT on 127.0.0.1: a libtorrent 2.0 session with only the DHT on,
and our node. Checks both directions of BEP 5:
  1. libtorrent announces HASH_LT to us (a torrent it has: get_peers for
     a token, then announce_peer with its listen port); libtorrent's own
     get_peers then gets that peer back from our store.
  2. we announce HASH_SC to libtorrent; our get_peers lookup gets our peer
     back from libtorrent's store.

Run from the repository root (uses /usr/bin/python3 for `import libtorrent`):
  cargo build -p seedcore-dht --example udp_node
  /usr/bin/python3 engine/dht/examples/libtorrent_check.py
Exit code 0 when both directions work.
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import libtorrent as lt

HASH_LT = "aa" * 20
HASH_SC = "5c" * 20
SC_PEER_PORT = 7777
SECONDS = 40


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    binary = os.path.join(root, "target", "debug", "examples", "udp_node")
    lt_port = free_udp_port()
    sc_port = free_udp_port()
    ses = lt.session({
        "listen_interfaces": "127.0.0.1:%d" % lt_port,
        "enable_dht": True,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "dht_bootstrap_nodes": "127.0.0.1:%d" % sc_port,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_enforce_node_id": False,
        "dht_ignore_dark_internet": False,
        "alert_mask": lt.alert.category_t.all_categories,
    })
    node = subprocess.Popen(
        [binary, "--bind", "127.0.0.1:%d" % sc_port,
         "--bootstrap", "127.0.0.1:%d" % lt_port,
         "--announce", HASH_SC, str(SC_PEER_PORT),
         "--lookup", HASH_SC, "--seconds", str(SECONDS)],
        stdout=subprocess.PIPE, text=True)
    lines = []
    tmp = tempfile.mkdtemp(prefix="dht-check-")

    def reader():
        for line in node.stdout:
            lines.append(line.strip())
            print("  seedcore:", line.strip())

    threading.Thread(target=reader, daemon=True).start()

    lt_found = set()
    announced = False
    deadline = time.time() + SECONDS - 2
    ours = "PEER %s 127.0.0.1:%d" % (HASH_SC, SC_PEER_PORT)
    while time.time() < deadline:
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_get_peers_reply_alert):
                for p in a.peers():
                    lt_found.add(p)
            elif isinstance(a, (lt.dht_bootstrap_alert, lt.dht_announce_alert)):
                print("  libtorrent:", a.message())
        if not announced and time.time() > deadline - SECONDS + 6:
            # The Python binding cannot build dht_announce's flags, so let
            # libtorrent announce the way it does for any torrent it has:
            # a magnet-style add makes it get_peers + announce_peer with
            # its listen port.
            atp = lt.add_torrent_params()
            atp.info_hashes = lt.info_hash_t(lt.sha1_hash(bytes.fromhex(HASH_LT)))
            atp.save_path = tmp
            ses.add_torrent(atp)
            announced = True
        if announced:
            ses.dht_get_peers(lt.sha1_hash(bytes.fromhex(HASH_LT)))
        if ("127.0.0.1", lt_port) in lt_found and ours in lines and any(
                l.startswith("STORED 1") for l in lines):
            break
        time.sleep(1)
    node.terminate()
    node.wait()
    stored = [l for l in lines if l.startswith("STORED ")]
    ok_store = bool(stored) and stored[-1] != "STORED 0 0"
    ok_lt = ("127.0.0.1", lt_port) in lt_found and ok_store
    ok_sc = ours in lines
    print("seedcore stored libtorrent's announce: %s (%s)" % (ok_store, stored[-1:] or "nothing"))
    print("libtorrent got its peer back from seedcore's store: %s (%s)" % (ok_lt, sorted(lt_found)))
    print("seedcore got its peer back from libtorrent's store: %s" % ok_sc)
    return 0 if ok_lt and ok_sc else 1


if __name__ == "__main__":
    sys.exit(main())
