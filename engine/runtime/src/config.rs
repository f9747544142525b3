//! Every setting of a seed, with its default, as one serde structure.
//!
//! # Why one structure, three sources
//!
//! An operator sets a seed up from a TOML file (many torrents, every
//! setting), overrides a setting for one run with an environment variable
//! (`SEEDCORE_*`, for containers and unit files) or a flag. The binary
//! layers them: defaults, then the file, then env, then flags; this module
//! only holds the result and the file format, so the same [`Config`] drives
//! the binary, the tests and the benchmarks, and `seedcore seed
//! --print-config` can show exactly what is in force.
//!
//! Durations are written `"20s"`, `"5m"`, `"500ms"` or as a bare number of
//! seconds; sizes `"128K"`, `"1M"` or a bare number of bytes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::RuntimeError;

/// One torrent to seed: a `.torrent` file (data under `data`, default the
/// folder the `.torrent` is in), or a file or folder to make a v1 torrent of
/// (written beside it as `<name>.torrent`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorrentSpec {
    /// The `.torrent`, or the data to make one for.
    pub path: PathBuf,
    /// The folder the torrent's data is saved into (for a `.torrent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
}

/// How a block's bytes reach the socket (see engine/DESIGN.md, "Serving a
/// block", for the measurements behind the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendPath {
    /// One `sendmsg` per batch of blocks: the headers and mmap slices of up
    /// to 256 KiB of queued blocks in one system call. The default: fastest
    /// and cheapest in CPU on loopback (engine/DESIGN.md).
    #[default]
    Writev,
    /// The 13-byte header with `send(MSG_MORE)`, then `sendfile(2)` from
    /// the file: the kernel copies page-cache pages into the socket without
    /// the bytes being touched through our mapping.
    Sendfile,
    /// glommio's write of the header, then of the mmap slice (one kernel
    /// copy from the mapping per block, two system calls).
    Write,
}

impl SendPath {
    /// All paths, for help texts and benchmarks.
    pub const ALL: [SendPath; 3] = [SendPath::Writev, SendPath::Sendfile, SendPath::Write];

    /// The name used in flags and files.
    pub fn name(self) -> &'static str {
        match self {
            SendPath::Sendfile => "sendfile",
            SendPath::Write => "write",
            SendPath::Writev => "writev",
        }
    }
}

impl fmt::Display for SendPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SendPath {
    type Err = String;
    fn from_str(s: &str) -> Result<SendPath, String> {
        SendPath::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("send path {s:?}: expected sendfile, write or writev"))
    }
}

/// A duration written with a unit (`"500ms"`, `"20s"`, `"5m"`, `"1h"`) or a
/// bare number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Duration);

impl Span {
    /// `n` seconds.
    pub const fn secs(n: u64) -> Span {
        Span(Duration::from_secs(n))
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Span, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("duration {s:?}: expected a number with ms, s, m or h"))?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            other => {
                return Err(format!(
                    "duration {s:?}: unknown unit {other:?} (ms, s, m, h)"
                ))
            }
        };
        Ok(Span(d))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else {
            let s = self.0.as_secs();
            if s != 0 && s.is_multiple_of(3600) {
                write!(f, "{}h", s / 3600)
            } else if s != 0 && s.is_multiple_of(60) {
                write!(f, "{}m", s / 60)
            } else {
                write!(f, "{s}s")
            }
        }
    }
}

/// A size in bytes written with a unit (`"64K"`, `"1M"`, `"2G"`, binary
/// multiples) or a bare number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl FromStr for Bytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Bytes, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("size {s:?}: expected a number with an optional K, M or G"))?;
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" | "kb" => 1 << 10,
            "m" | "mib" | "mb" => 1 << 20,
            "g" | "gib" | "gb" => 1 << 30,
            other => return Err(format!("size {s:?}: unknown unit {other:?} (K, M, G)")),
        };
        n.checked_mul(scale)
            .map(Bytes)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n != 0 && n.is_multiple_of(1 << 30) {
            write!(f, "{}G", n >> 30)
        } else if n != 0 && n.is_multiple_of(1 << 20) {
            write!(f, "{}M", n >> 20)
        } else if n != 0 && n.is_multiple_of(1 << 10) {
            write!(f, "{}K", n >> 10)
        } else {
            write!(f, "{n}")
        }
    }
}

