//! seedcore's runtime: the shards that serve peers, and the control thread.
//!
//! ```text
//!  Seeder::start(config)
//!    ├─ torrents: read or make each .torrent, map the data, verify it
//!    │            (or trust a current resume file)
//!    ├─ listeners: one SO_REUSEPORT socket per shard and address
//!    ├─ shards 0..N: one glommio executor each, pinned to core i % cores;
//!    │            accept, run peer sessions, send blocks from the page cache
//!    └─ control: one pinned thread: tracker announces (HTTP on helper
//!               threads, UDP), the DHT node, dials (--peer addresses and
//!               peers found by trackers, DHT, PEX), counters and status
//!               line, PEX lists, file watching, stop on SIGINT/SIGTERM
//! ```
//!
//! The peer protocol itself is the sans-IO `seedcore_protocol::session`;
//! this crate only moves its bytes, owns the sockets and the clocks, and
//! decides nothing a peer could influence beyond its own connection.
//!
//! ```no_run
//! use seedcore_runtime::{Config, Seeder, TorrentSpec};
//! # fn main() -> Result<(), seedcore_runtime::RuntimeError> {
//! let config = Config {
//!     torrents: vec![TorrentSpec { path: "/srv/data.torrent".into(), data: None }],
//!     ..Config::default()
//! };
//! let seeder = Seeder::start(config)?;
//! seeder.stop_on_signals()?;
//! seeder.wait();
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

pub mod blocklist;
pub mod config;
pub mod conflicts;
mod control;
mod error;
mod fsutil;
mod guard;
mod ids;
pub mod limits;
mod listen;
mod mailbox;
mod msg;
pub mod node;
mod registry;
mod shard;
mod sighup;
mod signals;
mod state;
pub mod sys;
pub mod torrents;
mod watchdir;

pub use config::{Bytes, Config, SendPath, Span, TorrentSpec};
pub use control::status::{
    AnnounceCounters, DhtStatus, FileCheckCounters, LiveStatus, OutgoingStatus, PeerCounters,
    ScrapeReport, ShardStatus, StatusReport, TorrentStatus, TrackerReport,
};
pub use error::RuntimeError;
pub use guard::GuardCounters;
pub use node::{
    AddRequest, AddSource, BlocklistInfo, ErrorKind, Limits, LimitsUpdate, Node, NodeError,
    PeerInfo, ReloadReport, TorrentInfo, TorrentKey, TorrentSource, TorrentState, VerifyProgress,
};
pub use signals::{ReloadHandle, Signals, StopHandle};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seedcore_protocol::session::SessionConfig;

/// How long to wait for every shard to report that it runs.
const START_WAIT: Duration = Duration::from_secs(30);

/// What a started seed says about one of its torrents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorrentSummary {
    /// The torrent's name.
    pub name: String,
    /// The `.torrent` file.
    pub torrent_path: PathBuf,
    /// Where its data is.
    pub root: PathBuf,
    /// Its info-hash (hex).
    pub info_hash: String,
    /// Its magnet link.
    pub magnet: String,
    /// Pieces verified and served.
    pub pieces: usize,
    /// Pieces in the torrent.
    pub piece_count: usize,
    /// The `.torrent` was made by this run from a file or folder.
    pub created: bool,
    /// Verification was skipped thanks to a current resume file.
    pub from_resume: bool,
}

/// A torrent of the configuration that is not being seeded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedTorrent {
    /// The path as configured.
    pub path: PathBuf,
    /// Why it could not be loaded.
    pub error: String,
}

/// A running seed.
#[derive(Debug)]
pub struct Seeder {
    addrs: Vec<SocketAddr>,
    signals: Signals,
    stop: Arc<AtomicBool>,
    control: Option<JoinHandle<()>>,
    torrents: Vec<TorrentSummary>,
    failed: Vec<FailedTorrent>,
    shards: usize,
    latest: Arc<Mutex<Option<StatusReport>>>,
    node: Node,
    watcher: Option<watchdir::WatchDir>,
}

impl Seeder {
    /// Loads and verifies every torrent of `config`, binds the listeners,
    /// starts the shards and the control thread. Returns once every shard
    /// accepts connections. A torrent that cannot be loaded is logged and
    /// skipped (see [`Seeder::failed`]) unless `config.strict` is set; the
    /// start fails when none can be (unless the node has a state folder or
    /// a watch folder: a live node may start empty).
    pub fn start(config: Config) -> Result<Seeder, RuntimeError> {
        Seeder::start_with(config, Signals::new())
    }

