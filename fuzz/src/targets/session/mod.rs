//! A whole [`PeerSession`] fed arbitrary byte streams, calls and time.
//!
//! The input is a small program (see [`Op`]): the first two bytes choose
//! the torrent, what the peer negotiates and the session's settings; the
//! rest is a sequence of operations that write raw bytes or well-formed
//! messages with fuzzed fields towards the session, deliver them in
//! arbitrary pieces (`handle_input`), let the runtime pull output as a
//! socket of arbitrary room would (`poll_transmit`, `on_sent`), move
//! virtual time (`handle_timeout`), and make the runtime's other calls
//! (choke/unchoke, piece lost/added, PEX).
//!
//! Invariants checked after every step:
//! - nothing panics; `handle_input` consumes only whole frames, never more
//!   than it was given, and leaves less than one frame; an error closes the
//!   session, which then reports exactly one `Closed` and sends nothing;
//! - everything sent follows the wire format as a strict peer reads it
//!   ([`peer::Output`]): our handshake first, whole messages per transmit,
//!   only messages a seed may send and only those negotiated, every block
//!   and reject answers one open request, no block to a choked peer outside
//!   its allowed-fast set or for a piece the swarm cannot serve, metadata
//!   answers are the torrent's real bytes, hash answers are well formed;
//! - nothing is queued without bound: the encoded output waiting for the
//!   socket never exceeds the peer's byte budget (`SessionConfig::
//!   peer_budget`), a Fast peer has at most `reqq` requests queued and any
//!   peer at most what half the budget buys, and the heap the session
//!   holds (and the most it takes during any one call) stays within twice
//!   the budget plus slack: an answer is bounded before it is built;
//! - timers do what they promise: a peer that sent nothing for the idle
//!   timeout, a handshake not finished in time, and bytes handed out but
//!   not taken for the stall timeout all close the session;
//! - a private torrent never reports a DHT port.

mod peer;
mod swarm;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_protocol::ext::{ExtendedHandshake, LtMetadata, PexFlags, UtMetadata, UtPex};
use seedcore_protocol::session::{
    PeerSession, SessionConfig, SessionEvent, TorrentId, Transmit, QUEUED_REQUEST_COST,
};
use seedcore_protocol::wire::{BlockRequest, Handshake, HashRequest, Message, Reserved};

use crate::alloc::measure;
use crate::bytes::Bytes;
use peer::{Consumed, Expect, Output};
use swarm::FuzzSwarm;

pub use swarm::torrents;

/// Heap the session may hold beyond twice its budget: the peer's
/// bitfield, events, names, one hash answer being built, and allocator
/// rounding.
const HEAP_SLACK: usize = 128 * 1024;

/// Most operations per input, so one input cannot run for long.
const MAX_OPS: usize = 4096;

/// What the session may hold on the heap: its byte budget, twice (a
/// growing `Vec` or `VecDeque` doubles), plus slack.
fn heap_bound(c: &SessionConfig) -> usize {
    2 * c.peer_budget + HEAP_SLACK
}

/// The most requests a session may queue: `reqq` for Fast peers; for the
/// others, what half the budget buys (they ignore `reqq`).
fn max_queued(c: &SessionConfig, fast: bool) -> usize {
    if fast {
        c.reqq as usize
    } else {
        (c.peer_budget / 2 / QUEUED_REQUEST_COST).max(c.reqq as usize)
    }
}

struct Run {
    s: PeerSession,
    swarm: FuzzSwarm,
    torrent: TorrentId,
    expect: Expect,
    now: Instant,
    /// Bytes on their way to the session, not delivered yet.
    wire: Vec<u8>,
    /// Delivered and not consumed (the runtime's receive buffer).
    recv: Vec<u8>,
    consumed: Consumed,
    out: Output,
    /// Bytes handed out by `poll_transmit` and not yet reported sent.
    unsent: usize,
    /// Since when `unsent` has been above zero without progress.
    stalled_since: Option<Instant>,
    /// When the session last got bytes (idle timeout), and was created.
    last_input: Instant,
    created: Instant,
    /// Heap the session holds (allocations in its calls, less what the
    /// caller got back and dropped).
    held: isize,
    closed_events: u32,
    handshake_events: u32,
    bound: usize,
}

