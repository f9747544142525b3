//! Settings that contradict each other, or that another setting makes do
//! nothing: every such combination is said out loud, never silently
//! ignored.
//!
//! # What wins, and when it is an error
//!
//! A seed's settings come in layers, weakest first: the defaults, the TOML
//! file (`--config`), `SEEDCORE_*` environment variables, flags
//! ([`Layer`]). Overriding a weaker layer is what layers are for: a unit
//! file's `dht_port = 7000` and a one-off `--no-dht` on the command line
//! is a normal thing to do, so when two settings from *different* layers
//! collide the seed starts and logs a warning that says which one wins.
//! Within *one* layer nothing overrides anything, so `seed --no-dht
//! --dht-port 7000` (or both in one file) can only be a mistake: that is
//! an error (exit 2) naming both settings. A setting another one merely
//! bounds or rounds (upload slots split over shards, a per-torrent cap
//! above the total) is always a warning: the seed works, just not quite as
//! written.
//!
//! [`check`] judges the configuration alone (the binary runs it before
//! starting); [`check_torrents`] judges it against the loaded torrents
//! (private torrents take no extra trackers, no DHT, no PEX), which only
//! [`crate::Seeder::start`] knows, and only warns.
//!
//! A setting counts as set when a layer above the defaults gave it
//! ([`Sources`]) or, for configurations built in code, when it differs
//! from the default.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::config::Config;

/// Where a setting's value came from, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    /// Not set anywhere: the default.
    Default,
    /// Set in code (a [`Config`] built by a program, no layer known).
    Program,
    /// The TOML file.
    File,
    /// A `SEEDCORE_*` environment variable.
    Env,
    /// A command-line flag.
    Flag,
}

impl Layer {
    fn describe(self) -> &'static str {
        match self {
            Layer::Default => "by default",
            Layer::Program => "as configured",
            Layer::File => "in the config file",
            Layer::Env => "in the environment",
            Layer::Flag => "on the command line",
        }
    }
}

/// Which layer set each setting, by its config-file key.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    layers: HashMap<String, Layer>,
}

impl Sources {
    /// Records that `layer` set `key` (a stronger layer than the one
    /// already recorded replaces it).
    pub fn set(&mut self, key: &str, layer: Layer) {
        let e = self.layers.entry(key.to_string()).or_insert(layer);
        *e = (*e).max(layer);
    }

    /// Records the top-level keys of a TOML configuration as set by the
    /// file (`[[torrent]]` entries count as `torrent`), except keys whose
    /// value is the default: a file written by `--print-config` lists every
    /// key, and a default written out says nothing the defaults did not.
    pub fn from_toml(text: &str) -> Sources {
        let mut s = Sources::default();
        let default = toml_table(&Config::default());
        if let Ok(table) = text.parse::<toml::Table>() {
            for (key, value) in &table {
                if default.get(key) != Some(value) {
                    s.set(key, Layer::File);
                }
            }
        }
        s
    }

    fn get(&self, key: &str) -> Option<Layer> {
        self.layers.get(key).copied()
    }
}

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The seed starts; the message says what wins.
    Warning,
    /// Contradictory settings from one layer: refuse to start.
    Error,
}

/// One contradictory or ignored combination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Warning or error.
    pub severity: Severity,
    /// The settings involved (config-file keys).
    pub keys: Vec<&'static str>,
    /// What happens and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Which layer each setting of one configuration came from.
struct Judge<'a> {
    config: &'a Config,
    sources: &'a Sources,
    set: toml::Table,
    default: toml::Table,
    out: Vec<Finding>,
}

impl Judge<'_> {
    fn layer(&self, key: &str) -> Layer {
        match self.sources.get(key) {
            Some(l) => l,
            None if self.set.get(key) != self.default.get(key) => Layer::Program,
            None => Layer::Default,
        }
    }

    fn explicit(&self, key: &str) -> bool {
        self.layer(key) != Layer::Default
    }

    /// `key` does nothing because of `because`: an error when one layer
    /// set both, else a warning naming where each came from.
    fn moot(&mut self, key: &'static str, because: &'static str, what: String) {
        let (a, b) = (self.layer(key), self.layer(because));
        let same = a == b && matches!(a, Layer::File | Layer::Env | Layer::Flag);
        let (severity, tail) = if same {
            (
                Severity::Error,
                format!("both are set {}: drop one", a.describe()),
            )
        } else {
            (
                Severity::Warning,
                format!(
                    "`{key}` is set {}, `{because}` {}",
                    a.describe(),
                    b.describe()
                ),
            )
        };
        self.out.push(Finding {
            severity,
            keys: vec![key, because],
            message: format!("{what} ({tail})"),
        });
    }

    fn note(&mut self, keys: Vec<&'static str>, message: String) {
        self.out.push(Finding {
            severity: Severity::Warning,
            keys,
            message,
        });
    }
}

fn toml_table(c: &Config) -> toml::Table {
    toml::Table::try_from(c).unwrap_or_default()
}

