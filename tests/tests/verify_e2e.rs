//! `seedcore verify` end to end: exit codes, what the report names, bad
//! input, and resume files.
//!
//! Exit codes are the contract scripts rely on: 0 the data is good, 1 the
//! check found bad or missing data, 2 the input itself is bad. A report
//! that says "something is wrong" without naming the piece and the file is
//! useless to an operator, so the tests check the names too. Malformed
//! torrents come from the hand-rolled encoder in `seedcore_tests::bencode`
//! and must give a message, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use seedcore_tests::bencode::Value;
use seedcore_tests::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const PIECE: &str = "32768";

struct Fixture {
    _tmp: tempfile::TempDir,
    /// The folder the torrent is saved into (`verify`'s DATA_DIR).
    data: PathBuf,
    /// The torrent's top folder inside `data`.
    top: PathBuf,
    torrent: PathBuf,
    info: serde_json::Value,
    dir: PathBuf,
}

fn fixture(mode: LtMode) -> Fixture {
    let tmp = temp_dir();
    let dir = tmp.path().to_path_buf();
    let data = dir.join("data");
    let (top, _) = make_tree(&data, "nested", Shape::Nested, 31);
    let torrent = dir.join("t.torrent");
    let info = seedcore_create(
        &top,
        &torrent,
        &[mode.seedcore_flag(), "--piece-size", PIECE],
    );
    Fixture {
        _tmp: tmp,
        data,
        top,
        torrent,
        info,
        dir,
    }
}

fn verify(f: &Fixture, extra: &[&str]) -> RunOutput {
    let out = seedcore()
        .arg("verify")
        .arg(&f.torrent)
        .arg(&f.data)
        .args(extra)
        .run();
    out.expect_no_panic();
    out
}

#[test]
fn intact_data_verifies_in_every_mode() {
    for mode in LtMode::ALL {
        let f = fixture(mode);
        verify(&f, &[]).expect_code(0);
        let report = verify(&f, &["--json"]).expect_code(0).json();
        assert_eq!(report["bad_pieces"], json!([]), "{}: {report}", mode.name());
        assert_eq!(report["pieces"], f.info["piece_count"], "{report}");
    }
}

/// One flipped byte fails exactly its piece, and the report names that
/// piece and the file holding it.
#[test]
fn flipped_byte_names_piece_and_file() {
    for mode in LtMode::ALL {
        let f = fixture(mode);
        let (rel, offset) = ("a/b/deep.bin", 123_457u64);
        flip_byte(&f.top.join(rel), offset);
        let piece = piece_at(&f.info, &format!("nested/{rel}"), offset);

        let out = verify(&f, &[]);
        out.expect_code(1);
        assert!(
            out.combined().contains(rel),
            "{}: file not named\n{out}",
            mode.name()
        );
        assert!(
            mentions_number(&out.combined(), piece),
            "{}: bad piece {piece} not named\n{out}",
            mode.name()
        );

        let report = verify(&f, &["--json"]).expect_code(1).json();
        assert_eq!(
            report["bad_pieces"],
            json!([piece]),
            "{}: {report}",
            mode.name()
        );
    }
}

#[test]
fn truncated_file_is_named() {
    let f = fixture(LtMode::V1);
    let path = f.top.join("m.bin");
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(1000).unwrap();
    drop(file);
    let out = verify(&f, &[]);
    out.expect_code(1);
    assert!(out.combined().contains("m.bin"), "{out}");
}

#[test]
fn deleted_file_is_named() {
    for mode in [LtMode::V1, LtMode::V2] {
        let f = fixture(mode);
        fs::remove_file(f.top.join("sub/c")).unwrap();
        let out = verify(&f, &[]);
        out.expect_code(1);
        assert!(out.combined().contains("sub/c"), "{}: {out}", mode.name());
    }
}

/// The pieces of a deleted file are all bad; pieces wholly inside other
/// files stay good.
#[test]
fn deleted_file_fails_only_its_pieces() {
    let f = fixture(LtMode::V2);
    fs::remove_file(f.top.join("m.bin")).unwrap();
    let report = verify(&f, &["--json"]).expect_code(1).json();
    let first = piece_at(&f.info, "nested/m.bin", 0);
    let last = piece_at(&f.info, "nested/m.bin", 1_048_575);
    let want: Vec<u64> = (first..=last).collect();
    assert_eq!(report["bad_pieces"], json!(want), "{report}");
}

// ---- malformed input: exit 2, a message naming the problem, no panic ----

fn info_dict_single(pieces: Vec<u8>) -> Value {
    Value::dict([
        ("length", Value::Int(100)),
        ("name", Value::str("a")),
        ("piece length", Value::Int(16_384)),
        ("pieces", Value::Bytes(pieces)),
    ])
}

/// Every command taking a torrent must refuse `bytes` with exit 2 and a
/// message on stderr that contains one of `words` (lower-cased).
fn refused(name: &str, bytes: &[u8], words: &[&str]) {
    let tmp = temp_dir();
    let torrent = tmp.path().join(format!("{name}.torrent"));
    fs::write(&torrent, bytes).unwrap();
    let data = tmp.path().join("data");
    fs::create_dir(&data).unwrap();
    let runs = [
        seedcore().arg("verify").arg(&torrent).arg(&data).run(),
        seedcore().arg("info").arg(&torrent).run(),
        seedcore().arg("info").arg(&torrent).arg("--json").run(),
        seedcore().arg("magnet").arg(&torrent).run(),
    ];
    for out in runs {
        out.expect_code(2).expect_no_panic();
        let err = out.stderr.to_lowercase();
        assert!(!err.trim().is_empty(), "{name}: no message\n{out}");
        assert!(
            words.is_empty() || words.iter().any(|w| err.contains(w)),
            "{name}: message should mention one of {words:?}\n{out}"
        );
    }
}

