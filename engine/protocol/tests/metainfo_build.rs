//! `TorrentBuilder`: what it refuses (each mistake named) and the top-level
//! keys it writes.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod metainfo_support;

use metainfo_support::{decode, pattern, v2_hashes};
use seedcore_protocol::bencode::OwnedValue as Value;
use seedcore_protocol::metainfo::build::{BuildError, TorrentBuilder};
use seedcore_protocol::metainfo::{FileAttr, MetaVersion, MetainfoError};

fn p(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

/// Two small files (one piece each) as v1, with the right piece count.
fn v1_two() -> TorrentBuilder {
    TorrentBuilder::new("t", 16384)
        .file(p(&["a"]), 10)
        .file(p(&["b"]), 10)
        .v1_pieces(vec![[0; 20]])
}

#[track_caller]
fn file_error(b: &TorrentBuilder, index: usize, needle: &str) {
    match b.build() {
        Err(BuildError::File {
            index: i, reason, ..
        }) => {
            assert_eq!(i, index, "{reason}");
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}");
        }
        other => panic!("expected a file error, got {other:?}"),
    }
}

#[test]
fn refuses_bad_input() {
    assert_eq!(
        TorrentBuilder::new("t", 16384).build(),
        Err(BuildError::NoFiles)
    );
    assert!(matches!(
        TorrentBuilder::new("a/b", 16384)
            .file(vec![], 1)
            .v1_pieces(vec![[0; 20]])
            .build(),
        Err(BuildError::Name { .. })
    ));
    assert!(matches!(
        TorrentBuilder::new("t", 1000)
            .file(vec![], 1)
            .v1_pieces(vec![[0; 20]])
            .build(),
        Err(BuildError::PieceLength {
            piece_length: 1000,
            ..
        })
    ));
    assert!(matches!(
        TorrentBuilder::new("t", 24576)
            .version(MetaVersion::V2)
            .file(vec![], 1)
            .v2_file(0, [1; 32], vec![])
            .build(),
        Err(BuildError::PieceLength { .. })
    ));
    file_error(&v1_two().file(p(&["c", ".."]), 0), 2, "not allowed");
    file_error(&v1_two().file(vec![], 0), 2, "empty path");
    file_error(&v1_two().file(p(&["a"]), 0), 2, "listed twice");
    file_error(&v1_two().file(p(&["a", "x"]), 0), 2, "inside file 0");
    let pad = FileAttr {
        pad: true,
        ..FileAttr::default()
    };
    file_error(&v1_two().file_with_attr(p(&["c"]), 0, pad), 2, "pad");
    assert_eq!(
        v1_two().v1_pieces(vec![]).build(),
        Err(BuildError::V1Pieces {
            expected: 1,
            got: 0
        })
    );
    assert!(matches!(
        v1_two().v2_file(0, [1; 32], vec![]).build(),
        Err(BuildError::Version(_))
    ));
}

