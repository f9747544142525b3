//! The state folder: the torrents added at run time, and how they were
//! left, kept across restarts and crashes.
//!
//! # Layout
//!
//! ```text
//! <state>/lock                    held (flock) while a node uses the folder
//! <state>/torrents/<key>.torrent  the .torrent as it was added, byte for byte
//! <state>/torrents/<key>.toml     its record: data folder, paused, limit, source
//! <state>/resume/<hash>.resume    resume data (the default resume folder)
//! <state>/broken/                 entries that failed to load, with a .error note
//! ```
//!
//! `<key>` is the torrent's 40-hex-digit [`TorrentKey`].
//!
//! # Crash safety
//!
//! One file per torrent, so a change costs one small write whatever the
//! number of torrents (a single list would be rewritten whole for each of
//! 100,000). Every file is written with
//! `seedcore_storage::resume::write_durably`: temporary file, fsync,
//! rename, fsync of the folder. A torrent exists when its `.toml` record
//! exists; the record is written after its `.torrent` and removed before
//! it, so at any instant of a `kill -9` the folder holds, per torrent,
//! either nothing, an orphan `.torrent` (an add that was never
//! acknowledged: deleted at the next start), or both files. A record whose
//! `.torrent` is missing or unreadable (which only a person's hands can
//! cause) is moved to `broken/` with the reason beside it, never fatal.
//! The node acknowledges an add, removal or pause only after the fsync of
//! the folder: what was acknowledged survives.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::node::{NodeError, TorrentKey, TorrentSource};
use crate::RuntimeError;

/// The largest record file read.
const MAX_RECORD: u64 = 64 << 10;
/// The largest `.torrent` read (as for any other).
const MAX_TORRENT: u64 = 64 << 20;

/// What the state folder remembers about one torrent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    /// The folder its data is under.
    pub(crate) data: PathBuf,
    /// Paused by the operator.
    #[serde(default)]
    pub(crate) paused: bool,
    /// Its own upload limit (bytes per second, 0: none).
    #[serde(default)]
    pub(crate) upload_limit: u64,
    /// Who added it.
    pub(crate) source: TorrentSource,
    /// For a watch-folder torrent: the file in the watch folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) watch_file: Option<PathBuf>,
    /// When it was added (seconds since the Unix epoch).
    #[serde(default)]
    pub(crate) added_at: u64,
}

/// One change for [`StateDir::apply`].
#[derive(Debug)]
pub(crate) enum Op<'a> {
    /// Write a record, and the `.torrent` first when given.
    Save {
        key: TorrentKey,
        torrent: Option<&'a [u8]>,
        record: &'a Record,
    },
    /// Remove a torrent's record and `.torrent`.
    Forget(TorrentKey),
}

/// One torrent read back from the folder.
#[derive(Debug)]
pub(crate) struct Saved {
    pub(crate) key: TorrentKey,
    pub(crate) torrent_path: PathBuf,
    pub(crate) meta: seedcore_protocol::metainfo::Metainfo,
    pub(crate) record: Record,
}

