//! seedcore's storage layer: where a torrent's bytes live on disk.
//!
//! - [`Layout`] maps piece-space byte ranges to file spans (pad files and
//!   v2 alignment gaps read as zeros).
//! - [`Storage`] holds read-only memory maps of the files, so a block request
//!   is served as borrowed slices of the page cache ([`Storage::slices`]).
//! - [`verify()`] checks every piece on all cores; [`verify_pieces`] a subset.
//! - [`resume`] remembers what was verified, so a restart with unchanged files
//!   (same sizes and modification times) skips the full check.
//! - [`create`] scans a file or folder and hashes it into the pieces, piece
//!   layers and roots a v1, v2 or hybrid torrent needs.
//!
//! Why this split: the protocol layer is pure and never touches the disk; all
//! file I/O and the only `unsafe` (creating memory maps) is here, behind
//! types that keep the rule "a file is mapped only at its exact size" (see
//! [`store`](crate::Storage) for why: reading past the end of a map kills the
//! process with SIGBUS).
//!
//! ```no_run
//! use seedcore_protocol::metainfo::Metainfo;
//! use seedcore_storage::{verify, VerifyOptions};
//! # fn demo(meta: &Metainfo) -> Result<(), seedcore_storage::StorageError> {
//! let report = verify(meta, std::path::Path::new("/srv/data"), &VerifyOptions::default())?;
//! println!("{} of {} pieces good", report.have.iter().filter(|h| **h).count(), report.have.len());
//! # Ok(()) }
//! ```

pub mod create;
mod error;
mod layout;
mod leaves;
mod pool;
pub mod regular;
pub mod resume;
mod stamp;
mod store;
mod verify;

pub use error::StorageError;
pub use layout::{Layout, Span, SpanSource, Spans};
pub use store::{Chunk, FileStamp, FileState, Slices, Storage, ZEROS};
pub use verify::{
    verify, verify_pieces, verify_storage, FileReport, FileVerdict, VerifyOptions, VerifyReport,
};
