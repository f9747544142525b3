//! `seedcore tune --sweep`: measure settings against this host and keep the
//! best.
//!
//! For each point of the grid (shards x `reqq` x send path) it starts
//! `seedcore seed` on 127.0.0.1 with those settings, waits until a
//! BitTorrent handshake for the torrent is answered, runs
//! `seedcore-bench load --json --pid <seed>` for the point's share of the
//! budget, and stops the seed with SIGTERM (SIGKILL after
//! [`STOP_TIMEOUT`]). The table grows as points finish; at the end the
//! winner is written as a `seedcore seed --config` file.
//!
//! What is decided without processes (the grid, the time split, the choice,
//! the table and the file's header) is `seedcore_tuning::sweep`, tested
//! there. This module owns the processes, and keeps three promises:
//!
//! - **Loopback only.** The seed binds 127.0.0.1, runs no DHT, dials no
//!   one, and gets a copy of the torrent without trackers (same info-hash)
//!   when the original names some; the load generator refuses anything
//!   but loopback itself.
//! - **Every process it starts is stopped by PID**, on every path out
//!   ([`Proc`]'s `Drop` kills and reaps what is still running).
//! - **Hard stop at the budget.** Every wait is bounded by the deadline
//!   (the load generator's by the deadline less [`STOP_RESERVE`], so the
//!   seed's stop fits too); points that no longer fit are reported as
//!   skipped.
//!
//! The seed's environment is cleared of `SEEDCORE_*` variables and all its
//! settings come from a generated config file (the user's `--config` with
//! the point's values and the loopback overrides), so nothing from the
//! shell leaks into a measurement.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use seedcore_runtime::{Config, SendPath, Span};
use seedcore_tuning::sweep::report::{self, Outcome as PointOutcome, Row};
use seedcore_tuning::sweep::{self, Axes, Measured};

use crate::exit::Outcome;

mod point;
mod prepare;
mod proc;

use point::{pick_port, run_point, Ctx, PointRun};
use prepare::{command_line, host, prepare};
use proc::WorkDir;

/// The whole sweep's time when `--budget` is not given.
const DEFAULT_BUDGET: Duration = Duration::from_secs(120);
/// Simulated peers when `--peers` is not given.
const DEFAULT_PEERS: u32 = 64;
/// `reqq` values when `--reqq` is not given: the 1g and 100g presets'.
const DEFAULT_REQQ: [u32; 2] = [250, 1000];
/// Send paths when `--send-path` is not given.
const DEFAULT_PATHS: [SendPath; 2] = [SendPath::Writev, SendPath::Sendfile];
/// Where the best configuration goes when `--out` is not given.
const DEFAULT_OUT: &str = "seedcore-tuned.toml";
/// Longest wait for a seed to answer a handshake (it verifies its data
/// first; later points load the resume file the first one wrote).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a seed to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Time past its run the load generator gets to report (its own hard stop
/// leaves a stuck worker behind after 5 s).
const LOAD_GRACE: Duration = Duration::from_secs(7);
/// What a point is assumed to cost beside its load until one has run.
const FIRST_OVERHEAD: Duration = Duration::from_secs(1);
/// Kept free at the end of a point's load for stopping the seed.
const STOP_RESERVE: Duration = Duration::from_millis(500);
/// How often waits look again.
const POLL: Duration = Duration::from_millis(20);
/// The readiness probe's peer id.
const PROBE_PEER_ID: [u8; 20] = *b"-SC0001-sweep-probe-";