/// Serde for [`Span`] and [`Bytes`]: a string with a unit, or a bare integer.
macro_rules! serde_unit {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                #[derive(Deserialize)]
                #[serde(untagged)]
                enum Raw {
                    Int(u64),
                    Str(String),
                }
                match Raw::deserialize(d)? {
                    Raw::Int(n) => n.to_string().parse().map_err(serde::de::Error::custom),
                    Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
    };
}
serde_unit!(Span);
serde_unit!(Bytes);

/// The default listen port.
pub const DEFAULT_PORT: u16 = 6881;

/// The public DHT routers a node joins through by default (the ones
/// libtorrent and Transmission use). Tests and closed networks set
/// `dht_bootstrap` to their own nodes.
pub const DEFAULT_DHT_BOOTSTRAP: [&str; 3] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
];

/// The most HTTP tracker worker threads accepted.
pub const MAX_TRACKER_WORKERS: usize = 64;

/// Everything a seed needs to know. `Default` is the documented defaults;
/// every field can be written in the TOML file under the same name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// TCP port to listen on (0: any free port, for tests).
    pub port: u16,
    /// Addresses to listen on. Default: `0.0.0.0` and `::` (IPv6 only on
    /// its own socket, so both work side by side).
    pub bind: Vec<IpAddr>,
    /// Known peers (`host:port`) dialled for every torrent, retried with
    /// exponential back-off until connected and again after a drop.
    pub peers: Vec<String>,
    /// Run a DHT node (BEP 5) on the control core: public torrents are
    /// announced to it and their peers looked up; peers' `port` messages
    /// are pinged. Off: no UDP socket, no DHT bit in handshakes.
    pub dht: bool,
    /// Serving shards (one pinned glommio executor each). `None`: every
    /// core but one (the control core), at least 1. More shards than cores
    /// is allowed: shard `i` is pinned to core `i % cores`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    /// Peers unchoked at once, over all torrents, split evenly between
    /// shards (each shard's choker gets `ceil(slots / shards)`); 0 =
    /// unlimited: every interested peer is served, the right default for a
    /// seed, whose upload is the point.
    pub upload_slots: u32,
    /// Most outstanding requests per peer (advertised as BEP 10 `reqq`).
    pub reqq: u32,
    /// Most peer connections in all, split evenly between shards.
    pub max_peers: u32,
    /// Close a peer that has not completed its handshake after this long.
    pub handshake_timeout: Span,
    /// Close a peer that sent nothing for this long.
    pub idle_timeout: Span,
    /// Close a peer that stopped reading (sent bytes not taken by the
    /// socket) for this long; 0 turns the check off.
    pub stall_timeout: Span,
    /// Send a keep-alive after this long without sending anything.
    pub keepalive_interval: Span,
    /// Memory each shard registers with io_uring (glommio's `io_memory`).
    /// Locked memory: about three times this much per shard counts against
    /// `ulimit -l`. The serving path does not use it (sockets, not file
    /// DMA), so it is kept small by default (128K: 8 MiB of `ulimit -l`
    /// covers 20 shards).
    pub io_memory: Bytes,
    /// How blocks are written to sockets.
    pub send_path: SendPath,
    /// Status line every this long on stderr (0: none).
    pub status_interval: Span,
    /// Also write each status as one JSON object per line on stdout.
    pub json: bool,
    /// Folder for resume files (default: `<data>/.seedcore/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume_dir: Option<PathBuf>,
    /// Threads verifying data at startup; 0 = every core.
    pub verify_threads: usize,
    /// Watch the files being seeded with inotify, so that a file edited in
    /// place stops being served at once. Off (or where inotify cannot
    /// watch), files are only `stat`ed every `file_check_interval`.
    pub file_watch: bool,
    /// How often the seeded files that inotify does not watch are checked
    /// for changes (size and modification time, on a helper thread);
    /// watched files are checked every 30th time, for the changes inotify
    /// cannot see.
    pub file_check_interval: Span,
    /// How often each shard's choker re-decides who is served.
    pub choke_interval: Span,
    /// How often shards are sent the peers known for each torrent (PEX).
    pub pex_interval: Span,
    /// Longest wait between two dials of a `--peer` that keeps failing.
    pub dial_max_backoff: Span,
    /// Trackers (`http://`, `https://`, `udp://` announce URLs) added to
    /// every public torrent, each as its own tier after the torrent's own
    /// trackers. Private torrents keep only the trackers in their metainfo
    /// (BEP 27: a private torrent's peers come from its own tracker alone).
    pub trackers: Vec<String>,
    /// BEP 12: announce to one working tracker of every tier, not only the
    /// first tier that has one (libtorrent's setting of the same name).
    pub announce_to_all_tiers: bool,
    /// BEP 12: announce to every tracker of a tier, not only the first
    /// working one (libtorrent's setting of the same name).
    pub announce_to_all_trackers: bool,
    /// Longest window the first announces of all torrents are spread over
    /// at start-up. The window used is 10 ms per torrent up to this, so a
    /// few torrents announce at once and 10,000 do not hit their trackers
    /// in the same second.
    pub announce_spread: Span,
    /// Peers asked for in each announce (`numwant`).
    pub num_want: u32,
    /// How long an HTTP(S) announce may take (connect, TLS, answer).
    pub tracker_timeout: Span,
    /// Threads making HTTP(S) announces and DNS lookups for the control
    /// core: a slow tracker holds one of them, never the control loop.
    pub tracker_workers: usize,
    /// UDP port of the DHT node. Unset: the TCP listen port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dht_port: Option<u16>,
    /// DHT nodes (`host:port`) to join the DHT through when the saved
    /// routing table (`dht.state` in the resume folder) is missing or stale.
    pub dht_bootstrap: Vec<String>,
    /// How often each public torrent is announced to the DHT (which also
    /// looks up its peers).
    pub dht_announce_interval: Span,
    /// How often each tracker that answered an announce is scraped (BEP 48)
    /// for its seeder, leecher and download counts of our torrents, shown
    /// in the status. 0: never scrape.
    pub scrape_interval: Span,
    /// Most outgoing connections to peers found by trackers, the DHT and
    /// PEX, all torrents together (dialling or connected; `--peer` dials
    /// are not counted). 0: never dial found peers.
    pub max_outgoing: u32,
    /// Most such outgoing connections for one torrent.
    pub max_outgoing_per_torrent: u32,
    /// How long a dial may take before it counts as failed.
    pub connect_timeout: Span,
    /// Most dials started per second to peers found by trackers, the DHT
    /// and PEX, all torrents together (libtorrent's `connection_speed`,
    /// whose default this is); a second's worth may go at once. 0: no
    /// limit.
    pub dial_rate: u32,
    /// Most such dials started per second for one torrent, so that one
    /// swarm's PEX lists cannot take the whole `dial_rate`. 0: no limit.
    pub dial_rate_per_torrent: u32,
    /// Refuse to start when any torrent cannot be loaded. Off (the
    /// default), such a torrent is logged and skipped and the others are
    /// served; the start fails only when none can be loaded.
    pub strict: bool,
    /// The torrents to seed.
    #[serde(rename = "torrent", skip_serializing_if = "Vec::is_empty")]
    pub torrents: Vec<TorrentSpec>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: DEFAULT_PORT,
            bind: vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            peers: Vec::new(),
            dht: true,
            shards: None,
            upload_slots: 0,
            reqq: 250,
            max_peers: 10_000,
            handshake_timeout: Span::secs(20),
            idle_timeout: Span::secs(300),
            stall_timeout: Span::secs(120),
            keepalive_interval: Span::secs(120),
            io_memory: Bytes(128 << 10),
            send_path: SendPath::default(),
            status_interval: Span::secs(5),
            json: false,
            resume_dir: None,
            verify_threads: 0,
            file_watch: true,
            file_check_interval: Span::secs(10),
            choke_interval: Span::secs(10),
            pex_interval: Span::secs(60),
            dial_max_backoff: Span::secs(300),
            trackers: Vec::new(),
            announce_to_all_tiers: false,
            announce_to_all_trackers: false,
            announce_spread: Span::secs(300),
            num_want: 50,
            tracker_timeout: Span::secs(30),
            tracker_workers: 4,
            dht_port: None,
            dht_bootstrap: DEFAULT_DHT_BOOTSTRAP
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            dht_announce_interval: Span::secs(15 * 60),
            scrape_interval: Span::secs(30 * 60),
            max_outgoing: 200,
            max_outgoing_per_torrent: 20,
            connect_timeout: Span::secs(10),
            dial_rate: 30,
            dial_rate_per_torrent: 10,
            strict: false,
            torrents: Vec::new(),
        }
    }
}

