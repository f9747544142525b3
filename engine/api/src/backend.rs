//! What the API asks of the node, as one trait.
//!
//! The HTTP side knows nothing of shards or channels: it calls these
//! methods. Reads ([`Backend::status`]) must be cheap and never block (the
//! node publishes a snapshot every second); calls that change the node may
//! block until the control core has acted, so the server runs them on
//! its blocking pool, never on the thread that serves HTTP.
//!
//! A trait rather than the runtime's handle type so that the HTTP layer's
//! bounds (slow clients, huge bodies, bad tokens) are unit-tested without
//! a node, and so that the runtime's handle can grow without this crate
//! following every change.

use seedcore_runtime::{StatusHandle, StatusReport};

use crate::error::ApiError;
use crate::model::{torrents_of, AddRequest, Limits, LimitsPatch, Peer, Torrent};

/// The node, as the API sees it.
pub trait Backend: Send + Sync + 'static {
    /// The latest status (counters of the last second); `None` before the
    /// first one.
    fn status(&self) -> Option<StatusReport>;

    /// Every torrent.
    fn torrents(&self) -> Result<Vec<Torrent>, ApiError> {
        let r = self.status().ok_or_else(starting)?;
        Ok(torrents_of(&r))
    }

    /// One torrent by info-hash (lower-case hex).
    fn torrent(&self, hash: &str) -> Result<Torrent, ApiError> {
        self.torrents()?
            .into_iter()
            .find(|t| t.info_hash == hash)
            .ok_or_else(|| no_torrent(hash))
    }

    /// The peers of a torrent.
    fn peers(&self, hash: &str) -> Result<Vec<Peer>, ApiError> {
        let _ = self.torrent(hash)?;
        Err(not_supported("listing peers"))
    }

    /// Adds a torrent and returns it.
    fn add(&self, req: AddRequest) -> Result<Torrent, ApiError> {
        let _ = req;
        Err(not_supported("adding torrents"))
    }

    /// Removes a torrent (never its data).
    fn remove(&self, hash: &str) -> Result<(), ApiError> {
        let _ = self.torrent(hash)?;
        Err(not_supported("removing torrents"))
    }

    /// Stops serving a torrent, keeping it.
    fn pause(&self, hash: &str) -> Result<Torrent, ApiError> {
        let _ = self.torrent(hash)?;
        Err(not_supported("pausing torrents"))
    }

    /// Serves a paused torrent again.
    fn resume(&self, hash: &str) -> Result<Torrent, ApiError> {
        let _ = self.torrent(hash)?;
        Err(not_supported("resuming torrents"))
    }

    /// Verifies a torrent's data again.
    fn recheck(&self, hash: &str) -> Result<Torrent, ApiError> {
        let _ = self.torrent(hash)?;
        Err(not_supported("re-checking torrents"))
    }

    /// The limits in force.
    fn limits(&self) -> Result<Limits, ApiError> {
        Err(not_supported("run-time limits"))
    }

    /// Changes limits; returns those now in force.
    fn set_limits(&self, patch: LimitsPatch) -> Result<Limits, ApiError> {
        let _ = patch;
        Err(not_supported("run-time limits"))
    }
}

/// 503 while the node has no status yet.
pub(crate) fn starting() -> ApiError {
    ApiError::unavailable("the node is starting: no status yet; try again in a second")
}

/// 404 for an unknown info-hash.
pub(crate) fn no_torrent(hash: &str) -> ApiError {
    ApiError::not_found(format!("no torrent with info-hash {hash}"))
}

fn not_supported(what: &str) -> ApiError {
    ApiError::new(
        hyper::StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        format!("{what} is not supported by this node"),
    )
}

/// A node that only reports its status: what a seed started with a fixed
/// set of torrents offers.
impl Backend for StatusHandle {
    fn status(&self) -> Option<StatusReport> {
        StatusHandle::status(self)
    }
}
