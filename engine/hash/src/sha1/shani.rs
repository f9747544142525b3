//! SHA-1 on the x86 SHA extensions ("SHA-NI").
//!
//! `sha1rnds4` runs four rounds on the packed state `[a, b, c, d]` (a in the
//! highest lane), `sha1nexte` derives the next four rounds' `e` from the `a`
//! of four rounds earlier and adds the message words, and `sha1msg1` /
//! `sha1msg2` compute the message schedule four words at a time. A block is
//! twenty groups of four rounds; the state stays in two registers for the
//! whole run of blocks, which is why the loop over blocks lives inside the
//! `#[target_feature]` function: a call per block would cost a reload and
//! stop the compiler from overlapping one block's schedule with the rounds.

use super::CompressFn;

/// The compression function, if this CPU has SHA-NI (and the SSE levels the
/// byte shuffles need).
#[cfg(target_arch = "x86_64")]
pub(crate) fn compress_fn() -> Option<CompressFn> {
    if detected() {
        Some(compress)
    } else {
        None
    }
}

/// SHA-NI is only wired up for x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn compress_fn() -> Option<CompressFn> {
    None
}

/// Whether the CPU has every feature [`x86::compress_blocks`] is compiled for.
/// `std` caches the CPUID answer, so this is a few loads.
#[cfg(target_arch = "x86_64")]
fn detected() -> bool {
    std::arch::is_x86_feature_detected!("sha")
        && std::arch::is_x86_feature_detected!("sse2")
        && std::arch::is_x86_feature_detected!("ssse3")
        && std::arch::is_x86_feature_detected!("sse4.1")
}

