//! What the API asks of the node, as one trait.
//!
//! The methods are [`seedcore_runtime::Node`]'s, and `Node` implements
//! the trait by calling them. A trait rather than `Node` itself so that
//! the HTTP layer's bounds (slow clients, huge bodies, bad tokens) are
//! tested without a node, with a stand-in that records what reaches it.
//!
//! Reads of [`Backend::status`] must be cheap and never block (the node
//! publishes a snapshot every second). Every other call may wait for the
//! control core, so the server makes them on its blocking pool, never on
//! the thread that serves HTTP.

use seedcore_runtime::{
    AddRequest, BlocklistInfo, Limits, LimitsUpdate, Node, NodeError, PeerInfo, ReloadReport,
    StatusReport, TorrentInfo, TorrentKey,
};

fn not_yet(what: &'static str) -> NodeError {
    NodeError::NotYet { what }
}

/// The node, as the API sees it. Defaults answer "not supported".
#[allow(missing_docs)] // each method is the `Node` method of the same name
pub trait Backend: Send + Sync + 'static {
    fn status(&self) -> Result<StatusReport, NodeError>;
    fn torrents(&self) -> Result<Vec<TorrentInfo>, NodeError> {
        Err(not_yet("listing torrents"))
    }
    fn torrent(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn add(&self, request: AddRequest) -> Result<TorrentInfo, NodeError> {
        let _ = request;
        Err(not_yet("adding torrents"))
    }
    fn remove(&self, key: TorrentKey) -> Result<(), NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn pause(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn resume(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn recheck(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn set_torrent_limit(
        &self,
        key: TorrentKey,
        upload_limit: u64,
    ) -> Result<TorrentInfo, NodeError> {
        let _ = upload_limit;
        Err(NodeError::NotFound { key })
    }
    fn peers(&self, key: TorrentKey) -> Result<Vec<PeerInfo>, NodeError> {
        Err(NodeError::NotFound { key })
    }
    fn limits(&self) -> Result<Limits, NodeError> {
        Err(not_yet("limits"))
    }
    fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, NodeError> {
        let _ = update;
        Err(not_yet("changing limits"))
    }
    fn blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Err(not_yet("blocklists"))
    }
    fn reload_blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Err(not_yet("blocklists"))
    }
    fn reload_config(&self) -> Result<ReloadReport, NodeError> {
        Err(not_yet("reloading the configuration"))
    }
}

impl Backend for Node {
    fn status(&self) -> Result<StatusReport, NodeError> {
        Node::status(self)
    }
    fn torrents(&self) -> Result<Vec<TorrentInfo>, NodeError> {
        Node::torrents(self)
    }
    fn torrent(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Node::torrent(self, key)
    }
    fn add(&self, request: AddRequest) -> Result<TorrentInfo, NodeError> {
        Node::add(self, request)
    }
    fn remove(&self, key: TorrentKey) -> Result<(), NodeError> {
        Node::remove(self, key)
    }
    fn pause(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Node::pause(self, key)
    }
    fn resume(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Node::resume(self, key)
    }
    fn recheck(&self, key: TorrentKey) -> Result<TorrentInfo, NodeError> {
        Node::recheck(self, key)
    }
    fn set_torrent_limit(
        &self,
        key: TorrentKey,
        upload_limit: u64,
    ) -> Result<TorrentInfo, NodeError> {
        Node::set_torrent_limit(self, key, upload_limit)
    }
    fn peers(&self, key: TorrentKey) -> Result<Vec<PeerInfo>, NodeError> {
        Node::peers(self, key)
    }
    fn limits(&self) -> Result<Limits, NodeError> {
        Node::limits(self)
    }
    fn set_limits(&self, update: LimitsUpdate) -> Result<Limits, NodeError> {
        Node::set_limits(self, update)
    }
    fn blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Node::blocklist(self)
    }
    fn reload_blocklist(&self) -> Result<BlocklistInfo, NodeError> {
        Node::reload_blocklist(self)
    }
    fn reload_config(&self) -> Result<ReloadReport, NodeError> {
        Node::reload_config(self)
    }
}
