//! Torrent ids: how a torrent is named between the control core and the
//! shards while the set of torrents changes under them.
//!
//! # Lifetime
//!
//! A [`TorrentId`] names one *activation* of a torrent in the shards: it is
//! handed out when the torrent starts being served and retired when it is
//! removed or paused (a resumed torrent gets a new one). It is a slot in
//! the shards' tables (low [`SLOT_BITS`] bits, so tables stay dense `Vec`s
//! and a lookup on the serving path is an index and a compare) plus a
//! generation (the high bits), bumped every time the slot is reused.
//!
//! A slot is reused only once every shard has confirmed it dropped the old
//! activation (`FromShard::Detached`), and freed slots wait in a FIFO, so
//! the oldest free slot is reused first. The generation is the second
//! guard: a message still in flight that names the old activation (a
//! shard's `PeerUp` sent just before the detach, say) carries the old
//! generation and matches nothing.

use std::collections::VecDeque;

use seedcore_protocol::session::TorrentId;

/// Bits of a [`TorrentId`] that name the slot: 4,194,304 torrents at once.
pub(crate) const SLOT_BITS: u32 = 22;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const GENERATIONS: u32 = 1 << (32 - SLOT_BITS);

/// The slot of an id (its index in the shards' tables).
pub(crate) fn slot(id: TorrentId) -> usize {
    (id.0 & SLOT_MASK) as usize
}

/// Hands out ids; owned by the control core.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    /// Next generation per slot ever used.
    generation: Vec<u32>,
    /// Slots free for reuse, oldest first.
    free: VecDeque<u32>,
}

impl Ids {
    /// A new id, or `None` when every slot is in use.
    pub(crate) fn allocate(&mut self) -> Option<TorrentId> {
        let slot = match self.free.pop_front() {
            Some(s) => s,
            None => {
                let s = u32::try_from(self.generation.len()).ok()?;
                if s > SLOT_MASK {
                    return None;
                }
                self.generation.push(0);
                s
            }
        };
        let g = self.generation.get(slot as usize).copied().unwrap_or(0);
        Some(TorrentId(g << SLOT_BITS | slot))
    }

    /// Returns an id's slot for reuse, once nothing refers to it any more.
    pub(crate) fn release(&mut self, id: TorrentId) {
        let s = id.0 & SLOT_MASK;
        if let Some(g) = self.generation.get_mut(s as usize) {
            *g = (*g + 1) % GENERATIONS;
            self.free.push_back(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_oldest_first_with_a_new_generation() {
        let mut ids = Ids::default();
        let a = ids.allocate().unwrap();
        let b = ids.allocate().unwrap();
        assert_eq!((slot(a), slot(b)), (0, 1));
        ids.release(a);
        ids.release(b);
        let c = ids.allocate().unwrap();
        assert_eq!(slot(c), 0, "oldest free slot first");
        assert_ne!(c, a, "a new generation");
        let d = ids.allocate().unwrap();
        assert_eq!(slot(d), 1);
        let e = ids.allocate().unwrap();
        assert_eq!(slot(e), 2, "no free slot left: a new one");
    }
}
