//! seedcore's DHT node with libtorrent 2.0.8 (`tests/py/lt_dht.py`), on
//! loopback only: every libtorrent session bootstraps from seedcore's node
//! and nothing else, and seedcore bootstraps from nobody (it learns the
//! sessions from their queries).
//!
//! - A small DHT converges: three libtorrent sessions and seedcore each
//!   end up with the others in their routing tables.
//! - A libtorrent leecher that knows only seedcore's DHT node (no tracker
//!   in the torrent, no `connect_peer`) finds seedcore with `get_peers` and
//!   downloads. seedcore stores its announces with the other nodes (here
//!   one helper session), as on the real DHT; a node's own store does not
//!   answer its own lookups, so the helper is what makes the DHT a DHT.
//!   seedcore dials nobody (`max_outgoing = 0`), so the download proves
//!   that libtorrent found it, and libtorrent's peer source flags say how.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use seedcore_tests::*;

/// Runs `lt_dht.py` on `spec` and returns its report (panicking with its
/// output and the seed's when it fails).
fn lt_dht(spec: &serde_json::Value, seed: &RunningSeed) -> serde_json::Value {
    require_libtorrent();
    let file = tempfile::Builder::new()
        .prefix("lt-dht-")
        .suffix(".json")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), spec.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join("lt_dht.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script).arg(file.path());
    let mut live = Live::spawn("libtorrent DHT sessions (lt_dht.py)", &mut cmd);
    let bound = Duration::from_secs(spec["timeout"].as_u64().unwrap() + 30);
    let status = live.wait_exit(bound);
    let report: Option<serde_json::Value> = live
        .stdout()
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok());
    match (status, report) {
        (Some(s), Some(r)) if s.success() && r["ok"] == serde_json::json!(true) => r,
        _ => panic!("lt_dht.py failed\n{live}\n{seed}"),
    }
}

/// The seed's latest `dht` status object with at least `nodes` nodes,
/// waited for (bounded).
fn seed_dht(seed: &RunningSeed, nodes: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = seed
            .json_statuses()
            .last()
            .map(|s| s["dht"].clone())
            .unwrap_or_default();
        if last["nodes"].as_u64().unwrap_or(0) >= nodes {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "the seed's DHT table should reach {nodes} nodes: {last}\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dht_addr(seed: &RunningSeed) -> SocketAddr {
    // The DHT port defaults to the TCP port.
    SocketAddr::new(seed.addr().ip(), seed.port())
}

#[test]
fn a_small_dht_of_libtorrent_sessions_and_seedcore_converges() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let (top, _) = make_tree(&dir.join("data"), "single", Shape::SingleFile, 301);
    let torrent = dir.join("single.torrent");
    seedcore_create(&top, &torrent, &[]);
    let seed = Seed::new(&torrent)
        .data(dir.join("data"))
        .dht(&[])
        .config("dht_announce_interval = \"2s\"")
        .json()
        .start(dir);
    let sessions: Vec<serde_json::Value> = (2..=4)
        .map(|i| serde_json::json!({"name": format!("lt-{i}"), "ip": format!("127.0.0.{i}")}))
        .collect();
    let spec = serde_json::json!({
        "bootstrap": [dht_addr(&seed).to_string()],
        "sessions": sessions,
        "timeout": 60,
        // Each libtorrent session knows seedcore and at least one other.
        "min_nodes": 2,
    });
    let report = lt_dht(&spec, &seed);
    for s in report["sessions"].as_array().unwrap() {
        assert!(s["dht_nodes"].as_u64().unwrap() >= 2, "{report}");
    }
    // seedcore's table has every libtorrent session.
    let d = seed_dht(&seed, 3);
    assert!(d["queries_answered"].as_u64().unwrap() > 0, "{d}");
    seed.stop();
}

#[test]
fn libtorrent_finds_seedcore_through_the_dht_and_downloads() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 302);
    let torrent = dir.join("nested.torrent");
    // No tracker in the torrent: the DHT is the only way to the seed.
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    assert!(info["trackers"].as_array().unwrap().is_empty(), "{info}");
    let seed = Seed::new(&torrent)
        .data(&data)
        .dht(&[])
        .config("dht_announce_interval = \"2s\"")
        .config("max_outgoing = 0")
        .json()
        .start(dir);
    let save = dir.join("leech");
    let spec = serde_json::json!({
        "bootstrap": [dht_addr(&seed).to_string()],
        "sessions": [{"name": "helper", "ip": "127.0.0.6"}],
        "leecher": {"name": "lt-dht", "ip": "127.0.0.7", "torrent": torrent, "save": save},
        "timeout": 90,
        "min_nodes": 1,
    });
    let report = lt_dht(&spec, &seed);
    let l = &report["leecher"];
    assert_eq!(l["hash_failures"], 0, "{report}");
    // libtorrent's DHT announces returned peers, and libtorrent dialled
    // the seed (seedcore dials nobody here, and the DHT was libtorrent's
    // only source of peers). When the sampled peer list caught the
    // connection, its source flag says DHT too.
    let port = u64::from(seed.port());
    assert!(l["dht_peers"].as_u64().unwrap() >= 1, "{report}");
    let dialled = l["connected_to"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["port"].as_u64() == Some(port));
    assert!(
        dialled,
        "libtorrent should have dialled the seed (port {port}): {report}\n{seed}"
    );
    for p in l["peers"].as_array().unwrap() {
        if p["port"].as_u64() == Some(port) {
            assert_eq!(p["dht"], true, "{report}");
            assert_eq!(p["incoming"], false, "{report}");
        }
    }
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    let d = seed_dht(&seed, 2);
    assert!(d["announces"].as_u64().unwrap() >= 1, "{d}");
    seed.stop();
}
