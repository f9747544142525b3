//! Cross-field checks: which version a torrent is, where its files sit,
//! whether v1 hashes cover exactly the data, whether a hybrid's two file
//! lists describe the same files at the same offsets, and whether each
//! BEP 52 piece layer hashes up to its file's `pieces root`.

use std::collections::BTreeMap;

use super::decode::{component, Result};
use super::digest;
use super::error::Field;
use super::files::{Bep47, RawFile};
use super::layout::{piece_count, v2_offsets};
use super::limits::{MAX_PIECES, MIN_V2_PIECE_LENGTH};
use super::parse::RawLayers;
use super::types::{FileEntry, Info, MetaVersion, PieceLength};

/// The info dictionary's fields, type-checked but not yet cross-checked.
#[derive(Default)]
pub(crate) struct RawInfo<'s> {
    pub(crate) tree: Option<Vec<RawFile>>,
    pub(crate) files: Option<Vec<RawFile>>,
    pub(crate) length: Option<u64>,
    pub(crate) meta_version: Option<i64>,
    pub(crate) name: Option<&'s [u8]>,
    pub(crate) name_utf8: Option<&'s [u8]>,
    pub(crate) piece_length: Option<u64>,
    pub(crate) pieces: Option<&'s [u8]>,
    pub(crate) private: bool,
    pub(crate) source: Option<String>,
    /// Info-level `attr` / `symlink path` (single-file v1 torrents).
    pub(crate) bep47: Bep47<'s>,
}

/// Verified piece layers, keyed by pieces root.
pub(crate) type Layers = BTreeMap<[u8; 32], Vec<[u8; 32]>>;

/// Builds the validated [`Info`]. `layers` is `None` for a bare info
/// dictionary (ut_metadata), which carries no piece layers.
pub(crate) fn assemble(r: RawInfo<'_>, layers: Option<&RawLayers<'_>>) -> Result<(Info, Layers)> {
    let root = Field::Root;
    let f = root.key("info");
    let name = match (r.name_utf8, r.name) {
        (Some(b), _) => component(b, &f.key("name.utf-8"))?,
        (None, Some(b)) => component(b, &f.key("name"))?,
        (None, None) => {
            return Err(f
                .key("name")
                .missing("the name of the file or folder to save"))
        }
    };
    let has_v2 = match r.meta_version {
        None => false,
        Some(2) => true,
        Some(v) => {
            return Err(f.key("meta version").invalid(format!(
                "unsupported meta version {v}; only 2 (BEP 52) is defined"
            )))
        }
    };
    let has_v1 = r.pieces.is_some() || r.length.is_some() || r.files.is_some();
    let version = match (has_v1, has_v2) {
        (true, false) => MetaVersion::V1,
        (false, true) => MetaVersion::V2,
        (true, true) => MetaVersion::Hybrid,
        (false, false) => {
            return Err(f.key("pieces").missing(
                "a v1 torrent needs `pieces` and `length` or `files`; a v2 one needs `meta version` 2 and a `file tree`",
            ))
        }
    };

    let plf = f.key("piece length");
    let pl_raw = r
        .piece_length
        .ok_or_else(|| plf.missing("the size of each piece in bytes"))?;
    let piece_length = PieceLength::new(pl_raw).ok_or_else(|| {
        plf.invalid(format!(
            "{pl_raw} is outside the accepted {}..={} bytes",
            PieceLength::MIN,
            PieceLength::MAX
        ))
    })?;
    let pl = piece_length.get();
    if has_v2 && (!pl.is_power_of_two() || pl < MIN_V2_PIECE_LENGTH) {
        return Err(plf.invalid(format!(
            "{pl} is not allowed for v2 data, which needs a power of two of at least {MIN_V2_PIECE_LENGTH}"
        )));
    }

    let tree = if has_v2 {
        Some(r.tree.ok_or_else(|| {
            f.key("file tree")
                .missing("meta version 2 needs the v2 file tree")
        })?)
    } else {
        None
    };

    let mut out = Info {
        name,
        piece_length,
        version,
        multi_file: false,
        files: Vec::new(),
        pieces: Vec::new(),
        total_length: 0,
        piece_count: 0,
        private: r.private,
        source: r.source,
    };

    if has_v1 {
        let (multi, files, total) = v1_files(&f, &out.name, r.files, r.length, r.bep47)?;
        out.multi_file = multi;
        out.files = files;
        out.total_length = total;
        let count = checked_piece_count(&f, total, pl)?;
        out.pieces = v1_pieces(&f.key("pieces"), r.pieces, count, total, pl)?;
        out.piece_count = count;
    }

    let mut verified = Layers::new();
    if let Some(tree) = tree {
        let (offsets, end) = v2_offsets(tree.iter().map(|t| t.length), pl).ok_or_else(|| {
            f.key("file tree")
                .invalid("the file sizes overflow 64 bits")
        })?;
        let v2_count = checked_piece_count(&f.key("file tree"), end, pl)?;
        if let Some(layers) = layers {
            verified = check_layers(&tree, layers, pl)?;
        }
        if has_v1 {
            match_hybrid(&f, &mut out, &tree, &offsets, v2_count)?;
        } else {
            v2_files(&mut out, tree, &offsets, end, v2_count);
        }
    }
    Ok((out, verified))
}

