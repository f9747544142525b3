//! Codec tests: the example packets of BEP 5, malformed input, and
//! property round-trips.

use super::decode::DecodeReason;
use super::*;
use proptest::prelude::*;
use seedcore_protocol::bencode::check_canonical;

fn id(s: &[u8; 20]) -> NodeId {
    NodeId(*s)
}

/// Decodes, checks it equals `want`, and that encoding gives the bytes back.
fn exact(bytes: &[u8], want: Message) {
    let m = Message::decode(bytes).unwrap();
    assert_eq!(m, want);
    assert_eq!(
        String::from_utf8_lossy(&m.encode()),
        String::from_utf8_lossy(bytes)
    );
}

fn msg(body: Body) -> Message {
    Message {
        transaction: b"aa".to_vec(),
        version: None,
        read_only: false,
        requester_ip: None,
        body,
    }
}

#[test]
fn bep5_ping() {
    exact(
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        msg(Body::Query(Query::Ping {
            id: id(b"abcdefghij0123456789"),
        })),
    );
    exact(
        b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        msg(Body::Response(Response {
            id: id(b"mnopqrstuvwxyz123456"),
            ..Response::default()
        })),
    );
}

#[test]
fn bep5_find_node() {
    exact(
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
        msg(Body::Query(Query::FindNode {
            id: id(b"abcdefghij0123456789"),
            target: id(b"mnopqrstuvwxyz123456"),
            want: None,
        })),
    );
    // The BEP's "def456..." is a placeholder, 9 bytes: no whole entry.
    let m = Message::decode(b"d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re")
        .unwrap();
    let Body::Response(r) = m.body else {
        panic!("not a response")
    };
    assert_eq!(r.id, id(b"0123456789abcdefghij"));
    assert!(r.nodes.is_empty());
}

#[test]
fn bep5_get_peers() {
    exact(
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
        msg(Body::Query(Query::GetPeers {
            id: id(b"abcdefghij0123456789"),
            info_hash: id(b"mnopqrstuvwxyz123456"),
            want: None,
        })),
    );
    exact(
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
        msg(Body::Response(Response {
            id: id(b"abcdefghij0123456789"),
            token: Some(b"aoeusnth".to_vec()),
            values: vec![
                decode_peer(b"axje.u").unwrap(),
                decode_peer(b"idhtnm").unwrap(),
            ],
            ..Response::default()
        })),
    );
    let m = Message::decode(
        b"d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re",
    )
    .unwrap();
    let Body::Response(r) = m.body else {
        panic!("not a response")
    };
    assert_eq!(r.token.as_deref(), Some(&b"aoeusnth"[..]));
}

#[test]
fn bep5_announce_peer() {
    let q = |implied_port| {
        msg(Body::Query(Query::AnnouncePeer {
            id: id(b"abcdefghij0123456789"),
            info_hash: id(b"mnopqrstuvwxyz123456"),
            port: 6881,
            implied_port,
            token: b"aoeusnth".to_vec(),
        }))
    };
    exact(
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        q(false),
    );
    // The BEP's JSON form carries "implied_port": 1 as well.
    exact(
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        q(true),
    );
}

#[test]
fn bep5_error() {
    exact(
        b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
        msg(Body::Error(ErrorReply {
            code: ErrorCode::Generic,
            message: b"A Generic Error Ocurred".to_vec(),
        })),
    );
}

#[test]
fn unsorted_keys_and_extras_are_accepted() {
    let m = Message::decode(
        b"d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:abcdefghij01234567895:extrai1ee1:v4:LT\x01\x02e",
    )
    .unwrap();
    assert_eq!(m.version.as_deref(), Some(&b"LT\x01\x02"[..]));
    assert!(matches!(m.body, Body::Query(Query::Ping { .. })));
}

