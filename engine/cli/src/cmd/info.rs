//! `seedcore info`: what a torrent holds, for people or (`--json`) scripts.

use std::path::PathBuf;

use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::{MetaVersion, Metainfo};
use serde_json::json;

use crate::exit::Outcome;

/// Arguments of `seedcore info`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The .torrent file.
    torrent: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `seedcore info`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let meta = super::load_torrent(&args.torrent)?;
    if args.json {
        println!("{}", to_json(&meta));
    } else {
        print_text(&meta);
    }
    Ok(Outcome::Ok)
}

fn version_name(v: MetaVersion) -> &'static str {
    match v {
        MetaVersion::V1 => "v1",
        MetaVersion::V2 => "v2",
        MetaVersion::Hybrid => "hybrid",
    }
}

/// All trackers as tiers: `announce-list` when present (BEP 12 says it wins),
/// else `announce` as the only tier.
pub fn tracker_tiers(meta: &Metainfo) -> Vec<Vec<String>> {
    if !meta.announce_list.is_empty() {
        meta.announce_list.clone()
    } else {
        meta.announce.iter().map(|a| vec![a.clone()]).collect()
    }
}

fn to_json(meta: &Metainfo) -> serde_json::Value {
    let info = &meta.info;
    let files: Vec<_> = info
        .files
        .iter()
        .map(|f| json!({ "path": f.path.join("/"), "length": f.length, "pad": f.attr.pad }))
        .collect();
    json!({
        "name": info.name,
        "version": version_name(info.version),
        "info_hash_v1": meta.info_hashes.v1.map(|h| h.to_string()),
        "info_hash_v2": meta.info_hashes.v2.map(|h| h.to_string()),
        "piece_length": info.piece_length.get(),
        "piece_count": info.piece_count,
        "total_length": info.total_length,
        "private": info.private,
        "files": files,
        "trackers": tracker_tiers(meta),
        "webseeds": meta.url_list,
        "comment": meta.comment,
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
        "magnet": Magnet::from_metainfo(meta).to_uri(),
    })
}

fn print_text(meta: &Metainfo) {
    let info = &meta.info;
    println!("name:         {}", info.name);
    println!("version:      {}", version_name(info.version));
    if let Some(h) = meta.info_hashes.v1 {
        println!("info-hash v1: {h}");
    }
    if let Some(h) = meta.info_hashes.v2 {
        println!("info-hash v2: {h}");
    }
    println!(
        "pieces:       {} x {} KiB",
        info.piece_count,
        info.piece_length.get() / 1024
    );
    let data: u64 = info
        .files
        .iter()
        .filter(|f| !f.attr.pad)
        .map(|f| f.length)
        .sum();
    println!("size:         {data} bytes");
    println!("private:      {}", if info.private { "yes" } else { "no" });
    for (i, tier) in tracker_tiers(meta).iter().enumerate() {
        println!("tracker tier {i}: {}", tier.join(" "));
    }
    for ws in &meta.url_list {
        println!("webseed:      {ws}");
    }
    if let Some(c) = &meta.comment {
        println!("comment:      {c}");
    }
    if let Some(c) = &meta.created_by {
        println!("created by:   {c}");
    }
    let real: Vec<_> = info.files.iter().filter(|f| !f.attr.pad).collect();
    println!("files:        {}", real.len());
    for f in real {
        println!("  {:>14}  {}", f.length, f.path.join("/"));
    }
}
