//! `seedcore seed` as the end-to-end tests run it: on loopback only, on a
//! port picked for the test, with short timers from a configuration file,
//! stopped with SIGTERM and required to exit 0 without a panic.
//!
//! Why a configuration file and not only flags: the timers a test needs
//! short (handshake timeout, stall timeout, redial back-off, status
//! interval) are settings of the seed's TOML file; the file also proves
//! that `--config` is read. Flags cover what every run sets (port, bind
//! address, peers, shards).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::clients::seedcore_bin;
use crate::live::Live;

/// How long a seed may take to verify a few MiB and start listening
/// (a debug build on a loaded 2-core machine).
pub const START_TIMEOUT: Duration = Duration::from_secs(45);

/// How long a seed may take to stop after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A free TCP port on `ip`, found by binding port 0 and letting it go.
/// Another process could take it before our child binds it; on a test
/// machine that race is rare, and it fails loudly (the child cannot bind).
pub fn free_port(ip: IpAddr) -> u16 {
    let l = TcpListener::bind(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("cannot bind a free port on {ip}: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

/// The IPv4 loopback address `127.0.0.<last>`: clients that allow one
/// peer per address get one each.
pub fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// What to seed and how: a builder for [`Seed::start`].
#[derive(Clone, Debug, Default)]
pub struct Seed {
    paths: Vec<PathBuf>,
    data: Option<PathBuf>,
    peers: Vec<String>,
    shards: Option<usize>,
    config: Vec<String>,
    json: bool,
    ipv6: bool,
    /// `Some`: run the DHT, joining through these nodes (never the public
    /// routers: tests stay on loopback).
    dht: Option<Vec<SocketAddr>>,
    args: Vec<String>,
    /// Listen here instead of 127.0.0.1.
    ip: Option<IpAddr>,
    /// `Some`: run the HTTP API on 127.0.0.1 (any port), with this token.
    api: Option<Option<String>>,
}

impl Seed {
    /// Seeds `path` (a `.torrent`, or a file or folder to make one for).
    pub fn new(path: impl AsRef<Path>) -> Seed {
        Seed {
            paths: vec![path.as_ref().to_path_buf()],
            // Timers short enough for tests; every other setting default.
            config: vec![
                "status_interval = \"1s\"".into(),
                "dial_max_backoff = \"2s\"".into(),
                "choke_interval = \"1s\"".into(),
            ],
            ..Seed::default()
        }
    }

    /// A seed started with no torrent (a live node fed later: watch
    /// folder, state folder).
    pub fn empty() -> Seed {
        Seed {
            paths: Vec::new(),
            ..Seed::new("")
        }
    }

    /// Seeds one more path.
    pub fn path(mut self, path: impl AsRef<Path>) -> Seed {
        self.paths.push(path.as_ref().to_path_buf());
        self
    }

    /// `--data DIR`: where the data of the `.torrent` paths is.
    pub fn data(mut self, dir: impl AsRef<Path>) -> Seed {
        self.data = Some(dir.as_ref().to_path_buf());
        self
    }

    /// `--peer ADDR`: a peer the seed dials (and redials).
    pub fn peer(mut self, addr: SocketAddr) -> Seed {
        self.peers.push(addr.to_string());
        self
    }

    /// `--shards N`.
    pub fn shards(mut self, n: usize) -> Seed {
        self.shards = Some(n);
        self
    }

    /// One more line of the TOML configuration file (`key = value`).
    pub fn config(mut self, line: &str) -> Seed {
        self.config.push(line.to_string());
        self
    }

    /// Also listen on `[::1]` (same port): see [`RunningSeed::addr_v6`].
    pub fn ipv6(mut self) -> Seed {
        self.ipv6 = true;
        self
    }

    /// Runs the DHT node (instead of `--no-dht`), bootstrapping from
    /// `nodes` only (an empty list: no bootstrap node at all).
    pub fn dht(mut self, nodes: &[SocketAddr]) -> Seed {
        self.dht = Some(nodes.to_vec());
        self
    }

    /// One more command-line argument for `seedcore seed`.
    pub fn arg(mut self, arg: impl Into<String>) -> Seed {
        self.args.push(arg.into());
        self
    }

    /// Listens on `ip` (a free port there) instead of 127.0.0.1: the host
    /// end of a test's network namespace, for clients that refuse loopback
    /// peers (see [`crate::netns`]).
    pub fn bind_ip(mut self, ip: IpAddr) -> Seed {
        self.ip = Some(ip);
        self
    }

    /// `--api 127.0.0.1:0`: the HTTP API, metrics and status page on a
    /// free port ([`RunningSeed::api`]); `token`: required by the API
    /// (given through `SEEDCORE_API_TOKEN`).
    pub fn api(mut self, token: Option<&str>) -> Seed {
        self.api = Some(token.map(str::to_string));
        self
    }

    /// `--json`: status objects on stdout.
    pub fn json(mut self) -> Seed {
        self.json = true;
        self
    }

    /// Starts the seed on `127.0.0.1` (or [`Seed::bind_ip`]) and a free
    /// port, and waits until it accepts connections. `workdir` holds the
    /// configuration file.
    #[track_caller]
    pub fn start(self, workdir: &Path) -> RunningSeed {
        let ip = self.ip.unwrap_or(loopback(1));
        let port = free_port(ip);
        let config = workdir.join(format!("seedcore-{port}.toml"));
        let mut lines = self.config.clone();
        if let Some(nodes) = &self.dht {
            let list: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
            lines.push(format!("dht_bootstrap = [{}]", list.join(", ")));
        }
        lines.push(String::new());
        std::fs::write(&config, lines.join("\n"))
            .unwrap_or_else(|e| panic!("write {}: {e}", config.display()));
        let mut cmd = Command::new(seedcore_bin());
        // Only this test's settings: no `SEEDCORE_*` from the environment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SEEDCORE_") {
                cmd.env_remove(key);
            }
        }
        cmd.arg("seed").args(&self.paths);
        if let Some(d) = &self.data {
            cmd.arg("--data").arg(d);
        }
        cmd.arg("--config").arg(&config).args([
            "--port",
            &port.to_string(),
            "--bind",
            &ip.to_string(),
        ]);
        if self.dht.is_none() {
            cmd.arg("--no-dht");
        }
        cmd.args(&self.args);
        if self.ipv6 {
            cmd.args(["--bind", "::1"]);
        }
        for p in &self.peers {
            cmd.args(["--peer", p]);
        }
        if let Some(n) = self.shards {
            cmd.args(["--shards", &n.to_string()]);
        }
        if self.json {
            cmd.arg("--json");
        }
        if let Some(token) = &self.api {
            cmd.args(["--api", "127.0.0.1:0"]);
            if let Some(t) = token {
                cmd.env("SEEDCORE_API_TOKEN", t);
            }
        }
        // Logs from the engine's crates, for failure messages.
        // `RUST_LOG` from the test's environment wins (e.g. `debug`).
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.env("RUST_BACKTRACE", "1");
        let live = Live::spawn("seedcore seed", &mut cmd);
        let mut seed = RunningSeed {
            live,
            api: None,
            addr: SocketAddr::new(ip, port),
            addr_v6: self
                .ipv6
                .then(|| SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)),
        };
        seed.wait_listening(START_TIMEOUT);
        if self.api.is_some() {
            seed.wait_api(START_TIMEOUT);
        }
        seed
    }
}

