//! Sixteen SHA-1 streams at once on AVX-512: one message per 32-bit lane.
//!
//! AVX-512 suits SHA-1 better than AVX2 twice over: `vprold` rotates in one
//! instruction (AVX2 needs shift, shift, or) and `vpternlogd` computes each
//! round function of three words in one instruction. The message words of
//! the sixteen blocks are transposed with shuffles (16x16 32-bit matrix)
//! instead of gathered.

use super::Lanes;

/// Lanes per call.
pub(super) const LANES: usize = 16;

/// Whether this CPU has what [`x86::compress`] is compiled for.
pub(super) fn detected() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// Safe entry point: runs `min(len) / 64` blocks of every lane through its
/// state. Falls back to one stream at a time if the CPU lacks AVX-512 (only
/// reachable by misuse; [`super::MultiBackend`] checks first).
pub(super) fn compress(state: &mut Lanes<LANES>, lanes: &[&[u8]; LANES]) {
    let blocks = lanes.iter().map(|l| l.len() / 64).min().unwrap_or(0);
    if blocks == 0 {
        return;
    }
    if detected() {
        // SAFETY: the CPU has avx512f and avx512bw (just checked), and every
        // lane holds at least `blocks * 64` readable bytes (the minimum above).
        unsafe { x86::compress(state, lanes, blocks) }
    } else {
        super::compress_one_by_one(state, lanes, blocks);
    }
}

