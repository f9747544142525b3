//! Session handshakes, the opening messages of a seed, and the timers.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "session_pair.rs"]
mod pair;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use pair::{ext_handshake, v1_torrent, v2_torrent, Got, Pair, TestSwarm};
use seedcore_protocol::ext::{names, ExtendedHandshake};
use seedcore_protocol::metainfo::MetaVersion;
use seedcore_protocol::session::{
    allowed_fast_set, ext_ids, PeerSession, SessionConfig, SessionError, SessionEvent,
    SocketProgress, Swarm, Transmit, PEER_ID_PREFIX,
};
use seedcore_protocol::wire::{BlockRequest, Handshake, Message, WireError};

fn ext_hs(got: &[Got]) -> ExtendedHandshake {
    got.iter()
        .find_map(|g| match g {
            Got::Extended { id: 0, payload } => Some(ExtendedHandshake::decode(payload).unwrap()),
            _ => None,
        })
        .expect("no extended handshake")
}

#[test]
fn fast_peer_gets_have_all_ext_handshake_and_allowed_fast() {
    let t = v1_torrent(1313 * 1024, 1024, false);
    let mut p = Pair::connected(&t, true);
    let hs = p.leecher.handshake.unwrap();
    assert_eq!(&hs.peer_id[..8], PEER_ID_PREFIX);
    assert_eq!(hs.info_hash, t.meta.info_hashes.wire_hash());
    assert!(hs.reserved.extension_protocol() && hs.reserved.fast());
    assert!(!hs.reserved.dht(), "no DHT bit without a DHT port");
    assert!(!hs.reserved.v2_upgrade(), "v1 torrent");

    let got = p.leecher.take();
    // BEP 3/6: the piece summary is the first message.
    assert_eq!(got[0], Got::HaveAll);
    let ext = ext_hs(&got);
    assert_eq!(ext.id_of(names::UT_METADATA), Some(ext_ids::UT_METADATA));
    assert_eq!(ext.id_of(names::UT_PEX), Some(ext_ids::UT_PEX));
    assert_eq!(ext.id_of(names::LT_METADATA), Some(ext_ids::LT_METADATA));
    assert_eq!(ext.id_of(names::LT_DONTHAVE), Some(ext_ids::LT_DONTHAVE));
    assert_eq!(ext.metadata_size, Some(t.meta.info_bytes.len() as u32));
    assert_eq!(ext.reqq, Some(SessionConfig::default().reqq));
    assert_eq!(ext.upload_only, Some(true));
    assert_eq!(ext.yourip, Some("80.4.4.200".parse().unwrap()));
    assert!(ext.v.unwrap().starts_with("seedcore"));
    // The BEP 6 allowed-fast set for this address and info-hash.
    let fast: Vec<u32> = got
        .iter()
        .filter_map(|g| match g {
            Got::AllowedFast(i) => Some(*i),
            _ => None,
        })
        .collect();
    let expected = allowed_fast_set(
        Ipv4Addr::new(80, 4, 4, 200),
        &t.meta.info_hashes.wire_hash(),
        1313,
        10,
    );
    assert_eq!(fast, expected);
    assert_eq!(p.session.allowed_fast(), &expected[..]);
    // Choked until the choker says otherwise.
    assert!(!got.contains(&Got::Unchoke));
    assert!(p.session.is_choked());
    match &p.take_events()[0] {
        SessionEvent::HandshakeDone {
            peer_id, reserved, ..
        } => {
            assert_eq!(peer_id, &p.leecher.peer_id);
            assert!(reserved.fast());
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn allowed_fast_matches_bep6_vectors_through_the_session() {
    // A torrent whose info-hash is 0xaa.. cannot be built, so check the
    // function the session uses against the vectors, and the session
    // against the function (previous test).
    let ip = Ipv4Addr::new(80, 4, 4, 200);
    assert_eq!(
        allowed_fast_set(ip, &[0xaa; 20], 1313, 7),
        [1059, 431, 808, 1217, 287, 376, 1188]
    );
    assert_eq!(
        allowed_fast_set(ip, &[0xaa; 20], 1313, 9),
        [1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
    );
}

#[test]
fn allowed_fast_only_for_pieces_we_have() {
    let t = v1_torrent(1313 * 1024, 1024, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    let set = allowed_fast_set(
        Ipv4Addr::new(80, 4, 4, 200),
        &t.meta.info_hashes.wire_hash(),
        1313,
        10,
    );
    let id = p.swarm.lookup(&t.meta.info_hashes.wire_hash()).unwrap();
    p.swarm.set_piece(id, set[0], false);
    p.handshake(t.meta.info_hashes.wire_hash());
    let got = p.leecher.take();
    // A piece is missing: a bitfield, not have all.
    let Got::Bitfield(bits) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(bits.len(), 1313usize.div_ceil(8));
    let missing = set[0] as usize;
    assert_eq!(bits[missing / 8] & (0x80 >> (missing % 8)), 0);
    assert_eq!(bits.iter().map(|b| b.count_ones()).sum::<u32>(), 1312);
    assert!(!got.contains(&Got::AllowedFast(set[0])));
    assert!(got.contains(&Got::AllowedFast(set[1])));
}

#[test]
fn non_fast_peer_gets_a_bitfield_and_no_fast_messages() {
    let t = v1_torrent(10 * 16384 + 5, 16384, false);
    let mut p = Pair::connected(&t, false);
    let got = p.leecher.take();
    let Got::Bitfield(bits) = &got[0] else {
        panic!("{got:?}")
    };
    // 11 pieces: 0xFF 0xE0 (spare bits clear).
    assert_eq!(bits, &[0xFF, 0xE0]);
    assert!(!got
        .iter()
        .any(|g| matches!(g, Got::AllowedFast(_) | Got::HaveAll | Got::HaveNone)));
    assert!(!p.session.supports_fast());
}

#[test]
fn have_none_when_nothing_is_available() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    for i in 0..4 {
        p.swarm
            .set_piece(seedcore_protocol::session::TorrentId(0), i, false);
    }
    p.handshake(t.meta.info_hashes.wire_hash());
    let got = p.leecher.take();
    assert_eq!(got[0], Got::HaveNone);
    assert!(!got.iter().any(|g| matches!(g, Got::AllowedFast(_))));
}

#[test]
fn dht_port_sent_when_configured_and_peer_has_dht() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let config = SessionConfig {
        dht_port: Some(6881),
        ..SessionConfig::default()
    };
    let mut p = Pair::new(&[&t], config.clone(), true);
    p.leecher.reserved.set_dht(true);
    p.handshake(t.meta.info_hashes.wire_hash());
    assert!(p.leecher.handshake.unwrap().reserved.dht());
    assert!(p.leecher.take().contains(&Got::Port(6881)));
    // A peer without the DHT bit gets no port message.
    let mut p = Pair::new(&[&t], config, true);
    p.handshake(t.meta.info_hashes.wire_hash());
    assert!(!p.leecher.take().iter().any(|g| matches!(g, Got::Port(_))));
    // And the peer's port message becomes an event.
    p.send(Message::Port(7000));
    assert!(p.take_events().contains(&SessionEvent::DhtPort(7000)));
}

#[test]
fn private_torrent_has_no_pex_and_no_dht_bit() {
    let t = v1_torrent(4 * 16384, 16384, true);
    let config = SessionConfig {
        dht_port: Some(6881),
        ..SessionConfig::default()
    };
    let mut p = Pair::new(&[&t], config, true);
    p.leecher.reserved.set_dht(true);
    p.handshake(t.meta.info_hashes.wire_hash());
    assert!(!p.leecher.handshake.unwrap().reserved.dht());
    let got = p.leecher.take();
    let ext = ext_hs(&got);
    assert_eq!(ext.id_of(names::UT_PEX), None);
    // Metadata exchange stays available (BEP 27 forbids only DHT and PEX).
    assert!(ext.id_of(names::UT_METADATA).is_some());
    assert!(!got.iter().any(|g| matches!(g, Got::Port(_))));
    // The peer's `port` message must not reach the DHT either (issue 8).
    p.take_events();
    p.send(Message::Port(7000));
    assert!(p.error.is_none());
    let events = p.take_events();
    assert!(
        !events.iter().any(|e| matches!(e, SessionEvent::DhtPort(_))),
        "{events:?}"
    );
}

#[test]
fn port_messages_are_ignored_without_our_dht() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    p.leecher.reserved.set_dht(true);
    p.handshake(t.meta.info_hashes.wire_hash());
    p.take_events();
    p.send(Message::Port(7000));
    assert!(!p
        .take_events()
        .iter()
        .any(|e| matches!(e, SessionEvent::DhtPort(_))));
}

#[test]
fn unknown_info_hash_closes_without_a_byte() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    p.handshake([0x42; 20]);
    assert_eq!(
        p.error,
        Some(SessionError::UnknownTorrent {
            info_hash: [0x42; 20]
        })
    );
    assert_eq!(p.leecher.received, 0);
    assert!(p.session.is_closed());
    assert!(p.session.poll_transmit(p.now, &p.swarm).is_none());
    assert!(p.session.poll_timeout().is_none());
    assert_eq!(
        p.take_events(),
        [SessionEvent::Closed(SessionError::UnknownTorrent {
            info_hash: [0x42; 20]
        })]
    );
    assert!(!p.error.as_ref().unwrap().is_misbehaviour());
}

#[test]
fn unknown_info_hash_is_refused_after_48_bytes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    let h = Handshake::new(p.leecher.reserved, [7; 20], [1; 20]).to_bytes();
    p.send_raw(&h[..47]);
    assert!(p.error.is_none());
    p.send_raw(&h[47..48]);
    assert!(matches!(p.error, Some(SessionError::UnknownTorrent { .. })));
    assert_eq!(p.leecher.received, 0);
}

