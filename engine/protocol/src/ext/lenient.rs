//! A small, bounded, borrowing bencode reader for extension messages.
//!
//! Why not bendy's decoder (which [`crate::bencode`] wraps, strictly, for
//! .torrent files)? Two reasons, both about what peers really send:
//! - bendy rejects dictionaries whose keys are not sorted. BEP 3 asks senders
//!   to sort, but receivers of extension messages must be lenient: the
//!   Azureus `BT_EXTENDED_LST` example in the spec itself
//!   (`d13:PEER_EXCHANGE...22:NEW_INCREDIBLE_FEATUREi68ee`) is unsorted, and
//!   libtorrent's reader accepts any order. A .torrent is hashed, so strictness
//!   there protects the info-hash; an extended handshake is not.
//! - These messages arrive many times per connection; this reader allocates
//!   nothing (bendy's decoder allocates its state stack per call).
//!
//! It is bounded on both axes the brief cares about: input length
//! ([`MAX_LEN`], checked first) and nesting depth ([`MAX_DEPTH`], checked
//! while descending, so recursion is bounded too). Values are validated once
//! when their container is parsed; iterating a container re-reads its
//! already-validated bytes.

use thiserror::Error;

/// Deepest nesting accepted. The messages here need 2 levels; 32 leaves room
/// for whatever a client puts in keys we ignore.
pub const MAX_DEPTH: usize = 32;
/// Longest bencoded input accepted: 1 MiB, the default bound on an extension
/// message (`wire::DEFAULT_MAX_EXTENDED`).
pub const MAX_LEN: usize = 1024 * 1024;

/// Malformed bencode, with the byte offset where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BencodeError {
    /// The input ended inside a value.
    #[error("bencode ends in the middle of a value (at byte {at})")]
    Truncated {
        /// Offset of the end of input.
        at: usize,
    },
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte 0x{byte:02x} at offset {at} in bencode")]
    Unexpected {
        /// Offset of the byte.
        at: usize,
        /// The byte.
        byte: u8,
    },
    /// An integer or string length that is not a valid decimal number.
    #[error("invalid number at offset {at} in bencode")]
    BadNumber {
        /// Offset where the number starts.
        at: usize,
    },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at offset {at} is not a string")]
    KeyNotString {
        /// Offset of the key.
        at: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("bencode nested deeper than {max} levels")]
    TooDeep {
        /// The depth limit.
        max: usize,
    },
    /// Input longer than [`MAX_LEN`].
    #[error("bencoded input of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes after the value where none were expected.
    #[error("{extra} unexpected bytes after the bencoded value")]
    Trailing {
        /// How many bytes follow.
        extra: usize,
    },
}

/// A bencoded value borrowing from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i...e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(&'a [u8]),
    /// `l...e`
    List(List<'a>),
    /// `d...e`
    Dict(Dict<'a>),
}

/// A validated list: the bytes between `l` and `e`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct List<'a> {
    body: &'a [u8],
}

/// A validated dictionary: the bytes between `d` and `e`. Keys may come in
/// any order and may repeat; lookups return the first match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dict<'a> {
    body: &'a [u8],
}

impl<'a> Value<'a> {
    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
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
    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<Dict<'a>> {
        match self {
            Value::Dict(d) => Some(*d),
            _ => None,
        }
    }
}

impl<'a> Dict<'a> {
    /// The entries in wire order.
    pub fn iter(&self) -> DictIter<'a> {
        DictIter { rest: self.body }
    }
    /// The first value under `key`.
    pub fn get(&self, key: &[u8]) -> Option<Value<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
    /// The first value under `key` if it is an integer.
    pub fn int(&self, key: &[u8]) -> Option<i64> {
        self.get(key).and_then(|v| v.as_int())
    }
    /// The first value under `key` if it is a byte string.
    pub fn bytes(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.get(key).and_then(|v| v.as_bytes())
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.iter().count()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

impl<'a> List<'a> {
    /// The items in order.
    pub fn iter(&self) -> ListIter<'a> {
        ListIter { rest: self.body }
    }
}

