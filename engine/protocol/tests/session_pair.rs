//! The in-memory seeder/leecher pair used by the `session_*` tests (quinn-
//! proto's test `Pair`): a [`PeerSession`] driven on virtual time, wired to
//! a scripted leecher that speaks the wire codec. Blocks the session hands
//! out as `Transmit::Block` are filled from the torrent data the test holds,
//! as the runtime fills them from its mmaps.
//!
//! Each test file includes this one with `#[path = "session_pair.rs"] mod pair;`;
//! on its own it is an empty test target.
#![allow(
    dead_code,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_hash::merkle;
use seedcore_hash::sha1;
use seedcore_protocol::metainfo::{build::TorrentBuilder, MetaVersion, Metainfo};
use seedcore_protocol::session::{
    PeerSession, SessionConfig, SessionError, SessionEvent, Swarm, TorrentContext, TorrentId,
    Transmit,
};
use seedcore_protocol::wire::{
    decode, BlockRequest, Decoded, Handshake, HashRequest, Limits, Message, Reserved, HANDSHAKE_LEN,
};

/// A torrent with its data (the whole piece space).
pub struct Torrent {
    pub meta: Metainfo,
    pub data: Vec<u8>,
}

/// Deterministic, non-repeating-ish test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8 ^ seed)
        .collect()
}

/// A single-file v1 torrent of `len` bytes.
pub fn v1_torrent(len: usize, piece_length: u32, private: bool) -> Torrent {
    let data = bytes(len, 1);
    let pieces = data.chunks(piece_length as usize).map(sha1).collect();
    let (_, meta) = TorrentBuilder::new("data.bin", piece_length)
        .file(vec![], len as u64)
        .v1_pieces(pieces)
        .private(private)
        .build_metainfo()
        .unwrap();
    Torrent { meta, data }
}

/// A single-file torrent with v2 hashes (`MetaVersion::V2` or `Hybrid`).
pub fn v2_torrent(len: usize, piece_length: u32, version: MetaVersion) -> Torrent {
    let data = bytes(len, 2);
    let leaves = merkle::block_hashes(&data);
    let root = merkle::root(&leaves);
    let layer = merkle::piece_layer(&leaves, u64::from(piece_length));
    let mut b = TorrentBuilder::new("data.bin", piece_length)
        .version(version)
        .file(vec![], len as u64)
        .v2_file(0, root, layer);
    if version == MetaVersion::Hybrid {
        b = b.v1_pieces(data.chunks(piece_length as usize).map(sha1).collect());
    }
    let (_, meta) = b.build_metainfo().unwrap();
    Torrent { meta, data }
}

/// The runtime's view of its torrents, for the session.
#[derive(Default)]
pub struct TestSwarm {
    pub torrents: Vec<(TorrentContext, Vec<bool>)>,
    pub by_hash: HashMap<[u8; 20], TorrentId>,
}

impl TestSwarm {
    /// Adds a torrent with every piece available.
    pub fn add(&mut self, meta: &Metainfo) -> TorrentId {
        let ctx = TorrentContext::from_metainfo(meta).unwrap();
        let id = TorrentId(self.torrents.len() as u32);
        if let Some(v1) = ctx.info_hashes().v1 {
            self.by_hash.insert(v1.0, id);
        }
        if let Some(v2) = ctx.info_hashes().v2 {
            self.by_hash.insert(v2.truncated(), id);
        }
        let have = vec![true; ctx.piece_count() as usize];
        self.torrents.push((ctx, have));
        id
    }

    pub fn set_piece(&mut self, id: TorrentId, piece: u32, have: bool) {
        self.torrents[id.0 as usize].1[piece as usize] = have;
    }
}

impl Swarm for TestSwarm {
    fn lookup(&self, wire_hash: &[u8; 20]) -> Option<TorrentId> {
        self.by_hash.get(wire_hash).copied()
    }
    fn torrent(&self, id: TorrentId) -> Option<&TorrentContext> {
        self.torrents.get(id.0 as usize).map(|(c, _)| c)
    }
    fn has_piece(&self, id: TorrentId, piece: u32) -> bool {
        self.torrents
            .get(id.0 as usize)
            .and_then(|(_, h)| h.get(piece as usize).copied())
            .unwrap_or(false)
    }
    fn have_count(&self, id: TorrentId) -> u32 {
        self.torrents
            .get(id.0 as usize)
            .map_or(0, |(_, h)| h.iter().filter(|x| **x).count() as u32)
    }
}

