//! Torrents written by libtorrent 2.0.8 and mktorrent 1.1 (tests/data),
//! parsed by the protocol crate, verified against their data, and compared
//! with what `create` builds from the same files.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

mod common;

use seedcore_protocol::metainfo::Metainfo;
use seedcore_storage::create::{self, CreateMode};
use seedcore_storage::{verify, FileVerdict, Storage, VerifyOptions};

fn load(name: &str) -> Metainfo {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    Metainfo::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

const CASES: &[(&str, &str, CreateMode)] = &[
    ("mk_v1_t_32768.torrent", "t", CreateMode::V1),
    ("hybrid_t_32768.torrent", "t", CreateMode::Hybrid),
    ("v2_t_16384.torrent", "t", CreateMode::V2),
    (
        "hybrid_single_bin_16384.torrent",
        "single.bin",
        CreateMode::Hybrid,
    ),
];

#[test]
fn real_torrents_verify_and_match_create() {
    let dir = tempfile::tempdir().unwrap();
    common::write_vector_data(dir.path());
    for &(file, src, mode) in CASES {
        let meta = load(file);
        let r = verify(&meta, dir.path(), &VerifyOptions::default()).unwrap();
        assert!(r.all_good(), "{file}: {:?}", r.bad_pieces);
        assert_eq!(r.have.len() as u32, meta.info.piece_count);

        // What create builds from the same files is the same layout.
        let scanned = create::scan(&dir.path().join(src)).unwrap();
        let c = create::hash(&scanned, meta.info.piece_length.get(), mode, 2, None).unwrap();
        let mine = c.info();
        assert_eq!(mine.total_length, meta.info.total_length, "{file}");
        assert_eq!(mine.piece_count, meta.info.piece_count, "{file}");
        assert_eq!(mine.pieces, meta.info.pieces, "{file}");
        let strip = |i: &seedcore_protocol::metainfo::Info| {
            i.files
                .iter()
                .map(|f| {
                    (
                        f.path.clone(),
                        f.length,
                        f.offset,
                        f.attr.pad,
                        f.pieces_root,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&mine), strip(&meta.info), "{file}");
        assert_eq!(c.piece_layers(), meta.piece_layers, "{file}");
    }
}

#[test]
fn damage_in_real_torrents_hits_the_right_piece() {
    for &(file, _, _) in CASES {
        let dir = tempfile::tempdir().unwrap();
        common::write_vector_data(dir.path());
        let meta = load(file);
        // The byte at piece-space offset 35_000 belongs to some file; flip it.
        let s = Storage::open(&meta.info, dir.path()).unwrap();
        let span = s.layout().spans(35_000, 1).next().unwrap();
        let seedcore_storage::SpanSource::File(i) = span.source else {
            panic!("{file}: offset 35000 is padding")
        };
        drop(s);
        let mut path = dir.path().to_path_buf();
        path.extend(&meta.info.files[i].path);
        common::flip_byte(&path, span.file_offset);
        let r = verify(&meta, dir.path(), &VerifyOptions::default()).unwrap();
        let piece = (35_000 / u64::from(meta.info.piece_length.get())) as u32;
        assert_eq!(r.bad_pieces, vec![piece], "{file}");
        assert_eq!(
            r.files[i].state,
            FileVerdict::Damaged { bad_pieces: 1 },
            "{file}"
        );
    }
}

#[test]
fn built_torrents_have_the_same_info_hash_as_libtorrent_and_mktorrent() {
    let dir = tempfile::tempdir().unwrap();
    common::write_vector_data(dir.path());
    for &(file, src, mode) in CASES {
        let theirs = load(file);
        let scanned = create::scan(&dir.path().join(src)).unwrap();
        let c = create::hash(&scanned, theirs.info.piece_length.get(), mode, 2, None).unwrap();
        let (_, ours) = c.builder().build_metainfo().unwrap();
        assert_eq!(ours.info_hashes, theirs.info_hashes, "{file}");
        assert_eq!(ours.info, theirs.info, "{file}");
        assert_eq!(ours.piece_layers, theirs.piece_layers, "{file}");
    }
}
