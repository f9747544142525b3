//! The live node against the real binary: the watch folder adds and
//! removes torrents while a libtorrent leecher of another torrent keeps
//! downloading on its one connection; a torrent acknowledged just before a
//! `kill -9` is served after the restart; SIGHUP reloads the blocklist
//! and the configuration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use seedcore_tests::*;

const WAIT: Duration = Duration::from_secs(60);

fn job(name: &str, torrent: &Path, save: &Path) -> LtJob {
    LtJob {
        name: name.into(),
        source: LtSource::Torrent(torrent.to_path_buf()),
        save: save.to_path_buf(),
    }
}

/// Sends a BitTorrent handshake for `hash` from the loopback address
/// `from` and returns how many bytes came back (`None`: closed unanswered).
fn handshake_from(from: &str, to: SocketAddr, hash: &[u8]) -> Option<usize> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(&from.parse::<SocketAddr>().unwrap().into()).unwrap();
    s.connect(&to.into()).unwrap();
    let mut stream: TcpStream = s.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(hash);
    hs.extend_from_slice(b"-XX0000-abcdefghijkl");
    let _ = stream.write_all(&hs);
    let mut buf = [0u8; 68];
    match stream.read(&mut buf) {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

#[test]
fn watch_folder_adds_and_removes_while_libtorrent_keeps_its_connection_to_another_torrent() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let torrents = dir.join("torrents");
    let watch = dir.join("watch");
    let state = dir.join("state");
    for d in [&torrents, &watch] {
        std::fs::create_dir_all(d).unwrap();
    }
    // 8 MiB at the node's 512 KiB/s: 16 s at least, while the small
    // torrent (1 MiB) comes and goes in a few.
    let big = data.join("big");
    write_pseudo_random(&big.join("big.bin"), 8 << 20, 7);
    let big_files = [TreeFile {
        rel: "big.bin".into(),
        len: 8 << 20,
    }];
    let (small, small_files) = make_tree(&data, "small", Shape::SingleFile, 8);
    let big_torrent = torrents.join("big.torrent");
    let small_torrent = torrents.join("small.torrent");
    let big_made = lt_create(LtMode::V1, 32_768, &big_torrent, &big);
    let small_made = lt_create(LtMode::V1, 16_384, &small_torrent, &small);

    // A node-wide upload limit makes the big download last long enough
    // for the small torrent to come and go meanwhile.
    let mut seed = Seed::new(&big_torrent)
        .data(&data)
        .arg("--watch")
        .arg(watch.to_str().unwrap())
        .arg("--watch-data")
        .arg(data.to_str().unwrap())
        .arg("--state-dir")
        .arg(state.to_str().unwrap())
        .config("upload_limit = \"512K\"")
        .start(dir);
    let mut big_leech = LtLeech::start(
        &[seed.addr()],
        &[job("big", &big_torrent, &dir.join("leech-big"))],
        Duration::from_secs(120),
    );

    // Dropped in: added, served to a second libtorrent leecher.
    std::fs::copy(&small_torrent, watch.join("small.torrent")).unwrap();
    seed.live().wait_until("the watch folder's add", WAIT, |l| {
        l.stderr().contains("small.torrent added")
    });
    let report = LtLeech::start(
        &[seed.addr()],
        &[job("small", &small_torrent, &dir.join("leech-small"))],
        Duration::from_secs(60),
    )
    .finish(&|| seed.to_string());
    assert_eq!(
        report["leechers"][0]["recheck_pieces"], small_made["num_pieces"],
        "{report}"
    );
    assert_same_files(&data, &dir.join("leech-small"), &small_files, false);
    let key = small_made["v1"].as_str().unwrap().to_string();
    assert!(state.join("torrents").join(format!("{key}.toml")).is_file());

    // A broken file is moved aside, with the reason beside it.
    std::fs::write(watch.join("broken.torrent"), b"d4:infoi3ee").unwrap();
    let failed = watch.join(".failed");
    seed.live()
        .wait_until("the broken file moved aside", WAIT, |_| {
            failed.join("broken.torrent.error").is_file()
        });
    assert!(failed.join("broken.torrent").is_file());
    assert!(!watch.join("broken.torrent").exists());
    let why = std::fs::read_to_string(failed.join("broken.torrent.error")).unwrap();
    assert!(why.contains("info"), "{why}");

    // Removed from the folder: removed from the node and its state folder.
    std::fs::remove_file(watch.join("small.torrent")).unwrap();
    seed.live()
        .wait_until("the watch folder's removal", WAIT, |l| {
            l.stderr().contains("small.torrent removed")
        });
    assert!(!state.join("torrents").join(format!("{key}.toml")).exists());
    let small_hash = hex_bytes(&key);
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while handshake_from("127.0.0.1:0", seed.addr(), &small_hash).is_some() {
        assert!(
            std::time::Instant::now() < end,
            "a removed torrent is not served\n{seed}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        big_leech.is_running(),
        "the big download should still be running while the small torrent came and went\n{seed}"
    );

    // The big torrent's leecher finished on the connection it started with.
    let report = big_leech.finish(&|| seed.to_string());
    let r = &report["leechers"][0];
    assert_eq!(r["recheck_pieces"], big_made["num_pieces"], "{report}");
    assert_eq!(
        r["connects"], 1,
        "libtorrent never had to reconnect\n{report}"
    );
    assert_same_files(&big, &dir.join("leech-big").join("big"), &big_files, false);
    seed.stop();
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_torrent_acknowledged_before_kill_9_is_served_after_the_restart() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let watch = dir.join("watch");
    let state = dir.join("state");
    std::fs::create_dir_all(&watch).unwrap();
    let (top, files) = make_tree(&data, "kept", Shape::Nested, 11);
    let torrent = dir.join("kept.torrent");
    let made = lt_create(LtMode::V1, 16_384, &torrent, &top);

    let mut seed = Seed::empty()
        .arg("--watch")
        .arg(watch.to_str().unwrap())
        .arg("--watch-data")
        .arg(data.to_str().unwrap())
        .arg("--state-dir")
        .arg(state.to_str().unwrap())
        .start(dir);
    std::fs::copy(&torrent, watch.join("kept.torrent")).unwrap();
    seed.live().wait_until("the add acknowledged", WAIT, |l| {
        l.stderr().contains("kept.torrent added")
    });
    // No clean stop: SIGKILL right after the acknowledgement.
    seed.live().kill();

    // The restart knows nothing of the watch folder: only the state folder
    // can bring the torrent back.
    let seed = Seed::empty()
        .arg("--state-dir")
        .arg(state.to_str().unwrap())
        .start(dir);
    let report = LtLeech::start(
        &[seed.addr()],
        &[job("kept", &torrent, &dir.join("leech"))],
        Duration::from_secs(60),
    )
    .finish(&|| seed.to_string());
    assert_eq!(
        report["leechers"][0]["recheck_pieces"], made["num_pieces"],
        "{report}"
    );
    assert_same_files(&top, &dir.join("leech").join("kept"), &files, false);
    seed.stop();
}

#[test]
fn sighup_reloads_the_blocklist_and_the_configuration() {
    let tmp = temp_dir();
    let dir = tmp.path();
    let data = dir.join("data");
    let (top, _) = make_tree(&data, "guarded", Shape::SingleFile, 12);
    let torrent = dir.join("guarded.torrent");
    let made = lt_create(LtMode::V1, 16_384, &torrent, &top);
    let hash = hex_bytes(made["v1"].as_str().unwrap());
    let list = dir.join("ipfilter.dat");
    std::fs::write(&list, "127.000.000.002 - 127.000.000.002 , 000 , test\n").unwrap();
    let mut seed = Seed::new(&torrent)
        .data(&data)
        .arg("--blocklist")
        .arg(list.to_str().unwrap())
        .start(dir);
    assert_eq!(
        handshake_from("127.0.0.2:0", seed.addr(), &hash),
        None,
        "blocked"
    );
    assert!(handshake_from("127.0.0.3:0", seed.addr(), &hash).is_some());

    // A new list and a new limit in the configuration file, then SIGHUP.
    std::fs::write(&list, "other:127.0.0.3-127.0.0.3\n").unwrap();
    let config = dir.join(format!("seedcore-{}.toml", seed.port()));
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("upload_limit = \"5M\"\nreqq = 100\n");
    std::fs::write(&config, text).unwrap();
    // The handlers are in place once the seed says where it listens.
    seed.live().wait_until("the start logged", WAIT, |l| {
        l.stderr().contains("listening on")
    });
    seed.live().signal(nix::sys::signal::Signal::SIGHUP);
    seed.live().wait_until("the reload", WAIT, |l| {
        let e = l.stderr();
        e.contains("upload_limit applied") && e.contains("reqq changed")
    });
    // Done once every shard has the new list in force.
    seed.live().wait_until("the reload done", WAIT, |l| {
        let e = l.stderr();
        e.contains("reload: done") && e.contains("blocklist (re-read)")
    });
    assert!(
        handshake_from("127.0.0.2:0", seed.addr(), &hash).is_some(),
        "allowed now"
    );
    assert_eq!(
        handshake_from("127.0.0.3:0", seed.addr(), &hash),
        None,
        "blocked now"
    );
    seed.assert_alive();
    seed.stop();
}
