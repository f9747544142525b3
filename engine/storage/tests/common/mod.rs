//! Shared test fixtures: small torrents written to temporary folders.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // test helpers: fail loudly

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use seedcore_protocol::metainfo::{
    FileAttr, FileEntry, Info, InfoHashV1, InfoHashV2, InfoHashes, MetaVersion, Metainfo,
    PieceLength,
};
use seedcore_storage::create::{self, CreateMode, HashedContent};

/// Deterministic, non-repeating-looking bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| {
            (i.wrapping_mul(2_654_435_761)
                .wrapping_add(seed.wrapping_mul(97))
                >> 13) as u8
        })
        .collect()
}

/// A temporary folder holding a torrent's data, and the torrent.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub meta: Metainfo,
}

impl Fixture {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    pub fn path_of(&self, file: usize) -> PathBuf {
        let mut p = self.root().to_path_buf();
        p.extend(&self.meta.info.files[file].path);
        p
    }
}

pub fn metainfo(info: Info, piece_layers: BTreeMap<[u8; 32], Vec<[u8; 32]>>) -> Metainfo {
    let v1 = matches!(info.version, MetaVersion::V1 | MetaVersion::Hybrid);
    let v2 = matches!(info.version, MetaVersion::V2 | MetaVersion::Hybrid);
    let seed = seedcore_hash::sha256(format!("{:?}", info.files).as_bytes());
    let mut h1 = [0u8; 20];
    h1.copy_from_slice(&seed[..20]);
    Metainfo {
        info,
        info_bytes: Vec::new(),
        info_hashes: InfoHashes {
            v1: v1.then_some(InfoHashV1(h1)),
            v2: v2.then_some(InfoHashV2(seed)),
        },
        announce: None,
        announce_list: Vec::new(),
        url_list: Vec::new(),
        comment: None,
        created_by: None,
        creation_date: None,
        piece_layers,
    }
}

/// A v1 torrent over `files` (`(name, data, pad)`), its pieces computed
/// here from the concatenation (independently of `create`). With one
/// non-pad file and `single`, it is a single-file torrent named after it.
pub fn v1_fixture(piece_length: u32, files: &[(&str, Vec<u8>, bool)], single: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = Vec::new();
    let mut entries = Vec::new();
    for (name, data, pad) in files {
        let path: Vec<String> = if single {
            vec![name.to_string()]
        } else {
            vec!["t".to_string(), name.to_string()]
        };
        let length = data.len() as u64;
        entries.push(FileEntry {
            path: path.clone(),
            length,
            offset: stream.len() as u64,
            attr: FileAttr {
                pad: *pad,
                ..FileAttr::default()
            },
            pieces_root: None,
            symlink_path: None,
        });
        if *pad {
            stream.extend(std::iter::repeat_n(0u8, data.len()));
        } else {
            stream.extend_from_slice(data);
            let mut p = dir.path().to_path_buf();
            p.extend(&path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, data).unwrap();
        }
    }
    let pieces: Vec<[u8; 20]> = stream
        .chunks(piece_length as usize)
        .map(seedcore_hash::sha1)
        .collect();
    let info = Info {
        name: if single {
            files[0].0.to_string()
        } else {
            "t".into()
        },
        piece_length: PieceLength::new(piece_length.into()).unwrap(),
        version: MetaVersion::V1,
        multi_file: !single,
        files: entries,
        piece_count: pieces.len() as u32,
        pieces,
        total_length: stream.len() as u64,
        private: false,
        source: None,
    };
    Fixture {
        dir,
        meta: metainfo(info, BTreeMap::new()),
    }
}

/// Writes `files` (`(relative path, data)`) under `<tmp>/t` and makes a
/// `mode` torrent of that folder with `create`.
pub fn created_fixture(
    piece_length: u32,
    mode: CreateMode,
    files: &[(&str, Vec<u8>)],
) -> (Fixture, HashedContent) {
    let dir = tempfile::tempdir().unwrap();
    for (rel, data) in files {
        let p = dir.path().join("t").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
    }
    let scanned = create::scan(&dir.path().join("t")).unwrap();
    let content = create::hash(&scanned, piece_length, mode, 2, None).unwrap();
    let meta = metainfo(content.info(), content.piece_layers());
    (Fixture { dir, meta }, content)
}

/// Flips one bit of the byte at `offset` of a file.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut data = std::fs::read(path).unwrap();
    data[offset as usize] ^= 0x40;
    std::fs::write(path, data).unwrap();
}

/// The files of data/create_vectors.py: a folder `t` and `single.bin`.
pub fn write_vector_data(dir: &Path) {
    fn pat(n: usize, m: usize, a: usize) -> Vec<u8> {
        (0..n).map(|i| ((i * m + a) % 251) as u8).collect()
    }
    let t = dir.join("t");
    std::fs::create_dir_all(t.join("b")).unwrap();
    for (p, n, m, a) in [
        ("a", 20000, 7, 1),
        ("b/c", 70000, 13, 5),
        ("b/empty", 0, 1, 1),
        ("b-x", 3000, 3, 2),
        ("d", 5, 1, 9),
        ("e", 50000, 11, 3),
    ] {
        std::fs::write(t.join(p), pat(n, m, a)).unwrap();
    }
    std::fs::write(dir.join("single.bin"), pat(40000, 5, 7)).unwrap();
}
