//! Writing .torrent files (v1, v2, hybrid) from already-hashed content.
//!
//! The builder takes plain data: names, lengths and hashes. It reads no
//! files; `seedcore-storage`'s `create` hashes the content and the CLI glues
//! the two. Keeping I/O out means the exact bytes we write are testable
//! against other tools without touching a disk.
//!
//! What it writes matches the common tools byte for byte where they agree:
//! for the same files and piece length, the v1 info dictionary equals
//! mktorrent's (`files`/`length`, `name`, `piece length`, `pieces`, then
//! `private` and `source` when set) and libtorrent 2.0's; v2 and hybrid info
//! dictionaries equal libtorrent 2.0's, including its pad files (see
//! [`hybrid_pad_after`]). Every dictionary is written in canonical key order.
//!
//! Before returning, the output is parsed back with
//! [`Metainfo::from_bytes`], so a builder never hands out a torrent our own
//! parser (with all its checks) would refuse.
//!
//! # File order
//!
//! v1 keeps the order files were added in. v2 and hybrid torrents list
//! files in file tree order, which is the order of their path components
//! compared as byte strings (`Vec<String>`'s `Ord`); the builder requires
//! them to be added in that order, because the v1 piece hashes of a hybrid
//! (computed by the caller) depend on it.
//!
//! A v2-only torrent of a folder holding a single file cannot say so: its
//! file tree has one file at the top, which libtorrent and our parser read
//! as a single-file torrent named after that file (the folder name is lost).
//! Hybrids keep the folder in their v1 list.

mod encode;

use std::collections::BTreeMap;

use super::decode::component_problem;
use super::layout::{hybrid_pad_after, piece_count};
use super::limits::{MAX_FILES, MAX_PATH_DEPTH, MIN_V2_PIECE_LENGTH};
use super::types::{FileAttr, MetaVersion, Metainfo, PieceLength};
use super::MetainfoError;

/// Why a torrent could not be built. These are mistakes of the caller
/// (mismatched hashes, bad names), reported with the file index.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The piece length is out of bounds, or not valid for v2.
    #[error("piece length {piece_length}: {reason}")]
    PieceLength {
        /// The piece length given.
        piece_length: u32,
        /// Why it was refused.
        reason: String,
    },
    /// The torrent's name cannot be a file or folder name.
    #[error("torrent name {name:?}: {reason}")]
    Name {
        /// The name given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// No files were added.
    #[error("a torrent needs at least one file")]
    NoFiles,
    /// A file is refused (its path, its attributes, or its place in the order).
    #[error("file {index} ({path}): {reason}")]
    File {
        /// Index in the order files were added.
        index: usize,
        /// The path as given, joined with '/'.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The v1 piece hashes do not cover the data.
    #[error(
        "{got} v1 piece hashes given, but the data makes {expected} pieces; \
         hash the whole stream (pad files included for hybrids)"
    )]
    V1Pieces {
        /// Pieces the data makes.
        expected: u64,
        /// Hashes given.
        got: usize,
    },
    /// Hashes for a version the torrent does not have, or none for one it has.
    #[error("{0}")]
    Version(String),
    /// The encoded torrent failed the parser's checks (for example a piece
    /// layer that does not hash to its pieces root).
    #[error("the built torrent does not parse back: {0}")]
    Invalid(#[from] MetainfoError),
}

#[derive(Clone, Debug)]
struct BuildFile {
    path: Vec<String>,
    length: u64,
    attr: FileAttr,
}

#[derive(Clone, Debug)]
struct V2Hashes {
    root: [u8; 32],
    layer: Vec<[u8; 32]>,
}

