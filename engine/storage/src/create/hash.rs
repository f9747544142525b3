//! Hashing scanned files into v1 pieces, v2 piece layers and roots.

use std::collections::BTreeMap;

use seedcore_hash::{merkle, Sha1, Sha256Digest};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::metainfo::{
    hybrid_pad_after, FileAttr, FileEntry, Info, MetaVersion, PieceLength,
};

use super::scan::ScannedFiles;
use crate::leaves::LeafHasher;
use crate::pool::{resolve_threads, run_chunks, task_len, MULTI_BATCH};
use crate::store::{feed_zeros, FileStamp, FileState, Storage};
use crate::StorageError;

/// Which kind of torrent to hash for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CreateMode {
    /// BEP 3: SHA-1 pieces over the concatenated files.
    V1,
    /// BEP 52 only: a merkle tree per file.
    V2,
    /// Both, over the pad-aligned layout (readable by v1-only and v2 clients).
    Hybrid,
}

/// One entry of the torrent's file list, in storage order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedFile {
    /// Path components as in `Info::files`: starting with the torrent name
    /// for a multi-file torrent, `[name]` for a single file. Pad files:
    /// `[name, ".pad", "<length>"]`.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 pad file (hybrid only): zeros, not on disk, attribute `p`.
    pub pad: bool,
    /// Has an execute permission bit (BEP 47 attribute `x`).
    pub executable: bool,
    /// BEP 52 `pieces root` (v2 and hybrid, non-empty files).
    pub pieces_root: Option<Sha256Digest>,
    /// BEP 52 piece layer, for files longer than one piece (else empty).
    pub piece_layer: Vec<Sha256Digest>,
}

/// Everything a torrent builder needs about the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedContent {
    /// The torrent's `name`.
    pub name: String,
    /// A single file (v1 `length`; v2 file tree `{name: {"": ...}}`).
    pub single_file: bool,
    /// What was hashed.
    pub mode: CreateMode,
    /// Piece length.
    pub piece_length: PieceLength,
    /// Size of the piece space (pads included for hybrid; for v2 the end of
    /// the last file in the piece-aligned layout).
    pub total_length: u64,
    /// The files in storage order (v1: mktorrent order; v2/hybrid: file-tree
    /// order), pad files included for hybrid.
    pub files: Vec<HashedFile>,
    /// v1 piece hashes (empty for pure v2).
    pub pieces: Vec<[u8; 20]>,
}

impl HashedContent {
    /// The info dictionary this content describes, as the parser would
    /// produce it (for verification round trips and for the builder).
    pub fn info(&self) -> Info {
        let pl = u64::from(self.piece_length.get());
        let mut offset = 0u64;
        let files = self
            .files
            .iter()
            .map(|f| {
                if self.mode == CreateMode::V2 && f.length > 0 {
                    offset = offset.div_ceil(pl) * pl;
                }
                let e = FileEntry {
                    path: f.path.clone(),
                    length: f.length,
                    offset,
                    attr: FileAttr {
                        pad: f.pad,
                        executable: f.executable,
                        ..FileAttr::default()
                    },
                    pieces_root: f.pieces_root,
                    symlink_path: None,
                };
                offset += f.length;
                e
            })
            .collect();
        let geo = Geometry::new(self.piece_length.get(), self.total_length);
        Info {
            name: self.name.clone(),
            piece_length: self.piece_length,
            version: match self.mode {
                CreateMode::V1 => MetaVersion::V1,
                CreateMode::V2 => MetaVersion::V2,
                CreateMode::Hybrid => MetaVersion::Hybrid,
            },
            multi_file: !self.single_file,
            files,
            pieces: self.pieces.clone(),
            total_length: self.total_length,
            piece_count: geo.map_or(0, |g| g.piece_count()),
            private: false,
            source: None,
        }
    }

