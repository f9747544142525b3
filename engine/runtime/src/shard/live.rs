//! What a shard does for the live node: torrents attached and detached at
//! run time, upload limits, the blocklist, peer lists for the API, and
//! counters reported as differences.
//!
//! Kept apart from the accept loop and the connection driver so that
//! those only carry hooks (`refuse` at accept, `may_send` / `spend` in the
//! send path).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Instant;

use glommio::timer::Timer;
use seedcore_protocol::session::TorrentId;

use super::conn::Conn;
use super::table::{ShardTorrent, Table};
use super::Shard;
use crate::blocklist::Blocklist;
use crate::limits::{LocalBucket, THROTTLE_TICK};
use crate::msg::{FromShard, ToShard, TorrentDelta};
use crate::node::PeerInfo;

/// The shard's run-time state.
#[derive(Debug)]
pub(crate) struct Live {
    /// The node's upload limit.
    global: LocalBucket,
    blocklist: RefCell<Arc<Blocklist>>,
    pub(crate) refused_blocked: Cell<u64>,
    /// Torrents whose counters changed since the last report.
    dirty: RefCell<HashSet<TorrentId>>,
    /// Connections waiting for upload tokens.
    throttled: RefCell<HashSet<u64>>,
    /// The throttle task, parked while nobody waits.
    throttle_waker: RefCell<Option<Waker>>,
}

impl Live {
    pub(crate) fn new(global: LocalBucket, blocklist: Arc<Blocklist>) -> Live {
        Live {
            global,
            blocklist: RefCell::new(blocklist),
            refused_blocked: Cell::new(0),
            dirty: RefCell::new(HashSet::new()),
            throttled: RefCell::new(HashSet::new()),
            throttle_waker: RefCell::new(None),
        }
    }

    /// A torrent's counters changed.
    pub(crate) fn touched(&self, id: TorrentId) {
        self.dirty.borrow_mut().insert(id);
    }

    /// The changes since the last report (and marks them reported).
    pub(crate) fn deltas(&self, table: &mut Table) -> Vec<TorrentDelta> {
        let dirty = std::mem::take(&mut *self.dirty.borrow_mut());
        let mut out = Vec::with_capacity(dirty.len());
        for id in dirty {
            let Some(t) = table.get_mut(id) else {
                continue;
            };
            let d = TorrentDelta {
                id,
                peers: i64::from(t.peers) - i64::from(t.reported.0),
                uploaded: t.uploaded.saturating_sub(t.reported.1),
            };
            t.reported = (t.peers, t.uploaded);
            if d.peers != 0 || d.uploaded != 0 {
                out.push(d);
            }
        }
        out
    }

