//! What the API reads and writes, as JSON: the shapes `openapi.json`
//! documents, apart from the runtime's own [`StatusReport`] which
//! `GET /api/v1/status` serves as it is.

use serde::{Deserialize, Serialize};

use seedcore_runtime::{StatusReport, TorrentStatus, TrackerReport};

/// One torrent as the API lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Torrent {
    /// Its info-hash (hex; the v1 hash, or the v2 hash of a pure v2
    /// torrent).
    pub info_hash: String,
    /// Its name.
    pub name: String,
    /// `seeding`, `paused`, `checking`, `queued` or `error`.
    pub state: String,
    /// Verification progress while `checking` (0..1), else the share of
    /// pieces served.
    pub progress: f64,
    /// Pieces being served.
    pub pieces: usize,
    /// Pieces in the torrent.
    pub piece_count: usize,
    /// Peers connected.
    pub peers: u32,
    /// Payload bytes uploaded since the node started.
    pub uploaded: u64,
    /// Payload bytes per second over the last second.
    pub upload_rate: f64,
    /// Its trackers and what they said.
    pub trackers: Vec<TrackerReport>,
    /// Peers its trackers returned, ever.
    pub tracker_peers: u64,
    /// Where its data is, when the node knows.
    pub data: Option<String>,
    /// Why it is in `error`.
    pub error: Option<String>,
}

impl Torrent {
    /// The view of a torrent from the node's status report alone.
    pub fn from_status(t: &TorrentStatus) -> Torrent {
        Torrent {
            info_hash: t.info_hash.clone(),
            name: t.name.clone(),
            state: "seeding".into(),
            progress: if t.piece_count == 0 {
                1.0
            } else {
                t.pieces as f64 / t.piece_count as f64
            },
            pieces: t.pieces,
            piece_count: t.piece_count,
            peers: t.peers,
            uploaded: t.uploaded,
            upload_rate: t.upload_rate,
            trackers: t.trackers.clone(),
            tracker_peers: t.tracker_peers,
            data: None,
            error: None,
        }
    }
}

/// Every torrent of a status report.
pub fn torrents_of(r: &StatusReport) -> Vec<Torrent> {
    r.torrents.iter().map(Torrent::from_status).collect()
}

/// One peer of a torrent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Peer {
    /// Its address.
    pub addr: String,
    /// Its client, from the extension handshake.
    pub client: Option<String>,
    /// Whether we dialled it.
    pub outbound: bool,
    /// Whether it is interested.
    pub interested: bool,
    /// Whether we choke it.
    pub choked: bool,
    /// Payload bytes sent to it.
    pub uploaded: u64,
    /// Its recent upload rate, bytes per second.
    pub upload_rate: u64,
    /// Share of the torrent it has (0..1).
    pub progress: f64,
    /// Which shard serves it.
    pub shard: usize,
}

/// What to add: a path on the node, or an uploaded `.torrent`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddRequest {
    /// A `.torrent` file on the node (data in `data`, default its
    /// folder), or a file or folder to make a torrent for.
    Path {
        /// The path, on the node.
        path: String,
        /// The data folder, on the node.
        data: Option<String>,
    },
    /// An uploaded `.torrent`.
    Upload {
        /// Its bytes.
        torrent: Vec<u8>,
        /// The data folder, on the node.
        data: Option<String>,
    },
}

/// The JSON body of `POST /api/v1/torrents`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddJson {
    /// A `.torrent` file, or a file or folder to seed.
    pub path: String,
    /// The data folder of a `.torrent` path.
    #[serde(default)]
    pub data: Option<String>,
}

/// Limits that can change at run time. `None`: no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Upload rate of the whole node, bytes per second.
    pub upload_rate: Option<u64>,
    /// Upload rate of each torrent, bytes per second.
    pub torrent_upload_rate: Option<u64>,
    /// Peers unchoked at once, all torrents.
    pub upload_slots: Option<u32>,
    /// Peer connections, all torrents.
    pub max_peers: Option<u32>,
    /// Connections per IP per torrent.
    pub max_per_ip: Option<u32>,
}

/// The body of `PATCH /api/v1/limits`: each field given replaces the
/// limit (`null` removes it); a field left out stays as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    /// See [`Limits::upload_rate`].
    #[serde(default, deserialize_with = "some")]
    pub upload_rate: Option<Option<u64>>,
    /// See [`Limits::torrent_upload_rate`].
    #[serde(default, deserialize_with = "some")]
    pub torrent_upload_rate: Option<Option<u64>>,
    /// See [`Limits::upload_slots`].
    #[serde(default, deserialize_with = "some")]
    pub upload_slots: Option<Option<u32>>,
    /// See [`Limits::max_peers`].
    #[serde(default, deserialize_with = "some")]
    pub max_peers: Option<Option<u32>>,
    /// See [`Limits::max_per_ip`].
    #[serde(default, deserialize_with = "some")]
    pub max_per_ip: Option<Option<u32>>,
}

/// A present field (`null` included) becomes `Some(value)`.
fn some<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl LimitsPatch {
    /// `limits` with this patch applied.
    pub fn apply(&self, mut limits: Limits) -> Limits {
        if let Some(v) = self.upload_rate {
            limits.upload_rate = v;
        }
        if let Some(v) = self.torrent_upload_rate {
            limits.torrent_upload_rate = v;
        }
        if let Some(v) = self.upload_slots {
            limits.upload_slots = v;
        }
        if let Some(v) = self.max_peers {
            limits.max_peers = v;
        }
        if let Some(v) = self.max_per_ip {
            limits.max_per_ip = v;
        }
        limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_distinguishes_null_from_absent() {
        let p: LimitsPatch =
            serde_json::from_str(r#"{"upload_rate": null, "max_peers": 5}"#).unwrap();
        let before = Limits {
            upload_rate: Some(1000),
            upload_slots: Some(4),
            ..Limits::default()
        };
        let after = p.apply(before);
        assert_eq!(after.upload_rate, None, "null removes the limit");
        assert_eq!(after.upload_slots, Some(4), "absent keeps it");
        assert_eq!(after.max_peers, Some(5));
        assert!(serde_json::from_str::<LimitsPatch>(r#"{"upload_rat": 1}"#).is_err());
    }
}