/// Iterator over a [`Dict`]'s entries.
#[derive(Clone, Debug)]
pub struct DictIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for DictIter<'a> {
    type Item = (&'a [u8], Value<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        // The body was validated when the dict was parsed, so these reads
        // cannot fail; an error just ends the iteration.
        let (key, n) = parse_at(self.rest, 0, 0).ok()?;
        let rest = self.rest.get(n..)?;
        let (val, m) = parse_at(rest, 0, 0).ok()?;
        self.rest = rest.get(m..)?;
        Some((key.as_bytes()?, val))
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
        let (v, n) = parse_at(self.rest, 0, 0).ok()?;
        self.rest = self.rest.get(n..)?;
        Some(v)
    }
}

/// Parses one value at the start of `buf`; returns it and the bytes it used.
pub fn parse_prefix(buf: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    if buf.len() > MAX_LEN {
        return Err(BencodeError::TooLong {
            len: buf.len(),
            max: MAX_LEN,
        });
    }
    parse_at(buf, 0, 0)
}

/// Parses a dictionary at the start of `buf`; returns it and the bytes it
/// used (for messages that carry raw data after the dictionary).
pub fn parse_dict_prefix(buf: &[u8]) -> Result<(Dict<'_>, usize), BencodeError> {
    match parse_prefix(buf)? {
        (Value::Dict(d), n) => Ok((d, n)),
        _ => Err(BencodeError::Unexpected {
            at: 0,
            byte: buf.first().copied().unwrap_or(0),
        }),
    }
}

/// Parses `buf` as exactly one dictionary.
pub fn parse_dict(buf: &[u8]) -> Result<Dict<'_>, BencodeError> {
    let (d, n) = parse_dict_prefix(buf)?;
    match buf.len() - n {
        0 => Ok(d),
        extra => Err(BencodeError::Trailing { extra }),
    }
}

/// Reads a decimal number ending at `end` starting at `buf[pos..]`; returns
/// the number and the offset just past the terminator.
fn number(buf: &[u8], pos: usize, end: u8, base: usize) -> Result<(i64, usize), BencodeError> {
    let bad = BencodeError::BadNumber { at: base };
    let rest = buf.get(pos..).unwrap_or_default();
    // At most 20 characters (a sign and 19 digits is all an i64 holds), so
    // the scan for the terminator is bounded too.
    let Some(stop) = rest.iter().take(21).position(|&b| b == end) else {
        return Err(if rest.len() > 20 {
            bad
        } else {
            BencodeError::Truncated {
                at: base + buf.len(),
            }
        });
    };
    let digits = rest.get(..stop).unwrap_or_default();
    if digits.is_empty() {
        return Err(bad);
    }
    let text = std::str::from_utf8(digits).map_err(|_| bad.clone())?;
    if !text
        .bytes()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == b'-'))
    {
        return Err(bad);
    }
    let n = text.parse::<i64>().map_err(|_| bad)?;
    Ok((n, pos + stop + 1))
}

