//! The load report: one JSON object (`--json`) or a human table.
//!
//! Units are spelled out in every field name: MB is 10^6 bytes (what
//! network figures use), GiB is 2^30 bytes (what CPU-per-data figures in
//! this project use), latencies are microseconds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::load::stats::{Counters, DepthStats, ErrorKind, ThreadStats};
use crate::load::LoadConfig;
use crate::procstat::{self, CpuTimes};

const GIB: f64 = (1u64 << 30) as f64;

/// Bytes moved.
#[derive(Clone, Debug, Serialize)]
pub struct Bytes {
    /// Block payload received.
    pub data: u64,
    /// Everything read from the sockets.
    pub wire: u64,
}

/// Aggregate throughput of block payload.
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    /// 10^6 bytes per second.
    pub mb_s: f64,
    /// 10^9 bits per second.
    pub gbit_s: f64,
}

/// Min / median / max / mean of the per-peer rates.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Spread {
    /// Slowest peer.
    pub min: f64,
    /// Median peer.
    pub median: f64,
    /// Fastest peer.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Request latency percentiles, microseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Blocks measured.
    pub samples: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

/// CPU use of a process over the run.
#[derive(Clone, Debug, Serialize)]
pub struct Cpu {
    /// User + system seconds.
    pub cpu_s: f64,
    /// User seconds.
    pub user_s: f64,
    /// System seconds.
    pub sys_s: f64,
    /// CPU seconds per GiB of block payload moved (null when none moved).
    pub cpu_s_per_gib: Option<f64>,
}

impl Cpu {
    fn new(c: CpuTimes, data: u64) -> Cpu {
        Cpu {
            cpu_s: c.total(),
            user_s: c.user,
            sys_s: c.sys,
            cpu_s_per_gib: (data > 0).then(|| c.total() / (data as f64 / GIB)),
        }
    }
}

/// Memory of the target, sampled about once a second.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct TargetSample {
    /// Largest VmRSS seen, KiB.
    pub rss_max_sampled_kib: Option<u64>,
    /// VmRSS at the end, KiB.
    pub rss_end_kib: Option<u64>,
    /// VmHWM (the kernel's peak RSS) at the end, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Samples taken.
    pub samples: u32,
}

impl TargetSample {
    /// Reads `/proc/PID/status` once.
    pub fn observe(&mut self, pid: u32) {
        if let Ok((rss, hwm)) = procstat::proc_rss_kib(pid) {
            self.samples += 1;
            self.rss_end_kib = rss;
            self.rss_max_sampled_kib = self.rss_max_sampled_kib.max(rss);
            self.peak_rss_kib = hwm.or(self.peak_rss_kib);
        }
    }
}

/// The target process's figures.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// Its pid.
    pub pid: u32,
    /// Its CPU over the run, per GiB it sent.
    pub cpu: Cpu,
    /// Its memory.
    pub memory: TargetSample,
}

/// The request pipelines: how they were sized and how deep they were.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepthReport {
    /// `--depth` as given: a number, `reqq` or `auto`.
    pub mode: String,
    /// Everything that sized it, in words.
    pub setting: String,
    /// Smallest `reqq` a seeder connection advertised (null: none did).
    pub seeder_reqq_min: Option<u32>,
    /// Largest.
    pub seeder_reqq_max: Option<u32>,
    /// Target depth of unchoked peers, sampled 4 times a second over the
    /// measured part: mean, smallest and largest.
    pub target_mean: Option<f64>,
    /// Smallest sampled target.
    pub target_min: Option<u64>,
    /// Largest sampled target.
    pub target_max: Option<u64>,
    /// Requests actually in flight per unchoked peer, mean over the same
    /// samples (below the target when the torrent or the seeder's answers
    /// ran short, or blocks were held by the write latency).
    pub in_flight_mean: Option<f64>,
    /// Most requests in flight seen on one peer.
    pub in_flight_max: Option<u64>,
    /// Peer-ticks sampled.
    pub samples: u64,
    /// The depth used, in one short phrase: `250`, or `2-250 (mean 180)`
    /// when it varied; `-` when no peer was unchoked.
    pub used: String,
}

