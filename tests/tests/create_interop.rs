//! `seedcore create` against the reference torrent makers.
//!
//! A v1 info-hash is the SHA-1 of the bencoded info dictionary, so two
//! makers agree only if they pick the same keys, the same file order and the
//! same piece hashes: comparing with mktorrent and libtorrent on the same
//! files is the strongest check that our torrents are the ones everyone
//! else would make. BEP 52 makes a v2 info dictionary canonical (a file
//! tree in key order), so v2 hashes must match libtorrent's too. Every
//! torrent we write must also load in libtorrent with the hashes that
//! `seedcore info` reports.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use seedcore_tests::*;
use std::fs;
use std::path::Path;

/// 32 KiB: many pieces from a few MiB, and mktorrent's smallest (`-l 15`).
const SMALL_LOG2: u32 = 15;
/// 256 KiB: pieces that span several files.
const LARGE_LOG2: u32 = 18;

fn v1_hash(info: &serde_json::Value) -> String {
    json_opt_hex(info, "info_hash_v1").expect("a v1 torrent has a v1 info-hash")
}

/// seedcore, mktorrent and libtorrent (files in mktorrent's order) give one
/// v1 info-hash for `shape`, at two piece sizes.
fn v1_agrees(shape: Shape, name: &str) {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), name, shape, 11);
    for log2 in [SMALL_LOG2, LARGE_LOG2] {
        let piece = 1u32 << log2;
        let ours = tmp.path().join(format!("ours-{log2}.torrent"));
        let mk = tmp.path().join(format!("mk-{log2}.torrent"));
        let lt = tmp.path().join(format!("lt-{log2}.torrent"));

        let info = seedcore_create(&top, &ours, &["--v1", "--piece-size", &piece.to_string()]);
        mktorrent(&top, log2, &mk, &[]);
        let lt_made = lt_create(LtMode::V1, piece, &lt, &top);

        let ours_hash = v1_hash(&info);
        let mk_hash = json_opt_hex(&lt_info(&mk), "v1").unwrap();
        let lt_hash = json_opt_hex(&lt_made, "v1").unwrap();
        assert_eq!(
            ours_hash, mk_hash,
            "{shape:?}, piece {piece}: seedcore vs mktorrent"
        );
        assert_eq!(
            ours_hash, lt_hash,
            "{shape:?}, piece {piece}: seedcore vs libtorrent"
        );
        assert_eq!(json_u64(&info, "piece_length"), u64::from(piece));
    }
}

#[test]
fn v1_single_file_matches_mktorrent_and_libtorrent() {
    v1_agrees(Shape::SingleFile, "single.bin");
}

#[test]
fn v1_flat_folder_matches_mktorrent_and_libtorrent() {
    v1_agrees(Shape::Flat, "flat");
}

/// Nested folders hit the ordering trap (`a.txt` before `a/x` when sorting
/// path bytes). libtorrent's own `add_files` keeps directory-listing order,
/// so lt_create.py hands it the files in mktorrent's order explicitly.
#[test]
fn v1_nested_folders_match_mktorrent_and_libtorrent() {
    v1_agrees(Shape::Nested, "nested");
}

/// `private` and `source` live inside the info dictionary, so they change
/// the info-hash: ours must change it exactly as mktorrent does.
#[test]
fn private_and_source_match_mktorrent() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "flat", Shape::Flat, 12);
    let piece = (1u32 << SMALL_LOG2).to_string();
    let cases: [(&[&str], &[&str]); 3] = [
        (&["--private"], &["-p"]),
        (&["--source", "SEEDCORE-TEST"], &["-s", "SEEDCORE-TEST"]),
        (&["--private", "--source", "X"], &["-p", "-s", "X"]),
    ];
    let plain = v1_hash(&seedcore_create(
        &top,
        &tmp.path().join("plain.torrent"),
        &["--v1", "--piece-size", &piece],
    ));
    for (i, (ours_flags, mk_flags)) in cases.iter().enumerate() {
        let ours = tmp.path().join(format!("ours-{i}.torrent"));
        let mk = tmp.path().join(format!("mk-{i}.torrent"));
        let mut flags = vec!["--v1", "--piece-size", &piece];
        flags.extend_from_slice(ours_flags);
        let info = seedcore_create(&top, &ours, &flags);
        mktorrent(&top, SMALL_LOG2, &mk, mk_flags);
        let lt = lt_info(&ours);
        assert_eq!(
            Some(v1_hash(&info)),
            json_opt_hex(&lt_info(&mk), "v1"),
            "flags {ours_flags:?} vs mktorrent {mk_flags:?}"
        );
        assert_eq!(json_opt_hex(&lt, "v1"), Some(v1_hash(&info)));
        assert_ne!(
            v1_hash(&info),
            plain,
            "{ours_flags:?} must change the info-hash"
        );
        let private = ours_flags.contains(&"--private");
        assert_eq!(info["private"], serde_json::Value::Bool(private));
        assert_eq!(lt["private"], serde_json::Value::Bool(private));
    }
}

