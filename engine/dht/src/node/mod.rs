//! The DHT node state machine, driven like quinn-proto's `Endpoint`.
//!
//! The runtime owns one UDP socket and a clock; this type owns everything
//! else. Its loop is:
//!
//! ```text
//! loop {
//!     while let Some((to, bytes)) = dht.poll_transmit(now) { socket.send_to(&bytes, to) }
//!     while let Some(ev) = dht.poll_event() { /* peers found, lookups done */ }
//!     wait for a datagram or until dht.poll_timeout()
//!     dht.handle_datagram(now, from, &buf[..n])   // or
//!     dht.handle_timeout(now)
//! }
//! ```
//!
//! Nothing here reads a clock, opens a socket or draws OS entropy, so a
//! test can run hundreds of nodes in one thread with virtual time.

mod config;
mod incoming;
mod persist;
mod rpc;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use config::Config;
pub use persist::{Snapshot, SnapshotError};

use crate::id::NodeId;
use crate::krpc::NodeInfo;
use crate::lookup::{Lookup, LookupId, LookupKind};
use crate::ratelimit::RateLimiter;
use crate::rng::Rng;
use crate::routing::{RoutingTable, K};
use crate::store::PeerStore;
use crate::token::Tokens;

/// How often the maintenance pass runs (pings, refreshes, expiry).
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(5);
/// Least time between two automatic bootstraps while the table is empty.
pub const BOOTSTRAP_RETRY: Duration = Duration::from_secs(30);

/// Something the runtime should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A `get_peers`/`announce` lookup found peers (only ones it had not
    /// reported before).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// Its info-hash.
        info_hash: NodeId,
        /// Peer addresses (TCP).
        peers: Vec<SocketAddr>,
    },
    /// A lookup finished.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// Its target.
        target: NodeId,
        /// What it was.
        kind: LookupKind,
        /// The closest nodes that answered, closest first (at most K).
        closest: Vec<NodeInfo>,
        /// `announce_peer` queries sent (announce lookups).
        announced: usize,
    },
    /// A bootstrap lookup finished; `nodes` is the routing table size.
    Bootstrapped {
        /// Nodes in the routing table.
        nodes: usize,
    },
    /// A node pinged with [`Dht::ping_node`] answered and was offered to
    /// the routing table.
    NodeVerified {
        /// Its id and address.
        node: NodeInfo,
    },
}

/// Why a request was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DhtError {
    /// Too many lookups running; retry when one finishes.
    #[error("{running} lookups already running (limit {limit}); wait for a LookupDone event")]
    TooManyLookups {
        /// Lookups running.
        running: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Nobody to ask: empty table and no bootstrap address.
    #[error("the routing table is empty and no bootstrap node is configured; add one or restore a snapshot")]
    NoNodes,
}

/// Counters, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries received and answered.
    pub queries_answered: u64,
    /// Queries dropped by the per-source rate limit.
    pub rate_limited: u64,
    /// Datagrams that did not decode.
    pub malformed: u64,
    /// Error replies sent for malformed queries or bad tokens.
    pub errors_sent: u64,
    /// Announces refused for a bad token.
    pub bad_tokens: u64,
    /// Queries we sent.
    pub queries_sent: u64,
    /// Responses matched to one of our queries.
    pub responses: u64,
    /// Our queries that timed out.
    pub timeouts: u64,
    /// Responses or errors matching no query of ours (or from elsewhere).
    pub unexpected: u64,
    /// Datagrams dropped because the transmit queue was full.
    pub transmit_dropped: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
}

pub(crate) enum Purpose {
    /// Maintenance or table ping; `explicit` when asked via `ping_node`.
    Ping { explicit: bool },
    /// A lookup query.
    Lookup(LookupId),
    /// An `announce_peer` at the end of a lookup.
    Announce,
}

pub(crate) struct Pending {
    addr: SocketAddr,
    id: Option<NodeId>,
    deadline: Instant,
    purpose: Purpose,
}

/// A BEP 5 DHT node.
pub struct Dht {
    config: Config,
    id: NodeId,
    rng: Rng,
    table: RoutingTable,
    tokens: Tokens,
    store: PeerStore,
    limiter: RateLimiter,
    pending: HashMap<u16, Pending>,
    next_tid: u16,
    lookups: Vec<Lookup>,
    next_lookup: u64,
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    next_maintenance: Instant,
    needs_bootstrap: bool,
    last_bootstrap: Option<Instant>,
    stats: Stats,
}

impl Dht {
    /// A node with an empty routing table. It bootstraps on the first
    /// [`Dht::handle_timeout`] (which [`Dht::poll_timeout`] asks for at once).
    pub fn new(config: Config, now: Instant) -> Dht {
        let mut rng = Rng::new(config.rng_seed());
        let id = config.node_id.unwrap_or_else(|| NodeId::random(&mut rng));
        Dht {
            table: RoutingTable::new(id, now),
            tokens: Tokens::new(config.seed, now),
            store: PeerStore::new(
                config.max_peers_per_hash,
                config.max_info_hashes,
                config.peer_ttl,
            ),
            limiter: RateLimiter::new(
                config.queries_per_sec,
                config.query_burst,
                config.max_sources,
            ),
            pending: HashMap::new(),
            next_tid: u16::try_from(rng.below(usize::from(u16::MAX))).unwrap_or(0),
            lookups: Vec::new(),
            next_lookup: 1,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_maintenance: now,
            needs_bootstrap: true,
            last_bootstrap: None,
            stats: Stats::default(),
            config,
            id,
            rng,
        }
    }

