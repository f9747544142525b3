//! Starting each seeder on loopback, pinned, until it serves the torrent.
//!
//! Each run gets a fresh process (its peak RSS is then that run's) on a
//! free port of 127.0.0.1, with discovery (DHT, LSD, PEX, UPnP) off and no
//! rate limits. A seeder counts as started only once it answers a
//! handshake for the torrent ([`probe::wait_serving`]), i.e. after its
//! own data check.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::args::{cpu_list_string, SeederKind};
use super::probe::{self, free_port};
use super::proc::{Proc, Spec};
use super::transmission;

/// What every start needs.
pub(crate) struct Env<'a> {
    /// Absolute torrent path.
    pub torrent: &'a Path,
    /// Absolute data folder.
    pub data: &'a Path,
    /// The torrent's wire info-hash.
    pub info_hash: [u8; 20],
    /// Seeder CPUs.
    pub cpus: &'a [usize],
    /// `seedcore` binary.
    pub seedcore_bin: &'a Path,
    /// `seedcore-bench` binary (raw-seed).
    pub bench_bin: &'a Path,
    /// Python with libtorrent.
    pub python: &'a Path,
    /// `lt_seed.py`.
    pub lt_script: &'a Path,
    /// Scratch folder.
    pub work: &'a Path,
    /// Start-up limit.
    pub start_timeout: Duration,
}

/// A seeder that answers handshakes.
pub(crate) struct Running {
    /// The process (stopped on drop).
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
    /// How long it took from spawn to its first answered handshake.
    pub ready_after: Duration,
    /// Extra setup the command line does not show (transmission's RPC).
    pub setup_note: Option<String>,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The program and arguments for `kind` on `port` (transmission: the
/// config folder), for a process living at most `lifetime`.
pub(crate) fn command(
    kind: SeederKind,
    env: &Env<'_>,
    port: u16,
    lifetime: Duration,
    state: &Path,
) -> (PathBuf, Vec<String>) {
    let threads = env.cpus.len().max(1).to_string();
    let listen = format!("127.0.0.1:{port}");
    let secs = lifetime.as_secs().max(1).to_string();
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    match kind {
        SeederKind::Seedcore => {
            let mut a = v(&["seed"]);
            a.push(s(env.torrent));
            a.extend(v(&["--data"]));
            a.push(s(env.data));
            a.extend(v(&[
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--shards",
                &threads,
                "--no-dht",
                "--json",
                "--status-interval",
                "1s",
                "--resume-dir",
            ]));
            a.push(s(state));
            (env.seedcore_bin.to_path_buf(), a)
        }
        SeederKind::Libtorrent => {
            let mut a = vec![s(env.lt_script), "--torrent".into(), s(env.torrent)];
            a.extend(["--data".into(), s(env.data)]);
            a.extend(v(&["--listen", &listen, "--max-seconds", &secs]));
            (env.python.to_path_buf(), a)
        }
        SeederKind::Transmission => (
            PathBuf::from("transmission-daemon"),
            vec!["-f".into(), "-g".into(), s(state)],
        ),
        SeederKind::Aria2 => {
            let mut a = v(&["--seed-ratio=0.0", "-V", "--dir"]);
            a.push(s(env.data));
            a.push(s(env.torrent));
            a.extend(v(&[
                &format!("--listen-port={port}"),
                "--interface=127.0.0.1",
                "--disable-ipv6=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--bt-max-peers=0",
                "--max-overall-upload-limit=0",
                "--file-allocation=none",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--enable-color=false",
                &format!("--stop-with-process={}", std::process::id()),
            ]));
            (PathBuf::from("aria2c"), a)
        }
        SeederKind::Raw => {
            let mut a = vec!["raw-seed".into(), "--torrent".into(), s(env.torrent)];
            a.extend(["--data".into(), s(env.data)]);
            a.extend(v(&[
                "--listen",
                &listen,
                "--threads",
                &threads,
                "--max-seconds",
                &secs,
            ]));
            (env.bench_bin.to_path_buf(), a)
        }
    }
}

/// Checks that the program of `kind` exists (a clear message instead of a
/// spawn error; transmission-daemon is a separate Debian package).
pub(crate) fn installed(kind: SeederKind, env: &Env<'_>) -> Result<(), String> {
    let found = |p: &Path| {
        if p.components().count() > 1 {
            p.is_file()
        } else {
            std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
        }
    };
    let need = |p: &Path, hint: &str| {
        if found(p) {
            Ok(())
        } else {
            Err(format!("{} not found ({hint})", p.display()))
        }
    };
    match kind {
        SeederKind::Seedcore => need(
            env.seedcore_bin,
            "cargo build --release -p seedcore, or --seedcore-bin",
        ),
        SeederKind::Libtorrent => {
            need(env.python, "apt-get install python3-libtorrent")?;
            need(env.lt_script, "--lt-script")
        }
        SeederKind::Transmission => need(
            Path::new("transmission-daemon"),
            "apt-get install transmission-daemon",
        ),
        SeederKind::Aria2 => need(Path::new("aria2c"), "apt-get install aria2"),
        SeederKind::Raw => need(env.bench_bin, "cargo build --release -p seedcore-bench"),
    }
}

/// Starts `kind` (logs under `logs`, named `name`) and waits until it
/// serves the torrent.
pub(crate) fn start(
    kind: SeederKind,
    env: &Env<'_>,
    name: &str,
    logs: &Path,
    lifetime: Duration,
) -> Result<Running, String> {
    installed(kind, env)?;
    let port = free_port()?;
    // seedcore's resume files and transmission's config live here.
    let state = env.work.join(format!("state-{name}"));
    let _ = fs::remove_dir_all(&state);
    if matches!(kind, SeederKind::Seedcore | SeederKind::Transmission) {
        fs::create_dir_all(&state)
            .map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    }
    let mut setup_note = None;
    let mut rpc_port = 0;
    if kind == SeederKind::Transmission {
        rpc_port = free_port()?;
        let settings = transmission::settings(port, rpc_port, env.data);
        let text = serde_json::to_string_pretty(&settings).map_err(|e| e.to_string())?;
        fs::write(state.join("settings.json"), text)
            .map_err(|e| format!("cannot write transmission settings: {e}"))?;
        setup_note = Some(format!(
            "config folder with settings.json ({}), then RPC torrent-add of the torrent with \
             download-dir = the data folder, waiting for status 6 (seeding)",
            "loopback only, no DHT/LSD/PEX/uTP, no speed or ratio limits, peer limits and \
             upload slots 900: it caps its own open files at 1024"
        ));
    }
    let (program, args) = command(kind, env, port, lifetime, &state);
    let cpus = cpu_list_string(env.cpus);
    let t0 = Instant::now();
    let mut proc = Proc::spawn(&Spec {
        name,
        cpus: &cpus,
        limit: lifetime,
        program: &program,
        args: &args,
        logs,
    })?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    if kind == SeederKind::Transmission {
        let rpc: SocketAddr = ([127, 0, 0, 1], rpc_port).into();
        let mut alive = || proc.exited().is_none();
        transmission::add_and_wait(rpc, env.torrent, env.data, env.start_timeout, &mut alive)?;
    }
    probe::wait_serving(&mut proc, addr, env.info_hash, env.start_timeout)?;
    let ready_after = t0.elapsed();
    Ok(Running {
        proc,
        addr,
        ready_after,
        setup_note,
    })
}
