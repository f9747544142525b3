//! The values that cross this crate's boundary: what an announce asks, what
//! a tracker answers. Shared by the HTTP and UDP codecs so that the
//! scheduler and the runtime handle one shape whatever the transport.

use std::net::SocketAddr;
use std::time::Duration;

use crate::MAX_TEXT_LEN;

use seedcore_protocol::metainfo::InfoHashes;

/// The `event` of an announce (BEP 3; BEP 15 numbers them 0..=3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnounceEvent {
    /// A regular re-announce (no `event` parameter; UDP 0).
    None,
    /// The download finished (UDP 1). A seed that was complete when it
    /// started never sends it (BEP 3: "No completed is sent if the file
    /// was complete when started").
    Completed,
    /// The first announce to a tracker (UDP 2).
    Started,
    /// Leaving the swarm (UDP 3).
    Stopped,
}

impl AnnounceEvent {
    /// The HTTP `event` value, `None` for a regular announce.
    pub fn http_name(self) -> Option<&'static str> {
        match self {
            AnnounceEvent::None => None,
            AnnounceEvent::Completed => Some("completed"),
            AnnounceEvent::Started => Some("started"),
            AnnounceEvent::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 number.
    pub fn udp_code(self) -> u32 {
        match self {
            AnnounceEvent::None => 0,
            AnnounceEvent::Completed => 1,
            AnnounceEvent::Started => 2,
            AnnounceEvent::Stopped => 3,
        }
    }

    /// The event for a BEP 15 number; `None` for an unknown one.
    pub fn from_udp_code(code: u32) -> Option<AnnounceEvent> {
        Some(match code {
            0 => AnnounceEvent::None,
            1 => AnnounceEvent::Completed,
            2 => AnnounceEvent::Started,
            3 => AnnounceEvent::Stopped,
            _ => return None,
        })
    }
}

/// One announce, transport-independent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The 20-byte info-hash (v1, or a v2 hash truncated: see [`announce_hashes`]).
    pub info_hash: [u8; 20],
    /// Our peer id.
    pub peer_id: [u8; 20],
    /// Our listening port.
    pub port: u16,
    /// Bytes uploaded to peers since the `started` announce.
    pub uploaded: u64,
    /// Bytes downloaded since the `started` announce (0 for a seed).
    pub downloaded: u64,
    /// Bytes still missing (0 for a seed).
    pub left: u64,
    /// What happened.
    pub event: AnnounceEvent,
    /// Peers wanted; `None` lets the tracker choose (UDP sends -1).
    pub num_want: Option<u32>,
    /// Per-session random key, so a tracker recognises us across IP changes.
    pub key: u32,
    /// The `tracker id` a previous response carried (HTTP only).
    pub tracker_id: Option<Vec<u8>>,
}

/// A successful announce response, from HTTP or UDP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce, as the tracker said (UDP
    /// always says; HTTP trackers may omit it). Not clamped here: the
    /// scheduler clamps.
    pub interval: Option<u32>,
    /// `min interval`: never re-announce sooner (HTTP only).
    pub min_interval: Option<u32>,
    /// `tracker id` to send back on the next announces (HTTP only).
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders (`complete`), if given.
    pub complete: Option<u32>,
    /// Leechers (`incomplete`), if given.
    pub incomplete: Option<u32>,
    /// IPv4 and IPv6 peers, in the order given, at most
    /// [`crate::MAX_PEERS`]; entries that are not IP literals (host names in
    /// the BEP 3 list form) and port 0 are skipped.
    pub peers: Vec<SocketAddr>,
    /// `warning message`: the announce worked but the tracker wants an
    /// operator to read this.
    pub warning: Option<String>,
}

/// Swarm counts for one torrent, from a scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever (`downloaded`).
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// Scrape results: the counts the tracker returned, by info-hash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScrapeResponse {
    /// One entry per torrent the tracker reported, in response order.
    pub files: Vec<([u8; 20], ScrapeStats)>,
    /// BEP 48 `flags` / `min_request_interval`: seconds between scrapes.
    pub min_request_interval: Option<u32>,
}

/// The 20-byte hashes a torrent announces under: its v1 hash, its truncated
/// v2 hash, or both for a hybrid (as libtorrent does, since trackers see
/// the two as separate swarms). Schedule each as its own torrent.
pub fn announce_hashes(hashes: &InfoHashes) -> Vec<[u8; 20]> {
    let mut out = Vec::with_capacity(2);
    if let Some(v1) = hashes.v1 {
        out.push(v1.0);
    }
    if let Some(v2) = hashes.v2 {
        out.push(v2.truncated());
    }
    out
}

/// Clamps a tracker-supplied count of seconds to a [`Duration`].
pub(crate) fn secs(n: u32) -> Duration {
    Duration::from_secs(u64::from(n))
}

/// Tracker text, made safe to log: lossy UTF-8, control characters turned
/// into spaces, at most [`MAX_TEXT_LEN`] bytes.
pub(crate) fn text(bytes: &[u8]) -> String {
    let mut out = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        if out.len() + c.len_utf8() > MAX_TEXT_LEN {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use seedcore_protocol::metainfo::{InfoHashV1, InfoHashV2};

    #[test]
    fn event_codes_round_trip() {
        for e in [
            AnnounceEvent::None,
            AnnounceEvent::Completed,
            AnnounceEvent::Started,
            AnnounceEvent::Stopped,
        ] {
            assert_eq!(AnnounceEvent::from_udp_code(e.udp_code()), Some(e));
        }
        assert_eq!(AnnounceEvent::from_udp_code(4), None);
        assert_eq!(AnnounceEvent::None.http_name(), None);
        assert_eq!(AnnounceEvent::Stopped.http_name(), Some("stopped"));
    }

    #[test]
    fn text_is_bounded_and_safe() {
        assert_eq!(text(b"a\x00b\xffc"), "a b\u{fffd}c");
        assert_eq!(text(&[b'x'; 5000]).len(), MAX_TEXT_LEN);
    }

    #[test]
    fn hybrid_announces_both_hashes() {
        let h = InfoHashes {
            v1: Some(InfoHashV1([1; 20])),
            v2: Some(InfoHashV2([2; 32])),
        };
        assert_eq!(announce_hashes(&h), vec![[1; 20], [2; 20]]);
        let v2 = InfoHashes {
            v1: None,
            v2: Some(InfoHashV2([3; 32])),
        };
        assert_eq!(announce_hashes(&v2), vec![[3; 20]]);
    }
}