impl Run {
    /// Runs a session call under the allocation counter and accounts for
    /// what it kept.
    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut PeerSession, &FuzzSwarm, Instant) -> T,
    ) -> T {
        let now = self.now;
        let (s, swarm) = (&mut self.s, &self.swarm);
        let (out, peak, net) = measure(|| f(s, swarm, now));
        self.held += net;
        assert!(
            peak <= self.bound,
            "{what}: the session allocated {peak} bytes during one call (bound {})",
            self.bound
        );
        assert!(
            usize::try_from(self.held).unwrap_or(0) <= self.bound,
            "after {what}: the session holds {} bytes (bound {})",
            self.held,
            self.bound
        );
        out
    }

    /// Hands `n` bytes of the wire to the session (all of it for 0).
    fn deliver(&mut self, n: usize) {
        let n = if n == 0 {
            self.wire.len()
        } else {
            n.min(self.wire.len())
        };
        self.recv.extend(self.wire.drain(..n));
        let recv = std::mem::take(&mut self.recv);
        if !recv.is_empty() {
            self.last_input = self.now;
        }
        let result = self.call("handle_input", |s, sw, now| s.handle_input(now, &recv, sw));
        self.recv = recv;
        match result {
            Ok(used) => {
                assert!(used <= self.recv.len());
                self.consumed.feed(&self.recv[..used]);
                self.recv.drain(..used);
                assert!(
                    self.recv.len() < self.s.max_frame(),
                    "{} bytes left unconsumed (frame bound {})",
                    self.recv.len(),
                    self.s.max_frame()
                );
            }
            Err(e) => assert!(
                self.s.is_closed(),
                "handle_input failed ({e}) but the session is open"
            ),
        }
    }

    /// Pulls up to `room` bytes of transmits, as a socket with that much room.
    /// The encoded output that comes out in one go (no input in between)
    /// was all queued or owed at once, so it must fit the budget.
    fn pull(&mut self, mut room: usize) {
        let mut encoded = 0usize;
        while room > 0 {
            let t = self.call("poll_transmit", |s, sw, now| s.poll_transmit(now, sw));
            let Some(t) = t else {
                break;
            };
            assert!(!self.s.is_closed());
            let len = t.len();
            match &t {
                Transmit::Bytes { head, body } => {
                    let whole = [&head[..], &body[..]].concat();
                    encoded += whole.len();
                    assert!(
                        encoded <= self.expect.config.peer_budget,
                        "{encoded} encoded bytes were waiting, over the {}-byte budget",
                        self.expect.config.peer_budget
                    );
                    self.out.bytes(&whole, &self.expect, &mut self.consumed);
                }
                Transmit::Block { header, block } => {
                    let r = BlockRequest {
                        index: block.piece().get(),
                        begin: block.begin(),
                        length: block.length(),
                    };
                    let servable = seedcore_protocol::session::Swarm::has_piece(
                        &self.swarm,
                        self.torrent,
                        r.index,
                    );
                    self.out.block(header, r, servable, &mut self.consumed);
                }
            }
            // What the runtime got back is the runtime's now.
            let ((), _, net) = measure(|| drop(t));
            self.held += net;
            if self.unsent == 0 {
                self.stalled_since = Some(self.now);
            }
            self.unsent += len;
            room = room.saturating_sub(len);
        }
    }

    fn sent(&mut self, n: usize) {
        let n = n.min(self.unsent);
        if n == 0 {
            return;
        }
        self.call("on_sent", |s, _, now| s.on_sent(now, n));
        self.unsent -= n;
        self.stalled_since = (self.unsent > 0).then_some(self.now);
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let due = self.s.poll_timeout().is_some_and(|t| t <= self.now);
        if due {
            self.call("handle_timeout", |s, _, now| s.handle_timeout(now));
        }
        let c = &self.expect.config;
        if self.s.is_closed() {
            return;
        }
        // The timers promise to close by now.
        let established = self.s.is_established();
        assert!(
            established || self.now < self.created + c.handshake_timeout,
            "handshake still open after {:?}",
            self.now - self.created
        );
        assert!(
            !established || self.now < self.last_input + c.idle_timeout,
            "idle for {:?} and still open",
            self.now - self.last_input
        );
        if let (Some(stall), Some(since)) = (c.send_stall_timeout, self.stalled_since) {
            assert!(
                self.unsent == 0 || self.now < since + stall,
                "{} bytes not taken for {:?} and still open",
                self.unsent,
                self.now - since
            );
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.s.poll_event() {
            match e {
                SessionEvent::Closed(_) => self.closed_events += 1,
                SessionEvent::HandshakeDone { torrent, .. } => {
                    self.handshake_events += 1;
                    assert_eq!(torrent, self.torrent);
                }
                SessionEvent::DhtPort(p) => {
                    assert_ne!(p, 0);
                    assert!(
                        !self.expect.ctx.private(),
                        "a private torrent's peer reported a DHT port"
                    );
                }
                SessionEvent::Pex(p) => {
                    assert!(
                        !self.expect.ctx.private(),
                        "PEX from a private torrent's peer"
                    );
                    assert!(p.added.len() <= 200 && p.added6.len() <= 200);
                }
                _ => {}
            }
        }
        assert!(
            self.closed_events <= 1,
            "Closed reported {} times",
            self.closed_events
        );
        assert!(self.handshake_events <= 1);
        // Closed is reported once the caller drains events.
        assert_eq!(self.closed_events == 1, self.s.is_closed());
        let most = max_queued(&self.expect.config, self.expect.fast);
        assert!(
            self.s.queued_requests() <= most,
            "{} requests queued (most {most})",
            self.s.queued_requests()
        );
        if self.s.is_closed() {
            assert!(!self.s.has_transmit());
            assert!(self.s.poll_timeout().is_none());
        }
    }
}

