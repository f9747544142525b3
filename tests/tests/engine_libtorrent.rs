//! The engine serving libtorrent: the reference client dials `seedcore seed`
//! on loopback (127.0.0.1 and ::1 at once) and downloads a torrent made by
//! libtorrent itself.
//!
//! The tree has the shapes seeding gets wrong: nested folders, a
//! zero-length file (no bytes, but it shifts nothing), files smaller than a
//! block, and pieces that straddle file ends. libtorrent checks every piece
//! against its SHA-1 as it arrives and once more from disk after the
//! download; the test then compares the files byte for byte and runs
//! `seedcore verify` on the copy.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use seedcore_tests::*;

#[test]
fn libtorrent_downloads_nested_multi_file_torrent() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 101);
    // The .torrent lives apart from the data: the seed finds it with --data.
    std::fs::create_dir_all(dir.join("torrents")).unwrap();
    let torrent = dir.join("torrents").join("nested.torrent");
    let made = lt_create(LtMode::V1, 32_768, &torrent, &top);
    let info = seedcore_info(&torrent);
    let total = json_u64(&info, "total_length");

    let seed = Seed::new(&torrent).data(&data).ipv6().json().start(dir);
    // One leecher over IPv4, one over IPv6, at the same time.
    let save = dir.join("leech");
    let save6 = dir.join("leech6");
    let job = |name: &str, save: &std::path::Path| LtJob {
        name: name.into(),
        source: LtSource::Torrent(torrent.clone()),
        save: save.to_path_buf(),
    };
    let v6 = LtLeech::start(
        &[seed.addr_v6().unwrap()],
        &[job("lt-ipv6", &save6)],
        Duration::from_secs(45),
    );
    let report = LtLeech::start(&[seed.addr()], &[job("lt", &save)], Duration::from_secs(45))
        .finish(&|| seed.to_string());
    let report6 = v6.finish(&|| seed.to_string());

    for report in [&report, &report6] {
        let r = &report["leechers"][0];
        assert_eq!(r["num_pieces"], made["num_pieces"], "{report}");
        assert_eq!(r["recheck_pieces"], made["num_pieces"], "{report}");
        assert_eq!(r["hash_failures"], 0, "{report}");
        assert_eq!(r["v1"], made["v1"], "{report}");
    }
    assert_same_files(&top, &save6.join("nested"), &files, false);
    assert_verifies(&torrent, &save6);
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);

    // The seed counted what it served: its --json status shows at least
    // the whole torrent uploaded twice (status lines come every second).
    let deadline = Instant::now() + Duration::from_secs(10);
    let uploaded = |seed: &RunningSeed| {
        seed.json_statuses()
            .iter()
            .filter_map(|s| s["torrents"][0]["uploaded"].as_u64())
            .max()
            .unwrap_or(0)
    };
    while uploaded(&seed) < 2 * total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        uploaded(&seed) >= 2 * total,
        "the --json status should count the 2 x {total} bytes served\n{seed}"
    );
    seed.stop();
}
