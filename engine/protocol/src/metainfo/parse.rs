//! `Metainfo::from_bytes`: the top-level dictionary and, inside it, the info
//! dictionary, in one pass.
//!
//! The info dictionary is read field by field and also taken as the exact
//! bytes that appear in the file ([`DictDecoder::into_raw`]), which are
//! what the info-hashes are computed over: re-encoding would change the
//! info-hash of any torrent with keys we drop, or keys out of order.
//! Checks that need more than one field (layout, v1/v2 agreement, piece
//! layers) live in `assemble`.
//!
//! Leniency follows libtorrent: keys in any order, the first of a repeated
//! key wins (later ones are skipped unread), bytes after the top-level
//! dictionary are ignored. A v2 or hybrid info dictionary must however be
//! canonical bencode, as libtorrent also requires, because its file order
//! is its file tree's key order ([`check_canonical`]).
//!
//! [`DictDecoder::into_raw`]: crate::bencode::DictDecoder::into_raw

use std::collections::{BTreeMap, HashSet};

use super::assemble::{assemble, RawInfo};
use super::decode::{self, next_item, next_pair, Result, Seen, LIMITS};
use super::digest;
use super::error::{Field, MetainfoError};
use super::files::{parse_file_tree, parse_v1_files};
use super::limits::{MAX_TORRENT_SIZE, MAX_TRACKERS, MAX_WEB_SEEDS};
use super::types::{InfoHashV1, InfoHashV2, InfoHashes, Metainfo};
use crate::bencode::{check_canonical, DictDecoder, Object};

/// Raw `piece layers`: pieces root -> concatenated layer hashes.
pub(crate) type RawLayers<'s> = BTreeMap<[u8; 32], &'s [u8]>;

impl Metainfo {
    /// Parses and validates a whole .torrent file (v1, v2 or hybrid).
    ///
    /// Every field of the result has been checked (see
    /// [`super::limits`] for the bounds); the error names the first field
    /// that failed. Bytes after the top-level dictionary are ignored, as
    /// libtorrent does.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Metainfo, MetainfoError> {
        parse_torrent(bytes)
    }

    /// Parses a bare info dictionary, as received over ut_metadata (BEP 9).
    ///
    /// The result has no trackers, web seeds or comment, and for v2 data no
    /// piece layers (those travel separately: BEP 52 hash requests).
    pub fn from_info_bytes(info: &[u8]) -> std::result::Result<Metainfo, MetainfoError> {
        check_size(info)?;
        let root = Field::Root;
        let f = root.key("info");
        let mut dec = decode::decoder(info, &f)?;
        let obj = dec
            .next_object()
            .map_err(|e| f.bencode(&e))?
            .ok_or_else(|| f.invalid("empty input: an info dictionary was expected"))?;
        let (raw, info_bytes) = parse_info(decode::dict(obj, &f)?, &f)?;
        finish(raw, info_bytes, None, Top::default())
    }
}

fn check_size(bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_TORRENT_SIZE {
        return Err(MetainfoError::TooLarge {
            len: bytes.len(),
            max: MAX_TORRENT_SIZE,
        });
    }
    Ok(())
}

/// The top-level keys.
#[derive(Default)]
struct Top<'s> {
    announce: Option<String>,
    announce_list: Vec<Vec<String>>,
    url_list: Vec<String>,
    comment: Option<String>,
    comment_utf8: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    /// The info dictionary's fields and its exact bytes.
    info: Option<(RawInfo<'s>, &'s [u8])>,
    layers: Option<RawLayers<'s>>,
}

