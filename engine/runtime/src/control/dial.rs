//! The dialer for `--peer` addresses: every known peer is dialled for
//! every torrent, retried with exponential back-off until connected, and
//! dialled again after the connection drops (the peer may start later,
//! restart, or close on us).
//!
//! The control thread only decides *when* and *which shard*: the least
//! loaded one (fewest connections, dials in flight included). The shard
//! makes the connection itself with glommio's non-blocking connect, so a
//! slow or unreachable peer never blocks the control thread, and the socket
//! is born on the core that will serve it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use seedcore_protocol::session::TorrentId;

use crate::msg::DialId;

/// First retry delay; doubled after each failure up to the configured maximum.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// A connection that lasted this long resets the back-off.
const STABLE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting until the instant to dial.
    Waiting(Instant),
    /// A shard is dialling.
    Dialing { shard: usize },
    /// Connected through a shard.
    Connected { shard: usize },
}

#[derive(Debug)]
struct Target {
    torrent: TorrentId,
    peer: String,
    state: State,
    backoff: Duration,
    failures: u32,
}

/// A dial the control thread must hand to a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DialOrder {
    pub(crate) dial: DialId,
    pub(crate) torrent: TorrentId,
    pub(crate) addr: SocketAddr,
    pub(crate) shard: usize,
}

/// Every dial target and its state.
#[derive(Debug)]
pub(crate) struct Dialer {
    targets: BTreeMap<DialId, Target>,
    peers: Vec<String>,
    next_id: u64,
    max_backoff: Duration,
}

impl Dialer {
    /// One target per (peer, torrent).
    pub(crate) fn new(
        peers: &[String],
        torrents: &[TorrentId],
        max_backoff: Duration,
        now: Instant,
    ) -> Dialer {
        let mut d = Dialer {
            targets: BTreeMap::new(),
            peers: peers.to_vec(),
            next_id: 0,
            max_backoff: max_backoff.max(FIRST_BACKOFF),
        };
        for &t in torrents {
            d.add_torrent(t, now);
        }
        d
    }

    /// A torrent starts being served: every known peer is dialled for it.
    pub(crate) fn add_torrent(&mut self, torrent: TorrentId, now: Instant) {
        for peer in &self.peers {
            self.targets.insert(
                DialId(self.next_id),
                Target {
                    torrent,
                    peer: peer.clone(),
                    state: State::Waiting(now),
                    backoff: FIRST_BACKOFF,
                    failures: 0,
                },
            );
            self.next_id += 1;
        }
    }

    /// A torrent stops being served: its targets are dropped (a dial in
    /// flight ends on its own; the shard closes what connected).
    pub(crate) fn remove_torrent(&mut self, torrent: TorrentId) {
        if !self.peers.is_empty() {
            self.targets.retain(|_, t| t.torrent != torrent);
        }
    }

    /// Connections and dials in flight per shard (for load balancing).
    fn load(&self, shards: usize) -> Vec<u32> {
        let mut load = vec![0u32; shards];
        for t in self.targets.values() {
            if let State::Dialing { shard } | State::Connected { shard } = t.state {
                if let Some(l) = load.get_mut(shard) {
                    *l += 1;
                }
            }
        }
        load
    }