#[test]
fn malformed_queries_get_the_right_error_reply() {
    // Unknown method: 204.
    let e =
        Message::decode(b"d1:ad2:id20:abcdefghij0123456789e1:q4:zzzz1:t2:xy1:y1:qe").unwrap_err();
    assert_eq!(e.code, ErrorCode::MethodUnknown);
    let reply = e.reply().unwrap();
    assert_eq!(reply.transaction, b"xy");
    assert!(matches!(&reply.body, Body::Error(r) if r.code.code() == 204));
    // Missing id: 203.
    let e = Message::decode(b"d1:ad1:xi1ee1:q4:ping1:t2:xy1:y1:qe").unwrap_err();
    assert_eq!(e.code, ErrorCode::Protocol);
    assert_eq!(e.reason, DecodeReason::Missing("id"));
    let bytes = e.reply().unwrap().encode();
    assert!(bytes.starts_with(b"d1:eli203e"), "{bytes:?}");
    // Short id, bad port: 203.
    for bad in [
        &b"d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe"[..],
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:xy1:y1:qe",
    ] {
        let e = Message::decode(bad).unwrap_err();
        assert_eq!(e.code, ErrorCode::Protocol);
        assert!(e.reply().is_some());
    }
}

#[test]
fn undecodable_or_non_queries_are_dropped() {
    for bad in [
        &b"garbage"[..],
        b"le",
        b"d1:y1:qe",
        b"d1:rd2:id1:xe1:t2:aa1:y1:re",
        b"d1:t2:aa1:y1:ee",
        b"d1:t2:aa1:y1:ze",
    ] {
        let e = Message::decode(bad).unwrap_err();
        assert!(e.reply().is_none(), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn datagram_bounds_hold_over_the_shared_reader() {
    // A ping padded with more than MAX_ITEMS values under an ignored key:
    // refused before any field is read, so no reply.
    let mut flood = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:xy1:y1:q1:zl".to_vec();
    flood.extend(std::iter::repeat_n(&b"i0e"[..], MAX_ITEMS).flatten());
    flood.extend_from_slice(b"ee");
    let e = Message::decode(&flood).unwrap_err();
    assert_eq!(
        e.reason,
        DecodeReason::Bencode(BoundedError::TooManyItems { max: MAX_ITEMS })
    );
    assert!(e.reply().is_none());
    // Nested deeper than MAX_DEPTH under an ignored key.
    let mut deep = b"d1:t2:xy1:y1:q1:z".to_vec();
    deep.extend(std::iter::repeat_n(b'l', MAX_DEPTH));
    deep.extend(std::iter::repeat_n(b'e', MAX_DEPTH + 1));
    assert!(matches!(
        Message::decode(&deep).unwrap_err().reason,
        DecodeReason::Bencode(BoundedError::Bencode(_))
    ));
    // An integer beyond i64 is that field's error (a 203 reply), not the
    // whole datagram's; under an ignored key it is ignored.
    let e = Message::decode(
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti99999999999999999999e5:token1:xe1:q13:announce_peer1:t2:xy1:y1:qe",
    )
    .unwrap_err();
    assert_eq!(
        e.reason,
        DecodeReason::Invalid {
            key: "port",
            why: "an integer"
        }
    );
    assert!(e.reply().is_some());
    let m = Message::decode(
        b"d1:ad2:id20:abcdefghij01234567891:zi99999999999999999999ee1:q4:ping1:t2:xy1:y1:qe",
    )
    .unwrap();
    assert!(matches!(m.body, Body::Query(Query::Ping { .. })));
}

#[test]
fn want_and_nodes6_round_trip() {
    let n6 = NodeInfo {
        id: NodeId([9; 20]),
        addr: "[2001:db8::7]:4000".parse().unwrap(),
    };
    let n4 = NodeInfo {
        id: NodeId([8; 20]),
        addr: "1.2.3.4:5".parse().unwrap(),
    };
    for m in [
        msg(Body::Query(Query::FindNode {
            id: NodeId([1; 20]),
            target: NodeId([2; 20]),
            want: Some(Want { v4: true, v6: true }),
        })),
        Message {
            requester_ip: Some("9.8.7.6:5432".parse().unwrap()),
            version: Some(b"SC01".to_vec()),
            ..msg(Body::Response(Response {
                id: NodeId([3; 20]),
                nodes: vec![n4],
                nodes6: vec![n6],
                values: vec!["[::1]:80".parse().unwrap()],
                token: Some(vec![0, 1, 2]),
            }))
        },
    ] {
        let bytes = m.encode();
        check_canonical(&bytes, LIMITS).unwrap();
        assert_eq!(Message::decode(&bytes).unwrap(), m);
    }
}

fn arb_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 20]>().prop_map(NodeId)
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1..=u16::MAX).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn arb_node(v6: bool) -> impl Strategy<Value = NodeInfo> {
    (arb_id(), arb_addr()).prop_map(move |(id, addr)| {
        let addr = match (v6, addr) {
            (false, SocketAddr::V6(a)) => SocketAddr::from(([1, 2, 3, 4], a.port())),
            (true, SocketAddr::V4(a)) => {
                SocketAddr::from(([0xfe80, 0, 0, 0, 0, 0, 0, 1], a.port()))
            }
            (_, a) => a,
        };
        NodeInfo { id, addr }
    })
}

fn arb_want() -> impl Strategy<Value = Option<Want>> {
    proptest::option::of((any::<bool>(), any::<bool>()).prop_map(|(v4, v6)| Want { v4, v6 }))
}

fn arb_body() -> impl Strategy<Value = Body> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..20);
    prop_oneof![
        arb_id().prop_map(|id| Body::Query(Query::Ping { id })),
        (arb_id(), arb_id(), arb_want())
            .prop_map(|(id, target, want)| Body::Query(Query::FindNode { id, target, want })),
        (arb_id(), arb_id(), arb_want()).prop_map(|(id, info_hash, want)| Body::Query(
            Query::GetPeers {
                id,
                info_hash,
                want
            }
        )),
        (
            arb_id(),
            arb_id(),
            any::<u16>(),
            any::<bool>(),
            bytes.clone()
        )
            .prop_map(|(id, info_hash, port, implied_port, token)| Body::Query(
                Query::AnnouncePeer {
                    id,
                    info_hash,
                    port,
                    implied_port,
                    token
                }
            )),
        (
            arb_id(),
            proptest::collection::vec(arb_node(false), 0..8),
            proptest::collection::vec(arb_node(true), 0..8),
            proptest::collection::vec(arb_addr(), 0..8),
            proptest::option::of(bytes.clone())
        )
            .prop_map(
                |(id, nodes, nodes6, values, token)| Body::Response(Response {
                    id,
                    nodes,
                    nodes6,
                    values,
                    token
                })
            ),
        (any::<i64>(), bytes).prop_map(|(c, message)| Body::Error(ErrorReply {
            code: ErrorCode::from_code(c),
            message
        })),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Message::decode(&data);
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        body in arb_body(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = msg(body).encode();
        for (i, b) in flips {
            let n = bytes.len();
            if let Some(x) = bytes.get_mut(i % n) { *x = b; }
        }
        if let Err(e) = Message::decode(&bytes) {
            // A reply, when formed, must itself be a valid message.
            if let Some(r) = e.reply() {
                prop_assert!(Message::decode(&r.encode()).is_ok());
            }
        }
    }

    #[test]
    fn encode_decode_round_trip(
        body in arb_body(),
        t in proptest::collection::vec(any::<u8>(), 0..8),
        v in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
        ro in any::<bool>(),
        ip in proptest::option::of(arb_addr()),
    ) {
        let is_query = matches!(body, Body::Query(_));
        let m = Message { transaction: t, version: v, read_only: ro && is_query, requester_ip: ip, body };
        let bytes = m.encode();
        prop_assert_eq!(check_canonical(&bytes, LIMITS), Ok(()));
        prop_assert_eq!(Message::decode(&bytes).unwrap(), m);
    }
}
