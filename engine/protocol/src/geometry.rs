//! Piece and block geometry: which byte ranges of a torrent's piece space a
//! piece or a block request covers.
//!
//! # Why validated types
//!
//! A peer names a block by `(piece, begin, length)`, three `u32`s it fully
//! controls. Instead of re-checking those numbers at every layer (and
//! forgetting once), they are checked exactly once, here, and the result is a
//! [`BlockRef`] that cannot be built any other way (its fields are private).
//! Code that receives a `BlockRef` or a [`PieceIndex`] knows it is inside the
//! torrent: storage can map it to file spans without further bounds checks
//! (the same idea as rqbit's `Lengths::validate_piece_index`).
//!
//! All arithmetic on offsets is done in `u64` with checked operations, so no
//! input, however hostile, can overflow or panic.
//!
//! # The model
//!
//! The piece space is `total_length` bytes cut into pieces of
//! `piece_length` bytes; only the last piece may be shorter. This holds for
//! v1 (files concatenated), hybrid (pad files included) and pure v2 torrents
//! (each file starts on a piece boundary; the gaps between files are zeros,
//! exactly as if pad files were listed).
//!
//! ```
//! use seedcore_protocol::geometry::{Geometry, BLOCK_SIZE};
//!
//! let g = Geometry::new(32 * 1024, 100_000).unwrap();
//! assert_eq!(g.piece_count(), 4);
//! let last = g.piece(3).unwrap();
//! assert_eq!(g.piece_size(last), 100_000 - 3 * 32 * 1024);
//! let b = g.block(1, BLOCK_SIZE, BLOCK_SIZE).unwrap();
//! assert_eq!(b.offset(), 32 * 1024 + 16 * 1024);
//! assert!(g.block(3, 0, BLOCK_SIZE).is_err()); // the last piece is only 1696 bytes
//! ```

use crate::metainfo::Info;
use thiserror::Error;

/// The largest block a peer may request, and the unit pieces are cut into
/// (16 KiB, the size every client uses; BEP 52 also fixes its merkle leaves
/// at this size).
pub const BLOCK_SIZE: u32 = 16384;

/// The shape of a torrent's piece space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
}

/// A piece number checked against a [`Geometry`]: `index < piece_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PieceIndex(u32);

impl PieceIndex {
    /// The zero-based piece number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A block request checked against a [`Geometry`]: the piece exists,
/// `1 <= length <= BLOCK_SIZE` and `begin + length` is inside the piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockRef {
    piece: PieceIndex,
    begin: u32,
    length: u32,
    offset: u64,
}

impl BlockRef {
    /// The piece the block belongs to.
    pub fn piece(&self) -> PieceIndex {
        self.piece
    }

    /// Offset of the block inside its piece.
    pub fn begin(&self) -> u32 {
        self.begin
    }

    /// Length in bytes, `1..=BLOCK_SIZE`.
    pub fn length(&self) -> u32 {
        self.length
    }

    /// Offset of the block's first byte in the torrent's piece space.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The piece-space byte range `offset..offset + length`.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.offset..self.offset + u64::from(self.length)
    }
}

/// Why a block request was refused. Each of these means the peer asked for
/// something that does not exist: drop the request (or the peer), never the
/// torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum BlockError {
    /// The piece number is past the end of the torrent.
    #[error("piece {piece} does not exist: the torrent has {piece_count} pieces")]
    PieceOutOfRange {
        /// Requested piece.
        piece: u32,
        /// Number of pieces in the torrent.
        piece_count: u32,
    },
    /// A zero-length request.
    #[error("block request for piece {piece} has length 0")]
    ZeroLength {
        /// Requested piece.
        piece: u32,
    },
    /// Longer than [`BLOCK_SIZE`]; clients close peers that ask for this.
    #[error("block length {length} exceeds the {max} byte limit")]
    TooLong {
        /// Requested length.
        length: u32,
        /// The limit, [`BLOCK_SIZE`].
        max: u32,
    },
    /// `begin + length` runs past the end of the piece.
    #[error("block {begin}+{length} runs past the end of piece {piece} ({piece_size} bytes)")]
    OutsidePiece {
        /// Requested piece.
        piece: u32,
        /// Requested offset inside the piece.
        begin: u32,
        /// Requested length.
        length: u32,
        /// Actual size of that piece.
        piece_size: u32,
    },
}

