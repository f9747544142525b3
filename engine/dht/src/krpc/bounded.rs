//! The DHT's bounds on bencode from strangers, over the project's one
//! bencode reader (`seedcore_protocol::bencode`).
//!
//! That reader decides what is bencode for the whole engine: key order is
//! not checked and the first of repeated keys wins (what libtorrent's
//! lookups return), integers are at most 20 digits and are converted where
//! used (an integer beyond `i64` under a key KRPC reads is that key's
//! error, under a key it ignores it is ignored). It bounds input length and
//! nesting depth and allocates nothing.
//! A datagram from anyone on the internet needs one more bound: the number
//! of values. [`Dict::get`](seedcore_protocol::bencode::Dict::get) re-scans
//! a dictionary's bytes on every lookup, so a packet of thousands of tiny
//! values would cost each lookup a walk over all of them; KRPC messages
//! hold a few dozen. [`read_bounded`] counts them first, in one pass that
//! stops at [`MAX_ITEMS`] + 1, and only then hands out the tree.

use seedcore_protocol::bencode::{self, BencodeError, Decoder, Limits, Object, Value};
use thiserror::Error;

/// Largest input accepted (a UDP datagram is at most 64 KiB).
pub const MAX_INPUT: usize = 64 * 1024;
/// Deepest nesting accepted (KRPC needs 3).
pub const MAX_DEPTH: usize = 16;
/// Most values (of any kind; dictionary keys are not counted) in one input.
pub const MAX_ITEMS: usize = 4096;

/// [`MAX_INPUT`] and [`MAX_DEPTH`] as the shared reader's limits.
pub const LIMITS: Limits = Limits {
    max_len: MAX_INPUT,
    max_depth: MAX_DEPTH,
};

/// Why bytes are not bencode the DHT accepts.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BoundedError {
    /// Malformed, longer than [`MAX_INPUT`] or deeper than [`MAX_DEPTH`].
    #[error(transparent)]
    Bencode(#[from] BencodeError),
    /// More than [`MAX_ITEMS`] values.
    #[error("more than {max} bencoded values; a KRPC message holds a few dozen")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
}

/// Reads one value from the start of `input` within the DHT's bounds;
/// bytes after it are ignored (returned as the consumed length). The
/// counting pass also validates, so the shared reader's second pass over
/// the same at most 64 KiB cannot fail on anything but what it checks too.
pub(crate) fn read_bounded(input: &[u8]) -> Result<(Value<'_>, usize), BoundedError> {
    let mut dec = Decoder::new(input, LIMITS)?;
    let mut left = MAX_ITEMS;
    match dec.next_object()? {
        Some(obj) => count(obj, &mut left)?,
        None => return Err(BencodeError::Truncated { at: 0 }.into()),
    }
    Ok(bencode::read_prefix(input, LIMITS)?)
}

/// Takes one from `left` for `obj` and for every value below it. Keys are
/// not counted (a key always comes with a value, so a dictionary holds at
/// most twice as many tokens), as the DHT has always counted. Recursion
/// is bounded by [`MAX_DEPTH`], which the decoder enforces.
fn count(obj: Object<'_, '_>, left: &mut usize) -> Result<(), BoundedError> {
    take(left)?;
    match obj {
        Object::List(mut l) => {
            while let Some(item) = l.next_object()? {
                count(item, left)?;
            }
        }
        Object::Dict(mut d) => {
            while let Some((_, value)) = d.next_pair()? {
                count(value, left)?;
            }
        }
        Object::Int(_) | Object::Bytes(_) => {}
    }
    Ok(())
}

fn take(left: &mut usize) -> Result<(), BoundedError> {
    *left = left
        .checked_sub(1)
        .ok_or(BoundedError::TooManyItems { max: MAX_ITEMS })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_values_and_ignores_trailing_bytes() {
        let (v, n) = read_bounded(b"d1:ai-3e1:bl2:xyi0eeeXYZ").unwrap();
        assert_eq!(n, 21);
        let d = v.as_dict().unwrap();
        assert_eq!(d.int(b"a"), Some(-3));
        let first = d.get(b"b").and_then(|l| l.as_list()?.iter().next());
        assert_eq!(first.and_then(|v| v.as_bytes()), Some(&b"xy"[..]));
    }

    #[test]
    fn unsorted_keys_are_accepted_and_first_wins() {
        let (v, _) = read_bounded(b"d1:bi1e1:ai2e1:bi3ee").unwrap();
        assert_eq!(v.as_dict().unwrap().int(b"b"), Some(1));
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
            b"999999999999999999999:",
            b"i999999999999999999999e",
            b"-1:a",
        ] {
            assert!(
                read_bounded(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn bounds_length_depth_and_items() {
        let deep: Vec<u8> = std::iter::repeat_n(b'l', 40)
            .chain(std::iter::repeat_n(b'e', 40))
            .collect();
        assert!(matches!(
            read_bounded(&deep),
            Err(BoundedError::Bencode(BencodeError::TooDeep {
                max: MAX_DEPTH
            }))
        ));
        let ok_deep: Vec<u8> = std::iter::repeat_n(b'l', MAX_DEPTH)
            .chain(std::iter::repeat_n(b'e', MAX_DEPTH))
            .collect();
        assert!(read_bounded(&ok_deep).is_ok());

        let list_of = |n: usize| {
            let mut l = b"l".to_vec();
            l.extend(std::iter::repeat_n(&b"i0e"[..], n).flatten());
            l.push(b'e');
            l
        };
        // The list itself is one value.
        assert!(read_bounded(&list_of(MAX_ITEMS - 1)).is_ok());
        assert_eq!(
            read_bounded(&list_of(MAX_ITEMS)),
            Err(BoundedError::TooManyItems { max: MAX_ITEMS })
        );
        // Dictionary keys are not values: 4095 entries fit, 4096 do not.
        let dict_of = |n: usize| {
            let mut d = b"d".to_vec();
            for i in 0..n {
                d.extend_from_slice(format!("4:{i:04}i0e").as_bytes());
            }
            d.push(b'e');
            d
        };
        assert!(read_bounded(&dict_of(MAX_ITEMS - 1)).is_ok());
        assert_eq!(
            read_bounded(&dict_of(MAX_ITEMS)),
            Err(BoundedError::TooManyItems { max: MAX_ITEMS })
        );

        let long = vec![b'0'; MAX_INPUT + 1];
        assert!(matches!(
            read_bounded(&long),
            Err(BoundedError::Bencode(BencodeError::TooLong { .. }))
        ));
    }
}
