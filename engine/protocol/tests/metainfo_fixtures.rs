//! Torrents made by libtorrent 2.0.8 and mktorrent 1.1 (tests/data, see its
//! README): we must compute the info-hashes libtorrent reported, read every
//! field, agree with the content's real hashes, and write the same info
//! dictionaries byte for byte.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod metainfo_support;

use metainfo_support::*;
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::{FileAttr, MetaVersion, Metainfo};

fn parse(name: &str) -> Metainfo {
    Metainfo::from_bytes(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn info_hashes_and_counts_match_libtorrent() {
    let all = expected();
    assert_eq!(all.len(), 8);
    for e in all {
        let m = parse(&e.file);
        assert_eq!(m.info_hashes.v1.map(|h| h.to_string()), e.v1, "{}", e.file);
        assert_eq!(m.info_hashes.v2.map(|h| h.to_string()), e.v2, "{}", e.file);
        assert_eq!(m.info.piece_count, e.pieces, "{}", e.file);
        if m.info.version == MetaVersion::V2 {
            // libtorrent pads the last file of a v2 torrent to a piece
            // boundary in its view; we end the piece space at the data.
            assert!(m.info.total_length <= e.total_size);
            assert!(e.total_size - m.info.total_length < u64::from(m.info.piece_length.get()));
            assert!(m.info.files.iter().all(|f| !f.attr.pad));
        } else {
            assert_eq!(m.info.total_length, e.total_size, "{}", e.file);
            assert_eq!(m.info.files.len(), e.files, "{}", e.file);
        }
        // Our magnet differs from libtorrent's only in the case of %-escapes.
        let ours = Magnet::from_metainfo(&m);
        assert_eq!(ours.to_uri().to_lowercase(), e.magnet, "{}", e.file);
        assert_eq!(Magnet::parse(&e.magnet).unwrap(), ours);
    }
}

#[test]
fn libtorrent_v1_single_top_level_fields() {
    let m = parse("lt-v1-single.torrent");
    assert_eq!(m.info.version, MetaVersion::V1);
    assert!(!m.info.multi_file);
    assert_eq!(m.info.name, "single.bin");
    assert_eq!(
        m.announce.as_deref(),
        Some("http://tracker.example/announce")
    );
    assert_eq!(
        m.announce_list,
        vec![
            vec!["http://tracker.example/announce".to_owned()],
            vec!["udp://tracker2.example:6969/announce".to_owned()]
        ]
    );
    assert_eq!(m.url_list, vec!["http://seed.example/files/".to_owned()]);
    assert_eq!(m.comment.as_deref(), Some("libtorrent fixture"));
    assert_eq!(m.created_by.as_deref(), Some("make_fixtures.py"));
    assert_eq!(m.creation_date, Some(1_700_000_000));
    assert_eq!(m.info.pieces, v1_pieces(&single(), 16384));
    assert_eq!(m.info.files.len(), 1);
    assert_eq!(m.info.files[0].path, vec!["single.bin".to_owned()]);
    assert!(m.piece_layers.is_empty());
    assert!(!m.info.private);
}

#[test]
fn libtorrent_v1_nested_keeps_file_order_and_attr() {
    let m = parse("lt-v1-nested.torrent");
    assert!(m.info.multi_file);
    let mut stream = Vec::new();
    for f in &m.info.files {
        assert_eq!(f.path[0], "nested");
        assert_eq!(f.offset, stream.len() as u64);
        let data = nested_file(&f.path[1..]);
        assert_eq!(f.length, data.len() as u64);
        assert_eq!(f.attr.executable, f.path.last().unwrap() == "run.sh");
        stream.extend(data);
    }
    assert_eq!(m.info.pieces, v1_pieces(&stream, 16384));
}

#[test]
fn mktorrent_single_has_private_source_and_tiers() {
    let m = parse("mk-single.torrent");
    assert!(m.info.private);
    assert_eq!(m.info.source.as_deref(), Some("SRC"));
    assert_eq!(m.comment.as_deref(), Some("a comment"));
    assert_eq!(m.created_by.as_deref(), Some("mktorrent 1.1"));
    assert_eq!(m.creation_date, None);
    assert_eq!(
        m.announce_list,
        vec![
            vec!["http://t1.example/announce".to_owned()],
            vec![
                "http://t2.example/announce".to_owned(),
                "http://t3.example/announce".to_owned()
            ],
        ]
    );
    assert_eq!(m.url_list, vec!["http://ws1.example/".to_owned()]);
    assert_eq!(m.info.pieces, v1_pieces(&single(), 32768));
}

#[test]
fn hybrid_nested_layout_roots_and_layers() {
    let m = parse("lt-hybrid-nested.torrent");
    assert_eq!(m.info.version, MetaVersion::Hybrid);
    assert!(m.info.private);
    let shape: Vec<(String, u64, u64, bool)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path[1..].join("/"), f.length, f.offset, f.attr.pad))
        .collect();
    let expect = [
        ("a.txt", 5, 0, false),
        (".pad/16379", 16379, 5, true),
        ("empty.txt", 0, 16384, false),
        ("run.sh", 18, 16384, false),
        (".pad/16366", 16366, 16402, true),
        ("sub/b.bin", 40000, 32768, false),
        (".pad/9152", 9152, 72768, true),
        ("sub/deeper/c.dat", 70000, 81920, false),
        (".pad/11920", 11920, 151920, true),
    ];
    let expect: Vec<(String, u64, u64, bool)> = expect
        .iter()
        .map(|(p, l, o, pad)| ((*p).to_owned(), *l, *o, *pad))
        .collect();
    assert_eq!(shape, expect);
    // v1 hashes cover the padded stream; v2 roots and layers the files.
    let mut stream = Vec::new();
    for f in &m.info.files {
        if f.attr.pad {
            stream.resize(stream.len() + f.length as usize, 0);
            assert_eq!(f.pieces_root, None);
            continue;
        }
        let data = nested_file(&f.path[1..]);
        let (root, layer) = v2_hashes(&data, 16384);
        assert_eq!(
            f.pieces_root,
            (!data.is_empty()).then_some(root),
            "{:?}",
            f.path
        );
        if !layer.is_empty() {
            assert_eq!(m.piece_layers.get(&root), Some(&layer));
        }
        stream.extend(data);
    }
    assert_eq!(m.info.pieces, v1_pieces(&stream, 16384));
    assert_eq!(m.piece_layers.len(), 2);
}

