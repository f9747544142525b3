//! SHA-1 tests: FIPS 180 vectors on every backend, padding edges, and a
//! randomized cross-check of every backend against each other and against
//! the RustCrypto `sha1` crate (the oracle).

#![allow(clippy::cast_possible_truncation)] // test data is built from truncated counters

use ::sha1::Digest as _;
use proptest::prelude::*;

use super::{as_blocks, sha1, Sha1, Sha1Backend};
use crate::Sha1Digest;

fn oracle(data: &[u8]) -> Sha1Digest {
    ::sha1::Sha1::digest(data).into()
}

fn hex(d: &Sha1Digest) -> String {
    hex::encode(d)
}

fn hash_with(backend: Sha1Backend, parts: &[&[u8]]) -> Sha1Digest {
    let mut h = Sha1::with_backend(backend).expect("backend listed as available");
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// FIPS 180-2 appendix A vectors (and the empty message).
const VECTORS: &[(&[u8], &str)] = &[
    (b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    (b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "a49b2446a02c645bf419f995b67091253a04a259",
    ),
];

#[test]
fn fips_vectors_every_backend() {
    for backend in Sha1Backend::available() {
        for (msg, want) in VECTORS {
            assert_eq!(
                hex(&hash_with(backend, &[msg])),
                *want,
                "{backend} on {msg:?}"
            );
        }
    }
}

#[test]
fn one_million_a_every_backend() {
    let data = vec![b'a'; 1_000_000];
    for backend in Sha1Backend::available() {
        assert_eq!(
            hex(&hash_with(backend, &[&data])),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
            "{backend}"
        );
        // The same message fed 1000 bytes at a time (never block-aligned).
        let mut h = Sha1::with_backend(backend).unwrap();
        for chunk in data.chunks(1000) {
            h.update(chunk);
        }
        assert_eq!(
            hex(&h.finalize()),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
            "{backend} chunked"
        );
    }
}

#[test]
fn padding_edges_every_backend() {
    // Every length up to three blocks covers the 55/56 (length fits or not)
    // and 63/64 (block boundary) edges, once, twice and three times.
    let data: Vec<u8> = (0..=200u32).map(|i| (i * 31 + 7) as u8).collect();
    for backend in Sha1Backend::available() {
        for len in 0..=data.len() {
            let msg = &data[..len];
            assert_eq!(
                hash_with(backend, &[msg]),
                oracle(msg),
                "{backend}, length {len}"
            );
        }
    }
}

#[test]
fn best_is_available_and_cached() {
    let best = Sha1Backend::best();
    assert!(best.is_available());
    assert_eq!(best, Sha1Backend::best());
    assert_eq!(Sha1Backend::available().first(), Some(&best));
    assert!(Sha1Backend::available().contains(&Sha1Backend::Portable));
    assert_eq!(Sha1::new().backend(), best);
    assert_eq!(sha1(b"abc"), oracle(b"abc"));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn detection_matches_cpu() {
    let has_sha = std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1");
    assert_eq!(Sha1Backend::ShaNi.is_available(), has_sha);
    assert_eq!(Sha1Backend::best() == Sha1Backend::ShaNi, has_sha);
    #[cfg(not(target_os = "windows"))]
    assert!(Sha1Backend::Asm.is_available());
}

#[test]
fn names_round_trip() {
    for b in Sha1Backend::ALL {
        assert_eq!(Sha1Backend::from_name(b.name()), Some(b));
        assert_eq!(b.to_string(), b.name());
    }
    assert_eq!(Sha1Backend::ShaNi.name(), "sha-ni");
    assert_eq!(Sha1Backend::Asm.name(), "sha1-asm");
    assert_eq!(Sha1Backend::Portable.name(), "portable");
    assert_eq!(Sha1Backend::from_name("md5"), None);
}

#[test]
fn unavailable_backend_is_refused() {
    for b in Sha1Backend::ALL {
        assert_eq!(Sha1::with_backend(b).is_some(), b.is_available());
    }
}

#[test]
fn as_blocks_splits_exactly() {
    let data: Vec<u8> = (0..200u8).collect();
    let (blocks, tail) = as_blocks(&data);
    assert_eq!(blocks.len(), 3);
    assert_eq!(tail, &data[192..]);
    assert_eq!(&blocks[2][..], &data[128..192]);
    let (blocks, tail) = as_blocks(&data[..63]);
    assert!(blocks.is_empty());
    assert_eq!(tail.len(), 63);
}

#[test]
fn clone_mid_stream_forks_the_hash() {
    let mut h = Sha1::new();
    h.update(b"hello ");
    let mut fork = h.clone();
    h.update(b"world");
    fork.update(b"there");
    assert_eq!(h.finalize(), oracle(b"hello world"));
    assert_eq!(fork.finalize(), oracle(b"hello there"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Every backend, fed the same data cut at random points, agrees with the
    /// oracle (and so with each other).
    #[test]
    fn backends_agree_with_oracle(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let want = oracle(&data);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        points.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for p in points {
            parts.push(&data[start..p]);
            start = p;
        }
        parts.push(&data[start..]);
        for backend in Sha1Backend::available() {
            prop_assert_eq!(hash_with(backend, &parts), want, "{} with cuts", backend);
            prop_assert_eq!(hash_with(backend, &[&data]), want, "{} whole", backend);
        }
        prop_assert_eq!(sha1(&data), want);
    }

    /// Lengths near block boundaries, where padding changes shape.
    #[test]
    fn padding_edges_random_content(
        blocks in 0usize..6,
        delta in 0usize..20,
        seed in any::<u8>(),
    ) {
        let len = blocks * 64 + 50 + delta; // 50..=69 past a block boundary
        let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        let want = oracle(&data);
        for backend in Sha1Backend::available() {
            prop_assert_eq!(hash_with(backend, &[&data]), want, "{} length {}", backend, len);
        }
    }
}
