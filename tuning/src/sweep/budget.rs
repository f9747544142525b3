//! Splitting the time budget across points.
//!
//! The sweep must end at its budget whatever happens, and a point measured
//! for a few hundred milliseconds says more about start-up than about the
//! settings. So the split is re-done before every point from the time that
//! is actually left: the next point gets an equal share of it, less the
//! overhead one point has been seen to cost beside its load (starting the
//! seed, the readiness probe, stopping it; the first point also verifies
//! the data). When even [`MIN_LOAD`] no longer fits, the remaining points
//! are skipped and reported as such. A slow start-up therefore shortens the
//! later points a little instead of overrunning the budget.
//!
//! Shares are planned against the budget less a [`tail_reserve`]: a point
//! that overruns (a load generator slow to close 64 sockets while the seed
//! holds both cores) eats into the next point's share, but the last point
//! has nobody after it, and without the reserve it would be killed at the
//! deadline instead of reporting.

use std::time::Duration;

/// The shortest load a point is run with; below it, it is skipped.
pub const MIN_LOAD: Duration = Duration::from_secs(1);

/// The longest warm-up: connections are set up and the page cache is warm
/// well within it.
pub const MAX_WARMUP: Duration = Duration::from_secs(2);

/// Durations are handed out in steps of this (tidy figures in the table).
const STEP_MS: u128 = 100;

/// The time one point runs the load generator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Load before measuring (`seedcore-bench load --warmup`): connects,
    /// unchokes and the first requests are not counted.
    pub warmup: Duration,
    /// Measured load (`--duration`).
    pub measure: Duration,
}

impl Slot {
    /// Warm-up plus measurement.
    pub fn load(&self) -> Duration {
        self.warmup.saturating_add(self.measure)
    }
}

/// Rounds down to a multiple of [`STEP_MS`].
fn round_down(d: Duration) -> Duration {
    let ms = d.as_millis() / STEP_MS * STEP_MS;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The next point's slot, with `remaining` time left for `points_left`
/// points (this one included) that each cost `overhead` beside their load:
/// an equal share, or [`MIN_LOAD`] when the share is shorter but the
/// minimum still fits (the points after it are then skipped), or `None`
/// when not even that fits. A fifth of the load, at most [`MAX_WARMUP`],
/// is warm-up.
pub fn slot(remaining: Duration, points_left: usize, overhead: Duration) -> Option<Slot> {
    let n = u32::try_from(points_left.max(1)).unwrap_or(u32::MAX);
    let share = (remaining / n).saturating_sub(overhead);
    let load = if share >= MIN_LOAD {
        round_down(share)
    } else if remaining >= MIN_LOAD.saturating_add(overhead) {
        MIN_LOAD
    } else {
        return None;
    };
    let warmup = round_down((load / 5).min(MAX_WARMUP));
    Some(Slot {
        warmup,
        measure: load.saturating_sub(warmup),
    })
}

/// The end of the budget kept free when planning: a twentieth of it,
/// between 250 ms and 3 s.
pub fn tail_reserve(budget: Duration) -> Duration {
    (budget / 20).clamp(Duration::from_millis(250), Duration::from_secs(3))
}

/// How many of `points` fit in `budget` at [`MIN_LOAD`] each with
/// `overhead`: to warn up front that some will be skipped.
pub fn points_that_fit(budget: Duration, points: usize, overhead: Duration) -> usize {
    let per = MIN_LOAD.saturating_add(overhead).as_millis().max(1);
    let fit = budget.as_millis() / per;
    usize::try_from(fit).unwrap_or(usize::MAX).min(points)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn equal_shares_less_overhead() {
        // 120 s for 12 points at 1 s overhead: 9 s of load each.
        let s = slot(S(120), 12, S(1)).unwrap();
        assert_eq!(s.load(), S(9));
        assert_eq!(s.warmup, Duration::from_millis(1800));
        assert_eq!(s.measure, Duration::from_millis(7200));
        // Long points: warm-up capped.
        let s = slot(S(600), 2, S(1)).unwrap();
        assert_eq!(s.warmup, MAX_WARMUP);
        assert_eq!(s.measure, S(297));
    }

    #[test]
    fn short_budget_runs_what_fits_at_the_minimum() {
        // 5 s for 10 points: each share is too short, but one point fits.
        let s = slot(S(5), 10, S(1)).unwrap();
        assert_eq!(s.load(), MIN_LOAD);
        assert_eq!(s.warmup, Duration::from_millis(200));
        assert_eq!(slot(Duration::from_millis(1900), 3, S(1)), None);
        assert_eq!(points_that_fit(S(5), 10, S(1)), 2);
        assert_eq!(points_that_fit(S(120), 8, S(1)), 8);
        assert_eq!(points_that_fit(S(1), 8, S(1)), 0);
    }

    #[test]
    fn tail_reserve_scales_within_bounds() {
        assert_eq!(tail_reserve(S(120)), S(3));
        assert_eq!(tail_reserve(S(600)), S(3));
        assert_eq!(tail_reserve(S(20)), S(1));
        assert_eq!(tail_reserve(S(2)), Duration::from_millis(250));
    }

    #[test]
    fn rounded_to_tenths() {
        let s = slot(Duration::from_millis(10_555), 3, Duration::ZERO).unwrap();
        assert_eq!(s.load(), Duration::from_millis(3500));
    }

    proptest! {
        /// Whatever the figures, a granted slot plus its overhead never
        /// exceeds the time left, and is never below the minimum.
        #[test]
        fn never_overruns(rem_ms in 0u64..1_000_000, left in 0usize..500, over_ms in 0u64..20_000) {
            let (rem, over) = (Duration::from_millis(rem_ms), Duration::from_millis(over_ms));
            if let Some(s) = slot(rem, left, over) {
                prop_assert!(s.load() + over <= rem);
                prop_assert!(s.load() >= MIN_LOAD);
                prop_assert!(s.warmup <= MAX_WARMUP);
            } else {
                prop_assert!(rem < MIN_LOAD + over);
            }
        }
    }
}
