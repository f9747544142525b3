//! One `seedcore-bench load` process against a running seeder, pinned to
//! the load generator's CPUs, and its JSON turned into a [`Measured`].

use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::proc::{Proc, Spec};
use super::results::Measured;
use crate::load::GRACE;

/// What to run.
pub(crate) struct LoadSpec<'a> {
    pub bench_bin: &'a Path,
    pub torrent: &'a Path,
    pub target: SocketAddr,
    pub peers: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub ramp: Duration,
    pub depth: crate::load::DepthMode,
    pub threads: usize,
    pub pid: u32,
    pub idle: bool,
    pub cpus: &'a str,
    pub logs: &'a Path,
    pub name: &'a str,
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// The load's arguments.
pub(crate) fn args(spec: &LoadSpec<'_>) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "load".into(),
        "--torrent".into(),
        spec.torrent.display().to_string(),
        "--target".into(),
        spec.target.to_string(),
        "--peers".into(),
        spec.peers.to_string(),
        "--duration".into(),
        secs(spec.duration),
        "--warmup".into(),
        secs(spec.warmup),
        "--ramp".into(),
        secs(spec.ramp),
        "--depth".into(),
        spec.depth.name(),
        "--threads".into(),
        spec.threads.to_string(),
        "--pid".into(),
        spec.pid.to_string(),
        "--json".into(),
    ];
    if spec.idle {
        a.push("--idle".into());
    }
    a
}

/// Runs the load to its end (bounded: warm-up + duration + grace + 30 s)
/// and returns its JSON report and the command line (taskset prefix
/// included).
pub(crate) fn run(spec: &LoadSpec<'_>) -> Result<(Value, String), String> {
    let a = args(spec);
    let limit = spec.warmup + spec.duration + GRACE + Duration::from_secs(30);
    let mut p = Proc::spawn(&Spec {
        name: spec.name,
        cpus: spec.cpus,
        limit,
        program: spec.bench_bin,
        args: &a,
        logs: spec.logs,
    })?;
    let command = format!("taskset -c {} {}", spec.cpus, p.command);
    let status = p.wait_exit(limit);
    if status.is_none() {
        p.stop();
        return Err(format!("load did not finish within {} s", limit.as_secs()));
    }
    let out = fs::read_to_string(&p.out_path).unwrap_or_default();
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("load printed no report: {}", p.stderr_tail()))?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("load report: {e}"))?;
    Ok((v, command))
}

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn u(v: &Value, path: &[&str]) -> Option<u64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_u64()
}

/// Total errors and a short description: non-zero kinds, the first
/// sample message, and any failure of the run itself.
pub(crate) fn errors(v: &Value) -> (u64, String) {
    let mut total = 0;
    let mut parts = Vec::new();
    if let Some(obj) = v.get("errors").and_then(Value::as_object) {
        for (k, n) in obj {
            let n = n.as_u64().unwrap_or(0);
            if n > 0 {
                total += n;
                parts.push(format!("{k} {n}"));
            }
        }
    }
    if let Some((k, msg)) = v
        .get("error_samples")
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
    {
        let m: String = msg.as_str().unwrap_or("").chars().take(100).collect();
        parts.push(format!("first {k}: {m}"));
    }
    for fail in v
        .get("failures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        parts.push(format!("FAILURE {}", fail.as_str().unwrap_or("?")));
    }
    (total, parts.join("; "))
}

/// The figures the report uses, from `load --json` output.
pub(crate) fn measured(v: &Value) -> Result<Measured, String> {
    let mb_s = f(v, &["throughput", "mb_s"]).ok_or("load report has no throughput")?;
    let usize_of = |k: &str| {
        u(v, &[k])
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    };
    let (errors, error_detail) = errors(v);
    Ok(Measured {
        gb_s: mb_s / 1000.0,
        cpu_s_per_gib: f(v, &["target_process", "cpu", "cpu_s_per_gib"]),
        peak_rss_kib: u(v, &["target_process", "memory", "peak_rss_kib"]),
        peers_with_data: usize_of("peers_with_data"),
        peers_open_at_end: usize_of("peers_open_at_end"),
        errors,
        error_detail,
        loadgen_cpu_s_per_gib: f(v, &["loadgen", "cpu_s_per_gib"]),
        latency_p50_ms: f(v, &["latency_us", "p50"]).map(|x| x / 1000.0),
        latency_p99_ms: f(v, &["latency_us", "p99"]).map(|x| x / 1000.0),
        warmup_s: f(v, &["warmup_s"]).unwrap_or(0.0),
        ramp_s: f(v, &["ramp_s"]).unwrap_or(0.0),
        ready_s: 0.0,
        depth_used: v
            .get("depth")
            .and_then(|d| d.get("used"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        seeder_reqq: u(v, &["depth", "seeder_reqq_max"]).and_then(|q| u32::try_from(q).ok()),
        command: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fields_are_picked_up() {
        let v: Value = serde_json::from_str(
            r#"{"throughput":{"mb_s":2500.0},"peers_with_data":15,"peers_open_at_end":16,
                "warmup_s":3.0,"ramp_s":0.0,
                "latency_us":{"p50":1500,"p99":9000},
                "errors":{"connect_refused":0,"closed_by_peer":2},
                "error_samples":{"closed_by_peer":"the peer closed the connection"},
                "loadgen":{"cpu_s_per_gib":0.15},
                "target_process":{"cpu":{"cpu_s_per_gib":0.4},"memory":{"peak_rss_kib":2048}},
                "depth":{"used":"250","seeder_reqq_max":250},
                "failures":[]}"#,
        )
        .unwrap();
        let m = measured(&v).unwrap();
        assert_eq!(m.gb_s, 2.5);
        assert_eq!((m.peers_with_data, m.peers_open_at_end), (15, 16));
        assert_eq!(m.cpu_s_per_gib, Some(0.4));
        assert_eq!(m.peak_rss_kib, Some(2048));
        assert_eq!((m.latency_p50_ms, m.latency_p99_ms), (Some(1.5), Some(9.0)));
        assert_eq!(m.errors, 2);
        assert_eq!((m.depth_used.as_str(), m.seeder_reqq), ("250", Some(250)));
        assert!(m
            .error_detail
            .starts_with("closed_by_peer 2; first closed_by_peer"));
        assert!(measured(&serde_json::json!({})).is_err());
    }

    #[test]
    fn load_arguments() {
        let spec = LoadSpec {
            bench_bin: Path::new("b"),
            torrent: Path::new("/t.torrent"),
            target: "127.0.0.1:7000".parse().unwrap(),
            peers: 2048,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(3),
            ramp: Duration::from_millis(2500),
            depth: crate::load::DepthMode::Fixed(64),
            threads: 1,
            pid: 42,
            idle: true,
            cpus: "1",
            logs: Path::new("/tmp"),
            name: "x",
        };
        let a = args(&spec).join(" ");
        assert_eq!(
            a,
            "load --torrent /t.torrent --target 127.0.0.1:7000 --peers 2048 --duration 10 \
             --warmup 3 --ramp 2.5 --depth 64 --threads 1 --pid 42 --json --idle"
        );
    }
}
