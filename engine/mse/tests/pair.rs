//! Our initiator against our receiver, over arbitrary chunkings and every
//! configuration pair: both must agree on the method, the torrent and the
//! bytes, or fail the same way the policies say.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    clippy::cast_possible_truncation
)]

use std::time::Instant;

use proptest::prelude::*;
use seedcore_mse::*;

const IA: &[u8] =
    b"\x13BitTorrent protocol\0\0\0\0\0\x10\0\x05AAAAAAAAAAAAAAAAAAAA-SC0001-abcdefghijkl";

struct Side {
    h: Handshake,
    inbox: Vec<u8>,
    chunks: Vec<usize>,
    turn: usize,
}

impl Side {
    /// Feeds the inbox to the handshake and drops what it consumed.
    fn step(&mut self, now: Instant, keys: &SkeyMap) -> Result<(), MseError> {
        if self.h.is_established() {
            return Ok(());
        }
        // The caller presents everything it holds: what arrived so far and
        // was not consumed yet.
        let avail = self.inbox.len();
        let used = self.h.handle_input(now, &self.inbox[..avail], keys)?;
        assert!(used <= avail);
        self.inbox.drain(..used);
        Ok(())
    }
}

/// Runs A against B until both are established or one fails. Bytes travel
/// in chunks of the given sizes.
fn run(
    a_cfg: MseConfig,
    b_cfg: MseConfig,
    a_chunks: Vec<usize>,
    b_chunks: Vec<usize>,
    seed: u8,
) -> Result<(Established, Established, Vec<u8>), (Option<MseError>, Option<MseError>)> {
    let skey = [0xab; 20];
    let keys: SkeyMap = [skey, [1; 20], [2; 20]].into_iter().collect();
    let now = Instant::now();
    let a = Handshake::outgoing(now, a_cfg, skey, IA, Entropy::from_bytes([seed | 1; 36]))
        .map_err(|e| (Some(e), None))?;
    let b = Handshake::incoming(now, b_cfg, Entropy::from_bytes([seed ^ 0x5a | 0x80; 36]));
    let mut a = Side {
        h: a,
        inbox: Vec::new(),
        chunks: a_chunks,
        turn: 0,
    };
    let mut b = Side {
        h: b,
        inbox: Vec::new(),
        chunks: b_chunks,
        turn: 0,
    };
    // Wires carry bytes in chunks: `wire_ab` holds what A sent and B has
    // not received yet.
    let (mut wire_ab, mut wire_ba) = (Vec::<u8>::new(), Vec::<u8>::new());
    for _ in 0..10_000 {
        if let Some(out) = a.h.poll_transmit() {
            wire_ab.extend(out);
        }
        if let Some(out) = b.h.poll_transmit() {
            wire_ba.extend(out);
        }
        let n = b.chunks[b.turn % b.chunks.len()].min(wire_ab.len());
        b.turn += 1;
        b.inbox.extend(wire_ab.drain(..n));
        let n = a.chunks[a.turn % a.chunks.len()].min(wire_ba.len());
        a.turn += 1;
        a.inbox.extend(wire_ba.drain(..n));
        let ra = a.step(now, &keys);
        let rb = b.step(now, &keys);
        if ra.is_err() || rb.is_err() {
            return Err((ra.err(), rb.err()));
        }
        if a.h.is_established() && b.h.is_established() {
            let ea = a.h.take_established().expect("established once");
            let eb = b.h.take_established().expect("established once");
            // What B has not consumed yet is its payload: IA and anything
            // after it (still on the wire too).
            let mut b_rest = std::mem::take(&mut b.inbox);
            b_rest.append(&mut wire_ab);
            assert!(
                a.inbox.is_empty() && wire_ba.is_empty(),
                "B sent nothing after step 4"
            );
            return Ok((ea, eb, b_rest));
        }
    }
    panic!("no progress after 10,000 rounds");
}

fn cfg(incoming: Mode, outgoing: Mode, level: Level, prefer: Prefer) -> MseConfig {
    MseConfig {
        incoming,
        outgoing,
        level,
        prefer,
        ..MseConfig::default()
    }
}

fn any_level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::Plaintext), Just(Level::Rc4), Just(Level::Both)]
}

