//! One module per subcommand.

pub mod create;
pub mod info;
pub mod magnet;
pub mod seed;
pub mod tune;
pub mod tune_sweep;
pub mod verify;

use std::path::Path;

use anyhow::Context;
use seedcore_protocol::metainfo::Metainfo;

/// Reads and parses a .torrent, with errors that name the file. A FIFO or
/// device given as the torrent is refused at once (never waited on or read
/// without end), and so is a file over the parser's size bound.
pub fn load_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let bytes = seedcore_storage::regular::read(
        path,
        seedcore_protocol::metainfo::limits::MAX_TORRENT_SIZE as u64,
        "a .torrent (is this really one?)",
    )
    .with_context(|| format!("cannot read torrent {}", path.display()))?;
    Metainfo::from_bytes(&bytes).with_context(|| format!("invalid torrent {}", path.display()))
}

/// Worker threads for hashing: the flag, else every core.
pub fn threads(flag: Option<usize>) -> usize {
    flag.filter(|&n| n > 0).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    })
}
