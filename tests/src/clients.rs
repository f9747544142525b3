//! The programs the tests drive: the built `seedcore` binary and the
//! reference clients (libtorrent through `/usr/bin/python3`, mktorrent).
//!
//! A reference client that is not installed fails the test with the Debian
//! package to install (`tests/run` installs them all). Skipping instead
//! would let a machine without clients report green while checking nothing.

use std::env;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::process::Cmd;

/// The Debian Python that has `import libtorrent` (python3-libtorrent).
/// Not `python3` from `PATH`: a pyenv or venv Python lacks the module.
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Path of the `seedcore` binary the tests run.
///
/// `SEEDCORE_BIN` wins when set. Otherwise the binary sits in the same
/// profile folder as this test executable (`target/<profile>/deps/<test>`
/// -> `target/<profile>/seedcore`), which also follows `CARGO_TARGET_DIR`
/// and `--release`; then `$CARGO_TARGET_DIR/debug`, then the workspace's
/// `target/debug`. Cargo does not build other packages' binaries for a
/// package's tests, so `cargo build -p seedcore` (or `tests/run`) must come
/// first; a missing binary fails with that instruction.
pub fn seedcore_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let name = format!("seedcore{}", env::consts::EXE_SUFFIX);
        let mut candidates = Vec::new();
        if let Some(p) = env::var_os("SEEDCORE_BIN") {
            candidates.push(PathBuf::from(p));
        }
        if let Ok(exe) = env::current_exe() {
            // target/<profile>/deps/<test-exe> -> target/<profile>
            if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
                candidates.push(profile_dir.join(&name));
            }
        }
        if let Some(t) = env::var_os("CARGO_TARGET_DIR") {
            candidates.push(PathBuf::from(t).join("debug").join(&name));
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        candidates.push(workspace.join("target").join("debug").join(&name));
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "the seedcore binary is not built (looked at {candidates:?}); \
                     run `cargo build -p seedcore` first (tests/run does), \
                     or point SEEDCORE_BIN at it"
                )
            })
    })
    .clone()
}

/// A [`Cmd`] running the built `seedcore` binary.
pub fn seedcore() -> Cmd {
    Cmd::new(seedcore_bin())
}

/// `seedcore info --json TORRENT`, checked for exit 0, parsed.
#[track_caller]
pub fn seedcore_info(torrent: &Path) -> serde_json::Value {
    seedcore()
        .arg("info")
        .arg(torrent)
        .arg("--json")
        .run()
        .expect_code(0)
        .json()
}

/// `seedcore create PATH -o OUT --no-date EXTRA...`, checked for exit 0;
/// returns `seedcore info --json` of the result.
#[track_caller]
pub fn seedcore_create(path: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    seedcore()
        .arg("create")
        .arg(path)
        .arg("-o")
        .arg(out)
        .arg("--no-date")
        .args(extra)
        .run()
        .expect_code(0);
    seedcore_info(out)
}

/// Path of the executable `name` on `PATH`. Panics, saying which Debian
/// package provides it, when it is missing: a missing client is a failure.
pub fn require_exe(name: &str, apt_package: &str) -> PathBuf {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `apt-get install {apt_package}` \
                 (tests/run installs every client the tests need)"
            )
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Panics with install instructions unless `/usr/bin/python3` can
/// `import libtorrent`. Checked once per test binary.
pub fn require_libtorrent() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let res = CHECK.get_or_init(|| {
        if !Path::new(SYSTEM_PYTHON).is_file() {
            return Err(format!("{SYSTEM_PYTHON} is missing"));
        }
        let out = Cmd::new(SYSTEM_PYTHON)
            .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
            .run();
        if out.code == Some(0) {
            Ok(())
        } else {
            Err(format!("`import libtorrent` failed:\n{out}"))
        }
    });
    if let Err(why) = res {
        panic!(
            "libtorrent's Python binding is not usable ({why}); \
             run `apt-get install python3-libtorrent` (tests/run does)"
        );
    }
}

/// A [`Cmd`] running `tests/py/<script>` with the system Python.
pub fn python(script: &str) -> Cmd {
    require_libtorrent();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("py")
        .join(script);
    assert!(path.is_file(), "no helper script {}", path.display());
    Cmd::new(SYSTEM_PYTHON).arg(path)
}

/// Torrent flavour for [`lt_create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LtMode {
    /// BEP 3 only.
    V1,
    /// BEP 52 only.
    V2,
    /// Both.
    Hybrid,
}

impl LtMode {
    /// All three, for loops.
    pub const ALL: [LtMode; 3] = [LtMode::V1, LtMode::V2, LtMode::Hybrid];

    /// The name `lt_create.py --mode` and `seedcore info` use.
    pub fn name(self) -> &'static str {
        match self {
            LtMode::V1 => "v1",
            LtMode::V2 => "v2",
            LtMode::Hybrid => "hybrid",
        }
    }

    /// The `seedcore create` flag for this mode.
    pub fn seedcore_flag(self) -> &'static str {
        match self {
            LtMode::V1 => "--v1",
            LtMode::V2 => "--v2",
            LtMode::Hybrid => "--hybrid",
        }
    }
}

/// Makes a torrent of `path` with libtorrent (`tests/py/lt_create.py`),
/// files in mktorrent's order; returns its JSON (`v1`, `v2`, `num_pieces`).
#[track_caller]
pub fn lt_create(mode: LtMode, piece_size: u32, out: &Path, path: &Path) -> serde_json::Value {
    python("lt_create.py")
        .args(["--mode", mode.name(), "--piece-size"])
        .arg(piece_size.to_string())
        .arg("--out")
        .arg(out)
        .arg(path)
        .run()
        .expect_code(0)
        .json()
}

/// What libtorrent reads from a torrent file (`tests/py/lt_info.py`).
#[track_caller]
pub fn lt_info(torrent: &Path) -> serde_json::Value {
    python("lt_info.py")
        .arg(torrent)
        .run()
        .expect_code(0)
        .json()
}

/// What libtorrent reads from a magnet URI (`tests/py/lt_magnet.py`).
#[track_caller]
pub fn lt_magnet(uri: &str) -> serde_json::Value {
    python("lt_magnet.py").arg(uri).run().expect_code(0).json()
}

/// Runs mktorrent on `path` with pieces of `2^piece_log2` bytes, writing
/// `out`, with `extra` flags (`-p`, `-s SRC`, `-a URL`, ...).
#[track_caller]
pub fn mktorrent(path: &Path, piece_log2: u32, out: &Path, extra: &[&str]) {
    let exe = require_exe("mktorrent", "mktorrent");
    Cmd::new(exe)
        .arg("-l")
        .arg(piece_log2.to_string())
        .arg("-o")
        .arg(out)
        .args(extra)
        .arg(path)
        .run()
        .expect_code(0);
}
