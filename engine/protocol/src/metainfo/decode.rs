//! Typed reads over the crate's streaming bencode reader, each naming its
//! field on error.
//!
//! The parser walks the [`Decoder`]'s `Object` stream directly instead of
//! building a value tree first: memory stays proportional to what we keep,
//! not to the number of bencode nodes in the input, and the whole file is
//! read in one pass however deep its file tree. Keys come in file order;
//! where one repeats the first occurrence wins ([`Seen`]), as in libtorrent.

use super::error::{Field, MetainfoError};
use super::limits::{MAX_COMPONENT_LEN, MAX_NESTING_DEPTH, MAX_PATH_DEPTH, MAX_TORRENT_SIZE};
use crate::bencode::{Decoder, DictDecoder, IntError, Limits, ListDecoder, Object};

pub(crate) type Result<T> = std::result::Result<T, MetainfoError>;

/// The reader bounds for a .torrent or an info dictionary.
pub(crate) const LIMITS: Limits = Limits {
    max_len: MAX_TORRENT_SIZE,
    max_depth: MAX_NESTING_DEPTH,
};

/// A decoder over `bytes`, which the caller has already checked against
/// [`MAX_TORRENT_SIZE`].
pub(crate) fn decoder<'s>(bytes: &'s [u8], f: &Field<'_>) -> Result<Decoder<'s>> {
    Decoder::new(bytes, LIMITS).map_err(|e| f.bencode(&e))
}

/// The known keys one dictionary has had so far. A key's first occurrence
/// is read and later ones are skipped unread, which is what libtorrent's
/// and Transmission's lookups amount to. Only known keys are recorded, so
/// the capacity is the most any of our dictionaries knows.
#[derive(Default)]
pub(crate) struct Seen<'s> {
    keys: [&'s [u8]; 16],
    len: usize,
}

impl<'s> Seen<'s> {
    /// True the first time `key` is passed.
    pub(crate) fn first(&mut self, key: &'s [u8]) -> bool {
        let seen = self.keys.get(..self.len).unwrap_or_default();
        if seen.contains(&key) {
            return false;
        }
        if let Some(slot) = self.keys.get_mut(self.len) {
            *slot = key;
            self.len += 1;
        }
        true
    }
}

pub(crate) fn next_pair<'i, 's>(
    dict: &'i mut DictDecoder<'_, 's>,
    f: &Field<'_>,
) -> Result<Option<(&'s [u8], Object<'i, 's>)>> {
    dict.next_pair().map_err(|e| f.bencode(&e))
}

pub(crate) fn next_item<'i, 's>(
    list: &'i mut ListDecoder<'_, 's>,
    f: &Field<'_>,
) -> Result<Option<Object<'i, 's>>> {
    list.next_object().map_err(|e| f.bencode(&e))
}

pub(crate) fn dict<'o, 's>(obj: Object<'o, 's>, f: &Field<'_>) -> Result<DictDecoder<'o, 's>> {
    match obj {
        Object::Dict(d) => Ok(d),
        other => Err(f.wrong_type("a dictionary", other.kind_name())),
    }
}

pub(crate) fn list<'o, 's>(obj: Object<'o, 's>, f: &Field<'_>) -> Result<ListDecoder<'o, 's>> {
    match obj {
        Object::List(l) => Ok(l),
        other => Err(f.wrong_type("a list", other.kind_name())),
    }
}

pub(crate) fn bytes<'s>(obj: Object<'_, 's>, f: &Field<'_>) -> Result<&'s [u8]> {
    match obj {
        Object::Bytes(b) => Ok(b),
        other => Err(f.wrong_type("a byte string", other.kind_name())),
    }
}

/// A byte string that must be UTF-8 text.
pub(crate) fn text<'s>(obj: Object<'_, 's>, f: &Field<'_>) -> Result<&'s str> {
    let b = bytes(obj, f)?;
    std::str::from_utf8(b).map_err(|_| f.invalid("not valid UTF-8"))
}

/// A byte string shown to people only (comments and the like): invalid
/// UTF-8 is replaced rather than rejected, as old clients wrote these in
/// local code pages and nothing depends on their exact bytes.
pub(crate) fn lossy_text(obj: Object<'_, '_>, f: &Field<'_>) -> Result<String> {
    Ok(String::from_utf8_lossy(bytes(obj, f)?).into_owned())
}

