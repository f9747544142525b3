//! The writer: an owned value tree whose dictionaries are `BTreeMap`s keyed
//! by raw bytes. That map order *is* bencode's canonical key order, so a
//! value cannot be written out of order, keys cannot repeat, and writing
//! cannot fail. Torrent building and every bencoded extension message go
//! through it.

use std::collections::BTreeMap;

use super::value::Value;

/// An owned bencode value, for writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedValue {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l...e`.
    List(Vec<OwnedValue>),
    /// `d...e`, keys written in byte order (the canonical order).
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    /// A byte string from UTF-8 text.
    pub fn str(s: &str) -> OwnedValue {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }

    /// A byte string.
    pub fn bytes(b: &[u8]) -> OwnedValue {
        OwnedValue::Bytes(b.to_vec())
    }

    /// An integer from any type that fits an `i64` (`u32`, `u16`, ...).
    pub fn int(n: impl Into<i64>) -> OwnedValue {
        OwnedValue::Int(n.into())
    }

    /// An empty dictionary.
    pub fn dict() -> OwnedValue {
        OwnedValue::Dict(BTreeMap::new())
    }

    /// Inserts `key -> value` when `self` is a dictionary (no-op otherwise),
    /// returning `self` for chaining.
    pub fn with(mut self, key: &str, value: OwnedValue) -> OwnedValue {
        self.insert(key, value);
        self
    }

    /// Inserts `key -> value` when `self` is a dictionary (no-op otherwise).
    pub fn insert(&mut self, key: &str, value: OwnedValue) {
        self.insert_raw(key.as_bytes(), value);
    }

    /// Inserts under a key that need not be text (a no-op unless `self` is
    /// a dictionary).
    pub fn insert_raw(&mut self, key: &[u8], value: OwnedValue) {
        if let OwnedValue::Dict(map) = self {
            map.insert(key.to_vec(), value);
        }
    }

    /// Appends the encoding of `self` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            OwnedValue::Bytes(b) => write_bytes(out, b),
            OwnedValue::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    write_bytes(out, k);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The canonical encoding of `self`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// A copy of a read value, for tests and tools that edit bencode. Where a
/// key repeats the first occurrence is kept (what every lookup sees), and
/// an integer beyond `i64` saturates. Each level re-reads the bytes below
/// it, so this is for small documents.
impl From<Value<'_>> for OwnedValue {
    fn from(v: Value<'_>) -> OwnedValue {
        match v {
            Value::Int(i) => OwnedValue::Int(i.to_i64().unwrap_or_else(|_| {
                if i.as_str().starts_with('-') {
                    i64::MIN
                } else {
                    i64::MAX
                }
            })),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(l) => OwnedValue::List(l.iter().map(OwnedValue::from).collect()),
            Value::Dict(d) => {
                let mut map = BTreeMap::new();
                for (k, v) in d.iter() {
                    map.entry(k.to_vec()).or_insert_with(|| OwnedValue::from(v));
                }
                OwnedValue::Dict(map)
            }
        }
    }
}
