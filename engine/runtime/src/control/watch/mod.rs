//! Watching the files being seeded, so a file that changes under the seed
//! stops being served at once instead of sending changed bytes, crashing
//! the seed or serving wrong data.
//!
//! # How SIGBUS is avoided
//!
//! A read through a mapping past the end of a truncated file raises SIGBUS.
//! The serving path never reads a mapping in user space: `send`/`sendmsg`
//! pass a pointer to the kernel (a fault there is an `EFAULT` for that one
//! call) and `sendfile` reads the page cache (a short count). So serving a
//! truncated file closes the connections that touch it, nothing more.
//!
//! # How a change is seen
//!
//! inotify watches on the files' folders ([`files`], through the `notify`
//! crate) report a write, truncation, deletion or rename the moment it
//! happens; the event reaches this thread through a queue and a wake-up of
//! the control loop, and the file's pieces are withdrawn on every shard:
//! they leave the bitfields, queued requests for them are rejected, and
//! peers get `lt_donthave`. An attribute change (`IN_ATTRIB`) is checked
//! by size and modification time first (a `chmod` changes no byte). Where
//! inotify cannot see (no inotify, the watch limit, network filesystems,
//! writes through another process' shared mapping), a helper thread
//! `stat`s the files every `file_check_interval`, and covered files every
//! [`files::COVERED_EVERY`]th interval; this thread never touches the
//! file system itself.
//!
//! Once a withdrawn file has been quiet for [`SETTLE`], it is re-verified
//! on the re-check thread ([`recheck`]), reading with `pread` through
//! `Storage::open_unmapped` (a file truncated again during the check gives
//! bad pieces, not SIGBUS), then mapped again; if it changed in between,
//! the result is thrown away and the check done again later. The good
//! pieces come back (`have`) with the new mapping.
//!
//! Residual races, documented rather than hidden: blocks already handed
//! to the kernel when a file changes in place go out with whatever bytes
//! the file holds when the kernel copies them: those in the socket call
//! in progress, and those queued in the session between the write and the
//! withdrawal reaching the shard (the time for an inotify event to cross
//! two threads and a mailbox: well under a millisecond on an idle machine,
//! one control-loop turn under load; up to `file_check_interval` where
//! inotify does not cover the file). Replace seeded files by renaming a
//! finished copy over them (the old inode stays mapped and valid until the
//! re-check maps the new one), never by editing them in place.

mod files;
mod recheck;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use seedcore_protocol::geometry::Geometry;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::session::TorrentId;
use seedcore_storage::FileStamp;

use crate::torrents::{pieces_of, TorrentData};
use files::{Command, Event, Report};
use recheck::{Finished, Job, Outcome};

/// How long a withdrawn file must be quiet before it is re-verified.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

/// One file of one torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FileKey {
    pub(crate) torrent: usize,
    pub(crate) file: usize,
}

/// What the watcher knows about one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileWatch {
    /// Served; it must keep this stamp.
    Serving(FileStamp),
    /// Withdrawn. `retry`: re-check once quiet for [`SETTLE`]; else wait
    /// until it changes again (it was missing or of the wrong size).
    Lost { retry: bool },
    /// A re-check is running; `dirty`: the file changed meanwhile, so its
    /// result must not be trusted.
    Rechecking { dirty: bool },
    /// Never served (missing or damaged at start-up) and not watched.
    Ignored,
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

/// The watcher of every torrent's files, on the control thread.
pub(crate) struct Watcher {
    torrents: Vec<Watched>,
    /// Per torrent, per piece: served now (the control thread's copy).
    pub(crate) have: Vec<Vec<bool>>,
    /// Served file path -> the files at that path (one file can be in two
    /// torrents).
    by_path: HashMap<PathBuf, Vec<FileKey>>,
    /// Watched folder -> its served files.
    by_dir: HashMap<PathBuf, Vec<FileKey>>,
    /// Withdrawn files waiting to be quiet: the last change seen.
    settling: HashMap<FileKey, Instant>,
    helpers: Option<Helpers>,
}

/// The channels to the helper threads (absent when they could not start:
/// then nothing is watched, as the log says).
struct Helpers {
    started: files::Started,
    jobs: Sender<Job>,
    finished: Receiver<Finished>,
}

impl Watcher {
    /// Starts the helper threads. `inotify`: watch with inotify (else only
    /// the sweep every `interval`). `wake` wakes the control loop.
    pub(crate) fn new(
        inotify: bool,
        interval: Duration,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Watcher {
        let helpers = (|| -> std::io::Result<Helpers> {
            let started = files::start(inotify, interval, Arc::clone(&wake))?;
            let (done, finished) = crossbeam_channel::unbounded();
            let jobs = recheck::start(done, wake)?;
            Ok(Helpers {
                started,
                jobs,
                finished,
            })
        })();
        let helpers = match helpers {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::error!(
                    "cannot start the file watching threads ({e}): files that change under the seed are not noticed"
                );
                None
            }
        };
        Watcher {
            torrents: Vec::new(),
            have: Vec::new(),
            by_path: HashMap::new(),
            by_dir: HashMap::new(),
            settling: HashMap::new(),
            helpers,
        }
    }

