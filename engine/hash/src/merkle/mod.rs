//! BEP 52 merkle trees: the SHA-256 hash trees of v2 torrents.
//!
//! Each file has its own binary tree. The leaves are the SHA-256 of the
//! file's 16 KiB blocks (the last block may be short), and the leaf layer is
//! padded with zero hashes (`[0; 32]`) to a power of two, so the tree is
//! complete. An inner node is the SHA-256 of its two children concatenated.
//! The root is the file's `pieces root`.
//!
//! The *piece layer* is the layer where one node covers `piece length`
//! bytes, `log2(piece_length / 16 KiB)` layers above the leaves; torrents
//! carry it in `piece layers` for every file larger than one piece. Nodes
//! past the end of the file are hashes of all-zero subtrees ([`pad_hash`]),
//! which is why the root can be rebuilt from the piece layer alone
//! ([`root_from_piece_layer`]).
//!
//! A file of at most one piece has no piece layer in the torrent: its one
//! piece is checked against the pieces root itself, whose tree may be smaller
//! than a piece. [`piece_layer`] therefore returns `[root]` for such files,
//! which keeps `root_from_piece_layer(piece_layer(l, p), p) == root(l)` true
//! for every file.
//!
//! [`MerkleTree`] keeps a whole tree above a known layer to answer the
//! `hash request` messages of BEP 52 (requested hashes plus uncle hashes up
//! to the root).
//!
//! Piece lengths are powers of two of at least 16 KiB (BEP 52); the metainfo
//! parser enforces that. Functions here that take a piece length round any
//! other value up to the next such power instead of failing.

mod tree;

#[cfg(test)]
mod tests;

pub use tree::{HashRequest, HashRequestError, MerkleError, MerkleTree, MAX_HASH_REQUEST_LENGTH};

use std::sync::OnceLock;

use crate::{sha256, Sha256, Sha256Digest};

/// Size of a leaf block in bytes (16 KiB).
pub const BLOCK_SIZE: usize = 16384;

/// The hash of a missing leaf (past the end of the file): all zeros.
pub const ZERO_HASH: Sha256Digest = [0; 32];

/// SHA-256 of each 16 KiB block of a file (the last one may be short):
/// the leaf layer. Empty for an empty file.
pub fn block_hashes(file_data: &[u8]) -> Vec<Sha256Digest> {
    file_data.chunks(BLOCK_SIZE).map(sha256).collect()
}

/// An inner node: SHA-256 of the two children concatenated.
pub fn hash_pair(left: &Sha256Digest, right: &Sha256Digest) -> Sha256Digest {
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    h.finalize()
}

/// The root of a subtree of `2^height` all-zero leaves: what stands in for
/// nodes past the end of a file at that height. `pad_hash(0)` is
/// [`ZERO_HASH`]. Heights above 64 are treated as 64.
pub fn pad_hash(height: u32) -> Sha256Digest {
    static PADS: OnceLock<[Sha256Digest; 65]> = OnceLock::new();
    let pads = PADS.get_or_init(|| {
        let mut pads = [ZERO_HASH; 65];
        for i in 1..pads.len() {
            pads[i] = hash_pair(&pads[i - 1], &pads[i - 1]);
        }
        pads
    });
    let index = usize::try_from(height.min(64)).unwrap_or(64);
    pads.get(index).copied().unwrap_or(ZERO_HASH)
}

/// The merkle root of a leaf layer, padded with zero hashes to the next
/// power of two. A single leaf is its own root. `[0; 32]` for no leaves
/// (an empty file has no pieces root).
pub fn root(leaves: &[Sha256Digest]) -> Sha256Digest {
    root_of_layer(leaves, 0)
}

/// How many layers the piece layer sits above the leaves:
/// `log2(piece_length / 16 KiB)`, with `piece_length` rounded up to a power
/// of two of at least 16 KiB.
pub fn piece_layer_height(piece_length: u64) -> u32 {
    let normalized = piece_length
        .max(BLOCK_SIZE as u64)
        .checked_next_power_of_two()
        .unwrap_or(1 << 63);
    normalized.trailing_zeros() - BLOCK_SIZE.trailing_zeros()
}

/// Leaves per piece: `piece_length / 16 KiB` (normalized as in
/// [`piece_layer_height`]), saturating at `usize::MAX` on small targets.
pub fn blocks_per_piece(piece_length: u64) -> usize {
    usize::try_from(1u64 << piece_layer_height(piece_length)).unwrap_or(usize::MAX)
}

/// The piece-layer hash of one piece of a file with more than one piece:
/// the root of the subtree of `piece_length / 16 KiB` leaves, where the
/// leaves past `piece_leaves` (the end of the file, in the last piece) are
/// zero hashes. At most [`blocks_per_piece`] leaves are used; extra ones are
/// ignored.
///
/// For a file of at most one piece, check the piece against [`root`] of its
/// leaves instead (the pieces root); see the module docs.
pub fn piece_root(piece_leaves: &[Sha256Digest], piece_length: u64) -> Sha256Digest {
    let height = piece_layer_height(piece_length);
    let leaves = piece_leaves
        .get(..blocks_per_piece(piece_length))
        .unwrap_or(piece_leaves);
    debug_assert_eq!(
        leaves.len(),
        piece_leaves.len(),
        "more leaves than a piece holds"
    );
    if leaves.is_empty() {
        return pad_hash(height);
    }
    let mut layer = leaves.to_vec();
    for h in 0..height {
        layer = reduce(&layer, h);
    }
    layer.first().copied().unwrap_or(ZERO_HASH)
}

/// The piece layer of a file from its leaves: one hash per piece (see
/// [`piece_root`]). For a file of at most one piece this is `[root(leaves)]`,
/// the pieces root; empty for an empty file.
pub fn piece_layer(leaves: &[Sha256Digest], piece_length: u64) -> Vec<Sha256Digest> {
    let per_piece = blocks_per_piece(piece_length);
    if leaves.len() <= per_piece {
        return if leaves.is_empty() {
            Vec::new()
        } else {
            vec![root(leaves)]
        };
    }
    leaves
        .chunks(per_piece)
        .map(|piece| piece_root(piece, piece_length))
        .collect()
}

/// The pieces root rebuilt from a piece layer, padding it with the hash of
/// an all-zero subtree of one piece ([`pad_hash`] at the piece height) to a
/// power of two. A single hash is returned as is (a file of at most one
/// piece: it *is* the root); `[0; 32]` for an empty layer.
pub fn root_from_piece_layer(layer: &[Sha256Digest], piece_length: u64) -> Sha256Digest {
    root_of_layer(layer, piece_layer_height(piece_length))
}

/// Root of a layer sitting `height` layers above the leaves, padded with
/// [`pad_hash`]`(height)` to a power of two.
fn root_of_layer(layer: &[Sha256Digest], mut height: u32) -> Sha256Digest {
    let mut current = layer.to_vec();
    while current.len() > 1 {
        current = reduce(&current, height);
        height += 1;
    }
    current.first().copied().unwrap_or(ZERO_HASH)
}

/// One layer up: pairs of nodes at `height` hashed together, an odd last
/// node paired with the pad hash of that height.
fn reduce(layer: &[Sha256Digest], height: u32) -> Vec<Sha256Digest> {
    let pad = pad_hash(height);
    layer
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => hash_pair(l, r),
            [l] => hash_pair(l, &pad),
            _ => pad, // chunks(2) yields one or two nodes; never reached
        })
        .collect()
}
