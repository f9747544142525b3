//! BEP 10 extension messages on a seed: our extended handshake, and the
//! extensions we serve: `ut_metadata` (BEP 9) and `LT_metadata` hand out the
//! info dictionary (allowed on private torrents too: BEP 27 forbids only DHT
//! and PEX), `ut_pex` (BEP 11, never on private torrents), `lt_donthave`.
//!
//! A broken extended handshake closes the connection; an undecodable message
//! of an optional extension is skipped, and only too many of them close it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::answers::{self, ExtRequest};
use super::config::ext_ids;
use super::error::SessionError;
use super::peer::{PeerSession, Phase};
use super::{PexEntry, PexPeers, SessionEvent, TorrentContext};
use crate::ext::{
    names, ExtError, ExtendedHandshake, LtDontHave, LtMetadata, UtMetadata, UtPex,
    METADATA_PIECE_SIZE,
};
use crate::wire::Message;

/// Most peers of each kind in one `ut_pex` message we send (BEP 11).
pub(crate) const MAX_PEX_PEERS: usize = 50;
/// Most peers accepted per list in one `ut_pex` message received.
const MAX_PEX_IN: usize = 200;
/// `ut_pex` messages arriving sooner than this after the last accepted one
/// are ignored (BEP 11 asks for at most one a minute).
const MIN_PEX_INTERVAL: Duration = Duration::from_secs(45);
/// The largest `LT_metadata` block served in one message.
pub(crate) const MAX_LT_METADATA_REPLY: usize = 256 * 1024;

impl PeerSession {
    /// Queues our BEP 10 handshake.
    pub(crate) fn send_extended_handshake(&mut self, ctx: &TorrentContext) {
        let mut hs = ExtendedHandshake {
            p: self.config.listen_port,
            v: Some(self.config.client_name.clone()),
            yourip: Some(self.peer_ip()),
            reqq: Some(self.config.reqq),
            metadata_size: Some(ctx.metadata_size()),
            upload_only: Some(true),
            ..ExtendedHandshake::default()
        };
        hs.m.insert(names::UT_METADATA.into(), ext_ids::UT_METADATA);
        hs.m.insert(names::LT_METADATA.into(), ext_ids::LT_METADATA);
        hs.m.insert(names::LT_DONTHAVE.into(), ext_ids::LT_DONTHAVE);
        if !ctx.private() {
            hs.m.insert(names::UT_PEX.into(), ext_ids::UT_PEX);
        }
        if let Ok(payload) = hs.to_bytes() {
            self.push_opening(&Message::Extended {
                id: crate::ext::HANDSHAKE_ID,
                payload: &payload,
            });
        }
    }

    /// One incoming extended message, by the id we assigned.
    pub(crate) fn on_extended(
        &mut self,
        now: Instant,
        id: u8,
        payload: &[u8],
        ctx: &TorrentContext,
    ) -> Result<(), SessionError> {
        let result = match id {
            crate::ext::HANDSHAKE_ID => {
                let hs =
                    ExtendedHandshake::decode(payload).map_err(SessionError::ExtendedHandshake)?;
                self.on_extended_handshake(hs);
                Ok(())
            }
            ext_ids::UT_METADATA => {
                UtMetadata::decode(payload).map(|m| self.on_ut_metadata(m, ctx))
            }
            ext_ids::LT_METADATA => {
                LtMetadata::decode(payload).map(|m| self.on_lt_metadata(m, ctx))
            }
            ext_ids::UT_PEX if !ctx.private() => self.on_pex(now, payload),
            ext_ids::LT_DONTHAVE => LtDontHave::decode(payload).map(|d| {
                self.pieces.dont_have(d.piece, self.piece_count);
            }),
            // Not ours: BEP 10 says to ignore unknown ids.
            _ => Ok(()),
        };
        match result {
            // BEP 9: unknown message types are ignored, not errors.
            Ok(()) | Err(ExtError::UnknownType { .. }) => Ok(()),
            Err(last) => {
                self.bad_ext_messages = self.bad_ext_messages.saturating_add(1);
                if self.bad_ext_messages > self.config.max_bad_extension_messages {
                    Err(SessionError::BadExtensionMessages {
                        count: self.bad_ext_messages,
                        last,
                    })
                } else {
                    Ok(())
                }
            }
        }
    }

    /// BEP 10: `m` is additive across handshakes; an id of 0 turns an
    /// extension off.
    fn on_extended_handshake(&mut self, hs: ExtendedHandshake) {
        let slots = [
            (names::UT_METADATA, &mut self.ext.ut_metadata),
            (names::UT_PEX, &mut self.ext.ut_pex),
            (names::LT_METADATA, &mut self.ext.lt_metadata),
            (names::LT_DONTHAVE, &mut self.ext.lt_donthave),
        ];
        for (name, slot) in slots {
            if let Some(&id) = hs.m.get(name) {
                *slot = (id != 0).then_some(id);
            }
        }
        if hs.v.is_some() {
            self.ext.client = hs.v.clone();
        }
        if hs.p.is_some_and(|p| p != 0) {
            self.ext.listen_port = hs.p;
        }
        if hs.reqq.is_some() {
            self.ext.reqq = hs.reqq;
        }
        self.ext.seen = true;
        self.event(SessionEvent::ExtendedHandshake {
            client: self.ext.client.clone(),
            listen_port: self.ext.listen_port,
            upload_only: hs.upload_only.unwrap_or(false),
        });
    }

