//! The KRPC codec (BEP 5) and the compact node and peer lists.
//!
//! Whatever decodes re-encodes to a message that decodes to the same
//! value; an undecodable query is answered (when it may be) with an error
//! that decodes, echoes the transaction and is no larger than the datagram
//! plus a fixed amount (no reflection amplification).

use seedcore_dht::krpc::{decode_nodes, decode_nodes6, decode_peer, Body, Message};

/// Bytes an error reply may add to the datagram it answers.
const ERROR_OVERHEAD: usize = 256;

/// See the module docs.
pub fn run(data: &[u8]) {
    match Message::decode(data) {
        Ok(msg) => {
            let bytes = msg.encode();
            let again = Message::decode(&bytes).expect("our own encoding decodes");
            assert_eq!(again, msg);
            assert_eq!(again.encode(), bytes, "encoding is canonical");
        }
        Err(e) => {
            if let Some(reply) = e.reply() {
                let bytes = reply.encode();
                assert!(
                    bytes.len() <= data.len() + ERROR_OVERHEAD,
                    "a {}-byte datagram got a {}-byte error reply",
                    data.len(),
                    bytes.len()
                );
                let back = Message::decode(&bytes).expect("our error reply decodes");
                assert_eq!(Some(&back.transaction), e.reply_to.as_ref());
                assert!(matches!(back.body, Body::Error(_)));
            }
        }
    }
    // The compact readers keep whole entries only, with a port.
    let nodes = decode_nodes(data);
    assert!(nodes.len() <= data.len() / 26);
    assert!(nodes.iter().all(|n| n.addr.port() != 0 && n.addr.is_ipv4()));
    let nodes6 = decode_nodes6(data);
    assert!(nodes6.len() <= data.len() / 38);
    assert!(nodes6
        .iter()
        .all(|n| n.addr.port() != 0 && n.addr.is_ipv6()));
    if let Some(peer) = decode_peer(data) {
        let mut out = Vec::new();
        seedcore_dht::krpc::encode_peer(&mut out, &peer);
        assert_eq!(out, data);
    }
}
