//! seedcore's load generator and benchmark support.
//!
//! Two tools live here, both driven by the `seedcore-bench` binary:
//!
//! - [`load`]: N simulated leechers against one seeder on loopback, each
//!   from its own 127.x.y.z address, each keeping a pipeline of 16 KiB
//!   requests full, with ramp-up, churn and a hard stop. It reports total
//!   and per-peer throughput, request latency percentiles, errors by kind,
//!   the seeder's CPU per GiB and memory (`--pid`), and its own CPU per GiB
//!   so a reader can see the load generator was not the bottleneck.
//! - [`rawseed`]: the least a seeder can do (handshake, have-all, unchoke,
//!   answer requests from the mmap), the loopback ceiling that real seeders
//!   are compared against.
//! - [`compare`]: seedcore, libtorrent, transmission, aria2 and the raw
//!   seeder under the same load in one run, written up as a Markdown
//!   report with a chart.
//! - [`leechers`]: real clients (libtorrent, transmission, aria2,
//!   rtorrent, qBittorrent) downloading the same data from seedcore and
//!   from libtorrent in one run: MB/s and seeder CPU per GiB side by side.
//! - [`soak`]: one seedcore node for a long time under a hostile
//!   population while a good libtorrent leecher downloads and checks every
//!   piece in a loop; fails on unbounded growth or a slowed leecher.
//!
//! The criterion micro-benchmarks are in `benches/`.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use seedcore_bench::{load, torrent::Torrent};
//!
//! let t = Arc::new(Torrent::load("data.torrent".as_ref())?);
//! let mut cfg = load::LoadConfig::new(t, "127.0.0.1:6881".parse()?, 16, Duration::from_secs(10));
//! cfg.verify = true;
//! let report = load::run(&cfg)?;
//! println!("{}", report.to_table());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod compare;
pub mod leechers;
pub mod load;
pub mod net;
pub mod procstat;
pub mod rawseed;
pub mod report;
pub mod rng;
pub mod soak;
pub mod torrent;
