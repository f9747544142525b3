//! Bounds on what a .torrent may contain.
//!
//! A .torrent reaches us from users, feeds and (as an info dictionary) from
//! peers over ut_metadata, so every size, count and depth read from it is
//! checked against one of these bounds *before* anything is allocated from
//! it. Each bound sits well above what real torrents use, so it only ever
//! rejects hostile or broken input.

/// Largest .torrent file accepted: 64 MiB. The largest real torrents (a few
/// hundred thousand files, or v2 piece layers of terabyte-sized data) are a
/// few tens of MiB; beyond this the parser would only be a memory sink.
pub const MAX_TORRENT_SIZE: usize = 64 * 1024 * 1024;

/// Deepest nesting of lists and dictionaries. v1 torrents need 5 levels and
/// a v2 file tree one more per folder level; 64 bounds the parser's
/// recursion through a hostile file tree (the bencode reader itself keeps
/// constant state at any depth).
pub const MAX_NESTING_DEPTH: usize = 64;

/// Most files (pad files included) one torrent may list. libtorrent's
/// default limit is of the same order; a million entries already costs
/// hundreds of MiB of metadata in memory.
pub const MAX_FILES: usize = 1_000_000;

/// Most path components in one file's path (below the torrent's folder). A
/// v2 file tree spends one nesting level per component, and the top level,
/// the info dictionary, `file tree` and the file's own `""` dictionary and
/// `symlink path` list take five more: 56 keeps every such path under
/// [`MAX_NESTING_DEPTH`], and v1 gets the same bound so that a hybrid's two
/// file lists accept the same trees.
pub const MAX_PATH_DEPTH: usize = 56;

/// Longest path component, in bytes: `NAME_MAX` on Linux and the common
/// limit of ext4, XFS, btrfs, APFS and NTFS. A longer name could not be
/// created on disk anyway.
pub const MAX_COMPONENT_LEN: usize = 255;

/// Most pieces a torrent may have: `2^31 - 1`. Piece indices are `u32` on
/// the wire, and libtorrent (the most common peer) stores them in an `int`,
/// so a larger torrent could not be shared with it.
pub const MAX_PIECES: u32 = (1 << 31) - 1;

/// Smallest piece length for v2 and hybrid torrents (BEP 52): one 16 KiB
/// merkle leaf block. v2 piece lengths must also be powers of two.
pub const MIN_V2_PIECE_LENGTH: u32 = 16 * 1024;

/// Most tracker URLs kept from a torrent's `announce-list` (after dropping
/// repeats); later ones are ignored. Real torrents list a handful, public
/// "tracker list" torrents a few hundred at most. libtorrent keeps no count
/// but stores a tracker's tier in 8 bits (`announce_entry::tier` is a
/// `uint8_t`), so past 256 tiers it cannot keep them apart either; and a
/// seed announces to at most this many trackers per torrent anyway
/// (`seedcore_tracker::MAX_TRACKERS`). The bound is what keeps a hostile
/// torrent of 200,000 tiers from costing 200,000 allocations and
/// seconds of start-up.
pub const MAX_TRACKERS: usize = 256;

/// Most web seed URLs kept from `url-list` (after dropping repeats).
pub const MAX_WEB_SEEDS: usize = 256;
