//! Datagrams for the caller to send, many at a time.
//!
//! One [`Transmits`] collects every datagram a `poll_transmit` call made
//! (quinn-proto's model: the caller asks for as many as it can send with
//! one `sendmmsg` or one UDP GSO send). Headers and bytes the connections
//! own are copied once into one buffer; payload that lives outside
//! (mapped files) stays a reference, for the caller to hand to the
//! kernel as an iovec. So a block body is copied exactly once, by the
//! kernel, into the datagram.

use std::net::SocketAddr;
use std::ops::Range;

/// A piece of a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part<E> {
    /// Bytes in [`Transmits::bytes`].
    Inline(Range<usize>),
    /// `len` bytes at `offset` of `ext`.
    External {
        /// What the application wrote with `write_external`.
        ext: E,
        /// Offset within it.
        offset: u64,
        /// Length.
        len: u32,
    },
}

/// One datagram of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Where to send it.
    pub dest: SocketAddr,
    /// Its length in bytes.
    pub len: usize,
    /// Send it with the don't-fragment bit (an MTU probe).
    pub dont_fragment: bool,
    parts: Range<usize>,
}

/// A batch of datagrams.
#[derive(Debug)]
pub struct Transmits<E> {
    bytes: Vec<u8>,
    parts: Vec<Part<E>>,
    datagrams: Vec<Datagram>,
}

impl<E> Default for Transmits<E> {
    fn default() -> Self {
        Transmits {
            bytes: Vec::new(),
            parts: Vec::new(),
            datagrams: Vec::new(),
        }
    }
}

impl<E> Transmits<E> {
    /// An empty batch.
    pub fn new() -> Transmits<E> {
        Transmits::default()
    }

    /// Empties the batch (keeping its buffers).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.parts.clear();
        self.datagrams.clear();
    }

    /// Number of datagrams.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// The datagrams, in the order they should be sent.
    pub fn datagrams(&self) -> &[Datagram] {
        &self.datagrams
    }

    /// The inline bytes [`Part::Inline`] ranges point into.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parts of datagram `d`, in order.
    pub fn parts(&self, d: &Datagram) -> &[Part<E>] {
        self.parts.get(d.parts.clone()).unwrap_or_default()
    }

    /// Datagram `i` as one contiguous buffer (for drivers that copy):
    /// `fill(ext, offset, out)` must fill `out` from the reference.
    pub fn assemble(&self, i: usize, out: &mut Vec<u8>, mut fill: impl FnMut(&E, u64, &mut [u8])) {
        out.clear();
        let Some(d) = self.datagrams.get(i) else {
            return;
        };
        for p in self.parts(d) {
            match p {
                Part::Inline(r) => {
                    out.extend_from_slice(self.bytes.get(r.clone()).unwrap_or_default())
                }
                Part::External { ext, offset, len } => {
                    let at = out.len();
                    out.resize(at + *len as usize, 0);
                    if let Some(dst) = out.get_mut(at..) {
                        fill(ext, *offset, dst);
                    }
                }
            }
        }
    }

    pub(crate) fn begin(&mut self, dest: SocketAddr, dont_fragment: bool) {
        let at = self.parts.len();
        self.datagrams.push(Datagram {
            dest,
            len: 0,
            dont_fragment,
            parts: at..at,
        });
    }

    /// The inline buffer, to append a header to (call [`Self::inline_done`]
    /// with the length before appended).
    pub(crate) fn inline_buf(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Records bytes appended to the inline buffer since `from`.
    pub(crate) fn inline_done(&mut self, from: usize) {
        let to = self.bytes.len();
        if to == from {
            return;
        }
        if let Some(d) = self.datagrams.last_mut() {
            d.len += to - from;
            // Adjacent inline bytes extend the last part.
            if d.parts.end > d.parts.start {
                if let Some(Part::Inline(r)) = self.parts.last_mut() {
                    if r.end == from {
                        r.end = to;
                        return;
                    }
                }
            }
            self.parts.push(Part::Inline(from..to));
            d.parts.end = self.parts.len();
        }
    }

    pub(crate) fn push_external(&mut self, ext: E, offset: u64, len: u32) {
        if let Some(d) = self.datagrams.last_mut() {
            d.len += len as usize;
            self.parts.push(Part::External { ext, offset, len });
            d.parts.end = self.parts.len();
        }
    }
}
