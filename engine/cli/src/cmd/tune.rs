//! `seedcore tune`: checks this host for seeding and says what to change.
//!
//! The checks live in `seedcore_tuning` (pure functions over what `/proc`
//! and `/sys` say); this command only gathers the seed's settings that bear
//! on them (from flags, the same `SEEDCORE_*` variables `seed` reads, or
//! `--config`), reads the host and prints the report. It is advice: the
//! exit code is 0 whatever it finds, 2 only for bad input.
//!
//! `--sweep` measures instead: it runs the seed under the load generator
//! across shard counts, `reqq` values and send paths and writes the best
//! configuration (`tune_sweep.rs`).

use std::path::PathBuf;

use anyhow::Context;
use seedcore_runtime::Config;
use seedcore_tuning::{check_all, render, Link, Readings, Target};

use crate::cmd::tune_sweep;
use crate::exit::Outcome;

/// Arguments of `seedcore tune`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Measure instead of checking: run `seedcore seed` under
    /// `seedcore-bench load` on loopback for every combination of --shards,
    /// --reqq and --send-path within --budget, print the table and write the
    /// best as a seed config (--out). Exit 1 if no point succeeded.
    #[arg(long)]
    sweep: bool,
    /// Link speed to size socket buffers for: 1g, 10g or 100g [default:
    /// the fastest NIC's reported speed, else 10g].
    #[arg(long, value_parser = parse_link, conflicts_with = "sweep")]
    link: Option<Link>,
    /// The seed's configuration file: its shards, max_peers, io_memory and
    /// port are checked against (flags below override it). With --sweep,
    /// the base of every point and of the file written.
    #[arg(long, env = "SEEDCORE_CONFIG")]
    config: Option<PathBuf>,
    /// Serving shards the seed will run [default: every core but one].
    /// With --sweep, the counts to try, comma-separated [default: 1, powers
    /// of two, every core but one, every core].
    #[arg(long, env = "SEEDCORE_SHARDS", value_delimiter = ',',
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    shards: Vec<u64>,
    /// Each shard's io_uring memory, as in the seed's config (`128K`,
    /// `10M`) [default: 128K].
    #[arg(long, env = "SEEDCORE_IO_MEMORY", value_parser = parse_size)]
    io_memory: Option<u64>,
    /// The seed's most peer connections [default: 10000].
    #[arg(long, env = "SEEDCORE_MAX_PEERS")]
    max_peers: Option<u32>,
    /// The seed's listen port [default: 6881]. With --sweep, the port every
    /// point listens on [default: a free one per point].
    #[arg(long, env = "SEEDCORE_PORT")]
    port: Option<u16>,
    /// Print one JSON object instead of the table.
    #[arg(long, conflicts_with = "sweep")]
    json: bool,
    #[command(flatten)]
    sweep_args: tune_sweep::SweepArgs,
}

fn parse_link(s: &str) -> Result<Link, String> {
    s.parse()
        .map_err(|e: seedcore_tuning::BadLink| e.to_string())
}

fn parse_size(s: &str) -> Result<u64, String> {
    seedcore_tuning::parse::size(s)
        .ok_or_else(|| format!("size {s:?}: expected bytes, or a number with K, M or G"))
}

/// The settings checked against: the config file's (or the defaults),
/// overridden by flags.
fn target(args: &Args) -> anyhow::Result<Target> {
    let mut t = Target {
        link: args.link,
        ..Target::default()
    };
    if let Some(path) = &args.config {
        let c =
            Config::load(path).with_context(|| format!("cannot use config {}", path.display()))?;
        t.shards = c.shards.filter(|&n| n > 0);
        t.io_memory = c.io_memory.0;
        t.max_peers = c.max_peers;
        t.port = c.port;
    }
    match args.shards.as_slice() {
        [] => {}
        [n] => t.shards = Some(usize::try_from(*n).context("--shards is out of range")?),
        _ => anyhow::bail!("--shards takes one count (a list only with --sweep)"),
    }
    if let Some(m) = args.io_memory {
        t.io_memory = m;
    }
    if let Some(p) = args.max_peers {
        t.max_peers = p;
    }
    if let Some(p) = args.port {
        t.port = p;
    }
    Ok(t)
}

/// Runs `seedcore tune`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if args.sweep {
        let shared = tune_sweep::Shared {
            shards: args.shards,
            port: args.port,
            config: args.config,
            io_memory: args.io_memory,
            max_peers: args.max_peers,
        };
        return tune_sweep::run(args.sweep_args, shared);
    }
    let target = target(&args)?;
    let report = check_all(&Readings::from_host(), &target);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("cannot encode the report")?
        );
    } else {
        print!("{}", render::table(&report));
    }
    Ok(Outcome::Ok)
}
