//! `seedcore-bench leechers`: real BitTorrent clients downloading the
//! same data from seedcore and from libtorrent, side by side, in one run.
//!
//! The load generator measures a seeder under a model of a leecher; this
//! measures it under the leechers people run (issue 14: seedcore's `reqq`
//! of 250 held libtorrent leechers to 0.59x and Transmission to 0.13x of
//! what libtorrent seeding gave them, which no simulated load showed).
//! For each round, each leecher and each seeder column: a fresh client
//! listening on its own 127.0.0.x ([`clients`]), then a fresh seeder that
//! dials it, pinned to other CPUs; the seeder's and the client's CPU time
//! from `/proc` while the bytes flow; completion as the client reports it;
//! the copy checked with `seedcore verify`; every process stopped by pid
//! (each also lives under `timeout`), the copy deleted. The report is
//! `leechers-<date>-<host>.md` with the raw figures as `.json`.

pub mod args;
mod clients;
pub mod report;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

pub use args::{LeecherKind, LeechersArgs, Plan, SeederProgram, SeederSpec};
pub use report::{markdown, LeechMeasured, LeechResults, LeechRun, LeechSetup};

use crate::compare::proc::{self, Proc, Spec};
use crate::compare::results::Named;
use crate::compare::{self, data, machine, probe};
use crate::procstat;
use crate::torrent::Torrent;
use clients::{Done, Prepared, Setup};

const GIB: f64 = (1u64 << 30) as f64;

/// How long a client may take to listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a running download is looked at.
const POLL: Duration = Duration::from_millis(100);
/// Bytes on disk that count as the first data (above any control file).
const FIRST_BYTES: u64 = 1 << 20;

fn progress(msg: &str) {
    eprintln!("leechers: {msg}");
}

/// Runs the command as asked (or re-renders) and returns the Markdown
/// report's path.
pub fn main(a: &LeechersArgs) -> Result<PathBuf, String> {
    if let Some(json) = &a.render {
        let text = fs::read_to_string(json).map_err(|e| format!("{}: {e}", json.display()))?;
        let r: LeechResults =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", json.display()))?;
        let md = json.with_extension("md");
        fs::write(&md, markdown(&r)).map_err(|e| format!("{}: {e}", md.display()))?;
        return Ok(md);
    }
    let plan = a.plan(&compare::available_cpus(), &machine::hostname())?;
    compare::need_tool("timeout").map_err(|e| e.to_string())?;
    compare::need_tool("taskset").map_err(|e| e.to_string())?;
    let r = run(&plan)?;
    fs::create_dir_all(&plan.out).map_err(|e| format!("{}: {e}", plan.out.display()))?;
    let stem = r.stem();
    let json = plan.out.join(format!("{stem}.json"));
    let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())? + "\n";
    fs::write(&json, text).map_err(|e| format!("{}: {e}", json.display()))?;
    let md = plan.out.join(format!("{stem}.md"));
    fs::write(&md, markdown(&r)).map_err(|e| format!("{}: {e}", md.display()))?;
    Ok(md)
}

/// Writes `torrent` again with an `announce` URL that nobody answers
/// (same info dictionary, so the same info-hash): rtorrent refuses a
/// torrent without a tracker when its DHT is off.
fn with_dummy_tracker(torrent: &Path, out: &Path) -> Result<(), String> {
    let bytes = fs::read(torrent).map_err(|e| format!("{}: {e}", torrent.display()))?;
    let url = b"http://127.0.0.1:9/announce";
    // Keys of a dictionary are sorted; `announce` goes first unless a key
    // sorts before it, which a torrent made here never has.
    let rest = bytes
        .strip_prefix(b"d")
        .filter(|r| !r.starts_with(b"8:announce") && r.first().is_some_and(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            format!(
                "{}: not a dictionary this can add a tracker to",
                torrent.display()
            )
        })?;
    let mut outb = b"d8:announce".to_vec();
    outb.extend_from_slice(format!("{}:", url.len()).as_bytes());
    outb.extend_from_slice(url);
    outb.extend_from_slice(rest);
    fs::write(out, &outb).map_err(|e| format!("{}: {e}", out.display()))?;
    let a = Torrent::load(torrent).map_err(|e| e.to_string())?;
    let b = Torrent::load(out).map_err(|e| e.to_string())?;
    if a.info_hash != b.info_hash {
        return Err("adding a tracker changed the info-hash".into());
    }
    Ok(())
}