/// The largest configuration file read: 16 MiB holds some 100,000
/// `[[torrent]]` entries.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The most shards accepted (far more than any machine has cores: a bound
/// against typos such as `--shards 10000`).
pub const MAX_SHARDS: usize = 1024;

impl Config {
    /// Parses a TOML configuration; fields not in the text keep their
    /// defaults. Relative torrent paths are taken relative to `base` (the
    /// folder of the file).
    pub fn from_toml(text: &str, base: Option<&std::path::Path>) -> Result<Config, RuntimeError> {
        let mut c: Config = toml::from_str(text).map_err(|e| RuntimeError::Config {
            what: format!("{e}"),
        })?;
        if let Some(base) = base {
            for t in &mut c.torrents {
                if t.path.is_relative() {
                    t.path = base.join(&t.path);
                }
                if let Some(d) = &mut t.data {
                    if d.is_relative() {
                        *d = base.join(&*d);
                    }
                }
            }
            if let Some(d) = &mut c.resume_dir {
                if d.is_relative() {
                    *d = base.join(&*d);
                }
            }
        }
        Ok(c)
    }

    /// Reads and parses a TOML configuration file (a regular file of at
    /// most [`MAX_CONFIG_BYTES`]; a FIFO or device is refused, not read).
    pub fn load(path: &std::path::Path) -> Result<Config, RuntimeError> {
        let bytes =
            seedcore_storage::regular::read(path, MAX_CONFIG_BYTES, "a configuration file")?;
        let text = String::from_utf8(bytes).map_err(|_| RuntimeError::Config {
            what: format!("{}: not UTF-8 text", path.display()),
        })?;
        Config::from_toml(&text, path.parent()).map_err(|e| match e {
            RuntimeError::Config { what } => RuntimeError::Config {
                what: format!("{}: {what}", path.display()),
            },
            other => other,
        })
    }

