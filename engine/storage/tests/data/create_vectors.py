#!/usr/bin/python3
# Regenerates create_vectors.txt: what libtorrent 2.0.8 (python3-libtorrent)
# and mktorrent 1.1 produce for a small deterministic folder and file.
# Run from an empty folder: /usr/bin/python3 create_vectors.py > create_vectors.txt
# It also leaves the .torrent files there (<mode>_<src>_<piece length>.torrent);
# the ones in this folder were copied from such a run.
import subprocess
import libtorrent as lt

def pat(n, m, a):
    return bytes(((i * m + a) % 251) for i in range(n))

FILES = {'a': (20000, 7, 1), 'b/c': (70000, 13, 5), 'b/empty': (0, 1, 1),
         'b-x': (3000, 3, 2), 'd': (5, 1, 9), 'e': (50000, 11, 3)}
import os
os.makedirs('t/b', exist_ok=True)
for p, (n, m, a) in FILES.items():
    open('t/' + p, 'wb').write(pat(n, m, a))
open('single.bin', 'wb').write(pat(40000, 5, 7))

def emit(*fields):
    print(' '.join(str(f) for f in fields))

for pl, log2 in [(16384, 14), (32768, 15)]:
    if log2 >= 15:  # mktorrent's smallest piece is 32 KiB
        subprocess.run(['mktorrent', '-l', str(log2), '-o', 'mk.torrent', 't'], check=True, capture_output=True)
        os.rename('mk.torrent', 'mk_v1_t_%d.torrent' % pl)
        info = lt.bdecode(open('mk_v1_t_%d.torrent' % pl, 'rb').read())[b'info']
        emit('files', 'v1', 't', pl, ','.join('%s:%d:' % (b'/'.join(f[b'path']).decode(), f[b'length']) for f in info[b'files']))
        emit('pieces', 'v1', 't', pl, info[b'pieces'].hex())
    for flags, mode in [(0, 'hybrid'), (lt.create_torrent.v2_only, 'v2')]:
        for src in ['t', 'single.bin']:
            fs = lt.file_storage()
            lt.add_files(fs, src)
            ct = lt.create_torrent(fs, pl, flags)
            lt.set_piece_hashes(ct, '.')
            e = ct.generate()
            open('%s_%s_%d.torrent' % (mode, src.replace('.', '_'), pl), 'wb').write(lt.bencode(e))
            info = e[b'info']
            if b'files' in info:
                emit('files', mode, src, pl, ','.join('%s:%d:%s' % (b'/'.join(f[b'path']).decode(), f[b'length'], (f.get(b'attr') or b'').decode()) for f in info[b'files']))
            if b'pieces' in info:
                emit('pieces', mode, src, pl, info[b'pieces'].hex())
            def walk(t, pre):
                for k, v in t.items():
                    if k == b'':
                        r = v.get(b'pieces root', b'')
                        layer = e.get(b'piece layers', {}).get(r, b'')
                        emit('root', mode, src, pl, '/'.join(pre), v[b'length'], r.hex() or '-', layer.hex() or '-')
                    else:
                        walk(v, pre + [k.decode()])
            walk(info[b'file tree'], [])