/// A message with fuzzed fields, encoded onto the wire.
fn message(b: &mut Bytes<'_>, pieces: u32, wire: &mut Vec<u8>) {
    let index = |b: &mut Bytes<'_>| {
        let raw = u32::from(b.u16());
        if raw & 0x8000 != 0 {
            raw << 16 | raw
        } else {
            raw % pieces.max(1)
        }
    };
    let request = |b: &mut Bytes<'_>| BlockRequest {
        index: index(b),
        begin: u32::from(b.u8() % 4) * 16384 + u32::from(b.u8() % 2),
        length: [16384, 3, 16383, 0, 16385, 1 << 20, 1000, 16384][b.below(8)],
    };
    let payload: Vec<u8>;
    let msg = match b.u8() % 20 {
        0..=2 => Message::Request(request(b)),
        3 => Message::Cancel(request(b)),
        4 => Message::Interested,
        5 => Message::NotInterested,
        6 => Message::Have { index: index(b) },
        7 => {
            let n = b.below(1000);
            payload = b.take(n).to_vec();
            Message::Bitfield(&payload)
        }
        8 => Message::HaveAll,
        9 => Message::HaveNone,
        10 => {
            // An extended handshake naming our extensions with fuzzed ids.
            let mut hs = ExtendedHandshake::default();
            for name in ["ut_metadata", "ut_pex", "LT_metadata", "lt_donthave"] {
                if b.bool() {
                    hs.m.insert(name.into(), b.u8() % 20);
                }
            }
            hs.reqq = b.bool().then(|| u32::from(b.u16()));
            hs.p = b.bool().then(|| b.u16());
            hs.v = b
                .bool()
                .then(|| String::from_utf8_lossy(b.chunk()).into_owned());
            payload = hs.to_bytes().unwrap_or_default();
            Message::Extended {
                id: 0,
                payload: &payload,
            }
        }
        11 | 12 => {
            // Metadata requests, to our ids (2 = ut_metadata, 14 = LT_metadata).
            let (id, body) = if b.bool() {
                (
                    2,
                    UtMetadata::Request {
                        piece: u32::from(b.u8() % 12),
                    }
                    .to_vec(),
                )
            } else {
                let start = b.u8();
                let size = u16::from(b.u8()) + 1;
                (14, LtMetadata::Request { start, size }.to_vec())
            };
            payload = body.unwrap_or_default();
            Message::Extended {
                id,
                payload: &payload,
            }
        }
        13 => {
            let mut pex = UtPex::default();
            for i in 0..b.below(300) {
                let ip = std::net::Ipv4Addr::from(0x0a00_0000 | i as u32);
                pex.added
                    .push((std::net::SocketAddrV4::new(ip, 6881), PexFlags(b.u8())));
            }
            payload = pex.to_vec().unwrap_or_default();
            Message::Extended {
                id: 1,
                payload: &payload,
            }
        }
        14 => {
            payload = b.chunk().to_vec();
            Message::Extended {
                id: b.u8() % 16,
                payload: &payload,
            }
        }
        15 | 16 => {
            // BEP 52 hash request for one of the torrent's roots or garbage.
            let mut root = [b.u8(); 32];
            if b.bool() {
                if let Some(r) = swarm::v2_root(b.u8()) {
                    root = r;
                }
            }
            let length = [2, 4, 3, 512, 1024, 0, 1, 8][b.below(8)];
            Message::HashRequest(HashRequest {
                pieces_root: root,
                base_layer: u32::from(b.u8() % 4),
                index: u32::from(b.u8()) * [1, 2, 4, 8][b.below(4)],
                length,
                proof_layers: u32::from(b.u8() % 24),
            })
        }
        17 => Message::Port(b.u16()),
        18 => Message::KeepAlive,
        _ => {
            let id = b.u8();
            payload = b.chunk().to_vec();
            Message::Unknown {
                id,
                payload: &payload,
            }
        }
    };
    let _ = msg.encode(wire);
}

