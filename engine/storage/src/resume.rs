//! Resume data: what a verification found, so the next start can skip it.
//!
//! A full check of a large torrent reads every byte; on restart that is
//! wasted when nothing changed. `ResumeData` records, per file, the size and
//! modification time seen *before* the file was read, plus the have-bitfield
//! of the check. At the next start, [`ResumeData::valid_for`] compares those
//! stamps with the files on disk: any difference (or another torrent, or a
//! different piece length) means "verify again". A resume file is a cache,
//! never a source of truth: a corrupt, truncated or foreign file is an
//! error from [`ResumeData::load`] that callers treat as "verify again".
//!
//! # Format
//!
//! Canonical bencode, read and written with the project's one bencode
//! codec (`seedcore_protocol::bencode`), so any bencode dump tool shows it:
//! `d8:checksum32:<SHA-256 of payload>7:payload<n>:<payload>e`, where the
//! payload is a bencoded dictionary with `version`, `info hash v1` and/or
//! `info hash v2`, `piece length`, `piece count`, `have` (bitfield, high bit
//! first, as on the wire) and `files` (a list with, per file of the torrent,
//! `d5:mtimei<secs>e4:nseci<nanos>e4:sizei<bytes>e`, or `de` for a pad file
//! or a file that was not there). The checksum catches bit rot that bencode alone would accept
//! (a flipped bit in the bitfield would otherwise claim a piece). Reading
//! accepts only the canonical form this module writes (sorted, unique keys,
//! no leading zeros) and refuses unknown keys.
//! [`ResumeData::save`] writes atomically: a temporary file in the same
//! folder, fsync, rename over the old one, fsync of the folder.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use seedcore_protocol::bencode::{self, check_canonical, Dict, Limits, OwnedValue, Value};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;

use crate::stamp::FileStamp;
use crate::VerifyReport;

/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The largest resume file accepted (enough for ~2 billion pieces or a few
/// million files).
pub const MAX_RESUME_BYTES: u64 = 256 << 20;

/// Why a resume file could not be used. Every variant means the same thing
/// to a caller: ignore the file and verify the data.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// Reading or writing failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Something other than a regular file is where the resume file
    /// should be (a FIFO, a device, a folder): it is not read.
    #[error("resume file {path} is {kind}, not a regular file; move it away (the data is verified instead)")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// The file is larger than [`MAX_RESUME_BYTES`].
    #[error("resume file {path} is {size} bytes, more than the {max} allowed; delete it")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The content is not valid resume data (truncated, corrupted, another
    /// program's file).
    #[error("resume data is corrupt ({what}); the data will be verified again")]
    Malformed {
        /// What is wrong.
        what: String,
    },
    /// Written by a different version of seedcore.
    #[error("resume data has format version {found}, this build reads {supported}; the data will be verified again")]
    Version {
        /// Version in the file.
        found: i64,
        /// Version this build reads.
        supported: u32,
    },
}

fn malformed(what: impl Into<String>) -> ResumeError {
    ResumeError::Malformed { what: what.into() }
}

/// What a verification found, keyed to the torrent and the files' stamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeData {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The torrent's v1 info-hash, if it has one.
    pub info_hash_v1: Option<[u8; 20]>,
    /// The torrent's v2 info-hash, if it has one.
    pub info_hash_v2: Option<[u8; 32]>,
    /// Piece length of the torrent.
    pub piece_length: u32,
    /// Per file of the torrent (indexed like `info.files`): its stamp when it
    /// was verified, `None` for pad files and files that were not there.
    pub files: Vec<Option<FileStamp>>,
    /// Per piece: verified good.
    pub have: Vec<bool>,
}

impl ResumeData {
    /// Resume data for a torrent, from file stamps taken *before* the data
    /// was read and the resulting have-bitfield.
    pub fn new(meta: &Metainfo, files: Vec<Option<FileStamp>>, have: Vec<bool>) -> ResumeData {
        ResumeData {
            version: FORMAT_VERSION,
            info_hash_v1: meta.info_hashes.v1.map(|h| h.0),
            info_hash_v2: meta.info_hashes.v2.map(|h| h.0),
            piece_length: meta.info.piece_length.get(),
            files,
            have,
        }
    }

