//! Per-thread counters, error tallies and the latency histogram. Each
//! worker owns its own and they are merged once at the end, so the hot path
//! never touches shared memory.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Why a connection ended badly (a churn disconnect or the end of the run
/// is not an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `connect` was refused (nothing listening, or the backlog is full).
    ConnectRefused,
    /// `connect` failed otherwise or timed out (`--connect-timeout`).
    ConnectFailed,
    /// The peer closed, timed out or sent a bad or foreign handshake before
    /// the handshake completed.
    HandshakeFailed,
    /// The peer closed or reset the connection after the handshake.
    ClosedByPeer,
    /// The peer broke the protocol (bad message, wrong block length, ...).
    ProtocolError,
    /// Any other socket error.
    IoError,
}

impl ErrorKind {
    /// Every kind, in report order.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::ConnectRefused,
        ErrorKind::ConnectFailed,
        ErrorKind::HandshakeFailed,
        ErrorKind::ClosedByPeer,
        ErrorKind::ProtocolError,
        ErrorKind::IoError,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "connect_refused",
            ErrorKind::ConnectFailed => "connect_failed",
            ErrorKind::HandshakeFailed => "handshake_failed",
            ErrorKind::ClosedByPeer => "closed_by_peer",
            ErrorKind::ProtocolError => "protocol_error",
            ErrorKind::IoError => "io_error",
        }
    }

    fn index(self) -> usize {
        match self {
            ErrorKind::ConnectRefused => 0,
            ErrorKind::ConnectFailed => 1,
            ErrorKind::HandshakeFailed => 2,
            ErrorKind::ClosedByPeer => 3,
            ErrorKind::ProtocolError => 4,
            ErrorKind::IoError => 5,
        }
    }
}

/// Error counts by kind, with the first message seen of each kind (so a
/// report says *what* went wrong, not only how often).
#[derive(Clone, Debug, Default)]
pub struct Errors {
    counts: [u64; 6],
    samples: [Option<String>; 6],
}

impl Errors {
    /// Counts one error of `kind`; `detail` is kept if it is the first.
    pub fn add(&mut self, kind: ErrorKind, detail: impl FnOnce() -> String) {
        let i = kind.index();
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        if let Some(s) = self.samples.get_mut(i) {
            if s.is_none() {
                *s = Some(detail());
            }
        }
    }

    /// How many errors of `kind`.
    pub fn count(&self, kind: ErrorKind) -> u64 {
        self.counts.get(kind.index()).copied().unwrap_or(0)
    }

    /// The first message seen for `kind`.
    pub fn sample(&self, kind: ErrorKind) -> Option<&str> {
        self.samples.get(kind.index())?.as_deref()
    }

    /// All errors.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s counts (keeping this one's samples where present).
    pub fn merge(&mut self, other: &Errors) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (a, b) in self.samples.iter_mut().zip(&other.samples) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
    }
}

/// Event counters of the load run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Bytes read from sockets (everything: handshakes, headers, blocks).
    pub wire_bytes: u64,
    /// Block payload bytes received (the throughput figure).
    pub data_bytes: u64,
    /// Blocks received.
    pub blocks: u64,
    /// Requests sent.
    pub requests: u64,
    /// `reject request` messages received (BEP 6).
    pub rejects: u64,
    /// `choke` messages received.
    pub chokes: u64,
    /// `unchoke` messages received.
    pub unchokes: u64,
    /// Keep-alives received.
    pub keepalives: u64,
    /// Blocks that matched no outstanding request (duplicates, or served
    /// after a choke moved their request back to the queue and it was sent
    /// again). Counted in `data_bytes`, otherwise ignored.
    pub unexpected_blocks: u64,
    /// Pieces whose every block arrived.
    pub pieces_completed: u64,
    /// Completed pieces whose SHA-1 matched (with `--verify`).
    pub pieces_verified: u64,
    /// Completed pieces whose SHA-1 did not match (with `--verify`).
    pub hash_failures: u64,
    /// Connections attempted.
    pub connect_attempts: u64,
    /// Connections established.
    pub connects: u64,
    /// Handshakes completed with the right info-hash.
    pub handshakes: u64,
    /// Connections closed on purpose by `--churn`.
    pub churned: u64,
}

impl Counters {
    /// Adds `o` field by field.
    pub fn merge(&mut self, o: &Counters) {
        let Counters {
            wire_bytes,
            data_bytes,
            blocks,
            requests,
            rejects,
            chokes,
            unchokes,
            keepalives,
            unexpected_blocks,
            pieces_completed,
            pieces_verified,
            hash_failures,
            connect_attempts,
            connects,
            handshakes,
            churned,
        } = o;
        self.wire_bytes += wire_bytes;
        self.data_bytes += data_bytes;
        self.blocks += blocks;
        self.requests += requests;
        self.rejects += rejects;
        self.chokes += chokes;
        self.unchokes += unchokes;
        self.keepalives += keepalives;
        self.unexpected_blocks += unexpected_blocks;
        self.pieces_completed += pieces_completed;
        self.pieces_verified += pieces_verified;
        self.hash_failures += hash_failures;
        self.connect_attempts += connect_attempts;
        self.connects += connects;
        self.handshakes += handshakes;
        self.churned += churned;
    }
}

