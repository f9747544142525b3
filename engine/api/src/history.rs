//! The last ten minutes of upload, one sample a second, for the status
//! page's chart (`GET /api/v1/history`).
//!
//! A fixed ring: 600 samples of a handful of numbers each, however long
//! the node runs. It is filled on the API thread from the status snapshot
//! the control core publishes every second, so it costs the shards
//! nothing.

use std::collections::VecDeque;

use serde::Serialize;

use seedcore_runtime::StatusReport;

/// Samples kept: ten minutes at one a second.
pub const SAMPLES: usize = 600;

/// One second of the node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// Bytes written per second, all shards.
    pub upload_rate: f64,
    /// Connections open.
    pub peers: u32,
    /// Bytes written per second, per shard.
    pub shards: Vec<f64>,
}

/// The ring.
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
    last_uptime: Option<u64>,
}

impl History {
    /// Adds the sample of `r`, unless it is the one added last (the
    /// snapshot is published once a second; the sampler may look more
    /// often).
    pub fn record(&mut self, r: &StatusReport) {
        // Uptime tells snapshots apart within one second of wall-clock
        // time.
        let stamp = r.uptime.to_bits();
        if self.last_uptime == Some(stamp) {
            return;
        }
        self.last_uptime = Some(stamp);
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            time: r.time,
            upload_rate: r.upload_rate,
            peers: r.peers,
            shards: r.shards.iter().map(|s| s.upload_rate).collect(),
        });
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.iter().cloned().collect()
    }

    /// How many samples are kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is no sample yet.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(secs: u64, rate: f64) -> StatusReport {
        StatusReport {
            time: 1_000 + secs,
            uptime: secs as f64,
            peers: 1,
            upload_rate: rate,
            ..StatusReport::default()
        }
    }

    #[test]
    fn keeps_ten_minutes_and_skips_repeats() {
        let mut h = History::default();
        let r = report(1, 5.0);
        h.record(&r);
        h.record(&r);
        assert_eq!(h.len(), 1, "the same snapshot twice is one sample");
        for i in 2..(SAMPLES as u64 + 50) {
            h.record(&report(i, i as f64));
        }
        assert_eq!(h.len(), SAMPLES);
        let s = h.samples();
        assert_eq!(s.last().unwrap().upload_rate, (SAMPLES + 49) as f64);
        assert_eq!(s.first().unwrap().upload_rate, 50.0, "oldest dropped first");
    }
}
