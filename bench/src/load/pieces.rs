//! What a simulated leecher asks for next, and what it does with a block:
//! the seeder's pieces ([`HaveSet`]), the piece order ([`Picker`]) and the
//! pieces in progress ([`Pieces`]), which optionally SHA-1 each piece as
//! its blocks arrive.
//!
//! The leecher never stores data. With `--verify` a piece is hashed
//! incrementally, in order, straight from the receive buffer; a block that
//! arrives ahead of its turn (only after a choke or reject made it be
//! re-requested) is copied aside until the gap before it is filled. So the
//! memory per peer stays at a few hash states, not at pieces in flight.
//! A peer keeps downloading until the run ends: once it has every piece it
//! starts over, so a small torrent still loads the seeder for the whole run.

use seedcore_hash::Sha1;
use seedcore_protocol::geometry::{Geometry, BLOCK_SIZE};
use seedcore_protocol::wire::BlockRequest;

use crate::rng::Rng;
use crate::torrent::Torrent;

/// In which order a peer requests pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Uniformly random pieces (what a swarm of rarest-first clients looks
    /// like to a seed: scattered reads).
    #[default]
    Random,
    /// Piece 0, 1, 2, ... and around again (a streaming client; best case
    /// for the seeder's read-ahead).
    Sequential,
}

impl Order {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Order::Random => "random",
            Order::Sequential => "sequential",
        }
    }
}

/// Which pieces the seeder says it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HaveSet {
    /// Nothing announced yet, or `have none`.
    Nothing,
    /// `have all`.
    All,
    /// A `bitfield`, updated by `have`.
    Bits(Vec<u8>),
}

impl HaveSet {
    pub(crate) fn has(&self, index: u32) -> bool {
        match self {
            HaveSet::Nothing => false,
            HaveSet::All => true,
            HaveSet::Bits(b) => {
                let byte = usize::try_from(index / 8).ok().and_then(|i| b.get(i));
                byte.is_some_and(|v| v & (0x80 >> (index % 8)) != 0)
            }
        }
    }

    /// Records a `have`; `false` when `index` is not a piece.
    pub(crate) fn set(&mut self, index: u32, piece_count: u32) -> bool {
        if index >= piece_count {
            return false;
        }
        if let HaveSet::Nothing = self {
            *self = HaveSet::Bits(vec![0; bitfield_len(piece_count)]);
        }
        if let HaveSet::Bits(b) = self {
            let byte = usize::try_from(index / 8).ok().and_then(|i| b.get_mut(i));
            if let Some(v) = byte {
                *v |= 0x80 >> (index % 8);
            }
        }
        true
    }

    /// A `bitfield` payload, which must be exactly `ceil(pieces / 8)` bytes.
    pub(crate) fn from_bitfield(bits: &[u8], piece_count: u32) -> Result<HaveSet, String> {
        let want = bitfield_len(piece_count);
        if bits.len() != want {
            return Err(format!(
                "bitfield of {} bytes for {piece_count} pieces (expected {want})",
                bits.len()
            ));
        }
        Ok(HaveSet::Bits(bits.to_vec()))
    }

    fn is_nothing(&self) -> bool {
        matches!(self, HaveSet::Nothing)
    }
}

fn bitfield_len(piece_count: u32) -> usize {
    usize::try_from(piece_count.div_ceil(8)).unwrap_or(0)
}

/// Chooses the next piece to start.
#[derive(Clone, Debug)]
pub(crate) struct Picker {
    order: Order,
    rng: Rng,
    next_seq: u32,
}

/// Random draws tried before falling back to a scan.
const RANDOM_TRIES: usize = 8;

impl Picker {
    pub(crate) fn new(order: Order, seed: u64) -> Picker {
        Picker {
            order,
            rng: Rng::new(seed),
            next_seq: 0,
        }
    }

    /// A piece the seeder has and `busy` does not exclude, or `None`.
    pub(crate) fn pick(
        &mut self,
        have: &HaveSet,
        piece_count: u32,
        busy: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        if piece_count == 0 || have.is_nothing() {
            return None;
        }
        let ok = |i: u32| have.has(i) && !busy(i);
        let start = match self.order {
            Order::Random => {
                for _ in 0..RANDOM_TRIES {
                    let i = self.rng.below(piece_count);
                    if ok(i) {
                        return Some(i);
                    }
                }
                self.rng.below(piece_count)
            }
            Order::Sequential => self.next_seq % piece_count,
        };
        let found = (0..piece_count)
            .map(|k| (start + k) % piece_count)
            .find(|&i| ok(i))?;
        if self.order == Order::Sequential {
            self.next_seq = (found + 1) % piece_count;
        }
        Some(found)
    }
}