/// Assembles a .torrent from names, lengths and hashes. See the module
/// docs; a typical use:
///
/// ```
/// use seedcore_protocol::metainfo::{build::TorrentBuilder, MetaVersion};
/// # fn hashes() -> (Vec<[u8; 20]>, [u8; 32], [u8; 32]) { unimplemented!() }
/// # fn demo() -> Result<Vec<u8>, seedcore_protocol::metainfo::build::BuildError> {
/// let (v1_pieces, root_a, root_b) = hashes();
/// TorrentBuilder::new("photos", 16384)
///     .version(MetaVersion::Hybrid)
///     .file(vec!["a.jpg".into()], 1000)
///     .file(vec!["b.jpg".into()], 2000)
///     .v1_pieces(v1_pieces)             // over a.jpg, .pad/15384, b.jpg, .pad/14384
///     .v2_file(0, root_a, vec![])       // files of one piece or less: no layer
///     .v2_file(1, root_b, vec![])
///     .tracker("udp://tracker.example:6969/announce")
///     .build()
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TorrentBuilder {
    name: String,
    piece_length: u32,
    version: MetaVersion,
    files: Vec<BuildFile>,
    v1_pieces: Vec<[u8; 20]>,
    v2: BTreeMap<usize, V2Hashes>,
    trackers: Vec<Vec<String>>,
    web_seeds: Vec<String>,
    private: bool,
    source: Option<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
}

impl TorrentBuilder {
    /// A v1 torrent called `name` (the file name of a single-file torrent,
    /// the folder name otherwise) with pieces of `piece_length` bytes.
    pub fn new(name: impl Into<String>, piece_length: u32) -> TorrentBuilder {
        TorrentBuilder {
            name: name.into(),
            piece_length,
            version: MetaVersion::V1,
            files: Vec::new(),
            v1_pieces: Vec::new(),
            v2: BTreeMap::new(),
            trackers: Vec::new(),
            web_seeds: Vec::new(),
            private: false,
            source: None,
            comment: None,
            created_by: None,
            creation_date: None,
        }
    }

    /// A builder that writes `meta` again: same files, hashes, trackers and
    /// options, so `build()` reproduces its info dictionary when `meta` was
    /// written the way this builder writes (libtorrent's and mktorrent's
    /// torrents are). Pad files are left to the builder, so a v1 torrent
    /// with pad files does not rebuild; symlinks are not carried over.
    /// Useful to rewrite trackers or comments of an existing torrent.
    pub fn from_metainfo(meta: &Metainfo) -> TorrentBuilder {
        let info = &meta.info;
        let mut b =
            TorrentBuilder::new(info.name.clone(), info.piece_length.get()).version(info.version);
        for f in info.files.iter().filter(|f| !f.attr.pad) {
            let index = b.files.len();
            let path = if info.multi_file {
                f.path.get(1..).unwrap_or_default().to_vec()
            } else {
                Vec::new()
            };
            let attr = FileAttr {
                executable: f.attr.executable,
                hidden: f.attr.hidden,
                ..FileAttr::default()
            };
            b = b.file_with_attr(path, f.length, attr);
            if let Some(root) = f.pieces_root {
                let layer = meta.piece_layers.get(&root).cloned().unwrap_or_default();
                b = b.v2_file(index, root, layer);
            }
        }
        b.v1_pieces = info.pieces.clone();
        b.trackers = if meta.announce_list.is_empty() {
            meta.announce.iter().map(|a| vec![a.clone()]).collect()
        } else {
            meta.announce_list.clone()
        };
        b.web_seeds = meta.url_list.clone();
        b.private = info.private;
        b.source = info.source.clone();
        b.comment = meta.comment.clone();
        b.created_by = meta.created_by.clone();
        b.creation_date = meta.creation_date;
        b
    }

    /// Which metadata to write (default [`MetaVersion::V1`]).
    pub fn version(mut self, version: MetaVersion) -> Self {
        self.version = version;
        self
    }

    /// Adds a file: `path` components below the torrent's folder, and its
    /// length. A single-file torrent has one file with an empty `path` (it
    /// is saved as `name`); a folder holding one file is `vec!["file"]`.
    pub fn file(self, path: Vec<String>, length: u64) -> Self {
        self.file_with_attr(path, length, FileAttr::default())
    }

    /// Adds a file with BEP 47 attributes. Only `executable` and `hidden`
    /// may be set: pad files are the builder's business, and symlinks are
    /// not supported.
    pub fn file_with_attr(mut self, path: Vec<String>, length: u64, attr: FileAttr) -> Self {
        self.files.push(BuildFile { path, length, attr });
        self
    }

    /// The v1 piece hashes, over the concatenated files (for a hybrid, over
    /// the stream with the pad files of [`hybrid_pad_after`], as zeros).
    pub fn v1_pieces(mut self, pieces: Vec<[u8; 20]>) -> Self {
        self.v1_pieces = pieces;
        self
    }