/// Whether `program` can be run (a path, or a name on PATH).
fn installed(program: &Path) -> bool {
    if program.components().count() > 1 {
        return program.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()))
}

/// Bytes the files under `dir` occupy on disk (allocated blocks: sparse
/// files grow as data arrives, so this is the download's progress).
fn disk_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// Everything the runs share.
struct Ctx<'a> {
    plan: &'a Plan,
    torrent: &'a Path,
    tracker_torrent: &'a Path,
    data: &'a Path,
    info_hash: [u8; 20],
    total: u64,
    seedcore_bin: &'a Path,
    /// Private copies of the columns' own seedcore binaries, by label.
    other_bins: Vec<(String, PathBuf)>,
    resume: &'a Path,
    logs: &'a Path,
}

/// Runs every round and returns the results.
pub fn run(plan: &Plan) -> Result<LeechResults, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    for kind in &plan.leechers {
        let p = match kind {
            LeecherKind::Libtorrent => plan.python.clone(),
            LeecherKind::Transmission => "transmission-cli".into(),
            LeecherKind::Aria2 => "aria2c".into(),
            LeecherKind::Rtorrent => "rtorrent".into(),
            LeecherKind::Qbittorrent => "qbittorrent-nox".into(),
        };
        if !installed(&p) {
            return Err(format!(
                "{} not found: apt-get install {}",
                p.display(),
                clients::package(*kind)
            ));
        }
    }
    let (torrent_path, data) =
        data::prepare(&plan.data, None, plan.size).map_err(|e| e.to_string())?;
    let torrent = Torrent::load(&torrent_path).map_err(|e| e.to_string())?;
    let warmed = data::warm_cache(&torrent, &data).map_err(|e| e.to_string())?;
    progress(&format!(
        "{} ({} MiB) read once: page cache warm",
        torrent_path.display(),
        warmed >> 20
    ));
    fs::create_dir_all(&plan.work).map_err(|e| format!("{}: {e}", plan.work.display()))?;
    let work = fs::canonicalize(&plan.work).map_err(|e| e.to_string())?;
    let logs = work.join("logs");
    let _ = fs::remove_dir_all(&logs);
    fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let tracker_torrent = work.join("with-tracker.torrent");
    with_dummy_tracker(&torrent_path, &tracker_torrent)?;
    let seedcore_bin =
        compare::snapshot(&plan.seedcore_bin, &work.join("bin")).map_err(|e| e.to_string())?;
    // Needed by every run: it checks each downloaded copy.
    if !seedcore_bin.is_file() {
        return Err(format!(
            "{} not found (it seeds and checks every download): cargo build --release -p \
             seedcore, or --seedcore-bin",
            plan.seedcore_bin.display()
        ));
    }
    let mut other_bins = Vec::new();
    for (i, spec) in plan.seeders.iter().enumerate() {
        if let Some(bin) = &spec.bin {
            if !bin.is_file() {
                return Err(format!(
                    "--seeder {:?}: {} not found",
                    spec.label,
                    bin.display()
                ));
            }
            let copy = compare::snapshot(bin, &work.join(format!("bin-{i}")))
                .map_err(|e| e.to_string())?;
            other_bins.push((spec.label.clone(), copy));
        }
    }
    let resume = work.join("seedcore-resume");
    let ctx = Ctx {
        plan,
        torrent: &torrent_path,
        tracker_torrent: &tracker_torrent,
        data: &data,
        info_hash: torrent.info_hash,
        total: torrent.geometry.total_length(),
        seedcore_bin: &seedcore_bin,
        other_bins,
        resume: &resume,
        logs: &logs,
    };
    let (date, started) = machine::utc_now();
    let mut m = machine::machine(&plan.seeder_cpus(), &plan.leecher_cpus());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    m.versions = machine::versions(&plan.seedcore_bin, &plan.python, repo);
    for (name, prog, flag) in [
        ("transmission-cli", "transmission-cli", "--version"),
        ("rtorrent", "rtorrent", "-h"),
        ("qbittorrent-nox", "qbittorrent-nox", "--version"),
    ] {
        if let Some(v) = proc::first_line(prog, &[flag]) {
            m.versions.push(Named {
                name: name.into(),
                value: v,
            });
        }
    }
    let mut r = LeechResults {
        date,
        host: plan.host.clone(),
        started,
        command: std::iter::once("seedcore-bench".to_string())
            .chain(std::env::args().skip(1))
            .map(|s| proc::shell_quote(&s))
            .collect::<Vec<_>>()
            .join(" "),
        machine: m,
        setup: LeechSetup {
            torrent: torrent_path.display().to_string(),
            info_hash: torrent
                .info_hash
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            total_bytes: ctx.total,
            piece_length: torrent.geometry.piece_length(),
            reps: plan.reps,
            timeout_s: plan.timeout.as_secs_f64(),
            stall_s: plan.stall.as_secs_f64(),
            seeders: plan.seeders.iter().map(|s| s.label.clone()).collect(),
            leechers: plan.leechers.iter().map(|l| l.name().to_string()).collect(),
        },
        ..LeechResults::default()
    };
    let total_runs = plan.reps * plan.leechers.len() * plan.seeders.len();
    let mut seq = 0;
    for rep in 0..plan.reps {
        for &leecher in &plan.leechers {
            for seeder in &plan.seeders {
                if stop.load(Ordering::Relaxed) {
                    return Err(
                        "interrupted: every process started was stopped; no report written".into(),
                    );
                }
                seq += 1;
                let result = one_run(&ctx, leecher, seeder, seq, &mut r);
                let line = match &result {
                    Ok(x) => format!(
                        "{:.1} MB/s (first byte after {:.1} s), seeder {:.2} CPU s/GiB",
                        x.mb_s, x.first_byte_s, x.seeder_cpu_s_per_gib
                    ),
                    Err(e) => format!("failed: {e}"),
                };
                progress(&format!(
                    "[{seq}/{total_runs}] {} <- {}, round {}: {line}",
                    leecher.name(),
                    seeder.label,
                    rep + 1
                ));
                r.runs.push(LeechRun {
                    leecher: leecher.name().into(),
                    seeder: seeder.label.clone(),
                    rep,
                    result,
                });
                thread::sleep(Duration::from_secs(1));
            }
        }
    }
    r.machine.load_after = machine::loadavg();
    if let Ok(cwd) = std::env::current_dir() {
        let prefix = format!("{}/", cwd.display());
        let cut = |s: &mut String| *s = s.replace(&prefix, "");
        cut(&mut r.setup.torrent);
        r.seeder_commands.iter_mut().for_each(|c| cut(&mut c.value));
        r.leecher_commands
            .iter_mut()
            .for_each(|c| cut(&mut c.value));
        r.machine
            .versions
            .iter_mut()
            .for_each(|v| cut(&mut v.value));
    }
    Ok(r)
}