/// Arguments of `seedcore tune` that only `--sweep` uses.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// With --sweep: the .torrent to serve (data in --data, default the
    /// torrent's folder).
    #[arg(long, requires = "sweep")]
    torrent: Option<PathBuf>,
    /// With --sweep: the folder holding --torrent's data; without
    /// --torrent, a file or folder to serve (a v1 torrent is made for it in
    /// a temporary folder).
    #[arg(long, requires = "sweep")]
    data: Option<PathBuf>,
    /// With --sweep: time for the whole sweep (`90s`, `5m`); the budget is
    /// split evenly and points that no longer fit are skipped [default: 120s].
    #[arg(long, requires = "sweep")]
    budget: Option<Span>,
    /// With --sweep: simulated peers per point [default: 64].
    #[arg(long, requires = "sweep", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    peers: Option<u32>,
    /// With --sweep: `reqq` values to try, comma-separated [default: 250,1000].
    #[arg(long, requires = "sweep", value_delimiter = ',')]
    reqq: Vec<u32>,
    /// With --sweep: send paths to try (writev, sendfile, write)
    /// [default: writev,sendfile]. The seed has no send-buffer setting
    /// (the kernel sizes socket buffers), so this is the third axis.
    #[arg(long, requires = "sweep", value_delimiter = ',')]
    send_path: Vec<SendPath>,
    /// With --sweep: requests each simulated peer keeps in flight
    /// [default: the point's reqq, as a client filling the seed's queue].
    #[arg(long, requires = "sweep", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    depth: Option<u32>,
    /// With --sweep: where to write the best configuration
    /// [default: ./seedcore-tuned.toml].
    #[arg(long, requires = "sweep")]
    out: Option<PathBuf>,
    /// With --sweep: the load generator [default: seedcore-bench next to
    /// this binary].
    #[arg(long, requires = "sweep")]
    bench_bin: Option<PathBuf>,
}

