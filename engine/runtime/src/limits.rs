//! Upload rate limits: token buckets whose budget is shared between the
//! shards by demand.
//!
//! # Design
//!
//! One [`SharedBucket`] per limit (the node's, and one per torrent that has
//! its own) holds the tokens (bytes) all shards may still send. It is
//! refilled lazily, from the time elapsed, by whichever shard grabs from it
//! (up to a burst of [`BURST`] worth of the rate): the first version had
//! the control core refill it every loop turn, as design rule 11 suggests,
//! and measured 5-6 % under the limit, because on a busy machine that
//! thread is sometimes off the CPU for longer than the burst. A shard never
//! takes tokens one block at a time from it: each shard keeps a local
//! [`LocalBucket`] and, when that runs dry, grabs a *chunk* (a few
//! milliseconds' worth of the rate) from the shared pool with one atomic
//! compare-and-swap. So the budget goes wherever the demand is (a shard
//! with many fast peers grabs many chunks, an idle one none), the serving
//! path touches shared memory once per chunk, not per block, and no shard
//! ever waits for another (design.md rule 11: shard-local buckets refilled
//! from a global budget).
//!
//! A block is sent when the local bucket is positive and may take it below
//! zero (the debt is paid from the next chunk), so a limit below one block
//! per refill still moves data, and the long-run rate is exact. A
//! connection that finds no tokens parks until the shard's next throttle
//! tick (every [`THROTTLE_TICK`] while anyone waits).
//!
//! Changing a limit is one atomic store: serving threads see it at their
//! next grab.

use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How much of one second's rate the shared pool can hold: the burst a
/// limit allows after an idle spell.
pub(crate) const BURST: Duration = Duration::from_millis(100);

/// How often a shard with throttled connections wakes them to try again.
pub(crate) const THROTTLE_TICK: Duration = Duration::from_millis(5);

/// Smallest chunk a shard grabs at once (one block).
const MIN_CHUNK: i64 = 16 << 10;
/// Largest chunk a shard grabs at once.
const MAX_CHUNK: i64 = 1 << 20;

/// A pool of tokens shared by every shard.
#[derive(Debug, Default)]
pub struct SharedBucket {
    /// Bytes per second; 0 = unlimited.
    rate: AtomicU64,
    /// Bytes that may still be sent (may go below zero by a chunk's debt).
    tokens: AtomicI64,
    /// When tokens were last added, in nanoseconds of [`now_ns`].
    stamp: AtomicU64,
}

impl SharedBucket {
    /// A bucket for `rate` bytes per second (0: unlimited), starting full.
    pub fn new(rate: u64) -> SharedBucket {
        let b = SharedBucket::default();
        b.set_rate(rate);
        b
    }

    /// The limit in bytes per second (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Changes the limit; the pool is trimmed to the new burst.
    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
        let cap = burst(rate);
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(if rate == 0 { 0 } else { t.min(cap) })
            });
    }

    /// Adds the tokens earned since the last refill, up to the burst.
    /// Whoever grabs calls it: `fetch_max` on the stamp hands every
    /// nanosecond to exactly one caller, so shards refilling at once
    /// neither lose nor double any time, and no loop's timing (a control
    /// thread descheduled for a while) can starve the bucket.
    ///
    /// The stamp advances only by the time the whole bytes added stand
    /// for, so the fraction of a byte earned by a call microseconds after
    /// the last one is not thrown away (with connections asking thousands
    /// of times a second, dropping those fractions lost 10-30 % of a low
    /// limit).
    fn refill_to(&self, now: u64) {
        let rate = self.rate();
        if rate == 0 {
            return;
        }
        let mut add = 0i64;
        let claimed = self
            .stamp
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                if now <= last {
                    return None;
                }
                let bytes = u128::from(rate) * u128::from(now - last) / 1_000_000_000;
                if bytes == 0 {
                    return None;
                }
                // The burst cap bounds what one refill can add.
                let bytes = bytes.min(burst(rate).unsigned_abs().into());
                add = i64::try_from(bytes).unwrap_or(i64::MAX);
                let spent =
                    u64::try_from(bytes * 1_000_000_000 / u128::from(rate)).unwrap_or(u64::MAX);
                // Past an idle spell longer than the burst, the rest is gone.
                Some(
                    if bytes < u128::from(rate) * u128::from(now - last) / 1_000_000_000 {
                        now
                    } else {
                        last.saturating_add(spent).min(now)
                    },
                )
            });
        if claimed.is_err() {
            return;
        }
        let cap = burst(rate);
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(add).min(cap))
            });
    }

    /// Takes up to one chunk of tokens at time `now`; returns how many (0
    /// when empty).
    fn grab(&self, now: u64) -> i64 {
        self.refill_to(now);
        let want = chunk(self.rate());
        let mut got = 0;
        let _ = self
            .tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                if t <= 0 {
                    got = 0;
                    None
                } else {
                    got = t.min(want);
                    Some(t - got)
                }
            });
        got
    }
}

