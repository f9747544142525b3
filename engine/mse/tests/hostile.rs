//! Peers that break the handshake: each must fail with its own error,
//! within its timeout, leaving the caller a bounded number of bytes.
//!
//! The misbehaving peers are built by hand from the public primitives
//! (a second, independent construction of each message), so these tests
//! also check our receiver against a sender that is not our own
//! `Handshake`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity,
    clippy::cast_possible_truncation
)]

use std::time::{Duration, Instant};

use seedcore_mse::dh::PrivateKey;
use seedcore_mse::rc4::Rc4;
use seedcore_mse::*;

const SKEY: Skey = [0x42; 20];

fn keys() -> SkeyMap {
    [SKEY].into_iter().collect()
}

fn incoming(now: Instant) -> Handshake {
    Handshake::incoming(now, MseConfig::default(), Entropy::from_bytes([0x77; 36]))
}

/// Feeds `bytes` one chunk at a time as a caller would, keeping what is
/// not consumed; returns the first error and the most bytes ever left
/// unconsumed.
fn feed(h: &mut Handshake, now: Instant, bytes: &[u8], chunk: usize) -> (Option<MseError>, usize) {
    let keys = keys();
    let mut pending = Vec::new();
    let mut most = 0;
    for piece in bytes.chunks(chunk) {
        pending.extend_from_slice(piece);
        match h.handle_input(now, &pending, &keys) {
            Ok(used) => {
                pending.drain(..used);
                most = most.max(pending.len());
            }
            Err(e) => return (Some(e), most),
        }
    }
    (None, most)
}

/// A hand-made initiator: its key, and step 3 built from the primitives.
struct Initiator {
    x: PrivateKey,
}

impl Initiator {
    fn new() -> Initiator {
        Initiator {
            x: PrivateKey::from_bytes([0x31; 20]),
        }
    }

    fn step1(&self, pad: &[u8]) -> Vec<u8> {
        let mut v = self.x.public_key().to_vec();
        v.extend_from_slice(pad);
        v
    }

    /// Step 3 with the given fields (`vc` normally eight zeros).
    fn step3(
        &self,
        yb: &[u8],
        skey: &Skey,
        vc: [u8; 8],
        provide: u32,
        pad_c: u16,
        ia: &[u8],
    ) -> Vec<u8> {
        let yb: [u8; 96] = yb[..96].try_into().unwrap();
        let s = self.x.shared_secret(&yb).expect("valid key");
        let mut v = req1(&s).to_vec();
        let r2 = req2(skey);
        let r3 = req3(&s);
        v.extend(r2.iter().zip(r3).map(|(a, b)| a ^ b));
        let mut enc = vc.to_vec();
        enc.extend_from_slice(&provide.to_be_bytes());
        enc.extend_from_slice(&pad_c.to_be_bytes());
        enc.extend(std::iter::repeat_n(0u8, usize::from(pad_c).min(600)));
        enc.extend_from_slice(&(ia.len() as u16).to_be_bytes());
        enc.extend_from_slice(ia);
        Rc4::mse(&key_a(&s, skey)).apply(&mut enc);
        v.extend(enc);
        v
    }
}

/// Drives B through step 1 and returns its step 2 (Yb and PadB).
fn after_step1(b: &mut Handshake, now: Instant, a: &Initiator) -> Vec<u8> {
    let (err, _) = feed(b, now, &a.step1(&[]), 96);
    assert_eq!(err, None);
    b.poll_transmit().expect("step 2")
}

#[test]
fn hand_made_initiator_is_understood() {
    let now = Instant::now();
    let mut b = incoming(now);
    let a = Initiator::new();
    let yb = after_step1(&mut b, now, &a);
    assert!(
        (96..=96 + 512).contains(&yb.len()),
        "Yb plus at most 512 bytes of PadB"
    );
    let ia = b"\x13BitTorrent protocol and so on";
    let step3 = a.step3(&yb, &SKEY, [0; 8], 0x02, 17, ia);
    let keys = keys();
    let used = b.handle_input(now, &step3, &keys).expect("accepted");
    let mut e = b.take_established().expect("established");
    assert_eq!(e.negotiated, Negotiated::MseRc4);
    assert_eq!(e.skey, Some(SKEY));
    let mut rest = step3[used..].to_vec();
    e.cipher.decrypt(&mut rest);
    assert_eq!(&rest[..], &ia[..]);
    // B's step 4: decrypt with keyB and check VC and crypto_select.
    let s = a.x.shared_secret(yb[..96].try_into().unwrap()).unwrap();
    let mut step4 = b.poll_transmit().expect("step 4");
    Rc4::mse(&key_b(&s, &SKEY)).apply(&mut step4);
    assert_eq!(&step4[..8], &[0; 8]);
    assert_eq!(&step4[8..12], &[0, 0, 0, 2]);
    let pad_d = u16::from_be_bytes([step4[12], step4[13]]) as usize;
    assert!(pad_d <= 512);
    assert_eq!(step4.len(), 14 + pad_d);
}

