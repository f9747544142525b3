//! Send-path comparison and idle-peer memory, on loopback.
//!
//! ```sh
//! cargo bench -p seedcore-runtime --bench send_path            # 256 MiB, 5 trials
//! cargo bench -p seedcore-runtime --bench send_path -- 64 3    # 64 MiB, 3 trials
//! ```
//!
//! For each send path a one-shard seed serves a 256 MiB single-file torrent
//! (page cache warm) to one leecher on another core, which downloads all of
//! it with 250 requests in flight; the paths take turns, `trials` times
//! each, so that a noisy neighbour hurts all of them alike. Reported: throughput
//! (GB/s, payload bytes), the seed's CPU time per GiB served (process CPU
//! minus the leecher thread's own), and the leecher's CPU per GiB (on
//! loopback the receiver pays a copy too, and may be the limit).
//!
//! Each path runs with the default `TCP_NOTSENT_LOWAT` and again with each
//! value of `SEND_PATH_LOWAT` (comma-separated sizes, default `0`: not
//! set; empty: no variants), so the cost of bounding what a peer that does not read holds in
//! the kernel shows on the same run.
//!
//! Then bytes per idle peer: 2,000 connections that completed their
//! handshakes and then stay silent, measured as the growth of the
//! process's resident memory (the client ends are plain sockets, whose
//! buffers live in the kernel, not in our RSS).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

#[path = "../tests/common/leecher.rs"]
mod leecher;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::wire::{Handshake, Reserved};
use seedcore_runtime::{sys, Config, Seeder, SendPath, Span, TorrentSpec};

fn config(torrent: &Path, path: SendPath) -> Config {
    Config {
        port: 0,
        bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        shards: Some(1),
        send_path: path,
        status_interval: Span(Duration::ZERO),
        max_peers: 50_000,
        // Every benchmark connection comes from 127.0.0.1.
        max_peers_per_ip: 0,
        max_connections_per_ip: 0,
        // Loopback only: no DHT (its default bootstrap nodes are public).
        dht: false,
        torrents: vec![TorrentSpec {
            path: torrent.to_path_buf(),
            data: None,
        }],
        ..Config::default()
    }
}

fn write_data(path: &Path, mib: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        f.write_all(&buf).unwrap();
    }
    // Dirty pages cannot be dropped from the cache (the cold-cache run).
    f.sync_all().unwrap();
}

struct Run {
    gbps: f64,
    seed_cpu_per_gib: f64,
    leech_cpu_per_gib: f64,
}

fn measure(seeder: &Seeder, meta: &Metainfo, rounds: usize) -> Run {
    let geo = Geometry::from_info(&meta.info);
    let pieces: Vec<u32> = (0..meta.info.piece_count).collect();
    let addr = seeder.local_addrs()[0];
    let hash = meta.info_hashes.wire_hash();
    let cpus = sys::online_cpus();
    let leech_cpu = cpus.get(1).copied();
    let process0 = sys::process_cpu_time();
    let t0 = Instant::now();
    let (bytes, leech) = std::thread::spawn(move || {
        if let Some(c) = leech_cpu {
            let _ = sys::pin_current_thread(c);
        }
        let c0 = sys::thread_cpu_time();
        let mut l = leecher::Leecher::connect(addr, hash, true).unwrap();
        l.interested().unwrap();
        let mut bytes = 0u64;
        for _ in 0..rounds {
            l.fetch(&geo, &pieces, 250, |_, _, d| bytes += d.len() as u64)
                .unwrap();
        }
        (bytes, sys::thread_cpu_time() - c0)
    })
    .join()
    .unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let process = (sys::process_cpu_time() - process0).as_secs_f64();
    let gib = bytes as f64 / (1u64 << 30) as f64;
    Run {
        gbps: bytes as f64 / wall / 1e9,
        seed_cpu_per_gib: (process - leech.as_secs_f64()) / gib,
        leech_cpu_per_gib: leech.as_secs_f64() / gib,
    }
}

