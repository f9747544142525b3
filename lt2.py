import libtorrent as lt, time, sys
ses = lt.session({'listen_interfaces':'127.0.0.1:7272','enable_dht':False,'enable_lsd':False,'enable_upnp':False,'enable_natpmp':False,'allow_multiple_connections_per_ip':True})
info = lt.torrent_info('/tmp/ct/p.torrent')
h = ses.add_torrent({'ti': info, 'save_path': '/tmp/ct/lt'})
t0=time.time()
h.connect_peer(('127.0.0.1', 7171))
while time.time()-t0 < 30:
    s = h.status()
    print(round(time.time()-t0,2), s.state, round(s.progress,3), s.num_peers, s.download_rate)
    if s.is_seeding: break
    time.sleep(0.25)
