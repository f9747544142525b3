//! Write tokens (BEP 5): `get_peers` hands one out, `announce_peer` must
//! bring it back from the same IP.
//!
//! As in the BEP's reference implementation, a token is SHA-1 of a secret
//! and the requester's IP (truncated to [`TOKEN_LEN`] bytes); the secret
//! changes every [`ROTATE_EVERY`] and the previous one is still accepted,
//! so a token lives 5 to 10 minutes. Secrets are SHA-1 of the caller's
//! 32-byte seed and a counter: unpredictable if the seed is, and never
//! derived from the id generator whose outputs go on the wire.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use seedcore_hash::Sha1;

/// How often the secret changes.
pub const ROTATE_EVERY: Duration = Duration::from_secs(5 * 60);
/// Bytes of a token we hand out.
pub const TOKEN_LEN: usize = 8;

/// The current and previous secret.
#[derive(Clone, Debug)]
pub struct Tokens {
    seed: [u8; 32],
    counter: u64,
    current: [u8; 20],
    previous: [u8; 20],
    next_rotation: Instant,
}

impl Tokens {
    /// Secrets from `seed`, first rotation at `now + ROTATE_EVERY`.
    pub fn new(seed: [u8; 32], now: Instant) -> Tokens {
        let current = derive(&seed, 0);
        Tokens {
            seed,
            counter: 0,
            current,
            previous: current,
            next_rotation: now + ROTATE_EVERY,
        }
    }

    /// Rotates if due.
    pub fn maybe_rotate(&mut self, now: Instant) {
        if now >= self.next_rotation {
            self.counter = self.counter.wrapping_add(1);
            self.previous = self.current;
            self.current = derive(&self.seed, self.counter);
            self.next_rotation = now + ROTATE_EVERY;
        }
    }

    /// The token for `ip` under the current secret.
    pub fn issue(&self, ip: IpAddr) -> Vec<u8> {
        token(&self.current, ip)
    }

    /// Whether `t` was issued to `ip` under the current or previous secret.
    pub fn validate(&self, ip: IpAddr, t: &[u8]) -> bool {
        t == token(&self.current, ip).as_slice() || t == token(&self.previous, ip).as_slice()
    }
}

fn derive(seed: &[u8; 32], counter: u64) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(b"seedcore-dht token secret");
    h.update(seed);
    h.update(&counter.to_be_bytes());
    h.finalize()
}

fn token(secret: &[u8; 20], ip: IpAddr) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(secret);
    match ip {
        IpAddr::V4(v4) => h.update(&v4.octets()),
        IpAddr::V6(v6) => h.update(&v6.octets()),
    }
    h.finalize().iter().take(TOKEN_LEN).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_to_ip_and_expire_after_two_rotations() {
        let t0 = Instant::now();
        let mut tokens = Tokens::new([7; 32], t0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let tok = tokens.issue(ip);
        assert_eq!(tok.len(), TOKEN_LEN);
        assert!(tokens.validate(ip, &tok));
        assert!(!tokens.validate(other, &tok));
        assert!(!tokens.validate(ip, b"wrong"));
        tokens.maybe_rotate(t0 + ROTATE_EVERY);
        assert!(tokens.validate(ip, &tok), "previous secret still accepted");
        assert_ne!(tokens.issue(ip), tok);
        tokens.maybe_rotate(t0 + ROTATE_EVERY * 2);
        assert!(!tokens.validate(ip, &tok), "token older than two rotations");
        // Another seed gives other tokens.
        assert_ne!(
            Tokens::new([8; 32], t0).issue(ip),
            Tokens::new([7; 32], t0).issue(ip)
        );
    }
}
