//! The fuzz entry point: arbitrary bytes from a peer, in arbitrary pieces,
//! into both roles of the handshake.

use std::time::{Duration, Instant};

use crate::handshake::{Entropy, Handshake};
use crate::policy::{Level, Mode, MseConfig, Prefer};
use crate::skey::{self, SkeyMap, StreamKeys};

/// Most bytes a caller may be left holding between calls: the req1 search
/// window (PadA plus the hash) is the largest step.
const MAX_PENDING: usize = 1024;

/// Keys that know every torrent (so the fuzzer reaches the VC check and
/// beyond without having to guess a SHA-1 preimage).
struct AnyTorrent;

impl StreamKeys for AnyTorrent {
    fn find_skey(&self, req2: &[u8; 20]) -> Option<skey::Skey> {
        Some(*req2)
    }
}

/// Feeds `data` as a peer's bytes to an incoming and to an outgoing
/// handshake, split into pieces whose sizes the first bytes choose, and
/// checks what must hold whatever a peer sends: no panic, never more
/// consumed than given, the bytes left to the caller bounded, and a
/// deadline always set until the handshake ends.
///
/// The first byte picks the configuration (modes, level, preference) and
/// which key map answers; the second seeds the piece sizes.
pub fn fuzz_mse(data: &[u8]) {
    let (Some(&conf), Some(&seed)) = (data.first(), data.get(1)) else {
        return;
    };
    let body = data.get(2..).unwrap_or_default();
    let cfg = MseConfig {
        incoming: match conf % 3 {
            0 => Mode::Disabled,
            1 => Mode::Enabled,
            _ => Mode::Forced,
        },
        outgoing: Mode::Enabled,
        level: match (conf / 3) % 3 {
            0 => Level::Plaintext,
            1 => Level::Rc4,
            _ => Level::Both,
        },
        prefer: if conf & 0x10 != 0 {
            Prefer::Rc4
        } else {
            Prefer::Plaintext
        },
        ..MseConfig::default()
    };
    let now = Instant::now();
    let entropy = Entropy::from_bytes([seed; 36]);
    let map: SkeyMap = [[seed; 20]].into_iter().collect();
    let keys: &dyn StreamKeys = if conf & 0x20 != 0 { &AnyTorrent } else { &map };

    let incoming = Handshake::incoming(now, cfg, entropy.clone());
    drive(incoming, body, seed, keys, now);
    if let Ok(outgoing) = Handshake::outgoing(
        now,
        cfg,
        [seed; 20],
        body.get(..68).unwrap_or_default(),
        entropy,
    ) {
        drive(outgoing, body, seed, keys, now);
    }
}

fn drive(mut h: Handshake, body: &[u8], seed: u8, keys: &dyn StreamKeys, now: Instant) {
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = body;
    let mut size = usize::from(seed % 97) + 1;
    let mut clock = now;
    while !rest.is_empty() {
        let take = size.min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        size = (size * 31 + 7) % 700 + 1;
        pending.extend_from_slice(chunk);
        let _ = h.poll_transmit();
        match h.handle_input(clock, &pending, keys) {
            Ok(used) => {
                assert!(used <= pending.len(), "consumed more than given");
                pending.drain(..used);
            }
            Err(_) => {
                assert!(h.error().is_some());
                assert!(h.poll_timeout().is_none());
                return;
            }
        }
        if let Some(mut est) = h.take_established() {
            // Everything after the handshake goes through the cipher.
            est.cipher.decrypt(&mut pending);
            let mut tail = rest.to_vec();
            est.cipher.decrypt(&mut tail);
            let mut out = tail.clone();
            est.cipher.encrypt(&mut out);
            return;
        }
        assert!(
            pending.len() <= MAX_PENDING,
            "{} bytes left unconsumed",
            pending.len()
        );
        assert!(h.poll_timeout().is_some());
        clock += Duration::from_millis(u64::from(seed));
        if h.handle_timeout(clock).is_err() {
            return;
        }
    }
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn short_and_odd_inputs_do_not_panic() {
        fuzz_mse(&[]);
        fuzz_mse(&[0]);
        for conf in 0..=255u8 {
            fuzz_mse(&[conf, 3]);
            fuzz_mse(&[conf, 1, 0x13, b'B']);
            let mut long = vec![conf, 200];
            long.extend((0..3000u32).map(|n| (n * 7 % 251) as u8));
            fuzz_mse(&long);
        }
        let mut plain = vec![1u8, 5];
        plain.extend_from_slice(crate::PLAIN_PREFIX);
        plain.extend_from_slice(&[0; 48]);
        fuzz_mse(&plain);
    }
}
