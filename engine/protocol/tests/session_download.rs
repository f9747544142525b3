//! Serving blocks: a full download through the pair, and every way a
//! request can be refused.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "session_pair.rs"]
mod pair;

use pair::{all_blocks, ext_handshake, v1_torrent, v2_torrent, Got, Pair};
use seedcore_hash::sha1;
use seedcore_protocol::ext::LtDontHave;
use seedcore_protocol::metainfo::MetaVersion;
use seedcore_protocol::session::QUEUED_REQUEST_COST;
use seedcore_protocol::session::{ext_ids, SessionConfig, SessionError, SessionEvent, TorrentId};
use seedcore_protocol::wire::{BlockRequest, Message};

fn req(index: u32, begin: u32, length: u32) -> BlockRequest {
    BlockRequest {
        index,
        begin,
        length,
    }
}

fn pieces_received(got: &[Got]) -> Vec<(u32, u32, Vec<u8>)> {
    got.iter()
        .filter_map(|g| match g {
            Got::Piece { index, begin, data } => Some((*index, *begin, data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn full_download_every_block_checked() {
    // 7 pieces of 64 KiB and a short last one: 4 blocks per piece, short
    // last block.
    let pl = 65536u32;
    let total = 7 * pl as usize + 20_000;
    let t = v1_torrent(total, pl, false);
    for fast in [true, false] {
        let mut p = Pair::connected(&t, fast);
        p.leecher.take();
        p.send(Message::Interested);
        assert!(p.session.is_interested());
        assert!(p
            .take_events()
            .contains(&SessionEvent::InterestChanged(true)));
        p.session.set_choked(p.now, false);
        p.flush();
        assert_eq!(p.leecher.take(), [Got::Unchoke]);

        // Pipelined: 40 requests in flight at a time.
        let blocks = all_blocks(total, pl);
        let mut got = Vec::new();
        for chunk in blocks.chunks(40) {
            let mut wire = Vec::new();
            for b in chunk {
                Message::Request(*b).encode(&mut wire).unwrap();
            }
            p.send_raw(&wire);
            got.extend(pieces_received(&p.leecher.take()));
        }
        assert_eq!(got.len(), blocks.len());
        let mut assembled = vec![0u8; total];
        for ((index, begin, data), b) in got.iter().zip(&blocks) {
            assert_eq!(
                (*index, *begin, data.len() as u32),
                (b.index, b.begin, b.length)
            );
            let off = *index as usize * pl as usize + *begin as usize;
            assert_eq!(&t.data[off..off + data.len()], &data[..], "block {b:?}");
            assembled[off..off + data.len()].copy_from_slice(data);
        }
        // Every piece hashes to the torrent's piece hash.
        for (i, piece) in assembled.chunks(pl as usize).enumerate() {
            assert_eq!(sha1(piece), t.meta.info.pieces[i]);
        }
        let stats = p.session.stats(p.now);
        assert_eq!(stats.uploaded, total as u64);
        assert!(stats.sent > total as u64);
        assert_eq!(stats.queued_requests, 0);
        assert_eq!(stats.requests, blocks.len() as u64);
        assert_eq!(stats.refused_requests, 0);
        assert!(p.error.is_none());
    }
}

#[test]
fn requests_wait_for_the_socket_and_cancel_removes_them() {
    let t = v1_torrent(4 * 16384, 16384, false);
    for fast in [true, false] {
        let mut p = Pair::connected(&t, fast);
        p.leecher.take();
        p.session.set_choked(p.now, false);
        p.flush();
        p.leecher.take();
        // The socket is full: requests queue up inside the session.
        p.writable = false;
        for i in 0..4 {
            p.send(Message::Request(req(i, 0, 16384)));
        }
        assert_eq!(p.session.queued_requests(), 4);
        assert!(p.session.has_transmit());
        p.send(Message::Cancel(req(2, 0, 16384)));
        assert_eq!(p.session.queued_requests(), 3);
        // A cancel for something never requested changes nothing.
        p.send(Message::Cancel(req(3, 0, 100)));
        assert_eq!(p.session.queued_requests(), 3);
        p.writable = true;
        p.flush();
        let got = p.leecher.take();
        let served: Vec<u32> = pieces_received(&got).iter().map(|b| b.0).collect();
        assert_eq!(served, [0, 1, 3]);
        // BEP 6: Fast peers get a reject for the cancelled request.
        let rejects: Vec<&Got> = got.iter().filter(|g| matches!(g, Got::Reject(_))).collect();
        if fast {
            assert_eq!(rejects, [&Got::Reject(req(2, 0, 16384))]);
        } else {
            assert!(rejects.is_empty());
        }
    }
}

#[test]
fn choke_rejects_queued_requests_for_fast_peers() {
    let t = v1_torrent(1313 * 1024, 1024, false);
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    let fast_piece = p.session.allowed_fast()[0];
    let normal: Vec<u32> = (0..1313)
        .filter(|i| !p.session.allowed_fast().contains(i))
        .take(5)
        .collect();
    p.session.set_choked(p.now, false);
    p.flush();
    p.writable = false;
    for &i in &normal {
        p.send(Message::Request(req(i, 0, 1024)));
    }
    p.send(Message::Request(req(fast_piece, 0, 1024)));
    assert_eq!(p.session.queued_requests(), 6);
    p.session.set_choked(p.now, true);
    // The allowed-fast request survives the choke (BEP 6).
    assert_eq!(p.session.queued_requests(), 1);
    p.writable = true;
    p.flush();
    let got = p.leecher.take();
    let mut expected = vec![Got::Unchoke, Got::Choke];
    expected.extend(normal.iter().map(|&i| Got::Reject(req(i, 0, 1024))));
    assert_eq!(&got[..expected.len()], &expected[..]);
    assert_eq!(
        pieces_received(&got[expected.len()..])
            .iter()
            .map(|b| b.0)
            .collect::<Vec<_>>(),
        [fast_piece]
    );
}

#[test]
fn choke_drops_queued_requests_silently_for_other_peers() {
    let t = v1_torrent(8 * 16384, 16384, false);
    let mut p = Pair::connected(&t, false);
    p.leecher.take();
    p.session.set_choked(p.now, false);
    p.flush();
    p.writable = false;
    for i in 0..5 {
        p.send(Message::Request(req(i, 0, 16384)));
    }
    p.session.set_choked(p.now, true);
    assert_eq!(p.session.queued_requests(), 0);
    p.writable = true;
    p.flush();
    assert_eq!(p.leecher.take(), [Got::Unchoke, Got::Choke]);
}

#[test]
fn requests_while_choked() {
    let t = v1_torrent(1313 * 1024, 1024, false);
    // Fast peer: rejected, except allowed-fast pieces, which are served.
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    let fast_piece = p.session.allowed_fast()[3];
    let other = (0..1313)
        .find(|i| !p.session.allowed_fast().contains(i))
        .unwrap();
    p.send(Message::Request(req(other, 0, 1024)));
    p.send(Message::Request(req(fast_piece, 512, 512)));
    let got = p.leecher.take();
    assert_eq!(got[0], Got::Reject(req(other, 0, 1024)));
    let off = fast_piece as usize * 1024 + 512;
    assert_eq!(
        got[1],
        Got::Piece {
            index: fast_piece,
            begin: 512,
            data: t.data[off..off + 512].to_vec()
        }
    );
    // Other peer: dropped without an answer, connection kept.
    let mut p = Pair::connected(&t, false);
    p.leecher.take();
    p.send(Message::Request(req(0, 0, 1024)));
    assert!(p.leecher.take().is_empty());
    assert!(p.error.is_none());
}

#[test]
fn request_past_the_end_of_a_piece() {
    let t = v1_torrent(3 * 16384 + 100, 16384, false);
    let bad = [
        req(0, 16000, 1000),   // runs past the piece
        req(3, 0, 101),        // past the short last piece
        req(4, 0, 16384),      // no such piece
        req(0, 0, 32768),      // too long
        req(0, 0, 0),          // empty
        req(0, u32::MAX, 100), // overflowing offset
    ];
    for r in bad {
        // Non-Fast peers: closed.
        let mut p = Pair::connected(&t, false);
        p.session.set_choked(p.now, false);
        p.send(Message::Request(r));
        assert!(
            matches!(p.error, Some(SessionError::InvalidRequest(_))),
            "{r:?}: {:?}",
            p.error
        );
        // Fast peers: rejected.
        let mut p = Pair::connected(&t, true);
        p.session.set_choked(p.now, false);
        p.flush();
        p.leecher.take();
        p.send(Message::Request(r));
        assert!(p.error.is_none());
        assert_eq!(p.leecher.take(), [Got::Reject(r)]);
    }
}

#[test]
fn request_for_a_piece_we_do_not_have() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.swarm.set_piece(TorrentId(0), 2, false);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.send(Message::Request(req(2, 0, 16384)));
    assert_eq!(p.leecher.take(), [Got::Reject(req(2, 0, 16384))]);
    // Non-Fast: dropped.
    let mut p = Pair::connected(&t, false);
    p.swarm.set_piece(TorrentId(0), 2, false);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.send(Message::Request(req(2, 0, 16384)));
    // Non-Fast: no reject exists, and a silent drop would leave the peer
    // waiting for the block forever: closed, so that it reconnects and
    // gets a bitfield without the piece.
    assert_eq!(p.error, Some(SessionError::PieceUnavailable { piece: 2 }));
}

#[test]
fn a_piece_lost_while_queued_is_not_served() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.writable = false;
    p.send(Message::Request(req(1, 0, 16384)));
    // The runtime notices the loss before telling the session.
    p.swarm.set_piece(TorrentId(0), 1, false);
    p.writable = true;
    p.flush();
    assert_eq!(p.leecher.take(), [Got::Reject(req(1, 0, 16384))]);
}

#[test]
fn piece_lost_sends_lt_donthave_and_rejects() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[("lt_donthave", 9)]),
    });
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.writable = false;
    p.send(Message::Request(req(1, 0, 16384)));
    p.send(Message::Request(req(2, 0, 16384)));
    p.swarm.set_piece(TorrentId(0), 1, false);
    p.session.piece_lost(1);
    p.writable = true;
    p.flush();
    let got = p.leecher.take();
    assert_eq!(got[0], Got::Reject(req(1, 0, 16384)));
    assert_eq!(
        got[1],
        Got::Extended {
            id: 9,
            payload: LtDontHave { piece: 1 }.to_bytes().to_vec()
        }
    );
    assert_eq!(pieces_received(&got).len(), 1);
    // Later requests for it are rejected.
    p.send(Message::Request(req(1, 0, 16384)));
    assert_eq!(p.leecher.take(), [Got::Reject(req(1, 0, 16384))]);
    // It comes back: have.
    p.swarm.set_piece(TorrentId(0), 1, true);
    p.session.piece_added(1);
    p.flush();
    assert_eq!(p.leecher.take(), [Got::Have(1)]);
    // A peer that disables lt_donthave (id 0) gets none.
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[("lt_donthave", 0)]),
    });
    p.session.piece_lost(3);
    p.flush();
    assert!(p.leecher.take().is_empty());
}

