//! File stamps: size and modification time, the cheap "did it change?" test.
//!
//! Resume data records a stamp per file when the file is opened for
//! verification (before any byte is read), and compares it with the file on
//! disk at the next start: same size and same modification time to the
//! nanosecond means the verified bytes are still there. It cannot catch a
//! rewrite that restores the old mtime; nothing short of hashing can.

use std::path::Path;

/// A file's size and modification time, as seen when it was opened; resume
/// data compares these to decide whether a file changed since it was verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, whole seconds since the Unix epoch (negative before it).
    pub mtime_secs: i64,
    /// Nanoseconds part of the modification time, `0..1_000_000_000`.
    pub mtime_nanos: u32,
}

impl FileStamp {
    /// The stamp of a file's metadata (the modification time reads as the
    /// epoch where the platform does not report one).
    pub fn of(meta: &std::fs::Metadata) -> FileStamp {
        let (mtime_secs, mtime_nanos) = match meta.modified() {
            Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
                Ok(d) => (
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                ),
                Err(e) => {
                    let d = e.duration();
                    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                    if d.subsec_nanos() == 0 {
                        (-secs, 0)
                    } else {
                        (-secs - 1, 1_000_000_000 - d.subsec_nanos())
                    }
                }
            },
            Err(_) => (0, 0),
        };
        FileStamp {
            size: meta.len(),
            mtime_secs,
            mtime_nanos,
        }
    }

    /// The stamp of the regular file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        meta.is_file().then(|| FileStamp::of(&meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps_before_the_epoch_round_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = File::create(&path).unwrap();
        f.set_modified(UNIX_EPOCH - Duration::from_millis(1500))
            .unwrap();
        let s = FileStamp::read(&path).unwrap();
        assert_eq!((s.mtime_secs, s.mtime_nanos), (-2, 500_000_000));
        f.set_modified(UNIX_EPOCH + Duration::new(7, 9)).unwrap();
        let s = FileStamp::read(&path).unwrap();
        assert_eq!((s.size, s.mtime_secs, s.mtime_nanos), (0, 7, 9));
        assert_eq!(FileStamp::read(dir.path()), None);
        assert_eq!(FileStamp::read(&dir.path().join("absent")), None);
    }
}
