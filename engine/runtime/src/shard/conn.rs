//! One peer connection: a task that moves bytes between a socket and its
//! sans-IO session.
//!
//! # One task, both directions
//!
//! The driver is a single future that, each time it is polled, reads what
//! the socket has, feeds the session, writes what the session hands out
//! while the socket takes it, and arms one timer at the session's next
//! deadline. glommio keeps separate read and write interests per stream, so
//! one task waits on both without splitting the stream (which would need a
//! lock). The session sits in a `RefCell` inside an `Rc` that the shard also
//! holds, so the choker, PEX rounds and piece changes can reach it; every
//! borrow ends before the task yields.
//!
//! # Memory per connection
//!
//! Receiving goes through one 64 KiB buffer per shard: bytes are fed to the
//! session straight from it, and only an incomplete message's bytes are
//! copied into the connection's own buffer (a `BytesMut`, freed as soon as
//! it is consumed, and counted against the shard's `partial_budget`). The
//! send queue is emptied and freed the same way. An idle peer therefore
//! holds no buffer at all: its session, its socket, this task and a timer
//! (engine/DESIGN.md gives the measured bytes per peer).
//!
//! # The byte transport seam
//!
//! Everything between the socket and the session is four calls: `poll_read`
//! (bytes in, honouring `PeerSession::wants_input`), `Outbox::poll_write`
//! (bytes out, from `Transmit`s), `report_socket` (what the transport says
//! the peer took) and the timer. An encrypted stream (MSE) or another
//! transport (uTP) replaces these and keeps the rest.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use futures_lite::io::AsyncRead;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use seedcore_protocol::session::{
    PeerSession, SessionError, SessionEvent, TorrentId, Transmit, SLOW_FRAME_MIN,
};

use super::send::{Item, Outbox};
use super::Shard;
use crate::msg::{DialId, FromShard};

/// A connection as the shard sees it (shared with its task).
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) session: RefCell<PeerSession>,
    waker: RefCell<Option<Waker>>,
    /// Set by the shard to close the connection (shutdown, eviction).
    pub(crate) stop: Cell<bool>,
    /// Set with `stop` when the connection is evicted for a newcomer.
    pub(crate) evicted: Cell<bool>,
    /// The peer's address, as counted by the shared registry.
    pub(crate) ip: std::net::IpAddr,
    /// The torrent its address was counted for in the registry.
    pub(crate) bound: Cell<Option<TorrentId>>,
    pub(crate) dial: Option<DialId>,
    pub(crate) started: Instant,
    /// The torrent, once the handshake is done (for the counters).
    pub(crate) torrent: Cell<Option<TorrentId>>,
    /// The reachable address reported to the control thread for PEX.
    pub(crate) announced: Cell<Option<SocketAddr>>,
    /// Whether this peer has had a full PEX list yet.
    pub(crate) pex_primed: Cell<bool>,
}

impl Conn {
    pub(crate) fn new(id: u64, session: PeerSession, dial: Option<DialId>) -> Conn {
        let ip = session.peer_addr().ip();
        Conn {
            id,
            evicted: Cell::new(false),
            ip,
            bound: Cell::new(None),
            session: RefCell::new(session),
            waker: RefCell::new(None),
            stop: Cell::new(false),
            dial,
            started: Instant::now(),
            torrent: Cell::new(None),
            announced: Cell::new(None),
            pex_primed: Cell::new(false),
        }
    }

    /// Wakes the task after the shard changed the session (choke, piece
    /// lost, PEX) or asked it to stop.
    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    fn park(&self, waker: &Waker) {
        let mut slot = self.waker.borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }
}

/// Rounds of read/write/timer work in one poll before yielding to other
/// connections (fairness on a busy shard).
const ROUNDS_PER_POLL: u32 = 32;

/// Bytes one connection may write in one poll before it lets the other
/// tasks of the shard run (a fast peer with a deep queue would otherwise
/// keep the shard to itself for tens of milliseconds).
const WRITE_BUDGET: usize = 1 << 20;