/// Safe entry point. It re-checks the CPU features (cached, a few loads per
/// call of many blocks) so that it is sound even if someone obtains this
/// function without going through [`compress_fn`]; without them it falls back
/// to the portable code instead of executing unsupported instructions.
#[cfg(target_arch = "x86_64")]
fn compress(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    if detected() {
        // SAFETY: `detected()` just confirmed sha, sse2, ssse3 and sse4.1,
        // the exact feature set `compress_blocks` is compiled for.
        unsafe { x86::compress_blocks(state, blocks) }
    } else {
        super::portable::compress(state, blocks);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_extract_epi32, _mm_loadu_si128, _mm_set_epi32, _mm_set_epi64x,
        _mm_sha1msg1_epu32, _mm_sha1msg2_epu32, _mm_sha1nexte_epu32, _mm_sha1rnds4_epu32,
        _mm_shuffle_epi32, _mm_shuffle_epi8, _mm_storeu_si128, _mm_xor_si128,
    };

    /// Runs every block through `state` on the SHA extensions.
    ///
    /// # Safety
    ///
    /// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress_blocks(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
        // Reverses all 16 bytes of a vector: turns four big-endian message
        // words into native words with the first word in the highest lane.
        let byte_reverse = _mm_set_epi64x(0x0001_0203_0405_0607, 0x0809_0a0b_0c0d_0e0f);

        // SAFETY: `state` is 20 readable bytes; the first 16 are read
        // unaligned (`loadu`).
        let abcd_native = unsafe { _mm_loadu_si128(state.as_ptr().cast::<__m128i>()) };
        // [a, b, c, d] low-to-high -> a in the highest lane, as sha1rnds4 wants.
        let mut abcd = _mm_shuffle_epi32::<0x1B>(abcd_native);
        // e lives in the highest lane; the others must be zero for the first
        // group's plain add.
        let mut e0 = _mm_set_epi32(state[4] as i32, 0, 0, 0);

        for block in blocks {
            let abcd_saved = abcd;
            let e_saved = e0;

            let p = block.as_ptr().cast::<__m128i>();
            // SAFETY: `block` is 64 readable bytes: four unaligned 16-byte loads.
            let (mut w0, mut w1, mut w2, mut w3) = unsafe {
                (
                    _mm_shuffle_epi8(_mm_loadu_si128(p), byte_reverse),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), byte_reverse),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), byte_reverse),
                    _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), byte_reverse),
                )
            };

            // Each group of four rounds needs `e + w` for its words: the
            // first group adds the known e; later groups get it from
            // `sha1nexte`, which turns the `a` of four rounds back into `e`.
            // `e_next` is computed from the current [a, b, c, d] *before*
            // the `sha1rnds4` that consumes it, so that instruction is the
            // value's last use and updates its register in place; the copy
            // the two-operand instructions force then feeds `sha1nexte`, off
            // the critical path (rnds4 -> rnds4), instead of sitting on it.
            let mut e_plus_w = _mm_add_epi32(e0, w0);
            macro_rules! group {
                ($func:literal, $w_next:ident) => {{
                    let e_next = _mm_sha1nexte_epu32(abcd, $w_next);
                    abcd = _mm_sha1rnds4_epu32::<$func>(abcd, e_plus_w);
                    e_plus_w = e_next;
                }};
            }
            // Message schedule for four more words: `$a` holds W[t-16..t-12]
            // and is replaced by W[t..t+4], from W[t-12..t-8] (`$b`),
            // W[t-8..t-4] (`$c`) and W[t-4..t] (`$d`). It runs one group
            // ahead of the rounds, for `e_next`.
            macro_rules! schedule {
                ($a:ident, $b:ident, $c:ident, $d:ident) => {{
                    $a = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32($a, $b), $c), $d);
                }};
            }

            group!(0, w1); // rounds 0-3
            group!(0, w2); // rounds 4-7
            group!(0, w3); // rounds 8-11
            schedule!(w0, w1, w2, w3);
            group!(0, w0); // rounds 12-15
            schedule!(w1, w2, w3, w0);
            group!(0, w1); // rounds 16-19
            schedule!(w2, w3, w0, w1);
            group!(1, w2); // rounds 20-23
            schedule!(w3, w0, w1, w2);
            group!(1, w3); // rounds 24-27
            schedule!(w0, w1, w2, w3);
            group!(1, w0); // rounds 28-31
            schedule!(w1, w2, w3, w0);
            group!(1, w1); // rounds 32-35
            schedule!(w2, w3, w0, w1);
            group!(1, w2); // rounds 36-39
            schedule!(w3, w0, w1, w2);
            group!(2, w3); // rounds 40-43
            schedule!(w0, w1, w2, w3);
            group!(2, w0); // rounds 44-47
            schedule!(w1, w2, w3, w0);
            group!(2, w1); // rounds 48-51
            schedule!(w2, w3, w0, w1);
            group!(2, w2); // rounds 52-55
            schedule!(w3, w0, w1, w2);
            group!(2, w3); // rounds 56-59
            schedule!(w0, w1, w2, w3);
            group!(3, w0); // rounds 60-63
            schedule!(w1, w2, w3, w0);
            group!(3, w1); // rounds 64-67
            schedule!(w2, w3, w0, w1);
            group!(3, w2); // rounds 68-71
            schedule!(w3, w0, w1, w2);
            group!(3, w3); // rounds 72-75

            // Rounds 76-79. The next block's e is the rotated a of four
            // rounds back plus the saved e; a..d add their saved values.
            e0 = _mm_sha1nexte_epu32(abcd, e_saved);
            abcd = _mm_sha1rnds4_epu32::<3>(abcd, e_plus_w);
            abcd = _mm_add_epi32(abcd, abcd_saved);
        }

        let abcd_native = _mm_shuffle_epi32::<0x1B>(abcd);
        // SAFETY: `state` is 20 writable bytes; the first 16 are written
        // unaligned (`storeu`).
        unsafe { _mm_storeu_si128(state.as_mut_ptr().cast::<__m128i>(), abcd_native) };
        state[4] = _mm_extract_epi32::<3>(e0) as u32;
    }
}
