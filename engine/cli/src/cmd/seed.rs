//! `seedcore seed`: serve torrents until SIGINT/SIGTERM.
//!
//! Settings come from four layers, strongest first: flags, `SEEDCORE_*`
//! environment variables (clap reads both), the TOML file named by
//! `--config`, and the defaults of `seedcore_runtime::Config`. Every flag
//! below is an `Option` (or an empty list / `false`) so that "not given"
//! leaves the file's value in place. `--print-config` shows the result.
//!
//! Settings that contradict each other or that another makes do nothing
//! are judged by `seedcore_runtime::conflicts` with the layer each came
//! from (clap's value source for flags and environment variables, the
//! file's keys): a warning in the log when a stronger layer overrides a
//! weaker one, an error (exit 2) when one layer says both.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use std::sync::Arc;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::ArgMatches;
use seedcore_api::{ApiConfig, ApiServer};
use seedcore_runtime::conflicts::{self, Finding, Layer, Severity, Sources};
use seedcore_runtime::{Bytes, Config, RuntimeError, Seeder, SendPath, Signals, Span, TorrentSpec};

use crate::exit::Outcome;

/// Arguments of `seedcore seed`.
#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    /// What to seed: `.torrent` files (data in `--data`, default the
    /// folder of the `.torrent`), or files and folders: a v1 torrent is
    /// made for each, written beside it as `<name>.torrent`, and its
    /// magnet link printed.
    paths: Vec<PathBuf>,
    /// Folder holding the data of the `.torrent` paths given here.
    #[arg(long, env = "SEEDCORE_DATA")]
    data: Option<PathBuf>,
    /// TOML file with settings and `[[torrent]]` entries (`path`, `data`);
    /// see `--print-config` for every key.
    #[arg(long, env = "SEEDCORE_CONFIG")]
    config: Option<PathBuf>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    print_config: bool,
    /// TCP port to listen on [default: 6881].
    #[arg(long, env = "SEEDCORE_PORT")]
    port: Option<u16>,
    /// Address to listen on; repeat (or separate with commas) for several
    /// [default: 0.0.0.0 and ::].
    #[arg(long, env = "SEEDCORE_BIND", value_delimiter = ',', value_parser = parse_bind)]
    bind: Vec<IpAddr>,
    /// A peer (`HOST:PORT`) to dial for every torrent, retried with
    /// back-off until it answers and after every drop; repeatable.
    #[arg(long = "peer", env = "SEEDCORE_PEERS", value_delimiter = ',')]
    peers: Vec<String>,
    /// Do not run a DHT node (no UDP socket, no DHT bit in handshakes).
    #[arg(long, env = "SEEDCORE_NO_DHT")]
    no_dht: bool,
    /// A tracker announce URL (http://, https:// or udp://) added to every
    /// public torrent beside those in its metainfo, as its own tier;
    /// repeatable.
    #[arg(long = "tracker", env = "SEEDCORE_TRACKERS", value_delimiter = ',')]
    trackers: Vec<String>,
    /// UDP port of the DHT node [default: the TCP port].
    #[arg(long, env = "SEEDCORE_DHT_PORT")]
    dht_port: Option<u16>,
    /// A DHT node (`HOST:PORT`) to join the DHT through; repeatable
    /// [default: router.bittorrent.com:6881, dht.transmissionbt.com:6881,
    /// router.utorrent.com:6881].
    #[arg(
        long = "dht-bootstrap",
        env = "SEEDCORE_DHT_BOOTSTRAP",
        value_delimiter = ','
    )]
    dht_bootstrap: Vec<String>,
    /// Announce each public torrent to the DHT this often [default: 15m].
    #[arg(long, env = "SEEDCORE_DHT_ANNOUNCE_INTERVAL")]
    dht_announce_interval: Option<Span>,
    /// Scrape each working tracker for its swarm counts this often
    /// (BEP 48); 0: never [default: 30m].
    #[arg(long, env = "SEEDCORE_SCRAPE_INTERVAL")]
    scrape_interval: Option<Span>,
    /// Announce to one tracker of every tier (BEP 12), not only the first
    /// tier that works.
    #[arg(long, env = "SEEDCORE_ANNOUNCE_TO_ALL_TIERS")]
    announce_to_all_tiers: bool,
    /// Announce to every tracker of a tier, not only the first that works.
    #[arg(long, env = "SEEDCORE_ANNOUNCE_TO_ALL_TRACKERS")]
    announce_to_all_trackers: bool,
    /// Most outgoing connections to peers found by trackers, DHT and PEX,
    /// all torrents together; 0 = never dial them [default: 200].
    #[arg(long, env = "SEEDCORE_MAX_OUTGOING")]
    max_outgoing: Option<u32>,
    /// Most such outgoing connections per torrent [default: 20].
    #[arg(long, env = "SEEDCORE_MAX_OUTGOING_PER_TORRENT")]
    max_outgoing_per_torrent: Option<u32>,
    /// Most dials started per second to found peers, all torrents
    /// together; 0 = no limit [default: 30, libtorrent's connection_speed].
    #[arg(long, env = "SEEDCORE_DIAL_RATE")]
    dial_rate: Option<u32>,
    /// Most dials started per second for one torrent; 0 = no limit
    /// [default: 10].
    #[arg(long, env = "SEEDCORE_DIAL_RATE_PER_TORRENT")]
    dial_rate_per_torrent: Option<u32>,
    /// Give up a dial after this long [default: 10s].
    #[arg(long, env = "SEEDCORE_CONNECT_TIMEOUT")]
    connect_timeout: Option<Span>,
    /// Give up an HTTP(S) announce after this long [default: 30s].
    #[arg(long, env = "SEEDCORE_TRACKER_TIMEOUT")]
    tracker_timeout: Option<Span>,
    /// Serving shards (pinned executors) [default: every core but one].
    #[arg(long, env = "SEEDCORE_SHARDS")]
    shards: Option<usize>,
    /// Peers unchoked at once in all; 0 = every interested peer [default: 0].
    #[arg(long, env = "SEEDCORE_UPLOAD_SLOTS")]
    upload_slots: Option<u32>,
    /// Requests queued per peer, advertised as BEP 10 `reqq` [default: 2000].
    #[arg(long, env = "SEEDCORE_REQQ")]
    reqq: Option<u32>,
    /// Byte budget per peer: what its session may hold or owe ahead of the
    /// socket (answers, queued requests) [default: 1M].
    #[arg(long, env = "SEEDCORE_PEER_BUDGET")]
    peer_budget: Option<Bytes>,
    /// Most peer connections in all, every shard together; a full node
    /// evicts its least useful peer for a newcomer [default: 10000].
    #[arg(long, env = "SEEDCORE_MAX_PEERS")]
    max_peers: Option<u32>,
    /// Connections from one address to one torrent; 0 = no limit
    /// [default: 1].
    #[arg(long, env = "SEEDCORE_MAX_PEERS_PER_IP")]
    max_peers_per_ip: Option<u32>,
    /// Connections from one address in all; 0 = no limit [default: 100].
    #[arg(long, env = "SEEDCORE_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<u32>,
    /// Close peers that have not handshaken after this long [default: 20s].
    #[arg(long, env = "SEEDCORE_HANDSHAKE_TIMEOUT")]
    handshake_timeout: Option<Span>,
    /// Close peers silent for this long [default: 5m].
    #[arg(long, env = "SEEDCORE_IDLE_TIMEOUT")]
    idle_timeout: Option<Span>,
    /// Close peers that stop reading for this long; 0 = never [default: 2m].
    #[arg(long, env = "SEEDCORE_STALL_TIMEOUT")]
    stall_timeout: Option<Span>,
    /// Keep-alive after this long without sending [default: 2m].
    #[arg(long, env = "SEEDCORE_KEEPALIVE_INTERVAL")]
    keepalive_interval: Option<Span>,
    /// io_uring memory per shard; about 3x this is locked per shard, so
    /// keep shards x 3 x this under `ulimit -l` [default: 128K].
    #[arg(long, env = "SEEDCORE_IO_MEMORY")]
    io_memory: Option<Bytes>,
    /// How blocks reach the socket: writev, sendfile or write
    /// [default: writev].
    #[arg(long, env = "SEEDCORE_SEND_PATH")]
    send_path: Option<SendPath>,
    /// Status line on stderr every this long; 0 = none [default: 5s].
    #[arg(long, env = "SEEDCORE_STATUS_INTERVAL")]
    status_interval: Option<Span>,
    /// Also print each status as a JSON object line on stdout.
    #[arg(long, env = "SEEDCORE_JSON")]
    json: bool,
    /// Folder for resume files [default: <data>/.seedcore/].
    #[arg(long, env = "SEEDCORE_RESUME_DIR")]
    resume_dir: Option<PathBuf>,
    /// Threads verifying data at startup; 0 = every core [default: 0].
    #[arg(long, env = "SEEDCORE_VERIFY_THREADS")]
    verify_threads: Option<usize>,
    /// How often seeded files that inotify does not watch are checked for
    /// changes (watched ones: every 30th time) [default: 10s].
    #[arg(long, env = "SEEDCORE_FILE_CHECK_INTERVAL")]
    file_check_interval: Option<Span>,
    /// Do not watch seeded files with inotify; only check them every
    /// --file-check-interval (an edit in place is then seen that late).
    #[arg(long, env = "SEEDCORE_NO_FILE_WATCH")]
    no_file_watch: bool,
    /// How often the choker runs [default: 10s].
    #[arg(long, env = "SEEDCORE_CHOKE_INTERVAL")]
    choke_interval: Option<Span>,
    /// How often peers are sent PEX lists [default: 1m].
    #[arg(long, env = "SEEDCORE_PEX_INTERVAL")]
    pex_interval: Option<Span>,
    /// Longest wait between dials of a `--peer` that keeps failing [default: 5m].
    #[arg(long, env = "SEEDCORE_DIAL_MAX_BACKOFF")]
    dial_max_backoff: Option<Span>,
    /// The node's own folder: torrents added at run time (watch folder,
    /// API), paused flags, limits, resume files; kept across restarts and
    /// crashes [default: none: run-time changes last until exit].
    #[arg(long, env = "SEEDCORE_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Watch this folder: a `.torrent` dropped in is seeded, one removed
    /// stops being seeded, a broken one is moved to `.failed/` with the
    /// error beside it.
    #[arg(long, env = "SEEDCORE_WATCH")]
    watch: Option<PathBuf>,
    /// Where the data of watch-folder torrents is [default: the watch folder].
    #[arg(long, env = "SEEDCORE_WATCH_DATA")]
    watch_data: Option<PathBuf>,
    /// Upload rate of the whole node, bytes per second (`10M`); 0 =
    /// unlimited [default: 0]. SIGHUP re-reads it from the config file.
    #[arg(long, env = "SEEDCORE_UPLOAD_LIMIT")]
    upload_limit: Option<Bytes>,
    /// IP blocklist (eMule ipfilter.dat or P2P text, IPv4 and IPv6):
    /// refused before their handshake, never dialled; re-read on SIGHUP.
    #[arg(long, env = "SEEDCORE_BLOCKLIST")]
    blocklist: Option<PathBuf>,
    /// Refuse to start when any torrent cannot be loaded. Without it, such
    /// a torrent is reported and skipped, the others are seeded, and the
    /// start fails only when none can be.
    #[arg(long, env = "SEEDCORE_STRICT")]
    strict: bool,
    /// Serve the HTTP API, /metrics and the status page here: `ADDR:PORT`,
    /// or a port for 127.0.0.1 [default: off]. Beyond loopback a token is
    /// required (--api-token-file or SEEDCORE_API_TOKEN).
    #[arg(long, env = "SEEDCORE_API", value_parser = parse_api_addr)]
    api: Option<SocketAddr>,
    /// A file holding the API's bearer token (its first line).
    #[arg(long, env = "SEEDCORE_API_TOKEN_FILE")]
    api_token_file: Option<PathBuf>,
    /// Torrents with their own /metrics series, the top ones by upload
    /// rate [default: 10].
    #[arg(long, env = "SEEDCORE_METRICS_TOP_TORRENTS")]
    metrics_top_torrents: Option<u32>,
}