#[test]
fn garbage_handshakes_are_refused_at_once() {
    let t = v1_torrent(4 * 16384, 16384, false);
    for garbage in [
        &b"GET / HTTP/1.1\r\n"[..],
        b"\x13BitTorrent protocoX",
        b"\x00\x00\x00\x00",
        b"\x13bittorrent",
    ] {
        let mut p = Pair::new(&[&t], SessionConfig::default(), true);
        p.send_raw(garbage);
        assert!(
            matches!(p.error, Some(SessionError::Wire(_))),
            "{garbage:?}: {:?}",
            p.error
        );
        assert_eq!(p.leecher.received, 0);
        assert!(p.error.as_ref().unwrap().is_misbehaviour());
    }
}

#[test]
fn handshake_split_in_single_bytes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    let h = Handshake::new(p.leecher.reserved, t.meta.info_hashes.wire_hash(), [9; 20]).to_bytes();
    for b in h {
        p.send_raw(&[b]);
    }
    assert!(p.session.is_established());
    assert_eq!(p.session.peer_id(), Some([9; 20]));
}

#[test]
fn peer_that_never_sends_a_byte_times_out() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    assert_eq!(
        p.session.poll_timeout(),
        Some(p.now + Duration::from_secs(20))
    );
    p.advance(Duration::from_secs(19));
    assert!(!p.session.is_closed());
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.closed_reason(),
        Some(SessionError::HandshakeTimeout(Duration::from_secs(20)))
    );
    assert_eq!(p.leecher.received, 0);
}

