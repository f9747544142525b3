//! Node configuration: every bound in one place.

use std::net::SocketAddr;
use std::time::Duration;

use crate::id::NodeId;

/// How a [`crate::Dht`] behaves. Build with [`Config::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Our node id; `None` draws a random one (see [`NodeId::bep42`] to
    /// derive one from a known external IP instead).
    pub node_id: Option<NodeId>,
    /// Addresses to bootstrap from (resolved by the runtime).
    pub bootstrap: Vec<SocketAddr>,
    /// BEP 43 read-only: mark our queries `ro` and answer none.
    pub read_only: bool,
    /// Also use IPv6 contacts (`nodes6`, BEP 32). Off: the node only sends
    /// to IPv4 addresses, for a runtime with one IPv4 socket.
    pub ipv6: bool,
    /// 32 bytes from the OS: seeds token secrets and the id generator.
    pub seed: [u8; 32],
    /// Client version `v` sent in every message (BEP 20 style).
    pub version: Option<[u8; 4]>,
    /// How long to wait for an answer.
    pub query_timeout: Duration,
    /// Most queries awaiting an answer at once.
    pub max_pending: usize,
    /// Most lookups running at once.
    pub max_lookups: usize,
    /// Parallel queries per lookup (Kademlia's alpha).
    pub alpha: usize,
    /// Sustained queries per second accepted from one IP.
    pub queries_per_sec: u32,
    /// Burst of queries accepted from one IP.
    pub query_burst: u32,
    /// Most source IPs tracked by the rate limiter.
    pub max_sources: usize,
    /// Peers kept per info-hash for others.
    pub max_peers_per_hash: usize,
    /// Info-hashes kept for others.
    pub max_info_hashes: usize,
    /// How long an announced peer is kept.
    pub peer_ttl: Duration,
    /// Peers returned in one `get_peers` answer (50 keeps it one packet).
    pub max_values: usize,
    /// Datagrams queued for sending before new ones are dropped.
    pub max_transmits: usize,
    /// Events queued before new ones are dropped.
    pub max_events: usize,
}

impl Config {
    /// Defaults (BEP 5 timings, libtorrent-like bounds) with `seed`.
    pub fn new(seed: [u8; 32]) -> Config {
        Config {
            node_id: None,
            bootstrap: Vec::new(),
            read_only: false,
            ipv6: false,
            seed,
            version: Some(*b"SC01"),
            query_timeout: Duration::from_secs(4),
            max_pending: 512,
            max_lookups: 32,
            alpha: 3,
            queries_per_sec: 10,
            query_burst: 40,
            max_sources: 4096,
            max_peers_per_hash: 100,
            max_info_hashes: 2000,
            peer_ttl: Duration::from_secs(30 * 60),
            max_values: 50,
            max_transmits: 4096,
            max_events: 4096,
        }
    }

    /// Seed for the id/transaction generator, derived from `seed` so that
    /// its outputs reveal nothing about the token secrets.
    pub(crate) fn rng_seed(&self) -> u64 {
        let d = seedcore_hash::sha1(&[&b"seedcore-dht rng"[..], &self.seed[..]].concat());
        let mut b = [0u8; 8];
        b.iter_mut().zip(d).for_each(|(o, x)| *o = x);
        u64::from_le_bytes(b)
    }
}
