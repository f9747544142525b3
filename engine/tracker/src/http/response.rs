//! Announce and scrape response bodies (BEP 3, 7, 23, 31, 48).
//!
//! Lenient where real trackers differ and it costs nothing (keys in any
//! order, bytes after the dictionary, peers given both ways, an entry we
//! cannot use), strict where a value would mislead the scheduler (a
//! negative interval). Every size is bounded: the body by
//! [`MAX_RESPONSE_LEN`], nesting depth, peers by [`MAX_PEERS`], scrape
//! entries by [`MAX_SCRAPE_FILES`], texts by [`MAX_TEXT_LEN`].

use std::net::{IpAddr, SocketAddr};

use seedcore_protocol::bencode::{read_dict_prefix, Dict, Limits, Value};

use super::MAX_RESPONSE_LEN;
use crate::error::TrackerError;
use crate::peers::{read_compact_v4, read_compact_v6};
use crate::types::{secs, text, AnnounceResponse, ScrapeResponse, ScrapeStats};
use crate::{MAX_PEERS, MAX_SCRAPE_FILES};

/// A tracker id longer than this is ignored rather than echoed in URLs.
const MAX_TRACKER_ID_LEN: usize = 256;

const LIMITS: Limits = Limits {
    max_len: MAX_RESPONSE_LEN,
    // A response needs 3 levels (scrape: files -> hash -> stats); the rest
    // is room for what a tracker puts under keys we ignore.
    max_depth: 16,
};

fn read_body(body: &[u8]) -> Result<Dict<'_>, TrackerError> {
    if body.len() > MAX_RESPONSE_LEN {
        return Err(TrackerError::TooLarge {
            len: body.len(),
            max: MAX_RESPONSE_LEN,
        });
    }
    // Bytes after the dictionary (a newline from a PHP tracker) are ignored.
    let (dict, _used) = read_dict_prefix(body, LIMITS)?;
    Ok(dict)
}

/// `failure reason` (with BEP 31 `retry in`, in minutes), if present.
fn failure(dict: &Dict<'_>) -> Option<TrackerError> {
    let reason = dict.get(b"failure reason")?;
    let reason = match reason.as_bytes() {
        Some(b) => text(b),
        None => String::from("(failure reason is not a string)"),
    };
    let retry_in = dict
        .int(b"retry in")
        .and_then(|m| u32::try_from(m).ok())
        .map(|m| secs(m.saturating_mul(60)));
    Some(TrackerError::Failure { reason, retry_in })
}

