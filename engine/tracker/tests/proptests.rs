//! Property tests: no input panics a parser; encodings round-trip.
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: fail loudly

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use seedcore_tracker::http::{
    announce_url, parse_announce_response, parse_scrape_response, scrape_url,
};
use seedcore_tracker::udp::{IpFamily, Request, Response};
use seedcore_tracker::{
    AnnounceEvent, AnnounceRequest, Rng, ScrapeStats, TrackerUrl, UdpConfig, UdpTrackerClient,
};

fn event() -> impl Strategy<Value = AnnounceEvent> {
    prop_oneof![
        Just(AnnounceEvent::None),
        Just(AnnounceEvent::Completed),
        Just(AnnounceEvent::Started),
        Just(AnnounceEvent::Stopped),
    ]
}

prop_compose! {
    fn announce_request()(
        info_hash in any::<[u8; 20]>(),
        peer_id in any::<[u8; 20]>(),
        port in any::<u16>(),
        uploaded in any::<u64>(),
        downloaded in any::<u64>(),
        left in any::<u64>(),
        event in event(),
        num_want in proptest::option::of(0u32..=i32::MAX as u32),
        key in any::<u32>(),
    ) -> AnnounceRequest {
        AnnounceRequest { info_hash, peer_id, port, uploaded, downloaded, left, event, num_want, key, tracker_id: None }
    }
}

fn peer(family: IpFamily) -> BoxedStrategy<SocketAddr> {
    match family {
        IpFamily::V4 => (any::<u32>(), 1u16..)
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port))
            .boxed(),
        IpFamily::V6 => (any::<u128>(), 1u16..)
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
            .boxed(),
    }
}

fn response(family: IpFamily) -> impl Strategy<Value = Response> {
    let stats = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(complete, downloaded, incomplete)| ScrapeStats {
            complete,
            downloaded,
            incomplete,
        },
    );
    prop_oneof![
        (any::<u32>(), any::<u64>()).prop_map(|(transaction_id, connection_id)| {
            Response::Connect {
                transaction_id,
                connection_id,
            }
        }),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(peer(family), 0..50)
        )
            .prop_map(|(transaction_id, interval, leechers, seeders, peers)| {
                Response::Announce {
                    transaction_id,
                    interval,
                    leechers,
                    seeders,
                    peers,
                }
            }),
        (any::<u32>(), prop::collection::vec(stats, 0..74)).prop_map(|(transaction_id, stats)| {
            Response::Scrape {
                transaction_id,
                stats,
            }
        }),
        (any::<u32>(), "[a-zA-Z0-9 .,:!?-]{0,200}").prop_map(|(transaction_id, message)| {
            Response::Error {
                transaction_id,
                message,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_announce_response(&bytes);
        let _ = parse_scrape_response(&bytes);
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes, IpFamily::V4);
        let _ = Response::decode(&bytes, IpFamily::V6);
        let s = String::from_utf8_lossy(&bytes);
        let _ = scrape_url(&s);
        let _ = TrackerUrl::parse(&s);
    }

    /// Bencode-shaped noise reaches deeper than random bytes.
    #[test]
    fn bencode_like_input_never_panics(
        parts in prop::collection::vec(prop_oneof![
            Just("d".to_string()), Just("l".to_string()), Just("e".to_string()),
            Just("5:peers".to_string()), Just("6:peers6".to_string()), Just("8:interval".to_string()),
            Just("14:failure reason".to_string()), Just("5:files".to_string()), Just("2:ip".to_string()),
            Just("4:port".to_string()), "i-?[0-9]{1,22}e", "[0-9]{1,2}:[a-z\\x00-\\xff]{0,20}",
        ], 0..40)
    ) {
        let body = parts.concat();
        let _ = parse_announce_response(body.as_bytes());
        let _ = parse_scrape_response(body.as_bytes());
    }

    #[test]
    fn udp_requests_round_trip(
        req in announce_request(),
        connection_id in any::<u64>(),
        transaction_id in any::<u32>(),
        hashes in prop::collection::vec(any::<[u8; 20]>(), 1..=74),
    ) {
        for r in [
            Request::Connect { transaction_id },
            Request::Announce { connection_id, transaction_id, request: req.clone() },
            Request::Scrape { connection_id, transaction_id, info_hashes: hashes.clone() },
        ] {
            prop_assert_eq!(Request::decode(&r.to_bytes()), Ok(r));
        }
    }

    #[test]
    fn udp_responses_round_trip_v4(r in response(IpFamily::V4)) {
        let mut b = Vec::new();
        r.encode(IpFamily::V4, &mut b);
        prop_assert_eq!(Response::decode(&b, IpFamily::V4), Ok(r));
    }

    #[test]
    fn udp_responses_round_trip_v6(r in response(IpFamily::V6)) {
        let mut b = Vec::new();
        r.encode(IpFamily::V6, &mut b);
        prop_assert_eq!(Response::decode(&b, IpFamily::V6), Ok(r));
    }

    /// The info-hash in the URL decodes back to the exact bytes.
    #[test]
    fn announce_url_encodes_hashes_exactly(req in announce_request()) {
        let url = announce_url("https://t.example/announce?pk=x", &req).unwrap();
        let query = url.split_once('?').unwrap().1;
        let get = |k: &str| -> Vec<u8> {
            let v = query.split('&').find_map(|kv| kv.strip_prefix(k)).unwrap();
            percent_encoding::percent_decode_str(v).collect()
        };
        prop_assert_eq!(get("info_hash="), req.info_hash.to_vec());
        prop_assert_eq!(get("peer_id="), req.peer_id.to_vec());
        prop_assert!(url.bytes().all(|b| b.is_ascii_graphic()));
    }

    /// Whatever a tracker sends, the client never panics and never emits
    /// an event for an id it was not given.
    #[test]
    fn udp_client_survives_arbitrary_datagrams(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 0..30),
        seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let mut c = UdpTrackerClient::new(IpFamily::V4, UdpConfig::default(), Rng::new(seed));
        let req = AnnounceRequest {
            info_hash: [1; 20], peer_id: [2; 20], port: 1, uploaded: 0, downloaded: 0, left: 0,
            event: AnnounceEvent::Started, num_want: None, key: 0, tracker_id: None,
        };
        let op = c.announce(t0, req);
        for (i, d) in datagrams.iter().enumerate() {
            let now = t0 + Duration::from_secs(i as u64);
            while c.poll_transmit(now).is_some() {}
            c.handle_datagram(now, d);
            c.handle_timeout(now);
        }
        while let Some(e) = c.poll_event() {
            let id = match e {
                seedcore_tracker::UdpEvent::Announced { op, .. }
                | seedcore_tracker::UdpEvent::Scraped { op, .. }
                | seedcore_tracker::UdpEvent::Failed { op, .. } => op,
            };
            prop_assert_eq!(id, op);
        }
    }
}
