//! The DHT node on the control core: the sans-IO `seedcore_dht::Dht` on
//! one non-blocking UDP socket, read when `mio` says it is readable.
//!
//! - **Joining.** Bootstrap names (`dht_bootstrap`) are resolved on the
//!   helper pool; the node starts once they are (literal addresses need no
//!   lookup). A routing table saved at the last shutdown (`dht.state` in
//!   the resume folder) is reloaded, so a restart rejoins through the
//!   nodes it knew, with the same node id.
//! - **Announcing.** Every public torrent (each of a hybrid's two hashes)
//!   is announced every `dht_announce_interval` (15 minutes by default,
//!   plus up to 10 % jitter): a `get_peers` lookup that also stores us
//!   with the nodes closest to the hash, and whose peers go to the dialer.
//!   Lookups run at most a few at a time; the rest wait their turn.
//!   Private torrents never touch the DHT (BEP 27).
//! - **`port` messages** from peers (BEP 5) arrive from the shards and are
//!   pinged; a node that answers joins the routing table.
//! - **Storms.** A flood of datagrams costs this thread, never a shard: at
//!   most a budget of datagrams is read per readiness event before other
//!   work gets a turn, the node's per-IP rate limit drops excess queries
//!   before any work is done for them, and the kernel drops what the
//!   socket buffer cannot hold.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::net::UdpSocket;
use seedcore_dht::{Dht, DhtError, Event, LookupId, LookupKind, NodeId};
use seedcore_protocol::session::TorrentId;

use super::http::{Done, Job, Pool};
use super::trackers::Found;
use crate::control::status::DhtStatus;

/// Datagrams read per readiness event before other work gets a turn.
const READ_BUDGET: usize = 512;
/// Retry an announce that could not start (no node known yet) after this.
const RETRY: Duration = Duration::from_secs(10);
/// Lookups left free for the node's own refreshes and bootstraps.
const SPARE_LOOKUPS: usize = 8;
/// Largest routing table file read back.
const MAX_STATE: u64 = 1 << 20;

/// How the DHT side starts.
pub(crate) struct Settings {
    /// Our TCP listen port (announced).
    pub(crate) tcp_port: u16,
    pub(crate) bootstrap: Vec<String>,
    pub(crate) interval: Duration,
    pub(crate) state_path: Option<PathBuf>,
    pub(crate) seed: [u8; 32],
}

#[derive(Debug)]
struct Entry {
    torrent: TorrentId,
    hash: NodeId,
    next_at: Instant,
    lookup: Option<LookupId>,
}

/// The node, its socket and the announce schedule.
pub(crate) struct DhtNode {
    socket: UdpSocket,
    dht: Option<Dht>,
    settings: Settings,
    bootstrap: Vec<SocketAddr>,
    resolving: Vec<u64>,
    entries: Vec<Entry>,
    by_hash: HashMap<NodeId, TorrentId>,
    lookups: HashMap<LookupId, usize>,
    rng: seedcore_dht::Rng,
    announces: u64,
    peers_found: u64,
    pings: u64,
    buf: Vec<u8>,
}

impl DhtNode {
    /// A node for `hashes` (the public torrents' announce hashes). Names
    /// among the bootstrap nodes are handed to `pool` to resolve.
    pub(crate) fn new(
        now: Instant,
        socket: UdpSocket,
        settings: Settings,
        hashes: Vec<(TorrentId, [u8; 20])>,
        pool: &Pool,
    ) -> DhtNode {
        let mut seed = [0u8; 8];
        seed.iter_mut()
            .zip(settings.seed.iter().rev())
            .for_each(|(o, s)| *o = *s);
        let mut rng = seedcore_dht::Rng::new(u64::from_le_bytes(seed));
        let mut bootstrap = Vec::new();
        let mut resolving = Vec::new();
        for b in &settings.bootstrap {
            if let Ok(a) = b.parse::<SocketAddr>() {
                bootstrap.push(a);
                continue;
            }
            let Some((host, port)) = b.rsplit_once(':') else {
                continue;
            };
            let Ok(port) = port.parse::<u16>() else {
                continue;
            };
            let id = pool.next_id();
            pool.submit(Job::Resolve {
                id,
                host: host.trim_matches(['[', ']']).to_string(),
                port,
            });
            resolving.push(id);
        }
        // First announces spread over a few seconds per thousand torrents.
        let spread = Duration::from_millis(5)
            .saturating_mul(u32::try_from(hashes.len()).unwrap_or(u32::MAX));
        let entries: Vec<Entry> = hashes
            .iter()
            .map(|&(torrent, hash)| Entry {
                torrent,
                hash: NodeId(hash),
                next_at: now + spread.mul_f64(unit(&mut rng)),
                lookup: None,
            })
            .collect();
        let by_hash = entries.iter().map(|e| (e.hash, e.torrent)).collect();
        let mut node = DhtNode {
            socket,
            dht: None,
            settings,
            bootstrap,
            resolving,
            entries,
            by_hash,
            lookups: HashMap::new(),
            rng,
            announces: 0,
            peers_found: 0,
            pings: 0,
            buf: vec![0u8; 64 << 10],
        };
        if node.resolving.is_empty() {
            node.start(now);
        }
        node
    }

