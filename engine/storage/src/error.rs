//! The storage layer's error type.
//!
//! Per-file problems found while opening a torrent's data (a missing file, a
//! wrong size) are *not* errors: they are reported in
//! [`FileState`](crate::FileState) so one bad file never stops the others
//! from being verified or served. `StorageError` is for what stops the
//! operation as a whole.

use std::path::PathBuf;

/// What stopped a storage operation, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed on a path.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("read", "open", "list folder", ...).
        op: &'static str,
        /// The path it was done on.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A byte range outside the torrent's piece space was asked for.
    #[error("range {offset}+{len} is outside the torrent's {total_length} bytes")]
    OutOfRange {
        /// First byte asked for.
        offset: u64,
        /// Number of bytes asked for.
        len: u64,
        /// Size of the piece space.
        total_length: u64,
    },
    /// A piece number past the end of the torrent.
    #[error("piece {piece} does not exist: the torrent has {piece_count} pieces")]
    PieceOutOfRange {
        /// The piece asked for.
        piece: u32,
        /// Pieces in the torrent.
        piece_count: u32,
    },
    /// The range touches a file whose data cannot be served (missing, wrong
    /// size or unreadable; see `Storage::file_status`).
    #[error("file {path} is not available ({state}); fix the file and verify again")]
    FileUnavailable {
        /// Index of the file in the torrent's file list.
        index: usize,
        /// Where the file was looked for.
        path: PathBuf,
        /// Why it is not available.
        state: String,
    },
    /// `create`: the path holds no regular file to put in a torrent.
    #[error(
        "{path} contains no files to put in a torrent (empty folder, or only skipped entries)"
    )]
    NoFiles {
        /// The path that was scanned.
        path: PathBuf,
    },
    /// `create`: the content is empty (every file has length 0).
    #[error("{path}: all files are empty; a torrent needs at least one byte of data")]
    EmptyContent {
        /// The path that was scanned.
        path: PathBuf,
    },
    /// `create`: a path or name that cannot go into a torrent.
    #[error("{path}: {reason}")]
    BadPath {
        /// The offending path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `create`: a piece length the chosen format does not allow.
    #[error("piece length {piece_length} is not allowed: {reason}")]
    BadPieceLength {
        /// The piece length asked for.
        piece_length: u32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `create`: a file changed between `scan` and `hash`.
    #[error("{path} changed while the torrent was being created ({detail}); run create again")]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// What changed.
        detail: String,
    },
    /// The caller asked the work to stop (a signal during start-up) before it
    /// finished; nothing it would have produced was kept.
    #[error("stopped before the work was finished")]
    Stopped,
    /// A worker thread died; this is a bug in seedcore.
    #[error("a hashing thread panicked; please report this bug")]
    WorkerPanicked,
}

impl StorageError {
    /// Shorthand for [`StorageError::Io`].
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
