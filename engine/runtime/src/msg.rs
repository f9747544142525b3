//! The typed messages between the control thread and the shards: the only
//! way state crosses cores (no shared mutable state on the serving path).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seedcore_protocol::session::{PexEntry, TorrentContext, TorrentId};

use crate::blocklist::Blocklist;
use crate::limits::SharedBucket;
use crate::node::PeerInfo;
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
    /// Start serving a torrent under `id` (added, resumed or re-checked at
    /// run time).
    Attach {
        /// Its id (a fresh one: ids are never reused while in use).
        id: TorrentId,
        /// What sessions need.
        ctx: Arc<TorrentContext>,
        /// Its data.
        data: Arc<TorrentData>,
        /// Per piece: verified and servable.
        have: Arc<[bool]>,
        /// Its own upload limit, when it has one.
        limit: Option<Arc<SharedBucket>>,
    },
    /// Stop serving a torrent (removed, paused, re-checked): its peers are
    /// closed, handshakes naming it refused; answered with
    /// [`FromShard::Detached`]. Peers of other torrents see nothing.
    Detach {
        /// The torrent.
        id: TorrentId,
    },
    /// A torrent's own upload limit changed (`None`: it has none now).
    TorrentLimit {
        /// The torrent.
        id: TorrentId,
        /// The shared bucket of its limit.
        limit: Option<Arc<SharedBucket>>,
    },
    /// Describe the peers of a torrent: the shard sends its index and the
    /// list on `reply` (an empty list when it has none).
    Peers {
        /// The torrent.
        id: TorrentId,
        /// Where the answer goes.
        reply: crossbeam_channel::Sender<(usize, Vec<PeerInfo>)>,
    },
    /// This shard's share of the global upload slots (`None`: unlimited).
    Slots(Option<usize>),
    /// A new IP blocklist: refuse those addresses from now on, and close
    /// the connected peers it blocks; then send the shard's index on the
    /// channel (the caller waits until every shard applies it).
    Blocklist(Arc<Blocklist>, crossbeam_channel::Sender<usize>),
    /// Stop accepting, close every connection, end the shard.
    Stop,
}

/// How one torrent's counters on one shard changed since the shard's
/// last report. Reports carry only the torrents that changed, so that
/// 100,000 torrents idle on 64 shards cost nothing per second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TorrentDelta {
    /// The torrent.
    pub id: TorrentId,
    /// Change in peers connected (handshake done).
    pub peers: i64,
    /// Block payload bytes sent since the last report.
    pub uploaded: u64,
}

/// What a shard reports about itself about once a second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Open connections (handshaking ones included).
    pub connections: u32,
    /// Peers interested in our pieces now (for sharing the upload slots
    /// between shards by demand).
    pub interested: u32,
    /// All bytes written to sockets, ever.
    pub bytes_sent: u64,
    /// All bytes read from sockets, ever.
    pub bytes_received: u64,
    /// Connections refused because their address is blocklisted, ever.
    pub refused_blocked: u64,
    /// The torrents whose counters changed since the last report.
    pub torrents: Vec<TorrentDelta>,
    /// CPU time of the shard's thread.
    pub cpu: Duration,
    /// What the shard did against misbehaving peers, ever.
    pub guard: crate::guard::GuardCounters,
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
        stats: Box<ShardStats>,
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
    /// The shard dropped a torrent ([`ToShard::Detach`]): nothing on it
    /// refers to that id any more.
    Detached {
        /// Which shard.
        shard: usize,
        /// The torrent.
        id: TorrentId,
    },
    /// The shard has closed every connection and is ending.
    Stopped {
        /// Which shard.
        shard: usize,
    },
}
