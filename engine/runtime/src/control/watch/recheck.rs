//! Re-verifying a file that changed, on one helper thread.
//!
//! One thread, jobs in order: when a folder of 10,000 files is replaced at
//! once, that is 10,000 jobs in a queue, not 10,000 threads hashing at
//! the same time against the shards' disk reads.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_storage::{FileState, VerifyOptions};

use super::FileKey;
use crate::torrents::{pieces_of, TorrentData};

/// A file to re-verify.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) key: FileKey,
    pub(crate) meta: Arc<Metainfo>,
    pub(crate) root: PathBuf,
}

/// How a re-check ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Verified and mapped again: the new data and the pieces that passed.
    Done(Arc<TorrentData>, Vec<u32>),
    /// The file is not there at the right size: nothing to check until it
    /// changes again.
    NotReady(String),
    /// It changed during the check, or reading failed: try again later.
    Failed(String),
}

/// The result, back to the control thread.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) key: FileKey,
    pub(crate) outcome: Outcome,
}

/// Starts the re-check thread; it ends when `jobs`' sender is dropped.
pub(crate) fn start(
    done: Sender<Finished>,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<Sender<Job>> {
    let (tx, rx): (Sender<Job>, Receiver<Job>) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name("seedcore-recheck".into())
        .spawn(move || {
            for job in rx {
                tracing::info!(
                    "{}: file {} settled; re-checking its pieces",
                    job.meta.info.name,
                    job.key.file
                );
                let outcome = recheck(&job.meta, &job.root, job.key.file);
                if done
                    .send(Finished {
                        key: job.key,
                        outcome,
                    })
                    .is_err()
                {
                    return;
                }
                wake();
            }
        })?;
    Ok(tx)
}

/// Re-reads the torrent's data and verifies the pieces of `file`.
fn recheck(meta: &Metainfo, root: &std::path::Path, file: usize) -> Outcome {
    let Some(f) = meta.info.files.get(file) else {
        return Outcome::NotReady("no such file".into());
    };
    let geo = Geometry::from_info(&meta.info);
    let pieces: Vec<u32> = pieces_of(&geo, f.offset, f.length).collect();
    let opts = VerifyOptions {
        threads: 1,
        progress: None,
        stop: None,
    };
    // Read with pread, not through a map: a file that just changed may be
    // truncated again while it is hashed, and a map would turn that into
    // SIGBUS for the whole process. Only the serving maps are made after.
    let reader = match seedcore_storage::Storage::open_unmapped(&meta.info, root) {
        Ok(r) => r,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if let Some(state) = reader
        .file_status()
        .get(file)
        .filter(|s| **s != FileState::Ok)
    {
        return Outcome::NotReady(state.to_string());
    }
    let verdicts = match seedcore_storage::verify_pieces(meta, &reader, &pieces, &opts) {
        Ok(v) => v,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    let data = match TorrentData::open(meta, root) {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    if data.storage.file_stamp(file) != reader.file_stamp(file) {
        // Changed again between the check and the mapping.
        return Outcome::Failed("the file changed again while it was re-checked".into());
    }
    let good = pieces
        .iter()
        .zip(verdicts)
        .filter(|(_, ok)| *ok)
        .map(|(p, _)| *p)
        .collect();
    Outcome::Done(Arc::new(data), good)
}
