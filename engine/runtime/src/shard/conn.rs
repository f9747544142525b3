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
//! copied into the connection's own buffer (freed as soon as it is
//! consumed). The send queue is emptied and freed the same way. An idle
//! peer therefore holds no buffer at all: its session, its socket, this
//! task and a timer (engine/DESIGN.md gives the measured bytes per peer).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::io::AsyncRead;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use seedcore_protocol::session::{PeerSession, SessionError, SessionEvent, TorrentId, Transmit};

use super::send::{Item, Outbox};
use super::Shard;
use crate::msg::{DialId, FromShard};

/// A connection as the shard sees it (shared with its task).
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: u64,
    pub(crate) session: RefCell<PeerSession>,
    waker: RefCell<Option<Waker>>,
    /// Set by the shard to close the connection (shutdown, too many peers).
    pub(crate) stop: Cell<bool>,
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
        Conn {
            id,
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
    let mut driver = Driver {
        outbox: Outbox::new(shard.send_path),
        shard: Rc::clone(&shard),
        conn: Rc::clone(&conn),
        stream,
        pending_in: Vec::new(),
        timer: None,
        budget: WRITE_BUDGET,
    };
    let reason = std::future::poll_fn(|cx| driver.poll(cx)).await;
    let addr = conn.session.borrow().peer_addr();
    match &reason {
        // A peer that broke the protocol: worth a line at the default level.
        End::Session(e) if e.is_misbehaviour() => tracing::info!("peer {addr}: closed: {reason}"),
        _ => tracing::debug!("peer {addr}: closed: {reason}"),
    }
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
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Session(e) => write!(f, "{e}"),
            End::Io(e) => write!(f, "socket error: {e}"),
            End::PeerClosed => f.write_str("the peer closed the connection"),
            End::Stopped => f.write_str("seed stopping"),
        }
    }
}

struct Driver {
    shard: Rc<Shard>,
    conn: Rc<Conn>,
    stream: TcpStream,
    /// An incomplete message carried over to the next read.
    pending_in: Vec<u8>,
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
                return Poll::Ready(End::Stopped);
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
                self.outbox.shrink();
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Reads once and feeds the session.
    fn poll_read(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<Result<(), End>> {
        let shard = Rc::clone(&self.shard);
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
        let result = if self.pending_in.is_empty() {
            session.handle_input(now, fresh, &*table).map(|used| {
                self.pending_in
                    .extend_from_slice(fresh.get(used..).unwrap_or_default());
            })
        } else {
            self.pending_in.extend_from_slice(fresh);
            session
                .handle_input(now, &self.pending_in, &*table)
                .map(|used| {
                    self.pending_in.drain(..used.min(self.pending_in.len()));
                })
        };
        if self.pending_in.is_empty() && self.pending_in.capacity() > 0 {
            self.pending_in = Vec::new();
        }
        Poll::Ready(result.map_err(End::Session))
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
                Transmit::Bytes(b) => {
                    self.shard.live.spend(st, b.len() as u64);
                    self.outbox.push(Item::Bytes(b));
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

    /// Drains the session's events; `Some` when the session closed.
    fn events(&mut self) -> Option<End> {
        loop {
            let ev = self.conn.session.borrow_mut().poll_event()?;
            match ev {
                SessionEvent::Closed(e) => return Some(End::Session(e)),
                SessionEvent::HandshakeDone { torrent, .. } => {
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