#[test]
fn garbage_padding_of_600_bytes_is_given_up_at_532() {
    for chunk in [1, 7, 96, 700] {
        let now = Instant::now();
        let mut b = incoming(now);
        let a = Initiator::new();
        let mut bytes = a.step1(&[]);
        bytes.extend((0..600u32).map(|n| (n * 13 % 256) as u8));
        let (err, most) = feed(&mut b, now, &bytes, chunk);
        assert_eq!(
            err,
            Some(MseError::SyncHashNotFound { searched: 532 }),
            "chunk {chunk}"
        );
        assert!(most <= 532, "caller held {most} bytes");
        assert!(b.poll_timeout().is_none());
        assert!(err.unwrap().is_misbehaviour());
    }
}

#[test]
fn padding_up_to_512_is_accepted() {
    let now = Instant::now();
    let mut b = incoming(now);
    let a = Initiator::new();
    let (err, _) = feed(&mut b, now, &a.step1(&[0xee; 512]), 5);
    assert_eq!(err, None);
    let yb = b.poll_transmit().expect("step 2");
    let step3 = a.step3(&yb, &SKEY, [0; 8], 0x01, 512, b"");
    let (err, most) = feed(&mut b, now, &step3, 33);
    assert_eq!(err, None);
    assert!(most <= 532);
    let e = b.take_established().expect("established");
    assert_eq!(e.negotiated, Negotiated::MsePlaintext);
    assert!(e.cipher.is_plain(), "empty IA: nothing left to decrypt");
}

