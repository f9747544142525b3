#!/usr/bin/python3
"""Regenerates the non-canonical .torrent files in this folder and records
what libtorrent makes of each one.

Run with the system python that has libtorrent 2.0 (`/usr/bin/python3`),
from this folder:

    /usr/bin/python3 make.py

Each torrent is canonical bencode with one thing changed: keys out of order,
a key twice, an integer or string length with a leading zero, `-0`, a long
integer. v1 ones are hand-written; v2 and hybrid ones start from a torrent
libtorrent made for two small files, re-encoded here with a writer that keeps
whatever key order it is given. `expected.txt` gets one line per torrent: what
`lt.torrent_info(bytes)` reports (accepted: info-hashes, name, file count and
total size without pad files; rejected: the error), which
`tests/metainfo_noncanonical.rs` holds our parser to.
"""
import os
import shutil
import tempfile

import libtorrent as lt

HERE = os.path.dirname(os.path.abspath(__file__))


class D:
    """A dictionary as an ordered list of pairs (repeats allowed)."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, key):
        return next(v for k, v in self.items if k == key)

    def replace(self, key, value):
        self.items = [(k, value if k == key else v) for k, v in self.items]


class Raw:
    """Bytes written as they are (a hand-made token)."""

    def __init__(self, b):
        self.b = b


def enc(v):
    if isinstance(v, Raw):
        return v.b
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, D):
        return b"d" + b"".join(enc(k) + enc(x) for k, x in v.items) + b"e"
    raise TypeError(type(v))


def ordered(v):
    """libtorrent's decoded value as nested D (sorted, as in the file)."""
    if isinstance(v, dict):
        return D((k, ordered(v[k])) for k in sorted(v))
    if isinstance(v, list):
        return [ordered(x) for x in v]
    return v


def v1_info(extra=(), length=Raw(b"i5e"), name=b"a"):
    return D([(b"length", length), (b"name", name), (b"piece length", 16384),
              (b"pieces", b"A" * 20)] + list(extra))


def torrent(info, top_extra=()):
    return D([(b"announce", b"http://x/ann")] + list(top_extra) + [(b"info", info)])


def v1_cases():
    cases = {}
    cases["v1-canonical"] = torrent(v1_info())
    info = v1_info()
    info.items = [info.items[1], info.items[0], info.items[3], info.items[2]]
    cases["v1-unsorted-info"] = torrent(info)
    cases["v1-unsorted-top"] = D([(b"info", v1_info()), (b"announce", b"http://x/ann")])
    info = v1_info()
    info.items.insert(1, (b"length", 9000))
    cases["v1-duplicate-length"] = torrent(info)
    info = v1_info(name=b"first")
    info.items.insert(2, (b"name", b"second"))
    cases["v1-duplicate-name"] = torrent(info)
    t = torrent(v1_info(name=b"first"))
    t.items.append((b"info", v1_info(name=b"second", length=Raw(b"i9000e"))))
    cases["v1-duplicate-info"] = t
    cases["v1-leading-zero-int"] = torrent(v1_info(length=Raw(b"i005e")))
    cases["v1-leading-zero-strlen"] = torrent(v1_info(name=Raw(b"01:a")))
    cases["v1-negative-zero"] = torrent(v1_info([(b"zz", Raw(b"i-0e"))]))
    cases["v1-int-20-digits"] = torrent(v1_info([(b"zz", Raw(b"i" + b"9" * 20 + b"e"))]))
    cases["v1-int-21-digits"] = torrent(v1_info([(b"zz", Raw(b"i" + b"1" * 21 + b"e"))]))
    files = [
        D([(b"path", [b"x"]), (b"length", 3)]),
        D([(b"length", 2), (b"path", [b"y"]), (b"path", [b"z"]), (b"length", 7)]),
    ]
    info = D([(b"piece length", 16384), (b"name", b"multi"), (b"files", files),
              (b"pieces", b"B" * 20)])
    cases["v1-multi-unsorted-files"] = torrent(info)
    return cases


def v2_cases(root):
    cases = {}
    for label, flags in [("v2", lt.create_torrent.v2_only), ("hybrid", 0)]:
        fs = lt.file_storage()
        lt.add_files(fs, os.path.join(root, "d"))
        ct = lt.create_torrent(fs, 16384, flags=flags)
        lt.set_piece_hashes(ct, root)
        e = ct.generate()
        e[b"creation date"] = 1700000000

        def base():
            return ordered(e)

        cases[label + "-canonical"] = base()
        t2 = base()
        info2 = t2.get(b"info")
        ft = info2.get(b"file tree")
        ft.items.reverse()
        cases[label + "-tree-unsorted"] = t2
        t3 = base()
        ft = t3.get(b"info").get(b"file tree")
        ft.items.insert(1, ft.items[0])
        cases[label + "-tree-duplicate"] = t3
        t4 = base()
        ft = t4.get(b"info").get(b"file tree")
        leaf = ft.items[0][1].get(b"")
        leaf.items.reverse()
        cases[label + "-leaf-unsorted"] = t4
        t5 = base()
        t5.get(b"info").items.reverse()
        cases[label + "-info-unsorted"] = t5
        t6 = base()
        t6.get(b"info").items.append((b"zz", Raw(b"i01e")))
        cases[label + "-leading-zero-int"] = t6
        t7 = base()
        t7.get(b"info").items.append((b"zz", Raw(b"02:zz")))
        cases[label + "-leading-zero-strlen"] = t7
        t8 = base()
        t8.get(b"info").items.append((b"zz", Raw(b"i-0e")))
        cases[label + "-negative-zero"] = t8
        t9 = base()
        t9.items.reverse()
        cases[label + "-top-unsorted"] = t9
    return cases


def main():
    root = tempfile.mkdtemp()
    try:
        os.makedirs(os.path.join(root, "d"))
        open(os.path.join(root, "d", "a"), "wb").write(b"aaaa")
        open(os.path.join(root, "d", "b"), "wb").write(b"bbbbbb")
        cases = v1_cases()
        cases.update(v2_cases(root))
    finally:
        shutil.rmtree(root)

    for name in os.listdir(HERE):
        if name.endswith(".torrent"):
            os.remove(os.path.join(HERE, name))
    lines = []
    for name in sorted(cases):
        data = enc(cases[name])
        file = name + ".torrent"
        open(os.path.join(HERE, file), "wb").write(data)
        try:
            ti = lt.torrent_info(data)
        except RuntimeError as err:
            lines.append(" ".join([file, "rejected", str(err).replace(" ", "_")]))
            continue
        ih = ti.info_hashes()
        fs = ti.files()
        real = [i for i in range(fs.num_files()) if not fs.file_flags(i) & lt.file_storage.flag_pad_file]
        lines.append(" ".join([
            file, "ok",
            str(ih.v1) if ih.has_v1() else "-",
            str(ih.v2) if ih.has_v2() else "-",
            ti.name(), str(len(real)), str(sum(fs.file_size(i) for i in real)),
        ]))
    with open(os.path.join(HERE, "expected.txt"), "w") as f:
        f.write("# file ok v1-hash v2-hash name files size | file rejected error"
                " (libtorrent %s)\n" % lt.__version__)
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
