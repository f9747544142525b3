//! Reading what the peer sends: the handshake in two steps (48 bytes to pick
//! the torrent, 20 for the peer id), then length-prefixed messages through
//! the wire decoder, each checked against this torrent and this session's
//! bounds.

use std::net::IpAddr;
use std::time::Instant;

use super::error::SessionError;
use super::fast::allowed_fast_set;
use super::hashes::answer_hash_request;
use super::peer::{PeerSession, Phase};
use super::{SessionEvent, Swarm, TorrentContext};
use crate::wire::{decode, BlockRequest, Decoded, HandshakePrefix, Message, HANDSHAKE_PREFIX_LEN};

/// Length of the peer id that completes a handshake.
const PEER_ID_LEN: usize = 20;

impl PeerSession {
    /// Feeds bytes received from the peer. `data` is everything received
    /// and not yet consumed (the runtime appends new bytes to what the last
    /// call left). Returns how many bytes from the front of `data` were
    /// used; keep the rest for the next call (it is always a partial
    /// message, shorter than [`PeerSession::max_frame`]).
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
        if !data.is_empty() {
            self.last_recv = now;
        }
        let mut used = 0usize;
        let result = self.consume(now, data, &mut used, swarm);
        self.received = self.received.saturating_add(used as u64);
        match result {
            Ok(()) => {
                if self.control.len() > self.config.max_pending_control {
                    return Err(self.close(SessionError::ControlBacklog {
                        pending: self.control.len(),
                        max: self.config.max_pending_control,
                    }));
                }
                Ok(used)
            }
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
            self.push(&Message::HaveAll);
        } else if fast && have == 0 {
            self.push(&Message::HaveNone);
        } else if have > 0 {
            let mut bits = Vec::with_capacity(count.div_ceil(8) as usize);
            swarm.write_bitfield(torrent, count, &mut bits);
            self.push(&Message::Bitfield(&bits));
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
                        self.push(&Message::AllowedFast { index: piece });
                    }
                }
            }
        }
        if let Some(port) = self.config.dht_port {
            if self.our_reserved.dht() && self.peer_reserved.dht() {
                self.push(&Message::Port(port));
            }
        }
        if !self.am_choking {
            self.push(&Message::Unchoke);
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
            let rest = data.get(*used..).unwrap_or_default();
            let Decoded::Message { msg, consumed } = decode(rest, &limits)? else {
                return Ok(());
            };
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
                if port != 0 {
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
                let reply = answer_hash_request(ctx, &req);
                self.control.extend_from_slice(&reply);
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
        let block = match ctx.geometry().block(req.index, req.begin, req.length) {
            Ok(b) => b,
            Err(e) if !self.fast() => return Err(SessionError::InvalidRequest(e)),
            Err(_) => return self.refuse(req),
        };
        let Some(torrent) = self.torrent else {
            return Ok(());
        };
        let servable = swarm.has_piece(torrent, req.index);
        let allowed = !self.am_choking || self.allowed_fast.contains(&req.index);
        let room = self.queue.len() < self.config.reqq as usize;
        if servable && allowed && room {
            self.queue.push_back(block);
            Ok(())
        } else {
            self.refuse(req)
        }
    }

    /// A request that will not be served: rejected for Fast peers, dropped
    /// for the others; either way counted towards the flood bound.
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
