//! The live node's handle: what an HTTP API, `seedcore ctl`, a watch
//! folder or a test calls to change and inspect a running seed.
//!
//! # Why a handle that talks to the control core
//!
//! Every change of the set of torrents (add, remove, pause, resume,
//! re-check), of the limits or of the blocklist goes through the control
//! core, the one thread that owns the torrent registry: it hands the shards
//! typed messages ([`crate::msg::ToShard`]), tells the trackers and the DHT,
//! and writes the state folder. A [`Node`] is only a sender of commands to
//! that thread plus a reply channel per call, so it is `Clone + Send +
//! Sync`, costs nothing to hold, and no call ever runs on a shard's thread
//! or takes a lock a shard could wait for. Calls block the calling thread
//! until the control core answers (bounded by [`COMMAND_WAIT`]); slow work
//! (hashing for [`AddSource::Make`], verification) runs on helper threads
//! and shows up as [`TorrentState::Loading`] / [`TorrentState::Checking`].
//!
//! Every method returns [`NodeError`] on failure; each variant says what the
//! caller can do, and [`NodeError::kind`] maps it to a class an HTTP layer
//! can turn into a status code.

mod types;

pub use types::{
    AddRequest, AddSource, BlocklistInfo, Limits, LimitsUpdate, PeerInfo, ReloadReport,
    TorrentInfo, TorrentKey, TorrentSource, TorrentState, VerifyProgress,
};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::control::status::StatusReport;

/// The longest a call waits for the control core's answer. The control
/// loop turns at least every 50 ms; only a stalled node takes longer.
pub const COMMAND_WAIT: Duration = Duration::from_secs(30);

/// What can go wrong with a [`Node`] call, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// No torrent with that key on this node.
    #[error("no torrent {key} on this node (list them to see their keys)")]
    NotFound {
        /// The key asked for.
        key: TorrentKey,
    },
    /// The torrent is already on the node.
    #[error("{name} ({key}) is already on this node; remove it first to add it again")]
    Duplicate {
        /// Its key.
        key: TorrentKey,
        /// Its name.
        name: String,
    },
    /// The `.torrent` could not be read or is not valid.
    #[error("not a usable .torrent: {what}")]
    BadTorrent {
        /// What is wrong, naming the field where the parser can.
        what: String,
    },
    /// The request itself is wrong (a missing data folder, a bad value).
    #[error("{what}")]
    BadRequest {
        /// What is wrong and how to say it right.
        what: String,
    },
    /// A file or folder named in the request cannot be used.
    #[error("cannot {op} {path}: {what}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The operating system's message.
        what: String,
    },
    /// The state folder could not be written: nothing was changed.
    #[error("cannot write the state folder {path}: {what}; nothing was changed (free space or fix permissions, then retry)")]
    State {
        /// The state folder.
        path: PathBuf,
        /// The operating system's message.
        what: String,
    },
    /// The node has no such feature configured (e.g. a blocklist reload
    /// without a blocklist file, a config reload without a config file).
    #[error("{what}")]
    NotConfigured {
        /// What is missing and which setting provides it.
        what: String,
    },
    /// The node is stopping (or stopped): nothing more is done.
    #[error("the node is stopping")]
    Stopping,
    /// The control core did not answer in time.
    #[error("the node did not answer within {waited:?}; it may be overloaded: retry later")]
    Timeout {
        /// How long the call waited.
        waited: Duration,
    },
    /// Not built yet.
    #[error("{what} is not supported yet")]
    NotYet {
        /// The feature.
        what: &'static str,
    },
}

/// Classes of [`NodeError`], for mapping to protocol status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named thing does not exist (HTTP 404).
    NotFound,
    /// It conflicts with what is there (HTTP 409).
    Conflict,
    /// The request is wrong (HTTP 400 / 422).
    BadRequest,
    /// The node cannot do it now (stopping, overloaded; HTTP 503).
    Unavailable,
    /// The node failed doing it (HTTP 500).
    Internal,
    /// Not configured or not built (HTTP 501).
    NotImplemented,
}

impl NodeError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            NodeError::NotFound { .. } => ErrorKind::NotFound,
            NodeError::Duplicate { .. } => ErrorKind::Conflict,
            NodeError::BadTorrent { .. } | NodeError::BadRequest { .. } | NodeError::Io { .. } => {
                ErrorKind::BadRequest
            }
            NodeError::State { .. } => ErrorKind::Internal,
            NodeError::Stopping | NodeError::Timeout { .. } => ErrorKind::Unavailable,
            NodeError::NotConfigured { .. } | NodeError::NotYet { .. } => ErrorKind::NotImplemented,
        }
    }
}