fn parse_torrent(bytes: &[u8]) -> Result<Metainfo> {
    check_size(bytes)?;
    let root = Field::Root;
    let mut dec = decode::decoder(bytes, &root)?;
    let obj = dec
        .next_object()
        .map_err(|e| root.bencode(&e))?
        .ok_or_else(|| root.invalid("empty input: a .torrent is a bencoded dictionary"))?;
    let mut d = decode::dict(obj, &root)?;
    let mut top = Top::default();
    let mut seen = Seen::default();
    while let Some((key, value)) = next_pair(&mut d, &root)? {
        match key {
            b"announce" if seen.first(key) => {
                top.announce = url(value, &root.key("announce"))?.map(str::to_owned)
            }
            b"announce-list" if seen.first(key) => {
                top.announce_list = announce_list(value, &root.key("announce-list"))?
            }
            b"comment" if seen.first(key) => {
                top.comment = Some(decode::lossy_text(value, &root.key("comment"))?)
            }
            b"comment.utf-8" if seen.first(key) => {
                top.comment_utf8 = Some(decode::lossy_text(value, &root.key("comment.utf-8"))?)
            }
            b"created by" if seen.first(key) => {
                top.created_by = Some(decode::lossy_text(value, &root.key("created by"))?)
            }
            b"creation date" if seen.first(key) => {
                top.creation_date = Some(decode::i64_value(value, &root.key("creation date"))?)
            }
            b"info" if seen.first(key) => {
                let f = root.key("info");
                top.info = Some(parse_info(decode::dict(value, &f)?, &f)?);
            }
            b"piece layers" if seen.first(key) => {
                top.layers = Some(raw_layers(value, &root.key("piece layers"))?)
            }
            b"url-list" if seen.first(key) => {
                top.url_list = url_list(value, &root.key("url-list"))?
            }
            _ => {}
        }
    }
    let (info, info_bytes) = top.info.take().ok_or_else(|| {
        root.key("info")
            .missing("the info dictionary describes the files and pieces")
    })?;
    let layers = top.layers.take().unwrap_or_default();
    finish(info, info_bytes, Some(&layers), top)
}

fn finish(
    raw: RawInfo<'_>,
    info_bytes: &[u8],
    layers: Option<&RawLayers<'_>>,
    top: Top<'_>,
) -> Result<Metainfo> {
    if raw.meta_version.is_some() {
        check_canonical(info_bytes, LIMITS).map_err(|e| {
            Field::Root.key("info").invalid(format!(
                "not canonical bencode: {e}. A torrent with `meta version` (v2 or hybrid, \
                 BEP 52) must be written canonically, since its file order is its file \
                 tree's key order; libtorrent refuses it too. Re-create the torrent"
            ))
        })?;
    }
    let (info, piece_layers) = assemble(raw, layers)?;
    let info_hashes = InfoHashes {
        v1: (!info.pieces.is_empty()).then(|| InfoHashV1(digest::sha1(info_bytes))),
        v2: matches!(
            info.version,
            super::MetaVersion::V2 | super::MetaVersion::Hybrid
        )
        .then(|| InfoHashV2(digest::sha256(info_bytes))),
    };
    Ok(Metainfo {
        info,
        info_bytes: info_bytes.to_vec(),
        info_hashes,
        announce: top.announce,
        announce_list: top.announce_list,
        url_list: top.url_list,
        comment: top.comment_utf8.or(top.comment),
        created_by: top.created_by,
        creation_date: top.creation_date,
        piece_layers,
    })
}

/// Reads the info dictionary's fields and returns them with its exact bytes.
fn parse_info<'s>(mut d: DictDecoder<'_, 's>, f: &Field<'_>) -> Result<(RawInfo<'s>, &'s [u8])> {
    let mut r = RawInfo::default();
    let mut seen = Seen::default();
    while let Some((key, value)) = next_pair(&mut d, f)? {
        match key {
            b"file tree" if seen.first(key) => {
                let ft = f.key("file tree");
                r.tree = Some(parse_file_tree(decode::dict(value, &ft)?, &ft)?);
            }
            b"files" if seen.first(key) => {
                let ff = f.key("files");
                r.files = Some(parse_v1_files(decode::list(value, &ff)?, &ff)?);
            }
            b"length" if seen.first(key) => {
                r.length = Some(decode::u64_value(value, &f.key("length"))?)
            }
            b"meta version" if seen.first(key) => {
                r.meta_version = Some(decode::i64_value(value, &f.key("meta version"))?)
            }
            b"name" if seen.first(key) => r.name = Some(decode::bytes(value, &f.key("name"))?),
            b"name.utf-8" if seen.first(key) => {
                r.name_utf8 = Some(decode::bytes(value, &f.key("name.utf-8"))?)
            }
            b"piece length" if seen.first(key) => {
                r.piece_length = Some(decode::u64_value(value, &f.key("piece length"))?)
            }
            b"pieces" if seen.first(key) => {
                r.pieces = Some(decode::bytes(value, &f.key("pieces"))?)
            }
            b"private" if seen.first(key) => {
                r.private = decode::i64_value(value, &f.key("private"))? != 0
            }
            b"source" if seen.first(key) => {
                r.source = Some(decode::lossy_text(value, &f.key("source"))?)
            }
            other => {
                r.bep47.take(other, value, f)?;
            }
        }
    }
    let bytes = d.into_raw().map_err(|e| f.bencode(&e))?;
    Ok((r, bytes))
}

