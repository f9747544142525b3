//! The bencode KRPC needs: a bounded, borrowing reader and a small writer.
//!
//! Why not a shared reader: when this crate was written the protocol
//! crate's bencode module was being rewritten, and `bendy`'s decoder
//! rejects dictionaries whose keys are not sorted (`UnsortedKeys`), which
//! libtorrent accepts and some DHT clients send. A datagram from a
//! stranger is at most one UDP packet, so a tiny tree reader is enough:
//! - input at most [`MAX_INPUT`] bytes, nesting at most [`MAX_DEPTH`]
//!   (KRPC needs 3), at most [`MAX_ITEMS`] values in all: memory is
//!   bounded before anything is allocated per item;
//! - key order is not checked and the first of repeated keys wins (what
//!   libtorrent's lookups return);
//! - integers must fit an `i64`.
//!
//! The writer emits canonical bencode: every dictionary is written by
//! code that lists its keys in sorted order (the unit tests re-check it).

use thiserror::Error;

/// Largest input accepted (a UDP datagram is at most 64 KiB).
pub const MAX_INPUT: usize = 64 * 1024;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 16;
/// Most values (of any kind) in one input.
pub const MAX_ITEMS: usize = 4096;

/// Why bytes are not acceptable bencode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BencodeError {
    /// Longer than [`MAX_INPUT`].
    #[error("input is {len} bytes, more than the {MAX_INPUT} a datagram may hold")]
    TooLong {
        /// Input length.
        len: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at byte {at}")]
    TooDeep {
        /// Offset of the container that went too deep.
        at: usize,
    },
    /// More than [`MAX_ITEMS`] values.
    #[error("more than {MAX_ITEMS} values")]
    TooManyItems,
    /// Input ended inside a value.
    #[error("input ends inside a value")]
    Eof,
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte {byte:#04x} at offset {at}")]
    Unexpected {
        /// The byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// An integer or string length that is not a valid number.
    #[error("bad number at offset {at}")]
    BadNumber {
        /// Offset of the number.
        at: usize,
    },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at offset {at} is not a byte string")]
    KeyNotString {
        /// Offset of the key.
        at: usize,
    },
}

/// A decoded value borrowing its byte strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i...e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(&'a [u8]),
    /// `l...e`.
    List(Vec<Value<'a>>),
    /// `d...e`, entries in input order.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The first value under `key` if this is a dictionary.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        match self {
            Value::Dict(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
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

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The list items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Whether this is a dictionary.
    pub fn is_dict(&self) -> bool {
        matches!(self, Value::Dict(_))
    }
}

/// Reads one value from the start of `input`; bytes after it are ignored
/// (returned as the consumed length).
pub fn decode(input: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    if input.len() > MAX_INPUT {
        return Err(BencodeError::TooLong { len: input.len() });
    }
    let mut r = Reader {
        input,
        pos: 0,
        items: 0,
    };
    let v = r.value(0)?;
    Ok((v, r.pos))
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    items: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input.get(self.pos).copied().ok_or(BencodeError::Eof)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(BencodeError::TooManyItems);
        }
        let at = self.pos;
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let n = self.number(b'e')?;
                Ok(Value::Int(n))
            }
            b'0'..=b'9' => self.bytes().map(Value::Bytes),
            b'l' | b'd' if depth >= MAX_DEPTH => Err(BencodeError::TooDeep { at }),
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut entries = Vec::new();
                while self.peek()? != b'e' {
                    let key_at = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(BencodeError::KeyNotString { at: key_at });
                    }
                    let key = self.bytes()?;
                    let v = self.value(depth + 1)?;
                    entries.push((key, v));
                }
                self.pos += 1;
                Ok(Value::Dict(entries))
            }
            byte => Err(BencodeError::Unexpected { byte, at }),
        }
    }

    /// A signed decimal ended by `end`; at most 20 characters.
    fn number(&mut self, end: u8) -> Result<i64, BencodeError> {
        let at = self.pos;
        let rest = self.input.get(at..).unwrap_or_default();
        let len = rest
            .iter()
            .take(21)
            .position(|&b| b == end)
            .ok_or(if rest.len() <= 20 {
                BencodeError::Eof
            } else {
                BencodeError::BadNumber { at }
            })?;
        let text = rest.get(..len).unwrap_or_default();
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(BencodeError::BadNumber { at });
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or(BencodeError::BadNumber { at })?;
        self.pos = at + len + 1;
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], BencodeError> {
        let at = self.pos;
        let n = self.number(b':')?;
        let n = usize::try_from(n).map_err(|_| BencodeError::BadNumber { at })?;
        let end = self.pos.checked_add(n).ok_or(BencodeError::Eof)?;
        let b = self.input.get(self.pos..end).ok_or(BencodeError::Eof)?;
        self.pos = end;
        Ok(b)
    }
}

