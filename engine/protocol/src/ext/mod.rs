//! Extension messages: what travels inside `extended` (BEP 10, id 20) and the
//! Azureus EXTENDED framing.
//!
//! - [`ExtendedHandshake`]: the BEP 10 handshake dictionary (`m`, `p`, `v`,
//!   `yourip`, `ipv4`, `ipv6`, `reqq`, `e`, `metadata_size`, `upload_only`).
//! - [`UtMetadata`] (BEP 9), [`UtPex`] (BEP 11), [`LtMetadata`] and
//!   [`LtDontHave`] (libtorrent's own), [`AzureusExtendedList`].
//!
//! Why it is built this way:
//! - The wire layer has already bounded the payload (`Limits::max_extended`),
//!   and each decoder bounds again what it allocates from it: bencode depth
//!   and length ([`bencode::Limits::EXTENSION`](crate::bencode::Limits::EXTENSION)), entries in `m`, peers per PEX list,
//!   bytes per metadata block.
//! - Bencode is read by the crate's one reader ([`crate::bencode`]), which
//!   allocates nothing: unsorted and unknown keys are accepted (libtorrent
//!   does the same; the Azureus spec's own example is unsorted) and a repeated
//!   key's first value wins. Known keys of the wrong type read as absent, but
//!   broken bencode or a compact peer list with a partial entry is an error.
//! - Encoding builds a [`bencode::OwnedValue`](crate::bencode::OwnedValue), whose dictionaries are always in
//!   canonical (sorted) order, so every client accepts what we send.
//!
//! The extended ids are per peer: the id to *send* a message under is the one
//! the *peer* put in its handshake's `m` ([`ExtendedHandshake::id_of`]).
//!
//! ```
//! use seedcore_protocol::ext::{names, ExtendedHandshake};
//!
//! let theirs = ExtendedHandshake::decode(
//!     b"d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v12:uTorrent 1.2e",
//! ).unwrap();
//! assert_eq!(theirs.id_of(names::UT_PEX), Some(2));
//! assert_eq!(theirs.v.as_deref(), Some("uTorrent 1.2"));
//! ```

pub mod azureus;
mod error;
mod handshake;
mod lt_donthave;
mod lt_metadata;
mod ut_metadata;
mod ut_pex;

pub use azureus::AzureusExtendedList;
pub use error::ExtError;
pub use handshake::{ExtendedHandshake, MAX_CLIENT_NAME, MAX_M_ENTRIES};
pub use lt_donthave::LtDontHave;
pub use lt_metadata::{LtMetadata, MAX_BLOCK as LT_METADATA_MAX_BLOCK};
pub use ut_metadata::{msg_type, UtMetadata, METADATA_PIECE_SIZE};
pub use ut_pex::{PexFlags, UtPex, DEFAULT_MAX_PEERS};

use crate::bencode::Limits;

/// Bounds on the bencode of one extension message.
const LIMITS: Limits = Limits::EXTENSION;

/// Runs `encode` into a new vector: the body of every message's `to_vec`.
fn collect(encode: impl FnOnce(&mut Vec<u8>) -> Result<(), ExtError>) -> Result<Vec<u8>, ExtError> {
    let mut out = Vec::new();
    encode(&mut out)?;
    Ok(out)
}

/// The extended id of the BEP 10 handshake itself.
pub const HANDSHAKE_ID: u8 = 0;

/// Extension names as they appear in the `m` dictionary.
pub mod names {
    /// BEP 9 metadata exchange.
    pub const UT_METADATA: &str = "ut_metadata";
    /// BEP 11 peer exchange.
    pub const UT_PEX: &str = "ut_pex";
    /// libtorrent's old metadata exchange.
    pub const LT_METADATA: &str = "LT_metadata";
    /// libtorrent's "don't have".
    pub const LT_DONTHAVE: &str = "lt_donthave";
}
