//! Piece space to file spans.
//!
//! A torrent's pieces are cut from one long byte string, the *piece space*:
//! for v1 the files concatenated, for hybrid the same with pad files, for
//! pure v2 each file starting on a piece boundary with zero-filled gaps in
//! between. [`Layout`] maps a byte range of that space to the pieces of files
//! that hold it ([`Span`]s), so a block request or a piece check becomes "these
//! bytes of file 3, then these zeros, then these bytes of file 4".
//!
//! It is built once per torrent as a sorted list of non-overlapping segments
//! covering the whole piece space (files, and runs of zeros for pad files and
//! gaps); a lookup is one binary search and then a walk forward, so a request
//! costs O(log files + spans returned) whatever the file count. Zero-length
//! files occupy no bytes and never appear in a span.

use seedcore_protocol::metainfo::Info;

/// Where a span's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanSource {
    /// A file, by its index in `info.files`.
    File(usize),
    /// Zeros: a pad file (BEP 47) or a v2 alignment gap. Never on disk.
    Zeros,
}

/// A contiguous piece of a piece-space range that comes from one source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// Where the bytes are.
    pub source: SpanSource,
    /// For a file: offset of the first byte inside that file. For zeros: the
    /// offset inside the run of zeros (informational only).
    pub file_offset: u64,
    /// Number of bytes, at least 1.
    pub len: u64,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    start: u64,
    len: u64,
    source: SpanSource,
    /// Offset inside the file of the segment's first byte (non-zero only when
    /// a malformed, overlapping file list had to be clipped).
    file_offset: u64,
}

impl Segment {
    fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// The file layout of one torrent: which file holds which piece-space byte.
#[derive(Clone, Debug)]
pub struct Layout {
    segments: Vec<Segment>,
    total_length: u64,
}

impl Layout {
    /// Builds the layout from a parsed info dictionary.
    ///
    /// Files are placed at their `offset`; pad files become zeros, gaps
    /// between files (pure v2) become zeros, zero-length files are skipped.
    /// The parser guarantees files are in order and do not overlap; should a
    /// hand-built `Info` break that, overlapping bytes go to the earlier file
    /// and bytes past `total_length` are dropped, never a panic.
    pub fn new(info: &Info) -> Layout {
        let total = info.total_length;
        let mut segments: Vec<Segment> = Vec::with_capacity(info.files.len() + 1);
        let mut cursor = 0u64;
        for (i, f) in info.files.iter().enumerate() {
            let end = f.offset.saturating_add(f.length).min(total);
            let start = f.offset.max(cursor);
            if f.length == 0 || start >= end {
                continue;
            }
            if start > cursor {
                push(&mut segments, cursor, start - cursor, SpanSource::Zeros, 0);
            }
            let source = if f.attr.pad {
                SpanSource::Zeros
            } else {
                SpanSource::File(i)
            };
            push(&mut segments, start, end - start, source, start - f.offset);
            cursor = end;
        }
        if cursor < total {
            push(&mut segments, cursor, total - cursor, SpanSource::Zeros, 0);
        }
        Layout {
            segments,
            total_length: total,
        }
    }

    /// Size of the piece space.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// The spans covering `[offset, offset + len)`, in order. They are
    /// contiguous and their lengths sum to `len`, except that a range
    /// running past the end of the piece space is cut at the end (callers
    /// pass validated ranges; [`crate::Storage`] rejects such ranges).
    pub fn spans(&self, offset: u64, len: u64) -> Spans<'_> {
        let end = offset.saturating_add(len).min(self.total_length);
        let index = self.segments.partition_point(|s| s.end() <= offset);
        Spans {
            segments: self.segments.get(index..).unwrap_or(&[]),
            pos: offset,
            end,
        }
    }
}

fn push(segments: &mut Vec<Segment>, start: u64, len: u64, source: SpanSource, file_offset: u64) {
    if let Some(last) = segments.last_mut() {
        if last.source == SpanSource::Zeros && source == SpanSource::Zeros {
            last.len += len;
            return;
        }
    }
    segments.push(Segment {
        start,
        len,
        source,
        file_offset,
    });
}

