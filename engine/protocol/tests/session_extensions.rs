//! Extensions a seed serves: ut_metadata, LT_metadata, ut_pex, BEP 52 hash
//! requests.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "session_pair.rs"]
mod pair;

use std::net::SocketAddr;
use std::time::Duration;

use pair::{ext_handshake, v1_torrent, v2_torrent, Got, Pair};
use seedcore_hash::merkle::{self, hash_pair, pad_hash};
use seedcore_hash::{sha1, sha256};
use seedcore_protocol::ext::{LtMetadata, PexFlags, UtMetadata, UtPex, METADATA_PIECE_SIZE};
use seedcore_protocol::metainfo::MetaVersion;
use seedcore_protocol::session::{ext_ids, SessionConfig, SessionError, SessionEvent};
use seedcore_protocol::wire::{split_hashes, HashRequest, Message};

/// Our peer's ids for the extensions (what it advertises to the seed).
const PEER_UT_METADATA: u8 = 3;
const PEER_LT_METADATA: u8 = 4;
const PEER_UT_PEX: u8 = 5;

fn with_ext(p: &mut Pair) {
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[
            ("ut_metadata", PEER_UT_METADATA),
            ("LT_metadata", PEER_LT_METADATA),
            ("ut_pex", PEER_UT_PEX),
        ]),
    });
    p.leecher.take();
    p.take_events();
}