fn checked_piece_count(f: &Field<'_>, total: u64, pl: u32) -> Result<u32> {
    if total == 0 {
        return Err(f.invalid(
            "the torrent holds no data (every file is empty); there is nothing to share",
        ));
    }
    let count = piece_count(total, pl);
    u32::try_from(count)
        .ok()
        .filter(|&c| c <= MAX_PIECES)
        .ok_or_else(|| f.limit("the number of pieces", count, u64::from(MAX_PIECES)))
}

type V1Files = (bool, Vec<FileEntry>, u64);

fn v1_files(
    f: &Field<'_>,
    name: &str,
    files: Option<Vec<RawFile>>,
    length: Option<u64>,
    info_bep47: Bep47<'_>,
) -> Result<V1Files> {
    match (files, length) {
        (Some(_), Some(_)) => Err(f.invalid(
            "has both `length` (one file) and `files` (several); a torrent has exactly one of them",
        )),
        (None, None) => Err(f
            .key("length")
            .missing("a v1 torrent needs `length` (one file) or `files` (several)")),
        (None, Some(length)) => {
            let (attr, symlink_path) = info_bep47.finish(f)?;
            if attr.pad {
                return Err(f
                    .key("attr")
                    .invalid("the only file of a torrent cannot be a pad file"));
            }
            let entry = FileEntry {
                path: vec![name.to_owned()],
                length,
                offset: 0,
                attr,
                pieces_root: None,
                symlink_path,
            };
            Ok((false, vec![entry], length))
        }
        (Some(files), None) => {
            let ff = f.key("files");
            let mut entries = Vec::with_capacity(files.len());
            let mut offset = 0u64;
            for (i, file) in files.into_iter().enumerate() {
                let start = offset;
                offset = offset.checked_add(file.length).ok_or_else(|| {
                    ff.index(i)
                        .key("length")
                        .invalid("the total size overflows 64 bits")
                })?;
                let mut path = Vec::with_capacity(file.path.len() + 1);
                path.push(name.to_owned());
                path.extend(file.path);
                entries.push(FileEntry {
                    path,
                    length: file.length,
                    offset: start,
                    attr: file.attr,
                    pieces_root: None,
                    symlink_path: file.symlink_path,
                });
            }
            check_unique(&ff, &entries)?;
            Ok((true, entries, offset))
        }
    }
}

/// No two (non-pad) files may share a path, and no file may also be a
/// folder of another (`a` and `a/b`): either would make two files fight
/// over one place on disk. Pad files are exempt: BEP 47 names them all
/// `.pad/<size>` and they are never written.
fn check_unique(ff: &Field<'_>, entries: &[FileEntry]) -> Result<()> {
    let mut order: Vec<(&[String], usize)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.attr.pad)
        .map(|(i, e)| (e.path.as_slice(), i))
        .collect();
    order.sort_unstable();
    for w in order.windows(2) {
        let [(pa, a), (pb, b)] = w else { continue };
        if pa == pb {
            return Err(ff.index(*b).key("path").invalid(format!(
                "\"{}\" is listed twice (also files[{a}])",
                pa.join("/")
            )));
        }
        if pb.starts_with(pa) {
            return Err(ff.index(*b).key("path").invalid(format!(
                "\"{}\" would be inside \"{}\", which files[{a}] lists as a file",
                pb.join("/"),
                pa.join("/")
            )));
        }
    }
    Ok(())
}

fn v1_pieces(
    pf: &Field<'_>,
    raw: Option<&[u8]>,
    count: u32,
    total: u64,
    pl: u32,
) -> Result<Vec<[u8; 20]>> {
    let raw = raw.ok_or_else(|| pf.missing("a v1 torrent needs the SHA-1 hash of every piece"))?;
    if raw.len() % 20 != 0 {
        return Err(pf.invalid(format!(
            "{} bytes is not a multiple of 20 (one SHA-1 hash per piece)",
            raw.len()
        )));
    }
    let have = raw.len() / 20;
    if have as u64 != u64::from(count) {
        return Err(pf.invalid(format!(
            "holds {have} piece hashes, but {total} bytes in pieces of {pl} make {count} pieces"
        )));
    }
    Ok(raw
        .chunks_exact(20)
        .filter_map(|c| c.try_into().ok())
        .collect())
}

fn tree_field_name(t: &RawFile) -> String {
    format!("info.file tree \"{}\"", t.path.join("/"))
}

