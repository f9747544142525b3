//! Real clients as leechers of the seed under test, and the checks that
//! what they downloaded is exactly what was seeded.
//!
//! - libtorrent (`tests/py/lt_leech.py`) dials the seed itself: it can be
//!   handed a peer address (`connect_peer`, or `x.pe` in a magnet link).
//! - transmission-cli 3.00 and aria2c cannot be handed an address (and
//!   transmission ignores loopback peers from trackers), so they listen on
//!   a loopback address of their own and the seed dials them (`--peer`).
//!   Each gets its own `127.0.0.x`: transmission allows one peer per
//!   address.
//!
//! A client that finishes has checked every piece it received against the
//! torrent's hashes; the tests then compare every file byte for byte with
//! the source and run `seedcore verify` on the copy, so a client bug that
//! accepts bad data cannot hide a seed bug either.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::clients::{python, require_exe, require_libtorrent, seedcore, SYSTEM_PYTHON};
use crate::data::TreeFile;
use crate::live::{wait_for_file, Live};
use crate::seed::free_port;

/// One libtorrent leecher of a [`LtLeech`] run.
#[derive(Clone, Debug)]
pub struct LtJob {
    /// Label in reports.
    pub name: String,
    /// What to add: a `.torrent` path or a magnet URI.
    pub source: LtSource,
    /// The folder the torrent is saved into.
    pub save: PathBuf,
}

/// What a libtorrent leecher is given.
#[derive(Clone, Debug)]
pub enum LtSource {
    /// A `.torrent` file.
    Torrent(PathBuf),
    /// A magnet URI.
    Magnet(String),
}

/// A `lt_leech.py` process: one libtorrent session per job, all dialling
/// `peers`, each job's pieces re-hashed from disk once complete.
pub struct LtLeech {
    live: Live,
    timeout: Duration,
    _spec: tempfile::NamedTempFile,
}

impl LtLeech {
    /// Starts `lt_leech.py` for `jobs`, dialling `peers`; the script gives
    /// up after `timeout`.
    pub fn start(peers: &[SocketAddr], jobs: &[LtJob], timeout: Duration) -> LtLeech {
        require_libtorrent();
        let leechers: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                let mut v = serde_json::json!({
                    "name": j.name,
                    "save": j.save,
                });
                match &j.source {
                    LtSource::Torrent(p) => v["torrent"] = serde_json::json!(p),
                    LtSource::Magnet(m) => v["magnet"] = serde_json::json!(m),
                }
                v
            })
            .collect();
        let spec = serde_json::json!({
            "peers": peers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "timeout": timeout.as_secs(),
            "recheck": true,
            "leechers": leechers,
        });
        let mut file = tempfile::Builder::new()
            .prefix("lt-leech-")
            .suffix(".json")
            .tempfile()
            .expect("cannot create the leech spec file");
        use std::io::Write;
        file.write_all(spec.to_string().as_bytes())
            .expect("cannot write the leech spec file");
        // `python()` checks that the script exists; the process itself is
        // started through `Live` to keep it in the background.
        let _ = python("lt_leech.py");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("py")
            .join("lt_leech.py");
        let mut cmd = Command::new(SYSTEM_PYTHON);
        cmd.arg(script).arg(file.path());
        LtLeech {
            live: Live::spawn("libtorrent leecher (lt_leech.py)", &mut cmd),
            timeout,
            _spec: file,
        }
    }

    /// Waits for the script to end and returns its report; panics with its
    /// output (and `context`, e.g. the seed's log) unless every leecher
    /// finished, passed the recheck and saw no hash failure.
    #[track_caller]
    pub fn finish(mut self, context: &dyn Fn() -> String) -> serde_json::Value {
        let bound = self.timeout + Duration::from_secs(20);
        if self.live.wait_exit(bound).is_none() {
            self.live.kill();
            panic!(
                "lt_leech.py did not end within {bound:?}\n{}\n{}",
                self.live,
                context()
            );
        }
        let ok = self.live.try_exit().is_some_and(|s| s.success());
        let out = self.live.stdout();
        let report: Option<serde_json::Value> = out
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l.trim()).ok());
        match report {
            Some(r) if ok && r["ok"] == serde_json::json!(true) => r,
            _ => panic!(
                "libtorrent did not download everything intact\n{}\n{}",
                self.live,
                context()
            ),
        }
    }

    /// Whether the script still runs (its downloads are not all done).
    pub fn is_running(&mut self) -> bool {
        self.live.is_running()
    }

    /// The process, for its output.
    pub fn live(&mut self) -> &mut Live {
        &mut self.live
    }
}

/// A client listening on a loopback address for the seed to dial it.
pub struct Listener {
    /// The process.
    pub live: Live,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The folder it downloads into.
    pub save: PathBuf,
    done: Option<PathBuf>,
}

