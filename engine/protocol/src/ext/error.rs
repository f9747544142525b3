//! Errors of the extension message codecs.

use thiserror::Error;

use crate::bencode::BencodeError;

/// What went wrong decoding (or, for `Encode`, encoding) an extension message.
///
/// A decode error concerns one extension message from one peer. The session
/// decides what it costs: ignoring the message is usually right for optional
/// extensions (PEX, metadata), closing the connection for repeated garbage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtError {
    /// The payload is not valid bencode.
    #[error("{msg}: malformed bencode: {source}")]
    Bencode {
        /// Which message was being decoded.
        msg: &'static str,
        /// The bencode problem.
        source: BencodeError,
    },
    /// A required key is missing or has the wrong type.
    #[error("{msg}: required key `{field}` is missing or not {expected}")]
    MissingField {
        /// Which message.
        msg: &'static str,
        /// The key.
        field: &'static str,
        /// What type it must have.
        expected: &'static str,
    },
    /// An integer outside the range the field allows.
    #[error("{msg}: `{field}` = {value} is out of range")]
    OutOfRange {
        /// Which message.
        msg: &'static str,
        /// The field.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// A compact string whose length is not a whole number of entries.
    #[error("{msg}: `{field}` is {len} bytes, not a multiple of {unit}")]
    BadLength {
        /// Which message.
        msg: &'static str,
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The entry size.
        unit: usize,
    },
    /// More entries than this engine accepts in one message.
    #[error("{msg}: `{field}` has {count} entries, more than the limit {max}; ignore the message")]
    TooMany {
        /// Which message.
        msg: &'static str,
        /// The field.
        field: &'static str,
        /// Entries sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A payload longer than this message kind allows.
    #[error("{msg}: payload of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Which message.
        msg: &'static str,
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A payload shorter than the message's fixed layout.
    #[error("{msg}: payload of {len} bytes, expected {expected}")]
    WrongSize {
        /// Which message.
        msg: &'static str,
        /// Payload length.
        len: usize,
        /// What the layout needs.
        expected: usize,
    },
    /// A `msg_type` this codec does not know. BEP 9 says to ignore such
    /// messages, so the session should drop it and keep the connection.
    #[error("{msg}: unknown msg_type {msg_type}; ignore the message")]
    UnknownType {
        /// Which message.
        msg: &'static str,
        /// The type sent.
        msg_type: i64,
    },
    /// Encoding failed: a value this side built does not fit the message
    /// (an `LT_metadata` size out of range; a bug in the caller, never peer
    /// input). Bencoded messages cannot fail to encode.
    #[error("{msg}: cannot encode: {reason}")]
    Encode {
        /// Which message.
        msg: &'static str,
        /// Why.
        reason: String,
    },
}

impl ExtError {
    pub(crate) fn bencode(msg: &'static str) -> impl FnOnce(BencodeError) -> ExtError {
        move |source| ExtError::Bencode { msg, source }
    }
}
