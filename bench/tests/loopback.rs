//! Loopback runs of the load generator: against raw-seed (in-process and
//! as processes) and against hostile or absent targets, which must produce
//! counted errors and an on-time exit, never a hang.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use seedcore_bench::load::{self, LoadConfig, GRACE};
use seedcore_bench::rawseed::{RawSeed, RawSeedConfig};
use seedcore_bench::report::LoadReport;
use seedcore_bench::torrent::{make_data, Torrent};
use seedcore_protocol::wire::{Handshake, Message, Reserved};

const BIN: &str = env!("CARGO_BIN_EXE_seedcore-bench");

/// A 4 MiB torrent with 64 KiB pieces in `dir`.
fn small_torrent(dir: &Path) -> Arc<Torrent> {
    let p = make_data(dir, "data.bin", 4 << 20, 65536).unwrap();
    Arc::new(Torrent::load(&p).unwrap())
}

fn config(t: &Arc<Torrent>, target: SocketAddr, peers: usize, secs: f64) -> LoadConfig {
    let mut c = LoadConfig::new(Arc::clone(t), target, peers, Duration::from_secs_f64(secs));
    c.threads = 2;
    c.retry_delay = Duration::from_millis(100);
    c
}

/// Runs a load and checks that it came back within its time bound.
fn run_bounded(cfg: &LoadConfig) -> LoadReport {
    let t0 = Instant::now();
    let r = load::run(cfg).unwrap();
    assert!(
        t0.elapsed() < cfg.duration + GRACE,
        "load::run took {:?} for a {:?} run",
        t0.elapsed(),
        cfg.duration
    );
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    r
}

#[test]
fn load_against_raw_seed_verifies_every_piece() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_torrent(dir.path());
    let seed = RawSeed::bind(&RawSeedConfig {
        torrent: Arc::clone(&t),
        data: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
        max_time: Some(Duration::from_secs(30)),
        allow_remote: false,
    })
    .unwrap();
    let addr = seed.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let seed_thread = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || seed.run(stop))
    };

    let mut cfg = config(&t, addr, 4, 2.0);
    cfg.verify = true;
    cfg.depth.mode = seedcore_bench::load::DepthMode::Fixed(16);
    let r = run_bounded(&cfg);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seeded = seed_thread.join().unwrap();

    assert!(r.bytes.data > 0);
    assert!(r.counters.pieces_verified > 0);
    assert_eq!(r.counters.hash_failures, 0);
    assert_eq!(r.counters.pieces_verified, r.counters.pieces_completed);
    assert_eq!(r.peers_with_data, 4, "every peer got data");
    assert_eq!(r.counters.handshakes, 4);
    assert_eq!(r.errors.total(), 0, "{:?}", r.error_samples);
    let lat = r.latency_us.as_ref().unwrap();
    assert!(lat.p50 <= lat.p99 && lat.p99 <= lat.max);
    assert_eq!(
        lat.samples,
        r.counters.blocks - r.counters.unexpected_blocks
    );
    assert!(r.per_peer_mb_s.min > 0.0);
    assert!(r.loadgen.cpu_s_per_gib.is_some());
    // The seeder sent at least what the leechers counted.
    assert_eq!(seeded.stats.accepted, 4);
    assert!(seeded.stats.data_bytes >= r.bytes.data);
    assert_eq!(seeded.stats.protocol_errors, 0);
    assert!(seeded.failures.is_empty());
}

