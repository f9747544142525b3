//! A slow or dead tracker, or a DHT storm, never stalls a shard.
//!
//! `seedcore seed` announces to an HTTP tracker that accepts connections
//! and never answers, and to a UDP tracker that never answers; its DHT
//! node bootstraps from a loopback socket that never answers while eight
//! sockets flood its DHT port with junk, truncated bencode and well-formed
//! queries. Meanwhile libtorrent downloads the torrent from the shards with
//! the same bounded wait as every other libtorrent test, and the `--json`
//! status shows the shards serving and the storm reaching the node. The
//! test has no time threshold beyond its failure timeout; the seed must
//! also stop cleanly (its `stopped` to the hung tracker waits at most 2 s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_tests::*;

/// Accepts TCP connections and holds them without a byte in either way.
fn tcp_black_hole(stop: Arc<AtomicBool>) -> (SocketAddr, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let a = Arc::clone(&accepted);
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match l.accept() {
                Ok((s, _)) => {
                    a.fetch_add(1, Ordering::Relaxed);
                    held.push(s);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    (addr, accepted)
}

/// Floods `target` with datagrams from eight sockets until `stop`.
fn flood(target: SocketAddr, stop: Arc<AtomicBool>) -> Arc<AtomicU64> {
    let sent = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&sent);
    std::thread::spawn(move || {
        let sockets: Vec<UdpSocket> = (0..8)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut n = 0u64;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            for s in &sockets {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let pkt = match n % 4 {
                    0 => x.to_le_bytes().repeat(20),
                    1 => b"d1:ad2:id20:".to_vec(),
                    2 => format!("d1:ad2:id20:{:020}e1:q4:ping1:t2:aa1:y1:qe", x % 1_000_000)
                        .into_bytes(),
                    _ => format!(
                        "d1:ad2:id20:{:020}6:target20:{:020}e1:q9:find_node1:t2:bb1:y1:qe",
                        x % 1_000_000,
                        x % 999
                    )
                    .into_bytes(),
                };
                let _ = s.send_to(&pkt, target);
                while s.recv_from(&mut buf).is_ok() {}
                n += 1;
            }
            c.store(n, Ordering::Relaxed);
            // About 30,000 datagrams a second.
            if n.is_multiple_of(32) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
    sent
}

#[test]
fn dead_trackers_and_a_dht_storm_do_not_stall_the_shards() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "nested", Shape::Nested, 501);
    let torrent = dir.join("nested.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "32768"]);
    let total = json_u64(&info, "total_length");

    let stop = Arc::new(AtomicBool::new(false));
    let (hung, accepted) = tcp_black_hole(Arc::clone(&stop));
    let silent_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_dht = UdpSocket::bind("127.0.0.1:0").unwrap();
    let seed = Seed::new(&torrent)
        .data(&data)
        .dht(&[silent_dht.local_addr().unwrap()])
        .arg("--tracker")
        .arg(format!("http://{hung}/announce"))
        .arg("--tracker")
        .arg(format!(
            "udp://{}/announce",
            silent_udp.local_addr().unwrap()
        ))
        .arg("--announce-to-all-tiers")
        .json()
        .start(dir);
    // The DHT port defaults to the TCP port.
    let sent = flood(seed.addr(), Arc::clone(&stop));
    let deadline = Instant::now() + Duration::from_secs(20);
    while accepted.load(Ordering::Relaxed) == 0 {
        assert!(
            Instant::now() < deadline,
            "no announce reached the hung tracker\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let save = dir.join("leech");
    let report = LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "lt".into(),
            source: LtSource::Torrent(torrent.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(45),
    )
    .finish(&|| seed.to_string());
    assert_eq!(report["leechers"][0]["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("nested"), &files, false);
    assert_verifies(&torrent, &save);
    assert!(sent.load(Ordering::Relaxed) > 1000, "the flood ran");

    // The status, printed every second throughout: shards served the
    // whole torrent, the storm reached the DHT node (and was cut by its
    // rate limit), and neither tracker ever answered.
    let deadline = Instant::now() + Duration::from_secs(15);
    let seen = |seed: &RunningSeed| {
        seed.json_statuses()
            .iter()
            .rev()
            .find(|s| {
                let d = &s["dht"];
                s["torrents"][0]["uploaded"].as_u64().unwrap_or(0) >= total
                    && s["shards"][0]["shard"] == 0
                    && d["rate_limited"].as_u64().unwrap_or(0)
                        + d["malformed"].as_u64().unwrap_or(0)
                        > 100
            })
            .cloned()
    };
    let status = loop {
        if let Some(s) = seen(&seed) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the status should show serving and the storm\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for t in status["torrents"][0]["trackers"].as_array().unwrap() {
        assert_eq!(t["ok"], false, "{status}");
    }
    let served: Vec<f64> = seed
        .json_statuses()
        .iter()
        .filter_map(|s| s["shards"][0]["upload_rate"].as_f64())
        .collect();
    assert!(
        served.iter().any(|r| *r > 0.0),
        "a shard served: {served:?}"
    );
    stop.store(true, Ordering::Relaxed);
    seed.stop();
}
