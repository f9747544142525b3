//! The 768-bit Diffie-Hellman exchange of MSE.
//!
//! `P` is the 768-bit MODP prime of RFC 2409 (Oakley group 1), `G = 2`,
//! private keys are 160 random bits, public keys and the shared secret are
//! 96-byte big-endian numbers. The exponentiation is `crypto-bigint`'s
//! Montgomery ladder over a compile-time modulus, bounded to 160 exponent
//! bits and constant-time in the private key. One exponentiation costs
//! about 36-48 µs on one core of the development Xeon (num-bigint's
//! `modpow`, variable-time, 50-64 µs), so a handshake costs two of them:
//! our public key, then the shared secret.

use crypto_bigint::modular::ConstMontyForm;
use crypto_bigint::{const_monty_params, U192, U768};

use crate::MseError;

/// Bytes of a public key or shared secret on the wire.
pub const KEY_LEN: usize = 96;

/// Bytes of a private key (160 bits, as the spec says).
pub const PRIVATE_LEN: usize = 20;

const_monty_params!(
    MseModulus,
    U768,
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    "The MSE prime P (RFC 2409's 768-bit MODP group)"
);

type Element = ConstMontyForm<MseModulus, { U768::LIMBS }>;

/// The prime P as big-endian bytes.
pub fn prime() -> [u8; KEY_LEN] {
    to_bytes(&U768::from_be_hex(
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    ))
}

fn to_bytes(v: &U768) -> [u8; KEY_LEN] {
    let mut out = [0u8; KEY_LEN];
    let enc = v.to_be_bytes();
    let src = enc.as_slice();
    // `U768` is exactly 96 bytes; copy what is there regardless.
    for (o, s) in out.iter_mut().zip(src) {
        *o = *s;
    }
    out
}

fn exponent(private: &[u8; PRIVATE_LEN]) -> U192 {
    let mut wide = [0u8; 24];
    for (w, p) in wide.iter_mut().skip(4).zip(private) {
        *w = *p;
    }
    U192::from_be_slice(&wide)
}

/// A 160-bit private key. Never leaves the process; not printed.
#[derive(Clone)]
pub struct PrivateKey([u8; PRIVATE_LEN]);

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// A private key from 20 random bytes (the caller's CSPRNG).
    pub fn from_bytes(bytes: [u8; PRIVATE_LEN]) -> PrivateKey {
        PrivateKey(bytes)
    }

    /// Our public key, `G^X mod P`, as 96 big-endian bytes.
    pub fn public_key(&self) -> [u8; KEY_LEN] {
        let g = Element::new(&U768::from_u8(2));
        to_bytes(&g.pow_bounded_exp(&exponent(&self.0), 160).retrieve())
    }

    /// The shared secret `Y^X mod P` for the peer's public key `peer`.
    ///
    /// The peer's key must be a reduced number other than 0, 1 and P-1:
    /// those would make the secret 0 or ±1 whatever our key is, and no
    /// honest client sends them (the chance of drawing one is nil).
    pub fn shared_secret(&self, peer: &[u8; KEY_LEN]) -> Result<[u8; KEY_LEN], MseError> {
        let y = U768::from_be_slice(peer);
        let p = U768::from_be_slice(&prime());
        let p_minus_1 = p.wrapping_sub(&U768::ONE);
        if y.cmp_vartime(&U768::ONE).is_le() || y.cmp_vartime(&p_minus_1).is_ge() {
            return Err(MseError::BadPublicKey);
        }
        let base = Element::new(&y);
        Ok(to_bytes(
            &base.pow_bounded_exp(&exponent(&self.0), 160).retrieve(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_agree() {
        let a = PrivateKey::from_bytes([0x11; 20]);
        let b = PrivateKey::from_bytes([0xfe; 20]);
        let sa = a.shared_secret(&b.public_key()).expect("valid key");
        let sb = b.shared_secret(&a.public_key()).expect("valid key");
        assert_eq!(sa, sb);
        assert_ne!(sa, [0u8; 96]);
    }

    /// A small exponent's public key is a plain power of two
    /// (`tests/vectors.rs` checks full-size keys against Python).
    #[test]
    fn small_exponents_are_powers_of_two() {
        let mut k = [0u8; 20];
        k[19] = 10;
        let y = PrivateKey::from_bytes(k).public_key();
        let mut want = [0u8; 96];
        want[94] = 0x04; // 2^10 = 0x400
        assert_eq!(y, want);
    }

    #[test]
    fn degenerate_peer_keys_are_refused() {
        let a = PrivateKey::from_bytes([3; 20]);
        let mut one = [0u8; 96];
        one[95] = 1;
        let p = prime();
        let mut p_minus_1 = p;
        p_minus_1[95] -= 1;
        for bad in [[0u8; 96], one, p_minus_1, p, [0xff; 96]] {
            assert!(matches!(a.shared_secret(&bad), Err(MseError::BadPublicKey)));
        }
        let mut two = [0u8; 96];
        two[95] = 2;
        assert!(a.shared_secret(&two).is_ok());
    }
}
