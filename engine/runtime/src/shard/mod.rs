//! A shard: one glommio executor pinned to one core, owning its listeners
//! and every connection they accept, outright.
//!
//! # What a shard owns, and what it shares
//!
//! Connections, sessions, counters, the choker and the availability
//! bitfields are the shard's alone (`Rc`/`RefCell`/`Cell`, no locks, no
//! atomics on the serving path). What every shard reads (torrent contexts,
//! mappings, file handles) is immutable and shared by `Arc`. The control
//! thread talks to a shard only through its mailbox ([`crate::msg`]).
//!
//! # Tasks of a shard
//!
//! - one accept loop per listener (`SO_REUSEPORT`: the kernel balances);
//! - one task per connection ([`conn`]);
//! - the choker: every `choke_interval`, and soon after a peer's interest
//!   changes (coalesced, so a burst of new peers costs one pass);
//! - a stats tick (once a second, to the control thread);
//! - the mailbox loop, which is the shard's main future: when it ends
//!   (on `Stop`), the shard closes everything and its thread exits.

mod choke;
pub(crate) mod conn;
mod live;
pub(crate) mod send;
pub(crate) mod table;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use glommio::net::TcpStream;
use glommio::timer::Timer;
use glommio::{LocalExecutorBuilder, Placement};
use seedcore_protocol::session::{PeerSession, SessionConfig, TorrentId};

use crate::blocklist::Blocklist;
use crate::config::SendPath;
use crate::limits::{LocalBucket, SharedBucket};
use crate::mailbox::Mailbox;
use crate::msg::{DialId, FromShard, ShardStats, ToShard};
use crate::registry::{PeerRegistry, Refusal};
use crate::torrents::TorrentData;
use conn::Conn;
use table::{ShardTorrent, Table};

/// Size of the shard's shared receive buffer.
const SCRATCH: usize = 64 << 10;

/// How long a stopping shard waits for its connections to close.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// A torrent served from the start: id, context, data, initial pieces.
pub(crate) type StartTorrent = (
    TorrentId,
    Arc<seedcore_protocol::session::TorrentContext>,
    Arc<TorrentData>,
    Vec<bool>,
);

/// Everything a shard is started with.
pub(crate) struct ShardSpec {
    pub(crate) index: usize,
    pub(crate) cpu: usize,
    pub(crate) io_memory: usize,
    pub(crate) listeners: Vec<socket2::Socket>,
    /// Per torrent served from the start: id, context, data, initial pieces.
    pub(crate) torrents: Vec<StartTorrent>,
    /// The node's upload limit (shared by every shard).
    pub(crate) upload_limit: Arc<SharedBucket>,
    /// The IP blocklist at start.
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) session: Arc<SessionConfig>,
    pub(crate) send_path: SendPath,
    pub(crate) notsent_lowat: u32,
    pub(crate) partial_budget: usize,
    pub(crate) registry: Arc<PeerRegistry>,
    pub(crate) handshake_timeout_crowded: Duration,
    pub(crate) slots: Option<usize>,
    pub(crate) choke_interval: Duration,
    pub(crate) inbox: Mailbox<ToShard>,
    pub(crate) to_control: Sender<FromShard>,
}

/// The state of a running shard (lives on its thread only).
pub(crate) struct Shard {
    index: usize,
    pub(crate) table: RefCell<Table>,
    conns: RefCell<HashMap<u64, Rc<Conn>>>,
    next_id: Cell<u64>,
    /// Set when the shard starts stopping: the accept errors that closing
    /// the listeners causes are then expected, not worth a warning.
    stopping: Cell<bool>,
    session: Arc<SessionConfig>,
    pub(crate) send_path: SendPath,
    /// `TCP_NOTSENT_LOWAT` for peer sockets (0: not set).
    pub(crate) notsent_lowat: u32,
    /// Bytes of incomplete messages all connections may hold together.
    pub(crate) partial_budget: usize,
    /// Bytes of incomplete messages held now (see `conn::account_partial`).
    pub(crate) partial_held: Cell<usize>,
    /// Connection counts shared by every shard (accept, handshake, close).
    pub(crate) registry: Arc<PeerRegistry>,
    /// The handshake deadline of connections accepted on a crowded node.
    handshake_timeout_crowded: Duration,
    /// Connections to evict next on a full node, best first (see
    /// `evict_one`), and when that list was made.
    evictable: RefCell<(Vec<u64>, Option<Instant>)>,
    to_control: Sender<FromShard>,
    /// Receive buffer shared by all connections (see `conn`).
    pub(crate) scratch: RefCell<Vec<u8>>,
    stats: RefCell<ShardStats>,
    choker: choke::ShardChoker,
    /// Run-time state: the node's rate limit, throttled connections,
    /// torrents whose counters changed, the blocklist (`live`).
    pub(crate) live: live::Live,
}

