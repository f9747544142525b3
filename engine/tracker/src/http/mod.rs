//! HTTP and HTTPS trackers (BEP 3, BEP 23 compact peers, BEP 7 `peers6`,
//! BEP 48 scrape): the URL of a request and the meaning of a response body.
//!
//! The transport is not here. A tracker GET goes through a real HTTP client
//! with rustls in the runtime (redirects, chunked bodies, TLS and proxies
//! are that client's job and easy to get wrong by hand); this module builds
//! the URL it fetches and reads the body it returns. Both halves are pure
//! functions, so they are tested against bytes captured from opentracker
//! and fuzzed with arbitrary input.

mod response;
mod url;

pub use response::{parse_announce_response, parse_scrape_response};
pub use url::{announce_url, scrape_request_url, scrape_url};

/// Largest response body accepted (2 MiB). A full compact response of
/// [`crate::MAX_PEERS`] peers is about 12 KiB; anything near this limit is
/// a broken or hostile tracker. The runtime should stop reading the body
/// at this many bytes too.
pub const MAX_RESPONSE_LEN: usize = 2 * 1024 * 1024;