    /// Starts watching a torrent's files that are served now.
    pub(crate) fn add(
        &mut self,
        meta: Arc<Metainfo>,
        root: PathBuf,
        data: &TorrentData,
        have: Vec<bool>,
    ) {
        let t = self.torrents.len();
        let mut to_helper = Vec::new();
        let mut wanted = Vec::new();
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
                    let key = FileKey {
                        torrent: t,
                        file: i,
                    };
                    let mut p = root.clone();
                    p.extend(&f.path);
                    let p = std::path::absolute(&p).unwrap_or(p);
                    let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
                    self.by_path.entry(p.clone()).or_default().push(key);
                    self.by_dir.entry(dir.clone()).or_default().push(key);
                    wanted.push(p.clone());
                    wanted.push(dir);
                    to_helper.push((key, p, s));
                    FileWatch::Serving(s)
                }
                _ => FileWatch::Ignored,
            })
            .collect();
        self.torrents.push(Watched { meta, root, files });
        self.have.push(have);
        if let Some(h) = &self.helpers {
            // The handler must know the paths before the watches exist.
            match h.started.wanted.write() {
                Ok(mut w) => w.extend(wanted),
                Err(poisoned) => poisoned.into_inner().extend(wanted),
            }
            let _ = h.started.commands.send(Command::Add(to_helper));
        }
    }

    /// Takes what the helpers and inotify reported, starts the re-checks
    /// that are due, and returns the pieces to withdraw or add back.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let (events, reports, finished) = {
            let Some(h) = &self.helpers else {
                return changes;
            };
            if h.started.overflow.swap(false, Ordering::Relaxed) {
                let _ = h.started.commands.send(Command::SweepAll);
            }
            let events: Vec<Event> = h.started.events.try_iter().collect();
            let reports: Vec<Report> = h.started.reports.try_iter().collect();
            let finished: Vec<Finished> = h.finished.try_iter().collect();
            (events, reports, finished)
        };
        let mut attrib = Vec::new();
        for e in events {
            match e {
                Event::Changed(p) => {
                    let keys: Vec<FileKey> = self
                        .by_path
                        .get(&p)
                        .or_else(|| self.by_dir.get(&p))
                        .cloned()
                        .unwrap_or_default();
                    for k in keys {
                        self.changed(k, now, None, &mut changes);
                    }
                }
                Event::Attrib(p) => {
                    attrib.extend(self.by_path.get(&p).into_iter().flatten().copied());
                }
                Event::Rescan => {
                    if let Some(h) = &self.helpers {
                        let _ = h.started.commands.send(Command::SweepAll);
                    }
                }
            }
        }
        if !attrib.is_empty() {
            if let Some(h) = &self.helpers {
                let _ = h.started.commands.send(Command::Check(attrib));
            }
        }
        for Report::Stamp(k, stamp) in reports {
            self.changed(k, now, Some(stamp), &mut changes);
        }
        for f in finished {
            changes.extend(self.finished(f, now));
        }
        self.start_due(now);
        changes
    }

    /// A file may have changed (`stamp`: what the sweep saw, when it was
    /// the sweep that noticed).
    fn changed(
        &mut self,
        key: FileKey,
        now: Instant,
        stamp: Option<Option<FileStamp>>,
        changes: &mut Vec<Change>,
    ) {
        let Some(w) = self.torrents.get_mut(key.torrent) else {
            return;
        };
        let Some(state) = w.files.get_mut(key.file) else {
            return;
        };
        match *state {
            FileWatch::Serving(expected) => {
                if stamp == Some(Some(expected)) {
                    return;
                }
                let what = match stamp {
                    None => "was written to, moved or deleted (inotify)".to_string(),
                    Some(None) => "vanished".to_string(),
                    Some(Some(s)) if s.size != expected.size => {
                        format!("changed size ({} -> {} bytes)", expected.size, s.size)
                    }
                    Some(Some(_)) => "was modified".to_string(),
                };
                *state = FileWatch::Lost { retry: true };
                self.settling.insert(key, now);
                let Some(f) = w.meta.info.files.get(key.file) else {
                    return;
                };
                let geo = Geometry::from_info(&w.meta.info);
                let mut lost = Vec::new();
                if let Some(have) = self.have.get_mut(key.torrent) {
                    for p in pieces_of(&geo, f.offset, f.length) {
                        if let Some(h) = have.get_mut(p as usize).filter(|h| **h) {
                            *h = false;
                            lost.push(p);
                        }
                    }
                }
                let mut path = w.root.clone();
                path.extend(&f.path);
                tracing::warn!(
                    "{}: {} {what}; its {} pieces are no longer served",
                    w.meta.info.name,
                    path.display(),
                    lost.len()
                );
                if !lost.is_empty() {
                    let id = TorrentId(u32::try_from(key.torrent).unwrap_or(u32::MAX));
                    changes.push(Change::Lost(id, lost));
                }
            }
            FileWatch::Lost { .. } => {
                *state = FileWatch::Lost { retry: true };
                self.settling.insert(key, now);
            }
            FileWatch::Rechecking { .. } => *state = FileWatch::Rechecking { dirty: true },
            FileWatch::Ignored => {}
        }
    }

    /// Hands the files quiet for [`SETTLE`] to the re-check thread.
    fn start_due(&mut self, now: Instant) {
        let Some(h) = &self.helpers else {
            return;
        };
        let due: Vec<FileKey> = self
            .settling
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= SETTLE)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.settling.remove(&key);
            let Some(w) = self.torrents.get_mut(key.torrent) else {
                continue;
            };
            let Some(state) = w.files.get_mut(key.file) else {
                continue;
            };
            if *state != (FileWatch::Lost { retry: true }) {
                continue;
            }
            *state = FileWatch::Rechecking { dirty: false };
            let _ = h.jobs.send(Job {
                key,
                meta: Arc::clone(&w.meta),
                root: w.root.clone(),
            });
        }
    }

    /// Applies a finished re-check: the file is served again from the new
    /// mapping, and its good pieces come back (those that do not also lie
    /// in another file that is still withdrawn).
    fn finished(&mut self, r: Finished, now: Instant) -> Option<Change> {
        let key = r.key;
        let w = self.torrents.get_mut(key.torrent)?;
        let name = w.meta.info.name.clone();
        let state = w.files.get_mut(key.file)?;
        let FileWatch::Rechecking { dirty } = *state else {
            return None;
        };
        if dirty {
            // It changed while it was hashed: check again once quiet.
            *state = FileWatch::Lost { retry: true };
            self.settling.insert(key, now);
            return None;
        }
        let (data, good) = match r.outcome {
            Outcome::Done(data, good) => (data, good),
            Outcome::NotReady(why) => {
                tracing::info!(
                    "{name}: file {} is {why}; it is checked again when it changes",
                    key.file
                );
                *state = FileWatch::Lost { retry: false };
                return None;
            }
            Outcome::Failed(e) => {
                tracing::warn!("{name}: re-check failed: {e}; will try again");
                *state = FileWatch::Lost { retry: true };
                self.settling.insert(key, now);
                return None;
            }
        };
        let stamp = data.storage.file_stamp(key.file);
        let ok = data.files.get(key.file).is_some_and(Option::is_some);
        *state = match (stamp, ok) {
            (Some(st), true) => FileWatch::Serving(st),
            _ => FileWatch::Lost { retry: false },
        };
        let geo = Geometry::from_info(&w.meta.info);
        let have = self.have.get_mut(key.torrent)?;
        let mut added = Vec::new();
        if ok {
            for p in good {
                if shared_with_withdrawn(w, &geo, key.file, p) {
                    continue;
                }
                if let Some(h) = have.get_mut(p as usize).filter(|h| !**h) {
                    *h = true;
                    added.push(p);
                }
            }
        }
        tracing::info!("{name}: re-check done: {} pieces served again", added.len());
        let id = TorrentId(u32::try_from(key.torrent).unwrap_or(u32::MAX));
        Some(Change::Added(id, added, data))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(h) = &self.helpers {
            let _ = h.started.commands.send(Command::Stop);
        }
    }
}

