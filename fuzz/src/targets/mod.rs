//! One module per target; each has `pub fn run(data: &[u8])`.

pub mod bencode;
pub mod dht_node;
pub mod ext;
pub mod krpc;
pub mod magnet;
pub mod metainfo;
pub mod session;
pub mod tracker_http;
pub mod tracker_udp;
pub mod wire;
