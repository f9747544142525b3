//! seedcore-utp against a real libtorrent 2.0 (python3-libtorrent) with
//! TCP disabled on its side, over loopback, driven by a small blocking
//! `std::net::UdpSocket` loop.
//!
//! - libtorrent leeches from us: our endpoint accepts its uTP connection
//!   and serves a torrent with seedcore's own `PeerSession`, block bodies
//!   queued by reference (`write_external`); libtorrent checks every piece
//!   as it arrives and re-checks them from disk. By .torrent and by
//!   magnet (the metadata travels over uTP too).
//! - We leech from libtorrent: our endpoint dials its uTP port and a tiny
//!   BitTorrent leecher requests every block and checks every piece's
//!   SHA-1 (libtorrent's LEDBAT sender against our receiver and SACKs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly; test data is generated from truncated PRNG output

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_protocol::metainfo::build::TorrentBuilder;
use seedcore_protocol::session::{
    PeerSession, SessionConfig, SessionEvent, Swarm, TorrentContext, TorrentId, Transmit,
};
use seedcore_protocol::wire::{
    decode, Decoded, Handshake, Limits, Message, Reserved, HANDSHAKE_LEN,
};
use seedcore_utp::{Config, ConnHandle, Endpoint, Event, Transmits};

const PIECE: u32 = 256 << 10;
const SIZE: usize = 4 << 20;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/py/lt_utp.py")
}

/// Random-looking test data and its torrent (v1, one file).
struct Fixture {
    dir: tempfile::TempDir,
    data: Arc<Vec<u8>>,
    torrent: PathBuf,
    meta: seedcore_protocol::metainfo::Metainfo,
    hashes: Vec<[u8; 20]>,
}

