//! A slow or dead tracker, or a DHT storm, never stalls a shard: the seed
//! announces to an HTTP tracker that accepts and never answers and to a
//! UDP tracker that never answers, while its DHT port is flooded with
//! junk and queries; meanwhile a leecher downloads every piece from the
//! shards and checks it. The only time bound is the test's own failure
//! timeout for the download.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;
mod control_support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::leecher::{download_and_check, Leecher};
use control_support::{eventually, Flood, TcpBlackHole};
use seedcore_runtime::Seeder;

#[test]
fn dead_trackers_and_a_dht_flood_do_not_stall_serving() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::sample_folder(dir.path());
    let hung_http = TcpBlackHole::start();
    let silent_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_dht = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = common::config(&[&folder], 1);
    cfg.trackers = vec![
        format!("http://{}/announce", hung_http.addr),
        format!("udp://{}", silent_udp.local_addr().unwrap()),
    ];
    cfg.announce_to_all_tiers = true;
    cfg.dht = true;
    cfg.dht_bootstrap = vec![silent_dht.local_addr().unwrap().to_string()];
    cfg.resume_dir = Some(dir.path().join("resume"));
    let seeder = Seeder::start(cfg).unwrap();
    let dht_port = seeder.port();
    let flood = Flood::start(SocketAddr::from(([127, 0, 0, 1], dht_port)));
    eventually(
        "the hung tracker took our announce",
        Duration::from_secs(20),
        || hung_http.accepted() >= 1,
    );

    let meta = common::meta_of(&seeder, 0);
    let all: Vec<u32> = (0..meta.info.piece_count).collect();
    for fast in [true, false] {
        let mut l =
            Leecher::connect(common::addr(&seeder), meta.info_hashes.wire_hash(), fast).unwrap();
        l.interested().unwrap();
        let n = download_and_check(&mut l, &meta, &all).unwrap();
        assert_eq!(n, meta.info.total_length);
    }
    assert!(flood.sent() > 1000, "the flood ran: {}", flood.sent());
    eventually(
        "the status shows the storm and the serving",
        Duration::from_secs(10),
        || {
            seeder.status().is_some_and(|s| {
                let d = s.dht.clone().unwrap_or_default();
                s.torrents[0].uploaded >= 2 * meta.info.total_length
                    && d.rate_limited + d.malformed > 100
            })
        },
    );
    let s = seeder.status().unwrap();
    assert!(
        s.torrents[0].trackers.iter().all(|t| !t.ok),
        "neither tracker ever answered: {:?}",
        s.torrents[0].trackers
    );
    drop(flood);
    // Stopping sends `stopped` to the hung tracker too and waits for it
    // only briefly: this returns.
    seeder.shutdown();
}
