//! Watching the files being seeded, so a file that changes under the seed
//! stops being served instead of crashing it or serving wrong bytes.
//!
//! # How SIGBUS is avoided
//!
//! A read through a mapping past the end of a truncated file raises SIGBUS.
//! The serving path never reads a mapping in user space: `send`/`sendmsg`
//! pass a pointer to the kernel (a fault there is an `EFAULT` for that one
//! call) and `sendfile` reads the page cache (a short count). So serving a
//! truncated file closes the connections that touch it, nothing more.
//!
//! Every `file_check_interval` each served file is `stat`ed. When its size
//! or modification time differ from what was verified, its pieces are
//! withdrawn at once: the shards clear them from their bitfields and the
//! sessions send `lt_donthave` (and reject queued requests). Once the file
//! has the expected size and has not changed for one more interval, it is
//! mapped again on a helper thread and its pieces are re-verified; the
//! good ones come back (`have`) with the new mapping.
//!
//! Residual races, documented rather than hidden: (1) blocks already
//! handed to a socket when a file changes in place go out with whatever
//! bytes the file now holds (at most one send batch per connection);
//! (2) the re-verification reads the new mapping in user space, so a file
//! truncated *during* that re-check would still raise SIGBUS. Truncating
//! files that are being seeded is unsupported; replace them by renaming a
//! finished copy over them instead (the old inode stays mapped and valid).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::TorrentId;
use seedcore_storage::{FileStamp, VerifyOptions};

use crate::torrents::{pieces_of, TorrentData};

/// What the watcher knows about one file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FileWatch {
    /// Served; it must keep this stamp.
    Serving(FileStamp),
    /// Withdrawn; the stamp seen at the last check (to see it settle).
    Lost(Option<FileStamp>),
    /// A re-check runs on a helper thread.
    Rechecking,
    /// Never served (missing or damaged at startup) and not watched.
    Ignored,
}

/// The result of a re-check, sent back from the helper thread.
#[derive(Debug)]
pub(crate) struct Recheck {
    pub(crate) torrent: TorrentId,
    pub(crate) file: usize,
    pub(crate) result: Result<(Arc<TorrentData>, Vec<u32>), String>,
}

/// A change for the shards.
#[derive(Debug)]
pub(crate) enum Change {
    Lost(TorrentId, Vec<u32>),
    Added(TorrentId, Vec<u32>, Arc<TorrentData>),
}

#[derive(Debug)]
struct Watched {
    meta: Arc<Metainfo>,
    root: PathBuf,
    files: Vec<FileWatch>,
}

/// The watcher of every torrent's files.
#[derive(Debug)]
pub(crate) struct Watcher {
    torrents: HashMap<TorrentId, Watched>,
    /// Per torrent, per piece: served now (the control thread's copy).
    pub(crate) have: HashMap<TorrentId, Vec<bool>>,
    done: Sender<Recheck>,
}

impl Watcher {
    pub(crate) fn new(done: Sender<Recheck>) -> Watcher {
        Watcher {
            torrents: HashMap::new(),
            have: HashMap::new(),
            done,
        }
    }

