//! Small file helpers for the live node's files (state folder, watch
//! folder, blocklist): opening that cannot hang, and durable writes.

use std::fs::File;
use std::io;
use std::path::Path;

/// Opens `path` for reading only if it is a regular file. Opened with
/// `O_NONBLOCK` first, so a FIFO or device put where a file should be is an
/// error, not a read that blocks forever.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

/// Reads a regular file of at most `max` bytes.
pub(crate) fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = open_regular(path)?;
    let size = f.metadata()?.len();
    if size > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{size} bytes, over the {max}-byte limit"),
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    f.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("over the {max}-byte limit"),
        ));
    }
    Ok(out)
}
