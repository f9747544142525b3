//! Replays of real handshakes with libtorrent 2.0.8 (python3-libtorrent),
//! captured by `tests/tests/mse_handshake.rs` with
//! `SEEDCORE_MSE_CAPTURE=engine/mse/tests/data`: libtorrent's bytes as
//! they came off the socket, and the fixed entropy our side used. Given
//! the same entropy our side computes the same secret, so libtorrent's
//! recorded bytes must take it to the same result, in any chunking, and
//! the bytes after the handshake must decrypt to libtorrent's BitTorrent
//! handshake for the torrent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::path::Path;
use std::time::Instant;

use seedcore_mse::*;

fn bytes(v: &serde_json::Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key}"))).unwrap()
}

#[test]
fn libtorrent_captures_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let name = path.display().to_string();
        let entropy: [u8; 36] = bytes(&v, "entropy").try_into().unwrap();
        let skey: [u8; 20] = bytes(&v, "skey").try_into().unwrap();
        let peer = bytes(&v, "peer_bytes");
        let ia = bytes(&v, "ia");
        let cfg = MseConfig {
            incoming: Mode::Forced,
            outgoing: Mode::Forced,
            level: v["level"].as_str().unwrap().parse().unwrap(),
            prefer: v["prefer"].as_str().unwrap().parse().unwrap(),
            ..MseConfig::default()
        };
        let keys: SkeyMap = [skey].into_iter().collect();
        for chunk in [1, 13, 96, peer.len()] {
            let now = Instant::now();
            let mut h = if v["role"] == "incoming" {
                Handshake::incoming(now, cfg, Entropy::from_bytes(entropy))
            } else {
                Handshake::outgoing(now, cfg, skey, &ia, Entropy::from_bytes(entropy)).unwrap()
            };
            let mut pending = Vec::new();
            for piece in peer.chunks(chunk) {
                pending.extend_from_slice(piece);
                let used = h
                    .handle_input(now, &pending, &keys)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                pending.drain(..used);
            }
            assert!(
                pending.is_empty(),
                "{name}: all of the capture is handshake"
            );
            let mut e = h
                .take_established()
                .unwrap_or_else(|| panic!("{name}: not established"));
            assert_eq!(
                e.negotiated.name(),
                v["negotiated"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(e.skey, Some(skey));
            let mut after = bytes(&v, "after");
            e.cipher.decrypt(&mut after);
            assert_eq!(&after[..20], PLAIN_PREFIX, "{name}");
            assert_eq!(&after[28..48], &skey, "{name}");
        }
    }
    assert!(seen >= 6, "captures missing from {}", dir.display());
}