impl Shard {
    pub(crate) fn tell(&self, msg: FromShard) {
        // The control thread outlives the shards; a send error means it is
        // already gone and nobody listens.
        let _ = self.to_control.send(msg);
    }

    pub(crate) fn count_received(&self, n: usize) {
        self.stats.borrow_mut().bytes_received += n as u64;
    }

    pub(crate) fn count_sent(&self, n: usize) {
        self.stats.borrow_mut().bytes_sent += n as u64;
    }

    pub(crate) fn count_uploaded(&self, torrent: Option<TorrentId>, n: u64) {
        let mut stats = self.stats.borrow_mut();
        stats.counters.blocks_served += 1;
        if let Some(t) = torrent {
            if let Some(c) = self.table.borrow_mut().get_mut(t) {
                c.uploaded += n;
                self.live.touched(t);
            }
        }
    }

    pub(crate) fn peer_joined(&self, torrent: TorrentId) {
        if let Some(c) = self.table.borrow_mut().get_mut(torrent) {
            c.peers += 1;
            self.live.touched(torrent);
        }
    }

    pub(crate) fn interest_changed(&self, conn: &Conn, interested: bool) {
        self.choker.interest_changed(conn, interested);
    }

    fn add_conn(self: &Rc<Self>, session: PeerSession, stream: TcpStream, dial: Option<DialId>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let conn = Rc::new(Conn::new(id, session, dial));
        self.conns.borrow_mut().insert(id, Rc::clone(&conn));
        self.stats.borrow_mut().connections += 1;
        glommio::spawn_local(conn::run(Rc::clone(self), conn, stream)).detach();
    }

    /// Called by a connection task as it ends.
    pub(crate) fn forget(&self, conn: &Conn) {
        self.conns.borrow_mut().remove(&conn.id);
        self.registry.release(conn.ip, conn.bound.get());
        {
            let mut s = self.stats.borrow_mut();
            // Its counters move from "live" to the shard's totals.
            let (pauses, refused) = session_guard(conn);
            s.guard.input_pauses += pauses;
            s.guard.requests_refused += refused;
            s.connections = s.connections.saturating_sub(1);
            // What the session counted goes to the shard's totals.
            let done = conn.session.borrow().stats(Instant::now());
            s.counters.requests += done.requests;
            s.counters.requests_refused += done.refused_requests;
            s.counters.hash_requests += done.hash_requests;
            if conn.torrent.get().is_none() && !self.stopping.get() {
                s.counters.handshakes_failed += 1;
            }
        }
        // A torrent detached meanwhile has already been forgotten by the
        // control core: nothing to report for it.
        let attached = conn.torrent.get().filter(|&t| {
            let mut table = self.table.borrow_mut();
            let Some(c) = table.get_mut(t) else {
                return false;
            };
            c.peers = c.peers.saturating_sub(1);
            true
        });
        if let Some(t) = attached {
            self.live.touched(t);
        }
        if let (Some(addr), Some(torrent)) = (conn.announced.get(), attached) {
            self.tell(FromShard::PeerDown { torrent, addr });
        }
        if let Some(dial) = conn.dial {
            self.tell(FromShard::DialClosed {
                dial,
                lasted: conn.started.elapsed(),
            });
        }
        self.choker.forget(conn.id);
    }