/// An open state folder (locked against a second node).
#[derive(Debug)]
pub(crate) struct StateDir {
    root: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Opens (making it if needed) and locks the folder.
    pub(crate) fn open(root: &Path) -> Result<StateDir, RuntimeError> {
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Io { op, path, source }
        };
        for d in [
            root.to_path_buf(),
            root.join("torrents"),
            root.join("resume"),
        ] {
            std::fs::create_dir_all(&d).map_err(io("create state folder", &d))?;
        }
        let lock_path = root.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("open", &lock_path))?;
        if lock.try_lock().is_err() {
            return Err(RuntimeError::Config {
                what: format!(
                    "the state folder {} is in use by another seedcore process (its lock file is held); \
                     give each node its own --state-dir",
                    root.display()
                ),
            });
        }
        Ok(StateDir {
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// The folder.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where resume files go by default.
    pub(crate) fn resume_dir(&self) -> PathBuf {
        self.root.join("resume")
    }

    fn torrent_path(&self, key: TorrentKey) -> PathBuf {
        self.root.join("torrents").join(format!("{key}.torrent"))
    }

    fn record_path(&self, key: TorrentKey) -> PathBuf {
        self.root.join("torrents").join(format!("{key}.toml"))
    }

    /// Every torrent the folder holds. Orphan `.torrent`s (adds never
    /// acknowledged) are deleted; broken entries are moved to `broken/`.
    pub(crate) fn load(&self) -> Vec<Saved> {
        let dir = self.root.join("torrents");
        let Ok(rd) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        let mut torrents = std::collections::HashSet::new();
        for e in rd.flatten() {
            let p = e.path();
            let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let Ok(key) = stem.parse::<TorrentKey>() else {
                continue;
            };
            match p.extension().and_then(|x| x.to_str()) {
                Some("toml") => records.push(key),
                Some("torrent") => {
                    torrents.insert(key);
                }
                _ => {}
            }
        }
        records.sort();
        let mut out = Vec::with_capacity(records.len());
        for key in records {
            torrents.remove(&key);
            match self.read_one(key) {
                Ok(s) => out.push(s),
                Err(why) => {
                    tracing::error!(
                        "state folder: {key} cannot be loaded ({why}); moved to {}",
                        self.root.join("broken").display()
                    );
                    self.move_broken(key, &why);
                }
            }
        }
        for orphan in torrents {
            // An add that crashed before it was acknowledged.
            tracing::info!("state folder: removing {orphan}.torrent, an add never completed");
            let _ = seedcore_storage::resume::remove_durably(&self.torrent_path(orphan));
        }
        out
    }

    fn read_one(&self, key: TorrentKey) -> Result<Saved, String> {
        let rp = self.record_path(key);
        let text = crate::fsutil::read_bounded(&rp, MAX_RECORD).map_err(|e| e.to_string())?;
        let text = String::from_utf8(text).map_err(|_| "the record is not UTF-8".to_string())?;
        let record: Record = toml::from_str(&text).map_err(|e| format!("record: {e}"))?;
        let tp = self.torrent_path(key);
        let bytes = crate::fsutil::read_bounded(&tp, MAX_TORRENT)
            .map_err(|e| format!("{}: {e}", tp.display()))?;
        let meta = seedcore_protocol::metainfo::Metainfo::from_bytes(&bytes)
            .map_err(|e| format!("{}: {e}", tp.display()))?;
        if TorrentKey(meta.info_hashes.wire_hash()) != key {
            return Err(format!(
                "{} holds another torrent ({})",
                tp.display(),
                hex::encode(meta.info_hashes.wire_hash())
            ));
        }
        Ok(Saved {
            key,
            torrent_path: tp,
            meta,
            record,
        })
    }

    fn move_broken(&self, key: TorrentKey, why: &str) {
        let broken = self.root.join("broken");
        let _ = std::fs::create_dir_all(&broken);
        for p in [self.torrent_path(key), self.record_path(key)] {
            if let Some(name) = p.file_name() {
                let _ = std::fs::rename(&p, broken.join(name));
            }
        }
        let _ = std::fs::write(broken.join(format!("{key}.error")), format!("{why}\n"));
        let _ = seedcore_storage::resume::sync_dir(&self.root.join("torrents"));
    }

    /// Writes a torrent's record, and its `.torrent` first when given;
    /// returns the `.torrent`'s path in the folder. (The node batches with
    /// [`Self::apply`]; this one change at a time is for tests.)
    #[cfg(test)]
    pub(crate) fn save(
        &self,
        key: TorrentKey,
        torrent: Option<&[u8]>,
        record: &Record,
    ) -> Result<PathBuf, NodeError> {
        let tp = self.torrent_path(key);
        let fail = |e: &dyn std::fmt::Display| NodeError::State {
            path: self.root.clone(),
            what: e.to_string(),
        };
        if let Some(bytes) = torrent {
            seedcore_storage::resume::write_durably(&tp, bytes).map_err(|e| fail(&e))?;
        }
        let text = toml::to_string(record).map_err(|e| fail(&e))?;
        seedcore_storage::resume::write_durably(&self.record_path(key), text.as_bytes())
            .map_err(|e| fail(&e))?;
        Ok(tp)
    }

    /// Applies many changes with as few folder fsyncs as the crash rules
    /// allow (group commit): every new `.torrent` written and fsynced, one
    /// folder fsync; then every record written (or removed), one folder
    /// fsync; then the `.torrent`s of removed torrents deleted (an orphan
    /// left by a crash there is cleaned up at the next start). Returns one
    /// result per change, in order.
    pub(crate) fn apply(&self, ops: &[Op<'_>]) -> Vec<Result<(), NodeError>> {
        use seedcore_storage::resume::{sync_dir, write_file_synced};
        let dir = self.root.join("torrents");
        let fail = |e: &dyn std::fmt::Display| NodeError::State {
            path: self.root.clone(),
            what: e.to_string(),
        };
        let mut out: Vec<Result<(), NodeError>> = ops.iter().map(|_| Ok(())).collect();
        let mut torrents = false;
        for (op, r) in ops.iter().zip(&mut out) {
            if let Op::Save {
                key,
                torrent: Some(bytes),
                ..
            } = op
            {
                torrents = true;
                *r = write_file_synced(&self.torrent_path(*key), bytes).map_err(|e| fail(&e));
            }
        }
        if torrents {
            if let Err(e) = sync_dir(&dir) {
                return out.into_iter().map(|_| Err(fail(&e))).collect();
            }
        }
        for (op, r) in ops.iter().zip(&mut out) {
            if r.is_err() {
                continue;
            }
            *r = match op {
                Op::Save { key, record, .. } => toml::to_string(record)
                    .map_err(|e| fail(&e))
                    .and_then(|text| {
                        write_file_synced(&self.record_path(*key), text.as_bytes())
                            .map_err(|e| fail(&e))
                    }),
                Op::Forget(key) => match std::fs::remove_file(self.record_path(*key)) {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(fail(&e)),
                },
            };
        }
        if let Err(e) = sync_dir(&dir) {
            return out.into_iter().map(|_| Err(fail(&e))).collect();
        }
        for (op, r) in ops.iter().zip(&out) {
            if let (Op::Forget(key), Ok(())) = (op, r) {
                let _ = std::fs::remove_file(self.torrent_path(*key));
            }
        }
        out
    }

    /// Forgets a torrent: the record first (that is the removal), then the
    /// `.torrent` copy. Its resume file is left (a later add of the same
    /// torrent then needs no verification).
    #[cfg(test)]
    pub(crate) fn forget(&self, key: TorrentKey) -> Result<(), NodeError> {
        let fail = |e: &dyn std::fmt::Display| NodeError::State {
            path: self.root.clone(),
            what: e.to_string(),
        };
        seedcore_storage::resume::remove_durably(&self.record_path(key)).map_err(|e| fail(&e))?;
        seedcore_storage::resume::remove_durably(&self.torrent_path(key)).map_err(|e| fail(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_torrent() -> (Vec<u8>, TorrentKey) {
        let info = b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let mut t = b"d4:info".to_vec();
        t.extend_from_slice(info);
        t.push(b'e');
        let meta = seedcore_protocol::metainfo::Metainfo::from_bytes(&t).unwrap();
        (t, TorrentKey(meta.info_hashes.wire_hash()))
    }

    fn record() -> Record {
        Record {
            data: "/srv".into(),
            paused: true,
            upload_limit: 5,
            source: TorrentSource::Api,
            watch_file: None,
            added_at: 7,
        }
    }

    #[test]
    fn save_load_forget_and_orphans() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, key) = sample_torrent();
        {
            let s = StateDir::open(dir.path()).unwrap();
            assert!(
                StateDir::open(dir.path()).is_err(),
                "a second node cannot take the same folder"
            );
            let tp = s.save(key, Some(&bytes), &record()).unwrap();
            assert_eq!(std::fs::read(&tp).unwrap(), bytes);
            let back = s.load();
            assert_eq!(back.len(), 1);
            assert_eq!(back[0].key, key);
            assert_eq!(back[0].record, record());
        }
        // An orphan .torrent (crash between the two writes) is cleaned up;
        // a record whose torrent is missing goes to broken/.
        let s = StateDir::open(dir.path()).unwrap();
        std::fs::remove_file(s.record_path(key)).unwrap();
        assert!(s.load().is_empty());
        assert!(!s.torrent_path(key).exists(), "orphan removed");
        s.save(key, None, &record()).unwrap();
        assert!(s.load().is_empty());
        assert!(dir
            .path()
            .join("broken")
            .join(format!("{key}.error"))
            .exists());
        // Forget removes both.
        s.save(key, Some(&bytes), &record()).unwrap();
        s.forget(key).unwrap();
        assert!(s.load().is_empty());
        assert!(!s.torrent_path(key).exists());
    }

    #[test]
    fn a_batch_saves_and_forgets_in_one_go() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, key) = sample_torrent();
        let s = StateDir::open(dir.path()).unwrap();
        let r = record();
        let results = s.apply(&[Op::Save {
            key,
            torrent: Some(&bytes),
            record: &r,
        }]);
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(s.load().len(), 1);
        let results = s.apply(&[Op::Forget(key)]);
        assert!(results.iter().all(Result::is_ok));
        assert!(s.load().is_empty());
        assert!(!s.torrent_path(key).exists());
    }

    #[test]
    fn a_garbled_record_is_moved_aside_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, key) = sample_torrent();
        let s = StateDir::open(dir.path()).unwrap();
        s.save(key, Some(&bytes), &record()).unwrap();
        std::fs::write(s.record_path(key), "data = ").unwrap();
        assert!(s.load().is_empty());
        let note = std::fs::read_to_string(dir.path().join("broken").join(format!("{key}.error")))
            .unwrap();
        assert!(note.contains("record"), "{note}");
    }
}
