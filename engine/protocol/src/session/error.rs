//! Why a session closed.
//!
//! Every variant closes one connection and nothing else. Most mean the peer
//! broke the protocol or a bound ([`SessionError::is_misbehaviour`]); the
//! rest are timeouts and housekeeping. The messages say what happened and,
//! where it helps, which setting governs it.

use std::time::Duration;

use thiserror::Error;

use crate::ext::ExtError;
use crate::geometry::BlockError;
use crate::wire::WireError;

/// Why a [`super::PeerSession`] closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The byte stream is not valid peer wire protocol, or a message is over
    /// a bound.
    #[error("peer wire protocol error: {0}")]
    Wire(#[from] WireError),
    /// The handshake names a torrent this engine does not seed. Nothing was
    /// sent back.
    #[error("peer asked for info-hash {} which is not seeded here; closed without answering", hex::encode(.info_hash))]
    UnknownTorrent {
        /// The info-hash from the peer's handshake.
        info_hash: [u8; 20],
    },
    /// On an outgoing connection, the peer answered for another torrent.
    #[error("peer answered with info-hash {} but we connected for another torrent", hex::encode(.info_hash))]
    InfoHashMismatch {
        /// The info-hash the peer sent.
        info_hash: [u8; 20],
    },
    /// The torrent was removed while the connection was open.
    #[error("the torrent was removed from this engine")]
    TorrentRemoved,
    /// The peer's handshake carries our own peer id: we connected to ourselves.
    #[error("connected to ourselves (the peer id is ours)")]
    ConnectedToSelf,
    /// No complete handshake within `SessionConfig::handshake_timeout`.
    #[error("no handshake from the peer within {0:?} (SessionConfig::handshake_timeout)")]
    HandshakeTimeout(Duration),
    /// A message longer than `SLOW_FRAME_MIN` was still incomplete
    /// `SessionConfig::slow_frame_timeout` after it began (a peer that
    /// dribbles a large message in to hold our memory).
    #[error(
        "a {len}-byte message was still incomplete after {waited:?} \
         (SessionConfig::slow_frame_timeout)"
    )]
    SlowFrame {
        /// The message's length, prefix included.
        len: usize,
        /// How long it had been arriving.
        waited: Duration,
    },
    /// Nothing arrived from the peer within `SessionConfig::idle_timeout`.
    #[error("nothing received from the peer for {0:?} (SessionConfig::idle_timeout)")]
    IdleTimeout(Duration),
    /// The peer stopped reading: it took no bytes for
    /// `SessionConfig::send_stall_timeout` while bytes for it waited (in
    /// the runtime, or unacknowledged in its socket).
    #[error(
        "the peer stopped reading: {pending} bytes for it not taken for {stalled:?} \
         (SessionConfig::send_stall_timeout)"
    )]
    SendStalled {
        /// How long no progress was seen.
        stalled: Duration,
        /// Bytes waiting: handed out and not written, or in the socket.
        pending: u64,
    },
    /// A message for the peer did not fit its byte budget
    /// (`SessionConfig::peer_budget`): the peer makes us answer, or queue,
    /// more than it takes from the socket.
    #[error(
        "a {needed}-byte message does not fit the peer's byte budget: {held} of {budget} bytes \
         already held or owed for a peer that does not read (SessionConfig::peer_budget)"
    )]
    OverBudget {
        /// Bytes the message needed.
        needed: usize,
        /// Bytes already held for the peer (queued output, promised answers,
        /// queued requests).
        held: usize,
        /// The budget.
        budget: usize,
    },
    /// The peer's BEP 10 handshake is not a bencoded dictionary.
    #[error("bad extended handshake: {0}")]
    ExtendedHandshake(ExtError),
    /// Too many undecodable extension messages.
    #[error(
        "{count} undecodable extension messages, last: {last} \
         (SessionConfig::max_bad_extension_messages)"
    )]
    BadExtensionMessages {
        /// How many.
        count: u32,
        /// The last problem.
        last: ExtError,
    },
    /// A message that needs an extension the handshakes did not negotiate
    /// (BEP 6 messages without the Fast bit, `extended` without LTEP).
    #[error("peer sent `{message}` but did not negotiate {extension}")]
    NotNegotiated {
        /// The message.
        message: &'static str,
        /// The extension it belongs to.
        extension: &'static str,
    },
    /// A `bitfield` of the wrong length for this torrent.
    #[error("bitfield of {len} bytes, expected {expected} for this torrent's pieces")]
    BitfieldLength {
        /// Bytes sent.
        len: usize,
        /// `ceil(piece_count / 8)`.
        expected: usize,
    },
    /// A `bitfield` with bits set past the last piece.
    #[error("bitfield has bits set past the last piece")]
    BitfieldSpareBits,
    /// A `have` for a piece that does not exist.
    #[error("have for piece {index}, but the torrent has {piece_count} pieces")]
    HaveOutOfRange {
        /// Piece index sent.
        index: u32,
        /// Pieces in the torrent.
        piece_count: u32,
    },
    /// A request outside the torrent's geometry from a peer without the
    /// Fast extension (Fast peers get a `reject request` instead).
    #[error("invalid request: {0}")]
    InvalidRequest(BlockError),
    /// The peer keeps asking for blocks it is refused.
    #[error(
        "{refused} requests refused in a row without a block sent in between \
         (SessionConfig::max_refused_requests)"
    )]
    RequestFlood {
        /// Requests refused since the last block sent.
        refused: u32,
    },
    /// A peer without the Fast extension asked for (or had queued) a piece
    /// that cannot be served any more (its file changed, or it failed a
    /// check). Such a peer cannot be refused one request, and waiting
    /// for a block that will never come stalls it, so it is closed: when it
    /// reconnects it gets a bitfield without that piece.
    #[error(
        "piece {piece} cannot be served now and the peer has no Fast extension to be told so: \
         closed, so that it reconnects with a fresh bitfield"
    )]
    PieceUnavailable {
        /// The piece.
        piece: u32,
    },
    /// The peer sent a block; a seed never requests any.
    #[error("peer sent an unrequested block (piece {index}, offset {begin}); seeds never request")]
    UnrequestedPiece {
        /// Piece index.
        index: u32,
        /// Offset.
        begin: u32,
    },
}

impl SessionError {
    /// Whether the peer broke the protocol or a bound (as opposed to a
    /// timeout, an unknown torrent or local housekeeping). A runtime may
    /// keep a ban list of addresses that misbehave.
    pub fn is_misbehaviour(&self) -> bool {
        !matches!(
            self,
            SessionError::UnknownTorrent { .. }
                | SessionError::TorrentRemoved
                | SessionError::ConnectedToSelf
                | SessionError::HandshakeTimeout(_)
                | SessionError::IdleTimeout(_)
                | SessionError::SendStalled { .. }
                | SessionError::PieceUnavailable { .. }
        )
    }
}