    /// Resume data from a verification report (which carries the stamps
    /// taken when the files were opened).
    pub fn from_report(meta: &Metainfo, report: &VerifyReport) -> ResumeData {
        let files = report.files.iter().map(|f| f.stamp).collect();
        ResumeData::new(meta, files, report.have.clone())
    }

    /// True only when this data describes `meta` (same info-hashes, piece
    /// length, piece and file counts) and every non-pad file under `root` has
    /// the same size and modification time as when it was verified (a file
    /// absent then must still be absent).
    pub fn valid_for(&self, meta: &Metainfo, root: &Path) -> bool {
        let info = &meta.info;
        let geo = Geometry::from_info(info);
        let same_torrent = self.version == FORMAT_VERSION
            && self.info_hash_v1 == meta.info_hashes.v1.map(|h| h.0)
            && self.info_hash_v2 == meta.info_hashes.v2.map(|h| h.0)
            && self.piece_length == info.piece_length.get()
            && self.have.len() == geo.piece_count() as usize
            && self.files.len() == info.files.len();
        same_torrent
            && info.files.iter().zip(&self.files).all(|(f, stamp)| {
                if f.attr.pad {
                    return true;
                }
                let mut path = root.to_path_buf();
                path.extend(&f.path);
                FileStamp::read(&path) == *stamp
            })
    }

    /// Number of pieces marked good.
    pub fn have_count(&self) -> usize {
        self.have.iter().filter(|h| **h).count()
    }

    /// The bytes of the resume file.
    pub fn encode(&self) -> Vec<u8> {
        let files = self.files.iter().map(|f| match f {
            Some(s) => OwnedValue::dict()
                .with("mtime", OwnedValue::int(s.mtime_secs))
                .with("nsec", OwnedValue::int(s.mtime_nanos))
                // A size beyond i64 cannot exist on disk (`off_t` is
                // signed); were one recorded, it saturates and simply
                // fails to match the file at the next start.
                .with("size", OwnedValue::int(saturating_i64(s.size))),
            None => OwnedValue::dict(),
        });
        let mut payload = OwnedValue::dict()
            .with("files", OwnedValue::List(files.collect()))
            .with("have", OwnedValue::Bytes(to_bitfield(&self.have)))
            .with(
                "piece count",
                OwnedValue::int(saturating_i64(self.have.len())),
            )
            .with("piece length", OwnedValue::int(self.piece_length))
            .with("version", OwnedValue::int(self.version));
        if let Some(h) = &self.info_hash_v1 {
            payload.insert("info hash v1", OwnedValue::bytes(h));
        }
        if let Some(h) = &self.info_hash_v2 {
            payload.insert("info hash v2", OwnedValue::bytes(h));
        }
        let payload = payload.to_bytes();
        OwnedValue::dict()
            .with(
                "checksum",
                OwnedValue::bytes(&seedcore_hash::sha256(&payload)),
            )
            .with("payload", OwnedValue::Bytes(payload))
            .to_bytes()
    }

    /// Parses the bytes of a resume file, checking everything.
    pub fn decode(data: &[u8]) -> Result<ResumeData, ResumeError> {
        let outer = canonical_dict(data, 1, "the file")?;
        let (mut checksum, mut payload) = (None, None);
        for (k, v) in outer.iter() {
            match (k, v) {
                (b"checksum", Value::Bytes(b)) => checksum = Some(b),
                (b"payload", Value::Bytes(b)) => payload = Some(b),
                _ => {
                    return Err(malformed(format!(
                        "unexpected key \"{}\" in the outer dictionary",
                        key_name(k)
                    )))
                }
            }
        }
        let (Some(sum), Some(payload)) = (checksum, payload) else {
            return Err(malformed("checksum or payload missing"));
        };
        if sum != seedcore_hash::sha256(payload).as_slice() {
            return Err(malformed("checksum mismatch"));
        }
        decode_payload(payload)
    }

