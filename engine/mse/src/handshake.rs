//! The MSE handshake as a sans-IO state machine, both roles.
//!
//! ```text
//!  A (initiator, our dials)                     B (receiver, our listener)
//!  1  Ya, PadA ─────────────────────────────────►
//!  2  ◄───────────────────────────────────────── Yb, PadB
//!  3  HASH('req1',S), HASH('req2',SKEY)^HASH('req3',S),
//!     ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA) ─►
//!  4  ◄──────────── ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
//!  5  ENCRYPT2(payload) ────────────────────────►
//! ```
//!
//! # How the caller drives it
//!
//! Like the peer session: `handle_input(now, bytes, keys)` returns how many
//! bytes it consumed; the caller keeps the rest and presents them again
//! with more. "Need more bytes" is `Ok` with fewer consumed, never an
//! error. `poll_transmit` hands out what to send, `poll_timeout` /
//! `handle_timeout` bound every step. Once [`Handshake::is_established`],
//! [`Handshake::take_established`] gives the [`Cipher`] and the caller feeds
//! every byte after the consumed ones through it to the session.
//!
//! # Why the caller's buffer is bounded
//!
//! The machine consumes as soon as it can make progress: while it searches
//! for a synchronisation point it consumes every byte that can no longer
//! start one, and it gives up after the 512 bytes of padding the spec
//! allows. So what it leaves unconsumed is at most one step's worth
//! (at most 532 bytes, the req1 search window), whatever the peer sends.
//!
//! # The initial payload
//!
//! The receiver finishes as soon as it has read `len(IA)`: IA is just the
//! first `len(IA)` bytes of the payload stream, RC4 whatever was selected,
//! and the [`Cipher`] decrypts exactly that much before it turns into the
//! identity (plaintext selected) or goes on (RC4 selected). So IA is never
//! buffered here, whatever its length. The initiator sends the IA it was
//! given (our BitTorrent handshake) in step 3, as libtorrent and
//! Transmission do, saving a round trip.

use std::time::Instant;

use crate::cipher::{Cipher, Negotiated};
use crate::dh::{PrivateKey, KEY_LEN, PRIVATE_LEN};
use crate::error::{MseError, Step};
use crate::policy::{method, Mode, MseConfig};
use crate::rc4::Rc4;
use crate::skey::{self, Skey, StreamKeys};

/// The plain BitTorrent handshake's first 20 bytes.
pub const PLAIN_PREFIX: &[u8; 20] = b"\x13BitTorrent protocol";

/// The most padding PadA-PadD may hold.
pub const MAX_PAD: usize = 512;

/// The longest initial payload (its length is a u16 on the wire).
pub const MAX_IA: usize = u16::MAX as usize;

const VC_LEN: usize = 8;

/// The randomness one handshake needs, drawn by the caller from its CSPRNG
/// so that this crate never reads the OS (and tests are reproducible).
#[derive(Clone)]
pub struct Entropy {
    private: [u8; PRIVATE_LEN],
    pad_seed: [u8; 16],
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy(..)")
    }
}

impl Entropy {
    /// 36 bytes from a cryptographically secure generator.
    pub fn from_rng<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Entropy {
        let mut bytes = [0u8; 36];
        rng.fill_bytes(&mut bytes);
        Entropy::from_bytes(bytes)
    }

    /// From 36 given bytes: the first 20 are the DH private key, the rest
    /// seed the padding. Only a CSPRNG's output keeps the handshake secret;
    /// fixed bytes are for tests and fuzzing.
    pub fn from_bytes(bytes: [u8; 36]) -> Entropy {
        let mut private = [0u8; PRIVATE_LEN];
        let mut pad_seed = [0u8; 16];
        let (a, b) = bytes.split_at(PRIVATE_LEN);
        private.copy_from_slice(a);
        pad_seed.copy_from_slice(b);
        Entropy { private, pad_seed }
    }
}

/// Makes the padding: RC4 keyed with the random seed and a counter.
/// Padding needs to be unpredictable, not secret, and this keeps a
/// handshake's randomness to 36 bytes drawn once.
struct Pads {
    seed: [u8; 16],
    count: u8,
}

impl Pads {
    /// Appends a random 0..=512 bytes of padding and returns its length.
    fn append(&mut self, out: &mut Vec<u8>) -> u16 {
        let mut key = [0u8; 17];
        for (k, s) in key.iter_mut().zip(self.seed) {
            *k = s;
        }
        key[16] = self.count;
        self.count = self.count.wrapping_add(1);
        let mut rc4 = Rc4::new(&key);
        let mut len = [0u8; 2];
        rc4.apply(&mut len);
        let len = u16::from_be_bytes(len) % 513; // 0..=MAX_PAD
        let start = out.len();
        out.resize(start + usize::from(len), 0);
        if let Some(pad) = out.get_mut(start..) {
            rc4.apply(pad);
        }
        len
    }
}