    /// [`Seeder::start`] with flags made (and signal handlers installed)
    /// beforehand, so that a stop asked for during a long start-up ends it
    /// early with [`RuntimeError::Stopped`], and the running seed then
    /// answers the same flags.
    pub fn start_with(mut config: Config, signals: Signals) -> Result<Seeder, RuntimeError> {
        config.validate()?;
        // As given (for reloads to compare with); `config` itself gets the
        // state folder's resume folder as its default below.
        let given = config.clone();
        let state = match &config.state_dir {
            Some(d) => Some(Arc::new(state::StateDir::open(d)?)),
            None => None,
        };
        if let (None, Some(s)) = (&config.resume_dir, &state) {
            config.resume_dir = Some(s.resume_dir());
        }
        let blocklist = match &config.blocklist {
            Some(p) => {
                Arc::new(
                    blocklist::Blocklist::load(p).map_err(|e| RuntimeError::Config {
                        what: format!("blocklist: {e} (fix the file or leave `blocklist` unset)"),
                    })?,
                )
            }
            None => Arc::new(blocklist::Blocklist::default()),
        };
        let live_node = state.is_some() || config.watch.is_some();
        let (loaded, failed) = if config.torrents.is_empty() && live_node {
            (Vec::new(), Vec::new())
        } else {
            let report = torrents::load_all(&config, &signals.stop)?;
            let failed: Vec<FailedTorrent> = report
                .failed
                .iter()
                .map(|f| FailedTorrent {
                    path: f.spec.path.clone(),
                    error: f.error.to_string(),
                })
                .collect();
            (report.loaded, failed)
        };
        if signals.stop_requested() {
            return Err(RuntimeError::Stopped);
        }
        let facts: Vec<conflicts::TorrentFacts> = loaded
            .iter()
            .map(|t| conflicts::TorrentFacts {
                private: t.meta.info.private,
                has_trackers: t.meta.announce.is_some()
                    || t.meta.announce_list.iter().any(|tier| !tier.is_empty()),
            })
            .collect();
        for f in conflicts::check_torrents(&config, &facts) {
            tracing::warn!("{f}");
        }
        let mut ids = ids::Ids::default();
        let loaded: Vec<(seedcore_protocol::session::TorrentId, torrents::Loaded)> = loaded
            .into_iter()
            .map(|t| ids.allocate().map(|id| (id, t)))
            .collect::<Option<_>>()
            .ok_or_else(|| RuntimeError::Config {
                what: format!("more than {} torrents", 1u64 << ids::SLOT_BITS),
            })?;
        let global = Arc::new(limits::SharedBucket::new(config.upload_limit.0));
        let shards = config.shard_count();
        let cpus = sys::online_cpus();
        let default_bind = config.bind == Config::default().bind;
        let bound = listen::bind(&config.bind, config.port, shards, default_bind)?;
        let port = bound.addrs.first().map_or(config.port, SocketAddr::port);
        // The DHT's socket first: its port goes into every handshake.
        let net = control::net::bind(&config, port)?;

        let session = Arc::new(session_config(&config, port, net.dht_port()));
        let slot_shares = control::live::even_shares(config.upload_slots, shards);
        // One registry for all shards: max_peers and the per-IP limits hold
        // in all, whichever shard the kernel hands a connection to.
        let registry = Arc::new(registry::PeerRegistry::new(registry::RegistryLimits {
            max_peers: config.max_peers as usize,
            per_ip: config.max_connections_per_ip,
            per_ip_torrent: config.max_peers_per_ip,
        }));
        let io_memory = usize::try_from(config.io_memory.0).unwrap_or(usize::MAX);
        warn_memlock(io_memory, shards);

        let (to_control, from_shards) = crossbeam_channel::unbounded();
        let mut senders = Vec::with_capacity(shards);
        let mut threads = Vec::with_capacity(shards);
        for (index, listeners) in bound.sockets.into_iter().enumerate() {
            let (tx, inbox) = mailbox::mailbox();
            let cpu = cpus.get(index % cpus.len().max(1)).copied().unwrap_or(0);
            let spec = shard::ShardSpec {
                index,
                cpu,
                io_memory,
                listeners,
                torrents: loaded
                    .iter()
                    .map(|(id, t)| (*id, Arc::clone(&t.ctx), Arc::clone(&t.data), t.have.clone()))
                    .collect(),
                upload_limit: Arc::clone(&global),
                blocklist: Arc::clone(&blocklist),
                session: Arc::clone(&session),
                send_path: config.send_path,
                notsent_lowat: u32::try_from(config.notsent_lowat.0).unwrap_or(u32::MAX),
                partial_budget: usize::try_from(config.partial_budget.0).unwrap_or(usize::MAX),
                registry: Arc::clone(&registry),
                handshake_timeout_crowded: config.handshake_timeout_crowded.0,
                slots: slot_shares.get(index).copied().flatten(),
                choke_interval: config.choke_interval.0,
                inbox,
                to_control: to_control.clone(),
            };
            match shard::spawn(spec) {
                Ok(t) => {
                    senders.push(tx);
                    threads.push(t);
                }
                Err(e) => {
                    stop_started(&senders, threads);
                    return Err(e);
                }
            }
        }
        drop(to_control);
        if let Err(e) = wait_ready(&from_shards, shards) {
            stop_started(&senders, threads);
            return Err(e);
        }

        let summaries = loaded.iter().map(|(_, t)| summary(t)).collect();
        let (commands_tx, commands) = crossbeam_channel::unbounded();
        let (reloads_tx, reloads) = crossbeam_channel::unbounded();
        let waker = Arc::clone(&net.waker);
        let stop = Arc::clone(&signals.stop);
        let latest = Arc::new(Mutex::new(None));
        // The control thread takes the core after the shards (with the
        // default shard count, the one core left free for it).
        let control_cpu = (shards < cpus.len())
            .then(|| cpus.get(shards).copied())
            .flatten();
        let control = control::Control {
            config: given,
            shards: senders,
            threads,
            from_shards,
            stop: Arc::clone(&stop),
            reload: Arc::clone(&signals.reload),
            latest: Arc::clone(&latest),
            peer_id: session.peer_id,
            port,
            listen: bound.addrs.clone(),
            net,
            cpu: control_cpu,
            commands,
            reloads: reloads_tx,
            live: control::LiveStart {
                ids,
                state,
                global,
                blocklist,
            },
        };
        let watch = config.watch.clone().map(|w| {
            let data = config.watch_data.clone().unwrap_or_else(|| w.clone());
            (w, data)
        });
        let handle = std::thread::Builder::new()
            .name("seedcore-control".into())
            .spawn(move || {
                if let Some(cpu) = control_cpu {
                    let _ = sys::pin_current_thread(cpu);
                }
                control.run(loaded);
            })
            .map_err(|source| RuntimeError::Thread {
                name: "control".into(),
                source,
            })?;
        for a in &bound.addrs {
            tracing::debug!(
                "listening on {a} with {shards} shards ({} send path)",
                config.send_path
            );
        }
        let node = Node::new(
            bound.addrs.clone(),
            shards,
            Arc::clone(&latest),
            commands_tx,
            waker,
            config.verify_threads,
        );
        if let Err(e) = sighup::start(node.clone(), reloads) {
            tracing::warn!("{e}: SIGHUP will not reload anything");
        }
        let watcher = match watch {
            Some((dir, data)) => match watchdir::start(node.clone(), dir.clone(), data) {
                Ok(w) => Some(w),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = handle.join();
                    return Err(RuntimeError::Config {
                        what: format!("watch folder {}: {e}", dir.display()),
                    });
                }
            },
            None => None,
        };
        Ok(Seeder {
            watcher,
            node,
            addrs: bound.addrs,
            signals,
            stop,
            control: Some(handle),
            torrents: summaries,
            failed,
            shards,
            latest,
        })
    }

    /// The addresses peers can connect to (with the real port when 0 was
    /// configured).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addrs.first().map_or(0, SocketAddr::port)
    }

    /// The number of shards running.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// The torrents being seeded.
    pub fn torrents(&self) -> &[TorrentSummary] {
        &self.torrents
    }

    /// A handle on the live node: add, remove, pause torrents, read their
    /// state and peers, change limits (see [`Node`]).
    pub fn node(&self) -> Node {
        self.node.clone()
    }

    /// The configured torrents that are not being seeded, with why.
    pub fn failed(&self) -> &[FailedTorrent] {
        &self.failed
    }

    /// A handle to stop the seed from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.signals.stop_handle()
    }

    /// A handle to ask the seed to reload (what SIGHUP does).
    pub fn reload_handle(&self) -> ReloadHandle {
        self.signals.reload_handle()
    }

    /// Counters as of the last second (peers, bytes, per shard and torrent);
    /// `None` in the first second.
    pub fn status(&self) -> Option<StatusReport> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }

    /// Stops the seed on SIGINT or SIGTERM (a second SIGINT or SIGTERM
    /// while stopping ends the process at once, with exit status 1), and
    /// turns SIGHUP into a reload request. [`Signals::install`] before
    /// [`Seeder::start_with`] covers the start-up too.
    pub fn stop_on_signals(&self) -> Result<(), RuntimeError> {
        self.signals.install()
    }

    /// Waits until the seed has stopped (see [`StopHandle::stop`]) and every
    /// thread has ended.
    pub fn wait(mut self) {
        if let Some(h) = self.control.take() {
            let _ = h.join();
        }
        self.watcher.take();
    }

    /// Stops the seed and waits for it.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wait();
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        // The watch folder first: it adds and removes through the node.
        self.watcher.take();
        if let Some(h) = self.control.take() {
            self.stop.store(true, Ordering::Relaxed);
            let _ = h.join();
        }
    }
}

