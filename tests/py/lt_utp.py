#!/usr/bin/python3
"""A libtorrent 2.0 session that speaks uTP only (TCP off both ways), as a
seed or as a leecher, for seedcore's uTP interop tests.

Usage: lt_utp.py SPEC.json
SPEC: {"mode": "seed" | "leech", "timeout": seconds,
       "torrent": path | "magnet": uri, "save": dir,
       "peers": ["127.0.0.1:6881", ...]   (leech: dialled over uTP),
       "leechers": n                        (leech: sessions, default 1)}

seed: prints {"port": N} on one line as soon as the session listens, then
seeds until stdin closes or the timeout passes, and prints a summary
({"uploaded": bytes, "peers_seen": n}).
leech: dials the peers over uTP (again whenever it has no connection)
until every piece is downloaded and checked (libtorrent hashes each piece
as it arrives) and then re-checked from disk; prints {"ok", "leechers":
[{"finished", "num_pieces", "have_pieces", "recheck_pieces",
"hash_failures", "utp_peers", "tcp_peers", "seconds", "error"}]}; exit 0
when every leecher finished with every piece, no hash failure, and every
peer connection it used was uTP.
"""

import json
import select
import sys
import time

import libtorrent as lt


def settings():
    return {
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_tcp": False,
        "enable_incoming_tcp": False,
        "enable_outgoing_utp": True,
        "enable_incoming_utp": True,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 5,
        "out_enc_policy": int(lt.enc_policy.disabled),
        "in_enc_policy": int(lt.enc_policy.disabled),
        "aio_threads": 1,
        "hashing_threads": 1,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification
                          | lt.alert.category_t.peer_notification
                          | lt.alert.category_t.connect_notification),
    }


# peer_info::utp_socket (libtorrent 2.0 peer_info.hpp: 17_bit); the
# python bindings do not export it. rc4_encrypted (19_bit) and holepunched
# (15_bit) are exported and checked below, so the numbering is this one.
UTP_SOCKET = 1 << 17
assert int(lt.peer_info.rc4_encrypted) == 1 << 19 and int(lt.peer_info.holepunched) == 1 << 15


def parse_peer(s):
    host, _, port = s.rpartition(":")
    return (host.strip("[]"), int(port))


def add(ses, spec):
    if "magnet" in spec:
        p = lt.parse_magnet_uri(spec["magnet"])
    else:
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(spec["torrent"])
    p.save_path = spec["save"]
    return ses.add_torrent(p)


def seed(spec):
    ses = lt.session(settings())
    h = add(ses, spec)
    deadline = time.monotonic() + spec.get("timeout", 60)
    while not h.status().is_seeding and time.monotonic() < deadline:
        time.sleep(0.05)
    print(json.dumps({"port": ses.listen_port()}), flush=True)
    seen = set()
    while time.monotonic() < deadline:
        r, _, _ = select.select([sys.stdin], [], [], 0.2)
        if r and not sys.stdin.readline():
            break
        for p in h.get_peer_info():
            seen.add(p.ip)
        ses.pop_alerts()
    st = h.status()
    print(json.dumps({"uploaded": st.total_payload_upload, "peers_seen": len(seen)}), flush=True)
    return 0


def leech(spec):
    peers = [parse_peer(p) for p in spec.get("peers", [])]
    n = spec.get("leechers", 1)
    deadline = time.monotonic() + spec.get("timeout", 60)
    started = time.monotonic()
    runs = []
    for i in range(n):
        ses = lt.session(settings())
        s = dict(spec)
        if n > 1:
            s["save"] = "%s/%d" % (spec["save"], i)
        h = add(ses, s)
        runs.append({"ses": ses, "h": h, "fail": 0, "finished": None, "recheck": None,
                     "rechecked": None, "utp": set(), "tcp": set(), "errors": [], "dialed": 0.0})
    while time.monotonic() < deadline:
        pending = 0
        for r in runs:
            h = r["h"]
            for a in r["ses"].pop_alerts():
                if isinstance(a, lt.hash_failed_alert):
                    r["fail"] += 1
                elif isinstance(a, lt.torrent_checked_alert) and r["recheck"] is not None:
                    r["rechecked"] = h.status().num_pieces
                elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                    r["errors"].append(a.message())
                elif isinstance(a, lt.peer_disconnected_alert):
                    print("leecher: %s" % a.message(), file=sys.stderr)
            for p in h.get_peer_info():
                key = "%s:%d" % (p.ip[0], p.ip[1])
                if int(p.flags) & UTP_SOCKET:
                    r["utp"].add(key)
                else:
                    r["tcp"].add(key)
            st = h.status()
            now = time.monotonic()
            if r["finished"] is None:
                if st.has_metadata and st.is_seeding:
                    r["finished"] = now - started
                    h.force_recheck()
                    r["recheck"] = now
                elif st.num_peers == 0 and now - r["dialed"] > 2:
                    r["dialed"] = now
                    for p in peers:
                        h.connect_peer(p)
            if r["finished"] is None or r["rechecked"] is None:
                pending += 1
        if pending == 0:
            break
        time.sleep(0.05)
    out = []
    ok = True
    for r in runs:
        st = r["h"].status()
        num = st.num_pieces if not st.has_metadata else r["h"].torrent_file().num_pieces()
        good = (r["finished"] is not None and r["fail"] == 0 and r["rechecked"] == num
                and not r["tcp"])
        ok = ok and good
        out.append({"finished": r["finished"] is not None, "num_pieces": num,
                    "have_pieces": st.num_pieces, "recheck_pieces": r["rechecked"],
                    "hash_failures": r["fail"], "utp_peers": sorted(r["utp"]),
                    "tcp_peers": sorted(r["tcp"]), "seconds": r["finished"],
                    "error": "; ".join(r["errors"])})
    print(json.dumps({"ok": ok, "leechers": out}), flush=True)
    return 0 if ok else 1


def main():
    spec = json.load(open(sys.argv[1]))
    if spec["mode"] == "seed":
        return seed(spec)
    return leech(spec)


if __name__ == "__main__":
    sys.exit(main())
