#![allow(clippy::cast_possible_truncation)] // test data is built from truncated counters

use ::sha1::Digest as _;
use proptest::prelude::*;

use super::{sha1_many, sha1_many_with, MultiBackend};
use crate::{Sha1Backend, Sha1Digest};

fn oracle(data: &[u8]) -> Sha1Digest {
    ::sha1::Sha1::digest(data).into()
}

/// Every multi-buffer backend this CPU has (the tests check they agree
/// with the oracle; on CPUs without them, the fallback path is checked).
fn backends() -> Vec<MultiBackend> {
    let mut all = MultiBackend::available();
    if all.is_empty() {
        all = MultiBackend::ALL.to_vec();
    }
    all
}

fn check(backend: MultiBackend, inputs: &[&[u8]]) {
    let mut out = vec![[0u8; 20]; inputs.len()];
    sha1_many_with(backend, inputs, &mut out);
    for (i, (input, got)) in inputs.iter().zip(&out).enumerate() {
        assert_eq!(
            *got,
            oracle(input),
            "{backend}, input {i} of {} bytes",
            input.len()
        );
    }
}

#[test]
fn fips_vectors_in_every_lane() {
    let a_million = vec![b'a'; 1_000_000];
    let messages: [&[u8]; 4] = [
        b"abc",
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        &a_million,
    ];
    for backend in backends() {
        for msg in messages {
            // A full set of lanes of the same message, and one more.
            let inputs = vec![msg; backend.lanes() + 1];
            check(backend, &inputs);
        }
    }
}

#[test]
fn every_length_through_three_blocks() {
    // Distinct contents per lane, same length: lanes must not bleed.
    for backend in backends() {
        for len in 0..=200usize {
            let data: Vec<Vec<u8>> = (0..backend.lanes())
                .map(|lane| (0..len).map(|i| (i * 7 + lane * 131 + 1) as u8).collect())
                .collect();
            let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            check(backend, &inputs);
        }
    }
}

#[test]
fn mixed_lengths_and_partial_groups() {
    let data: Vec<Vec<u8>> = (0..50usize)
        .map(|i| vec![i as u8; (i % 7) * 1000 + i % 3])
        .collect();
    let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    for backend in backends() {
        check(backend, &inputs);
        check(backend, &inputs[..1]);
        check(backend, &[]);
    }
    let mut out = vec![[0u8; 20]; inputs.len()];
    sha1_many(&inputs, &mut out);
    assert!(inputs.iter().zip(&out).all(|(i, d)| oracle(i) == *d));
}

#[test]
fn mismatched_output_length_hashes_the_common_prefix() {
    let inputs: [&[u8]; 3] = [b"a", b"b", b"c"];
    let mut out = [[9u8; 20]; 2];
    sha1_many(&inputs, &mut out);
    assert_eq!(out, [oracle(b"a"), oracle(b"b")]);
    let mut out = [[9u8; 20]; 4];
    sha1_many(&inputs, &mut out);
    assert_eq!(out[3], [9u8; 20]);
}

#[test]
fn names_lanes_and_thresholds() {
    assert_eq!(MultiBackend::Avx512.name(), "avx512-x16");
    assert_eq!(MultiBackend::Avx2.lanes(), 8);
    for b in MultiBackend::ALL {
        for single in Sha1Backend::ALL {
            let min = b.min_lanes(single);
            assert!((1..=b.lanes()).contains(&min));
        }
    }
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        MultiBackend::Avx2.is_available(),
        std::arch::is_x86_feature_detected!("avx2")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random equal-length batches (the intended use) agree with the
    /// oracle and with every single-stream backend.
    #[test]
    fn equal_lengths_agree(
        len in 0usize..3000,
        count in 1usize..40,
        seed in any::<u64>(),
    ) {
        let data: Vec<Vec<u8>> = (0..count)
            .map(|m| (0..len).map(|i| (seed.wrapping_mul(m as u64 + 1).wrapping_add(i as u64 * 0x9E37) >> 13) as u8).collect())
            .collect();
        let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        for backend in backends() {
            let mut out = vec![[0u8; 20]; count];
            sha1_many_with(backend, &inputs, &mut out);
            for (input, got) in inputs.iter().zip(&out) {
                prop_assert_eq!(*got, oracle(input));
                for single in Sha1Backend::available() {
                    let mut h = crate::Sha1::with_backend(single).unwrap();
                    h.update(input);
                    prop_assert_eq!(h.finalize(), *got);
                }
            }
        }
    }

    /// Random mixed lengths.
    #[test]
    fn mixed_lengths_agree(lens in proptest::collection::vec(0usize..700, 0..40)) {
        let data: Vec<Vec<u8>> = lens.iter().enumerate().map(|(m, &l)| vec![(m * 37) as u8; l]).collect();
        let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        for backend in backends() {
            let mut out = vec![[0u8; 20]; inputs.len()];
            sha1_many_with(backend, &inputs, &mut out);
            for (input, got) in inputs.iter().zip(&out) {
                prop_assert_eq!(*got, oracle(input));
            }
        }
    }
}
