//! The metainfo parser: `.torrent` files (v1, v2, hybrid) and bare info
//! dictionaries (what ut_metadata delivers). Any input gives a value or an
//! error, never a panic, and whatever parses is self-consistent: its own
//! info dictionary parses to the same `Info`, the session's context can be
//! built from it or refuses with an error, a torrent rebuilt from it either
//! builds or says why, and its magnet link parses back to the same link.

use seedcore_protocol::magnet::{Magnet, MAX_MAGNET_LEN};
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::TorrentContext;

/// See the module docs.
pub fn run(data: &[u8]) {
    if let Ok(meta) = Metainfo::from_bytes(data) {
        check(&meta);
        let bare = Metainfo::from_info_bytes(&meta.info_bytes).expect("info bytes re-parse");
        assert_eq!(bare.info, meta.info);
        assert_eq!(bare.info_hashes, meta.info_hashes);
        // Rebuilding may fail (v1 pad files, symlinks), but must not panic.
        let _ = TorrentBuilder::from_metainfo(&meta).build();
    }
    if let Ok(meta) = Metainfo::from_info_bytes(data) {
        check(&meta);
    }
}

fn check(meta: &Metainfo) {
    let magnet = Magnet::from_metainfo(meta);
    let uri = magnet.to_uri();
    // A torrent may list more trackers than a magnet link can carry.
    if uri.len() <= MAX_MAGNET_LEN {
        assert_eq!(Magnet::parse(&uri).expect("own magnet parses"), magnet);
    }
    if let Ok(ctx) = TorrentContext::from_metainfo(meta) {
        assert_eq!(ctx.info_bytes(), &meta.info_bytes[..]);
        let g = ctx.geometry();
        assert!(u64::from(g.piece_count()) * u64::from(g.piece_length()) >= g.total_length());
    }
}
