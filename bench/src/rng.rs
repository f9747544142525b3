//! A tiny deterministic PRNG (xorshift64*) for piece order, peer ids and
//! churn victims.
//!
//! Why not the `rand` crate: the load generator needs a few random numbers
//! per piece, not cryptographic quality, and a seedable generator with no
//! dependencies keeps runs reproducible from `--seed`.

/// xorshift64* (Vigna): 64 bits of state, good enough statistical quality
/// for picking pieces, a handful of instructions per number.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (mixed with splitmix64, so nearby seeds give
    /// unrelated streams; a zero state is avoided).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0). Multiply-shift, so no modulo
    /// bias worth mentioning for the ranges used here.
    pub fn below(&mut self, n: u32) -> u32 {
        let wide = (self.next_u64() >> 32) * u64::from(n);
        u32::try_from(wide >> 32).unwrap_or(0)
    }

    /// A number in `0..n` for a `usize` range.
    pub fn below_usize(&mut self, n: usize) -> usize {
        let n64 = n as u64;
        if n64 == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10) as usize;
            assert!(v < 10);
            seen[v] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below_usize(0), 0);
    }

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