    /// Writes the resume file atomically: a temporary file in the same
    /// folder, fsync, rename over `path`, fsync of the folder. A crash at
    /// any point leaves either the old file or the new one, never a mix.
    pub fn save(&self, path: &Path) -> Result<(), ResumeError> {
        fn io(op: &'static str, p: &Path) -> impl FnOnce(std::io::Error) -> ResumeError + use<> {
            let path = p.to_path_buf();
            move |source| ResumeError::Io { op, path, source }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let write = || -> Result<(), ResumeError> {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(io("create", &tmp))?;
            f.write_all(&self.encode()).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("fsync", &tmp))?;
            std::fs::rename(&tmp, path).map_err(io("rename into place", path))
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        #[cfg(unix)]
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync folder", &dir))?;
        Ok(())
    }

    /// Reads and checks a resume file (at most [`MAX_RESUME_BYTES`]). A
    /// FIFO, device or folder in its place is refused without blocking.
    pub fn load(path: &Path) -> Result<ResumeData, ResumeError> {
        use crate::regular::OpenError;
        let buf =
            crate::regular::read(path, MAX_RESUME_BYTES, "a resume file").map_err(|e| match e {
                OpenError::Io { op, path, error } => ResumeError::Io {
                    op,
                    path,
                    source: error,
                },
                OpenError::TooLarge {
                    path, size, max, ..
                } => ResumeError::TooLarge { path, size, max },
                OpenError::NotRegular { path, kind } => ResumeError::NotRegular { path, kind },
            })?;
        ResumeData::decode(&buf)
    }
}

/// A size or count as a bencode integer (`i64`), saturating: nothing real
/// exceeds it, and a saturated value reads back as a mismatch, never a crash.
fn saturating_i64(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

fn to_bitfield(have: &[bool]) -> Vec<u8> {
    have.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, h)| b | (u8::from(*h) << (7 - i)))
        })
        .collect()
}

/// Reads `data` as exactly one dictionary, at most `depth` levels deep, in
/// canonical form. [`ResumeData::encode`] only writes canonical bencode, so
/// unsorted or repeated keys or leading zeros mean another writer (or
/// damage): refusing them leaves one reading of every accepted file.
fn canonical_dict<'a>(data: &'a [u8], depth: usize, what: &str) -> Result<Dict<'a>, ResumeError> {
    let limits = Limits {
        max_len: usize::try_from(MAX_RESUME_BYTES).unwrap_or(usize::MAX),
        max_depth: depth,
    };
    let bad = |e: bencode::BencodeError| malformed(format!("{what}: {e}"));
    let Value::Dict(d) = bencode::read(data, limits).map_err(bad)? else {
        return Err(malformed(format!("{what} is not a bencoded dictionary")));
    };
    check_canonical(data, limits).map_err(bad)?;
    Ok(d)
}

/// A key for an error message: escaped, and cut short so that a hostile
/// file cannot make the message huge.
fn key_name(k: &[u8]) -> String {
    let shown = k.get(..32).unwrap_or(k).escape_ascii().to_string();
    if k.len() > 32 {
        shown + "..."
    } else {
        shown
    }
}

fn integer(v: Value<'_>, what: &str) -> Result<i64, ResumeError> {
    match v.as_integer() {
        Some(i) => i
            .to_i64()
            .map_err(|_| malformed(format!("{what} is not a 64-bit integer"))),
        None => Err(malformed(format!("{what} is not an integer"))),
    }
}