/// A tracker or web seed URL: UTF-8 text; empty means absent.
fn url<'s>(obj: Object<'_, 's>, f: &Field<'_>) -> Result<Option<&'s str>> {
    let s = decode::text(obj, f)?.trim();
    Ok((!s.is_empty()).then_some(s))
}

/// URLs kept from a list a torrent controls: each one once, at most `max`
/// of them, in linear time. Entries past the bound are still checked
/// (valid UTF-8) but cost no memory, so a 64 MiB torrent of 200,000 tiers
/// costs a set of `max` strings, not 200,000 allocations and a quadratic
/// de-duplication.
struct Urls<'s> {
    seen: HashSet<&'s str>,
    max: usize,
}

impl<'s> Urls<'s> {
    fn new(max: usize) -> Urls<'s> {
        Urls {
            seen: HashSet::new(),
            max,
        }
    }

    /// `Some(url)` the first time a URL is offered while fewer than `max`
    /// are kept.
    fn keep(&mut self, url: &'s str) -> Option<String> {
        (self.seen.len() < self.max && self.seen.insert(url)).then(|| url.to_owned())
    }
}

/// BEP 12: a list of tiers, each a list of URLs. Repeats of a URL (in any
/// tier) and empty tiers are dropped; at most [`MAX_TRACKERS`] URLs are
/// kept, the first ones in tier order.
fn announce_list(obj: Object<'_, '_>, f: &Field<'_>) -> Result<Vec<Vec<String>>> {
    let mut tiers_in = decode::list(obj, f)?;
    let mut tiers = Vec::new();
    let mut urls = Urls::new(MAX_TRACKERS);
    let mut i = 0;
    while let Some(tier_obj) = next_item(&mut tiers_in, f)? {
        let tf = f.index(i);
        let mut urls_in = decode::list(tier_obj, &tf)?;
        let mut tier = Vec::new();
        let mut j = 0;
        while let Some(u) = next_item(&mut urls_in, &tf)? {
            if let Some(u) = url(u, &tf.index(j))? {
                tier.extend(urls.keep(u));
            }
            j += 1;
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
        i += 1;
    }
    Ok(tiers)
}

/// BEP 19: one URL, or a list of them; repeats dropped, at most
/// [`MAX_WEB_SEEDS`] kept.
fn url_list(obj: Object<'_, '_>, f: &Field<'_>) -> Result<Vec<String>> {
    match obj {
        Object::Bytes(_) => Ok(url(obj, f)?.map(str::to_owned).into_iter().collect()),
        Object::List(mut l) => {
            let mut out = Vec::new();
            let mut urls = Urls::new(MAX_WEB_SEEDS);
            let mut i = 0;
            while let Some(u) = next_item(&mut l, f)? {
                if let Some(u) = url(u, &f.index(i))? {
                    out.extend(urls.keep(u));
                }
                i += 1;
            }
            Ok(out)
        }
        other => Err(f.wrong_type("a URL or a list of URLs", other.kind_name())),
    }
}

/// BEP 52 `piece layers`: 32-byte pieces roots to strings of 32-byte hashes.
/// Contents are checked against the file tree in `assemble`.
fn raw_layers<'s>(obj: Object<'_, 's>, f: &Field<'_>) -> Result<RawLayers<'s>> {
    let mut d = decode::dict(obj, f)?;
    let mut out = BTreeMap::new();
    while let Some((key, value)) = next_pair(&mut d, f)? {
        let kf = f.hex(key);
        let root: [u8; 32] = key.try_into().map_err(|_| {
            kf.invalid(format!(
                "a key of {} bytes; keys are 32-byte pieces roots",
                key.len()
            ))
        })?;
        let layer = decode::bytes(value, &kf)?;
        if layer.len() % 32 != 0 {
            return Err(kf.invalid(format!(
                "{} bytes is not a whole number of 32-byte SHA-256 hashes",
                layer.len()
            )));
        }
        // A repeated root: the first wins, as for every other key.
        out.entry(root).or_insert(layer);
    }
    Ok(out)
}
