//! Times verification and the two ways of reading files for hashing on a
//! 256 MiB temporary file (page cache warm: the file was just written).
//!
//! Run: `cargo run --release -p seedcore-storage --example hash_speed [MiB]`
//!
//! Prints MB/s (10^6 bytes per second) for:
//! - `verify` with 1 and 2 threads (memory maps, SHA-1 per 256 KiB piece);
//! - one thread hashing the same pieces from a map with no hint, with
//!   `MADV_WILLNEED` or `MADV_POPULATE_READ` per 8 MiB run, and from 4 MiB
//!   `read` calls into a buffer (the alternative to mapping);
//! - SHA-1 alone over an in-cache buffer (the ceiling).

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a measuring tool

use std::io::Read;
use std::time::Instant;

use memmap2::Advice;
use seedcore_protocol::metainfo::{InfoHashV1, InfoHashes, Metainfo};
use seedcore_storage::create::{self, CreateMode};
use seedcore_storage::{verify, VerifyOptions};

fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let size = mib << 20;
    let piece = 256 << 10;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    {
        let mut x: u64 = 1;
        let data: Vec<u8> = (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(&path, data).unwrap();
    }
    let scanned = create::scan(&path).unwrap();
    let t = Instant::now();
    let content = create::hash(&scanned, piece, CreateMode::V1, 0, None).unwrap();
    println!(
        "create v1 (all cores, mmap): {:.0} MB/s",
        mbps(size, t.elapsed().as_secs_f64())
    );
    let t = Instant::now();
    let _ = create::hash(&scanned, piece, CreateMode::Hybrid, 0, None).unwrap();
    println!(
        "create hybrid (all cores, SHA-1 + SHA-256): {:.0} MB/s",
        mbps(size, t.elapsed().as_secs_f64())
    );
    let meta = Metainfo {
        info: content.info(),
        info_bytes: Vec::new(),
        info_hashes: InfoHashes {
            v1: Some(InfoHashV1([0; 20])),
            v2: None,
        },
        announce: None,
        announce_list: Vec::new(),
        url_list: Vec::new(),
        comment: None,
        created_by: None,
        creation_date: None,
        piece_layers: Default::default(),
    };
    let pieces = &content.pieces;
    for round in 0..3 {
        for threads in [1, 2] {
            let t = Instant::now();
            let r = verify(
                &meta,
                dir.path(),
                &VerifyOptions {
                    threads,
                    progress: None,
                    stop: None,
                },
            )
            .unwrap();
            assert!(r.all_good());
            println!(
                "round {round}: verify threads={threads}: {:.0} MB/s",
                mbps(size, t.elapsed().as_secs_f64())
            );
        }
        for advice in [None, Some(Advice::WillNeed), Some(Advice::PopulateRead)] {
            let t = Instant::now();
            let f = std::fs::File::open(&path).unwrap();
            // SAFETY: a read-only map of a temporary file nothing else touches.
            let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
            let mut good = 0usize;
            for (i, run) in map.chunks(8 << 20).enumerate() {
                if let Some(a) = advice {
                    let _ = map.advise_range(a, i * (8 << 20), run.len());
                }
                for (j, chunk) in run.chunks(piece as usize).enumerate() {
                    good += usize::from(seedcore_hash::sha1(chunk) == pieces[i * 32 + j]);
                }
            }
            assert_eq!(good, pieces.len());
            println!(
                "round {round}: mmap ({advice:?} per 8 MiB) + SHA-1, 1 thread: {:.0} MB/s",
                mbps(size, t.elapsed().as_secs_f64())
            );
        }
        let t = Instant::now();
        let mut f = std::fs::File::open(&path).unwrap();
        let mut buf = vec![0u8; 4 << 20];
        let mut good = 0usize;
        let mut index = 0usize;
        loop {
            let mut filled = 0;
            while filled < buf.len() {
                let n = f.read(&mut buf[filled..]).unwrap();
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                break;
            }
            for chunk in buf[..filled].chunks(piece as usize) {
                good += usize::from(seedcore_hash::sha1(chunk) == pieces[index]);
                index += 1;
            }
        }
        assert_eq!(good, pieces.len());
        println!(
            "round {round}: read(4 MiB) + SHA-1, 1 thread: {:.0} MB/s",
            mbps(size, t.elapsed().as_secs_f64())
        );
        for (label, with_map) in [("read(8 MiB)", false), ("mmap+PopulateRead", true)] {
            let t = Instant::now();
            let mut f = std::fs::File::open(&path).unwrap();
            // SAFETY: a read-only map of a temporary file nothing else touches.
            let map = unsafe { memmap2::Mmap::map(&f) }.unwrap();
            let mut buf = vec![0u8; 8 << 20];
            let mut good = 0usize;
            let mut digests = [[0u8; 20]; 32];
            for (i, run) in map.chunks(8 << 20).enumerate() {
                let data: &[u8] = if with_map {
                    let _ = map.advise_range(Advice::PopulateRead, i * (8 << 20), run.len());
                    run
                } else {
                    f.read_exact(&mut buf[..run.len()]).unwrap();
                    &buf[..run.len()]
                };
                let slices: Vec<&[u8]> = data.chunks(piece as usize).collect();
                seedcore_hash::sha1_many(&slices, &mut digests);
                good += digests[..slices.len()]
                    .iter()
                    .zip(&pieces[i * 32..])
                    .filter(|(a, b)| a == b)
                    .count();
            }
            assert_eq!(good, pieces.len());
            println!(
                "round {round}: {label} + multi-buffer SHA-1, 1 thread: {:.0} MB/s",
                mbps(size, t.elapsed().as_secs_f64())
            );
        }
        let t = Instant::now();
        let buf = vec![7u8; piece as usize];
        for _ in 0..pieces.len() {
            std::hint::black_box(seedcore_hash::sha1(std::hint::black_box(&buf)));
        }
        println!(
            "round {round}: SHA-1 alone (in-cache buffer), 1 thread: {:.0} MB/s",
            mbps(size, t.elapsed().as_secs_f64())
        );
    }
    println!(
        "SHA-1 backend: {}",
        seedcore_hash::Sha1Backend::best().name()
    );
}
