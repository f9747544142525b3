//! `seedcore-bench soak`: one seedcore node under a mixed, hostile
//! population for a long time, while a good libtorrent leecher downloads
//! and checks the whole torrent again and again.
//!
//! The run: start the seed (its trackers and DHT bootstrap point at our
//! hostile services), start the good leecher, let it finish a few
//! downloads alone (the baseline), then start the hostile population
//! (downloaders, churners, never-readers, slowloris, garbage senders,
//! metadata and hash requesters, a malicious HTTP/UDP tracker, DHT noise)
//! for the soak's duration. Every few seconds it reads the seed's memory
//! (RSS, anonymous), descriptors, TCP sockets and their kernel queues, and
//! the machine's socket memory. At the end: a report (Markdown, JSON, SVG)
//! and a verdict: fail if anything grows without bound (the last third of
//! the hostile phase against the first, with slack), if the good leecher
//! ever took longer than its baseline times a ratio, if a piece failed,
//! or if the seed died.
//!
//! Every loop is bounded by the deadline; the processes started here
//! (the seed, the leecher) are stopped by PID.

pub mod hostile;
pub mod peer;
pub mod plot;
pub mod sample;
pub mod services;
pub mod verdict;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;

use hostile::{Ctx, Population, Target};
use sample::Sample;
use verdict::{Check, Iteration, Slack};

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The seedcore binary.
    pub seedcore: PathBuf,
    /// A Python with `libtorrent` (Debian's python3-libtorrent).
    pub python: PathBuf,
    /// `bench/py/soak_leech.py`.
    pub leech_script: PathBuf,
    /// The good leecher's torrent.
    pub main: PathBuf,
    /// A torrent with a large info dictionary (metadata requesters).
    pub big: PathBuf,
    /// A hybrid torrent (hash requesters).
    pub hybrid: PathBuf,
    /// Folder with the three torrents' data.
    pub data: PathBuf,
    /// Scratch folder.
    pub work: PathBuf,
    /// Report folder.
    pub out: PathBuf,
    /// Hostile phase length.
    pub duration: Duration,
    /// Leecher downloads before the hostile phase.
    pub baseline_iterations: usize,
    /// How many times its slowest baseline download a download may take.
    pub wait_ratio: f64,
    /// How many of each hostile behaviour.
    pub population: Population,
    /// DHT noise datagrams per second.
    pub dht_rate: u32,
    /// How often the seed is measured.
    pub sample_every: Duration,
}

fn target_of(path: &Path) -> Result<Target> {
    let t = crate::torrent::Torrent::load(path)?;
    let roots = t
        .meta
        .info
        .files
        .iter()
        .filter_map(|f| f.pieces_root)
        .collect();
    Ok(Target {
        info_hash: t.info_hash,
        pieces: t.geometry.piece_count(),
        piece_length: t.geometry.piece_length(),
        metadata_size: u32::try_from(t.meta.info_bytes.len()).unwrap_or(u32::MAX),
        roots,
    })
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child we started, stopped by PID when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            if let Ok(pid) = i32::try_from(self.0.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
            let _ = self.0.wait();
        }
    }
}

/// Leecher output, shared with the reader thread.
#[derive(Default)]
struct Leech {
    progress: Vec<(f64, u64)>,
    iterations: Vec<Iteration>,
}

