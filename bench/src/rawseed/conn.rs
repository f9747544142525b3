//! One raw-seed connection: the least a seeder can do. Answer the
//! handshake for our torrent, say we have everything, unchoke, and send
//! every requested block straight from the storage maps. Requests are
//! checked against the geometry (a bad one closes the connection) and
//! queued up to [`MAX_QUEUE`]; beyond that they are rejected (Fast) or
//! dropped. `cancel`, `interested` and everything else are ignored.
//!
//! Sending uses one `writev` per turn for up to [`BATCH`] blocks, each a
//! 13-byte header followed by borrowed slices of the mmap (never copied in
//! user space). A block partly written stays at the front of the queue
//! with the count of its bytes already sent; control messages (handshake,
//! rejects) go out only between blocks.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;
use seedcore_protocol::ext::{ExtendedHandshake, HANDSHAKE_ID};
use seedcore_protocol::geometry::BlockRef;
use seedcore_protocol::wire::{
    decode, piece_header, BlockRequest, Decoded, Handshake, Limits, Message, Reserved,
    HANDSHAKE_LEN, PIECE_HEADER_LEN,
};
use seedcore_storage::{Chunk, Storage};

use super::SeedStats;
use crate::torrent::Torrent;

/// Requests queued per connection before more are refused.
pub const MAX_QUEUE: usize = 2048;
/// Blocks gathered into one `writev`.
pub const BATCH: usize = 64;
/// Bytes written per connection per turn before others get theirs.
const FLUSH_BUDGET: usize = 4 << 20;

static ZEROS: [u8; 16384] = [0; 16384];

/// Why a connection is closed.
#[derive(Debug)]
pub(crate) enum Close {
    /// The peer closed or the socket failed.
    Io(io::Error),
    /// The peer sent something wrong (bad handshake, bad request).
    Protocol(String),
    /// The peer closed cleanly.
    Eof,
}

/// What a flush achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Nothing left to send.
    Done,
    /// The socket is full; a writable event resumes.
    Blocked,
    /// The turn's budget is spent; call again next turn.
    More,
}

pub(crate) struct SeedConn {
    pub stream: TcpStream,
    carry: Vec<u8>,
    handshaken: bool,
    fast: bool,
    ctrl: Vec<u8>,
    queue: VecDeque<BlockRef>,
    front_sent: usize,
}

/// The reserved bits raw-seed sends: Fast (for have-all and rejects) and
/// LTEP (an extended handshake with `reqq`, so a client sizes its pipeline).
fn our_reserved() -> Reserved {
    let mut r = Reserved::EMPTY;
    r.set_fast(true).set_extension_protocol(true);
    r
}

fn push(out: &mut Vec<u8>, m: &Message<'_>) {
    let _ = m.encode(out);
}

impl SeedConn {
    pub(crate) fn new(stream: TcpStream) -> SeedConn {
        SeedConn {
            stream,
            carry: Vec::new(),
            handshaken: false,
            fast: false,
            ctrl: Vec::new(),
            queue: VecDeque::new(),
            front_sent: 0,
        }
    }