#[test]
fn half_handshake_times_out_too() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::new(&[&t], SessionConfig::default(), true);
    let h = Handshake::new(p.leecher.reserved, t.meta.info_hashes.wire_hash(), [9; 20]).to_bytes();
    p.send_raw(&h[..60]);
    // Our handshake went out after the info-hash.
    assert!(p.leecher.handshake.is_some());
    p.advance(Duration::from_secs(21));
    assert!(matches!(
        p.closed_reason(),
        Some(SessionError::HandshakeTimeout(_))
    ));
}

#[test]
fn connecting_to_ourselves_is_detected() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let config = SessionConfig::default();
    let mut p = Pair::new(&[&t], config.clone(), true);
    p.leecher.peer_id = config.peer_id;
    p.handshake(t.meta.info_hashes.wire_hash());
    assert_eq!(p.error, Some(SessionError::ConnectedToSelf));
}

#[test]
fn keep_alive_every_two_minutes_and_idle_timeout() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    let start = p.now;
    assert_eq!(
        p.session.poll_timeout(),
        Some(start + Duration::from_secs(120))
    );
    p.advance(Duration::from_secs(119));
    assert!(p.leecher.take().is_empty());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.leecher.take(), [Got::KeepAlive]);
    // The peer keeps the connection alive too...
    p.send(Message::KeepAlive);
    p.advance(Duration::from_secs(120));
    assert_eq!(p.leecher.take(), [Got::KeepAlive]);
    // ...until it stops: 300 s after its last byte the session closes.
    p.advance(Duration::from_secs(179));
    assert!(!p.session.is_closed());
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.closed_reason(),
        Some(SessionError::IdleTimeout(Duration::from_secs(300)))
    );
}

#[test]
fn other_traffic_postpones_the_keep_alive() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.leecher.take();
    p.advance(Duration::from_secs(100));
    p.session.set_choked(p.now, false);
    p.flush();
    assert_eq!(p.leecher.take(), [Got::Unchoke]);
    p.advance(Duration::from_secs(119));
    assert!(p.leecher.take().is_empty());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.leecher.take(), [Got::KeepAlive]);
}

