//! Magnet links against the engine: an info-hash and a peer address are
//! all a client needs; the metadata (BEP 9 `ut_metadata`) and then the data
//! come from `seedcore seed`.
//!
//! - libtorrent is given `magnet:?xt=urn:btih:<v1>&x.pe=127.0.0.1:<port>`
//!   and dials the seed. The seed is started on the data *folder*, so this
//!   also covers "seed a folder: the torrent is written beside it".
//! - aria2c is given the bare `xt`; it cannot be handed an address, so the
//!   seed dials it (`--peer`). aria2 hangs up once it has the metadata and
//!   starts the download proper: the seed's redial reconnects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use seedcore_tests::*;

#[test]
fn libtorrent_fetches_metadata_then_data_from_a_magnet_link() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 301);
    let seed = Seed::new(&top).start(dir);
    // Seeding a folder writes `<name>.torrent` beside it.
    let torrent = data.join("nested.torrent");
    assert!(
        torrent.is_file(),
        "seeding a folder should write {}\n{seed}",
        torrent.display()
    );
    let info = seedcore_info(&torrent);
    let v1 = json_opt_hex(&info, "info_hash_v1").expect("a folder is seeded as a v1 torrent");
    let magnet = format!("magnet:?xt=urn:btih:{v1}&x.pe={}", seed.addr());

    let save = dir.join("leech");
    let job = LtJob {
        name: "lt-magnet".into(),
        source: LtSource::Magnet(magnet),
        save: save.clone(),
    };
    let report = LtLeech::start(&[], &[job], Duration::from_secs(45)).finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["v1"].as_str(), Some(v1.as_str()), "{report}");
    assert_eq!(r["num_pieces"], info["piece_count"], "{report}");
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    seed.stop();
}

#[test]
fn aria2_fetches_metadata_then_data_from_a_magnet_link() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 302);
    let torrent = data.join("nested.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    let v1 = json_opt_hex(&info, "info_hash_v1").expect("v1 torrent");

    let magnet = format!("magnet:?xt=urn:btih:{v1}");
    let mut client = Listener::aria2(&dir.join("aria2"), loopback(4), &magnet);
    let seed = Seed::new(&torrent).peer(client.addr).start(dir);
    client.wait_done(Duration::from_secs(50), &|| seed.to_string());
    assert_same_files(&top, &client.save.join("nested"), &files, false);
    assert_verifies(&torrent, &client.save);
    seed.stop();
}