    /// Dials that are due now; `connections[i]` is shard `i`'s current
    /// connection count.
    pub(crate) fn due(&mut self, now: Instant, connections: &[u32]) -> Vec<DialOrder> {
        let shards = connections.len().max(1);
        let mut load = self.load(shards);
        for (l, c) in load.iter_mut().zip(connections) {
            *l += c;
        }
        let mut out = Vec::new();
        let max = self.max_backoff;
        for (&dial, t) in &mut self.targets {
            let State::Waiting(at) = t.state else {
                continue;
            };
            if at > now {
                continue;
            }
            let addr = match resolve(&t.peer) {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("peer {}: {e}", t.peer);
                    fail(t, now, max);
                    continue;
                }
            };
            let shard = load
                .iter()
                .enumerate()
                .min_by_key(|(_, l)| **l)
                .map_or(0, |(i, _)| i);
            if let Some(l) = load.get_mut(shard) {
                *l += 1;
            }
            t.state = State::Dialing { shard };
            out.push(DialOrder {
                dial,
                torrent: t.torrent,
                addr,
                shard,
            });
        }
        out
    }

    /// A shard finished a dial.
    pub(crate) fn dialed(&mut self, dial: DialId, result: Result<(), String>, now: Instant) {
        let max = self.max_backoff;
        let Some(t) = self.targets.get_mut(&dial) else {
            return;
        };
        let State::Dialing { shard } = t.state else {
            return;
        };
        match result {
            Ok(()) => {
                tracing::info!("connected to peer {}", t.peer);
                t.state = State::Connected { shard };
            }
            Err(e) => {
                if t.failures == 0 {
                    tracing::info!("peer {}: {e}; retrying with back-off", t.peer);
                } else {
                    tracing::debug!("peer {}: {e}", t.peer);
                }
                fail(t, now, max);
            }
        }
    }

    /// A dialled connection ended after `lasted`.
    pub(crate) fn closed(&mut self, dial: DialId, lasted: Duration, now: Instant) {
        let max = self.max_backoff;
        let Some(t) = self.targets.get_mut(&dial) else {
            return;
        };
        tracing::info!(
            "connection to peer {} ended after {:.1} s",
            t.peer,
            lasted.as_secs_f64()
        );
        if lasted >= STABLE {
            t.backoff = FIRST_BACKOFF;
            t.failures = 0;
        }
        fail(t, now, max);
    }

    /// When the next dial is due (for the control loop's sleep).
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.targets
            .values()
            .filter_map(|t| match t.state {
                State::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Number of targets connected now.
    #[cfg(test)]
    pub(crate) fn connected(&self) -> usize {
        self.targets
            .values()
            .filter(|t| matches!(t.state, State::Connected { .. }))
            .count()
    }
}

fn fail(t: &mut Target, now: Instant, max: Duration) {
    t.state = State::Waiting(now + t.backoff);
    t.backoff = (t.backoff * 2).min(max);
    t.failures = t.failures.saturating_add(1);
}

/// `host:port` to an address (the first one; IPv4 preferred for names
/// that have both, since a v6 route is less often there).
fn resolve(peer: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = peer.parse::<SocketAddr>() {
        return Ok(a);
    }
    let addrs: Vec<SocketAddr> = peer
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| "name has no address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_resets_after_a_stable_connection() {
        let t0 = Instant::now();
        let peers = vec!["127.0.0.1:1".to_string()];
        let mut d = Dialer::new(
            &peers,
            &[TorrentId(0), TorrentId(1)],
            Duration::from_secs(8),
            t0,
        );
        let orders = d.due(t0, &[5, 0]);
        assert_eq!(orders.len(), 2, "one dial per torrent");
        assert!(orders.iter().all(|o| o.addr.port() == 1));
        assert_eq!(orders[0].shard, 1, "least loaded shard first");
        assert_eq!(orders[1].shard, 1, "shard 1 still has 5 fewer");
        let id = orders[0].dial;
        let mut at = t0;
        for expect in [1u64, 2, 4, 8, 8] {
            d.dialed(id, Err("refused".into()), at);
            let next = d.next_due().unwrap();
            assert_eq!(next, at + Duration::from_secs(expect));
            at = next;
            let o = d.due(at, &[0, 0]);
            assert!(o.iter().any(|o| o.dial == id));
        }
        d.dialed(id, Ok(()), at);
        assert_eq!(d.connected(), 1);
        d.closed(id, Duration::from_secs(120), at);
        assert_eq!(d.connected(), 0);
        let o = d.due(at + FIRST_BACKOFF, &[0, 0]);
        assert!(
            o.iter().any(|o| o.dial == id),
            "reset to the first back-off"
        );
    }

    #[test]
    fn unresolvable_peers_back_off() {
        let t0 = Instant::now();
        // No port: refused without asking DNS.
        let peers = vec!["no-port-here".to_string()];
        let mut d = Dialer::new(&peers, &[TorrentId(0)], Duration::from_secs(60), t0);
        assert!(d.due(t0, &[0]).is_empty());
        assert_eq!(d.next_due(), Some(t0 + FIRST_BACKOFF));
    }
}
