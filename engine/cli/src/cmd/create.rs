//! `seedcore create`: make a .torrent for a file or folder. Files are taken
//! in path order (as mktorrent does) so that the same folder always gives the
//! same info-hash, and hashed on every core.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_storage::create::{self, CreateMode};

use crate::exit::Outcome;
use crate::progress::Progress;

/// Arguments of `seedcore create`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file or folder to make a torrent of.
    path: PathBuf,
    /// Where to write the torrent (default: `<name>.torrent` in the current folder).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Piece size in bytes, with an optional K/M suffix (KiB, MiB), or `auto`
    /// (picked from the total size, aiming at roughly 1,000-2,000 pieces).
    /// v2 and hybrid torrents need a power of two of at least 16K.
    #[arg(long, default_value = "auto", value_parser = parse_piece_size)]
    piece_size: PieceSize,
    /// Tracker announce URL; repeat for more. Each becomes its own tier
    /// (BEP 12), tried in order; the first is also `announce`.
    #[arg(short = 't', long = "tracker")]
    trackers: Vec<String>,
    /// Web seed URL (BEP 19); repeat for more.
    #[arg(short = 'w', long = "webseed")]
    webseeds: Vec<String>,
    /// Mark the torrent private (BEP 27): no DHT, no PEX, trackers only.
    #[arg(long)]
    private: bool,
    /// Free-text comment stored outside the info dictionary.
    #[arg(short, long)]
    comment: Option<String>,
    /// `source` field inside the info dictionary (private trackers use it to
    /// give the same files a different info-hash).
    #[arg(long)]
    source: Option<String>,
    /// Make a v1 torrent (BEP 3), the default: every client reads it.
    #[arg(long, group = "mode")]
    v1: bool,
    /// Make a v2-only torrent (BEP 52): SHA-256 merkle trees per file.
    #[arg(long, group = "mode")]
    v2: bool,
    /// Make a hybrid torrent: v1 and v2 metadata for the same files, with
    /// pad files aligning every file to a piece boundary.
    #[arg(long, group = "mode")]
    hybrid: bool,
    /// Hashing threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Leave out `creation date`, so that the whole file (not only the
    /// info-hash) is the same each time.
    #[arg(long)]
    no_date: bool,
    /// `created by` value.
    #[arg(long, default_value = concat!("seedcore/", env!("CARGO_PKG_VERSION")))]
    created_by: String,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
}

/// `--piece-size`: a fixed size, or chosen from the data size.
#[derive(Debug, Clone, Copy)]
pub enum PieceSize {
    /// Pick from the total size.
    Auto,
    /// Exactly this many bytes.
    Fixed(u32),
}

fn parse_piece_size(s: &str) -> Result<PieceSize, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(PieceSize::Auto);
    }
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("piece size {s:?}: expected a number like 262144, 256K or 1M, or auto")
    })?;
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1024,
        "m" | "mib" | "mb" => 1024 * 1024,
        other => {
            return Err(format!(
                "piece size {s:?}: unknown unit {other:?} (use K or M)"
            ))
        }
    };
    let bytes = n.saturating_mul(scale);
    let min = 16 * 1024;
    let max = 256 * 1024 * 1024;
    if !(min..=max).contains(&bytes) || !bytes.is_multiple_of(min) {
        return Err(format!(
            "piece size {s:?}: must be a multiple of 16K between 16K and 256M"
        ));
    }
    u32::try_from(bytes)
        .map(PieceSize::Fixed)
        .map_err(|_| format!("piece size {s:?} is too large"))
}

/// Runs `seedcore create`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mode = if args.v2 {
        CreateMode::V2
    } else if args.hybrid {
        CreateMode::Hybrid
    } else {
        CreateMode::V1
    };
    let scanned =
        create::scan(&args.path).with_context(|| format!("cannot read {}", args.path.display()))?;
    for skipped in &scanned.skipped {
        tracing::warn!("left out {}: {}", skipped.path.display(), skipped.reason);
    }
    let total = scanned.total_length();
    let piece_length = match args.piece_size {
        PieceSize::Auto => create::auto_piece_length(total),
        PieceSize::Fixed(n) => n,
    };
    if mode != CreateMode::V1 && !piece_length.is_power_of_two() {
        anyhow::bail!(
            "v2 and hybrid torrents need a power-of-two piece size; {piece_length} is not"
        );
    }
    let progress = Progress::new("hashing", total, args.quiet);
    let add = |n: u64| progress.add(n);
    let hashed = create::hash(
        &scanned,
        piece_length,
        mode,
        super::threads(args.threads),
        Some(&add),
    )
    .with_context(|| format!("cannot hash {}", args.path.display()))?;
    let elapsed = progress.finish();

    let mut builder = hashed
        .builder()
        .private(args.private)
        .created_by(args.created_by.clone());
    for url in &args.trackers {
        builder = builder.tracker(url.clone());
    }
    for url in &args.webseeds {
        builder = builder.web_seed(url.clone());
    }
    if let Some(c) = &args.comment {
        builder = builder.comment(c.clone());
    }
    if let Some(s) = &args.source {
        builder = builder.source(s.clone());
    }
    if !args.no_date {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        builder = builder.creation_date(i64::try_from(now).unwrap_or(i64::MAX));
    }
    // The builder parses its output back, so what is written is what we report.
    let (bytes, meta): (Vec<u8>, Metainfo) = builder
        .build_metainfo()
        .context("cannot encode the torrent")?;
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", meta.info.name)));
    write_atomically(&out, &bytes)?;

    if !args.quiet {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "hashed {} MiB in {secs:.2} s ({:.0} MiB/s), {} pieces of {} KiB",
            total >> 20,
            total as f64 / (1024.0 * 1024.0) / secs,
            meta.info.piece_count,
            piece_length / 1024
        );
    }
    println!("torrent: {}", out.display());
    if let Some(h) = meta.info_hashes.v1 {
        println!("info-hash v1: {h}");
    }
    if let Some(h) = meta.info_hashes.v2 {
        println!("info-hash v2: {h}");
    }
    println!("magnet: {}", Magnet::from_metainfo(&meta).to_uri());
    Ok(Outcome::Ok)
}

/// Writes to a temporary file beside `path`, then renames it into place, so
/// a crash never leaves half a torrent under the final name.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .with_context(|| format!("output {} has no file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::{parse_piece_size, PieceSize};

    #[test]
    fn piece_sizes_parse() {
        assert!(matches!(parse_piece_size("auto"), Ok(PieceSize::Auto)));
        assert!(matches!(
            parse_piece_size("256K"),
            Ok(PieceSize::Fixed(262_144))
        ));
        assert!(matches!(
            parse_piece_size("1M"),
            Ok(PieceSize::Fixed(1_048_576))
        ));
        assert!(matches!(
            parse_piece_size("16384"),
            Ok(PieceSize::Fixed(16_384))
        ));
        assert!(parse_piece_size("1000").is_err());
        assert!(parse_piece_size("512M").is_err());
        assert!(parse_piece_size("12X").is_err());
        assert!(parse_piece_size("").is_err());
    }
}
