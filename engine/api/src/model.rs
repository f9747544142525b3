//! The request bodies the API reads. What it answers is the runtime's own
//! serde types ([`seedcore_runtime::TorrentInfo`], `PeerInfo`, `Limits`,
//! `StatusReport`, ...) handed on as JSON, so the node and the API cannot
//! disagree on a field.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use seedcore_runtime::{AddRequest, AddSource, LimitsUpdate};

/// The JSON body of `POST /api/v1/torrents`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddJson {
    /// On the node: a `.torrent` file, or a file or folder to make a
    /// torrent for (the rule of `seedcore seed PATH`).
    pub path: PathBuf,
    /// The data folder of a `.torrent` path (default: its folder).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Add it paused.
    #[serde(default)]
    pub paused: bool,
    /// Its own upload limit, bytes per second; 0 = none.
    #[serde(default)]
    pub upload_limit: u64,
}

impl AddJson {
    /// The node's request.
    pub fn into_request(self) -> AddRequest {
        let source = if is_torrent_file(&self.path) {
            AddSource::TorrentFile(self.path)
        } else {
            AddSource::Make(self.path)
        };
        AddRequest {
            source,
            data: self.data,
            paused: self.paused,
            upload_limit: self.upload_limit,
        }
    }
}

/// A `.torrent` to load rather than data to make one for: an existing
/// file named `*.torrent`, as `seedcore seed` decides.
fn is_torrent_file(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("torrent"))
}

/// The body of `PATCH /api/v1/limits`: each field given replaces that
/// limit (0: none); a field left out stays. Unknown fields are refused
/// (a typo must not pass silently).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsPatch {
    /// Upload rate of the whole node, bytes per second.
    #[serde(default)]
    pub upload_rate: Option<u64>,
    /// Peers unchoked at once.
    #[serde(default)]
    pub upload_slots: Option<u32>,
    /// Peer connections at once.
    #[serde(default)]
    pub max_peers: Option<u32>,
}

impl From<LimitsPatch> for LimitsUpdate {
    fn from(p: LimitsPatch) -> LimitsUpdate {
        LimitsUpdate {
            upload_rate: p.upload_rate,
            upload_slots: p.upload_slots,
            max_peers: p.max_peers,
        }
    }
}

/// The body of `PATCH /api/v1/torrents/{hash}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TorrentPatch {
    /// Its own upload limit, bytes per second; 0 = none.
    pub upload_limit: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_json_picks_load_or_make_like_seed() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("a.torrent");
        std::fs::write(&t, b"d4:infodee").unwrap();
        let j: AddJson =
            serde_json::from_value(serde_json::json!({"path": t, "paused": true})).unwrap();
        let r = j.into_request();
        assert_eq!(r.source, AddSource::TorrentFile(t));
        assert!(r.paused);
        let j: AddJson = serde_json::from_value(serde_json::json!({"path": dir.path()})).unwrap();
        assert_eq!(
            j.into_request().source,
            AddSource::Make(dir.path().to_path_buf())
        );
        assert!(serde_json::from_str::<AddJson>(r#"{"path": "x", "evil": 1}"#).is_err());
    }

    #[test]
    fn limits_patch_refuses_typos() {
        let p: LimitsPatch = serde_json::from_str(r#"{"upload_rate": 0, "max_peers": 5}"#).unwrap();
        let u = LimitsUpdate::from(p);
        assert_eq!(u.upload_rate, Some(0));
        assert_eq!(u.upload_slots, None);
        assert_eq!(u.max_peers, Some(5));
        assert!(serde_json::from_str::<LimitsPatch>(r#"{"upload_rat": 1}"#).is_err());
    }
}
