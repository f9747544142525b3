//! CPU cost of the protocol layer alone: two endpoints joined by a
//! perfect in-memory link (no sockets), one connection carrying N MiB of
//! externally referenced payload. Prints the sender's and receiver's
//! share of the time per GiB.
//!
//! `cargo run --release -p seedcore-utp --example loopback_cost -- 1024`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use seedcore_utp::{Config, Endpoint, Event, Part, Transmits};

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let total = mib << 20;
    let block = Arc::new(vec![0x5au8; 16 << 10]);
    let t0 = Instant::now();
    let mut a: Endpoint<Arc<Vec<u8>>> = Endpoint::with_seed(Config::default(), t0, 1).unwrap();
    let mut b: Endpoint<Arc<Vec<u8>>> = Endpoint::with_seed(Config::default(), t0, 2).unwrap();
    let (aa, ba) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    let h = a.connect(t0, ba).unwrap();
    let mut out = Transmits::new();
    let mut dgram = Vec::with_capacity(2048);
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut acc = None;
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    let mut datagrams = 0u64;
    let mut rbuf = vec![0u8; 1 << 20];
    let mut now = t0;
    while got < total {
        now += Duration::from_micros(50);
        let s = Instant::now();
        if let Some(c) = a.conn_mut(h) {
            while sent < total && c.send_space() >= block.len() + 13 {
                c.write(&[0u8; 13]);
                c.write_external(Arc::clone(&block), 0, block.len() as u32);
                sent += block.len() as u64 + 13;
            }
        }
        out.clear();
        a.poll_transmit(now, 64, &mut out);
        ta += s.elapsed();
        for i in 0..out.len() {
            // What the kernel would do: gather the iovecs.
            dgram.clear();
            let d = &out.datagrams()[i];
            for p in out.parts(d) {
                match p {
                    Part::Inline(r) => dgram.extend_from_slice(&out.bytes()[r.clone()]),
                    Part::External { ext, offset, len } => {
                        dgram.extend_from_slice(&ext[*offset as usize..][..*len as usize])
                    }
                }
            }
            datagrams += 1;
            let s = Instant::now();
            b.handle_datagram(now, aa, &dgram);
            tb += s.elapsed();
        }
        let s = Instant::now();
        while let Some(ev) = b.poll_event() {
            if let Event::Incoming(x) = ev {
                acc = Some(x);
            }
        }
        if let Some(x) = acc {
            let c = b.conn_mut(x).unwrap();
            got += c.read(&mut rbuf) as u64;
        }
        out.clear();
        b.poll_transmit(now, 64, &mut out);
        tb += s.elapsed();
        for i in 0..out.len() {
            out.assemble(i, &mut dgram, |_, _, _| {});
            let s = Instant::now();
            a.handle_datagram(now, ba, &dgram);
            ta += s.elapsed();
        }
        let s = Instant::now();
        a.handle_timeout(now);
        ta += s.elapsed();
        b.handle_timeout(now);
    }
    let gib = total as f64 / (1u64 << 30) as f64;
    println!(
        "{mib} MiB in {datagrams} datagrams: sender {:.3} CPU s/GiB, receiver {:.3} CPU s/GiB (protocol layer only, no syscalls)",
        ta.as_secs_f64() / gib,
        tb.as_secs_f64() / gib
    );
}
