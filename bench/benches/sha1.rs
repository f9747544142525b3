//! SHA-1 and SHA-256 throughput per backend, one core.
//!
//! Compare with `openssl speed -evp sha1 -bytes 1048576 -seconds 3`
//! (SHA-NI, about 1.6 GB/s on the development Xeons). Sizes: a block
//! (16 KiB), and common piece sizes (256 KiB, 1 MiB, 4 MiB).
//!
//! `sha1_many` hashes 16 equal pieces per iteration and reports aggregate
//! throughput per multi-buffer backend, next to the same 16 pieces hashed
//! one after another on the best single-stream backend.
//!
//! Run: `cargo bench -p seedcore-bench --bench sha1 -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::cast_possible_truncation)] // test data from a truncated counter

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seedcore_hash::{sha1_many_with, sha256, MultiBackend, Sha1, Sha1Backend};
use std::hint::black_box;

const SIZES: [usize; 4] = [16 << 10, 256 << 10, 1 << 20, 4 << 20];

fn input(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

fn label(len: usize) -> String {
    if len >= 1 << 20 {
        format!("{}MiB", len >> 20)
    } else {
        format!("{}KiB", len >> 10)
    }
}

fn sha1_backends(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha1");
    for len in SIZES {
        let data = input(len);
        group.throughput(Throughput::Bytes(len as u64));
        for backend in Sha1Backend::available() {
            group.bench_with_input(
                BenchmarkId::new(backend.name(), label(len)),
                &data,
                |b, data| {
                    b.iter(|| {
                        let mut h = Sha1::with_backend(backend).unwrap_or_default();
                        h.update(black_box(data));
                        h.finalize()
                    })
                },
            );
        }
    }
    group.finish();
}

fn sha256_sizes(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    for len in SIZES {
        let data = input(len);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("sha2", label(len)), &data, |b, data| {
            b.iter(|| sha256(black_box(data)))
        });
    }
    group.finish();
}

fn sha1_multi_buffer(c: &mut Criterion) {
    const PIECES: usize = 16;
    let mut group = c.benchmark_group("sha1_many");
    for len in [16 << 10, 256 << 10, 1 << 20] {
        let data: Vec<Vec<u8>> = (0..PIECES).map(|p| input(len + p).split_off(p)).collect();
        let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        group.throughput(Throughput::Bytes((len * PIECES) as u64));
        let mut out = vec![[0u8; 20]; PIECES];
        for backend in MultiBackend::available() {
            group.bench_function(BenchmarkId::new(backend.name(), label(len)), |b| {
                b.iter(|| sha1_many_with(backend, black_box(&inputs), &mut out))
            });
        }
        let single = Sha1Backend::best();
        group.bench_function(
            BenchmarkId::new(format!("{}-serial", single.name()), label(len)),
            |b| {
                b.iter(|| {
                    for (input, digest) in inputs.iter().zip(out.iter_mut()) {
                        let mut h = Sha1::with_backend(single).unwrap_or_default();
                        h.update(black_box(input));
                        *digest = h.finalize();
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, sha1_backends, sha256_sizes, sha1_multi_buffer);
criterion_main!(benches);
