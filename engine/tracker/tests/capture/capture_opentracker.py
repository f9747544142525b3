#!/usr/bin/python3
"""Captures real opentracker responses as test fixtures (run once, by hand).

Usage: /usr/bin/python3 capture_opentracker.py OUT_DIR

Starts Debian's opentracker on 127.0.0.1 (TCP and UDP port 16969) with a
whitelist of two info-hashes (it refuses every other hash), announces two
peers over HTTP and UDP, scrapes, and writes each response body / datagram
to OUT_DIR/<name>.bin together with the request that produced it
(OUT_DIR/<name>.req). As root opentracker chroots into -d, so the whitelist
path is relative to that folder.
"""
import http.client
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

PORT = 16969
H1 = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")
H2 = bytes.fromhex("fedcba9876543210fedcba9876543210fedcba98")
BAD = bytes.fromhex("00" * 20)
PEER_A = b"-SC0001-aaaaaaaaaaaa"
PEER_B = b"-SC0001-bbbbbbbbbbbb"


def q(b):
    return urllib.parse.quote_from_bytes(b, safe="")


def http_get(path):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return body


def announce_path(h, pid, port, event=None, compact=1, numwant=50, left=0):
    p = (f"/announce?info_hash={q(h)}&peer_id={q(pid)}&port={port}"
         f"&uploaded=0&downloaded=0&left={left}&compact={compact}&numwant={numwant}&key=1a2b3c4d")
    if event:
        p += f"&event={event}"
    return p


def save(out, name, req, data):
    with open(os.path.join(out, name + ".bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, name + ".req"), "w") as f:
        f.write(req if isinstance(req, str) else req.hex())
        f.write("\n")


def udp_xchg(sock, pkt):
    sock.send(pkt)
    return sock.recv(65536)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "whitelist"), "w") as f:
            f.write(H1.hex() + "\n" + H2.hex() + "\n")
        # opentracker drops root for -u (it refuses to keep it) before it
        # reads the whitelist, so both must be readable by that user.
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "whitelist"), 0o644)
        proc = subprocess.Popen(["opentracker", "-i", "127.0.0.1", "-p", str(PORT),
                                 "-P", str(PORT), "-d", d, "-w", "whitelist", "-u", "nobody"])
        try:
            time.sleep(1.0)
            # HTTP: peer A (a leecher) starts, then peer B (a seed) starts
            # and sees A.
            http_get(announce_path(H1, PEER_A, 6881, "started", left=1000))
            p = announce_path(H1, PEER_B, 6882, "started")
            save(out, "http_announce_compact", p, http_get(p))
            p = announce_path(H1, PEER_B, 6882, None, compact=0)
            save(out, "http_announce_noncompact", p, http_get(p))
            p = announce_path(BAD, PEER_B, 6882, "started")
            save(out, "http_announce_not_whitelisted", p, http_get(p))
            p = f"/scrape?info_hash={q(H1)}&info_hash={q(H2)}"
            save(out, "http_scrape", p, http_get(p))
            p = announce_path(H1, PEER_B, 6882, "stopped", numwant=0)
            save(out, "http_announce_stopped", p, http_get(p))

            # UDP (BEP 15).
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.connect(("127.0.0.1", PORT))
            req = struct.pack(">QII", 0x41727101980, 0, 0x11223344)
            resp = udp_xchg(s, req)
            save(out, "udp_connect", req, resp)
            conn_id = struct.unpack(">Q", resp[8:16])[0]
            # Peer A announces over UDP to H2 (left > 0), then B sees it.
            req = struct.pack(">QII20s20sQQQIIIiH", conn_id, 1, 0x55667788, H2, PEER_A,
                              0, 1000, 0, 2, 0, 0x1a2b3c4d, -1, 6881)
            udp_xchg(s, req)
            req = struct.pack(">QII20s20sQQQIIIiH", conn_id, 1, 0x99aabbcc, H2, PEER_B,
                              0, 0, 0, 2, 0, 0x1a2b3c4d, 50, 6882)
            save(out, "udp_announce", req, udp_xchg(s, req))
            req = struct.pack(">QII20s20s", conn_id, 2, 0xddeeff00, H1, H2)
            save(out, "udp_scrape", req, udp_xchg(s, req))
            req = struct.pack(">QII20s20sQQQIIIiH", conn_id, 1, 0x01020304, BAD, PEER_B,
                              0, 0, 0, 2, 0, 0x1a2b3c4d, 50, 6882)
            save(out, "udp_announce_not_whitelisted", req, udp_xchg(s, req))
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
