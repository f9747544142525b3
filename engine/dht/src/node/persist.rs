//! Saving the routing table between runs (BEP 5: "The routing table
//! should be saved between invocations").
//!
//! The snapshot is a bencoded dictionary `{id, nodes, nodes6}` of compact
//! entries: the same encoding as on the wire, so reading it reuses the
//! bounded KRPC readers (the project's bencode reader under the datagram
//! bounds, and the compact-entry decoders). Only nodes that answered us are saved. A file
//! that does not decode just means a cold start: [`Dht::restore`] never
//! fails, it bootstraps either way.

use std::time::Instant;

use seedcore_protocol::bencode::OwnedValue;
use thiserror::Error;

use super::{Config, Dht};
use crate::id::NodeId;
use crate::krpc::bounded::{read_bounded, BoundedError};
use crate::krpc::{decode_nodes, decode_nodes6, encode_node, NodeInfo};
use crate::routing::{Contact, MAX_FAILURES};

/// A decoded snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The node id that was in use.
    pub id: NodeId,
    /// Its verified contacts.
    pub nodes: Vec<NodeInfo>,
}

/// Why a snapshot could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// Not bencode (or over the size bounds).
    #[error(
        "routing table snapshot is not valid bencode ({0}); the node will bootstrap from scratch"
    )]
    Bencode(#[from] BoundedError),
    /// No 20-byte `id`.
    #[error("routing table snapshot has no 20-byte 'id'; the node will bootstrap from scratch")]
    NoId,
}

impl Snapshot {
    /// Encodes `{id, nodes, nodes6}` (canonical: sorted keys).
    pub fn encode(&self) -> Vec<u8> {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for n in &self.nodes {
            encode_node(if n.addr.is_ipv4() { &mut v4 } else { &mut v6 }, n);
        }
        OwnedValue::dict()
            .with("id", OwnedValue::bytes(self.id.as_bytes()))
            .with("nodes", OwnedValue::Bytes(v4))
            .with("nodes6", OwnedValue::Bytes(v6))
            .to_bytes()
    }

    /// Decodes a snapshot written by [`Snapshot::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        let (root, _) = read_bounded(bytes)?;
        // Anything but a dictionary has no `id` either.
        let root = root.as_dict().ok_or(SnapshotError::NoId)?;
        let id = root
            .bytes(b"id")
            .and_then(NodeId::from_slice)
            .ok_or(SnapshotError::NoId)?;
        let mut nodes = root.bytes(b"nodes").map(decode_nodes).unwrap_or_default();
        nodes.extend(root.bytes(b"nodes6").map(decode_nodes6).unwrap_or_default());
        Ok(Snapshot { id, nodes })
    }
}

impl Dht {
    /// The routing table as bytes to save (see [`Dht::restore`]).
    pub fn routing_table_snapshot(&self) -> Vec<u8> {
        let nodes = self
            .table
            .nodes()
            .filter(|n| n.verified() && n.failures < MAX_FAILURES)
            .map(|n| n.info)
            .collect();
        Snapshot { id: self.id, nodes }.encode()
    }

    /// A node from a saved snapshot: its id (unless `config.node_id` is
    /// set) and its contacts, offered to the table as not yet verified;
    /// the first maintenance pass bootstraps through them. Bytes that do
    /// not decode give a fresh node, as [`Dht::new`] would.
    pub fn restore(mut config: Config, now: Instant, snapshot: &[u8]) -> Dht {
        let snap = Snapshot::decode(snapshot).ok();
        if config.node_id.is_none() {
            config.node_id = snap.as_ref().map(|s| s.id);
        }
        let mut dht = Dht::new(config, now);
        for n in snap.map(|s| s.nodes).unwrap_or_default() {
            dht.table.insert(n, now, Contact::Heard);
        }
        dht
    }
}
