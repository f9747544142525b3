//! Start-up that cannot hang or be stopped by one bad entry: the real
//! `seedcore` binary given FIFOs, devices and sockets where files should
//! be, malformed and unreadable torrents among good ones, and signals
//! before it has finished starting.
//!
//! Each of these hung or killed the process before (a FIFO blocked `open`
//! forever, `info /dev/zero` read until memory ran out, one bad torrent
//! made `seed` exit 2, SIGHUP and an early SIGTERM killed it by signal):
//! every command here runs under a deadline, so a regression fails the
//! test with the command's output instead of hanging CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use seedcore_tests::bencode::Value;
use seedcore_tests::*;

/// Generous for a debug build on a loaded machine, short next to "forever".
const DEADLINE: Duration = Duration::from_secs(60);

fn mkfifo(path: &Path) {
    let out = Cmd::new("mkfifo").arg(path).run();
    out.expect_code(0);
}

/// A single-file v1 torrent for `len` bytes of the file `name` whose piece
/// hashes are all wrong: verifying it still reads and hashes every byte,
/// which is all a test of a long verification needs, and writing it costs
/// nothing (a debug build hashes a few tens of MB/s).
fn unhashed_torrent(path: &Path, name: &str, len: u64, piece: u64) {
    let pieces = len.div_ceil(piece);
    let info = Value::dict([
        ("length", Value::Int(i64::try_from(len).unwrap())),
        ("name", Value::str(name)),
        ("piece length", Value::Int(i64::try_from(piece).unwrap())),
        (
            "pieces",
            Value::Bytes(vec![0xAB; usize::try_from(pieces * 20).unwrap()]),
        ),
    ]);
    std::fs::write(path, Value::dict([("info", info)]).encode()).unwrap();
}

#[test]
fn info_and_verify_refuse_fifos_and_devices_at_once() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, _) = make_tree(&data, "two", Shape::Flat, 7);
    let torrent = dir.join("two.torrent");
    seedcore_create(&top, &torrent, &["--piece-size", "16384"]);

    // `info /dev/zero` read until memory ran out.
    let out = seedcore()
        .args(["info", "/dev/zero"])
        .timeout(DEADLINE)
        .run();
    out.expect_code(2).expect_no_panic();
    assert!(
        out.stderr.contains("/dev/zero is a character device"),
        "{out}"
    );
    // A FIFO as the .torrent blocked in open().
    let fifo_torrent = dir.join("fifo.torrent");
    mkfifo(&fifo_torrent);
    for cmd in ["info", "magnet"] {
        let out = seedcore()
            .arg(cmd)
            .arg(&fifo_torrent)
            .timeout(DEADLINE)
            .run();
        out.expect_code(2).expect_no_panic();
        assert!(out.stderr.contains("is a FIFO (named pipe)"), "{out}");
    }

    // A FIFO where a data file should be: verify reports that file, and
    // the other files' pieces are still checked.
    let victim = std::fs::read_dir(&top)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() && p.metadata().unwrap().len() > 0)
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    mkfifo(&victim);
    let resume_fifo = dir.join("resume-fifo");
    mkfifo(&resume_fifo);
    let out = seedcore()
        .arg("verify")
        .arg(&torrent)
        .arg(&data)
        .arg("--resume")
        .arg(&resume_fifo)
        .arg("-q")
        .timeout(DEADLINE)
        .run();
    out.expect_code(1).expect_no_panic();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(&name) && l.contains("a FIFO (named pipe), not a regular file")),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("resume-fifo is a FIFO (named pipe), not a regular file"),
        "{out}"
    );
}

#[test]
fn seed_starts_past_fifos_in_data_resume_and_dht_state_and_refuses_a_fifo_config() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, _) = make_tree(&data, "two", Shape::Flat, 8);
    let torrent = dir.join("two.torrent");
    let info = seedcore_create(&top, &torrent, &["--piece-size", "16384"]);
    let hash = json_str(&info, "info_hash_v1").to_string();
    let victim = std::fs::read_dir(&top)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_file() && p.metadata().unwrap().len() > 0)
        .unwrap();
    std::fs::remove_file(&victim).unwrap();
    mkfifo(&victim);
    let resume = dir.join("resume");
    std::fs::create_dir_all(&resume).unwrap();
    mkfifo(&resume.join(format!("{hash}.resume")));
    mkfifo(&resume.join("dht.state"));

    // Seed::start fails the test unless the seed accepts connections.
    let seed = Seed::new(&torrent)
        .data(&data)
        .config(&format!("resume_dir = \"{}\"", resume.display()))
        .dht(&[])
        .start(dir);
    let err = seed.stop();
    assert!(
        err.contains("is unreadable: a FIFO (named pipe), not a regular file"),
        "{err}"
    );
    assert!(err.contains(".resume is a FIFO"), "{err}");
    assert!(err.contains("dht.state is a FIFO"), "{err}");

    let config = dir.join("fifo.toml");
    mkfifo(&config);
    let out = seedcore()
        .arg("seed")
        .arg(&torrent)
        .arg("--config")
        .arg(&config)
        .timeout(DEADLINE)
        .run();
    out.expect_code(2).expect_no_panic();
    assert!(out.stderr.contains("fifo.toml is a FIFO"), "{out}");
}