/// Nanoseconds since the first call in this process (a monotonic clock
/// all shards share).
fn now_ns() -> u64 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let e = EPOCH.get_or_init(std::time::Instant::now);
    u64::try_from(e.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The burst a rate allows.
fn burst(rate: u64) -> i64 {
    let b = u128::from(rate) * BURST.as_nanos() / 1_000_000_000;
    i64::try_from(b.min(i64::MAX as u128))
        .unwrap_or(i64::MAX)
        .max(2 * chunk(rate))
}

/// How much a shard grabs at once: about 2 ms of the rate, at least a
/// block, at most 1 MiB.
fn chunk(rate: u64) -> i64 {
    i64::try_from(rate / 500)
        .unwrap_or(MAX_CHUNK)
        .clamp(MIN_CHUNK, MAX_CHUNK)
}

/// A shard's view of one [`SharedBucket`]: the tokens it grabbed and has
/// not spent yet. Lives on the shard's thread only.
#[derive(Debug)]
pub(crate) struct LocalBucket {
    shared: Arc<SharedBucket>,
    local: Cell<i64>,
}

impl LocalBucket {
    pub(crate) fn new(shared: Arc<SharedBucket>) -> LocalBucket {
        LocalBucket {
            shared,
            local: Cell::new(0),
        }
    }

    /// Whether a send may start now (the bucket is unlimited, or has
    /// tokens, grabbing a chunk if the local ones ran out).
    pub(crate) fn ready(&self) -> bool {
        if self.shared.rate() == 0 {
            return true;
        }
        self.ready_at(now_ns())
    }

    /// [`Self::ready`] at time `now` (tests run it on virtual time).
    fn ready_at(&self, now: u64) -> bool {
        if self.shared.rate() == 0 || self.local.get() > 0 {
            return true;
        }
        let got = self.shared.grab(now);
        self.local.set(self.local.get() + got);
        self.local.get() > 0
    }

    /// Counts `n` bytes sent (may leave a debt).
    pub(crate) fn spend(&self, n: u64) {
        if self.shared.rate() == 0 {
            self.local.set(0);
            return;
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.local.set(self.local.get().saturating_sub(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Virtual time: four shards that always want to send, looking every
    /// millisecond for 10 s (after a first look at 1 s, which finds a full
    /// burst), send the limit's worth: 10 s of it plus that burst.
    #[test]
    fn long_run_rate_is_the_limit() {
        for rate in [50_000u64, 1 << 20, 100 << 20] {
            let shared = Arc::new(SharedBucket::new(rate));
            let shards: Vec<LocalBucket> = (0..4)
                .map(|_| LocalBucket::new(Arc::clone(&shared)))
                .collect();
            let mut sent = 0u64;
            for step in 0..=10_000u64 {
                let now = 1000 * MS + step * MS;
                for s in &shards {
                    // Each shard sends blocks while it may.
                    while s.ready_at(now) {
                        s.spend(16 << 10);
                        sent += 16 << 10;
                    }
                }
            }
            let expected = rate as f64 * 10.0 + burst(rate) as f64;
            let ratio = sent as f64 / expected;
            assert!(
                (0.98..1.02).contains(&ratio),
                "rate {rate}: sent {sent} in 10 s, {ratio:.4} of the limit"
            );
        }
    }

    /// A connection asking every microsecond (a busy shard) still gets the
    /// whole rate: the fractions of a byte are not thrown away.
    #[test]
    fn asking_often_loses_no_fraction_of_a_byte() {
        let rate = 50_000u64;
        let shared = Arc::new(SharedBucket::new(rate));
        let l = LocalBucket::new(Arc::clone(&shared));
        while l.ready_at(1000 * MS) {
            l.spend(1000);
        }
        let mut sent = 0u64;
        for us in 1..=2_000_000u64 {
            if l.ready_at(1000 * MS + us * 1000) {
                l.spend(1000);
                sent += 1000;
            }
        }
        let ratio = sent as f64 / (rate as f64 * 2.0);
        assert!((0.98..1.02).contains(&ratio), "{ratio:.4}");
    }

    #[test]
    fn shards_looking_at_once_neither_lose_nor_double_time() {
        let rate = 10u64 << 20;
        let shared = Arc::new(SharedBucket::new(rate));
        let a = LocalBucket::new(Arc::clone(&shared));
        let b = LocalBucket::new(Arc::clone(&shared));
        let mut sent = 0u64;
        // Empty the first burst at 1 s.
        while a.ready_at(1000 * MS) {
            a.spend(16 << 10);
        }
        for step in 1..=5000u64 {
            let now = 1000 * MS + step * MS;
            // b's clock reads a little behind a's: no time counted twice.
            for (s, t) in [(&a, now), (&b, now - MS / 2)] {
                while s.ready_at(t) {
                    s.spend(16 << 10);
                    sent += 16 << 10;
                }
            }
        }
        let ratio = sent as f64 / (rate as f64 * 5.0);
        assert!((0.98..1.02).contains(&ratio), "{ratio:.4}");
    }

    #[test]
    fn demand_decides_the_split_and_unlimited_is_free() {
        let shared = Arc::new(SharedBucket::new(1 << 20));
        let busy = LocalBucket::new(Arc::clone(&shared));
        let idle = LocalBucket::new(Arc::clone(&shared));
        let mut busy_sent = 0u64;
        for step in 0..1000u64 {
            while busy.ready_at(1000 * MS + step * MS) {
                busy.spend(16 << 10);
                busy_sent += 16 << 10;
            }
        }
        // The busy shard got (about) the whole second's budget, not half.
        assert!(
            busy_sent as f64 > 0.95 * f64::from(1u32 << 20),
            "{busy_sent}"
        );
        assert!(
            idle.ready_at(2020 * MS),
            "time earned since is there for the other as well"
        );
        let free = SharedBucket::new(0);
        let l = LocalBucket::new(Arc::new(free));
        for _ in 0..1000 {
            assert!(l.ready());
            l.spend(1 << 30);
        }
    }

    #[test]
    fn changing_the_rate_trims_the_pool() {
        let shared = SharedBucket::new(100 << 20);
        shared.refill_to(1000 * MS);
        assert_eq!(shared.tokens.load(Ordering::Relaxed), burst(100 << 20));
        shared.set_rate(1 << 20);
        assert!(shared.tokens.load(Ordering::Relaxed) <= burst(1 << 20));
        shared.set_rate(0);
        assert_eq!(shared.rate(), 0);
    }
}
