//! Extension answers that cost more than the request: `ut_metadata` and
//! `LT_metadata` pieces of the info dictionary, BEP 52 hash proofs.
//!
//! # Why they wait in a queue
//!
//! A 40-byte request can ask for a 16 KiB metadata piece (or 256 KiB with
//! `LT_metadata`, or 16 KiB of hashes that take a proof to compute). If
//! every answer were encoded as its request arrives, one 61 KiB burst would
//! make the session build gigabytes before anything could look at a limit.
//! So a request is only *accepted* here: checked, counted against the
//! peer's byte budget at its answer's wire size, and queued (a few bytes).
//! The answer is built when the runtime asks for output, that is when the
//! peer's socket has room, one at a time; metadata is a shared slice of the
//! info dictionary (`Transmit::Bytes`'s `body`), never a copy.

use super::hashes::answer_hash_request;
use super::peer::PeerSession;
use super::{Bytes, TorrentContext, Transmit};
use crate::ext::{LtMetadata, UtMetadata, METADATA_PIECE_SIZE};
use crate::wire::{id, HashRequest};

/// Most extension answers waiting per peer (besides the byte budget);
/// BitTorrent clients keep a few metadata or hash requests out at once
/// (Transmission serves at most 64 queued metadata requests itself).
pub(crate) const MAX_PENDING_ANSWERS: usize = 64;

/// Bytes of a `ut_metadata` data message besides the data: length prefix,
/// ids and the bencoded dictionary with two ten-digit integers.
pub(crate) const UT_METADATA_OVERHEAD: usize = 72;

/// Bytes of an `LT_metadata` data message besides the data.
pub(crate) const LT_METADATA_OVERHEAD: usize = 15;

/// A request whose answer is built later.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ExtRequest {
    /// `ut_metadata` piece `piece`, to send with extended id `id`.
    UtMetadata { id: u8, piece: u32 },
    /// `LT_metadata` bytes `from..to`, to send with extended id `id`.
    LtMetadata { id: u8, from: usize, to: usize },
    /// A BEP 52 `hash request`, already checked for its file and length.
    Hashes(HashRequest),
}

/// An accepted request and what it was counted at in the byte budget.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingAnswer {
    request: ExtRequest,
    cost: usize,
}

/// The frame of an extended message whose payload is `head` followed by
/// `body_len` more bytes: length prefix, id 20, the extended id, `head`.
fn extended_head(ext_id: u8, head: &[u8], body_len: usize) -> Option<Vec<u8>> {
    let frame = u32::try_from(2usize.checked_add(head.len())?.checked_add(body_len)?).ok()?;
    let mut out = Vec::with_capacity(6 + head.len());
    out.extend_from_slice(&frame.to_be_bytes());
    out.push(id::EXTENDED);
    out.push(ext_id);
    out.extend_from_slice(head);
    Some(out)
}

impl PeerSession {
    /// Accepts `request` if its answer (`cost` bytes on the wire) fits the
    /// peer's byte budget and the queue has room. `false`: refuse it.
    pub(crate) fn defer_answer(&mut self, request: ExtRequest, cost: usize) -> bool {
        if self.answers.len() >= MAX_PENDING_ANSWERS || !self.fits_accepted(cost) {
            return false;
        }
        self.promised = self.promised.saturating_add(cost);
        self.answers.push_back(PendingAnswer { request, cost });
        true
    }

    /// Builds the oldest accepted answer (`None` when there is none).
    pub(crate) fn next_answer(&mut self, ctx: &TorrentContext) -> Option<Transmit> {
        let PendingAnswer { request, cost } = self.answers.pop_front()?;
        self.promised = self.promised.saturating_sub(cost);
        if self.answers.is_empty() && self.answers.capacity() > 0 {
            self.answers = Default::default();
        }
        let (head, body) = match request {
            ExtRequest::UtMetadata { id, piece } => {
                let start = (piece as usize).saturating_mul(METADATA_PIECE_SIZE);
                let end = start
                    .saturating_add(METADATA_PIECE_SIZE)
                    .min(ctx.info_bytes().len());
                match ctx.info_slice(start, end).filter(|s| !s.is_empty()) {
                    Some(body) => {
                        let dict = UtMetadata::Data {
                            piece,
                            total_size: ctx.metadata_size(),
                            data: &[],
                        }
                        .to_vec()
                        .ok()?;
                        (extended_head(id, &dict, body.len())?, body)
                    }
                    None => {
                        let reject = UtMetadata::Reject { piece }.to_vec().ok()?;
                        (extended_head(id, &reject, 0)?, Bytes::new())
                    }
                }
            }
            ExtRequest::LtMetadata { id, from, to } => match ctx.info_slice(from, to) {
                Some(body) => {
                    let mut head = Vec::with_capacity(9);
                    LtMetadata::Metadata {
                        total_size: ctx.metadata_size(),
                        offset: u32::try_from(from).ok()?,
                        data: &[],
                    }
                    .encode(&mut head)
                    .ok()?;
                    (extended_head(id, &head, body.len())?, body)
                }
                None => (extended_head(id, &[2], 0)?, Bytes::new()),
            },
            ExtRequest::Hashes(req) => (answer_hash_request(ctx, &req), Bytes::new()),
        };
        Some(Transmit::Bytes {
            head: Bytes::from(head),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overheads_cover_the_largest_headers() {
        let dict = UtMetadata::Data {
            piece: u32::MAX,
            total_size: u32::MAX,
            data: &[],
        }
        .to_vec()
        .unwrap_or_default();
        let head = extended_head(255, &dict, 16384).unwrap_or_default();
        assert!(head.len() <= UT_METADATA_OVERHEAD, "{}", head.len());
        let mut lt = Vec::new();
        LtMetadata::Metadata {
            total_size: i32::MAX as u32,
            offset: i32::MAX as u32,
            data: &[],
        }
        .encode(&mut lt)
        .unwrap_or_default();
        let head = extended_head(255, &lt, 1).unwrap_or_default();
        assert!(head.len() <= LT_METADATA_OVERHEAD, "{}", head.len());
        // The frame length counts the body that follows.
        assert_eq!(head.get(..4), Some(&(2 + 9 + 1u32).to_be_bytes()[..]));
    }
}
