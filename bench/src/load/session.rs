//! One simulated leecher's side of the protocol, without I/O: bytes in,
//! bytes out ([`Session::out`]), counters updated. The worker owns the
//! socket and calls [`Session::on_bytes`] with everything received so far.
//!
//! The sequence: our handshake (extension protocol + fast bits) is queued
//! at once; on the seeder's handshake we check the info-hash, then send
//! `have none` (when both sides speak Fast, which then requires a first
//! have-message), the BEP 10 extended handshake (when both speak LTEP) and
//! `interested`. After `unchoke` a pipeline of 16 KiB requests is kept
//! full, as deep as [`Pipeline`] says (a fixed depth, the seeder's `reqq`,
//! or libtorrent's rate-based sizing; see [`super::depth`]). A `choke` moves every
//! outstanding request back to a retry list, whether or not Fast is on
//! (a Fast seeder rejects them too, and a block that was served anyway is
//! still accepted from the retry list), so no request can be lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use seedcore_protocol::ext::{ExtendedHandshake, HANDSHAKE_ID};
use seedcore_protocol::wire::{
    decode, BlockRequest, Decoded, ExtensionProtocol, Handshake, Limits, Message, Reserved,
    HANDSHAKE_LEN,
};

use super::depth::{DepthConfig, Pipeline};
use super::pieces::{BlockOutcome, HaveSet, Order, Pieces};
use super::stats::{ErrorKind, ThreadStats};
use crate::torrent::Torrent;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The handshake was malformed or for another torrent.
    #[error("handshake: {0}")]
    Handshake(String),
    /// The seeder broke the protocol after the handshake.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl SessionError {
    /// The report category.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SessionError::Handshake(_) => ErrorKind::HandshakeFailed,
            SessionError::Protocol(_) => ErrorKind::ProtocolError,
        }
    }
}

/// Run-wide settings every session shares.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// How many requests are kept in flight.
    pub depth: DepthConfig,
    /// Piece order.
    pub order: Order,
    /// SHA-1-check completed pieces.
    pub verify: bool,
    /// Idle peer: handshake and extended handshake, then silence (never
    /// `interested`, never a request), to measure what a held connection
    /// costs the seeder.
    pub idle: bool,
}

/// What the worker passes in with each batch of bytes.
pub(crate) struct Ctx<'a> {
    pub torrent: &'a Torrent,
    pub stats: &'a mut ThreadStats,
    /// When the bytes were read (one clock read per `recv`).
    pub now: Instant,
    /// Block bytes this peer slot received, for per-peer throughput.
    pub peer_bytes: &'a mut u64,
}

#[derive(Clone, Copy, Debug)]
struct Outstanding {
    req: BlockRequest,
    sent: Instant,
}

/// The reserved bits the load generator sends.
pub fn our_reserved() -> Reserved {
    let mut r = Reserved::EMPTY;
    r.set_extension_protocol(true).set_fast(true);
    r
}

/// One leecher's protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    handshaken: bool,
    choked: bool,
    fast: bool,
    have: HaveSet,
    pipeline: Pipeline,
    idle: bool,
    outstanding: VecDeque<Outstanding>,
    retry: Vec<BlockRequest>,
    pieces: Pieces,
    limits: Limits,
    last_send: Instant,
    /// Bytes to send, in order; the worker writes and drains them.
    pub out: Vec<u8>,
}

impl Session {
    /// A new session; our handshake is already queued in `out`.
    pub(crate) fn new(
        torrent: &Torrent,
        cfg: &SessionConfig,
        peer_id: [u8; 20],
        seed: u64,
        now: Instant,
    ) -> Session {
        let mut out = Vec::with_capacity(256);
        Handshake::new(our_reserved(), torrent.info_hash, peer_id).encode(&mut out);
        Session {
            handshaken: false,
            choked: true,
            fast: false,
            have: HaveSet::Nothing,
            pipeline: Pipeline::new(cfg.depth, now),
            idle: cfg.idle,
            outstanding: VecDeque::new(),
            retry: Vec::new(),
            pieces: Pieces::new(cfg.order, seed, cfg.verify),
            limits: Limits::for_pieces(torrent.geometry.piece_count()),
            last_send: now,
            out,
        }
    }