    /// The socket, for registering with `mio`.
    pub(crate) fn socket(&mut self) -> &mut UdpSocket {
        &mut self.socket
    }

    fn start(&mut self, now: Instant) {
        let mut cfg = seedcore_dht::Config::new(self.settings.seed);
        cfg.bootstrap = self
            .bootstrap
            .iter()
            .filter(|a| a.is_ipv4())
            .copied()
            .collect();
        if cfg.bootstrap.is_empty() {
            tracing::warn!("DHT: no bootstrap node resolved; relying on the saved table and peers' port messages");
        }
        // Never blocks this thread on a FIFO, never reads past the bound.
        let saved = self.settings.state_path.as_ref().and_then(|p| {
            match seedcore_storage::regular::read(p, MAX_STATE, "a DHT state file") {
                Ok(bytes) => Some(bytes),
                Err(e) if e.is_not_found() => None,
                Err(e) => {
                    tracing::warn!("DHT: not restoring the routing table: {e}");
                    None
                }
            }
        });
        let dht = match saved {
            Some(bytes) => {
                let d = Dht::restore(cfg, now, &bytes);
                tracing::info!(
                    "DHT node {} restored {} nodes from the saved routing table",
                    d.id(),
                    d.table().len()
                );
                d
            }
            None => {
                let d = Dht::new(cfg, now);
                tracing::info!("DHT node {} starting", d.id());
                d
            }
        };
        self.dht = Some(dht);
    }

    /// Takes a finished helper job if it is ours; returns it otherwise.
    pub(crate) fn on_done(&mut self, now: Instant, done: Done) -> Option<Done> {
        let Done::Resolved { id, result } = &done else {
            return Some(done);
        };
        let Some(pos) = self.resolving.iter().position(|j| j == id) else {
            return Some(done);
        };
        self.resolving.swap_remove(pos);
        match result {
            Ok(addrs) => self.bootstrap.extend(addrs.iter().filter(|a| a.is_ipv4())),
            Err(e) => tracing::warn!("DHT bootstrap node: {e}"),
        }
        if self.resolving.is_empty() && self.dht.is_none() {
            self.start(now);
        }
        None
    }

    /// Pings a peer's DHT node (its `port` message).
    pub(crate) fn ping(&mut self, now: Instant, addr: SocketAddr) {
        if let (Some(d), true) = (self.dht.as_mut(), addr.is_ipv4()) {
            if d.ping_node(now, addr) {
                self.pings += 1;
            }
        }
    }