mod x86 {
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_rol_epi32, _mm512_set1_epi32,
        _mm512_set_epi64, _mm512_setzero_si512, _mm512_shuffle_epi8, _mm512_shuffle_i32x4,
        _mm512_storeu_si512, _mm512_ternarylogic_epi32, _mm512_unpackhi_epi32,
        _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64, _mm512_xor_si512,
    };

    use super::{Lanes, LANES};

    /// `vpternlogd` truth tables: `b ? c : d`, `b ^ c ^ d`, majority.
    const CH: i32 = 0xCA;
    const PARITY: i32 = 0x96;
    const MAJ: i32 = 0xE8;

    /// Loads word `j` of block `block` of all sixteen lanes, byte-swapped to
    /// big-endian words: the sixteen message words `w[0..16]`.
    ///
    /// # Safety
    ///
    /// avx512f and avx512bw; every lane has `(block + 1) * 64` readable bytes.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn load_transposed(lanes: &[&[u8]; LANES], block: usize) -> [__m512i; 16] {
        // pshufb indexes within each 128-bit lane: reverse the bytes of
        // each of its four words.
        let (lo, hi) = (0x0405_0607_0001_0203, 0x0C0D_0E0F_0809_0A0B);
        let byte_swap = _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
        let zero = _mm512_setzero_si512();
        let mut rows = [zero; 16];
        for (row, lane) in rows.iter_mut().zip(lanes) {
            // SAFETY: the caller guarantees 64 readable bytes at this offset.
            let raw = unsafe { _mm512_loadu_si512(lane.as_ptr().add(block * 64).cast()) };
            *row = _mm512_shuffle_epi8(raw, byte_swap);
        }
        // Step 1: interleave the words of row pairs.
        let mut t = [zero; 16];
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_epi32(rows[2 * p], rows[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_epi32(rows[2 * p], rows[2 * p + 1]);
        }
        // Step 2: u[4g + m] holds, in 128-bit chunk k, word 4k+m of rows 4g..4g+4.
        let mut u = [zero; 16];
        for g in 0..4 {
            let (lo01, hi01, lo23, hi23) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
            u[4 * g] = _mm512_unpacklo_epi64(lo01, lo23);
            u[4 * g + 1] = _mm512_unpackhi_epi64(lo01, lo23);
            u[4 * g + 2] = _mm512_unpacklo_epi64(hi01, hi23);
            u[4 * g + 3] = _mm512_unpackhi_epi64(hi01, hi23);
        }
        // Step 3: a 4x4 transpose of 128-bit chunks for each m.
        let mut w = [zero; 16];
        for m in 0..4 {
            let v0 = _mm512_shuffle_i32x4::<0x44>(u[m], u[4 + m]);
            let v1 = _mm512_shuffle_i32x4::<0xEE>(u[m], u[4 + m]);
            let v2 = _mm512_shuffle_i32x4::<0x44>(u[8 + m], u[12 + m]);
            let v3 = _mm512_shuffle_i32x4::<0xEE>(u[8 + m], u[12 + m]);
            w[m] = _mm512_shuffle_i32x4::<0x88>(v0, v2);
            w[4 + m] = _mm512_shuffle_i32x4::<0xDD>(v0, v2);
            w[8 + m] = _mm512_shuffle_i32x4::<0x88>(v1, v3);
            w[12 + m] = _mm512_shuffle_i32x4::<0xDD>(v1, v3);
        }
        w
    }

    /// Runs `blocks` blocks of every lane through the lane states.
    ///
    /// # Safety
    ///
    /// avx512f and avx512bw; every lane has `blocks * 64` readable bytes.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn compress(state: &mut Lanes<LANES>, lanes: &[&[u8]; LANES], blocks: usize) {
        // SAFETY: each state row is 16 u32 = 64 readable bytes (all five loads).
        let (mut a, mut b, mut c, mut d, mut e) = unsafe {
            (
                _mm512_loadu_si512(state[0].as_ptr().cast()),
                _mm512_loadu_si512(state[1].as_ptr().cast()),
                _mm512_loadu_si512(state[2].as_ptr().cast()),
                _mm512_loadu_si512(state[3].as_ptr().cast()),
                _mm512_loadu_si512(state[4].as_ptr().cast()),
            )
        };
        let k = [
            _mm512_set1_epi32(0x5A82_7999),
            _mm512_set1_epi32(0x6ED9_EBA1),
            _mm512_set1_epi32(0x8F1B_BCDCu32 as i32),
            _mm512_set1_epi32(0xCA62_C1D6u32 as i32),
        ];

        for block in 0..blocks {
            // SAFETY: block < blocks, so the caller's guarantee covers it.
            let mut w = unsafe { load_transposed(lanes, block) };
            let (a0, b0, c0, d0, e0) = (a, b, c, d, e);

            macro_rules! round {
                ($t:expr, $f:expr, $k:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident) => {{
                    let t: usize = $t;
                    if t >= 16 {
                        let x = _mm512_ternarylogic_epi32::<PARITY>(
                            w[(t + 13) & 15],
                            w[(t + 8) & 15],
                            w[(t + 2) & 15],
                        );
                        w[t & 15] = _mm512_rol_epi32::<1>(_mm512_xor_si512(x, w[t & 15]));
                    }
                    let f = _mm512_ternarylogic_epi32::<{ $f }>($b, $c, $d);
                    $e = _mm512_add_epi32(
                        _mm512_add_epi32($e, _mm512_add_epi32(w[t & 15], $k)),
                        _mm512_add_epi32(_mm512_rol_epi32::<5>($a), f),
                    );
                    $b = _mm512_rol_epi32::<30>($b);
                }};
            }
            macro_rules! five {
                ($t:expr, $f:expr, $k:expr) => {{
                    round!($t, $f, $k, a, b, c, d, e);
                    round!($t + 1, $f, $k, e, a, b, c, d);
                    round!($t + 2, $f, $k, d, e, a, b, c);
                    round!($t + 3, $f, $k, c, d, e, a, b);
                    round!($t + 4, $f, $k, b, c, d, e, a);
                }};
            }
            macro_rules! twenty {
                ($t:expr, $f:expr, $k:expr) => {{
                    five!($t, $f, $k);
                    five!($t + 5, $f, $k);
                    five!($t + 10, $f, $k);
                    five!($t + 15, $f, $k);
                }};
            }
            twenty!(0, CH, k[0]);
            twenty!(20, PARITY, k[1]);
            twenty!(40, MAJ, k[2]);
            twenty!(60, PARITY, k[3]);

            a = _mm512_add_epi32(a, a0);
            b = _mm512_add_epi32(b, b0);
            c = _mm512_add_epi32(c, c0);
            d = _mm512_add_epi32(d, d0);
            e = _mm512_add_epi32(e, e0);
        }

        for (row, v) in state.iter_mut().zip([a, b, c, d, e]) {
            // SAFETY: each state row is 16 u32 = 64 writable bytes.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), v) };
        }
    }
}
