//! The bytes a connection has to send: a queue of chunks addressed by
//! stream offset, each either bytes we own or a reference to bytes that
//! live elsewhere (a slice of a memory-mapped file).
//!
//! Packets are cut from the queue lazily, when the window lets one go,
//! so small writes made between two transmits share a packet. A packet
//! remembers the stream range it carries; a retransmission sends the same
//! range again (uTP cannot re-packetize: every sequence number is one
//! packet), so a chunk is released only once every packet over it is
//! acknowledged.
//!
//! # Why external chunks
//!
//! A seed's bytes are block bodies from mapped files. Keeping a
//! reference instead of a copy means the only copy of the body is the
//! kernel's, from the page cache into the datagram (the runtime hands the
//! mapping's address to `sendmmsg`), and a file truncated under a mapping
//! fails that system call with `EFAULT` instead of killing the process
//! with `SIGBUS` as a user-space `memcpy` would.

use std::collections::VecDeque;

/// Owned chunks grow by appending up to this size before a new one starts.
const OWNED_CHUNK: usize = 16 << 10;

#[derive(Debug)]
enum Chunk<E> {
    Owned(Vec<u8>),
    External { ext: E, offset: u64, len: u32 },
}

impl<E> Chunk<E> {
    fn len(&self) -> u64 {
        match self {
            Chunk::Owned(v) => v.len() as u64,
            Chunk::External { len, .. } => u64::from(*len),
        }
    }
}

/// One piece of a packet's payload.
#[derive(Debug)]
pub enum PartRef<'a, E> {
    /// Bytes the connection holds.
    Inline(&'a [u8]),
    /// `len` bytes at `offset` of what `ext` names.
    External {
        /// The reference the application wrote.
        ext: &'a E,
        /// Where, in the reference's own addressing.
        offset: u64,
        /// How many bytes.
        len: u32,
    },
}

#[derive(Debug)]
pub(crate) struct SendBuf<E> {
    /// Chunks in stream order, each with its start offset.
    chunks: VecDeque<(u64, Chunk<E>)>,
    /// Lowest offset still held (everything below was acknowledged).
    base: u64,
    /// Next offset to cut into a packet.
    cut: u64,
    /// Offset after the last byte written.
    end: u64,
    cap: u64,
}

impl<E> SendBuf<E> {
    pub(crate) fn new(cap: u32) -> SendBuf<E> {
        SendBuf {
            chunks: VecDeque::new(),
            base: 0,
            cut: 0,
            end: 0,
            cap: u64::from(cap),
        }
    }

    /// Bytes that may still be written.
    pub(crate) fn space(&self) -> usize {
        usize::try_from(self.cap.saturating_sub(self.end - self.base)).unwrap_or(usize::MAX)
    }

    /// Bytes written but not yet cut into packets.
    pub(crate) fn unsent(&self) -> u64 {
        self.end - self.cut
    }

    /// Bytes held (unsent and unacknowledged).
    pub(crate) fn held(&self) -> u64 {
        self.end - self.base
    }

    /// Copies as much of `data` as fits; returns how much.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.space());
        let Some(data) = data.get(..n) else { return 0 };
        if n == 0 {
            return 0;
        }
        match self.chunks.back_mut() {
            Some((start, Chunk::Owned(v)))
                if *start + v.len() as u64 == self.end && v.len() + n <= OWNED_CHUNK =>
            {
                v.extend_from_slice(data);
            }
            _ => self
                .chunks
                .push_back((self.end, Chunk::Owned(data.to_vec()))),
        }
        self.end += n as u64;
        n
    }

    /// Queues `len` bytes at `offset` of `ext`, all or nothing.
    pub(crate) fn write_external(&mut self, ext: E, offset: u64, len: u32) -> bool {
        if len == 0 || (len as usize) > self.space() {
            return len == 0;
        }
        self.chunks
            .push_back((self.end, Chunk::External { ext, offset, len }));
        self.end += u64::from(len);
        true
    }

    /// Cuts the next packet's range: up to `max` unsent bytes.
    pub(crate) fn cut(&mut self, max: usize) -> Option<(u64, u16)> {
        let n = self.unsent().min(max as u64).min(u64::from(u16::MAX));
        if n == 0 {
            return None;
        }
        let start = self.cut;
        self.cut += n;
        Some((start, u16::try_from(n).unwrap_or(u16::MAX)))
    }

    /// Everything below `offset` is acknowledged: frees whole chunks.
    pub(crate) fn release(&mut self, offset: u64) {
        let offset = offset.min(self.cut);
        if offset <= self.base {
            return;
        }
        self.base = offset;
        while let Some((start, c)) = self.chunks.front() {
            if start + c.len() <= self.base {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
    }

    /// Calls `f` with the parts of the stream range `[start, start + len)`.
    pub(crate) fn parts(&self, start: u64, len: u16, mut f: impl FnMut(PartRef<'_, E>)) {
        let end = start + u64::from(len);
        let mut i = self
            .chunks
            .partition_point(|(s, _)| *s <= start)
            .saturating_sub(1);
        let mut at = start;
        while at < end {
            let Some((s, c)) = self.chunks.get(i) else {
                return;
            };
            let from = at - s;
            let take = (s + c.len()).min(end) - at;
            match c {
                Chunk::Owned(v) => {
                    let (a, b) = (usize::try_from(from), usize::try_from(from + take));
                    if let (Ok(a), Ok(b)) = (a, b) {
                        if let Some(bytes) = v.get(a..b) {
                            f(PartRef::Inline(bytes));
                        }
                    }
                }
                Chunk::External { ext, offset, .. } => f(PartRef::External {
                    ext,
                    offset: offset + from,
                    len: u32::try_from(take).unwrap_or(u32::MAX),
                }),
            }
            at += take;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(b: &SendBuf<&'static str>, start: u64, len: u16) -> Vec<String> {
        let mut out = Vec::new();
        b.parts(start, len, |p| {
            out.push(match p {
                PartRef::Inline(s) => String::from_utf8_lossy(s).into_owned(),
                PartRef::External { ext, offset, len } => format!("{ext}@{offset}+{len}"),
            })
        });
        out
    }

    #[test]
    fn mixed_chunks_cut_and_release() {
        let mut b = SendBuf::new(100);
        assert_eq!(b.write(b"head"), 4);
        assert!(b.write_external("map", 1000, 30));
        assert_eq!(b.write(b"tail"), 4);
        assert_eq!(b.unsent(), 38);
        assert_eq!(b.cut(10), Some((0, 10)));
        assert_eq!(collect(&b, 0, 10), ["head", "map@1000+6"]);
        assert_eq!(b.cut(100), Some((10, 28)));
        assert_eq!(collect(&b, 10, 28), ["map@1006+24", "tail"]);
        assert_eq!(b.cut(100), None);
        assert_eq!(b.space(), 62);
        b.release(10);
        assert_eq!(b.space(), 72);
        assert_eq!(collect(&b, 10, 28), ["map@1006+24", "tail"]);
        b.release(38);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn bounded() {
        let mut b: SendBuf<()> = SendBuf::new(10);
        assert_eq!(b.write(&[1; 25]), 10);
        assert_eq!(b.write(&[1; 5]), 0);
        assert!(!b.write_external((), 0, 1));
        assert!(b.write_external((), 0, 0));
    }
}
