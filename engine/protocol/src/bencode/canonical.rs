//! The canonical-form check BEP 52 torrents must pass.
//!
//! The reader accepts what clients accept: keys in any order, repeated keys,
//! leading zeros. A v2 (or hybrid) info dictionary is held to more:
//! libtorrent (2.0.8) refuses one with any of the "soft errors" its decoder
//! notes (`bdecode_node::has_soft_error`, checked when `meta version` is
//! present), and the v2 file order *is* the file tree's key order, so an
//! unsorted tree would mean different files to different readers. This is
//! the same check, to load exactly what libtorrent loads:
//! - keys in strictly increasing byte order (so no key twice), at every level;
//! - no leading zero in a non-negative integer (`i05e`) or a string length
//!   (`05:hello`). Negative integers are not checked (`i-0e` passes), as in
//!   libtorrent.

use super::decoder::{Decoder, Object};
use super::error::BencodeError;
use super::Limits;

/// Checks that the one value at the start of `raw` is canonical (see the
/// module docs); bytes after it are ignored. Malformed input fails as it
/// does in [`super::read`].
pub fn check_canonical(raw: &[u8], limits: Limits) -> Result<(), BencodeError> {
    let mut dec = Decoder::new(raw, limits)?.strict();
    match dec.next_object()? {
        Some(obj) => walk(obj),
        None => Err(BencodeError::Truncated { at: 0 }),
    }
}

/// Reads every token below `obj`: skipping would bypass the key-order check,
/// which lives in the dictionary reader. Recursion is bounded by the
/// decoder's depth limit.
fn walk(obj: Object<'_, '_>) -> Result<(), BencodeError> {
    match obj {
        Object::List(mut l) => {
            while let Some(item) = l.next_object()? {
                walk(item)?;
            }
        }
        Object::Dict(mut d) => {
            while let Some((_, value)) = d.next_pair()? {
                walk(value)?;
            }
        }
        Object::Int(_) | Object::Bytes(_) => {}
    }
    Ok(())
}
