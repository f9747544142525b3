//! The hostile network around the seed: a tracker that answers garbage,
//! huge bodies, slowly or not at all (HTTP and UDP), and DHT noise (junk
//! datagrams, queries from many addresses, answers to nothing), plus a
//! bootstrap node that answers the seed's lookups with junk.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::hostile::{byte, Ctx, Stats};
use crate::net::source_addr;
use crate::rng::Rng;

/// The ports the seed is pointed at.
pub struct Services {
    /// The HTTP tracker's address.
    pub http_tracker: SocketAddr,
    /// The UDP tracker's address.
    pub udp_tracker: SocketAddr,
    /// The DHT bootstrap node's address.
    pub dht_bootstrap: SocketAddr,
    http: TcpListener,
    udp: UdpSocket,
    boot: UdpSocket,
}

/// Binds the tracker and bootstrap sockets on free loopback ports (before
/// the seed starts, which needs their addresses).
pub fn bind() -> std::io::Result<Services> {
    let http = TcpListener::bind("127.0.0.1:0")?;
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    let boot = UdpSocket::bind("127.0.0.1:0")?;
    Ok(Services {
        http_tracker: http.local_addr()?,
        udp_tracker: udp.local_addr()?,
        dht_bootstrap: boot.local_addr()?,
        http,
        udp,
        boot,
    })
}

fn http_answer(mut c: TcpStream, kind: u32, s: &Stats, ctx: &Ctx) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = c.set_write_timeout(Some(Duration::from_secs(5)));
    let mut req = [0u8; 4096];
    let _ = c.read(&mut req);
    let head = |len: usize| {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
    };
    match kind % 6 {
        0 => {
            // Garbage.
            let _ = c.write_all(b"HTTP/1.1 200 OK\r\n\r\n\x00\xffd8:intervali-5e5:peers7:abc");
        }
        1 => {
            // Huge: 3 MiB, past the client's 2 MiB cap.
            let body = vec![b'x'; 3 << 20];
            let _ = c.write_all(head(body.len()).as_bytes());
            let _ = c.write_all(&body);
        }
        2 => {
            // Slow: one byte a second for up to 40 s.
            for b in head(1000).bytes().chain(std::iter::repeat_n(b'd', 40)) {
                if c.write_all(&[b]).is_err() || !ctx_running(ctx) {
                    break;
                }
                thread::sleep(Duration::from_secs(1));
            }
        }
        3 => {
            // 2,000 peers, none of them listening: a dial storm if obeyed.
            let mut peers = Vec::new();
            for i in 0..2000u32 {
                peers.extend_from_slice(&[
                    127,
                    3,
                    i.to_be_bytes()[2],
                    i.to_be_bytes()[3],
                    0x1a,
                    0xe1,
                ]);
            }
            let mut body =
                format!("d8:intervali1e12:min intervali1e5:peers{}:", peers.len()).into_bytes();
            body.extend_from_slice(&peers);
            body.push(b'e');
            let _ = c.write_all(head(body.len()).as_bytes());
            let _ = c.write_all(&body);
        }
        4 => {
            let body =
                b"d14:failure reason40:\x01\x02 go away \xff\xfe and come back never8:retry ini0ee";
            let _ = c.write_all(head(body.len()).as_bytes());
            let _ = c.write_all(body);
        }
        _ => {} // accept and say nothing: the client's timeout
    }
    Stats::add_pub(&s.sent, 1);
}

fn ctx_running(ctx: &Ctx) -> bool {
    !ctx.stop.load(Ordering::Relaxed) && Instant::now() < ctx.deadline
}

