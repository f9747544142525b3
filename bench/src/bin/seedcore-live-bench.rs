//! `seedcore-live-bench`: the live node's benchmarks, through its Rust
//! interface (`seedcore_runtime::Node`), with the load generator
//! (`seedcore-bench load`, started beside this binary) as the peers.
//!
//! - `limits`: how close the node's upload limit holds (wire bytes the
//!   peers read over a measured window / (limit x window)) at several
//!   peer counts and rates, the limit changed at run time between runs.
//! - `adds`: N small torrents added while P peers download a large one:
//!   time to add them all, time until all seed, resident memory per torrent,
//!   and the seed's upload rate while the adds run against a run without.
//!
//! Both write a Markdown report (and print it). Release build:
//! `cargo build --release -p seedcore-bench`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use seedcore_runtime::{
    AddRequest, AddSource, Bytes, Config, LimitsUpdate, Node, Seeder, Span, TorrentSpec,
    TorrentState,
};

#[derive(Parser)]
#[command(name = "seedcore-live-bench", about = "seedcore live-node benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Work folder for generated data (kept between runs).
    #[arg(long, global = true, default_value = "bench/work/live")]
    work: PathBuf,
    /// Where the Markdown report goes.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Upload-limit accuracy at several peer counts and rates.
    Limits {
        /// Limits to test, bytes per second (`8M,64M`).
        #[arg(long, value_delimiter = ',', default_value = "8M,64M")]
        rates: Vec<Bytes>,
        /// Peer counts.
        #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
        peers: Vec<usize>,
        /// Measured seconds per run.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
    },
    /// Many small torrents added while peers download another.
    Adds {
        /// Torrents to add.
        #[arg(long, default_value_t = 10_000)]
        torrents: usize,
        /// Peers downloading meanwhile.
        #[arg(long, default_value_t = 256)]
        peers: usize,
        /// Threads calling `Node::add` at once.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds of the baseline run (no adds).
        #[arg(long, default_value_t = 10.0)]
        baseline: f64,
        /// Add through the HTTP API (`POST /api/v1/torrents`, the node's
        /// API on loopback) or straight through `Node::add`.
        #[arg(long, value_enum, default_value = "http")]
        via: Via,
    },
}

/// How the adds reach the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Via {
    Http,
    Node,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.work)?;
    let report = match cli.cmd {
        Cmd::Limits {
            rates,
            peers,
            duration,
        } => limits(&cli.work, &rates, &peers, duration)?,
        Cmd::Adds {
            torrents,
            peers,
            clients,
            baseline,
            via,
        } => adds(&cli.work, torrents, peers, clients, baseline, via)?,
    };
    println!("{report}");
    if let Some(out) = cli.out {
        std::fs::write(&out, &report).with_context(|| format!("write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

/// The load generator next to this binary.
fn load_bin() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me.with_file_name("seedcore-bench");
    if !p.is_file() {
        bail!(
            "{} not found: build it (cargo build --release -p seedcore-bench)",
            p.display()
        );
    }
    Ok(p)
}

/// A file of `size` pseudo-random bytes and its torrent (made once).
fn big_torrent(work: &Path, size: u64) -> Result<PathBuf> {
    let dir = work.join(format!("big-{}", size >> 20));
    let file = dir.join("big.bin");
    if std::fs::metadata(&file).ok().map(|m| m.len()) != Some(size) {
        std::fs::create_dir_all(&dir)?;
        let mut f = std::fs::File::create(&file)?;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..size >> 20 {
            for c in buf.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                c.copy_from_slice(&x.to_le_bytes());
            }
            f.write_all(&buf)?;
        }
    }
    let made = seedcore_runtime::torrents::make_torrent(&dir, 0)?;
    Ok(made.torrent_path)
}

fn seed_config(torrent: &Path) -> Config {
    Config {
        port: 0,
        bind: vec!["127.0.0.1"
            .parse()
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))],
        dht: false,
        status_interval: Span(Duration::ZERO),
        max_outgoing: 0,
        torrents: vec![TorrentSpec {
            path: torrent.to_path_buf(),
            data: None,
        }],
        ..Config::default()
    }
}