/// A non-negative count, saturated to `u32`. `Ok(None)` when absent.
fn count(
    dict: &Dict<'_>,
    key: &'static [u8],
    field: &'static str,
) -> Result<Option<u32>, TrackerError> {
    let Some(v) = dict.get(key) else {
        return Ok(None);
    };
    let bad = TrackerError::BadField {
        field,
        expected: "a non-negative integer",
    };
    let n = v.as_integer().ok_or(bad.clone())?;
    match n.to_u64() {
        Ok(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        Err(seedcore_protocol::bencode::IntError::TooLarge) => Ok(Some(u32::MAX)),
        Err(seedcore_protocol::bencode::IntError::Negative) => Err(bad),
    }
}

/// Like [`count`], but a bad value is dropped instead of failing the whole
/// response (swarm counts are informational).
fn soft_count(dict: &Dict<'_>, key: &'static [u8]) -> Option<u32> {
    count(dict, key, "").ok().flatten()
}

/// Reads an announce response body.
///
/// A `failure reason` becomes [`TrackerError::Failure`] with the tracker's
/// text; anything that is not a bencoded dictionary is an error. `peers` may
/// be a compact string (6 bytes per IPv4 peer, BEP 23) or a list of
/// dictionaries with `ip` and `port` (BEP 3; `ip` may be v4 or v6 text, host
/// names are skipped); `peers6` is compact IPv6 (BEP 7). Peers beyond
/// [`MAX_PEERS`] are dropped.
pub fn parse_announce_response(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let dict = read_body(body)?;
    if let Some(err) = failure(&dict) {
        return Err(err);
    }
    let mut resp = AnnounceResponse {
        interval: count(&dict, b"interval", "interval")?,
        min_interval: count(&dict, b"min interval", "min interval")?,
        tracker_id: dict
            .bytes(b"tracker id")
            .filter(|id| !id.is_empty() && id.len() <= MAX_TRACKER_ID_LEN)
            .map(<[u8]>::to_vec),
        complete: soft_count(&dict, b"complete"),
        incomplete: soft_count(&dict, b"incomplete"),
        peers: Vec::new(),
        warning: dict.bytes(b"warning message").map(text),
    };
    match dict.get(b"peers") {
        None => {}
        Some(Value::Bytes(b)) => read_compact_v4(b, MAX_PEERS, &mut resp.peers),
        Some(Value::List(list)) => {
            for item in list.iter() {
                if resp.peers.len() >= MAX_PEERS {
                    break;
                }
                if let Some(peer) = item.as_dict().and_then(|d| dict_peer(&d)) {
                    resp.peers.push(peer);
                }
            }
        }
        Some(_) => {
            return Err(TrackerError::BadField {
                field: "peers",
                expected: "a string (compact) or a list of dictionaries",
            })
        }
    }
    match dict.get(b"peers6") {
        None => {}
        Some(Value::Bytes(b)) => read_compact_v6(b, MAX_PEERS, &mut resp.peers),
        Some(_) => {
            return Err(TrackerError::BadField {
                field: "peers6",
                expected: "a string of 18-byte entries",
            })
        }
    }
    Ok(resp)
}

/// One BEP 3 peer dictionary: `ip` as text (IPv4, IPv6, or bracketed
/// IPv6), `port` 1..=65535. Host names are not resolved: `None`.
fn dict_peer(d: &Dict<'_>) -> Option<SocketAddr> {
    let ip = std::str::from_utf8(d.bytes(b"ip")?).ok()?;
    let ip = ip
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(ip);
    let ip: IpAddr = ip.parse().ok()?;
    let port = u16::try_from(d.int(b"port")?).ok().filter(|&p| p != 0)?;
    Some(SocketAddr::new(ip, port))
}

/// Reads a scrape response body (BEP 48): `files` maps 20-byte info-hashes
/// to `complete`/`downloaded`/`incomplete`. Entries whose key is not 20
/// bytes or whose value is not a dictionary are skipped; missing counts
/// read as 0; at most [`MAX_SCRAPE_FILES`] entries are kept.
pub fn parse_scrape_response(body: &[u8]) -> Result<ScrapeResponse, TrackerError> {
    let dict = read_body(body)?;
    if let Some(err) = failure(&dict) {
        return Err(err);
    }
    let files = match dict.get(b"files") {
        Some(Value::Dict(files)) => Some(files),
        None => None,
        Some(_) => {
            return Err(TrackerError::BadField {
                field: "files",
                expected: "a dictionary of info-hash to counts",
            })
        }
    };
    let mut out = ScrapeResponse::default();
    for (key, value) in files.iter().flat_map(|f| f.iter()) {
        if out.files.len() >= MAX_SCRAPE_FILES {
            break;
        }
        let (Ok(hash), Some(stats)) = (<[u8; 20]>::try_from(key), value.as_dict()) else {
            continue;
        };
        out.files.push((
            hash,
            ScrapeStats {
                complete: soft_count(&stats, b"complete").unwrap_or(0),
                downloaded: soft_count(&stats, b"downloaded").unwrap_or(0),
                incomplete: soft_count(&stats, b"incomplete").unwrap_or(0),
            },
        ));
    }
    out.min_request_interval = dict
        .get(b"flags")
        .and_then(|f| f.as_dict())
        .and_then(|f| soft_count(&f, b"min_request_interval"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_v6_peers() {
        let mut body = b"d8:intervali1800e5:peers12:".to_vec();
        body.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0x1a, 0xe2]);
        body.extend_from_slice(b"6:peers618:");
        body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        body.extend_from_slice(&[0x1a, 0xe3]);
        body.push(b'e');
        let r = parse_announce_response(&body).unwrap();
        assert_eq!(r.interval, Some(1800));
        let want: Vec<SocketAddr> = ["127.0.0.1:6881", "10.0.0.2:6882", "[2001:db8::1]:6883"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(r.peers, want);
    }

    #[test]
    fn dictionary_peers_skip_what_cannot_be_dialed() {
        let body = b"d8:intervali900e5:peersl\
            d2:ip9:127.0.0.17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti6881ee\
            d2:ip5:[::1]4:porti51413ee\
            d2:ip11:example.org4:porti1ee\
            d2:ip8:10.0.0.14:porti0ee\
            d2:ip8:10.0.0.14:porti70000ee\
            i5e\
            ee";
        let r = parse_announce_response(body).unwrap();
        let want: Vec<SocketAddr> = vec![
            "127.0.0.1:6881".parse().unwrap(),
            "[::1]:51413".parse().unwrap(),
        ];
        assert_eq!(r.peers, want);
    }

    #[test]
    fn failure_with_retry_in() {
        let body = b"d14:failure reason12:torrent gone8:retry ini5ee";
        match parse_announce_response(body) {
            Err(TrackerError::Failure { reason, retry_in }) => {
                assert_eq!(reason, "torrent gone");
                assert_eq!(retry_in, Some(std::time::Duration::from_secs(300)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn warning_tracker_id_and_counts() {
        let body = b"d8:completei7e10:incompletei-1e8:intervali60e12:min intervali30e\
            10:tracker id3:xyz15:warning message9:slow\ndowne";
        let r = parse_announce_response(body).unwrap();
        assert_eq!(r.complete, Some(7));
        assert_eq!(r.incomplete, None, "negative counts are dropped");
        assert_eq!(r.min_interval, Some(30));
        assert_eq!(r.tracker_id.as_deref(), Some(&b"xyz"[..]));
        assert_eq!(r.warning.as_deref(), Some("slow down"));
        assert!(r.peers.is_empty());
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(matches!(
            parse_announce_response(b"d8:intervali-5ee"),
            Err(TrackerError::BadField {
                field: "interval",
                ..
            })
        ));
        assert!(matches!(
            parse_announce_response(b"d5:peersi3ee"),
            Err(TrackerError::BadField { field: "peers", .. })
        ));
        assert!(matches!(
            parse_announce_response(b"<html>502</html>"),
            Err(TrackerError::Bencode(_))
        ));
        assert!(matches!(
            parse_announce_response(b"le"),
            Err(TrackerError::Bencode(_))
        ));
        let big = vec![b'x'; MAX_RESPONSE_LEN + 1];
        assert!(matches!(
            parse_announce_response(&big),
            Err(TrackerError::TooLarge { .. })
        ));
        // A huge interval saturates; the scheduler clamps it.
        let r = parse_announce_response(b"d8:intervali99999999999ee\n").unwrap();
        assert_eq!(r.interval, Some(u32::MAX));
    }

    #[test]
    fn peers_are_capped() {
        let mut body = format!("d5:peers{}:", 6 * (MAX_PEERS + 10)).into_bytes();
        body.extend(std::iter::repeat_n([1u8, 2, 3, 4, 0, 80], MAX_PEERS + 10).flatten());
        body.push(b'e');
        assert_eq!(
            parse_announce_response(&body).unwrap().peers.len(),
            MAX_PEERS
        );
    }

    #[test]
    fn scrape_skips_bad_entries() {
        let body =
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei5e10:downloadedi50e10:incompletei10ee\
            3:badd8:completei1ee\
            20:bbbbbbbbbbbbbbbbbbbbi3ee5:flagsd20:min_request_intervali900eee";
        let r = parse_scrape_response(body).unwrap();
        assert_eq!(
            r.files,
            vec![(
                [b'a'; 20],
                ScrapeStats {
                    complete: 5,
                    downloaded: 50,
                    incomplete: 10
                }
            )]
        );
        assert_eq!(r.min_request_interval, Some(900));
        assert!(matches!(
            parse_scrape_response(b"d14:failure reason3:no!e"),
            Err(TrackerError::Failure { .. })
        ));
        assert!(matches!(
            parse_scrape_response(b"d5:filesi1ee"),
            Err(TrackerError::BadField { field: "files", .. })
        ));
    }
}
