//! A whole DHT node ([`Dht`]) on virtual time, fed what a hostile network
//! can send: raw datagrams from a handful of addresses, well-formed queries
//! with fuzzed fields, and answers to the node's own queries (right
//! transaction id, fuzzed contents), interleaved with timers and the
//! runtime's calls (lookups, announces, pings).
//!
//! Invariants: nothing panics; every datagram the node sends decodes as
//! KRPC and fits one datagram (1,472 bytes); one datagram in never makes
//! more than a few datagrams out (no amplification); the node's tables stay
//! within their configured bounds; responses and errors are never answered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use seedcore_dht::krpc::{Body, Message, NodeInfo, Query, Response};
use seedcore_dht::{Config, Dht, NodeId};

use crate::bytes::Bytes;

/// Largest datagram the node may send (a 1,500-byte MTU less IP and UDP).
const MAX_DATAGRAM: usize = 1472;
/// Most datagrams one incoming datagram may cause (an answer, plus the
/// next round of a lookup it advanced).
const MAX_OUT_PER_IN: usize = 12;

fn addr(b: &mut Bytes<'_>) -> SocketAddr {
    let port = 6881 + u16::from(b.u8() % 4);
    let host = b.u8();
    if host & 0x80 != 0 {
        SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                0,
                u16::from(host & 7),
            )),
            port,
        )
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host & 7)), port)
    }
}

fn id(b: &mut Bytes<'_>) -> NodeId {
    // Few distinct ids, so ids repeat and collide with our own.
    let mut raw = [0u8; 20];
    let k = b.u8();
    raw[0] = k & 0xf0;
    raw[19] = k & 0x0f;
    NodeId(raw)
}

fn nodes(b: &mut Bytes<'_>) -> Vec<NodeInfo> {
    let n = b.below(12);
    (0..n)
        .map(|_| NodeInfo {
            id: id(b),
            addr: addr(b),
        })
        .collect()
}

fn query(b: &mut Bytes<'_>, token: &[u8]) -> Query {
    let me = id(b);
    match b.u8() % 4 {
        0 => Query::Ping { id: me },
        1 => Query::FindNode {
            id: me,
            target: id(b),
            want: None,
        },
        2 => Query::GetPeers {
            id: me,
            info_hash: id(b),
            want: None,
        },
        _ => Query::AnnouncePeer {
            id: me,
            info_hash: id(b),
            port: b.u16(),
            implied_port: b.bool(),
            token: if b.bool() {
                token.to_vec()
            } else {
                b.chunk().to_vec()
            },
        },
    }
}

/// See the module docs.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let t0 = Instant::now();
    let mut now = t0;
    let mut cfg = Config::new([b.u8(); 32]);
    cfg.bootstrap.push(SocketAddr::from(([10, 0, 0, 1], 6881)));
    cfg.max_pending = 16;
    cfg.max_lookups = 4;
    cfg.max_info_hashes = 8;
    cfg.max_peers_per_hash = 4;
    cfg.max_transmits = 64;
    cfg.max_events = 64;
    cfg.read_only = b.u8() == 0xff;
    let limits = cfg.clone();
    let mut dht = Dht::new(cfg, now);
    // The last query the node sent, for answering it; the last token it gave.
    let mut last_query: Option<(SocketAddr, Vec<u8>)> = None;
    let mut token = Vec::new();
    let mut steps = 0;
    while !b.is_empty() && steps < 2000 {
        steps += 1;
        let mut incoming = true;
        let mut answered_an_answer = false;
        match b.u8() % 8 {
            0 => {
                let from = addr(&mut b);
                let raw = b.chunk();
                dht.handle_datagram(now, from, raw);
            }
            1 => {
                let from = addr(&mut b);
                let t_len = b.below(5);
                let msg = Message {
                    transaction: b.take(t_len).to_vec(),
                    version: None,
                    read_only: b.bool(),
                    requester_ip: None,
                    body: Body::Query(query(&mut b, &token)),
                };
                dht.handle_datagram(now, from, &msg.encode());
            }
            2 => {
                // Answer the node's last query, or not quite.
                let Some((to, t)) = last_query.clone() else {
                    continue;
                };
                let from = if b.u8() < 200 { to } else { addr(&mut b) };
                let values = (0..b.below(8)).map(|_| addr(&mut b)).collect();
                let body = match b.u8() % 8 {
                    0 => Body::Error(seedcore_dht::krpc::ErrorReply {
                        code: seedcore_dht::krpc::ErrorCode::Generic,
                        message: b.chunk().to_vec(),
                    }),
                    _ => Body::Response(Response {
                        id: id(&mut b),
                        nodes: nodes(&mut b),
                        nodes6: Vec::new(),
                        values,
                        token: b.bool().then(|| b.chunk().to_vec()),
                    }),
                };
                answered_an_answer = true;
                let msg = Message {
                    transaction: t,
                    version: None,
                    read_only: false,
                    requester_ip: None,
                    body,
                };
                dht.handle_datagram(now, from, &msg.encode());
            }
            3 => {
                incoming = false;
                let ms = u64::from(b.u16()) * u64::from(b.u8() % 16 + 1) * 10;
                now += Duration::from_millis(ms);
                dht.handle_timeout(now);
            }
            4 => {
                incoming = false;
                let _ = dht.get_peers(now, id(&mut b));
            }
            5 => {
                incoming = false;
                let port = b.bool().then(|| b.u16());
                let _ = dht.announce(now, id(&mut b), port);
            }
            6 => {
                incoming = false;
                let _ = dht.ping_node(now, addr(&mut b));
            }
            _ => {
                incoming = false;
                let _ = dht.bootstrap(now);
            }
        }
        let mut out = 0;
        while let Some((to, bytes)) = dht.poll_transmit(now) {
            out += 1;
            assert!(
                bytes.len() <= MAX_DATAGRAM,
                "{}-byte datagram to {to}",
                bytes.len()
            );
            let msg = Message::decode(&bytes).expect("the node sends KRPC");
            match &msg.body {
                Body::Query(_) => last_query = Some((to, msg.transaction.clone())),
                Body::Response(r) => {
                    if let Some(t) = &r.token {
                        token.clone_from(t);
                    }
                }
                Body::Error(_) => {}
            }
            let query = matches!(msg.body, Body::Query(_));
            assert!(!limits.read_only || query, "a read-only node answered");
            assert!(
                !answered_an_answer || query,
                "an answer was answered: {msg:?}"
            );
        }
        if incoming {
            assert!(out <= MAX_OUT_PER_IN, "one datagram caused {out} datagrams");
        }
        while dht.poll_event().is_some() {}
        assert!(dht.pending_queries() <= limits.max_pending);
        assert!(dht.running_lookups() <= limits.max_lookups);
        let (hashes, peers) = dht.stored_peers();
        assert!(
            hashes <= limits.max_info_hashes,
            "{hashes} info-hashes stored"
        );
        assert!(peers <= limits.max_info_hashes * limits.max_peers_per_hash);
        assert!(dht.table().len() <= 160 * 8 + 8);
        if let Some(t) = dht.poll_timeout() {
            assert!(t >= t0);
        }
    }
}