/// Runs the load generator; returns its JSON report.
fn load(
    torrent: &Path,
    target: std::net::SocketAddr,
    peers: usize,
    warmup: f64,
    duration: f64,
) -> Result<serde_json::Value> {
    let out = Command::new(load_bin()?)
        .args(["load", "--json", "--torrent"])
        .arg(torrent)
        .args([
            "--target",
            &target.to_string(),
            "--peers",
            &peers.to_string(),
            "--warmup",
            &warmup.to_string(),
            "--duration",
            &duration.to_string(),
        ])
        .output()
        .context("run the load generator")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.trim()).with_context(|| {
        format!(
            "load output: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(v)
}

fn machine() -> String {
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let n = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{n} x {cpus}")
}

fn limits(work: &Path, rates: &[Bytes], peers: &[usize], duration: f64) -> Result<String> {
    let torrent = big_torrent(work, 256 << 20)?;
    let seeder = Seeder::start(seed_config(&torrent))?;
    let node = seeder.node();
    let target = seeder.local_addrs()[0];
    let mut rows = Vec::new();
    for rate in rates {
        node.set_limits(LimitsUpdate {
            upload_rate: Some(rate.0),
            ..LimitsUpdate::default()
        })?;
        for &p in peers {
            let r = load(&torrent, target, p, 2.0, duration)?;
            let wire = r["bytes"]["wire"].as_f64().unwrap_or(0.0);
            let data = r["bytes"]["data"].as_f64().unwrap_or(0.0);
            let secs = r["elapsed_s"].as_f64().unwrap_or(duration);
            let limit = rate.0 as f64;
            let row = (
                rate.0,
                p,
                secs,
                wire / (limit * secs),
                data / (limit * secs),
            );
            eprintln!(
                "limit {} peers {p}: {:.4} of the limit on the wire over {secs:.2} s",
                rate, row.3
            );
            rows.push(row);
        }
    }
    // The same runs unlimited, for scale.
    node.set_limits(LimitsUpdate {
        upload_rate: Some(0),
        ..LimitsUpdate::default()
    })?;
    let free = load(&torrent, target, 16, 2.0, duration)?;
    seeder.shutdown();
    let mut md = String::new();
    md.push_str("# Upload limit accuracy\n\n");
    md.push_str(&format!(
        "Machine: {}. Command: `seedcore-live-bench limits --rates {} --peers {} --duration {duration}`\n\
         (release build; seed in-process with its default shard count, load generator\n\
         `seedcore-bench load --warmup 2 --duration {duration}` as a separate process; the limit\n\
         changed at run time with `Node::set_limits` between runs; 256 MiB torrent, random order).\n\n",
        machine(),
        rates.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        peers.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
    ));
    md.push_str("Ratio = bytes the peers read in the measured window / (limit x window). The limit counts every byte written to peers (headers and protocol messages too), so the wire ratio is the one that must hold; payload is shown beside it.\n\n");
    md.push_str("| limit | peers | window s | wire / limit | payload / limit | within 5 % |\n| --- | --- | --- | --- | --- | --- |\n");
    for (rate, p, secs, w, d) in &rows {
        md.push_str(&format!(
            "| {} | {p} | {secs:.2} | {w:.4} | {d:.4} | {} |\n",
            Bytes(*rate),
            if (w - 1.0).abs() <= 0.05 {
                "yes"
            } else {
                "**no**"
            }
        ));
    }
    md.push_str(&format!(
        "\nUnlimited, 16 peers, same machine and run: {:.0} MB/s payload.\n",
        free["throughput"]["mb_s"].as_f64().unwrap_or(0.0)
    ));
    Ok(md)
}

/// A field of /proc/self/status in KiB (`VmRSS`, `RssAnon`...).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resident anonymous memory (heap, stacks): what the node itself holds,
/// without the page-cache pages of mapped data files that `VmRSS` also
/// counts (every added torrent's 16 KiB file is mapped and was read).
fn rss_kib() -> (u64, u64) {
    (status_kib("RssAnon:"), status_kib("VmRSS:"))
}

/// `n` small torrents (one 16 KiB file each) under `work`, made once.
fn small_torrents(work: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let dir = work.join(format!("small-{n}"));
    let list = dir.join("list.txt");
    if let Ok(text) = std::fs::read_to_string(&list) {
        let v: Vec<PathBuf> = text.lines().map(PathBuf::from).collect();
        if v.len() == n && v.iter().all(|p| p.is_file()) {
            return Ok(v);
        }
    }
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let folder = dir.join(format!("t{i:05}"));
        std::fs::create_dir_all(&folder)?;
        let mut bytes = vec![0u8; 16 << 10];
        for (j, b) in bytes.iter_mut().enumerate() {
            *b =
                u8::try_from(i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7)) % 251).unwrap_or(0);
        }
        std::fs::write(folder.join("f.bin"), &bytes)?;
        let made = seedcore_runtime::torrents::make_torrent(&folder, 1)?;
        out.push(made.torrent_path);
    }
    let text: Vec<String> = out.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(&list, text.join("\n"))?;
    Ok(out)
}

