//! Compact encodings: peers (address + port) and nodes (id + peer).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::NodeInfo;
use crate::id::NodeId;

/// Bytes of one IPv4 compact node entry (`nodes`).
pub const NODE_LEN_V4: usize = 26;
/// Bytes of one IPv6 compact node entry (`nodes6`).
pub const NODE_LEN_V6: usize = 38;

/// A compact peer: 6 bytes (IPv4) or 18 bytes (IPv6), else `None`.
pub fn decode_peer(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        6 => {
            let ip: [u8; 4] = b.get(..4)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(4..6)?.try_into().ok()?);
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        18 => {
            let ip: [u8; 16] = b.get(..16)?.try_into().ok()?;
            let port = u16::from_be_bytes(b.get(16..18)?.try_into().ok()?);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                0,
                0,
            )))
        }
        _ => None,
    }
}

/// Appends the compact form of `addr` (6 or 18 bytes).
pub fn encode_peer(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
        SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Appends one compact node entry (26 or 38 bytes by address family).
pub fn encode_node(out: &mut Vec<u8>, node: &NodeInfo) {
    out.extend_from_slice(node.id.as_bytes());
    encode_peer(out, &node.addr);
}

fn decode_entries(b: &[u8], len: usize) -> Vec<NodeInfo> {
    b.chunks_exact(len)
        .filter_map(|c| {
            let (id, peer) = c.split_at_checked(20)?;
            Some(NodeInfo {
                id: NodeId::from_slice(id)?,
                addr: decode_peer(peer)?,
            })
        })
        .filter(|n| n.addr.port() != 0)
        .collect()
}

/// The entries of a `nodes` string; a trailing partial entry is ignored,
/// as are entries with port 0 (nobody listens there).
pub fn decode_nodes(b: &[u8]) -> Vec<NodeInfo> {
    decode_entries(b, NODE_LEN_V4)
}

/// The entries of a `nodes6` string (see [`decode_nodes`]).
pub fn decode_nodes6(b: &[u8]) -> Vec<NodeInfo> {
    decode_entries(b, NODE_LEN_V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_round_trip() {
        for a in ["1.2.3.4:6881", "[2001:db8::1]:51413"] {
            let a: SocketAddr = a.parse().unwrap();
            let mut out = Vec::new();
            encode_peer(&mut out, &a);
            assert_eq!(decode_peer(&out), Some(a));
        }
        assert_eq!(decode_peer(b"12345"), None);
        // The BEP 5 example value "axje.u".
        assert_eq!(
            decode_peer(b"axje.u"),
            Some("97.120.106.101:11893".parse().unwrap())
        );
    }

    #[test]
    fn nodes_ignore_trailing_partial_entry() {
        let n = NodeInfo {
            id: NodeId([7; 20]),
            addr: "10.0.0.1:1000".parse().unwrap(),
        };
        let mut out = Vec::new();
        encode_node(&mut out, &n);
        assert_eq!(out.len(), NODE_LEN_V4);
        out.extend_from_slice(b"junk");
        assert_eq!(decode_nodes(&out), vec![n]);
        assert!(decode_nodes(b"def456...").is_empty());
    }
}
