//! Peer wire codec throughput: what one shard spends framing its traffic.
//!
//! - `wire/piece-16k`: 64 `piece` messages of 16 KiB (1 MiB): decode (a
//!   borrowing decoder should run at memory speed, since it copies nothing),
//!   encode into a reused buffer (one memcpy of the block). Reported in
//!   bytes/s; messages/s = bytes/s / 16397.
//! - `wire/piece-header`: the zero-copy path, which only builds the 13-byte
//!   header and leaves the block where it is. Reported in messages/s.
//! - `wire/mixed`: 1024 small messages, mostly `request` and `have` with some
//!   `cancel`, `interested` and keep-alives: the per-message overhead.
//!   Reported in messages/s.
//! - `ext`: decoding libtorrent's real extended handshake and a 50-peer
//!   `ut_pex` message.
//!
//! Run: `cargo bench -p seedcore-bench --bench codec -- --warm-up-time 1 --measurement-time 2`

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // bench setup

use std::hint::black_box;
use std::net::SocketAddrV4;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seedcore_protocol::ext::{ExtendedHandshake, PexFlags, UtPex};
use seedcore_protocol::wire::{
    decode, piece_header, BlockRequest, Decoded, Limits, Message, DEFAULT_MAX_BLOCK,
};

const PIECES: usize = 64;
const BLOCK: usize = DEFAULT_MAX_BLOCK as usize;
const MIXED: usize = 1024;

/// Decodes every message in `buf`, returning a checksum so nothing is
/// optimised away.
fn decode_stream(buf: &[u8], limits: &Limits) -> u64 {
    let mut rest = buf;
    let mut sum = 0u64;
    while let Ok(Decoded::Message { msg, consumed }) = decode(rest, limits) {
        sum = sum.wrapping_add(match msg {
            Message::Piece { index, data, .. } => u64::from(index) + data.len() as u64,
            Message::Request(b) | Message::Cancel(b) => u64::from(b.begin),
            Message::Have { index } => u64::from(index),
            _ => 1,
        });
        rest = &rest[consumed..];
    }
    sum
}

fn mixed_messages() -> Vec<Message<'static>> {
    (0..MIXED as u32)
        .map(|i| {
            let block = BlockRequest {
                index: i / 4,
                begin: (i % 4) * 16384,
                length: 16384,
            };
            match i % 16 {
                0..=8 => Message::Request(block),
                9..=13 => Message::Have { index: i },
                14 => Message::Cancel(block),
                _ if i % 32 == 15 => Message::KeepAlive,
                _ => Message::Interested,
            }
        })
        .collect()
}

fn piece(c: &mut Criterion) {
    let data: Vec<u8> = (0..BLOCK).map(|i| i as u8).collect();
    let msgs: Vec<Message<'_>> = (0..PIECES as u32)
        .map(|i| Message::Piece {
            index: i,
            begin: 0,
            data: &data,
        })
        .collect();
    let mut stream = Vec::new();
    for m in &msgs {
        m.encode(&mut stream).unwrap();
    }
    let limits = Limits::default();
    assert_eq!(
        decode_stream(&stream, &limits),
        (0..PIECES as u64).sum::<u64>() + (PIECES * BLOCK) as u64
    );

    let mut g = c.benchmark_group("wire/piece-16k");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| decode_stream(black_box(&stream), &limits))
    });
    let mut out = Vec::with_capacity(stream.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for m in black_box(&msgs) {
                m.encode(&mut out).unwrap();
            }
            out.len()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("wire/piece-header");
    g.throughput(Throughput::Elements(PIECES as u64));
    g.bench_function("zero-copy-header", |b| {
        b.iter(|| {
            let mut x = 0u8;
            for i in 0..PIECES as u32 {
                x ^= piece_header(black_box(i), 0, BLOCK as u32)[12];
            }
            x
        })
    });
    g.finish();
}

fn mixed(c: &mut Criterion) {
    let msgs = mixed_messages();
    let mut stream = Vec::new();
    for m in &msgs {
        m.encode(&mut stream).unwrap();
    }
    let limits = Limits::default();
    let mut g = c.benchmark_group("wire/mixed");
    g.throughput(Throughput::Elements(MIXED as u64));
    g.bench_function("decode", |b| {
        b.iter(|| decode_stream(black_box(&stream), &limits))
    });
    let mut out = Vec::with_capacity(stream.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for m in black_box(&msgs) {
                m.encode(&mut out).unwrap();
            }
            out.len()
        })
    });
    g.finish();
}

fn ext(c: &mut Criterion) {
    // libtorrent 2.0.8's extended handshake (see protocol/tests/wire_fixtures.rs).
    let hs: &[u8] = b"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e\
        11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee\
        13:metadata_sizei123e4:reqqi2000e11:upload_onlyi1e1:v18:libtorrent/2.0.8.0\
        6:yourip4:\x7f\x00\x00\x01e";
    assert_eq!(ExtendedHandshake::decode(hs).unwrap().reqq, Some(2000));
    let pex = UtPex {
        added: (0..50u32)
            .map(|i| {
                (
                    SocketAddrV4::new((0x0A00_0000 + i).into(), 6881),
                    PexFlags(PexFlags::SEED),
                )
            })
            .collect(),
        ..Default::default()
    }
    .to_vec()
    .unwrap();
    let mut g = c.benchmark_group("ext");
    g.throughput(Throughput::Elements(1));
    g.bench_function("extended-handshake-decode", |b| {
        b.iter(|| ExtendedHandshake::decode(black_box(hs)).unwrap())
    });
    g.bench_function("ut_pex-50-decode", |b| {
        b.iter(|| UtPex::decode(black_box(&pex)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, piece, mixed, ext);
criterion_main!(benches);
