//! seedcore's HTTP API, Prometheus metrics and status page.
//!
//! ```text
//!  client ──HTTP/1.1──► API thread (its own; never a shard's, never the control core's)
//!                        tokio current-thread runtime + hyper 1.x
//!                        ├─ GET  /                 status page (static HTML + JS, embedded)
//!                        ├─ GET  /metrics          Prometheus text, from the 1 s snapshot
//!                        ├─ GET  /api/v1/...       status, history, torrents, peers, limits
//!                        └─ POST/DELETE/PATCH ...  add, remove, pause, resume, recheck, limits
//!                              │ reads: the status snapshot (a mutex held for a clone)
//!                              └ changes: Backend calls on the blocking pool ──► control core
//! ```
//!
//! The API is off unless asked for (`seed --api 127.0.0.1:PORT`). On
//! loopback a token is optional; anywhere else one is required
//! (`Authorization: Bearer`, compared in constant time). Every route is
//! in [`routes::ROUTES`] and documented in `openapi.json` (served at
//! `/api/v1/openapi.json`); a test keeps the two equal.
//!
//! ```no_run
//! use std::sync::Arc;
//! use seedcore_api::{ApiConfig, ApiServer};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let seeder = seedcore_runtime::Seeder::start(seedcore_runtime::Config::default())?;
//! let api = ApiServer::start(
//!     ApiConfig::new("127.0.0.1:6880".parse()?),
//!     Arc::new(seeder.node()),
//! )?;
//! println!("API on http://{}", api.local_addr());
//! # Ok(()) }
//! ```

pub mod auth;
pub mod backend;
mod body;
pub mod client;
pub mod error;
mod handlers;
pub mod history;
pub mod metrics;
pub mod model;
mod page;
pub mod routes;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use backend::Backend;
pub use error::{ApiError, StartError};
pub use metrics::ApiStats;
pub use model::{AddJson, LimitsPatch, TorrentPatch};

use auth::Token;
use body::BodyLimits;
use history::History;
use tokio::sync::Semaphore;

/// The OpenAPI document of every route (also served by the API).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// How the API server runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// The bearer token; required unless `addr` is loopback.
    pub token: Option<String>,
    /// Connections at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request body, bytes.
    pub max_body: usize,
    /// Request body bytes buffered at once, all connections together.
    pub body_budget: usize,
    /// Time for a request's head (request line and headers) to arrive.
    pub header_timeout: Duration,
    /// Time for a request's whole body to arrive.
    pub body_timeout: Duration,
    /// A connection that moves no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Torrents with their own metrics series (the top ones by upload).
    pub top_torrents: usize,
}

impl ApiConfig {
    /// Defaults for everything but the address.
    pub fn new(addr: SocketAddr) -> ApiConfig {
        ApiConfig {
            addr,
            token: None,
            max_connections: 64,
            max_body: 16 << 20,
            body_budget: 64 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            top_torrents: 10,
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) token: Option<Token>,
    pub(crate) config: ApiConfig,
    pub(crate) stats: Arc<ApiStats>,
    pub(crate) history: Mutex<History>,
    pub(crate) body_limits: BodyLimits,
}

/// A running API server; stopped when dropped.
pub struct ApiServer {
    addr: SocketAddr,
    stats: Arc<ApiStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiServer({})", self.addr)
    }
}

impl ApiServer {
    /// Binds `config.addr` and serves on a thread of its own.
    pub fn start(config: ApiConfig, backend: Arc<dyn Backend>) -> Result<ApiServer, StartError> {
        let token = match config.token.as_deref() {
            Some(t) if t.len() < auth::MIN_TOKEN_LEN => {
                return Err(StartError::WeakToken {
                    len: t.len(),
                    min: auth::MIN_TOKEN_LEN,
                })
            }
            Some(t) => Some(Token::new(t)),
            None if !config.addr.ip().is_loopback() => {
                return Err(StartError::TokenRequired { addr: config.addr })
            }
            None => None,
        };
        let std_listener =
            std::net::TcpListener::bind(config.addr).map_err(|source| StartError::Bind {
                addr: config.addr,
                source,
            })?;
        std_listener
            .set_nonblocking(true)
            .map_err(StartError::Thread)?;
        let addr = std_listener.local_addr().map_err(StartError::Thread)?;
        let stats = Arc::new(ApiStats::default());
        let shared = Arc::new(Shared {
            backend,
            token,
            body_limits: BodyLimits {
                max: config.max_body,
                timeout: config.body_timeout,
                budget: Arc::new(Semaphore::new(
                    config.body_budget.min(Semaphore::MAX_PERMITS),
                )),
            },
            config,
            stats: Arc::clone(&stats),
            history: Mutex::new(History::default()),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(4)
            .thread_name("seedcore-api-call")
            .build()
            .map_err(StartError::Thread)?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("seedcore-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("API: cannot use the listening socket: {e}");
                            return;
                        }
                    };
                    tokio::spawn(sample(Arc::clone(&shared)));
                    server::serve(listener, shared, async {
                        let _ = stop_rx.await;
                    })
                    .await;
                });
                // Leftover connections and blocking calls are dropped with
                // the runtime; a backend call in progress finishes alone.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(StartError::Thread)?;
        Ok(ApiServer {
            addr,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its own counters.
    pub fn stats(&self) -> &ApiStats {
        &self.stats
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Feeds the history ring from the node's snapshot, twice a second (the
/// snapshot changes once a second; repeats are skipped).
async fn sample(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if let Ok(r) = shared.backend.status() {
            if let Ok(mut h) = shared.history.lock() {
                h.record(&r);
            }
        }
    }
}
