//! The runtime's fatal errors: what stops a seed from starting or running.
//!
//! A peer's misbehaviour is never one of these: it closes that connection
//! (a `SessionError`) and nothing else. A damaged or missing file is not one
//! either: its pieces are not served and the problem is logged. These are
//! the errors an operator must act on: a bad configuration, a port in use,
//! a torrent that cannot be read, a machine that cannot run the executors.

use std::net::SocketAddr;
use std::path::PathBuf;

/// What stopped the seed, with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A setting is wrong.
    #[error("configuration: {what}")]
    Config {
        /// What is wrong, naming the setting.
        what: String,
    },
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file the user named could not be opened or read: missing, not a
    /// regular file (a FIFO, a device, a folder), or too large.
    #[error(transparent)]
    Open(#[from] seedcore_storage::regular::OpenError),
    /// A `.torrent` could not be parsed.
    #[error("invalid torrent {path}: {source}")]
    Metainfo {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: seedcore_protocol::metainfo::MetainfoError,
    },
    /// Reading, hashing or verifying data failed as a whole.
    #[error("data for {torrent}: {source}")]
    Storage {
        /// The torrent (its name or path).
        torrent: String,
        /// The storage layer's error.
        #[source]
        source: seedcore_storage::StorageError,
    },
    /// A torrent could not be made for a file or folder.
    #[error("cannot make a torrent for {path}: {what}")]
    Create {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// Two torrents with the same info-hash.
    #[error("{path} is the same torrent as {other} (info-hash {hash}); list it once")]
    Duplicate {
        /// The second occurrence.
        path: PathBuf,
        /// The first one.
        other: PathBuf,
        /// The shared wire info-hash (hex).
        hash: String,
    },
    /// The data folder of a `.torrent` does not exist (or is not a folder).
    #[error("the data folder {path} of {torrent} does not exist or is not a folder; give the folder holding its data with --data (or `data` in its [[torrent]] entry)")]
    DataFolder {
        /// The `.torrent`.
        torrent: PathBuf,
        /// The folder looked for.
        path: PathBuf,
    },
    /// Several torrents were configured and none could be loaded.
    #[error("none of the {failed} torrents could be loaded (each error is logged above); nothing to seed")]
    NothingToServe {
        /// How many failed.
        failed: usize,
    },
    /// With `strict`, a torrent that cannot be loaded stops the start.
    #[error("{failed} (strict: every torrent must load; leave out --strict to skip it and seed the others)")]
    Strict {
        /// The torrent and its error.
        failed: String,
    },
    /// A stop was asked for (SIGINT/SIGTERM) before start-up finished;
    /// nothing was served and no partial state was written.
    #[error("stopped during start-up, before serving")]
    Stopped,
    /// Nothing to seed.
    #[error("no torrent to seed: give .torrent files, files or folders, or [[torrent]] entries in --config")]
    NoTorrents,
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {source} (is another program using the port? try --port or --bind)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A shard's executor could not start.
    #[error("shard {shard} cannot start: {what}")]
    Shard {
        /// The shard.
        shard: usize,
        /// What failed (for `MemLockLimit`, raise `ulimit -l` or lower `io_memory`).
        what: String,
    },
    /// A thread could not be started.
    #[error("cannot start thread {name}: {source}")]
    Thread {
        /// Its name.
        name: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
