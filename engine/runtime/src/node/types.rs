//! The data the [`super::Node`] handle takes and returns: plain,
//! serde-serialisable snapshots, so that an HTTP API, a CLI client or a
//! test can hand them on as JSON without a second set of types.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::control::status::TrackerReport;

/// Names one torrent of the node: the 20 bytes a peer's handshake names it
/// by (its v1 info-hash, or the first 20 bytes of its v2 info-hash).
///
/// Parsed from 40 hex digits (a v1 info-hash, or a truncated v2 one) or 64
/// (a full v2 info-hash, truncated here); written as 40 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentKey(pub [u8; 20]);

impl TorrentKey {
    /// The key as 40 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for TorrentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TorrentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TorrentKey({})", self.to_hex())
    }
}

impl FromStr for TorrentKey {
    type Err = super::NodeError;

    fn from_str(s: &str) -> Result<TorrentKey, super::NodeError> {
        let t = s.trim();
        let bad = || {
            super::NodeError::BadRequest {
            what: format!(
                "{s:?} is not an info-hash: give 40 hex digits (v1, or a v2 hash's first 20 bytes) or 64 (v2)"
            ),
        }
        };
        if t.len() != 40 && t.len() != 64 {
            return Err(bad());
        }
        let bytes = hex::decode(t).map_err(|_| bad())?;
        let mut key = [0u8; 20];
        key.copy_from_slice(bytes.get(..20).ok_or_else(bad)?);
        Ok(TorrentKey(key))
    }
}

impl Serialize for TorrentKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for TorrentKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TorrentKey, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a torrent of the node came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorrentSource {
    /// The command line or the configuration file: loaded at every start,
    /// never written to the state folder (removing one lasts until the
    /// next start).
    Config,
    /// Added through the [`super::Node`] (the API, `seedcore ctl`): kept in
    /// the state folder.
    Api,
    /// A `.torrent` in the watch folder: added and removed with that file.
    Watch,
}

/// What a torrent is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TorrentState {
    /// Being opened (files mapped, resume data read) or its torrent made.
    Loading,
    /// Its data is being verified on helper threads ([`TorrentInfo::verify`]
    /// has the progress); not served yet.
    Checking,
    /// Served to peers.
    Seeding,
    /// Stopped by the operator: no peers, no announces; its data and
    /// resume data are kept.
    Paused,
    /// It could not be loaded ([`TorrentInfo::error`] says why); it stays
    /// listed until removed or re-checked.
    Error,
}

/// How far a verification has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyProgress {
    /// Pieces hashed so far.
    pub pieces_checked: u64,
    /// Pieces to hash.
    pub pieces_total: u64,
    /// `pieces_checked / pieces_total`, 0..=1.
    pub fraction: f64,
}

/// One torrent of the node, as of the moment it was asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TorrentInfo {
    /// The key peers and the API name it by (40 hex digits).
    pub key: TorrentKey,
    /// Its info-hash as usually written: v1 hex when it has one, else the
    /// full v2 hex.
    pub info_hash: String,
    /// The full v2 info-hash (hex) of a v2 or hybrid torrent.
    pub info_hash_v2: Option<String>,
    /// Its name.
    pub name: String,
    /// What it is doing.
    pub state: TorrentState,
    /// Why it is in [`TorrentState::Error`].
    pub error: Option<String>,
    /// Where it came from.
    pub source: TorrentSource,
    /// The folder its data is under.
    pub data: PathBuf,
    /// The `.torrent` it was loaded from (for API adds, the copy in the
    /// state folder).
    pub torrent_path: Option<PathBuf>,
    /// Total size of its files in bytes.
    pub size: u64,
    /// Pieces in the torrent.
    pub piece_count: u32,
    /// Pieces verified and served now.
    pub pieces: u32,
    /// A private torrent (BEP 27: no DHT, no PEX).
    pub private: bool,
    /// Progress while [`TorrentState::Checking`].
    pub verify: Option<VerifyProgress>,
    /// Peers connected (all shards).
    pub peers: u32,
    /// Payload bytes uploaded since the node started.
    pub uploaded: u64,
    /// Payload bytes per second over the last few seconds.
    pub upload_rate: f64,
    /// Its own upload limit in bytes per second; 0 = none (the global
    /// limit still applies).
    pub upload_limit: u64,
    /// Its trackers and what they last said.
    pub trackers: Vec<TrackerReport>,
    /// When it was added (seconds since the Unix epoch).
    pub added_at: u64,
    /// Its magnet link.
    pub magnet: String,
}

