//! Eight SHA-1 streams at once on AVX2: one message per 32-bit lane.
//!
//! AVX2 has no vector rotate and no three-input logic, so each rotation is
//! two shifts and an or, and the round functions take two to four
//! instructions. The message words of the eight blocks are transposed with
//! shuffles (two 8x8 32-bit matrices per block).

use super::Lanes;

/// Lanes per call.
pub(super) const LANES: usize = 8;

/// Whether this CPU has what [`x86::compress`] is compiled for.
pub(super) fn detected() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Safe entry point: runs `min(len) / 64` blocks of every lane through its
/// state. Falls back to one stream at a time if the CPU lacks AVX2 (only
/// reachable by misuse; [`super::MultiBackend`] checks first).
pub(super) fn compress(state: &mut Lanes<LANES>, lanes: &[&[u8]; LANES]) {
    let blocks = lanes.iter().map(|l| l.len() / 64).min().unwrap_or(0);
    if blocks == 0 {
        return;
    }
    if detected() {
        // SAFETY: the CPU has avx2 (just checked), and every lane holds at
        // least `blocks * 64` readable bytes (the minimum above).
        unsafe { x86::compress(state, lanes, blocks) }
    } else {
        super::compress_one_by_one(state, lanes, blocks);
    }
}

mod x86 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_loadu_si256, _mm256_or_si256,
        _mm256_permute2x128_si256, _mm256_set1_epi32, _mm256_set_epi64x, _mm256_setzero_si256,
        _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_storeu_si256,
        _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi32, _mm256_unpacklo_epi64,
        _mm256_xor_si256,
    };

    use super::{Lanes, LANES};

    macro_rules! rol {
        ($x:expr, $n:literal) => {{
            let x = $x;
            _mm256_or_si256(
                _mm256_slli_epi32::<$n>(x),
                _mm256_srli_epi32::<{ 32 - $n }>(x),
            )
        }};
    }

    /// `b ? c : d`, as `d ^ (b & (c ^ d))`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn ch(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn parity(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_xor_si256(_mm256_xor_si256(b, c), d)
    }

    /// Majority, as `(b & c) | (d & (b | c))`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn maj(b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        _mm256_or_si256(
            _mm256_and_si256(b, c),
            _mm256_and_si256(d, _mm256_or_si256(b, c)),
        )
    }

    /// 8x8 transpose of 32-bit words: `rows[i]` word `j` -> result `[j]` lane `i`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose(rows: &[__m256i; 8], out: &mut [__m256i]) {
        let zero = _mm256_setzero_si256();
        let mut t = [zero; 8];
        for p in 0..4 {
            t[2 * p] = _mm256_unpacklo_epi32(rows[2 * p], rows[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_epi32(rows[2 * p], rows[2 * p + 1]);
        }
        // u[4g + m]: in 128-bit chunk c, word 4c+m of rows 4g..4g+4.
        let mut u = [zero; 8];
        for g in 0..2 {
            let (lo01, hi01, lo23, hi23) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = _mm256_unpacklo_epi64(lo01, lo23);
            u[4 * g + 1] = _mm256_unpackhi_epi64(lo01, lo23);
            u[4 * g + 2] = _mm256_unpacklo_epi64(hi01, hi23);
            u[4 * g + 3] = _mm256_unpackhi_epi64(hi01, hi23);
        }
        for (m, slot) in out.iter_mut().take(4).enumerate() {
            *slot = _mm256_permute2x128_si256::<0x20>(u[m], u[4 + m]);
        }
        for (m, slot) in out.iter_mut().skip(4).take(4).enumerate() {
            *slot = _mm256_permute2x128_si256::<0x31>(u[m], u[4 + m]);
        }
    }

    /// The sixteen message words of block `block` of all eight lanes.
    ///
    /// # Safety
    ///
    /// avx2; every lane has `(block + 1) * 64` readable bytes.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load_transposed(lanes: &[&[u8]; LANES], block: usize) -> [__m256i; 16] {
        // pshufb indexes within each 128-bit half: reverse the bytes of
        // each of its four words.
        let byte_swap = _mm256_set_epi64x(
            0x0C0D_0E0F_0809_0A0B,
            0x0405_0607_0001_0203,
            0x0C0D_0E0F_0809_0A0B,
            0x0405_0607_0001_0203,
        );
        let zero = _mm256_setzero_si256();
        let mut w = [zero; 16];
        for (half, out) in w.chunks_exact_mut(8).enumerate() {
            let mut rows = [zero; 8];
            for (row, lane) in rows.iter_mut().zip(lanes) {
                // SAFETY: the caller guarantees 64 readable bytes at
                // `block * 64`; `half * 32` is 0 or 32 within them.
                let raw =
                    unsafe { _mm256_loadu_si256(lane.as_ptr().add(block * 64 + half * 32).cast()) };
                *row = _mm256_shuffle_epi8(raw, byte_swap);
            }
            transpose(&rows, out);
        }
        w
    }

    /// Runs `blocks` blocks of every lane through the lane states.
    ///
    /// # Safety
    ///
    /// avx2; every lane has `blocks * 64` readable bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress(state: &mut Lanes<LANES>, lanes: &[&[u8]; LANES], blocks: usize) {
        // SAFETY: each state row is 8 u32 = 32 readable bytes (all five loads).
        let (mut a, mut b, mut c, mut d, mut e) = unsafe {
            (
                _mm256_loadu_si256(state[0].as_ptr().cast()),
                _mm256_loadu_si256(state[1].as_ptr().cast()),
                _mm256_loadu_si256(state[2].as_ptr().cast()),
                _mm256_loadu_si256(state[3].as_ptr().cast()),
                _mm256_loadu_si256(state[4].as_ptr().cast()),
            )
        };
        let k = [
            _mm256_set1_epi32(0x5A82_7999),
            _mm256_set1_epi32(0x6ED9_EBA1),
            _mm256_set1_epi32(0x8F1B_BCDCu32 as i32),
            _mm256_set1_epi32(0xCA62_C1D6u32 as i32),
        ];

        for block in 0..blocks {
            // SAFETY: block < blocks, so the caller's guarantee covers it.
            let mut w = unsafe { load_transposed(lanes, block) };
            let (a0, b0, c0, d0, e0) = (a, b, c, d, e);

            macro_rules! round {
                ($t:expr, $f:ident, $k:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident) => {{
                    let t: usize = $t;
                    if t >= 16 {
                        let x = _mm256_xor_si256(
                            _mm256_xor_si256(w[(t + 13) & 15], w[(t + 8) & 15]),
                            _mm256_xor_si256(w[(t + 2) & 15], w[t & 15]),
                        );
                        w[t & 15] = rol!(x, 1);
                    }
                    $e = _mm256_add_epi32(
                        _mm256_add_epi32($e, _mm256_add_epi32(w[t & 15], $k)),
                        _mm256_add_epi32(rol!($a, 5), $f($b, $c, $d)),
                    );
                    $b = rol!($b, 30);
                }};
            }
            macro_rules! five {
                ($t:expr, $f:ident, $k:expr) => {{
                    round!($t, $f, $k, a, b, c, d, e);
                    round!($t + 1, $f, $k, e, a, b, c, d);
                    round!($t + 2, $f, $k, d, e, a, b, c);
                    round!($t + 3, $f, $k, c, d, e, a, b);
                    round!($t + 4, $f, $k, b, c, d, e, a);
                }};
            }
            macro_rules! twenty {
                ($t:expr, $f:ident, $k:expr) => {{
                    five!($t, $f, $k);
                    five!($t + 5, $f, $k);
                    five!($t + 10, $f, $k);
                    five!($t + 15, $f, $k);
                }};
            }
            twenty!(0, ch, k[0]);
            twenty!(20, parity, k[1]);
            twenty!(40, maj, k[2]);
            twenty!(60, parity, k[3]);

            a = _mm256_add_epi32(a, a0);
            b = _mm256_add_epi32(b, b0);
            c = _mm256_add_epi32(c, c0);
            d = _mm256_add_epi32(d, d0);
            e = _mm256_add_epi32(e, e0);
        }

        for (row, v) in state.iter_mut().zip([a, b, c, d, e]) {
            // SAFETY: each state row is 8 u32 = 32 writable bytes.
            unsafe { _mm256_storeu_si256(row.as_mut_ptr().cast(), v) };
        }
    }
}