fn idle_peers(torrent: &Path, meta: &Metainfo, n: usize) {
    let seeder = Seeder::start(config(torrent, SendPath::default())).unwrap();
    let addr = seeder.local_addrs()[0];
    let hs = Handshake::new(
        Reserved::seedcore_default(),
        meta.info_hashes.wire_hash(),
        [b'I'; 20],
    )
    .to_bytes();
    let open = |count: usize, keep: &mut Vec<TcpStream>| {
        for _ in 0..count {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&hs).unwrap();
            let mut back = [0u8; 68];
            s.read_exact(&mut back).unwrap();
            keep.push(s);
        }
    };
    let mut warm = Vec::new();
    open(200, &mut warm);
    std::thread::sleep(Duration::from_millis(300));
    let before = sys::resident_bytes().unwrap_or(0);
    let mut keep = Vec::new();
    open(n, &mut keep);
    // Let every session finish its first messages and go quiet.
    std::thread::sleep(Duration::from_secs(2));
    let after = sys::resident_bytes().unwrap_or(0);
    let peers = seeder.status().map_or(0, |s| s.peers);
    println!(
        "idle peers: {} connections open ({} measured), {} bytes of resident memory per idle peer",
        peers,
        n,
        after.saturating_sub(before) / n as u64
    );
    drop(keep);
    drop(warm);
    seeder.shutdown();
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let trials: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bench.bin");
    write_data(&data, mib);
    let made = seedcore_runtime::torrents::make_torrent(&data, 0).unwrap();
    let meta = made.meta.clone();
    println!(
        "{} MiB, {} KiB pieces, {} trials per path (interleaved), {} cores; median [min..max]",
        mib,
        meta.info.piece_length.get() / 1024,
        trials,
        sys::online_cpus().len()
    );
    // Each path with the default TCP_NOTSENT_LOWAT, and with the values in
    // SEND_PATH_LOWAT (comma-separated sizes; default 0: the kernel's own,
    // the whole send buffer may wait unsent), to see what bounding a
    // non-reading peer's kernel memory costs a fast one.
    let lowats: Vec<seedcore_runtime::Bytes> = std::env::var("SEND_PATH_LOWAT")
        .unwrap_or_else(|_| "0".into())
        .split(',')
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.trim().parse().unwrap())
        .collect();
    let seeders: Vec<(String, Seeder)> = SendPath::ALL
        .into_iter()
        .flat_map(|p| {
            let default = config(&made.torrent_path, p);
            let mut v = vec![(p.name().to_string(), default.clone())];
            for l in &lowats {
                let c = Config {
                    notsent_lowat: *l,
                    ..default.clone()
                };
                v.push((format!("{}/lowat={l}", p.name()), c));
            }
            v
        })
        .map(|(name, c)| (name, Seeder::start(c).unwrap()))
        .collect();
    for (_, s) in &seeders {
        // Warm-up: page cache, TCP windows, first-touch allocations.
        let _ = measure(s, &meta, 1);
    }
    let mut runs: Vec<Vec<Run>> = seeders.iter().map(|_| Vec::new()).collect();
    for _ in 0..trials {
        for ((_, s), r) in seeders.iter().zip(&mut runs) {
            r.push(measure(s, &meta, 1));
        }
    }
    println!(
        "{:<17} {:>20} {:>22} {:>22}",
        "path", "GB/s", "seed CPU s/GiB", "leech CPU s/GiB"
    );
    for ((path, _), r) in seeders.iter().zip(&runs) {
        println!(
            "{:<17} {:>20} {:>22} {:>22}",
            path,
            stat(r.iter().map(|x| x.gbps).collect(), 2),
            stat(r.iter().map(|x| x.seed_cpu_per_gib).collect(), 3),
            stat(r.iter().map(|x| x.leech_cpu_per_gib).collect(), 3)
        );
    }
    for (_, s) in seeders {
        s.shutdown();
    }
    for cold in [true, false] {
        stall(&made.torrent_path, &data, &meta, cold);
    }
    idle_peers(&made.torrent_path, &meta, 2000);
}

/// One shard serves the whole torrent to a leecher from a cold (or warm)
/// page cache while a prober on the same shard fetches an already cached
/// piece over and over: the prober's latency shows how long the shard is
/// held up by disk reads inside `send`.
fn stall(torrent: &Path, data: &Path, meta: &Metainfo, cold: bool) {
    if cold {
        let f = std::fs::File::open(data).unwrap();
        f.sync_all().unwrap();
        sys::drop_cached_pages(&f).unwrap();
        let (cached, pages) = sys::cached_pages(&f).unwrap();
        assert!(
            cached * 10 < pages,
            "the cache was not dropped ({cached} of {pages} pages)"
        );
    }
    let seeder = Seeder::start(config(torrent, SendPath::default())).unwrap();
    let geo = Geometry::from_info(&meta.info);
    let addr = seeder.local_addrs()[0];
    let hash = meta.info_hashes.wire_hash();
    let mut probe = leecher::Leecher::connect(addr, hash, true).unwrap();
    probe.interested().unwrap();
    probe.fetch(&geo, &[0], 16, |_, _, _| {}).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&done);
    let pieces: Vec<u32> = (1..meta.info.piece_count).collect();
    let total = meta.info.total_length;
    let geo2 = geo;
    let t0 = Instant::now();
    let bulk = std::thread::spawn(move || {
        if let Some(&c) = sys::online_cpus().get(1) {
            let _ = sys::pin_current_thread(c);
        }
        let mut l = leecher::Leecher::connect(addr, hash, true).unwrap();
        l.interested().unwrap();
        l.fetch(&geo2, &pieces, 250, |_, _, _| {}).unwrap();
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let mut lat = Vec::new();
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let t = Instant::now();
        probe.fetch(&geo, &[0], 16, |_, _, _| {}).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(Duration::from_millis(5));
    }
    bulk.join().unwrap();
    let wall = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{} cache: {:.2} GB/s; a cached 256 KiB piece on the same shard meanwhile: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} probes)",
        if cold { "cold" } else { "warm" },
        total as f64 / wall / 1e9,
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0.0),
        lat.len()
    );
    seeder.shutdown();
}

/// "median [min..max]".
fn stat(mut v: Vec<f64>, digits: usize) -> String {
    v.sort_by(f64::total_cmp);
    let (lo, hi) = (
        v.first().copied().unwrap_or(0.0),
        v.last().copied().unwrap_or(0.0),
    );
    let med = v.get(v.len() / 2).copied().unwrap_or(0.0);
    format!("{med:.digits$} [{lo:.digits$}..{hi:.digits$}]")
}
