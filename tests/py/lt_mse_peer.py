#!/usr/bin/python3
"""One libtorrent session (python3-libtorrent 2.0.8) with a chosen encryption
policy, for the MSE tests: it listens, and optionally dials one peer.

Usage: lt_mse_peer.py SPEC.json
SPEC: {"torrent": path, "save": dir, "in": "forced|enabled|disabled",
       "out": "forced|enabled|disabled", "level": "plaintext|rc4|both",
       "prefer_rc4": bool, "connect": "127.0.0.1:PORT" | null,
       "seconds": N}
Prints "PORT <n>" on stdout once listening, then one JSON line per peer
event: {"event": "connected" | "disconnected" | "finished" | "encrypted",
"peer": "ip:port", "rc4": bool, "plaintext_encrypted": bool, "error": str}.
Runs for `seconds`, re-dialling `connect` whenever it has no peer, then
prints {"event": "exit", "have": N, "pieces": M} and exits 0.
"""

import json
import sys
import time

import libtorrent as lt

POLICY = {
    "forced": lt.enc_policy.forced,
    "enabled": lt.enc_policy.enabled,
    "disabled": lt.enc_policy.disabled,
}
LEVEL = {
    "plaintext": lt.enc_level.pe_plaintext,
    "rc4": lt.enc_level.pe_rc4,
    "both": lt.enc_level.pe_both,
}


def out(obj):
    print(json.dumps(obj), flush=True)


def main():
    spec = json.load(open(sys.argv[1]))
    settings = {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 5,
        "in_enc_policy": int(POLICY[spec["in"]]),
        "out_enc_policy": int(POLICY[spec["out"]]),
        "allowed_enc_level": int(LEVEL[spec["level"]]),
        "prefer_rc4": bool(spec.get("prefer_rc4", False)),
        "aio_threads": 1,
        "hashing_threads": 1,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.peer_notification
                          | lt.alert.category_t.connect_notification),
    }
    ses = lt.session(settings)
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(spec["torrent"])
    p.save_path = spec["save"]
    h = ses.add_torrent(p)
    h.resume()
    deadline = time.time() + float(spec.get("seconds", 30))
    while ses.listen_port() == 0 and time.time() < deadline:
        time.sleep(0.05)
    print("PORT %d" % ses.listen_port(), flush=True)
    target = None
    if spec.get("connect"):
        host, _, port = spec["connect"].rpartition(":")
        target = (host.strip("[]"), int(port))
    last_dial = 0.0
    seen = {}
    while time.time() < deadline:
        st = h.status()
        if target and st.num_peers == 0 and time.time() - last_dial > 1.0:
            h.connect_peer(target)
            last_dial = time.time()
        for a in ses.pop_alerts():
            if isinstance(a, lt.peer_connect_alert):
                out({"event": "connected", "peer": str(a.endpoint)})
            elif isinstance(a, lt.peer_disconnected_alert):
                out({"event": "disconnected", "peer": str(a.endpoint),
                     "error": a.error.message()})
            elif isinstance(a, lt.torrent_finished_alert):
                out({"event": "finished"})
        for pi in h.get_peer_info():
            key = str(pi.ip)
            flags = (bool(pi.flags & lt.peer_info.rc4_encrypted),
                     bool(pi.flags & lt.peer_info.plaintext_encrypted))
            if seen.get(key) != flags and not (pi.flags & lt.peer_info.handshake):
                seen[key] = flags
                out({"event": "encrypted", "peer": key, "rc4": flags[0],
                     "plaintext_encrypted": flags[1]})
        time.sleep(0.05)
    st = h.status()
    out({"event": "exit", "have": st.num_pieces, "pieces": p.ti.num_pieces()})


if __name__ == "__main__":
    main()
