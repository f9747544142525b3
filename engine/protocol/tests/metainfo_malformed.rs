//! Every rejection, each with the field it must name. Inputs are valid
//! torrents (built, then decoded to a value tree) with one thing broken.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod metainfo_support;

use metainfo_support::Step::{I, K};
use metainfo_support::*;
use seedcore_protocol::bencode::OwnedValue as Value;
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::limits::{
    MAX_COMPONENT_LEN, MAX_NESTING_DEPTH, MAX_PATH_DEPTH, MAX_TORRENT_SIZE,
};
use seedcore_protocol::metainfo::{MetaVersion, Metainfo, MetainfoError};

/// A v1 torrent of two files ("d/a" 20000 bytes, "b" 5 bytes), 16 KiB pieces.
fn v1() -> Value {
    let bytes = TorrentBuilder::new("t", 16384)
        .file(vec!["d".into(), "a".into()], 20000)
        .file(vec!["b".into()], 5)
        .v1_pieces(vec![[1; 20], [2; 20]])
        .tracker("http://t/a")
        .build()
        .unwrap();
    decode(&bytes)
}

/// The same files as v2 (a sorts before d) or hybrid; "d/a" has a 2-piece layer.
fn v2(version: MetaVersion) -> Value {
    let a = pattern(5, 1);
    let da = pattern(20000, 2);
    let (ra, _) = v2_hashes(&a, 16384);
    let (rd, ld) = v2_hashes(&da, 16384);
    let mut stream = a.clone();
    stream.resize(16384, 0);
    stream.extend(&da);
    stream.resize(3 * 16384, 0);
    let mut b = TorrentBuilder::new("t", 16384)
        .version(version)
        .file(vec!["a".into()], 5)
        .file(vec!["d".into(), "a".into()], 20000)
        .v2_file(0, ra, vec![])
        .v2_file(1, rd, ld);
    if version == MetaVersion::Hybrid {
        b = b.v1_pieces(v1_pieces(&stream, 16384));
    }
    decode(&b.build().unwrap())
}

fn parse(v: &Value) -> Result<Metainfo, MetainfoError> {
    Metainfo::from_bytes(&v.to_bytes())
}