#[test]
fn stalled_send_closes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.report_sent = false;
    p.session.set_choked(p.now, false);
    p.flush();
    p.send(Message::KeepAlive);
    p.advance(Duration::from_secs(119));
    assert!(!p.session.is_closed());
    p.advance(Duration::from_secs(2));
    assert!(matches!(
        p.closed_reason(),
        Some(SessionError::SendStalled { .. })
    ));
}

/// Issue 8: a peer whose requests all fit in kernel buffers was never seen
/// as stalled, since every byte was written. Now what its socket says
/// counts: acknowledged bytes that do not grow for the stall timeout while
/// the socket still holds bytes close it, even though keep-alives are
/// still written; growth is progress; an empty socket owes nothing.
#[test]
fn bytes_waiting_in_the_socket_count_for_the_stall_timeout() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.session.set_choked(p.now, false);
    p.flush();
    p.send(Message::Request(BlockRequest {
        index: 0,
        begin: 0,
        length: 16384,
    }));
    // All written; the socket holds 16 KiB the peer has not acknowledged.
    let at = |acked, queued| SocketProgress { acked, queued };
    p.session.on_socket_progress(p.now, at(1000, 16384));
    p.advance(Duration::from_secs(100));
    // Some taken at 100 s: progress.
    p.session.on_socket_progress(p.now, at(9000, 8384));
    p.advance(Duration::from_secs(100));
    assert!(!p.session.is_closed(), "{:?}", p.closed_reason());
    // Nothing more taken (the keep-alive at 120 s was written, but that
    // is not the peer taking anything): stalled at 220 s.
    p.session.on_socket_progress(p.now, at(9000, 8388));
    p.advance(Duration::from_secs(21));
    assert!(
        matches!(
            p.closed_reason(),
            Some(SessionError::SendStalled { pending: 8388, .. })
        ),
        "{:?}",
        p.closed_reason()
    );
    // An empty socket owes nothing: no stall, however long.
    let mut p = Pair::connected(&t, true);
    p.session.set_choked(p.now, false);
    p.flush();
    p.session.on_socket_progress(p.now, at(500, 0));
    for _ in 0..4 {
        p.send(Message::KeepAlive);
        p.advance(Duration::from_secs(100));
    }
    assert!(!p.session.is_closed(), "{:?}", p.closed_reason());
}

/// Issue 8: a peer could hold a partial message of up to the frame bound
/// for the whole idle timeout. A message over `SLOW_FRAME_MIN` must now be
/// whole within `slow_frame_timeout` of its first byte; small ones are left
/// to the idle timeout.
#[test]
fn a_large_message_dribbled_in_closes_after_the_slow_frame_timeout() {
    let t = v1_torrent(4 * 16384, 16384, false);
    // 60,000 bytes of extended message announced, 1,000 sent.
    let mut frame = 60_002u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&[20, 0]);
    frame.extend_from_slice(&[b'd'; 1000]);
    let mut p = Pair::connected(&t, true);
    p.send_raw(&frame);
    // A byte every 5 s keeps it arriving, not complete.
    for _ in 0..3 {
        p.advance(Duration::from_secs(5));
        p.send_raw(b"d");
    }
    p.advance(Duration::from_secs(4));
    assert!(!p.session.is_closed(), "{:?}", p.closed_reason());
    p.advance(Duration::from_secs(2));
    assert!(
        matches!(
            p.closed_reason(),
            Some(SessionError::SlowFrame { len: 60_006, .. })
        ),
        "{:?}",
        p.closed_reason()
    );

    // The same message arriving whole in time is fine, and the timer goes.
    let mut p = Pair::connected(&t, true);
    let mut whole = 3_002u32.to_be_bytes().to_vec();
    whole.extend_from_slice(&[20, 99]);
    whole.extend_from_slice(&[b'x'; 3_000]);
    p.send_raw(&whole[..2000]);
    p.advance(Duration::from_secs(15));
    p.send_raw(&whole[2000..]);
    p.advance(Duration::from_secs(60));
    assert!(!p.session.is_closed(), "{:?}", p.closed_reason());

    // A small message dribbled in is left to the idle timeout.
    let mut p = Pair::connected(&t, true);
    let req = Message::Request(BlockRequest {
        index: 0,
        begin: 0,
        length: 16384,
    })
    .to_vec()
    .unwrap();
    p.send_raw(&req[..10]);
    p.advance(Duration::from_secs(100));
    assert!(!p.session.is_closed(), "{:?}", p.closed_reason());
}

