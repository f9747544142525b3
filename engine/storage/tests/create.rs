//! Torrent creation: scanning rules, and hashes compared with what
//! libtorrent 2.0.8 and mktorrent 1.1 produce for the same files
//! (tests/data/create_vectors.txt, made by create_vectors.py).
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use seedcore_storage::create::{self, auto_piece_length, CreateMode, HashedContent, SkipReason};
use seedcore_storage::{verify, StorageError, VerifyOptions};

const VECTORS: &str = include_str!("data/create_vectors.txt");

fn mode_of(s: &str) -> CreateMode {
    match s {
        "v1" => CreateMode::V1,
        "v2" => CreateMode::V2,
        "hybrid" => CreateMode::Hybrid,
        other => panic!("unknown mode {other}"),
    }
}

/// A file's path as the torrent lists it (below the name for a folder).
fn listed_path(c: &HashedContent, path: &[String]) -> String {
    if c.single_file {
        path.join("/")
    } else {
        path[1..].join("/")
    }
}

#[test]
fn hashes_match_libtorrent_and_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    common::write_vector_data(dir.path());
    let mut checked = 0;
    let mut cache: Vec<((String, String, u32), HashedContent)> = Vec::new();
    for line in VECTORS.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (kind, mode, src, pl) = (f[0], f[1], f[2], f[3].parse::<u32>().unwrap());
        let key = (mode.to_string(), src.to_string(), pl);
        if !cache.iter().any(|(k, _)| *k == key) {
            let scanned = create::scan(&dir.path().join(src)).unwrap();
            let c = create::hash(&scanned, pl, mode_of(mode), 2, None).unwrap();
            // Whatever was created verifies against its own data.
            let meta = common::metainfo(c.info(), c.piece_layers());
            let r = verify(&meta, &scanned.base, &VerifyOptions::default()).unwrap();
            assert!(r.all_good(), "{key:?}: {:?}", r.bad_pieces);
            cache.push((key.clone(), c));
        }
        let c = &cache.iter().find(|(k, _)| *k == key).unwrap().1;
        match kind {
            "files" => {
                let got: Vec<String> = c
                    .files
                    .iter()
                    .map(|e| {
                        format!(
                            "{}:{}:{}",
                            listed_path(c, &e.path),
                            e.length,
                            if e.pad { "p" } else { "" }
                        )
                    })
                    .collect();
                assert_eq!(got.join(","), f[4], "{key:?}");
            }
            "pieces" => {
                let got: String = c.pieces.iter().map(hex::encode).collect();
                assert_eq!(got, f[4], "{key:?}");
            }
            "root" => {
                let e = c
                    .files
                    .iter()
                    .find(|e| !e.pad && listed_path(c, &e.path) == f[4])
                    .unwrap_or_else(|| panic!("{key:?}: no file {}", f[4]));
                assert_eq!(e.length.to_string(), f[5]);
                let root = e.pieces_root.map_or("-".to_string(), hex::encode);
                assert_eq!(root, f[6], "{key:?} root of {}", f[4]);
                let layer: String = e.piece_layer.iter().map(hex::encode).collect();
                assert_eq!(
                    if layer.is_empty() { "-" } else { &layer },
                    f[7],
                    "{key:?} layer of {}",
                    f[4]
                );
            }
            other => panic!("unknown line kind {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 36, "vector lines checked");
    // The v2 file order is the file tree's; v1 is mktorrent's.
    let v2 = &cache
        .iter()
        .find(|(k, _)| k.0 == "v2" && k.1 == "t")
        .unwrap()
        .1;
    let order: Vec<String> = v2.files.iter().map(|e| listed_path(v2, &e.path)).collect();
    assert_eq!(order, ["a", "b/c", "b/empty", "b-x", "d", "e"]);
    assert!(v2.pieces.is_empty());
}

#[test]
fn scan_orders_by_full_path_bytes_like_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    for p in [
        "a/x",
        "a/sub/deep",
        "a-b",
        "a.c/y",
        "B/q",
        "Z",
        ".hid/h",
        "ä",
        "empty",
    ] {
        let p = t.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(
            &p,
            if p.ends_with("empty") {
                &b""[..]
            } else {
                &b"data"[..]
            },
        )
        .unwrap();
    }
    let s = create::scan(&t).unwrap();
    let got: Vec<String> = s.files.iter().map(|f| f.path[1..].join("/")).collect();
    // Exactly the order mktorrent 1.1 wrote for this tree.
    assert_eq!(
        got,
        [
            ".hid/h",
            "B/q",
            "Z",
            "a-b",
            "a.c/y",
            "a/sub/deep",
            "a/x",
            "empty",
            "ä"
        ]
    );
    assert_eq!(s.name, "t");
    assert!(!s.single_file);
    assert_eq!(s.base, dir.path());
    assert!(s.files.iter().all(|f| f.path[0] == "t"));
    assert_eq!(s.total_length(), 8 * 4);
}