/// Asserts `v` is rejected naming `field`, with `needle` in the message.
#[track_caller]
fn rejects(v: &Value, field: &str, needle: &str) {
    let err = parse(v).expect_err("must be rejected");
    assert_eq!(err.field(), Some(field), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(msg.starts_with(field), "{msg:?}");
}

#[test]
fn bases_are_valid() {
    parse(&v1()).unwrap();
    parse(&v2(MetaVersion::V2)).unwrap();
    parse(&v2(MetaVersion::Hybrid)).unwrap();
}

#[test]
fn not_bencode_or_not_a_dict() {
    let err = Metainfo::from_bytes(b"").unwrap_err();
    assert_eq!(err.field(), Some("(top level)"));
    let err = Metainfo::from_bytes(b"li1ee").unwrap_err();
    assert!(matches!(
        err,
        MetainfoError::WrongType {
            expected: "a dictionary",
            found: "a list",
            ..
        }
    ));
    let mut bytes = v1().to_bytes();
    bytes.truncate(bytes.len() - 30);
    assert!(matches!(
        Metainfo::from_bytes(&bytes),
        Err(MetainfoError::Bencode { .. })
    ));
    // Unsorted keys are bencode (metainfo_noncanonical.rs has the rest);
    // what is missing is named.
    let err = Metainfo::from_bytes(b"d4:infod4:name1:a3:abci1eee").unwrap_err();
    assert_eq!(err.field(), Some("info.pieces"), "{err}");
    // `-0` is a valid integer (libtorrent reads it), just not a dictionary.
    let err = Metainfo::from_bytes(b"d4:infoi-0ee").unwrap_err();
    assert!(
        matches!(
            err,
            MetainfoError::WrongType {
                found: "an integer",
                ..
            }
        ),
        "{err}"
    );
    for bad in [
        &b"d4:infoi-ee"[..],
        b"d4:infoi123456789012345678901ee",
        b"d4:infoi+1ee",
    ] {
        let err = Metainfo::from_bytes(bad).unwrap_err();
        assert!(matches!(err, MetainfoError::Bencode { .. }), "{err}");
        assert_eq!(err.field(), Some("(top level)"), "{err}");
    }
}

#[test]
fn size_and_depth_bounds() {
    let big = vec![b'0'; MAX_TORRENT_SIZE + 1];
    assert!(matches!(
        Metainfo::from_bytes(&big),
        Err(MetainfoError::TooLarge { .. })
    ));
    // Under an unknown key, which the parser skips: the bound still holds.
    let mut deep = b"d7:unknown".to_vec();
    deep.extend(std::iter::repeat_n(b'l', MAX_NESTING_DEPTH));
    deep.extend(std::iter::repeat_n(b'e', MAX_NESTING_DEPTH + 1));
    let err = Metainfo::from_bytes(&deep).unwrap_err();
    assert!(matches!(err, MetainfoError::Bencode { .. }), "{err}");
    assert!(err.to_string().contains("nesting"), "{err}");
}

#[test]
fn missing_and_wrong_types() {
    let mut t = v1();
    remove(&mut t, &[], "info");
    rejects(&t, "info", "missing");
    let mut t = v1();
    set(&mut t, &[], "info", Value::Int(3));
    rejects(&t, "info", "expected a dictionary, found an integer");
    for key in ["name", "piece length", "pieces"] {
        let mut t = v1();
        remove(&mut t, &[K("info")], key);
        rejects(&t, &format!("info.{key}"), "missing");
    }
    let mut t = v1();
    set(&mut t, &[K("info")], "piece length", s("16384"));
    rejects(
        &t,
        "info.piece length",
        "expected an integer, found a byte string",
    );
    let mut t = v1();
    set(&mut t, &[K("info")], "name", Value::List(vec![]));
    rejects(&t, "info.name", "expected a byte string");
    let mut t = v1();
    remove(&mut t, &[K("info"), K("files"), I(1)], "length");
    rejects(&t, "info.files[1].length", "missing");
    let mut t = v1();
    remove(&mut t, &[K("info"), K("files"), I(1)], "path");
    rejects(&t, "info.files[1].path", "missing");
    let mut t = v1();
    set(&mut t, &[K("info"), K("files"), I(0)], "path", s("d/a"));
    rejects(&t, "info.files[0].path", "expected a list");
    let mut t = v1();
    set(&mut t, &[K("info")], "private", s("1"));
    rejects(&t, "info.private", "expected an integer");
    let mut t = v1();
    set(&mut t, &[], "announce-list", list(&["http://t/a"]));
    rejects(&t, "announce-list[0]", "expected a list");
    let mut t = v1();
    set(&mut t, &[], "url-list", Value::Int(1));
    rejects(&t, "url-list", "expected a URL or a list of URLs");
    let mut t = v1();
    set(&mut t, &[], "creation date", s("yesterday"));
    rejects(&t, "creation date", "expected an integer");
    let mut t = v1();
    set(&mut t, &[], "announce", Value::Bytes(vec![0xff]));
    rejects(&t, "announce", "UTF-8");
}

#[test]
fn length_xor_files() {
    let mut t = v1();
    set(&mut t, &[K("info")], "length", Value::Int(5));
    rejects(&t, "info", "both `length`");
    let mut t = v1();
    remove(&mut t, &[K("info")], "files");
    rejects(&t, "info.length", "missing");
    let mut t = v1();
    set(&mut t, &[K("info")], "files", Value::List(vec![]));
    rejects(&t, "info.files", "empty");
}

#[test]
fn bad_paths() {
    let cases: [(&[&str], &str, &str); 9] = [
        (
            &["d", ".."],
            "info.files[0].path[1]",
            "\"..\" is not allowed",
        ),
        (&["."], "info.files[0].path[0]", "\".\" is not allowed"),
        (&["d", ""], "info.files[0].path[1]", "empty path component"),
        (&["/etc", "passwd"], "info.files[0].path[0]", "'/'"),
        (&["a/b"], "info.files[0].path[0]", "'/'"),
        (&["a\\b"], "info.files[0].path[0]", "'\\'"),
        (&["a\0b"], "info.files[0].path[0]", "NUL"),
        (&[], "info.files[0].path", "at least one component"),
        (&["b"], "info.files[1].path", "listed twice"),
    ];
    for (path, field, needle) in cases {
        let mut t = v1();
        set(&mut t, &[K("info"), K("files"), I(0)], "path", list(path));
        rejects(&t, field, needle);
    }
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(0)],
        "path",
        Value::List(vec![Value::Bytes(b"\xff".to_vec())]),
    );
    rejects(&t, "info.files[0].path[0]", "UTF-8");
    // "b" is a file, so "b/x" cannot be one.
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(0)],
        "path",
        list(&["b", "x"]),
    );
    rejects(&t, "info.files[0].path", "lists as a file");
    let mut t = v1();
    set(&mut t, &[K("info")], "name", s(".."));
    rejects(&t, "info.name", "not allowed");
    let long = "x".repeat(MAX_COMPONENT_LEN + 1);
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(0)],
        "path",
        list(&[long.as_str()]),
    );
    rejects(&t, "info.files[0].path[0]", "over the limit");
    let deep: Vec<&str> = std::iter::repeat_n("d", MAX_PATH_DEPTH + 1).collect();
    let mut t = v1();
    set(&mut t, &[K("info"), K("files"), I(0)], "path", list(&deep));
    rejects(&t, "info.files[0].path", "path components");
    // path.utf-8 wins over path, and is checked.
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(0)],
        "path.utf-8",
        list(&["ok", ".."]),
    );
    rejects(&t, "info.files[0].path.utf-8[1]", "not allowed");
}

