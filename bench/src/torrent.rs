//! The torrent under test: parsed once, then shared read-only by every
//! thread (info-hash for the handshake, geometry for requests, v1 piece
//! hashes for `--verify`), and a helper that makes test data.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::{Metainfo, MetainfoError};
use seedcore_storage::create::{self, CreateMode};
use seedcore_storage::StorageError;

use crate::rng::Rng;

/// A loaded torrent.
#[derive(Debug)]
pub struct Torrent {
    /// The parsed metainfo.
    pub meta: Metainfo,
    /// The 20 bytes sent in the handshake (v1 hash, or truncated v2).
    pub info_hash: [u8; 20],
    /// Piece and block layout.
    pub geometry: Geometry,
}

/// Why a torrent could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    /// The file could not be read.
    #[error("cannot read torrent {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The bytes are not a valid torrent.
    #[error("{path} is not a valid torrent: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: MetainfoError,
    },
    /// There is nothing to download.
    #[error("{path} describes no data (total length 0): nothing to load-test")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Writing test data failed.
    #[error("cannot write test data {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Hashing the test data failed.
    #[error("cannot hash test data: {0}")]
    Hash(#[from] StorageError),
    /// The torrent could not be encoded.
    #[error("cannot encode the test torrent: {0}")]
    Build(String),
}

impl Torrent {
    /// Reads and parses a .torrent file.
    pub fn load(path: &Path) -> Result<Torrent, TorrentError> {
        let bytes = fs::read(path).map_err(|source| TorrentError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let meta = Metainfo::from_bytes(&bytes).map_err(|source| TorrentError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.info.total_length == 0 {
            return Err(TorrentError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(Torrent::from_meta(meta))
    }

    /// Wraps parsed metainfo.
    pub fn from_meta(meta: Metainfo) -> Torrent {
        Torrent {
            info_hash: meta.info_hashes.wire_hash(),
            geometry: Geometry::from_info(&meta.info),
            meta,
        }
    }

    /// Whether `--verify` can check pieces: v1 SHA-1 piece hashes exist
    /// (v1 and hybrid torrents; a pure v2 torrent has only merkle roots).
    pub fn can_verify(&self) -> bool {
        self.meta.info.pieces.len() as u64 == u64::from(self.geometry.piece_count())
    }

    /// The expected SHA-1 of piece `index`.
    pub fn piece_hash(&self, index: u32) -> Option<&[u8; 20]> {
        self.meta.info.pieces.get(usize::try_from(index).ok()?)
    }

    /// The torrent's name.
    pub fn name(&self) -> &str {
        &self.meta.info.name
    }
}

/// Writes `size` bytes of pseudo-random data to `dir/name` and a v1
/// torrent for it to `dir/name.torrent` (piece length `piece_length`, or
/// the automatic one when 0). Returns the torrent's path; the data folder
/// to seed from is `dir`.
pub fn make_data(
    dir: &Path,
    name: &str,
    size: u64,
    piece_length: u32,
) -> Result<PathBuf, TorrentError> {
    let data = dir.join(name);
    let write_err = |source| TorrentError::Write {
        path: data.clone(),
        source,
    };
    fs::create_dir_all(dir).map_err(write_err)?;
    let file = fs::File::create(&data).map_err(write_err)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng::new(size ^ 0x5eed);
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for word in chunk.chunks_mut(8) {
            let v = rng.next_u64().to_le_bytes();
            for (d, s) in word.iter_mut().zip(v) {
                *d = s;
            }
        }
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        out.write_all(chunk.get(..n).unwrap_or_default())
            .map_err(write_err)?;
        left -= n as u64;
    }
    out.flush().map_err(write_err)?;
    drop(out);

    let scanned = create::scan(&data)?;
    let pl = if piece_length == 0 {
        create::auto_piece_length(size)
    } else {
        piece_length
    };
    let hashed = create::hash(&scanned, pl, CreateMode::V1, 0, None)?;
    let bytes = hashed
        .builder()
        .created_by("seedcore-bench")
        .build()
        .map_err(|e| TorrentError::Build(e.to_string()))?;
    let path = dir.join(format!("{name}.torrent"));
    fs::write(&path, bytes).map_err(|source| TorrentError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_data_loads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = make_data(dir.path(), "d.bin", 100_000, 16384).unwrap();
        let t = Torrent::load(&path).unwrap();
        assert_eq!(t.geometry.total_length(), 100_000);
        assert_eq!(t.geometry.piece_count(), 7);
        assert!(t.can_verify());
        let data = fs::read(dir.path().join("d.bin")).unwrap();
        let last = &data[6 * 16384..];
        assert_eq!(seedcore_hash::sha1(last), *t.piece_hash(6).unwrap());
        assert!(t.piece_hash(7).is_none());
    }

    #[test]
    fn bad_torrents_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.torrent");
        assert!(matches!(Torrent::load(&p), Err(TorrentError::Read { .. })));
        fs::write(&p, b"not bencode").unwrap();
        let e = Torrent::load(&p).unwrap_err();
        assert!(e.to_string().contains("not a valid torrent"), "{e}");
    }
}
