//! Per-peer counters for the choker and for metrics.

use std::time::{Duration, Instant};

/// A snapshot of one session's counters ([`super::PeerSession::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerStats {
    /// When the session was created.
    pub connected_at: Instant,
    /// Block payload bytes handed to the runtime for sending.
    pub uploaded: u64,
    /// All bytes the runtime confirmed written ([`super::PeerSession::on_sent`]).
    pub sent: u64,
    /// All bytes received from the peer.
    pub received: u64,
    /// Recent send rate in bytes per second, over the last few seconds of
    /// [`super::PeerSession::on_sent`] reports.
    pub upload_rate: u64,
    /// Pieces the peer says it has (from its bitfield, haves, have all).
    pub peer_pieces: u32,
    /// Pieces in the torrent (0 before the handshake).
    pub piece_count: u32,
    /// Whether the peer is interested.
    pub interested: bool,
    /// Whether we choke the peer.
    pub choked: bool,
    /// When we last unchoked the peer, if ever.
    pub unchoked_at: Option<Instant>,
    /// Block payload bytes handed out since the last unchoke.
    pub uploaded_since_unchoke: u64,
    /// Requests queued, not yet handed out.
    pub queued_requests: u32,
    /// Block requests received.
    pub requests: u64,
    /// Block requests refused (rejected, or ignored while choked).
    pub refused_requests: u64,
    /// Times the input of a peer without Fast was paused because its queue
    /// held as many requests as its byte budget allows
    /// ([`super::PeerSession::wants_input`]).
    pub input_pauses: u64,
    /// When the peer last sent anything (its creation time before that).
    pub last_received: Instant,
    /// BEP 52 hash requests answered (with hashes or a reject).
    pub hash_requests: u64,
}

/// Length of one rate window.
const WINDOW: Duration = Duration::from_secs(5);

/// A two-window rate meter: the rate over the last full window plus the
/// current one. Deterministic (time is passed in) and constant-size.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateMeter {
    window_start: Instant,
    current: u64,
    previous: u64,
}

impl RateMeter {
    pub(crate) fn new(now: Instant) -> RateMeter {
        RateMeter {
            window_start: now,
            current: 0,
            previous: 0,
        }
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= WINDOW * 2 {
            self.previous = 0;
            self.current = 0;
            self.window_start = now;
        } else if elapsed >= WINDOW {
            self.previous = self.current;
            self.current = 0;
            self.window_start += WINDOW;
        }
    }

    pub(crate) fn add(&mut self, now: Instant, bytes: u64) {
        self.roll(now);
        self.current = self.current.saturating_add(bytes);
    }

    /// Bytes per second over the previous window and the current one.
    pub(crate) fn rate(&self, now: Instant) -> u64 {
        let mut m = *self;
        m.roll(now);
        let span = WINDOW + now.saturating_duration_since(m.window_start);
        let millis = u64::try_from(span.as_millis()).unwrap_or(u64::MAX).max(1);
        (m.previous.saturating_add(m.current)).saturating_mul(1000) / millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_windows() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        m.add(t0, 10_000);
        // 10 kB over (5 s + 0 s).
        assert_eq!(m.rate(t0), 2_000);
        m.add(t0 + Duration::from_secs(5), 10_000);
        assert_eq!(m.rate(t0 + Duration::from_secs(5)), 4_000);
        // Long silence: the rate falls to zero.
        assert_eq!(m.rate(t0 + Duration::from_secs(20)), 0);
    }
}
