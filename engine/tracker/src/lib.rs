//! seedcore's tracker client: HTTP/HTTPS announces (BEP 3, 7, 23, 31, 48),
//! UDP trackers (BEP 15), multi-tracker tiers (BEP 12) and an announce
//! scheduler for thousands of torrents. Sans-IO: no sockets, no clock, no
//! threads, no unsafe.
//!
//! # Why sans-IO
//!
//! Tracker traffic lives on the control core, next to the DHT, so a slow
//! tracker never stalls a shard. What makes tracker code hard is not the
//! I/O but the rules around it: connection ids that expire after a minute,
//! retransmission after 15 s, 30 s, ... 64 minutes, a tier order that
//! changes with every answer, 10,000 torrents that must not announce in the
//! same second. Written as pure state machines over bytes and an
//! [`Instant`](std::time::Instant) passed in, every one of those rules is
//! tested in microseconds of virtual time (two hours of UDP back-off, a
//! day of re-announces for 10,000 torrents) and fuzzed, and the control
//! core stays a thin loop (the quinn-proto model; see design.md):
//!
//! - [`Scheduler`] decides which torrent announces to which tracker when,
//!   with which event and counters;
//! - [`http`] turns an announce into a URL and a response body into an
//!   [`AnnounceResponse`] (the GET itself goes through a real HTTP client
//!   with rustls in the runtime);
//! - [`UdpTrackerClient`], one per UDP tracker address, turns announces
//!   into datagrams and datagrams into results.
//!
//! # Driving it
//!
//! ```
//! use std::time::{Duration, Instant};
//! use seedcore_tracker::{
//!     http, Rng, ScheduleConfig, Scheduler, Tiers, TorrentKey, TrackerUrl,
//! };
//!
//! let now = Instant::now(); // the control core's clock
//! let mut rng = Rng::new(0x5eed); // the runtime seeds this from getrandom
//! let mut sched = Scheduler::new(ScheduleConfig::default(), rng.clone());
//! let tiers = Tiers::new(&[vec!["http://tracker.example/announce".into()]], &mut rng);
//! // Startup: spread first announces of all torrents over 5 minutes.
//! sched.add_torrent(now, TorrentKey(1), [0xab; 20], tiers, 0, Duration::from_secs(300));
//!
//! // The control loop: sleep until poll_timeout(), then run what is due.
//! let wake = sched.poll_timeout().unwrap();
//! for a in sched.next_due(wake) {
//!     match TrackerUrl::parse(&a.url).unwrap() {
//!         TrackerUrl::Http(base) => {
//!             let url = http::announce_url(&base, &a.request).unwrap();
//!             assert!(url.contains("event=started"));
//!             // runtime: body = http_client.get(url) (capped at http::MAX_RESPONSE_LEN)
//!             let body = b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e";
//!             match http::parse_announce_response(body) {
//!                 Ok(resp) => sched.on_response(wake, a.torrent, a.tracker, &resp),
//!                 Err(e) => sched.on_error(wake, a.torrent, a.tracker, &e),
//!             }
//!         }
//!         // runtime: hand a.request to the UdpTrackerClient for (host, port),
//!         // and report its UdpEvent the same way.
//!         TrackerUrl::Udp { .. } => unreachable!(),
//!     }
//! }
//! // An outcome can make another tracker due at once (fail-over to the next
//! // one after an error), so the loop polls again; here nothing is due.
//! assert!(sched.next_due(wake).is_empty());
//! // Next regular announce: about 30 minutes later.
//! let next = sched.poll_timeout().unwrap();
//! assert!(next >= wake + Duration::from_secs(1800));
//! // Shutdown: `stopped` to every tracker that heard `started`.
//! let stops = sched.shutdown();
//! assert_eq!(stops.len(), 1);
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod error;
pub mod http;
mod kind;
mod peers;
mod rng;
pub mod schedule;
pub mod tiers;
mod types;
pub mod udp;

pub use error::TrackerError;
pub use kind::TrackerUrl;
pub use peers::{read_compact_v4, read_compact_v6, write_compact, COMPACT_V4_LEN, COMPACT_V6_LEN};
pub use rng::Rng;
pub use schedule::{Announce, ScheduleConfig, Scheduler, TorrentKey, TrackerInfo};
pub use tiers::{TierSettings, Tiers, TrackerKey, TrackerStatus};
pub use types::{
    announce_hashes, AnnounceEvent, AnnounceRequest, AnnounceResponse, ScrapeResponse, ScrapeStats,
};
pub use udp::{IpFamily, OpId, UdpConfig, UdpEvent, UdpTrackerClient};

/// Most peers kept from one announce response (IPv4 and IPv6 together). A
/// seed does not need more: peers find it, and it dials a few.
pub const MAX_PEERS: usize = 2000;
/// Most torrents kept from one scrape response.
pub const MAX_SCRAPE_FILES: usize = 10_000;
/// Longest tracker text kept (failure reason, warning, UDP error), in bytes.
pub const MAX_TEXT_LEN: usize = 1024;