/// Starts the tracker and DHT threads; they end by the deadline.
pub fn start(
    sv: Services,
    ctx: &Arc<Ctx>,
    dht_target: SocketAddr,
    dht_rate: u32,
) -> (
    Vec<thread::JoinHandle<()>>,
    BTreeMap<&'static str, Arc<Stats>>,
) {
    let mut threads = Vec::new();
    let mut stats = BTreeMap::new();
    let tracker = Arc::new(Stats::default());
    let dht = Arc::new(Stats::default());
    stats.insert("tracker", Arc::clone(&tracker));
    stats.insert("dht_noise", Arc::clone(&dht));

    // HTTP tracker: one thread per request, at most 16 at a time.
    let (c, s) = (Arc::clone(ctx), Arc::clone(&tracker));
    let http = sv.http;
    threads.push(thread::spawn(move || {
        let _ = http.set_nonblocking(true);
        let busy = Arc::new(AtomicUsize::new(0));
        let mut n = 0u32;
        while ctx_running(&c) {
            match http.accept() {
                Ok((conn, _)) if busy.load(Ordering::Relaxed) < 16 => {
                    let _ = conn.set_nonblocking(false);
                    n += 1;
                    Stats::add_pub(&s.connects, 1);
                    let (c2, s2, b2) = (Arc::clone(&c), Arc::clone(&s), Arc::clone(&busy));
                    b2.fetch_add(1, Ordering::Relaxed);
                    thread::spawn(move || {
                        http_answer(conn, n, &s2, &c2);
                        b2.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Ok(_) => Stats::add_pub(&s.failed, 1),
                Err(_) => thread::sleep(Duration::from_millis(50)),
            }
        }
    }));

    // UDP tracker: garbage, wrong transaction ids, oversized answers.
    let (c, s) = (Arc::clone(ctx), Arc::clone(&tracker));
    let udp = sv.udp;
    threads.push(thread::spawn(move || {
        let _ = udp.set_read_timeout(Some(Duration::from_millis(200)));
        let mut rng = Rng::new(7);
        let mut buf = [0u8; 2048];
        while ctx_running(&c) {
            let Ok((n, from)) = udp.recv_from(&mut buf) else {
                continue;
            };
            let tid = buf
                .get(12..16)
                .map(|t| [t[0], t[1], t[2], t[3]])
                .unwrap_or_default();
            let mut out = Vec::new();
            match rng.below(4) {
                0 => out.extend((0..rng.below(1500)).map(|_| byte(&mut rng))),
                1 => {
                    // A connect answer with a wrong transaction id.
                    out.extend_from_slice(&[0, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9, 9, 9]);
                }
                2 => {
                    // An error for the right transaction, with junk text.
                    out.extend_from_slice(&[0, 0, 0, 3]);
                    out.extend_from_slice(&tid);
                    out.extend_from_slice(&[0xff; 1000]);
                }
                _ => {
                    // A right connect answer, so announces follow.
                    if n >= 16 {
                        out.extend_from_slice(&[0, 0, 0, 0]);
                        out.extend_from_slice(&tid);
                        out.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
                    }
                }
            }
            let _ = udp.send_to(&out, from);
            Stats::add_pub(&s.sent, 1);
        }
    }));

    // DHT bootstrap node: answers every query with junk nodes.
    let (c, s) = (Arc::clone(ctx), Arc::clone(&dht));
    let boot = sv.boot;
    threads.push(thread::spawn(move || {
        let _ = boot.set_read_timeout(Some(Duration::from_millis(200)));
        let mut buf = [0u8; 2048];
        let mut rng = Rng::new(11);
        while ctx_running(&c) {
            let Ok((n, from)) = boot.recv_from(&mut buf) else {
                continue;
            };
            Stats::add_pub(&s.bytes_in, n as u64);
            // Echo the transaction id (`1:t2:xx`) when we can find it.
            let t = buf[..n]
                .windows(4)
                .position(|w| w == b"1:t2")
                .and_then(|i| buf.get(i + 5..i + 7))
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|| b"aa".to_vec());
            let mut nodes = Vec::new();
            for _ in 0..8 {
                nodes.extend((0..20).map(|_| byte(&mut rng)));
                nodes.extend_from_slice(&[
                    127,
                    4,
                    byte(&mut rng),
                    1 + byte(&mut rng) % 250,
                    0x1a,
                    0xe1,
                ]);
            }
            let mut out = b"d1:rd2:id20:bbbbbbbbbbbbbbbbbbbb5:nodes".to_vec();
            out.extend_from_slice(format!("{}:", nodes.len()).as_bytes());
            out.extend_from_slice(&nodes);
            out.extend_from_slice(b"e1:t2:");
            out.extend_from_slice(&t);
            out.extend_from_slice(b"1:y1:re");
            let _ = boot.send_to(&out, from);
            Stats::add_pub(&s.sent, 1);
        }
    }));

    // DHT noise at the seed's node: junk, queries, answers to nothing.
    let (c, s) = (Arc::clone(ctx), Arc::clone(&dht));
    threads.push(thread::spawn(move || {
        let socks: Vec<UdpSocket> = (0..32)
            .filter_map(|i| source_addr(8000 + i, dht_target))
            .filter_map(|ip| UdpSocket::bind(SocketAddr::new(ip, 0)).ok())
            .collect();
        let mut rng = Rng::new(13);
        let sent = AtomicU64::new(0);
        let per_tick = (dht_rate / 20).max(1);
        while ctx_running(&c) && !socks.is_empty() {
            for _ in 0..per_tick {
                let sock = &socks[rng.below_usize(socks.len())];
                let msg: Vec<u8> = match rng.below(6) {
                    0 => (0..rng.below(1400)).map(|_| byte(&mut rng)).collect(),
                    1 => b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe".to_vec(),
                    2 => b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe".to_vec(),
                    3 => b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:badtokene1:q13:announce_peer1:t2:aa1:y1:qe".to_vec(),
                    4 => b"d1:rd2:id20:0123456789abcdefghij5:nodes26:mnopqrstuvwxyz123456ABCDEFe1:t2:zz1:y1:re".to_vec(),
                    _ => b"d1:ad2:id20:abcdefghij0123456789e1:q9:vote_spam1:t40:0123456789012345678901234567890123456789e".to_vec(),
                };
                let _ = sock.send_to(&msg, dht_target);
                sent.fetch_add(1, Ordering::Relaxed);
            }
            // Read and drop what the seed answers.
            for sock in &socks {
                let _ = sock.set_nonblocking(true);
                let mut b = [0u8; 2048];
                while let Ok(n) = sock.recv(&mut b) {
                    Stats::add_pub(&s.bytes_in, n as u64);
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        Stats::add_pub(&s.sent, sent.load(Ordering::Relaxed));
    }));
    (threads, stats)
}
