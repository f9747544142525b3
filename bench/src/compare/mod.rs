//! `seedcore-bench compare`: seedcore against libtorrent, transmission,
//! aria2 and the raw loopback ceiling, under the same load, in one run.
//!
//! For each peer count and each seeder (interleaved, so drift in a shared
//! machine hits every seeder alike) it starts a fresh seeder process pinned
//! to the seeder CPUs, waits until it answers a handshake for the torrent,
//! runs `seedcore-bench load` pinned to the other CPUs with `--pid` (the
//! seeder's CPU per GiB and peak RSS) and `--json`, and stops the seeder
//! by its pid. Optionally it then holds idle connections to seedcore
//! (`--idle N`: RSS per connection) and times seedcore starting many small
//! torrents (`--many-torrents N`). The report is `<date>-<host>.md` with
//! one table per peer count, an SVG chart beside it and the raw figures as
//! `.json` (from which `--render` rebuilds the other two).
//!
//! Every process is started under `timeout` (a hard lifetime even if this
//! one dies), stopped by pid, and every wait is bounded. Everything is on
//! loopback.

mod args;
pub(crate) mod data;
mod extra;
mod loadrun;
pub(crate) mod machine;
mod markdown;
pub(crate) mod probe;
pub(crate) mod proc;
pub mod results;
mod seeders;
pub(crate) mod svg;
pub(crate) mod transmission;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

pub use args::{
    available_cpus, cpu_list_string, file_label, parse_cpu_list, parse_size, split_cores,
    CompareArgs, Plan, SeederKind,
};
pub use markdown::markdown;
pub use svg::{chart, nice_step};

use crate::torrent::Torrent;
use results::{Named, Results, Run, Setup};

/// Why a compare run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// An option has a bad value.
    #[error("invalid option: {0}")]
    Args(String),
    /// The test data or torrent could not be found or made.
    #[error("test data in {path}: {detail}")]
    Data {
        /// The folder or file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A report file could not be read or written.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A tool this command needs is missing.
    #[error("{0} is needed (util-linux / coreutils): install it and run again")]
    Tool(&'static str),
    /// SIGINT or SIGTERM arrived; the seeders were stopped.
    #[error("interrupted: every process started was stopped; no report written")]
    Interrupted,
}

/// The files a run wrote.
#[derive(Debug)]
pub struct Written {
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The chart.
    pub svg: PathBuf,
    /// The raw figures.
    pub json: PathBuf,
}

/// Writes the report and chart for `r` into `dir` (and the JSON unless
/// `json` is false).
pub fn write(r: &Results, dir: &Path, json: bool) -> Result<Written, CompareError> {
    let file_err = |path: &Path, e: std::io::Error| CompareError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let stem = r.stem();
    let w = Written {
        markdown: dir.join(format!("{stem}.md")),
        svg: dir.join(format!("{stem}.svg")),
        json: dir.join(format!("{stem}.json")),
    };
    fs::write(&w.svg, chart(r)).map_err(|e| file_err(&w.svg, e))?;
    fs::write(&w.markdown, markdown(r, &format!("{stem}.svg")))
        .map_err(|e| file_err(&w.markdown, e))?;
    if json {
        let text = serde_json::to_string_pretty(r).map_err(|e| CompareError::File {
            path: w.json.clone(),
            detail: e.to_string(),
        })?;
        fs::write(&w.json, text + "\n").map_err(|e| file_err(&w.json, e))?;
    }
    Ok(w)
}

/// Re-renders the report and chart from a `.json` a run wrote (beside it).
pub fn render(json: &Path) -> Result<Written, CompareError> {
    let err = |detail: String| CompareError::File {
        path: json.to_path_buf(),
        detail,
    };
    let text = fs::read_to_string(json).map_err(|e| err(e.to_string()))?;
    let r: Results = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let dir = json.parent().unwrap_or(Path::new("."));
    write(&r, dir, false)
}

pub(crate) fn need_tool(name: &'static str) -> Result<(), CompareError> {
    let ok = std::process::Command::new(name)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(CompareError::Tool(name))
    }
}

/// Runs `compare` as the command line asks and writes the report.
pub fn main(a: &CompareArgs) -> Result<Written, CompareError> {
    if let Some(json) = &a.render {
        return render(json);
    }
    let plan = a.plan(&args::available_cpus(), &machine::hostname())?;
    need_tool("timeout")?;
    need_tool("taskset")?;
    let results = run(&plan)?;
    write(&results, &plan.out, true)
}

/// Copies `bin` into `dir` (same name, same permissions) and returns the
/// copy; a missing `bin` is returned as is (the run that needs it says so).
pub(crate) fn snapshot(bin: &Path, dir: &Path) -> Result<PathBuf, CompareError> {
    let Some(name) = bin.file_name().filter(|_| bin.is_file()) else {
        return Ok(bin.to_path_buf());
    };
    let file_err = |path: &Path, e: std::io::Error| CompareError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    let copy = dir.join(name);
    let _ = fs::remove_file(&copy);
    fs::copy(bin, &copy).map_err(|e| file_err(&copy, e))?;
    Ok(copy)
}

