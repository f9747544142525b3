//! A minimal leecher on `seedcore_protocol::wire`, blocking std sockets:
//! handshake, interested, wait for unchoke, pipelined requests, every
//! block handed to a callback. Enough to check what a seed serves and to
//! load it in benchmarks; nothing else.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use seedcore_protocol::geometry::{Geometry, BLOCK_SIZE};
use seedcore_protocol::wire::{
    decode, BlockRequest, Decoded, Handshake, Limits, Message, Reserved,
};

/// What the leecher saw of the seed's first messages.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub have_all: bool,
    pub bitfield: Option<Vec<u8>>,
    pub haves: Vec<u32>,
    pub unchoked: bool,
    pub rejects: Vec<BlockRequest>,
    pub extended: usize,
    pub donthave: Vec<u32>,
}

pub struct Leecher {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    limits: Limits,
    pub peer: Handshake,
    pub seen: Seen,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl Leecher {
    /// Connects and exchanges handshakes (Fast extension on when `fast`).
    pub fn connect(addr: SocketAddr, info_hash: [u8; 20], fast: bool) -> io::Result<Leecher> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        Self::handshake(stream, info_hash, fast)
    }

    /// Handshakes on an existing stream (a seed that dialled us).
    pub fn handshake(
        mut stream: TcpStream,
        info_hash: [u8; 20],
        fast: bool,
    ) -> io::Result<Leecher> {
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        let mut r = Reserved::EMPTY;
        r.set_fast(fast);
        let mut id = [b'L'; 20];
        id[..8].copy_from_slice(b"-LE0001-");
        stream.write_all(&Handshake::new(r, info_hash, id).to_bytes())?;
        let mut hs = [0u8; 68];
        stream.read_exact(&mut hs)?;
        let peer = Handshake::decode(&hs)
            .map_err(|e| bad(e.to_string()))?
            .ok_or_else(|| bad("short handshake"))?;
        if peer.info_hash != info_hash {
            return Err(bad("the seed answered for another torrent"));
        }
        Ok(Leecher {
            stream,
            buf: vec![0u8; 1 << 20],
            start: 0,
            end: 0,
            limits: Limits::default(),
            peer,
            seen: Seen::default(),
        })
    }

    pub fn send(&mut self, msg: &Message<'_>) -> io::Result<()> {
        let bytes = msg.to_vec().map_err(|e| bad(e.to_string()))?;
        self.stream.write_all(&bytes)
    }