#[test]
fn a_peer_that_never_finishes_the_dh_times_out() {
    let now = Instant::now();
    let cfg = MseConfig::default();
    let mut b = incoming(now);
    let (err, _) = feed(&mut b, now, &[0x99; 50], 50);
    assert_eq!(err, None);
    assert_eq!(b.step(), Step::PublicKey);
    let deadline = b.poll_timeout().expect("a deadline");
    assert_eq!(deadline, now + cfg.step_timeout);
    assert_eq!(
        b.handle_timeout(deadline - Duration::from_millis(1)),
        Ok(())
    );
    assert_eq!(
        b.handle_timeout(deadline),
        Err(MseError::TimedOut {
            step: Step::PublicKey
        })
    );
    // Failed for good.
    assert!(b.handle_input(deadline, &[0; 200], &keys()).is_err());
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn every_step_has_a_deadline_and_the_whole_handshake_too() {
    let now = Instant::now();
    let cfg = MseConfig::default();
    let mut b = incoming(now);
    let a = Initiator::new();
    // Step 1 arrives after 9 s: the step deadline moves, the total does not.
    let t1 = now + Duration::from_secs(9);
    let (err, _) = feed(&mut b, t1, &a.step1(&[]), 96);
    assert_eq!(err, None);
    assert_eq!(b.step(), Step::SyncHash);
    assert_eq!(
        b.poll_timeout(),
        Some((t1 + cfg.step_timeout).min(now + cfg.handshake_timeout))
    );
    // Padding trickles in a byte at a time: that does not extend the step.
    let keys = keys();
    let mut pending = Vec::new();
    for n in 1..=100u64 {
        let t = t1 + Duration::from_millis(n * 10);
        pending.push(n as u8);
        let used = b.handle_input(t, &pending, &keys).expect("still searching");
        pending.drain(..used);
    }
    let deadline = b.poll_timeout().expect("deadline");
    assert_eq!(deadline, t1 + cfg.step_timeout);
    assert_eq!(
        b.handle_timeout(deadline),
        Err(MseError::TimedOut {
            step: Step::SyncHash
        })
    );
}

#[test]
fn wrong_vc_is_refused() {
    let now = Instant::now();
    let mut b = incoming(now);
    let a = Initiator::new();
    let yb = after_step1(&mut b, now, &a);
    let step3 = a.step3(&yb, &SKEY, [0, 0, 0, 0, 0, 0, 0, 1], 0x03, 0, b"");
    let (err, _) = feed(&mut b, now, &step3, 1000);
    assert_eq!(err, Some(MseError::WrongVc));
    assert!(b.poll_transmit().is_none(), "no step 4 for a wrong VC");
}

#[test]
fn unknown_torrent_is_refused() {
    let now = Instant::now();
    let mut b = incoming(now);
    let a = Initiator::new();
    let yb = after_step1(&mut b, now, &a);
    let step3 = a.step3(&yb, &[0x43; 20], [0; 8], 0x03, 0, b"");
    let (err, _) = feed(&mut b, now, &step3, 1000);
    assert_eq!(err, Some(MseError::UnknownTorrent));
}

#[test]
fn oversized_pad_c_and_unknown_methods_are_refused() {
    let now = Instant::now();
    let a = Initiator::new();
    let mut b = incoming(now);
    let yb = after_step1(&mut b, now, &a);
    let (err, _) = feed(
        &mut b,
        now,
        &a.step3(&yb, &SKEY, [0; 8], 0x03, 513, b""),
        1000,
    );
    assert_eq!(
        err,
        Some(MseError::PadTooLong {
            step: Step::PadC,
            len: 513
        })
    );
    let mut b = incoming(now);
    let yb = after_step1(&mut b, now, &a);
    let (err, _) = feed(
        &mut b,
        now,
        &a.step3(&yb, &SKEY, [0; 8], 0x04, 0, b""),
        1000,
    );
    assert_eq!(
        err,
        Some(MseError::NoCommonMethod {
            offered: 4,
            allowed: 3
        })
    );
}

/// A hand-made receiver for our initiator: answers step 2 and step 4 as
/// told.
/// Returns the error, the most bytes left to the caller, and whether the
/// initiator got established.
fn outgoing_against(
    pad_b: &[u8],
    vc: [u8; 8],
    select: u32,
    pad_d: u16,
) -> (Option<MseError>, usize, bool) {
    let now = Instant::now();
    let ia = b"ia";
    let mut a = Handshake::outgoing(
        now,
        MseConfig::default(),
        SKEY,
        ia,
        Entropy::from_bytes([0x15; 36]),
    )
    .expect("outgoing");
    let step1 = a.poll_transmit().expect("step 1");
    let y = PrivateKey::from_bytes([0x61; 20]);
    let s = y
        .shared_secret(step1[..96].try_into().unwrap())
        .expect("valid");
    let mut reply = y.public_key().to_vec();
    reply.extend_from_slice(pad_b);
    let mut enc = vc.to_vec();
    enc.extend_from_slice(&select.to_be_bytes());
    enc.extend_from_slice(&pad_d.to_be_bytes());
    enc.extend(std::iter::repeat_n(0u8, usize::from(pad_d).min(600)));
    Rc4::mse(&key_b(&s, &SKEY)).apply(&mut enc);
    reply.extend(enc);
    let r = feed(&mut a, now, &reply, 11);
    if r.0.is_none() && a.is_established() {
        // Step 3 went out before.
        let step3 = a.poll_transmit().expect("step 3");
        assert_eq!(&step3[..20], &req1(&s));
    }
    (r.0, r.1, a.is_established())
}

#[test]
fn outgoing_hostile_receivers() {
    let (err, most, done) = outgoing_against(&[1; 512], [0; 8], 2, 512);
    assert_eq!(
        (err, done),
        (None, true),
        "512 bytes of PadB and of PadD are allowed"
    );
    assert!(most <= 520, "caller held {most} bytes");
    let (err, _, done) = outgoing_against(&[], [0; 8], 1, 0);
    assert_eq!((err, done), (None, true));
    let (err, most, _) = outgoing_against(&[1; 600], [0; 8], 2, 0);
    assert_eq!(err, Some(MseError::VcNotFound { searched: 520 }));
    assert!(most <= 520);
    // A wrong VC is never found: it is the search that fails, once PadB's
    // 512 bytes are past (here the 512 bytes of PadD that follow).
    let (err, _, _) = outgoing_against(&[], [1; 8], 2, 512);
    assert_eq!(err, Some(MseError::VcNotFound { searched: 520 }));
    for select in [0, 3, 4, 0x8000_0002] {
        let (err, _, _) = outgoing_against(&[], [0; 8], select, 0);
        assert_eq!(
            err,
            Some(MseError::BadSelect {
                selected: select,
                offered: 3
            })
        );
    }
    let (err, _, _) = outgoing_against(&[], [0; 8], 1, 600);
    assert_eq!(
        err,
        Some(MseError::PadTooLong {
            step: Step::PadD,
            len: 600
        })
    );
}

#[test]
fn ten_thousand_half_finished_handshakes_each_time_out() {
    let now = Instant::now();
    let a = Initiator::new();
    let step1 = a.step1(&[5; 100]);
    let mut all: Vec<Handshake> = (0..10_000u32)
        .map(|n| {
            let mut e = [0x20u8; 36];
            e[..4].copy_from_slice(&n.to_be_bytes());
            e[4] = 1;
            Handshake::incoming(now, MseConfig::default(), Entropy::from_bytes(e))
        })
        .collect();
    // Half get a DH key and padding, half only a few bytes.
    for (n, h) in all.iter_mut().enumerate().take(200) {
        let bytes = if n % 2 == 0 { &step1[..] } else { &step1[..10] };
        let _ = feed(h, now, bytes, 64);
    }
    let late = now + MseConfig::default().handshake_timeout;
    let mut timed_out = 0;
    for h in &mut all {
        let deadline = h.poll_timeout().expect("every handshake has a deadline");
        assert!(deadline <= late);
        if matches!(h.handle_timeout(late), Err(MseError::TimedOut { .. })) {
            timed_out += 1;
        }
    }
    assert_eq!(timed_out, all.len());
}
