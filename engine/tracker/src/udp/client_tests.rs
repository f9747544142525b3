//! The UDP client against a scripted tracker, in virtual time.

use std::time::{Duration, Instant};

use super::*;
use crate::error::TrackerError;
use crate::rng::Rng;
use crate::types::{AnnounceEvent, AnnounceRequest, ScrapeStats};

fn request(hash: u8) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: [hash; 20],
        peer_id: *b"-SC0001-abcdefghijkl",
        port: 6881,
        uploaded: 10,
        downloaded: 0,
        left: 0,
        event: AnnounceEvent::Started,
        num_want: Some(50),
        key: 7,
        tracker_id: None,
    }
}

fn client() -> UdpTrackerClient {
    UdpTrackerClient::new(IpFamily::V4, UdpConfig::default(), Rng::new(42))
}

fn decode(bytes: &[u8]) -> Request {
    Request::decode(bytes).expect("the client sent a malformed request")
}

fn respond(r: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(IpFamily::V4, &mut out);
    out
}

/// Completes the connect handshake; returns the connection id.
fn connect(c: &mut UdpTrackerClient, now: Instant, id: u64) -> u64 {
    let Request::Connect { transaction_id } = decode(&c.poll_transmit(now).unwrap()) else {
        panic!("expected a connect request first");
    };
    c.handle_datagram(
        now,
        &respond(&Response::Connect {
            transaction_id,
            connection_id: id,
        }),
    );
    id
}

