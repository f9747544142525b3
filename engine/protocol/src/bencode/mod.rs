//! Bencode (BEP 3): the crate's one reader and one writer.
//!
//! Everything bencoded this crate reads (.torrent files, info dictionaries
//! fetched over ut_metadata, extension messages) goes through one reader,
//! so one set of rules decides what is bencode. The rules are those of the
//! clients a seed must interoperate with, checked against libtorrent 2.0.8,
//! Transmission 3.00 and aria2 1.36:
//! - **Key order is not checked.** BEP 3 asks writers to sort keys, but
//!   libtorrent loads .torrent files whose keys are not sorted (and the
//!   Azureus messaging spec's own example is unsorted), so a seed must too.
//!   Bytes are never re-encoded, so this cannot change an info-hash: that
//!   is computed over the info dictionary's exact bytes
//!   ([`DictDecoder::into_raw`]), as libtorrent and BEP 9 do.
//! - **Repeated keys are kept in input order; the first one wins.** That is
//!   what libtorrent's and Transmission's lookups return (aria2 crashes);
//!   [`Dict::get`] and the metainfo parser do the same, later repeats are
//!   skipped unread.
//! - **Integers are `-`? and 1 to 20 digits.** Leading zeros and `-0` are
//!   accepted, as by libtorrent and aria2: the value is unambiguous and the
//!   bytes are never re-encoded. More than 20 digits is an error, as in
//!   libtorrent. An integer is kept as its text ([`Int`]) and converted
//!   where it is used, so a field that needs a `u64` can say so by name.
//! - **String lengths** are at most 20 digits; leading zeros are accepted.
//! - Canonical form is required only where it matters:
//!   [`check_canonical`] holds a v2 or hybrid info dictionary to the same
//!   checks libtorrent applies to it (sorted, unique keys; no leading zeros).
//!
//! Every read is bounded: input length and nesting depth by [`Limits`],
//! each number by [`MAX_DIGITS`], and nothing is allocated while reading.
//! Two ways in, over the same token reader:
//! - [`Decoder`]: streaming, one forward pass however deep the data; the
//!   metainfo parser walks .torrent files with it.
//! - [`read`] / [`read_dict`]: a validated [`Value`] for random access by
//!   key, for small messages (the extension codecs).
//!
//! Writing goes through [`OwnedValue`], whose dictionaries cannot be out of
//! order, so everything this crate writes is canonical.

mod canonical;
mod decoder;
mod error;
mod value;
mod write;

#[cfg(test)]
mod tests;

pub use canonical::check_canonical;
pub use decoder::{Decoder, DictDecoder, Int, ListDecoder, Object, MAX_DIGITS};
pub use error::{BencodeError, IntError};
pub use value::{
    read, read_dict, read_dict_prefix, read_prefix, Dict, DictIter, List, ListIter, Value,
};
pub use write::OwnedValue;

/// Bounds on one read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest input accepted, in bytes (checked before anything is read).
    pub max_len: usize,
    /// Most lists and dictionaries open at once; at most
    /// [`Limits::DEPTH_CAP`] (a larger value is treated as the cap).
    pub max_depth: usize,
}

impl Limits {
    /// Hard cap on nesting depth: the decoder tracks open containers in a
    /// 128-bit word so that it never allocates.
    pub const DEPTH_CAP: usize = 128;

    /// Extension messages: 1 MiB (the default bound on an extended message,
    /// `wire::DEFAULT_MAX_EXTENDED`) and 32 levels (the messages need 2;
    /// the rest is room for whatever a client puts under keys we ignore).
    pub const EXTENSION: Limits = Limits {
        max_len: 1024 * 1024,
        max_depth: 32,
    };
}

const INT: &str = "an integer";
const BYTES: &str = "a byte string";
const LIST: &str = "a list";
const DICT: &str = "a dictionary";