fn summary(t: &torrents::Loaded) -> TorrentSummary {
    TorrentSummary {
        name: t.meta.info.name.clone(),
        torrent_path: t.torrent_path.clone(),
        root: t.root.clone(),
        info_hash: t.hash_hex(),
        magnet: t.magnet(),
        pieces: t.have_count(),
        piece_count: t.have.len(),
        created: t.created,
        from_resume: t.from_resume,
    }
}

/// The session settings from the configuration (`dht_port`: the DHT
/// node's UDP port when it runs; `None` leaves the DHT bit off).
fn session_config(config: &Config, port: u16, dht_port: Option<u16>) -> SessionConfig {
    let mut s = SessionConfig::new(SessionConfig::peer_id_from(random12()));
    s.listen_port = Some(port);
    s.dht_port = dht_port;
    s.reqq = config.reqq;
    s.max_refused_requests = config.reqq.saturating_mul(10);
    s.peer_budget = usize::try_from(config.peer_budget.0).unwrap_or(usize::MAX);
    s.slow_frame_timeout = config.slow_frame_timeout.0;
    s.handshake_timeout = config.handshake_timeout.0;
    s.idle_timeout = config.idle_timeout.0;
    s.keepalive_interval = config.keepalive_interval.0;
    s.send_stall_timeout = (!config.stall_timeout.0.is_zero()).then_some(config.stall_timeout.0);
    s
}

