//! Random access over validated bencode: [`read`] checks a whole value once
//! and returns a [`Value`] whose lists and dictionaries are their exact
//! bytes, re-read on demand.
//!
//! This suits small messages looked up by key (extension messages): no
//! allocation, any key order, and `get` is a scan of one dictionary. Each
//! level of lookups re-reads the bytes below it, so a deep walk over a large
//! document should use the streaming [`Decoder`] instead (the metainfo
//! parser does).

use super::decoder::{Decoder, Int, Object};
use super::error::BencodeError;
use super::Limits;

/// A bencoded value borrowing from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i...e`.
    Int(Int<'a>),
    /// `<len>:<bytes>`: the bytes.
    Bytes(&'a [u8]),
    /// `l...e`.
    List(List<'a>),
    /// `d...e`.
    Dict(Dict<'a>),
}

/// A validated list: its exact bytes, `l` to `e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct List<'a> {
    raw: &'a [u8],
}

/// A validated dictionary: its exact bytes, `d` to `e`. Keys may come in
/// any order and may repeat; lookups return the first match, as libtorrent's
/// do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dict<'a> {
    raw: &'a [u8],
}

impl<'a> Value<'a> {
    /// The integer, if this is one that fits an `i64`.
    pub fn as_int(&self) -> Option<i64> {
        self.as_integer().and_then(|i| i.to_i64().ok())
    }

    /// The integer as written, if this is one.
    pub fn as_integer(&self) -> Option<Int<'a>> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<List<'a>> {
        match self {
            Value::List(l) => Some(*l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<Dict<'a>> {
        match self {
            Value::Dict(d) => Some(*d),
            _ => None,
        }
    }

    /// "an integer", "a byte string", "a list" or "a dictionary".
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Int(_) => super::INT,
            Value::Bytes(_) => super::BYTES,
            Value::List(_) => super::LIST,
            Value::Dict(_) => super::DICT,
        }
    }
}

impl<'d, 'a> Object<'d, 'a> {
    /// Reads the rest of this object (validating it) and returns it as a
    /// [`Value`].
    pub fn into_value(self) -> Result<Value<'a>, BencodeError> {
        Ok(match self {
            Object::Int(i) => Value::Int(i),
            Object::Bytes(b) => Value::Bytes(b),
            Object::List(l) => Value::List(List { raw: l.into_raw()? }),
            Object::Dict(d) => Value::Dict(Dict { raw: d.into_raw()? }),
        })
    }
}

/// The bytes between a container's opening letter and its `e`.
fn body(raw: &[u8]) -> &[u8] {
    raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default()
}

impl<'a> Dict<'a> {
    /// The exact bytes of the dictionary, `d` to `e`.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// The entries in input order, repeats included.
    pub fn iter(&self) -> DictIter<'a> {
        DictIter {
            rest: body(self.raw),
        }
    }
    /// The first value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// The first value under `key` if it is an integer that fits an `i64`.
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        self.get(key).and_then(|v| v.as_int())
    }
    /// The first value under `key` if it is a byte string.
    pub fn bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key).and_then(|v| v.as_bytes())
    }
    /// Number of entries, repeats included.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        body(self.raw).is_empty()
    }
}

impl<'a> List<'a> {
    /// The exact bytes of the list, `l` to `e`.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
    /// The items in order.
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            rest: body(self.raw),
        }
    }
    /// Number of items.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        body(self.raw).is_empty()
    }
}

/// Reads the next top-level value of already validated bytes.
fn next_value<'a>(dec: &mut Decoder<'a>) -> Option<Value<'a>> {
    dec.next_object().ok()??.into_value().ok()
}

/// Iterator over a [`Dict`]'s entries.
#[derive(Clone, Debug)]
pub struct DictIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a [u8], Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        // The body was validated when the dictionary was read, so these
        // reads cannot fail; were one to, the iteration would just end.
        let mut dec = Decoder::trusted(self.rest);
        let entry = next_value(&mut dec)
            .and_then(|k| k.as_bytes())
            .and_then(|k| Some((k, next_value(&mut dec)?)));
        self.rest = match entry {
            Some(_) => self.rest.get(dec.position()..).unwrap_or_default(),
            None => &[],
        };
        entry
    }
}

/// Iterator over a [`List`]'s items.
#[derive(Clone, Debug)]
pub struct ListIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut dec = Decoder::trusted(self.rest);
        let item = next_value(&mut dec);
        self.rest = match item {
            Some(_) => self.rest.get(dec.position()..).unwrap_or_default(),
            None => &[],
        };
        item
    }
}

/// Reads one value at the start of `buf`; returns it and how many bytes it
/// took (so its exact bytes are `&buf[..n]`). Bytes after it are left alone.
pub fn read_prefix(buf: &[u8], limits: Limits) -> Result<(Value<'_>, usize), BencodeError> {
    let mut dec = Decoder::new(buf, limits)?;
    let value = match dec.next_object()? {
        Some(obj) => obj.into_value()?,
        None => return Err(BencodeError::Truncated { at: 0 }),
    };
    Ok((value, dec.position()))
}

/// Reads `buf` as exactly one value.
pub fn read(buf: &[u8], limits: Limits) -> Result<Value<'_>, BencodeError> {
    let (value, n) = read_prefix(buf, limits)?;
    no_trailing(buf, n)?;
    Ok(value)
}

/// Reads a dictionary at the start of `buf`; returns it and how many bytes
/// it took (for messages that carry raw data after the dictionary).
pub fn read_dict_prefix(buf: &[u8], limits: Limits) -> Result<(Dict<'_>, usize), BencodeError> {
    match read_prefix(buf, limits)? {
        (Value::Dict(d), n) => Ok((d, n)),
        _ => Err(BencodeError::Unexpected {
            at: 0,
            byte: buf.first().copied().unwrap_or(0),
        }),
    }
}

/// Reads `buf` as exactly one dictionary.
pub fn read_dict(buf: &[u8], limits: Limits) -> Result<Dict<'_>, BencodeError> {
    let (d, n) = read_dict_prefix(buf, limits)?;
    no_trailing(buf, n)?;
    Ok(d)
}

fn no_trailing(buf: &[u8], used: usize) -> Result<(), BencodeError> {
    match buf.len().saturating_sub(used) {
        0 => Ok(()),
        extra => Err(BencodeError::Trailing { extra }),
    }
}
