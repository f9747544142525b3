//! The socket: many connections on one UDP socket, told apart by
//! connection id and peer address, with bounds on what strangers can make
//! it hold.
//!
//! # Routing
//!
//! A packet goes to the connection whose receive id and peer address it
//! names (a SYN names the id its sender receives on; the acceptor receives
//! on that id plus one). A RESET may name either id of a connection.
//!
//! # SYN floods
//!
//! An accepted connection is *half-open* until its peer sends data: it
//! costs a [`Connection`] (no buffers yet) and answers one STATE. At most
//! `max_half_open` exist; each is forgotten after `half_open_timeout` or
//! at its first retransmission timeout. Past that bound a SYN gets a
//! stateless answer: a SYN cookie, a keyed hash of the peer's address,
//! its connection id and the current minute, as our first sequence
//! number. A peer that really dials us answers with data acknowledging
//! `cookie - 1`; that packet creates the connection. So a flood of SYNs
//! from 10,000 ports costs 10,000 20-byte answers and no memory, and
//! honest peers still get in. (A cookie cannot carry the peer's own first
//! sequence number; the connection assumes the first packet to arrive is
//! its first. If that packet was lost the stream is garbled and the
//! application closes it: a cost paid only under a flood.)
//!
//! # Output and timers
//!
//! Connections with something to send queue themselves; `poll_transmit`
//! serves them in turn until the caller's batch is full. Deadlines live
//! in one heap (stale entries are skipped when they surface), so a timer
//! costs `O(log n)` and nothing scans every connection.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError};
use crate::conn::{CloseReason, Connection, Events, State};
use crate::packet::{Header, Packet, PacketType, HEADER_LEN};
use crate::transmit::Transmits;

/// Stateless answers (cookies, RESETs) waiting to go out, at most.
const MAX_STATELESS: usize = 1024;

/// A SYN cookie is valid for this long (plus up to the same again).
const COOKIE_PERIOD: Duration = Duration::from_secs(64);

/// A connection, as the application names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnHandle {
    index: u32,
    generation: u32,
}

/// What happened, for the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A peer dialled us and sent its first data: a new connection.
    Incoming(ConnHandle),
    /// Something happened on a connection.
    Connection(ConnHandle, Events),
}

/// Why a dial could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint holds `max_connections` already.
    #[error("too many uTP connections ({0})")]
    TooManyConnections(usize),
    /// Every connection id towards that address is in use.
    #[error("no free uTP connection id towards {0}")]
    NoFreeId(SocketAddr),
}

/// Counters of an endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to [`Endpoint::handle_datagram`].
    pub datagrams_in: u64,
    /// ... that were not uTP packets (too short, bad version or type,
    /// malformed extensions).
    pub invalid: u64,
    /// ... for no connection (and not a SYN or a valid cookie).
    pub unknown: u64,
    /// SYNs received (repeats included).
    pub syns: u64,
    /// SYNs dropped because the endpoint was full.
    pub syns_refused: u64,
    /// SYN cookies sent.
    pub cookies_sent: u64,
    /// Connections opened by a returning cookie.
    pub cookies_accepted: u64,
    /// Connections accepted (half-open ones included).
    pub accepted: u64,
    /// Half-open connections forgotten.
    pub half_open_expired: u64,
    /// RESETs sent to strays.
    pub resets_sent: u64,
    /// Stray packets not answered (RESET rate limit or queue full).
    pub resets_suppressed: u64,
}

#[derive(Debug)]
struct Slot<E> {
    generation: u32,
    conn: Option<Connection<E>>,
    /// The application knows it (dialled, or reported as incoming).
    visible: bool,
    /// The application let it go: freed once closed.
    released: bool,
    half_open: bool,
    dirty: bool,
    timer: Option<Instant>,
    events: u8,
    event_queued: bool,
}

