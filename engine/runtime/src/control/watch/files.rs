//! The file helper thread: inotify watches (through `notify`) on the
//! folders of the served files, and the fallback `stat` sweep.
//!
//! Everything that touches the file system for watching runs here, never
//! on the control thread: `notify` stats a path before it watches it and
//! the sweep stats every file, and either can block for as long as a
//! filesystem likes (a hung NFS mount).
//!
//! # Why folders, not files
//!
//! One inotify watch per *folder* sees every file in it: writes
//! (`IN_MODIFY`, `IN_CLOSE_WRITE`), attribute changes (`IN_ATTRIB`),
//! deletion and renames of the file, and a new file renamed over its name
//! (`IN_MOVED_TO`, the safe way to replace a served file, which a watch on
//! the old inode would never see). The folder itself going away or moving
//! (`IN_DELETE_SELF`, `IN_MOVE_SELF`) counts as a change of all its
//! files. A torrent of a million files in a few thousand folders costs a
//! few thousand watches of the `fs.inotify.max_user_watches` budget
//! (8,192 by default on older kernels, often more).
//!
//! # When inotify is not enough
//!
//! No inotify at all (the instance limit, a kernel without it), the watch
//! limit reached, or a filesystem that does not report changes made
//! elsewhere (NFS, FUSE, CIFS): those folders are "uncovered" and their
//! files are `stat`ed every `file_check_interval`, as before inotify. A
//! warning says which and why. Writes through a shared mapping by another
//! process and edits through a hard link in an unwatched folder send no
//! event either, so covered files are swept too, every
//! [`COVERED_EVERY`]th interval.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind};
use notify::Watcher as _;
use seedcore_storage::FileStamp;

use super::FileKey;

/// Covered files are swept once every this many intervals (5 minutes with
/// the default 10 s): the check for the changes inotify cannot see.
pub(crate) const COVERED_EVERY: u32 = 30;

/// Events queued from the inotify thread to the control thread at most;
/// past that (a folder shared with a busy log file, say) the control
/// thread asks for a full sweep instead, as inotify does on its own
/// queue overflow.
pub(crate) const EVENT_QUEUE: usize = 4096;

/// What inotify said about a path, for the control thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// Written, truncated, deleted, renamed away or over: the file's bytes
    /// may differ now.
    Changed(PathBuf),
    /// Attributes changed (`chmod`, `touch`): the sweep decides by size
    /// and modification time whether the content may have.
    Attrib(PathBuf),
    /// Events were lost (a queue overflowed): everything must be swept.
    Rescan,
}

/// What the helper thread tells the control thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// A file's size or modification time differs from what the sweep saw
    /// before (`None`: gone, or no longer a regular file).
    Stamp(FileKey, Option<FileStamp>),
}

/// What the control thread asks of the helper thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// Watch and sweep these files (with the stamp they are served with).
    Add(Vec<(FileKey, PathBuf, FileStamp)>),
    /// `stat` these now (after `IN_ATTRIB`).
    Check(Vec<FileKey>),
    /// Sweep every file now (after lost events).
    SweepAll,
    /// A watched folder went away or moved: its watch is gone.
    Unwatched(PathBuf),
    /// The seed stops: end the thread (and `notify`'s with it). The
    /// channel alone would never close: `notify`'s handler, owned by this
    /// thread, holds a sender too.
    Stop,
}

/// Why a folder could not be watched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WatchFail {
    /// `fs.inotify.max_user_watches` reached.
    Limit,
    /// Anything else (the folder vanished, inotify unavailable...).
    Other(String),
}

/// Adding inotify watches; `notify` in the seed, a stand-in in tests.
pub(crate) trait Watches {
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFail>;
}

/// The real one.
struct Notify(notify::RecommendedWatcher);

impl Watches for Notify {
    fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFail> {
        self.0
            .watch(dir, notify::RecursiveMode::NonRecursive)
            .map_err(|e| match e.kind {
                notify::ErrorKind::MaxFilesWatch => WatchFail::Limit,
                _ => WatchFail::Other(e.to_string()),
            })
    }
}

