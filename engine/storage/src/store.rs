//! Read-only memory maps of a torrent's files, for zero-copy serving.
//!
//! # Why mmap, and its one sharp edge
//!
//! A seeder reads blocks at random from files it never writes. Mapping each
//! file once, read-only, lets a block request become a borrowed `&[u8]` into
//! the page cache that the send path hands to the socket without a user-space
//! copy, from any thread, with no locks and no buffer pool.
//!
//! The sharp edge: touching a mapped page past the end of the file raises
//! `SIGBUS`, which kills the process. So a file is mapped **only** when its
//! size on disk is exactly the size the torrent expects; a shorter (or
//! longer) file is reported as [`FileState::WrongSize`] and never served.
//! If another process truncates a mapped file while it is being served, the
//! same signal can still fire; every mmap-based seeder shares this hazard.
//! Do not truncate files that are being seeded: remove the torrent first.
//!
//! Problems with single files are never fatal: [`Storage::open`] always
//! succeeds file by file and reports each file's state, so one missing file
//! only makes its own pieces unavailable.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use seedcore_protocol::metainfo::Info;

use crate::layout::{Layout, SpanSource};
pub use crate::stamp::FileStamp;
use crate::StorageError;

/// What was found on disk for one file of the torrent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    /// Present with the expected size (or a pad file, which is never on disk).
    Ok,
    /// No file at the expected path.
    Missing,
    /// Present, but not the size the torrent says. Its pieces cannot be
    /// served; verification still checks the pieces that lie wholly inside
    /// the bytes that are there.
    WrongSize {
        /// Size the torrent expects.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Present but could not be opened or mapped (permissions, a folder in
    /// its place, an unsafe path component, mapping failed...).
    Unreadable {
        /// What went wrong.
        reason: String,
    },
}

impl std::fmt::Display for FileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileState::Ok => f.write_str("ok"),
            FileState::Missing => f.write_str("missing"),
            FileState::WrongSize { expected, actual } => {
                write!(f, "wrong size: {actual} bytes on disk, {expected} expected")
            }
            FileState::Unreadable { reason } => write!(f, "unreadable: {reason}"),
        }
    }
}

/// How a file's bytes can be reached.
#[derive(Debug)]
enum Backing {
    /// Pad file, missing, unreadable or empty: no bytes to read.
    None,
    /// Mapped, exact size: served and verified from here.
    Mapped(Mmap),
    /// Wrong size, or opened by [`Storage::open_unmapped`]: never served,
    /// but verification reads the bytes that are there with `pread` (a map
    /// would fault past the end of a file that is or becomes shorter).
    Partial { file: File, len: u64 },
}

#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    backing: Backing,
    stamp: Option<FileStamp>,
}

/// One piece of a byte range, borrowed from a mapping or a run of zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Bytes of a mapped file.
    Mapped(&'a [u8]),
    /// This many zero bytes (pad file or v2 gap).
    Zeros(u64),
}

impl Chunk<'_> {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Chunk::Mapped(s) => s.len() as u64,
            Chunk::Zeros(n) => *n,
        }
    }

    /// True for a zero-length chunk (never yielded by [`Storage::slices`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Zeros to send or hash for pad files and v2 gaps ([`Chunk::Zeros`]), so
/// no caller allocates them.
pub static ZEROS: [u8; 65536] = [0u8; 65536];

/// The data of one torrent on disk: a read-only mapping of every non-pad,
/// non-empty file of the expected size, and the state of every file.
///
/// `Storage` is `Send + Sync`: share it by reference or `Arc` between threads.
#[derive(Debug)]
pub struct Storage {
    layout: Layout,
    files: Vec<OpenFile>,
    states: Vec<FileState>,
}

fn unsafe_component(c: &str) -> bool {
    c.is_empty() || c == "." || c == ".." || c.contains(['/', '\\', '\0'])
}

/// Whether [`open_one`] maps a file of the right size or only keeps it open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Map,
    Read,
}

