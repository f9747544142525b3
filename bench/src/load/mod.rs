//! The load generator: N simulated leechers against one seeder.
//!
//! [`run`] spreads the peers over `threads` worker threads (peer `i` goes
//! to thread `i % threads`), each an epoll loop over its own sockets (see
//! [`worker`](self) for why epoll and not io_uring). Peer `i` connects at
//! `start + ramp * i / peers` from its own loopback address, reconnects
//! `retry_delay` after an error, and may be cycled by churn. At the
//! deadline every worker closes its sockets and hands back its counters;
//! the calling thread meanwhile samples the target's memory once a second,
//! and gives up on a worker that has not reported within a grace period,
//! so `run` always returns.

pub mod depth;
mod pieces;
mod session;
pub mod stats;
pub mod transport;
mod worker;

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use depth::{DepthConfig, DepthMode};
pub use pieces::Order;
pub use session::{our_reserved, SessionConfig, SessionError};
pub use transport::TransportKind;
pub use worker::RECV_SIZE;

use crate::net::{self, NetError};
use crate::procstat;
use crate::report::{LoadReport, TargetSample};
use crate::torrent::Torrent;
use stats::ThreadStats;
use worker::RunConfig;
pub(crate) use worker::SlotReport;

/// How long after the deadline a worker may take to report before the
/// run ends without it.
pub const GRACE: Duration = Duration::from_secs(5);

/// Everything a load run needs.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The torrent to request.
    pub torrent: Arc<Torrent>,
    /// Path shown in the report.
    pub torrent_path: PathBuf,
    /// The seeder.
    pub target: std::net::SocketAddr,
    /// Simulated peers.
    pub peers: usize,
    /// Measured run length (hard stop at `warmup + duration`).
    pub duration: Duration,
    /// Connected and loading but not measured: throughput, latency,
    /// per-peer rates and the target's CPU count from its end (connection
    /// and error counters cover the whole run).
    pub warmup: Duration,
    /// Idle peers: handshake and extended handshake, then silence.
    pub idle: bool,
    /// How many requests each peer keeps in flight.
    pub depth: DepthConfig,
    /// What carries the peers' bytes.
    pub transport: TransportKind,
    /// Piece order.
    pub order: Order,
    /// SHA-1-check every completed piece.
    pub verify: bool,
    /// Connections start spread over this long.
    pub ramp: Duration,
    /// Percent of established peers cycled each second.
    pub churn_pct: f64,
    /// Worker threads (0: one per core), never more than peers.
    pub threads: usize,
    /// Seeder process to measure (CPU, RSS).
    pub pid: Option<u32>,
    /// Permit a non-loopback target.
    pub allow_remote: bool,
    /// Delay before a failed peer reconnects.
    pub retry_delay: Duration,
    /// Limit on a TCP connect.
    pub connect_timeout: Duration,
    /// Limit from connect to the seeder's handshake.
    pub handshake_timeout: Duration,
    /// Seed for piece order and churn choices.
    pub seed: u64,
}