#[test]
fn sizes_and_pieces() {
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(1)],
        "length",
        Value::Int(-5),
    );
    rejects(&t, "info.files[1].length", "negative");
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(0)],
        "length",
        Value::Int(i64::MAX),
    );
    set(
        &mut t,
        &[K("info"), K("files"), I(1)],
        "length",
        Value::Int(i64::MAX),
    );
    let mut t2 = t.clone();
    rejects(&t, "info", "number of pieces");
    // A 3rd huge file overflows the u64 sum.
    if let Value::List(files) = at(&mut t2, &[K("info"), K("files")]) {
        let mut third = files[1].clone();
        if let Value::Dict(m) = &mut third {
            m.insert(b"path".to_vec(), list(&["c"]));
        }
        files.push(third);
    }
    rejects(&t2, "info.files[2].length", "overflows");
    let mut t = v1();
    set(&mut t, &[K("info")], "pieces", Value::Bytes(vec![0; 39]));
    rejects(&t, "info.pieces", "not a multiple of 20");
    let mut t = v1();
    set(&mut t, &[K("info")], "pieces", Value::Bytes(vec![0; 60]));
    rejects(
        &t,
        "info.pieces",
        "holds 3 piece hashes, but 20005 bytes in pieces of 16384 make 2 pieces",
    );
    for bad in [0, 1023, 256 * 1024 * 1024 + 1] {
        let mut t = v1();
        set(&mut t, &[K("info")], "piece length", Value::Int(bad));
        rejects(&t, "info.piece length", "outside");
    }
    let mut t = v1();
    for i in 0..2 {
        set(
            &mut t,
            &[K("info"), K("files"), I(i)],
            "length",
            Value::Int(0),
        );
    }
    set(&mut t, &[K("info")], "pieces", Value::Bytes(vec![]));
    rejects(&t, "info", "no data");
}

