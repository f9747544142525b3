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
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use seedcore_protocol::metainfo::Metainfo;

use crate::control::live::{Command, Prepared, Reply};
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

/// How long [`Node::peers`] waits for the shards' answers.
const PEERS_WAIT: Duration = Duration::from_secs(5);

/// Rebuilds the configuration from its sources (file, environment,
/// flags), for [`Node::reload_config`]; set by the binary.
pub type ConfigLoader = Arc<dyn Fn() -> Result<crate::Config, String> + Send + Sync>;

/// A handle on a running seed; cheap to clone, usable from any thread.
/// Get one from [`crate::Seeder::node`].
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("addrs", &self.inner.addrs)
            .field("shards", &self.inner.shards)
            .finish_non_exhaustive()
    }
}

struct Inner {
    addrs: Vec<SocketAddr>,
    shards: usize,
    latest: Arc<Mutex<Option<StatusReport>>>,
    commands: Sender<Command>,
    waker: Arc<mio::Waker>,
    verify_threads: usize,
    config_loader: Mutex<Option<ConfigLoader>>,
}

impl Node {
    pub(crate) fn new(
        addrs: Vec<SocketAddr>,
        shards: usize,
        latest: Arc<Mutex<Option<StatusReport>>>,
        commands: Sender<Command>,
        waker: Arc<mio::Waker>,
        verify_threads: usize,
    ) -> Node {
        Node {
            inner: Arc::new(Inner {
                addrs,
                shards,
                latest,
                commands,
                waker,
                verify_threads,
                config_loader: Mutex::new(None),
            }),
        }
    }

    /// Sends a command to the control core and waits for its answer.
    fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, NodeError> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.inner
            .commands
            .send(make(tx))
            .map_err(|_| NodeError::Stopping)?;
        let _ = self.inner.waker.wake();
        match rx.recv_timeout(COMMAND_WAIT) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(NodeError::Timeout {
                waited: COMMAND_WAIT,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(NodeError::Stopping),
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
    /// and per torrent, trackers, DHT, the live node's counts.
    /// [`NodeError::Timeout`] in the first second after start.
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
        self.call(Command::List)
    }

    /// One torrent.
    pub fn torrent(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::Get(key, r))
    }

    /// Adds a torrent. Returns once it is registered and, when the node
    /// has a state folder, written there (a `kill -9` after this returns
    /// does not lose it). Its data is then loaded and, without valid resume
    /// data, verified on helper threads: the torrent shows
    /// [`TorrentState::Checking`] with a progress figure until it seeds.
    ///
    /// The `.torrent` is read and parsed on the calling thread, and for
    /// [`AddSource::Make`] all the data is hashed there too.
    pub fn add(&self, request: AddRequest) -> Result<TorrentInfo, NodeError> {
        let p = self.prepare(request)?;
        self.call(|r| Command::Add(Box::new(p), r))
    }