/// The result of a successful handshake.
#[derive(Debug)]
pub struct Established {
    /// What was agreed.
    pub negotiated: Negotiated,
    /// The info-hash the peer named (`None` for a plain handshake, whose
    /// info-hash the session reads itself). The session must refuse a
    /// BitTorrent handshake for any other torrent.
    pub skey: Option<Skey>,
    /// The transform for everything after the handshake.
    pub cipher: Cipher,
}

enum State {
    // Receiver (B).
    Detect,
    InKey,
    InSync {
        secret: Box<[u8; KEY_LEN]>,
        req1: [u8; 20],
        skipped: usize,
    },
    InProvide {
        secret: Box<[u8; KEY_LEN]>,
    },
    InPadC {
        recv: Box<Rc4>,
        send: Box<Rc4>,
        select: u32,
        pad: usize,
        skey: Skey,
    },
    // Initiator (A).
    OutKey {
        skey: Skey,
        ia: Vec<u8>,
    },
    OutSync {
        vc: [u8; VC_LEN],
        recv: Box<Rc4>,
        send: Box<Rc4>,
        skipped: usize,
        skey: Skey,
    },
    OutSelect {
        recv: Box<Rc4>,
        send: Box<Rc4>,
        skey: Skey,
    },
    OutPadD {
        recv: Box<Rc4>,
        send: Box<Rc4>,
        select: u32,
        pad: usize,
        skey: Skey,
    },
    Done,
    Failed(MseError),
}

impl State {
    fn step(&self) -> Step {
        match self {
            State::Detect => Step::Detect,
            State::InKey | State::OutKey { .. } => Step::PublicKey,
            State::InSync { .. } => Step::SyncHash,
            State::InProvide { .. } => Step::Provide,
            State::InPadC { .. } => Step::PadC,
            State::OutSync { .. } => Step::SyncVc,
            State::OutSelect { .. } => Step::Select,
            State::OutPadD { .. } | State::Done | State::Failed(_) => Step::PadD,
        }
    }
}

/// One connection's MSE handshake (or its detection of a plain one).
pub struct Handshake {
    cfg: MseConfig,
    private: PrivateKey,
    pads: Pads,
    /// Our `crypto_provide` (initiator only).
    provide: u32,
    state: State,
    out: Vec<u8>,
    started: Instant,
    step_started: Instant,
    established: Option<Established>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("step", &self.state.step())
            .field("established", &self.established.is_some())
            .finish_non_exhaustive()
    }
}

/// Position of `needle` in `hay`, if any.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.get(..N).and_then(|b| b.try_into().ok())
}

impl Handshake {
    /// A handshake for a connection someone made to us. It first tells a
    /// plain BitTorrent handshake from MSE by the first 20 bytes.
    pub fn incoming(now: Instant, cfg: MseConfig, entropy: Entropy) -> Handshake {
        Handshake {
            cfg,
            private: PrivateKey::from_bytes(entropy.private),
            pads: Pads {
                seed: entropy.pad_seed,
                count: 0,
            },
            provide: 0,
            state: State::Detect,
            out: Vec::new(),
            started: now,
            step_started: now,
            established: None,
        }
    }

    /// An MSE handshake for a connection we made, asking for the torrent
    /// `skey` and carrying `ia` (our BitTorrent handshake) as the initial
    /// payload. Queues step 1 at once.
    pub fn outgoing(
        now: Instant,
        cfg: MseConfig,
        skey: Skey,
        ia: &[u8],
        entropy: Entropy,
    ) -> Result<Handshake, MseError> {
        if cfg.outgoing == Mode::Disabled {
            return Err(MseError::OutgoingDisabled);
        }
        if ia.len() > MAX_IA {
            return Err(MseError::PayloadTooLong { len: ia.len() });
        }
        let mut h = Handshake {
            cfg,
            private: PrivateKey::from_bytes(entropy.private),
            pads: Pads {
                seed: entropy.pad_seed,
                count: 0,
            },
            provide: cfg.level.bits(),
            state: State::OutKey {
                skey,
                ia: ia.to_vec(),
            },
            out: Vec::new(),
            started: now,
            step_started: now,
            established: None,
        };
        h.out.extend_from_slice(&h.private.public_key());
        h.pads.append(&mut h.out);
        Ok(h)
    }

