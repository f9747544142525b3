//! One-way delay histories: LEDBAT's base delay and current delay.
//!
//! uTP cannot measure a one-way delay directly (the clocks differ by an
//! unknown offset), but the *change* of `their receive time - our send
//! time` is the queueing delay. So the base is the smallest sample seen
//! over the last minutes (one minimum per minute, 13 minutes, as libutp's
//! `DELAY_BASE_HISTORY`), and the delay is a sample minus that base.
//! Old minutes fall out so that a route change that lengthens the path
//! is not read as queueing for ever.

use std::time::{Duration, Instant};

use crate::seq::ts_lt;

const MINUTES: usize = 13;
const STEP: Duration = Duration::from_secs(60);

/// Base-delay history over wrapping microsecond samples.
#[derive(Clone, Debug)]
pub(crate) struct DelayHistory {
    base: u32,
    minutes: [u32; MINUTES],
    index: usize,
    step_at: Option<Instant>,
}

impl DelayHistory {
    pub(crate) fn new() -> DelayHistory {
        DelayHistory {
            base: 0,
            minutes: [0; MINUTES],
            index: 0,
            step_at: None,
        }
    }

    /// Whether any sample was added.
    pub(crate) fn initialized(&self) -> bool {
        self.step_at.is_some()
    }

    /// The current base.
    pub(crate) fn base(&self) -> u32 {
        self.base
    }

    /// Adds a sample; returns it less the base.
    pub(crate) fn add(&mut self, now: Instant, sample: u32) -> u32 {
        let Some(step_at) = self.step_at else {
            self.base = sample;
            self.minutes = [sample; MINUTES];
            self.step_at = Some(now + STEP);
            return 0;
        };
        if now >= step_at {
            self.index = (self.index + 1) % MINUTES;
            if let Some(m) = self.minutes.get_mut(self.index) {
                *m = sample;
            }
            self.step_at = Some(now + STEP);
            self.base = self
                .minutes
                .iter()
                .copied()
                .fold(sample, |b, m| if ts_lt(m, b) { m } else { b });
        } else if let Some(m) = self.minutes.get_mut(self.index) {
            if ts_lt(sample, *m) {
                *m = sample;
            }
        }
        if ts_lt(sample, self.base) {
            self.base = sample;
        }
        sample.wrapping_sub(self.base)
    }

    /// Moves the base up by `by` microseconds (clock drift compensation:
    /// when the other direction's base drops, our clock runs slower than
    /// theirs and our samples drift up without any queueing).
    pub(crate) fn shift(&mut self, by: u32) {
        self.base = self.base.wrapping_add(by);
        for m in &mut self.minutes {
            *m = m.wrapping_add(by);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_the_minimum_and_ages_out() {
        let t0 = Instant::now();
        let mut h = DelayHistory::new();
        assert_eq!(h.add(t0, 1000), 0);
        assert_eq!(h.add(t0, 1500), 500);
        assert_eq!(h.add(t0, 900), 0);
        assert_eq!(h.add(t0, 1000), 100);
        // 14 minutes of samples no lower than 2000: the 900 ages out.
        for m in 1..=14 {
            h.add(t0 + STEP * m + Duration::from_millis(1), 2000);
        }
        assert_eq!(h.base(), 2000);
    }

    #[test]
    fn wraps() {
        let t0 = Instant::now();
        let mut h = DelayHistory::new();
        h.add(t0, u32::MAX - 10);
        assert_eq!(h.add(t0, 5), 16);
    }
}
