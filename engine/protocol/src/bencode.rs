//! Bencode glue: a canonical writer and small helpers around `bendy`'s decoder.
//!
//! Decoding goes through [`bendy::decoding::Decoder`], which is zero-copy and
//! strict: it rejects non-canonical integers (`i-0e`, `i01e`), unsorted or
//! repeated dictionary keys, truncated input and nesting past its depth limit.
//! Strictness is what we want at a trust boundary, and it means every
//! dictionary we accept has exactly one byte encoding, so the info-hash of
//! a torrent we re-encode cannot drift from the one we parsed.
//!
//! Encoding uses the tiny [`Value`] tree below rather than bendy's callback
//! encoder: a `BTreeMap` keyed by raw bytes *is* bencode's canonical key
//! order, so a `Value` cannot be written out of order and writing cannot
//! fail. Builders assemble a `Value` and call [`Value::to_bytes`].

use std::collections::BTreeMap;

use bendy::decoding::Object;

/// An owned bencode value, for writing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(Vec<u8>),
    /// `l...e`.
    List(Vec<Value>),
    /// `d...e`, keys written in byte order (the canonical order).
    Dict(BTreeMap<Vec<u8>, Value>),
}

impl Value {
    /// A byte string from UTF-8 text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A byte string.
    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }

    /// An empty dictionary.
    pub fn dict() -> Value {
        Value::Dict(BTreeMap::new())
    }

    /// Inserts `key -> value` when `self` is a dictionary (no-op otherwise),
    /// returning `self` for chaining.
    pub fn with(mut self, key: &str, value: Value) -> Value {
        self.insert(key, value);
        self
    }

    /// Inserts `key -> value` when `self` is a dictionary (no-op otherwise).
    pub fn insert(&mut self, key: &str, value: Value) {
        if let Value::Dict(map) = self {
            map.insert(key.as_bytes().to_vec(), value);
        }
    }

    /// Appends the encoding of `self` to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => write_bytes(out, b),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
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

/// The bencode type of a decoded object, for "expected X, found Y" errors.
pub fn kind_name(obj: &Object<'_, '_>) -> &'static str {
    match obj {
        Object::List(_) => "a list",
        Object::Dict(_) => "a dictionary",
        Object::Integer(_) => "an integer",
        Object::Bytes(_) => "a byte string",
    }
}

/// How a bencoded integer failed to fit the type asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// The value is below zero where only sizes/counts make sense.
    Negative,
    /// The value does not fit the target type.
    TooLarge,
}

/// Parses the digits bendy hands back for `i...e` as an unsigned size.
/// bendy has already checked the canonical form (no leading zeros, no `-0`).
pub fn parse_u64(digits: &str) -> Result<u64, IntError> {
    if digits.starts_with('-') {
        return Err(IntError::Negative);
    }
    digits.parse::<u64>().map_err(|_| IntError::TooLarge)
}

/// Parses the digits bendy hands back for `i...e` as a signed integer.
pub fn parse_i64(digits: &str) -> Result<i64, IntError> {
    digits.parse::<i64>().map_err(|_| IntError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_canonical_order() {
        let v = Value::dict()
            .with("zeta", Value::Int(-3))
            .with("alpha", Value::List(vec![Value::str("x"), Value::Int(0)]))
            .with("mid", Value::bytes(b"\x00\xff"));
        assert_eq!(
            v.to_bytes(),
            b"d5:alphal1:xi0ee3:mid2:\x00\xff4:zetai-3ee".to_vec()
        );
    }

    #[test]
    fn ints() {
        assert_eq!(parse_u64("0"), Ok(0));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), Err(IntError::TooLarge));
        assert_eq!(parse_u64("-1"), Err(IntError::Negative));
        assert_eq!(parse_i64("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64("9223372036854775808"), Err(IntError::TooLarge));
    }

    #[test]
    fn written_bytes_decode_with_bendy() {
        let v = Value::dict().with("a", Value::dict().with("b", Value::Int(1)));
        let bytes = v.to_bytes();
        let tokens: Result<Vec<_>, _> = bendy::decoding::Decoder::new(&bytes).tokens().collect();
        assert_eq!(tokens.map(|t| t.len()).ok(), Some(7));
    }
}