#[test]
fn garbage_is_bad_input() {
    refused("garbage", b"this is not a torrent \x00\xff\xfe", &[]);
    refused("empty", b"", &[]);
    refused("not-a-dict", b"li1ei2ee", &[]);
}

#[test]
fn truncated_torrent_is_bad_input() {
    let f = fixture(LtMode::Hybrid);
    let bytes = fs::read(&f.torrent).unwrap();
    for cut in [1, bytes.len() / 3, bytes.len() / 2, bytes.len() - 1] {
        refused(&format!("truncated-{cut}"), &bytes[..cut], &[]);
    }
}

#[test]
fn pieces_of_19_bytes_is_bad_input() {
    let t = Value::dict([("info", info_dict_single(vec![7u8; 19]))]);
    refused("pieces19", &t.encode(), &["pieces"]);
    // One piece's hash is needed for 100 bytes; 40 is two pieces' worth.
    let t = Value::dict([("info", info_dict_single(vec![7u8; 40]))]);
    refused("pieces40", &t.encode(), &["piece"]);
}

#[test]
fn dot_dot_path_is_bad_input() {
    let files = Value::List(vec![Value::dict([
        ("length", Value::Int(100)),
        (
            "path",
            Value::List(vec![Value::str(".."), Value::str("escape")]),
        ),
    ])]);
    let t = Value::dict([(
        "info",
        Value::dict([
            ("files", files),
            ("name", Value::str("d")),
            ("piece length", Value::Int(16_384)),
            ("pieces", Value::Bytes(vec![1u8; 20])),
        ]),
    )]);
    refused("dotdot-path", &t.encode(), &["..", "path"]);

    let t = Value::dict([(
        "info",
        Value::dict([
            ("length", Value::Int(100)),
            ("name", Value::str("..")),
            ("piece length", Value::Int(16_384)),
            ("pieces", Value::Bytes(vec![1u8; 20])),
        ]),
    )]);
    refused("dotdot-name", &t.encode(), &["..", "name"]);
}

#[test]
fn missing_torrent_or_data_dir_is_bad_input() {
    let f = fixture(LtMode::V1);
    let out = seedcore()
        .arg("verify")
        .arg(f.dir.join("nope.torrent"))
        .arg(&f.data)
        .run();
    out.expect_code(2).expect_no_panic();
    assert!(out.stderr.contains("nope.torrent"), "{out}");

    let out = seedcore()
        .arg("verify")
        .arg(&f.torrent)
        .arg(f.dir.join("no-such-data"))
        .run();
    out.expect_code(2).expect_no_panic();
    assert!(out.stderr.contains("no-such-data"), "{out}");
}

// ---- resume files ----

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

fn bytes_hashed(report: &serde_json::Value) -> u64 {
    json_u64(report, "bytes_hashed")
}

/// The first run hashes and writes the resume file; a second run with no
/// file changed skips hashing and says so; changing one file's mtime makes
/// the next run hash again.
#[test]
fn resume_skips_hashing_until_a_file_changes() {
    let f = fixture(LtMode::Hybrid);
    let resume = f.dir.join("t.resume");
    let resume_arg = resume.to_str().unwrap();

    let first = verify(&f, &["--json", "--resume", resume_arg])
        .expect_code(0)
        .json();
    assert!(bytes_hashed(&first) > 0, "{first}");
    assert!(resume.is_file(), "no resume file written");

    let second = verify(&f, &["--json", "--resume", resume_arg])
        .expect_code(0)
        .json();
    assert_eq!(
        bytes_hashed(&second),
        0,
        "resume data should skip hashing: {second}"
    );
    assert_eq!(second["resumed"], json!(true), "{second}");
    assert_eq!(second["bad_pieces"], json!([]), "{second}");

    let text = verify(&f, &["--resume", resume_arg]);
    text.expect_code(0);
    let said = text.combined().to_lowercase();
    assert!(
        said.contains("resume") && said.contains("skip"),
        "report should say it skipped hashing\n{text}"
    );

    set_mtime(
        &f.top.join("a.txt"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    );
    let third = verify(&f, &["--json", "--resume", resume_arg])
        .expect_code(0)
        .json();
    assert!(
        bytes_hashed(&third) > 0,
        "changed mtime must force hashing: {third}"
    );
}

/// A resume file is only trusted for the torrent and data it was written
/// for: a damaged file with a new mtime is found even though the resume
/// file said every piece was good.
#[test]
fn resume_does_not_hide_damage() {
    let f = fixture(LtMode::V1);
    let resume = f.dir.join("t.resume");
    let resume_arg = resume.to_str().unwrap();
    verify(&f, &["--resume", resume_arg]).expect_code(0);

    let path = f.top.join("B.bin");
    flip_byte(&path, 10);
    set_mtime(
        &path,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890),
    );
    let out = verify(&f, &["--resume", resume_arg]);
    out.expect_code(1);
    assert!(out.combined().contains("B.bin"), "{out}");

    // A resume file written for another torrent is not trusted either.
    let other = fixture(LtMode::V2);
    let report = seedcore()
        .arg("verify")
        .arg(&other.torrent)
        .arg(&other.data)
        .args(["--json", "--resume", resume_arg])
        .run();
    report.expect_no_panic();
    let report = report.expect_code(0).json();
    assert!(
        bytes_hashed(&report) > 0,
        "foreign resume file trusted: {report}"
    );
}
