//! Peers announced to us (`announce_peer`), served back on `get_peers`.
//!
//! Bounded three ways, since any node may announce: entries expire after
//! the configured lifetime (BitTorrent clients re-announce every 15-30
//! minutes), each info-hash keeps at most `max_per_hash` peers (a full one
//! replaces the entry closest to expiry), and at most `max_hashes`
//! info-hashes are kept (a new one is refused while full: what is stored
//! already is as valid as the newcomer, and refusing costs nothing).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::id::NodeId;
use crate::rng::Rng;

#[derive(Clone, Copy, Debug)]
struct Stored {
    addr: SocketAddr,
    expires: Instant,
}

/// The peer store.
#[derive(Clone, Debug)]
pub struct PeerStore {
    map: HashMap<NodeId, Vec<Stored>>,
    max_per_hash: usize,
    max_hashes: usize,
    ttl: Duration,
}

impl PeerStore {
    /// An empty store with these bounds.
    pub fn new(max_per_hash: usize, max_hashes: usize, ttl: Duration) -> PeerStore {
        PeerStore {
            map: HashMap::new(),
            max_per_hash: max_per_hash.max(1),
            max_hashes,
            ttl,
        }
    }

    /// Records (or refreshes) `addr` under `info_hash`; `false` if refused.
    pub fn insert(&mut self, info_hash: NodeId, addr: SocketAddr, now: Instant) -> bool {
        if !self.map.contains_key(&info_hash) && self.map.len() >= self.max_hashes {
            return false;
        }
        let expires = now + self.ttl;
        let peers = self.map.entry(info_hash).or_default();
        if let Some(p) = peers.iter_mut().find(|p| p.addr == addr) {
            p.expires = expires;
            return true;
        }
        if peers.len() >= self.max_per_hash {
            if let Some(oldest) = peers.iter_mut().min_by_key(|p| p.expires) {
                *oldest = Stored { addr, expires };
            }
            return true;
        }
        peers.push(Stored { addr, expires });
        true
    }

    /// Up to `max` live peers of one address family, a random sample when
    /// there are more.
    pub fn peers(
        &self,
        info_hash: &NodeId,
        v6: bool,
        max: usize,
        now: Instant,
        rng: &mut Rng,
    ) -> Vec<SocketAddr> {
        let mut out: Vec<SocketAddr> = self
            .map
            .get(info_hash)
            .into_iter()
            .flatten()
            .filter(|p| p.expires > now && p.addr.is_ipv6() == v6)
            .map(|p| p.addr)
            .collect();
        // Partial Fisher-Yates: the first `max` become a uniform sample.
        for i in 0..out.len().min(max) {
            let j = i + rng.below(out.len() - i);
            out.swap(i, j);
        }
        out.truncate(max);
        out
    }

    /// Drops expired peers and emptied info-hashes.
    pub fn expire(&mut self, now: Instant) {
        self.map.retain(|_, peers| {
            peers.retain(|p| p.expires > now);
            !peers.is_empty()
        });
    }

    /// Number of info-hashes held.
    pub fn hashes(&self) -> usize {
        self.map.len()
    }

    /// Number of peers held, all info-hashes together.
    pub fn peer_count(&self) -> usize {
        self.map.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], i))
    }

    #[test]
    fn bounded_and_expiring() {
        let t0 = Instant::now();
        let mut rng = Rng::new(1);
        let mut s = PeerStore::new(3, 2, Duration::from_secs(60));
        let (a, b, c) = (NodeId([1; 20]), NodeId([2; 20]), NodeId([3; 20]));
        for i in 1..=5 {
            assert!(s.insert(a, addr(i), t0 + Duration::from_secs(u64::from(i))));
        }
        assert_eq!(s.peer_count(), 3);
        let got = s.peers(&a, false, 10, t0, &mut rng);
        assert_eq!(got.len(), 3);
        assert!(got.contains(&addr(5)) && !got.contains(&addr(1)));
        assert_eq!(s.peers(&a, false, 2, t0, &mut rng).len(), 2);
        assert!(s.peers(&a, true, 10, t0, &mut rng).is_empty());
        assert!(s.insert(b, addr(9), t0));
        assert!(!s.insert(c, addr(9), t0), "third info-hash refused");
        s.expire(t0 + Duration::from_secs(61));
        assert_eq!(s.hashes(), 1);
        assert_eq!(s.peer_count(), 3);
        s.expire(t0 + Duration::from_secs(70));
        assert_eq!(s.hashes(), 0);
    }
}