/// Starts the seeder of `spec`, dialling `peer`; waits until it serves.
fn start_seeder(
    ctx: &Ctx<'_>,
    spec: &SeederSpec,
    peer: SocketAddr,
    name: &str,
) -> Result<Proc, String> {
    let plan = ctx.plan;
    let port = probe::free_port()?;
    let lifetime = plan.timeout + plan.start_timeout + Duration::from_secs(60);
    let s = |p: &Path| p.display().to_string();
    let (program, args) = match spec.program {
        SeederProgram::Seedcore => {
            let mut a = vec!["seed".into(), s(ctx.torrent), "--data".into(), s(ctx.data)];
            a.extend(
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--shards",
                    &plan.seeder_cores.len().max(1).to_string(),
                    "--no-dht",
                    "--status-interval",
                    "1s",
                    "--peer",
                    &peer.to_string(),
                    "--resume-dir",
                ]
                .map(String::from),
            );
            a.push(s(ctx.resume));
            a.extend(spec.extra.iter().cloned());
            let bin = ctx
                .other_bins
                .iter()
                .find(|(l, _)| *l == spec.label)
                .map_or(ctx.seedcore_bin, |(_, b)| b.as_path());
            (bin.to_path_buf(), a)
        }
        SeederProgram::Libtorrent => {
            let a = vec![
                s(&Plan::script("lt_seed.py")),
                "--torrent".into(),
                s(ctx.torrent),
                "--data".into(),
                s(ctx.data),
                "--listen".into(),
                format!("127.0.0.1:{port}"),
                "--max-seconds".into(),
                lifetime.as_secs().to_string(),
                "--peer".into(),
                peer.to_string(),
            ];
            (plan.python.clone(), a)
        }
    };
    let mut p = Proc::spawn(&Spec {
        name,
        cpus: &plan.seeder_cpus(),
        limit: lifetime,
        program: &program,
        args: &args,
        logs: ctx.logs,
    })?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    probe::wait_serving(&mut p, addr, ctx.info_hash, plan.start_timeout)?;
    Ok(p)
}

