//! `raw-seed`: the simplest seeder that can serve a load run, to measure
//! the loopback ceiling a real seeder is compared against.
//!
//! It does nothing but the wire protocol's minimum (see [`conn`](self)):
//! no choking, no rate limits, no piece checks, no peer limits. Each
//! thread owns an `SO_REUSEPORT` listener on the same address, so the
//! kernel spreads connections over threads, and an epoll loop over its
//! connections. It stops when the `stop` flag is set (the binary sets it on
//! SIGINT/SIGTERM) or at `max_seconds`; every wait is bounded by
//! [`POLL_INTERVAL`], so it notices within that.

mod conn;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use seedcore_protocol::wire::Limits;
use seedcore_storage::{FileState, Storage, StorageError};
use serde::Serialize;

use conn::{Close, Flushed, SeedConn};
pub use conn::{BATCH, MAX_QUEUE};

use crate::net::{self, NetError};
use crate::torrent::Torrent;

/// The longest the seeder waits before checking its stop conditions.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
const LISTENER: Token = Token(usize::MAX);
/// Connections accepted per listener event before serving others.
const ACCEPTS_PER_TURN: usize = 64;

/// Settings of a raw seeder.
#[derive(Clone, Debug)]
pub struct RawSeedConfig {
    /// The torrent to serve.
    pub torrent: Arc<Torrent>,
    /// Folder the torrent's files are in.
    pub data: PathBuf,
    /// Listen address (port 0: any free port).
    pub listen: SocketAddr,
    /// Threads (0: one per core).
    pub threads: usize,
    /// Stop after this long.
    pub max_time: Option<Duration>,
    /// Permit a non-loopback listen address.
    pub allow_remote: bool,
}

/// Why the seeder could not start.
#[derive(Debug, thiserror::Error)]
pub enum RawSeedError {
    /// The listen address is not allowed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The data could not be opened.
    #[error("cannot open the torrent's data: {0}")]
    Storage(#[from] StorageError),
    /// A file is missing or has the wrong size.
    #[error(
        "data file {path} is {state:?}; point --data at the folder holding the torrent's files"
    )]
    Data {
        /// The file.
        path: String,
        /// Its state.
        state: FileState,
    },
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
}

/// What the seeder did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SeedStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Requests received.
    pub requests: u64,
    /// Requests rejected over [`MAX_QUEUE`] (Fast peers).
    pub rejected: u64,
    /// Requests dropped over [`MAX_QUEUE`] (non-Fast peers).
    pub dropped: u64,
    /// Blocks fully sent.
    pub blocks: u64,
    /// Block payload bytes fully sent.
    pub data_bytes: u64,
    /// Bytes written to sockets.
    pub wire_bytes: u64,
    /// Connections closed for a protocol error.
    pub protocol_errors: u64,
    /// Connections closed by the peer or a socket error.
    pub closed: u64,
    /// The first protocol error, as a sample of what went wrong.
    pub first_protocol_error: Option<String>,
    /// The first socket error other than a clean close.
    pub first_io_error: Option<String>,
}

impl SeedStats {
    fn merge(&mut self, o: &SeedStats) {
        self.accepted += o.accepted;
        self.requests += o.requests;
        self.rejected += o.rejected;
        self.dropped += o.dropped;
        self.blocks += o.blocks;
        self.data_bytes += o.data_bytes;
        self.wire_bytes += o.wire_bytes;
        self.protocol_errors += o.protocol_errors;
        self.closed += o.closed;
        if self.first_protocol_error.is_none() {
            self.first_protocol_error
                .clone_from(&o.first_protocol_error);
        }
        if self.first_io_error.is_none() {
            self.first_io_error.clone_from(&o.first_io_error);
        }
    }
}

/// The seeder's summary at exit.
#[derive(Clone, Debug, Serialize)]
pub struct RawSeedReport {
    /// The address it listened on.
    pub listen: String,
    /// Threads.
    pub threads: usize,
    /// Seconds it ran.
    pub elapsed_s: f64,
    /// Counters.
    pub stats: SeedStats,
    /// Threads that failed, with why.
    pub failures: Vec<String>,
}

/// A bound, ready raw seeder.
#[derive(Debug)]
pub struct RawSeed {
    torrent: Arc<Torrent>,
    storage: Arc<Storage>,
    listeners: Vec<TcpListener>,
    addr: SocketAddr,
    max_time: Option<Duration>,
}