    /// Whether the seeder's handshake has arrived.
    pub(crate) fn handshaken(&self) -> bool {
        self.handshaken
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether the seeder lets us request now.
    pub(crate) fn unchoked(&self) -> bool {
        self.handshaken && !self.choked && !self.idle
    }

    /// The pipeline depth this peer aims for now.
    pub(crate) fn target_depth(&self) -> u32 {
        self.pipeline.target()
    }

    /// When the session wants [`Session::on_time`] called next, beyond the
    /// worker's regular tick: the next simulated write completing.
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        self.pipeline.next_release(self.unchoked())
    }

    /// Time passed: slots of written blocks come free, the rate estimate
    /// rolls, and the pipeline is topped up.
    pub(crate) fn on_time(&mut self, ctx: &mut Ctx<'_>) {
        self.pipeline.on_time(ctx.now, !self.choked);
        self.fill(ctx);
    }

    /// Queues a keep-alive when nothing was sent for `idle`.
    pub(crate) fn keepalive_if_idle(&mut self, now: Instant, idle: Duration) {
        if self.handshaken && now.saturating_duration_since(self.last_send) >= idle {
            push(&mut self.out, &Message::KeepAlive);
            self.last_send = now;
        }
    }

    /// Consumes whole messages at the start of `buf` and returns how many
    /// bytes they used (the caller keeps the rest for the next call). Then
    /// tops up the request pipeline.
    pub(crate) fn on_bytes(
        &mut self,
        buf: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<usize, SessionError> {
        let mut used = 0;
        if !self.handshaken {
            match Handshake::decode(buf) {
                Err(e) => return Err(SessionError::Handshake(e.to_string())),
                Ok(None) => return Ok(0),
                Ok(Some(h)) => self.on_handshake(&h, ctx)?,
            }
            used = HANDSHAKE_LEN;
        }
        while let Some(rest) = buf.get(used..) {
            match decode(rest, &self.limits) {
                Err(e) => return Err(SessionError::Protocol(e.to_string())),
                Ok(Decoded::NeedMore { .. }) => break,
                Ok(Decoded::Message { msg, consumed }) => {
                    self.on_message(msg, ctx)?;
                    used += consumed;
                }
            }
        }
        self.pipeline.on_time(ctx.now, !self.choked);
        self.fill(ctx);
        Ok(used)
    }

    fn on_handshake(&mut self, h: &Handshake, ctx: &mut Ctx<'_>) -> Result<(), SessionError> {
        if h.info_hash != ctx.torrent.info_hash {
            return Err(SessionError::Handshake(format!(
                "the peer answered for info-hash {}, not {}",
                hex(&h.info_hash),
                hex(&ctx.torrent.info_hash)
            )));
        }
        let ours = our_reserved();
        let common = ours.common(&h.reserved);
        self.fast = common.fast();
        self.limits = self
            .limits
            .with_extension(ExtensionProtocol::negotiate(&ours, &h.reserved));
        self.handshaken = true;
        ctx.stats.counters.handshakes += 1;
        if self.fast {
            push(&mut self.out, &Message::HaveNone);
        }
        if common.extension_protocol() {
            let ext = ExtendedHandshake {
                v: Some(concat!("seedcore-bench ", env!("CARGO_PKG_VERSION")).to_string()),
                reqq: Some(self.pipeline.target()),
                ..ExtendedHandshake::default()
            };
            if let Ok(payload) = ext.to_bytes() {
                push(
                    &mut self.out,
                    &Message::Extended {
                        id: HANDSHAKE_ID,
                        payload: &payload,
                    },
                );
            }
        }
        if !self.idle {
            push(&mut self.out, &Message::Interested);
        }
        self.last_send = ctx.now;
        Ok(())
    }

    fn on_message(&mut self, msg: Message<'_>, ctx: &mut Ctx<'_>) -> Result<(), SessionError> {
        let pieces = ctx.torrent.geometry.piece_count();
        let c = &mut ctx.stats.counters;
        match msg {
            Message::KeepAlive => c.keepalives += 1,
            Message::Choke => {
                c.chokes += 1;
                self.choked = true;
                self.retry.extend(self.outstanding.drain(..).map(|o| o.req));
            }
            Message::Unchoke => {
                c.unchokes += 1;
                self.choked = false;
            }
            Message::Have { index } if !self.have.set(index, pieces) => {
                return Err(SessionError::Protocol(format!(
                    "have for piece {index} of a {pieces}-piece torrent"
                )));
            }
            Message::Bitfield(bits) => {
                self.have = HaveSet::from_bitfield(bits, pieces).map_err(SessionError::Protocol)?;
            }
            Message::HaveAll => self.have = HaveSet::All,
            Message::HaveNone => self.have = HaveSet::Nothing,
            Message::RejectRequest(r) => {
                c.rejects += 1;
                if let Some(pos) = self.find_outstanding(r.index, r.begin) {
                    if let Some(o) = self.outstanding.remove(pos) {
                        self.retry.push(o.req);
                    }
                }
            }
            Message::Piece { index, begin, data } => self.on_block(index, begin, data, ctx)?,
            Message::Extended {
                id: HANDSHAKE_ID,
                payload,
            } => {
                // A malformed extended handshake costs nothing here: we use
                // only `reqq` from it.
                if let Ok(h) = ExtendedHandshake::decode(payload) {
                    self.pipeline.on_seeder_reqq(h.reqq);
                    if let Some(q) = self.pipeline.seeder_reqq() {
                        ctx.stats.depth.seeder_reqq(q);
                    }
                }
            }
            // Nothing else changes what a downloading leecher does.
            _ => {}
        }
        Ok(())
    }

    fn find_outstanding(&self, index: u32, begin: u32) -> Option<usize> {
        self.outstanding
            .iter()
            .position(|o| o.req.index == index && o.req.begin == begin)
    }

    fn on_block(
        &mut self,
        index: u32,
        begin: u32,
        data: &[u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<(), SessionError> {
        let len = data.len() as u64;
        let stats = &mut *ctx.stats;
        stats.counters.blocks += 1;
        stats.counters.data_bytes += len;
        *ctx.peer_bytes += len;
        self.pipeline.on_block(len, ctx.now);
        let expected = if let Some(pos) = self.find_outstanding(index, begin) {
            self.outstanding.remove(pos).map(|o| {
                let us = ctx.now.saturating_duration_since(o.sent).as_micros();
                stats.record_latency_us(u64::try_from(us).unwrap_or(u64::MAX));
                o.req.length
            })
        } else {
            let pos = self
                .retry
                .iter()
                .position(|r| r.index == index && r.begin == begin);
            pos.map(|p| self.retry.swap_remove(p).length)
        };
        let Some(want) = expected else {
            stats.counters.unexpected_blocks += 1;
            return Ok(());
        };
        if u64::from(want) != len {
            return Err(SessionError::Protocol(format!(
                "piece {index} offset {begin}: got {len} bytes for a {want}-byte request"
            )));
        }
        if let BlockOutcome::Completed(verdict) =
            self.pieces.on_block(index, begin, data, ctx.torrent)
        {
            stats.counters.pieces_completed += 1;
            match verdict {
                Some(true) => stats.counters.pieces_verified += 1,
                Some(false) => stats.counters.hash_failures += 1,
                None => {}
            }
        }
        Ok(())
    }

    /// Keeps the pipeline's target of requests in flight while unchoked
    /// (blocks still being "written" hold their slots).
    fn fill(&mut self, ctx: &mut Ctx<'_>) {
        if !self.unchoked() || !self.pipeline.refill_due(ctx.now) {
            return;
        }
        let target = usize::try_from(self.pipeline.target()).unwrap_or(usize::MAX);
        while self.outstanding.len() + self.pipeline.writing() < target {
            let next = match self.retry.pop() {
                Some(r) => Some(r),
                None => self.pieces.next_request(&self.have, &ctx.torrent.geometry),
            };
            let Some(req) = next else { break };
            push(&mut self.out, &Message::Request(req));
            self.outstanding
                .push_back(Outstanding { req, sent: ctx.now });
            ctx.stats.counters.requests += 1;
            self.last_send = ctx.now;
        }
        self.pipeline.refilled(ctx.now);
    }
}

/// Encodes a message the codec can always encode (fixed-size messages and
/// our own small payloads).
fn push(out: &mut Vec<u8>, msg: &Message<'_>) {
    let _ = msg.encode(out);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