impl DepthReport {
    fn new(cfg: &crate::load::DepthConfig, d: &DepthStats) -> DepthReport {
        let n = d.samples;
        let mean = |sum: u64| (n > 0).then(|| sum as f64 / n as f64);
        let target_mean = mean(d.target_sum);
        let used = match (d.target_min, target_mean) {
            (Some(lo), Some(_)) if lo == d.target_max => lo.to_string(),
            (Some(lo), Some(m)) => format!("{lo}-{} (mean {m:.0})", d.target_max),
            _ => "-".to_string(),
        };
        DepthReport {
            mode: cfg.mode.name(),
            setting: cfg.describe(),
            seeder_reqq_min: d.seeder_reqq.map(|r| r.0),
            seeder_reqq_max: d.seeder_reqq.map(|r| r.1),
            target_mean,
            target_min: d.target_min,
            target_max: (n > 0).then_some(d.target_max),
            in_flight_mean: mean(d.in_flight_sum),
            in_flight_max: (n > 0).then_some(d.in_flight_max),
            samples: n,
            used,
        }
    }
}

/// Errors by kind (see [`ErrorKind`] for what each means).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// `connect` refused.
    pub connect_refused: u64,
    /// `connect` failed otherwise or timed out.
    pub connect_failed: u64,
    /// Closed, timed out or wrong before the handshake completed.
    pub handshake_failed: u64,
    /// Closed or reset by the seeder after the handshake.
    pub closed_by_peer: u64,
    /// The seeder broke the protocol.
    pub protocol_error: u64,
    /// Other socket errors.
    pub io_error: u64,
}

impl ErrorCounts {
    /// All errors.
    pub fn total(&self) -> u64 {
        self.connect_refused
            + self.connect_failed
            + self.handshake_failed
            + self.closed_by_peer
            + self.protocol_error
            + self.io_error
    }

    fn pairs(&self) -> [(&'static str, u64); 6] {
        [
            ("connect_refused", self.connect_refused),
            ("connect_failed", self.connect_failed),
            ("handshake_failed", self.handshake_failed),
            ("closed_by_peer", self.closed_by_peer),
            ("protocol_error", self.protocol_error),
            ("io_error", self.io_error),
        ]
    }
}

/// Everything a load run measured.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// The seeder address.
    pub target: String,
    /// The torrent file.
    pub torrent: String,
    /// Hex info-hash used in the handshake.
    pub info_hash: String,
    /// Simulated peers.
    pub peers: usize,
    /// Worker threads.
    pub threads: usize,
    /// Requested run length, seconds (after the warm-up).
    pub duration_s: f64,
    /// Warm-up before measuring, seconds.
    pub warmup_s: f64,
    /// Idle peers (handshakes only, no requests).
    pub idle: bool,
    /// Measured run length (from the end of the warm-up), seconds.
    pub elapsed_s: f64,
    /// Ramp-up, seconds.
    pub ramp_s: f64,
    /// Churn, percent per second.
    pub churn_pct: f64,
    /// Request pipelines.
    pub depth: DepthReport,
    /// What carried the bytes (`tcp`).
    pub transport: &'static str,
    /// Piece order.
    pub order: &'static str,
    /// Whether pieces were SHA-1 checked.
    pub verify: bool,
    /// Bytes received.
    pub bytes: Bytes,
    /// Aggregate rate: data bytes / elapsed.
    pub throughput: Throughput,
    /// Per-peer rate in MB/s: each peer's data over the time since its
    /// first connect (so ramp-up does not count against late peers).
    pub per_peer_mb_s: Spread,
    /// Peers that received at least one block.
    pub peers_with_data: usize,
    /// Peers connected (past the handshake) at the deadline.
    pub peers_open_at_end: usize,
    /// Request-sent to block-received latency.
    pub latency_us: Option<Latency>,
    /// Event counters.
    pub counters: Counters,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// First message seen of each error kind that occurred.
    pub error_samples: BTreeMap<&'static str, String>,
    /// The load generator's own CPU (getrusage), per GiB received.
    pub loadgen: Cpu,
    /// The `--pid` process, when given.
    pub target_process: Option<Target>,
    /// Problems of the run itself (a worker that failed or hung).
    pub failures: Vec<String>,
}

