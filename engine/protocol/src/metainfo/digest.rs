//! Hashing used by the parser: info-hashes and v2 piece-layer roots, all
//! from `seedcore-hash` (hardware SHA-1 where the CPU has it).

pub(crate) use seedcore_hash::merkle::root_from_piece_layer;
pub(crate) use seedcore_hash::{sha1, sha256};
