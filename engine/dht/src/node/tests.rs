//! Node behaviour on crafted datagrams: answers, tokens, rate limit,
//! read-only mode, `ping_node`, timeouts, snapshots.

use std::time::Duration;

use super::*;
use crate::krpc::{Body, Message, Query, Response};

const ME: &str = "10.0.0.1:6881";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn node(seed: u8) -> Dht {
    let mut c = Config::new([seed; 32]);
    c.node_id = Some(NodeId([seed; 20]));
    Dht::new(c, Instant::now())
}

fn query(t: &[u8], q: Query) -> Vec<u8> {
    Message {
        transaction: t.to_vec(),
        version: None,
        read_only: false,
        requester_ip: None,
        body: Body::Query(q),
    }
    .encode()
}

/// All datagrams queued, decoded.
fn drain(d: &mut Dht, now: Instant) -> Vec<(SocketAddr, Message)> {
    std::iter::from_fn(|| d.poll_transmit(now))
        .map(|(a, b)| (a, Message::decode(&b).unwrap()))
        .collect()
}

fn response(m: &Message) -> &Response {
    match &m.body {
        Body::Response(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn error_code(m: &Message) -> i64 {
    match &m.body {
        Body::Error(e) => e.code.code(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn answers_ping_with_its_id_and_the_requester_ip() {
    let now = Instant::now();
    let mut d = node(1);
    let peer = addr("10.0.0.9:4000");
    d.handle_datagram(
        now,
        peer,
        &query(
            b"aa",
            Query::Ping {
                id: NodeId([9; 20]),
            },
        ),
    );
    let out = drain(&mut d, now);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, peer);
    assert_eq!(out[0].1.transaction, b"aa");
    assert_eq!(out[0].1.requester_ip, Some(peer));
    assert_eq!(response(&out[0].1).id, NodeId([1; 20]));
    // The querier is now known (unverified) to the table.
    assert!(d
        .table()
        .get(&NodeId([9; 20]))
        .is_some_and(|n| !n.verified()));
}

#[test]
fn announce_needs_the_token_given_to_that_ip() {
    let now = Instant::now();
    let mut d = node(1);
    let (a, b) = (addr("10.0.0.2:5000"), addr("10.0.0.3:5000"));
    let ih = NodeId([0x42; 20]);
    let get = Query::GetPeers {
        id: NodeId([2; 20]),
        info_hash: ih,
        want: None,
    };
    d.handle_datagram(now, a, &query(b"g1", get));
    let out = drain(&mut d, now);
    let token = response(&out[0].1).token.clone().unwrap();
    let announce = |id: u8, token: Vec<u8>, implied_port| Query::AnnouncePeer {
        id: NodeId([id; 20]),
        info_hash: ih,
        port: 7000,
        implied_port,
        token,
    };
    // Wrong token, and the right token from another IP: 203, nothing stored.
    d.handle_datagram(now, a, &query(b"x1", announce(2, b"nope".to_vec(), false)));
    d.handle_datagram(now, b, &query(b"x2", announce(3, token.clone(), false)));
    let out = drain(&mut d, now);
    assert_eq!(
        out.iter().map(|(_, m)| error_code(m)).collect::<Vec<_>>(),
        vec![203, 203]
    );
    assert_eq!(d.stored_peers(), (0, 0));
    assert_eq!(d.stats().bad_tokens, 2);
    // Right token from the right IP: stored, and served back.
    d.handle_datagram(now, a, &query(b"x3", announce(2, token.clone(), false)));
    d.handle_datagram(now, a, &query(b"x4", announce(2, token, true)));
    let out = drain(&mut d, now);
    assert!(out.iter().all(|(_, m)| matches!(m.body, Body::Response(_))));
    assert_eq!(d.stored_peers(), (1, 2));
    let get = Query::GetPeers {
        id: NodeId([3; 20]),
        info_hash: ih,
        want: None,
    };
    d.handle_datagram(now, b, &query(b"g2", get));
    let out = drain(&mut d, now);
    let mut values = response(&out[0].1).values.clone();
    values.sort();
    assert_eq!(values, vec![addr("10.0.0.2:5000"), addr("10.0.0.2:7000")]);
    // Tokens outlive one rotation but not two.
    let later = now + crate::token::ROTATE_EVERY * 2 + Duration::from_secs(1);
    d.handle_timeout(now + crate::token::ROTATE_EVERY);
    d.handle_timeout(later);
    drain(&mut d, later);
    d.handle_datagram(
        later,
        b,
        &query(
            b"g3",
            Query::GetPeers {
                id: NodeId([3; 20]),
                info_hash: ih,
                want: None,
            },
        ),
    );
    let old_token = response(&drain(&mut d, later)[0].1).token.clone().unwrap();
    d.handle_timeout(later + crate::token::ROTATE_EVERY);
    d.handle_timeout(later + crate::token::ROTATE_EVERY * 2);
    let t = later + crate::token::ROTATE_EVERY * 2;
    drain(&mut d, t);
    d.handle_datagram(t, b, &query(b"x5", announce(3, old_token, false)));
    assert_eq!(error_code(&drain(&mut d, t)[0].1), 203);
}

#[test]
fn malformed_queries_get_203_and_unknown_methods_204() {
    let now = Instant::now();
    let mut d = node(1);
    let peer = addr("10.0.0.5:1");
    d.handle_datagram(now, peer, b"d1:ad2:id3:abce1:q4:ping1:t2:zz1:y1:qe");
    d.handle_datagram(
        now,
        peer,
        b"d1:ad2:id20:abcdefghij0123456789e1:q3:get1:t2:zy1:y1:qe",
    );
    d.handle_datagram(now, peer, b"not bencode at all");
    d.handle_datagram(now, peer, b"d1:rd2:id3:abce1:t2:zz1:y1:re");
    let out = drain(&mut d, now);
    let codes: Vec<(Vec<u8>, i64)> = out
        .iter()
        .map(|(_, m)| (m.transaction.clone(), error_code(m)))
        .collect();
    assert_eq!(codes, vec![(b"zz".to_vec(), 203), (b"zy".to_vec(), 204)]);
    assert_eq!(d.stats().malformed, 4);
}

#[test]
fn rate_limit_caps_replies_per_source() {
    let now = Instant::now();
    let mut d = node(1);
    let burst = Config::new([0; 32]).query_burst as usize;
    let ping = query(
        b"pp",
        Query::Ping {
            id: NodeId([9; 20]),
        },
    );
    for _ in 0..burst * 3 {
        d.handle_datagram(now, addr("10.0.0.9:4000"), &ping);
    }
    d.handle_datagram(now, addr("10.0.0.10:4000"), &ping);
    let out = drain(&mut d, now);
    assert_eq!(out.len(), burst + 1);
    assert_eq!(d.stats().rate_limited, 2 * burst as u64);
    // The budget comes back with time.
    let later = now + Duration::from_secs(1);
    d.handle_datagram(later, addr("10.0.0.9:4000"), &ping);
    assert_eq!(drain(&mut d, later).len(), 1);
}

#[test]
fn ping_node_adds_the_node_when_it_answers() {
    let now = Instant::now();
    let mut d = node(1);
    let other = addr("10.0.0.7:6881");
    assert!(d.ping_node(now, other));
    assert!(!d.ping_node(now, other), "one ping at a time");
    let out = drain(&mut d, now);
    assert_eq!(out.len(), 1);
    let t = out[0].1.transaction.clone();
    assert!(matches!(out[0].1.body, Body::Query(Query::Ping { .. })));
    let reply = |t: Vec<u8>| Message {
        transaction: t,
        version: None,
        read_only: false,
        requester_ip: None,
        body: Body::Response(Response {
            id: NodeId([7; 20]),
            ..Response::default()
        }),
    };
    // An answer from another address is not taken.
    d.handle_datagram(now, addr("10.0.0.8:6881"), &reply(t.clone()).encode());
    assert!(d.table().is_empty());
    assert_eq!(d.stats().unexpected, 1);
    d.handle_datagram(now, other, &reply(t).encode());
    assert!(d
        .table()
        .get(&NodeId([7; 20]))
        .is_some_and(|n| n.verified()));
    let node = NodeInfo {
        id: NodeId([7; 20]),
        addr: other,
    };
    assert_eq!(d.poll_event(), Some(Event::NodeVerified { node }));
}

#[test]
fn unanswered_queries_time_out_and_lookups_finish() {
    let now = Instant::now();
    let mut c = Config::new([1; 32]);
    c.bootstrap = vec![addr(ME)];
    let mut d = Dht::new(c, now);
    assert_eq!(d.poll_timeout(), Some(now));
    d.handle_timeout(now);
    assert_eq!(drain(&mut d, now).len(), 1);
    assert_eq!(d.pending_queries(), 1);
    let deadline = d.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(4));
    d.handle_timeout(deadline);
    assert_eq!(d.pending_queries(), 0);
    assert_eq!(d.stats().timeouts, 1);
    let events: Vec<Event> = std::iter::from_fn(|| d.poll_event()).collect();
    assert!(matches!(
        events[0],
        Event::LookupDone {
            kind: LookupKind::Bootstrap,
            ..
        }
    ));
    assert_eq!(events[1], Event::Bootstrapped { nodes: 0 });
    // Empty table: retried after BOOTSTRAP_RETRY, not before.
    d.handle_timeout(deadline + MAINTENANCE_EVERY);
    assert!(drain(&mut d, deadline).is_empty());
    d.handle_timeout(now + BOOTSTRAP_RETRY + MAINTENANCE_EVERY);
    assert_eq!(drain(&mut d, now).len(), 1);
}

#[test]
fn read_only_nodes_answer_nothing_and_say_so() {
    let now = Instant::now();
    let mut c = Config::new([1; 32]);
    c.read_only = true;
    c.bootstrap = vec![addr(ME)];
    let mut ro = Dht::new(c, now);
    ro.handle_datagram(
        now,
        addr("10.0.0.9:1"),
        &query(
            b"aa",
            Query::Ping {
                id: NodeId([9; 20]),
            },
        ),
    );
    assert!(drain(&mut ro, now).is_empty());
    ro.handle_timeout(now);
    let (to, bytes) = ro.poll_transmit(now).unwrap();
    let m = Message::decode(&bytes).unwrap();
    assert!(m.read_only);
    // A normal node answers it but does not add it to its table.
    let mut d = node(2);
    d.handle_datagram(now, addr("10.0.0.50:6881"), &bytes);
    assert_eq!(drain(&mut d, now).len(), 1);
    assert!(d.table().is_empty());
    assert_eq!(to, addr(ME));
}

#[test]
fn lookups_are_bounded_and_need_somewhere_to_start() {
    let now = Instant::now();
    let mut d = node(1);
    assert_eq!(d.get_peers(now, NodeId([5; 20])), Err(DhtError::NoNodes));
    let mut c = Config::new([1; 32]);
    c.bootstrap = vec![addr(ME)];
    c.max_lookups = 2;
    let mut d = Dht::new(c, now);
    assert!(d.get_peers(now, NodeId([5; 20])).is_ok());
    assert!(d.announce(now, NodeId([6; 20]), None).is_ok());
    assert!(matches!(
        d.find_node(now, NodeId([7; 20])),
        Err(DhtError::TooManyLookups {
            running: 2,
            limit: 2
        })
    ));
}

#[test]
fn snapshot_round_trips_and_corruption_means_a_fresh_start() {
    let now = Instant::now();
    let mut d = node(1);
    for i in 2..30u8 {
        assert!(d.ping_node(now, SocketAddr::from(([10, 0, 1, i], 6881))));
        let out = drain(&mut d, now);
        let reply = Message {
            transaction: out[0].1.transaction.clone(),
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Response(Response {
                id: NodeId([i.wrapping_mul(37); 20]),
                ..Response::default()
            }),
        };
        d.handle_datagram(now, out[0].0, &reply.encode());
    }
    let snap = d.routing_table_snapshot();
    let decoded = Snapshot::decode(&snap).unwrap();
    assert_eq!(decoded.id, d.id());
    assert_eq!(decoded.nodes.len(), d.table().len());
    let r = Dht::restore(Config::new([9; 32]), now, &snap);
    assert_eq!(r.id(), d.id());
    assert_eq!(r.table().len(), d.table().len());
    assert!(
        r.table().nodes().all(|n| !n.verified()),
        "restored nodes must be re-verified"
    );
    for bad in [&b""[..], b"d2:id3:abce", &snap[..snap.len() / 2], b"i1e"] {
        let f = Dht::restore(Config::new([9; 32]), now, bad);
        assert!(f.table().is_empty());
        assert_ne!(f.id(), d.id());
    }
    assert!(matches!(Snapshot::decode(b"de"), Err(SnapshotError::NoId)));
}

#[test]
fn find_node_answers_leave_out_the_requester() {
    let now = Instant::now();
    let mut d = node(1);
    let them = addr("10.0.0.9:4000");
    for (i, a) in [
        (9u8, them),
        (3, addr("10.0.0.3:1")),
        (4, addr("10.0.0.4:1")),
    ] {
        assert!(d.ping_node(now, a));
        let t = drain(&mut d, now)[0].1.transaction.clone();
        let reply = Message {
            transaction: t,
            version: None,
            read_only: false,
            requester_ip: None,
            body: Body::Response(Response {
                id: NodeId([i; 20]),
                ..Response::default()
            }),
        };
        d.handle_datagram(now, a, &reply.encode());
    }
    let q = Query::FindNode {
        id: NodeId([9; 20]),
        target: NodeId([9; 20]),
        want: None,
    };
    d.handle_datagram(now, them, &query(b"fn", q));
    let out = drain(&mut d, now);
    let ids: Vec<NodeId> = response(&out[0].1).nodes.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![NodeId([3; 20]), NodeId([4; 20])]);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives, from wherever, the node neither panics nor
        /// grows past its bounds, and every datagram it sends decodes.
        #[test]
        fn arbitrary_datagrams_never_panic(
            packets in proptest::collection::vec(
                (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..40),
            prefix in prop_oneof![
                Just(&b"d1:ad2:id20:"[..]),
                Just(&b"d1:rd2:id20:"[..]),
                Just(&b""[..]),
            ],
        ) {
            let now = Instant::now();
            let mut c = Config::new([3; 32]);
            c.bootstrap = vec![addr(ME)];
            let mut d = Dht::new(c, now);
            d.handle_timeout(now);
            for (i, (src, body)) in packets.into_iter().enumerate() {
                let mut data = prefix.to_vec();
                data.extend_from_slice(&body);
                let from = SocketAddr::from(([10, 0, 0, src], 1000 + u16::from(src)));
                let t = now + Duration::from_millis(u64::try_from(i).unwrap() * 500);
                d.handle_datagram(t, from, &data);
                d.handle_timeout(t);
                for (_, bytes) in std::iter::from_fn(|| d.poll_transmit(t)) {
                    prop_assert!(Message::decode(&bytes).is_ok());
                }
            }
            prop_assert!(d.table().len() <= 160 * crate::routing::K);
            prop_assert!(d.pending_queries() <= Config::new([0; 32]).max_pending);
        }
    }
}
