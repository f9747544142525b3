//! Choosing the winner.
//!
//! Throughput first: it is what the sweep is for. But two points within a
//! few percent of each other are not told apart by a run of seconds on a
//! shared host (run-to-run noise on loopback is of that order), and the one
//! that needs less CPU per GiB leaves more of the box for interrupts, the
//! page cache and other work, and scales further on a real NIC. So among
//! the points within [`TIE`] of the fastest, the one with the lowest seed
//! CPU per GiB wins.

use std::cmp::Ordering;

use super::{Figures, Point};

/// Points within this fraction of the best throughput count as a tie.
pub const TIE: f64 = 0.03;

/// A point and what it measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// The settings.
    pub point: Point,
    /// The figures.
    pub figures: Figures,
}

/// The index of the best of `results`: the highest throughput, or among
/// those within [`TIE`] of it the lowest seed CPU per GiB (a point without
/// that figure loses such a tie), then the higher throughput, then the
/// earlier point. `None` when there is no usable result.
pub fn best(results: &[Measured]) -> Option<usize> {
    let usable = |m: &Measured| m.figures.gb_s.is_finite() && m.figures.gb_s > 0.0;
    let top = results
        .iter()
        .filter(|m| usable(m))
        .map(|m| m.figures.gb_s)
        .fold(None, |acc: Option<f64>, x| {
            Some(acc.map_or(x, |a| a.max(x)))
        })?;
    let floor = top * (1.0 - TIE);
    let cpu = |m: &Measured| {
        m.figures
            .seed_cpu_s_per_gib
            .filter(|c| c.is_finite())
            .unwrap_or(f64::INFINITY)
    };
    results
        .iter()
        .enumerate()
        .filter(|(_, m)| usable(m) && m.figures.gb_s >= floor)
        .min_by(|(ia, a), (ib, b)| {
            cpu(a)
                .partial_cmp(&cpu(b))
                .unwrap_or(Ordering::Equal)
                .then_with(|| {
                    b.figures
                        .gb_s
                        .partial_cmp(&a.figures.gb_s)
                        .unwrap_or(Ordering::Equal)
                })
                .then_with(|| ia.cmp(ib))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(shards: usize, gb_s: f64, cpu: Option<f64>) -> Measured {
        Measured {
            point: Point {
                shards,
                reqq: 250,
                send_path: "writev".into(),
            },
            figures: Figures {
                gb_s,
                seed_cpu_s_per_gib: cpu,
                ..Figures::default()
            },
        }
    }

    #[test]
    fn fastest_wins_outside_the_tie_band() {
        let r = [
            m(1, 3.0, Some(0.2)),
            m(2, 4.0, Some(0.5)),
            m(3, 3.5, Some(0.1)),
        ];
        assert_eq!(best(&r), Some(1));
    }

    #[test]
    fn within_three_percent_the_cheaper_wins() {
        // 3.9 is within 3% of 4.0 (floor 3.88); 3.85 is not.
        let r = [
            m(1, 4.0, Some(0.5)),
            m(2, 3.9, Some(0.3)),
            m(3, 3.85, Some(0.1)),
        ];
        assert_eq!(best(&r), Some(1));
    }

    #[test]
    fn missing_cpu_loses_a_tie_and_equal_cpu_goes_to_the_faster() {
        let r = [m(1, 4.0, None), m(2, 3.95, Some(0.9))];
        assert_eq!(best(&r), Some(1));
        let r = [m(1, 3.95, Some(0.4)), m(2, 4.0, Some(0.4))];
        assert_eq!(best(&r), Some(1));
        let r = [m(1, 4.0, Some(0.4)), m(2, 4.0, Some(0.4))];
        assert_eq!(best(&r), Some(0), "earlier point");
    }

    #[test]
    fn nothing_usable() {
        assert_eq!(best(&[]), None);
        assert_eq!(best(&[m(1, 0.0, Some(0.1)), m(2, f64::NAN, None)]), None);
        assert_eq!(best(&[m(1, f64::NAN, None), m(2, 1.0, None)]), Some(1));
    }
}
