//! `/metrics` of a real node: the exposition passes `promtool check
//! metrics`, and a real Prometheus server scraping the node while a
//! libtorrent leecher downloads reads back the same figures the node
//! reports itself (`/api/v1/status`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use seedcore_tests::http::{get, get_with_token};
use seedcore_tests::prom::{promtool_check, Prometheus};
use seedcore_tests::*;

const TOKEN: &str = "metrics-test-token-0123456789";

#[test]
fn prometheus_scrapes_a_seeding_node_and_reads_back_its_figures() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_pseudo_random(&data.join("payload.bin"), 3 << 20, 77);
    let torrent = dir.join("payload.torrent");
    seedcore_create(
        &data.join("payload.bin"),
        &torrent,
        &["--piece-size", "64K"],
    );

    // A token, as a node reachable by a Prometheus elsewhere would have.
    let seed = Seed::new(&torrent).data(&data).api(Some(TOKEN)).start(dir);
    let api = seed.api();
    assert_eq!(get(api, "/metrics").status, 401, "no token, no metrics");
    let first = poll_metrics(api);
    promtool_check(&first).unwrap_or_else(|e| panic!("{e}\n--- exposition ---\n{first}"));

    let mut prom = Prometheus::start(&dir.join("prom"), api, Some(TOKEN));
    // Scraped before the download: the counter starts at 0.
    prom.wait_value("up{job=\"seedcore\"}", Duration::from_secs(30), |v| {
        v == 1.0
    });
    prom.wait_value(
        "seedcore_payload_bytes_sent_total",
        Duration::from_secs(30),
        |v| v == 0.0,
    );

    let save = dir.join("leech");
    LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "lt".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(60),
    )
    .finish(&|| seed.to_string());

    // The node's own figure, once it stopped moving (the download is over,
    // the next one-second snapshot has it all).
    let mut status = get_with_token(api, "/api/v1/status", TOKEN).json();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(300));
        let next = get_with_token(api, "/api/v1/status", TOKEN).json();
        let same = next["torrents"][0]["uploaded"] == status["torrents"][0]["uploaded"]
            && next["counters"]["blocks_served"] == status["counters"]["blocks_served"];
        status = next;
        if same && status["torrents"][0]["uploaded"].as_u64().unwrap() > 0 {
            break;
        }
    }
    let uploaded = json_u64(&status["torrents"][0], "uploaded");
    let blocks = json_u64(&status["counters"], "blocks_served");
    assert!(
        uploaded >= 3 << 20,
        "the node served the whole torrent: {status}"
    );

    // Prometheus reads back exactly those figures.
    let hash = json_str(&status["torrents"][0], "info_hash").to_string();
    let q = format!("seedcore_torrent_uploaded_bytes_total{{info_hash=\"{hash}\"}}");
    prom.wait_value(&q, Duration::from_secs(30), |v| v == uploaded as f64);
    prom.wait_value(
        "seedcore_payload_bytes_sent_total",
        Duration::from_secs(30),
        |v| v == uploaded as f64,
    );
    prom.wait_value(
        "seedcore_blocks_served_total",
        Duration::from_secs(30),
        |v| v == blocks as f64,
    );
    // It saw the counter move during the download (0 before, all after).
    let min = prom.value("min_over_time(seedcore_payload_bytes_sent_total[10m])");
    assert_eq!(min, Some(0.0), "{}", prom.live());
    let accepted = prom.value("seedcore_connections_accepted_total").unwrap();
    assert!(accepted >= 1.0, "the leecher's connection was counted");
    let shards = prom.query("seedcore_shard_peers");
    assert!(!shards.is_empty(), "per-shard series exist");

    // The final exposition is still valid with traffic in it.
    let last = String::from_utf8(get_with_token(api, "/metrics", TOKEN).body).unwrap();
    promtool_check(&last).unwrap_or_else(|e| panic!("{e}\n--- exposition ---\n{last}"));

    // The Grafana dashboard: every series it names is exported, and every
    // expression runs on this Prometheus and finds data.
    dashboard_matches(&prom, &last);
    drop(prom);
    seed.stop();
}

/// Every PromQL expression of `tuning/grafana/seedcore.json`: the
/// metric names it uses are families of `exposition`, and Prometheus
/// evaluates it (Grafana's variables set to "all") to a non-empty result.
fn dashboard_matches(prom: &Prometheus, exposition: &str) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tuning/grafana/seedcore.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let families: std::collections::BTreeSet<&str> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut exprs: Vec<String> = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_string())
        .collect();
    assert!(exprs.len() >= 20, "the dashboard has its panels");
    let template = dash["templating"]["list"][1]["query"]["query"]
        .as_str()
        .unwrap()
        .to_string();
    let names = |e: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = e;
        while let Some(at) = rest.find("seedcore_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            out.push(tail[..end].to_string());
            rest = &tail[end..];
        }
        out
    };
    for name in names(&template) {
        assert!(
            families.contains(name.as_str()),
            "the template names {name}, not exported"
        );
    }
    for e in &mut exprs {
        let used = names(e);
        assert!(!used.is_empty(), "{e} names no seedcore series");
        for name in used {
            assert!(
                families.contains(name.as_str()),
                "the dashboard's {e} names {name}, which the node does not export"
            );
        }
        let q = e
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m");
        let result = prom.query(&q);
        assert!(
            !result.is_empty(),
            "{q} finds nothing on a node that served a download"
        );
    }
}

/// The first exposition (the node has a status after its first second).
fn poll_metrics(api: std::net::SocketAddr) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = get_with_token(api, "/metrics", TOKEN);
        if r.status == 200 {
            return r.text();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no metrics: {}",
            r.text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