    /// Reads the next message and hands it to `f` (which sees the borrowed
    /// form, so blocks are not copied). Records the seed's state messages.
    pub fn next<R>(&mut self, f: impl FnOnce(&Message<'_>) -> R) -> io::Result<R> {
        loop {
            let window = &self.buf[self.start..self.end];
            match decode(window, &self.limits).map_err(|e| bad(e.to_string()))? {
                Decoded::Message { msg, consumed } => {
                    match msg {
                        Message::HaveAll => self.seen.have_all = true,
                        Message::Bitfield(b) => self.seen.bitfield = Some(b.to_vec()),
                        Message::Have { index } => self.seen.haves.push(index),
                        Message::Unchoke => self.seen.unchoked = true,
                        Message::Choke => self.seen.unchoked = false,
                        Message::RejectRequest(r) => self.seen.rejects.push(r),
                        Message::Extended { id, payload } => {
                            self.seen.extended += 1;
                            // lt_donthave (our id 7 in the seed's numbering
                            // is theirs; we advertised none, so any 4-byte
                            // extended payload after the handshake is one).
                            if id != 0 && payload.len() == 4 {
                                let mut p = [0u8; 4];
                                p.copy_from_slice(payload);
                                self.seen.donthave.push(u32::from_be_bytes(p));
                            }
                        }
                        _ => {}
                    }
                    let r = f(&msg);
                    self.start += consumed;
                    return Ok(r);
                }
                Decoded::NeedMore { .. } => {
                    if self.start > 0 {
                        self.buf.copy_within(self.start..self.end, 0);
                        self.end -= self.start;
                        self.start = 0;
                    }
                    if self.end == self.buf.len() {
                        return Err(bad("message larger than the leecher's buffer"));
                    }
                    let n = self.stream.read(&mut self.buf[self.end..])?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "seed closed"));
                    }
                    self.end += n;
                }
            }
        }
    }

    /// Sends `interested` and reads until unchoked.
    pub fn interested(&mut self) -> io::Result<()> {
        self.send(&Message::Interested)?;
        while !self.seen.unchoked {
            self.next(|_| ())?;
        }
        Ok(())
    }

    /// Requests every block of `pieces` with up to `pipeline` requests in
    /// flight; `on_block(index, begin, data)` sees each block as it comes.
    /// Returns the number of blocks received.
    pub fn fetch(
        &mut self,
        geo: &Geometry,
        pieces: &[u32],
        pipeline: usize,
        mut on_block: impl FnMut(u32, u32, &[u8]),
    ) -> io::Result<u64> {
        let mut todo = pieces.iter().flat_map(|&p| {
            let size = geo.piece(p).map_or(0, |pi| geo.piece_size(pi));
            (0..size.div_ceil(BLOCK_SIZE)).map(move |b| {
                let begin = b * BLOCK_SIZE;
                BlockRequest {
                    index: p,
                    begin,
                    length: BLOCK_SIZE.min(size - begin),
                }
            })
        });
        let mut outstanding = 0usize;
        let mut received = 0u64;
        let mut batch = Vec::with_capacity(pipeline * 17);
        let mut exhausted = false;
        loop {
            batch.clear();
            while !exhausted && outstanding < pipeline {
                match todo.next() {
                    Some(r) => {
                        Message::Request(r)
                            .encode(&mut batch)
                            .map_err(|e| bad(e.to_string()))?;
                        outstanding += 1;
                    }
                    None => exhausted = true,
                }
            }
            if !batch.is_empty() {
                self.stream.write_all(&batch)?;
            }
            if outstanding == 0 {
                return Ok(received);
            }
            let got = self.next(|m| match m {
                Message::Piece { index, begin, data } => {
                    on_block(*index, *begin, data);
                    true
                }
                Message::RejectRequest(_) => true,
                _ => false,
            })?;
            if got {
                outstanding -= 1;
                received += 1;
            }
            if !self.seen.unchoked && outstanding > 0 {
                return Err(bad("choked while downloading"));
            }
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// Downloads whole pieces and checks each one's SHA-1 against the torrent.
/// Returns the number of bytes checked.
pub fn download_and_check(
    l: &mut Leecher,
    meta: &seedcore_protocol::metainfo::Metainfo,
    pieces: &[u32],
) -> io::Result<u64> {
    let geo = Geometry::from_info(&meta.info);
    let pl = geo.piece_length() as usize;
    let mut bufs: std::collections::HashMap<u32, (Vec<u8>, u32)> = Default::default();
    let mut checked = 0u64;
    let mut failures = Vec::new();
    l.fetch(&geo, pieces, 64, |index, begin, data| {
        let size = geo.piece(index).map_or(0, |p| geo.piece_size(p)) as usize;
        let entry = bufs
            .entry(index)
            .or_insert_with(|| (vec![0u8; size.min(pl)], 0));
        let b = begin as usize;
        entry.0[b..b + data.len()].copy_from_slice(data);
        entry.1 += data.len() as u32;
        if entry.1 as usize == size {
            let (piece, _) = bufs.remove(&index).unwrap_or_default();
            if seedcore_hash::sha1(&piece) != meta.info.pieces[index as usize] {
                failures.push(index);
            }
            checked += size as u64;
        }
    })?;
    if !failures.is_empty() {
        return Err(bad(format!("pieces with a wrong SHA-1: {failures:?}")));
    }
    if !bufs.is_empty() {
        return Err(bad(format!("{} pieces incomplete", bufs.len())));
    }
    Ok(checked)
}