fn open_one(path: &Path, expected: u64, access: Access) -> (FileState, Backing, Option<FileStamp>) {
    // Never blocks on a FIFO, and refuses anything but a regular file
    // (a device, a socket, a folder) by what `fstat` says of the handle.
    let (file, meta) = match crate::regular::open(path) {
        Ok(x) => x,
        Err(e) if e.is_not_found() => return (FileState::Missing, Backing::None, None),
        Err(crate::regular::OpenError::NotRegular { kind, .. }) => {
            let reason = format!("{kind}, not a regular file");
            return (FileState::Unreadable { reason }, Backing::None, None);
        }
        Err(crate::regular::OpenError::Io { error, .. }) => {
            let reason = format!("cannot open: {error}");
            return (FileState::Unreadable { reason }, Backing::None, None);
        }
        Err(e) => {
            let reason = e.to_string();
            return (FileState::Unreadable { reason }, Backing::None, None);
        }
    };
    let stamp = Some(FileStamp::of(&meta));
    let actual = meta.len();
    if actual != expected {
        let state = FileState::WrongSize { expected, actual };
        let backing = if actual == 0 {
            Backing::None
        } else {
            Backing::Partial { file, len: actual }
        };
        return (state, backing, stamp);
    }
    if expected == 0 {
        // A zero-length mapping is an error (EINVAL); there is nothing to map.
        return (FileState::Ok, Backing::None, stamp);
    }
    if access == Access::Read {
        let backing = Backing::Partial {
            file,
            len: expected,
        };
        return (FileState::Ok, backing, stamp);
    }
    if usize::try_from(expected).is_err() {
        let reason = "too large to map on this platform".to_string();
        return (FileState::Unreadable { reason }, Backing::None, stamp);
    }
    // SAFETY: the mapping is read-only and private to this process' view of
    // the file; it was just checked to be exactly `expected` bytes, and no
    // reference into it outlives the `Mmap`. The remaining hazard, another
    // process truncating or rewriting the file while it is mapped, cannot be
    // excluded by any API; it is documented at module level (SIGBUS on
    // truncation, changed bytes otherwise, which verification would catch).
    let map = match unsafe { Mmap::map(&file) } {
        Ok(m) => m,
        Err(e) => {
            let reason = format!("cannot map: {e}");
            return (FileState::Unreadable { reason }, Backing::None, stamp);
        }
    };
    if map.len() as u64 != expected {
        // The file changed size between fstat and mmap.
        let state = FileState::WrongSize {
            expected,
            actual: map.len() as u64,
        };
        return (
            state,
            Backing::Partial {
                file,
                len: map.len() as u64,
            },
            stamp,
        );
    }
    (FileState::Ok, Backing::Mapped(map), stamp)
}

impl Storage {
    /// Opens the data of a torrent saved into the folder `root`: file `i` is
    /// `root.join(files[i].path...)`. Each file's problems are reported in
    /// [`Storage::file_status`]; opening fails only when the torrent itself
    /// cannot be laid out (currently never: the `Result` is kept for callers).
    pub fn open(info: &Info, root: &Path) -> Result<Storage, StorageError> {
        Self::open_with(info, root, Access::Map)
    }

    /// Opens the files without mapping any of them: every byte is read with
    /// `pread`. Slower to hash (a copy per byte, no multi-buffer SHA-1 in
    /// place) and unable to serve ([`Storage::slices`] refuses), but a file
    /// truncated while it is read gives an I/O error instead of SIGBUS. The
    /// seed re-verifies files that just changed this way: those are the files
    /// most likely to change again under the reader.
    pub fn open_unmapped(info: &Info, root: &Path) -> Result<Storage, StorageError> {
        Self::open_with(info, root, Access::Read)
    }

    fn open_with(info: &Info, root: &Path, access: Access) -> Result<Storage, StorageError> {
        let mut files = Vec::with_capacity(info.files.len());
        let mut states = Vec::with_capacity(info.files.len());
        for f in &info.files {
            let mut path = root.to_path_buf();
            for c in &f.path {
                path.push(c);
            }
            let (state, backing, stamp) = if f.attr.pad {
                (FileState::Ok, Backing::None, None)
            } else if f.path.is_empty() || f.path.iter().any(|c| unsafe_component(c)) {
                let reason = "path has an empty, '.', '..' or separator component".to_string();
                (FileState::Unreadable { reason }, Backing::None, None)
            } else {
                open_one(&path, f.length, access)
            };
            files.push(OpenFile {
                path,
                backing,
                stamp,
            });
            states.push(state);
        }
        Ok(Storage {
            layout: Layout::new(info),
            files,
            states,
        })
    }

    /// The state of every file, indexed like `info.files`.
    pub fn file_status(&self) -> &[FileState] {
        &self.states
    }