#[test]
fn bitfield_of_the_wrong_size_closes() {
    let t = v1_torrent(10 * 16384, 16384, false);
    for bits in [&[0xFFu8][..], &[0xFF, 0xC0, 0x00], &[]] {
        let mut p = Pair::connected(&t, false);
        p.send(Message::Bitfield(bits));
        assert!(p.error.is_some(), "{bits:?}");
        assert!(p.error.as_ref().unwrap().is_misbehaviour());
    }
    let mut p = Pair::connected(&t, false);
    p.send(Message::Bitfield(&[0xFF, 0xE0]));
    assert_eq!(p.error, Some(SessionError::BitfieldSpareBits));
    let mut p = Pair::connected(&t, false);
    p.send(Message::Bitfield(&[0x80, 0x40]));
    assert!(p.error.is_none());
    assert_eq!(p.session.stats(p.now).peer_pieces, 2);
}

#[test]
fn peer_pieces_are_tracked() {
    let t = v1_torrent(10 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.take_events();
    p.send(Message::HaveNone);
    for i in 0..9 {
        p.send(Message::Have { index: i });
        p.send(Message::Have { index: i });
    }
    assert_eq!(p.session.stats(p.now).peer_pieces, 9);
    assert!(!p.session.peer_is_seed());
    p.send(Message::Have { index: 9 });
    assert!(p.session.peer_is_seed());
    assert_eq!(p.take_events(), [SessionEvent::PeerIsSeed]);
    p.send(Message::Have { index: 10 });
    assert_eq!(
        p.error,
        Some(SessionError::HaveOutOfRange {
            index: 10,
            piece_count: 10
        })
    );
}

#[test]
fn fast_messages_need_the_fast_extension() {
    let t = v1_torrent(4 * 16384, 16384, false);
    for msg in [
        Message::HaveAll,
        Message::HaveNone,
        Message::Suggest { index: 0 },
        Message::AllowedFast { index: 0 },
        Message::RejectRequest(req(0, 0, 1)),
    ] {
        let mut p = Pair::connected(&t, false);
        p.send(msg);
        assert!(
            matches!(p.error, Some(SessionError::NotNegotiated { .. })),
            "{msg:?}"
        );
    }
}

#[test]
fn unrequested_piece_closes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.send(Message::Piece {
        index: 0,
        begin: 0,
        data: &[1, 2, 3],
    });
    assert_eq!(
        p.error,
        Some(SessionError::UnrequestedPiece { index: 0, begin: 0 })
    );
}

