//! The figures a sweep keeps from `seedcore-bench load --json`.
//!
//! Only the fields used are declared, each optional where the load
//! generator may leave it out (no `--pid`, no data received), so a newer
//! report with more fields still reads. The binary parses the text with
//! `serde_json` into [`LoadReport`]; [`LoadReport::figures`] decides
//! whether the point counts.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The parts of the load generator's JSON report a sweep reads.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LoadReport {
    /// Payload throughput.
    #[serde(default)]
    pub throughput: Throughput,
    /// Bytes received.
    #[serde(default)]
    pub bytes: DataBytes,
    /// Peers that got at least one block.
    #[serde(default)]
    pub peers_with_data: u64,
    /// Request-to-block latency.
    #[serde(default)]
    pub latency_us: Latency,
    /// The load generator's own CPU.
    #[serde(default)]
    pub loadgen: Cpu,
    /// The seed's CPU and memory (`--pid`).
    #[serde(default)]
    pub target_process: Option<TargetProcess>,
    /// Error counts by kind.
    #[serde(default)]
    pub errors: BTreeMap<String, u64>,
    /// Workers that failed (a non-empty list makes the run exit 1).
    #[serde(default)]
    pub failures: Vec<String>,
}

/// `throughput`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Throughput {
    /// Payload megabytes (10^6) per second.
    #[serde(default)]
    pub mb_s: f64,
}

/// `bytes`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct DataBytes {
    /// Block payload received.
    #[serde(default)]
    pub data: u64,
}

/// `latency_us`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Latency {
    /// 99th percentile, microseconds.
    #[serde(default)]
    pub p99: Option<f64>,
}

/// CPU time per GiB received (`loadgen`, `target_process.cpu`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Cpu {
    /// CPU seconds (user + system) per GiB of payload.
    #[serde(default)]
    pub cpu_s_per_gib: Option<f64>,
}

/// `target_process`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TargetProcess {
    /// Its CPU.
    #[serde(default)]
    pub cpu: Cpu,
    /// Its memory.
    #[serde(default)]
    pub memory: Memory,
}

/// `target_process.memory`.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Memory {
    /// Peak resident set (`VmHWM`), KiB.
    #[serde(default)]
    pub peak_rss_kib: Option<u64>,
}

/// What one successful point measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Payload gigabytes (10^9) per second.
    pub gb_s: f64,
    /// The seed's CPU seconds per GiB served.
    pub seed_cpu_s_per_gib: Option<f64>,
    /// The load generator's CPU seconds per GiB received.
    pub loadgen_cpu_s_per_gib: Option<f64>,
    /// 99th-percentile request latency, milliseconds.
    pub p99_ms: Option<f64>,
    /// The seed's peak resident memory, MiB.
    pub peak_rss_mib: Option<f64>,
    /// Peers that got data.
    pub peers_with_data: u64,
    /// Connection and protocol errors the load generator counted.
    pub errors: u64,
}

/// A finite, non-negative figure, else none.
fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v >= 0.0)
}