pub(crate) fn u64_value(obj: Object<'_, '_>, f: &Field<'_>) -> Result<u64> {
    match obj {
        Object::Int(i) => i.to_u64().map_err(|e| match e {
            IntError::Negative => f.invalid(format!("{} is negative", i.as_str())),
            IntError::TooLarge => f.invalid(format!("{} does not fit in 64 bits", i.as_str())),
        }),
        other => Err(f.wrong_type("an integer", other.kind_name())),
    }
}

pub(crate) fn i64_value(obj: Object<'_, '_>, f: &Field<'_>) -> Result<i64> {
    match obj {
        Object::Int(i) => i
            .to_i64()
            .map_err(|_| f.invalid(format!("{} does not fit in 64 bits", i.as_str()))),
        other => Err(f.wrong_type("an integer", other.kind_name())),
    }
}

/// A list of byte strings (a path), at most [`MAX_PATH_DEPTH`] long.
pub(crate) fn raw_path<'s>(obj: Object<'_, 's>, f: &Field<'_>) -> Result<Vec<&'s [u8]>> {
    let mut l = list(obj, f)?;
    let mut out = Vec::new();
    while let Some(item) = next_item(&mut l, f)? {
        let i = out.len();
        if i >= MAX_PATH_DEPTH {
            return Err(f.limit(
                "the number of path components",
                i as u64 + 1,
                MAX_PATH_DEPTH as u64,
            ));
        }
        out.push(bytes(item, &f.index(i))?);
    }
    Ok(out)
}

/// Why a byte string cannot be a path component, or `None` when it can.
///
/// A component must be something every file system accepts as one name
/// *and* something that cannot climb out of the download folder: not empty,
/// not `.` or `..`, no `/`, `\` or NUL (so no absolute paths and no Windows
/// separators), UTF-8, at most [`MAX_COMPONENT_LEN`] bytes.
pub fn component_problem(b: &[u8]) -> Option<String> {
    if b.is_empty() {
        return Some("an empty path component is not allowed".into());
    }
    if b == b"." || b == b".." {
        return Some(format!("\"{}\" is not allowed", b.escape_ascii()));
    }
    for (c, what) in [(b'/', "'/'"), (b'\\', "'\\'"), (0u8, "NUL")] {
        if b.contains(&c) {
            return Some(format!(
                "\"{}\" contains {what}, which is not allowed in a file name",
                b.escape_ascii()
            ));
        }
    }
    if b.len() > MAX_COMPONENT_LEN {
        return Some(format!(
            "a path component of {} bytes is over the limit of {MAX_COMPONENT_LEN}",
            b.len()
        ));
    }
    if std::str::from_utf8(b).is_err() {
        return Some(format!("\"{}\" is not valid UTF-8", b.escape_ascii()));
    }
    None
}

/// Checks one path component, see [`component_problem`].
pub(crate) fn component(b: &[u8], f: &Field<'_>) -> Result<String> {
    if let Some(problem) = component_problem(b) {
        return Err(f.invalid(problem));
    }
    Ok(String::from_utf8_lossy(b).into_owned())
}

/// Checks every component of a path; errors name `field[i]`.
pub(crate) fn components(raw: &[&[u8]], f: &Field<'_>) -> Result<Vec<String>> {
    if raw.is_empty() {
        return Err(f.invalid("a file path needs at least one component"));
    }
    raw.iter()
        .enumerate()
        .map(|(i, b)| component(b, &f.index(i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_wins() {
        let mut seen = Seen::default();
        assert!(seen.first(b"length"));
        assert!(seen.first(b"path"));
        assert!(!seen.first(b"length"));
        assert!(!seen.first(b"path"));
    }

    #[test]
    fn component_rules() {
        assert_eq!(component_problem(b"ok name.txt"), None);
        assert_eq!(component_problem(b"caf\xc3\xa9"), None);
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"/",
            b"a\\b",
            b"a\0",
            b"\xff",
        ] {
            assert!(component_problem(bad).is_some(), "{bad:?}");
        }
        assert!(component_problem(&[b'a'; 255]).is_none());
        assert!(component_problem(&[b'a'; 256]).is_some());
        assert_eq!(
            component_problem(b"..").as_deref(),
            Some("\"..\" is not allowed")
        );
    }
}
