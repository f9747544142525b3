//! Torrent metainfo: v1, v2 and hybrid (BEP 3, 12, 19, 27, 47, 52).

mod types;

pub use types::*;
