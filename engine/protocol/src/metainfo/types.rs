//! The parsed, validated shape of a torrent. These types are the contract
//! between the parser (this crate), storage (file layout, verification) and
//! the engine: every value in them has passed the checks in `parse`, so inner
//! code never re-validates.

use std::collections::BTreeMap;
use std::fmt;

/// A v1 info-hash: SHA-1 of the bencoded info dictionary, as it appears in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV1(pub [u8; 20]);

/// A v2 info-hash: SHA-256 of the bencoded info dictionary (BEP 52).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHashV2(pub [u8; 32]);

impl InfoHashV2 {
    /// The first 20 bytes, used in the peer handshake, trackers and the DHT.
    pub fn truncated(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out.copy_from_slice(&self.0[..20]);
        out
    }
}

impl fmt::Debug for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV1({})", hex::encode(self.0))
    }
}
impl fmt::Display for InfoHashV1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}
impl fmt::Debug for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHashV2({})", hex::encode(self.0))
    }
}
impl fmt::Display for InfoHashV2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// Which metadata a torrent carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetaVersion {
    /// BEP 3 only: `pieces` and `length`/`files`.
    V1,
    /// BEP 52 only: `file tree`, `meta version` 2, piece layers.
    V2,
    /// Both, describing the same files (v1 list padded to v2's piece alignment).
    Hybrid,
}

/// The info-hashes of a torrent. At least one is present; both for a hybrid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InfoHashes {
    /// SHA-1 info-hash, for v1 and hybrid torrents.
    pub v1: Option<InfoHashV1>,
    /// SHA-256 info-hash, for v2 and hybrid torrents.
    pub v2: Option<InfoHashV2>,
}

impl InfoHashes {
    /// The 20 bytes that identify the torrent on the wire: the v1 hash when
    /// there is one, else the truncated v2 hash.
    pub fn wire_hash(&self) -> [u8; 20] {
        match (self.v1, self.v2) {
            (Some(v1), _) => v1.0,
            (None, Some(v2)) => v2.truncated(),
            (None, None) => [0u8; 20],
        }
    }
}

/// A piece length within [`PieceLength::MIN`]..=[`PieceLength::MAX`]. The
/// parser further requires a power of two of at least 16 KiB for v2 data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceLength(u32);

impl PieceLength {
    /// The smallest piece length accepted from a file.
    pub const MIN: u32 = 1024;
    /// The largest piece length accepted from a file (256 MiB).
    pub const MAX: u32 = 256 * 1024 * 1024;

    /// Checks `n` against [`Self::MIN`]..=[`Self::MAX`]; `None` outside.
    pub fn new(n: u64) -> Option<Self> {
        let n32 = u32::try_from(n).ok()?;
        (Self::MIN..=Self::MAX).contains(&n32).then_some(Self(n32))
    }

    /// The length in bytes.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// BEP 47 file attributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileAttr {
    /// `p`: a pad file; its bytes are zeros and it is never written to disk.
    pub pad: bool,
    /// `x`: executable.
    pub executable: bool,
    /// `h`: hidden.
    pub hidden: bool,
    /// `l`: a symbolic link (see [`FileEntry::symlink_path`]).
    pub symlink: bool,
}

/// One file of a torrent, in storage-layout order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components relative to the folder the torrent is saved into. For a
    /// single-file torrent this is `[name]`; for a multi-file torrent it starts
    /// with the torrent's `name`. Every component passed the path checks.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte in the torrent's piece space (the v1
    /// concatenation, or v2's piece-aligned layout).
    pub offset: u64,
    /// BEP 47 attributes.
    pub attr: FileAttr,
    /// BEP 52 `pieces root`, for v2 and hybrid torrents (absent for empty files).
    pub pieces_root: Option<[u8; 32]>,
    /// BEP 47 `symlink path`, when `attr.symlink`.
    pub symlink_path: Option<Vec<String>>,
}

/// The validated info dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    /// `name`: the file name (single file) or folder name (several files).
    pub name: String,
    /// `piece length`.
    pub piece_length: PieceLength,
    /// Which metadata is present.
    pub version: MetaVersion,
    /// True when the files live in a folder called `name` (v1 `files`, or a
    /// v2 file tree with more than one file or a nested one).
    pub multi_file: bool,
    /// Every file in storage order. For v1 and hybrid torrents: the v1 list,
    /// pad files included. For pure v2: the file tree in key order, each file
    /// starting on a piece boundary (the gaps are implicit, not listed).
    pub files: Vec<FileEntry>,
    /// v1 `pieces`, split in 20-byte hashes (empty for pure v2).
    pub pieces: Vec<[u8; 20]>,
    /// Size of the piece space: the end of the last file (pads included).
    pub total_length: u64,
    /// Number of pieces (equals `pieces.len()` when v1 data is present).
    pub piece_count: u32,
    /// BEP 27 `private`.
    pub private: bool,
    /// `source`, when present (private trackers use it to make hashes unique).
    pub source: Option<String>,
}

/// A whole .torrent file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metainfo {
    /// The validated info dictionary.
    pub info: Info,
    /// The info dictionary's bytes exactly as they appear in the file (what
    /// the info-hashes are computed over, and what ut_metadata hands out).
    pub info_bytes: Vec<u8>,
    /// The info-hashes.
    pub info_hashes: InfoHashes,
    /// `announce`.
    pub announce: Option<String>,
    /// BEP 12 `announce-list` tiers (empty when absent).
    pub announce_list: Vec<Vec<String>>,
    /// BEP 19 `url-list` web seeds.
    pub url_list: Vec<String>,
    /// `comment`.
    pub comment: Option<String>,
    /// `created by`.
    pub created_by: Option<String>,
    /// `creation date`, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    /// BEP 52 `piece layers`: pieces root -> the piece-layer hashes of that
    /// file. Each entry was checked against its root and the file's length.
    pub piece_layers: BTreeMap<[u8; 32], Vec<[u8; 32]>>,
}
