//! BEP 52 leaf hashing over data that arrives in arbitrary slices.
//!
//! A v2 piece may reach the hasher as one mapped slice or as several `pread`
//! buffers; the merkle leaves are the SHA-256 of each 16 KiB block of the
//! file (the last one may be short), whatever the slice boundaries.

use seedcore_hash::{merkle, Sha256, Sha256Digest};

/// Cuts a byte stream into 16 KiB blocks and hashes each.
pub(crate) struct LeafHasher {
    cur: Sha256,
    filled: usize,
    leaves: Vec<Sha256Digest>,
}

impl LeafHasher {
    /// A hasher expecting about `len` bytes.
    pub(crate) fn with_len(len: u64) -> LeafHasher {
        let blocks = usize::try_from(len.div_ceil(merkle::BLOCK_SIZE as u64)).unwrap_or(0);
        LeafHasher {
            cur: Sha256::new(),
            filled: 0,
            leaves: Vec::with_capacity(blocks.min(1 << 16)),
        }
    }

    /// Adds bytes.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (merkle::BLOCK_SIZE - self.filled).min(data.len());
            let (now, rest) = data.split_at(take);
            self.cur.update(now);
            self.filled += take;
            if self.filled == merkle::BLOCK_SIZE {
                let done = std::mem::replace(&mut self.cur, Sha256::new());
                self.leaves.push(done.finalize());
                self.filled = 0;
            }
            data = rest;
        }
    }

    /// The leaf hashes, the last block short if the data was.
    pub(crate) fn finish(mut self) -> Vec<Sha256Digest> {
        if self.filled > 0 {
            self.leaves.push(self.cur.finalize());
        }
        self.leaves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_block_hashes_whatever_the_slicing() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let want = merkle::block_hashes(&data);
        for cut in [1usize, 1000, 16384, 16385, 49_999] {
            let mut h = LeafHasher::with_len(data.len() as u64);
            for part in data.chunks(cut) {
                h.update(part);
            }
            assert_eq!(h.finish(), want, "slices of {cut}");
        }
        assert!(LeafHasher::with_len(0).finish().is_empty());
    }
}