/// A flood of requests from a peer that never reads: what the session holds
/// for it stays within its byte budget at every step. A Fast peer gets
/// `reqq` queued, then rejects, then is closed. A peer without Fast gets as
/// many queued as half its budget holds, then the session stops taking its
/// input (the rest waits in the socket; the runtime's stall timeout closes
/// a peer that never reads what it asked for).
#[test]
fn request_flood_without_reading() {
    let t = v1_torrent(64 * 16384, 16384, false);
    let config = SessionConfig::default();
    let budget = config.peer_budget;
    let most_queued = budget / 2 / QUEUED_REQUEST_COST;
    for (fast, choked) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut p = Pair::connected_with(&t, config.clone(), fast);
        if !choked {
            p.session.set_choked(p.now, false);
        }
        p.flush();
        p.writable = false;
        let mut wire = Vec::new();
        let mut n = 0;
        while n < 100_000 && p.error.is_none() {
            wire.clear();
            for _ in 0..100 {
                Message::Request(req(n % 64, 0, 16384))
                    .encode(&mut wire)
                    .unwrap();
                n += 1;
            }
            p.send_raw(&wire);
            assert!(
                p.session.held_bytes() <= budget,
                "{}",
                p.session.held_bytes()
            );
            let queued = p.session.queued_requests();
            assert!(
                queued
                    <= if fast {
                        config.reqq as usize
                    } else {
                        most_queued
                    }
            );
        }
        if !fast && !choked {
            assert_eq!(p.error, None);
            assert!(!p.session.wants_input(), "input paused");
            assert_eq!(p.session.queued_requests(), most_queued);
            // Nothing was dropped: what it did not take waits unread.
            assert_eq!(p.pending.len(), (100_000 - most_queued) * 17);
            continue;
        }
        assert!(
            matches!(
                p.error,
                Some(SessionError::RequestFlood { .. } | SessionError::OverBudget { .. })
            ),
            "fast {fast} choked {choked}: {:?} after {n}",
            p.error
        );
        let bound = 11 * config.reqq as usize + 100;
        assert!(n as usize <= bound, "closed only after {n} requests");
    }
}

