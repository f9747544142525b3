//! The typed messages between the control thread and the shards: the only
//! way state crosses cores (no shared mutable state on the serving path).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seedcore_protocol::session::{PexEntry, TorrentId};

use crate::torrents::TorrentData;

/// Names one dial job of the control thread's dialer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialId(pub u64);

/// Control thread to shard.
#[derive(Debug)]
pub enum ToShard {
    /// Connect to `addr` for `torrent`; report with [`FromShard::Dialed`]
    /// and, once connected, [`FromShard::DialClosed`] when it ends.
    Dial {
        /// The dial job.
        dial: DialId,
        /// The torrent to ask for.
        torrent: TorrentId,
        /// The peer.
        addr: SocketAddr,
        /// Give up connecting after this long.
        timeout: Duration,
    },
    /// These pieces can no longer be served (their file changed).
    PiecesLost {
        /// The torrent.
        torrent: TorrentId,
        /// The pieces.
        pieces: Arc<[u32]>,
    },
    /// These pieces can be served again, from `data` (freshly mapped and
    /// re-verified).
    PiecesAdded {
        /// The torrent.
        torrent: TorrentId,
        /// The pieces.
        pieces: Arc<[u32]>,
        /// The new mappings and handles, replacing the old ones.
        data: Arc<TorrentData>,
    },
    /// A PEX round for a torrent: peers that already had a list get the
    /// changes, new ones a sample of the whole swarm.
    Pex {
        /// The torrent.
        torrent: TorrentId,
        /// Up to 50 of the peers known now (for peers that had no list yet).
        all: Arc<[PexEntry]>,
        /// Peers new since the last round.
        added: Arc<[PexEntry]>,
        /// Peers gone since the last round.
        dropped: Arc<[SocketAddr]>,
    },
    /// Stop accepting, close every connection, end the shard.
    Stop,
}

/// Per-torrent counters of one shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TorrentCounters {
    /// Peers connected (handshake done).
    pub peers: u32,
    /// Block payload bytes sent, ever.
    pub uploaded: u64,
}

/// What a shard reports about itself about once a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Open connections (handshaking ones included).
    pub connections: u32,
    /// All bytes written to sockets, ever.
    pub bytes_sent: u64,
    /// All bytes read from sockets, ever.
    pub bytes_received: u64,
    /// Per torrent, indexed by `TorrentId`.
    pub torrents: Vec<TorrentCounters>,
    /// CPU time of the shard's thread.
    pub cpu: Duration,
    /// Connection and request counters (for metrics).
    pub counters: crate::control::status::PeerCounters,
}

/// Shard to control thread.
#[derive(Debug)]
pub enum FromShard {
    /// The shard runs and listens.
    Ready {
        /// Which shard.
        shard: usize,
    },
    /// The shard could not start.
    Failed {
        /// Which shard.
        shard: usize,
        /// Why.
        what: String,
    },
    /// Counters.
    Stats {
        /// Which shard.
        shard: usize,
        /// The counters.
        stats: ShardStats,
    },
    /// A dial finished: connected, or why not.
    Dialed {
        /// The dial job.
        dial: DialId,
        /// `Err` with the reason when no connection was made.
        result: Result<(), String>,
    },
    /// A dialled connection ended.
    DialClosed {
        /// The dial job.
        dial: DialId,
        /// How long it was connected.
        lasted: Duration,
    },
    /// A peer that others can connect to is in the swarm of `torrent`.
    PeerUp {
        /// The torrent.
        torrent: TorrentId,
        /// Its reachable address (its IP and listen port).
        addr: SocketAddr,
    },
    /// That peer left.
    PeerDown {
        /// The torrent.
        torrent: TorrentId,
        /// Its reachable address.
        addr: SocketAddr,
    },
    /// A peer's DHT node listens at `addr` (its IP and the port of its
    /// BEP 5 `port` message): the control core pings it.
    DhtPort {
        /// The node's UDP address.
        addr: SocketAddr,
    },
    /// A peer sent PEX (BEP 11) peers for `torrent` (never for a private
    /// torrent: the session does not take PEX there).
    PexPeers {
        /// The torrent.
        torrent: TorrentId,
        /// The peers it says joined (IPv4 and IPv6).
        added: Vec<SocketAddr>,
    },
    /// The shard has closed every connection and is ending.
    Stopped {
        /// Which shard.
        shard: usize,
    },
}
