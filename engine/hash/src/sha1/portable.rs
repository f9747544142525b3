//! The plain-Rust SHA-1 compression function: the backend of last resort,
//! and the reference the others are checked against in tests.
//!
//! Written for the optimiser: a 16-word rolling message schedule and the
//! rounds unrolled by a macro in four groups of twenty, so every `W[t]`
//! index and round constant is known at compile time.

/// Round constants (FIPS 180-4, 4.2.1).
const K: [u32; 4] = [0x5A82_7999, 0x6ED9_EBA1, 0x8F1B_BCDC, 0xCA62_C1D6];

/// Runs every block through `state`, in order.
pub(crate) fn compress(state: &mut [u32; 5], blocks: &[[u8; 64]]) {
    for block in blocks {
        compress_block(state, block);
    }
}

#[inline(always)]
fn ch(b: u32, c: u32, d: u32) -> u32 {
    (b & c) | (!b & d)
}

#[inline(always)]
fn parity(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}

#[inline(always)]
fn maj(b: u32, c: u32, d: u32) -> u32 {
    (b & c) | (b & d) | (c & d)
}

// The last rounds store schedule words nobody reads; harmless, and keeping
// the macro uniform is what lets every round inline to straight-line code.
#[allow(unused_assignments)]
fn compress_block(state: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 16];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;

    // One round: `t` is the round number, `f` the round function, `k` the
    // constant. The five working variables rotate by renaming, not moving.
    macro_rules! round {
        ($t:expr, $f:ident, $k:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident) => {{
            let t: usize = $t;
            let wt = if t < 16 {
                w[t]
            } else {
                let x = w[(t + 13) & 15] ^ w[(t + 8) & 15] ^ w[(t + 2) & 15] ^ w[t & 15];
                let x = x.rotate_left(1);
                w[t & 15] = x;
                x
            };
            $e = $e
                .wrapping_add($a.rotate_left(5))
                .wrapping_add($f($b, $c, $d))
                .wrapping_add($k)
                .wrapping_add(wt);
            $b = $b.rotate_left(30);
        }};
    }
    // Five rounds, after which the variables are back in their places.
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

    twenty!(0, ch, K[0]);
    twenty!(20, parity, K[1]);
    twenty!(40, maj, K[2]);
    twenty!(60, parity, K[3]);

    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
    state[4] = state[4].wrapping_add(e);
}