fn fixture(seed: u64) -> Fixture {
    let mut x = seed | 1;
    let data: Vec<u8> = (0..SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let hashes: Vec<[u8; 20]> = data
        .chunks(PIECE as usize)
        .map(seedcore_hash::sha1)
        .collect();
    let (bytes, meta) = TorrentBuilder::new("utp.bin", PIECE)
        .file(vec![], SIZE as u64)
        .v1_pieces(hashes.clone())
        .build_metainfo()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let torrent = dir.path().join("utp.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    Fixture {
        dir,
        data: Arc::new(data),
        torrent,
        meta,
        hashes,
    }
}

/// The python process, killed (by its PID) if the test ends early.
struct Py(Child);
impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_py(spec: serde_json::Value, dir: &Path) -> Py {
    let spec_path = dir.join(format!("spec-{}.json", spec["mode"].as_str().unwrap()));
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    let child = Command::new("/usr/bin/python3")
        .arg(script())
        .arg(&spec_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3-libtorrent is needed for the uTP interop tests (apt-get install python3-libtorrent)");
    Py(child)
}

/// A blocking UDP loop around an endpoint.
struct Driver {
    sock: UdpSocket,
    ep: Endpoint<Arc<Vec<u8>>>,
    out: Transmits<Arc<Vec<u8>>>,
    dgram: Vec<u8>,
    rx: Vec<u8>,
    sent: u64,
    received: u64,
}

impl Driver {
    fn new() -> Driver {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        Driver {
            sock,
            ep: Endpoint::new(Config::default(), Instant::now()).unwrap(),
            out: Transmits::new(),
            dgram: Vec::new(),
            rx: vec![0; 65536],
            sent: 0,
            received: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    /// Sends everything due, waits for datagrams (at most until the next
    /// deadline, and never more than 10 ms), handles them and the timers.
    fn turn(&mut self) {
        loop {
            self.out.clear();
            if self.ep.poll_transmit(Instant::now(), 64, &mut self.out) == 0 {
                break;
            }
            for i in 0..self.out.len() {
                self.out.assemble(i, &mut self.dgram, |ext, off, dst| {
                    let off = off as usize;
                    dst.copy_from_slice(&ext[off..off + dst.len()]);
                });
                let dest = self.out.datagrams()[i].dest;
                self.sock.send_to(&self.dgram, dest).unwrap();
                self.sent += 1;
            }
        }
        let now = Instant::now();
        let wait = self
            .ep
            .poll_timeout()
            .map_or(Duration::from_millis(10), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_micros(200), Duration::from_millis(10));
        self.sock.set_read_timeout(Some(wait)).unwrap();
        for k in 0..512 {
            if k == 1 {
                self.sock.set_nonblocking(true).unwrap();
            }
            match self.sock.recv_from(&mut self.rx) {
                Ok((n, from)) => {
                    self.received += 1;
                    self.ep.handle_datagram(Instant::now(), from, &self.rx[..n]);
                }
                Err(_) => break,
            }
        }
        self.sock.set_nonblocking(false).unwrap();
        self.ep.handle_timeout(Instant::now());
    }
}

struct One(TorrentContext);
impl Swarm for One {
    fn lookup(&self, h: &[u8; 20]) -> Option<TorrentId> {
        self.0.matches(h).then_some(TorrentId(0))
    }
    fn torrent(&self, _: TorrentId) -> Option<&TorrentContext> {
        Some(&self.0)
    }
    fn has_piece(&self, _: TorrentId, _: u32) -> bool {
        true
    }
    fn have_count(&self, _: TorrentId) -> u32 {
        self.0.piece_count()
    }
}

/// Serves `fx` with seedcore's PeerSession over uTP to a libtorrent
/// leecher given `source` (torrent or magnet); returns its report.
fn serve_libtorrent(fx: &Fixture, source: serde_json::Value) -> serde_json::Value {
    let mut d = Driver::new();
    let swarm = One(TorrentContext::from_metainfo(&fx.meta).unwrap());
    let cfg = Arc::new(SessionConfig::new(SessionConfig::peer_id_from([7; 12])));
    let save = fx.dir.path().join(format!("leech-{}", d.addr().port()));
    let mut spec = serde_json::json!({
        "mode": "leech",
        "timeout": 90,
        "save": save.to_str().unwrap(),
        "peers": [d.addr().to_string()],
    });
    for (k, v) in source.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let mut py = start_py(spec, fx.dir.path());
    let mut stdout = BufReader::new(py.0.stdout.take().unwrap());
    let mut sessions: HashMap<ConnHandle, (PeerSession, Vec<u8>)> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(100);
    let mut served_blocks = 0u64;
    while Instant::now() < deadline {
        d.turn();
        let now = Instant::now();
        while let Some(ev) = d.ep.poll_event() {
            if let Event::Incoming(h) = ev {
                let peer = d.ep.conn(h).unwrap().peer();
                sessions.insert(
                    h,
                    (
                        PeerSession::inbound(Arc::clone(&cfg), peer, now),
                        Vec::new(),
                    ),
                );
            }
        }
        let mut closed = Vec::new();
        for (&h, (s, pending)) in sessions.iter_mut() {
            let Some(c) = d.ep.conn_mut(h) else {
                closed.push(h);
                continue;
            };
            loop {
                let n = c.read(&mut buf);
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
            }
            if !pending.is_empty() {
                match s.handle_input(now, pending, &swarm) {
                    Ok(used) => {
                        pending.drain(..used);
                    }
                    Err(_) => c.close(),
                }
            }
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.handle_timeout(now);
            }
            while let Some(ev) = s.poll_event() {
                match ev {
                    SessionEvent::InterestChanged(true) => s.set_choked(now, false),
                    SessionEvent::Closed(_) => c.close(),
                    _ => {}
                }
            }
            while c.send_space() >= 64 << 10 {
                let Some(t) = s.poll_transmit(now, &swarm) else {
                    break;
                };
                let n = t.len();
                match t {
                    Transmit::Bytes(b) => assert_eq!(c.write(&b), b.len()),
                    Transmit::Block { header, block } => {
                        assert_eq!(c.write(&header), header.len());
                        assert!(c.write_external(
                            Arc::clone(&fx.data),
                            block.offset(),
                            block.length()
                        ));
                        served_blocks += 1;
                    }
                }
                s.on_sent(now, n);
            }
            if c.is_closed() || c.at_eof() {
                closed.push(h);
            }
        }
        for h in closed {
            sessions.remove(&h);
            d.ep.release(h);
        }
        if py.0.try_wait().unwrap().is_some() {
            break;
        }
    }
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    eprintln!(
        "served {served_blocks} blocks in {} datagrams out, {} in; endpoint {:?}",
        d.sent,
        d.received,
        d.ep.stats()
    );
    assert!(served_blocks >= (SIZE / (16 << 10)) as u64);
    report
}

fn check_leech_report(report: &serde_json::Value) {
    assert_eq!(report["ok"], true, "{report}");
    let l = &report["leechers"][0];
    assert_eq!(l["hash_failures"], 0, "{report}");
    assert_eq!(l["recheck_pieces"], l["num_pieces"], "{report}");
    assert!(!l["utp_peers"].as_array().unwrap().is_empty(), "{report}");
    assert!(l["tcp_peers"].as_array().unwrap().is_empty(), "{report}");
}

#[test]
fn libtorrent_leeches_from_us_over_utp() {
    let fx = fixture(11);
    let report = serve_libtorrent(
        &fx,
        serde_json::json!({ "torrent": fx.torrent.to_str().unwrap() }),
    );
    check_leech_report(&report);
}

#[test]
fn libtorrent_leeches_from_us_over_utp_by_magnet() {
    let fx = fixture(12);
    let magnet = format!(
        "magnet:?xt=urn:btih:{}",
        hex(&fx.meta.info_hashes.wire_hash())
    );
    let report = serve_libtorrent(&fx, serde_json::json!({ "magnet": magnet }));
    check_leech_report(&report);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn we_leech_from_a_utp_only_libtorrent_seed() {
    let fx = fixture(13);
    std::fs::write(fx.dir.path().join("utp.bin"), &*fx.data).unwrap();
    let mut py = start_py(
        serde_json::json!({
            "mode": "seed",
            "timeout": 90,
            "torrent": fx.torrent.to_str().unwrap(),
            "save": fx.dir.path().to_str().unwrap(),
        }),
        fx.dir.path(),
    );
    let mut stdout = BufReader::new(py.0.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port = serde_json::from_str::<serde_json::Value>(&line).unwrap()["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no port from the seed: {line:?}")) as u16;

    let mut d = Driver::new();
    let h =
        d.ep.connect(Instant::now(), SocketAddr::from(([127, 0, 0, 1], port)))
            .unwrap();
    let info_hash = fx.meta.info_hashes.wire_hash();
    let hs = Handshake::new(Reserved::EMPTY, info_hash, *b"-SC0000-utp-test-abc");
    assert_eq!(
        d.ep.conn_mut(h).unwrap().write(&hs.to_bytes()),
        HANDSHAKE_LEN
    );

    let pieces = fx.hashes.len() as u32;
    let limits = Limits::for_pieces(pieces);
    let mut inbuf: Vec<u8> = Vec::new();
    let mut got_handshake = false;
    let mut unchoked = false;
    let mut store = vec![0u8; SIZE];
    let mut have = vec![0u32; pieces as usize];
    let mut verified = 0u32;
    let mut next_block = 0u64;
    let mut outstanding = 0u32;
    let total_blocks = (SIZE as u64).div_ceil(16 << 10);
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = Instant::now();
    while verified < pieces {
        assert!(
            Instant::now() < deadline,
            "timed out with {verified}/{pieces} pieces"
        );
        d.turn();
        let Some(c) = d.ep.conn_mut(h) else {
            panic!("connection gone")
        };
        assert!(!c.is_closed(), "closed: {:?}", c.close_reason());
        let mut tmp = [0u8; 65536];
        loop {
            let n = c.read(&mut tmp);
            if n == 0 {
                break;
            }
            inbuf.extend_from_slice(&tmp[..n]);
        }
        if !got_handshake {
            if inbuf.len() < HANDSHAKE_LEN {
                continue;
            }
            let theirs = Handshake::decode(&inbuf[..HANDSHAKE_LEN]).unwrap().unwrap();
            assert_eq!(theirs.info_hash, info_hash);
            inbuf.drain(..HANDSHAKE_LEN);
            got_handshake = true;
            let mut m = Vec::new();
            Message::Interested.encode(&mut m).unwrap();
            c.write(&m);
        }
        let mut used = 0;
        let mut out = Vec::new();
        loop {
            match decode(&inbuf[used..], &limits).unwrap() {
                Decoded::NeedMore { .. } => break,
                Decoded::Message { msg, consumed } => {
                    used += consumed;
                    match msg {
                        Message::Unchoke => unchoked = true,
                        Message::Choke => unchoked = false,
                        Message::Piece { index, begin, data } => {
                            let at = index as usize * PIECE as usize + begin as usize;
                            store[at..at + data.len()].copy_from_slice(data);
                            outstanding -= 1;
                            have[index as usize] += data.len() as u32;
                            let len =
                                (SIZE - index as usize * PIECE as usize).min(PIECE as usize) as u32;
                            if have[index as usize] == len {
                                let p = &store[index as usize * PIECE as usize..][..len as usize];
                                assert_eq!(
                                    seedcore_hash::sha1(p),
                                    fx.hashes[index as usize],
                                    "piece {index}"
                                );
                                verified += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        inbuf.drain(..used);
        while unchoked && outstanding < 64 && next_block < total_blocks {
            let off = next_block * (16 << 10);
            let len = (SIZE as u64 - off).min(16 << 10) as u32;
            let req = seedcore_protocol::wire::BlockRequest {
                index: (off / u64::from(PIECE)) as u32,
                begin: (off % u64::from(PIECE)) as u32,
                length: len,
            };
            Message::Request(req).encode(&mut out).unwrap();
            next_block += 1;
            outstanding += 1;
        }
        if !out.is_empty() {
            assert_eq!(c.write(&out), out.len());
        }
    }
    let elapsed = started.elapsed();
    let c = d.ep.conn(h).unwrap();
    eprintln!(
        "downloaded {SIZE} bytes over uTP in {elapsed:?}: {:?}, endpoint {:?}",
        c.stats(),
        d.ep.stats()
    );
    assert_eq!(&store, &*fx.data);
    d.ep.conn_mut(h).unwrap().close();
    for _ in 0..50 {
        d.turn();
    }
    let _ = py.0.stdin.take().map(|mut s| s.write_all(b"\n"));
}