/// See the module docs.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let pick = b.u8();
    let set = b.u8();
    let contexts = torrents();
    let torrent = TorrentId(u32::from(pick & 7) % contexts.len() as u32);
    let ctx = &contexts[torrent.0 as usize];

    let mut config = SessionConfig::default();
    if set & 1 != 0 {
        config.reqq = 4;
        config.max_refused_requests = 40;
    }
    if set & 2 != 0 {
        config.peer_budget = 4096;
    }
    if set & 4 != 0 {
        config.send_stall_timeout = None;
    }
    if set & 8 != 0 {
        config.allowed_fast = 0;
    }
    if set & 16 != 0 {
        config.dht_port = Some(6881);
    }
    if set & 64 != 0 {
        config.max_bad_extension_messages = 1;
    }
    let outbound = set & 32 != 0;
    let unchoked_early = set & 128 != 0;

    let mut reserved = Reserved::EMPTY;
    let fast = pick & 8 != 0;
    let ltep = pick & 16 != 0;
    let dht = pick & 32 != 0;
    reserved
        .set_fast(fast)
        .set_extension_protocol(ltep)
        .set_dht(dht)
        .set_v2_upgrade(ctx.has_v2());
    let auto_handshake = pick & 64 == 0;
    // Hybrids answer to both hashes; the session echoes the one used.
    let hashes = ctx.info_hashes();
    let info_hash = match (hashes.v1, hashes.v2, pick & 128 != 0) {
        (Some(_), Some(v2), true) => v2.truncated(),
        _ => hashes.wire_hash(),
    };
    let addr: SocketAddr = if b.bool() {
        "[2001:db8::7]:51413".parse().expect("an address")
    } else {
        SocketAddr::from(([192, 0, 2, b.u8()], 51413))
    };

    let now = Instant::now();
    let config = Arc::new(config);
    let swarm = FuzzSwarm::new();
    let bound = heap_bound(&config);
    let (s, _, net) = measure(|| {
        if outbound {
            PeerSession::outbound(Arc::clone(&config), addr, torrent, now, &swarm)
                .expect("the torrent exists")
        } else {
            PeerSession::inbound(Arc::clone(&config), addr, now)
        }
    });
    let outbound_hash = outbound.then(|| hashes.wire_hash());
    let mut run = Run {
        s,
        swarm,
        torrent,
        expect: Expect {
            ctx,
            info_hash: outbound_hash.unwrap_or(info_hash),
            fast,
            ltep,
            dht: dht && config.dht_port.is_some() && !ctx.private(),
            config: (*config).clone(),
        },
        now,
        wire: Vec::new(),
        recv: Vec::new(),
        consumed: Consumed::default(),
        out: Output::new(),
        unsent: 0,
        stalled_since: None,
        last_input: now,
        created: now,
        held: net,
        closed_events: 0,
        handshake_events: 0,
        bound,
    };
    if unchoked_early {
        run.call("set_choked", |s, _, now| s.set_choked(now, false));
    }
    if auto_handshake {
        let hash = if outbound {
            hashes.wire_hash()
        } else {
            info_hash
        };
        run.wire
            .extend_from_slice(&Handshake::new(reserved, hash, [0x42; 20]).to_bytes());
    }

    let mut ops = 0;
    while !b.is_empty() && ops < MAX_OPS && !run.s.is_closed() {
        ops += 1;
        match b.u8() % 16 {
            0 | 1 => {
                let raw = b.chunk();
                run.wire.extend_from_slice(raw);
            }
            2..=4 => message(&mut b, ctx.piece_count(), &mut run.wire),
            5 | 6 => {
                let n = usize::from(b.u16());
                run.deliver(n);
            }
            7 | 8 => {
                let room = [0, 13, 100, 16 * 1024, 64 * 1024, 1 << 20, usize::MAX, 17][b.below(8)];
                run.pull(room);
            }
            9 => {
                let n = usize::from(b.u16()) * usize::from(b.u8() % 8 + 1);
                run.sent(n);
            }
            10 => {
                let ms = [0, 1, 999, 5_000, 30_000, 119_000, 121_000, 301_000][b.below(8)];
                let by = Duration::from_millis(ms + u64::from(b.u8()));
                run.advance(by);
            }
            11 => {
                let choked = b.bool();
                run.call("set_choked", |s, _, now| s.set_choked(now, choked));
            }
            12 => {
                let piece = u32::from(b.u16()) % (ctx.piece_count() + 2);
                let on = b.bool();
                run.swarm.set(torrent, piece, on);
                run.call("piece_lost/added", |s, _, _| {
                    if on {
                        s.piece_added(piece)
                    } else {
                        s.piece_lost(piece)
                    }
                });
            }
            13 => {
                let n = b.below(120);
                let added: Vec<_> = (0..n)
                    .map(|i| {
                        (
                            SocketAddr::from(([10, 1, (i >> 8) as u8, i as u8], 6881)),
                            PexFlags(0),
                        )
                    })
                    .collect();
                let dropped: Vec<_> = added.iter().take(b.below(60)).map(|(a, _)| *a).collect();
                let sent = run.call("send_pex", |s, _, _| s.send_pex(&added, &dropped));
                assert!(!sent || !ctx.private(), "PEX queued on a private torrent");
            }
            14 => {
                // A runtime that writes everything it was given.
                let unsent = run.unsent;
                run.sent(unsent);
            }
            _ => {
                // The runtime's whole turn: deliver, write, confirm.
                run.deliver(0);
                run.pull(256 * 1024);
                let unsent = run.unsent;
                run.sent(unsent);
            }
        }
        run.events();
    }
    // Whatever is left: delivered, pulled through a socket with room.
    if !run.s.is_closed() {
        run.deliver(0);
        run.pull(usize::MAX);
        run.events();
    }
    if std::env::var_os("SEEDCORE_FUZZ_TRACE").is_some() {
        eprintln!(
            "session: {ops} ops, closed {:?}, open requests {}",
            run.s.close_reason(),
            run.consumed.open_requests.len()
        );
    }
    if !run.out.started() {
        // Nothing sent: fine only for an inbound session that never saw a
        // known info-hash, or one closed before it answered.
        assert!(!outbound || run.s.is_closed());
    }
}