impl RawSeed {
    /// Opens the data and binds the listeners.
    pub fn bind(cfg: &RawSeedConfig) -> Result<RawSeed, RawSeedError> {
        net::check_loopback(cfg.listen, cfg.allow_remote)?;
        let storage = Storage::open(&cfg.torrent.meta.info, &cfg.data)?;
        for (i, state) in storage.file_status().iter().enumerate() {
            if *state != FileState::Ok {
                let path = storage
                    .file_path(i)
                    .map_or_else(|| format!("#{i}"), |p| p.display().to_string());
                return Err(RawSeedError::Data {
                    path,
                    state: state.clone(),
                });
            }
        }
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        let threads = if cfg.threads == 0 { cores } else { cfg.threads };
        let listeners = net::reuseport_listeners(cfg.listen, threads).map_err(|source| {
            RawSeedError::Listen {
                addr: cfg.listen,
                source,
            }
        })?;
        let addr = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .unwrap_or(cfg.listen);
        Ok(RawSeed {
            torrent: Arc::clone(&cfg.torrent),
            storage: Arc::new(storage),
            listeners,
            addr,
            max_time: cfg.max_time,
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `stop` is set or the time limit passes.
    pub fn run(self, stop: Arc<AtomicBool>) -> RawSeedReport {
        let start = Instant::now();
        let deadline = self.max_time.map(|d| start + d);
        let threads = self.listeners.len();
        let mut handles = Vec::with_capacity(threads);
        let mut failures = Vec::new();
        for (i, listener) in self.listeners.into_iter().enumerate() {
            let (t, s, stop) = (
                Arc::clone(&self.torrent),
                Arc::clone(&self.storage),
                Arc::clone(&stop),
            );
            let h = thread::Builder::new()
                .name(format!("raw-seed-{i}"))
                .spawn(move || serve(listener, &t, &s, &stop, deadline));
            match h {
                Ok(h) => handles.push(h),
                Err(e) => failures.push(format!("thread {i}: {e}")),
            }
        }
        let mut stats = SeedStats::default();
        for h in handles {
            match h.join() {
                Ok(Ok(s)) => stats.merge(&s),
                Ok(Err(e)) => failures.push(e.to_string()),
                Err(_) => failures.push("a seeder thread panicked".into()),
            }
        }
        RawSeedReport {
            listen: self.addr.to_string(),
            threads,
            elapsed_s: start.elapsed().as_secs_f64(),
            stats,
            failures,
        }
    }
}

/// One thread's loop.
fn serve(
    listener: TcpListener,
    torrent: &Torrent,
    storage: &Storage,
    stop: &AtomicBool,
    deadline: Option<Instant>,
) -> io::Result<SeedStats> {
    let mut listener = mio::net::TcpListener::from_std(listener);
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let limits = Limits::for_pieces(torrent.geometry.piece_count());
    let mut scratch = vec![0u8; usize::try_from(limits.max_frame()).unwrap_or(0) + 4 + 64 * 1024];
    let mut conns: Vec<Option<SeedConn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut again: Vec<usize> = Vec::new();
    let mut stats = SeedStats::default();
    let mut accept_more = false;
    loop {
        let now = Instant::now();
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
            return Ok(stats);
        }
        let busy = accept_more || !again.is_empty();
        let mut timeout = if busy { Duration::ZERO } else { POLL_INTERVAL };
        if let Some(d) = deadline {
            timeout = timeout.min(d.saturating_duration_since(now));
        }
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let mut work: Vec<(usize, bool, bool)> =
            Vec::with_capacity(events.iter().count() + again.len());
        let mut accept_now = std::mem::take(&mut accept_more);
        for ev in events.iter() {
            if ev.token() == LISTENER {
                accept_now = true;
                continue;
            }
            let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
            work.push((ev.token().0, readable, ev.is_writable()));
        }
        work.extend(
            std::mem::take(&mut again)
                .into_iter()
                .map(|i| (i, true, true)),
        );
        if accept_now {
            accept_more = accept(
                &mut listener,
                &poll,
                &mut conns,
                &mut free,
                &mut stats,
                &mut again,
            );
        }
        for (idx, readable, writable) in work {
            let Some(Some(c)) = conns.get_mut(idx) else {
                continue;
            };
            let mut more = false;
            let mut result = Ok(());
            if readable {
                match c.read(&mut scratch, torrent, &limits, &mut stats) {
                    Ok(m) => more |= m,
                    Err(e) => result = Err(e),
                }
            }
            if result.is_ok() && (writable || c.has_output()) {
                match c.flush(storage, &mut stats) {
                    Ok(Flushed::More) => more = true,
                    Ok(_) => {}
                    Err(e) => result = Err(e),
                }
            }
            match result {
                Ok(()) if more => again.push(idx),
                Ok(()) => {}
                Err(e) => {
                    match e {
                        Close::Protocol(m) => {
                            stats.protocol_errors += 1;
                            stats.first_protocol_error.get_or_insert(m);
                        }
                        Close::Io(e) => {
                            stats.closed += 1;
                            stats.first_io_error.get_or_insert_with(|| e.to_string());
                        }
                        Close::Eof => stats.closed += 1,
                    }
                    if let Some(mut c) = conns.get_mut(idx).and_then(Option::take) {
                        let _ = poll.registry().deregister(&mut c.stream);
                    }
                    free.push(idx);
                }
            }
        }
        again.sort_unstable();
        again.dedup();
    }
}

fn accept(
    listener: &mut mio::net::TcpListener,
    poll: &Poll,
    conns: &mut Vec<Option<SeedConn>>,
    free: &mut Vec<usize>,
    stats: &mut SeedStats,
    again: &mut Vec<usize>,
) -> bool {
    for _ in 0..ACCEPTS_PER_TURN {
        let mut stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock, or an error such as EMFILE: wait for the next
            // event (or turn) rather than spin.
            Err(_) => return false,
        };
        let _ = stream.set_nodelay(true);
        let idx = free.pop().unwrap_or(conns.len());
        if poll
            .registry()
            .register(
                &mut stream,
                Token(idx),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            if idx < conns.len() {
                free.push(idx);
            }
            continue;
        }
        stats.accepted += 1;
        if idx == conns.len() {
            conns.push(Some(SeedConn::new(stream)));
        } else if let Some(slot) = conns.get_mut(idx) {
            *slot = Some(SeedConn::new(stream));
        }
        // The peer's handshake may already be waiting.
        again.push(idx);
    }
    // The budget ran out: more may be pending and the edge was consumed.
    true
}