/// A `seedcore seed` process the test started.
pub struct RunningSeed {
    live: Live,
    api: Option<SocketAddr>,
    addr: SocketAddr,
    addr_v6: Option<SocketAddr>,
}

impl RunningSeed {
    /// The address peers connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `[::1]:port`, when started with [`Seed::ipv6`].
    pub fn addr_v6(&self) -> Option<SocketAddr> {
        self.addr_v6
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The HTTP API's address (started with [`Seed::api`]).
    #[track_caller]
    pub fn api(&self) -> SocketAddr {
        self.api
            .unwrap_or_else(|| panic!("the seed was started without Seed::api\n{self}"))
    }

    /// Waits for the "API on http://ADDR/..." line and keeps the address.
    #[track_caller]
    fn wait_api(&mut self, timeout: Duration) {
        let find = |l: &Live| -> Option<SocketAddr> {
            let err = l.stderr();
            let rest = err.split("API on http://").nth(1)?;
            rest.split('/').next()?.parse().ok()
        };
        self.live
            .wait_until("the API listening", timeout, |l| find(l).is_some());
        self.api = find(&self.live);
    }

    /// The process, for its output, PID and memory.
    pub fn live(&mut self) -> &mut Live {
        &mut self.live
    }

    /// Waits until a TCP connection to the seed succeeds (the probe closes
    /// at once, before any handshake: the seed must shrug that off).
    #[track_caller]
    fn wait_listening(&mut self, timeout: Duration) {
        let addrs: Vec<SocketAddr> = std::iter::once(self.addr).chain(self.addr_v6).collect();
        let deadline = Instant::now() + timeout;
        self.live.wait_until("accepting connections", timeout, |_| {
            let left = deadline.saturating_duration_since(Instant::now());
            let wait = left.min(Duration::from_millis(500));
            addrs
                .iter()
                .all(|a| TcpStream::connect_timeout(a, wait).is_ok())
        });
    }

    /// Panics unless the seed still runs and has not reported a panic.
    #[track_caller]
    pub fn assert_alive(&mut self) {
        let running = self.live.is_running();
        let err = self.live.stderr();
        assert!(
            running && !err.contains("panicked"),
            "the seed should still be running without a panic\n{self}"
        );
    }

    /// The `--json` status objects printed so far (lines of stdout that
    /// parse as JSON objects).
    pub fn json_statuses(&self) -> Vec<serde_json::Value> {
        self.live
            .stdout()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// Stops the seed with SIGTERM and checks that it exits 0 without a
    /// panic within [`STOP_TIMEOUT`]; returns its whole stderr.
    #[track_caller]
    pub fn stop(mut self) -> String {
        self.assert_alive();
        let status = self.live.terminate(STOP_TIMEOUT);
        let err = self.live.stderr();
        assert!(
            status.is_some(),
            "the seed did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed)\n{self}"
        );
        assert!(
            status.is_some_and(|s| s.success()) && !err.contains("panicked"),
            "the seed should exit 0 without a panic on SIGTERM\n{self}"
        );
        err
    }
}

impl fmt::Display for RunningSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed at {}\n{}", self.addr, self.live)
    }
}

impl fmt::Debug for RunningSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunningSeed({}, {:?})", self.addr, self.live)
    }
}