    /// Reads what is available (bounded) and handles it. `Ok(true)` when
    /// the socket may still hold data.
    pub(crate) fn read(
        &mut self,
        scratch: &mut [u8],
        torrent: &Torrent,
        limits: &Limits,
        stats: &mut SeedStats,
    ) -> Result<bool, Close> {
        for _ in 0..4 {
            let c = self.carry.len();
            let (head, space) = scratch
                .split_at_mut_checked(c)
                .ok_or_else(|| Close::Protocol("message larger than the receive buffer".into()))?;
            head.copy_from_slice(&self.carry);
            let room = space.len();
            match self.stream.read(space) {
                Ok(0) => return Err(Close::Eof),
                Ok(n) => {
                    let data = scratch.get(..c + n).unwrap_or_default();
                    let used = self.on_bytes(data, torrent, limits, stats)?;
                    self.carry.clear();
                    self.carry
                        .extend_from_slice(data.get(used..).unwrap_or_default());
                    if n < room {
                        return Ok(false);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Close::Io(e)),
            }
        }
        Ok(true)
    }

    fn on_bytes(
        &mut self,
        buf: &[u8],
        torrent: &Torrent,
        limits: &Limits,
        stats: &mut SeedStats,
    ) -> Result<usize, Close> {
        let mut used = 0;
        if !self.handshaken {
            let h = match Handshake::decode(buf) {
                Err(e) => return Err(Close::Protocol(format!("handshake: {e}"))),
                Ok(None) => return Ok(0),
                Ok(Some(h)) => h,
            };
            if h.info_hash != torrent.info_hash {
                return Err(Close::Protocol("handshake for another torrent".into()));
            }
            self.on_handshake(&h, torrent);
            used = HANDSHAKE_LEN;
        }
        while let Some(rest) = buf.get(used..) {
            match decode(rest, limits) {
                Err(e) => return Err(Close::Protocol(e.to_string())),
                Ok(Decoded::NeedMore { .. }) => break,
                Ok(Decoded::Message { msg, consumed }) => {
                    used += consumed;
                    if let Message::Request(r) = msg {
                        self.on_request(r, torrent, stats)?;
                    }
                }
            }
        }
        Ok(used)
    }

    fn on_handshake(&mut self, h: &Handshake, torrent: &Torrent) {
        let ours = our_reserved();
        let common = ours.common(&h.reserved);
        self.fast = common.fast();
        self.handshaken = true;
        Handshake::new(ours, torrent.info_hash, *b"-SR0001-rawseed00000").encode(&mut self.ctrl);
        if common.extension_protocol() {
            let ext = ExtendedHandshake {
                v: Some("seedcore-bench raw-seed".into()),
                reqq: u32::try_from(MAX_QUEUE).ok(),
                upload_only: Some(true),
                ..ExtendedHandshake::default()
            };
            if let Ok(payload) = ext.to_bytes() {
                push(
                    &mut self.ctrl,
                    &Message::Extended {
                        id: HANDSHAKE_ID,
                        payload: &payload,
                    },
                );
            }
        }
        if self.fast {
            push(&mut self.ctrl, &Message::HaveAll);
        } else {
            let count = torrent.geometry.piece_count();
            let mut bits = vec![0xFFu8; usize::try_from(count.div_ceil(8)).unwrap_or(0)];
            if let Some(last) = bits.last_mut() {
                // Spare bits past the last piece must be zero.
                *last = 0xFFu8 << ((8 - count % 8) % 8);
            }
            push(&mut self.ctrl, &Message::Bitfield(&bits));
        }
        push(&mut self.ctrl, &Message::Unchoke);
    }

    fn on_request(
        &mut self,
        r: BlockRequest,
        torrent: &Torrent,
        stats: &mut SeedStats,
    ) -> Result<(), Close> {
        stats.requests += 1;
        let block = torrent
            .geometry
            .block(r.index, r.begin, r.length)
            .map_err(|e| Close::Protocol(format!("bad request: {e}")))?;
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back(block);
        } else if self.fast {
            stats.rejected += 1;
            push(&mut self.ctrl, &Message::RejectRequest(r));
        } else {
            stats.dropped += 1;
        }
        Ok(())
    }

    /// Whether anything waits to be sent.
    pub(crate) fn has_output(&self) -> bool {
        !self.ctrl.is_empty() || !self.queue.is_empty()
    }

    /// Sends queued control bytes and blocks until done, blocked or out of
    /// budget.
    pub(crate) fn flush(
        &mut self,
        storage: &Storage,
        stats: &mut SeedStats,
    ) -> Result<Flushed, Close> {
        let mut budget = FLUSH_BUDGET;
        let mut headers = [[0u8; PIECE_HEADER_LEN]; BATCH];
        loop {
            if !self.has_output() {
                return Ok(Flushed::Done);
            }
            if budget == 0 {
                return Ok(Flushed::More);
            }
            for (h, b) in headers.iter_mut().zip(&self.queue) {
                *h = piece_header(b.piece().get(), b.begin(), b.length());
            }
            let ctrl_first = self.front_sent == 0 && !self.ctrl.is_empty();
            let mut skip = if ctrl_first { 0 } else { self.front_sent };
            let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(1 + BATCH * 3);
            if ctrl_first {
                iov.push(IoSlice::new(&self.ctrl));
            }
            for (h, b) in headers.iter().zip(&self.queue) {
                push_skipping(&mut iov, h, &mut skip);
                let chunks = storage
                    .slices(b.offset(), u64::from(b.length()))
                    .map_err(|e| Close::Protocol(format!("storage: {e}")))?;
                for chunk in chunks {
                    let s: &[u8] = match chunk {
                        Chunk::Mapped(s) => s,
                        Chunk::Zeros(n) => ZEROS
                            .get(..usize::try_from(n).unwrap_or(0))
                            .unwrap_or_default(),
                    };
                    push_skipping(&mut iov, s, &mut skip);
                }
            }
            let written = match self.stream.write_vectored(&iov) {
                Ok(0) => return Err(Close::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Close::Io(e)),
            };
            drop(iov);
            stats.wire_bytes += written as u64;
            budget = budget.saturating_sub(written);
            let mut n = written;
            if ctrl_first {
                let c = n.min(self.ctrl.len());
                self.ctrl.drain(..c);
                n -= c;
                if !self.ctrl.is_empty() {
                    continue;
                }
            }
            while n > 0 {
                let Some(front) = self.queue.front() else {
                    break;
                };
                let total = PIECE_HEADER_LEN + usize::try_from(front.length()).unwrap_or(0);
                let left = total - self.front_sent.min(total);
                if n >= left {
                    n -= left;
                    stats.blocks += 1;
                    stats.data_bytes += u64::from(front.length());
                    self.queue.pop_front();
                    self.front_sent = 0;
                } else {
                    self.front_sent += n;
                    n = 0;
                }
            }
        }
    }
}

