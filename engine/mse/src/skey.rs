//! The hashes of the handshake, and how an incoming handshake finds its
//! torrent without a linear scan.
//!
//! The initiator does not send the info-hash (SKEY) in the clear: it sends
//! `HASH('req2', SKEY) xor HASH('req3', S)`. The receiver removes the
//! `req3` mask (it knows S) and is left with `HASH('req2', SKEY)`, which it
//! cannot invert. So it must already know `HASH('req2', SKEY)` for every
//! torrent it serves: [`SkeyMap`] keeps that map, filled when a torrent is
//! added, and one lookup answers for 100,000 torrents as for one.

use std::collections::HashMap;

use seedcore_hash::Sha1;

use crate::dh::KEY_LEN;

/// A 20-byte SKEY: the info-hash exactly as it appears in the BitTorrent
/// handshake (a v1 info-hash, or the truncated v2 hash of a v2 torrent).
pub type Skey = [u8; 20];

fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// `HASH('req1', S)`: the initiator's synchronisation point after PadA.
pub fn req1(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req1", secret])
}

/// `HASH('req2', SKEY)`: what [`SkeyMap`] is keyed by.
pub fn req2(skey: &Skey) -> [u8; 20] {
    hash(&[b"req2", skey])
}

/// `HASH('req3', S)`: the mask over `req2` on the wire.
pub fn req3(secret: &[u8; KEY_LEN]) -> [u8; 20] {
    hash(&[b"req3", secret])
}

/// The RC4 key the initiator (A) encrypts with: `HASH('keyA', S, SKEY)`.
pub fn key_a(secret: &[u8; KEY_LEN], skey: &Skey) -> [u8; 20] {
    hash(&[b"keyA", secret, skey])
}

/// The RC4 key the receiver (B) encrypts with: `HASH('keyB', S, SKEY)`.
pub fn key_b(secret: &[u8; KEY_LEN], skey: &Skey) -> [u8; 20] {
    hash(&[b"keyB", secret, skey])
}

/// XOR of two 20-byte strings.
pub(crate) fn xor20(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

/// What an incoming handshake asks of the runtime's torrent table: the
/// SKEY whose `HASH('req2', SKEY)` is `req2`, if it serves one.
///
/// Implementations must answer in constant time per call (a hash map), not
/// by hashing every torrent's SKEY: a scan would let any peer cost us a
/// SHA-1 per torrent by connecting. [`SkeyMap`] is a ready one; a runtime
/// that keeps its own table can implement this on it instead.
pub trait StreamKeys {
    /// The SKEY for a `HASH('req2', SKEY)`, or `None` if no torrent served
    /// here has it (the handshake then fails with
    /// [`MseError::UnknownTorrent`](crate::MseError::UnknownTorrent)).
    fn find_skey(&self, req2: &[u8; 20]) -> Option<Skey>;
}

/// `HASH('req2', SKEY)` → SKEY for every SKEY served (both the v1 and the
/// truncated v2 hash of a hybrid torrent: a peer may use either).
#[derive(Clone, Debug, Default)]
pub struct SkeyMap {
    map: HashMap<[u8; 20], Skey>,
}

impl SkeyMap {
    /// An empty map.
    pub fn new() -> SkeyMap {
        SkeyMap::default()
    }

    /// Serves `skey` from now on (one SHA-1, once per torrent).
    pub fn insert(&mut self, skey: Skey) {
        self.map.insert(req2(&skey), skey);
    }

    /// Stops serving `skey`.
    pub fn remove(&mut self, skey: &Skey) {
        self.map.remove(&req2(skey));
    }

    /// How many SKEYs are served.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

impl FromIterator<Skey> for SkeyMap {
    fn from_iter<I: IntoIterator<Item = Skey>>(iter: I) -> SkeyMap {
        let mut m = SkeyMap::new();
        for s in iter {
            m.insert(s);
        }
        m
    }
}

impl StreamKeys for SkeyMap {
    fn find_skey(&self, req2: &[u8; 20]) -> Option<Skey> {
        self.map.get(req2).copied()
    }
}

impl<T: StreamKeys + ?Sized> StreamKeys for &T {
    fn find_skey(&self, req2: &[u8; 20]) -> Option<Skey> {
        (**self).find_skey(req2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_of_many_torrents() {
        let skeys: Vec<Skey> = (0u32..1000)
            .map(|n| {
                let mut s = [0u8; 20];
                s[..4].copy_from_slice(&n.to_be_bytes());
                s
            })
            .collect();
        let mut map: SkeyMap = skeys.iter().copied().collect();
        assert_eq!(map.len(), 1000);
        for s in &skeys {
            assert_eq!(map.find_skey(&req2(s)), Some(*s));
        }
        assert_eq!(map.find_skey(&[0; 20]), None);
        map.remove(&skeys[7]);
        assert_eq!(map.find_skey(&req2(&skeys[7])), None);
        assert_eq!(map.len(), 999);
    }
}
