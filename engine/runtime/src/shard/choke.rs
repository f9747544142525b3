//! Glue between a shard's connections and the protocol crate's pure
//! [`Choker`]: collect every established session's stats, apply the
//! decisions, wake the connections that have a `choke`/`unchoke` to send.
//!
//! The choker runs every `choke_interval` and soon after an interest
//! change. With unlimited slots (the default) an interested peer is
//! unchoked on the spot, without a pass over every peer: the choker would
//! decide the same, and a burst of new peers would otherwise cost one pass
//! each. With limited slots, changes mark the choker dirty and one pass
//! runs at most every [`MIN_GAP`].

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use glommio::timer::Timer;
use seedcore_protocol::session::choke::{ChokePeer, Choker, ChokerConfig};

use super::conn::Conn;
use super::Shard;

/// Shortest time between two passes triggered by interest changes.
const MIN_GAP: Duration = Duration::from_millis(200);

pub(crate) struct ShardChoker {
    choker: RefCell<Choker<u64>>,
    unlimited: Cell<bool>,
    dirty: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl ShardChoker {
    pub(crate) fn new(slots: Option<usize>) -> ShardChoker {
        ShardChoker {
            choker: RefCell::new(Choker::new(ChokerConfig {
                slots,
                ..ChokerConfig::default()
            })),
            unlimited: Cell::new(slots.is_none()),
            dirty: Cell::new(false),
            waker: RefCell::new(None),
        }
    }

    fn mark_dirty(&self) {
        if !self.dirty.replace(true) {
            if let Some(w) = self.waker.borrow().as_ref() {
                w.wake_by_ref();
            }
        }
    }

    /// A new number of slots for this shard (its share of the global
    /// `upload_slots`, by demand); applied at the next pass, which is
    /// brought forward.
    pub(crate) fn set_slots(&self, slots: Option<usize>) {
        if self.choker.borrow().config().slots == slots {
            return;
        }
        let config = ChokerConfig {
            slots,
            ..*self.choker.borrow().config()
        };
        *self.choker.borrow_mut() = Choker::new(config);
        self.unlimited.set(slots.is_none());
        self.mark_dirty();
    }

    pub(crate) fn interest_changed(&self, conn: &Conn, interested: bool) {
        if self.unlimited.get() {
            if interested {
                conn.session.borrow_mut().set_choked(Instant::now(), false);
                conn.wake();
            }
        } else {
            self.mark_dirty();
        }
    }

    /// A connection ended: its slot (if it had one) is free.
    pub(crate) fn forget(&self, _id: u64) {
        if !self.unlimited.get() {
            self.mark_dirty();
        }
    }
}

/// One pass over every established session of the shard.
fn rechoke(shard: &Shard) {
    let now = Instant::now();
    let conns: Vec<Rc<Conn>> = shard.conns.borrow().values().cloned().collect();
    let peers: Vec<ChokePeer<u64>> = conns
        .iter()
        .filter_map(|c| {
            let s = c.session.borrow();
            s.is_established().then(|| ChokePeer {
                key: c.id,
                stats: s.stats(now),
            })
        })
        .collect();
    let decisions = shard.choker.choker.borrow_mut().rechoke(now, &peers);
    let by_id = shard.conns.borrow();
    for d in decisions {
        if let Some(c) = by_id.get(&d.key) {
            c.session.borrow_mut().set_choked(now, d.choke);
            c.wake();
        }
    }
}

/// The choker task: a pass every `interval`, and after changes.
pub(crate) async fn run(shard: Rc<Shard>, interval: Duration) {
    let mut last = Instant::now();
    loop {
        let mut timer = Timer::new(interval);
        std::future::poll_fn(|cx| {
            let ch = &shard.choker;
            if ch.dirty.get() {
                return Poll::Ready(());
            }
            *ch.waker.borrow_mut() = Some(cx.waker().clone());
            Pin::new(&mut timer).poll(cx).map(|_| ())
        })
        .await;
        if shard.choker.dirty.get() && last.elapsed() < MIN_GAP {
            Timer::new(MIN_GAP.saturating_sub(last.elapsed())).await;
        }
        shard.choker.dirty.set(false);
        rechoke(&shard);
        last = Instant::now();
    }
}
