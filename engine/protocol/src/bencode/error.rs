//! What can be wrong with bencoded bytes, and with an integer read from them.

use thiserror::Error;

/// Malformed (or, for [`super::check_canonical`], non-canonical) bencode,
/// with the byte offset where reading stopped.
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
    /// An integer or string length that is not a decimal number of at most
    /// 20 digits (an integer may start with `-`).
    #[error("invalid number at offset {at} in bencode (at most 20 decimal digits)")]
    BadNumber {
        /// Offset where the number starts (its `i`, or a length's first digit).
        at: usize,
    },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at offset {at} is not a string")]
    KeyNotString {
        /// Offset of the key.
        at: usize,
    },
    /// Lists and dictionaries nested deeper than the reader's limit.
    #[error("bencode nesting deeper than {max} levels")]
    TooDeep {
        /// The depth limit.
        max: usize,
    },
    /// Input longer than the reader's limit.
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
    /// Non-canonical: a non-negative integer or a string length written with
    /// a leading zero (`i05e`, `05:hello`).
    #[error("number with a leading zero at offset {at}")]
    LeadingZero {
        /// Offset where the number starts.
        at: usize,
    },
    /// Non-canonical: a key that sorts before the key ahead of it.
    #[error("key \"{key}\" at offset {at} comes after \"{previous}\"; keys must be in byte order")]
    UnsortedKey {
        /// Offset of the key.
        at: usize,
        /// The key, escaped.
        key: String,
        /// The key before it, escaped.
        previous: String,
    },
    /// Non-canonical: a key that appears twice in one dictionary.
    #[error("key \"{key}\" at offset {at} appears twice in one dictionary")]
    DuplicateKey {
        /// Offset of the second occurrence.
        at: usize,
        /// The key, escaped.
        key: String,
    },
}

/// How a bencoded integer failed to fit the type asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntError {
    /// The value is below zero where only sizes and counts make sense.
    Negative,
    /// The value does not fit the target type.
    TooLarge,
}
