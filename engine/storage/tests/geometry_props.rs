//! Property tests for `seedcore_protocol::geometry` (kept here because the
//! protocol crate's tests do not depend on proptest).
#![allow(clippy::cast_possible_truncation, clippy::unwrap_used, clippy::panic)] // test code: tiny sizes, fail loudly

use proptest::prelude::*;
use seedcore_protocol::geometry::{Geometry, BLOCK_SIZE};

fn geometry() -> impl Strategy<Value = Geometry> {
    (1u32..=4 << 20, 0u64..=1 << 44).prop_filter_map("piece count fits u32", |(pl, total)| {
        Geometry::new(pl, total)
    })
}

proptest! {
    #[test]
    fn every_block_ref_is_inside_the_torrent(g in geometry(), piece in any::<u32>(), begin in any::<u32>(), length in any::<u32>()) {
        // Bias towards valid requests half of the time.
        let piece = if g.piece_count() > 0 && piece % 2 == 0 { piece % g.piece_count() } else { piece };
        let begin = if begin % 2 == 0 { begin % g.piece_length().max(1) } else { begin };
        let length = if length % 2 == 0 { length % (BLOCK_SIZE + 1) } else { length };
        let want_ok = u64::from(piece) < u64::from(g.piece_count())
            && (1..=BLOCK_SIZE).contains(&length)
            && {
                let pl = u128::from(g.piece_length());
                let start = u128::from(piece) * pl;
                let size = (u128::from(g.total_length()) - start).min(pl);
                u128::from(begin) + u128::from(length) <= size
            };
        match g.block(piece, begin, length) {
            Ok(b) => {
                prop_assert!(want_ok);
                prop_assert_eq!(b.piece().get(), piece);
                prop_assert_eq!(b.begin(), begin);
                prop_assert_eq!(b.length(), length);
                prop_assert_eq!(u128::from(b.offset()), u128::from(piece) * u128::from(g.piece_length()) + u128::from(begin));
                prop_assert!(b.offset() + u64::from(b.length()) <= g.total_length());
                prop_assert!(b.begin() + b.length() <= g.piece_size(b.piece()));
            }
            Err(e) => {
                prop_assert!(!want_ok, "rejected a valid request: {}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn blocks_tile_each_piece(pl in 1u32..=1 << 20, total in 1u64..=1 << 30, pick in any::<u32>()) {
        let g = Geometry::new(pl, total).unwrap();
        let p = g.piece(pick % g.piece_count()).unwrap();
        let mut next = g.piece_offset(p);
        for (k, b) in g.blocks(p).enumerate() {
            prop_assert_eq!(b.offset(), next);
            prop_assert_eq!(Some(b), g.nth_block(p, k as u32));
            prop_assert_eq!(Ok(b), g.block(p.get(), b.begin(), b.length()));
            next += u64::from(b.length());
        }
        prop_assert_eq!(next, g.piece_offset(p) + u64::from(g.piece_size(p)));
        prop_assert_eq!(g.blocks(p).count() as u32, g.blocks_in_piece(p));
        prop_assert_eq!(g.piece_at(g.piece_offset(p)), Some(p));
    }

    #[test]
    fn pieces_tile_the_torrent(pl in 1u32..=1 << 16, total in 0u64..=1 << 24) {
        let g = Geometry::new(pl, total).unwrap();
        let sum: u64 = g.pieces().map(|p| u64::from(g.piece_size(p))).sum();
        prop_assert_eq!(sum, total);
        prop_assert!(g.pieces().all(|p| g.piece_size(p) > 0));
        prop_assert_eq!(g.piece(g.piece_count()), None);
    }
}