impl LoadConfig {
    /// A configuration with the documented defaults: the depth the
    /// seeder's `reqq` allows, plain TCP, random order, no
    /// warm-up/idle/verify/ramp/churn, all cores, 1 s retry delay, 5 s
    /// connect and 10 s handshake timeouts.
    pub fn new(
        torrent: Arc<Torrent>,
        target: std::net::SocketAddr,
        peers: usize,
        duration: Duration,
    ) -> LoadConfig {
        LoadConfig {
            torrent,
            torrent_path: PathBuf::new(),
            target,
            peers,
            duration,
            warmup: Duration::ZERO,
            idle: false,
            depth: DepthConfig::default(),
            transport: TransportKind::default(),
            order: Order::Random,
            verify: false,
            ramp: Duration::ZERO,
            churn_pct: 0.0,
            threads: 0,
            pid: None,
            allow_remote: false,
            retry_delay: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(10),
            seed: 1,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
    /// The target is not allowed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// `--verify` on a torrent without SHA-1 piece hashes.
    #[error("--verify needs v1 piece hashes and {name} is a pure v2 torrent; drop --verify")]
    CannotVerify {
        /// Torrent name.
        name: String,
    },
    /// The `--pid` process cannot be read.
    #[error("cannot read /proc/{pid}: {source}; is the seeder running under that pid?")]
    Pid {
        /// The pid.
        pid: u32,
        /// The error.
        source: std::io::Error,
    },
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Spawn(std::io::Error),
}

fn validate(cfg: &LoadConfig) -> Result<(), LoadError> {
    let bad = |m: &str| Err(LoadError::Config(m.to_string()));
    if cfg.peers == 0 {
        return bad("--peers must be at least 1");
    }
    if cfg.duration.is_zero() {
        return bad("--duration must be more than 0 seconds");
    }
    if let Err(e) = cfg.depth.validate() {
        return Err(LoadError::Config(e));
    }
    if !(0.0..=100.0).contains(&cfg.churn_pct) {
        return bad("--churn is a percentage: 0 to 100");
    }
    net::check_loopback(cfg.target, cfg.allow_remote)?;
    if cfg.verify && !cfg.torrent.can_verify() {
        return Err(LoadError::CannotVerify {
            name: cfg.torrent.name().to_string(),
        });
    }
    Ok(())
}

/// The number of worker threads for `cfg`.
pub fn thread_count(cfg: &LoadConfig) -> usize {
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let t = if cfg.threads == 0 { cores } else { cfg.threads };
    t.clamp(1, cfg.peers.max(1))
}

/// Runs the load and returns the report. Returns by itself within
/// `warmup + duration + GRACE` (plus thread start-up), whatever the target
/// does.
pub fn run(cfg: &LoadConfig) -> Result<LoadReport, LoadError> {
    validate(cfg)?;
    let threads = thread_count(cfg);
    let mut target_cpu0 = match cfg.pid {
        Some(pid) => {
            Some(procstat::proc_cpu(pid).map_err(|source| LoadError::Pid { pid, source })?)
        }
        None => None,
    };
    let mut own0 = procstat::own_cpu().unwrap_or_default();
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    let run_cfg = Arc::new(RunConfig {
        torrent: Arc::clone(&cfg.torrent),
        target: cfg.target,
        transport: cfg.transport,
        session: SessionConfig {
            depth: cfg.depth,
            order: cfg.order,
            verify: cfg.verify,
            idle: cfg.idle,
        },
        start,
        measure_from,
        deadline: measure_from + cfg.duration,
        ramp: cfg.ramp.min(cfg.warmup + cfg.duration),
        peers_total: cfg.peers,
        churn_pct: cfg.churn_pct,
        retry_delay: cfg.retry_delay,
        connect_timeout: cfg.connect_timeout,
        handshake_timeout: cfg.handshake_timeout,
        bind_source: cfg.target.ip().is_loopback(),
        seed: cfg.seed,
    });

    let (tx, rx) = mpsc::channel();
    for t in 0..threads {
        let peers: Vec<usize> = (t..cfg.peers).step_by(threads).collect();
        let (tx, rc) = (tx.clone(), Arc::clone(&run_cfg));
        let seed = cfg.seed.wrapping_add(t as u64).wrapping_mul(0x9E37_79B9);
        thread::Builder::new()
            .name(format!("load-{t}"))
            .spawn(move || {
                let r = worker::run(&rc, &peers, seed).map_err(|e| e.to_string());
                let _ = tx.send(r);
            })
            .map_err(LoadError::Spawn)?;
    }
    drop(tx);

    let hard_stop = run_cfg.deadline + GRACE;
    let mut sample = TargetSample::default();
    let mut totals = ThreadStats::default();
    let mut slots: Vec<SlotReport> = Vec::with_capacity(cfg.peers);
    let mut failures = Vec::new();
    let mut reported = 0;
    let mut next_sample = Instant::now();
    let mut warm = cfg.warmup.is_zero();
    while reported < threads {
        let now = Instant::now();
        if now >= hard_stop {
            break;
        }
        if !warm && now >= measure_from {
            // The measured part starts: take the CPU baselines again.
            warm = true;
            own0 = procstat::own_cpu().unwrap_or_default();
            if let (Some(pid), Some(cpu0)) = (cfg.pid, target_cpu0.as_mut()) {
                *cpu0 = procstat::proc_cpu(pid).unwrap_or(*cpu0);
            }
        }
        if let Some(pid) = cfg.pid {
            if now >= next_sample {
                sample.observe(pid);
                next_sample = now + Duration::from_secs(1);
            }
        }
        let mut wake = hard_stop.min(next_sample.max(now + Duration::from_millis(10)));
        if !warm {
            wake = wake.min(measure_from.max(now + Duration::from_millis(1)));
        }
        let wait = wake - now;
        match rx.recv_timeout(wait) {
            Ok(Ok(w)) => {
                reported += 1;
                totals.merge(&w.stats);
                slots.extend(w.slots);
            }
            Ok(Err(e)) => {
                reported += 1;
                failures.push(e);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let elapsed = Instant::now().saturating_duration_since(measure_from);
    if reported < threads {
        failures.push(format!(
            "{} of {threads} worker threads did not report within {:.0} s after the deadline",
            threads - reported,
            GRACE.as_secs_f64()
        ));
    }
    let own = procstat::own_cpu().unwrap_or_default().since(&own0);
    let target = match (cfg.pid, target_cpu0) {
        (Some(pid), Some(cpu0)) => {
            sample.observe(pid);
            let cpu = procstat::proc_cpu(pid)
                .map(|c| c.since(&cpu0))
                .unwrap_or_default();
            Some((pid, cpu, sample))
        }
        _ => None,
    };
    Ok(LoadReport::build(
        cfg, threads, elapsed, &totals, &slots, own, target, failures,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LoadConfig {
        let dir = tempfile::tempdir().unwrap();
        let p = crate::torrent::make_data(dir.path(), "x", 40_000, 16384).unwrap();
        let t = Arc::new(Torrent::load(&p).unwrap());
        LoadConfig::new(t, "127.0.0.1:1".parse().unwrap(), 4, Duration::from_secs(1))
    }

    #[test]
    fn settings_are_checked() {
        let ok = cfg();
        assert!(validate(&ok).is_ok());
        let mut c = ok.clone();
        c.peers = 0;
        assert!(validate(&c).unwrap_err().to_string().contains("--peers"));
        let mut c = ok.clone();
        c.churn_pct = 150.0;
        assert!(validate(&c).unwrap_err().to_string().contains("--churn"));
        let mut c = ok.clone();
        c.target = "192.0.2.7:6881".parse().unwrap();
        assert!(matches!(validate(&c), Err(LoadError::Net(_))));
        c.allow_remote = true;
        assert!(validate(&c).is_ok());
        let mut c = ok.clone();
        c.threads = 16;
        assert_eq!(thread_count(&c), 4, "never more threads than peers");
    }

    /// A raw seeder on a thread for the duration of `f`.
    fn with_raw_seed(f: impl FnOnce(&LoadConfig)) {
        use crate::rawseed::{RawSeed, RawSeedConfig};
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let p = crate::torrent::make_data(dir.path(), "x", 1 << 20, 65536).unwrap();
        let t = Arc::new(Torrent::load(&p).unwrap());
        let seed = RawSeed::bind(&RawSeedConfig {
            torrent: Arc::clone(&t),
            data: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            threads: 1,
            max_time: Some(Duration::from_secs(30)),
            allow_remote: false,
        })
        .unwrap();
        let mut cfg = LoadConfig::new(t, seed.local_addr(), 3, Duration::from_millis(500));
        cfg.threads = 1;
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let h = thread::spawn(move || seed.run(s2));
        f(&cfg);
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
    }

    #[test]
    fn idle_peers_hold_connections_without_data() {
        with_raw_seed(|cfg| {
            let mut c = cfg.clone();
            c.idle = true;
            let r = run(&c).unwrap();
            assert!(r.idle);
            assert_eq!(r.counters.handshakes, 3);
            assert_eq!(r.peers_open_at_end, 3);
            assert_eq!((r.counters.requests, r.bytes.data), (0, 0));
            assert_eq!(r.errors.total(), 0, "{:?}", r.error_samples);
        });
    }

    #[test]
    fn depth_follows_the_seeders_reqq_and_is_reported() {
        with_raw_seed(|cfg| {
            // raw-seed advertises reqq 2048.
            let r = run(cfg).unwrap();
            assert_eq!(r.depth.mode, "reqq");
            assert_eq!(r.depth.seeder_reqq_max, Some(2048));
            assert_eq!(r.depth.used, "2048");
            assert!(r.depth.samples > 0);
            let mut c = cfg.clone();
            c.depth.mode = DepthMode::Fixed(8);
            let r = run(&c).unwrap();
            assert_eq!(
                (r.depth.used.as_str(), r.depth.in_flight_max),
                ("8", Some(8))
            );
            let mut c = cfg.clone();
            c.depth.mode = DepthMode::Auto;
            let r = run(&c).unwrap();
            assert!(r.bytes.data > 0);
            let hi = r.depth.target_max.unwrap();
            assert!((2..=2048).contains(&hi), "{:?}", r.depth);
        });
    }

    #[test]
    fn warmup_is_not_measured() {
        with_raw_seed(|cfg| {
            let mut c = cfg.clone();
            c.warmup = Duration::from_millis(300);
            let r = run(&c).unwrap();
            assert_eq!(r.warmup_s, 0.3);
            assert!(r.bytes.data > 0);
            // Measured time starts after the warm-up: it is the asked
            // duration plus the time the workers took to report.
            assert!(r.elapsed_s >= 0.5 && r.elapsed_s < 0.5 + GRACE.as_secs_f64());
            // The latency histogram restarted with the counters.
            let l = r.latency_us.unwrap();
            assert_eq!(l.samples, r.counters.blocks - r.counters.unexpected_blocks);
        });
    }
}