impl LoadReport {
    /// The figures, or why the point does not count: a worker of the load
    /// generator failed, or no data arrived (the seed did not serve).
    pub fn figures(&self) -> Result<Figures, String> {
        if let Some(first) = self.failures.first() {
            return Err(format!(
                "load generator: {} worker(s) failed: {first}",
                self.failures.len()
            ));
        }
        let gb_s = self.throughput.mb_s / 1000.0;
        if self.bytes.data == 0 || !gb_s.is_finite() || gb_s <= 0.0 {
            let errors: Vec<String> = self
                .errors
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            return Err(if errors.is_empty() {
                "no data received".to_string()
            } else {
                format!("no data received ({})", errors.join(", "))
            });
        }
        let target = self.target_process.clone().unwrap_or_default();
        Ok(Figures {
            gb_s,
            seed_cpu_s_per_gib: finite(target.cpu.cpu_s_per_gib),
            loadgen_cpu_s_per_gib: finite(self.loadgen.cpu_s_per_gib),
            p99_ms: finite(self.latency_us.p99).map(|us| us / 1000.0),
            peak_rss_mib: target.memory.peak_rss_kib.map(|kib| kib as f64 / 1024.0),
            peers_with_data: self.peers_with_data,
            errors: self.errors.values().fold(0u64, |a, &b| a.saturating_add(b)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `seedcore-bench load --json --pid` printed it (trimmed
    /// of nothing: every field, so renamed ones would show).
    const REAL: &str = r#"{"target":"127.0.0.1:17001","torrent":"/tmp/sweepw/data.bin.torrent","info_hash":"2b89428c5b12ef353d140dc3eb53d89d5fbeae0f","peers":4,"threads":2,"duration_s":1.0,"warmup_s":0.0,"idle":false,"elapsed_s":1.000961786,"ramp_s":0.0,"churn_pct":0.0,"depth":64,"order":"random","verify":false,"bytes":{"data":620904448,"wire":621430520},"throughput":{"mb_s":620.3078445993742,"gbit_s":4.962462756794993},"per_peer_mb_s":{"min":151.93982855295656,"median":155.27905833459445,"max":158.92947542648722,"mean":155.35685516215818},"peers_with_data":4,"peers_open_at_end":4,"latency_us":{"samples":37897,"p50":1951,"p90":4235,"p99":13519,"p999":20495,"max":20559,"mean":2700.230968150514},"counters":{"wire_bytes":621430520,"data_bytes":620904448,"blocks":37897,"requests":38153,"rejects":0,"chokes":0,"unchokes":4,"keepalives":0,"unexpected_blocks":0,"pieces_completed":18947,"pieces_verified":0,"hash_failures":0,"connect_attempts":4,"connects":4,"handshakes":4,"churned":0},"errors":{"connect_refused":0,"connect_failed":0,"handshake_failed":0,"closed_by_peer":0,"protocol_error":0,"io_error":0},"error_samples":{},"loadgen":{"cpu_s":0.15161799999999998,"user_s":0.064034,"sys_s":0.087584,"cpu_s_per_gib":0.26219587956830354},"target_process":{"pid":25814,"cpu":{"cpu_s":0.29,"user_s":0.10999999999999999,"sys_s":0.18,"cpu_s_per_gib":0.5015024936010766},"memory":{"rss_max_sampled_kib":25868,"rss_end_kib":25868,"peak_rss_kib":25868,"samples":2}},"failures":[]}"#;

    fn parse(s: &str) -> LoadReport {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn real_report() {
        let f = parse(REAL).figures().unwrap();
        assert!((f.gb_s - 0.6203).abs() < 1e-4);
        assert_eq!(f.seed_cpu_s_per_gib, Some(0.5015024936010766));
        assert_eq!(f.loadgen_cpu_s_per_gib, Some(0.26219587956830354));
        assert_eq!(f.p99_ms, Some(13.519));
        assert!((f.peak_rss_mib.unwrap() - 25.26).abs() < 0.01);
        assert_eq!(f.peers_with_data, 4);
        assert_eq!(f.errors, 0);
    }

    #[test]
    fn nothing_served_is_a_failure_naming_the_errors() {
        let r = parse(
            r#"{"bytes":{"data":0},"throughput":{"mb_s":0.0},
                "errors":{"connect_refused":64,"io_error":0},"failures":[]}"#,
        );
        assert_eq!(
            r.figures().unwrap_err(),
            "no data received (connect_refused 64)"
        );
        assert_eq!(parse("{}").figures().unwrap_err(), "no data received");
    }

    #[test]
    fn failed_workers_void_the_point() {
        let r = parse(
            r#"{"bytes":{"data":1000},"throughput":{"mb_s":1.0},
                "failures":["worker 1 did not report"]}"#,
        );
        assert_eq!(
            r.figures().unwrap_err(),
            "load generator: 1 worker(s) failed: worker 1 did not report"
        );
    }

    #[test]
    fn without_pid_the_seed_figures_are_absent() {
        let r =
            parse(r#"{"bytes":{"data":1000},"throughput":{"mb_s":2500.0},"target_process":null}"#);
        let f = r.figures().unwrap();
        assert_eq!(f.gb_s, 2.5);
        assert_eq!(f.seed_cpu_s_per_gib, None);
        assert_eq!(f.peak_rss_mib, None);
    }
}
