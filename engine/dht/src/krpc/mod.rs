//! KRPC (BEP 5): the DHT's messages, as owned values, and their codec.
//!
//! Decoding is lenient where clients differ and strict where it matters:
//! unknown keys are ignored, a `nodes` string whose length is not a multiple
//! of 26 keeps its whole entries (the BEP's own example is 9 bytes), but an
//! id must be exactly 20 bytes and a port must fit `u16`. A message that
//! cannot be understood yields a [`DecodeError`] that says whether an error
//! reply can be sent (a query whose `t` we could read) and with which code.
//!
//! Bencode is read and written by the project's one codec,
//! `seedcore_protocol::bencode` (key order not checked, first of repeated
//! keys wins, as in libtorrent), under the DHT's own bounds on what a
//! stranger's datagram may hold (`bounded`: 64 KiB, depth 16, 4096
//! values). Encoding writes canonical bencode (sorted keys), which
//! libtorrent and every other client accept.

pub(crate) mod bounded;
mod compact;
mod decode;
mod encode;

use std::net::SocketAddr;

pub use bounded::{BoundedError, LIMITS, MAX_DEPTH, MAX_INPUT, MAX_ITEMS};
pub use compact::{
    decode_nodes, decode_nodes6, decode_peer, encode_node, encode_peer, NODE_LEN_V4, NODE_LEN_V6,
};
pub use decode::DecodeError;

use crate::id::NodeId;

/// A node's id and UDP address (a "compact node info" entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id `t`, echoed by the responder.
    pub transaction: Vec<u8>,
    /// Client version `v` (BEP 20 two letters + two bytes), if sent.
    pub version: Option<Vec<u8>>,
    /// BEP 43 read-only flag `ro` (queries only): do not add the sender.
    pub read_only: bool,
    /// BEP 42 `ip`: the requester's address as the responder sees it.
    pub requester_ip: Option<SocketAddr>,
    /// Query, response or error.
    pub body: Body,
}

/// What a message carries (`y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`.
    Error(ErrorReply),
}

/// Which address families a requester wants nodes for (BEP 32 `want`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Want {
    /// `n4`: IPv4 nodes.
    pub v4: bool,
    /// `n6`: IPv6 nodes.
    pub v6: bool,
}

/// The four BEP 5 queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// `ping`.
    Ping {
        /// Sender's id.
        id: NodeId,
    },
    /// `find_node`.
    FindNode {
        /// Sender's id.
        id: NodeId,
        /// The id sought.
        target: NodeId,
        /// BEP 32 `want`, if given.
        want: Option<Want>,
    },
    /// `get_peers`.
    GetPeers {
        /// Sender's id.
        id: NodeId,
        /// Torrent info-hash.
        info_hash: NodeId,
        /// BEP 32 `want`, if given.
        want: Option<Want>,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// Sender's id.
        id: NodeId,
        /// Torrent info-hash.
        info_hash: NodeId,
        /// TCP port of the peer (ignored when `implied_port`).
        port: u16,
        /// Use the datagram's source port instead of `port`.
        implied_port: bool,
        /// Write token from an earlier `get_peers` response.
        token: Vec<u8>,
    },
}

impl Query {
    /// The querying node's id.
    pub fn sender_id(&self) -> NodeId {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. } => *id,
        }
    }

    /// The method name (`q`).
    pub fn method(&self) -> &'static str {
        match self {
            Query::Ping { .. } => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
        }
    }
}

/// A response (`r`). Responses do not name the query they answer, so one
/// shape covers all four: absent keys are empty.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Response {
    /// Responder's id.
    pub id: NodeId,
    /// `nodes`: IPv4 contacts (26 bytes each on the wire).
    pub nodes: Vec<NodeInfo>,
    /// `nodes6`: IPv6 contacts (38 bytes each).
    pub nodes6: Vec<NodeInfo>,
    /// `values`: compact peers (6 or 18 bytes each).
    pub values: Vec<SocketAddr>,
    /// `token` (get_peers responses).
    pub token: Option<Vec<u8>>,
}

/// KRPC error codes (BEP 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// 201.
    Generic,
    /// 202.
    Server,
    /// 203: malformed packet, invalid arguments or bad token.
    Protocol,
    /// 204.
    MethodUnknown,
    /// Any other number a client sends.
    Other(i64),
}

impl ErrorCode {
    /// The wire number.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Generic => 201,
            ErrorCode::Server => 202,
            ErrorCode::Protocol => 203,
            ErrorCode::MethodUnknown => 204,
            ErrorCode::Other(n) => n,
        }
    }

    /// The code for a wire number.
    pub fn from_code(n: i64) -> ErrorCode {
        match n {
            201 => ErrorCode::Generic,
            202 => ErrorCode::Server,
            203 => ErrorCode::Protocol,
            204 => ErrorCode::MethodUnknown,
            n => ErrorCode::Other(n),
        }
    }
}

/// An error message (`e`: `[code, text]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// The code.
    pub code: ErrorCode,
    /// The text (bytes: clients do not always send UTF-8).
    pub message: Vec<u8>,
}

impl Message {
    /// Decodes one datagram. See [`DecodeError::reply`] for what to answer
    /// when this fails.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        decode::decode(bytes)
    }

    /// Encodes as canonical bencode.
    pub fn encode(&self) -> Vec<u8> {
        encode::encode(self)
    }

    /// An error reply to transaction `t`.
    pub fn error(transaction: Vec<u8>, code: ErrorCode, message: &str) -> Message {
        Message {
            transaction,
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Error(ErrorReply {
                code,
                message: message.as_bytes().to_vec(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
