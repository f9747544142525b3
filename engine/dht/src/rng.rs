//! A small deterministic generator, seeded by the caller.
//!
//! Sans-IO means no hidden entropy source: the runtime passes a seed (from
//! the OS) and tests pass a constant, so a simulated network replays
//! exactly. The generator only picks transaction ids, random ids for bucket
//! refreshes and node ids; nothing secret is drawn from it (write-token
//! secrets are SHA-1 of the caller's seed, see `token`), so xorshift's
//! predictability from its outputs does not matter.

/// xorshift64* (Vigna): fast, full period, good enough for ids.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator from `seed` (zero is remapped: xorshift must not start at 0).
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            for (o, b) in chunk.iter_mut().zip(r) {
                *o = b;
            }
        }
    }

    /// A number in `0..n` (0 when `n` is 0); the modulo bias is irrelevant
    /// for the small `n` used here.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            // The remainder is below `n`, so it fits a usize.
            usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_nonzero() {
        let mut a = Rng::new(0);
        let mut b = Rng::new(0);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|&x| x != 0));
        assert!(a.below(10) < 10);
        assert_eq!(a.below(0), 0);
    }
}
