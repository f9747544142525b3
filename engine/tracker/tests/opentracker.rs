//! Byte vectors captured from a real tracker: Debian's opentracker
//! (0.0~git20210823.110868e-3) on 127.0.0.1, by
//! `tests/capture/capture_opentracker.py` (run once, by hand:
//! `/usr/bin/python3 tests/capture/capture_opentracker.py tests/fixtures`).
//! Each `fixtures/NAME.bin` is a response body or datagram exactly as
//! received; `fixtures/NAME.req` is the request that produced it (an HTTP
//! path, or a UDP packet in hex). The tracker served two whitelisted
//! hashes, H1 = 0123..4567 and H2 = fedc..ba98; peer A (a leecher, port
//! 6881) announced before peer B (a seed, port 6882), whose announces are
//! the ones recorded.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: fail loudly

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use seedcore_tracker::http::{
    announce_url, parse_announce_response, parse_scrape_response, scrape_request_url,
};
use seedcore_tracker::udp::{IpFamily, Request, Response};
use seedcore_tracker::{
    AnnounceEvent, AnnounceRequest, Rng, ScrapeStats, TrackerError, UdpConfig, UdpEvent,
    UdpTrackerClient,
};

const H1: [u8; 20] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0x01, 0x23, 0x45, 0x67,
];
const H2: [u8; 20] = [
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
    0xfe, 0xdc, 0xba, 0x98,
];
const PEER_B: [u8; 20] = *b"-SC0001-bbbbbbbbbbbb";