#[test]
fn bep47_attributes() {
    let mut t = v1();
    set(&mut t, &[K("info"), K("files"), I(1)], "attr", s("l"));
    rejects(&t, "info.files[1].symlink path", "missing");
    let mut t = v1();
    set(&mut t, &[K("info"), K("files"), I(1)], "attr", s("l"));
    set(
        &mut t,
        &[K("info"), K("files"), I(1)],
        "symlink path",
        list(&["..", "x"]),
    );
    rejects(&t, "info.files[1].symlink path[0]", "not allowed");
    // Pad files may repeat a path; they are not written to disk.
    let mut t = v1();
    set(
        &mut t,
        &[K("info"), K("files"), I(1)],
        "symlink path",
        list(&["d", "a"]),
    );
    set(&mut t, &[K("info"), K("files"), I(1)], "attr", s("lx"));
    let m = parse(&t).unwrap();
    assert!(m.info.files[1].attr.symlink && m.info.files[1].attr.executable);
    assert_eq!(
        m.info.files[1].symlink_path,
        Some(vec!["d".to_owned(), "a".to_owned()])
    );
}

#[test]
fn v2_rejections() {
    use MetaVersion::V2;
    let mut t = v2(V2);
    set(&mut t, &[K("info")], "meta version", Value::Int(3));
    rejects(&t, "info.meta version", "unsupported meta version 3");
    let mut t = v2(V2);
    remove(&mut t, &[K("info")], "file tree");
    rejects(&t, "info.file tree", "missing");
    for bad in [24576, 8192] {
        let mut t = v2(V2);
        set(&mut t, &[K("info")], "piece length", Value::Int(bad));
        rejects(&t, "info.piece length", "power of two");
    }
    let mut t = v2(V2);
    set(&mut t, &[K("info")], "file tree", Value::dict());
    rejects(&t, "info.file tree", "no files");
    let mut t = v2(V2);
    set(&mut t, &[K("info"), K("file tree")], "e", Value::dict());
    rejects(&t, "info.file tree[\"e\"]", "empty folder");
    let mut t = v2(V2);
    let leaf = at(&mut t, &[K("info"), K("file tree"), K("a"), K("")]).clone();
    set(&mut t, &[K("info"), K("file tree")], "", leaf.clone());
    rejects(&t, "info.file tree[\"\"]", "needs a name");
    let mut t = v2(V2);
    set(
        &mut t,
        &[K("info"), K("file tree"), K("a")],
        "x",
        leaf.clone(),
    );
    rejects(&t, "info.file tree[\"a\"][\"x\"]", "both a file");
    let mut t = v2(V2);
    set(
        &mut t,
        &[K("info"), K("file tree")],
        "..",
        Value::dict().with("", leaf.clone()),
    );
    rejects(&t, "info.file tree[\"..\"]", "not allowed");
    let mut t = v2(V2);
    set(
        &mut t,
        &[K("info"), K("file tree"), K("a"), K("")],
        "pieces root",
        Value::Bytes(vec![1; 31]),
    );
    rejects(&t, "info.file tree[\"a\"][\"\"].pieces root", "32");
    let mut t = v2(V2);
    remove(
        &mut t,
        &[K("info"), K("file tree"), K("a"), K("")],
        "pieces root",
    );
    rejects(&t, "info.file tree[\"a\"][\"\"].pieces root", "missing");
    let mut t = v2(V2);
    set(
        &mut t,
        &[K("info"), K("file tree"), K("a"), K("")],
        "length",
        Value::Int(-1),
    );
    rejects(&t, "info.file tree[\"a\"][\"\"].length", "negative");
    let mut t = v2(V2);
    set(
        &mut t,
        &[K("info"), K("file tree"), K("a"), K("")],
        "attr",
        s("p"),
    );
    rejects(&t, "info.file tree[\"a\"][\"\"].attr", "pad files");
}

