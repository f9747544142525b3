//! Test harness shared by seedcore's end-to-end and interop tests.
//!
//! The tests in `tests/tests/` drive the real `seedcore` binary the way an
//! operator does and compare what it writes and reports with what the
//! reference clients (libtorrent through Debian's `python3-libtorrent`, and
//! mktorrent) make of the same files. That catches what unit tests cannot:
//! an info dictionary that is valid but not byte-identical to everyone
//! else's, a flag the CLI forgets to pass down, an exit code that lies.
//!
//! Why the pieces look as they do:
//! - [`process`]: every child runs under a deadline and is killed (by the
//!   PID we started) when it overruns, so a hung command fails one test with
//!   its output instead of hanging CI.
//! - [`data`]: test content is pseudo-random from a seed, so every run and
//!   every machine hashes the same bytes, and trees are shaped to hit the
//!   edge cases (empty file, sub-block file, `a.txt` sorting before `a/x`).
//! - [`clients`]: a missing reference client is a failure that says which
//!   Debian package to install, never a skipped test: a green run must mean
//!   the interop checks ran.
//! - [`bencode`]: a tiny encoder for hand-made malformed torrents (the
//!   engine's own encoder would refuse to write them).
//! - [`live`]: a child kept running in the background (the seed, a
//!   leecher) with its output readable while it runs, bounded waits, and a
//!   kill by PID when the test ends, however it ends.
//! - [`seed`]: `seedcore seed` on loopback with a free port and short
//!   timers from a configuration file; stopping it checks for exit 0 and no
//!   panic.
//! - [`leech`]: real clients leeching from the seed (libtorrent dials it;
//!   transmission and aria2 listen and are dialled) and the checks that the
//!   copy is byte-identical and passes `seedcore verify`; [`rtorrent`]
//!   adds rtorrent (no Fast extension, ignores `reqq`).
//! - [`netns`]: a network namespace of the test's own with a veth pair, for
//!   clients that refuse loopback peers from a tracker (transmission);
//!   removed by its guard however the test ends.
//! - [`tracker`]: Debian's opentracker, and waiting for the seed's
//!   announce.
//!
//! This crate is test code: its helpers panic with a full description of
//! what went wrong, which is how a test reports failure.

// Failing loudly is this crate's job: its helpers run only inside tests.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod bencode;
pub mod clients;
pub mod data;
pub mod http;
pub mod leech;
pub mod live;
pub mod netns;
pub mod process;
pub mod prom;
pub mod rawpeer;
pub mod rtorrent;
pub mod seed;
pub mod tracker;

pub use clients::{
    lt_create, lt_info, lt_magnet, mktorrent, python, require_exe, require_libtorrent, seedcore,
    seedcore_bin, seedcore_create, seedcore_info, LtMode,
};
pub use data::{flip_byte, make_tree, pseudo_random_bytes, write_pseudo_random, Shape, TreeFile};
pub use leech::{assert_same_files, assert_verifies, Listener, LtJob, LtLeech, LtSource};
pub use live::Live;
pub use netns::NetNs;
pub use process::{Cmd, RunOutput};
pub use seed::{free_port, loopback, RunningSeed, Seed};
pub use tracker::{wait_announced, Opentracker};

/// A fresh temporary folder, removed when the returned guard drops.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("seedcore-test-")
        .tempdir()
        .expect("cannot create a temporary folder")
}

/// Reads a JSON value's string field, panicking with the whole value when
/// it is missing or not a string.
pub fn json_str<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("JSON has no string field {key:?}: {v}"))
}

/// Reads a JSON value's unsigned integer field, panicking when absent.
pub fn json_u64(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("JSON has no unsigned integer field {key:?}: {v}"))
}

/// A JSON field that is either a string or `null`, as `Option<String>`
/// (lower-cased, for hex info-hashes). Panics when absent or another type.
pub fn json_opt_hex(v: &serde_json::Value, key: &str) -> Option<String> {
    match v.get(key) {
        Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.to_ascii_lowercase()),
        _ => panic!("JSON field {key:?} should be a hex string or null: {v}"),
    }
}

/// True when `needle` appears in `text` as a whole decimal number (not as
/// part of a longer one): how tests check that a report names a piece index.
pub fn mentions_number(text: &str, needle: u64) -> bool {
    let want = needle.to_string();
    text.split(|c: char| !c.is_ascii_digit())
        .any(|tok| tok == want)
        || text
            // `3-7` style ranges: the number may sit inside a reported run.
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .filter_map(|tok| tok.split_once('-'))
            .filter_map(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
            .any(|(a, b)| (a..=b).contains(&needle))
}

/// The path each tree file has inside a torrent of the tree, as
/// `seedcore info --json` and libtorrent print it: the file name for a
/// single file, else `name/` + its path below the folder.
pub fn torrent_paths(name: &str, shape: Shape, files: &[TreeFile]) -> Vec<(String, u64)> {
    files
        .iter()
        .map(|f| match shape {
            Shape::SingleFile => (name.to_string(), f.len),
            _ => (format!("{name}/{}", f.rel), f.len),
        })
        .collect()
}

/// One file of a torrent as JSON describes it: `(path, length, pad)`.
pub type JsonFile = (String, u64, bool);

/// The `files` array of `seedcore info --json` (`path`/`length`/`pad`) or of
/// `lt_info.py` (`path`/`size`/`pad`) as tuples; pad files are dropped
/// unless `with_pads`.
pub fn json_files(v: &serde_json::Value, with_pads: bool) -> Vec<JsonFile> {
    let files = v
        .get("files")
        .and_then(serde_json::Value::as_array)
        .unwrap_or_else(|| panic!("JSON has no `files` array: {v}"));
    files
        .iter()
        .map(|f| {
            let len = f
                .get("length")
                .or_else(|| f.get("size"))
                .and_then(serde_json::Value::as_u64)
                .unwrap_or_else(|| panic!("file entry without a length: {f}"));
            let pad = f
                .get("pad")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or_else(|| panic!("file entry without a `pad` flag: {f}"));
            (json_str(f, "path").to_string(), len, pad)
        })
        .filter(|f| with_pads || !f.2)
        .collect()
}

/// The piece holding byte `offset` of the file at torrent path `path`,
/// from `seedcore info --json`: v1 and hybrid files follow each other (pad
/// files listed), pure v2 files each start on a piece boundary.
pub fn piece_at(info: &serde_json::Value, path: &str, offset: u64) -> u64 {
    let piece_length = json_u64(info, "piece_length");
    let v2_only = json_str(info, "version") == "v2";
    let mut start = 0u64;
    for (p, len, _) in json_files(info, true) {
        if p == path {
            assert!(offset < len, "{path} has no byte {offset}");
            return (start + offset) / piece_length;
        }
        start += if v2_only {
            len.div_ceil(piece_length) * piece_length
        } else {
            len
        };
    }
    panic!("torrent has no file {path}: {info}")
}

#[cfg(test)]
mod tests {
    use super::mentions_number;

    #[test]
    fn numbers_are_whole_tokens() {
        assert!(mentions_number("bad pieces: 7", 7));
        assert!(mentions_number("bad pieces: 1, 3-9", 5));
        assert!(!mentions_number("bad pieces: 17", 7));
        assert!(!mentions_number("hashed 70 MiB", 7));
        assert!(mentions_number("piece 0 bad", 0));
    }
}
