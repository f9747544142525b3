//! The engine dialling leechers: transmission-cli 3.00 and aria2c download
//! from `seedcore seed --peer ADDR`.
//!
//! Neither client can be handed a peer address, and transmission drops
//! loopback peers it learns from a tracker, so the seed connects to them:
//! each listens on its own loopback address (`127.0.0.x`) and the seed's
//! `--peer` dialler reaches it. That also exercises the seed sending the
//! first handshake, which a seed that only accepts never does.
//!
//! transmission runs its choke/interest logic on a 10 s timer, so its
//! first byte comes 10-11 s after connecting: the bound is 60 s. It does
//! not create zero-length files; the comparison allows exactly that.
//!
//! The tree is a few MiB (the nested tree's edge cases plus a 3 MiB file),
//! so the clients' request pipelines run against the seed's `reqq` for
//! many rounds, and every byte is compared with the source.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use seedcore_tests::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    data: PathBuf,
    top: PathBuf,
    files: Vec<TreeFile>,
    torrent: PathBuf,
}

/// A nested tree under `data/` with a 3 MiB file added (about 5 MiB in
/// all), its v1 torrent (made by seedcore) under `torrents/`.
fn fixture(seed: u64) -> Fixture {
    let tmp = temp_dir();
    let dir = tmp.path().to_path_buf();
    let data = dir.join("data");
    let (top, mut files) = make_tree(&data, "nested", Shape::Nested, seed);
    let big = 3 * 1024 * 1024 + 999;
    write_pseudo_random(&top.join("big/payload.bin"), big, seed + 1000);
    files.push(TreeFile {
        rel: "big/payload.bin".into(),
        len: big,
    });
    std::fs::create_dir_all(dir.join("torrents")).unwrap();
    let torrent = dir.join("torrents").join("nested.torrent");
    seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    Fixture {
        _tmp: tmp,
        dir,
        data,
        top,
        files,
        torrent,
    }
}

#[test]
fn transmission_downloads_when_seedcore_dials_it() {
    let f = fixture(202);
    let mut client = Listener::transmission(&f.dir.join("transmission"), loopback(2), &f.torrent);
    let seed = Seed::new(&f.torrent)
        .data(&f.data)
        .peer(client.addr)
        .start(&f.dir);
    client.wait_done(Duration::from_secs(60), &|| seed.to_string());
    // transmission does not create zero-length files.
    assert_same_files(&f.top, &client.save.join("nested"), &f.files, true);
    assert_verifies(&f.torrent, &client.save);
    seed.stop();
}

#[test]
fn aria2_downloads_when_seedcore_dials_it() {
    let f = fixture(203);
    let source = f.torrent.to_str().unwrap().to_string();
    let mut client = Listener::aria2(&f.dir.join("aria2"), loopback(3), &source);
    let seed = Seed::new(&f.torrent)
        .data(&f.data)
        .peer(client.addr)
        .start(&f.dir);
    client.wait_done(Duration::from_secs(45), &|| seed.to_string());
    assert_same_files(&f.top, &client.save.join("nested"), &f.files, false);
    assert_verifies(&f.torrent, &client.save);
    seed.stop();
}