#[test]
fn piece_layer_rejections() {
    use MetaVersion::V2;
    let t0 = v2(V2);
    let (root, layer) = {
        let mut t = t0.clone();
        match at(&mut t, &[K("piece layers")]) {
            Value::Dict(m) => m
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap(),
            _ => panic!(),
        }
    };
    let field = format!("piece layers[{}]", hex(&root));
    let mut t = t0.clone();
    set(&mut t, &[], "piece layers", Value::dict());
    rejects(&t, &field, "missing");
    let Value::Bytes(layer) = layer else { panic!() };
    let mut t = t0.clone();
    let mut short = layer.clone();
    short.truncate(32);
    at_layers(&mut t).insert(root.clone(), Value::Bytes(short));
    rejects(&t, &field, "holds 1 hashes");
    let mut t = t0.clone();
    let mut wrong = layer.clone();
    wrong[0] ^= 1;
    at_layers(&mut t).insert(root.clone(), Value::Bytes(wrong));
    rejects(&t, &field, "do not hash up to the pieces root");
    let mut t = t0.clone();
    at_layers(&mut t).insert(root.clone(), Value::Bytes(layer[..33].to_vec()));
    rejects(&t, &field, "not a whole number");
    let mut t = t0.clone();
    at_layers(&mut t).insert(vec![7; 5], Value::Bytes(vec![]));
    rejects(&t, "piece layers[0707070707]", "32-byte");
    // Unneeded layers are ignored and dropped.
    let mut t = t0.clone();
    at_layers(&mut t).insert(vec![7; 32], Value::Bytes(vec![0; 64]));
    assert_eq!(parse(&t).unwrap().piece_layers.len(), 1);
    // A bare info dictionary needs none.
    let mut t = t0.clone();
    let info = at(&mut t, &[K("info")]).to_bytes();
    assert!(Metainfo::from_info_bytes(&info)
        .unwrap()
        .piece_layers
        .is_empty());
}

fn at_layers(t: &mut Value) -> &mut std::collections::BTreeMap<Vec<u8>, Value> {
    match at(t, &[K("piece layers")]) {
        Value::Dict(m) => m,
        _ => panic!(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn hybrid_rejections() {
    use MetaVersion::Hybrid;
    let files = [K("info"), K("files")];
    // v1 list: a, pad, d/a, pad.
    let mut t = v2(Hybrid);
    set(
        &mut t,
        &[K("info"), K("files"), I(2)],
        "path",
        list(&["d", "b"]),
    );
    rejects(&t, "info.files[2].path", "does not match");
    let mut t = v2(Hybrid);
    set(
        &mut t,
        &[K("info"), K("files"), I(1)],
        "length",
        Value::Int(100),
    );
    rejects(&t, "info.files[2]", "pad files before it must align");
    let mut t = v2(Hybrid);
    set(
        &mut t,
        &[K("info"), K("files"), I(3)],
        "length",
        Value::Int(16384 + 12768),
    );
    set(&mut t, &[K("info")], "pieces", Value::Bytes(vec![0; 80]));
    rejects(&t, "info.files", "trailing pad file is too long");
    let mut t = v2(Hybrid);
    if let Value::List(l) = at(&mut t, &files) {
        l.truncate(1);
    }
    set(&mut t, &[K("info")], "pieces", Value::Bytes(vec![0; 20]));
    rejects(&t, "info.files", "the v1 file list has 1 files");
    let mut t = v2(Hybrid);
    set(
        &mut t,
        &[K("info"), K("file tree"), K("d"), K("a"), K("")],
        "length",
        Value::Int(20001),
    );
    rejects(
        &t,
        "info.files[2].length",
        "20000 bytes in the v1 list but 20001",
    );
    // Without the tail pad it is still valid (libtorrent 2.0.0-2.0.3 wrote those).
    let mut t = v2(Hybrid);
    if let Value::List(l) = at(&mut t, &files) {
        l.truncate(3);
    }
    let m = parse(&t).unwrap();
    assert_eq!(m.info.total_length, 16384 + 20000);
    assert_eq!(m.info.piece_count, 3);
}
