//! What can go wrong talking to a tracker, and what to do about it.
//!
//! One enum for HTTP and UDP: the scheduler treats every error the same way
//! (back off, try the next tracker), but the variants keep what a log line or
//! an operator needs: the tracker's own words for a refusal, the field that
//! was malformed, how long a UDP tracker stayed silent.

use std::time::Duration;

use seedcore_protocol::bencode::BencodeError;
use thiserror::Error;

/// An announce or scrape that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrackerError {
    /// The tracker URL cannot be used.
    #[error("tracker URL {url:?} is unusable: {reason}; fix or remove it from the torrent's announce list")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The tracker refused the request (`failure reason` over HTTP, an
    /// error packet over UDP). Its text is kept for the operator.
    #[error("tracker refused the request: {reason}")]
    Failure {
        /// The tracker's message, lossily decoded as UTF-8 and truncated.
        reason: String,
        /// BEP 31 `retry in`: how long the tracker asks us to wait, if it said.
        retry_in: Option<Duration>,
    },
    /// The response body is larger than this crate accepts.
    #[error(
        "tracker response of {len} bytes exceeds the {max}-byte limit; the tracker is misbehaving"
    )]
    TooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The response body is not bencode (an HTML error page, say).
    #[error("tracker response is not valid bencode ({0}); is the URL a tracker's announce URL?")]
    Bencode(#[from] BencodeError),
    /// A field of the response has the wrong type or an impossible value.
    #[error("tracker response field {field:?} is malformed: expected {expected}")]
    BadField {
        /// The key, as in the response (`"interval"`, `"peers"`, ...).
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// A UDP packet from the tracker matched our request but was not a
    /// well-formed answer to it (opentracker answers an announce for a hash
    /// it does not serve with a bare 8-byte header, for one).
    #[error("UDP tracker sent a malformed {action} response ({len} bytes)")]
    Malformed {
        /// The request it answered: "connect", "announce" or "scrape".
        action: &'static str,
        /// Packet length.
        len: usize,
    },
    /// More info-hashes than one scrape may carry.
    #[error("{count} info-hashes in one scrape; at most {max} fit (split the scrape)")]
    TooManyHashes {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A UDP tracker did not answer after every retransmission.
    #[error("UDP tracker did not answer {attempts} transmissions over {waited:?}; it is unreachable or down")]
    Timeout {
        /// Transmissions sent (the first one and its retransmissions).
        attempts: u32,
        /// Time from the first transmission to giving up.
        waited: Duration,
    },
    /// The transport failed (HTTP status, DNS, TLS, connection refused):
    /// reported by the runtime, which owns the sockets.
    #[error("tracker transport failed: {0}")]
    Transport(String),
}
