//! Making a torrent from files on disk: scan, pick a piece length, hash.
//!
//! [`scan`] lists the files, [`auto_piece_length`] picks a piece length,
//! [`hash`] computes everything a .torrent needs on all cores and returns it
//! as [`HashedContent`], which the protocol crate's `TorrentBuilder` encodes.
//!
//! # File order
//!
//! - **v1**: files sorted by their full relative path as bytes ("a-b" before
//!   "a/x", since '-' < '/'), which is what `mktorrent` does; the same content
//!   then gives the same info-hash as mktorrent.
//! - **v2 and hybrid**: the order of the BEP 52 file tree, a dictionary whose
//!   keys are sorted at each folder level ("a/x" before "a-b", since "a" <
//!   "a-b"). A hybrid's v1 file list must follow the same order (BEP 52), and
//!   this is what libtorrent does.
//!
//! # Hybrid layout
//!
//! As libtorrent (2.0.4 and later) and the BEP 52 reference implementation,
//! through the protocol crate's `hybrid_pad_after` (which its parser and
//! builder share): in a hybrid torrent with more than one file (empty files
//! count) every non-empty file whose length is not a multiple of the piece
//! length is followed by a pad file (BEP 47, path `.pad/<length>`, attribute
//! `p`) that fills its last piece, the last file included ("tail padding").
//! Zero-length files get no pad; a torrent of one file has none. Every piece
//! then holds bytes of exactly one file, so v1 SHA-1 pieces and v2 merkle
//! trees are computed in one read.
//!
//! # Reading
//!
//! Files are read through the same read-only maps as seeding
//! ([`crate::Storage`]), each worker taking runs of at least 32 consecutive
//! pieces. Pieces that lie inside one file are hashed in place, 32 at a time,
//! by the multi-buffer SHA-1 (`seedcore_hash::sha1_many`); a hybrid's v2 leaves
//! are hashed per piece as the v1 hash is. Measured on a 256 MiB file, page
//! cache warm, one thread, 256 KiB pieces (`hash_speed` example; 2-vCPU Xeon
//! with SHA-NI and AVX-512, shared and noisy): mapped + multi-buffer 7.1 GB/s
//! against 3.6 GB/s for 8 MiB `read` calls into a buffer + multi-buffer (the
//! copy costs as much as the hashing); one SHA-1 stream at a time, 4 MiB
//! `read` calls were slightly faster (1.6 against 1.4-1.5 GB/s). Hashing in
//! place wins once hashing is fast, so maps it is.

mod hash;
mod scan;

pub use hash::{hash, hash_until, CreateMode, HashedContent, HashedFile};
pub use scan::{scan, ScannedFile, ScannedFiles, SkipReason, Skipped};

/// A piece length for `total` bytes of content, as libtorrent picks it:
/// `2^(ceil(log2(total)) / 2 + 4)` bytes, clamped to 16 KiB ..= 16 MiB. This
/// gives roughly `sqrt(total)`-sized pieces: 16 KiB up to 2 MiB of content,
/// 256 KiB for 256 MiB, 1 MiB for 4 GiB, 16 MiB from 1 TiB. Always a power of
/// two of at least 16 KiB, so valid for v1, v2 and hybrid torrents. (Measured
/// against libtorrent 2.0.8's `create_torrent` with piece size 0.)
pub fn auto_piece_length(total: u64) -> u32 {
    let log2 = if total <= 1 {
        0
    } else {
        64 - (total - 1).leading_zeros()
    };
    let exp = (log2 / 2 + 4).clamp(14, 24);
    1u32 << exp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_lengths_match_libtorrent() {
        // (total, libtorrent 2.0.8's choice)
        let table: &[(u64, u32)] = &[
            (0, 16384),
            (1024, 16384),
            (1 << 20, 16384),
            (2 << 20, 16384),
            (3 << 20, 32768),
            (4 << 20, 32768),
            (8 << 20, 32768),
            (12 << 20, 65536),
            (16 << 20, 65536),
            (64 << 20, 131072),
            (256 << 20, 262144),
            (805_306_368, 524288),
            (1 << 30, 524288),
            (3 << 30, 1 << 20),
            (4 << 30, 1 << 20),
            (16 << 30, 2 << 20),
            (3 << 36, 8 << 20),
            (1 << 40, 16 << 20),
            (3 << 41, 16 << 20),
            (u64::MAX, 16 << 20),
        ];
        for &(total, want) in table {
            assert_eq!(auto_piece_length(total), want, "total {total}");
        }
    }
}