    fn conns_of(&self, torrent: TorrentId) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .values()
            .filter(|c| c.torrent.get() == Some(torrent))
            .cloned()
            .collect()
    }

    fn handle(self: &Rc<Self>, msg: ToShard) {
        match msg {
            ToShard::Dial {
                dial,
                torrent,
                addr,
                timeout,
            } => {
                glommio::spawn_local(dial_task(Rc::clone(self), dial, torrent, addr, timeout))
                    .detach();
            }
            ToShard::PiecesLost { torrent, pieces } => {
                if let Some(t) = self.table.borrow_mut().get_mut(torrent) {
                    for &p in pieces.iter() {
                        t.set(p, false);
                    }
                }
                for c in self.conns_of(torrent) {
                    let mut s = c.session.borrow_mut();
                    for &p in pieces.iter() {
                        s.piece_lost(p);
                    }
                    drop(s);
                    c.wake();
                }
            }
            ToShard::PiecesAdded {
                torrent,
                pieces,
                data,
            } => {
                if let Some(t) = self.table.borrow_mut().get_mut(torrent) {
                    t.data = data;
                    for &p in pieces.iter() {
                        t.set(p, true);
                    }
                }
                for c in self.conns_of(torrent) {
                    let mut s = c.session.borrow_mut();
                    for &p in pieces.iter() {
                        s.piece_added(p);
                    }
                    drop(s);
                    c.wake();
                }
            }
            ToShard::Pex {
                torrent,
                all,
                added,
                dropped,
            } => {
                for c in self.conns_of(torrent) {
                    let sent = if c.pex_primed.get() {
                        c.session.borrow_mut().send_pex(&added, &dropped)
                    } else {
                        let sent = c.session.borrow_mut().send_pex(&all, &[]);
                        c.pex_primed.set(sent);
                        sent
                    };
                    if sent {
                        c.wake();
                    }
                }
            }
            ToShard::Stop => {}
            other => self.handle_live(other),
        }
    }

    /// Counts what ended a connection in the shard's guard counters.
    pub(crate) fn count_guard(&self, f: impl FnOnce(&mut crate::guard::GuardCounters)) {
        f(&mut self.stats.borrow_mut().guard);
    }

    /// Counts a connection from `ip` in the shared registry; on a full
    /// node, first evicts this shard's least useful peer to make room.
    /// `false`: refused (counted in the guard counters).
    fn admit(&self, ip: std::net::IpAddr) -> bool {
        match self.registry.admit(ip, false) {
            Ok(()) => true,
            Err(Refusal::PerIp) => {
                self.count_guard(|g| g.refused_per_ip += 1);
                self.stats.borrow_mut().counters.refused_per_ip += 1;
                false
            }
            Err(Refusal::Full) => {
                if self.evict_one() && self.registry.admit(ip, true).is_ok() {
                    return true;
                }
                self.count_guard(|g| g.refused_full += 1);
                self.stats.borrow_mut().counters.refused_peer_limit += 1;
                tracing::debug!("shard {}: node full, nobody to evict: refused", self.index);
                false
            }
        }
    }

    /// Stops the least useful connection of this shard, if one may go:
    /// first handshakes still incomplete after a second (oldest first),
    /// then handshaken peers that are not interested (never requested
    /// before those that did, then longest idle), then interested peers
    /// with nothing queued that have been idle for a while. A peer with
    /// requests queued, or active lately, is never evicted. The ranking is
    /// one pass over the shard's connections, kept for a second and used
    /// for many evictions, so a flood of connections does not cost a pass
    /// each.
    fn evict_one(&self) -> bool {
        let now = Instant::now();
        let mut cache = self.evictable.borrow_mut();
        let stale = cache
            .1
            .is_none_or(|at| now.saturating_duration_since(at) > Duration::from_secs(1));
        if cache.0.is_empty() || stale {
            cache.0 = self.rank_evictable(now);
            cache.1 = Some(now);
        }
        while let Some(id) = cache.0.pop() {
            let Some(conn) = self.conns.borrow().get(&id).cloned() else {
                continue;
            };
            if conn.stop.get() || eviction_rank(&conn, now).is_none() {
                continue;
            }
            conn.evicted.set(true);
            conn.stop.set(true);
            conn.wake();
            return true;
        }
        false
    }

    /// Evictable connections, the best candidate last (at most 64).
    fn rank_evictable(&self, now: Instant) -> Vec<u64> {
        let mut ranked: Vec<((u8, std::cmp::Reverse<Duration>), u64)> = self
            .conns
            .borrow()
            .values()
            .filter(|c| !c.stop.get())
            .filter_map(|c| eviction_rank(c, now).map(|r| (r, c.id)))
            .collect();
        ranked.sort_unstable();
        ranked.truncate(64);
        ranked.into_iter().rev().map(|(_, id)| id).collect()
    }

    fn send_stats(&self) {
        let mut stats = self.stats.borrow().clone();
        stats.torrents = self.live.deltas(&mut self.table.borrow_mut());
        stats.interested = self.live.interested(self);
        stats.refused_blocked = self.live.refused_blocked.get();
        stats.cpu = crate::sys::thread_cpu_time();
        // Live sessions' counts on top of the closed ones' (one pass over
        // the connections a second: cheap next to serving them).
        let now = Instant::now();
        for conn in self.conns.borrow().values() {
            let (pauses, refused) = session_guard(conn);
            stats.guard.input_pauses += pauses;
            stats.guard.requests_refused += refused;
            let c = &mut stats.counters;
            let Ok(session) = conn.session.try_borrow() else {
                continue;
            };
            let p = session.stats(now);
            c.requests += p.requests;
            c.requests_refused += p.refused_requests;
            c.hash_requests += p.hash_requests;
            if !session.is_established() {
                c.handshaking += 1;
            } else if !p.interested {
                c.idle += 1;
            } else if p.choked {
                c.choked += 1;
            } else {
                c.unchoked += 1;
            }
        }
        self.tell(FromShard::Stats {
            shard: self.index,
            stats: Box::new(stats),
        });
    }
}