    /// The configuration as TOML (what `--print-config` shows).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }

    /// The number of shards to run: the setting, else every core but one.
    pub fn shard_count(&self) -> usize {
        self.shards
            .filter(|&n| n > 0)
            .unwrap_or_else(|| crate::sys::online_cpus().len().saturating_sub(1).max(1))
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let bad = |what: String| Err(RuntimeError::Config { what });
        if self.bind.is_empty() {
            return bad("bind: at least one address is needed".into());
        }
        if let Some(n) = self.shards {
            if n > MAX_SHARDS {
                return bad(format!("shards = {n}: at most {MAX_SHARDS}"));
            }
        }
        if self.reqq == 0 || self.reqq > 100_000 {
            return bad(format!(
                "reqq = {}: use 1..=100000 (250 is usual)",
                self.reqq
            ));
        }
        if self.max_peers == 0 {
            return bad("max_peers = 0: no peer could connect".into());
        }
        if self.io_memory.0 > 1 << 30 {
            return bad(format!("io_memory = {}: at most 1G", self.io_memory));
        }
        for (name, span) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("file_check_interval", self.file_check_interval),
            ("choke_interval", self.choke_interval),
            ("pex_interval", self.pex_interval),
            ("dial_max_backoff", self.dial_max_backoff),
            ("tracker_timeout", self.tracker_timeout),
            ("dht_announce_interval", self.dht_announce_interval),
            ("connect_timeout", self.connect_timeout),
        ] {
            if span.0 < Duration::from_millis(10) {
                return bad(format!("{name} = {span}: must be at least 10ms"));
            }
        }
        if !self.scrape_interval.0.is_zero() && self.scrape_interval.0 < Duration::from_millis(10) {
            return bad(format!(
                "scrape_interval = {}: must be 0 (off) or at least 10ms",
                self.scrape_interval
            ));
        }
        if self.tracker_workers == 0 || self.tracker_workers > MAX_TRACKER_WORKERS {
            return bad(format!(
                "tracker_workers = {}: use 1..={MAX_TRACKER_WORKERS} (4 is usual)",
                self.tracker_workers
            ));
        }
        for url in &self.trackers {
            if let Err(e) = seedcore_tracker::TrackerUrl::parse(url) {
                return bad(format!("trackers: {e}"));
            }
        }
        for node in &self.dht_bootstrap {
            if !is_host_port(node) {
                return bad(format!(
                    "dht_bootstrap: {node:?} is not HOST:PORT (e.g. 127.0.0.1:6881 or [::1]:6881)"
                ));
            }
        }
        if self.dht_port == Some(0) && self.port != 0 {
            return bad("dht_port = 0: leave it unset to use the TCP port".into());
        }
        Ok(())
    }
}