/// Whether piece `p` of file `file` also holds bytes of another file that
/// is withdrawn now. Only the neighbours that share the piece are looked
/// at (files are in piece-space order), so a re-check of one file costs
/// its own pieces, not all the torrent's files times its pieces.
fn shared_with_withdrawn(w: &Watched, geo: &Geometry, file: usize, p: u32) -> bool {
    let pl = u64::from(geo.piece_length());
    let (start, end) = (u64::from(p) * pl, (u64::from(p) + 1) * pl);
    let withdrawn = |i: usize| {
        matches!(
            w.files.get(i),
            Some(FileWatch::Lost { .. } | FileWatch::Rechecking { .. })
        )
    };
    let overlaps = |i: usize| {
        w.meta
            .info
            .files
            .get(i)
            .is_some_and(|f| f.length > 0 && f.offset < end && f.offset + f.length > start)
    };
    let before = (0..file).rev().take_while(|&i| {
        w.meta
            .info
            .files
            .get(i)
            .is_some_and(|f| f.offset + f.length > start || f.length == 0)
    });
    let after = (file + 1..w.files.len())
        .take_while(|&i| w.meta.info.files.get(i).is_some_and(|f| f.offset < end));
    before.chain(after).any(|i| overlaps(i) && withdrawn(i))
}