/// How evictable a connection is: lower tiers go first, and within a
/// tier the longest idle. `None`: never evicted (a peer downloading).
fn eviction_rank(conn: &Conn, now: Instant) -> Option<(u8, std::cmp::Reverse<Duration>)> {
    let s = conn.session.try_borrow().ok()?;
    let st = s.stats(now);
    let idle = now.saturating_duration_since(st.last_received);
    let age = now.saturating_duration_since(st.connected_at);
    let tier = if !s.is_established() {
        // A newcomer gets a second to send its handshake.
        (age >= Duration::from_secs(1)).then_some(0)?
    } else if st.queued_requests > 0 || idle < Duration::from_secs(1) {
        return None;
    } else if !st.interested {
        if st.requests == 0 {
            1
        } else {
            2
        }
    } else if idle >= Duration::from_secs(30) {
        3
    } else {
        return None;
    };
    Some((tier, std::cmp::Reverse(if tier == 0 { age } else { idle })))
}

/// A connection's own guard counters: input pauses and refused requests.
fn session_guard(conn: &Conn) -> (u64, u64) {
    match conn.session.try_borrow() {
        Ok(s) => {
            let st = s.stats(Instant::now());
            (st.input_pauses, st.refused_requests)
        }
        Err(_) => (0, 0),
    }
}

/// Starts a shard on its own pinned thread. It reports
/// [`FromShard::Ready`] or [`FromShard::Failed`] once it runs.
pub(crate) fn spawn(spec: ShardSpec) -> Result<std::thread::JoinHandle<()>, crate::RuntimeError> {
    let index = spec.index;
    let to_control = spec.to_control.clone();
    let name = format!("seedcore-shard-{index}");
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let ex = LocalExecutorBuilder::new(Placement::Fixed(spec.cpu))
                .name(&name)
                .io_memory(spec.io_memory)
                .make();
            match ex {
                Ok(ex) => ex.run(shard_main(spec)),
                Err(e) => {
                    let _ = to_control.send(FromShard::Failed {
                        shard: index,
                        what: format!(
                            "{e} (for MemLockLimit: raise `ulimit -l` or lower io_memory)"
                        ),
                    });
                }
            }
        })
        .map_err(|source| crate::RuntimeError::Thread {
            name: format!("shard {index}"),
            source,
        })
}

