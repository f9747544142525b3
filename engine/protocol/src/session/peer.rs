//! [`PeerSession`]: the state of one connection and its public driving API.
//! Input parsing lives in `input.rs`, extension messages in `extension.rs`.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use super::answers::PendingAnswer;
use super::config::SessionConfig;
use super::error::SessionError;
use super::pieces::PeerPieces;
use super::stats::{PeerStats, RateMeter};
use super::{
    Bytes, PexEntry, SessionEvent, SocketProgress, Swarm, TorrentContext, TorrentId, Transmit,
    QUEUED_REQUEST_COST,
};
use crate::geometry::BlockRef;
use crate::wire::{piece_header, BlockRequest, Handshake, Limits, Message, Reserved};

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the first 48 handshake bytes (protocol, reserved, info-hash).
    Prefix,
    /// Waiting for the peer id (20 bytes).
    PeerId,
    /// Handshakes done: length-prefixed messages.
    Established,
    /// Closed; see `closed`.
    Closed,
}

/// The extension ids the peer asked us to use (its `m`), and its `reqq`.
#[derive(Clone, Debug, Default)]
pub(crate) struct PeerExtensions {
    pub(crate) ut_metadata: Option<u8>,
    pub(crate) ut_pex: Option<u8>,
    pub(crate) lt_metadata: Option<u8>,
    pub(crate) lt_donthave: Option<u8>,
    pub(crate) client: Option<String>,
    pub(crate) listen_port: Option<u16>,
    pub(crate) reqq: Option<u32>,
    pub(crate) seen: bool,
}

/// The sans-IO state machine of one peer connection of a seed.
///
/// See the [module docs](super) for how a runtime drives it. In short:
/// feed received bytes to [`PeerSession::handle_input`] (keep what it did
/// not consume), write whatever [`PeerSession::poll_transmit`] returns while
/// the socket has room and report it with [`PeerSession::on_sent`], arm a
/// timer at [`PeerSession::poll_timeout`] and call
/// [`PeerSession::handle_timeout`], and drain [`PeerSession::poll_event`]
/// after each of these calls. Once [`SessionEvent::Closed`] comes out (or a
/// call returns an error), drop the connection.
#[derive(Debug)]
pub struct PeerSession {
    pub(crate) config: Arc<SessionConfig>,
    pub(crate) peer_addr: SocketAddr,
    pub(crate) phase: Phase,
    pub(crate) outbound: bool,
    pub(crate) closed: Option<SessionError>,

    pub(crate) torrent: Option<TorrentId>,
    pub(crate) piece_count: u32,
    pub(crate) private: bool,
    pub(crate) info_hash: [u8; 20],
    pub(crate) our_reserved: Reserved,
    pub(crate) peer_reserved: Reserved,
    pub(crate) peer_id: Option<[u8; 20]>,
    pub(crate) limits: Limits,
    pub(crate) ext: PeerExtensions,
    pub(crate) bad_ext_messages: u32,
    pub(crate) last_pex_in: Option<Instant>,
    pub(crate) pex_sent: bool,

    pub(crate) peer_interested: bool,
    pub(crate) am_choking: bool,
    pub(crate) unchoked_at: Option<Instant>,
    pub(crate) allowed_fast: Vec<u32>,
    pub(crate) pieces: PeerPieces,

    pub(crate) queue: VecDeque<BlockRef>,
    pub(crate) refused: u32,
    pub(crate) requests_total: u64,
    pub(crate) refused_total: u64,
    /// Input is paused: a peer without Fast filled the queue its budget
    /// holds (see [`PeerSession::wants_input`]).
    pub(crate) input_paused: bool,
    /// Times input was paused so.
    pub(crate) input_pauses: u64,
    pub(crate) hash_requests_total: u64,

    /// Encoded messages not handed out yet (coalesced).
    pub(crate) control: Vec<u8>,
    /// Extension answers accepted and not built yet, oldest first.
    pub(crate) answers: VecDeque<PendingAnswer>,
    /// Sum of the wire sizes of `answers` (counted in the byte budget).
    pub(crate) promised: usize,
    pub(crate) events: VecDeque<SessionEvent>,