/// Many uTP connections over one UDP socket. `E` is the type of the
/// external payload references connections carry
/// ([`Connection::write_external`]).
#[derive(Debug)]
pub struct Endpoint<E> {
    cfg: Arc<Config>,
    epoch: Instant,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    index: HashMap<(SocketAddr, u16), u32>,
    /// The last route looked up: most datagrams in a receive batch belong
    /// to the same connection (libutp and libtorrent keep the same cache),
    /// and this skips the keyed hash for them.
    last: Option<((SocketAddr, u16), u32)>,
    live: usize,
    half_open: usize,
    dirty: VecDeque<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: VecDeque<u32>,
    incoming: VecDeque<ConnHandle>,
    stateless: VecDeque<(SocketAddr, [u8; HEADER_LEN])>,
    rng: u64,
    keys: RandomState,
    reset_tokens: u32,
    reset_refill: Instant,
    stats: EndpointStats,
}

impl<E: Clone> Endpoint<E> {
    /// An endpoint with `cfg`, its clock starting at `now`; sequence
    /// numbers and ids from a random seed.
    pub fn new(cfg: Config, now: Instant) -> Result<Endpoint<E>, ConfigError> {
        let seed = RandomState::new().hash_one(now);
        Endpoint::with_seed(cfg, now, seed)
    }