/// Appends `s` minus its first `*skip` bytes (consuming `skip`).
fn push_skipping<'a>(iov: &mut Vec<IoSlice<'a>>, s: &'a [u8], skip: &mut usize) {
    if *skip >= s.len() {
        *skip -= s.len();
        return;
    }
    if let Some(rest) = s.get(*skip..) {
        iov.push(IoSlice::new(rest));
    }
    *skip = 0;
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedcore_protocol::metainfo::{build::TorrentBuilder, Metainfo};
    use seedcore_protocol::wire::decode_all;

    fn torrent(len: u64) -> Torrent {
        let pieces = usize::try_from(len.div_ceil(16384)).unwrap();
        let bytes = TorrentBuilder::new("t", 16384)
            .file(vec![], len)
            .v1_pieces(vec![[0; 20]; pieces])
            .build()
            .unwrap();
        Torrent::from_meta(Metainfo::from_bytes(&bytes).unwrap())
    }

    fn conn() -> (SeedConn, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        (SeedConn::new(TcpStream::from_std(s)), c)
    }

    #[test]
    fn plain_peer_gets_a_bitfield_and_over_limit_requests_are_dropped() {
        let t = torrent(10 * 16384 - 5);
        let (mut c, _client) = conn();
        let mut stats = SeedStats::default();
        let limits = Limits::for_pieces(10);
        let mut input = Handshake::new(Reserved::EMPTY, t.info_hash, [7; 20])
            .to_bytes()
            .to_vec();
        let req = Message::Request(BlockRequest {
            index: 9,
            begin: 0,
            length: 16384 - 5,
        });
        for _ in 0..MAX_QUEUE + 3 {
            req.encode(&mut input).unwrap();
        }
        assert_eq!(
            c.on_bytes(&input, &t, &limits, &mut stats).unwrap(),
            input.len()
        );
        assert_eq!(&c.ctrl[..20], b"\x13BitTorrent protocol");
        let (msgs, _) = decode_all(&c.ctrl[68..], &Limits::default()).unwrap();
        assert_eq!(
            msgs,
            vec![Message::Bitfield(&[0xFF, 0xC0]), Message::Unchoke]
        );
        assert_eq!(c.queue.len(), MAX_QUEUE);
        assert_eq!(
            (stats.requests, stats.dropped, stats.rejected),
            (MAX_QUEUE as u64 + 3, 3, 0)
        );
    }

    #[test]
    fn fast_peer_gets_have_all_rejects_and_bad_requests_close() {
        let t = torrent(4 * 16384);
        let (mut c, _client) = conn();
        let mut stats = SeedStats::default();
        let limits = Limits::for_pieces(4);
        let mut r = Reserved::EMPTY;
        r.set_fast(true);
        let mut input = Handshake::new(r, t.info_hash, [7; 20]).to_bytes().to_vec();
        let ok = BlockRequest {
            index: 0,
            begin: 0,
            length: 16384,
        };
        for _ in 0..=MAX_QUEUE {
            Message::Request(ok).encode(&mut input).unwrap();
        }
        c.on_bytes(&input, &t, &limits, &mut stats).unwrap();
        let (msgs, _) = decode_all(&c.ctrl[68..], &Limits::default()).unwrap();
        assert_eq!(
            msgs,
            vec![
                Message::HaveAll,
                Message::Unchoke,
                Message::RejectRequest(ok)
            ]
        );
        assert_eq!(stats.rejected, 1);
        let bad = Message::Request(BlockRequest {
            index: 4,
            begin: 0,
            length: 16384,
        })
        .to_vec()
        .unwrap();
        assert!(matches!(
            c.on_bytes(&bad, &t, &limits, &mut stats),
            Err(Close::Protocol(_))
        ));
        let mut other = SeedConn::new(conn().0.stream);
        let foreign = Handshake::new(r, [1; 20], [7; 20]).to_bytes();
        assert!(matches!(
            other.on_bytes(&foreign, &t, &limits, &mut stats),
            Err(Close::Protocol(_))
        ));
    }
}