#[test]
fn refuses_bad_v2_input() {
    let v2 = || TorrentBuilder::new("t", 16384).version(MetaVersion::V2);
    file_error(
        &v2().file(p(&["b"]), 1).file(p(&["a"]), 1),
        1,
        "out of order",
    );
    file_error(&v2().file(p(&["a"]), 1), 0, "no v2 pieces root");
    file_error(
        &v2()
            .file(p(&["a"]), 40000)
            .v2_file(0, [1; 32], vec![[2; 32]]),
        0,
        "piece layer has 1 hashes",
    );
    assert!(matches!(
        v2().file(p(&["a"]), 1)
            .v2_file(0, [1; 32], vec![])
            .v2_file(3, [1; 32], vec![])
            .build(),
        Err(BuildError::Version(_))
    ));
    assert!(matches!(
        v2().file(p(&["a"]), 1)
            .v2_file(0, [1; 32], vec![])
            .v1_pieces(vec![[0; 20]])
            .build(),
        Err(BuildError::Version(_))
    ));
    // A layer that does not hash to its root is caught by the parse-back.
    let err = v2()
        .file(p(&["a"]), 40000)
        .v2_file(0, [1; 32], vec![[2; 32]; 3])
        .build()
        .unwrap_err();
    match err {
        BuildError::Invalid(MetainfoError::Invalid { field, reason }) => {
            assert!(field.starts_with("piece layers["), "{field}");
            assert!(reason.contains("do not hash up"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn writes_top_level_keys() {
    let one = TorrentBuilder::new("t", 16384)
        .file(vec![], 5)
        .v1_pieces(vec![[0; 20]])
        .tracker("http://a/announce")
        .web_seed("http://w/")
        .created_by("seedcore test")
        .creation_date(1_700_000_000)
        .comment("hi");
    let Value::Dict(top) = decode(&one.build().unwrap()) else {
        panic!()
    };
    let keys: Vec<&[u8]> = top.keys().map(Vec::as_slice).collect();
    assert_eq!(
        keys,
        vec![
            &b"announce"[..],
            b"comment",
            b"created by",
            b"creation date",
            b"info",
            b"url-list"
        ]
    );
    assert_eq!(top[&b"url-list"[..]], Value::str("http://w/"));

    let many = one
        .tracker_tier(vec!["http://b/1".into(), "http://b/2".into()])
        .tracker_tier(vec![])
        .web_seed("http://w2/");
    let (_, m) = many.build_metainfo().unwrap();
    assert_eq!(m.announce.as_deref(), Some("http://a/announce"));
    assert_eq!(
        m.announce_list,
        vec![p(&["http://a/announce"]), p(&["http://b/1", "http://b/2"])]
    );
    assert_eq!(m.url_list, p(&["http://w/", "http://w2/"]));
    assert_eq!(m.created_by.as_deref(), Some("seedcore test"));
    assert_eq!(m.creation_date, Some(1_700_000_000));
    assert_eq!(m.comment.as_deref(), Some("hi"));
}

#[test]
fn executable_single_file_keeps_attr() {
    let data = pattern(100, 9);
    let (root, _) = v2_hashes(&data, 16384);
    let exec = FileAttr {
        executable: true,
        ..FileAttr::default()
    };
    for version in [MetaVersion::V1, MetaVersion::V2, MetaVersion::Hybrid] {
        let mut b = TorrentBuilder::new("run", 16384)
            .version(version)
            .file_with_attr(vec![], 100, exec);
        if version != MetaVersion::V2 {
            b = b.v1_pieces(vec![seedcore_hash::sha1(&data)]);
        }
        if version != MetaVersion::V1 {
            b = b.v2_file(0, root, vec![]);
        }
        let (_, m) = b.build_metainfo().unwrap();
        assert!(m.info.files[0].attr.executable, "{version:?}");
        assert_eq!(m.info.files[0].path, p(&["run"]));
    }
}

#[test]
fn hybrid_pads_follow_libtorrent() {
    // Three files, 16 KiB pieces: pads after every unaligned non-empty file,
    // the last one included; none after an aligned or empty file.
    let lens = [5u64, 16384, 0, 7];
    let mut b = TorrentBuilder::new("t", 16384).version(MetaVersion::Hybrid);
    for (i, (name, len)) in ["a", "b", "c", "d"].iter().zip(lens).enumerate() {
        b = b.file(p(&[name]), len);
        if len > 0 {
            b = b.v2_file(i, [i as u8; 32], vec![]);
        }
    }
    let (_, m) = b.v1_pieces(vec![[0; 20]; 3]).build_metainfo().unwrap();
    let shape: Vec<(String, u64, bool)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path[1..].join("/"), f.length, f.attr.pad))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("a".to_owned(), 5, false),
            (".pad/16379".to_owned(), 16379, true),
            ("b".to_owned(), 16384, false),
            ("c".to_owned(), 0, false),
            ("d".to_owned(), 7, false),
            (".pad/16377".to_owned(), 16377, true),
        ]
    );
    assert_eq!(m.info.total_length, 3 * 16384);
}