    /// Our node id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The routing table (read-only).
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Queries awaiting an answer.
    pub fn pending_queries(&self) -> usize {
        self.pending.len()
    }

    /// Lookups running.
    pub fn running_lookups(&self) -> usize {
        self.lookups.len()
    }

    /// Peers held for other nodes: `(info-hashes, peers)`.
    pub fn stored_peers(&self) -> (usize, usize) {
        (self.store.hashes(), self.store.peer_count())
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self, _now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// Next event for the runtime.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Dht::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first_deadline = self.pending.values().map(|p| p.deadline).min();
        Some(match first_deadline {
            Some(d) => d.min(self.next_maintenance),
            None => self.next_maintenance,
        })
    }

    /// Expires queries, runs maintenance when due, advances lookups.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_pending(now);
        if now >= self.next_maintenance {
            self.maintenance(now);
            self.next_maintenance = now + MAINTENANCE_EVERY;
        }
        self.drive_lookups(now);
    }

    /// Finds the peers of `info_hash`; results come as [`Event::Peers`]
    /// then [`Event::LookupDone`].
    pub fn get_peers(&mut self, now: Instant, info_hash: NodeId) -> Result<LookupId, DhtError> {
        self.start_lookup(now, info_hash, LookupKind::GetPeers)
    }

    /// Announces that we seed `info_hash` on TCP `port` (`None`: ask nodes
    /// to use our UDP source port, BEP 5 `implied_port`), after a
    /// `get_peers` lookup that also reports peers.
    pub fn announce(
        &mut self,
        now: Instant,
        info_hash: NodeId,
        port: Option<u16>,
    ) -> Result<LookupId, DhtError> {
        let kind = LookupKind::Announce {
            port: port.unwrap_or(0),
            implied_port: port.is_none(),
        };
        self.start_lookup(now, info_hash, kind)
    }

    /// Finds the nodes closest to `target`.
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> Result<LookupId, DhtError> {
        self.start_lookup(now, target, LookupKind::FindNode)
    }

    /// Looks up our own id from the bootstrap addresses and the table
    /// (BEP 5: "find the closest nodes in the DHT to itself").
    pub fn bootstrap(&mut self, now: Instant) -> Result<LookupId, DhtError> {
        self.needs_bootstrap = false;
        self.last_bootstrap = Some(now);
        let seeds = self.config.bootstrap.clone();
        self.start_lookup_with(now, self.id, LookupKind::Bootstrap, &seeds)
    }

    /// Pings `addr` (a peer's `port` message, BEP 5); when it answers it is
    /// offered to the routing table and [`Event::NodeVerified`] follows.
    /// `false` if a ping to it is already pending or too many are.
    pub fn ping_node(&mut self, now: Instant, addr: SocketAddr) -> bool {
        if addr.port() == 0 || self.pending.values().any(|p| p.addr == addr) {
            return false;
        }
        self.send_ping(now, addr, None, true)
    }

    fn start_lookup(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
    ) -> Result<LookupId, DhtError> {
        // A thin table gets the bootstrap nodes as extra starting points.
        let seeds = if self.table.len() < K {
            self.config.bootstrap.clone()
        } else {
            Vec::new()
        };
        self.start_lookup_with(now, target, kind, &seeds)
    }

    fn start_lookup_with(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: LookupKind,
        seeds: &[SocketAddr],
    ) -> Result<LookupId, DhtError> {
        if self.lookups.len() >= self.config.max_lookups {
            return Err(DhtError::TooManyLookups {
                running: self.lookups.len(),
                limit: self.config.max_lookups,
            });
        }
        let mut start = self.table.closest(&target, 2 * K, false, now);
        if self.config.ipv6 {
            start.extend(self.table.closest(&target, 2 * K, true, now));
        }
        if start.is_empty() && seeds.is_empty() {
            return Err(DhtError::NoNodes);
        }
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        self.lookups
            .push(Lookup::new(id, target, kind, &start, seeds));
        self.drive_lookups(now);
        Ok(id)
    }

    fn maintenance(&mut self, now: Instant) {
        self.tokens.maybe_rotate(now);
        self.store.expire(now);
        let bootstrap_due = self.needs_bootstrap
            || (self.table.is_empty()
                && self
                    .last_bootstrap
                    .is_none_or(|t| now.saturating_duration_since(t) >= BOOTSTRAP_RETRY));
        let bootstrapping = self.lookups.iter().any(|l| l.kind == LookupKind::Bootstrap);
        if bootstrap_due && !bootstrapping {
            // Nothing to ask yet is fine: retried after BOOTSTRAP_RETRY.
            let _ = self.bootstrap(now);
        }
        for n in self.table.ping_candidates(now) {
            if self.pending.len() >= self.config.max_pending / 2 {
                break;
            }
            if !self.pending.values().any(|p| p.addr == n.addr) {
                self.send_ping(now, n.addr, Some(n.id), false);
            }
        }
        for target in self.table.refresh_targets(now, &mut self.rng) {
            // A refresh that cannot start now is retried after GOOD_FOR.
            let _ = self.start_lookup(now, target, LookupKind::Refresh);
        }
    }

    fn push_event(&mut self, ev: Event) {
        if self.events.len() >= self.config.max_events {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(ev);
        }
    }

    fn push_transmit(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        if self.transmits.len() >= self.config.max_transmits {
            self.stats.transmit_dropped += 1;
        } else {
            self.transmits.push_back((to, bytes));
        }
    }
}

#[cfg(test)]
mod tests;
