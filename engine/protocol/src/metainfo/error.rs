//! Parse errors that name the offending field.
//!
//! A user handed "invalid torrent" cannot do anything with it; one handed
//! `info.files[3].path[1]: ".." is not allowed` knows which tool made a bad
//! file and what to report. Field paths are built lazily from a chain of
//! stack frames ([`Field`]) so the happy path allocates nothing for them.

use std::fmt::{self, Write as _};

use crate::bencode::BencodeError;

/// Why a .torrent (or info dictionary) was rejected. Every variant but
/// [`MetainfoError::TooLarge`] names the field, in the form
/// `info.files[3].path[1]` or `info.file tree["dir"]["a.txt"][""].length`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetainfoError {
    /// The input is over [`super::limits::MAX_TORRENT_SIZE`].
    #[error(
        "the torrent is {len} bytes, over the {max}-byte limit; \
         real .torrent files are far smaller, so this is not one"
    )]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not valid bencode (see [`crate::bencode`] for what the
    /// reader accepts).
    #[error("{field}: not valid bencode ({reason}); the file is damaged or not a .torrent")]
    Bencode {
        /// The innermost field being read.
        field: String,
        /// What the decoder found.
        reason: String,
    },
    /// A required key is absent.
    #[error("{field}: missing; {hint}")]
    Missing {
        /// The missing field.
        field: String,
        /// What the field is for / what was expected instead.
        hint: &'static str,
    },
    /// A value has the wrong bencode type.
    #[error("{field}: expected {expected}, found {found}")]
    WrongType {
        /// The field.
        field: String,
        /// The type the format requires.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A value is over one of the bounds in [`super::limits`].
    #[error("{field}: {what} is {value}, over the limit of {limit}")]
    Limit {
        /// The field.
        field: String,
        /// What was counted.
        what: &'static str,
        /// The value found (or the count reached when counting stopped).
        value: u64,
        /// The bound.
        limit: u64,
    },
    /// A value is well-typed but wrong.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MetainfoError {
    /// The offending field, e.g. `info.files[3].path[1]`; `None` for
    /// [`MetainfoError::TooLarge`].
    pub fn field(&self) -> Option<&str> {
        match self {
            MetainfoError::TooLarge { .. } => None,
            MetainfoError::Bencode { field, .. }
            | MetainfoError::Missing { field, .. }
            | MetainfoError::WrongType { field, .. }
            | MetainfoError::Limit { field, .. }
            | MetainfoError::Invalid { field, .. } => Some(field),
        }
    }
}

/// A field's position, as a chain of borrowed frames rendered only on error.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field<'a> {
    /// The whole document.
    Root,
    /// `parent.key`.
    Key(&'a Field<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Field<'a>, usize),
    /// `parent["raw key"]`, for file tree and piece layer keys (bytes that
    /// may not be text; shown escaped).
    Raw(&'a Field<'a>, &'a [u8]),
    /// `parent[hex]`, for binary keys (piece layer roots).
    Hex(&'a Field<'a>, &'a [u8]),
}

impl<'a> Field<'a> {
    pub(crate) fn key(&'a self, key: &'a str) -> Field<'a> {
        Field::Key(self, key)
    }

    pub(crate) fn index(&'a self, i: usize) -> Field<'a> {
        Field::Index(self, i)
    }

    pub(crate) fn raw(&'a self, key: &'a [u8]) -> Field<'a> {
        Field::Raw(self, key)
    }

    pub(crate) fn hex(&'a self, key: &'a [u8]) -> Field<'a> {
        Field::Hex(self, key)
    }

    fn write(&self, out: &mut String) {
        match self {
            Field::Root => {}
            Field::Key(parent, key) => {
                parent.write(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Field::Index(parent, i) => {
                parent.write(out);
                let _ = write!(out, "[{i}]");
            }
            Field::Raw(parent, key) => {
                parent.write(out);
                let _ = write!(out, "[\"{}\"]", key.escape_ascii());
            }
            Field::Hex(parent, key) => {
                parent.write(out);
                let _ = write!(out, "[{}]", hex::encode(key));
            }
        }
    }

    /// The rendered path (`(top level)` for the root).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        if out.is_empty() {
            out.push_str("(top level)");
        }
        out
    }

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> MetainfoError {
        MetainfoError::Invalid {
            field: self.render(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(&self, hint: &'static str) -> MetainfoError {
        MetainfoError::Missing {
            field: self.render(),
            hint,
        }
    }

    pub(crate) fn wrong_type(&self, expected: &'static str, found: &'static str) -> MetainfoError {
        MetainfoError::WrongType {
            field: self.render(),
            expected,
            found,
        }
    }

    pub(crate) fn limit(&self, what: &'static str, value: u64, limit: u64) -> MetainfoError {
        MetainfoError::Limit {
            field: self.render(),
            what,
            value,
            limit,
        }
    }

    pub(crate) fn bencode(&self, err: &BencodeError) -> MetainfoError {
        MetainfoError::Bencode {
            field: self.render(),
            reason: err.to_string(),
        }
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_paths() {
        let root = Field::Root;
        let info = root.key("info");
        let files = info.key("files");
        let f3 = files.index(3);
        let path = f3.key("path");
        let p1 = path.index(1);
        assert_eq!(p1.render(), "info.files[3].path[1]");
        let tree = info.key("file tree");
        let dir = tree.raw(b"d\"ir");
        let leaf = dir.raw(b"");
        assert_eq!(
            leaf.key("length").render(),
            "info.file tree[\"d\\\"ir\"][\"\"].length"
        );
        assert_eq!(root.render(), "(top level)");
    }
}