/// A handle on a running seed; cheap to clone, usable from any thread.
/// Get one from [`crate::Seeder::node`].
#[derive(Clone, Debug)]
pub struct Node {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addrs: Vec<SocketAddr>,
    shards: usize,
    latest: Arc<Mutex<Option<StatusReport>>>,
}

impl Node {
    pub(crate) fn new(
        addrs: Vec<SocketAddr>,
        shards: usize,
        latest: Arc<Mutex<Option<StatusReport>>>,
    ) -> Node {
        Node {
            inner: Arc::new(Inner {
                addrs,
                shards,
                latest,
            }),
        }
    }

    /// The addresses peers connect to.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.inner.addrs
    }

    /// The number of serving shards.
    pub fn shards(&self) -> usize {
        self.inner.shards
    }

    /// The node's counters as of the last second: peers, rates, per shard
    /// and per torrent, trackers, DHT. [`NodeError::Timeout`] in the first
    /// second after start.
    pub fn status(&self) -> Result<StatusReport, NodeError> {
        self.inner
            .latest
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .ok_or(NodeError::Timeout {
                waited: Duration::ZERO,
            })
    }

    /// Every torrent of the node, in the order they were added.
    pub fn torrents(&self) -> Result<Vec<TorrentInfo>, NodeError> {
        Err(NodeError::NotYet {
            what: "listing torrents",
        })
    }

    /// One torrent.
    pub fn torrent(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "showing a torrent",
        })
    }

    /// Adds a torrent. Returns once it is registered and, when the node
    /// has a state folder, written there (a `kill -9` after this returns
    /// does not lose it). Its data is then loaded and, without valid resume
    /// data, verified on helper threads: the torrent shows
    /// [`TorrentState::Checking`] with a progress figure until it seeds.
    pub fn add(&self, request: AddRequest) -> Result<TorrentInfo, NodeError> {
        let _ = request;
        Err(NodeError::NotYet {
            what: "adding torrents",
        })
    }

    /// Removes a torrent: its peers are closed, its trackers told
    /// `stopped`, the DHT stops announcing it, the state folder forgets
    /// it. Its data and `.torrent` files are never deleted.
    pub fn remove(&self, key: TorrentKey) -> Result<(), NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "removing torrents",
        })
    }

    /// Pauses a torrent: like a removal for its peers, trackers and the
    /// DHT, but it stays listed (and paused across restarts). Pausing a
    /// paused torrent is not an error.
    pub fn pause(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "pausing torrents",
        })
    }

    /// Resumes a paused torrent (or retries one in [`TorrentState::Error`]).
    pub fn resume(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "resuming torrents",
        })
    }

    /// Verifies a torrent's data again from scratch: it stops being served
    /// while its pieces are hashed, then serves the good ones.
    pub fn recheck(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "re-checking torrents",
        })
    }

    /// Sets a torrent's own upload limit in bytes per second (0: none).
    pub fn set_torrent_limit(
        &self,
        key: TorrentKey,
        upload_limit: u64,
    ) -> Result<TorrentInfo, NodeError> {
        let _ = (key, upload_limit);
        Err(NodeError::NotYet {
            what: "per-torrent limits",
        })
    }

    /// The peers of a torrent, as every shard sees them now.
    pub fn peers(&self, key: TorrentKey) -> Result<Vec<PeerInfo>, NodeError> {
        let _ = key;
        Err(NodeError::NotYet {
            what: "listing peers",
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> Result<Limits, NodeError> {
        Err(NodeError::NotYet { what: "limits" })
    }

    /// Changes limits at run time; returns those now in force.
    pub fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, NodeError> {
        let _ = update;
        Err(NodeError::NotYet {
            what: "changing limits",
        })
    }

    /// The IP blocklist in force.
    pub fn blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Err(NodeError::NotYet { what: "blocklists" })
    }

    /// Reads the blocklist file again (as SIGHUP does) and applies it:
    /// new connections from blocked addresses are refused before their
    /// handshake, connected peers now blocked are closed. A file that
    /// cannot be read leaves the old list in force.
    pub fn reload_blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Err(NodeError::NotYet { what: "blocklists" })
    }

    /// Reads the configuration file again (as SIGHUP does): settings that
    /// can change live are applied, the others are named in the report
    /// (and the log) as needing a restart.
    pub fn reload_config(&self) -> Result<ReloadReport, NodeError> {
        Err(NodeError::NotYet {
            what: "reloading the configuration",
        })
    }
}
