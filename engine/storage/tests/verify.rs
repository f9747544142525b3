//! Verification against small torrents on disk: damaged, missing, short,
//! long and empty files, pad files, v1, v2 and hybrid.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{created_fixture, flip_byte, pattern, v1_fixture};
use seedcore_storage::create::CreateMode;
use seedcore_storage::{verify, verify_pieces, FileVerdict, Storage, VerifyOptions};

fn opts(threads: usize) -> VerifyOptions<'static> {
    VerifyOptions {
        threads,
        progress: None,
        stop: None,
    }
}

/// Three files where piece 1 (bytes 1024..2048) spans all three.
fn three_file_fixture() -> common::Fixture {
    v1_fixture(
        1024,
        &[
            ("a", pattern(1500, 1), false),
            ("b", pattern(100, 2), false),
            ("c", pattern(3000, 3), false),
        ],
        false,
    )
}

#[test]
fn intact_torrent_is_complete_in_any_thread_count() {
    let f = three_file_fixture();
    for threads in [1, 2, 3, 16] {
        let r = verify(&f.meta, f.root(), &opts(threads)).unwrap();
        assert!(r.all_good(), "threads {threads}: {:?}", r.bad_pieces);
        assert_eq!(r.have.len(), 5);
        assert_eq!(r.bytes_hashed, 4600);
        assert!(r
            .files
            .iter()
            .all(|f| f.state == FileVerdict::Ok && f.bad_pieces == 0));
    }
}

#[test]
fn flipped_byte_in_a_piece_spanning_three_files_marks_exactly_that_piece() {
    let f = three_file_fixture();
    flip_byte(&f.path_of(1), 50); // file b holds bytes 1500..1600: piece 1
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![1]);
    assert_eq!(r.have, vec![true, false, true, true, true]);
    assert_eq!(r.files[0].state, FileVerdict::Damaged { bad_pieces: 1 });
    assert_eq!(r.files[1].state, FileVerdict::Damaged { bad_pieces: 1 });
    assert_eq!(r.files[2].state, FileVerdict::Damaged { bad_pieces: 1 });
    assert!(!r.all_good());
}

#[test]
fn flipped_byte_deep_in_a_file() {
    let f = three_file_fixture();
    flip_byte(&f.path_of(2), 2999); // last byte of the torrent: piece 4
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![4]);
    assert_eq!(r.files[0].state, FileVerdict::Ok);
    assert_eq!(r.files[2].state, FileVerdict::Damaged { bad_pieces: 1 });
}

#[test]
fn missing_file_marks_its_pieces_and_nothing_else() {
    let f = three_file_fixture();
    std::fs::remove_file(f.path_of(2)).unwrap(); // c: bytes 1600..4600, pieces 1..=4
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![1, 2, 3, 4]);
    assert_eq!(r.files[2].state, FileVerdict::Missing);
    assert_eq!(r.files[0].state, FileVerdict::Damaged { bad_pieces: 1 });
    assert_eq!(r.bytes_hashed, 1024);
}

#[test]
fn truncated_file_keeps_the_pieces_it_still_holds() {
    let f = three_file_fixture();
    // c keeps 1000 of 3000 bytes: torrent bytes 1600..2600 exist.
    // Pieces 0 (0..1024) and 1 (1024..2048) are whole; 2.. are not.
    let data = std::fs::read(f.path_of(2)).unwrap();
    std::fs::write(f.path_of(2), &data[..1000]).unwrap();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![2, 3, 4]);
    assert_eq!(
        r.files[2].state,
        FileVerdict::WrongSize {
            expected: 3000,
            actual: 1000
        }
    );
    assert_eq!(r.files[2].bad_pieces, 3);
    // A short file is never mapped for serving.
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert!(s.slices(1600, 10).is_err());
}

#[test]
fn longer_file_is_wrong_size_but_its_pieces_check() {
    let f = three_file_fixture();
    let mut data = std::fs::read(f.path_of(2)).unwrap();
    data.extend_from_slice(b"trailing junk");
    std::fs::write(f.path_of(2), &data).unwrap();
    let r = verify(&f.meta, f.root(), &opts(1)).unwrap();
    assert!(r.is_complete());
    assert!(!r.all_good());
    assert!(matches!(
        r.files[2].state,
        FileVerdict::WrongSize {
            expected: 3000,
            actual: 3013
        }
    ));
}