#[test]
fn bad_torrents_are_skipped_and_the_good_one_is_served_to_libtorrent() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, files) = make_tree(&data, "good", Shape::Nested, 9);
    let good = dir.join("good.torrent");
    let made = lt_create(LtMode::V1, 32_768, &good, &top);
    let garbage = dir.join("garbage.torrent");
    std::fs::write(&garbage, b"d4:infoi3ee this is not a torrent").unwrap();
    let fifo = dir.join("fifo.torrent");
    mkfifo(&fifo);
    let missing = dir.join("missing.torrent");
    // A good torrent whose data folder does not exist.
    let (other, _) = make_tree(&dir.join("elsewhere"), "other", Shape::Flat, 10);
    let no_data = dir.join("no-data.torrent");
    seedcore_create(&other, &no_data, &["--piece-size", "16384"]);

    let seed = Seed::new(&good)
        .data(&data)
        .path(&garbage)
        .path(&fifo)
        .path(&missing)
        .config("[[torrent]]")
        .config(&format!("path = \"{}\"", no_data.display()))
        .config(&format!("data = \"{}\"", dir.join("nowhere").display()))
        .start(dir);
    let save = dir.join("leech");
    let report = LtLeech::start(
        &[seed.addr()],
        &[LtJob {
            name: "lt".into(),
            source: LtSource::Torrent(good.clone()),
            save: save.clone(),
        }],
        Duration::from_secs(45),
    )
    .finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["num_pieces"], made["num_pieces"], "{report}");
    assert_eq!(r["hash_failures"], 0, "{report}");
    assert_same_files(&top, &save.join("good"), &files, false);
    let err = seed.stop();
    for (path, why) in [
        (&garbage, "invalid torrent"),
        (&fifo, "is a FIFO (named pipe)"),
        (&missing, "No such file"),
        (&no_data, "does not exist or is not a folder"),
    ] {
        let line = format!("not seeding {}: ", path.display());
        assert!(
            err.lines().any(|l| l.contains(&line) && l.contains(why)),
            "no error line for {} ({why})\n{err}",
            path.display()
        );
    }
    assert!(err.contains("seeding 1 of 5 torrents"), "{err}");

    // Nothing loadable: exit 2, saying so. One bad entry with --strict:
    // exit 2 naming it.
    let run = |extra: &[&Path], strict: bool| {
        let mut cmd = seedcore()
            .arg("seed")
            .args(extra)
            .args(["--no-dht", "--port", "0", "--bind", "127.0.0.1"])
            .timeout(DEADLINE);
        if strict {
            cmd = cmd.arg("--strict");
        }
        cmd.run()
    };
    let out = run(&[&garbage, &fifo, &missing], false);
    out.expect_code(2).expect_no_panic();
    assert!(out.stderr.contains("none of the 3 torrents"), "{out}");
    let out = run(&[&good, &garbage], true);
    out.expect_code(2).expect_no_panic();
    assert!(
        out.stderr.contains("garbage.torrent") && out.stderr.contains("strict"),
        "{out}"
    );
}

/// `seedcore seed` of a 4 GiB sparse file with wrong hashes on one
/// verification thread: at any build's hashing speed that is seconds of
/// work, and a debug build's minutes, so a signal sent once it logs
/// "verifying" arrives while it verifies.
fn seed_verifying(dir: &Path) -> (Live, std::path::PathBuf) {
    let data = dir.join("big");
    std::fs::create_dir_all(&data).unwrap();
    let len = 4u64 << 30;
    std::fs::File::create(data.join("zeros.bin"))
        .unwrap()
        .set_len(len)
        .unwrap();
    let torrent = dir.join("big.torrent");
    unhashed_torrent(&torrent, "zeros.bin", len, 1 << 20);
    let resume = dir.join("resume");
    let mut cmd = Command::new(seedcore_bin());
    cmd.arg("seed")
        .arg(&torrent)
        .arg("--data")
        .arg(&data)
        .arg("--resume-dir")
        .arg(&resume)
        .args(["--verify-threads", "1", "--no-dht", "--port", "0"])
        .args(["--bind", "127.0.0.1"])
        .env("RUST_LOG", "info");
    let mut live = Live::spawn("seedcore seed (big)", &mut cmd);
    live.wait_until("verification started", DEADLINE, |l| {
        l.stderr().contains("zeros.bin: verifying")
    });
    (live, resume)
}

#[test]
fn sigterm_during_verification_stops_cleanly_without_a_resume_file() {
    let tmp = temp_dir();
    let (mut live, resume) = seed_verifying(tmp.path());
    live.signal(Signal::SIGTERM);
    let status = live.wait_exit(DEADLINE);
    let err = live.stderr();
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGTERM during verification should end the seed with exit 0, not by the signal: {status:?}\n{live}"
    );
    assert!(err.contains("stopped during start-up"), "{live}");
    assert!(
        !err.contains("verified"),
        "the verification was cut short, not finished\n{live}"
    );
    let written: Vec<_> = std::fs::read_dir(&resume)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        written.is_empty(),
        "nothing is written for an unfinished check: {written:?}"
    );
}

#[test]
fn sighup_is_caught_during_start_up_and_while_serving() {
    let tmp = temp_dir();
    // During start-up: SIGHUP (delivered first: the lower signal number)
    // must not end the process; the SIGTERM after it stops it cleanly.
    let (mut live, _) = seed_verifying(tmp.path());
    live.signal(Signal::SIGHUP);
    live.signal(Signal::SIGTERM);
    let status = live.wait_exit(DEADLINE);
    assert!(
        status.is_some_and(|s| s.success()),
        "SIGHUP then SIGTERM during start-up: exit 0 expected, got {status:?}\n{live}"
    );
    assert!(live.stderr().contains("stopped during start-up"), "{live}");

    // While serving: SIGHUP is a reload request, logged; the seed serves on.
    let dir = tmp.path();
    let (top, _) = make_tree(&dir.join("data"), "small", Shape::Flat, 11);
    let mut seed = Seed::new(&top).start(dir);
    seed.live().signal(Signal::SIGHUP);
    seed.live().wait_until("reload logged", DEADLINE, |l| {
        l.stderr().contains("reload requested")
    });
    seed.assert_alive();
    seed.stop();
}