    /// BEP 9: a request is answered with that 16 KiB piece of the info
    /// dictionary (built when the socket has room, as a shared slice), or
    /// a reject when it is out of range or its answer does not fit the
    /// peer's byte budget. Requires the peer to have told us its id for
    /// `ut_metadata`.
    fn on_ut_metadata(&mut self, msg: UtMetadata<'_>, ctx: &TorrentContext) {
        let UtMetadata::Request { piece } = msg else {
            return; // data and rejects: we never ask.
        };
        let Some(id) = self.ext.ut_metadata else {
            return;
        };
        let len = ctx.info_bytes().len();
        let data = (piece as usize)
            .checked_mul(METADATA_PIECE_SIZE)
            .filter(|start| *start < len)
            .map(|start| (len - start).min(METADATA_PIECE_SIZE));
        let accepted = data.is_some_and(|data| {
            let cost = answers::UT_METADATA_OVERHEAD + data;
            self.defer_answer(ExtRequest::UtMetadata { id, piece }, cost)
        });
        if !accepted {
            if let Ok(payload) = (UtMetadata::Reject { piece }).to_vec() {
                self.push(&Message::Extended {
                    id,
                    payload: &payload,
                });
            }
        }
    }

    /// libtorrent's `LT_metadata`: the range is in 256ths of the size. At
    /// most [`MAX_LT_METADATA_REPLY`] bytes are answered, as a shared slice
    /// when the socket has room; anything else is `don't have`.
    fn on_lt_metadata(&mut self, msg: LtMetadata<'_>, ctx: &TorrentContext) {
        let LtMetadata::Request { start, size } = msg else {
            return;
        };
        let Some(id) = self.ext.lt_metadata else {
            return;
        };
        let total = ctx.info_bytes().len() as u64;
        let (start, size) = (u64::from(start), u64::from(size));
        let range = (start + size <= 256)
            .then(|| {
                let from = usize::try_from(start * total / 256).ok()?;
                let to = usize::try_from((start + size) * total / 256).ok()?;
                (to - from <= MAX_LT_METADATA_REPLY).then_some((from, to))
            })
            .flatten();
        let accepted = range.is_some_and(|(from, to)| {
            let cost = answers::LT_METADATA_OVERHEAD + (to - from);
            self.defer_answer(ExtRequest::LtMetadata { id, from, to }, cost)
        });
        if !accepted {
            if let Ok(payload) = LtMetadata::DontHave.to_vec() {
                self.push(&Message::Extended {
                    id,
                    payload: &payload,
                });
            }
        }
    }

    fn on_pex(&mut self, now: Instant, payload: &[u8]) -> Result<(), ExtError> {
        let pex = UtPex::decode_with_limit(payload, MAX_PEX_IN)?;
        if self
            .last_pex_in
            .is_some_and(|t| now.saturating_duration_since(t) < MIN_PEX_INTERVAL)
        {
            return Ok(());
        }
        self.last_pex_in = Some(now);
        if !pex.is_empty() {
            self.event(SessionEvent::Pex(PexPeers {
                added: pex.added,
                added6: pex.added6,
                dropped: pex.dropped,
                dropped6: pex.dropped6,
            }));
        }
        Ok(())
    }

    /// See [`PeerSession::send_pex`].
    pub(crate) fn queue_pex(&mut self, added: &[PexEntry], dropped: &[SocketAddr]) -> bool {
        if self.phase != Phase::Established || self.private {
            return false;
        }
        let Some(id) = self.ext.ut_pex else {
            return false;
        };
        let me = self.reachable_addr();
        let mut pex = UtPex::default();
        for (addr, flags) in added {
            if Some(*addr) == me || pex.added.len() + pex.added6.len() >= MAX_PEX_PEERS {
                continue;
            }
            match addr {
                SocketAddr::V4(a) => pex.added.push((*a, *flags)),
                SocketAddr::V6(a) => pex.added6.push((*a, *flags)),
            }
        }
        for addr in dropped {
            if Some(*addr) == me || pex.dropped.len() + pex.dropped6.len() >= MAX_PEX_PEERS {
                continue;
            }
            match addr {
                SocketAddr::V4(a) => pex.dropped.push(*a),
                SocketAddr::V6(a) => pex.dropped6.push(*a),
            }
        }
        if pex.is_empty() {
            return false;
        }
        match pex.to_vec() {
            Ok(payload) => {
                self.push(&Message::Extended {
                    id,
                    payload: &payload,
                });
                self.pex_sent = true;
                true
            }
            Err(_) => false,
        }
    }
}