/// `ADDR:PORT`, `[V6]:PORT`, or a bare port on 127.0.0.1.
fn parse_api_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.trim().parse::<u16>() {
        return Ok(SocketAddr::new(
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port,
        ));
    }
    s.trim().parse().map_err(|_| {
        format!("{s:?}: give ADDR:PORT (127.0.0.1:6880, [::1]:6880) or a port for 127.0.0.1")
    })
}

/// `--bind` takes addresses only; an `ADDR:PORT` gets told where the port
/// goes instead of a bare "invalid IP address".
fn parse_bind(s: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = s.trim().parse::<IpAddr>() {
        return Ok(ip);
    }
    match s.trim().parse::<SocketAddr>() {
        Ok(a) => Err(format!(
            "{s} has a port: give the address to --bind ({}) and the port to --port ({})",
            a.ip(),
            a.port()
        )),
        Err(_) => Err(format!(
            "{s:?} is not an IP address (e.g. 0.0.0.0, ::, 127.0.0.1)"
        )),
    }
}

/// Which layer set each setting: the file's keys, then clap's sources for
/// flags and environment variables (arg ids are the config keys, except
/// `no_dht`, which sets `dht`).
fn sources(file_text: Option<&str>, matches: Option<&ArgMatches>) -> Sources {
    let mut s = file_text.map(Sources::from_toml).unwrap_or_default();
    let Some(m) = matches else { return s };
    for id in m.ids() {
        let layer = match m.value_source(id.as_str()) {
            Some(ValueSource::CommandLine) => Layer::Flag,
            Some(ValueSource::EnvVariable) => Layer::Env,
            _ => continue,
        };
        let key = match id.as_str() {
            "no_dht" => "dht",
            "paths" | "data" => "torrent",
            other => other,
        };
        s.set(key, layer);
    }
    s
}

