//! Torrent metainfo: v1, v2 and hybrid (BEP 3, 12, 19, 27, 47, 52).
//!
//! [`Metainfo::from_bytes`] turns a .torrent into the validated types of
//! [`types`](self) (the contract with storage and the engine), and
//! [`build::TorrentBuilder`] writes one from already-hashed content. Parsing
//! is strict where a mistake would reach the disk or the swarm (paths,
//! sizes, piece counts, v1/v2 agreement) and lenient where nothing depends
//! on the bytes (comments, unknown keys). Every bound is a documented
//! constant in [`limits`].
//!
//! ```
//! use seedcore_protocol::metainfo::{build::TorrentBuilder, Metainfo, MetaVersion};
//!
//! // One 5-byte file, one piece: the v1 piece hash is SHA-1("hello").
//! let hash: [u8; 20] = [
//!     0xaa, 0xf4, 0xc6, 0x1d, 0xdc, 0xc5, 0xe8, 0xa2, 0xda, 0xbe,
//!     0xde, 0x0f, 0x3b, 0x48, 0x2c, 0xd9, 0xae, 0xa9, 0x43, 0x4d,
//! ];
//! let bytes = TorrentBuilder::new("hello.txt", 16384)
//!     .file(vec![], 5)
//!     .v1_pieces(vec![hash])
//!     .tracker("http://tracker.example/announce")
//!     .build()?;
//! let meta = Metainfo::from_bytes(&bytes)?;
//! assert_eq!(meta.info.version, MetaVersion::V1);
//! assert_eq!(meta.info.files[0].path, vec!["hello.txt".to_string()]);
//! assert!(meta.info_hashes.v1.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assemble;
pub mod build;
mod decode;
mod digest;
mod error;
mod files;
mod layout;
pub mod limits;
mod parse;
mod types;

pub use decode::component_problem;
pub use error::MetainfoError;
pub use layout::{hybrid_pad_after, pad_len};
pub use types::*;