#[test]
fn hybrid_answers_with_the_hash_the_peer_used() {
    let t = v2_torrent(5 * 16384, 16384, MetaVersion::Hybrid);
    let v2 = t.meta.info_hashes.v2.unwrap().truncated();
    let v1 = t.meta.info_hashes.v1.unwrap().0;
    for hash in [v1, v2] {
        let mut p = Pair::new(&[&t], SessionConfig::default(), true);
        p.handshake(hash);
        assert!(p.session.is_established(), "{:?}", p.error);
        let hs = p.leecher.handshake.unwrap();
        assert_eq!(hs.info_hash, hash);
        assert!(hs.reserved.v2_upgrade());
    }
}

#[test]
fn two_torrents_one_engine() {
    let a = v1_torrent(4 * 16384, 16384, false);
    let b = v1_torrent(6 * 16384, 16384, true);
    let mut p = Pair::new(&[&a, &b], SessionConfig::default(), false);
    p.handshake(b.meta.info_hashes.wire_hash());
    assert_eq!(
        p.session.torrent(),
        Some(seedcore_protocol::session::TorrentId(1))
    );
    assert_eq!(p.leecher.take()[0], Got::Bitfield(vec![0xFC]));
}

#[test]
fn outbound_sends_its_handshake_first_and_checks_the_answer() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut swarm = TestSwarm::default();
    let id = swarm.add(&t.meta);
    let now = std::time::Instant::now();
    let config = Arc::new(SessionConfig::default());
    let mut s = PeerSession::outbound(Arc::clone(&config), pair::addr(), id, now, &swarm).unwrap();
    assert!(s.is_outbound());
    let Some(Transmit::Bytes { head: first, .. }) = s.poll_transmit(now, &swarm) else {
        panic!()
    };
    let ours = Handshake::decode(&first).unwrap().unwrap();
    assert_eq!(ours.info_hash, t.meta.info_hashes.wire_hash());
    // The peer answers for the right torrent: established.
    let mut theirs = Handshake::new(Default::default(), ours.info_hash, [3; 20]).to_bytes();
    assert_eq!(s.handle_input(now, &theirs, &swarm), Ok(68));
    assert!(s.is_established());
    // Another one answers for another torrent: closed.
    let mut s = PeerSession::outbound(config, pair::addr(), id, now, &swarm).unwrap();
    theirs[30] ^= 1;
    let err = s.handle_input(now, &theirs, &swarm).unwrap_err();
    assert!(matches!(err, SessionError::InfoHashMismatch { .. }));
    // Unknown torrent ids are refused up front.
    assert!(PeerSession::outbound(
        Arc::new(SessionConfig::default()),
        pair::addr(),
        seedcore_protocol::session::TorrentId(9),
        now,
        &swarm
    )
    .is_err());
}

#[test]
fn extended_handshake_is_reported() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.take_events();
    p.send(Message::Extended {
        id: 0,
        payload: &ext_handshake(&[("ut_pex", 3)]),
    });
    assert_eq!(
        p.take_events(),
        [SessionEvent::ExtendedHandshake {
            client: Some("leecher 1.0".into()),
            listen_port: Some(6881),
            upload_only: false,
        }]
    );
    assert_eq!(p.session.client_name(), Some("leecher 1.0"));
    assert_eq!(
        p.session.reachable_addr(),
        Some("80.4.4.200:6881".parse().unwrap())
    );
}

#[test]
fn broken_extended_handshake_closes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.send(Message::Extended {
        id: 0,
        payload: b"d1:md",
    });
    assert!(matches!(p.error, Some(SessionError::ExtendedHandshake(_))));
}

#[test]
fn four_gib_length_prefix_closes() {
    let t = v1_torrent(4 * 16384, 16384, false);
    let mut p = Pair::connected(&t, true);
    p.send_raw(&[0xFF, 0xFF, 0xFF, 0xFF]);
    assert!(matches!(
        p.error,
        Some(SessionError::Wire(WireError::FrameTooLong { .. }))
    ));
    // Also when the id is already there.
    let mut p = Pair::connected(&t, true);
    p.send_raw(&[0xFF, 0xFF, 0xFF, 0xFF, 20]);
    assert!(matches!(
        p.error,
        Some(SessionError::Wire(WireError::TooLong { .. }))
    ));
}