#[test]
fn a_folder_in_place_of_a_file_is_unreadable() {
    let f = three_file_fixture();
    std::fs::remove_file(f.path_of(1)).unwrap();
    std::fs::create_dir(f.path_of(1)).unwrap();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert!(matches!(r.files[1].state, FileVerdict::Unreadable { .. }));
    assert_eq!(r.bad_pieces, vec![1]);
}

#[test]
fn zero_length_files_and_pads() {
    let f = v1_fixture(
        1024,
        &[
            ("empty1", Vec::new(), false),
            ("a", pattern(1000, 4), false),
            ("pad", vec![0; 24], true),
            ("empty2", Vec::new(), false),
            ("b", pattern(10, 5), false),
        ],
        false,
    );
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert!(r.all_good());
    assert_eq!(r.have, vec![true, true]);
    // Pads are never on disk; a missing empty file breaks no piece.
    assert!(!f.path_of(2).exists());
    std::fs::remove_file(f.path_of(3)).unwrap();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.files[3].state, FileVerdict::Missing);
    assert!(r.is_complete() && r.all_good());
    assert_eq!(r.files[2].state, FileVerdict::Ok);
}

#[test]
fn single_file_smaller_than_a_block() {
    let f = v1_fixture(16384, &[("tiny.bin", pattern(700, 6), false)], true);
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert!(r.all_good());
    assert_eq!(r.have, vec![true]);
    flip_byte(&f.path_of(0), 699);
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![0]);
}

#[test]
fn missing_root_folder_is_not_fatal() {
    let f = three_file_fixture();
    let r = verify(&f.meta, &f.root().join("nowhere"), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces.len(), 5);
    assert!(r.files.iter().all(|f| f.state == FileVerdict::Missing));
    assert_eq!(r.bytes_hashed, 0);
}

#[test]
fn progress_sums_to_the_torrent_size() {
    let f = v1_fixture(16384, &[("x", pattern(3 << 20, 7), false)], true);
    let seen = AtomicU64::new(0);
    let calls = AtomicU64::new(0);
    let cb = |n: u64| {
        seen.fetch_add(n, Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed);
    };
    let o = VerifyOptions {
        threads: 2,
        progress: Some(&cb),
        stop: None,
    };
    let r = verify(&f.meta, f.root(), &o).unwrap();
    assert!(r.all_good());
    assert_eq!(seen.load(Ordering::Relaxed), 3 << 20);
    assert!(calls.load(Ordering::Relaxed) >= 2);
}

#[test]
fn verify_pieces_checks_a_subset() {
    let f = three_file_fixture();
    flip_byte(&f.path_of(2), 2500); // torrent byte 4100: piece 4
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert_eq!(
        verify_pieces(&f.meta, &s, &[4, 0, 4], &opts(2)).unwrap(),
        vec![false, true, false]
    );
    assert!(verify_pieces(&f.meta, &s, &[5], &opts(2)).is_err());
    assert_eq!(
        verify_pieces(&f.meta, &s, &[], &opts(2)).unwrap(),
        Vec::<bool>::new()
    );
}

#[test]
fn unmapped_storage_verifies_the_same_and_survives_truncation() {
    let f = three_file_fixture();
    flip_byte(&f.path_of(2), 2500); // piece 4
    let mapped = Storage::open(&f.meta.info, f.root()).unwrap();
    let unmapped = Storage::open_unmapped(&f.meta.info, f.root()).unwrap();
    let all = [0, 1, 2, 3, 4];
    let want = vec![true, true, true, true, false];
    assert_eq!(
        verify_pieces(&f.meta, &mapped, &all, &opts(2)).unwrap(),
        want
    );
    assert_eq!(
        verify_pieces(&f.meta, &unmapped, &all, &opts(2)).unwrap(),
        want
    );
    // Unmapped storage cannot serve.
    assert!(unmapped.slices(0, 16).is_err());
    drop(mapped);
    // Truncate c (bytes 1600..4600) under the open storage: reading through
    // a map would be SIGBUS; through pread the pieces are just bad.
    std::fs::OpenOptions::new()
        .write(true)
        .open(f.path_of(2))
        .unwrap()
        .set_len(10)
        .unwrap();
    assert_eq!(
        verify_pieces(&f.meta, &unmapped, &all, &opts(2)).unwrap(),
        vec![true, false, false, false, false]
    );
}