/// Judges `config` on its own: contradictions between settings, and
/// settings another one makes do nothing. `sources` says which layer set
/// what (empty: every setting that differs from its default counts as set
/// in code, and findings are warnings).
pub fn check(config: &Config, sources: &Sources) -> Vec<Finding> {
    let mut j = Judge {
        config,
        sources,
        set: toml_table(config),
        default: toml_table(&Config::default()),
        out: Vec::new(),
    };
    dht(&mut j);
    status(&mut j);
    outgoing(&mut j);
    split_over_shards(&mut j);
    bind_addresses(&mut j);
    own_address(&mut j);
    j.out
}

/// DHT settings with the DHT off, or with no IPv4 address for it.
fn dht(j: &mut Judge<'_>) {
    let c = j.config;
    let has_v4 = c.bind.iter().any(IpAddr::is_ipv4);
    for key in ["dht_port", "dht_bootstrap", "dht_announce_interval"] {
        if !j.explicit(key) {
            continue;
        }
        let value = j
            .set
            .get(key)
            .map_or("(unset)".to_string(), |v| v.to_string());
        if !c.dht {
            j.moot(
                key,
                "dht",
                format!("{key} = {value} is not used: the DHT is off (--no-dht / dht = false)"),
            );
        } else if !has_v4 {
            j.moot(
                key,
                "bind",
                format!(
                    "{key} = {value} is not used: the DHT runs on IPv4 only and no bind \
                     address is IPv4, so it is off; add an IPv4 --bind address"
                ),
            );
        }
    }
}

/// `--json` with the status turned off.
fn status(j: &mut Judge<'_>) {
    if j.config.json && j.config.status_interval.0.is_zero() {
        j.moot(
            "json",
            "status_interval",
            "json = true prints nothing: status_interval = 0 turns the status off; give \
             status_interval a period (e.g. 1s) to get JSON status lines"
                .into(),
        );
    }
}

/// Dialling limits that cancel or cap each other.
fn outgoing(j: &mut Judge<'_>) {
    let c = j.config;
    if c.max_outgoing == 0 {
        for (key, value) in [
            ("dial_rate", c.dial_rate),
            ("dial_rate_per_torrent", c.dial_rate_per_torrent),
        ] {
            if j.explicit(key) {
                j.moot(
                    key,
                    "max_outgoing",
                    format!(
                        "{key} = {value} is not used: max_outgoing = 0 dials no peer found by \
                         trackers, the DHT or PEX"
                    ),
                );
            }
        }
        if j.explicit("max_outgoing_per_torrent") {
            j.moot(
                "max_outgoing_per_torrent",
                "max_outgoing",
                format!(
                    "max_outgoing_per_torrent = {} is not used: max_outgoing = 0 dials no \
                     peer found by trackers, the DHT or PEX",
                    c.max_outgoing_per_torrent
                ),
            );
        }
        if !c.peers.is_empty() && j.explicit("max_outgoing") {
            j.note(
                vec!["max_outgoing", "peers"],
                format!(
                    "max_outgoing = 0 stops dialling peers found by trackers, the DHT and \
                     PEX only; the {} --peer address{} still dialled (known peers are not \
                     counted in max_outgoing)",
                    c.peers.len(),
                    if c.peers.len() == 1 { " is" } else { "es are" }
                ),
            );
        }
    } else if c.max_outgoing_per_torrent == 0 && j.explicit("max_outgoing_per_torrent") {
        j.moot(
            "max_outgoing",
            "max_outgoing_per_torrent",
            format!(
                "max_outgoing = {} is not used: max_outgoing_per_torrent = 0 lets no torrent \
                 dial a found peer (write max_outgoing = 0 to turn dialling off)",
                c.max_outgoing
            ),
        );
    } else if c.max_outgoing_per_torrent > c.max_outgoing
        && j.explicit("max_outgoing_per_torrent")
        && j.explicit("max_outgoing")
    {
        j.note(
            vec!["max_outgoing_per_torrent", "max_outgoing"],
            format!(
                "max_outgoing_per_torrent = {} is more than max_outgoing = {}: the total caps \
                 every torrent at {}",
                c.max_outgoing_per_torrent, c.max_outgoing, c.max_outgoing
            ),
        );
    }
    if c.dial_rate > 0
        && c.dial_rate_per_torrent > c.dial_rate
        && j.explicit("dial_rate_per_torrent")
    {
        j.note(
            vec!["dial_rate_per_torrent", "dial_rate"],
            format!(
                "dial_rate_per_torrent = {} is more than dial_rate = {}: the total caps every \
                 torrent at {} dials a second",
                c.dial_rate_per_torrent, c.dial_rate, c.dial_rate
            ),
        );
    }
    if c.peers.is_empty() && j.explicit("dial_max_backoff") {
        j.moot(
            "dial_max_backoff",
            "peers",
            format!(
                "dial_max_backoff = {} is not used: there is no --peer to dial",
                c.dial_max_backoff
            ),
        );
    }
}

