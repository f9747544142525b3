//! `seedcore-bench`: the load generator (`load`), the raw loopback seeder
//! (`raw-seed`) and a test-data maker (`make-data`).
//!
//! Exit codes: 0 done; 1 the run finished but found a problem (hash
//! failures with `--verify`, or a worker that failed); 2 bad input.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use seedcore_bench::load::{self, DepthConfig, DepthMode, LoadConfig, Order};
use seedcore_bench::rawseed::{RawSeed, RawSeedConfig};
use seedcore_bench::{net, torrent};

#[derive(Parser)]
#[command(
    name = "seedcore-bench",
    version,
    about = "seedcore load generator and raw loopback seeder"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulated leechers against a seeder on loopback.
    Load(LoadArgs),
    /// The simplest possible seeder: the raw loopback ceiling.
    RawSeed(RawSeedArgs),
    /// Write pseudo-random test data and a v1 torrent for it.
    MakeData(MakeDataArgs),
    /// The same load against seedcore, libtorrent, transmission, aria2 and
    /// raw-seed; writes a Markdown report and an SVG chart.
    Compare(Box<seedcore_bench::compare::CompareArgs>),
    /// Real leechers (libtorrent, transmission, aria2, rtorrent,
    /// qBittorrent) downloading from seedcore and from libtorrent; writes
    /// a Markdown report and the figures as JSON.
    Leechers(Box<seedcore_bench::leechers::LeechersArgs>),
    /// One seedcore node under a hostile population for a long time, with
    /// a good libtorrent leecher downloading in a loop (bench/soak.sh).
    Soak(Box<SoakArgs>),
}

#[derive(clap::Args)]
struct SoakArgs {
    /// The seedcore binary.
    #[arg(long)]
    seedcore: PathBuf,
    /// The good leecher's torrent.
    #[arg(long)]
    torrent: PathBuf,
    /// A torrent with a large info dictionary (metadata requesters).
    #[arg(long)]
    big_torrent: PathBuf,
    /// A hybrid (v1 + v2) torrent (hash requesters).
    #[arg(long)]
    hybrid_torrent: PathBuf,
    /// Folder with the three torrents' data.
    #[arg(long)]
    data: PathBuf,
    /// Scratch folder (seed log, leecher downloads).
    #[arg(long)]
    work: PathBuf,
    /// Where to write soak.md, soak.json and soak.svg.
    #[arg(long)]
    out: PathBuf,
    /// Seconds of hostile population (after the baseline).
    #[arg(long, default_value_t = 1800.0)]
    duration: f64,
    /// Good-leecher downloads alone before the hostile phase.
    #[arg(long, default_value_t = 3)]
    baseline: usize,
    /// Fail when a download takes longer than the slowest baseline one
    /// times this (and the same for the longest wait for a piece).
    #[arg(long, default_value_t = 3.0)]
    wait_ratio: f64,
    /// libtorrent's Python (python3-libtorrent).
    #[arg(long, default_value = "/usr/bin/python3")]
    python: PathBuf,
    /// The good leecher script.
    #[arg(long, default_value = "bench/py/soak_leech.py")]
    leech_script: PathBuf,
    /// Hostile counts: downloaders, churners, never-reader threads (100
    /// connections each), slowloris threads (100 each), garbage senders,
    /// metadata requesters, hash requesters.
    #[arg(long, default_value = "4,2,1,1,2,2,1", value_delimiter = ',')]
    population: Vec<usize>,
    /// DHT noise datagrams per second.
    #[arg(long, default_value_t = 300)]
    dht_rate: u32,
}

#[derive(Clone, Copy, ValueEnum)]
enum OrderArg {
    Random,
    Sequential,
}

