//! `seedcore tune --sweep` end to end: a two-point sweep of a few MiB runs
//! the real seed under the real load generator, writes a file that
//! `seedcore seed --config` accepts, and leaves no process or temporary
//! folder behind; bad input exits 2 and a sweep where nothing works exits 1.
//!
//! Cargo builds only this package's binaries for its tests, so
//! `seedcore-bench` must be built first (`cargo build -p seedcore-bench`,
//! which `tests/run` does); it is looked for next to `seedcore`, or at
//! `SEEDCORE_BENCH_BIN`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SEEDCORE: &str = env!("CARGO_BIN_EXE_seedcore");

/// A hang guard only: a sweep stops at its budget (a few seconds here).
const HANG_GUARD: Duration = Duration::from_secs(90);

fn bench_bin() -> PathBuf {
    let p = std::env::var_os("SEEDCORE_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(SEEDCORE).with_file_name("seedcore-bench"));
    assert!(
        p.is_file(),
        "{} is not built: run `cargo build -p seedcore-bench` first (tests/run does), \
         or point SEEDCORE_BENCH_BIN at it",
        p.display()
    );
    p
}

/// `seedcore ARGS` with no `SEEDCORE_*` from the test's environment and
/// temporary folders under `tmp`, killed if it outlives [`HANG_GUARD`].
fn seedcore(args: &[&str], tmp: &Path) -> Output {
    let mut cmd = Command::new(SEEDCORE);
    cmd.args(args).env("TMPDIR", tmp);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SEEDCORE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > HANG_GUARD {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The pids the sweep reports starting (`... pid N ...` lines on stderr).
fn started_pids(stderr: &str) -> Vec<u32> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.split(" pid ").nth(1)?;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether `pid` is still a seedcore process (a reused pid running
/// something else does not count).
fn alive(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("seedcore"))
        .unwrap_or(false)
}

fn assert_clean(stderr: &str, tmp: &Path, expected: usize) {
    let pids = started_pids(stderr);
    assert_eq!(pids.len(), expected, "{stderr}");
    for pid in pids {
        assert!(!alive(pid), "pid {pid} is still running\n{stderr}");
    }
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seedcore-sweep-"))
        .collect();
    assert!(left.is_empty(), "work folders left behind: {left:?}");
}

fn make_data(dir: &Path) -> PathBuf {
    let out = Command::new(bench_bin())
        .args(["make-data", "--size", "4M", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    dir.join("data.bin.torrent")
}

#[test]
fn a_tiny_sweep_writes_a_config_the_seed_accepts_and_leaves_nothing_running() {
    let bench = bench_bin();
    let dir = tempfile::tempdir().unwrap();
    let torrent = make_data(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let tuned = dir.path().join("tuned.toml");
    let out = seedcore(
        &[
            "tune",
            "--sweep",
            "--torrent",
            torrent.to_str().unwrap(),
            "--shards",
            "1",
            "--reqq",
            "64,250",
            "--send-path",
            "writev",
            "--peers",
            "4",
            "--budget",
            "7s",
            "--out",
            tuned.to_str().unwrap(),
            "--bench-bin",
            bench.to_str().unwrap(),
        ],
        &tmp,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 points (shards 1 x reqq 64,250 x send_path writev)"),
        "{stdout}"
    );
    for row in [
        "  1/2       1      64  writev",
        "  2/2       1     250  writev",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row:?}\n{stdout}"));
        assert!(line.ends_with(" ok"), "{line}");
    }
    assert!(stdout.contains("best: shards = 1, reqq = "), "{stdout}");

    let file = std::fs::read_to_string(&tuned).unwrap();
    assert!(file.starts_with("# seedcore seed configuration chosen by `seedcore tune --sweep`\n"));
    assert!(file.contains("\nshards = 1\n"), "{file}");
    assert!(file.contains("\nsend_path = \"writev\"\n"), "{file}");
    assert!(
        file.contains("\nreqq = 64\n") || file.contains("\nreqq = 250\n"),
        "{file}"
    );
    assert!(
        file.contains("GB/s of payload to 4 loopback peers"),
        "{file}"
    );

    let printed = seedcore(
        &[
            "seed",
            "--config",
            tuned.to_str().unwrap(),
            "--print-config",
        ],
        &tmp,
    );
    assert_eq!(printed.status.code(), Some(0), "{}", text(&printed.stderr));
    let printed = text(&printed.stdout);
    assert!(printed.contains("shards = 1\n"), "{printed}");
    assert!(printed.contains("send_path = \"writev\"\n"), "{printed}");

    // Two seeds and two load generators, all stopped; work folder gone.
    assert_clean(&stderr, &tmp, 4);
}

#[test]
fn nothing_measured_exits_one_and_writes_nothing() {
    // A "load generator" that reports nothing: every point fails, but the
    // seeds are still started, probed and stopped.
    bench_bin();
    let dir = tempfile::tempdir().unwrap();
    let torrent = make_data(dir.path());
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let tuned = dir.path().join("tuned.toml");
    let out = seedcore(
        &[
            "tune",
            "--sweep",
            "--torrent",
            torrent.to_str().unwrap(),
            "--shards",
            "1,2",
            "--reqq",
            "250",
            "--send-path",
            "sendfile",
            "--budget",
            "6s",
            "--out",
            tuned.to_str().unwrap(),
            "--bench-bin",
            "/bin/true",
        ],
        &tmp,
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("failed: load generator exited"), "{stdout}");
    assert!(
        stderr.contains("no point of the sweep succeeded"),
        "{stderr}"
    );
    assert!(!tuned.exists());
    assert_clean(&stderr, &tmp, 4);
}

#[test]
fn bad_input_exits_two() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let some_file = SEEDCORE; // exists: passes the --bench-bin check
    for args in [
        &["tune", "--sweep", "--bench-bin", some_file][..],
        &[
            "tune",
            "--sweep",
            "--torrent",
            "/nonexistent.torrent",
            "--bench-bin",
            some_file,
        ],
        &["tune", "--sweep", "--data", "/", "--shards", "0"],
        &["tune", "--sweep", "--data", "/", "--reqq", "0"],
        &["tune", "--sweep", "--data", "/", "--send-path", "pigeon"],
        &["tune", "--sweep", "--data", "/", "--budget", "1s"],
        &[
            "tune",
            "--sweep",
            "--data",
            "/",
            "--bench-bin",
            "/nonexistent",
        ],
        &[
            "tune",
            "--sweep",
            "--data",
            "/",
            "--out",
            "/nonexistent/x.toml",
        ],
        &["tune", "--reqq", "250"],
        &["tune", "--shards", "1,2"],
    ] {
        let out = seedcore(args, tmp);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
