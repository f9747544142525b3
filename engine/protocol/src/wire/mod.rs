//! The peer wire protocol: handshake, every message id in use (BEP 3, 5, 6,
//! 10, 52 and the Azureus EXTENDED framing), a streaming decoder and an
//! encoder.
//!
//! Design, in short (each submodule says more):
//! - Pure functions over bytes, no I/O and no state: the session owns the
//!   buffers and the connection state, the codec only reads and writes frames.
//!   That keeps it fuzzable and lets the same code serve every shard.
//! - The decoder borrows ([`Message`] holds slices of the receive buffer) and
//!   reports how many bytes it used; an incomplete message is
//!   [`Decoded::NeedMore`], not an error.
//! - Every length prefix is checked against a per-kind bound ([`Limits`])
//!   before anything else, so nothing a peer announces can make the engine
//!   buffer more than the limits allow, and nothing it sends can panic it.
//! - Ids 20 and 21 mean different things under BEP 10/52 and the Azureus
//!   EXTENDED protocol; the session says which one its handshakes negotiated
//!   ([`ExtensionProtocol`]).
//! - The encoder writes a small stack header and a borrowed body, and
//!   [`piece_header`] exists so that a block from an mmap is never copied into
//!   an encode buffer.
//!
//! ```
//! use seedcore_protocol::wire::{decode, Decoded, Limits, Message};
//!
//! let mut buf = Vec::new();
//! Message::Have { index: 7 }.encode(&mut buf).unwrap();
//! Message::Interested.encode(&mut buf).unwrap();
//! let limits = Limits::default();
//! let Decoded::Message { msg, consumed } = decode(&buf, &limits).unwrap() else { panic!() };
//! assert_eq!((msg, consumed), (Message::Have { index: 7 }, 9));
//! // Half a message: the decoder asks for the rest.
//! assert_eq!(decode(&buf[9..12], &limits).unwrap(), Decoded::NeedMore { needed: 1 });
//! ```

mod decode;
mod error;
mod handshake;
mod message;
mod reserved;

pub use decode::{
    decode, decode_all, Decoded, Limits, DEFAULT_MAX_BLOCK, DEFAULT_MAX_EXTENDED,
    DEFAULT_MAX_HASHES, DEFAULT_MAX_PIECES, DEFAULT_MAX_UNKNOWN,
};
pub use error::{EncodeError, WireError};
pub use handshake::{Handshake, HandshakePrefix, HANDSHAKE_LEN, HANDSHAKE_PREFIX_LEN, PROTOCOL};
pub use message::{
    id, piece_header, split_hashes, BlockRequest, ExtensionProtocol, HashRequest, Message,
    HASH_LEN, HASH_REQUEST_LEN, PIECE_HEADER_LEN,
};
pub use reserved::{Reserved, ReservedBit};

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod encode_tests;