/// Whether `s` is `host:port` with a port from 1 to 65535 (an IPv6 host in
/// brackets); the name is resolved later, by the control core.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = match host.strip_prefix('[') {
        Some(v6) => v6
            .strip_suffix(']')
            .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok()),
        None => !host.is_empty() && !host.contains(':'),
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_sizes_parse_and_print() {
        assert_eq!("20s".parse::<Span>().unwrap(), Span::secs(20));
        assert_eq!("20".parse::<Span>().unwrap(), Span::secs(20));
        assert_eq!("5m".parse::<Span>().unwrap(), Span::secs(300));
        assert_eq!(
            "250ms".parse::<Span>().unwrap(),
            Span(Duration::from_millis(250))
        );
        assert!("5d".parse::<Span>().is_err() && "".parse::<Span>().is_err());
        for s in ["250ms", "20s", "5m", "2h", "0s", "90s"] {
            assert_eq!(s.parse::<Span>().unwrap().to_string(), s);
        }
        assert_eq!("128K".parse::<Bytes>().unwrap(), Bytes(131_072));
        assert_eq!("1m".parse::<Bytes>().unwrap(), Bytes(1 << 20));
        assert_eq!("1000".parse::<Bytes>().unwrap().to_string(), "1000");
        assert!("99999999999999G".parse::<Bytes>().is_err());
        assert!("1T".parse::<Bytes>().is_err());
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let c = Config::default();
        let text = c.to_toml();
        assert_eq!(Config::from_toml(&text, None).unwrap(), c);
        assert!(text.contains("send_path = \"writev\""), "{text}");
        c.validate().unwrap();
    }

    #[test]
    fn file_sets_fields_and_torrents() {
        let text = r#"
            port = 7000
            bind = ["127.0.0.1"]
            shards = 5
            idle_timeout = 60
            io_memory = "64K"
            send_path = "sendfile"
            [[torrent]]
            path = "a.torrent"
            data = "/srv"
            [[torrent]]
            path = "/data/folder"
        "#;
        let c = Config::from_toml(text, Some(std::path::Path::new("/etc/seedcore"))).unwrap();
        assert_eq!(c.port, 7000);
        assert_eq!(c.shards, Some(5));
        assert_eq!(c.shard_count(), 5);
        assert_eq!(c.idle_timeout, Span::secs(60));
        assert_eq!(c.io_memory, Bytes(65536));
        assert_eq!(c.send_path, SendPath::Sendfile);
        assert_eq!(c.reqq, 250, "unset fields keep defaults");
        assert_eq!(c.torrents.len(), 2);
        assert_eq!(c.torrents[0].path, PathBuf::from("/etc/seedcore/a.torrent"));
        assert_eq!(c.torrents[0].data, Some(PathBuf::from("/srv")));
        assert_eq!(c.torrents[1].data, None);
        let again = Config::from_toml(&c.to_toml(), None).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let e = Config::from_toml("prot = 1", None).unwrap_err().to_string();
        assert!(e.contains("prot"), "{e}");
        assert!(Config::from_toml("idle_timeout = \"soon\"", None).is_err());
        let c = Config {
            reqq: 0,
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            shards: Some(MAX_SHARDS + 1),
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn tracker_and_dht_settings_are_checked() {
        let c = Config::from_toml(
            "trackers = [\"udp://127.0.0.1:6969\", \"http://t.example/announce\"]\n\
             dht_bootstrap = [\"127.0.0.1:7000\", \"[::1]:7001\", \"router.example:6881\"]\n\
             dht_port = 7002\nmax_outgoing = 0\nconnect_timeout = \"3s\"\n",
            None,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.dht_port, Some(7002));
        assert_eq!(c.max_outgoing, 0);
        assert_eq!(Config::from_toml(&c.to_toml(), None).unwrap(), c);
        for bad in [
            Config {
                trackers: vec!["wss://t.example".into()],
                ..Config::default()
            },
            Config {
                dht_bootstrap: vec!["no-port".into()],
                ..Config::default()
            },
            Config {
                dht_bootstrap: vec!["::1:6881".into()],
                ..Config::default()
            },
            Config {
                tracker_workers: 0,
                ..Config::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(Config::default().dht_bootstrap.len(), 3);
    }

    #[test]
    fn default_shards_leave_a_control_core() {
        let c = Config::default();
        let cores = crate::sys::online_cpus().len();
        assert_eq!(c.shard_count(), cores.saturating_sub(1).max(1));
    }
}
