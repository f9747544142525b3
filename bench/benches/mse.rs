//! The costs of Message Stream Encryption, one core: RC4 per byte (ours
//! against the `rc4` crate), one 768-bit exponentiation (crypto-bigint,
//! which `seedcore-mse` uses, against num-bigint), and a whole handshake
//! (both roles, two exponentiations each).
//!
//! Run: `cargo bench -p seedcore-bench --bench mse -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rc4::{KeyInit, StreamCipher};
use seedcore_mse::dh::{prime, PrivateKey};
use seedcore_mse::rc4::Rc4;
use seedcore_mse::{Entropy, Handshake, MseConfig, SkeyMap};

fn rc4(c: &mut Criterion) {
    let mut group = c.benchmark_group("rc4");
    for len in [16usize << 10, 1 << 20] {
        let mut buf = vec![0u8; len];
        group.throughput(Throughput::Bytes(len as u64));
        let mut ours = Rc4::mse(&[7; 20]);
        group.bench_with_input(BenchmarkId::new("seedcore", len), &len, |b, _| {
            b.iter(|| ours.apply(black_box(&mut buf)))
        });
        let mut theirs = ::rc4::Rc4::new_from_slice(&[7; 20]).unwrap_or_else(|_| unreachable!());
        group.bench_with_input(BenchmarkId::new("rc4-crate", len), &len, |b, _| {
            b.iter(|| theirs.apply_keystream(black_box(&mut buf)))
        });
    }
    group.finish();
}

fn dh(c: &mut Criterion) {
    let mut group = c.benchmark_group("dh768");
    let a = PrivateKey::from_bytes([0x3b; 20]);
    let peer = PrivateKey::from_bytes([0x71; 20]).public_key();
    group.bench_function("crypto-bigint public key", |b| {
        b.iter(|| black_box(&a).public_key())
    });
    group.bench_function("crypto-bigint shared secret", |b| {
        b.iter(|| black_box(&a).shared_secret(black_box(&peer)))
    });
    let p = num_bigint::BigUint::from_bytes_be(&prime());
    let x = num_bigint::BigUint::from_bytes_be(&[0x3b; 20]);
    let y = num_bigint::BigUint::from_bytes_be(&peer);
    group.bench_function("num-bigint shared secret", |b| {
        b.iter(|| black_box(&y).modpow(black_box(&x), &p))
    });
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let skey = [9u8; 20];
    let keys: SkeyMap = [skey].into_iter().collect();
    let ia = [0u8; 68];
    c.bench_function("mse handshake, both roles", |b| {
        b.iter(|| {
            let now = Instant::now();
            let cfg = MseConfig::default();
            let mut a = Handshake::outgoing(now, cfg, skey, &ia, Entropy::from_bytes([1; 36]))
                .unwrap_or_else(|_| unreachable!());
            let mut b = Handshake::incoming(now, cfg, Entropy::from_bytes([2; 36]));
            let mut to_b = Vec::new();
            let mut to_a = Vec::new();
            while !a.is_established() {
                to_b.extend(a.poll_transmit().unwrap_or_default());
                if !b.is_established() {
                    let used = b.handle_input(now, &to_b, &keys).unwrap_or_default();
                    to_b.drain(..used);
                }
                to_a.extend(b.poll_transmit().unwrap_or_default());
                let used = a.handle_input(now, &to_a, &keys).unwrap_or_default();
                to_a.drain(..used);
            }
            black_box(a.take_established())
        })
    });
}

criterion_group!(benches, rc4, dh, handshake);
criterion_main!(benches);