/// Appends `<len>:<bytes>`.
pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Appends `i<n>e`.
pub fn put_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    out.extend_from_slice(n.to_string().as_bytes());
    out.push(b'e');
}

/// Appends a key and a byte-string value.
pub fn put_kv_bytes(out: &mut Vec<u8>, key: &[u8], v: &[u8]) {
    put_bytes(out, key);
    put_bytes(out, v);
}

/// Appends a key and an integer value.
pub fn put_kv_int(out: &mut Vec<u8>, key: &[u8], n: i64) {
    put_bytes(out, key);
    put_int(out, n);
}

/// Whether `input` is canonical: every dictionary's keys strictly sorted.
/// Used by tests to check what the writer emits.
pub fn is_canonical(v: &Value<'_>) -> bool {
    match v {
        Value::Int(_) | Value::Bytes(_) => true,
        Value::List(items) => items.iter().all(is_canonical),
        Value::Dict(entries) => {
            entries.windows(2).all(|w| match w {
                [(a, _), (b, _)] => a < b,
                _ => true,
            }) && entries.iter().all(|(_, v)| is_canonical(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_values() {
        let (v, n) = decode(b"d1:ai-3e1:bl2:xyi0eee").unwrap();
        assert_eq!(n, 21);
        assert_eq!(v.get(b"a").and_then(Value::as_int), Some(-3));
        let l = v.get(b"b").and_then(Value::as_list).unwrap();
        assert_eq!(l[0].as_bytes(), Some(&b"xy"[..]));
        assert!(is_canonical(&v));
    }

    #[test]
    fn unsorted_keys_are_accepted_and_first_wins() {
        let (v, _) = decode(b"d1:bi1e1:ai2e1:bi3ee").unwrap();
        assert_eq!(v.get(b"b").and_then(Value::as_int), Some(1));
        assert!(!is_canonical(&v));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b""[..],
            b"i12",
            b"ie",
            b"i-e",
            b"i1x2e",
            b"5:abc",
            b"d1:a",
            b"di1ei2ee",
            b"x",
            b"99999999999999999999999:",
            b"i99999999999999999999e",
            b"-1:a",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bounds_depth_and_items() {
        let deep: Vec<u8> = std::iter::repeat_n(b'l', 40)
            .chain(std::iter::repeat_n(b'e', 40))
            .collect();
        assert!(matches!(decode(&deep), Err(BencodeError::TooDeep { .. })));
        let mut many = b"l".to_vec();
        for _ in 0..5000 {
            many.extend_from_slice(b"i0e");
        }
        many.push(b'e');
        assert_eq!(decode(&many), Err(BencodeError::TooManyItems));
        let long = vec![b'0'; MAX_INPUT + 1];
        assert!(matches!(decode(&long), Err(BencodeError::TooLong { .. })));
    }

    #[test]
    fn writer_round_trips() {
        let mut out = Vec::new();
        out.push(b'd');
        put_kv_int(&mut out, b"a", -7);
        put_kv_bytes(&mut out, b"b", b"hello");
        out.push(b'e');
        assert_eq!(out, b"d1:ai-7e1:b5:helloe");
        let (v, _) = decode(&out).unwrap();
        assert!(is_canonical(&v));
    }
}
