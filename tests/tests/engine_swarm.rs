//! Many peers at once: 20 libtorrent leechers (20 sessions, each its own
//! peer id and socket) on 4 torrents, against a seed running more shards
//! than the machine has cores.
//!
//! More shards than cores means shards share cores (shard `i` is pinned to
//! core `i % cores`), and connections of one torrent land on different
//! shards: every shard must serve every torrent, and counters and piece
//! maps must not get mixed up between them. The torrents differ in shape
//! (nested, flat, single file) and version (v1 and hybrid), and their
//! `.torrent` files sit beside their data, which is how a seed without
//! `--data` finds it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use seedcore_tests::*;

/// Leechers per torrent.
const PER_TORRENT: usize = 5;

#[test]
fn twenty_leechers_on_four_torrents_with_more_shards_than_cores() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let shapes = [
        ("nested-a", Shape::Nested, "--v1"),
        ("flat", Shape::Flat, "--v1"),
        ("single.bin", Shape::SingleFile, "--v1"),
        ("nested-h", Shape::Nested, "--hybrid"),
    ];
    let mut torrents = Vec::new();
    for (i, (name, shape, mode)) in (0u64..).zip(shapes) {
        let (top, files) = make_tree(&data, name, shape, 500 + i);
        let torrent = data.join(format!("{name}.torrent"));
        let info = seedcore_create(&top, &torrent, &[mode, "--piece-size", "32768"]);
        torrents.push((name, shape, top, files, torrent, info));
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let shards = cores + 3;

    // All 20 leechers connect from 127.0.0.1: lift the one-per-address
    // limit (libtorrent's default, and ours).
    let mut builder = Seed::new(&torrents[0].4)
        .shards(shards)
        .config("max_peers_per_ip = 0");
    for t in &torrents[1..] {
        builder = builder.path(&t.4);
    }
    let mut seed = builder.start(dir);

    let mut jobs = Vec::new();
    for (t, (name, ..)) in torrents.iter().enumerate() {
        for n in 0..PER_TORRENT {
            jobs.push(LtJob {
                name: format!("{name}-{n}"),
                source: LtSource::Torrent(torrents[t].4.clone()),
                save: dir.join("leech").join(format!("{t}-{n}")),
            });
        }
    }
    let report =
        LtLeech::start(&[seed.addr()], &jobs, Duration::from_secs(60)).finish(&|| seed.to_string());
    seed.assert_alive();

    let leechers = report["leechers"].as_array().unwrap();
    assert_eq!(leechers.len(), PER_TORRENT * torrents.len(), "{report}");
    for (i, (job, r)) in jobs.iter().zip(leechers).enumerate() {
        let (name, shape, top, files, torrent, info) = &torrents[i / PER_TORRENT];
        assert_eq!(
            r["num_pieces"], info["piece_count"],
            "{}: {report}",
            job.name
        );
        assert_eq!(r["hash_failures"], 0, "{}: {report}", job.name);
        let copy = match shape {
            Shape::SingleFile => job.save.clone(),
            _ => job.save.join(name),
        };
        let src = match shape {
            Shape::SingleFile => data.clone(),
            _ => top.clone(),
        };
        assert_same_files(&src, &copy, files, false);
        assert_verifies(torrent, &job.save);
    }
    seed.stop();
}