/// A piece being downloaded.
#[derive(Debug)]
struct Progress {
    index: u32,
    blocks: u32,
    next_block: u32,
    received: Vec<u64>,
    received_count: u32,
    hasher: Option<Sha1>,
    hashed_upto: u32,
    stash: Vec<(u32, Vec<u8>)>,
}

impl Progress {
    fn new(index: u32, blocks: u32, verify: bool) -> Progress {
        Progress {
            index,
            blocks,
            next_block: 0,
            received: vec![0; usize::try_from(blocks.div_ceil(64)).unwrap_or(0)],
            received_count: 0,
            hasher: verify.then(Sha1::new),
            hashed_upto: 0,
            stash: Vec::new(),
        }
    }

    /// Marks block `k`; `false` if it was already there.
    fn mark(&mut self, k: u32) -> bool {
        let word = usize::try_from(k / 64)
            .ok()
            .and_then(|i| self.received.get_mut(i));
        let Some(w) = word else { return false };
        let bit = 1u64 << (k % 64);
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.received_count += 1;
        true
    }

    fn hash(&mut self, begin: u32, data: &[u8]) {
        let Some(h) = self.hasher.as_mut() else {
            return;
        };
        if begin != self.hashed_upto {
            self.stash.push((begin, data.to_vec()));
            return;
        }
        h.update(data);
        self.hashed_upto = self.hashed_upto.saturating_add(block_len(data));
        while let Some(pos) = self.stash.iter().position(|(b, _)| *b == self.hashed_upto) {
            let (_, bytes) = self.stash.swap_remove(pos);
            h.update(&bytes);
            self.hashed_upto = self.hashed_upto.saturating_add(block_len(&bytes));
        }
    }
}

fn block_len(data: &[u8]) -> u32 {
    u32::try_from(data.len()).unwrap_or(u32::MAX)
}

/// What a received block did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockOutcome {
    /// Not part of a piece in progress, or already received: ignored.
    Ignored,
    /// Stored (counted, hashed if verifying).
    Stored,
    /// It completed its piece; `Some(ok)` when the piece was verified.
    Completed(Option<bool>),
}

/// The pieces one peer has in progress, and its picker.
#[derive(Debug)]
pub(crate) struct Pieces {
    active: Vec<Progress>,
    picker: Picker,
    verify: bool,
}

impl Pieces {
    pub(crate) fn new(order: Order, seed: u64, verify: bool) -> Pieces {
        Pieces {
            active: Vec::new(),
            picker: Picker::new(order, seed),
            verify,
        }
    }

    /// The next block to request: the rest of a started piece, else the
    /// first block of a new one. `None` when the seeder has nothing new.
    pub(crate) fn next_request(&mut self, have: &HaveSet, geo: &Geometry) -> Option<BlockRequest> {
        let open = self
            .active
            .iter_mut()
            .rev()
            .find(|p| p.next_block < p.blocks);
        let progress = match open {
            Some(p) => p,
            None => {
                let active = &self.active;
                let index = self.picker.pick(have, geo.piece_count(), |i| {
                    active.iter().any(|p| p.index == i)
                })?;
                let piece = geo.piece(index)?;
                self.active.push(Progress::new(
                    index,
                    geo.blocks_in_piece(piece),
                    self.verify,
                ));
                self.active.last_mut()?
            }
        };
        let block = geo.nth_block(geo.piece(progress.index)?, progress.next_block)?;
        progress.next_block += 1;
        Some(BlockRequest {
            index: block.piece().get(),
            begin: block.begin(),
            length: block.length(),
        })
    }

    /// A block arrived (its length already checked against the request).
    pub(crate) fn on_block(
        &mut self,
        index: u32,
        begin: u32,
        data: &[u8],
        torrent: &Torrent,
    ) -> BlockOutcome {
        let Some(pos) = self.active.iter().position(|p| p.index == index) else {
            return BlockOutcome::Ignored;
        };
        let Some(p) = self.active.get_mut(pos) else {
            return BlockOutcome::Ignored;
        };
        if !begin.is_multiple_of(BLOCK_SIZE) || !p.mark(begin / BLOCK_SIZE) {
            return BlockOutcome::Ignored;
        }
        p.hash(begin, data);
        if p.received_count < p.blocks {
            return BlockOutcome::Stored;
        }
        let done = self.active.swap_remove(pos);
        let verdict = done.hasher.map(|h| {
            let digest = h.finalize();
            torrent.piece_hash(index) == Some(&digest)
        });
        BlockOutcome::Completed(verdict)
    }