fn v2_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("a", pattern(20_000, 8)),   // 2 pieces of 16 KiB
        ("b/c", pattern(40_000, 9)), // 3 pieces
        ("b/empty", Vec::new()),
        ("d", pattern(5, 10)),          // 1 piece, one short block
        ("e", pattern(16_384 * 4, 11)), // exactly 4 pieces
    ]
}

#[test]
fn v2_and_hybrid_intact_then_damaged() {
    for mode in [CreateMode::V2, CreateMode::Hybrid] {
        let (f, _) = created_fixture(16384, mode, &v2_files());
        let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
        assert!(r.all_good(), "{mode:?}: {:?}", r.bad_pieces);
        assert_eq!(r.have.len(), 2 + 3 + 1 + 4);
        let idx = |p: &str| {
            f.meta
                .info
                .files
                .iter()
                .position(|e| e.path.join("/") == p)
                .unwrap()
        };
        // Piece 3 is the second piece of b/c (a: 0..2, b/c: 2..5).
        flip_byte(&f.path_of(idx("t/b/c")), 16_384 + 3);
        // d is a one-piece file checked against its pieces root.
        flip_byte(&f.path_of(idx("t/d")), 4);
        let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
        assert_eq!(r.bad_pieces, vec![3, 5], "{mode:?}");
        assert_eq!(
            r.files[idx("t/b/c")].state,
            FileVerdict::Damaged { bad_pieces: 1 }
        );
        assert_eq!(r.files[idx("t/a")].state, FileVerdict::Ok);
    }
}

#[test]
fn v2_without_piece_layers_checks_whole_files() {
    let (mut f, _) = created_fixture(16384, CreateMode::V2, &v2_files());
    f.meta.piece_layers.clear();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert!(r.all_good(), "{:?}", r.bad_pieces);
    let idx = |p: &str| {
        f.meta
            .info
            .files
            .iter()
            .position(|e| e.path.join("/") == p)
            .unwrap()
    };
    flip_byte(&f.path_of(idx("t/b/c")), 39_999);
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    // Without its layer, one bad byte condemns all of b/c (pieces 2..5).
    assert_eq!(r.bad_pieces, vec![2, 3, 4]);
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert_eq!(
        verify_pieces(&f.meta, &s, &[3, 0], &opts(1)).unwrap(),
        vec![false, true]
    );
    // A short file: the whole file is unproven.
    let p = f.path_of(idx("t/e"));
    let data = std::fs::read(&p).unwrap();
    std::fs::write(&p, &data[..40_000]).unwrap();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    assert_eq!(r.bad_pieces, vec![2, 3, 4, 6, 7, 8, 9]);
}

#[test]
fn v2_missing_file_and_truncation() {
    let (f, _) = created_fixture(16384, CreateMode::V2, &v2_files());
    let idx = |p: &str| {
        f.meta
            .info
            .files
            .iter()
            .position(|e| e.path.join("/") == p)
            .unwrap()
    };
    std::fs::remove_file(f.path_of(idx("t/a"))).unwrap();
    let p = f.path_of(idx("t/e"));
    let data = std::fs::read(&p).unwrap();
    std::fs::write(&p, &data[..16_384 * 2 + 5]).unwrap();
    let r = verify(&f.meta, f.root(), &opts(2)).unwrap();
    // a: pieces 0, 1; e: pieces 6..10, of which 6 and 7 are still whole.
    assert_eq!(r.bad_pieces, vec![0, 1, 8, 9]);
    assert_eq!(r.files[idx("t/a")].state, FileVerdict::Missing);
}