/// Runs on `notify`'s thread: keeps only events about served files and
/// their folders, and hands them to the control thread without waiting.
struct Handler {
    /// Served files' paths and their folders' paths.
    wanted: Arc<RwLock<HashSet<PathBuf>>>,
    events: Sender<Event>,
    commands: Sender<Command>,
    overflow: Arc<AtomicBool>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Handler {
    fn send(&self, e: Event) {
        match self.events.try_send(e) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.overflow.store(true, Ordering::Relaxed),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl notify::EventHandler for Handler {
    fn handle_event(&mut self, event: notify::Result<notify::Event>) {
        let Ok(event) = event else {
            // Errors from the event stream (a watch limit hit while the
            // kernel re-adds watches, a read error): sweep to be sure.
            self.send(Event::Rescan);
            (self.wake)();
            return;
        };
        if event.need_rescan() {
            self.send(Event::Rescan);
            (self.wake)();
            return;
        }
        let attrib = match event.kind {
            // Opens and reads (our own included) change nothing.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
            EventKind::Access(_) => return,
            EventKind::Modify(ModifyKind::Metadata(_)) => true,
            _ => false,
        };
        let wanted = match self.wanted.read() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut any = false;
        for p in event.paths {
            if !wanted.contains(&p) {
                continue;
            }
            any = true;
            let folder_gone = matches!(
                event.kind,
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
            );
            if folder_gone {
                // Harmless for a file path: the helper ignores unknown ones.
                let _ = self.commands.send(Command::Unwatched(p.clone()));
            }
            self.send(if attrib {
                Event::Attrib(p)
            } else {
                Event::Changed(p)
            });
        }
        if any {
            (self.wake)();
        }
    }
}

/// One file the sweep looks after.
#[derive(Debug)]
struct Entry {
    key: FileKey,
    path: PathBuf,
    /// The stamp the sweep saw last (or was given).
    last: Option<FileStamp>,
    covered: bool,
}

/// The helper thread's state.
pub(crate) struct Files<W> {
    watches: Option<W>,
    entries: Vec<Entry>,
    by_key: HashMap<FileKey, usize>,
    /// Folder -> whether an inotify watch covers it.
    dirs: HashMap<PathBuf, bool>,
    reports: Sender<Report>,
    wake: Arc<dyn Fn() + Send + Sync>,
    warned_limit: bool,
    sweeps: u32,
}

impl<W: Watches> Files<W> {
    pub(crate) fn new(
        watches: Option<W>,
        reports: Sender<Report>,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> Files<W> {
        Files {
            watches,
            entries: Vec::new(),
            by_key: HashMap::new(),
            dirs: HashMap::new(),
            reports,
            wake,
            warned_limit: false,
            sweeps: 0,
        }
    }

    /// Whether `key`'s folder has an inotify watch.
    #[cfg(test)]
    pub(crate) fn covered(&self, key: FileKey) -> bool {
        self.by_key
            .get(&key)
            .and_then(|&i| self.entries.get(i))
            .is_some_and(|e| e.covered)
    }

    pub(crate) fn handle(&mut self, c: Command) {
        match c {
            Command::Add(files) => self.add(files),
            Command::Check(keys) => {
                let picked: Vec<usize> = keys
                    .iter()
                    .filter_map(|k| self.by_key.get(k).copied())
                    .collect();
                self.stat(picked);
            }
            Command::SweepAll => self.stat((0..self.entries.len()).collect()),
            Command::Stop => {}
            Command::Unwatched(dir) => {
                if let Some(c) = self.dirs.get_mut(&dir) {
                    if *c {
                        *c = false;
                        tracing::info!(
                            "{} went away or moved: the files seeded from it are now checked every interval",
                            dir.display()
                        );
                        for e in &mut self.entries {
                            if e.path.parent() == Some(dir.as_path()) {
                                e.covered = false;
                            }
                        }
                    }
                }
            }
        }
    }

    fn add(&mut self, files: Vec<(FileKey, PathBuf, FileStamp)>) {
        let mut uncovered = 0usize;
        for (key, path, stamp) in files {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let covered = match self.dirs.get(&dir) {
                Some(c) => *c,
                None => {
                    let c = self.watch(&dir);
                    self.dirs.insert(dir, c);
                    c
                }
            };
            // A write through another name of the file (the target of a
            // symlink, another hard link) raises its event in *that*
            // name's folder, which may not be watched: sweep such files.
            let covered = covered && !linked(&path);
            if !covered {
                uncovered += 1;
            }
            self.by_key.insert(key, self.entries.len());
            self.entries.push(Entry {
                key,
                path,
                last: Some(stamp),
                covered,
            });
        }
        if uncovered > 0 && self.watches.is_some() {
            tracing::warn!(
                "{uncovered} seeded files are not watched by inotify (watch limit, unwatchable folder, or a symlink or hard link whose other name may be written to): they are checked every file_check_interval instead (an edit in place is seen that late)"
            );
        }
    }

    fn watch(&mut self, dir: &Path) -> bool {
        let Some(w) = self.watches.as_mut() else {
            return false;
        };
        match w.watch_dir(dir) {
            Ok(()) => true,
            Err(WatchFail::Limit) => {
                if !self.warned_limit {
                    self.warned_limit = true;
                    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|_| "?".into());
                    tracing::warn!(
                        "the inotify watch limit is reached (fs.inotify.max_user_watches = {limit}); \
                         folders past it are checked every file_check_interval instead. \
                         Raise it (sysctl fs.inotify.max_user_watches=524288) to see edits at once"
                    );
                }
                false
            }
            Err(WatchFail::Other(e)) => {
                tracing::warn!(
                    "cannot watch {} for changes ({e}); its files are checked every interval",
                    dir.display()
                );
                false
            }
        }
    }

    /// One sweep: uncovered files always, covered ones every
    /// [`COVERED_EVERY`]th time.
    pub(crate) fn sweep(&mut self) {
        self.sweeps = self.sweeps.wrapping_add(1);
        let all = self.sweeps.is_multiple_of(COVERED_EVERY);
        let picked = (0..self.entries.len())
            .filter(|&i| all || self.entries.get(i).is_some_and(|e| !e.covered))
            .collect();
        self.stat(picked);
    }

    fn stat(&mut self, picked: Vec<usize>) {
        let mut any = false;
        for i in picked {
            let Some(e) = self.entries.get_mut(i) else {
                continue;
            };
            let now = FileStamp::read(&e.path);
            if now != e.last {
                e.last = now;
                any = true;
                let _ = self.reports.send(Report::Stamp(e.key, now));
            }
        }
        if any {
            (self.wake)();
        }
    }
}

/// Whether `path` is a symbolic link or has other hard links.
fn linked(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink() || m.nlink() > 1)
    }
    #[cfg(not(unix))]
    {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
    }
}

/// What the control thread holds of the watching machinery.
pub(crate) struct Started {
    pub(crate) commands: Sender<Command>,
    pub(crate) events: Receiver<Event>,
    pub(crate) reports: Receiver<Report>,
    pub(crate) wanted: Arc<RwLock<HashSet<PathBuf>>>,
    pub(crate) overflow: Arc<AtomicBool>,
}

/// Starts the helper thread (and, when `inotify` is set, the `notify`
/// watcher it owns). `interval`: the sweep period.
pub(crate) fn start(
    inotify: bool,
    interval: Duration,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> std::io::Result<Started> {
    let (commands, command_rx) = crossbeam_channel::unbounded();
    let (event_tx, events) = crossbeam_channel::bounded(EVENT_QUEUE);
    let (report_tx, reports) = crossbeam_channel::unbounded();
    let wanted = Arc::new(RwLock::new(HashSet::new()));
    let overflow = Arc::new(AtomicBool::new(false));
    let handler = Handler {
        wanted: Arc::clone(&wanted),
        events: event_tx,
        commands: commands.clone(),
        overflow: Arc::clone(&overflow),
        wake: Arc::clone(&wake),
    };
    std::thread::Builder::new()
        .name("seedcore-files".into())
        .spawn(move || {
            let watches = if inotify {
                match notify::recommended_watcher(handler) {
                    Ok(w) => Some(Notify(w)),
                    Err(e) => {
                        tracing::warn!(
                            "inotify is not available ({e}); seeded files are checked every file_check_interval instead"
                        );
                        None
                    }
                }
            } else {
                None
            };
            run(Files::new(watches, report_tx, wake), &command_rx, interval);
        })?;
    Ok(Started {
        commands,
        events,
        reports,
        wanted,
        overflow,
    })
}

/// The helper loop: commands as they come, a sweep every `interval`;
/// ends when the control thread drops its sender.
fn run<W: Watches>(mut files: Files<W>, commands: &Receiver<Command>, interval: Duration) {
    let interval = interval.max(Duration::from_millis(10));
    let mut next = Instant::now() + interval;
    loop {
        match commands.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(Command::Stop) => return,
            Ok(c) => files.handle(c),
            Err(RecvTimeoutError::Timeout) => {
                files.sweep();
                next = Instant::now() + interval;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Watches that run out after `left` folders.
    struct Limited {
        left: usize,
        watched: Vec<PathBuf>,
    }

    impl Watches for Limited {
        fn watch_dir(&mut self, dir: &Path) -> Result<(), WatchFail> {
            if self.left == 0 {
                return Err(WatchFail::Limit);
            }
            self.left -= 1;
            self.watched.push(dir.to_path_buf());
            Ok(())
        }
    }

    fn key(file: usize) -> FileKey {
        FileKey { torrent: 0, file }
    }

    #[test]
    fn past_the_watch_limit_folders_are_swept_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let mut added = Vec::new();
        for (i, sub) in ["a", "a", "b", "c"].iter().enumerate() {
            let d = dir.path().join(sub);
            std::fs::create_dir_all(&d).unwrap();
            let p = d.join(format!("f{i}"));
            std::fs::write(&p, b"1234").unwrap();
            added.push((key(i), p.clone(), FileStamp::read(&p).unwrap()));
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let limited = Limited {
            left: 2,
            watched: Vec::new(),
        };
        let mut f = Files::new(Some(limited), tx, Arc::new(|| {}));
        f.handle(Command::Add(added.clone()));
        // One watch per folder: a (two files) and b; c is past the limit.
        let w = f.watches.as_ref().unwrap();
        assert_eq!(w.watched.len(), 2, "{:?}", w.watched);
        assert!(f.covered(key(0)) && f.covered(key(1)) && f.covered(key(2)));
        assert!(!f.covered(key(3)));
        assert!(f.warned_limit);

        // Every file changes; an ordinary sweep sees only the uncovered one.
        for (_, p, _) in &added {
            std::fs::write(p, b"123456").unwrap();
        }
        f.sweep();
        let seen: Vec<Report> = rx.try_iter().collect();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(matches!(&seen[0], Report::Stamp(k, Some(s)) if *k == key(3) && s.size == 6));
        // Every COVERED_EVERY-th sweep takes the covered files too.
        for _ in 1..COVERED_EVERY {
            f.sweep();
        }
        let seen: Vec<Report> = rx.try_iter().collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
        // A folder whose watch died is swept every time from then on.
        f.handle(Command::Unwatched(dir.path().join("a")));
        assert!(!f.covered(key(0)) && !f.covered(key(1)) && f.covered(key(2)));
        std::fs::remove_file(&added[0].1).unwrap();
        f.sweep();
        let seen: Vec<Report> = rx.try_iter().collect();
        assert_eq!(seen, vec![Report::Stamp(key(0), None)]);
        // An attribute change that keeps size and mtime is no change.
        f.handle(Command::Check(vec![key(1), key(2)]));
        assert!(rx.try_iter().next().is_none());
    }

    #[test]
    fn symlinked_and_hard_linked_files_are_swept_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        let d = dir.path().join("d");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(elsewhere.join("t"), b"1").unwrap();
        std::os::unix::fs::symlink(elsewhere.join("t"), d.join("sym")).unwrap();
        std::fs::write(elsewhere.join("h"), b"1").unwrap();
        std::fs::hard_link(elsewhere.join("h"), d.join("hard")).unwrap();
        std::fs::write(d.join("plain"), b"1").unwrap();
        let (tx, _rx) = crossbeam_channel::unbounded();
        let limited = Limited {
            left: 10,
            watched: Vec::new(),
        };
        let mut f = Files::new(Some(limited), tx, Arc::new(|| {}));
        let add = ["sym", "hard", "plain"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let p = d.join(n);
                (key(i), p.clone(), FileStamp::read(&p).unwrap())
            })
            .collect();
        f.handle(Command::Add(add));
        assert!(!f.covered(key(0)) && !f.covered(key(1)) && f.covered(key(2)));
    }

    #[test]
    fn without_inotify_everything_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"1").unwrap();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut f: Files<Limited> = Files::new(None, tx, Arc::new(|| {}));
        f.handle(Command::Add(vec![(
            key(0),
            p.clone(),
            FileStamp::read(&p).unwrap(),
        )]));
        assert!(!f.covered(key(0)));
        std::fs::write(&p, b"22").unwrap();
        f.sweep();
        assert_eq!(rx.try_iter().count(), 1);
    }
}
