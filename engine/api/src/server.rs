//! The accept loop and one task per connection, on the API thread's
//! current-thread tokio runtime.
//!
//! Bounds against slow or hostile clients, besides the body's
//! ([`crate::body`]):
//! - **connections**: at most `max_connections` at once; one more is
//!   answered `503` with a single non-blocking write and closed at once,
//!   so a flood costs a failed write each, never a task or a buffer;
//! - **headers**: hyper's `header_read_timeout` closes a connection whose
//!   request head is not complete in time (slowloris), and `max_buf_size`
//!   bounds the head's size (431 past it);
//! - **no progress**: a watchdog closes a connection on which nothing was
//!   read or written for `idle_timeout`, whatever state hyper is in (an
//!   idle keep-alive, a client that stopped reading our answer).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::metrics::ApiStats;
use crate::Shared;

/// The answer to a connection over the limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\ncontent-length: 87\r\n\r\n\
{\"error\":{\"status\":503,\"code\":\"busy\",\"message\":\"too many API connections; try again\"}}\n";

/// Largest request head (request line and headers), bytes.
const MAX_HEAD: usize = 16 << 10;

/// Accepts until `stop` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    stop: impl Future<Output = ()>,
) {
    let conns = Arc::new(Semaphore::new(shared.config.max_connections.max(1)));
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            () = &mut stop => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("API accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&conns).try_acquire_owned() else {
            ApiStats::bump(&shared.stats.refused_busy);
            let _ = stream.try_write(BUSY);
            drop(stream);
            continue;
        };
        ApiStats::bump(&shared.stats.connections);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            connection(stream, shared).await;
            tracing::trace!("API connection from {peer} closed");
            drop(permit);
        });
    }
}

/// Serves one connection until it ends, times out or stalls.
async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let epoch = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let io = Watched {
        inner: stream,
        epoch,
        last: Arc::clone(&last),
    };
    let svc_shared = Arc::clone(&shared);
    let service = service_fn(move |req| {
        let s = Arc::clone(&svc_shared);
        async move { Ok::<_, std::convert::Infallible>(crate::handlers::handle(s, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_timeout)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let idle = shared.config.idle_timeout;
    loop {
        let since = Duration::from_millis(last.load(Ordering::Relaxed));
        let deadline = epoch + since + idle;
        tokio::select! {
            _ = &mut conn => return,
            () = tokio::time::sleep_until(deadline.into()) => {
                let since_now = Duration::from_millis(last.load(Ordering::Relaxed));
                if epoch + since_now + idle <= Instant::now() {
                    ApiStats::bump(&shared.stats.idle_closed);
                    return;
                }
            }
        }
    }
}

/// A stream that notes when it last moved bytes.
struct Watched {
    inner: TcpStream,
    epoch: Instant,
    last: Arc<AtomicU64>,
}

impl Watched {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_busy_answer_has_the_length_it_declares() {
        let text = std::str::from_utf8(super::BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], "busy");
    }
}
