//! The peer session of a seed: a sans-IO state machine for one connection.
//!
//! # Why sans-IO
//!
//! A [`PeerSession`] never touches a socket, a timer or a thread. The runtime
//! (one glommio executor per core) owns the TCP stream and drives the
//! session the way quinn-proto's `Connection` is driven:
//!
//! ```text
//!   bytes from the socket ──► handle_input(now, buf, swarm) ─► Ok(consumed) / Err(close)
//!   read more? ─────────────► wants_input()                 ─► false: leave the socket unread
//!   socket writable ────────► poll_transmit(now, swarm)     ─► Transmit::Bytes{head, body} | Transmit::Block
//!   bytes really written ───► on_sent(now, n)
//!   socket drained / timer ─► on_socket_progress(now, {acked, queued})
//!   timer ──────────────────► poll_timeout() / handle_timeout(now)
//!   anything to report? ────► poll_event()                  ─► SessionEvent
//!   choker decided ─────────► set_choked(now, bool)
//! ```
//!
//! Time is always passed in (`now: Instant`), so tests run on virtual time
//! and the whole protocol is deterministic, fuzzable and free of `async`.
//!
//! # Why requests stay inside the session
//!
//! A validated request is queued here as a [`BlockRef`] and handed to the
//! runtime only when it asks for the next [`Transmit`], that is when its
//! socket has room. So a `cancel` really removes a block that was not sent
//! yet, a `choke` really drops the queue, and a peer that stops reading
//! cannot make the engine buffer its blocks: back-pressure is the socket's.
//! Blocks are handed out as a 13-byte header plus a [`BlockRef`]; the runtime
//! writes the header and then the bytes straight from its mmap (zero copy).
//!
//! # Why answers are bounded before they are built
//!
//! Some requests cost a peer a few bytes and us many: a metadata piece, a
//! BEP 52 hash proof, even a `reject`. Each peer has a byte budget
//! ([`SessionConfig::peer_budget`]) that counts everything the session
//! holds or owes for it: encoded messages not yet handed out, extension
//! answers accepted but not built yet, queued block requests. Every
//! message is checked against what is left *before* it is encoded; an
//! answer that does not fit is refused, and a peer whose refusals do not
//! fit either is closed ([`SessionError::OverBudget`]). Extension answers
//! are built only when the runtime asks for output (its socket has room),
//! and metadata pieces are shared slices of the info dictionary
//! ([`Transmit::Bytes`]'s `body`), so a burst of requests costs a queue
//! entry each, not a copy each.
//!
//! # What a peer that asks for too much gets
//!
//! Every block request gets a block, or a `reject request` (Fast peers, BEP
//! 6). Fast peers are told `reqq` and get rejects past it. A peer without
//! Fast cannot be refused one request, and some (rtorrent) ignore `reqq`
//! and keep a pipeline proportional to their rate, tens of thousands on a
//! fast link; so its queue may grow as far as its byte budget holds, and
//! past that the session stops taking its input
//! ([`PeerSession::wants_input`]): its further requests wait in the socket
//! until the queue drains. Nothing is dropped; a request it made for a
//! piece that can no longer be served closes it
//! ([`SessionError::PieceUnavailable`]) so that it reconnects with a fresh
//! bitfield rather than wait forever.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use seedcore_protocol::metainfo::build::TorrentBuilder;
//! use seedcore_protocol::session::*;
//! use seedcore_protocol::wire::{Handshake, Message, Reserved};
//!
//! // One torrent, every piece available.
//! struct One(TorrentContext);
//! impl Swarm for One {
//!     fn lookup(&self, h: &[u8; 20]) -> Option<TorrentId> {
//!         self.0.matches(h).then_some(TorrentId(0))
//!     }
//!     fn torrent(&self, _: TorrentId) -> Option<&TorrentContext> { Some(&self.0) }
//!     fn has_piece(&self, _: TorrentId, _: u32) -> bool { true }
//!     fn have_count(&self, _: TorrentId) -> u32 { self.0.piece_count() }
//! }
//! let (_, meta) = TorrentBuilder::new("hello.txt", 16384)
//!     .file(vec![], 5)
//!     .v1_pieces(vec![seedcore_hash::sha1(b"hello")])
//!     .build_metainfo()?;
//! let swarm = One(TorrentContext::from_metainfo(&meta)?);
//! let now = Instant::now();
//! let mut s = PeerSession::inbound(Arc::new(SessionConfig::default()), "10.0.0.2:6881".parse()?, now);
//!
//! // The peer's handshake, then a request while unchoked.
//! let mut fast = Reserved::EMPTY;
//! fast.set_fast(true);
//! let mut input = Handshake::new(fast, meta.info_hashes.wire_hash(), [7; 20]).to_bytes().to_vec();
//! let request = seedcore_protocol::wire::BlockRequest { index: 0, begin: 0, length: 5 };
//! Message::Request(request).encode(&mut input)?;
//! s.set_choked(now, false);
//! assert_eq!(s.handle_input(now, &input, &swarm)?, input.len());
//!
//! // Out come our handshake and opening messages, then the block.
//! let Some(Transmit::Bytes { head, .. }) = s.poll_transmit(now, &swarm) else { panic!() };
//! assert_eq!(Handshake::decode(&head)?.map(|h| h.info_hash), Some(meta.info_hashes.wire_hash()));
//! let Some(Transmit::Block { block, .. }) = s.poll_transmit(now, &swarm) else { panic!() };
//! assert_eq!((block.offset(), block.length()), (0, 5));
//! assert!(matches!(s.poll_event(), Some(SessionEvent::HandshakeDone { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The choking policy is not part of the session: [`choke::Choker`] is a
//! pure per-shard function over all sessions' [`PeerStats`].

