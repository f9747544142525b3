//! One module per subcommand.

pub mod create;
pub mod ctl;
pub mod info;
pub mod magnet;
pub mod seed;
pub mod tune;
pub mod tune_sweep;
pub mod verify;

use std::path::Path;

use anyhow::Context;
use seedcore_protocol::metainfo::Metainfo;

/// The largest .torrent file read from disk; larger ones are refused before
/// reading (the parser has its own, equal bound).
const MAX_TORRENT_FILE: u64 = 64 * 1024 * 1024;

/// Reads and parses a .torrent, with errors that name the file.
pub fn load_torrent(path: &Path) -> anyhow::Result<Metainfo> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("cannot read torrent {}", path.display()))?;
    if meta.len() > MAX_TORRENT_FILE {
        anyhow::bail!(
            "torrent {} is {} bytes; the limit is {MAX_TORRENT_FILE} (is this really a .torrent?)",
            path.display(),
            meta.len()
        );
    }
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read torrent {}", path.display()))?;
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
