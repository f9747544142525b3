//! KRPC decoding: bencode tree to [`Message`], every field checked.

use thiserror::Error;

use super::bounded::{read_bounded, BoundedError};
use super::compact::{decode_nodes, decode_nodes6, decode_peer};
use super::{Body, ErrorCode, ErrorReply, Message, Query, Response, Want};
use crate::id::NodeId;
use seedcore_protocol::bencode::Dict;

/// Longest transaction id, version or token accepted (clients use 2-8).
pub const MAX_SHORT_STRING: usize = 64;

/// A datagram that is not a KRPC message we understand.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("bad KRPC message: {reason}")]
pub struct DecodeError {
    /// The transaction id when the datagram was a query whose `t` could be
    /// read: an error reply can then be sent. `None` means drop silently
    /// (never answer a response or error: that could loop).
    pub reply_to: Option<Vec<u8>>,
    /// The KRPC code for the reply (203 or 204).
    pub code: ErrorCode,
    /// What was wrong.
    pub reason: DecodeReason,
}

/// What was wrong with a datagram.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeReason {
    /// Not bencode at all, or over the datagram bounds.
    #[error("not bencode: {0}")]
    Bencode(#[from] BoundedError),
    /// The top level is not a dictionary.
    #[error("top level is not a dictionary")]
    NotADict,
    /// A required key is absent.
    #[error("missing key '{0}'")]
    Missing(&'static str),
    /// A key has the wrong type or size.
    #[error("key '{key}' is invalid: {why}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What was expected.
        why: &'static str,
    },
    /// `y` is not q, r or e.
    #[error("unknown message type")]
    UnknownType,
    /// A query method we do not implement.
    #[error("unknown method '{0}'")]
    UnknownMethod(String),
}

