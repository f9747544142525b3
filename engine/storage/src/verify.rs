//! Full and partial verification of a torrent's data on disk.
//!
//! Every piece is hashed on all cores (see [`crate::pool`] for how work is
//! shared) and compared with the torrent:
//!
//! - **v1 and hybrid**: SHA-1 of the piece's bytes (pad zeros included)
//!   against `info.pieces`. A hybrid's v2 hashes describe the same bytes, so
//!   checking one set is enough.
//! - **pure v2**: the SHA-256 merkle tree of each file. A piece of a file
//!   larger than one piece is checked against its entry in the file's piece
//!   layer; a file of at most one piece against its `pieces root`. When a
//!   torrent lacks the piece layer of a file (metadata fetched without it),
//!   the file can only be checked as a whole: all its pieces are hashed and
//!   the root rebuilt from them.
//!
//! v1 pieces that lie inside one mapped file (all but the few that span
//! file boundaries) are hashed in place, 32 at a time, with
//! `seedcore_hash::sha1_many`: one piece per SIMD lane (AVX-512: 16 lanes,
//! several times one SHA-NI stream). That is why tasks are at least 32
//! consecutive pieces.
//!
//! Missing bytes (missing file, short file) make a piece bad without
//! reading further. A file of the wrong size is still read up to its actual
//! length, so the pieces it does hold in full are found good.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use seedcore_hash::{merkle, Sha1, Sha256Digest};
use seedcore_protocol::geometry::{Geometry, PieceIndex};
use seedcore_protocol::metainfo::{MetaVersion, Metainfo};

use crate::leaves::LeafHasher;
use crate::pool::{resolve_threads, run_chunks, task_len, MULTI_BATCH};
use crate::store::{FileStamp, FileState, Storage};
use crate::StorageError;

/// How to run a verification.
#[derive(Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// Worker threads; 0 means one per core (`available_parallelism`).
    pub threads: usize,
    /// Called from worker threads with the number of piece-space bytes just
    /// processed (a delta: the calls sum to the bytes of all pieces checked).
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Raised by another thread (a signal handler) to end the verification
    /// early: it then fails with [`StorageError::Stopped`] and reports
    /// nothing, so no partial result can be mistaken for a full one.
    pub stop: Option<&'a AtomicBool>,
}

impl std::fmt::Debug for VerifyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .field("stop", &self.stop)
            .finish()
    }
}

/// The verdict on one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileVerdict {
    /// All of the file's pieces are good (always for pad files).
    Ok,
    /// Not on disk.
    Missing,
    /// On disk with the wrong size.
    WrongSize {
        /// Size the torrent expects.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Could not be opened or mapped.
    Unreadable {
        /// What went wrong.
        reason: String,
    },
    /// Right size, but some pieces touching it failed their hash check.
    Damaged {
        /// How many of the pieces touching this file are bad.
        bad_pieces: u32,
    },
}

/// What verification found about one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// Path components, as in `info.files` (starting with the torrent name
    /// for a multi-file torrent).
    pub path: Vec<String>,
    /// Expected length.
    pub length: u64,
    /// A pad file (never on disk; always `Ok`).
    pub pad: bool,
    /// The verdict.
    pub state: FileVerdict,
    /// Bad pieces touching this file (a piece shared by several files
    /// counts for each of them).
    pub bad_pieces: u32,
    /// Size and mtime when the file was opened, before it was read; what
    /// resume data records.
    pub stamp: Option<FileStamp>,
}

/// The result of verifying a whole torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Per piece: true when its hash matched.
    pub have: Vec<bool>,
    /// The pieces that failed, ascending.
    pub bad_pieces: Vec<u32>,
    /// Per file, indexed like `info.files`.
    pub files: Vec<FileReport>,
    /// Bytes fed to the hash functions (pad zeros included; bytes of files
    /// that were missing are not).
    pub bytes_hashed: u64,
}

impl VerifyReport {
    /// True when every piece is good: the torrent can be seeded in full.
    pub fn is_complete(&self) -> bool {
        self.bad_pieces.is_empty()
    }

    /// True when every piece is good and every file holding data is on disk
    /// with the right size. Zero-length files are not considered: no piece
    /// depends on them (some clients never create them).
    pub fn all_good(&self) -> bool {
        self.is_complete()
            && self
                .files
                .iter()
                .all(|f| f.pad || f.length == 0 || f.state == FileVerdict::Ok)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Have,
    Bad,
    /// v2 piece hash of a file without piece layer: judged once the whole
    /// file is hashed.
    Pending(Sha256Digest),
}

struct V2File<'m> {
    offset: u64,
    length: u64,
    first_piece: u32,
    pieces: u32,
    root: Option<[u8; 32]>,
    layer: Option<&'m [Sha256Digest]>,
}

