//! The peer's byte budget against an amplification attack (issue 8): a
//! torrent with 1.3 MB of metadata (16 KiB pieces of 1 GiB), and a peer
//! that never reads and sends 61 KiB of `LT_metadata` and `ut_metadata`
//! requests, each asking for up to 256 KiB. Before the budget, the session
//! encoded every answer as its request arrived: 1.7 GB of heap for one
//! burst. Now the heap this test process grows by while the session takes
//! the burst is measured by a counting allocator and must stay within the
//! budget; once the peer reads, every request has its answer (the metadata
//! byte for byte, or a reject), and a peer that keeps asking without
//! reading is closed with the heap still bounded.
//!
//! One test in this file: the allocator counts the whole process.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "session_pair.rs"]
mod pair;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use pair::{ext_handshake, Got, Pair, Torrent};
use seedcore_protocol::ext::{LtMetadata, UtMetadata, METADATA_PIECE_SIZE};
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::session::{ext_ids, SessionConfig, SessionError};
use seedcore_protocol::wire::Message;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Starts a measurement: the peak is reset to what is live now.
fn mark() -> usize {
    let now = LIVE.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// How far the heap rose above `base` since [`mark`].
fn growth_since(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// The ids the peer asks the seed to answer with.
const UT: u8 = 3;
const LT: u8 = 4;
/// The burst of the issue: 61 KiB of requests.
const BURST: usize = 61 << 10;
/// `LT_metadata` asks for `LT_SIZE`/256 of the metadata: 50/256 of 1.3 MB
/// is 256,000 bytes, just within the 256 KiB a seed answers at once.
const LT_SIZE: u16 = 50;

/// A v1 torrent of 1 GiB in 16 KiB pieces, built in memory (no data: no
/// block is requested here).
fn big_metadata_torrent() -> Torrent {
    let pieces = 65_536usize;
    let (_, meta) = TorrentBuilder::new("big.bin", 16_384)
        .file(vec![], (pieces * 16_384) as u64)
        .v1_pieces((0..pieces).map(|i| [(i % 251) as u8; 20]).collect())
        .build_metainfo()
        .unwrap();
    Torrent {
        meta,
        data: Vec::new(),
    }
}

/// 61 KiB of alternating `ut_metadata` and `LT_metadata` requests.
fn burst(metadata_pieces: u32) -> (Vec<u8>, usize) {
    let mut wire = Vec::new();
    let mut n = 0usize;
    while wire.len() < BURST {
        let payload = if n.is_multiple_of(2) {
            UtMetadata::Request {
                piece: (n as u32 / 2) % metadata_pieces,
            }
            .to_vec()
            .unwrap()
        } else {
            LtMetadata::Request {
                start: ((n * 7) % 200) as u8,
                size: LT_SIZE,
            }
            .to_vec()
            .unwrap()
        };
        // Sent with the ids the seed asked for in its extended handshake.
        let id = if n.is_multiple_of(2) {
            ext_ids::UT_METADATA
        } else {
            ext_ids::LT_METADATA
        };
        Message::Extended {
            id,
            payload: &payload,
        }
        .encode(&mut wire)
        .unwrap();
        n += 1;
    }
    (wire, n)
}

#[test]
fn a_metadata_request_burst_stays_within_the_byte_budget() {
    let t = big_metadata_torrent();
    let info = t.meta.info_bytes.clone();
    assert!(info.len() > 1_300_000, "{} bytes of metadata", info.len());
    let metadata_pieces = info.len().div_ceil(METADATA_PIECE_SIZE) as u32;
    let config = SessionConfig::default();
    let budget = config.peer_budget;
    let mut p = Pair::new(&[&t], config, true);
    p.handshake(t.meta.info_hashes.wire_hash());
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[("ut_metadata", UT), ("LT_metadata", LT)]),
    });
    assert!(p.session.is_established(), "{:?}", p.error);
    p.flush();
    p.leecher.take();

    // The burst, from a peer whose socket takes nothing.
    let (wire, requests) = burst(metadata_pieces);
    p.writable = false;
    let base = mark();
    p.send_raw(&wire);
    let grew = growth_since(base);
    eprintln!(
        "{requests} requests in {} bytes: heap grew by {grew} bytes (budget {budget}), \
         the session holds {} bytes",
        wire.len(),
        p.session.held_bytes()
    );
    assert_eq!(p.error, None);
    assert!(p.session.held_bytes() <= budget);
    // The burst itself is copied into the pair's input buffer (61 KiB).
    assert!(
        grew <= budget + 2 * BURST,
        "the heap grew by {grew} bytes for a {}-byte burst: over the {budget}-byte budget",
        wire.len()
    );

    // The peer reads: every request has its answer, data or reject.
    p.writable = true;
    p.flush();
    let got = p.leecher.take();
    let (mut data, mut rejected) = (0usize, 0usize);
    for g in &got {
        let Got::Extended { id, payload } = g else {
            continue;
        };
        match *id {
            UT => match UtMetadata::decode(payload).unwrap() {
                UtMetadata::Data {
                    piece,
                    total_size,
                    data: bytes,
                } => {
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    assert_eq!(total_size as usize, info.len());
                    assert_eq!(bytes, &info[start..start + bytes.len()]);
                    data += 1;
                }
                UtMetadata::Reject { .. } => rejected += 1,
                other => panic!("unexpected {other:?}"),
            },
            LT => match LtMetadata::decode(payload).unwrap() {
                LtMetadata::Metadata {
                    offset,
                    data: bytes,
                    ..
                } => {
                    let o = offset as usize;
                    assert_eq!(bytes, &info[o..o + bytes.len()]);
                    data += 1;
                }
                LtMetadata::DontHave => rejected += 1,
                other => panic!("unexpected {other:?}"),
            },
            _ => {}
        }
    }
    eprintln!("answers: {data} with data, {rejected} refused");
    assert_eq!(data + rejected, requests, "every request answered");
    assert!(data > 0 && rejected > 0, "{data} data, {rejected} refused");

    // A peer that keeps asking and never reads is closed, the heap still
    // bounded by its budget.
    p.writable = false;
    let base = mark();
    let mut bursts = 0;
    while p.error.is_none() && bursts < 200 {
        p.send_raw(&wire);
        assert!(p.session.held_bytes() <= budget);
        bursts += 1;
    }
    let grew = growth_since(base);
    eprintln!(
        "closed after {bursts} more bursts: {:?}; heap grew by {grew}",
        p.error
    );
    assert!(
        matches!(p.error, Some(SessionError::OverBudget { .. })),
        "{:?} after {bursts} bursts",
        p.error
    );
    assert!(grew <= budget + 2 * BURST, "the heap grew by {grew} bytes");
}
