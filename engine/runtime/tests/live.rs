//! The live node through its Rust interface ([`seedcore_runtime::Node`]):
//! torrents added, paused, resumed, re-checked and removed while a peer
//! of another torrent keeps downloading on the same connection; the state
//! folder across a restart; the blocklist; upload limits and slots.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::leecher::{download_and_check, Leecher};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_runtime::{
    AddRequest, AddSource, LimitsUpdate, Node, NodeError, Seeder, TorrentKey, TorrentSource,
    TorrentState,
};

const WAIT: Duration = Duration::from_secs(30);

fn key_of(meta: &Metainfo) -> TorrentKey {
    TorrentKey(meta.info_hashes.wire_hash())
}

fn wait_state(node: &Node, key: TorrentKey, state: TorrentState) {
    common::wait_for(&format!("{key} to be {state:?}"), WAIT, || {
        node.torrent(key).is_ok_and(|t| t.state == state)
    });
}

/// Whether the seed closes connections naming `hash` without answering
/// (a change reaches the shards a message round-trip after the call that
/// made it returns: tried for a bounded while).
fn refused(addr: SocketAddr, hash: [u8; 20]) -> bool {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if Leecher::connect(addr, hash, true).is_err() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Connects as a leecher of `hash`, retrying for a bounded while (a
/// torrent seeds on every shard a message round-trip after it says so).
fn connect(addr: SocketAddr, hash: [u8; 20], fast: bool) -> Leecher {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        match Leecher::connect(addr, hash, fast) {
            Ok(l) => return l,
            Err(e) if Instant::now() > end => panic!("cannot connect for {hash:02x?}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn meta_at(path: &Path) -> Metainfo {
    Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn half(meta: &Metainfo) -> (Vec<u32>, Vec<u32>) {
    let n = meta.info.piece_count;
    ((0..n / 2).collect(), (n / 2..n).collect())
}

#[test]
fn torrents_come_and_go_while_another_peer_downloads_on_one_connection() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::sample_folder(dir.path());
    let b = common::make_folder(
        dir.path(),
        "bee",
        &[("b1.bin", 700_000), ("b2.bin", 300_001)],
    );
    let c = common::make_folder(dir.path(), "sea", &[("c.bin", 900_000)]);
    let c_torrent = seedcore_runtime::torrents::make_torrent(&c, 2).unwrap();
    let state = dir.path().join("state");
    let mut cfg = common::config(&[&a], 2);
    cfg.state_dir = Some(state.clone());
    let seeder = Seeder::start(cfg.clone()).unwrap();
    let node = seeder.node();
    let addr = common::addr(&seeder);
    let meta_a = common::meta_of(&seeder, 0);

    // A peer of A takes half of it, and keeps its connection.
    let mut la = Leecher::connect(addr, meta_a.info_hashes.wire_hash(), true).unwrap();
    la.interested().unwrap();
    let (first, second) = half(&meta_a);
    download_and_check(&mut la, &meta_a, &first).unwrap();
    let la_addr = la.stream().local_addr().unwrap();

    // Add B (made from its folder) and C (its .torrent), both at run time.
    let info_b = node
        .add(AddRequest::new(AddSource::Make(b.clone())))
        .unwrap();
    assert_eq!(info_b.source, TorrentSource::Api);
    let meta_b = meta_at(&dir.path().join("bee.torrent"));
    let kb = key_of(&meta_b);
    assert_eq!(info_b.key, kb);
    let kc = key_of(&c_torrent.meta);
    let info_c = node
        .add(
            AddRequest::new(AddSource::TorrentBytes(
                std::fs::read(&c_torrent.torrent_path).unwrap(),
            ))
            .with_data(dir.path()),
        )
        .unwrap();
    assert_eq!(info_c.key, kc);
    assert!(
        matches!(
            node.add(AddRequest::new(AddSource::TorrentFile(
                c_torrent.torrent_path.clone()
            ))),
            Err(NodeError::Duplicate { .. })
        ),
        "the same torrent twice is refused"
    );
    assert!(matches!(
        node.add(
            AddRequest::new(AddSource::TorrentBytes(b"d4:infoe".to_vec())).with_data(dir.path())
        ),
        Err(NodeError::BadTorrent { .. })
    ));
    wait_state(&node, kb, TorrentState::Seeding);
    wait_state(&node, kc, TorrentState::Seeding);
    let listed: Vec<TorrentKey> = node.torrents().unwrap().iter().map(|t| t.key).collect();
    assert_eq!(listed, vec![key_of(&meta_a), kb, kc], "in the order added");

    // B serves every piece.
    let all_b: Vec<u32> = (0..meta_b.info.piece_count).collect();
    let mut lb = connect(addr, kb.0, true);
    lb.interested().unwrap();
    assert_eq!(
        download_and_check(&mut lb, &meta_b, &all_b).unwrap(),
        meta_b.info.total_length
    );
    common::wait_for("B's peer in the API", WAIT, || {
        node.peers(kb).is_ok_and(|p| p.len() == 1)
    });

    // Pause B: its peer is closed, new ones refused; resume: served again.
    let paused = node.pause(kb).unwrap();
    assert_eq!(paused.state, TorrentState::Paused);
    lb.stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64 << 10];
    let closed = loop {
        match lb.stream().read(&mut buf) {
            Ok(0) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(closed, "a paused torrent's peer is closed");
    assert!(refused(addr, kb.0), "a paused torrent is not served");
    assert!(node.peers(kb).unwrap().is_empty());
    node.resume(kb).unwrap();
    wait_state(&node, kb, TorrentState::Seeding);
    let mut lb = connect(addr, kb.0, false);
    lb.interested().unwrap();
    download_and_check(&mut lb, &meta_b, &all_b).unwrap();
    drop(lb);

    // Re-check B: verified again from scratch, then served.
    node.recheck(kb).unwrap();
    wait_state(&node, kb, TorrentState::Seeding);
    assert_eq!(node.torrent(kb).unwrap().pieces, meta_b.info.piece_count);

    // Remove B: gone from the list and the swarm; its data stays.
    node.remove(kb).unwrap();
    assert!(matches!(node.torrent(kb), Err(NodeError::NotFound { .. })));
    assert!(refused(addr, kb.0));
    assert!(b.join("b1.bin").is_file(), "data is never deleted");
    assert!(matches!(node.remove(kb), Err(NodeError::NotFound { .. })));

    // C is paused before the restart, to see the flag survive.
    node.pause(kc).unwrap();

    // All along, A's peer was never dropped: the same connection takes
    // the other half, and the seed still lists it under the same address.
    let peers_a = node.peers(key_of(&meta_a)).unwrap();
    assert_eq!(peers_a.len(), 1);
    assert_eq!(peers_a[0].addr, la_addr, "the same connection");
    download_and_check(&mut la, &meta_a, &second).unwrap();
    seeder.shutdown();

    // Restart with the same state folder: C is back, paused; B is not.
    let seeder = Seeder::start(cfg).unwrap();
    let node = seeder.node();
    let listed: Vec<TorrentKey> = node.torrents().unwrap().iter().map(|t| t.key).collect();
    assert_eq!(listed, vec![key_of(&meta_a), kc]);
    assert_eq!(node.torrent(kc).unwrap().state, TorrentState::Paused);
    node.resume(kc).unwrap();
    wait_state(&node, kc, TorrentState::Seeding);
    let all_c: Vec<u32> = (0..c_torrent.meta.info.piece_count).collect();
    let mut lc = connect(common::addr(&seeder), kc.0, true);
    lc.interested().unwrap();
    download_and_check(&mut lc, &c_torrent.meta, &all_c).unwrap();
    seeder.shutdown();
}

#[test]
fn a_node_started_empty_takes_torrents_and_a_second_node_cannot_share_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::make_folder(dir.path(), "alone", &[("x.bin", 200_000)]);
    let mut cfg = common::config(&[], 1);
    cfg.state_dir = Some(dir.path().join("state"));
    let seeder = Seeder::start(cfg.clone()).unwrap();
    let node = seeder.node();
    assert!(node.torrents().unwrap().is_empty());
    let err = Seeder::start(cfg).unwrap_err().to_string();
    assert!(err.contains("in use"), "{err}");
    let t = node.add(AddRequest::new(AddSource::Make(a))).unwrap();
    wait_state(&node, t.key, TorrentState::Seeding);
    let missing = node
        .add(
            AddRequest::new(AddSource::TorrentFile(dir.path().join("alone.torrent")))
                .with_data(dir.path().join("nowhere")),
        )
        .unwrap_err();
    assert!(matches!(missing, NodeError::Io { .. }), "{missing}");
    seeder.shutdown();
}

/// Connects from `from` (a loopback address) and reads what comes back
/// after sending a handshake: `None` when the seed closed without a byte.
fn handshake_from(from: &str, to: SocketAddr, hash: [u8; 20]) -> Option<usize> {
    use std::io::Write;
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&from.parse::<SocketAddr>().unwrap().into()).unwrap();
    s.connect(&to.into()).unwrap();
    let mut stream: TcpStream = s.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(&hash);
    hs.extend_from_slice(b"-XX0000-abcdefghijkl");
    let _ = stream.write_all(&hs);
    let mut buf = [0u8; 68];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

#[test]
fn blocklisted_addresses_are_refused_before_the_handshake_and_reloads_apply() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::make_folder(dir.path(), "guarded", &[("x.bin", 300_000)]);
    let list = dir.path().join("ipfilter.dat");
    std::fs::write(
        &list,
        "# test list\n127.000.000.002 - 127.000.000.002 , 000 , blocked one\nv6:2001:db8::-2001:db8::ff\n",
    )
    .unwrap();
    let mut cfg = common::config(&[&a], 2);
    cfg.blocklist = Some(list.clone());
    let seeder = Seeder::start(cfg).unwrap();
    let node = seeder.node();
    let addr = common::addr(&seeder);
    let hash = common::meta_of(&seeder, 0).info_hashes.wire_hash();
    let info = node.blocklist().unwrap();
    assert_eq!((info.ranges_v4, info.ranges_v6), (1, 1));
    assert_eq!(handshake_from("127.0.0.2:0", addr, hash), None, "blocked");
    assert!(
        handshake_from("127.0.0.3:0", addr, hash).is_some(),
        "allowed"
    );
    common::wait_for("the refusal counted", WAIT, || {
        node.status()
            .is_ok_and(|s| s.live.refused_blocked >= 1 && s.live.blocklist_ranges == 2)
    });

    // A peer connected from .4, then .4 is blocked: it is closed.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&"127.0.0.4:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.connect(&addr.into()).unwrap();
    let mut held: TcpStream = s.into();
    {
        use std::io::Write;
        let mut hs = vec![19u8];
        hs.extend_from_slice(b"BitTorrent protocol");
        hs.extend_from_slice(&[0u8; 8]);
        hs.extend_from_slice(&hash);
        hs.extend_from_slice(b"-XX0000-abcdefghijkl");
        held.write_all(&hs).unwrap();
    }
    std::fs::write(&list, "x:127.0.0.4-127.0.0.4\n").unwrap();
    let info = node.reload_blocklist().unwrap();
    assert_eq!((info.ranges_v4, info.ranges_v6), (1, 0));
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match held.read(&mut buf) {
            Ok(0) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(closed, "a connected peer the new list blocks is closed");
    assert!(
        handshake_from("127.0.0.2:0", addr, hash).is_some(),
        "allowed after the reload"
    );
    assert_eq!(handshake_from("127.0.0.4:0", addr, hash), None);
    // A list that cannot be read keeps the old one in force.
    std::fs::write(&list, "no ranges here\n").unwrap();
    assert!(node.reload_blocklist().is_err());
    assert_eq!(handshake_from("127.0.0.4:0", addr, hash), None);
    seeder.shutdown();
}

/// Downloads `pieces` and returns (bytes, seconds) over the part of the
/// download after the first `skip` bytes (the burst a bucket allows).
fn timed_download(l: &mut Leecher, meta: &Metainfo, pieces: &[u32], skip: u64) -> (u64, f64) {
    let geo = Geometry::from_info(&meta.info);
    let mut got = 0u64;
    let mut start: Option<(Instant, u64)> = None;
    l.fetch(&geo, pieces, 64, |_, _, data| {
        got += data.len() as u64;
        if start.is_none() && got >= skip {
            start = Some((Instant::now(), got));
        }
    })
    .unwrap();
    let (t0, b0) = start.unwrap();
    (got - b0, t0.elapsed().as_secs_f64())
}

#[test]
fn upload_limits_hold_and_change_at_run_time() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::make_folder(dir.path(), "slow", &[("x.bin", 5 << 20)]);
    let mut cfg = common::config(&[&a], 2);
    let limit: u64 = 2 << 20;
    cfg.upload_limit = seedcore_runtime::Bytes(limit);
    let seeder = Seeder::start(cfg).unwrap();
    let node = seeder.node();
    let meta = common::meta_of(&seeder, 0);
    let key = key_of(&meta);
    assert_eq!(node.limits().unwrap().upload_rate, limit);
    let n = meta.info.piece_count;
    let first: Vec<u32> = (0..n / 2).collect();
    let second: Vec<u32> = (n / 2..n).collect();
    let mut l = Leecher::connect(common::addr(&seeder), key.0, true).unwrap();
    l.interested().unwrap();
    // Over the measured window, the rate is the limit (a ratio, not a
    // time: whatever the machine's speed, a leecher on loopback can take
    // far more than 2 MiB/s, so only the limit holds it back).
    let (bytes, secs) = timed_download(&mut l, &meta, &first, 512 << 10);
    let ratio = bytes as f64 / (limit as f64 * secs);
    eprintln!("global limit: {bytes} bytes in {secs:.2} s, {ratio:.3} of the limit");
    assert!(
        (0.75..1.1).contains(&ratio),
        "{bytes} bytes in {secs:.2} s = {ratio:.3} of the global limit"
    );

    // A torrent limit lower than the global one wins; then both go.
    let per = 1 << 20;
    node.set_torrent_limit(key, per).unwrap();
    let third: Vec<u32> = second[..second.len() / 2].to_vec();
    let rest: Vec<u32> = second[second.len() / 2..].to_vec();
    let (bytes, secs) = timed_download(&mut l, &meta, &third, 256 << 10);
    let ratio = bytes as f64 / (per as f64 * secs);
    eprintln!("torrent limit: {bytes} bytes in {secs:.2} s, {ratio:.3} of the limit");
    assert!(
        (0.75..1.1).contains(&ratio),
        "{bytes} bytes in {secs:.2} s = {ratio:.3} of the torrent's limit"
    );
    assert_eq!(node.torrent(key).unwrap().upload_limit, per);
    node.set_torrent_limit(key, 0).unwrap();
    let lim = node
        .set_limits(LimitsUpdate {
            upload_rate: Some(0),
            ..LimitsUpdate::default()
        })
        .unwrap();
    assert_eq!(lim.upload_rate, 0);
    let (bytes, secs) = timed_download(&mut l, &meta, &rest, 0);
    assert!(
        bytes as f64 / secs > 2.0 * limit as f64,
        "unlimited again: {bytes} bytes in {secs:.2} s"
    );
    seeder.shutdown();
}

#[test]
fn upload_slots_hold_over_all_shards() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::make_folder(dir.path(), "slots", &[("x.bin", 2 << 20)]);
    let mut cfg = common::config(&[&a], 3);
    cfg.upload_slots = 2;
    cfg.choke_interval = seedcore_runtime::Span(Duration::from_millis(200));
    let seeder = Seeder::start(cfg).unwrap();
    let node = seeder.node();
    let meta = common::meta_of(&seeder, 0);
    let key = key_of(&meta);
    let addr = common::addr(&seeder);
    // Six interested peers; they never request, so they stay interested.
    let peers: Vec<Leecher> = (0..6)
        .map(|_| {
            let mut l = Leecher::connect(addr, key.0, true).unwrap();
            l.send(&seedcore_protocol::wire::Message::Interested)
                .unwrap();
            l
        })
        .collect();
    common::wait_for("every peer interested", WAIT, || {
        node.peers(key)
            .is_ok_and(|p| p.len() == 6 && p.iter().all(|p| p.interested))
    });
    // Over a few choke rounds (and a re-share by demand), never more than
    // two unchoked in all, and the slots are used.
    let end = Instant::now() + Duration::from_secs(3);
    let mut most = 0;
    while Instant::now() < end {
        let unchoked = node
            .peers(key)
            .unwrap()
            .iter()
            .filter(|p| !p.choked)
            .count();
        assert!(unchoked <= 2, "{unchoked} peers unchoked with 2 slots");
        most = most.max(unchoked);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(most, 2, "both slots are used");
    let lim = node
        .set_limits(LimitsUpdate {
            upload_slots: Some(0),
            ..LimitsUpdate::default()
        })
        .unwrap();
    assert_eq!(lim.upload_slots, 0);
    common::wait_for("every peer unchoked once slots are unlimited", WAIT, || {
        node.peers(key)
            .is_ok_and(|p| p.iter().filter(|p| !p.choked).count() == 6)
    });
    drop(peers);
    seeder.shutdown();
}
