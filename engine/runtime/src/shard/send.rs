//! The send path: what a connection has to write, and the three ways of
//! writing it (engine/DESIGN.md, "Serving a block", has the figures).
//!
//! - [`SendPath::Writev`] (the default, fastest measured): one `sendmsg`
//!   with the headers and mmap slices of every queued block (up to
//!   [`WRITEV_BATCH`] bytes, [`MAX_IOV`] buffers).
//! - [`SendPath::Sendfile`]: the header with `send(MSG_MORE)`, then
//!   `sendfile(2)` from the file at the block's offset: the kernel copies
//!   from the page cache; the mapping is never touched.
//! - [`SendPath::Write`]: glommio's `poll_write` of the 13-byte header, then
//!   of the mmap slice (`send(MSG_DONTWAIT)` from the mapping: one kernel
//!   copy, no user-space copy).
//!
//! The raw paths (`sendfile`, `sendmsg`) need a way to wait for the socket
//! to take more: when one returns `EAGAIN`, the same bytes' first byte is
//! offered to glommio's `poll_write`, which registers interest in POLLOUT
//! with the ring and wakes the task when the socket drains (and in the rare
//! case that room appeared meanwhile, simply sends that byte).
//!
//! # Why none of them can SIGBUS
//!
//! No path reads the mapping in user space: `send`/`sendmsg` hand the
//! kernel a pointer, and a page past the end of a truncated file makes the
//! kernel's copy fail with `EFAULT` (the fault happens in kernel mode, where
//! it is fixed up, not signalled); `sendfile` reads the page cache and
//! returns a short count. Either closes that one connection; the file
//! watcher then stops serving the file's pieces (`control::watch`).

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::AsyncWrite;
use glommio::net::TcpStream;
use seedcore_protocol::session::Bytes;
use seedcore_protocol::wire::PIECE_HEADER_LEN;
use seedcore_storage::{Chunk, SpanSource, ZEROS};

use crate::config::SendPath;
use crate::sys;
use crate::torrents::TorrentData;

/// Most buffers in one vectored send.
pub(crate) const MAX_IOV: usize = 64;

/// Bytes the vectored path gathers before writing (enough for 16 blocks).
pub(crate) const WRITEV_BATCH: usize = 256 << 10;

/// Read-ahead asked for when a block starts outside the last advised
/// range: the rest of its piece, up to this much.
pub(crate) const ADVISE_WINDOW: u64 = 1 << 20;

/// One thing to write.
#[derive(Debug)]
pub(crate) enum Item {
    /// Encoded messages, or a shared slice of an immutable buffer (a piece
    /// of the info dictionary), written as it is: never copied.
    Bytes(Bytes),
    /// A `piece` message: the header, then `len` bytes at `offset` of the
    /// torrent's piece space.
    Block {
        header: [u8; PIECE_HEADER_LEN],
        data: Arc<TorrentData>,
        offset: u64,
        len: u32,
        /// Piece-space offset where the block's piece ends (read-ahead bound).
        piece_end: u64,
    },
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Bytes(b) => b.len(),
            Item::Block { len, .. } => PIECE_HEADER_LEN + *len as usize,
        }
    }
}

/// The body of a block from its byte `at`: chunks of the mappings for
/// the part inside the piece space, then zeros for any part past its end.
/// (libtorrent pads the last file of a v2 torrent to a whole piece and
/// requests whole blocks there; the session accepts those requests and the
/// padding reads as zeros.)
fn body(
    data: &TorrentData,
    offset: u64,
    len: u32,
    at: usize,
) -> io::Result<impl Iterator<Item = Chunk<'_>>> {
    let start = offset + at as u64;
    let end = offset + u64::from(len);
    let real_end = end.min(data.storage.layout().total_length());
    let real = if start < real_end {
        let s = data
            .storage
            .slices(start, real_end - start)
            .map_err(|e| io::Error::other(e.to_string()))?;
        Some(s)
    } else {
        None
    };
    let pad = end.saturating_sub(start.max(real_end));
    Ok(real
        .into_iter()
        .flatten()
        .chain((pad > 0).then_some(Chunk::Zeros(pad))))
}

/// Up to the length of [`ZEROS`] of zeros.
fn zeros(n: u64) -> &'static [u8] {
    let n = usize::try_from(n).unwrap_or(ZEROS.len()).min(ZEROS.len());
    ZEROS.get(..n).unwrap_or_default()
}