/// A well-behaved fast peer that pipelines up to reqq is never refused.
#[test]
fn pipelining_up_to_reqq_is_fine() {
    let t = v1_torrent(300 * 16384, 16384, false);
    let config = SessionConfig {
        reqq: 250,
        ..SessionConfig::default()
    };
    let mut p = Pair::connected_with(&t, config, true);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.writable = false;
    let mut wire = Vec::new();
    for i in 0..250 {
        Message::Request(req(i, 0, 16384))
            .encode(&mut wire)
            .unwrap();
    }
    p.send_raw(&wire);
    assert_eq!(p.session.queued_requests(), 250);
    // One more is over the limit: rejected.
    p.send(Message::Request(req(260, 0, 16384)));
    p.writable = true;
    p.flush();
    let got = p.leecher.take();
    assert_eq!(got[0], Got::Reject(req(260, 0, 16384)));
    assert_eq!(pieces_received(&got).len(), 250);
}

#[test]
fn removed_torrent_closes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.swarm.torrents.clear();
    p.send(Message::KeepAlive);
    assert_eq!(p.error, Some(SessionError::TorrentRemoved));
}

#[test]
fn interest_changes_are_coalesced() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.take_events();
    let mut wire = Vec::new();
    for m in [
        Message::Interested,
        Message::NotInterested,
        Message::Interested,
    ] {
        m.encode(&mut wire).unwrap();
    }
    p.send_raw(&wire);
    assert_eq!(p.take_events(), [SessionEvent::InterestChanged(true)]);
    assert_eq!(ext_ids::UT_PEX, 1);
}

