//! A shard's view of the torrents it serves: the shared, immutable parts
//! (`Arc`s) and its own copy of which pieces are servable.
//!
//! Availability is per shard, not shared: the control thread decides (a
//! file changed, a re-check passed) and tells every shard, which updates
//! its bitfield between two polls. Sessions read it through [`Swarm`]
//! without any synchronisation.
//!
//! Torrents come and go at run time (`ToShard::Attach` / `Detach`). The
//! table is indexed by the slot of a [`TorrentId`] (`crate::ids`), and
//! every lookup compares the whole id, generation included: a session or
//! a message naming a torrent that was detached finds nothing, even once
//! its slot holds another torrent.

use std::collections::HashMap;
use std::sync::Arc;

use seedcore_protocol::session::{Swarm, TorrentContext, TorrentId};

use crate::ids::slot;
use crate::limits::LocalBucket;
use crate::torrents::TorrentData;

/// One torrent as a shard sees it.
#[derive(Debug)]
pub(crate) struct ShardTorrent {
    pub(crate) id: TorrentId,
    pub(crate) ctx: Arc<TorrentContext>,
    pub(crate) data: Arc<TorrentData>,
    /// One bit per piece, bit `p % 64` of word `p / 64`.
    have: Vec<u64>,
    have_count: u32,
    /// Its own upload limit, when it has one.
    pub(crate) limit: Option<LocalBucket>,
    /// Peers connected on this shard now.
    pub(crate) peers: u32,
    /// Block bytes sent, ever, on this shard.
    pub(crate) uploaded: u64,
    /// What the last stats report said (reports carry differences).
    pub(crate) reported: (u32, u64),
}

impl ShardTorrent {
    pub(crate) fn new(
        id: TorrentId,
        ctx: Arc<TorrentContext>,
        data: Arc<TorrentData>,
        have: &[bool],
    ) -> Self {
        let mut t = ShardTorrent {
            id,
            ctx,
            data,
            have: vec![0; have.len().div_ceil(64)],
            have_count: 0,
            limit: None,
            peers: 0,
            uploaded: 0,
            reported: (0, 0),
        };
        for (p, _) in (0u32..).zip(have).filter(|(_, h)| **h) {
            t.set(p, true);
        }
        t
    }

    fn has(&self, piece: u32) -> bool {
        self.have
            .get(piece as usize / 64)
            .is_some_and(|w| w & (1u64 << (piece % 64)) != 0)
    }

    /// Sets a piece's bit; returns whether it changed.
    pub(crate) fn set(&mut self, piece: u32, on: bool) -> bool {
        if piece >= self.ctx.piece_count() {
            return false;
        }
        let Some(w) = self.have.get_mut(piece as usize / 64) else {
            return false;
        };
        let bit = 1u64 << (piece % 64);
        if (*w & bit != 0) == on {
            return false;
        }
        if on {
            *w |= bit;
            self.have_count += 1;
        } else {
            *w &= !bit;
            self.have_count -= 1;
        }
        true
    }
}

/// Every torrent of the shard, indexed by the slot of its `TorrentId`.
#[derive(Debug, Default)]
pub(crate) struct Table {
    by_hash: HashMap<[u8; 20], TorrentId>,
    torrents: Vec<Option<ShardTorrent>>,
}

impl Table {
    /// Adds a torrent under its id (replacing whatever held the slot).
    pub(crate) fn insert(&mut self, t: ShardTorrent) {
        let id = t.id;
        let s = slot(id);
        if self.torrents.get(s).is_some_and(Option::is_some) {
            self.remove(
                self.torrents
                    .get(s)
                    .and_then(|o| o.as_ref())
                    .map_or(id, |o| o.id),
            );
        }
        let hashes = t.ctx.info_hashes();
        if let Some(v1) = hashes.v1 {
            self.by_hash.insert(v1.0, id);
        }
        if let Some(v2) = hashes.v2 {
            self.by_hash.insert(v2.truncated(), id);
        }
        if self.torrents.len() <= s {
            self.torrents.resize_with(s + 1, || None);
        }
        if let Some(x) = self.torrents.get_mut(s) {
            *x = Some(t);
        }
    }

    /// Removes a torrent; `None` when the table does not hold that id.
    pub(crate) fn remove(&mut self, id: TorrentId) -> Option<ShardTorrent> {
        let entry = self.torrents.get_mut(slot(id))?;
        if entry.as_ref().is_none_or(|t| t.id != id) {
            return None;
        }
        let t = entry.take()?;
        let hashes = t.ctx.info_hashes();
        for h in [hashes.v1.map(|h| h.0), hashes.v2.map(|h| h.truncated())]
            .into_iter()
            .flatten()
        {
            if self.by_hash.get(&h) == Some(&id) {
                self.by_hash.remove(&h);
            }
        }
        // Keep the table short when its tail empties.
        while self.torrents.last().is_some_and(Option::is_none) {
            self.torrents.pop();
        }
        Some(t)
    }

    pub(crate) fn get(&self, id: TorrentId) -> Option<&ShardTorrent> {
        self.torrents
            .get(slot(id))
            .and_then(Option::as_ref)
            .filter(|t| t.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: TorrentId) -> Option<&mut ShardTorrent> {
        self.torrents
            .get_mut(slot(id))
            .and_then(Option::as_mut)
            .filter(|t| t.id == id)
    }
}

impl Swarm for Table {
    fn lookup(&self, wire_hash: &[u8; 20]) -> Option<TorrentId> {
        self.by_hash.get(wire_hash).copied()
    }

    fn torrent(&self, id: TorrentId) -> Option<&TorrentContext> {
        self.get(id).map(|t| &*t.ctx)
    }

    fn has_piece(&self, id: TorrentId, piece: u32) -> bool {
        self.get(id).is_some_and(|t| t.has(piece))
    }

    fn have_count(&self, id: TorrentId) -> u32 {
        self.get(id).map_or(0, |t| t.have_count)
    }

    fn write_bitfield(&self, id: TorrentId, piece_count: u32, out: &mut Vec<u8>) {
        let n = piece_count.div_ceil(8) as usize;
        let Some(t) = self.get(id) else {
            out.resize(out.len() + n, 0);
            return;
        };
        // Bits are stored low-first in u64 words; the wire wants the high bit
        // of each byte first.
        let start = out.len();
        out.extend(
            t.have
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .map(u8::reverse_bits)
                .take(n),
        );
        out.resize(start + n, 0);
    }
}
