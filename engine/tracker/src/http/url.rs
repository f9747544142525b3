//! Request URLs: the announce GET (BEP 3) and the scrape GET (BEP 48).

use std::fmt::Write as _;

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::TrackerError;
use crate::types::AnnounceRequest;

/// Bytes left as they are in a query value: RFC 3986 unreserved characters.
/// Everything else, binary info-hash bytes included, becomes `%XX`, which
/// every tracker decodes back to the exact bytes.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Checks an http(s) tracker URL and returns it without its fragment.
fn checked_base(base: &str) -> Result<&str, TrackerError> {
    let bad = |reason| TrackerError::BadUrl {
        url: base.to_owned(),
        reason,
    };
    let without_fragment = base.split('#').next().unwrap_or_default();
    let rest = strip_prefix_ignore_case(without_fragment, "http://")
        .or_else(|| strip_prefix_ignore_case(without_fragment, "https://"))
        .ok_or_else(|| bad("it does not start with http:// or https://"))?;
    if rest.starts_with(['/', '?']) || rest.is_empty() {
        return Err(bad("it has no host"));
    }
    if without_fragment.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("it contains spaces or control characters"));
    }
    Ok(without_fragment)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// The character that joins our parameters to `base`: `?` when it has no
/// query yet, `&` when it has one (a passkey, say), nothing when it already
/// ends with either.
fn joiner(base: &str) -> &'static str {
    if !base.contains('?') {
        "?"
    } else if base.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    }
}

/// The full announce URL for `req` at the tracker `base` (BEP 3).
///
/// Parameters are appended to any query `base` already has (private
/// trackers put a passkey there); a fragment is dropped. The info-hash and
/// peer id are percent-encoded byte for byte. `left` is what the request
/// says (0 for a seed), `compact=1` always (BEP 23: every tracker worth
/// announcing to supports it, and opentracker supports nothing else), `key`
/// as 8 hex digits (as libtorrent sends it).
pub fn announce_url(base: &str, req: &AnnounceRequest) -> Result<String, TrackerError> {
    let base = checked_base(base)?;
    let mut url = String::with_capacity(base.len() + 256);
    url.push_str(base);
    url.push_str(joiner(base));
    // Writing into a String cannot fail.
    let _ = write!(
        url,
        "info_hash={}&peer_id={}&port={}&uploaded={}&downloaded={}&left={}",
        percent_encode(&req.info_hash, QUERY_VALUE),
        percent_encode(&req.peer_id, QUERY_VALUE),
        req.port,
        req.uploaded,
        req.downloaded,
        req.left,
    );
    if let Some(event) = req.event.http_name() {
        let _ = write!(url, "&event={event}");
    }
    let _ = write!(url, "&key={:08x}&compact=1", req.key);
    if let Some(n) = req.num_want {
        let _ = write!(url, "&numwant={n}");
    }
    if let Some(id) = &req.tracker_id {
        let _ = write!(url, "&trackerid={}", percent_encode(id, QUERY_VALUE));
    }
    Ok(url)
}

/// The scrape URL for an announce URL, by the convention BEP 48 refers to
/// (Bram Cohen's, as written up on the old theory.org wiki): the text after
/// the URL's last `/` must start with `announce`, which becomes `scrape`
/// (`/announce.php?pk=1` -> `/scrape.php?pk=1`). A `/` inside the query
/// counts (`/announce?x=2/4` has no scrape URL), as in that write-up.
/// `None` when the tracker has no scrape URL by this convention, or
/// `announce` is not an http(s) URL.
pub fn scrape_url(announce: &str) -> Option<String> {
    let base = checked_base(announce).ok()?;
    let after_scheme = base.find("://")? + 3;
    let slash = base.rfind('/').filter(|&i| i >= after_scheme)?;
    let suffix = base.get(slash + 1..)?.strip_prefix("announce")?;
    let mut out = String::with_capacity(base.len());
    out.push_str(base.get(..=slash)?);
    out.push_str("scrape");
    out.push_str(suffix);
    Some(out)
}

