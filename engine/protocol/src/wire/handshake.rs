//! The 68-byte handshake that opens every peer connection (BEP 3):
//! `<19>"BitTorrent protocol"<reserved:8><info_hash:20><peer_id:20>`.
//!
//! A seeding server does not know which torrent an incoming connection wants
//! until the info-hash arrives, and it should not wait for the peer id before
//! it looks the torrent up (an unknown info-hash means closing at once, and a
//! known one means it can answer with its own handshake early, which some
//! clients wait for). So the first 48 bytes decode on their own as a
//! [`HandshakePrefix`]. The protocol name is checked as bytes arrive: an
//! encrypted (MSE) or HTTP connection is refused at its first byte, not after
//! 68 bytes of buffering.

use super::error::WireError;
use super::reserved::Reserved;

/// The protocol name in the handshake.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
/// Length of a whole handshake.
pub const HANDSHAKE_LEN: usize = 68;
/// Length of the handshake up to and including the info-hash.
pub const HANDSHAKE_PREFIX_LEN: usize = 48;

/// The first 48 bytes of a handshake: enough to pick the torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandshakePrefix {
    /// Capability bits.
    pub reserved: Reserved,
    /// The v1 info-hash, or the truncated v2 info-hash (first 20 bytes).
    pub info_hash: [u8; 20],
}

/// A whole handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handshake {
    /// Capability bits.
    pub reserved: Reserved,
    /// The v1 info-hash, or the truncated v2 info-hash (first 20 bytes).
    pub info_hash: [u8; 20],
    /// The sender's peer id.
    pub peer_id: [u8; 20],
}

/// Checks whatever part of `<19>"BitTorrent protocol"` is present in `buf`.
fn check_pstr(buf: &[u8]) -> Result<(), WireError> {
    let Some((&len, rest)) = buf.split_first() else {
        return Ok(());
    };
    if usize::from(len) != PROTOCOL.len() {
        return Err(WireError::HandshakePstrLen { len });
    }
    if let Some(offset) = rest.iter().zip(PROTOCOL).position(|(a, b)| a != b) {
        return Err(WireError::HandshakePstr { offset });
    }
    Ok(())
}

fn array<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = buf.get(at..at.saturating_add(N)) {
        out.copy_from_slice(src);
    }
    out
}

impl HandshakePrefix {
    /// Decodes the first 48 bytes of `buf`. `Ok(None)` means fewer than 48
    /// bytes are present and what is there is valid so far; errors come as
    /// soon as a wrong byte of the protocol name is visible. Bytes past 48 are
    /// ignored (the peer id and any messages after it).
    pub fn decode(buf: &[u8]) -> Result<Option<HandshakePrefix>, WireError> {
        check_pstr(buf)?;
        if buf.len() < HANDSHAKE_PREFIX_LEN {
            return Ok(None);
        }
        Ok(Some(HandshakePrefix {
            reserved: Reserved(array(buf, 20)),
            info_hash: array(buf, 28),
        }))
    }

    /// The whole handshake, once the peer id has arrived.
    pub fn with_peer_id(self, peer_id: [u8; 20]) -> Handshake {
        Handshake {
            reserved: self.reserved,
            info_hash: self.info_hash,
            peer_id,
        }
    }
}

impl Handshake {
    /// A handshake from its parts.
    pub fn new(reserved: Reserved, info_hash: [u8; 20], peer_id: [u8; 20]) -> Handshake {
        Handshake {
            reserved,
            info_hash,
            peer_id,
        }
    }

    /// Decodes the first 68 bytes of `buf`; `Ok(None)` while fewer are
    /// present (with the protocol name checked as far as it goes). The
    /// handshake always consumes exactly [`HANDSHAKE_LEN`] bytes; anything
    /// after it is the start of the message stream.
    pub fn decode(buf: &[u8]) -> Result<Option<Handshake>, WireError> {
        let Some(prefix) = HandshakePrefix::decode(buf)? else {
            return Ok(None);
        };
        if buf.len() < HANDSHAKE_LEN {
            return Ok(None);
        }
        Ok(Some(prefix.with_peer_id(array(buf, 48))))
    }

    /// The first 48 bytes' worth of this handshake.
    pub fn prefix(&self) -> HandshakePrefix {
        HandshakePrefix {
            reserved: self.reserved,
            info_hash: self.info_hash,
        }
    }

    /// The 68 wire bytes.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        let parts: [&[u8]; 5] = [
            &[19],
            PROTOCOL,
            &self.reserved.0,
            &self.info_hash,
            &self.peer_id,
        ];
        for (o, b) in out.iter_mut().zip(parts.into_iter().flatten()) {
            *o = *b;
        }
        out
    }

    /// Appends the 68 wire bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake::new(
            Reserved::seedcore_default(),
            [0xAB; 20],
            *b"-SC0001-abcdefghijkl",
        )
    }

    #[test]
    fn layout() {
        let b = sample().to_bytes();
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], PROTOCOL);
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert_eq!(&b[28..48], &[0xAB; 20]);
        assert_eq!(&b[48..68], b"-SC0001-abcdefghijkl");
    }

    #[test]
    fn round_trip_and_prefix() {
        let h = sample();
        let mut v = Vec::new();
        h.encode(&mut v);
        v.extend_from_slice(&[0, 0, 0, 0]); // a keep-alive after it is ignored
        assert_eq!(Handshake::decode(&v), Ok(Some(h)));
        assert_eq!(HandshakePrefix::decode(&v[..48]), Ok(Some(h.prefix())));
        assert_eq!(HandshakePrefix::decode(&v[..47]), Ok(None));
        assert_eq!(Handshake::decode(&v[..67]), Ok(None));
        assert_eq!(h.prefix().with_peer_id(h.peer_id), h);
    }

    #[test]
    fn every_partial_prefix_is_valid_so_far() {
        let b = sample().to_bytes();
        for n in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&b[..n]), Ok(None), "{n}");
        }
    }

    #[test]
    fn wrong_protocol_is_refused_early() {
        assert_eq!(
            Handshake::decode(b"G"),
            Err(WireError::HandshakePstrLen { len: b'G' })
        );
        assert_eq!(
            Handshake::decode(b"\x13BitTorrent protocoX"),
            Err(WireError::HandshakePstr { offset: 18 })
        );
        assert_eq!(
            HandshakePrefix::decode(b"\x13bit"),
            Err(WireError::HandshakePstr { offset: 0 })
        );
    }
}