fn progress(msg: &str) {
    eprintln!("compare: {msg}");
}

/// Runs every seeder at every peer count, then the extras.
pub fn run(plan: &Plan) -> Result<Results, CompareError> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let (torrent_path, data) = data::prepare(&plan.data, plan.torrent.as_deref(), plan.size)?;
    let torrent = Torrent::load(&torrent_path).map_err(|e| CompareError::Data {
        path: torrent_path.clone(),
        detail: e.to_string(),
    })?;
    let warmed = data::warm_cache(&torrent, &data)?;
    progress(&format!(
        "{} ({} MiB) read once: page cache warm",
        torrent_path.display(),
        warmed >> 20
    ));
    let work = &plan.work;
    let logs = work.join("logs");
    let _ = fs::remove_dir_all(&logs);
    fs::create_dir_all(&logs).map_err(|e| CompareError::File {
        path: logs.clone(),
        detail: e.to_string(),
    })?;
    let work_abs = fs::canonicalize(work).unwrap_or_else(|_| work.clone());
    let own_exe = std::env::current_exe().map_err(|e| CompareError::File {
        path: PathBuf::from("/proc/self/exe"),
        detail: e.to_string(),
    })?;
    // Private copies: a rebuild in the shared target folder during the
    // run must not change the binaries half-way.
    let bin_dir = work_abs.join("bin");
    let bench_bin = snapshot(&own_exe, &bin_dir)?;
    let seedcore_bin = snapshot(&plan.seedcore_bin, &bin_dir)?;
    let seeder_cpus = cpu_list_string(&plan.seeder_cores);
    let loadgen_cpus = cpu_list_string(&plan.loadgen_cores);
    let env = seeders::Env {
        torrent: &torrent_path,
        data: &data,
        info_hash: torrent.info_hash,
        cpus: &plan.seeder_cores,
        seedcore_bin: &seedcore_bin,
        bench_bin: &bench_bin,
        python: &plan.python,
        lt_script: &plan.lt_script,
        work: &work_abs,
        start_timeout: plan.start_timeout,
    };

    let (date, started) = machine::utc_now();
    let mut machine = machine::machine(&seeder_cpus, &loadgen_cpus);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    machine.versions = machine::versions(&plan.seedcore_bin, &plan.python, repo);
    let mut r = Results {
        date,
        host: plan.host.clone(),
        started,
        command: std::iter::once("seedcore-bench".to_string())
            .chain(std::env::args().skip(1))
            .map(|s| proc::shell_quote(&s))
            .collect::<Vec<_>>()
            .join(" "),
        machine,
        setup: Setup {
            torrent: torrent_path.display().to_string(),
            info_hash: torrent
                .info_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            total_bytes: torrent.geometry.total_length(),
            piece_length: torrent.geometry.piece_length(),
            pieces: torrent.geometry.piece_count(),
            duration_s: plan.duration.as_secs_f64(),
            warmup_s: plan.warmup.as_secs_f64(),
            transmission_warmup_s: plan.transmission_warmup.as_secs_f64(),
            ramp_s: plan.ramp.as_secs_f64(),
            ramp_above: plan.ramp_above,
            depth: plan.depth.name(),
            reps: plan.reps,
            seeder_threads: plan.seeder_cores.len(),
            loadgen_threads: plan.loadgen_cores.len(),
            seeders: plan.seeders.iter().map(|k| k.name().to_string()).collect(),
            peers: plan.peers.clone(),
        },
        ..Results::default()
    };

    let total = plan.peers.len() * plan.seeders.len() * plan.reps;
    let mut seq = 0;
    for &peers in &plan.peers {
        for rep in 0..plan.reps {
            for &kind in &plan.seeders {
                if stop.load(Ordering::Relaxed) {
                    return Err(CompareError::Interrupted);
                }
                seq += 1;
                let ctx = RunCtx {
                    plan,
                    env: &env,
                    logs: &logs,
                    bench_bin: &bench_bin,
                    loadgen_cpus: &loadgen_cpus,
                };
                let mut run = one_run(&ctx, kind, peers, seq, &mut r);
                run.rep = rep;
                let line = match &run.result {
                    Ok(m) => format!(
                        "{} GB/s, seeder {} CPU s/GiB, {}/{} peers got data, {} errors",
                        markdown::num(m.gb_s),
                        m.cpu_s_per_gib.map_or("-".into(), |c| format!("{c:.2}")),
                        m.peers_with_data,
                        peers,
                        m.errors
                    ),
                    Err(e) => format!("not measured: {e}"),
                };
                progress(&format!(
                    "[{seq}/{total}] {} x {peers} peers, round {}: {line}",
                    kind.name(),
                    rep + 1
                ));
                r.runs.push(run);
                // Let sockets in TIME_WAIT and the page cache settle.
                thread::sleep(Duration::from_secs(1));
            }
        }
    }
    if plan.idle > 0 && !stop.load(Ordering::Relaxed) {
        progress(&format!(
            "holding {} idle connections to seedcore",
            plan.idle
        ));
        let i = extra::idle(plan, &env, &bench_bin, &logs);
        progress(&format!(
            "idle: {} held, {} bytes per connection",
            i.held,
            i.bytes_per_conn().map_or("-".into(), |b| format!("{b:.0}"))
        ));
        r.idle = Some(i);
    }
    if plan.many_torrents > 0 && !stop.load(Ordering::Relaxed) {
        progress(&format!(
            "starting seedcore with {} torrents",
            plan.many_torrents
        ));
        let m = extra::many(plan, &env, &logs);
        progress(&format!(
            "many: first start {} s, second {} s",
            m.cold
                .as_ref()
                .map_or("-".into(), |t| format!("{:.2}", t.last_torrent_s)),
            m.resumed
                .as_ref()
                .map_or("-".into(), |t| format!("{:.2}", t.last_torrent_s)),
        ));
        r.many = Some(m);
    }
    if stop.load(Ordering::Relaxed) {
        return Err(CompareError::Interrupted);
    }
    r.machine.load_after = machine::loadavg();
    if let Ok(cwd) = std::env::current_dir() {
        relative_paths(&mut r, &format!("{}/", cwd.display()));
    }
    Ok(r)
}

