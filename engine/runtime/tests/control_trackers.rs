//! The control core and trackers: an in-process seed announces to a
//! loopback HTTP tracker and a loopback UDP tracker (BEP 15), dials the
//! peers they return, reports them in its status, and sends `stopped` to
//! both when it shuts down; it scrapes both, several torrents a request,
//! and shows the counts in its JSON status.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;
mod control_support;

use std::time::Duration;

use control_support::{
    eventually, query_hashes, Dialled, HttpTracker, UdpTracker, HTTP_SCRAPE, UDP_SCRAPE,
};
use seedcore_runtime::Seeder;
use seedcore_runtime::Span;

#[test]
fn announces_over_http_and_udp_dials_their_peers_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "small", &[("a.bin", 300_000)]);
    // Each tracker names a different waiting peer (and the seed itself,
    // which must not be dialled: its own port is filled in below).
    let via_http = Dialled::start();
    let via_udp = Dialled::start();
    let http = HttpTracker::start(vec![via_http.addr]);
    let udp = UdpTracker::start(vec![via_udp.addr]);
    let mut cfg = common::config(&[&folder], 1);
    cfg.trackers = vec![http.url(), udp.url()];
    // Both tiers (each --tracker is its own), so both trackers hear us.
    cfg.announce_to_all_tiers = true;
    let seeder = Seeder::start(cfg).unwrap();
    let meta = common::meta_of(&seeder, 0);
    let hash = meta.info_hashes.wire_hash();

    eventually("both peers dialled", Duration::from_secs(20), || {
        !via_http.handshakes().is_empty() && !via_udp.handshakes().is_empty()
    });
    for hs in via_http.handshakes().iter().chain(&via_udp.handshakes()) {
        assert_eq!(hs.info_hash, hash);
        assert_eq!(&hs.peer_id[..8], b"-SC0100-");
    }
    // The HTTP announce: started, our port, nothing left.
    let first = http.requests()[0].clone();
    assert!(first.starts_with("/announce?"), "{first}");
    for part in [
        "event=started".to_string(),
        format!("port={}", seeder.port()),
        "left=0".into(),
        "compact=1".into(),
    ] {
        assert!(first.contains(&part), "{part} in {first}");
    }
    let u = &udp.announces()[0];
    assert_eq!((u.info_hash, u.event, u.left), (hash, 2, 0), "started");
    assert_eq!(u.port, seeder.port());

    eventually(
        "the status shows both trackers",
        Duration::from_secs(10),
        || {
            seeder.status().is_some_and(|s| {
                let t = &s.torrents[0];
                t.trackers.len() == 2 && t.trackers.iter().all(|t| t.ok) && t.tracker_peers >= 2
            })
        },
    );
    let s = seeder.status().unwrap();
    assert!(s.outgoing.from_trackers >= 2, "{:?}", s.outgoing);
    assert!(s.dht.is_none(), "the DHT is off");

    seeder.shutdown();
    let stopped = http.requests();
    assert!(
        stopped.iter().any(|r| r.contains("event=stopped")),
        "{stopped:?}"
    );
    assert!(
        udp.announces().iter().any(|a| a.event == 3),
        "UDP stopped: {:?}",
        udp.announces()
    );
}