#[test]
fn announce_after_connect_and_connection_id_reuse() {
    let t0 = Instant::now();
    let mut c = client();
    let op = c.announce(t0, request(1));
    connect(&mut c, t0, 0xc0ffee);
    let Request::Announce {
        connection_id,
        transaction_id,
        request: sent,
    } = decode(&c.poll_transmit(t0).unwrap())
    else {
        panic!("expected an announce");
    };
    assert_eq!(connection_id, 0xc0ffee);
    assert_eq!(sent.info_hash, [1; 20]);
    assert!(c.poll_transmit(t0).is_none());
    let peers = vec!["10.0.0.1:6881".parse().unwrap(), "[::1]:1".parse().unwrap()];
    c.handle_datagram(
        t0,
        &respond(&Response::Announce {
            transaction_id,
            interval: 1800,
            leechers: 3,
            seeders: 4,
            peers,
        }),
    );
    match c.poll_event() {
        Some(UdpEvent::Announced { op: o, response }) => {
            assert_eq!(o, op);
            assert_eq!(response.interval, Some(1800));
            assert_eq!((response.complete, response.incomplete), (Some(4), Some(3)));
            assert_eq!(response.peers, vec!["10.0.0.1:6881".parse().unwrap()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.outstanding(), 0);

    // 59 s later the connection id is reused: no connect.
    let t1 = t0 + Duration::from_secs(59);
    c.announce(t1, request(2));
    let Request::Announce { connection_id, .. } = decode(&c.poll_transmit(t1).unwrap()) else {
        panic!("expected an announce without reconnecting");
    };
    assert_eq!(connection_id, 0xc0ffee);

    // At 60 s it has expired: connect first.
    let t2 = t0 + Duration::from_secs(60);
    assert_eq!(c.connection_id(t2), None);
    c.announce(t2, request(3));
    assert!(matches!(
        decode(&c.poll_transmit(t2).unwrap()),
        Request::Connect { .. }
    ));
}

#[test]
fn retransmission_follows_bep_15_then_fails() {
    let t0 = Instant::now();
    let mut c = client();
    let op = c.announce(t0, request(1));
    let mut sends = Vec::new();
    let mut now = t0;
    let mut tids = Vec::new();
    loop {
        while let Some(p) = c.poll_transmit(now) {
            let Request::Connect { transaction_id } = decode(&p) else {
                panic!("only connects while unconnected");
            };
            tids.push(transaction_id);
            sends.push(now.duration_since(t0).as_secs());
        }
        if let Some(e) = c.poll_event() {
            assert_eq!(
                e,
                UdpEvent::Failed {
                    op,
                    error: TrackerError::Timeout {
                        attempts: 9,
                        waited: Duration::from_secs(15 * 511),
                    }
                }
            );
            break;
        }
        now = c.poll_timeout().expect("a timer while waiting");
        c.handle_timeout(now);
    }
    // 15 * 2^n after each send, n = 0..=8: sends at 15 * (2^n - 1).
    let expected: Vec<u64> = (0..9).map(|n| 15 * ((1u64 << n) - 1)).collect();
    assert_eq!(sends, expected);
    assert!(
        tids.windows(2).all(|w| w[0] == w[1]),
        "the transaction id is kept"
    );
    assert_eq!(now.duration_since(t0), Duration::from_secs(7665));
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn announce_retransmits_and_reconnects_after_expiry() {
    let t0 = Instant::now();
    let mut c = client();
    c.announce(t0, request(1));
    connect(&mut c, t0, 1);
    let first = c.poll_transmit(t0).unwrap();
    // 15 s: retransmitted with the same connection id and transaction id.
    let t = c.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(15));
    c.handle_timeout(t);
    assert_eq!(c.poll_transmit(t).unwrap(), first);
    // 45 s: still connected (expires at 60 s), again the same bytes.
    let t = c.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(45));
    c.handle_timeout(t);
    assert_eq!(c.poll_transmit(t).unwrap(), first);
    // 105 s: the id has expired, so a connect goes first.
    let t = c.poll_timeout().unwrap();
    assert_eq!(t, t0 + Duration::from_secs(105));
    c.handle_timeout(t);
    connect(&mut c, t, 2);
    let Request::Announce {
        connection_id,
        transaction_id,
        ..
    } = decode(&c.poll_transmit(t).unwrap())
    else {
        panic!("expected the announce again");
    };
    assert_eq!(connection_id, 2);
    assert_eq!(
        transaction_id,
        u32::from_be_bytes(first[12..16].try_into().unwrap())
    );
    // Its fourth send waits 15 * 2^3 s.
    assert_eq!(c.poll_timeout(), Some(t + Duration::from_secs(120)));
}

#[test]
fn spoofed_stale_and_malformed_packets_are_ignored() {
    let t0 = Instant::now();
    let mut c = client();
    let op = c.announce(t0, request(1));
    // Before anything is sent, nothing is accepted.
    c.handle_datagram(
        t0,
        &respond(&Response::Connect {
            transaction_id: 0,
            connection_id: 9,
        }),
    );
    let Request::Connect {
        transaction_id: ctid,
    } = decode(&c.poll_transmit(t0).unwrap())
    else {
        panic!("expected a connect");
    };
    for junk in [
        &[][..],
        &[0, 0, 0],
        &[0, 0, 0, 0, 1, 2, 3, 4],
        &[0xff; 100],
        &respond(&Response::Connect {
            transaction_id: ctid.wrapping_add(1),
            connection_id: 9,
        }),
        &respond(&Response::Scrape {
            transaction_id: ctid,
            stats: vec![],
        }),
    ] {
        c.handle_datagram(t0, junk);
        assert_eq!(c.connection_id(t0), None, "{junk:?}");
    }
    c.handle_datagram(
        t0,
        &respond(&Response::Connect {
            transaction_id: ctid,
            connection_id: 9,
        }),
    );
    assert_eq!(c.connection_id(t0), Some(9));
    let Request::Announce { transaction_id, .. } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("expected an announce");
    };
    // A scrape answer to an announce, and another id's answer: ignored.
    c.handle_datagram(
        t0,
        &respond(&Response::Scrape {
            transaction_id,
            stats: vec![],
        }),
    );
    let other = Response::Announce {
        transaction_id: transaction_id ^ 1,
        interval: 1,
        leechers: 0,
        seeders: 0,
        peers: vec![],
    };
    c.handle_datagram(t0, &respond(&other));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.outstanding(), 1);
    // opentracker's answer for a hash it does not serve: our id, action 1,
    // no body. That fails the announce rather than retrying for 2 hours.
    let mut short = 1u32.to_be_bytes().to_vec();
    short.extend_from_slice(&transaction_id.to_be_bytes());
    c.handle_datagram(t0, &short);
    assert_eq!(
        c.poll_event(),
        Some(UdpEvent::Failed {
            op,
            error: TrackerError::Malformed {
                action: "announce",
                len: 8
            }
        })
    );
    // A duplicate of it later changes nothing.
    c.handle_datagram(t0, &short);
    assert_eq!(c.poll_event(), None);
}

