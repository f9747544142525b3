//! Message Stream Encryption (MSE, also called PE or "protocol
//! encryption"): the obfuscated handshake that libtorrent, Transmission,
//! qBittorrent, aria2, rtorrent, BitComet and Xunlei speak, and the RC4
//! stream after it.
//!
//! # Why it matters to a seed
//!
//! Peers that insist on it (Transmission starts its dials encrypted;
//! qBittorrent with "Require encryption" and aria2 with
//! `--bt-require-crypto` never speak plaintext) get nothing from a seed
//! that only speaks plain BitTorrent. But most of them *offer* plaintext
//! payload in `crypto_provide`; we select it by default, so only the
//! handshake is obfuscated and blocks keep the zero-copy send path. RC4 is
//! for the peers that insist on it.
//!
//! # Shape
//!
//! Sans-IO, like the peer session: [`Handshake`] is fed bytes and a clock
//! (`handle_input(now, bytes, keys)`), hands out bytes to send
//! (`poll_transmit`), bounds every step (`poll_timeout` /
//! `handle_timeout`), and ends in an [`Established`] whose [`Cipher`] is
//! the in-place byte-stream transform between the transport and the
//! session. Randomness comes in from the caller ([`Entropy`]); the crate
//! reads no clock, no socket and no OS randomness, so every hostile case is
//! a deterministic unit test and [`fuzz_mse`] can drive it.
//!
//! The incoming side finds the torrent through [`StreamKeys`], a map from
//! `HASH('req2', SKEY)` to SKEY ([`SkeyMap`]): one lookup however many
//! torrents are served.
//!
//! Why a crate beside `seedcore-protocol` rather than a module of it: the
//! protocol crate is pure wire codec and session logic with no
//! cryptographic dependencies; MSE brings a big-integer crate and a cipher
//! and sits *under* the session (it transforms the byte stream the session
//! reads), so it is its own layer, used only by the runtime.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use seedcore_mse::*;
//!
//! let skey = [7u8; 20];
//! let keys: SkeyMap = [skey].into_iter().collect();
//! let now = Instant::now();
//! let cfg = MseConfig::default();
//! let ia = b"\x13BitTorrent protocol...".to_vec();
//! let mut a = Handshake::outgoing(now, cfg, skey, &ia, Entropy::from_bytes([1; 36]))?;
//! let mut b = Handshake::incoming(now, cfg, Entropy::from_bytes([2; 36]));
//!
//! // Shuttle bytes until both are done (a real caller keeps unconsumed bytes).
//! let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
//! while !(a.is_established() && b.is_established()) {
//!     if let Some(out) = a.poll_transmit() { to_b.extend(out); }
//!     if !b.is_established() {
//!         let used = b.handle_input(now, &to_b, &keys)?;
//!         to_b.drain(..used);
//!     }
//!     if let Some(out) = b.poll_transmit() { to_a.extend(out); }
//!     let used = a.handle_input(now, &to_a, &keys)?;
//!     to_a.drain(..used);
//! }
//! let (mut ea, mut eb) = (a.take_established().unwrap(), b.take_established().unwrap());
//! // The peer offered both; we prefer plaintext, so only IA was encrypted.
//! assert_eq!(eb.negotiated, Negotiated::MsePlaintext);
//! assert_eq!(eb.skey, Some(skey));
//! eb.cipher.decrypt(&mut to_b); // IA, still RC4 on the wire
//! assert_eq!(to_b, ia);
//! assert!(ea.cipher.send_is_plain() && eb.cipher.is_plain());
//! # Ok::<(), MseError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod cipher;
pub mod dh;
mod error;
mod fuzz;
mod handshake;
mod policy;
pub mod rc4;
mod skey;

pub use cipher::{Cipher, Negotiated};
pub use error::{MseError, Step};
pub use fuzz::fuzz_mse;
pub use handshake::{Entropy, Established, Handshake, MAX_IA, MAX_PAD, PLAIN_PREFIX};
pub use policy::{method, Level, Mode, MseConfig, ParseError, Prefer};
pub use skey::{key_a, key_b, req1, req2, req3, Skey, SkeyMap, StreamKeys};
