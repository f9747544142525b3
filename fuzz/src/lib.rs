//! seedcore's fuzz targets, as plain functions over bytes.
//!
//! Each target is `fn(&[u8])` that panics if and only if it found a bug:
//! a parser that panicked, or an invariant the target asserts (a decoded
//! message re-encodes to the same bytes, a session never queues more than
//! its budget...). The same functions run in two places:
//!
//! - under AFL++ (`fuzz/afl`, built with `cargo afl`, started by
//!   `bench/fuzz.sh TARGET SECONDS`), which looks for new inputs;
//! - under `cargo test` (`tests/replay.rs`), which feeds them every file of
//!   the committed, minimised corpus (`fuzz/corpus/TARGET/`) and every input
//!   that once found a bug (`fuzz/regressions/TARGET/`).
//!
//! So a bug the fuzzer found stays found: its input is committed and CI
//! replays it through exactly the code the fuzzer ran. `fuzz/README.md`
//! says how to add a target.
#![allow(
    // A fuzz target's job is to panic on a broken invariant.
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::cast_possible_truncation
)]

pub mod alloc;
pub mod bytes;
pub mod targets;

/// One fuzz target.
#[derive(Clone, Copy)]
pub struct Target {
    /// Its name: the folder of its corpus and the argument to
    /// `bench/fuzz.sh` and `seedcore-afl`.
    pub name: &'static str,
    /// What it drives, in a few words.
    pub what: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target. Add new ones here (see `fuzz/README.md`).
pub const TARGETS: &[Target] = &[
    Target {
        name: "wire",
        what: "peer wire decoder (BEP 3/6/10/52, Azureus), handshakes",
        run: targets::wire::run,
    },
    Target {
        name: "ext",
        what: "extension messages: extended handshake, ut_metadata, ut_pex, LT_metadata, lt_donthave, Azureus list",
        run: targets::ext::run,
    },
    Target {
        name: "bencode",
        what: "bencode reader, streaming decoder, canonical check, writer",
        run: targets::bencode::run,
    },
    Target {
        name: "metainfo",
        what: ".torrent files (v1, v2, hybrid) and bare info dictionaries",
        run: targets::metainfo::run,
    },
    Target {
        name: "magnet",
        what: "magnet links",
        run: targets::magnet::run,
    },
    Target {
        name: "krpc",
        what: "DHT KRPC messages (BEP 5) and compact node/peer lists",
        run: targets::krpc::run,
    },
    Target {
        name: "dht_node",
        what: "a DHT node fed arbitrary datagrams and answers on virtual time",
        run: targets::dht_node::run,
    },
    Target {
        name: "tracker_http",
        what: "HTTP tracker announce and scrape responses",
        run: targets::tracker_http::run,
    },
    Target {
        name: "tracker_udp",
        what: "UDP tracker packets (BEP 15) and the UDP tracker client fed arbitrary datagrams",
        run: targets::tracker_udp::run,
    },
    Target {
        name: "session",
        what: "a whole PeerSession fed arbitrary byte streams, calls and time",
        run: targets::session::run,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