impl Listener {
    /// transmission-cli 3.00 downloading `torrent` into `dir/download`,
    /// listening on `ip` only (a settings file in `dir/config` sets the bind
    /// address and turns DHT, LPD, PEX, uTP and port mapping off). Its
    /// `--finish` script touches `dir/DONE`, which [`Listener::wait_done`]
    /// waits for.
    pub fn transmission(dir: &Path, ip: IpAddr, torrent: &Path) -> Listener {
        let exe = require_exe("transmission-cli", "transmission-cli");
        let stdbuf = require_exe("stdbuf", "coreutils");
        let port = free_port(ip);
        let config = dir.join("config");
        let save = dir.join("download");
        mkdir(&config);
        mkdir(&save);
        let bind_v4 = if ip.is_ipv4() {
            ip.to_string()
        } else {
            "127.0.0.1".into()
        };
        let settings = serde_json::json!({
            "bind-address-ipv4": bind_v4,
            "bind-address-ipv6": "::1",
            "peer-port": port,
            "dht-enabled": false,
            "lpd-enabled": false,
            "pex-enabled": false,
            "utp-enabled": false,
            "port-forwarding-enabled": false,
            "blocklist-enabled": false,
            "encryption": 0,
            "rename-partial-files": false,
            "download-dir": save,
            "message-level": 2,
        });
        write(
            &config.join("settings.json"),
            settings.to_string().as_bytes(),
        );
        let done = dir.join("DONE");
        let script = dir.join("finished.sh");
        write(
            &script,
            format!("#!/bin/sh\ntouch '{}'\n", done.display()).as_bytes(),
        );
        make_executable(&script);
        let mut cmd = Command::new(stdbuf);
        cmd.arg("-o0")
            .arg(exe)
            .arg("-g")
            .arg(&config)
            .args(["-p", &port.to_string()])
            .arg("-w")
            .arg(&save)
            .arg("-f")
            .arg(&script)
            .arg(torrent);
        let mut l = Listener {
            live: Live::spawn("transmission-cli", &mut cmd),
            addr: SocketAddr::new(ip, port),
            save,
            done: Some(done),
        };
        l.wait_listening();
        l
    }

    /// aria2c downloading `source` (a `.torrent` path or a magnet URI) into
    /// `dir/download`, listening on `ip` only, no DHT, LPD or PEX, exiting
    /// once complete (`--seed-time=0`).
    pub fn aria2(dir: &Path, ip: IpAddr, source: &str) -> Listener {
        let exe = require_exe("aria2c", "aria2");
        let port = free_port(ip);
        let save = dir.join("download");
        mkdir(&save);
        let mut cmd = Command::new(exe);
        cmd.arg(format!("--dir={}", save.display()))
            .arg(format!("--listen-port={port}"))
            .arg(format!("--interface={ip}"))
            .args([
                "--disable-ipv6=true",
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-time=0",
                "--file-allocation=none",
                "--bt-save-metadata=false",
                "--summary-interval=5",
                "--console-log-level=notice",
                "--enable-color=false",
                "--stop=120",
            ])
            .arg(source);
        let mut l = Listener {
            live: Live::spawn("aria2c", &mut cmd),
            addr: SocketAddr::new(ip, port),
            save,
            done: None,
        };
        l.wait_listening();
        l
    }

    /// Waits until the client accepts TCP connections (the probe closes
    /// before any handshake).
    #[track_caller]
    fn wait_listening(&mut self) {
        let addr = self.addr;
        self.live
            .wait_until("listening for peers", Duration::from_secs(20), |_| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
            });
    }

    /// Waits up to `timeout` for the download to complete: transmission's
    /// finish script ran, or aria2c exited 0. Panics with the client's
    /// output and `context()` (the seed's log) otherwise. The client is
    /// stopped either way.
    #[track_caller]
    pub fn wait_done(&mut self, timeout: Duration, context: &dyn Fn() -> String) {
        let finished = match &self.done {
            Some(marker) => {
                let ok = wait_for_file(marker, timeout);
                self.live.terminate(Duration::from_secs(10));
                ok
            }
            None => {
                let status = self.live.wait_exit(timeout);
                if status.is_none() {
                    self.live.kill();
                }
                status.is_some_and(|s| s.success())
            }
        };
        assert!(
            finished,
            "{} did not complete the download within {timeout:?}\n{}\n{}",
            self.live.name(),
            self.live,
            context()
        );
    }
}

/// Panics unless every file of `files` under `downloaded` has exactly the
/// bytes of the same file under `source`. With `missing_empty_ok`, an
/// empty file the client did not create passes (transmission does not
/// create zero-length files) and is created, so that `seedcore verify`
/// can run on the copy.
#[track_caller]
pub fn assert_same_files(
    source: &Path,
    downloaded: &Path,
    files: &[TreeFile],
    missing_empty_ok: bool,
) {
    for f in files {
        let want = source.join(&f.rel);
        let got = downloaded.join(&f.rel);
        if f.len == 0 && missing_empty_ok && !got.exists() {
            if let Some(dir) = got.parent() {
                mkdir(dir);
            }
            write(&got, b"");
            continue;
        }
        let a = fs::read(&want).unwrap_or_else(|e| panic!("read {}: {e}", want.display()));
        let b = fs::read(&got).unwrap_or_else(|e| panic!("downloaded file {}: {e}", got.display()));
        assert_eq!(a.len(), b.len(), "{} has the wrong length", got.display());
        if let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) {
            panic!("{} differs from the source at byte {at}", got.display());
        }
    }
}

/// `seedcore verify TORRENT DATA_DIR` on a downloaded copy: must exit 0.
#[track_caller]
pub fn assert_verifies(torrent: &Path, data_dir: &Path) {
    let out = seedcore().arg("verify").arg(torrent).arg(data_dir).run();
    assert_eq!(
        out.code,
        Some(0),
        "seedcore verify rejects the downloaded copy in {}\n{out}",
        data_dir.display()
    );
}

fn mkdir(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
}

fn write(p: &Path, bytes: &[u8]) {
    fs::write(p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}