/// Parses the value at the start of `buf`. `base` is the offset of `buf` in
/// the original input (for error positions), `depth` the current nesting.
fn parse_at(buf: &[u8], base: usize, depth: usize) -> Result<(Value<'_>, usize), BencodeError> {
    let Some(&first) = buf.first() else {
        return Err(BencodeError::Truncated { at: base });
    };
    match first {
        b'i' => {
            let (n, end) = number(buf, 1, b'e', base)?;
            Ok((Value::Int(n), end))
        }
        b'0'..=b'9' => {
            let (len, start) = number(buf, 0, b':', base)?;
            if len < 0 {
                return Err(BencodeError::BadNumber { at: base });
            }
            let end = usize::try_from(len)
                .ok()
                .and_then(|l| start.checked_add(l))
                .ok_or(BencodeError::BadNumber { at: base })?;
            match buf.get(start..end) {
                Some(bytes) => Ok((Value::Bytes(bytes), end)),
                None => Err(BencodeError::Truncated {
                    at: base + buf.len(),
                }),
            }
        }
        b'l' | b'd' => {
            if depth >= MAX_DEPTH {
                return Err(BencodeError::TooDeep { max: MAX_DEPTH });
            }
            let is_dict = first == b'd';
            let mut pos = 1;
            loop {
                let rest = buf.get(pos..).unwrap_or_default();
                match rest.first() {
                    None => {
                        return Err(BencodeError::Truncated {
                            at: base + buf.len(),
                        })
                    }
                    Some(b'e') => break,
                    Some(_) => {}
                }
                if is_dict {
                    let (key, n) = parse_at(rest, base + pos, depth + 1)?;
                    if !matches!(key, Value::Bytes(_)) {
                        return Err(BencodeError::KeyNotString { at: base + pos });
                    }
                    pos += n;
                }
                let rest = buf.get(pos..).unwrap_or_default();
                let (_, n) = parse_at(rest, base + pos, depth + 1)?;
                pos += n;
            }
            let body = buf.get(1..pos).unwrap_or_default();
            let value = if is_dict {
                Value::Dict(Dict { body })
            } else {
                Value::List(List { body })
            };
            Ok((value, pos + 1))
        }
        byte => Err(BencodeError::Unexpected { at: base, byte }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_and_keeps_wire_order() {
        let d = parse_dict(b"d1:zi-3e1:al1:xi0ee1:dd1:ki1eee").unwrap();
        let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, [&b"z"[..], b"a", b"d"]);
        assert_eq!(d.int(b"z"), Some(-3));
        let Some(Value::List(l)) = d.get(b"a") else {
            panic!()
        };
        assert_eq!(
            l.iter().collect::<Vec<_>>(),
            [Value::Bytes(b"x"), Value::Int(0)]
        );
        assert_eq!(
            d.get(b"d").and_then(|v| v.as_dict()).unwrap().int(b"k"),
            Some(1)
        );
        assert_eq!(d.len(), 3);
        assert_eq!(d.bytes(b"z"), None);
    }

    #[test]
    fn prefix_reports_where_the_dict_ends() {
        let (d, n) = parse_dict_prefix(b"d1:ai1eeRAW").unwrap();
        assert_eq!((d.int(b"a"), n), (Some(1), 8));
        assert_eq!(
            parse_dict(b"d1:ai1eeRAW"),
            Err(BencodeError::Trailing { extra: 3 })
        );
    }

    #[test]
    fn malformed_inputs() {
        assert_eq!(parse_dict(b""), Err(BencodeError::Truncated { at: 0 }));
        assert_eq!(parse_dict(b"d1:a"), Err(BencodeError::Truncated { at: 4 }));
        assert_eq!(
            parse_dict(b"d1:ai1e"),
            Err(BencodeError::Truncated { at: 7 })
        );
        assert_eq!(
            parse_dict(b"di1ei2ee"),
            Err(BencodeError::KeyNotString { at: 1 })
        );
        assert_eq!(
            parse_dict(b"d1:aiee"),
            Err(BencodeError::BadNumber { at: 4 })
        );
        assert_eq!(
            parse_dict(b"d1:ai1-ee"),
            Err(BencodeError::BadNumber { at: 4 })
        );
        assert_eq!(
            parse_dict(b"d1:ai99999999999999999999ee"),
            Err(BencodeError::BadNumber { at: 4 })
        );
        assert_eq!(
            parse_dict(b"d1:a99999999999999999999:xe"),
            Err(BencodeError::BadNumber { at: 4 })
        );
        assert_eq!(
            parse_dict(b"d1:a5:abce"),
            Err(BencodeError::Truncated { at: 10 })
        );
        assert_eq!(
            parse_dict(b"d1:axe"),
            Err(BencodeError::Unexpected { at: 4, byte: b'x' })
        );
        assert_eq!(
            parse_dict(b"i1e"),
            Err(BencodeError::Unexpected { at: 0, byte: b'i' })
        );
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = b"d1:a".to_vec();
        deep.extend(std::iter::repeat_n(b'l', MAX_DEPTH));
        deep.extend(std::iter::repeat_n(b'e', MAX_DEPTH + 1));
        assert_eq!(
            parse_dict(&deep),
            Err(BencodeError::TooDeep { max: MAX_DEPTH })
        );
        let mut ok = b"d1:a".to_vec();
        ok.extend(std::iter::repeat_n(b'l', MAX_DEPTH - 1));
        ok.extend(std::iter::repeat_n(b'e', MAX_DEPTH));
        assert!(parse_dict(&ok).is_ok());
    }

    #[test]
    fn length_is_bounded() {
        let big = vec![b'd'; MAX_LEN + 1];
        assert_eq!(
            parse_dict(&big),
            Err(BencodeError::TooLong {
                len: MAX_LEN + 1,
                max: MAX_LEN
            })
        );
    }
}
