//! Whether the run passed: nothing the seed holds grows without bound
//! (the last third of the hostile phase against the first, with slack),
//! and the good leecher never waited longer than its baseline allows.

use serde::Serialize;

use super::sample::Sample;

/// One leecher iteration, as `soak_leech.py` reports it.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct Iteration {
    /// 1, 2, ...
    pub n: u64,
    /// When it started, seconds since the leecher started.
    pub start: f64,
    /// From adding the torrent to the last piece.
    pub seconds: f64,
    /// The longest time without a new piece.
    pub max_stall: f64,
    /// Pieces in the torrent.
    pub pieces: u64,
    /// Pieces found good by the recheck from disk.
    pub recheck_pieces: Option<u64>,
    /// Pieces that failed their hash on arrival.
    pub hash_failures: u64,
    /// Complete, rechecked, no failure.
    pub ok: bool,
    /// What went wrong.
    pub error: Option<String>,
}

/// One check and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// The first third's mean (or the baseline).
    pub first: f64,
    /// The last third's mean (or the worst value).
    pub last: f64,
    /// The most `last` may be.
    pub limit: f64,
    /// Unit of the three numbers.
    pub unit: &'static str,
    /// Whether it passed.
    pub pass: bool,
    /// How it is judged.
    pub note: String,
}

/// How much a resource may grow from the first third to the last.
pub struct Slack {
    /// Allowed growth as a fraction of the first third.
    pub relative: f64,
    /// Allowed growth in the metric's unit, on top.
    pub absolute: f64,
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Growth check of one metric over the samples in `[from, to]`.
pub fn growth(
    samples: &[Sample],
    from: f64,
    to: f64,
    name: &str,
    unit: &'static str,
    slack: &Slack,
    f: impl Fn(&Sample) -> f64,
) -> Check {
    let third = (to - from) / 3.0;
    let pick = |a: f64, b: f64| {
        samples
            .iter()
            .filter(|s| s.t >= a && s.t <= b)
            .map(&f)
            .collect::<Vec<_>>()
    };
    let first = mean(&pick(from, from + third));
    let last = mean(&pick(to - third, to));
    let limit = first * (1.0 + slack.relative) + slack.absolute;
    Check {
        name: name.into(),
        first,
        last,
        limit,
        unit,
        pass: last <= limit,
        note: format!(
            "mean of the last third <= first third x {:.2} + {}",
            1.0 + slack.relative,
            slack.absolute
        ),
    }
}

/// The leecher checks: every iteration verified; none took longer than
/// `ratio` times the slowest baseline iteration; no stall longer than
/// `ratio` times the longest baseline stall (at least 1 s).
pub fn leecher(iters: &[Iteration], baseline_end: f64, ratio: f64) -> Vec<Check> {
    let base: Vec<&Iteration> = iters
        .iter()
        .filter(|i| i.start < baseline_end && i.ok)
        .collect();
    let hostile: Vec<&Iteration> = iters.iter().filter(|i| i.start >= baseline_end).collect();
    let done: Vec<&&Iteration> = hostile
        .iter()
        .filter(|i| i.error.as_deref() != Some("deadline"))
        .collect();
    let base_secs = base.iter().map(|i| i.seconds).fold(0.0, f64::max);
    let base_stall = base
        .iter()
        .map(|i| i.max_stall)
        .fold(0.0, f64::max)
        .max(1.0);
    let worst_secs = done.iter().map(|i| i.seconds).fold(0.0, f64::max);
    let worst_stall = done.iter().map(|i| i.max_stall).fold(0.0, f64::max);
    let failed = done.iter().filter(|i| !i.ok).count();
    vec![
        Check {
            name: "good leecher: iterations verified".into(),
            first: base.len() as f64,
            last: done.len() as f64,
            limit: 0.0,
            unit: "iterations",
            pass: !base.is_empty() && !done.is_empty() && failed == 0,
            note: format!("{} baseline and {} hostile-phase downloads; {failed} failed a piece or the recheck", base.len(), done.len()),
        },
        Check {
            name: "good leecher: download time".into(),
            first: base_secs,
            last: worst_secs,
            limit: base_secs * ratio,
            unit: "s",
            pass: !done.is_empty() && worst_secs <= base_secs * ratio,
            note: format!("slowest hostile-phase download <= slowest baseline download x {ratio}"),
        },
        Check {
            name: "good leecher: longest wait for a piece".into(),
            first: base_stall,
            last: worst_stall,
            limit: base_stall * ratio,
            unit: "s",
            pass: worst_stall <= base_stall * ratio,
            note: format!("longest hostile-phase stall <= longest baseline stall (at least 1 s) x {ratio}"),
        },
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
    use super::*;

    fn samples(f: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..=90)
            .map(|i| {
                let t = f64::from(i);
                Sample {
                    t,
                    anon_kib: f(t),
                    ..Sample::default()
                }
            })
            .collect()
    }

    fn check(s: &[Sample]) -> Check {
        let slack = Slack {
            relative: 0.25,
            absolute: 32.0,
        };
        growth(s, 0.0, 90.0, "heap", "MiB", &slack, |s| {
            s.anon_kib as f64 / 1024.0
        })
    }

    #[test]
    fn flat_or_noisy_memory_passes_and_a_leak_fails() {
        assert!(check(&samples(|_| 100 << 10)).pass);
        assert!(
            check(&samples(|t| (100 << 10)
                + if (t as u64).is_multiple_of(2) {
                    20 << 10
                } else {
                    0
                }))
            .pass
        );
        // 1 MiB a second: 30 MiB to 90 MiB means, a leak.
        let leak = check(&samples(|t| (t as u64) << 10 << 10));
        assert!(!leak.pass, "{leak:?}");
        assert!(leak.last > leak.first);
    }

    fn it(n: u64, start: f64, seconds: f64, ok: bool) -> Iteration {
        Iteration {
            n,
            start,
            seconds,
            max_stall: 0.5,
            pieces: 10,
            recheck_pieces: Some(10),
            hash_failures: 0,
            ok,
            error: None,
        }
    }

    #[test]
    fn the_leecher_must_stay_within_its_baseline() {
        let base = [it(1, 0.0, 2.0, true), it(2, 2.0, 2.5, true)];
        let good: Vec<Iteration> = base
            .iter()
            .cloned()
            .chain([it(3, 10.0, 7.0, true), it(4, 17.0, 3.0, true)])
            .collect();
        assert!(leecher(&good, 5.0, 3.0).iter().all(|c| c.pass));
        let slow: Vec<Iteration> = base
            .iter()
            .cloned()
            .chain([it(3, 10.0, 8.0, true)])
            .collect();
        assert!(!leecher(&slow, 5.0, 3.0)[1].pass, "8 s > 3 x 2.5 s");
        let broken: Vec<Iteration> = base
            .iter()
            .cloned()
            .chain([it(3, 10.0, 2.0, false)])
            .collect();
        assert!(!leecher(&broken, 5.0, 3.0)[0].pass);
        // No download finished in the hostile phase: a failure, not a pass.
        assert!(!leecher(&base, 5.0, 3.0)[0].pass);
    }
}