    /// Starts watching a torrent's files that are served now.
    pub(crate) fn add(
        &mut self,
        id: TorrentId,
        meta: Arc<Metainfo>,
        root: PathBuf,
        data: &TorrentData,
        have: Vec<bool>,
    ) {
        let files = meta
            .info
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| match data.storage.file_stamp(i) {
                Some(s)
                    if !f.attr.pad
                        && f.length > 0
                        && data.files.get(i).is_some_and(Option::is_some) =>
                {
                    FileWatch::Serving(s)
                }
                _ => FileWatch::Ignored,
            })
            .collect();
        self.torrents.insert(id, Watched { meta, root, files });
        self.have.insert(id, have);
    }

    /// Stops watching a torrent (removed or paused); a re-check still
    /// running for it is ignored when it ends.
    pub(crate) fn remove(&mut self, id: TorrentId) {
        self.torrents.remove(&id);
        self.have.remove(&id);
    }

    fn path(w: &Watched, i: usize) -> Option<PathBuf> {
        let f = w.meta.info.files.get(i)?;
        let mut p = w.root.clone();
        p.extend(&f.path);
        Some(p)
    }

    /// Checks every watched file; returns the pieces to withdraw.
    pub(crate) fn check(&mut self) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut rechecks = Vec::new();
        for (&id, w) in &mut self.torrents {
            let t = id;
            let geo = Geometry::from_info(&w.meta.info);
            for i in 0..w.files.len() {
                let state = w.files.get(i).cloned();
                let Some(path) = Self::path(w, i) else {
                    continue;
                };
                match state {
                    Some(FileWatch::Serving(expected)) => {
                        let now = FileStamp::read(&path);
                        if now == Some(expected) {
                            continue;
                        }
                        let what = match now {
                            None => "vanished".to_string(),
                            Some(s) if s.size != expected.size => {
                                format!("changed size ({} -> {} bytes)", expected.size, s.size)
                            }
                            Some(_) => "was modified".to_string(),
                        };
                        let Some(f) = w.meta.info.files.get(i) else {
                            continue;
                        };
                        let have = self.have.get_mut(&t);
                        let mut lost = Vec::new();
                        if let Some(have) = have {
                            for p in pieces_of(&geo, f.offset, f.length) {
                                if let Some(h) = have.get_mut(p as usize).filter(|h| **h) {
                                    *h = false;
                                    lost.push(p);
                                }
                            }
                        }
                        tracing::warn!(
                            "{}: {} {what}; its {} pieces are no longer served",
                            w.meta.info.name,
                            path.display(),
                            lost.len()
                        );
                        if let Some(s) = w.files.get_mut(i) {
                            *s = FileWatch::Lost(now);
                        }
                        if !lost.is_empty() {
                            changes.push(Change::Lost(id, lost));
                        }
                    }
                    Some(FileWatch::Lost(seen)) => {
                        let now = FileStamp::read(&path);
                        let expected = w.meta.info.files.get(i).map(|f| f.length);
                        let settled =
                            now.is_some() && now == seen && now.map(|s| s.size) == expected;
                        let next = if settled {
                            rechecks.push((id, t, i));
                            FileWatch::Rechecking
                        } else {
                            FileWatch::Lost(now)
                        };
                        if let Some(s) = w.files.get_mut(i) {
                            *s = next;
                        }
                    }
                    _ => {}
                }
            }
        }
        for (id, t, i) in rechecks {
            self.spawn_recheck(id, t, i);
        }
        changes
    }

    fn spawn_recheck(&self, id: TorrentId, t: TorrentId, file: usize) {
        let Some(w) = self.torrents.get(&t) else {
            return;
        };
        let meta = Arc::clone(&w.meta);
        let root = w.root.clone();
        let done = self.done.clone();
        tracing::info!(
            "{}: file {file} settled; re-checking its pieces",
            meta.info.name
        );
        let spawned = std::thread::Builder::new()
            .name("seedcore-recheck".into())
            .spawn(move || {
                let result = recheck(&meta, &root, file);
                let _ = done.send(Recheck {
                    torrent: id,
                    file,
                    result,
                });
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a re-check thread: {e}");
        }
    }

    /// Applies a finished re-check: the file is served again from the new
    /// mapping, and its good pieces come back (those that do not also lie
    /// in another file that is still withdrawn).
    pub(crate) fn finished(&mut self, r: Recheck) -> Option<Change> {
        let w = self.torrents.get_mut(&r.torrent)?;
        let (data, good) = match r.result {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("{}: re-check failed: {e}; will try again", w.meta.info.name);
                if let Some(s) = w.files.get_mut(r.file) {
                    *s = FileWatch::Lost(None);
                }
                return None;
            }
        };
        let stamp = data.storage.file_stamp(r.file);
        let ok = data.files.get(r.file).is_some_and(Option::is_some);
        if let Some(s) = w.files.get_mut(r.file) {
            *s = match (stamp, ok) {
                (Some(st), true) => FileWatch::Serving(st),
                _ => FileWatch::Lost(None),
            };
        }
        let geo = Geometry::from_info(&w.meta.info);
        let withdrawn: Vec<std::ops::Range<u32>> = w
            .meta
            .info
            .files
            .iter()
            .zip(&w.files)
            .filter(|(_, s)| matches!(s, FileWatch::Lost(_) | FileWatch::Rechecking))
            .map(|(f, _)| pieces_of(&geo, f.offset, f.length))
            .collect();
        let have = self.have.get_mut(&r.torrent)?;
        let mut added = Vec::new();
        if ok {
            for p in good {
                if withdrawn.iter().any(|range| range.contains(&p)) {
                    continue;
                }
                if let Some(h) = have.get_mut(p as usize).filter(|h| !**h) {
                    *h = true;
                    added.push(p);
                }
            }
        }
        tracing::info!(
            "{}: re-check done: {} pieces served again",
            w.meta.info.name,
            added.len()
        );
        Some(Change::Added(r.torrent, added, data))
    }
}

/// Maps the torrent's data again and verifies the pieces of `file`;
/// returns the new data and the pieces that passed.
fn recheck(
    meta: &Metainfo,
    root: &std::path::Path,
    file: usize,
) -> Result<(Arc<TorrentData>, Vec<u32>), String> {
    let f = meta.info.files.get(file).ok_or("no such file")?;
    let geo = Geometry::from_info(&meta.info);
    let pieces: Vec<u32> = pieces_of(&geo, f.offset, f.length).collect();
    let opts = VerifyOptions {
        threads: 1,
        progress: None,
    };
    // Read with pread, not through a map: a file that just changed may be
    // truncated again while it is hashed, and a map would turn that into
    // SIGBUS for the whole process. Only the serving maps are made after.
    let reader =
        seedcore_storage::Storage::open_unmapped(&meta.info, root).map_err(|e| e.to_string())?;
    let verdicts = seedcore_storage::verify_pieces(meta, &reader, &pieces, &opts)
        .map_err(|e| e.to_string())?;
    let data = TorrentData::open(meta, root).map_err(|e| e.to_string())?;
    if data.storage.file_stamp(file) != reader.file_stamp(file) {
        // Changed again between the check and the mapping: the watcher sees
        // the new stamp and re-checks once the file is quiet.
        return Err("the file changed again while it was re-checked".into());
    }
    let good = pieces
        .iter()
        .zip(verdicts)
        .filter(|(_, ok)| *ok)
        .map(|(p, _)| *p)
        .collect();
    Ok((Arc::new(data), good))
}
