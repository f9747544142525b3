//! PEX cannot turn the seed into a dial storm: a peer that sends lists of
//! hundreds of fresh addresses gets them dialled at `dial_rate_per_torrent`
//! a second, not as fast as connections fail (about 400 a second per
//! torrent before the dial pace existed).
//!
//! The addresses are real loopback listeners that accept and hang up at
//! once, the fastest a dial can end, so only the pace can hold the seed
//! back; the test counts the connections they accept.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)] // test code: fail loudly

mod common;
mod control_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control_support::{compact, eventually};
use seedcore_protocol::wire::{Handshake, Reserved};
use seedcore_runtime::Seeder;

/// Listeners that accept and close at once, counting what they accepted.
struct HangUps {
    addrs: Vec<SocketAddr>,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HangUps {
    fn start(n: usize) -> HangUps {
        let listeners: Vec<TcpListener> = (0..n)
            .map(|_| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                l.set_nonblocking(true).unwrap();
                l
            })
            .collect();
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, st) = (Arc::clone(&accepted), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                for l in &listeners {
                    while let Ok((s, _)) = l.accept() {
                        a.fetch_add(1, Ordering::Relaxed);
                        drop(s);
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        HangUps {
            addrs,
            accepted,
            stop,
            thread: Some(thread),
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for HangUps {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A `ut_pex` message (our id for it in the seed's table is 1) adding
/// `peers`.
fn pex(peers: &[SocketAddr]) -> Vec<u8> {
    let c = compact(peers);
    let mut body = b"d5:added".to_vec();
    body.extend_from_slice(format!("{}:", c.len()).as_bytes());
    body.extend_from_slice(&c);
    body.extend_from_slice(format!("7:added.f{}:", peers.len()).as_bytes());
    body.extend(std::iter::repeat_n(0u8, peers.len()));
    body.push(b'e');
    let mut m = ((body.len() + 2) as u32).to_be_bytes().to_vec();
    m.extend_from_slice(&[20, 1]);
    m.extend_from_slice(&body);
    m
}

#[test]
fn pex_lists_are_dialled_at_the_configured_pace() {
    const RATE: u32 = 4;
    let dir = tempfile::tempdir().unwrap();
    let folder = common::make_folder(dir.path(), "small", &[("a.bin", 100_000)]);
    let mut cfg = common::config(&[&folder], 1);
    cfg.dial_rate_per_torrent = RATE;
    cfg.dial_rate = 100;
    cfg.max_outgoing_per_torrent = 50;
    let seeder = Seeder::start(cfg).unwrap();
    let hash = common::meta_of(&seeder, 0).info_hashes.wire_hash();
    let targets = HangUps::start(150);

    let mut s = TcpStream::connect(seeder.local_addrs()[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = Reserved::EMPTY;
    r.set_extension_protocol(true);
    s.write_all(&Handshake::new(r, hash, *b"-XX0001-abcdefghijkl").to_bytes())
        .unwrap();
    let mut hs = [0u8; 68];
    s.read_exact(&mut hs).unwrap();
    let sent = Instant::now();
    // One list (a session takes a peer's PEX lists at most once a minute).
    s.write_all(&pex(&targets.addrs)).unwrap();
    eventually("the first PEX dials", Duration::from_secs(20), || {
        targets.accepted() >= 1
    });
    // Watch for three more seconds: before the pace existed all 150 were
    // dialled within a second or so of the list arriving.
    std::thread::sleep(Duration::from_secs(3));
    let n = targets.accepted();
    let elapsed = sent.elapsed().as_secs_f64();
    // A burst of one second's worth, then RATE a second (+1: the bucket
    // may refill a token while the window is being read).
    let bound = f64::from(RATE) * (1.0 + elapsed) + 1.0;
    assert!(
        (n as f64) <= bound,
        "{n} dials in {elapsed:.1} s at {RATE}/s (at most {bound:.0})"
    );
    assert!(n >= 2, "dialling goes on at the pace: {n}");
    let status = seeder.status().unwrap();
    assert!(status.outgoing.from_pex == 150, "{:?}", status.outgoing);
    // The status (a snapshot up to a second old) counts the same dials.
    let dials = status.outgoing.dials as f64;
    assert!(dials >= 1.0 && dials <= bound, "{:?}", status.outgoing);
    drop(s);
    seeder.shutdown();
}
