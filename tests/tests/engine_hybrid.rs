//! BitTorrent v2 through the engine (BEP 52).
//!
//! A hybrid torrent made by libtorrent is fetched by libtorrent from a
//! v2-only magnet link (`xt=urn:btmh:1220<v2>`): libtorrent knows nothing
//! but the v2 info-hash, so its handshake carries the truncated v2 hash and
//! the seed must find the torrent by it, hand over the metadata, and serve
//! the data; libtorrent then checks the blocks against the v2 merkle trees
//! (and the v1 piece hashes the hybrid metadata also carries).
//!
//! A pure v2 torrent (pad-free, piece-aligned files) is downloaded from its
//! `.torrent` too: its pieces follow each file's end, not a single stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use seedcore_tests::*;

#[test]
fn hybrid_torrent_downloads_into_libtorrent_as_v2() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 401);
    let torrent = data.join("nested.torrent");
    let made = lt_create(LtMode::Hybrid, 32_768, &torrent, &top);
    let v1 = made["v1"]
        .as_str()
        .expect("hybrid has a v1 hash")
        .to_string();
    let v2 = made["v2"]
        .as_str()
        .expect("hybrid has a v2 hash")
        .to_string();

    let seed = Seed::new(&torrent).start(dir);
    let magnet = format!("magnet:?xt=urn:btmh:1220{v2}&x.pe={}", seed.addr());
    let parsed = lt_magnet(&magnet);
    assert_eq!(
        parsed["v1"],
        serde_json::Value::Null,
        "v2-only magnet: {parsed}"
    );

    let save = dir.join("leech");
    let job = LtJob {
        name: "lt-v2".into(),
        source: LtSource::Magnet(magnet),
        save: save.clone(),
    };
    let report = LtLeech::start(&[], &[job], Duration::from_secs(45)).finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    // Found by its v2 hash, the metadata turned out to be the hybrid one.
    assert_eq!(r["v2"].as_str(), Some(v2.as_str()), "{report}");
    assert_eq!(r["v1"].as_str(), Some(v1.as_str()), "{report}");
    assert_eq!(r["num_pieces"], made["num_pieces"], "{report}");
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    seed.stop();
}

#[test]
fn pure_v2_torrent_downloads_into_libtorrent() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 402);
    let torrent = data.join("nested.torrent");
    let made = lt_create(LtMode::V2, 32_768, &torrent, &top);
    let v2 = made["v2"].as_str().expect("v2 hash").to_string();

    let seed = Seed::new(&torrent).start(dir);
    let save = dir.join("leech");
    let job = LtJob {
        name: "lt-pure-v2".into(),
        source: LtSource::Torrent(torrent.clone()),
        save: save.clone(),
    };
    let report = LtLeech::start(&[seed.addr()], &[job], Duration::from_secs(45))
        .finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["v2"].as_str(), Some(v2.as_str()), "{report}");
    assert_eq!(r["v1"], serde_json::Value::Null, "{report}");
    assert_eq!(r["recheck_pieces"], made["num_pieces"], "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    seed.stop();
}