/// libtorrent treats a v2 torrent's last file as padded to a piece
/// boundary and asks for a whole block of the short last piece; the seed
/// serves the padding as zeros (seen in interop with libtorrent 2.0.8).
#[test]
fn v2_last_piece_accepts_tail_padding_requests() {
    let pl = 65536u32;
    let len = 3 * pl as usize + 12345;
    let t = v2_torrent(len, pl, MetaVersion::V2);
    let mut p = Pair::connected(&t, true);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    p.send(Message::Request(req(3, 0, 16384)));
    let got = p.leecher.take();
    let [Got::Piece {
        index: 3,
        begin: 0,
        data,
    }] = &got[..]
    else {
        panic!("{got:?}")
    };
    assert_eq!(&data[..12345], &t.data[3 * pl as usize..]);
    assert!(data[12345..].iter().all(|&b| b == 0));
    // Past the padded piece: still refused.
    p.send(Message::Request(req(3, 65536 - 100, 200)));
    assert_eq!(p.leecher.take(), [Got::Reject(req(3, 65536 - 100, 200))]);
    // v1 and hybrid single-file torrents have no tail padding.
    for t in [
        v1_torrent(len, pl, false),
        v2_torrent(len, pl, MetaVersion::Hybrid),
    ] {
        let mut p = Pair::connected(&t, true);
        p.session.set_choked(p.now, false);
        p.flush();
        p.leecher.take();
        p.send(Message::Request(req(3, 0, 16384)));
        assert_eq!(p.leecher.take(), [Got::Reject(req(3, 0, 16384))]);
    }
}

/// A client without the Fast extension that ignores `reqq` and keeps as
/// many requests out as its rate says (rtorrent: `rate / 5 + 18`, tens of
/// thousands on a fast link), against a seed whose byte budget holds far
/// fewer: past the budget the session stops taking its input, its requests
/// wait unread and are taken as the queue drains. It must get every block,
/// and no request may be refused. Before the fix, requests past the queue
/// were dropped silently and such a client waited forever (rtorrent stopped
/// at 85 %).
#[test]
fn a_client_that_ignores_reqq_gets_every_block() {
    let t = v1_torrent(120 * 16384 + 777, 32768, false);
    let config = SessionConfig {
        reqq: 16,
        // Half of it for queued requests: 2048 / 24 = 85 requests at most.
        peer_budget: 4096,
        ..SessionConfig::default()
    };
    let mut p = Pair::connected_with(&t, config, false);
    p.session.set_choked(p.now, false);
    p.flush();
    p.leecher.take();
    let blocks = all_blocks(t.data.len(), 32768);
    let pipeline = 300;
    let mut got: std::collections::HashMap<(u32, u32), Vec<u8>> = Default::default();
    let mut outstanding: std::collections::HashSet<(u32, u32)> = Default::default();
    let mut rounds = 0;
    while got.len() < blocks.len() {
        rounds += 1;
        assert!(
            rounds < 2000,
            "stalled with {} of {} blocks",
            got.len(),
            blocks.len()
        );
        // Fill the pipeline with blocks neither received nor outstanding,
        // all in one write (the seed reads them before it sends anything).
        let mut wire = Vec::new();
        for b in &blocks {
            if outstanding.len() >= pipeline {
                break;
            }
            let key = (b.index, b.begin);
            if !got.contains_key(&key) && outstanding.insert(key) {
                Message::Request(*b).encode(&mut wire).unwrap();
            }
        }
        p.writable = false;
        p.send_raw(&wire);
        assert_eq!(p.error, None, "after {rounds} rounds");
        assert!(p.session.held_bytes() <= 4096);
        // The socket takes 20 transmits per round; then the session reads
        // what it left unread, if it wants input again.
        p.writable = true;
        p.flush_some(20);
        p.writable = false;
        p.drive();
        for g in p.leecher.take() {
            match g {
                Got::Piece { index, begin, data } => {
                    assert!(outstanding.remove(&(index, begin)), "unrequested block");
                    got.insert((index, begin), data);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    for b in &blocks {
        let start = (b.index * 32768 + b.begin) as usize;
        assert_eq!(
            got[&(b.index, b.begin)],
            &t.data[start..start + b.length as usize],
            "{b:?}"
        );
    }
    let stats = p.session.stats(p.now);
    assert_eq!(stats.refused_requests, 0);
    assert!(
        stats.input_pauses > 0,
        "the queue never filled: the test proves nothing"
    );
    eprintln!(
        "{} blocks in {rounds} rounds, input paused {} times",
        blocks.len(),
        stats.input_pauses
    );
}
