//! The two file lists: v1 `files` (BEP 3, with BEP 47 attributes) and the v2
//! `file tree` (BEP 52). Both parse into [`RawFile`]s whose paths are
//! relative to the torrent's folder; `parse` then lays them out.

use super::decode::{self, component, components, next_item, next_pair, raw_path, Result, Seen};
use super::error::Field;
use super::limits::{MAX_FILES, MAX_PATH_DEPTH};
use super::types::FileAttr;
use crate::bencode::{DictDecoder, ListDecoder, Object};

/// A file as listed, before layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawFile {
    /// Components below the torrent's folder (v1 `path`, v2 tree keys).
    pub(crate) path: Vec<String>,
    pub(crate) length: u64,
    pub(crate) attr: FileAttr,
    pub(crate) symlink_path: Option<Vec<String>>,
    /// v2 `pieces root` (only for non-empty files).
    pub(crate) pieces_root: Option<[u8; 32]>,
}

/// BEP 47 `attr`: each character one attribute; unknown ones are ignored,
/// as the BEP asks.
pub(crate) fn parse_attr(b: &[u8]) -> FileAttr {
    let mut attr = FileAttr::default();
    for c in b {
        match c {
            b'p' => attr.pad = true,
            b'x' => attr.executable = true,
            b'h' => attr.hidden = true,
            b'l' => attr.symlink = true,
            _ => {}
        }
    }
    attr
}

/// The fields BEP 47 adds to a file's dictionary (v1 file dict, v2 leaf, or
/// the info dict of a single-file torrent).
#[derive(Default)]
pub(crate) struct Bep47<'s> {
    pub(crate) attr: FileAttr,
    attr_seen: bool,
    pub(crate) symlink: Option<Vec<&'s [u8]>>,
}

