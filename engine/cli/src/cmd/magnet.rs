//! `seedcore magnet`: the magnet link of a torrent (BEP 9, both hashes for hybrids).

use std::path::PathBuf;

use seedcore_protocol::magnet::Magnet;

use crate::exit::Outcome;

/// Arguments of `seedcore magnet`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The .torrent file.
    torrent: PathBuf,
}

/// Runs `seedcore magnet`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let meta = super::load_torrent(&args.torrent)?;
    println!("{}", Magnet::from_metainfo(&meta).to_uri());
    Ok(Outcome::Ok)
}
