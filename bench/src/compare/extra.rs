//! The two seedcore-only figures: memory per idle connection, and the
//! time to start serving many small torrents.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::args::{cpu_list_string, Plan, SeederKind};
use super::loadrun::{self, LoadSpec};
use super::probe::{self, free_port};
use super::proc::{Proc, Spec};
use super::results::{IdleResult, ManyResult, StartTiming};
use super::seeders::{self, Env};
use crate::procstat;
use crate::torrent::{make_data, Torrent};

/// The most peers any of seedcore's JSON status lines in `out` reported.
pub(crate) fn max_status_peers(out: &str) -> Option<u64> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v.get("peers").and_then(Value::as_u64))
        .max()
}

/// Whether a status line lists `n` torrents, each with all its pieces.
pub(crate) fn status_lists_all(line: &str, n: usize) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return false;
    };
    let Some(ts) = v.get("torrents").and_then(Value::as_array) else {
        return false;
    };
    ts.len() == n
        && ts.iter().all(|t| {
            let p = t.get("pieces").and_then(Value::as_u64);
            p.is_some() && p == t.get("piece_count").and_then(Value::as_u64)
        })
}

/// Holds `plan.idle` idle connections to seedcore and measures its RSS.
pub(crate) fn idle(plan: &Plan, env: &Env<'_>, bench_bin: &Path, logs: &Path) -> IdleResult {
    let n = plan.idle;
    let mut r = IdleResult {
        asked: n,
        ..IdleResult::default()
    };
    // About 2,000 connects a second on one load thread; then hold them.
    let ramp = Duration::from_secs_f64((n as f64 / 2000.0).clamp(1.0, 20.0));
    let duration = ramp + Duration::from_secs(6);
    let lifetime = plan.start_timeout + duration + Duration::from_secs(60);
    let mut seed = match seeders::start(SeederKind::Seedcore, env, "idle-seedcore", logs, lifetime)
    {
        Ok(s) => s,
        Err(e) => {
            r.failure = Some(format!("seedcore did not start: {e}"));
            return r;
        }
    };
    // Let start-up allocations settle before the baseline.
    thread::sleep(Duration::from_secs(2));
    let pid = seed.proc.pid();
    r.rss_before_kib = procstat::proc_rss_kib(pid)
        .ok()
        .and_then(|(rss, _)| rss)
        .unwrap_or(0);
    let cpus = cpu_list_string(&plan.loadgen_cores);
    let spec = LoadSpec {
        bench_bin,
        torrent: env.torrent,
        target: seed.addr,
        peers: n,
        duration,
        warmup: Duration::ZERO,
        ramp,
        depth: plan.depth,
        threads: plan.loadgen_cores.len().max(1),
        pid,
        idle: true,
        cpus: &cpus,
        logs,
        name: "idle-load",
    };
    match loadrun::run(&spec) {
        Ok((v, cmd)) => {
            r.command = cmd;
            r.held = v
                .get("peers_open_at_end")
                .and_then(Value::as_u64)
                .and_then(|x| usize::try_from(x).ok())
                .unwrap_or(0);
            r.rss_held_kib = v
                .pointer("/target_process/memory/rss_max_sampled_kib")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            (r.errors, r.error_detail) = loadrun::errors(&v);
        }
        Err(e) => r.failure = Some(e),
    }
    seed.proc.stop();
    r.seedcore_peers =
        max_status_peers(&fs::read_to_string(&seed.proc.out_path).unwrap_or_default());
    r
}

/// `n` torrents of `size` bytes each in `dir` (made once, then reused).
fn many_torrents(dir: &Path, n: usize, size: u64) -> Result<Vec<PathBuf>, String> {
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| dir.join(format!("t{i:05}.bin.torrent")))
        .collect();
    let complete =
        paths.iter().all(|p| p.is_file()) && fs::read_dir(dir).map_or(0, |d| d.count()) == 2 * n;
    if !complete {
        let _ = fs::remove_dir_all(dir);
        eprintln!(
            "compare: making {n} torrents of {size} bytes in {}",
            dir.display()
        );
        for i in 0..n {
            make_data(dir, &format!("t{i:05}.bin"), size, 0).map_err(|e| e.to_string())?;
        }
    }
    Ok(paths)
}

struct Many<'a> {
    plan: &'a Plan,
    env: &'a Env<'a>,
    dir: PathBuf,
    torrents: Vec<PathBuf>,
    hashes: Vec<[u8; 20]>,
    logs: &'a Path,
}

