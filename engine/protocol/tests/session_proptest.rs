//! Whatever bytes a peer sends, in whatever pieces, the session never
//! panics, never consumes more than it was given, never keeps more than a
//! frame unconsumed, and an error always leaves it closed.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

#[path = "session_pair.rs"]
mod pair;

use std::sync::Arc;
use std::time::{Duration, Instant};

use pair::{v1_torrent, TestSwarm};
use proptest::prelude::*;
use seedcore_protocol::session::{PeerSession, SessionConfig, SessionEvent};
use seedcore_protocol::wire::{BlockRequest, Handshake, Message, Reserved};

/// Feeds `stream` in chunks of the given sizes, pulling output and firing
/// timers as a runtime would.
fn feed(prefix: &[u8], stream: &[u8], chunks: &[usize], writable: bool) {
    let t = v1_torrent(10 * 16384 + 3, 16384, false);
    let mut swarm = TestSwarm::default();
    swarm.add(&t.meta);
    let mut now = Instant::now();
    let mut s = PeerSession::inbound(Arc::new(SessionConfig::default()), pair::addr(), now);
    let mut input: Vec<u8> = prefix.to_vec();
    input.extend_from_slice(stream);
    let mut buf = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().cycle();
    let mut closed_events = 0;
    while pos < input.len() {
        let n = (*sizes.next().unwrap()).max(1).min(input.len() - pos);
        buf.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        match s.handle_input(now, &buf, &swarm) {
            Ok(used) => {
                assert!(used <= buf.len());
                buf.drain(..used);
                assert!(buf.len() < s.max_frame());
            }
            Err(_) => assert!(s.is_closed()),
        }
        if writable {
            while let Some(t) = s.poll_transmit(now, &swarm) {
                s.on_sent(now, t.len());
            }
        }
        s.set_choked(now, pos % 3 == 0);
        s.piece_lost((pos % 12) as u32);
        now += Duration::from_secs(7);
        if let Some(t) = s.poll_timeout() {
            if t <= now {
                s.handle_timeout(now);
            }
        }
        while let Some(e) = s.poll_event() {
            if matches!(e, SessionEvent::Closed(_)) {
                closed_events += 1;
            }
        }
        if s.is_closed() {
            break;
        }
    }
    assert!(closed_events <= 1);
    assert_eq!(closed_events == 1, s.is_closed());
}

fn handshake() -> Vec<u8> {
    let t = v1_torrent(10 * 16384 + 3, 16384, false);
    let mut r = Reserved::EMPTY;
    r.set_extension_protocol(true).set_fast(true);
    Handshake::new(r, t.meta.info_hashes.wire_hash(), [5; 20])
        .to_bytes()
        .to_vec()
}

/// Frames that look like real messages with hostile fields.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(index, begin, length)| {
            Message::Request(BlockRequest {
                index: index % 16,
                begin: begin % 40000,
                length: length % 20000,
            })
            .to_vec()
            .unwrap()
        }),
        (0u32..16, 0u32..2).prop_map(|(i, k)| Message::Cancel(BlockRequest {
            index: i,
            begin: k * 16384,
            length: 16384
        })
        .to_vec()
        .unwrap()),
        any::<u32>().prop_map(|i| Message::Have { index: i % 14 }.to_vec().unwrap()),
        proptest::collection::vec(any::<u8>(), 0..4)
            .prop_map(|b| Message::Bitfield(&b).to_vec().unwrap()),
        (0u8..20, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(id, p)| { Message::Extended { id, payload: &p }.to_vec().unwrap() }),
        Just(Message::Interested.to_vec().unwrap()),
        Just(Message::HaveAll.to_vec().unwrap()),
        Just(Message::KeepAlive.to_vec().unwrap()),
        proptest::collection::vec(any::<u8>(), 0..32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn raw_bytes_never_panic(
        stream in proptest::collection::vec(any::<u8>(), 0..400),
        chunks in proptest::collection::vec(1usize..70, 1..8),
    ) {
        feed(&[], &stream, &chunks, true);
    }

    #[test]
    fn bytes_after_a_handshake_never_panic(
        stream in proptest::collection::vec(any::<u8>(), 0..600),
        chunks in proptest::collection::vec(1usize..70, 1..8),
        writable in any::<bool>(),
    ) {
        feed(&handshake(), &stream, &chunks, writable);
    }

    #[test]
    fn hostile_messages_never_panic(
        msgs in proptest::collection::vec(message(), 0..60),
        chunks in proptest::collection::vec(1usize..200, 1..8),
        writable in any::<bool>(),
    ) {
        let stream: Vec<u8> = msgs.concat();
        feed(&handshake(), &stream, &chunks, writable);
    }
}