/// Waits until `addr` accepts TCP connections (or the client exits).
fn wait_listening(p: &mut Proc, addr: SocketAddr) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        if let Some(st) = p.exited() {
            return Err(format!(
                "exited before listening ({st}): {}",
                p.stderr_tail()
            ));
        }
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok() {
            return Ok(());
        }
        if t0.elapsed() > LISTEN_TIMEOUT {
            return Err(format!(
                "not listening on {addr} after {} s",
                LISTEN_TIMEOUT.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `seedcore verify` on the downloaded copy.
fn verify(seedcore: &Path, torrent: &Path, save: &Path) -> Result<(), String> {
    let out = Command::new("timeout")
        .arg("600")
        .arg(seedcore)
        .arg("verify")
        .arg(torrent)
        .arg(save)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run seedcore verify: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "the downloaded copy fails seedcore verify ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap_or("")
        ))
    }
}

fn cpu_s(pid: u32) -> Option<f64> {
    procstat::proc_cpu(pid).ok().map(|c| c.total())
}

/// One leecher downloading from one seeder: start, watch, stop, verify.
fn one_run(
    ctx: &Ctx<'_>,
    kind: LeecherKind,
    seeder: &SeederSpec,
    seq: usize,
    r: &mut LeechResults,
) -> Result<LeechMeasured, String> {
    let plan = ctx.plan;
    let name = format!(
        "{seq:02}-{}-{}",
        kind.name(),
        compare::file_label(&seeder.label)
    );
    let dir = plan.work.join("runs").join(&name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = fs::canonicalize(&dir).map_err(|e| e.to_string())?;
    let prepared: Prepared = clients::prepare(
        kind,
        &Setup {
            dir: &dir,
            torrent: ctx.torrent,
            torrent_with_tracker: ctx.tracker_torrent,
            python: &plan.python,
            timeout: plan.timeout,
        },
    )?;
    let result = (|| {
        let mut leech = Proc::spawn(&Spec {
            name: &format!("{name}-leecher"),
            cpus: &plan.leecher_cpus(),
            limit: plan.timeout + plan.start_timeout + Duration::from_secs(60),
            program: &prepared.program,
            args: &prepared.args,
            logs: ctx.logs,
        })?;
        if !r.leecher_commands.iter().any(|c| c.name == kind.name()) {
            r.leecher_commands.push(Named {
                name: kind.name().into(),
                value: format!("taskset -c {} {}", plan.leecher_cpus(), leech.command),
            });
        }
        wait_listening(&mut leech, prepared.addr)?;
        let mut seed = start_seeder(ctx, seeder, prepared.addr, &format!("{name}-seeder"))?;
        if !r.seeder_commands.iter().any(|c| c.name == seeder.label) {
            r.seeder_commands.push(Named {
                name: seeder.label.clone(),
                value: format!("taskset -c {} {}", plan.seeder_cpus(), seed.command),
            });
        }
        let m = watch(ctx, &prepared, &mut leech, &mut seed);
        leech.stop();
        seed.stop();
        let m = m?;
        verify(ctx.seedcore_bin, ctx.torrent, &prepared.save)?;
        Ok(m)
    })();
    let _ = fs::remove_dir_all(&prepared.save);
    result
}

/// Watches the download to its end; the figures once complete.
fn watch(
    ctx: &Ctx<'_>,
    p: &Prepared,
    leech: &mut Proc,
    seed: &mut Proc,
) -> Result<LeechMeasured, String> {
    let plan = ctx.plan;
    let t0 = Instant::now();
    let (spid, lpid) = (seed.pid(), leech.pid());
    let s0 = cpu_s(spid).ok_or("cannot read the seeder's CPU time")?;
    let l0 = cpu_s(lpid);
    // The first MiB on disk marks the first byte: clients write small
    // control files (aria2's `.aria2`) before any data arrives.
    let mut first: Option<(Instant, u64)> = None;
    let mut last_bytes = 0;
    let mut last_progress = t0;
    let mut next_api = t0;
    let pct = |b: u64| (b as f64 / ctx.total.max(1) as f64 * 100.0).min(100.0);
    loop {
        let now = Instant::now();
        let bytes = disk_bytes(&p.save);
        if bytes >= FIRST_BYTES && first.is_none() {
            first = Some((now, bytes.min(ctx.total)));
        }
        if bytes > last_bytes {
            last_bytes = bytes;
            last_progress = now;
        }
        let done = match &p.done {
            Done::Marker(m) => m.exists(),
            Done::QbitApi(api) if now >= next_api => {
                next_api = now + Duration::from_millis(500);
                clients::qbit_progress(*api).is_ok_and(|x| x >= 1.0)
            }
            Done::QbitApi(_) => false,
        };
        if done {
            let s1 = cpu_s(spid).unwrap_or(s0);
            let l1 = match (l0, cpu_s(lpid)) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            };
            let end = Instant::now();
            let (first, had) = first.unwrap_or((t0, 0));
            let transfer = end.saturating_duration_since(first).as_secs_f64().max(1e-3);
            let gib = ctx.total as f64 / GIB;
            return Ok(LeechMeasured {
                mb_s: (ctx.total - had) as f64 / transfer / 1e6,
                transfer_s: transfer,
                first_byte_s: first.saturating_duration_since(t0).as_secs_f64(),
                total_s: end.saturating_duration_since(t0).as_secs_f64(),
                seeder_cpu_s: s1 - s0,
                seeder_cpu_s_per_gib: (s1 - s0) / gib,
                leecher_cpu_s_per_gib: l1.map(|c| c / gib),
                seeder_peak_rss_kib: procstat::proc_rss_kib(spid).ok().and_then(|x| x.1),
            });
        }
        if let Some(st) = leech.exited() {
            return Err(format!(
                "the client exited ({st}) at {:.1} %: {}",
                pct(bytes),
                leech.stderr_tail()
            ));
        }
        if let Some(st) = seed.exited() {
            return Err(format!("the seeder exited ({st}): {}", seed.stderr_tail()));
        }
        if now.saturating_duration_since(last_progress) > plan.stall {
            return Err(format!(
                "stalled at {:.1} % ({} of {} MB): no progress for {:.0} s",
                pct(bytes),
                bytes / 1_000_000,
                ctx.total / 1_000_000,
                plan.stall.as_secs_f64()
            ));
        }
        if now.saturating_duration_since(t0) > plan.timeout {
            return Err(format!(
                "timed out after {:.0} s at {:.1} %",
                plan.timeout.as_secs_f64(),
                pct(bytes)
            ));
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_added_without_changing_the_hash() {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::torrent::make_data(dir.path(), "x.bin", 100_000, 16384).unwrap();
        let out = dir.path().join("t.torrent");
        with_dummy_tracker(&t, &out).unwrap();
        let text = fs::read(&out).unwrap();
        assert!(text.starts_with(b"d8:announce27:http://127.0.0.1:9/announce"));
        // Twice is refused rather than writing two announce keys.
        assert!(with_dummy_tracker(&out, &dir.path().join("u")).is_err());
    }

    #[test]
    fn disk_bytes_counts_allocated_blocks() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/a"), vec![1u8; 100_000]).unwrap();
        let f = fs::File::create(dir.path().join("sparse")).unwrap();
        f.set_len(50_000_000).unwrap();
        let b = disk_bytes(dir.path());
        assert!((100_000..1_000_000).contains(&b), "{b}");
    }
}
