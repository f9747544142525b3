//! Reading request bodies within bounds.
//!
//! Three bounds, so that no client can grow the node's memory or hold a
//! request open forever:
//! - **size**: a body longer than `max_body` is refused with 413, at once
//!   when `Content-Length` says so, else as soon as it passes the limit;
//! - **memory in all**: every buffered body byte is first taken from one
//!   budget shared by all connections (`body_budget`); a body that would
//!   overdraw it is refused with 503, so a hundred clients each sending
//!   `max_body` cannot add up;
//! - **time**: the whole body must arrive within `body_timeout` (408),
//!   however slowly it trickles.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{HeaderMap, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::metrics::ApiStats;

/// Limits on one body.
#[derive(Clone, Debug)]
pub(crate) struct BodyLimits {
    pub(crate) max: usize,
    pub(crate) timeout: Duration,
    pub(crate) budget: Arc<Semaphore>,
}

/// A body read in full, holding its share of the budget until dropped.
pub(crate) struct Body {
    pub(crate) bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request bodies are limited to {max} bytes (api_max_body)"),
    )
}

fn busy() -> ApiError {
    ApiError::unavailable("too many request bodies in flight; try again shortly")
}

/// Reads `body` within `limits`.
pub(crate) async fn read(
    headers: &HeaderMap,
    mut body: Incoming,
    limits: &BodyLimits,
    stats: &ApiStats,
) -> Result<Body, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max as u64) {
        ApiStats::bump(&stats.too_large);
        return Err(too_large(limits.max));
    }
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let reserve = |n: usize, permit: &mut Option<OwnedSemaphorePermit>| {
        let n = u32::try_from(n).map_err(|_| too_large(limits.max))?;
        if n == 0 {
            return Ok(());
        }
        let p = Arc::clone(&limits.budget)
            .try_acquire_many_owned(n)
            .map_err(|_| busy())?;
        match permit {
            Some(held) => held.merge(p),
            None => *permit = Some(p),
        }
        Ok::<(), ApiError>(())
    };
    // A declared length is reserved up front; otherwise as bytes arrive.
    let mut reserved = 0usize;
    if let Some(n) = declared {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        reserve(n, &mut permit)?;
        reserved = n;
    }
    let mut buf = BytesMut::new();
    let collect = async {
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let len = buf.len().saturating_add(data.len());
            if len > limits.max {
                ApiStats::bump(&stats.too_large);
                return Err(too_large(limits.max));
            }
            if len > reserved {
                reserve(len - reserved, &mut permit)?;
                reserved = len;
            }
            buf.extend_from_slice(&data);
        }
        Ok(())
    };
    match tokio::time::timeout(limits.timeout, collect).await {
        Ok(Ok(())) => Ok(Body {
            bytes: buf.freeze(),
            _permit: permit,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            ApiStats::bump(&stats.body_timeouts);
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "the request body did not arrive within {:?}",
                    limits.timeout
                ),
            ))
        }
    }
}
