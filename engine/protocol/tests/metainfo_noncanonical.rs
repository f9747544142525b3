//! Non-canonical torrents: unsorted keys, repeated keys, leading zeros, `-0`,
//! long integers. Each file in `tests/data/noncanonical/` was written by
//! `make.py` there, which also recorded what libtorrent 2.0.8 does with it;
//! we must load exactly what libtorrent loads, with the same info-hashes
//! (computed over the info dictionary's bytes as they are in the file), and
//! refuse what it refuses.

// Test code: a failed expectation should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use seedcore_protocol::metainfo::{Metainfo, MetainfoError};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/noncanonical")
}

/// (file, libtorrent's verdict: the fields after the file name).
fn expected() -> Vec<(String, Vec<String>)> {
    std::fs::read_to_string(dir().join("expected.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(' ').map(str::to_owned);
            (f.next().unwrap(), f.collect())
        })
        .collect()
}

fn load(file: &str) -> (Vec<u8>, Result<Metainfo, MetainfoError>) {
    let bytes = std::fs::read(dir().join(file)).unwrap();
    let parsed = Metainfo::from_bytes(&bytes);
    (bytes, parsed)
}

#[test]
fn we_load_what_libtorrent_loads() {
    let all = expected();
    assert_eq!(all.len(), 30);
    for (file, lt) in all {
        let (_, parsed) = load(&file);
        match lt.first().map(String::as_str) {
            Some("ok") => {
                let m = parsed.unwrap_or_else(|e| panic!("{file}: {e}"));
                let hex = |h: Option<String>| h.unwrap_or_else(|| "-".into());
                assert_eq!(
                    hex(m.info_hashes.v1.map(|h| h.to_string())),
                    lt[1],
                    "{file}"
                );
                assert_eq!(
                    hex(m.info_hashes.v2.map(|h| h.to_string())),
                    lt[2],
                    "{file}"
                );
                assert_eq!(m.info.name, lt[3], "{file}");
                let real: Vec<_> = m.info.files.iter().filter(|f| !f.attr.pad).collect();
                assert_eq!(real.len().to_string(), lt[4], "{file}");
                let size: u64 = real.iter().map(|f| f.length).sum();
                assert_eq!(size.to_string(), lt[5], "{file}");
                // The hash is over the info dictionary exactly as written.
                assert_eq!(
                    m.info_hashes.v1.map(|h| h.0),
                    m.info_hashes.v1.map(|_| seedcore_hash::sha1(&m.info_bytes)),
                    "{file}"
                );
            }
            Some("rejected") => {
                let err = parsed.expect_err(&file);
                let msg = err.to_string();
                match lt[1].as_str() {
                    // libtorrent's "soft error" check of v2 info dictionaries.
                    "invalid_bencoding" => {
                        assert_eq!(err.field(), Some("info"), "{file}: {msg}");
                        assert!(msg.contains("not canonical bencode"), "{file}: {msg}");
                    }
                    "integer_overflow" => {
                        assert!(
                            matches!(err, MetainfoError::Bencode { .. }),
                            "{file}: {msg}"
                        );
                        assert!(msg.contains("invalid number"), "{file}: {msg}");
                    }
                    other => panic!("{file}: unexpected libtorrent error {other}"),
                }
            }
            other => panic!("{file}: bad line {other:?}"),
        }
    }
}

#[test]
fn unsorted_info_is_hashed_as_written() {
    let (bytes, parsed) = load("v1-unsorted-info.torrent");
    let m = parsed.unwrap();
    let start = bytes.windows(6).position(|w| w == b"4:info").unwrap() + 6;
    let info = &bytes[start..bytes.len() - 1];
    assert!(info.starts_with(b"d4:name1:a6:lengthi5e"));
    assert_eq!(m.info_bytes, info);
    let want = seedcore_hash::sha1(info);
    assert_eq!(m.info_hashes.v1.unwrap().0, want);
    // libtorrent's value, and not the hash of the sorted re-encoding
    // (0a9e3e27..., which Transmission 3.00 and aria2 1.36 compute instead).
    assert_eq!(
        m.info_hashes.v1.unwrap().to_string(),
        "ac697e185a9b65130976571a663a2e5f5b2217ef"
    );
    let (_, sorted) = load("v1-canonical.torrent");
    assert_eq!(sorted.unwrap().info, m.info);
    // A bare info dictionary (ut_metadata) gives the same.
    let bare = Metainfo::from_info_bytes(info).unwrap();
    assert_eq!(bare.info_hashes, m.info_hashes);
}

#[test]
fn repeated_keys_first_wins() {
    let (_, m) = load("v1-duplicate-length.torrent");
    assert_eq!(m.unwrap().info.total_length, 5);
    let (_, m) = load("v1-duplicate-info.torrent");
    let m = m.unwrap();
    assert_eq!((m.info.name.as_str(), m.info.total_length), ("first", 5));
    assert!(m.info_bytes.ends_with(b"6:pieces20:AAAAAAAAAAAAAAAAAAAAe"));
    let (_, m) = load("v1-multi-unsorted-files.torrent");
    let m = m.unwrap();
    let files: Vec<(String, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.join("/"), f.length))
        .collect();
    assert_eq!(files, [("multi/x".into(), 3), ("multi/y".into(), 2)]);
}

#[test]
fn v2_must_be_canonical() {
    let (_, m) = load("v2-tree-unsorted.torrent");
    let msg = m.unwrap_err().to_string();
    assert!(
        msg.starts_with("info: not canonical bencode: key \"a\""),
        "{msg}"
    );
    assert!(msg.contains("comes after \"b\""), "{msg}");
    let (_, m) = load("hybrid-tree-duplicate.torrent");
    let msg = m.unwrap_err().to_string();
    assert!(msg.contains("appears twice"), "{msg}");
    // Only the info dictionary is held to it, as in libtorrent.
    let (_, top) = load("v2-top-unsorted.torrent");
    let (_, canonical) = load("v2-canonical.torrent");
    assert_eq!(top.unwrap().info_hashes, canonical.unwrap().info_hashes);
}