    /// The same with a fixed seed (reproducible tests).
    pub fn with_seed(cfg: Config, now: Instant, seed: u64) -> Result<Endpoint<E>, ConfigError> {
        cfg.validate()?;
        Ok(Endpoint {
            reset_tokens: cfg.resets_per_second,
            cfg: Arc::new(cfg),
            epoch: now,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            last: None,
            live: 0,
            half_open: 0,
            dirty: VecDeque::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            incoming: VecDeque::new(),
            stateless: VecDeque::new(),
            rng: seed,
            keys: RandomState::new(),
            reset_refill: now,
            stats: EndpointStats::default(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Connections held (all states, half-open included).
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Half-open connections held.
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// The connection `h` names, if it still exists.
    pub fn conn(&self, h: ConnHandle) -> Option<&Connection<E>> {
        let s = self.slots.get(h.index as usize)?;
        (s.generation == h.generation)
            .then_some(s.conn.as_ref())
            .flatten()
    }

    /// The connection, to write, read or close it. The endpoint looks at
    /// it again at the next `poll_transmit` (a write may have queued data;
    /// a read may have opened the window).
    pub fn conn_mut(&mut self, h: ConnHandle) -> Option<&mut Connection<E>> {
        let s = self.slots.get_mut(h.index as usize)?;
        if s.generation != h.generation || s.conn.is_none() {
            return None;
        }
        if !s.dirty {
            s.dirty = true;
            self.dirty.push_back(h.index);
        }
        s.conn.as_mut()
    }

    /// Connections the application holds, with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (ConnHandle, &Connection<E>)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            let c = s.conn.as_ref()?;
            (s.visible && !s.released).then_some((
                ConnHandle {
                    index: u32::try_from(i).unwrap_or(u32::MAX),
                    generation: s.generation,
                },
                c,
            ))
        })
    }

    /// The application is done with `h`: a connection still open closes
    /// gracefully (its queued bytes and FIN still go out) and is freed
    /// when closed; no more events are reported for it.
    pub fn release(&mut self, h: ConnHandle) {
        let Some(s) = self.slots.get_mut(h.index as usize) else {
            return;
        };
        if s.generation != h.generation {
            return;
        }
        s.released = true;
        if let Some(c) = s.conn.as_mut() {
            c.close();
        }
        self.after(h.index);
    }

    /// Dials `to`; the SYN goes out at the next `poll_transmit`.
    pub fn connect(&mut self, now: Instant, to: SocketAddr) -> Result<ConnHandle, ConnectError> {
        if self.live >= self.cfg.max_connections {
            return Err(ConnectError::TooManyConnections(self.live));
        }
        let mut id = None;
        for _ in 0..64 {
            let r = self.rand16();
            if !self.index.contains_key(&(to, r)) {
                id = Some(r);
                break;
            }
        }
        let id = id.ok_or(ConnectError::NoFreeId(to))?;
        let isn = self.rand16();
        let conn = Connection::connect(Arc::clone(&self.cfg), self.epoch, now, to, id, isn);
        let h = self.insert(conn, id, true);
        self.after(h.index);
        Ok(h)
    }

    /// Events, oldest first: new incoming connections, then per-connection
    /// flags.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(h) = self.incoming.pop_front() {
            return Some(Event::Incoming(h));
        }
        while let Some(i) = self.events.pop_front() {
            let Some(s) = self.slots.get_mut(i as usize) else {
                continue;
            };
            s.event_queued = false;
            let ev = std::mem::take(&mut s.events);
            if ev != 0 && s.visible && !s.released {
                let h = ConnHandle {
                    index: i,
                    generation: s.generation,
                };
                return Some(Event::Connection(h, Events(ev)));
            }
        }
        None
    }

    /// Whether `data` could be a uTP packet (version 1, a known type).
    /// KRPC (DHT) messages are bencoded dictionaries and start with `d`
    /// (0x64), which no uTP header byte (0x01, 0x11, ..., 0x41) equals: the
    /// first byte alone tells the two apart on a shared port.
    pub fn is_utp(data: &[u8]) -> bool {
        data.len() >= HEADER_LEN && data.first().is_some_and(|b| b & 0x0f == 1 && b >> 4 <= 4)
    }

    /// Handles one datagram from `from`. Returns the connection it went
    /// to, if any.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Option<ConnHandle> {
        self.stats.datagrams_in += 1;
        let p = match Packet::parse(data) {
            Ok(p) => p,
            Err(_) => {
                self.stats.invalid += 1;
                return None;
            }
        };
        let h = p.header;
        let idx = match h.kind {
            PacketType::Syn => {
                self.stats.syns += 1;
                match self.index.get(&(from, h.conn_id.wrapping_add(1))) {
                    Some(&i) => Some(i),
                    None => return self.syn(now, from, &p),
                }
            }
            PacketType::Reset => self.index.get(&(from, h.conn_id)).copied().or_else(|| {
                // A RESET naming the connection's send id.
                let i = *self.index.get(&(from, h.conn_id.wrapping_add(1)))?;
                let c = self.slots.get(i as usize)?.conn.as_ref()?;
                (c.send_id == h.conn_id).then_some(i)
            }),
            _ => self.route(from, h.conn_id),
        };
        let Some(i) = idx else {
            return self.stray(now, from, &p);
        };
        let s = self.slots.get_mut(i as usize)?;
        let conn = s.conn.as_mut()?;
        conn.handle_packet(now, &p);
        let handle = ConnHandle {
            index: i,
            generation: s.generation,
        };
        // It may have an ACK to send, or room in its window now.
        if !s.dirty {
            s.dirty = true;
            self.dirty.push_back(i);
        }
        self.after(i);
        Some(handle)
    }

    fn route(&mut self, from: SocketAddr, id: u16) -> Option<u32> {
        if let Some((key, i)) = self.last {
            if key == (from, id) {
                return Some(i);
            }
        }
        let i = *self.index.get(&(from, id))?;
        self.last = Some(((from, id), i));
        Some(i)
    }

    /// A SYN for no existing connection.
    fn syn(&mut self, now: Instant, from: SocketAddr, p: &Packet<'_>) -> Option<ConnHandle> {
        let h = p.header;
        if self.live >= self.cfg.max_connections {
            self.stats.syns_refused += 1;
            return None;
        }
        let recv_id = h.conn_id.wrapping_add(1);
        if self.half_open >= self.cfg.max_half_open {
            // Stateless: our first sequence number is the cookie.
            let cookie = self.cookie(from, h.conn_id, self.cookie_slot(now));
            let ack = Header {
                kind: PacketType::State,
                extension: 0,
                conn_id: h.conn_id,
                timestamp: self.micros(now),
                timestamp_diff: self.micros(now).wrapping_sub(h.timestamp),
                wnd_size: self.cfg.recv_buffer,
                seq_nr: cookie,
                ack_nr: h.seq_nr,
            };
            if self.push_stateless(from, &ack) {
                self.stats.cookies_sent += 1;
            }
            return None;
        }
        let isn = self.rand16();
        let mut conn = Connection::accept(
            Arc::clone(&self.cfg),
            self.epoch,
            now,
            from,
            h.conn_id,
            h.seq_nr,
            isn,
            false,
        );
        conn.handle_packet(now, p);
        self.stats.accepted += 1;
        let handle = self.insert(conn, recv_id, false);
        self.after(handle.index);
        None
    }

    /// A packet for no connection: a returning SYN cookie, or a stray.
    fn stray(&mut self, now: Instant, from: SocketAddr, p: &Packet<'_>) -> Option<ConnHandle> {
        let h = p.header;
        if h.kind == PacketType::Data && self.live < self.cfg.max_connections {
            let peer_id = h.conn_id.wrapping_sub(1);
            let want = h.ack_nr.wrapping_add(1);
            let slot = self.cookie_slot(now);
            let valid = [slot, slot.wrapping_sub(1)]
                .into_iter()
                .any(|s| self.cookie(from, peer_id, s) == want);
            if valid {
                self.stats.cookies_accepted += 1;
                self.stats.accepted += 1;
                let conn = Connection::accept(
                    Arc::clone(&self.cfg),
                    self.epoch,
                    now,
                    from,
                    peer_id,
                    h.seq_nr.wrapping_sub(1),
                    want,
                    true,
                );
                let handle = self.insert(conn, h.conn_id, true);
                self.incoming.push_back(handle);
                if let Some(c) = self
                    .slots
                    .get_mut(handle.index as usize)
                    .and_then(|s| s.conn.as_mut())
                {
                    c.handle_packet(now, p);
                }
                self.after(handle.index);
                return Some(handle);
            }
        }
        self.stats.unknown += 1;
        if h.kind == PacketType::Reset {
            return None;
        }
        self.refill_resets(now);
        if self.reset_tokens == 0 {
            self.stats.resets_suppressed += 1;
            return None;
        }
        // Most strays are packets of connections the peer opened to us
        // (that we forgot): it receives on its send id less one.
        let reset = Header {
            kind: PacketType::Reset,
            extension: 0,
            conn_id: h.conn_id.wrapping_sub(1),
            timestamp: self.micros(now),
            timestamp_diff: 0,
            wnd_size: 0,
            seq_nr: self.rand16(),
            ack_nr: h.seq_nr,
        };
        if self.push_stateless(from, &reset) {
            self.reset_tokens -= 1;
            self.stats.resets_sent += 1;
        }
        None
    }

    fn push_stateless(&mut self, to: SocketAddr, h: &Header) -> bool {
        if self.stateless.len() >= MAX_STATELESS {
            self.stats.resets_suppressed += 1;
            return false;
        }
        let mut raw = [0u8; HEADER_LEN];
        h.encode(&mut raw);
        self.stateless.push_back((to, raw));
        true
    }

    fn refill_resets(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.reset_refill);
        if elapsed >= Duration::from_secs(1) {
            self.reset_tokens = self.cfg.resets_per_second;
            self.reset_refill = now;
        }
    }

    /// Fills `out` with up to `max` datagrams; returns how many were
    /// added.
    pub fn poll_transmit(&mut self, now: Instant, max: usize, out: &mut Transmits<E>) -> usize {
        let mut n = 0;
        while n < max {
            let Some((to, raw)) = self.stateless.pop_front() else {
                break;
            };
            out.begin(to, false);
            let from = out.inline_buf().len();
            out.inline_buf().extend_from_slice(&raw);
            out.inline_done(from);
            n += 1;
        }
        let mut rounds = self.dirty.len();
        while n < max && rounds > 0 {
            rounds -= 1;
            let Some(i) = self.dirty.pop_front() else {
                break;
            };
            let Some(s) = self.slots.get_mut(i as usize) else {
                continue;
            };
            s.dirty = false;
            let Some(c) = s.conn.as_mut() else {
                continue;
            };
            let room = max - n;
            let k = c.poll_transmit(now, out, room);
            n += k;
            if k == room {
                // It may have more: back of the queue, after the others.
                s.dirty = true;
                self.dirty.push_back(i);
            }
            self.after(i);
        }
        n
    }

    /// The earliest deadline of any connection.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((t, i, g))) = self.timers.peek().copied() {
            let live = self
                .slots
                .get(i as usize)
                .is_some_and(|s| s.generation == g && s.timer == Some(t) && s.conn.is_some());
            if live {
                return Some(t);
            }
            self.timers.pop();
        }
        None
    }

    /// Runs every deadline up to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Due entries first, then each handled once: a deadline that is
        // still due afterwards waits for the next call instead of
        // spinning here.
        let mut due = Vec::new();
        while let Some(Reverse((t, i, g))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            due.push((t, i, g));
        }
        for (t, i, g) in due {
            let Some(s) = self.slots.get_mut(i as usize) else {
                continue;
            };
            if s.generation != g || s.timer != Some(t) {
                continue;
            }
            s.timer = None;
            let Some(c) = s.conn.as_mut() else {
                continue;
            };
            c.handle_timeout(now);
            if !s.dirty {
                s.dirty = true;
                self.dirty.push_back(i);
            }
            self.after(i);
        }
        self.refill_resets(now);
    }

    fn insert(&mut self, conn: Connection<E>, recv_id: u16, visible: bool) -> ConnHandle {
        let peer = conn.peer();
        let half_open = conn.state() == State::SynRecv;
        let slot = Slot {
            generation: 0,
            conn: Some(conn),
            visible,
            released: false,
            half_open,
            dirty: true,
            timer: None,
            events: 0,
            event_queued: false,
        };
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    let generation = s.generation;
                    *s = Slot { generation, ..slot };
                }
                i
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert((peer, recv_id), index);
        self.dirty.push_back(index);
        self.live += 1;
        if half_open {
            self.half_open += 1;
        }
        let generation = self.slots.get(index as usize).map_or(0, |s| s.generation);
        ConnHandle { index, generation }
    }

    /// Bookkeeping after anything touched connection `i`: half-open
    /// accounting, events, freeing, its timer.
    fn after(&mut self, i: u32) {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        let Some(c) = s.conn.as_mut() else {
            return;
        };
        let state = c.state();
        if s.half_open && state != State::SynRecv {
            s.half_open = false;
            self.half_open -= 1;
            if state != State::Closed {
                s.visible = true;
                self.incoming.push_back(ConnHandle {
                    index: i,
                    generation: s.generation,
                });
            }
        }
        let ev = c.take_events();
        if s.visible && !s.released && !ev.is_empty() {
            s.events |= ev.0;
            if !s.event_queued {
                s.event_queued = true;
                self.events.push_back(i);
            }
        }
        // Freed once closed and nothing is left to send (a pending RESET
        // goes out first), if the application is done with it.
        let pending_reset = c.reset_pending;
        if state == State::Closed && !pending_reset && (s.released || !s.visible) {
            if c.close_reason() == Some(CloseReason::HalfOpenExpired) {
                self.stats.half_open_expired += 1;
            }
            let key = (c.peer(), c.recv_id());
            s.conn = None;
            s.generation = s.generation.wrapping_add(1);
            s.timer = None;
            s.events = 0;
            self.index.remove(&key);
            if self.last.is_some_and(|(k, _)| k == key) {
                self.last = None;
            }
            self.free.push(i);
            self.live -= 1;
            return;
        }
        let t = c.poll_timeout();
        if let Some(t) = t {
            if s.timer.is_none_or(|old| t < old) {
                s.timer = Some(t);
                self.timers.push(Reverse((t, i, s.generation)));
            }
        }
        if pending_reset && !s.dirty {
            s.dirty = true;
            self.dirty.push_back(i);
        }
        if self.timers.len() > 4 * self.slots.len() + 1024 {
            self.rebuild_timers();
        }
    }

    fn rebuild_timers(&mut self) {
        self.timers.clear();
        for (i, s) in self.slots.iter().enumerate() {
            if let (Some(t), Some(_)) = (s.timer, s.conn.as_ref()) {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                self.timers.push(Reverse((t, i, s.generation)));
            }
        }
    }

    fn micros(&self, now: Instant) -> u32 {
        let us = now.saturating_duration_since(self.epoch).as_micros();
        u32::try_from(us % (1 << 32)).unwrap_or(0)
    }

    fn cookie_slot(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / COOKIE_PERIOD.as_secs()
    }

    fn cookie(&self, from: SocketAddr, conn_id: u16, slot: u64) -> u16 {
        let h = self.keys.hash_one((from, conn_id, slot));
        u16::try_from(h & 0xffff).unwrap_or(0)
    }

    /// splitmix64.
    fn rand16(&mut self) -> u16 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        u16::try_from(z >> 48).unwrap_or(0)
    }
}
