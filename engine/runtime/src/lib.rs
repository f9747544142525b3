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

pub mod config;
mod control;
mod error;
mod listen;
mod mailbox;
mod msg;
mod shard;
mod signals;
pub mod sys;
pub mod torrents;

pub use config::{Bytes, Config, SendPath, Span, TorrentSpec};
pub use control::status::{
    DhtStatus, OutgoingStatus, ScrapeReport, ShardStatus, StatusReport, TorrentStatus,
    TrackerReport,
};
pub use error::RuntimeError;
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
}

impl Seeder {
    /// Loads and verifies every torrent of `config`, binds the listeners,
    /// starts the shards and the control thread. Returns once every shard
    /// accepts connections. A torrent that cannot be loaded is logged and
    /// skipped (see [`Seeder::failed`]) unless `config.strict` is set; the
    /// start fails when none can be.
    pub fn start(config: Config) -> Result<Seeder, RuntimeError> {
        Seeder::start_with(config, Signals::new())
    }

    /// [`Seeder::start`] with flags made (and signal handlers installed)
    /// beforehand, so that a stop asked for during a long start-up ends it
    /// early with [`RuntimeError::Stopped`], and the running seed then
    /// answers the same flags.
    pub fn start_with(config: Config, signals: Signals) -> Result<Seeder, RuntimeError> {
        config.validate()?;
        let report = torrents::load_all(&config, &signals.stop)?;
        let failed: Vec<FailedTorrent> = report
            .failed
            .iter()
            .map(|f| FailedTorrent {
                path: f.spec.path.clone(),
                error: f.error.to_string(),
            })
            .collect();
        let loaded = report.loaded;
        if signals.stop_requested() {
            return Err(RuntimeError::Stopped);
        }
        let shards = config.shard_count();
        let cpus = sys::online_cpus();
        let default_bind = config.bind == Config::default().bind;
        let bound = listen::bind(&config.bind, config.port, shards, default_bind)?;
        let port = bound.addrs.first().map_or(config.port, SocketAddr::port);
        // The DHT's socket first: its port goes into every handshake.
        let net = control::net::bind(&config, port)?;

        let session = Arc::new(session_config(&config, port, net.dht_port()));
        let slots = (config.upload_slots > 0)
            .then(|| (config.upload_slots as usize).div_ceil(shards).max(1));
        let max_conns = (config.max_peers as usize).div_ceil(shards).max(1);
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
                    .map(|t| (Arc::clone(&t.ctx), Arc::clone(&t.data), t.have.clone()))
                    .collect(),
                session: Arc::clone(&session),
                send_path: config.send_path,
                max_conns,
                slots,
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

        let summaries = loaded.iter().map(summary).collect();
        let stop = Arc::clone(&signals.stop);
        let latest = Arc::new(Mutex::new(None));
        // The control thread takes the core after the shards (with the
        // default shard count, the one core left free for it).
        let control_cpu = (shards < cpus.len())
            .then(|| cpus.get(shards).copied())
            .flatten();
        let control = control::Control {
            config: config.clone(),
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
        };
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
        Ok(Seeder {
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
    }

    /// Stops the seed and waits for it.
    pub fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wait();
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
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