    /// v2 hashes of file `index` (in the order added): its `pieces root`
    /// and, for a file longer than one piece, its piece layer (for shorter
    /// files the layer is ignored: BEP 52 lists none). Empty files need none.
    pub fn v2_file(
        mut self,
        index: usize,
        pieces_root: [u8; 32],
        piece_layer: Vec<[u8; 32]>,
    ) -> Self {
        self.v2.insert(
            index,
            V2Hashes {
                root: pieces_root,
                layer: piece_layer,
            },
        );
        self
    }

    /// Adds a tracker in a tier of its own (BEP 12). The first tracker is
    /// also written as `announce`.
    pub fn tracker(mut self, url: impl Into<String>) -> Self {
        self.trackers.push(vec![url.into()]);
        self
    }

    /// Adds a tier of trackers tried in turn (BEP 12). Empty tiers are skipped.
    pub fn tracker_tier(mut self, urls: Vec<String>) -> Self {
        if !urls.is_empty() {
            self.trackers.push(urls);
        }
        self
    }

    /// Adds a web seed (BEP 19 `url-list`).
    pub fn web_seed(mut self, url: impl Into<String>) -> Self {
        self.web_seeds.push(url.into());
        self
    }

    /// Sets BEP 27 `private` (peers from trackers only).
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Sets `source` (inside the info dictionary, so it changes the hash).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets `comment`.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// Sets `created by`.
    pub fn created_by(mut self, created_by: impl Into<String>) -> Self {
        self.created_by = Some(created_by.into());
        self
    }

    /// Sets `creation date` (seconds since the Unix epoch).
    pub fn creation_date(mut self, secs: i64) -> Self {
        self.creation_date = Some(secs);
        self
    }

    /// Encodes the torrent. See [`TorrentBuilder::build_metainfo`] to get
    /// the parsed result (info-hashes) as well.
    pub fn build(&self) -> Result<Vec<u8>, BuildError> {
        self.build_metainfo().map(|(bytes, _)| bytes)
    }

    /// Encodes the torrent and returns it with its parsed form.
    pub fn build_metainfo(&self) -> Result<(Vec<u8>, Metainfo), BuildError> {
        self.check()?;
        let bytes = self.encode().to_bytes();
        let meta = Metainfo::from_bytes(&bytes)?;
        Ok((bytes, meta))
    }

    fn has_v1(&self) -> bool {
        matches!(self.version, MetaVersion::V1 | MetaVersion::Hybrid)
    }

    fn has_v2(&self) -> bool {
        matches!(self.version, MetaVersion::V2 | MetaVersion::Hybrid)
    }

    fn single(&self) -> bool {
        self.files.len() == 1 && self.files.first().is_some_and(|f| f.path.is_empty())
    }

    fn file_error(&self, index: usize, reason: impl Into<String>) -> BuildError {
        let path = self
            .files
            .get(index)
            .map(|f| f.path.join("/"))
            .unwrap_or_default();
        BuildError::File {
            index,
            path,
            reason: reason.into(),
        }
    }