    /// A torrent builder loaded with this content: name, piece length,
    /// version, the files in order (pads left to the builder, which adds the
    /// same ones), v1 pieces and v2 roots and layers. Add trackers and the
    /// like, then `build()`.
    pub fn builder(&self) -> TorrentBuilder {
        let version = match self.mode {
            CreateMode::V1 => MetaVersion::V1,
            CreateMode::V2 => MetaVersion::V2,
            CreateMode::Hybrid => MetaVersion::Hybrid,
        };
        let mut b =
            TorrentBuilder::new(self.name.clone(), self.piece_length.get()).version(version);
        for (index, f) in self.files.iter().filter(|f| !f.pad).enumerate() {
            let path = if self.single_file {
                Vec::new()
            } else {
                f.path.get(1..).unwrap_or_default().to_vec()
            };
            let attr = FileAttr {
                executable: f.executable,
                ..FileAttr::default()
            };
            b = b.file_with_attr(path, f.length, attr);
            if let Some(root) = f.pieces_root {
                b = b.v2_file(index, root, f.piece_layer.clone());
            }
        }
        if self.mode != CreateMode::V2 {
            b = b.v1_pieces(self.pieces.clone());
        }
        b
    }

    /// BEP 52 `piece layers`: pieces root -> layer, for files longer than
    /// one piece.
    pub fn piece_layers(&self) -> BTreeMap<Sha256Digest, Vec<Sha256Digest>> {
        self.files
            .iter()
            .filter_map(|f| {
                Some((f.pieces_root?, f.piece_layer.clone())).filter(|(_, l)| !l.is_empty())
            })
            .collect()
    }
}

/// Refuses piece lengths the mode cannot use.
fn check_piece_length(piece_length: u32, mode: CreateMode) -> Result<PieceLength, StorageError> {
    let bad = |reason| StorageError::BadPieceLength {
        piece_length,
        reason,
    };
    let pl = PieceLength::new(u64::from(piece_length)).ok_or(bad("outside 1 KiB ..= 256 MiB"))?;
    if mode != CreateMode::V1
        && (!piece_length.is_power_of_two()
            || piece_length < seedcore_protocol::geometry::BLOCK_SIZE)
    {
        return Err(bad(
            "v2 and hybrid torrents need a power of two of at least 16 KiB",
        ));
    }
    Ok(pl)
}

/// Where each file starts in the piece space, and the piece space's size.
fn offsets(files: &[HashedFile], mode: CreateMode, pl: u64) -> (Vec<u64>, u64) {
    let mut offset = 0u64;
    let mut end = 0u64;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if mode == CreateMode::V2 && f.length > 0 {
            offset = offset.div_ceil(pl) * pl;
        }
        out.push(offset);
        offset += f.length;
        if f.length > 0 {
            end = offset;
        }
    }
    (out, if mode == CreateMode::V2 { end } else { offset })
}

/// A non-empty file's place in a piece-aligned (v2 or hybrid) layout.
struct Owner {
    index: usize,
    offset: u64,
    length: u64,
    first_piece: u32,
    pieces: u32,
}

type PieceHashes = (u32, Option<[u8; 20]>, Option<Sha256Digest>);