fn spread(mut v: Vec<f64>) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
    let median = if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    };
    Spread {
        min: at(0),
        median,
        max: at(n - 1),
        mean: v.iter().sum::<f64>() / n as f64,
    }
}

impl LoadReport {
    /// Assembles the report from the merged worker results.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        cfg: &LoadConfig,
        threads: usize,
        elapsed: Duration,
        totals: &ThreadStats,
        slots: &[crate::load::SlotReport],
        own: CpuTimes,
        target: Option<(u32, CpuTimes, TargetSample)>,
        failures: Vec<String>,
    ) -> LoadReport {
        let c = &totals.counters;
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rates = slots
            .iter()
            .map(|s| {
                let t = s.active.as_secs_f64();
                if t > 0.0 {
                    s.bytes as f64 / t / 1e6
                } else {
                    0.0
                }
            })
            .collect();
        let h = &totals.latency;
        let latency = (!h.is_empty()).then(|| Latency {
            samples: h.len(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        });
        let e = &totals.errors;
        let errors = ErrorCounts {
            connect_refused: e.count(ErrorKind::ConnectRefused),
            connect_failed: e.count(ErrorKind::ConnectFailed),
            handshake_failed: e.count(ErrorKind::HandshakeFailed),
            closed_by_peer: e.count(ErrorKind::ClosedByPeer),
            protocol_error: e.count(ErrorKind::ProtocolError),
            io_error: e.count(ErrorKind::IoError),
        };
        let error_samples = ErrorKind::ALL
            .iter()
            .filter_map(|k| Some((k.name(), totals.errors.sample(*k)?.to_string())))
            .collect();
        LoadReport {
            target: cfg.target.to_string(),
            torrent: cfg.torrent_path.display().to_string(),
            info_hash: cfg
                .torrent
                .info_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            peers: cfg.peers,
            threads,
            duration_s: cfg.duration.as_secs_f64(),
            warmup_s: cfg.warmup.as_secs_f64(),
            idle: cfg.idle,
            elapsed_s: secs,
            ramp_s: cfg.ramp.as_secs_f64(),
            churn_pct: cfg.churn_pct,
            depth: DepthReport::new(&cfg.depth, &totals.depth),
            transport: cfg.transport.name(),
            order: cfg.order.name(),
            verify: cfg.verify,
            bytes: Bytes {
                data: c.data_bytes,
                wire: c.wire_bytes,
            },
            throughput: Throughput {
                mb_s: c.data_bytes as f64 / secs / 1e6,
                gbit_s: c.data_bytes as f64 * 8.0 / secs / 1e9,
            },
            per_peer_mb_s: spread(rates),
            peers_with_data: slots.iter().filter(|s| s.bytes > 0).count(),
            peers_open_at_end: slots.iter().filter(|s| s.open_at_end).count(),
            latency_us: latency,
            counters: c.clone(),
            errors,
            error_samples,
            loadgen: Cpu::new(own, c.data_bytes),
            target_process: target.map(|(pid, cpu, memory)| Target {
                pid,
                cpu: Cpu::new(cpu, c.data_bytes),
                memory,
            }),
            failures,
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report as a human-readable table.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let opt =
            |v: Option<f64>, unit: &str| v.map_or("-".to_string(), |x| format!("{x:.3} {unit}"));
        let kib =
            |v: Option<u64>| v.map_or("-".to_string(), |x| format!("{:.1} MiB", x as f64 / 1024.0));
        let _ = writeln!(
            s,
            "seedcore-bench load: {} peers on {} threads -> {}",
            self.peers, self.threads, self.target
        );
        let _ = writeln!(
            s,
            "  torrent      {} ({})  {}  order {}  verify {}  ramp {:.1}s  churn {}%/s",
            self.torrent,
            self.info_hash,
            self.transport,
            self.order,
            self.verify,
            self.ramp_s,
            self.churn_pct
        );
        let _ = writeln!(
            s,
            "  elapsed      {:.2} s (asked {:.2} s after a {:.1} s warm-up){}",
            self.elapsed_s,
            self.duration_s,
            self.warmup_s,
            if self.idle { "  IDLE peers" } else { "" }
        );
        let _ = writeln!(
            s,
            "  throughput   {:.1} MB/s = {:.2} Gbit/s  ({} data bytes, {} on the wire)",
            self.throughput.mb_s, self.throughput.gbit_s, self.bytes.data, self.bytes.wire
        );
        let d = &self.depth;
        let reqq = match (d.seeder_reqq_min, d.seeder_reqq_max) {
            (Some(lo), Some(hi)) if lo == hi => format!("seeder reqq {lo}"),
            (Some(lo), Some(hi)) => format!("seeder reqq {lo}-{hi}"),
            _ => "no seeder reqq".to_string(),
        };
        let _ = writeln!(
            s,
            "  depth        {} -> {} ({reqq}); in flight mean {} max {}",
            d.setting,
            d.used,
            d.in_flight_mean.map_or("-".into(), |m| format!("{m:.1}")),
            d.in_flight_max.map_or("-".into(), |m| m.to_string()),
        );
        let p = &self.per_peer_mb_s;
        let _ = writeln!(
            s,
            "  per peer     min {:.2}  median {:.2}  max {:.2}  mean {:.2} MB/s   ({} of {} got data, {} open at end)",
            p.min, p.median, p.max, p.mean, self.peers_with_data, self.peers, self.peers_open_at_end
        );
        match &self.latency_us {
            Some(l) => {
                let _ = writeln!(
                    s,
                    "  latency us   p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  ({} blocks)",
                    l.p50, l.p90, l.p99, l.p999, l.max, l.samples
                );
            }
            None => {
                let _ = writeln!(s, "  latency us   - (no blocks)");
            }
        }
        let c = &self.counters;
        let _ = writeln!(
            s,
            "  pieces       {} completed, {} verified, {} hash failures",
            c.pieces_completed, c.pieces_verified, c.hash_failures
        );
        let _ = writeln!(
            s,
            "  requests     {} sent, {} rejected, {} unexpected blocks, {} chokes / {} unchokes",
            c.requests, c.rejects, c.unexpected_blocks, c.chokes, c.unchokes
        );
        let _ = writeln!(
            s,
            "  connections  {} attempts, {} connected, {} handshakes, {} churned",
            c.connect_attempts, c.connects, c.handshakes, c.churned
        );
        let errs: Vec<String> = self
            .errors
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(s, "  errors       {}", errs.join(", "));
        for (k, v) in &self.error_samples {
            let _ = writeln!(s, "    first {k}: {v}");
        }
        let l = &self.loadgen;
        let _ = writeln!(
            s,
            "  loadgen cpu  {:.2} s (user {:.2}, sys {:.2}) = {} per GiB received",
            l.cpu_s,
            l.user_s,
            l.sys_s,
            opt(l.cpu_s_per_gib, "s")
        );
        if let Some(t) = &self.target_process {
            let _ = writeln!(
                s,
                "  target {:<6}cpu {:.2} s (user {:.2}, sys {:.2}) = {} per GiB sent",
                t.pid,
                t.cpu.cpu_s,
                t.cpu.user_s,
                t.cpu.sys_s,
                opt(t.cpu.cpu_s_per_gib, "s")
            );
            let _ = writeln!(
                s,
                "  target mem   peak RSS (VmHWM) {}  sampled max {}  at end {}",
                kib(t.memory.peak_rss_kib),
                kib(t.memory.rss_max_sampled_kib),
                kib(t.memory.rss_end_kib)
            );
        }
        for f in &self.failures {
            let _ = writeln!(s, "  FAILURE      {f}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_rates() {
        let s = spread(vec![3.0, 1.0, 2.0]);
        assert_eq!((s.min, s.median, s.max, s.mean), (1.0, 2.0, 3.0, 2.0));
        let s = spread(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(s.median, 2.5);
        assert_eq!(spread(vec![]).max, 0.0);
    }

    #[test]
    fn cpu_per_gib() {
        let c = Cpu::new(
            CpuTimes {
                user: 1.0,
                sys: 0.5,
            },
            3 << 30,
        );
        assert_eq!(c.cpu_s_per_gib, Some(0.5));
        assert_eq!(Cpu::new(CpuTimes::default(), 0).cpu_s_per_gib, None);
    }
}
