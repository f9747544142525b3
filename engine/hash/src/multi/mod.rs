//! Multi-buffer SHA-1: many equal-length messages hashed at once, one per
//! SIMD lane (16 with AVX-512, 8 with AVX2).
//!
//! SHA-1 is a serial chain within one message, so a single stream cannot use
//! wide vectors; SHA-NI speeds the chain up but is still one stream per core.
//! Independent messages can run side by side instead: lane `i` of every
//! vector register belongs to message `i`. Bulk verification and torrent
//! creation have exactly that shape: many pieces of the same length, all
//! ready at once. Single pieces (serving, one-off checks) stay on
//! [`crate::Sha1`].
//!
//! Messages of different lengths are grouped by length; a group smaller than
//! a full set of lanes is padded with repeats of one of its messages when
//! that still beats hashing its messages one by one on the best
//! single-stream backend, and hashed one by one otherwise.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::OnceLock;

use crate::sha1::{state_to_digest, INITIAL_STATE};
use crate::{sha1, Sha1Backend, Sha1Digest};

/// Lane states, transposed: `state[word][lane]`.
pub(crate) type Lanes<const N: usize> = [[u32; N]; 5];

/// A multi-buffer SHA-1 implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MultiBackend {
    /// Sixteen lanes of AVX-512 (needs AVX-512F and AVX-512BW).
    Avx512,
    /// Eight lanes of AVX2.
    Avx2,
}

impl MultiBackend {
    /// Every multi-buffer backend, widest first.
    pub const ALL: [MultiBackend; 2] = [MultiBackend::Avx512, MultiBackend::Avx2];

    /// The widest backend this CPU supports, if any (detected once, cached).
    pub fn best() -> Option<MultiBackend> {
        static BEST: OnceLock<Option<MultiBackend>> = OnceLock::new();
        *BEST.get_or_init(|| Self::ALL.into_iter().find(|b| b.is_available()))
    }

    /// The backends this CPU supports, widest first (may be empty).
    pub fn available() -> Vec<MultiBackend> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    /// Whether this backend can run here.
    pub fn is_available(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                MultiBackend::Avx512 => avx512::detected(),
                MultiBackend::Avx2 => avx2::detected(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Messages hashed per pass: 16 or 8.
    pub fn lanes(self) -> usize {
        match self {
            MultiBackend::Avx512 => 16,
            MultiBackend::Avx2 => 8,
        }
    }

    /// A short stable name: `"avx512-x16"` or `"avx2-x8"`.
    pub fn name(self) -> &'static str {
        match self {
            MultiBackend::Avx512 => "avx512-x16",
            MultiBackend::Avx2 => "avx2-x8",
        }
    }

    /// The fewest messages of one length worth a SIMD pass (the rest of the
    /// lanes repeat one of them): below this, hashing them one by one on
    /// `single` is faster.
    pub fn min_lanes(self, single: Sha1Backend) -> usize {
        // Aggregate speed of a full pass relative to one `single` stream,
        // rounded down, from best-of-N runs on a 2-vCPU Xeon with SHA-NI and
        // AVX-512: AVX-512 x16 7.4-8.0 GB/s, AVX2 x8 3.5-3.8 GB/s, SHA-NI
        // 1.9-2.1 GB/s, sha1-asm and portable 0.95-1.05 GB/s.
        let relative = match (self, single) {
            (MultiBackend::Avx512, Sha1Backend::ShaNi) => 3,
            (MultiBackend::Avx512, _) => 7,
            (MultiBackend::Avx2, Sha1Backend::ShaNi) => 1,
            (MultiBackend::Avx2, _) => 3,
        };
        self.lanes().div_ceil(relative)
    }
}

impl fmt::Display for MultiBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// SHA-1 of each of `inputs` into the matching entry of `out`, on the
/// widest multi-buffer backend here ([`MultiBackend::best`]), or one by one
/// on [`Sha1Backend::best`] where there is none.
///
/// Fastest when many inputs share a length (pieces of one torrent). Only
/// `min(inputs.len(), out.len())` pairs are hashed; extra entries on either
/// side are left alone.
pub fn sha1_many(inputs: &[&[u8]], out: &mut [Sha1Digest]) {
    match MultiBackend::best() {
        Some(backend) => sha1_many_with(backend, inputs, out),
        None => {
            for (input, digest) in inputs.iter().zip(out.iter_mut()) {
                *digest = sha1(input);
            }
        }
    }
}

/// [`sha1_many`] on a chosen backend; if it cannot run here the work is
/// done one message at a time instead (correct, just slower).
pub fn sha1_many_with(backend: MultiBackend, inputs: &[&[u8]], out: &mut [Sha1Digest]) {
    #[cfg(target_arch = "x86_64")]
    {
        if backend.is_available() {
            match backend {
                MultiBackend::Avx512 => hash_grouped(avx512::compress, backend, inputs, out),
                MultiBackend::Avx2 => hash_grouped(avx2::compress, backend, inputs, out),
            }
            return;
        }
    }
    let _ = backend;
    for (input, digest) in inputs.iter().zip(out.iter_mut()) {
        *digest = sha1(input);
    }
}

/// Groups the inputs by length and hashes each group `N` at a time.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn hash_grouped<const N: usize>(
    compress: fn(&mut Lanes<N>, &[&[u8]; N]),
    backend: MultiBackend,
    inputs: &[&[u8]],
    out: &mut [Sha1Digest],
) {
    let count = inputs.len().min(out.len());
    let min_lanes = backend.min_lanes(Sha1Backend::best());
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by_key(|&i| inputs.get(i).map_or(0, |d| d.len()));
    let len_of = |i: usize| inputs.get(i).map_or(0, |d| d.len());
    for run in order.chunk_by(|&a, &b| len_of(a) == len_of(b)) {
        for chunk in run.chunks(N) {
            if chunk.len() < min_lanes {
                for &i in chunk {
                    if let (Some(input), Some(digest)) = (inputs.get(i), out.get_mut(i)) {
                        *digest = sha1(input);
                    }
                }
                continue;
            }
            // Unused lanes repeat the chunk's first message.
            let first = chunk
                .first()
                .and_then(|&i| inputs.get(i))
                .copied()
                .unwrap_or_default();
            let group: [&[u8]; N] = std::array::from_fn(|lane| {
                chunk
                    .get(lane)
                    .and_then(|&i| inputs.get(i))
                    .copied()
                    .unwrap_or(first)
            });
            let digests = hash_lanes(compress, &group);
            for (&i, digest) in chunk.iter().zip(digests) {
                if let Some(slot) = out.get_mut(i) {
                    *slot = digest;
                }
            }
        }
    }
}