mod answers;
pub mod choke;
mod config;
mod context;
mod error;
mod extension;
mod fast;
mod hashes;
mod input;
mod peer;
mod pieces;
mod stats;

/// The shared byte buffer of [`Transmit::Bytes`] (re-exported so runtimes
/// need not name the `bytes` crate).
pub use bytes::Bytes;
pub use config::{ext_ids, SessionConfig, PEER_ID_PREFIX};
pub use context::{ContextError, TorrentContext, V2File};
pub use error::SessionError;
pub use fast::allowed_fast_set;
pub use peer::PeerSession;
pub use stats::PeerStats;

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::ext::PexFlags;
use crate::geometry::BlockRef;
use crate::wire::{Reserved, PIECE_HEADER_LEN};

/// The runtime's number for a torrent (an index into its torrent table).
/// Sessions only carry it around; the [`Swarm`] gives it meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentId(pub u32);

/// What the session needs to know about the torrents this shard seeds, at
/// the moment it needs it. Implemented by the runtime (and by tests).
///
/// Every method is a cheap lookup; the session calls them on the hot path
/// (`has_piece` once per request).
pub trait Swarm {
    /// The torrent a handshake's 20-byte info-hash names: its v1 info-hash,
    /// or for v2 and hybrid torrents the truncated v2 info-hash. `None`
    /// means "not seeded here": the session closes without sending a byte.
    fn lookup(&self, wire_hash: &[u8; 20]) -> Option<TorrentId>;

    /// The immutable description of torrent `id`; `None` once it has been
    /// removed (the session then closes with [`SessionError::TorrentRemoved`]).
    fn torrent(&self, id: TorrentId) -> Option<&TorrentContext>;

    /// Whether piece `piece` of torrent `id` can be served right now.
    fn has_piece(&self, id: TorrentId, piece: u32) -> bool;

    /// How many pieces of torrent `id` can be served right now. When it
    /// equals the piece count the session sends `have all` to Fast peers.
    fn have_count(&self, id: TorrentId) -> u32;

    /// Appends the BEP 3 bitfield of torrent `id` (high bit of the first
    /// byte = piece 0, spare bits clear, `ceil(piece_count / 8)` bytes) to
    /// `out`. The default asks [`Swarm::has_piece`] for every piece; a
    /// runtime that keeps a bitfield should copy it instead.
    fn write_bitfield(&self, id: TorrentId, piece_count: u32, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + piece_count.div_ceil(8) as usize, 0);
        if let Some(bytes) = out.get_mut(start..) {
            for (i, byte) in bytes.iter_mut().enumerate() {
                for bit in 0..8u32 {
                    let piece = (i as u64) * 8 + u64::from(bit);
                    let Ok(piece) = u32::try_from(piece) else {
                        break;
                    };
                    if piece < piece_count && self.has_piece(id, piece) {
                        *byte |= 0x80 >> bit;
                    }
                }
            }
        }
    }
}

/// What one queued block request costs against the peer's byte budget
/// ([`SessionConfig::peer_budget`]): its size in memory. The block itself
/// is read only when the socket has room, so it costs nothing before that.
pub const QUEUED_REQUEST_COST: usize = std::mem::size_of::<BlockRef>();

