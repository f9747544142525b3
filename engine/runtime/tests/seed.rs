//! Loopback tests of a whole seed: an in-process `Seeder` and the minimal
//! leecher from `common::leecher`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;

use std::time::Duration;

use common::leecher::{download_and_check, Leecher};
use seedcore_protocol::geometry::Geometry;
use seedcore_runtime::{Seeder, SendPath};

fn all_pieces(meta: &seedcore_protocol::metainfo::Metainfo) -> Vec<u32> {
    (0..meta.info.piece_count).collect()
}

#[test]
fn every_send_path_serves_a_multi_file_torrent_with_correct_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::sample_folder(dir.path());
    for path in SendPath::ALL {
        let mut cfg = common::config(&[&folder], 2);
        cfg.send_path = path;
        let seeder = Seeder::start(cfg).unwrap();
        let t = &seeder.torrents()[0];
        assert_eq!(t.pieces, t.piece_count, "{path}: all pieces verified");
        let meta = common::meta_of(&seeder, 0);
        assert!(!meta.info.pieces.is_empty());
        for fast in [true, false] {
            let mut l = Leecher::connect(common::addr(&seeder), meta.info_hashes.wire_hash(), fast)
                .unwrap();
            l.interested().unwrap();
            if fast {
                assert!(l.seen.have_all, "{path}: a Fast peer gets have-all");
            } else {
                let bf = l.seen.bitfield.clone().expect("bitfield");
                assert_eq!(bf.len(), meta.info.piece_count.div_ceil(8) as usize);
            }
            let n = download_and_check(&mut l, &meta, &all_pieces(&meta)).unwrap();
            assert_eq!(n, meta.info.total_length, "{path}: every byte checked");
        }
        seeder.shutdown();
    }
    // The torrent was written beside the folder, and a restart uses the
    // resume file instead of verifying again.
    let torrent = dir.path().join("sample.torrent");
    assert!(torrent.is_file());
    let seeder = Seeder::start(common::config(&[&torrent], 1)).unwrap();
    assert!(seeder.torrents()[0].from_resume);
    assert!(!seeder.torrents()[0].created);
    seeder.shutdown();
}

#[test]
fn more_shards_than_cores_all_serve() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "small", &[("x.bin", 300_000)]);
    let cores = seedcore_runtime::sys::online_cpus().len();
    let shards = cores * 2 + 1;
    let seeder = Seeder::start(common::config(&[&folder], shards)).unwrap();
    assert_eq!(seeder.shards(), shards);
    let meta = common::meta_of(&seeder, 0);
    // Enough peers that the kernel's SO_REUSEPORT hash spreads them; each
    // downloads everything.
    let peers: Vec<_> = (0..12)
        .map(|_| {
            let meta = meta.clone();
            let addr = common::addr(&seeder);
            std::thread::spawn(move || {
                let mut l = Leecher::connect(addr, meta.info_hashes.wire_hash(), true).unwrap();
                l.interested().unwrap();
                download_and_check(&mut l, &meta, &all_pieces(&meta)).unwrap()
            })
        })
        .collect();
    for p in peers {
        assert_eq!(p.join().unwrap(), meta.info.total_length);
    }
    common::wait_for("a status with every shard", Duration::from_secs(5), || {
        seeder.status().is_some_and(|s| s.shards.len() == shards)
    });
    seeder.shutdown();
}

#[test]
fn a_stopped_seed_closes_its_peers() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "one", &[("x.bin", 100_000)]);
    let seeder = Seeder::start(common::config(&[&folder], 2)).unwrap();
    let meta = common::meta_of(&seeder, 0);
    let mut l =
        Leecher::connect(common::addr(&seeder), meta.info_hashes.wire_hash(), true).unwrap();
    l.interested().unwrap();
    let addr = common::addr(&seeder);
    seeder.shutdown();
    // The connection is closed: reading ends (EOF or reset), and nothing listens.
    let end = loop {
        match l.next(|_| ()) {
            Ok(()) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            end.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{end}"
    );
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn unknown_info_hash_is_closed_without_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "one", &[("x.bin", 50_000)]);
    let seeder = Seeder::start(common::config(&[&folder], 1)).unwrap();
    let err = Leecher::connect(common::addr(&seeder), [7u8; 20], true)
        .err()
        .unwrap();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    seeder.shutdown();
}

