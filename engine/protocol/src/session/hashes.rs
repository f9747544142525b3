//! BEP 52 `hash request`: answered from the torrent's piece layers with the
//! uncle hashes of a proof (via `seedcore_hash::merkle::MerkleTree`), or with
//! `hash reject`.
//!
//! Requests are checked and counted against the peer's byte budget when
//! they arrive (`input.rs`); the answer is computed here only when the
//! socket has room for it (`answers.rs`).
//!
//! A seed knows every file's tree from its piece layer up, so requests at or
//! above the piece layer are answered from memory. Requests below it (leaf
//! hashes) would need the data hashed on demand; they are rejected, which
//! BEP 52 allows ("a peer MAY reject hash requests") and which costs the
//! requester only a fallback to piece-level verification.

use seedcore_hash::merkle;

use super::TorrentContext;
use crate::wire::{HashRequest, Message};

/// Most hashes answered in one request; BEP 52 lets a peer reject more
/// than 512.
pub(crate) const MAX_HASHES_ANSWERED: u32 = 512;

/// The encoded `hashes` or `hash reject` answering `req`.
pub(crate) fn answer_hash_request(ctx: &TorrentContext, req: &HashRequest) -> Vec<u8> {
    // BEP 52: `length` is a power of two (and we answer at most 512).
    let hashes =
        (req.length >= 2 && req.length.is_power_of_two() && req.length <= MAX_HASHES_ANSWERED)
            .then(|| ctx.v2_file(&req.pieces_root))
            .flatten()
            .and_then(|file| {
                file.tree
                    .hashes(&merkle::HashRequest {
                        base_layer: req.base_layer,
                        index: req.index,
                        length: req.length,
                        proof_layers: req.proof_layers,
                    })
                    .ok()
            });
    let mut out = Vec::new();
    let encoded = match hashes {
        Some(hashes) => {
            let flat: Vec<u8> = hashes.iter().flatten().copied().collect();
            Message::Hashes {
                request: *req,
                hashes: &flat,
            }
            .encode(&mut out)
        }
        None => Message::HashReject(*req).encode(&mut out),
    };
    if encoded.is_err() {
        out.clear();
        let _ = Message::HashReject(*req).encode(&mut out);
    }
    out
}