/// Every file larger than one piece needs its piece layer, of exactly
/// `ceil(length / piece length)` hashes, hashing up to its `pieces root`.
/// Files of one piece or less have none: their root *is* the piece hash.
/// Layers no file needs are dropped.
fn check_layers(tree: &[RawFile], layers: &RawLayers<'_>, pl: u32) -> Result<Layers> {
    let root = Field::Root;
    let lf = root.key("piece layers");
    let mut out = Layers::new();
    for t in tree {
        let Some(pieces_root) = t.pieces_root else {
            continue;
        };
        if t.length <= u64::from(pl) || out.contains_key(&pieces_root) {
            continue;
        }
        let kf = lf.hex(&pieces_root);
        let raw = layers.get(&pieces_root).ok_or_else(|| {
            kf.invalid(format!(
                "missing: {} is {} bytes, more than one piece, so its piece layer is required",
                tree_field_name(t),
                t.length
            ))
        })?;
        let want = piece_count(t.length, pl);
        let have = (raw.len() / 32) as u64;
        if have != want {
            return Err(kf.invalid(format!(
                "holds {have} hashes but {} ({} bytes) has {want} pieces",
                tree_field_name(t),
                t.length
            )));
        }
        let hashes: Vec<[u8; 32]> = raw
            .chunks_exact(32)
            .filter_map(|c| c.try_into().ok())
            .collect();
        if digest::root_from_piece_layer(&hashes, u64::from(pl)) != pieces_root {
            return Err(kf.invalid(format!(
                "these hashes do not hash up to the pieces root of {}",
                tree_field_name(t)
            )));
        }
        out.insert(pieces_root, hashes);
    }
    Ok(out)
}

/// Pure v2: files in tree order at their aligned offsets. A tree holding
/// one file at its top level is a single-file torrent named after that
/// file, as libtorrent reads it.
fn v2_files(out: &mut Info, tree: Vec<RawFile>, offsets: &[u64], end: u64, count: u32) {
    let single = tree.len() == 1 && tree.first().is_some_and(|t| t.path.len() == 1);
    if single {
        if let Some(n) = tree.first().and_then(|t| t.path.first()) {
            out.name = n.clone();
        }
    }
    out.multi_file = !single;
    out.files = tree
        .into_iter()
        .zip(offsets)
        .map(|(t, &offset)| {
            let path = if single {
                t.path
            } else {
                let mut p = Vec::with_capacity(t.path.len() + 1);
                p.push(out.name.clone());
                p.extend(t.path);
                p
            };
            FileEntry {
                path,
                length: t.length,
                offset,
                attr: t.attr,
                pieces_root: t.pieces_root,
                symlink_path: t.symlink_path,
            }
        })
        .collect();
    out.total_length = end;
    out.piece_count = count;
}

/// A hybrid's v1 list, pad files aside, must name the v2 tree's files in
/// the same order with the same sizes, each non-empty one at the offset
/// the v2 layout gives it (which is what the pad files are for), so that
/// v1 and v2 peers agree on every piece.
fn match_hybrid(
    f: &Field<'_>,
    out: &mut Info,
    tree: &[RawFile],
    offsets: &[u64],
    v2_count: u32,
) -> Result<()> {
    let ff = f.key("files");
    let multi = out.multi_file;
    let real: Vec<usize> = (0..out.files.len())
        .filter(|&i| out.files.get(i).is_some_and(|e| !e.attr.pad))
        .collect();
    if real.len() != tree.len() {
        return Err(ff.invalid(format!(
            "the v1 file list has {} files (pad files aside) but the v2 file tree has {}; \
             a hybrid torrent lists the same files in both",
            real.len(),
            tree.len()
        )));
    }
    for ((&i, t), &v2_offset) in real.iter().zip(tree).zip(offsets) {
        let fi = ff.index(i);
        let (path_f, len_f) = if multi {
            (fi.key("path"), fi.key("length"))
        } else {
            (f.key("name"), f.key("length"))
        };
        let Some(e) = out.files.get_mut(i) else {
            continue;
        };
        let rel = if multi {
            e.path.get(1..).unwrap_or_default()
        } else {
            e.path.as_slice()
        };
        if rel != t.path.as_slice() {
            return Err(path_f.invalid(format!(
                "\"{}\" does not match {}, the v2 file at the same position; \
                 a hybrid torrent lists the same files in the same order in both",
                rel.join("/"),
                tree_field_name(t)
            )));
        }
        if e.length != t.length {
            return Err(len_f.invalid(format!(
                "{} bytes in the v1 list but {} bytes in the v2 file tree",
                e.length, t.length
            )));
        }
        if e.length > 0 && e.offset != v2_offset {
            return Err(fi.invalid(format!(
                "starts at byte {} of the v1 data but the v2 layout puts it at {v2_offset}; \
                 the pad files before it must align it to a piece boundary",
                e.offset
            )));
        }
        e.pieces_root = t.pieces_root;
    }
    if out.piece_count != v2_count {
        return Err(ff.invalid(format!(
            "the v1 data has {} pieces but the v2 layout has {v2_count}; \
             the trailing pad file is too long",
            out.piece_count
        )));
    }
    Ok(())
}