/// Trackers, web seeds and the comment live outside the info dictionary:
/// they must not change the info-hash, and libtorrent must read them back
/// with each `--tracker` in its own tier (BEP 12).
#[test]
fn trackers_webseeds_and_comment_round_trip_through_libtorrent() {
    let tmp = temp_dir();
    let (top, _) = make_tree(
        &tmp.path().join("data"),
        "single.bin",
        Shape::SingleFile,
        13,
    );
    let bare = seedcore_create(&top, &tmp.path().join("bare.torrent"), &["--hybrid"]);
    let t1 = "http://127.0.0.1:6969/announce";
    let t2 = "udp://tracker.example:1337/announce";
    let ws = "https://mirror.example/files/";
    let out = tmp.path().join("full.torrent");
    let info = seedcore_create(
        &top,
        &out,
        &[
            "--hybrid",
            "--tracker",
            t1,
            "--tracker",
            t2,
            "--webseed",
            ws,
            "--comment",
            "a comment",
            "--created-by",
            "seedcore-tests",
        ],
    );
    assert_eq!(info["info_hash_v1"], bare["info_hash_v1"]);
    assert_eq!(info["info_hash_v2"], bare["info_hash_v2"]);
    assert_eq!(info["trackers"], serde_json::json!([[t1], [t2]]));
    assert_eq!(info["webseeds"], serde_json::json!([ws]));
    assert_eq!(json_str(&info, "comment"), "a comment");
    assert_eq!(json_str(&info, "created_by"), "seedcore-tests");
    assert!(info["creation_date"].is_null(), "--no-date: {info}");

    let lt = lt_info(&out);
    assert_eq!(
        lt["trackers"],
        serde_json::json!([{"url": t1, "tier": 0}, {"url": t2, "tier": 1}])
    );
    assert_eq!(lt["web_seeds"], serde_json::json!([ws]));
}

/// Every mode we write loads in libtorrent with the info-hashes, piece
/// count and files that `seedcore info` reports.
fn loads_in_libtorrent(shape: Shape, name: &str, piece: Option<u32>) {
    let tmp = temp_dir();
    let (top, files) = make_tree(&tmp.path().join("data"), name, shape, 14);
    let expected = torrent_paths(name, shape, &files);
    for mode in LtMode::ALL {
        let out = tmp.path().join(format!("{}.torrent", mode.name()));
        let piece_arg = piece.map_or("auto".to_string(), |p| p.to_string());
        let info = seedcore_create(
            &top,
            &out,
            &[mode.seedcore_flag(), "--piece-size", &piece_arg],
        );
        let lt = lt_info(&out);
        let ctx = format!("{shape:?} {}", mode.name());
        assert_eq!(json_str(&info, "version"), mode.name(), "{ctx}");
        assert_eq!(
            json_opt_hex(&info, "info_hash_v1"),
            json_opt_hex(&lt, "v1"),
            "{ctx}"
        );
        assert_eq!(
            json_opt_hex(&info, "info_hash_v2"),
            json_opt_hex(&lt, "v2"),
            "{ctx}"
        );
        assert_eq!(
            json_opt_hex(&info, "info_hash_v1").is_some(),
            mode != LtMode::V2,
            "{ctx}"
        );
        assert_eq!(
            json_opt_hex(&info, "info_hash_v2").is_some(),
            mode != LtMode::V1,
            "{ctx}"
        );
        assert_eq!(info["piece_count"], lt["num_pieces"], "{ctx}");
        assert_eq!(info["piece_length"], lt["piece_length"], "{ctx}");
        assert_eq!(json_str(&info, "name"), name, "{ctx}");
        assert_eq!(json_str(&lt, "name"), name, "{ctx}");
        let piece_length = json_u64(&info, "piece_length");
        if let Some(p) = piece {
            assert_eq!(piece_length, u64::from(p), "{ctx}");
        }
        if mode != LtMode::V1 {
            assert!(
                piece_length.is_power_of_two() && piece_length >= 16_384,
                "{ctx}: v2 piece length {piece_length}"
            );
        }

        // The real files, in order, are what we made, for both readers.
        let real: Vec<(String, u64)> = json_files(&info, false)
            .into_iter()
            .map(|(p, l, _)| (p, l))
            .collect();
        let lt_real: Vec<(String, u64)> = json_files(&lt, false)
            .into_iter()
            .map(|(p, l, _)| (p, l))
            .collect();
        assert_eq!(real, lt_real, "{ctx}: files as libtorrent reads them");
        let mut sorted = real.clone();
        sorted.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(sorted, want, "{ctx}: the files on disk");
        if mode == LtMode::V1 {
            assert_eq!(real, expected, "v1 lists files in path-byte order");
        }
        if mode != LtMode::V2 {
            // v1 lists, pad files included, are the same list.
            assert_eq!(
                json_files(&info, true),
                json_files(&lt, true),
                "{ctx}: with pads"
            );
            assert_eq!(info["total_length"], lt["total_size"], "{ctx}");
        }
    }
}

