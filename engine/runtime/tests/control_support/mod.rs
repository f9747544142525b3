//! Loopback stand-ins for the control core's counterparts: an HTTP tracker,
//! a UDP tracker (BEP 15), peers that wait to be dialled, a DHT node
//! (`seedcore_dht` on its own thread), and black holes (a TCP listener
//! that accepts and never answers, a UDP socket that never answers).
//!
//! Every one records what it saw and answers from a script, so the tests
//! check the seed's side of each exchange byte by byte.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seedcore_protocol::wire::Handshake;

/// Compact form of IPv4 peers (BEP 23).
pub fn compact(peers: &[SocketAddr]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in peers {
        if let SocketAddr::V4(a) = p {
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
    }
    out
}

/// Polls `f` until it holds (bounded).
pub fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `info_hash` values of a request's query, percent-decoded.
pub fn query_hashes(path: &str) -> Vec<Vec<u8>> {
    let query = path.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("info_hash="))
        .map(|v| {
            let b = v.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            out
        })
        .collect()
}

/// Counts the scripted HTTP tracker's scrapes report for every hash.
pub const HTTP_SCRAPE: (u32, u32, u32) = (11, 22, 33); // complete, downloaded, incomplete
/// Counts the scripted UDP tracker's scrapes report for every hash.
pub const UDP_SCRAPE: (u32, u32, u32) = (44, 55, 66); // seeders, completed, leechers

/// An HTTP tracker answering every announce with `peers` (compact), every
/// `/scrape` with [`HTTP_SCRAPE`] for each hash asked about, and recording
/// each request's path and query.
pub struct HttpTracker {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpTracker {
    pub fn start(peers: Vec<SocketAddr>) -> HttpTracker {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, st) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut body = b"d8:intervali1800e12:min intervali60e5:peers".to_vec();
            let c = compact(&peers);
            body.extend_from_slice(format!("{}:", c.len()).as_bytes());
            body.extend_from_slice(&c);
            body.push(b'e');
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req).into_owned();
                let line = text.lines().next().unwrap_or_default().to_string();
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                let scrape_body;
                let body = if path.starts_with("/scrape") {
                    let (c, d, i) = HTTP_SCRAPE;
                    let mut b = b"d5:filesd".to_vec();
                    for h in query_hashes(&path) {
                        b.extend_from_slice(format!("{}:", h.len()).as_bytes());
                        b.extend_from_slice(&h);
                        b.extend_from_slice(
                            format!("d8:completei{c}e10:downloadedi{d}e10:incompletei{i}ee")
                                .as_bytes(),
                        );
                    }
                    b.extend_from_slice(b"ee");
                    scrape_body = b;
                    &scrape_body
                } else {
                    &body
                };
                r.lock().unwrap().push(path);
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(body);
            }
        });
        HttpTracker {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpTracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One announce a UDP tracker received.
#[derive(Clone, Debug)]
pub struct UdpAnnounce {
    pub info_hash: [u8; 20],
    pub peer_id: [u8; 20],
    pub left: u64,
    pub event: u32,
    pub port: u16,
}

/// A BEP 15 tracker answering connects, announces (with `peers`) and
/// scrapes (with [`UDP_SCRAPE`]).
pub struct UdpTracker {
    pub addr: SocketAddr,
    pub announces: Arc<Mutex<Vec<UdpAnnounce>>>,
    /// The hashes of each scrape request.
    pub scrapes: Arc<Mutex<Vec<Vec<[u8; 20]>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpTracker {
    pub fn start(peers: Vec<SocketAddr>) -> UdpTracker {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let addr = s.local_addr().unwrap();
        let announces = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let scrapes = Arc::new(Mutex::new(Vec::new()));
        let (a, st, sc) = (
            Arc::clone(&announces),
            Arc::clone(&stop),
            Arc::clone(&scrapes),
        );
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let conn_id = 0x1122_3344_5566_7788u64;
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = s.recv_from(&mut buf) else {
                    continue;
                };
                let p = &buf[..n];
                if n < 16 {
                    continue;
                }
                let action = u32::from_be_bytes(p[8..12].try_into().unwrap());
                let tid = &p[12..16];
                match action {
                    0 => {
                        let mut out = 0u32.to_be_bytes().to_vec();
                        out.extend_from_slice(tid);
                        out.extend_from_slice(&conn_id.to_be_bytes());
                        s.send_to(&out, from).unwrap();
                    }
                    1 if n >= 98 => {
                        assert_eq!(u64::from_be_bytes(p[0..8].try_into().unwrap()), conn_id);
                        a.lock().unwrap().push(UdpAnnounce {
                            info_hash: p[16..36].try_into().unwrap(),
                            peer_id: p[36..56].try_into().unwrap(),
                            left: u64::from_be_bytes(p[64..72].try_into().unwrap()),
                            event: u32::from_be_bytes(p[80..84].try_into().unwrap()),
                            port: u16::from_be_bytes(p[96..98].try_into().unwrap()),
                        });
                        let mut out = 1u32.to_be_bytes().to_vec();
                        out.extend_from_slice(tid);
                        out.extend_from_slice(&1800u32.to_be_bytes());
                        out.extend_from_slice(&1u32.to_be_bytes());
                        out.extend_from_slice(&1u32.to_be_bytes());
                        out.extend_from_slice(&compact(&peers));
                        s.send_to(&out, from).unwrap();
                    }
                    2 => {
                        assert_eq!(u64::from_be_bytes(p[0..8].try_into().unwrap()), conn_id);
                        let hashes: Vec<[u8; 20]> = p[16..]
                            .chunks_exact(20)
                            .map(|h| h.try_into().unwrap())
                            .collect();
                        let mut out = 2u32.to_be_bytes().to_vec();
                        out.extend_from_slice(tid);
                        let (se, co, le) = UDP_SCRAPE;
                        for _ in &hashes {
                            for v in [se, co, le] {
                                out.extend_from_slice(&v.to_be_bytes());
                            }
                        }
                        sc.lock().unwrap().push(hashes);
                        s.send_to(&out, from).unwrap();
                    }
                    _ => {}
                }
            }
        });
        UdpTracker {
            addr,
            announces,
            scrapes,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("udp://{}/announce", self.addr)
    }

    pub fn announces(&self) -> Vec<UdpAnnounce> {
        self.announces.lock().unwrap().clone()
    }

    pub fn scrapes(&self) -> Vec<Vec<[u8; 20]>> {
        self.scrapes.lock().unwrap().clone()
    }
}