impl Many<'_> {
    fn args(&self, port: u16, resume: &Path) -> Vec<String> {
        let mut a = vec!["seed".to_string()];
        a.extend(self.torrents.iter().map(|p| p.display().to_string()));
        a.extend(
            [
                "--data",
                &self.dir.display().to_string(),
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--shards",
                &self.plan.seeder_cores.len().max(1).to_string(),
                "--no-dht",
                "--json",
                "--status-interval",
                "1s",
                "--resume-dir",
                &resume.display().to_string(),
            ]
            .map(String::from),
        );
        a
    }

    /// One start: spawn to the last torrent's handshake, then one probe
    /// per torrent, then the first status line listing them all.
    fn start(&self, name: &str, resume: &Path) -> Result<(StartTiming, String), String> {
        let port = free_port()?;
        let args = self.args(port, resume);
        let cpus = cpu_list_string(&self.plan.seeder_cores);
        let t0 = Instant::now();
        let mut p = Proc::spawn(&Spec {
            name,
            cpus: &cpus,
            limit: self.plan.start_timeout + Duration::from_secs(60),
            program: self.env.seedcore_bin,
            args: &args,
            logs: self.logs,
        })?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let last = *self.hashes.last().ok_or("no torrents")?;
        probe::wait_serving(&mut p, addr, last, self.plan.start_timeout)?;
        let last_torrent_s = t0.elapsed().as_secs_f64();
        let answered = self
            .hashes
            .iter()
            .filter(|h| probe::handshake(addr, **h, Duration::from_secs(2)).is_ok())
            .count();
        let n = self.hashes.len();
        let mut status_s = None;
        let give_up = Instant::now() + Duration::from_secs(5);
        while Instant::now() < give_up {
            let out = fs::read_to_string(&p.out_path).unwrap_or_default();
            if out.lines().any(|l| status_lists_all(l, n)) {
                status_s = Some(t0.elapsed().as_secs_f64());
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let rss_kib = procstat::proc_rss_kib(p.pid()).ok().and_then(|(r, _)| r);
        p.stop();
        let shown = format!(
            "{} seed {} ... {} ({} torrents) {}",
            self.env.seedcore_bin.display(),
            self.torrents
                .first()
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
            self.torrents
                .last()
                .map(|t| t.display().to_string())
                .unwrap_or_default(),
            n,
            args.get(n + 1..).map(|r| r.join(" ")).unwrap_or_default()
        );
        Ok((
            StartTiming {
                last_torrent_s,
                answered,
                status_s,
                rss_kib,
            },
            format!("taskset -c {cpus} {shown}"),
        ))
    }
}

/// Times `seedcore seed` with `plan.many_torrents` small torrents: a
/// first start that verifies everything and a second with resume files.
pub(crate) fn many(plan: &Plan, env: &Env<'_>, logs: &Path) -> ManyResult {
    let n = plan.many_torrents;
    let mut r = ManyResult {
        torrents: n,
        bytes_each: plan.many_size,
        ..ManyResult::default()
    };
    let dir = plan.work.join(format!("many-{n}x{}", plan.many_size));
    let torrents = match many_torrents(&dir, n, plan.many_size) {
        Ok(t) => t,
        Err(e) => {
            r.failure = Some(format!("cannot make the torrents: {e}"));
            return r;
        }
    };
    let mut hashes = Vec::with_capacity(n);
    for t in &torrents {
        match Torrent::load(t) {
            Ok(t) => {
                let _ = super::data::warm_cache(&t, &dir);
                hashes.push(t.info_hash);
            }
            Err(e) => {
                r.failure = Some(e.to_string());
                return r;
            }
        }
    }
    let Ok(dir) = fs::canonicalize(&dir) else {
        r.failure = Some(format!("cannot resolve {}", dir.display()));
        return r;
    };
    let m = Many {
        plan,
        env,
        dir,
        torrents,
        hashes,
        logs,
    };
    let resume = env.work.join("many-resume");
    let _ = fs::remove_dir_all(&resume);
    match m.start("many-cold", &resume) {
        Ok((t, cmd)) => {
            r.cold = Some(t);
            r.command = cmd;
        }
        Err(e) => {
            r.failure = Some(format!("first start: {e}"));
            return r;
        }
    }
    match m.start("many-resumed", &resume) {
        Ok((t, _)) => r.resumed = Some(t),
        Err(e) => r.failure = Some(format!("second start: {e}")),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let line =
            r#"{"peers":5,"torrents":[{"pieces":4,"piece_count":4},{"pieces":1,"piece_count":1}]}"#;
        assert!(status_lists_all(line, 2));
        assert!(!status_lists_all(line, 3));
        let partial = r#"{"torrents":[{"pieces":3,"piece_count":4}]}"#;
        assert!(!status_lists_all(partial, 1));
        assert!(!status_lists_all("peers 0 | up 0 B/s", 1));
        let out = format!("{line}\nnot json\n{{\"peers\":4999}}\n");
        assert_eq!(max_status_peers(&out), Some(4999));
        assert_eq!(max_status_peers(""), None);
    }
}