/// Hashes `N` messages of equal length, one per lane: the whole blocks
/// straight from the inputs, then the padded tails from small buffers.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn hash_lanes<const N: usize>(
    compress: fn(&mut Lanes<N>, &[&[u8]; N]),
    group: &[&[u8]; N],
) -> [Sha1Digest; N] {
    let len = group.first().map_or(0, |d| d.len());
    debug_assert!(
        group.iter().all(|d| d.len() == len),
        "lanes must share a length"
    );
    let mut state: Lanes<N> = INITIAL_STATE.map(|word| [word; N]);

    let whole = len / 64 * 64;
    let heads: [&[u8]; N] = group.map(|d| d.get(..whole).unwrap_or(d));
    compress(&mut state, &heads);

    // The tail: the last partial block, 0x80, zeros, the bit length; one
    // block if it fits in 56 bytes, else two. The same shape for every lane.
    let rest = len - whole;
    let tail_len = if rest < 56 { 64 } else { 128 };
    let bit_length = (len as u64).wrapping_mul(8).to_be_bytes();
    let mut tails = [[0u8; 128]; N];
    for (tail, data) in tails.iter_mut().zip(group) {
        let rest_bytes = data.get(whole..).unwrap_or_default();
        let (body, after) = tail.split_at_mut(rest_bytes.len());
        body.copy_from_slice(rest_bytes);
        if let Some(marker) = after.first_mut() {
            *marker = 0x80;
        }
        if let Some(slot) = tail.get_mut(tail_len - 8..tail_len) {
            slot.copy_from_slice(&bit_length);
        }
    }
    let tail_refs: [&[u8]; N] = std::array::from_fn(|lane| {
        tails
            .get(lane)
            .and_then(|t| t.get(..tail_len))
            .unwrap_or_default()
    });
    compress(&mut state, &tail_refs);

    std::array::from_fn(|lane| {
        let word = |w: usize| {
            state
                .get(w)
                .and_then(|row| row.get(lane))
                .copied()
                .unwrap_or(0)
        };
        state_to_digest(&[word(0), word(1), word(2), word(3), word(4)])
    })
}

/// One lane at a time on the best single-stream backend: the SIMD entry
/// points' fallback when the CPU lacks their features.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn compress_one_by_one<const N: usize>(state: &mut Lanes<N>, lanes: &[&[u8]; N], blocks: usize) {
    let compress = Sha1Backend::best()
        .compress_fn()
        .unwrap_or(crate::sha1::portable_compress);
    for (lane, data) in lanes.iter().enumerate() {
        let (whole, _) = crate::sha1::as_blocks(data);
        let mut s = [0u32; 5];
        for (w, row) in s.iter_mut().zip(state.iter()) {
            *w = row.get(lane).copied().unwrap_or(0);
        }
        compress(&mut s, whole.get(..blocks).unwrap_or(whole));
        for (w, row) in s.iter().zip(state.iter_mut()) {
            if let Some(slot) = row.get_mut(lane) {
                *slot = *w;
            }
        }
    }
}