/// Runs a connection to its end.
pub(crate) async fn run(shard: Rc<Shard>, conn: Rc<Conn>, stream: TcpStream) {
    let _ = crate::sys::set_nonblocking(&stream);
    let _ = stream.set_nodelay(true);
    if shard.notsent_lowat > 0 {
        // Unsent bytes per peer stay near this, not the send buffer's
        // megabytes: a peer that does not read holds little kernel memory.
        let _ = crate::sys::set_notsent_lowat(&stream, shard.notsent_lowat);
    }
    let mut driver = Driver {
        outbox: Outbox::new(shard.send_path),
        shard: Rc::clone(&shard),
        conn: Rc::clone(&conn),
        stream,
        pending_in: BytesMut::new(),
        partial_accounted: 0,
        held_input: false,
        timer: None,
        budget: WRITE_BUDGET,
    };
    let reason = std::future::poll_fn(|cx| driver.poll(cx)).await;
    let addr = conn.session.borrow().peer_addr();
    match &reason {
        // A peer that broke the protocol: worth a line at the default level.
        End::Session(e) if e.is_misbehaviour() => tracing::info!("peer {addr}: closed: {reason}"),
        End::PartialBudget { .. } => tracing::info!("peer {addr}: closed: {reason}"),
        _ => tracing::debug!("peer {addr}: closed: {reason}"),
    }
    shard.count_guard(|g| match &reason {
        End::Session(SessionError::OverBudget { .. }) => g.closed_over_budget += 1,
        End::Session(SessionError::SendStalled { .. }) => g.closed_stalled += 1,
        End::Session(SessionError::HandshakeTimeout(_)) => g.closed_handshake_timeout += 1,
        End::Session(SessionError::SlowFrame { .. }) | End::PartialBudget { .. } => {
            g.closed_slow_frames += 1;
        }
        End::Evicted => g.evicted += 1,
        End::PerIpTorrent(_) => g.refused_per_ip += 1,
        _ => {}
    });
    shard
        .partial_held
        .set(shard.partial_held.get() - driver.partial_accounted);
    let _ = driver.stream.shutdown(std::net::Shutdown::Both).await;
    drop(driver);
    shard.forget(&conn);
}

/// Why a connection ended (for the debug log).
enum End {
    Session(SessionError),
    Io(std::io::Error),
    PeerClosed,
    Stopped,
    /// Closed to make room for a newcomer on a full node.
    Evicted,
    /// Its address already has its share of connections to this torrent.
    PerIpTorrent(TorrentId),
    /// Its partial message would take the shard past its budget for them.
    PartialBudget {
        held: usize,
        shard_total: usize,
        budget: usize,
    },
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Session(e) => write!(f, "{e}"),
            End::Io(e) => write!(f, "socket error: {e}"),
            End::PeerClosed => f.write_str("the peer closed the connection"),
            End::Stopped => f.write_str("seed stopping"),
            End::Evicted => {
                f.write_str("evicted: the node is full and this peer was the least useful")
            }
            End::PerIpTorrent(t) => write!(
                f,
                "its address already has its share of connections to torrent {} \
                 (max_peers_per_ip)",
                t.0
            ),
            End::PartialBudget {
                held,
                shard_total,
                budget,
            } => write!(
                f,
                "a {held}-byte incomplete message while the shard holds {shard_total} bytes of \
                 them, over its budget of {budget} (partial_budget)"
            ),
        }
    }
}

struct Driver {
    shard: Rc<Shard>,
    conn: Rc<Conn>,
    stream: TcpStream,
    /// An incomplete message carried over to the next read, or whole
    /// messages the session left while its input was paused.
    pending_in: BytesMut,
    /// Bytes of `pending_in` counted in the shard's `partial_held`.
    partial_accounted: usize,
    /// `pending_in` holds whole messages to feed again before reading.
    held_input: bool,
    outbox: Outbox,
    /// Armed at the session's next deadline.
    timer: Option<(Instant, Timer)>,
    /// What is left of [`WRITE_BUDGET`] in this poll.
    budget: usize,
}