#[test]
fn v2_nested_offsets_are_piece_aligned() {
    let m = parse("lt-v2-nested.torrent");
    assert_eq!(m.info.version, MetaVersion::V2);
    assert!(m.info.pieces.is_empty());
    let offsets: Vec<(String, u64)> = m
        .info
        .files
        .iter()
        .map(|f| (f.path.join("/"), f.offset))
        .collect();
    assert_eq!(
        offsets,
        vec![
            ("nested/a.txt".to_owned(), 0),
            ("nested/empty.txt".to_owned(), 5),
            ("nested/run.sh".to_owned(), 16384),
            ("nested/sub/b.bin".to_owned(), 32768),
            ("nested/sub/deeper/c.dat".to_owned(), 81920),
        ]
    );
    assert_eq!(m.info.total_length, 151_920);
    assert!(m.info.files[2].attr.executable);
}

#[test]
fn v2_single_is_named_after_its_file() {
    let m = parse("lt-v2-single.torrent");
    assert!(!m.info.multi_file);
    assert_eq!(m.info.files[0].path, vec!["single.bin".to_owned()]);
    let (root, layer) = v2_hashes(&single(), 16384);
    assert_eq!(m.info.files[0].pieces_root, Some(root));
    assert_eq!(m.piece_layers.get(&root), Some(&layer));
}

/// Builds `version` torrents of the fixture content from scratch (hashing
/// it here) in the given file order.
fn build_nested(
    version: MetaVersion,
    order: &[Vec<String>],
    piece_length: u32,
    exec_attr: bool,
) -> TorrentBuilder {
    let pl = piece_length as usize;
    let mut b = TorrentBuilder::new("nested", piece_length).version(version);
    let mut stream = Vec::new();
    for (i, path) in order.iter().enumerate() {
        let data = nested_file(path);
        let attr = FileAttr {
            executable: exec_attr && path.last().unwrap() == "run.sh",
            ..FileAttr::default()
        };
        b = b.file_with_attr(path.clone(), data.len() as u64, attr);
        if version != MetaVersion::V1 && !data.is_empty() {
            let (root, layer) = v2_hashes(&data, u64::from(piece_length));
            b = b.v2_file(i, root, layer);
        }
        stream.extend(&data);
        if version == MetaVersion::Hybrid {
            let pad = seedcore_protocol::metainfo::hybrid_pad_after(
                order.len(),
                data.len() as u64,
                piece_length,
            );
            stream.resize(stream.len() + pad.unwrap_or(0) as usize, 0);
        }
    }
    if version != MetaVersion::V2 {
        b = b.v1_pieces(v1_pieces(&stream, pl));
    }
    b
}

