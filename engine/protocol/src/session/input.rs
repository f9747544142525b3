//! Reading what the peer sends: the handshake in two steps (48 bytes to pick
//! the torrent, 20 for the peer id), then length-prefixed messages through
//! the wire decoder, each checked against this torrent and this session's
//! bounds.

use std::net::IpAddr;
use std::time::Instant;

use super::answers::ExtRequest;
use super::error::SessionError;
use super::fast::allowed_fast_set;
use super::hashes::MAX_HASHES_ANSWERED;
use super::peer::{PeerSession, Phase};
use super::{SessionEvent, Swarm, TorrentContext, QUEUED_REQUEST_COST};
use crate::wire::{
    decode, BlockRequest, Decoded, HandshakePrefix, HashRequest, Message, HANDSHAKE_PREFIX_LEN,
};

/// Length of the peer id that completes a handshake.
const PEER_ID_LEN: usize = 20;

impl PeerSession {
    /// Feeds bytes received from the peer. `data` is everything received
    /// and not yet consumed (the runtime appends new bytes to what the last
    /// call left). Returns how many bytes from the front of `data` were
    /// used; keep the rest for the next call: a partial message, shorter
    /// than [`PeerSession::max_frame`], or, once
    /// [`PeerSession::wants_input`] turned `false`, whole messages the
    /// session will take when it turns `true` again (read nothing more from
    /// the socket meanwhile).
    ///
    /// An error closes the session (also reported as
    /// [`SessionEvent::Closed`]): drop the connection. In particular an
    /// unknown info-hash is [`SessionError::UnknownTorrent`] with nothing
    /// queued for sending.
    pub fn handle_input<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        data: &[u8],
        swarm: &S,
    ) -> Result<usize, SessionError> {
        if let Some(e) = &self.closed {
            return Err(e.clone());
        }
        let mut used = 0usize;
        let result = self.consume(now, data, &mut used, swarm);
        if used > 0 {
            self.last_recv = now;
        }
        self.received = self.received.saturating_add(used as u64);
        match result {
            // A message that did not fit the byte budget closed the session
            // on the way (`push`): report it like any other error.
            Ok(()) => match &self.closed {
                Some(e) => Err(e.clone()),
                None => Ok(used),
            },
            Err(e) => Err(self.close(e)),
        }
    }

    fn consume<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        data: &[u8],
        used: &mut usize,
        swarm: &S,
    ) -> Result<(), SessionError> {
        loop {
            let rest = data.get(*used..).unwrap_or_default();
            match self.phase {
                Phase::Closed => return Ok(()),
                Phase::Prefix => {
                    let Some(prefix) = HandshakePrefix::decode(rest)? else {
                        return Ok(());
                    };
                    self.on_prefix(prefix, swarm)?;
                    *used += HANDSHAKE_PREFIX_LEN;
                }
                Phase::PeerId => {
                    let Some(id) = rest.first_chunk::<PEER_ID_LEN>() else {
                        return Ok(());
                    };
                    *used += PEER_ID_LEN;
                    self.on_peer_id(now, *id, swarm)?;
                }
                Phase::Established => {
                    let torrent = self.torrent.ok_or(SessionError::TorrentRemoved)?;
                    let ctx = swarm.torrent(torrent).ok_or(SessionError::TorrentRemoved)?;
                    return self.messages(now, data, used, ctx, swarm);
                }
            }
        }
    }

    fn on_prefix<S: Swarm + ?Sized>(
        &mut self,
        prefix: HandshakePrefix,
        swarm: &S,
    ) -> Result<(), SessionError> {
        let hash = prefix.info_hash;
        if self.outbound {
            let torrent = self.torrent.ok_or(SessionError::TorrentRemoved)?;
            let ctx = swarm.torrent(torrent).ok_or(SessionError::TorrentRemoved)?;
            if !ctx.matches(&hash) {
                return Err(SessionError::InfoHashMismatch { info_hash: hash });
            }
        } else {
            let unknown = SessionError::UnknownTorrent { info_hash: hash };
            let id = swarm.lookup(&hash).ok_or(unknown.clone())?;
            let ctx = swarm.torrent(id).ok_or(unknown)?;
            // Answer with the hash the peer used (v1, or truncated v2).
            self.bind_torrent(id, ctx, hash);
            self.send_handshake();
        }
        self.peer_reserved = prefix.reserved;
        self.phase = Phase::PeerId;
        Ok(())
    }

    fn on_peer_id<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        peer_id: [u8; 20],
        swarm: &S,
    ) -> Result<(), SessionError> {
        if peer_id == self.config.peer_id {
            return Err(SessionError::ConnectedToSelf);
        }
        let torrent = self.torrent.ok_or(SessionError::TorrentRemoved)?;
        let ctx = swarm.torrent(torrent).ok_or(SessionError::TorrentRemoved)?;
        self.peer_id = Some(peer_id);
        self.phase = Phase::Established;
        self.last_recv = now;
        self.events.push_back(SessionEvent::HandshakeDone {
            torrent,
            peer_id,
            reserved: self.peer_reserved,
        });
        self.send_opening(ctx, swarm);
        Ok(())
    }

    /// What a seed says right after the handshake, in BEP 3/6 order: the
    /// piece summary first (have all / bitfield / have none), then the BEP
    /// 10 handshake, the allowed-fast set, the DHT port and, when the
    /// choker already decided so, `unchoke`.
    fn send_opening<S: Swarm + ?Sized>(&mut self, ctx: &TorrentContext, swarm: &S) {
        let Some(torrent) = self.torrent else {
            return;
        };
        let fast = self.fast();
        let count = ctx.piece_count();
        let have = swarm.have_count(torrent).min(count);
        if fast && have == count && count > 0 {
            self.push_opening(&Message::HaveAll);
        } else if fast && have == 0 {
            self.push_opening(&Message::HaveNone);
        } else if have > 0 {
            let mut bits = Vec::with_capacity(count.div_ceil(8) as usize);
            swarm.write_bitfield(torrent, count, &mut bits);
            self.push_opening(&Message::Bitfield(&bits));
        }
        if self.peer_reserved.extension_protocol() {
            self.send_extended_handshake(ctx);
        }
        if fast && self.config.allowed_fast > 0 {
            if let IpAddr::V4(ip) = self.peer_ip() {
                let set = allowed_fast_set(ip, &self.info_hash, count, self.config.allowed_fast);
                for piece in set {
                    if swarm.has_piece(torrent, piece) {
                        self.allowed_fast.push(piece);
                        self.push_opening(&Message::AllowedFast { index: piece });
                    }
                }
            }
        }
        if let Some(port) = self.config.dht_port {
            if self.our_reserved.dht() && self.peer_reserved.dht() {
                self.push_opening(&Message::Port(port));
            }
        }
        if !self.am_choking {
            self.push_opening(&Message::Unchoke);
        }
    }

    fn messages<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        data: &[u8],
        used: &mut usize,
        ctx: &TorrentContext,
        swarm: &S,
    ) -> Result<(), SessionError> {
        let limits = self.limits;
        loop {
            if self.phase == Phase::Closed {
                return Ok(());
            }
            if !self.wants_input() {
                if !self.input_paused {
                    self.input_paused = true;
                    self.input_pauses = self.input_pauses.saturating_add(1);
                }
                return Ok(());
            }
            self.input_paused = false;
            let rest = data.get(*used..).unwrap_or_default();
            let (msg, consumed) = match decode(rest, &limits)? {
                Decoded::Message { msg, consumed } => (msg, consumed),
                Decoded::NeedMore { needed } => {
                    // A large message still arriving: it has
                    // `slow_frame_timeout` from its first byte to complete.
                    let len = rest.len().saturating_add(needed);
                    if len > super::SLOW_FRAME_MIN && self.partial.is_none() {
                        self.partial = Some((now, len));
                    }
                    return Ok(());
                }
            };
            self.partial = None;
            *used += consumed;
            self.message(now, msg, ctx, swarm)?;
        }
    }

    fn require_fast(&self, message: &'static str) -> Result<(), SessionError> {
        if self.fast() {
            Ok(())
        } else {
            Err(SessionError::NotNegotiated {
                message,
                extension: "the Fast extension (BEP 6)",
            })
        }
    }

    fn message<S: Swarm + ?Sized>(
        &mut self,
        now: Instant,
        msg: Message<'_>,
        ctx: &TorrentContext,
        swarm: &S,
    ) -> Result<(), SessionError> {
        let count = self.piece_count;
        match msg {
            Message::KeepAlive | Message::Choke | Message::Unchoke => {}
            Message::Interested | Message::NotInterested => {
                let interested = matches!(msg, Message::Interested);
                if interested != self.peer_interested {
                    self.peer_interested = interested;
                    self.event(SessionEvent::InterestChanged(interested));
                }
            }
            Message::Have { index } => {
                let was = self.pieces.is_all();
                if self.pieces.have(index, count)? && !was {
                    self.event(SessionEvent::PeerIsSeed);
                }
            }
            Message::Bitfield(bits) => {
                let was = self.pieces.is_all();
                if self.pieces.set_bitfield(bits, count)? && !was {
                    self.event(SessionEvent::PeerIsSeed);
                }
            }
            Message::HaveAll => {
                self.require_fast("have all")?;
                if !self.pieces.is_all() && count > 0 {
                    self.pieces = super::pieces::PeerPieces::All;
                    self.event(SessionEvent::PeerIsSeed);
                }
            }
            Message::HaveNone => {
                self.require_fast("have none")?;
                self.pieces = super::pieces::PeerPieces::None;
            }
            Message::Request(req) => self.on_request(req, ctx, swarm)?,
            Message::Cancel(req) => self.on_cancel(req),
            Message::Piece { index, begin, .. } => {
                return Err(SessionError::UnrequestedPiece { index, begin });
            }
            Message::Port(port) => {
                // Only where we run a DHT for this torrent: never for a
                // private torrent (BEP 27: nothing of it touches the DHT).
                if port != 0 && self.our_reserved.dht() && !self.private {
                    self.event(SessionEvent::DhtPort(port));
                }
            }
            Message::Suggest { .. } => self.require_fast("suggest")?,
            Message::RejectRequest(_) => self.require_fast("reject request")?,
            Message::AllowedFast { .. } => self.require_fast("allowed fast")?,
            Message::Extended { id, payload } => {
                if !self.peer_reserved.extension_protocol() {
                    return Err(SessionError::NotNegotiated {
                        message: "extended",
                        extension: "the extension protocol (BEP 10)",
                    });
                }
                self.on_extended(now, id, payload, ctx)?;
            }
            Message::HashRequest(req) => {
                self.hash_requests_total = self.hash_requests_total.saturating_add(1);
                self.on_hash_request(req, ctx);
            }
            Message::Hashes { .. }
            | Message::HashReject(_)
            | Message::AzureusExtendedList(_)
            | Message::AzureusExtended { .. }
            | Message::Unknown { .. } => {}
        }
        Ok(())
    }

    fn on_request<S: Swarm + ?Sized>(
        &mut self,
        req: BlockRequest,
        ctx: &TorrentContext,
        swarm: &S,
    ) -> Result<(), SessionError> {
        self.requests_total = self.requests_total.saturating_add(1);
        let fast = self.fast();
        let block = match ctx.geometry().block(req.index, req.begin, req.length) {
            Ok(b) => b,
            Err(e) if !fast => return Err(SessionError::InvalidRequest(e)),
            Err(_) => return self.refuse(req),
        };
        let Some(torrent) = self.torrent else {
            return Ok(());
        };
        let allowed = !self.am_choking || self.allowed_fast.contains(&req.index);
        if !allowed {
            // Rejected (Fast) or ignored: a peer we choke knows that its
            // requests are discarded (BEP 3).
            return self.refuse(req);
        }
        let servable = swarm.has_piece(torrent, req.index);
        let fits = self.fits_accepted(QUEUED_REQUEST_COST);
        if fast {
            if servable && fits && self.queue.len() < self.config.reqq as usize {
                self.queue.push_back(block);
                return Ok(());
            }
            return self.refuse(req);
        }
        if !servable {
            // No reject exists without Fast, and waiting for a block that
            // never comes stalls the peer.
            return Err(SessionError::PieceUnavailable { piece: req.index });
        }
        // No `reqq` bound: peers without Fast may ignore it (rtorrent sizes
        // its pipeline by its rate). The queue is bounded by the byte budget
        // through `wants_input`: past it, requests wait unread in the socket.
        self.queue.push_back(block);
        Ok(())
    }

    /// A request that will not be served: rejected for Fast peers, ignored
    /// for the others (only while we choke them, see `on_request`); either
    /// way counted towards the flood bound.
    pub(crate) fn refuse(&mut self, req: BlockRequest) -> Result<(), SessionError> {
        self.reject(req);
        self.refused_total = self.refused_total.saturating_add(1);
        self.refused = self.refused.saturating_add(1);
        if self.refused > self.config.max_refused_requests {
            return Err(SessionError::RequestFlood {
                refused: self.refused,
            });
        }
        Ok(())
    }

    /// BEP 52 `hash request`: checked at once against what is cheap to
    /// know (a file of this torrent, `length` a power of two of at most
    /// [`MAX_HASHES_ANSWERED`]), then answered when the socket has room,
    /// if the answer fits the byte budget; otherwise `hash reject`.
    fn on_hash_request(&mut self, req: HashRequest, ctx: &TorrentContext) {
        let valid = req.length >= 2
            && req.length.is_power_of_two()
            && req.length <= MAX_HASHES_ANSWERED
            && ctx.v2_file(&req.pieces_root).is_some();
        if !valid {
            self.push(&Message::HashReject(req));
            return;
        }
        let hashes = u64::from(req.length) + u64::from(req.proof_layers.min(64));
        let cost = usize::try_from(hashes * crate::wire::HASH_LEN as u64)
            .unwrap_or(usize::MAX)
            .saturating_add(5 + crate::wire::HASH_REQUEST_LEN);
        if !self.defer_answer(ExtRequest::Hashes(req), cost) {
            self.push(&Message::HashReject(req));
        }
    }

    /// Sends `reject request` to Fast peers (nothing to the others).
    pub(crate) fn reject(&mut self, req: BlockRequest) {
        if self.fast() {
            self.push(&Message::RejectRequest(req));
        }
    }

    /// `cancel`: a queued request is removed (and, for Fast peers, answered
    /// with `reject request` as BEP 6 requires: every request gets a block or
    /// a reject). A request already handed out cannot be recalled.
    fn on_cancel(&mut self, req: BlockRequest) {
        let pos = self.queue.iter().position(|b| {
            b.piece().get() == req.index && b.begin() == req.begin && b.length() == req.length
        });
        if let Some(pos) = pos {
            self.queue.remove(pos);
            self.reject(req);
        }
    }
}