    /// Where file `index` was looked for.
    pub fn file_path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(|f| f.path.as_path())
    }

    /// Size and modification time of file `index` when it was opened
    /// (`None` for pad files and files that were not there).
    pub fn file_stamp(&self, index: usize) -> Option<FileStamp> {
        self.files.get(index).and_then(|f| f.stamp)
    }

    /// The layout the storage was opened with.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// True when every non-pad file is [`FileState::Ok`].
    pub fn all_ok(&self) -> bool {
        self.states.iter().all(|s| *s == FileState::Ok)
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        let total = self.layout.total_length();
        match offset.checked_add(len) {
            Some(end) if end <= total => Ok(()),
            _ => Err(StorageError::OutOfRange {
                offset,
                len,
                total_length: total,
            }),
        }
    }

    fn unavailable(&self, index: usize) -> StorageError {
        StorageError::FileUnavailable {
            index,
            path: self
                .file_path(index)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
            state: self
                .states
                .get(index)
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }

    fn mapped(&self, index: usize, file_offset: u64, len: u64) -> Option<&[u8]> {
        let Backing::Mapped(map) = &self.files.get(index)?.backing else {
            return None;
        };
        let start = usize::try_from(file_offset).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        map.get(start..end)
    }

    /// The bytes of `[offset, offset + len)` as borrowed slices of the
    /// mappings and runs of zeros, in order: the zero-copy serving path.
    ///
    /// Fails when the range is outside the piece space or touches a file that
    /// is not mapped (see [`Storage::file_status`]); nothing is yielded then.
    pub fn slices(&self, offset: u64, len: u64) -> Result<Slices<'_>, StorageError> {
        self.check_range(offset, len)?;
        for span in self.layout.spans(offset, len) {
            if let SpanSource::File(i) = span.source {
                if self.mapped(i, span.file_offset, span.len).is_none() {
                    return Err(self.unavailable(i));
                }
            }
        }
        Ok(Slices {
            storage: self,
            spans: self.layout.spans(offset, len),
        })
    }

    /// Appends the bytes of `[offset, offset + len)` to `out` (a copy; for
    /// hashing and tests; serving uses [`Storage::slices`]).
    pub fn read(&self, offset: u64, len: u64, out: &mut Vec<u8>) -> Result<(), StorageError> {
        let slices = self.slices(offset, len)?;
        out.reserve(usize::try_from(len).unwrap_or(0));
        for chunk in slices {
            match chunk {
                Chunk::Mapped(s) => out.extend_from_slice(s),
                Chunk::Zeros(n) => out.resize(out.len() + usize::try_from(n).unwrap_or(0), 0),
            }
        }
        Ok(())
    }

    /// The range as one borrowed slice, when it lies inside one mapped file
    /// (the common case for a piece: hashed in place, many at a time).
    pub(crate) fn contiguous(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let mut spans = self.layout.spans(offset, len);
        let span = spans.next()?;
        if span.len != len || spans.next().is_some() {
            return None;
        }
        match span.source {
            SpanSource::File(i) => self.mapped(i, span.file_offset, span.len),
            SpanSource::Zeros => None,
        }
    }

    /// Feeds the bytes of a range to `sink`, reading wrong-size files with
    /// `pread` where the bytes exist (verification's path). `Err` when any
    /// byte cannot be read; `sink` may have seen a prefix by then.
    pub(crate) fn feed(
        &self,
        offset: u64,
        len: u64,
        scratch: &mut Vec<u8>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        self.check_range(offset, len)?;
        for span in self.layout.spans(offset, len) {
            match span.source {
                SpanSource::Zeros => {
                    feed_zeros(span.len, sink);
                }
                SpanSource::File(i) => {
                    if let Some(s) = self.mapped(i, span.file_offset, span.len) {
                        sink(s);
                        continue;
                    }
                    let Some(Backing::Partial { file, len: flen }) =
                        self.files.get(i).map(|f| &f.backing)
                    else {
                        return Err(self.unavailable(i));
                    };
                    if span.file_offset.saturating_add(span.len) > *flen {
                        return Err(self.unavailable(i));
                    }
                    self.pread(i, file, span.file_offset, span.len, scratch, sink)?;
                }
            }
        }
        Ok(())
    }

    fn pread(
        &self,
        index: usize,
        file: &File,
        mut pos: u64,
        len: u64,
        scratch: &mut Vec<u8>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        const CHUNK: usize = 1 << 20;
        let end = pos + len;
        while pos < end {
            let n = usize::try_from(end - pos).unwrap_or(CHUNK).min(CHUNK);
            scratch.resize(n, 0);
            let buf = scratch.get_mut(..n).unwrap_or_default();
            read_exact_at(file, buf, pos).map_err(|_| self.unavailable(index))?;
            sink(buf);
            pos += n as u64;
        }
        Ok(())
    }

    /// Hints the kernel that mapped files will be read front to back
    /// (aggressive read-ahead); used for full verification.
    pub(crate) fn advise_sequential(&self) {
        #[cfg(unix)]
        for f in &self.files {
            if let Backing::Mapped(m) = &f.backing {
                // A refused hint changes nothing but speed.
                let _ = m.advise(memmap2::Advice::Sequential);
            }
        }
    }

    /// Prepares the maps for a worker about to hash the consecutive pieces
    /// `task` (ascending): the task's own bytes are mapped in one call
    /// (`MADV_POPULATE_READ`, Linux 5.14+; one call instead of a page fault
    /// every few pages), and the same amount that follows is read ahead in
    /// the background (`MADV_WILLNEED`) for whichever worker takes it next.
    /// Hints only: a refused one changes nothing but speed.
    pub(crate) fn prefetch(&self, geo: &seedcore_protocol::geometry::Geometry, task: &[u32]) {
        let (Some(a), Some(b)) = (
            task.first().and_then(|&p| geo.piece(p)),
            task.last().and_then(|&p| geo.piece(p)),
        ) else {
            return;
        };
        // Only for runs of consecutive pieces of reasonable size.
        let consecutive =
            b.get().checked_sub(a.get()).map(|d| u64::from(d) + 1) == Some(task.len() as u64);
        let start = geo.piece_offset(a);
        let end = geo.piece_offset(b) + u64::from(geo.piece_size(b));
        let len = end.saturating_sub(start);
        if !consecutive || len > 64 << 20 {
            return;
        }
        #[cfg(unix)]
        {
            self.advise(memmap2::Advice::PopulateRead, start, len);
            self.advise(memmap2::Advice::WillNeed, end, len);
        }
    }

    #[cfg(unix)]
    fn advise(&self, advice: memmap2::Advice, offset: u64, len: u64) {
        let len = len.min(self.layout.total_length().saturating_sub(offset));
        for span in self.layout.spans(offset, len) {
            if let SpanSource::File(i) = span.source {
                if let Some(Backing::Mapped(m)) = self.files.get(i).map(|f| &f.backing) {
                    if let (Ok(o), Ok(l)) =
                        (usize::try_from(span.file_offset), usize::try_from(span.len))
                    {
                        let _ = m.advise_range(advice, o, l);
                    }
                }
            }
        }
    }
}

