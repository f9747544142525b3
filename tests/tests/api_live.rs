//! The live node through its HTTP API and `seedcore ctl`, against the real
//! binary: torrents added (a `.torrent` uploaded, a folder made into a
//! torrent on the node), served to libtorrent, paused, resumed, re-checked
//! and removed, while a libtorrent leecher of another torrent keeps
//! downloading on the one connection it started with.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use seedcore_tests::http::get;
use seedcore_tests::*;

const WAIT: Duration = Duration::from_secs(60);

/// `seedcore ctl --url API ARGS...`.
fn ctl(api: SocketAddr, args: &[&str]) -> RunOutput {
    seedcore()
        .arg("ctl")
        .arg("--url")
        .arg(format!("http://{api}"))
        .args(args)
        .timeout(Duration::from_secs(60))
        .run()
}

/// `seedcore ctl --json ...`, required to succeed; its JSON.
#[track_caller]
fn ctl_json(api: SocketAddr, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = ctl(api, &all);
    out.expect_code(0).expect_no_panic();
    out.json()
}

/// The torrent listed under `key`, if any.
fn listed(api: SocketAddr, key: &str) -> Option<Value> {
    ctl_json(api, &["ls"])
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .cloned()
}

/// Waits until the torrent `key` is in `state`.
#[track_caller]
fn wait_state(api: SocketAddr, key: &str, state: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let t = listed(api, key);
        if t.as_ref().is_some_and(|t| t["state"] == state) {
            return t.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{key} never reached {state}: {t:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn job(name: &str, torrent: &Path, save: &Path) -> LtJob {
    LtJob {
        name: name.into(),
        source: LtSource::Torrent(torrent.to_path_buf()),
        save: save.to_path_buf(),
    }
}

#[test]
fn add_pause_resume_recheck_remove_through_the_api_while_another_download_keeps_its_connection() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    // The long download: 4 MiB held to 64 KiB/s by its own limit until
    // the changes are done, so it overlaps them however fast they go.
    write_pseudo_random(&data.join("long.bin"), 4 << 20, 31);
    let long_torrent = dir.join("long.torrent");
    let long_info = seedcore_create(&data.join("long.bin"), &long_torrent, &[]);
    let long_key = json_str(&long_info, "info_hash_v1").to_string();
    // Uploaded as a .torrent later, data in `data/up`.
    let (up_top, up_files) = make_tree(&data.join("up"), "uploaded", Shape::Nested, 32);
    let up_torrent = dir.join("uploaded.torrent");
    let up_info = seedcore_create(&up_top, &up_torrent, &[]);
    let up_key = json_str(&up_info, "info_hash_v1").to_string();
    // Made into a torrent on the node.
    let (made_top, _) = make_tree(&data.join("made"), "made-here", Shape::Flat, 33);

    let seed = Seed::new(&long_torrent)
        .data(&data)
        .arg("--state-dir")
        .arg(dir.join("state").to_str().unwrap())
        .api(None)
        .start(dir);
    let api = seed.api();

    // A torrent's own limit, set through ctl before its leecher comes.
    let t = ctl_json(
        api,
        &[
            "limits",
            "--torrent",
            &long_key[..8],
            "--upload-rate",
            "64K",
        ],
    );
    assert_eq!(t["upload_limit"], 64 * 1024, "{t}");
    let long_leech = LtLeech::start(
        &[seed.addr()],
        &[job("long", &long_torrent, &dir.join("leech-long"))],
        Duration::from_secs(120),
    );
    let deadline = Instant::now() + WAIT;
    while listed(api, &long_key).unwrap()["peers"] != 1 {
        assert!(
            Instant::now() < deadline,
            "the long leecher never connected\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its peer, as the API lists it.
    let peers = ctl_json(api, &["peers", &long_key]);
    let p = &peers.as_array().unwrap()[0];
    assert!(
        p["client"].as_str().unwrap_or("").contains("libtorrent") || p["client"].is_null(),
        "{p}"
    );
    assert_eq!(p["interested"], true, "{p}");

    // Upload a .torrent (multipart) with its data folder on the node.
    let up_data = data.join("up");
    let added = ctl_json(
        api,
        &[
            "add",
            up_torrent.to_str().unwrap(),
            "--data",
            up_data.to_str().unwrap(),
        ],
    );
    assert_eq!(added["key"], up_key.as_str(), "{added}");
    wait_state(api, &up_key, "seeding");
    // Served: a second libtorrent downloads it whole.
    let report = LtLeech::start(
        &[seed.addr()],
        &[job("uploaded", &up_torrent, &dir.join("leech-up"))],
        Duration::from_secs(60),
    )
    .finish(&|| seed.to_string());
    assert_eq!(report["leechers"][0]["hash_failures"], 0, "{report}");
    assert_same_files(
        &up_top,
        &dir.join("leech-up").join("uploaded"),
        &up_files,
        false,
    );

    // A folder on the node, made into a torrent there (JSON path).
    let made = ctl_json(api, &["add", made_top.to_str().unwrap()]);
    let made_key = made["key"].as_str().unwrap().to_string();
    wait_state(api, &made_key, "seeding");
    assert!(made_top.with_extension("torrent").is_file() || made["torrent_path"].is_string());

    // Pause, resume, re-check, remove; by prefix and by name.
    let paused = ctl_json(api, &["pause", &up_key[..10]]);
    assert_eq!(paused["state"], "paused", "{paused}");
    let human = ctl(api, &["ls"]);
    human.expect_code(0);
    assert!(
        human.stdout.contains("paused") && human.stdout.contains("uploaded"),
        "{human}"
    );
    let resumed = ctl_json(api, &["resume", "uploaded"]);
    assert_ne!(resumed["state"], "paused", "{resumed}");
    wait_state(api, &up_key, "seeding");
    ctl_json(api, &["recheck", &made_key]);
    wait_state(api, &made_key, "seeding");
    let removed = ctl_json(api, &["rm", &up_key, &made_key]);
    assert_eq!(removed.as_array().map(Vec::len), Some(2), "{removed}");
    assert!(listed(api, &up_key).is_none() && listed(api, &made_key).is_none());
    let gone = ctl(api, &["pause", &up_key]);
    assert_eq!(gone.code, Some(2), "{gone}");
    assert!(gone.stderr.contains("404"), "{gone}");

    // All this time the long download went on, on its one connection;
    // lifting its limit lets it finish.
    let left = listed(api, &long_key).unwrap();
    assert!(
        left["uploaded"].as_u64().unwrap() < 4 << 20,
        "still downloading: {left}"
    );
    let t = ctl_json(
        api,
        &["limits", "--torrent", &long_key, "--upload-rate", "0"],
    );
    assert_eq!(t["upload_limit"], 0, "{t}");
    let report = long_leech.finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_eq!(
        r["connects"], 1,
        "libtorrent never had to reconnect\n{report}"
    );

    // The status page's data and ctl status agree with the node.
    let status = ctl(api, &["status"]);
    status.expect_code(0);
    assert!(status.stdout.contains("shard"), "{status}");
    assert_eq!(
        get(api, "/api/v1/torrents").json().as_array().map(Vec::len),
        Some(1)
    );
    seed.stop();

    // The node gone, ctl says so plainly.
    let down = ctl(api, &["ls"]);
    assert_eq!(down.code, Some(2), "{down}");
    assert!(
        down.stderr.contains("cannot reach the seedcore node"),
        "{down}"
    );
}