fn peers(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

fn hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Query parameters as a set, for comparing URLs whose order differs.
fn query_set(url: &str) -> BTreeSet<String> {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .map(str::to_owned)
        .collect()
}

fn seed_request(info_hash: [u8; 20], event: AnnounceEvent, num_want: u32) -> AnnounceRequest {
    AnnounceRequest {
        info_hash,
        peer_id: PEER_B,
        port: 6882,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event,
        num_want: Some(num_want),
        key: 0x1a2b_3c4d,
        tracker_id: None,
    }
}

#[test]
fn our_http_requests_are_the_ones_opentracker_accepted() {
    let ours = announce_url(
        "http://127.0.0.1:16969/announce",
        &seed_request(H1, AnnounceEvent::Started, 50),
    )
    .unwrap();
    let theirs = include_str!("fixtures/http_announce_compact.req").trim();
    assert_eq!(query_set(&ours), query_set(theirs));
    let ours = announce_url(
        "http://127.0.0.1:16969/announce",
        &seed_request(H1, AnnounceEvent::Stopped, 0),
    )
    .unwrap();
    let theirs = include_str!("fixtures/http_announce_stopped.req").trim();
    assert_eq!(query_set(&ours), query_set(theirs));
    let ours = scrape_request_url("http://127.0.0.1:16969/scrape", &[H1, H2]).unwrap();
    assert!(ours.ends_with(include_str!("fixtures/http_scrape.req").trim()));
}

#[test]
fn http_compact_announce_response() {
    let r = parse_announce_response(include_bytes!("fixtures/http_announce_compact.bin")).unwrap();
    assert_eq!(r.interval, Some(1633));
    assert_eq!(r.min_interval, Some(816));
    assert_eq!((r.complete, r.incomplete), (Some(1), Some(1)));
    // opentracker lists the announcing peer too.
    assert_eq!(r.peers, peers(&["127.0.0.1:6881", "127.0.0.1:6882"]));
    assert_eq!((r.warning, r.tracker_id), (None, None));
}

#[test]
fn http_stopped_response_has_an_empty_peer_string() {
    let r = parse_announce_response(include_bytes!("fixtures/http_announce_stopped.bin")).unwrap();
    assert_eq!((r.interval, r.min_interval), (Some(1740), Some(870)));
    assert_eq!((r.complete, r.incomplete), (Some(0), Some(1)));
    assert!(r.peers.is_empty());
}

#[test]
fn http_refusal_and_non_bencode_answer() {
    let err = parse_announce_response(include_bytes!("fixtures/http_announce_not_whitelisted.bin"));
    assert_eq!(
        err,
        Err(TrackerError::Failure {
            reason: "Requested download is not authorized for use with this tracker.".into(),
            retry_in: None,
        })
    );
    // opentracker supports only compact=1 and answers anything else with
    // an HTML page (this is why announce_url always sends compact=1).
    let err = parse_announce_response(include_bytes!("fixtures/http_announce_noncompact.bin"));
    assert!(matches!(err, Err(TrackerError::Bencode(_))), "{err:?}");
}

#[test]
fn http_scrape_response() {
    let r = parse_scrape_response(include_bytes!("fixtures/http_scrape.bin")).unwrap();
    // H2 had no HTTP peers yet, so opentracker left it out.
    let s = ScrapeStats {
        complete: 1,
        downloaded: 0,
        incomplete: 1,
    };
    assert_eq!(r.files, vec![(H1, s)]);
}

#[test]
fn our_udp_requests_are_byte_identical_to_the_accepted_ones() {
    let connection_id = 0xb68a_339c_e277_2c0e;
    let connect = Request::Connect {
        transaction_id: 0x1122_3344,
    }
    .to_bytes();
    assert_eq!(connect, hex(include_str!("fixtures/udp_connect.req")));
    let announce = Request::Announce {
        connection_id,
        transaction_id: 0x99aa_bbcc,
        request: seed_request(H2, AnnounceEvent::Started, 50),
    };
    assert_eq!(
        announce.to_bytes(),
        hex(include_str!("fixtures/udp_announce.req"))
    );
    let scrape = Request::Scrape {
        connection_id,
        transaction_id: 0xddee_ff00,
        info_hashes: vec![H1, H2],
    };
    assert_eq!(
        scrape.to_bytes(),
        hex(include_str!("fixtures/udp_scrape.req"))
    );
}

#[test]
fn udp_responses_decode() {
    let v4 = IpFamily::V4;
    assert_eq!(
        Response::decode(include_bytes!("fixtures/udp_connect.bin"), v4),
        Ok(Response::Connect {
            transaction_id: 0x1122_3344,
            connection_id: 0xb68a_339c_e277_2c0e
        })
    );
    assert_eq!(
        Response::decode(include_bytes!("fixtures/udp_announce.bin"), v4),
        Ok(Response::Announce {
            transaction_id: 0x99aa_bbcc,
            interval: 1904,
            leechers: 1,
            seeders: 1,
            peers: peers(&["127.0.0.1:6881", "127.0.0.1:6882"]),
        })
    );
    // H1: B stopped over HTTP, A still leeching; H2: B seeding, A leeching.
    let s1 = ScrapeStats {
        complete: 0,
        downloaded: 0,
        incomplete: 1,
    };
    let s2 = ScrapeStats {
        complete: 1,
        downloaded: 0,
        incomplete: 1,
    };
    assert_eq!(
        Response::decode(include_bytes!("fixtures/udp_scrape.bin"), v4),
        Ok(Response::Scrape {
            transaction_id: 0xddee_ff00,
            stats: vec![s1, s2]
        })
    );
}

/// Replays the captured datagrams through the client, with the transaction
/// ids patched to the ones the client chose (bytes 4..8 of a response).
#[test]
fn udp_client_replays_opentracker() {
    fn patched(fixture: &[u8], tid: u32) -> Vec<u8> {
        let mut b = fixture.to_vec();
        b[4..8].copy_from_slice(&tid.to_be_bytes());
        b
    }
    fn tid(packet: &[u8]) -> u32 {
        u32::from_be_bytes(packet[12..16].try_into().unwrap())
    }
    let now = Instant::now();
    let mut c = UdpTrackerClient::new(IpFamily::V4, UdpConfig::default(), Rng::new(3));
    let good = c.announce(now, seed_request(H2, AnnounceEvent::Started, 50));
    let refused = c.announce(now, seed_request([0; 20], AnnounceEvent::Started, 50));
    let connect = c.poll_transmit(now).unwrap();
    c.handle_datagram(
        now,
        &patched(include_bytes!("fixtures/udp_connect.bin"), tid(&connect)),
    );
    assert_eq!(c.connection_id(now), Some(0xb68a_339c_e277_2c0e));
    let a = c.poll_transmit(now).unwrap();
    let b = c.poll_transmit(now).unwrap();
    assert!(c.poll_transmit(now).is_none());
    c.handle_datagram(
        now,
        &patched(
            include_bytes!("fixtures/udp_announce_not_whitelisted.bin"),
            tid(&b),
        ),
    );
    c.handle_datagram(
        now,
        &patched(include_bytes!("fixtures/udp_announce.bin"), tid(&a)),
    );
    assert_eq!(
        c.poll_event(),
        Some(UdpEvent::Failed {
            op: refused,
            error: TrackerError::Malformed {
                action: "announce",
                len: 8
            }
        })
    );
    match c.poll_event() {
        Some(UdpEvent::Announced { op, response }) => {
            assert_eq!(op, good);
            assert_eq!(response.interval, Some(1904));
            assert_eq!(response.peers.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}
