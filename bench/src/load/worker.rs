//! One load thread: an epoll loop (mio) over its share of the peers.
//!
//! Each thread owns its sockets, sessions, counters and one large receive
//! buffer; nothing is shared with other threads while the run lasts. A
//! readable socket is read into that buffer (after the few bytes of an
//! incomplete message left from the previous read), the session decodes
//! whole messages straight out of it (block data is hashed or counted in
//! place, never copied), and only the incomplete tail is kept per peer.
//! Reads per wake-up are bounded and a socket that still has data goes on
//! a list served next turn, so one fast connection cannot starve the rest.
//! Every wait has a timeout and the loop ends at the deadline, whatever
//! the peers do.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use seedcore_protocol::wire::Limits;

use super::session::{Ctx, Session, SessionConfig};
use super::stats::{ErrorKind, ThreadStats};
use super::transport::{Transport, TransportKind};
use crate::net;
use crate::rng::Rng;
use crate::torrent::Torrent;

/// Receive space per read, beyond room for one partial message.
pub const RECV_SIZE: usize = 256 * 1024;
/// Reads per socket per turn before other sockets get theirs.
const READS_PER_TURN: usize = 4;
/// Timer granularity for connect/handshake timeouts and keep-alives.
const TICK: Duration = Duration::from_millis(250);
/// A keep-alive goes out after this long without sending anything.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);

/// Run-wide settings, shared by all workers.
#[derive(Debug)]
pub(crate) struct RunConfig {
    pub torrent: Arc<Torrent>,
    pub target: std::net::SocketAddr,
    pub session: SessionConfig,
    pub transport: TransportKind,
    pub start: Instant,
    /// End of the warm-up: throughput counters, per-peer bytes and the
    /// latency histogram restart here (`start` when there is none).
    pub measure_from: Instant,
    pub deadline: Instant,
    pub ramp: Duration,
    pub peers_total: usize,
    pub churn_pct: f64,
    pub retry_delay: Duration,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub bind_source: bool,
    pub seed: u64,
}

/// What one peer slot did over the run.
#[derive(Clone, Debug)]
pub(crate) struct SlotReport {
    pub bytes: u64,
    /// From its first connect to the end of the run.
    pub active: Duration,
    pub open_at_end: bool,
}

/// What one worker hands back.
#[derive(Debug)]
pub(crate) struct WorkerReport {
    pub stats: ThreadStats,
    pub slots: Vec<SlotReport>,
}

struct Conn {
    transport: Box<dyn Transport>,
    connected: bool,
    session: Session,
    carry: Vec<u8>,
    opened: Instant,
    /// The session wake-up already in the wake heap, if any.
    wake: Option<Instant>,
}

struct Slot {
    peer: usize,
    source: Option<IpAddr>,
    gen: u32,
    conn: Option<Conn>,
    bytes: u64,
    first_start: Option<Instant>,
}

struct Worker<'a> {
    cfg: &'a RunConfig,
    poll: Poll,
    slots: Vec<Slot>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// Session wake-ups (simulated writes completing): slot and generation.
    wakes: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    again: Vec<usize>,
    scratch: Vec<u8>,
    stats: ThreadStats,
    rng: Rng,
    churn_acc: f64,
    measuring: bool,
}

fn token(idx: usize, gen: u32) -> Token {
    Token((usize::try_from(gen).unwrap_or(0) << 32) | (idx & 0xFFFF_FFFF))
}

fn untoken(t: Token) -> (usize, u32) {
    (
        t.0 & 0xFFFF_FFFF,
        u32::try_from(t.0 >> 32).unwrap_or(u32::MAX),
    )
}

fn connect_kind(e: &io::Error) -> ErrorKind {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        ErrorKind::ConnectRefused
    } else {
        ErrorKind::ConnectFailed
    }
}

fn io_kind(e: &io::Error, handshaken: bool) -> ErrorKind {
    use io::ErrorKind as K;
    match e.kind() {
        _ if !handshaken => ErrorKind::HandshakeFailed,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            ErrorKind::ClosedByPeer
        }
        _ => ErrorKind::IoError,
    }
}

fn peer_id(peer: usize, gen: u32) -> [u8; 20] {
    let mut id = *b"-SB0001-000000000000";
    let tail = format!("{:06}{:06}", peer % 1_000_000, gen % 1_000_000);
    for (d, s) in id.iter_mut().skip(8).zip(tail.bytes()) {
        *d = s;
    }
    id
}

