//! KRPC encoding. Each dictionary is written with its keys in sorted order
//! (the order of the code below), so the output is canonical bencode.

use super::compact::{encode_node, encode_peer};
use super::{Body, Message, Query, Response, Want};
use crate::bencode::{put_bytes, put_int, put_kv_bytes, put_kv_int};

pub(super) fn encode(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    out.push(b'd');
    // Top-level keys in sorted order: a, e, ip, q, r, ro, t, v, y.
    match &m.body {
        Body::Query(q) => {
            put_bytes(&mut out, b"a");
            encode_args(&mut out, q);
        }
        Body::Error(e) => {
            put_bytes(&mut out, b"e");
            out.push(b'l');
            put_int(&mut out, e.code.code());
            put_bytes(&mut out, &e.message);
            out.push(b'e');
        }
        Body::Response(_) => {}
    }
    if let Some(ip) = &m.requester_ip {
        let mut b = Vec::with_capacity(18);
        encode_peer(&mut b, ip);
        put_kv_bytes(&mut out, b"ip", &b);
    }
    match &m.body {
        Body::Query(q) => put_kv_bytes(&mut out, b"q", q.method().as_bytes()),
        Body::Response(r) => {
            put_bytes(&mut out, b"r");
            encode_response(&mut out, r);
        }
        Body::Error(_) => {}
    }
    if m.read_only && matches!(m.body, Body::Query(_)) {
        put_kv_int(&mut out, b"ro", 1);
    }
    put_kv_bytes(&mut out, b"t", &m.transaction);
    if let Some(v) = &m.version {
        put_kv_bytes(&mut out, b"v", v);
    }
    let y: &[u8] = match m.body {
        Body::Query(_) => b"q",
        Body::Response(_) => b"r",
        Body::Error(_) => b"e",
    };
    put_kv_bytes(&mut out, b"y", y);
    out.push(b'e');
    out
}

fn put_want(out: &mut Vec<u8>, want: &Option<Want>) {
    if let Some(w) = want {
        put_bytes(out, b"want");
        out.push(b'l');
        if w.v4 {
            put_bytes(out, b"n4");
        }
        if w.v6 {
            put_bytes(out, b"n6");
        }
        out.push(b'e');
    }
}

fn encode_args(out: &mut Vec<u8>, q: &Query) {
    out.push(b'd');
    // Sorted: id, implied_port, info_hash, port, target, token, want.
    put_kv_bytes(out, b"id", q.sender_id().as_bytes());
    match q {
        Query::Ping { .. } => {}
        Query::FindNode { target, want, .. } => {
            put_kv_bytes(out, b"target", target.as_bytes());
            put_want(out, want);
        }
        Query::GetPeers {
            info_hash, want, ..
        } => {
            put_kv_bytes(out, b"info_hash", info_hash.as_bytes());
            put_want(out, want);
        }
        Query::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            ..
        } => {
            if *implied_port {
                put_kv_int(out, b"implied_port", 1);
            }
            put_kv_bytes(out, b"info_hash", info_hash.as_bytes());
            put_kv_int(out, b"port", i64::from(*port));
            put_kv_bytes(out, b"token", token);
        }
    }
    out.push(b'e');
}

fn encode_response(out: &mut Vec<u8>, r: &Response) {
    out.push(b'd');
    // Sorted: id, nodes, nodes6, token, values.
    put_kv_bytes(out, b"id", r.id.as_bytes());
    // A contact of the wrong family for its key is left out rather than
    // written with the wrong entry size.
    let mut b = Vec::with_capacity(r.nodes.len() * 26);
    r.nodes
        .iter()
        .filter(|n| n.addr.is_ipv4())
        .for_each(|n| encode_node(&mut b, n));
    if !b.is_empty() {
        put_kv_bytes(out, b"nodes", &b);
    }
    b.clear();
    r.nodes6
        .iter()
        .filter(|n| n.addr.is_ipv6())
        .for_each(|n| encode_node(&mut b, n));
    if !b.is_empty() {
        put_kv_bytes(out, b"nodes6", &b);
    }
    if let Some(t) = &r.token {
        put_kv_bytes(out, b"token", t);
    }
    if !r.values.is_empty() {
        put_bytes(out, b"values");
        out.push(b'l');
        for v in &r.values {
            let mut b = Vec::with_capacity(18);
            encode_peer(&mut b, v);
            put_bytes(out, &b);
        }
        out.push(b'e');
    }
    out.push(b'e');
}