    /// Feeds received bytes; returns how many were consumed. The rest must
    /// be presented again (with more) until the handshake is established;
    /// after that, they belong to the [`Cipher`].
    pub fn handle_input(
        &mut self,
        now: Instant,
        input: &[u8],
        keys: &dyn StreamKeys,
    ) -> Result<usize, MseError> {
        let mut pos = 0;
        loop {
            match &self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Done => return Ok(pos),
                _ => {}
            }
            let rest = input.get(pos..).unwrap_or_default();
            let state = std::mem::replace(&mut self.state, State::Done);
            match self.advance(state, rest, keys) {
                Ok(Turn::Wait(next, used)) => {
                    self.state = next;
                    return Ok(pos + used);
                }
                Ok(Turn::Next(next, used)) => {
                    self.state = next;
                    self.step_started = now;
                    pos += used;
                }
                Err(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
    }

    /// Bytes to send, if any (all of them, in order).
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.out))
        }
    }

    /// Whether [`Handshake::poll_transmit`] has bytes.
    pub fn has_transmit(&self) -> bool {
        !self.out.is_empty()
    }

    /// When [`Handshake::handle_timeout`] must be called, while the
    /// handshake is in progress.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Done | State::Failed(_) => None,
            _ => Some(
                (self.step_started + self.cfg.step_timeout)
                    .min(self.started + self.cfg.handshake_timeout),
            ),
        }
    }

    /// Fails the handshake if its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), MseError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {
                let e = MseError::TimedOut {
                    step: self.state.step(),
                };
                self.state = State::Failed(e.clone());
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// The step being waited for.
    pub fn step(&self) -> Step {
        self.state.step()
    }

    /// Whether the handshake succeeded (its result may already be taken).
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Whether this handshake has been given up.
    pub fn error(&self) -> Option<&MseError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The result, once (after that `None`).
    pub fn take_established(&mut self) -> Option<Established> {
        self.established.take()
    }

    fn finish(&mut self, negotiated: Negotiated, skey: Option<Skey>, cipher: Cipher) -> State {
        self.established = Some(Established {
            negotiated,
            skey,
            cipher,
        });
        State::Done
    }

    /// One turn of the machine on the bytes not consumed yet.
    fn advance(
        &mut self,
        state: State,
        input: &[u8],
        keys: &dyn StreamKeys,
    ) -> Result<Turn, MseError> {
        match state {
            State::Detect => self.detect(input),
            State::InKey => {
                let Some(ya) = array::<KEY_LEN>(input) else {
                    return Ok(Turn::Wait(State::InKey, 0));
                };
                let secret = self.private.shared_secret(&ya)?;
                self.out.extend_from_slice(&self.private.public_key());
                self.pads.append(&mut self.out);
                Ok(Turn::Next(
                    State::InSync {
                        req1: skey::req1(&secret),
                        secret: Box::new(secret),
                        skipped: 0,
                    },
                    KEY_LEN,
                ))
            }
            State::InSync {
                secret,
                req1,
                skipped,
            } => match sync(input, &req1, skipped) {
                Sync::Found(used) => Ok(Turn::Next(State::InProvide { secret }, used)),
                Sync::Skip(used) => Ok(Turn::Wait(
                    State::InSync {
                        secret,
                        req1,
                        skipped: skipped + used,
                    },
                    used,
                )),
                Sync::GiveUp(searched) => Err(MseError::SyncHashNotFound { searched }),
            },
            State::InProvide { secret } => self.provide(secret, input, keys),
            State::InPadC {
                mut recv,
                send,
                select,
                pad,
                skey,
            } => {
                let Some(tail) = input.get(pad..pad + 2) else {
                    return Ok(Turn::Wait(
                        State::InPadC {
                            recv,
                            send,
                            select,
                            pad,
                            skey,
                        },
                        0,
                    ));
                };
                recv.skip(pad);
                let mut len = [0u8; 2];
                len.copy_from_slice(tail);
                recv.apply(&mut len);
                let ia = usize::from(u16::from_be_bytes(len));
                let (negotiated, cipher) = if select == method::RC4 {
                    (Negotiated::MseRc4, Cipher::rc4(*send, *recv))
                } else {
                    (
                        Negotiated::MsePlaintext,
                        Cipher::plaintext_after_ia(*recv, ia),
                    )
                };
                let done = self.finish(negotiated, Some(skey), cipher);
                Ok(Turn::Next(done, pad + 2))
            }
            State::OutKey { skey, ia } => {
                let Some(yb) = array::<KEY_LEN>(input) else {
                    return Ok(Turn::Wait(State::OutKey { skey, ia }, 0));
                };
                let secret = self.private.shared_secret(&yb)?;
                let next = self.step3(&secret, skey, &ia);
                Ok(Turn::Next(next, KEY_LEN))
            }
            State::OutSync {
                vc,
                recv,
                send,
                skipped,
                skey,
            } => match sync(input, &vc, skipped) {
                Sync::Found(used) => Ok(Turn::Next(State::OutSelect { recv, send, skey }, used)),
                Sync::Skip(used) => Ok(Turn::Wait(
                    State::OutSync {
                        vc,
                        recv,
                        send,
                        skipped: skipped + used,
                        skey,
                    },
                    used,
                )),
                Sync::GiveUp(searched) => Err(MseError::VcNotFound { searched }),
            },
            State::OutSelect {
                mut recv,
                send,
                skey,
            } => {
                let Some(mut field) = array::<6>(input) else {
                    return Ok(Turn::Wait(State::OutSelect { recv, send, skey }, 0));
                };
                recv.apply(&mut field);
                let [s0, s1, s2, s3, p0, p1] = field;
                let select = u32::from_be_bytes([s0, s1, s2, s3]);
                let pad = u16::from_be_bytes([p0, p1]);
                let one = select == method::PLAINTEXT || select == method::RC4;
                if !one || select & self.provide == 0 {
                    return Err(MseError::BadSelect {
                        selected: select,
                        offered: self.provide,
                    });
                }
                if usize::from(pad) > MAX_PAD {
                    return Err(MseError::PadTooLong {
                        step: Step::PadD,
                        len: pad,
                    });
                }
                Ok(Turn::Next(
                    State::OutPadD {
                        recv,
                        send,
                        select,
                        pad: usize::from(pad),
                        skey,
                    },
                    6,
                ))
            }
            State::OutPadD {
                mut recv,
                send,
                select,
                pad,
                skey,
            } => {
                if input.len() < pad {
                    return Ok(Turn::Wait(
                        State::OutPadD {
                            recv,
                            send,
                            select,
                            pad,
                            skey,
                        },
                        0,
                    ));
                }
                recv.skip(pad);
                let (negotiated, cipher) = if select == method::RC4 {
                    (Negotiated::MseRc4, Cipher::rc4(*send, *recv))
                } else {
                    (Negotiated::MsePlaintext, Cipher::plain())
                };
                let done = self.finish(negotiated, Some(skey), cipher);
                Ok(Turn::Next(done, pad))
            }
            State::Done => Ok(Turn::Wait(State::Done, 0)),
            State::Failed(e) => Err(e),
        }
    }

    /// Plain handshake or MSE? Consumes nothing either way.
    fn detect(&mut self, input: &[u8]) -> Result<Turn, MseError> {
        let n = input.len().min(PLAIN_PREFIX.len());
        let head = input.get(..n).unwrap_or_default();
        if PLAIN_PREFIX.get(..n) != Some(head) {
            if self.cfg.incoming == Mode::Disabled {
                return Err(MseError::EncryptedRefused);
            }
            return Ok(Turn::Next(State::InKey, 0));
        }
        if n < PLAIN_PREFIX.len() {
            return Ok(Turn::Wait(State::Detect, 0));
        }
        if self.cfg.incoming == Mode::Forced {
            return Err(MseError::PlaintextRefused);
        }
        let done = self.finish(Negotiated::Plain, None, Cipher::plain());
        Ok(Turn::Next(done, 0))
    }

    /// Receiver: the obfuscated SKEY, VC, crypto_provide and len(PadC);
    /// answers with step 4.
    fn provide(
        &mut self,
        secret: Box<[u8; KEY_LEN]>,
        input: &[u8],
        keys: &dyn StreamKeys,
    ) -> Result<Turn, MseError> {
        const LEN: usize = 20 + VC_LEN + 4 + 2;
        let Some(field) = array::<LEN>(input) else {
            return Ok(Turn::Wait(State::InProvide { secret }, 0));
        };
        let (masked, enc) = field.split_at(20);
        let masked = array::<20>(masked).unwrap_or_default();
        let req2 = skey::xor20(&masked, &skey::req3(&secret));
        let Some(skey) = keys.find_skey(&req2) else {
            return Err(MseError::UnknownTorrent);
        };
        let mut recv = Box::new(Rc4::mse(&skey::key_a(&secret, &skey)));
        let mut send = Box::new(Rc4::mse(&skey::key_b(&secret, &skey)));
        let Some(mut enc) = array::<{ VC_LEN + 6 }>(enc) else {
            return Ok(Turn::Wait(State::InProvide { secret }, 0));
        };
        recv.apply(&mut enc);
        let (vc, rest) = enc.split_at(VC_LEN);
        if vc.iter().any(|b| *b != 0) {
            return Err(MseError::WrongVc);
        }
        let [c0, c1, c2, c3, p0, p1] = array::<6>(rest).unwrap_or_default();
        let provide = u32::from_be_bytes([c0, c1, c2, c3]);
        let pad = u16::from_be_bytes([p0, p1]);
        if usize::from(pad) > MAX_PAD {
            return Err(MseError::PadTooLong {
                step: Step::PadC,
                len: pad,
            });
        }
        let Some(select) = self.cfg.select(provide) else {
            return Err(MseError::NoCommonMethod {
                offered: provide,
                allowed: self.cfg.level.bits(),
            });
        };
        // Step 4: ENCRYPT(VC, crypto_select, len(PadD), PadD).
        let start = self.out.len();
        self.out.extend_from_slice(&[0u8; VC_LEN]);
        self.out.extend_from_slice(&select.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        let pad_d = self.pads.append(&mut self.out);
        if let Some(len) = self.out.get_mut(start + VC_LEN + 4..start + VC_LEN + 6) {
            len.copy_from_slice(&pad_d.to_be_bytes());
        }
        if let Some(step4) = self.out.get_mut(start..) {
            send.apply(step4);
        }
        Ok(Turn::Next(
            State::InPadC {
                recv,
                send,
                select,
                pad: usize::from(pad),
                skey,
            },
            LEN,
        ))
    }

    /// Initiator: queues step 3 and returns the state that waits for the VC.
    fn step3(&mut self, secret: &[u8; KEY_LEN], skey: Skey, ia: &[u8]) -> State {
        let mut send = Box::new(Rc4::mse(&skey::key_a(secret, &skey)));
        let mut recv = Box::new(Rc4::mse(&skey::key_b(secret, &skey)));
        self.out.extend_from_slice(&skey::req1(secret));
        self.out
            .extend_from_slice(&skey::xor20(&skey::req2(&skey), &skey::req3(secret)));
        let start = self.out.len();
        self.out.extend_from_slice(&[0u8; VC_LEN]);
        self.out.extend_from_slice(&self.provide.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        let pad_c = self.pads.append(&mut self.out);
        if let Some(len) = self.out.get_mut(start + VC_LEN + 4..start + VC_LEN + 6) {
            len.copy_from_slice(&pad_c.to_be_bytes());
        }
        // `outgoing` checked the length.
        let ia_len = u16::try_from(ia.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&ia_len.to_be_bytes());
        self.out
            .extend_from_slice(ia.get(..usize::from(ia_len)).unwrap_or_default());
        if let Some(enc) = self.out.get_mut(start..) {
            send.apply(enc);
        }
        // What the receiver's ENCRYPT(VC) looks like: its keystream's
        // first eight bytes, which also moves `recv` past the VC.
        let mut vc = [0u8; VC_LEN];
        recv.apply(&mut vc);
        State::OutSync {
            vc,
            recv,
            send,
            skipped: 0,
            skey,
        }
    }
}

/// What one turn did.
enum Turn {
    /// Needs more input; consumed this many bytes (padding skipped).
    Wait(State, usize),
    /// Moved to a new step after consuming this many bytes.
    Next(State, usize),
}

enum Sync {
    /// Found; consume this many bytes (padding and the marker).
    Found(usize),
    /// Not yet; these bytes can no longer start the marker.
    Skip(usize),
    /// Not within the allowed padding; searched this many bytes.
    GiveUp(usize),
}

/// Looks for `marker` after at most [`MAX_PAD`] bytes of padding, of which
/// `skipped` were consumed already.
fn sync(input: &[u8], marker: &[u8], skipped: usize) -> Sync {
    // The marker may start at padding offsets skipped..=MAX_PAD.
    let window = (MAX_PAD + marker.len()).saturating_sub(skipped);
    let hay = input.get(..window.min(input.len())).unwrap_or_default();
    if let Some(at) = find(hay, marker) {
        return Sync::Found(at + marker.len());
    }
    if hay.len() >= window {
        return Sync::GiveUp(skipped + hay.len());
    }
    Sync::Skip(hay.len().saturating_sub(marker.len() - 1))
}