/// Limits split over shards with rounding, and slots above the peer cap.
fn split_over_shards(j: &mut Judge<'_>) {
    let c = j.config;
    let shards = c.shard_count().max(1);
    let n = u64::try_from(shards).unwrap_or(u64::MAX);
    for (key, value, what) in [
        ("upload_slots", c.upload_slots, "peers are unchoked"),
        ("max_peers", c.max_peers, "peers can connect"),
    ] {
        let v = u64::from(value);
        if v == 0 || !j.explicit(key) || v % n == 0 {
            continue;
        }
        let each = v.div_ceil(n);
        j.note(
            vec![key, "shards"],
            format!(
                "{key} = {v} is split over {shards} shards as {each} each, so up to {} {what} \
                 at once; use a multiple of the shard count",
                each * n
            ),
        );
    }
    if c.upload_slots > c.max_peers && j.explicit("upload_slots") {
        j.note(
            vec!["upload_slots", "max_peers"],
            format!(
                "upload_slots = {} is more than max_peers = {}: at most {} peers can be unchoked",
                c.upload_slots, c.max_peers, c.max_peers
            ),
        );
    }
}

/// The same address twice, or one a wildcard address already covers.
fn bind_addresses(j: &mut Judge<'_>) {
    let bind = j.config.bind.clone();
    for (i, ip) in bind.iter().enumerate() {
        if bind.get(..i).is_some_and(|before| before.contains(ip)) {
            j.out.push(Finding {
                severity: Severity::Error,
                keys: vec!["bind"],
                message: format!("bind lists {ip} twice: list each address once"),
            });
            continue;
        }
        let wildcard = bind
            .iter()
            .find(|w| w.is_unspecified() && w.is_ipv4() == ip.is_ipv4() && !ip.is_unspecified());
        if let Some(w) = wildcard {
            j.note(
                vec!["bind"],
                format!(
                    "bind address {ip} is already covered by {w} (every address of its family); \
                     drop one of them"
                ),
            );
        }
    }
}

/// A `--peer` that is this seed's own listening address.
fn own_address(j: &mut Judge<'_>) {
    let c = j.config;
    if c.port == 0 {
        return;
    }
    for p in &c.peers {
        let Ok(addr) = p.parse::<SocketAddr>() else {
            continue;
        };
        let ours = addr.port() == c.port
            && c.bind.iter().any(|b| {
                *b == addr.ip()
                    || (b.is_unspecified()
                        && b.is_ipv4() == addr.is_ipv4()
                        && addr.ip().is_loopback())
            });
        if ours {
            j.note(
                vec!["peers", "bind"],
                format!(
                    "--peer {addr} is this seed's own listening address: it would only dial \
                     itself (and be refused); drop it"
                ),
            );
        }
    }
}

/// What [`check_torrents`] needs to know of one loaded torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TorrentFacts {
    /// BEP 27 private.
    pub private: bool,
    /// It names trackers of its own.
    pub has_trackers: bool,
}

/// Judges `config` against the torrents it loaded: settings that no
/// torrent can use. Warnings only (which torrents are private is a fact of
/// the torrents, not a mistake in the settings).
pub fn check_torrents(config: &Config, torrents: &[TorrentFacts]) -> Vec<Finding> {
    let mut out = Vec::new();
    if torrents.is_empty() {
        return out;
    }
    let set = toml_table(config);
    let default = toml_table(&Config::default());
    let changed = |key: &str| set.get(key) != default.get(key);
    let mut warn = |keys: Vec<&'static str>, message: String| {
        out.push(Finding {
            severity: Severity::Warning,
            keys,
            message,
        });
    };
    let all_private = torrents.iter().all(|t| t.private);
    if all_private && !config.trackers.is_empty() {
        warn(
            vec!["trackers"],
            format!(
                "the {} --tracker URL{} not used: every torrent is private, and a private \
                 torrent announces only to the trackers of its own metainfo (BEP 27)",
                config.trackers.len(),
                if config.trackers.len() == 1 {
                    " is"
                } else {
                    "s are"
                }
            ),
        );
    }
    if all_private && config.dht {
        warn(
            vec!["dht"],
            "every torrent is private: the DHT node announces none of them (BEP 27) and only \
             answers other nodes; --no-dht turns it off"
                .into(),
        );
    }
    if all_private && changed("pex_interval") {
        warn(
            vec!["pex_interval"],
            format!(
                "pex_interval = {} is not used: every torrent is private, and private torrents \
                 exchange no peers (PEX)",
                config.pex_interval
            ),
        );
    }
    let any_tracker = torrents
        .iter()
        .any(|t| t.has_trackers || (!t.private && !config.trackers.is_empty()));
    if !any_tracker {
        let unused: Vec<&'static str> = [
            "announce_to_all_tiers",
            "announce_to_all_trackers",
            "num_want",
            "tracker_timeout",
            "tracker_workers",
            "scrape_interval",
            "announce_spread",
        ]
        .into_iter()
        .filter(|k| changed(k))
        .collect();
        if !unused.is_empty() {
            let names = unused.join(", ");
            warn(
                unused,
                format!("{names}: not used, no torrent has a tracker"),
            );
        }
    }
    out
}

#[cfg(test)]
#[path = "conflicts_tests.rs"]
mod tests;
