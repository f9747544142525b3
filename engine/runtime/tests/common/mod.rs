//! Shared helpers for the runtime's loopback tests.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

pub mod leecher;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use seedcore_protocol::metainfo::Metainfo;
use seedcore_runtime::{Config, Seeder, Span, TorrentSpec};

/// Deterministic bytes (xorshift), different for every `seed`.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A folder `name` under `dir` holding `files` (relative path, size).
pub fn make_folder(dir: &Path, name: &str, files: &[(&str, usize)]) -> PathBuf {
    let root = dir.join(name);
    for (i, (rel, size)) in files.iter().enumerate() {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes(*size, i as u64 + 1)).unwrap();
    }
    root
}

/// The usual test data: a few MiB in several files of awkward sizes, so
/// pieces straddle file boundaries.
pub fn sample_folder(dir: &Path) -> PathBuf {
    make_folder(
        dir,
        "sample",
        &[
            ("a.bin", 1_000_003),
            ("sub/b.bin", 2_097_152),
            ("sub/c.bin", 12_345),
            ("z.bin", 777_777),
        ],
    )
}

/// A configuration for tests: loopback, any port, no status output.
pub fn config(paths: &[&Path], shards: usize) -> Config {
    Config {
        port: 0,
        bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        shards: Some(shards),
        status_interval: Span(Duration::ZERO),
        verify_threads: 2,
        // Loopback only: no DHT (its default bootstrap nodes are public).
        dht: false,
        // Every test leecher connects from 127.0.0.1.
        max_peers_per_ip: 0,
        max_connections_per_ip: 0,
        torrents: paths
            .iter()
            .map(|p| TorrentSpec {
                path: p.to_path_buf(),
                data: None,
            })
            .collect(),
        ..Config::default()
    }
}

/// The `.torrent` the seed made or loaded for torrent `i`.
pub fn meta_of(seeder: &Seeder, i: usize) -> Metainfo {
    let path = &seeder.torrents()[i].torrent_path;
    Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

pub fn addr(seeder: &Seeder) -> SocketAddr {
    seeder.local_addrs()[0]
}

/// Waits (bounded) until `f` holds, polling the seed's status.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