async fn shard_main(spec: ShardSpec) {
    let mut table = Table::default();
    for (id, ctx, data, have) in spec.torrents {
        table.insert(ShardTorrent::new(id, ctx, data, &have));
    }
    let shard = Rc::new(Shard {
        index: spec.index,
        table: RefCell::new(table),
        conns: RefCell::new(HashMap::new()),
        next_id: Cell::new(0),
        stopping: Cell::new(false),
        session: spec.session,
        send_path: spec.send_path,
        notsent_lowat: spec.notsent_lowat,
        partial_budget: spec.partial_budget,
        partial_held: Cell::new(0),
        registry: spec.registry,
        handshake_timeout_crowded: spec.handshake_timeout_crowded,
        evictable: RefCell::new((Vec::new(), None)),
        to_control: spec.to_control,
        scratch: RefCell::new(vec![0u8; SCRATCH]),
        stats: RefCell::new(ShardStats::default()),
        choker: choke::ShardChoker::new(spec.slots),
        live: live::Live::new(LocalBucket::new(spec.upload_limit), spec.blocklist),
    });
    let mut accepts = Vec::new();
    // Second handles on the listening sockets, to stop them listening at
    // once on stop: closing the listener's own fd is not enough while an
    // io_uring accept still holds the socket, which the kernel releases
    // only when it tears the ring down, after this thread has ended.
    let mut stoppers = Vec::new();
    for sock in spec.listeners {
        if let Ok(dup) = sock.try_clone() {
            stoppers.push(dup);
        }
        let listener = crate::sys::glommio_listener(sock);
        accepts.push(glommio::spawn_local(accept_loop(
            Rc::clone(&shard),
            listener,
        )));
    }
    let chokes = glommio::spawn_local(choke::run(Rc::clone(&shard), spec.choke_interval));
    let ticks = glommio::spawn_local(stats_loop(Rc::clone(&shard)));
    let throttle = glommio::spawn_local(live::throttle_loop(Rc::clone(&shard)));
    shard.tell(FromShard::Ready { shard: shard.index });

    while let Some(msg) = spec.inbox.recv().await {
        if matches!(msg, ToShard::Stop) {
            break;
        }
        shard.handle(msg);
    }

    // Stop: no new peers, close the others, wait (a little) for their tasks.
    shard.stopping.set(true);
    for s in &stoppers {
        // On a listening socket, shutdown(SHUT_RD) ends the listening.
        let _ = s.shutdown(std::net::Shutdown::Read);
    }
    drop(stoppers);
    for a in accepts {
        a.cancel().await;
    }
    chokes.cancel().await;
    ticks.cancel().await;
    throttle.cancel().await;
    let all: Vec<Rc<Conn>> = shard.conns.borrow().values().cloned().collect();
    for c in &all {
        c.stop.set(true);
        c.wake();
    }
    drop(all);
    let deadline = Instant::now() + STOP_GRACE;
    while !shard.conns.borrow().is_empty() && Instant::now() < deadline {
        Timer::new(Duration::from_millis(5)).await;
    }
    shard.send_stats();
    shard.tell(FromShard::Stopped { shard: shard.index });
}

async fn accept_loop(shard: Rc<Shard>, listener: glommio::net::TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let Ok(addr) = stream.peer_addr() else {
                    continue;
                };
                // Refused before a byte of its handshake is read.
                if shard.live.refuse(addr.ip()) {
                    tracing::debug!("shard {}: refused {addr}: blocklisted", shard.index);
                    continue;
                }
                if !shard.admit(addr.ip()) {
                    continue; // dropping the stream closes it
                }
                let now = Instant::now();
                let mut session = PeerSession::inbound(Arc::clone(&shard.session), addr, now);
                if shard.registry.crowded() {
                    session.shorten_handshake(shard.handshake_timeout_crowded);
                }
                shard.stats.borrow_mut().counters.accepted += 1;
                shard.add_conn(session, stream, None);
            }
            Err(e) if shard.stopping.get() => {
                tracing::debug!("shard {}: listener closed: {e}", shard.index);
                return;
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("shard {}: accept failed: {e}", shard.index);
                Timer::new(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn dial_task(
    shard: Rc<Shard>,
    dial: DialId,
    torrent: TorrentId,
    addr: SocketAddr,
    timeout: Duration,
) {
    if shard.live.blocks(addr.ip()) {
        shard.tell(FromShard::Dialed {
            dial,
            result: Err(format!("{} is blocklisted", addr.ip())),
        });
        return;
    }
    let stream = match TcpStream::connect_timeout(addr, timeout).await {
        Ok(s) => s,
        Err(e) => {
            shard.tell(FromShard::Dialed {
                dial,
                result: Err(e.to_string()),
            });
            return;
        }
    };
    let session = {
        let table = shard.table.borrow();
        PeerSession::outbound(
            Arc::clone(&shard.session),
            addr,
            torrent,
            Instant::now(),
            &*table,
        )
    };
    match session {
        Ok(session) => {
            // Our own dials are counted but never refused for a full node
            // (the control core bounds them: max_outgoing); an address at
            // its limit is not dialled twice.
            if shard.registry.admit(addr.ip(), true).is_err() {
                shard.tell(FromShard::Dialed {
                    dial,
                    result: Err("the address has its share of connections already".into()),
                });
                return;
            }
            shard.tell(FromShard::Dialed {
                dial,
                result: Ok(()),
            });
            shard.add_conn(session, stream, Some(dial));
        }
        Err(e) => shard.tell(FromShard::Dialed {
            dial,
            result: Err(e.to_string()),
        }),
    }
}

async fn stats_loop(shard: Rc<Shard>) {
    loop {
        Timer::new(Duration::from_secs(1)).await;
        shard.send_stats();
    }
}