#[test]
fn single_file_torrents_of_every_mode_load_in_libtorrent() {
    loads_in_libtorrent(Shape::SingleFile, "single.bin", Some(1 << SMALL_LOG2));
}

#[test]
fn nested_torrents_of_every_mode_load_in_libtorrent() {
    loads_in_libtorrent(Shape::Nested, "nested", Some(1 << SMALL_LOG2));
}

#[test]
fn auto_piece_size_torrents_load_in_libtorrent() {
    loads_in_libtorrent(Shape::Flat, "flat", None);
}

/// BEP 52's info dictionary is canonical (file tree in key order, no
/// optional keys here), so a v2 torrent of the same files, name and piece
/// size must have exactly libtorrent's v2 info-hash.
#[test]
fn v2_info_hash_matches_libtorrent() {
    let tmp = temp_dir();
    for (shape, name) in [
        (Shape::SingleFile, "single.bin"),
        (Shape::Flat, "flat"),
        (Shape::Nested, "nested"),
    ] {
        let (top, _) = make_tree(&tmp.path().join("data"), name, shape, 15);
        for log2 in [SMALL_LOG2, LARGE_LOG2] {
            let piece = 1u32 << log2;
            let ours = tmp.path().join(format!("{name}-{log2}-ours.torrent"));
            let lt = tmp.path().join(format!("{name}-{log2}-lt.torrent"));
            let info = seedcore_create(&top, &ours, &["--v2", "--piece-size", &piece.to_string()]);
            let lt_made = lt_create(LtMode::V2, piece, &lt, &top);
            assert_eq!(
                json_opt_hex(&info, "info_hash_v2"),
                json_opt_hex(&lt_made, "v2"),
                "{shape:?}, piece {piece}"
            );
            assert_eq!(
                info["piece_count"], lt_made["num_pieces"],
                "{shape:?}, piece {piece}"
            );
        }
    }
}

/// Without `-o` the torrent is `<name>.torrent` in the current folder, and
/// the command prints the info-hashes and the magnet link.
#[test]
fn default_output_name_and_printout() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "flat", Shape::Flat, 16);
    let out = seedcore()
        .arg("create")
        .arg(&top)
        .arg("--hybrid")
        .cwd(tmp.path())
        .run();
    out.expect_code(0).expect_no_panic();
    let torrent = tmp.path().join("flat.torrent");
    assert!(
        torrent.is_file(),
        "no flat.torrent in the current folder\n{out}"
    );
    let info = seedcore_info(&torrent);
    let v1 = json_opt_hex(&info, "info_hash_v1").unwrap();
    let v2 = json_opt_hex(&info, "info_hash_v2").unwrap();
    let printed = out.stdout.to_ascii_lowercase();
    assert!(printed.contains(&v1), "v1 hash not printed\n{out}");
    assert!(printed.contains(&v2), "v2 hash not printed\n{out}");
    assert!(printed.contains("magnet:?"), "magnet not printed\n{out}");
}

/// Hashing on one thread or several gives the same torrent, byte for byte
/// (with `--no-date`): work splitting must not leak into the output.
#[test]
fn output_does_not_depend_on_thread_count() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "nested", Shape::Nested, 17);
    for mode in LtMode::ALL {
        let mut bytes = Vec::new();
        for threads in ["1", "2", "3"] {
            let out = tmp
                .path()
                .join(format!("{}-{threads}.torrent", mode.name()));
            seedcore_create(
                &top,
                &out,
                &[
                    mode.seedcore_flag(),
                    "--piece-size",
                    "65536",
                    "--threads",
                    threads,
                ],
            );
            bytes.push(fs::read(&out).unwrap());
        }
        assert!(
            bytes.windows(2).all(|w| w[0] == w[1]),
            "{}: torrents differ between thread counts",
            mode.name()
        );
    }
}

/// Creating from a path that does not exist is bad input: exit 2, a
/// message naming the path, no panic.
#[test]
fn missing_source_is_bad_input() {
    let tmp = temp_dir();
    let missing = tmp.path().join("no-such-folder");
    let out = seedcore()
        .arg("create")
        .arg(&missing)
        .arg("-o")
        .arg(tmp.path().join("x.torrent"))
        .run();
    out.expect_code(2).expect_no_panic();
    assert!(out.stderr.contains("no-such-folder"), "{out}");
    assert!(!Path::new(&tmp.path().join("x.torrent")).exists());
}