/// Runs peers `peers` (global numbers) until the deadline.
pub(crate) fn run(cfg: &RunConfig, peers: &[usize], thread_seed: u64) -> io::Result<WorkerReport> {
    let limits = Limits::for_pieces(cfg.torrent.geometry.piece_count());
    let scratch_len = usize::try_from(limits.max_frame()).unwrap_or(0) + 4 + RECV_SIZE;
    let mut w = Worker {
        cfg,
        poll: Poll::new()?,
        slots: Vec::with_capacity(peers.len()),
        timers: BinaryHeap::with_capacity(peers.len()),
        wakes: BinaryHeap::new(),
        again: Vec::new(),
        scratch: vec![0; scratch_len],
        stats: ThreadStats::default(),
        rng: Rng::new(thread_seed),
        churn_acc: 0.0,
        measuring: cfg.measure_from <= cfg.start,
    };
    let total = cfg.peers_total.max(1) as f64;
    for (idx, &peer) in peers.iter().enumerate() {
        let at = cfg.start + cfg.ramp.mul_f64(peer as f64 / total);
        w.timers.push(Reverse((at, idx)));
        w.slots.push(Slot {
            peer,
            source: if cfg.bind_source {
                net::source_addr(peer, cfg.target)
            } else {
                None
            },
            gen: 0,
            conn: None,
            bytes: 0,
            first_start: None,
        });
    }
    w.event_loop()?;
    Ok(w.finish())
}

