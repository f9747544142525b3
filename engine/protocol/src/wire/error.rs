//! Errors of the wire codec.
//!
//! A decode error means the peer sent something no correct client sends (or
//! something bigger than this engine is willing to buffer). The right reaction
//! is always the same: close that one connection. The fields say exactly what
//! was wrong so the log line is enough to tell a broken client from a limit
//! that is set too low.

use thiserror::Error;

/// What went wrong decoding the peer wire protocol.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    /// The first handshake byte must be 19 (the length of "BitTorrent protocol").
    #[error(
        "handshake starts with protocol-name length {len}, expected 19: the peer is not speaking \
         plain BitTorrent (maybe encrypted/MSE or another protocol); close the connection"
    )]
    HandshakePstrLen {
        /// The byte the peer sent.
        len: u8,
    },
    /// The protocol name is not "BitTorrent protocol".
    #[error(
        "handshake protocol name is not \"BitTorrent protocol\" (differs at byte {offset}): \
         close the connection"
    )]
    HandshakePstr {
        /// Offset within the 19-byte name of the first wrong byte.
        offset: usize,
    },
    /// A length prefix larger than any message this decoder accepts, seen
    /// before even the message id arrived.
    #[error(
        "length prefix {len} exceeds the largest message accepted ({max} bytes): the peer is \
         broken or hostile; close the connection (raise the Limits if it is legitimate)"
    )]
    FrameTooLong {
        /// The length prefix sent.
        len: u32,
        /// The largest length any message kind may have under the current limits.
        max: u32,
    },
    /// A fixed-size message whose length prefix is not exactly its size.
    #[error(
        "message id {id} ({name}) must have length prefix {expected}, got {len}: the peer is \
         broken; close the connection"
    )]
    WrongLength {
        /// Message id.
        id: u8,
        /// Human name of the message kind.
        name: &'static str,
        /// The only valid length prefix for this kind.
        expected: u32,
        /// The length prefix sent.
        len: u32,
    },
    /// A variable-size message shorter than its fixed header.
    #[error(
        "message id {id} ({name}) needs a length prefix of at least {min}, got {len}: the peer \
         is broken; close the connection"
    )]
    TooShort {
        /// Message id.
        id: u8,
        /// Human name of the message kind.
        name: &'static str,
        /// Smallest valid length prefix.
        min: u32,
        /// The length prefix sent.
        len: u32,
    },
    /// A variable-size message longer than the configured bound for its kind.
    #[error(
        "message id {id} ({name}) has length prefix {len}, over the limit {max}: close the \
         connection (raise the matching field of Limits if the peer is legitimate)"
    )]
    TooLong {
        /// Message id.
        id: u8,
        /// Human name of the message kind.
        name: &'static str,
        /// Largest accepted length prefix for this kind.
        max: u32,
        /// The length prefix sent.
        len: u32,
    },
    /// A BEP 52 `hashes` message whose hash list is not a whole number of
    /// 32-byte SHA-256 hashes.
    #[error(
        "hashes message carries {len} bytes of hashes, not a multiple of 32: the peer is \
         broken; close the connection"
    )]
    HashesNotMultipleOf32 {
        /// Bytes after the 48-byte header.
        len: u32,
    },
}

/// What went wrong encoding a message (a bug in the caller, never peer input).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// The body does not fit a 32-bit length prefix.
    #[error(
        "message id {id} has a {len}-byte body, too long for a 32-bit length prefix: split it"
    )]
    TooLong {
        /// Message id.
        id: u8,
        /// Body length in bytes.
        len: usize,
    },
    /// A `hashes` message whose hash list is not whole 32-byte hashes.
    #[error("hashes message with {len} bytes of hashes, not a multiple of 32: pass whole hashes")]
    HashesNotMultipleOf32 {
        /// Length of the hash list.
        len: usize,
    },
}