/// 12 random bytes for the peer id (from the OS; the clock and pid if
/// that fails: a peer id need not be secret, only unlikely to collide).
fn random12() -> [u8; 12] {
    use std::io::Read;
    let mut b = [0u8; 12];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mixed = t ^ (u128::from(std::process::id()) << 64);
        for (o, v) in b.iter_mut().zip(mixed.to_le_bytes()) {
            *o = v;
        }
    }
    // Printable, as most clients' ids are.
    for x in &mut b {
        *x = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(*x % 62) as usize];
    }
    b
}

fn warn_memlock(io_memory: usize, shards: usize) {
    let need = (io_memory.max(64 << 10) as u64)
        .saturating_mul(3)
        .saturating_mul(shards as u64);
    if let Some(limit) = sys::memlock_limit() {
        if need > limit {
            tracing::warn!(
                "{shards} shards x 3 x io_memory {} KiB = {} KiB of locked memory, over `ulimit -l` ({} KiB): \
                 io_uring buffer registration will fail on some shards (harmless for serving; \
                 lower --io-memory or raise the limit to silence this)",
                io_memory >> 10,
                need >> 10,
                limit >> 10
            );
        }
    }
}

fn wait_ready(
    from_shards: &crossbeam_channel::Receiver<msg::FromShard>,
    shards: usize,
) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + START_WAIT;
    let mut ready = 0;
    while ready < shards {
        let left = deadline.saturating_duration_since(Instant::now());
        match from_shards.recv_timeout(left) {
            Ok(msg::FromShard::Ready { shard }) => {
                tracing::debug!("shard {shard} is running");
                ready += 1;
            }
            Ok(msg::FromShard::Failed { shard, what }) => {
                return Err(RuntimeError::Shard { shard, what });
            }
            Ok(_) => {}
            Err(_) => {
                return Err(RuntimeError::Shard {
                    shard: ready,
                    what: format!("not running after {START_WAIT:?}"),
                })
            }
        }
    }
    Ok(())
}

fn stop_started(senders: &[mailbox::MailSender<msg::ToShard>], threads: Vec<JoinHandle<()>>) {
    for s in senders {
        s.send(msg::ToShard::Stop);
    }
    for t in threads {
        let _ = t.join();
    }
}