impl<'s> Bep47<'s> {
    /// Takes `attr` / `symlink path` if `key` is one of them (and its first
    /// occurrence); true when used.
    pub(crate) fn take(
        &mut self,
        key: &[u8],
        value: Object<'_, 's>,
        f: &Field<'_>,
    ) -> Result<bool> {
        match key {
            b"attr" if !self.attr_seen => {
                self.attr = parse_attr(decode::bytes(value, &f.key("attr"))?);
                self.attr_seen = true;
            }
            b"symlink path" if self.symlink.is_none() => {
                self.symlink = Some(raw_path(value, &f.key("symlink path"))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The checked symlink target when the `l` attribute is set.
    pub(crate) fn finish(self, f: &Field<'_>) -> Result<(FileAttr, Option<Vec<String>>)> {
        let target = match (self.attr.symlink, self.symlink) {
            (true, Some(raw)) => Some(components(&raw, &f.key("symlink path"))?),
            (true, None) => {
                return Err(f
                    .key("symlink path")
                    .missing("attr has 'l' (symlink), which needs the link target"))
            }
            (false, _) => None,
        };
        Ok((self.attr, target))
    }
}

/// v1 `files`: a list of `{length, path[, path.utf-8, attr, symlink path]}`.
pub(crate) fn parse_v1_files(mut list: ListDecoder<'_, '_>, f: &Field<'_>) -> Result<Vec<RawFile>> {
    let mut out = Vec::new();
    while let Some(item) = next_item(&mut list, f)? {
        let i = out.len();
        let fi = f.index(i);
        if i >= MAX_FILES {
            return Err(f.limit("the number of files", i as u64 + 1, MAX_FILES as u64));
        }
        out.push(parse_v1_file(decode::dict(item, &fi)?, &fi)?);
    }
    if out.is_empty() {
        return Err(f.invalid("the file list is empty; a torrent needs at least one file"));
    }
    Ok(out)
}

fn parse_v1_file(mut d: DictDecoder<'_, '_>, f: &Field<'_>) -> Result<RawFile> {
    let mut length = None;
    let mut path = None;
    let mut path_utf8 = None;
    let mut bep47 = Bep47::default();
    let mut seen = Seen::default();
    while let Some((key, value)) = next_pair(&mut d, f)? {
        match key {
            b"length" if seen.first(key) => {
                length = Some(decode::u64_value(value, &f.key("length"))?)
            }
            b"path" if seen.first(key) => path = Some(raw_path(value, &f.key("path"))?),
            b"path.utf-8" if seen.first(key) => {
                path_utf8 = Some(raw_path(value, &f.key("path.utf-8"))?)
            }
            other => {
                bep47.take(other, value, f)?;
            }
        }
    }
    let length = length.ok_or_else(|| {
        f.key("length")
            .missing("every file needs its size in bytes")
    })?;
    // `path.utf-8` is the explicit UTF-8 spelling some clients add next to a
    // `path` in a local code page; prefer it when present.
    let path = match (path_utf8, path) {
        (Some(raw), _) => components(&raw, &f.key("path.utf-8"))?,
        (None, Some(raw)) => components(&raw, &f.key("path"))?,
        (None, None) => {
            return Err(f
                .key("path")
                .missing("every file needs its path (a list of names)"))
        }
    };
    let (attr, symlink_path) = bep47.finish(f)?;
    Ok(RawFile {
        path,
        length,
        attr,
        symlink_path,
        pieces_root: None,
    })
}

/// v2 `file tree`: nested dictionaries keyed by path component; a file is a
/// dictionary whose only key is `""`, holding `length` and `pieces root`.
/// Files come out in the order their keys appear, which is the canonical
/// (sorted) order once `parse` has checked that a v2 info dictionary is
/// canonical.
pub(crate) fn parse_file_tree(d: DictDecoder<'_, '_>, f: &Field<'_>) -> Result<Vec<RawFile>> {
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    walk(d, f, &mut prefix, &mut out)?;
    Ok(out)
}

fn walk(
    mut d: DictDecoder<'_, '_>,
    f: &Field<'_>,
    prefix: &mut Vec<String>,
    out: &mut Vec<RawFile>,
) -> Result<()> {
    let mut entries = 0usize;
    let mut is_file = false;
    let both = "an entry cannot be both a file (it has a \"\" key) and a folder";
    while let Some((key, value)) = next_pair(&mut d, f)? {
        let kf = f.raw(key);
        entries += 1;
        if key.is_empty() {
            if is_file {
                // A repeated "": the first wins (and `parse` refuses the
                // v2 info dictionary as non-canonical anyway).
                continue;
            }
            if prefix.is_empty() {
                return Err(kf.invalid(
                    "a file needs a name: the top of the file tree cannot hold a \"\" entry",
                ));
            }
            if entries > 1 {
                // Folder entries came first (canonical order puts "" first).
                return Err(f.invalid(both));
            }
            if out.len() >= MAX_FILES {
                return Err(kf.limit(
                    "the number of files",
                    out.len() as u64 + 1,
                    MAX_FILES as u64,
                ));
            }
            out.push(parse_leaf(decode::dict(value, &kf)?, &kf, prefix.clone())?);
            is_file = true;
        } else {
            if is_file {
                return Err(kf.invalid(both));
            }
            let name = component(key, &kf)?;
            if prefix.len() >= MAX_PATH_DEPTH {
                return Err(kf.limit(
                    "the number of path components",
                    prefix.len() as u64 + 1,
                    MAX_PATH_DEPTH as u64,
                ));
            }
            let sub = decode::dict(value, &kf)?;
            prefix.push(name);
            walk(sub, &kf, prefix, out)?;
            prefix.pop();
        }
    }
    if entries == 0 {
        let reason = if prefix.is_empty() {
            "the file tree holds no files"
        } else {
            "an empty folder: a file tree entry must be a file or a folder holding files"
        };
        return Err(f.invalid(reason));
    }
    Ok(())
}

fn parse_leaf(mut d: DictDecoder<'_, '_>, f: &Field<'_>, path: Vec<String>) -> Result<RawFile> {
    let mut length = None;
    let mut root = None;
    let mut bep47 = Bep47::default();
    let mut seen = Seen::default();
    while let Some((key, value)) = next_pair(&mut d, f)? {
        match key {
            b"length" if seen.first(key) => {
                length = Some(decode::u64_value(value, &f.key("length"))?)
            }
            b"pieces root" if seen.first(key) => {
                let rf = f.key("pieces root");
                let b = decode::bytes(value, &rf)?;
                let r: [u8; 32] = b.try_into().map_err(|_| {
                    rf.invalid(format!("is {} bytes; a SHA-256 root is 32", b.len()))
                })?;
                root = Some(r);
            }
            other => {
                bep47.take(other, value, f)?;
            }
        }
    }
    let length = length.ok_or_else(|| {
        f.key("length")
            .missing("every file needs its size in bytes")
    })?;
    // An empty file has no data and so no root; libtorrent 2.0.0-2.0.3 wrote
    // one anyway, which we accept and drop.
    let pieces_root = if length == 0 {
        None
    } else {
        Some(root.ok_or_else(|| {
            f.key("pieces root")
                .missing("a non-empty v2 file needs the merkle root of its data")
        })?)
    };
    let (attr, symlink_path) = bep47.finish(f)?;
    if attr.pad {
        return Err(f
            .key("attr")
            .invalid("pad files ('p') belong in the v1 file list, not in a v2 file tree"));
    }
    Ok(RawFile {
        path,
        length,
        attr,
        symlink_path,
        pieces_root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_chars() {
        let a = parse_attr(b"xhq");
        assert!(a.executable && a.hidden && !a.pad && !a.symlink);
        assert!(parse_attr(b"p").pad);
        assert!(parse_attr(b"l").symlink);
        assert_eq!(parse_attr(b""), FileAttr::default());
    }
}
