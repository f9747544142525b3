//! Round-trip time and the retransmission timeout (RFC 6298 smoothing,
//! with Karn's rule applied by the caller: only packets sent once give a
//! sample).

use std::time::Duration;

/// Timeouts never exceed a minute.
const MAX_RTO: Duration = Duration::from_secs(60);

/// The timeout before the first sample (BEP 29 and libtorrent: 1 s for
/// data; SYNs use a 3 s timeout of their own).
const INITIAL_RTO: Duration = Duration::from_secs(1);

/// Smoothed RTT and its variation, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rtt {
    srtt: u32,
    rttvar: u32,
    samples: u32,
}

impl Rtt {
    pub(crate) fn sample(&mut self, rtt: Duration) {
        let r = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
        if self.samples == 0 {
            self.srtt = r;
            self.rttvar = r / 2;
        } else {
            let delta = self.srtt.abs_diff(r);
            self.rttvar = self.rttvar - self.rttvar / 4 + delta / 4;
            self.srtt = self.srtt - self.srtt / 8 + r / 8;
        }
        self.samples = self.samples.saturating_add(1);
    }

    /// The smoothed RTT, if measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        (self.samples > 0).then(|| Duration::from_micros(u64::from(self.srtt)))
    }

    /// The timeout for a packet sent now, after `backoff` consecutive
    /// timeouts (each doubles it).
    pub(crate) fn rto(&self, min: Duration, backoff: u8) -> Duration {
        let base = if self.samples == 0 {
            INITIAL_RTO
        } else {
            Duration::from_micros(u64::from(self.srtt) + 4 * u64::from(self.rttvar))
        };
        let base = base.max(min);
        base.saturating_mul(1 << backoff.min(8)).min(MAX_RTO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooths_and_backs_off() {
        let mut r = Rtt::default();
        let min = Duration::from_millis(500);
        assert_eq!(r.rto(min, 0), Duration::from_secs(1));
        r.sample(Duration::from_millis(100));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        // 100 + 4 * 50 ms = 300 ms, below the floor.
        assert_eq!(r.rto(min, 0), min);
        r.sample(Duration::from_millis(900));
        assert_eq!(r.srtt(), Some(Duration::from_millis(200)));
        assert!(r.rto(min, 0) > Duration::from_millis(500));
        assert_eq!(r.rto(min, 20), MAX_RTO);
    }
}
