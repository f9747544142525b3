//! What a compare run measured, as data: written as JSON next to the
//! report (so the report can be re-rendered with `--render`) and turned
//! into Markdown by [`super::markdown`] and an SVG by [`super::svg`].

use serde::{Deserialize, Serialize};

/// A name and a value (versions, commands).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Named {
    /// What it is.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// Facts about the machine the run used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPUs online (`nproc`).
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Memory, GiB.
    pub mem_gib: f64,
    /// `ulimit -n` (soft).
    pub nofile: Option<u64>,
    /// `/proc/loadavg` before the first run.
    pub load_before: String,
    /// `/proc/loadavg` after the last run.
    pub load_after: String,
    /// CPUs the seeders ran on.
    pub seeder_cores: String,
    /// CPUs the load generator ran on.
    pub loadgen_cores: String,
    /// Software versions.
    pub versions: Vec<Named>,
}

/// How the runs were set up.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The torrent file.
    pub torrent: String,
    /// Its info-hash, hex.
    pub info_hash: String,
    /// Payload bytes.
    pub total_bytes: u64,
    /// Piece length.
    pub piece_length: u32,
    /// Pieces.
    pub pieces: u32,
    /// Measured seconds per run.
    pub duration_s: f64,
    /// Warm-up seconds (runs without a ramp).
    pub warmup_s: f64,
    /// Transmission's warm-up.
    pub transmission_warmup_s: f64,
    /// Ramp for large runs.
    pub ramp_s: f64,
    /// Runs above this many peers ramp.
    pub ramp_above: usize,
    /// `--depth`: a number, `reqq` or `auto` (files written before the
    /// modes existed hold a number).
    #[serde(deserialize_with = "number_or_string")]
    pub depth: String,
    /// Seeder threads where it has the knob (seedcore shards, raw-seed).
    pub seeder_threads: usize,
    /// Load-generator threads.
    pub loadgen_threads: usize,
    /// Repetitions of every run (the report shows medians).
    #[serde(default)]
    pub reps: usize,
    /// Seeders in report order.
    pub seeders: Vec<String>,
    /// Peer counts.
    pub peers: Vec<usize>,
}

/// A JSON number or string, as a string.
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(u64),
        Str(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Num(n) => n.to_string(),
        Raw::Str(s) => s,
    })
}

/// One measured run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// Block payload, 10^9 bytes per second.
    pub gb_s: f64,
    /// Seeder CPU seconds per GiB sent.
    pub cpu_s_per_gib: Option<f64>,
    /// Seeder peak RSS (VmHWM), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Peers that received at least one block.
    pub peers_with_data: usize,
    /// Peers connected at the end.
    pub peers_open_at_end: usize,
    /// Errors the load generator counted.
    pub errors: u64,
    /// Non-zero error kinds, e.g. `closed_by_peer 3`.
    pub error_detail: String,
    /// Load generator CPU seconds per GiB.
    pub loadgen_cpu_s_per_gib: Option<f64>,
    /// Median request latency, ms.
    pub latency_p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub latency_p99_ms: Option<f64>,
    /// Warm-up of this run, s.
    pub warmup_s: f64,
    /// Ramp of this run, s.
    pub ramp_s: f64,
    /// Seconds from spawn to the first answered handshake.
    pub ready_s: f64,
    /// The pipeline depth the load used against this seeder (`250`, or
    /// `2-250 (mean 180)` when it varied); empty in older files.
    #[serde(default)]
    pub depth_used: String,
    /// The `reqq` the seeder advertised (largest seen; none: it sent none).
    #[serde(default)]
    pub seeder_reqq: Option<u32>,
    /// The load command.
    pub command: String,
}

/// One seeder at one peer count.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Seeder name.
    pub seeder: String,
    /// Peers asked for.
    pub peers: usize,
    /// Which repetition (0-based).
    #[serde(default)]
    pub rep: usize,
    /// The figures, or why there are none.
    pub result: Result<Measured, String>,
}

/// The repetitions of one seeder at one peer count, summed up.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary<'a> {
    /// The run with the median throughput (the lower middle one for an
    /// even count): its other figures are the ones reported.
    pub median: &'a Measured,
    /// Lowest throughput of the measured runs.
    pub min_gb_s: f64,
    /// Highest.
    pub max_gb_s: f64,
    /// Runs measured.
    pub ok: usize,
    /// Runs made.
    pub total: usize,
    /// The first failure's reason, if any run failed.
    pub first_error: Option<&'a str>,
}

