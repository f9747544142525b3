//! Fuzzes the metainfo and magnet parsers: any input must give a value or
//! an error, never a panic, and whatever parses must be self-consistent
//! (its own info dictionary parses to the same `Info`; a torrent rebuilt
//! from it parses; its magnet link parses back to the same link).
//! Run from engine/protocol: `cargo +nightly fuzz run metainfo`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::Metainfo;

fuzz_target!(|data: &[u8]| {
    if let Ok(meta) = Metainfo::from_bytes(data) {
        let bare = Metainfo::from_info_bytes(&meta.info_bytes).expect("info bytes re-parse");
        assert_eq!(bare.info, meta.info);
        // Rebuilding may fail (v1 pad files, symlinks), but must not panic.
        let _ = TorrentBuilder::from_metainfo(&meta).build();
        let magnet = Magnet::from_metainfo(&meta);
        assert_eq!(
            Magnet::parse(&magnet.to_uri()).expect("own magnet parses"),
            magnet
        );
    }
    let _ = Metainfo::from_info_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Magnet::parse(text) {
            assert_eq!(Magnet::parse(&m.to_uri()).expect("re-parse"), m);
        }
    }
});