#[test]
fn damaged_and_missing_data_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "d", &[("a.bin", 200_000), ("b.bin", 200_000)]);
    // Make the torrent from good data, then damage it.
    let made = seedcore_runtime::torrents::make_torrent(&folder, 1).unwrap();
    let mut a = std::fs::read(folder.join("a.bin")).unwrap();
    a[5] ^= 0xFF;
    std::fs::write(folder.join("a.bin"), &a).unwrap();
    std::fs::remove_file(folder.join("b.bin")).unwrap();
    let seeder = Seeder::start(common::config(&[&made.torrent_path], 1)).unwrap();
    let meta = common::meta_of(&seeder, 0);
    let geo = Geometry::from_info(&meta.info);
    let t = &seeder.torrents()[0];
    assert!(!t.from_resume);
    // Piece 0 (damaged) and every piece touching b.bin are missing.
    let pl = u64::from(geo.piece_length());
    let first_b = (200_000 / pl) as usize;
    assert_eq!(t.pieces, first_b.saturating_sub(1));
    let mut l =
        Leecher::connect(common::addr(&seeder), meta.info_hashes.wire_hash(), true).unwrap();
    l.interested().unwrap();
    let bf = l
        .seen
        .bitfield
        .clone()
        .expect("a partial seed sends a bitfield");
    assert_eq!(bf[0] & 0x80, 0, "piece 0 is damaged");
    if first_b > 1 {
        assert_eq!(bf[0] & 0x40, 0x40, "piece 1 is good");
        download_and_check(&mut l, &meta, &[1]).unwrap();
    }
    // Asking for the damaged piece anyway: a Fast peer gets a reject.
    l.fetch(&geo, &[0], 4, |_, _, _| {
        panic!("a damaged piece was served")
    })
    .unwrap();
    assert!(!l.seen.rejects.is_empty());
    seeder.shutdown();
}

/// libtorrent pads the last file of a v2 torrent to a whole piece and asks
/// for whole blocks there: the bytes past the end of the data are zeros.
#[test]
fn v2_blocks_past_the_last_file_read_as_zeros() {
    use seedcore_protocol::wire::{BlockRequest, Message};
    use seedcore_storage::create::{self, CreateMode};

    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "v2", &[("a.bin", 40_000), ("z.bin", 5)]);
    let scanned = create::scan(&folder).unwrap();
    let hashed = create::hash(&scanned, 32_768, CreateMode::V2, 1, None).unwrap();
    let (bytes, meta) = hashed.builder().build_metainfo().unwrap();
    let torrent = dir.path().join("v2.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    let last = meta.info.piece_count - 1;
    for path in SendPath::ALL {
        let mut cfg = common::config(&[&torrent], 1);
        cfg.send_path = path;
        let seeder = Seeder::start(cfg).unwrap();
        assert_eq!(seeder.torrents()[0].pieces, meta.info.piece_count as usize);
        let mut l =
            Leecher::connect(common::addr(&seeder), meta.info_hashes.wire_hash(), true).unwrap();
        l.interested().unwrap();
        l.send(&Message::Request(BlockRequest {
            index: last,
            begin: 0,
            length: 16_384,
        }))
        .unwrap();
        let block = loop {
            let got = l
                .next(|m| match m {
                    Message::Piece {
                        index,
                        begin: 0,
                        data,
                    } if *index == last => Some(data.to_vec()),
                    _ => None,
                })
                .unwrap();
            if let Some(b) = got {
                break b;
            }
        };
        assert_eq!(block.len(), 16_384, "{path}");
        assert_eq!(
            &block[..5],
            &std::fs::read(folder.join("z.bin")).unwrap()[..],
            "{path}"
        );
        assert!(
            block[5..].iter().all(|b| *b == 0),
            "{path}: padding is zeros"
        );
        seeder.shutdown();
    }
}
