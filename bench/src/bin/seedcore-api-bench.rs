//! `seedcore-api-bench adds`: what the HTTP API costs on the add path.
//!
//! N small torrents (one 16 KiB file each) are added to an in-process
//! node with a state folder, from C client threads, once through the
//! HTTP API (`POST /api/v1/torrents` with a JSON path, through
//! `seedcore_api::client`, the client `seedcore ctl` uses) and once
//! through the Rust interface (`Node::add`), each in its own child
//! process so neither inherits the other's memory. Reported side by side:
//! time until every add returned, time until every torrent seeds, per-add
//! latency (p50, p99) and resident memory per torrent, with the HTTP/Rust
//! ratios. No peers here: `seedcore-live-bench adds` measures adds under a
//! download load.
//!
//! `cargo build --release -p seedcore-bench && target/release/seedcore-api-bench adds`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use seedcore_api::client::{Client, Send};
use seedcore_api::{ApiConfig, ApiServer};
use seedcore_runtime::{AddRequest, AddSource, Config, Seeder, Span, TorrentState};

#[derive(Parser)]
#[command(name = "seedcore-api-bench", about = "seedcore HTTP API benchmarks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Work folder for generated torrents (kept between runs).
    #[arg(long, global = true, default_value = "bench/work/api")]
    work: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Adds through HTTP and through `Node::add`, side by side.
    Adds {
        /// Torrents to add.
        #[arg(long, default_value_t = 10_000)]
        torrents: usize,
        /// Client threads adding at once.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Where the Markdown report goes (also printed).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run one side only and print its figures as JSON (used by the
        /// side-by-side run for each child).
        #[arg(long)]
        via: Option<Via>,
        /// Run the `Node::add` side first (the disk's state may favour
        /// whichever runs first or second: run both orders).
        #[arg(long)]
        node_first: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Via {
    Http,
    Node,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Adds {
            torrents,
            clients,
            out,
            via,
            node_first,
        } => {
            let small = small_torrents(&cli.work, torrents)?;
            match via {
                Some(v) => {
                    let fig = run(&cli.work, &small, clients.max(1), v)?;
                    println!("{}", serde_json::to_string(&fig)?);
                }
                None => {
                    let md = side_by_side(&cli.work, torrents, clients.max(1), node_first)?;
                    println!("{md}");
                    if let Some(o) = out {
                        std::fs::write(&o, &md)
                            .with_context(|| format!("writing {}", o.display()))?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// N folders of one 16 KiB file and their `.torrent`s (made once, kept).
fn small_torrents(work: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let dir = work.join(format!("small-{n}"));
    let list = dir.join("list.txt");
    if let Ok(text) = std::fs::read_to_string(&list) {
        let v: Vec<PathBuf> = text.lines().map(PathBuf::from).collect();
        if v.len() == n && v.iter().all(|p| p.is_file()) {
            return Ok(v);
        }
    }
    eprintln!("making {n} small torrents (not measured)...");
    std::fs::create_dir_all(&dir)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let folder = dir.join(format!("t{i:05}"));
        std::fs::create_dir_all(&folder)?;
        let bytes: Vec<u8> = (0..16usize << 10)
            .map(|j| {
                u8::try_from(i.wrapping_mul(131).wrapping_add(j.wrapping_mul(7)) % 251).unwrap_or(0)
            })
            .collect();
        std::fs::write(folder.join("f.bin"), &bytes)?;
        let made = seedcore_runtime::torrents::make_torrent(&folder, 1)?;
        out.push(made.torrent_path);
    }
    let text: Vec<String> = out.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(&list, text.join("\n"))?;
    Ok(out)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Figures {
    adds_secs: f64,
    seeding_secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
    rss_per_torrent: f64,
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| seedcore_bench::procstat::parse_status_kib(&s, "VmRSS"))
        .unwrap_or(0)
}

/// One side: a fresh node, every torrent added from `clients` threads.
fn run(work: &Path, small: &[PathBuf], clients: usize, via: Via) -> Result<Figures> {
    let state = work.join(format!("state-{via:?}"));
    let resume = work.join(format!("resume-{via:?}"));
    for d in [&state, &resume] {
        let _ = std::fs::remove_dir_all(d);
    }
    let config = Config {
        port: 0,
        bind: vec!["127.0.0.1".parse()?],
        dht: false,
        status_interval: Span(Duration::ZERO),
        state_dir: Some(state),
        resume_dir: Some(resume),
        ..Config::default()
    };
    let seeder = Seeder::start(config)?;
    let node = seeder.node();
    let api = ApiServer::start(
        ApiConfig::new("127.0.0.1:0".parse()?),
        Arc::new(node.clone()),
    )?;
    let url = format!("http://{}", api.local_addr());
    std::thread::sleep(Duration::from_secs(1));
    let rss_before = rss_kib();
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(small.len())));
    let small = Arc::new(small.to_vec());
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (node, next, failures, latencies, small, url) = (
                node.clone(),
                Arc::clone(&next),
                Arc::clone(&failures),
                Arc::clone(&latencies),
                Arc::clone(&small),
                url.clone(),
            );
            std::thread::spawn(move || -> Result<()> {
                let client = Client::new(&url, None, Duration::from_secs(60))?;
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = small.get(i) else {
                        break;
                    };
                    let t0 = Instant::now();
                    let result = match via {
                        Via::Http => client
                            .call(
                                "POST",
                                "/api/v1/torrents",
                                Send::Json(&serde_json::json!({ "path": p })),
                            )
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                        Via::Node => node
                            .add(AddRequest::new(AddSource::TorrentFile(p.clone())))
                            .map(|_| ())
                            .map_err(|e| e.to_string()),
                    };
                    mine.push(t0.elapsed().as_secs_f64() * 1e3);
                    if let Err(e) = result {
                        eprintln!("add {}: {e}", p.display());
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Ok(mut l) = latencies.lock() {
                    l.extend(mine);
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    let adds_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(600);
    let seeding_secs = loop {
        let seeding = node
            .torrents()?
            .iter()
            .filter(|t| t.state == TorrentState::Seeding)
            .count();
        if seeding >= small.len() {
            break started.elapsed().as_secs_f64();
        }
        if Instant::now() > deadline {
            bail!("only {seeding} of {} seed after 10 minutes", small.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(2));
    let rss_after = rss_kib();
    drop(api);
    seeder.shutdown();
    let mut l = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_by(f64::total_cmp);
    // The quantile at `per_mille` / 1000.
    let pct = |per_mille: usize| {
        let k = l.len().saturating_sub(1) * per_mille / 1000;
        l.get(k).copied().unwrap_or(f64::NAN)
    };
    Ok(Figures {
        adds_secs,
        seeding_secs,
        p50_ms: pct(500),
        p99_ms: pct(990),
        failures: failures.load(Ordering::Relaxed),
        rss_per_torrent: rss_after.saturating_sub(rss_before) as f64 * 1024.0 / small.len() as f64,
    })
}

/// Both sides, each in a child process, HTTP first then Rust.
fn side_by_side(work: &Path, n: usize, clients: usize, node_first: bool) -> Result<String> {
    let me = std::env::current_exe()?;
    let mut figs = Vec::new();
    let order = if node_first {
        ["node", "http"]
    } else {
        ["http", "node"]
    };
    for via in order {
        eprintln!("adding {n} torrents via {via} from {clients} threads...");
        let out = Command::new(&me)
            .args(["--work"])
            .arg(work)
            .args([
                "adds",
                "--torrents",
                &n.to_string(),
                "--clients",
                &clients.to_string(),
            ])
            .args(["--via", via])
            .output()?;
        if !out.status.success() {
            bail!(
                "the {via} run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let fig: Figures = serde_json::from_slice(
            out.stdout
                .split(|b| *b == b'\n')
                .rfind(|l| l.starts_with(b"{"))
                .unwrap_or_default(),
        )?;
        figs.push(fig);
    }
    if node_first {
        figs.reverse();
    }
    let (h, r) = (&figs[0], &figs[1]);
    let mut md = String::new();
    md.push_str("# Adding torrents through the HTTP API and through `Node::add`\n\n");
    let flag = if node_first { " --node-first" } else { "" };
    md.push_str(&format!(
        "Command: `seedcore-api-bench adds --torrents {n} --clients {clients}{flag}` (release build;\n\
         node in-process, default shards, state folder and resume folder on the work disk, no\n\
         peers; each torrent one 16 KiB file, added by path; each side in its own process,\n\
         {} first).\n\n",
        order[0]
    ));
    md.push_str("| figure | HTTP API | `Node::add` | HTTP / Rust |\n| --- | --- | --- | --- |\n");
    let row = |name: &str, a: f64, b: f64, unit: &str| {
        format!(
            "| {name} | {a:.2} {unit} | {b:.2} {unit} | {:.2} |\n",
            a / b
        )
    };
    md.push_str(&row("every add returned", h.adds_secs, r.adds_secs, "s"));
    md.push_str(&format!(
        "| adds per second | {:.0} | {:.0} | {:.2} |\n",
        n as f64 / h.adds_secs,
        n as f64 / r.adds_secs,
        r.adds_secs / h.adds_secs
    ));
    md.push_str(&row(
        "every torrent seeding",
        h.seeding_secs,
        r.seeding_secs,
        "s",
    ));
    md.push_str(&row("add latency p50", h.p50_ms, r.p50_ms, "ms"));
    md.push_str(&row("add latency p99", h.p99_ms, r.p99_ms, "ms"));
    md.push_str(&row(
        "resident memory per torrent",
        h.rss_per_torrent,
        r.rss_per_torrent,
        "bytes",
    ));
    md.push_str(&format!(
        "| failed adds | {} | {} | |\n",
        h.failures, r.failures
    ));
    Ok(md)
}