#[test]
fn private_torrents_ignore_extra_trackers() {
    let dir = tempfile::tempdir().unwrap();
    let data = common::make_folder(dir.path(), "p", &[("a.bin", 70_000)]);
    // A private torrent made with the protocol's builder, announcing to
    // `own`; the seed is also given `extra`, which it must not use.
    let own = HttpTracker::start(Vec::new());
    let extra = HttpTracker::start(Vec::new());
    let torrent = dir.path().join("p.torrent");
    let scanned = seedcore_storage::create::scan(&data).unwrap();
    let hashed = seedcore_storage::create::hash(
        &scanned,
        32_768,
        seedcore_storage::create::CreateMode::V1,
        1,
        None,
    )
    .unwrap();
    let (bytes, _) = hashed
        .builder()
        .private(true)
        .tracker(own.url())
        .build_metainfo()
        .unwrap();
    std::fs::write(&torrent, bytes).unwrap();
    let mut cfg = common::config(&[&torrent], 1);
    cfg.torrents[0].data = Some(dir.path().to_path_buf());
    cfg.trackers = vec![extra.url()];
    cfg.announce_to_all_tiers = true;
    let seeder = Seeder::start(cfg).unwrap();
    eventually(
        "the private tracker heard us",
        Duration::from_secs(20),
        || !own.requests().is_empty(),
    );
    let s = seeder.status();
    seeder.shutdown();
    assert!(extra.requests().is_empty(), "{:?}", extra.requests());
    if let Some(s) = s {
        assert!(s.torrents[0].trackers.iter().all(|t| t.url == own.url()));
    }
}

#[test]
fn scrapes_http_and_udp_trackers_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::make_folder(dir.path(), "a", &[("a.bin", 40_000)]);
    let b = common::make_folder(dir.path(), "b", &[("b.bin", 50_000)]);
    let http = HttpTracker::start(Vec::new());
    let udp = UdpTracker::start(Vec::new());
    let mut cfg = common::config(&[&a, &b], 1);
    cfg.trackers = vec![http.url(), udp.url()];
    cfg.announce_to_all_tiers = true;
    cfg.scrape_interval = Span(Duration::from_millis(300));
    let seeder = Seeder::start(cfg).unwrap();
    let hashes: Vec<[u8; 20]> = (0..2)
        .map(|i| common::meta_of(&seeder, i).info_hashes.wire_hash())
        .collect();

    let counts = |s: &serde_json::Value, url: &str| -> Option<(u64, u64, u64)> {
        let t = s["trackers"].as_array()?.iter().find(|t| t["url"] == url)?;
        let c = &t["scrape"];
        assert!(c["scraped_at"].as_u64()? > 0, "{c}");
        Some((
            c["complete"].as_u64()?,
            c["downloaded"].as_u64()?,
            c["incomplete"].as_u64()?,
        ))
    };
    let expect = |c: (u32, u32, u32)| Some((u64::from(c.0), u64::from(c.1), u64::from(c.2)));
    eventually(
        "both torrents' scrape counts in the JSON status",
        Duration::from_secs(20),
        || {
            seeder.status().is_some_and(|s| {
                let json = serde_json::to_value(&s).unwrap();
                json["torrents"].as_array().unwrap().iter().all(|t| {
                    counts(t, &http.url()) == expect(HTTP_SCRAPE)
                        && counts(t, &udp.url()) == expect(UDP_SCRAPE)
                })
            })
        },
    );
    assert!(
        seeder.status().unwrap().line().contains("swarm"),
        "{}",
        seeder.status().unwrap().line()
    );
    seeder.shutdown();

    // Every scrape asks about our torrents only; once both had announced,
    // one request carried both (HTTP: `info_hash` repeated).
    let mut want: Vec<Vec<u8>> = hashes.iter().map(|h| h.to_vec()).collect();
    want.sort();
    let scrapes: Vec<Vec<Vec<u8>>> = http
        .requests()
        .iter()
        .filter(|r| r.starts_with("/scrape?"))
        .map(|r| {
            let mut h = query_hashes(r);
            h.sort();
            h
        })
        .collect();
    assert!(
        scrapes.iter().flatten().all(|h| want.contains(h)),
        "{scrapes:?}"
    );
    assert!(scrapes.contains(&want), "{scrapes:?}");
    let udp_scrapes: Vec<Vec<Vec<u8>>> = udp
        .scrapes()
        .iter()
        .map(|s| {
            let mut h: Vec<Vec<u8>> = s.iter().map(|h| h.to_vec()).collect();
            h.sort();
            h
        })
        .collect();
    assert!(udp_scrapes.contains(&want), "{udp_scrapes:?}");
}