    /// Registers a prepared torrent (the watch folder's way in).
    pub(crate) fn add_prepared(&self, p: Prepared) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::Add(Box::new(p), r))
    }

    /// Torrents added from the watch folder: file and key.
    pub(crate) fn watched(&self) -> Result<Vec<(PathBuf, TorrentKey)>, NodeError> {
        self.call(Command::Watched)
    }

    fn prepare(&self, request: AddRequest) -> Result<Prepared, NodeError> {
        let AddRequest {
            source,
            data,
            paused,
            upload_limit,
        } = request;
        let (bytes, meta, root, torrent_path, made_stamps) = match source {
            AddSource::TorrentFile(path) => {
                let bytes = read_torrent_file(&path)?;
                let meta = parse_torrent(&bytes)?;
                let root = match data {
                    Some(d) => d,
                    None => path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                };
                (bytes, meta, root, Some(path), None)
            }
            AddSource::TorrentBytes(bytes) => {
                if bytes.len() as u64 > MAX_TORRENT_BYTES {
                    return Err(NodeError::BadTorrent {
                        what: format!(
                            "{} bytes, over the {MAX_TORRENT_BYTES}-byte limit for a .torrent",
                            bytes.len()
                        ),
                    });
                }
                let meta = parse_torrent(&bytes)?;
                let root = data.ok_or_else(|| NodeError::BadRequest {
                    what: "an uploaded .torrent needs its data folder (`data`)".into(),
                })?;
                (bytes, meta, root, None, None)
            }
            AddSource::Make(path) => {
                let made = crate::torrents::make_torrent(&path, self.inner.verify_threads)
                    .map_err(|e| NodeError::Io {
                        op: "make a torrent for",
                        path: path.clone(),
                        what: e.to_string(),
                    })?;
                let bytes = read_torrent_file(&made.torrent_path)?;
                let stamps = made
                    .stamps
                    .iter()
                    .any(Option::is_some)
                    .then_some(made.stamps);
                (bytes, made.meta, made.root, Some(made.torrent_path), stamps)
            }
        };
        let root = std::path::absolute(&root).unwrap_or(root);
        match std::fs::metadata(&root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(NodeError::Io {
                    op: "use as data folder",
                    path: root,
                    what: "not a folder".into(),
                })
            }
            Err(e) => {
                return Err(NodeError::Io {
                    op: "use as data folder",
                    path: root,
                    what: e.to_string(),
                })
            }
        }
        Ok(Prepared {
            key: TorrentKey(meta.info_hashes.wire_hash()),
            meta: Arc::new(meta),
            bytes: Some(bytes.into()),
            root,
            torrent_path: torrent_path.map(|p| std::path::absolute(&p).unwrap_or(p)),
            source: TorrentSource::Api,
            paused,
            upload_limit,
            watch_file: None,
            made_stamps,
        })
    }

    /// Removes a torrent: its peers are closed, its trackers told
    /// `stopped`, the DHT stops announcing it, the state folder forgets
    /// it. Its data and `.torrent` files are never deleted. A torrent given
    /// on the command line comes back at the next start.
    pub fn remove(&self, key: TorrentKey) -> Result<(), NodeError> {
        self.call(|r| Command::Remove(key, r))
    }

    /// Pauses a torrent: like a removal for its peers, trackers and the
    /// DHT, but it stays listed (and paused across restarts). Pausing a
    /// paused torrent is not an error.
    pub fn pause(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::Pause(key, r))
    }

    /// Resumes a paused torrent (or retries one in [`TorrentState::Error`]).
    pub fn resume(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::Resume(key, r))
    }

    /// Verifies a torrent's data again from scratch: it stops being served
    /// while its pieces are hashed, then serves the good ones.
    pub fn recheck(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::Recheck(key, r))
    }

    /// Sets a torrent's own upload limit in bytes per second (0: none).
    pub fn set_torrent_limit(
        &self,
        key: TorrentKey,
        upload_limit: u64,
    ) -> Result<TorrentInfo, NodeError> {
        self.call(|r| Command::TorrentLimit(key, upload_limit, r))
    }

    /// The peers of a torrent, as every shard sees them now (empty for a
    /// torrent not being served).
    pub fn peers(&self, key: TorrentKey) -> Result<Vec<PeerInfo>, NodeError> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let n = self.call(|r| Command::Peers(key, tx, r))?;
        let deadline = std::time::Instant::now() + PEERS_WAIT;
        let mut out = Vec::new();
        for _ in 0..n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok((_, peers)) => out.extend(peers),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(NodeError::Timeout { waited: PEERS_WAIT })
                }
                Err(RecvTimeoutError::Disconnected) => return Err(NodeError::Stopping),
            }
        }
        out.sort_by_key(|p| p.addr);
        Ok(out)
    }

    /// The limits in force.
    pub fn limits(&self) -> Result<Limits, NodeError> {
        self.call(Command::Limits)
    }

    /// Changes limits at run time; returns those now in force.
    /// `max_peers` cannot change at run time yet ([`NodeError::NotYet`]).
    pub fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, NodeError> {
        self.call(|r| Command::SetLimits(update, r))
    }

    /// The IP blocklist in force.
    pub fn blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        self.call(Command::Blocklist).map(|(info, _)| info)
    }

    /// Reads the blocklist file again (as SIGHUP does) and applies it:
    /// new connections from blocked addresses are refused before their
    /// handshake, connected peers now blocked are closed. Returns once
    /// every shard has it in force. A file that cannot be read leaves the
    /// old list in force.
    pub fn reload_blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        let (_, path) = self.call(Command::Blocklist)?;
        let path = path.ok_or_else(|| NodeError::NotConfigured {
            what: "no blocklist file is configured (set `blocklist` in the configuration, or --blocklist)"
                .into(),
        })?;
        let list = crate::blocklist::Blocklist::load(&path).map_err(|e| NodeError::Io {
            op: "load the blocklist",
            path: path.clone(),
            what: e.to_string(),
        })?;
        let (tx, rx) = crossbeam_channel::unbounded();
        let (info, n) = self.call(|r| Command::SetBlocklist(Arc::new(list), tx, r))?;
        // In force on every shard when this returns.
        let deadline = std::time::Instant::now() + PEERS_WAIT;
        for _ in 0..n {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(NodeError::Timeout { waited: PEERS_WAIT })
                }
                Err(RecvTimeoutError::Disconnected) => return Err(NodeError::Stopping),
            }
        }
        Ok(info)
    }

    /// Sets how [`Node::reload_config`] rebuilds the configuration (the
    /// binary layers file, environment and flags the same way as at start).
    pub fn set_config_loader(&self, loader: ConfigLoader) {
        if let Ok(mut l) = self.inner.config_loader.lock() {
            *l = Some(loader);
        }
    }

    /// Reads the configuration again (as SIGHUP does): settings that can
    /// change live are applied, the others are named in the report (and
    /// the log) as needing a restart. The blocklist file is re-read too.
    pub fn reload_config(&self) -> Result<ReloadReport, NodeError> {
        let loader = self
            .inner
            .config_loader
            .lock()
            .ok()
            .and_then(|l| l.clone())
            .ok_or_else(|| NodeError::NotConfigured {
                what: "this node was not started from a configuration it can read again".into(),
            })?;
        let new = loader().map_err(|what| NodeError::BadRequest {
            what: format!("the configuration does not load: {what}; nothing was changed"),
        })?;
        new.validate().map_err(|e| NodeError::BadRequest {
            what: format!("{e}; nothing was changed"),
        })?;
        let mut report = self.call(|r| Command::Reload(Box::new(new), r))?;
        match self.reload_blocklist() {
            Ok(_) => report.applied.push("blocklist (re-read)".into()),
            Err(NodeError::NotConfigured { .. }) => {}
            Err(e) => {
                tracing::warn!("blocklist not reloaded: {e}");
                report.needs_restart.push(format!("blocklist: {e}"));
            }
        }
        report.path = None;
        Ok(report)
    }
}

/// The largest `.torrent` accepted.
const MAX_TORRENT_BYTES: u64 = 64 << 20;

fn read_torrent_file(path: &Path) -> Result<Vec<u8>, NodeError> {
    crate::fsutil::read_bounded(path, MAX_TORRENT_BYTES).map_err(|e| NodeError::Io {
        op: "read",
        path: path.to_path_buf(),
        what: e.to_string(),
    })
}

pub(crate) fn parse_torrent(bytes: &[u8]) -> Result<Metainfo, NodeError> {
    Metainfo::from_bytes(bytes).map_err(|e| NodeError::BadTorrent {
        what: e.to_string(),
    })
}