/// The scrape GET for several torrents at once: `info_hash` repeated
/// (BEP 48). An empty list asks for every torrent, which most trackers
/// refuse; the caller should not do that.
pub fn scrape_request_url(scrape: &str, info_hashes: &[[u8; 20]]) -> Result<String, TrackerError> {
    let base = checked_base(scrape)?;
    let mut url = String::with_capacity(base.len() + info_hashes.len() * 72);
    url.push_str(base);
    let mut sep = joiner(base);
    for h in info_hashes {
        let _ = write!(url, "{sep}info_hash={}", percent_encode(h, QUERY_VALUE));
        sep = "&";
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::AnnounceEvent;

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            // Every kind of byte: unreserved, reserved, high, zero.
            info_hash: *b"\x00\x12\x34\x56\x78\x9a\xbc\xde\xf0a-._~ &?%#\xff",
            peer_id: *b"-SC0001-abcdefghijkl",
            port: 6881,
            uploaded: 123_456_789_012,
            downloaded: 0,
            left: 0,
            event: AnnounceEvent::Started,
            num_want: Some(50),
            key: 0x00ab_cdef,
            tracker_id: None,
        }
    }

    #[test]
    fn announce_url_is_byte_exact() {
        let url = announce_url("http://t.example:6969/announce", &request()).unwrap();
        assert_eq!(
            url,
            "http://t.example:6969/announce?info_hash=%00%124Vx%9A%BC%DE%F0a-._~%20%26%3F%25%23%FF\
             &peer_id=-SC0001-abcdefghijkl&port=6881&uploaded=123456789012&downloaded=0&left=0\
             &event=started&key=00abcdef&compact=1&numwant=50"
        );
    }

    #[test]
    fn decoding_the_url_gives_back_the_bytes() {
        let url = announce_url("https://t.example/a", &request()).unwrap();
        let value = url
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("info_hash="))
            .unwrap();
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(value).collect();
        assert_eq!(bytes, request().info_hash);
    }

    #[test]
    fn existing_query_and_fragment() {
        let mut req = request();
        req.event = AnnounceEvent::None;
        req.num_want = None;
        req.tracker_id = Some(b"id 1".to_vec());
        let url = announce_url("https://t.example/announce.php?passkey=abc#frag", &req).unwrap();
        assert!(url.starts_with("https://t.example/announce.php?passkey=abc&info_hash="));
        assert!(url.ends_with("&key=00abcdef&compact=1&trackerid=id%201"));
        assert!(!url.contains("event="));
        assert!(!url.contains('#'));
        let url = announce_url("http://t.example/announce?", &req).unwrap();
        assert!(url.starts_with("http://t.example/announce?info_hash="));
        let url = announce_url("http://t.example/announce?a=1&", &req).unwrap();
        assert!(url.starts_with("http://t.example/announce?a=1&info_hash="));
    }

    #[test]
    fn bad_bases_are_rejected() {
        for base in [
            "udp://t.example:80/announce",
            "t.example/announce",
            "http://",
            "http:///announce",
            "http://t.example/ann ounce",
            "",
        ] {
            assert!(
                matches!(
                    announce_url(base, &request()),
                    Err(TrackerError::BadUrl { .. })
                ),
                "{base:?}"
            );
        }
        assert!(announce_url("HTTP://T.example/announce", &request()).is_ok());
    }

    #[test]
    fn scrape_urls_follow_bep_48() {
        let cases = [
            (
                "http://example.com/announce",
                Some("http://example.com/scrape"),
            ),
            (
                "http://example.com/x/announce",
                Some("http://example.com/x/scrape"),
            ),
            (
                "http://example.com/announce.php",
                Some("http://example.com/scrape.php"),
            ),
            ("http://example.com/a", None),
            (
                "http://example.com/announce?x2%0644",
                Some("http://example.com/scrape?x2%0644"),
            ),
            ("http://example.com/announce?x=2/4", None),
            ("http://example.com/x%064announce", None),
            ("http://example.com/announce/x", None),
            ("http://announce", None),
            ("udp://example.com:80/announce", None),
        ];
        for (announce, scrape) in cases {
            assert_eq!(scrape_url(announce).as_deref(), scrape, "{announce}");
        }
    }

    #[test]
    fn scrape_request_repeats_info_hash() {
        let url = scrape_request_url("http://t/scrape?pk=1", &[[0x41; 20], [0xff; 20]]).unwrap();
        assert_eq!(
            url,
            format!(
                "http://t/scrape?pk=1&info_hash={}&info_hash={}",
                "A".repeat(20),
                "%FF".repeat(20)
            )
        );
    }
}
