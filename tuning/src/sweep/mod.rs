//! The pure half of `seedcore tune --sweep`: which settings to try, how long
//! each gets, which one wins, and what is written down.
//!
//! # Why a sweep, and why it is split this way
//!
//! The host check ([`crate::check_all`]) says what the kernel should allow;
//! it cannot say which shard count, request queue (`reqq`) and send path
//! serve fastest on *this* box, because that depends on the CPU, the kernel's
//! TCP stack and what else runs there. The sweep measures it: for each point
//! of a grid it starts `seedcore seed` on loopback, drives it with
//! `seedcore-bench load`, and keeps the best.
//!
//! Starting, timing and stopping processes lives in the binary
//! (`engine/cli/src/cmd/tune_sweep.rs`). Everything that can be decided
//! without a process lives here, so it is unit-tested on any machine:
//!
//! - [`grid`]: the points (every combination of the axes, in a fixed order);
//! - [`budget`]: how much of the remaining time the next point gets, so the
//!   whole sweep stops at its budget and the points that do not fit are
//!   reported as skipped rather than squeezed below a useful length;
//! - [`load`]: the figures read from the load generator's `--json` report;
//! - [`pick`]: the winner (highest throughput; within 3% of it, the one
//!   using the least seed CPU per GiB, which leaves more room on a loaded
//!   host);
//! - [`report`]: the table printed as the sweep goes and the comment header
//!   of the TOML file it writes.
//!
//! There is no send-buffer (`SO_SNDBUF`) setting in the seed's
//! configuration (the kernel autotunes socket buffers; see
//! `tuning/README.md`), so the third axis is the send path
//! (`writev`, `sendfile`, `write`).

pub mod budget;
pub mod grid;
pub mod load;
pub mod pick;
pub mod report;

pub use budget::{slot, Slot};
pub use grid::{default_shards, grid, Axes, Point};
pub use load::{Figures, LoadReport};
pub use pick::{best, Measured, TIE};

/// Why a sweep cannot run as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    /// An axis has no values.
    #[error("--{axis}: no values given; list at least one (e.g. --{axis} {example})")]
    EmptyAxis {
        /// The flag.
        axis: &'static str,
        /// A value that would do.
        example: &'static str,
    },
    /// An axis holds a value the seed refuses.
    #[error("--{axis} {value}: use {allowed}")]
    BadValue {
        /// The flag.
        axis: &'static str,
        /// The value given.
        value: String,
        /// What is accepted.
        allowed: &'static str,
    },
    /// The grid is larger than any budget could cover usefully.
    #[error("the grid has {points} points; at most {max} are swept at once (shorten --shards, --reqq or --send-path)")]
    TooManyPoints {
        /// Points asked for.
        points: usize,
        /// The bound.
        max: usize,
    },
}