/// Feeds `len` zero bytes to `sink`, at most 64 KiB at a time.
pub(crate) fn feed_zeros(mut len: u64, sink: &mut dyn FnMut(&[u8])) {
    while len > 0 {
        let n = ZEROS.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        sink(ZEROS.get(..n).unwrap_or_default());
        len -= n as u64;
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut pos: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, pos)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = buf.get_mut(n..).unwrap_or_default();
                pos += n as u64;
            }
        }
    }
    Ok(())
}

/// Iterator returned by [`Storage::slices`]; every file span in it was
/// checked to be mapped before it was handed out.
#[derive(Debug)]
pub struct Slices<'a> {
    storage: &'a Storage,
    spans: crate::layout::Spans<'a>,
}

impl<'a> Iterator for Slices<'a> {
    type Item = Chunk<'a>;

    fn next(&mut self) -> Option<Chunk<'a>> {
        let span = self.spans.next()?;
        match span.source {
            SpanSource::Zeros => Some(Chunk::Zeros(span.len)),
            // Checked in `slices`: a mapped file's mapping never goes away.
            SpanSource::File(i) => self
                .storage
                .mapped(i, span.file_offset, span.len)
                .map(Chunk::Mapped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_is_shareable_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Storage>();
        send_sync::<Chunk<'static>>();
    }

    #[test]
    fn unsafe_components_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "nul\0"] {
            assert!(unsafe_component(bad), "{bad:?}");
        }
        assert!(!unsafe_component("...") && !unsafe_component(".hidden"));
    }
}
