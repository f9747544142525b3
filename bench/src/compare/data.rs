//! The torrent under test: found, made, or given; and a warm page cache.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use seedcore_storage::create::{self, CreateMode};

use super::CompareError;
use crate::torrent::{make_data, Torrent};

fn data_err(path: &Path, detail: impl Into<String>) -> CompareError {
    CompareError::Data {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Files (not folders, not hidden) directly in `dir`, sorted.
fn plain_files(dir: &Path) -> Result<Vec<PathBuf>, CompareError> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).map_err(|e| data_err(dir, e.to_string()))?;
    for entry in rd {
        let entry = entry.map_err(|e| data_err(dir, e.to_string()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.file_type().is_ok_and(|t| t.is_file()) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// A v1 torrent for one file, written beside it as `<file>.torrent`.
fn torrent_for_file(file: &Path) -> Result<PathBuf, CompareError> {
    let scanned = create::scan(file).map_err(|e| data_err(file, e.to_string()))?;
    let pl = create::auto_piece_length(scanned.total_length());
    let hashed = create::hash(&scanned, pl, CreateMode::V1, 0, None)
        .map_err(|e| data_err(file, e.to_string()))?;
    let bytes = hashed
        .builder()
        .created_by("seedcore-bench compare")
        .build()
        .map_err(|e| data_err(file, e.to_string()))?;
    let mut name = file.as_os_str().to_owned();
    name.push(".torrent");
    let out = PathBuf::from(name);
    fs::write(&out, bytes).map_err(|e| data_err(&out, e.to_string()))?;
    Ok(out)
}

/// The torrent to serve from `data`: `explicit` if given; else the one
/// `.torrent` in `data`; else a torrent made for the one file in `data`;
/// else (`data` missing or empty) `size` bytes of test data and its
/// torrent. Returns absolute (torrent, data folder) paths.
pub(crate) fn prepare(
    data: &Path,
    explicit: Option<&Path>,
    size: u64,
) -> Result<(PathBuf, PathBuf), CompareError> {
    let torrent = if let Some(t) = explicit {
        t.to_path_buf()
    } else if !data.exists() || plain_files(data)?.is_empty() {
        eprintln!(
            "compare: writing {} MiB of test data to {}",
            size >> 20,
            data.display()
        );
        make_data(data, "data.bin", size, 0).map_err(|e| data_err(data, e.to_string()))?
    } else {
        let files = plain_files(data)?;
        let torrents: Vec<&PathBuf> = files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "torrent"))
            .collect();
        match (torrents.as_slice(), files.len()) {
            ([one], _) => (*one).clone(),
            ([], 1) => files
                .first()
                .map(|f| torrent_for_file(f))
                .transpose()?
                .ok_or_else(|| data_err(data, "no file"))?,
            ([], _) => {
                return Err(data_err(
                    data,
                    "holds several files and no .torrent: give --torrent, or a folder with one file, or an empty folder",
                ))
            }
            _ => {
                return Err(data_err(
                    data,
                    "holds several .torrent files: pick one with --torrent",
                ))
            }
        }
    };
    let abs = |p: &Path| fs::canonicalize(p).map_err(|e| data_err(p, e.to_string()));
    Ok((abs(&torrent)?, abs(data)?))
}

/// Reads every file of `t` under `data` once (page cache warm-up) and
/// returns the bytes read.
pub(crate) fn warm_cache(t: &Torrent, data: &Path) -> Result<u64, CompareError> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    for f in t.meta.info.files.iter().filter(|f| !f.attr.pad) {
        let path = f.path.iter().fold(data.to_path_buf(), |p, c| p.join(c));
        let mut file = File::open(&path).map_err(|e| data_err(&path, e.to_string()))?;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| data_err(&path, e.to_string()))?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_makes_or_refuses() {
        let dir = tempfile::tempdir().unwrap();
        // Missing folder: test data is made.
        let d = dir.path().join("new");
        let (t, data) = prepare(&d, None, 40_000).unwrap();
        assert!(t.ends_with("data.bin.torrent"));
        let tor = Torrent::load(&t).unwrap();
        assert_eq!(tor.geometry.total_length(), 40_000);
        assert_eq!(warm_cache(&tor, &data).unwrap(), 40_000);
        // Now it holds one torrent: reused.
        assert_eq!(prepare(&d, None, 1).unwrap().0, t);
        // One plain file: a torrent is made beside it.
        let one = dir.path().join("one");
        fs::create_dir(&one).unwrap();
        fs::write(one.join("f.bin"), vec![7u8; 50_000]).unwrap();
        let (t1, _) = prepare(&one, None, 1).unwrap();
        assert!(t1.ends_with("f.bin.torrent"));
        assert_eq!(Torrent::load(&t1).unwrap().geometry.total_length(), 50_000);
        // Two plain files, no torrent: refused with advice.
        let two = dir.path().join("two");
        fs::create_dir(&two).unwrap();
        fs::write(two.join("a"), b"a").unwrap();
        fs::write(two.join("b"), b"b").unwrap();
        let e = prepare(&two, None, 1).unwrap_err().to_string();
        assert!(e.contains("--torrent"), "{e}");
    }
}