#[test]
fn error_packets_fail_the_request() {
    let t0 = Instant::now();
    let mut c = client();
    let op = c.announce(t0, request(1));
    connect(&mut c, t0, 5);
    let Request::Announce { transaction_id, .. } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("expected an announce");
    };
    let err = Response::Error {
        transaction_id,
        message: "unregistered torrent".into(),
    };
    c.handle_datagram(t0, &respond(&err));
    assert_eq!(
        c.poll_event(),
        Some(UdpEvent::Failed {
            op,
            error: TrackerError::Failure {
                reason: "unregistered torrent".into(),
                retry_in: None
            }
        })
    );
    // An error to the connect fails everything waiting for it.
    let a = c.announce(t0, request(2));
    let b = c.announce(t0, request(3));
    let Request::Connect { transaction_id } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("after an error the connection id is dropped");
    };
    c.handle_datagram(
        t0,
        &respond(&Response::Error {
            transaction_id,
            message: "busy".into(),
        }),
    );
    let failed: Vec<OpId> = std::iter::from_fn(|| c.poll_event())
        .map(|e| match e {
            UdpEvent::Failed { op, .. } => op,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(failed, vec![a, b]);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn many_announces_share_one_connect_and_scrape_works() {
    let t0 = Instant::now();
    let mut c = client();
    let ops: Vec<OpId> = (0..100).map(|i| c.announce(t0, request(i))).collect();
    let scrape = c.scrape(t0, vec![[1; 20], [2; 20]]).unwrap();
    assert!(matches!(
        c.scrape(t0, vec![[0; 20]; 75]),
        Err(TrackerError::TooManyHashes { count: 75, max: 74 })
    ));
    assert!(c.scrape(t0, vec![]).is_err());
    connect(&mut c, t0, 77);
    let mut tids = std::collections::HashSet::new();
    let mut answers = Vec::new();
    while let Some(p) = c.poll_transmit(t0) {
        match decode(&p) {
            Request::Announce { transaction_id, .. } => {
                assert!(tids.insert(transaction_id), "transaction ids are unique");
                answers.push(Response::Announce {
                    transaction_id,
                    interval: 900,
                    leechers: 0,
                    seeders: 1,
                    peers: vec![],
                });
            }
            Request::Scrape {
                transaction_id,
                info_hashes,
                ..
            } => {
                assert_eq!(info_hashes, vec![[1; 20], [2; 20]]);
                let s = ScrapeStats {
                    complete: 1,
                    downloaded: 2,
                    incomplete: 3,
                };
                answers.push(Response::Scrape {
                    transaction_id,
                    stats: vec![s, s, s],
                });
            }
            Request::Connect { .. } => panic!("one connect is enough"),
        }
    }
    assert_eq!(answers.len(), 101);
    for a in answers.iter().rev() {
        c.handle_datagram(t0, &respond(a));
    }
    let mut done = Vec::new();
    while let Some(e) = c.poll_event() {
        match e {
            UdpEvent::Announced { op, .. } => done.push(op),
            UdpEvent::Scraped { op, response } => {
                assert_eq!(op, scrape);
                assert_eq!(response.files.len(), 2, "extra entries are dropped");
                assert_eq!(response.files[1].0, [2; 20]);
            }
            UdpEvent::Failed { error, .. } => panic!("{error}"),
        }
    }
    done.sort();
    assert_eq!(done, ops);
}

#[test]
fn cancel_forgets_the_request() {
    let t0 = Instant::now();
    let mut c = client();
    let op = c.announce(t0, request(1));
    connect(&mut c, t0, 1);
    let Request::Announce { transaction_id, .. } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("expected an announce");
    };
    assert!(c.cancel(op));
    assert!(!c.cancel(op));
    let late = Response::Announce {
        transaction_id,
        interval: 1,
        leechers: 0,
        seeders: 0,
        peers: vec![],
    };
    c.handle_datagram(t0, &respond(&late));
    assert_eq!(c.poll_event(), None);
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn ipv6_client_reads_18_byte_peers() {
    let t0 = Instant::now();
    let mut c = UdpTrackerClient::new(IpFamily::V6, UdpConfig::default(), Rng::new(1));
    c.announce(t0, request(1));
    connect(&mut c, t0, 1);
    let Request::Announce { transaction_id, .. } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("expected an announce");
    };
    let peer = "[2001:db8::7]:6881".parse().unwrap();
    let mut bytes = Vec::new();
    Response::Announce {
        transaction_id,
        interval: 60,
        leechers: 1,
        seeders: 0,
        peers: vec![peer],
    }
    .encode(IpFamily::V6, &mut bytes);
    assert_eq!(bytes.len(), 20 + 18);
    c.handle_datagram(t0, &bytes);
    let Some(UdpEvent::Announced { response, .. }) = c.poll_event() else {
        panic!("expected an announce result");
    };
    assert_eq!(response.peers, vec![peer]);
}

#[test]
fn an_error_during_a_reconnect_does_not_strand_the_waiting() {
    let t0 = Instant::now();
    let mut c = client();
    let a = c.announce(t0, request(1));
    connect(&mut c, t0, 1);
    let Request::Announce { transaction_id, .. } = decode(&c.poll_transmit(t0).unwrap()) else {
        panic!("expected an announce");
    };
    // 61 s later the id has expired; a new announce starts a reconnect...
    let t1 = t0 + Duration::from_secs(61);
    c.announce(t1, request(2));
    assert!(matches!(
        decode(&c.poll_transmit(t1).unwrap()),
        Request::Connect { .. }
    ));
    // ...and the old announce's error arrives meanwhile.
    let err = Response::Error {
        transaction_id,
        message: "stale".into(),
    };
    c.handle_datagram(t1, &respond(&err));
    assert!(matches!(c.poll_event(), Some(UdpEvent::Failed { op, .. }) if op == a));
    // The reconnect still completes and the waiting announce goes out.
    let t2 = c.poll_timeout().unwrap();
    c.handle_timeout(t2);
    connect(&mut c, t2, 2);
    let Request::Announce { connection_id, .. } = decode(&c.poll_transmit(t2).unwrap()) else {
        panic!("the waiting announce was stranded");
    };
    assert_eq!(connection_id, 2);
    assert_eq!(c.outstanding(), 1);
}
