//! The watch folder (`--watch DIR`): `.torrent` files dropped in are
//! added, removed ones removed, broken ones moved aside with the reason.
//!
//! # How
//!
//! inotify (through the `notify` crate) reports changes to the folder; no
//! file is ever polled, so a folder of 100,000 torrents costs nothing while
//! nothing changes. A file is acted on once it has been quiet for
//! [`QUIET`] (a `.torrent` being copied in arrives in several writes; one
//! moved in arrives at once). At start, and if inotify reports that its
//! queue overflowed, the folder is read once and compared with the node's
//! watch-folder torrents, so changes made while the node was down (or
//! events the kernel dropped) are caught up.
//!
//! A watch-folder torrent is a client of [`Node`] like any other: it is
//! kept in the state folder with the file it came from, and its data is
//! looked for under `watch_data` (default: the watch folder itself). A
//! file that does not parse is moved to `<watch>/.failed/` and the error
//! written beside it as `<name>.error`: the folder then shows at a glance
//! what was refused and why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

use crate::control::live::Prepared;
use crate::node::{Node, NodeError, TorrentKey, TorrentSource};

/// How long a file must be left alone before it is read.
const QUIET: Duration = Duration::from_millis(500);
/// The largest `.torrent` read.
const MAX_TORRENT: u64 = 64 << 20;
/// The folder broken files are moved to.
const FAILED: &str = ".failed";

/// The running watcher; dropping it stops it.
#[derive(Debug)]
pub(crate) struct WatchDir {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for WatchDir {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts watching `dir`; torrents' data is under `data`.
pub(crate) fn start(node: Node, dir: PathBuf, data: PathBuf) -> Result<WatchDir, String> {
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let data = std::path::absolute(&data).unwrap_or(data);
    if !dir.is_dir() {
        return Err("not a folder (create it first)".into());
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        let _ = tx.send(ev);
    })
    .map_err(|e| format!("cannot watch: {e}"))?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("seedcore-watch".into())
        .spawn(move || {
            let mut w = Folder {
                node,
                dir,
                data,
                known: HashMap::new(),
                pending: HashMap::new(),
            };
            w.rescan();
            tracing::info!(
                "watching {} for .torrent files ({} seeded from it)",
                w.dir.display(),
                w.known.len()
            );
            while !flag.load(Ordering::Relaxed) {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(Ok(ev)) => w.event(&ev),
                    Ok(Err(e)) => {
                        tracing::warn!("watch folder: {e}; reading it again");
                        w.rescan();
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
                w.settle(Instant::now());
            }
            drop(watcher);
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    Ok(WatchDir {
        stop,
        thread: Some(thread),
    })
}

struct Folder {
    node: Node,
    dir: PathBuf,
    data: PathBuf,
    /// Files added from the folder, and the torrent each one is.
    known: HashMap<PathBuf, TorrentKey>,
    /// Files that changed, and when they last did.
    pending: HashMap<PathBuf, Instant>,
}

impl Folder {
    /// Whether `p` is a `.torrent` directly in the folder.
    fn is_ours(&self, p: &Path) -> bool {
        p.parent() == Some(self.dir.as_path())
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("torrent"))
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    }

    fn event(&mut self, ev: &notify::Event) {
        if ev.need_rescan() {
            tracing::warn!("watch folder: the kernel dropped events; reading it again");
            return self.rescan();
        }
        if matches!(ev.kind, EventKind::Access(_)) {
            // Opened or read: nothing changed.
            if !matches!(
                ev.kind,
                EventKind::Access(notify::event::AccessKind::Close(
                    notify::event::AccessMode::Write
                ))
            ) {
                return;
            }
        }
        let now = Instant::now();
        for p in &ev.paths {
            if self.is_ours(p) {
                self.pending.insert(p.clone(), now);
            }
        }
    }

    /// Acts on files quiet for [`QUIET`].
    fn settle(&mut self, now: Instant) {
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= QUIET)
            .map(|(p, _)| p.clone())
            .collect();
        for p in due {
            self.pending.remove(&p);
            self.sync(&p);
        }
    }

    /// Reads the folder once and compares it with what the node has.
    fn rescan(&mut self) {
        match self.node.watched() {
            Ok(list) => {
                self.known = list
                    .into_iter()
                    .filter(|(f, _)| f.parent() == Some(self.dir.as_path()))
                    .collect();
            }
            Err(e) => {
                tracing::warn!("watch folder: {e}");
                return;
            }
        }
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| self.is_ours(p))
                .collect(),
            Err(e) => {
                tracing::warn!("watch folder {}: {e}", self.dir.display());
                return;
            }
        };
        files.extend(self.known.keys().cloned());
        files.sort();
        files.dedup();
        for f in files {
            self.sync(&f);
        }
    }

    /// Makes the node agree with one file: added, replaced, or removed.
    fn sync(&mut self, file: &Path) {
        let bytes = match crate::fsutil::read_bounded(file, MAX_TORRENT) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return self.gone(file);
            }
            Err(e) => return self.fail(file, &format!("cannot read it: {e}")),
        };
        let meta = match crate::node::parse_torrent(&bytes) {
            Ok(m) => m,
            Err(e) => return self.fail(file, &e.to_string()),
        };
        let key = TorrentKey(meta.info_hashes.wire_hash());
        match self.known.get(file) {
            Some(k) if *k == key => return,
            Some(_) => {
                // The file now holds another torrent.
                self.gone(file);
            }
            None => {}
        }
        let name = meta.info.name.clone();
        let p = Prepared {
            key,
            meta: Arc::new(meta),
            bytes: Some(bytes.into()),
            root: self.data.clone(),
            torrent_path: Some(file.to_path_buf()),
            source: TorrentSource::Watch,
            paused: false,
            upload_limit: 0,
            watch_file: Some(file.to_path_buf()),
            made_stamps: None,
        };
        match self.node.add_prepared(p) {
            Ok(_) => {
                tracing::info!("watch folder: {} added ({name})", file.display());
                self.known.insert(file.to_path_buf(), key);
            }
            Err(NodeError::Duplicate { .. }) => {
                tracing::info!(
                    "watch folder: {} is {name}, already seeded; left as it is",
                    file.display()
                );
            }
            Err(e) => tracing::warn!("watch folder: {}: {e}", file.display()),
        }
    }

    /// The file is gone: its torrent is removed.
    fn gone(&mut self, file: &Path) {
        let Some(key) = self.known.remove(file) else {
            return;
        };
        match self.node.remove(key) {
            Ok(()) | Err(NodeError::NotFound { .. }) => {
                tracing::info!("watch folder: {} removed", file.display());
            }
            Err(e) => {
                tracing::warn!("watch folder: {}: {e}", file.display());
            }
        }
    }

    /// Moves a broken file to `.failed/` with the reason beside it.
    fn fail(&mut self, file: &Path, why: &str) {
        let failed = self.dir.join(FAILED);
        let Some(name) = file.file_name() else {
            return;
        };
        let moved = std::fs::create_dir_all(&failed)
            .and_then(|()| std::fs::rename(file, failed.join(name)));
        let note = failed.join(format!("{}.error", name.to_string_lossy()));
        let _ = std::fs::write(&note, format!("{why}\n"));
        match moved {
            Ok(()) => tracing::warn!(
                "watch folder: {} is not a usable .torrent ({why}); moved to {}",
                file.display(),
                failed.display()
            ),
            Err(e) => tracing::warn!(
                "watch folder: {} is not a usable .torrent ({why}); could not move it aside: {e}",
                file.display()
            ),
        }
        // A torrent it held before is gone with it.
        self.gone(file);
    }
}