impl Geometry {
    /// The geometry of `total_length` bytes in pieces of `piece_length`.
    /// `None` when `piece_length` is 0 or the piece count does not fit a
    /// `u32` (the wire protocol numbers pieces with `u32`). A zero
    /// `total_length` gives a geometry with no pieces.
    pub fn new(piece_length: u32, total_length: u64) -> Option<Geometry> {
        if piece_length == 0 {
            return None;
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count).ok()?;
        Some(Geometry {
            piece_length,
            total_length,
            piece_count,
        })
    }

    /// The geometry of a parsed torrent. The parser guarantees the piece
    /// count fits a `u32`; should an `Info` built by hand break that, the
    /// piece space is clamped to the largest representable one instead of
    /// panicking.
    pub fn from_info(info: &Info) -> Geometry {
        let piece_length = info.piece_length.get().max(1);
        Geometry::new(piece_length, info.total_length).unwrap_or(Geometry {
            piece_length,
            total_length: u64::from(piece_length) * u64::from(u32::MAX),
            piece_count: u32::MAX,
        })
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Nominal piece length (every piece but the last has exactly this size).
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Size of the piece space in bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Checks a piece number; `None` when `index >= piece_count`.
    pub fn piece(&self, index: u32) -> Option<PieceIndex> {
        (index < self.piece_count).then_some(PieceIndex(index))
    }

    /// Iterates over every piece, in order.
    pub fn pieces(&self) -> impl Iterator<Item = PieceIndex> + use<> {
        (0..self.piece_count).map(PieceIndex)
    }

    /// Offset of the piece's first byte in the piece space.
    pub fn piece_offset(&self, p: PieceIndex) -> u64 {
        u64::from(p.0) * u64::from(self.piece_length)
    }

    /// Size of the piece: `piece_length`, except for the last piece which
    /// holds whatever remains.
    pub fn piece_size(&self, p: PieceIndex) -> u32 {
        let remaining = self.total_length.saturating_sub(self.piece_offset(p));
        // remaining < piece_length (a u32) whenever the min picks it.
        u32::try_from(remaining.min(u64::from(self.piece_length))).unwrap_or(self.piece_length)
    }

    /// The piece containing piece-space byte `offset`; `None` past the end.
    pub fn piece_at(&self, offset: u64) -> Option<PieceIndex> {
        if offset >= self.total_length {
            return None;
        }
        u32::try_from(offset / u64::from(self.piece_length))
            .ok()
            .and_then(|i| self.piece(i))
    }

    /// Number of blocks in a piece: `ceil(piece_size / BLOCK_SIZE)`.
    pub fn blocks_in_piece(&self, p: PieceIndex) -> u32 {
        self.piece_size(p).div_ceil(BLOCK_SIZE)
    }

    /// The `k`-th block of a piece (full 16 KiB blocks, the last one may be
    /// shorter); `None` when `k >= blocks_in_piece(p)`.
    pub fn nth_block(&self, p: PieceIndex, k: u32) -> Option<BlockRef> {
        let size = self.piece_size(p);
        let begin = k.checked_mul(BLOCK_SIZE)?;
        if begin >= size {
            return None;
        }
        let length = (size - begin).min(BLOCK_SIZE);
        Some(BlockRef {
            piece: p,
            begin,
            length,
            offset: self.piece_offset(p) + u64::from(begin),
        })
    }

    /// Every block of a piece, in order.
    pub fn blocks(&self, p: PieceIndex) -> impl Iterator<Item = BlockRef> + '_ {
        (0..self.blocks_in_piece(p)).filter_map(move |k| self.nth_block(p, k))
    }