impl Worker<'_> {
    fn event_loop(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + TICK;
        let churn = self.cfg.churn_pct > 0.0;
        let mut next_churn = self.cfg.start + Duration::from_secs(1);
        loop {
            let now = Instant::now();
            if now >= self.cfg.deadline {
                return Ok(());
            }
            if !self.measuring && now >= self.cfg.measure_from {
                self.end_warmup();
            }
            while let Some(&Reverse((at, idx))) = self.timers.peek() {
                if at > now {
                    break;
                }
                self.timers.pop();
                self.connect(idx, now);
            }
            while let Some(&Reverse((at, idx, gen))) = self.wakes.peek() {
                if at > now {
                    break;
                }
                self.wakes.pop();
                self.wake(idx, gen, now);
            }
            if now >= next_tick {
                self.tick(now);
                next_tick = now + TICK;
            }
            if churn && now >= next_churn {
                self.churn(now);
                next_churn += Duration::from_secs(1);
            }
            let mut wake = self.cfg.deadline.min(next_tick);
            if let Some(Reverse((at, _))) = self.timers.peek() {
                wake = wake.min(*at);
            }
            if let Some(Reverse((at, _, _))) = self.wakes.peek() {
                wake = wake.min(*at);
            }
            if churn {
                wake = wake.min(next_churn);
            }
            if !self.measuring {
                wake = wake.min(self.cfg.measure_from);
            }
            let timeout = if self.again.is_empty() {
                wake.saturating_duration_since(now)
            } else {
                Duration::ZERO
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            for ev in events.iter() {
                let (idx, gen) = untoken(ev.token());
                let closed = ev.is_read_closed() || ev.is_error();
                self.on_event(
                    idx,
                    gen,
                    ev.is_readable() || closed,
                    ev.is_writable(),
                    closed,
                    now,
                );
            }
            for idx in std::mem::take(&mut self.again) {
                self.read(idx, false);
            }
        }
    }

    /// The warm-up is over: what is measured (payload and wire bytes,
    /// blocks, latency, per-peer bytes) starts from zero; connection and
    /// error counters keep counting the whole run.
    fn end_warmup(&mut self) {
        self.measuring = true;
        let c = &mut self.stats.counters;
        (c.data_bytes, c.wire_bytes, c.blocks, c.unexpected_blocks) = (0, 0, 0, 0);
        self.stats.latency.reset();
        self.stats.depth.reset_samples();
        for s in &mut self.slots {
            s.bytes = 0;
        }
    }

    fn conn(&mut self, idx: usize) -> Option<&mut Conn> {
        self.slots.get_mut(idx)?.conn.as_mut()
    }

    fn on_event(
        &mut self,
        idx: usize,
        gen: u32,
        readable: bool,
        writable: bool,
        closed: bool,
        now: Instant,
    ) {
        let live = self
            .slots
            .get(idx)
            .is_some_and(|s| s.gen == gen && s.conn.is_some());
        if !live {
            return;
        }
        let Some(conn) = self.conn(idx) else { return };
        if !conn.connected {
            match conn.transport.poll_connected() {
                Err(e) => return self.fail(idx, connect_kind(&e), e.to_string(), now),
                Ok(false) => return,
                Ok(true) => {
                    conn.connected = true;
                    self.stats.counters.connects += 1;
                }
            }
            self.flush(idx, now);
        }
        if readable {
            self.read(idx, closed);
        }
        if writable {
            self.flush(idx, now);
        }
    }

    /// Reads what the socket has (up to the per-turn budget) and feeds it
    /// to the session.
    fn read(&mut self, idx: usize, closing: bool) {
        let torrent = Arc::clone(&self.cfg.torrent);
        let mut drained = false;
        for _ in 0..READS_PER_TURN {
            let Some(slot) = self.slots.get_mut(idx) else {
                return;
            };
            let Some(conn) = slot.conn.as_mut() else {
                return;
            };
            let c = conn.carry.len();
            let Some((head, space)) = self.scratch.split_at_mut_checked(c) else {
                return;
            };
            head.copy_from_slice(&conn.carry);
            let room = space.len();
            let now = Instant::now();
            match conn.transport.read(space) {
                Ok(0) => {
                    let kind = if conn.session.handshaken() {
                        ErrorKind::ClosedByPeer
                    } else {
                        ErrorKind::HandshakeFailed
                    };
                    return self.fail(idx, kind, "the peer closed the connection".into(), now);
                }
                Ok(n) => {
                    self.stats.counters.wire_bytes += n as u64;
                    let data = self.scratch.get(..c + n).unwrap_or_default();
                    let mut ctx = Ctx {
                        torrent: &torrent,
                        stats: &mut self.stats,
                        now,
                        peer_bytes: &mut slot.bytes,
                    };
                    match conn.session.on_bytes(data, &mut ctx) {
                        Ok(used) => {
                            conn.carry.clear();
                            conn.carry
                                .extend_from_slice(data.get(used..).unwrap_or_default());
                        }
                        Err(e) => return self.fail(idx, e.kind(), e.to_string(), now),
                    }
                    self.schedule_wake(idx);
                    // A short read means the socket is empty for now; new
                    // data raises a new edge. Not when the peer is closing:
                    // then read on until EOF is seen.
                    if n < room && !closing {
                        drained = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drained = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = io_kind(&e, conn.session.handshaken());
                    return self.fail(idx, kind, e.to_string(), now);
                }
            }
        }
        if !drained {
            self.again.push(idx);
        }
        self.flush(idx, Instant::now());
    }

    /// Writes queued bytes until done or the socket is full (a writable
    /// event resumes it).
    fn flush(&mut self, idx: usize, now: Instant) {
        let Some(conn) = self.conn(idx) else { return };
        if !conn.connected {
            return;
        }
        while !conn.session.out.is_empty() {
            match conn.transport.write(&conn.session.out) {
                Ok(0) => {
                    return self.fail(idx, ErrorKind::IoError, "write returned 0".into(), now);
                }
                Ok(n) => {
                    conn.session.out.drain(..n.min(conn.session.out.len()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let kind = io_kind(&e, conn.session.handshaken());
                    return self.fail(idx, kind, e.to_string(), now);
                }
            }
        }
    }

    fn connect(&mut self, idx: usize, now: Instant) {
        let cfg = self.cfg;
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        slot.gen = slot.gen.wrapping_add(1);
        self.stats.counters.connect_attempts += 1;
        slot.first_start.get_or_insert(now);
        let result = cfg
            .transport
            .connect(slot.source, cfg.target)
            .and_then(|mut transport| {
                transport.register(self.poll.registry(), token(idx, slot.gen))?;
                Ok(transport)
            });
        match result {
            Ok(transport) => {
                let seed = cfg.seed ^ ((slot.peer as u64) << 20) ^ u64::from(slot.gen);
                let session = Session::new(
                    &cfg.torrent,
                    &cfg.session,
                    peer_id(slot.peer, slot.gen),
                    seed,
                    now,
                );
                slot.conn = Some(Conn {
                    transport,
                    connected: false,
                    session,
                    carry: Vec::new(),
                    opened: now,
                    wake: None,
                });
            }
            Err(e) => {
                let kind = connect_kind(&e);
                let detail = e.to_string();
                self.stats.errors.add(kind, || detail);
                self.schedule_retry(idx, now);
            }
        }
    }

    /// Puts the session's next wake-up in the heap unless it is there.
    fn schedule_wake(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let gen = slot.gen;
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        let next = conn.session.next_wake();
        if next.is_some() && next != conn.wake {
            conn.wake = next;
            if let Some(at) = next {
                self.wakes.push(Reverse((at, idx, gen)));
            }
        }
    }

    /// A session's wake-up is due: let it top up its pipeline.
    fn wake(&mut self, idx: usize, gen: u32, now: Instant) {
        let torrent = Arc::clone(&self.cfg.torrent);
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if slot.gen != gen {
            return;
        }
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };
        conn.wake = None;
        let mut ctx = Ctx {
            torrent: &torrent,
            stats: &mut self.stats,
            now,
            peer_bytes: &mut slot.bytes,
        };
        conn.session.on_time(&mut ctx);
        self.schedule_wake(idx);
        self.flush(idx, now);
    }

    fn close(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if let Some(mut conn) = slot.conn.take() {
            conn.transport.deregister(self.poll.registry());
        }
        slot.gen = slot.gen.wrapping_add(1);
    }

    fn fail(&mut self, idx: usize, kind: ErrorKind, detail: String, now: Instant) {
        self.stats.errors.add(kind, || detail);
        self.close(idx);
        self.schedule_retry(idx, now);
    }

    fn schedule_retry(&mut self, idx: usize, now: Instant) {
        let at = now + self.cfg.retry_delay;
        if at < self.cfg.deadline {
            self.timers.push(Reverse((at, idx)));
        }
    }

    /// Timeouts, keep-alives, the sessions' clocks and depth samples.
    fn tick(&mut self, now: Instant) {
        let (ct, ht) = (self.cfg.connect_timeout, self.cfg.handshake_timeout);
        let torrent = Arc::clone(&self.cfg.torrent);
        for idx in 0..self.slots.len() {
            let Some(slot) = self.slots.get_mut(idx) else {
                continue;
            };
            if let Some(conn) = slot.conn.as_mut() {
                if conn.connected && conn.session.handshaken() {
                    let mut ctx = Ctx {
                        torrent: &torrent,
                        stats: &mut self.stats,
                        now,
                        peer_bytes: &mut slot.bytes,
                    };
                    conn.session.on_time(&mut ctx);
                    if self.measuring && conn.session.unchoked() {
                        self.stats.depth.sample(
                            conn.session.in_flight() as u64,
                            u64::from(conn.session.target_depth()),
                        );
                    }
                    self.schedule_wake(idx);
                }
            }
            let Some(conn) = self.conn(idx) else { continue };
            let age = now.saturating_duration_since(conn.opened);
            if !conn.connected && age > ct {
                let d = format!("connect timed out after {:.1} s", ct.as_secs_f64());
                self.fail(idx, ErrorKind::ConnectFailed, d, now);
            } else if conn.connected && !conn.session.handshaken() && age > ht {
                let d = format!("no handshake within {:.1} s", ht.as_secs_f64());
                self.fail(idx, ErrorKind::HandshakeFailed, d, now);
            } else {
                conn.session.keepalive_if_idle(now, KEEPALIVE_IDLE);
                if !conn.session.out.is_empty() {
                    self.flush(idx, now);
                }
            }
        }
    }

    /// Disconnects `churn_pct`% of the established peers (fractions carry
    /// over to the next second) and reconnects them at once.
    fn churn(&mut self, now: Instant) {
        let mut open: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots
                    .get(i)
                    .and_then(|s| s.conn.as_ref())
                    .is_some_and(|c| c.session.handshaken())
            })
            .collect();
        self.churn_acc += open.len() as f64 * self.cfg.churn_pct / 100.0;
        let mut k = 0;
        while k < open.len() && self.churn_acc >= 1.0 {
            k += 1;
            self.churn_acc -= 1.0;
        }
        // Fewer peers than asked for: do not carry the shortfall over.
        self.churn_acc = self.churn_acc.min(1.0);
        for i in 0..k {
            let j = i + self.rng.below_usize(open.len() - i);
            open.swap(i, j);
            if let Some(&idx) = open.get(i) {
                self.close(idx);
                self.stats.counters.churned += 1;
                self.timers.push(Reverse((now, idx)));
            }
        }
    }

    fn finish(mut self) -> WorkerReport {
        let end = self.cfg.deadline;
        let mut slots = Vec::with_capacity(self.slots.len());
        for idx in 0..self.slots.len() {
            let open = self
                .slots
                .get(idx)
                .and_then(|s| s.conn.as_ref())
                .is_some_and(|c| c.session.handshaken());
            self.close(idx);
            if let Some(s) = self.slots.get(idx) {
                slots.push(SlotReport {
                    bytes: s.bytes,
                    active: s.first_start.map_or(Duration::ZERO, |t| {
                        end.saturating_duration_since(t.max(self.cfg.measure_from))
                    }),
                    open_at_end: open,
                });
            }
        }
        WorkerReport {
            stats: self.stats,
            slots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for (i, g) in [(0, 0), (5, 7), (0xFFFF_FFFF, u32::MAX)] {
            assert_eq!(untoken(token(i, g)), (i, g));
        }
        assert_eq!(&peer_id(42, 3), b"-SB0001-000042000003");
    }
}