/// What to add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddSource {
    /// A `.torrent` file on this machine.
    TorrentFile(PathBuf),
    /// The bytes of a `.torrent` (an upload).
    TorrentBytes(#[serde(with = "serde_bytes_as_vec")] Vec<u8>),
    /// A file or folder on this machine: a v1 torrent is made for it
    /// (hashing all its data, on the calling thread) and written beside
    /// it as `<name>.torrent`.
    Make(PathBuf),
}

/// Serde for the `.torrent` bytes: a plain list of numbers in JSON is what
/// serde does by default; kept explicit so the format is a decision.
mod serde_bytes_as_vec {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Vec::<u8>::deserialize(d)
    }
}

/// A request to add a torrent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddRequest {
    /// What to add.
    pub source: AddSource,
    /// The folder its data is under. Required for
    /// [`AddSource::TorrentBytes`]; for [`AddSource::TorrentFile`] the
    /// default is the `.torrent`'s folder; ignored for [`AddSource::Make`]
    /// (the data is where the path is).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Add it paused (nothing served until resumed).
    #[serde(default)]
    pub paused: bool,
    /// Its own upload limit in bytes per second; 0 = none.
    #[serde(default)]
    pub upload_limit: u64,
}

impl AddRequest {
    /// A request for `source` with every option at its default.
    pub fn new(source: AddSource) -> AddRequest {
        AddRequest {
            source,
            data: None,
            paused: false,
            upload_limit: 0,
        }
    }

    /// The same request with its data folder set.
    pub fn with_data(mut self, data: impl Into<PathBuf>) -> AddRequest {
        self.data = Some(data.into());
        self
    }
}

/// One connected peer, as the shard serving it saw it when asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its address (the connection's remote end).
    pub addr: SocketAddr,
    /// The client it names in its extension handshake (`v`), if any.
    pub client: Option<String>,
    /// Its peer id, hex (after the handshake).
    pub peer_id: Option<String>,
    /// We dialled it (rather than it us).
    pub outbound: bool,
    /// How bytes travel: `"tcp"` today.
    pub transport: String,
    /// The shard that serves it.
    pub shard: usize,
    /// Seconds since it connected.
    pub connected_secs: f64,
    /// Block payload bytes sent to it.
    pub uploaded: u64,
    /// Bytes per second sent to it over the last few seconds.
    pub upload_rate: u64,
    /// Bytes received from it.
    pub received: u64,
    /// We choke it.
    pub choked: bool,
    /// It is interested in our pieces.
    pub interested: bool,
    /// It has every piece.
    pub seed: bool,
    /// Pieces it has.
    pub pieces: u32,
    /// Its requests waiting to be sent.
    pub queued_requests: u32,
    /// Block requests it made.
    pub requests: u64,
    /// Its block requests we refused.
    pub refused_requests: u64,
    /// It speaks the Fast extension (BEP 6).
    pub fast: bool,
}

/// The node's limits in force.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Upload rate of the whole node in bytes per second; 0 = unlimited.
    pub upload_rate: u64,
    /// Peers unchoked at once, over all torrents and shards; 0 = every
    /// interested peer.
    pub upload_slots: u32,
    /// Peer connections at once, all shards.
    pub max_peers: u32,
}

/// A change of limits: the fields given are changed, the others kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsUpdate {
    /// New [`Limits::upload_rate`].
    #[serde(default)]
    pub upload_rate: Option<u64>,
    /// New [`Limits::upload_slots`].
    #[serde(default)]
    pub upload_slots: Option<u32>,
    /// New [`Limits::max_peers`].
    #[serde(default)]
    pub max_peers: Option<u32>,
}

/// The IP blocklist in force.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlocklistInfo {
    /// The file it was read from (`None`: no blocklist).
    pub path: Option<PathBuf>,
    /// IPv4 ranges (after merging overlaps).
    pub ranges_v4: usize,
    /// IPv6 ranges (after merging overlaps).
    pub ranges_v6: usize,
    /// Lines of the file that were not understood (skipped).
    pub skipped_lines: usize,
    /// When it was loaded (seconds since the Unix epoch).
    pub loaded_at: u64,
}

/// What a configuration reload did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    /// The file read.
    pub path: Option<PathBuf>,
    /// Settings changed and now in force.
    pub applied: Vec<String>,
    /// Settings changed in the file that take effect only after a restart.
    pub needs_restart: Vec<String>,
}