    fn check(&self) -> Result<(), BuildError> {
        let pl = self.piece_length;
        if PieceLength::new(u64::from(pl)).is_none() {
            return Err(BuildError::PieceLength {
                piece_length: pl,
                reason: format!("outside {}..={}", PieceLength::MIN, PieceLength::MAX),
            });
        }
        if self.has_v2() && (!pl.is_power_of_two() || pl < MIN_V2_PIECE_LENGTH) {
            return Err(BuildError::PieceLength {
                piece_length: pl,
                reason: format!("v2 needs a power of two of at least {MIN_V2_PIECE_LENGTH}"),
            });
        }
        if let Some(reason) = component_problem(self.name.as_bytes()) {
            return Err(BuildError::Name {
                name: self.name.clone(),
                reason,
            });
        }
        if self.files.is_empty() {
            return Err(BuildError::NoFiles);
        }
        if self.files.len() > MAX_FILES {
            return Err(self.file_error(MAX_FILES, format!("more than {MAX_FILES} files")));
        }
        self.check_paths()?;
        if self.has_v1() {
            let total = self
                .v1_entries()
                .iter()
                .try_fold(0u64, |acc, (_, len, _)| acc.checked_add(*len))
                .ok_or_else(|| self.file_error(0, "the file sizes add up to more than 64 bits"))?;
            let expected = piece_count(total, pl);
            if self.v1_pieces.len() as u64 != expected {
                return Err(BuildError::V1Pieces {
                    expected,
                    got: self.v1_pieces.len(),
                });
            }
        } else if !self.v1_pieces.is_empty() {
            return Err(BuildError::Version(
                "v1 piece hashes given for a v2-only torrent".into(),
            ));
        }
        if self.has_v2() {
            for (i, f) in self.files.iter().enumerate() {
                match self.v2.get(&i) {
                    None if f.length > 0 => {
                        return Err(self.file_error(i, "no v2 pieces root given (v2_file)"));
                    }
                    Some(h)
                        if f.length > u64::from(pl)
                            && h.layer.len() as u64 != piece_count(f.length, pl) =>
                    {
                        return Err(self.file_error(
                            i,
                            format!(
                                "its piece layer has {} hashes; {} bytes make {} pieces",
                                h.layer.len(),
                                f.length,
                                piece_count(f.length, pl)
                            ),
                        ));
                    }
                    _ => {}
                }
            }
            if let Some((&i, _)) = self.v2.range(self.files.len()..).next() {
                return Err(BuildError::Version(format!(
                    "v2 hashes given for file {i}, which does not exist"
                )));
            }
        } else if !self.v2.is_empty() {
            return Err(BuildError::Version(
                "v2 hashes given for a v1-only torrent".into(),
            ));
        }
        Ok(())
    }

    fn check_paths(&self) -> Result<(), BuildError> {
        let single = self.single();
        for (i, f) in self.files.iter().enumerate() {
            if f.attr.pad || f.attr.symlink {
                return Err(
                    self.file_error(i, "pad and symlink attributes cannot be set by the caller")
                );
            }
            if f.path.is_empty() && !single {
                return Err(self.file_error(
                    i,
                    "an empty path is only for the one file of a single-file torrent",
                ));
            }
            if f.path.len() > MAX_PATH_DEPTH {
                return Err(
                    self.file_error(i, format!("more than {MAX_PATH_DEPTH} path components"))
                );
            }
            if let Some(problem) = f.path.iter().find_map(|c| component_problem(c.as_bytes())) {
                return Err(self.file_error(i, problem));
            }
        }
        // v2 order is the file tree's; v1 may be any order but no path twice.
        let mut order: Vec<(&[String], usize)> = self
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_slice(), i))
            .collect();
        let sorted_already = order
            .windows(2)
            .all(|w| matches!(w, [(a, _), (b, _)] if a < b));
        if self.has_v2() && !sorted_already {
            let bad = order
                .windows(2)
                .find_map(|w| match w {
                    [(a, _), (b, j)] if a >= b => Some(*j),
                    _ => None,
                })
                .unwrap_or(0);
            return Err(self.file_error(
                bad,
                "out of order: v2 and hybrid files must be added sorted by path (file tree order)",
            ));
        }
        order.sort_unstable();
        for w in order.windows(2) {
            let [(a, i), (b, j)] = w else { continue };
            if a == b {
                return Err(self.file_error(*j.max(i), "this path is listed twice"));
            }
            if b.starts_with(a) {
                return Err(self.file_error(
                    *j,
                    format!("it would be inside file {i}, which is not a folder"),
                ));
            }
        }
        Ok(())
    }

    /// The v1 file list as (path below the folder, length, attr), pad
    /// files included for hybrids.
    fn v1_entries(&self) -> Vec<(Vec<String>, u64, FileAttr)> {
        let hybrid = self.version == MetaVersion::Hybrid;
        let mut out = Vec::with_capacity(self.files.len() * 2);
        for f in &self.files {
            out.push((f.path.clone(), f.length, f.attr));
            let pad = if hybrid {
                hybrid_pad_after(self.files.len(), f.length, self.piece_length)
            } else {
                None
            };
            if let Some(pad) = pad {
                let attr = FileAttr {
                    pad: true,
                    ..FileAttr::default()
                };
                out.push((vec![".pad".to_owned(), pad.to_string()], pad, attr));
            }
        }
        out
    }
}
