//! `seedcore verify`: hash a torrent's data on every core and say exactly
//! which pieces and files are bad. With `--resume FILE`, a previous good
//! result is reused while every file's size and mtime are unchanged.

use std::path::{Path, PathBuf};

use anyhow::Context;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_storage::resume::ResumeData;
use seedcore_storage::{verify, FileVerdict, VerifyOptions, VerifyReport};
use serde_json::json;

use crate::exit::Outcome;
use crate::progress::Progress;

/// Arguments of `seedcore verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The .torrent file.
    torrent: PathBuf,
    /// The folder the torrent was saved into (holding the file, or the
    /// torrent's top folder for a multi-file torrent).
    data_dir: PathBuf,
    /// Hashing threads (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Resume file: skip hashing when it is still valid for this data
    /// (same torrent, every file's size and mtime unchanged), and write it
    /// after hashing.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `seedcore verify`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let meta = super::load_torrent(&args.torrent)?;
    if !args.data_dir.is_dir() {
        anyhow::bail!(
            "data folder {} does not exist or is not a folder",
            args.data_dir.display()
        );
    }
    if let Some(path) = &args.resume {
        if let Some(have) = resumed(path, &meta, &args)? {
            return finish(&meta, &args, Summary::Resumed { have });
        }
    }
    let progress = Progress::new("verify", meta.info.total_length, args.quiet || args.json);
    let add = |n: u64| progress.add(n);
    let opts = VerifyOptions {
        threads: super::threads(args.threads),
        progress: Some(&add),
        stop: None,
    };
    let report = verify(&meta, &args.data_dir, &opts)
        .with_context(|| format!("cannot verify data in {}", args.data_dir.display()))?;
    let elapsed = progress.finish();
    if let Some(path) = &args.resume {
        ResumeData::from_report(&meta, &report)
            .save(path)
            .with_context(|| format!("cannot write resume file {}", path.display()))?;
    }
    finish(
        &meta,
        &args,
        Summary::Hashed {
            report,
            seconds: elapsed.as_secs_f64(),
        },
    )
}

/// The have-bitfield from a resume file, if it may be trusted.
fn resumed(path: &Path, meta: &Metainfo, args: &Args) -> anyhow::Result<Option<Vec<bool>>> {
    if !path.exists() {
        return Ok(None);
    }
    match ResumeData::load(path) {
        Ok(data) if data.valid_for(meta, &args.data_dir) => Ok(Some(data.have)),
        Ok(_) => {
            tracing::info!("resume file {} is out of date: verifying", path.display());
            Ok(None)
        }
        Err(err) => {
            tracing::warn!("ignoring resume file {}: {err}; verifying", path.display());
            Ok(None)
        }
    }
}

enum Summary {
    Hashed { report: VerifyReport, seconds: f64 },
    Resumed { have: Vec<bool> },
}

fn finish(meta: &Metainfo, args: &Args, summary: Summary) -> anyhow::Result<Outcome> {
    let (have, report, seconds) = match &summary {
        Summary::Hashed { report, seconds } => (report.have.as_slice(), Some(report), *seconds),
        Summary::Resumed { have } => (have.as_slice(), None, 0.0),
    };
    let bad: Vec<u32> = (0u32..)
        .zip(have)
        .filter(|(_, ok)| !**ok)
        .map(|(i, _)| i)
        .collect();
    // A file of the wrong size or missing fails the check even when no piece
    // shows it (a file that is too long still hashes right).
    let ok = bad.is_empty() && report.is_none_or(VerifyReport::all_good);
    if args.json {
        print_json(meta, report, &bad, seconds);
    } else {
        print_text(meta, report, &bad, seconds);
    }
    Ok(if ok {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}

fn state_name(state: &FileVerdict) -> String {
    match state {
        FileVerdict::Ok => "ok".into(),
        FileVerdict::Missing => "missing".into(),
        FileVerdict::WrongSize { expected, actual } => {
            format!("wrong size (expected {expected} bytes, found {actual})")
        }
        FileVerdict::Unreadable { reason } => format!("unreadable ({reason})"),
        FileVerdict::Damaged { bad_pieces } => format!("damaged ({bad_pieces} bad pieces)"),
    }
}

fn state_key(state: &FileVerdict) -> &'static str {
    match state {
        FileVerdict::Ok => "ok",
        FileVerdict::Missing => "missing",
        FileVerdict::WrongSize { .. } => "wrong_size",
        FileVerdict::Unreadable { .. } => "unreadable",
        FileVerdict::Damaged { .. } => "damaged",
    }
}

fn print_json(meta: &Metainfo, report: Option<&VerifyReport>, bad: &[u32], seconds: f64) {
    let files: Vec<_> = report
        .map(|r| {
            r.files
                .iter()
                .map(|f| {
                    json!({
                        "path": f.path.join("/"),
                        "length": f.length,
                        "pad": f.pad,
                        "state": state_key(&f.state),
                        "bad_pieces": f.bad_pieces,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let out = json!({
        "ok": bad.is_empty() && report.is_none_or(VerifyReport::all_good),
        "resumed": report.is_none(),
        "pieces": meta.info.piece_count,
        "bad_pieces": bad,
        "files": files,
        "bytes_hashed": report.map_or(0, |r| r.bytes_hashed),
        "seconds": seconds,
    });
    println!("{out}");
}

fn print_text(meta: &Metainfo, report: Option<&VerifyReport>, bad: &[u32], seconds: f64) {
    let pieces = meta.info.piece_count;
    match report {
        None => println!(
            "resume data valid (no file changed size or mtime): skipped hashing; {} of {pieces} pieces good",
            u64::from(pieces).saturating_sub(bad.len() as u64)
        ),
        Some(r) => {
            let mib = r.bytes_hashed as f64 / (1024.0 * 1024.0);
            println!(
                "hashed {mib:.1} MiB in {seconds:.2} s ({:.0} MiB/s): {} of {pieces} pieces good",
                mib / seconds.max(1e-9),
                u64::from(pieces).saturating_sub(bad.len() as u64)
            );
            for f in r.files.iter().filter(|f| !f.pad && f.state != FileVerdict::Ok) {
                if f.length == 0 && f.state == FileVerdict::Missing {
                    // No piece depends on it; some clients never create them.
                    println!("file {}: missing (empty file, no data lost)", f.path.join("/"));
                    continue;
                }
                println!("file {}: {}", f.path.join("/"), state_name(&f.state));
            }
        }
    }
    if !bad.is_empty() {
        println!("bad pieces: {}", ranges(bad));
    }
}

/// `1, 3-7, 9`: bad pieces come in runs when a file is missing.
fn ranges(sorted: &[u32]) -> String {
    let mut out = Vec::new();
    let mut iter = sorted.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&end.saturating_add(1)) {
            end = end.saturating_add(1);
            iter.next();
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[1, 3, 4, 5, 6, 7, 9]), "1, 3-7, 9");
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[u32::MAX]), u32::MAX.to_string());
    }
}