fn extended_payloads(got: &[Got], want: u8) -> Vec<Vec<u8>> {
    got.iter()
        .filter_map(|g| match g {
            Got::Extended { id, payload } if *id == want => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn ut_metadata_pieces_reassemble_to_the_info_dictionary() {
    // 2,000 pieces of 1 KiB: a 40 KB `pieces` string, three metadata pieces.
    let t = v1_torrent(2000 * 1024, 1024, false);
    let size = t.meta.info_bytes.len();
    assert!(size > 2 * METADATA_PIECE_SIZE);
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    let n = size.div_ceil(METADATA_PIECE_SIZE) as u32;
    let mut info = Vec::new();
    for piece in 0..n {
        p.send(Message::Extended {
            id: ext_ids::UT_METADATA,
            payload: &UtMetadata::Request { piece }.to_vec().unwrap(),
        });
        let got = p.leecher.take();
        let payloads = extended_payloads(&got, PEER_UT_METADATA);
        assert_eq!(payloads.len(), 1);
        match UtMetadata::decode(&payloads[0]).unwrap() {
            UtMetadata::Data {
                piece: pc,
                total_size,
                data,
            } => {
                assert_eq!((pc, total_size as usize), (piece, size));
                info.extend_from_slice(data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(info, t.meta.info_bytes);
    assert_eq!(sha1(&info), t.meta.info_hashes.v1.unwrap().0);
    // Out of range: rejected.
    for piece in [n, u32::MAX] {
        p.send(Message::Extended {
            id: ext_ids::UT_METADATA,
            payload: &UtMetadata::Request { piece }.to_vec().unwrap(),
        });
        let payloads = extended_payloads(&p.leecher.take(), PEER_UT_METADATA);
        assert_eq!(
            UtMetadata::decode(&payloads[0]).unwrap(),
            UtMetadata::Reject { piece }
        );
    }
    assert!(p.error.is_none());
}

#[test]
fn ut_metadata_is_served_for_private_torrents_too() {
    let t = v1_torrent(8 * 16384, 16384, true);
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    p.send(Message::Extended {
        id: ext_ids::UT_METADATA,
        payload: &UtMetadata::Request { piece: 0 }.to_vec().unwrap(),
    });
    let payloads = extended_payloads(&p.leecher.take(), PEER_UT_METADATA);
    assert!(matches!(
        UtMetadata::decode(&payloads[0]).unwrap(),
        UtMetadata::Data { .. }
    ));
}

#[test]
fn lt_metadata_serves_256ths() {
    let t = v1_torrent(2000 * 1024, 1024, false);
    let info = &t.meta.info_bytes;
    let total = info.len();
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    let mut assembled = Vec::new();
    for (start, size) in [(0u8, 128u16), (128, 128)] {
        p.send(Message::Extended {
            id: ext_ids::LT_METADATA,
            payload: &LtMetadata::Request { start, size }.to_vec().unwrap(),
        });
        let payloads = extended_payloads(&p.leecher.take(), PEER_LT_METADATA);
        match LtMetadata::decode(&payloads[0]).unwrap() {
            LtMetadata::Metadata {
                total_size,
                offset,
                data,
            } => {
                assert_eq!(total_size as usize, total);
                assert_eq!(offset as usize, usize::from(start) * total / 256);
                assembled.extend_from_slice(data);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&assembled, info);
    // Past the end: "don't have".
    p.send(Message::Extended {
        id: ext_ids::LT_METADATA,
        payload: &LtMetadata::Request {
            start: 200,
            size: 100,
        }
        .to_vec()
        .unwrap(),
    });
    let payloads = extended_payloads(&p.leecher.take(), PEER_LT_METADATA);
    assert_eq!(
        LtMetadata::decode(&payloads[0]).unwrap(),
        LtMetadata::DontHave
    );
}

#[test]
fn metadata_requests_without_an_advertised_id_are_ignored() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    p.send(Message::Extended {
        id: ext_ids::UT_METADATA,
        payload: &UtMetadata::Request { piece: 0 }.to_vec().unwrap(),
    });
    assert!(p.leecher.take().is_empty());
    assert!(p.error.is_none());
}

fn peers(n: u16) -> Vec<(SocketAddr, PexFlags)> {
    (0..n)
        .map(|i| {
            (
                SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 6881)),
                PexFlags(PexFlags::SEED),
            )
        })
        .collect()
}

#[test]
fn pex_is_sent_to_peers_that_advertise_it() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    // Before the peer's extended handshake: nothing.
    assert!(!p.session.send_pex(&peers(3), &[]));
    with_ext(&mut p);
    let mut added = peers(80);
    // The peer itself (its IP and listen port) is left out.
    added.insert(0, ("80.4.4.200:6881".parse().unwrap(), PexFlags(0)));
    added.push(("[2001:db8::1]:6881".parse().unwrap(), PexFlags(0)));
    let dropped: Vec<SocketAddr> = vec!["10.9.9.9:1".parse().unwrap()];
    assert!(p.session.send_pex(&added, &dropped));
    p.flush();
    let payloads = extended_payloads(&p.leecher.take(), PEER_UT_PEX);
    let pex = UtPex::decode(&payloads[0]).unwrap();
    assert_eq!(pex.added.len(), 50, "at most 50 added per message");
    assert!(pex
        .added
        .iter()
        .all(|(a, f)| a.ip().octets()[0] == 10 && f.seed()));
    assert_eq!(pex.dropped, ["10.9.9.9:1".parse().unwrap()]);
    // Nothing to say: nothing sent.
    assert!(!p.session.send_pex(&[], &[]));
}

#[test]
fn pex_is_never_sent_for_private_torrents() {
    let t = v1_torrent(8 * 16384, 16384, true);
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    assert!(!p.session.send_pex(&peers(5), &[]));
    p.flush();
    assert!(extended_payloads(&p.leecher.take(), PEER_UT_PEX).is_empty());
    // And PEX from the peer is ignored.
    let pex = UtPex {
        added: vec![("1.2.3.4:5".parse().unwrap(), PexFlags(0))],
        ..UtPex::default()
    };
    p.send(Message::Extended {
        id: ext_ids::UT_PEX,
        payload: &pex.to_vec().unwrap(),
    });
    assert!(p.take_events().is_empty());
}

#[test]
fn pex_from_the_peer_becomes_an_event_at_most_once_a_minute() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    let pex = UtPex {
        added: vec![("1.2.3.4:5".parse().unwrap(), PexFlags(PexFlags::SEED))],
        dropped: vec!["5.6.7.8:9".parse().unwrap()],
        ..UtPex::default()
    };
    let payload = pex.to_vec().unwrap();
    p.send(Message::Extended {
        id: ext_ids::UT_PEX,
        payload: &payload,
    });
    match &p.take_events()[..] {
        [SessionEvent::Pex(got)] => {
            assert_eq!(got.added, pex.added);
            assert_eq!(got.dropped, pex.dropped);
        }
        e => panic!("{e:?}"),
    }
    p.send(Message::Extended {
        id: ext_ids::UT_PEX,
        payload: &payload,
    });
    assert!(p.take_events().is_empty());
    p.advance(Duration::from_secs(60));
    p.send(Message::Extended {
        id: ext_ids::UT_PEX,
        payload: &payload,
    });
    assert_eq!(p.take_events().len(), 1);
}

#[test]
fn bad_extension_messages_are_tolerated_up_to_a_bound() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    with_ext(&mut p);
    for i in 0..16 {
        p.send(Message::Extended {
            id: ext_ids::UT_PEX,
            payload: b"not bencode",
        });
        assert!(p.error.is_none(), "{i}");
    }
    // Unknown ut_metadata types do not count (BEP 9: ignore them).
    p.send(Message::Extended {
        id: ext_ids::UT_METADATA,
        payload: b"d8:msg_typei9e5:piecei0ee",
    });
    assert!(p.error.is_none());
    p.send(Message::Extended {
        id: ext_ids::UT_PEX,
        payload: b"not bencode",
    });
    assert!(matches!(
        p.error,
        Some(SessionError::BadExtensionMessages { count: 17, .. })
    ));
}

#[test]
fn extended_message_without_ltep_closes() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    p.leecher.reserved.set_extension_protocol(false);
    p.handshake(t.meta.info_hashes.wire_hash());
    // No extended handshake for a peer without LTEP.
    assert!(!p
        .leecher
        .take()
        .iter()
        .any(|g| matches!(g, Got::Extended { .. })));
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[]),
    });
    assert!(matches!(p.error, Some(SessionError::NotNegotiated { .. })));
}

