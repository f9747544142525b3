//! Small, deterministic test content.
//!
//! Bytes come from a seeded SplitMix64 stream, so a test hashes exactly the
//! same data on every run and every machine, and a failure reproduces. The
//! tree shapes are picked to hit the cases torrent makers get wrong: an
//! empty file, a file smaller than one 16 KiB block, files whose lengths are
//! not multiples of any piece size, a file exactly one MiB long, deep
//! nesting, and names whose order differs between "sort by path bytes"
//! (mktorrent: `a.txt` < `a/x`, as `.` < `/`) and "sort by component"
//! (BEP 52 file trees: `a/x` < `a.txt`), plus an upper-case name that sorts
//! before every lower-case one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The shape of a test tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One file, about 1 MiB, length not a multiple of any piece size.
    SingleFile,
    /// A folder of files and no sub-folders, one of them empty and one
    /// smaller than a block.
    Flat,
    /// Nested folders with the ordering traps described in the module doc.
    Nested,
}

/// One file of a tree: its path below the tree's top (`/`-separated; the
/// file name itself for [`Shape::SingleFile`]) and its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// Path relative to the tree root, components joined by `/`.
    pub rel: String,
    /// Length in bytes.
    pub len: u64,
}

fn files_of(shape: Shape) -> &'static [(&'static str, u64)] {
    match shape {
        Shape::SingleFile => &[("", 1_048_576 + 12_345)],
        Shape::Flat => &[
            ("big.bin", 1_572_864 + 7),
            ("empty", 0),
            ("mid.dat", 300_001),
            ("small.txt", 1_000),
        ],
        Shape::Nested => &[
            ("B.bin", 65_536 + 3),
            ("a.txt", 3_000),
            ("a/b/deep.bin", 700_000),
            ("a/x", 5),
            ("m.bin", 1_048_576),
            ("sub/c", 40_000),
            ("z/empty", 0),
            ("z/y/small", 999),
        ],
    }
}

/// Writes a tree of `shape` at `parent/name` (a file for
/// [`Shape::SingleFile`], else a folder) with content derived from `seed`.
/// Returns the path of the file or folder and its files, sorted by the
/// bytes of their path (mktorrent's order).
pub fn make_tree(parent: &Path, name: &str, shape: Shape, seed: u64) -> (PathBuf, Vec<TreeFile>) {
    let top = parent.join(name);
    let mut files = Vec::new();
    for (i, &(rel, len)) in (0u64..).zip(files_of(shape)) {
        let (path, rel) = if rel.is_empty() {
            (top.clone(), name.to_string())
        } else {
            (top.join(rel), rel.to_string())
        };
        write_pseudo_random(&path, len, seed.wrapping_mul(1_000_003).wrapping_add(i));
        files.push(TreeFile { rel, len });
    }
    files.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    (top, files)
}

/// `len` pseudo-random bytes determined by `seed`.
pub fn pseudo_random_bytes(len: u64, seed: u64) -> Vec<u8> {
    let len = usize::try_from(len).expect("test data must fit in memory");
    let mut state = seed ^ 0x5eed_c0de_0000_0001;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes [`pseudo_random_bytes`] to `path`, creating parent folders.
pub fn write_pseudo_random(path: &Path, len: u64, seed: u64) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    }
    let mut f = fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(&pseudo_random_bytes(len, seed))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, well mixed; plenty
/// for test content, and no dependency.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Flips every bit of the byte at `offset` in `path`.
pub fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let i = usize::try_from(offset).expect("offset fits in memory");
    let b = bytes
        .get_mut(i)
        .unwrap_or_else(|| panic!("{} has no byte at {offset}", path.display()));
    *b = !*b;
    fs::write(path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_seeded() {
        assert_eq!(pseudo_random_bytes(1000, 7), pseudo_random_bytes(1000, 7));
        assert_ne!(pseudo_random_bytes(1000, 7), pseudo_random_bytes(1000, 8));
        assert_eq!(pseudo_random_bytes(13, 7).len(), 13);
        assert!(pseudo_random_bytes(0, 7).is_empty());
    }

    #[test]
    fn nested_tree_is_in_path_byte_order_with_edge_cases() {
        let dir = tempfile::tempdir().unwrap();
        let (top, files) = make_tree(dir.path(), "n", Shape::Nested, 1);
        let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        // '.' (0x2e) sorts before '/' (0x2f); 'B' before every lower-case letter.
        let a_txt = rels.iter().position(|r| *r == "a.txt").unwrap();
        let a_x = rels.iter().position(|r| *r == "a/x").unwrap();
        assert!(a_txt < a_x);
        assert_eq!(rels.first(), Some(&"B.bin"));
        assert!(files.iter().any(|f| f.len == 0));
        assert!(files.iter().any(|f| f.len > 0 && f.len < 16_384));
        for f in &files {
            assert_eq!(fs::metadata(top.join(&f.rel)).unwrap().len(), f.len);
        }
    }

    #[test]
    fn single_file_tree_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (top, files) = make_tree(dir.path(), "one.bin", Shape::SingleFile, 1);
        assert!(top.is_file());
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].rel, "one.bin");
    }

    #[test]
    fn flip_changes_one_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write_pseudo_random(&p, 100, 3);
        let before = fs::read(&p).unwrap();
        flip_byte(&p, 42);
        let after = fs::read(&p).unwrap();
        let diffs: Vec<usize> = (0..100).filter(|&i| before[i] != after[i]).collect();
        assert_eq!(diffs, vec![42]);
    }
}
