//! `seedcore seed`: serve torrents until SIGINT/SIGTERM.
//!
//! Settings come from four layers, strongest first: flags, `SEEDCORE_*`
//! environment variables (clap reads both), the TOML file named by
//! `--config`, and the defaults of `seedcore_runtime::Config`. Every flag
//! below is an `Option` (or an empty list / `false`) so that "not given"
//! leaves the file's value in place. `--print-config` shows the result.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context;
use seedcore_runtime::{Bytes, Config, RuntimeError, Seeder, SendPath, Signals, Span, TorrentSpec};

use crate::exit::Outcome;

/// Arguments of `seedcore seed`.
#[derive(Debug, clap::Args)]
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
    #[arg(long, env = "SEEDCORE_BIND", value_delimiter = ',')]
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
    /// Most outstanding requests per peer (BEP 10 `reqq`) [default: 250].
    #[arg(long, env = "SEEDCORE_REQQ")]
    reqq: Option<u32>,
    /// Most peer connections in all [default: 10000].
    #[arg(long, env = "SEEDCORE_MAX_PEERS")]
    max_peers: Option<u32>,
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
    /// Refuse to start when any torrent cannot be loaded. Without it, such
    /// a torrent is reported and skipped, the others are seeded, and the
    /// start fails only when none can be.
    #[arg(long, env = "SEEDCORE_STRICT")]
    strict: bool,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The configuration the arguments describe (file, then env and flags).
fn effective(args: Args) -> anyhow::Result<(Config, bool)> {
    let mut c = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
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
    set(&mut c.max_peers, args.max_peers);
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
    if args.strict {
        c.strict = true;
    }
    c.torrents
        .extend(args.paths.into_iter().map(|path| TorrentSpec {
            path,
            data: args.data.clone(),
        }));
    c.validate()?;
    Ok((c, args.print_config))
}

/// Runs `seedcore seed`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    // First of all: a SIGTERM during a long start-up (verification of a
    // big torrent) must stop it cleanly, not kill the process by signal.
    let signals = Signals::new();
    signals
        .install()
        .context("cannot install the SIGINT/SIGTERM/SIGHUP handlers")?;
    let (config, print) = effective(args)?;
    if print {
        print!("{}", config.to_toml());
        return Ok(Outcome::Ok);
    }
    let json = config.json;
    let send_path = config.send_path;
    let seeder = match Seeder::start_with(config, signals) {
        Ok(s) => s,
        Err(RuntimeError::Stopped) => {
            tracing::info!("stopped during start-up (SIGINT/SIGTERM); nothing was served");
            return Ok(Outcome::Ok);
        }
        Err(e) => return Err(anyhow::Error::new(e).context("cannot start seeding")),
    };
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
    tracing::info!("stopped");
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Config {
        let cli = Cli::try_parse_from(std::iter::once("seed").chain(argv.iter().copied())).unwrap();
        effective(cli.args).unwrap().0
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
            "--no-dht",
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
        assert!(!c.dht);
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
        let cli = Cli::try_parse_from(["seed", "--tracker", "wss://t.example", "x"]).unwrap();
        assert!(effective(cli.args).is_err(), "unsupported tracker scheme");
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Cli::try_parse_from(["seed", "--send-path", "carrier-pigeon"]).is_err());
        assert!(Cli::try_parse_from(["seed", "--idle-timeout", "soon"]).is_err());
        let cli = Cli::try_parse_from(["seed", "--reqq", "0"]).unwrap();
        assert!(effective(cli.args).is_err());
    }
}
