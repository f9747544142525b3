//! Listing the files that go into a new torrent.
//!
//! Decisions, and why:
//! - **Symbolic links are followed**, as mktorrent does, so the same folder
//!   gives the same torrent with either tool. A link that leads back into a
//!   folder being walked (a cycle) is skipped, as is a dangling link.
//! - **Special files** (FIFOs, sockets, devices) are skipped: they have no
//!   fixed content. Each skipped entry is listed in [`ScannedFiles::skipped`]
//!   with its reason, so the caller can tell the user.
//! - **Names that are not UTF-8** are skipped: torrent paths are UTF-8 text.
//! - **Hidden files and zero-length files are kept**; empty folders cannot be
//!   represented in a torrent and vanish.
//! - An unreadable folder or file metadata is an error, not a skip: a torrent
//!   silently missing part of a folder is worse than no torrent.

use std::fs;
use std::path::{Path, PathBuf};

use crate::StorageError;

/// One file found by [`scan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    /// Path components, as in `Info::files`: `[name]` for a single file,
    /// `[name, folder..., file]` inside a folder.
    pub path: Vec<String>,
    /// Size in bytes when scanned.
    pub length: u64,
    /// Has an execute permission bit (BEP 47 attribute `x`).
    pub executable: bool,
}

/// Why an entry was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A FIFO, socket or device.
    SpecialFile,
    /// A symbolic link whose target does not exist.
    DanglingSymlink,
    /// A link to a folder that is already being walked.
    SymlinkCycle,
    /// The name is not valid UTF-8.
    NonUtf8Name,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SkipReason::SpecialFile => "not a regular file or folder (FIFO, socket or device)",
            SkipReason::DanglingSymlink => "symbolic link to nothing",
            SkipReason::SymlinkCycle => "symbolic link back into a folder being walked",
            SkipReason::NonUtf8Name => "name is not valid UTF-8",
        })
    }
}

/// An entry [`scan`] left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is on disk.
    pub path: PathBuf,
    /// Why.
    pub reason: SkipReason,
}

/// What [`scan`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFiles {
    /// The folder holding the scanned file or folder: file `i` is at
    /// `base.join(files[i].path...)`.
    pub base: PathBuf,
    /// The torrent's name: the scanned file's or folder's own name.
    pub name: String,
    /// A single file was scanned (not a folder).
    pub single_file: bool,
    /// The files, sorted by full relative path bytes (mktorrent's order).
    pub files: Vec<ScannedFile>,
    /// Entries left out, with reasons.
    pub skipped: Vec<Skipped>,
}

impl ScannedFiles {
    /// Sum of the file lengths.
    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|f| f.length).sum()
    }
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

/// The name and parent folder of the scanned path. `absolute` keeps the
/// user's spelling (a symlink given on the command line names the torrent);
/// paths like `..` or `.` that have no name of their own are resolved.
fn name_and_base(path: &Path) -> Result<(String, PathBuf), StorageError> {
    let abs = std::path::absolute(path).map_err(|e| StorageError::io("resolve", path, e))?;
    let abs = match abs.file_name() {
        Some(_) => abs,
        None => fs::canonicalize(path).map_err(|e| StorageError::io("resolve", path, e))?,
    };
    let (Some(name), Some(base)) = (abs.file_name(), abs.parent()) else {
        return Err(StorageError::BadPath {
            path: path.to_path_buf(),
            reason: "has no name to give the torrent (a filesystem root?)",
        });
    };
    let name = name.to_str().ok_or_else(|| StorageError::BadPath {
        path: path.to_path_buf(),
        reason: "name is not valid UTF-8",
    })?;
    Ok((name.to_string(), base.to_path_buf()))
}

/// Lists a file, or every file under a folder (recursively), for a new
/// torrent. See the module docs for what is followed, skipped and kept.
/// Fails when nothing is left or every file is empty.
pub fn scan(path: &Path) -> Result<ScannedFiles, StorageError> {
    let meta = fs::metadata(path).map_err(|e| StorageError::io("stat", path, e))?;
    let (name, base) = name_and_base(path)?;
    let mut out = ScannedFiles {
        base,
        name: name.clone(),
        single_file: meta.is_file(),
        files: Vec::new(),
        skipped: Vec::new(),
    };
    if meta.is_file() {
        out.files.push(ScannedFile {
            path: vec![name],
            length: meta.len(),
            executable: is_executable(&meta),
        });
    } else if meta.is_dir() {
        let mut rel = vec![name];
        let mut ancestors = Vec::new();
        walk(path, &mut rel, &mut ancestors, &mut out)?;
        out.files
            .sort_by_cached_key(|f| f.path.join("/").into_bytes());
    } else {
        return Err(StorageError::BadPath {
            path: path.to_path_buf(),
            reason: "is neither a regular file nor a folder",
        });
    }
    if out.files.is_empty() {
        return Err(StorageError::NoFiles {
            path: path.to_path_buf(),
        });
    }
    if out.total_length() == 0 {
        return Err(StorageError::EmptyContent {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    rel: &mut Vec<String>,
    ancestors: &mut Vec<PathBuf>,
    out: &mut ScannedFiles,
) -> Result<(), StorageError> {
    let canonical = fs::canonicalize(dir).map_err(|e| StorageError::io("resolve", dir, e))?;
    if ancestors.contains(&canonical) {
        out.skipped.push(Skipped {
            path: dir.to_path_buf(),
            reason: SkipReason::SymlinkCycle,
        });
        return Ok(());
    }
    ancestors.push(canonical);
    let entries = fs::read_dir(dir).map_err(|e| StorageError::io("list folder", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list folder", dir, e))?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            out.skipped.push(Skipped {
                path,
                reason: SkipReason::NonUtf8Name,
            });
            continue;
        };
        let kind = entry
            .file_type()
            .map_err(|e| StorageError::io("stat", &path, e))?;
        // Follows symlinks; for anything else it is the entry itself.
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(_) if kind.is_symlink() => {
                out.skipped.push(Skipped {
                    path,
                    reason: SkipReason::DanglingSymlink,
                });
                continue;
            }
            Err(e) => return Err(StorageError::io("stat", &path, e)),
        };
        if meta.is_dir() {
            rel.push(name);
            walk(&path, rel, ancestors, out)?;
            rel.pop();
        } else if meta.is_file() {
            let mut p = rel.clone();
            p.push(name);
            out.files.push(ScannedFile {
                path: p,
                length: meta.len(),
                executable: is_executable(&meta),
            });
        } else {
            out.skipped.push(Skipped {
                path,
                reason: SkipReason::SpecialFile,
            });
        }
    }
    ancestors.pop();
    Ok(())
}