/// Hashes scanned files for a `mode` torrent with pieces of `piece_length`
/// bytes, on `threads` threads (0: one per core). `progress` is called with
/// the piece-space bytes just hashed (deltas summing to `total_length`).
///
/// Fails with [`StorageError::FileChanged`] when a file is not as [`scan`]
/// saw it when hashing starts, or its size or modification time changed by
/// the time hashing ends (the hashes would describe bytes that no longer
/// exist).
///
/// [`scan`]: super::scan
pub fn hash(
    scanned: &ScannedFiles,
    piece_length: u32,
    mode: CreateMode,
    threads: usize,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<HashedContent, StorageError> {
    hash_until(scanned, piece_length, mode, threads, progress, None)
}

/// [`hash`], ended early with [`StorageError::Stopped`] once `stop` is
/// raised (a signal while a seed makes its torrent at start-up).
pub fn hash_until(
    scanned: &ScannedFiles,
    piece_length: u32,
    mode: CreateMode,
    threads: usize,
    progress: Option<&(dyn Fn(u64) + Sync)>,
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> Result<HashedContent, StorageError> {
    let piece_len = check_piece_length(piece_length, mode)?;
    let pl = u64::from(piece_length);

    let mut order: Vec<_> = scanned.files.iter().collect();
    if mode != CreateMode::V1 {
        // File-tree order: sorted component by component.
        order.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let mut files = Vec::with_capacity(order.len() * 2);
    for f in order {
        files.push(HashedFile {
            path: f.path.clone(),
            length: f.length,
            pad: false,
            executable: f.executable,
            pieces_root: None,
            piece_layer: Vec::new(),
        });
        let pad = hybrid_pad_after(scanned.files.len(), f.length, piece_length);
        if let (CreateMode::Hybrid, Some(len)) = (mode, pad) {
            files.push(HashedFile {
                path: vec![scanned.name.clone(), ".pad".into(), len.to_string()],
                length: len,
                pad: true,
                executable: false,
                pieces_root: None,
                piece_layer: Vec::new(),
            });
        }
    }
    let (starts, total_length) = offsets(&files, mode, pl);
    if total_length == 0 {
        return Err(StorageError::EmptyContent {
            path: scanned.base.join(&scanned.name),
        });
    }
    let geo = Geometry::new(piece_length, total_length).ok_or(StorageError::BadPieceLength {
        piece_length,
        reason: "the content would need more than 2^32 pieces; choose a larger piece length",
    })?;
    let mut content = HashedContent {
        name: scanned.name.clone(),
        single_file: scanned.single_file,
        mode,
        piece_length: piece_len,
        total_length,
        files,
        pieces: Vec::new(),
    };
    let info = content.info();
    let storage = Storage::open(&info, &scanned.base)?;
    check_unchanged(&storage, &info, false)?;

    let owners: Vec<Owner> = content
        .files
        .iter()
        .zip(&starts)
        .enumerate()
        .filter(|(_, (f, _))| !f.pad && f.length > 0)
        .map(|(index, (f, &offset))| Owner {
            index,
            offset,
            length: f.length,
            first_piece: u32::try_from(offset / pl).unwrap_or(u32::MAX),
            pieces: u32::try_from(f.length.div_ceil(pl)).unwrap_or(u32::MAX),
        })
        .collect();

    let pieces: Vec<u32> = (0..geo.piece_count()).collect();
    let threads = resolve_threads(threads, pieces.len());
    let chunk = task_len(pieces.len(), piece_length, threads);
    let ctx = Ctx {
        storage: &storage,
        owners: &owners,
        mode,
        pl,
        piece_count: geo.piece_count(),
    };
    let results: Vec<PieceHashes> = run_chunks(&pieces, chunk, threads, stop, |task, out| {
        storage.prefetch(&geo, task);
        let mut scratch = Vec::new();
        for group in task.chunks(MULTI_BATCH) {
            let mut done = 0u64;
            // v1: pieces inside one file are hashed in place, many at once.
            let mut batch: Vec<(u32, &[u8])> = Vec::new();
            for &p in group {
                let Some(pi) = geo.piece(p) else { continue };
                let size = u64::from(geo.piece_size(pi));
                let start = geo.piece_offset(pi);
                done += size;
                match storage.contiguous(start, size) {
                    Some(slice) if mode != CreateMode::V2 => {
                        batch.push((p, slice));
                        if mode == CreateMode::Hybrid {
                            out.push(ctx.hash_piece(p, start, size, false, &mut scratch)?);
                        }
                    }
                    _ => out.push(ctx.hash_piece(p, start, size, true, &mut scratch)?),
                }
            }
            let slices: Vec<&[u8]> = batch.iter().map(|&(_, s)| s).collect();
            let mut digests = vec![[0u8; 20]; slices.len()];
            seedcore_hash::sha1_many(&slices, &mut digests);
            out.extend(
                batch
                    .iter()
                    .zip(digests)
                    .map(|(&(p, _), d)| (p, Some(d), None)),
            );
            if let Some(cb) = progress {
                cb(done);
            }
        }
        Ok(())
    })?;
    check_unchanged(&storage, &info, true)?;

    let count = pieces.len();
    let mut v1 = vec![[0u8; 20]; count];
    let mut v2 = vec![[0u8; 32]; count];
    for (p, a, b) in results {
        let i = p as usize;
        if let (Some(slot), Some(d)) = (v1.get_mut(i), a) {
            *slot = d;
        }
        if let (Some(slot), Some(d)) = (v2.get_mut(i), b) {
            *slot = d;
        }
    }
    if mode != CreateMode::V2 {
        content.pieces = v1;
    }
    if mode != CreateMode::V1 {
        for o in &owners {
            let first = o.first_piece as usize;
            let layer = v2.get(first..first + o.pieces as usize).unwrap_or_default();
            let Some(f) = content.files.get_mut(o.index) else {
                continue;
            };
            if o.pieces > 1 {
                f.pieces_root = Some(merkle::root_from_piece_layer(layer, pl));
                f.piece_layer = layer.to_vec();
            } else {
                f.pieces_root = layer.first().copied();
            }
        }
    }
    Ok(content)
}

/// Every file must still be exactly as scanned: before hashing its state
/// must be `Ok`; after hashing its stamp must not have moved.
fn check_unchanged(
    storage: &Storage,
    info: &Info,
    after_hashing: bool,
) -> Result<(), StorageError> {
    for (i, f) in info.files.iter().enumerate() {
        if f.attr.pad {
            continue;
        }
        let path = storage
            .file_path(i)
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let detail = match (after_hashing, storage.file_status().get(i)) {
            (false, Some(FileState::Ok)) => continue,
            (false, state) => state.map(ToString::to_string).unwrap_or_default(),
            (true, _) if FileStamp::read(&path) == storage.file_stamp(i) => continue,
            (true, _) => "size or modification time changed while hashing".to_string(),
        };
        return Err(StorageError::FileChanged { path, detail });
    }
    Ok(())
}

/// What every piece's hashing needs.
struct Ctx<'a> {
    storage: &'a Storage,
    owners: &'a [Owner],
    mode: CreateMode,
    pl: u64,
    piece_count: u32,
}

impl Ctx<'_> {
    fn hash_piece(
        &self,
        p: u32,
        start: u64,
        size: u64,
        with_sha1: bool,
        scratch: &mut Vec<u8>,
    ) -> Result<PieceHashes, StorageError> {
        let (storage, owners, mode, pl) = (self.storage, self.owners, self.mode, self.pl);
        if mode == CreateMode::V1 {
            let mut h = Sha1::new();
            storage.feed(start, size, scratch, &mut |s| h.update(s))?;
            return Ok((p, Some(h.finalize()), None));
        }
        let i = owners
            .partition_point(|o| u64::from(o.first_piece) + u64::from(o.pieces) <= u64::from(p));
        let Some(o) = owners.get(i).filter(|o| o.first_piece <= p) else {
            return Err(StorageError::PieceOutOfRange {
                piece: p,
                piece_count: self.piece_count,
            });
        };
        let k = u64::from(p - o.first_piece);
        let data_len = (o.length - k * pl).min(pl);
        let mut leaves = LeafHasher::with_len(data_len);
        let mut sha1 = (mode == CreateMode::Hybrid && with_sha1).then(Sha1::new);
        storage.feed(o.offset + k * pl, data_len, scratch, &mut |s| {
            leaves.update(s);
            if let Some(h) = sha1.as_mut() {
                h.update(s);
            }
        })?;
        let v1 = sha1.map(|mut h| {
            // The pad file after the data, up to the piece's end.
            feed_zeros(size.saturating_sub(data_len), &mut |z| h.update(z));
            h.finalize()
        });
        let leaves = leaves.finish();
        let v2 = if o.length > pl {
            merkle::piece_root(&leaves, pl)
        } else {
            merkle::root(&leaves)
        };
        Ok((p, v1, Some(v2)))
    }
}