    pub(crate) created: Instant,
    /// How long the handshake may take (`SessionConfig::handshake_timeout`
    /// unless the runtime shortened it: a crowded node).
    pub(crate) handshake_timeout: std::time::Duration,
    pub(crate) last_recv: Instant,
    /// A large message still incomplete: when it began, and its length.
    pub(crate) partial: Option<(Instant, usize)>,
    pub(crate) next_keepalive: Instant,
    pub(crate) unconfirmed: u64,
    /// The socket's state at the last report
    /// ([`PeerSession::on_socket_progress`]), once the runtime reports it.
    pub(crate) socket: Option<SocketProgress>,
    pub(crate) last_progress: Instant,

    pub(crate) uploaded: u64,
    pub(crate) uploaded_since_unchoke: u64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) rate: RateMeter,
}

impl PeerSession {
    fn new(
        config: Arc<SessionConfig>,
        peer_addr: SocketAddr,
        now: Instant,
        outbound: bool,
    ) -> Self {
        let next_keepalive = now + config.keepalive_interval;
        let config_handshake = config.handshake_timeout;
        PeerSession {
            config,
            peer_addr,
            phase: Phase::Prefix,
            outbound,
            closed: None,
            torrent: None,
            piece_count: 0,
            private: false,
            info_hash: [0; 20],
            our_reserved: Reserved::EMPTY,
            peer_reserved: Reserved::EMPTY,
            peer_id: None,
            limits: Limits::default(),
            ext: PeerExtensions::default(),
            bad_ext_messages: 0,
            last_pex_in: None,
            pex_sent: false,
            peer_interested: false,
            am_choking: true,
            unchoked_at: None,
            allowed_fast: Vec::new(),
            pieces: PeerPieces::None,
            queue: VecDeque::new(),
            refused: 0,
            requests_total: 0,
            refused_total: 0,
            input_paused: false,
            input_pauses: 0,
            hash_requests_total: 0,
            control: Vec::new(),
            answers: VecDeque::new(),
            promised: 0,
            events: VecDeque::new(),
            created: now,
            handshake_timeout: config_handshake,
            last_recv: now,
            partial: None,
            next_keepalive,
            unconfirmed: 0,
            socket: None,
            last_progress: now,
            uploaded: 0,
            uploaded_since_unchoke: 0,
            sent: 0,
            received: 0,
            rate: RateMeter::new(now),
        }
    }

    /// A connection the peer opened. Nothing is sent until its handshake
    /// names a torrent the [`Swarm`] knows.
    pub fn inbound(config: Arc<SessionConfig>, peer_addr: SocketAddr, now: Instant) -> PeerSession {
        PeerSession::new(config, peer_addr, now, false)
    }

    /// A connection we opened for `torrent`: our handshake is queued at
    /// once (the first [`PeerSession::poll_transmit`] returns it). Fails
    /// with [`SessionError::TorrentRemoved`] when the swarm does not know
    /// `torrent`.
    pub fn outbound<S: Swarm + ?Sized>(
        config: Arc<SessionConfig>,
        peer_addr: SocketAddr,
        torrent: TorrentId,
        now: Instant,
        swarm: &S,
    ) -> Result<PeerSession, SessionError> {
        let ctx = swarm.torrent(torrent).ok_or(SessionError::TorrentRemoved)?;
        let mut s = PeerSession::new(config, peer_addr, now, true);
        s.bind_torrent(torrent, ctx, ctx.info_hashes().wire_hash());
        s.send_handshake();
        Ok(s)
    }

    /// Records the torrent this connection serves and the limits it implies.
    pub(crate) fn bind_torrent(
        &mut self,
        id: TorrentId,
        ctx: &TorrentContext,
        info_hash: [u8; 20],
    ) {
        self.torrent = Some(id);
        self.piece_count = ctx.piece_count();
        self.private = ctx.private();
        self.info_hash = info_hash;
        let mut r = Reserved::EMPTY;
        r.set_extension_protocol(true)
            .set_fast(true)
            .set_dht(self.config.dht_port.is_some() && !ctx.private())
            .set_v2_upgrade(ctx.has_v2());
        self.our_reserved = r;
        self.limits = Limits {
            max_pieces: ctx.piece_count(),
            max_extended: self.config.max_extended,
            max_hashes: 1024,
            max_unknown: 64 * 1024,
            ..Limits::default()
        };
    }