impl Drop for UdpTracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A peer waiting to be dialled: records the handshake of every
/// connection it accepts (and keeps the connections open).
pub struct Dialled {
    pub addr: SocketAddr,
    pub handshakes: Arc<Mutex<Vec<Handshake>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Dialled {
    pub fn start() -> Dialled {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (Arc::clone(&handshakes), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::Relaxed) {
                let Ok((mut s, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_ok() {
                    if let Ok(Some(parsed)) = Handshake::decode(&hs) {
                        h.lock().unwrap().push(parsed);
                    }
                }
                held.push(s);
            }
        });
        Dialled {
            addr,
            handshakes,
            stop,
            thread: Some(thread),
        }
    }

    pub fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes.lock().unwrap().clone()
    }
}

impl Drop for Dialled {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A TCP listener that accepts and never answers (a hung HTTP tracker).
pub struct TcpBlackHole {
    pub addr: SocketAddr,
    pub accepted: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpBlackHole {
    pub fn start() -> TcpBlackHole {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, st) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((s, _)) => {
                        *a.lock().unwrap() += 1;
                        held.push(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        TcpBlackHole {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    pub fn accepted(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for TcpBlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends datagrams at `target` from several sockets until stopped: junk,
/// truncated bencode, and well-formed `ping`/`get_peers` queries (which
/// the node's rate limit must absorb). Counts what it sent.
pub struct Flood {
    pub sent: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Flood {
    pub fn start(target: SocketAddr) -> Flood {
        let sent = Arc::new(Mutex::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, st) = (Arc::clone(&sent), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let sockets: Vec<UdpSocket> = (0..8)
                .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
                .collect();
            let mut x = 0x9E37_79B9_7F4A_7C15u64;
            let mut n = 0u64;
            while !st.load(Ordering::Relaxed) {
                for (i, s) in sockets.iter().enumerate() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let pkt: Vec<u8> = match (n + i as u64) % 4 {
                        0 => x.to_le_bytes().repeat(16),
                        1 => b"d1:ad2:id20:".to_vec(),
                        2 => format!(
                            "d1:ad2:id20:{:020}e1:q4:ping1:t2:{:02}1:y1:qe",
                            x % 100_000,
                            n % 100
                        )
                        .into_bytes(),
                        _ => format!(
                            "d1:ad2:id20:{:020}9:info_hash20:{:020}e1:q9:get_peers1:t2:{:02}1:y1:qe",
                            x % 100_000,
                            x % 7,
                            n % 100
                        )
                        .into_bytes(),
                    };
                    let _ = s.send_to(&pkt, target);
                    n += 1;
                }
                // Drain answers so the sockets' buffers never fill.
                let mut buf = [0u8; 2048];
                for s in &sockets {
                    s.set_nonblocking(true).unwrap();
                    while s.recv_from(&mut buf).is_ok() {}
                }
                *c.lock().unwrap() = n;
                // About 30,000 datagrams a second: a storm for a DHT node
                // (whose rate limit allows 10 queries a second per IP),
                // without the test itself taking a whole core.
                if n.is_multiple_of(32) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Flood {
            sent,
            stop,
            thread: Some(thread),
        }
    }

    pub fn sent(&self) -> u64 {
        *self.sent.lock().unwrap()
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the test DHT node has seen.
#[derive(Debug, Default, Clone)]
pub struct NodeView {
    /// `(info-hashes, peers)` in its store.
    pub stored: (usize, usize),
    /// Nodes in its routing table.
    pub nodes: usize,
    /// Peers its lookups found.
    pub found: Vec<SocketAddr>,
}

/// A `seedcore_dht` node on 127.0.0.1, driven by its own thread; `lookup`
/// starts a `get_peers` for a hash.
pub struct DhtNode {
    pub addr: SocketAddr,
    pub view: Arc<Mutex<NodeView>>,
    lookups: Arc<Mutex<Vec<[u8; 20]>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DhtNode {
    pub fn start() -> DhtNode {
        DhtNode::start_with(Vec::new())
    }

    /// A node that joins through `bootstrap`.
    pub fn start_with(bootstrap: Vec<SocketAddr>) -> DhtNode {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let addr = s.local_addr().unwrap();
        let view = Arc::new(Mutex::new(NodeView::default()));
        let lookups = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (v, l, st) = (Arc::clone(&view), Arc::clone(&lookups), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut cfg = seedcore_dht::Config::new([addr.port() as u8; 32]);
            cfg.bootstrap = bootstrap;
            let mut dht = seedcore_dht::Dht::new(cfg, Instant::now());
            let mut buf = [0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                let now = Instant::now();
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    dht.handle_datagram(now, from, &buf[..n]);
                }
                if dht.poll_timeout().is_some_and(|t| t <= now) {
                    dht.handle_timeout(now);
                }
                for h in l.lock().unwrap().drain(..) {
                    let _ = dht.get_peers(now, seedcore_dht::NodeId(h));
                }
                while let Some((to, bytes)) = dht.poll_transmit(now) {
                    let _ = s.send_to(&bytes, to);
                }
                let mut view = v.lock().unwrap();
                while let Some(ev) = dht.poll_event() {
                    if let seedcore_dht::Event::Peers { peers, .. } = ev {
                        view.found.extend(peers);
                    }
                }
                view.stored = dht.stored_peers();
                view.nodes = dht.table().len();
            }
        });
        DhtNode {
            addr,
            view,
            lookups,
            stop,
            thread: Some(thread),
        }
    }

    pub fn view(&self) -> NodeView {
        self.view.lock().unwrap().clone()
    }

    pub fn lookup(&self, hash: [u8; 20]) {
        self.lookups.lock().unwrap().push(hash);
    }
}

impl Drop for DhtNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