enum Method<'m> {
    V1(&'m [[u8; 20]]),
    V2(Vec<V2File<'m>>),
}

/// Hashes single pieces of one torrent.
struct Checker<'m> {
    storage: &'m Storage,
    geo: Geometry,
    method: Method<'m>,
}

impl<'m> Checker<'m> {
    fn new(meta: &'m Metainfo, storage: &'m Storage) -> Checker<'m> {
        let info = &meta.info;
        let geo = Geometry::from_info(info);
        let pl = u64::from(geo.piece_length());
        let method = match info.version {
            MetaVersion::V1 | MetaVersion::Hybrid => Method::V1(&info.pieces),
            MetaVersion::V2 => {
                let mut files = Vec::new();
                for f in &info.files {
                    if f.attr.pad || f.length == 0 {
                        continue;
                    }
                    let first_piece = u32::try_from(f.offset / pl).unwrap_or(u32::MAX);
                    let pieces = u32::try_from(f.length.div_ceil(pl)).unwrap_or(u32::MAX);
                    let layer = f
                        .pieces_root
                        .and_then(|r| meta.piece_layers.get(&r))
                        .map(Vec::as_slice)
                        .filter(|l| l.len() == pieces as usize && pieces > 1);
                    files.push(V2File {
                        offset: f.offset,
                        length: f.length,
                        first_piece,
                        pieces,
                        root: f.pieces_root,
                        layer,
                    });
                }
                Method::V2(files)
            }
        };
        Checker {
            storage,
            geo,
            method,
        }
    }

    fn v2_file<'f>(files: &'f [V2File<'m>], piece: u32) -> Option<&'f V2File<'m>> {
        let i = files.partition_point(|f| {
            u64::from(f.first_piece) + u64::from(f.pieces) <= u64::from(piece)
        });
        files.get(i).filter(|f| f.first_piece <= piece)
    }

    /// The v2 file a piece belongs to, when it needs whole-file checking.
    fn whole_file_of(&self, piece: u32) -> Option<(u32, u32)> {
        match &self.method {
            Method::V1(_) => None,
            Method::V2(files) => Self::v2_file(files, piece)
                .filter(|f| f.pieces > 1 && f.layer.is_none())
                .map(|f| (f.first_piece, f.pieces)),
        }
    }

    fn check(&self, p: PieceIndex, scratch: &mut Vec<u8>, bytes: &mut u64) -> Outcome {
        let pl = u64::from(self.geo.piece_length());
        match &self.method {
            Method::V1(hashes) => {
                let Some(want) = hashes.get(p.get() as usize) else {
                    return Outcome::Bad;
                };
                let size = u64::from(self.geo.piece_size(p));
                let mut h = Sha1::new();
                let offset = self.geo.piece_offset(p);
                if self
                    .storage
                    .feed(offset, size, scratch, &mut |s| h.update(s))
                    .is_err()
                {
                    return Outcome::Bad;
                }
                *bytes += size;
                if h.finalize() == *want {
                    Outcome::Have
                } else {
                    Outcome::Bad
                }
            }
            Method::V2(files) => {
                let Some(f) = Self::v2_file(files, p.get()) else {
                    return Outcome::Bad;
                };
                let k = u64::from(p.get() - f.first_piece);
                let start = f.offset + k * pl;
                let len = (f.length - k * pl).min(pl);
                let mut lh = LeafHasher::with_len(len);
                if self
                    .storage
                    .feed(start, len, scratch, &mut |s| lh.update(s))
                    .is_err()
                {
                    return Outcome::Bad;
                }
                *bytes += len;
                let leaves = lh.finish();
                if f.pieces == 1 {
                    return match f.root {
                        Some(r) if merkle::root(&leaves) == r => Outcome::Have,
                        _ => Outcome::Bad,
                    };
                }
                let h = merkle::piece_root(&leaves, pl);
                match f.layer {
                    Some(layer)
                        if usize::try_from(k).ok().and_then(|k| layer.get(k)) == Some(&h) =>
                    {
                        Outcome::Have
                    }
                    Some(_) => Outcome::Bad,
                    None => Outcome::Pending(h),
                }
            }
        }
    }

    /// v1 pieces of a group: those lying in one mapped file are hashed in
    /// place, all together on the multi-buffer SHA-1 (one piece per SIMD
    /// lane); the others (spanning files, pads, short files) one by one.
    /// Returns the piece-space bytes covered.
    fn check_v1_group(
        &self,
        hashes: &[[u8; 20]],
        group: &[u32],
        out: &mut Vec<(u32, Outcome)>,
        scratch: &mut Vec<u8>,
        bytes: &mut u64,
    ) -> u64 {
        let mut done = 0u64;
        let mut batch: Vec<(u32, &[u8])> = Vec::with_capacity(group.len());
        for &p in group {
            let Some(pi) = self.geo.piece(p) else {
                continue;
            };
            let size = u64::from(self.geo.piece_size(pi));
            done += size;
            match self.storage.contiguous(self.geo.piece_offset(pi), size) {
                Some(slice) => batch.push((p, slice)),
                None => out.push((p, self.check(pi, scratch, bytes))),
            }
        }
        let slices: Vec<&[u8]> = batch.iter().map(|&(_, s)| s).collect();
        let mut digests = vec![[0u8; 20]; slices.len()];
        seedcore_hash::sha1_many(&slices, &mut digests);
        for ((p, slice), digest) in batch.iter().zip(&digests) {
            *bytes += slice.len() as u64;
            let good = hashes.get(*p as usize) == Some(digest);
            out.push((*p, if good { Outcome::Have } else { Outcome::Bad }));
        }
        done
    }

    /// Checks `pieces` (valid indices) on all cores; returns `(piece, good)`.
    fn run(
        &self,
        pieces: &[u32],
        opts: &VerifyOptions<'_>,
    ) -> Result<(Vec<(u32, bool)>, u64), StorageError> {
        let threads = resolve_threads(opts.threads, pieces.len());
        let chunk = task_len(pieces.len(), self.geo.piece_length(), threads);
        let hashed = AtomicU64::new(0);
        let raw = run_chunks(pieces, chunk, threads, opts.stop, |task, out| {
            self.storage.prefetch(&self.geo, task);
            let mut scratch = Vec::new();
            let mut bytes = 0u64;
            for group in task.chunks(MULTI_BATCH) {
                let done = match &self.method {
                    Method::V1(hashes) => {
                        self.check_v1_group(hashes, group, out, &mut scratch, &mut bytes)
                    }
                    Method::V2(_) => group
                        .iter()
                        .filter_map(|&p| self.geo.piece(p))
                        .map(|pi| {
                            out.push((pi.get(), self.check(pi, &mut scratch, &mut bytes)));
                            u64::from(self.geo.piece_size(pi))
                        })
                        .sum(),
                };
                if let Some(cb) = opts.progress {
                    cb(done);
                }
            }
            hashed.fetch_add(bytes, Ordering::Relaxed);
            Ok(())
        })?;
        Ok((self.resolve(raw), hashed.load(Ordering::Relaxed)))
    }

    /// Turns outcomes into verdicts, judging whole-file checks: a file
    /// without piece layer is good only if all its pieces were read and the
    /// root rebuilt from them matches.
    fn resolve(&self, raw: Vec<(u32, Outcome)>) -> Vec<(u32, bool)> {
        let Method::V2(files) = &self.method else {
            return raw
                .into_iter()
                .map(|(p, o)| (p, o == Outcome::Have))
                .collect();
        };
        // first piece of the file -> (piece, hash) of its pieces.
        let mut pending: BTreeMap<u32, Vec<(u32, Sha256Digest)>> = BTreeMap::new();
        let mut failed: BTreeSet<u32> = BTreeSet::new();
        let mut out = Vec::with_capacity(raw.len());
        for (p, o) in raw {
            match (o, self.whole_file_of(p)) {
                (Outcome::Pending(h), Some((first, _))) => {
                    pending.entry(first).or_default().push((p, h))
                }
                (Outcome::Bad, Some((first, _))) => {
                    failed.insert(first);
                    out.push((p, false));
                }
                (o, _) => out.push((p, o == Outcome::Have)),
            }
        }
        let pl = u64::from(self.geo.piece_length());
        for (first, mut hashes) in pending {
            hashes.sort_unstable_by_key(|&(p, _)| p);
            let good = !failed.contains(&first)
                && Self::v2_file(files, first).is_some_and(|f| {
                    let layer: Vec<Sha256Digest> = hashes.iter().map(|&(_, h)| h).collect();
                    layer.len() == f.pieces as usize
                        && f.root == Some(merkle::root_from_piece_layer(&layer, pl))
                });
            out.extend(hashes.iter().map(|&(p, _)| (p, good)));
        }
        out
    }
}

