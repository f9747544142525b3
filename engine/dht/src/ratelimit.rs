//! Per-source query rate limit: a token bucket per IP address.
//!
//! A DHT node answers strangers, so one address must not be able to make
//! us send unbounded replies (amplification) or churn the routing table.
//! Each IP gets `burst` queries at once and `per_sec` sustained; the map is
//! bounded by `max_sources` (idle, refilled entries are forgotten first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

const MILLI: u64 = 1000;

/// The limiter.
#[derive(Clone, Debug)]
pub struct RateLimiter {
    per_sec: u64,
    burst: u64,
    max_sources: usize,
    map: HashMap<IpAddr, (u64, Instant)>,
}

impl RateLimiter {
    /// `per_sec` queries a second sustained, `burst` at once, per IP.
    pub fn new(per_sec: u32, burst: u32, max_sources: usize) -> RateLimiter {
        RateLimiter {
            per_sec: u64::from(per_sec.max(1)),
            burst: u64::from(burst.max(1)),
            max_sources: max_sources.max(1),
            map: HashMap::new(),
        }
    }

    fn refill(&self, level: u64, last: Instant, now: Instant) -> u64 {
        let ms = u64::try_from(now.saturating_duration_since(last).as_millis()).unwrap_or(u64::MAX);
        level
            .saturating_add(ms.saturating_mul(self.per_sec))
            .min(self.burst * MILLI)
    }

    /// Whether a query from `ip` at `now` is within its budget (and spends it).
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if !self.map.contains_key(&ip) && self.map.len() >= self.max_sources {
            let full = self.burst * MILLI;
            let (per_sec, burst) = (self.per_sec, self.burst);
            self.map.retain(|_, (level, last)| {
                let ms = u64::try_from(now.saturating_duration_since(*last).as_millis())
                    .unwrap_or(u64::MAX);
                level
                    .saturating_add(ms.saturating_mul(per_sec))
                    .min(burst * MILLI)
                    < full
            });
            if self.map.len() >= self.max_sources {
                if let Some(k) = self.map.keys().next().copied() {
                    self.map.remove(&k);
                }
            }
        }
        let (level, last) = self
            .map
            .get(&ip)
            .copied()
            .unwrap_or((self.burst * MILLI, now));
        let level = self.refill(level, last, now);
        let (level, ok) = if level >= MILLI {
            (level - MILLI, true)
        } else {
            (level, false)
        };
        self.map.insert(ip, (level, now));
        ok
    }

    /// Number of sources tracked.
    #[cfg(test)]
    pub fn sources(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(2, 5, 100);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!((0..10).filter(|_| r.allow(ip, t0)).count(), 5);
        assert!(r.allow(other, t0), "other sources unaffected");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..10).filter(|_| r.allow(ip, t1)).count(), 2);
    }

    #[test]
    fn bounded_number_of_sources() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, 1, 10);
        for i in 0..100u8 {
            r.allow(IpAddr::from([10, 0, 1, i]), t0);
        }
        assert!(r.sources() <= 10);
    }
}