    pub(crate) fn send_handshake(&mut self) {
        let hs = Handshake::new(self.our_reserved, self.info_hash, self.config.peer_id);
        hs.encode(&mut self.control);
    }

    /// Bytes this peer makes the session hold or owe ahead of its socket,
    /// counted against [`SessionConfig::peer_budget`]: encoded messages not
    /// handed out yet, extension answers accepted but not built, and
    /// queued block requests ([`QUEUED_REQUEST_COST`] each).
    pub fn held_bytes(&self) -> usize {
        self.control
            .len()
            .saturating_add(self.promised)
            .saturating_add(self.queue.len().saturating_mul(QUEUED_REQUEST_COST))
    }

    /// Whether `bytes` more fit the peer's byte budget.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        self.held_bytes().saturating_add(bytes) <= self.config.peer_budget
    }

    /// Whether something the peer asked for (a queued request, an
    /// extension answer) may take `bytes` more. Only half of the budget
    /// goes to accepted requests: the rest keeps room for refusals, so
    /// that a peer asking for too much gets rejects first and is closed
    /// only when even those do not fit.
    pub(crate) fn fits_accepted(&self, bytes: usize) -> bool {
        self.held_bytes().saturating_add(bytes) <= self.config.peer_budget / 2
    }

    /// Appends one message to the control buffer if it fits the peer's
    /// byte budget; if it does not, the session closes
    /// ([`SessionError::OverBudget`]) and nothing is encoded.
    pub(crate) fn push(&mut self, msg: &Message<'_>) {
        if self.phase == Phase::Closed {
            return;
        }
        let needed = msg.encoded_len();
        if !self.fits(needed) {
            let held = self.held_bytes();
            self.close(SessionError::OverBudget {
                needed,
                held,
                budget: self.config.peer_budget,
            });
            return;
        }
        // Grow the buffer by doubling, but never past the budget: its
        // capacity, not only its length, is what the peer holds.
        let want = self.control.len() + needed;
        if want > self.control.capacity() {
            let target = (self.control.capacity() * 2)
                .max(64)
                .min(self.config.peer_budget)
                .max(want);
            self.control.reserve_exact(target - self.control.len());
        }
        // Only messages this module builds are encoded: each fits a frame.
        let _ = msg.encode(&mut self.control);
    }

    /// Appends one message of the opening (bitfield, extended handshake,
    /// allowed-fast set) without the budget check: they are sent once per
    /// connection, whatever the peer does, and a large torrent's bitfield
    /// may alone exceed a small budget.
    pub(crate) fn push_opening(&mut self, msg: &Message<'_>) {
        let _ = msg.encode(&mut self.control);
    }

    /// Closes the session for `reason` (once): drops queued requests and
    /// unsent control messages and reports [`SessionEvent::Closed`]. Later
    /// calls keep the first reason. Use it to close from the runtime side,
    /// e.g. with [`SessionError::TorrentRemoved`].
    pub fn close(&mut self, reason: SessionError) -> SessionError {
        if let Some(first) = &self.closed {
            return first.clone();
        }
        self.phase = Phase::Closed;
        self.queue = VecDeque::new();
        self.control = Vec::new();
        self.answers = VecDeque::new();
        self.promised = 0;
        self.closed = Some(reason.clone());
        self.events.push_back(SessionEvent::Closed(reason.clone()));
        reason
    }

    /// The control buffer as one transmit (the buffer is handed over, not
    /// copied).
    fn take_control(&mut self, now: Instant) -> Transmit {
        let bytes = std::mem::take(&mut self.control);
        self.handed_out(now, bytes.len() as u64);
        Transmit::Bytes {
            head: Bytes::from(bytes),
            body: Bytes::new(),
        }
    }

    /// The next thing to write, or `None` when there is nothing to send
    /// now. Call it whenever the socket has room, repeatedly (several
    /// transmits can be written with one vectored send). Control messages
    /// come first (coalesced in one [`Transmit::Bytes`]), then extension
    /// answers (built now, one per call), then blocks in request order. A
    /// queued block whose piece is no longer available is rejected (Fast
    /// peers) or, for other peers, the queue is discarded with `choke` +
    /// `unchoke` so that the peer asks again.
    pub fn poll_transmit<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        swarm: &S,
    ) -> Option<Transmit> {
        if self.phase == Phase::Closed {
            return None;
        }
        if !self.control.is_empty() {
            return Some(self.take_control(now));
        }
        let torrent = self.torrent?;
        if !self.answers.is_empty() {
            if let Some(ctx) = swarm.torrent(torrent) {
                if let Some(t) = self.next_answer(ctx) {
                    self.handed_out(now, t.len() as u64);
                    return Some(t);
                }
            }
        }
        while let Some(block) = self.queue.pop_front() {
            let piece = block.piece().get();
            if !swarm.has_piece(torrent, piece) {
                if !self.fast() {
                    self.close(SessionError::PieceUnavailable { piece });
                    return None;
                }
                self.reject(block_request(&block));
                if !self.control.is_empty() {
                    return Some(self.take_control(now));
                }
                continue;
            }
            let len = u64::from(block.length());
            self.uploaded += len;
            self.uploaded_since_unchoke += len;
            self.refused = 0;
            self.handed_out(now, len + crate::wire::PIECE_HEADER_LEN as u64);
            return Some(Transmit::Block {
                header: piece_header(piece, block.begin(), block.length()),
                block,
            });
        }
        None
    }

    /// Frees the memory of empty queues, so that an idle peer holds none.
    /// Call it when the connection goes idle (nothing to read or write),
    /// not after every transmit: a busy peer's queue empties and refills
    /// many times a second.
    pub fn shrink(&mut self) {
        if self.queue.is_empty() && self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
        if self.control.is_empty() && self.control.capacity() > 0 {
            self.control = Vec::new();
        }
    }

    /// Whether the session takes more input now. `false` while a peer
    /// without the Fast extension has queued as many requests as its byte
    /// budget holds: such a peer cannot be refused a request (there is no
    /// reject), and some (rtorrent) keep far more out than `reqq`, so its
    /// further requests wait, unread, in the socket (the kernel's memory,
    /// bounded by the TCP window) until the queue drains; none is dropped.
    /// [`PeerSession::handle_input`] then leaves whole messages unconsumed:
    /// the runtime keeps them, reads nothing more from the socket, and
    /// feeds them again once this is `true`.
    pub fn wants_input(&self) -> bool {
        self.phase != Phase::Closed && (self.fast() || self.fits_accepted(QUEUED_REQUEST_COST))
    }

    /// Whether [`PeerSession::poll_transmit`] would return something (a
    /// cheap check for "register interest in writability").
    pub fn has_transmit(&self) -> bool {
        self.phase != Phase::Closed
            && (!self.control.is_empty() || !self.answers.is_empty() || !self.queue.is_empty())
    }

    fn handed_out(&mut self, now: Instant, bytes: u64) {
        if !self.owed() {
            // A new wait for the peer starts now.
            self.last_progress = now;
        }
        self.unconfirmed = self.unconfirmed.saturating_add(bytes);
        self.next_keepalive = now + self.config.keepalive_interval;
    }

    /// Reports that `bytes` bytes of what [`PeerSession::poll_transmit`]
    /// handed out were written to the socket. Feeds the upload rate and,
    /// for a runtime that does not report [`PeerSession::on_socket_progress`],
    /// the stalled-peer check (`SessionConfig::send_stall_timeout`).
    pub fn on_sent(&mut self, now: Instant, bytes: usize) {
        let bytes = bytes as u64;
        self.unconfirmed = self.unconfirmed.saturating_sub(bytes);
        self.sent = self.sent.saturating_add(bytes);
        self.rate.add(now, bytes);
        if self.socket.is_none() {
            self.last_progress = now;
        }
    }

    /// Reports what the socket says about the bytes written to it
    /// (`TCP_INFO`, `SIOCOUTQ`). Once a runtime reports this, "the peer
    /// took bytes" means its acknowledged count grew, not that the kernel
    /// accepted a write: a peer that does not read stops acknowledging
    /// when its receive window is full, while the kernel may still accept
    /// keep-alives and whatever fits its buffers. So "stalled" is: no
    /// bytes taken for `send_stall_timeout` while bytes for the peer
    /// waited, in the session, the runtime or the socket. Call it when
    /// everything handed out has been written (the check is armed while
    /// the socket holds bytes) and before [`PeerSession::handle_timeout`].
    pub fn on_socket_progress(&mut self, now: Instant, p: SocketProgress) {
        let took = self.socket.is_none_or(|last| p.acked > last.acked);
        if took {
            self.last_progress = now;
        }
        let acked = self.socket.map_or(p.acked, |last| last.acked.max(p.acked));
        self.socket = Some(SocketProgress {
            acked,
            queued: p.queued,
        });
    }

    /// Whether the stalled-peer check needs a fresh socket report when the
    /// runtime has written everything: before the first report, or when
    /// the last one found the socket empty. While the socket is known to
    /// hold bytes the check is armed already, and the report before the
    /// timer is handled is enough: a fast peer costs a `TCP_INFO` per
    /// `send_stall_timeout`, not per write.
    pub fn wants_socket_progress(&self) -> bool {
        self.config.send_stall_timeout.is_some() && self.socket.is_none_or(|s| s.queued == 0)
    }

    /// Whether the peer owes us progress: bytes for it wait in the runtime
    /// (handed out, not written) or in its socket.
    fn owed(&self) -> bool {
        self.unconfirmed > 0 || self.socket.is_some_and(|s| s.queued > 0)
    }

    /// When [`PeerSession::handle_timeout`] must be called next (`None`
    /// once closed). May be in the past: call it at once then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let c = &self.config;
        let mut t = match self.phase {
            Phase::Closed => return None,
            Phase::Prefix | Phase::PeerId => self.created + self.handshake_timeout,
            Phase::Established => (self.last_recv + c.idle_timeout).min(self.next_keepalive),
        };
        if let (Some(stall), true) = (c.send_stall_timeout, self.owed()) {
            t = t.min(self.last_progress + stall);
        }
        if let Some((began, _)) = self.partial {
            t = t.min(began + c.slow_frame_timeout);
        }
        Some(t)
    }

    /// Handles whatever timers are due at `now`: the handshake timeout, the
    /// idle timeout, the slow-message timeout and the stalled-peer timeout
    /// close the session
    /// (reported by [`PeerSession::poll_event`]); a due keep-alive is queued.
    pub fn handle_timeout(&mut self, now: Instant) {
        let c = Arc::clone(&self.config);
        match self.phase {
            Phase::Closed => return,
            Phase::Prefix | Phase::PeerId => {
                if now >= self.created + self.handshake_timeout {
                    self.close(SessionError::HandshakeTimeout(self.handshake_timeout));
                    return;
                }
            }
            Phase::Established => {
                if now >= self.last_recv + c.idle_timeout {
                    self.close(SessionError::IdleTimeout(c.idle_timeout));
                    return;
                }
            }
        }
        if let Some((began, len)) = self.partial {
            if now >= began + c.slow_frame_timeout {
                self.close(SessionError::SlowFrame {
                    len,
                    waited: now.saturating_duration_since(began),
                });
                return;
            }
        }
        if let Some(stall) = c.send_stall_timeout {
            if self.owed() && now >= self.last_progress + stall {
                self.close(SessionError::SendStalled {
                    stalled: now.saturating_duration_since(self.last_progress),
                    pending: self
                        .unconfirmed
                        .saturating_add(self.socket.map_or(0, |s| s.queued)),
                });
                return;
            }
        }
        if self.phase == Phase::Established && now >= self.next_keepalive {
            self.push(&Message::KeepAlive);
            self.next_keepalive = now + c.keepalive_interval;
        }
    }

    /// The next event for the runtime, oldest first.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    pub(crate) fn event(&mut self, e: SessionEvent) {
        if let (SessionEvent::InterestChanged(_), Some(SessionEvent::InterestChanged(_))) =
            (&e, self.events.back())
        {
            self.events.pop_back();
        }
        self.events.push_back(e);
    }

    /// Chokes (`true`) or unchokes (`false`) the peer, as the choker
    /// decided. Choking sends `choke` and drops every queued request except
    /// those for allowed-fast pieces (BEP 6); Fast peers get a `reject
    /// request` for each dropped one. Before the handshake completes only
    /// the state is recorded; the `unchoke` goes out with the first messages.
    pub fn set_choked(&mut self, now: Instant, choked: bool) {
        if self.phase == Phase::Closed || self.am_choking == choked {
            return;
        }
        self.am_choking = choked;
        if !choked {
            self.unchoked_at = Some(now);
            self.uploaded_since_unchoke = 0;
            self.refused = 0;
        }
        if self.phase != Phase::Established {
            return;
        }
        if choked {
            self.push(&Message::Choke);
            let queue = std::mem::take(&mut self.queue);
            let fast = self.fast();
            for block in queue {
                if self.allowed_fast.contains(&block.piece().get()) {
                    self.queue.push_back(block);
                } else if fast {
                    self.push(&Message::RejectRequest(block_request(&block)));
                }
            }
        } else {
            self.push(&Message::Unchoke);
        }
    }

    /// Tells the peer that `piece` can no longer be served (it failed a
    /// re-check, its file changed): queued requests for it are rejected
    /// (Fast peers; a peer without Fast that has one queued is closed, see
    /// [`SessionError::PieceUnavailable`]) and peers that support
    /// `lt_donthave` get one. Later requests for it are refused because
    /// [`Swarm::has_piece`] says so.
    pub fn piece_lost(&mut self, piece: u32) {
        if self.phase != Phase::Established || piece >= self.piece_count {
            return;
        }
        let fast = self.fast();
        if !fast && self.queue.iter().any(|b| b.piece().get() == piece) {
            // A peer without Fast cannot be told about one request.
            self.close(SessionError::PieceUnavailable { piece });
            return;
        }
        let queue = std::mem::take(&mut self.queue);
        for block in queue {
            if block.piece().get() != piece {
                self.queue.push_back(block);
            } else if fast {
                self.push(&Message::RejectRequest(block_request(&block)));
            }
        }
        if let Some(id) = self.ext.lt_donthave {
            let payload = piece.to_be_bytes();
            self.push(&Message::Extended {
                id,
                payload: &payload,
            });
        }
    }

    /// Tells the peer that `piece` can be served (again): sends `have`.
    pub fn piece_added(&mut self, piece: u32) {
        if self.phase == Phase::Established && piece < self.piece_count {
            self.push(&Message::Have { index: piece });
        }
    }

    /// Sends a `ut_pex` message with the torrent's peers `added` and
    /// `dropped` since the last call (the runtime calls this about once a
    /// minute). At most 50 of each are sent; the peer's own address is left
    /// out. Returns whether a message was queued: never for private
    /// torrents, never before the peer's extended handshake advertised
    /// `ut_pex`, and not when both lists are empty after filtering.
    pub fn send_pex(&mut self, added: &[PexEntry], dropped: &[SocketAddr]) -> bool {
        self.queue_pex(added, dropped)
    }

    /// Gives the handshake at most `timeout` from the connection's start
    /// (never more than `SessionConfig::handshake_timeout`): a runtime
    /// whose node is crowded gives newcomers less time to prove they are
    /// peers, so that connections that never handshake cannot hold slots
    /// for long. No effect once the handshake is done.
    pub fn shorten_handshake(&mut self, timeout: std::time::Duration) {
        self.handshake_timeout = self.handshake_timeout.min(timeout);
    }

    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<&SessionError> {
        self.closed.as_ref()
    }

    /// Whether both handshakes are done.
    pub fn is_established(&self) -> bool {
        self.phase == Phase::Established
    }

    /// The torrent, once the peer's handshake named it (at once for
    /// outbound sessions).
    pub fn torrent(&self) -> Option<TorrentId> {
        self.torrent
    }

    /// The address the session was created with.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Whether we opened the connection.
    pub fn is_outbound(&self) -> bool {
        self.outbound
    }

    /// The peer's id, once its handshake is complete.
    pub fn peer_id(&self) -> Option<[u8; 20]> {
        self.peer_id
    }

    /// The peer's reserved bits (empty before its handshake).
    pub fn peer_reserved(&self) -> Reserved {
        self.peer_reserved
    }

    /// The reserved bits we send (known once the torrent is).
    pub fn our_reserved(&self) -> Reserved {
        self.our_reserved
    }

    /// Whether both sides speak the Fast extension (BEP 6).
    pub fn supports_fast(&self) -> bool {
        self.fast()
    }

    pub(crate) fn fast(&self) -> bool {
        self.our_reserved.fast() && self.peer_reserved.fast()
    }

    /// The peer's client name from its extended handshake (`v`).
    pub fn client_name(&self) -> Option<&str> {
        self.ext.client.as_deref()
    }

    /// The peer's listen port from its extended handshake (`p`).
    pub fn listen_port(&self) -> Option<u16> {
        self.ext.listen_port
    }

    /// The address other peers can reach this peer at: its IP with its
    /// listen port (outbound connections: the address we dialled).
    pub fn reachable_addr(&self) -> Option<SocketAddr> {
        if self.outbound {
            return Some(self.peer_addr);
        }
        self.ext
            .listen_port
            .map(|p| SocketAddr::new(self.peer_ip(), p))
    }

    pub(crate) fn peer_ip(&self) -> IpAddr {
        match self.peer_addr.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        }
    }

    /// Whether the peer is interested in our pieces.
    pub fn is_interested(&self) -> bool {
        self.peer_interested
    }

    /// Whether we choke the peer (true until the choker unchokes it).
    pub fn is_choked(&self) -> bool {
        self.am_choking
    }

    /// Whether the peer has every piece.
    pub fn peer_is_seed(&self) -> bool {
        self.pieces.is_all()
    }

    /// The allowed-fast pieces we sent the peer (BEP 6).
    pub fn allowed_fast(&self) -> &[u32] {
        &self.allowed_fast
    }

    /// Requests queued and not yet handed out.
    pub fn queued_requests(&self) -> usize {
        self.queue.len()
    }

    /// The largest frame (length prefix included) this session accepts:
    /// [`PeerSession::handle_input`] never leaves more than this many bytes
    /// unconsumed, so a receive buffer of this size always suffices.
    pub fn max_frame(&self) -> usize {
        (self.limits.max_frame() as usize).saturating_add(4)
    }

    /// Counters for the choker and metrics.
    pub fn stats(&self, now: Instant) -> PeerStats {
        PeerStats {
            connected_at: self.created,
            uploaded: self.uploaded,
            sent: self.sent,
            received: self.received,
            upload_rate: self.rate.rate(now),
            peer_pieces: self.pieces.count(self.piece_count),
            piece_count: self.piece_count,
            interested: self.peer_interested,
            choked: self.am_choking,
            unchoked_at: self.unchoked_at,
            uploaded_since_unchoke: self.uploaded_since_unchoke,
            queued_requests: u32::try_from(self.queue.len()).unwrap_or(u32::MAX),
            requests: self.requests_total,
            refused_requests: self.refused_total,
            input_pauses: self.input_pauses,
            last_received: self.last_recv,
            hash_requests: self.hash_requests_total,
        }
    }
}

/// The wire triple of a validated block.
pub(crate) fn block_request(b: &BlockRef) -> BlockRequest {
    BlockRequest {
        index: b.piece().get(),
        begin: b.begin(),
        length: b.length(),
    }
}
