//! seedcore's protocol layer: metainfo, magnet links, the peer wire codec and
//! its extensions. Pure code over bytes: no I/O, no async, no unsafe.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod bencode;
pub mod ext;
pub mod geometry;
pub mod magnet;
pub mod metainfo;
pub mod session;
pub mod wire;
