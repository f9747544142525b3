//! SHA-256, for v2 info-hashes and BEP 52 merkle trees.
//!
//! A thin wrapper over the `sha2` crate rather than our own backends: `sha2`
//! already selects its SHA-NI code at run time (through `cpufeatures`) and
//! runs at hardware speed, and v2 hashing is dominated by 16 KiB leaves,
//! which it handles well. The wrapper keeps the dependency out of our public
//! API, so the other crates see the same shape as [`crate::Sha1`].

use sha2::Digest as _;

use crate::Sha256Digest;

/// Incremental SHA-256 over one message.
#[derive(Clone, Debug, Default)]
pub struct Sha256(sha2::Sha256);

impl Sha256 {
    /// A fresh hasher.
    pub fn new() -> Self {
        Sha256(sha2::Sha256::new())
    }

    /// Feeds `d` into the hash.
    pub fn update(&mut self, d: &[u8]) {
        self.0.update(d);
    }

    /// Pads the message and returns its digest.
    pub fn finalize(self) -> Sha256Digest {
        self.0.finalize().into()
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> Sha256Digest {
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn fips_vectors() {
        assert_eq!(
            hex::encode(sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let msg = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(
            hex::encode(sha256(msg)),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let mut h = Sha256::new();
        for _ in 0..1000 {
            h.update(&[b'a'; 1000]);
        }
        assert_eq!(
            hex::encode(h.finalize()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn incremental_matches_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut h = Sha256::default();
        h.update(&data[..333]);
        h.update(&data[333..]);
        assert_eq!(h.finalize(), sha256(&data));
    }
}
