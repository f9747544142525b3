//! What a sweep serves: the torrent (copied without trackers when it
//! names some, or made from `--data`), where its data is, and the words for
//! the file's header.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use seedcore_protocol::bencode::OwnedValue;
use seedcore_protocol::metainfo::Metainfo;

use super::proc::{Proc, WorkDir};
use super::SweepArgs;

/// The torrent without trackers, web seeds or comments: the info dictionary
/// and piece layers only, so the info-hash is unchanged.
fn trackerless(meta: &Metainfo) -> Vec<u8> {
    let mut out = b"d4:info".to_vec();
    out.extend_from_slice(&meta.info_bytes);
    if !meta.piece_layers.is_empty() {
        out.extend_from_slice(b"12:piece layers");
        let mut layers = OwnedValue::dict();
        for (root, hashes) in &meta.piece_layers {
            layers.insert_raw(root, OwnedValue::Bytes(hashes.concat()));
        }
        layers.encode_into(&mut out);
    }
    out.push(b'e');
    out
}

/// The torrent to serve, the folder its data is saved into, and its
/// handshake info-hash. A torrent naming trackers is copied without them;
/// `--data` alone gets a v1 torrent made by `seedcore create`.
pub(super) fn prepare(
    args: &SweepArgs,
    seedcore: &Path,
    work: &WorkDir,
    deadline: Instant,
) -> anyhow::Result<(PathBuf, PathBuf, [u8; 20], String)> {
    let abs =
        |p: &Path| fs::canonicalize(p).with_context(|| format!("cannot find {}", p.display()));
    let (torrent, data) = match (&args.torrent, &args.data) {
        (Some(t), data) => {
            let t = abs(t)?;
            let data = match data {
                Some(d) => abs(d)?,
                None => t.parent().map(Path::to_path_buf).unwrap_or_default(),
            };
            (t, data)
        }
        (None, Some(d)) => {
            let d = abs(d)?;
            let parent = d
                .parent()
                .with_context(|| format!("--data {}: give a file or folder below /", d.display()))?
                .to_path_buf();
            let t = work.0.join("sweep.torrent");
            let mut cmd = Command::new(seedcore);
            cmd.arg("create")
                .arg(&d)
                .arg("-o")
                .arg(&t)
                .arg("--no-date")
                .arg("--quiet");
            let mut create = Proc::spawn(cmd, "torrent maker", work.0.join("create.log"), None)?;
            match create.wait_until(deadline) {
                Some(s) if s.success() => {}
                Some(s) => bail!(
                    "cannot make a torrent of {} (seedcore create exited {s}){}",
                    d.display(),
                    create.last_words()
                ),
                None => bail!(
                    "making a torrent of {} took the whole budget; make it beforehand and pass --torrent",
                    d.display()
                ),
            }
            (t, parent)
        }
        (None, None) => {
            bail!("--sweep needs the data to serve: --torrent FILE [--data DIR], or --data PATH")
        }
    };
    let meta = crate::cmd::load_torrent(&torrent)?;
    let info_hash = meta.info_hashes.wire_hash();
    let about = format!(
        "{} ({:.1} MiB, {} pieces of {} KiB)",
        meta.info.name,
        meta.info.total_length as f64 / f64::from(1u32 << 20),
        meta.info.piece_count,
        meta.info.piece_length.get() / 1024
    );
    if meta.announce.is_none() && meta.announce_list.is_empty() {
        return Ok((torrent, data, info_hash, about));
    }
    // Keep the sweep off the network: the seed would announce to these.
    let copy = work.0.join("trackerless.torrent");
    fs::write(&copy, trackerless(&meta))
        .with_context(|| format!("cannot write {}", copy.display()))?;
    Ok((copy, data, info_hash, about))
}

/// The command line as typed, quoted where needed, for the file's header.
pub(super) fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `2 cores, Linux 6.18.0`.
pub(super) fn host() -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, Linux {}", kernel.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_are_dropped_and_the_info_hash_kept() {
        let mut info = b"d6:lengthi40000e4:name4:data12:piece lengthi32768e6:pieces40:".to_vec();
        info.extend_from_slice(&[7u8; 40]);
        info.push(b'e');
        let url = "http://tracker.example/announce";
        let mut t = format!(
            "d8:announce{}:{url}13:announce-listll{}:{url}ee7:comment2:hi4:info",
            url.len(),
            url.len()
        )
        .into_bytes();
        t.extend_from_slice(&info);
        t.push(b'e');
        let meta = Metainfo::from_bytes(&t).unwrap();
        assert!(meta.announce.is_some());
        let copy = Metainfo::from_bytes(&trackerless(&meta)).unwrap();
        assert_eq!(copy.info_hashes, meta.info_hashes);
        assert_eq!(copy.announce, None);
        assert!(copy.announce_list.is_empty());
        assert_eq!(copy.comment, None);
        assert_eq!(copy.info_bytes, info);
    }
}