/// An owned copy of a message the leecher received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    KeepAlive,
    Choke,
    Unchoke,
    Have(u32),
    Bitfield(Vec<u8>),
    HaveAll,
    HaveNone,
    Piece {
        index: u32,
        begin: u32,
        data: Vec<u8>,
    },
    Reject(BlockRequest),
    AllowedFast(u32),
    Port(u16),
    Extended {
        id: u8,
        payload: Vec<u8>,
    },
    Hashes {
        request: HashRequest,
        hashes: Vec<u8>,
    },
    HashReject(HashRequest),
    Other(String),
}

impl Got {
    fn from(m: &Message<'_>) -> Got {
        match *m {
            Message::KeepAlive => Got::KeepAlive,
            Message::Choke => Got::Choke,
            Message::Unchoke => Got::Unchoke,
            Message::Have { index } => Got::Have(index),
            Message::Bitfield(b) => Got::Bitfield(b.to_vec()),
            Message::HaveAll => Got::HaveAll,
            Message::HaveNone => Got::HaveNone,
            Message::Piece { index, begin, data } => Got::Piece {
                index,
                begin,
                data: data.to_vec(),
            },
            Message::RejectRequest(r) => Got::Reject(r),
            Message::AllowedFast { index } => Got::AllowedFast(index),
            Message::Port(p) => Got::Port(p),
            Message::Extended { id, payload } => Got::Extended {
                id,
                payload: payload.to_vec(),
            },
            Message::Hashes { request, hashes } => Got::Hashes {
                request,
                hashes: hashes.to_vec(),
            },
            Message::HashReject(r) => Got::HashReject(r),
            other => Got::Other(format!("{other:?}")),
        }
    }
}

/// A scripted leecher: it writes what the test tells it to and parses
/// everything the session sends.
pub struct Leecher {
    pub reserved: Reserved,
    pub peer_id: [u8; 20],
    /// Bytes from the session not parsed yet.
    inbox: Vec<u8>,
    /// The session's handshake, once received.
    pub handshake: Option<Handshake>,
    /// Every message received, in order (drained by `take`).
    pub got: Vec<Got>,
    /// Total bytes received.
    pub received: usize,
}

impl Leecher {
    pub fn new(fast: bool) -> Leecher {
        let mut reserved = Reserved::EMPTY;
        reserved.set_extension_protocol(true).set_fast(fast);
        Leecher {
            reserved,
            peer_id: *b"-LT2080-leecher00001",
            inbox: Vec::new(),
            handshake: None,
            got: Vec::new(),
            received: 0,
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        self.received += bytes.len();
        self.inbox.extend_from_slice(bytes);
        if self.handshake.is_none() {
            match Handshake::decode(&self.inbox).expect("session sent a bad handshake") {
                Some(h) => {
                    self.handshake = Some(h);
                    self.inbox.drain(..HANDSHAKE_LEN);
                }
                None => return,
            }
        }
        let limits = Limits::default();
        let mut used = 0;
        while let Decoded::Message { msg, consumed } =
            decode(&self.inbox[used..], &limits).expect("session sent a bad message")
        {
            self.got.push(Got::from(&msg));
            used += consumed;
        }
        self.inbox.drain(..used);
    }

    /// Everything received since the last call.
    pub fn take(&mut self) -> Vec<Got> {
        std::mem::take(&mut self.got)
    }
}

/// The pair: one session, one leecher, a swarm and a virtual clock.
pub struct Pair {
    pub now: Instant,
    pub swarm: TestSwarm,
    pub session: PeerSession,
    pub leecher: Leecher,
    pub data: Vec<Vec<u8>>,
    /// Bytes written by the leecher that the session did not consume yet.
    pub pending: Vec<u8>,
    /// Events from the session, in order (drained by `events`).
    pub events: Vec<SessionEvent>,
    /// The first error a session call returned.
    pub error: Option<SessionError>,
    /// When false, the "socket" is full: nothing is pulled from the session.
    pub writable: bool,
    /// Whether written bytes are reported with `on_sent`.
    pub report_sent: bool,
}

pub fn addr() -> SocketAddr {
    "80.4.4.200:51413".parse().unwrap()
}

impl Pair {
    /// An inbound session for the first torrent of `torrents`, leecher not
    /// yet connected.
    pub fn new(torrents: &[&Torrent], config: SessionConfig, fast: bool) -> Pair {
        let mut swarm = TestSwarm::default();
        let data = torrents
            .iter()
            .map(|t| {
                swarm.add(&t.meta);
                t.data.clone()
            })
            .collect();
        let now = Instant::now();
        Pair {
            now,
            session: PeerSession::inbound(Arc::new(config), addr(), now),
            swarm,
            leecher: Leecher::new(fast),
            data,
            pending: Vec::new(),
            events: Vec::new(),
            error: None,
            writable: true,
            report_sent: true,
        }
    }