/// Rebuilds the root from a `hashes` answer whose base layer is `base`:
/// the requested hashes, then one uncle per proof layer (those the hashes
/// imply are left out, as BEP 52 says).
fn root_from_proof(req: &HashRequest, hashes: &[[u8; 32]]) -> [u8; 32] {
    let len = req.length as usize;
    let span = len.next_power_of_two();
    let mut layer: Vec<[u8; 32]> = hashes[..len].to_vec();
    layer.resize(span, pad_hash(req.base_layer));
    let mut height = req.base_layer;
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|c| hash_pair(&c[0], &c[1])).collect();
        height += 1;
    }
    let _ = height;
    let implied = span.trailing_zeros();
    let mut node = layer[0];
    let mut index = u64::from(req.index) >> implied;
    let uncles = &hashes[len..];
    let mut used = 0;
    for j in 1..=req.proof_layers {
        if j < implied {
            continue;
        }
        let uncle = uncles[used];
        used += 1;
        node = if index & 1 == 0 {
            hash_pair(&node, &uncle)
        } else {
            hash_pair(&uncle, &node)
        };
        index >>= 1;
    }
    assert_eq!(used, uncles.len());
    node
}

#[test]
fn hash_request_is_answered_with_a_proof_that_verifies() {
    // 13 pieces of 32 KiB (2 leaves each): piece layer at height 1, root at
    // height 5 (26 leaves padded to 32).
    let pl = 32768u32;
    for version in [MetaVersion::V2, MetaVersion::Hybrid] {
        let t = v2_torrent(13 * pl as usize - 5000, pl, version);
        let root = t.meta.info.files[0].pieces_root.unwrap();
        let mut p = Pair::connected(&t, true);
        p.leecher.take();
        for (index, length, proof_layers) in [
            (0u32, 2u32, 3u32),
            (4, 4, 3),
            (8, 8, 3),
            (12, 2, 3),
            (2, 2, 3),
        ] {
            let req = HashRequest {
                pieces_root: root,
                base_layer: 1,
                index,
                length,
                proof_layers,
            };
            p.send(Message::HashRequest(req));
            let got = p.leecher.take();
            let Some(Got::Hashes { request, hashes }) = got.first() else {
                panic!("{got:?}")
            };
            assert_eq!(request, &req);
            let hashes: Vec<[u8; 32]> = split_hashes(hashes).copied().collect();
            // The requested piece hashes are the torrent's piece layer.
            let layer = &t.meta.piece_layers[&root];
            for (i, h) in hashes[..length as usize].iter().enumerate() {
                let want = layer
                    .get(index as usize + i)
                    .copied()
                    .unwrap_or(pad_hash(1));
                assert_eq!(h, &want);
            }
            assert_eq!(root_from_proof(&req, &hashes), root, "{req:?}");
        }
        // Leaf hashes (below the piece layer) and unknown roots: rejected.
        let rejected = [
            HashRequest {
                pieces_root: root,
                base_layer: 0,
                index: 0,
                length: 2,
                proof_layers: 0,
            },
            HashRequest {
                pieces_root: [9; 32],
                base_layer: 1,
                index: 0,
                length: 2,
                proof_layers: 0,
            },
            HashRequest {
                pieces_root: root,
                base_layer: 1,
                index: 1,
                length: 2,
                proof_layers: 0,
            },
            // Past the root's children.
            HashRequest {
                pieces_root: root,
                base_layer: 1,
                index: 0,
                length: 2,
                proof_layers: 4,
            },
            // BEP 52: the length must be a power of two (issue 8: 3 was
            // answered).
            HashRequest {
                pieces_root: root,
                base_layer: 1,
                index: 0,
                length: 3,
                proof_layers: 0,
            },
            // BEP 52: "MUST be equal to or greater than 2" (found by the
            // session fuzz target).
            HashRequest {
                pieces_root: root,
                base_layer: 1,
                index: 0,
                length: 1,
                proof_layers: 0,
            },
            HashRequest {
                pieces_root: root,
                base_layer: 1,
                index: 0,
                length: 6,
                proof_layers: 2,
            },
            // More than 512 hashes.
            HashRequest {
                pieces_root: root,
                base_layer: 0,
                index: 0,
                length: 1024,
                proof_layers: 0,
            },
        ];
        for req in rejected {
            p.send(Message::HashRequest(req));
            assert_eq!(p.leecher.take(), [Got::HashReject(req)]);
        }
        assert!(p.error.is_none());
        // Answered and rejected requests alike are counted (for metrics).
        assert_eq!(
            p.session.stats(p.now).hash_requests,
            5 + rejected.len() as u64
        );
    }
    // Sanity of the helper against the hash crate.
    let leaves: Vec<[u8; 32]> = (0..4u8).map(|i| sha256(&[i])).collect();
    assert_eq!(
        merkle::root(&leaves),
        hash_pair(
            &hash_pair(&leaves[0], &leaves[1]),
            &hash_pair(&leaves[2], &leaves[3])
        )
    );
}