/// Verifies every piece of a torrent whose data is saved into `root`
/// (file `i` at `root.join(files[i].path)`).
pub fn verify(
    meta: &Metainfo,
    root: &Path,
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport, StorageError> {
    let storage = Storage::open(&meta.info, root)?;
    storage.advise_sequential();
    verify_storage(meta, &storage, opts)
}

/// Verifies every piece of a torrent from an already opened [`Storage`].
pub fn verify_storage(
    meta: &Metainfo,
    storage: &Storage,
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport, StorageError> {
    let checker = Checker::new(meta, storage);
    let count = checker.geo.piece_count();
    let pieces: Vec<u32> = (0..count).collect();
    let (results, bytes_hashed) = checker.run(&pieces, opts)?;
    let mut have = vec![false; pieces.len()];
    for (p, good) in results {
        if let Some(slot) = have.get_mut(p as usize) {
            *slot = good;
        }
    }
    Ok(report(meta, storage, &checker.geo, have, bytes_hashed))
}

/// Re-checks some pieces (for example those of a file that changed).
/// Returns one verdict per entry of `pieces`, in the same order. Pieces of a
/// v2 file without piece layer are checked with their whole file.
pub fn verify_pieces(
    meta: &Metainfo,
    storage: &Storage,
    pieces: &[u32],
    opts: &VerifyOptions<'_>,
) -> Result<Vec<bool>, StorageError> {
    let checker = Checker::new(meta, storage);
    let count = checker.geo.piece_count();
    let mut todo: Vec<u32> = Vec::with_capacity(pieces.len());
    for &p in pieces {
        if p >= count {
            return Err(StorageError::PieceOutOfRange {
                piece: p,
                piece_count: count,
            });
        }
        match checker.whole_file_of(p) {
            Some((first, n)) => todo.extend(first..first.saturating_add(n).min(count)),
            None => todo.push(p),
        }
    }
    todo.sort_unstable();
    todo.dedup();
    let (results, _) = checker.run(&todo, opts)?;
    let verdicts: BTreeMap<u32, bool> = results.into_iter().collect();
    Ok(pieces
        .iter()
        .map(|p| verdicts.get(p).copied().unwrap_or(false))
        .collect())
}

fn report(
    meta: &Metainfo,
    storage: &Storage,
    geo: &Geometry,
    have: Vec<bool>,
    bytes_hashed: u64,
) -> VerifyReport {
    let bad_pieces: Vec<u32> = have
        .iter()
        .enumerate()
        .filter(|(_, h)| !**h)
        .filter_map(|(p, _)| u32::try_from(p).ok())
        .collect();
    // prefix[i] = bad pieces among 0..i
    let mut prefix = Vec::with_capacity(have.len() + 1);
    prefix.push(0u32);
    for (i, h) in have.iter().enumerate() {
        let prev = prefix.get(i).copied().unwrap_or(0);
        prefix.push(prev + u32::from(!*h));
    }
    let pl = u64::from(geo.piece_length());
    let files = meta
        .info
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let bad = if f.attr.pad || f.length == 0 {
                0
            } else {
                let first = usize::try_from(f.offset / pl).unwrap_or(usize::MAX);
                let end = usize::try_from((f.offset + f.length).div_ceil(pl)).unwrap_or(usize::MAX);
                let end = end.min(have.len());
                let first = first.min(end);
                prefix.get(end).copied().unwrap_or(0) - prefix.get(first).copied().unwrap_or(0)
            };
            let state = match storage.file_status().get(i) {
                _ if f.attr.pad => FileVerdict::Ok,
                Some(FileState::Missing) => FileVerdict::Missing,
                Some(FileState::WrongSize { expected, actual }) => FileVerdict::WrongSize {
                    expected: *expected,
                    actual: *actual,
                },
                Some(FileState::Unreadable { reason }) => FileVerdict::Unreadable {
                    reason: reason.clone(),
                },
                Some(FileState::Ok) | None if bad > 0 => FileVerdict::Damaged { bad_pieces: bad },
                Some(FileState::Ok) | None => FileVerdict::Ok,
            };
            FileReport {
                path: f.path.clone(),
                length: f.length,
                pad: f.attr.pad,
                state,
                bad_pieces: bad,
                stamp: storage.file_stamp(i),
            }
        })
        .collect();
    VerifyReport {
        have,
        bad_pieces,
        files,
        bytes_hashed,
    }
}
