//! `seedcore info` and `seedcore verify` on torrents made by other clients.
//!
//! Our parser must read what libtorrent and mktorrent write exactly as they
//! do: the same info-hashes (computed over the info dictionary's bytes as
//! they appear in the file, not as we would re-encode them), the same piece
//! count, the same files and pad files. And `verify` must accept their
//! torrents against the data they were made from, which exercises v2 merkle
//! checking and pad files on layouts we did not choose.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use seedcore_tests::*;
use serde_json::{json, Value};

const PIECE: u32 = 32 * 1024;

/// `seedcore info --json` agrees with libtorrent's reading of `torrent`.
fn same_reading(torrent: &std::path::Path, mode: LtMode, ctx: &str) -> Value {
    let ours = seedcore_info(torrent);
    let lt = lt_info(torrent);
    assert_eq!(
        json_opt_hex(&ours, "info_hash_v1"),
        json_opt_hex(&lt, "v1"),
        "{ctx}"
    );
    assert_eq!(
        json_opt_hex(&ours, "info_hash_v2"),
        json_opt_hex(&lt, "v2"),
        "{ctx}"
    );
    assert_eq!(json_str(&ours, "version"), mode.name(), "{ctx}");
    assert_eq!(ours["name"], lt["name"], "{ctx}");
    assert_eq!(ours["piece_length"], lt["piece_length"], "{ctx}");
    assert_eq!(ours["piece_count"], lt["num_pieces"], "{ctx}");
    assert_eq!(ours["private"], lt["private"], "{ctx}");
    if mode == LtMode::V2 {
        // libtorrent shows pure v2 alignment as synthetic pad files; the
        // torrent itself lists none, so compare the real files.
        assert_eq!(json_files(&ours, false), json_files(&lt, false), "{ctx}");
    } else {
        assert_eq!(json_files(&ours, true), json_files(&lt, true), "{ctx}");
        assert_eq!(ours["total_length"], lt["total_size"], "{ctx}");
    }
    ours
}

fn libtorrent_torrents_read_the_same(shape: Shape, name: &str) {
    let tmp = temp_dir();
    let (top, files) = make_tree(&tmp.path().join("data"), name, shape, 21);
    let expected = torrent_paths(name, shape, &files);
    for mode in LtMode::ALL {
        let torrent = tmp.path().join(format!("{}.torrent", mode.name()));
        let made = lt_create(mode, PIECE, &torrent, &top);
        let ctx = format!("libtorrent {} torrent of {shape:?}", mode.name());
        let ours = same_reading(&torrent, mode, &ctx);
        assert_eq!(
            json_opt_hex(&ours, "info_hash_v1"),
            json_opt_hex(&made, "v1"),
            "{ctx}"
        );
        assert_eq!(
            json_opt_hex(&ours, "info_hash_v2"),
            json_opt_hex(&made, "v2"),
            "{ctx}"
        );
        let mut real: Vec<(String, u64)> = json_files(&ours, false)
            .into_iter()
            .map(|(p, l, _)| (p, l))
            .collect();
        real.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(real, want, "{ctx}");
    }
}

#[test]
fn libtorrent_single_file_torrents_read_the_same() {
    libtorrent_torrents_read_the_same(Shape::SingleFile, "single.bin");
}

#[test]
fn libtorrent_nested_torrents_read_the_same() {
    libtorrent_torrents_read_the_same(Shape::Nested, "nested");
}

#[test]
fn libtorrent_private_torrent_reads_private() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "flat", Shape::Flat, 22);
    let torrent = tmp.path().join("p.torrent");
    python("lt_create.py")
        .args(["--mode", "hybrid", "--private", "--piece-size"])
        .arg(PIECE.to_string())
        .arg("--out")
        .arg(&torrent)
        .arg(&top)
        .run()
        .expect_code(0);
    let ours = same_reading(&torrent, LtMode::Hybrid, "private hybrid");
    assert_eq!(ours["private"], json!(true));
}

/// mktorrent's trackers (`-a A -a B,C`: two tiers), web seeds, comment,
/// private flag and source all read back as mktorrent wrote them.
#[test]
fn mktorrent_torrent_reads_the_same() {
    let tmp = temp_dir();
    let (top, _) = make_tree(&tmp.path().join("data"), "nested", Shape::Nested, 23);
    let torrent = tmp.path().join("mk.torrent");
    let (a, b, c) = (
        "http://a.example/announce",
        "http://b.example/announce",
        "udp://c.example:80/announce",
    );
    let bc = format!("{b},{c}");
    mktorrent(
        &top,
        15,
        &torrent,
        &[
            "-a",
            a,
            "-a",
            &bc,
            "-w",
            "http://w.example/",
            "-c",
            "hello",
            "-p",
            "-s",
            "SRC",
        ],
    );
    let ours = same_reading(&torrent, LtMode::V1, "mktorrent torrent");
    assert_eq!(ours["trackers"], json!([[a], [b, c]]));
    assert_eq!(ours["webseeds"], json!(["http://w.example/"]));
    assert_eq!(ours["comment"], json!("hello"));
    assert_eq!(ours["private"], json!(true));
    assert_eq!(ours["created_by"], json!("mktorrent 1.1"));
    assert!(ours["creation_date"].as_i64().is_some(), "{ours}");
}

/// `seedcore verify` accepts libtorrent's torrents of intact data and
/// finds a flipped byte in them: our checking agrees with libtorrent's
/// layout, pad files and v2 merkle trees included.
#[test]
fn libtorrent_torrents_verify_against_their_data() {
    let tmp = temp_dir();
    let data = tmp.path().join("data");
    let (top, _) = make_tree(&data, "nested", Shape::Nested, 24);
    let mut torrents = Vec::new();
    for mode in LtMode::ALL {
        let torrent = tmp.path().join(format!("{}.torrent", mode.name()));
        lt_create(mode, PIECE, &torrent, &top);
        seedcore()
            .arg("verify")
            .arg(&torrent)
            .arg(&data)
            .run()
            .expect_code(0)
            .expect_no_panic();
        torrents.push((mode, torrent));
    }
    flip_byte(&top.join("a/b/deep.bin"), 500_000);
    for (mode, torrent) in torrents {
        let out = seedcore().arg("verify").arg(&torrent).arg(&data).run();
        out.expect_code(1).expect_no_panic();
        let piece = piece_at(&seedcore_info(&torrent), "nested/a/b/deep.bin", 500_000);
        assert!(
            mentions_number(&out.combined(), piece),
            "{}: bad piece {piece} not named\n{out}",
            mode.name()
        );
        assert!(out.combined().contains("a/b/deep.bin"), "{out}");
    }
}
