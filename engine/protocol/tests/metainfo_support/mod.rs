//! Shared helpers for the metainfo tests: the fixture content (mirroring
//! `tests/data/make_fixtures.py`), hashing it, and a bencode value tree for
//! mutating torrents.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::path::PathBuf;

use seedcore_hash::merkle;
use seedcore_protocol::bencode::{self, Limits, OwnedValue as Value};

/// `pattern()` of make_fixtures.py.
pub fn pattern(n: usize, seed: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + seed * 7 + (i >> 8)) & 0xff) as u8)
        .collect()
}

/// One file of the fixture content: path below the folder, bytes, exec bit.
pub struct Content {
    pub path: Vec<String>,
    pub data: Vec<u8>,
    pub executable: bool,
}

fn content(path: &str, data: Vec<u8>, executable: bool) -> Content {
    Content {
        path: path.split('/').map(str::to_owned).collect(),
        data,
        executable,
    }
}

/// The `nested/` folder, in file tree (sorted) order.
pub fn nested() -> Vec<Content> {
    vec![
        content("a.txt", b"hello".to_vec(), false),
        content("empty.txt", Vec::new(), false),
        content("run.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
        content("sub/b.bin", pattern(40000, 2), false),
        content("sub/deeper/c.dat", pattern(70000, 3), false),
    ]
}

/// `single.bin`.
pub fn single() -> Vec<u8> {
    pattern(50000, 1)
}

/// The bytes of `path` (below the folder) in `nested()`.
pub fn nested_file(path: &[String]) -> Vec<u8> {
    nested()
        .into_iter()
        .find(|c| c.path == path)
        .map(|c| c.data)
        .expect("known file")
}

/// SHA-1 of each piece of `stream`.
pub fn v1_pieces(stream: &[u8], piece_length: usize) -> Vec<[u8; 20]> {
    stream
        .chunks(piece_length)
        .map(seedcore_hash::sha1)
        .collect()
}

/// BEP 52 pieces root and piece layer (empty for one piece or less).
pub fn v2_hashes(data: &[u8], piece_length: u64) -> ([u8; 32], Vec<[u8; 32]>) {
    let leaves = merkle::block_hashes(data);
    let root = merkle::root(&leaves);
    let layer = if data.len() as u64 > piece_length {
        merkle::piece_layer(&leaves, piece_length)
    } else {
        Vec::new()
    };
    (root, layer)
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).expect("fixture present")
}

/// One line of `expected.txt`: what libtorrent reported.
#[derive(Debug)]
pub struct Expected {
    pub file: String,
    pub v1: Option<String>,
    pub v2: Option<String>,
    pub pieces: u32,
    pub total_size: u64,
    pub files: usize,
    pub magnet: String,
}

pub fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(data_dir().join("expected.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let opt = |s: &str| (s != "-").then(|| s.to_owned());
            Expected {
                file: f[0].to_owned(),
                v1: opt(f[1]),
                v2: opt(f[2]),
                pieces: f[3].parse().unwrap(),
                total_size: f[4].parse().unwrap(),
                files: f[5].parse().unwrap(),
                magnet: f[6].to_owned(),
            }
        })
        .collect()
}

/// Decodes bencode into a [`Value`] tree (test inputs only).
pub fn decode(bytes: &[u8]) -> Value {
    let limits = Limits {
        max_len: usize::MAX,
        max_depth: Limits::DEPTH_CAP,
    };
    Value::from(bencode::read(bytes, limits).unwrap())
}

/// One step into a value: a dictionary key or a list index.
pub enum Step<'a> {
    K(&'a str),
    I(usize),
}

/// The value at `path` (panics if absent).
pub fn at<'v>(v: &'v mut Value, path: &[Step<'_>]) -> &'v mut Value {
    let mut cur = v;
    for step in path {
        cur = match (cur, step) {
            (Value::Dict(m), Step::K(k)) => m
                .get_mut(k.as_bytes())
                .unwrap_or_else(|| panic!("no key {k}")),
            (Value::List(l), Step::I(i)) => &mut l[*i],
            _ => panic!("bad path"),
        };
    }
    cur
}

/// Sets `key` in the dictionary at `path`.
pub fn set(v: &mut Value, path: &[Step<'_>], key: &str, value: Value) {
    match at(v, path) {
        Value::Dict(m) => {
            m.insert(key.as_bytes().to_vec(), value);
        }
        _ => panic!("not a dict"),
    }
}

/// Removes `key` from the dictionary at `path`.
pub fn remove(v: &mut Value, path: &[Step<'_>], key: &str) {
    match at(v, path) {
        Value::Dict(m) => {
            m.remove(key.as_bytes());
        }
        _ => panic!("not a dict"),
    }
}

pub fn s(text: &str) -> Value {
    Value::str(text)
}

pub fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|i| Value::str(i)).collect())
}