/// Iterator returned by [`Layout::spans`].
#[derive(Clone, Debug)]
pub struct Spans<'a> {
    segments: &'a [Segment],
    pos: u64,
    end: u64,
}

impl Iterator for Spans<'_> {
    type Item = Span;

    fn next(&mut self) -> Option<Span> {
        if self.pos >= self.end {
            return None;
        }
        let (seg, rest) = self.segments.split_first()?;
        let take = seg.end().min(self.end) - self.pos;
        let span = Span {
            source: seg.source,
            file_offset: seg.file_offset + (self.pos - seg.start),
            len: take,
        };
        self.pos += take;
        if self.pos >= seg.end() {
            self.segments = rest;
        }
        Some(span)
    }
}

impl std::iter::FusedIterator for Spans<'_> {}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use seedcore_protocol::metainfo::{FileAttr, FileEntry, MetaVersion, PieceLength};

    /// An `Info` for tests: `(length, pad)` per file, placed one after the
    /// other, each starting on a piece boundary when `aligned` (pure v2).
    pub(crate) fn info(piece_length: u32, files: &[(u64, bool)], aligned: bool) -> Info {
        let pl = u64::from(piece_length);
        let mut offset = 0u64;
        let mut entries = Vec::new();
        for (i, &(length, pad)) in files.iter().enumerate() {
            if aligned && length > 0 {
                offset = offset.div_ceil(pl) * pl;
            }
            entries.push(FileEntry {
                path: vec!["t".into(), format!("f{i}")],
                length,
                offset,
                attr: FileAttr {
                    pad,
                    ..FileAttr::default()
                },
                pieces_root: None,
                symlink_path: None,
            });
            offset += length;
        }
        let total = offset;
        Info {
            name: "t".into(),
            piece_length: PieceLength::new(pl).unwrap_or(PieceLength::new(16384).unwrap()),
            version: if aligned {
                MetaVersion::V2
            } else {
                MetaVersion::V1
            },
            multi_file: true,
            files: entries,
            pieces: Vec::new(),
            total_length: total,
            piece_count: u32::try_from(total.div_ceil(pl)).unwrap(),
            private: false,
            source: None,
        }
    }

    /// The obvious byte-at-a-time answer, run-length encoded.
    pub(crate) fn naive(info: &Info, offset: u64, len: u64) -> Vec<(SpanSource, u64, u64)> {
        let mut out: Vec<(SpanSource, u64, u64)> = Vec::new();
        let end = (offset + len).min(info.total_length);
        for pos in offset..end {
            let (src, fo) = info
                .files
                .iter()
                .enumerate()
                .find(|(_, f)| f.offset <= pos && pos < f.offset + f.length)
                .map(|(i, f)| {
                    if f.attr.pad {
                        (SpanSource::Zeros, 0)
                    } else {
                        (SpanSource::File(i), pos - f.offset)
                    }
                })
                .unwrap_or((SpanSource::Zeros, 0));
            match out.last_mut() {
                Some(last)
                    if last.0 == src && (src == SpanSource::Zeros || last.1 + last.2 == fo) =>
                {
                    last.2 += 1
                }
                _ => out.push((src, fo, 1)),
            }
        }
        out
    }

    pub(crate) fn spans_rle(l: &Layout, offset: u64, len: u64) -> Vec<(SpanSource, u64, u64)> {
        l.spans(offset, len)
            .map(|s| {
                let fo = if s.source == SpanSource::Zeros {
                    0
                } else {
                    s.file_offset
                };
                (s.source, fo, s.len)
            })
            .collect()
    }

    #[test]
    fn single_file() {
        let i = info(16384, &[(40000, false)], false);
        let l = Layout::new(&i);
        let s: Vec<Span> = l.spans(100, 50).collect();
        assert_eq!(
            s,
            vec![Span {
                source: SpanSource::File(0),
                file_offset: 100,
                len: 50
            }]
        );
        assert_eq!(l.spans(40000, 1).count(), 0);
        assert_eq!(l.spans(39990, 100).map(|s| s.len).sum::<u64>(), 10);
    }

    #[test]
    fn piece_spanning_three_files_with_empty_and_pad() {
        // f0: 10 bytes, f1: empty, f2: 5 bytes, pad 3, f4: 20 bytes.
        let i = info(
            1024,
            &[(10, false), (0, false), (5, false), (3, true), (20, false)],
            false,
        );
        let l = Layout::new(&i);
        let s: Vec<Span> = l.spans(8, 15).collect();
        assert_eq!(
            s,
            vec![
                Span {
                    source: SpanSource::File(0),
                    file_offset: 8,
                    len: 2
                },
                Span {
                    source: SpanSource::File(2),
                    file_offset: 0,
                    len: 5
                },
                Span {
                    source: SpanSource::Zeros,
                    file_offset: 0,
                    len: 3
                },
                Span {
                    source: SpanSource::File(4),
                    file_offset: 0,
                    len: 5
                },
            ]
        );
        assert!(l.spans(0, 38).all(|s| s.source != SpanSource::File(1)));
    }

    #[test]
    fn v2_gaps_are_zeros() {
        let i = info(
            16384,
            &[(100, false), (0, false), (16385, false), (7, false)],
            true,
        );
        assert_eq!(i.files[2].offset, 16384);
        assert_eq!(i.files[3].offset, 3 * 16384);
        let l = Layout::new(&i);
        let s: Vec<Span> = l.spans(0, 16384).collect();
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            Span {
                source: SpanSource::Zeros,
                file_offset: 0,
                len: 16284
            }
        );
        let s: Vec<Span> = l.spans(2 * 16384, 16384 + 7).collect();
        assert_eq!(
            s,
            vec![
                Span {
                    source: SpanSource::File(2),
                    file_offset: 16384,
                    len: 1
                },
                Span {
                    source: SpanSource::Zeros,
                    file_offset: 0,
                    len: 16383
                },
                Span {
                    source: SpanSource::File(3),
                    file_offset: 0,
                    len: 7
                },
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn spans_match_naive(
            files in proptest::collection::vec((0u64..3000, proptest::bool::weighted(0.2)), 1..12),
            aligned in proptest::bool::ANY,
            a in 0u64..40_000,
            b in 0u64..40_000,
        ) {
            let i = info(1024, &files, aligned);
            let l = Layout::new(&i);
            let (off, len) = (a.min(b), a.max(b) - a.min(b));
            let got = spans_rle(&l, off, len);
            proptest::prop_assert_eq!(&got, &naive(&i, off, len));
            let spans: Vec<Span> = l.spans(off, len).collect();
            let want_len = (off + len).min(i.total_length).saturating_sub(off);
            proptest::prop_assert_eq!(spans.iter().map(|s| s.len).sum::<u64>(), want_len);
            proptest::prop_assert!(spans.iter().all(|s| s.len > 0));
            for s in &spans {
                if let SpanSource::File(f) = s.source {
                    let f = &i.files[f];
                    proptest::prop_assert!(f.length > 0 && !f.attr.pad);
                    proptest::prop_assert!(s.file_offset + s.len <= f.length);
                }
            }
        }
    }

    #[test]
    fn hand_built_overlaps_do_not_panic() {
        let mut i = info(1024, &[(10, false), (10, false)], false);
        i.files[1].offset = 5; // overlaps file 0
        i.files.push(FileEntry {
            offset: u64::MAX - 1,
            length: 10,
            ..i.files[0].clone()
        });
        let l = Layout::new(&i);
        let total: u64 = l.spans(0, u64::MAX).map(|s| s.len).sum();
        assert_eq!(total, i.total_length);
        assert_eq!(l.spans(u64::MAX, u64::MAX).count(), 0);
    }
}