/// Runs the soak; returns whether it passed.
pub fn run(cfg: &SoakConfig) -> Result<bool> {
    std::fs::create_dir_all(&cfg.work)?;
    std::fs::create_dir_all(&cfg.out)?;
    let main = target_of(&cfg.main)?;
    let big = target_of(&cfg.big)?;
    let hybrid = target_of(&cfg.hybrid)?;
    let sv = services::bind()?;
    let port = free_port()?;
    let dht_port = free_port()?;
    let seed_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let dht_addr: SocketAddr = ([127, 0, 0, 1], dht_port).into();
    let log = std::fs::File::create(cfg.work.join("seed.log"))?;
    let child = Command::new(&cfg.seedcore)
        .arg("seed")
        .args([&cfg.main, &cfg.big, &cfg.hybrid])
        .arg("--data")
        .arg(&cfg.data)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--dht-port", &dht_port.to_string()])
        .args(["--dht-bootstrap", &sv.dht_bootstrap.to_string()])
        .args(["--tracker", &format!("http://{}/announce", sv.http_tracker)])
        .args(["--tracker", &format!("udp://{}", sv.udp_tracker)])
        .args(["--resume-dir", &cfg.work.join("resume").to_string_lossy()])
        .args(["--status-interval", "10s"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start seedcore")?;
    let seed_pid = child.id();
    let mut seed = Proc(child);
    let t0 = Instant::now();
    // Wait for it to listen (it verifies first).
    while TcpStream::connect_timeout(&seed_addr, Duration::from_millis(200)).is_err() {
        if t0.elapsed() > Duration::from_secs(300) || seed.0.try_wait()?.is_some() {
            bail!(
                "seedcore did not start listening; see {}",
                cfg.work.join("seed.log").display()
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "soak: seed {seed_pid} listening on {seed_addr} after {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    // The good leecher, for the whole run (baseline, hostile phase, margin).
    let leech_secs = cfg.duration.as_secs_f64() + 900.0;
    let mut leecher = Proc(
        Command::new(&cfg.python)
            .arg(&cfg.leech_script)
            .arg(&cfg.main)
            .arg(seed_addr.to_string())
            .arg(cfg.work.join("leech"))
            .arg(format!("{leech_secs}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the libtorrent leecher")?,
    );
    let leech = Arc::new(Mutex::new(Leech::default()));
    let reader = {
        let leech = Arc::clone(&leech);
        let out = leecher.0.stdout.take().context("leecher stdout")?;
        thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let mut l = leech
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(p) = v.get("progress") {
                    l.progress.push((
                        p["t"].as_f64().unwrap_or(0.0),
                        p["bytes"].as_u64().unwrap_or(0),
                    ));
                } else if let Some(i) = v.get("iteration") {
                    if let Ok(it) = serde_json::from_value::<Iteration>(i.clone()) {
                        eprintln!(
                            "soak: leecher download {} {:.2}s stall {:.2}s ok {}",
                            it.n, it.seconds, it.max_stall, it.ok
                        );
                        l.iterations.push(it);
                    }
                }
            }
        })
    };
    let leech_t0 = Instant::now();

    // Sampling, from now to the end.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (samples, on, every) = (
            Arc::clone(&samples),
            Arc::clone(&sampling),
            cfg.sample_every,
        );
        thread::spawn(move || {
            while on.load(Ordering::Relaxed) {
                match sample::take(seed_pid, leech_t0.elapsed().as_secs_f64()) {
                    Some(s) => samples
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(s),
                    None => break,
                }
                let end = Instant::now() + every;
                while on.load(Ordering::Relaxed) && Instant::now() < end {
                    thread::sleep(Duration::from_millis(100));
                }
            }
        })
    };

    // Baseline: the leecher alone.
    let baseline_deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = leech
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iterations
            .len();
        if n >= cfg.baseline_iterations {
            break;
        }
        if Instant::now() > baseline_deadline
            || leecher.0.try_wait()?.is_some()
            || seed.0.try_wait()?.is_some()
        {
            bail!(
                "the good leecher did not finish {} baseline downloads",
                cfg.baseline_iterations
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    let baseline_end = leech_t0.elapsed().as_secs_f64();
    eprintln!(
        "soak: baseline done at {baseline_end:.1}s; hostile phase for {:?}",
        cfg.duration
    );

    // The hostile phase.
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Ctx {
        seed: seed_addr,
        main,
        big,
        hybrid,
        deadline: Instant::now() + cfg.duration,
        stop: Arc::clone(&stop),
    });
    let (mut threads, mut stats) = hostile::start(&ctx, &cfg.population);
    let (t2, s2) = services::start(sv, &ctx, dht_addr, cfg.dht_rate);
    threads.extend(t2);
    stats.extend(s2);
    let mut seed_died = false;
    while Instant::now() < ctx.deadline {
        if seed.0.try_wait()?.is_some() {
            seed_died = true;
            break;
        }
        thread::sleep(Duration::from_secs(1));
    }
    stop.store(true, Ordering::Relaxed);
    let hostile_end = leech_t0.elapsed().as_secs_f64();
    let join_deadline = Instant::now() + Duration::from_secs(60);
    for t in threads {
        while !t.is_finished() && Instant::now() < join_deadline {
            thread::sleep(Duration::from_millis(50));
        }
        if t.is_finished() {
            let _ = t.join();
        }
    }
    // Stop the leecher (by PID), then the seed with SIGTERM: a clean stop.
    drop(leecher);
    let _ = reader.join();
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let mut clean_exit = None;
    if !seed_died {
        if let Ok(pid) = i32::try_from(seed_pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if let Some(st) = seed.0.try_wait()? {
                clean_exit = Some(st.success());
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
    drop(seed);

    let samples = samples
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let leech = std::mem::take(
        &mut *leech
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let stats: BTreeMap<&str, serde_json::Value> =
        stats.iter().map(|(k, v)| (*k, v.to_json())).collect();
    write_report(
        cfg,
        &samples,
        &leech,
        baseline_end,
        hostile_end,
        seed_died,
        clean_exit,
        &stats,
    )
}

/// Throughput to the good leecher, MB/s, over windows of `w` seconds.
fn throughput(progress: &[(f64, u64)], w: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut start = match progress.first() {
        Some(&p) => p,
        None => return out,
    };
    for &(t, b) in progress {
        if t - start.0 >= w {
            out.push((t, (b.saturating_sub(start.1)) as f64 / (t - start.0) / 1e6));
            start = (t, b);
        }
    }
    out
}

/// The five slowest downloads with what the machine and the seed were
/// doing meanwhile: a slow download on a loaded machine with an idle seed
/// points at the machine, one with a busy seed at the seed.
fn slowest(iters: &[Iteration], samples: &[Sample]) -> String {
    let mut v: Vec<&Iteration> = iters.iter().filter(|i| i.error.is_none()).collect();
    v.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let rates = cpu_rate(samples);
    let mut s = String::from(
        "\n## Slowest downloads\n\n| download | started (s) | took (s) | longest wait (s) | max load average | seed CPU (cores, mean) | seed major faults | seed disk reads (MiB) |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for i in v.iter().take(5) {
        let (from, to) = (i.start, i.start + i.seconds);
        let load = samples
            .iter()
            .filter(|s| s.t >= from && s.t <= to + 2.0)
            .map(|s| s.load1)
            .fold(0.0, f64::max);
        let cpu: Vec<f64> = rates
            .iter()
            .filter(|r| r.0 >= from && r.0 <= to + 2.0)
            .map(|r| r.1)
            .collect();
        let cpu = if cpu.is_empty() {
            0.0
        } else {
            cpu.iter().sum::<f64>() / cpu.len() as f64
        };
        s.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} |\n",
            i.n, i.start, i.seconds, i.max_stall, load, cpu
        ));
    }
    s
}

/// The seed's CPU use between samples, in cores.
fn cpu_rate(samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter(|w| w[1].t > w[0].t)
        .map(|w| {
            (
                w[1].t,
                (w[1].seed_cpu_s - w[0].seed_cpu_s).max(0.0) / (w[1].t - w[0].t),
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn write_report(
    cfg: &SoakConfig,
    samples: &[Sample],
    leech: &Leech,
    baseline_end: f64,
    hostile_end: f64,
    seed_died: bool,
    clean_exit: Option<bool>,
    stats: &BTreeMap<&str, serde_json::Value>,
) -> Result<bool> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut checks: Vec<Check> = vec![
        verdict::growth(
            samples,
            baseline_end,
            hostile_end,
            "seed resident memory (VmRSS)",
            "MiB",
            &Slack {
                relative: 0.25,
                absolute: 32.0,
            },
            |s| mib(s.rss_kib),
        ),
        verdict::growth(
            samples,
            baseline_end,
            hostile_end,
            "seed heap (anonymous memory)",
            "MiB",
            &Slack {
                relative: 0.25,
                absolute: 32.0,
            },
            |s| mib(s.anon_kib),
        ),
        verdict::growth(
            samples,
            baseline_end,
            hostile_end,
            "seed file descriptors",
            "fds",
            &Slack {
                relative: 0.25,
                absolute: 64.0,
            },
            |s| s.fds as f64,
        ),
        verdict::growth(
            samples,
            baseline_end,
            hostile_end,
            "seed TCP connections",
            "sockets",
            &Slack {
                relative: 0.25,
                absolute: 64.0,
            },
            |s| s.tcp_sockets as f64,
        ),
        verdict::growth(
            samples,
            baseline_end,
            hostile_end,
            "kernel queues of the seed's sockets",
            "MiB",
            &Slack {
                relative: 0.5,
                absolute: 16.0,
            },
            |s| s.tcp_queued_bytes as f64 / 1048576.0,
        ),
    ];
    let mut info = verdict::growth(
        samples,
        baseline_end,
        hostile_end,
        "machine TCP memory (sockstat, all processes)",
        "MiB",
        &Slack {
            relative: 0.5,
            absolute: 64.0,
        },
        |s| s.sockstat_tcp_mem_pages as f64 * 4.0 / 1024.0,
    );
    info.note = format!(
        "{} (whole machine, shared with other jobs: reported, not judged)",
        info.note
    );
    checks.extend(verdict::leecher(
        &leech.iterations,
        baseline_end,
        cfg.wait_ratio,
    ));
    checks.push(Check {
        name: "seed alive to the end, clean stop on SIGTERM".into(),
        first: 0.0,
        last: 0.0,
        limit: 0.0,
        unit: "",
        pass: !seed_died && clean_exit == Some(true),
        note: format!("died during the run: {seed_died}; exit on SIGTERM: {clean_exit:?}"),
    });
    let pass = checks.iter().all(|c| c.pass);

    let tput = throughput(&leech.progress, 5.0);
    let panels = [
        plot::Panel {
            title: "good leecher throughput (5 s windows)",
            unit: "MB/s",
            series: vec![plot::Series {
                name: "libtorrent",
                color: "#1f77b4",
                points: tput.clone(),
            }],
        },
        plot::Panel {
            title: "seed heap (anonymous memory; VmRSS, mostly mapped files, is in the table)",
            unit: "MiB",
            series: vec![plot::Series {
                name: "anonymous",
                color: "#ff7f0e",
                points: samples.iter().map(|s| (s.t, mib(s.anon_kib))).collect(),
            }],
        },
        plot::Panel {
            title: "seed descriptors and connections",
            unit: "count",
            series: vec![
                plot::Series {
                    name: "fds",
                    color: "#2ca02c",
                    points: samples.iter().map(|s| (s.t, s.fds as f64)).collect(),
                },
                plot::Series {
                    name: "TCP sockets",
                    color: "#9467bd",
                    points: samples
                        .iter()
                        .map(|s| (s.t, s.tcp_sockets as f64))
                        .collect(),
                },
            ],
        },
        plot::Panel {
            title: "kernel socket memory",
            unit: "MiB",
            series: vec![
                plot::Series {
                    name: "seed's queues",
                    color: "#8c564b",
                    points: samples
                        .iter()
                        .map(|s| (s.t, s.tcp_queued_bytes as f64 / 1048576.0))
                        .collect(),
                },
                plot::Series {
                    name: "machine TCP mem",
                    color: "#7f7f7f",
                    points: samples
                        .iter()
                        .map(|s| (s.t, s.sockstat_tcp_mem_pages as f64 * 4.0 / 1024.0))
                        .collect(),
                },
            ],
        },
        plot::Panel {
            title: "machine load (1-minute average) and the seed's CPU",
            unit: "runnable tasks / cores",
            series: vec![
                plot::Series {
                    name: "load average",
                    color: "#bcbd22",
                    points: samples.iter().map(|s| (s.t, s.load1)).collect(),
                },
                plot::Series {
                    name: "seed CPU (cores)",
                    color: "#17becf",
                    points: cpu_rate(samples),
                },
            ],
        },
    ];
    let svg = plot::chart(
        "seedcore soak: a good leecher among hostile peers",
        &panels,
        hostile_end,
        baseline_end,
    );
    let stem = cfg.out.join("soak");
    std::fs::write(stem.with_extension("svg"), svg)?;
    let report = json!({
        "pass": pass,
        "duration_s": cfg.duration.as_secs_f64(),
        "baseline_end_s": baseline_end,
        "hostile_end_s": hostile_end,
        "wait_ratio": cfg.wait_ratio,
        "population": format!("{:?}", cfg.population),
        "dht_rate": cfg.dht_rate,
        "checks": checks,
        "machine_tcp_memory": info,
        "hostile": stats,
        "iterations": leech.iterations,
        "samples": samples,
        "throughput_mb_s": tput,
    });
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let mut md = markdown(
        cfg,
        &checks,
        &info,
        leech,
        stats,
        pass,
        baseline_end,
        hostile_end,
    );
    md.push_str(&slowest(&leech.iterations, samples));
    std::fs::write(stem.with_extension("md"), md)?;
    Ok(pass)
}

#[allow(clippy::too_many_arguments)]
fn markdown(
    cfg: &SoakConfig,
    checks: &[Check],
    info: &Check,
    leech: &Leech,
    stats: &BTreeMap<&str, serde_json::Value>,
    pass: bool,
    baseline_end: f64,
    hostile_end: f64,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "# Soak: {}\n\n",
        if pass { "PASS" } else { "FAIL" }
    ));
    s.push_str(&format!(
        "One seedcore node, {:.0} s of hostile population after a {:.0} s baseline (the good leecher alone, {} downloads). \
         Chart: `soak.svg`; every sample: `soak.json`.\n\n",
        hostile_end - baseline_end,
        baseline_end,
        cfg.baseline_iterations
    ));
    s.push_str(&format!(
        "Population: `{:?}`, DHT noise {} datagrams/s.\n\n",
        cfg.population, cfg.dht_rate
    ));
    s.push_str("| check | first third / baseline | last third / worst | limit | pass |\n| --- | --- | --- | --- | --- |\n");
    for c in checks.iter().chain(std::iter::once(info)) {
        s.push_str(&format!(
            "| {} | {:.2} {} | {:.2} {} | {:.2} {} | {} |\n",
            c.name,
            c.first,
            c.unit,
            c.last,
            c.unit,
            c.limit,
            c.unit,
            if c.pass { "yes" } else { "**no**" }
        ));
    }
    s.push_str("\nHow each is judged:\n\n");
    for c in checks.iter().chain(std::iter::once(info)) {
        s.push_str(&format!("- {}: {}\n", c.name, c.note));
    }
    let done: Vec<&Iteration> = leech
        .iterations
        .iter()
        .filter(|i| i.error.as_deref() != Some("deadline"))
        .collect();
    let base: Vec<f64> = done
        .iter()
        .filter(|i| i.start < baseline_end)
        .map(|i| i.seconds)
        .collect();
    let hostile: Vec<f64> = done
        .iter()
        .filter(|i| i.start >= baseline_end)
        .map(|i| i.seconds)
        .collect();
    let med = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    s.push_str(&format!(
        "\nGood leecher: {} downloads in the baseline (median {:.2} s), {} during the hostile phase (median {:.2} s, ratio {:.2}); \
         every one re-hashed from disk after completion.\n",
        base.len(),
        med(&base),
        hostile.len(),
        med(&hostile),
        if med(&base) > 0.0 { med(&hostile) / med(&base) } else { 0.0 }
    ));
    s.push_str("\n## Hostile population\n\n| behaviour | counters |\n| --- | --- |\n");
    for (k, v) in stats {
        s.push_str(&format!("| {k} | `{v}` |\n"));
    }
    s
}
