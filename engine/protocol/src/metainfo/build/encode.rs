//! Encoding: the builder's data as canonical bencode [`OwnedValue`]s.

use std::collections::BTreeMap;

use super::TorrentBuilder;
use crate::bencode::OwnedValue;
use crate::metainfo::types::FileAttr;

impl TorrentBuilder {
    pub(super) fn encode(&self) -> OwnedValue {
        let mut info = OwnedValue::dict()
            .with("name", OwnedValue::str(&self.name))
            .with(
                "piece length",
                OwnedValue::Int(i64::from(self.piece_length)),
            );
        if self.private {
            info.insert("private", OwnedValue::Int(1));
        }
        if let Some(source) = &self.source {
            info.insert("source", OwnedValue::str(source));
        }
        if self.has_v1() {
            let pieces: Vec<u8> = self.v1_pieces.iter().flatten().copied().collect();
            info.insert("pieces", OwnedValue::Bytes(pieces));
            if self.single() {
                if let Some(f) = self.files.first() {
                    info.insert("length", int(f.length));
                    if let Some(attr) = attr_value(f.attr) {
                        info.insert("attr", attr);
                    }
                }
            } else {
                let files = self
                    .v1_entries()
                    .into_iter()
                    .map(|(path, length, attr)| {
                        let mut d = OwnedValue::dict().with("length", int(length)).with(
                            "path",
                            OwnedValue::List(path.iter().map(|c| OwnedValue::str(c)).collect()),
                        );
                        if let Some(attr) = attr_value(attr) {
                            d.insert("attr", attr);
                        }
                        d
                    })
                    .collect();
                info.insert("files", OwnedValue::List(files));
            }
        }
        let mut top = OwnedValue::dict();
        if self.has_v2() {
            info.insert("meta version", OwnedValue::Int(2));
            info.insert("file tree", self.file_tree());
            let layers = self.piece_layers();
            if let OwnedValue::Dict(map) = &layers {
                if !map.is_empty() {
                    top.insert("piece layers", layers);
                }
            }
        }
        top.insert("info", info);
        self.encode_top(&mut top);
        top
    }

    fn encode_top(&self, top: &mut OwnedValue) {
        if let Some(first) = self.trackers.first().and_then(|t| t.first()) {
            top.insert("announce", OwnedValue::str(first));
        }
        if self.trackers.iter().map(Vec::len).sum::<usize>() > 1 {
            let tiers = self
                .trackers
                .iter()
                .map(|tier| OwnedValue::List(tier.iter().map(|u| OwnedValue::str(u)).collect()))
                .collect();
            top.insert("announce-list", OwnedValue::List(tiers));
        }
        match self.web_seeds.as_slice() {
            [] => {}
            [one] => top.insert("url-list", OwnedValue::str(one)),
            many => top.insert(
                "url-list",
                OwnedValue::List(many.iter().map(|u| OwnedValue::str(u)).collect()),
            ),
        }
        if let Some(c) = &self.comment {
            top.insert("comment", OwnedValue::str(c));
        }
        if let Some(c) = &self.created_by {
            top.insert("created by", OwnedValue::str(c));
        }
        if let Some(d) = self.creation_date {
            top.insert("creation date", OwnedValue::Int(d));
        }
    }

    fn file_tree(&self) -> OwnedValue {
        let mut tree = BTreeMap::new();
        for (i, f) in self.files.iter().enumerate() {
            let mut leaf = OwnedValue::dict().with("length", int(f.length));
            if let Some(attr) = attr_value(f.attr) {
                leaf.insert("attr", attr);
            }
            if f.length > 0 {
                if let Some(h) = self.v2.get(&i) {
                    leaf.insert("pieces root", OwnedValue::bytes(&h.root));
                }
            }
            let leaf = OwnedValue::dict().with("", leaf);
            let path: Vec<&str> = if f.path.is_empty() {
                vec![self.name.as_str()]
            } else {
                f.path.iter().map(String::as_str).collect()
            };
            insert_path(&mut tree, &path, leaf);
        }
        OwnedValue::Dict(tree)
    }

    fn piece_layers(&self) -> OwnedValue {
        let mut layers = OwnedValue::dict();
        if let OwnedValue::Dict(map) = &mut layers {
            for (i, f) in self.files.iter().enumerate() {
                if f.length <= u64::from(self.piece_length) {
                    continue;
                }
                if let Some(h) = self.v2.get(&i) {
                    let bytes: Vec<u8> = h.layer.iter().flatten().copied().collect();
                    map.insert(h.root.to_vec(), OwnedValue::Bytes(bytes));
                }
            }
        }
        layers
    }
}

fn int(n: u64) -> OwnedValue {
    // Lengths were checked against piece counts that fit in u32 pieces of
    // at most 256 MiB, so they fit in i64; saturate rather than wrap.
    OwnedValue::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// BEP 47 `attr`, in libtorrent's character order (`p`, `h`, `x`).
fn attr_value(attr: FileAttr) -> Option<OwnedValue> {
    let mut s = String::new();
    if attr.pad {
        s.push('p');
    }
    if attr.hidden {
        s.push('h');
    }
    if attr.executable {
        s.push('x');
    }
    (!s.is_empty()).then(|| OwnedValue::Bytes(s.into_bytes()))
}

/// Puts `leaf` at `path` in a nested-dictionary file tree (paths were
/// checked to be unique and prefix-free).
fn insert_path(tree: &mut BTreeMap<Vec<u8>, OwnedValue>, path: &[&str], leaf: OwnedValue) {
    match path {
        [] => {}
        [last] => {
            tree.insert(last.as_bytes().to_vec(), leaf);
        }
        [first, rest @ ..] => {
            let node = tree
                .entry(first.as_bytes().to_vec())
                .or_insert_with(|| OwnedValue::Dict(BTreeMap::new()));
            if let OwnedValue::Dict(sub) = node {
                insert_path(sub, rest, leaf);
            }
        }
    }
}
