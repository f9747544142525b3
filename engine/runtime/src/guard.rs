//! What the shards do to protect themselves from their peers, counted for
//! the status report (`--json`: `shards[].guard`), so that an operator (and
//! the tests) can see that a bound was hit rather than guess.

use serde::Serialize;

/// Counters of one shard, since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GuardCounters {
    /// Times a peer without Fast queued as many requests as its byte
    /// budget holds, so that its input was left unread until the queue
    /// drained (its requests wait in the socket; none is dropped).
    pub input_pauses: u64,
    /// Block requests refused: rejected (Fast peers) or ignored while the
    /// peer was choked.
    pub requests_refused: u64,
    /// Peers closed because a message did not fit their byte budget.
    pub closed_over_budget: u64,
    /// Peers closed because they took no bytes for `stall_timeout` while
    /// we had bytes for them.
    pub closed_stalled: u64,
    /// Peers closed because they sent an incomplete message too slowly, or
    /// while the shard's memory for incomplete messages was used up.
    pub closed_slow_frames: u64,
    /// Peers closed because their handshake did not complete in time.
    pub closed_handshake_timeout: u64,
    /// Connections refused or closed by the per-IP limits.
    pub refused_per_ip: u64,
    /// Peers closed to make room for a new connection on a full node.
    pub evicted: u64,
    /// Connections refused because the node was full and no peer could be
    /// evicted.
    pub refused_full: u64,
}

impl GuardCounters {
    /// Adds `other` to `self`, field by field.
    pub fn add(&mut self, other: &GuardCounters) {
        self.input_pauses += other.input_pauses;
        self.requests_refused += other.requests_refused;
        self.closed_over_budget += other.closed_over_budget;
        self.closed_stalled += other.closed_stalled;
        self.closed_slow_frames += other.closed_slow_frames;
        self.closed_handshake_timeout += other.closed_handshake_timeout;
        self.refused_per_ip += other.refused_per_ip;
        self.evicted += other.evicted;
        self.refused_full += other.refused_full;
    }
}
