//! Properties: build -> parse gives back what was built (v1, v2, hybrid,
//! random file trees); nothing (random bytes, mutated real torrents, random
//! magnet links) makes the parsers panic; magnet links round-trip.

// Test code: a failed expectation should panic with its message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

mod metainfo_support;

use std::collections::BTreeSet;

use metainfo_support::{expected, fixture};
use proptest::prelude::*;
use seedcore_hash::merkle;
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::{
    hybrid_pad_after, FileAttr, InfoHashV1, InfoHashV2, InfoHashes, MetaVersion, Metainfo,
};

#[derive(Clone, Debug)]
struct Spec {
    name: String,
    version: MetaVersion,
    piece_length: u32,
    single: bool,
    files: Vec<(Vec<String>, u64, bool)>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    private: bool,
    source: Option<String>,
    comment: Option<String>,
}

fn component() -> impl Strategy<Value = String> {
    // A small alphabet makes shared folders (and conflicts, removed below) common.
    prop_oneof![
        "[a-c]{1,2}",
        "[a-zA-Z0-9 ._~-]{1,12}".prop_filter("not . or ..", |s| s != "." && s != ".."),
        "\\PC{1,6}".prop_filter("valid component", |s| {
            seedcore_protocol::metainfo::component_problem(s.as_bytes()).is_none()
        }),
    ]
}

