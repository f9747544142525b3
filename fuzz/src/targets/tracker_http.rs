//! HTTP tracker responses (BEP 3 / 23 / 7 announces, BEP 48 scrapes): any
//! body gives an answer or an error, never a panic, and what comes out is
//! bounded: at most `MAX_PEERS` peers, none with port 0, at most
//! `MAX_SCRAPE_FILES` scrape entries, texts at most `MAX_TEXT_LEN` bytes.

use seedcore_tracker::http::{parse_announce_response, parse_scrape_response};
use seedcore_tracker::{TrackerError, MAX_PEERS, MAX_SCRAPE_FILES, MAX_TEXT_LEN};

fn text_ok(e: &TrackerError) {
    if let TrackerError::Failure { reason, .. } = e {
        assert!(reason.len() <= MAX_TEXT_LEN);
        assert!(!reason.chars().any(char::is_control));
    }
}

/// See the module docs.
pub fn run(data: &[u8]) {
    match parse_announce_response(data) {
        Ok(r) => {
            assert!(r.peers.len() <= MAX_PEERS, "{} peers", r.peers.len());
            assert!(r.peers.iter().all(|p| p.port() != 0));
            if let Some(w) = &r.warning {
                assert!(w.len() <= MAX_TEXT_LEN);
            }
            assert!(r.tracker_id.as_ref().is_none_or(|t| t.len() <= 256));
        }
        Err(e) => text_ok(&e),
    }
    match parse_scrape_response(data) {
        Ok(r) => assert!(r.files.len() <= MAX_SCRAPE_FILES),
        Err(e) => text_ok(&e),
    }
}