impl Driver {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        self.conn.park(cx.waker());
        self.budget = WRITE_BUDGET;
        for _ in 0..ROUNDS_PER_POLL {
            if self.conn.stop.get() {
                return Poll::Ready(if self.conn.evicted.get() {
                    End::Evicted
                } else {
                    End::Stopped
                });
            }
            let now = Instant::now();
            let mut progress = match self.poll_read(cx, now) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(end)) => return Poll::Ready(end),
                Poll::Pending => false,
            };
            if let Some(end) = self.events() {
                return Poll::Ready(end);
            }
            match self.poll_write(cx, now) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                Poll::Ready(Err(end)) => return Poll::Ready(end),
                Poll::Pending => {}
            }
            progress |= self.poll_timer(cx, now);
            if let Some(end) = self.events() {
                return Poll::Ready(end);
            }
            // An event (an unchoke, say) may have queued output.
            progress |= self.outbox.is_empty()
                && self.conn.session.borrow().has_transmit()
                && !self.shard.live.is_throttled(self.conn.id);
            if self.budget == 0 {
                break;
            }
            if !progress {
                // Idle now: hold no buffer while waiting.
                self.outbox.shrink();
                self.conn.session.borrow_mut().shrink();
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Feeds the session once: first the whole messages it left unconsumed
    /// while its input was paused, once it wants input again; else one
    /// read from the socket (none while it does not want input: the peer's
    /// bytes then wait in the kernel's socket buffer).
    fn poll_read(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<(), End>> {
        let shard = Rc::clone(&self.shard);
        if !self.conn.session.borrow().wants_input() {
            return Poll::Pending;
        }
        if self.held_input {
            let result = {
                let table = shard.table.borrow();
                let mut session = self.conn.session.borrow_mut();
                let result = session.handle_input(now, &self.pending_in, &*table);
                let used = *result.as_ref().unwrap_or(&0);
                self.pending_in.advance(used.min(self.pending_in.len()));
                self.held_input = !self.pending_in.is_empty() && !session.wants_input();
                result
            };
            if let Err(end) = self.account_partial() {
                return Poll::Ready(Err(end));
            }
            return match result {
                Err(e) => Poll::Ready(Err(End::Session(e))),
                Ok(0) => Poll::Pending,
                Ok(_) => Poll::Ready(Ok(())),
            };
        }
        let result = {
            let mut scratch = shard.scratch.borrow_mut();
            let n = match Pin::new(&mut self.stream).poll_read(cx, &mut scratch[..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(End::PeerClosed)),
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(End::Io(e))),
            };
            shard.count_received(n);
            let table = shard.table.borrow();
            let mut session = self.conn.session.borrow_mut();
            let fresh = scratch.get(..n).unwrap_or_default();
            // Fed straight from the shard's buffer; only what the session
            // leaves (a partial message) is copied into the connection's.
            let result = if self.pending_in.is_empty() {
                session.handle_input(now, fresh, &*table).map(|used| {
                    self.pending_in
                        .extend_from_slice(fresh.get(used..).unwrap_or_default());
                })
            } else {
                self.pending_in.extend_from_slice(fresh);
                session
                    .handle_input(now, &self.pending_in, &*table)
                    .map(|used| self.pending_in.advance(used.min(self.pending_in.len())))
            };
            // Left over with the input paused: whole messages to feed again
            // before the next read.
            self.held_input = !self.pending_in.is_empty() && !session.wants_input();
            result
        };
        if let Err(end) = self.account_partial() {
            return Poll::Ready(Err(end));
        }
        Poll::Ready(result.map_err(End::Session))
    }

    /// Frees an empty receive tail and counts a partial message's memory
    /// against the shard's budget for them. A peer whose partial message
    /// grows past `SLOW_FRAME_MIN` while the shard's budget is spent is
    /// closed (whole messages held while its input is paused do not count:
    /// they are one read at most, from a peer that is downloading).
    fn account_partial(&mut self) -> Result<(), End> {
        if self.pending_in.is_empty() && self.pending_in.capacity() > 0 {
            self.pending_in = BytesMut::new();
        }
        let held = if self.held_input {
            0
        } else {
            self.pending_in.capacity()
        };
        let before = self.partial_accounted;
        self.partial_accounted = held;
        let total = self.shard.partial_held.get() - before + held;
        self.shard.partial_held.set(total);
        if held > before && held > SLOW_FRAME_MIN && total > self.shard.partial_budget {
            return Err(End::PartialBudget {
                held,
                shard_total: total,
                budget: self.shard.partial_budget,
            });
        }
        Ok(())
    }

    /// Moves transmits from the session to the outbox and the outbox to
    /// the socket, until the socket is full or nothing is left.
    /// `Ready(Ok(true))` when anything was written.
    fn poll_write(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<bool, End>> {
        let mut wrote = false;
        loop {
            if self.budget == 0 {
                return Poll::Ready(Ok(wrote));
            }
            self.fill(now);
            if self.outbox.is_empty() {
                if wrote && self.conn.session.borrow().wants_socket_progress() {
                    // All written: what the socket still holds counts for
                    // the stalled-peer check.
                    self.report_socket(now);
                }
                return Poll::Ready(Ok(wrote));
            }
            match self.outbox.poll_write(cx, &mut self.stream) {
                Poll::Ready(Ok(n)) => {
                    self.conn.session.borrow_mut().on_sent(now, n);
                    self.shard.count_sent(n);
                    self.budget = self.budget.saturating_sub(n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(End::Io(e))),
                Poll::Pending => {
                    return if wrote {
                        Poll::Ready(Ok(true))
                    } else {
                        Poll::Pending
                    }
                }
            }
        }
    }

    /// Takes what the session has to send while the outbox wants more
    /// (and the upload limits allow: `shard::live`).
    fn fill(&mut self, now: Instant) {
        let uploaded = self.fill_from_session(now);
        if uploaded > 0 {
            let torrent = self.conn.session.borrow().torrent();
            self.shard.count_uploaded(torrent, uploaded);
        }
    }

    /// [`Self::fill`]'s loop; returns the block bytes it queued.
    fn fill_from_session(&mut self, now: Instant) -> u64 {
        let table = self.shard.table.borrow();
        let mut session = self.conn.session.borrow_mut();
        let mut uploaded = 0;
        while self.outbox.wants_more() {
            let st = session.torrent().and_then(|id| table.get(id));
            if !session.has_transmit() || !self.shard.live.may_send(self.conn.id, st) {
                return uploaded;
            }
            let Some(t) = session.poll_transmit(now, &*table) else {
                return uploaded;
            };
            match t {
                Transmit::Bytes { head, body } => {
                    self.shard.live.spend(st, (head.len() + body.len()) as u64);
                    for part in [head, body] {
                        if !part.is_empty() {
                            self.outbox.push(Item::Bytes(part));
                        }
                    }
                }
                Transmit::Block { header, block } => {
                    let Some(st) = st else {
                        return uploaded;
                    };
                    let geo = st.ctx.geometry();
                    let piece = block.piece();
                    let piece_start = geo.piece_offset(piece);
                    uploaded += u64::from(block.length());
                    self.shard
                        .live
                        .spend(Some(st), u64::from(block.length()) + 13);
                    self.outbox.push(Item::Block {
                        header,
                        data: std::sync::Arc::clone(&st.data),
                        offset: piece_start + u64::from(block.begin()),
                        len: block.length(),
                        piece_end: piece_start + u64::from(geo.piece_size(piece)),
                    });
                }
            }
        }
        uploaded
    }

    /// Runs due session timers and arms the next one. `true` when a timer
    /// was handled (there may be new output).
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant) -> bool {
        let Some(deadline) = self.conn.session.borrow().poll_timeout() else {
            self.timer = None;
            return false;
        };
        if deadline <= now {
            // A stall is judged on what the socket says now.
            self.report_socket(now);
            self.conn.session.borrow_mut().handle_timeout(now);
            return true;
        }
        // Armed a little after the deadline, so that the wake-up finds it due.
        let wait = deadline.saturating_duration_since(now) + Duration::from_millis(1);
        match &mut self.timer {
            Some((at, _)) if *at == deadline => {}
            Some((at, t)) => {
                t.reset(wait);
                *at = deadline;
                let _ = Pin::new(t).poll(cx);
            }
            None => {
                let mut t = Timer::new(wait);
                let _ = Pin::new(&mut t).poll(cx);
                self.timer = Some((deadline, t));
            }
        }
        false
    }

    /// Tells the session what the socket holds and what the peer took.
    fn report_socket(&self, now: Instant) {
        if let Ok(p) = crate::sys::tcp_progress(&self.stream) {
            self.conn.session.borrow_mut().on_socket_progress(now, p);
        }
    }

    /// Drains the session's events; `Some` when the session closed.
    fn events(&mut self) -> Option<End> {
        loop {
            let ev = self.conn.session.borrow_mut().poll_event()?;
            match ev {
                SessionEvent::Closed(e) => return Some(End::Session(e)),
                SessionEvent::HandshakeDone { torrent, .. } => {
                    if !self.shard.registry.bind(self.conn.ip, torrent) {
                        return Some(End::PerIpTorrent(torrent));
                    }
                    self.conn.bound.set(Some(torrent));
                    tracing::debug!(
                        "peer {}: handshake done (torrent {})",
                        self.conn.session.borrow().peer_addr(),
                        torrent.0
                    );
                    self.conn.torrent.set(Some(torrent));
                    self.shard.peer_joined(torrent);
                    self.announce();
                }
                SessionEvent::ExtendedHandshake { .. } => self.announce(),
                SessionEvent::InterestChanged(interested) => {
                    self.shard.interest_changed(&self.conn, interested);
                }
                SessionEvent::DhtPort(port) => {
                    let ip = self.conn.session.borrow().peer_addr().ip();
                    self.shard.tell(FromShard::DhtPort {
                        addr: SocketAddr::new(ip, port),
                    });
                }
                SessionEvent::Pex(p) => {
                    if let Some(torrent) = self.conn.torrent.get() {
                        let added = p
                            .added
                            .iter()
                            .map(|(a, _)| SocketAddr::V4(*a))
                            .chain(p.added6.iter().map(|(a, _)| SocketAddr::V6(*a)))
                            .collect();
                        self.shard.tell(FromShard::PexPeers { torrent, added });
                    }
                }
                SessionEvent::PeerIsSeed => {}
            }
        }
    }

    /// Tells the control thread where other peers can reach this one.
    fn announce(&self) {
        if self.conn.announced.get().is_some() {
            return;
        }
        let session = self.conn.session.borrow();
        if let (Some(addr), Some(torrent)) = (session.reachable_addr(), self.conn.torrent.get()) {
            self.conn.announced.set(Some(addr));
            self.shard.tell(FromShard::PeerUp { torrent, addr });
        }
    }
}
