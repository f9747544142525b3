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
//! Bencode (no new dependency; readable with any bencode dump tool):
//! `d8:checksum32:<SHA-256 of payload>7:payload<n>:<payload>e`, where the
//! payload is a bencoded dictionary with `version`, `info hash v1` and/or
//! `info hash v2`, `piece length`, `piece count`, `have` (bitfield, high bit
//! first, as on the wire) and `files` (a list with, per file of the torrent,
//! `d4:nsec<i>5:mtime<i>4:size<i>e`, or `de` for a pad file or a file that was
//! not there). The checksum catches bit rot that bencode alone would accept
//! (a flipped bit in the bitfield would otherwise claim a piece).
//! [`ResumeData::save`] writes atomically: a temporary file in the same
//! folder, fsync, rename over the old one, fsync of the folder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bendy::decoding::{Decoder, Object};
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
        let mut p = Vec::with_capacity(64 + self.have.len() / 8 + self.files.len() * 48);
        p.push(b'd');
        bytes(&mut p, b"files");
        p.push(b'l');
        for f in &self.files {
            p.push(b'd');
            if let Some(s) = f {
                bytes(&mut p, b"mtime");
                int(&mut p, i128::from(s.mtime_secs));
                bytes(&mut p, b"nsec");
                int(&mut p, i128::from(s.mtime_nanos));
                bytes(&mut p, b"size");
                int(&mut p, i128::from(s.size));
            }
            p.push(b'e');
        }
        p.push(b'e');
        bytes(&mut p, b"have");
        bytes(&mut p, &to_bitfield(&self.have));
        if let Some(h) = &self.info_hash_v1 {
            bytes(&mut p, b"info hash v1");
            bytes(&mut p, h);
        }
        if let Some(h) = &self.info_hash_v2 {
            bytes(&mut p, b"info hash v2");
            bytes(&mut p, h);
        }
        bytes(&mut p, b"piece count");
        int(&mut p, self.have.len() as i128);
        bytes(&mut p, b"piece length");
        int(&mut p, i128::from(self.piece_length));
        bytes(&mut p, b"version");
        int(&mut p, i128::from(self.version));
        p.push(b'e');

        let mut out = Vec::with_capacity(p.len() + 64);
        out.push(b'd');
        bytes(&mut out, b"checksum");
        bytes(&mut out, &seedcore_hash::sha256(&p));
        bytes(&mut out, b"payload");
        bytes(&mut out, &p);
        out.push(b'e');
        out
    }

    /// Parses the bytes of a resume file, checking everything.
    pub fn decode(data: &[u8]) -> Result<ResumeData, ResumeError> {
        let mut dec = Decoder::new(data).with_max_depth(2);
        let mut checksum = None;
        let mut payload = None;
        {
            let outer = dec.next_object().map_err(|e| malformed(e.to_string()))?;
            let Some(Object::Dict(mut d)) = outer else {
                return Err(malformed("not a bencoded dictionary"));
            };
            while let Some((k, v)) = d.next_pair().map_err(|e| malformed(e.to_string()))? {
                match (k, v) {
                    (b"checksum", Object::Bytes(b)) => checksum = Some(b),
                    (b"payload", Object::Bytes(b)) => payload = Some(b),
                    _ => return Err(malformed("unexpected key in the outer dictionary")),
                }
            }
        }
        if dec
            .next_object()
            .map_err(|e| malformed(e.to_string()))?
            .is_some()
        {
            return Err(malformed("trailing data after the dictionary"));
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

    /// Reads and checks a resume file (at most [`MAX_RESUME_BYTES`]).
    pub fn load(path: &Path) -> Result<ResumeData, ResumeError> {
        let io = |op| {
            move |source| ResumeError::Io {
                op,
                path: path.to_path_buf(),
                source,
            }
        };
        let f = File::open(path).map_err(io("open"))?;
        let size = f.metadata().map_err(io("stat"))?.len();
        let too_large = |size| ResumeError::TooLarge {
            path: path.to_path_buf(),
            size,
            max: MAX_RESUME_BYTES,
        };
        if size > MAX_RESUME_BYTES {
            return Err(too_large(size));
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        f.take(MAX_RESUME_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(io("read"))?;
        if buf.len() as u64 > MAX_RESUME_BYTES {
            return Err(too_large(buf.len() as u64));
        }
        ResumeData::decode(&buf)
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

fn int(out: &mut Vec<u8>, i: i128) {
    out.push(b'i');
    out.extend_from_slice(i.to_string().as_bytes());
    out.push(b'e');
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

fn integer(o: Object<'_, '_>, what: &str) -> Result<i64, ResumeError> {
    match o {
        Object::Integer(s) => s
            .parse()
            .map_err(|_| malformed(format!("{what} is not a 64-bit integer"))),
        _ => Err(malformed(format!("{what} is not an integer"))),
    }
}

fn decode_payload(data: &[u8]) -> Result<ResumeData, ResumeError> {
    let err = |e: bendy::decoding::Error| malformed(e.to_string());
    let mut dec = Decoder::new(data).with_max_depth(3);
    let Some(Object::Dict(mut d)) = dec.next_object().map_err(err)? else {
        return Err(malformed("payload is not a dictionary"));
    };
    let (mut version, mut v1, mut v2, mut plen, mut count, mut have, mut files) =
        (None, None, None, None, None, None, None);
    while let Some((k, v)) = d.next_pair().map_err(err)? {
        match k {
            b"version" => version = Some(integer(v, "version")?),
            b"piece length" => plen = Some(integer(v, "piece length")?),
            b"piece count" => count = Some(integer(v, "piece count")?),
            b"info hash v1" => match v {
                Object::Bytes(b) => {
                    v1 = Some(
                        <[u8; 20]>::try_from(b)
                            .map_err(|_| malformed("v1 info-hash is not 20 bytes"))?,
                    )
                }
                _ => return Err(malformed("v1 info-hash is not a string")),
            },
            b"info hash v2" => match v {
                Object::Bytes(b) => {
                    v2 = Some(
                        <[u8; 32]>::try_from(b)
                            .map_err(|_| malformed("v2 info-hash is not 32 bytes"))?,
                    )
                }
                _ => return Err(malformed("v2 info-hash is not a string")),
            },
            b"have" => match v {
                Object::Bytes(b) => have = Some(b),
                _ => return Err(malformed("have is not a string")),
            },
            b"files" => {
                let Object::List(mut l) = v else {
                    return Err(malformed("files is not a list"));
                };
                let mut out = Vec::new();
                while let Some(item) = l.next_object().map_err(err)? {
                    out.push(decode_stamp(item)?);
                }
                files = Some(out);
            }
            _ => return Err(malformed("unknown key in payload")),
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

fn decode_stamp(item: Object<'_, '_>) -> Result<Option<FileStamp>, ResumeError> {
    let Object::Dict(mut d) = item else {
        return Err(malformed("file entry is not a dictionary"));
    };
    let (mut mtime, mut nsec, mut size) = (None, None, None);
    while let Some((k, v)) = d.next_pair().map_err(|e| malformed(e.to_string()))? {
        match k {
            b"mtime" => mtime = Some(integer(v, "mtime")?),
            b"nsec" => nsec = Some(integer(v, "nsec")?),
            b"size" => size = Some(integer(v, "size")?),
            _ => return Err(malformed("unknown key in file entry")),
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
