//! [`TorrentContext`]: what every session of one torrent needs to know and
//! that never changes while it is seeded. Built once per torrent by the
//! runtime and shared by all shards through an `Arc`.

use std::collections::BTreeMap;

use bytes::Bytes;
use seedcore_hash::merkle::{MerkleError, MerkleTree};
use thiserror::Error;

use crate::geometry::Geometry;
use crate::metainfo::{InfoHashes, MetaVersion, Metainfo};

/// Why a [`TorrentContext`] could not be built from a metainfo.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ContextError {
    /// The info dictionary is too large to hand out with ut_metadata or
    /// LT_metadata (their sizes are 32-bit signed integers).
    #[error(
        "info dictionary is {len} bytes, more than the {max} bytes metadata exchange can \
         describe; this torrent cannot be seeded to magnet-link peers"
    )]
    InfoTooLarge {
        /// Size of the info dictionary.
        len: usize,
        /// The limit (`i32::MAX`).
        max: usize,
    },
    /// A file's piece layer does not make a merkle tree of its length.
    #[error("file {file} ({path}): {source}")]
    Merkle {
        /// Index of the file in `info.files`.
        file: usize,
        /// The file's path, joined with '/'.
        path: String,
        /// What is wrong.
        source: MerkleError,
    },
}

/// One v2 file's merkle tree, for answering BEP 52 hash requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V2File {
    /// The tree above the file's piece layer (the whole tree for files of
    /// at most one piece, whose only stored node is the root).
    pub tree: MerkleTree,
    /// The file's length in bytes.
    pub length: u64,
    /// Index of the file in `info.files`.
    pub file_index: usize,
}

/// The immutable, shared description of a torrent being seeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentContext {
    info_hashes: InfoHashes,
    geometry: Geometry,
    data_length: u64,
    /// Shared, immutable: metadata answers are slices of it, never copies.
    info_bytes: Bytes,
    private: bool,
    version: MetaVersion,
    v2_files: BTreeMap<[u8; 32], V2File>,
}

impl TorrentContext {
    /// Builds the context of a parsed torrent: copies the info dictionary's
    /// bytes once into a shared buffer (for metadata exchange) and builds the BEP 52 tree of every
    /// non-empty v2 file from its piece layer.
    pub fn from_metainfo(meta: &Metainfo) -> Result<TorrentContext, ContextError> {
        let max = i32::MAX as usize;
        if meta.info_bytes.len() > max {
            return Err(ContextError::InfoTooLarge {
                len: meta.info_bytes.len(),
                max,
            });
        }
        let piece_length = u64::from(meta.info.piece_length.get());
        let mut v2_files = BTreeMap::new();
        if meta.info.version != MetaVersion::V1 {
            for (i, file) in meta.info.files.iter().enumerate() {
                let Some(root) = file.pieces_root else {
                    continue;
                };
                if file.attr.pad || file.length == 0 {
                    continue;
                }
                let single = [root];
                let layer = meta
                    .piece_layers
                    .get(&root)
                    .map(Vec::as_slice)
                    .unwrap_or(&single);
                let tree = MerkleTree::from_piece_layer(layer, piece_length, file.length).map_err(
                    |source| ContextError::Merkle {
                        file: i,
                        path: file.path.join("/"),
                        source,
                    },
                )?;
                v2_files.entry(root).or_insert(V2File {
                    tree,
                    length: file.length,
                    file_index: i,
                });
            }
        }
        let mut geometry = Geometry::from_info(&meta.info);
        if meta.info.version == MetaVersion::V2 {
            // libtorrent pads every v2 file to a piece boundary, the last one
            // included, and requests whole blocks of the last piece: accept
            // requests up to the padded end (the padding reads as zeros).
            let pl = geometry.piece_length();
            let padded = geometry.total_length().div_ceil(u64::from(pl)) * u64::from(pl);
            geometry = Geometry::new(pl, padded).unwrap_or(geometry);
        }
        Ok(TorrentContext {
            info_hashes: meta.info_hashes,
            geometry,
            data_length: meta.info.total_length,
            info_bytes: Bytes::copy_from_slice(&meta.info_bytes),
            private: meta.info.private,
            version: meta.info.version,
            v2_files,
        })
    }

    /// The torrent's info-hashes.
    pub fn info_hashes(&self) -> &InfoHashes {
        &self.info_hashes
    }

    /// Whether `hash` (from a handshake) names this torrent: its v1 hash or
    /// its truncated v2 hash.
    pub fn matches(&self, hash: &[u8; 20]) -> bool {
        self.info_hashes.v1.is_some_and(|h| &h.0 == hash)
            || self.info_hashes.v2.is_some_and(|h| &h.truncated() == hash)
    }

    /// The piece geometry requests are checked against.
    ///
    /// For pure v2 torrents it runs to the next piece boundary after the
    /// last file ("tail padding"), because libtorrent treats v2 files as
    /// padded and requests whole 16 KiB blocks of a short last piece. So a
    /// [`crate::geometry::BlockRef`] may end past [`Self::data_length`]:
    /// the runtime sends zeros for those bytes, as for any pad.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// The end of the last file in the piece space (`info.total_length`):
    /// bytes at or past it are padding, zeros on the wire.
    pub fn data_length(&self) -> u64 {
        self.data_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.geometry.piece_count()
    }

    /// The bencoded info dictionary, as handed out by ut_metadata.
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// Bytes `from..to` of the info dictionary as a shared slice (no copy:
    /// every peer fetching metadata is handed a view of the same buffer).
    /// `None` when the range is not inside it.
    pub fn info_slice(&self, from: usize, to: usize) -> Option<Bytes> {
        (from <= to && to <= self.info_bytes.len()).then(|| self.info_bytes.slice(from..to))
    }

    /// Size of the info dictionary (BEP 9 `metadata_size`).
    pub fn metadata_size(&self) -> u32 {
        u32::try_from(self.info_bytes.len()).unwrap_or(u32::MAX)
    }

    /// BEP 27: no PEX (and no DHT) for this torrent.
    pub fn private(&self) -> bool {
        self.private
    }

    /// v1, v2 or hybrid.
    pub fn version(&self) -> MetaVersion {
        self.version
    }

    /// Whether the torrent has v2 hashes (v2 or hybrid): we advertise the
    /// v2 bit and answer hash requests.
    pub fn has_v2(&self) -> bool {
        self.version != MetaVersion::V1
    }

    /// The merkle tree of the v2 file with this pieces root.
    pub fn v2_file(&self, pieces_root: &[u8; 32]) -> Option<&V2File> {
        self.v2_files.get(pieces_root)
    }
}