fn order_of(m: &Metainfo) -> Vec<Vec<String>> {
    m.info
        .files
        .iter()
        .filter(|f| !f.attr.pad)
        .map(|f| f.path[1..].to_vec())
        .collect()
}

#[test]
fn builder_matches_mktorrent_byte_for_byte() {
    let mk = parse("mk-nested.torrent");
    let built = build_nested(MetaVersion::V1, &order_of(&mk), 32768, false)
        .build()
        .unwrap();
    let ours = Metainfo::from_bytes(&built).unwrap();
    assert_eq!(ours.info_bytes, mk.info_bytes);
    assert_eq!(ours.info_hashes, mk.info_hashes);

    let mk = parse("mk-single.torrent");
    let data = single();
    let built = TorrentBuilder::new("single.bin", 32768)
        .file(vec![], data.len() as u64)
        .v1_pieces(v1_pieces(&data, 32768))
        .private(true)
        .source("SRC")
        .build()
        .unwrap();
    assert_eq!(
        Metainfo::from_bytes(&built).unwrap().info_bytes,
        mk.info_bytes
    );
}

#[test]
fn builder_matches_libtorrent_byte_for_byte() {
    for (file, version) in [
        ("lt-v1-nested.torrent", MetaVersion::V1),
        ("lt-v2-nested.torrent", MetaVersion::V2),
        ("lt-hybrid-nested.torrent", MetaVersion::Hybrid),
    ] {
        let lt = parse(file);
        let b = build_nested(version, &order_of(&lt), 16384, true).private(lt.info.private);
        let ours = Metainfo::from_bytes(&b.build().unwrap()).unwrap();
        assert_eq!(ours.info_bytes, lt.info_bytes, "{file}");
        assert_eq!(ours.piece_layers, lt.piece_layers, "{file}");
    }
    for (file, version) in [
        ("lt-v1-single.torrent", MetaVersion::V1),
        ("lt-v2-single.torrent", MetaVersion::V2),
        ("lt-hybrid-single.torrent", MetaVersion::Hybrid),
    ] {
        let lt = parse(file);
        let data = single();
        let mut b = TorrentBuilder::new("single.bin", 16384)
            .version(version)
            .file(vec![], data.len() as u64);
        if version != MetaVersion::V1 {
            let (root, layer) = v2_hashes(&data, 16384);
            b = b.v2_file(0, root, layer);
        }
        if version != MetaVersion::V2 {
            b = b.v1_pieces(v1_pieces(&data, 16384));
        }
        let ours = Metainfo::from_bytes(&b.build().unwrap()).unwrap();
        assert_eq!(ours.info_bytes, lt.info_bytes, "{file}");
        assert_eq!(ours.info_hashes, lt.info_hashes, "{file}");
    }
}

#[test]
fn every_fixture_rebuilds_from_its_metainfo() {
    for e in expected() {
        let m = parse(&e.file);
        let (bytes, again) = TorrentBuilder::from_metainfo(&m).build_metainfo().unwrap();
        assert_eq!(again.info_bytes, m.info_bytes, "{}", e.file);
        assert_eq!(again.info, m.info, "{}", e.file);
        assert_eq!(again.piece_layers, m.piece_layers, "{}", e.file);
        assert_eq!(again.announce_list, m.announce_list, "{}", e.file);
        assert_eq!(again.url_list, m.url_list, "{}", e.file);
        assert_eq!(again.comment, m.comment, "{}", e.file);
        assert_eq!(again.creation_date, m.creation_date, "{}", e.file);
        // Whole-file equality too, for the torrents whose top level we write
        // the same way (libtorrent's, whose keys we all reproduce).
        if e.file.starts_with("lt-") {
            assert_eq!(bytes, fixture(&e.file), "{}", e.file);
        }
    }
}

#[test]
fn info_bytes_round_trip_through_from_info_bytes() {
    for e in expected() {
        let m = parse(&e.file);
        let bare = Metainfo::from_info_bytes(&m.info_bytes).unwrap();
        assert_eq!(bare.info, m.info);
        assert_eq!(bare.info_hashes, m.info_hashes);
        assert!(bare.piece_layers.is_empty());
        assert!(bare.announce.is_none());
    }
}
