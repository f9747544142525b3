//! Errors: what the API answers a request that cannot be served, and why
//! the server itself could not start.
//!
//! Every failed request gets a JSON body of one shape,
//! `{"error": {"status": 404, "code": "not_found", "message": "..."}}`,
//! with the HTTP status that fits, so a script can branch on `code` and a
//! person can read `message`.

use std::net::SocketAddr;

use hyper::StatusCode;
use seedcore_runtime::{ErrorKind, NodeError};
use serde::Serialize;

/// Why the API server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is not loopback and no token was configured.
    #[error(
        "the API address {addr} is reachable from other hosts: set a token \
         (`api_token`, `--api-token-file` or SEEDCORE_API_TOKEN) or bind it to 127.0.0.1"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The token is too short to resist guessing.
    #[error("the API token has {len} bytes; use at least {min} (e.g. `openssl rand -hex 32`)")]
    WeakToken {
        /// Its length.
        len: usize,
        /// The least accepted.
        min: usize,
    },
    /// The socket could not be bound.
    #[error("cannot listen for the API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The API thread or its runtime could not start.
    #[error("cannot start the API thread: {0}")]
    Thread(std::io::Error),
}

/// A request that cannot be served, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code (`not_found`, `bad_request`, ...).
    pub code: &'static str,
    /// What went wrong and what to do about it.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404: no such torrent (or route).
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: the request conflicts with the node's state (already there).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422: well-formed, but the node cannot do it (a bad torrent, a
    /// missing data folder).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    /// 503: the node cannot answer now (starting, stopping, busy).
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500: the node failed.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            status: u16,
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        serde_json::to_string(&Outer {
            error: Inner {
                status: self.status.as_u16(),
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| String::from("{\"error\":{\"status\":500,\"code\":\"internal\"}}"))
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> ApiError {
        let (status, code) = match e.kind() {
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::BadRequest => match e {
                NodeError::BadTorrent { .. } | NodeError::Io { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable")
                }
                _ => (StatusCode::BAD_REQUEST, "bad_request"),
            },
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ErrorKind::NotImplemented => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
        };
        let message = match e {
            NodeError::Timeout { waited } if waited.is_zero() => {
                "the node is starting: no status yet; try again in a second".to_string()
            }
            e => e.to_string(),
        };
        ApiError::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_json_with_status_code_and_message() {
        let e = ApiError::not_found("no torrent \"ab\"\n");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["status"], 404);
        assert_eq!(v["error"]["code"], "not_found");
        assert_eq!(v["error"]["message"], "no torrent \"ab\"\n");
    }
}
