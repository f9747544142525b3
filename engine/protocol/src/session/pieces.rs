//! Which pieces the peer says it has: from its bitfield, `have`, `have all`,
//! `have none` and `lt_donthave`. A seed only needs the count (anti-leech
//! choking, spotting other seeds), but `have` must be de-duplicated, so the
//! bits are kept; the vector is `ceil(piece_count / 8)` bytes, allocated
//! only when the peer has some but not all pieces.

use super::error::SessionError;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum PeerPieces {
    /// Nothing known yet, or `have none`.
    #[default]
    None,
    /// `have all`, or every bit set.
    All,
    /// Some pieces: the bits (BEP 3 order) and how many are set.
    Some { bits: Vec<u8>, count: u32 },
}

fn bit(index: u32) -> (usize, u8) {
    ((index / 8) as usize, 0x80u8 >> (index % 8))
}

/// Unused bits at the end of a bitfield of `piece_count` pieces (0..=7).
fn spare_bits(piece_count: u32) -> u32 {
    (8 - piece_count % 8) % 8
}

impl PeerPieces {
    pub(crate) fn count(&self, piece_count: u32) -> u32 {
        match self {
            PeerPieces::None => 0,
            PeerPieces::All => piece_count,
            PeerPieces::Some { count, .. } => *count,
        }
    }

    pub(crate) fn is_all(&self) -> bool {
        matches!(self, PeerPieces::All)
    }

    /// Checks and stores a bitfield. Returns whether the peer now has every piece.
    pub(crate) fn set_bitfield(
        &mut self,
        bytes: &[u8],
        piece_count: u32,
    ) -> Result<bool, SessionError> {
        let expected = piece_count.div_ceil(8) as usize;
        if bytes.len() != expected {
            return Err(SessionError::BitfieldLength {
                len: bytes.len(),
                expected,
            });
        }
        let spare = spare_bits(piece_count);
        if spare > 0 {
            let mask = (1u8 << spare) - 1;
            if bytes.last().is_some_and(|b| b & mask != 0) {
                return Err(SessionError::BitfieldSpareBits);
            }
        }
        let count: u32 = bytes.iter().map(|b| b.count_ones()).sum();
        *self = if count == piece_count && piece_count > 0 {
            PeerPieces::All
        } else if count == 0 {
            PeerPieces::None
        } else {
            PeerPieces::Some {
                bits: bytes.to_vec(),
                count,
            }
        };
        Ok(self.is_all())
    }

    /// Records a `have`. Returns whether the peer now has every piece.
    pub(crate) fn have(&mut self, index: u32, piece_count: u32) -> Result<bool, SessionError> {
        if index >= piece_count {
            return Err(SessionError::HaveOutOfRange { index, piece_count });
        }
        if let PeerPieces::None = self {
            *self = PeerPieces::Some {
                bits: vec![0; piece_count.div_ceil(8) as usize],
                count: 0,
            };
        }
        if let PeerPieces::Some { bits, count } = self {
            let (i, mask) = bit(index);
            if let Some(b) = bits.get_mut(i) {
                if *b & mask == 0 {
                    *b |= mask;
                    *count += 1;
                }
            }
            if *count == piece_count {
                *self = PeerPieces::All;
            }
        }
        Ok(self.is_all())
    }

    /// Records an `lt_donthave` (out-of-range indices are ignored).
    pub(crate) fn dont_have(&mut self, index: u32, piece_count: u32) {
        if index >= piece_count {
            return;
        }
        if let PeerPieces::All = self {
            let mut bits = vec![0xFFu8; piece_count.div_ceil(8) as usize];
            if let Some(last) = bits.last_mut() {
                *last &= !((1u8 << spare_bits(piece_count)) - 1);
            }
            *self = PeerPieces::Some {
                bits,
                count: piece_count,
            };
        }
        if let PeerPieces::Some { bits, count } = self {
            let (i, mask) = bit(index);
            if let Some(b) = bits.get_mut(i) {
                if *b & mask != 0 {
                    *b &= !mask;
                    *count -= 1;
                }
            }
            if *count == 0 {
                *self = PeerPieces::None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfield_checks() {
        let mut p = PeerPieces::None;
        assert_eq!(
            p.set_bitfield(&[0xFF], 10),
            Err(SessionError::BitfieldLength {
                len: 1,
                expected: 2
            })
        );
        assert_eq!(
            p.set_bitfield(&[0xFF, 0xE0], 10),
            Err(SessionError::BitfieldSpareBits)
        );
        assert_eq!(p.set_bitfield(&[0xFF, 0xC0], 10), Ok(true));
        assert_eq!(p.count(10), 10);
        assert_eq!(p.set_bitfield(&[0x80, 0x40], 10), Ok(false));
        assert_eq!(p.count(10), 2);
        assert_eq!(p.set_bitfield(&[0xFF], 8), Ok(true));
    }

    #[test]
    fn haves_and_donthaves() {
        let mut p = PeerPieces::None;
        assert!(p.have(10, 10).is_err());
        assert!(p.have(3, 3).is_err());
        assert_eq!(p.have(2, 3), Ok(false));
        assert_eq!(p.have(2, 3), Ok(false));
        assert_eq!(p.count(3), 1);
        assert_eq!(p.have(0, 3), Ok(false));
        assert_eq!(p.have(1, 3), Ok(true));
        p.dont_have(1, 3);
        assert_eq!(p.count(3), 2);
        p.dont_have(1, 3);
        assert_eq!(p.count(3), 2);
        p.dont_have(0, 3);
        p.dont_have(2, 3);
        assert_eq!(p, PeerPieces::None);
        // have all, then one lost: 9 pieces, spare bits stay clear.
        let mut p = PeerPieces::All;
        p.dont_have(8, 9);
        assert_eq!(
            p,
            PeerPieces::Some {
                bits: vec![0xFF, 0x00],
                count: 8
            }
        );
    }
}
