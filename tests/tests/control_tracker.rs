//! seedcore announcing to a real tracker: Debian's opentracker on
//! 127.0.0.1, once over HTTP and once over UDP (BEP 15). A libtorrent
//! leecher that knows only the tracker (the `.torrent`'s announce URL; no
//! `connect_peer`, no DHT) gets seedcore's address from it and downloads.
//!
//! opentracker serves only whitelisted hashes (`-w`, hex, one a line); as
//! root it chroots into `-d` and then drops to `nobody`, so the whitelist
//! path is relative to that folder and both must be readable by `nobody`.
//! seedcore dials nobody here (`max_outgoing = 0`): the leecher must find
//! the seed through the tracker. The leecher starts only once the seed's
//! status says its announce succeeded, because opentracker's interval is
//! about half an hour: a leecher announcing first would wait that long
//! for a second list. Before the leecher starts, the seed must also have
//! scraped the tracker (BEP 48 over HTTP, BEP 15 over UDP) and show itself
//! among the seeders in its status.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use seedcore_tests::opentracker::{opentracker, wait_announced};
use seedcore_tests::*;

/// Waits until the seed's `--json` status shows a scrape of its tracker
/// counting at least one seeder (the seed itself).
fn wait_scraped(seed: &RunningSeed, tracker: &Live) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = seed.json_statuses().last().is_some_and(|s| {
            let c = &s["torrents"][0]["trackers"][0]["scrape"];
            c["complete"].as_u64().is_some_and(|n| n >= 1)
                && c["scraped_at"].as_u64().is_some_and(|t| t > 0)
        });
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the seed should scrape its tracker\n{seed}\n{tracker}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(udp: bool) {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, if udp { 402 } else { 401 });
    // The hash does not depend on the tracker: make the torrent once to
    // learn it, start the tracker, then make it with the tracker's URL.
    let probe = seedcore_create(&top, &dir.join("probe.torrent"), &["--piece-size", "32768"]);
    let hash = json_str(&probe, "info_hash_v1").to_string();
    let (tracker, http_port, udp_port) = opentracker(dir, &hash);
    let url = if udp {
        format!("udp://127.0.0.1:{udp_port}/announce")
    } else {
        format!("http://127.0.0.1:{http_port}/announce")
    };
    let torrent = dir.join("nested.torrent");
    let info = seedcore_create(
        &top,
        &torrent,
        &["--piece-size", "32768", "--tracker", &url],
    );
    assert_eq!(json_str(&info, "info_hash_v1"), hash);

    let seed = Seed::new(&torrent)
        .data(&data)
        .config("max_outgoing = 0")
        .config("scrape_interval = \"1s\"")
        .json()
        .start(dir);
    wait_announced(&seed, &tracker);
    wait_scraped(&seed, &tracker);
    let save = dir.join("leech");
    let report = LtLeech::start(
        &[],
        &[LtJob {
            name: if udp { "lt-udp" } else { "lt-http" }.into(),
            source: LtSource::Torrent(torrent.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(60),
    )
    .finish(&|| format!("{seed}\n{tracker}"));
    let r = &report["leechers"][0];
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    let err = seed.stop();
    assert!(
        err.contains("sent `stopped` to 1 trackers"),
        "the seed should tell the tracker it left\n{err}"
    );
    drop(tracker);
}

#[test]
fn libtorrent_finds_seedcore_through_opentracker_over_http() {
    run(false);
}

#[test]
fn libtorrent_finds_seedcore_through_opentracker_over_udp() {
    run(true);
}
