//! Span lookup: piece-space range -> file spans, for a 10,000-file torrent.
//!
//! What a seeder does for every block request after validating it: find the
//! file(s) holding the 16 KiB and where in them. The layout is a sorted
//! segment list searched with a binary search, so this should cost tens of
//! nanoseconds whatever the file count. Also measured: checking a request
//! into a `BlockRef`, building the layout, and a whole piece's spans.
//!
//! Run: `cargo bench -p seedcore-bench --bench span -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::cast_possible_truncation, clippy::unwrap_used)] // bench setup

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::{FileAttr, FileEntry, Info, MetaVersion, PieceLength};
use seedcore_storage::Layout;
use std::hint::black_box;

const FILES: usize = 10_000;
const PIECE: u32 = 256 << 10;

/// 10,000 files of 1 byte .. 4 MiB (a spread like a software mirror), some
/// empty, with a pad file after every one (hybrid layout) when `pads`.
fn info(pads: bool) -> Info {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut files = Vec::new();
    let mut offset = 0u64;
    for i in 0..FILES {
        let length = if i % 50 == 0 {
            0
        } else {
            1 + next() % (4 << 20)
        };
        files.push(FileEntry {
            path: vec!["t".into(), format!("dir{}", i / 100), format!("file{i}")],
            length,
            offset,
            attr: FileAttr::default(),
            pieces_root: None,
            symlink_path: None,
        });
        offset += length;
        let pad = (u64::from(PIECE) - offset % u64::from(PIECE)) % u64::from(PIECE);
        if pads && pad > 0 && length > 0 {
            files.push(FileEntry {
                path: vec!["t".into(), ".pad".into(), pad.to_string()],
                length: pad,
                offset,
                attr: FileAttr {
                    pad: true,
                    ..FileAttr::default()
                },
                pieces_root: None,
                symlink_path: None,
            });
            offset += pad;
        }
    }
    let piece_count = offset.div_ceil(u64::from(PIECE)) as u32;
    Info {
        name: "t".into(),
        piece_length: PieceLength::new(u64::from(PIECE)).unwrap(),
        version: if pads {
            MetaVersion::Hybrid
        } else {
            MetaVersion::V1
        },
        multi_file: true,
        files,
        pieces: vec![[0; 20]; piece_count as usize],
        total_length: offset,
        piece_count,
        private: false,
        source: None,
    }
}

/// Pseudo-random valid block requests (piece, begin, length).
fn requests(g: &Geometry, n: usize) -> Vec<(u32, u32, u32)> {
    let mut x: u64 = 12345;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let p = g.piece((x >> 33) as u32 % g.piece_count()).unwrap();
            let blocks = g.blocks_in_piece(p);
            let b = g.nth_block(p, (x >> 17) as u32 % blocks).unwrap();
            (p.get(), b.begin(), b.length())
        })
        .collect()
}

fn spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");
    for pads in [false, true] {
        let info = info(pads);
        let label = if pads { "hybrid" } else { "v1" };
        let layout = Layout::new(&info);
        let g = Geometry::from_info(&info);
        let reqs = requests(&g, 4096);

        group.throughput(Throughput::Elements(reqs.len() as u64));
        group.bench_function(format!("block_{label}_10k_files"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for &(p, begin, len) in &reqs {
                    let r = g.block(p, begin, len).unwrap();
                    for s in layout.spans(r.offset(), u64::from(r.length())) {
                        sum += s.file_offset ^ s.len;
                    }
                }
                black_box(sum)
            })
        });
        group.bench_function(format!("validate_only_{label}"), |b| {
            b.iter(|| {
                let mut sum = 0u64;
                for &(p, begin, len) in &reqs {
                    sum += black_box(g.block(p, begin, len)).map_or(0, |r| r.offset());
                }
                black_box(sum)
            })
        });

        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("whole_piece_{label}"), |b| {
            let mut i = 0u32;
            b.iter(|| {
                i = (i + 7919) % g.piece_count();
                let p = g.piece(i).unwrap();
                layout
                    .spans(g.piece_offset(p), u64::from(g.piece_size(p)))
                    .count()
            })
        });
        group.bench_function(format!("layout_new_{label}_10k_files"), |b| {
            b.iter(|| Layout::new(black_box(&info)))
        });
    }
    group.finish();
}

criterion_group!(benches, spans);
criterion_main!(benches);
