//! Serving reads: slices of the maps, zeros for pads and gaps, and what
//! happens with files that are not there or not the right size.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

mod common;

use common::{created_fixture, pattern, v1_fixture};
use seedcore_storage::create::CreateMode;
use seedcore_storage::{Chunk, FileState, Storage, StorageError};

/// Files: a (1500), pad (548), empty, b (100), c (3000).
fn fixture() -> (common::Fixture, Vec<u8>) {
    let files = vec![
        ("a", pattern(1500, 1), false),
        ("pad", vec![0; 548], true),
        ("empty", Vec::new(), false),
        ("b", pattern(100, 2), false),
        ("c", pattern(3000, 3), false),
    ];
    let stream: Vec<u8> = files.iter().flat_map(|(_, d, _)| d.clone()).collect();
    (v1_fixture(1024, &files, false), stream)
}

fn collect(s: &Storage, off: u64, len: u64) -> Result<Vec<u8>, StorageError> {
    let mut out = Vec::new();
    for c in s.slices(off, len)? {
        assert!(!c.is_empty());
        match c {
            Chunk::Mapped(b) => out.extend_from_slice(b),
            Chunk::Zeros(n) => out.extend(std::iter::repeat_n(0, n as usize)),
        }
    }
    Ok(out)
}

#[test]
fn every_range_reads_back_the_stream() {
    let (f, stream) = fixture();
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert!(s.all_ok());
    let total = stream.len() as u64;
    for off in (0..total).step_by(37) {
        for len in (0..=total - off).step_by(53) {
            let want = &stream[off as usize..(off + len) as usize];
            assert_eq!(collect(&s, off, len).unwrap(), want, "{off}+{len}");
            let mut v = vec![9u8];
            s.read(off, len, &mut v).unwrap();
            assert_eq!(&v[1..], want);
        }
    }
}

#[test]
fn pads_are_zeros_and_blocks_borrow_the_map() {
    let (f, _) = fixture();
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    let chunks: Vec<Chunk<'_>> = s.slices(1400, 800).unwrap().collect();
    assert_eq!(chunks.len(), 4);
    assert!(matches!(chunks[0], Chunk::Mapped(b) if b.len() == 100));
    assert_eq!(chunks[1], Chunk::Zeros(548));
    assert!(matches!(chunks[2], Chunk::Mapped(b) if b == &pattern(100, 2)[..]));
    assert!(matches!(chunks[3], Chunk::Mapped(b) if b.len() == 52));
}

#[test]
fn out_of_range_requests_are_refused() {
    let (f, stream) = fixture();
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    let total = stream.len() as u64;
    assert!(matches!(
        s.slices(total, 1),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        s.slices(total - 1, 2),
        Err(StorageError::OutOfRange { .. })
    ));
    assert!(matches!(
        s.slices(u64::MAX, u64::MAX),
        Err(StorageError::OutOfRange { .. })
    ));
    assert_eq!(s.slices(total, 0).unwrap().count(), 0);
    let mut v = Vec::new();
    assert!(s.read(1, u64::MAX, &mut v).is_err());
    assert!(v.is_empty());
}

#[test]
fn missing_short_and_long_files_are_reported_and_not_served() {
    let (f, _) = fixture();
    std::fs::remove_file(f.path_of(3)).unwrap(); // b
    std::fs::write(f.path_of(4), pattern(10, 3)).unwrap(); // c: short
    std::fs::write(f.path_of(0), pattern(1501, 1)).unwrap(); // a: long
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert_eq!(
        s.file_status(),
        &[
            FileState::WrongSize {
                expected: 1500,
                actual: 1501
            },
            FileState::Ok,
            FileState::Ok,
            FileState::Missing,
            FileState::WrongSize {
                expected: 3000,
                actual: 10
            },
        ]
    );
    assert!(!s.all_ok());
    let e = s.slices(0, 1).unwrap_err();
    assert!(
        matches!(e, StorageError::FileUnavailable { index: 0, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("wrong size"));
    assert!(matches!(
        s.slices(2048, 1),
        Err(StorageError::FileUnavailable { index: 3, .. })
    ));
    assert!(matches!(
        s.slices(2148, 1),
        Err(StorageError::FileUnavailable { index: 4, .. })
    ));
    // The pad between them is still served.
    assert_eq!(collect(&s, 1500, 548).unwrap(), vec![0; 548]);
    assert!(s.file_stamp(3).is_none());
    assert_eq!(s.file_stamp(4).unwrap().size, 10);
    assert!(s.file_path(4).unwrap().ends_with("t/c"));
}

#[test]
fn v2_gaps_read_as_zeros() {
    let (f, _) = created_fixture(
        16384,
        CreateMode::V2,
        &[("a", pattern(100, 1)), ("b", pattern(200, 2))],
    );
    let s = Storage::open(&f.meta.info, f.root()).unwrap();
    assert_eq!(f.meta.info.total_length, 16384 + 200);
    let got = collect(&s, 90, 16384).unwrap();
    let mut want = pattern(100, 1)[90..].to_vec();
    want.resize(16384 - 90, 0);
    want.extend_from_slice(&pattern(200, 2)[..90]);
    assert_eq!(got, want);
}