fn version() -> impl Strategy<Value = MetaVersion> {
    prop_oneof![
        Just(MetaVersion::V1),
        Just(MetaVersion::V2),
        Just(MetaVersion::Hybrid)
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let files = prop::collection::vec(
        (
            prop::collection::vec(component(), 1..4),
            0u64..120_000,
            any::<bool>(),
        ),
        1..10,
    );
    let url = "(http|udp)://[a-z]{1,8}\\.example(:[0-9]{1,4})?/[a-z]{0,6}";
    (
        component(),
        version(),
        14u32..=16,
        any::<bool>(),
        files,
        prop::collection::vec(prop::collection::vec(url, 1..3), 0..3),
        prop::collection::vec(url, 0..3),
        any::<bool>(),
        prop::option::of("[a-zA-Z0-9]{1,8}"),
        prop::option::of("\\PC{0,20}"),
    )
        .prop_map(
            |(
                name,
                version,
                shift,
                single,
                files,
                trackers,
                web_seeds,
                private,
                source,
                comment,
            )| {
                // Unique, prefix-free paths in file tree order.
                let mut seen: BTreeSet<Vec<String>> = BTreeSet::new();
                let mut kept: Vec<(Vec<String>, u64, bool)> = Vec::new();
                let mut sorted = files;
                sorted.sort();
                for (path, len, exec) in sorted {
                    let clash = seen
                        .iter()
                        .any(|p| path.starts_with(p) || p.starts_with(&path));
                    if !clash {
                        seen.insert(path.clone());
                        kept.push((path, len, exec));
                    }
                }
                if kept.iter().all(|f| f.1 == 0) {
                    kept[0].1 = 1;
                }
                let single = single && kept.len() == 1;
                if single {
                    kept[0].0.clear();
                }
                Spec {
                    name,
                    version,
                    piece_length: 1 << shift,
                    single,
                    files: kept,
                    trackers,
                    web_seeds,
                    private,
                    source,
                    comment,
                }
            },
        )
}

/// Fake but self-consistent hashes: layers are arbitrary, roots are the
/// merkle roots of the layers, v1 hashes number exactly the pieces.
fn builder(spec: &Spec) -> TorrentBuilder {
    let pl = spec.piece_length;
    let mut b = TorrentBuilder::new(spec.name.clone(), pl).version(spec.version);
    let mut v1_total = 0u64;
    for (i, (path, len, exec)) in spec.files.iter().enumerate() {
        let attr = FileAttr {
            executable: *exec,
            ..FileAttr::default()
        };
        b = b.file_with_attr(path.clone(), *len, attr);
        v1_total += len;
        if spec.version == MetaVersion::Hybrid {
            v1_total += hybrid_pad_after(spec.files.len(), *len, pl).unwrap_or(0);
        }
        if spec.version != MetaVersion::V1 && *len > 0 {
            let seed = i as u8;
            let (root, layer) = if *len > u64::from(pl) {
                let n = len.div_ceil(u64::from(pl));
                let layer: Vec<[u8; 32]> = (0..n).map(|k| [seed ^ k as u8; 32]).collect();
                (merkle::root_from_piece_layer(&layer, u64::from(pl)), layer)
            } else {
                ([seed.wrapping_add(100); 32], Vec::new())
            };
            b = b.v2_file(i, root, layer);
        }
    }
    if spec.version != MetaVersion::V2 {
        let n = v1_total.div_ceil(u64::from(pl));
        b = b.v1_pieces((0..n).map(|k| [k as u8; 20]).collect());
    }
    for tier in &spec.trackers {
        b = b.tracker_tier(tier.clone());
    }
    for w in &spec.web_seeds {
        b = b.web_seed(w.clone());
    }
    b = b.private(spec.private);
    if let Some(s) = &spec.source {
        b = b.source(s.clone());
    }
    if let Some(c) = &spec.comment {
        b = b.comment(c.clone());
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn build_then_parse_round_trips(spec in spec()) {
        let b = builder(&spec);
        let (bytes, m) = b.build_metainfo().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let info = &m.info;
        prop_assert_eq!(info.version, spec.version);
        prop_assert_eq!(info.private, spec.private);
        prop_assert_eq!(&info.source, &spec.source);
        prop_assert_eq!(&m.comment, &spec.comment);
        let trackers: Vec<String> =
            if m.announce_list.is_empty() { m.announce.iter().cloned().collect() } else { m.announce_list.concat() };
        prop_assert_eq!(&trackers, &spec.trackers.concat());
        prop_assert_eq!(&m.url_list, &spec.web_seeds);
        let real: Vec<_> = info.files.iter().filter(|f| !f.attr.pad).collect();
        prop_assert_eq!(real.len(), spec.files.len());
        // v2 single-file torrents hold one file at the top of the tree;
        // so does a folder holding one file, which then reads as single.
        let single_read = !info.multi_file;
        for (f, (path, len, exec)) in real.iter().zip(&spec.files) {
            let want: Vec<String> = if spec.single {
                vec![spec.name.clone()]
            } else if single_read {
                path.clone()
            } else {
                std::iter::once(spec.name.clone()).chain(path.iter().cloned()).collect()
            };
            prop_assert_eq!(&f.path, &want);
            prop_assert_eq!(f.length, *len);
            prop_assert_eq!(f.attr.executable, *exec);
            prop_assert_eq!(f.pieces_root.is_some(), spec.version != MetaVersion::V1 && *len > 0);
            if spec.version != MetaVersion::V1 && *len > 0 && f.offset % u64::from(spec.piece_length) != 0 {
                prop_assert!(false, "v2 file not piece-aligned");
            }
        }
        prop_assert_eq!(info.piece_count as u64, info.total_length.div_ceil(u64::from(spec.piece_length)));
        if spec.version != MetaVersion::V1 {
            let big = spec.files.iter().filter(|f| f.1 > u64::from(spec.piece_length)).count();
            prop_assert!(m.piece_layers.len() <= big);
            prop_assert_eq!(m.piece_layers.is_empty(), big == 0);
        }
        // Writing the parsed torrent again gives the same bytes, except for
        // a v2 folder holding one file, which reads back as that file alone
        // (BEP 52's tree cannot tell them apart; libtorrent reads it so too).
        let (again, m2) = TorrentBuilder::from_metainfo(&m)
            .build_metainfo()
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        if single_read && !spec.single && spec.version == MetaVersion::V2 {
            prop_assert_eq!(&m2.info.files, &m.info.files);
            prop_assert_eq!(&m2.piece_layers, &m.piece_layers);
        } else {
            prop_assert_eq!(again, bytes);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Metainfo::from_bytes(&bytes);
        let _ = Metainfo::from_info_bytes(&bytes);
    }

    #[test]
    fn bencode_shaped_bytes_never_panic(parts in prop::collection::vec(
        prop_oneof![
            Just("d".to_owned()), Just("l".to_owned()), Just("e".to_owned()),
            Just("4:info".to_owned()), Just("5:files".to_owned()), Just("9:file tree".to_owned()),
            Just("6:lengthi5e".to_owned()), Just("4:pathl1:ae".to_owned()), Just("0:".to_owned()),
            "i-?[0-9]{1,20}e", "[0-9]{1,2}:[a-z]{0,3}",
        ], 0..40)) {
        let bytes = parts.concat();
        let _ = Metainfo::from_bytes(bytes.as_bytes());
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..8,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..8),
    ) {
        let all = expected();
        let mut bytes = fixture(&all[which].file);
        for (at, byte, kind) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        if let Ok(m) = Metainfo::from_bytes(&bytes) {
            // Whatever parses is self-consistent.
            prop_assert_eq!(m.info.piece_count as u64, m.info.total_length.div_ceil(u64::from(m.info.piece_length.get())));
            let bare = Metainfo::from_info_bytes(&m.info_bytes).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            prop_assert_eq!(bare.info, m.info);
        }
    }

    #[test]
    fn magnets_round_trip(
        v1 in prop::option::of(any::<[u8; 20]>()),
        v2 in prop::option::of(any::<[u8; 32]>()),
        dn in prop::option::of("\\PC{0,12}"),
        trackers in prop::collection::vec("\\PC{0,16}", 0..3),
        peers in prop::collection::vec("[a-z0-9.]{1,10}:[0-9]{1,5}".prop_filter("port", |p| {
            p.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        }), 0..3),
        ranges in prop::collection::vec((0u32..1000, 0u32..5), 0..4),
        xl in prop::option::of(any::<u64>()),
        extra in prop::collection::vec(("x\\.[a-z]{1,4}", "\\PC{0,8}"), 0..2),
    ) {
        prop_assume!(v1.is_some() || v2.is_some());
        let mut m = Magnet::new(InfoHashes { v1: v1.map(InfoHashV1), v2: v2.map(InfoHashV2) });
        m.display_name = dn;
        m.trackers = trackers;
        m.peers = peers;
        m.select_only = ranges.into_iter().map(|(a, n)| a..=a + n).collect();
        m.exact_length = xl;
        m.extra = extra.into_iter().filter(|(k, _)| k != "x.pe").collect();
        let uri = m.to_uri();
        prop_assert_eq!(Magnet::parse(&uri).map_err(|e| TestCaseError::fail(format!("{e}: {uri}")))?, m);
    }

    #[test]
    fn random_magnets_never_panic(s in "magnet:\\?\\PC{0,200}") {
        let _ = Magnet::parse(&s);
    }
}
