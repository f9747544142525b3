//! Resume data: round trips, corruption, and invalidation by file changes.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

mod common;

use std::time::{Duration, SystemTime};

use common::{pattern, v1_fixture};
use proptest::prelude::*;
use seedcore_storage::resume::{ResumeData, ResumeError, FORMAT_VERSION};
use seedcore_storage::{verify, VerifyOptions};

fn fixture() -> common::Fixture {
    v1_fixture(
        1024,
        &[
            ("a", pattern(3000, 1), false),
            ("pad", vec![0; 72], true),
            ("e", Vec::new(), false),
            ("b", pattern(2000, 2), false),
        ],
        false,
    )
}

fn saved(f: &common::Fixture) -> (ResumeData, std::path::PathBuf) {
    let report = verify(&f.meta, f.root(), &VerifyOptions::default()).unwrap();
    let data = ResumeData::from_report(&f.meta, &report);
    let path = f.root().join("state").join("t.resume");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    data.save(&path).unwrap();
    (data, path)
}

#[test]
fn round_trip_and_valid_while_nothing_changes() {
    let f = fixture();
    let (data, path) = saved(&f);
    assert_eq!(data.version, FORMAT_VERSION);
    assert_eq!(data.have_count(), 5);
    assert_eq!(data.files[1], None); // pad
    assert_eq!(data.files[2].map(|s| s.size), Some(0));
    let loaded = ResumeData::load(&path).unwrap();
    assert_eq!(loaded, data);
    assert!(loaded.valid_for(&f.meta, f.root()));
    // Only the resume file is left: the temporary file was renamed.
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["t.resume"]);
    // Saving again replaces it.
    let mut other = data.clone();
    other.have[0] = false;
    other.save(&path).unwrap();
    assert_eq!(ResumeData::load(&path).unwrap().have_count(), 4);
}

#[test]
fn mtime_change_invalidates() {
    let f = fixture();
    let (data, _) = saved(&f);
    let file = std::fs::File::options()
        .write(true)
        .open(f.path_of(3))
        .unwrap();
    file.set_modified(SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    assert!(!data.valid_for(&f.meta, f.root()));
}

#[test]
fn size_change_deletion_and_other_torrents_invalidate() {
    let f = fixture();
    let (data, _) = saved(&f);
    std::fs::remove_file(f.path_of(0)).unwrap();
    assert!(!data.valid_for(&f.meta, f.root()));

    let f = fixture();
    let (data, _) = saved(&f);
    let file = std::fs::File::options()
        .write(true)
        .open(f.path_of(0))
        .unwrap();
    let mtime = file.metadata().unwrap().modified().unwrap();
    file.set_len(10).unwrap();
    file.set_modified(mtime).unwrap(); // same mtime, other size
    assert!(!data.valid_for(&f.meta, f.root()));

    let f = fixture();
    let (data, _) = saved(&f);
    let mut other = f.meta.clone();
    other.info_hashes.v1 = Some(seedcore_protocol::metainfo::InfoHashV1([7; 20]));
    assert!(!data.valid_for(&other, f.root()));
    let mut fewer = data.clone();
    fewer.have.pop();
    assert!(!fewer.valid_for(&f.meta, f.root()));
}

#[test]
fn a_file_missing_then_and_now_stays_valid() {
    let f = fixture();
    std::fs::remove_file(f.path_of(3)).unwrap();
    let (data, _) = saved(&f);
    assert_eq!(data.files[3], None);
    assert_eq!(data.have_count(), 3); // pieces 0..3 hold only file a and the pad
    assert!(data.valid_for(&f.meta, f.root()));
    std::fs::write(f.path_of(3), pattern(2000, 2)).unwrap();
    assert!(!data.valid_for(&f.meta, f.root()));
}

#[test]
fn corrupt_files_are_errors_not_crashes() {
    let f = fixture();
    let (data, path) = saved(&f);
    let good = std::fs::read(&path).unwrap();

    // A flipped bit inside the payload: the checksum catches it.
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 3] ^= 1;
    std::fs::write(&path, &bad).unwrap();
    let e = ResumeData::load(&path).unwrap_err();
    assert!(matches!(e, ResumeError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains("verified again"));

    for cut in [0, 1, 10, good.len() / 2, good.len() - 1] {
        std::fs::write(&path, &good[..cut]).unwrap();
        assert!(
            matches!(ResumeData::load(&path), Err(ResumeError::Malformed { .. })),
            "cut {cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"de");
    assert!(ResumeData::decode(&trailing).is_err());

    // Another version's file.
    let mut v2 = data.clone();
    v2.version = FORMAT_VERSION + 1;
    assert!(matches!(
        ResumeData::decode(&v2.encode()),
        Err(ResumeError::Version { .. })
    ));

    // Absurdly large: refused before reading.
    let big = std::fs::File::create(&path).unwrap();
    big.set_len(seedcore_storage::resume::MAX_RESUME_BYTES + 1)
        .unwrap();
    assert!(matches!(
        ResumeData::load(&path),
        Err(ResumeError::TooLarge { .. })
    ));
    assert!(matches!(
        ResumeData::load(&f.root().join("absent")),
        Err(ResumeError::Io { .. })
    ));
}

#[test]
fn the_format_is_readable_bencode() {
    let f = fixture();
    let (data, _) = saved(&f);
    let bytes = data.encode();
    assert!(bytes.starts_with(b"d8:checksum32:"));
    let payload_at = bytes
        .windows(8)
        .position(|w| w == b"payload:" || w == b"7:payloa")
        .unwrap();
    assert!(payload_at > 0);
    let text = String::from_utf8_lossy(&bytes);
    for key in [
        "5:files",
        "4:have",
        "12:info hash v1",
        "11:piece count",
        "12:piece length",
        "7:version",
    ] {
        assert!(text.contains(key), "{key}");
    }
}

proptest! {
    #[test]
    fn decode_never_panics_on_garbage(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = ResumeData::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mutations(pos in 0usize..10_000, byte in any::<u8>(), cut in 0usize..10_000) {
        let data = ResumeData {
            version: FORMAT_VERSION,
            info_hash_v1: Some([1; 20]),
            info_hash_v2: None,
            piece_length: 16384,
            files: vec![None, Some(seedcore_storage::FileStamp { size: 5, mtime_secs: -3, mtime_nanos: 999_999_999 })],
            have: vec![true, false, true],
        };
        let mut bytes = data.encode();
        prop_assert_eq!(ResumeData::decode(&bytes).unwrap(), data);
        let i = pos % bytes.len();
        bytes[i] = byte;
        bytes.truncate(cut.max(1));
        let _ = ResumeData::decode(&bytes);
    }
}
