//! 160-bit identifiers: node ids and info-hashes share one space.
//!
//! Kademlia measures closeness as the XOR of two ids read as a big-endian
//! unsigned integer, so everything here is byte-wise XOR and lexicographic
//! comparison; no big-integer type is needed.
//!
//! Node ids are random (from the caller-seeded [`Rng`]) unless the runtime
//! knows our external address, in which case [`NodeId::bep42`] derives one
//! that BEP 42-enforcing nodes (libtorrent with `dht_enforce_node_id`) will
//! accept as a storage target. We do not *enforce* BEP 42 on others: its own
//! text says requests from non-compliant ids must still be served, and a
//! seed's announces only need to reach the closest nodes that answer.

use std::fmt;
use std::net::IpAddr;

use crate::rng::Rng;

/// Length of an id in bytes.
pub const ID_LEN: usize = 20;

/// A 160-bit DHT id: a node id or an info-hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct NodeId(pub [u8; ID_LEN]);

impl NodeId {
    /// The id from exactly 20 bytes; `None` for any other length.
    pub fn from_slice(bytes: &[u8]) -> Option<NodeId> {
        <[u8; ID_LEN]>::try_from(bytes).ok().map(NodeId)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// XOR distance to `other`; compare distances with `Ord`.
    pub fn distance(&self, other: &NodeId) -> NodeId {
        let mut out = [0u8; ID_LEN];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        NodeId(out)
    }

    /// Number of leading zero bits (160 for the zero id).
    pub fn leading_zeros(&self) -> usize {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros() as usize;
            }
        }
        n
    }

    /// Length of the common bit prefix of `self` and `other`.
    pub fn common_prefix(&self, other: &NodeId) -> usize {
        self.distance(other).leading_zeros()
    }

    /// Bit `i` (0 = most significant).
    pub fn bit(&self, i: usize) -> bool {
        self.0
            .get(i / 8)
            .is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
    }

    /// A uniformly random id.
    pub fn random(rng: &mut Rng) -> NodeId {
        let mut out = [0u8; ID_LEN];
        rng.fill(&mut out);
        NodeId(out)
    }

    /// A random id that shares exactly the first `prefix` bits with `self`
    /// and then differs (bucket `prefix` of a table centred on `self`); with
    /// `exact == false` bit `prefix` is random too (the last, own bucket).
    pub fn random_in_bucket(&self, prefix: usize, exact: bool, rng: &mut Rng) -> NodeId {
        let mut out = NodeId::random(rng);
        for i in 0..prefix.min(ID_LEN * 8) {
            out.set_bit(i, self.bit(i));
        }
        if exact && prefix < ID_LEN * 8 {
            out.set_bit(prefix, !self.bit(prefix));
        }
        out
    }

    fn set_bit(&mut self, i: usize, v: bool) {
        if let Some(b) = self.0.get_mut(i / 8) {
            let m = 0x80 >> (i % 8);
            if v {
                *b |= m;
            } else {
                *b &= !m;
            }
        }
    }

    /// A BEP 42 node id for external address `ip`: the first 21 bits come
    /// from CRC32C of the masked address and `r`, the last byte is `r`
    /// (only its low 3 bits enter the hash), the rest is random.
    pub fn bep42(ip: IpAddr, r: u8, rng: &mut Rng) -> NodeId {
        let mut id = NodeId::random(rng);
        let prefix = bep42_prefix(ip, r);
        let [a, b, c, _] = prefix.to_be_bytes();
        id.0[0] = a;
        id.0[1] = b;
        id.0[2] = (c & 0xf8) | (id.0[2] & 0x07);
        id.0[ID_LEN - 1] = r;
        id
    }

    /// Whether this id is a valid BEP 42 id for `ip` (top 21 bits match).
    pub fn is_bep42_for(&self, ip: IpAddr) -> bool {
        let r = self.0[ID_LEN - 1];
        let want = bep42_prefix(ip, r).to_be_bytes();
        self.0[0] == want[0] && self.0[1] == want[1] && (self.0[2] & 0xf8) == (want[2] & 0xf8)
    }
}

/// CRC32C of the masked address with `r & 7` in the top three bits.
fn bep42_prefix(ip: IpAddr, r: u8) -> u32 {
    const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
    const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];
    let mut buf = [0u8; 8];
    let n = match ip {
        IpAddr::V4(v4) => {
            for ((o, a), m) in buf.iter_mut().zip(v4.octets()).zip(V4_MASK) {
                *o = a & m;
            }
            4
        }
        IpAddr::V6(v6) => {
            for ((o, a), m) in buf.iter_mut().zip(v6.octets()).zip(V6_MASK) {
                *o = a & m;
            }
            8
        }
    };
    buf[0] |= (r & 0x07) << 5;
    crc32c(buf.get(..n).unwrap_or_default())
}

/// CRC32C (Castagnoli), bitwise: it hashes 4 or 8 bytes once per node id.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn crc32c_check_value() {
        // The standard check value for CRC-32C over "123456789".
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn bep42_vectors() {
        // (ip, r, first three bytes with the low 3 bits of byte 2 masked)
        let vectors: [([u8; 4], u8, [u8; 3]); 5] = [
            ([124, 31, 75, 21], 1, [0x5f, 0xbf, 0xbf]),
            ([21, 75, 31, 124], 86, [0x5a, 0x3c, 0xe9]),
            ([65, 23, 51, 170], 22, [0xa5, 0xd4, 0x32]),
            ([84, 124, 73, 14], 65, [0x1b, 0x03, 0x21]),
            ([43, 213, 53, 83], 90, [0xe5, 0x6f, 0x6c]),
        ];
        let mut rng = Rng::new(7);
        for (ip, r, want) in vectors {
            let ip = IpAddr::V4(Ipv4Addr::from(ip));
            let id = NodeId::bep42(ip, r, &mut rng);
            assert_eq!(id.0[0], want[0], "{ip}");
            assert_eq!(id.0[1], want[1], "{ip}");
            assert_eq!(id.0[2] & 0xf8, want[2] & 0xf8, "{ip}");
            assert_eq!(id.0[19], r);
            assert!(id.is_bep42_for(ip));
            assert!(!id.is_bep42_for(IpAddr::V4(Ipv4Addr::new(1, 2, 3, 4))));
        }
    }

    #[test]
    fn distance_and_prefix() {
        let a = NodeId([0u8; 20]);
        let mut b = [0u8; 20];
        b[1] = 0x10;
        let b = NodeId(b);
        assert_eq!(a.common_prefix(&b), 11);
        assert_eq!(a.common_prefix(&a), 160);
        assert_eq!(a.distance(&b), b);
        assert!(b.bit(11) && !b.bit(10));
    }

    #[test]
    fn random_in_bucket_has_the_prefix() {
        let mut rng = Rng::new(1);
        let me = NodeId::random(&mut rng);
        for p in [0, 1, 7, 8, 63, 159] {
            let id = me.random_in_bucket(p, true, &mut rng);
            assert_eq!(me.common_prefix(&id), p);
            let id = me.random_in_bucket(p, false, &mut rng);
            assert!(me.common_prefix(&id) >= p);
        }
    }
}
