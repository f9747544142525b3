//! The `seedcore` command: seed, create, verify and inspect torrents.
//!
//! Each subcommand lives in its own module under `cmd/`. Errors carry an
//! exit code: 2 for bad input (a malformed torrent, a missing path, a bad
//! flag), 1 for a check that found something wrong (bad pieces), 0 otherwise.

mod cmd;
mod exit;
mod progress;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// seedcore: a thread-per-core BitTorrent seeding engine.
#[derive(Debug, Parser)]
#[command(name = "seedcore", version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug, -vv: trace). `RUST_LOG` overrides this
    /// with a full filter, e.g. `RUST_LOG=seedcore_storage=debug`.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed torrents (or files and folders) until SIGINT/SIGTERM.
    Seed(Box<cmd::seed::Args>),
    /// Make a .torrent for a file or folder, hashing on every core.
    Create(cmd::create::Args),
    /// Check data on disk against a torrent; exit 1 if any piece is bad or missing.
    Verify(cmd::verify::Args),
    /// Show what a .torrent holds.
    Info(cmd::info::Args),
    /// Print the magnet link of a .torrent.
    Magnet(cmd::magnet::Args),
    /// Check this host for seeding (advice, exit 0); with `--sweep`, measure
    /// seed settings under load and write the best config.
    Tune(cmd::tune::Args),
    /// Drive a running node through its HTTP API (`seed --api`): ls, add,
    /// rm, pause, resume, recheck, peers, limits, status.
    Ctl(cmd::ctl::Args),
}

fn main() {
    // The matches as well as the parsed arguments: `seed` asks them where
    // each setting came from (flag or environment) to judge conflicts.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Seed(args) => cmd::seed::run(*args, matches.subcommand_matches("seed")),
        Command::Create(args) => cmd::create::run(args),
        Command::Verify(args) => cmd::verify::run(args),
        Command::Info(args) => cmd::info::run(args),
        Command::Magnet(args) => cmd::magnet::run(args),
        Command::Tune(args) => cmd::tune::run(args),
        Command::Ctl(args) => cmd::ctl::run(args),
    };
    std::process::exit(exit::report(result));
}

/// Logs go to stderr so that stdout stays clean for `--json` and magnet links.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,seedcore=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