    /// When [`Self::tick`] next has work.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        let d = self.dht.as_ref()?;
        let announce = self
            .entries
            .iter()
            .filter(|e| e.lookup.is_none())
            .map(|e| e.next_at)
            .min();
        d.poll_timeout().into_iter().chain(announce).min()
    }

    /// Reads the socket; returns true when the budget ran out with
    /// datagrams perhaps still waiting.
    pub(crate) fn readable(&mut self, now: Instant, found: &mut Found) -> bool {
        let mut more = false;
        for n in 0.. {
            if n == READ_BUDGET {
                more = true;
                break;
            }
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    if let (Some(d), Some(data)) = (self.dht.as_mut(), self.buf.get(..len)) {
                        d.handle_datagram(now, from, data);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => tracing::trace!("DHT socket: {e}"),
            }
        }
        self.flush(now, found);
        more
    }

    /// Timers, due announces, datagrams out, events in.
    pub(crate) fn tick(&mut self, now: Instant, found: &mut Found) {
        let Some(d) = self.dht.as_mut() else {
            return;
        };
        if d.poll_timeout().is_some_and(|t| t <= now) {
            d.handle_timeout(now);
        }
        let limit = seedcore_dht::Config::new([0; 32])
            .max_lookups
            .saturating_sub(SPARE_LOOKUPS);
        for (i, e) in self.entries.iter_mut().enumerate() {
            if e.lookup.is_some() || e.next_at > now {
                continue;
            }
            if d.running_lookups() >= limit {
                break;
            }
            match d.announce(now, e.hash, Some(self.settings.tcp_port)) {
                Ok(id) => {
                    tracing::debug!("DHT: announcing {}", e.hash);
                    e.lookup = Some(id);
                    self.lookups.insert(id, i);
                }
                Err(DhtError::NoNodes) => {
                    e.next_at = now + RETRY.min(self.settings.interval);
                }
                Err(DhtError::TooManyLookups { .. }) => break,
            }
        }
        self.flush(now, found);
    }

    fn flush(&mut self, now: Instant, found: &mut Found) {
        let Some(d) = self.dht.as_mut() else {
            return;
        };
        while let Some((to, bytes)) = d.poll_transmit(now) {
            // A full socket buffer drops the datagram: the query times out
            // and the node treats it as lost, as it would on the network.
            let _ = self.socket.send_to(&bytes, to);
        }
        while let Some(ev) = d.poll_event() {
            match ev {
                Event::Peers {
                    info_hash, peers, ..
                } => {
                    if let Some(&t) = self.by_hash.get(&info_hash) {
                        self.peers_found += peers.len() as u64;
                        found.push((t, peers));
                    }
                }
                Event::LookupDone {
                    lookup,
                    kind,
                    announced,
                    ..
                } => {
                    let Some(i) = self.lookups.remove(&lookup) else {
                        continue;
                    };
                    let interval = self.settings.interval;
                    let jitter = interval.mul_f64(0.1 * unit(&mut self.rng));
                    if let Some(e) = self.entries.get_mut(i) {
                        e.lookup = None;
                        e.next_at = now + interval + jitter;
                        if matches!(kind, LookupKind::Announce { .. }) {
                            self.announces += 1;
                            tracing::debug!("DHT: announced {} to {announced} nodes", e.hash);
                        }
                    }
                }
                Event::Bootstrapped { nodes } => {
                    tracing::info!("DHT bootstrapped: {nodes} nodes in the routing table");
                }
                Event::NodeVerified { node } => {
                    tracing::debug!("DHT: peer's node {} answered", node.addr);
                }
            }
        }
    }

    /// Writes the routing table for the next start (temporary file, then
    /// rename, so a crash leaves the old one).
    pub(crate) fn save(&self) {
        let (Some(d), Some(path)) = (self.dht.as_ref(), self.settings.state_path.as_ref()) else {
            return;
        };
        let bytes = d.routing_table_snapshot();
        let tmp = path.with_extension("state.tmp");
        let result = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, &bytes))
            .and_then(|()| std::fs::rename(&tmp, path));
        match result {
            Ok(()) => tracing::info!(
                "DHT routing table ({} nodes) saved to {}",
                d.table().len(),
                path.display()
            ),
            Err(e) => tracing::warn!(
                "cannot save the DHT routing table to {}: {e}; the next start bootstraps again",
                path.display()
            ),
        }
    }

    /// The node's counters, for the status report.
    pub(crate) fn status(&self) -> DhtStatus {
        let port = self.socket.local_addr().map_or(0, |a| a.port());
        match &self.dht {
            Some(d) => {
                let s = d.stats();
                let (hashes, peers) = d.stored_peers();
                DhtStatus {
                    port,
                    running: true,
                    node_id: d.id().to_string(),
                    nodes: d.table().len(),
                    queries_answered: s.queries_answered,
                    rate_limited: s.rate_limited,
                    malformed: s.malformed,
                    announces: self.announces,
                    peers_found: self.peers_found,
                    pings: self.pings,
                    stored_hashes: hashes,
                    stored_peers: peers,
                }
            }
            None => DhtStatus {
                port,
                ..DhtStatus::default()
            },
        }
    }
}

fn unit(rng: &mut seedcore_dht::Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}