/// Idle connections held to seedcore.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleResult {
    /// Connections asked for.
    pub asked: usize,
    /// Handshaken and open at the end (load generator's count).
    pub held: usize,
    /// Most peers seedcore's own status line reported.
    pub seedcore_peers: Option<u64>,
    /// VmRSS before connecting, KiB.
    pub rss_before_kib: u64,
    /// Highest VmRSS sampled while connected, KiB.
    pub rss_held_kib: u64,
    /// Errors counted.
    pub errors: u64,
    /// Non-zero error kinds.
    pub error_detail: String,
    /// The load command.
    pub command: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

impl IdleResult {
    /// Resident bytes per held connection.
    pub fn bytes_per_conn(&self) -> Option<f64> {
        (self.held > 0 && self.failure.is_none()).then(|| {
            self.rss_held_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0 / self.held as f64
        })
    }
}

/// One start of seedcore with many torrents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartTiming {
    /// Spawn to an answered handshake for the last torrent, s.
    pub last_torrent_s: f64,
    /// Torrents that then answered a handshake (one probe each).
    pub answered: usize,
    /// Spawn to the first JSON status listing every torrent with all its
    /// pieces, s (status lines come once a second).
    pub status_s: Option<f64>,
    /// VmRSS once serving, KiB.
    pub rss_kib: Option<u64>,
}

/// seedcore starting many small torrents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManyResult {
    /// Torrents.
    pub torrents: usize,
    /// Bytes in each.
    pub bytes_each: u64,
    /// First start: no resume files, every piece verified.
    pub cold: Option<StartTiming>,
    /// Second start: resume files from the first.
    pub resumed: Option<StartTiming>,
    /// The seed command (torrent list shortened).
    pub command: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
}

/// Everything one `compare` run produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// UTC date, YYYY-MM-DD.
    pub date: String,
    /// Host label.
    pub host: String,
    /// UTC start time.
    pub started: String,
    /// The compare command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// The setup.
    pub setup: Setup,
    /// Every run, in the order made.
    pub runs: Vec<Run>,
    /// Idle connections, when asked for.
    pub idle: Option<IdleResult>,
    /// Many torrents, when asked for.
    pub many: Option<ManyResult>,
    /// Each seeder's command line (from its first run).
    pub seeder_commands: Vec<Named>,
    /// Extra setup per seeder that no command line shows.
    pub setup_notes: Vec<Named>,
}

impl Results {
    /// The runs of `seeder` at `peers`, summed up; `None` when there
    /// were none, `Err` with the first reason when none was measured.
    pub fn summary(&self, seeder: &str, peers: usize) -> Option<Result<Summary<'_>, &str>> {
        let runs: Vec<&Run> = self
            .runs
            .iter()
            .filter(|r| r.seeder == seeder && r.peers == peers)
            .collect();
        let first_error = runs.iter().find_map(|r| r.result.as_ref().err());
        let mut ok: Vec<&Measured> = runs.iter().filter_map(|r| r.result.as_ref().ok()).collect();
        ok.sort_by(|a, b| a.gb_s.total_cmp(&b.gb_s));
        let Some(&median) = ok.get(ok.len().saturating_sub(1) / 2) else {
            return first_error.map(|e| Err(e.as_str()));
        };
        Some(Ok(Summary {
            median,
            min_gb_s: ok.first().map_or(0.0, |m| m.gb_s),
            max_gb_s: ok.last().map_or(0.0, |m| m.gb_s),
            ok: ok.len(),
            total: runs.len(),
            first_error: first_error.map(String::as_str),
        }))
    }

    /// Median throughput of `seeder` at `peers`, when measured and
    /// non-zero (a ratio's denominator).
    pub fn gb_s(&self, seeder: &str, peers: usize) -> Option<f64> {
        self.measured_gb_s(seeder, peers).filter(|g| *g > 0.0)
    }

    /// Median throughput of `seeder` at `peers` when measured, zero
    /// included (for the chart).
    pub fn measured_gb_s(&self, seeder: &str, peers: usize) -> Option<f64> {
        match self.summary(seeder, peers)? {
            Ok(s) => Some(s.median.gb_s),
            Err(_) => None,
        }
    }

    /// `<date>-<host>`, the stem of the output files.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.date, self.host)
    }
}