/// Shortens every path under `prefix` (the folder `compare` ran in) in
/// the recorded commands, so the report reads the same on every checkout.
pub fn relative_paths(r: &mut Results, prefix: &str) {
    let cut = |s: &mut String| *s = s.replace(prefix, "");
    cut(&mut r.setup.torrent);
    r.machine
        .versions
        .iter_mut()
        .for_each(|v| cut(&mut v.value));
    r.seeder_commands.iter_mut().for_each(|c| cut(&mut c.value));
    for run in &mut r.runs {
        if let Ok(m) = &mut run.result {
            cut(&mut m.command);
        }
    }
    if let Some(i) = &mut r.idle {
        cut(&mut i.command);
    }
    if let Some(m) = &mut r.many {
        cut(&mut m.command);
    }
}

/// What every run shares.
struct RunCtx<'a> {
    plan: &'a Plan,
    env: &'a seeders::Env<'a>,
    logs: &'a Path,
    bench_bin: &'a Path,
    loadgen_cpus: &'a str,
}

/// One seeder at one peer count: start, load, stop.
fn one_run(ctx: &RunCtx<'_>, kind: SeederKind, peers: usize, seq: usize, r: &mut Results) -> Run {
    let RunCtx {
        plan,
        env,
        logs,
        bench_bin,
        loadgen_cpus,
    } = *ctx;
    let name = format!("{seq:02}-{}-{peers}", kind.name());
    let (warmup, ramp) = plan.timing(kind, peers);
    let lifetime = plan.start_timeout + warmup + plan.duration + Duration::from_secs(90);
    let fail = |e: String| Run {
        seeder: kind.name().to_string(),
        peers,
        rep: 0,
        result: Err(e),
    };
    let mut seed = match seeders::start(kind, env, &name, logs, lifetime) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if !r.seeder_commands.iter().any(|c| c.name == kind.name()) {
        r.seeder_commands.push(Named {
            name: kind.name().to_string(),
            value: format!(
                "taskset -c {} {}",
                cpu_list_string(&plan.seeder_cores),
                seed.proc.command
            ),
        });
        if let Some(note) = seed.setup_note.take() {
            r.setup_notes.push(Named {
                name: kind.name().to_string(),
                value: note,
            });
        }
    }
    let spec = loadrun::LoadSpec {
        bench_bin,
        torrent: env.torrent,
        target: seed.addr,
        peers,
        duration: plan.duration,
        warmup,
        ramp,
        depth: plan.depth,
        threads: plan.loadgen_cores.len().max(1),
        pid: seed.proc.pid(),
        idle: false,
        cpus: loadgen_cpus,
        logs,
        name: &format!("{name}-load"),
    };
    let result = loadrun::run(&spec).and_then(|(v, cmd)| {
        let mut m = loadrun::measured(&v)?;
        m.command = cmd;
        m.ready_s = seed.ready_after.as_secs_f64();
        Ok(m)
    });
    let died = seed.proc.exited();
    seed.proc.stop();
    let result = result.map(|mut m| {
        if let Some(s) = died {
            let sep = if m.error_detail.is_empty() { "" } else { "; " };
            m.error_detail = format!(
                "{}{sep}the seeder exited during the run ({s})",
                m.error_detail
            );
        }
        m
    });
    Run {
        seeder: kind.name().to_string(),
        peers,
        rep: 0,
        result,
    }
}

#[cfg(test)]
mod tests;