#[derive(clap::Args)]
struct LoadArgs {
    /// The .torrent to download.
    #[arg(long)]
    torrent: PathBuf,
    /// The seeder, HOST:PORT (loopback unless --allow-remote).
    #[arg(long)]
    target: String,
    /// Simulated peers, each from its own 127.x.y.z address.
    #[arg(long, default_value_t = 16)]
    peers: usize,
    /// Measured run length in seconds (hard stop after warm-up + this).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (throughput, latency and the
    /// target's CPU count from its end).
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Idle peers: handshake and extended handshake, then silence (no
    /// `interested`, no requests), to measure the cost of held connections.
    #[arg(long)]
    idle: bool,
    /// 16 KiB requests kept in flight per peer: a number (clamped to the
    /// seeder's reqq), `reqq` (as many as the seeder advertises; 250 if it
    /// advertises none) or `auto` (libtorrent's sizing: download rate x
    /// --request-queue-time / 16 KiB, capped by the seeder's reqq).
    #[arg(long, default_value = "reqq")]
    depth: DepthMode,
    /// With --depth auto: seconds of download the pipeline holds
    /// (libtorrent's request_queue_time).
    #[arg(long, default_value_t = 3.0)]
    request_queue_time: f64,
    /// With --depth auto: the cap when the seeder advertises no reqq
    /// (libtorrent's max_out_request_queue).
    #[arg(long, default_value_t = load::depth::DEFAULT_AUTO_MAX)]
    max_depth: u32,
    /// Milliseconds a received block keeps its pipeline slot, as a client
    /// writing and hashing it would (0: freed on arrival).
    #[arg(long, default_value_t = 0.0)]
    write_latency: f64,
    /// Request past the seeder's reqq (with a number or `auto`), as
    /// rtorrent does: the seeder must reject or serve the excess.
    #[arg(long)]
    ignore_reqq: bool,
    /// Milliseconds between pipeline top-ups (0: as slots free). With
    /// `--depth reqq`, 1000 behaves like Transmission 3.00.
    #[arg(long, default_value_t = 0.0)]
    refill_interval: f64,
    /// Piece order.
    #[arg(long, value_enum, default_value = "random")]
    order: OrderArg,
    /// SHA-1-check every completed piece.
    #[arg(long)]
    verify: bool,
    /// Spread the connections over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// Each second, disconnect and reconnect this percentage of peers.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// The seeder's pid: report its CPU per GiB and its memory.
    #[arg(long)]
    pid: Option<u32>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Permit a non-loopback target (only on hosts you control: this
    /// tool can saturate a link and a host).
    #[arg(long)]
    allow_remote: bool,
    /// Seconds before a failed peer reconnects.
    #[arg(long, default_value_t = 1.0)]
    retry_delay: f64,
    /// Seconds allowed for a TCP connect.
    #[arg(long, default_value_t = 5.0)]
    connect_timeout: f64,
    /// Seconds allowed from connect to the seeder's handshake.
    #[arg(long, default_value_t = 10.0)]
    handshake_timeout: f64,
    /// Seed for piece order and churn.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(clap::Args)]
struct RawSeedArgs {
    /// The .torrent to serve.
    #[arg(long)]
    torrent: PathBuf,
    /// Folder holding the torrent's files.
    #[arg(long)]
    data: PathBuf,
    /// Listen address, ADDR:PORT (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:6881")]
    listen: String,
    /// Threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Exit after this many seconds (else on SIGINT/SIGTERM).
    #[arg(long)]
    max_seconds: Option<f64>,
    /// Permit a non-loopback listen address.
    #[arg(long)]
    allow_remote: bool,
    /// Print the exit summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct MakeDataArgs {
    /// Folder to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Size in bytes; K, M, G suffixes are powers of 1024 (256M = 256 MiB).
    #[arg(long)]
    size: String,
    /// Piece length in bytes (0: automatic, as libtorrent picks it).
    #[arg(long, default_value_t = 0)]
    piece_length: u32,
    /// File name.
    #[arg(long, default_value = "data.bin")]
    name: String,
}

fn secs(v: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{what} must be a number of seconds >= 0, got {v}"))
}

fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().trim_end_matches("iB").trim_end_matches('B');
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .with_context(|| format!("--size {s:?} is not a size like 4M or 268435456"))?;
    n.checked_mul(mult)
        .with_context(|| format!("--size {s:?} is too large"))
}

fn cmd_load(a: LoadArgs) -> Result<ExitCode> {
    let t = Arc::new(torrent::Torrent::load(&a.torrent)?);
    let target = net::resolve(&a.target)?;
    let mut cfg = LoadConfig::new(t, target, a.peers, secs(a.duration, "--duration")?);
    cfg.torrent_path = a.torrent;
    cfg.warmup = secs(a.warmup, "--warmup")?;
    cfg.idle = a.idle;
    cfg.depth = DepthConfig {
        mode: a.depth,
        queue_time: secs(a.request_queue_time, "--request-queue-time")?,
        auto_max: a.max_depth,
        ignore_reqq: a.ignore_reqq,
        write_latency: secs(a.write_latency / 1000.0, "--write-latency")?,
        refill_interval: secs(a.refill_interval / 1000.0, "--refill-interval")?,
    };
    cfg.order = match a.order {
        OrderArg::Random => Order::Random,
        OrderArg::Sequential => Order::Sequential,
    };
    cfg.verify = a.verify;
    cfg.ramp = secs(a.ramp, "--ramp")?;
    cfg.churn_pct = a.churn;
    cfg.threads = a.threads;
    cfg.pid = a.pid;
    cfg.allow_remote = a.allow_remote;
    cfg.retry_delay = secs(a.retry_delay, "--retry-delay")?;
    cfg.connect_timeout = secs(a.connect_timeout, "--connect-timeout")?;
    cfg.handshake_timeout = secs(a.handshake_timeout, "--handshake-timeout")?;
    cfg.seed = a.seed;
    let report = load::run(&cfg)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    let bad = report.counters.hash_failures > 0 || !report.failures.is_empty();
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn cmd_raw_seed(a: RawSeedArgs) -> Result<ExitCode> {
    let t = Arc::new(torrent::Torrent::load(&a.torrent)?);
    let listen = net::resolve(&a.listen)?;
    let max_time = a
        .max_seconds
        .map(|s| secs(s, "--max-seconds"))
        .transpose()?;
    let seed = RawSeed::bind(&RawSeedConfig {
        torrent: t,
        data: a.data,
        listen,
        threads: a.threads,
        max_time,
        allow_remote: a.allow_remote,
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install the signal handler")?;
    }
    println!("raw-seed listening on {}", seed.local_addr());
    let _ = std::io::stdout().flush();
    let report = seed.run(stop);
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let s = &report.stats;
        println!(
            "raw-seed: {:.1} s, {} connections, {} blocks = {} bytes sent ({:.1} MB/s), {} rejected, {} dropped, {} protocol errors",
            report.elapsed_s,
            s.accepted,
            s.blocks,
            s.data_bytes,
            s.data_bytes as f64 / report.elapsed_s.max(1e-9) / 1e6,
            s.rejected,
            s.dropped,
            s.protocol_errors
        );
    }
    if !report.failures.is_empty() {
        for f in &report.failures {
            eprintln!("raw-seed: {f}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_make_data(a: MakeDataArgs) -> Result<ExitCode> {
    let size = parse_size(&a.size)?;
    if size == 0 {
        bail!("--size must be more than 0 bytes");
    }
    let path = torrent::make_data(&a.out, &a.name, size, a.piece_length)?;
    println!("{}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn cmd_compare(a: &seedcore_bench::compare::CompareArgs) -> Result<ExitCode> {
    let w = seedcore_bench::compare::main(a)?;
    for p in [&w.markdown, &w.svg, &w.json] {
        if p.exists() {
            println!("{}", p.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_soak(a: &SoakArgs) -> Result<ExitCode> {
    let [downloaders, churners, never_readers, slowloris, garbage, metadata, hashes] =
        a.population[..]
    else {
        bail!("--population takes 7 counts, e.g. 4,2,1,1,2,2,1");
    };
    let cfg = seedcore_bench::soak::SoakConfig {
        seedcore: a.seedcore.clone(),
        python: a.python.clone(),
        leech_script: a.leech_script.clone(),
        main: a.torrent.clone(),
        big: a.big_torrent.clone(),
        hybrid: a.hybrid_torrent.clone(),
        data: a.data.clone(),
        work: a.work.clone(),
        out: a.out.clone(),
        duration: secs(a.duration, "--duration")?,
        baseline_iterations: a.baseline.max(1),
        wait_ratio: a.wait_ratio,
        population: seedcore_bench::soak::hostile::Population {
            downloaders,
            churners,
            never_readers,
            slowloris,
            garbage,
            metadata,
            hashes,
        },
        dht_rate: a.dht_rate,
        sample_every: Duration::from_secs(2),
    };
    let pass = seedcore_bench::soak::run(&cfg)?;
    println!(
        "soak: {} (report in {})",
        if pass { "PASS" } else { "FAIL" },
        a.out.display()
    );
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Load(a) => cmd_load(a),
        Cmd::RawSeed(a) => cmd_raw_seed(a),
        Cmd::MakeData(a) => cmd_make_data(a),
        Cmd::Compare(a) => cmd_compare(&a),
        Cmd::Leechers(a) => match seedcore_bench::leechers::main(&a) {
            Ok(md) => {
                println!("{}", md.display());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => Err(anyhow::anyhow!(e)),
        },
        Cmd::Soak(a) => cmd_soak(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("seedcore-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("4MiB").unwrap(), 4 << 20);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
