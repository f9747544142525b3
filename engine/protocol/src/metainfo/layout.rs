//! Where files sit in the piece space, for v2 and hybrid torrents.
//!
//! BEP 52 puts every non-empty file on a piece boundary, so a v2 torrent's
//! piece space has (implicit) gaps after files; a hybrid torrent spells the
//! same gaps out for v1 clients as BEP 47 pad files. Parser and builder
//! share these functions so that what one writes the other accepts, and so
//! that storage can hash the exact stream the v1 piece hashes cover.

/// Bytes of zeros that bring a file of `length` bytes up to the next piece
/// boundary: `0` when it already ends on one (or is empty).
pub fn pad_len(length: u64, piece_length: u32) -> u64 {
    let pl = u64::from(piece_length);
    match length.checked_rem(pl) {
        Some(0) | None => 0,
        Some(r) => pl - r,
    }
}

/// The length of the pad file a hybrid torrent lists after a file of
/// `length` bytes, or `None` when it lists none.
///
/// This is what libtorrent 2.0 and the BEP 52 reference creator write: when
/// the torrent has more than one file (`file_count > 1`), every non-empty
/// file whose length is not a multiple of the piece length is followed by a
/// pad file, *the last one included* ("tail padding"), so the v1 piece space
/// ends on a piece boundary. A torrent with one file has no pad files.
pub fn hybrid_pad_after(file_count: usize, length: u64, piece_length: u32) -> Option<u64> {
    let pad = pad_len(length, piece_length);
    (file_count > 1 && pad > 0).then_some(pad)
}

/// The v2 piece-space offset of each file (in file tree order) and the end
/// of the last one. Each non-empty file starts at the first piece boundary
/// at or after the end of the previous one; an empty file takes no space
/// and sits where the previous file ended. `None` when an offset overflows.
pub(crate) fn v2_offsets(
    lengths: impl IntoIterator<Item = u64>,
    piece_length: u32,
) -> Option<(Vec<u64>, u64)> {
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    for len in lengths {
        if len == 0 {
            offsets.push(pos);
        } else {
            let start = pos.checked_add(pad_len(pos, piece_length))?;
            offsets.push(start);
            pos = start.checked_add(len)?;
        }
    }
    Some((offsets, pos))
}

/// `ceil(total / piece_length)`.
pub(crate) fn piece_count(total: u64, piece_length: u32) -> u64 {
    let pl = u64::from(piece_length).max(1);
    total.div_ceil(pl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads() {
        assert_eq!(pad_len(5, 16384), 16379);
        assert_eq!(pad_len(16384, 16384), 0);
        assert_eq!(pad_len(0, 16384), 0);
        assert_eq!(hybrid_pad_after(1, 5, 16384), None);
        assert_eq!(hybrid_pad_after(2, 5, 16384), Some(16379));
        assert_eq!(hybrid_pad_after(2, 0, 16384), None);
    }

    #[test]
    fn v2_layout_matches_libtorrent() {
        // a.txt(5), empty.txt(0), sub/b.bin(40000), sub/deeper/c.dat(70000)
        let (offs, end) = v2_offsets([5, 0, 40000, 70000], 16384).unwrap();
        assert_eq!(offs, vec![0, 5, 16384, 65536]);
        assert_eq!(end, 135536);
        assert_eq!(piece_count(end, 16384), 9);
        assert_eq!(v2_offsets([u64::MAX, 1], 16384), None);
    }
}
