//! SHA-1 (FIPS 180-4) with run-time selected compression backends.
//!
//! The front end ([`Sha1`]) owns everything but the compression function:
//! buffering of partial blocks, the message length and the final padding.
//! A backend is one function, `compress(state, blocks)`, that runs the
//! 80 rounds over any number of whole 64-byte blocks. Handing it many blocks
//! per call matters: the SHA-NI backend keeps its state in vector registers
//! across the whole run instead of reloading it per block.

mod asm;
mod portable;
mod shani;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::OnceLock;

use crate::Sha1Digest;

pub(crate) use portable::compress as portable_compress;

/// The SHA-1 initial hash value (FIPS 180-4, 5.3.1).
pub(crate) const INITIAL_STATE: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];

/// A compression function: runs every block through the state, in order.
pub(crate) type CompressFn = fn(&mut [u32; 5], &[[u8; 64]]);

/// Which SHA-1 compression function to run.
///
/// Chosen at run time: [`Sha1Backend::best`] picks the fastest one the CPU
/// supports; an operator can force another with [`Sha1::with_backend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sha1Backend {
    /// The x86 SHA extensions (`sha1rnds4` and friends), our own intrinsics
    /// code. About 1.6 GB/s per core on current Xeons, on par with OpenSSL.
    ShaNi,
    /// The scalar x86/x86-64 assembly of the `sha1-asm` crate. About half the
    /// speed of SHA-NI; the fallback on x86 CPUs without SHA extensions.
    Asm,
    /// Plain Rust. Runs everywhere; the slowest.
    Portable,
}

impl Sha1Backend {
    /// Every backend, fastest first (whether or not this CPU has it).
    pub const ALL: [Sha1Backend; 3] = [Sha1Backend::ShaNi, Sha1Backend::Asm, Sha1Backend::Portable];

    /// The fastest backend this CPU supports. Detection runs once; later
    /// calls return the cached answer.
    pub fn best() -> Sha1Backend {
        static BEST: OnceLock<Sha1Backend> = OnceLock::new();
        *BEST.get_or_init(|| {
            Self::ALL
                .into_iter()
                .find(|b| b.is_available())
                .unwrap_or(Sha1Backend::Portable)
        })
    }

    /// The backends this CPU and build support, fastest first. Never empty:
    /// [`Sha1Backend::Portable`] is always there.
    pub fn available() -> Vec<Sha1Backend> {
        Self::ALL.into_iter().filter(|b| b.is_available()).collect()
    }

    /// Whether this backend can run here (CPU features, target architecture).
    pub fn is_available(self) -> bool {
        self.compress_fn().is_some()
    }

    /// A short stable name for logs, flags and reports:
    /// `"sha-ni"`, `"sha1-asm"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            Sha1Backend::ShaNi => "sha-ni",
            Sha1Backend::Asm => "sha1-asm",
            Sha1Backend::Portable => "portable",
        }
    }

    /// The backend called `name` (as returned by [`Sha1Backend::name`]), for
    /// command-line flags and configuration files. Does not check
    /// availability; see [`Sha1Backend::is_available`].
    pub fn from_name(name: &str) -> Option<Sha1Backend> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The compression function, if this backend can run here.
    pub(crate) fn compress_fn(self) -> Option<CompressFn> {
        match self {
            Sha1Backend::ShaNi => shani::compress_fn(),
            Sha1Backend::Asm => asm::compress_fn(),
            Sha1Backend::Portable => Some(portable::compress),
        }
    }
}

impl fmt::Display for Sha1Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Incremental SHA-1 over one message.
///
/// `update` as often as needed, then `finalize`. Which compression function
/// runs is fixed at construction ([`Sha1::new`]: the best one here).
#[derive(Clone)]
pub struct Sha1 {
    state: [u32; 5],
    /// Bytes of a partial block; only `buffer[..buffered]` is meaningful.
    buffer: [u8; 64],
    /// Always < 64 between calls.
    buffered: usize,
    /// Message length so far in bytes (SHA-1 counts bits modulo 2^64).
    length: u64,
    backend: Sha1Backend,
    compress: CompressFn,
}

impl Sha1 {
    /// A hasher on the fastest backend this CPU supports ([`Sha1Backend::best`]).
    pub fn new() -> Self {
        let backend = Sha1Backend::best();
        let compress = backend.compress_fn().unwrap_or(portable::compress);
        Self::with_compress(backend, compress)
    }

    /// A hasher on `backend`, or `None` when it cannot run on this CPU or target.
    pub fn with_backend(backend: Sha1Backend) -> Option<Self> {
        backend
            .compress_fn()
            .map(|c| Self::with_compress(backend, c))
    }

    fn with_compress(backend: Sha1Backend, compress: CompressFn) -> Self {
        Sha1 {
            state: INITIAL_STATE,
            buffer: [0; 64],
            buffered: 0,
            length: 0,
            backend,
            compress,
        }
    }

    /// The backend this hasher runs on.
    pub fn backend(&self) -> Sha1Backend {
        self.backend
    }

    /// Feeds `data` into the hash. Whole blocks go to the backend in one call.
    pub fn update(&mut self, mut data: &[u8]) {
        self.length = self.length.wrapping_add(data.len() as u64);
        if self.buffered > 0 {
            let free = &mut self.buffer[self.buffered..];
            let take = free.len().min(data.len());
            let (head, rest) = data.split_at(take);
            free[..take].copy_from_slice(head);
            self.buffered += take;
            data = rest;
            if self.buffered < 64 {
                return;
            }
            (self.compress)(&mut self.state, std::slice::from_ref(&self.buffer));
            self.buffered = 0;
        }
        let (blocks, tail) = as_blocks(data);
        if !blocks.is_empty() {
            (self.compress)(&mut self.state, blocks);
        }
        self.buffer[..tail.len()].copy_from_slice(tail);
        self.buffered = tail.len();
    }

    /// Pads the message and returns its digest.
    pub fn finalize(mut self) -> Sha1Digest {
        let bit_length = self.length.wrapping_mul(8);
        let n = self.buffered;
        self.buffer[n] = 0x80;
        self.buffer[n + 1..].fill(0);
        if n >= 56 {
            // No room for the 8-byte length: it goes in a block of its own.
            (self.compress)(&mut self.state, std::slice::from_ref(&self.buffer));
            self.buffer = [0; 64];
        }
        self.buffer[56..].copy_from_slice(&bit_length.to_be_bytes());
        (self.compress)(&mut self.state, std::slice::from_ref(&self.buffer));
        state_to_digest(&self.state)
    }
}

impl Default for Sha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Sha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sha1")
            .field("backend", &self.backend)
            .field("length", &self.length)
            .finish_non_exhaustive()
    }
}

/// SHA-1 of `data` on the fastest backend this CPU supports.
pub fn sha1(data: &[u8]) -> Sha1Digest {
    let mut h = Sha1::new();
    h.update(data);
    h.finalize()
}

/// The digest bytes of a final state (big-endian words).
pub(crate) fn state_to_digest(state: &[u32; 5]) -> Sha1Digest {
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Splits `data` into whole 64-byte blocks and the remainder (< 64 bytes).
pub(crate) fn as_blocks(data: &[u8]) -> (&[[u8; 64]], &[u8]) {
    data.as_chunks::<64>()
}