/// How deep the request pipelines were: every unchoked peer sampled on
/// each worker tick (4 times a second) of the measured part of the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DepthStats {
    /// Sum of the requests in flight over all samples.
    pub in_flight_sum: u64,
    /// Sum of the target depths over all samples.
    pub target_sum: u64,
    /// Samples taken (peers x ticks).
    pub samples: u64,
    /// Most requests in flight seen on one peer.
    pub in_flight_max: u64,
    /// Deepest target seen on one peer.
    pub target_max: u64,
    /// Shallowest target seen on one peer.
    pub target_min: Option<u64>,
    /// Smallest and largest `reqq` seeders advertised (none: not seen).
    pub seeder_reqq: Option<(u32, u32)>,
}

impl DepthStats {
    /// Records one peer's pipeline at one tick.
    pub fn sample(&mut self, in_flight: u64, target: u64) {
        self.in_flight_sum += in_flight;
        self.target_sum += target;
        self.samples += 1;
        self.in_flight_max = self.in_flight_max.max(in_flight);
        self.target_max = self.target_max.max(target);
        self.target_min = Some(self.target_min.map_or(target, |m| m.min(target)));
    }

    /// Records a `reqq` a seeder advertised.
    pub fn seeder_reqq(&mut self, reqq: u32) {
        self.seeder_reqq = Some(match self.seeder_reqq {
            None => (reqq, reqq),
            Some((lo, hi)) => (lo.min(reqq), hi.max(reqq)),
        });
    }

    /// Adds `o` into this one.
    pub fn merge(&mut self, o: &DepthStats) {
        self.in_flight_sum += o.in_flight_sum;
        self.target_sum += o.target_sum;
        self.samples += o.samples;
        self.in_flight_max = self.in_flight_max.max(o.in_flight_max);
        self.target_max = self.target_max.max(o.target_max);
        self.target_min = match (self.target_min, o.target_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some((lo, hi)) = o.seeder_reqq {
            self.seeder_reqq(lo);
            self.seeder_reqq(hi);
        }
    }

    /// Forgets the samples (end of the warm-up); the seeders' `reqq` stays.
    pub fn reset_samples(&mut self) {
        *self = DepthStats {
            seeder_reqq: self.seeder_reqq,
            ..DepthStats::default()
        };
    }
}

/// Largest latency the histogram tracks: one hour in microseconds (longer
/// values are clamped, which no run this tool makes can produce).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant digits (HDR: about
/// 0.1% error at any magnitude, fixed memory, cheap to record and merge).
#[allow(clippy::expect_used)] // constant, valid bounds (a unit test builds it)
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// Everything one worker thread counted.
#[derive(Clone, Debug)]
pub struct ThreadStats {
    /// Event counters.
    pub counters: Counters,
    /// Errors by kind.
    pub errors: Errors,
    /// Request-to-block latency, microseconds.
    pub latency: Histogram<u64>,
    /// Pipeline depths.
    pub depth: DepthStats,
}

impl Default for ThreadStats {
    fn default() -> ThreadStats {
        ThreadStats {
            counters: Counters::default(),
            errors: Errors::default(),
            latency: new_histogram(),
            depth: DepthStats::default(),
        }
    }
}

impl ThreadStats {
    /// Records one latency sample (clamped to the histogram's range).
    pub fn record_latency_us(&mut self, us: u64) {
        let _ = self.latency.record(us.clamp(1, MAX_LATENCY_US));
    }

    /// Adds `o` into this one.
    pub fn merge(&mut self, o: &ThreadStats) {
        self.counters.merge(&o.counters);
        self.errors.merge(&o.errors);
        let _ = self.latency.add(&o.latency);
        self.depth.merge(&o.depth);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_count_and_keep_first_sample() {
        let mut e = Errors::default();
        e.add(ErrorKind::ClosedByPeer, || "first".into());
        e.add(ErrorKind::ClosedByPeer, || "second".into());
        let mut f = Errors::default();
        f.add(ErrorKind::ClosedByPeer, || "other".into());
        f.add(ErrorKind::ProtocolError, || "bad".into());
        e.merge(&f);
        assert_eq!(e.count(ErrorKind::ClosedByPeer), 3);
        assert_eq!(e.sample(ErrorKind::ClosedByPeer), Some("first"));
        assert_eq!(e.sample(ErrorKind::ProtocolError), Some("bad"));
        assert_eq!(e.total(), 4);
        let names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), 6);
    }

    #[test]
    fn stats_merge_adds_everything() {
        let mut a = ThreadStats::default();
        a.counters.data_bytes = 10;
        a.record_latency_us(100);
        let mut b = ThreadStats::default();
        b.counters.data_bytes = 5;
        b.counters.churned = 1;
        b.record_latency_us(0);
        b.record_latency_us(u64::MAX);
        a.merge(&b);
        assert_eq!(a.counters.data_bytes, 15);
        assert_eq!(a.counters.churned, 1);
        assert_eq!(a.latency.len(), 3);
        assert!(a.latency.max() >= MAX_LATENCY_US - MAX_LATENCY_US / 500);
    }

    #[test]
    fn depth_samples_merge() {
        let mut a = DepthStats::default();
        a.sample(10, 20);
        a.seeder_reqq(250);
        let mut b = DepthStats::default();
        b.sample(30, 40);
        b.seeder_reqq(2000);
        a.merge(&b);
        assert_eq!((a.in_flight_sum, a.target_sum, a.samples), (40, 60, 2));
        assert_eq!(
            (a.in_flight_max, a.target_max, a.target_min),
            (30, 40, Some(20))
        );
        assert_eq!(a.seeder_reqq, Some((250, 2000)));
        a.reset_samples();
        assert_eq!(a.samples, 0);
        assert_eq!(a.seeder_reqq, Some((250, 2000)));
    }
}
