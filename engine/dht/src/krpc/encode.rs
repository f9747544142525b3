//! KRPC encoding through the project's bencode writer
//! (`seedcore_protocol::bencode::OwnedValue`), whose dictionaries are kept
//! in byte order, so every message is canonical bencode whatever order the
//! code below inserts its keys in.

use seedcore_protocol::bencode::OwnedValue;

use super::compact::{encode_node, encode_peer, NODE_LEN_V4, NODE_LEN_V6};
use super::{Body, Message, Query, Response, Want};

pub(super) fn encode(m: &Message) -> Vec<u8> {
    let mut root = OwnedValue::dict();
    match &m.body {
        Body::Query(q) => {
            root.insert("a", args(q));
            root.insert("q", OwnedValue::str(q.method()));
        }
        Body::Response(r) => root.insert("r", response(r)),
        Body::Error(e) => root.insert(
            "e",
            OwnedValue::List(vec![
                OwnedValue::int(e.code.code()),
                OwnedValue::bytes(&e.message),
            ]),
        ),
    }
    if let Some(ip) = &m.requester_ip {
        let mut b = Vec::with_capacity(18);
        encode_peer(&mut b, ip);
        root.insert("ip", OwnedValue::Bytes(b));
    }
    if m.read_only && matches!(m.body, Body::Query(_)) {
        root.insert("ro", OwnedValue::int(1));
    }
    root.insert("t", OwnedValue::bytes(&m.transaction));
    if let Some(v) = &m.version {
        root.insert("v", OwnedValue::bytes(v));
    }
    let y = match m.body {
        Body::Query(_) => "q",
        Body::Response(_) => "r",
        Body::Error(_) => "e",
    };
    root.insert("y", OwnedValue::str(y));
    let mut out = Vec::with_capacity(128);
    root.encode_into(&mut out);
    out
}

fn want(w: &Want) -> OwnedValue {
    let mut families = Vec::with_capacity(2);
    if w.v4 {
        families.push(OwnedValue::str("n4"));
    }
    if w.v6 {
        families.push(OwnedValue::str("n6"));
    }
    OwnedValue::List(families)
}

fn args(q: &Query) -> OwnedValue {
    let mut a = OwnedValue::dict().with("id", OwnedValue::bytes(q.sender_id().as_bytes()));
    match q {
        Query::Ping { .. } => {}
        Query::FindNode {
            target, want: w, ..
        } => {
            a.insert("target", OwnedValue::bytes(target.as_bytes()));
            if let Some(w) = w {
                a.insert("want", want(w));
            }
        }
        Query::GetPeers {
            info_hash, want: w, ..
        } => {
            a.insert("info_hash", OwnedValue::bytes(info_hash.as_bytes()));
            if let Some(w) = w {
                a.insert("want", want(w));
            }
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            ..
        } => {
            if *implied_port {
                a.insert("implied_port", OwnedValue::int(1));
            }
            a.insert("info_hash", OwnedValue::bytes(info_hash.as_bytes()));
            a.insert("port", OwnedValue::int(*port));
            a.insert("token", OwnedValue::bytes(token));
        }
    }
    a
}

fn response(r: &Response) -> OwnedValue {
    let mut d = OwnedValue::dict().with("id", OwnedValue::bytes(r.id.as_bytes()));
    // A contact of the wrong family for its key is left out rather than
    // written with the wrong entry size.
    let mut b = Vec::with_capacity(r.nodes.len() * NODE_LEN_V4);
    r.nodes
        .iter()
        .filter(|n| n.addr.is_ipv4())
        .for_each(|n| encode_node(&mut b, n));
    if !b.is_empty() {
        d.insert("nodes", OwnedValue::Bytes(b));
    }
    let mut b = Vec::with_capacity(r.nodes6.len() * NODE_LEN_V6);
    r.nodes6
        .iter()
        .filter(|n| n.addr.is_ipv6())
        .for_each(|n| encode_node(&mut b, n));
    if !b.is_empty() {
        d.insert("nodes6", OwnedValue::Bytes(b));
    }
    if let Some(t) = &r.token {
        d.insert("token", OwnedValue::bytes(t));
    }
    if !r.values.is_empty() {
        let peers = r
            .values
            .iter()
            .map(|v| {
                let mut b = Vec::with_capacity(18);
                encode_peer(&mut b, v);
                OwnedValue::Bytes(b)
            })
            .collect();
        d.insert("values", OwnedValue::List(peers));
    }
    d
}