#[cfg(unix)]
#[test]
fn scan_follows_symlinks_and_skips_special_files() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("sub/real"), b"12345").unwrap();
    std::os::unix::fs::symlink("sub/real", t.join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", t.join("dangling")).unwrap();
    std::os::unix::fs::symlink("..", t.join("sub/loop")).unwrap();
    std::fs::write(t.join(std::ffi::OsStr::from_bytes(b"bad\xffname")), b"x").unwrap();
    let fifo = t.join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let s = create::scan(&t).unwrap();
    let got: Vec<String> = s.files.iter().map(|f| f.path[1..].join("/")).collect();
    assert_eq!(got, ["link", "sub/real"]);
    let mut reasons: Vec<(String, SkipReason)> = s
        .skipped
        .iter()
        .map(|k| {
            (
                k.path.file_name().unwrap().to_string_lossy().into_owned(),
                k.reason,
            )
        })
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        reasons,
        [
            ("bad\u{fffd}name".to_string(), SkipReason::NonUtf8Name),
            ("dangling".to_string(), SkipReason::DanglingSymlink),
            ("fifo".to_string(), SkipReason::SpecialFile),
            ("loop".to_string(), SkipReason::SymlinkCycle),
        ]
    );
}

#[test]
fn scan_single_file_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("one.bin"), b"abc").unwrap();
    let s = create::scan(&dir.path().join("one.bin")).unwrap();
    assert!(s.single_file);
    assert_eq!(s.files.len(), 1);
    assert_eq!(s.files[0].path, ["one.bin"]);
    assert_eq!(s.name, "one.bin");

    std::fs::create_dir(dir.path().join("empty_dir")).unwrap();
    assert!(matches!(
        create::scan(&dir.path().join("empty_dir")),
        Err(StorageError::NoFiles { .. })
    ));
    std::fs::create_dir(dir.path().join("zeros")).unwrap();
    std::fs::write(dir.path().join("zeros/z"), b"").unwrap();
    assert!(matches!(
        create::scan(&dir.path().join("zeros")),
        Err(StorageError::EmptyContent { .. })
    ));
    assert!(matches!(
        create::scan(&dir.path().join("absent")),
        Err(StorageError::Io { .. })
    ));
    // "." is named after the folder it stands for.
    let s = create::scan(&dir.path().join("empty_dir/../zeros/..")).unwrap();
    assert_eq!(s.name, dir.path().file_name().unwrap().to_str().unwrap());
}

#[test]
fn hash_refuses_bad_piece_lengths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), common::pattern(1000, 1)).unwrap();
    let s = create::scan(&dir.path().join("f")).unwrap();
    for (pl, mode) in [
        (512, CreateMode::V1),
        (1 << 29, CreateMode::V1),
        (8192, CreateMode::V2),
        (49152, CreateMode::Hybrid),
    ] {
        assert!(
            matches!(
                create::hash(&s, pl, mode, 1, None),
                Err(StorageError::BadPieceLength { .. })
            ),
            "{pl} {mode:?}"
        );
    }
    // v1 accepts any length in range, even one that is not a power of two.
    let c = create::hash(&s, 1500, CreateMode::V1, 1, None).unwrap();
    assert_eq!(
        c.pieces,
        vec![seedcore_hash::sha1(&common::pattern(1000, 1))]
    );
}

#[test]
fn hash_is_the_same_on_any_thread_count_and_reports_progress() {
    let (f, _) = common::created_fixture(
        16384,
        CreateMode::Hybrid,
        &[
            ("x", common::pattern(300_000, 2)),
            ("y/z", common::pattern(5, 3)),
        ],
    );
    let s = create::scan(&f.root().join("t")).unwrap();
    let one = create::hash(&s, 16384, CreateMode::Hybrid, 1, None).unwrap();
    let seen = AtomicU64::new(0);
    let cb = |n: u64| {
        seen.fetch_add(n, Ordering::Relaxed);
    };
    let many = create::hash(&s, 16384, CreateMode::Hybrid, 5, Some(&cb)).unwrap();
    assert_eq!(one, many);
    assert_eq!(seen.load(Ordering::Relaxed), many.total_length);
    assert_eq!(many.total_length % 16384, 0); // tail padding
}

#[test]
fn hash_notices_a_file_that_changed_after_scan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/a"), b"12345").unwrap();
    std::fs::write(dir.path().join("t/b"), b"678").unwrap();
    let s = create::scan(&dir.path().join("t")).unwrap();
    std::fs::write(dir.path().join("t/b"), b"6789").unwrap();
    let e = create::hash(&s, 16384, CreateMode::V1, 1, None).unwrap_err();
    assert!(matches!(e, StorageError::FileChanged { .. }), "{e}");
    assert!(e.to_string().contains("run create again"));
}

#[test]
fn auto_piece_length_is_usable_for_every_mode() {
    for total in [1u64, 1 << 20, 300 << 20, 5 << 30, 1 << 45] {
        let pl = auto_piece_length(total);
        assert!(pl.is_power_of_two() && (16384..=16 << 20).contains(&pl));
    }
}