    /// Checks a block request `(piece, begin, length)` as a peer sends it.
    pub fn block(&self, piece: u32, begin: u32, length: u32) -> Result<BlockRef, BlockError> {
        let p = self.piece(piece).ok_or(BlockError::PieceOutOfRange {
            piece,
            piece_count: self.piece_count,
        })?;
        if length == 0 {
            return Err(BlockError::ZeroLength { piece });
        }
        if length > BLOCK_SIZE {
            return Err(BlockError::TooLong {
                length,
                max: BLOCK_SIZE,
            });
        }
        let piece_size = self.piece_size(p);
        let end = u64::from(begin) + u64::from(length);
        if end > u64::from(piece_size) {
            return Err(BlockError::OutsidePiece {
                piece,
                begin,
                length,
                piece_size,
            });
        }
        Ok(BlockRef {
            piece: p,
            begin,
            length,
            offset: self.piece_offset(p) + u64::from(begin),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_rejects_zero_and_overflow() {
        assert_eq!(Geometry::new(0, 10), None);
        assert_eq!(Geometry::new(1, u64::from(u32::MAX) + 1), None);
        let g = Geometry::new(1, u64::from(u32::MAX)).unwrap();
        assert_eq!(g.piece_count(), u32::MAX);
        let g = Geometry::new(16384, 0).unwrap();
        assert_eq!(g.piece_count(), 0);
        assert_eq!(g.piece(0), None);
        assert_eq!(g.piece_at(0), None);
    }

    #[test]
    fn piece_sizes() {
        let g = Geometry::new(16384, 3 * 16384).unwrap();
        assert_eq!(g.piece_count(), 3);
        for p in g.pieces() {
            assert_eq!(g.piece_size(p), 16384);
        }
        let g = Geometry::new(16384, 3 * 16384 + 1).unwrap();
        assert_eq!(g.piece_count(), 4);
        assert_eq!(g.piece_size(g.piece(3).unwrap()), 1);
        assert_eq!(g.piece_offset(g.piece(3).unwrap()), 3 * 16384);
        assert_eq!(g.piece_at(3 * 16384), g.piece(3));
        assert_eq!(g.piece_at(3 * 16384 + 1), None);
    }

    #[test]
    fn blocks_of_pieces() {
        let g = Geometry::new(65536, 65536 + 20000).unwrap();
        let p0 = g.piece(0).unwrap();
        let p1 = g.piece(1).unwrap();
        assert_eq!(g.blocks_in_piece(p0), 4);
        assert_eq!(g.blocks_in_piece(p1), 2);
        let lens: Vec<u32> = g.blocks(p1).map(|b| b.length()).collect();
        assert_eq!(lens, vec![16384, 20000 - 16384]);
        assert_eq!(g.nth_block(p1, 2), None);
        assert_eq!(g.nth_block(p1, u32::MAX), None);
        let b = g.nth_block(p1, 1).unwrap();
        assert_eq!(b.offset(), 65536 + 16384);
        assert_eq!(b.range(), 65536 + 16384..65536 + 20000);
        assert_eq!(g.block(1, 16384, 20000 - 16384), Ok(b));
    }

    #[test]
    fn small_pieces_have_one_short_block() {
        let g = Geometry::new(1024, 5000).unwrap();
        let last = g.piece(4).unwrap();
        assert_eq!(g.piece_size(last), 5000 - 4096);
        assert_eq!(g.blocks_in_piece(last), 1);
        assert_eq!(g.block(4, 0, 904).unwrap().offset(), 4096);
        assert!(g.block(0, 0, 1025).is_err());
    }

    #[test]
    fn block_errors() {
        let g = Geometry::new(32768, 40000).unwrap();
        assert_eq!(
            g.block(2, 0, 1),
            Err(BlockError::PieceOutOfRange {
                piece: 2,
                piece_count: 2
            })
        );
        assert_eq!(g.block(0, 0, 0), Err(BlockError::ZeroLength { piece: 0 }));
        assert_eq!(
            g.block(0, 0, BLOCK_SIZE + 1),
            Err(BlockError::TooLong {
                length: BLOCK_SIZE + 1,
                max: BLOCK_SIZE
            })
        );
        assert_eq!(
            g.block(1, 7000, 1000),
            Err(BlockError::OutsidePiece {
                piece: 1,
                begin: 7000,
                length: 1000,
                piece_size: 40000 - 32768
            })
        );
        // begin + length overflowing u32 is an error, not a wrap-around.
        assert!(g.block(0, u32::MAX, BLOCK_SIZE).is_err());
        assert!(g.block(1, 6232, 1000).is_ok());
        assert!(g.block(1, 6233, 1000).is_err());
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = Geometry::new(16384, 16384)
            .unwrap()
            .block(0, 16000, 1000)
            .unwrap_err();
        assert!(e.to_string().contains("past the end of piece 0"));
    }
}