    /// Pieces in progress.
    #[cfg(test)]
    pub(crate) fn active_count(&self) -> usize {
        self.active.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn have_set_bits() {
        let mut h = HaveSet::Nothing;
        assert!(!h.has(0));
        assert!(h.set(9, 10));
        assert!(!h.set(10, 10));
        assert!(h.has(9) && !h.has(8));
        assert_eq!(h, HaveSet::Bits(vec![0, 0x40]));
        let b = HaveSet::from_bitfield(&[0x80, 0x00], 10).unwrap();
        assert!(b.has(0) && !b.has(1) && !b.has(100));
        assert!(HaveSet::from_bitfield(&[0xFF], 10).is_err());
        assert!(HaveSet::All.has(123));
    }

    #[test]
    fn sequential_wraps_and_skips_busy_and_missing() {
        let mut p = Picker::new(Order::Sequential, 1);
        let all = HaveSet::All;
        let got: Vec<_> = (0..5)
            .map(|_| p.pick(&all, 3, |_| false).unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2, 0, 1]);
        assert_eq!(p.pick(&all, 3, |i| i == 2), Some(0));
        let some = HaveSet::Bits(vec![0b0100_0000]);
        assert_eq!(p.pick(&some, 3, |_| false), Some(1));
        assert_eq!(p.pick(&some, 3, |i| i == 1), None);
        assert_eq!(p.pick(&HaveSet::Nothing, 3, |_| false), None);
    }

    #[test]
    fn random_covers_every_piece() {
        let mut p = Picker::new(Order::Random, 9);
        let mut seen = [false; 16];
        for _ in 0..500 {
            seen[p.pick(&HaveSet::All, 16, |_| false).unwrap() as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        // Only one candidate left: the scan finds it.
        assert_eq!(p.pick(&HaveSet::All, 16, |i| i != 11), Some(11));
    }

    fn torrent_with(data: &[u8], piece_len: u32) -> Torrent {
        use seedcore_protocol::metainfo::{build::TorrentBuilder, Metainfo};
        let hashes = data
            .chunks(piece_len as usize)
            .map(seedcore_hash::sha1)
            .collect();
        let bytes = TorrentBuilder::new("t", piece_len)
            .file(vec![], data.len() as u64)
            .v1_pieces(hashes)
            .build()
            .unwrap();
        Torrent::from_meta(Metainfo::from_bytes(&bytes).unwrap())
    }

    #[test]
    fn blocks_in_any_order_verify() {
        let data: Vec<u8> = (0..80_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let t = torrent_with(&data, 32768);
        let mut pieces = Pieces::new(Order::Sequential, 0, true);
        let reqs: Vec<_> = (0..5)
            .map(|_| pieces.next_request(&HaveSet::All, &t.geometry).unwrap())
            .collect();
        assert_eq!((reqs[0].index, reqs[0].begin), (0, 0));
        assert_eq!((reqs[2].index, reqs[2].begin), (1, 0));
        assert_eq!(reqs[4].length, 80_000 - 65536);
        let block = |r: &BlockRequest| {
            let off = (r.index * 32768 + r.begin) as usize;
            &data[off..off + r.length as usize]
        };
        // Piece 0 backwards: the second block waits in the stash.
        assert_eq!(
            pieces.on_block(0, 16384, block(&reqs[1]), &t),
            BlockOutcome::Stored
        );
        assert_eq!(
            pieces.on_block(0, 16384, block(&reqs[1]), &t),
            BlockOutcome::Ignored
        );
        assert_eq!(
            pieces.on_block(0, 0, block(&reqs[0]), &t),
            BlockOutcome::Completed(Some(true))
        );
        // Piece 1 with a corrupted block fails.
        let mut bad = block(&reqs[2]).to_vec();
        bad[5] ^= 1;
        assert_eq!(pieces.on_block(1, 0, &bad, &t), BlockOutcome::Stored);
        assert_eq!(
            pieces.on_block(1, 16384, block(&reqs[3]), &t),
            BlockOutcome::Completed(Some(false))
        );
        assert_eq!(
            pieces.on_block(2, 0, block(&reqs[4]), &t),
            BlockOutcome::Completed(Some(true))
        );
        assert_eq!(pieces.active_count(), 0);
        assert_eq!(pieces.on_block(7, 0, b"x", &t), BlockOutcome::Ignored);
        // After the last piece the order starts over.
        assert_eq!(
            pieces
                .next_request(&HaveSet::All, &t.geometry)
                .unwrap()
                .index,
            0
        );
    }
}
