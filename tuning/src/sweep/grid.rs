//! The points of a sweep: every combination of the axes.

use std::fmt;

use super::SweepError;

/// Most points in one sweep: 256 points at the 1 s minimum is already a
/// budget of several minutes, and a grid that large is a typo.
pub const MAX_POINTS: usize = 256;

/// The seed's bound on `reqq` (`seedcore_runtime::Config::validate`).
pub const MAX_REQQ: u32 = 100_000;

/// The seed's bound on `shards` (`seedcore_runtime::config::MAX_SHARDS`).
pub const MAX_SHARDS: usize = 1024;

/// One setting of the seed to measure.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Point {
    /// Serving shards (`shards`).
    pub shards: usize,
    /// Most outstanding requests per peer (`reqq`).
    pub reqq: u32,
    /// How blocks reach the socket (`send_path`: writev, sendfile, write).
    pub send_path: String,
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shards = {}, reqq = {}, send_path = \"{}\"",
            self.shards, self.reqq, self.send_path
        )
    }
}

/// The values to try on each axis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Axes {
    /// Shard counts.
    pub shards: Vec<usize>,
    /// `reqq` values.
    pub reqq: Vec<u32>,
    /// Send path names.
    pub send_paths: Vec<String>,
}

/// Shard counts worth trying on a host with `cores` CPUs: 1, the powers of
/// two in between, every core but one (what the seed runs by default, the
/// control thread keeping the last) and every core (a control thread is
/// mostly idle, so sharing its core may still pay).
pub fn default_shards(cores: usize) -> Vec<usize> {
    let cores = cores.clamp(1, MAX_SHARDS);
    let mut out = vec![1];
    let mut p = 2;
    while p < cores.saturating_sub(1) {
        out.push(p);
        p = p.saturating_mul(2);
    }
    out.push(cores.saturating_sub(1).max(1));
    out.push(cores);
    dedup(out)
}

/// Removes repeats, keeping the first of each (the order asked for).
fn dedup<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Every combination of the axes, shards outermost and send path innermost
/// (so settings of one shard count run back to back), repeats dropped.
/// Refuses an empty axis, values the seed would refuse, and grids over
/// [`MAX_POINTS`].
pub fn grid(axes: &Axes) -> Result<Vec<Point>, SweepError> {
    let shards = dedup(axes.shards.clone());
    let reqq = dedup(axes.reqq.clone());
    let paths = dedup(axes.send_paths.clone());
    if shards.is_empty() {
        return Err(SweepError::EmptyAxis {
            axis: "shards",
            example: "1,2",
        });
    }
    if reqq.is_empty() {
        return Err(SweepError::EmptyAxis {
            axis: "reqq",
            example: "250,1000",
        });
    }
    if paths.is_empty() {
        return Err(SweepError::EmptyAxis {
            axis: "send-path",
            example: "writev,sendfile",
        });
    }
    if let Some(&s) = shards.iter().find(|&&s| s == 0 || s > MAX_SHARDS) {
        return Err(SweepError::BadValue {
            axis: "shards",
            value: s.to_string(),
            allowed: "1..=1024",
        });
    }
    if let Some(&r) = reqq.iter().find(|&&r| r == 0 || r > MAX_REQQ) {
        return Err(SweepError::BadValue {
            axis: "reqq",
            value: r.to_string(),
            allowed: "1..=100000",
        });
    }
    let points = shards
        .len()
        .saturating_mul(reqq.len())
        .saturating_mul(paths.len());
    if points > MAX_POINTS {
        return Err(SweepError::TooManyPoints {
            points,
            max: MAX_POINTS,
        });
    }
    let mut out = Vec::with_capacity(points);
    for &s in &shards {
        for &r in &reqq {
            for p in &paths {
                out.push(Point {
                    shards: s,
                    reqq: r,
                    send_path: p.clone(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(shards: &[usize], reqq: &[u32], paths: &[&str]) -> Axes {
        Axes {
            shards: shards.to_vec(),
            reqq: reqq.to_vec(),
            send_paths: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_combination_in_order() {
        let g = grid(&axes(&[1, 2], &[250, 1000], &["writev", "sendfile"])).unwrap();
        assert_eq!(g.len(), 8);
        assert_eq!(
            g[0],
            Point {
                shards: 1,
                reqq: 250,
                send_path: "writev".into()
            }
        );
        assert_eq!(g[1].send_path, "sendfile");
        assert_eq!((g[2].shards, g[2].reqq), (1, 1000));
        assert_eq!(
            (g[7].shards, g[7].reqq, g[7].send_path.as_str()),
            (2, 1000, "sendfile")
        );
        assert_eq!(
            g[7].to_string(),
            "shards = 2, reqq = 1000, send_path = \"sendfile\""
        );
    }

    #[test]
    fn repeats_are_dropped() {
        let g = grid(&axes(&[2, 1, 2], &[250, 250], &["writev"])).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].shards, 2, "order as asked");
    }

    #[test]
    fn bad_axes_are_refused() {
        assert!(matches!(
            grid(&axes(&[], &[250], &["writev"])),
            Err(SweepError::EmptyAxis { axis: "shards", .. })
        ));
        assert!(matches!(
            grid(&axes(&[1], &[], &["writev"])),
            Err(SweepError::EmptyAxis { axis: "reqq", .. })
        ));
        assert!(matches!(
            grid(&axes(&[1], &[250], &[])),
            Err(SweepError::EmptyAxis {
                axis: "send-path",
                ..
            })
        ));
        let e = grid(&axes(&[0], &[250], &["writev"])).unwrap_err();
        assert_eq!(e.to_string(), "--shards 0: use 1..=1024");
        assert!(grid(&axes(&[1], &[100_001], &["writev"])).is_err());
        let many: Vec<usize> = (1..=300).collect();
        assert!(matches!(
            grid(&axes(&many, &[250], &["writev"])),
            Err(SweepError::TooManyPoints { points: 300, .. })
        ));
    }

    #[test]
    fn default_shard_counts() {
        assert_eq!(default_shards(1), vec![1]);
        assert_eq!(default_shards(2), vec![1, 2]);
        assert_eq!(default_shards(4), vec![1, 2, 3, 4]);
        assert_eq!(default_shards(16), vec![1, 2, 4, 8, 15, 16]);
        assert_eq!(default_shards(0), vec![1]);
    }
}