/// Samples the seed's upload rate once a second while `busy()` holds.
fn sample_rate(node: &Node, secs: f64) -> f64 {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut rates = Vec::new();
    std::thread::sleep(Duration::from_secs(1));
    while Instant::now() < end {
        if let Ok(s) = node.status() {
            rates.push(s.upload_rate);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    rates.iter().sum::<f64>() / rates.len().max(1) as f64
}

fn adds(
    work: &Path,
    n: usize,
    peers: usize,
    clients: usize,
    baseline: f64,
    via: Via,
) -> Result<String> {
    let big = big_torrent(work, 256 << 20)?;
    eprintln!("making {n} small torrents (not measured)...");
    let small = Arc::new(small_torrents(work, n)?);
    let state = work.join("state-adds");
    let _ = std::fs::remove_dir_all(&state);
    let mut cfg = seed_config(&big);
    cfg.state_dir = Some(state.clone());
    cfg.resume_dir = Some(work.join("resume-adds"));
    let _ = std::fs::remove_dir_all(work.join("resume-adds"));
    let seeder = Seeder::start(cfg)?;
    let node = seeder.node();
    let target = seeder.local_addrs()[0];

    // Baseline: the load alone; the seed's own upload rate sampled each
    // second (the same measure as during the adds).
    let total = baseline + 60.0;
    let big2 = big.clone();
    let loader = std::thread::spawn(move || load(&big2, target, peers, 0.0, total));
    std::thread::sleep(Duration::from_secs(3));
    eprintln!("baseline for {baseline} s...");
    let base_rate = sample_rate(&node, baseline);
    let rss_before = rss_kib();

    // The adds, from `clients` threads, while the load goes on; through
    // the node's HTTP API on loopback unless `--via node`.
    let api = match via {
        Via::Http => Some(seedcore_api::ApiServer::start(
            seedcore_api::ApiConfig::new("127.0.0.1:0".parse()?),
            Arc::new(node.clone()),
        )?),
        Via::Node => None,
    };
    let url = api.as_ref().map(|a| format!("http://{}", a.local_addr()));
    eprintln!("adding {n} torrents from {clients} threads via {via:?}...");
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let node = node.clone();
            let next = Arc::clone(&next);
            let small = Arc::clone(&small);
            let failures = Arc::clone(&failures);
            let client = url
                .as_deref()
                .map(|u| seedcore_api::client::Client::new(u, None, Duration::from_secs(60)));
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = small.get(i) else {
                    return;
                };
                let result = match &client {
                    Some(Ok(c)) => c
                        .call(
                            "POST",
                            "/api/v1/torrents",
                            seedcore_api::client::Send::Json(&serde_json::json!({ "path": p })),
                        )
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Some(Err(e)) => Err(e.to_string()),
                    None => node
                        .add(AddRequest::new(AddSource::TorrentFile(p.clone())))
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                };
                if let Err(e) = result {
                    eprintln!("add {}: {e}", p.display());
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // Upload rate while the adds run.
    let mut during = Vec::new();
    while next.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_secs(1));
        if let Ok(s) = node.status() {
            during.push(s.upload_rate);
        }
    }
    for w in workers {
        let _ = w.join();
    }
    let add_secs = started.elapsed().as_secs_f64();
    // Until every one seeds.
    let mut seeding_secs = f64::NAN;
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let list = node.torrents()?;
        let done = list
            .iter()
            .filter(|t| t.state == TorrentState::Seeding)
            .count();
        if done == n + 1 {
            seeding_secs = started.elapsed().as_secs_f64();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss_kib();
    let load_report = loader
        .join()
        .map_err(|_| anyhow::anyhow!("load thread"))??;
    seeder.shutdown();
    let during_rate = during.iter().sum::<f64>() / during.len().max(1) as f64;
    let per_torrent = (rss_after.0.saturating_sub(rss_before.0) as f64 * 1024.0) / n as f64;
    let per_torrent_all = (rss_after.1.saturating_sub(rss_before.1) as f64 * 1024.0) / n as f64;
    let mut md = String::new();
    md.push_str("# Adding torrents to a live node under load\n\n");
    md.push_str(&format!(
        "Machine: {}. Command: `seedcore-live-bench adds --torrents {n} --peers {peers} --clients {clients} --baseline {baseline} --via {}`\n\
         (release build; seed in-process, default shards, state folder on the work disk;\n\
         `seedcore-bench load --peers {peers}` on a 256 MiB torrent as a separate process the whole time;\n\
         each small torrent one 16 KiB file, added by path through {},\n\
         written to the state folder (fsync) before the call returns, then verified on the loader threads).\n\n",
        machine(),
        format!("{via:?}").to_lowercase(),
        match via {
            Via::Http => "the node's HTTP API (`POST /api/v1/torrents`, `seedcore_api::client`, loopback)",
            Via::Node => "`Node::add(AddSource::TorrentFile)`",
        }
    ));
    md.push_str("| figure | value |\n| --- | --- |\n");
    md.push_str(&format!(
        "| torrents added | {n} ({} failed) |\n",
        failures.load(Ordering::Relaxed)
    ));
    md.push_str(&format!(
        "| time for every `add` to return | {add_secs:.2} s ({:.0} adds/s) |\n",
        n as f64 / add_secs
    ));
    md.push_str(&format!(
        "| time until every one seeds | {seeding_secs:.2} s |\n"
    ));
    md.push_str(&format!(
        "| anonymous resident memory per added torrent | {:.0} bytes (RssAnon {} -> {} KiB) |\n",
        per_torrent, rss_before.0, rss_after.0
    ));
    md.push_str(&format!(
        "| all resident memory per added torrent (mapped data pages included) | {:.0} bytes (VmRSS {} -> {} KiB) |\n",
        per_torrent_all, rss_before.1, rss_after.1
    ));
    md.push_str(&format!(
        "| seed upload rate without adds ({baseline} s) | {:.1} MB/s |\n",
        base_rate / 1e6
    ));
    md.push_str(&format!(
        "| seed upload rate while adding ({} samples) | {:.1} MB/s ({:.3} of without) |\n",
        during.len(),
        during_rate / 1e6,
        during_rate / base_rate.max(1.0)
    ));
    md.push_str(&format!(
        "| load generator, whole run | {:.1} MB/s, {} peers with data |\n",
        load_report["throughput"]["mb_s"].as_f64().unwrap_or(0.0),
        load_report["peers_with_data"].as_u64().unwrap_or(0)
    ));
    Ok(md)
}