fn wait_bounded(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("process still running after {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn binaries_run_against_each_other_and_exit_on_time() {
    let dir = tempfile::tempdir().unwrap();
    small_torrent(dir.path());
    let torrent = dir.path().join("data.bin.torrent");
    let mut seed = Command::new(BIN)
        .args([
            "raw-seed",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--max-seconds",
            "60",
        ])
        .arg("--torrent")
        .arg(&torrent)
        .arg("--data")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(seed.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        line.starts_with("raw-seed listening on 127.0.0.1:"),
        "{line}"
    );

    let t0 = Instant::now();
    let load = Command::new(BIN)
        .args([
            "load",
            "--peers",
            "3",
            "--duration",
            "2.5",
            "--threads",
            "2",
            "--json",
            "--verify",
        ])
        .args([
            "--order",
            "sequential",
            "--ramp",
            "0.5",
            "--churn",
            "50",
            "--retry-delay",
            "0.1",
        ])
        .arg("--pid")
        .arg(seed.id().to_string())
        .arg("--torrent")
        .arg(&torrent)
        .arg("--target")
        .arg(&addr)
        .output()
        .unwrap();
    let took = t0.elapsed();
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );
    // Its own bound is duration + GRACE; allow for process start-up.
    let bound = Duration::from_secs_f64(2.5) + GRACE + Duration::from_secs(3);
    assert!(took < bound, "load took {took:?}");
    let j: serde_json::Value = serde_json::from_slice(&load.stdout).unwrap();
    assert!(j["bytes"]["data"].as_u64().unwrap() > 0);
    assert_eq!(j["counters"]["hash_failures"], 0);
    assert_eq!(j["peers_with_data"], 3);
    assert!(j["counters"]["churned"].as_u64().unwrap() >= 1, "{j}");
    assert_eq!(j["order"], "sequential");
    assert!(j["latency_us"]["p99"].as_u64().is_some());
    let target = &j["target_process"];
    assert!(target["cpu"]["cpu_s"].as_f64().unwrap() >= 0.0);
    assert!(target["memory"]["peak_rss_kib"].as_u64().unwrap() > 0);

    // SIGTERM stops the seeder, which prints its summary and exits 0.
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(seed.id().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    let status = wait_bounded(&mut seed, Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("3 connections") || rest.contains("connections"),
        "{rest}"
    );
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    small_torrent(dir.path());
    let torrent = dir.path().join("data.bin.torrent");
    let out = Command::new(BIN)
        .args(["load", "--target", "192.0.2.1:6881", "--duration", "1"])
        .arg("--torrent")
        .arg(&torrent)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-remote"));
    let out = Command::new(BIN)
        .args([
            "load",
            "--target",
            "127.0.0.1:1",
            "--torrent",
            "/nonexistent.torrent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn closed_port_counts_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let t = small_torrent(dir.path());
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let r = run_bounded(&config(&t, addr, 2, 1.0));
    assert!(r.errors.connect_refused >= 2, "{:?}", r.errors);
    assert_eq!(r.bytes.data, 0);
    assert_eq!(r.peers_with_data, 0);
    assert!(r.latency_us.is_none());
}

/// A server that handles every connection with `f` on its own thread.
fn hostile(f: fn(TcpStream, [u8; 20])) -> impl Fn(&Arc<Torrent>) -> SocketAddr {
    move |t: &Arc<Torrent>| {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let hash = t.info_hash;
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                thread::spawn(move || f(s, hash));
            }
        });
        addr
    }
}

fn read_handshake(s: &mut TcpStream) {
    let mut b = [0u8; 68];
    let _ = s.read_exact(&mut b);
}

fn handshake(hash: [u8; 20]) -> [u8; 68] {
    let mut r = Reserved::EMPTY;
    r.set_fast(true);
    Handshake::new(r, hash, *b"-XX0001-hostile00000").to_bytes()
}

fn run_against(f: fn(TcpStream, [u8; 20])) -> LoadReport {
    let dir = tempfile::tempdir().unwrap();
    let t = small_torrent(dir.path());
    let addr = hostile(f)(&t);
    let mut cfg = config(&t, addr, 2, 1.0);
    cfg.handshake_timeout = Duration::from_millis(300);
    run_bounded(&cfg)
}

#[test]
fn http_server_is_a_handshake_failure() {
    let r = run_against(|mut s, _| {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    assert!(r.errors.handshake_failed >= 2, "{:?}", r.errors);
    assert_eq!(r.counters.handshakes, 0);
}

#[test]
fn foreign_torrent_is_a_handshake_failure() {
    let r = run_against(|mut s, hash| {
        read_handshake(&mut s);
        let mut other = hash;
        other[0] ^= 0xFF;
        let _ = s.write_all(&handshake(other));
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    assert!(r.errors.handshake_failed >= 2, "{:?}", r.errors);
    assert!(r.error_samples["handshake_failed"].contains("info-hash"));
}

#[test]
fn silent_server_times_out_in_the_handshake() {
    let r = run_against(|mut s, _| {
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    assert!(r.errors.handshake_failed >= 2, "{:?}", r.errors);
    assert!(r.error_samples["handshake_failed"].contains("no handshake"));
}

#[test]
fn oversized_message_is_a_protocol_error() {
    let r = run_against(|mut s, hash| {
        read_handshake(&mut s);
        let _ = s.write_all(&handshake(hash));
        let _ = s.write_all(&[0x7F, 0, 0, 0, 7, 0, 0, 0, 0]);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    });
    assert!(r.errors.protocol_error >= 2, "{:?}", r.errors);
    assert_eq!(r.counters.handshakes, r.errors.protocol_error);
}

#[test]
fn seeder_hanging_up_is_closed_by_peer() {
    let r = run_against(|mut s, hash| {
        read_handshake(&mut s);
        let _ = s.write_all(&handshake(hash));
        let _ = s.write_all(&Message::HaveAll.to_vec().unwrap());
        let _ = s.write_all(&Message::Unchoke.to_vec().unwrap());
        // Read the first request, then hang up without answering.
        let mut b = [0u8; 64];
        let _ = s.read(&mut b);
    });
    assert!(r.errors.closed_by_peer >= 2, "{:?}", r.errors);
    assert_eq!(r.bytes.data, 0);
}