impl DecodeError {
    /// The error message to send back, if one may be sent.
    pub fn reply(&self) -> Option<Message> {
        let t = self.reply_to.clone()?;
        Some(Message::error(t, self.code, &self.reason.to_string()))
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
    let fail = |reply_to: Option<Vec<u8>>, reason| DecodeError {
        reply_to,
        code: ErrorCode::Protocol,
        reason,
    };
    let (root, _) = read_bounded(bytes).map_err(|e| fail(None, e.into()))?;
    let root = root
        .as_dict()
        .ok_or_else(|| fail(None, DecodeReason::NotADict))?;
    let transaction = match root.get(b"t").map(|v| v.as_bytes()) {
        Some(Some(t)) if t.len() <= MAX_SHORT_STRING => t.to_vec(),
        Some(_) => {
            return Err(fail(
                None,
                DecodeReason::Invalid {
                    key: "t",
                    why: "a byte string of at most 64 bytes",
                },
            ))
        }
        None => return Err(fail(None, DecodeReason::Missing("t"))),
    };
    let y = root.bytes(b"y");
    let is_query = y == Some(b"q");
    let reply_to = is_query.then(|| transaction.clone());
    let err = |reason| fail(reply_to.clone(), reason);
    let version = root
        .bytes(b"v")
        .filter(|v| v.len() <= MAX_SHORT_STRING)
        .map(<[u8]>::to_vec);
    let read_only = root.int(b"ro").is_some_and(|i| i != 0);
    let requester_ip = root.bytes(b"ip").and_then(decode_peer);
    let body = match y {
        Some(b"q") => Body::Query(decode_query(root).map_err(|(code, reason)| DecodeError {
            reply_to: reply_to.clone(),
            code,
            reason,
        })?),
        Some(b"r") => Body::Response(decode_response(root).map_err(err)?),
        Some(b"e") => Body::Error(decode_error(root).map_err(err)?),
        Some(_) => return Err(err(DecodeReason::UnknownType)),
        None => return Err(err(DecodeReason::Missing("y"))),
    };
    Ok(Message {
        transaction,
        version,
        read_only,
        requester_ip,
        body,
    })
}

fn id_field(dict: Dict<'_>, key: &'static str) -> Result<NodeId, DecodeReason> {
    let v = dict.get(key.as_bytes()).ok_or(DecodeReason::Missing(key))?;
    v.as_bytes()
        .and_then(NodeId::from_slice)
        .ok_or(DecodeReason::Invalid {
            key,
            why: "a 20-byte string",
        })
}

fn want_field(args: Dict<'_>) -> Option<Want> {
    let list = args.get(b"want")?.as_list()?;
    let mut want = Want::default();
    for item in list.iter() {
        match item.as_bytes() {
            Some(b"n4") => want.v4 = true,
            Some(b"n6") => want.v6 = true,
            _ => {}
        }
    }
    Some(want)
}

fn decode_query(root: Dict<'_>) -> Result<Query, (ErrorCode, DecodeReason)> {
    let proto = |r| (ErrorCode::Protocol, r);
    let method = root
        .get(b"q")
        .ok_or(proto(DecodeReason::Missing("q")))?
        .as_bytes()
        .ok_or(proto(DecodeReason::Invalid {
            key: "q",
            why: "a byte string",
        }))?;
    let args = root
        .get(b"a")
        .ok_or(proto(DecodeReason::Missing("a")))?
        .as_dict()
        .ok_or(proto(DecodeReason::Invalid {
            key: "a",
            why: "a dictionary",
        }))?;
    let id = id_field(args, "id").map_err(proto)?;
    match method {
        b"ping" => Ok(Query::Ping { id }),
        b"find_node" => Ok(Query::FindNode {
            id,
            target: id_field(args, "target").map_err(proto)?,
            want: want_field(args),
        }),
        b"get_peers" => Ok(Query::GetPeers {
            id,
            info_hash: id_field(args, "info_hash").map_err(proto)?,
            want: want_field(args),
        }),
        b"announce_peer" => {
            let info_hash = id_field(args, "info_hash").map_err(proto)?;
            let implied_port = args.int(b"implied_port").is_some_and(|i| i != 0);
            let port = match args.get(b"port").map(|v| v.as_int()) {
                Some(Some(p)) => u16::try_from(p).ok().ok_or(proto(DecodeReason::Invalid {
                    key: "port",
                    why: "an integer 0 to 65535",
                }))?,
                Some(None) => {
                    return Err(proto(DecodeReason::Invalid {
                        key: "port",
                        why: "an integer",
                    }))
                }
                None if implied_port => 0,
                None => return Err(proto(DecodeReason::Missing("port"))),
            };
            let token = args
                .get(b"token")
                .ok_or(proto(DecodeReason::Missing("token")))?
                .as_bytes()
                .filter(|t| t.len() <= MAX_SHORT_STRING)
                .ok_or(proto(DecodeReason::Invalid {
                    key: "token",
                    why: "a byte string of at most 64 bytes",
                }))?
                .to_vec();
            Ok(Query::AnnouncePeer {
                id,
                info_hash,
                port,
                implied_port,
                token,
            })
        }
        other => Err((
            ErrorCode::MethodUnknown,
            DecodeReason::UnknownMethod(String::from_utf8_lossy(other).chars().take(32).collect()),
        )),
    }
}

fn decode_response(root: Dict<'_>) -> Result<Response, DecodeReason> {
    let r = root
        .get(b"r")
        .ok_or(DecodeReason::Missing("r"))?
        .as_dict()
        .ok_or(DecodeReason::Invalid {
            key: "r",
            why: "a dictionary",
        })?;
    let id = id_field(r, "id")?;
    let nodes = r.bytes(b"nodes").map(decode_nodes).unwrap_or_default();
    let nodes6 = r.bytes(b"nodes6").map(decode_nodes6).unwrap_or_default();
    let values = r
        .get(b"values")
        .and_then(|v| v.as_list())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_bytes().and_then(decode_peer))
                .filter(|a| a.port() != 0)
                .collect()
        })
        .unwrap_or_default();
    let token = r
        .bytes(b"token")
        .filter(|t| t.len() <= MAX_SHORT_STRING)
        .map(<[u8]>::to_vec);
    Ok(Response {
        id,
        nodes,
        nodes6,
        values,
        token,
    })
}

fn decode_error(root: Dict<'_>) -> Result<ErrorReply, DecodeReason> {
    let e = root
        .get(b"e")
        .ok_or(DecodeReason::Missing("e"))?
        .as_list()
        .ok_or(DecodeReason::Invalid {
            key: "e",
            why: "a list [code, message]",
        })?;
    let mut e = e.iter();
    let code = e
        .next()
        .and_then(|v| v.as_int())
        .map(ErrorCode::from_code)
        .ok_or(DecodeReason::Invalid {
            key: "e",
            why: "a list starting with an integer code",
        })?;
    let message = e
        .next()
        .and_then(|v| v.as_bytes())
        .map(|m| m.iter().take(256).copied().collect())
        .unwrap_or_default();
    Ok(ErrorReply { code, message })
}