fn is_torrent_path(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("torrent"))
}

/// `--data` (or a file entry's `data`) that no `.torrent` path can use.
fn unused_data(args: &Args, file: &[TorrentSpec], matches: Option<&ArgMatches>) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(d) = &args.data {
        if !args.paths.iter().any(|p| is_torrent_path(p)) {
            let from_env = matches
                .and_then(|m| m.value_source("data"))
                .is_some_and(|s| s == ValueSource::EnvVariable);
            let why = if args.paths.is_empty() {
                "no path is given on the command line (it does not apply to the config \
                 file's [[torrent]] entries)"
            } else {
                "no path given is a .torrent (files and folders are seeded from where they are)"
            };
            out.push(Finding {
                severity: if from_env {
                    Severity::Warning
                } else {
                    Severity::Error
                },
                keys: vec!["torrent"],
                message: format!(
                    "--data {} is not used: it says where the data of .torrent paths given \
                     on the command line is, and {why}",
                    d.display()
                ),
            });
        }
    }
    for t in file {
        if let Some(d) = &t.data {
            if !is_torrent_path(&t.path) {
                out.push(Finding {
                    severity: Severity::Error,
                    keys: vec!["torrent"],
                    message: format!(
                        "[[torrent]] path = {}: data = {} is not used: data is only for \
                         .torrent files (a file or folder is seeded from where it is); drop it",
                        t.path.display(),
                        d.display()
                    ),
                });
            }
        }
    }
    out
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The configuration the arguments describe (file, then env and flags),
/// whether to print it, and the warnings about settings that collide.
/// Settings that contradict each other within one layer are an error.
fn effective(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<Effective> {
    let (mut c, file_text) = match &args.config {
        Some(path) => (Config::load(path)?, std::fs::read_to_string(path).ok()),
        None => (Config::default(), None),
    };
    let sources = sources(file_text.as_deref(), matches);
    let mut findings = unused_data(&args, &c.torrents, matches);
    set(&mut c.port, args.port);
    if !args.bind.is_empty() {
        c.bind = args.bind;
    }
    if !args.peers.is_empty() {
        c.peers = args.peers;
    }
    if args.no_dht {
        c.dht = false;
    }
    if !args.trackers.is_empty() {
        c.trackers = args.trackers;
    }
    if args.dht_port.is_some() {
        c.dht_port = args.dht_port;
    }
    if !args.dht_bootstrap.is_empty() {
        c.dht_bootstrap = args.dht_bootstrap;
    }
    set(&mut c.dht_announce_interval, args.dht_announce_interval);
    set(&mut c.scrape_interval, args.scrape_interval);
    if args.announce_to_all_tiers {
        c.announce_to_all_tiers = true;
    }
    if args.announce_to_all_trackers {
        c.announce_to_all_trackers = true;
    }
    set(&mut c.max_outgoing, args.max_outgoing);
    set(
        &mut c.max_outgoing_per_torrent,
        args.max_outgoing_per_torrent,
    );
    set(&mut c.connect_timeout, args.connect_timeout);
    set(&mut c.dial_rate, args.dial_rate);
    set(&mut c.dial_rate_per_torrent, args.dial_rate_per_torrent);
    set(&mut c.tracker_timeout, args.tracker_timeout);
    if args.shards.is_some() {
        c.shards = args.shards;
    }
    set(&mut c.upload_slots, args.upload_slots);
    set(&mut c.reqq, args.reqq);
    set(&mut c.peer_budget, args.peer_budget);
    set(&mut c.max_peers, args.max_peers);
    set(&mut c.max_peers_per_ip, args.max_peers_per_ip);
    set(&mut c.max_connections_per_ip, args.max_connections_per_ip);
    set(&mut c.handshake_timeout, args.handshake_timeout);
    set(&mut c.idle_timeout, args.idle_timeout);
    set(&mut c.stall_timeout, args.stall_timeout);
    set(&mut c.keepalive_interval, args.keepalive_interval);
    set(&mut c.io_memory, args.io_memory);
    set(&mut c.send_path, args.send_path);
    set(&mut c.status_interval, args.status_interval);
    if args.json {
        c.json = true;
    }
    if args.resume_dir.is_some() {
        c.resume_dir = args.resume_dir;
    }
    set(&mut c.verify_threads, args.verify_threads);
    set(&mut c.file_check_interval, args.file_check_interval);
    if args.no_file_watch {
        c.file_watch = false;
    }
    set(&mut c.choke_interval, args.choke_interval);
    set(&mut c.pex_interval, args.pex_interval);
    set(&mut c.dial_max_backoff, args.dial_max_backoff);
    if args.api.is_some() {
        c.api = args.api;
    }
    if args.api_token_file.is_some() {
        c.api_token_file = args.api_token_file;
    }
    set(&mut c.metrics_top_torrents, args.metrics_top_torrents);
    if args.state_dir.is_some() {
        c.state_dir = args.state_dir;
    }
    if args.watch.is_some() {
        c.watch = args.watch;
    }
    if args.watch_data.is_some() {
        c.watch_data = args.watch_data;
    }
    set(&mut c.upload_limit, args.upload_limit);
    if args.blocklist.is_some() {
        c.blocklist = args.blocklist;
    }
    if args.strict {
        c.strict = true;
    }
    c.torrents
        .extend(args.paths.into_iter().map(|path| TorrentSpec {
            path,
            data: args.data.clone(),
        }));
    c.validate()?;
    findings.extend(conflicts::check(&c, &sources));
    let (errors, warnings): (Vec<Finding>, Vec<Finding>) = findings
        .into_iter()
        .partition(|f| f.severity == Severity::Error);
    if !errors.is_empty() {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!("contradictory settings: {}", list.join("; "));
    }
    Ok(Effective {
        config: c,
        print: args.print_config,
        warnings,
    })
}

/// The API server's settings, when the API is on: the token from
/// `SEEDCORE_API_TOKEN`, else from `api_token_file`.
fn api_config(c: &Config) -> anyhow::Result<Option<ApiConfig>> {
    let Some(addr) = c.api else {
        return Ok(None);
    };
    let mut a = ApiConfig::new(addr);
    a.token = match std::env::var("SEEDCORE_API_TOKEN") {
        Ok(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => match &c.api_token_file {
            Some(f) => Some(super::ctl::read_token(f)?),
            None => None,
        },
    };
    a.max_body = usize::try_from(c.api_max_body.0).unwrap_or(usize::MAX);
    a.max_connections = c.api_max_connections as usize;
    a.top_torrents = c.metrics_top_torrents as usize;
    Ok(Some(a))
}

/// What the command line and the file add up to.
struct Effective {
    config: Config,
    print: bool,
    warnings: Vec<Finding>,
}

/// Runs `seedcore seed`; `matches` are clap's, to tell flags from
/// environment variables.
pub fn run(args: Args, matches: Option<&ArgMatches>) -> anyhow::Result<Outcome> {
    let again = args.clone();
    let again_matches = matches.cloned();
    // First of all: a SIGTERM during a long start-up (verification of a
    // big torrent) must stop it cleanly, not kill the process by signal.
    let signals = Signals::new();
    signals
        .install()
        .context("cannot install the SIGINT/SIGTERM/SIGHUP handlers")?;
    let Effective {
        config,
        print,
        warnings,
    } = effective(args, matches)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if print {
        print!("{}", config.to_toml());
        return Ok(Outcome::Ok);
    }
    let json = config.json;
    let send_path = config.send_path;
    let api_config = api_config(&config)?;
    let seeder = match Seeder::start_with(config, signals) {
        Ok(s) => s,
        Err(RuntimeError::Stopped) => {
            tracing::info!("stopped during start-up (SIGINT/SIGTERM); nothing was served");
            return Ok(Outcome::Ok);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot start seeding")),
    };
    let api = match api_config {
        Some(c) => match ApiServer::start(c, Arc::new(seeder.node())) {
            Ok(api) => {
                tracing::info!(
                    "API on http://{0}/api/v1/, metrics on http://{0}/metrics, status page on http://{0}/",
                    api.local_addr()
                );
                Some(api)
            }
            Err(e) => {
                seeder.shutdown();
                return Err(e).context("cannot start the API (--api)");
            }
        },
        None => None,
    };
    // SIGHUP builds the configuration again the same way (file, env, flags).
    seeder
        .node()
        .set_config_loader(std::sync::Arc::new(move || {
            effective(again.clone(), again_matches.as_ref())
                .map(|e| e.config)
                .map_err(|e| format!("{e:#}"))
        }));
    for t in seeder.torrents() {
        let line = format!(
            "seeding {} ({} of {} pieces) info-hash {} from {}",
            t.name,
            t.pieces,
            t.piece_count,
            t.info_hash,
            t.root.display()
        );
        tracing::info!("{line}");
        if t.created {
            // stdout stays JSON-only with --json.
            if json {
                eprintln!(
                    "torrent: {}\nmagnet: {}",
                    t.torrent_path.display(),
                    t.magnet
                );
            } else {
                println!(
                    "torrent: {}\nmagnet: {}",
                    t.torrent_path.display(),
                    t.magnet
                );
            }
        }
    }
    for a in seeder.local_addrs() {
        tracing::info!(
            "listening on {a} ({} shards, {} send path)",
            seeder.shards(),
            send_path
        );
    }
    seeder.wait();
    drop(api);
    tracing::info!("stopped");
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches, Parser};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// Parses as the binary does (with clap's matches, so flags count as
    /// the command-line layer).
    fn try_effective(argv: &[&str]) -> anyhow::Result<Effective> {
        let m = Cli::command()
            .try_get_matches_from(std::iter::once("seed").chain(argv.iter().copied()))?;
        let cli = Cli::from_arg_matches(&m)?;
        effective(cli.args, Some(&m))
    }

    fn parse(argv: &[&str]) -> Config {
        try_effective(argv).unwrap().config
    }

    fn error(argv: &[&str]) -> String {
        match try_effective(argv) {
            Ok(e) => panic!("{argv:?} should be refused; got warnings {:?}", e.warnings),
            Err(e) => format!("{e:#}"),
        }
    }

    fn warnings(argv: &[&str]) -> Vec<String> {
        try_effective(argv)
            .unwrap()
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn contradictions_on_one_command_line_are_errors() {
        let e = error(&["--no-dht", "--dht-port", "7000", "x"]);
        assert!(
            e.contains("dht_port = 7000 is not used: the DHT is off"),
            "{e}"
        );
        assert!(e.contains("drop one"), "{e}");
        let e = error(&["--json", "--status-interval", "0", "x"]);
        assert!(e.contains("prints nothing"), "{e}");
        let e = error(&[
            "--max-outgoing",
            "0",
            "--max-outgoing-per-torrent",
            "5",
            "x",
        ]);
        assert!(
            e.contains("max_outgoing_per_torrent = 5 is not used"),
            "{e}"
        );
        let e = error(&["--bind", "127.0.0.1,127.0.0.1", "x"]);
        assert!(e.contains("twice"), "{e}");
        let e = error(&["--shards", "0", "x"]);
        assert!(e.contains("shards = 0"), "{e}");
    }

    #[test]
    fn a_flag_over_the_file_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seed.toml");
        std::fs::write(&file, "dht_port = 7000\nstatus_interval = 0\n").unwrap();
        let f = file.to_str().unwrap();
        let w = warnings(&["--config", f, "--no-dht", "--json", "x"]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("dht_port = 7000 is not used"), "{w:?}");
        assert!(w[0].contains("in the config file"), "{w:?}");
        assert!(w[1].contains("json = true prints nothing"), "{w:?}");
        // Both in the file: a mistake in the file.
        std::fs::write(&file, "dht = false\ndht_port = 7000\n").unwrap();
        let e = error(&["--config", f, "x"]);
        assert!(e.contains("both are set in the config file"), "{e}");
    }

    #[test]
    fn known_peers_with_dialling_off_are_still_dialled() {
        let w = warnings(&["--max-outgoing", "0", "--peer", "10.0.0.1:6881", "x"]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("is still dialled"), "{w:?}");
    }

    #[test]
    fn data_that_no_torrent_uses() {
        let e = error(&["--data", "/srv", "folder"]);
        assert!(e.contains("--data /srv is not used"), "{e}");
        assert!(e.contains("no path given is a .torrent"), "{e}");
        let e = error(&["--data", "/srv"]);
        assert!(e.contains("no path is given"), "{e}");
        parse(&["--data", "/srv", "a.torrent", "folder"]);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seed.toml");
        std::fs::write(&file, "[[torrent]]\npath = \"folder\"\ndata = \"/srv\"\n").unwrap();
        let e = error(&["--config", file.to_str().unwrap()]);
        assert!(e.contains("data is only for .torrent files"), "{e}");
    }

    #[test]
    fn bind_with_a_port_says_where_the_port_goes() {
        let e = Cli::try_parse_from(["seed", "--bind", "127.0.0.1:7000", "x"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--port (7000)"), "{e}");
        assert!(e.contains("--bind (127.0.0.1)"), "{e}");
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seed.toml");
        std::fs::write(
            &file,
            "port = 7000\nreqq = 100\nidle_timeout = \"1m\"\n[[torrent]]\npath = \"a.torrent\"\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let c = parse(&[
            "--config",
            f,
            "--port",
            "7001",
            "b.torrent",
            "--data",
            "/srv",
        ]);
        assert_eq!(c.port, 7001, "flag beats file");
        assert_eq!(c.reqq, 100, "file beats default");
        assert_eq!(c.idle_timeout, Span::secs(60));
        assert_eq!(c.handshake_timeout, Span::secs(20), "default");
        assert_eq!(c.torrents.len(), 2);
        assert_eq!(c.torrents[0].path, dir.path().join("a.torrent"));
        assert_eq!(c.torrents[1].data, Some(PathBuf::from("/srv")));
    }

    #[test]
    fn lists_and_units_parse() {
        let c = parse(&[
            "--bind",
            "127.0.0.1,::1",
            "--peer",
            "10.0.0.1:6881",
            "--peer",
            "example.org:51413",
            "--io-memory",
            "64K",
            "--send-path",
            "sendfile",
            "--stall-timeout",
            "0",
            "--tracker",
            "udp://127.0.0.1:6969",
            "--tracker",
            "http://127.0.0.1:6969/announce",
            "--dht-port",
            "7000",
            "--dht-bootstrap",
            "127.0.0.1:7001,127.0.0.1:7002",
            "--max-outgoing",
            "0",
            "--connect-timeout",
            "3s",
            "x",
        ]);
        assert_eq!(c.bind.len(), 2);
        assert_eq!(c.peers, vec!["10.0.0.1:6881", "example.org:51413"]);
        assert_eq!(c.io_memory, Bytes(65536));
        assert_eq!(c.send_path, SendPath::Sendfile);
        assert_eq!(c.stall_timeout, Span::secs(0));
        assert!(
            c.dht,
            "--dht-port and --dht-bootstrap need it (see conflicts)"
        );
        assert_eq!(
            c.trackers,
            vec!["udp://127.0.0.1:6969", "http://127.0.0.1:6969/announce"]
        );
        assert_eq!(c.dht_port, Some(7000));
        assert_eq!(c.dht_bootstrap, vec!["127.0.0.1:7001", "127.0.0.1:7002"]);
        assert_eq!(c.max_outgoing, 0);
        assert_eq!(c.connect_timeout, Span::secs(3));
    }

    #[test]
    fn dht_bootstrap_defaults_to_the_public_routers() {
        let c = parse(&["x"]);
        assert!(c.dht);
        assert_eq!(c.dht_bootstrap.len(), 3);
        assert!(c.dht_bootstrap[0].starts_with("router.bittorrent.com"));
        assert_eq!(c.dht_port, None, "the TCP port");
        assert!(
            try_effective(&["--tracker", "wss://t.example", "x"]).is_err(),
            "unsupported tracker scheme"
        );
    }

    #[test]
    fn the_api_takes_an_address_or_a_port_on_loopback() {
        let c = parse(&["--api", "6880", "--metrics-top-torrents", "3", "x"]);
        assert_eq!(c.api, Some("127.0.0.1:6880".parse().unwrap()));
        assert_eq!(c.metrics_top_torrents, 3);
        let c = parse(&["--api", "[::1]:7000", "--api-token-file", "/etc/t", "x"]);
        assert_eq!(c.api, Some("[::1]:7000".parse().unwrap()));
        assert_eq!(c.api_token_file, Some(PathBuf::from("/etc/t")));
        assert_eq!(parse(&["x"]).api, None, "off unless asked for");
        assert!(Cli::try_parse_from(["seed", "--api", "localhost:1", "x"]).is_err());
        let a = api_config(&parse(&["--api", "0.0.0.0:1", "x"]))
            .unwrap()
            .unwrap();
        assert_eq!(a.max_body, 16 << 20);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Cli::try_parse_from(["seed", "--send-path", "carrier-pigeon"]).is_err());
        assert!(Cli::try_parse_from(["seed", "--idle-timeout", "soon"]).is_err());
        assert!(try_effective(&["--reqq", "0"]).is_err());
    }
}
