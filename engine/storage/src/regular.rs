//! Opening and reading the files a user names, without hanging and
//! without reading without end.
//!
//! # Why not `File::open` and `std::fs::read`
//!
//! Every path seedcore reads comes from a user or a torrent: a `.torrent`,
//! a data file, a resume file, `dht.state`, the configuration file. Any of
//! them can be something other than a regular file:
//!
//! - a **FIFO**: `open(O_RDONLY)` blocks until a writer appears, so a seed
//!   or `verify` with a FIFO where a data file should be hangs forever at
//!   start-up;
//! - a **character device** such as `/dev/zero`: `metadata().len()` is 0,
//!   so a size check passes, and `read_to_end` runs until memory is gone;
//! - a **socket** (`open` fails with the unhelpful `ENXIO`), a **folder**,
//!   a **block device**.
//!
//! So [`open`] opens with `O_NONBLOCK` (a FIFO then opens at once), checks
//! the type with `fstat` on the descriptor it got (not a `stat` before the
//! `open`, which another process could race), refuses anything but a
//! regular file with an error that names the file and what it is, and
//! clears `O_NONBLOCK` again so the handle behaves as an ordinary one.
//! [`read`] adds a bound: it refuses a file larger than its limit before
//! reading, and reads at most one byte past the limit, so a file that
//! grows (or a `/proc` file whose size reads as 0) still cannot make it
//! allocate more.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a file could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The operating system refused (missing, permissions, ...). The
    /// error is part of the message rather than a `source`, so an error
    /// chain printed cause by cause does not say it twice.
    #[error("cannot {op} {path}: {error}")]
    Io {
        /// What was being done (`open`, `read`).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The path names something other than a regular file.
    #[error("{path} is {kind}, not a regular file")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is ("a FIFO (named pipe)", "a folder", ...).
        kind: &'static str,
    },
    /// The file is larger than the caller's bound.
    #[error("{path} is larger than {max} bytes ({size} or more), the limit for {what}")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size as far as it was read.
        size: u64,
        /// The bound.
        max: u64,
        /// What the file was supposed to be ("a .torrent", ...).
        what: &'static str,
    },
}

impl OpenError {
    /// True when the path does not exist (a missing file is often not an
    /// error for the caller: no resume data yet, a file not downloaded).
    pub fn is_not_found(&self) -> bool {
        matches!(self, OpenError::Io { error, .. } if error.kind() == std::io::ErrorKind::NotFound)
    }
}

/// What a file that is not regular is, in words, for error messages.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    if t.is_symlink() {
        return "a symbolic link";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// Opens `path` for reading if, and only if, it is a regular file (after
/// following symbolic links); returns the handle and its metadata from
/// `fstat`. Never blocks on a FIFO.
pub fn open(path: &Path) -> Result<(File, Metadata), OpenError> {
    let io = |op, error| OpenError::Io {
        op,
        path: path.to_path_buf(),
        error,
    };
    let file = match open_nonblocking(path) {
        Ok(f) => f,
        Err(e) => {
            // A socket cannot be opened at all (ENXIO); say what it is.
            // This `stat` only words the error: nothing is read after it.
            if let Ok(meta) = std::fs::metadata(path) {
                if !meta.is_file() {
                    return Err(OpenError::NotRegular {
                        path: path.to_path_buf(),
                        kind: kind_of(&meta),
                    });
                }
            }
            return Err(io("open", e));
        }
    };
    let meta = file.metadata().map_err(|e| io("stat", e))?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta),
        });
    }
    clear_nonblocking(&file).map_err(|e| io("open", e))?;
    Ok((file, meta))
}

/// Reads the whole regular file at `path`, refusing it when it is larger
/// than `max` bytes (`what` names the kind of file in that error).
pub fn read(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, OpenError> {
    let (file, meta) = open(path)?;
    let too_large = |size| OpenError::TooLarge {
        path: path.to_path_buf(),
        size,
        max,
        what,
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|error| OpenError::Io {
            op: "read",
            path: path.to_path_buf(),
            error,
        })?;
    if buf.len() as u64 > max {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Clears `O_NONBLOCK` on a regular file. Linux ignores the flag for
/// regular files, but FUSE and network filesystems see the open flags, and
/// the handle outlives this module (`sendfile`, `pread`): it should be an
/// ordinary blocking handle.
#[cfg(unix)]
fn clear_nonblocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file`, which outlives
    // both calls; F_GETFL and F_SETFL read and write only its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above.
        let r = unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn clear_nonblocking(_file: &File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)] // test code: fail loudly
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn special_files_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let sock = dir.path().join("sock");
        let _l = UnixListener::bind(&sock).unwrap();
        for (path, kind) in [
            (fifo.as_path(), "a FIFO (named pipe)"),
            (sock.as_path(), "a socket"),
            (dir.path(), "a folder"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            match open(path) {
                Err(OpenError::NotRegular { kind: k, .. }) => assert_eq!(k, kind, "{path:?}"),
                other => panic!("{path:?}: {other:?}"),
            }
            let e = read(path, 100, "a test file").unwrap_err();
            assert!(e.to_string().contains(kind), "{e}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
    }

    #[test]
    fn reads_are_bounded_and_handles_block_again() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"0123456789").unwrap();
        assert_eq!(read(&f, 10, "x").unwrap(), b"0123456789");
        let e = read(&f, 9, "a .torrent").unwrap_err();
        assert!(
            matches!(
                e,
                OpenError::TooLarge {
                    size: 10,
                    max: 9,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("a .torrent"), "{e}");
        // A /proc file reports size 0 and still holds bytes: read bounded.
        let e = read(Path::new("/proc/self/maps"), 8, "x").unwrap_err();
        assert!(matches!(e, OpenError::TooLarge { size: 9, .. }), "{e}");
        let (file, _) = open(&f).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: reads the status flags of a descriptor we own.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0, "O_NONBLOCK is cleared");
        let missing = open(&dir.path().join("absent")).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
    }
}