/// Messages longer than this (length prefix included) must arrive whole
/// within `SessionConfig::slow_frame_timeout` of their first byte. Every
/// message a seed needs to read quickly is shorter: requests, cancels,
/// haves, the extended handshake, most bitfields.
pub const SLOW_FRAME_MIN: usize = 1024;

/// Something for the runtime to write to the socket, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Encoded messages: write `head`, then `body`. `head` holds control
    /// messages (handshake, have/bitfield, choke, rejects, extension
    /// messages, keep-alives...), possibly several coalesced, or the
    /// header of one extension answer; `body` is empty, or the rest of that
    /// answer as a shared slice of an immutable buffer (a piece of the info
    /// dictionary), which the runtime writes as it is, without copying it.
    Bytes {
        /// Encoded bytes, written first.
        head: Bytes,
        /// A shared slice written right after `head` (often empty).
        body: Bytes,
    },
    /// A `piece` message: write `header` (length prefix, id 7, index, begin)
    /// and then the `block.length()` bytes at `block.offset()` of the
    /// torrent's piece space, read straight from storage.
    Block {
        /// The 13-byte `piece` message header ([`crate::wire::piece_header`]).
        header: [u8; PIECE_HEADER_LEN],
        /// The validated block to send after the header.
        block: BlockRef,
    },
}

impl Transmit {
    /// Bytes this transmit puts on the wire (header and body for a block).
    pub fn len(&self) -> usize {
        match self {
            Transmit::Bytes { head, body } => head.len() + body.len(),
            Transmit::Block { block, .. } => PIECE_HEADER_LEN + block.length() as usize,
        }
    }

    /// Whether it is empty (never true for a transmit the session returns).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Encoded bytes only (`head` then `body`); `None` for a block.
    pub fn slices(&self) -> Option<[&[u8]; 2]> {
        match self {
            Transmit::Bytes { head, body } => Some([head, body]),
            Transmit::Block { .. } => None,
        }
    }
}

/// What a runtime's socket says about the bytes written to it, for the
/// stalled-peer check ([`PeerSession::on_socket_progress`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketProgress {
    /// Bytes the peer acknowledged, ever (`TCP_INFO`'s `tcpi_bytes_acked`):
    /// when it grows, the peer took bytes.
    pub acked: u64,
    /// Bytes written and not yet acknowledged, sent or not (`SIOCOUTQ`):
    /// what the peer has still to take.
    pub queued: u64,
}

/// Peers learned from a `ut_pex` message, for the runtime's peer lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PexPeers {
    /// IPv4 peers added, with their flags.
    pub added: Vec<(SocketAddrV4, PexFlags)>,
    /// IPv6 peers added, with their flags.
    pub added6: Vec<(SocketAddrV6, PexFlags)>,
    /// IPv4 peers gone.
    pub dropped: Vec<SocketAddrV4>,
    /// IPv6 peers gone.
    pub dropped6: Vec<SocketAddrV6>,
}

/// What the session tells the runtime. Drain with [`PeerSession::poll_event`]
/// after every call that takes input or time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// Both handshakes are done: the connection serves `torrent`.
    HandshakeDone {
        /// The torrent.
        torrent: TorrentId,
        /// The peer's id from its handshake.
        peer_id: [u8; 20],
        /// The peer's reserved bits.
        reserved: Reserved,
    },
    /// The peer's BEP 10 handshake arrived (first one, or an update).
    ExtendedHandshake {
        /// Client name and version (`v`), if sent.
        client: Option<String>,
        /// The peer's TCP listen port (`p`), if sent: its address for PEX
        /// and for reconnecting is `(peer ip, port)`.
        listen_port: Option<u16>,
        /// The peer says it will not download (BEP 21 `upload_only`).
        upload_only: bool,
    },
    /// The peer became interested (`true`) or not interested (`false`):
    /// time for the choker to look again.
    InterestChanged(bool),
    /// The peer's DHT node listens on this UDP port (BEP 5 `port`): hand
    /// `(peer ip, port)` to the control core's DHT.
    DhtPort(u16),
    /// The peer sent `ut_pex` peers (never on private torrents).
    Pex(PexPeers),
    /// The peer now has every piece (a seed). Seeds rarely need a seed; the
    /// runtime may close the connection when it needs the slot.
    PeerIsSeed,
    /// The session is closed; drop the connection. Sent once, also when
    /// the closing call returned the same error.
    Closed(SessionError),
}

/// A peer address for PEX, as the runtime keeps them.
pub type PexEntry = (SocketAddr, PexFlags);