    /// A pair whose handshakes are done, with the opening messages drained.
    pub fn connected(t: &Torrent, fast: bool) -> Pair {
        Pair::connected_with(t, SessionConfig::default(), fast)
    }

    pub fn connected_with(t: &Torrent, config: SessionConfig, fast: bool) -> Pair {
        let mut p = Pair::new(&[t], config, fast);
        p.handshake(t.meta.info_hashes.wire_hash());
        assert!(p.session.is_established(), "{:?}", p.error);
        p
    }

    /// The leecher sends its handshake for `info_hash`.
    pub fn handshake(&mut self, info_hash: [u8; 20]) {
        let h = Handshake::new(self.leecher.reserved, info_hash, self.leecher.peer_id);
        self.send_raw(&h.to_bytes());
    }

    /// The leecher writes raw bytes; the session reads them and answers.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        self.drive();
    }

    /// The leecher sends one message.
    pub fn send(&mut self, msg: Message<'_>) {
        self.send_raw(&msg.to_vec().unwrap());
    }

    /// Delivers pending input, pulls output while writable, collects events.
    pub fn drive(&mut self) {
        if !self.pending.is_empty() && self.error.is_none() {
            match self
                .session
                .handle_input(self.now, &self.pending, &self.swarm)
            {
                Ok(n) => {
                    assert!(n <= self.pending.len());
                    self.pending.drain(..n);
                    // Only a partial message is left, unless the session
                    // paused its input (then whole messages wait).
                    assert!(
                        self.pending.len() < self.session.max_frame()
                            || !self.session.wants_input()
                    );
                }
                Err(e) => self.error = Some(e),
            }
        }
        self.flush();
    }

    /// Pulls everything the session has to send (when writable).
    pub fn flush(&mut self) {
        self.flush_some(usize::MAX);
    }

    /// Pulls at most `max` transmits (when writable): a socket that takes
    /// only so much per turn.
    pub fn flush_some(&mut self, max: usize) {
        let mut left = max;
        while self.writable && left > 0 {
            left -= 1;
            let Some(t) = self.session.poll_transmit(self.now, &self.swarm) else {
                break;
            };
            let len = t.len();
            let bytes = match t {
                Transmit::Bytes { head, body } => [&head[..], &body[..]].concat(),
                Transmit::Block { header, block } => {
                    let torrent = self.session.torrent().unwrap();
                    let data = &self.data[torrent.0 as usize];
                    let mut v = header.to_vec();
                    // Past the data (v2 tail padding): zeros, as a runtime sends.
                    let r = block.range();
                    let end = (r.end as usize).min(data.len());
                    let start = (r.start as usize).min(end);
                    v.extend_from_slice(&data[start..end]);
                    v.resize(v.len() + (r.end - r.start) as usize - (end - start), 0);
                    v
                }
            };
            assert_eq!(bytes.len(), len);
            self.leecher.receive(&bytes);
            if self.report_sent {
                self.session.on_sent(self.now, len);
            }
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }

    /// Moves the clock by `d`, firing the session's timers on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.session.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.session.handle_timeout(self.now);
            self.flush();
        }
        self.now = end;
        self.flush();
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<SessionEvent> {
        std::mem::take(&mut self.events)
    }

    /// The session's extended id for `name`, from its BEP 10 handshake.
    pub fn closed_reason(&self) -> Option<SessionError> {
        self.events.iter().find_map(|e| match e {
            SessionEvent::Closed(r) => Some(r.clone()),
            _ => None,
        })
    }
}

/// The leecher's BEP 10 handshake advertising `m` (name, id).
pub fn ext_handshake(m: &[(&str, u8)]) -> Vec<u8> {
    let mut hs = seedcore_protocol::ext::ExtendedHandshake {
        v: Some("leecher 1.0".into()),
        p: Some(6881),
        ..Default::default()
    };
    for (name, id) in m {
        hs.m.insert((*name).to_string(), *id);
    }
    hs.to_bytes().unwrap()
}

/// Blocks (piece, begin, length) covering the whole torrent.
pub fn all_blocks(total: usize, piece_length: u32) -> Vec<BlockRequest> {
    let mut out = Vec::new();
    let pl = piece_length as usize;
    for (index, start) in (0..total).step_by(pl).enumerate() {
        let size = pl.min(total - start);
        for begin in (0..size).step_by(16384) {
            out.push(BlockRequest {
                index: index as u32,
                begin: begin as u32,
                length: (size - begin).min(16384) as u32,
            });
        }
    }
    out
}