fn any_prefer() -> impl Strategy<Value = Prefer> {
    prop_oneof![Just(Prefer::Plaintext), Just(Prefer::Rc4)]
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..700, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn outgoing_meets_incoming(a_level in any_level(), b_level in any_level(), prefer in any_prefer(),
                               a_chunks in chunks(), b_chunks in chunks(), seed in any::<u8>(),
                               payload in prop::collection::vec(any::<u8>(), 0..3000)) {
        let a_cfg = cfg(Mode::Enabled, Mode::Enabled, a_level, Prefer::Plaintext);
        let b_cfg = cfg(Mode::Enabled, Mode::Enabled, b_level, prefer);
        let common = a_level.bits() & b_level.bits();
        match run(a_cfg, b_cfg, a_chunks, b_chunks, seed) {
            Ok((mut ea, mut eb, mut b_rest)) => {
                prop_assert!(common != 0);
                prop_assert_eq!(ea.negotiated, eb.negotiated);
                prop_assert_eq!(ea.skey, Some([0xab; 20]));
                prop_assert_eq!(eb.skey, Some([0xab; 20]));
                let want = if common == method::RC4 || (common == 3 && prefer == Prefer::Rc4) {
                    Negotiated::MseRc4
                } else {
                    Negotiated::MsePlaintext
                };
                prop_assert_eq!(eb.negotiated, want);
                // IA arrives intact through B's cipher.
                eb.cipher.decrypt(&mut b_rest);
                prop_assert_eq!(&b_rest[..], IA);
                // Then payload both ways, in two pieces each.
                for dir in 0..2 {
                    let (tx, rx) = if dir == 0 { (&mut ea.cipher, &mut eb.cipher) } else { (&mut eb.cipher, &mut ea.cipher) };
                    let mut wire = payload.clone();
                    let cut = wire.len() / 3;
                    tx.encrypt(&mut wire[..cut]);
                    tx.encrypt(&mut wire[cut..]);
                    if want == Negotiated::MsePlaintext {
                        prop_assert_eq!(&wire, &payload, "plaintext selected: sent as is");
                    } else if payload.len() > 16 {
                        prop_assert_ne!(&wire, &payload);
                    }
                    rx.decrypt(&mut wire[..cut / 2]);
                    rx.decrypt(&mut wire[cut / 2..]);
                    prop_assert_eq!(&wire, &payload);
                }
                prop_assert_eq!(ea.cipher.is_plain(), want == Negotiated::MsePlaintext);
                prop_assert_eq!(eb.cipher.is_plain(), want == Negotiated::MsePlaintext);
            }
            Err((ea, eb)) => {
                prop_assert_eq!(common, 0, "failed although both allow {:#x}: {:?} {:?}", common, ea, eb);
                prop_assert_eq!(ea, None);
                let expected = MseError::NoCommonMethod { offered: a_level.bits(), allowed: b_level.bits() };
                prop_assert_eq!(eb, Some(expected));
            }
        }
    }
}

#[test]
fn policies_refuse_what_they_should() {
    let both = Level::Both;
    // A receiver with incoming MSE disabled refuses at the first bytes.
    let r = run(
        cfg(Mode::Enabled, Mode::Enabled, both, Prefer::Plaintext),
        cfg(Mode::Disabled, Mode::Enabled, both, Prefer::Plaintext),
        vec![100],
        vec![100],
        1,
    );
    assert!(matches!(r, Err((None, Some(MseError::EncryptedRefused)))));
    // An initiator with outgoing disabled does not start.
    let r = run(
        cfg(Mode::Enabled, Mode::Disabled, both, Prefer::Plaintext),
        cfg(Mode::Enabled, Mode::Enabled, both, Prefer::Plaintext),
        vec![100],
        vec![100],
        1,
    );
    assert!(matches!(r, Err((Some(MseError::OutgoingDisabled), None))));
    // Forced incoming still accepts MSE.
    let r = run(
        cfg(Mode::Forced, Mode::Forced, both, Prefer::Plaintext),
        cfg(Mode::Forced, Mode::Forced, both, Prefer::Plaintext),
        vec![1],
        vec![1],
        1,
    );
    assert!(r.is_ok());
}

#[test]
fn plain_handshake_is_detected_or_refused() {
    let keys = SkeyMap::new();
    let now = Instant::now();
    for (mode, ok) in [
        (Mode::Enabled, true),
        (Mode::Disabled, true),
        (Mode::Forced, false),
    ] {
        let c = cfg(mode, Mode::Enabled, Level::Both, Prefer::Plaintext);
        let mut h = Handshake::incoming(now, c, Entropy::from_bytes([3; 36]));
        // Byte by byte: nothing is consumed, nothing decided early.
        for n in 0..20 {
            assert_eq!(h.handle_input(now, &IA[..n], &keys), Ok(0));
            assert!(!h.is_established());
        }
        let r = h.handle_input(now, IA, &keys);
        if ok {
            assert_eq!(r, Ok(0), "plain bytes are left to the session");
            let e = h.take_established().expect("plain detected");
            assert_eq!(e.negotiated, Negotiated::Plain);
            assert!(e.cipher.is_plain());
            assert!(h.poll_transmit().is_none(), "nothing sent for a plain peer");
            assert_eq!(h.poll_timeout(), None);
        } else {
            assert_eq!(r, Err(MseError::PlaintextRefused));
        }
    }
}