/// The first mapped (or zero) chunk of a block body from byte `at`.
fn body_chunk(data: &TorrentData, offset: u64, len: u32, at: usize) -> io::Result<&[u8]> {
    Ok(match body(data, offset, len, at)?.next() {
        Some(Chunk::Mapped(s)) => s,
        Some(Chunk::Zeros(n)) => zeros(n),
        None => &[],
    })
}

/// What a connection still has to write, in order.
#[derive(Debug)]
pub(crate) struct Outbox {
    items: VecDeque<Item>,
    /// Bytes of the front item already written.
    pos: usize,
    /// Bytes not yet written, over all items.
    queued: usize,
    path: SendPath,
    /// Piece-space range last given to `madvise(WILLNEED)`, and the data
    /// it belongs to (by address).
    advised: (usize, u64, u64),
}

impl Outbox {
    pub(crate) fn new(path: SendPath) -> Outbox {
        Outbox {
            items: VecDeque::new(),
            pos: 0,
            queued: 0,
            path,
            advised: (0, 0, 0),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether the connection should ask its session for more to send.
    pub(crate) fn wants_more(&self) -> bool {
        match self.path {
            SendPath::Writev => self.queued < WRITEV_BATCH && self.items.len() < MAX_IOV / 3,
            SendPath::Write | SendPath::Sendfile => self.items.is_empty(),
        }
    }

    pub(crate) fn push(&mut self, item: Item) {
        if let Item::Block {
            data,
            offset,
            len,
            piece_end,
            ..
        } = &item
        {
            self.advise(data, *offset, *len, *piece_end);
        }
        self.queued += item.len();
        self.items.push_back(item);
        if self.items.len() == 1 {
            self.pos = 0;
        }
    }

    /// Starts reading the block's pages (and the rest of its piece, up to
    /// [`ADVISE_WINDOW`]) in the background unless a previous call already
    /// covered them: a page fault on a cold page inside `send` or
    /// `sendfile` would stall the whole shard for a disk read. One
    /// `madvise` per window, not per block.
    fn advise(&mut self, data: &Arc<TorrentData>, offset: u64, len: u32, piece_end: u64) {
        let key = Arc::as_ptr(data) as usize;
        let end = offset + u64::from(len);
        let (k, a, b) = self.advised;
        if k == key && offset >= a && end <= b {
            return;
        }
        let total = data.storage.layout().total_length();
        let until = piece_end.min(offset + ADVISE_WINDOW).max(end).min(total);
        if let Ok(chunks) = data.storage.slices(offset, until - offset) {
            for c in chunks {
                if let Chunk::Mapped(s) = c {
                    sys::will_need(s);
                }
            }
        }
        self.advised = (key, offset, until);
    }

    /// Frees the memory of an empty queue (idle peers hold none).
    pub(crate) fn shrink(&mut self) {
        if self.items.is_empty() && self.items.capacity() > 0 {
            self.items = VecDeque::new();
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.queued = self.queued.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.items.front() else {
                return;
            };
            let left = front.len() - self.pos;
            if n < left {
                self.pos += n;
                return;
            }
            n -= left;
            self.items.pop_front();
            self.pos = 0;
        }
    }

    /// The front item's next bytes as one slice (header, control bytes or
    /// the first body chunk): what the `write` path sends, and what the raw
    /// paths offer glommio to wait for writability.
    fn front_slice(&self) -> io::Result<&[u8]> {
        let Some(front) = self.items.front() else {
            return Ok(&[]);
        };
        Ok(match front {
            Item::Bytes(b) => b.get(self.pos..).unwrap_or_default(),
            Item::Block {
                header,
                data,
                offset,
                len,
                ..
            } => match header.get(self.pos..) {
                Some(h) if !h.is_empty() => h,
                _ => body_chunk(data, *offset, *len, self.pos - PIECE_HEADER_LEN)?,
            },
        })
    }

    /// Writes once (one system call, or a wait): `Ready(Ok(n))` with the
    /// bytes written, `Pending` when the socket is full (the task is woken
    /// when it drains).
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut TcpStream,
    ) -> Poll<io::Result<usize>> {
        if self.items.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let raw = match self.path {
            SendPath::Write => return self.poll_glommio(cx, stream, usize::MAX),
            SendPath::Sendfile => self.sendfile_once(stream),
            SendPath::Writev => self.writev_once(stream),
        };
        match raw {
            Ok(0) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file is shorter than the torrent says (truncated while seeding?)",
            ))),
            Ok(n) => {
                self.advance(n);
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.poll_glommio(cx, stream, 1),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// glommio's write of (at most `max` bytes of) the front slice: a
    /// `send` when the socket has room, else a POLLOUT wait.
    fn poll_glommio(
        &mut self,
        cx: &mut Context<'_>,
        stream: &mut TcpStream,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        let buf = match self.front_slice() {
            Ok(b) => b,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let buf = buf.get(..max.min(buf.len())).unwrap_or_default();
        match Pin::new(stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                self.advance(n);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn sendfile_once(&self, stream: &TcpStream) -> io::Result<usize> {
        let Some(front) = self.items.front() else {
            return Ok(0);
        };
        match front {
            Item::Bytes(b) => {
                sys::send_nowait(stream, b.get(self.pos..).unwrap_or_default(), false)
            }
            Item::Block {
                header,
                data,
                offset,
                len,
                ..
            } => {
                if let Some(h) = header.get(self.pos..).filter(|h| !h.is_empty()) {
                    return sys::send_nowait(stream, h, true);
                }
                let start = offset + (self.pos - PIECE_HEADER_LEN) as u64;
                let end = offset + u64::from(*len);
                let real_end = end.min(data.storage.layout().total_length());
                if start >= real_end {
                    // Padding past the end of the piece space.
                    return sys::send_nowait(stream, zeros(end - start), false);
                }
                let Some(span) = data.storage.layout().spans(start, real_end - start).next() else {
                    return Ok(0);
                };
                match span.source {
                    SpanSource::Zeros => sys::send_nowait(stream, zeros(span.len), false),
                    SpanSource::File(i) => {
                        let Some(file) = data.files.get(i).and_then(Option::as_ref) else {
                            return Err(io::Error::other(format!(
                                "file {i} of the torrent is not open for sendfile"
                            )));
                        };
                        let n = usize::try_from(span.len).unwrap_or(usize::MAX);
                        sys::sendfile(stream, file, span.file_offset, n)
                    }
                }
            }
        }
    }

    fn writev_once(&self, stream: &TcpStream) -> io::Result<usize> {
        let mut iov = Iov {
            bufs: [IoSlice::new(&[]); MAX_IOV],
            n: 0,
        };
        let mut skip = self.pos;
        'items: for item in &self.items {
            match item {
                Item::Bytes(b) => {
                    if !iov.push(b.get(skip..).unwrap_or_default()) {
                        break 'items;
                    }
                }
                Item::Block {
                    header,
                    data,
                    offset,
                    len,
                    ..
                } => {
                    if skip < PIECE_HEADER_LEN && !iov.push(header.get(skip..).unwrap_or_default())
                    {
                        break 'items;
                    }
                    let at = skip.saturating_sub(PIECE_HEADER_LEN);
                    for c in body(data, *offset, *len, at)? {
                        let mut z = match c {
                            Chunk::Mapped(s) => {
                                if !iov.push(s) {
                                    break 'items;
                                }
                                continue;
                            }
                            Chunk::Zeros(z) => z,
                        };
                        while z > 0 {
                            let k = zeros(z);
                            if !iov.push(k) {
                                break 'items;
                            }
                            z -= k.len() as u64;
                        }
                    }
                }
            }
            skip = 0;
        }
        sys::sendv_nowait(stream, iov.as_slice())
    }
}

/// A fixed array of buffers for one vectored send.
struct Iov<'a> {
    bufs: [IoSlice<'a>; MAX_IOV],
    n: usize,
}

impl<'a> Iov<'a> {
    /// Adds a buffer; `false` when full (empty buffers are skipped).
    fn push(&mut self, s: &'a [u8]) -> bool {
        if s.is_empty() {
            return true;
        }
        match self.bufs.get_mut(self.n) {
            Some(slot) => {
                *slot = IoSlice::new(s);
                self.n += 1;
                true
            }
            None => false,
        }
    }

    fn as_slice(&self) -> &[IoSlice<'a>] {
        self.bufs.get(..self.n).unwrap_or_default()
    }
}