/// Settings `seedcore tune` shares between the check and the sweep.
#[derive(Debug)]
pub struct Shared {
    /// `--shards`: the counts to try.
    pub shards: Vec<u64>,
    /// `--port`: listen there instead of a free port per point.
    pub port: Option<u16>,
    /// `--config`: the base of every point and of the file written.
    pub config: Option<PathBuf>,
    /// `--io-memory` override.
    pub io_memory: Option<u64>,
    /// `--max-peers` override.
    pub max_peers: Option<u32>,
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `seedcore tune --sweep`.
pub fn run(args: SweepArgs, shared: Shared) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let budget = args.budget.map_or(DEFAULT_BUDGET, |s| s.0);
    let deadline = started + budget;
    // Points are planned to end this much before the deadline (slack for
    // the last one); the deadline itself is where processes are killed.
    let plan_end = deadline
        .checked_sub(sweep::budget::tail_reserve(budget))
        .unwrap_or(deadline);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let shards = if shared.shards.is_empty() {
        sweep::default_shards(cores)
    } else {
        shared
            .shards
            .iter()
            .map(|&s| usize::try_from(s).context("--shards is out of range"))
            .collect::<anyhow::Result<_>>()?
    };
    let axes = Axes {
        shards,
        reqq: if args.reqq.is_empty() {
            DEFAULT_REQQ.to_vec()
        } else {
            args.reqq.clone()
        },
        send_paths: if args.send_path.is_empty() {
            DEFAULT_PATHS.to_vec()
        } else {
            args.send_path.clone()
        }
        .iter()
        .map(|p| p.name().to_string())
        .collect(),
    };
    let points = sweep::grid(&axes)?;
    let n = points.len();
    let fit = sweep::budget::points_that_fit(
        budget.saturating_sub(sweep::budget::tail_reserve(budget)),
        n,
        FIRST_OVERHEAD,
    );
    if fit == 0 {
        bail!(
            "--budget {}: too short for one point ({} s of load plus about {:.1} s to start and stop the seed)",
            Span(budget),
            sweep::budget::MIN_LOAD.as_secs(),
            FIRST_OVERHEAD.as_secs_f64()
        );
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !out_dir.is_dir() {
        bail!(
            "--out {}: folder {} does not exist",
            out.display(),
            out_dir.display()
        );
    }
    let seedcore = std::env::current_exe().context("cannot find this program's path")?;
    let bench = match &args.bench_bin {
        Some(b) => b.clone(),
        None => seedcore.with_file_name("seedcore-bench"),
    };
    if !bench.is_file() {
        bail!(
            "the load generator {} is not there; build it (cargo build --release -p seedcore-bench) or pass --bench-bin",
            bench.display()
        );
    }
    let mut base = match &shared.config {
        Some(p) => Config::load(p).with_context(|| format!("cannot use config {}", p.display()))?,
        None => Config::default(),
    };
    if let Some(m) = shared.io_memory {
        base.io_memory = seedcore_runtime::Bytes(m);
    }
    if let Some(m) = shared.max_peers {
        base.max_peers = m;
    }
    base.validate()
        .context("the base configuration is refused")?;
    if let Some(p) = shared.port {
        pick_port(Some(p))?;
    }
    let work = WorkDir::new()?;
    let (torrent, data, info_hash, about) = prepare(&args, &seedcore, &work, deadline)?;
    let peers = args.peers.unwrap_or(DEFAULT_PEERS);
    let ctx = Ctx {
        seedcore,
        bench,
        work,
        torrent,
        data,
        info_hash,
        base,
        port: shared.port,
        peers,
        depth: args.depth,
        deadline,
        plan_end,
    };

    println!(
        "seedcore tune --sweep: {n} points (shards {} x reqq {} x send_path {}), {peers} peers at depth {}, budget {}",
        list(&axes.shards),
        list(&axes.reqq),
        axes.send_paths.join(","),
        args.depth.map_or_else(|| "= reqq".to_string(), |d| d.to_string()),
        Span(budget)
    );
    println!(
        "serving {about} from {} on 127.0.0.1 only",
        ctx.data.display()
    );
    println!("(the seed has no send-buffer setting: the kernel sizes socket buffers; send_path is swept instead)");
    if fit < n {
        println!("note: the budget fits at most {fit} of {n} points; the rest will be skipped");
    }
    println!("{}", report::table_header());

    let mut rows = Vec::with_capacity(n);
    let mut measured: Vec<Measured> = Vec::new();
    let mut overhead = FIRST_OVERHEAD;
    let mut spent = false;
    for (i, point) in points.iter().enumerate() {
        let remaining = plan_end.saturating_duration_since(Instant::now());
        let slot = if spent {
            None
        } else {
            sweep::slot(remaining, n - i, overhead)
        };
        let run = match slot {
            None => PointRun {
                outcome: PointOutcome::Skipped,
                load: None,
            },
            Some(slot) => {
                let t0 = Instant::now();
                let run = run_point(&ctx, i, n, point, slot)?;
                if let Some(load) = run.load {
                    overhead = t0.elapsed().saturating_sub(load);
                }
                run
            }
        };
        spent |= run.outcome == PointOutcome::Skipped;
        let line = report::table_row(&Row {
            index: i + 1,
            total: n,
            point,
            load: run.load,
            outcome: &run.outcome,
        });
        println!("{line}");
        rows.push(line);
        if let PointOutcome::Ok(figures) = run.outcome {
            measured.push(Measured {
                point: point.clone(),
                figures,
            });
        }
    }

    let Some(best) = sweep::best(&measured).and_then(|i| measured.get(i)) else {
        eprintln!(
            "seedcore: no point of the sweep succeeded; nothing written (see the table for why)"
        );
        return Ok(Outcome::CheckFailed);
    };
    let mut chosen = ctx.base.clone();
    chosen.shards = Some(best.point.shards);
    chosen.reqq = best.point.reqq;
    chosen.send_path = best
        .point
        .send_path
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let command = command_line();
    let host = host();
    let mut text = report::toml_header(&report::Header {
        unix_time,
        command: &command,
        best,
        peers,
        host: &host,
        rows: &rows,
    });
    text.push_str(&chosen.to_toml());
    Config::from_toml(&text, None).context("the chosen configuration does not read back")?;
    let tmp = out_dir.join(format!(".seedcore-tuned-{}.tmp", std::process::id()));
    fs::write(&tmp, &text).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &out).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "best: {} ({:.2} GB/s); wrote {} in {:.0} s",
        best.point,
        best.figures.gb_s,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Outcome::Ok)
}