fn decode_payload(data: &[u8]) -> Result<ResumeData, ResumeError> {
    let d = canonical_dict(data, 3, "the payload")?;
    let (mut version, mut v1, mut v2, mut plen, mut count, mut have, mut files) =
        (None, None, None, None, None, None, None);
    for (k, v) in d.iter() {
        match k {
            b"version" => version = Some(integer(v, "version")?),
            b"piece length" => plen = Some(integer(v, "piece length")?),
            b"piece count" => count = Some(integer(v, "piece count")?),
            b"info hash v1" => {
                let b = v
                    .as_bytes()
                    .ok_or_else(|| malformed("v1 info-hash is not a string"))?;
                v1 = Some(
                    <[u8; 20]>::try_from(b)
                        .map_err(|_| malformed("v1 info-hash is not 20 bytes"))?,
                );
            }
            b"info hash v2" => {
                let b = v
                    .as_bytes()
                    .ok_or_else(|| malformed("v2 info-hash is not a string"))?;
                v2 = Some(
                    <[u8; 32]>::try_from(b)
                        .map_err(|_| malformed("v2 info-hash is not 32 bytes"))?,
                );
            }
            b"have" => {
                have = Some(
                    v.as_bytes()
                        .ok_or_else(|| malformed("have is not a string"))?,
                );
            }
            b"files" => {
                let l = v
                    .as_list()
                    .ok_or_else(|| malformed("files is not a list"))?;
                files = Some(l.iter().map(decode_stamp).collect::<Result<Vec<_>, _>>()?);
            }
            _ => {
                return Err(malformed(format!(
                    "unknown key \"{}\" in payload",
                    key_name(k)
                )))
            }
        }
    }
    let version = version.ok_or_else(|| malformed("version missing"))?;
    if version != i64::from(FORMAT_VERSION) {
        return Err(ResumeError::Version {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if v1.is_none() && v2.is_none() {
        return Err(malformed("no info-hash"));
    }
    let piece_length = plen
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| malformed("piece length missing or out of range"))?;
    let count = count
        .and_then(|c| usize::try_from(c).ok())
        .filter(|c| u32::try_from(*c).is_ok())
        .ok_or_else(|| malformed("piece count missing or out of range"))?;
    let bits = have.ok_or_else(|| malformed("have missing"))?;
    if bits.len() != count.div_ceil(8) {
        return Err(malformed(
            "have bitfield length does not match the piece count",
        ));
    }
    let have: Vec<bool> = (0..count)
        .map(|i| bits.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0))
        .collect();
    if to_bitfield(&have) != bits {
        return Err(malformed("spare bits set at the end of the have bitfield"));
    }
    Ok(ResumeData {
        version: FORMAT_VERSION,
        info_hash_v1: v1,
        info_hash_v2: v2,
        piece_length,
        files: files.ok_or_else(|| malformed("files missing"))?,
        have,
    })
}

fn decode_stamp(item: Value<'_>) -> Result<Option<FileStamp>, ResumeError> {
    let d = item
        .as_dict()
        .ok_or_else(|| malformed("file entry is not a dictionary"))?;
    let (mut mtime, mut nsec, mut size) = (None, None, None);
    for (k, v) in d.iter() {
        match k {
            b"mtime" => mtime = Some(integer(v, "mtime")?),
            b"nsec" => nsec = Some(integer(v, "nsec")?),
            b"size" => size = Some(integer(v, "size")?),
            _ => {
                return Err(malformed(format!(
                    "unknown key \"{}\" in file entry",
                    key_name(k)
                )))
            }
        }
    }
    match (mtime, nsec, size) {
        (None, None, None) => Ok(None),
        (Some(mtime_secs), Some(n), Some(s)) => {
            let mtime_nanos = u32::try_from(n)
                .ok()
                .filter(|n| *n < 1_000_000_000)
                .ok_or_else(|| malformed("nsec out of range"))?;
            let size = u64::try_from(s).map_err(|_| malformed("negative file size"))?;
            Ok(Some(FileStamp {
                size,
                mtime_secs,
                mtime_nanos,
            }))
        }
        _ => Err(malformed("file entry lacks mtime, nsec or size")),
    }
}

#[cfg(test)]
mod tests;