#[test]
fn hash_requests_on_v1_torrents_are_rejected() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    let req = HashRequest {
        pieces_root: [1; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 0,
    };
    p.send(Message::HashRequest(req));
    assert_eq!(p.leecher.take(), [Got::HashReject(req)]);
}

/// Hash answers are built only when the socket has room, and only as many
/// as half the peer's byte budget holds: a peer that asks for many proofs
/// without reading gets `hash reject`s, then is closed when even those do
/// not fit; one that reads gets every answer.
#[test]
fn hash_requests_wait_for_the_socket_within_the_budget() {
    let pl = 32768u32;
    let t = v2_torrent(13 * pl as usize - 5000, pl, MetaVersion::V2);
    let root = t.meta.info.files[0].pieces_root.unwrap();
    let config = SessionConfig {
        peer_budget: 8192,
        ..SessionConfig::default()
    };
    let mut p = Pair::connected_with(&t, config, true);
    p.leecher.take();
    p.writable = false;
    let req = HashRequest {
        pieces_root: root,
        base_layer: 1,
        index: 0,
        length: 8,
        proof_layers: 3,
    };
    let mut wire = Vec::new();
    for _ in 0..40 {
        Message::HashRequest(req).encode(&mut wire).unwrap();
    }
    p.send_raw(&wire);
    assert!(p.error.is_none(), "{:?}", p.error);
    assert!(p.session.held_bytes() <= 8192);
    p.writable = true;
    p.flush();
    let got = p.leecher.take();
    let answered = got
        .iter()
        .filter(|g| matches!(g, Got::Hashes { .. }))
        .count();
    let rejected = got
        .iter()
        .filter(|g| matches!(g, Got::HashReject(_)))
        .count();
    // Each answer is counted at 53 + 32 * (8 + 3) = 405 bytes: 4096 / 405.
    assert_eq!((answered, rejected), (10, 30), "{got:?}");
    // The same without ever reading: closed once the rejects fill the rest.
    p.writable = false;
    for _ in 0..10 {
        p.send_raw(&wire);
    }
    assert!(
        matches!(p.error, Some(SessionError::OverBudget { .. })),
        "{:?}",
        p.error
    );
}
