//! Process-level behaviour: SIGTERM ends a seed cleanly with exit status 0
//! (the seed runs in a child process: this test binary started again with
//! one test selected), and `--peer` dials reach a peer that starts late.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::leecher::{download_and_check, Leecher};
use seedcore_runtime::Seeder;

const CHILD_ENV: &str = "SEEDCORE_TEST_CHILD_SEED";

/// Not a test on its own: the body of the child process of
/// `sigterm_stops_the_seed_with_status_0` (does nothing otherwise).
#[test]
fn child_seed() {
    let Ok(folder) = std::env::var(CHILD_ENV) else {
        return;
    };
    let folder = std::path::PathBuf::from(folder);
    let seeder = Seeder::start(common::config(&[&folder], 2)).unwrap();
    seeder.stop_on_signals().unwrap();
    println!("SEEDCORE-PORT {}", seeder.port());
    seeder.wait();
    println!("SEEDCORE-STOPPED");
}

#[test]
fn sigterm_stops_the_seed_with_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "p", &[("x.bin", 200_000)]);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_seed", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &folder)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = loop {
        let line = lines.next().expect("child output").unwrap();
        // The harness prints "test child_seed ... " before the test's output.
        if let Some((_, p)) = line.split_once("SEEDCORE-PORT ") {
            break p.trim().parse().unwrap();
        }
    };
    let torrent = dir.path().join("p.torrent");
    let meta = seedcore_protocol::metainfo::Metainfo::from_bytes(&std::fs::read(&torrent).unwrap())
        .unwrap();
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let mut l = Leecher::connect(addr, meta.info_hashes.wire_hash(), true).unwrap();
    l.interested().unwrap();
    download_and_check(&mut l, &meta, &[0]).unwrap();

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let end = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("the seed did not stop after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "clean exit");
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("SEEDCORE-STOPPED"))));
    // Its peer was closed.
    assert!(l.next(|_| ()).is_err());
}

#[test]
fn a_peer_that_starts_late_is_dialled_until_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "late", &[("x.bin", 150_000)]);
    // Hold the port without listening: dials are refused until we listen.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    let peer = sock.local_addr().unwrap().as_socket().unwrap();
    let mut cfg = common::config(&[&folder], 2);
    cfg.peers = vec![peer.to_string()];
    let seeder = Seeder::start(cfg).unwrap();
    let meta = common::meta_of(&seeder, 0);
    // Let the first dial fail.
    std::thread::sleep(Duration::from_millis(300));
    sock.listen(8).unwrap();
    let listener: std::net::TcpListener = sock.into();
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + Duration::from_secs(15);
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < end, "the seed never dialled");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    let mut l = Leecher::handshake(stream, meta.info_hashes.wire_hash(), true).unwrap();
    l.interested().unwrap();
    download_and_check(
        &mut l,
        &meta,
        &(0..meta.info.piece_count).collect::<Vec<_>>(),
    )
    .unwrap();

    // Dropped: the seed dials again.
    drop(l);
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        match listener.accept() {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < end, "no second dial after the drop");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
    seeder.shutdown();
}
