//! The byte-stream transform left after the handshake.
//!
//! This is the seam between a transport (TCP today, uTP later) and the peer
//! session: bytes from the transport go through [`Cipher::decrypt`] before
//! the session sees them, and bytes from the session go through
//! [`Cipher::encrypt`] before the transport. Both work in place and keep
//! no buffer of their own.
//!
//! When plaintext was selected, the only work left is decrypting the
//! initiator's initial payload (IA), which is always RC4: [`Cipher`] does
//! that for the first `len(IA)` received bytes and then becomes the
//! identity in that direction, and [`Cipher::send_is_plain`] tells the
//! runtime it may keep its zero-copy send path.

use crate::rc4::Rc4;

/// What was agreed, for the counters and the logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Negotiated {
    /// No MSE at all: a plain `\x13BitTorrent protocol` handshake.
    Plain,
    /// MSE handshake, plaintext payload.
    MsePlaintext,
    /// MSE handshake, RC4 payload.
    MseRc4,
}

impl Negotiated {
    /// A short name for logs and status (`plain`, `mse-plaintext`, `mse-rc4`).
    pub fn name(self) -> &'static str {
        match self {
            Negotiated::Plain => "plain",
            Negotiated::MsePlaintext => "mse-plaintext",
            Negotiated::MseRc4 => "mse-rc4",
        }
    }
}

/// How received bytes are decrypted.
#[derive(Clone, Debug)]
enum Recv {
    Plain,
    Rc4(Box<Rc4>),
    /// RC4 for the next `left` bytes (the rest of IA), then plain.
    IaThenPlain {
        rc4: Box<Rc4>,
        left: usize,
    },
}

/// The per-connection transform after a successful handshake.
#[derive(Clone, Debug)]
pub struct Cipher {
    send: Option<Box<Rc4>>,
    recv: Recv,
}

impl Cipher {
    /// The identity in both directions (no MSE, or nothing left to do).
    pub fn plain() -> Cipher {
        Cipher {
            send: None,
            recv: Recv::Plain,
        }
    }

    pub(crate) fn rc4(send: Rc4, recv: Rc4) -> Cipher {
        Cipher {
            send: Some(Box::new(send)),
            recv: Recv::Rc4(Box::new(recv)),
        }
    }

    /// Plaintext payload, except for the `ia_left` bytes of IA still to
    /// come, which are RC4 with `recv`.
    pub(crate) fn plaintext_after_ia(recv: Rc4, ia_left: usize) -> Cipher {
        Cipher {
            send: None,
            recv: if ia_left == 0 {
                Recv::Plain
            } else {
                Recv::IaThenPlain {
                    rc4: Box::new(recv),
                    left: ia_left,
                }
            },
        }
    }

    /// Encrypts bytes about to be sent, in place (nothing when plain).
    #[inline]
    pub fn encrypt(&mut self, buf: &mut [u8]) {
        if let Some(rc4) = &mut self.send {
            rc4.apply(buf);
        }
    }

    /// Decrypts bytes just received, in place.
    #[inline]
    pub fn decrypt(&mut self, buf: &mut [u8]) {
        match &mut self.recv {
            Recv::Plain => {}
            Recv::Rc4(rc4) => rc4.apply(buf),
            Recv::IaThenPlain { rc4, left } => {
                let n = (*left).min(buf.len());
                if let Some(head) = buf.get_mut(..n) {
                    rc4.apply(head);
                }
                *left -= n;
                if *left == 0 {
                    // IA is done: drop the 1 KiB of state for good.
                    self.recv = Recv::Plain;
                }
            }
        }
    }

    /// Whether [`Cipher::encrypt`] is the identity: blocks can then be sent
    /// straight from storage.
    pub fn send_is_plain(&self) -> bool {
        self.send.is_none()
    }

    /// Whether [`Cipher::decrypt`] is the identity (from now on).
    pub fn recv_is_plain(&self) -> bool {
        matches!(self.recv, Recv::Plain)
    }

    /// Whether both directions are the identity.
    pub fn is_plain(&self) -> bool {
        self.send_is_plain() && self.recv_is_plain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ia_prefix_then_plain() {
        let key = [4u8; 20];
        let mut c = Cipher::plaintext_after_ia(Rc4::mse(&key), 5);
        let mut want = [1u8, 2, 3, 4, 5, 6, 7];
        let mut wire = want;
        Rc4::mse(&key).apply(&mut wire[..5]);
        let (a, b) = wire.split_at_mut(3);
        c.decrypt(a);
        assert!(!c.recv_is_plain());
        c.decrypt(b);
        assert!(c.recv_is_plain());
        assert_eq!(wire, want);
        // Plain afterwards.
        c.decrypt(&mut want);
        assert_eq!(want, [1, 2, 3, 4, 5, 6, 7]);
        assert!(c.is_plain());
    }
}
