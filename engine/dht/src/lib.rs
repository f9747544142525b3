//! A BEP 5 mainline DHT node, sans-IO.
//!
//! A seed uses the DHT to be found by trackerless and magnet-link leechers:
//! it announces each torrent it serves, answers other nodes (that is the
//! price of being in the DHT), and pings the nodes its peers name in
//! `port` messages. This crate is the whole node without the socket: the
//! runtime's control core owns one UDP socket and a clock and drives a
//! [`Dht`] in the quinn-proto style (`handle_datagram`, `handle_timeout`,
//! `poll_transmit`, `poll_timeout`, `poll_event`). Time comes in as
//! `Instant`s and randomness from a caller seed, so the tests run a
//! network of a hundred nodes in one thread with virtual time.
//!
//! Why not an existing crate: see `README.md` (the maintained ones own
//! their sockets and threads).
//!
//! Modules:
//! - [`krpc`]: the messages and their bounded codec;
//! - [`routing`]: k-buckets split around our id, BEP 5 node states;
//! - [`lookup`]: one iterative lookup as pure state;
//! - [`Dht`] (in `node`): the state machine tying them together with the
//!   peer store, write tokens and a per-source rate limit.
//!
//! ```
//! use std::time::Instant;
//! use seedcore_dht::{Config, Dht, NodeId};
//!
//! let now = Instant::now();
//! let mut cfg = Config::new([7; 32]);
//! cfg.bootstrap.push("192.0.2.1:6881".parse().unwrap());
//! let mut dht = Dht::new(cfg, now);
//! dht.handle_timeout(now); // first maintenance: bootstrap
//! let (to, bytes) = dht.poll_transmit(now).unwrap();
//! assert_eq!(to.to_string(), "192.0.2.1:6881");
//! assert!(bytes.windows(9).any(|w| w == b"find_node"));
//! // Our own torrent: announce with the TCP port we listen on.
//! let _lookup = dht.announce(now, NodeId([0xab; 20]), Some(6881)).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod id;
pub mod krpc;
pub mod lookup;
mod node;
mod ratelimit;
pub mod rng;
pub mod routing;
mod store;
mod token;

pub use id::NodeId;
pub use krpc::NodeInfo;
pub use lookup::{LookupId, LookupKind};
pub use node::{Config, Dht, DhtError, Event, Snapshot, SnapshotError, Stats};
pub use node::{BOOTSTRAP_RETRY, MAINTENANCE_EVERY};
pub use rng::Rng;