    /// Peers interested in our pieces now.
    pub(crate) fn interested(&self, shard: &Shard) -> u32 {
        let n = shard
            .conns
            .borrow()
            .values()
            .filter(|c| c.session.borrow().is_interested())
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether `ip` is blocklisted.
    pub(crate) fn blocks(&self, ip: IpAddr) -> bool {
        self.blocklist.borrow().blocks(ip)
    }

    /// At accept: whether to refuse `ip` (counted).
    pub(crate) fn refuse(&self, ip: IpAddr) -> bool {
        let no = self.blocks(ip);
        if no {
            self.refused_blocked.set(self.refused_blocked.get() + 1);
        }
        no
    }

    /// Whether a connection of `torrent` may hand out more bytes now.
    /// When not, it is woken at the next throttle tick.
    pub(crate) fn may_send(&self, conn: u64, torrent: Option<&ShardTorrent>) -> bool {
        let ok = self.global.ready()
            && torrent
                .and_then(|t| t.limit.as_ref())
                .is_none_or(LocalBucket::ready);
        if !ok {
            self.throttled.borrow_mut().insert(conn);
            if let Some(w) = self.throttle_waker.borrow().as_ref() {
                w.wake_by_ref();
            }
        }
        ok
    }

    /// Whether a connection waits for upload tokens (it is woken at the
    /// next throttle tick, so it must not spin meanwhile).
    pub(crate) fn is_throttled(&self, conn: u64) -> bool {
        self.throttled.borrow().contains(&conn)
    }

    /// Counts bytes handed out by a connection of `torrent`.
    pub(crate) fn spend(&self, torrent: Option<&ShardTorrent>, n: u64) {
        self.global.spend(n);
        if let Some(l) = torrent.and_then(|t| t.limit.as_ref()) {
            l.spend(n);
        }
    }
}

impl Shard {
    /// The live-node messages ([`ToShard`] variants beyond serving).
    pub(super) fn handle_live(self: &Rc<Self>, msg: ToShard) {
        match msg {
            ToShard::Attach {
                id,
                ctx,
                data,
                have,
                limit,
            } => {
                let mut t = ShardTorrent::new(id, ctx, data, &have);
                t.limit = limit.map(LocalBucket::new);
                self.table.borrow_mut().insert(t);
            }
            ToShard::Detach { id } => {
                self.table.borrow_mut().remove(id);
                self.live.dirty.borrow_mut().remove(&id);
                let conns: Vec<Rc<Conn>> = self
                    .conns
                    .borrow()
                    .values()
                    .filter(|c| {
                        c.torrent.get() == Some(id) || c.session.borrow().torrent() == Some(id)
                    })
                    .cloned()
                    .collect();
                for c in conns {
                    c.stop.set(true);
                    c.wake();
                }
                self.tell(FromShard::Detached {
                    shard: self.index,
                    id,
                });
            }
            ToShard::TorrentLimit { id, limit } => {
                if let Some(t) = self.table.borrow_mut().get_mut(id) {
                    t.limit = limit.map(LocalBucket::new);
                }
            }
            ToShard::Peers { id, reply } => {
                let _ = reply.send((self.index, self.peers_of(id)));
            }
            ToShard::Slots(slots) => self.choker.set_slots(slots),
            ToShard::Blocklist(list, done) => {
                let blocked: Vec<Rc<Conn>> = self
                    .conns
                    .borrow()
                    .values()
                    .filter(|c| list.blocks(c.session.borrow().peer_addr().ip()))
                    .cloned()
                    .collect();
                if !blocked.is_empty() {
                    tracing::info!(
                        "shard {}: closing {} peers the new blocklist blocks",
                        self.index,
                        blocked.len()
                    );
                }
                for c in blocked {
                    c.stop.set(true);
                    c.wake();
                }
                *self.live.blocklist.borrow_mut() = list;
                let _ = done.send(self.index);
            }
            _ => {}
        }
    }

    fn peers_of(&self, id: TorrentId) -> Vec<PeerInfo> {
        let now = Instant::now();
        self.conns
            .borrow()
            .values()
            .filter(|c| c.torrent.get() == Some(id))
            .map(|c| {
                let s = c.session.borrow();
                let st = s.stats(now);
                PeerInfo {
                    addr: s.peer_addr(),
                    client: s.client_name().map(str::to_owned),
                    peer_id: s.peer_id().map(hex::encode),
                    outbound: s.is_outbound(),
                    transport: "tcp".into(),
                    shard: self.index,
                    connected_secs: now.saturating_duration_since(st.connected_at).as_secs_f64(),
                    uploaded: st.uploaded,
                    upload_rate: st.upload_rate,
                    received: st.received,
                    choked: st.choked,
                    interested: st.interested,
                    seed: s.peer_is_seed(),
                    pieces: st.peer_pieces,
                    queued_requests: st.queued_requests,
                    requests: st.requests,
                    refused_requests: st.refused_requests,
                    fast: s.supports_fast(),
                }
            })
            .collect()
    }
}

/// Wakes throttled connections every [`THROTTLE_TICK`] while any wait;
/// parked otherwise.
pub(crate) async fn throttle_loop(shard: Rc<Shard>) {
    loop {
        std::future::poll_fn(|cx| {
            if shard.live.throttled.borrow().is_empty() {
                *shard.live.throttle_waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
        let mut t = Timer::new(THROTTLE_TICK);
        std::future::poll_fn(|cx| Pin::new(&mut t).poll(cx).map(|_| ())).await;
        let waiting = std::mem::take(&mut *shard.live.throttled.borrow_mut());
        let conns = shard.conns.borrow();
        for id in waiting {
            if let Some(c) = conns.get(&id) {
                c.wake();
            }
        }
    }
}
